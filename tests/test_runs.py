"""Per-run consumption, the pure parts: detecting runs, reading meter settings and answers, records, files, topics.

The detector is fed a real dishwasher profile's state, value by value, as
the appliance reports it; no sockets here (test_runs_meters.py and
test_runs_bridge.py do those).
"""

from __future__ import annotations

import json
import stat

import pytest
from support import DISHWASHER, profile_files

from hcpy.appliance.profile_xml import parse_profile
from hcpy.appliance.state import ApplianceState
from hcpy.homeassistant import run_entities
from hcpy.mqtt import run_topics as publish
from hcpy.mqtt.topics import Topics
from hcpy.runs.config import ENERGY, WATER, MeterSpec, RunConfig, parse_meter, parse_path, parse_run_config, shown_url
from hcpy.runs.detector import RunDetector, RunEnded, RunResumed, RunStarted
from hcpy.runs.readings import Reading, ReadingError, consumption, counter, reading, resolve
from hcpy.runs.record import ActiveRun, RunRecord, Totals, finish
from hcpy.runs.store import RunStore
from hcpy.times import iso

OP = "BSH.Common.Status.OperationState"
POWER = "BSH.Common.Setting.PowerState"
ACTIVE = "BSH.Common.Root.ActiveProgram"
ECO = "Dishcare.Dishwasher.Program.Eco50"
QUICK = "Dishcare.Dishwasher.Program.Quick45"
ENERGY_FORECAST = "BSH.Common.Option.EnergyForecast"
WATER_FORECAST = "BSH.Common.Option.WaterForecast"
ABORTED_EVENT = "BSH.Common.Event.ProgramAborted"
FINISHED_EVENT = "BSH.Common.Event.ProgramFinished"
T0 = 1_714_564_800.0  # 2024-05-01T12:00:00Z


@pytest.fixture(scope="module")
def profile():
    return parse_profile(*profile_files(DISHWASHER))


class Dishwasher:
    """A dishwasher's state, told what the appliance reports, and a detector watching it."""

    def __init__(self, profile, resumed=None, name_of=None):
        self.profile = profile
        self.state = ApplianceState(profile, "dishwasher")
        self.detector = RunDetector(profile, name_of, resumed)

    def wire(self, name, value):
        feature = self.profile.by_name(name)
        if feature.enum is not None and isinstance(value, str):
            return {"uid": feature.uid, "value": next(k for k, v in feature.enum.members.items() if v == value)}
        if feature.holds_uid and isinstance(value, str):
            return {"uid": feature.uid, "value": self.profile.by_name(value).uid}
        return {"uid": feature.uid, "value": value}

    def found(self, **values):
        """The state as gathered at a connect, then the detector's look at it."""
        self.state.apply_values([self.wire(_name(k), v) for k, v in values.items()])
        return self.detector.observe(self.state, None)

    def reports(self, *pairs):
        changes = self.state.apply_values([self.wire(name, value) for name, value in pairs])
        return self.detector.observe(self.state, changes)


def _name(key):
    return {"op": OP, "power": POWER, "active": ACTIVE, "energy": ENERGY_FORECAST, "water": WATER_FORECAST}[key]


def at_rest(profile, **kwargs):
    dishwasher = Dishwasher(profile, **kwargs)
    assert dishwasher.found(op="Ready", power="On", active=0) == []
    return dishwasher


def start(dishwasher, program=ECO):
    events = dishwasher.reports((ACTIVE, program), (ENERGY_FORECAST, 60), (WATER_FORECAST, 50), (OP, "Run"))
    assert [type(e) for e in events] == [RunStarted], events
    return events[0]


# -- the detector ---------------------------------------------------------------------------


def test_a_run_starts_at_run_with_its_program_options_and_forecasts(profile):
    dishwasher = at_rest(profile, name_of=lambda f: f.short_name)
    dishwasher.reports(("Dishcare.Dishwasher.Option.BrillianceDry", True))
    started = start(dishwasher)
    assert started.program == ECO
    assert started.options["BrillianceDry"] is True  # by the name it is published under
    assert "StartInRelative" not in started.options  # how far a run is, not how it was chosen
    assert (started.energy_forecast, started.water_forecast, started.seen) == (60, 50, True)
    assert dishwasher.detector.running


