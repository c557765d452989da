"""Home Assistant discovery payloads, built from the real fixture profiles.

Every control is checked end to end: its command payload, rendered the way
Home Assistant renders it, must be accepted by hcpy.commands for that appliance.
"""

from __future__ import annotations

import json
import re

import pytest
from support import COFFEE, DISHWASHER, WASHER, profile_files

from hcpy.appliance.commands import CommandError, build_set
from hcpy.appliance.controls import is_control, startable, usable
from hcpy.appliance.model import Feature, Kind, Program
from hcpy.appliance.profile_xml import parse_profile
from hcpy.appliance.programs import build_program
from hcpy.appliance.state import ApplianceState
from hcpy.homeassistant.discovery import Discovery, DiscoveryOptions, config_topic_filter, label
from hcpy.mqtt.options import PublishOptions
from hcpy.mqtt.outgoing import Outgoing
from hcpy.mqtt.publishing import Publisher
from hcpy.mqtt.screening import screen_payload
from hcpy.mqtt.topics import Topics
from hcpy.protocol.resources import RO_ACTIVE_PROGRAM as ACTIVE_PROGRAM
from hcpy.protocol.resources import RO_SELECTED_PROGRAM as SELECTED_PROGRAM
from hcpy.protocol.resources import RO_VALUES as VALUES

# Home Assistant's discovery topic pattern (homeassistant/components/mqtt/discovery.py).
HA_TOPIC = re.compile(r"^homeassistant/(?P<component>\w+)/(?:(?P<node>[a-zA-Z0-9_-]+)/)?(?P<object>[a-zA-Z0-9_-]+)/config$")
# A valid entity id (homeassistant.core.valid_entity_id).
ENTITY_ID = re.compile(r"^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$")
VALUE_TEMPLATE = re.compile(r'^\{% set labels = (?P<map>\{.*\}) %\}\{\{ labels\.get\(value, "None"\) \}\}$')

INFO = {
    "brand": "SIEMENS",
    "deviceType": "Dishwasher",
    "vib": "SN658X06TE",
    "mac": "C8-D7-78-AA-BB-0F",
    "swVersion": "3.2.1.0",
    "hwVersion": "2.0.0.3",
    "serialNumber": "012345678901234567",
    "haVersion": "1.4",
}


def appliance(stem: str, name: str = "dishwasher") -> tuple[Topics, ApplianceState]:
    return Topics("homeconnect/", name), ApplianceState(parse_profile(*profile_files(stem)), name)


class Published:
    """The topics discovery reads, as a test decides them (the bridge's are `Naming`'s)."""

    def __init__(self, topics: Topics, state=None, event=None, info=None, available=None):
        self.state_topic = state or (lambda f: topics.state(f.feature_id))
        self.event_topic = event or (lambda f: topics.event(f.feature_id))
        self.info_topic = info or (lambda key: None)
        self.available_topic = available or (lambda f: topics.available(f.feature_id))


def discover(topics: Topics, state: ApplianceState, info: dict | None = None, **options) -> dict[str, dict]:
    discovery = Discovery(topics, Published(topics), DiscoveryOptions(**options))
    messages = discovery.messages(state, info if info is not None else INFO)
    assert all(isinstance(m, Outgoing) and m.retain for m in messages)
    configs = {m.topic: json.loads(m.payload) for m in messages}
    assert len(configs) == len(messages), "two entities share a config topic"
    return configs


def config(configs: dict[str, dict], component: str, object_id: str) -> dict:
    return configs[f"homeassistant/{component}/hcpy/{object_id}/config"]


MINUTES = "{{ (value | int) * 60 }}"


def render(template: str, value: object) -> str:
    """What Home Assistant's command_template produces for `value` (a time span's in minutes)."""
    if MINUTES in template:
        return template.replace(MINUTES, str(int(value) * 60))
    assert "{{ value }}" in template
    return template.replace("{{ value }}", str(value))


def set_request(state: ApplianceState, payload: str):
    return build_set(state, screen_payload(payload))


# -- identity, topics, availability, device ---------------------------------------------


