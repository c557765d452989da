"""DeviceDescription.xml + FeatureMapping.xml -> Profile (PROTOCOL.md §5).

Pure parsing, no I/O. The FeatureMapping names things (uids, enumeration
members, error codes); the DeviceDescription says which of them this
appliance has and with what access, limits and types. This module only reads
the XML into elements; `profile_build.assemble` builds the Profile, by the
same rules as for a devices.json entry.

A broken element is reported in `Profile.problems` and skipped or degraded;
only input that is not the expected XML at all raises `ProfileError`.
Entity expansion is bounded by expat itself (its amplification limit), and
external entities and XIncludes are never fetched.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

from ..errors import ProfileError
from .model import Description, EnumType, Kind, Profile
from .profile_build import (
    Attrs,
    Element,
    OptionElement,
    assemble,
    parse_hex,
    parse_whole,
)

XINCLUDE_NS = "http://www.w3.org/2001/XInclude"

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
                        if parse_whole(value) is None or not _text(member):
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
                reader = Attrs(attrs, self.problem, where)
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
                    if parse_whole(value) is None:
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
            for number in values:
                name = member_name(enid, number, set())
                if name is None:
                    unnamed.append(number)
                else:
                    members[number] = name
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

    def elements(self, root: ET.Element, names: dict[int, str]) -> Iterator[Element]:
        """Every feature the DeviceDescription describes, lists included, in document order."""

        def element(node: ET.Element, kind: Kind, parent: int | None) -> Element | None:
            tag = _local(node.tag)
            attrs = _attributes(node)
            try:
                uid = parse_hex(attrs.get("uid", ""))
            except ValueError:
                self.problem(f"DeviceDescription: <{tag} uid={attrs.get('uid')!r}> has no hexadecimal uid; skipped")
                return None
            name = names.get(uid)
            where = f"DeviceDescription: <{tag} uid='{attrs['uid']}'>"
            if name is None:
                # Still kept: the appliance sends its values, and the uid is
                # enough to address it; the name only says what it is.
                name = f"Unknown.{tag}.{uid:04X}"
                self.problem(f"{where} has no name in the FeatureMapping; calling it {name}")
            found = Element(uid, name, kind, attrs, f"{where} ({name})", parent)
            if kind is Kind.PROGRAM:
                found.options = list(self.program_options(name, node))
            return found

        def walk(node: ET.Element, parent: int | None) -> Iterator[Element]:
            holder = element(node, Kind.LIST, parent)
            if holder is not None:
                yield holder
            parent_uid = holder.uid if holder is not None else parent
            for child in _children(node):
                tag = _local(child.tag)
                if tag in LIST_TAGS:
                    yield from walk(child, parent_uid)
                elif tag in ITEM_TAGS:
                    item = element(child, ITEM_TAGS[tag], parent_uid)
                    if item is not None:
                        yield item

        for section in _children(root):
            tag = _local(section.tag)
            if tag in LIST_TAGS:
                yield from walk(section, None)
            elif tag in SINGLE_TAGS:
                single = element(section, SINGLE_TAGS[tag], None)
                if single is not None:
                    yield single

    def program_options(self, program: str, node: ET.Element) -> Iterator[OptionElement]:
        for child in _children(node):
            if _local(child.tag) != "option":
                continue
            attrs = _attributes(child)
            ref = attrs.pop("refUID", "")
            try:
                uid = parse_hex(ref)
            except ValueError:
                self.problem(
                    f"DeviceDescription: program {program}: <option refUID={ref!r}> has no hexadecimal refUID; skipped"
                )
                continue
            yield OptionElement(uid, attrs, f"<option refUID={ref!r}>")


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


def parse_profile(description_xml: bytes | str, mapping_xml: bytes | str, appliance: str = "") -> Profile:
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
    profile = assemble(
        description,
        parser.elements(device, names),
        enums=enums,
        errors=errors,
        problem=parser.problem,
        source="DeviceDescription: ",
        unlisted=names,
    )
    profile.problems = parser.problems
    return profile
