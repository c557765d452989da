"""devices.json on disk: read it, and write it back merged, atomically, 0600.

The entries themselves (validation, JSON both ways) are `entry`'s; this
module is the file: reading the list, unique names, merging a fresh login
into the user's edited file, and writing it without ever leaving half a file.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import DevicesFileError
from ..files import write_private
from .entry import (
    ApplianceEntry,
    clean_name,
    entry_from_json,
    entry_to_json,
    label_of,
    unique_names,
)

log = logging.getLogger("hcpy.devices")


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


# The publishing-modes fork keeps its broker settings in devices.json as an
# entry of this name; it is no appliance.
MQTT_CONF = "MQTT_CONF"


def is_settings_entry(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("name") == MQTT_CONF


def _check_unique(entries: list[ApplianceEntry], source: str) -> None:
    # Names meet in MQTT topics, where only their ASCII part is left.
    first: dict[str, tuple[int, str]] = {}
    for index, entry in enumerate(entries, 1):
        key = clean_name(entry.name)
        if key in first:
            other_index, other = first[key]
            same = "is already used" if other == entry.name else f"gives the same MQTT topics as {other!r}, used"
            raise DevicesFileError(
                f"{label_of(source, index, entry.name)}: the name {entry.name!r} {same} by appliance"
                f" {other_index}; rename one of them (e.g. {entry.name + '_2'!r})"
            )
        first[key] = (index, entry.name)


def load_devices(
    path: str | os.PathLike[str], *, skip_broken: bool = False, skipped: list[str] | None = None
) -> list[ApplianceEntry]:
    """Read devices.json (hcpy's format or ours). Raises DevicesFileError.

    A broken feature is logged as a warning and left out. With `skip_broken`,
    an appliance whose entry is invalid (or whose name an earlier one already
    took) is logged and left out instead: the daemon serves the others. A file
    that cannot be read at all still raises. `skipped` (when given) gets the
    names of the entries left out: a bridge that reloads the file keeps those
    appliances as they run instead of removing them.
    """
    path = Path(path)
    entries: list[ApplianceEntry] = []
    for index, obj in enumerate(_read_json_list(path), 1):
        if is_settings_entry(obj):
            continue
        try:
            entry = entry_from_json(obj, str(path), index)
            _check_unique([*entries, entry], str(path))
        except DevicesFileError as exc:
            if not skip_broken:
                raise
            log.error("%s; going on without this appliance", exc)
            if skipped is not None and isinstance(obj, dict) and isinstance(obj.get("name"), str):
                skipped.append(obj["name"])
            continue
        for problem in entry.profile.problems:
            log.warning("%s", problem)
        completed = entry.profile.completed
        if completed:
            log.info(
                "%s: %d untyped feature(s) typed from the public API's well-known features "
                "(a devices.json from an older hc-login; hc-login refreshes it): %s",
                label_of(str(path), index, entry.name),
                len(completed),
                ", ".join(completed[:5]) + (", …" if len(completed) > 5 else ""),
            )
        entries.append(entry)
    return entries


def _merge(
    path: Path, entries: list[ApplianceEntry]
) -> tuple[list[ApplianceEntry], list[dict[str, Any] | None], list[dict[str, Any]]]:
    """Existing entries first (refreshed where a new one matches), then new ones.

    Returns the entries, per entry the raw object to write verbatim (None
    for those that must be written from the model), and the file's
    MQTT_CONF entry (kept as it is, first).
    """
    try:
        everything = _read_json_list(path)
        settings = [obj for obj in everything if is_settings_entry(obj)]
        raw = [obj for obj in everything if not is_settings_entry(obj)]
        old = [entry_from_json(obj, str(path), index) for index, obj in enumerate(raw, 1)]
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
    for existing, obj in zip(old, raw, strict=True):
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
                description_extra={**new.description_extra, **existing.description_extra},
            )
        )
        verbatim.append(None)
    merged.extend(pending)
    verbatim.extend([None] * len(pending))
    return merged, verbatim, settings


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
    settings: list[dict[str, Any]] = []
    if merge and path.exists():
        final, verbatim, settings = _merge(path, entries)
    else:
        final, verbatim = entries, [None] * len(entries)
    final = unique_names(final)

    objects = settings + [obj if obj is not None else entry_to_json(entry) for entry, obj in zip(final, verbatim, strict=True)]
    try:
        text = json.dumps(objects, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except (TypeError, ValueError):
        # Find the culprit so the message can name it; nothing is written.
        for index, (entry, obj) in enumerate(zip(final, objects[len(settings):], strict=True), 1):
            try:
                json.dumps(obj, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise DevicesFileError(
                    f"{label_of(str(path), index, entry.name)}: cannot be written as JSON ({exc});"
                    " the file was left unchanged"
                ) from None
        raise
    write_private(path, text)
    return final
