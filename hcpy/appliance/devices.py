"""devices.json: the appliances hcpy talks to, their keys and profiles.

The file format is hcpy's (existing users' files load unchanged): a JSON
list of appliances, each with name, host, key (and iv for AES appliances),
description and features keyed by decimal uid, every feature holding its
XML attributes verbatim plus "values" for enumerations. What hcpy never
stored and the model needs rides along as extra keys hcpy ignores: per
feature "kind" and "parent", per program "options" (that program's own
limits), and per appliance "enums" and "errors". Keys this module does not
know are kept verbatim.

Conversion (entry_from_json / entry_to_json) is pure; load_devices and
save_devices are the only I/O.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..encoding import unb64url
from ..errors import DevicesFileError
from ..files import write_private
from ..mqtt.topics import clean_name
from .model import Description, EnumType, Feature, Kind, Profile, Program, ProgramOption
from .profile import (
    EVENT_ENUM_ID,
    build_feature,
    build_program_option,
    guess_kind,
    parse_hex,
    program_from_feature,
    resolve_enum,
)

log = logging.getLogger("hcpy.devices")

# Top-level keys this module reads and writes; everything else is the user's
# (or another fork's) and is carried through untouched.
_KNOWN_KEYS = ("name", "host", "key", "iv", "port", "haId", "description", "features", "enums", "errors")
# Keys of a feature entry that are not XML attributes.
_FEATURE_META = frozenset({"name", "values", "kind", "parent", "options"})
_DESCRIPTION_FIELDS = ("type", "brand", "model", "version", "revision")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_KEY_CHARS = 43  # 32 bytes
_IV_CHARS = 22  # 16 bytes
# Names become MQTT topic segments.
_TOPIC_SPECIALS = frozenset("/+#")


def _secret_problem(value: object, name: str, chars: int) -> str | None:
    """Why a key/iv is unusable, without ever quoting it."""
    if not isinstance(value, str):
        return f"'{name}' must be {chars} characters of base64url, found {type(value).__name__}"
    body = value.rstrip("=")
    if len(body) != chars or not _B64URL.fullmatch(body):
        return (
            f"'{name}' must be {chars} characters of base64url"
            f" (found {len(body)} characters{'' if _B64URL.fullmatch(body) else ', some not base64url'});"
            " copy it again from hc-login's output"
        )
    return None


@dataclass
class ApplianceEntry:
    """One appliance of devices.json. Its repr never shows key or iv."""

    name: str
    host: str
    key: str = field(repr=False)
    iv: str | None = field(default=None, repr=False)
    port: int | None = None
    ha_id: str | None = None
    profile: Profile = field(default_factory=lambda: Profile(Description(), {}), repr=False)
    # Top-level keys hcpy does not know (e.g. a fork's "hc2mqtt" block): kept
    # verbatim. Not shown: nobody knows what they hold.
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def psk(self) -> bytes:
        return unb64url(self.key)

    @property
    def iv_bytes(self) -> bytes | None:
        return None if self.iv is None else unb64url(self.iv)

    @property
    def transport(self) -> Literal["tls", "aes"]:
        return "aes" if self.iv is not None else "tls"

    def __repr__(self) -> str:
        d = self.profile.description
        return (
            f"ApplianceEntry(name={self.name!r}, host={self.host!r}, port={self.port!r},"
            f" ha_id={self.ha_id!r}, transport={self.transport!r}, model={d.brand} {d.model})"
        )

    __str__ = __repr__


# --- JSON -> model --------------------------------------------------------------


def _stringify(value: object) -> str | None:
    """An attribute value as the XML would spell it; None if it is not a scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def _values(obj: object, report, where: str) -> dict[int, str] | None:
    if not isinstance(obj, dict):
        report(f"{where}: 'values' is not an object; its values will show as numbers")
        return None
    members: dict[int, str] = {}
    for value, name in obj.items():
        try:
            members[int(value)] = str(name)
        except ValueError:
            report(f"{where}: 'values' key {value!r} is not a whole number; skipped")
    return members


