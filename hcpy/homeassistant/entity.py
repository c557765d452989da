"""The envelope every Home Assistant entity config of hcpy shares. Pure.

Each entity, whatever its component and whether it stands for a feature, an
info key or the runs, gets its identity and wiring here and only here.
Identity follows hcpy2-0 so that existing entities survive the switch:
config topic ``<prefix>/<component>/hcpy/<object id>/config``, unique_id
``<appliance>_<suffix>``, default_entity_id ``<component>.<slug>``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..mqtt.outgoing import Outgoing

NODE_ID = "hcpy"  # the node segment of hcpy2-0's config topics
ORIGIN = {"name": "hcpy"}


def unique_id(appliance: str, suffix: str) -> str:
    return f"{appliance}_{suffix}"


def envelope(
    component: str, unique_id: str, name: str | None, device: dict[str, Any], availability: list[dict[str, str]]
) -> dict[str, Any]:
    """The keys every entity's config starts with, in the order Home Assistant users have seen them."""
    config: dict[str, Any] = {
        "name": name,
        "unique_id": unique_id,
        "default_entity_id": f"{component}.{slug(unique_id)}",
        "device": device,
        "origin": ORIGIN,
    }
    if len(availability) > 1:
        # The appliance's topic and the bridge's (and a control's own): available only while all say so.
        config["availability_mode"] = "all"
    config["availability"] = availability
    return config


def config_topic(prefix: str, component: str, unique_id: str) -> str:
    return f"{prefix}/{component}/{NODE_ID}/{object_id(unique_id)}/config"


def message(prefix: str, component: str, unique_id: str, config: dict[str, Any]) -> Outgoing:
    """The retained config message of one entity."""
    return Outgoing(config_topic(prefix, component, unique_id), json.dumps(config, ensure_ascii=False), retain=True)


def object_id(unique_id: str) -> str:
    # Home Assistant only matches [a-zA-Z0-9_-] in the object id segment of a
    # config topic; names hcpy2-0 could discover already fit and stay unchanged.
    return re.sub(r"[^a-zA-Z0-9_-]", "_", unique_id)


def slug(text: str) -> str:
    # default_entity_id is validated as an entity id: lower-case [a-z0-9_],
    # no leading, trailing or doubled underscores.
    slug = re.sub(r"[^a-z0-9_]", "_", text.lower())
    slug = re.sub(r"_+", "_", slug).strip("_")
    return slug or "appliance"
