"""The Home Assistant add-on's options: the one table of them, and the reading of /data/options.json.

The first sixteen are hcpy2-0's add-on options, same names and Supervisor
types, so that its users' saved options validate unchanged; two defaults
differ (`HCPY_MQTT_HOST`: empty asks the Supervisor for the broker;
`HCPY_MQTT_CLIENTNAME`: empty gives hcpy-<deviceID>, where hcpy2-0's "hcpy1"
was shared by every installation that kept it). The last three are hcpy's
own, optional ("?" in the schema), so that hcpy2-0's options need not have
them. config.yaml's `options` and `schema` must say what `OPTIONS` says
(`config_yaml_options`, `config_yaml_schema`).

The Supervisor validates options.json against the schema before the add-on
starts; `read` checks again, since a hand-written or older file reaches it
too, and says each wrong value in a sentence that names the option. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from .forks import AUTO, LAYOUT_CHOICES

CONFIG_FILE = "HCPY_CONFIG_FILE"
MQTT_HOST = "HCPY_MQTT_HOST"
MQTT_USERNAME = "HCPY_MQTT_USERNAME"


@dataclass(frozen=True)
class AddonOption:
    name: str
    schema: str  # the Supervisor's type (config.yaml's schema); a trailing "?": optional
    default: Any  # config.yaml's options entry, and the value when options.json lacks it
    option: str | None  # the hc2mqtt option it feeds (None: read by the add-on itself)
    description: str  # one line, for translations/en.yaml and DOCS.md

    @property
    def optional(self) -> bool:
        return self.schema.endswith("?")

    @property
    def kind(self) -> str:
        """The schema's type without its "?" and arguments: str, password, int, bool, list."""
        return self.schema.rstrip("?").split("(")[0]

    @property
    def choices(self) -> tuple[str, ...]:
        """A list(...) schema's values."""
        inner = self.schema.rstrip("?")
        return tuple(inner[len("list(") : -1].split("|")) if self.kind == "list" else ()


OPTIONS: tuple[AddonOption, ...] = (
    AddonOption("HCPY_DEVICES_FILE", "str", "/config/devices.json", "devices_file",
                "devices.json as hc-login writes it (the appliances, their keys)"),
    AddonOption("HCPY_DISCOVERY_FILE", "str", "/config/discovery.yaml", "discovery_file",
                "hcpy2-0's discovery.yaml: Home Assistant discovery overrides"),
    AddonOption(MQTT_HOST, "str", "", "mqtt_host",
                "MQTT broker host; empty: the broker the Supervisor knows (the Mosquitto broker add-on)"),
    AddonOption("HCPY_MQTT_PORT", "int", 1883, "mqtt_port", "MQTT broker port (with a host given above)"),
    AddonOption("HCPY_MQTT_PREFIX", "str", "homeconnect/", "mqtt_prefix", "Topic prefix, with its trailing slash"),
    AddonOption(MQTT_USERNAME, "str", "", "mqtt_username", "MQTT user name; empty: none (or the Supervisor's)"),
    AddonOption("HCPY_MQTT_PASSWORD", "password", "", "mqtt_password", "MQTT password; empty: none"),
    AddonOption("HCPY_MQTT_SSL", "bool?", False, "mqtt_ssl", "TLS to the broker"),
    AddonOption("HCPY_MQTT_CAFILE", "str", "", "mqtt_cafile", "CA certificate that signed the broker's; empty: none"),
    AddonOption("HCPY_MQTT_CERTFILE", "str", "", "mqtt_certfile", "Client certificate; empty: none"),
    AddonOption("HCPY_MQTT_KEYFILE", "str", "", "mqtt_keyfile", "Client certificate's key; empty: none"),
    AddonOption("HCPY_MQTT_CLIENTNAME", "str", "", "mqtt_clientname",
                "MQTT client id; empty: hcpy-<this installation's deviceID>"),
    AddonOption("HCPY_HA_DISCOVERY", "bool?", True, "ha_discovery", "Publish Home Assistant MQTT discovery"),
    AddonOption("HCPY_DOMAIN_SUFFIX", "str", "", "domain_suffix", "Appended to every appliance host (host.suffix)"),
    AddonOption("HCPY_DEBUG", "bool?", False, "debug", "Debug logging (keys and passwords are never logged)"),
    AddonOption("HCPY_EVENTS_AS_SENSORS", "bool?", False, "events_as_sensors",
                "Discover events as sensors instead of event entities"),
    AddonOption(CONFIG_FILE, "str?", "/config/config.ini", None,
                "config.ini read when it exists (per-appliance sections, other hc2mqtt settings); "
                "these options win over it"),
    AddonOption("HCPY_TOPIC_LAYOUT", f"list({'|'.join(LAYOUT_CHOICES)})?", AUTO, "topic_layout",
                "Whose topics: hcpy2-0's, osresearch's or the publishing-modes fork's; auto: as the files say"),
    AddonOption("HCPY_HA_DISCOVERY_PREFIX", "str?", "homeassistant", "ha_discovery_prefix",
                "Home Assistant's discovery prefix"),
)  # fmt: skip
BY_NAME = {o.name: o for o in OPTIONS}

