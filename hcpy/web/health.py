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
from ..mqtt.link import no_broker
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


def liveness(bridge: Bridge) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) for `/livez`: whether hc2mqtt itself works, whatever its broker and appliances do.

    For a watchdog that restarts what fails it (Home Assistant's Supervisor
    restarts an add-on whose watchdog URL answers 300 or more): an
    appliance switched off, or a broker being restarted, is no reason to
    restart hcpy (it reconnects by itself); a network thread that ended is.
    The console answering is the other half of it.
    """
    running = bridge.link.running
    return (UP if running else DOWN), {"status": "ok" if running else "mqtt thread ended", "mqtt_thread": running}


def broker_notice(bridge: Bridge) -> str | None:
    """The sentence every console page starts with while the broker does not have hcpy; None while it does.

    The appliances are bridged meanwhile (the console shows them), so the
    sentence says what to do and that nothing is lost by waiting.
    """
    link = bridge.link
    if link.connected or not link.problem:
        return None  # connected, or not tried yet
    if link.nothing_listens:
        return f"{no_broker(link.settings)}; hcpy keeps trying and publishes everything once it connects."
    return f"{link.problem}; hcpy keeps trying."