def test_a_delayed_start_is_no_run_until_the_program_runs(profile):
    dishwasher = at_rest(profile)
    assert dishwasher.reports((ACTIVE, ECO), (OP, "DelayedStart")) == []
    assert dishwasher.reports(("BSH.Common.Option.StartInRelative", 1800)) == []
    assert [type(e) for e in dishwasher.reports((OP, "Run"))] == [RunStarted]


def test_a_run_reported_before_its_program_starts_when_the_program_arrives(profile):
    dishwasher = at_rest(profile)
    assert dishwasher.reports((OP, "Run")) == []
    (started,) = dishwasher.reports((ACTIVE, QUICK))
    assert started.program == QUICK


def test_a_run_goes_on_through_pause_and_progress_and_ends_finished(profile):
    dishwasher = at_rest(profile)
    start(dishwasher)
    assert dishwasher.reports((OP, "Pause")) == []
    assert dishwasher.reports((OP, "Run")) == []
    assert dishwasher.reports(("BSH.Common.Option.RemainingProgramTime", 600)) == []
    assert dishwasher.reports((ACTIVE, 0)) == []  # a real appliance may clear it first
    assert dishwasher.reports((OP, "Finished")) == [RunEnded("finished")]
    assert not dishwasher.detector.running
    assert dishwasher.reports((OP, "Ready")) == []  # the door opened: nothing more


@pytest.mark.parametrize(
    "reported, how",
    [
        ([(OP, "Aborting")], "aborted"),
        ([(ABORTED_EVENT, "Present")], "aborted"),
        ([(ACTIVE, 0), (OP, "Ready")], "aborted"),  # back to rest without Finished
        ([(FINISHED_EVENT, "Present")], "finished"),
        ([(POWER, "Off"), (OP, "Inactive")], "switched_off"),
        ([(OP, "Inactive")], "switched_off"),
        ([(POWER, "Off")], "switched_off"),
    ],
)
def test_every_way_a_run_ends(profile, reported, how):
    dishwasher = at_rest(profile)
    start(dishwasher)
    assert dishwasher.reports(*reported) == [RunEnded(how)]
    assert dishwasher.reports((OP, "Ready")) == []  # ended once


def test_changes_that_say_nothing_about_runs_are_passed_over(profile):
    dishwasher = at_rest(profile)
    start(dishwasher)
    assert dishwasher.reports(("BSH.Common.Option.ProgramProgress", 40), ("BSH.Common.Status.DoorState", "Closed")) == []


def test_a_run_under_way_at_a_restart_goes_on_and_ends_live(profile):
    dishwasher = Dishwasher(profile, resumed=ECO)
    assert dishwasher.detector.running
    assert dishwasher.found(op="Run", power="On", active=ECO) == [RunResumed(ECO)]
    assert dishwasher.reports((OP, "Pause")) == []
    assert dishwasher.reports((OP, "Finished")) == [RunEnded("finished", seen=True)]


@pytest.mark.parametrize(
    "found, how",
    [
        ({"op": "Finished", "active": 0}, "finished"),
        ({"op": "Aborting", "active": 0}, "aborted"),
        ({"op": "Ready", "active": 0}, "unknown"),  # finished and unloaded, or aborted: nobody can tell
        ({"op": "Inactive", "power": "Off", "active": 0}, "switched_off"),
    ],
)
def test_a_run_that_ended_while_hc2mqtt_was_down_ends_unseen(profile, found, how):
    dishwasher = Dishwasher(profile, resumed=ECO)
    assert dishwasher.found(**{"power": "On", **found}) == [RunEnded(how, seen=False)]
    assert not dishwasher.detector.running


