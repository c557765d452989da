"""A meter's counter out of what it sends, in kWh or L. Pure.

A meter answers JSON (Tasmota, Shelly, Zigbee2MQTT, ESPHome's REST API) or a
plain number (ESPHome's state topics). The path picks the counter: dotted
keys, list indexes as numbers (``StatusSNS.ENERGY.Total``,
``emeters.0.total``); no path takes the whole payload as the number.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from ..logs import excerpt
from .config import MeterSpec


class ReadingError(ValueError):
    """Why no number came out of a meter's answer, as the end of a sentence."""


@dataclass(frozen=True)
class Reading:
    """A meter's counter in kWh or L, or why there is none."""

    value: float | None
    reason: str | None = None  # when value is None
    hint: str | None = None  # what the user can check (for the log line; not kept)

    @classmethod
    def missing(cls, reason: str, hint: str | None = None) -> Reading:
        return cls(None, reason, hint)

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "reason": self.reason}

    @classmethod
    def from_json(cls, obj: Any) -> Reading:
        if not isinstance(obj, dict):
            raise ValueError("a reading must be an object")
        value, reason = obj.get("value"), obj.get("reason")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError("a reading's value must be a number")
        if reason is not None and not isinstance(reason, str):
            raise ValueError("a reading's reason must be text")
        return cls(None if value is None else float(value), reason)


def resolve(document: Any, path: tuple[str, ...]) -> Any:
    """What `path` points at in `document`; ReadingError names the first step that is missing."""
    current = document
    for depth, part in enumerate(path):
        here = ".".join(path[:depth]) or "the answer"
        if isinstance(current, dict):
            if part not in current:
                raise ReadingError(f"has no {'.'.join(path)} ({here} has no {part!r})")
            current = current[part]
        elif isinstance(current, list):
            if not part.isdigit() or int(part) >= len(current):
                raise ReadingError(f"has no {'.'.join(path)} ({here} is a list of {len(current)}, no entry {part!r})")
            current = current[int(part)]
        else:
            raise ReadingError(f"has no {'.'.join(path)} ({here} is {excerpt(current)}, not an object)")
    return current


def number(value: Any, what: str = "the value") -> float:
    """A finite number from a JSON number or a numeric string."""
    if isinstance(value, bool):
        raise ReadingError(f"{what} is {value!r}, not a number")
    if isinstance(value, (int, float)):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise ReadingError(f"{what} is {excerpt(value)}, not a number") from None
    else:
        raise ReadingError(f"{what} is {excerpt(value)}, not a number")
    if not math.isfinite(result):
        raise ReadingError(f"{what} is {excerpt(value)}, not a number")
    return result


def counter(body: bytes | str, path: tuple[str, ...]) -> float:
    """The number at `path` in a meter's answer, in the meter's own unit."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise ReadingError("answered no UTF-8 text") from None
    if not path:
        try:
            document = json.loads(text)
        except ValueError:
            return number(text, "the payload")
        return number(document, "the payload")
    try:
        document = json.loads(text)
    except ValueError:
        raise ReadingError(f"answered {excerpt(text.strip())}, which is no JSON") from None
    return number(resolve(document, path), ".".join(path))


def reading(spec: MeterSpec, body: bytes | str) -> Reading:
    """The meter's counter in kWh or L, or why there is none."""
    try:
        return Reading(round(counter(body, spec.path) * spec.factor, 9))
    except ReadingError as exc:
        return Reading.missing(str(exc), "check the meter's path and unit against what it sends")


def consumption(start: Reading | None, end: Reading | None, unit: str) -> tuple[float | None, str | None]:
    """End minus start, or None and why: a missing reading or a counter that went backwards."""
    if start is None or start.value is None:
        return None, f"no start reading: {start.reason if start else 'none was taken'}"
    if end is None or end.value is None:
        return None, f"no end reading: {end.reason if end else 'none was taken'}"
    if end.value < start.value:
        return None, (
            f"the meter's counter went backwards, from {start.value:g} to {end.value:g} {unit} "
            "(reset or replaced during the run)"
        )
    return round(end.value - start.value, 3), None