def _enum_from_json(
    obj: Mapping[str, Any], attrs: Mapping[str, str], kind: Kind, enums: Mapping[int, EnumType], report, where: str
) -> EnumType | None:
    if "values" not in obj:
        return resolve_enum(attrs, kind, enums, report, where)
    members = _values(obj["values"], report, where)
    if members is None:
        return None
    try:
        enid = parse_hex(attrs["enumerationType"]) if "enumerationType" in attrs else None
    except ValueError:
        enid = None
    if enid is None:
        # hcpy drops the enumeration's id and keeps only its names.
        enid = EVENT_ENUM_ID if kind is Kind.EVENT and "enumerationType" not in attrs else 0
    known = enums.get(enid)
    if known is not None and known.members == members:
        return known  # share the profile's object, as a parsed profile does
    return EnumType(enid, members)


def _attrs_from_json(obj: Mapping[str, Any], report, where: str, meta: Iterable[str]) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for key, value in obj.items():
        if key in meta:
            continue
        text = _stringify(value)
        if text is None:
            report(f"{where}: {key!r} is not a plain value; ignored")
            continue
        attrs[key] = text
    return attrs


def _enums_from_json(obj: object, report) -> dict[int, EnumType]:
    enums: dict[int, EnumType] = {}
    if obj is None:
        return enums
    if not isinstance(obj, dict):
        report("'enums' is not an object; ignored")
        return enums
    for key, spec in obj.items():
        where = f"enumeration {key!r}"
        try:
            enid = parse_hex(key)
        except ValueError:
            report(f"{where}: the key is not a hexadecimal enumeration id; skipped")
            continue
        if not isinstance(spec, dict):
            report(f"{where}: not an object; skipped")
            continue
        members = _values(spec.get("values", {}), report, where) or {}
        subset_of = None
        if spec.get("subsetOf") is not None:
            try:
                subset_of = parse_hex(str(spec["subsetOf"]))
            except ValueError:
                report(f"{where}: 'subsetOf' is not hexadecimal; ignored")
        name = spec.get("name")
        enums[enid] = EnumType(enid, members, name if isinstance(name, str) else None, subset_of)
    return enums


def _errors_from_json(obj: object, report) -> dict[int, str]:
    errors: dict[int, str] = {}
    if obj is None:
        return errors
    if not isinstance(obj, dict):
        report("'errors' is not an object; ignored")
        return errors
    for code, name in obj.items():
        try:
            errors[int(code)] = str(name)
        except ValueError:
            report(f"error code {code!r} is not a whole number; skipped")
    return errors


