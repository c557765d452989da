"""The MQTT edge: one paho-mqtt (2.x API) client for the whole bridge.

It connects with the bridge's will (`P`LWT = offline), announces `online`,
renews subscriptions on every connect, and tells the bridge when it
(re)connected so that everything is published afresh. While the broker is
away nothing is queued: stale values would only be overwritten by the full
republish that follows the reconnect.

Two lanes to one socket. paho runs the connection: connect, TLS, will,
subscriptions, keep-alive, QoS 1 and everything the broker sends, driven by
the link's own network thread through paho's external-loop calls
(loop_read/loop_write/loop_misc). The hot path, QoS 0 state, is framed by
`packets` and written by the thread that has it (an appliance's), so a value
costs one send and no wake-up of another thread. One lock serialises every
write, and bytes only ever go out whole packets at a time: paho writes only
while the link's own buffer is empty, and the link writes only while paho
has nothing queued.

MQTT 5, so that a retained command is recognised whenever it arrives. Under
MQTT 3.1.1 a broker clears the retain flag of a message it forwards live to
existing subscribers; only its replays at subscribe time carry it. MQTT 5's
subscription option Retain As Published keeps the publisher's flag, and the
link asks for it per topic filter: on the command topics (a retained command
is refused, never run), not on Home Assistant's discovery configs (there the
bridge wants to know what the broker replays, not what it forwards). A broker
that speaks only MQTT 3.1.1 refuses the MQTT 5 CONNECT; the link then says
once what that costs and connects with MQTT 3.1.1 for the rest of its life
(`mqtt_protocol` = 5 or 3.1.1 fixes the version instead). By default every
connect starts a clean session (no session expiry): subscriptions are renewed
at each one, and no broker keeps anything for an hcpy that is away;
`mqtt_session_expiry` asks an MQTT 5 broker to keep the session that long, so
that QoS 1 commands published during a short drop are delivered after it.
"""

from __future__ import annotations

import errno
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from .client import paho
from .outgoing import Outgoing
from .packets import MQTT5, MQTT311, PublishFramer
from .topics import DEFAULT_PREFIX, OFFLINE, ONLINE, bridge_lwt

log = logging.getLogger("hcpy.mqtt")

# Bytes framed but not yet written to the broker. Past this, a thread
# publishing for an appliance waits (up to a second a time): an appliance
# flooding values is slowed down, its socket fills up, instead of hc2mqtt's
# memory growing without bound.
BACKLOG_LIMIT = 1 << 20
BACKLOG_WAIT = 1.0
# Each write takes at most this much of the buffer, so that a TLS write the
# socket could not take is retried with the same bytes, as OpenSSL requires.
_CHUNK = 16 * 1024
# How often the network thread wakes by itself (paho's keep-alive clock).
_TICK = 1.0
_FIRST_DELAY, _MAX_DELAY = 1.0, 30.0
# CONNACK reason codes (MQTT 5.0 §3.2.2.2; paho maps a 3.1.1 broker's return
# codes 1, 4 and 5 onto the same).
UNSUPPORTED_PROTOCOL = 0x84
_BAD_LOGIN = frozenset((0x86, 0x87))  # bad user name or password; not authorized
_CLIENT_ID_REFUSED = 0x85
_UNSPECIFIED = 0x80
_SESSION_TAKEN_OVER = 0x8E  # DISCONNECT: another client connected with this client id
_KEEPALIVE_TIMEOUT = 0x8D  # paho's reason when the broker did not answer its PINGREQ
_REFUSED = "connection refused"  # how connect_failure begins when nothing listens there
_STUCK = "is it hung or overloaded, or the network to it down?"  # what to check when the broker stops reading
# A connection lost this soon after the broker accepted it, three times in a
# row, is what two clients with one client id look like over MQTT 3.1.1.
_QUICK_DROP = 10.0
_DROPS_TO_SUSPECT = 3


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
    clientname: str = "hcpy"  # the daemon's default is this installation's own (see daemon.client_id)
    keepalive: int = 60
    # PROTOCOLS: "auto" tries MQTT 5 and falls back to 3.1.1 for good when the
    # broker refuses it; "5" insists (a refusal is an error, retried); "3.1.1"
    # never tries 5.
    protocol: str = "auto"
    # MQTT 5 only: how long the broker keeps hcpy's session (subscriptions,
    # QoS 1 commands published meanwhile) after the connection drops. 0: it
    # ends with the connection, and every connect starts clean.
    session_expiry: int = 0


