"""What the broker carries, seen from outside: one subscriber to '#', and fresh snapshots of what it retains."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as paho

from .rig import DISCOVERY_PREFIX, Appliance, SetupError
from .secrets import count_in


def mqtt_client(name: str) -> paho.Client:
    client = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, client_id=f"chaos-{name}-{os.getpid()}")
    # Back within 0.1 s of a broker restart: paho's stubs say int, its code takes seconds as float.
    client.reconnect_delay_set(0.1, 1.0)  # type: ignore[arg-type]
    return client


class Watcher:
    """Subscribed to '#': the latest payload per topic, every value of each stream, secrets in any message.

    After a reconnect the latest payloads start over: a restarted broker has
    lost what it retained, and what it holds again comes back at subscribe.
    """

    def __init__(self, port: int, appliances: list[Appliance]):
        self._cond = threading.Condition()
        self.latest: dict[str, bytes] = {}
        self.messages = 0
        self.bytes = 0
        self.connects: list[float] = []
        self.secrets = sorted({s for a in appliances for s in a.secrets})
        self.secret_hits: list[str] = []  # topics that carried one
        self.discovery_configs: set[str] = set()
        self.streams = {a.state_topic(a.stream): a.index for a in appliances}
        self.stream_seen: dict[int, set[int]] = {a.index: set() for a in appliances}
        self.commands = {f"{a.base}/{s}" for a in appliances for s in ("set", "activeProgram", "selectedProgram")}
        self.on_response: Callable[[str, bytes], None] | None = None
        self.longest: tuple[int, str] = (0, "")  # longest value (T/state/...) published (bytes, topic), since reset
        self.client = mqtt_client("watcher")
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self._subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise SetupError("the bench's subscriber could not subscribe to the broker")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._cond:
            self.latest.clear()
            self.connects.append(time.monotonic())
        client.subscribe("#", qos=1)

    def _on_message(self, client, userdata, message) -> None:
        topic, payload = message.topic, message.payload
        if count_in(payload, self.secrets) or count_in(topic.encode(), self.secrets):
            self.secret_hits.append(topic)
        with self._cond:
            self.messages += 1
            self.bytes += len(payload)
            self.latest[topic] = payload
            if topic.startswith(DISCOVERY_PREFIX) and topic.endswith("/config") and payload:
                self.discovery_configs.add(topic)
            if "/state/" in topic and len(payload) > self.longest[0]:
                self.longest = (len(payload), topic)
            index = self.streams.get(topic)
            if index is not None:
                try:
                    self.stream_seen[index].add(int(payload))
                except ValueError:
                    pass
            self._cond.notify_all()
        if topic.endswith("/response") and self.on_response is not None:
            self.on_response(topic, payload)

    def get(self, topic: str) -> bytes | None:
        with self._cond:
            return self.latest.get(topic)

    def copy(self) -> dict[str, bytes]:
        with self._cond:
            return dict(self.latest)

    def seen(self, index: int) -> set[int]:
        with self._cond:
            return set(self.stream_seen[index])

    def wait_for(self, topic: str, test: Callable[[bytes], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                payload = self.latest.get(topic)
                if payload is not None and test(payload):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))

    def reset_longest(self) -> None:
        with self._cond:
            self.longest = (0, "")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def retained_snapshot(port: int, quiet: float = 1.0, limit: float = 15.0) -> dict[str, bytes] | None:
    """What the broker retains now, read by a fresh subscriber to '#'; None if it cannot be read."""
    retained: dict[str, bytes] = {}
    last = [time.monotonic()]
    subscribed = threading.Event()
    client = mqtt_client(f"snapshot-{time.monotonic_ns()}")

    def on_message(c, u, message) -> None:
        if message.retain:
            retained[message.topic] = message.payload
        last[0] = time.monotonic()

    def on_subscribe(*a) -> None:
        last[0] = time.monotonic()
        subscribed.set()

    client.on_connect = lambda c, *a: c.subscribe("#", qos=1)
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    try:
        client.connect("127.0.0.1", port)
    except OSError:
        return None
    client.loop_start()
    try:
        if not subscribed.wait(5):
            return None
        deadline = time.monotonic() + limit
        while time.monotonic() - last[0] < quiet and time.monotonic() < deadline:
            time.sleep(0.05)
        return dict(retained)
    finally:
        client.loop_stop()
        client.disconnect()
