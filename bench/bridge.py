"""hc2mqtt under load: N simulated appliances -> the real daemon -> mosquitto -> a subscriber.

For each N the real `hc2mqtt.py` runs as its own process against a private
mosquitto on loopback, so its CPU (utime+stime) and memory (VmRSS) can be
read from /proc alone. The simulators, the load generator and the
subscriber share this process; their cost is not counted as the daemon's.

Start-up: from spawning the daemon until every appliance's `T/LWT` said
online and every `T/state/*` topic it publishes at connect arrived (a
topic counts if it shows up before the traffic has been quiet for
--settle seconds). Load: each simulator changes one numeric value
--rate times a second; the value carries a sequence number, so each
arrival is matched to the moment just before `set_value` was called.

Same-run comparison: `--against REV` checks REV out into a temporary git
worktree and runs its hc2mqtt.py on the same simulators and the same
broker, alternating with this tree's (A B, then B A, ... for --repeats
rounds), and prints both rows and the ratios of their medians. Each run
publishes under its own prefix, so no retained topic of one run is seen
by the next. Both trees are byte-compiled first, as an installed hcpy
would be after its first start.

Run: python bench/bridge.py [--appliances 1,10,50] [--rate 100] [--seconds 10]
     python bench/bridge.py --appliances 1,10 --against 412ef1b --repeats 2 [--profile]
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import paho.mqtt.client as paho  # noqa: E402
from revisions import Tree, byte_compile, checkout  # noqa: E402
from support import DISHWASHER, Broker, profile_files  # noqa: E402

from hcpy.appliance.devices import save_devices  # noqa: E402
from hcpy.appliance.entry import entry_from_profile  # noqa: E402
from hcpy.appliance.model import Kind, Profile  # noqa: E402
from hcpy.appliance.profile_xml import parse_profile  # noqa: E402
from hcpy.mqtt.naming import topic_key  # noqa: E402
from hcpy.protocol.tlspsk import BACKEND  # noqa: E402
from hcpy.simulator import SimulatedAppliance, Simulator  # noqa: E402

DEFAULT_FEATURE = "BSH.Common.Status.WiFiSignalStrength"
NUMERIC_KINDS = (Kind.STATUS, Kind.SETTING, Kind.OPTION)
# Values far from anything the appliance starts with, so the first one is a change too.
VALUE_BASE = 1_000_000
# Each run's values start this far above the last run's: a fresh daemon must
# see its first value as a change, not as the value it read at connect.
RUN_STRIDE = 100_000
# A sender this far behind its schedule skips the missed slots instead of
# bursting them out: a burst would measure queueing in this process, not the bridge.
MAX_LAG = 0.05
CLOCK_TICK = os.sysconf("SC_CLK_TCK")

# The issue's targets.
TARGET_N = 10
TARGET_RATE = 100.0
TARGET_P50_MS = 2.0
TARGET_P99_MS = 10.0
TARGET_RSS_PER_APPLIANCE_MB = 1.5
TARGET_RSS_ONE_MB = 26.0
TARGET_STARTUP_S = 0.4
# CPU per message against --against REV: at most this share of REV's, by N.
TARGET_CPU_RATIO = {1: 0.40, 10: 0.50}


# --- the subscriber --------------------------------------------------------------------


class Collector:
    """A paho subscriber on P#: first arrival of every topic, and load arrivals by sequence."""

    def __init__(self, port: int, prefix: str, names: list[str], load_key: str, value_base: int):
        self.prefix = prefix
        self.value_base = value_base
        self.first: dict[str, float] = {}
        self.online: dict[str, float] = {}  # T/LWT -> first "online"
        self.last_new = 0.0  # when a topic was last seen for the first time
        self.load_topics = {f"{prefix}{name}/state/{load_key}": i for i, name in enumerate(names)}
        self.arrivals: list[dict[int, float]] = [{} for _ in names]
        self.received = 0
        self.loading = False
        self._subscribed = threading.Event()
        self.client = paho.Client(
            callback_api_version=paho.CallbackAPIVersion.VERSION2, client_id=f"bench-bridge-{os.getpid()}-{prefix}"
        )
        self.client.on_connect = lambda c, *a: c.subscribe(prefix + "#", qos=0)
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("the bench subscriber could not subscribe to the broker")

    def _on_message(self, client, userdata, message) -> None:
        now = time.perf_counter()
        topic = message.topic
        if self.loading:
            index = self.load_topics.get(topic)
            if index is not None:
                try:
                    seq = int(float(message.payload)) - self.value_base
                except ValueError:
                    return
                self.arrivals[index].setdefault(seq, now)
                self.received += 1
                return
        if topic not in self.first:
            self.first[topic] = now
            self.last_new = now
        if topic.endswith("/LWT") and message.payload == b"online":
            self.online.setdefault(topic, now)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- one run ------------------------------------------------------------------------------


