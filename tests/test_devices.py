"""hcpy.appliance.devices: hcpy-format files, our own files, validation, atomic 0600 writes, merging."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from functools import cache
from pathlib import Path

import pytest

from hcpy.appliance.devices import load_devices, save_devices
from hcpy.appliance.entry import (
    ApplianceEntry,
    entry_from_json,
    entry_from_profile,
    entry_to_json,
    unique_names,
)
from hcpy.appliance.model import Access, Kind, Profile
from hcpy.appliance.profile_xml import parse_profile
from hcpy.encoding import unb64url
from hcpy.errors import DevicesFileError
from hcpy.simulator.examples import EXAMPLES

PROFILES = EXAMPLES  # the simulator's example appliances are the tests' fixtures: real profiles
PSK = bytes(range(32))
KEY = base64.urlsafe_b64encode(PSK).rstrip(b"=").decode()  # 43 characters
IV_RAW = bytes(range(100, 116))
IV = base64.urlsafe_b64encode(IV_RAW).rstrip(b"=").decode()  # 22 characters
OTHER_KEY = base64.urlsafe_b64encode(bytes(range(1, 33))).rstrip(b"=").decode()


@cache
def fixture_profile(model: str) -> Profile:
    base = PROFILES / f"SIEMENS-{model}-000000000000"
    return parse_profile(
        Path(f"{base}_DeviceDescription.xml").read_bytes(), Path(f"{base}_FeatureMapping.xml").read_bytes()
    )


# What hcpy's hc-login writes: attributes verbatim, enumerationType replaced by
# "values", FeatureMapping-only uids with just a name; plus a fork's haId and
# hc2mqtt block. Features copied by hand from the SN658X06TE / WM16XE91 fixtures.
HCPY_DISHWASHER = """\
[
  {
    "name": "dishwasher",
    "host": "192.168.1.20",
    "key": "%(key)s",
    "haId": "SIEMENS-SN658X06TE-000000000000",
    "hc2mqtt": {"publish_never": ["BSH.Common.Status.WiFiSignalStrength"]},
    "description": {"type": "Dishwasher", "brand": "SIEMENS", "model": "SN658X06TE", "version": "1", "revision": "0"},
    "features": {
      "527": {"name": "BSH.Common.Status.DoorState", "access": "read", "available": "true", "refCID": "03", "refDID": "80", "uid": "020F", "values": {"0": "Open", "1": "Closed"}},
      "552": {"name": "BSH.Common.Status.OperationState", "access": "read", "available": "true", "refCID": "03", "refDID": "80", "uid": "0228", "values": {"0": "Inactive", "1": "Ready", "2": "DelayedStart", "3": "Run", "4": "Pause", "6": "Finished", "8": "Aborting"}},
      "539": {"name": "BSH.Common.Setting.PowerState", "access": "readWrite", "available": "true", "refCID": "03", "refDID": "80", "uid": "021B", "values": {"1": "Off", "2": "On"}},
      "8196": {"name": "Dishcare.Dishwasher.Program.Eco50", "available": "true", "uid": "2004"},
      "512": {"name": "BSH.Common.Command.AbortProgram", "access": "none", "available": "true", "refCID": "01", "refDID": "00", "uid": "0200"},
      "21": {"name": "BSH.Common.Event.SoftwareUpdateAvailable", "handling": "acknowledge", "level": "hint", "refCID": "03", "refDID": "80", "uid": "0015", "values": {"0": "Off", "1": "Present", "2": "Confirmed"}},
      "558": {"name": "BSH.Common.Option.StartInRelative", "access": "read", "available": "true", "refCID": "10", "refDID": "82", "uid": "022E"},
      "5126": {"name": "Dishcare.Dishwasher.Option.IntensivZone", "access": "readWrite", "available": "true", "default": "false", "refCID": "01", "refDID": "00", "uid": "1406"},
      "258": {"name": "BSH.Common.Root.StatusList"},
      "256": {"name": "BSH.Common.Root.ActiveProgram"}
    }
  }
]
"""

HCPY_WASHER = """\
[
  {
    "name": "washer",
    "host": "washer.local",
    "key": "%(key)s",
    "iv": "%(iv)s",
    "description": {"type": "Washer", "brand": "SIEMENS", "model": "WM16XE91", "version": "2", "revision": "0"},
    "features": {
      "527": {"name": "BSH.Common.Status.DoorState", "access": "read", "available": "true", "initValue": "1", "refCID": "03", "refDID": "80", "uid": "020F", "values": {"0": "Open", "1": "Closed", "2": "Locked", "3": "Ajar"}},
      "24577": {"name": "LaundryCare.Washer.Option.Temperature", "access": "none", "available": "true", "initValue": "0", "max": "255", "min": "0", "refCID": "03", "refDID": "80", "uid": "6001", "values": {"0": "Cold", "1": "GC20", "2": "GC30", "3": "GC40", "4": "GC50", "5": "GC60", "6": "GC70", "7": "GC80", "8": "GC90", "10": "UlCold", "13": "UlWarm", "15": "UlHot", "18": "UlExtraHot", "254": "Auto", "255": "Max"}},
      "548": {"name": "BSH.Common.Option.Duration", "access": "none", "available": "false", "initValue": "1200", "max": "12600", "min": "300", "refCID": "10", "refDID": "82", "stepSize": "300", "uid": "0224"},
      "539": {"name": "BSH.Common.Setting.PowerState", "access": "read", "available": "true", "initValue": "2", "max": "3", "min": "0", "refCID": "03", "refDID": "80", "uid": "021B", "values": {"0": "MainsOff", "2": "On", "3": "Standby"}},
      "28673": {"name": "LaundryCare.Washer.Program.Cotton", "available": "false", "uid": "7001"},
      "1024": {"name": "LaundryCare.Common.StatusList.ProcessingData"}
    }
  }
]
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text % {"key": KEY, "iv": IV}, encoding="utf-8")
    return path


