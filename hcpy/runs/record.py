"""The run under way, the record of a finished one, and the totals. Pure.

Times are ISO 8601 in UTC; energy in kWh, water in litres. A figure that
cannot be trusted (a reading missing, a counter that went backwards, a start
or end hc2mqtt did not see) is null, and the ``*_reason`` field beside it
says why: never a wrong figure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ..times import iso
from .config import ENERGY, RECORD_UNIT, WATER, RunConfig
from .detector import ENDINGS
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
    duration_s: int
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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: Any) -> RunRecord:
        if not isinstance(obj, dict):
            raise ValueError("a run record must be an object")
        try:
            record = cls(**{f.name: obj[f.name] for f in fields(cls)})
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
    ended_at = max(ended_at, run.started_at)
    energy_end_value = energy_end.value if energy_end is not None and end_seen else None
    water_end_value = water_end.value if water_end is not None and end_seen else None
    return RunRecord(
        appliance=run.appliance,
        program=run.program,
        options=dict(run.options),
        start=iso(run.started_at),
        end=iso(ended_at),
        duration_s=int(round(ended_at - run.started_at)),
        ended=how,
        energy_kwh=figures[ENERGY][0],
        energy_reason=figures[ENERGY][1],
        water_l=figures[WATER][0],
        water_reason=figures[WATER][1],
        energy_forecast_percent=run.energy_forecast_percent,
        water_forecast_percent=run.water_forecast_percent,
        energy_estimate_kwh=estimate(run.energy_forecast_percent, config.energy_full_scale_kwh),
        water_estimate_l=estimate(run.water_forecast_percent, config.water_full_scale_l),
        energy_start_kwh=run.energy_start.value if run.energy_start else None,
        energy_end_kwh=energy_end_value,
        water_start_l=run.water_start.value if run.water_start else None,
        water_end_l=water_end_value,
        start_seen=run.start_seen,
        end_seen=end_seen,
        bridge_restarted=run.bridge_restarted,
    )


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
