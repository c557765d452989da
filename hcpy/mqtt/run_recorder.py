"""One appliance's runs, from its state changes to the records: `RunRecorder`.

The bridge hands it the appliance's changes (`changed`, on the appliance's
connection thread), the whole state at each connect (`look`), the messages
on MQTT meter topics (`meter_message`, on paho's thread), and asks it to
republish its retained topics (`republish`). Detecting a run and reading the
MQTT meters' latest values happen right there; everything slow (asking HTTP
meters, writing files, publishing the record) happens in order on the
recorder's own worker thread.

A finished run stays in the state file as the run under way until its
record is in the history (`_ending`): whatever moment hc2mqtt is killed at,
the run is recorded once (`RunStore.load` finds one that was appended but
not yet taken out of the state file). A runs folder that cannot be written
(a full disk, a read-only card) is said once per cause an hour and then
counted (`Throttle`); that writing works again is said too.
"""

from __future__ import annotations

import errno
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..appliance import names
from ..appliance.entry import ApplianceEntry
from ..appliance.model import Feature
from ..appliance.state import ApplianceState, Change
from ..logs import Throttle
from ..runs.config import QUANTITIES, MeterSpec, RunConfig, parse_run_config
from ..runs.detector import RunDetector, RunEnded, RunEvent, RunResumed, RunStarted, remaining_time
from ..runs.meters import MqttMeters, read_http, session
from ..runs.readings import Reading
from ..runs.record import ActiveRun, RunRecord, Totals, finish
from ..runs.store import RunStore
from . import run_topics as publish
from .outgoing import Outgoing
from .topics import Topics

if TYPE_CHECKING:
    import requests

ADDONS_KEY = "addons"  # homeconnect-hcpy's block in an appliance's devices.json entry
# How far the appliance's remaining time may move the run's expected end
# before the state file is rewritten for it: a report a minute would be a
# write a minute on a Pi's SD card, yet a run that ends unseen needs it.
REMAINING_MOVE_S = 120.0
# A runs folder that cannot be written is said once in this window (then counted).
DISK_WINDOW_S = 3600.0