def fixture_entry(model: str, **kwargs) -> ApplianceEntry:
    kwargs.setdefault("key", KEY)
    kwargs.setdefault("ha_id", f"SIEMENS-{model}-000000000000")
    return entry_from_profile(fixture_profile(model), **kwargs)


# --- hcpy's own files ----------------------------------------------------------------


def test_hcpy_dishwasher_file_loads_unchanged(tmp_path):
    [entry] = load_devices(write(tmp_path / "devices.json", HCPY_DISHWASHER))
    assert (entry.name, entry.host, entry.port, entry.ha_id) == (
        "dishwasher", "192.168.1.20", None, "SIEMENS-SN658X06TE-000000000000",
    )
    assert entry.transport == "tls" and entry.psk == PSK and entry.iv_bytes is None
    assert entry.extra == {"hc2mqtt": {"publish_never": ["BSH.Common.Status.WiFiSignalStrength"]}}
    profile = entry.profile
    assert profile.description.model == "SN658X06TE" and profile.problems == []
    assert len(profile.features) == 10

    door = profile.by_name("BSH.Common.Status.DoorState")
    assert door.uid == 527 and door.kind is Kind.STATUS and door.enum.members == {0: "Open", 1: "Closed"}
    # The same typed view as the XML gives (only the enumeration's id is lost).
    parsed = fixture_profile("SN658X06TE")
    for uid in (527, 552, 539, 512, 558, 5126):
        ours, theirs = profile.features[uid], parsed.features[uid]
        assert (ours.name, ours.kind, ours.limits, ours.content_type, ours.data_type, ours.notify_on_change) == (
            theirs.name, theirs.kind, theirs.limits, theirs.content_type, theirs.data_type, theirs.notify_on_change,
        )
        assert (ours.enum.members if ours.enum else None) == (theirs.enum.members if theirs.enum else None)

    assert profile.by_name("BSH.Common.Setting.PowerState").limits.access is Access.READ_WRITE
    abort = profile.features[512]
    assert abort.kind is Kind.COMMAND and abort.notify_on_change is False
    event = profile.features[21]
    assert event.kind is Kind.EVENT and event.handling == "acknowledge" and event.enum.enid == 0x0001
    assert profile.features[5126].limits.default is False
    # Kinds guessed from names; a program without option list allows none.
    assert profile.features[258].kind is Kind.LIST
    assert profile.features[256].kind is Kind.ACTIVE_PROGRAM
    eco = profile.programs[8196]
    assert eco.name == "Dishcare.Dishwasher.Program.Eco50" and eco.options == {} and eco.available is True


