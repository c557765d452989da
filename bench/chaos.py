"""Chaos soak: hc2mqtt under faults, then hostile commands and hostile appliance messages.

The project's benchmark for issue 9 ("Hardening"). Everything runs on
loopback: a private mosquitto, N simulated appliances in this process (the
three fixture profiles round-robin; TLS-PSK and AES alternate) and the real
`hc2mqtt.py` as its own process, so its memory (VmRSS) is read from /proc
and its log (stdout and stderr) from a file of its own. It runs with its
production timings: a half-open connection is noticed after its 50 s
silence timeout, reconnects back off as they would at home.

1. Soak (--minutes): --rate value changes a second across the appliances
   (statuses and settings that are numbers, enumerations or booleans, each a
   value the feature allows; the simulator keeps the truth), and a fault
   every few seconds: a dropped connection, a half-open silence (70 s; the
   simulator's half-open socket is closed after it), a frame with a bad MAC
   (AES), a garbage frame, mosquitto killed with SIGKILL and restarted on the
   same port, mosquitto frozen with SIGSTOP for a few seconds. A fault only
   starts if it is over before the soak ends.
2. Convergence: no more changes. From the start of the last fault, the time
   until the retained MQTT state of every changed value equals the
   simulator's (numbers compared as numbers, enumerations by member name,
   booleans as True/False) and every T/LWT says online, confirmed by a fresh
   subscriber reading only what the broker retains. Values still wrong 120 s
   after the last fault are lost.
3. Hostile commands (--commands): published on T/set, T/activeProgram and
   T/selectedProgram while the bridge runs: invalid JSON and UTF-8, lone
   surrogates, 5,000-deep nesting, a 1 MB name, UTF-8 BOM and UTF-16
   payloads, objects for strings, AcknowledgeEvent 1e30, StartInRelative
   -86400, {} on activeProgram, unknown names, uids and programs, values out
   of range, wrong types, lists of 10,000 items, NaN and Infinity, and valid
   commands published with the retain flag (which must be refused; they are
   cleared afterwards). None is a valid live command, so none should reach an
   appliance. Each JSON object carries a "transaction" to match its answer on
   T/response; answers that cannot carry one are counted per appliance.
4. Hostile appliance messages: a NOTIFY with 10,000 unknown uids, 1,000
   garbage frames, a NOTIFY nested 100,000 deep, a 4 MB string value, an
   empty string value (its retained topic must stay), and NOTIFYs of
   100,000 and 30,000 values (about 2.4 and 0.7 MB) while the latency of
   value changes on the other appliances is measured. Each is followed by a
   marker value on the same connection: once the marker is on MQTT, the
   bridge is through with the message.
5. The figures, each against the issue's target, and a search of the
   daemon's log and of every MQTT payload for each appliance's key and IV.

Everything waits with a timeout; if the daemon dies, that is reported and
the remaining phases are skipped. The exit code is 0 whatever the figures
(it is a benchmark), 2 if the set-up itself fails.

The private mosquitto queues without limit (max_queued_messages 0): a
message it dropped would be charged to hcpy. The latency probe has an MQTT
client of its own, so the burst it measures does not queue in front of it.

Run: python bench/chaos.py [--appliances 10] [--minutes 5] [--rate 20] [--seed 1] [--commands 5000]
     python bench/chaos.py --quick      # about a minute: a smoke run of every phase
     python bench/chaos.py --quick --rev HEAD~3   # another revision's hc2mqtt.py on the same rig
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import paho.mqtt.client as paho  # noqa: E402
from revisions import checkout  # noqa: E402
from support import COFFEE, DISHWASHER, WASHER, Broker, profile_files  # noqa: E402

from hcpy.appliance import names  # noqa: E402
from hcpy.appliance.devices import save_devices  # noqa: E402
from hcpy.appliance.entry import clean_name, entry_from_profile  # noqa: E402
from hcpy.appliance.model import Feature, Kind, Profile, Program, ValueKind  # noqa: E402
from hcpy.appliance.profile_xml import parse_profile  # noqa: E402
from hcpy.mqtt.naming import topic_key  # noqa: E402
from hcpy.protocol.resources import RO_ACTIVE_PROGRAM, RO_SELECTED_PROGRAM, RO_VALUES  # noqa: E402
from hcpy.protocol.tlspsk import BACKEND  # noqa: E402
from hcpy.simulator import SimulatedAppliance, Simulator  # noqa: E402
from hcpy.simulator.values import coerce  # noqa: E402

PROFILE_STEMS = (DISHWASHER, WASHER, COFFEE)
SHORT = {DISHWASHER: "dishwasher", WASHER: "washer", COFFEE: "coffee"}
PREFIX = "chaos/"

# The targets.
TARGET_LOST = 0
TARGET_CONVERGENCE_S = 60.0
TARGET_ANSWERED = 1.0
TARGET_LOG_MB = 1.0
TARGET_LINE_BYTES = 2048
TARGET_RSS_DELTA_MB = 10.0
TARGET_LATENCY_S = 0.1

LOST_AFTER_S = 120.0  # a changed value still wrong this long after the last fault is lost
RSS_PERIOD = 0.2
PROBE_PERIOD = 0.005  # one probe value change every 5 ms, round-robin over the other appliances
# Features whose values steer the bridge's command checks and the simulator's
# programs: the soak leaves them alone, so only the state path is under test.
STEERING = frozenset(
    {names.OPERATION_STATE, names.DOOR_STATE, names.POWER_STATE, names.REMOTE_START_ALLOWED, names.LOCAL_CONTROL_ACTIVE}
)
SOAK_KINDS = (ValueKind.INTEGER, ValueKind.NUMBER, ValueKind.ENUM, ValueKind.BOOLEAN)
PROBE_FEATURE = "BSH.Common.Status.WiFiSignalStrength"
# Values of the probe feature, far from anything a soak change sets (those stay within limits).
MARKER_BASE = 9_000_000
PROBE_BASE = 5_000_000
COMMAND_RESOURCES = (RO_VALUES, RO_ACTIVE_PROGRAM, RO_SELECTED_PROGRAM)
TRACEBACK = b"Traceback (most recent call last)"


class SetupError(Exception):
    """The rig itself failed (broker, simulators, daemon start-up): no figures to give."""


# --- settings -------------------------------------------------------------------------------


@dataclass
class Plan:
    """How long and how hard each phase is; --quick shrinks it to about a minute."""

    appliances: int
    soak_s: float
    rate: float
    fault_every: float
    silence_s: float  # how long a half-open connection stays half-open
    broker_stop_s: tuple[float, float]
    broker_down_s: tuple[float, float]
    commands: int
    command_rate: float
    unknown_uids: int
    garbage_frames: int
    nesting: int
    big_string: int
    big_notifies: tuple[int, ...]  # values in each big NOTIFY
    settle_s: float  # before the "after" RSS
    answer_quiet_s: float
    marker_timeout: float  # how long the bridge may take to digest one hostile message
    seed: int

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Plan:
        if args.quick:
            return cls(
                appliances=args.appliances, soak_s=20.0, rate=args.rate, fault_every=2.0, silence_s=6.0,
                broker_stop_s=(1.0, 2.5), broker_down_s=(0.3, 1.0), commands=args.commands or 500,
                command_rate=args.command_rate, unknown_uids=10_000, garbage_frames=1_000, nesting=100_000,
                big_string=4_000_000, big_notifies=(20_000,), settle_s=2.0, answer_quiet_s=3.0, marker_timeout=30.0,
                seed=args.seed,
            )  # fmt: skip
        return cls(
            appliances=args.appliances, soak_s=args.minutes * 60.0, rate=args.rate, fault_every=4.0, silence_s=70.0,
            broker_stop_s=(3.0, 10.0), broker_down_s=(0.5, 3.0), commands=args.commands or 5000,
            command_rate=args.command_rate, unknown_uids=10_000, garbage_frames=1_000, nesting=100_000,
            big_string=4_000_000, big_notifies=(100_000, 30_000), settle_s=10.0, answer_quiet_s=5.0, marker_timeout=60.0,
            seed=args.seed,
        )  # fmt: skip


# --- the appliances -------------------------------------------------------------------------


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def secret_forms(raw: bytes) -> set[bytes]:
    """How a key or IV could show up in text: as devices.json has it, standard base64, hex."""
    return {b64url(raw).encode(), base64.b64encode(raw), base64.b64encode(raw).rstrip(b"="), raw.hex().encode()}


@dataclass
class Appliance:
    index: int
    name: str
    stem: str
    profile: Profile
    sim: Simulator
    transport: str
    psk: bytes
    iv: bytes | None
    secrets: set[bytes]
    changeable: list[Feature]  # what the soak changes
    probe: Feature | None  # a plain integer: markers and latency probes
    text: Feature | None  # a string feature: the 4 MB and empty values
    loose: Feature  # a string or untyped setting: an object is no value for it
    writable: Feature | None  # a writable enum or boolean setting: the valid retained command
    program: Program | None  # one with StartInRelative if there is one

    @property
    def base(self) -> str:
        return PREFIX + clean_name(self.name)

    def state_topic(self, feature: Feature) -> str:
        return f"{self.base}/state/{topic_key(feature.name)}"

    @property
    def lwt(self) -> str:
        return f"{self.base}/LWT"

    @property
    def response(self) -> str:
        return f"{self.base}/response"

    def connected(self) -> bool:
        return self.sim.connection_count > 0


def pick_features(profile: Profile) -> dict[str, Any]:
    features = sorted(profile.features.values(), key=lambda f: f.uid)
    changeable = [
        f
        for f in features
        if f.kind in (Kind.STATUS, Kind.SETTING)
        and f.limits.access.readable  # read again after every reconnect (allMandatoryValues)
        and not f.holds_uid
        and f.value_kind in SOAK_KINDS
        and f.name not in STEERING
        and (f.enum is None or f.enum.members)
    ]
    probe = profile.by_name(PROBE_FEATURE)
    if probe is None:
        probe = next((f for f in changeable if f.value_kind is ValueKind.INTEGER and f.limits.max is None), None)
    texts = [
        f for f in features if f.value_kind is ValueKind.STRING and f.kind in (Kind.STATUS, Kind.SETTING, Kind.OPTION)
    ]
    text = next((f for f in texts if f.limits.access.readable), texts[0] if texts else None)
    loose = (
        profile.by_name("BSH.Common.Setting.ApplianceTime") or text or (changeable[0] if changeable else features[0])
    )
    writable = next(
        (
            f
            for f in features
            if f.kind is Kind.SETTING
            and f.limits.access.writable
            and f.limits.access.readable
            and f.value_kind in (ValueKind.ENUM, ValueKind.BOOLEAN)
            and f.name != names.POWER_STATE  # a valid PowerState could switch the appliance off
        ),
        None,
    )
    start_in = profile.by_name(names.START_IN_RELATIVE)
    programs = [p for p in profile.programs.values() if p.available]
    program = next(
        (p for p in programs if start_in is not None and start_in.uid in p.options), programs[0] if programs else None
    )
    return dict(changeable=changeable, probe=probe, text=text, loose=loose, writable=writable, program=program)


def build_appliances(count: int, stack: ExitStack) -> list[Appliance]:
    profiles = {stem: parse_profile(*profile_files(stem)) for stem in PROFILE_STEMS}
    appliances = []
    for i in range(count):
        stem = PROFILE_STEMS[i % len(PROFILE_STEMS)]
        transport = "tls" if i % 2 == 0 else "aes"
        psk = os.urandom(32)
        iv = os.urandom(16) if transport == "aes" else None
        profile = profiles[stem]
        # Remote start allowed: a program command is then judged by hcpy's
        # screening, not refused because of the appliance's button.
        sim = Simulator(SimulatedAppliance(profile, remote_start=True), psk, iv, name=f"chaos{i}").start()
        stack.callback(sim.stop)
        secrets = secret_forms(psk) | (secret_forms(iv) if iv else set())
        appliances.append(
            Appliance(
                i, f"{SHORT[stem]}{i:02d}", stem, profile, sim, transport, psk, iv, secrets, **pick_features(profile)
            )
        )
    return appliances


def write_devices(appliances: list[Appliance], path: Path) -> None:
    entries = []
    for a in appliances:
        entries.append(
            entry_from_profile(
                a.profile,
                key=b64url(a.psk),
                iv=b64url(a.iv) if a.iv else None,
                host="127.0.0.1",
                port=a.sim.port,
                name=a.name,
            )
        )
    save_devices(path, entries, merge=False)


# --- valid values -------------------------------------------------------------------------


def number(raw: Any) -> float | None:
    value = coerce(ValueKind.NUMBER, raw)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def new_value(feature: Feature, current: Any, rng: random.Random) -> Any:
    """A value the feature allows (members, limits, step), other than `current` where it can be."""
    limits = feature.bounded(feature.limits)
    low, high = number(limits.min), number(limits.max)
    if feature.value_kind is ValueKind.BOOLEAN:
        return not bool(current)
    if feature.value_kind is ValueKind.ENUM:
        members = [m for m in feature.enum.members if (low is None or m >= low) and (high is None or m <= high)]
        others = [m for m in members or list(feature.enum.members) if m != current]
        return rng.choice(others or members or list(feature.enum.members))
    low = 0.0 if low is None else low
    high = low + 1_000_000 if high is None else high
    step = number(limits.step) or 1.0
    slots = max(0, int((high - low) // step))
    for _ in range(5):
        value = low + rng.randint(0, slots) * step
        value = int(value) if float(value).is_integer() else value
        if value != current:
            break
    return value


def matches(feature: Feature, payload: bytes | None, truth: Any) -> bool:
    """Whether a T/state payload says what the simulator holds, as hcpy renders it."""
    if payload is None:
        return False
    text = payload.decode("utf-8", "replace")
    if feature.value_kind is ValueKind.ENUM:
        return text == str(feature.enum.members.get(truth, truth))
    if feature.value_kind is ValueKind.BOOLEAN:
        return text == str(bool(truth))
    try:
        return math.isclose(float(text), float(truth), rel_tol=0, abs_tol=1e-9)
    except (TypeError, ValueError):
        return False


def wire_text(feature: Feature, value: Any) -> Any:
    """A value as a user would write it in a command: the member name for enumerations."""
    if feature.enum is not None and isinstance(value, int):
        return feature.enum.members.get(value, value)
    return value


# --- MQTT: the watcher, a one-off snapshot of what the broker retains -------------------------


def mqtt_client(name: str) -> paho.Client:
    client = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, client_id=f"chaos-{name}-{os.getpid()}")
    client.reconnect_delay_set(0.1, 1.0)
    return client


class Watcher:
    """Subscribes to P#: the latest payload per topic, answers on T/response, secrets in payloads.

    After a reconnect the cache starts over: a restarted broker has lost
    what it retained, and what it holds again comes back at subscribe.
    """

    def __init__(self, port: int, appliances: list[Appliance]):
        self._cond = threading.Condition()
        self.latest: dict[str, bytes] = {}
        self.messages = 0
        self.bytes = 0
        self.connects = 0
        self.secrets = [s for a in appliances for s in a.secrets]
        self.secret_hits = 0
        self.responses = {a.response: a.index for a in appliances}
        # Topics whose payloads are not the bridge's rendering of appliance values: ours, and its answers.
        self.not_values = {
            f"{a.base}/{s}" for a in appliances for s in ("set", "activeProgram", "selectedProgram", "response")
        }
        self.answers: Answers | None = None
        self.longest: tuple[int, str] = (0, "")  # longest value the bridge published (bytes, topic), since reset
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
            self.connects += 1
        client.subscribe(PREFIX + "#", qos=1)

    def _on_message(self, client, userdata, message) -> None:
        topic, payload = message.topic, message.payload
        for secret in self.secrets:
            if secret in payload or secret.decode() in topic:
                self.secret_hits += 1
        with self._cond:
            self.messages += 1
            self.bytes += len(payload)
            self.latest[topic] = payload
            if topic not in self.not_values and len(payload) > self.longest[0]:
                self.longest = (len(payload), topic)
            self._cond.notify_all()
        index = self.responses.get(topic)
        if index is not None and self.answers is not None:
            self.answers.add(index, payload)

    def get(self, topic: str) -> bytes | None:
        with self._cond:
            return self.latest.get(topic)

    def copy(self) -> dict[str, bytes]:
        """The latest payload of every topic, at one moment (paho's thread keeps adding)."""
        with self._cond:
            return dict(self.latest)

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
    """What the broker retains under P now, read by a fresh subscriber; None if it cannot be read."""
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

    client.on_connect = lambda c, *a: c.subscribe(PREFIX + "#", qos=1)
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


# --- the daemon: process, log, memory -------------------------------------------------------


class Daemon:
    def __init__(self, tree: Path, devices: Path, port: int, log_path: Path, stack: ExitStack):
        env = {k: v for k, v in os.environ.items() if not k.startswith("HCPY_")}
        env["PYTHONUNBUFFERED"] = "1"
        self.log_path = log_path
        log = stack.enter_context(open(log_path, "wb"))  # noqa: SIM115 - the ExitStack closes it
        self.proc = subprocess.Popen(
            [sys.executable, "hc2mqtt.py", "--devices_file", str(devices), "--mqtt_host", "127.0.0.1",
             "--mqtt_port", str(port), "--mqtt_prefix", PREFIX, "--mqtt_clientname", f"hcpy-chaos-{os.getpid()}"],
            cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C reaches the bench, which ends it with SIGTERM in order.
            start_new_session=True,
        )  # fmt: skip
        stack.callback(self.terminate)
        self.died_in: str | None = None  # the phase during which it was found dead

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self, phase: str) -> bool:
        if self.proc.poll() is None:
            return True
        if self.died_in is None:
            self.died_in = phase
        return False

    def death(self) -> str:
        tail = self.log_path.read_bytes()[-4000:].decode("utf-8", "replace").strip().splitlines()[-3:]
        return f"hc2mqtt exited with {self.proc.returncode} during {self.died_in}: " + " | ".join(t[:200] for t in tail)

    def rss_mb(self) -> float:
        try:
            with open(f"/proc/{self.pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int) -> bytes:
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read()

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class LogStats:
    bytes: int = 0
    lines: int = 0
    tracebacks: int = 0
    longest_line: int = 0
    warnings: int = 0
    errors: int = 0
    reconnects: int = 0  # "connected to <host>" lines: appliance sessions opened

    @classmethod
    def of(cls, text: bytes) -> LogStats:
        lines = text.splitlines()
        return cls(
            bytes=len(text),
            lines=len(lines),
            tracebacks=text.count(TRACEBACK),
            longest_line=max((len(line) for line in lines), default=0),
            warnings=text.count(b" WARNING "),
            errors=text.count(b" ERROR "),
            reconnects=sum(1 for line in lines if b": connected to " in line),
        )


class RssSampler:
    """VmRSS of the daemon every 0.2 s; `peak` since the last `reset()`."""

    def __init__(self, daemon: Daemon):
        self.daemon = daemon
        self.peak = float("nan")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="chaos-rss", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(RSS_PERIOD):
            rss = self.daemon.rss_mb()
            with self._lock:
                if rss == rss and not rss <= self.peak:
                    self.peak = rss

    def reset(self) -> float:
        with self._lock:
            self.peak = self.daemon.rss_mb()
            return self.peak

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


# --- the rig --------------------------------------------------------------------------------


@dataclass
class Rig:
    plan: Plan
    rng: random.Random
    broker: Broker
    appliances: list[Appliance]
    daemon: Daemon
    watcher: Watcher
    rss: RssSampler
    broker_stopped: bool = False  # SIGSTOP, not yet SIGCONT
    broker_down: bool = False  # killed, not yet restarted

    @property
    def port(self) -> int:
        return self.broker.port

    def restart_broker(self) -> None:
        for attempt in range(3):
            try:
                self.broker.start()
                self.broker_down = False
                return
            except RuntimeError as exc:
                if attempt == 2:
                    raise SetupError(f"mosquitto did not restart on port {self.broker.port}: {exc}") from None
                time.sleep(0.5)

    def cleanup_broker(self) -> None:
        process = self.broker.process
        if process is not None and process.poll() is None and self.broker_stopped:
            os.kill(process.pid, signal.SIGCONT)
        self.broker_stopped = False


def wait_online(rig: Rig, timeout: float, phase: str) -> list[str]:
    """Wait until every T/LWT says online; returns the names still not online."""
    deadline = time.monotonic() + timeout
    while True:
        missing = [a.name for a in rig.appliances if rig.watcher.get(a.lwt) != b"online"]
        if not missing or time.monotonic() > deadline or not rig.daemon.alive(phase):
            return missing
        time.sleep(0.1)


def stop_sims(appliances: list[Appliance]) -> None:
    # In parallel: each stop() may wait up to a second for goodbyes.
    threads = [threading.Thread(target=a.sim.stop, daemon=True) for a in appliances]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)


