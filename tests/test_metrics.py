"""/metrics and /healthz of hc2mqtt (hcpy.web.metrics, hcpy.web.health) over a real bridge.

The metrics text is read back with prometheus_client's own parser, the
way Prometheus would scrape it; health follows the simulator and the broker
as they stop and start.
"""

from __future__ import annotations

import base64
import json

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import DISHWASHER, WASHER, bridged, eventually, profile_files, simulated

from hcpy.appliance.observed import DISCONNECT_REASONS
from hcpy.appliance.profile_xml import parse_profile
from hcpy.web import health, metrics

P = "homeconnect/"


@pytest.fixture(scope="module")
def profiles():
    return {"dishwasher": parse_profile(*profile_files(DISHWASHER)), "washer": parse_profile(*profile_files(WASHER))}


@pytest.fixture
def kitchen(profiles):
    """A TLS dishwasher and an AES washer."""
    pair = [simulated(profiles["dishwasher"], "dishwasher"), simulated(profiles["washer"], "washer", "aes", "legacy")]
    yield pair
    for sim, _ in pair:
        sim.stop()



def scrape(bridge) -> tuple[str, dict[str, dict[tuple, float]]]:
    """The metrics text, and each family's samples: family -> {(sample name, sorted labels): value}."""
    body, content_type = metrics.render(bridge)
    assert content_type.startswith("text/plain")
    text = body.decode("utf-8")
    families: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        assert family.name not in families, f"{family.name} twice"
        families[family.name] = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}
    return text, families


def sample(families, family, name=None, **labels) -> float:
    return families[family][(name or family, tuple(sorted(labels.items())))]


def test_metrics_parse_with_the_expected_families_and_labels(broker, subscriber, kitchen):
    (dish, dish_entry), (_washer, washer_entry) = kitchen
    with bridged(broker.port, kitchen) as bridge:
        subscriber.wait(f"{P}dishwasher/LWT", "online")
        subscriber.wait(f"{P}washer/LWT", "online")
        for value in (0, 1):
            mark = subscriber.mark()
            dish.set_value("BSH.Common.Status.DoorState", value)
            subscriber.wait(f"{P}dishwasher/state/bsh_common_status_doorstate", since=mark)
        assert subscriber.response(f"{P}dishwasher/set", {"name": "PowerState", "value": "Off"})["status"] == "ok"
        assert subscriber.response(f"{P}dishwasher/set", {"name": "BSH.Common.Setting.Nope", "value": 1})["code"] == 404
        text, families = scrape(bridge)
        journal = bridge.appliances[0].connection.journal

    assert set(families) >= {
        "hcpy_appliance_messages",
        "hcpy_appliance_connected",
        "hcpy_appliance_connects",
        "hcpy_appliance_disconnects",
        "hcpy_command_replies",
        "hcpy_appliance_to_mqtt_latency_seconds",
        "hcpy_mqtt_connected",
        "hcpy_appliance_last_message_timestamp_seconds",
        "hcpy_info",  # an info metric: a gauge of 1 in the text format
    }
    for name in ("dishwasher", "washer"):
        assert sample(families, "hcpy_appliance_connected", appliance=name) == 1
        assert sample(families, "hcpy_appliance_connects", "hcpy_appliance_connects_total", appliance=name) == 1
        for direction in ("in", "out"):
            assert sample(families, "hcpy_appliance_messages", "hcpy_appliance_messages_total", appliance=name,
                          direction=direction) > 0  # fmt: skip
        for reason in DISCONNECT_REASONS:
            assert sample(families, "hcpy_appliance_disconnects", "hcpy_appliance_disconnects_total", appliance=name,
                          reason=reason) == 0  # fmt: skip
        assert sample(families, "hcpy_appliance_last_message_timestamp_seconds", appliance=name) > 1.6e9
    # The scrape read what the connection counted, at that moment.
    scraped_in = sample(families, "hcpy_appliance_messages", "hcpy_appliance_messages_total", appliance="dishwasher",
                        direction="in")  # fmt: skip
    assert scraped_in <= journal.messages_in and scraped_in >= 10
    replies = "hcpy_command_replies", "hcpy_command_replies_total"
    assert sample(families, *replies, appliance="dishwasher", status="ok") == 1
    assert sample(families, *replies, appliance="dishwasher", status="404") == 1
    assert sample(families, *replies, appliance="washer", status="ok") == 0
    # The latency histogram: cumulative buckets up to +Inf, which is the count.
    latency = "hcpy_appliance_to_mqtt_latency_seconds"
    buckets = sorted(
        ((float(dict(labels)["le"]), value) for (name, labels), value in families[latency].items()
         if name == f"{latency}_bucket" and dict(labels)["appliance"] == "dishwasher"),  # fmt: skip
    )
    assert buckets[-1][0] == float("inf") and len(buckets) == 13
    counts = [value for _, value in buckets]
    assert counts == sorted(counts) and counts[-1] >= 2
    assert sample(families, latency, f"{latency}_count", appliance="dishwasher") == counts[-1]
    assert sample(families, "hcpy_mqtt_connected") == 1
    (version,) = [dict(labels)["version"] for (name, labels), value in families["hcpy_info"].items() if value == 1]
    assert version and version != "unknown"
    # No key or IV, in any spelling, anywhere.
    for entry in (dish_entry, washer_entry):
        for raw in filter(None, (entry.psk, entry.iv_bytes)):
            for secret in (base64.b64encode(raw).decode().rstrip("="), entry.key, raw.hex()):
                assert secret not in text
        if entry.iv:
            assert entry.iv not in text