def test_hcpy_washer_file_with_iv_loads(tmp_path):
    [entry] = load_devices(write(tmp_path / "devices.json", HCPY_WASHER))
    assert entry.transport == "aes" and entry.iv_bytes == IV_RAW and entry.psk == PSK
    assert entry.ha_id is None and entry.extra == {}
    profile = entry.profile
    temperature = profile.by_name("LaundryCare.Washer.Option.Temperature")
    assert temperature.kind is Kind.OPTION and temperature.limits.access is Access.NONE
    assert (temperature.limits.min, temperature.limits.max, temperature.init_value) == (0, 255, 0)
    assert temperature.enum.members[254] == "Auto" and temperature.enum.members[18] == "UlExtraHot"
    duration = profile.by_name("BSH.Common.Option.Duration")
    assert (duration.limits.step, duration.limits.available, duration.init_value) == (300, False, 1200)
    assert profile.by_name("BSH.Common.Status.DoorState").init_value == 1
    assert profile.programs[28673].available is False
    assert profile.by_name("LaundryCare.Common.StatusList.ProcessingData").kind is Kind.LIST


# --- our own files ---------------------------------------------------------------------


@pytest.mark.parametrize("model", ["SN658X06TE", "WM16XE91", "TI9555X1DE"])
def test_written_file_round_trips_the_whole_model(tmp_path, model):
    iv = IV if model == "WM16XE91" else None
    entry = fixture_entry(model, iv=iv, port=8443)
    path = tmp_path / "devices.json"
    save_devices(path, [entry])
    [loaded] = load_devices(path)
    assert (loaded.name, loaded.host, loaded.key, loaded.iv, loaded.port, loaded.ha_id) == (
        entry.name, entry.host, KEY, iv, 8443, entry.ha_id,
    )
    original, back = entry.profile, loaded.profile
    assert back.description == original.description
    assert back.features == original.features
    assert back.programs == original.programs  # including each program's own option limits
    assert back.enums == original.enums
    assert back.errors == original.errors
    assert back.problems == []


def test_written_file_round_trips_per_program_options(tmp_path):
    path = tmp_path / "devices.json"
    save_devices(path, [fixture_entry("TI9555X1DE")])
    profile = load_devices(path)[0].profile
    bean = profile.by_name("ConsumerProducts.CoffeeMaker.Option.BeanAmount").uid
    ristretto = profile.programs[profile.by_name("ConsumerProducts.CoffeeMaker.Program.Beverage.Ristretto").uid]
    doppio = profile.programs[profile.by_name("ConsumerProducts.CoffeeMaker.Program.Beverage.EspressoDoppio").uid]
    assert (ristretto.options[bean].limits.default, doppio.options[bean].limits.default) == (80, 100)
    assert ristretto.options[bean].enum.name == "ConsumerProducts.CoffeeMaker.EnumType.BeanAmount"


