"""A simulated appliance's programs: select, start, run, pause, abort, finish.

The runner turns where a run stands (`lifecycle.ProgramRun.at`) into what a
real appliance reports while it runs a program, through the appliance's own
primitives (`put`, `limit`, `restore`), always under the appliance's lock:

- selecting a program sets SelectedProgram, its options' defaults and,
  scoped to the program (parentUID), their access and limits, and shows
  how long it will take in RemainingProgramTime;
- a start sets ActiveProgram and the forecasts; StartInRelative (or the
  delay FinishInRelative leaves) counts down in DelayedStart; then Run, with
  RemainingProgramTime falling, ProgramProgress rising and the phase moving
  on; then Finished with ProgramFinished Present;
- AbortProgram, PauseProgram and ResumeProgram become writable by
  description change while they make sense, and return to the profile's
  access after;
- the delay (StartInRelative, FinishInRelative) can be changed while the
  start is still delayed: the start moves. Once the program runs the delay
  is spent: it reads 0 and is read-only under the program (a description
  change scoped to it, as real appliances send), until the run ends, so a
  later start without a delay starts at once;
- an abort goes through Aborting to Ready with ProgramAborted Present.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..appliance import names
from ..appliance.model import Access, Feature, Kind, Limits, Profile, Program
from .changes import Changes
from .kinds import life_of
from .lifecycle import Moment, ProgramRun, Stage, behaviour_of, reported_seconds
from .values import coerce, describe

# An abort takes the appliance this long (appliance seconds) to wind down.
ABORTING_SECONDS = 5.0
_COMMANDS = (names.ABORT_PROGRAM, names.PAUSE_PROGRAM, names.RESUME_PROGRAM)


class Primitives(Protocol):
    """What the runner needs of the appliance it runs programs on (`SimulatedAppliance` has them).

    Named here, below the appliance, so that the appliance can own a runner
    without the runner knowing the appliance's class.
    """

    profile: Profile

    def has(self, name: str) -> bool: ...
    def member(self, name: str) -> str | None: ...
    def feature(self, uid_or_name: int | str) -> Feature: ...
    def value(self, uid_or_name: int | str) -> Any: ...
    def put(self, name: str, value: Any) -> Changes: ...
    def limit(self, name: str, access: Access | None = None, available: bool | None = None) -> Changes: ...
    def restore(self, name: str) -> Changes: ...
    def option_access(self, program: Program, name: str, access: Access | None = None) -> Changes: ...
    def option_limits(self, program: Program, uid: int) -> Limits: ...
    def select_root(self, program: Program | None, active: bool) -> Changes: ...


class ProgramRunner:
    def __init__(self, appliance: Primitives):
        self.appliance = appliance
        kind = appliance.profile.description.type
        self.life = life_of(kind)(appliance)
        self.behaviour = self.life.behaviour or behaviour_of(kind)
        self.run: ProgramRun | None = None
        self._aborting_until: float | None = None

    @property
    def under_way(self) -> bool:
        return self.run is not None or self._aborting_until is not None

    # --- commands ------------------------------------------------------------

    def select(self, program: Program) -> Changes:
        """Select `program`: its options' defaults, and their limits under it."""
        app = self.appliance
        changes = app.select_root(program, active=False)
        for uid in program.options:
            feature = app.profile.features.get(uid)
            if feature is None or feature.kind is not Kind.OPTION:
                continue
            limits = app.option_limits(program, uid)
            changes.descriptions.append(describe(uid, limits, feature.value_kind, parent_uid=program.uid))
            if limits.default is not None:
                changes += app.put(feature.name, coerce(feature.value_kind, limits.default))
        if _offers(program, app, names.DURATION):
            # The appliance fills in how long the program takes; the user may change it.
            changes += self._propose_duration(program)
        if self.run is None and app.has(names.REMAINING_PROGRAM_TIME):
            # What the appliance's display shows for a selected program: how long it will take.
            changes += app.put(names.REMAINING_PROGRAM_TIME, int(self._duration(program)))
        return changes

    def start(self, program: Program, now: float) -> Changes:
        """Start `program` with the options it holds now (checked and set by the appliance)."""
        app = self.appliance
        duration = self._duration(program)
        self.run = ProgramRun(program.uid, now, self._delay(program, duration), duration, len(self.behaviour.phases))
        self._aborting_until = None
        changes = app.select_root(program, active=True)
        for name, value in self.behaviour.forecasts.items():
            changes += app.put(name, value)
        changes += app.limit(names.ABORT_PROGRAM, Access.WRITE_ONLY, True)
        changes += self.life.started(program, now)
        changes += self.advance(now)
        return changes

    def abort(self, now: float, quietly: bool = False) -> Changes:
        """Stop the run; `quietly` (switched off) skips Aborting and the event."""
        app = self.appliance
        if self.run is None:
            return app.put(names.OPERATION_STATE, "Ready") if not quietly else Changes()
        program = app.profile.programs[self.run.program]
        self.run = None
        changes = self._idle(program)
        changes += self.life.stopped(now)
        if not quietly:
            self._aborting_until = now + ABORTING_SECONDS
            changes += app.put(names.OPERATION_STATE, "Aborting")
            changes += app.put(names.PROGRAM_ABORTED, "Present")
        return changes

    def pause(self, now: float) -> Changes:
        if self.run is not None and self.run.at(now).stage is Stage.RUNNING:
            self.run.pause(now)
        return self.advance(now)

    def resume(self, now: float) -> Changes:
        if self.run is not None:
            self.run.resume(now)
        return self.advance(now)

    def written(self, name: str, now: float) -> Changes:
        """A client changed `name` (its new value is in place): a new delay moves a start still to come."""
        app = self.appliance
        if name not in names.DELAY_OPTIONS or self.run is None or self.run.at(now).stage is not Stage.DELAYED:
            return Changes()
        chosen = app.value(name)
        if not isinstance(chosen, (int, float)) or isinstance(chosen, bool):
            return Changes()
        # FinishInRelative says when to be done, not when to begin.
        left = max(0.0, chosen - self.run.duration) if name == names.FINISH_IN_RELATIVE else max(0.0, float(chosen))
        self.run.delay = now - self.run.started + left
        return self.advance(now)

    # --- time --------------------------------------------------------------------

    def advance(self, now: float) -> Changes:
        """Report where the run stands now."""
        app = self.appliance
        changes = Changes()
        if self._aborting_until is not None and now >= self._aborting_until:
            self._aborting_until = None
            changes += app.put(names.OPERATION_STATE, "Ready")
        if self.run is None:
            changes += self.life.tick(None, None, now)
            return changes
        moment = self.run.at(now)
        program = app.profile.programs[self.run.program]
        if moment.stage is Stage.FINISHED:
            changes += self.life.tick(program, self.run.duration, now)
            changes += self._finish(program)
            changes += self.life.stopped(now)
            return changes
        running = None if moment.stage is Stage.DELAYED else self.run.duration - moment.remaining
        changes += self.life.tick(program, running, now)
        changes += app.put(names.OPERATION_STATE, moment.stage.value)
        if moment.stage is Stage.DELAYED:
            if _offers(program, app, names.START_IN_RELATIVE):
                changes += app.put(names.START_IN_RELATIVE, reported_seconds(moment.delay_left, moment.delay_left))
        else:
            changes += self._spend_delay(program)
            changes += self._phase(moment)
        changes += app.put(names.REMAINING_PROGRAM_TIME, reported_seconds(moment.remaining, self.run.duration))
        changes += app.put(names.PROGRAM_PROGRESS, moment.progress)
        paused = moment.stage is Stage.PAUSED
        running = moment.stage is Stage.RUNNING
        changes += app.limit(names.PAUSE_PROGRAM, Access.WRITE_ONLY if running else Access.NONE, running)
        changes += app.limit(names.RESUME_PROGRAM, Access.WRITE_ONLY if paused else Access.NONE, paused)
        return changes

    # --- internals -----------------------------------------------------------------

    def _finish(self, program: Program) -> Changes:
        app = self.appliance
        self.run = None
        changes = app.put(names.PROGRAM_PROGRESS, 100)
        changes += self._idle(program)
        changes += app.put(names.OPERATION_STATE, "Finished")
        counter = self._counter(program)
        if counter is not None:
            changes += app.put(counter, (app.value(counter) or 0) + 1)
        changes += app.put(names.PROGRAM_FINISHED, "Present")
        return changes

    def _spend_delay(self, program: Program) -> Changes:
        """The program runs: its delay is spent (0) and cannot be changed until the run ends.

        Without the reset the countdown's last value would stay, and
        the next start with the options as they are would wait that long.
        """
        app = self.appliance
        changes = Changes()
        for name in self._delays(program):
            changes += app.put(name, 0)
            changes += app.option_access(program, name, Access.READ)
        return changes

    def _delays(self, program: Program) -> list[str]:
        """The delay options `program` has."""
        app = self.appliance
        return [
            name
            for name in names.DELAY_OPTIONS
            if _offers(program, app, name) and app.feature(name).kind is Kind.OPTION
        ]

    def _idle(self, program: Program) -> Changes:
        """No program under way: the roots, the remaining time, the delay and the commands go back."""
        app = self.appliance
        changes = Changes()
        for name in self._delays(program):
            changes += app.put(name, 0)  # an aborted delayed start leaves no delay behind either
            changes += app.option_access(program, name)
        changes += app.select_root(None, active=True)
        changes += app.put(names.REMAINING_PROGRAM_TIME, 0)
        if self.behaviour.phase and app.has(self.behaviour.phase):
            changes += app.put(self.behaviour.phase, "None")
        for name in _COMMANDS:
            changes += app.restore(name)
        return changes

    def _phase(self, moment: Moment) -> Changes:
        phases = self.behaviour.phases
        if not self.behaviour.phase or not phases:
            return Changes()
        return self.appliance.put(self.behaviour.phase, phases[moment.phase])

    def _duration(self, program: Program) -> float:
        app = self.appliance
        if _offers(program, app, names.DURATION):
            chosen = app.value(names.DURATION)
            if isinstance(chosen, (int, float)) and not isinstance(chosen, bool) and chosen > 0:
                return float(chosen)
        short = program.name.rsplit(".", 1)[-1]
        # Whole seconds, as appliances count them.
        return float(round(self.behaviour.seconds.get(short, self.behaviour.default_seconds) * self._scale(program)))

    def _scale(self, program: Program) -> float:
        """How much the options chosen now lengthen (or shorten) the program."""
        app = self.appliance
        factor = 1.0
        for name, factors in self.behaviour.scaled_by.items():
            if not _offers(program, app, name):
                continue
            enum = app.feature(name).enum
            member = enum.members.get(app.value(name)) if enum is not None else None
            factor *= factors.get(member or "", 1.0)
        return factor

    def _propose_duration(self, program: Program) -> Changes:
        app = self.appliance
        feature = app.feature(names.DURATION)  # offered: the caller checked
        limits = app.option_limits(program, feature.uid)
        seconds = self.behaviour.seconds.get(program.name.rsplit(".", 1)[-1], self.behaviour.default_seconds)
        low, high, step = limits.min or 0, limits.max or seconds, limits.step or 1
        seconds = min(max(seconds, low), high)
        return app.put(names.DURATION, int(low + round((seconds - low) / step) * step))

    def _delay(self, program: Program, duration: float) -> float:
        app = self.appliance
        for name in names.DELAY_OPTIONS:
            if not _offers(program, app, name):
                continue
            chosen = app.value(name)
            if isinstance(chosen, (int, float)) and not isinstance(chosen, bool) and chosen > 0:
                # FinishInRelative says when to be done, not when to begin.
                return max(0.0, chosen - duration) if name == names.FINISH_IN_RELATIVE else float(chosen)
        return 0.0

    def _counter(self, program: Program) -> str | None:
        counters = self.behaviour.counters
        short = program.name.rsplit(".", 1)[-1]
        for word, counter in counters.items():
            if word and word in short:
                return counter
        return counters.get("")


def _offers(program: Program, app: Primitives, name: str) -> bool:
    feature = app.profile.by_name(name)
    return feature is not None and (feature.uid in program.options or feature.kind is not Kind.OPTION)
