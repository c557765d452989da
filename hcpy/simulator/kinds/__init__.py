"""What one kind of appliance does besides running a program's clock.

The runner (`runner.ProgramRunner`) counts a run's time down for every kind
alike; an appliance of a kind listed here also lives a life of its own: an
oven's cavity heats up and cools down, a hood's grease filter fills, a
fridge-freezer raises a door alarm when a door stays open and ends its super
modes by itself, a hob refuses a program start from afar (it is operated at
the hob only). The runner tells the life when a run starts, as time passes
and when it stops; the appliance tells it of clients' writes, of time passing
and asks it before a remote start. A kind not listed here has no such life
(`Life` does nothing).

Pure: time comes in as `now`, values go out as `Changes`, through the
appliance's own primitives (called under its lock).
"""

from __future__ import annotations

from collections.abc import Callable

from .fridge import FridgeFreezerLife
from .hob import HobLife
from .hood import HoodLife
from .life import Hands, Life
from .oven import OvenLife

__all__ = ["LIVES", "Hands", "Life", "life_of"]

# By the profile's description type.
LIVES: dict[str, Callable[[Hands], Life]] = {
    "Oven": OvenLife,
    "Hood": HoodLife,
    "FridgeFreezer": FridgeFreezerLife,
    "Refrigerator": FridgeFreezerLife,
    "Freezer": FridgeFreezerLife,
    "Hob": HobLife,
}


def life_of(appliance_type: str) -> Callable[[Hands], Life]:
    """The life of an appliance of this type (the profile's description type)."""
    return LIVES.get(appliance_type, Life)