def test_another_program_running_after_a_restart_ends_the_old_run_and_starts_one_unseen(profile):
    dishwasher = Dishwasher(profile, resumed=ECO)
    events = dishwasher.found(op="Run", power="On", active=QUICK)
    assert events[0] == RunEnded("unknown", seen=False)
    assert isinstance(events[1], RunStarted) and (events[1].program, events[1].seen) == (QUICK, False)


def test_a_run_found_under_way_at_the_first_connect_is_not_seen_starting(profile):
    dishwasher = Dishwasher(profile)
    (started,) = dishwasher.found(op="Run", power="On", active=ECO)
    assert (started.program, started.seen) == (ECO, False)


def test_nothing_is_decided_before_the_appliance_says_anything(profile):
    dishwasher = Dishwasher(profile, resumed=ECO)
    assert dishwasher.detector.observe(dishwasher.state, None) == []
    assert dishwasher.detector.running


# -- the meters' settings --------------------------------------------------------------------

W = "devices.json: dishwasher: "


@pytest.mark.parametrize(
    "quantity, value, expected",
    [
        (ENERGY, {"topic": "tele/plug/SENSOR", "path": "ENERGY.Total", "unit": "kWh"},
         dict(topic="tele/plug/SENSOR", path=("ENERGY", "Total"), unit="kWh", factor=1.0)),
        (ENERGY, {"url": "http://sonoff/cm?cmnd=Status%208", "path": "StatusSNS.ENERGY.Total", "unit": "kWh"},
         dict(url="http://sonoff/cm?cmnd=Status%208", path=("StatusSNS", "ENERGY", "Total"), timeout=5.0)),
        (ENERGY, {"url": "http://esp/sensor/energy", "path": "value", "unit": "Wh", "timeout": 2.5},
         dict(unit="Wh", factor=0.001, timeout=2.5)),
        (ENERGY, {"topic": "shellyplusplugs-a8032ab1/status/switch:0", "path": "aenergy.total", "unit": "Wh"},
         dict(path=("aenergy", "total"), factor=0.001)),
        (ENERGY, {"topic": "esphome-plug/sensor/total_energy/state"}, dict(path=(), unit="kWh")),
        (ENERGY, "mqtt:tele/plug/SENSOR ENERGY.Total kWh", dict(topic="tele/plug/SENSOR", path=("ENERGY", "Total"))),
        (ENERGY, "mqtt:zigbee2mqtt/plug energy", dict(topic="zigbee2mqtt/plug", path=("energy",), unit="kWh")),
        (ENERGY, "mqtt:esphome-plug/sensor/total_energy/state Wh", dict(path=(), factor=0.001)),
        (ENERGY, "http://sonoff/cm?cmnd=Status%208 StatusSNS.ENERGY.Total", dict(url="http://sonoff/cm?cmnd=Status%208")),
        (WATER, "http://esp/sensor/water value m³", dict(url="http://esp/sensor/water", unit="m³", factor=1000.0)),
        (WATER, {"topic": "water/total", "unit": "m3"}, dict(unit="m³", factor=1000.0)),
        (WATER, {"topic": "water/total", "path": "meters.0.litres"}, dict(path=("meters", "0", "litres"), unit="L")),
    ],
)
def test_each_form_of_a_meter(quantity, value, expected):
    spec = parse_meter(quantity, value, "hc2mqtt.x")
    for name, wanted in expected.items():
        assert getattr(spec, name) == wanted, name


EXPECTED_ENERGY = (
    'expected an object with a "topic" (MQTT) or a "url" (HTTP), such as '
    '{"topic": "tele/plug/SENSOR", "path": "ENERGY.Total", "unit": "kWh"}, '
    'or a string such as "mqtt:tele/plug/SENSOR ENERGY.Total kWh"'
)
LEFT_OUT = "; this meter is left out (runs are recorded without energy from it)"
PATH = 'path must be dotted keys, such as "StatusSNS.ENERGY.Total" (list indexes as numbers: "emeters.0.total")'


