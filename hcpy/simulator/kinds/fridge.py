"""A fridge-freezer: door alarms when a door stays open, super modes that end by themselves.

Its setpoints need nothing here: the profile gives their limits, and the
appliance refuses a value outside them as for any setting.

A door counts as open from the first tick that sees it open (the appliance
notices on its next look, as a real one's sensor does); the alarm event
goes Present once it has stayed open `DOOR_ALARM_SECONDS`, and Off when it
closes. A super mode switched on ends after its `SUPER_MODE_SECONDS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..changes import Changes
from .life import Hands, Life

_COMMON = "Refrigeration.Common"
_FRIDGE = "Refrigeration.FridgeFreezer"

# Assumptions, not documented figures: how long a door may stay open before
# the appliance calls it an alarm, and how long super cooling and super
# freezing last before the appliance ends them.
DOOR_ALARM_SECONDS = 60.0
SUPER_MODE_SECONDS = {
    f"{_FRIDGE}.Setting.SuperModeRefrigerator": 6 * 3600.0,
    f"{_FRIDGE}.Setting.SuperModeFreezer": 48 * 3600.0,
}
# Each compartment's door and the alarm it raises.
DOORS = {
    f"{_COMMON}.Status.Door.Refrigerator": f"{_FRIDGE}.Event.DoorAlarmRefrigerator",
    f"{_COMMON}.Status.Door.Freezer": f"{_FRIDGE}.Event.DoorAlarmFreezer",
}


@dataclass
class _Since:
    """Since when (appliance seconds) a condition holds, and whether it has been acted on."""

    since: float | None = None
    acted: bool = False


class FridgeFreezerLife(Life):
    def __init__(self, appliance: Hands):
        super().__init__(appliance)
        self._doors = {door: _Since() for door in DOORS if appliance.has(door)}
        self.doors = tuple(self._doors)
        self._super = {mode: _Since() for mode in SUPER_MODE_SECONDS if appliance.has(mode)}

    def advance(self, now: float) -> Changes:
        app = self.appliance
        changes = Changes()
        for door, state in self._doors.items():
            alarm = DOORS[door]
            if app.member(door) != "Open":
                if state.acted:
                    changes += app.put(alarm, "Off")
                state.since, state.acted = None, False
                continue
            if state.since is None:
                state.since = now
            if not state.acted and now - state.since >= DOOR_ALARM_SECONDS:
                state.acted = True
                changes += app.put(alarm, "Present")
        for mode, state in self._super.items():
            if app.value(mode) is not True:
                state.since = None
                continue
            if state.since is None:
                state.since = now
            elif now - state.since >= SUPER_MODE_SECONDS[mode]:
                state.since = None
                changes += app.put(mode, False)
        return changes
