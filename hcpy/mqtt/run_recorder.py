"""One appliance's runs, from its state changes to the records: `RunRecorder`.

The bridge hands it the appliance's changes (`changed`, on the appliance's
connection thread), the whole state at each connect (`look`), the messages
on MQTT meter topics (`meter_message`, on paho's thread), and asks it to
republish its retained topics (`republish`). Detecting a run and reading the
MQTT meters' latest values happen right there; everything slow (asking HTTP
meters, writing files, publishing the record) happens in order on the
recorder's own worker thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..appliance.entry import ApplianceEntry
from ..appliance.model import Feature
from ..appliance.state import ApplianceState, Change
from ..runs.config import QUANTITIES, MeterSpec, RunConfig, parse_run_config
from ..runs.detector import RunDetector, RunEnded, RunEvent, RunResumed, RunStarted
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
        self.store = store or RunStore(runs_dir, topics.appliance)
        stored = self.store.load()
        for problem in stored.problems:
            self.log.warning("%s: %s", self.name, problem)
        self._active: ActiveRun | None = stored.active
        self._last: RunRecord | None = stored.last
        self._totals: Totals = stored.totals
        if stored.active is not None:
            # Whether it still runs or not, hc2mqtt was down during this run; the record says so.
            stored.active.bridge_restarted = True
            self.log.info("%s: a run of %s was under way when hc2mqtt stopped; it is picked up", self.name, stored.active.program)
        self.detector = RunDetector(entry.profile, name_of, stored.active.program if stored.active else None)
        # Guards _active, _last, _totals and publishing them (the worker, the
        # appliance's thread and paho's all publish): what goes out last is current.
        self._lock = threading.RLock()
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._stopped = False

    @property
    def meter_topics(self) -> list[str]:
        return self.mqtt.topics

    # -- in (the appliance's thread; paho's for meter messages) -----------------------------

    def look(self, state: ApplianceState) -> None:
        """The whole state as found at a (re)connect of the appliance."""
        self._handle(self.detector.observe(state, None))

    def changed(self, state: ApplianceState, changes: list[Change]) -> None:
        events = self.detector.observe(state, changes)
        if events:
            self._handle(events)

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
        run = ActiveRun(
            appliance=self.name,
            program=event.program,
            started_at=self.clock(),
            options=event.options,
            energy_forecast_percent=event.energy_forecast,
            water_forecast_percent=event.water_forecast,
            start_seen=event.seen,
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
            self.log.error("%s: could not add the run to %s: %s", self.name, self.store.history_path, exc)
        with self._lock:
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
            "%s: the run of %s %s after %d s: %s, %s",
            self.name, record.program, record.ended, record.duration_s,
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
        """What the store keeps, as it stands (taken under the lock, written without it)."""
        with self._lock:
            return self.store.text(self._active, self._last, self._totals)

    def _write(self, text: str) -> None:
        """Keep a snapshot: only the worker writes, so snapshots land in the order they were taken."""
        try:
            self.store.write(text)
        except OSError as exc:
            self.log.error("%s: could not keep the runs in %s: %s", self.name, self.store.state_path, exc)

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


def _figure(value: float | None, unit: str, reason: str | None) -> str:
    return f"{value:g} {unit}" if value is not None else f"no {'energy' if unit == 'kWh' else 'water'} figure ({reason})"