@pytest.mark.parametrize(
    "value, sentence",
    [
        (42, f"hc2mqtt.energy_meter is 42: {EXPECTED_ENERGY}"),
        ({"topic": "a", "url": "http://x"},
         'hc2mqtt.energy_meter is {"topic": "a", "url": "http://x"}: give either a "topic" (MQTT) or a "url" (HTTP), not both'),
        ({}, 'hc2mqtt.energy_meter is {}: a meter needs a "topic" (MQTT) or a "url" (HTTP)'),
        ({"topic": "tele/+/SENSOR"},
         'hc2mqtt.energy_meter is {"topic": "tele/+/SENSOR"}: '
         'topic must be an MQTT topic without wildcards (+, #), such as "tele/plug/SENSOR"'),
        ({"url": "ftp://sonoff/"},
         'hc2mqtt.energy_meter is {"url": "ftp://sonoff/"}: '
         'url must be an http:// or https:// URL, such as "http://sonoff/cm?cmnd=Status%208"'),
        ({"topic": "t", "path": "ENERGY..Total"}, f'hc2mqtt.energy_meter is {{"topic": "t", "path": "ENERGY..Total"}}: {PATH}'),
        ({"topic": "t", "path": 3}, f'hc2mqtt.energy_meter is {{"topic": "t", "path": 3}}: {PATH}'),
        ({"topic": "t", "unit": "MJ"}, 'hc2mqtt.energy_meter is {"topic": "t", "unit": "MJ"}: unit must be kWh or Wh for an energy meter'),
        ({"topic": "t", "units": "kWh"},
         'hc2mqtt.energy_meter is {"topic": "t", "units": "kWh"}: "units" is no meter key; use topic, url, path, unit, timeout'),
        ({"url": "http://x", "timeout": 0},
         'hc2mqtt.energy_meter is {"url": "http://x", "timeout": 0}: '
         "timeout must be a positive number of seconds (5 when left out)"),
        ("sonoff.local ENERGY.Total",
         'hc2mqtt.energy_meter is "sonoff.local ENERGY.Total": it must begin with "mqtt:" and a topic, '
         'or with an http:// or https:// URL, such as "mqtt:tele/plug/SENSOR ENERGY.Total kWh"'),
        ("mqtt:t a b c",
         'hc2mqtt.energy_meter is "mqtt:t a b c": expected "<url or mqtt:topic> [path] [unit]", '
         'such as "mqtt:tele/plug/SENSOR ENERGY.Total kWh"'),
        ("mqtt:t L", 'hc2mqtt.energy_meter is "mqtt:t L": unit must be kWh or Wh for an energy meter'),
        ("", 'hc2mqtt.energy_meter is "": expected "<url or mqtt:topic> [path] [unit]", '
             'such as "mqtt:tele/plug/SENSOR ENERGY.Total kWh"'),
    ],
)
def test_a_bad_meter_is_one_warning_and_left_out(value, sentence):
    parsed = parse_run_config("dishwasher", {"energy_meter": value, "water_meter": "mqtt:water/total m3"})
    assert parsed.warnings == [W + sentence + LEFT_OUT]
    assert parsed.config.energy is None
    assert parsed.config.water is not None and parsed.config.water.topic == "water/total"  # nothing else stops


@pytest.mark.parametrize("key, value", [("energy_full_scale_kwh", -1), ("energy_full_scale_kwh", "2"), ("water_full_scale_l", True)])
def test_a_bad_full_scale_value_is_one_warning_and_left_out(key, value):
    parsed = parse_run_config("dishwasher", {key: value, "water_full_scale_l": 20} if key != "water_full_scale_l" else {key: value})
    what = "kWh an EnergyForecast" if key.startswith("energy") else "litres a WaterForecast"
    quantity = key.split("_")[0]
    assert parsed.warnings == [
        f"{W}hc2mqtt.{key} is {json.dumps(value)}: expected a positive number, the {what} of 100 % stands for; "
        f"it is left out (runs get no {quantity} estimate)"
    ]
    assert parsed.config.full_scale(quantity) is None


