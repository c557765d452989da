"""Figures made from what the soak recorded: percentiles, log statistics, which updates were promised. Pure."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

TRACEBACK = b"Traceback (most recent call last)"
# hc2mqtt's log format: "<date> <time> LEVEL logger: message"
_LEVEL = re.compile(rb"^\S+ \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (share 0.99: p99); NaN without values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


@dataclass
class LogStats:
    size: int = 0  # bytes, debug included
    lines: int = 0
    tracebacks: int = 0  # at any level: the bridge runs with --debug
    info_bytes: int = 0  # lines at INFO or above, and the lines that continue them
    info_lines: int = 0
    longest_info_line: int = 0
    warnings: int = 0
    errors: int = 0

    @classmethod
    def of(cls, text: bytes) -> LogStats:
        stats = cls(size=len(text), tracebacks=text.count(TRACEBACK))
        shown = False  # whether the current record is at INFO or above
        for line in text.splitlines():
            stats.lines += 1
            level = _LEVEL.match(line)
            if level:
                shown = level.group(1) != b"DEBUG"
                stats.warnings += level.group(1) == b"WARNING"
                stats.errors += level.group(1) in (b"ERROR", b"CRITICAL")
            if shown:
                stats.info_lines += 1
                stats.info_bytes += len(line) + 1
                stats.longest_info_line = max(stats.longest_info_line, len(line))
        return stats


@dataclass(frozen=True)
class Window:
    """A stretch of time during which an appliance's updates may be lost by design."""

    appliance: int
    start: float
    end: float


def promised(appliance: int, at: float, windows: list[Window]) -> bool:
    """Whether an update set at `at` must reach MQTT: it falls in no window of its appliance."""
    return not any(w.appliance == appliance and w.start <= at <= w.end for w in windows)


def lost_updates(
    sent: list[tuple[int, int, float]], seen: dict[int, set[int]], windows: list[Window], until: float
) -> tuple[int, int, list[tuple[int, int, float]]]:
    """(promised, lost, examples) of the updates `sent` as (appliance, value, when) up to `until`."""
    checked, lost = 0, []
    for appliance, value, at in sent:
        if at > until or not promised(appliance, at, windows):
            continue
        checked += 1
        if value not in seen.get(appliance, ()):
            lost.append((appliance, value, at))
    return checked, len(lost), lost[:5]
