"""End-to-end check: hcpy's MQTT discovery as a real Home Assistant sees it.

Run by .ci/home_assistant (a separate CI step, not part of pytest), with a
venv holding homeassistant, paho-mqtt, requests and websocket-client:

    python checks/home_assistant/check.py [--keep] [--hass PATH]

Starts, all on 127.0.0.1 and under one temporary directory: a private
mosquitto, the simulator's demo appliances (python -m hcpy.simulator --demo),
hc2mqtt with --ha-discovery, then Home Assistant with the MQTT integration.
Once HA has the appliances' entities it prints figures and fails (exit 1) if
a discovery config did not become an entity or HA logged an MQTT warning or
error. Everything it started is stopped again, also on failure.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# harness.py; checks/processes.py; tests/support.py (which imports hcpy from the checkout)
sys.path[:0] = [str(HERE), str(HERE.parent), str(ROOT), str(ROOT / "tests")]

from harness import (  # noqa: E402 - found through the sys.path line above
    LOOPBACK,
    HomeAssistant,
    HomeAssistantError,
    LogRecord,
    Process,
    retained_messages,
)
from processes import child_env  # noqa: E402 - as harness
from support import Broker, free_port, free_ports  # noqa: E402 - tests/support.py, as harness

DISCOVERY_PREFIX = "homeassistant"
CONFIG_TOPICS = f"{DISCOVERY_PREFIX}/+/hcpy/+/config"
# Discovery components that never become entities in the entity registry.
NOT_ENTITIES = {"device_automation", "tag"}
# Domains whose state is a timestamp of the last press/event, "unknown" before the first.
STATELESS = {"button", "event", "scene"}
# Payloads that say "no value" (Home Assistant shows them as unknown, rightly),
# except on an enum's topic, where "None" is a member (hcpy shows it quoted).
NO_VALUE = ("", "None")
# Enums with a member None, which the demo's appliances hold at rest: shown as a state, never unknown.
NONE_MEMBERS = ("_consumerproducts_coffeemaker_status_processphase", "_dishcare_dishwasher_status_programphase")
# A program root holding 0 has no program: its select is rightly unknown.
PROGRAM_ROOTS = ("_bsh_common_root_activeprogram", "_bsh_common_root_selectedprogram")
# unique_ids hcpy gives look like "<appliance>_<feature>"; the demo's appliances.
PROFILES = ROOT / "hcpy" / "simulator" / "profiles"


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------
# The running pieces


@dataclass
class Stack:
    """Everything the check started, for the steps that use it."""

    tmp: Path
    broker: Broker
    simulator: Process  # stdin is a pipe: simulator.type("door close dishwasher")
    bridge: Process  # hc2mqtt
    ha: HomeAssistant
    appliances: list[str]  # names in demo.json: dishwasher, coffeemaker, washer, oven, hood, ...


def wait_listening(ports: list[int], process: Process, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(ports)
    while waiting:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited with {process.returncode}:\n{process.tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{process.name} does not listen on {waiting}:\n{process.tail()}")
        try:
            socket.create_connection((LOOPBACK, waiting[0]), timeout=0.2).close()
            waiting.pop(0)
        except OSError:
            time.sleep(0.1)


def wait_discovery(broker_port: int, appliances: list[str], bridge: Process, timeout: float = 60.0) -> dict[str, bytes]:
    """Wait until hc2mqtt has retained discovery configs for every appliance and stopped adding any."""
    deadline = time.monotonic() + timeout
    last: dict[str, bytes] = {}
    stable_since = time.monotonic()
    while True:
        if not bridge.alive():
            raise RuntimeError(f"hc2mqtt exited with {bridge.returncode}:\n{bridge.tail()}")
        configs = retained_messages(broker_port, CONFIG_TOPICS, quiet=0.5)
        if set(configs) != set(last):
            last, stable_since = configs, time.monotonic()
        covered = {name for name in appliances if any(f"/{name}_" in t for t in configs)}
        if covered == set(appliances) and time.monotonic() - stable_since >= 2.0:
            return configs
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"discovery configs for {sorted(set(appliances) - covered)} missing after {timeout}s "
                f"({len(configs)} retained):\n{bridge.tail()}"
            )
        time.sleep(0.5)


@contextmanager
def running_stack(tmp: Path, hass: Path, simulator_args: tuple[str, ...] = ()) -> Iterator[Stack]:
    """Broker, simulator, hc2mqtt, HA (onboarded, MQTT added); all stopped on the way out."""
    python = sys.executable
    env = child_env()
    with ExitStack() as stack:
        broker = Broker(tmp)
        broker.start()
        stack.callback(broker.stop)
        log(f"mosquitto on port {broker.port}")

        count = len(list(PROFILES.glob("*_DeviceDescription.xml")))
        base = free_ports(count)  # write_demo gives the appliances base, base+1, ...
        demo = tmp / "demo.json"
        simulator = Process(
            "simulator",
            [python, "-m", "hcpy.simulator", "--demo", str(demo), "--base-port", str(base), *simulator_args],
            tmp / "simulator.log",
            cwd=ROOT,
            env=env,
            stdin_pipe=True,
        ).start()
        stack.callback(simulator.stop)
        wait_listening(list(range(base, base + count)), simulator)
        appliances = [entry["name"] for entry in json.loads(demo.read_text())]
        log(f"simulator: {', '.join(appliances)} on ports {base}-{base + count - 1}")

        bridge = Process(
            "hc2mqtt",
            [python, "hc2mqtt.py", "--devices_file", str(demo), "--mqtt_host", LOOPBACK,
             "--mqtt_port", str(broker.port), "--ha-discovery", "--ha_discovery_prefix", DISCOVERY_PREFIX],
            tmp / "hc2mqtt.log",
            cwd=ROOT,
            env=env,
        ).start()  # fmt: skip
        stack.callback(bridge.stop)
        configs = wait_discovery(broker.port, appliances, bridge)
        log(f"hc2mqtt: {len(configs)} discovery configs retained")

        ha = HomeAssistant(tmp / "ha", hass, free_port())
        stack.callback(ha.stop)
        ha.start()
        ha.onboard()
        ha.wait_running()
        ha.add_mqtt(broker.port)
        log(
            f"Home Assistant: HTTP after {ha.http_seconds:.1f}s, RUNNING after {ha.running_seconds:.1f}s "
            f"(it says: initialized in {ha.initialized_seconds()}s), MQTT entry loaded"
        )
        yield Stack(tmp, broker, simulator, bridge, ha, appliances)


# --------------------------------------------------------------------------
# Discovery -> entities


@dataclass(frozen=True)
class Config:
    topic: str
    component: str
    unique_id: str | None
    device: str | None  # the device's first identifier: the appliance name
    payload: dict[str, Any] | None  # None: not JSON


def parse_configs(retained: dict[str, bytes]) -> list[Config]:
    configs = []
    for topic, raw in sorted(retained.items()):
        component = topic.split("/")[1]
        try:
            payload = json.loads(raw)
        except ValueError:
            configs.append(Config(topic, component, None, None, None))
            continue
        device = payload.get("device") or payload.get("dev") or {}
        identifiers = device.get("identifiers") or device.get("ids") or [None]
        if isinstance(identifiers, str):
            identifiers = [identifiers]
        configs.append(Config(topic, component, payload.get("unique_id") or payload.get("uniq_id"), identifiers[0], payload))
    return configs


def mqtt_entities(ha: HomeAssistant) -> list[dict[str, Any]]:
    return [e for e in ha.entity_registry() if e.get("platform") == "mqtt"]


def wait_entities(ha: HomeAssistant, configs: list[Config], appliances: list[str], timeout: float = 90.0) -> list[dict[str, Any]]:
    """Wait until every config has its entity, or each appliance has some and nothing new came for 5 s."""
    expected = {c.unique_id for c in configs if c.component not in NOT_ENTITIES and c.unique_id}
    deadline = time.monotonic() + timeout
    count, since = -1, time.monotonic()
    while True:
        entities = mqtt_entities(ha)
        unique_ids = {e["unique_id"] for e in entities}
        if expected <= unique_ids:
            return entities
        if len(entities) != count:
            count, since = len(entities), time.monotonic()
        every = all(any(u.startswith(f"{name}_") for u in unique_ids) for name in appliances)
        if every and time.monotonic() - since >= 5.0:
            return entities
        if time.monotonic() > deadline:
            log(f"!! gave up waiting for entities after {timeout}s")
            return entities
        time.sleep(0.5)


def settled_states(ha: HomeAssistant, entity_ids: list[str], quiet: float = 3.0, timeout: float = 20.0) -> dict[str, dict[str, Any]]:
    """States once the set of unknown/unavailable entities stopped changing for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last: set[str] | None = None
    since = time.monotonic()
    while True:
        states = ha.states()
        bad = {e for e in entity_ids if states.get(e, {}).get("state") in (None, "unknown", "unavailable")}
        if bad != last:
            last, since = bad, time.monotonic()
        if time.monotonic() - since >= quiet or time.monotonic() > deadline:
            return states
        time.sleep(0.5)


