"""Values of every shape real appliances send, through the real bridge to a real broker.

Object values (a timezone, an ErrorCodesList), floats such as 13273.0 and
ISO 8601 date-times reach MQTT as the user expects: JSON, the float as it
came, the time string as sent; Home Assistant gets a sensor that shows
something short of an object (its attributes hold the object), and a
timestamp (or date) sensor where the profile types a feature so.

The sloppy frames of tests/fixtures/sloppy_frames.json go through the same
bridge on both transports: the appliance stays online (LWT, values on
T/state), or the log says truthfully why not.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support import DISHWASHER, PREFIX, Subscriber, bridged, eventually, profile_files, simulated
from test_sloppy_frames import frame

from hcpy.appliance.entry import ApplianceEntry
from hcpy.appliance.model import Access, Feature, Kind, Limits, Profile
from hcpy.appliance.profile_xml import parse_profile
from hcpy.appliance.state import ApplianceState
from hcpy.homeassistant.components import ATTRIBUTES_TEMPLATE, DATE_TEMPLATE, STRUCTURE_TEMPLATE, TIMESTAMP_TEMPLATE
from hcpy.homeassistant.discovery import Discovery, DiscoveryOptions
from hcpy.mqtt.bridge import Bridge
from hcpy.mqtt.naming import Naming
from hcpy.mqtt.options import PublishOptions
from hcpy.mqtt.topics import Topics
from hcpy.protocol.resources import RO_VALUES
from hcpy.simulator import Simulator

# Features typed as real profiles type such values: a real ErrorCodesList is
# refCID 85 / refDID 408B (a list of strings). The other names are invented
# for the test; their types are PROTOCOL.md's (06/8A dateTime, 16/A8 date, 8D JSON).
EXTRA = [
    Feature(0x0266, "BSH.Common.Status.ErrorCodesList", Kind.STATUS, content_type=0x85, data_type=0x408B),
    Feature(0x7F01, "Test.Setting.TimeZone", Kind.SETTING, Limits(access=Access.READ_WRITE), 0x05, 0x8D),
    Feature(0x7F02, "Test.Status.StartedAt", Kind.STATUS, content_type=0x06, data_type=0x8A),
    Feature(0x7F03, "Test.Status.ServiceDate", Kind.STATUS, content_type=0x16, data_type=0xA8),
]
ERRORS = {"length": 2, "list": [{"code": "E:15", "when": "2024-03-01T08:15:00"}, {"code": "E:24"}]}
ZONE = {"tz": "CET-1CEST,M3.5.0/3,M10.5.0/3", "tzName": "Europe/Berlin"}


def extended() -> Profile:
    profile = parse_profile(*profile_files(DISHWASHER))
    for feature in EXTRA:
        profile.features[feature.uid] = feature
    profile.reindex()
    return profile


@pytest.fixture(params=["tls", "aes"])
def transport(request):
    return request.param


@contextmanager
def through_bridge(broker, sim: Simulator, entry: ApplianceEntry, **settings) -> Iterator[tuple[Bridge, Subscriber]]:
    """hcpy's bridge between `sim` and `broker`, and a subscriber there; on leaving both go and `sim` stops."""
    subscriber = Subscriber(broker.port)
    try:
        with bridged(broker.port, [(sim, entry)], **settings) as bridge:
            yield bridge, subscriber
    finally:
        subscriber.close()
        sim.stop()


def state_topic(name: str, feature_name: str) -> str:
    return f"{PREFIX}{name}/state/{feature_name.lower().replace('.', '_')}"


def config_topic(name: str, component: str, feature_name: str) -> str:
    return f"homeassistant/{component}/hcpy/{name}_{feature_name.lower().replace('.', '_')}/config"


# --- Home Assistant's configs, pure ----------------------------------------------------


def configs(profile: Profile) -> dict[str, dict]:
    topics = Topics(PREFIX, "dishwasher")
    naming = Naming(topics, PublishOptions(), profile)
    messages = Discovery(topics, naming, DiscoveryOptions()).messages(ApplianceState(profile, "dishwasher"), {})
    return {m.topic: json.loads(m.payload) for m in messages}