class RunRecorder:
    def __init__(
        self,
        entry: ApplianceEntry,
        topics: Topics,
        runs_dir: Path,
        publish: Callable[[list[Outgoing]], Any],
        *,
        name_of: Callable[[Feature], str] | None = None,
        log: logging.Logger | None = None,
        read_http: Callable[[MeterSpec], Reading] | None = None,
        store: RunStore | None = None,
    ):
        self.name = entry.name
        self.topics = topics
        self.log = log or logging.getLogger(f"hcpy.runs.{entry.name}")
        self._publish = publish
        self.clock: Callable[[], float] = time.time  # Unix time of a run's start and end
        parsed = parse_run_config(entry.name, entry.options_block, entry.extra.get(ADDONS_KEY))
        for warning in parsed.warnings:
            self.log.warning("%s", warning)
        for note in parsed.notes:
            self.log.debug("%s", note)
        self.config: RunConfig = parsed.config
        self.mqtt = MqttMeters(self.config.meters)
        self._read_http = read_http  # None: ask HTTP meters with `meters.read_http`
        self._requests: requests.Session | None = None
        self._disk = Throttle(self.log, burst=1, window=DISK_WINDOW_S)
        self._disk_failing: set[str] = set()  # what could not be written (said again once it works)
        self.store = store or RunStore(runs_dir, topics.appliance)
        stored = self.store.load()
        for problem in stored.problems:
            self.log.warning("%s: %s", self.name, problem)
        self._active: ActiveRun | None = stored.active
        self._last: RunRecord | None = stored.last
        self._totals: Totals = stored.totals
        if stored.recorded is not None:
            # hc2mqtt stopped after adding the run to the history and before
            # rewriting the state file: it is the last run, recorded once.
            self._last = stored.recorded
            self._totals = self._totals.add(stored.recorded, self.config)
            self.log.info("%s: the run of %s was recorded just before hc2mqtt stopped; it is kept once", self.name, stored.recorded.program)
        # Runs that ended and whose record is not in the history yet: the
        # state file keeps the first as the run under way meanwhile.
        self._ending: list[ActiveRun] = []
        if stored.active is not None:
            # Whether it still runs or not, hc2mqtt was down during this run; the record says so.
            stored.active.bridge_restarted = True
            self.log.info("%s: a run of %s was under way when hc2mqtt stopped; it is picked up", self.name, stored.active.program)
        self.detector = RunDetector(entry.profile, name_of, stored.active.program if stored.active else None)
        remaining = entry.profile.by_name(names.REMAINING_PROGRAM_TIME)
        self._remaining_uid = remaining.uid if remaining is not None else None
        # Guards _active, _last, _totals and publishing them (the worker, the
        # appliance's thread and paho's all publish): what goes out last is current.
        self._lock = threading.RLock()
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._stopped = False
        if stored.recorded is not None:
            self._submit(self._save)  # the state file as it would have been written

    @property
    def meter_topics(self) -> list[str]:
        return self.mqtt.topics

    # -- in (the appliance's thread; paho's for meter messages) -----------------------------

    def look(self, state: ApplianceState) -> None:
        """The whole state as found at a (re)connect of the appliance."""
        self._handle(self.detector.observe(state, None))
        if self._active is not None and self._remaining_uid is not None and self._remaining_uid in state.values:
            self._remaining(state.values[self._remaining_uid])  # what it has left now: it goes on running

    def changed(self, state: ApplianceState, changes: list[Change]) -> None:
        events = self.detector.observe(state, changes)
        if events:
            self._handle(events)
        if self._active is not None and self._remaining_uid is not None:
            # Every value an appliance reports passes here: a plain loop.
            uid = self._remaining_uid
            for change in changes:
                if change.feature.uid == uid:
                    self._remaining(change.value)
                    break

    def _remaining(self, value: Any) -> None:
        """The appliance says how long its run has left: where the run ends should hc2mqtt not see it end."""
        remaining = remaining_time(value)
        if remaining is None:
            return
        now = self.clock()
        with self._lock:
            run = self._active
            if run is None:
                return
            before = run.expected_end
            run.remaining_s, run.remaining_at = remaining, now
            moved = before is None or abs(now + remaining - before) >= REMAINING_MOVE_S
        if moved:
            self._submit(self._save)

    def meter_message(self, topic: str, body: bytes) -> None:
        self.mqtt.feed(topic, body)

    def _handle(self, events: list[RunEvent]) -> None:
        for event in events:
            try:
                if isinstance(event, RunStarted):
                    self._started(event)
                elif isinstance(event, RunResumed):
                    self._resumed()
                elif isinstance(event, RunEnded):
                    self._ended(event)
            except Exception:  # noqa: BLE001 - a bug here must not cost the appliance its connection
                self.log.exception("%s: recording a run failed", self.name)

    def _started(self, event: RunStarted) -> None:
        now = self.clock()
        run = ActiveRun(
            appliance=self.name,
            program=event.program,
            started_at=now,
            options=event.options,
            energy_forecast_percent=event.energy_forecast,
            water_forecast_percent=event.water_forecast,
            start_seen=event.seen,
            remaining_s=event.remaining_s,
            remaining_at=now if event.remaining_s is not None else None,
        )
        if event.seen:
            run = self._mqtt_readings(run)
            self.log.info("%s: a run of %s started", self.name, event.program)
        else:
            self.log.info("%s: a run of %s was under way when hc2mqtt connected; recorded without meter figures", self.name, event.program)
        with self._lock:
            self._active = run
        self._submit(lambda: self._read_start(run))

    def _resumed(self) -> None:
        with self._lock:
            if self._active is None:
                return
            self.log.info("%s: the run of %s goes on after hc2mqtt's restart", self.name, self._active.program)
        self._submit(self._save_active)

    def _ended(self, event: RunEnded) -> None:
        ended_at = self.clock()
        with self._lock:
            run, self._active = self._active, None
            if run is None:
                return
            self._ending.append(run)  # kept in the state file until its record is in the history
        ends: dict[str, Reading | None] = {}
        for quantity in QUANTITIES:
            meter = self.config.meter(quantity)
            if meter is not None and meter.topic is not None and event.seen:
                ends[quantity] = self._checked(self.mqtt.read(meter), meter, "end")
        self._submit(lambda: self._record(run, ended_at, event, ends))

    def _mqtt_readings(self, run: ActiveRun) -> ActiveRun:
        for quantity in QUANTITIES:
            meter = self.config.meter(quantity)
            if meter is not None and meter.topic is not None:
                run = run.with_reading(quantity, self._checked(self.mqtt.read(meter), meter, "start"))
        return run

    # -- the worker ------------------------------------------------------------------------

    def _read_start(self, run: ActiveRun) -> None:
        self._save()  # before asking slow meters: a restart meanwhile still knows the run
        if run.start_seen:
            readings = {q: self._http(m, "start") for q in QUANTITIES if (m := self.config.meter(q)) is not None and m.url}
            with self._lock:
                for quantity, found in readings.items():
                    setattr(run, f"{quantity}_start", found)
        self._save_active()

    def _save_active(self) -> None:
        with self._lock:
            kept = self._snapshot()
            self._publish(self._active_messages())
        self._write(kept)

    def _record(self, run: ActiveRun, ended_at: float, event: RunEnded, ends: dict[str, Reading | None]) -> None:
        if event.seen:
            for quantity in QUANTITIES:
                meter = self.config.meter(quantity)
                if meter is not None and meter.url:
                    ends[quantity] = self._http(meter, "end")
        record = finish(run, ended_at, event.how, self.config, ends.get("energy"), ends.get("water"), end_seen=event.seen)
        try:
            self.store.append(record)
        except OSError as exc:
            self._disk_error("history", "could not add the run to %s: %s; the record goes out on MQTT only",
                             self.store.history_path, exc)  # fmt: skip
        else:
            self._disk_works("history", self.store.history_path)
        with self._lock:
            self._ending = [ending for ending in self._ending if ending is not run]
            self._last = record
            self._totals = self._totals.add(record, self.config)
            kept = self._snapshot()
            totals = self._totals.public(self.config)
            messages = publish.finished_messages(self.topics.base, record.to_json(), totals)
            if self._active is not None:  # the next run began before this one was written
                messages[-1] = self._active_messages()[-1]
            self._publish(messages)
        self._write(kept)
        self.log.info(
            "%s: the run of %s %s after %s: %s, %s",
            self.name, record.program, record.ended,
            f"{record.duration_s} s" if record.duration_s is not None else "an unknown time (it ended while hc2mqtt could not see)",
            _figure(record.energy_kwh, "kWh", record.energy_reason), _figure(record.water_l, "L", record.water_reason),
        )  # fmt: skip

    def _http(self, meter: MeterSpec, when: str) -> Reading:
        try:
            found = self._read_http(meter) if self._read_http is not None else read_http(meter, self._session())
        except Exception as exc:  # noqa: BLE001 - a meter must never cost the run its record
            self.log.debug("%s: asking %s failed", self.name, meter.where, exc_info=True)
            found = Reading.missing(f"could not be asked ({exc.__class__.__name__})")
        return self._checked(found, meter, when)

    def _session(self) -> requests.Session:
        """The worker's HTTP session, made on first use."""
        if self._requests is None:
            self._requests = session()
        return self._requests

    def _checked(self, found: Reading, meter: MeterSpec, when: str) -> Reading:
        """The reading; a missing one is said once, with what to check."""
        if found.value is None:
            self.log.warning(
                "%s: %s meter %s (%s) %s at the %s of the run; %s (the run is recorded without %s)",
                self.name, meter.quantity, meter.where, meter.key, found.reason, when,
                found.hint or "check the meter", meter.quantity,
            )  # fmt: skip
        return found

    def _save(self) -> None:
        self._write(self._snapshot())

    def _snapshot(self) -> str:
        """What the store keeps, as it stands (taken under the lock, written without it).

        A run that ended but is not in the history yet is kept as the run
        under way: killed now, hc2mqtt finds it at its next start.
        """
        with self._lock:
            active = self._active if self._active is not None else (self._ending[0] if self._ending else None)
            return self.store.text(active, self._last, self._totals)

    def _write(self, text: str) -> None:
        """Keep a snapshot: only the worker writes, so snapshots land in the order they were taken."""
        try:
            self.store.write(text)
        except OSError as exc:
            self._disk_error("state", "could not keep the runs in %s: %s", self.store.state_path, exc)
        else:
            self._disk_works("state", self.store.state_path)

    def _disk_error(self, what: str, message: str, path: Path, exc: OSError) -> None:
        """A write to the runs folder failed: said once per kind and cause an hour, then counted."""
        self._disk_failing.add(what)
        hint = _DISK_HINTS.get(exc.errno or 0, "")
        # One kind per cause, not per file: a full disk fails the state file and the history alike.
        self._disk.log_line(logging.ERROR, ("runs folder", exc.errno), "%s: " + message + "%s", self.name, path, _reason(exc), hint)

    def _disk_works(self, what: str, path: Path) -> None:
        if what in self._disk_failing:
            self._disk_failing.discard(what)
            self.log.info("%s: %s can be written again", self.name, path)

    def _submit(self, job: Callable[[], None]) -> None:
        if self._stopped:
            return
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name=f"runs-{self.name}", daemon=True)
            self._worker.start()
        self._jobs.put(job)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job()
            except Exception:  # noqa: BLE001 - the worker outlives any bug
                self.log.exception("%s: recording a run failed", self.name)

    def stop(self, timeout: float = 0.5) -> None:
        """Finish what is queued, within `timeout`; later events are not recorded."""
        self._stopped = True
        if self._worker is not None:
            self._jobs.put(None)
            self._worker.join(timeout)

    # -- out ------------------------------------------------------------------------------

    def _active_messages(self) -> list[Outgoing]:
        active = self._active.public(self.config) if self._active is not None else None
        return [Outgoing(publish.run_topic(self.topics.base, publish.ACTIVE), publish.payload(active) if active else "")]

    def republish(self, state: ApplianceState, entities: Callable[[RunConfig], list[Outgoing]] | None = None) -> None:
        """The retained run topics as they stand; with `entities` (discovery is on), the entities' configs first."""
        with self._lock:
            last = self._last.to_json() if self._last is not None else None
            active = self._active.public(self.config) if self._active is not None else None
            messages = publish.state_messages(self.topics.base, last, active, self._totals.public(self.config))
            if entities is not None:
                messages = entities(self.config) + messages
            self._publish(messages)


_DISK_HINTS = {
    errno.ENOSPC: " (free space on that disk: runs go on being published on MQTT meanwhile)",
    errno.EFBIG: " (the file may grow no larger here: free space or lift the file size limit)",
    errno.EDQUOT: " (the disk quota is used up: free space)",
    errno.EROFS: " (that file system is read-only: a Raspberry Pi's SD card turns read-only when it fails; check it)",
    errno.EACCES: " (hc2mqtt may not write there: check the folder's owner and mode)",
    errno.EPERM: " (hc2mqtt may not write there: check the folder's owner and mode)",
    errno.EEXIST: " (something that is no folder has the runs folder's name: move it away)",
    errno.ENOTDIR: " (something that is no folder has the runs folder's name: move it away)",
}


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _figure(value: float | None, unit: str, reason: str | None) -> str:
    return f"{value:g} {unit}" if value is not None else f"no {'energy' if unit == 'kWh' else 'water'} figure ({reason})"
