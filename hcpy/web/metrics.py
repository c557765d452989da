"""Prometheus metrics of a running bridge, read when scraped (`/metrics`).

Nothing here runs per message: the bridge and its connections keep plain
counts as they work (hcpy.appliance.observed), and `BridgeCollector` turns
them into metric families at scrape time. Each `render()` uses a registry of
its own, never prometheus_client's global one, so that two bridges in one
process (tests) or a library user's own metrics never mix with these.

Labels carry appliance names, directions, reason classes, reply statuses
and hcpy's version: never a key, IV, token, password or address.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from ..appliance.observed import DISCONNECT_REASONS, ONLINE
from ..mqtt.bridge import Bridge


class BridgeCollector(Collector):
    """The metrics of one `Bridge`, collected from its counts when scraped."""

    def __init__(self, bridge: Bridge):
        self.bridge = bridge

    def collect(self) -> Iterator[Metric]:
        appliances = self.bridge.appliances
        link = self.bridge.link

        messages = CounterMetricFamily(
            "hcpy_appliance_messages", "Protocol messages exchanged with each appliance, by direction "
            "(in: from the appliance, out: to it).", labels=["appliance", "direction"])  # fmt: skip
        connected = GaugeMetricFamily(
            "hcpy_appliance_connected", "1 while hcpy's connection to the appliance is online, else 0.",
            labels=["appliance"])  # fmt: skip
        connects = CounterMetricFamily(
            "hcpy_appliance_connects", "Connections to the appliance that came online.", labels=["appliance"])
        disconnects = CounterMetricFamily(
            "hcpy_appliance_disconnects", "Connection attempts that ended (lost connections and failed "
            "connects), by reason class.", labels=["appliance", "reason"])  # fmt: skip
        replies = CounterMetricFamily(
            "hcpy_command_replies", "Answers to commands on T/response, by status (ok, or the error code).",
            labels=["appliance", "status"])  # fmt: skip
        latency = HistogramMetricFamily(
            "hcpy_appliance_to_mqtt_latency_seconds", "Time from receiving an appliance's message to "
            "publishing the changes it carried on MQTT.", labels=["appliance"])  # fmt: skip
        last = GaugeMetricFamily(
            "hcpy_appliance_last_message_timestamp_seconds", "When the appliance last sent a message (unix time).",
            labels=["appliance"])  # fmt: skip

        unknown_values = CounterMetricFamily(
            "hcpy_unknown_uid_values", "Values the appliance sent for uids its profile lacks (firmware newer "
            "than the profile: run hc-login again).", labels=["appliance"])  # fmt: skip
        unknown_uids = GaugeMetricFamily(
            "hcpy_unknown_uids", "Distinct uids the appliance sent that its profile lacks.", labels=["appliance"])

        for appliance in appliances:
            name = appliance.name
            unknown = appliance.state.unknown
            unknown_values.add_metric([name], unknown.values)
            unknown_uids.add_metric([name], unknown.distinct)
            journal, stats = appliance.connection.journal, appliance.connection.stats
            messages.add_metric([name, "in"], journal.messages_in)
            messages.add_metric([name, "out"], journal.messages_out)
            connected.add_metric([name], 1 if stats.state == ONLINE else 0)
            connects.add_metric([name], stats.connects)
            counted = dict(stats.disconnects)
            for reason in dict.fromkeys([*DISCONNECT_REASONS, *counted]):
                disconnects.add_metric([name, reason], counted.get(reason, 0))
            answered = dict(appliance.replies)
            for status in dict.fromkeys(["ok", *sorted(answered)]):
                replies.add_metric([name, status], answered.get(status, 0))
            cumulative, total, _ = appliance.latency.snapshot()
            bounds = [_bound(b) for b in appliance.latency.buckets] + ["+Inf"]
            latency.add_metric([name], list(zip(bounds, cumulative, strict=True)), total)
            if journal.last_in_at is not None:
                last.add_metric([name], journal.last_in_at)

        yield from (messages, connected, connects, disconnects, replies, latency, last, unknown_values, unknown_uids)
        yield GaugeMetricFamily("hcpy_mqtt_connected", "1 while the MQTT broker has hcpy connected, else 0.",
                                value=1 if link.connected else 0)  # fmt: skip
        yield CounterMetricFamily("hcpy_mqtt_connects", "Connections the MQTT broker accepted.", value=link.connects)
        yield InfoMetricFamily("hcpy", "The running hcpy.", value={"version": version()})


def render(bridge: Bridge) -> tuple[bytes, str]:
    """The metrics of `bridge` in Prometheus' text format: (body, content type)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BridgeCollector(bridge))
    return generate_latest(registry), CONTENT_TYPE_LATEST


@lru_cache(maxsize=1)
def version() -> str:
    """hcpy's version: the installed package's, else the checkout's pyproject.toml, else "unknown"."""
    try:
        return metadata.version("hcpy")
    except metadata.PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        import tomllib

        return str(tomllib.loads(pyproject.read_text())["project"]["version"])
    except (OSError, ValueError, KeyError):
        return "unknown"


def _bound(seconds: float) -> str:
    return repr(float(seconds))
