"""DeviceDescription.xml + FeatureMapping.xml -> Profile (PROTOCOL.md §5).

Pure parsing, no I/O. The FeatureMapping names things (uids, enumeration
members, error codes); the DeviceDescription says which of them this
appliance has and with what access, limits and types.

A broken element is reported in `Profile.problems` and skipped or degraded;
only input that is not the expected XML at all raises `ProfileError`.

`build_feature`, `build_program_option` and `resolve_enum` are shared with
devices.py so that a profile read back from devices.json is built by exactly
the same rules as one parsed from XML.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping

from ..errors import ProfileError
from .model import (
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

XINCLUDE_NS = "http://www.w3.org/2001/XInclude"

# Events without an enumerationType attribute use the event-state type
# (Off / Present / Confirmed), PROTOCOL.md §5.
EVENT_ENUM_ID = 0x0001

# Element tag -> kind of the features it holds (for lists) or is (for items).
LIST_TAGS: dict[str, Kind] = {
    "statusList": Kind.STATUS,
    "settingList": Kind.SETTING,
    "eventList": Kind.EVENT,
    "commandList": Kind.COMMAND,
    "optionList": Kind.OPTION,
    "programGroup": Kind.PROGRAM,
}
ITEM_TAGS: dict[str, Kind] = {
    "status": Kind.STATUS,
    "setting": Kind.SETTING,
    "event": Kind.EVENT,
    "command": Kind.COMMAND,
    "option": Kind.OPTION,
    "program": Kind.PROGRAM,
}
SINGLE_TAGS: dict[str, Kind] = {
    "activeProgram": Kind.ACTIVE_PROGRAM,
    "selectedProgram": Kind.SELECTED_PROGRAM,
    "protectionPort": Kind.PROTECTION_PORT,
}

# Data types (refDID) whose values are numbers on the wire; fixed-point
# types A0-A7 are carried as integers.
_NUMBER_DIDS = frozenset(range(0x80, 0x8A)) | frozenset(range(0xA0, 0xA8))
# Content types (refCID) that are numbers, for elements without a refDID.
_NUMBER_CIDS = frozenset(
    {0x02, 0x03, 0x04, 0x07, 0x08, 0x10, 0x11, 0x12, 0x13, 0x14, 0x18, 0x1F, 0x20, 0x23, 0x24}
)
# Booleans are mostly spelled out, but some initValues say "1" / "0".
_BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False}
_HEX = re.compile(r"[0-9A-Fa-f]{1,8}")
_INT = re.compile(r"[+-]?[0-9]+")

Problem = Callable[[str], None]


def _ignore(_: str) -> None:
    pass


# --- small converters, shared with devices.py ---------------------------------


def parse_hex(text: str) -> int:
    """A uid / enid / refCID as the XML writes it ("020F"); ValueError otherwise."""
    stripped = text.strip()
    if not _HEX.fullmatch(stripped):
        raise ValueError(f"{text!r} is not hexadecimal")
    return int(stripped, 16)


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
    if data_type == 0x00 or content_type == 0x01:
        return parse_bool(text)
    if data_type in _NUMBER_DIDS or (data_type is None and content_type in _NUMBER_CIDS):
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


# --- building model objects from attribute dicts ------------------------------


class _Attrs:
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

    def bool(self, key: str, default: bool) -> bool:
        if key not in self.attrs:
            return default
        try:
            return parse_bool(self.attrs[key])
        except ValueError:
            self.bad(key, "is not true or false", f"using {str(default).lower()}")
            return default

    def optional_bool(self, key: str) -> bool | None:
        if key not in self.attrs:
            return None
        try:
            return parse_bool(self.attrs[key])
        except ValueError:
            self.bad(key, "is not true or false", "ignored")
            return None

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


def resolve_enum(
    attrs: Mapping[str, str],
    kind: Kind,
    enums: Mapping[int, EnumType],
    problem: Problem = _ignore,
    where: str = "",
) -> EnumType | None:
    """The EnumType an element's enumerationType names (events default to 0001)."""
    reader = _Attrs(attrs, problem, where)
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
    a = _Attrs(attrs, problem, where or f"uid {uid:04X} ({name})")
    content_type = a.hex("refCID")
    data_type = a.hex("refDID")
    limits = Limits(
        access=a.access(Access.READ),
        available=a.bool("available", True),
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
        notify_on_change=a.bool("notifyOnChange", kind is not Kind.COMMAND),
        live_update=a.bool("liveUpdate", False),
        password_protected=a.bool("passwordProtected", False),
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
    a = _Attrs(attrs, problem, where or f"option {uid:04X}")
    base_limits = base.limits if base is not None else Limits()
    cid = base.content_type if base is not None else None
    did = base.data_type if base is not None else None

    def own(value: object, fallback: object) -> object:
        return fallback if value is None else value

    limits = Limits(
        access=a.access(base_limits.access),
        available=a.bool("available", base_limits.available),
        min=own(a.number("min"), base_limits.min),
        max=own(a.number("max"), base_limits.max),
        step=own(a.number("stepSize"), base_limits.step),
        default=own(a.value("default", cid, did), base_limits.default),
    )
    return ProgramOption(
        uid=uid,
        limits=limits,
        enum=enum if enum is not None else (base.enum if base is not None else None),
        live_update=a.bool("liveUpdate", base.live_update if base is not None else False),
    )


def program_from_feature(feature: Feature, options: dict[int, ProgramOption]) -> Program:
    a = _Attrs(feature.attributes, _ignore, "")
    return Program(
        uid=feature.uid,
        name=feature.name,
        available=feature.limits.available,
        execution=feature.execution or "selectAndStart",
        options=options,
        full_option_set=a.optional_bool("fullOptionSet"),
    )


def guess_kind(name: str) -> Kind:
    """A feature's kind from its name alone, for files that do not record it.

    The third segment says it ("BSH.Common.Status.DoorState"); the Root
    segment holds the lists and the program slots.
    """
    parts = name.split(".")
    if len(parts) < 4:
        return Kind.UNKNOWN
    category = parts[2]
    by_category = {
        "Status": Kind.STATUS,
        "Setting": Kind.SETTING,
        "Event": Kind.EVENT,
        "Command": Kind.COMMAND,
        "Option": Kind.OPTION,
        "Program": Kind.PROGRAM,
    }
    if category in by_category:
        return by_category[category]
    if category.endswith("List") or category.endswith("Group"):
        return Kind.LIST  # nested lists: LaundryCare.Common.OptionList.Options
    if category == "Root":
        leaf = parts[-1]
        singles = {
            "ActiveProgram": Kind.ACTIVE_PROGRAM,
            "SelectedProgram": Kind.SELECTED_PROGRAM,
            "ProtectionPort": Kind.PROTECTION_PORT,
        }
        if leaf in singles:
            return singles[leaf]
        if leaf.endswith("List") or leaf.endswith("Group"):
            return Kind.LIST
    return Kind.UNKNOWN


# --- XML ----------------------------------------------------------------------


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _children(element: ET.Element) -> Iterator[ET.Element]:
    """Child elements that carry content: no comments, no xi:include (and so
    none of its xi:fallback / error children)."""
    for child in element:
        if not isinstance(child.tag, str) or child.tag.startswith("{" + XINCLUDE_NS + "}"):
            continue
        yield child


def _attributes(element: ET.Element) -> dict[str, str]:
    return {_local(key): value for key, value in element.attrib.items()}


def _text(element: ET.Element) -> str:
    return (element.text or "").strip()


def _read_xml(data: bytes | str, what: str, root_tag: str, appliance: str) -> ET.Element:
    who = f"{appliance}: " if appliance else ""
    # str goes in as str: expat then ignores the encoding declaration, which
    # would be wrong for text that has already been decoded.
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ProfileError(
            f"{who}the {what} is not valid XML ({exc}); download the appliance's profile again"
        ) from None
    if _local(root.tag) != root_tag:
        raise ProfileError(
            f"{who}the {what} has root element <{_local(root.tag)}>, expected <{root_tag}>;"
            " are the DeviceDescription and FeatureMapping files swapped?"
        )
    return root


class _Parser:
    def __init__(self, appliance: str):
        self.appliance = appliance
        self.problems: list[str] = []

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.appliance}: {text}")

    # FeatureMapping

    def read_mapping(
        self, root: ET.Element
    ) -> tuple[dict[int, str], dict[int, str], dict[int, tuple[str | None, dict[int, str]]]]:
        names: dict[int, str] = {}
        errors: dict[int, str] = {}
        enum_names: dict[int, tuple[str | None, dict[int, str]]] = {}
        for section in _children(root):
            tag = _local(section.tag)
            if tag == "featureDescription":
                self._read_named(section, "feature", "refUID", names)
            elif tag == "errorDescription":
                self._read_named(section, "error", "refEID", errors)
            elif tag == "enumDescriptionList":
                for desc in _children(section):
                    if _local(desc.tag) != "enumDescription":
                        continue
                    attrs = _attributes(desc)
                    where = f"FeatureMapping: <enumDescription refENID={attrs.get('refENID')!r}>"
                    try:
                        enid = parse_hex(attrs.get("refENID", ""))
                    except ValueError:
                        self.problem(f"{where} has no hexadecimal refENID; skipped")
                        continue
                    members: dict[int, str] = {}
                    for member in _children(desc):
                        value = member.get("refValue", "")
                        if _local(member.tag) != "enumMember":
                            continue
                        if not _INT.fullmatch(value.strip()) or not _text(member):
                            self.problem(
                                f"{where}: <enumMember refValue={value!r}> needs a whole-number"
                                " refValue and a name; skipped"
                            )
                            continue
                        members[int(value)] = _text(member)
                    enum_names[enid] = (attrs.get("enumKey"), members)
        return names, errors, enum_names

    def _read_named(self, section: ET.Element, tag: str, ref: str, into: dict[int, str]) -> None:
        for element in _children(section):
            if _local(element.tag) != tag:
                continue
            text = _text(element)
            try:
                number = parse_hex(element.get(ref, ""))
            except ValueError:
                self.problem(
                    f"FeatureMapping: <{tag} {ref}={element.get(ref)!r}> {text or '(no name)'}"
                    f" has no hexadecimal {ref}; skipped"
                )
                continue
            if not text:
                self.problem(f"FeatureMapping: <{tag} {ref}={element.get(ref)!r}> has no name; skipped")
                continue
            into[number] = text

    # DeviceDescription

    def read_enums(
        self, root: ET.Element, enum_names: dict[int, tuple[str | None, dict[int, str]]]
    ) -> dict[int, EnumType]:
        declared: dict[int, tuple[list[int], int | None]] = {}
        for section in _children(root):
            if _local(section.tag) != "enumerationTypeList":
                continue
            for element in _children(section):
                if _local(element.tag) != "enumerationType":
                    continue
                attrs = _attributes(element)
                where = f"DeviceDescription: <enumerationType enid={attrs.get('enid')!r}>"
                reader = _Attrs(attrs, self.problem, where)
                try:
                    enid = parse_hex(attrs.get("enid", ""))
                except ValueError:
                    self.problem(f"{where} has no hexadecimal enid; skipped")
                    continue
                values: list[int] = []
                for item in _children(element):
                    if _local(item.tag) != "enumeration":
                        continue
                    value = item.get("value", "")
                    if not _INT.fullmatch(value.strip()):
                        self.problem(f"{where}: <enumeration value={value!r}> is not a whole number; skipped")
                        continue
                    values.append(int(value))
                declared[enid] = (values, reader.hex("subsetOf"))

        def member_name(enid: int | None, value: int, seen: set[int]) -> str | None:
            # A subset takes its names from its super type (possibly a chain).
            while enid is not None and enid not in seen:
                seen.add(enid)
                name = enum_names.get(enid, (None, {}))[1].get(value)
                if name is not None:
                    return name
                enid = declared.get(enid, ([], None))[1]
            return None

        enums: dict[int, EnumType] = {}
        for enid, (values, subset_of) in declared.items():
            members: dict[int, str] = {}
            unnamed: list[int] = []
            for value in values:
                name = member_name(enid, value, set())
                if name is None:
                    unnamed.append(value)
                else:
                    members[value] = name
            if unnamed:
                self.problem(
                    f"DeviceDescription: <enumerationType enid='{enid:04X}'> values"
                    f" {', '.join(map(str, unnamed))} have no name in the FeatureMapping;"
                    " they will show as numbers"
                )
            if subset_of is not None and subset_of not in declared and subset_of not in enum_names:
                self.problem(
                    f"DeviceDescription: <enumerationType enid='{enid:04X}'> is a subset of"
                    f" '{subset_of:04X}', which neither file defines"
                )
            enums[enid] = EnumType(enid, members, enum_names.get(enid, (None, {}))[0], subset_of)
        # Enumerations only the FeatureMapping knows still name values (events
        # fall back to 0001 even when the description does not list it).
        for enid, (key, names) in enum_names.items():
            enums.setdefault(enid, EnumType(enid, dict(names), key))
        return enums

    def read_device(
        self, root: ET.Element, names: dict[int, str], enums: dict[int, EnumType]
    ) -> tuple[dict[int, Feature], dict[int, Program]]:
        features: dict[int, Feature] = {}
        program_elements: list[tuple[Feature, ET.Element]] = []

        def add(element: ET.Element, kind: Kind, parent: int | None) -> Feature | None:
            tag = _local(element.tag)
            attrs = _attributes(element)
            where = f"DeviceDescription: <{tag} uid={attrs.get('uid')!r}>"
            try:
                uid = parse_hex(attrs.get("uid", ""))
            except ValueError:
                self.problem(f"{where} has no hexadecimal uid; skipped")
                return None
            if uid in features:
                self.problem(f"{where} repeats uid {uid:04X} ({features[uid].name}); the second one is skipped")
                return None
            name = names.get(uid)
            if name is None:
                # Still kept: the appliance sends its values, and the uid is
                # enough to address it; the name only says what it is.
                name = f"Unknown.{tag}.{uid:04X}"
                self.problem(f"{where} has no name in the FeatureMapping; calling it {name}")
            where = f"DeviceDescription: <{tag} uid='{attrs['uid']}'> ({name})"
            enum = resolve_enum(attrs, kind, enums, self.problem, where)
            feature = build_feature(
                uid, name, kind, attrs, enum=enum, parent=parent, problem=self.problem, where=where
            )
            features[uid] = feature
            return feature

        def walk(element: ET.Element, parent: int | None) -> None:
            holder = add(element, Kind.LIST, parent)
            parent_uid = holder.uid if holder is not None else parent
            for child in _children(element):
                tag = _local(child.tag)
                if tag in LIST_TAGS:
                    walk(child, parent_uid)
                elif tag in ITEM_TAGS:
                    feature = add(child, ITEM_TAGS[tag], parent_uid)
                    if feature is not None and feature.kind is Kind.PROGRAM:
                        program_elements.append((feature, child))

        for section in _children(root):
            tag = _local(section.tag)
            if tag in LIST_TAGS:
                walk(section, None)
            elif tag in SINGLE_TAGS:
                add(section, SINGLE_TAGS[tag], None)

        # Programs last: their options refer to the option list, wherever it is.
        programs: dict[int, Program] = {}
        for feature, element in program_elements:
            programs[feature.uid] = program_from_feature(
                feature, self.program_options(feature, element, features, enums)
            )

        for uid, name in names.items():
            features.setdefault(uid, Feature(uid=uid, name=name, kind=Kind.UNKNOWN))
        return features, programs

    def program_options(
        self,
        program: Feature,
        element: ET.Element,
        features: dict[int, Feature],
        enums: dict[int, EnumType],
    ) -> dict[int, ProgramOption]:
        options: dict[int, ProgramOption] = {}
        for child in _children(element):
            if _local(child.tag) != "option":
                continue
            attrs = _attributes(child)
            ref = attrs.pop("refUID", "")
            where = f"DeviceDescription: program {program.name}: <option refUID={ref!r}>"
            try:
                uid = parse_hex(ref)
            except ValueError:
                self.problem(f"{where} has no hexadecimal refUID; skipped")
                continue
            base = features.get(uid)
            if base is not None:
                where = f"DeviceDescription: program {program.name}: option {base.name}"
            enum = resolve_enum(attrs, Kind.OPTION, enums, self.problem, where) if "enumerationType" in attrs else None
            options[uid] = build_program_option(
                uid, attrs, base, enum=enum, problem=self.problem, where=where
            )
        return options


