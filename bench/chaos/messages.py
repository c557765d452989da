"""Hostile appliance messages, and how long the other appliances' values wait meanwhile.

A NOTIFY with 10,000 unknown uids, garbage frames, a NOTIFY nested 100,000
deep, a 4 MB string value (more than the bridge reads of a report) and a
reconnect while the appliance holds it, an empty string value (its
retained topic must stay), and big NOTIFYs just under the size the bridge
reads (1,000 values, about 0.8 MB), one every 0.1 s: those are parsed and
applied value by value, and the last value of each is a unique one the
bench looks for on MQTT, so a message the bridge skipped counts as
unparsed. While they are digested, a probe changes a value on the other
appliances every 5 ms and times each arrival: the p99 of those delays is
the latency figure.

Each message is followed by a marker value on the same connection: the
simulator sends a connection's messages in order and the bridge reads them
in order, so once the marker is on MQTT the bridge is through with the message.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hcpy.appliance.model import MAX_STRING
from hcpy.protocol.resources import RO_VALUES

from .harness import Rig
from .measures import LogStats, percentile
from .rig import COFFEE, DISHWASHER, Appliance
from .values import new_value
from .watch import mqtt_client

# What the bridge reads of one report: at most 1 MiB (hcpy.protocol.session.MAX_REPORT),
# and at least 1,000 values (more than twice the profile's features and
# options are ignored: hcpy.appliance.state); strings are kept up to MAX_STRING.
READ_LIMIT = 1 << 20
BIG_ENTRIES = 1000
BIG_EVERY = 0.1  # s between two big NOTIFYs
PROBE_PERIOD = 0.005
MARKER_BASE = 9_000_000
PARSED_BASE = 8_000_000
PROBE_BASE = 5_000_000


@dataclass
class Hostile:
    name: str
    target: str
    started: float = float("nan")
    finished: float = float("nan")
    digest_s: float = float("nan")  # until the marker behind it arrived on MQTT
    log: LogStats = field(default_factory=LogStats)
    reconnects: int = 0  # sessions the simulators accepted meanwhile
    deliberate: bool = False  # the bench cut the connection itself
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
    rss_before_big: float = float("nan")
    longest_published: tuple[int, str] = (0, "")
    empty_kept: tuple[int, int] = (0, 0)  # (kept, tried)
    big_back: bool | None = None
    big_sent: int = 0
    big_bytes: int = 0
    big_unparsed: int = 0
    latencies: list[float] = field(default_factory=list)
    probes_lost: int = 0
    baseline: list[float] = field(default_factory=list)
    alive: bool = True
    lwt_online: int = 0
    note: str = ""


def notify_text(data: str) -> str:
    """A NOTIFY of /ro/values around `data`, JSON text written beforehand.

    Written here rather than by the simulator: serializing a large message
    in the simulator's thread would hold this process's GIL while the probe
    is timing the other appliances (and json.dumps cannot nest 100,000 deep).
    """
    return f'{{"sID":1,"msgID":4242,"resource":"{RO_VALUES}","version":1,"action":"NOTIFY","data":{data}}}'


def compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


class Markers:
    """Unique values of an appliance's stream feature, sent after a hostile message."""

    def __init__(self) -> None:
        self.last = MARKER_BASE

    def send(self, rig: Rig, a: Appliance, timeout: float) -> bool:
        self.last += 1
        value = self.last
        a.sim.set_value(a.stream.uid, value)
        return rig.watcher.wait_for(a.state_topic(a.stream), lambda p: p == str(value).encode(), timeout)


class Probe:
    """Changes the stream value of some appliances every 5 ms and times each arrival.

    Its own MQTT client, subscribed to these topics only, so that what it
    measures does not queue behind a burst on other topics.
    """

    def __init__(self, rig: Rig, appliances: list[Appliance]):
        self.apps = appliances
        self.topics = {a.state_topic(a.stream): a.index for a in self.apps}
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
            a.sim.set_value(a.stream.uid, value)
            self.seq += 1

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(2)
        time.sleep(0.5)  # the last ones on their way
        self.client.loop_stop()
        self.client.disconnect()

    def delays(self, since: float, until: float, end: float) -> tuple[list[float], int]:
        """Delays of the probes sent in [since, until]; one still missing counts until `end`."""
        found, lost = [], 0
        for key, sent in list(self.sent.items()):
            if since <= sent <= until:
                got = self.arrived.get(key)
                if got is None:
                    lost += 1
                    got = end
                found.append(got - sent)
        return found, lost


def big_notify(a: Appliance, rig: Rig, parsed_value: int) -> str:
    """A NOTIFY as large as the bridge applies: BIG_ENTRIES values, most of them strings of
    MAX_STRING characters (each a change), with the unique `parsed_value` of the stream last."""
    assert a.text is not None
    pool = a.changeable or [a.stream]
    values = []
    for i in range(BIG_ENTRIES - 1):
        if i % 4 == 3:
            f = pool[i % len(pool)]
            values.append(compact({"uid": f.uid, "value": new_value(f, None, rig.rng)}))
        else:
            text = f"{parsed_value}-{i}-".ljust(MAX_STRING, "x")
            values.append(compact({"uid": a.text.uid, "value": text}))
    values.append(compact({"uid": a.stream.uid, "value": parsed_value}))
    text = notify_text("[" + ",".join(values) + "]")
    assert len(text.encode()) < READ_LIMIT, len(text)
    return text


