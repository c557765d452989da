"""A simulated Home Connect appliance: the appliance side of the local protocol.

Test infrastructure for hcpy and a tool for users who want to try hcpy
before pointing it at their kitchen::

    app = SimulatedAppliance(profile)
    with Simulator(app, psk) as sim:      # give iv= for the AES transport
        print(sim.url)                    # wss://127.0.0.1:PORT/homeconnect

The appliance runs programs on its `clock` (`lifecycle` says how each type
does, `runner` reports it as a real appliance would); `ManualClock` lets a
test turn time itself, `ScaledClock(speed)` runs faster than real time.

`python -m hcpy.simulator --devices config/devices.json` serves every
appliance of a devices.json; what a user does by hand at the appliance is
typed at its console (`console`). With `--advertise` (or an `advertise.Advertiser`)
the appliances announce themselves by mDNS as real ones do, on one interface
(loopback by default). The example appliances (`examples`: real profiles in
`profiles/`, fresh keys) are the tests' fixtures and the demos' appliances:
`--demo FILE` here, and `hc2mqtt --demo` through `demo.DemoAppliances`.
"""

from __future__ import annotations

from .appliance import SERVICE_PRESETS, SimulatedAppliance
from .changes import Changes, Result
from .clock import ManualClock, ScaledClock
from .server import Simulator

__all__ = ["SERVICE_PRESETS", "Changes", "ManualClock", "Result", "ScaledClock", "SimulatedAppliance", "Simulator"]
