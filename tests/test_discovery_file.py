"""hcpy2-0's discovery.yaml: read (hcpy.homeassistant.discovery_file), applied (hcpy.homeassistant.discovery), and run.

The parser is checked on the format as hcpy2-0 documents it, verbatim, and
on each kind of bad input, by the sentences users read. The payloads are
built from the real fixture profiles. The last test starts `python
hc2mqtt.py` with an hcpy2-0 config.ini, devices.json and discovery.yaml and
reads what Home Assistant would read on the broker.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import COFFEE, DISHWASHER, WASHER, Subscriber, profile_files

from hcpy.appliance.commands import build_set
from hcpy.appliance.entry import entry_from_profile, entry_to_json
from hcpy.appliance.profile_xml import parse_profile
from hcpy.appliance.state import ApplianceState
from hcpy.homeassistant.discovery import Discovery, DiscoveryOptions
from hcpy.homeassistant.discovery_file import AdditionalFeature, DiscoveryOverrides, Override, load, parse
from hcpy.mqtt.outgoing import Outgoing
from hcpy.mqtt.screening import screen_payload
from hcpy.mqtt.topics import Topics
from hcpy.simulator import SimulatedAppliance, Simulator

ROOT = Path(__file__).resolve().parents[1]

# hcpy2-0's format, verbatim as it documents it.
EXAMPLE = """\
HA_DISCOVERY_PREFIX: homeassistant
MAGIC_OVERRIDES:            # per full feature name: keys merged over the discovery payload
  BSH.Common.Option.ProgramProgress:
    unit_of_measurement: '%'
  BSH.Common.Status.DoorState:
    icon: mdi:door
  BSH.Common.Command.AbortProgram:
    component_type: "button"   # the HA component to use instead
    icon: mdi:cancel
  BSH.Common.Status.Program.All.Count.Started:
    state_class: total_increasing
EXPAND_NAME:                # name prefix -> index of the first dotted part kept in the entity name
  BSH.Common.Setting.Favorite.: 3
  BSH.Common.Status.Program.: 4
SKIP_ENTITIES:              # name prefixes: no entity (Root.ActiveProgram and Root.SelectedProgram are never skipped)
- Dishcare.Dishwasher.Program.
- BSH.Common.Root.
DISABLED_ENTITIES:          # name prefixes: entity created with enabled_by_default false
- Refrigeration.Common.Status.
DISABLED_EXCEPTIONS:        # substrings that re-enable a disabled one
- Refrigeration.Common.Status.Door.
ADDITIONAL_FEATURES:        # extra sensors read from the appliance's JSON state object
  - name: ipV4
    template: |-
      {% if 'ipV4' in value_json %}{{ value_json['ipV4'].ipAddress }}{% endif %}
    entity_category: diagnostic
  - name: rssi
    entity_category: diagnostic
    unit_of_measurement: dBm
