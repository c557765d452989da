#!/usr/bin/env python3
"""hc2mqtt: mirror Home Connect appliances onto MQTT, locally, without the cloud.

Settings come from the command line, from HCPY_* environment variables
(HCPY_MQTT_HOST, …) and from --config config/config.ini, in that order of
precedence. The config.ini of hcpy2-0 works unchanged.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from hcpy.mqtt.bridge import BridgeSettings
from hcpy.mqtt.config_file import read_config
from hcpy.mqtt.daemon import run
from hcpy.mqtt.discovery import DiscoveryOptions
from hcpy.mqtt.discovery_file import DEFAULT_PATH as DEFAULT_DISCOVERY_FILE
from hcpy.mqtt.discovery_file import DiscoveryOverrides
from hcpy.mqtt.discovery_file import load as load_discovery_file
from hcpy.errors import ConfigError
from hcpy.mqtt.forks import AUTO, LAYOUT_CHOICES, choose_layout, mqtt_conf, read_raw
from hcpy.mqtt.link import PROTOCOLS, MqttSettings
from hcpy.mqtt.publishing import PublishOptions
from hcpy.mqtt.screening import ScreenLimits
from hcpy.mqtt.topics import DEFAULT_PREFIX, Layout


@click.command(context_settings={"help_option_names": ["--help"]})
@click.argument("devices_argument", required=False, metavar="[DEVICES_FILE]")
@click.option("-d", "--devices_file", default="config/devices.json", show_default=True, help="devices.json written by hc-login.")
@click.option("-h", "--mqtt_host", default="localhost", show_default=True)
@click.option("-p", "--mqtt_prefix", default=DEFAULT_PREFIX, show_default=True, help="Topic prefix, with its trailing slash.")
@click.option("--mqtt_port", default=1883, type=int, show_default=True)
@click.option("--mqtt_username", default=None)
@click.option("--mqtt_password", default=None)
@click.option("--mqtt_ssl", is_flag=True, help="TLS to the broker.")
@click.option("--mqtt_cafile", default=None, help="CA certificate that signed the broker's.")
@click.option("--mqtt_certfile", default=None, help="Client certificate.")
@click.option("--mqtt_keyfile", default=None, help="Client certificate's key.")
@click.option("--mqtt_protocol", default="auto", show_default=True, type=click.Choice(PROTOCOLS),
              help="MQTT version: auto tries 5 and falls back to 3.1.1 when the broker refuses it.")  # fmt: skip
@click.option("--mqtt_session_expiry", default=0, type=click.IntRange(0, 0xFFFFFFFF), show_default=True,
              help="MQTT 5: seconds the broker keeps hcpy's session after a drop (0: none).")  # fmt: skip
@click.option("--mqtt_clientname", default=None,
              help="MQTT client id. Default: hcpy-<this installation's deviceID>, unique to it.")  # fmt: skip
@click.option("--domain_suffix", default="", help="Appended to every appliance host (host.suffix).")
@click.option("--debug/--no-debug", default=False, help="Debug logging (keys are never logged).")
@click.option("--ha-discovery", "ha_discovery", is_flag=True, help="Publish Home Assistant MQTT discovery.")
@click.option("--ha_discovery_prefix", default="homeassistant", show_default=True)
@click.option("--discovery_file", default=DEFAULT_DISCOVERY_FILE, show_default=True,
              help="With --ha-discovery: hcpy2-0's discovery.yaml (MAGIC_OVERRIDES, SKIP_ENTITIES, …; "
                   "see config/discovery.yaml.example). Its HA_DISCOVERY_PREFIX applies unless "
                   "--ha_discovery_prefix is given.")  # fmt: skip
@click.option("--events_as_sensors", is_flag=True, help="Discover events as sensors instead of event entities.")
@click.option("--publish_as_mqtt/--no-publish_as_mqtt", default=True, help="One topic per feature: T/state/<feature>.")
@click.option("--publish_as_json/--no-publish_as_json", default=False, help="All values as one JSON object on T/state.")
@click.option("--publish_homie_topics/--no-publish_homie_topics", default=False, help="Homie v4 topics as well.")
@click.option("--publish_summary/--no-publish_summary", default=True, help="The compact summary message on T.")
@click.option("--topic_layout", default=AUTO, show_default=True, type=click.Choice(LAYOUT_CHOICES),
              help="Whose topics: hcpy2-0's, osresearch's or the publishing-modes fork's; auto: as the user's files say.")  # fmt: skip
@click.option("--appliance", "appliances", multiple=True, help="Serve only this appliance (repeatable).")
@click.option("--max_command_bytes", default=ScreenLimits.max_bytes, type=click.IntRange(64, 1 << 20), show_default=True,
              help="Largest command payload taken; larger ones are refused with a 400.")  # fmt: skip
@click.option("--demo", is_flag=True,
              help="Bridge three simulated appliances (in this process) under demo/ instead of devices.json's.")  # fmt: skip
@click.option("--demo_speed", default=60.0, type=click.FloatRange(0, min_open=True), show_default=True,
              help="With --demo: appliance seconds per real second (60: a 3-hour program in 3 minutes).")  # fmt: skip
@click.option("--http_port", default=0, type=click.IntRange(0, 65535), show_default=True,
              help="Serve the web console on this port (0: no console). With --demo: 8080 unless given.")  # fmt: skip
@click.option("--http_host", default="127.0.0.1", show_default=True,
              help="Address the web console listens on; beyond loopback, set http_password as well.")  # fmt: skip
@click.option("--http_password", default=None,
              help="Password the web console asks for (better as HCPY_HTTP_PASSWORD or in config.ini); never logged.")  # fmt: skip
@click.option("--check", is_flag=True,
              help="Try the broker and each appliance once, print a table (no keys in it), exit 0 when all is ok.")  # fmt: skip
@click.option("--config", type=click.Path(dir_okay=False), is_eager=True, expose_value=False,
              callback=lambda ctx, param, path: _read_config(ctx, path),
              help="config.ini with the options above (hcpy2-0 format).")  # fmt: skip
def main(**o) -> None:
    """Mirror Home Connect appliances onto MQTT."""
    logging.basicConfig(
        level=logging.DEBUG if o["debug"] else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for problem in _CONFIG_PROBLEMS:
        logging.getLogger("hcpy").warning("%s", problem)
    layout = _fork_settings(o)
    overrides = DiscoveryOverrides()
    if o["ha_discovery"]:
        # The default path absent is no file; one the user named is missed.
        named = os.path.normpath(o["discovery_file"]) != os.path.normpath(DEFAULT_DISCOVERY_FILE)
        overrides, problems = load_discovery_file(o["discovery_file"], explicit=named)
        for problem in problems:
            logging.getLogger("hcpy").warning("%s", problem)
        prefix_source = click.get_current_context().get_parameter_source("ha_discovery_prefix")
        if overrides.prefix and prefix_source is click.core.ParameterSource.DEFAULT:
            o["ha_discovery_prefix"] = overrides.prefix
        elif overrides.prefix and overrides.prefix != o["ha_discovery_prefix"]:
            logging.getLogger("hcpy").info("%s: HA_DISCOVERY_PREFIX %s not used: ha_discovery_prefix %s is given",
                                           o["discovery_file"], overrides.prefix, o["ha_discovery_prefix"])  # fmt: skip
    mqtt = MqttSettings(
        host=o["mqtt_host"],
        port=o["mqtt_port"],
        prefix=o["mqtt_prefix"],
        username=o["mqtt_username"],
        password=o["mqtt_password"],
        ssl=o["mqtt_ssl"],
        cafile=o["mqtt_cafile"],
        certfile=o["mqtt_certfile"],
        keyfile=o["mqtt_keyfile"],
        clientname=o["mqtt_clientname"],
        protocol=o["mqtt_protocol"],
        session_expiry=o["mqtt_session_expiry"],
    )
    publish = PublishOptions(
        as_mqtt=o["publish_as_mqtt"],
        as_json=o["publish_as_json"],
        homie=o["publish_homie_topics"],
        summary=o["publish_summary"],
        layout=layout,
    )
    settings = BridgeSettings(
        publish=publish,
        ha_discovery=o["ha_discovery"],
        discovery=DiscoveryOptions(
            prefix=o["ha_discovery_prefix"], events_as_sensors=o["events_as_sensors"], overrides=overrides
        ),
        domain_suffix=o["domain_suffix"] or "",
        command_limits=ScreenLimits(max_bytes=o["max_command_bytes"]),
    )
    if o["demo"]:
        from hcpy.mqtt.demo import run_demo
        from hcpy.simulator.demo import DemoAppliances

        context = click.get_current_context()
        source = context.get_parameter_source("mqtt_prefix")
        keep_prefix = source is click.core.ParameterSource.COMMANDLINE  # not config.ini's: that is the real one's
        # The demo's console is on unless the command line says otherwise; the
        # config file's port and host are the real bridge's.
        given = context.get_parameter_source("http_port") is click.core.ParameterSource.COMMANDLINE
        host_given = context.get_parameter_source("http_host") is click.core.ParameterSource.COMMANDLINE
        console = _console(o["http_host"] if host_given else "127.0.0.1", o["http_port"] if given else DEMO_HTTP_PORT,
                           o["http_password"], required=given)  # fmt: skip
        sys.exit(run_demo(DemoAppliances(o["demo_speed"]), mqtt, settings, keep_prefix, o["demo_speed"], console))
    if o["check"]:
        from hcpy.mqtt.check import main as check

        sys.exit(check(o["devices_file"], mqtt, settings, tuple(o["appliances"])))
    console = _console(o["http_host"], o["http_port"], o["http_password"], required=True)
    sys.exit(run(o["devices_file"], mqtt, settings, tuple(o["appliances"]), _APPLIANCE_SECTIONS, console))


# Where `--demo` serves its console unless --http_port says otherwise.
DEMO_HTTP_PORT = 8080


def _console(host: str, port: int, password: str | None, required: bool):
    """The web console as the daemon starts it beside the bridge (`daemon.Console`); None for no console.

    `required`: a port that cannot be bound stops hc2mqtt; otherwise (the
    demo's default port) that is said in one line and hc2mqtt goes on without.
    """
    if not port:
        return None

    def start(bridge):
        from hcpy.web.server import ConsoleServer

        server = ConsoleServer(bridge, host, port, password or None)
        try:
            server.start()
        except OSError as exc:
            sentence = f"the web console cannot listen on {host}:{port} ({exc.strerror or exc})"
            if required:
                raise ConfigError(f"{sentence}; choose another http_port (0: no console)") from None
            logging.getLogger("hcpy").warning("%s; going on without it (--http_port chooses another port)", sentence)
            return None
        return server.stop

    return start


def _fork_settings(o: dict) -> Layout:
    """What the user's own files say beyond hc2mqtt's options: the devices file, broker settings, topic layout.

    An option given on the command line, as HCPY_* or in the config file
    wins over devices.json's MQTT_CONF entry.
    """
    log = logging.getLogger("hcpy")
    context = click.get_current_context()

    def given(name: str) -> bool:
        return context.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT

    if o["devices_argument"]:
        if given("devices_file") and o["devices_file"] != o["devices_argument"]:
            raise click.UsageError(f"two devices files: {o['devices_argument']} and --devices_file {o['devices_file']}; give one")
        o["devices_file"] = o["devices_argument"]
    raw = read_raw(o["devices_file"])
    if isinstance(raw, dict):
        raise click.UsageError(
            f"{o['devices_file']} is one JSON object, not the list of appliances hc-login writes; "
            "if it is a settings file (homeconnect-hcpy's config.json), give it with --config"
        )
    try:
        conf = mqtt_conf(raw, o["devices_file"])
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    taken = sorted(option for option in conf if not given(option))
    for option in taken:
        o[option] = conf[option]
    if taken:
        log.info("MQTT settings from %s's MQTT_CONF entry: %s (the command line, HCPY_* and --config win)",
                 o["devices_file"], ", ".join(taken))  # fmt: skip
    choice = choose_layout(o["topic_layout"], raw, bool(o["devices_argument"]))
    if choice.why and choice.why != "topic_layout":
        log.info("topics in the %s layout: %s (topic_layout chooses another)", choice.layout, choice.why)
    if choice.layout is Layout.PUBLISHING_MODES and not given("publish_summary"):
        o["publish_summary"] = False  # that fork published no summary; its JSON object has T/state
    if choice.layout is Layout.OSRESEARCH and o["publish_as_json"]:
        log.warning("publish_as_json and the osresearch layout both want <prefix><name>/state: the JSON object "
                    "goes there, the summary stays on <prefix><name>")  # fmt: skip
        return Layout.HCPY
    return choice.layout


# Said once logging is set up: the file is read while the options are parsed.
_CONFIG_PROBLEMS: list[str] = []
# The config file's per-appliance sections: name -> what its hc2mqtt block may hold.
_APPLIANCE_SECTIONS: dict[str, dict] = {}


def _read_config(ctx: click.Context, path: str | None) -> None:
    """--config: the file's settings become the options' defaults (as click-config-file did, which
    hc2mqtt no longer imports: it would load configobj into every run, with or without a file).

    Without --config the per-user file (click's app dir) is read if it exists.
    """
    cmd_name = ctx.info_name or "hc2mqtt"
    path = path or os.path.join(click.get_app_dir(cmd_name), "config")
    try:
        values = _config(path, cmd_name)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix, said as such
        raise click.BadOptionUsage("--config", f"Error reading configuration file: {exc}", ctx) from None
    ctx.default_map = {**(ctx.default_map or {}), **values}


def _config(path: str, cmd_name: str) -> dict:
    """config.ini's settings, unknown keys noted."""
    if path == os.path.join(click.get_app_dir(cmd_name), "config") and not Path(path).exists():
        return {}  # the per-user file looked for when no --config is given
    values, problems, sections = read_config(path, (p.name for p in main.params))
    _CONFIG_PROBLEMS.extend(problems)
    _APPLIANCE_SECTIONS.update(sections)
    if "mqtt_protocol" in values:
        values["mqtt_protocol"] = str(values["mqtt_protocol"])  # configobj reads `mqtt_protocol = 5` as a number
    return values


def cli() -> None:
    """The `hc2mqtt` command (pyproject.toml): main() with HCPY_* variables, as `python hc2mqtt.py` runs it."""
    main(auto_envvar_prefix="HCPY")


if __name__ == "__main__":
    cli()
