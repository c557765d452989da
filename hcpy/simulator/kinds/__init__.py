"""What one kind of appliance does besides running a program's clock.

The runner (`runner.ProgramRunner`) counts a run's time down for every kind
alike; an appliance of a kind listed here also lives a life of its own
around it (an oven's cavity heats up and cools down, a hood's grease filter
fills), told by the runner when a run starts, as time passes and when it
stops. A kind not listed here has no such life (`Life` does nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ...appliance.model import Program
from ..changes import Changes
from ..lifecycle import Behaviour

if TYPE_CHECKING:
    from ..runner import Primitives


class Life:
    """A kind's own behaviour; this one does nothing. Called under the appliance's lock."""

    # How the kind's programs run (lifecycle.BEHAVIOURS when None).
    behaviour: Behaviour | None = None

    def __init__(self, appliance: Primitives):
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


def life_of(appliance_type: str) -> Callable[[Primitives], Life]:
    """The life of an appliance of this type (the profile's description type)."""
    # Imported here: each kind's module is only loaded by an appliance of its kind.
    if appliance_type == "Oven":
        from .oven import OvenLife

        return OvenLife
    if appliance_type == "Hood":
        from .hood import HoodLife

        return HoodLife
    return Life
