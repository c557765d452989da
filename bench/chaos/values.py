"""Values the soak sets and how the bridge shows them on MQTT. Pure.

`topic_key` follows DESIGN.md's MQTT interface (the full feature name
lower-cased, "." -> "_") rather than importing hc2mqtt's code for it: the
soak checks the bridge from the outside.
"""

from __future__ import annotations

import math
import random
from typing import Any

from hcpy.appliance.model import Feature, ValueKind
from hcpy.simulator.values import coerce


def topic_key(name: str) -> str:
    return name.lower().replace(".", "_")


def number(raw: Any) -> float | None:
    value = coerce(ValueKind.NUMBER, raw)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def new_value(feature: Feature, current: Any, rng: random.Random) -> Any:
    """A value the feature allows (members, limits, step), other than `current` where it can be."""
    limits = feature.bounded(feature.limits)
    low, high = number(limits.min), number(limits.max)
    if feature.value_kind is ValueKind.BOOLEAN:
        return not bool(current)
    if feature.value_kind is ValueKind.ENUM and feature.enum is not None:
        everything = list(feature.enum.members)
        members = [m for m in everything if (low is None or m >= low) and (high is None or m <= high)]
        others = [m for m in members or everything if m != current]
        return rng.choice(others or members or everything)
    low = 0.0 if low is None else low
    high = low + 1_000_000 if high is None else high
    step = number(limits.step) or 1.0
    slots = max(0, int((high - low) // step))
    value: Any = current
    for _ in range(5):
        value = low + rng.randint(0, slots) * step
        value = int(value) if float(value).is_integer() else value
        if value != current:
            break
    return value


def matches(feature: Feature, payload: bytes | None, truth: Any) -> bool:
    """Whether a T/state payload says what the simulator holds, as the bridge renders it."""
    if payload is None:
        return False
    text = payload.decode("utf-8", "replace")
    if feature.value_kind is ValueKind.ENUM and feature.enum is not None:
        return text == str(feature.enum.members.get(truth, truth))
    if feature.value_kind is ValueKind.BOOLEAN:
        return text == str(bool(truth))
    try:
        return math.isclose(float(text), float(truth), rel_tol=0, abs_tol=1e-9)
    except (TypeError, ValueError):
        return False


def wire_text(feature: Feature, value: Any) -> Any:
    """A value as a user would write it in a command: the member name for enumerations."""
    if feature.enum is not None and isinstance(value, int):
        return feature.enum.members.get(value, value)
    return value
