"""Each hcpy fork's users start hc2mqtt with their own files and find what they subscribe to.

The files, blocks, topics and payloads are those of the forks' READMEs
(../shared/seeds/): osresearch hcpy (000), the publishing-modes fork (001)
and homeconnect-hcpy's settings file and "addons" meters (004). hcpy2-0's config.ini is
tests/test_daemon.py's. hc2mqtt runs as users run it, a process of its own,
against a simulated dishwasher and a real broker.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from support import DISHWASHER, profile_files, simulated
from test_runs_meters import FakeMeter

from hcpy.app.forks import choose_layout, mqtt_conf
from hcpy.appliance.entry import entry_to_json
from hcpy.appliance.profile_xml import parse_profile
from hcpy.mqtt.topics import Layout
from hcpy.simulator import ManualClock

ROOT = Path(__file__).resolve().parents[1]

# The publishing-modes fork's README: its MQTT_CONF entry and the
# per-appliance block inside "description", verbatim (the port aside: the
# test's broker has its own).
MQTT_CONF = {"name": "MQTT_CONF", "host": "localhost", "topic_prefix": "hc2mqtt/", "port": 1883, "username": "", "password": ""}
MODES_BLOCK = {
    "publish_as_json": True,
    "publish_as_mqtt": True,
    "publish_homie_topics": True,
    "rename": {"default": "short", "Dishcare.Dishwasher.Setting.ExtraDry": "ExtraDrySet"},
    "publish": {
        "contains": [
            "BSH.Common.Event.", "BSH.Common.Option.", "BSH.Common.Root.", "BSH.Common.Setting.", "BSH.Common.Status.",
            "Dishcare.Dishwasher.Event.", "Dishcare.Dishwasher.Option.", "Dishcare.Dishwasher.Status.",
            "Dishcare.Dishwasher.Setting.",
        ],
        "long_names": [],
    },
    "publish_never": {"contains": [], "long_names": []},
}  # fmt: skip
# osresearch's summary keys.
SUMMARY_KEYS = {"state", "door", "remaining", "power", "lowwaterpressure", "aquastop", "error", "remainingseconds"}


@pytest.fixture(scope="module")
def profile():
    return parse_profile(*profile_files(DISHWASHER))


@pytest.fixture
def dishwasher(profile):
    sim, entry = simulated(profile, "dishwasher")
    yield sim, entry
    sim.stop()


@contextmanager
def hc2mqtt(*args: str):
    """`python hc2mqtt.py ARGS` until the block ends; then SIGTERM, and its output checked for tracebacks."""
    daemon = subprocess.Popen(
        [sys.executable, "hc2mqtt.py", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    result = {"output": ""}
    try:
        yield result
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
        try:
            result["output"], _ = daemon.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            daemon.kill()
            result["output"], _ = daemon.communicate()
    assert "Traceback" not in result["output"], result["output"]


def test_osresearch_users_start_it_with_the_devices_file_and_read_the_summary_on_state(tmp_path, broker, subscriber, dishwasher):
    sim, entry = dishwasher
    devices = tmp_path / "config.json"
    devices.write_text(json.dumps([entry_to_json(entry)], indent=4))
    # osresearch: `hc2mqtt config.json`, -h for the broker's host.
    with hc2mqtt(str(devices), "-h", "127.0.0.1", "--mqtt_port", str(broker.port)) as run:
        summary = json.loads(subscriber.wait("homeconnect/dishwasher/state", timeout=20))
        assert set(summary) == SUMMARY_KEYS
        assert (summary["state"], summary["door"], summary["power"]) == ("Ready", "Closed", True)
        mark = subscriber.mark()
        sim.set_value(527, 0)  # the door opens
        summary = json.loads(subscriber.wait("homeconnect/dishwasher/state", since=mark))
        assert summary["door"] == "Open"
        # osresearch's set topic and payload.
        answer = subscriber.response("homeconnect/dishwasher/set", {"uid": 539, "value": 2})
        assert answer["status"] == "ok", answer
    assert "osresearch layout" in run["output"]
    # The summary alone on T/state: nothing else (no JSON object) was published there.
    assert all(set(json.loads(p)) == SUMMARY_KEYS for t, p, _ in subscriber.messages if t == "homeconnect/dishwasher/state")
    assert "homeconnect/dishwasher" not in subscriber.last  # not on T as well


def test_publishing_modes_users_keep_their_devices_json_and_topics(tmp_path, broker, subscriber, dishwasher):
    sim, entry = dishwasher
    appliance = entry_to_json(entry)
    appliance["description"]["hc2mqtt"] = MODES_BLOCK
    devices = tmp_path / "config.json"
    devices.write_text(json.dumps([{**MQTT_CONF, "port": broker.port}, appliance], indent=4))
    # The fork's way to start it: the file as the only argument; MQTT_CONF has the broker.
    with hc2mqtt(str(devices)) as run:
        base = "hc2mqtt/dishwasher"
        subscriber.wait(f"{base}/LWT", "online", timeout=20)
        assert subscriber.wait(f"{base}/DoorState/value") == "Closed"
        assert subscriber.wait(f"{base}/ProgramFinished/value") == "Off"
        assert subscriber.wait(f"{base}/ExtraDrySet/value") in ("False", "True")
        subscriber.wait(f"{base}/WaterForecast/value")
        # The JSON object on <prefix><name>/state, keyed by the renamed names.
        document = json.loads(subscriber.wait(f"{base}/state"))
        assert document["DoorState"] == "Closed" and document["ProgramFinished"] == "Off"
        assert isinstance(document["ExtraDrySet"], bool) and "WaterForecast" in document
        # The Homie attributes of the README's example.
        expected = {
            f"{base}/DoorState/$name": "BSH.Common.Status.DoorState",
            f"{base}/DoorState/$type": "type",
            f"{base}/DoorState/$properties": "value",
            f"{base}/DoorState/value/$name": "DoorState",
            f"{base}/DoorState/value/$datatype": "enum",
            f"{base}/DoorState/value/$format": "Open,Closed",
        }
        for topic, payload in expected.items():
            assert subscriber.wait(topic) == payload, topic
        assert subscriber.wait(f"{base}/$homie") == "4.0.0"
        assert "DoorState" in subscriber.wait(f"{base}/$nodes").split(",")
        subscriber.wait(f"{base}/$state", "ready")
        mark = subscriber.mark()
        sim.set_value(527, 0)
        subscriber.wait(f"{base}/DoorState/value", "Open", since=mark)
        assert json.loads(subscriber.wait(f"{base}/state", since=mark))["DoorState"] == "Open"
        # Set via <name>/set, as the fork documents.
        answer = subscriber.response(f"{base}/set", {"uid": 539, "value": "Off"})
        assert answer["status"] == "ok", answer
        subscriber.wait(f"{base}/PowerState/value", "Off")
    output = run["output"]
    assert "MQTT settings from" in output and "mqtt_host, mqtt_port, mqtt_prefix" in output
    assert "publishing-modes layout" in output and "MQTT_CONF" in output
    assert "MQTT_CONF" not in [t.split("/")[1] for t, _, _ in subscriber.messages]  # no appliance of that name
    # Not hcpy2-0's layout, nor a summary.
    assert not any(t.startswith(f"{base}/state/") or t == base for t, _, _ in subscriber.messages)


def test_the_command_line_wins_over_mqtt_conf(tmp_path, broker, subscriber, dishwasher):
    _, entry = dishwasher
    devices = tmp_path / "devices.json"
    conf = {**MQTT_CONF, "port": 1, "topic_prefix": "elsewhere/"}  # a port nothing listens on
    devices.write_text(json.dumps([conf, entry_to_json(entry)]))
    with hc2mqtt("--devices_file", str(devices), "--mqtt_port", str(broker.port), "-p", "mine/", "--topic_layout",
                 "hcpy2-0"):  # fmt: skip
        subscriber.wait("mine/dishwasher/state/bsh_common_status_doorstate", "Closed", timeout=20)
        subscriber.wait("mine/dishwasher", lambda p: set(json.loads(p)) == SUMMARY_KEYS)  # hcpy2-0's summary place
    assert not any(t.startswith("elsewhere/") for t, _, _ in subscriber.messages)


def test_homeconnect_hcpy_users_start_it_with_their_config_json_and_addons(tmp_path, broker, subscriber, profile):
    """config.json and a devices.json with "addons" (fake Tasmota plug and ESPHome water meter): a run's kWh and litres."""
    meter = FakeMeter()
    clock = ManualClock()
    sim, entry = simulated(profile, "dishwasher", clock=clock)
    appliance = entry_to_json(entry)
    appliance["addons"] = {  # homeconnect-hcpy's block, pointed at the fake meters
        "installed": "2022-09-06 12:00:00",
        "powermeter": meter.url("/cm?cmnd=status+8"),
        "watermeter": meter.url("/sensor/wasseruhr_anzeige"),
        "taps": 20,
        "taps_min": 5,
        "logfields": ["DishwasherTimestamp", "PowerState", "OperationState", "energy_used", "water_used"],
    }
    devices = tmp_path / "devices.json"
    devices.write_text(json.dumps([appliance]))
    config = tmp_path / "config.json"
    # homeconnect-hcpy's config.json, verbatim keys (secrets and hosts of the test's own).
    config.write_text(json.dumps({
        "devices_file": str(devices),
        "mqtt_host": "127.0.0.1",
        "mqtt_username": "",
        "mqtt_password": "",
        "mqtt_port": broker.port,
        "mqtt_prefix": "homeconnect/",
        "mqtt_ssl": False,
        "mqtt_cafile": None,
        "mqtt_certfile": None,
        "mqtt_keyfile": None,
        "mqtt_clientname": "lab.hcapp",
        "domain_suffix": "",
        "debug": False,
        "locale": "de-de",
        "tzinfo": "Europe/Vaduz",
        "LOGLEVEL": "INFO",
    }, indent=4))  # fmt: skip
    base = "homeconnect/dishwasher"
    try:
        with hc2mqtt("--config", str(config)) as run:
            subscriber.wait(f"{base}/state/bsh_common_status_operationstate", "Ready", timeout=20)
            mark = subscriber.mark()
            answer = subscriber.response(f"{base}/activeProgram", {"program": "Dishcare.Dishwasher.Program.Quick45"})
            assert answer["status"] == "ok", answer
            active = json.loads(subscriber.wait(f"{base}/run/active", lambda p: "Quick45" in p, since=mark))
            assert (active["energy_start_kwh"], active["water_start_l"]) == (169.961, 9804.0)
            meter.total, meter.water_m3 = 170.661, 9.8165  # 0.7 kWh and 12.5 L later
            sim.advance(2700)
            record = json.loads(subscriber.wait(f"{base}/run", lambda p: "Quick45" in p, since=mark))
            assert (record["ended"], record["energy_kwh"], record["water_l"]) == ("finished", 0.7, 12.5)
            totals = json.loads(subscriber.wait(f"{base}/run/totals", lambda p: json.loads(p)["runs"] == 1))
            assert (totals["energy_kwh"], totals["water_l"]) == (0.7, 12.5)
    finally:
        sim.stop()
        meter.close()
    assert "locale, tzinfo not used by hc2mqtt" in run["output"]
    assert "client id lab.hcapp" in run["output"]
    history = (tmp_path / "runs" / "dishwasher.jsonl").read_text().splitlines()
    assert [json.loads(line)["energy_kwh"] for line in history] == [0.7]