def test_dishwasher_door_state_is_an_enum_sensor_with_hcpy2_0_identity():
    topics, state = appliance(DISHWASHER)
    door = config(discover(topics, state), "sensor", "dishwasher_bsh_common_status_doorstate")
    assert door["unique_id"] == "dishwasher_bsh_common_status_doorstate"
    assert door["default_entity_id"] == "sensor.dishwasher_bsh_common_status_doorstate"
    assert door["state_topic"] == "homeconnect/dishwasher/state/bsh_common_status_doorstate"
    assert door["device_class"] == "enum"
    assert door["options"] == ["Open", "Closed"]
    assert door["name"] == "Door state"
    assert "command_topic" not in door


@pytest.mark.parametrize("stem", [DISHWASHER, WASHER, COFFEE])
def test_every_config_is_retained_json_on_a_topic_home_assistant_matches(stem):
    topics, state = appliance(stem)
    configs = discover(topics, state)
    assert len(configs) > 40
    unique_ids = set()
    for topic, payload in configs.items():
        match = HA_TOPIC.match(topic)
        assert match, topic
        assert match["node"] == "hcpy"
        assert payload["unique_id"] == match["object"]
        assert payload["unique_id"].startswith("dishwasher_")
        assert payload["default_entity_id"] == f"{match['component']}.{payload['unique_id']}"
        assert ENTITY_ID.match(payload["default_entity_id"])
        assert payload["availability_mode"] == "all"
        # The bridge's and the appliance's; a control's own "works now" besides.
        assert payload["availability"][:2] == [{"topic": "homeconnect/LWT"}, {"topic": "homeconnect/dishwasher/LWT"}]
        assert [a["topic"].rsplit("/", 2)[-2] for a in payload["availability"][2:]] in ([], ["available"])
        assert payload["device"]["identifiers"] == ["dishwasher"]
        assert payload["name"]
        unique_ids.add(payload["unique_id"])
    assert len(unique_ids) == len(configs)


def test_device_block_comes_from_the_handshake_info():
    topics, state = appliance(DISHWASHER)
    device = next(iter(discover(topics, state).values()))["device"]
    assert device == {
        "identifiers": ["dishwasher"],
        "name": "dishwasher",
        "manufacturer": "Siemens",
        "model": "Dishwasher",
        "model_id": "SN658X06TE",
        "sw_version": "3.2.1.0",
        "hw_version": "2.0.0.3",
        "serial_number": "012345678901234567",
        "connections": [["mac", "c8:d7:78:aa:bb:0f"]],
    }


def test_device_block_without_info_falls_back_to_the_profile_description():
    topics, state = appliance(COFFEE, "coffee")
    device = next(iter(discover(topics, state, info={}).values()))["device"]
    assert device == {
        "identifiers": ["coffee"],
        "name": "coffee",
        "manufacturer": "Siemens",
        "model": "CoffeeMaker",
        "model_id": "TI9555X1DE",
    }


def test_a_name_with_spaces_and_umlauts_still_gives_topics_and_entity_ids_home_assistant_accepts():
    topics, state = appliance(DISHWASHER, "Küche Spüler")
    configs = discover(topics, state)
    door = config(configs, "sensor", "Kuche_Spuler_bsh_common_status_doorstate")
    assert door["unique_id"] == "Kuche Spuler_bsh_common_status_doorstate"
    assert door["default_entity_id"] == "sensor.kuche_spuler_bsh_common_status_doorstate"
    assert door["device"]["identifiers"] == ["Kuche Spuler"]
    assert door["state_topic"] == "homeconnect/Kuche Spuler/state/bsh_common_status_doorstate"
    assert all(HA_TOPIC.match(t) for t in configs)


# -- components for real features ----------------------------------------------------


def test_boolean_status_is_a_binary_sensor_whose_payloads_are_what_the_bridge_publishes():
    topics, state = appliance(DISHWASHER)
    backend = config(discover(topics, state), "binary_sensor", "dishwasher_bsh_common_status_backendconnected")
    state.apply_values([{"uid": 5, "value": True}])
    assert backend["payload_on"] == str(state.values[5]) == "True"
    state.apply_values([{"uid": 5, "value": False}])
    assert backend["payload_off"] == str(state.values[5]) == "False"
    assert backend["entity_category"] == "diagnostic"


