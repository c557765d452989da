"""What a simulated appliance accepts as a feature's value, and what it starts with.

Pure functions over the profile model. Profiles may carry limits and
initial values either typed or as the XML's text ("false", "600"); both are
accepted.
"""

from __future__ import annotations

import math
from typing import Any

from ..appliance.model import DID_LIST, EnumType, Feature, Limits, ValueKind


def coerce(kind: ValueKind, raw: Any) -> Any:
    """Turn an XML attribute's text into a wire value; typed values pass through."""
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if kind is ValueKind.BOOLEAN:
        return text.lower() in ("true", "1")
    if kind is ValueKind.STRING:
        return raw
    try:
        return wire_number(float(text)) if kind is not ValueKind.INTEGER else int(float(text))
    except ValueError:
        return raw


def wire_number(number: Any) -> Any:
    """600.0 travels as 600: the appliances send integers where they can."""
    if isinstance(number, float) and number.is_integer():
        return int(number)
    return number


def initial_value(feature: Feature, limits: Limits) -> Any:
    """A plausible first value: initValue, else default, else the type's neutral value."""
    kind = feature.value_kind
    for raw in (feature.init_value, limits.default):
        if raw is not None and raw != "":
            return coerce(kind, raw)
    if feature.holds_structure:
        # An empty list travels as {"length": 0, "list": []} (a real ErrorCodesList with no error).
        return {"length": 0, "list": []} if feature.data_type and feature.data_type & DID_LIST else {}
    if feature.holds_date_time or feature.holds_date:
        return ""  # no time set yet: a 0 would read as 1970
    if kind is ValueKind.ENUM:
        return next(iter(feature.enum.members)) if feature.enum and feature.enum.members else 0
    if kind is ValueKind.BOOLEAN:
        return False
    if kind is ValueKind.STRING:
        return ""
    if kind in (ValueKind.INTEGER, ValueKind.NUMBER) and limits.min is not None:
        minimum = coerce(kind, limits.min)
        return wire_number(minimum) if isinstance(minimum, (int, float)) else 0
    return 0


def check_value(kind: ValueKind, value: Any, limits: Limits, enum: EnumType | None) -> str | None:
    """Why ``value`` is not acceptable under ``limits``, or None when it is."""
    if value is None:
        return "has no value"
    if kind is ValueKind.BOOLEAN:
        return None if isinstance(value, bool) else f"expects true or false, not {value!r}"
    if kind is ValueKind.STRING:
        if not isinstance(value, str):
            return f"expects a string, not {value!r}"
        # A string's min and max bound its length.
        return _check_range(len(value), Limits(min=limits.min, max=limits.max), ValueKind.INTEGER, "length")
    if kind is ValueKind.ANY:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"expects a number, not {value!r}"
    if kind is ValueKind.ENUM:
        if not isinstance(value, int) and not float(value).is_integer():
            return f"expects an enumeration value, not {value!r}"
        if enum is not None and enum.members and int(value) not in enum.members:
            return f"has no enumeration value {value!r} (allowed: {sorted(enum.members)})"
        # Some enumerations are narrowed further by min and max.
        return _check_range(value, Limits(min=limits.min, max=limits.max), kind)
    if kind is ValueKind.INTEGER and isinstance(value, float) and not value.is_integer():
        return f"expects an integer, not {value!r}"
    return _check_range(value, limits, kind)


def _check_range(value: float, limits: Limits, kind: ValueKind, what: str = "value") -> str | None:
    low, high, step = (coerce(kind, x) for x in (limits.min, limits.max, limits.step))
    if isinstance(low, (int, float)) and value < low:
        return f"{what} {value!r} is below the minimum {wire_number(low)!r}"
    if isinstance(high, (int, float)) and value > high:
        return f"{what} {value!r} is above the maximum {wire_number(high)!r}"
    if isinstance(step, (int, float)) and step > 0:
        base = low if isinstance(low, (int, float)) else 0
        steps = (value - base) / step
        if abs(steps - round(steps)) > 1e-9:
            return f"value {value!r} is not a multiple of the step size {wire_number(step)!r}"
    return None


def describe(uid: int, limits: Limits, kind: ValueKind, parent_uid: int | None = None) -> dict[str, Any]:
    """One entry of /ro/allDescriptionChanges or /ro/descriptionChange."""
    entry: dict[str, Any] = {"uid": uid}
    if parent_uid is not None:
        entry["parentUID"] = parent_uid
    entry["access"] = wire_access(limits)
    entry["available"] = limits.available
    for key, raw in (("min", limits.min), ("max", limits.max), ("stepSize", limits.step), ("default", limits.default)):
        if raw is not None:
            entry[key] = wire_number(coerce(kind, raw))
    return entry


def wire_access(limits: Limits) -> str:
    # camelCase in the XML, UPPER case on the wire (PROTOCOL.md §4).
    return limits.access.value.upper()