def report(stack: Stack) -> int:
    """Print the figures; the number of failures (configs without entity + MQTT problems)."""
    ha = stack.ha
    configs = parse_configs(retained_messages(stack.broker.port, CONFIG_TOPICS, quiet=1.0))
    entities = wait_entities(ha, configs, stack.appliances)
    # Configs that came late (hc2mqtt republishes) count too.
    configs = parse_configs(retained_messages(stack.broker.port, CONFIG_TOPICS, quiet=1.0))
    by_unique_id = {e["unique_id"]: e for e in entities}
    enabled = [e["entity_id"] for e in entities if not e.get("disabled_by")]
    states = settled_states(ha, enabled)

    log("")
    log(f"== discovery configs retained under {CONFIG_TOPICS}: {len(configs)}")
    disabled_by = ", ".join(sorted({str(e["disabled_by"]) for e in entities if e.get("disabled_by")})) or "-"
    log(f"== MQTT entities in HA's entity registry: {len(entities)}"
        f" ({len(entities) - len(enabled)} disabled: {disabled_by})")  # fmt: skip

    config_domains = Counter(c.component for c in configs)
    entity_domains = Counter(e["entity_id"].split(".", 1)[0] for e in entities)
    log(f"   {'domain':<16}{'configs':>8}{'entities':>10}")
    for domain in sorted(set(config_domains) | set(entity_domains)):
        log(f"   {domain:<16}{config_domains[domain]:>8}{entity_domains[domain]:>10}")

    per_device: dict[str | None, list[Config]] = defaultdict(list)
    for c in configs:
        per_device[c.device].append(c)
    for device, items in sorted(per_device.items(), key=lambda kv: str(kv[0])):
        made = sum(1 for c in items if c.unique_id in by_unique_id)
        log(f"   appliance {device}: {len(items)} configs, {made} entities")

    missing = [c for c in configs if c.component not in NOT_ENTITIES and c.unique_id not in by_unique_id]
    log(f"\n== configs that did not become an entity: {len(missing)}")
    for c in missing:
        why = "payload is not JSON" if c.payload is None else ("no unique_id" if not c.unique_id else f"unique_id {c.unique_id}")
        log(f"   {c.topic}  ({why})")

    unmatched = sorted(e["entity_id"] for e in entities if e["unique_id"] not in {c.unique_id for c in configs})
    if unmatched:
        log(f"\n== MQTT entities without a retained config (stale?): {len(unmatched)}")
        for entity_id in unmatched:
            log(f"   {entity_id}")

    problems: list[LogRecord] = ha.mqtt_problems()
    log(f"\n== MQTT warnings/errors in HA's log: {len(problems)}")
    for record in problems:
        log(f"   {record}")

    others = [r for r in ha.problems() if r not in problems]
    log(f"\n== other warnings/errors in HA's log (not counted): {len(others)}")
    for record in others:
        log(f"   {record.level} [{record.logger}] {record.message.splitlines()[0]}")

    bad = sorted(
        (entity_id, states.get(entity_id, {}).get("state", "no state"))
        for entity_id in enabled
        if states.get(entity_id, {}).get("state") in (None, "unknown", "unavailable")
    )
    # A button's or an event's state is the time of its last press or event:
    # "unknown" until the first one, by nature. Only counted for those.
    stateless = [(e, s) for e, s in bad if e.split(".", 1)[0] in STATELESS and s == "unknown"]
    log(f"\n== enabled MQTT entities that are unknown/unavailable (not counted): {len(bad)} of {len(enabled)}")
    by_domain = Counter(e.split(".", 1)[0] for e, _ in stateless)
    if stateless:
        log(f"   unknown as they never fired yet: {', '.join(f'{n} {d}' for d, n in sorted(by_domain.items()))}")
    for entity_id, state in bad:
        if (entity_id, state) not in stateless:
            log(f"   {entity_id}: {state}")

    # An entity whose state topic holds a value must show it, not "unknown".
    published = retained_messages(stack.broker.port, "homeconnect/#", quiet=1.0)
    hidden, checked = [], 0
    for c in configs:
        topic = (c.payload or {}).get("state_topic")
        entity = by_unique_id.get(c.unique_id)
        if not topic or entity is None or c.component in STATELESS or topic not in published:
            continue
        value = published[topic].decode(errors="replace")
        member = value == "None" and "options" in (c.payload or {})
        if (value in NO_VALUE and not member) or (c.unique_id.endswith(PROGRAM_ROOTS) and value == "0"):
            continue
        checked += 1
        if states.get(entity["entity_id"], {}).get("state") == "unknown":
            hidden.append((entity["entity_id"], value))
    log(f"\n== entities whose topic has a value but which are unknown: {len(hidden)} of {checked}")
    for entity_id, value in hidden:
        log(f"   {entity_id}: {value!r} on its state topic")

    # The member None, named: its topic must hold it, its entity must show it.
    nones = [c for c in configs if c.component == "sensor" and c.unique_id.endswith(NONE_MEMBERS)]
    not_shown = [] if nones else ["no sensor of " + ", ".join(NONE_MEMBERS)]
    log(f"\n== enum members named None, as Home Assistant shows them: {len(nones)}")
    for c in nones:
        topic = (c.payload or {}).get("state_topic", "")
        value = published[topic].decode(errors="replace") if topic in published else None
        entity = by_unique_id.get(c.unique_id)
        state = states.get(entity["entity_id"], {}).get("state") if entity else None
        log(f"   {c.unique_id}: {value!r} on its state topic, {state!r} in Home Assistant")
        if value != "None" or state in (None, "unknown", "unavailable"):
            not_shown.append(c.unique_id)

    bridge_problems = [line for line in stack.bridge.output().splitlines() if " WARNING " in line or " ERROR " in line]
    log(f"\n== hc2mqtt warnings/errors (not counted): {len(bridge_problems)}")
    for line in bridge_problems:
        log(f"   {line}")

    return len(missing) + len(problems) + len(hidden) + len(not_shown)


