"""What each hcpy fork's own files tell hc2mqtt, so that their users drop in unchanged.

Detected from the user's files and the way hc2mqtt was started, never
guessed from the appliance:

- osresearch hcpy: ``hc2mqtt config.json``, the devices file as the only
  argument; its script published the compact summary on ``T/state``.
- The publishing-modes fork: an entry named ``MQTT_CONF`` in devices.json
  holds the broker settings and topic prefix, and each appliance's
  ``description`` may hold an ``hc2mqtt`` block; its values go to
  ``T/<Key>/value`` with Homie attributes beside them.
- hcpy2-0 (and its forks): everything else; hcpy's own layout.

Pure: `devices_layout_hints` reads what `read_raw` returned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..appliance.devices import MQTT_CONF, is_settings_entry
from ..appliance.entry import OPTIONS_KEY
from ..errors import ConfigError
from ..mqtt.topics import Layout

AUTO = "auto"
LAYOUT_CHOICES = (AUTO, *(layout.value for layout in Layout))

# MQTT_CONF key -> hc2mqtt option.
MQTT_CONF_KEYS = {
    "host": "mqtt_host",
    "port": "mqtt_port",
    "username": "mqtt_username",
    "password": "mqtt_password",
    "topic_prefix": "mqtt_prefix",
}


def read_raw(path: str | Path) -> Any:
    """The devices file's JSON, or None when it cannot be read (load_devices says why, later)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


@dataclass(frozen=True)
class Choice:
    layout: Layout
    why: str  # for the log: which of the user's files decided it


def choose_layout(requested: str, raw_devices: Any, devices_as_argument: bool) -> Choice:
    """The topic layout: the one asked for, else the one the user's files come from."""
    if requested != AUTO:
        return Choice(Layout(requested), "topic_layout")
    entries = raw_devices if isinstance(raw_devices, list) else []
    if any(is_settings_entry(obj) for obj in entries):
        return Choice(Layout.PUBLISHING_MODES, f"devices.json has a {MQTT_CONF} entry (the publishing-modes fork's)")
    if any(_description_block(obj) is not None for obj in entries):
        return Choice(
            Layout.PUBLISHING_MODES,
            f"devices.json has {OPTIONS_KEY} blocks inside 'description' (the publishing-modes fork's)",
        )
    if devices_as_argument:
        return Choice(Layout.OSRESEARCH, "the devices file was given as the only argument (osresearch's hc2mqtt)")
    return Choice(Layout.HCPY, "")


def _description_block(obj: Any) -> Any:
    description = obj.get("description") if isinstance(obj, dict) else None
    return description.get(OPTIONS_KEY) if isinstance(description, dict) else None


def mqtt_conf(raw_devices: Any, source: str) -> dict[str, Any]:
    """hc2mqtt options from the devices file's MQTT_CONF entry ({} when it has none).

    Raises ConfigError naming the key when a value is unusable. Empty user
    name and password (the fork's template) mean none.
    """
    entries = raw_devices if isinstance(raw_devices, list) else []
    conf = next((obj for obj in entries if is_settings_entry(obj)), None)
    if conf is None:
        return {}
    where = f"{source}: {MQTT_CONF}"
    options: dict[str, Any] = {}
    for key, option in MQTT_CONF_KEYS.items():
        value = conf.get(key)
        if value is None or (value == "" and key in ("username", "password")):
            continue
        if key == "port":
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
                raise ConfigError(f"{where}: port must be a whole number from 1 to 65535, not {value!r}")
        elif not isinstance(value, str) or (key != "topic_prefix" and not value.strip()):
            shown = "a hidden value" if key == "password" else repr(value)
            raise ConfigError(f"{where}: {key} must be text, not {shown}")
        options[option] = value
    return options
