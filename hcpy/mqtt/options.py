"""Publishing options: what config.ini and an appliance's "hc2mqtt" block switch.

The keys are those of the publishing-modes fork and hcpy2-0's config.ini;
`PublishOptions.parse` checks each and names the appliance and key when one
is wrong. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import ConfigError
from .topics import Layout

RENAME_MODES = ("short", "long", "uid")
FILTER_LISTS = ("long_names", "contains")

# devices.json / config.ini key -> PublishOptions field, for the booleans.
_SWITCHES = {
    "publish_as_mqtt": "as_mqtt",
    "publish_as_json": "as_json",
    "publish_homie_topics": "homie",
    "publish_summary": "summary",
}
OPTION_KEYS = (*_SWITCHES, "homie_prefix", "rename", "publish", "publish_never")
# Keys of the same block that configure per-run consumption (`hcpy.runs`
# reads and checks them); publishing passes them over.
RUN_KEYS = ("energy_meter", "water_meter", "energy_full_scale_kwh", "water_full_scale_l")


@dataclass(frozen=True)
class NameFilter:
    long_names: frozenset[str] = frozenset()
    contains: tuple[str, ...] = ()

    def contained(self, name: str) -> bool:
        return any(part in name for part in self.contains)


@dataclass(frozen=True)
class Rename:
    default: str = "long"
    names: dict[str, str] = field(default_factory=dict)  # full name or decimal uid -> custom name


@dataclass(frozen=True)
class PublishOptions:
    as_mqtt: bool = True
    as_json: bool = False
    homie: bool = False
    homie_prefix: str = "homie/"
    summary: bool = True
    rename: Rename = field(default_factory=Rename)
    publish: NameFilter | None = None  # None: no publish block
    publish_never: NameFilter | None = None
    # Set by hc2mqtt, not by a user's block:
    # which fork's topics the values go to;
    layout: Layout = Layout.HCPY
    # events as states, retained and with their Off (hcpy2-0; what sensors
    # made of events need), rather than occurrences;
    event_states: bool = False
    # what Home Assistant's entities read besides values: whether each
    # control can be used now (T/available/<key>), when the program ends.
    home_assistant: bool = False

    @classmethod
    def parse(cls, block: dict[str, Any] | None, base: PublishOptions | None = None, appliance: str = "") -> PublishOptions:
        """Options from an "hc2mqtt" block over `base` (the config.ini defaults).

        Each key replaces the base's value, except `rename`, whose entries are
        added to the base's. Raises ConfigError naming the appliance and key.
        """
        where = f"devices.json: {appliance}: hc2mqtt." if appliance else "config.ini: "
        options = base or cls()
        if block is None:
            return options
        if not isinstance(block, dict):
            raise ConfigError(
                f"{where.rstrip('.: ')} must be an object of publishing options, such as {{\"publish_as_json\": true}}"
            )
        changes: dict[str, Any] = {}
        for key, value in block.items():
            if key in _SWITCHES:
                changes[_SWITCHES[key]] = _switch(where, key, value)
            elif key == "homie_prefix":
                changes["homie_prefix"] = _homie_prefix(where, value)
            elif key == "rename":
                changes["rename"] = _rename(where, value, options.rename)
            elif key in ("publish", "publish_never"):
                changes[key] = _name_filter(where, key, value)
            elif key in RUN_KEYS:
                continue
            else:
                known = ", ".join(OPTION_KEYS + RUN_KEYS)
                raise ConfigError(f"{where}{key} is not a publishing option; use one of {known}")
        return replace(options, **changes)


# -- parsing helpers ----------------------------------------------------------------------


def _switch(where: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}{key} must be true or false, not {value!r}")
    return value


def _homie_prefix(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip("/") or any(c in value for c in "+#"):
        raise ConfigError(f"{where}homie_prefix must be a topic prefix such as \"homie/\", not {value!r}")
    return value if value.endswith("/") else value + "/"


def _rename(where: str, value: Any, base: Rename) -> Rename:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}rename must be an object such as {{\"default\": \"short\", \"527\": \"door\"}}")
    default, names = base.default, dict(base.names)
    for key, name in value.items():
        if key == "default":
            if name not in RENAME_MODES:
                raise ConfigError(f"{where}rename.default must be short, long or uid, not {name!r}")
            default = name
        elif not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}rename.{key} must be a non-empty name, not {name!r}")
        else:
            names[key] = name
    return Rename(default, names)


def _name_filter(where: str, key: str, value: Any) -> NameFilter | None:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}{key} must be an object such as {{\"contains\": [\"Event\"]}}")
    lists: dict[str, list[str]] = {}
    for name, items in value.items():
        if name not in FILTER_LISTS:
            raise ConfigError(f"{where}{key}.{name} is not known; use long_names or contains")
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise ConfigError(f"{where}{key}.{name} must be a list of non-empty strings")
        lists[name] = items
    result = NameFilter(frozenset(lists.get("long_names", ())), tuple(lists.get("contains", ())))
    return result if result.long_names or result.contains else None
