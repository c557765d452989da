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

Run: python bench/bridge.py [--appliances 1,10,50] [--rate 100] [--seconds 10]
"""

from __future__ import annotations

import argparse
import base64
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import paho.mqtt.client as paho  # noqa: E402

from conftest import DISHWASHER, Broker, profile_files  # noqa: E402
from hcpy.devices import entry_from_profile, save_devices  # noqa: E402
from hcpy.model import Kind, Profile  # noqa: E402
from hcpy.profile import parse_profile  # noqa: E402
from hcpy.publishing import topic_key  # noqa: E402
from hcpy.simulator import SimulatedAppliance, Simulator  # noqa: E402
from hcpy.tlspsk import BACKEND  # noqa: E402

PREFIX = "homeconnect/"
DEFAULT_FEATURE = "BSH.Common.Status.WiFiSignalStrength"
NUMERIC_KINDS = (Kind.STATUS, Kind.SETTING, Kind.OPTION)
# Values far from anything the appliance starts with, so the first one is a change too.
VALUE_BASE = 1_000_000
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
TARGET_STARTUP_S = 1.0


# --- /proc ------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name may hold spaces; the fields after its ')' do not.
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def memory_mb(pid: int, key: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no {key}")


# --- the subscriber --------------------------------------------------------------------


class Collector:
    """A paho subscriber on P#: first arrival of every topic, and load arrivals by sequence."""

    def __init__(self, port: int, names: list[str], load_key: str):
        self.first: dict[str, float] = {}
        self.online: dict[str, float] = {}  # T/LWT -> first "online"
        self.last_new = 0.0  # when a topic was last seen for the first time
        self.load_topics = {f"{PREFIX}{name}/state/{load_key}": i for i, name in enumerate(names)}
        self.arrivals: list[dict[int, float]] = [{} for _ in names]
        self.received = 0
        self.loading = False
        self._subscribed = threading.Event()
        self.client = paho.Client(
            callback_api_version=paho.CallbackAPIVersion.VERSION2, client_id=f"bench-bridge-{os.getpid()}"
        )
        self.client.on_connect = lambda c, *a: c.subscribe(PREFIX + "#", qos=0)
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
                    seq = int(float(message.payload)) - VALUE_BASE
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


def start_simulators(profile: Profile, n: int, mode: str, stack: ExitStack) -> tuple[list[Simulator], list]:
    sims, entries = [], []
    for i in range(n):
        psk = os.urandom(32)
        iv = os.urandom(16) if transport_of(i, mode) == "aes" else None
        sim = Simulator(SimulatedAppliance(profile), psk, iv, name=f"bench{i}").start()
        sims.append(sim)
        entries.append(
            entry_from_profile(
                profile, key=b64url(psk), iv=b64url(iv) if iv else None, host="127.0.0.1", port=sim.port, name=f"dw{i:02d}"
            )
        )
    stack.callback(stop_all, sims)
    return sims, entries


def stop_all(sims: list[Simulator]) -> None:
    # In parallel: each stop() may wait up to a second for goodbyes.
    threads = [threading.Thread(target=s.stop, daemon=True) for s in sims]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)


