"""The run under way, the record of a finished one, and the totals. Pure.

Times are ISO 8601 in UTC; energy in kWh, water in litres. A figure that
cannot be trusted (a reading missing, a counter that went backwards, a start
or end hc2mqtt did not see) is null, and the ``*_reason`` field beside it
says why: never a wrong figure.

Two such figures in particular. A run that ended while hc2mqtt could not
see (hc2mqtt or the connection down) did not end when hc2mqtt noticed: its
end is where the appliance's last remaining-time report put it, when that
lies between its start and the noticing, else its duration is null
(``end_reason`` says which). And the appliance's forecast is for a whole
program: a run aborted or switched off has no estimate (an appliance heats
first, so a share by time would be a wrong figure too), nor has one that
ended unseen without the appliance's report saying it ran to its end.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Any

from ..times import iso
from .config import ENERGY, RECORD_UNIT, WATER, RunConfig
from .detector import ABORTED, ENDINGS, FINISHED, SWITCHED_OFF, UNKNOWN
from .readings import Reading, consumption


def estimate(percent: float | None, full_scale: float | None) -> float | None:
    """What a forecast of `percent` means when 100 % is `full_scale`."""
    if percent is None or full_scale is None:
        return None
    return round(percent / 100 * full_scale, 3)


@dataclass
class ActiveRun:
    """A run under way: what is known at its start (persisted, so that a restart goes on with it)."""

    appliance: str
    program: str
    started_at: float  # Unix time
    options: dict[str, Any] = field(default_factory=dict)
    energy_forecast_percent: float | None = None
    water_forecast_percent: float | None = None
    energy_start: Reading | None = None  # None: not read (yet)
    water_start: Reading | None = None
    start_seen: bool = True  # False: found already running at a (re)connect
    bridge_restarted: bool = False  # hc2mqtt restarted while it ran
    # The appliance's last RemainingProgramTime report: seconds left, and
    # when (Unix time) it said so. Where a run that ended unseen ended.
    remaining_s: float | None = None
    remaining_at: float | None = None

    @property
    def expected_end(self) -> float | None:
        """When the appliance's last report said the run would end (Unix time); None: no report."""
        if self.remaining_s is None or self.remaining_at is None:
            return None
        return self.remaining_at + self.remaining_s

    def start_reading(self, quantity: str) -> Reading | None:
        return self.energy_start if quantity == ENERGY else self.water_start

    def with_reading(self, quantity: str, reading: Reading) -> ActiveRun:
        return replace(self, energy_start=reading) if quantity == ENERGY else replace(self, water_start=reading)

    def to_json(self) -> dict[str, Any]:
        """The persisted form."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for quantity in (ENERGY, WATER):
            reading = out[f"{quantity}_start"]
            out[f"{quantity}_start"] = reading.to_json() if reading is not None else None
        return out

    @classmethod
    def from_json(cls, obj: Any) -> ActiveRun:
        """Back from the persisted form; ValueError when it is not one."""
        if not isinstance(obj, dict):
            raise ValueError("the run under way must be an object")
        if not isinstance(obj.get("appliance"), str) or not isinstance(obj.get("program"), str):
            raise ValueError("the run under way has no appliance or program")
        started = obj.get("started_at")
        if isinstance(started, bool) or not isinstance(started, (int, float)):
            raise ValueError("the run under way has no start time")
        options = obj.get("options") or {}
        if not isinstance(options, dict):
            raise ValueError("the run's options must be an object")
        readings = {}
        for quantity in (ENERGY, WATER):
            raw = obj.get(f"{quantity}_start")
            readings[quantity] = Reading.from_json(raw) if raw is not None else None
        return cls(
            appliance=obj["appliance"],
            program=obj["program"],
            started_at=float(started),
            options=options,
            energy_forecast_percent=_number_or_none(obj.get("energy_forecast_percent")),
            water_forecast_percent=_number_or_none(obj.get("water_forecast_percent")),
            energy_start=readings[ENERGY],
            water_start=readings[WATER],
            start_seen=bool(obj.get("start_seen", True)),
            bridge_restarted=bool(obj.get("bridge_restarted", False)),
            remaining_s=_number_or_none(obj.get("remaining_s")),
            remaining_at=_number_or_none(obj.get("remaining_at")),
        )

    def public(self, config: RunConfig) -> dict[str, Any]:
        """What T/run/active shows."""
        return {
            "appliance": self.appliance,
            "program": self.program,
            "options": self.options,
            "start": iso(self.started_at),
            "energy_forecast_percent": self.energy_forecast_percent,
            "water_forecast_percent": self.water_forecast_percent,
            "energy_estimate_kwh": estimate(self.energy_forecast_percent, config.energy_full_scale_kwh),
            "water_estimate_l": estimate(self.water_forecast_percent, config.water_full_scale_l),
            "energy_start_kwh": self.energy_start.value if self.energy_start else None,
            "water_start_l": self.water_start.value if self.water_start else None,
            "start_seen": self.start_seen,
            "bridge_restarted": self.bridge_restarted,
        }


@dataclass(frozen=True)
class RunRecord:
    """One finished run: what T/run carries and each line of the history file."""

    appliance: str
    program: str
    options: dict[str, Any]
    start: str
    end: str
    duration_s: int | None  # None: it ended while hc2mqtt could not see, nobody knows when (end_reason)
    ended: str  # finished, aborted, switched_off, unknown
    energy_kwh: float | None
    energy_reason: str | None
    water_l: float | None
    water_reason: str | None
    energy_forecast_percent: float | None
    water_forecast_percent: float | None
    energy_estimate_kwh: float | None
    water_estimate_l: float | None
    energy_start_kwh: float | None
    energy_end_kwh: float | None
    water_start_l: float | None
    water_end_l: float | None
    start_seen: bool
    end_seen: bool
    bridge_restarted: bool
    # Added later (a record written before has none: their defaults).
    end_reason: str | None = None  # with end_seen false: where `end` comes from
    energy_estimate_reason: str | None = None  # why there is no estimate although the forecast is known
    water_estimate_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: Any) -> RunRecord:
        if not isinstance(obj, dict):
            raise ValueError("a run record must be an object")
        try:
            record = cls(**{f.name: obj[f.name] if f.name in obj or f.default is MISSING else f.default for f in fields(cls)})
        except KeyError as exc:
            raise ValueError(f"a run record without {exc}") from None
        if record.ended not in ENDINGS:
            raise ValueError(f"a run record that ended {record.ended!r}")
        return record

    def figure(self, quantity: str, source: str | None) -> float | None:
        """The run's energy (kWh) or water (L) from `source` ("meter" or "estimate")."""
        if source == "meter":
            return self.energy_kwh if quantity == ENERGY else self.water_l
        if source == "estimate":
            return self.energy_estimate_kwh if quantity == ENERGY else self.water_estimate_l
        return None


