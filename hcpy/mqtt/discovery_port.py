"""What the bridge asks of whoever announces its appliances' entities (Home Assistant's discovery).

The bridge speaks MQTT and knows nothing of Home Assistant: the application
hands it a `DiscoveryPort` in `BridgeSettings.discovery`
(`hcpy.homeassistant.announcer.HomeAssistant`), or None to announce nothing.
Pure: protocols only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from ..appliance.state import ApplianceState
from ..runs.config import RunConfig
from .naming import Naming
from .outgoing import Outgoing
from .topics import Topics


class ApplianceDiscovery(Protocol):
    """One appliance's entity configs, as retained messages."""

    def messages(self, state: ApplianceState, info: dict[str, Any]) -> list[Outgoing]:
        """Every entity's config; `info` is the handshake's device and network info."""
        ...

    def removals(self, state: ApplianceState, current: Iterable[Outgoing], known: Iterable[str]) -> list[Outgoing]:
        """Empty retained messages for configs of this appliance in `known` that `current` no longer has."""
        ...

    def run_messages(
        self, state: ApplianceState, info: dict[str, Any], config: RunConfig, known: set[str]
    ) -> list[Outgoing]:
        """The configs of the appliance's run entities, and the removal of stale ones among `known`."""
        ...


class DiscoveryPort(Protocol):
    @property
    def config_filter(self) -> str:
        """The topic filter of every config this port may have published (the broker's retained ones are weighed)."""
        ...

    @property
    def events_as_sensors(self) -> bool:
        """Events are announced as sensors: the bridge publishes them as states."""
        ...

    def appliance(self, topics: Topics, naming: Naming) -> ApplianceDiscovery: ...
