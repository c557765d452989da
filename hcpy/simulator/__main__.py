"""python -m hcpy.simulator: serve the appliances of a devices.json, simulated.

Each appliance gets its own port (from --base-port on, or free ones with
--base-port 0) on a loopback address by default. Point hcpy at them by
setting each appliance's host and port in a copy of devices.json.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from ..devices import load_devices
from ..errors import HcpyError
from .appliance import SERVICE_PRESETS, SimulatedAppliance
from .server import Simulator

log = logging.getLogger("hcpy.simulator")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m hcpy.simulator",
        description="Serve simulated Home Connect appliances from a devices.json, until Ctrl-C.",
    )
    parser.add_argument("--devices", default="config/devices.json", help="devices.json to read (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--base-port",
        type=int,
        default=8443,
        help="port of the first appliance, the next ones count up; 0 picks free ports (default: %(default)s)",
    )
    parser.add_argument("--name", action="append", default=[], help="serve only this appliance (repeatable)")
    parser.add_argument("--services", choices=sorted(SERVICE_PRESETS), default="iz", help="services to advertise (default: %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every message")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s")
    try:
        entries = load_devices(args.devices)
    except HcpyError as exc:  # its message names the file and what to do
        print(exc, file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"cannot read {args.devices}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    known = {e.name for e in entries}
    unknown = [n for n in args.name if n not in known]
    if unknown:
        print(
            f"{args.devices} has no appliance named {', '.join(map(repr, unknown))}; "
            f"it has: {', '.join(sorted(known)) or 'none'}",
            file=sys.stderr,
        )
        return 2
    chosen = [e for e in entries if not args.name or e.name in args.name]
    sims = []
    for index, entry in enumerate(chosen):
        port = 0 if args.base_port == 0 else args.base_port + index
        desc = entry.profile.description
        if not entry.profile.features:
            log.warning("%s: skipped, its entry in %s has no features to simulate", entry.name, args.devices)
            continue
        try:
            sim = Simulator(
                SimulatedAppliance(entry.profile, services=args.services),
                entry.psk,
                entry.iv_bytes,
                host=args.host,
                port=port,
                name=entry.name,
            ).start()
        except (OSError, ValueError, OverflowError) as exc:  # port taken, bad key, port out of range
            log.error("%s: cannot serve it on %s port %d: %s", entry.name, args.host, port, exc)
            continue
        sims.append(sim)
        log.info(
            "%s: %s %s %s on %s (transport %s, port %d)",
            entry.name,
            desc.brand,
            desc.type,
            desc.model,
            sim.url,
            sim.transport.upper(),
            sim.port,
        )
    if not sims:
        print("no appliance could be served", file=sys.stderr)
        return 1

    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        while not done.wait(1.0):
            pass
    finally:
        log.info("stopping")
        for sim in sims:
            sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