"""

FALLBACK = "Home Assistant entities use hcpy's own choices"


def parsed(text: str) -> tuple[DiscoveryOverrides, list[str]]:
    return parse(text, "discovery.yaml")


# -- the parser ------------------------------------------------------------------------------


def test_the_documented_example_reads_without_a_problem():
    overrides, problems = parsed(EXAMPLE)
    assert problems == []
    assert overrides.prefix == "homeassistant"
    assert overrides.magic == {
        "BSH.Common.Option.ProgramProgress": Override({"unit_of_measurement": "%"}),
        "BSH.Common.Status.DoorState": Override({"icon": "mdi:door"}),
        "BSH.Common.Command.AbortProgram": Override({"icon": "mdi:cancel"}, component="button"),
        "BSH.Common.Status.Program.All.Count.Started": Override({"state_class": "total_increasing"}),
    }
    assert overrides.expand_name == (("BSH.Common.Setting.Favorite.", 3), ("BSH.Common.Status.Program.", 4))
    assert overrides.skip == ("Dishcare.Dishwasher.Program.", "BSH.Common.Root.")
    assert overrides.disabled == ("Refrigeration.Common.Status.",)
    assert overrides.disabled_exceptions == ("Refrigeration.Common.Status.Door.",)
    template = "{% if 'ipV4' in value_json %}{{ value_json['ipV4'].ipAddress }}{% endif %}"
    assert overrides.additional == (
        AdditionalFeature("ipV4", {"entity_category": "diagnostic"}, template=template),
        AdditionalFeature("rssi", {"entity_category": "diagnostic", "unit_of_measurement": "dBm"}),
    )
    # The rules, as the comments above say them.
    assert overrides.is_skipped("Dishcare.Dishwasher.Program.Eco50")
    assert overrides.is_skipped("BSH.Common.Root.StatusList")
    assert not overrides.is_skipped("BSH.Common.Root.ActiveProgram")
    assert not overrides.is_skipped("BSH.Common.Root.SelectedProgram")
    assert overrides.is_disabled("Refrigeration.Common.Status.Light")
    assert not overrides.is_disabled("Refrigeration.Common.Status.Door.Freezer")
    assert not overrides.is_disabled("BSH.Common.Status.DoorState")
    assert overrides.expansion("BSH.Common.Status.Program.All.Count.Started") == 4
    assert overrides.expansion("BSH.Common.Status.DoorState") is None


def test_the_example_users_copy_reads_without_a_problem():
    overrides, problems = load(ROOT / "config" / "discovery.yaml.example")
    assert problems == []
    assert overrides.magic and overrides.skip and overrides.additional and overrides.expand_name


def test_an_older_payload_values_nesting_reads_the_same():
    overrides, problems = parsed(
        "MAGIC_OVERRIDES:\n"
        "  BSH.Common.Status.DoorState:\n"
        "    payload_values:\n"
        "      icon: mdi:door\n"
        "      device_class: door\n"
        "    component_type: binary_sensor\n"
    )
    assert problems == []
    assert overrides.magic == {
        "BSH.Common.Status.DoorState": Override({"icon": "mdi:door", "device_class": "door"}, component="binary_sensor")
    }


def test_an_empty_file_and_empty_keys_ask_for_nothing():
    assert parsed("") == (DiscoveryOverrides(source="discovery.yaml"), [])
    text = "# all commented out\nSKIP_ENTITIES:\nMAGIC_OVERRIDES:\n  BSH.Common.Status.DoorState:\n"
    overrides, problems = parsed(text)
    assert problems == [] and overrides == DiscoveryOverrides(source="discovery.yaml")


def test_a_missing_file_is_a_warning_only_when_the_user_named_it(tmp_path):
    path = tmp_path / "discovery.yaml"
    overrides, problems = load(path, explicit=True)
    assert problems == [f"{path}: no such file; {FALLBACK}"]
    assert overrides == DiscoveryOverrides(source=str(path))
    assert load(path, explicit=False) == (DiscoveryOverrides(source=str(path)), [])


def test_an_unreadable_file_is_one_line(tmp_path):
    _overrides, problems = load(tmp_path)  # a directory
    assert len(problems) == 1 and problems[0].startswith(f"{tmp_path}: cannot be read (")
    (tmp_path / "latin1.yaml").write_bytes(b"MAGIC_OVERRIDES:\n  Caf\xe9: {}\n")
    assert load(tmp_path / "latin1.yaml")[1] == [f"{tmp_path / 'latin1.yaml'}: not UTF-8 text (byte 22); {FALLBACK}"]


def test_invalid_yaml_is_one_line_with_file_line_and_column():
    text = "MAGIC_OVERRIDES:\n  BSH.Common.Status.DoorState:\n    icon: [mdi:door\nSKIP_ENTITIES:\n- X.\n"
    overrides, problems = parsed(text)
    assert overrides == DiscoveryOverrides(source="discovery.yaml")
    assert len(problems) == 1
    (problem,) = problems
    assert "\n" not in problem
    assert problem.startswith("discovery.yaml, line 4, column 14: not valid YAML (")
    assert problem.endswith(f"); {FALLBACK}")
    tabs = parsed("MAGIC_OVERRIDES:\n\tBSH.Common.Status.DoorState: {}\n")[1]
    assert len(tabs) == 1 and tabs[0].startswith("discovery.yaml, line 2, column 1: not valid YAML (")


def test_a_file_that_is_no_mapping_is_one_line():
    assert parsed("- BSH.Common.Status.DoorState\n")[1] == [
        "discovery.yaml: expected a mapping of HA_DISCOVERY_PREFIX, MAGIC_OVERRIDES, EXPAND_NAME, SKIP_ENTITIES, "
        f"DISABLED_ENTITIES, DISABLED_EXCEPTIONS, ADDITIONAL_FEATURES, found a list; {FALLBACK}"
    ]


def test_an_unknown_top_level_key_is_named_with_a_close_match_and_the_rest_still_applies():
    overrides, problems = parsed(
        "MAGIC_OVERIDES:\n  BSH.Common.Status.DoorState: {icon: mdi:door}\n"
        "skip_entities:\n- X.\n"
        "COLOURS: {}\n"
        "EXPAND_NAME:\n  BSH.Common.Status.Program.: 4\n"
    )
    keys = "the keys are HA_DISCOVERY_PREFIX, MAGIC_OVERRIDES, EXPAND_NAME, SKIP_ENTITIES, DISABLED_ENTITIES, " \
           "DISABLED_EXCEPTIONS, ADDITIONAL_FEATURES"  # fmt: skip
    assert problems == [
        f"discovery.yaml: unknown key 'MAGIC_OVERIDES' ignored (did you mean MAGIC_OVERRIDES? {keys})",
        f"discovery.yaml: unknown key 'skip_entities' ignored (did you mean SKIP_ENTITIES? {keys})",
        f"discovery.yaml: unknown key 'COLOURS' ignored ({keys})",
    ]
    assert overrides.expand_name == (("BSH.Common.Status.Program.", 4),)
    assert overrides.magic == {} and overrides.skip == ()


def test_a_malformed_value_names_key_and_value_and_only_that_entry_is_left_out():
    overrides, problems = parsed(
        "HA_DISCOVERY_PREFIX: home/#\n"
        "EXPAND_NAME:\n  BSH.Common.Setting.Favorite.: three\n  BSH.Common.Status.Program.: 4\n  Cooking.: true\n"
        "SKIP_ENTITIES:\n- Dishcare.Dishwasher.Program.\n- 42\n- ''\n"
        "DISABLED_ENTITIES: Refrigeration.Common.Status.\n"
        "DISABLED_EXCEPTIONS: {Door: 1}\n"
        "MAGIC_OVERRIDES:\n"
        "  BSH.Common.Status.DoorState: mdi:door\n"
        "  BSH.Common.Setting.PowerState: {icon: mdi:power, component_type: 7}\n"
        "ADDITIONAL_FEATURES:\n- name: rssi\n- ipV4\n- {entity_category: diagnostic}\n"
    )
    assert problems == [
        "discovery.yaml: HA_DISCOVERY_PREFIX: 'home/#' is not a topic prefix (text without + or #); ignored",
        "discovery.yaml: MAGIC_OVERRIDES: BSH.Common.Status.DoorState: 'mdi:door' is not a mapping of discovery keys "
        "to values; ignored",
        "discovery.yaml: MAGIC_OVERRIDES: BSH.Common.Setting.PowerState: component_type: 7 is not a Home Assistant "
        "component (sensor, switch, …); ignored",
        "discovery.yaml: EXPAND_NAME: BSH.Common.Setting.Favorite.: 'three' is not an index (a whole number: the "
        "first dotted part kept); ignored",
        "discovery.yaml: EXPAND_NAME: Cooking.: True is not an index (a whole number: the first dotted part kept); "
        "ignored",
        "discovery.yaml: SKIP_ENTITIES: 42 is not a name prefix (an empty one would match every feature); ignored",
        "discovery.yaml: SKIP_ENTITIES: '' is not a name prefix (an empty one would match every feature); ignored",
        "discovery.yaml: DISABLED_EXCEPTIONS: {'Door': 1} is not a list of name prefixes; ignored",
        "discovery.yaml: ADDITIONAL_FEATURES: 'ipV4' is not an entry with a name (a handshake info key such as "
        "ipV4); ignored",
        "discovery.yaml: ADDITIONAL_FEATURES: {'entity_category': 'diagnostic'} is not an entry with a name (a "
        "handshake info key such as ipV4); ignored",
    ]
    # Everything else still applies.
    assert overrides.prefix is None
    assert overrides.expand_name == (("BSH.Common.Status.Program.", 4),)
    assert overrides.skip == ("Dishcare.Dishwasher.Program.",)
    assert overrides.disabled == ("Refrigeration.Common.Status.",)  # one prefix without the list dash
    assert overrides.magic == {"BSH.Common.Setting.PowerState": Override({"icon": "mdi:power"})}
    assert overrides.additional == (AdditionalFeature("rssi"),)


def test_keys_that_would_break_the_entity_are_refused_by_name():
    overrides, problems = parsed(
        "MAGIC_OVERRIDES:\n"
        "  BSH.Common.Status.DoorState:\n"
        "    icon: mdi:door\n"
        "    unique_id: door\n"
        "    stat_t: somewhere/else\n"
        "    command_topic: x/set\n"
        "    availability: []\n"
        "    device: {name: Kitchen}\n"
        "    object_id: door\n"
        "    default_entity_id: sensor.door\n"
        "ADDITIONAL_FEATURES:\n- name: ipV4\n  state_topic: homeconnect/dishwasher/state\n"
    )
    why = "the entity would lose its link to the bridge or its history in Home Assistant"
    where = "discovery.yaml: MAGIC_OVERRIDES: BSH.Common.Status.DoorState"
    assert problems == [
        f"{where}: unique_id refused: hcpy sets unique_id itself and {why}",
        f"{where}: stat_t refused: hcpy sets state_topic itself and {why}",
        f"{where}: command_topic refused: hcpy sets command_topic itself and {why}",
        f"{where}: availability refused: hcpy sets availability itself and {why}",
        f"{where}: device refused: hcpy sets device itself and {why}",
        f"{where}: object_id refused: hcpy sets object_id itself and {why}",
        f"{where}: default_entity_id refused: hcpy sets default_entity_id itself and {why}",
        f"discovery.yaml: ADDITIONAL_FEATURES: ipV4: state_topic refused: hcpy sets state_topic itself and {why}",
    ]
    assert overrides.magic["BSH.Common.Status.DoorState"] == Override({"icon": "mdi:door"})
    assert overrides.additional == (AdditionalFeature("ipV4"),)


def test_a_misspelt_discovery_key_is_named_and_left_out_so_home_assistant_keeps_the_entity():
    overrides, problems = parsed(
        "MAGIC_OVERRIDES:\n  BSH.Common.Option.ProgramProgress:\n"
        "    unit_of_measurment: '%'\n    ic: mdi:progress-clock\n"
    )
    assert problems == [
        "discovery.yaml: MAGIC_OVERRIDES: BSH.Common.Option.ProgramProgress: 'unit_of_measurment' is no discovery "
        "key hcpy knows (did you mean unit_of_measurement?); ignored (Home Assistant would refuse the entity)"
    ]
    # Home Assistant's abbreviations are read as the keys they stand for.
    assert overrides.magic["BSH.Common.Option.ProgramProgress"] == Override({"icon": "mdi:progress-clock"})


# -- applied to real profiles -------------------------------------------------------------------

INFO = {"brand": "SIEMENS", "vib": "SN658X06TE", "ipV4": {"ipAddress": "192.0.2.7"}, "rssi": -61, "ssid": "home"}


class Published:
    """The topics discovery reads, as the bridge's Naming gives them with the default options."""

    def __init__(self, topics: Topics, info_keys=("ipV4", "ipV6", "rssi", "euiAddress", "ssid", "program_end")):
        self.state_topic = lambda f: topics.state(f.feature_id)
        self.event_topic = lambda f: topics.event(f.feature_id)
        self.available_topic = lambda f: topics.available(f.feature_id)
        self.info_topic = lambda key: topics.state(key.lower()) if key in info_keys else None


