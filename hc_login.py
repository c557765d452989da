"""hc-login: get every appliance's key and profile into devices.json.

Two ways in:
  * from the Home Connect cloud, once (a browser login, then everything is
    fetched): `hc-login [--region EU|NA|CN]` (the login token names the
    account's region; the others are tried when it is not the one);
  * offline, from profile zips you already have: `hc-login --import PATH…`.

And one way to find them: `hc-login --scan` lists the appliances that
announce themselves on the network (mDNS) and sets their `host`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import socket
import sys
from pathlib import Path

import click

from hcpy.appliance.devices import load_devices, save_devices
from hcpy.appliance.entry import ApplianceEntry, unique_names
from hcpy.errors import HcpyError
from hcpy.onboarding import cloud
from hcpy.onboarding.importer import import_paths
from hcpy.protocol import mdns
from hcpy.protocol.transport import AES_PORT, TLS_PORT

log = logging.getLogger("hc_login")

PENDING_NAME = ".hc-login-pending.json"

INSTRUCTIONS = """\
1. Open your browser's developer tools (F12) on the Network tab, then open
   this URL in that tab and log in with your Home Connect account:

   {url}

2. After the login the browser tries to open hcauth://auth/prod?code=…
   and fails or shows nothing: that is expected. Find that request in the
   Network tab (filter: hcauth) and copy its whole URL. (A …/redirect_target
   address on the way is not it: it comes before the hcauth:// one.)
"""

PASTE_PROMPT = "Paste the hcauth://auth/prod?code=… URL (or only its code) here: "
STATE_PROMPT = "Now the state=… of the same URL: "

HELP = """Write the keys and profiles of your appliances to devices.json.

\b
Cloud (once, needs your Home Connect login):
  hc-login [--region EU|NA|CN]
  prints a login URL; log in with a browser, copy the hcauth://auth/prod?code=…
  URL from the developer tools' network tab and paste it (or paste only its code,
  then its state). To finish a login in a second run instead:
  hc-login --code 'hcauth://…' (or --code C --state S, percent-encoded or not).
  The account's region is read from the login; --region only names where to
  start (the other regions are tried if that one has no appliances).

