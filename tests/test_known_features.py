"""Well-known features: an older hc-login's untyped devices.json gets the entities a typed one does.

The old files are made from the real fixture profiles by stripping every
feature down to its name, as hcpy2-0's and osresearch's hc-login left the
features they did not parse; the Home Assistant discovery of both is compared.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from support import COFFEE, DISHWASHER, PREFIX, WASHER, bridged, posts, profile_files, simulated
from test_devices import KEY
from test_discovery import discover

from hcpy.appliance import profile_json
from hcpy.appliance.commands import build_set
from hcpy.appliance.devices import load_devices
from hcpy.appliance.entry import entry_from_profile, entry_to_json
from hcpy.appliance.known_features import KNOWN_FEATURES, complete
from hcpy.appliance.model import Access, Profile
from hcpy.appliance.profile_json import profile_from_json, profile_to_json
from hcpy.appliance.profile_xml import parse_profile
from hcpy.appliance.state import ApplianceState
from hcpy.mqtt.topics import Topics

STEMS = (DISHWASHER, WASHER, COFFEE)
COMPARED = ("unit_of_measurement", "device_class", "state_class", "command_topic")
BOUNDS = ("min", "max", "step")


def typed(stem: str) -> Profile:
    return parse_profile(*profile_files(stem))


def stripped_entry(stem: str, name: str = "appliance") -> dict[str, Any]:
    """The devices.json object an older hc-login wrote: features by name only, no enums, no kinds."""
    return strip(entry_to_json(entry_from_profile(typed(stem), key=KEY, ha_id=stem, name=name)))


def strip(obj: dict[str, Any]) -> dict[str, Any]:
    obj["features"] = {uid: {"name": spec["name"]} for uid, spec in obj["features"].items()}
    for extra in ("enums", "errors"):
        obj.pop(extra, None)
    return obj


def configs(profile: Profile) -> dict[str, tuple[str, dict[str, Any]]]:
    """Discovery configs by object id: (component, config)."""
    out = {}
    for topic, config in discover(Topics("homeconnect/", "x"), ApplianceState(profile, "x")).items():
        _, component, _, object_id, _ = topic.split("/")
        out[object_id] = (component, config)
    return out


def object_id(name: str) -> str:
    return "x_" + name.lower().replace(".", "_")


def accesses(profile: Profile, name: str) -> set[Access]:
    """Every access the typed profile gives a feature: its own and each program's."""
    feature = profile.by_name(name)
    assert feature is not None
    own = {feature.limits.access}
    return own | {p.options[feature.uid].limits.access for p in profile.programs.values() if feature.uid in p.options}


def own_bounds(profile: Profile, name: str) -> bool:
    feature = profile.by_name(name)
    assert feature is not None
    limits = [feature.limits] + [p.options[feature.uid].limits for p in profile.programs.values() if feature.uid in p.options]
    return any(x.min is not None or x.max is not None or x.step is not None for x in limits)


def test_the_stripped_files_really_are_untyped():
    for stem in STEMS:
        old = profile_from_json(stripped_entry(stem), lambda text: None)
        assert all(f.content_type is None for f in old.features.values() if f.name not in KNOWN_FEATURES)
        assert old.completed == [f.name for f in old.features.values() if f.name in KNOWN_FEATURES]
        assert len(old.completed) >= 7


@pytest.mark.parametrize("stem", STEMS)
def test_an_untyped_file_gets_the_typed_profiles_entities_for_well_known_features(stem):
    profile = typed(stem)
    old = profile_from_json(stripped_entry(stem), lambda text: None)
    ours, theirs = configs(old), configs(profile)
    compared = 0
    for name, known in KNOWN_FEATURES.items():
        if profile.by_name(name) is None:
            continue
        oid = object_id(name)
        assert oid in ours, f"{name}: no entity from the untyped file"
        if known.access not in accesses(profile, name):
            # This model is stricter or looser than the API documents (a
            # washer whose PowerState is read-only): an old file cannot say so.
            # What the value is still shows: its unit.
            if oid in theirs:
                assert ours[oid][1].get("unit_of_measurement") == theirs[oid][1].get("unit_of_measurement"), name
            continue
        component, config = theirs[oid]
        feature = profile.by_name(name)
        assert feature is not None
        members = set(feature.enum.members.values()) if feature.enum else set()
        if members and members != set(known.members.values()):
            # The model's own members (a dishwasher's On/Off power switch):
            # the untyped file offers every documented one, a superset.
            assert members <= set(ours[oid][1].get("options", []))
            continue
        assert ours[oid][0] == component, name
        for key in COMPARED:
            assert ours[oid][1].get(key) == config.get(key), (name, key)
        if "options" in config:
            assert ours[oid][1]["options"] == config["options"], name
        if not own_bounds(profile, name):
            for key in BOUNDS:
                assert ours[oid][1].get(key) == config.get(key), (name, key)
        compared += 1
    assert compared >= 4