def appliance(stem: str, name: str = "dishwasher") -> tuple[Topics, ApplianceState]:
    return Topics("homeconnect/", name), ApplianceState(parse_profile(*profile_files(stem)), name)


def discovery(topics: Topics, state: ApplianceState, text: str = "", published=None) -> Discovery:
    overrides, problems = parsed(text)
    assert problems == []
    options = DiscoveryOptions(overrides=overrides)
    return Discovery(topics, published or Published(topics), options, profile=state.profile)


def configs(topics: Topics, state: ApplianceState, text: str = "", info=INFO, published=None) -> dict[str, dict]:
    messages = discovery(topics, state, text, published).messages(state, info)
    found = {m.topic: json.loads(m.payload) for m in messages}
    assert len(found) == len(messages)
    return found


def config(found: dict[str, dict], component: str, unique_id: str) -> dict:
    return found[f"homeassistant/{component}/hcpy/{unique_id}/config"]


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.parametrize("stem", [DISHWASHER, WASHER, COFFEE])
def test_naming_overrides_change_payloads_never_topics_or_unique_ids(stem):
    topics, state = appliance(stem)
    plain = configs(topics, state)
    features = state.profile.features.values()
    names = "\n".join(f"  {f.name}: {{name: 'DEVICE_NAME {f.uid}', icon: mdi:star}}" for f in features)
    expanded = "\n".join(f"  {f.name}: 1" for f in features)
    named = configs(topics, state, f"MAGIC_OVERRIDES:\n{names}\nEXPAND_NAME:\n{expanded}\n")
    assert named.keys() == plain.keys()
    for topic, payload in named.items():
        assert payload["unique_id"] == plain[topic]["unique_id"]
        assert payload["default_entity_id"] == plain[topic]["default_entity_id"]
        assert {k: v for k, v in payload.items() if k not in ("name", "icon")} == {
            k: v for k, v in plain[topic].items() if k not in ("name", "icon")
        }
    door = config(named, "sensor", "dishwasher_bsh_common_status_doorstate")
    assert (door["name"], door["icon"]) == ("dishwasher 527", "mdi:star")  # DEVICE_NAME is the appliance's name