def test_a_settings_file_given_as_the_devices_file_is_named(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"mqtt_host": "localhost"}))
    result = subprocess.run([sys.executable, "hc2mqtt.py", str(config)], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "give it with --config" in result.stderr and "Traceback" not in result.stderr


# -- pure: what decides the layout and the broker settings -----------------------------------------


@pytest.mark.parametrize(
    "requested, devices, argument, layout",
    [
        ("auto", [{"name": "dishwasher"}], False, Layout.HCPY),
        ("auto", [{"name": "dishwasher"}], True, Layout.OSRESEARCH),
        ("auto", [MQTT_CONF, {"name": "dishwasher"}], True, Layout.PUBLISHING_MODES),
        ("auto", [{"name": "d", "description": {"type": "Dishwasher", "hc2mqtt": {}}}], False, Layout.PUBLISHING_MODES),
        ("auto", [{"name": "d", "hc2mqtt": {"publish_as_json": True}}], False, Layout.HCPY),  # hcpy's own place
        ("hcpy2-0", [MQTT_CONF], True, Layout.HCPY),
        ("publishing-modes", None, False, Layout.PUBLISHING_MODES),
    ],
)
def test_the_layout_follows_the_users_files(requested, devices, argument, layout):
    assert choose_layout(requested, devices, argument).layout is layout


def test_mqtt_conf_gives_broker_options_and_names_a_bad_value():
    options = mqtt_conf([MQTT_CONF, {"name": "dishwasher"}], "devices.json")
    assert options == {"mqtt_host": "localhost", "mqtt_port": 1883, "mqtt_prefix": "hc2mqtt/"}  # empty login: none
    assert mqtt_conf([{"name": "dishwasher"}], "devices.json") == {}
    with pytest.raises(Exception, match=r"devices\.json: MQTT_CONF: port must be a whole number"):
        mqtt_conf([{**MQTT_CONF, "port": "x"}], "devices.json")
    with pytest.raises(Exception, match="password must be text, not a hidden value") as error:
        mqtt_conf([{**MQTT_CONF, "password": 12345678}], "devices.json")
    assert "12345678" not in str(error.value)


def test_home_assistant_reads_the_publishing_modes_topics(profile):
    """Discovery follows the fork's layout: each entity's state topic is one the publisher writes, payloads it knows."""
    from hcpy.appliance.state import ApplianceState
    from hcpy.homeassistant.discovery import Discovery
    from hcpy.mqtt.options import PublishOptions
    from hcpy.mqtt.publishing import Publisher
    from hcpy.mqtt.topics import Topics

    topics = Topics("hc2mqtt/", "dishwasher")
    options = PublishOptions.parse(MODES_BLOCK, PublishOptions(layout=Layout.PUBLISHING_MODES), "dishwasher")
    state = ApplianceState(profile, "dishwasher")
    publisher = Publisher(topics, options, profile)
    state.apply_values([{"uid": 527, "value": 1}, {"uid": 539, "value": 2}])
    changes = state.apply_values([{"uid": 540, "value": 1}])  # ProgramFinished: Present
    sent = {m.topic: m.payload for m in publisher.everything(state) + publisher.changes(state, changes)}
    configs = {m.topic: json.loads(m.payload) for m in Discovery(topics, publisher.naming).messages(state, {})}
    finished = configs["homeassistant/sensor/hcpy/dishwasher_bsh_common_event_programfinished/config"]
    assert finished["state_topic"] == "hc2mqtt/dishwasher/ProgramFinished/value"
    assert sent[finished["state_topic"]] == "Present" and "Present" in finished["options"]
    assert not any("/event/" in t for t in configs)  # the fork has no event topics
    door = configs["homeassistant/sensor/hcpy/dishwasher_bsh_common_status_doorstate/config"]
    assert (door["state_topic"], sent[door["state_topic"]]) == ("hc2mqtt/dishwasher/DoorState/value", "Closed")
    # Every entity reads a topic of the fork's layout (or whether its control works now).
    read = {c["state_topic"] for c in configs.values() if "state_topic" in c}
    assert len(read) > 50
    assert all(re.fullmatch(r"hc2mqtt/dishwasher/([^/]+/value|available/[a-z0-9_]+)", t) for t in read), read
