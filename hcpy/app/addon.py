"""`hcpy-addon`: hc2mqtt as a Home Assistant add-on, started by the Supervisor (no bashio).

The Supervisor writes the add-on's options to /data/options.json
(`addon_options`); this reads them, reads config.ini beside them when it
exists (its per-appliance sections, hc2mqtt settings the add-on has no option
for; the add-on's options win), asks the Supervisor for the broker when
HCPY_MQTT_HOST is empty (`supervisor`), turns the console on for Home
Assistant's ingress and launches hc2mqtt (`launch`).

Without an options file (`docker run` without the Supervisor) it says so in
one line and runs `hc2mqtt --config config/config.ini`, as the image did
before it was an add-on.

Test and debug knobs (environment): HCPY_ADDON_OPTIONS (the options file),
HCPY_SUPERVISOR_URL (a Supervisor of the tests' own), HCPY_SUPERVISOR_WAIT
(seconds to wait for the Supervisor's mqtt service; 60), HCPY_INGRESS_PEER and
HCPY_INGRESS_PORT (the one peer the console trusts, and its port).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import addon_options
from .addon_options import AddonOptionsError, AddonValues
from .launch import LOG_FORMAT, launch
from .settings import OPTION_DEFAULTS, Options, Settings, Source, build
from .supervisor import MqttService, SupervisorError, mqtt_service

log = logging.getLogger("hcpy")

OPTIONS_FILE = "/data/options.json"
OPTIONS_VARIABLE = "HCPY_ADDON_OPTIONS"
# What `docker run` without the Supervisor runs: the image's command before it was an add-on.
HC2MQTT_ARGS = ("--config", "config/config.ini")

# Home Assistant's ingress: the Supervisor's proxy connects from its address
# on the hassio network (172.30.32.0/23, the supervisor being .2) to the port
# config.yaml's ingress_port names; the console trusts that peer alone.
INGRESS_PEER = "172.30.32.2"
INGRESS_PORT = 8942
# The add-on's map `all_addon_configs:ro`: where hcpy2-0's add-on left its devices.json.
OTHER_ADDON_CONFIGS = "/addon_configs"
SUPERVISOR_WAIT = 60.0  # seconds: at boot the Mosquitto add-on may register its service after hcpy starts
RETRY_EVERY = 2.0
# Where a broker add-on's published port is, seen from a host-networking add-on.
LOCAL_BROKER = "127.0.0.1"

# The add-ons that provide MQTT, as users know them.
PROVIDERS = {"core_mosquitto": "the Mosquitto broker add-on"}


@dataclass(frozen=True)
class Ingress:
    peer: str = INGRESS_PEER
    port: int = INGRESS_PORT

    @property
    def listen(self) -> str:
        """Where the console listens: everywhere for the Supervisor's peer, loopback for a loopback peer."""
        return "127.0.0.1" if ipaddress.ip_address(self.peer).is_loopback else "0.0.0.0"


def main() -> None:
    """The `hcpy-addon` command (pyproject.toml, the Dockerfile's CMD)."""
    path = Path(os.environ.get(OPTIONS_VARIABLE) or OPTIONS_FILE)
    _logging(_truthy(os.environ.get("HCPY_DEBUG")))
    if not path.exists():
        log.info("no add-on options at %s (not started by Home Assistant's Supervisor): running hc2mqtt %s",
                 path, " ".join(HC2MQTT_ARGS))  # fmt: skip
        # hc2mqtt sets up logging itself (its --debug): the handler set here goes first.
        for handler in list(logging.root.handlers):
            logging.root.removeHandler(handler)
        import hc2mqtt  # here: the add-on's path does without click

        hc2mqtt.main(args=list(HC2MQTT_ARGS), prog_name="hc2mqtt", auto_envvar_prefix="HCPY")
        return
    sys.exit(run(path, os.environ))


def run(path: Path, env: Mapping[str, str]) -> int:
    """Launch hc2mqtt as the add-on's options at `path` ask; the exit code (2: a setting it cannot use)."""
    try:
        settings = addon_settings(path, env, _ingress(env))
    except AddonOptionsError as exc:
        for warning in exc.warnings:
            log.warning("%s", warning)
        for problem in exc.problems:
            log.error("%s", problem)
        return 2
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    return launch(settings)


def addon_settings(path: Path, env: Mapping[str, str], ingress: Ingress) -> Settings:
    """hc2mqtt's settings from the options file, config.ini and the Supervisor; ConfigError when one is unusable."""
    addon = addon_options.read(_load(path), str(path))
    if addon.given["HCPY_DEBUG"]:
        logging.root.setLevel(logging.DEBUG)
    for warning in addon.warnings:
        log.warning("%s", warning)
    file_values, sections = _config_file(addon)
    values: dict[str, Any] = dict(file_values)
    sources = dict.fromkeys(file_values, Source.CONFIG_FILE)
    values.update(addon.hc2mqtt)
    sources.update(dict.fromkeys(addon.hc2mqtt, Source.ADDON))
    if addon.ask_supervisor:
        _take_supervisors_broker(values, sources, addon, env)
    else:
        _log_broker(values, "the add-on option HCPY_MQTT_HOST")
    # The console is Home Assistant's ingress: where it listens is the add-on's to say.
    values.update(http_host=ingress.listen, http_port=ingress.port)
    sources.update(http_host=Source.ADDON, http_port=Source.ADDON)
    overridden = sorted(k for k in file_values if sources[k] is not Source.CONFIG_FILE and values[k] != file_values[k])
    if overridden:
        log.info("%s: %s not used: the add-on's options win", addon.config_file, ", ".join(overridden))
    # A missing devices.json is no error here: the console shows how to add appliances.
    settings = build(Options(values, sources), sections)
    console = replace(settings.console, ingress_peer=ingress.peer, other_addon_configs=OTHER_ADDON_CONFIGS)
    return replace(settings, console=console)


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno}: {exc.msg})" if isinstance(exc, json.JSONDecodeError) else ""
        # The position only: the file holds a password.
        raise ConfigError(f"{path}: not valid JSON{where}; save the add-on's options again") from None


