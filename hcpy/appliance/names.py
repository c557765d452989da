"""The BSH.Common features hcpy and the simulator act on, named once.

Profiles of every appliance type share these (PROTOCOL.md §5). Anything
that decides by them (a start refused because the door is open, a run's
remaining time, the program commands) uses these names, so a feature is
never spelled twice.
"""

from __future__ import annotations

OPERATION_STATE = "BSH.Common.Status.OperationState"
DOOR_STATE = "BSH.Common.Status.DoorState"
POWER_STATE = "BSH.Common.Setting.PowerState"
REMOTE_START_ALLOWED = "BSH.Common.Status.RemoteControlStartAllowed"
LOCAL_CONTROL_ACTIVE = "BSH.Common.Status.LocalControlActive"

REMAINING_PROGRAM_TIME = "BSH.Common.Option.RemainingProgramTime"
PROGRAM_PROGRESS = "BSH.Common.Option.ProgramProgress"
START_IN_RELATIVE = "BSH.Common.Option.StartInRelative"
FINISH_IN_RELATIVE = "BSH.Common.Option.FinishInRelative"
DURATION = "BSH.Common.Option.Duration"
# The options that delay a start, in the order a delay is offered.
DELAY_OPTIONS = (START_IN_RELATIVE, FINISH_IN_RELATIVE)

ABORT_PROGRAM = "BSH.Common.Command.AbortProgram"
PAUSE_PROGRAM = "BSH.Common.Command.PauseProgram"
RESUME_PROGRAM = "BSH.Common.Command.ResumeProgram"

PROGRAM_FINISHED = "BSH.Common.Event.ProgramFinished"
PROGRAM_ABORTED = "BSH.Common.Event.ProgramAborted"


def is_door_alarm(name: str) -> bool:
    """An event that stands while a door is left open (a fridge's DoorAlarmFreezer): a state, Off included."""
    return "DoorAlarm" in name.rpartition(".")[2]

# OperationState members a program is under way in.
UNDER_WAY = frozenset({"DelayedStart", "Run", "Pause", "ActionRequired", "Aborting"})