PROTOCOLS = ("auto", "5", "3.1.1")


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
        # Topic filter -> whether its messages keep the publisher's retain flag.
        self._subscriptions: dict[str, bool] = {}
        self._connected = threading.Event()
        self._up = False  # the same, read on every publish without a call
        # For the console and the metrics: since when (unix time) the broker
        # has had hcpy, and how many times it accepted it.
        self.connected_since: float | None = None
        self.connects = 0
        # For the console: why the broker does not have hcpy now, as the log
        # said it (None while connected, or before the first attempt), and
        # whether that is because nothing listens there (no broker at all).
        self.problem: str | None = None
        self.nothing_listens = False
        self._stopping = False
        # MQTT 5 until a broker refuses it (unless told otherwise); paho fixes
        # the version per client.
        self._level = MQTT311 if settings.protocol == "3.1.1" else MQTT5
        self._client = self._make_client()
        self._framer = PublishFramer(self._level)
        self._connack: paho.ReasonCode | None = None  # the broker's answer to the last CONNECT
        self._up_since = 0.0
        self._quick_drops = 0  # connections lost in a row within _QUICK_DROP of being accepted
        self._blamed = False  # the client id clash was said for this streak
        # Every call into paho and every write holds this. paho's callbacks run
        # inside loop_read, holding it: they only record what happened, and the
        # network thread hands it on after (the bridge's handlers publish, and
        # take the bridge's locks, which appliance threads take before this one).
        self._io = threading.Lock()
        self._drained = threading.Condition(self._io)
        self._sock: socket.socket | None = None  # paho's, while connected
        self._raw = bytearray()  # framed QoS 0 packets the socket has not taken yet
        self._progress = 0.0  # when the socket last took some of them
        self._later: list[Callable[[], object]] = []  # paho calls waiting for _raw to empty
        self._republish = False  # a CONNACK arrived
        self._inbox: list[tuple[str, bytes, bool]] = []  # messages from the broker
        self._thread: threading.Thread | None = None
        self._thread_id: int | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)

    def _make_client(self) -> paho.Client:
        s = self.settings
        client = paho_client(s, s.clientname, paho.MQTTv5 if self._level == MQTT5 else paho.MQTTv311)
        client.will_set(bridge_lwt(s.prefix), OFFLINE, qos=1, retain=True)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        return client

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        s = self.settings
        log.info("connecting to MQTT broker %s:%d", s.host, s.port)
        self._thread = threading.Thread(target=self._run, name="mqtt", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0, last_word: str = OFFLINE) -> None:
        """Let the last values out, announce offline, disconnect, stop the network thread.

        `last_word`: the bridge's retained LWT at the end; "" empties it (a
        clean disconnect sends no will).
        """
        deadline = time.monotonic() + timeout
        info = None
        if self._up:
            with self._drained:
                while self._raw and self._up and deadline > time.monotonic():
                    self._drained.wait(deadline - time.monotonic())
                if self._up:
                    offline = bridge_lwt(self.settings.prefix)
                    info = self._paho(lambda: self._client.publish(offline, last_word, qos=1, retain=True))
        if isinstance(info, paho.MQTTMessageInfo):
            try:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError):
                pass
        # The network thread disconnects (it owns connecting too) and ends.
        self._stopping = True
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout + 1.0)

    @property
    def connected(self) -> bool:
        return self._up

    @property
    def running(self) -> bool:
        """Whether the network thread runs (started and not ended): what keeps connecting, whatever the broker does."""
        return self._thread is not None and self._thread.is_alive()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    # -- traffic --------------------------------------------------------------------

    def subscribe(self, topics: Iterable[str], as_published: bool = False) -> None:
        """Subscribe to `topics` (QoS 1), now if connected and again at every connect.

        `as_published`: each message keeps the retain flag it was published
        with (MQTT 5's Retain As Published), so that a live retained publish
        can be told from a plain one. Without it only the broker's replays of
        retained messages at subscribe time are flagged retained. A broker that
        speaks only MQTT 3.1.1 cannot do it (see the module's docstring).
        """
        topics = set(topics)
        # Under _io: the network thread reads the subscriptions at every connect.
        with self._io:
            new = sorted(t for t in topics if self._subscriptions.get(t) is not as_published)
            for topic in new:
                self._subscriptions[topic] = as_published
            if new and self._up:
                client, entries = self._client, self._entries(new)
                self._paho(lambda: client.subscribe(entries))

    def unsubscribe(self, topics: Iterable[str]) -> None:
        """Unsubscribe from `topics`: now if connected, and they are not renewed at the next connect."""
        with self._io:
            gone = sorted(t for t in set(topics) if t in self._subscriptions)
            for topic in gone:
                del self._subscriptions[topic]
            if gone and self._up:
                client = self._client
                self._paho(lambda: client.unsubscribe(gone))

    @property
    def subscriptions(self) -> list[str]:
        """The topic filters renewed at every connect."""
        with self._io:
            return sorted(self._subscriptions)

    def _entries(self, topics: list[str]) -> list[tuple[str, int]] | list[tuple[str, paho.SubscribeOptions]]:
        """paho's subscribe() list for `topics`, for the protocol of the current client."""
        if self._level != MQTT5:
            return [(t, 1) for t in topics]
        return [(t, paho.SubscribeOptions(qos=1, retainAsPublished=self._subscriptions[t])) for t in topics]

    def publish(self, messages: list[Outgoing], qos: int = 0) -> bool:
        """Send `messages`; True when so much is unwritten that the caller should throttle()."""
        if not self._up or not messages:
            return False
        with self._io:
            if not self._up:
                return False
            if qos == 0 and (self._raw or not self._client.want_write()):
                self._write_raw(self._framer.frame(messages))
                return len(self._raw) > BACKLOG_LIMIT
            # QoS 1, or behind bytes paho has queued: paho's own queue.
            client = self._client
            for m in messages:
                self._paho(partial(client.publish, m.topic, m.payload, qos, m.retain))
        return False

    @property
    def backlog(self) -> int:
        """Bytes framed and not yet written to the broker."""
        return len(self._raw)

    def throttle(self) -> None:
        """Wait a little while too much is unwritten; call it holding no lock of the caller's."""
        if len(self._raw) <= BACKLOG_LIMIT or threading.get_ident() == self._thread_id:
            return  # the network thread must never wait for itself
        deadline = time.monotonic() + BACKLOG_WAIT
        with self._drained:
            while len(self._raw) > BACKLOG_LIMIT and self._up:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._drained.wait(left)

    # -- writing (holding _io) ------------------------------------------------------------

    def _write_raw(self, data: bytes) -> None:
        raw = self._raw
        if not raw:
            sent = self._send(data[:_CHUNK])
            if sent == len(data) or sent < 0:
                return  # nearly always: the socket took it all
            self._progress = time.monotonic()
            raw += data[sent:]
        else:
            raw += data
        self._flush()
        if raw:
            self._wake()  # the network thread writes the rest when the socket takes it

    def _flush(self) -> None:
        raw = self._raw
        while raw:
            sent = self._send(bytes(raw[:_CHUNK]))
            if sent < 0:
                raw.clear()
            elif sent == 0:
                return
            else:
                del raw[:sent]
                self._progress = time.monotonic()
        self._drained.notify_all()
        later, self._later = self._later, []
        for call in later:
            call()

    def _send(self, data: bytes) -> int:
        """Bytes the socket took (0: none now, it is full); -1: the connection is gone."""
        sock = self._sock
        if sock is None:
            return -1
        try:
            return sock.send(data)
        except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            return 0
        except OSError as exc:
            # The connection broke; paho's next read says so and reconnects.
            log.debug("writing to the MQTT broker failed: %s", exc)
            _shutdown(sock)
            self._wake()
            return -1

    def _paho(self, call: Callable[[], object]) -> object:
        """Run a paho call that may write, now if the link's buffer is empty, else after it."""
        if self._raw:
            self._later.append(call)
            self._wake()
            return None
        return call()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass  # already awake (buffer full), or stopped

    # -- the network thread ------------------------------------------------------------

    def _run(self) -> None:
        self._thread_id = threading.get_ident()
        try:
            self._serve()
        finally:
            with self._io:
                sock = self._client.socket()
                if sock is not None and self._raw:
                    _shutdown(sock)  # half a packet out: the broker's will says offline
                elif sock is not None:
                    self._client.disconnect()
            self._wake_r.close()
            self._wake_w.close()

    def _serve(self) -> None:
        """Connect, with backoff while the broker is away or refuses, and serve the connection, until stop()."""
        s = self.settings
        delay, last_problem = _FIRST_DELAY, None
        sent = False  # a CONNECT went out on the connection that just ended
        while not self._stopping:
            if self._client.socket() is None:
                problem = None
                if sent:
                    sent, connack, self._connack = False, self._connack, None
                    if connack is not None and not connack.is_failure and not self._quick_drops:
                        delay, last_problem = _FIRST_DELAY, None  # it was up: reconnect at once
                    elif connack is not None and not connack.is_failure:
                        # Dropped right after connecting, again: not at once
                        # (two clients with one id would take turns forever).
                        problem = (logging.DEBUG, f"the MQTT broker {s.host}:{s.port} dropped hcpy right after "
                                                  "accepting it")  # fmt: skip
                    elif connack is not None and connack.value == UNSUPPORTED_PROTOCOL and s.protocol == "auto":
                        if self._level == MQTT5:
                            self._fall_back()
                            continue
                        problem = (logging.ERROR, f"the MQTT broker {s.host}:{s.port} refused MQTT 3.1.1 as well")
                    elif connack is not None and connack.value == UNSUPPORTED_PROTOCOL:
                        other = "3.1.1 or auto" if s.protocol == "5" else "5 or auto"
                        problem = (logging.ERROR, f"the MQTT broker {s.host}:{s.port} does not speak MQTT "
                                                  f"{s.protocol} (mqtt_protocol); set mqtt_protocol to {other}")  # fmt: skip
                    elif connack is not None:
                        problem = (logging.ERROR, f"the MQTT broker {s.host}:{s.port} refused the connection: "
                                                  f"{connack}{refusal_hint(connack)}")  # fmt: skip
                    else:
                        problem = (logging.WARNING, f"the MQTT broker {s.host}:{s.port} closed the connection "
                                                    "without accepting it")  # fmt: skip
                refused = False
                if problem is None:
                    failure = self._connect()
                    if failure is None:
                        sent = True
                        continue
                    refused = failure.startswith(_REFUSED)
                    problem = (logging.WARNING, f"cannot connect to the MQTT broker {s.host}:{s.port}: {failure}")
                self.problem, self.nothing_listens = problem[1], refused
                if self._stopping:
                    break
                # One line per change of reason: a broker that stays away (or
                # keeps refusing) is quiet, and is not asked again at once.
                level = problem[0] if problem != last_problem else logging.DEBUG
                log.log(level, "%s; retrying in %.0f s", problem[1], delay)
                last_problem = problem
                self._sleep(delay)
                delay = min(delay * 2, _MAX_DELAY)
                continue
            try:
                self._serve_once()
            except Exception:  # noqa: BLE001 - the thread must outlive any bug
                log.exception("the MQTT network thread failed; reconnecting")
                with self._io:
                    self._give_up()
                self._sleep(delay)

    def _connect(self) -> str | None:
        """One connect attempt; None when the CONNECT went out (CONNACK follows)."""
        s = self.settings
        try:
            with self._io:
                if self._level == MQTT5 and s.session_expiry:
                    # The broker keeps the session that long after a drop: a
                    # reconnect within it resumes, with what was queued for hcpy.
                    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho leaves Properties.__init__ unannotated
                    properties.SessionExpiryInterval = s.session_expiry
                    self._client.connect(s.host, s.port, keepalive=s.keepalive, clean_start=False,
                                         properties=properties)  # fmt: skip
                elif self._level == MQTT5:
                    # A clean start at every connect and, with no Session
                    # Expiry Interval, a session that ends with the connection.
                    self._client.connect(s.host, s.port, keepalive=s.keepalive, clean_start=True)
                else:
                    self._client.connect(s.host, s.port, keepalive=s.keepalive)  # clean session: paho's default
        except (OSError, ValueError) as exc:  # refused, unreachable, DNS, TLS
            return connect_failure(exc)
        return None

    def _fall_back(self) -> None:
        """The broker refused MQTT 5: use MQTT 3.1.1 from now on (a new paho client: the version is fixed per client)."""
        s = self.settings
        log.warning(
            "the MQTT broker %s:%d speaks only MQTT 3.1.1; connecting with that. A command published live "
            "with the retain flag cannot be recognised over MQTT 3.1.1 (it arrives like any other and is "
            "carried out); retained commands the broker replays at connect are still refused. A broker "
            "with MQTT 5 tells them apart.",
            s.host, s.port,
        )  # fmt: skip
        with self._io:
            self._level = MQTT311
            self._client = self._make_client()
            self._framer = PublishFramer(MQTT311)

    def _serve_once(self) -> None:
        client = self._client
        sock = client.socket()
        if sock is None:
            return
        with self._io:
            want_write = bool(self._raw) or client.want_write()
            pending = sock.pending() if isinstance(sock, ssl.SSLSocket) else 0
        readable = [sock, self._wake_r]
        try:
            ready = select.select(readable, [sock] if want_write else [], [], 0 if pending else _TICK)[0]
        except (OSError, ValueError):  # closed under us: paho notices on the next call
            ready = [sock]
        if self._wake_r in ready:
            try:
                self._wake_r.recv(4096)
            except OSError:
                pass
        with self._io:
            if self._raw:
                self._flush()
                stalled = 1.5 * self.settings.keepalive
                if self._raw and time.monotonic() - self._progress > stalled:
                    log.warning("the MQTT broker %s:%d has taken nothing for %.0f s (%s); reconnecting",
                                self.settings.host, self.settings.port, stalled, _STUCK)  # fmt: skip
                    self._give_up()
                if self._raw or client.socket() is None:
                    return  # paho may not write until the link's bytes are out
            if pending or sock in ready:
                client.loop_read()
            if client.socket() is not None and client.want_write():
                client.loop_write()
            if client.socket() is not None:
                client.loop_misc()
            republish, self._republish = self._republish, False
            inbox, self._inbox = self._inbox, []
        if republish:
            try:
                self._on_connected()
            except Exception:  # noqa: BLE001 - never let a bug stop the network thread
                log.exception("republishing after the MQTT connect failed")
        for topic, payload, retained in inbox:
            try:
                self._on_message(topic, payload, retained)
            except Exception:  # noqa: BLE001
                log.exception("handling a message on %s failed", topic)

    def _give_up(self) -> None:
        """End the connection, its end said already (holding _io); the next connect starts afresh.

        paho forgets a packet it was handling only when it closes the
        connection itself: after a shutdown alone its next read would hand
        the same packet over again (and fail again, for ever). Its DISCONNECT
        cannot go out through the shut socket: paho closes it and reports the
        connection ended, which _handle_disconnect then does not say again.
        """
        self._up = False
        self._raw.clear()
        sock = self._client.socket()
        if sock is not None:
            _shutdown(sock)
            self._client.disconnect()

    def _sleep(self, seconds: float) -> None:
        """Wait, unless stop() wakes it.

        Wake-ups left from the connection that ended (a publisher's, a failed
        write's) are dropped first: they would end the backoff at once.
        """
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass  # none left (or closed)
        if self._stopping:
            return  # stop() came before the drain: its wake-up was among them
        try:
            if select.select([self._wake_r], [], [], seconds)[0]:
                self._wake_r.recv(4096)
        except (OSError, ValueError):
            pass

    # -- paho callbacks (on the network thread, inside loop_read/loop_misc) --------------

    def _handle_connect(
        self, client: paho.Client, userdata: Any, flags: paho.ConnectFlags, reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:  # fmt: skip
        # Refused: paho closes the connection next, and _serve says why.
        self._connack = reason_code
        if reason_code.is_failure:
            return
        version = "MQTT 5" if self._level == MQTT5 else "MQTT 3.1.1"
        # Quiet while the broker keeps dropping hcpy (the clash is said once).
        log.log(logging.DEBUG if self._quick_drops else logging.INFO, "connected to MQTT broker %s:%d (%s, client id %s)",
                self.settings.host, self.settings.port, version, self.settings.clientname)  # fmt: skip
        self._up_since = time.monotonic()
        self._raw.clear()
        sock = client.socket()
        # Only a plain or TLS socket takes the raw lane's writes (paho may hand out a websocket wrapper).
        self._sock = sock if isinstance(sock, socket.socket) else None
        _no_delay(self._sock)
        client.publish(bridge_lwt(self.settings.prefix), ONLINE, qos=1, retain=True)
        if self._subscriptions:
            client.subscribe(self._entries(sorted(self._subscriptions)))
        self._up = True
        self.problem, self.nothing_listens = None, False
        self.connected_since = time.time()
        self.connects += 1
        self._connected.set()
        self._republish = True

    def _handle_disconnect(
        self, client: paho.Client, userdata: Any, flags: paho.DisconnectFlags, reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:  # fmt: skip
        if self._up and not self._stopping:
            taken_over = flags.is_disconnect_packet_from_server and reason_code.value == _SESSION_TAKEN_OVER
            if flags.is_disconnect_packet_from_server:
                why = f"the broker closed the connection: {reason_code}"  # MQTT 5: a broker says why
            elif reason_code.value == _UNSPECIFIED:
                why = "the connection ended"  # paho's word for a connection lost
            elif reason_code.value == _KEEPALIVE_TIMEOUT:
                s = self.settings
                why = f"{s.host}:{s.port} answered nothing for {s.keepalive} s: {_STUCK}"
            else:
                why = str(reason_code)  # a protocol error, say
            quick = time.monotonic() - self._up_since < _QUICK_DROP
            self._quick_drops = self._quick_drops + 1 if quick or taken_over else 0
            if self._quick_drops <= 1:
                log.warning("lost the MQTT broker (%s); reconnecting", why)
            if self._quick_drops == 0:
                self._blamed = False
            elif not self._blamed and (taken_over or self._quick_drops >= _DROPS_TO_SUSPECT):
                self._blamed = True
                # Each client takes the other's session in turn: say who is to
                # blame once, not at every turn.
                log.warning(
                    "%s: another MQTT client is using hcpy's client id %r; give each its own "
                    "mqtt_clientname (or leave it unset: hcpy then uses one unique to this installation)",
                    "the broker says" if taken_over else "the broker keeps dropping hcpy right after it connects",
                    self.settings.clientname,
                )
        self._up = False
        self.connected_since = None
        self._sock = None
        self._connected.clear()
        # Whatever was not written is gone with the connection.
        self._raw.clear()
        self._later.clear()
        self._drained.notify_all()

    def _handle_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self._inbox.append((message.topic, bytes(message.payload), message.retain))


def paho_client(s: MqttSettings, client_id: str, protocol: paho.MQTTProtocolVersion) -> paho.Client:
    """A paho client with the settings' credentials and TLS (no will, no callbacks)."""
    client = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
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
    return client


def connect_failure(exc: Exception) -> str:
    """Why a connect attempt failed, in words that point at the setting to check."""
    if isinstance(exc, socket.gaierror):
        return f"its name does not resolve ({exc.strerror}); check mqtt_host"
    if isinstance(exc, ConnectionRefusedError):
        return f"{_REFUSED}: nothing listens on that port; is the broker running, is mqtt_port right?"
    if isinstance(exc, TimeoutError):
        return "no answer (a firewall, or the wrong mqtt_host?)"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"its TLS certificate is not trusted ({exc.verify_message}); check mqtt_cafile"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or exc}); does the broker speak TLS on that port (mqtt_ssl, mqtt_port)?"
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "unreachable: no route to that host; check mqtt_host"
    return str(exc) or type(exc).__name__


