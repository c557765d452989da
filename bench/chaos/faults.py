"""The faults the soak injects, each one timed from its end until the broker holds the truth again.

A fault hits one appliance's connection (drop, half-open, garbage, bad MAC)
or the broker (kill -9 and restart on the same port, SIGSTOP then SIGCONT).
Its convergence runs from the moment the bench lifted it (a half-open
connection is never lifted: the bridge has to notice the silence itself, so
it runs from the start) until, for every appliance it touched:

- the appliance's stream feature shows a value set after that moment (so
  what is seen is fresh, not left over from before the fault),
- every value the soak changed on it equals the simulator's, except one
  changed within the last second (still on its way),
- its T/LWT says online.

While a fault is open no other fault touches the same appliances (a broker
fault waits until no fault is open, and holds the others back), so each
time belongs to one fault.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .harness import Rig
from .measures import Window
from .rig import Appliance
from .targets import FAULT_KINDS
from .values import matches

IN_FLIGHT_S = 1.0  # a value changed this recently may still be on its way
# Around a fault that may cost updates by design, the updates this much
# before its start were possibly still on their way when it hit.
BEFORE_S = 2.0
BROKER_KINDS = ("broker kill -9", "broker SIGSTOP")
# The order a run meets each kind first: the broker's while nothing else is
# open, then the half-open early, since it takes the bridge 50 s to notice.
FIRST = ("broker kill -9", "broker SIGSTOP", "half-open", "drop", "garbage", "bad MAC")
# hc2mqtt backs off 2, 4, 8 ... s between attempts unless the last session
# lasted 30 s (hcpy.appliance.connection.Backoff): an appliance is left
# alone this long after its last fault converged, so that each fault is
# timed from a fresh start rather than from the backoff of the one before.
COOLDOWN_S = 35.0
# A broker fault holds every other fault back until it converged, or for
# this long after it was lifted: one that never converges has missed its
# target already, and must not keep the rest of the soak from happening.
HOLD_S = 15.0
# Updates made during these stay promised one by one: the appliance's
# session survives a garbage frame, and a frozen broker keeps its TCP
# connections (link.py queues nothing only while the broker is away).
PROMISED_DURING = ("garbage", "broker SIGSTOP")
assert set(BROKER_KINDS) <= set(FAULT_KINDS) and set(PROMISED_DURING) <= set(FAULT_KINDS) == set(FIRST)


@dataclass
class Fault:
    kind: str
    apps: tuple[int, ...]
    started: float
    lift_at: float | None = None  # when the bench ends it (None: it ends at once, or never, for half-open)
    lifted: float | None = None
    fresh_from: dict[int, int] = field(default_factory=dict)  # appliance -> first stream value set after `lifted`
    converged: float | None = None
    given_up: bool = False

    @property
    def seconds(self) -> float:
        if self.converged is None or self.lifted is None:
            return float("nan")
        return self.converged - self.lifted

    @property
    def open(self) -> bool:
        return self.converged is None and not self.given_up


@dataclass
class Changed:
    """The soak's record of what it changed: (appliance, uid) -> when it last changed."""

    at: dict[tuple[int, int], float] = field(default_factory=dict)

    def of(self, index: int) -> list[tuple[int, float]]:
        return [(uid, when) for (i, uid), when in self.at.items() if i == index]


def in_sync(rig: Rig, a: Appliance, changed: Changed, fresh_from: int, now: float) -> bool:
    view = rig.watcher
    if view.get(a.lwt) != b"online":
        return False
    stream = view.get(a.state_topic(a.stream))
    try:
        if stream is None or int(stream) < fresh_from:
            return False
    except ValueError:
        return False
    for uid, when in changed.of(a.index):
        if now - when < IN_FLIGHT_S:
            continue
        feature = a.profile.features[uid]
        if not matches(feature, view.get(a.state_topic(feature)), a.sim.app.value(uid)):
            return False
    return True