# hc2mqtt options whose empty text means none (hc2mqtt's None), as in hcpy2-0's add-on.
EMPTY_IS_NONE = frozenset({"mqtt_username", "mqtt_password", "mqtt_cafile", "mqtt_certfile", "mqtt_keyfile",
                           "mqtt_clientname"})  # fmt: skip
# hcpy's own options that, left at their default, leave the choice to the
# user's files: discovery.yaml's HA_DISCOVERY_PREFIX (hcpy2-0's add-on had no
# prefix option, so its users set it there) and config.ini's topic_layout.
DEFAULT_DEFERS = frozenset({"HCPY_TOPIC_LAYOUT", "HCPY_HA_DISCOVERY_PREFIX"})
# Options that must name something: empty is no usable value.
NOT_EMPTY = frozenset({"HCPY_DEVICES_FILE", "HCPY_DISCOVERY_FILE", CONFIG_FILE, "HCPY_HA_DISCOVERY_PREFIX"})


def config_yaml_options() -> dict[str, Any]:
    """config.yaml's `options:` (every option with its default)."""
    return {o.name: o.default for o in OPTIONS}


def config_yaml_schema() -> dict[str, str]:
    """config.yaml's `schema:`."""
    return {o.name: o.schema for o in OPTIONS}


class AddonOptionsError(ConfigError):
    """options.json holds values the add-on cannot use: one sentence each, naming the option."""

    def __init__(self, problems: list[str], warnings: list[str] | None = None):
        super().__init__("; ".join(problems))
        self.problems = problems
        self.warnings = warnings or []  # said before the problems: an unknown key may be a misspelt option


@dataclass(frozen=True)
class AddonValues:
    """What options.json asks for."""

    given: dict[str, Any]  # every add-on option's value (options.json's, else its default)
    hc2mqtt: dict[str, Any]  # hc2mqtt's options they feed (an empty host left out: ask the Supervisor)
    config_file: str
    ask_supervisor: bool  # HCPY_MQTT_HOST is empty
    warnings: list[str] = field(default_factory=list)


def read(raw: Mapping[str, Any], where: str = "options.json") -> AddonValues:
    """options.json's values checked; AddonOptionsError with every wrong one."""
    if not isinstance(raw, Mapping):
        raise AddonOptionsError([f"{where}: must be one JSON object of the add-on's options"])
    # Named, not dropped in silence: a misspelt option would leave its default in force unnoticed.
    warnings = [_unknown(key, where) for key in sorted(set(raw) - set(BY_NAME))]
    problems: list[str] = []
    missing: list[str] = []
    given: dict[str, Any] = {}
    for option in OPTIONS:
        value = raw.get(option.name)
        if value is None:
            if not option.optional and option.name in raw:
                problems.append(f"{option.name}: must be {_wanted(option)}, not null")
                continue
            if not option.optional:
                missing.append(option.name)  # the Supervisor writes them all; an older or hand-made file may not
            given[option.name] = option.default
            continue
        problem = _problem(option, value)
        if problem:
            problems.append(problem)
        else:
            given[option.name] = value
    if missing:
        warnings.append(f"{where} lacks {', '.join(missing)}; taking their defaults")
    if problems:
        raise AddonOptionsError(problems, warnings)
    hc2mqtt: dict[str, Any] = {}
    for option in OPTIONS:
        if option.option is None:
            continue
        value = given[option.name]
        if option.name in DEFAULT_DEFERS and value == option.default:
            continue
        if option.option in EMPTY_IS_NONE and value == "":
            value = None
        hc2mqtt[option.option] = value
    ask = given[MQTT_HOST].strip() == ""
    if ask:
        del hc2mqtt["mqtt_host"]
    return AddonValues(given, hc2mqtt, given[CONFIG_FILE], ask, warnings)


def _unknown(key: str, where: str) -> str:
    import difflib  # here: only an unknown key needs it

    close = difflib.get_close_matches(str(key), list(BY_NAME), n=1, cutoff=0.8)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"{where}: ignored {key!r}, which is no option of this add-on{hint}"


def _wanted(option: AddonOption) -> str:
    if option.kind == "int":
        return "a whole number from 1 to 65535"  # the one int option is a port
    if option.kind == "bool":
        return "true or false"
    if option.kind == "list":
        return "one of " + ", ".join(option.choices)
    return "text"


def _problem(option: AddonOption, value: Any) -> str | None:
    """The sentence saying why `value` is no value for `option`; None when it is one."""
    shown = "a hidden value" if option.kind == "password" else repr(value)
    if option.kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535
    elif option.kind == "bool":
        ok = isinstance(value, bool)
    elif option.kind == "list":
        ok = value in option.choices
    else:
        ok = isinstance(value, str)
        if ok and option.name in NOT_EMPTY and not value.strip():
            return f"{option.name}: must not be empty (its default is {option.default})"
    return None if ok else f"{option.name}: must be {_wanted(option)}, not {shown}"
