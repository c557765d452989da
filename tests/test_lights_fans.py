"""A hood's lights and venting as Home Assistant `light` and `fan` entities: configs, and commands reaching the hood.

One light stands for a switch setting and its brightness setting
(components.LIGHTS); Home Assistant's MQTT light (default schema) sends the
switch's payload_on/off and renders brightness_command_template with the
brightness scaled to brightness_scale as `value`. The fan (components.FANS)
starts and stops the venting program; its speeds are the venting stages
(percentage_command_template renders the speed within
speed_range_min..speed_range_max as `value`), its preset modes the intensive stages.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from support import COFFEE, DISHWASHER, WASHER, at_rest, profile_files

from hcpy.appliance.profile_xml import parse_profile
from hcpy.appliance.state import ApplianceState
from hcpy.homeassistant.discovery import Discovery, DiscoveryOptions
from hcpy.mqtt.naming import Naming
from hcpy.mqtt.options import PublishOptions
from hcpy.mqtt.topics import Topics
from hcpy.simulator.examples import EXAMPLES

HOOD = "SIEMENS-HCPYHOOD01-000000000000"
LIGHTING = "Cooking.Common.Setting.Lighting"
BRIGHTNESS = "Cooking.Common.Setting.LightingBrightness"


def hood_profile():
    files = (EXAMPLES / f"{HOOD}_{part}.xml" for part in ("DeviceDescription", "FeatureMapping"))
    return parse_profile(*(path.read_bytes() for path in files), HOOD)


def configs(profile, name: str) -> dict[str, dict]:
    topics = Topics("homeconnect/", name)
    naming = Naming(topics, PublishOptions(home_assistant=True), profile)
    messages = Discovery(topics, naming, DiscoveryOptions()).messages(ApplianceState(profile, name), {})
    return {m.topic: json.loads(m.payload) for m in messages}


def lights(found: dict[str, dict]) -> dict[str, dict]:
    return {topic: config for topic, config in found.items() if topic.startswith("homeassistant/light/")}


FAN = "homeassistant/fan/hcpy/hood_cooking_common_program_hood_venting/config"


def light_config(found: dict[str, dict]) -> dict:
    return found["homeassistant/light/hcpy/hood_cooking_common_setting_lighting/config"]


_STAGES = re.compile(r"\{\{ (?P<list>\[[^]]*\])\[\(value \| int\(1\)\) - 1\] \}\}")


def render_speed(template: str, speed: int) -> str:
    """What Home Assistant sends for a speed (1..speed_range_max), per the template's one expression."""
    match = _STAGES.search(template)
    assert match is not None, template
    return template.replace(match.group(0), json.loads(match.group("list"))[speed - 1])


_BRIGHTNESS = re.compile(r"\{\{ \[value \| int\(0\), (?P<low>\d+)\] \| max \}\}")


def render_brightness(template: str, value: int) -> str:
    """What Home Assistant sends for a brightness `value` (already scaled), per the template's one expression."""
    match = _BRIGHTNESS.search(template)
    assert match is not None, template
    return template.replace(match.group(0), str(max(value, int(match.group("low")))))


# --- the configs, pure -------------------------------------------------------------


def test_the_hood_lighting_and_its_brightness_are_one_light():
    found = configs(hood_profile(), "hood")
    light = light_config(found)
    assert light["command_topic"] == light["brightness_command_topic"] == "homeconnect/hood/set"
    assert light["state_topic"] == "homeconnect/hood/state/cooking_common_setting_lighting"
    assert light["brightness_state_topic"] == "homeconnect/hood/state/cooking_common_setting_lightingbrightness"
    assert json.loads(light["payload_on"]) == {"uid": 0x1E10, "value": True}
    assert json.loads(light["payload_off"]) == {"uid": 0x1E10, "value": False}
    assert light["brightness_scale"] == 100  # the profile's maximum, in percent
    assert json.loads(render_brightness(light["brightness_command_template"], 40)) == {"uid": 0x1E11, "value": 40}
    # Under the appliance's 10 % minimum, the minimum: the appliance refuses less.
    assert json.loads(render_brightness(light["brightness_command_template"], 3)) == {"uid": 0x1E11, "value": 10}
    assert {"topic": "homeconnect/hood/available/cooking_common_setting_lighting"} in light["availability"]
    # The switch and the brightness are no switch or number of their own.
    others = [t for t in found if "cooking_common_setting_lighting" in t and "/light/" not in t]
    assert others == []
    # The ambient light is a light too; its colour stays a select.
    assert set(lights(found)) == {
        "homeassistant/light/hcpy/hood_cooking_common_setting_lighting/config",
        "homeassistant/light/hcpy/hood_bsh_common_setting_ambientlightenabled/config",
    }
    assert "homeassistant/select/hcpy/hood_bsh_common_setting_ambientlightcolor/config" in found


