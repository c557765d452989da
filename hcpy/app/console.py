"""The web console as hc2mqtt serves it beside the bridge (`daemon.Console`)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..errors import ConfigError
from ..mqtt.bridge import Bridge
from .daemon import Console

log = logging.getLogger("hcpy")


def web_console(host: str, port: int, password: str | None, required: bool) -> Console | None:
    """The console's hook for the daemon; None for no console (port 0).

    `required`: a port that cannot be bound stops hc2mqtt; otherwise (the
    demo's default port) that is said in one line and hc2mqtt goes on without.
    """
    if not port:
        return None

    def start(bridge: Bridge) -> Callable[[], None] | None:
        from ..web.server import ConsoleServer  # here: no console, no web server in memory

        server = ConsoleServer(bridge, host, port, password or None)
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
