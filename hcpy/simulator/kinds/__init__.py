"""What a kind of appliance does besides running programs.

A fridge-freezer raises a door alarm when a door stays open and ends its
super modes by itself; a hob is operated at the hob only, so it refuses a
program start from afar. Each kind is a `Life` the simulated appliance
consults on every tick (`advance`) and before a remote start; kinds that
only run programs (`runner`) keep the plain `Life`.

Pure: time comes in as `now`, values go out as `Changes`, through the
appliance's own primitives (called under its lock).
"""

from __future__ import annotations

from .fridge import FridgeFreezerLife
from .hob import HobLife
from .life import Hands, Life

__all__ = ["Hands", "Life", "life_of"]


def life_of(appliance: Hands) -> Life:
    """The life of the appliance's kind, by the profile's appliance type."""
    kind = appliance.profile.description.type
    if kind in ("FridgeFreezer", "Refrigerator", "Freezer"):
        return FridgeFreezerLife(appliance)
    if kind == "Hob":
        return HobLife()
    return Life()