def appliance_battery(rig: Rig) -> ApplianceBattery:
    plan, apps = rig.plan, rig.appliances
    battery = ApplianceBattery()
    markers = Markers()
    timeout = plan.marker_timeout
    battery.rss_before = rig.rss.reset()
    battery_log = rig.daemon.log_size()
    rig.watcher.reset_longest()
    target = (
        next(a for a in apps if a.stem == DISHWASHER and a.runs is None)
        if any(a.stem == DISHWASHER and a.runs is None for a in apps)
        else apps[-1]
    )
    aes = next((a for a in apps if a.transport == "aes"), target)
    texts = [a for a in apps if a.text is not None]
    big = next((a for a in texts if a.stem == COFFEE), texts[0] if texts else None)

    offline: list[str] = []

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
        # Once something stayed offline, the next messages do not wait for it again.
        wait = timeout if not offline else 1.0
        if rig.wait_online(wait, "the hostile appliance messages") or not a.sim.wait_connected(wait):
            h.note = "not everything online before it"
            offline.append(name)
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
    unknown = (uid for uid in range(65535, 0, -1) if uid not in target.profile.features)
    items = [{"uid": uid, "value": i} for i, uid in zip(range(plan.unknown_uids), unknown, strict=False)]
    text = notify_text(compact(items))
    run(f"NOTIFY with {plan.unknown_uids:,} unknown uids", target, lambda a: a.sim.send_raw(text))

    def garbage(a: Appliance) -> None:
        for _ in range(plan.garbage_frames):
            a.sim.send_garbage()  # AES: encrypted and authenticated, but no JSON

    run(f"{plan.garbage_frames:,} garbage frames", aes, garbage)

    nest = "[" * plan.nesting + "]" * plan.nesting
    text = notify_text(f'[{{"uid":{target.stream.uid},"value":{nest}}}]')
    run(f"NOTIFY nested {plan.nesting:,} deep", target, lambda a: a.sim.send_raw(text))

    def big_string(a: Appliance) -> None:
        assert a.text is not None
        a.sim.set_value(a.text.uid, "x" * plan.big_string)

    h = run(f"{plan.big_string / 1e6:g} MB string value", big, big_string)
    if big is not None and big.text is not None:
        payload = rig.watcher.get(big.state_topic(big.text)) or b""
        h.add_note(f"its topic holds {len(payload):,} B")
        # The appliance keeps that value, so the next handshake carries it
        # (/ro/allMandatoryValues): cut the connection and see the appliance come back.
        h = run(f"reconnect holding the {plan.big_string / 1e6:g} MB value", big, lambda a: a.sim.drop_connections())
        h.deliberate = True
        battery.big_back = h.digest_s == h.digest_s
        h.add_note("back online" if battery.big_back else "not back online")
        big.sim.set_value(big.text.uid, "")

    # The empty string on every appliance with a string feature; first a
    # plain value, so the topic surely exists and the empty one must replace it.
    before = "chaos"
    for t in texts:
        assert t.text is not None
        t.sim.set_value(t.text.uid, before)
        markers.send(rig, t, timeout)

    def empty(a: Appliance) -> None:
        for t in texts:
            assert t.text is not None
            t.sim.set_value(t.text.uid, "")
        for t in texts:
            if t is not a:
                markers.send(rig, t, timeout)

    h = run("empty string value", texts[0] if texts else None, empty)
    if texts:
        time.sleep(0.5)
        held = [rig.watcher.get(t.state_topic(t.text)) for t in texts if t.text is not None]
        kept = [p for p in held if p is not None and p != before.encode()]
        battery.empty_kept = (len(kept), len(texts))
        shown = sorted({repr(p.decode("utf-8", "replace")) if p is not None else "(deleted)" for p in held})
        h.add_note(f"retained topic kept on {len(kept)}/{len(texts)}, holding {', '.join(shown)}")

    # Big NOTIFYs, while the other appliances' changes are timed.
    heavy = next((a for a in texts if a.runs is None and a is not big), big)
    if heavy is None:
        return battery
    others = [a for a in apps if a is not heavy]
    texts_big = [big_notify(heavy, rig, PARSED_BASE + k) for k in range(plan.big_notifies)]
    battery.big_sent = len(texts_big)
    battery.big_bytes = sum(len(t) for t in texts_big)
    battery.rss_before_big = rig.daemon.rss_mb()
    probe = Probe(rig, others)
    time.sleep(2.0)  # a baseline before the burst

    def burst(a: Appliance) -> None:
        for t in texts_big:
            a.sim.send_raw(t)
            time.sleep(BIG_EVERY)

    size = battery.big_bytes / max(1, battery.big_sent) / 1e6
    h = run(f"{battery.big_sent} NOTIFYs of {size:.2f} MB, {BIG_ENTRIES:,} values", heavy, burst)
    time.sleep(0.5)
    probe.stop()
    end = time.monotonic()
    if h.started == h.started:
        battery.baseline, _ = probe.delays(h.started - 2.0, h.started, end)
        battery.latencies, battery.probes_lost = probe.delays(h.started, h.finished, end)
    seen = rig.watcher.seen(heavy.index)
    battery.big_unparsed = sum(1 for k in range(battery.big_sent) if PARSED_BASE + k not in seen)
    h.add_note(
        f"{battery.big_sent - battery.big_unparsed}/{battery.big_sent} parsed; "
        f"p99 {percentile(battery.latencies, 0.99):.3f} s over {len(battery.latencies)} probes"
    )

    # Memory after a pause: what the process gives back.
    time.sleep(plan.settle_s)
    battery.alive = rig.daemon.alive("the hostile appliance messages")
    missing = rig.wait_online(30.0, "the hostile appliance messages") if battery.alive else [a.name for a in apps]
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