\b
Offline, from profile zips you already have (profile downloader zips, the
cloud's profile zips, or folders of them):
  hc-login --import PATH [PATH…] [--key K [--iv IV]] [--host H]
  --key/--iv are needed only for zips without a key inside (one appliance).

\b
Find the appliances on your network (they announce themselves by mDNS):
  hc-login --scan [--scan-time SECONDS]
  lists each appliance heard (haId, brand, type, address) and sets the host
  (and port) of the devices.json entries with that haId to the address heard.

Existing entries in devices.json keep your edits (names, hosts); the file is
only written once everything was fetched. A cloud login also keeps each
appliance's profile as <haId>.zip next to it, for a later --import.
"""


@click.command(help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--devices",
    "devices_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("config/devices.json"),
    show_default=True,
    help="devices.json to create or update.",
)
@click.option(
    "--region",
    type=click.Choice(sorted(cloud.REGIONS), case_sensitive=False),
    default=None,
    help="Region of your Home Connect account (default: the one the login names, else EU).",
)
@click.option("--code", help="Finish an earlier run's login: the pasted hcauth:// URL, or just its code.")
@click.option("--state", help="The state= of the hcauth:// URL, when --code is only the code.")
@click.option("--import", "do_import", is_flag=True, help="Import profile zips/folders instead of using the cloud.")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--key",
    envvar="HCPY_KEY",
    help="Key for an imported profile that carries none (or HCPY_KEY, which stays out of shell history).",
)
@click.option("--iv", envvar="HCPY_IV", help="IV for an imported AES profile that carries none (or HCPY_IV).")
@click.option("--host", help="Host (name or IP) of the appliance, for a single imported appliance.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.01),
    default=cloud.DEFAULT_TIMEOUT[1],
    show_default=True,
    help="Seconds to wait for each answer of the cloud.",
)
@click.option("--scan", is_flag=True, help="List the appliances announcing themselves on the network; set their host in devices.json.")
@click.option(
    "--scan-time",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds --scan listens (it stops earlier once every appliance of devices.json was heard).",
)
@click.option(
    "--scan-interface",
    "scan_interfaces",
    multiple=True,
    metavar="IPV4",
    help="Listen only on the network interface with this address (repeatable; default: all).",
)
@click.option("--cloud-base", envvar="HCPY_CLOUD_BASE", hidden=True, help="Send every cloud request to this base URL.")
@click.option("-v", "--verbose", is_flag=True, help="Log debug details (never keys or tokens).")
def main(
    devices_path: Path,
    region: str | None,
    code: str | None,
    state: str | None,
    do_import: bool,
    paths: tuple[Path, ...],
    key: str | None,
    iv: str | None,
    host: str | None,
    timeout: float,
    scan: bool,
    scan_time: float,
    scan_interfaces: tuple[str, ...],
    cloud_base: str | None,
    verbose: bool,
) -> None:
    if scan and (do_import or paths or code or state or key or iv or host):
        raise click.UsageError("--scan goes alone (with --devices, --scan-time, --scan-interface)")
    for address in scan_interfaces:
        try:
            ipaddress.IPv4Address(address)
        except ValueError:
            raise click.UsageError(f"--scan-interface takes an interface's IPv4 address, not {address!r}") from None
    if paths and not do_import:
        raise click.UsageError("PATH arguments are for --import; add --import to import them")
    if do_import and not paths:
        raise click.UsageError("--import needs at least one zip file or folder")
    if not do_import and (key or iv or host):
        raise click.UsageError("--key, --iv and --host are for --import")
    if iv and not key:
        raise click.UsageError("--iv needs --key")
    if state and not code:
        raise click.UsageError("--state goes with --code")

    root = logging.getLogger()
    old_level = root.level
    handler = _log_to_stderr(verbose)
    try:
        if scan:
            _scan(devices_path, scan_time, list(scan_interfaces) or None)
        elif do_import:
            _import(devices_path, paths, key=key, iv=iv, host=host)
        else:
            ep = cloud.endpoints(region or cloud.DEFAULT_REGION, cloud_base)
            _login(devices_path, ep, code=code, state=state, timeout=timeout, region=region, cloud_base=cloud_base)
    except HcpyError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _login(
    devices_path: Path,
    ep: cloud.Endpoints,
    *,
    code: str | None,
    state: str | None,
    timeout: float,
    region: str | None,
    cloud_base: str | None,
) -> None:
    pending_path = devices_path.parent / PENDING_NAME
    if code:
        pending = cloud.load_pending(pending_path)
        if pending is None:
            raise click.ClickException(f"no login in progress in {devices_path.parent}: run hc-login without --code first")
        redirect = cloud.with_state(cloud.parse_pasted(code), state)
    else:
        pending = cloud.start_login(ep, named_region=region)
        cloud.save_pending(pending_path, pending)
        click.echo(INSTRUCTIONS.format(url=pending.authorize_url))
        pasted = _read_pasted(PASTE_PROMPT)
        if not pasted.strip():
            raise click.ClickException(
                "nothing was pasted. To finish this login later (within a few minutes), run "
                "hc-login --code 'hcauth://auth/prod?code=…&state=…'"
            )
        redirect = cloud.parse_pasted(pasted)
        if redirect.state is None:
            # Only the code (hcpy2-0's "Input code:"): its state is asked for next.
            redirect = cloud.with_state(redirect, _read_pasted(STATE_PROMPT))

    auth_code = cloud.checked_code(redirect, pending)
    client = cloud.CloudClient(pending.endpoints, timeout=(min(cloud.DEFAULT_TIMEOUT[0], timeout), timeout))
    token = client.exchange_code(pending, auth_code)
    pending_path.unlink(missing_ok=True)  # the code is spent; the verifier is of no further use
    click.echo("Logged in.")

    given = (region or pending.named_region or "").upper() or None
    regions = [cloud.endpoints(r, cloud_base) for r in cloud.region_order(token.region, given)]
    result = cloud.download(client, token, regions=regions, given_region=given, progress=click.echo)
    if not result.paired:
        asked = result.asked
        where = f"in region {asked[0]}" if len(asked) == 1 else f"in any region ({', '.join(asked)})"
        raise click.ClickException(
            f"the account has no paired appliances {where}, demo ones aside: pair them in the Home Connect app "
            f"first; {devices_path} was not changed"
        )
    if not result.entries:
        raise click.ClickException(f"no appliance could be fetched (see the warnings above); {devices_path} was not changed")
    _save(devices_path, result.entries, skipped=len(result.skipped))
    _keep_profiles(devices_path.parent, result)


def _keep_profiles(folder: Path, result: cloud.Download) -> None:
    """Each profile zip next to devices.json (as hcpy2-0 keeps them), for a later --import."""
    kept = []
    for appliance, data in zip(result.fetched, result.profiles, strict=True):
        try:
            kept.append(cloud.save_profile_zip(folder, appliance.ha_id, data).name)
        except OSError as exc:
            log.warning("could not keep the profile of %s in %s (%s)", appliance.label, folder, exc.strerror or exc)
    if kept:
        click.echo(f"Kept the profiles in {folder} for a later hc-login --import: {', '.join(kept)}")


def _import(devices_path: Path, paths: tuple[Path, ...], *, key: str | None, iv: str | None, host: str | None) -> None:
    # Appliances devices.json already has keep their key when a new profile comes without one.
    known = {}
    if devices_path.exists():
        try:
            known = {e.ha_id: (e.key, e.iv) for e in load_devices(devices_path, skip_broken=True) if e.ha_id}
        except HcpyError:
            pass  # save_devices says what is wrong with the file
    result = import_paths(paths, key=key, iv=iv, host=host, known=known)
    for problem in result.problems:
        log.warning("%s", problem)
    if not result.entries:
        raise click.ClickException(f"nothing could be imported (see the warnings above); {devices_path} was not changed")
    for entry, source in zip(result.entries, result.sources, strict=True):
        desc = entry.profile.description
        click.echo(f"{entry.name} ({desc.brand} {desc.model}): imported from {source}")
    _save(devices_path, result.entries, skipped=len(result.problems))


def _save(devices_path: Path, entries: list, *, skipped: int) -> None:
    written = save_devices(devices_path, unique_names(entries), merge=True)
    names = ", ".join(e.name for e in written)
    click.echo(f"Wrote {devices_path} ({len(written)} appliance{'s' * (len(written) != 1)}: {names})")
    if skipped:
        click.echo(f"{skipped} could not be fetched or imported: see the warnings above.", err=True)


def _scan(devices_path: Path, seconds: float, interfaces: list[str] | None) -> None:
    entries = load_devices(devices_path) if devices_path.exists() else None
    wanted = [e.ha_id for e in entries or [] if e.ha_id]

    def heard_all(found: list[mdns.Found]) -> bool:
        # Nothing more to wait for once every appliance of devices.json answered.
        return bool(wanted) and all(any(f.address and mdns.matches(f, w) for f in found) for w in wanted)

    try:
        found = mdns.browse(seconds, interfaces=interfaces, enough=heard_all)
    except OSError as exc:
        raise click.ClickException(f"cannot listen for mDNS on this machine: {exc}") from None
    if not found:
        click.echo(
            f"No Home Connect appliance announced itself within {seconds:g} s. Appliances that are switched off"
            " (or whose Wi-Fi sleeps) stay silent, and mDNS does not cross routers or VLANs: run this on the"
            " appliances' network, or try a longer --scan-time."
        )
        return
    _print_table(found)
    if entries is None:
        click.echo(f"{devices_path} does not exist yet: get the keys first (hc-login or hc-login --import), then scan again.")
        return

    def heard(entry: ApplianceEntry) -> mdns.Found | None:
        return next((f for f in found if entry.ha_id and f.address and mdns.matches(f, entry.ha_id)), None)

    matched = [(entry, heard(entry)) for entry in entries]
    changed: list[str] = []
    updated: list[ApplianceEntry] = []
    for entry, match in matched:
        new = _placed(entry, match) if match else None
        updated.append(new or entry)
        if new is None:
            continue
        what = [f"host {entry.host} -> {new.host}"] if new.host != entry.host else []
        if new.port != entry.port:
            what.append(f"port {entry.port or 'default'} -> {new.port or 'default'}")
        changed.append(f"{entry.name}: {', '.join(what)}")
    missing = [entry.name for entry, match in matched if entry.ha_id and match is None]
    if missing:
        click.echo(f"Not heard (switched off, or on another network): {', '.join(missing)}")
    if all(match is None for _, match in matched):
        click.echo(f"None of these is in {devices_path} (its appliances are matched by haId); nothing changed.")
        return
    if not changed:
        click.echo(f"{devices_path}: every appliance heard already has its address; nothing changed.")
        return
    if any(e.profile.problems for e in entries):
        # Rewriting goes through the model, which left those parts out.
        raise click.ClickException(
            f"{devices_path} has parts hcpy cannot read (see the warnings above) that rewriting it would drop,"
            " so it was not changed; set these by hand: " + "; ".join(changed)
        )
    save_devices(devices_path, updated, merge=False)
    for line in changed:
        click.echo(line)
    click.echo(f"Wrote {devices_path} ({len(changed)} appliance{'s' * (len(changed) != 1)} changed)")


def _placed(entry: ApplianceEntry, found: mdns.Found) -> ApplianceEntry | None:
    """`entry` with the host (and port) where `found` is, or None when it already points there."""
    default = AES_PORT if entry.iv is not None else TLS_PORT
    if found.port is None or found.port == (entry.port or default):
        port = entry.port
    else:
        # The announced port is where the appliance listens; its default stays implicit.
        port = None if found.port == default else found.port
    address = found.address
    if address is None:  # only announcements with an address are matched; nothing to place it at
        return None
    # A name that resolves to the address heard is better kept: it survives DHCP.
    host_ok = entry.host == address or address in _addresses_of(entry.host)
    host = entry.host if host_ok else address
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


def _read_pasted(prompt: str) -> str:
    """One line from the user; hidden on a terminal, since it holds the login code."""
    if sys.stdin is not None and sys.stdin.isatty():
        return click.prompt(prompt.rstrip(": ").rstrip(), prompt_suffix=": ", hide_input=True, default="", show_default=False)
    click.echo(prompt, nl=False)
    line = sys.stdin.readline() if sys.stdin is not None else ""
    click.echo()
    return line


def _log_to_stderr(verbose: bool) -> logging.Handler:
    # A handler per run (not basicConfig): the stream is whatever stderr is now.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    if verbose:
        root.setLevel(logging.DEBUG)
    elif root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    return handler


if __name__ == "__main__":
    main()
