"""The MQTT link when the connection goes wrong under it (issue 18): what hc2mqtt does and says.

Against a real mosquitto, through a loopback proxy the test controls
(support.Proxy): a write that fails (the connection reset under a backlog),
an exception inside the link's network thread (a packet paho cannot hand
over), a broker that stops reading (the proxy stops forwarding, idle or
under a flood). Each time the link says so in one line, connects again once
it can, and the bridge's values go out again (on_connected: the bridge
republishes everything).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import pytest
from support import Proxy, Subscriber, eventually, log_lines, wait_for_log

from hcpy.mqtt.link import MqttLink, MqttSettings
from hcpy.mqtt.outgoing import Outgoing

STATE, COMMAND = "failing/state", "failing/command"
FLOOD = [Outgoing(f"failing/flood/{i}", "x" * 4096, retain=False) for i in range(100)]


class Bridge:
    """What the bridge does with a link: every (re)connect publishes its values anew; commands are kept."""

    def __init__(self, port: int, keepalive: int = 60):
        self.link = MqttLink(
            MqttSettings(host="127.0.0.1", port=port, clientname="failing", keepalive=keepalive),
            self.republish,
            lambda topic, payload, retained: self.commands.append(payload),
        )
        self.commands: list[bytes] = []
        self.republished = 0
        self.link.subscribe([COMMAND])

    def republish(self) -> None:
        self.republished += 1
        self.link.publish([Outgoing(STATE, f"republished {self.republished}")])

    @contextmanager
    def flooding(self) -> Iterator[None]:
        """An appliance thread that keeps publishing, throttled as the bridge's are, until the block ends."""
        stop = threading.Event()

        def flood() -> None:
            while not stop.is_set():
                if self.link.publish(FLOOD):
                    self.link.throttle()

        publisher = threading.Thread(target=flood, daemon=True)
        publisher.start()
        try:
            yield
        finally:
            stop.set()
            publisher.join(10)


@pytest.fixture
def proxy(broker):
    p = Proxy(broker.port)
    yield p
    p.close()


@pytest.fixture
def bridge(proxy, subscriber, caplog):
    caplog.set_level(logging.DEBUG, logger="hcpy.mqtt")
    b = Bridge(proxy.port)
    b.link.start()
    subscriber.wait(STATE, "republished 1")
    yield b
    b.link.stop(timeout=0.5)


def recovered(bridge: Bridge, subscriber: Subscriber, proxy: Proxy, mark: int) -> None:
    """The link connected again, the values went out again, and commands reach it."""
    subscriber.wait(STATE, lambda p: p != "republished 1", since=mark, timeout=20)
    assert bridge.link.connected
    subscriber.publish(COMMAND, "after")
    eventually(lambda: b"after" in bridge.commands, 10, "a command after the reconnect")
    assert proxy.accepted >= 2


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "hcpy.mqtt" and r.levelno >= logging.WARNING]


def test_a_write_that_fails_ends_the_connection_once_and_the_values_go_out_again(bridge, proxy, subscriber, caplog):
    mark = subscriber.mark()
    proxy.pause()
    with bridge.flooding():
        eventually(lambda: bridge.link.backlog > 0, 30, "a backlog the socket would not take")
        proxy.reset()  # the next write of the backlog fails
        proxy.resume()
        wait_for_log(caplog, "writing to the MQTT broker failed")
    recovered(bridge, subscriber, proxy, mark)
    assert warnings(caplog) == ["lost the MQTT broker (the connection ended); reconnecting"]


def test_an_exception_in_the_network_thread_costs_the_connection_not_the_thread(bridge, proxy, subscriber, caplog):
    subscriber.publish(COMMAND, "before")
    eventually(lambda: b"before" in bridge.commands, 10, "a command")  # the stream is between packets
    mark = subscriber.mark()
    # A PUBLISH whose topic is not UTF-8 (no broker may send one): paho's
    # message.topic raises inside the network thread's read.
    topic = b"failing/\xff"
    body = len(topic).to_bytes(2, "big") + topic + b"\x00" + b"payload"  # MQTT 5: an empty property length
    proxy.inject(bytes([0x30, len(body)]) + body)
    recovered(bridge, subscriber, proxy, mark)
    [failed] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failed.getMessage() == "the MQTT network thread failed; reconnecting" and failed.exc_info
    assert warnings(caplog) == ["the MQTT network thread failed; reconnecting"]


@pytest.mark.parametrize("flooding", [False, True], ids=["idle", "flooding"])
def test_a_broker_that_stops_reading_is_noticed_said_once_and_recovered_from(proxy, subscriber, caplog, flooding):
    caplog.set_level(logging.DEBUG, logger="hcpy.mqtt")
    bridge = Bridge(proxy.port, keepalive=2)
    bridge.link.start()
    try:
        subscriber.wait(STATE, "republished 1")
        mark = subscriber.mark()
        proxy.pause()
        with bridge.flooding() if flooding else nullcontext():
            [line] = wait_for_log(caplog, "reconnecting", timeout=20)
        # Which broker, and what to look at: paho's keep-alive when idle, the link's backlog check under a flood.
        said = "has taken nothing for 3 s" if flooding else "answered nothing for 2 s"
        assert f"127.0.0.1:{proxy.port} {said}" in line and "hung or overloaded" in line, line
        proxy.resume()
        recovered(bridge, subscriber, proxy, mark)
        assert log_lines(caplog, "reconnecting") == [line]
    finally:
        bridge.link.stop(timeout=0.5)
