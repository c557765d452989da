"""What the console's pages show, read from the bridge at one moment: plain values, no live objects.

`connection_of` reads an appliance's connection (its `ConnectionStats` and
`Journal`, hcpy.appliance.observed); `value_rows` its values, grouped as the
profile groups features (`Kind`), with units and enumeration members;
`controls_of` what can be commanded now (programs and their options within
their live limits, the program commands, writable settings). The pages
render these; the event stream sends the same rows as they change.
Nothing here reads an appliance's key or IV: they are not on the objects read.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from ..appliance import names
from ..appliance.commands import CommandError
from ..appliance.controls import is_control, usable
from ..appliance.known_features import KNOWN_FEATURES
from ..appliance.model import Feature, Kind, Limits, Program, ValueKind
from ..appliance.programs import check_startable, delay_option
from ..appliance.state import ApplianceState
from ..homeassistant.components import UNITS
from ..homeassistant.labels import label, program_labels
from .face import Face, face_of

# How values are grouped on a page: (key, heading, the kinds it holds). What
# no group names goes to "other".
GROUPS: tuple[tuple[str, str, tuple[Kind, ...]], ...] = (
    ("status", "Status", (Kind.STATUS,)),
    ("program", "Programs", (Kind.ACTIVE_PROGRAM, Kind.SELECTED_PROGRAM, Kind.PROGRAM)),
    ("option", "Options", (Kind.OPTION,)),
    ("setting", "Settings", (Kind.SETTING,)),
    ("event", "Events", (Kind.EVENT,)),
    ("other", "Other", ()),
)
_GROUP_OF_KIND = {kind: key for key, _, kinds in GROUPS for kind in kinds}
PROGRAM_COMMANDS = {"pause": names.PAUSE_PROGRAM, "resume": names.RESUME_PROGRAM, "abort": names.ABORT_PROGRAM}


# -- the connection ---------------------------------------------------------------


@dataclass(frozen=True)
class Connection:
    """One appliance's connection, as the appliance list shows it."""

    name: str
    brand: str
    model: str
    type: str
    state: str  # connecting / online / offline / stopped
    since: float | None  # unix time the state began
    reason: str | None
    transport: str
    address: str
    firmware: str | None
    ha_id: str | None
    last_in: float | None  # unix time of the last message from the appliance
    last_out: float | None
    messages_in: int
    messages_out: int
    connects: int
    disconnects: dict[str, int] = field(default_factory=dict)
    face: Face | None = None  # what a person looks at (None: not read, as in tests of the connection alone)

    @property
    def reconnects(self) -> int:
        """Connections after the first that came online."""
        return max(0, self.connects - 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "since": self.since,
            "reason": self.reason,
            "transport": self.transport,
            "address": self.address,
            "firmware": self.firmware,
            "last_in": self.last_in,
            "messages_in": self.messages_in,
            "messages_out": self.messages_out,
            "connects": self.connects,
            "reconnects": self.reconnects,
            "disconnects": self.disconnects,
            "face": self.face.to_json() if self.face is not None else None,
        }


def connection_of(appliance: Any) -> Connection:
    """`appliance` (an `ApplianceBridge`) as the appliance list shows it."""
    stats = appliance.connection.stats
    journal = appliance.connection.journal
    description = appliance.state.profile.description
    return Connection(
        name=appliance.name,
        brand=description.brand,
        model=description.model,
        type=description.type,
        state=stats.state,
        since=stats.since,
        reason=stats.reason,
        transport=stats.transport,
        address=stats.address,
        firmware=stats.firmware,
        ha_id=stats.ha_id,
        last_in=journal.last_in_at,
        last_out=journal.last_out_at,
        messages_in=journal.messages_in,
        messages_out=journal.messages_out,
        connects=stats.connects,
        disconnects=dict(stats.disconnects),
        face=face_of(appliance.state, journal),
    )


# -- values --------------------------------------------------------------------


@dataclass(frozen=True)
class ValueRow:
    """One value as a page shows it."""

    name: str  # the full feature name
    short: str  # as Home Assistant names its entity (labels.label)
    group: str  # a key of GROUPS
    value: str
    unit: str | None
    members: tuple[str, ...]  # an enumeration's member names, in order

    def to_json(self) -> dict[str, Any]:
        return {"feature": self.name, "short": self.short, "group": self.group, "value": self.value,
                "unit": self.unit, "members": list(self.members)}  # fmt: skip


