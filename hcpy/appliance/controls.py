"""What a user can act on: which features are controls at all, and which work now.

Whether a feature is a control (a switch, a number, a button) rather than a
sensor is decided from the profile, once: an appliance changes access all
the time (AbortProgram is writable only while a program runs, an option
only while its program is selected), and a control that came and went with
it would be a Home Assistant entity deleted and recreated each time.
Whether it can be used *now* is live, from the state. Pure logic.
"""

from __future__ import annotations

from . import names
from .commands import CommandError, delay_locked
from .model import PROGRAM_ROOTS, Feature, Kind, Profile
from .programs import check_startable
from .state import ApplianceState

# The values that decide whether a program can be started (`startable`).
START_INPUTS = (names.OPERATION_STATE, names.POWER_STATE, names.REMOTE_START_ALLOWED, names.DOOR_STATE)


def is_control(profile: Profile, feature: Feature) -> bool:
    """Whether `feature` can ever be written: from its profile, or its options' programs."""
    if feature.kind is Kind.COMMAND or feature.kind in PROGRAM_ROOTS:
        return True
    if feature.limits.access.writable:
        return feature.kind in (Kind.SETTING, Kind.OPTION, Kind.STATUS, Kind.UNKNOWN)
    if feature.kind is Kind.OPTION:
        return any(
            program.options[feature.uid].limits.access.writable
            for program in profile.programs.values()
            if feature.uid in program.options
        )
    return False


def usable(state: ApplianceState, feature: Feature) -> bool:
    """Whether a write to `feature` would be taken now (an option: by the program in charge)."""
    program, limits = state.option_limits(feature)
    if feature.kind is Kind.OPTION and program is None:
        return False
    if delay_locked(state, feature, limits) is not None:
        return False
    return limits.access.writable and limits.available


def startable(state: ApplianceState) -> bool:
    """Whether "start the selected program" would be sent now."""
    if state.program(Kind.SELECTED_PROGRAM) is None:
        return False
    try:
        check_startable(state)
    except CommandError:
        return False
    return True


def inputs(profile: Profile) -> frozenset[int]:
    """The uids whose values change what `usable` and `startable` answer."""
    uids = {root.uid for kind in PROGRAM_ROOTS if (root := profile.root(kind)) is not None}
    uids.update(f.uid for name in START_INPUTS if (f := profile.by_name(name)) is not None)
    return frozenset(uids)