def test_the_untyped_files_entities_have_units_and_controls():
    old = profile_from_json(stripped_entry(DISHWASHER), lambda text: None)
    ours = configs(old)
    assert ours[object_id("BSH.Common.Option.RemainingProgramTime")] == (
        "sensor",
        {**ours[object_id("BSH.Common.Option.RemainingProgramTime")][1], "unit_of_measurement": "s", "device_class": "duration"},
    )
    component, start = ours[object_id("BSH.Common.Option.StartInRelative")]
    assert component == "number" and start["unit_of_measurement"] == "min" and start["command_topic"] == "homeconnect/x/set"
    assert ours[object_id("BSH.Common.Option.ProgramProgress")][1]["unit_of_measurement"] == "%"
    assert ours[object_id("BSH.Common.Option.EnergyForecast")][1]["unit_of_measurement"] == "%"
    assert ours[object_id("BSH.Common.Status.DoorState")][1]["device_class"] == "enum"
    assert ours[object_id("BSH.Common.Status.RemoteControlActive")][0] == "binary_sensor"
    # Its controls send what the command layer accepts.
    component, power = ours[object_id("BSH.Common.Setting.PowerState")]
    assert component == "select" and "On" in power["options"]
    request = build_set(ApplianceState(old, "x"), json.loads(power["command_template"].replace("{{ value }}", "On")))
    assert request.data == [{"uid": 539, "value": 2}]


def test_without_the_table_the_same_file_gives_unitless_sensors():
    """What the table is for: the stripped file alone shows none of it."""
    obj = stripped_entry(DISHWASHER)
    obj["features"] = {uid: {"name": spec["name"] + "X"} for uid, spec in obj["features"].items()}
    old = profile_from_json(obj, lambda text: None)
    assert old.completed == []
    ours = configs(old)
    progress = ours[object_id("BSH.Common.Option.RemainingProgramTimeX")]
    assert progress[0] == "sensor" and "unit_of_measurement" not in progress[1]


@pytest.mark.parametrize("stem", STEMS)
def test_a_typed_profile_is_left_exactly_as_it_is(stem, monkeypatch):
    profile = typed(stem)
    assert complete(profile) == []
    stored = profile_to_json(profile)
    again = profile_from_json(stored, lambda text: None)
    assert again.completed == [] and profile_to_json(again) == stored
    # Byte for byte the discovery the same file gave before the table existed.
    dump = json.dumps(configs(again), sort_keys=True)
    monkeypatch.setattr(profile_json, "complete", lambda profile: [])
    assert json.dumps(configs(profile_from_json(stored, lambda text: None)), sort_keys=True) == dump


def test_what_a_profile_says_wins_over_the_table():
    obj = {
        "description": {"type": "Oven"},
        "features": {
            # Typed: the table stays out entirely.
            "544": {"name": "BSH.Common.Option.RemainingProgramTime", "refCID": "02", "refDID": "81"},
            # Untyped, but with an access and bounds of its own: those are kept.
            "558": {"name": "BSH.Common.Option.StartInRelative", "access": "read", "max": "3600"},
            # Untyped with its own names: they are kept.
            "539": {"name": "BSH.Common.Setting.PowerState", "values": {"2": "On", "3": "Standby"}},
        },
    }
    old = profile_from_json(obj, lambda text: None)
    remaining = old.by_name("BSH.Common.Option.RemainingProgramTime")
    assert remaining is not None and remaining.content_type == 0x02
    start = old.by_name("BSH.Common.Option.StartInRelative")
    assert start is not None and start.content_type == 0x10
    assert (start.limits.access, start.limits.min, start.limits.max) == (Access.READ, None, 3600)
    power = old.by_name("BSH.Common.Setting.PowerState")
    assert power is not None and power.enum is not None and power.enum.members == {2: "On", 3: "Standby"}
    assert power.limits.access is Access.READ_WRITE and power.content_type == 0x03
    assert old.completed == ["BSH.Common.Option.StartInRelative", "BSH.Common.Setting.PowerState"]