def finish(
    run: ActiveRun,
    ended_at: float,
    how: str,
    config: RunConfig,
    energy_end: Reading | None = None,
    water_end: Reading | None = None,
    end_seen: bool = True,
) -> RunRecord:
    """The record of `run`, ended at `ended_at` as `how`, with the meters' end readings."""
    figures: dict[str, tuple[float | None, str | None]] = {}
    for quantity, end in ((ENERGY, energy_end), (WATER, water_end)):
        start = run.start_reading(quantity)
        if config.meter(quantity) is None and start is None:
            figures[quantity] = (None, f"no {quantity} meter configured")
        elif not run.start_seen:
            figures[quantity] = (None, "hc2mqtt did not see the run start (it was already running when hc2mqtt connected)")
        elif not end_seen:
            figures[quantity] = (
                None,
                "hc2mqtt did not see the run end (it was over when hc2mqtt connected again); "
                "a reading now would count what the meter measured since",
            )
        else:
            if end is None and config.meter(quantity) is None:
                end = Reading.missing(f"no {quantity} meter configured any more")
            figures[quantity] = consumption(start, end, RECORD_UNIT[quantity])
    ended_at, duration, end_reason = _end(run, max(ended_at, run.started_at), end_seen)
    # The forecast stands for a run that went to its end: seen finished, or
    # unseen with the appliance's own report placing its end before it was noticed.
    to_its_end = how == FINISHED or (how == UNKNOWN and not end_seen and duration is not None)
    estimates: dict[str, tuple[float | None, str | None]] = {}
    for quantity, percent, full_scale in (
        (ENERGY, run.energy_forecast_percent, config.energy_full_scale_kwh),
        (WATER, run.water_forecast_percent, config.water_full_scale_l),
    ):
        value = estimate(percent, full_scale)
        if value is None or to_its_end:
            estimates[quantity] = (value, None)
        else:
            estimates[quantity] = (None, _no_estimate(how, duration))
    energy_end_value = energy_end.value if energy_end is not None and end_seen else None
    water_end_value = water_end.value if water_end is not None and end_seen else None
    return RunRecord(
        appliance=run.appliance,
        program=run.program,
        options=dict(run.options),
        start=iso(run.started_at),
        end=iso(ended_at),
        duration_s=duration,
        ended=how,
        energy_kwh=figures[ENERGY][0],
        energy_reason=figures[ENERGY][1],
        water_l=figures[WATER][0],
        water_reason=figures[WATER][1],
        energy_forecast_percent=run.energy_forecast_percent,
        water_forecast_percent=run.water_forecast_percent,
        energy_estimate_kwh=estimates[ENERGY][0],
        water_estimate_l=estimates[WATER][0],
        energy_start_kwh=run.energy_start.value if run.energy_start else None,
        energy_end_kwh=energy_end_value,
        water_start_l=run.water_start.value if run.water_start else None,
        water_end_l=water_end_value,
        start_seen=run.start_seen,
        end_seen=end_seen,
        bridge_restarted=run.bridge_restarted,
        end_reason=end_reason,
        energy_estimate_reason=estimates[ENERGY][1],
        water_estimate_reason=estimates[WATER][1],
    )


