"""`hc-login scan`: the appliances that announce themselves by mDNS, and their host in devices.json."""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click

from hcpy.appliance.devices import load_devices, save_devices
from hcpy.appliance.entry import ApplianceEntry
from hcpy.errors import StepFailed
from hcpy.protocol import mdns
from hcpy.protocol.transport import AES_PORT, TLS_PORT


def checked_interfaces(addresses: tuple[str, ...]) -> list[str] | None:
    """The interfaces to listen on (None: all); each is named by its IPv4 address."""
    for address in addresses:
        try:
            ipaddress.IPv4Address(address)
        except ValueError:
            raise click.UsageError(f"--scan-interface takes an interface's IPv4 address, not {address!r}") from None
    return list(addresses) or None


@dataclass
class Scan:
    """What one scan heard, and what it did to devices.json."""

    found: list[mdns.Found] = field(default_factory=list)
    placed: list[tuple[ApplianceEntry, mdns.Found]] = field(default_factory=list)  # devices.json's appliances heard
    changed: list[str] = field(default_factory=list)  # "name: host a -> b, port …", one per appliance changed
    missing: list[str] = field(default_factory=list)  # devices.json's appliances not heard
    written: bool = False
    sentence: str = ""  # how it ended, when nothing was written


def scan_network(devices_path: Path, seconds: float, interfaces: list[str] | None) -> None:
    """hc-login scan: the table of what was heard, and what changed in devices.json."""
    scan_hosts(devices_path, seconds, interfaces, say=click.echo, heard=_print_table)


def scan_hosts(
    devices_path: Path,
    seconds: float,
    interfaces: list[str] | None,
    *,
    say: Callable[[str], None] = lambda line: None,
    heard: Callable[[list[mdns.Found]], None] = lambda found: None,
) -> Scan:
    """Listen for the appliances for up to `seconds`; set the host (and port) of those devices.json has.

    StepFailed when nothing could listen, or when rewriting devices.json would drop parts of it.
    """
    entries = load_devices(devices_path) if devices_path.exists() else None
    wanted = [e.ha_id for e in entries or [] if e.ha_id]
    scan = Scan()

    def ended(sentence: str) -> Scan:
        scan.sentence = sentence
        say(sentence)
        return scan

    def heard_all(found: list[mdns.Found]) -> bool:
        # Nothing more to wait for once every appliance of devices.json answered.
        return bool(wanted) and all(any(f.address and mdns.matches(f, w) for f in found) for w in wanted)

    try:
        scan.found = mdns.browse(seconds, interfaces=interfaces, enough=heard_all)
    except OSError as exc:
        raise StepFailed(f"cannot listen for mDNS on this machine: {exc}") from None
    if not scan.found:
        return ended(
            f"No Home Connect appliance announced itself within {seconds:g} s. Appliances that are switched off"
            " (or whose Wi-Fi sleeps) stay silent, and mDNS does not cross routers or VLANs: run this on the"
            " appliances' network, or try a longer --scan-time."
        )
    heard(scan.found)
    if entries is None:
        return ended(
            f"{devices_path} does not exist yet: get the keys first (hc-login or hc-login --import), then scan again."
        )

    def match(entry: ApplianceEntry) -> mdns.Found | None:
        return next((f for f in scan.found if entry.ha_id and f.address and mdns.matches(f, entry.ha_id)), None)

    matched = [(entry, match(entry)) for entry in entries]
    updated: list[ApplianceEntry] = []
    for entry, found in matched:
        new = placed(entry, found) if found else None
        updated.append(new or entry)
        if found is not None:
            scan.placed.append((new or entry, found))
        if new is None:
            continue
        what = [f"host {entry.host} -> {new.host}"] if new.host != entry.host else []
        if new.port != entry.port:
            what.append(f"port {entry.port or 'default'} -> {new.port or 'default'}")
        scan.changed.append(f"{entry.name}: {', '.join(what)}")
    scan.missing = [entry.name for entry, found in matched if entry.ha_id and found is None]
    if scan.missing:
        say(f"Not heard (switched off, or on another network): {', '.join(scan.missing)}")
    if all(found is None for _, found in matched):
        return ended(f"None of these is in {devices_path} (its appliances are matched by haId); nothing changed.")
    if not scan.changed:
        return ended(f"{devices_path}: every appliance heard already has its address; nothing changed.")
    if any(e.profile.problems for e in entries):
        # Rewriting goes through the model, which left those parts out.
        raise StepFailed(
            f"{devices_path} has parts hcpy cannot read (see the warnings above) that rewriting it would drop,"
            " so it was not changed; set these by hand: " + "; ".join(scan.changed)
        )
    try:
        save_devices(devices_path, updated, merge=False)
    except OSError as exc:
        raise StepFailed(
            f"{devices_path} cannot be written ({exc.strerror or type(exc).__name__}): make its folder writable "
            "for hcpy, then scan again"
        ) from None
    scan.written = True
    for line in scan.changed:
        say(line)
    count = len(scan.changed)
    say(f"Wrote {devices_path} ({count} appliance{'s' * (count != 1)} changed)")
    return scan


def placed(entry: ApplianceEntry, found: mdns.Found) -> ApplianceEntry | None:
    """`entry` with the host (and port) where `found` is, or None when it already points there (or nowhere)."""
    if found.address is None:
        return None
    default = AES_PORT if entry.iv is not None else TLS_PORT
    if found.port is None or found.port == (entry.port or default):
        port = entry.port
    else:
        # The announced port is where the appliance listens; its default stays implicit.
        port = None if found.port == default else found.port
    # A name that resolves to the address heard is better kept: it survives DHCP.
    host_ok = entry.host == found.address or found.address in _addresses_of(entry.host)
    host = entry.host if host_ok else found.address
    if host == entry.host and port == entry.port:
        return None
    return dataclasses.replace(entry, host=host, port=port)


def _addresses_of(host: str) -> set[str]:
    try:
        ipaddress.ip_address(host)
        return {host}
    except ValueError:
        pass
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)}
    except (OSError, UnicodeError):
        return set()


def _print_table(found: list[mdns.Found]) -> None:
    rows = [("haId", "brand", "type", "address")]
    for f in found:
        address = f.address or "(no IPv4 address)"
        if f.address and f.port and f.port not in (TLS_PORT, AES_PORT):
            address += f":{f.port}"
        rows.append((f.ha_id, f.brand or "?", f.type or "?", address))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
