"""The typed model of an appliance's profile (PROTOCOL.md §5).

A `Profile` is what hcpy knows about one appliance type: its features
(statuses, settings, events, commands, options, programs), their types and
limits, its enumerations and its error names. It is built from the XML pair
(`profile.py`) or from a devices.json entry (`devices.py`), and read by the
simulator and the bridge. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from functools import cached_property
from typing import Any


class Kind(str, Enum):
    """Which list of the DeviceDescription a feature comes from."""

    STATUS = "status"
    SETTING = "setting"
    EVENT = "event"
    COMMAND = "command"
    OPTION = "option"
    PROGRAM = "program"
    LIST = "list"  # statusList, settingList, programGroup, … (they have uids too)
    ACTIVE_PROGRAM = "activeProgram"
    SELECTED_PROGRAM = "selectedProgram"
    PROTECTION_PORT = "protectionPort"
    UNKNOWN = "unknown"  # a uid from the FeatureMapping the description does not list


# The kinds whose one feature holds the uid of a program.
PROGRAM_ROOTS = (Kind.ACTIVE_PROGRAM, Kind.SELECTED_PROGRAM)


class Access(str, Enum):
    """Access as the XML spells it; the wire spells it upper-case."""

    READ = "read"
    READ_WRITE = "readWrite"
    READ_STATIC = "readStatic"
    WRITE_ONLY = "writeOnly"
    NONE = "none"

    @classmethod
    def parse(cls, text: str) -> Access:
        """Accept the XML's camelCase and the wire's UPPER case alike."""
        folded = text.replace("_", "").lower()
        for member in cls:
            if member.value.lower() == folded:
                return member
        raise ValueError(f"unknown access {text!r}")

    @property
    def readable(self) -> bool:
        return self in (Access.READ, Access.READ_WRITE, Access.READ_STATIC)

    @property
    def writable(self) -> bool:
        return self in (Access.READ_WRITE, Access.WRITE_ONLY)


# Content types by refCID (hex in the XML), PROTOCOL.md §5.
CONTENT_TYPES: dict[int, str] = {
    0x01: "boolean",
    0x02: "integer",
    0x03: "enumeration",
    0x04: "float",
    0x05: "string",
    0x06: "dateTime",
    0x07: "temperatureCelsius",
    0x08: "temperatureFahrenheit",
    0x10: "timeSpan",
    0x11: "percent",
    0x12: "dBm",
    0x13: "weight",
    0x14: "liquidVolume",
    0x15: "uidValue",
    0x16: "date",
    0x17: "time",
    0x18: "waterHardness",
    0x1F: "rpm",
    0x20: "flowRate",
    0x23: "power",
    0x24: "energy",
}

# The codes other modules test for, named once.
CID_BOOLEAN = 0x01
CID_ENUMERATION = 0x03
CID_STRING = 0x05
CID_PERCENT = 0x11
CID_TIME_SPAN = 0x10  # seconds
CID_UID_VALUE = 0x15  # the value is itself a uid, e.g. a program's
CID_DATE_TIME = 0x06  # an ISO 8601 string, seen without a zone: the appliance's local time
CID_DATE = 0x16
# Content types whose values are numbers (a uid value is one too, but is shown as a name).
NUMERIC_CONTENT = frozenset({0x02, 0x04, 0x07, 0x08, 0x10, 0x11, 0x12, 0x13, 0x14, 0x18, 0x1F, 0x20, 0x23, 0x24})
# Bounds a value of these content types has even where the profile gives
# none: a percentage, and a time span (a delayed start, a duration), which no
# appliance takes negative or beyond a day.
IMPLIED_RANGES: dict[int, tuple[int, int]] = {CID_PERCENT: (0, 100), CID_TIME_SPAN: (0, 86400)}
# The longest string value hcpy sends or keeps. Real ones are names and
# version numbers; a longer one from an appliance is cut, from a user refused.
MAX_STRING = 1024
# Data types by refDID. Which width and sign each of 80–87 has is unproven
# (the washer sends 25500 in a 0x81), so hcpy only relies on "integer".
DID_BOOLEAN = 0x00
# Fixed-point floats (A0–A7) travel as integers too.
INTEGER_DATA = frozenset(range(0x80, 0x88)) | frozenset(range(0xA0, 0xA8))
FLOAT_DATA = frozenset({0x88, 0x89})
NUMBER_DATA = INTEGER_DATA | FLOAT_DATA
STRING_DATA = frozenset({0x8B, 0x8C})
DID_DATE_TIME = 0x8A
DID_DATE = 0xA8
DID_JSON = 0x8D
# A list's data type is its element's with this bit set (a real ErrorCodesList
# is 408B, a list of strings); its value travels as {"length": n, "list": [...]}.
DID_LIST = 0x4000

# Events without an enumerationType attribute use the event-state type
# (Off / Present / Confirmed), PROTOCOL.md §5.
EVENT_ENUM_ID = 0x0001

# The root features that hold a program's uid (0: none), PROTOCOL.md §5. The
# profile names them; their kind comes from the activeProgram and
# selectedProgram elements.
ROOT_ACTIVE_PROGRAM = "BSH.Common.Root.ActiveProgram"
ROOT_SELECTED_PROGRAM = "BSH.Common.Root.SelectedProgram"


class ValueKind(str, Enum):
    """What a feature's values are, as far as checking and showing them goes."""

    BOOLEAN = "boolean"
    ENUM = "enumeration"
    INTEGER = "integer"
    NUMBER = "number"
    STRING = "string"
    ANY = "any"  # a type nothing checks (dateTime, JSON, …)