def test_full_scale_values_and_where_each_figure_comes_from():
    config = parse_run_config("dishwasher", {"energy_full_scale_kwh": 2, "water_meter": "mqtt:w"}).config
    assert (config.energy_full_scale_kwh, config.water_full_scale_l) == (2.0, None)
    assert (config.source(ENERGY), config.source(WATER)) == ("estimate", "meter")
    assert parse_run_config("dishwasher", None).config == RunConfig()
    assert parse_run_config("dishwasher", "not a block").warnings == []  # the publishing options say it


ADDONS = {  # homeconnect-hcpy's block, verbatim
    "installed": "2022-09-06 12:00:00",
    "powermeter": "http://sonoff-dishwasher.local/cm?cmnd=status+8",
    "watermeter": "http://water-meter-esp.local/sensor/wasseruhr_anzeige",
    "taps": 20,
    "taps_min": 5,
    "logfields": ["state", "program"],
}


def test_homeconnect_hcpy_addons_are_its_http_meters():
    parsed = parse_run_config("dishwasher", None, ADDONS)
    energy, water = parsed.config.energy, parsed.config.water
    assert (energy.url, energy.path, energy.unit, energy.factor) == (ADDONS["powermeter"], ("StatusSNS", "ENERGY", "Total"), "kWh", 1.0)
    assert (water.url, water.path, water.unit, water.factor) == (ADDONS["watermeter"], ("value",), "m³", 1000.0)
    assert parsed.warnings == []
    assert parsed.notes == [f"{W}addons installed, taps, taps_min, logfields: not used by hcpy (it reads powermeter and watermeter)"]


def test_the_hc2mqtt_block_wins_over_addons():
    parsed = parse_run_config("dishwasher", {"energy_meter": "mqtt:tele/plug/SENSOR ENERGY.Total"}, ADDONS)
    assert parsed.config.energy.topic == "tele/plug/SENSOR"
    assert parsed.config.water.url == ADDONS["watermeter"]
    assert f"{W}addons.powermeter is not used: hc2mqtt.energy_meter names the energy meter" in parsed.notes


def test_a_bad_addons_meter_is_one_warning():
    parsed = parse_run_config("dishwasher", None, {"powermeter": "sonoff-dishwasher.local"})
    assert parsed.warnings == [
        f'{W}addons.powermeter is "sonoff-dishwasher.local": expected the meter\'s URL, such as '
        '"http://sonoff-dishwasher.local/cm?cmnd=status+8"; this meter is left out (runs are recorded without energy from it)'
    ]
    assert parse_run_config("dishwasher", None, {"powermeter": ""}).config.energy is None  # empty: none, said nowhere


def test_paths_and_urls_in_log_lines():
    assert parse_path("") == ()
    assert parse_path("emeters.0.total") == ("emeters", "0", "total")
    with pytest.raises(ValueError):
        parse_path(".Total")
    assert shown_url("http://admin:pw@sonoff/cm?user=admin&password=secret&cmnd=Status%208") == (
        "http://***@sonoff/cm?user=admin&password=***&cmnd=Status%208"
    )


# -- meter answers ----------------------------------------------------------------------------

TASMOTA = {"StatusSNS": {"Time": "2024-05-01T12:00:00", "ENERGY": {"TotalStartTime": "2022-09-06T12:00:00", "Total": 169.961,
                                                                    "Yesterday": 0.063, "Today": 0.048, "Power": 5}}}


def test_json_paths():
    assert resolve(TASMOTA, ("StatusSNS", "ENERGY", "Total")) == 169.961
    assert resolve({"emeters": [{"total": 1.5}, {"total": 2.5}]}, ("emeters", "1", "total")) == 2.5
    with pytest.raises(ReadingError, match=r"has no StatusSNS.ENERGY.Totl \(StatusSNS.ENERGY has no 'Totl'\)"):
        resolve(TASMOTA, ("StatusSNS", "ENERGY", "Totl"))
    with pytest.raises(ReadingError, match=r"emeters is a list of 1, no entry '3'"):
        resolve({"emeters": [{}]}, ("emeters", "3", "total"))
    with pytest.raises(ReadingError, match=r"ENERGY.Total is 169.9, not an object"):
        resolve({"ENERGY": {"Total": 169.9}}, ("ENERGY", "Total", "kWh"))


