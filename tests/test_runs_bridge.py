"""Per-run energy and water end to end: simulated dishwasher <-> hc2mqtt's bridge <-> mosquitto, with meters.

The dishwasher runs programs on a clock the test turns (`ManualClock`); the
run recorder's clock follows it, so that durations are appliance seconds.
Energy comes from a fake Tasmota plug (a real local HTTP server whose
counter the test raises during each run), water from an MQTT water meter
(the test publishes its topic on the broker), or from homeconnect-hcpy's
"addons" block pointing at HTTP servers that answer as Tasmota and ESPHome do.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager

import pytest
from support import DISHWASHER, bridged, profile_files, simulated
from test_runs_meters import FakeMeter

from hcpy.appliance.devices import load_devices
from hcpy.appliance.entry import entry_to_json
from hcpy.appliance.profile_xml import parse_profile
from hcpy.simulator import ManualClock

T = "homeconnect/dishwasher"
STATE = f"{T}/state/bsh_common_status_operationstate"
WATER_TOPIC = "water-meter/sensor/water_total/state"  # an ESPHome water meter's state topic: m³, a plain number
QUICK = "Dishcare.Dishwasher.Program.Quick45"
ECO = "Dishcare.Dishwasher.Program.Eco50"
T0 = 1_714_564_800.0  # 2024-05-01T12:00:00Z: the recorder's time when the appliance's clock reads 0
CONFIG = "homeassistant/sensor/hcpy/{}/config"


@pytest.fixture(scope="module")
def profile():
    return parse_profile(*profile_files(DISHWASHER))


@pytest.fixture
def meter():
    m = FakeMeter()
    yield m
    m.close()


@contextmanager
def hc2mqtt(broker, sim, entry, runs_dir, clock):
    """hc2mqtt's bridge with Home Assistant discovery and runs kept in `runs_dir` (as the daemon keeps them)."""
    with bridged(broker.port, [(sim, entry)], ha_discovery=True, runs_dir=runs_dir) as bridge:
        bridge.appliances[0].runs.clock = lambda: T0 + clock.now()
        yield bridge


def water_meter_reads(subscriber, bridge, m3):
    """Publish the water meter's counter and wait until hc2mqtt has taken it."""
    subscriber.publish(WATER_TOPIC, f"{m3:.3f}")
    recorder = bridge.appliances[0].runs
    for _ in range(500):
        if recorder.mqtt.read(recorder.config.water).value == round(m3 * 1000, 9):
            return
        time.sleep(0.01)
    raise AssertionError(f"hc2mqtt never took {m3} m³ from {WATER_TOPIC}: {recorder.mqtt.read(recorder.config.water)}")


def start(subscriber, program):
    mark = subscriber.mark()
    answer = subscriber.response(f"{T}/activeProgram", {"program": program})
    assert answer["status"] == "ok", answer
    subscriber.wait(STATE, "Run", since=mark)
    # Under way once the meters' start readings are in.
    return json.loads(subscriber.wait(f"{T}/run/active", lambda p: program in p, since=mark))


def finish(subscriber, sim, seconds, program, runs):
    """Let the program run to its end; its record and the totals with it counted."""
    mark = subscriber.mark()
    sim.advance(seconds)
    subscriber.wait(STATE, "Finished", since=mark)
    # (A reconnect may republish the run before: the record is the one of `program`.)
    record = json.loads(subscriber.wait(f"{T}/run", lambda p: json.loads(p)["program"] == program, since=mark))
    assert subscriber.wait(f"{T}/run/active", "", since=mark) == ""
    totals = json.loads(subscriber.wait(f"{T}/run/totals", lambda p: json.loads(p)["runs"] == runs, since=mark))
    return record, totals


