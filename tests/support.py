"""Helpers the tests and the benchmarks share: real profiles, a private mosquitto, a subscriber.

Imported by tests/conftest.py (which turns them into fixtures), by the
tests that run simulators behind a bridge, and by bench/ scripts; nothing
here depends on pytest.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
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
from hcpy.simulator import SimulatedAppliance, Simulator
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
    """A plain MQTT client that remembers everything it saw."""

    def __init__(self, port: int, client_id: str = "test-subscriber"):
        self.messages: list[tuple[str, str, bool]] = []
        self.last: dict[str, str] = {}
        self._cond = threading.Condition()
        self.client = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *a: c.subscribe("#", qos=1)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

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
        self.client.loop_stop()
        self.client.disconnect()


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
