"""Elements -> Profile: the one traversal both profile sources share (PROTOCOL.md §5).

A profile arrives as the XML pair (`profile_xml`) or as a devices.json entry
(`profile_json`). Each source only reads its own syntax into `Element`s: one
per feature, with the element's attributes as the XML spells them. `assemble`
turns them into a `Profile` by one set of rules, so a profile read back from
devices.json is built exactly as the XML it came from: defaults, types,
enumerations, programs and their options, and every problem reported the
same way.

Pure: no I/O. A broken attribute is reported through `problem` and skipped or
degraded; nothing here raises on bad input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from .model import (
    CID_BOOLEAN,
    CID_ENUMERATION,
    DID_BOOLEAN,
    EVENT_ENUM_ID,
    NUMBER_DATA,
    NUMERIC_CONTENT,
    Access,
    Description,
    EnumType,
    Feature,
    Kind,
    Limits,
    Profile,
    Program,
    ProgramOption,
)

T = TypeVar("T")

# Enumeration values travel as integers: an enumeration's default is a number too.
_NUMBER_CONTENT = NUMERIC_CONTENT | {CID_ENUMERATION}
# Booleans are mostly spelled out, but some initValues say "1" / "0".
_BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False}
_HEX = re.compile(r"[0-9A-Fa-f]{1,8}")
_INT = re.compile(r"[+-]?[0-9]+")

Problem = Callable[[str], None]


def _ignore(_: str) -> None:
    pass


# --- what a source hands over ---------------------------------------------------


@dataclass
class OptionElement:
    """One option as a program lists it, with that program's own attributes."""

    uid: int
    attrs: Mapping[str, str]
    ref: str  # how the source names it until the option is found ("<option refUID='0123'>")
    members: dict[int, str] | None = None  # enumeration names the source lists itself


@dataclass
class Element:
    """One feature as a source describes it: attributes as the XML spells them."""

    uid: int
    name: str
    kind: Kind
    attrs: Mapping[str, str]
    where: str  # how problems name it
    parent: int | None = None  # uid of the list that holds it
    # The enumeration's names when the source lists them itself (devices.json
    # does); None: look up the profile's enumerationType.
    members: dict[int, str] | None = None
    options: list[OptionElement] = field(default_factory=list)  # programs only


# --- small converters ---------------------------------------------------------------


def parse_hex(text: str) -> int:
    """A uid / enid / refCID as the XML writes it ("020F"); ValueError otherwise."""
    stripped = text.strip()
    if not _HEX.fullmatch(stripped):
        raise ValueError(f"{text!r} is not hexadecimal")
    return int(stripped, 16)


def parse_whole(text: str) -> int | None:
    """A decimal whole number ("-3"), or None."""
    stripped = text.strip()
    return int(stripped) if _INT.fullmatch(stripped) else None


def parse_bool(text: str) -> bool:
    try:
        return _BOOL_WORDS[text.strip().lower()]
    except KeyError:
        raise ValueError(f"{text!r} is not true or false") from None


def parse_number(text: str) -> int | float:
    """Integers stay int (so "60" writes back as "60"); anything else float."""
    stripped = text.strip()
    if _INT.fullmatch(stripped):
        return int(stripped)
    value = float(stripped)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def convert_value(text: str, content_type: int | None, data_type: int | None) -> object:
    """A value attribute (default, initValue) in the type the feature declares.

    Raises ValueError when the text does not fit the type; text types stay text.
    """
    if data_type == DID_BOOLEAN or content_type == CID_BOOLEAN:
        return parse_bool(text)
    if data_type in NUMBER_DATA or (data_type is None and content_type in _NUMBER_CONTENT):
        return parse_number(text)
    if data_type is None and content_type is None:
        # No type to go by (an option a program names but the option list
        # does not define): take the narrowest reading that fits.
        for parse in (parse_number, parse_bool):
            try:
                return parse(text)
            except ValueError:
                pass
    return text


def guess_kind(name: str) -> Kind:
    """A feature's kind from its name alone, for files that do not record it.

    The third segment says it ("BSH.Common.Status.DoorState"); the Root
    segment holds the lists and the program slots.
    """
    parts = name.split(".")
    if len(parts) < 4:
        return Kind.UNKNOWN
    category = parts[2]
    if category in _KIND_BY_CATEGORY:
        return _KIND_BY_CATEGORY[category]
    if category.endswith(("List", "Group")):
        return Kind.LIST  # nested lists: LaundryCare.Common.OptionList.Options
    if category == "Root":
        leaf = parts[-1]
        if leaf in _ROOT_LEAVES:
            return _ROOT_LEAVES[leaf]
        if leaf.endswith(("List", "Group")):
            return Kind.LIST
    return Kind.UNKNOWN