def test_units_by_content_type():
    topics, state = appliance(DISHWASHER)
    configs = discover(topics, state)
    wifi = config(configs, "sensor", "dishwasher_bsh_common_status_wifisignalstrength")
    assert (wifi["unit_of_measurement"], wifi["device_class"], wifi["state_class"]) == ("dBm", "signal_strength", "measurement")
    assert wifi["entity_category"] == "diagnostic"
    remaining = config(configs, "sensor", "dishwasher_bsh_common_option_remainingprogramtime")
    assert (remaining["unit_of_measurement"], remaining["device_class"]) == ("s", "duration")
    progress = config(configs, "sensor", "dishwasher_bsh_common_option_programprogress")
    assert progress["unit_of_measurement"] == "%"
    assert "device_class" not in progress
    # Home Assistant refuses options together with a unit or state class.
    for payload in configs.values():
        if "options" in payload and payload["default_entity_id"].startswith("sensor."):
            assert payload["device_class"] == "enum"
            assert "unit_of_measurement" not in payload and "state_class" not in payload


def test_boolean_setting_is_a_switch_that_sets_it():
    topics, state = appliance(DISHWASHER)
    switch = config(discover(topics, state), "switch", "dishwasher_bsh_common_setting_allowflexstart")
    assert switch["state_topic"] == "homeconnect/dishwasher/state/bsh_common_setting_allowflexstart"
    assert switch["command_topic"] == "homeconnect/dishwasher/set"
    assert (switch["state_on"], switch["state_off"]) == ("True", "False")
    on, off = set_request(state, switch["payload_on"]), set_request(state, switch["payload_off"])
    assert (on.resource, on.data) == (VALUES, [{"uid": 518, "value": True}])
    assert off.data == [{"uid": 518, "value": False}]


def test_on_off_enum_is_a_switch_with_member_names():
    topics, state = appliance(DISHWASHER)
    power = config(discover(topics, state), "switch", "dishwasher_bsh_common_setting_powerstate")
    assert (power["state_on"], power["state_off"]) == ("On", "Off")
    state.apply_values([{"uid": 539, "value": 2}])
    assert str(state.values[539]) == power["state_on"]
    assert set_request(state, power["payload_on"]).data == [{"uid": 539, "value": 2}]
    assert set_request(state, power["payload_off"]).data == [{"uid": 539, "value": 1}]


def test_other_writable_enum_is_a_select_of_member_names():
    topics, state = appliance(DISHWASHER)
    rinse = config(discover(topics, state), "select", "dishwasher_dishcare_dishwasher_setting_rinseaid")
    assert rinse["options"] == ["Off", "R01", "R02", "R03", "R04", "R05", "R06"]
    assert rinse["command_topic"] == "homeconnect/dishwasher/set"
    members = {name: wire for wire, name in state.profile.features[4354].enum.members.items()}
    for option in rinse["options"]:
        assert set_request(state, render(rinse["command_template"], option)).data == [{"uid": 4354, "value": members[option]}]


def test_commands_are_buttons_that_always_exist_and_are_available_while_writable():
    topics, state = appliance(COFFEE, "dishwasher")
    abort = config(discover(topics, state), "button", "dishwasher_bsh_common_command_abortprogram")
    assert abort["command_topic"] == "homeconnect/dishwasher/set"
    assert set_request(state, abort["payload_press"]).data == [{"uid": 512, "value": True}]
    assert "state_topic" not in abort

    # The dishwasher's profile has AbortProgram with access none until a
    # program runs: the button is there all along, and unavailable until then.
    topics, state = appliance(DISHWASHER)
    before = config(discover(topics, state), "button", "dishwasher_bsh_common_command_abortprogram")
    assert before["availability"][-1] == {"topic": "homeconnect/dishwasher/available/bsh_common_command_abortprogram"}
    with pytest.raises(CommandError, match=r"does not take AbortProgram now|not writable"):
        set_request(state, before["payload_press"])
    state.apply_description_changes([{"uid": 512, "access": "WRITEONLY"}])
    after = config(discover(topics, state), "button", "dishwasher_bsh_common_command_abortprogram")
    assert after == before  # nothing for Home Assistant to reload
    assert set_request(state, after["payload_press"]).data == [{"uid": 512, "value": True}]


def test_destructive_commands_are_disabled_by_default():
    topics, state = appliance(COFFEE, "dishwasher")
    configs = discover(topics, state)
    assert config(configs, "button", "dishwasher_bsh_common_command_applyfactoryreset")["enabled_by_default"] is False
    assert "enabled_by_default" not in config(configs, "button", "dishwasher_bsh_common_command_abortprogram")