def test_two_runs_with_a_tasmota_plug_and_an_mqtt_water_meter_through_a_restart(profile, broker, subscriber, meter, tmp_path):
    clock = ManualClock()
    sim, entry = simulated(profile, "dishwasher", clock=clock)
    entry.extra["hc2mqtt"] = {
        "energy_meter": {"url": meter.url("/cm?cmnd=Status%208"), "path": "StatusSNS.ENERGY.Total", "unit": "kWh"},
        "water_meter": f"mqtt:{WATER_TOPIC} m³",
        "energy_full_scale_kwh": 2,
        "water_full_scale_l": 20,
    }
    runs = tmp_path / "runs"
    meter.total = 100.0
    try:
        with hc2mqtt(broker, sim, entry, runs, clock) as bridge:
            subscriber.wait(STATE, "Ready")
            water_meter_reads(subscriber, bridge, 9.800)
            active = start(subscriber, QUICK)
            assert {k: active[k] for k in ("program", "start", "energy_forecast_percent", "water_forecast_percent")} == {
                "program": QUICK, "start": "2024-05-01T12:00:00+00:00", "energy_forecast_percent": 60, "water_forecast_percent": 50,
            }  # fmt: skip
            assert (active["energy_start_kwh"], active["water_start_l"], active["bridge_restarted"]) == (100.0, 9800.0, False)
            assert active["options"] == {"Dishcare.Dishwasher.Option.BrillianceDry": False}  # as published: full names

            meter.total = 100.75  # what the plug counted during the run
            water_meter_reads(subscriber, bridge, 9.812)
            first, totals = finish(subscriber, sim, 1800, QUICK, 1)
            assert first == {
                "appliance": "dishwasher",
                "program": QUICK,
                "options": {"Dishcare.Dishwasher.Option.BrillianceDry": False},
                "start": "2024-05-01T12:00:00+00:00",
                "end": "2024-05-01T12:30:00+00:00",
                "duration_s": 1800,
                "ended": "finished",
                "energy_kwh": 0.75,
                "energy_reason": None,
                "water_l": 12.0,
                "water_reason": None,
                "energy_forecast_percent": 60,
                "water_forecast_percent": 50,
                "energy_estimate_kwh": 1.2,
                "water_estimate_l": 10.0,
                "energy_start_kwh": 100.0,
                "energy_end_kwh": 100.75,
                "water_start_l": 9800.0,
                "water_end_l": 9812.0,
                "start_seen": True,
                "end_seen": True,
                "bridge_restarted": False,
                "end_reason": None,
                "energy_estimate_reason": None,
                "water_estimate_reason": None,
            }
            assert (totals["energy_kwh"], totals["water_l"], totals["runs"]) == (0.75, 12.0, 1)

            # The second run; hc2mqtt stops in the middle of it.
            second_start = start(subscriber, ECO)
            assert (second_start["energy_start_kwh"], second_start["water_start_l"]) == (100.75, 9812.0)
            meter.total = 101.3
            sim.advance(6000)
        kept = json.loads((runs / "dishwasher.json").read_text())
        assert (kept["active"]["program"], kept["active"]["energy_start"]["value"], kept["totals"]["runs"]) == (ECO, 100.75, 1)

        mark = subscriber.mark()
        with hc2mqtt(broker, sim, entry, runs, clock) as bridge:
            subscriber.wait(f"{T}/LWT", "online", since=mark)
            resumed = json.loads(subscriber.wait(f"{T}/run/active", lambda p: '"bridge_restarted": true' in p, since=mark))
            assert (resumed["program"], resumed["start"]) == (ECO, "2024-05-01T12:30:00+00:00")
            assert json.loads(subscriber.wait(f"{T}/run", since=mark)) == first  # the last run, republished
            meter.total = 102.0
            water_meter_reads(subscriber, bridge, 9.830)
            second, totals = finish(subscriber, sim, 13500 - 6000, ECO, 2)
            assert {k: second[k] for k in ("program", "start", "end", "duration_s", "ended", "bridge_restarted", "end_seen")} == {
                "program": ECO, "start": "2024-05-01T12:30:00+00:00", "end": "2024-05-01T16:15:00+00:00",
                "duration_s": 13500, "ended": "finished", "bridge_restarted": True, "end_seen": True,
            }  # fmt: skip
            assert (second["energy_kwh"], second["water_l"], second["energy_reason"], second["water_reason"]) == (1.25, 18.0, None, None)
            assert (second["energy_estimate_kwh"], second["water_estimate_l"]) == (1.2, 10.0)
            assert {k: totals[k] for k in ("energy_kwh", "water_l", "runs", "energy_runs", "water_runs")} == {
                "energy_kwh": 2.0, "water_l": 30.0, "runs": 2, "energy_runs": 2, "water_runs": 2,
            }  # fmt: skip
            assert (totals["energy_source"], totals["water_source"]) == ("meter", "meter")

            # Home Assistant's Energy dashboard takes the totals.
            energy = json.loads(subscriber.wait(CONFIG.format("dishwasher_run_energy_total")))
            water = json.loads(subscriber.wait(CONFIG.format("dishwasher_run_water_total")))
            program_end = json.loads(subscriber.wait(CONFIG.format("dishwasher_program_end")))
            for config, device_class, unit, field in ((energy, "energy", "kWh", "energy_kwh"), (water, "water", "L", "water_l")):
                assert (config["device_class"], config["unit_of_measurement"], config["state_class"]) == (device_class, unit, "total_increasing")
                assert (config["state_topic"], config["value_template"]) == (f"{T}/run/totals", f"{{{{ value_json.{field} }}}}")
                assert config["device"] == program_end["device"]  # on the dishwasher's own device
            for what in ("energy", "water", "duration", "program", "ended"):
                last = json.loads(subscriber.wait(CONFIG.format(f"dishwasher_run_{what}")))
                assert (last["unique_id"], last["state_topic"]) == (f"dishwasher_run_{what}", f"{T}/run")
    finally:
        sim.stop()

    history = [json.loads(line) for line in (runs / "dishwasher.jsonl").read_text().splitlines()]
    assert history == [first, second]
    kept = json.loads((runs / "dishwasher.json").read_text())
    assert (kept["active"], kept["last"], kept["totals"]["energy_kwh"]) == (None, second, 2.0)