def _end(run: ActiveRun, noticed: float, end_seen: bool) -> tuple[float, int | None, str | None]:
    """(when `run` ended, its duration in s or None, where that end comes from) for a run noticed over at `noticed`."""
    if end_seen:
        return noticed, int(round(noticed - run.started_at)), None
    expected = run.expected_end
    unseen = "it ended while hc2mqtt could not see it"
    if expected is not None and run.started_at <= expected <= noticed:
        said = f"{_seconds(run.remaining_s)} remaining at {iso(run.remaining_at)}"
        return expected, int(round(expected - run.started_at)), f"{unseen}: the end is where the appliance's last report ({said}) put it"
    why = "the appliance reported no remaining time" if expected is None else f"the appliance's last report put its end at {iso(expected)}"
    return noticed, None, f"{unseen}, at the latest when hc2mqtt noticed (the end given); how long it ran is not known ({why})"


def _no_estimate(how: str, duration: int | None) -> str:
    """Why a run that did not go to its end has no estimate from the appliance's forecast."""
    whole = "the appliance's forecast is for the whole program, and a program does not use it evenly over its time"
    if how in (ABORTED, SWITCHED_OFF):
        after = f" after {_seconds(duration)}" if duration is not None else ""
        return f"the run was {'aborted' if how == ABORTED else 'switched off'}{after}: {whole}"
    return f"it is not known whether the run went to its end: {whole}"


def _seconds(value: float | None) -> str:
    """A duration as a person reads it: 22 s, 42 min, 2 h 05 min."""
    if value is None:
        return "an unknown time"
    total = int(round(value))
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min"
    return f"{total // 3600} h {total % 3600 // 60:02d} min"


@dataclass(frozen=True)
class Totals:
    """Everything recorded for one appliance so far (what T/run/totals carries)."""

    energy_kwh: float = 0.0
    water_l: float = 0.0
    runs: int = 0
    energy_runs: int = 0  # runs that gave an energy figure
    water_runs: int = 0
    since: str | None = None  # when counting began

    def add(self, record: RunRecord, config: RunConfig) -> Totals:
        """These totals with `record` counted, each quantity from where `config` takes it."""
        energy = record.figure(ENERGY, config.source(ENERGY))
        water = record.figure(WATER, config.source(WATER))
        return Totals(
            energy_kwh=round(self.energy_kwh + (energy or 0.0), 3),
            water_l=round(self.water_l + (water or 0.0), 3),
            runs=self.runs + 1,
            energy_runs=self.energy_runs + (energy is not None),
            water_runs=self.water_runs + (water is not None),
            since=self.since or record.start,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def public(self, config: RunConfig) -> dict[str, Any]:
        return {**self.to_json(), "energy_source": config.source(ENERGY), "water_source": config.source(WATER)}

    @classmethod
    def from_json(cls, obj: Any) -> Totals:
        if not isinstance(obj, dict):
            raise ValueError("the totals must be an object")
        values = {}
        for f in fields(cls):
            value = obj.get(f.name, f.default)
            if f.name == "since":
                if value is not None and not isinstance(value, str):
                    raise ValueError("the totals' since must be a time")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"the totals' {f.name} must be a number of 0 or more")
            values[f.name] = value
        return cls(**values)


def _number_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value
