"""The oven and the hood in the simulator: their profiles, and their lives over real sockets.

The profiles are invented from the public Home Connect API's keys
(hcpy/simulator/profiles/README.md). Each appliance runs on a clock
the test turns (`ManualClock`), behind the real bridge and a real mosquitto,
on both transports.
"""

from __future__ import annotations

import json

import pytest
from support import at_rest, posts

from hcpy.appliance.model import Kind, ValueKind
from hcpy.appliance.profile_xml import parse_profile
from hcpy.simulator import ManualClock
from hcpy.simulator.appliance import DEVICE_STATE_NOT_COMPLIANT, REMOTE_START_NOT_ACTIVE, SimulatedAppliance
from hcpy.simulator.examples import EXAMPLES
from hcpy.simulator.kinds.hood import NEARLY_SATURATED_HOURS, SATURATED_HOURS, saturation_warnings
from hcpy.simulator.kinds.oven import cooled, heated

KINDS = EXAMPLES
OVEN = "BOSCH-HCPYOVEN01-000000000000"
HOOD = "SIEMENS-HCPYHOOD01-000000000000"
P = "homeconnect/"
STATE = "state/bsh_common_status_operationstate"
CAVITY = "state/cooking_oven_status_currentcavitytemperature"
PREHEATED = "event/cooking_oven_event_preheatfinished"
FINISHED = "event/bsh_common_event_programfinished"


def load(stem):
    return parse_profile(
        (KINDS / f"{stem}_DeviceDescription.xml").read_bytes(), (KINDS / f"{stem}_FeatureMapping.xml").read_bytes(), stem
    )


@pytest.fixture(scope="module")
def oven():
    return load(OVEN)


@pytest.fixture(scope="module")
def hood():
    return load(HOOD)


@pytest.fixture(params=["tls", "aes"])
def transport(request):
    return request.param


# --- the profiles ----------------------------------------------------------------


def test_the_oven_profile_parses_with_the_api_facts(oven):
    assert oven.problems == []
    assert oven.description.type == "Oven"
    programs = {p.name.rsplit(".", 1)[-1] for p in oven.programs.values()}
    assert programs == {"HotAir", "TopBottomHeating", "PizzaSetting", "PreHeating"}
    setpoint = oven.by_name("Cooking.Oven.Option.SetpointTemperature")
    assert (setpoint.content_type_name, setpoint.value_kind) == ("temperatureCelsius", ValueKind.INTEGER)
    assert (setpoint.limits.min, setpoint.limits.max) == (30, 250)
    assert oven.by_name("BSH.Common.Option.Duration").content_type_name == "timeSpan"
    assert oven.by_name("Cooking.Oven.Option.FastPreHeat").is_boolean
    assert oven.by_name("Cooking.Oven.Event.PreheatFinished").kind is Kind.EVENT
    assert oven.by_name("Cooking.Oven.Setting.SabbathMode").kind is Kind.SETTING


def test_the_hood_profile_parses_with_the_api_facts(hood):
    assert hood.problems == []
    assert hood.description.type == "Hood"
    venting = hood.by_name("Cooking.Common.Option.Hood.VentingLevel")
    assert list(venting.enum.members.values()) == ["FanOff"] + [f"FanStage0{n}" for n in range(1, 6)]
    intensive = hood.by_name("Cooking.Common.Option.Hood.IntensiveLevel")
    assert list(intensive.enum.members.values()) == ["IntensiveStageOff", "IntensiveStage1", "IntensiveStage2"]
    brightness = hood.by_name("Cooking.Common.Setting.LightingBrightness")
    assert (brightness.content_type_name, brightness.limits.min, brightness.limits.max) == ("percent", 10, 100)
    assert hood.by_name("Cooking.Common.Setting.Lighting").is_boolean
    assert "Color99" in hood.by_name("BSH.Common.Setting.AmbientLightColor").enum.members.values()
    names = {p.name for p in hood.programs.values()}
    assert names == {f"Cooking.Common.Program.Hood.{n}" for n in ("Automatic", "Venting", "DelayedShutOff")}


# --- pure curves -------------------------------------------------------------------


def test_the_cavity_heats_to_the_setpoint_and_no_further_then_cools_to_the_room():
    assert heated(20, 180, 0) == 20
    assert heated(20, 180, 240) == 100
    assert heated(20, 180, 240, fast=True) == 140
    assert heated(20, 180, 3600) == 180
    assert heated(220, 180, 3600) == 180  # too hot: down to the setpoint
    assert cooled(180, 600) == 160
    assert cooled(180, 10 * 3600) == 20


def test_the_grease_filter_warns_once_nearly_and_once_saturated():
    hour = 3600
    assert saturation_warnings(0, NEARLY_SATURATED_HOURS * hour - 1) == []
    nearly = saturation_warnings(0, NEARLY_SATURATED_HOURS * hour)
    assert nearly == ["Cooking.Hood.Event.GreaseFilterMaxSaturationNearlyReached"]
    assert saturation_warnings(NEARLY_SATURATED_HOURS * hour, NEARLY_SATURATED_HOURS * hour + 1) == []
    both = saturation_warnings(0, SATURATED_HOURS * hour)
    assert both[-1] == "Cooking.Hood.Event.GreaseFilterMaxSaturationReached" and len(both) == 2


