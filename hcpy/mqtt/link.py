"""The MQTT edge: one paho-mqtt (2.x API) client for the whole bridge.

Thin on purpose. It connects with the bridge's will (`P`LWT = offline),
announces `online`, renews subscriptions on every connect, and tells the
bridge when it (re)connected so that everything is published afresh.
While the broker is away nothing is queued: stale values would only be
overwritten by the full republish that follows the reconnect.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable

import paho.mqtt.client as paho

from .outgoing import Outgoing
from .topics import DEFAULT_PREFIX, OFFLINE, ONLINE, bridge_lwt

log = logging.getLogger("hcpy.mqtt")

# Messages handed to paho but not yet written to the broker. Past this many,
# a thread publishing for an appliance waits (up to a second a time): an
# appliance flooding values is slowed down, its socket fills up, instead of
# paho's queue, and hc2mqtt's memory, growing without bound.
BACKLOG_LIMIT = 2000
BACKLOG_WAIT = 1.0


@dataclass(frozen=True)
class MqttSettings:
    host: str = "localhost"
    port: int = 1883
    prefix: str = DEFAULT_PREFIX
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl: bool = False
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    clientname: str = "hcpy1"
    keepalive: int = 60


class MqttLink:
    def __init__(
        self,
        settings: MqttSettings,
        on_connected: Callable[[], None],
        on_message: Callable[[str, bytes, bool], None],
    ):
        self.settings = settings
        self._on_connected = on_connected
        self._on_message = on_message
        self._subscriptions: set[str] = set()
        self._connected = threading.Event()
        self._stopping = False
        self._unsent: deque[paho.MQTTMessageInfo] = deque()
        self._network_thread: int | None = None
        self._client = self._make_client()

    def _make_client(self) -> paho.Client:
        s = self.settings
        client = paho.Client(
            callback_api_version=paho.CallbackAPIVersion.VERSION2,
            client_id=s.clientname,
            protocol=paho.MQTTv311,
        )
        client.will_set(bridge_lwt(s.prefix), OFFLINE, qos=1, retain=True)
        if s.username and s.password is not None:
            client.username_pw_set(s.username, s.password)
        elif s.username:
            client.username_pw_set(s.username)
        if s.ssl:
            if s.cafile:
                client.tls_set(ca_certs=s.cafile, certfile=s.certfile, keyfile=s.keyfile, cert_reqs=ssl.CERT_REQUIRED)
            else:
                # As hcpy2-0: TLS without a CA file does not verify the broker.
                log.warning("mqtt_ssl is on without mqtt_cafile: the broker's certificate is not verified")
                client.tls_set(certfile=s.certfile, keyfile=s.keyfile, cert_reqs=ssl.CERT_NONE)
                client.tls_insecure_set(True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        return client

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        s = self.settings
        log.info("connecting to MQTT broker %s:%d", s.host, s.port)
        self._client.connect_async(s.host, s.port, keepalive=s.keepalive)
        self._client.loop_start()

    def stop(self, timeout: float = 1.0) -> None:
        """Announce offline, disconnect and stop the network thread."""
        self._stopping = True
        if self._connected.is_set():
            info = self._client.publish(bridge_lwt(self.settings.prefix), OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                pass
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    # -- traffic --------------------------------------------------------------------

    def subscribe(self, topics: Iterable[str]) -> None:
        new = set(topics) - self._subscriptions
        self._subscriptions |= new
        if new and self.connected:
            self._client.subscribe([(t, 1) for t in sorted(new)])

    def publish(self, messages: Iterable[Outgoing], qos: int = 0) -> None:
        if not self.connected:
            return
        for m in messages:
            self._unsent.append(self._client.publish(m.topic, m.payload, qos=qos, retain=m.retain))

    @property
    def backlog(self) -> int:
        """Messages handed to paho and not yet written (roughly)."""
        return len(self._unsent)

    def throttle(self) -> None:
        """Wait a little if paho has too much unwritten; call it holding no lock."""
        unsent = self._unsent
        while unsent and _written(unsent[0]):
            unsent.popleft()
        # paho's own thread must never wait for itself.
        if len(unsent) <= BACKLOG_LIMIT or threading.get_ident() == self._network_thread:
            return
        deadline = time.monotonic() + BACKLOG_WAIT
        while len(unsent) > BACKLOG_LIMIT and self.connected:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                unsent[0].wait_for_publish(left)
            except (ValueError, RuntimeError, IndexError):
                pass
            while unsent and _written(unsent[0]):
                unsent.popleft()

    # -- paho callbacks (on paho's network thread) ----------------------------------

    def _handle_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("the MQTT broker refused the connection: %s (check mqtt_username/mqtt_password)", reason_code)
            return
        log.info("connected to MQTT broker %s:%d", self.settings.host, self.settings.port)
        self._network_thread = threading.get_ident()
        self._unsent.clear()
        self._connected.set()
        client.publish(bridge_lwt(self.settings.prefix), ONLINE, qos=1, retain=True)
        if self._subscriptions:
            client.subscribe([(t, 1) for t in sorted(self._subscriptions)])
        try:
            self._on_connected()
        except Exception:  # noqa: BLE001 - never let a bug stop paho's thread
            log.exception("republishing after the MQTT connect failed")

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._connected.is_set() and not self._stopping:
            log.warning("lost the MQTT broker (%s); reconnecting", reason_code)
        self._connected.clear()
        # Whatever paho had not written is gone with the connection.
        self._unsent.clear()

    def _handle_message(self, client, userdata, message) -> None:
        try:
            self._on_message(message.topic, message.payload, message.retain)
        except Exception:  # noqa: BLE001
            log.exception("handling a message on %s failed", message.topic)


def _written(info: paho.MQTTMessageInfo) -> bool:
    try:
        return info.is_published()
    except (ValueError, RuntimeError):  # failed: not waiting for it either
        return True