def test_number_takes_min_max_step_from_the_live_limits_of_the_selected_program():
    topics, state = appliance(COFFEE, "dishwasher")
    state.apply_values([{"uid": 257, "value": 8211}])  # Coffee selected
    fill = config(discover(topics, state), "number", "dishwasher_consumerproducts_coffeemaker_option_fillquantity")
    assert (fill["min"], fill["max"], fill["step"]) == (20, 400, 5)
    assert fill["command_topic"] == "homeconnect/dishwasher/set"
    for value in (20, 250, 400):
        assert set_request(state, render(fill["command_template"], value)).data == [{"uid": 5122, "value": value}]

    state.apply_description_changes([{"uid": 5122, "parentUID": 8211, "max": 300}])
    fill = config(discover(topics, state), "number", "dishwasher_consumerproducts_coffeemaker_option_fillquantity")
    assert fill["max"] == 300
    state.apply_values([{"uid": 257, "value": 8217}])  # HotWater: its own limits again
    assert config(discover(topics, state), "number", "dishwasher_consumerproducts_coffeemaker_option_fillquantity")["max"] == 400
    state.apply_values([{"uid": 257, "value": 8211}])
    with pytest.raises(CommandError):  # the command layer agrees with the new limit
        set_request(state, render(fill["command_template"], 305))


def test_a_control_stays_one_when_its_access_drops_and_stale_configs_are_removed():
    topics, state = appliance(DISHWASHER)
    before = discover(topics, state)
    switch_topic = "homeassistant/switch/hcpy/dishwasher_bsh_common_setting_allowflexstart/config"
    select_topic = "homeassistant/select/hcpy/dishwasher_dishcare_dishwasher_setting_rinseaid/config"
    assert switch_topic in before and select_topic in before

    state.apply_description_changes([{"uid": 518, "access": "READ"}, {"uid": 4354, "access": "read"}])
    discovery = Discovery(topics, Published(topics))
    current = discovery.messages(state, INFO)
    after = {m.topic: json.loads(m.payload) for m in current}
    assert after[switch_topic] == before[switch_topic] and after[select_topic] == before[select_topic]

    # hcpy2-0 (or an older hcpy) made a sensor of the delayed start: it goes.
    old_delay = "homeassistant/sensor/hcpy/dishwasher_bsh_common_option_startinrelative/config"
    assert "homeassistant/number/hcpy/dishwasher_bsh_common_option_startinrelative/config" in after
    others = [
        "homeassistant/switch/hcpy/washer_bsh_common_setting_childlock/config",  # another appliance
        "homeassistant/switch/other/dishwasher_bsh_common_setting_allowflexstart/config",  # other software
        "homeassistant/switch/hcpy/dishwasher_something_else/config",  # not a feature of ours
    ]
    removals = discovery.removals(state, current, [*before, old_delay, *others])
    assert removals == [Outgoing(old_delay, "", retain=True)]
    assert config_topic_filter() == "homeassistant/+/hcpy/+/config"


def test_program_selects_offer_program_names_and_command_the_program_topics():
    topics, state = appliance(DISHWASHER)
    configs = discover(topics, state)
    selected = config(configs, "select", "dishwasher_bsh_common_root_selectedprogram")
    active = config(configs, "select", "dishwasher_bsh_common_root_activeprogram")
    short_names = [state.profile.features[uid].short_name for uid in state.profile.programs]
    assert selected["options"] == active["options"] == short_names
    assert "Eco50" in short_names
    assert selected["command_topic"] == "homeconnect/dishwasher/selectedProgram"
    assert active["command_topic"] == "homeconnect/dishwasher/activeProgram"
    assert selected["state_topic"] == "homeconnect/dishwasher/state/bsh_common_root_selectedprogram"
    for option in selected["options"]:
        request = build_program(state, screen_payload(render(selected["command_template"], option)), SELECTED_PROGRAM)
        assert state.profile.features[request.data[0]["program"]].short_name == option
        request = build_program(state, screen_payload(render(active["command_template"], option)), ACTIVE_PROGRAM)
        assert request.resource == ACTIVE_PROGRAM

    # The state arrives as the full name (or the uid): the template maps both
    # to the label, and anything else (0: no program) to "None", which Home
    # Assistant's select takes as "no option" rather than an error.
    mapping = json.loads(VALUE_TEMPLATE.match(selected["value_template"])["map"])
    assert mapping["Dishcare.Dishwasher.Program.Eco50"] == "Eco50"
    assert mapping["8196"] == "Eco50"
    assert "0" not in mapping
    assert set(mapping.values()) == set(selected["options"])


