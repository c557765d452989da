"""When a run starts and how it ends, from the appliance's state. Pure.

A run starts when the appliance reports a program running: OperationState
Run with an ActiveProgram (a delayed start is not a run yet). It stays under
way through Pause, ActionRequired and Error, and ends:

- ``finished``: OperationState Finished (or the ProgramFinished event);
- ``aborted``: Aborting, the ProgramAborted event, or back to Ready (or to a
  new delayed start) without Finished;
- ``switched_off``: PowerState Off/Standby or OperationState Inactive;
- ``unknown``: found over at a (re)connect with nothing telling how (Ready),
  or another program running in its place.

`RunDetector.observe` takes the state after each batch of changes, or the
whole state at a (re)connect of the appliance (``changes=None``): what
happened while hc2mqtt could not see is then "not seen" (its time is when
hc2mqtt noticed). A run persisted before a restart of hc2mqtt is handed in
as `resumed_program`; the first look after the restart says whether it
still runs (`RunResumed`) or ended.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..appliance import names
from ..appliance.model import Feature, Kind, Profile
from ..appliance.state import ApplianceState, Change

FINISHED, ABORTED, SWITCHED_OFF, UNKNOWN = "finished", "aborted", "switched_off", "unknown"
ENDINGS = (FINISHED, ABORTED, SWITCHED_OFF, UNKNOWN)

ENERGY_FORECAST = "BSH.Common.Option.EnergyForecast"
WATER_FORECAST = "BSH.Common.Option.WaterForecast"
# Options that tell how far the run is, not how it was chosen: not part of a run's options.
PROGRESS_OPTIONS = frozenset(
    {
        names.REMAINING_PROGRAM_TIME,
        names.PROGRAM_PROGRESS,
        names.START_IN_RELATIVE,
        names.FINISH_IN_RELATIVE,
        "BSH.Common.Option.ElapsedProgramTime",
        "BSH.Common.Option.EstimatedTotalProgramTime",
    }
)
_OFF = ("Off", "Standby")
_RUNNING = "Run"


@dataclass(frozen=True)
class RunStarted:
    program: str  # full name
    options: dict[str, Any] = field(default_factory=dict)  # published name -> value
    energy_forecast: float | None = None  # percent
    water_forecast: float | None = None
    seen: bool = True  # False: found already running at a (re)connect
    remaining_s: float | None = None  # the appliance's RemainingProgramTime at the start, when it gave one


@dataclass(frozen=True)
class RunResumed:
    """The run persisted before hc2mqtt restarted is still under way."""

    program: str


@dataclass(frozen=True)
class RunEnded:
    how: str  # one of ENDINGS
    seen: bool = True  # False: found over at a (re)connect


RunEvent = RunStarted | RunResumed | RunEnded


class RunDetector:
    def __init__(
        self,
        profile: Profile,
        name_of: Callable[[Feature], str] | None = None,
        resumed_program: str | None = None,
    ):
        self.profile = profile
        self.name_of = name_of or (lambda feature: feature.name)

        def uid(name: str) -> int | None:
            feature = profile.by_name(name)
            return feature.uid if feature is not None else None

        self._operation = uid(names.OPERATION_STATE)
        self._power = uid(names.POWER_STATE)
        self._finished = uid(names.PROGRAM_FINISHED)
        self._aborted = uid(names.PROGRAM_ABORTED)
        self._forecasts = (uid(ENERGY_FORECAST), uid(WATER_FORECAST))
        self._remaining = uid(names.REMAINING_PROGRAM_TIME)
        root = profile.root(Kind.ACTIVE_PROGRAM)
        self._inputs = frozenset(
            u for u in (self._operation, self._power, self._finished, self._aborted, root.uid if root else None) if u is not None
        )
        self.program = resumed_program  # the run under way, by program name; None: none
        self._resumed = resumed_program is not None
        # A run ended by an event while OperationState still says Run: the
        # next run starts only after the appliance has left Run.
        self._left_run = True

    @property
    def running(self) -> bool:
        return self.program is not None

    def observe(self, state: ApplianceState, changes: list[Change] | None) -> list[RunEvent]:
        """The run events the state (after `changes`, or as found at a connect when None) calls for."""
        if changes is not None:
            # Every value an appliance reports passes here: a loop, not any() over a generator.
            inputs = self._inputs
            for change in changes:
                if change.feature.uid in inputs:
                    break
            else:
                return []
        operation = state.values.get(self._operation) if self._operation is not None else None
        power = state.values.get(self._power) if self._power is not None else None
        if operation is None and power is None:
            return []  # nothing known of the appliance yet
        live = changes is not None
        program = state.program(Kind.ACTIVE_PROGRAM)
        events: list[RunEvent] = []
        if operation != _RUNNING:
            self._left_run = True
        if self.program is not None:
            how = self._ending(operation, power, changes)
            if how is not None:
                self._left_run = operation != _RUNNING
            elif program is not None and program.name != self.program and operation == _RUNNING:
                how = UNKNOWN  # another program runs in its place
            if how is not None:
                events.append(RunEnded(how, seen=live))
                self.program = None
            elif self._resumed:
                events.append(RunResumed(self.program))
            self._resumed = False
        if self.program is None and operation == _RUNNING and program is not None and self._left_run:
            self.program = program.name
            events.append(self._started(state, program, live))
        return events

    def _ending(self, operation: Any, power: Any, changes: list[Change] | None) -> str | None:
        if power in _OFF or operation == "Inactive":
            return SWITCHED_OFF
        if operation == "Finished":
            return FINISHED
        if operation == "Aborting":
            return ABORTED
        if changes is not None:
            for feature, value, _ in changes:
                if value == "Present" and feature.uid == self._finished:
                    return FINISHED
                if value == "Present" and feature.uid == self._aborted:
                    return ABORTED
        if operation in ("Ready", "DelayedStart"):
            # Live, the run went back to rest without Finished: aborted. Found
            # so at a connect, it may as well have finished and the door opened.
            return ABORTED if changes is not None else UNKNOWN
        return None

    def _started(self, state: ApplianceState, program: Any, live: bool) -> RunStarted:
        options = {}
        for uid in program.options:
            feature = self.profile.features.get(uid)
            value = state.values.get(uid)
            if feature is None or value is None or feature.name in PROGRESS_OPTIONS:
                continue
            options[self.name_of(feature)] = value
        energy, water = (_percent(state.values.get(uid)) if uid is not None else None for uid in self._forecasts)
        remaining = remaining_time(state.values.get(self._remaining)) if self._remaining is not None else None
        return RunStarted(program.name, options, energy, water, seen=live, remaining_s=remaining)


# Longer than any program runs, a delayed start included: a larger remaining
# time is no report (1e300 s would put the run's end past what a date can
# say, and an integer of 400 digits is no float at all).
MAX_REMAINING_S = 30 * 86400.0


def remaining_time(value: Any) -> float | None:
    """A remaining time the appliance reported (RemainingProgramTime), in s; None when it is none."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_REMAINING_S:
        return None  # NaN fails the comparison too
    return float(value)


def _percent(value: Any) -> float | None:
    """A number the appliance reported (a percentage, seconds), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value