def test_counters_out_of_answers():
    assert counter(json.dumps(TASMOTA).encode(), ("StatusSNS", "ENERGY", "Total")) == 169.961
    assert counter(b"9.804", ()) == 9.804  # an ESPHome state topic
    assert counter(b'{"id": "sensor-wasseruhr_anzeige", "value": 9.804, "state": "9.804 m\xc2\xb3"}', ("value",)) == 9.804
    assert counter(b'{"energy": "1.25"}', ("energy",)) == 1.25
    for body, path, why in [
        (b"unavailable", (), "the payload is 'unavailable', not a number"),
        (b"nan", (), "not a number"),
        (b"<html>", ("value",), "answered '<html>', which is no JSON"),
        (b'{"value": true}', ("value",), "value is True, not a number"),
        (b'{"value": null}', ("value",), "value is None, not a number"),
    ]:
        with pytest.raises(ReadingError, match=why.replace("(", r"\(").replace(")", r"\)")):
            counter(body, path)


def test_units_become_kwh_and_litres():
    wh = MeterSpec(ENERGY, "x", topic="t", unit="Wh", factor=0.001)
    assert reading(wh, b"1500").value == 1.5
    m3 = MeterSpec(WATER, "x", url="http://esp/sensor/w", path=("value",), unit="m³", factor=1000.0)
    assert reading(m3, b'{"value": 9.804}').value == 9804.0
    assert reading(m3, b'{"state": "9.804 m3"}').reason == "has no value (the answer has no 'value')"


def test_consumption_is_a_difference_or_null_and_why():
    assert consumption(Reading(9800.0), Reading(9812.0), "L") == (12.0, None)
    assert consumption(Reading(169.961), Reading(169.961), "kWh") == (0.0, None)
    assert consumption(Reading(169.961), Reading(0.012), "kWh") == (
        None,
        "the meter's counter went backwards, from 169.961 to 0.012 kWh (reset or replaced during the run)",
    )
    assert consumption(Reading.missing("did not answer within 5 s"), Reading(1.0), "kWh") == (
        None,
        "no start reading: did not answer within 5 s",
    )
    assert consumption(Reading(1.0), None, "kWh") == (None, "no end reading: none was taken")


# -- records, totals, files ----------------------------------------------------------------------

CONFIG = RunConfig(
    energy=MeterSpec(ENERGY, "hc2mqtt.energy_meter", url="http://sonoff/cm", path=("StatusSNS", "ENERGY", "Total")),
    water=MeterSpec(WATER, "hc2mqtt.water_meter", topic="water/total", unit="m³", factor=1000.0),
    energy_full_scale_kwh=2.0,
    water_full_scale_l=20.0,
)


def active_run(**changes):
    run = ActiveRun("dishwasher", ECO, T0, {"BrillianceDry": True}, 60, 50, Reading(169.961), Reading(9800.0))
    for name, value in changes.items():
        setattr(run, name, value)
    return run


def test_a_finished_run_record():
    record = finish(active_run(), T0 + 13500, "finished", CONFIG, Reading(171.211), Reading(9812.0))
    assert record.to_json() == {
        "appliance": "dishwasher",
        "program": ECO,
        "options": {"BrillianceDry": True},
        "start": "2024-05-01T12:00:00+00:00",
        "end": "2024-05-01T15:45:00+00:00",
        "duration_s": 13500,
        "ended": "finished",
        "energy_kwh": 1.25,
        "energy_reason": None,
        "water_l": 12.0,
        "water_reason": None,
        "energy_forecast_percent": 60,
        "water_forecast_percent": 50,
        "energy_estimate_kwh": 1.2,
        "water_estimate_l": 10.0,
        "energy_start_kwh": 169.961,
        "energy_end_kwh": 171.211,
        "water_start_l": 9800.0,
        "water_end_l": 9812.0,
        "start_seen": True,
        "end_seen": True,
        "bridge_restarted": False,
        "end_reason": None,
        "energy_estimate_reason": None,
        "water_estimate_reason": None,
    }
    assert RunRecord.from_json(json.loads(json.dumps(record.to_json()))) == record


