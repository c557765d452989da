"""Home Assistant's discovery as the bridge takes it (`hcpy.mqtt.discovery_port.DiscoveryPort`). Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..appliance.state import ApplianceState
from ..mqtt.naming import Naming
from ..mqtt.outgoing import Outgoing
from ..mqtt.topics import Topics
from ..runs.config import RunConfig
from . import run_entities
from .device import device_block
from .discovery import Discovery, DiscoveryOptions, config_topic_filter


@dataclass(frozen=True)
class HomeAssistant:
    """Announce every appliance, and its runs, to Home Assistant with these options."""

    options: DiscoveryOptions = field(default_factory=DiscoveryOptions)

    @property
    def config_filter(self) -> str:
        return config_topic_filter(self.options)

    @property
    def events_as_sensors(self) -> bool:
        return self.options.events_as_sensors

    def appliance(self, topics: Topics, naming: Naming) -> ApplianceEntities:
        return ApplianceEntities(topics, Discovery(topics, naming, self.options), self.options.prefix)


class ApplianceEntities:
    """One appliance's Home Assistant entities: its features' and its runs'."""

    def __init__(self, topics: Topics, discovery: Discovery, prefix: str):
        self.topics = topics
        self.discovery = discovery
        self.prefix = prefix

    def messages(self, state: ApplianceState, info: dict[str, Any]) -> list[Outgoing]:
        return self.discovery.messages(state, info)

    def removals(self, state: ApplianceState, current: Iterable[Outgoing], known: Iterable[str]) -> list[Outgoing]:
        return self.discovery.removals(state, current, known)

    def run_messages(
        self, state: ApplianceState, info: dict[str, Any], config: RunConfig, known: set[str]
    ) -> list[Outgoing]:
        topics = self.topics
        device = device_block(topics.appliance, state, info)
        current = run_entities.discovery_messages(topics.base, topics.appliance, device, topics.bridge_lwt, config,
                                                  self.prefix)  # fmt: skip
        return current + run_entities.stale_configs(topics.appliance, self.prefix, current, known)