def no_broker(s: MqttSettings) -> str:
    """What to do when nothing listens where the broker should be: said by the demo and the web console."""
    return (f"no MQTT broker at {s.host}:{s.port}: start one (sudo apt install mosquitto, or docker compose up -d "
            "mosquitto), or give --mqtt_host")  # fmt: skip


def refusal_hint(reason: paho.ReasonCode) -> str:
    """Which setting a refusal points at, if any."""
    if reason.value in _BAD_LOGIN:
        return " (check mqtt_username/mqtt_password)"
    if reason.value == _CLIENT_ID_REFUSED:
        return " (check mqtt_clientname)"
    return ""


def _no_delay(sock: socket.socket | None) -> None:
    """Send each write at once (TCP_NODELAY), which paho does not ask for.

    With Nagle's algorithm a small write waits while an earlier one is not
    yet acknowledged. After a run of QoS 1 publishes and their PUBACKs the
    broker's kernel takes the connection for an interactive one and delays
    its acknowledgements, and from then on QoS 0 values wait for them:
    bench/bridge.py's load at 10 appliances x 100/s with the run topics at
    QoS 1 had a p50 of 9.7 ms (p99 22 ms) without this, 0.44 ms (6.2 ms) with it.
    """
    try:
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass  # not TCP (a test's socket pair): nothing to delay


def _shutdown(sock: paho.SocketLike) -> None:
    if not isinstance(sock, socket.socket):  # paho's websocket wrapper; hcpy connects over TCP
        return
    try:
        # socket.socket's own: the next read on it ends, TLS or not.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass
