"""The rig: a private mosquitto, the simulated appliances, and hc2mqtt as a process of its own.

hc2mqtt is run as a user runs it, `python hc2mqtt.py <options>` from the
checkout under test, so the soak depends on nothing but its command line:
--debug (a traceback logged at any level is counted), Home Assistant
discovery and the web console on, its stdout and stderr in one file.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hcpy.appliance import names
from hcpy.appliance.devices import save_devices
from hcpy.appliance.entry import clean_name, entry_from_profile
from hcpy.appliance.model import Feature, Kind, Profile, Program, ValueKind
from hcpy.appliance.profile_xml import parse_profile
from hcpy.encoding import b64url
from hcpy.simulator import ScaledClock, SimulatedAppliance, Simulator
from hcpy.simulator.examples import EXAMPLES, FULL_SCALE

from .secrets import secret_forms
from .values import topic_key

PREFIX = "chaos/"
DISCOVERY_PREFIX = "homeassistant/"
DISHWASHER, WASHER, COFFEE = (
    "SIEMENS-SN658X06TE-000000000000",
    "SIEMENS-WM16XE91-000000000000",
    "SIEMENS-TI9555X1DE-000000000000",
)
PROFILE_STEMS = (DISHWASHER, WASHER, COFFEE)
SHORT = {DISHWASHER: "dishwasher", WASHER: "washer", COFFEE: "coffee"}
# The program each kind runs in the soak: a short one, at PROGRAM_SPEED appliance seconds a second.
PROGRAMS = {
    DISHWASHER: "Dishcare.Dishwasher.Program.Quick45",
    COFFEE: "ConsumerProducts.CoffeeMaker.Program.Beverage.Espresso",
}
PROGRAM_SPEED = 300.0  # Quick45 (30 min) in 6 s, an espresso (40 s) in a tick
# Features whose values steer the bridge's command checks and the simulator's
# programs: the soak leaves them alone, so that only the state path is under test.
STEERING = frozenset(
    {names.OPERATION_STATE, names.DOOR_STATE, names.POWER_STATE, names.REMOTE_START_ALLOWED, names.LOCAL_CONTROL_ACTIVE}
)
SOAK_KINDS = (ValueKind.INTEGER, ValueKind.NUMBER, ValueKind.ENUM, ValueKind.BOOLEAN)
STREAM_FEATURE = "BSH.Common.Status.WiFiSignalStrength"


class SetupError(Exception):
    """The rig itself failed (broker, simulators, daemon start-up): no figures to give."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """mosquitto on a free loopback port, queueing without limit (a message it dropped would be charged to hcpy)."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.config = directory / "mosquitto.conf"
        stay = "user root\n" if os.geteuid() == 0 else ""
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\npersistence false\n{stay}allow_anonymous true\nmax_queued_messages 0\n"
            f"log_dest file {directory / 'mosquitto.log'}\n"
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.stopped = False  # SIGSTOP without SIGCONT yet

    def start(self) -> None:
        binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
        if not binary:
            raise SetupError("mosquitto is not installed (apt-get install mosquitto)")
        for _ in range(3):
            self.process = subprocess.Popen(
                [binary, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    return
                except OSError:
                    time.sleep(0.05)
            self.process.kill()
            self.process.wait()
            time.sleep(0.5)  # the port may still be held by the one just killed
        raise SetupError(f"mosquitto did not start on port {self.port}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(5)

    def freeze(self, frozen: bool) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP if frozen else signal.SIGCONT)
        self.stopped = frozen

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            if self.stopped:
                self.freeze(False)
            self.process.terminate()
            self.process.wait(5)


@dataclass
class Appliance:
    index: int
    name: str
    stem: str
    profile: Profile
    sim: Simulator
    psk: bytes
    iv: bytes | None
    secrets: set[bytes]
    changeable: list[Feature]  # what the soak's random changes touch
    stream: Feature  # a plain integer: the update stream, counted one by one
    text: Feature | None  # a string feature: the 4 MB and empty values
    loose: Feature  # a string or untyped setting: an object is no value for it
    writable: Feature | None  # a writable enum or boolean setting: the valid retained command
    program: Program | None  # a program with StartInRelative where there is one (hostile commands)
    runs: Program | None = None  # the program it runs during the soak (None: it runs none)
    stream_value: int = 0
    sent: list[tuple[float, int]] = field(default_factory=list)  # (when, value) of the stream

    @property
    def transport(self) -> str:
        return self.sim.transport

    @property
    def base(self) -> str:
        return PREFIX + clean_name(self.name)

    def state_topic(self, feature: Feature) -> str:
        return f"{self.base}/state/{topic_key(feature.name)}"

    @property
    def lwt(self) -> str:
        return f"{self.base}/LWT"

    def connected(self) -> bool:
        return self.sim.connection_count > 0


def pick_features(profile: Profile) -> dict[str, Any]:
    features = sorted(profile.features.values(), key=lambda f: f.uid)
    stream = profile.by_name(STREAM_FEATURE)
    assert stream is not None, f"{profile.description.model} has no {STREAM_FEATURE}"
    changeable = [
        f
        for f in features
        if f.kind in (Kind.STATUS, Kind.SETTING)
        and f.limits.access.readable  # read again after every reconnect (allMandatoryValues)
        and not f.holds_uid
        and f.value_kind in SOAK_KINDS
        and f.name not in STEERING
        and f is not stream
        and (f.enum is None or f.enum.members)
    ]
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
    programs = list(profile.programs.values())
    program = next(
        (p for p in programs if start_in is not None and start_in.uid in p.options), programs[0] if programs else None
    )
    return dict(changeable=changeable, stream=stream, text=text, loose=loose, writable=writable, program=program)


def load_profiles() -> dict[str, Profile]:
    profiles = {}
    for stem in PROFILE_STEMS:
        description = (EXAMPLES / f"{stem}_DeviceDescription.xml").read_bytes()
        mapping = (EXAMPLES / f"{stem}_FeatureMapping.xml").read_bytes()
        profiles[stem] = parse_profile(description, mapping, stem)
    return profiles


def build_appliances(count: int, runners: int, stack: ExitStack) -> list[Appliance]:
    """`count` appliances, the three example profiles round-robin, TLS-PSK and AES alternating;
    the first `runners` that have a soak program run it."""
    profiles = load_profiles()
    appliances: list[Appliance] = []
    for i in range(count):
        stem = PROFILE_STEMS[i % len(PROFILE_STEMS)]
        profile = profiles[stem]
        psk = os.urandom(32)
        iv = os.urandom(16) if i % 2 else None
        runs = None
        if stem in PROGRAMS and sum(a.runs is not None for a in appliances) < runners:
            runs = next(p for p in profile.programs.values() if p.name == PROGRAMS[stem])
        # Remote start allowed: a program command is judged by hcpy's
        # screening, not refused because of the appliance's button.
        clock = ScaledClock(PROGRAM_SPEED) if runs is not None else None
        app = SimulatedAppliance(profile, remote_start=True, clock=clock)
        sim = Simulator(app, psk, iv, name=f"chaos{i}", keep_history=True).start()
        stack.callback(sim.stop)
        secrets = secret_forms(psk) | (secret_forms(iv) if iv else set())
        appliance = Appliance(
            i, f"{SHORT[stem]}{i:02d}", stem, profile, sim, psk, iv, secrets, **pick_features(profile)
        )
        appliance.runs = runs
        appliances.append(appliance)
    return appliances


def write_devices(appliances: list[Appliance], path: Path) -> None:
    entries = []
    for a in appliances:
        entry = entry_from_profile(
            a.profile,
            key=b64url(a.psk),
            iv=b64url(a.iv) if a.iv else None,
            host="127.0.0.1",
            port=a.sim.port,
            name=a.name,
        )
        # Full-scale values: run records then carry energy and water estimates to check.
        entries.append(entry.with_options(FULL_SCALE.get(a.profile.description.type.lower())))
    save_devices(path, entries, merge=False)


def stop_sims(appliances: list[Appliance]) -> None:
    # In parallel: each stop() may wait up to a second for goodbyes.
    threads = [threading.Thread(target=a.sim.stop, daemon=True) for a in appliances]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)


class Daemon:
    """`python hc2mqtt.py` of the tree under test, in a session of its own."""

    def __init__(self, tree: Path, devices: Path, broker_port: int, http_port: int, log_path: Path, stack: ExitStack):
        env = {k: v for k, v in os.environ.items() if not k.startswith("HCPY_")}
        env["PYTHONUNBUFFERED"] = "1"
        self.log_path = log_path
        self.http_port = http_port
        # The child writes through its own copy of the descriptor; ours is closed at once.
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "hc2mqtt.py", "--devices_file", str(devices), "--mqtt_host", "127.0.0.1",
                 "--mqtt_port", str(broker_port), "--mqtt_prefix", PREFIX,
                 "--mqtt_clientname", f"hcpy-chaos-{os.getpid()}",
                 "--debug", "--ha-discovery", "--http_port", str(http_port), "--http_host", "127.0.0.1"],
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
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


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
        while not self._stop.wait(0.2):
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