def test_figures_nobody_can_trust_are_null_with_a_reason():
    unseen_end = finish(active_run(bridge_restarted=True), T0 + 100, "unknown", CONFIG, end_seen=False)
    assert (unseen_end.energy_kwh, unseen_end.water_l, unseen_end.end_seen, unseen_end.bridge_restarted) == (None, None, False, True)
    assert unseen_end.energy_reason.startswith("hc2mqtt did not see the run end")
    unseen_start = finish(active_run(start_seen=False, energy_start=None, water_start=None), T0 + 100, "finished", CONFIG,
                          Reading(170.0), Reading(9810.0))  # fmt: skip
    assert unseen_start.energy_kwh is None and unseen_start.water_reason.startswith("hc2mqtt did not see the run start")
    no_meters = finish(active_run(energy_start=None, water_start=None), T0 + 60, "aborted", RunConfig())
    assert (no_meters.energy_reason, no_meters.water_reason) == ("no energy meter configured", "no water meter configured")
    assert (no_meters.energy_estimate_kwh, no_meters.duration_s) == (None, 60)
    timed_out = finish(active_run(), T0 + 60, "finished", CONFIG, Reading.missing("did not answer within 5 s"), Reading(9801.0))
    assert (timed_out.energy_kwh, timed_out.energy_reason, timed_out.water_l) == (None, "no end reading: did not answer within 5 s", 1.0)


def test_totals_count_each_quantity_from_where_it_comes():
    first = finish(active_run(), T0 + 1800, "finished", CONFIG, Reading(170.711), Reading(9812.0))
    second = finish(active_run(), T0 + 1800, "aborted", CONFIG, Reading.missing("did not answer within 5 s"), Reading(9803.5))
    totals = Totals().add(first, CONFIG).add(second, CONFIG)
    assert totals == Totals(energy_kwh=0.75, water_l=15.5, runs=2, energy_runs=1, water_runs=2, since=iso(T0))
    estimated = Totals().add(first, RunConfig(energy_full_scale_kwh=2.0))
    assert (estimated.energy_kwh, estimated.water_l, estimated.energy_runs, estimated.water_runs) == (1.2, 0.0, 1, 0)
    assert Totals.from_json(totals.to_json()) == totals
    assert totals.public(CONFIG)["energy_source"] == "meter"


def test_the_store_keeps_the_run_under_way_privately_and_rotates_the_history(tmp_path):
    store = RunStore(tmp_path / "runs", "Geschirrspüler 2", max_bytes=1500, keep=3)
    assert store.state_path.name == "Geschirrsp_ler_2.json"
    run = active_run(bridge_restarted=True)
    store.save(run, None, Totals(runs=3, energy_kwh=2.5))
    assert stat.S_IMODE(store.state_path.stat().st_mode) == 0o600
    assert [p.name for p in store.directory.iterdir()] == ["Geschirrsp_ler_2.json"]  # no temporary file left
    stored = store.load()
    assert (stored.active, stored.last, stored.totals, stored.problems) == (run, None, Totals(runs=3, energy_kwh=2.5), [])

    record = finish(run, T0 + 60, "finished", CONFIG, Reading(170.0), Reading(9801.0))
    for _ in range(8):  # about 750 bytes each: a rotation every second run
        store.append(record)
    assert stat.S_IMODE(store.history_path.stat().st_mode) == 0o600
    names = sorted(p.name for p in store.directory.iterdir())
    assert names == [f"Geschirrsp_ler_2.{s}" for s in ("json", "jsonl", "jsonl.1", "jsonl.2", "jsonl.3")]
    assert store.history() == [record.to_json()] * (len(store.history_path.read_text().splitlines()))
    assert all(p.stat().st_size <= 1500 for p in store.directory.iterdir())