def test_the_hood_venting_is_a_fan_with_the_venting_stages_as_speeds_and_intensive_ones_as_presets():
    found = configs(hood_profile(), "hood")
    fan = found[FAN]
    assert fan["command_topic"] == "homeconnect/hood/activeProgram"
    assert json.loads(fan["payload_on"]) == {"program": "Cooking.Common.Program.Hood.Venting"}
    assert json.loads(fan["payload_off"]) == {"program": "stop"}
    assert fan["state_topic"] == "homeconnect/hood/state/bsh_common_status_operationstate"
    assert (fan["speed_range_min"], fan["speed_range_max"]) == (1, 5)
    assert fan["percentage_command_topic"] == fan["preset_mode_command_topic"] == "homeconnect/hood/set"
    assert json.loads(render_speed(fan["percentage_command_template"], 1)) == {"uid": 0x1E30, "value": "FanStage01"}
    assert json.loads(render_speed(fan["percentage_command_template"], 5)) == {"uid": 0x1E30, "value": "FanStage05"}
    assert fan["percentage_state_topic"] == "homeconnect/hood/state/cooking_common_option_hood_ventinglevel"
    assert fan["preset_modes"] == ["IntensiveStage1", "IntensiveStage2"]
    assert fan["preset_mode_state_topic"] == "homeconnect/hood/state/cooking_common_option_hood_intensivelevel"
    # The options keep their selects: a fan beside them, not instead.
    assert "homeassistant/select/hcpy/hood_cooking_common_option_hood_ventinglevel/config" in found
    assert [t for t in found if t.startswith("homeassistant/fan/")] == [FAN]


def test_a_brightness_the_light_cannot_dim_with_keeps_an_entity_of_its_own():
    # With no brightness above 0 Home Assistant's cannot be scaled to it: the
    # light only switches, and the brightness must still show somewhere.
    files = [EXAMPLES / f"{HOOD}_{part}.xml" for part in ("DeviceDescription", "FeatureMapping")]
    description = files[0].read_text().replace(' min="10" max="100" stepSize="1" refCID="11" refDID="A0" uid="1E11"',
                                               ' min="0" max="0" refCID="11" refDID="A0" uid="1E11"')  # fmt: skip
    assert description != files[0].read_text()
    found = configs(parse_profile(description, files[1].read_bytes(), HOOD), "hood")
    light = light_config(found)
    assert "brightness_command_topic" not in light and "payload_on" in light
    own = [t for t in found if "cooking_common_setting_lightingbrightness/config" in t]
    assert own and not any("/light/" in t for t in own), own


@pytest.mark.parametrize("stem", [DISHWASHER, WASHER, COFFEE])
def test_appliances_without_lighting_or_venting_get_no_light_or_fan(stem):
    found = configs(parse_profile(*profile_files(stem)), "dishwasher")
    assert lights(found) == {}
    assert [t for t in found if t.startswith("homeassistant/fan/")] == []


# Home Assistant's own template engine (the venv .ci/home_assistant keeps):
# a light's state_value_template as it renders a state payload, its
# brightness_command_template as it renders a command (value: the scaled brightness).
_RENDER = """
import asyncio, json, sys
from homeassistant.core import HomeAssistant
from homeassistant.helpers.template import Template

async def main(configs, directory):
    light, fan = configs
    hass = HomeAssistant(directory)
    state = Template(light["state_value_template"], hass)
    command = Template(light["brightness_command_template"], hass)
    out = [state.async_render_with_possible_json_value(p) for p in ("True", "False", "garbage")]
    out += [command.async_render({"value": v}, parse_result=False) for v in (40, 100, 1)]
    running = Template(fan["state_value_template"], hass)
    out += [running.async_render_with_possible_json_value(p) for p in ("Run", "Ready")]
    speed = Template(fan["percentage_command_template"], hass)
    out += [speed.async_render({"value": v}, parse_result=False) for v in (1, 3, 5)]
    speed_state = Template(fan["percentage_value_template"], hass)
    out += [speed_state.async_render_with_possible_json_value(p) for p in ("FanStage04", "FanOff")]
    preset = Template(fan["preset_mode_value_template"], hass)
    out += [preset.async_render_with_possible_json_value(p) for p in ("IntensiveStage2", "IntensiveStageOff")]
    await hass.async_stop(force=True)
    return out

print(json.dumps(asyncio.run(main(json.loads(sys.stdin.read()), sys.argv[1]))))
"""