def _config_file(addon: AddonValues) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """config.ini's settings and per-appliance sections ({} when there is no such file)."""
    path = addon.config_file
    if not Path(path).is_file():
        if path != addon_options.BY_NAME[addon_options.CONFIG_FILE].default:
            log.warning("HCPY_CONFIG_FILE %s does not exist; going on without it", path)
        return {}, {}
    from .config_file import ConfigFileInvalid, read_config

    try:
        values, problems, sections = read_config(path, OPTION_DEFAULTS)
    except ConfigFileInvalid as exc:  # the file, the line and what to write there, said already
        raise ConfigError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix, said as such
        raise ConfigError(f"HCPY_CONFIG_FILE {path}: cannot be read ({exc})") from None
    for problem in problems:
        log.warning("%s", problem)
    values = {k: v for k, v in values.items() if k in OPTION_DEFAULTS}  # the unknown ones were named above
    return values, sections


def _take_supervisors_broker(
    values: dict[str, Any], sources: dict[str, Source], addon: AddonValues, env: Mapping[str, str]
) -> None:
    """The broker the Supervisor names; the add-on's own user name (and password), when given, win over its."""
    service = _ask_supervisor(env)
    taken = {"mqtt_host": _reachable_name(service.host), "mqtt_port": service.port, "mqtt_ssl": service.ssl}
    if not addon.given[addon_options.MQTT_USERNAME]:
        taken.update(mqtt_username=service.username, mqtt_password=service.password)
    values.update(taken)
    sources.update(dict.fromkeys(taken, Source.SUPERVISOR))
    provider = PROVIDERS.get(service.provider, f"the add-on {service.provider}" if service.provider else "")
    _log_broker(values, f"{Source.SUPERVISOR.value}" + (f", {provider}" if provider else ""))


def _reachable_name(host: str) -> str:
    """`host`, or this machine when the name does not resolve here.

    The Supervisor names the broker by its container's name on the hassio
    network (core-mosquitto); this add-on runs with host networking, where
    that name may not resolve. The Mosquitto add-on publishes its port on
    the host, so this machine's address reaches it all the same.
    """
    try:
        socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        log.info("the broker's name %s does not resolve in this add-on (host networking); using %s, where the "
                 "broker add-on publishes its port on this machine", host, LOCAL_BROKER)  # fmt: skip
        return LOCAL_BROKER
    return host


def _ask_supervisor(env: Mapping[str, str]) -> MqttService:
    wait = _number(env, "HCPY_SUPERVISOR_WAIT", SUPERVISOR_WAIT)
    deadline = time.monotonic() + wait
    said = False
    while True:
        try:
            return mqtt_service(env)
        except SupervisorError as exc:
            if not exc.retry or time.monotonic() + RETRY_EVERY > deadline:
                raise
            if not said:
                log.info("waiting up to %.0f s for the Supervisor's mqtt service: %s", wait, exc)
                said = True
            time.sleep(RETRY_EVERY)


def _log_broker(values: Mapping[str, Any], where: str) -> None:
    """One line: the broker taken and where from; never the password."""
    user = values.get("mqtt_username")
    log.info("MQTT broker %s:%s%s %s (from %s)", values.get("mqtt_host", OPTION_DEFAULTS["mqtt_host"]),
             values.get("mqtt_port", OPTION_DEFAULTS["mqtt_port"]), " over TLS" if values.get("mqtt_ssl") else "",
             f"as user {user}" if user else "without a user name", where)  # fmt: skip


def _ingress(env: Mapping[str, str]) -> Ingress:
    peer = env.get("HCPY_INGRESS_PEER") or INGRESS_PEER
    try:
        ipaddress.ip_address(peer)
    except ValueError:
        raise ConfigError(f"HCPY_INGRESS_PEER: must be an IP address, not {peer!r}") from None
    port = env.get("HCPY_INGRESS_PORT") or str(INGRESS_PORT)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"HCPY_INGRESS_PORT: must be a whole number from 1 to 65535, not {port!r}")
    return Ingress(peer, int(port))


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name)
    try:
        return max(0.0, float(text)) if text else default
    except ValueError:
        raise ConfigError(f"{name}: must be a number of seconds, not {text!r}") from None


def _truthy(text: str | None) -> bool:
    return (text or "").strip().lower() in ("1", "true", "yes", "on")


def _logging(debug: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, format=LOG_FORMAT)


if __name__ == "__main__":
    main()
