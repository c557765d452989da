"""Which meters and full-scale values one appliance's runs are measured with. Pure.

Read from the appliance's "hc2mqtt" block of devices.json (`RUN_KEYS` of
`hcpy.mqtt.options`):

- ``energy_meter``, ``water_meter``: a meter, either an object
  ``{"topic": "tele/plug/SENSOR", "path": "ENERGY.Total", "unit": "kWh"}``
  (an MQTT topic read through hc2mqtt's own broker connection) or
  ``{"url": "http://sonoff/cm?cmnd=Status%208", "path": "StatusSNS.ENERGY.Total",
  "unit": "kWh", "timeout": 5}`` (an HTTP JSON endpoint polled at the start
  and the end of a run), or the same as one string:
  ``"<url or mqtt:topic> [path] [unit]"``;
- ``energy_full_scale_kwh``, ``water_full_scale_l``: what the appliance's
  EnergyForecast / WaterForecast of 100 % means, to turn its forecasts into
  estimates.

homeconnect-hcpy's ``addons`` object (``powermeter``: a Tasmota's
``cm?cmnd=status+8`` URL; ``watermeter``: an ESPHome ``/sensor/<id>`` URL,
in m³) is read as the HTTP meters it names, unless the hc2mqtt block
configures that meter itself.

A bad value is one warning naming the appliance, the key, the value and what
is expected; that meter (or value) is left out and nothing else stops.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..logs import excerpt

ENERGY, WATER = "energy", "water"
QUANTITIES = (ENERGY, WATER)
DEFAULT_TIMEOUT = 5.0  # seconds an HTTP meter has to answer

# Unit as written (case-insensitive) -> (unit as shown, factor to kWh / L).
UNITS: dict[str, dict[str, tuple[str, float]]] = {
    ENERGY: {"kwh": ("kWh", 1.0), "wh": ("Wh", 0.001)},
    WATER: {"l": ("L", 1.0), "m3": ("m³", 1000.0), "m³": ("m³", 1000.0)},
}
DEFAULT_UNIT = {ENERGY: "kwh", WATER: "l"}
UNIT_WORDS = {ENERGY: "kWh or Wh", WATER: "L, m3 or m³"}
RECORD_UNIT = {ENERGY: "kWh", WATER: "L"}  # what records and totals count in

METER_KEYS = {ENERGY: "energy_meter", WATER: "water_meter"}
FULL_SCALE_KEYS = {ENERGY: "energy_full_scale_kwh", WATER: "water_full_scale_l"}
_OBJECT_KEYS = ("topic", "url", "path", "unit", "timeout")

# homeconnect-hcpy's addons: key -> (quantity, path, unit) of what its users point them at.
ADDONS = {
    "powermeter": (ENERGY, "StatusSNS.ENERGY.Total", "kwh"),  # Tasmota: cm?cmnd=status+8
    "watermeter": (WATER, "value", "m3"),  # ESPHome REST: /sensor/<id>
}

_EXAMPLE_OBJECT = {
    ENERGY: '{"topic": "tele/plug/SENSOR", "path": "ENERGY.Total", "unit": "kWh"}',
    WATER: '{"url": "http://water-meter/sensor/water_total", "path": "value", "unit": "m3"}',
}
_EXAMPLE_STRING = {ENERGY: '"mqtt:tele/plug/SENSOR ENERGY.Total kWh"', WATER: '"http://water-meter/sensor/water_total value m3"'}
_PATH_PART = re.compile(r"[^.\s]+")
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]*@")
_SECRET_QUERY = re.compile(r"(?i)((?:^|[?&])(?:password|pass|pw|token|key)=)[^&]*")


class BadMeter(ValueError):
    """What is wrong with a meter's configuration, as the end of a sentence."""