# --------------------------------------------------------------------------
# A program, run from Home Assistant


# The demo runs at this speed: Eco50 (3:45 h) after a 1 h delay takes about half a minute.
SPEED = 600
RUN_TIMEOUT = 120.0


def settle(ha: HomeAssistant, recorder: Any, entity_id: str, test: Any, timeout: float = 30.0) -> str:
    """Wait until an entity's state passes `test` (now, or by a change); that state."""
    mark = recorder.mark()
    current = (ha.state(entity_id) or {}).get("state")
    if test(current):
        return current
    return recorder.wait_for(entity_id, lambda c: test(c.state), timeout=timeout, since=mark).state


def drive_program(stack: Stack) -> int:
    """Select Eco50, delay it 1 h, start it, watch it finish; then abort a second run. Failures."""
    ha = stack.ha
    ids = {e["unique_id"]: e["entity_id"] for e in mqtt_entities(ha)}
    entity = {
        key: ids[f"dishwasher_{suffix}"]
        for key, suffix in {
            "selected": "bsh_common_root_selectedprogram",
            "active": "bsh_common_root_activeprogram",
            "delay": "bsh_common_option_startinrelative",
            "start": "start_selected_program",
            "abort": "bsh_common_command_abortprogram",
            "operation": "bsh_common_status_operationstate",
            "phase": "dishcare_dishwasher_status_programphase",
            "remaining": "bsh_common_option_remainingprogramtime",
            "progress": "bsh_common_option_programprogress",
            "end": "program_end",
            "finished": "bsh_common_event_programfinished",
            "aborted": "bsh_common_event_programaborted",
            "energy_total": "run_energy_total",
            "water_total": "run_water_total",
            "last_program": "run_program",
        }.items()
    }
    failures = 0
    recorder = ha.watch(entity.values())
    works = lambda state: state not in (None, "unavailable")  # noqa: E731

    log("\n== a program run from Home Assistant (simulator at --speed %d)" % SPEED)
    started = time.monotonic()
    mark = recorder.mark()
    ha.call_service("select", "select_option", {"entity_id": entity["selected"], "option": "Eco50"})
    settle(ha, recorder, entity["selected"], lambda s: s == "Eco50")
    settle(ha, recorder, entity["delay"], works)
    ha.call_service("number", "set_value", {"entity_id": entity["delay"], "value": 60})
    settle(ha, recorder, entity["delay"], lambda s: s == "60")
    settle(ha, recorder, entity["start"], works)
    ha.call_service("button", "press", {"entity_id": entity["start"]})
    recorder.wait_for(entity["operation"], "DelayedStart", since=mark)
    run = recorder.wait_for(entity["operation"], "Run", since=mark, timeout=RUN_TIMEOUT)
    recorder.wait_for(entity["operation"], "Finished", since=mark, timeout=RUN_TIMEOUT)
    took = time.monotonic() - started
    time.sleep(2)  # anything late (a second event) would show now

    operation = _deduplicated(recorder.states(entity["operation"], since=mark))
    remaining = [int(s) for s in recorder.states(entity["remaining"], since=mark) if s and s.isdigit()]
    during_run = [int(c.state) for c in recorder.of(entity["remaining"], since=mark) if c.at > run.at and c.state and c.state.isdigit()]
    progress = list(recorder.states(entity["progress"], since=mark))
    phases = _deduplicated(recorder.states(entity["phase"], since=mark))
    ends = [s for s in recorder.states(entity["end"], since=mark) if s not in (None, "unknown")]
    finished = [c for c in recorder.of(entity["finished"], since=mark) if c.new and c.new.get("attributes", {}).get("event_type")]
    log(f"   operation state: {' -> '.join(map(str, operation))} ({took:.0f}s)")
    log(f"   program phase: {' -> '.join(map(str, phases))}")
    log(f"   remaining time (s): {len(remaining)} updates, {remaining[:3]} ... {remaining[-3:]}")
    log(f"   progress (%): {progress[:3]} ... {progress[-3:]}")
    log(f"   program end: {ends[:1]} ... {ends[-1:]}")
    log(f"   ProgramFinished events: {[c.new['attributes']['event_type'] for c in finished]}")
    failures += _expect("operation state went DelayedStart -> Run -> Finished", _in_order(operation, ["DelayedStart", "Run", "Finished"]))
    fell = len(during_run) >= 3 and during_run == sorted(during_run, reverse=True) and during_run[0] > during_run[-1]
    failures += _expect("remaining time fell while running", fell)
    failures += _expect("program end was a time while it ran", bool(ends) and all("T" in e for e in ends))
    failures += _expect("ProgramFinished fired once, as Present", [c.new["attributes"]["event_type"] for c in finished] == ["Present"])
    # The run's record: its energy and water (the demo's estimates) in sensors the Energy dashboard takes.
    number = lambda s: s not in (None, "unknown", "unavailable") and s.replace(".", "", 1).isdigit() and float(s) > 0  # noqa: E731
    energy = settle(ha, recorder, entity["energy_total"], number)
    water = settle(ha, recorder, entity["water_total"], number)
    last = settle(ha, recorder, entity["last_program"], lambda s: s not in (None, "unknown", "unavailable"))
    attributes = {k: ha.state(entity[k])["attributes"] for k in ("energy_total", "water_total")}
    log(f"   runs: energy total {energy} kWh, water total {water} L, last run {last}")
    failures += _expect(
        "energy and water totals are sensors the Energy dashboard takes (kWh / L, total_increasing)",
        [(a.get("device_class"), a.get("unit_of_measurement"), a.get("state_class")) for a in attributes.values()]
        == [("energy", "kWh", "total_increasing"), ("water", "L", "total_increasing")],
    )
    failures += _expect("the run's energy is Eco50's forecast share of the full scale (60 % of 2 kWh)", energy == "1.2")

    # A second run, aborted from Home Assistant.
    mark = recorder.mark()
    ha.call_service("number", "set_value", {"entity_id": entity["delay"], "value": 0})
    settle(ha, recorder, entity["delay"], lambda s: s == "0")
    settle(ha, recorder, entity["start"], works)
    ha.call_service("button", "press", {"entity_id": entity["start"]})
    recorder.wait_for(entity["operation"], "Run", since=mark, timeout=RUN_TIMEOUT)
    settle(ha, recorder, entity["abort"], works)
    ha.call_service("button", "press", {"entity_id": entity["abort"]})
    recorder.wait_for(entity["operation"], "Ready", since=mark, timeout=RUN_TIMEOUT)
    time.sleep(2)
    operation = _deduplicated(recorder.states(entity["operation"], since=mark))
    aborted = [c for c in recorder.of(entity["aborted"], since=mark) if c.new and c.new.get("attributes", {}).get("event_type")]
    finished = [c for c in recorder.of(entity["finished"], since=mark) if c.new and c.new.get("attributes", {}).get("event_type")]
    abort_button = _deduplicated(recorder.states(entity["abort"], since=mark))
    log(f"   second run: operation state {' -> '.join(map(str, operation))}; abort button {' -> '.join(map(str, abort_button))}")
    failures += _expect("the second run was aborted: Run -> Aborting -> Ready", _in_order(operation, ["Run", "Aborting", "Ready"]))
    failures += _expect("ProgramAborted fired once, ProgramFinished not", (len(aborted), len(finished)) == (1, 0))

    # Restarting the bridge fires no event again.
    mark = recorder.mark()
    stack.bridge.stop()
    stack.bridge.start()
    settle(ha, recorder, entity["operation"], lambda s: s == "Ready")
    time.sleep(5)
    fired = [
        c.entity_id
        for c in recorder.changes[mark:]
        if c.entity_id in (entity["finished"], entity["aborted"])
        and c.state not in ("unavailable",)
        and c.old_state not in ("unavailable",)
    ]
    log(f"   events fired by a restart of hc2mqtt: {len(fired)}")
    failures += _expect("a bridge restart fires no event", fired == [])
    recorder.stop()
    return failures


