"""hc-login: get every appliance's key and profile into devices.json.

Three jobs, one subcommand each, each with only its own options:
  * `hc-login login [--region EU|NA|CN]`: from the Home Connect cloud, once (a
    browser login, then everything is fetched; the login token names the
    account's region, the others are tried when it is not the one);
  * `hc-login import PATH…`: offline, from profile zips you already have;
  * `hc-login scan`: lists the appliances that announce themselves on the
    network (mDNS) and sets their `host`.
The older one-command forms (`hc-login`, `hc-login --import PATH…`,
`hc-login --scan`, hcpy2-0's `hc-login devices.json`) still run: `login_args`
reads them as the subcommand they mean.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from hcpy.app.login_args import LegacyUsageError, subcommand_args
from hcpy.app.login_scan import checked_interfaces, scan_network
from hcpy.app.login_steps import cloud_login, known_keys, save_imported
from hcpy.errors import HcpyError
from hcpy.onboarding.client import DEFAULT_TIMEOUT
from hcpy.onboarding.importer import import_paths
from hcpy.onboarding.pasted import parse_pasted, with_state
from hcpy.onboarding.pending_login import load_pending, save_pending, start_login
from hcpy.onboarding.regions import DEFAULT_REGION, REGIONS, Endpoints, endpoints

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
  hc-login login [--region EU|NA|CN]
  (or only: hc-login [--region EU|NA|CN])
  prints a login URL; log in with a browser, copy the hcauth://auth/prod?code=…
  URL from the developer tools' network tab and paste it (or paste only its code,
  then its state). To finish a login in a second run instead:
  hc-login login --code 'hcauth://…' (or --code C --state S, percent-encoded or not).
  The account's region is read from the login; --region only names where to
  start (the other regions are tried if that one has no appliances).

\b
Offline, from profile zips you already have (profile downloader zips, the
cloud's profile zips, or folders of them):
  hc-login import PATH [PATH…] [--key K [--iv IV]] [--host H]
  (or: hc-login --import PATH [PATH…] …)
  --key/--iv are needed only for zips without a key inside (one appliance).

\b
Find the appliances on your network (they announce themselves by mDNS):
  hc-login scan [--scan-time SECONDS]   (or: hc-login --scan …)
  lists each appliance heard (haId, brand, type, address) and sets the host
  (and port) of the devices.json entries with that haId to the address heard.

Existing entries in devices.json keep your edits (names, hosts); the file is
only written once everything was fetched. A cloud login also keeps each
appliance's profile as <haId>.zip next to it, for a later import.

\b
Each command's options: hc-login COMMAND --help
"""

F = TypeVar("F", bound=Callable[..., Any])


def _common(command: F) -> F:
    """The options every job has: where devices.json is, and how much to log."""
    command = click.option("-v", "--verbose", is_flag=True, help="Log debug details (never keys or tokens).")(command)
    return click.option(
        "--devices",
        "devices_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=Path("config/devices.json"),
        show_default=True,
        help="devices.json to create or update.",
    )(command)


class _Commands(click.Group):
    """Runs a subcommand; an older command line runs as the subcommand it means."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            args = subcommand_args(args, self.commands)
        except LegacyUsageError as exc:
            raise click.UsageError(str(exc), ctx) from None
        return super().parse_args(ctx, args)


@click.group(
    name="hc-login",
    cls=_Commands,
    help=HELP,
    no_args_is_help=False,
    subcommand_metavar="[COMMAND] [ARGS]...",
    context_settings={"help_option_names": ["-h", "--help"]},
)
def main() -> None:
    pass


@main.command("login", short_help="From the Home Connect cloud (the default).")
@_common
@click.option(
    "--region",
    type=click.Choice(sorted(REGIONS), case_sensitive=False),
    default=None,
    help="Region of your Home Connect account (default: the one the login names, else EU).",
)
@click.option("--code", help="Finish an earlier run's login: the pasted hcauth:// URL, or just its code.")
@click.option("--state", help="The state= of the hcauth:// URL, when --code is only the code.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.01),
    default=DEFAULT_TIMEOUT[1],
    show_default=True,
    help="Seconds to wait for each answer of the cloud.",
)
@click.option("--cloud-base", envvar="HCPY_CLOUD_BASE", hidden=True, help="Send every cloud request to this base URL.")
def login_command(
    devices_path: Path,
    verbose: bool,
    region: str | None,
    code: str | None,
    state: str | None,
    timeout: float,
    cloud_base: str | None,
) -> None:
    """From the Home Connect cloud: a browser login, then every appliance's key and profile."""
    if state and not code:
        raise click.UsageError("--state goes with --code")
    with _running(verbose):
        ep = endpoints(region or DEFAULT_REGION, cloud_base)
        _login(devices_path, ep, code=code, state=state, timeout=timeout, region=region, cloud_base=cloud_base)