def test_written_file_is_hcpy_format_plus_extras(tmp_path):
    path = tmp_path / "devices.json"
    save_devices(path, [fixture_entry("SN658X06TE")])
    text = path.read_text()
    assert text.startswith("[\n  {\n")  # indent=2
    [obj] = json.loads(text)
    assert obj["name"] == "dishwasher" and obj["host"] == obj["haId"] == "SIEMENS-SN658X06TE-000000000000"
    assert obj["key"] == KEY and "iv" not in obj
    assert obj["description"] == {
        "type": "Dishwasher", "brand": "SIEMENS", "model": "SN658X06TE", "version": "1", "revision": "0",
    }
    door = obj["features"]["527"]
    assert {k: door[k] for k in ("name", "uid", "access", "available", "refCID", "refDID", "values")} == {
        "name": "BSH.Common.Status.DoorState", "uid": "020F", "access": "read", "available": "true",
        "refCID": "03", "refDID": "80", "values": {"0": "Open", "1": "Closed"},
    }
    assert door["kind"] == "status" and door["parent"] == "0102"
    eco = obj["features"]["8196"]
    assert eco["kind"] == "program" and set(eco["options"]) == {"558", "5126", "5127", "5128"}
    assert eco["options"]["558"] == {"access": "readWrite", "available": "true", "liveUpdate": "false"}
    assert obj["errors"]["403"] == "BSH.Common.Error.403.Forbidden"
    assert obj["enums"]["0201"] == {"name": "BSH.Common.EnumType.DoorState", "values": {"0": "Open", "1": "Closed"}}


def test_unknown_keys_survive_a_round_trip():
    obj = json.loads(HCPY_DISHWASHER % {"key": KEY})[0]
    obj["port"] = 8443
    obj["someFork"] = [1, {"x": None}]
    back = entry_to_json(entry_from_json(obj))
    assert back["hc2mqtt"] == obj["hc2mqtt"] and back["someFork"] == [1, {"x": None}]
    assert back["haId"] == obj["haId"] and back["port"] == 8443
    for uid, feature in obj["features"].items():
        # Every attribute hcpy stored comes back verbatim.
        assert {k: back["features"][uid][k] for k in feature} == feature


# --- validation --------------------------------------------------------------------------


def appliances(*overrides: dict) -> list[dict]:
    base = {"name": "dishwasher", "host": "10.0.0.2", "key": KEY, "description": {}, "features": {}}
    return [{**base, **o} for o in overrides]


def load_error(tmp_path, data) -> str:
    path = tmp_path / "devices.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    with pytest.raises(DevicesFileError) as info:
        load_devices(path)
    return str(info.value).replace(str(tmp_path) + os.sep, "")


def test_validation_names_file_appliance_and_field(tmp_path):
    short = KEY[:40]
    message = load_error(tmp_path, appliances({}, {"name": "oven", "key": short}))
    assert message.startswith("devices.json: appliance 2 (oven): 'key' must be 43 characters of base64url")
    assert short not in message  # never quote a secret

    message = load_error(tmp_path, appliances({"iv": "!" * 22}))
    assert message.startswith("devices.json: appliance 1 (dishwasher): 'iv' must be 22 characters of base64url")
    assert "!!!" not in message

    assert "appliance 1: 'name' is missing" in load_error(tmp_path, appliances({"name": ""}))
    assert "(a/b): 'name' must not contain '/'" in load_error(tmp_path, appliances({"name": "a/b"}))
    assert "(dishwasher): 'host' is missing" in load_error(tmp_path, appliances({"host": None}))
    assert "(dishwasher): 'port' must be a whole number" in load_error(tmp_path, appliances({"port": "80"}))
    assert "appliance 1: must be a JSON object" in load_error(tmp_path, [KEY])


def test_duplicate_names_suggest_a_rename(tmp_path):
    message = load_error(tmp_path, appliances({"name": "oven"}, {"name": "hob"}, {"name": "oven"}))
    assert message == (
        "devices.json: appliance 3 (oven): the name 'oven' is already used by appliance 1;"
        " rename one of them (e.g. 'oven_2')"
    )


def test_the_daemon_skips_only_the_broken_appliances(tmp_path, caplog):
    path = tmp_path / "devices.json"
    data = appliances({"name": "oven"}, {"name": "hob", "key": KEY[:40]}, {"name": "oven"}, {"name": "washer"})
    path.write_text(json.dumps(data))
    with caplog.at_level(logging.ERROR):
        entries = load_devices(path, skip_broken=True)
    assert [e.name for e in entries] == ["oven", "washer"]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert "(hob): 'key' must be 43 characters" in errors[0]
    assert "the name 'oven' is already used" in errors[1]
    assert KEY[:40] not in " ".join(errors)


