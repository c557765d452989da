"""A Profile as devices.json stores it, both ways.

The format is hcpy's (existing users' files load unchanged): "description",
and "features" keyed by decimal uid, each holding its XML attributes
verbatim plus "values" for enumerations. What hcpy never stored and the model
needs rides along as extra keys hcpy ignores: per feature "kind" and
"parent", per program "options" (that program's own limits), and per
appliance "enums" and "errors".

Reading only turns the JSON into elements; `profile_build.assemble` builds
the Profile by the same rules as for the XML, and `known_features` types
what an older hc-login left untyped. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .known_features import complete
from .model import Description, EnumType, Feature, Kind, Profile, Program, ProgramOption
from .profile_build import (
    Element,
    OptionElement,
    Problem,
    assemble,
    guess_kind,
    parse_hex,
)

# Keys of a feature entry that are not XML attributes.
_FEATURE_META = frozenset({"name", "values", "kind", "parent", "options"})
DESCRIPTION_FIELDS = ("type", "brand", "model", "version", "revision")


# --- JSON -> Profile --------------------------------------------------------------


def profile_from_json(obj: Mapping[str, Any], problem: Problem) -> Profile:
    """The profile of one devices.json entry; broken parts are reported and left out."""
    raw_description = obj.get("description", {})
    if not isinstance(raw_description, dict):
        problem("'description' is not an object; ignored")
        raw_description = {}
    description = Description(
        **{k: str(raw_description[k]) for k in DESCRIPTION_FIELDS if raw_description.get(k) is not None}
    )
    enums = _enums(obj.get("enums"), problem)
    errors = _errors(obj.get("errors"), problem)
    raw_features = obj.get("features", {})
    if not isinstance(raw_features, dict):
        problem("'features' is not an object; the appliance has no known features")
        raw_features = {}
    profile = assemble(description, _elements(raw_features, problem), enums=enums, errors=errors, problem=problem)
    # Older hc-logins wrote some features without their attributes; what the
    # public API documents of well-known ones fills the gaps (never more).
    profile.completed = complete(profile)
    return profile


def _elements(raw_features: dict[str, Any], problem: Problem) -> Iterator[Element]:
    for key, spec in raw_features.items():
        where = f"feature {key}"
        try:
            uid = int(key)
        except ValueError:
            problem(f"{where}: the key is not a decimal uid; skipped")
            continue
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
            problem(f"{where}: needs an object with a 'name'; skipped")
            continue
        name = spec["name"]
        where = f"feature {key} ({name})"
        kind = guess_kind(name)
        if "kind" in spec:
            try:
                kind = Kind(spec["kind"])
            except ValueError:
                problem(f"{where}: 'kind' {spec['kind']!r} is unknown; using {kind.value}")
        parent = None
        if spec.get("parent") is not None:
            try:
                parent = parse_hex(str(spec["parent"]))
            except ValueError:
                problem(f"{where}: 'parent' is not hexadecimal; ignored")
        attrs = _attrs(spec, problem, where, _FEATURE_META)
        if "uid" in attrs:
            try:
                if parse_hex(attrs["uid"]) != uid:
                    problem(f"{where}: 'uid' {attrs['uid']!r} disagrees with the key; the key wins")
            except ValueError:
                problem(f"{where}: 'uid' {attrs['uid']!r} is not hexadecimal; the key wins")
        element = Element(uid, name, kind, attrs, where, parent, _members(spec, problem, where))
        if kind is Kind.PROGRAM:
            element.options = list(_options(name, spec.get("options", {}), problem))
        yield element


def _options(program: str, raw_options: object, problem: Problem) -> Iterator[OptionElement]:
    if not isinstance(raw_options, dict):
        problem(f"program {program}: 'options' is not an object; it allows no options")
        return
    for key, spec in raw_options.items():
        where = f"program {program}: option {key}"
        try:
            uid = int(key)
        except ValueError:
            problem(f"{where}: the key is not a decimal uid; skipped")
            continue
        if not isinstance(spec, dict):
            problem(f"{where}: not an object; skipped")
            continue
        attrs = _attrs(spec, problem, where, ("values",))
        yield OptionElement(uid, attrs, f"option {key}", _members(spec, problem, where))


def _stringify(value: object) -> str | None:
    """An attribute value as the XML would spell it; None if it is not a scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def _attrs(obj: Mapping[str, Any], problem: Problem, where: str, meta: Iterable[str]) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for key, value in obj.items():
        if key in meta:
            continue
        text = _stringify(value)
        if text is None:
            problem(f"{where}: {key!r} is not a plain value; ignored")
            continue
        attrs[key] = text
    return attrs


