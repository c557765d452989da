"""The Home Assistant device block of an appliance. Pure."""

from __future__ import annotations

import re
from typing import Any

from ..appliance.state import ApplianceState


def device_block(name: str, state: ApplianceState, info: dict[str, Any]) -> dict[str, Any]:
    """The Home Assistant device: handshake info first, the profile's description as fallback."""
    description = state.profile.description
    device: dict[str, Any] = {"identifiers": [name], "name": name}
    brand = _text(info.get("brand")) or description.brand
    if brand:
        device["manufacturer"] = brand.title()
    model = _text(info.get("deviceType")) or description.type
    if model:
        device["model"] = model
    model_id = _text(info.get("vib")) or description.model
    if model_id:
        device["model_id"] = model_id
    for key, field in (("swVersion", "sw_version"), ("hwVersion", "hw_version"), ("serialNumber", "serial_number")):
        if _text(info.get(key)):
            device[field] = _text(info.get(key))
    mac = _mac(info.get("mac"))
    if mac:
        device["connections"] = [["mac", mac]]
    return device


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _mac(value: Any) -> str:
    text = _text(value).lower().replace("-", ":")
    digits = re.sub(r"[^0-9a-f]", "", text)
    if len(digits) != 12:
        return ""
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))