_KIND_BY_CATEGORY = {
    "Status": Kind.STATUS,
    "Setting": Kind.SETTING,
    "Event": Kind.EVENT,
    "Command": Kind.COMMAND,
    "Option": Kind.OPTION,
    "Program": Kind.PROGRAM,
}
_ROOT_LEAVES = {
    "ActiveProgram": Kind.ACTIVE_PROGRAM,
    "SelectedProgram": Kind.SELECTED_PROGRAM,
    "ProtectionPort": Kind.PROTECTION_PORT,
}


# --- reading one element's attributes -----------------------------------------------


class Attrs:
    """Reads one element's attributes, reporting each bad one once."""

    def __init__(self, attrs: Mapping[str, str], problem: Problem, where: str):
        self.attrs = attrs
        self.problem = problem
        self.where = where

    def bad(self, key: str, what: str, consequence: str) -> None:
        self.problem(f"{self.where}: {key}={self.attrs[key]!r} {what}; {consequence}")

    def hex(self, key: str) -> int | None:
        if key not in self.attrs:
            return None
        try:
            return parse_hex(self.attrs[key])
        except ValueError:
            self.bad(key, "is not hexadecimal", "ignored")
            return None

    def flag(self, key: str, default: bool) -> bool:
        if key not in self.attrs:
            return default
        try:
            return parse_bool(self.attrs[key])
        except ValueError:
            self.bad(key, "is not true or false", f"using {str(default).lower()}")
            return default


    def access(self, default: Access) -> Access:
        if "access" not in self.attrs:
            return default
        try:
            return Access.parse(self.attrs["access"])
        except ValueError:
            self.bad("access", "is not a known access", f"using {default.value}")
            return default

    def number(self, key: str) -> int | float | None:
        if key not in self.attrs:
            return None
        try:
            return parse_number(self.attrs[key])
        except ValueError:
            self.bad(key, "is not a number", "ignored")
            return None

    def value(self, key: str, content_type: int | None, data_type: int | None) -> object:
        if key not in self.attrs:
            return None
        try:
            return convert_value(self.attrs[key], content_type, data_type)
        except ValueError:
            self.bad(key, "does not fit the feature's type", "kept as text")
            return self.attrs[key]


# --- building model objects ------------------------------------------------------------


def resolve_enum(
    attrs: Mapping[str, str],
    kind: Kind,
    enums: Mapping[int, EnumType],
    problem: Problem = _ignore,
    where: str = "",
) -> EnumType | None:
    """The EnumType an element's enumerationType names (events default to 0001)."""
    reader = Attrs(attrs, problem, where)
    if "enumerationType" not in attrs:
        return enums.get(EVENT_ENUM_ID) if kind is Kind.EVENT else None
    enid = reader.hex("enumerationType")
    if enid is None:
        return None
    enum = enums.get(enid)
    if enum is None:
        reader.bad(
            "enumerationType",
            "names an enumeration type the profile does not define",
            "its values will show as numbers",
        )
    return enum


def listed_enum(
    members: dict[int, str], attrs: Mapping[str, str], kind: Kind, enums: Mapping[int, EnumType]
) -> EnumType:
    """An enumeration whose names the source lists itself (devices.json's "values")."""
    try:
        enid = parse_hex(attrs["enumerationType"]) if "enumerationType" in attrs else None
    except ValueError:
        enid = None
    if enid is None:
        # hcpy's files drop the enumeration's id and keep only its names.
        enid = EVENT_ENUM_ID if kind is Kind.EVENT and "enumerationType" not in attrs else 0
    known = enums.get(enid)
    if known is not None and known.members == members:
        return known  # share the profile's object, as a parsed profile does
    return EnumType(enid, members)


def build_feature(
    uid: int,
    name: str,
    kind: Kind,
    attrs: Mapping[str, str],
    *,
    enum: EnumType | None = None,
    parent: int | None = None,
    problem: Problem = _ignore,
    where: str = "",
) -> Feature:
    """A Feature from an element's attributes, with the documented defaults."""
    a = Attrs(attrs, problem, where or f"uid {uid:04X} ({name})")
    content_type = a.hex("refCID")
    data_type = a.hex("refDID")
    limits = Limits(
        access=a.access(Access.READ),
        available=a.flag("available", True),
        min=a.number("min"),
        max=a.number("max"),
        step=a.number("stepSize"),
        default=a.value("default", content_type, data_type),
    )
    return Feature(
        uid=uid,
        name=name,
        kind=kind,
        limits=limits,
        content_type=content_type,
        data_type=data_type,
        enum=enum,
        init_value=a.value("initValue", content_type, data_type),
        notify_on_change=a.flag("notifyOnChange", kind is not Kind.COMMAND),
        live_update=a.flag("liveUpdate", False),
        password_protected=a.flag("passwordProtected", False),
        handling=attrs.get("handling", "none" if kind is Kind.EVENT else None),
        level=attrs.get("level", "hint" if kind is Kind.EVENT else None),
        execution=attrs.get("execution", "selectAndStart" if kind is Kind.PROGRAM else None),
        parent=parent,
        attributes=dict(attrs),
    )