# --- phase 1: the soak ------------------------------------------------------------------------


@dataclass
class Soak:
    changes: int = 0
    skipped_changes: int = 0  # slots missed because the bench fell behind
    changed: set[tuple[int, int]] = field(default_factory=set)  # (appliance index, uid)
    faults: Counter = field(default_factory=Counter)
    last_fault: tuple[float, str] | None = None  # (monotonic time it started, kind)
    started: float = 0.0
    ended: float = 0.0
    log: LogStats = field(default_factory=LogStats)
    watcher_reconnects: int = 0


def soak(rig: Rig) -> Soak:
    plan, rng, apps = rig.plan, rig.rng, rig.appliances
    result = Soak()
    changers = [a for a in apps if a.changeable]
    log_start = rig.daemon.log_size()
    connects_before = rig.watcher.connects
    start = result.started = time.monotonic()
    end = start + plan.soak_s
    step = 1.0 / plan.rate
    next_change = start
    next_fault = start + min(5.0, plan.fault_every)
    pending: list[tuple[float, Callable[[], None]]] = []  # faults being lifted: (when, how)
    silenced: set[int] = set()

    def lift_silence(a: Appliance) -> Callable[[], None]:
        def lift() -> None:
            # The simulator has no "end the silence" of its own: close the
            # half-open sockets it still holds (the bridge may long have left them).
            for conn in a.sim._snapshot(sessions_only=False):  # noqa: SLF001
                if conn.silent:
                    conn.kill()
            silenced.discard(a.index)

        return lift

    def resume_broker() -> None:
        os.kill(rig.broker.process.pid, signal.SIGCONT)
        rig.broker_stopped = False

    def inject(now: float) -> None:
        with_session = [a for a in apps if a.connected()]
        broker_free = not rig.broker_stopped and not rig.broker_down
        choices: list[tuple[str, int]] = []
        if with_session:
            choices += [("drop", 3), ("garbage", 2)]
            if any(a.transport == "aes" for a in with_session):
                choices.append(("bad MAC", 2))
            if now + plan.silence_s < end and any(a.index not in silenced for a in with_session):
                choices.append(("half-open silence", 1))
        if broker_free and now + plan.broker_down_s[1] + 2 < end:
            choices.append(("broker kill -9", 1))
        if broker_free and now + plan.broker_stop_s[1] < end:
            choices.append(("broker SIGSTOP", 1))
        if not choices:
            return
        # Every kind once first (so a short run meets each), then by weight.
        fresh = [c for c, _ in choices if not result.faults[c]]
        kind = rng.choice(fresh) if fresh else rng.choices([c for c, _ in choices], [w for _, w in choices])[0]
        if kind == "drop":
            rng.choice(with_session).sim.drop_connections()
        elif kind == "garbage":
            rng.choice(with_session).sim.send_garbage()
        elif kind == "bad MAC":
            rng.choice([a for a in with_session if a.transport == "aes"]).sim.send_bad_mac()
        elif kind == "half-open silence":
            a = rng.choice([a for a in with_session if a.index not in silenced])
            a.sim.go_silent()
            silenced.add(a.index)
            pending.append((now + plan.silence_s, lift_silence(a)))
        elif kind == "broker kill -9":
            rig.broker.process.kill()
            rig.broker.process.wait(5)
            rig.broker_down = True
            pending.append((now + rng.uniform(*plan.broker_down_s), rig.restart_broker))
        elif kind == "broker SIGSTOP":
            os.kill(rig.broker.process.pid, signal.SIGSTOP)
            rig.broker_stopped = True
            pending.append((now + rng.uniform(*plan.broker_stop_s), resume_broker))
        result.faults[kind] += 1
        result.last_fault = (now, kind)

    while True:
        now = time.monotonic()
        for item in [p for p in pending if p[0] <= now]:
            pending.remove(item)
            item[1]()
        if now >= end and not pending:
            break
        if not rig.daemon.alive("the soak"):
            break
        if now < end and now >= next_change and changers:
            a = rng.choice(changers)
            feature = rng.choice(a.changeable)
            a.sim.set_value(feature.uid, new_value(feature, a.sim.app.value(feature.uid), rng))
            result.changes += 1
            result.changed.add((a.index, feature.uid))
            next_change += step
            if now - next_change > 1.0:  # far behind: skip the missed slots rather than burst them
                missed = int((now - next_change) / step)
                result.skipped_changes += missed
                next_change += missed * step
        if now < end and now >= next_fault:
            inject(now)
            next_fault = now + plan.fault_every * rng.uniform(0.5, 1.5)
        upcoming = [p[0] for p in pending] + ([next_change, next_fault] if now < end else [])
        time.sleep(min(0.05, max(0.0, min(upcoming, default=now) - time.monotonic())))
    # Leave nothing frozen or down, whatever ended the loop.
    for _, lift in pending:
        lift()
    result.ended = time.monotonic()
    result.log = LogStats.of(rig.daemon.log_since(log_start))
    result.watcher_reconnects = rig.watcher.connects - connects_before
    return result


