"""Closing the brackets an appliance left open at the end of a message.

Some appliances end an answer (seen on /ro/allMandatoryValues) one bracket
short. When the text is cut only at its end, the brackets still open say
exactly what is missing, in which order; anything else (a bracket closed by
the wrong kind, a string left open, nothing open at all) is not repaired.
"""

from __future__ import annotations

_CLOSERS = {"[": "]", "{": "}"}
# More missing than this is a cut-off frame, not a sloppy one.
MAX_MISSING = 4


def close_brackets(text: str) -> str | None:
    """``text`` with its open brackets closed, or None when that is not the one repair."""
    stack: list[str] = []
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in _CLOSERS:
            stack.append(_CLOSERS[char])
        elif char in "]}":
            if not stack or stack.pop() != char:
                return None  # closed by the wrong kind: not a missing bracket
    if in_string or not stack or len(stack) > MAX_MISSING:
        return None
    stripped = text.rstrip()
    if stripped.endswith((",", ":")):
        return None  # a value is missing, not only a bracket
    return stripped + "".join(reversed(stack))