def test_icon_unit_and_state_class_are_merged_over_the_feature_entity():
    topics, state = appliance(DISHWASHER)
    found = configs(topics, state, EXAMPLE)
    door = config(found, "sensor", "dishwasher_bsh_common_status_doorstate")
    assert door["icon"] == "mdi:door"
    assert door["device_class"] == "enum" and door["options"] == ["Open", "Closed"]  # hcpy's own stay
    progress = config(found, "sensor", "dishwasher_bsh_common_option_programprogress")
    assert progress["unit_of_measurement"] == "%"
    abort = config(found, "button", "dishwasher_bsh_common_command_abortprogram")  # a button already
    assert abort["icon"] == "mdi:cancel" and "component_type" not in abort


def test_expand_name_keeps_the_parts_from_its_index_on():
    topics, state = appliance(DISHWASHER)
    text = "EXPAND_NAME:\n  Dishcare.Dishwasher.Setting.: 1\n  Dishcare.: 3\n  BSH.Common.Option.Remaining: 99\n"
    found = configs(topics, state, text)
    assert config(found, "select", "dishwasher_dishcare_dishwasher_setting_rinseaid")["name"] == (
        "Dishwasher setting rinse aid"  # the first prefix that matches wins, as in hcpy2-0
    )
    # An index past the last part keeps hcpy's own name.
    assert config(found, "sensor", "dishwasher_bsh_common_option_remainingprogramtime")["name"] == (
        "Remaining program time"
    )
    assert config(found, "sensor", "dishwasher_bsh_common_status_doorstate")["name"] == "Door state"


