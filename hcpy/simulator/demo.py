"""The demo's appliances, served in this process: what `hc2mqtt --demo` bridges.

The example profiles of `python -m hcpy.simulator --demo` (a TLS dishwasher
and coffee machine, an AES washer, and invented ones: an oven, a hood, a
fridge-freezer, a dryer and a hob), each on a free loopback port, with fresh
keys that live in memory only, programs running `speed` times faster than
real time and Remote Start allowed, as after pressing its button::

    with DemoAppliances(speed=60) as entries:   # devices.json entries pointing at them
        ...
"""

from __future__ import annotations

import dataclasses
import logging
import threading

from ..appliance.entry import ApplianceEntry
from .appliance import SimulatedAppliance
from .clock import ScaledClock
from .examples import demo_entries
from .server import Simulator

log = logging.getLogger("hcpy.simulator")

HOST = "127.0.0.1"  # never reachable from elsewhere


class DemoAppliances:
    """Start the example appliances on entering; their entries are what it returns."""

    def __init__(self, speed: float = 60.0, host: str = HOST):
        if not speed > 0:
            raise ValueError(f"the demo's speed must be a positive number, not {speed:g}")
        self.speed = speed
        self.host = host
        self.simulators: list[Simulator] = []
        self.entries: list[ApplianceEntry] = []

    def start(self) -> list[ApplianceEntry]:
        try:
            for entry in demo_entries(self.host):
                sim = Simulator(
                    SimulatedAppliance(entry.profile, clock=ScaledClock(self.speed), remote_start=True),
                    entry.psk,
                    entry.iv_bytes,
                    host=self.host,
                    port=0,
                    name=entry.name,
                    keep_history=False,
                ).start()
                self.simulators.append(sim)
                self.entries.append(dataclasses.replace(entry, port=sim.port))
                log.debug("%s: simulated on %s", entry.name, sim.url)
        except BaseException:
            self.stop()
            raise
        return list(self.entries)

    def stop(self) -> None:
        """Stop every simulator, side by side: within about a second in all."""
        threads = [threading.Thread(target=sim.stop, name=f"stop-{sim.name}", daemon=True) for sim in self.simulators]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(2.0)
        self.simulators = []

    def __enter__(self) -> list[ApplianceEntry]:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