@dataclass
class EnumType:
    # enid 0 = not known: devices.json files written by hcpy keep only the
    # member names of a feature's enumeration, not its id.
    enid: int
    members: dict[int, str]  # wire value -> member name
    name: str | None = None  # the enumKey, e.g. BSH.Common.EnumType.DoorState
    subset_of: int | None = None


@dataclass
class Limits:
    """The part of a feature that description changes may alter."""

    access: Access = Access.READ
    available: bool = True
    min: float | None = None
    max: float | None = None
    step: float | None = None
    default: Any = None

    def over(self, base: Limits) -> Limits:
        """These (a program's own) limits, with `base`'s bounds and default where these leave them out."""
        return Limits(
            access=self.access,
            available=self.available,
            min=self.min if self.min is not None else base.min,
            max=self.max if self.max is not None else base.max,
            step=self.step if self.step is not None else base.step,
            default=self.default if self.default is not None else base.default,
        )


@dataclass
class Feature:
    uid: int
    name: str  # full name, e.g. BSH.Common.Status.DoorState
    kind: Kind = Kind.UNKNOWN
    limits: Limits = field(default_factory=Limits)
    content_type: int | None = None  # refCID
    data_type: int | None = None  # refDID
    enum: EnumType | None = None
    init_value: Any = None
    notify_on_change: bool = True
    live_update: bool = False
    password_protected: bool = False
    handling: str | None = None  # events
    level: str | None = None  # events
    execution: str | None = None  # programs
    parent: int | None = None  # uid of the list that holds it
    # The element's XML attributes verbatim: devices.json stores them as they
    # came (hcpy format), and attributes the model has no field for survive.
    attributes: dict[str, str] = field(default_factory=dict, repr=False)

    # Derived facts are worked out once: they are asked for every value an
    # appliance reports, and what they derive from never changes after building.

    @cached_property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    @cached_property
    def feature_id(self) -> str:
        """The MQTT topic segment: full name lower-cased, dots to underscores."""
        return self.name.lower().replace(".", "_")

    @cached_property
    def holds_uid(self) -> bool:
        """Its value is another feature's uid: a program's, for the program roots.

        Published as that feature's name, sent as the number.
        """
        return self.kind in PROGRAM_ROOTS or self.content_type == CID_UID_VALUE

    @cached_property
    def value_kind(self) -> ValueKind:
        cid, did = self.content_type, self.data_type
        if self.holds_uid:
            return ValueKind.INTEGER
        if self.enum is not None or cid == CID_ENUMERATION:
            return ValueKind.ENUM
        if cid == CID_BOOLEAN or did == DID_BOOLEAN:
            return ValueKind.BOOLEAN
        if cid == CID_STRING or did in STRING_DATA:
            return ValueKind.STRING
        if did in INTEGER_DATA:
            return ValueKind.INTEGER
        if did in FLOAT_DATA or cid in NUMERIC_CONTENT:
            return ValueKind.NUMBER
        return ValueKind.ANY

    @cached_property
    def holds_structure(self) -> bool:
        """Its values are JSON objects or lists (a timezone, an error list), not scalars."""
        did = self.data_type
        return did is not None and (did == DID_JSON or bool(did & DID_LIST))

    @cached_property
    def holds_date_time(self) -> bool:
        """Its values are ISO 8601 date-times (a point in time, not a time of day)."""
        return not self.holds_structure and (self.content_type == CID_DATE_TIME or self.data_type == DID_DATE_TIME)

    @cached_property
    def holds_date(self) -> bool:
        """Its values are ISO 8601 dates."""
        return not self.holds_structure and (self.content_type == CID_DATE or self.data_type == DID_DATE)

    @cached_property
    def is_boolean(self) -> bool:
        return self.value_kind is ValueKind.BOOLEAN

    @property
    def content_type_name(self) -> str | None:
        return None if self.content_type is None else CONTENT_TYPES.get(self.content_type)

    def bounded(self, limits: Limits) -> Limits:
        """`limits` with the bounds its content type implies where they leave them out."""
        implied = IMPLIED_RANGES.get(self.content_type) if self.content_type is not None else None
        if implied is None or (limits.min is not None and limits.max is not None):
            return limits
        return replace(
            limits,
            min=implied[0] if limits.min is None else limits.min,
            max=implied[1] if limits.max is None else limits.max,
        )


