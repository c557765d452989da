"""A hood: its grease filter fills while the fan runs, and the hood says so.

Venting and intensive levels are the options of the hood's programs and its
lights are plain settings: the appliance takes and reports them without
help. What a hood does by itself is warn about its grease filter:
Cooking.Hood.Event.GreaseFilterMaxSaturationNearlyReached, then
...Reached, after so many hours of venting (the hours are invented; real
hoods count them by fan stage).
"""

from __future__ import annotations

from ...appliance.model import Program
from ..changes import Changes
from ..lifecycle import Behaviour
from .life import Hands, Life

VENTING_LEVEL = "Cooking.Common.Option.Hood.VentingLevel"
INTENSIVE_LEVEL = "Cooking.Common.Option.Hood.IntensiveLevel"
FILTER_NEARLY_SATURATED = "Cooking.Hood.Event.GreaseFilterMaxSaturationNearlyReached"
FILTER_SATURATED = "Cooking.Hood.Event.GreaseFilterMaxSaturationReached"

# Hours of venting until the filter is nearly, and then fully, saturated.
NEARLY_SATURATED_HOURS = 27.0
SATURATED_HOURS = 30.0


def saturation_warnings(before: float, after: float) -> list[str]:
    """The filter events due when venting time grows from `before` to `after` seconds."""
    due = []
    for hours, event in ((NEARLY_SATURATED_HOURS, FILTER_NEARLY_SATURATED), (SATURATED_HOURS, FILTER_SATURATED)):
        if before < hours * 3600 <= after:
            due.append(event)
    return due


class HoodLife(Life):
    # A hood vents until it is stopped (here: two days at most); the
    # delayed shut-off runs the fan on for ten minutes.
    behaviour = Behaviour(default_seconds=48 * 3600, seconds={"DelayedShutOff": 10 * 60})

    def __init__(self, appliance: Hands):
        super().__init__(appliance)
        self.vented = 0.0  # seconds the fan has run since the filter was cleaned
        self._last: float | None = None

    def tick(self, program: Program | None, running: float | None, now: float) -> Changes:
        last, self._last = self._last, now
        if program is None or running is None or last is None or not self._fan_on():
            return Changes()
        before, self.vented = self.vented, self.vented + (now - last)
        changes = Changes()
        for event in saturation_warnings(before, self.vented):
            changes += self.appliance.put(event, "Present")
        return changes

    def started(self, program: Program, now: float) -> Changes:
        self._last = now
        return Changes()

    def _fan_on(self) -> bool:
        app = self.appliance
        level = app.value(VENTING_LEVEL) if app.has(VENTING_LEVEL) else None
        intensive = app.value(INTENSIVE_LEVEL) if app.has(INTENSIVE_LEVEL) else None
        # Automatic programs choose their own level: the fan runs.
        return bool(level) or bool(intensive) or level is None
