"""The MQTT messages and Home Assistant entities of one appliance's runs. Pure.

Topics (T is the appliance's base topic), all retained JSON:

- ``T/run``: the last finished run (`record.RunRecord`);
- ``T/run/active``: the run under way, an empty retained message when none;
- ``T/run/totals``: energy_kwh, water_l and the runs counted so far.

Home Assistant entities, on the appliance's device, config topics
``<prefix>/sensor/hcpy/<unique_id>/config``:

- ``<name>_run_energy_total`` (device_class energy, kWh) and
  ``<name>_run_water_total`` (device_class water, L), state_class
  total_increasing: what the Energy dashboard takes;
- the last run's ``<name>_run_energy``, ``<name>_run_water``,
  ``<name>_run_duration``, ``<name>_run_program`` and ``<name>_run_ended``.

The energy and water entities exist only when a meter or a full-scale value
gives that figure. Their availability is hc2mqtt's own (the bridge LWT): the
totals stay readable while the appliance is off.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from ..runs.config import ENERGY, WATER, RunConfig
from ..runs.detector import ENDINGS
from .discovery import NODE_ID, ORIGIN
from .outgoing import Outgoing

RUN, ACTIVE, TOTALS = "run", "run/active", "run/totals"
# unique_id suffixes of every run entity, for finding stale configs.
ENTITY_IDS = ("run_energy_total", "run_water_total", "run_energy", "run_water", "run_duration", "run_program", "run_ended")


def run_topic(base: str, what: str = RUN) -> str:
    return f"{base}/{what}"


def payload(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def state_messages(
    base: str, last: dict[str, Any] | None, active: dict[str, Any] | None, totals: dict[str, Any]
) -> list[Outgoing]:
    """Every retained run topic as it stands (after a (re)connect)."""
    out = [Outgoing(run_topic(base, TOTALS), payload(totals))]
    if last is not None:
        out.append(Outgoing(run_topic(base, RUN), payload(last)))
    out.append(Outgoing(run_topic(base, ACTIVE), payload(active) if active is not None else ""))
    return out


def finished_messages(base: str, record: dict[str, Any], totals: dict[str, Any]) -> list[Outgoing]:
    """A run ended: the totals, its record, and no run under way."""
    return [
        Outgoing(run_topic(base, TOTALS), payload(totals)),
        Outgoing(run_topic(base, RUN), payload(record)),
        Outgoing(run_topic(base, ACTIVE), ""),
    ]


def config_topic(prefix: str, unique_id: str) -> str:
    return f"{prefix}/sensor/{NODE_ID}/{re.sub(r'[^a-zA-Z0-9_-]', '_', unique_id)}/config"


def discovery_messages(
    base: str, appliance: str, device: dict[str, Any], bridge_lwt: str, config: RunConfig, prefix: str
) -> list[Outgoing]:
    """Home Assistant's config for each run entity this appliance has.

    `appliance` is the name as unique_ids carry it, `device` the appliance's
    device block (`hcpy.mqtt.discovery.device_block`).
    """
    totals, last = run_topic(base, TOTALS), run_topic(base, RUN)
    entities: list[tuple[str, dict[str, Any]]] = []
    units = {ENERGY: ("energy", "kWh", "energy_kwh", "energy_estimate_kwh"), WATER: ("water", "L", "water_l", "water_estimate_l")}
    for quantity in (ENERGY, WATER):
        source = config.source(quantity)
        if source is None:
            continue
        device_class, unit, measured, estimated = units[quantity]
        word = quantity.capitalize()
        entities.append(
            (
                f"run_{quantity}_total",
                {
                    "name": f"{word} of all runs",
                    "state_topic": totals,
                    "value_template": f"{{{{ value_json.{measured} }}}}",
                    "device_class": device_class,
                    "unit_of_measurement": unit,
                    "state_class": "total_increasing",
                },
            )
        )
        entities.append(
            (
                f"run_{quantity}",
                {
                    "name": f"{word} of the last run" + (" (estimate)" if source == "estimate" else ""),
                    "state_topic": last,
                    "value_template": f"{{{{ value_json.{measured if source == 'meter' else estimated} }}}}",
                    "device_class": device_class,
                    "unit_of_measurement": unit,
                },
            )
        )
    entities += [
        (
            "run_duration",
            {
                "name": "Duration of the last run",
                "state_topic": last,
                "value_template": "{{ value_json.duration_s }}",
                "device_class": "duration",
                "unit_of_measurement": "s",
            },
        ),
        (
            "run_program",
            {
                "name": "Program of the last run",
                "state_topic": last,
                "value_template": "{{ value_json.program }}",
                # The whole record, for cards and templates.
                "json_attributes_topic": last,
            },
        ),
        (
            "run_ended",
            {
                "name": "How the last run ended",
                "state_topic": last,
                "value_template": "{{ value_json.ended }}",
                "device_class": "enum",
                "options": list(ENDINGS),
            },
        ),
    ]
    out = []
    for suffix, specific in entities:
        unique_id = f"{appliance}_{suffix}"
        config_payload = {
            "name": specific.pop("name"),
            "unique_id": unique_id,
            "default_entity_id": f"sensor.{_slug(unique_id)}",
            "device": device,
            "origin": ORIGIN,
            "availability": [{"topic": bridge_lwt}],
            **specific,
        }
        out.append(Outgoing(config_topic(prefix, unique_id), payload(config_payload)))
    return out


def stale_configs(appliance: str, prefix: str, current: list[Outgoing], known: Iterable[str]) -> list[Outgoing]:
    """Empty retained configs for run entities the broker holds but this configuration has not."""
    keep = {m.topic for m in current}
    ours = {config_topic(prefix, f"{appliance}_{suffix}") for suffix in ENTITY_IDS}
    return [Outgoing(topic, "") for topic in sorted((ours & set(known)) - keep)]


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9_]", "_", text.lower())
    return re.sub(r"_+", "_", slug).strip("_") or "appliance"