def test_a_homeconnect_hcpy_entry_with_its_addons_block(profile, broker, subscriber, meter, tmp_path, caplog):
    clock = ManualClock()
    sim, simulated_entry = simulated(profile, "dishwasher", clock=clock)
    obj = entry_to_json(simulated_entry)
    # homeconnect-hcpy's block as its users' devices.json carries it, pointed at the fake meters.
    obj["addons"] = {
        "installed": "2022-09-06 12:00:00",
        "powermeter": meter.url("/cm?cmnd=status+8"),
        "watermeter": meter.url("/sensor/wasseruhr_anzeige"),
        "taps": 20,
        "taps_min": 5,
        "logfields": ["state", "program", "energy", "water"],
    }
    devices = tmp_path / "devices.json"
    devices.write_text(json.dumps([obj], indent=2))
    (entry,) = load_devices(devices)
    caplog.set_level(logging.DEBUG, logger="hcpy.appliance.dishwasher")
    try:
        with hc2mqtt(broker, sim, entry, devices.parent / "runs", clock):
            subscriber.wait(STATE, "Ready")
            active = start(subscriber, QUICK)
            assert (active["energy_start_kwh"], active["water_start_l"]) == (169.961, 9804.0)
            meter.total, meter.water_m3 = 170.661, 9.8165
            record, totals = finish(subscriber, sim, 1800, QUICK, 1)
            assert (record["energy_kwh"], record["water_l"], record["ended"]) == (0.7, 12.5, "finished")
            assert (record["energy_estimate_kwh"], record["water_estimate_l"]) == (None, None)  # no full-scale values given
            assert (totals["energy_kwh"], totals["water_l"]) == (0.7, 12.5)
            for what in ("energy_total", "water_total", "energy", "water"):
                subscriber.wait(CONFIG.format(f"dishwasher_run_{what}"))
    finally:
        sim.stop()
    notes = [r.getMessage() for r in caplog.records if "addons" in r.getMessage()]
    assert notes == ["devices.json: dishwasher: addons installed, taps, taps_min, logfields: not used by hcpy (it reads powermeter and watermeter)"]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING and "meter" in r.getMessage()] == []
    assert meter.asked == ["/cm?cmnd=status+8", "/sensor/wasseruhr_anzeige"] * 2


def test_without_a_meter_or_full_scale_there_are_no_energy_entities(profile, broker, subscriber, tmp_path):
    clock = ManualClock()
    sim, entry = simulated(profile, "dishwasher", clock=clock)
    try:
        with hc2mqtt(broker, sim, entry, tmp_path / "runs", clock):
            subscriber.wait(STATE, "Ready")
            subscriber.wait(CONFIG.format("dishwasher_run_ended"))
            totals = json.loads(subscriber.wait(f"{T}/run/totals"))
            assert (totals["runs"], totals["energy_source"], totals["water_source"]) == (0, None, None)
            start(subscriber, QUICK)
            record, _ = finish(subscriber, sim, 1800, QUICK, 1)
            assert (record["energy_kwh"], record["energy_reason"]) == (None, "no energy meter configured")
    finally:
        sim.stop()
    published = {topic for topic, _, _ in subscriber.messages}
    assert CONFIG.format("dishwasher_run_energy_total") not in published
    assert CONFIG.format("dishwasher_run_water") not in published
