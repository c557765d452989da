"""hc2mqtt's settings: one typed value, built and checked in one place.

Where they come from, strongest first: the command line, HCPY_* environment
variables, the config file (hcpy2-0's config.ini or homeconnect-hcpy's
config.json, `config_file`), devices.json's MQTT_CONF entry (the
publishing-modes fork, `forks`), the defaults (`OPTION_DEFAULTS`). hc2mqtt.py's
click command gathers the first three with `Source`s saying where each value
came from; `build` does the rest, without click, and answers a wrong value with
one `SettingsError` whose sentence names the option.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..errors import ConfigError
from ..homeassistant import DISCOVERY_FILE as DEFAULT_DISCOVERY_FILE
from ..mqtt.bridge import BridgeSettings
from ..mqtt.discovery_port import DiscoveryPort
from ..mqtt.link import PROTOCOLS as PROTOCOLS  # hc2mqtt offers them as choices
from ..mqtt.link import MqttSettings
from ..mqtt.options import PublishOptions
from ..mqtt.screening import ScreenLimits
from ..mqtt.topics import DEFAULT_PREFIX, Layout
from .forks import AUTO, LAYOUT_CHOICES, choose_layout, mqtt_conf, read_raw

log = logging.getLogger("hcpy")

# Where `--demo` serves its console unless --http_port says otherwise.
DEMO_HTTP_PORT = 8080
MAX_SESSION_EXPIRY = 0xFFFFFFFF
COMMAND_BYTES = (64, 1 << 20)  # the smallest and largest max_command_bytes

# Every option hc2mqtt has, and its value when nothing gives one.
OPTION_DEFAULTS: dict[str, Any] = {
    "devices_argument": None,
    "devices_file": "config/devices.json",
    "mqtt_host": "localhost",
    "mqtt_prefix": DEFAULT_PREFIX,
    "mqtt_port": 1883,
    "mqtt_username": None,
    "mqtt_password": None,
    "mqtt_ssl": False,
    "mqtt_cafile": None,
    "mqtt_certfile": None,
    "mqtt_keyfile": None,
    "mqtt_protocol": "auto",
    "mqtt_session_expiry": 0,
    "mqtt_clientname": None,
    "domain_suffix": "",
    "debug": False,
    "ha_discovery": False,
    "ha_discovery_prefix": "homeassistant",
    "discovery_file": DEFAULT_DISCOVERY_FILE,
    "events_as_sensors": False,
    "publish_as_mqtt": True,
    "publish_as_json": False,
    "publish_homie_topics": False,
    "publish_summary": True,
    "topic_layout": AUTO,
    "appliances": (),
    "max_command_bytes": ScreenLimits.max_bytes,
    "demo": False,
    "demo_speed": 60.0,
    "http_port": 0,
    "http_host": "127.0.0.1",
    "http_password": None,
    "check": False,
}


class Source(Enum):
    """Where an option's value came from."""

    DEFAULT = "default"
    MQTT_CONF = "devices.json's MQTT_CONF"
    CONFIG_FILE = "config file"
    ENVIRONMENT = "environment"
    COMMAND_LINE = "command line"
    # The Home Assistant add-on (hcpy.app.addon): its options.json, and the
    # broker the Supervisor's mqtt service names when HCPY_MQTT_HOST is empty.
    ADDON = "add-on option"
    SUPERVISOR = "the Supervisor's mqtt service"


class SettingsError(ConfigError):
    """An option's value hc2mqtt cannot use, in one sentence that names the option."""

    def __init__(self, option: str, sentence: str):
        super().__init__(sentence)
        self.option = option


class Mode(Enum):
    BRIDGE = "bridge"  # bridge devices.json's appliances until a signal
    CHECK = "check"  # try the broker and each appliance once
    DEMO = "demo"  # bridge simulated appliances


