"""Hostile commands on T/set, T/activeProgram and T/selectedProgram while the bridge runs.

Invalid JSON and UTF-8, lone surrogates, 5,000-deep nesting, a 1 MB name,
UTF-8 BOM and UTF-16 payloads, objects for strings, AcknowledgeEvent 1e30,
StartInRelative -86400, {} on activeProgram, unknown names, uids and
programs, values out of range, wrong types, lists of 10,000 items, NaN and
Infinity, and valid commands published with the retain flag (which must be
refused; they are cleared afterwards). None is a valid live command, so
none may reach an appliance.

Every payload carries its own "transaction" where the bridge can find it:
in the JSON object, in a list's first item, or, for a payload that is no
JSON (or no UTF-8), in its text, which the bridge searches for one
(hcpy.mqtt.command: `_transaction_in`). A UTF-16 payload gets it as an
ASCII tail: the bridge reads no UTF-16. So every answer is matched to its
command by transaction (`answers`).
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hcpy.appliance import names
from hcpy.protocol.resources import RO_ACTIVE_PROGRAM, RO_SELECTED_PROGRAM, RO_VALUES

from .harness import Rig
from .measures import LogStats
from .rig import Appliance
from .values import wire_text

COMMAND_RESOURCES = (RO_VALUES, RO_ACTIVE_PROGRAM, RO_SELECTED_PROGRAM)
PREFIX = "cmd-"  # transactions of the hostile commands (programs.py uses "run-")


@dataclass
class Cmd:
    suffix: str  # set, activeProgram, selectedProgram
    payload: bytes
    retain: bool = False


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def txn_first(txn: str, obj: dict) -> dict:
    # First: the bridge looks for the transaction of a refused payload in its first 64 kB.
    return {"transaction": txn, **obj}


def tail(txn: str) -> bytes:
    return b' "transaction": "%s"' % txn.encode()


def valid_set(a: Appliance) -> dict:
    feature = a.writable
    if feature is None:
        return {"name": names.POWER_STATE, "value": "On"}
    return {"name": feature.name, "value": wire_text(feature, a.sim.app.value(feature.uid))}


def program_name(a: Appliance) -> str:
    return a.program.name if a.program else "Chaos.No.Program"


def k_invalid_json(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    payload = rng.choice(
        [b'{"name": "BSH.Common.Setting.PowerState", "value": ', b"{name: PowerState, value: On}", b"not json at all",
         b'{"a": 1}{"b": 2}', b"\xff\xfe\xfd not UTF-8", b'{"name": "PowerState", "value": "On",}', b"'single'"]
    )  # fmt: skip
    return Cmd(rng.choice(["set", "activeProgram", "selectedProgram"]), payload + tail(txn))


def k_surrogate(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    # Raw text: json.dumps would escape the backslash.
    if rng.random() < 0.5:
        text = f'{{"transaction": "{txn}", "name": "BSH.Common.Setting.PowerState", "value": "\\ud83d"}}'
        return Cmd("set", text.encode())
    text = f'{{"transaction": "{txn}", "program": "\\udc00{program_name(a)}"}}'
    return Cmd(rng.choice(["activeProgram", "selectedProgram"]), text.encode())


def k_deep(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    nest = "[" * 5000 + "]" * 5000
    text = f'{{"transaction": "{txn}", "name": "BSH.Common.Setting.PowerState", "value": {nest}}}'
    return Cmd(rng.choice(["set", "activeProgram"]), text.encode())


def k_huge_name(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    return Cmd("set", dumps(txn_first(txn, {"name": "A" * 1_000_000, "value": 1})))


def k_bom(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    return Cmd("set", b"\xef\xbb\xbf" + dumps(txn_first(txn, valid_set(a))))


def k_utf16(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    text = json.dumps(valid_set(a))
    return Cmd("set", text.encode(rng.choice(["utf-16", "utf-16-le", "utf-16-be"])) + tail(txn))


def k_object_for_string(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    value = rng.choice([{"hour": 12, "minute": 0}, {"value": "x"}, ["a", "b"]])
    return Cmd("set", dumps(txn_first(txn, {"name": a.loose.name, "value": value})))


def k_ack_1e30(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    value = rng.choice([1e30, -1e30, 1.5e308])
    return Cmd("set", dumps(txn_first(txn, {"name": "BSH.Common.Command.AcknowledgeEvent", "value": value})))


def k_negative_delay(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    option = {"name": names.START_IN_RELATIVE, "value": -86400}
    choice = rng.randrange(4)
    if choice == 0:
        return Cmd("set", dumps(txn_first(txn, option)))
    if choice == 3:
        return Cmd("activeProgram", dumps(txn_first(txn, {"program": "selected", "delay": -86400})))
    suffix = "activeProgram" if choice == 1 else "selectedProgram"
    return Cmd(suffix, dumps(txn_first(txn, {"program": program_name(a), "options": [option]})))


def k_empty_active(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    return Cmd("activeProgram", dumps({"transaction": txn}))


def k_unknown(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    choice = rng.randrange(4)
    if choice == 0:
        return Cmd("set", dumps(txn_first(txn, {"name": f"Chaos.No.Such.Feature{rng.randrange(10**6)}", "value": 1})))
    if choice == 1:
        return Cmd("set", dumps(txn_first(txn, {"uid": 900_000 + rng.randrange(10**5), "value": 1})))
    suffix = rng.choice(["activeProgram", "selectedProgram"])
    return Cmd(suffix, dumps(txn_first(txn, {"program": f"Chaos.No.Such.Program{rng.randrange(10**6)}"})))


def k_out_of_range(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    choice = rng.randrange(5)
    body: dict[str, Any]
    if choice == 0:
        body = {"name": names.POWER_STATE, "value": "Sideways"}
    elif choice == 1:
        body = {"name": names.POWER_STATE, "value": 12345}
    elif choice == 2:
        body = {"name": names.START_IN_RELATIVE, "value": 10**9}
    elif choice == 3 and a.text is not None:
        body = {"name": a.text.name, "value": "x" * 500}
    else:
        option = {"name": names.START_IN_RELATIVE, "value": 10**9}
        return Cmd("selectedProgram", dumps(txn_first(txn, {"program": program_name(a), "options": [option]})))
    return Cmd("set", dumps(txn_first(txn, body)))


def k_wrong_type(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    bodies: list[tuple[str, Any]] = [
        # Not an object: the transaction rides in a second item.
        ("set", [rng.choice(["hello", 42, None, True, 1.5]), {"transaction": txn}]),
        ("set", txn_first(txn, {"name": names.POWER_STATE, "value": [1, 2]})),
        ("set", txn_first(txn, {"name": names.POWER_STATE, "value": True})),
        ("set", txn_first(txn, {"name": 12.5, "value": 1})),
        ("set", txn_first(txn, {"name": None, "value": "On"})),
        ("selectedProgram", txn_first(txn, {"program": 123})),
        ("activeProgram", txn_first(txn, {"program": ["a"]})),
        ("selectedProgram", txn_first(txn, {"program": program_name(a), "options": "none"})),
    ]
    suffix, body = rng.choice(bodies)
    return Cmd(suffix, dumps(body))


def k_big_list(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    choice = rng.randrange(3)
    if choice == 0:
        item = valid_set(a)
        return Cmd("set", dumps([txn_first(txn, item)] + [item] * 9_999))
    if choice == 1:
        return Cmd("set", dumps(txn_first(txn, {"name": names.POWER_STATE, "value": [0] * 10_000})))
    options = [{"uid": 1, "value": 0}] * 10_000
    return Cmd("selectedProgram", dumps(txn_first(txn, {"program": program_name(a), "options": options})))


def k_nan(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    literal = rng.choice(["NaN", "Infinity", "-Infinity"])
    name = rng.choice([names.START_IN_RELATIVE, "BSH.Common.Command.AcknowledgeEvent", names.POWER_STATE])
    return Cmd("set", f'{{"transaction": "{txn}", "name": "{name}", "value": {literal}}}'.encode())


def k_retained_valid(a: Appliance, txn: str, rng: random.Random) -> Cmd:
    if a.program is not None and rng.random() < 0.5:
        return Cmd("selectedProgram", dumps(txn_first(txn, {"program": a.program.name})), retain=True)
    return Cmd("set", dumps(txn_first(txn, valid_set(a))), retain=True)


KINDS: dict[str, Callable[[Appliance, str, random.Random], Cmd]] = {
    "invalid JSON / UTF-8": k_invalid_json,
    "lone surrogate": k_surrogate,
    "nesting 5,000 deep": k_deep,
    "1 MB name": k_huge_name,
    "UTF-8 BOM": k_bom,
    "UTF-16": k_utf16,
    "object for a string": k_object_for_string,
    "AcknowledgeEvent 1e30": k_ack_1e30,
    "StartInRelative -86400": k_negative_delay,
    "{} on activeProgram": k_empty_active,
    "unknown name/uid/program": k_unknown,
    "out of range": k_out_of_range,
    "wrong type": k_wrong_type,
    "list of 10,000": k_big_list,
    "NaN / Infinity": k_nan,
    "valid but retained": k_retained_valid,
}
HEAVY = ("1 MB name", "list of 10,000")


def schedule(total: int, rng: random.Random) -> list[str]:
    """The kinds in a shuffled order: the heavy ones a fixed number of times, the rest evenly."""
    heavy = min(max(1, total // 500), max(1, total // 8))  # 10 each of 5,000
    kinds = [k for k in HEAVY for _ in range(heavy)]
    light = [k for k in KINDS if k not in HEAVY]
    kinds += [light[i % len(light)] for i in range(max(0, total - len(kinds)))]
    rng.shuffle(kinds)
    return kinds[:total]


@dataclass
class CommandBattery:
    sent: int = 0
    retained_sent: int = 0
    answered: int = 0
    reached: int = 0
    reached_by_resource: Counter = field(default_factory=Counter)
    log: LogStats = field(default_factory=LogStats)
    rss_before: float = float("nan")
    rss_after: float = float("nan")
    rss_peak: float = float("nan")
    seconds: float = float("nan")
    note: str = ""


def command_battery(rig: Rig) -> CommandBattery:
    plan, rng, apps, answers = rig.plan, rig.rng, rig.appliances, rig.answers
    battery = CommandBattery()
    retained_topics: set[str] = set()
    # The runner appliances are idle again; a program start they refuse is what is expected.
    battery.rss_before = rig.rss.reset()
    log_start = rig.daemon.log_size()
    received_start = [len(a.sim.received) for a in apps]
    start = time.monotonic()
    step = 1.0 / plan.command_rate
    stalled = False
    try:
        for n, kind in enumerate(schedule(plan.commands, rng)):
            if n % 100 == 0 and not rig.daemon.alive("the hostile commands"):
                battery.note = rig.daemon.death()
                break
            # Do not outrun the bridge by more than a few hundred commands: a
            # backlog would measure queueing in mosquitto, not hcpy. A bridge
            # that stopped answering is not waited for again.
            hold = time.monotonic() + 2.0
            while not stalled and battery.sent - answers.answered(PREFIX) > 200:
                if time.monotonic() > hold:
                    stalled = True
                time.sleep(0.01)
            a = rng.choice(apps)
            txn = f"{PREFIX}{n}"
            cmd = KINDS[kind](a, txn, rng)
            topic = f"{a.base}/{cmd.suffix}"
            answers.expect(txn, kind, a.base)
            rig.publish(topic, cmd.payload, retain=cmd.retain)
            battery.sent += 1
            if cmd.retain:
                battery.retained_sent += 1
                retained_topics.add(topic)
            pause = start + (n + 1) * step - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        # Until every command is answered, or nothing more came for a while.
        quiet_since, seen = time.monotonic(), -1
        give_up = time.monotonic() + 60.0
        while answers.answered(PREFIX) < battery.sent and time.monotonic() < give_up:
            total = answers.total
            if total != seen:
                seen, quiet_since = total, time.monotonic()
            elif time.monotonic() - quiet_since > 5.0:
                break
            if not rig.daemon.alive("the hostile commands"):
                battery.note = rig.daemon.death()
                break
            time.sleep(0.05)
        battery.seconds = time.monotonic() - start
        battery.answered = answers.answered(PREFIX)
        for a, first in zip(apps, received_start, strict=True):
            for msg in a.sim.received[first:]:
                if msg.action.value == "POST" and msg.resource in COMMAND_RESOURCES:
                    battery.reached += 1
                    battery.reached_by_resource[msg.resource] += 1
        battery.log = LogStats.of(rig.daemon.log_since(log_start))
        battery.rss_after = rig.daemon.rss_mb()
        battery.rss_peak = rig.rss.peak
    finally:
        # Clear the retained commands, so that no restart replays them.
        for topic in sorted(retained_topics):
            try:
                rig.publisher.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
            except RuntimeError:  # not connected: the broker holds nothing the next run would see
                break
    return battery
