"""Program commands: select, start (now or later), pause, resume, abort.

What a user publishes on `T/selectedProgram` and `T/activeProgram` becomes
the request the appliance expects (PROTOCOL.md §4), or a `CommandError`
whose sentence says what the user can do about it. A start is refused
before it is sent for the reasons an appliance refuses it (a program under
way, switched off, Remote Start not enabled, door open, starts not taken
now), each only when the appliance has reported the value that decides it.
Pure logic, on top of `commands`.
"""

from __future__ import annotations

import math
from typing import Any

from ..logs import excerpt
from ..protocol.resources import RO_ACTIVE_PROGRAM, RO_SELECTED_PROGRAM
from . import names
from .commands import MISSING, CommandError, Request, build_set, check_writable, encode_value, ref_and_value, resolve
from .model import Feature, Kind, Program
from .state import ApplianceState

# Ways to say "start whatever program is selected" on the activeProgram topic.
START_SELECTED = frozenset({"selected", "start"})
# Verbs on the activeProgram topic for the common program commands.
PROGRAM_COMMANDS = {
    "stop": names.ABORT_PROGRAM,
    "abort": names.ABORT_PROGRAM,
    "pause": names.PAUSE_PROGRAM,
    "resume": names.RESUME_PROGRAM,
}
# What a program command's object may hold.
BODY_KEYS = ("program", "options", "delay")
_OPTIONS_SHAPE = '"options" must be a list of {"uid"|"name", "value"} objects'


def build_program(state: ApplianceState, body: Any, resource: str) -> Request:
    """`T/selectedProgram` and `T/activeProgram`: {"program", "options": [...], "delay": seconds}.

    On activeProgram, "program": "selected" starts the program that is
    selected, with the options set on the appliance now; "stop" (or
    "abort"), "pause" and "resume" send the appliance's program commands.
    "delay" starts the program that many seconds later, through
    StartInRelative or FinishInRelative, whichever the program offers.
    """
    if resource not in (RO_SELECTED_PROGRAM, RO_ACTIVE_PROGRAM):
        raise ValueError(resource)
    starting = resource == RO_ACTIVE_PROGRAM
    if isinstance(body, (str, int)) and not isinstance(body, bool):
        body = {"program": body}
    if not isinstance(body, dict):
        raise CommandError('the payload must be an object like {"program": …, "options": […]}')
    unknown = [key for key in body if key not in BODY_KEYS]
    if unknown:
        raise CommandError(
            f"{', '.join(excerpt(key, 40) for key in unknown[:5])} is not understood here; a program command takes "
            '"program", "options" and, to start later, "delay"'
        )
    ref = body.get("program")
    if ref is None:
        hint = ', or "selected" to start the selected one' if starting else ""
        raise CommandError(f'no "program" given: name a program{hint}')
    verb = ref.strip().lower() if isinstance(ref, str) else None
    if starting and verb in PROGRAM_COMMANDS:
        if len(body) > 1:
            raise CommandError(f'"{verb}" takes no options or delay')
        return _program_command(state, PROGRAM_COMMANDS[verb])
    options = body.get("options", [])
    if not isinstance(options, list):
        raise CommandError(_OPTIONS_SHAPE)
    if starting and verb in START_SELECTED:
        program = state.program(Kind.SELECTED_PROGRAM)
        if program is None:
            raise CommandError("no program is selected on the appliance; select one or name it", 409)
        chosen = _current_options(state, program)
    else:
        program = _program(state, ref)
        chosen = {}
    if starting:
        # Before the options: while a program runs its delay is read-only, and
        # "already under way" is what the user can act on, not the delay's access.
        check_startable(state)
    for item in options:
        encoded = _option(state, program, item)
        chosen[encoded["uid"]] = encoded
    if "delay" in body:
        encoded = _delay(state, program, body["delay"])
        chosen[encoded["uid"]] = encoded
    _check_execution(program, starting)
    data: dict[str, Any] = {"program": program.uid}
    if chosen:
        data["options"] = list(chosen.values())
    return Request(resource, [data])


def check_startable(state: ApplianceState) -> None:
    """Refuse a start the appliance would refuse, saying what to do about it.

    Decided only by what the appliance reported: an appliance that does not
    report a status is left to answer for itself.
    """
    operation = state.value_of(names.OPERATION_STATE)
    if operation in names.UNDER_WAY:
        raise CommandError(
            f"a program is already under way (OperationState {operation}); abort it or wait until it finishes", 409
        )
    power = state.value_of(names.POWER_STATE)
    if power is not None and power != "On":
        raise CommandError(f"the appliance is switched off (PowerState {power}); switch it on first", 409)
    if state.value_of(names.REMOTE_START_ALLOWED) is False:
        raise CommandError(
            "remote start is not allowed: enable Remote Start on the appliance (its remote start button), then start again",
            403,
        )
    door = state.value_of(names.DOOR_STATE)
    if door in ("Open", "Ajar"):
        raise CommandError(f"the door is {door.lower()}: close it, then start again", 409)
    root = state.profile.root(Kind.ACTIVE_PROGRAM)
    if root is not None:
        limits = state.limits[root.uid]
        if not limits.access.writable or not limits.available:
            raise CommandError(
                f"the appliance takes no program start now ({root.name} is {limits.access.value}); "
                "start it on the appliance, or enable Remote Start there",
                403,
            )