class Faults:
    def __init__(self, rig: Rig, end: float):
        self.rig = rig
        self.end = end  # no fault starts that could not be over (or noticed) by then
        self.faults: list[Fault] = []

    def open(self) -> list[Fault]:
        return [f for f in self.faults if f.open]

    def holding(self, now: float) -> list[Fault]:
        """The open faults that keep others off their appliances."""
        return [f for f in self.open() if f.kind not in BROKER_KINDS or f.lifted is None or now - f.lifted < HOLD_S]

    def busy(self, now: float) -> set[int]:
        return {i for f in self.holding(now) for i in f.apps}

    def count(self, kind: str) -> int:
        return sum(f.kind == kind for f in self.faults)

    def free(self, now: float) -> list[Appliance]:
        """Appliances an appliance fault may hit now: no fault open on them, cooled down, running no program."""
        quiet: dict[int, float] = {}
        for fault in self.faults:
            if fault.kind not in BROKER_KINDS and fault.converged is not None:
                for i in fault.apps:
                    quiet[i] = max(quiet.get(i, 0.0), fault.converged + COOLDOWN_S)
        busy = self.busy(now)
        found = [
            a
            for a in self.rig.appliances
            if a.index not in busy and a.runs is None and a.connected() and now >= quiet.get(a.index, 0.0)
        ]
        # The one left alone longest first.
        last = {i: f.started for f in self.faults for i in f.apps if f.kind not in BROKER_KINDS}
        return sorted(found, key=lambda a: last.get(a.index, 0.0))

    def choose(self, now: float) -> str | None:
        """The next kind: every kind once first (in FIRST's order), then by weight."""
        rig, plan = self.rig, self.rig.plan
        opened = self.holding(now)
        free = self.free(now)
        weights: dict[str, int] = {}
        if not any(f.kind in BROKER_KINDS for f in opened) and free:
            weights.update({"drop": 3, "garbage": 2})
            if any(a.transport == "aes" for a in free):
                weights["bad MAC"] = 2
            if not any(f.kind == "half-open" for f in opened):
                weights["half-open"] = 1
        if not opened and now + max(plan.broker_down_s[1], plan.broker_stop_s[1]) + 5 < self.end:
            weights.update({"broker kill -9": 1, "broker SIGSTOP": 1})
        if not weights:
            return None
        fresh = [k for k in FIRST if k in weights and not self.count(k)]
        if fresh:
            return fresh[0]
        kinds = list(weights)
        return rig.rng.choices(kinds, [weights[k] for k in kinds])[0]

    def inject(self, kind: str, now: float) -> Fault:
        rig, plan, rng = self.rig, self.rig.plan, self.rig.rng
        if kind in BROKER_KINDS:
            apps = tuple(a.index for a in rig.appliances)
            if kind == "broker kill -9":
                rig.broker.kill()
                fault = Fault(kind, apps, now, lift_at=now + rng.uniform(*plan.broker_down_s))
            else:
                rig.broker.freeze(True)
                fault = Fault(kind, apps, now, lift_at=now + rng.uniform(*plan.broker_stop_s))
        else:
            free = self.free(now)
            if kind == "bad MAC":
                free = [a for a in free if a.transport == "aes"]
            a = free[0]
            fault = Fault(kind, (a.index,), now)
            if kind == "drop":
                a.sim.drop_connections()
            elif kind == "garbage":
                a.sim.send_garbage()
            elif kind == "bad MAC":
                a.sim.send_bad_mac()
            else:
                a.sim.go_silent()
        self.faults.append(fault)
        if fault.lift_at is None:
            self._lifted(fault, now)
        return fault

    def _lifted(self, fault: Fault, now: float) -> None:
        fault.lifted = now
        for i in fault.apps:
            fault.fresh_from[i] = self.rig.appliances[i].stream_value + 1

    def tick(self, now: float, changed: Changed) -> None:
        """Lift what is due, and time the faults that are in sync again."""
        rig = self.rig
        for fault in self.open():
            if fault.lifted is None:
                if fault.lift_at is not None and now >= fault.lift_at:
                    if fault.kind == "broker kill -9":
                        rig.broker.start()
                    else:
                        rig.broker.freeze(False)
                    self._lifted(fault, time.monotonic())
                continue
            if all(in_sync(rig, rig.appliances[i], changed, fault.fresh_from[i], now) for i in fault.apps):
                fault.converged = now
                if fault.kind == "half-open":
                    self._close_silent(rig.appliances[fault.apps[0]])
            elif now - fault.lifted > rig.plan.give_up_s:
                fault.given_up = True
                if fault.kind == "half-open":
                    self._close_silent(rig.appliances[fault.apps[0]])

    def lift_all(self) -> None:
        """Leave nothing frozen, down or silent, whatever ended the soak."""
        for fault in self.faults:
            if fault.lifted is None:
                if fault.kind == "broker kill -9":
                    self.rig.broker.start()
                elif fault.kind == "broker SIGSTOP":
                    self.rig.broker.freeze(False)
                self._lifted(fault, time.monotonic())
            if fault.kind == "half-open":
                self._close_silent(self.rig.appliances[fault.apps[0]])

    @staticmethod
    def _close_silent(a: Appliance) -> None:
        # The simulator has no "end the silence" of its own: close the
        # half-open sockets it still holds (the bridge has left them).
        for conn in a.sim._snapshot(sessions_only=False):  # noqa: SLF001
            if conn.silent:
                conn.kill()

    def broker_touched(self, since: float, until: float | None = None) -> bool:
        """Whether a broker fault was open at any time from `since` until `until` (now), read from any thread."""
        for fault in list(self.faults):
            if fault.kind not in BROKER_KINDS or (until is not None and fault.started > until):
                continue
            if fault.converged is None or fault.converged >= since:
                return True
        return False

    def windows(self, until: float) -> list[Window]:
        """Where updates may be lost by design: around every fault that cuts a session or the broker away."""
        found = []
        for fault in self.faults:
            if fault.kind in PROMISED_DURING:
                continue
            end = fault.converged if fault.converged is not None else until
            found += [Window(i, fault.started - BEFORE_S, end + IN_FLIGHT_S) for i in fault.apps]
        return found
