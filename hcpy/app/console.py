"""The web console as hc2mqtt serves it beside the bridge (`daemon.Console`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..mqtt.bridge import Bridge
from .daemon import Console

if TYPE_CHECKING:
    from .setup import Setup

log = logging.getLogger("hcpy")

# Where the console's cloud login sends every request (hc-login's hidden
# --cloud-base: a local fake cloud in tests), and the interfaces its scan
# listens on (IPv4 addresses, comma-separated; default all): hidden settings
# of the tests and of hosts whose mDNS lives on one interface only.
CLOUD_BASE_ENV = "HCPY_CLOUD_BASE"
SCAN_INTERFACES_ENV = "HCPY_SCAN_INTERFACES"


@dataclass(frozen=True)
class SetupFiles:
    """What the console's "Add appliances" pages write and read."""

    devices_file: str
    discovery_file: str
    other_addon_configs: str | None = None


def web_console(
    host: str,
    port: int,
    password: str | None,
    required: bool,
    setup: SetupFiles | None = None,
    *,
    ingress_peer: str | None = None,
) -> Console | None:
    """The console's hook for the daemon; None for no console (port 0).

    `required`: a port that cannot be bound stops hc2mqtt; otherwise (the
    demo's default port) that is said in one line and hc2mqtt goes on without.
    `setup`: the files its "Add appliances" pages write (None: no such pages).
    `ingress_peer`: Home Assistant's ingress proxy, the only peer served
    (ConsoleSettings.ingress_peer; hcpy.web.ingress).
    """
    if not port:
        return None

    def start(bridge: Bridge) -> Callable[[], None] | None:
        from ..web.server import ConsoleServer  # here: no console, no web server in memory

        try:
            server = ConsoleServer(bridge, host, port, password or None, setup=_setup(setup), ingress_peer=ingress_peer)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        try:
            server.start()
        except OSError as exc:
            sentence = f"the web console cannot listen on {host}:{port} ({exc.strerror or exc})"
            if required:
                raise ConfigError(f"{sentence}; choose another http_port (0: no console)") from None
            log.warning("%s; going on without it (--http_port chooses another port)", sentence)
            return None
        return server.stop

    return start


def _setup(files: SetupFiles | None) -> Setup | None:
    if files is None:
        return None
    from .setup import Setup

    interfaces = [part.strip() for part in os.environ.get(SCAN_INTERFACES_ENV, "").split(",") if part.strip()]
    return Setup(
        files.devices_file,
        files.discovery_file,
        files.other_addon_configs,
        cloud_base=os.environ.get(CLOUD_BASE_ENV) or None,
        scan_interfaces=interfaces or None,
    )


def add_page(host: str, port: int, ingress: bool = False) -> str | None:
    """Where the console's user adds appliances, as the log says it; None without a console."""
    if not port:
        return None
    if ingress:
        return "Home Assistant's Home Connect panel"  # the add-on: its console is reached through Home Assistant
    # A console on every address is reached on this machine's own.
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}/add"