def _deduplicated(states: list[str | None]) -> list[str | None]:
    return [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]]


def _in_order(seen: list[str | None], wanted: list[str]) -> bool:
    position = 0
    for state in seen:
        if position < len(wanted) and state == wanted[position]:
            position += 1
    return position == len(wanted)


def drive_hood(stack: Stack) -> int:
    """Light on at 40 %, off; venting on, speed 4 of 5, intensive stage 1, off: all through HA's services. Failures."""
    ha = stack.ha
    ids = {e["unique_id"]: e["entity_id"] for e in mqtt_entities(ha)}
    light, fan = ids["hood_cooking_common_setting_lighting"], ids["hood_cooking_common_program_hood_venting"]
    recorder = ha.watch([light, fan])
    failures = 0
    attribute = lambda entity_id, key: (ha.state(entity_id) or {}).get("attributes", {}).get(key)  # noqa: E731

    log("\n== the hood's light and fan driven from Home Assistant")
    settle(ha, recorder, light, lambda s: s == "off")
    ha.call_service("light", "turn_on", {"entity_id": light, "brightness_pct": 40})
    on = settle(ha, recorder, light, lambda s: s == "on")
    # The brightness comes back from the appliance: 40 % of 255.
    brightness = recorder.wait_for(light, lambda c: (c.new or {}).get("attributes", {}).get("brightness") == 102, timeout=30)
    log(f"   light: {on}, brightness {brightness.new['attributes']['brightness']} (of 255)")
    failures += _expect("the light went on at 40 %", on == "on" and attribute(light, "brightness") == 102)
    ha.call_service("light", "turn_off", {"entity_id": light})
    failures += _expect("the light went off", settle(ha, recorder, light, lambda s: s == "off") == "off")

    settle(ha, recorder, fan, lambda s: s == "off")
    ha.call_service("fan", "turn_on", {"entity_id": fan})
    failures += _expect("the venting started", settle(ha, recorder, fan, lambda s: s == "on") == "on")
    ha.call_service("fan", "set_percentage", {"entity_id": fan, "percentage": 80})
    speed = recorder.wait_for(fan, lambda c: (c.new or {}).get("attributes", {}).get("percentage") == 80, timeout=30)
    log(f"   fan: percentage {speed.new['attributes']['percentage']}")
    failures += _expect("the fan runs at stage 4 of 5 (80 %)", attribute(fan, "percentage") == 80)
    ha.call_service("fan", "set_preset_mode", {"entity_id": fan, "preset_mode": "IntensiveStage1"})
    preset = recorder.wait_for(fan, lambda c: (c.new or {}).get("attributes", {}).get("preset_mode") == "IntensiveStage1", timeout=30)
    failures += _expect("the fan boosts at IntensiveStage1", preset.new["attributes"]["preset_mode"] == "IntensiveStage1")
    ha.call_service("fan", "turn_off", {"entity_id": fan})
    failures += _expect("the venting stopped", settle(ha, recorder, fan, lambda s: s == "off") == "off")
    return failures