# --- phase 2: convergence -----------------------------------------------------------------------


@dataclass
class Convergence:
    seconds: float = float("nan")  # after the start of the last fault
    after_soak: float = float("nan")  # after the last value change
    lost: list[str] = field(default_factory=list)  # "appliance feature: broker has X, simulator Y"
    checked: int = 0
    lwt_online: int = 0
    note: str = ""


def mismatches(rig: Rig, changed: set[tuple[int, int]], view: dict[str, bytes]) -> list[str]:
    wrong = []
    for index, uid in sorted(changed):
        a = rig.appliances[index]
        feature = a.profile.features[uid]
        truth = a.sim.app.value(uid)
        payload = view.get(a.state_topic(feature))
        if not matches(feature, payload, truth):
            shown = "nothing" if payload is None else repr(payload[:40].decode("utf-8", "replace"))
            wrong.append(f"{a.name} {feature.short_name}: broker has {shown}, simulator {wire_text(feature, truth)!r}")
    return wrong


def offline(rig: Rig, view: dict[str, bytes]) -> list[str]:
    return [a.name for a in rig.appliances if view.get(a.lwt) != b"online"]


def converge(rig: Rig, result: Soak) -> Convergence:
    conv = Convergence(checked=len(result.changed))
    origin = result.last_fault[0] if result.last_fault else result.ended
    deadline = origin + LOST_AFTER_S
    snapshot: dict[str, bytes] | None = None
    while time.monotonic() < deadline and rig.daemon.alive("convergence"):
        live = rig.watcher.copy()
        if not mismatches(rig, result.changed, live) and not offline(rig, live):
            seen = time.monotonic()
            # The live view can hold what a restarted broker has since lost:
            # only what a fresh subscriber reads counts.
            snapshot = retained_snapshot(rig.port)
            if snapshot is not None and not mismatches(rig, result.changed, snapshot) and not offline(rig, snapshot):
                conv.seconds = seen - origin
                conv.after_soak = seen - result.ended
                break
        time.sleep(0.25)
    if conv.seconds != conv.seconds:  # not converged: what does the broker hold at the deadline?
        snapshot = retained_snapshot(rig.port) or {}
        conv.note = "not converged within the deadline" if rig.daemon.died_in is None else rig.daemon.death()
    snapshot = snapshot or {}
    conv.lost = mismatches(rig, result.changed, snapshot)
    conv.lwt_online = len(rig.appliances) - len(offline(rig, snapshot))
    return conv


