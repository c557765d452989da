"""The soak's targets: one table, and the verdict of a figure against its limit. Pure.

Every target is here and nowhere else: a name, what its figure counts, the
limit and which side of it passes. A figure that could not be measured
(None or NaN: the phase did not run, or nothing was there to measure) is a
miss, never a pass: a soak that measured nothing has shown nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    key: str
    figure: str  # what is measured, as the report names it
    limit: float
    unit: str = ""
    at_most: bool = True  # False: the figure must reach the limit

    @property
    def shown(self) -> str:
        sign = "<=" if self.at_most else ">="
        return f"{sign} {self.limit:g}{(' ' + self.unit) if self.unit else ''}"

    def passes(self, figure: float | None) -> bool:
        if figure is None or math.isnan(figure):
            return False
        return figure <= self.limit if self.at_most else figure >= self.limit


CONVERGENCE_S = 60.0  # issue 9: the retained state is right again within a minute of any fault
LINE_BYTES = 2048

# The kinds of fault, each with its own convergence target (faults.KINDS has the same names).
FAULT_KINDS = ("drop", "half-open", "garbage", "bad MAC", "broker kill -9", "broker SIGSTOP")

TARGETS: tuple[Target, ...] = (
    Target("lost_final", "changed values wrong on the broker at the end", 0),
    Target("topics_gone", "state topics retained at start-up, gone at the end", 0),
    Target("lost_updates", "updates lost where every update is promised", 0),
    Target("updates_promised", "updates checked one by one", 100, at_most=False),
    *(Target(f"converge:{kind}", f"convergence after {kind} (worst)", CONVERGENCE_S, "s") for kind in FAULT_KINDS),
    Target("faults_unconverged", "faults whose state never converged", 0),
    Target("lwt_offline", "appliances not online at the end", 0),
    Target("commands_unanswered", "hostile commands without an answer carrying their transaction", 0),
    Target("answers_foreign", "answers whose transaction no command sent", 0),
    Target("commands_reached", "hostile commands that reached an appliance", 0),
    Target("answers_500", "answers with code 500", 0),
    Target("answer_bytes", "longest answer on T/response", LINE_BYTES, "B"),
    Target("tracebacks", "tracebacks in stdout/stderr (bridge at --debug)", 0),
    Target("log_line_bytes", "longest log line at INFO or above", LINE_BYTES, "B"),
    Target("log_mb_commands", "log at INFO or above for the hostile commands", 1.0, "MB"),
    Target("hostile_reconnects", "reconnects caused by hostile appliance messages", 0),
    Target("value_bytes", "longest value the bridge published", LINE_BYTES, "B"),
    Target("big_back", "back online, reconnecting with the 4 MB value held", 1, at_most=False),
    Target("empty_lost", "empty string values whose retained topic went", 0),
    Target("big_unparsed", "big NOTIFYs whose values never reached MQTT", 0),
    Target("latency_p99", "others' value latency p99 during big NOTIFYs", 0.1, "s"),
    Target("latency_probes", "latency probes during big NOTIFYs", 200, at_most=False),
    Target("rss_delta", "RSS growth over the batteries", 10.0, "MB"),
    Target("secrets", "keys/IVs found (MQTT '#', log, console pages, /metrics)", 0),
    Target("pages_read", "console pages and /metrics read for the search", 5, at_most=False),
    Target("discovery_configs", "discovery configs seen on '#'", 1, at_most=False),
    Target("runs_bad", "program runs without one right record", 0),
    Target("runs_done", "programs run to their end", 2, at_most=False),
    Target("daemon_dead", "hc2mqtt died", 0),
)

BY_KEY = {t.key: t for t in TARGETS}


@dataclass(frozen=True)
class Verdict:
    target: Target
    figure: float | None
    detail: str = ""  # what stands behind the figure, for the report

    @property
    def passed(self) -> bool:
        return self.target.passes(self.figure)


def judge(figures: dict[str, tuple[float | None, str]]) -> list[Verdict]:
    """Every target with its figure (a missing one: not measured, a miss), in the table's order."""
    unknown = set(figures) - set(BY_KEY)
    if unknown:
        raise KeyError(f"figures for no target: {sorted(unknown)}")
    return [Verdict(t, *figures.get(t.key, (None, "not measured"))) for t in TARGETS]