@main.command("import", short_help="From profile zips you already have.")
@_common
@click.argument("paths", nargs=-1, required=True, metavar="PATH...", type=click.Path(path_type=Path))
@click.option(
    "--key",
    envvar="HCPY_KEY",
    help="Key for an imported profile that carries none (or HCPY_KEY, which stays out of shell history).",
)
@click.option("--iv", envvar="HCPY_IV", help="IV for an imported AES profile that carries none (or HCPY_IV).")
@click.option("--host", help="Host (name or IP) of the appliance, for a single imported appliance.")
def import_command(
    devices_path: Path, verbose: bool, paths: tuple[Path, ...], key: str | None, iv: str | None, host: str | None
) -> None:
    """Offline, from profile zips or folders of them you already have."""
    if iv and not key:
        raise click.UsageError("--iv needs --key")
    with _running(verbose):
        _import(devices_path, paths, key=key, iv=iv, host=host)


@main.command("scan", short_help="Find the appliances on the network; set their host.")
@_common
@click.option(
    "--scan-time",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds to listen (it stops earlier once every appliance of devices.json was heard).",
)
@click.option(
    "--scan-interface",
    "scan_interfaces",
    multiple=True,
    metavar="IPV4",
    help="Listen only on the network interface with this address (repeatable; default: all).",
)
def scan_command(devices_path: Path, verbose: bool, scan_time: float, scan_interfaces: tuple[str, ...]) -> None:
    """List the appliances announcing themselves on the network; set their host in devices.json."""
    interfaces = checked_interfaces(scan_interfaces)
    with _running(verbose):
        scan_network(devices_path, scan_time, interfaces)


@contextmanager
def _running(verbose: bool) -> Iterator[None]:
    """Log to stderr for this run; a failure the user can act on is one sentence, not a traceback."""
    root = logging.getLogger()
    old_level = root.level
    handler = _log_to_stderr(verbose)
    try:
        yield
    except HcpyError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _login(
    devices_path: Path,
    ep: Endpoints,
    *,
    code: str | None,
    state: str | None,
    timeout: float,
    region: str | None,
    cloud_base: str | None,
) -> None:
    pending_path = devices_path.parent / PENDING_NAME
    if code:
        pending = load_pending(pending_path)
        if pending is None:
            raise click.ClickException(
                f"no login in progress in {devices_path.parent}: run hc-login without --code first"
            )
        redirect = with_state(parse_pasted(code), state)
    else:
        pending = start_login(ep, named_region=region)
        save_pending(pending_path, pending)
        click.echo(INSTRUCTIONS.format(url=pending.authorize_url))
        pasted = _read_pasted(PASTE_PROMPT)
        if not pasted.strip():
            raise click.ClickException(
                "nothing was pasted. To finish this login later (within a few minutes), run "
                "hc-login --code 'hcauth://auth/prod?code=…&state=…'"
            )
        redirect = parse_pasted(pasted)
        if redirect.state is None:
            # Only the code (hcpy2-0's "Input code:"): its state is asked for next.
            redirect = with_state(redirect, _read_pasted(STATE_PROMPT))

    cloud_login(
        devices_path, pending, redirect, timeout=timeout, region=region, cloud_base=cloud_base,
        say=click.echo, warn=_to_stderr, spent=lambda: pending_path.unlink(missing_ok=True),
    )  # fmt: skip


def _import(devices_path: Path, paths: tuple[Path, ...], *, key: str | None, iv: str | None, host: str | None) -> None:
    result = import_paths(paths, key=key, iv=iv, host=host, known=known_keys(devices_path))
    save_imported(devices_path, result, say=click.echo, warn=_to_stderr)


def _to_stderr(line: str) -> None:
    click.echo(line, err=True)


def _read_pasted(prompt: str) -> str:
    """One line from the user; hidden on a terminal, since it holds the login code."""
    if sys.stdin is not None and sys.stdin.isatty():
        return click.prompt(
            prompt.rstrip(": ").rstrip(), prompt_suffix=": ", hide_input=True, default="", show_default=False
        )
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