def test_file_level_errors(tmp_path):
    assert load_error(tmp_path, '[\n {"name" "x"}]') == (
        "devices.json: not valid JSON (line 2, column 10: Expecting ':' delimiter); fix it or run hc-login again"
    )
    assert "must be a JSON list of appliances, found dict" in load_error(tmp_path, {"name": "x"})
    with pytest.raises(DevicesFileError, match="no such file; run hc-login"):
        load_devices(tmp_path / "missing.json")


def test_a_broken_feature_is_logged_once_and_skipped(tmp_path, caplog):
    obj = json.loads(HCPY_DISHWASHER % {"key": KEY})
    features = obj[0]["features"]
    features["0x20F"] = {"name": "BSH.Common.Status.Bad"}
    features["600"] = "not an object"
    features["539"]["min"] = "lots"
    path = tmp_path / "devices.json"
    path.write_text(json.dumps(obj))
    with caplog.at_level(logging.WARNING, logger="hcpy.devices"):
        [entry] = load_devices(path)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    prefix = f"{path}: appliance 1 (dishwasher): "
    assert warnings == [
        prefix + "feature 539 (BSH.Common.Setting.PowerState): min='lots' is not a number; ignored",
        prefix + "feature 0x20F: the key is not a decimal uid; skipped",
        prefix + "feature 600: needs an object with a 'name'; skipped",
    ]
    assert entry.profile.problems == warnings
    assert 600 not in entry.profile.features and len(entry.profile.features) == 10
    assert entry.profile.features[539].limits.min is None
    assert entry.profile.features[539].enum.members == {1: "Off", 2: "On"}
    assert KEY not in caplog.text


# --- writing: 0600, atomic, merge ------------------------------------------------------


def test_files_are_written_0600(tmp_path):
    path = tmp_path / "devices.json"
    save_devices(path, [fixture_entry("SN658X06TE")])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    os.chmod(path, 0o644)
    save_devices(path, [fixture_entry("SN658X06TE")])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_failed_write_leaves_the_old_file_intact(tmp_path):
    path = tmp_path / "devices.json"
    save_devices(path, [fixture_entry("SN658X06TE")])
    before = path.read_bytes()
    broken = fixture_entry("TI9555X1DE")
    broken.extra["hc2mqtt"] = {"callback": object()}
    with pytest.raises(DevicesFileError) as info:
        save_devices(path, [broken], merge=False)
    assert str(info.value).startswith(f"{path}: appliance 1 (coffeemaker): cannot be written as JSON")
    assert "the file was left unchanged" in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["devices.json"]  # no temp file left


def test_merge_keeps_user_edits_and_other_appliances(tmp_path):
    path = tmp_path / "devices.json"
    old = json.loads(HCPY_DISHWASHER % {"key": OTHER_KEY})
    old[0].update(name="kitchen", host="10.1.1.5", port=8443)
    dryer = {"name": "dryer", "host": "dryer.lan", "key": OTHER_KEY, "iv": IV, "custom": True,
             "description": {"type": "Dryer"}, "features": {"527": {"name": "BSH.Common.Status.DoorState"}}}
    old.append(dryer)
    path.write_text(json.dumps(old))

    written = save_devices(path, [fixture_entry("SN658X06TE")])
    assert [e.name for e in written] == ["kitchen", "dryer"]
    data = json.loads(path.read_text())
    kitchen = data[0]
    # The user's name, host, port and hc2mqtt block stay...
    assert (kitchen["name"], kitchen["host"], kitchen["port"]) == ("kitchen", "10.1.1.5", 8443)
    assert kitchen["hc2mqtt"] == old[0]["hc2mqtt"]
    # ...while key and profile are refreshed.
    assert kitchen["key"] == KEY
    assert len(kitchen["features"]) == 83 and kitchen["features"]["527"]["kind"] == "status"
    assert data[1] == dryer  # untouched, verbatim

    [k, d] = load_devices(path)
    assert k.profile.programs[0x2004].options and d.transport == "aes"


