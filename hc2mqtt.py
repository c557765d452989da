#!/usr/bin/env python3
"""hc2mqtt: mirror Home Connect appliances onto MQTT, locally, without the cloud.

Settings come from the command line, from HCPY_* environment variables
(HCPY_MQTT_HOST, …) and from --config config/config.ini, in that order of
precedence. The config.ini of hcpy2-0 works unchanged.

This file is the command line only: click reads the options, and
`hcpy.app.settings` turns them into one typed `Settings` that
`hcpy.app.launch` runs.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from hcpy.app.config_file import ConfigFileInvalid, ConfigFileMissing, read_config
from hcpy.app.forks import LAYOUT_CHOICES
from hcpy.app.launch import LOG_FORMAT, launch
from hcpy.app.settings import COMMAND_BYTES, MAX_SESSION_EXPIRY, OPTION_DEFAULTS, PROTOCOLS, Options, Source, build
from hcpy.errors import ConfigError

D = OPTION_DEFAULTS
# click's word for where a value came from -> the settings' (the config file is click's default map).
SOURCES = {
    click.core.ParameterSource.COMMANDLINE: Source.COMMAND_LINE,
    click.core.ParameterSource.ENVIRONMENT: Source.ENVIRONMENT,
    click.core.ParameterSource.DEFAULT_MAP: Source.CONFIG_FILE,
    click.core.ParameterSource.DEFAULT: Source.DEFAULT,
}
# Where the config file's reading leaves what it found (click's context, not a module global).
CONFIG_FILE_META = "hcpy.config_file"


@click.command(context_settings={"help_option_names": ["--help"]})
@click.argument("devices_argument", required=False, metavar="[DEVICES_FILE]")
@click.option("-d", "--devices_file", default=D["devices_file"], show_default=True,
              help="devices.json written by hc-login.")  # fmt: skip
@click.option("-h", "--mqtt_host", default=D["mqtt_host"], show_default=True)
@click.option("-p", "--mqtt_prefix", default=D["mqtt_prefix"], show_default=True,
              help="Topic prefix, with its trailing slash.")  # fmt: skip
@click.option("--mqtt_port", default=D["mqtt_port"], type=int, show_default=True)
@click.option("--mqtt_username", default=None)
@click.option("--mqtt_password", default=None)
@click.option("--mqtt_ssl", is_flag=True, help="TLS to the broker.")
@click.option("--mqtt_cafile", default=None, help="CA certificate that signed the broker's.")
@click.option("--mqtt_certfile", default=None, help="Client certificate.")
@click.option("--mqtt_keyfile", default=None, help="Client certificate's key.")
@click.option("--mqtt_protocol", default=D["mqtt_protocol"], show_default=True, type=click.Choice(PROTOCOLS),
              help="MQTT version: auto tries 5 and falls back to 3.1.1 when the broker refuses it.")  # fmt: skip
@click.option("--mqtt_session_expiry", default=D["mqtt_session_expiry"], type=click.IntRange(0, MAX_SESSION_EXPIRY),
              show_default=True,
              help="MQTT 5: seconds the broker keeps hcpy's session after a drop (0: none).")  # fmt: skip
@click.option("--mqtt_clientname", default=None,
              help="MQTT client id. Default: hcpy-<this installation's deviceID>, unique to it.")  # fmt: skip
@click.option("--domain_suffix", default=D["domain_suffix"], help="Appended to every appliance host (host.suffix).")
@click.option("--debug/--no-debug", default=D["debug"], help="Debug logging (keys are never logged).")
@click.option("--ha-discovery", "ha_discovery", is_flag=True, help="Publish Home Assistant MQTT discovery.")
@click.option("--ha_discovery_prefix", default=D["ha_discovery_prefix"], show_default=True)
@click.option("--discovery_file", default=D["discovery_file"], show_default=True,
              help="With --ha-discovery: hcpy2-0's discovery.yaml (MAGIC_OVERRIDES, SKIP_ENTITIES, …; "
                   "see config/discovery.yaml.example). Its HA_DISCOVERY_PREFIX applies unless "
                   "--ha_discovery_prefix is given.")  # fmt: skip
@click.option("--events_as_sensors", is_flag=True, help="Discover events as sensors instead of event entities.")
@click.option("--publish_as_mqtt/--no-publish_as_mqtt", default=D["publish_as_mqtt"],
              help="One topic per feature: T/state/<feature>.")  # fmt: skip
@click.option("--publish_as_json/--no-publish_as_json", default=D["publish_as_json"],
              help="All values as one JSON object on T/state.")  # fmt: skip
@click.option("--publish_homie_topics/--no-publish_homie_topics", default=D["publish_homie_topics"],
              help="Homie v4 topics as well.")  # fmt: skip
@click.option("--publish_summary/--no-publish_summary", default=D["publish_summary"],
              help="The compact summary message on T.")  # fmt: skip
@click.option("--topic_layout", default=D["topic_layout"], show_default=True, type=click.Choice(LAYOUT_CHOICES),
              help="Whose topics: hcpy2-0's, osresearch's or the publishing-modes fork's; "
                   "auto: as the user's files say.")  # fmt: skip
@click.option("--appliance", "appliances", multiple=True, help="Serve only this appliance (repeatable).")
@click.option("--max_command_bytes", default=D["max_command_bytes"], type=click.IntRange(*COMMAND_BYTES),
              show_default=True,
              help="Largest command payload taken; larger ones are refused with a 400.")  # fmt: skip
@click.option("--demo", is_flag=True,
              help="Bridge eight simulated appliances (in this process) under demo/ "
                   "instead of devices.json's.")  # fmt: skip
@click.option("--demo_speed", default=D["demo_speed"], type=click.FloatRange(0, min_open=True), show_default=True,
              help="With --demo: appliance seconds per real second (60: a 3-hour program in 3 minutes).")  # fmt: skip
@click.option("--http_port", default=D["http_port"], type=click.IntRange(0, 65535), show_default=True,
              help="Serve the web console on this port (0: no console). With --demo: 8080 unless given.")  # fmt: skip
@click.option("--http_host", default=D["http_host"], show_default=True,
              help="Address the web console listens on; beyond loopback, set http_password as well.")  # fmt: skip
@click.option("--http_password", default=None,
              help="Password the web console asks for (better as HCPY_HTTP_PASSWORD or in config.ini); "
                   "never logged.")  # fmt: skip
@click.option("--check", is_flag=True,
              help="Try the broker and each appliance once, print a table (no keys in it), "
                   "exit 0 when all is ok.")  # fmt: skip
@click.option("--config", type=click.Path(dir_okay=False), is_eager=True, expose_value=False,
              callback=lambda ctx, param, path: _read_config(ctx, path),
              help="config.ini with the options above (hcpy2-0 format).")  # fmt: skip
def main(**given: Any) -> None:
    """Mirror Home Connect appliances onto MQTT."""
    logging.basicConfig(
        level=logging.DEBUG if given["debug"] else logging.INFO,
        format=LOG_FORMAT,
    )
    context = click.get_current_context()
    problems, sections = context.meta.get(CONFIG_FILE_META, ([], {}))
    for problem in problems:
        logging.getLogger("hcpy").warning("%s", problem)
    sources = {name: _source(context, name) for name in given}
    try:
        settings = build(Options(given, sources), sections)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(launch(settings))


def _source(context: click.Context, name: str) -> Source:
    source = context.get_parameter_source(name)
    return SOURCES.get(source, Source.COMMAND_LINE) if source is not None else Source.DEFAULT


def _read_config(ctx: click.Context, path: str | None) -> None:
    """--config: the file's settings become the options' defaults (as the click-config-file package did;
    hc2mqtt reads it itself, so configobj is loaded only when a file is read).

    Without --config the per-user file (click's app dir) is read if it exists.
    """
    cmd_name = ctx.info_name or "hc2mqtt"
    path = path or os.path.join(click.get_app_dir(cmd_name), "config")
    try:
        values = _config(path, cmd_name)
    except (ConfigFileInvalid, ConfigFileMissing) as exc:  # sentences naming the file, line and fix already
        raise click.BadOptionUsage("--config", str(exc), ctx) from None
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix, said as such
        raise click.BadOptionUsage("--config", f"Error reading configuration file: {exc}", ctx) from None
    ctx.default_map = {**(ctx.default_map or {}), **values}


def _config(path: str, cmd_name: str) -> dict:
    """config.ini's settings; its unknown keys and sections kept for main()."""
    if path == os.path.join(click.get_app_dir(cmd_name), "config") and not Path(path).exists():
        return {}  # the per-user file looked for when no --config is given
    values, problems, sections = read_config(path, (p.name for p in main.params))
    click.get_current_context().meta[CONFIG_FILE_META] = (problems, sections)
    return values


def cli() -> None:
    """The `hc2mqtt` command (pyproject.toml): main() with HCPY_* variables, as `python hc2mqtt.py` runs it."""
    main(auto_envvar_prefix="HCPY")


if __name__ == "__main__":
    cli()
