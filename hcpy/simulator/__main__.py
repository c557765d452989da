"""python -m hcpy.simulator: serve the appliances of a devices.json, simulated.

Each appliance listens on its entry's own `port` when it has one, else on
the next port from --base-port (or a free one with --base-port 0), on a
loopback address by default. Point hcpy at them by setting each appliance's
host and port in a copy of devices.json, or let `--demo FILE` write such a
file from the example profiles, ready for `hc2mqtt.py --devices_file FILE`.

Programs run on the appliance's clock, `--speed` times faster than real
time. What a user does by hand at the appliance (door, Remote Start, power)
is typed at the console (`help` lists it).

With --advertise each appliance also announces itself by mDNS, as real ones
do, on the interface of --host only (loopback by default), so that
`hc_login.py --scan` and hc2mqtt's lookup by haId can be tried.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import signal
import sys
import threading
from pathlib import Path

from ..appliance.devices import load_devices, save_devices
from ..appliance.entry import ApplianceEntry
from ..errors import HcpyError
from .advertise import Advertiser
from .appliance import SERVICE_PRESETS, SimulatedAppliance
from .clock import ScaledClock
from .console import Console
from .examples import demo_entries
from .export import export_profile_zips
from .server import Simulator

log = logging.getLogger("hcpy.simulator")

DEMO_PORT = 8443


def write_demo(path: str, host: str, first_port: int) -> str:
    """Write a devices.json of the example appliances with fresh keys, once.

    An existing file is kept, so its keys and ports stay what hc2mqtt knows.
    The washer gets an IV, so both transports are on show.
    """
    if Path(path).exists():
        return path
    entries = demo_entries(host, first_port)
    save_devices(path, entries, merge=False)
    log.info("wrote %s with %d example appliances", path, len(entries))
    return path


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m hcpy.simulator",
        description="Serve simulated Home Connect appliances from a devices.json, until Ctrl-C.",
    )
    parser.add_argument("--devices", default="config/devices.json", help="devices.json to read (default: %(default)s)")
    parser.add_argument(
        "--demo",
        metavar="FILE",
        help="serve the example appliances, writing FILE (a devices.json pointing at them) if it does not exist",
    )
    parser.add_argument(
        "--export-profiles",
        metavar="DIR",
        help="write a profile zip (with a fresh key) of each example appliance into DIR, "
        "to try `hc_login.py --import DIR`, and exit",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--base-port",
        type=int,
        default=8443,
        help="port of the first appliance, the next ones count up; 0 picks free ports (default: %(default)s)",
    )
    parser.add_argument("--name", action="append", default=[], help="serve only this appliance (repeatable)")
    parser.add_argument("--services", choices=sorted(SERVICE_PRESETS), default="iz", help="services to advertise (default: %(default)s)")
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="appliance seconds per real second: 60 runs a 3-hour program in 3 minutes (default: %(default)s)",
    )
    parser.add_argument(
        "--remote-start",
        choices=("on", "off"),
        default="on",
        help="whether the appliances start with Remote Start allowed, as after pressing its button (default: %(default)s)",
    )
    parser.add_argument(
        "--advertise",
        action="store_true",
        help="announce the appliances by mDNS (_homeconnect._tcp) on the interface of --host, as real ones do",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every message")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s")
    if not args.speed > 0:
        print(f"--speed must be a positive number, not {args.speed:g}", file=sys.stderr)
        return 2
    if args.export_profiles:
        try:
            written = export_profile_zips(Path(args.export_profiles))
        except OSError as exc:
            print(f"cannot write the profile zips into {args.export_profiles}: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {len(written)} profile zips (fresh keys, mode 0600) into {args.export_profiles}:")
        for path in written:
            print(f"  {path.name}")
        return 0
    if args.advertise and not _announceable(args.host):
        # Announcing on every interface would put the simulator on the LAN by accident.
        print(f"--advertise announces on the interface of --host: give one IPv4 address, not {args.host!r}", file=sys.stderr)
        return 2
    if args.demo:
        try:
            args.devices = write_demo(args.demo, args.host, args.base_port or DEMO_PORT)
        except (HcpyError, OSError) as exc:
            print(f"cannot write the demo devices file {args.demo}: {exc}", file=sys.stderr)
            return 2
    try:
        entries = load_devices(args.devices)
    except HcpyError as exc:  # its message names the file and what to do (a file it cannot read too)
        print(exc, file=sys.stderr)
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
    # Before the first "… on ws://…" line: whoever reads it may stop the
    # simulator at once, and SIGTERM must then end it cleanly, not kill it.
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    sims = []
    served = []  # the entry of each simulator
    for index, entry in enumerate(chosen):
        port = entry.port or (0 if args.base_port == 0 else args.base_port + index)
        desc = entry.profile.description
        if not entry.profile.features:
            log.warning("%s: skipped, its entry in %s has no features to simulate", entry.name, args.devices)
            continue
        try:
            sim = Simulator(
                SimulatedAppliance(
                    entry.profile,
                    services=args.services,
                    clock=ScaledClock(args.speed),
                    remote_start=args.remote_start == "on",
                ),
                entry.psk,
                entry.iv_bytes,
                host=args.host,
                port=port,
                name=entry.name,
                keep_history=False,
            ).start()
        except (OSError, ValueError, OverflowError) as exc:  # port taken, bad key, port out of range
            log.error("%s: cannot serve it on %s port %d: %s", entry.name, args.host, port, exc)
            continue
        sims.append(sim)
        served.append(entry)
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

    advertiser = _advertise(sims, served, args.host) if args.advertise else None
    log.info("programs run at %gx real time; type help for the door, Remote Start and power", args.speed)
    if sys.stdin is not None and not sys.stdin.closed:
        if hasattr(signal, "SIGTTIN"):
            # Started in the background (`… &`), reading the terminal would stop
            # the whole simulator; ignored, the read fails and the console ends.
            signal.signal(signal.SIGTTIN, signal.SIG_IGN)
        Console(sims, sys.stdin).start()
    try:
        while not done.wait(1.0):
            pass
    finally:
        log.info("stopping")
        if advertiser is not None:
            advertiser.close()  # goodbyes first, as an appliance switching off
        for sim in sims:
            sim.stop()
    return 0


def _announceable(host: str) -> bool:
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return not address.is_unspecified


def _advertise(sims: list[Simulator], entries: list[ApplianceEntry], host: str) -> Advertiser | None:
    try:
        advertiser = Advertiser([host])
    except Exception as exc:  # noqa: BLE001 - no mDNS is no reason to stop serving
        log.error("cannot announce by mDNS on %s: %s", host, exc)
        return None
    for sim, entry in zip(sims, entries, strict=True):
        try:
            advertiser.add(sim, entry.ha_id)
        except Exception as exc:  # noqa: BLE001 - e.g. the name is taken by another responder
            log.error("%s: cannot announce it by mDNS: %s", entry.name, exc)
    return advertiser


if __name__ == "__main__":
    sys.exit(main())
