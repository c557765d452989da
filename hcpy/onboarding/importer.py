"""Offline import: appliance entries from profile zips and folders, no cloud.

Three shapes are accepted (PROTOCOL.md §5, §6):
- a profile-downloader zip: the XML pair plus a JSON file carrying the key
  (and the IV for AES appliances) and the haId;
- a bare profile zip, as the cloud's iddf call returns it: just
  `<haId>_DeviceDescription.xml` and `<haId>_FeatureMapping.xml`; the key
  must come from the command line;
- a folder holding any number of those zips and/or XML pairs (also an
  unpacked downloader zip).

One bad zip becomes one problem sentence naming the file; the rest still
import. The cloud login reuses `entry_from_profile_zip` for the iddf zips.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..appliance.entry import ApplianceEntry, entry_from_profile
from ..appliance.profile_xml import parse_profile
from ..errors import HcpyError, ProfileImportError

log = logging.getLogger("hcpy.importer")

DESCRIPTION_SUFFIX = "_devicedescription.xml"
MAPPING_SUFFIX = "_featuremapping.xml"
# A profile is a few hundred kB; anything far bigger is not one.
MAX_MEMBER_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class ProfilePair:
    """One appliance's two XML files, and the downloader JSON when there is one."""

    source: str  # what the user gave, for messages: a zip path or a folder
    prefix: str  # the file-name part before _DeviceDescription.xml: the haId
    description: bytes = field(repr=False)
    mapping: bytes = field(repr=False)
    meta: dict[str, Any] | None = field(repr=False, default=None)

    @property
    def label(self) -> str:
        return f"{self.source} ({self.prefix})" if self.prefix else self.source


@dataclass
class ImportResult:
    entries: list[ApplianceEntry] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # where each entry came from
    problems: list[str] = field(default_factory=list)  # one sentence each, naming the file


# --------------------------------------------------------------------------
# Pure: named files in, XML pairs out.


def profile_pairs(files: Mapping[str, bytes], source: str) -> tuple[list[ProfilePair], list[str]]:
    """Group the XML files of one zip or folder into pairs; match downloader JSONs to them."""
    descriptions: dict[str, bytes] = {}
    mappings: dict[str, bytes] = {}
    metas: list[tuple[str, dict[str, Any]]] = []
    problems: list[str] = []
    for name, data in sorted(files.items()):
        base = name.replace("\\", "/").rsplit("/", 1)[-1]
        low = base.lower()
        if low.endswith(DESCRIPTION_SUFFIX) or low == DESCRIPTION_SUFFIX[1:]:
            descriptions[base[: -len(DESCRIPTION_SUFFIX)] if "_" in base else ""] = data
        elif low.endswith(MAPPING_SUFFIX) or low == MAPPING_SUFFIX[1:]:
            mappings[base[: -len(MAPPING_SUFFIX)] if "_" in base else ""] = data
        elif low.endswith(".json"):
            try:
                obj = json.loads(data)
            except ValueError:
                problems.append(f"{source}: {base} is not valid JSON; it is ignored")
                continue
            if isinstance(obj, dict) and ("deviceDescriptionFileName" in obj or "key" in obj):
                metas.append((base, obj))

    pairs: list[ProfilePair] = []
    for prefix in sorted(descriptions.keys() | mappings.keys()):
        if prefix not in mappings:
            problems.append(
                f"{source}: {prefix or 'the profile'} has a DeviceDescription.xml but no FeatureMapping.xml"
            )
            continue
        if prefix not in descriptions:
            problems.append(
                f"{source}: {prefix or 'the profile'} has a FeatureMapping.xml but no DeviceDescription.xml"
            )
            continue
        meta = _meta_for(prefix, metas, single=len(descriptions) == 1)
        pairs.append(ProfilePair(source, prefix, descriptions[prefix], mappings[prefix], meta))
    if not pairs and not problems:
        problems.append(f"{source}: holds no *_DeviceDescription.xml / *_FeatureMapping.xml pair")
    return pairs, problems


def _meta_for(prefix: str, metas: list[tuple[str, dict[str, Any]]], single: bool) -> dict[str, Any] | None:
    for _name, obj in metas:
        named = str(obj.get("deviceDescriptionFileName") or "")
        if named.lower() == f"{prefix}{DESCRIPTION_SUFFIX}".lower() or (prefix and obj.get("haId") == prefix):
            return obj
    # A downloader zip holds exactly one appliance: its JSON belongs to it
    # even when the file names inside were renamed.
    if single and len(metas) == 1:
        return metas[0][1]
    return None