@dataclass
class ProgramOption:
    """An option as one program allows it: that program's own limits."""

    uid: int
    limits: Limits = field(default_factory=Limits)
    enum: EnumType | None = None  # the program may narrow the option's enum
    live_update: bool = False


@dataclass
class Program:
    uid: int
    name: str
    available: bool = True
    execution: str = "selectAndStart"
    options: dict[int, ProgramOption] = field(default_factory=dict)


@dataclass
class Description:
    type: str = ""
    brand: str = ""
    model: str = ""
    version: str = ""
    revision: str = ""


@dataclass
class Profile:
    description: Description
    features: dict[int, Feature]  # every uid with a name, programs and lists included
    programs: dict[int, Program] = field(default_factory=dict)
    enums: dict[int, EnumType] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)  # code -> full error name
    problems: list[str] = field(default_factory=list)  # elements skipped while parsing
    # Untyped features (an older hc-login's file) typed from `known_features`.
    completed: list[str] = field(default_factory=list)
    _by_name: dict[str, Feature] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        """Rebuild the name index; call it after adding or removing features."""
        index: dict[str, Feature] = {}
        for uid in sorted(self.features):
            # Two uids with one name would make a name ambiguous: the lower uid
            # wins, deterministically, and the other stays reachable by uid.
            index.setdefault(self.features[uid].name, self.features[uid])
        self._by_name = index

    def by_name(self, name: str) -> Feature | None:
        """Exact full-name lookup; never a substring guess."""
        return self._by_name.get(name)

    def root(self, kind: Kind) -> Feature | None:
        """The feature holding the active (or selected) program, if the appliance has one."""
        by_name = self.by_name(ROOT_ACTIVE_PROGRAM if kind is Kind.ACTIVE_PROGRAM else ROOT_SELECTED_PROGRAM)
        if by_name is not None:
            return by_name
        return next((f for f in self.features.values() if f.kind is kind), None)
