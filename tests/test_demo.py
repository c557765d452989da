"""`python hc2mqtt.py --demo`: the simulated appliances bridged under demo/, apart from real ones.

The command runs as a user runs it (a subprocess against a real mosquitto);
what it publishes is compared with what hcpy would publish for real
appliances of the same names. Timeouts are generous and nothing asserts on
wall time: under load the machine may be slow, never wrong.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from hcpy.appliance.state import ApplianceState
from hcpy.homeassistant.discovery import Discovery, config_topic_filter
from hcpy.mqtt.options import PublishOptions
from hcpy.mqtt.publishing import Publisher
from hcpy.mqtt.topics import DEFAULT_PREFIX, Topics
from hcpy.simulator.examples import demo_entries

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("dishwasher", "coffeemaker", "washer")  # the example profiles' own names
WAIT = 60.0  # seconds; only ever reached when something is broken


def demo_topic(name: str, suffix: str = "") -> str:
    return f"demo/demo_{name}" + (f"/{suffix}" if suffix else "")


@pytest.fixture
def demo(broker, subscriber, tmp_path):
    """hc2mqtt --demo with discovery, bridged to the test broker; its log file and the process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HCPY_")}
    log_path = tmp_path / "hc2mqtt.log"
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "hc2mqtt.py"), "--demo", "--mqtt_host", "127.0.0.1",
             "--mqtt_port", str(broker.port), "--ha-discovery"],  # fmt: skip
            cwd=workdir,  # an empty directory: whatever it writes would show here
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process, log_path, workdir
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_demo_bridges_the_simulated_appliances_under_demo(demo, subscriber):
    process, log_path, workdir = demo
    for name in NAMES:
        subscriber.wait(demo_topic(name, "LWT"), "online", timeout=WAIT)
    subscriber.wait("demo/LWT", "online", timeout=WAIT)
    door = subscriber.wait(demo_topic("dishwasher", "state/bsh_common_status_doorstate"), timeout=WAIT)
    assert door in ("Open", "Closed")
    for name in NAMES:
        subscriber.wait(demo_topic(name, "state/bsh_common_setting_powerstate"), timeout=WAIT)

    # A program started over MQTT runs (Remote Start is allowed in the demo).
    answer = subscriber.response(demo_topic("dishwasher", "activeProgram"), {"program": "Dishcare.Dishwasher.Program.Eco50"})
    assert answer["status"] == "ok", answer
    subscriber.wait(demo_topic("dishwasher", "state/bsh_common_status_operationstate"), "Run", timeout=WAIT)

    # Nothing under the default prefix: a real installation's topics are not touched.
    topics = [t for t, _, _ in list(subscriber.messages)]
    assert not [t for t in topics if t.startswith(DEFAULT_PREFIX)]
    assert all(t.startswith(("demo/", "homeassistant/")) for t in topics), sorted(set(topics))[:20]

    log = log_path.read_text()
    first = log.splitlines()[0]
    assert "INFO" in first and "DEMO" in first and "demo/" in first and "Ctrl-C" in first, first

    process.send_signal(signal.SIGTERM)
    assert process.wait(WAIT) == 0, log_path.read_text()[-3000:]
    for name in NAMES:
        subscriber.wait(demo_topic(name, "LWT"), "offline", timeout=WAIT)
    # No devices.json, deviceid or keys left behind.
    assert list(workdir.iterdir()) == []


def real_discovery(name: str) -> dict[str, dict]:
    """unique_id -> (config topic, device identifiers) hcpy gives a real appliance `name` of the demo's profile."""
    entry = next(e for e in demo_entries("127.0.0.1") if e.name == name)
    topics = Topics(DEFAULT_PREFIX, name)
    state = ApplianceState(entry.profile, name, logging.getLogger("test"))
    publisher = Publisher(topics, replace(PublishOptions(), home_assistant=True), entry.profile)
    out = {}
    for message in Discovery(topics, publisher.naming).messages(state, {}):
        config = json.loads(message.payload)
        out[config["unique_id"]] = {"topic": message.topic, "identifiers": config["device"]["identifiers"]}
    return out


