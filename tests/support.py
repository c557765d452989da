"""Helpers the tests and the benchmarks share: real profiles, a private mosquitto, a subscriber.

Imported by tests/conftest.py (which turns them into fixtures), by the
tests that run simulators behind a bridge, and by bench/ scripts; nothing
here depends on pytest.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho

from hcpy.appliance.connection import Backoff
from hcpy.appliance.entry import ApplianceEntry, entry_from_profile
from hcpy.appliance.model import Profile
from hcpy.homeassistant.announcer import HomeAssistant
from hcpy.mqtt.bridge import Bridge, BridgeSettings
from hcpy.mqtt.link import MqttSettings
from hcpy.protocol.message import Action
from hcpy.protocol.transport import Timing
from hcpy.simulator import ManualClock, SimulatedAppliance, Simulator
from hcpy.simulator.examples import EXAMPLES

PROFILES = EXAMPLES  # the simulator's example appliances are the tests' fixtures: real profiles
DISHWASHER = "SIEMENS-SN658X06TE-000000000000"
WASHER = "SIEMENS-WM16XE91-000000000000"
COFFEE = "SIEMENS-TI9555X1DE-000000000000"


def profile_files(stem: str) -> tuple[bytes, bytes]:
    """(DeviceDescription.xml, FeatureMapping.xml) of a fixture profile."""
    return (
        (PROFILES / f"{stem}_DeviceDescription.xml").read_bytes(),
        (PROFILES / f"{stem}_FeatureMapping.xml").read_bytes(),
    )


def eventually(check, timeout: float = 8.0, what: str = "the condition") -> Any:
    """Wait until `check()` is true (its value), polling; fail saying `what`. Never a wall-time assertion."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(count: int) -> int:
    """The first of `count` consecutive ports that are all free on loopback now."""
    for _ in range(100):
        base = free_port()
        held = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError(f"found no {count} consecutive free ports")


def _mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
    return found