# --- the oven --------------------------------------------------------------------


def test_the_oven_preheats_to_its_setpoint_and_finishes(oven, run_one, transport):
    kitchen = run_one(*at_rest(oven, "oven", transport))
    kitchen.sees(STATE, "Ready")
    kitchen.sees(CAVITY, "20")
    options = [{"name": "SetpointTemperature", "value": 200}, {"name": "Duration", "value": 1800}]
    answer = kitchen.command("activeProgram", {"program": "HotAir", "options": options})
    assert answer["status"] == "ok", answer
    sent = posts(kitchen.sim)[-1]
    assert sent.resource == "/ro/activeProgram"
    assert {"uid": oven.by_name("Cooking.Oven.Option.SetpointTemperature").uid, "value": 200} in sent.data[0]["options"]
    kitchen.sees(STATE, "Run")
    kitchen.sees("state/bsh_common_option_remainingprogramtime", "1800")

    seen = []
    for _ in range(8):  # 20 °C a minute from 20 °C: 180 °C after 8 minutes
        mark = kitchen.later(60)
        seen.append(int(kitchen.sees(CAVITY, since=mark)))
    assert seen == [40, 60, 80, 100, 120, 140, 160, 180]
    assert not [t for t, _, _ in kitchen.subscriber.messages if t == kitchen.base + PREHEATED]
    mark = kitchen.later(60)
    kitchen.sees(CAVITY, "200", since=mark)
    assert json.loads(kitchen.sees(PREHEATED, since=mark)) == {"event_type": "Present"}
    mark = kitchen.later(120)
    kitchen.sees("state/bsh_common_option_remainingprogramtime", str(1800 - 11 * 60), since=mark)
    assert kitchen.sim.app.value("Cooking.Oven.Status.CurrentCavityTemperature") == 200  # held, not overshot

    mark = kitchen.later(1800 - 11 * 60)
    kitchen.sees(STATE, "Finished", since=mark)
    assert json.loads(kitchen.sees(FINISHED, since=mark)) == {"event_type": "Present"}
    events = [t for t, _, _ in kitchen.subscriber.messages if t == kitchen.base + PREHEATED]
    assert len(events) == 1  # once a run
    mark = kitchen.later(600)
    kitchen.sees(CAVITY, "180", since=mark)  # cooling down


def test_the_oven_heats_faster_with_fast_preheat(oven, run_one):
    kitchen = run_one(*at_rest(oven, "oven", "tls"))
    options = [{"name": "SetpointTemperature", "value": 140}, {"name": "FastPreHeat", "value": True}]
    assert kitchen.command("activeProgram", {"program": "PreHeating", "options": options})["status"] == "ok"
    kitchen.sees(STATE, "Run")
    mark = kitchen.later(240)  # 30 °C a minute
    kitchen.sees(CAVITY, "140", since=mark)
    kitchen.sees(PREHEATED, since=mark)


def test_the_oven_alarm_clock_counts_down_and_rings(oven, run_one):
    kitchen = run_one(*at_rest(oven, "oven", "aes"))
    answer = kitchen.command("set", {"name": "BSH.Common.Setting.AlarmClock", "value": 300})
    assert answer["status"] == "ok", answer
    kitchen.sees("state/bsh_common_setting_alarmclock", "300")
    mark = kitchen.later(120)
    kitchen.sees("state/bsh_common_setting_alarmclock", "180", since=mark)
    mark = kitchen.later(180)
    kitchen.sees("state/bsh_common_setting_alarmclock", "0", since=mark)
    assert json.loads(kitchen.sees("event/bsh_common_event_alarmclockelapsed", since=mark)) == {"event_type": "Present"}


def test_the_oven_does_not_start_with_its_door_open_or_without_remote_start(oven):
    app = SimulatedAppliance(oven, clock=ManualClock(), remote_start=False)
    hot_air = {"program": oven.by_name("Cooking.Oven.Program.HeatingMode.HotAir").uid}
    assert app.start_program("/ro/activeProgram", [hot_air]).code == REMOTE_START_NOT_ACTIVE
    app.allow_remote_start(True)
    app.set_door(False)
    refused = app.start_program("/ro/activeProgram", [hot_air])
    assert (refused.code, refused.reason) == (DEVICE_STATE_NOT_COMPLIANT, "the door is open")
    app.set_door(True)
    assert app.start_program("/ro/activeProgram", [hot_air]).ok
    assert app.value("Cooking.Oven.Status.CurrentCavityTemperature") == 20


# --- the hood --------------------------------------------------------------------


