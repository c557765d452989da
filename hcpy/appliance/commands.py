"""Commands from users, checked against the live profile before they are sent.

Turns the JSON a user publishes on `T/set` (DESIGN.md, MQTT interface) into
the request the appliance expects (PROTOCOL.md §4), or raises `CommandError`
with a sentence saying what is wrong; `programs` builds the program commands
on the same pieces. Names resolve exactly (full name, topic id,
uid, or a short name that only one feature has); nothing is guessed. Pure
logic: the bridge sends what this returns.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import HcpyError
from ..logs import excerpt
from ..protocol.resources import RO_VALUES
from . import names
from .model import FLOAT_DATA, MAX_STRING, EnumType, Feature, Kind, Limits, ValueKind
from .state import ApplianceState

# The widest integer any refDID can carry: signed or unsigned 64 bits.
WIRE_INTEGERS = (-(2**63), 2**64 - 1)
# str.isdigit() also accepts "²", which int() refuses.
_DIGITS = re.compile(r"[0-9]+")


class CommandError(HcpyError):
    """A command that is refused before it reaches the appliance.

    `code` follows the appliance's own codes: 400 malformed or out of range,
    403 not writable now, 404 unknown feature or program.
    """

    def __init__(self, sentence: str, code: int = 400):
        super().__init__(sentence)
        self.code = code


@dataclass(frozen=True)
class Request:
    resource: str
    data: list[dict[str, Any]]


# -- name resolution ---------------------------------------------------------------


def resolve(ref: Any, candidates: Iterable[Feature], what: str = "feature") -> Feature:
    """Find a feature by uid, full name, topic id or unique short name."""
    pool = list(candidates)
    if isinstance(ref, bool) or ref is None:
        raise CommandError(f"{excerpt(ref)} does not name a {what}", 404)
    if isinstance(ref, int) or (isinstance(ref, str) and _DIGITS.fullmatch(ref.strip())):
        uid = int(ref)
        for feature in pool:
            if feature.uid == uid:
                return feature
        raise CommandError(f"there is no {what} with uid {uid}", 404)
    if not isinstance(ref, str):
        raise CommandError(f"{excerpt(ref)} does not name a {what}", 404)
    name = ref.strip()
    for feature in pool:
        if feature.name == name or feature.feature_id == name:
            return feature
    matches = [f for f in pool if f.short_name == name]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        names = ", ".join(sorted(f.name for f in matches))
        raise CommandError(f"{excerpt(name)} is ambiguous: use one of {names}", 400)
    raise CommandError(f"there is no {what} named {excerpt(name)}", 404)


# -- values ----------------------------------------------------------------------------


def encode_value(feature: Feature, limits: Limits, value: Any, enum: EnumType | None = None) -> Any:
    """The wire form of `value` for `feature`, checked against `limits`."""
    enum = enum or feature.enum
    if enum is not None:
        return _enum_value(feature, enum, value)
    kind = feature.value_kind
    if kind is ValueKind.BOOLEAN:
        return _bool_value(feature, value)
    if kind is ValueKind.STRING:
        if not isinstance(value, str):
            raise CommandError(f"{feature.name} takes a string, not {excerpt(value)}")
        longest = _num(limits.max)
        if longest is None:
            longest = MAX_STRING
        if len(value) > longest:
            raise CommandError(f"{feature.name} takes at most {longest:g} characters")
        return value
    if kind in (ValueKind.INTEGER, ValueKind.NUMBER) or limits.min is not None or limits.max is not None:
        return _number_value(feature, limits, value, kind)
    # A type the profile leaves open still travels as one scalar (PROTOCOL.md §4).
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise CommandError(f"{feature.name} takes at most {MAX_STRING} characters")
        return value
    if isinstance(value, (bool, int, float)):
        if isinstance(value, int) and not isinstance(value, bool) and not WIRE_INTEGERS[0] <= value <= WIRE_INTEGERS[1]:
            raise CommandError(f"{excerpt(value)} is out of range for {feature.name}")
        return value
    raise CommandError(f"{feature.name} takes a string, a number or true/false, not {excerpt(value)}")


def _enum_value(feature: Feature, enum: EnumType, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if value in enum.members:
            return value
    elif isinstance(value, str):
        for number, member in enum.members.items():
            if member == value:
                return number
        folded = [n for n, m in enum.members.items() if m.lower() == value.lower()]
        if len(folded) == 1:
            return folded[0]
        if _DIGITS.fullmatch(value.strip().lstrip("-")) and int(value) in enum.members:
            return int(value)
    allowed = ", ".join(enum.members.values())
    raise CommandError(f"{excerpt(value)} is not a value of {feature.name}; allowed: {allowed}")


def _bool_value(feature: Feature, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "on", "off"):
        return value.lower() in ("true", "on")
    raise CommandError(f"{feature.name} takes true or false, not {excerpt(value)}")


def _number_value(feature: Feature, limits: Limits, value: Any, kind: ValueKind) -> int | float:
    number: Any = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
        raise CommandError(f"{feature.name} takes a number, not {excerpt(value)}")
    low, high, step = _num(limits.min), _num(limits.max), _num(limits.step)
    if (low is not None and number < low) or (high is not None and number > high):
        raise CommandError(f"{number:g} is out of range for {feature.name} ({_range(low, high)})")
    if step:
        offset = (number - (low or 0)) / step
        if abs(offset - round(offset)) > 1e-9:
            raise CommandError(f"{number:g} is not a step of {step:g} from {low or 0:g} for {feature.name}")
    whole = float(number).is_integer()
    if kind is ValueKind.INTEGER and not whole:
        raise CommandError(f"{feature.name} takes a whole number, not {excerpt(value)}")
    if whole and feature.data_type not in FLOAT_DATA and not WIRE_INTEGERS[0] <= number <= WIRE_INTEGERS[1]:
        # Integers travel in at most 64 bits, whichever width a refDID means.
        raise CommandError(f"{number:g} is out of range for {feature.name}")
    # Whole numbers travel as integers unless the feature is a float.
    return int(number) if whole and feature.data_type not in FLOAT_DATA else number


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _range(low: float | None, high: float | None) -> str:
    return f"{'-∞' if low is None else f'{low:g}'} to {'∞' if high is None else f'{high:g}'}"


# -- commands --------------------------------------------------------------------------

WRITABLE_KINDS = (Kind.SETTING, Kind.COMMAND, Kind.OPTION, Kind.STATUS, Kind.UNKNOWN)


def build_set(state: ApplianceState, body: Any) -> Request:
    """`T/set`: one {"uid"|"name", "value"} object or a list of them."""
    items = body if isinstance(body, list) else [body]
    if not items:
        raise CommandError("the list of values to set is empty")
    candidates = [f for f in state.profile.features.values() if f.kind in WRITABLE_KINDS]
    data = []
    for item in items:
        feature, value = ref_and_value(item, candidates, "feature")
        # An option is set for the program in charge, within that program's limits.
        program, limits = state.option_limits(feature)
        if feature.kind is Kind.OPTION and program is None:
            _no_program_for(state, feature)
        where = f" for {program.name}" if program is not None else ""
        locked = delay_locked(state, feature, limits)
        if locked is not None:
            raise CommandError(locked, 403)
        check_writable(feature, limits, where)
        if value is MISSING:
            if feature.kind == Kind.COMMAND and feature.is_boolean:
                value = True  # a command is triggered by setting it true
            else:
                raise CommandError(f"no value given for {feature.name}")
        enum = program.options[feature.uid].enum if program is not None else None
        data.append({"uid": feature.uid, "value": encode_value(feature, feature.bounded(limits), value, enum)})
    return Request(RO_VALUES, data)


def _no_program_for(state: ApplianceState, feature: Feature) -> None:
    in_charge = state.program(Kind.ACTIVE_PROGRAM) or state.program(Kind.SELECTED_PROGRAM)
    if in_charge is not None:
        raise CommandError(f"{feature.name} is not an option of {in_charge.name}", 409)
    raise CommandError(f"{feature.name} is an option of programs: select a program that has it first", 409)


MISSING = object()


def ref_and_value(item: Any, candidates: list[Feature], what: str) -> tuple[Feature, Any]:
    if not isinstance(item, dict):
        raise CommandError(f'each {what} must be an object like {{"name": …, "value": …}}, not {excerpt(item)}')
    if "uid" in item:
        ref = item["uid"]
    elif "name" in item:
        ref = item["name"]
    else:
        raise CommandError(f'each {what} needs a "uid" or a "name"')
    return resolve(ref, candidates, what), item.get("value", MISSING)


def describe(request: Request, state: ApplianceState) -> str:
    """A request as a log line reads best: names, the uid in brackets, enum members by name.

    `PowerState [539] = On`; `Dishcare.Dishwasher.Program.Eco50 [8196] with StartInRelative [558] = 3600`.
    """
    features = state.profile.features

    def one(uid: Any, value: Any = MISSING) -> str:
        feature = features.get(uid) if isinstance(uid, int) else None
        if feature is None:
            return f"[{excerpt(uid)}]" + ("" if value is MISSING else f" = {excerpt(value)}")
        name = feature.name if feature.kind is Kind.PROGRAM else feature.short_name
        if value is MISSING:
            return f"{name} [{uid}]"
        if feature.enum is not None and isinstance(value, int) and value in feature.enum.members:
            return f"{name} [{uid}] = {feature.enum.members[value]}"
        return f"{name} [{uid}] = {excerpt(value, 40)}"

    parts = []
    for item in request.data:
        if "program" in item:
            options = ", ".join(one(o.get("uid"), o.get("value", MISSING)) for o in item.get("options", []))
            parts.append(one(item["program"]) + (f" with {options}" if options else ""))
        else:
            parts.append(one(item.get("uid"), item.get("value", MISSING)))
    text = "; ".join(parts)
    return text if len(text) <= 300 else text[:300] + "…"


# OperationState members in which the program itself runs: its delayed start is behind it.
DELAY_SPENT = names.UNDER_WAY - {"DelayedStart"}


def delay_locked(state: ApplianceState, feature: Feature, limits: Limits) -> str | None:
    """Why a delay option (StartInRelative, FinishInRelative) cannot be changed now; None if it can.

    Once the program runs, its delay is spent: appliances make the delay
    read-only under the program then (a description change), and `limits`
    carries that. Firmware that does not announce it still refuses the
    write, or takes it for a later run; so from Run on the operation state
    refuses it as well. Before that, in DelayedStart, the delay stays open
    as the appliance says: changing it moves the start.
    """
    if feature.name not in names.DELAY_OPTIONS:
        return None
    operation = state.value_of(names.OPERATION_STATE)
    announced = operation in names.UNDER_WAY and not limits.access.writable
    if operation not in DELAY_SPENT and not announced:
        return None
    return (
        f"{feature.short_name} cannot be changed while a program runs (OperationState {operation}); "
        "abort the program to start it at another time"
    )


def check_writable(feature: Feature, limits: Limits, where: str = "") -> None:
    if not limits.access.writable:
        raise CommandError(f"{feature.name} is not writable{where} (access {limits.access.value})", 403)
    if not limits.available:
        raise CommandError(f"{feature.name} is not available now{where}", 403)