# --- phase 3: hostile commands -----------------------------------------------------------------


@dataclass
class Cmd:
    suffix: str  # set, activeProgram, selectedProgram
    payload: bytes
    retain: bool = False
    transaction: str | None = None  # put in the payload; echoed if hcpy can read it


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def with_txn(obj: dict, txn: str) -> dict:
    return {**obj, "transaction": txn}


def valid_set(a: Appliance) -> dict:
    feature = a.writable
    if feature is None:
        return {"name": names.POWER_STATE, "value": "On"}
    return {"name": feature.name, "value": wire_text(feature, a.sim.app.value(feature.uid))}


def program_name(a: Appliance) -> str:
    return a.program.name if a.program else "Chaos.No.Program"


def k_invalid_json(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    # No empty payload: on MQTT that is how a retained message is cleared, and hcpy may rightly stay silent.
    payload = rng.choice(
        [b'{"name": "BSH.Common.Setting.PowerState", "value": ', b"{name: PowerState, value: On}", b"not json at all",
         b'{"a": 1}{"b": 2}', b"\xff\xfe\xfd not UTF-8", b'{"name": "PowerState", "value": "On",}', b"'single'"]
    )  # fmt: skip
    return Cmd(rng.choice(["set", "activeProgram", "selectedProgram"]), payload)


def k_surrogate(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    # Raw text: json.dumps would escape the backslash.
    if rng.random() < 0.5:
        text = '{"name": "BSH.Common.Setting.PowerState", "value": "\\ud83d", "transaction": "%s"}' % txn
        return Cmd("set", text.encode(), transaction=txn)
    text = '{"program": "\\udc00%s", "transaction": "%s"}' % (program_name(a), txn)
    return Cmd(rng.choice(["activeProgram", "selectedProgram"]), text.encode(), transaction=txn)


def k_deep(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    nest = "[" * 5000 + "]" * 5000
    if rng.random() < 0.5:
        return Cmd("set", nest.encode())
    text = '{"transaction": "%s", "name": "BSH.Common.Setting.PowerState", "value": %s}' % (txn, nest)
    return Cmd(rng.choice(["set", "activeProgram"]), text.encode(), transaction=txn)


def k_huge_name(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    return Cmd("set", dumps({"name": "A" * 1_000_000, "value": 1, "transaction": txn}), transaction=txn)


def k_bom(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    return Cmd("set", b"\xef\xbb\xbf" + dumps(with_txn(valid_set(a), txn)), transaction=txn)


def k_utf16(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    text = json.dumps(with_txn(valid_set(a), txn))
    return Cmd("set", text.encode(rng.choice(["utf-16", "utf-16-le", "utf-16-be"])), transaction=txn)


def k_object_for_string(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    value = rng.choice([{"hour": 12, "minute": 0}, {"value": "x"}, ["a", "b"]])
    return Cmd("set", dumps({"name": a.loose.name, "value": value, "transaction": txn}), transaction=txn)


def k_ack_1e30(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    value = rng.choice([1e30, -1e30, 1.5e308])
    return Cmd(
        "set",
        dumps({"name": "BSH.Common.Command.AcknowledgeEvent", "value": value, "transaction": txn}),
        transaction=txn,
    )


def k_negative_delay(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    option = {"name": names.START_IN_RELATIVE, "value": -86400}
    choice = rng.randrange(4)
    if choice == 0:
        return Cmd("set", dumps(with_txn(option, txn)), transaction=txn)
    if choice == 1:
        return Cmd(
            "activeProgram",
            dumps({"program": program_name(a), "options": [option], "transaction": txn}),
            transaction=txn,
        )
    if choice == 2:
        return Cmd(
            "selectedProgram",
            dumps({"program": program_name(a), "options": [option], "transaction": txn}),
            transaction=txn,
        )
    return Cmd("activeProgram", dumps({"program": "selected", "delay": -86400, "transaction": txn}), transaction=txn)


def k_empty_active(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    return Cmd("activeProgram", dumps({"transaction": txn}), transaction=txn)


def k_unknown(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    choice = rng.randrange(4)
    if choice == 0:
        return Cmd(
            "set",
            dumps({"name": f"Chaos.No.Such.Feature{rng.randrange(10**6)}", "value": 1, "transaction": txn}),
            transaction=txn,
        )
    if choice == 1:
        return Cmd(
            "set", dumps({"uid": 900_000 + rng.randrange(10**5), "value": 1, "transaction": txn}), transaction=txn
        )
    suffix = rng.choice(["activeProgram", "selectedProgram"])
    return Cmd(
        suffix, dumps({"program": f"Chaos.No.Such.Program{rng.randrange(10**6)}", "transaction": txn}), transaction=txn
    )


def k_out_of_range(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    choice = rng.randrange(5)
    if choice == 0:
        body = {"name": names.POWER_STATE, "value": "Sideways"}
    elif choice == 1:
        body = {"name": names.POWER_STATE, "value": 12345}
    elif choice == 2:
        body = {"name": names.START_IN_RELATIVE, "value": 10**9}
    elif choice == 3 and a.text is not None:
        body = {"name": a.text.name, "value": "x" * 500}
    else:
        option = {"name": names.START_IN_RELATIVE, "value": 10**9}
        return Cmd(
            "selectedProgram",
            dumps({"program": program_name(a), "options": [option], "transaction": txn}),
            transaction=txn,
        )
    return Cmd("set", dumps(with_txn(body, txn)), transaction=txn)


def k_wrong_type(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    choice = rng.randrange(8)
    if choice == 0:
        return Cmd(
            "set", dumps(rng.choice(["hello", 42, None, True, 1.5]))
        )  # not an object: nowhere to put a transaction
    bodies = [
        ("set", {"name": names.POWER_STATE, "value": [1, 2]}),
        ("set", {"name": names.POWER_STATE, "value": True}),
        ("set", {"name": 12.5, "value": 1}),
        ("set", {"name": None, "value": "On"}),
        ("selectedProgram", {"program": 123}),
        ("activeProgram", {"program": ["a"]}),
        ("selectedProgram", {"program": program_name(a), "options": "none"}),
    ]
    suffix, body = bodies[choice - 1]
    return Cmd(suffix, dumps(with_txn(body, txn)), transaction=txn)


def k_big_list(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    choice = rng.randrange(3)
    if choice == 0:
        item = valid_set(a)
        return Cmd("set", dumps([with_txn(item, txn)] + [item] * 9_999), transaction=txn)
    if choice == 1:
        return Cmd(
            "set", dumps({"name": names.POWER_STATE, "value": [0] * 10_000, "transaction": txn}), transaction=txn
        )
    options = [{"uid": 1, "value": 0}] * 10_000
    return Cmd(
        "selectedProgram", dumps({"program": program_name(a), "options": options, "transaction": txn}), transaction=txn
    )


def k_nan(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    literal = rng.choice(["NaN", "Infinity", "-Infinity"])
    name = rng.choice([names.START_IN_RELATIVE, "BSH.Common.Command.AcknowledgeEvent", names.POWER_STATE])
    text = '{"name": "%s", "value": %s, "transaction": "%s"}' % (name, literal, txn)
    return Cmd("set", text.encode(), transaction=txn)


def k_retained_valid(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    if a.program is not None and rng.random() < 0.5:
        return Cmd(
            "selectedProgram", dumps({"program": a.program.name, "transaction": txn}), retain=True, transaction=txn
        )
    return Cmd("set", dumps(with_txn(valid_set(a), txn)), retain=True, transaction=txn)


# name -> builder; the heavy ones come a fixed number of times, the rest share what is left evenly.
COMMAND_KINDS: dict[str, Callable[[Appliance, str, random.Random], Cmd]] = {
    "invalid JSON / UTF-8": k_invalid_json,
    "lone surrogate": k_surrogate,
    "nesting 5,000 deep": k_deep,
    "1 MB name": k_huge_name,
    "UTF-8 BOM": k_bom,
    "UTF-16": k_utf16,
    "object for a string": k_object_for_string,
    "AcknowledgeEvent 1e30": k_ack_1e30,
    "StartInRelative -86400": k_negative_delay,
    "{} on activeProgram": k_empty_active,
    "unknown name/uid/program": k_unknown,
    "out of range": k_out_of_range,
    "wrong type": k_wrong_type,
    "list of 10,000": k_big_list,
    "NaN / Infinity": k_nan,
    "valid but retained": k_retained_valid,
}
HEAVY = ("1 MB name", "list of 10,000")


def command_schedule(total: int, rng: random.Random) -> list[str]:
    heavy = min(max(1, total // 500), max(1, total // 8))  # 10 each of 5,000
    kinds = [k for k in HEAVY for _ in range(heavy)]
    light = [k for k in COMMAND_KINDS if k not in HEAVY]
    kinds += [light[i % len(light)] for i in range(max(0, total - len(kinds)))]
    rng.shuffle(kinds)
    return kinds[:total]


def echo_key(text: str) -> str:
    """What an answer's echo of a command and the command itself have in common: the start of its text."""
    return text.lstrip("\ufeff").strip()[:24]


class Answers:
    """Answers on T/response, matched to commands by transaction where the answer carries one.

    An answer without one of our transactions (a payload hcpy could not or
    would not read) counts for the figure as one more answer of that
    appliance; for the table by kind it is attributed, where it can be, by
    the start of the request it echoes.
    """

    def __init__(self, appliances: int):
        self._lock = threading.Lock()
        self.kind_of: dict[str, str] = {}  # transaction -> kind
        self.app_of: dict[str, int] = {}
        self.matched: dict[str, dict] = {}  # transaction -> the answer
        # Per appliance: echo key -> [(kind, transaction)] of commands not yet answered.
        self.pending: list[dict[str, list[tuple[str, str | None]]]] = [{} for _ in range(appliances)]
        self.key_of: dict[str, str] = {}  # transaction -> echo key
        self.by_echo: Counter = Counter()  # kind -> answers attributed by their echo
        self.unmatched = [0] * appliances  # answers without one of our transactions, per appliance
        self.sent = [0] * appliances
        self.total = 0
        self.code_500 = 0
        self.longest = 0
        self.longest_excerpt = ""
        self.unreadable = 0  # answers that are no JSON object

    def expect(self, index: int, kind: str, txn: str | None, payload: bytes) -> None:
        key = echo_key(payload[:200].decode("utf-8", "replace"))
        with self._lock:
            self.sent[index] += 1
            self.pending[index].setdefault(key, []).append((kind, txn))
            if txn is not None:
                self.kind_of[txn] = kind
                self.app_of[txn] = index
                self.key_of[txn] = key

    def add(self, index: int, payload: bytes) -> None:
        try:
            answer = json.loads(payload)
        except (ValueError, UnicodeDecodeError, RecursionError):
            answer = None
        with self._lock:
            self.total += 1
            if len(payload) > self.longest:
                self.longest = len(payload)
                self.longest_excerpt = payload[:120].decode("utf-8", "replace")
            if not isinstance(answer, dict):
                self.unreadable += 1
                self.unmatched[index] += 1
                return
            if answer.get("code") == 500:
                self.code_500 += 1
            txn = answer.get("transaction")
            if isinstance(txn, str) and self.app_of.get(txn) == index and txn not in self.matched:
                self.matched[txn] = answer
                waiting = self.pending[index].get(self.key_of[txn], [])
                if (self.kind_of[txn], txn) in waiting:
                    waiting.remove((self.kind_of[txn], txn))
                return
            self.unmatched[index] += 1
            request = answer.get("request")
            # A payload hcpy could not read comes back as its text, one it could as the JSON value.
            keys = (
                [echo_key(request), echo_key(json.dumps(request))]
                if isinstance(request, str)
                else [echo_key(json.dumps(request))]
            )
            for key in keys:
                waiting = self.pending[index].get(key)
                if waiting:
                    self.by_echo[waiting.pop(0)[0]] += 1
                    break

    def answered(self) -> int:
        """Commands answered: matched ones, plus as many others per appliance as it gave other answers."""
        with self._lock:
            total = 0
            for index, sent in enumerate(self.sent):
                mine = sum(1 for t in self.matched if self.app_of[t] == index)
                total += mine + min(self.unmatched[index], sent - mine)
            return total


@dataclass
class CommandBattery:
    sent: int = 0
    retained_sent: int = 0
    by_kind: Counter = field(default_factory=Counter)
    answered: int = 0
    answers: Answers | None = None
    reached: int = 0
    reached_by_resource: Counter = field(default_factory=Counter)
    log: LogStats = field(default_factory=LogStats)
    rss_before: float = float("nan")
    rss_after: float = float("nan")
    rss_peak: float = float("nan")
    seconds: float = float("nan")
    note: str = ""


def command_battery(rig: Rig) -> CommandBattery:
    plan, rng, apps = rig.plan, rig.rng, rig.appliances
    battery = CommandBattery()
    answers = battery.answers = Answers(len(apps))
    publisher = mqtt_client("commands")
    publisher.connect("127.0.0.1", rig.port)
    publisher.loop_start()
    retained_topics: set[str] = set()
    try:
        battery.rss_before = rig.rss.reset()
        log_start = rig.daemon.log_size()
        received_start = [len(a.sim.received) for a in apps]
        rig.watcher.answers = answers
        start = time.monotonic()
        step = 1.0 / plan.command_rate
        for n, kind in enumerate(command_schedule(plan.commands, rng)):
            if n % 100 == 0 and not rig.daemon.alive("the hostile commands"):
                battery.note = rig.daemon.death()
                break
            # Do not outrun the bridge by more than a few hundred commands: a
            # backlog would measure queueing in mosquitto, not hcpy.
            hold = time.monotonic() + 2.0
            while battery.sent - answers.total > 200 and time.monotonic() < hold:
                time.sleep(0.01)
            a = rng.choice(apps)
            txn = f"chaos-{n}"
            cmd = COMMAND_KINDS[kind](a, txn, rng)
            topic = f"{a.base}/{cmd.suffix}"
            answers.expect(a.index, kind, cmd.transaction, cmd.payload)
            publisher.publish(topic, cmd.payload, qos=1, retain=cmd.retain)
            battery.sent += 1
            battery.by_kind[kind] += 1
            if cmd.retain:
                battery.retained_sent += 1
                retained_topics.add(topic)
            pause = start + (n + 1) * step - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        # Until everything is answered, or nothing more came for a while.
        quiet_since, seen = time.monotonic(), -1
        give_up = time.monotonic() + 120.0
        while answers.answered() < battery.sent and time.monotonic() < give_up:
            if answers.total != seen:
                seen, quiet_since = answers.total, time.monotonic()
            elif time.monotonic() - quiet_since > plan.answer_quiet_s:
                break
            if not rig.daemon.alive("the hostile commands"):
                battery.note = rig.daemon.death()
                break
            time.sleep(0.05)
        battery.seconds = time.monotonic() - start
        battery.answered = answers.answered()
        for a, first in zip(apps, received_start, strict=True):
            for msg in a.sim.received[first:]:
                if msg.action.value == "POST" and msg.resource in COMMAND_RESOURCES:
                    battery.reached += 1
                    battery.reached_by_resource[msg.resource] += 1
        battery.log = LogStats.of(rig.daemon.log_since(log_start))
        battery.rss_after = rig.daemon.rss_mb()
        battery.rss_peak = rig.rss.peak
    finally:
        rig.watcher.answers = None
        # Clear the retained commands, so no restart replays them.
        for topic in sorted(retained_topics):
            publisher.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
        publisher.loop_stop()
        publisher.disconnect()
    return battery


# --- phase 4: hostile appliance messages ---------------------------------------------------------


@dataclass
class Hostile:
    name: str
    target: str
    started: float = float("nan")
    finished: float = float("nan")  # the marker behind it arrived, or the wait gave up
    digest_s: float = float("nan")  # until the marker behind it arrived on MQTT
    log: LogStats = field(default_factory=LogStats)
    reconnects: int = 0  # sessions the simulators accepted meanwhile
    deliberate: bool = False  # the bench cut the connection itself: its reconnects are no fault of the bridge's
    latency: float = float("nan")  # other appliances' largest delay meanwhile (big NOTIFYs only)
    baseline: float = float("nan")  # the same in the 2 s before it
    probes: int = 0
    probes_lost: int = 0
    note: str = ""

    def add_note(self, note: str) -> None:
        self.note = f"{self.note}; {note}" if self.note else note


@dataclass
class ApplianceBattery:
    messages: list[Hostile] = field(default_factory=list)
    log: LogStats = field(default_factory=LogStats)
    reconnects: int = 0
    rss_before: float = float("nan")
    rss_after: float = float("nan")
    rss_peak: float = float("nan")
    longest_published: tuple[int, str] = (0, "")
    empty_kept: tuple[int, int] = (0, 0)  # (kept, tried)
    big_back: bool | None = None  # back online after a reconnect while the appliance holds the 4 MB value
    alive: bool = True
    lwt_online: int = 0
    note: str = ""

    @property
    def latency(self) -> float:
        measured = [h.latency for h in self.messages if h.latency == h.latency]
        return max(measured) if measured else float("nan")


def notify_text(data: str) -> str:
    """A NOTIFY of /ro/values around `data`, JSON text written beforehand.

    Written here rather than by the simulator: serializing a large message
    in the simulator's thread would hold this process's GIL while the probe
    is timing the other appliances (and json.dumps cannot nest 100,000 deep).
    """
    return '{"sID":1,"msgID":4242,"resource":"%s","version":1,"action":"NOTIFY","data":%s}' % (RO_VALUES, data)


def compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


class Markers:
    """Unique values of an appliance's probe feature, sent after a hostile message.

    The simulator sends a connection's messages in order and the bridge
    reads them in order: once the marker is on MQTT, the bridge is through
    with what came before it.
    """

    def __init__(self) -> None:
        self.last = MARKER_BASE

    def send(self, rig: Rig, a: Appliance, timeout: float) -> bool:
        self.last += 1
        value = self.last
        a.sim.set_value(a.probe.uid, value)
        return rig.watcher.wait_for(a.state_topic(a.probe), lambda p: p == str(value).encode(), timeout)


class Probe:
    """Changes the probe value of some appliances 200 times a second and times each arrival.

    Its own MQTT client, subscribed to these topics only, so what it
    measures does not queue behind a burst on other topics.
    """

    def __init__(self, rig: Rig, appliances: list[Appliance]):
        self.apps = [a for a in appliances if a.probe is not None]
        self.topics = {a.state_topic(a.probe): a.index for a in self.apps}
        self.sent: dict[tuple[int, int], float] = {}
        self.arrived: dict[tuple[int, int], float] = {}
        self.seq = 0
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self.client = mqtt_client(f"probe-{time.monotonic_ns()}")
        self.client.on_connect = lambda c, *a: c.subscribe([(t, 1) for t in self.topics])
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", rig.port)
        self.client.loop_start()
        self._subscribed.wait(5)
        self.thread = threading.Thread(target=self._run, name="chaos-probe", daemon=True)
        self.thread.start()

    def _on_message(self, client, userdata, message) -> None:
        now = time.monotonic()
        index = self.topics.get(message.topic)
        try:
            value = int(message.payload)
        except ValueError:
            return
        if index is not None:
            self.arrived.setdefault((index, value), now)

    def _run(self) -> None:
        while not self._stop.wait(PROBE_PERIOD) and self.apps:
            a = self.apps[self.seq % len(self.apps)]
            value = PROBE_BASE + self.seq
            self.sent[(a.index, value)] = time.monotonic()
            a.sim.set_value(a.probe.uid, value)
            self.seq += 1

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(2)
        time.sleep(0.5)  # the last ones on their way
        self.client.loop_stop()
        self.client.disconnect()

    def worst(self, since: float, until: float, end: float) -> tuple[float, int, int]:
        """Largest delay of the probes sent in [since, until]; one still missing counts until `end`."""
        worst, count, lost = float("nan"), 0, 0
        for key, sent in list(self.sent.items()):
            if since <= sent <= until:
                count += 1
                got = self.arrived.get(key)
                if got is None:
                    lost += 1
                    got = end
                delay = got - sent
                if not delay <= worst:
                    worst = delay
        return worst, count, lost


def appliance_battery(rig: Rig) -> ApplianceBattery:
    plan, rng, apps = rig.plan, rig.rng, rig.appliances
    battery = ApplianceBattery()
    markers = Markers()
    timeout = plan.marker_timeout
    battery.rss_before = rig.rss.reset()
    battery_log = rig.daemon.log_size()
    rig.watcher.reset_longest()
    with_probe = [a for a in apps if a.probe is not None]
    target = next((a for a in with_probe if a.stem == DISHWASHER), with_probe[0] if with_probe else None)
    aes = next((a for a in with_probe if a.transport == "aes"), target)
    texts = [a for a in with_probe if a.text is not None]
    big = next((a for a in texts if a.stem == COFFEE), texts[0] if texts else None)

    def run(name: str, a: Appliance | None, send: Callable[[Appliance], None]) -> Hostile:
        """Send one hostile message to `a`, then a marker; measure until the marker is through."""
        h = Hostile(name, a.name if a else "-")
        battery.messages.append(h)
        if a is None:
            h.note = "no appliance for it"
            return h
        if not rig.daemon.alive("the hostile appliance messages"):
            h.note = "daemon dead"
            return h
        if wait_online(rig, timeout, "the hostile appliance messages") or not a.sim.wait_connected(timeout):
            h.note = "not everything online before it"
        log_start, accepted = rig.daemon.log_size(), sum(x.sim.accepted for x in apps)
        h.started = time.monotonic()
        send(a)
        if markers.send(rig, a, timeout):
            h.finished = time.monotonic()
            h.digest_s = h.finished - h.started
        else:
            h.finished = time.monotonic()
            h.add_note(f"marker not seen within {timeout:.0f} s")
        time.sleep(0.2)  # the log lines that follow the marker
        h.log = LogStats.of(rig.daemon.log_since(log_start))
        h.reconnects = sum(x.sim.accepted for x in apps) - accepted
        return h

    # Unknown uids: 16-bit on the wire, so counted down from the top: none is merely malformed.
    if target is not None:
        unknown = (uid for uid in range(65535, 0, -1) if uid not in target.profile.features)
        text = notify_text(compact([{"uid": uid, "value": i} for i, uid in zip(range(plan.unknown_uids), unknown, strict=False)]))
        run(f"NOTIFY with {plan.unknown_uids:,} unknown uids", target, lambda a: a.sim.send_raw(text))

    def garbage(a: Appliance) -> None:
        for _ in range(plan.garbage_frames):
            a.sim.send_garbage()  # AES: encrypted and authenticated, but no JSON

    run(f"{plan.garbage_frames:,} garbage frames", aes, garbage)

    if target is not None:
        nest = "[" * plan.nesting + "]" * plan.nesting
        text = notify_text('[{"uid":%d,"value":%s}]' % (target.probe.uid, nest))
        run(f"NOTIFY nested {plan.nesting:,} deep", target, lambda a: a.sim.send_raw(text))

    h = run(
        f"{plan.big_string / 1e6:g} MB string value", big, lambda a: a.sim.set_value(a.text.uid, "x" * plan.big_string)
    )
    if big is not None:
        payload = rig.watcher.get(big.state_topic(big.text)) or b""
        h.add_note(
            f"published as is ({len(payload):,} B)"
            if len(payload) >= plan.big_string
            else f"not published as is (its topic holds {len(payload):,} B)"
        )
        # The appliance keeps that value, so the next handshake carries it
        # (/ro/allMandatoryValues): cut the connection and see the appliance come back.
        h = run(f"reconnect holding the {plan.big_string / 1e6:g} MB value", big, lambda a: a.sim.drop_connections())
        h.deliberate = True
        battery.big_back = h.digest_s == h.digest_s
        h.add_note("back online" if battery.big_back else "not back online")
        big.sim.set_value(big.text.uid, "")  # so that the next attempt can succeed

    # The empty string on every appliance with a string feature; first a
    # plain value, so the topic surely exists and the empty one must replace it.
    before = "chaos"
    for t in texts:
        t.sim.set_value(t.text.uid, before)
        markers.send(rig, t, timeout)

    def empty(a: Appliance) -> None:
        for t in texts:
            t.sim.set_value(t.text.uid, "")
        for t in texts:
            if t is not a:
                markers.send(rig, t, timeout)

    h = run("empty string value", texts[0] if texts else None, empty)
    if texts:
        snapshot = retained_snapshot(rig.port) or {}
        held = [snapshot.get(t.state_topic(t.text)) for t in texts]
        kept = [p for p in held if p is not None and p != before.encode()]
        battery.empty_kept = (len(kept), len(texts))
        shown = sorted({repr(p.decode("utf-8", "replace")) if p is not None else "(deleted)" for p in held})
        h.add_note(f"retained topic kept on {len(kept)}/{len(texts)}, holding {', '.join(shown)}")

    # Big NOTIFYs, while the other appliances' changes are timed.
    others = [a for a in with_probe if a is not target]
    for count in plan.big_notifies:
        if target is None or not others:
            run(f"NOTIFY with {count:,} values", None, lambda a: None)
            continue
        pool = target.changeable or [target.probe]
        values = [{"uid": f.uid, "value": new_value(f, None, rng)} for f in (pool[i % len(pool)] for i in range(count))]
        text = notify_text(compact(values))
        probe = Probe(rig, others)
        time.sleep(2.0)  # a baseline before the burst
        h = run(f"NOTIFY with {count:,} values ({len(text) / 1e6:.1f} MB)", target, lambda a, text=text: a.sim.send_raw(text))
        time.sleep(1.0)
        probe.stop()
        end = time.monotonic()
        if h.started == h.started:
            h.baseline, _, _ = probe.worst(h.started - 2.0, h.started, end)
            h.latency, h.probes, h.probes_lost = probe.worst(h.started, h.finished, end)

    # Memory after a pause: what the process gives back.
    time.sleep(plan.settle_s)
    battery.alive = rig.daemon.alive("the hostile appliance messages")
    missing = wait_online(rig, 30.0, "the hostile appliance messages") if battery.alive else [a.name for a in apps]
    battery.lwt_online = len(apps) - len(missing)
    battery.rss_after = rig.daemon.rss_mb()
    battery.rss_peak = rig.rss.peak
    battery.log = LogStats.of(rig.daemon.log_since(battery_log))
    # Sessions opened because a message cost a connection; not those the bench cut on purpose.
    battery.reconnects = sum(h.reconnects for h in battery.messages if not h.deliberate)
    battery.longest_published = rig.watcher.longest
    if not battery.alive:
        battery.note = rig.daemon.death()
    return battery


# --- the report ---------------------------------------------------------------------------------


def fmt(value: float, spec: str = ".1f") -> str:
    return "n/a" if value is None or value != value else format(value, spec)


def mb(n: float) -> str:
    return "n/a" if n != n else f"{n / 1e6:.2f} MB"


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []
        self.misses = 0

    def add(self, figure: str, value: str, target: str = "", ok: bool | None = None) -> None:
        verdict = "" if ok is None else ("PASS" if ok else "MISS")
        self.misses += verdict == "MISS"
        self.rows.append((figure, value, target, verdict))

    def print(self) -> None:
        width = [max(len(r[i]) for r in self.rows) for i in range(3)]
        print(f"{'figure':<{width[0]}}  {'measured':>{width[1]}}  {'target':<{width[2]}}  verdict")
        for figure, value, target, verdict in self.rows:
            print(f"{figure:<{width[0]}}  {value:>{width[1]}}  {target:<{width[2]}}  {verdict}")


def within(value: float, limit: float) -> bool | None:
    return None if value != value else value <= limit


def report(
    rig: Rig,
    result: Soak,
    conv: Convergence | None,
    cmds: CommandBattery | None,
    hostile: ApplianceBattery | None,
    keys_log: int,
) -> None:
    apps, plan = rig.appliances, rig.plan
    print()
    transports = Counter(a.transport for a in apps)
    print(f"Soak: {plan.soak_s:.0f} s, {len(apps)} appliances ({transports['tls']} TLS, {transports['aes']} AES),"
          f" {result.changes:,} value changes on {len(result.changed)} features"
          + (f" ({result.skipped_changes} slots skipped: the bench fell behind)" if result.skipped_changes else ""))  # fmt: skip
    faults = ", ".join(f"{k} {n}" for k, n in sorted(result.faults.items()))
    print(
        f"Faults: {sum(result.faults.values())} ({faults}); the bench's subscriber reconnected {result.watcher_reconnects} time(s)"
    )
    if result.last_fault:
        print(f"Last fault: {result.last_fault[1]}, {result.last_fault[0] - result.started:.1f} s into the soak"
              f" ({result.ended - result.last_fault[0]:.1f} s before the last change)")  # fmt: skip
    s = result.log
    print(f"Daemon log during the soak: {mb(s.bytes)}, {s.lines:,} lines, {s.warnings:,} warnings, {s.errors:,} errors,"
          f" {s.tracebacks} tracebacks, {s.reconnects} appliance connects")  # fmt: skip
    if rig.daemon.died_in:
        print(rig.daemon.death())
    for phase, note in (
        ("convergence", conv and conv.note),
        ("commands", cmds and cmds.note),
        ("appliance messages", hostile and hostile.note),
    ):
        if note:
            print(f"Note ({phase}): {note}")
    if conv and conv.lost:
        print(f"Lost values ({len(conv.lost)}), e.g.:")
        for line in conv.lost[:5]:
            print(f"  {line}")
    if cmds:
        a = cmds.answers
        print()
        print(f"Hostile commands: {cmds.sent:,} in {fmt(cmds.seconds)} s ({cmds.retained_sent} valid ones retained),"
              f" {a.total:,} answers ({len(a.matched):,} matched by transaction, {a.unreadable} not a JSON object)")  # fmt: skip
        print(f"  {'kind':<26} {'sent':>6} {'matched':>7} {'by echo':>7} {'ok':>5} {'500':>5}  other codes")
        for kind in COMMAND_KINDS:
            if not cmds.by_kind[kind]:
                continue
            mine = [ans for t, ans in a.matched.items() if a.kind_of[t] == kind]
            codes = Counter(ans.get("code") for ans in mine if ans.get("status") != "ok" and ans.get("code") != 500)
            ok = sum(1 for ans in mine if ans.get("status") == "ok")
            e500 = sum(1 for ans in mine if ans.get("code") == 500)
            others = " ".join(f"{c}x{n}" for c, n in sorted(codes.items(), key=lambda x: str(x[0])))
            print(
                f"  {kind:<26} {cmds.by_kind[kind]:>6} {len(mine):>7} {a.by_echo[kind]:>7} {ok:>5} {e500:>5}  {others}"
            )
        print(
            "  matched: the answer echoed our transaction (ok, 500 and the codes are of these);\n"
            "  by echo: an answer without it, attributed by the start of the request it echoes;\n"
            "  ok: hcpy sent it and the appliance took it."
        )
        if cmds.reached:
            print(f"  reached the appliances: {dict(cmds.reached_by_resource)}")
        print(f"  longest answer starts: {a.longest_excerpt[:100]!r}")
    if hostile:
        print()
        print("Hostile appliance messages")
        width = max(len(h.name) for h in hostile.messages)
        print(f"  {'message':<{width}} {'to':<12} {'digest s':>8} {'log lines':>9} {'log bytes':>10} {'tracebacks':>10}"
              f" {'reconnects':>10}  note")  # fmt: skip
        for h in hostile.messages:
            print(f"  {h.name:<{width}} {h.target:<12} {fmt(h.digest_s, '.2f'):>8} {h.log.lines:>9,} {h.log.bytes:>10,}"
                  f" {h.log.tracebacks:>10} {h.reconnects:>10}  {h.note}")  # fmt: skip
        print("  digest s: from sending it until a value sent after it was on MQTT.")
        for h in hostile.messages:
            if h.probes:
                print(f"  {h.name}: the other appliances' values took up to {fmt(h.latency, '.3f')} s"
                      f" ({h.probes} probes, {h.probes_lost} never arrived); up to {fmt(h.baseline, '.3f')} s in the 2 s before it")  # fmt: skip

    print()
    print("Figures (targets from issue 9)")
    t = Table()
    dead = rig.daemon.died_in
    if conv:
        t.add(
            "lost values (wrong 120 s after the last fault)",
            f"{len(conv.lost)} of {conv.checked}",
            "0",
            len(conv.lost) == TARGET_LOST,
        )
        t.add(
            "convergence after the last fault",
            f"{fmt(conv.seconds)} s",
            f"<= {TARGET_CONVERGENCE_S:g} s",
            within(conv.seconds, TARGET_CONVERGENCE_S) or False,
        )
        t.add("  (after the last value change)", f"{fmt(conv.after_soak)} s")
        t.add("T/LWT online at convergence", f"{conv.lwt_online}/{len(apps)}", "all", conv.lwt_online == len(apps))
    if cmds:
        share = cmds.answered / cmds.sent if cmds.sent else float("nan")
        t.add(
            "hostile commands answered",
            f"{fmt(100 * share)}% ({cmds.answered:,}/{cmds.sent:,})",
            "100%",
            share >= TARGET_ANSWERED,
        )
        t.add("hostile commands reaching an appliance", f"{cmds.reached:,}", "0", cmds.reached == 0)
        t.add("answers with code 500", f"{cmds.answers.code_500:,}", "0", cmds.answers.code_500 == 0)
        t.add("tracebacks in the log (commands)", f"{cmds.log.tracebacks:,}", "0", cmds.log.tracebacks == 0)
        t.add(
            f"log written for {cmds.sent:,} commands",
            mb(cmds.log.bytes),
            f"<= {TARGET_LOG_MB:g} MB",
            cmds.log.bytes <= TARGET_LOG_MB * 1e6,
        )
        t.add(
            "longest answer on T/response",
            f"{cmds.answers.longest:,} B",
            f"<= {TARGET_LINE_BYTES} B",
            cmds.answers.longest <= TARGET_LINE_BYTES,
        )
        t.add(
            "longest log line (commands)",
            f"{cmds.log.longest_line:,} B",
            f"<= {TARGET_LINE_BYTES} B",
            cmds.log.longest_line <= TARGET_LINE_BYTES,
        )
        t.add(
            "RSS before / after the commands",
            f"{fmt(cmds.rss_before)} / {fmt(cmds.rss_after)} MB (peak {fmt(cmds.rss_peak)})",
        )
    if hostile:
        t.add(
            "tracebacks in the log (appliance messages)",
            f"{hostile.log.tracebacks:,}",
            "0",
            hostile.log.tracebacks == 0,
        )
        t.add("reconnects caused by appliance messages", f"{hostile.reconnects}", "0", hostile.reconnects == 0)
        t.add("log written for the appliance messages", f"{mb(hostile.log.bytes)} ({hostile.log.lines:,} lines)")
        t.add(
            "longest log line (appliance messages)",
            f"{hostile.log.longest_line:,} B",
            f"<= {TARGET_LINE_BYTES} B",
            hostile.log.longest_line <= TARGET_LINE_BYTES,
        )
        size, _topic = hostile.longest_published
        t.add(
            "longest value payload the bridge published",
            f"{size:,} B",
            f"<= {TARGET_LINE_BYTES} B (item 8)",
            size <= TARGET_LINE_BYTES,
        )
        if hostile.big_back is not None:
            t.add(
                "back online, reconnecting with the 4 MB value held",
                "yes" if hostile.big_back else "no",
                "yes",
                hostile.big_back,
            )
        if hostile.empty_kept[1]:
            kept, tried = hostile.empty_kept
            t.add("empty string: retained topic kept", f"{kept}/{tried}", "all", kept == tried)
        t.add(
            "other appliances' max latency, big NOTIFYs",
            f"{fmt(hostile.latency, '.3f')} s",
            f"<= {TARGET_LATENCY_S:g} s",
            within(hostile.latency, TARGET_LATENCY_S) or False,
        )
        t.add(
            "daemon alive, T/LWT online after them",
            f"{'yes' if hostile.alive else 'NO'}, {hostile.lwt_online}/{len(apps)}",
            "yes, all",
            hostile.alive and hostile.lwt_online == len(apps),
        )
    if cmds and hostile:
        before, after = cmds.rss_before, hostile.rss_after
        delta = after - before
        t.add(
            "RSS before / after the batteries",
            f"{fmt(before)} / {fmt(after)} MB ({fmt(delta, '+.1f')})",
            f"<= +{TARGET_RSS_DELTA_MB:g} MB",
            within(delta, TARGET_RSS_DELTA_MB) or False,
        )
        t.add("RSS peak during the batteries", f"{fmt(max(cmds.rss_peak, hostile.rss_peak))} MB")
    keys = keys_log + rig.watcher.secret_hits
    t.add("keys/IVs found in log / MQTT", f"{keys_log} / {rig.watcher.secret_hits}", "0", keys == 0)
    t.add("MQTT received / daemon log, whole run", f"{mb(rig.watcher.bytes)} / {mb(rig.daemon.log_size())}")
    if dead:
        t.add("daemon survived the run", f"died during {dead}", "alive", False)
    t.print()
    print(f"{t.misses} target(s) missed.")


# --- main -----------------------------------------------------------------------------------


def keys_in_log(rig: Rig) -> int:
    text = rig.daemon.log_since(0)
    return sum(text.count(s) for a in rig.appliances for s in a.secrets)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appliances", type=int, default=10, help="simulated appliances (default 10)")
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the soak (default 5)")
    parser.add_argument(
        "--rate", type=float, default=20.0, help="value changes per second, all appliances together (default 20)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of changes, faults and commands (default 1)")
    parser.add_argument("--commands", type=int, default=None, help="hostile commands (default 5000; 500 with --quick)")
    parser.add_argument(
        "--command-rate", type=float, default=250.0, help="hostile commands published per second (default 250)"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run of every phase in about a minute")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (daemon log, devices.json)")
    parser.add_argument(
        "--rev", help="run hc2mqtt.py of this git revision (a temporary worktree); the rig stays this tree's"
    )
    args = parser.parse_args()
    if args.appliances < 2 or args.minutes <= 0 or args.rate <= 0 or args.command_rate <= 0 or (args.commands or 1) < 1:
        parser.error("--appliances needs at least 2; --minutes, --rate, --command-rate and --commands positive values")
    plan = Plan.from_args(args)
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"hc2mqtt chaos soak: Python {sys.version.split()[0]}, TLS back-end {BACKEND}, {os.cpu_count()} CPU(s),"
          f" seed {plan.seed}{', quick' if args.quick else ''}")  # fmt: skip
    with ExitStack() as stack:
        tree = checkout(args.rev, stack).root if args.rev else ROOT
        if args.rev:
            print(f"hc2mqtt.py of {args.rev} ({tree})")
        work = (
            Path(tempfile.mkdtemp(prefix="hcpy-chaos-"))
            if args.keep
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hcpy-chaos-")))
        )
        rig = None
        try:
            broker = Broker(work, "allow_anonymous true\nmax_queued_messages 0\n")
            broker.start()
            stack.callback(broker.stop)  # last: the daemon says offline on its way out
            appliances = build_appliances(plan.appliances, stack)
            stack.callback(stop_sims, appliances)  # before the single stops: in parallel, then theirs do nothing
            devices = work / "devices.json"
            write_devices(appliances, devices)
            watcher = Watcher(broker.port, appliances)
            stack.callback(watcher.close)
            daemon = Daemon(tree, devices, broker.port, work / "hc2mqtt.log", stack)
            rig = Rig(plan, random.Random(plan.seed), broker, appliances, daemon, watcher, RssSampler(daemon))
            stack.callback(rig.rss.stop)
            stack.callback(rig.cleanup_broker)  # first: a frozen broker can neither take the goodbye nor stop
            missing = wait_online(rig, 30.0 + plan.appliances, "start-up")
            if daemon.died_in:
                raise SetupError(daemon.death())
            if missing:
                raise SetupError(f"{len(missing)} appliance(s) never came online: {', '.join(missing)}")
            print(
                f"start-up: {len(appliances)} appliances online, daemon RSS {daemon.rss_mb():.1f} MB; soaking for {plan.soak_s:.0f} s ...",
                flush=True,
            )

            result = soak(rig)
            conv = cmds = hostile = None
            if not daemon.died_in:
                print(
                    f"soak done: {result.changes:,} changes, {sum(result.faults.values())} faults; waiting for convergence ...",
                    flush=True,
                )
                conv = converge(rig, result)
            if not daemon.died_in:
                print(
                    f"converged in {fmt(conv.seconds)} s after the last fault; {plan.commands:,} hostile commands ...",
                    flush=True,
                )
                cmds = command_battery(rig)
            if not daemon.died_in:
                print(f"commands done in {fmt(cmds.seconds)} s; hostile appliance messages ...", flush=True)
                hostile = appliance_battery(rig)
            report(rig, result, conv, cmds, hostile, keys_in_log(rig))
            if args.keep:
                print(f"work directory kept: {work}")
        except SetupError as exc:
            print(f"set-up failed: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted; cleaning up", file=sys.stderr)
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
