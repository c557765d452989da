"""The live state of one appliance, interpreted by its profile (PROTOCOL.md §4).

`ApplianceState` takes what the session reports (values and description
changes, as wire dicts), decodes values by the profile (enum member names,
booleans, program uids to names) and keeps access, availability and limits
live, globally and per program. Pure logic: no I/O, no MQTT.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from typing import Any, NamedTuple

from ..logs import Throttle, excerpt
from .model import MAX_STRING, PROGRAM_ROOTS, Access, Feature, Kind, Limits, Profile, Program
from .unknown import UnknownUids

_ABSENT = object()
# Values are nearly always scalars on the wire (PROTOCOL.md §4); a list or
# object is kept only while it is small.
_SCALARS = (str, int, float, bool, type(None))
# How many distinct odd entries (unknown uids, …) are remembered as reported
# once; past that they are only counted by the throttle.
_REMEMBERED = 1024
_MAX_UID = 0xFFFF  # uids are four hex digits in the profile

# A description change may carry these limit fields (wire name -> Limits field).
_LIMIT_FIELDS = {"min": "min", "max": "max", "stepSize": "step", "default": "default"}


class Change(NamedTuple):
    feature: Feature
    value: Any  # decoded: member name, bool, number, string, program name, …
    raw: Any  # as on the wire


class ApplianceState:
    def __init__(self, profile: Profile, appliance: str = "", log: logging.Logger | None = None):
        self.profile = profile
        self.appliance = appliance
        self.log = log or logging.getLogger("hcpy.state")
        self.values: dict[int, Any] = {}  # uid -> decoded value
        self.raw: dict[int, Any] = {}  # uid -> wire value
        self.limits: dict[int, Limits] = {uid: replace(f.limits) for uid, f in profile.features.items()}
        self.program_limits: dict[tuple[int, int], Limits] = {
            (program.uid, option.uid): replace(option.limits)
            for program in profile.programs.values()
            for option in program.options.values()
        }
        self._warned: set[Any] = set()
        self.clock = time.time  # when a value for an unknown uid came (the console shows it)
        self.throttle = Throttle(self.log, clock=lambda: self.clock())
        # Values for uids the profile lacks (firmware newer than the profile):
        # published as hcpy2-0 did, counted, said once a minute.
        self.unknown = UnknownUids()
        self._strangers: dict[int, Feature] = {}  # uid -> the stand-in feature their Changes carry
        # No appliance reports more entries at once than it has features and
        # program options (the washer's description changes at connect: 983
        # of 999); a message with many times that is refused whole, before
        # it costs every other appliance time.
        options = sum(len(program.options) for program in profile.programs.values())
        self.max_entries = max(1000, 2 * (len(profile.features) + options))
        self._roots = {kind: profile.root(kind) for kind in PROGRAM_ROOTS}
        # Each option's per-program limits, to apply changes not scoped to a program.
        self._copies: dict[int, list[Limits]] = {}
        for (_, option_uid), limits in self.program_limits.items():
            self._copies.setdefault(option_uid, []).append(limits)

    # -- reading ---------------------------------------------------------------

    def value_of(self, name: str) -> Any:
        """The decoded value of the feature with this full name; None if unknown."""
        feature = self.profile.by_name(name)
        return self.values.get(feature.uid) if feature is not None else None

    def program(self, kind: Kind) -> Program | None:
        """The program the active (or selected) program root holds; None for none."""
        root = self._roots.get(kind)
        uid = self.raw.get(root.uid) if root is not None else None
        return self.profile.programs.get(uid) if type(uid) is int else None

    def option_limits(self, feature: Feature) -> tuple[Program | None, Limits]:
        """What an option takes now, and under which program.

        An option belongs to the program in charge: the active one, else the
        selected one; its limits are that program's own (falling back to the
        option's for bounds the program leaves out). Other features, and an
        option no program in charge has, have their own live limits.
        """
        own = self.limits.get(feature.uid, feature.limits)
        if feature.kind is Kind.OPTION:
            for kind in PROGRAM_ROOTS:
                program = self.program(kind)
                if program is not None and feature.uid in program.options:
                    return program, self.program_limits[(program.uid, feature.uid)].over(own)
        return None, own

    # -- updates from the appliance ----------------------------------------------

    def apply_values(self, items: list[dict[str, Any]]) -> list[Change]:
        """Store reported values; return the ones that changed.

        Every value an appliance reports passes here: a known uid is looked
        up directly, and only an odd entry goes the long way to be reported.
        """
        if len(items) > self.max_entries and self._too_many(items, "values"):
            return []
        changes: dict[int, Change] = {}
        features = self.profile.features
        strangers = self.unknown.values
        for item in items:
            uid = item.get("uid") if type(item) is dict else None
            feature = features.get(uid) if type(uid) is int else None
            if feature is None:
                if type(uid) is int and 0 <= uid <= _MAX_UID and "value" in item:
                    change = self._stranger(uid, item["value"])
                    if change is not None:
                        changes.pop(uid, None)
                        changes[uid] = change
                else:
                    self._feature_of(item)  # says why, once
                continue
            if "value" in item:
                change = self._store(feature, item["value"])
                if change is not None:
                    # One change per feature and message, the last: a message
                    # repeating a uid cannot multiply what gets published.
                    changes.pop(feature.uid, None)
                    changes[feature.uid] = change
        if self.unknown.values != strangers or self.unknown.pending:
            # One line for the whole message (an oven answer carried 26 such uids), at most once a minute;
            # uids held back within the minute are named with the next message after it.
            line = self.unknown.line(self.appliance, self.clock())
            if line is not None:
                self.log.warning("%s", line)
        return list(changes.values())

    def apply_description_changes(self, items: list[dict[str, Any]]) -> tuple[list[Change], set[int]]:
        """Apply access/availability/limit changes.

        Returns the value changes some appliances put inside description
        changes, and the uids whose limits changed.
        """
        changes: list[Change] = []
        touched: set[int] = set()
        if self._too_many(items, "description changes"):
            return changes, touched
        for item in items:
            feature = self._feature_of(item)
            if feature is None:
                continue
            parent = item.get("parentUID")
            scoped = self.program_limits.get((parent, feature.uid)) if isinstance(parent, int) else None
            if scoped is not None:
                targets = [scoped]
            else:
                # Not scoped to one program (no parentUID, or a list's): the
                # change holds for the option in every program as well.
                targets = [self.limits[feature.uid]] + self._copies.get(feature.uid, [])
            # A list, not a generator: every target is updated, not only up to the first change.
            if any([self._update_limits(feature, limits, item) for limits in targets]):  # noqa: C419
                touched.add(feature.uid)
            if "value" in item:
                change = self._store(feature, item["value"])
                if change is not None:
                    changes.append(change)
        return changes, touched

    def _update_limits(self, feature: Feature, limits: Limits, item: dict[str, Any]) -> bool:
        before = replace(limits)
        if "access" in item:
            try:
                limits.access = Access.parse(str(item["access"]))
            except ValueError:
                self._warn_once(("access", excerpt(item["access"])), "ignored unknown access %s for %s",
                                excerpt(item["access"]), feature.name)  # fmt: skip
        if "available" in item:
            limits.available = _truthy(item["available"])
        for wire, attr in _LIMIT_FIELDS.items():
            if wire in item:
                bound = item[wire]
                if type(bound) not in _SCALARS or (type(bound) is str and len(bound) > MAX_STRING):
                    self._warn_once(("limit", feature.uid), "ignored a %s of %s that is no number: %s", wire,
                                    feature.name, excerpt(bound))  # fmt: skip
                    continue
                setattr(limits, attr, bound)
        return limits != before

    def _store(self, feature: Feature, raw: Any) -> Change | None:
        """Keep a reported value, decoded; the Change, or None when nothing changed.

        Decoded: enumeration member names, booleans, and the names of the
        features (programs) whose uid a root holds. Events count on every
        occurrence; other features only when they change.
        """
        uid = feature.uid
        if type(raw) not in _SCALARS and not _small_structure(raw):
            self._warn_once(("nested", uid), "ignored a value for %s: a structure larger than %d characters: %s",
                            feature.name, MAX_STRING, excerpt(raw))  # fmt: skip
            return None
        if type(raw) is str and len(raw) > MAX_STRING:
            self._warn_once(("long", uid), "cut a value of %s from %s to %d characters", feature.name,
                            f"{len(raw):,}", MAX_STRING)  # fmt: skip
            raw = raw[:MAX_STRING]
        previous = self.raw.get(uid, _ABSENT)
        if previous == raw and type(previous) is type(raw) and feature.kind is not Kind.EVENT:
            return None
        # Appliances send floats where integers are meant (13273.0): a whole
        # one names its member, truth or program as the integer would. A
        # number that stands for itself is kept as it came.
        whole = int(raw) if type(raw) is float and raw.is_integer() else raw
        if feature.enum is not None and type(whole) is int:
            value = feature.enum.members.get(whole, raw)
        elif feature.is_boolean and isinstance(whole, (bool, int)):
            value = bool(whole)
        elif feature.holds_uid and isinstance(whole, int):
            target = self.profile.features.get(whole)
            value = target.name if target is not None else raw
        else:
            value = raw
        self.raw[uid] = raw
        self.values[uid] = value
        return Change(feature, value, raw)

    def _stranger(self, uid: int, raw: Any) -> Change | None:
        """A value for a uid the profile lacks: kept and counted; a Change (with a
        stand-in feature named by the uid) when it is new or differs."""
        if type(raw) not in _SCALARS and not _small_structure(raw):
            self._warn_once(("nested", uid), "ignored a value for uid %d: a structure larger than %d characters: %s",
                            uid, MAX_STRING, excerpt(raw))  # fmt: skip
            return None
        if type(raw) is str and len(raw) > MAX_STRING:
            raw = raw[:MAX_STRING]
        now = self.clock()
        unknown = self.unknown
        sighting = unknown.seen.get(uid)
        previous = sighting.value if sighting is not None else _ABSENT
        unknown.note(uid, raw, now)
        if uid not in unknown.seen:
            return None  # a flood of distinct uids: past the first few hundred only counted
        if previous == raw and type(previous) is type(raw):
            return None
        feature = self._strangers.get(uid)
        if feature is None:
            feature = self._strangers[uid] = Feature(uid=uid, name=str(uid), kind=Kind.UNKNOWN)
        return Change(feature, raw, raw)

    def _feature_of(self, item: Any) -> Feature | None:
        uid = item.get("uid") if isinstance(item, dict) else None
        if not isinstance(uid, int) or isinstance(uid, bool) or not 0 <= uid <= _MAX_UID:
            self._warn_once(("item", excerpt(item)), "ignored a malformed entry from the appliance: %s", excerpt(item))
            return None
        feature = self.profile.features.get(uid)
        if feature is None:
            self._warn_once(
                ("uid", uid),
                "ignored unknown uid %d (not in the profile; run hc-login again if the appliance was updated)",
                uid,
            )
        return feature

    def _too_many(self, items: list[Any], what: str) -> bool:
        if len(items) <= self.max_entries:
            return False
        self.throttle.warning(("too many",), ("%s: " if self.appliance else "%s") + "ignored a message of %s %s: "
                              "more than twice all features and options of this appliance", self.appliance,
                              f"{len(items):,}", what)  # fmt: skip
        return True

    def _warn_once(self, key: Any, message: str, *args: Any) -> None:
        """Say it once per key, and for a flood of keys a few lines per minute."""
        if key in self._warned:
            return
        said = self.throttle.warning(key[0], ("%s: " if self.appliance else "%s") + message, self.appliance, *args)
        # Only a line that went out counts as said: one the throttle held back
        # is said (or counted as held) when it comes again.
        if said and len(self._warned) < _REMEMBERED:
            self._warned.add(key)


def _small_structure(value: Any) -> bool:
    try:
        return len(json.dumps(value)) <= MAX_STRING
    except (ValueError, TypeError, RecursionError):
        return False


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)