def test_start_selected_program_button_starts_what_is_selected():
    topics, state = appliance(DISHWASHER)
    start = config(discover(topics, state), "button", "dishwasher_start_selected_program")
    assert start["name"] == "Start selected program"
    assert start["command_topic"] == "homeconnect/dishwasher/activeProgram"
    state.apply_values([{"uid": 257, "value": 8196}])
    request = build_program(state, screen_payload(start["payload_press"]), ACTIVE_PROGRAM)
    assert (request.resource, request.data[0]["program"]) == (ACTIVE_PROGRAM, 8196)


def test_program_short_names_shared_by_two_programs_become_full_names():
    topics, state = appliance(DISHWASHER)
    profile = state.profile
    twin = Feature(uid=8300, name="Dishcare.Dishwasher.Program.Favorite.Eco50", kind=Kind.PROGRAM)
    profile.features[twin.uid] = twin
    profile.programs[twin.uid] = Program(uid=twin.uid, name=twin.name)
    profile.reindex()
    state = ApplianceState(profile, "dishwasher")
    selected = config(discover(topics, state), "select", "dishwasher_bsh_common_root_selectedprogram")
    assert "Eco50" not in selected["options"]
    assert "Dishcare.Dishwasher.Program.Eco50" in selected["options"]
    assert twin.name in selected["options"]
    assert "Intensiv70" in selected["options"]
    for option, uid in ((twin.name, 8300), ("Dishcare.Dishwasher.Program.Eco50", 8196)):
        request = build_program(state, screen_payload(render(selected["command_template"], option)), SELECTED_PROGRAM)
        assert request.data[0]["program"] == uid


def test_program_that_is_not_available_is_not_offered():
    topics, state = appliance(DISHWASHER)
    state.apply_description_changes([{"uid": 8215, "available": False}])
    selected = config(discover(topics, state), "select", "dishwasher_bsh_common_root_selectedprogram")
    assert "MachineCare" not in selected["options"] and "Eco50" in selected["options"]


def test_programs_made_available_live_are_offered():
    topics, state = appliance(WASHER)
    assert not [t for t in discover(topics, state) if "root_selectedprogram" in t]  # all unavailable in the profile
    state.apply_description_changes([{"uid": 28673, "available": True}, {"uid": 28718, "available": True}])
    selected = config(discover(topics, state), "select", "dishwasher_bsh_common_root_selectedprogram")
    assert selected["options"] == ["Eco4060", "Cotton"]


def test_events_are_event_entities_on_the_event_topic():
    topics, state = appliance(DISHWASHER)
    finished = config(discover(topics, state), "event", "dishwasher_bsh_common_event_programfinished")
    assert state.profile.features[540].enum.name == "BSH.Common.EnumType.EventPresentState"
    assert finished["event_types"] == ["Present", "Confirmed"]  # Off is never sent
    assert finished["state_topic"] == "homeconnect/dishwasher/event/bsh_common_event_programfinished"
    # The payload is {"event_type": …} already; an event value_template would
    # have to render a whole JSON object.
    assert "value_template" not in finished
    assert finished["default_entity_id"] == "event.dishwasher_bsh_common_event_programfinished"


def test_events_as_sensors():
    topics, state = appliance(DISHWASHER)
    configs = discover(topics, state, events_as_sensors=True)
    assert not [t for t in configs if t.startswith("homeassistant/event/")]
    finished = config(configs, "sensor", "dishwasher_bsh_common_event_programfinished")
    assert finished["value_template"] == "{{ value_json.event_type }}"
    assert finished["state_topic"] == "homeconnect/dishwasher/event/bsh_common_event_programfinished"
    assert (finished["device_class"], finished["options"]) == ("enum", ["Off", "Present", "Confirmed"])