def delay_option(state: ApplianceState, program: Program) -> Feature | None:
    """The feature a delayed start of `program` goes through, or None."""
    for name in names.DELAY_OPTIONS:
        feature = state.profile.by_name(name)
        if feature is not None and feature.uid in program.options:
            return feature
    return None


# -- pieces --------------------------------------------------------------------------------


def _program(state: ApplianceState, ref: Any) -> Program:
    programs = state.profile.programs
    candidates = [state.profile.features[uid] for uid in programs if uid in state.profile.features]
    program = programs[resolve(ref, candidates, "program").uid]
    if not state.limits[program.uid].available:
        raise CommandError(f"{program.name} is not available on this appliance now", 403)
    return program


def _check_execution(program: Program, starting: bool) -> None:
    # A profile marks programs that can only be selected (started on the
    # appliance) or only started (never merely selected).
    if starting and program.execution == "selectOnly":
        raise CommandError(f"{program.name} can only be selected; start it on the appliance", 403)
    if not starting and program.execution == "startOnly":
        raise CommandError(f"{program.name} cannot be selected, only started (publish it on activeProgram)", 403)


def _program_command(state: ApplianceState, name: str) -> Request:
    feature = state.profile.by_name(name)
    if feature is None:
        raise CommandError(f"this appliance has no {name}", 404)
    try:
        return build_set(state, {"uid": feature.uid})
    except CommandError as exc:
        if exc.code != 403:
            raise
        operation = state.value_of(names.OPERATION_STATE)
        now = f" (OperationState {operation})" if operation is not None else ""
        raise CommandError(f"the appliance does not take {feature.short_name} now{now}: {exc}", 403) from None


def _current_options(state: ApplianceState, program: Program) -> dict[int, dict[str, Any]]:
    """The options of `program` as the appliance has them set now, where the user may set them."""
    chosen = {}
    for option_uid in program.options:
        limits = state.program_limits.get((program.uid, option_uid))
        if option_uid in state.raw and limits is not None and limits.access.writable:
            chosen[option_uid] = {"uid": option_uid, "value": state.raw[option_uid]}
    return chosen


def _option(state: ApplianceState, program: Program, item: Any) -> dict[str, Any]:
    all_options = [f for f in state.profile.features.values() if f.kind == Kind.OPTION]
    feature, value = ref_and_value(item, all_options, "option")
    option = program.options.get(feature.uid)
    if option is None:
        raise CommandError(f"{feature.name} is not an option of {program.name}")
    limits = state.program_limits[(program.uid, feature.uid)].over(state.limits[feature.uid])
    check_writable(feature, limits, f" for {program.name}")
    if value is MISSING:
        raise CommandError(f"no value given for {feature.name}")
    return {"uid": feature.uid, "value": encode_value(feature, feature.bounded(limits), value, option.enum)}


def _delay(state: ApplianceState, program: Program, value: Any) -> dict[str, Any]:
    feature = delay_option(state, program)
    if feature is None:
        raise CommandError(f"{program.name} offers no delayed start (it has no StartInRelative or FinishInRelative)")
    seconds = _seconds(value)
    if feature.name == names.FINISH_IN_RELATIVE:
        # The appliance is told when to be done: the delay plus the run.
        seconds += _duration(state, program)
        step = state.program_limits[(program.uid, feature.uid)].over(state.limits[feature.uid]).step
        if isinstance(step, (int, float)) and step > 0:
            seconds = math.ceil(math.ceil(seconds / step) * step)  # whole seconds, also for a fractional step
    return _option(state, program, {"uid": feature.uid, "value": seconds})


def _seconds(value: Any) -> int:
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if (
        number is None
        or isinstance(number, bool)
        or not isinstance(number, (int, float))
        or not math.isfinite(number)
        or number < 0
    ):
        raise CommandError(f'"delay" takes a number of seconds (0 or more), not {excerpt(value)}')
    return int(round(number))


def _duration(state: ApplianceState, program: Program) -> int:
    """How long `program` runs, as the appliance estimates it for the selected program."""
    if state.program(Kind.SELECTED_PROGRAM) is program:
        for name in (names.REMAINING_PROGRAM_TIME, names.DURATION):
            seconds = state.value_of(name)
            if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds > 0:
                return int(seconds)
    raise CommandError(
        f"{program.name} delays through FinishInRelative, and its duration is not known yet: "
        "select the program first (the appliance then reports its duration), or give FinishInRelative as an option"
    )


# -- where a run stands ----------------------------------------------------------------------

# The values `expected_end` reads.
END_INPUTS = (names.OPERATION_STATE, names.REMAINING_PROGRAM_TIME, *names.DELAY_OPTIONS)


def expected_end(state: ApplianceState, now: float) -> float | None:
    """When the program under way will end (epoch seconds), from what the appliance reports; None if none runs.

    In DelayedStart the run has not begun: its end is the delay (or the time
    FinishInRelative says) away, plus the run for StartInRelative.
    """
    operation = state.value_of(names.OPERATION_STATE)
    remaining = _seconds_of(state, names.REMAINING_PROGRAM_TIME)
    if operation == "Run" and remaining:
        return now + remaining
    if operation == "DelayedStart":
        start_in = _seconds_of(state, names.START_IN_RELATIVE)
        if start_in:
            return now + start_in + (remaining or 0)
        finish_in = _seconds_of(state, names.FINISH_IN_RELATIVE)
        if finish_in:
            return now + finish_in
        if remaining:
            return now + remaining
    return None


def _seconds_of(state: ApplianceState, name: str) -> float | None:
    value = state.value_of(name)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None
