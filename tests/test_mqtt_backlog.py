"""A broker that cannot keep up slows hc2mqtt's publishers instead of filling its memory.

The link writes QoS 0 packets itself and keeps what the socket would not
take; these tests stop the broker mid-stream (so writes end half-way through
packets), let it go, and check that every message arrived whole and in order,
over plain TCP and over TLS, with paho's own packets (QoS 1) in between.
The link speaks MQTT 5 to mosquitto, so these also check its MQTT 5 framing
against a real broker; the MQTT 3.1.1 framing meets one in
test_retained_commands.py (a broker that refuses MQTT 5).
"""

from __future__ import annotations

import signal
import threading

import paho.mqtt.client as paho
import pytest
from support import PASSWORD, USER, Broker

from hcpy.mqtt.link import BACKLOG_LIMIT, MqttLink, MqttSettings
from hcpy.mqtt.outgoing import Outgoing
from hcpy.mqtt.packets import MQTT5, MQTT311, PublishFramer

BATCHES, PER_BATCH = 30, 200
# The collector reads slower than the released broker forwards: mosquitto must
# queue for it rather than drop, or a lost message would be the broker's doing.
NO_DROPS = "max_queued_messages 0\nmax_queued_bytes 0\n"


class Collector:
    def __init__(self, broker: Broker, tls: dict | None = None):
        self.received: list[tuple[str, bytes, bool]] = []
        self.done = threading.Event()
        self.expected = BATCHES * PER_BATCH + 1
        self.client = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, client_id="backlog-collector")
        if tls:
            self.client.tls_set(**tls["certs"])
            self.client.username_pw_set(*tls["login"])
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *a: c.subscribe("backlog/#", qos=1)
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert subscribed.wait(10)

    def _message(self, client, userdata, message):
        self.received.append((message.topic, message.payload, message.retain))
        if len(self.received) >= self.expected:
            self.done.set()

    def close(self):
        self.client.disconnect()  # first: it wakes paho's loop, which then ends at once
        self.client.loop_stop()


def flood_while_stopped(broker: Broker, settings: MqttSettings, collector: Collector) -> None:
    link = MqttLink(settings, lambda: None, lambda *a: None)
    link.start()
    try:
        assert link.wait_connected(10)
        broker.process.send_signal(signal.SIGSTOP)  # a broker that reads nothing
        try:
            # Far more than the loopback socket buffers hold: the link's own buffer must grow.
            for batch in range(BATCHES):
                link.publish([Outgoing(f"backlog/{batch}/{i}", f"{batch}:{i}:" + "x" * 4096) for i in range(PER_BATCH)])
                if batch == BATCHES // 2:
                    # paho's own lane (QoS 1) waits behind the link's half-written bytes.
                    link.publish([Outgoing("backlog/qos1", "between", retain=False)], qos=1)
            assert link.backlog > BACKLOG_LIMIT
            link.throttle()  # gives up after a bounded wait: the broker is stuck
            assert link.backlog > BACKLOG_LIMIT and link.connected  # it returned, nothing taken (no wall time asserted)
        finally:
            broker.process.send_signal(signal.SIGCONT)
        # Once the broker reads again, waiting brings the backlog under the limit.
        link.throttle()
        assert link.backlog <= BACKLOG_LIMIT
        assert collector.done.wait(30), f"{len(collector.received)} of {collector.expected} arrived"
    finally:
        link.stop()


def check_whole_and_in_order(received: list[tuple[str, bytes, bool]]) -> None:
    floods = [(t, p, r) for t, p, r in received if t != "backlog/qos1"]
    expected = [(f"backlog/{b}/{i}", f"{b}:{i}:".encode() + b"x" * 4096) for b in range(BATCHES) for i in range(PER_BATCH)]
    assert [(t, p) for t, p, _ in floods] == expected  # nothing lost, torn or reordered
    assert [p for t, p, _ in received if t == "backlog/qos1"] == [b"between"]


