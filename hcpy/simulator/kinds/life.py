"""A kind's own life, and what it needs of its appliance (see the package's docstring)."""

from __future__ import annotations

from typing import Any, Protocol

from ...appliance.model import Profile, Program
from ..changes import Changes
from ..lifecycle import Behaviour


class Hands(Protocol):
    """What a kind's life needs of its appliance (`SimulatedAppliance` has it)."""

    profile: Profile

    def has(self, name: str) -> bool: ...
    def value(self, uid_or_name: int | str) -> Any: ...
    def member(self, name: str) -> str | None: ...
    def put(self, name: str, value: Any) -> Changes: ...


class Life:
    """A kind's own behaviour; this one does nothing. Called under the appliance's lock.

    The runner tells it about runs (`started`, `tick`, `stopped`); the
    appliance tells it of clients' writes (`written`) and of time passing
    whether a program runs or not (`advance`).
    """

    # How the kind's programs run (lifecycle.BEHAVIOURS when None).
    behaviour: Behaviour | None = None
    # Why a program may not be started from afar on this kind, or None if it may.
    no_remote_start: str | None = None
    # Doors besides BSH.Common.Status.DoorState that the user's hand opens and
    # closes (a fridge-freezer's compartments), by feature name.
    doors: tuple[str, ...] = ()

    def __init__(self, appliance: Hands):
        self.appliance = appliance

    def started(self, program: Program, now: float) -> Changes:
        """A run of `program` was accepted (it may still wait for a delayed start)."""
        return Changes()

    def tick(self, program: Program | None, running: float | None, now: float) -> Changes:
        """Time passed: `program` is under way (None: none) and has run for `running` seconds (None: not started yet)."""
        return Changes()

    def stopped(self, now: float) -> Changes:
        """The run finished or was aborted."""
        return Changes()

    def written(self, name: str, now: float) -> Changes:
        """A client wrote the setting or option `name` (its new value is in place)."""
        return Changes()

    def advance(self, now: float) -> Changes:
        """Time passed, with or without a program (a fridge's door alarm, its super modes)."""
        return Changes()
