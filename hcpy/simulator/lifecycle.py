"""How a simulated appliance runs a program, from start to finish (PROTOCOL.md §4).

Pure: what each kind of appliance does (`Behaviour`) and where a run stands
at a given moment (`ProgramRun.at`). `SimulatedAppliance` turns that into the
values and description changes a real appliance would report.

A run: an optional delayed start (StartInRelative counting down, or the
delay a FinishInRelative leaves), then the program, its remaining time
falling, its progress rising and the appliance's phase moving on, then
Finished. A pause stops the program's clock; an abort ends it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum


class Stage(str, Enum):
    DELAYED = "DelayedStart"
    RUNNING = "Run"
    PAUSED = "Pause"
    FINISHED = "Finished"


@dataclass(frozen=True)
class Behaviour:
    """What one kind of appliance does while it runs a program."""

    # The feature naming the phase of the program, and its phases in order.
    phase: str | None = None
    phases: tuple[str, ...] = ()
    # How long a program takes (s), by the program's short name, else `default_seconds`.
    seconds: dict[str, float] = field(default_factory=dict)
    default_seconds: float = 2 * 3600
    # What the appliance forecasts at the start (percent), by feature name.
    forecasts: dict[str, int] = field(default_factory=dict)
    # A counter counting finished programs (the coffee machine's beverages),
    # by a word of the program's name; "" counts any other program.
    counters: dict[str, str] = field(default_factory=dict)
    # Options whose member lengthens or shortens a program (a dryer's drying
    # target): option name -> member -> factor on the program's seconds.
    scaled_by: dict[str, dict[str, float]] = field(default_factory=dict)


_DISHCARE = "Dishcare.Dishwasher"
_LAUNDRY = "LaundryCare"
_COFFEE = "ConsumerProducts.CoffeeMaker"

BEHAVIOURS: dict[str, Behaviour] = {
    "Dishwasher": Behaviour(
        phase=f"{_DISHCARE}.Status.ProgramPhase",
        phases=("PreRinse", "MainWash", "FinalRinse", "Drying"),
        seconds={
            "Intensiv70": 2.5 * 3600,
            "Auto2": 2.25 * 3600,
            "Eco50": 3.75 * 3600,
            "NightWash": 3.5 * 3600,
            "Kurz60": 1.5 * 3600,
            "Glas40": 1.75 * 3600,
            "Quick45": 0.5 * 3600,
            "PreRinse": 15 * 60,
            "MachineCare": 2 * 3600,
        },
        forecasts={"BSH.Common.Option.EnergyForecast": 60, "BSH.Common.Option.WaterForecast": 50},
    ),
    "Washer": Behaviour(
        phase=f"{_LAUNDRY}.Common.Option.ProcessPhase",
        phases=("DetectingLoad", "Heating", "Washing", "Rinsing", "SpinningFinal"),
        default_seconds=2 * 3600,
        forecasts={"BSH.Common.Option.EnergyForecast": 40, "BSH.Common.Option.WaterForecast": 60},
    ),
    "CoffeeMaker": Behaviour(
        phase=f"{_COFFEE}.Status.ProcessPhase",
        phases=("Grinding", "BrewingUnitMovesUp", "CoffeeBrewing", "BrewingUnitMovesDown"),
        default_seconds=40,
        seconds={"HotWater": 30, "MilkFroth": 30, "WarmMilk": 30},
        counters={
            "HotWater": f"{_COFFEE}.Status.BeverageCounterHotWater",
            "Milk": f"{_COFFEE}.Status.BeverageCounterHotMilk",
            "Froth": f"{_COFFEE}.Status.BeverageCounterFrothyMilk",
            "Ristretto": f"{_COFFEE}.Status.BeverageCounterRistrettoEspresso",
            "Espresso": f"{_COFFEE}.Status.BeverageCounterRistrettoEspresso",
            "Cappuccino": f"{_COFFEE}.Status.BeverageCounterCoffeeAndMilk",
            "Latte": f"{_COFFEE}.Status.BeverageCounterCoffeeAndMilk",
            "Flat": f"{_COFFEE}.Status.BeverageCounterCoffeeAndMilk",
            "Cortado": f"{_COFFEE}.Status.BeverageCounterCoffeeAndMilk",
            "": f"{_COFFEE}.Status.BeverageCounterCoffee",
        },
    ),
}
# A dryer reports no phase; its programs last as long as a heat-pump dryer's
# usually do when drying to the cupboard, less for ironing, more for
# cupboard-plus (assumptions, not documented figures).
BEHAVIOURS["Dryer"] = Behaviour(
    default_seconds=2 * 3600,
    seconds={"Cotton": 3 * 3600, "Synthetic": 1.5 * 3600, "Mix": 1.75 * 3600, "Blankets": 2 * 3600, "BusinessShirts": 40 * 60},
    scaled_by={"LaundryCare.Dryer.Option.DryingTarget": {"IronDry": 0.75, "CupboardDry": 1.0, "CupboardDryPlus": 1.15}},
)
GENERIC = Behaviour()


def behaviour_of(appliance_type: str) -> Behaviour:
    return BEHAVIOURS.get(appliance_type, GENERIC)


@dataclass(frozen=True)
class Moment:
    """Where a run stands: what the appliance reports about it now."""

    stage: Stage
    delay_left: float = 0.0  # until the program starts
    remaining: float = 0.0  # of the program itself
    progress: int = 0  # percent
    phase: int = 0  # index into Behaviour.phases


@dataclass
class ProgramRun:
    """One run of one program, in appliance seconds."""

    program: int  # uid
    started: float  # when the start was accepted
    delay: float  # delayed start
    duration: float  # of the program itself
    phases: int = 0  # how many phases the behaviour names
    paused_at: float | None = None
    paused_for: float = 0.0  # time spent paused so far

    def at(self, now: float) -> Moment:
        if now < self.started + self.delay:
            return Moment(Stage.DELAYED, delay_left=self.started + self.delay - now, remaining=self.duration)
        stopped = self.paused_at if self.paused_at is not None else now
        elapsed = max(0.0, stopped - self.started - self.delay - self.paused_for)
        if elapsed >= self.duration:
            return Moment(Stage.FINISHED, progress=100, phase=max(0, self.phases - 1))
        fraction = elapsed / self.duration if self.duration else 1.0
        phase = min(self.phases - 1, int(fraction * self.phases)) if self.phases else 0
        stage = Stage.PAUSED if self.paused_at is not None else Stage.RUNNING
        return Moment(stage, remaining=self.duration - elapsed, progress=int(fraction * 100), phase=phase)

    def pause(self, now: float) -> None:
        if self.paused_at is None:
            self.paused_at = now

    def resume(self, now: float) -> None:
        if self.paused_at is not None:
            self.paused_for += now - self.paused_at
            self.paused_at = None


def reported_seconds(seconds: float, duration: float) -> int:
    """A time as appliances report it: whole minutes, rounded up, for anything long."""
    step = 60 if duration >= 600 else 1
    return int(math.ceil(seconds / step - 1e-9) * step)