def group_of(feature: Feature) -> str:
    return _GROUP_OF_KIND.get(feature.kind, "other")


def unit_of(feature: Feature) -> str | None:
    unit = UNITS.get(feature.content_type) if feature.content_type is not None else None
    return unit.unit if unit is not None else None


def shown(value: Any) -> str:
    """A value as MQTT carries it: the member name, True/False, the number, JSON for structures."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return str(value)
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def value_row(feature: Feature, value: Any) -> ValueRow:
    members = tuple(feature.enum.members.values()) if feature.enum is not None else ()
    return ValueRow(feature.name, label(feature), group_of(feature), shown(value), unit_of(feature), members)


def value_rows(state: ApplianceState) -> dict[str, list[ValueRow]]:
    """Every value the appliance reported, by group (GROUPS' order), by name within each."""
    groups: dict[str, list[ValueRow]] = {key: [] for key, _, _ in GROUPS}
    features = state.profile.features
    for uid, value in list(state.values.items()):
        feature = features.get(uid)
        if feature is not None:
            groups[group_of(feature)].append(value_row(feature, value))
    for rows in groups.values():
        rows.sort(key=lambda row: row.name)
    return groups


@dataclass(frozen=True)
class UnknownRow:
    """A uid the profile lacks, with its last value."""

    uid: int
    value: str
    at: float  # unix time of the last value
    count: int


@dataclass(frozen=True)
class Unknown:
    """What the appliance sent for uids its profile lacks."""

    values: int  # all told
    distinct: int
    rows: tuple[UnknownRow, ...]  # the first few hundred uids, by uid


def unknown_of(state: ApplianceState) -> Unknown:
    unknown = state.unknown
    rows = tuple(UnknownRow(s.uid, shown(s.value), s.at, s.count) for s in unknown.listed())
    return Unknown(unknown.values, unknown.distinct, rows)


# -- controls --------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A value a user may give: an option of a program, or a setting."""

    name: str  # the full feature name
    short: str
    kind: str  # enum / boolean / number / string
    value: str  # what the field holds to begin with ("" for nothing)
    members: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    step: float | None = None
    unit: str | None = None
    usable: bool = True  # whether the appliance takes it now
    writable: bool = True  # False: a figure of the appliance's own (a forecast), shown as a value, never an input


@dataclass(frozen=True)
class ProgramChoice:
    name: str
    short: str  # as Home Assistant's program select offers it (labels.program_labels)
    options: tuple[Field, ...]  # those a user gives, then those only read (writable False)
    delay: str | None  # the option a delayed start goes through, if any
    startable: bool = True  # False: the profile lets it only be selected (started on the appliance)


@dataclass(frozen=True)
class Controls:
    programs: tuple[ProgramChoice, ...]
    selected: str | None  # the program selected on the appliance
    active: str | None  # the program under way
    commands: dict[str, bool]  # pause / resume / abort -> usable now (absent: the appliance has none)
    settings: tuple[Field, ...]
    # Why the appliance takes no start now, whichever program (hcpy's own
    # sentence, programs.check_startable); None: it takes one.
    start_refused: str | None = None


def field_of(feature: Feature, limits: Limits, current: Any, enum: Any = None, usable_now: bool = True) -> Field:
    """The field for `feature` within `limits`; `current` is what it holds to begin with (None: nothing).

    Labelled as Home Assistant names the feature's entity (labels.label).
    """
    enum = enum or feature.enum
    value = "" if current is None else shown(current)
    short = label(feature)
    if enum is not None:
        return Field(feature.name, short, "enum", value, tuple(enum.members.values()), usable=usable_now)
    kind = feature.value_kind
    if kind is ValueKind.BOOLEAN:
        value = {"true": "True", "1": "True", "on": "True", "false": "False", "0": "False", "off": "False"}.get(value.lower(), value)
        return Field(feature.name, short, "boolean", value, ("True", "False"), usable=usable_now)
    if kind in (ValueKind.INTEGER, ValueKind.NUMBER):
        bounded = feature.bounded(limits)
        step = bounded.step if isinstance(bounded.step, (int, float)) else (1 if kind is ValueKind.INTEGER else None)
        return Field(feature.name, short, "number", value, min=_number(bounded.min), max=_number(bounded.max),
                     step=_number(step), unit=unit_of(feature), usable=usable_now)  # fmt: skip
    return Field(feature.name, short, "string", value, usable=usable_now)


def controls_of(state: ApplianceState) -> Controls:
    profile = state.profile
    selected = state.program(Kind.SELECTED_PROGRAM)
    active = state.program(Kind.ACTIVE_PROGRAM)
    programs = []
    shown_as = program_labels(state)
    for program in sorted(profile.programs.values(), key=lambda p: p.name):
        if program.uid not in profile.features or not state.limits[program.uid].available:
            continue
        choice = _program_choice(state, program, program is selected or program is active)
        programs.append(replace(choice, short=shown_as.get(program.uid, choice.short)))
    commands = {}
    for verb, name in PROGRAM_COMMANDS.items():
        feature = profile.by_name(name)
        if feature is not None:
            commands[verb] = usable(state, feature)
    settings = []
    for feature in sorted(profile.features.values(), key=lambda f: f.name):
        if feature.kind is Kind.SETTING and is_control(profile, feature):
            limits = state.limits[feature.uid]
            settings.append(field_of(feature, limits, state.values.get(feature.uid), usable_now=usable(state, feature)))
    return Controls(
        programs=tuple(programs),
        selected=selected.name if selected else None,
        active=active.name if active else None,
        commands=commands,
        settings=_distinct(settings),
        start_refused=_start_refused(state),
    )


def _start_refused(state: ApplianceState) -> str | None:
    try:
        check_startable(state)
    except CommandError as exc:
        return str(exc)
    return None


def _program_choice(state: ApplianceState, program: Program, in_charge: bool) -> ProgramChoice:
    """A program with the options a user may give it: those it lets be written, within its own limits.

    Its delay options are left to the delayed start. Values to begin with
    are the appliance's own while the program is in charge, else its defaults.
    """
    profile = state.profile
    delay = delay_option(state, program)
    fields, readings = [], []
    for uid, option in program.options.items():
        feature = profile.features.get(uid)
        if feature is None or feature.name in names.DELAY_OPTIONS:
            continue
        limits = state.program_limits[(program.uid, uid)].over(state.limits[uid])
        writable = limits.access.writable and not read_only(feature)
        if not writable and not limits.access.readable:
            continue
        current = state.values.get(uid) if in_charge else None
        if current is None and limits.default is not None:
            current = _default(feature, limits.default, option.enum)
        field = field_of(feature, limits, current, option.enum, usable_now=limits.available)
        if writable:
            fields.append(field)
        elif current is not None and feature.name not in _SHOWN_ON_THE_FACE:
            readings.append(replace(field, writable=False))
    fields.sort(key=lambda f: f.name)
    readings.sort(key=lambda f: f.name)
    return ProgramChoice(program.name, program.name.rsplit(".", 1)[-1], _distinct(fields) + _distinct(readings),
                         delay.name if delay else None, program.execution != "selectOnly")  # fmt: skip


# Options the face shows already (face.py): not repeated among a program's options.
_SHOWN_ON_THE_FACE = frozenset({names.REMAINING_PROGRAM_TIME, names.PROGRAM_PROGRESS})


def read_only(feature: Feature) -> bool:
    """Whether the public API documents `feature` as one only the appliance writes (EnergyForecast, ProgramProgress, …).

    Profiles let some of them be written per program (a washer's
    EnergyForecast is readWrite in each of its programs); the appliance
    computes them all the same, so they are values to show, not fields.
    """
    known = KNOWN_FEATURES.get(feature.name)
    return known is not None and not known.access.writable


def _distinct(fields: list[Field]) -> tuple[Field, ...]:
    """The fields, those whose short names collide (IDos1.Active, IDos2.Active) labelled by their last two parts."""
    counts = Counter(f.short for f in fields)
    return tuple(replace(f, short=".".join(f.name.split(".")[-2:])) if counts[f.short] > 1 else f for f in fields)


def _default(feature: Feature, default: Any, enum: Any) -> Any:
    """A profile's default as a field shows it: an enumeration's member name rather than its number."""
    enum = enum or feature.enum
    if enum is not None and isinstance(default, (int, str)):
        try:
            return enum.members.get(int(default), default)
        except ValueError:
            return default
    return default


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            return float(value) if isinstance(value, str) else None
        except ValueError:
            return None
    return value