def test_a_damaged_store_is_said_and_started_without(tmp_path):
    store = RunStore(tmp_path, "dishwasher")
    store.state_path.write_text("{not json")
    stored = store.load()
    assert stored.active is None and "is no JSON object" in stored.problems[0]
    store.state_path.write_text(json.dumps({"active": {"program": 5}, "totals": {"runs": -1}}))
    stored = store.load()
    assert stored.active is None and stored.totals == Totals() and len(stored.problems) == 2


# -- topics and Home Assistant entities -------------------------------------------------------------


def test_retained_run_topics():
    base = "homeconnect/dishwasher"
    out = publish.state_messages(base, None, None, {"runs": 0})
    assert [(m.topic, m.payload, m.retain) for m in out] == [
        (f"{base}/run/totals", '{"runs": 0}', True),
        (f"{base}/run/active", "", True),  # none under way: cleared
    ]
    out = publish.finished_messages(base, {"program": ECO}, {"runs": 1})
    assert [m.topic for m in out] == [f"{base}/run/totals", f"{base}/run", f"{base}/run/active"]


def test_home_assistant_entities_of_runs():
    topics = Topics("homeconnect/", "dishwasher")
    device = {"identifiers": ["dishwasher"], "name": "dishwasher"}
    out = run_entities.discovery_messages(topics.base, topics.appliance, device, topics.bridge_lwt, CONFIG, "homeassistant")
    configs = {m.topic: json.loads(m.payload) for m in out}
    ids = [c["unique_id"] for c in configs.values()]
    assert ids == [f"dishwasher_run_{w}" for w in ("energy_total", "energy", "water_total", "water", "duration", "program", "ended")]
    energy = configs["homeassistant/sensor/hcpy/dishwasher_run_energy_total/config"]
    assert {k: energy[k] for k in ("device_class", "unit_of_measurement", "state_class", "state_topic", "value_template")} == {
        "device_class": "energy",
        "unit_of_measurement": "kWh",
        "state_class": "total_increasing",
        "state_topic": "homeconnect/dishwasher/run/totals",
        "value_template": "{{ value_json.energy_kwh }}",
    }
    water = configs["homeassistant/sensor/hcpy/dishwasher_run_water_total/config"]
    assert (water["device_class"], water["unit_of_measurement"], water["state_class"]) == ("water", "L", "total_increasing")
    assert energy["device"] == device and energy["availability"] == [{"topic": "homeconnect/LWT"}]
    ended = configs["homeassistant/sensor/hcpy/dishwasher_run_ended/config"]
    assert ended["options"] == ["finished", "aborted", "switched_off", "unknown"]

    # No meter and no full scale: no energy or water entity, and a broker's leftovers go.
    bare = run_entities.discovery_messages(topics.base, topics.appliance, device, topics.bridge_lwt, RunConfig(), "homeassistant")
    assert [json.loads(m.payload)["unique_id"] for m in bare] == ["dishwasher_run_duration", "dishwasher_run_program", "dishwasher_run_ended"]
    stale = run_entities.stale_configs("dishwasher", "homeassistant", bare, set(configs) | {"homeassistant/sensor/hcpy/other_run_energy/config"})
    assert sorted(m.topic for m in stale) == sorted(set(configs) - {m.topic for m in bare})
    assert all(m.payload == "" and m.retain for m in stale)
    # A full scale alone: the last run's estimate.
    estimated = run_entities.discovery_messages(topics.base, topics.appliance, device, topics.bridge_lwt,
                                                RunConfig(energy_full_scale_kwh=2.0), "homeassistant")  # fmt: skip
    last = next(json.loads(m.payload) for m in estimated if m.topic.endswith("dishwasher_run_energy/config"))
    assert last["value_template"] == "{{ value_json.energy_estimate_kwh }}"