@dataclass(frozen=True)
class ConsoleSettings:
    """The web console beside the bridge (hcpy.web)."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: no console
    password: str | None = field(default=None, repr=False)
    # A port that cannot be bound stops hc2mqtt; otherwise (the demo's default
    # port) that is said in one line and hc2mqtt goes on without.
    required: bool = True
    # Home Assistant's ingress (the add-on): the address its proxy (the
    # Supervisor) connects from. Its requests are authenticated by Home
    # Assistant already; every other peer is refused. None: no ingress.
    ingress_peer: str | None = None
    # A folder holding other add-ons' config folders (the add-on's
    # /addon_configs): where hcpy2-0's add-on left a devices.json to import.
    other_addon_configs: str | None = None


@dataclass(frozen=True)
class Settings:
    mqtt: MqttSettings
    bridge: BridgeSettings
    console: ConsoleSettings = ConsoleSettings()
    mode: Mode = Mode.BRIDGE
    devices_file: str = OPTION_DEFAULTS["devices_file"]
    # Home Assistant's discovery.yaml (read when ha_discovery is on; the console copies hcpy2-0's there).
    discovery_file: str = OPTION_DEFAULTS["discovery_file"]
    appliances: tuple[str, ...] = ()  # serve only these (all: empty)
    # The config file's per-appliance sections: name -> what its hc2mqtt block may hold.
    sections: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    debug: bool = False
    demo_speed: float = OPTION_DEFAULTS["demo_speed"]
    # --demo: the topic prefix was asked for on the command line (else demo/).
    keep_prefix: bool = False


@dataclass(frozen=True)
class Options:
    """hc2mqtt's options as given, and where each came from.

    An option not in `values` has its default; one in `values` without a
    source counts as given on the command line.
    """

    values: Mapping[str, Any] = field(default_factory=dict)
    sources: Mapping[str, Source] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.values[name] if name in self.values else OPTION_DEFAULTS[name]

    def source(self, name: str) -> Source:
        return self.sources.get(name, Source.DEFAULT if name not in self.values else Source.COMMAND_LINE)

    def given(self, name: str) -> bool:
        return self.source(name) is not Source.DEFAULT


def build(options: Options, sections: Mapping[str, dict[str, Any]] | None = None) -> Settings:
    """The settings `options` ask for; SettingsError (or ConfigError) when one cannot be used.

    Reads the devices file (MQTT_CONF, the fork it comes from) and, with
    ha_discovery, the discovery file; what they decide is logged, as hc2mqtt
    starts.
    """
    values = {**OPTION_DEFAULTS, **options.values}
    unknown = sorted(set(values) - set(OPTION_DEFAULTS))
    if unknown:
        raise SettingsError(unknown[0], f"{unknown[0]}: no such option (hc2mqtt --help lists them)")
    sources = {name: options.source(name) for name in values}
    _devices_file(values, sources)
    layout = _fork_settings(values, sources)
    _check(values)
    mqtt = MqttSettings(
        host=values["mqtt_host"],
        port=values["mqtt_port"],
        prefix=values["mqtt_prefix"],
        username=values["mqtt_username"],
        password=values["mqtt_password"],
        ssl=values["mqtt_ssl"],
        cafile=values["mqtt_cafile"],
        certfile=values["mqtt_certfile"],
        keyfile=values["mqtt_keyfile"],
        clientname=values["mqtt_clientname"],
        protocol=values["mqtt_protocol"],
        session_expiry=values["mqtt_session_expiry"],
    )
    publish = PublishOptions(
        as_mqtt=values["publish_as_mqtt"],
        as_json=values["publish_as_json"],
        homie=values["publish_homie_topics"],
        summary=values["publish_summary"],
        layout=layout,
    )
    bridge = BridgeSettings(
        publish=publish,
        discovery=_discovery(values, sources) if values["ha_discovery"] else None,
        domain_suffix=values["domain_suffix"] or "",
        command_limits=ScreenLimits(max_bytes=values["max_command_bytes"]),
    )
    mode = Mode.DEMO if values["demo"] else Mode.CHECK if values["check"] else Mode.BRIDGE
    console = ConsoleSettings(values["http_host"], values["http_port"], values["http_password"])
    if mode is Mode.DEMO:
        # The demo's console is on unless the command line says otherwise; the
        # config file's port and host are the real bridge's.
        port_given = sources["http_port"] is Source.COMMAND_LINE
        console = ConsoleSettings(
            values["http_host"] if sources["http_host"] is Source.COMMAND_LINE else "127.0.0.1",
            values["http_port"] if port_given else DEMO_HTTP_PORT,
            values["http_password"],
            required=port_given,
        )
    return Settings(
        mqtt=mqtt,
        bridge=bridge,
        console=console,
        mode=mode,
        devices_file=values["devices_file"],
        discovery_file=values["discovery_file"],
        appliances=tuple(values["appliances"]),
        sections=dict(sections or {}),
        debug=bool(values["debug"]),
        demo_speed=values["demo_speed"],
        # Not config.ini's prefix: that is the real bridge's.
        keep_prefix=sources["mqtt_prefix"] is Source.COMMAND_LINE,
    )


def _devices_file(values: dict[str, Any], sources: dict[str, Source]) -> None:
    if values["devices_argument"]:
        given = sources["devices_file"] is not Source.DEFAULT
        if given and values["devices_file"] != values["devices_argument"]:
            raise SettingsError(
                "devices_file",
                f"two devices files: {values['devices_argument']} and --devices_file {values['devices_file']}; "
                "give one",
            )
        values["devices_file"] = values["devices_argument"]


def _fork_settings(values: dict[str, Any], sources: dict[str, Source]) -> Layout:
    """What the user's own files say beyond hc2mqtt's options: broker settings, topic layout.

    An option given on the command line, as HCPY_* or in the config file
    wins over devices.json's MQTT_CONF entry.
    """
    devices = values["devices_file"]
    raw = read_raw(devices)
    if isinstance(raw, dict):
        raise SettingsError(
            "devices_file",
            f"{devices} is one JSON object, not the list of appliances hc-login writes; "
            "if it is a settings file (homeconnect-hcpy's config.json), give it with --config",
        )
    conf = mqtt_conf(raw, devices)
    taken = sorted(option for option in conf if sources[option] is Source.DEFAULT)
    for option in taken:
        values[option] = conf[option]
        sources[option] = Source.MQTT_CONF
    if taken:
        log.info("MQTT settings from %s's MQTT_CONF entry: %s (the command line, HCPY_* and --config win)",
                 devices, ", ".join(taken))  # fmt: skip
    if values["topic_layout"] not in LAYOUT_CHOICES:
        choices = ", ".join(LAYOUT_CHOICES)
        raise SettingsError("topic_layout", f"topic_layout: {values['topic_layout']!r} is none of {choices}")
    choice = choose_layout(values["topic_layout"], raw, bool(values["devices_argument"]))
    if choice.why and choice.why != "topic_layout":
        log.info("topics in the %s layout: %s (topic_layout chooses another)", choice.layout, choice.why)
    if choice.layout is Layout.PUBLISHING_MODES and sources["publish_summary"] is Source.DEFAULT:
        values["publish_summary"] = False  # that fork published no summary; its JSON object has T/state
    if choice.layout is Layout.OSRESEARCH and values["publish_as_json"]:
        log.warning("publish_as_json and the osresearch layout both want <prefix><name>/state: the JSON object "
                    "goes there, the summary stays on <prefix><name>")  # fmt: skip
        return Layout.HCPY
    return choice.layout


def _discovery(values: dict[str, Any], sources: dict[str, Source]) -> DiscoveryPort:
    """Home Assistant's discovery with the user's discovery.yaml, whose HA_DISCOVERY_PREFIX applies unless given."""
    # Loaded only when discovery is on: a run without it does without the package.
    from ..homeassistant.announcer import HomeAssistant
    from ..homeassistant.discovery import DiscoveryOptions
    from ..homeassistant.discovery_file import DiscoveryOverrides
    from ..homeassistant.discovery_file import load as load_discovery_file

    path = values["discovery_file"]
    # The default path absent is no file; one the user named is missed.
    named = os.path.normpath(path) != os.path.normpath(DEFAULT_DISCOVERY_FILE)
    overrides: DiscoveryOverrides
    overrides, problems = load_discovery_file(path, explicit=named)
    for problem in problems:
        log.warning("%s", problem)
    prefix = values["ha_discovery_prefix"]
    if overrides.prefix and sources["ha_discovery_prefix"] is Source.DEFAULT:
        prefix = overrides.prefix
    elif overrides.prefix and overrides.prefix != prefix:
        log.info("%s: HA_DISCOVERY_PREFIX %s not used: ha_discovery_prefix %s is given", path, overrides.prefix, prefix)
    options = DiscoveryOptions(prefix=prefix, events_as_sensors=values["events_as_sensors"], overrides=overrides)
    return HomeAssistant(options)


# -- checks: each wrong value is one sentence naming its option ------------------------------------
# What kind of value each option takes, here for _check and for config_file,
# which says what to write in config.ini when a value there is of the wrong kind.

FLAGS = ("mqtt_ssl", "debug", "ha_discovery", "events_as_sensors", "publish_as_mqtt", "publish_as_json",
         "publish_homie_topics", "publish_summary", "demo", "check")  # fmt: skip
TEXTS = ("devices_file", "mqtt_host", "mqtt_prefix", "ha_discovery_prefix", "discovery_file", "http_host")
OPTIONAL_TEXTS = ("mqtt_username", "mqtt_password", "mqtt_cafile", "mqtt_certfile", "mqtt_keyfile",
                  "mqtt_clientname", "domain_suffix", "http_password")  # fmt: skip
# Whole numbers: option -> (lowest, highest).
RANGES = {
    "mqtt_port": (1, 65535),
    "mqtt_session_expiry": (0, MAX_SESSION_EXPIRY),
    "max_command_bytes": COMMAND_BYTES,
    "http_port": (0, 65535),
}
PORTS = ("mqtt_port", "http_port")
# Texts that are one of a few words.
CHOICES = {"mqtt_protocol": PROTOCOLS, "topic_layout": LAYOUT_CHOICES}
# Numbers above 0 (not only whole ones).
POSITIVE_NUMBERS = ("demo_speed",)


def range_words(name: str) -> str:
    """What a whole-number option takes, in words ("a port from 1 to 65535")."""
    low, high = RANGES[name]
    what = "a port" if name in PORTS else "a whole number"
    zero = " (0: no console)" if name == "http_port" else ""
    return f"{what} from {low} to {high}{zero}"


def _check(values: dict[str, Any]) -> None:
    for name in FLAGS:
        if not isinstance(values[name], bool):
            raise SettingsError(name, f"{name}: must be True or False, not {values[name]!r}")
    for name in TEXTS:
        if not isinstance(values[name], str):
            raise SettingsError(name, f"{name}: must be text, not {values[name]!r}")
    for name in OPTIONAL_TEXTS:
        if values[name] is not None and not isinstance(values[name], str):
            shown = "a hidden value" if "password" in name else repr(values[name])
            raise SettingsError(name, f"{name}: must be text, not {shown}")
    for name, (low, high) in RANGES.items():
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            # Said here, at start: a port out of range would otherwise be found
            # out only at the first connect, as "nothing listens there".
            raise SettingsError(name, f"{name}: must be {range_words(name)}, not {value!r}")
    if values["mqtt_protocol"] not in PROTOCOLS:
        protocol = values["mqtt_protocol"]
        raise SettingsError("mqtt_protocol", f"mqtt_protocol: {protocol!r} is none of {', '.join(PROTOCOLS)}")
    speed = values["demo_speed"]
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not speed > 0:
        raise SettingsError("demo_speed", f"demo_speed: must be a number above 0, not {speed!r}")
    if isinstance(values["appliances"], str) or not all(isinstance(name, str) for name in values["appliances"]):
        shown = values["appliances"]
        raise SettingsError("appliances", f"appliances: must be a list of appliance names, not {shown!r}")
