"""A bar chart as inline SVG, drawn on the server: one bar per run. Pure.

No script and no style attributes (the Content-Security-Policy allows
neither inline): sizes are SVG attributes, colours come from console.css
through the classes `bar`, `estimate` (a figure the appliance forecast, not
a meter's) and `missing` (no figure).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .html import esc

WIDTH, HEIGHT = 480, 160
TOP, BOTTOM, LEFT, RIGHT = 14, 22, 40, 6


@dataclass(frozen=True)
class Bar:
    label: str  # shown under the bar (short)
    title: str  # shown on hover
    value: float | None
    estimate: bool = False


def _nice(top: float) -> float:
    """A round upper bound for the axis, at or above `top`."""
    if top <= 0:
        return 1.0
    magnitude: float = 10 ** math.floor(math.log10(top))
    return next(step * magnitude for step in (1, 2, 2.5, 5, 10) if step * magnitude >= top)


def bar_chart(title: str, unit: str, bars: list[Bar], element_id: str) -> str:
    """The chart of `bars`, oldest left; its axis goes from 0 to a round number above the largest."""
    values = [b.value for b in bars if b.value is not None]
    top = _nice(max(values) if values else 0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(bars), 1)
    width = max(1.0, slot * 0.7)
    label_every = max(1, round(len(bars) / 8))  # at most about eight labels
    parts = [
        f'<svg id="{esc(element_id)}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-label="{esc(title)}" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{esc(title)}</title>",
        f'<text class="axis" x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">{top:g}</text>',
        f'<text class="axis" x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end">0</text>',
        f'<text class="axis unit" x="{LEFT - 4}" y="{TOP + plot_h / 2:.1f}" text-anchor="end">{esc(unit)}</text>',
        f'<line class="grid" x1="{LEFT}" y1="{TOP}" x2="{WIDTH - RIGHT}" y2="{TOP}"/>',
        f'<line class="baseline" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}"/>',
    ]
    for index, bar in enumerate(bars):
        x = LEFT + index * slot + (slot - width) / 2
        if bar.value is None:
            shape = (
                f'<rect class="missing" x="{x:.1f}" y="{TOP + plot_h - 2}" width="{width:.1f}" height="2">'
                f"<title>{esc(bar.title)}: no figure</title></rect>"
            )
        else:
            height = max(0.0, bar.value) / top * plot_h
            kind = "bar estimate" if bar.estimate else "bar"
            note = " (estimate)" if bar.estimate else ""
            shape = (
                f'<rect class="{kind}" x="{x:.1f}" y="{TOP + plot_h - height:.1f}" width="{width:.1f}" height="{height:.1f}" '
                f'data-value="{bar.value:g}"><title>{esc(bar.title)}: {bar.value:g} {esc(unit)}{note}</title></rect>'
            )
        parts.append(shape)
        if index % label_every == 0:
            parts.append(
                f'<text class="axis" x="{x + width / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle">{esc(bar.label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