def _members(spec: Mapping[str, Any], problem: Problem, where: str) -> dict[int, str] | None:
    """The "values" an entry lists (wire value -> member name), if it lists them."""
    if "values" not in spec:
        return None
    return _value_names(spec["values"], problem, where)


def _value_names(obj: object, problem: Problem, where: str) -> dict[int, str] | None:
    if not isinstance(obj, dict):
        problem(f"{where}: 'values' is not an object; ignored")
        return None
    members: dict[int, str] = {}
    for value, name in obj.items():
        try:
            members[int(value)] = str(name)
        except ValueError:
            problem(f"{where}: 'values' key {value!r} is not a whole number; skipped")
    return members


def _enums(obj: object, problem: Problem) -> dict[int, EnumType]:
    enums: dict[int, EnumType] = {}
    if obj is None:
        return enums
    if not isinstance(obj, dict):
        problem("'enums' is not an object; ignored")
        return enums
    for key, spec in obj.items():
        where = f"enumeration {key!r}"
        try:
            enid = parse_hex(key)
        except ValueError:
            problem(f"{where}: the key is not a hexadecimal enumeration id; skipped")
            continue
        if not isinstance(spec, dict):
            problem(f"{where}: not an object; skipped")
            continue
        members = _value_names(spec.get("values", {}), problem, where) or {}
        subset_of = None
        if spec.get("subsetOf") is not None:
            try:
                subset_of = parse_hex(str(spec["subsetOf"]))
            except ValueError:
                problem(f"{where}: 'subsetOf' is not hexadecimal; ignored")
        name = spec.get("name")
        enums[enid] = EnumType(enid, members, name if isinstance(name, str) else None, subset_of)
    return enums


def _errors(obj: object, problem: Problem) -> dict[int, str]:
    errors: dict[int, str] = {}
    if obj is None:
        return errors
    if not isinstance(obj, dict):
        problem("'errors' is not an object; ignored")
        return errors
    for code, name in obj.items():
        try:
            errors[int(code)] = str(name)
        except ValueError:
            problem(f"error code {code!r} is not a whole number; skipped")
    return errors


# --- Profile -> JSON --------------------------------------------------------------


def profile_to_json(profile: Profile) -> dict[str, Any]:
    """The "description", "features", "enums" and "errors" of a devices.json entry."""
    return {
        "description": dataclasses.asdict(profile.description),
        "features": {
            str(uid): _feature_json(feature, profile.programs.get(uid))
            for uid, feature in sorted(profile.features.items())
        },
        "enums": {
            f"{enid:04X}": {
                **({"name": enum.name} if enum.name else {}),
                **({"subsetOf": f"{enum.subset_of:04X}"} if enum.subset_of is not None else {}),
                "values": _values_json(enum),
            }
            for enid, enum in sorted(profile.enums.items())
        },
        "errors": {str(code): name for code, name in sorted(profile.errors.items())},
    }


def _format(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _values_json(enum: EnumType) -> dict[str, str]:
    return {str(value): name for value, name in enum.members.items()}


def _option_json(option: ProgramOption) -> dict[str, str | dict[str, str]]:
    # The effective values (the program's own over the option's), so that a
    # reader without the option list still sees this program's limits.
    limits = option.limits
    out: dict[str, str | dict[str, str]] = {
        "access": limits.access.value,
        "available": _format(limits.available),
    }
    for key, value in (("min", limits.min), ("max", limits.max), ("stepSize", limits.step), ("default", limits.default)):
        if value is not None:
            out[key] = _format(value)
    out["liveUpdate"] = _format(option.live_update)
    if option.enum is not None:
        out["enumerationType"] = f"{option.enum.enid:04X}"
        out["values"] = _values_json(option.enum)
    return out


def _feature_json(feature: Feature, program: Program | None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": feature.name, **feature.attributes}
    if feature.enum is not None:
        out["values"] = _values_json(feature.enum)
    out["kind"] = feature.kind.value
    if feature.parent is not None:
        out["parent"] = f"{feature.parent:04X}"
    if program is not None:
        out["options"] = {str(uid): _option_json(option) for uid, option in sorted(program.options.items())}
    return out