def test_skipped_entities_are_absent_and_removed_when_retained_but_program_roots_stay():
    topics, state = appliance(DISHWASHER)
    before = configs(topics, state)
    text = "SKIP_ENTITIES:\n- Dishcare.Dishwasher.Setting.SoundLevel\n- BSH.Common.Root.\n- ipV\n"
    found = discovery(topics, state, text)
    current = found.messages(state, INFO)
    after = {m.topic for m in current}
    skipped = [
        "homeassistant/select/hcpy/dishwasher_dishcare_dishwasher_setting_soundlevelsignal/config",
        "homeassistant/select/hcpy/dishwasher_dishcare_dishwasher_setting_soundlevelkey/config",
        "homeassistant/sensor/hcpy/dishwasher_ipv4/config",
    ]
    assert all(topic in before for topic in skipped)
    assert not any(topic in after for topic in skipped)
    assert "homeassistant/select/hcpy/dishwasher_bsh_common_root_activeprogram/config" in after
    assert "homeassistant/select/hcpy/dishwasher_bsh_common_root_selectedprogram/config" in after
    assert "homeassistant/button/hcpy/dishwasher_start_selected_program/config" in after
    assert after == set(before) - set(skipped)
    removals = found.removals(state, current, before)
    assert sorted(removals, key=lambda m: m.topic) == sorted(Outgoing(t, "", retain=True) for t in skipped)


def test_disabled_entities_and_their_exceptions():
    topics, state = appliance(DISHWASHER)
    text = (
        "DISABLED_ENTITIES:\n- Dishcare.Dishwasher.Event.\n- BSH.Common.Command.\n"
        "DISABLED_EXCEPTIONS:\n- SaltLack\n- RinseAid\n"
        "MAGIC_OVERRIDES:\n  BSH.Common.Command.DeactivateWiFi: {enabled_by_default: true}\n"
    )
    found = configs(topics, state, text)
    assert config(found, "event", "dishwasher_dishcare_dishwasher_event_internalerror")["enabled_by_default"] is False
    assert config(found, "button", "dishwasher_bsh_common_command_abortprogram")["enabled_by_default"] is False
    for enabled in ("saltlack", "rinseaidlack", "rinseaidnearlyempty"):
        assert "enabled_by_default" not in config(found, "event", f"dishwasher_dishcare_dishwasher_event_{enabled}")
    # An override beats both the file's and hcpy's own disabling.
    assert config(found, "button", "dishwasher_bsh_common_command_deactivatewifi")["enabled_by_default"] is True
    assert "enabled_by_default" not in config(found, "sensor", "dishwasher_bsh_common_status_doorstate")


