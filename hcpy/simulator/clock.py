"""The simulated appliance's sense of time: real, faster than real, or turned by hand.

A program that takes three hours on a real dishwasher runs in three minutes
at speed 60 for a demo, and in no time at all in a test that turns a
`ManualClock` itself.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Appliance seconds since some start; only differences matter."""


class ScaledClock:
    """Monotonic time, `speed` appliance seconds per real second."""

    def __init__(self, speed: float = 1.0):
        if speed <= 0:
            raise ValueError("the speed must be positive")
        self.speed = speed
        self._start = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._start) * self.speed


class ManualClock:
    """Time that moves only when told to: tests are deterministic."""

    speed = None  # nothing ticks by itself

    def __init__(self, start: float = 0.0):
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not run backwards")
        with self._lock:
            self._now += seconds