def test_demo_discovery_cannot_collide_with_real_appliances(demo, subscriber):
    process, _, _ = demo
    subscriber.wait(demo_topic("dishwasher", "LWT"), "online", timeout=WAIT)
    filter_ = config_topic_filter()
    prefix = filter_.split("/+/")[0] + "/"

    def demo_configs() -> dict[str, dict]:
        return {
            t: json.loads(p)
            for t, p, _ in list(subscriber.messages)
            if t.startswith(prefix) and t.endswith("/config") and p and "demo_dishwasher" in t
        }

    real = real_discovery("dishwasher")
    assert len(real) > 20
    # The same entities as a real dishwasher's, only under another name: wait for each.
    for found in real.values():
        head, _, object_id = found["topic"].rpartition("/hcpy/")
        subscriber.wait(f"{head}/hcpy/demo_{object_id}", timeout=WAIT)
    configs = demo_configs()
    demo_ids = {c["unique_id"] for c in configs.values()}
    demo_devices = {i for c in configs.values() for i in c["device"]["identifiers"]}
    real_devices = {i for r in real.values() for i in r["identifiers"]}
    assert {"demo_" + u for u in real} <= demo_ids
    assert not demo_ids & set(real), sorted(demo_ids & set(real))[:5]
    assert not set(configs) & {r["topic"] for r in real.values()}
    assert demo_devices == {"demo_dishwasher"} and real_devices == {"dishwasher"}
    process.send_signal(signal.SIGTERM)
    assert process.wait(WAIT) == 0


def retained_now(port: int) -> dict[str, str]:
    """What the broker retains now (non-empty), as a client connecting afresh sees it."""
    from support import Subscriber

    late = Subscriber(port, client_id="test-after-the-demo")
    try:
        late.sync(timeout=WAIT)
        return {t: p for t, p, retained in list(late.messages) if retained and p}
    finally:
        late.close()


def test_demo_leaves_no_retained_topic_when_it_stops(demo, broker, subscriber):
    """Ctrl-C (SIGINT) empties every retained topic the demo published: values, LWTs, runs, discovery."""
    process, log_path, _ = demo
    for name in NAMES:
        subscriber.wait(demo_topic(name, "LWT"), "online", timeout=WAIT)
    # A run under way: its record topics are retained too.
    answer = subscriber.response(demo_topic("dishwasher", "activeProgram"), {"program": "Dishcare.Dishwasher.Program.Eco50"})
    assert answer["status"] == "ok", answer
    subscriber.wait(demo_topic("dishwasher", "run/active"), timeout=WAIT)
    # Someone else's retained topic under demo/ is not the demo's to empty.
    subscriber.client.publish("demo/not_the_demos", "kept", qos=1, retain=True).wait_for_publish(5)
    subscriber.sync(timeout=WAIT)

    before = retained_now(broker.port)
    ours = [t for t in before if t.startswith("demo/") or "/hcpy/demo_" in t]
    assert len(ours) > 300, len(ours)  # what the issue counted: ~370
    assert "demo/LWT" in before and any("/hcpy/demo_dishwasher_" in t for t in before)

    process.send_signal(signal.SIGINT)
    assert process.wait(WAIT) == 0, log_path.read_text()[-3000:]
    after = retained_now(broker.port)
    left = sorted(t for t in after if t.startswith("demo/") or "/hcpy/demo_" in t)
    assert left == ["demo/not_the_demos"], left[:20]


def test_the_demo_lists_the_real_appliances_first_and_every_kind_where_it_was_placed():
    """A newcomer's first look (the console, the log): the dishwasher, coffee machine and washer, whose profiles
    are real appliances', come first; a new example kind must be given its place in examples.ORDER."""
    from hcpy.simulator.examples import ORDER

    entries = demo_entries("127.0.0.1", 9000)
    kinds = [e.profile.description.type.lower() for e in entries]
    assert kinds[:3] == ["dishwasher", "coffeemaker", "washer"]
    assert set(kinds) <= set(ORDER), set(kinds) - set(ORDER)
    assert kinds == sorted(kinds, key=ORDER.index)
    assert [e.port for e in entries] == list(range(9000, 9000 + len(entries)))