def test_a_component_type_moves_the_entity_and_the_old_config_is_removed():
    topics, state = appliance(DISHWASHER)
    before = configs(topics, state)
    text = (
        "MAGIC_OVERRIDES:\n"
        "  BSH.Common.Status.DoorState: {component_type: binary_sensor, device_class: door}\n"
        "  Dishcare.Dishwasher.Setting.ExtraDry: {component_type: button, icon: mdi:weather-sunny}\n"
        "  BSH.Common.Setting.PowerState: {component_type: select}\n"
        "  Dishcare.Dishwasher.Event.SaltLack: {component_type: sensor}\n"
        "  BSH.Common.Status.BackendConnected: {component_type: sensor}\n"
    )
    found = discovery(topics, state, text)
    current = found.messages(state, INFO)
    after = {m.topic: json.loads(m.payload) for m in current}

    door = config(after, "binary_sensor", "dishwasher_bsh_common_status_doorstate")
    assert (door["payload_on"], door["payload_off"], door["device_class"]) == ("Open", "Closed", "door")
    assert door["state_topic"] == "homeconnect/dishwasher/state/bsh_common_status_doorstate"
    assert door["unique_id"] == "dishwasher_bsh_common_status_doorstate"
    assert door["default_entity_id"] == "binary_sensor.dishwasher_bsh_common_status_doorstate"
    assert "options" not in door

    dry = config(after, "button", "dishwasher_dishcare_dishwasher_setting_extradry")
    assert dry["icon"] == "mdi:weather-sunny"
    assert build_set(state, screen_payload(dry["payload_press"])).data == [{"uid": 4356, "value": True}]

    power = config(after, "select", "dishwasher_bsh_common_setting_powerstate")
    assert power["options"] == ["Off", "On"]
    assert power["command_template"] == '{"uid":539,"value":"{{ value }}"}'

    salt = config(after, "sensor", "dishwasher_dishcare_dishwasher_event_saltlack")
    assert salt["state_topic"] == "homeconnect/dishwasher/event/dishcare_dishwasher_event_saltlack"
    assert salt["value_template"] == "{{ value_json.event_type }}"

    backend = config(after, "sensor", "dishwasher_bsh_common_status_backendconnected")
    assert "payload_on" not in backend

    moved = {
        "homeassistant/sensor/hcpy/dishwasher_bsh_common_status_doorstate/config",
        "homeassistant/switch/hcpy/dishwasher_dishcare_dishwasher_setting_extradry/config",
        "homeassistant/switch/hcpy/dishwasher_bsh_common_setting_powerstate/config",
        "homeassistant/event/hcpy/dishwasher_dishcare_dishwasher_event_saltlack/config",
        "homeassistant/binary_sensor/hcpy/dishwasher_bsh_common_status_backendconnected/config",
    }
    assert moved <= before.keys() and not moved & after.keys()
    assert len(after) == len(before)
    assert {m.topic for m in found.removals(state, current, before)} == moved


def test_a_component_hcpy_cannot_build_is_a_warning_and_hcpy_keeps_its_own(caplog):
    topics, state = appliance(DISHWASHER)
    text = (
        "MAGIC_OVERRIDES:\n"
        "  BSH.Common.Status.DoorState: {component_type: switch, icon: mdi:door}\n"  # read-only
        "  Dishcare.Dishwasher.Setting.RinseAid: {component_type: light}\n"
        "  BSH.Common.Status.OperationState: {component_type: binary_sensor}\n"  # many states
        "  BSH.Common.Root.ActiveProgram: {component_type: sensor}\n"
        "  Dishcare.Dishwasher.Program.Eco50: {component_type: button}\n"  # a program: no entity
        "ADDITIONAL_FEATURES:\n- name: ipV4\n  component_type: switch\n"
    )
    found = discovery(topics, state, text)
    plain = configs(topics, state)
    with caplog.at_level(logging.WARNING, logger="hcpy"):
        first = {m.topic: json.loads(m.payload) for m in found.messages(state, INFO)}
        again = found.messages(state, INFO)  # discovery runs again at every change
    assert first.keys() == plain.keys() and len(again) == len(first)
    assert config(first, "sensor", "dishwasher_bsh_common_status_doorstate")["icon"] == "mdi:door"  # the rest applies
    assert warnings(caplog) == [
        "dishwasher: discovery.yaml: ADDITIONAL_FEATURES: ipV4: component_type switch: hcpy cannot build a switch "
        "for it; it stays a sensor",
        "dishwasher: discovery.yaml: MAGIC_OVERRIDES: BSH.Common.Root.ActiveProgram: component_type sensor: hcpy "
        "cannot build a sensor for it; it stays a select",
        "dishwasher: discovery.yaml: MAGIC_OVERRIDES: BSH.Common.Status.DoorState: component_type switch: hcpy "
        "cannot build a switch for it; it stays a sensor",
        "dishwasher: discovery.yaml: MAGIC_OVERRIDES: BSH.Common.Status.OperationState: component_type "
        "binary_sensor: hcpy cannot build a binary_sensor for it; it stays a sensor",
        "dishwasher: discovery.yaml: MAGIC_OVERRIDES: Dishcare.Dishwasher.Setting.RinseAid: component_type light: "
        "hcpy cannot build a light for it; it stays a select",
        "dishwasher: discovery.yaml: MAGIC_OVERRIDES: Dishcare.Dishwasher.Program.Eco50: component_type button: "
        "hcpy cannot build a button for it; it gets no entity",
    ]


def test_the_main_entity_of_a_feature_takes_its_override_the_start_button_keeps_its_own():
    topics, state = appliance(DISHWASHER)
    found = configs(topics, state, "MAGIC_OVERRIDES:\n  BSH.Common.Root.ActiveProgram: {icon: mdi:dishwasher}\n")
    active = config(found, "select", "dishwasher_bsh_common_root_activeprogram")
    start = config(found, "button", "dishwasher_start_selected_program")
    assert active["icon"] == "mdi:dishwasher" and "icon" not in start


