"""What a simulated appliance accepts as a feature's value, and what it starts with.

Pure functions over the profile model. Profiles may carry limits and
initial values either typed or as the XML's text ("false", "600"); both are
accepted.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Any

from ..model import EnumType, Feature, Kind, Limits

_BOOLEAN_CID = 0x01
_ENUM_CID = 0x03
_STRING_CID = 0x05
_NUMERIC_CIDS = {0x02, 0x04, 0x07, 0x08, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x18, 0x1F, 0x20, 0x23, 0x24}
_BOOLEAN_DID = 0x00
_INTEGER_DIDS = set(range(0x80, 0x88)) | set(range(0xA0, 0xA8))  # fixed-point floats travel as integers
_FLOAT_DIDS = {0x88, 0x89}
_STRING_DIDS = {0x8B, 0x8C}


class ValueKind(str, Enum):
    BOOLEAN = "boolean"
    ENUM = "enumeration"
    INTEGER = "integer"
    NUMBER = "number"
    STRING = "string"
    ANY = "any"  # a type the simulator does not check (dateTime, JSON, …)


def value_kind(feature: Feature) -> ValueKind:
    cid, did = feature.content_type, feature.data_type
    if feature.kind in (Kind.ACTIVE_PROGRAM, Kind.SELECTED_PROGRAM):
        return ValueKind.INTEGER  # a program uid
    if feature.enum is not None or cid == _ENUM_CID:
        return ValueKind.ENUM
    if cid == _BOOLEAN_CID or did == _BOOLEAN_DID:
        return ValueKind.BOOLEAN
    if cid == _STRING_CID or did in _STRING_DIDS:
        return ValueKind.STRING
    if did in _INTEGER_DIDS:
        return ValueKind.INTEGER
    if did in _FLOAT_DIDS or cid in _NUMERIC_CIDS:
        return ValueKind.NUMBER
    return ValueKind.ANY


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
    kind = value_kind(feature)
    for raw in (feature.init_value, limits.default):
        if raw is not None and raw != "":
            return coerce(kind, raw)
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
