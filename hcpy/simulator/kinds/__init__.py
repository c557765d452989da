"""What one kind of appliance does besides running a program's clock.

The runner (`runner.ProgramRunner`) counts a run's time down for every kind
alike; an appliance of a kind listed here also lives a life of its own
around it (an oven's cavity heats up and cools down, a hood's grease filter
fills), told by the runner when a run starts, as time passes and when it
stops. A kind not listed here has no such life (`Life` does nothing).
"""

from __future__ import annotations

from collections.abc import Callable

from .hood import HoodLife
from .life import Life, Primitives
from .oven import OvenLife

# By the profile's description type.
LIVES: dict[str, Callable[[Primitives], Life]] = {"Oven": OvenLife, "Hood": HoodLife}


def life_of(appliance_type: str) -> Callable[[Primitives], Life]:
    """The life of an appliance of this type (the profile's description type)."""
    return LIVES.get(appliance_type, Life)
