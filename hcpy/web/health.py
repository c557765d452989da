"""Whether hc2mqtt is well (`/healthz`): the broker and every appliance connected.

Pure: it reads what the bridge keeps (the MQTT link's state, each
connection's stats and journal) and says it as JSON with a status code, 200
when everything is up and 503 otherwise, for a container's health check or
a monitoring probe.
"""

from __future__ import annotations

from typing import Any

from ..appliance.observed import ONLINE
from ..mqtt.bridge import Bridge
from ..times import iso

UP, DOWN = 200, 503


def report(bridge: Bridge) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): the broker's connection and each appliance's, with since when and why."""
    link = bridge.link
    broker_up = bool(link.connected)
    appliances: dict[str, dict[str, Any]] = {}
    all_up = broker_up
    for appliance in bridge.appliances:
        stats, journal = appliance.connection.stats, appliance.connection.journal
        online = stats.state == ONLINE
        all_up = all_up and online
        appliances[appliance.name] = {
            "state": stats.state,
            "since": iso(stats.since),
            # Why it is not online; an online appliance's last drop is history, not a problem.
            "reason": None if online else stats.reason,
            "last_message": iso(journal.last_in_at),
        }
    body = {
        "status": "ok" if all_up else "degraded",
        "broker": {"connected": broker_up, "since": iso(link.connected_since) if broker_up else None},
        "appliances": appliances,
    }
    return (UP if all_up else DOWN), body
