"""Handshake time, client <-> simulator on loopback, for each transport.

Connect + the whole set-up of PROTOCOL.md §3 (services, info, deviceReady,
network info, all values, all description changes) with the dishwasher
profile from the test fixtures.
Run: python bench/handshake.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hcpy.appliance.profile_xml import parse_profile  # noqa: E402
from hcpy.protocol.session import Session  # noqa: E402
from hcpy.protocol.tlspsk import BACKEND  # noqa: E402
from hcpy.protocol.transport import Endpoint, Transport  # noqa: E402
from hcpy.simulator import SimulatedAppliance, Simulator  # noqa: E402

STEM = ROOT / "hcpy" / "simulator" / "profiles" / "SIEMENS-SN658X06TE-000000000000"


def measure(transport: str, rounds: int) -> list[float]:
    profile = parse_profile(
        Path(f"{STEM}_DeviceDescription.xml").read_bytes(), Path(f"{STEM}_FeatureMapping.xml").read_bytes()
    )
    psk = os.urandom(32)
    iv = os.urandom(16) if transport == "aes" else None
    times = []
    with Simulator(SimulatedAppliance(profile), psk, iv) as sim:
        for _ in range(rounds):
            session = Session(Transport(Endpoint("127.0.0.1", psk, iv, sim.port)), device_id="0123456789abcdef")
            start = time.perf_counter()
            session.connect()
            times.append(time.perf_counter() - start)
            session.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    print(f"TLS back-end: {BACKEND} (Python {sys.version.split()[0]})")
    print(f"{'transport':10} {'rounds':>6} {'median ms':>10} {'p90 ms':>8} {'max ms':>8}")
    for transport in ("tls", "aes"):
        times = sorted(measure(transport, args.rounds))
        p90 = times[int(0.9 * (len(times) - 1))]
        print(
            f"{transport:10} {len(times):6d} {statistics.median(times) * 1e3:10.1f} "
            f"{p90 * 1e3:8.1f} {times[-1] * 1e3:8.1f}"
        )


if __name__ == "__main__":
    main()
