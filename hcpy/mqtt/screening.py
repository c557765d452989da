"""The first look at a command payload, before anything reads it.

Anyone who can publish on the broker reaches this, so the checks are about
the bytes and the shape, cheap and bounded, in an order where no step can be
made expensive by the input: the size first, then the encoding (UTF-8,
no byte-order mark), then how deep the JSON nests (counted on the bytes,
before the parser recurses), then the parsed value (finite numbers, no
unpaired surrogates, short lists). Whether the values suit the appliance is
`appliance.commands`' business. Every refusal is a CommandError (400) with a
short reason; nothing here quotes more than an excerpt. Pure.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from ..appliance.commands import CommandError

_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Strings, then the brackets outside them: what nesting depth is made of.
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


@dataclass(frozen=True)
class ScreenLimits:
    """How much one command may carry. A command is a few dozen bytes; a
    program with all its options a few hundred."""

    max_bytes: int = 4096
    max_depth: int = 6  # [{"options": [{"value": …}]}] is 4
    max_items: int = 64  # entries of one list or object


DEFAULT_LIMITS = ScreenLimits()


def screen_payload(payload: bytes | str, limits: ScreenLimits = DEFAULT_LIMITS) -> Any:
    """The JSON value of a command payload that passes every check; raises CommandError."""
    data = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else bytes(payload)
    if len(data) > limits.max_bytes:
        raise CommandError(f"the payload is {len(data):,} bytes; a command may have at most {limits.max_bytes:,}")
    text = _text(data)
    _check_depth(data, limits.max_depth)
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite, parse_int=_integer)
    except RecursionError:  # not reached after _check_depth; kept as the last guard
        raise CommandError("the payload nests too deeply") from None
    except ValueError as exc:
        raise CommandError(f"the payload is not valid JSON ({exc})") from None
    _check_value(value, limits)
    return value


def _text(data: bytes) -> str:
    if data.startswith(_BOM):
        raise CommandError("the payload starts with a byte-order mark; send UTF-8 without one")
    if data.startswith(_UTF16_BOMS) or b"\x00" in data:
        raise CommandError("the payload looks like UTF-16; send it as UTF-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CommandError(f"the payload is not UTF-8 (byte {data[exc.start]:#04x} at {exc.start})") from None


def _check_depth(data: bytes, most: int) -> None:
    depth = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub(b'""', data)):
        if bracket in b"[{":
            depth += 1
            if depth > most:
                raise CommandError(f"the payload nests deeper than {most} levels")
        else:
            depth -= 1


def _check_value(value: Any, limits: ScreenLimits) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            _check_string(item)
        elif isinstance(item, (list, dict)):
            if len(item) > limits.max_items:
                what = "a list" if isinstance(item, list) else "an object"
                raise CommandError(f"{what} in the payload has {len(item):,} entries; at most {limits.max_items}")
            if isinstance(item, dict):
                for key in item:
                    _check_string(key)
                stack.extend(item.values())
            else:
                stack.extend(item)


def _check_string(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CommandError(
            f"the payload holds an unpaired surrogate (\\u{ord(text[exc.start]):04x}); send valid Unicode"
        ) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text[:20]} is out of range")
    return number


def _integer(text: str) -> int:
    if len(text) > 20:  # beyond any wire type; int() of it would only cost time
        raise ValueError(f"the number {text[:20]}… is out of range")
    return int(text)