@dataclass
class Result:
    tree: str
    n: int
    transports: str
    first_message: float = float("nan")  # s after spawn
    all_online: float = float("nan")
    all_state: float = float("nan")
    state_topics: tuple[int, int] = (0, 0)  # fewest, most per appliance
    rss_idle: float = float("nan")
    rss_loaded: float = float("nan")
    rss_peak: float = float("nan")
    planned: int = 0
    sent: int = 0
    received: int = 0
    send_window: float = float("nan")
    deliver_window: float = float("nan")
    daemon_cpu: float = float("nan")
    daemon_sys: float = float("nan")
    bench_cpu: float = float("nan")
    latencies: list[float] = field(default_factory=list)  # seconds
    complaints: list[str] = field(default_factory=list)  # the daemon's warnings and errors
    error: str | None = None

    @property
    def offered_rate(self) -> float:
        return self.sent / self.send_window if self.send_window > 0 else float("nan")

    @property
    def delivered_rate(self) -> float:
        return self.received / self.deliver_window if self.deliver_window > 0 else float("nan")

    @property
    def cpu_per_1k(self) -> float:
        return self.daemon_cpu / self.sent * 1000 if self.sent else float("nan")

    def percentile_ms(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def transport_of(index: int, mode: str) -> str:
    if mode == "mixed":
        return "tls" if index % 2 == 0 else "aes"
    return mode


# --- /proc ------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(CPU time, of which in the kernel) of one process.

    The total comes from each thread's schedstat, in nanoseconds: utime and
    stime count 10 ms clock ticks, and a run of 1,000 messages at a quarter
    of a millisecond each is only 25 of them. The daemon's threads live as
    long as it does, so none is missed. The kernel's share has only ticks.
    """
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that just ended
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name may hold spaces; the fields after its ')' do not.
    fields = text[text.rindex(")") + 2 :].split()
    return total / 1e9, int(fields[12]) / CLOCK_TICK


def memory_mb(pid: int, key: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no {key}")


# --- the rig: one broker and N simulators, shared by every run of one N -------------------


class Rig:
    def __init__(self, n: int, args: argparse.Namespace, profile: Profile, work: Path, stack: ExitStack):
        self.n = n
        self.names = [f"dw{i:02d}" for i in range(n)]
        kinds = sorted({transport_of(i, args.transport) for i in range(n)})
        counts = Counter(transport_of(i, args.transport) for i in range(n))
        self.transports = "+".join(f"{counts[k]}{k}" for k in kinds)
        self.work = work / f"n{n}"
        self.work.mkdir()
        self.broker = Broker(self.work)
        self.broker.start()
        stack.callback(self.broker.stop)
        self.sims: list[Simulator] = []
        entries = []
        for i, name in enumerate(self.names):
            psk = os.urandom(32)
            iv = os.urandom(16) if transport_of(i, args.transport) == "aes" else None
            sim = Simulator(SimulatedAppliance(profile), psk, iv, name=f"bench{i}", keep_history=False).start()
            self.sims.append(sim)
            entries.append(
                entry_from_profile(
                    profile, key=b64url(psk), iv=b64url(iv) if iv else None, host="127.0.0.1", port=sim.port, name=name
                )
            )
        stack.callback(stop_all, self.sims)
        self.devices = self.work / "devices.json"
        save_devices(self.devices, entries, merge=False)
        self.runs = 0


def stop_all(sims: list[Simulator]) -> None:
    # In parallel: each stop() may wait up to a second for goodbyes.
    threads = [threading.Thread(target=s.stop, daemon=True) for s in sims]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)


def spawn_daemon(tree: Tree, rig: Rig, prefix: str, log_path: Path, stack: ExitStack) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HCPY_")}
    env["PYTHONUNBUFFERED"] = "1"
    log = stack.enter_context(open(log_path, "wb"))  # noqa: SIM115 - the ExitStack closes it
    proc = subprocess.Popen(
        [
            sys.executable,
            "hc2mqtt.py",
            "--devices_file",
            str(rig.devices),
            "--mqtt_host",
            "127.0.0.1",
            "--mqtt_port",
            str(rig.broker.port),
            "--mqtt_prefix",
            prefix,
            "--mqtt_clientname",
            f"hcpy-bench-{os.getpid()}-{rig.runs}",
        ],
        cwd=tree.root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        # Its own session: a Ctrl-C here reaches us, and we end it with SIGTERM in order.
        start_new_session=True,
    )
    stack.callback(terminate, proc)
    return proc


def terminate(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def daemon_failed(proc: subprocess.Popen, log_path: Path) -> str | None:
    if proc.poll() is None:
        return None
    tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
    return f"hc2mqtt exited with {proc.returncode}: " + " | ".join(tail)


def wait_startup(
    collector: Collector, names: list[str], proc: subprocess.Popen, log_path: Path, settle: float, limit: float
) -> str | None:
    """Wait for every T/LWT online, then for no new topic during `settle` seconds."""
    wanted = [f"{collector.prefix}{name}/LWT" for name in names]
    deadline = time.perf_counter() + limit
    while not all(t in collector.online for t in wanted):
        if (failed := daemon_failed(proc, log_path)) is not None:
            return failed
        if time.perf_counter() > deadline:
            missing = [t for t in wanted if t not in collector.online]
            return f"{len(missing)} appliance(s) never came online within {limit:.0f} s (e.g. {missing[0]})"
        time.sleep(0.005)
    while time.perf_counter() - collector.last_new < settle and time.perf_counter() < deadline:
        time.sleep(0.05)
    return None


def offer_load(
    sims: list[Simulator], uid: int, rate: float, seconds: float, base: int
) -> tuple[list[list[float]], int, float]:
    """Change each simulator's value `rate` times a second, staggered evenly.

    Returns per appliance the send time of each sequence number, the number
    of slots planned, and the window from first to last send.
    """
    n = len(sims)
    step = 1.0 / (rate * n)
    planned = int(seconds * rate) * n
    sends: list[list[float]] = [[] for _ in sims]
    start = time.perf_counter() + 0.02
    slot = 0
    first = last = start
    while slot < planned:
        due = start + slot * step
        now = time.perf_counter()
        if due - now > 0.0005:
            time.sleep(due - now)
            continue
        if now - due > MAX_LAG:
            slot = int((now - start) / step)  # behind: drop the slots already missed
            continue
        index = slot % n
        seq = len(sends[index])
        now = time.perf_counter()
        sends[index].append(now)
        sims[index].set_value(uid, base + seq)
        if slot == 0:
            first = now
        last = now
        slot += 1
    return sends, planned, last - first


def py_spy_command(pid: int, seconds: float, out: Path) -> list[str]:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("--profile needs py-spy (pip install -r requirements-dev.txt)")
    # --gil: only samples that hold the GIL, i.e. Python work, not waiting.
    return [found, "record", "--pid", str(pid), "--rate", "1000", "--gil", "--format", "raw",
            "--duration", str(max(1, int(seconds))), "--output", str(out)]  # fmt: skip


def run_once(
    tree: Tree, rig: Rig, args: argparse.Namespace, uid: int, load_key: str, profile_to: Path | None = None
) -> Result:
    """One daemon of `tree` on the rig: start-up, then the load, then it is stopped."""
    run = rig.runs
    rig.runs += 1
    prefix = f"bench{run}/"
    base = VALUE_BASE + run * RUN_STRIDE
    result = Result(tree.label, rig.n, rig.transports)
    log_path = rig.work / f"hc2mqtt-{run}.log"
    with ExitStack() as stack:
        collector = Collector(rig.broker.port, prefix, rig.names, load_key, base)
        stack.callback(collector.close)
        spawn = time.perf_counter()
        proc = spawn_daemon(tree, rig, prefix, log_path, stack)
        problem = wait_startup(collector, rig.names, proc, log_path, args.settle, limit=30 + rig.n)
        if problem:
            result.error = problem
            return result
        # Copies: paho's thread may still add to them.
        first, online = dict(collector.first), dict(collector.online)
        result.first_message = min(first.values()) - spawn
        result.all_online = max(online.values()) - spawn
        per_appliance = []
        latest = spawn
        for name in rig.names:
            topics = [t for t in first if t.startswith(f"{prefix}{name}/state/")]
            per_appliance.append(len(topics))
            latest = max([latest] + [first[t] for t in topics])
        result.all_state = latest - spawn
        result.state_topics = (min(per_appliance), max(per_appliance))
        result.rss_idle = memory_mb(proc.pid)

        spy = None
        if profile_to is not None:
            spy = subprocess.Popen(py_spy_command(proc.pid, args.seconds, profile_to), stdout=subprocess.DEVNULL)
            time.sleep(0.5)  # attached before the load starts
        collector.loading = True
        (cpu0, sys0), bench0 = cpu_seconds(proc.pid), time.process_time()
        sends, result.planned, result.send_window = offer_load(rig.sims, uid, args.rate, args.seconds, base)
        result.sent = sum(len(s) for s in sends)
        # Drain: until everything arrived, nothing more came for a second, or a
        # saturated daemon's backlog would keep us waiting too long.
        seen, quiet_since = -1, time.perf_counter()
        give_up = quiet_since + max(10.0, 2 * args.seconds)
        while (
            collector.received < result.sent
            and time.perf_counter() - quiet_since < 1.0
            and time.perf_counter() < give_up
        ):
            if collector.received != seen:
                seen, quiet_since = collector.received, time.perf_counter()
            time.sleep(0.01)
        cpu1, sys1 = cpu_seconds(proc.pid)
        result.daemon_cpu, result.daemon_sys = cpu1 - cpu0, sys1 - sys0
        result.bench_cpu = time.process_time() - bench0
        result.rss_loaded = memory_mb(proc.pid)
        result.rss_peak = memory_mb(proc.pid, "VmHWM")
        collector.loading = False
        if spy is not None:
            spy.wait(args.seconds + 30)

        result.received = collector.received
        arrivals = [dict(a) for a in collector.arrivals]
        first_send = min((s[0] for s in sends if s), default=float("nan"))
        last_arrival = max((max(a.values()) for a in arrivals if a), default=float("nan"))
        result.deliver_window = last_arrival - first_send
        for index, times in enumerate(sends):
            arrived = arrivals[index]
            result.latencies += [arrived[seq] - t for seq, t in enumerate(times) if seq in arrived]
        if (failed := daemon_failed(proc, log_path)) is not None:
            result.error = failed
        result.complaints = complaints(log_path)
    return result


def complaints(log_path: Path) -> list[str]:
    """The daemon's warnings and errors so far: reconnects show up here."""
    text = log_path.read_text(errors="replace")
    return [line for line in text.splitlines() if " WARNING " in line or " ERROR " in line]


def self_time(raw_profile: Path, top: int = 10) -> list[tuple[float, str]]:
    """The `top` frames with the most samples of their own in a py-spy raw profile."""
    own: Counter[str] = Counter()
    total = 0
    for line in raw_profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        total += int(count)
        own[stack.split(";")[-1]] += int(count)
    return [(100 * n / total, frame) for frame, n in own.most_common(top)] if total else []


# --- trees ---------------------------------------------------------------------------------


def import_time(tree: Tree) -> float:
    """Median wall time of a bare `python -c "import hc2mqtt"` in the tree."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import hc2mqtt"], cwd=tree.root, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --- output -------------------------------------------------------------------------------


def fmt(value: float, spec: str) -> str:
    return "n/a" if value != value else format(value, spec)


def median(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


# Figures compared between trees: label, how to read it off a run.
FIGURES = (
    ("CPU s/1k", lambda r: r.cpu_per_1k),
    ("p50 ms", lambda r: r.percentile_ms(0.50)),
    ("p99 ms", lambda r: r.percentile_ms(0.99)),
    ("RSS idle MB", lambda r: r.rss_idle),
    ("all state s", lambda r: r.all_state),
)


def report(results: list[Result], trees: list[Tree], args: argparse.Namespace) -> None:
    ok = [r for r in results if r.error is None]
    for r in results:
        if r.error:
            print(f"{r.tree} N={r.n}: FAILED: {r.error}")

    print()
    print(f"Load: {args.rate:g} value changes/s per appliance for {args.seconds:g} s, feature {args.feature}")
    print(
        f"{'tree':>9} {'N':>3} {'transports':>11} {'offered/s':>9} {'deliv/s':>8} {'sent':>6} {'missing':>7}"
        f" {'skipped':>7} {'CPU s/1k':>8} {'sys %':>5} {'CPU %':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}"
        f" {'bench CPU %':>11}"
    )
    for r in ok:
        window = r.deliver_window
        print(
            f"{r.tree:>9} {r.n:3d} {r.transports:>11} {fmt(r.offered_rate, '.0f'):>9} {fmt(r.delivered_rate, '.0f'):>8}"
            f" {r.sent:6d} {r.sent - r.received:7d} {r.planned - r.sent:7d}"
            f" {fmt(r.cpu_per_1k, '.3f'):>8}"
            f" {fmt(100 * r.daemon_sys / r.daemon_cpu if r.daemon_cpu else float('nan'), '.0f'):>5}"
            f" {fmt(100 * r.daemon_cpu / window, '.0f'):>6}"
            f" {fmt(r.percentile_ms(0.50), '.2f'):>7} {fmt(r.percentile_ms(0.99), '.2f'):>7}"
            f" {fmt(max(r.latencies) * 1e3 if r.latencies else float('nan'), '.2f'):>7}"
            f" {fmt(100 * r.bench_cpu / window, '.0f'):>11}"
        )
    for r in ok:
        if r.complaints:
            print(f"  {r.tree} N={r.n}: hc2mqtt logged {len(r.complaints)} warning(s)/error(s) during the run, e.g.:")
            for line in r.complaints[:3]:
                print(f"    {line[:160]}")
    print(
        "  CPU s/1k and CPU %: the hc2mqtt process only (its threads' run time), per 1000 appliance messages and over the\n"
        "  delivery window; sys %: the kernel's share of it. Simulators, load generator and subscriber share\n"
        "  the bench process (bench CPU %).\n"
        "  missing: sent but not seen by the subscriber within max(10 s, 2 x --seconds) after the last send\n"
        "  (lost, or still queued somewhere on the way); skipped: slots the load generator fell too far behind to send."
    )

    print()
    print("Start-up (s after spawning hc2mqtt) and memory (hc2mqtt VmRSS, MB)")
    print(
        f"{'tree':>9} {'N':>3} {'1st MQTT msg':>12} {'all LWT online':>14} {'all state':>9} {'state topics/appl':>17}"
        f" {'RSS idle':>8} {'RSS loaded':>10} {'RSS peak':>8}"
    )
    for r in ok:
        lo, hi = r.state_topics
        topics = f"{lo}" if lo == hi else f"{lo}-{hi}"
        print(
            f"{r.tree:>9} {r.n:3d} {fmt(r.first_message, '.3f'):>12} {fmt(r.all_online, '.3f'):>14}"
            f" {fmt(r.all_state, '.3f'):>9} {topics:>17} {fmt(r.rss_idle, '.1f'):>8} {fmt(r.rss_loaded, '.1f'):>10}"
            f" {fmt(r.rss_peak, '.1f'):>8}"
        )
    print(
        "  1st MQTT msg: interpreter start-up, imports, devices.json and the broker connect.\n"
        "  all state: last first arrival of any T/state/* topic (topics seen before --settle s of quiet)."
    )

    if len(trees) == 2:
        mine, other = trees
        print()
        print(f"Same-run ratios {mine.label} / {other.label} (medians of {args.repeats} run(s) each; below 1 is better)")
        print(f"{'N':>3} " + " ".join(f"{label:>18}" for label, _ in FIGURES))
        for n in sorted({r.n for r in ok}):
            cells = []
            for _, read in FIGURES:
                a = median([read(r) for r in ok if r.n == n and r.tree == mine.label])
                b = median([read(r) for r in ok if r.n == n and r.tree == other.label])
                cells.append(f"{fmt(a, '.3g')}/{fmt(b, '.3g')}={fmt(a / b if b else float('nan'), '.2f')}")
            print(f"{n:3d} " + " ".join(f"{c:>18}" for c in cells))

    print()
    print("Targets (this tree)")
    own = [r for r in ok if r.tree == trees[0].label]
    at_target = [r for r in own if r.n == TARGET_N]
    if not at_target:
        print(f"  latency at {TARGET_N} appliances: not measured (run with N={TARGET_N})")
    else:
        rate_note = "" if args.rate == TARGET_RATE else f" (measured at {args.rate:g} msg/s, target is at {TARGET_RATE:g})"
        for label, q, limit in (("p50", 0.50, TARGET_P50_MS), ("p99", 0.99, TARGET_P99_MS)):
            value = median([r.percentile_ms(q) for r in at_target])
            print(f"  {label} <= {limit:g} ms at {TARGET_N} x {TARGET_RATE:g}/s: {value:.2f} ms  {verdict(value, limit)}{rate_note}")
        startup = median([r.all_state for r in at_target])
        print(f"  all state of {TARGET_N} appliances within {TARGET_STARTUP_S:g} s of start: {startup:.3f} s"
              f"  {verdict(startup, TARGET_STARTUP_S)}")  # fmt: skip
    single = median([r.rss_idle for r in own if r.n == 1])
    if single == single:
        print(f"  RSS <= {TARGET_RSS_ONE_MB:g} MB with 1 appliance: {single:.1f} MB  {verdict(single, TARGET_RSS_ONE_MB)}")
    if len(trees) == 2:
        for n, limit in TARGET_CPU_RATIO.items():
            mine = median([r.cpu_per_1k for r in own if r.n == n])
            theirs = median([r.cpu_per_1k for r in ok if r.n == n and r.tree == trees[1].label])
            if mine == mine and theirs == theirs:
                ratio = mine / theirs
                print(f"  CPU per message <= {limit:.0%} of {trees[1].label}'s at {n} x {args.rate:g}/s:"
                      f" {ratio:.0%}  {verdict(ratio, limit)}")  # fmt: skip
    for n in sorted({r.n for r in own if r.n > 1}):
        value = (median([r.rss_idle for r in own if r.n == n]) - single) / (n - 1)
        print(f"  RSS <= {TARGET_RSS_PER_APPLIANCE_MB:g} MB per extra appliance, N={n} idle: {fmt(value, '.3f')} MB"
              f"  {verdict(value, TARGET_RSS_PER_APPLIANCE_MB)}")  # fmt: skip


def verdict(value: float, limit: float) -> str:
    if value != value:
        return "n/a"
    if value <= limit:
        return "PASS"
    return f"MISS by {value - limit:.3g} ({value / limit:.1f}x)"


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appliances", default="1,10,50", help="comma-separated N values (default 1,10,50)")
    parser.add_argument("--rate", type=float, default=100.0, help="value changes per second per appliance")
    parser.add_argument("--seconds", type=float, default=10.0, help="load duration per run")
    parser.add_argument("--transport", choices=("tls", "aes", "mixed"), default="mixed", help="mixed: TLS and AES alternate")
    parser.add_argument("--feature", default=DEFAULT_FEATURE, help="numeric feature whose value changes under load")
    parser.add_argument("--settle", type=float, default=1.0, help="quiet seconds that end start-up")
    parser.add_argument("--against", metavar="REV", help="also run REV's hc2mqtt (a git revision), alternating")
    parser.add_argument("--repeats", type=int, default=None, help="runs per tree and N (default 1, or 2 with --against)")
    parser.add_argument("--profile", action="store_true", help="one more run per tree and N under py-spy; print its top frames")
    args = parser.parse_args()
    counts = sorted({int(x) for x in args.appliances.split(",") if x.strip()})
    args.repeats = args.repeats or (2 if args.against else 1)
    if not counts or counts[0] < 1 or args.rate <= 0 or args.seconds <= 0 or args.repeats < 1:
        parser.error("--appliances needs positive whole numbers, --rate, --seconds and --repeats positive values")
    if args.rate * args.seconds >= RUN_STRIDE:
        parser.error(f"--rate x --seconds must stay below {RUN_STRIDE} value changes per appliance")

    # SIGTERM ends the run like Ctrl-C: through the finally blocks that clean up.
    signal.signal(signal.SIGTERM, _interrupt)

    profile = parse_profile(*profile_files(DISHWASHER))
    feature = profile.by_name(args.feature)
    if feature is None:
        parser.error(f"the dishwasher profile has no feature {args.feature}")
    # The sequence number rides in the value: it has to come out as a plain number.
    if feature.enum is not None or feature.is_boolean or feature.kind not in NUMERIC_KINDS:
        parser.error(f"{args.feature} is not a numeric status, setting or option; pick one such as {DEFAULT_FEATURE}")
    print(
        f"hc2mqtt bridge bench: Python {sys.version.split()[0]}, TLS back-end {BACKEND}, {os.cpu_count()} CPU(s),"
        f" profile {DISHWASHER}"
    )
    results: list[Result] = []
    interrupted = False
    with ExitStack() as stack:
        trees = [Tree("this", ROOT)]
        if args.against:
            trees.append(checkout(args.against, stack))
        for tree in trees:
            byte_compile(tree)
            print(f"{tree.label}: python -c 'import hc2mqtt' (interpreter + imports): {import_time(tree):.3f} s")
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hcpy-bench-")))
        profiles: list[tuple[Tree, int, Path]] = []
        try:
            for n in counts:
                with ExitStack() as rig_stack:
                    rig = Rig(n, args, profile, work, rig_stack)
                    for repeat in range(args.repeats):
                        # A B, B A, ...: neither tree always runs first.
                        order = trees if repeat % 2 == 0 else trees[::-1]
                        for tree in order:
                            print(f"  N={n} {tree.label} run {repeat + 1}/{args.repeats} ...", flush=True)
                            results.append(run_once(tree, rig, args, feature.uid, topic_key(feature.name)))
                    if args.profile:
                        for tree in trees:
                            out = work / f"profile-{tree.label}-{n}.txt"
                            print(f"  N={n} {tree.label} under py-spy ...", flush=True)
                            run_once(tree, rig, args, feature.uid, topic_key(feature.name), profile_to=out)
                            profiles.append((tree, n, out))
        except KeyboardInterrupt:
            print("interrupted; cleaned up; the runs finished so far follow", file=sys.stderr)
            interrupted = True
        if results:
            report(results, trees, args)
        for tree, n, out in profiles:
            print()
            print(f"py-spy, {tree.label}, N={n}: top 10 frames by own samples (GIL held)")
            for share, frame in self_time(out) if out.exists() else []:
                print(f"  {share:5.1f}%  {frame}")
    if interrupted:
        sys.exit(130)


if __name__ == "__main__":
    main()