def test_metrics_count_drops_by_reason_and_the_broker(broker, subscriber, kitchen):
    (dish, _), _ = kitchen
    with bridged(broker.port, kitchen) as bridge:
        subscriber.wait(f"{P}dishwasher/LWT", "online")
        mark = subscriber.mark()
        dish.drop_connections()  # TCP cut: the appliance went away
        subscriber.wait(f"{P}dishwasher/LWT", "offline", since=mark)
        subscriber.wait(f"{P}dishwasher/LWT", "online", since=mark)
        _, families = scrape(bridge)
        assert sample(families, "hcpy_appliance_connects", "hcpy_appliance_connects_total", appliance="dishwasher") == 2
        drops = {dict(labels)["reason"]: value for (_, labels), value in families["hcpy_appliance_disconnects"].items()
                 if dict(labels)["appliance"] == "dishwasher"}  # fmt: skip
        assert sum(drops.values()) == 1 and drops["closed_by_appliance"] == 1
        broker.stop()
        eventually(lambda: not bridge.link.connected, what="the broker lost")
        _, families = scrape(bridge)
        assert sample(families, "hcpy_mqtt_connected") == 0
        broker.start()


def test_each_render_has_its_own_registry(broker, kitchen):
    from prometheus_client import REGISTRY

    with bridged(broker.port, kitchen[:1]) as bridge:
        first, _ = metrics.render(bridge)
        second, _ = metrics.render(bridge)
    assert b"hcpy_appliance_messages_total" in first and b"hcpy_appliance_messages_total" in second
    assert "hcpy_appliance_messages" not in {m.name for m in REGISTRY.collect()}


# -- health -------------------------------------------------------------------------------------------


def test_health_is_ok_when_everything_is_up_and_degraded_without_an_appliance(broker, subscriber, kitchen):
    (dish, _), _ = kitchen
    with bridged(broker.port, kitchen) as bridge:
        subscriber.wait(f"{P}dishwasher/LWT", "online")
        subscriber.wait(f"{P}washer/LWT", "online")
        _status, body = eventually(lambda: (r := health.report(bridge))[0] == 200 and r, what="healthy")
        assert body["status"] == "ok" and body["broker"]["connected"] is True and body["broker"]["since"]
        assert set(body["appliances"]) == {"dishwasher", "washer"}
        for appliance in body["appliances"].values():
            assert appliance["state"] == "online" and appliance["reason"] is None
            assert appliance["since"].endswith("+00:00") and appliance["last_message"]
        json.dumps(body)  # what /healthz sends

        dish.stop()
        _status, body = eventually(lambda: (r := health.report(bridge))[0] == 503 and r, what="degraded")
        assert body["status"] == "degraded" and body["broker"]["connected"] is True
        dishwasher = body["appliances"]["dishwasher"]
        assert dishwasher["state"] in ("offline", "connecting") and dishwasher["reason"]
        assert body["appliances"]["washer"]["state"] == "online"


def test_health_is_degraded_without_the_broker(broker, subscriber, kitchen):
    with bridged(broker.port, kitchen) as bridge:
        subscriber.wait(f"{P}dishwasher/LWT", "online")
        subscriber.wait(f"{P}washer/LWT", "online")
        eventually(lambda: health.report(bridge)[0] == 200, what="healthy")
        broker.stop()
        _status, body = eventually(lambda: (r := health.report(bridge))[0] == 503 and r, what="degraded")
        assert body["broker"] == {"connected": False, "since": None}
        assert all(a["state"] == "online" for a in body["appliances"].values())
        broker.start()
        eventually(lambda: health.report(bridge)[0] == 200, timeout=15, what="healthy again")


def test_liveness_stays_ok_while_an_appliance_is_off_and_the_broker_away_and_fails_when_the_mqtt_thread_ends(
    broker, subscriber, kitchen
):
    """/livez is the add-on's watchdog: the Supervisor restarts what answers 300 or more. A switched-off appliance
    or a broker restarting must not restart hcpy (it reconnects by itself); a network thread that ended must."""
    (dish, _), _ = kitchen
    with bridged(broker.port, kitchen) as bridge:
        subscriber.wait(f"{P}dishwasher/LWT", "online")
        assert health.liveness(bridge) == (200, {"status": "ok", "mqtt_thread": True})
        dish.stop()
        broker.stop()
        eventually(lambda: health.report(bridge)[0] == 503 and not bridge.link.connected, what="degraded")
        assert health.liveness(bridge)[0] == 200
        broker.start()
        bridge.link.stop(timeout=0.5)  # what a dead network thread looks like from outside
        assert health.liveness(bridge) == (503, {"status": "mqtt thread ended", "mqtt_thread": False})