def _profile_from_json(obj: Mapping[str, Any], report) -> Profile:
    raw_description = obj.get("description", {})
    if not isinstance(raw_description, dict):
        report("'description' is not an object; ignored")
        raw_description = {}
    description = Description(
        **{k: str(raw_description[k]) for k in _DESCRIPTION_FIELDS if raw_description.get(k) is not None}
    )
    enums = _enums_from_json(obj.get("enums"), report)
    errors = _errors_from_json(obj.get("errors"), report)

    raw_features = obj.get("features", {})
    if not isinstance(raw_features, dict):
        report("'features' is not an object; the appliance has no known features")
        raw_features = {}
    features: dict[int, Feature] = {}
    option_specs: dict[int, object] = {}
    for key, spec in raw_features.items():
        where = f"feature {key}"
        try:
            uid = int(key)
        except ValueError:
            report(f"{where}: the key is not a decimal uid; skipped")
            continue
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
            report(f"{where}: needs an object with a 'name'; skipped")
            continue
        name = spec["name"]
        where = f"feature {key} ({name})"
        kind = guess_kind(name)
        if "kind" in spec:
            try:
                kind = Kind(spec["kind"])
            except ValueError:
                report(f"{where}: 'kind' {spec['kind']!r} is unknown; using {kind.value}")
        parent = None
        if spec.get("parent") is not None:
            try:
                parent = parse_hex(str(spec["parent"]))
            except ValueError:
                report(f"{where}: 'parent' is not hexadecimal; ignored")
        attrs = _attrs_from_json(spec, report, where, _FEATURE_META)
        if "uid" in attrs:
            try:
                if parse_hex(attrs["uid"]) != uid:
                    report(f"{where}: 'uid' {attrs['uid']!r} disagrees with the key; the key wins")
            except ValueError:
                report(f"{where}: 'uid' {attrs['uid']!r} is not hexadecimal; the key wins")
        enum = _enum_from_json(spec, attrs, kind, enums, report, where)
        features[uid] = build_feature(
            uid, name, kind, attrs, enum=enum, parent=parent, problem=report, where=where
        )
        if kind is Kind.PROGRAM:
            option_specs[uid] = spec.get("options", {})

    # Programs after all features: their options refer to option features.
    programs: dict[int, Program] = {}
    for uid, raw_options in option_specs.items():
        program = features[uid]
        options: dict[int, ProgramOption] = {}
        if not isinstance(raw_options, dict):
            report(f"program {program.name}: 'options' is not an object; it allows no options")
            raw_options = {}
        for key, spec in raw_options.items():
            where = f"program {program.name}: option {key}"
            try:
                option_uid = int(key)
            except ValueError:
                report(f"{where}: the key is not a decimal uid; skipped")
                continue
            if not isinstance(spec, dict):
                report(f"{where}: not an object; skipped")
                continue
            base = features.get(option_uid)
            if base is not None:
                where = f"program {program.name}: option {base.name}"
            attrs = _attrs_from_json(spec, report, where, ("values",))
            enum = None
            if "values" in spec or "enumerationType" in attrs:
                enum = _enum_from_json(spec, attrs, Kind.OPTION, enums, report, where)
            options[option_uid] = build_program_option(
                option_uid, attrs, base, enum=enum, problem=report, where=where
            )
        programs[uid] = program_from_feature(program, options)

    return Profile(description=description, features=features, programs=programs, enums=enums, errors=errors)


def _label(source: str, index: int | None, name: object) -> str:
    parts = [source] if source else []
    who = f"appliance {index}" if index is not None else "appliance"
    if isinstance(name, str) and name:
        who += f" ({name})"
    parts.append(who)
    return ": ".join(parts)


def _entry_from_json(obj: object, source: str, index: int | None) -> ApplianceEntry:
    if not isinstance(obj, dict):
        raise DevicesFileError(f"{_label(source, index, None)}: must be a JSON object, found {type(obj).__name__}")
    name = obj.get("name")
    label = _label(source, index, name)

    def fail(text: str) -> DevicesFileError:
        return DevicesFileError(f"{label}: {text}")

    if not isinstance(name, str) or not name.strip():
        raise fail("'name' is missing; give each appliance a short unique name such as 'dishwasher'")
    if _TOPIC_SPECIALS & set(name):
        raise fail("'name' must not contain '/', '+' or '#' (it becomes an MQTT topic); rename it")
    if not clean_name(name).strip():
        raise fail("'name' needs at least one ASCII letter or digit (it becomes an MQTT topic); rename it")
    ha_id = obj.get("haId")
    if ha_id is not None and (not isinstance(ha_id, str) or not ha_id):
        raise fail("'haId' must be a non-empty string")
    host = obj.get("host", ha_id)
    if not isinstance(host, str) or not host.strip():
        raise fail("'host' is missing; put the appliance's IP address or hostname there")
    key = obj.get("key")
    problem = _secret_problem(key, "key", _KEY_CHARS)
    if problem:
        raise fail(problem)
    iv = obj.get("iv")
    if iv is not None:
        problem = _secret_problem(iv, "iv", _IV_CHARS)
        if problem:
            raise fail(problem)
    port = obj.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        raise fail("'port' must be a whole number from 1 to 65535, or left out for the appliance's default")

    problems: list[str] = []
    profile = _profile_from_json(obj, lambda text: problems.append(f"{label}: {text}"))
    profile.problems.extend(problems)
    return ApplianceEntry(
        name=name,
        host=host,
        key=key,
        iv=iv,
        port=port,
        ha_id=ha_id,
        profile=profile,
        extra={k: v for k, v in obj.items() if k not in _KNOWN_KEYS},
    )


def entry_from_json(obj: object, source: str = "", index: int | None = None) -> ApplianceEntry:
    """One appliance from its devices.json object.

    Raises DevicesFileError naming `source` (the file), the appliance (its
    1-based `index` and name) and the field when the entry is unusable; a
    broken feature is only logged as a warning and left out.
    """
    entry = _entry_from_json(obj, source, index)
    for problem in entry.profile.problems:
        log.warning("%s", problem)
    return entry


# --- model -> JSON --------------------------------------------------------------


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


def entry_to_json(entry: ApplianceEntry) -> dict[str, Any]:
    """The devices.json object of one appliance (hcpy format plus extras)."""
    profile = entry.profile
    out: dict[str, Any] = {"name": entry.name, "host": entry.host}
    if entry.port is not None:
        out["port"] = entry.port
    if entry.ha_id is not None:
        out["haId"] = entry.ha_id
    out["key"] = entry.key
    if entry.iv is not None:
        out["iv"] = entry.iv
    out["description"] = dataclasses.asdict(profile.description)
    out["features"] = {
        str(uid): _feature_json(feature, profile.programs.get(uid))
        for uid, feature in sorted(profile.features.items())
    }
    out["enums"] = {
        f"{enid:04X}": {
            **({"name": enum.name} if enum.name else {}),
            **({"subsetOf": f"{enum.subset_of:04X}"} if enum.subset_of is not None else {}),
            "values": _values_json(enum),
        }
        for enid, enum in sorted(profile.enums.items())
    }
    out["errors"] = {str(code): name for code, name in sorted(profile.errors.items())}
    for key, value in entry.extra.items():
        out.setdefault(key, value)
    return out


def entry_from_profile(
    profile: Profile,
    *,
    key: str,
    iv: str | None = None,
    ha_id: str | None = None,
    host: str | None = None,
    name: str | None = None,
    port: int | None = None,
) -> ApplianceEntry:
    """A new entry for a freshly parsed profile (what hc-login writes)."""
    name = name or profile.description.type.lower() or "appliance"
    label = f"appliance {name}"
    for value, field_name, chars in ((key, "key", _KEY_CHARS), (iv, "iv", _IV_CHARS)):
        if value is not None:
            problem = _secret_problem(value, field_name, chars)
            if problem:
                raise DevicesFileError(f"{label}: {problem}")
    return ApplianceEntry(
        name=name, host=host or ha_id or name, key=key, iv=iv, port=port, ha_id=ha_id, profile=profile
    )


def unique_names(entries: Iterable[ApplianceEntry]) -> list[ApplianceEntry]:
    """Copies of `entries` whose names never collide.

    The first of a name keeps it; later ones get the lowest free "_2", "_3"…
    suffix, never one another entry already has, so the result depends only
    on the order of the list.
    """
    entries = list(entries)
    # Compared as they end up in MQTT topics: "Öfen" and "Ofen" collide.
    taken = {clean_name(entry.name) for entry in entries}
    seen: set[str] = set()
    result = []
    for entry in entries:
        name = entry.name
        if clean_name(name) in seen:
            n = 2
            while clean_name(f"{entry.name}_{n}") in taken:
                n += 1
            name = f"{entry.name}_{n}"
            taken.add(clean_name(name))
            entry = dataclasses.replace(entry, name=name)
        seen.add(clean_name(name))
        result.append(entry)
    return result


# --- files ----------------------------------------------------------------------


def _read_json_list(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DevicesFileError(f"{path}: no such file; run hc-login to create it") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DevicesFileError(f"{path}: cannot be read ({exc.__class__.__name__}: {exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # exc.msg only says what was expected; the document (with keys) stays out.
        raise DevicesFileError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); fix it or run hc-login again"
        ) from None
    if not isinstance(data, list):
        raise DevicesFileError(f"{path}: must be a JSON list of appliances, found {type(data).__name__}")
    return data


def _check_unique(entries: list[ApplianceEntry], source: str) -> None:
    # Names meet in MQTT topics, where only their ASCII part is left.
    first: dict[str, tuple[int, str]] = {}
    for index, entry in enumerate(entries, 1):
        key = clean_name(entry.name)
        if key in first:
            other_index, other = first[key]
            same = "is already used" if other == entry.name else f"gives the same MQTT topics as {other!r}, used"
            raise DevicesFileError(
                f"{_label(source, index, entry.name)}: the name {entry.name!r} {same} by appliance"
                f" {other_index}; rename one of them (e.g. {entry.name + '_2'!r})"
            )
        first[key] = (index, entry.name)