def test_temperatures_are_celsius():
    obj = {
        "description": {"type": "FridgeFreezer"},
        "features": {
            "1": {"name": "Cooking.Oven.Option.SetpointTemperature"},
            "2": {"name": "Cooking.Oven.Status.CurrentCavityTemperature"},
            "3": {"name": "Refrigeration.FridgeFreezer.Setting.SetpointTemperatureRefrigerator", "min": "2", "max": "8"},
            "4": {"name": "Refrigeration.FridgeFreezer.Setting.SetpointTemperatureFreezer"},
        },
    }
    ours = configs(profile_from_json(obj, lambda text: None))
    cavity = ours[object_id("Cooking.Oven.Status.CurrentCavityTemperature")]
    assert cavity[0] == "sensor"
    assert (cavity[1]["unit_of_measurement"], cavity[1]["device_class"]) == ("°C", "temperature")
    fridge = ours[object_id("Refrigeration.FridgeFreezer.Setting.SetpointTemperatureRefrigerator")]
    assert fridge[0] == "number" and fridge[1]["command_topic"] == "homeconnect/x/set"
    assert (fridge[1]["unit_of_measurement"], fridge[1]["min"], fridge[1]["max"]) == ("°C", 2, 8)
    # A setpoint without bounds cannot be a number; it still shows in °C.
    for name in ("Cooking.Oven.Option.SetpointTemperature", "Refrigeration.FridgeFreezer.Setting.SetpointTemperatureFreezer"):
        component, config = ours[object_id(name)]
        assert (component, config["unit_of_measurement"], config["device_class"]) == ("sensor", "°C", "temperature")


def test_loading_an_old_file_says_once_per_appliance_what_was_typed(tmp_path: Path, caplog):
    path = tmp_path / "devices.json"
    path.write_text(json.dumps([stripped_entry(DISHWASHER, "dishwasher"), stripped_entry(WASHER, "washer")]))
    with caplog.at_level(logging.INFO, logger="hcpy"):
        dishwasher, washer = load_devices(path)
    lines = [r.getMessage() for r in caplog.records if "well-known features" in r.getMessage()]
    assert len(lines) == 2
    assert "dishwasher" in lines[0] and f"{len(dishwasher.profile.completed)} untyped feature(s)" in lines[0]
    assert "washer" in lines[1] and "BSH.Common." in lines[1]
    assert washer.profile.problems == []


@pytest.mark.parametrize("transport", ["tls", "aes"])
def test_an_old_file_through_the_bridge_gives_typed_entities_and_working_controls(
    tmp_path: Path, broker, subscriber, transport
):
    """The stripped file as the daemon reads it, bridged to a simulated dishwasher and a real broker."""
    sim, entry = simulated(typed(DISHWASHER), "dishwasher", transport)
    try:
        path = tmp_path / "devices.json"
        path.write_text(json.dumps([strip(entry_to_json(entry))]))
        [loaded] = load_devices(path)
        with bridged(broker.port, [(sim, loaded)], ha_discovery=True):
            base = "homeassistant/{}/hcpy/dishwasher_{}/config"
            remaining = json.loads(subscriber.wait(base.format("sensor", "bsh_common_option_remainingprogramtime")))
            assert (remaining["unit_of_measurement"], remaining["device_class"]) == ("s", "duration")
            start = json.loads(subscriber.wait(base.format("number", "bsh_common_option_startinrelative")))
            assert start["unit_of_measurement"] == "min" and start["command_topic"] == f"{PREFIX}dishwasher/set"
            progress = json.loads(subscriber.wait(base.format("sensor", "bsh_common_option_programprogress")))
            assert progress["unit_of_measurement"] == "%"
            door = json.loads(subscriber.wait(base.format("sensor", "bsh_common_status_doorstate")))
            assert door["device_class"] == "enum"
            # The values decode by the table's names, and its controls reach the appliance.
            subscriber.wait(door["state_topic"], lambda value: value in ("Open", "Closed"))
            sim.set_value(527, 0)
            subscriber.wait(door["state_topic"], "Open")
            power = json.loads(subscriber.wait(base.format("select", "bsh_common_setting_powerstate")))
            command = json.loads(power["command_template"].replace("{{ value }}", "Off"))
            answer = subscriber.response(power["command_topic"], command)
            assert answer["status"] == "ok", answer
            assert any(m.data == [{"uid": 539, "value": 1}] for m in posts(sim))
    finally:
        sim.stop()
