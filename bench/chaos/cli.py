"""python -m bench.chaos [--quick] [--against DIR | --rev REV]: the soak; figure vs limit; exit 1 on a miss."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from hcpy.protocol.tlspsk import BACKEND

from .commands import command_battery
from .console import search_console
from .harness import Rig, start_rig
from .measures import LogStats
from .messages import appliance_battery
from .plan import Plan
from .programs import check_runs
from .report import Results, final_mismatches, print_report
from .rig import SetupError
from .secrets import count_in
from .traffic import soak
from .watch import retained_snapshot

ROOT = Path(__file__).resolve().parents[2]


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="CI's run: about 100 s, every phase and kind of fault")
    parser.add_argument("--appliances", type=int, default=None, help="simulated appliances (10; 8 with --quick)")
    parser.add_argument(
        "--minutes", type=float, default=5.0, help="length of the full soak (default 5: about 6.5 min in all)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of changes, faults and commands")
    parser.add_argument("--commands", type=int, default=None, help="hostile commands (5,000; 400 with --quick)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (daemon log, devices.json, runs)")
    against = parser.add_mutually_exclusive_group()
    against.add_argument(
        "--against", type=Path, help="run hc2mqtt.py of this checkout instead (the rig stays this tree's)"
    )
    against.add_argument("--rev", help="run hc2mqtt.py of this git revision (a temporary worktree)")
    args = parser.parse_args(argv)
    if args.appliances is not None and args.appliances < 4:
        parser.error("--appliances needs at least 4 (two run programs, the others take the faults)")
    return args


def run(rig: Rig, r: Results) -> None:
    plan = rig.plan
    print(f"soaking for {plan.soak_s:.0f} s ...", flush=True)
    r.soak = soak(rig)
    if rig.daemon.died_in:
        return
    view = retained_snapshot(rig.port) or {}
    r.final_wrong = final_mismatches(rig.appliances, r.soak, view)
    r.final_offline = [a.name for a in rig.appliances if view.get(a.lwt) != b"online"]
    r.topics_gone = sorted(rig.startup_topics - set(view))
    r.stream_seen = {a.index: rig.watcher.seen(a.index) for a in rig.appliances}
    check_runs(rig, r.soak.runs, r.soak.faults)
    print(
        f"soak done after {time.monotonic() - r.soak.started:.0f} s; {plan.commands:,} hostile commands ...", flush=True
    )
    r.commands = command_battery(rig)
    if rig.daemon.died_in:
        return
    print(f"commands done in {r.commands.seconds:.1f} s; hostile appliance messages ...", flush=True)
    r.hostile = appliance_battery(rig)
    if rig.daemon.died_in:
        return
    r.console = search_console(rig)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.quick:
        plan = Plan.quick(args.appliances or 8, args.seed, args.commands)
    else:
        plan = Plan.full(args.appliances or 10, args.minutes, args.seed, args.commands)
    signal.signal(signal.SIGTERM, _interrupt)
    began = time.monotonic()
    print(f"hc2mqtt chaos soak ({'quick' if args.quick else 'full'}): Python {sys.version.split()[0]},"
          f" TLS back-end {BACKEND}, {os.cpu_count()} CPU(s), seed {plan.seed}", flush=True)  # fmt: skip
    with ExitStack() as stack:
        if args.rev:
            from bench.revisions import checkout

            tree = checkout(args.rev, stack).root
        else:
            tree = (args.against or ROOT).resolve()
        if not (tree / "hc2mqtt.py").is_file():
            print(f"no hc2mqtt.py in {tree}", file=sys.stderr)
            return 2
        print(f"hc2mqtt.py of {tree}")
        if args.keep:
            work = Path(tempfile.mkdtemp(prefix="hcpy-chaos-"))
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hcpy-chaos-")))
        try:
            rig = start_rig(plan, tree, work, stack)
            r = Results(rig.appliances)
            try:
                run(rig, r)
            finally:
                r.died = rig.daemon.death() if rig.daemon.died_in else None
            log = rig.daemon.log_since(0)
            stats = LogStats.of(log)
            r.tracebacks = stats.tracebacks
            r.log_line_bytes = stats.longest_info_line
            r.secrets_log = count_in(log, sorted({s for a in rig.appliances for s in a.secrets}))
            r.secrets_mqtt = list(rig.watcher.secret_hits)
            r.discovery_configs = len(rig.watcher.discovery_configs)
            r.answers = rig.answers
            print(f"\nhc2mqtt's log: {stats.size / 1e6:.1f} MB at --debug, {stats.info_bytes / 1e6:.2f} MB at INFO+,"
                  f" {stats.warnings:,} warnings, {stats.errors:,} errors; MQTT seen: {rig.watcher.messages:,}"
                  f" messages, {rig.watcher.bytes / 1e6:.1f} MB")  # fmt: skip
            verdicts = print_report(r)
            print(
                f"wall time {time.monotonic() - began:.0f} s" + (f"; work directory kept: {work}" if args.keep else "")
            )
        except SetupError as exc:
            print(f"set-up failed: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted; cleaning up", file=sys.stderr)
            return 130
    return 0 if all(v.passed for v in verdicts) else 1