class Broker:
    """A mosquitto of our own on a free loopback port; restartable."""

    def __init__(self, directory: Path, settings: str = "allow_anonymous true\n"):
        self.port = free_port()
        self.config = directory / "mosquitto.conf"
        # As root, mosquitto would switch to its own user, which cannot read
        # the test's files (certificates, password file) in a private tmp dir.
        stay = "user root\n" if os.geteuid() == 0 else ""
        self.log = directory / "mosquitto.log"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\npersistence false\n{stay}"
            f"log_dest file {self.log}\n{settings}"
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [_mosquitto_binary(), "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        log = self.log.read_text() if self.log.exists() else ""
        raise RuntimeError(f"mosquitto did not start:\n{log}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(5)
            self.process = None



class Subscriber:
    """A plain MQTT client that remembers everything it saw.

    Made, it is subscribed (the broker's SUBACK came back): what is published
    from then on reaches it, and what the broker holds retained is on its way.
    """

    def __init__(self, port: int, client_id: str = "test-subscriber", topics: tuple[str, ...] = ("#",)):
        self.messages: list[tuple[str, str, bool]] = []
        self.last: dict[str, str] = {}
        self.client_id = client_id
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._syncs = 0
        self.client = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *a: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            self.close()
            raise AssertionError(f"the broker on port {port} did not acknowledge {client_id}'s subscription")

    def _on_message(self, client, userdata, message):
        with self._cond:
            payload = message.payload.decode("utf-8", "replace")
            self.messages.append((message.topic, payload, message.retain))
            self.last[message.topic] = payload
            self._cond.notify_all()

    def wait(self, topic: str, payload=None, timeout: float = 8.0, since: int = 0) -> str:
        """Wait until `topic` carries `payload` (any payload if None, a callable tests it)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for t, p, _ in self.messages[since:]:
                    if t == topic and (payload is None or (payload(p) if callable(payload) else p == payload)):
                        return p
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [m for m in self.messages[since:] if m[0] == topic]
                    raise AssertionError(f"no {payload!r} on {topic}; saw {seen[-5:]}")
                self._cond.wait(left)

    def mark(self) -> int:
        with self._cond:
            return len(self.messages)

    def sync(self, timeout: float = 8.0) -> int:
        """Wait until everything the broker had for this client before now has arrived; the mark after it.

        A marker of its own goes through the broker and back: the broker sends
        each client its messages in order, so whatever it had queued for this
        one (retained replays, earlier publishes) arrived first.
        """
        self._syncs += 1
        topic = f"test-sync/{self.client_id}/{self._syncs}"
        mark = self.mark()
        self.client.publish(topic, "", qos=1).wait_for_publish(timeout)
        self.wait(topic, timeout=timeout, since=mark)
        return self.mark()

    def publish(self, topic: str, payload) -> None:
        if not isinstance(payload, (str, bytes)):
            payload = json.dumps(payload)
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def response(self, topic: str, payload, since: int | None = None) -> dict:
        base = topic.rpartition("/")[0]
        mark = self.mark() if since is None else since
        self.publish(topic, payload)
        return json.loads(self.wait(f"{base}/response", since=mark))

    def close(self):
        # Disconnect first: it wakes paho's loop, which then ends at once
        # (stopped first, the loop sleeps out its second-long select).
        self.client.disconnect()
        self.client.loop_stop()


# -- loopback proxies in front of a broker, to play a broker that misbehaves ----------------


class Proxy:
    """A loopback TCP proxy to the broker on `broker_port` whose connections the test controls.

    reset(): every connection ends with a reset (the next write to it fails);
    cut(): that, and new ones are turned away until mend(). pause(): it reads and forwards
    nothing either way, new connections included, and hangs up nothing, as a
    broker that stopped reading looks from outside, until resume().
    inject(): bytes to every client, as if the broker had sent them.
    """

    def __init__(self, broker_port: int):
        self.broker_port = broker_port
        self.open = True
        self.accepted = 0
        self._flowing = threading.Event()
        self._flowing.set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._clients: dict[socket.socket, threading.Lock] = {}  # the client's end, and who may write to it
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
                close_socket(client)
                continue
            self.accepted += 1
            upstream = socket.create_connection(("127.0.0.1", self.broker_port))
            writing = threading.Lock()
            with self._lock:
                self._clients[client] = writing
                self._sockets += [client, upstream]
            threading.Thread(target=self._forward, args=(client, upstream, threading.Lock()), daemon=True).start()
            threading.Thread(target=self._forward, args=(upstream, client, writing), daemon=True).start()

    def _forward(self, source: socket.socket, sink: socket.socket, writing: threading.Lock) -> None:
        try:
            while True:
                self._flowing.wait()  # paused: nothing is read, the sender's buffers fill up
                chunk = source.recv(65536)
                if not chunk:
                    break
                self._flowing.wait()  # paused meanwhile: held
                with writing:
                    sink.sendall(chunk)
        except OSError:
            pass
        self._flowing.wait()  # a paused broker hangs up nothing
        close_socket(source)
        close_socket(sink)

    def cut(self) -> None:
        self.open = False
        self.reset()

    def reset(self) -> None:
        """End every connection with a reset; new ones are let through as before."""
        with self._lock:
            for s in self._sockets:
                reset_socket(s)
            self._sockets.clear()
            self._clients.clear()

    def mend(self) -> None:
        self.open = True

    def pause(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def inject(self, data: bytes) -> None:
        with self._lock:
            clients = list(self._clients.items())
        for client, writing in clients:
            with writing:
                client.sendall(data)

    def close(self) -> None:
        self.resume()
        self.cut()
        self._listener.close()


class Mqtt311Only:
    """A loopback proxy to a real broker that answers an MQTT 5 CONNECT as a 3.1.1-only broker must.

    MQTT 3.1.1 §3.1.2.2: a protocol level it does not support is answered
    with CONNACK return code 1 (unacceptable protocol version), and the
    connection closed. Connections at level 4 go through to the broker.
    """

    def __init__(self, broker_port: int):
        self.broker_port = broker_port
        self.levels: list[int] = []  # the protocol level of every CONNECT, in order
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                close_socket(s)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            first = exactly(client, 1)
            length, raw_length = 0, b""
            for shift in range(0, 28, 7):
                byte = exactly(client, 1)
                raw_length += byte
                length |= (byte[0] & 0x7F) << shift
                if not byte[0] & 0x80:
                    break
            body = exactly(client, length)
        except OSError:
            close_socket(client)
            return
        level = body[6]  # after the protocol name: 0x00 0x04 "MQTT"
        self.levels.append(level)
        if first[0] != 0x10 or level != 4:
            client.sendall(b"\x20\x02\x00\x01")
            close_socket(client)
            return
        upstream = socket.create_connection(("127.0.0.1", self.broker_port))
        with self._lock:
            self._sockets.append(upstream)
        upstream.sendall(first + raw_length + body)
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        pipe(client, upstream)


def exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    close_socket(source)
    close_socket(sink)


def close_socket(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def reset_socket(sock: socket.socket) -> None:
    """Close with a reset (SO_LINGER 0): the peer's next write fails, as when a host goes away.

    The shutdown wakes a thread blocked reading it; only then does the close
    release the socket (and send the reset).
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    close_socket(sock)


# -- what a test reads in the log ------------------------------------------------------------


def log_lines(caplog, pattern: str, logger: str = "hcpy.mqtt") -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and re.search(pattern, r.getMessage())]


def wait_for_log(caplog, pattern: str, timeout: float = 15.0, count: int = 1, logger: str = "hcpy.mqtt") -> list[str]:
    """The lines of `logger` matching `pattern`, once there are `count` of them."""

    def enough() -> list[str] | None:
        found = log_lines(caplog, pattern, logger)
        return found if len(found) >= count else None

    try:
        return eventually(enough, timeout, f"{count} line(s) matching {pattern!r}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the log: {[r.getMessage() for r in caplog.records]}") from None


# -- simulators and a bridge between them and a broker ----------------------------------

FAST = Timing(connect=3, ping_interval=0.3, silence=1.5, tick=0.1)
QUICK_RETRY = Backoff(first=0.2, limit=0.5, stable_after=5)
PREFIX = "homeconnect/"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def simulated(
    profile: Profile, name: str, transport: str = "tls", services: str = "iz", **appliance: Any
) -> tuple[Simulator, ApplianceEntry]:
    """A started simulator with fresh keys, and the devices.json entry that reaches it.

    `appliance` goes to SimulatedAppliance (remote_start, clock, …); Remote
    Start is allowed unless it says otherwise.
    """
    appliance.setdefault("remote_start", True)
    psk = os.urandom(32)
    iv = os.urandom(16) if transport == "aes" else None
    sim = Simulator(SimulatedAppliance(profile, services=services, **appliance), psk, iv).start()
    entry = entry_from_profile(profile, key=b64(psk), iv=b64(iv) if iv else None, host="127.0.0.1", port=sim.port, name=name)
    return sim, entry


@contextmanager
def bridged(port: int, sims_and_entries: list[tuple[Simulator, ApplianceEntry]], **settings: Any) -> Iterator[Bridge]:
    """hcpy's bridge between these simulators and the broker on `port`, stopped on leaving."""
    # No mDNS lookups from tests unless one asks: they would go out on every interface.
    settings.setdefault("resolver", None)
    if settings.pop("ha_discovery", False):
        settings.setdefault("discovery", HomeAssistant())
    bridge = Bridge(
        [e for _, e in sims_and_entries],
        MqttSettings(host="127.0.0.1", port=port, prefix=PREFIX, clientname="hcpy-test"),
        BridgeSettings(device_id="00112233aabbccdd", timing=FAST, backoff=QUICK_RETRY, request_timeout=3, **settings),
    )
    bridge.start()
    try:
        yield bridge
    finally:
        bridge.stop()


def posts(sim: Simulator) -> list:
    """What the client posted to the simulated appliance."""
    return [m for m in sim.received if m.action == Action.POST]


# A broker with TLS, client certificates and a password (tests/conftest.py: pki).
USER, PASSWORD = "hcpy", "s3cret-pa55word"


def make_pki(directory: Path) -> Path:
    """A CA, a broker certificate for 127.0.0.1, a client certificate and a password file."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=hcpy test CA",
            "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.csr")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-extfile", "san.ext", "-out", f"{name}.crt")  # fmt: skip
    passwd = shutil.which("mosquitto_passwd") or shutil.which("mosquitto_passwd", path="/usr/sbin:/usr/local/sbin")
    if not passwd:
        raise RuntimeError("mosquitto_passwd is not installed (apt-get install mosquitto)")
    subprocess.run([passwd, "-b", "-c", str(directory / "passwords"), USER, PASSWORD], check=True, capture_output=True)
    return directory


# --- one appliance behind the bridge, on a clock the test moves (test_programs, test_kinds_*) ---


def at_rest(profile, name, transport="tls", **appliance):
    """A simulated appliance on a clock only the test moves."""
    return simulated(profile, name, transport, clock=ManualClock(), **appliance)


class Kitchen:
    """One appliance behind the bridge, and the subscriber that talks to it."""

    def __init__(self, subscriber, sim, name):
        self.subscriber, self.sim, self.base = subscriber, sim, f"homeconnect/{name}/"

    def command(self, suffix, payload):
        return self.subscriber.response(self.base + suffix, payload)

    def sees(self, topic, payload=None, since=0):
        return self.subscriber.wait(self.base + topic, payload, since=since)

    def later(self, seconds):
        """Let `seconds` of appliance time pass."""
        mark = self.subscriber.mark()
        self.sim.advance(seconds)
        return mark