def load_devices(path: str | os.PathLike[str], *, skip_broken: bool = False) -> list[ApplianceEntry]:
    """Read devices.json (hcpy's format or ours). Raises DevicesFileError.

    With `skip_broken`, an appliance whose entry is invalid (or whose name an
    earlier one already took) is logged and left out instead: the daemon
    serves the others. A file that cannot be read at all still raises.
    """
    path = Path(path)
    if not skip_broken:
        entries = [entry_from_json(obj, str(path), index) for index, obj in enumerate(_read_json_list(path), 1)]
        _check_unique(entries, str(path))
        return entries
    entries = []
    for index, obj in enumerate(_read_json_list(path), 1):
        try:
            entry = entry_from_json(obj, str(path), index)
            _check_unique([*entries, entry], str(path))
        except DevicesFileError as exc:
            log.error("%s; going on without this appliance", exc)
            continue
        entries.append(entry)
    return entries


def _merge(
    path: Path, entries: list[ApplianceEntry]
) -> tuple[list[ApplianceEntry], list[dict[str, Any] | None]]:
    """Existing entries first (refreshed where a new one matches), then new ones.

    Returns the entries and, per entry, the raw object to write verbatim
    (None for those that must be written from the model).
    """
    try:
        raw = _read_json_list(path)
        old = [_entry_from_json(obj, str(path), index) for index, obj in enumerate(raw, 1)]
        _check_unique(old, str(path))
    except DevicesFileError as exc:
        raise DevicesFileError(f"{exc} (not overwritten: merging needs the existing file readable)") from None

    pending = list(entries)

    def take_match(existing: ApplianceEntry) -> ApplianceEntry | None:
        for i, new in enumerate(pending):
            if existing.ha_id and new.ha_id:
                matches = existing.ha_id == new.ha_id
            else:
                matches = existing.name == new.name
            if matches:
                return pending.pop(i)
        return None

    merged: list[ApplianceEntry] = []
    verbatim: list[dict[str, Any] | None] = []
    for existing, obj in zip(old, raw):
        new = take_match(existing)
        if new is None:
            merged.append(existing)
            verbatim.append(obj)
            continue
        # The user's edits stay; what the cloud knows better is refreshed.
        merged.append(
            dataclasses.replace(
                new,
                name=existing.name,
                host=existing.host,
                port=existing.port,
                ha_id=new.ha_id or existing.ha_id,
                extra={**new.extra, **existing.extra},
            )
        )
        verbatim.append(None)
    merged.extend(pending)
    verbatim.extend([None] * len(pending))
    return merged, verbatim


def save_devices(
    path: str | os.PathLike[str], entries: Iterable[ApplianceEntry], merge: bool = True
) -> list[ApplianceEntry]:
    """Write devices.json atomically with mode 0600; returns what was written.

    With `merge` and an existing file, an entry matching a new one (by haId,
    else by name) keeps its name, host, port and unknown keys while key, iv
    and profile are refreshed; entries not in `entries` stay as they are.
    Names are made unique (later ones get "_2", …).
    """
    path = Path(path)
    entries = list(entries)
    if merge and path.exists():
        final, verbatim = _merge(path, entries)
    else:
        final, verbatim = entries, [None] * len(entries)
    final = unique_names(final)

    objects = [obj if obj is not None else entry_to_json(entry) for entry, obj in zip(final, verbatim)]
    try:
        text = json.dumps(objects, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except (TypeError, ValueError):
        # Find the culprit so the message can name it; nothing is written.
        for index, (entry, obj) in enumerate(zip(final, objects), 1):
            try:
                json.dumps(obj, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise DevicesFileError(
                    f"{_label(str(path), index, entry.name)}: cannot be written as JSON ({exc});"
                    " the file was left unchanged"
                ) from None
        raise
    write_private(path, text)
    return final
