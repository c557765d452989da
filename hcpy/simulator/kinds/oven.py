"""An oven: its cavity heats up to the setpoint, says when it got there, and cools down after.

Pure temperature curves (`heated`, `cooled`) and `OvenLife`, which reports
them through the appliance: Cooking.Oven.Status.CurrentCavityTemperature
rises while a program runs, Cooking.Oven.Event.PreheatFinished fires once
per run when the setpoint is reached, and after the run the cavity cools
back to the room's temperature. The alarm clock (BSH.Common.Setting.AlarmClock)
counts down on its own and ends with BSH.Common.Event.AlarmClockElapsed.

The rates are plausible, not measured: a domestic oven takes some eight
minutes from room temperature to 180 °C, about a third less with fast
preheating, and much longer to cool down.
"""

from __future__ import annotations

import math

from ...appliance.model import Program
from ..changes import Changes
from ..lifecycle import Behaviour, reported_seconds
from .life import Hands, Life

CAVITY_TEMPERATURE = "Cooking.Oven.Status.CurrentCavityTemperature"
SETPOINT = "Cooking.Oven.Option.SetpointTemperature"
FAST_PREHEAT = "Cooking.Oven.Option.FastPreHeat"
PREHEAT_FINISHED = "Cooking.Oven.Event.PreheatFinished"
ALARM_CLOCK = "BSH.Common.Setting.AlarmClock"
ALARM_CLOCK_ELAPSED = "BSH.Common.Event.AlarmClockElapsed"

ROOM = 20.0  # °C
HEATING = 20.0 / 60  # °C per second
FAST_HEATING = 30.0 / 60
COOLING = 2.0 / 60


def heated(start: float, setpoint: float, seconds: float, fast: bool = False) -> float:
    """The cavity's temperature after heating for `seconds` from `start` towards `setpoint`."""
    rate = FAST_HEATING if fast else HEATING
    if start >= setpoint:
        return max(setpoint, start - COOLING * seconds)  # too hot: it cools down to the setpoint
    return min(setpoint, start + rate * seconds)


def cooled(start: float, seconds: float) -> float:
    """The cavity's temperature `seconds` after the heating went off at `start`."""
    return max(ROOM, start - COOLING * seconds)


class OvenLife(Life):
    # Without a Duration an oven heats for an hour here (a real one until it is stopped);
    # preheating takes a quarter of an hour.
    behaviour = Behaviour(default_seconds=3600, seconds={"PreHeating": 15 * 60})

    def __init__(self, appliance: Hands):
        super().__init__(appliance)
        # The temperature when the heating last changed (on, off), and when.
        self._from = self._temperature()
        self._since: float | None = None
        self._heating = False
        self._setpoint = ROOM
        self._fast = False
        self._preheated = False
        self._alarm_end: float | None = None
        self._alarm_reported: int | None = None

    def started(self, program: Program, now: float) -> Changes:
        app = self.appliance
        setpoint = app.value(SETPOINT) if app.has(SETPOINT) and self._offers(program, SETPOINT) else None
        self._setpoint = float(setpoint) if isinstance(setpoint, (int, float)) and not isinstance(setpoint, bool) else ROOM
        self._fast = bool(self._offers(program, FAST_PREHEAT) and app.value(FAST_PREHEAT))
        self._preheated = False
        self._settle(now)
        return Changes()

    def tick(self, program: Program | None, running: float | None, now: float) -> Changes:
        heating = program is not None and running is not None
        if heating != self._heating:
            self._settle(now)
            self._heating = heating
        changes = self._report(now)
        if self._heating and not self._preheated and self._temperature() >= self._setpoint:
            self._preheated = True
            changes += self.appliance.put(PREHEAT_FINISHED, "Present")
        changes += self._alarm(now)
        return changes

    def stopped(self, now: float) -> Changes:
        self._settle(now)
        self._heating = False
        return self._report(now)

    def written(self, name: str, now: float) -> Changes:
        if name == ALARM_CLOCK:
            self._alarm_end = self._alarm_reported = None  # set anew: counts from now
            return self._alarm(now)
        return Changes()

    # --- internals -------------------------------------------------------------

    def _offers(self, program: Program, name: str) -> bool:
        feature = self.appliance.profile.by_name(name)
        return feature is not None and feature.uid in program.options

    def _temperature(self) -> float:
        value = self.appliance.value(CAVITY_TEMPERATURE) if self.appliance.has(CAVITY_TEMPERATURE) else None
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else ROOM

    def _now_temperature(self, now: float) -> float:
        seconds = 0.0 if self._since is None else now - self._since
        if self._heating:
            return heated(self._from, self._setpoint, seconds, self._fast)
        return cooled(self._from, seconds)

    def _settle(self, now: float) -> None:
        """Start a new stretch of the curve from where the temperature is now."""
        self._from = self._now_temperature(now)
        self._since = now

    def _report(self, now: float) -> Changes:
        # Whole degrees, as the display shows them; the setpoint itself once there.
        return self.appliance.put(CAVITY_TEMPERATURE, int(math.floor(self._now_temperature(now) + 1e-9)))

    def _alarm(self, now: float) -> Changes:
        """The alarm clock: a value the user sets counts down to 0, then rings."""
        app = self.appliance
        if not app.has(ALARM_CLOCK):
            return Changes()
        value = app.value(ALARM_CLOCK)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            self._alarm_end = self._alarm_reported = None
            return Changes()
        if value != self._alarm_reported or self._alarm_end is None:  # set by hand on the appliance
            self._alarm_end = now + value
        left = self._alarm_end - now
        if left <= 0:
            self._alarm_end = self._alarm_reported = None
            changes = app.put(ALARM_CLOCK, 0)
            changes += app.put(ALARM_CLOCK_ELAPSED, "Present")
            return changes
        self._alarm_reported = reported_seconds(left, 0)
        return app.put(ALARM_CLOCK, self._alarm_reported)
