"""An MQTT message on its way out: the one type every part of the bridge hands over."""

from __future__ import annotations

from typing import NamedTuple


class Outgoing(NamedTuple):
    topic: str
    payload: str
    retain: bool = True