def test_structures_date_times_and_dates_get_fitting_sensors():
    found = configs(extended())
    for name in ("BSH.Common.Status.ErrorCodesList", "Test.Setting.TimeZone"):
        config = found[config_topic("dishwasher", "sensor", name)]
        assert config["json_attributes_topic"] == config["state_topic"] == state_topic("dishwasher", name)
        assert "value_json" in config["value_template"] and "tojson" in config["json_attributes_template"]
        assert "device_class" not in config and "unit_of_measurement" not in config
    started = found[config_topic("dishwasher", "sensor", "Test.Status.StartedAt")]
    assert started["device_class"] == "timestamp" and "as_local" in started["value_template"]
    assert found[config_topic("dishwasher", "sensor", "Test.Status.ServiceDate")]["device_class"] == "date"
    # A time of day (ApplianceTime: 17/A9) is no point in time: it stays a plain sensor.
    appliance_time = found[config_topic("dishwasher", "sensor", "BSH.Common.Setting.ApplianceTime")]
    assert set(appliance_time) & {"device_class", "value_template", "json_attributes_topic"} == set()
    # A float for a time span is read by a numeric sensor (unit and device class, no template that cuts it).
    remaining = found[config_topic("dishwasher", "sensor", "BSH.Common.Option.RemainingProgramTime")]
    assert remaining["unit_of_measurement"] == "s" and "value_template" not in remaining


# Home Assistant's own template engine renders each template for each payload
# (the venv .ci/home_assistant keeps; HA's time zone Europe/Berlin).
_RENDER = """
import asyncio, json, sys
from homeassistant.core import HomeAssistant
from homeassistant.helpers.template import Template
import homeassistant.util.dt as dt_util

async def main(cases, directory):
    hass = HomeAssistant(directory)
    dt_util.set_default_time_zone(await dt_util.async_get_time_zone("Europe/Berlin"))
    out = [Template(t, hass).async_render_with_possible_json_value(p) for t, p in cases]
    await hass.async_stop(force=True)
    return out

print(json.dumps(asyncio.run(main(json.loads(sys.stdin.read()), sys.argv[1]))))
"""
RENDERED = [
    (STRUCTURE_TEMPLATE, json.dumps(ZONE), "Europe/Berlin"),
    (STRUCTURE_TEMPLATE, json.dumps(ERRORS), "2"),
    (STRUCTURE_TEMPLATE, '{"length": 0, "list": []}', "0"),
    (STRUCTURE_TEMPLATE, "[1, 2, 3]", "3"),
    (STRUCTURE_TEMPLATE, "Closed", "Closed"),
    (STRUCTURE_TEMPLATE, "x" * 300, "x" * 255),
    (ATTRIBUTES_TEMPLATE, json.dumps(ERRORS), json.dumps(ERRORS)),
    (ATTRIBUTES_TEMPLATE, "[1, 2]", '{"list": [1, 2]}'),
    (ATTRIBUTES_TEMPLATE, "13273.0", "{}"),
    (TIMESTAMP_TEMPLATE, "2024-05-01T10:00:00Z", "2024-05-01T12:00:00+02:00"),
    (TIMESTAMP_TEMPLATE, "2026-09-10T12:09:00", "2026-09-10T12:09:00+02:00"),  # no zone: the appliance's local time
    (TIMESTAMP_TEMPLATE, '""', "None"),
    (TIMESTAMP_TEMPLATE, "garbage", "None"),
    (DATE_TEMPLATE, "2024-05-01", "2024-05-01"),
    (DATE_TEMPLATE, "2024-05-01T10:00:00", "2024-05-01"),
    (DATE_TEMPLATE, "garbage", "None"),
]


