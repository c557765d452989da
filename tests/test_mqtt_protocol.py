"""mqtt_protocol and mqtt_session_expiry: the MQTT version asked for, and a session that outlives a drop.

Against a real mosquitto, through loopback proxies (support.py): one that
answers like a 3.1.1-only broker, one whose link the test cuts.
"""

from __future__ import annotations

import logging

import pytest
from support import Mqtt311Only, Proxy, Subscriber, eventually
from support import wait_for_log as wait_for

from hcpy.mqtt.link import MqttLink, MqttSettings


def test_mqtt_protocol_5_insists_and_says_what_to_set(broker, caplog):
    caplog.set_level(logging.DEBUG, logger="hcpy.mqtt")
    proxy = Mqtt311Only(broker.port)
    link = MqttLink(MqttSettings(host="127.0.0.1", port=proxy.port, clientname="five", protocol="5"),
                    lambda: None, lambda *a: None)  # fmt: skip
    link.start()
    try:
        [line] = wait_for(caplog, "does not speak")[:1]
        wait_for(caplog, "retrying in 2 s")  # asked again later (said at debug: nothing new), still with MQTT 5
    finally:
        link.stop(timeout=0.5)
        proxy.close()
    assert line == (
        f"the MQTT broker 127.0.0.1:{proxy.port} does not speak MQTT 5 (mqtt_protocol); "
        "set mqtt_protocol to 3.1.1 or auto; retrying in 1 s"
    )
    assert set(proxy.levels) == {5} and len(proxy.levels) >= 2
    assert not link.connected


def test_mqtt_protocol_311_never_tries_5(broker, caplog):
    caplog.set_level(logging.INFO, logger="hcpy.mqtt")
    proxy = Mqtt311Only(broker.port)
    link = MqttLink(MqttSettings(host="127.0.0.1", port=proxy.port, clientname="old", protocol="3.1.1"),
                    lambda: None, lambda *a: None)  # fmt: skip
    link.start()
    try:
        assert link.wait_connected(10)
        wait_for(caplog, r"connected to MQTT broker .* \(MQTT 3\.1\.1, client id old\)")
    finally:
        link.stop(timeout=0.5)
        proxy.close()
    assert proxy.levels == [4]
    assert not [r for r in caplog.records if "only MQTT 3.1.1" in r.getMessage()]  # no fallback warning: asked for


@pytest.mark.parametrize("expiry, kept", [(300, True), (0, False)])
def test_a_session_expiry_keeps_what_was_published_during_a_drop(broker, expiry, kept):
    proxy = Proxy(broker.port)
    received: list[tuple[str, bytes]] = []
    link = MqttLink(
        MqttSettings(host="127.0.0.1", port=proxy.port, clientname="kept", session_expiry=expiry),
        lambda: None,
        lambda topic, payload, retained: received.append((topic, payload)),
    )
    # A retained marker the broker replays at every SUBSCRIBE: seeing it, the
    # link's subscriptions are through, and whatever the broker kept for a
    # resumed session was handed over before it (one client, one queue, in order).
    publisher = Subscriber(broker.port, client_id="publisher")
    publisher.client.publish("kitchen/marker", "subscribed", qos=1, retain=True).wait_for_publish(5)
    link.subscribe(["kitchen/dishwasher/set", "kitchen/marker"], as_published=True)
    link.start()

    def markers() -> int:
        return received.count(("kitchen/marker", b"subscribed"))

    try:
        assert link.wait_connected(10)
        eventually(lambda: markers() == 1, 10, "the link's subscription")
        publisher.publish("kitchen/dishwasher/set", "before")
        eventually(lambda: ("kitchen/dishwasher/set", b"before") in received, 10, "the command before the drop")
        proxy.cut()
        eventually(lambda: not link.connected, 10, "the link noticing the cut")
        publisher.publish("kitchen/dishwasher/set", "during")  # QoS 1, while hcpy is away
        proxy.mend()
        assert link.wait_connected(15)
        eventually(lambda: markers() == 2, 15, "the link's subscription after the reconnect")
    finally:
        link.stop(timeout=0.5)
        publisher.close()
        proxy.close()
    assert proxy.accepted >= 2
    # ("before" may come twice: its PUBACK may not have made it before the cut.)
    assert (("kitchen/dishwasher/set", b"during") in received) is kept