@dataclass(frozen=True)
class MeterSpec:
    """One meter: where its counter is read, and how to make kWh or L of it."""

    quantity: str  # ENERGY or WATER
    key: str  # where it was configured, for messages: "hc2mqtt.energy_meter", "addons.powermeter"
    topic: str | None = None  # an MQTT meter
    url: str | None = None  # an HTTP meter
    path: tuple[str, ...] = ()  # dotted keys into its JSON; () for a plain number
    unit: str = "kWh"  # as the meter counts
    factor: float = 1.0  # to kWh (energy) or L (water)
    timeout: float = DEFAULT_TIMEOUT

    @property
    def where(self) -> str:
        """The meter for a log line: its topic, or its URL without credentials."""
        if self.topic is not None:
            return f"on MQTT topic {self.topic}"
        return shown_url(self.url or "")

    @property
    def path_text(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class RunConfig:
    """How one appliance's runs are measured."""

    energy: MeterSpec | None = None
    water: MeterSpec | None = None
    energy_full_scale_kwh: float | None = None
    water_full_scale_l: float | None = None

    def meter(self, quantity: str) -> MeterSpec | None:
        return self.energy if quantity == ENERGY else self.water

    def full_scale(self, quantity: str) -> float | None:
        return self.energy_full_scale_kwh if quantity == ENERGY else self.water_full_scale_l

    def source(self, quantity: str) -> str | None:
        """Where a run's figure of this quantity comes from: "meter", "estimate" or None (nowhere)."""
        if self.meter(quantity) is not None:
            return "meter"
        if self.full_scale(quantity) is not None:
            return "estimate"
        return None

    @property
    def meters(self) -> list[MeterSpec]:
        return [m for m in (self.energy, self.water) if m is not None]

    @property
    def meter_topics(self) -> list[str]:
        return list(dict.fromkeys(m.topic for m in self.meters if m.topic is not None))


@dataclass
class ParsedConfig:
    config: RunConfig
    warnings: list[str] = field(default_factory=list)  # one sentence each, for the log
    notes: list[str] = field(default_factory=list)  # for the debug log


def parse_run_config(appliance: str, block: Any, addons: Any = None) -> ParsedConfig:
    """The run configuration of one appliance from its hc2mqtt block and homeconnect-hcpy addons."""
    where = f"devices.json: {appliance}: "
    warnings: list[str] = []
    notes: list[str] = []
    # A block that is no object is PublishOptions.parse's to report.
    block = block if isinstance(block, dict) else {}
    meters: dict[str, MeterSpec | None] = {}
    configured: set[str] = set()  # quantities the hc2mqtt block speaks for (even wrongly)
    for quantity in QUANTITIES:
        key = METER_KEYS[quantity]
        value = block.get(key)
        if value is None:
            continue
        configured.add(quantity)
        try:
            meters[quantity] = parse_meter(quantity, value, f"hc2mqtt.{key}")
        except BadMeter as exc:
            warnings.append(
                f"{where}hc2mqtt.{key} is {shown(value)}: {exc}; this meter is left out "
                f"(runs are recorded without {quantity} from it)"
            )
    full: dict[str, float | None] = {}
    for quantity in QUANTITIES:
        key = FULL_SCALE_KEYS[quantity]
        value = block.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            what = "kWh an EnergyForecast" if quantity == ENERGY else "litres a WaterForecast"
            warnings.append(
                f"{where}hc2mqtt.{key} is {shown(value)}: expected a positive number, the {what} of 100 % "
                f"stands for; it is left out (runs get no {quantity} estimate)"
            )
            continue
        full[quantity] = float(value)

    if addons is not None:
        _addons(where, addons, configured, meters, warnings, notes)

    config = RunConfig(
        energy=meters.get(ENERGY),
        water=meters.get(WATER),
        energy_full_scale_kwh=full.get(ENERGY),
        water_full_scale_l=full.get(WATER),
    )
    return ParsedConfig(config, warnings, notes)


def _addons(
    where: str,
    addons: Any,
    configured: set[str],
    meters: dict[str, MeterSpec | None],
    warnings: list[str],
    notes: list[str],
) -> None:
    """homeconnect-hcpy's "addons" object: its powermeter and watermeter URLs."""
    if not isinstance(addons, dict):
        warnings.append(
            f"{where}addons is {shown(addons)}: expected homeconnect-hcpy's object such as "
            '{"powermeter": "http://sonoff/cm?cmnd=status+8"}; it is left out'
        )
        return
    for key, (quantity, path, unit) in ADDONS.items():
        value = addons.get(key)
        if value is None or value == "":
            continue
        if quantity in configured:
            notes.append(f"{where}addons.{key} is not used: hc2mqtt.{METER_KEYS[quantity]} names the {quantity} meter")
            continue
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            warnings.append(
                f"{where}addons.{key} is {shown(value)}: expected the meter's URL, such as "
                f'"http://sonoff-dishwasher.local/cm?cmnd=status+8"; this meter is left out '
                f"(runs are recorded without {quantity} from it)"
            )
            continue
        written, factor = UNITS[quantity][unit]
        meters[quantity] = MeterSpec(quantity, f"addons.{key}", url=value, path=parse_path(path), unit=written, factor=factor)
    unused = [str(k) for k in addons if k not in ADDONS]
    if unused:
        notes.append(f"{where}addons {', '.join(unused)}: not used by hcpy (it reads powermeter and watermeter)")


def shown(value: Any, limit: int = 120) -> str:
    """A value from devices.json as the user wrote it there (JSON), cut to `limit` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = excerpt(value)
    return text if len(text) <= limit else text[:limit] + "…"


def parse_meter(quantity: str, value: Any, key: str = "") -> MeterSpec:
    """A meter from its object or string form; BadMeter says what is wrong."""
    if isinstance(value, str):
        return _from_string(quantity, value, key)
    if isinstance(value, dict):
        return _from_object(quantity, value, key)
    raise BadMeter(_expected(quantity))


def _expected(quantity: str) -> str:
    return (
        f'expected an object with a "topic" (MQTT) or a "url" (HTTP), such as {_EXAMPLE_OBJECT[quantity]}, '
        f"or a string such as {_EXAMPLE_STRING[quantity]}"
    )


def _from_object(quantity: str, value: dict[str, Any], key: str) -> MeterSpec:
    unknown = [k for k in value if k not in _OBJECT_KEYS]
    if unknown:
        raise BadMeter(f"{shown(unknown[0])} is no meter key; use {', '.join(_OBJECT_KEYS)}")
    topic, url = value.get("topic"), value.get("url")
    if topic is not None and url is not None:
        raise BadMeter('give either a "topic" (MQTT) or a "url" (HTTP), not both')
    if topic is None and url is None:
        raise BadMeter('a meter needs a "topic" (MQTT) or a "url" (HTTP)')
    path = value.get("path")
    if path is not None and not isinstance(path, str):
        raise BadMeter(_path_problem())
    unit = value.get("unit")
    if unit is not None and not isinstance(unit, str):
        raise BadMeter(_unit_problem(quantity))
    timeout = value.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
        raise BadMeter(f"timeout must be a positive number of seconds ({DEFAULT_TIMEOUT:g} when left out)")
    return _spec(quantity, key, topic, url, path or "", unit, float(timeout))


def _from_string(quantity: str, value: str, key: str) -> MeterSpec:
    words = value.split()
    if not words or len(words) > 3:
        raise BadMeter(f'expected "<url or mqtt:topic> [path] [unit]", such as {_EXAMPLE_STRING[quantity]}')
    first, rest = words[0], words[1:]
    path, unit = "", None
    if len(rest) == 2:
        path, unit = rest
    elif len(rest) == 1:
        # One word after the meter: a unit if it reads as one, else a path.
        if rest[0].lower() in UNITS[quantity] or rest[0].lower() in UNITS[_other(quantity)]:
            unit = rest[0]
        else:
            path = rest[0]
    if first.startswith("mqtt:"):
        return _spec(quantity, key, first[len("mqtt:") :], None, path, unit, DEFAULT_TIMEOUT)
    if first.startswith(("http://", "https://")):
        return _spec(quantity, key, None, first, path, unit, DEFAULT_TIMEOUT)
    raise BadMeter(f'it must begin with "mqtt:" and a topic, or with an http:// or https:// URL, such as {_EXAMPLE_STRING[quantity]}')


def _other(quantity: str) -> str:
    return WATER if quantity == ENERGY else ENERGY


def _spec(quantity: str, key: str, topic: Any, url: Any, path: str, unit: str | None, timeout: float) -> MeterSpec:
    if topic is not None and (not isinstance(topic, str) or not topic or any(c in topic for c in "+#\x00")):
        raise BadMeter('topic must be an MQTT topic without wildcards (+, #), such as "tele/plug/SENSOR"')
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://")) or any(c.isspace() for c in url)):
        raise BadMeter('url must be an http:// or https:// URL, such as "http://sonoff/cm?cmnd=Status%208"')
    try:
        parts = parse_path(path)
    except ValueError:
        raise BadMeter(_path_problem()) from None
    written, factor = _unit(quantity, unit)
    return MeterSpec(quantity, key, topic=topic, url=url, path=parts, unit=written, factor=factor, timeout=timeout)


def _unit(quantity: str, unit: str | None) -> tuple[str, float]:
    found = UNITS[quantity].get((unit if unit is not None else DEFAULT_UNIT[quantity]).lower())
    if found is None:
        raise BadMeter(_unit_problem(quantity))
    return found


def _unit_problem(quantity: str) -> str:
    return f"unit must be {UNIT_WORDS[quantity]} for a{'n' if quantity == ENERGY else ''} {quantity} meter"


def _path_problem() -> str:
    return 'path must be dotted keys, such as "StatusSNS.ENERGY.Total" (list indexes as numbers: "emeters.0.total")'


def parse_path(text: str) -> tuple[str, ...]:
    """ "StatusSNS.ENERGY.Total" -> ("StatusSNS", "ENERGY", "Total"); "" -> (). ValueError when malformed."""
    if text == "":
        return ()
    parts = text.split(".")
    if not all(_PATH_PART.fullmatch(part) for part in parts):
        raise ValueError(f"not a dotted path: {text!r}")
    return tuple(parts)


def shown_url(url: str) -> str:
    """A URL fit for a log line: user:password@ and password=/token= values masked."""
    url = _CREDENTIALS.sub("***@", url)
    return _SECRET_QUERY.sub(r"\1***", url)