def test_home_assistant_renders_the_templates(tmp_path):
    python = Path(os.environ.get("HCPY_HA_VENV", Path.home() / ".cache/hcpy-ci/ha-venv")) / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no Home Assistant venv at {python.parent.parent} (.ci/home_assistant makes it)")
    cases = [[template, payload] for template, payload, _ in RENDERED]
    done = subprocess.run([str(python), "-c", _RENDER, str(tmp_path)], input=json.dumps(cases), capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr and "ERROR" not in done.stderr, done.stderr
    assert json.loads(done.stdout) == [expected for _, _, expected in RENDERED]


# --- through the bridge, on both transports ---------------------------------------------


def test_objects_floats_and_date_times_reach_mqtt_as_sent(broker, transport):
    profile = extended()
    sim, entry = simulated(profile, "dishwasher", transport)
    with through_bridge(broker, sim, entry, ha_discovery=True) as (bridge, subscriber):
        subscriber.wait(f"{PREFIX}dishwasher/LWT", "online")
        config = json.loads(subscriber.wait(config_topic("dishwasher", "sensor", "Test.Status.StartedAt")))
        assert config["device_class"] == "timestamp"
        # The simulator's first values: an empty list as appliances send it, no time yet.
        first = subscriber.wait(state_topic("dishwasher", "BSH.Common.Status.ErrorCodesList"))
        assert json.loads(first) == {"length": 0, "list": []}
        assert subscriber.wait(state_topic("dishwasher", "Test.Status.StartedAt")) == '""'
        mark = subscriber.mark()
        uid = {f.name: f.uid for f in EXTRA}
        remaining = profile.by_name("BSH.Common.Option.RemainingProgramTime").uid
        sim.notify(RO_VALUES, [
            {"uid": uid["BSH.Common.Status.ErrorCodesList"], "value": ERRORS},
            {"uid": uid["Test.Setting.TimeZone"], "value": ZONE},
            {"uid": uid["Test.Status.StartedAt"], "value": "2024-05-01T10:00:00Z"},
            {"uid": uid["Test.Status.ServiceDate"], "value": "2024-05-01"},
            {"uid": remaining, "value": 13273.0},
        ])  # fmt: skip
        errors = subscriber.wait(state_topic("dishwasher", "BSH.Common.Status.ErrorCodesList"), since=mark)
        assert json.loads(errors) == ERRORS
        zone = subscriber.wait(state_topic("dishwasher", "Test.Setting.TimeZone"), since=mark)
        assert json.loads(zone) == ZONE
        started = subscriber.wait(state_topic("dishwasher", "Test.Status.StartedAt"), since=mark)
        assert started == "2024-05-01T10:00:00Z"
        assert subscriber.wait(state_topic("dishwasher", "Test.Status.ServiceDate"), since=mark) == "2024-05-01"
        assert subscriber.wait(state_topic("dishwasher", "BSH.Common.Option.RemainingProgramTime"),
                               since=mark) == "13273.0"  # fmt: skip
        errors_config = json.loads(subscriber.last[config_topic("dishwasher", "sensor",
                                                                "BSH.Common.Status.ErrorCodesList")])  # fmt: skip
        assert errors_config["json_attributes_topic"] == state_topic("dishwasher", "BSH.Common.Status.ErrorCodesList")
        assert bridge.appliances[0].connection.online


@pytest.mark.parametrize("shape", ["values_a_brace_short", "values_bracket_and_brace_short"])
def test_a_repaired_handshake_answer_brings_the_appliance_online(broker, transport, shape, caplog):
    caplog.set_level(logging.INFO, logger="hcpy")
    profile = parse_profile(*profile_files(DISHWASHER))
    sim, entry = simulated(profile, "dishwasher", transport)
    sim.mangle_next("/ro/allMandatoryValues", lambda reply: frame(profile, shape, reply))
    with through_bridge(broker, sim, entry) as (bridge, subscriber):
        subscriber.wait(f"{PREFIX}dishwasher/LWT", "online")
        remaining = state_topic("dishwasher", "BSH.Common.Option.RemainingProgramTime")
        assert subscriber.wait(remaining) == "13273.0"
        zone = json.loads(subscriber.wait(state_topic("dishwasher", "BSH.Common.Setting.ApplianceTime")))
        assert zone == {"tz": "Europe/Berlin", "tzName": "CET-1CEST,M3.5.0,M10.5.0/3"}
        assert subscriber.wait(state_topic("dishwasher", "BSH.Common.Option.EnergyForecast")) == "45"
        said = [r.getMessage() for r in caplog.records]
        assert len([line for line in said if line.startswith("repaired")]) == 1
        assert not any("did not answer" in line for line in said)
        assert bridge.appliances[0].connection.stats.connects == 1


def test_an_answer_that_never_mends_leaves_the_appliance_offline_and_says_why(broker, transport, caplog):
    caplog.set_level(logging.INFO, logger="hcpy")
    profile = parse_profile(*profile_files(DISHWASHER))
    sim, entry = simulated(profile, "dishwasher", transport)
    sim.mangle_next("/ro/allMandatoryValues", lambda reply: frame(profile, "values_bracket_lost_inside", reply),
                    times=1000)  # fmt: skip
    with through_bridge(broker, sim, entry) as (bridge, subscriber):
        eventually(lambda: len([m for m in sim.received if m.resource == "/ro/allMandatoryValues"]) >= 3,
                   what="three handshakes")  # fmt: skip
        connection = bridge.appliances[0].connection
        assert not connection.online
        assert subscriber.wait(f"{PREFIX}dishwasher/LWT") == "offline"
        assert "online" not in [p for t, p, _ in subscriber.messages if t == f"{PREFIX}dishwasher/LWT"]
        assert "could not be read" in connection.stats.reason
        said = [r.getMessage() for r in caplog.records]
        why = [line for line in said if "could not be read" in line]
        assert len(why) == 1 and "/ro/allMandatoryValues" in why[0]
        assert not any("did not answer" in line for line in said)


def test_sloppy_notifications_keep_the_appliance_online_with_values_on_mqtt(broker, transport, caplog):
    caplog.set_level(logging.INFO, logger="hcpy")
    profile = parse_profile(*profile_files(DISHWASHER))
    sim, entry = simulated(profile, "dishwasher", transport)
    with through_bridge(broker, sim, entry, ha_discovery=True) as (bridge, subscriber):
        subscriber.wait(f"{PREFIX}dishwasher/LWT", "online")
        connection = bridge.appliances[0].connection
        session = connection.session
        assert session is not None and session.sid is not None
        mark = subscriber.mark()
        for name in ("description_changes_lists_and_unknown_programs", "values_objects_and_floats",
                     "notify_a_brace_short", "notify_a_brace_short"):  # fmt: skip
            sim.send_raw(frame(profile, name, sid=session.sid))
        forecast = state_topic("dishwasher", "BSH.Common.Option.EnergyForecast")
        assert subscriber.wait(forecast, "61", since=mark) == "61"  # the repaired notification
        zone = subscriber.wait(state_topic("dishwasher", "BSH.Common.Setting.ApplianceTime"),
                               lambda p: "JST-9" in p, since=mark)  # fmt: skip
        assert json.loads(zone) == {"tz": "Asia/Tokyo", "tzName": "JST-9"}
        remaining = state_topic("dishwasher", "BSH.Common.Option.RemainingProgramTime")
        assert subscriber.wait(remaining, "13273.0", since=mark)  # after the change's own 3600
        intensive = state_topic("dishwasher", "Dishcare.Dishwasher.Option.IntensivZone")
        assert subscriber.wait(intensive, "True", since=mark)  # applied although its program is unknown
        assert connection.online and connection.stats.connects == 1
        assert subscriber.last[f"{PREFIX}dishwasher/LWT"] == "online"
        said = [r.getMessage() for r in caplog.records]
        assert len([line for line in said if line.startswith("repaired")]) == 1
        assert not any("could not be processed" in line or "ignored a message" in line for line in said)


@pytest.mark.parametrize("shape", ["values_bracket_lost_inside", "values_cut_in_a_string"])
def test_an_unrepairable_answer_is_said_once_and_the_handshake_retried(broker, transport, shape, caplog):
    caplog.set_level(logging.INFO, logger="hcpy")
    profile = parse_profile(*profile_files(DISHWASHER))
    sim, entry = simulated(profile, "dishwasher", transport)
    sim.mangle_next("/ro/allMandatoryValues", lambda reply: frame(profile, shape, reply), times=2)
    with through_bridge(broker, sim, entry) as (_, subscriber):
        subscriber.wait(f"{PREFIX}dishwasher/LWT", "online")
        assert subscriber.wait(state_topic("dishwasher", "BSH.Common.Status.DoorState")) in ("Open", "Closed")
        asked = [m for m in sim.received if m.resource == "/ro/allMandatoryValues"]
        assert len(asked) == 3  # two sloppy answers, then a good one
        said = [r.getMessage() for r in caplog.records]
        why = [line for line in said if "could not be read" in line]
        assert len(why) == 1 and "retrying" in why[0], said
        assert not any("did not answer" in line for line in said)


def test_answers_without_data_or_code_are_accepted_by_the_bridge(broker, transport):
    profile = parse_profile(*profile_files(DISHWASHER))
    sim, entry = simulated(profile, "dishwasher", transport)
    bare = lambda reply: frame(profile, "answer_without_data_or_code", reply)  # noqa: E731
    sim.mangle_next("/ro/allDescriptionChanges", bare)
    with through_bridge(broker, sim, entry) as (_, subscriber):
        subscriber.wait(f"{PREFIX}dishwasher/LWT", "online")
        power = profile.by_name("BSH.Common.Setting.PowerState").uid
        sim.mangle_next("/ro/values", bare)
        answer = subscriber.response(f"{PREFIX}dishwasher/set", {"uid": power, "value": "On"})
        assert answer["status"] == "ok", answer
        assert subscriber.last[f"{PREFIX}dishwasher/LWT"] == "online"


@pytest.mark.parametrize("services", ["ci-only", "mt"])
def test_an_appliance_speaking_only_ci_or_an_unknown_service_is_bridged(broker, transport, services):
    profile = parse_profile(*profile_files(DISHWASHER))
    sim, entry = simulated(profile, "dishwasher", transport, services=services)
    with through_bridge(broker, sim, entry) as (_, subscriber):
        subscriber.wait(f"{PREFIX}dishwasher/LWT", "online")
        assert subscriber.wait(state_topic("dishwasher", "BSH.Common.Status.DoorState")) in ("Open", "Closed")
        resources = [m.resource for m in sim.received]
        assert not any(r.startswith("/mt/") for r in resources)
        if services == "ci-only":
            assert "/ci/info" in resources and "/iz/info" not in resources
        assert sim.violations == []


def test_whole_floats_name_members_truths_and_programs_and_other_floats_stay_floats():
    profile = parse_profile(*profile_files(DISHWASHER))
    state = ApplianceState(profile, "dishwasher")
    door = profile.by_name("BSH.Common.Status.DoorState")
    dry = profile.by_name("Dishcare.Dishwasher.Setting.ExtraDry")
    active = profile.by_name("BSH.Common.Root.ActiveProgram")
    remaining = profile.by_name("BSH.Common.Option.RemainingProgramTime")
    eco = profile.by_name("Dishcare.Dishwasher.Program.Eco50")
    changes = state.apply_values([{"uid": door.uid, "value": 1.0}, {"uid": dry.uid, "value": 1.0},
                                  {"uid": active.uid, "value": float(eco.uid)},
                                  {"uid": remaining.uid, "value": 13273.0}])  # fmt: skip
    assert sorted((c.feature.uid, c.value) for c in changes) == sorted(
        [(door.uid, "Closed"), (dry.uid, True), (active.uid, eco.name), (remaining.uid, 13273.0)]
    )
    assert [c.value for c in state.apply_values([{"uid": door.uid, "value": 7.5}])] == [7.5]  # no member: as it came
    assert type(state.raw[remaining.uid]) is float and type(state.values[remaining.uid]) is float