def test_additional_features_read_hcpys_own_info_topics(caplog):
    topics, state = appliance(DISHWASHER)
    with caplog.at_level(logging.WARNING, logger="hcpy"):
        found = configs(
            topics,
            state,
            EXAMPLE + "  - name: ssid\n    icon: mdi:wifi\n  - name: euiAddress\n  - name: interfaceID\n",
            published=Published(topics, info_keys=("ipV4", "rssi", "ssid", "euiAddress")),
            info={**INFO, "interfaceID": 1},
        )
    ip = config(found, "sensor", "dishwasher_ipv4")
    assert ip["state_topic"] == "homeconnect/dishwasher/state/ipv4"
    assert ip["value_template"] == "{{ value_json.ipAddress }}"  # hcpy's, for the key's own topic
    assert ip["entity_category"] == "diagnostic" and ip["name"] == "IPv4 address"
    # Listed, the rssi sensor hcpy2-0 users had is back beside WiFiSignalStrength.
    rssi = config(found, "sensor", "dishwasher_rssi")
    assert (rssi["state_topic"], rssi["unit_of_measurement"]) == ("homeconnect/dishwasher/state/rssi", "dBm")
    assert "homeassistant/sensor/hcpy/dishwasher_bsh_common_status_wifisignalstrength/config" in found
    ssid = config(found, "sensor", "dishwasher_ssid")
    assert ssid["state_topic"] == "homeconnect/dishwasher/state/ssid"
    assert (ssid["icon"], ssid["name"]) == ("mdi:wifi", "ssid")
    assert not any("euiaddress" in t or "interfaceid" in t for t in found)
    assert warnings(caplog) == [
        "discovery.yaml: MAGIC_OVERRIDES: BSH.Common.Status.Program.All.Count.Started names no feature of any "
        "configured appliance; that override is not used",
        "dishwasher: discovery.yaml: ADDITIONAL_FEATURES: euiAddress: this appliance reports no euiAddress in its "
        "handshake, so hcpy cannot serve it; no entity",
        "dishwasher: discovery.yaml: ADDITIONAL_FEATURES: interfaceID: hcpy publishes no topic of its own for this "
        "appliance's interfaceID (publish filters, JSON only), so hcpy cannot serve it; no entity",
    ]


def test_an_override_naming_no_appliances_feature_is_said_once_across_appliances(caplog):
    overrides, problems = parsed(
        "MAGIC_OVERRIDES:\n"
        "  BSH.Common.Status.DoorStat: {icon: mdi:door}\n"  # a typo
        "  Dishcare.Dishwasher.Setting.RinseAid: {icon: mdi:water}\n"  # the dishwasher's only
        "  LaundryCare.Washer.Option.Temperature: {icon: mdi:thermometer}\n"  # the washer's only
        "  rssi: {icon: mdi:wifi}\n"  # an info key
        "  Cooking.Oven.Status.CurrentCavityTemperature: {icon: mdi:thermometer}\n"
    )
    assert problems == []
    options = DiscoveryOptions(overrides=overrides)
    appliances = [appliance(DISHWASHER), appliance(WASHER, "washer")]
    discoveries = [Discovery(t, Published(t), options, profile=s.profile) for t, s in appliances]
    with caplog.at_level(logging.WARNING, logger="hcpy"):
        for (_topics, state), found in zip(appliances, discoveries, strict=True):
            found.messages(state, INFO)
            found.messages(state, INFO)
    assert warnings(caplog) == [
        "discovery.yaml: MAGIC_OVERRIDES: BSH.Common.Status.DoorStat names no feature of any configured appliance "
        "(did you mean BSH.Common.Status.DoorState?); that override is not used",
        "discovery.yaml: MAGIC_OVERRIDES: Cooking.Oven.Status.CurrentCavityTemperature names no feature of any "
        "configured appliance; that override is not used",
    ]


# -- hc2mqtt, end to end ----------------------------------------------------------------------------

PSK = os.urandom(32)

DISCOVERY_YAML = """\
HA_DISCOVERY_PREFIX: hass
MAGIC_OVERRIDES:
  BSH.Common.Setting.PowerState:
    icon: mdi:power
  BSH.Common.Status.DoorState:
    component_type: binary_sensor
    device_class: door
  BSH.Common.Status.DoorStat:
    icon: mdi:door
EXPAND_NAME:
  Dishcare.Dishwasher.Setting.: 1
SKIP_ENTITIES:
- Dishcare.Dishwasher.Setting.SoundLevel
DISABLED_ENTITIES:
- Dishcare.Dishwasher.Event.
DISABLED_EXCEPTIONS:
- SaltLack
"""