def _read_description(root: ET.Element) -> Description:
    description = Description()
    for section in _children(root):
        if _local(section.tag) != "description":
            continue
        for field_element in _children(section):
            tag = _local(field_element.tag)
            if tag in ("type", "brand", "model", "version", "revision"):
                setattr(description, tag, _text(field_element))
    return description


def parse_profile(
    description_xml: bytes | str, mapping_xml: bytes | str, appliance: str = ""
) -> Profile:
    """Parse one appliance's DeviceDescription and FeatureMapping.

    `appliance` names it in problems and errors (defaults to brand and model).
    Raises ProfileError only when a file is not the expected XML at all.
    """
    device = _read_xml(description_xml, "DeviceDescription", "device", appliance)
    mapping = _read_xml(mapping_xml, "FeatureMapping", "featureMappingFile", appliance)
    description = _read_description(device)
    who = appliance or " ".join(p for p in (description.brand, description.model) if p) or "appliance"
    parser = _Parser(who)
    names, errors, enum_names = parser.read_mapping(mapping)
    enums = parser.read_enums(device, enum_names)
    features, programs = parser.read_device(device, names, enums)
    return Profile(
        description=description,
        features=features,
        programs=programs,
        enums=enums,
        errors=errors,
        problems=parser.problems,
    )