def build_program_option(
    uid: int,
    attrs: Mapping[str, str],
    base: Feature | None,
    *,
    enum: EnumType | None = None,
    problem: Problem = _ignore,
    where: str = "",
) -> ProgramOption:
    """One program's view of an option: its own attributes over the option's.

    `base` is the option as the optionList defines it; `enum` the program's
    own enumeration type if it names one (else the option's is used).
    """
    a = Attrs(attrs, problem, where or f"option {uid:04X}")
    base_limits = base.limits if base is not None else Limits()
    cid = base.content_type if base is not None else None
    did = base.data_type if base is not None else None

    def own(value: T | None, fallback: T) -> T:
        return fallback if value is None else value

    limits = Limits(
        access=a.access(base_limits.access),
        available=a.flag("available", base_limits.available),
        min=own(a.number("min"), base_limits.min),
        max=own(a.number("max"), base_limits.max),
        step=own(a.number("stepSize"), base_limits.step),
        default=own(a.value("default", cid, did), base_limits.default),
    )
    return ProgramOption(
        uid=uid,
        limits=limits,
        enum=enum if enum is not None else (base.enum if base is not None else None),
        live_update=a.flag("liveUpdate", base.live_update if base is not None else False),
    )


def program_from_feature(feature: Feature, options: dict[int, ProgramOption]) -> Program:
    return Program(
        uid=feature.uid,
        name=feature.name,
        available=feature.limits.available,
        execution=feature.execution or "selectAndStart",
        options=options,
    )


# --- the traversal ----------------------------------------------------------------------


def assemble(
    description: Description,
    elements: Iterable[Element],
    *,
    enums: dict[int, EnumType],
    errors: dict[int, str],
    problem: Problem,
    source: str = "",
    unlisted: Mapping[int, str] | None = None,
) -> Profile:
    """Build the Profile of `elements`, in the order the source reads them.

    `source` prefixes where a program's options are ("DeviceDescription: ");
    `unlisted` are names of uids no element describes (the FeatureMapping's
    extras): they become features of unknown kind, so their values decode.
    """
    features: dict[int, Feature] = {}
    program_elements: list[tuple[Feature, Element]] = []
    for element in elements:
        uid = element.uid
        if uid in features:
            problem(f"{element.where} repeats uid {uid:04X} ({features[uid].name}); the second one is skipped")
            continue
        enum: EnumType | None
        if element.members is not None:
            enum = listed_enum(element.members, element.attrs, element.kind, enums)
        else:
            enum = resolve_enum(element.attrs, element.kind, enums, problem, element.where)
        feature = build_feature(
            uid, element.name, element.kind, element.attrs,
            enum=enum, parent=element.parent, problem=problem, where=element.where,
        )  # fmt: skip
        features[uid] = feature
        if feature.kind is Kind.PROGRAM:
            program_elements.append((feature, element))

    # Programs last: their options refer to option features, wherever they are.
    programs: dict[int, Program] = {}
    for program, element in program_elements:
        options: dict[int, ProgramOption] = {}
        for option in element.options:
            base = features.get(option.uid)
            where = f"{source}program {program.name}: " + (f"option {base.name}" if base is not None else option.ref)
            if option.members is not None:
                enum = listed_enum(option.members, option.attrs, Kind.OPTION, enums)
            elif "enumerationType" in option.attrs:
                enum = resolve_enum(option.attrs, Kind.OPTION, enums, problem, where)
            else:
                enum = None  # the option's own, from the option list
            options[option.uid] = build_program_option(
                option.uid, option.attrs, base, enum=enum, problem=problem, where=where
            )
        programs[program.uid] = program_from_feature(program, options)

    for uid, name in (unlisted or {}).items():
        features.setdefault(uid, Feature(uid=uid, name=name, kind=Kind.UNKNOWN))
    return Profile(description=description, features=features, programs=programs, enums=enums, errors=errors)