def test_lists_programs_unpublished_and_inaccessible_features_get_no_entity():
    topics, state = appliance(WASHER)
    hidden = {"bsh_common_status_doorstate", "bsh_common_command_deactivatewifi"}
    published = Published(topics, state=lambda f: None if f.feature_id in hidden else topics.state(f.feature_id))
    messages = Discovery(topics, published).messages(state, {})
    objects = {HA_TOPIC.match(m.topic)["object"].removeprefix("dishwasher_") for m in messages}
    features = state.profile.features.values()
    assert "bsh_common_status_doorstate" not in objects
    assert "bsh_common_command_deactivatewifi" not in objects  # not even a stateless button
    assert "bsh_common_command_deactivateremotecontrolstart" in objects
    assert "bsh_common_status_operationstate" in objects
    assert not objects & {f.feature_id for f in features if f.kind in (Kind.LIST, Kind.PROGRAM)}
    assert "bsh_common_setting_childlock" not in objects  # access none on this washer
    # Access none: nothing, unless it is a control (whose access comes and goes).
    none = {f.feature_id for f in features if state.limits[f.uid].access.value == "none"}
    assert objects & none <= {f.feature_id for f in features if is_control(state.profile, f)}
    assert "bsh_common_command_abortprogram" in objects


def test_what_the_publisher_sends_is_what_the_entities_expect():
    topics, state = appliance(DISHWASHER)
    publisher = Publisher(topics, PublishOptions(), state.profile)
    configs = {
        m.topic: json.loads(m.payload)
        for m in Discovery(topics, publisher.naming).messages(state, INFO)
    }
    state.apply_values(
        [{"uid": 518, "value": True}, {"uid": 539, "value": 2}, {"uid": 527, "value": 1}, {"uid": 257, "value": 8196}]
    )
    changes = state.apply_values([{"uid": 540, "value": 1}])
    sent = {m.topic: m.payload for m in publisher.everything(state) + publisher.changes(state, changes)}

    flex = config(configs, "switch", "dishwasher_bsh_common_setting_allowflexstart")
    assert sent[flex["state_topic"]] == flex["state_on"]
    power = config(configs, "switch", "dishwasher_bsh_common_setting_powerstate")
    assert sent[power["state_topic"]] == power["state_on"]
    door = config(configs, "sensor", "dishwasher_bsh_common_status_doorstate")
    assert sent[door["state_topic"]] in door["options"]
    finished = config(configs, "event", "dishwasher_bsh_common_event_programfinished")
    assert json.loads(sent[finished["state_topic"]])["event_type"] in finished["event_types"]
    selected = config(configs, "select", "dishwasher_bsh_common_root_selectedprogram")
    labels = json.loads(VALUE_TEMPLATE.match(selected["value_template"])["map"])
    assert labels.get(sent[selected["state_topic"]]) == "Eco50"


@pytest.mark.parametrize("stem, at_least", [(DISHWASHER, 100), (WASHER, 4), (COFFEE, 100)])
@pytest.mark.parametrize("ready", [False, True])
def test_every_control_sends_commands_the_command_layer_accepts_while_available(stem, at_least, ready):
    """A control available now sends what is accepted; an unavailable one is refused with a reason."""
    topics, state = appliance(stem)
    first_program = next(iter(state.profile.programs))
    state.apply_values([{"uid": 257, "value": first_program}])
    if ready:  # Remote Start pressed: the appliance lets ActiveProgram be written
        state.apply_description_changes([{"uid": 256, "access": "READWRITE"}])
    checked = refused = 0
    for payload in discover(topics, state).values():
        if "command_topic" not in payload:
            continue
        suffix = payload["command_topic"].rsplit("/", 1)[1]
        component = payload["default_entity_id"].split(".")[0]
        if component == "button":
            bodies = [payload["payload_press"]]
        elif component == "switch":
            bodies = [payload["payload_on"], payload["payload_off"]]
        elif component == "select":
            bodies = [render(payload["command_template"], o) for o in payload["options"]]
        else:
            assert component == "number"
            bodies = [render(payload["command_template"], v) for v in (payload["min"], payload["max"])]
        own = [a["topic"] for a in payload["availability"][2:]]
        for body in bodies:
            if suffix == "set":
                uid = screen_payload(body)["uid"]
                works = usable(state, state.profile.features[uid])
                feature = state.profile.features[uid]
                expected = [f"homeconnect/dishwasher/available/{feature.feature_id}"]
                assert own == (expected if is_control(state.profile, feature) else [])
                call = lambda body=body: set_request(state, body)  # noqa: E731
            else:
                resource = {"activeProgram": ACTIVE_PROGRAM, "selectedProgram": SELECTED_PROGRAM}[suffix]
                # The start button says when it works; the active program's select
                # (which shows what runs) is always there, and refuses a start with a reason.
                works = startable(state) if own else resource == SELECTED_PROGRAM or startable(state)
                call = lambda body=body, resource=resource: build_program(state, screen_payload(body), resource)  # noqa: E731
            if works:
                assert call().data
                checked += 1
            else:
                with pytest.raises(CommandError) as refusal:
                    call()
                assert refusal.value.code in (403, 409), refusal.value
                refused += 1
    assert checked >= at_least
    assert refused > 0  # the appliance at rest has controls that do not work now