def test_merge_matches_by_name_without_ha_id_and_renames_newcomers(tmp_path):
    path = tmp_path / "devices.json"
    path.write_text(json.dumps(appliances({"name": "washer", "host": "w.lan", "key": OTHER_KEY, "iv": IV})))
    os.chmod(path, 0o644)
    washer = fixture_entry("WM16XE91", iv=IV)
    second = fixture_entry("SN658X06TE", name="washer", key=OTHER_KEY, ha_id="SIEMENS-SECOND-000000000000")
    save_devices(path, [washer, second])
    entries = load_devices(path)
    assert [(e.name, e.host, e.key, e.ha_id) for e in entries] == [
        ("washer", "w.lan", KEY, "SIEMENS-WM16XE91-000000000000"),
        ("washer_2", "SIEMENS-SECOND-000000000000", OTHER_KEY, "SIEMENS-SECOND-000000000000"),
    ]
    assert entries[0].profile.description.model == "WM16XE91"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_merge_refuses_to_overwrite_an_unreadable_file(tmp_path):
    path = tmp_path / "devices.json"
    path.write_text("not json")
    with pytest.raises(DevicesFileError, match="not overwritten"):
        save_devices(path, [fixture_entry("SN658X06TE")])
    assert path.read_text() == "not json"
    save_devices(path, [fixture_entry("SN658X06TE")], merge=False)
    assert load_devices(path)[0].name == "dishwasher"


def test_unique_names_are_deterministic():
    oven = fixture_entry("SN658X06TE", name="oven")
    named = unique_names([oven, oven, oven, fixture_entry("SN658X06TE", name="oven_2")])
    assert [e.name for e in named] == ["oven", "oven_3", "oven_4", "oven_2"]
    assert [e.name for e in unique_names([oven, oven])] == ["oven", "oven_2"]
    assert oven.name == "oven"  # the input is not changed


# --- entries ---------------------------------------------------------------------------


def test_entry_from_profile_defaults():
    entry = entry_from_profile(fixture_profile("TI9555X1DE"), key=KEY)
    assert (entry.name, entry.host, entry.ha_id, entry.port, entry.transport) == (
        "coffeemaker", "coffeemaker", None, None, "tls",
    )
    entry = entry_from_profile(fixture_profile("WM16XE91"), key=KEY, iv=IV, ha_id="SIEMENS-WM16XE91-1")
    assert (entry.name, entry.host, entry.transport, entry.iv_bytes) == ("washer", "SIEMENS-WM16XE91-1", "aes", IV_RAW)
    with pytest.raises(DevicesFileError) as info:
        entry_from_profile(fixture_profile("WM16XE91"), key=KEY + "x")
    assert str(info.value).startswith("appliance washer: 'key' must be 43 characters") and KEY not in str(info.value)


def test_repr_never_shows_key_or_iv():
    entry = fixture_entry("WM16XE91", iv=IV)
    for text in (repr(entry), str(entry), f"{entry}", repr([entry])):
        assert KEY not in text and IV not in text
        assert "washer" in text and "aes" in text


def test_unb64url_accepts_unpadded_cloud_keys():
    assert unb64url(KEY) == PSK and unb64url(IV) == IV_RAW


def test_names_that_meet_in_mqtt_topics_collide(tmp_path):
    message = load_error(tmp_path, appliances({"name": "Ofen"}, {"name": "Öfen"}))
    assert "gives the same MQTT topics as 'Ofen'" in message and "appliance 2" in message
    assert "at least one ASCII letter" in load_error(tmp_path, appliances({"name": "洗碗机"}))
    first = fixture_entry("SN658X06TE", name="Ofen")
    second = fixture_entry("SN658X06TE", name="Öfen")
    assert [e.name for e in unique_names([first, second])] == ["Ofen", "Öfen_2"]
