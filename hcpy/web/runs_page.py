"""The runs page: each finished run of an appliance, and a chart of its energy and water. Pure.

The records are the run recorder's history (`RunStore.history()`, one
`RunRecord.to_json()` each). A run's figure is the meter's when there was
one, else the appliance's own forecast (marked as an estimate), else none.
"""

from __future__ import annotations

from typing import Any

from .chart import Bar, bar_chart
from .html import duration, esc

CHARTED = 60  # the latest runs in the charts (the table has them all)


def figure(record: dict[str, Any], quantity: str) -> tuple[float | None, bool]:
    """(the run's energy in kWh or water in litres, whether it is an estimate)."""
    measured_key, estimate_key = ("energy_kwh", "energy_estimate_kwh") if quantity == "energy" else ("water_l", "water_estimate_l")
    measured = _number(record.get(measured_key))
    if measured is not None:
        return measured, False
    estimate = _number(record.get(estimate_key))
    return (estimate, True) if estimate is not None else (None, False)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _short(program: Any) -> str:
    return str(program or "–").rsplit(".", 1)[-1]


def _why_none(record: dict[str, Any], quantity: str) -> str | None:
    """Why a run has no figure: no meter reading, and (an aborted run, say) no estimate either."""
    reasons = [record.get(f"{quantity}_reason"), record.get(f"{quantity}_estimate_reason")]
    return "; ".join(str(r) for r in reasons if r) or None


def _shown(value: float | None, estimate: bool, reason: Any) -> str:
    if value is None:
        return f'<span class="missing" title="{esc(reason or "no figure")}">–</span>'
    mark = ' <abbr class="estimate" title="the appliance\'s forecast, no meter reading">est.</abbr>' if estimate else ""
    return f"{value:g}{mark}"


def _day(iso: Any) -> str:
    """A run's start as a bar's label: MM-DD HH:MM (UTC, as recorded), so that runs of one day differ."""
    text = str(iso or "")
    return text[5:16].replace("T", " ") if len(text) >= 16 else text


def runs_page(
    name: str, records: list[dict[str, Any]], recorded: bool, problem: str | None = None, skipped: int = 0
) -> str:
    """The runs page; `skipped`: lines of the history that were no whole record (a write cut short), left out."""
    if problem is not None:
        return f'<h1>Runs of {esc(name)}</h1><p class="problem" id="runs-problem">{esc(problem)}</p>'
    if not recorded:
        return (
            f"<h1>Runs of {esc(name)}</h1>"
            '<p class="note" id="runs-off">Runs are not recorded for this appliance (hc2mqtt keeps them in '
            "config/runs/ beside devices.json).</p>"
        )
    if not records:
        return f'<h1>Runs of {esc(name)}</h1><p class="note" id="runs-empty">No run has finished yet.</p>'
    charted = records[-CHARTED:]
    energy, water = [], []
    for record in charted:
        title = f"{_short(record.get('program'))} {str(record.get('start') or '')[:16].replace('T', ' ')}"
        value, estimate = figure(record, "energy")
        energy.append(Bar(_day(record.get("start")), title, value, estimate))
        value, estimate = figure(record, "water")
        water.append(Bar(_day(record.get("start")), title, value, estimate))
    total_energy = sum(v for r in records if (v := figure(r, "energy")[0]) is not None)
    total_water = sum(v for r in records if (v := figure(r, "water")[0]) is not None)
    rows = []
    for index, record in reversed(list(enumerate(records))):
        e_value, e_estimate = figure(record, "energy")
        w_value, w_estimate = figure(record, "water")
        rows.append(
            f'<tr data-run="{index}">'
            f'<td class="program" title="{esc(record.get("program") or "")}">{esc(_short(record.get("program")))}</td>'
            f'<td>{esc(str(record.get("start") or "–").replace("T", " ")[:19])}</td>'
            f'<td>{esc(duration(_number(record.get("duration_s"))))}</td>'
            f'<td>{esc(record.get("ended") or "–")}</td>'
            f'<td class="energy" data-quantity="energy">{_shown(e_value, e_estimate, _why_none(record, "energy"))}</td>'
            f'<td class="water" data-quantity="water">{_shown(w_value, w_estimate, _why_none(record, "water"))}</td>'
            "</tr>"
        )
    return (
        f"<h1>Runs of {esc(name)}</h1>"
        f'<p class="note" id="runs-summary">{len(records)} runs: {total_energy:g} kWh and {total_water:g} L in all '
        "(meter readings where there were meters, else the appliance's forecast).</p>"
        + (
            f'<p class="problem" id="runs-skipped">{skipped} damaged line{"s" * (skipped != 1)} of the history left '
            "out (a write cut short, by a full disk or a power cut); every whole run is shown.</p>"
            if skipped
            else ""
        )
        +
        '<section class="card charts">'
        f'<h2>Energy per run (kWh)</h2>{bar_chart(f"Energy per run of {name}", "kWh", energy, "energy-chart")}'
        f'<h2>Water per run (L)</h2>{bar_chart(f"Water per run of {name}", "L", water, "water-chart")}'
        '<p class="note legend">Solid: a meter\'s reading; light: the appliance\'s forecast.</p>'
        "</section>"
        '<div class="scroll"><table class="runs" id="runs-table"><thead><tr><th>Program</th><th>Start (UTC)</th>'
        "<th>Duration</th><th>Ended</th><th>Energy (kWh)</th><th>Water (L)</th></tr></thead>"
        f'<tbody>{"".join(rows)}</tbody></table></div>'
    )
