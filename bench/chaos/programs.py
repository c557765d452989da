"""Programs run during the soak, and the run records hc2mqtt keeps of them.

Each runner appliance starts its program over MQTT (T/activeProgram, with
a transaction), the simulator runs it on its fast clock to Finished, and
the next one starts a second later, until the soak ends. Afterwards every
run the simulator finished must have exactly one record in the
appliance's history (runs/<name>.jsonl beside devices.json): the right
program, ended "finished", its start and end seen, no restart, at the
right time; T/run must hold the last one.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hcpy.appliance import names

from .faults import Faults
from .harness import Rig
from .rig import Appliance

START_SLACK_S = 3.0  # between the bench's clock at the start command and the record's start (whole seconds)


@dataclass(frozen=True)
class RunDone:
    appliance: int
    program: str
    started: float  # Unix time: the start command went out
    finished: float  # Unix time: the simulator said Finished
    sent: float  # monotonic time the start command went out


@dataclass
class Runs:
    done: list[RunDone] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # start commands not answered ok
    unfinished: int = 0  # started, not finished when the wait gave up
    lost_to_broker: int = 0
    # Records that start late because the broker was frozen meanwhile: the
    # bridge's appliance thread waits while its MQTT backlog is full (link.py),
    # and the recorder dates a start when it reads it.
    late_in_freeze: int = 0  # start commands published while a broker fault was open, unanswered
    bad: list[str] = field(default_factory=list)  # what is wrong with the records, one line each
    records: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)


def run_programs(rig: Rig, runs: Runs, faults: Faults, stop: threading.Event) -> None:
    threads = [
        threading.Thread(target=_runner, args=(rig, a, runs, faults, stop), name=f"chaos-run-{a.index}", daemon=True)
        for a in rig.appliances
        if a.runs is not None
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _runner(rig: Rig, a: Appliance, runs: Runs, faults: Faults, stop: threading.Event) -> None:
    assert a.runs is not None
    n = 0
    while not stop.is_set():
        n += 1
        transaction = f"run-{a.index}-{n}"
        started, sent = time.time(), time.monotonic()
        rig.command(a, "activeProgram", {"program": a.runs.name}, transaction, "program start")
        answer = rig.answers.wait(transaction, 15.0)
        if answer is None and faults.broker_touched(sent):
            # hc2mqtt keeps no MQTT session by default (mqtt_session_expiry 0):
            # a command published while the broker is away is lost by design.
            with runs._lock:
                runs.lost_to_broker += 1
            stop.wait(2.0)
            continue
        if answer is None or answer.get("status") != "ok":
            with runs._lock:
                runs.refused.append(f"{a.name} #{n}: {json.dumps(answer)[:160] if answer else 'no answer'}")
            stop.wait(2.0)
            continue
        deadline = time.monotonic() + 60.0
        while a.sim.app.member(names.OPERATION_STATE) != "Finished" and time.monotonic() < deadline:
            time.sleep(0.05)
        with runs._lock:
            if a.sim.app.member(names.OPERATION_STATE) == "Finished":
                runs.done.append(RunDone(a.index, a.runs.name, started, time.time(), sent))
            else:
                runs.unfinished += 1
        # Finished for a moment before the next start, as at home.
        stop.wait(1.0)


def check_runs(rig: Rig, runs: Runs, faults: Faults, timeout: float = 15.0) -> None:
    """Compare the records hc2mqtt kept with the runs the simulator finished; fills `runs.bad`."""
    for a in rig.appliances:
        if a.runs is None:
            continue
        mine = [r for r in runs.done if r.appliance == a.index]
        path = rig.runs_dir / f"{a.name}.jsonl"
        records: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            except FileNotFoundError:
                records = []
            if len(records) >= len(mine) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        runs.records += len(records)
        if len(records) != len(mine):
            runs.bad.append(f"{a.name}: {len(mine)} runs finished, {len(records)} records in {path.name}")
        for done, record in zip(mine, records, strict=False):
            problems = []
            if record.get("program") != done.program:
                problems.append(f"program {record.get('program')!r}")
            if record.get("ended") != "finished":
                problems.append(f"ended {record.get('ended')!r}")
            if not record.get("start_seen") or not record.get("end_seen"):
                problems.append(f"start_seen {record.get('start_seen')}, end_seen {record.get('end_seen')}")
            if record.get("bridge_restarted"):
                problems.append("bridge_restarted")
            start = _unix(record.get("start"))
            late = start is not None and start - done.started > START_SLACK_S
            if late and start is not None and faults.broker_touched(done.sent, done.sent + start - done.started):
                runs.late_in_freeze += 1
            elif start is None or abs(start - done.started) > START_SLACK_S:
                problems.append(f"start {record.get('start')!r}, the command went out at {_iso(done.started)}")
            if problems:
                runs.bad.append(f"{a.name} run at {_iso(done.started)}: " + "; ".join(problems))
        last = rig.watcher.get(f"{a.base}/run")
        if records and (last is None or json.loads(last).get("start") != records[-1].get("start")):
            runs.bad.append(f"{a.name}: T/run holds {last[:80] if last else None!r}, not the last record")


def _unix(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%H:%M:%S")