DOOR = "dishwasher_bsh_common_status_doorstate"
POWER = "dishwasher_bsh_common_setting_powerstate"
SALT = "dishwasher_dishcare_dishwasher_event_saltlack"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def dishwasher():
    profile = parse_profile(*profile_files(DISHWASHER))
    with Simulator(SimulatedAppliance(profile), PSK) as sim:
        yield profile, sim


def test_hc2mqtt_applies_an_hcpy20_discovery_yaml(tmp_path, broker, subscriber, dishwasher):
    profile, sim = dishwasher
    entry = entry_from_profile(profile, key=b64(PSK), host="127.0.0.1", port=sim.port, name="dishwasher")
    devices = tmp_path / "devices.json"
    devices.write_text(json.dumps([entry_to_json(entry)], indent=4))
    (tmp_path / "discovery.yaml").write_text(DISCOVERY_YAML)
    config = tmp_path / "config.ini"
    # hcpy2-0's config.ini keys; no ha_discovery_prefix: the file's applies.
    config.write_text(
        f'devices_file = "{devices}"\n'
        'mqtt_host = "127.0.0.1"\n'
        f"mqtt_port = {broker.port}\n"
        'mqtt_prefix = "homeconnect/"\n'
        "ha_discovery = True\n"
        f'discovery_file = "{tmp_path / "discovery.yaml"}"\n'
        "events_as_sensors = False\n"
    )
    old_door = "hass/sensor/hcpy/dishwasher_bsh_common_status_doorstate/config"
    skipped = "hass/select/hcpy/dishwasher_dishcare_dishwasher_setting_soundlevelsignal/config"
    # What hcpy published before the file existed, retained.
    for topic in (old_door, skipped):
        subscriber.client.publish(topic, json.dumps({"unique_id": "x"}), qos=1, retain=True).wait_for_publish(5)
    mark = subscriber.mark()
    daemon = subprocess.Popen(
        [sys.executable, "hc2mqtt.py", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        door = json.loads(subscriber.wait(f"hass/binary_sensor/hcpy/{DOOR}/config", timeout=20, since=mark))
        assert (door["unique_id"], door["device_class"], door["payload_on"]) == (
            "dishwasher_bsh_common_status_doorstate",
            "door",
            "Open",
        )
        subscriber.wait(old_door, "", since=mark)  # removed from the broker
        subscriber.wait(skipped, "", since=mark)
        power = json.loads(subscriber.wait(f"hass/switch/hcpy/{POWER}/config", since=mark))
        assert power["icon"] == "mdi:power"
        error = json.loads(
            subscriber.wait("hass/event/hcpy/dishwasher_dishcare_dishwasher_event_internalerror/config", since=mark)
        )
        assert error["enabled_by_default"] is False
        salt = json.loads(subscriber.wait(f"hass/event/hcpy/{SALT}/config", since=mark))
        assert "enabled_by_default" not in salt
        rinse = json.loads(
            subscriber.wait("hass/select/hcpy/dishwasher_dishcare_dishwasher_setting_rinseaid/config", since=mark)
        )
        assert rinse["name"] == "Dishwasher setting rinse aid"
        # The entity reads what the bridge publishes.
        sim.set_value(527, 1)
        assert subscriber.wait(door["state_topic"], "Closed", since=mark) == door["payload_off"]

        # What Home Assistant finds when it (re)starts: a new client gets the retained configs.
        late = Subscriber(broker.port, client_id="late-subscriber")
        try:
            late.sync()  # the broker sent every retained message at the subscription, before its marker
            retained = {t for t, p, r in late.messages if r and p}
        finally:
            late.close()
        assert "hass/binary_sensor/hcpy/dishwasher_bsh_common_status_doorstate/config" in retained
        assert old_door not in retained and skipped not in retained
        assert not [t for t in retained if t.startswith("homeassistant/")]  # the file's prefix, not the default
        # Skipped: no entity; the values are still published, as with hcpy2-0.
        assert not [t for t in retained if t.startswith("hass/") and "soundlevel" in t]
        assert "homeconnect/dishwasher/state/dishcare_dishwasher_setting_soundlevelsignal" in retained

        daemon.send_signal(signal.SIGTERM)
        output, _ = daemon.communicate(timeout=10)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
    assert daemon.returncode == 0, output
    unknown = [line for line in output.splitlines() if "BSH.Common.Status.DoorStat " in line]
    assert len(unknown) == 1, output
    assert unknown[0].endswith(
        "MAGIC_OVERRIDES: BSH.Common.Status.DoorStat names no feature of any configured appliance "
        "(did you mean BSH.Common.Status.DoorState?); that override is not used"
    )
    assert "WARNING" in unknown[0]
    assert "Traceback" not in output
