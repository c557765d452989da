"""mqtt_protocol and mqtt_session_expiry: the MQTT version asked for, and a session that outlives a drop.

Against a real mosquitto, through loopback proxies: one that answers like
a 3.1.1-only broker (test_retained_commands.Mqtt311Only), one whose link
the test cuts.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
from support import Subscriber
from test_broker_problems import wait_for
from test_retained_commands import Mqtt311Only, _close, _pipe

from hcpy.mqtt.link import MqttLink, MqttSettings


class Cuttable:
    """A loopback proxy to the broker; `cut()` drops its connections and turns new ones away until `mend()`."""

    def __init__(self, broker_port: int):
        self.broker_port = broker_port
        self.open = True
        self.accepted = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self.open:
                _close(client)
                continue
            self.accepted += 1
            upstream = socket.create_connection(("127.0.0.1", self.broker_port))
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()

    def cut(self) -> None:
        self.open = False
        with self._lock:
            for s in self._sockets:
                _close(s)
            self._sockets.clear()

    def mend(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self._listener.close()


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
    proxy = Cuttable(broker.port)
    received: list[tuple[str, bytes]] = []
    link = MqttLink(
        MqttSettings(host="127.0.0.1", port=proxy.port, clientname="kept", session_expiry=expiry),
        lambda: None,
        lambda topic, payload, retained: received.append((topic, payload)),
    )
    link.subscribe(["kitchen/dishwasher/set"], as_published=True)
    link.start()
    publisher = Subscriber(broker.port, client_id="publisher")
    try:
        assert link.wait_connected(10)
        time.sleep(0.3)  # the SUBSCRIBE is through
        publisher.publish("kitchen/dishwasher/set", "before")
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert received == [("kitchen/dishwasher/set", b"before")]
        proxy.cut()
        deadline = time.monotonic() + 10
        while link.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not link.connected
        publisher.publish("kitchen/dishwasher/set", "during")  # QoS 1, while hcpy is away
        proxy.mend()
        assert link.wait_connected(15)
        # What the broker kept comes right after the CONNACK; absence needs a moment to show.
        deadline = time.monotonic() + (10 if kept else 1.5)
        while len(received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        link.stop(timeout=0.5)
        publisher.close()
        proxy.close()
    assert proxy.accepted >= 2
    assert (("kitchen/dishwasher/set", b"during") in received) is kept
