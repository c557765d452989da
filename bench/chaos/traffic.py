"""The soak: value changes, a counted stream of updates, programs and faults, all at once.

- Random changes: `rate` a second across the appliances that run no
  program, each a value the feature allows (statuses and settings that are
  numbers, enumerations or booleans); the simulator keeps the truth.
- The stream: every appliance's WiFiSignalStrength counts up, one value
  every `stream_period`; each value is unique, so each update is checked on
  its own (`measures.lost_updates`), not only the last one.
- Programs: the runner appliances start a program over MQTT, the simulator
  runs it at PROGRAM_SPEED, again and again (`programs`).
- Faults (`faults`), one every `fault_every` seconds or so.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from .faults import Changed, Faults
from .harness import Rig
from .measures import LogStats
from .programs import Runs, run_programs
from .values import new_value


@dataclass
class Soak:
    faults: Faults
    changes: int = 0
    skipped_changes: int = 0  # slots missed because the bench fell behind
    changed: Changed = field(default_factory=Changed)
    runs: Runs = field(default_factory=Runs)
    started: float = 0.0
    ended: float = 0.0  # the last change
    settled: float = 0.0  # every fault converged or given up
    log: LogStats = field(default_factory=LogStats)


def soak(rig: Rig) -> Soak:
    plan, rng, apps = rig.plan, rig.rng, rig.appliances
    changers = [a for a in apps if a.changeable and a.runs is None]
    log_start = rig.daemon.log_size()
    start = time.monotonic()
    end = start + plan.soak_s
    faults = Faults(rig, end)
    result = Soak(faults, started=start)
    stop_programs = threading.Event()
    programs = threading.Thread(
        target=run_programs, args=(rig, result.runs, faults, stop_programs), name="chaos-programs", daemon=True
    )
    programs.start()
    step = 1.0 / plan.rate
    next_change = start
    next_stream = start
    next_fault = start + 1.0
    try:
        while True:
            now = time.monotonic()
            if not rig.daemon.alive("the soak"):
                break
            faults.tick(now, result.changed)
            if now >= end:
                break
            if now >= next_stream:
                # One stream value on every appliance (a silent or dropped one too: those are the point).
                for a in apps:
                    a.stream_value += 1
                    a.sent.append((time.monotonic(), a.stream_value))
                    a.sim.set_value(a.stream.uid, a.stream_value)
                    result.changed.at[(a.index, a.stream.uid)] = time.monotonic()
                next_stream += plan.stream_period
            if now >= next_change and changers:
                a = rng.choice(changers)
                feature = rng.choice(a.changeable)
                a.sim.set_value(feature.uid, new_value(feature, a.sim.app.value(feature.uid), rng))
                result.changed.at[(a.index, feature.uid)] = time.monotonic()
                result.changes += 1
                next_change += step
                if now - next_change > 1.0:  # far behind: skip the missed slots rather than burst them
                    missed = int((now - next_change) / step)
                    result.skipped_changes += missed
                    next_change += missed * step
            if now >= next_fault:
                kind = faults.choose(now)
                if kind is not None:
                    faults.inject(kind, now)
                next_fault = now + plan.fault_every * rng.uniform(0.5, 1.5)
            time.sleep(max(0.0, min(0.05, next_stream - time.monotonic(), next_change - time.monotonic())))
        result.ended = time.monotonic()
        stop_programs.set()
        # No more changes: the faults still open get until `give_up_s` after they were lifted.
        while faults.open() and rig.daemon.alive("convergence"):
            faults.tick(time.monotonic(), result.changed)
            time.sleep(0.1)
        result.settled = time.monotonic()
    finally:
        stop_programs.set()
        faults.lift_all()
    programs.join(plan.marker_timeout)
    result.log = LogStats.of(rig.daemon.log_since(log_start))
    return result