def _expect(what: str, ok: bool) -> int:
    log(f"   {'ok' if ok else 'FAILED'}: {what}")
    return 0 if ok else 1


# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hass", type=Path, default=Path(sys.executable).parent / "hass", help="the hass executable (default: next to this Python)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, HA config) and print where it is")
    args = parser.parse_args(argv)
    if not args.hass.exists():
        log(f"no hass at {args.hass}: run this with the venv of .ci/home_assistant")
        return 2

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hcpy-ha-check-", delete=not args.keep) as tmp:
        if args.keep:
            log(f"temporary files: {tmp}")
        try:
            with running_stack(Path(tmp), args.hass, ("--speed", str(SPEED))) as stack:
                failures = report(stack)
                counted = len(stack.ha.mqtt_problems())
                failures += drive_program(stack)
                failures += drive_hood(stack)
                # What HA logged about MQTT while the programs ran counts too.
                later = stack.ha.mqtt_problems()[counted:]
                log(f"\n== MQTT warnings/errors in HA's log while the programs ran: {len(later)}")
                for record in later:
                    log(f"   {record}")
                failures += len(later)
        except (HomeAssistantError, RuntimeError) as exc:
            log(f"\n!! check could not run: {exc}")
            return 2
        finally:
            log(f"\n(everything stopped; {time.monotonic() - started:.0f}s in all)")
    log("FAILED" if failures else "OK")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