def spawn_daemon(devices: Path, port: int, log_path: Path, stack: ExitStack) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HCPY_")}
    env["PYTHONUNBUFFERED"] = "1"
    log = open(log_path, "wb")
    stack.callback(log.close)
    proc = subprocess.Popen(
        [
            sys.executable,
            "hc2mqtt.py",
            "--devices_file",
            str(devices),
            "--mqtt_host",
            "127.0.0.1",
            "--mqtt_port",
            str(port),
            "--mqtt_prefix",
            PREFIX,
            "--mqtt_clientname",
            f"hcpy-bench-{os.getpid()}",
        ],
        cwd=ROOT,
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
    wanted = [f"{PREFIX}{name}/LWT" for name in names]
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


def offer_load(sims: list[Simulator], uid: int, rate: float, seconds: float) -> tuple[list[list[float]], int, float]:
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
        sims[index].set_value(uid, VALUE_BASE + seq)
        if slot == 0:
            first = now
        last = now
        slot += 1
    return sends, planned, last - first


def run_once(n: int, args: argparse.Namespace, profile: Profile, uid: int, load_key: str, work: Path) -> Result:
    names = [f"dw{i:02d}" for i in range(n)]
    kinds = sorted({transport_of(i, args.transport) for i in range(n)})
    counts = {k: sum(1 for i in range(n) if transport_of(i, args.transport) == k) for k in kinds}
    result = Result(n, "+".join(f"{counts[k]}{k}" for k in kinds))
    here = work / f"n{n}"
    here.mkdir()
    with ExitStack() as stack:
        broker = Broker(here)  # a fresh one per N: no retained topics from the run before
        broker.start()
        stack.callback(broker.stop)
        collector = Collector(broker.port, names, load_key)
        stack.callback(collector.close)
        sims, entries = start_simulators(profile, n, args.transport, stack)
        devices = here / "devices.json"
        save_devices(devices, entries, merge=False)
        log_path = here / "hc2mqtt.log"

        spawn = time.perf_counter()
        proc = spawn_daemon(devices, broker.port, log_path, stack)
        problem = wait_startup(collector, names, proc, log_path, args.settle, limit=30 + n)
        if problem:
            result.error = problem
            return result
        # Copies: paho's thread may still add to them.
        first, online = dict(collector.first), dict(collector.online)
        result.first_message = min(first.values()) - spawn
        result.all_online = max(online.values()) - spawn
        per_appliance = []
        latest = spawn
        for name in names:
            topics = [t for t in first if t.startswith(f"{PREFIX}{name}/state/")]
            per_appliance.append(len(topics))
            latest = max([latest] + [first[t] for t in topics])
        result.all_state = latest - spawn
        result.state_topics = (min(per_appliance), max(per_appliance))
        result.rss_idle = memory_mb(proc.pid)

        collector.loading = True
        cpu0, bench0 = cpu_seconds(proc.pid), time.process_time()
        sends, result.planned, result.send_window = offer_load(sims, uid, args.rate, args.seconds)
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
        result.daemon_cpu = cpu_seconds(proc.pid) - cpu0
        result.bench_cpu = time.process_time() - bench0
        result.rss_loaded = memory_mb(proc.pid)
        result.rss_peak = memory_mb(proc.pid, "VmHWM")
        collector.loading = False

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


# --- output -------------------------------------------------------------------------------


def fmt(value: float, spec: str) -> str:
    return "n/a" if value != value else format(value, spec)


def per_extra_mb(result: Result, baseline: Result | None, attr: str) -> float:
    if baseline is None or result.n <= baseline.n:
        return float("nan")
    return (getattr(result, attr) - getattr(baseline, attr)) / (result.n - baseline.n)


def report(results: list[Result], args: argparse.Namespace) -> None:
    ok = [r for r in results if r.error is None]
    baseline = next((r for r in ok if r.n == 1), None)
    for r in results:
        if r.error:
            print(f"N={r.n}: FAILED: {r.error}")

    print()
    print(f"Load: {args.rate:g} value changes/s per appliance for {args.seconds:g} s, feature {args.feature}")
    print(
        f"{'N':>3} {'transports':>11} {'offered/s':>9} {'deliv/s':>8} {'sent':>6} {'missing':>7} {'skipped':>7}"
        f" {'CPU s/1k':>8} {'CPU %':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'bench CPU %':>11}"
    )
    for r in ok:
        window = r.deliver_window
        print(
            f"{r.n:3d} {r.transports:>11} {fmt(r.offered_rate, '.0f'):>9} {fmt(r.delivered_rate, '.0f'):>8}"
            f" {r.sent:6d} {r.sent - r.received:7d} {r.planned - r.sent:7d}"
            f" {fmt(r.daemon_cpu / r.sent * 1000 if r.sent else float('nan'), '.3f'):>8}"
            f" {fmt(100 * r.daemon_cpu / window, '.0f'):>6}"
            f" {fmt(r.percentile_ms(0.50), '.2f'):>7} {fmt(r.percentile_ms(0.99), '.2f'):>7}"
            f" {fmt(max(r.latencies) * 1e3 if r.latencies else float('nan'), '.2f'):>7}"
            f" {fmt(100 * r.bench_cpu / window, '.0f'):>11}"
        )
    for r in ok:
        if r.complaints:
            print(f"  N={r.n}: hc2mqtt logged {len(r.complaints)} warning(s)/error(s) during the run, e.g.:")
            for line in r.complaints[:3]:
                print(f"    {line[:160]}")
    print(
        "  CPU s/1k and CPU %: the hc2mqtt process only (utime+stime), per 1000 appliance messages and over the\n"
        "  delivery window. Simulators, load generator and subscriber share the bench process (bench CPU %).\n"
        "  missing: sent but not seen by the subscriber within max(10 s, 2 x --seconds) after the last send\n"
        "  (lost, or still queued somewhere on the way);\n"
        "  skipped: slots the load generator fell too far behind to send."
    )

    print()
    print("Start-up (s after spawning hc2mqtt) and memory (hc2mqtt VmRSS, MB)")
    print(
        f"{'N':>3} {'1st MQTT msg':>12} {'all LWT online':>14} {'all state':>9} {'state topics/appl':>17}"
        f" {'RSS idle':>8} {'RSS loaded':>10} {'RSS peak':>8} {'idle/extra appl':>15} {'loaded/extra':>12}"
    )
    for r in ok:
        topics = f"{r.state_topics[0]}" if r.state_topics[0] == r.state_topics[1] else f"{r.state_topics[0]}-{r.state_topics[1]}"
        print(
            f"{r.n:3d} {fmt(r.first_message, '.3f'):>12} {fmt(r.all_online, '.3f'):>14} {fmt(r.all_state, '.3f'):>9}"
            f" {topics:>17} {fmt(r.rss_idle, '.1f'):>8} {fmt(r.rss_loaded, '.1f'):>10} {fmt(r.rss_peak, '.1f'):>8}"
            f" {fmt(per_extra_mb(r, baseline, 'rss_idle'), '.3f'):>15}"
            f" {fmt(per_extra_mb(r, baseline, 'rss_loaded'), '.3f'):>12}"
        )
    print(
        "  1st MQTT msg: interpreter start-up, imports, devices.json and the broker connect.\n"
        "  all state: last first arrival of any T/state/* topic (topics seen before --settle s of quiet).\n"
        "  per extra appliance: (RSS(N) - RSS(1)) / (N - 1)."
    )

    print()
    print("Targets")
    at_target = next((r for r in ok if r.n == TARGET_N), None)
    if at_target is None:
        print(f"  latency at {TARGET_N} appliances: not measured (run with N={TARGET_N})")
    else:
        rate_note = "" if args.rate == TARGET_RATE else f" (measured at {args.rate:g} msg/s, target is at {TARGET_RATE:g})"
        for label, q, limit in (("p50", 0.50, TARGET_P50_MS), ("p99", 0.99, TARGET_P99_MS)):
            value = at_target.percentile_ms(q)
            print(f"  {label} <= {limit:g} ms at {TARGET_N} x {TARGET_RATE:g}/s: {value:.2f} ms  {verdict(value, limit)}{rate_note}")
    extra = [r for r in ok if baseline is not None and r.n > 1]
    if not extra:
        print(f"  RSS <= {TARGET_RSS_PER_APPLIANCE_MB:g} MB per extra appliance: not measured (needs N=1 and a larger N)")
    for r in extra:
        for label, attr in (("idle", "rss_idle"), ("loaded", "rss_loaded")):
            value = per_extra_mb(r, baseline, attr)
            print(
                f"  RSS <= {TARGET_RSS_PER_APPLIANCE_MB:g} MB per extra appliance, N={r.n} {label}: {value:.3f} MB"
                f"  {verdict(value, TARGET_RSS_PER_APPLIANCE_MB)}"
            )
    if at_target is None:
        print(f"  all state of {TARGET_N} appliances within {TARGET_STARTUP_S:g} s: not measured")
    else:
        print(
            f"  all state of {TARGET_N} appliances within {TARGET_STARTUP_S:g} s of start: {at_target.all_state:.3f} s"
            f"  {verdict(at_target.all_state, TARGET_STARTUP_S)}"
            f"  (of which {at_target.first_message:.3f} s before the first MQTT message)"
        )


def verdict(value: float, limit: float) -> str:
    if value != value:
        return "n/a"
    if value <= limit:
        return "PASS"
    return f"MISS by {value - limit:.3g} ({value / limit:.1f}x)"


def import_time() -> float:
    """Median wall time of a bare `python -c "import hc2mqtt"` in the project root."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import hc2mqtt"], cwd=ROOT, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appliances", default="1,10,50", help="comma-separated N values (default 1,10,50)")
    parser.add_argument("--rate", type=float, default=100.0, help="value changes per second per appliance")
    parser.add_argument("--seconds", type=float, default=10.0, help="load duration per N")
    parser.add_argument("--transport", choices=("tls", "aes", "mixed"), default="mixed", help="mixed: TLS and AES alternate")
    parser.add_argument("--feature", default=DEFAULT_FEATURE, help="numeric feature whose value changes under load")
    parser.add_argument("--settle", type=float, default=1.0, help="quiet seconds that end start-up")
    args = parser.parse_args()
    counts = sorted({int(x) for x in args.appliances.split(",") if x.strip()})
    if not counts or counts[0] < 1 or args.rate <= 0 or args.seconds <= 0:
        parser.error("--appliances needs positive whole numbers, --rate and --seconds positive values")

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
    print(f"python -c 'import hc2mqtt' (interpreter + imports): {import_time():.3f} s")
    results = []
    interrupted = False
    with tempfile.TemporaryDirectory(prefix="hcpy-bench-") as work:
        try:
            for n in counts:
                print(f"  running N={n} ...", flush=True)
                results.append(run_once(n, args, profile, feature.uid, topic_key(feature.name), Path(work)))
        except KeyboardInterrupt:
            print("interrupted; cleaned up; the runs finished so far follow", file=sys.stderr)
            interrupted = True
    if results:
        report(results, args)
    if interrupted:
        sys.exit(130)


if __name__ == "__main__":
    main()
