"""What differs between the appliances bridged now and those devices.json lists now. Pure.

An appliance is known by its name: the name makes its MQTT topics, so an
entry renamed is one appliance removed and another added. An entry whose
name stays is changed when anything the bridge reads from it differs (where
it is, its key, its profile, its hc2mqtt settings); keys only another program
reads do not count, so that an edit elsewhere in the file does not reconnect it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from .entry import ApplianceEntry
from .profile_json import profile_to_json


@dataclass(frozen=True)
class Changed:
    """An appliance that stays, with an entry that reads differently."""

    entry: ApplianceEntry  # the new one
    what: tuple[str, ...]  # what changed, in words for the log ("host", "key", "profile", …)

    @property
    def reason(self) -> str:
        """'its host changed', 'its host and port changed', 'its key, profile and hc2mqtt settings changed'."""
        words = list(self.what)
        listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
        return f"its {listed} changed"


@dataclass(frozen=True)
class EntryDiff:
    added: tuple[ApplianceEntry, ...] = ()
    removed: tuple[str, ...] = ()  # names
    changed: tuple[Changed, ...] = ()
    # Bridged appliances whose entry is there but broken now: left running as they are.
    kept: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def _fields(entry: ApplianceEntry) -> dict[str, Any]:
    """What the bridge reads from an entry, by the word the log uses for it."""
    return {
        "host": entry.host,
        "port": entry.port,
        "haId": entry.ha_id,
        # One word for both: which of the secrets changed is nobody's business in a log.
        "key": (entry.key, entry.iv),
        "profile": profile_to_json(entry.profile),
        "hc2mqtt settings": entry.options_block,
    }


def differences(old: ApplianceEntry, new: ApplianceEntry) -> tuple[str, ...]:
    """The words for what the bridge reads differently in `new` (empty: nothing)."""
    before, after = _fields(old), _fields(new)
    return tuple(word for word in before if before[word] != after[word])


def diff_entries(
    current: Iterable[ApplianceEntry], wanted: Iterable[ApplianceEntry], broken: Collection[str] = ()
) -> EntryDiff:
    """How to get from the appliances `current`ly bridged to those `wanted`.

    `broken`: names whose entries are in the file but could not be read. A
    bridged appliance among them is kept as it runs: a typo in one entry
    must not take its entities out of Home Assistant.
    """
    now = {entry.name: entry for entry in current}
    wanted = list(wanted)
    names = {entry.name for entry in wanted}
    added, changed = [], []
    for entry in wanted:
        old = now.get(entry.name)
        if old is None:
            added.append(entry)
        elif what := differences(old, entry):
            changed.append(Changed(entry, what))
    gone = [name for name in now if name not in names]
    return EntryDiff(
        added=tuple(added),
        removed=tuple(name for name in gone if name not in broken),
        changed=tuple(changed),
        kept=tuple(name for name in gone if name in broken),
    )
