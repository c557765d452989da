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
import click_config_file

from hcpy.mqtt.bridge import BridgeSettings
from hcpy.mqtt.config_file import read_config
from hcpy.mqtt.daemon import run
from hcpy.mqtt.discovery import DiscoveryOptions
from hcpy.mqtt.link import MqttSettings
from hcpy.mqtt.publishing import PublishOptions
from hcpy.mqtt.screening import ScreenLimits
from hcpy.mqtt.topics import DEFAULT_PREFIX


@click.command(context_settings={"help_option_names": ["--help"]})
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
@click.option("--mqtt_clientname", default=None,
              help="MQTT client id. Default: hcpy-<this installation's deviceID>, unique to it.")  # fmt: skip
@click.option("--domain_suffix", default="", help="Appended to every appliance host (host.suffix).")
@click.option("--debug/--no-debug", default=False, help="Debug logging (keys are never logged).")
@click.option("--ha-discovery", "ha_discovery", is_flag=True, help="Publish Home Assistant MQTT discovery.")
@click.option("--ha_discovery_prefix", default="homeassistant", show_default=True)
@click.option("--discovery_file", default="config/discovery.yaml", help="hcpy2-0's overrides file (not read yet).")
@click.option("--events_as_sensors", is_flag=True, help="Discover events as sensors instead of event entities.")
@click.option("--publish_as_mqtt/--no-publish_as_mqtt", default=True, help="One topic per feature: T/state/<feature>.")
@click.option("--publish_as_json/--no-publish_as_json", default=False, help="All values as one JSON object on T/state.")
@click.option("--publish_homie_topics/--no-publish_homie_topics", default=False, help="Homie v4 topics as well.")
@click.option("--publish_summary/--no-publish_summary", default=True, help="The compact summary message on T.")
@click.option("--appliance", "appliances", multiple=True, help="Serve only this appliance (repeatable).")
@click.option("--max_command_bytes", default=ScreenLimits.max_bytes, type=click.IntRange(64, 1 << 20), show_default=True,
              help="Largest command payload taken; larger ones are refused with a 400.")  # fmt: skip
@click.option("--demo", is_flag=True,
              help="Bridge three simulated appliances (in this process) under demo/ instead of devices.json's.")  # fmt: skip
@click.option("--demo_speed", default=60.0, type=click.FloatRange(0, min_open=True), show_default=True,
              help="With --demo: appliance seconds per real second (60: a 3-hour program in 3 minutes).")  # fmt: skip
@click.option("--check", is_flag=True,
              help="Try the broker and each appliance once, print a table (no keys in it), exit 0 when all is ok.")  # fmt: skip
@click_config_file.configuration_option(
    help="config.ini with the options above (hcpy2-0 format).",
    type=click.Path(dir_okay=False),
    provider=lambda path, cmd_name: _config(path, cmd_name),
)
def main(**o) -> None:
    """Mirror Home Connect appliances onto MQTT."""
    logging.basicConfig(
        level=logging.DEBUG if o["debug"] else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for problem in _CONFIG_PROBLEMS:
        logging.getLogger("hcpy").warning("%s", problem)
    if o["ha_discovery"] and Path(o["discovery_file"]).is_file():
        logging.getLogger("hcpy").warning(
            "%s is not read: hcpy does not apply hcpy2-0's discovery.yaml overrides yet; "
            "entities use hcpy's own choices",
            o["discovery_file"],
        )
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
    )
    publish = PublishOptions(
        as_mqtt=o["publish_as_mqtt"],
        as_json=o["publish_as_json"],
        homie=o["publish_homie_topics"],
        summary=o["publish_summary"],
    )
    settings = BridgeSettings(
        publish=publish,
        ha_discovery=o["ha_discovery"],
        discovery=DiscoveryOptions(prefix=o["ha_discovery_prefix"], events_as_sensors=o["events_as_sensors"]),
        domain_suffix=o["domain_suffix"] or "",
        command_limits=ScreenLimits(max_bytes=o["max_command_bytes"]),
    )
    if o["demo"]:
        from hcpy.mqtt.demo import run_demo
        from hcpy.simulator.demo import DemoAppliances

        source = click.get_current_context().get_parameter_source("mqtt_prefix")
        keep_prefix = source is click.core.ParameterSource.COMMANDLINE  # not config.ini's: that is the real one's
        sys.exit(run_demo(DemoAppliances(o["demo_speed"]), mqtt, settings, keep_prefix, o["demo_speed"]))
    if o["check"]:
        from hcpy.mqtt.check import main as check

        sys.exit(check(o["devices_file"], mqtt, settings, tuple(o["appliances"])))
    sys.exit(run(o["devices_file"], mqtt, settings, tuple(o["appliances"])))


# Said once logging is set up: the file is read while the options are parsed.
_CONFIG_PROBLEMS: list[str] = []


def _config(path: str, cmd_name: str) -> dict:
    """config.ini's settings (click_config_file's provider), unknown keys noted."""
    if path == os.path.join(click.get_app_dir(cmd_name), "config") and not Path(path).exists():
        return {}  # the per-user file looked for when no --config is given
    values, problems = read_config(path, (p.name for p in main.params))
    _CONFIG_PROBLEMS.extend(problems)
    return values


def cli() -> None:
    """The `hc2mqtt` command (pyproject.toml): main() with HCPY_* variables, as `python hc2mqtt.py` runs it."""
    main(auto_envvar_prefix="HCPY")


if __name__ == "__main__":
    cli()
