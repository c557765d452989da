"""What every kind's life offers the appliance, and what it needs of the appliance."""

from __future__ import annotations

from typing import Any, Protocol

from ...appliance.model import Profile
from ..changes import Changes


class Hands(Protocol):
    """What a kind needs of its appliance (`SimulatedAppliance` has it)."""

    profile: Profile

    def has(self, name: str) -> bool: ...
    def value(self, uid_or_name: int | str) -> Any: ...
    def member(self, name: str) -> str | None: ...
    def put(self, name: str, value: Any) -> Changes: ...


class Life:
    """A kind that does nothing of its own between program runs."""

    # Why a program may not be started from afar on this kind, or None if it may.
    no_remote_start: str | None = None
    # Doors besides BSH.Common.Status.DoorState that the user's hand opens and
    # closes (a fridge-freezer's compartments), by feature name.
    doors: tuple[str, ...] = ()

    def advance(self, now: float) -> Changes:
        return Changes()
