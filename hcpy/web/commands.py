"""What the console's controls post, as the MQTT command it stands for. Pure.

A post is a flat object (a form's fields, or the same as JSON), one of:

- ``topic`` (set, selectedProgram, activeProgram) and ``payload``: the JSON
  that would be published on that topic, as text or (in a JSON post) as it is;
- ``action``, the controls' shorthand:
  ``select`` / ``start`` / ``start_delayed`` with ``program``, its options as
  ``option:<full name>`` fields (or an ``options`` object or list) and, for a
  delayed start, ``delay_minutes`` or ``delay`` (seconds); ``start`` without
  a program starts the selected one; ``pause`` / ``resume`` / ``abort``;
  ``set`` with ``name`` and ``value`` (none for a command).

The command then takes the console's own ``transaction``, so that its answer
on T/response can be told from any other; hcpy checks everything else.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..mqtt.topics import CommandTopic

OPTION_PREFIX = "option:"
ACTIONS = ("select", "start", "start_delayed", "pause", "resume", "abort", "set")
_VERBS = {"pause": "pause", "resume": "resume", "abort": "stop"}
# The longest delay the console passes on (a week, in seconds): an appliance's
# own limit is hcpy's to check (a day, mostly), this only keeps the
# arithmetic on the way there finite.
MAX_DELAY = 7 * 86400
# Fields a post carries that are not part of the command.
_ENVELOPE = ("token",)


class NotACommand(ValueError):
    """A post that is no command at all; the sentence says what it lacks."""


def command_of(posted: dict[str, Any]) -> tuple[CommandTopic, Any]:
    """The topic and the JSON body `posted` stands for; NotACommand when it stands for none."""
    posted = {k: v for k, v in posted.items() if k not in _ENVELOPE}
    if "topic" in posted:
        return _raw(posted)
    action = posted.get("action")
    if action not in ACTIONS:
        raise NotACommand(
            f"no command: post a topic ({', '.join(CommandTopic)}) with its payload, "
            f"or an action ({', '.join(ACTIONS)})"
        )
    if action in _VERBS:
        return CommandTopic.ACTIVE_PROGRAM, {"program": _VERBS[action]}
    if action == "set":
        name = _text(posted.get("name"))
        if not name:
            raise NotACommand('"set" needs the "name" of a setting or command')
        body: dict[str, Any] = {"name": name}
        value = posted.get("value")
        if value is not None and value != "":
            body["value"] = value
        return CommandTopic.SET, body
    program = _text(posted.get("program"))
    options = _options(posted)
    if action == "select":
        if not program:
            raise NotACommand('"select" needs a "program"')
        body = {"program": program}
        if options:
            body["options"] = options
        return CommandTopic.SELECTED_PROGRAM, body
    body = {"program": program or "selected"}
    if options:
        body["options"] = options
    if action == "start_delayed":
        body["delay"] = _delay(posted)
    return CommandTopic.ACTIVE_PROGRAM, body


def with_transaction(body: Any, transaction: str) -> Any:
    """`body` carrying `transaction` where hcpy reads it (replacing one the user gave)."""
    if isinstance(body, dict):
        return {**body, "transaction": transaction}
    if isinstance(body, list) and body and isinstance(body[0], dict):
        # hcpy echoes the first transaction it finds in a list: only ours is left.
        items = [{k: v for k, v in item.items() if k != "transaction"} if isinstance(item, dict) else item for item in body]
        items[0] = {**items[0], "transaction": transaction}
        return items
    raise NotACommand("the payload must be a JSON object, or a list of objects, for the console to follow its answer")


def _raw(posted: dict[str, Any]) -> tuple[CommandTopic, Any]:
    try:
        topic = CommandTopic(str(posted["topic"]))
    except ValueError:
        raise NotACommand(f"{str(posted['topic'])[:60]!r} is no command topic; use one of {', '.join(CommandTopic)}") from None
    payload = posted.get("payload")
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise NotACommand(f"the payload is not JSON ({exc})") from None
    if payload is None:
        raise NotACommand(f"no payload to publish on {topic}")
    if topic is not CommandTopic.SET and isinstance(payload, (str, int)) and not isinstance(payload, bool):
        payload = {"program": payload}  # as hcpy reads a bare program name
    return topic, payload


def _options(posted: dict[str, Any]) -> list[dict[str, Any]]:
    options: list[dict[str, Any]] = []
    given = posted.get("options")
    if isinstance(given, dict):
        options += [{"name": str(k), "value": v} for k, v in given.items()]
    elif isinstance(given, list):
        options += given  # as the MQTT topics take them; hcpy checks each
    elif given is not None:
        raise NotACommand('"options" must be an object of name: value, or a list of {"name", "value"}')
    for key, value in posted.items():
        if key.startswith(OPTION_PREFIX) and value is not None and value != "":
            options.append({"name": key[len(OPTION_PREFIX) :], "value": value})
    return options


def _delay(posted: dict[str, Any]) -> int:
    if posted.get("delay_minutes") not in (None, ""):
        minutes = _number(posted["delay_minutes"], "delay_minutes", MAX_DELAY / 60)
        return int(round(minutes * 60))
    if posted.get("delay") not in (None, ""):
        return int(round(_number(posted["delay"], "delay", MAX_DELAY)))
    raise NotACommand("a delayed start needs the delay: delay_minutes (or delay in seconds)")


def _number(value: Any, what: str, most: float) -> float:
    """`value` as a number from 0 to `most`: bounded before any arithmetic (1e308 minutes are no seconds)."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if isinstance(value, bool) or not 0 <= number <= most:  # NaN is in no range
        raise NotACommand(f"{what} must be a number, 0 or more and at most {most:,g}, not {str(value)[:40]!r}")
    return number


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value))