def test_home_assistant_renders_the_light_templates(tmp_path):
    python = Path(os.environ.get("HCPY_HA_VENV", Path.home() / ".cache/hcpy-ci/ha-venv")) / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no Home Assistant venv at {python.parent.parent} (.ci/home_assistant makes it)")
    found = configs(hood_profile(), "hood")
    light, fan = light_config(found), found[FAN]
    done = subprocess.run([str(python), "-c", _RENDER, str(tmp_path)], input=json.dumps([light, fan]),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rendered = json.loads(done.stdout)
    on, off, unknown, forty, full, lowest = rendered[:6]
    running, ready, speed1, speed3, speed5, speed_four, speed_off, boost, no_boost = rendered[6:]
    assert (running, ready) == (fan["payload_on"], fan["payload_off"])
    assert [json.loads(p)["value"] for p in (speed1, speed3, speed5)] == ["FanStage01", "FanStage03", "FanStage05"]
    assert [render_speed(fan["percentage_command_template"], v) for v in (1, 3, 5)] == [speed1, speed3, speed5]
    assert (speed_four, speed_off) == ("4", "0")
    assert (boost, no_boost) == ("IntensiveStage2", "None")
    assert (on, off, unknown) == (light["payload_on"], light["payload_off"], "None")
    assert [json.loads(p)["value"] for p in (forty, full, lowest)] == [40, 100, 10]
    assert [render_brightness(light["brightness_command_template"], v) for v in (40, 100, 1)] == [forty, full, lowest]


# --- through the bridge, on both transports ----------------------------------------


@pytest.fixture(params=["tls", "aes"])
def transport(request):
    return request.param


def test_the_light_commands_home_assistant_sends_reach_the_hood(run_one, transport):
    kitchen = run_one(*at_rest(hood_profile(), "hood", transport))
    topic = "homeassistant/light/hcpy/hood_cooking_common_setting_lighting/config"
    light = json.loads(kitchen.subscriber.wait(topic))
    kitchen.sees("state/cooking_common_setting_lighting", "False")
    kitchen.sees("available/cooking_common_setting_lighting", "online")

    kitchen.subscriber.publish(light["command_topic"], light["payload_on"])
    kitchen.sees("state/cooking_common_setting_lighting", "True")
    assert kitchen.sim.app.value(LIGHTING) is True

    brightness = render_brightness(light["brightness_command_template"], 40)
    kitchen.subscriber.publish(light["brightness_command_topic"], brightness)
    kitchen.sees("state/cooking_common_setting_lightingbrightness", "40")
    assert kitchen.sim.app.value(BRIGHTNESS) == 40

    mark = kitchen.subscriber.mark()
    kitchen.subscriber.publish(light["command_topic"], light["payload_off"])
    kitchen.sees("state/cooking_common_setting_lighting", "False", since=mark)
    assert kitchen.sim.app.value(LIGHTING) is False


def test_the_fan_commands_home_assistant_sends_reach_the_hood(run_one, transport):
    kitchen = run_one(*at_rest(hood_profile(), "hood", transport))
    fan = json.loads(kitchen.subscriber.wait(FAN))
    kitchen.sees("state/bsh_common_status_operationstate", "Ready")

    kitchen.subscriber.publish(fan["command_topic"], fan["payload_on"])
    kitchen.sees("state/bsh_common_status_operationstate", "Run")
    kitchen.sees("state/bsh_common_root_activeprogram", "Cooking.Common.Program.Hood.Venting")
    assert kitchen.sim.app.value("BSH.Common.Root.ActiveProgram") == 0x1E41

    kitchen.subscriber.publish(fan["percentage_command_topic"], render_speed(fan["percentage_command_template"], 4))
    kitchen.sees("state/cooking_common_option_hood_ventinglevel", "FanStage04")
    assert kitchen.sim.app.member("Cooking.Common.Option.Hood.VentingLevel") == "FanStage04"

    preset = fan["preset_mode_command_template"].replace("{{ value }}", "IntensiveStage1")
    kitchen.subscriber.publish(fan["preset_mode_command_topic"], preset)
    kitchen.sees("state/cooking_common_option_hood_intensivelevel", "IntensiveStage1")
    assert kitchen.sim.app.member("Cooking.Common.Option.Hood.IntensiveLevel") == "IntensiveStage1"

    mark = kitchen.subscriber.mark()
    kitchen.subscriber.publish(fan["command_topic"], fan["payload_off"])
    kitchen.sees("state/bsh_common_status_operationstate", "Aborting", since=mark)  # off to Home Assistant already
    mark = kitchen.later(60)
    kitchen.sees("state/bsh_common_status_operationstate", "Ready", since=mark)