def zip_files(data: bytes, source: str) -> dict[str, bytes]:
    """The XML and JSON members of a zip."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ProfileImportError(f"{source} is not a zip file") from None
    files: dict[str, bytes] = {}
    with archive:
        for info in archive.infolist():
            low = info.filename.lower()
            if info.is_dir() or not low.endswith((".xml", ".json")):
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                raise ProfileImportError(f"{source}: {info.filename} is too large to be a profile file")
            try:
                files[info.filename] = archive.read(info)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                raise ProfileImportError(
                    f"{source}: {info.filename} cannot be read from the zip ({type(exc).__name__}); "
                    "download the profile again"
                ) from None
    return files


def entry_from_pair(
    pair: ProfilePair,
    *,
    key: str | None = None,
    iv: str | None = None,
    ha_id: str | None = None,
    host: str | None = None,
    transport_known: bool = False,
) -> ApplianceEntry:
    """An appliance entry from one XML pair; the downloader JSON's key wins over `key`.

    `transport_known`: whoever gave key and iv knows the transport (the
    cloud does); otherwise a key without an iv is a guess, and said so.
    """
    meta = pair.meta or {}
    if meta.get("key"):
        key = str(meta["key"])
        connection = str(meta.get("connectionType") or "").upper()
        iv = str(meta["iv"]) if meta.get("iv") and connection != "TLS" else None
        if connection == "AES" and not iv:
            raise ProfileImportError(
                f"{pair.label}: the JSON says connectionType AES but holds no iv; download it again"
            )
    elif key is None:
        raise ProfileImportError(
            f"{pair.label}: this profile carries no key; give it with --key (and --iv for AES appliances)"
        )
    elif iv is None and not transport_known:
        # Nothing in the XML says which transport the appliance speaks.
        log.warning("%s: imported as a TLS appliance, since no --iv was given; if it speaks AES (port 80), "
                    "import it again with --iv", pair.label)  # fmt: skip
    ha_id = ha_id or (str(meta["haId"]) if meta.get("haId") else None) or pair.prefix or None
    try:
        profile = parse_profile(pair.description, pair.mapping, appliance=ha_id or pair.source)
        # entry_from_profile checks key and iv (without ever quoting them).
        return entry_from_profile(profile, key=key.strip(), iv=iv.strip() if iv else None, ha_id=ha_id, host=host)
    except HcpyError as exc:
        raise ProfileImportError(f"{pair.label}: {exc}") from None
    except ValueError as exc:  # XML syntax errors and the like
        raise ProfileImportError(f"{pair.label}: the profile cannot be read ({exc})") from None


def entry_from_profile_zip(
    data: bytes, *, source: str, key: str, iv: str | None = None, ha_id: str | None = None
) -> ApplianceEntry:
    """An entry from a bare profile zip (the cloud's iddf answer) and the key (and iv) the cloud gave with it."""
    pairs, problems = profile_pairs(zip_files(data, source), source)
    if ha_id and len(pairs) > 1:
        pairs = [p for p in pairs if p.prefix == ha_id] or pairs
    if len(pairs) != 1:
        raise ProfileImportError(problems[0] if problems else f"{source}: holds {len(pairs)} profiles instead of one")
    return entry_from_pair(pairs[0], key=key, iv=iv, ha_id=ha_id, transport_known=True)


# --------------------------------------------------------------------------
# I/O: paths in, entries and problems out.


def import_paths(
    paths: Iterable[str | Path],
    *,
    key: str | None = None,
    iv: str | None = None,
    host: str | None = None,
    known: Mapping[str, tuple[str, str | None]] | None = None,
) -> ImportResult:
    """Import every zip, folder and XML pair under `paths`; one bad file never stops the rest.

    `key`/`iv` are for a bare profile (one without a key inside); `host` is
    applied when exactly one appliance is imported. `known` maps haIds to
    the (key, iv) devices.json already holds: re-importing a bare profile of
    such an appliance (a new profile after a firmware update) keeps its key.
    """
    return import_pairs([_read_path(Path(p)) for p in paths], key=key, iv=iv, host=host, known=known)


def import_uploads(
    files: Iterable[tuple[str, bytes]],
    *,
    key: str | None = None,
    iv: str | None = None,
    known: Mapping[str, tuple[str, str | None]] | None = None,
) -> ImportResult:
    """`import_paths` for files given as (name, bytes), as a browser uploads them.

    Each zip is read as a zip; the loose XML and JSON files together, as the
    files of one folder (a profile pair and the downloader's JSON with its key).
    """
    read: list[tuple[list[ProfilePair], list[str]]] = []
    loose: dict[str, bytes] = {}
    for name, data in files:
        low = name.lower()
        if low.endswith((".xml", ".json")):
            loose[name] = data
            continue
        try:
            read.append(profile_pairs(zip_files(data, name), name))
        except HcpyError as exc:
            read.append(([], [str(exc)]))
    if any(n.lower().endswith(".xml") for n in loose):
        read.append(profile_pairs(loose, "the uploaded files"))
    elif loose and not read:
        no_profile = "no profile (a zip, or a *_DeviceDescription.xml with its *_FeatureMapping.xml)"
        read.append(([], [f"{', '.join(sorted(loose))}: {no_profile}"]))
    return import_pairs(read, key=key, iv=iv, known=known)


def import_pairs(
    read: Iterable[tuple[list[ProfilePair], list[str]]],
    *,
    key: str | None = None,
    iv: str | None = None,
    host: str | None = None,
    known: Mapping[str, tuple[str, str | None]] | None = None,
) -> ImportResult:
    """Entries from the pairs read (and the problems met reading them); see `import_paths`."""
    result = ImportResult()
    pairs: list[ProfilePair] = []
    for found, problems in read:
        for pair in found:
            # Both files of one pair named (or a folder and a file in it): one appliance.
            if not any(_same(pair, seen) for seen in pairs):
                pairs.append(pair)
        result.problems.extend(problems)

    known = {ha_id.lower(): secret for ha_id, secret in (known or {}).items()}
    if key is None and known:
        keyed = []
        for pair in pairs:
            secret = known.get(pair.prefix.lower()) if not (pair.meta or {}).get("key") else None
            keyed.append(dataclasses.replace(pair, meta={**(pair.meta or {}), **_meta_of(secret)}) if secret else pair)
        pairs = keyed

    bare = [p for p in pairs if not (p.meta or {}).get("key")]
    if key is not None and len(bare) > 1:
        # A key belongs to one appliance; guessing which would write a wrong key.
        result.problems.extend(
            f"{p.label}: --key can only belong to one appliance but {len(bare)} profiles without a key "
            "were given; import them one at a time"
            for p in bare
        )
        pairs = [p for p in pairs if p not in bare]
    elif key is not None and not bare and pairs:
        log.warning("--key/--iv ignored: every imported profile carries its own key")
    if host is not None and len(pairs) > 1:
        log.warning("--host ignored: %d appliances imported; set each one's host in devices.json", len(pairs))
        host = None

    for pair in pairs:
        try:
            entry = entry_from_pair(pair, key=key, iv=iv, host=host)
        except HcpyError as exc:
            result.problems.append(str(exc))
            continue
        result.entries.append(entry)
        result.sources.append(pair.source)
    return result


def _same(a: ProfilePair, b: ProfilePair) -> bool:
    return a.prefix == b.prefix and a.description == b.description and a.mapping == b.mapping


def _meta_of(secret: tuple[str, str | None]) -> dict[str, Any]:
    """What a downloader JSON would say of an appliance whose key devices.json holds."""
    key, iv = secret
    return {"key": key, "iv": iv, "connectionType": "AES" if iv else "TLS"}


def _read_path(path: Path) -> tuple[list[ProfilePair], list[str]]:
    if path.is_dir():
        return _read_folder(path)
    if not path.exists():
        return [], [f"{path} does not exist"]
    if path.suffix.lower() == ".xml":
        return _read_xml_file(path)
    try:
        data = path.read_bytes()
        return profile_pairs(zip_files(data, str(path)), str(path))
    except HcpyError as exc:
        return [], [str(exc)]
    except OSError as exc:
        return [], [f"{path} cannot be read ({exc.strerror or type(exc).__name__})"]


def _read_xml_file(path: Path) -> tuple[list[ProfilePair], list[str]]:
    """One file of a pair was named: pair it with its partner in the same folder."""
    low = path.name.lower()
    if low.endswith(DESCRIPTION_SUFFIX):
        prefix = path.name[: -len(DESCRIPTION_SUFFIX)]
    elif low.endswith(MAPPING_SUFFIX):
        prefix = path.name[: -len(MAPPING_SUFFIX)]
    else:
        return [], [f"{path} is neither a *_DeviceDescription.xml nor a *_FeatureMapping.xml file"]
    files: dict[str, bytes] = {}
    try:
        for sibling in path.parent.iterdir():
            name = sibling.name.lower()
            if sibling.is_file() and name.startswith(prefix.lower()) and name.endswith((".xml", ".json")):
                files[sibling.name] = sibling.read_bytes()
    except OSError as exc:
        return [], [f"{path} cannot be read ({exc.strerror or type(exc).__name__})"]
    return profile_pairs(files, str(path.parent))


def _read_folder(folder: Path) -> tuple[list[ProfilePair], list[str]]:
    pairs: list[ProfilePair] = []
    problems: list[str] = []
    loose: dict[Path, dict[str, bytes]] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        low = path.name.lower()
        if low.endswith(".zip"):
            found, trouble = _read_path(path)
            pairs.extend(found)
            problems.extend(trouble)
        elif low.endswith((DESCRIPTION_SUFFIX, MAPPING_SUFFIX, ".json")):
            try:
                loose.setdefault(path.parent, {})[path.name] = path.read_bytes()
            except OSError as exc:
                problems.append(f"{path} cannot be read ({exc.strerror or type(exc).__name__})")
    for where, files in loose.items():
        if not any(n.lower().endswith(".xml") for n in files):
            continue  # JSON alone (e.g. a devices.json) is not a profile
        found, trouble = profile_pairs(files, str(where))
        pairs.extend(found)
        problems.extend(trouble)
    if not pairs and not problems:
        problems.append(f"{folder} holds no profile zips and no *_DeviceDescription.xml / *_FeatureMapping.xml pair")
    return pairs, problems
