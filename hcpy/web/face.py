"""What a person looks at on an appliance: its state, program, phase, time left, end, progress, door, alerts. Pure.

`face_of` reads an appliance's state (and, for when an alert came, its
message journal) into plain values; the cards of the appliance list and the
top of an appliance's page render them (pages.face_section), and every
`connection` event carries them, so an open page follows without a reload.

Names are Home Assistant's: each slot is labelled as the entity of its
feature is named (homeassistant.labels.label), a program as its select
offers it (labels.program_labels), a value as MQTT carries it (the member
name). The expected end is the one hcpy publishes as `program_end`
(appliance.programs.expected_end).
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from ..appliance import names
from ..appliance.model import Feature, Kind
from ..appliance.programs import expected_end
from ..appliance.state import ApplianceState
from ..homeassistant.labels import PROGRAM_END, label, program_labels

# The slots of a face, in the order shown. "end" is Home Assistant's
# "Program end" sensor (labels.PROGRAM_END, as homeassistant.entities names it).
SLOTS = ("operation", "program", "phase", "remaining", "end", "progress", "door", "remote_start", "remote_control")
REMOTE_CONTROL_ACTIVE = "BSH.Common.Status.RemoteControlActive"
# A program's phase: each kind of appliance names its own
# (Dishcare.Dishwasher.Status.ProgramPhase, LaundryCare.Common.Option.ProcessPhase,
# ConsumerProducts.CoffeeMaker.Status.ProcessPhase): an enumerated status or
# option whose last name segment ends so.
_PHASE_ENDINGS = ("ProgramPhase", "ProcessPhase")
# Event members that are no alert: not (or no longer) there, or dealt with.
_NO_ALERT = frozenset({"Off", "Confirmed"})
MAX_ALERTS = 5
_RUN_ENDS = frozenset({names.PROGRAM_FINISHED, names.PROGRAM_ABORTED})


@dataclass(frozen=True)
class Slot:
    """One thing shown: its label, the feature it is read from, the text shown, and its number where it has one."""

    key: str  # one of SLOTS
    label: str
    feature: str | None  # the full feature name (None: derived, as the program end)
    text: str
    number: float | None = None  # remaining seconds, progress percent, end as unix time

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "feature": self.feature, "text": self.text, "number": self.number}


@dataclass(frozen=True)
class Alert:
    """An event that stands: its label, its member, when it came (unix time; None: before the messages kept)."""

    feature: str
    label: str
    value: str
    at: float | None

    def to_json(self) -> dict[str, Any]:
        return {"feature": self.feature, "label": self.label, "value": self.value, "at": self.at}


@dataclass(frozen=True)
class Face:
    slots: tuple[Slot, ...]  # those with something to show, in SLOTS' order
    alerts: tuple[Alert, ...]  # the newest first
    under_way: bool
    # Every slot the appliance has a feature for, with or without a value:
    # key -> (label, feature), so a page can fill a slot when its value comes.
    headings: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    def slot(self, key: str) -> Slot | None:
        return next((s for s in self.slots if s.key == key), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "slots": [s.to_json() for s in self.slots],
            "alerts": [a.to_json() for a in self.alerts],
            "under_way": self.under_way,
        }


def duration(seconds: float) -> str:
    """Time left as a person reads it: "1:05 h", "12 min", "45 s" (console.js `duration` says the same)."""
    total = max(0, int(round(seconds)))
    hours, rest = divmod(total, 3600)
    if hours:
        return f"{hours}:{rest // 60:02d} h"
    if total >= 60:
        return f"{(total + 30) // 60} min"
    return f"{total} s"


def yes_no(value: Any) -> str:
    return {True: "yes", False: "no"}.get(value, str(value)) if isinstance(value, bool) else str(value)


def phase_feature(state: ApplianceState) -> Feature | None:
    for feature in state.profile.features.values():
        if (
            feature.kind in (Kind.STATUS, Kind.OPTION)
            and feature.name.endswith(_PHASE_ENDINGS)
            and feature.enum is not None
        ):
            return feature
    return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def face_of(state: ApplianceState, journal: Any = None, now: float | None = None) -> Face:
    """The face of the appliance `state` holds; `journal` (its connection's) says when its alerts came."""
    now = time.time() if now is None else now
    profile = state.profile
    values = dict(state.values)  # a snapshot: the connection's thread writes it
    slots: list[Slot] = []

    def read(key: str, name: str, text: Any = None) -> Any:
        feature = profile.by_name(name)
        value = values.get(feature.uid) if feature is not None else None
        if feature is not None and value is not None:
            slots.append(Slot(key, label(feature), feature.name, yes_no(value) if text is None else text(value)))
        return value

    operation = read("operation", names.OPERATION_STATE)
    under_way = operation in names.UNDER_WAY
    for kind in (Kind.ACTIVE_PROGRAM, Kind.SELECTED_PROGRAM):
        program = state.program(kind)
        root = profile.root(kind)
        if program is not None and root is not None:
            shown = program_labels(state).get(program.uid, program.name.rsplit(".", 1)[-1])
            slots.append(Slot("program", label(root), root.name, shown))
            break
    phase = phase_feature(state)
    if under_way and phase is not None and values.get(phase.uid) not in (None, "None", "NoPhase"):
        slots.append(Slot("phase", label(phase), phase.name, str(values[phase.uid])))
    remaining = profile.by_name(names.REMAINING_PROGRAM_TIME)
    seconds = _number(values.get(remaining.uid)) if remaining is not None else None
    if under_way and remaining is not None and seconds is not None:
        slots.append(Slot("remaining", label(remaining), remaining.name, duration(seconds), seconds))
    end = expected_end(state, now) if under_way else None
    if end is not None:
        slots.append(Slot("end", PROGRAM_END, None, "", round(end)))
    progress = profile.by_name(names.PROGRAM_PROGRESS)
    percent = _number(values.get(progress.uid)) if progress is not None else None
    if under_way and progress is not None and percent is not None:
        slots.append(Slot("progress", label(progress), progress.name, f"{percent:g} %", percent))
    read("door", names.DOOR_STATE)
    read("remote_start", names.REMOTE_START_ALLOWED)
    read("remote_control", REMOTE_CONTROL_ACTIVE)
    return Face(tuple(slots), _alerts(state, values, journal, under_way), under_way, headings(state))


def headings(state: ApplianceState) -> dict[str, tuple[str, str | None]]:
    """Each slot the appliance's profile has a feature for: its label and feature (the end: when remaining time is known)."""
    profile = state.profile
    found: dict[str, Feature | None] = {
        "operation": profile.by_name(names.OPERATION_STATE),
        "program": profile.root(Kind.ACTIVE_PROGRAM) or profile.root(Kind.SELECTED_PROGRAM),
        "phase": phase_feature(state),
        "remaining": profile.by_name(names.REMAINING_PROGRAM_TIME),
        "progress": profile.by_name(names.PROGRAM_PROGRESS),
        "door": profile.by_name(names.DOOR_STATE),
        "remote_start": profile.by_name(names.REMOTE_START_ALLOWED),
        "remote_control": profile.by_name(REMOTE_CONTROL_ACTIVE),
    }
    result: dict[str, tuple[str, str | None]] = {}
    for key in SLOTS:
        if key == "end":
            if found["remaining"] is not None:
                result[key] = (PROGRAM_END, None)
        elif (feature := found[key]) is not None:
            result[key] = (label(feature), feature.name)
    return result


def _alerts(state: ApplianceState, values: dict[int, Any], journal: Any, under_way: bool) -> tuple[Alert, ...]:
    # The last run's end stands until confirmed, also through the next run
    # (as the simulator has it): not said while a program is under way.
    over = _RUN_ENDS if under_way else frozenset()
    standing = {
        uid: feature
        for uid, value in values.items()
        if (feature := state.profile.features.get(uid)) is not None
        and feature.kind is Kind.EVENT
        and feature.name not in over
        and value is not None
        and str(value) not in _NO_ALERT
    }
    if not standing and journal not in _CAME:
        return ()
    came = _came(journal, {uid: str(values[uid]) for uid in standing}) if journal is not None else {}
    alerts = [Alert(f.name, label(f), str(values[uid]), came.get(uid)) for uid, f in standing.items()]
    alerts.sort(key=lambda a: (a.at is not None, a.at or 0.0, a.feature), reverse=True)
    return tuple(alerts[:MAX_ALERTS])


# When each standing alert came, per journal: found once, not at every
# refresh of the card (each search parses the messages the journal keeps).
# A journal's entry is replaced whole, never changed in place: the bridge's
# thread (each card an event carries) and the console's request threads read
# faces at once, and one deleting from a dict another goes through would
# fail the other's read. (No lock: this module does no I/O and takes none.)
_CAME: weakref.WeakKeyDictionary[Any, dict[int, tuple[str, float | None]]] = weakref.WeakKeyDictionary()


def _came(journal: Any, standing: dict[int, str]) -> dict[int, float]:
    """When each standing uid was last reported (uid -> its member), from the messages the journal keeps."""
    try:
        before = _CAME.get(journal, {})
    except TypeError:  # a journal that cannot be weakly referred to: searched each time
        before = {}
    # Only the uids standing now are kept: one over is searched again when it comes again.
    known = {uid: seen for uid, seen in before.items() if uid in standing}
    wanted = {uid for uid, value in standing.items() if uid not in known or known[uid][0] != value}
    if wanted:
        found: dict[int, float] = {}
        for entry in reversed(journal.entries()):
            if entry.direction != "in" or not isinstance(entry.data, list):
                continue
            for item in entry.data:
                uid = item.get("uid") if isinstance(item, dict) else None
                if uid in wanted and uid not in found:
                    found[uid] = entry.at
            if len(found) == len(wanted):
                break
        for uid in wanted:
            known[uid] = (standing[uid], found.get(uid))
    try:
        _CAME[journal] = known
    except TypeError:
        pass
    return {uid: at for uid, (_, at) in known.items() if at is not None}