def test_the_hood_lights_up_and_vents_at_the_levels_set_over_mqtt(hood, run_one, transport):
    kitchen = run_one(*at_rest(hood, "hood", transport))
    kitchen.sees("state/cooking_common_setting_lighting", "False")
    assert kitchen.command("set", {"name": "Cooking.Common.Setting.Lighting", "value": True})["status"] == "ok"
    kitchen.sees("state/cooking_common_setting_lighting", "True")
    assert kitchen.sim.app.value("Cooking.Common.Setting.Lighting") is True
    assert kitchen.command("set", {"name": "Cooking.Common.Setting.LightingBrightness", "value": 40})["status"] == "ok"
    kitchen.sees("state/cooking_common_setting_lightingbrightness", "40")
    assert kitchen.sim.app.value("Cooking.Common.Setting.LightingBrightness") == 40
    too_dim = kitchen.command("set", {"name": "Cooking.Common.Setting.LightingBrightness", "value": 5})
    assert too_dim["status"] == "error", too_dim  # the appliance's 10 % minimum

    # The ambient light, with a colour of the appliance's list or a custom one.
    answer = kitchen.command("set", {"name": "BSH.Common.Setting.AmbientLightColor", "value": "Color12"})
    assert answer["status"] == "ok", answer
    kitchen.sees("state/bsh_common_setting_ambientlightcolor", "Color12")
    answer = kitchen.command("set", {"name": "BSH.Common.Setting.AmbientLightCustomColor", "value": "#00ff80"})
    assert answer["status"] == "ok", answer
    assert kitchen.sim.app.value("BSH.Common.Setting.AmbientLightCustomColor") == "#00ff80"

    options = [{"name": "VentingLevel", "value": "FanStage03"}]
    answer = kitchen.command("activeProgram", {"program": "Venting", "options": options})
    assert answer["status"] == "ok", answer
    kitchen.sees(STATE, "Run")
    kitchen.sees("state/cooking_common_option_hood_ventinglevel", "FanStage03")
    assert kitchen.sim.app.member("Cooking.Common.Option.Hood.VentingLevel") == "FanStage03"
    answer = kitchen.command("set", {"name": "Cooking.Common.Option.Hood.IntensiveLevel", "value": "IntensiveStage2"})
    assert answer["status"] == "ok", answer
    kitchen.sees("state/cooking_common_option_hood_intensivelevel", "IntensiveStage2")
    assert kitchen.sim.app.member("Cooking.Common.Option.Hood.IntensiveLevel") == "IntensiveStage2"


def test_the_hood_warns_about_its_grease_filter_after_hours_of_venting(hood, run_one):
    kitchen = run_one(*at_rest(hood, "hood", "tls"))
    options = [{"name": "VentingLevel", "value": "FanStage02"}]
    assert kitchen.command("activeProgram", {"program": "Venting", "options": options})["status"] == "ok"
    kitchen.sees(STATE, "Run")
    nearly = "event/cooking_hood_event_greasefiltermaxsaturationnearlyreached"
    mark = kitchen.later(NEARLY_SATURATED_HOURS * 3600)
    assert json.loads(kitchen.sees(nearly, since=mark)) == {"event_type": "Present"}
    assert kitchen.command("activeProgram", {"program": "stop"})["status"] == "ok"
    mark = kitchen.later(24 * 3600)
    kitchen.sees(STATE, "Ready", since=mark)
    reached = "event/cooking_hood_event_greasefiltermaxsaturationreached"
    assert not [t for t, _, _ in kitchen.subscriber.messages if t == kitchen.base + reached]  # idle: no venting
    # The hours add up over the next runs.
    assert kitchen.command("activeProgram", {"program": "Venting", "options": options})["status"] == "ok"
    kitchen.sees(STATE, "Run", since=mark)
    mark = kitchen.later((SATURATED_HOURS - NEARLY_SATURATED_HOURS) * 3600)
    assert json.loads(kitchen.sees(reached, since=mark)) == {"event_type": "Present"}


def test_the_hood_runs_its_fan_on_for_ten_minutes_then_stops(hood, run_one):
    kitchen = run_one(*at_rest(hood, "hood", "aes"))
    assert kitchen.command("activeProgram", {"program": "DelayedShutOff"})["status"] == "ok"
    kitchen.sees(STATE, "Run")
    mark = kitchen.later(9 * 60)
    assert kitchen.sim.app.member("BSH.Common.Status.OperationState") == "Run"
    mark = kitchen.later(60)
    kitchen.sees(STATE, "Finished", since=mark)
    kitchen.sees(FINISHED, since=mark)


def test_the_grease_filter_fills_only_while_the_fan_turns(hood):
    clock = ManualClock()
    app = SimulatedAppliance(hood, clock=clock)
    venting = hood.by_name("Cooking.Common.Program.Hood.Venting").uid
    level = hood.by_name("Cooking.Common.Option.Hood.VentingLevel").uid
    assert app.start_program("/ro/activeProgram", [{"program": venting, "options": [{"uid": level, "value": 0}]}]).ok
    clock.advance(SATURATED_HOURS * 3600)
    app.advance()
    assert app.runner.life.vented == 0  # FanOff, no intensive stage: nothing passes the filter
    assert app.write_values([{"uid": level, "value": 4}]).ok
    app.advance()
    clock.advance(3600)
    app.advance()
    assert app.runner.life.vented == 3600
