"""The Home Assistant entities of one appliance's runs. Pure.

On the appliance's device, config topics ``<prefix>/sensor/hcpy/<unique_id>/config``:

- ``<name>_run_energy_total`` (device_class energy, kWh) and
  ``<name>_run_water_total`` (device_class water, L), state_class
  total_increasing: what the Energy dashboard takes;
- the last run's ``<name>_run_energy``, ``<name>_run_water``,
  ``<name>_run_duration``, ``<name>_run_program`` and ``<name>_run_ended``.

The energy and water entities exist only when a meter or a full-scale value
gives that figure. The envelope is every entity's (`entity.envelope`).
"""

from __future__ import annotations

from typing import Any

from ..mqtt.outgoing import Outgoing
from ..mqtt.run_topics import RUN, TOTALS, run_topic
from ..runs.config import ENERGY, WATER, RunConfig
from ..runs.detector import ENDINGS
from . import entity

COMPONENT = "sensor"
# unique_id suffixes of every run entity, for finding stale configs.
ENTITY_IDS = (
    "run_energy_total",
    "run_water_total",
    "run_energy",
    "run_water",
    "run_duration",
    "run_program",
    "run_ended",
)


def discovery_messages(
    base: str, appliance: str, device: dict[str, Any], bridge_lwt: str, config: RunConfig, prefix: str
) -> list[Outgoing]:
    """Home Assistant's config for each run entity this appliance has.

    `appliance` is the name as unique_ids carry it, `device` the appliance's
    device block (`device.device_block`).
    """
    totals, last = run_topic(base, TOTALS), run_topic(base, RUN)
    entities: list[tuple[str, dict[str, Any]]] = []
    units = {
        ENERGY: ("energy", "kWh", "energy_kwh", "energy_estimate_kwh"),
        WATER: ("water", "L", "water_l", "water_estimate_l"),
    }
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
        unique_id = entity.unique_id(appliance, suffix)
        # hc2mqtt's own availability (the bridge LWT): the totals stay readable while the appliance is off.
        config_payload = entity.envelope(COMPONENT, unique_id, specific.pop("name"), device, [{"topic": bridge_lwt}])
        config_payload.update(specific)
        out.append(entity.message(prefix, COMPONENT, unique_id, config_payload))
    return out


def stale_configs(appliance: str, prefix: str, current: list[Outgoing], known: set[str]) -> list[Outgoing]:
    """Empty retained configs for run entities the broker holds but this configuration has not."""
    keep = {m.topic for m in current}
    ours = {entity.config_topic(prefix, COMPONENT, entity.unique_id(appliance, suffix)) for suffix in ENTITY_IDS}
    return [Outgoing(topic, "") for topic in sorted((ours & set(known)) - keep)]