def test_a_delayed_start_is_a_number_of_minutes_sent_as_seconds():
    topics, state = appliance(DISHWASHER)
    state.apply_values([{"uid": 257, "value": 8196}])  # Eco50 selected
    delay = config(discover(topics, state), "number", "dishwasher_bsh_common_option_startinrelative")
    # No bounds in the profile: a time span is 0 to a day.
    assert (delay["min"], delay["max"], delay["step"], delay["unit_of_measurement"]) == (0, 1440, 1, "min")
    assert delay["device_class"] == "duration" and delay["mode"] == "box"
    assert set_request(state, render(delay["command_template"], 60)).data == [{"uid": 558, "value": 3600}]
    assert delay["availability"][-1] == {"topic": "homeconnect/dishwasher/available/bsh_common_option_startinrelative"}


def test_the_program_end_is_a_timestamp_sensor():
    topics, state = appliance(DISHWASHER)
    published = Published(topics, info={"program_end": "homeconnect/dishwasher/state/program_end"}.get)
    configs = {m.topic: json.loads(m.payload) for m in Discovery(topics, published).messages(state, INFO)}
    end = config(configs, "sensor", "dishwasher_program_end")
    assert (end["state_topic"], end["device_class"], end["name"]) == (
        "homeconnect/dishwasher/state/program_end",
        "timestamp",
        "Program end",
    )


def test_one_wifi_signal_entity():
    topics, state = appliance(DISHWASHER)
    published = Published(topics, info={"rssi": "homeconnect/dishwasher/state/rssi"}.get)
    configs = {m.topic: json.loads(m.payload) for m in Discovery(topics, published).messages(state, {"rssi": -61})}
    wifi = [c["unique_id"] for c in configs.values() if c.get("device_class") == "signal_strength"]
    assert wifi == ["dishwasher_bsh_common_status_wifisignalstrength"]


def test_readable_names():
    def named(name: str) -> str:
        return label(Feature(uid=1, name=name))

    assert named("BSH.Common.Status.DoorState") == "Door state"
    assert named("BSH.Common.Status.WiFiSignalStrength") == "WiFi signal strength"
    assert named("LaundryCare.Washer.Setting.IDos1.ContentName") == "IDos 1 content name"
    assert named("LaundryCare.Washer.Event.Spin.SpinAbort") == "Spin abort"
    assert named("BSH.Common.Root.SelectedProgram") == "Selected program"
    assert named("Odd") == "Odd"



def test_network_info_becomes_diagnostic_sensors():
    state = ApplianceState(parse_profile(*profile_files(DISHWASHER)), "dishwasher")
    topics = Topics("homeconnect/", "dishwasher")
    info = {"ipV4": {"ipAddress": "192.0.2.7"}, "rssi": -61, "vib": "SN658X06TE"}
    published = {"ipV4": "homeconnect/dishwasher/state/ipv4", "rssi": "homeconnect/dishwasher/state/rssi"}
    nothing = lambda f: None  # noqa: E731
    messages = Discovery(topics, Published(topics, nothing, nothing, published.get)).messages(state, info)
    configs = {m.topic: json.loads(m.payload) for m in messages}
    ip = configs["homeassistant/sensor/hcpy/dishwasher_ipv4/config"]
    assert ip["state_topic"] == published["ipV4"] and ip["value_template"] == "{{ value_json.ipAddress }}"
    rssi = configs["homeassistant/sensor/hcpy/dishwasher_rssi/config"]
    assert (rssi["unit_of_measurement"], rssi["entity_category"]) == ("dBm", "diagnostic")
    # Not in the info, or not published: no entity.
    assert not any("ipv6" in t or "euiaddress" in t for t in configs)
    assert Discovery(topics, Published(topics, nothing, nothing)).messages(state, info) == []