def test_backlog_is_bounded_by_waiting_and_nothing_is_torn(tmp_path):
    broker = Broker(tmp_path, "allow_anonymous true\n" + NO_DROPS)
    broker.start()
    collector = Collector(broker)
    try:
        flood_while_stopped(broker, MqttSettings(host="127.0.0.1", port=broker.port, clientname="backlog"), collector)
        check_whole_and_in_order(collector.received)
    finally:
        collector.close()
        broker.stop()


def test_the_same_over_tls(tmp_path, pki):
    broker = Broker(
        tmp_path,
        f"allow_anonymous false\npassword_file {pki / 'passwords'}\n"
        f"cafile {pki / 'ca.crt'}\ncertfile {pki / 'server.crt'}\nkeyfile {pki / 'server.key'}\n"
        "require_certificate true\n" + NO_DROPS,
    )
    broker.start()
    certs = {"ca_certs": str(pki / "ca.crt"), "certfile": str(pki / "client.crt"), "keyfile": str(pki / "client.key")}
    collector = Collector(broker, {"certs": certs, "login": (USER, PASSWORD)})
    try:
        settings = MqttSettings(
            host="127.0.0.1", port=broker.port, clientname="backlog-tls", username=USER, password=PASSWORD,
            ssl=True, cafile=certs["ca_certs"], certfile=certs["certfile"], keyfile=certs["keyfile"],
        )  # fmt: skip
        flood_while_stopped(broker, settings, collector)
        check_whole_and_in_order(collector.received)
    finally:
        collector.close()
        broker.stop()


@pytest.mark.parametrize(
    "topic, payload, retain, expected",
    [
        # OASIS MQTT 3.1.1 §3.3: fixed header, remaining length, topic length and topic, payload.
        ("a/b", "hi", False, b"\x30\x07\x00\x03a/b" + b"hi"),
        ("a/b", "hi", True, b"\x31\x07\x00\x03a/b" + b"hi"),
        ("t", "", True, b"\x31\x03\x00\x01t"),
        # 200 bytes remaining: the length takes two bytes (200 = 0xC8 -> 0xC8 0x01).
        ("t", "x" * 197, False, b"\x30\xc8\x01\x00\x01t" + b"x" * 197),
        ("ä", "ö", False, b"\x30\x06\x00\x02\xc3\xa4\xc3\xb6"),
    ],
)
def test_publish_packets_follow_the_standard(topic, payload, retain, expected):
    framer = PublishFramer(MQTT311)
    assert framer.frame([Outgoing(topic, payload, retain)]) == expected
    # A second frame of the same topic uses the remembered header: same bytes.
    assert framer.frame([Outgoing(topic, payload, retain)] * 2) == expected * 2
    assert PublishFramer().frame([Outgoing(topic, payload, retain)]) == expected  # 3.1.1 unless told


@pytest.mark.parametrize(
    "topic, payload, retain, expected",
    [
        # MQTT 5.0 §3.3: the same, with a property length after the topic (0: one byte).
        ("a/b", "hi", False, b"\x30\x08\x00\x03a/b\x00" + b"hi"),
        ("a/b", "hi", True, b"\x31\x08\x00\x03a/b\x00" + b"hi"),
        ("t", "", True, b"\x31\x04\x00\x01t\x00"),
        # 127 bytes remaining under 3.1.1 (one length byte) are 128 under 5 (two: 0x80 0x01).
        ("t", "x" * 124, False, b"\x30\x80\x01\x00\x01t\x00" + b"x" * 124),
        ("ä", "ö", False, b"\x30\x07\x00\x02\xc3\xa4\x00\xc3\xb6"),
    ],
)
def test_mqtt5_publish_packets_carry_an_empty_property_length(topic, payload, retain, expected):
    framer = PublishFramer(MQTT5)
    assert framer.frame([Outgoing(topic, payload, retain)]) == expected
    assert framer.frame([Outgoing(topic, payload, retain)] * 2) == expected * 2


def test_framing_for_an_unknown_protocol_level_is_refused():
    with pytest.raises(ValueError):
        PublishFramer(3)
