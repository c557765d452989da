"""The figures of a run, each against its target (targets.TARGETS), and the detail behind them."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from .answers import Answers
from .commands import PREFIX, CommandBattery
from .console import ConsoleSearch
from .measures import lost_updates, percentile
from .messages import ApplianceBattery
from .rig import Appliance
from .targets import FAULT_KINDS, Verdict, judge
from .traffic import Soak
from .values import matches, wire_text

Figures = dict[str, tuple[float | None, str]]


@dataclass
class Results:
    appliances: list[Appliance]
    soak: Soak | None = None
    final_wrong: list[str] | None = None  # changed values the broker retained wrong after the soak (fresh subscriber)
    final_offline: list[str] | None = None
    topics_gone: list[str] | None = None  # state topics retained at start-up and not at the end of the soak
    stream_seen: dict[int, set[int]] | None = None
    commands: CommandBattery | None = None
    hostile: ApplianceBattery | None = None
    answers: Answers | None = None
    console: ConsoleSearch | None = None
    secrets_mqtt: list[str] | None = None
    secrets_log: int | None = None
    discovery_configs: int | None = None
    tracebacks: int | None = None
    log_line_bytes: int | None = None
    died: str | None = None


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "n/a" if value is None or value != value else format(value, spec)


def final_mismatches(appliances: list[Appliance], soak: Soak, view: dict[str, bytes]) -> list[str]:
    """The changed values `view` (what the broker retains) does not hold as the simulators do now."""
    wrong = []
    for (index, uid), _ in sorted(soak.changed.at.items()):
        a = appliances[index]
        feature = a.profile.features[uid]
        truth = a.sim.app.value(uid)
        payload = view.get(a.state_topic(feature))
        if not matches(feature, payload, truth):
            shown = "nothing" if payload is None else repr(payload[:40].decode("utf-8", "replace"))
            wrong.append(f"{a.name} {feature.short_name}: broker has {shown}, simulator {wire_text(feature, truth)!r}")
    return wrong


def figures(r: Results) -> Figures:
    f: Figures = {}
    if r.died:
        f["daemon_dead"] = (1, r.died)
    else:
        f["daemon_dead"] = (0, "alive to the end")
    if r.soak is not None:
        s = r.soak
        faults = s.faults
        if r.final_wrong is not None and r.final_offline is not None:
            wrong = r.final_wrong
            f["lost_final"] = (len(wrong), f"of {len(s.changed.at)} changed; " + "; ".join(wrong[:3]))
            f["lwt_offline"] = (len(r.final_offline), ", ".join(r.final_offline) or "all online")
        if r.topics_gone is not None:
            f["topics_gone"] = (len(r.topics_gone), ", ".join(sorted(r.topics_gone)[:3]))
        if r.stream_seen is not None:
            sent = [(a.index, value, at) for a in r.appliances for at, value in a.sent]
            checked, lost, examples = lost_updates(sent, r.stream_seen, faults.windows(s.settled), s.ended - 1.0)
            total = len(sent)
            shown = ", ".join(f"{r.appliances[i].name}={v} at {at - s.started:.1f} s" for i, v, at in examples)
            f["lost_updates"] = (lost, f"of {checked} promised ({total} sent)" + (f"; e.g. {shown}" if shown else ""))
            f["updates_promised"] = (checked, f"{total - checked} fell in fault windows")
        for kind in FAULT_KINDS:
            mine = [x for x in faults.faults if x.kind == kind]
            times = [x.seconds for x in mine]
            worst = max(times, default=None) if all(t == t for t in times) else math.nan
            detail = f"{len(mine)} fault(s): " + ", ".join(fmt(t) for t in times) + " s" if mine else "never injected"
            f[f"converge:{kind}"] = (worst if mine else None, detail)
        never = [x for x in faults.faults if x.converged is None]
        f["faults_unconverged"] = (len(never), ", ".join(f"{x.kind} on {x.apps}" for x in never[:5]))
        runs = s.runs
        f["runs_done"] = (
            len(runs.done),
            f"{runs.records} records; {len(runs.refused)} starts refused, {runs.unfinished} unfinished,"
            f" {runs.lost_to_broker} start(s) lost during a broker fault,"
            f" {runs.late_in_freeze} dated late by a broker fault",
        )
        f["runs_bad"] = (len(runs.bad) + len(runs.refused), "; ".join((runs.bad + runs.refused)[:3]))
    if r.commands is not None and r.answers is not None:
        c, a = r.commands, r.answers
        f["commands_unanswered"] = (
            c.sent - c.answered,
            f"{c.answered:,} of {c.sent:,} answered ({a.by_echo} by the transaction in the echoed request only);"
            f" {len(a.without)} answers without a transaction",
        )
        f["answers_foreign"] = (a.foreign + a.wrong_appliance, f"{a.wrong_appliance} on the wrong appliance")
        f["commands_reached"] = (c.reached, str(dict(c.reached_by_resource)) if c.reached else "")
        f["answers_500"] = (a.code_500, "")
        f["answer_bytes"] = (a.longest, repr(a.longest_excerpt[:60]))
        f["log_mb_commands"] = (
            c.log.info_bytes / 1e6,
            f"{c.log.info_lines:,} lines at INFO+, {c.log.size / 1e6:.2f} MB with debug",
        )
    if r.hostile is not None:
        h = r.hostile
        f["hostile_reconnects"] = (h.reconnects, "")
        f["value_bytes"] = (h.longest_published[0], h.longest_published[1])
        if h.big_back is not None:
            f["big_back"] = (1 if h.big_back else 0, "")
        tried = h.empty_kept[1]
        f["empty_lost"] = (tried - h.empty_kept[0] if tried else None, f"kept on {h.empty_kept[0]}/{tried}")
        f["big_unparsed"] = (h.big_unparsed, f"{h.big_sent} sent, {h.big_bytes / 1e6:.1f} MB in all")
        p99 = percentile(h.latencies, 0.99)
        f["latency_p99"] = (p99, f"max {fmt(max(h.latencies, default=math.nan), '.3f')} s, {h.probes_lost} lost;"
                                 f" before them p99 {fmt(percentile(h.baseline, 0.99), '.3f')} s")  # fmt: skip
        f["latency_probes"] = (len(h.latencies), "")
    if r.commands is not None and r.hostile is not None:
        before, after = r.commands.rss_before, r.hostile.rss_after
        f["rss_delta"] = (
            after - before,
            f"before the big NOTIFYs {fmt(r.hostile.rss_before_big)} MB; "
            f"{fmt(before)} -> {fmt(after)} MB, peak {fmt(max(r.commands.rss_peak, r.hostile.rss_peak))}",
        )
    if r.secrets_mqtt is not None and r.secrets_log is not None and r.console is not None:
        hits = len(r.secrets_mqtt) + r.secrets_log + len(r.console.hits)
        where = sorted(set(r.secrets_mqtt[:3] + r.console.hits[:3]))
        f["secrets"] = (hits, f"MQTT {len(r.secrets_mqtt)}, log {r.secrets_log}, console {len(r.console.hits)} {where}")
        f["pages_read"] = (r.console.read, f"{r.console.bytes:,} B; failed: {r.console.failed[:2]}")
    if r.discovery_configs is not None:
        f["discovery_configs"] = (r.discovery_configs, "")
    if r.tracebacks is not None:
        f["tracebacks"] = (r.tracebacks, "")
    if r.log_line_bytes is not None:
        f["log_line_bytes"] = (r.log_line_bytes, "")
    return f


def print_report(r: Results) -> list[Verdict]:
    verdicts = judge(figures(r))
    if r.soak is not None:
        s = r.soak
        kinds = Counter(x.kind for x in s.faults.faults)
        print(f"Soak: {s.ended - s.started:.0f} s, {len(r.appliances)} appliances, {s.changes:,} random changes,"
              f" {sum(len(a.sent) for a in r.appliances):,} stream updates, {len(s.runs.done)} program runs;"
              f" faults: {', '.join(f'{k} {n}' for k, n in kinds.items())}")  # fmt: skip
        for line in (s.runs.bad + s.runs.refused)[:10]:
            print(f"  run record: {line}")
    if r.hostile is not None:
        print("Hostile appliance messages:")
        for h in r.hostile.messages:
            print(f"  {h.name:<44} to {h.target:<12} digest {fmt(h.digest_s, '.2f'):>6} s, {h.log.lines:>6,} log lines,"
                  f" {h.reconnects} reconnects  {h.note}")  # fmt: skip
    if r.commands is not None and r.answers is not None:
        print("Hostile commands by kind (answers matched by transaction):")
        for kind, row in sorted(r.answers.by_kind(PREFIX).items()):
            codes = " ".join(f"{k}x{n}" for k, n in sorted(row.items()) if k not in ("sent", "answered"))
            print(f"  {kind:<26} sent {row['sent']:>5} answered {row['answered']:>5}  {codes}")
        if r.answers.without:
            print(f"  answers without a transaction ({len(r.answers.without)}), e.g. {r.answers.without[0][:100]!r}")
    print()
    width = max(len(v.target.figure) for v in verdicts)
    print(f"{'target':<{width}}  {'figure':>9}  {'limit':<10} verdict  detail")
    for v in verdicts:
        shown = fmt(v.figure, ".3f" if v.target.unit in ("s", "MB") else ".0f")
        print(
            f"{v.target.figure:<{width}}  {shown:>9}  {v.target.shown:<10} {'PASS' if v.passed else 'MISS':<7}"
            f"  {v.detail[:150]}"
        )
    missed = [v.target.key for v in verdicts if not v.passed]
    print(f"\n{len(missed)} target(s) missed" + (f": {', '.join(missed)}" if missed else ""))
    return verdicts
