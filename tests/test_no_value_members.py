"""Enum members Home Assistant would read as "no value" ("None") are shown as themselves.

The rules below (`reads_as_no_value`) are Home Assistant's, as
hcpy/homeassistant/components.py states them with their sources; templates
are rendered as Jinja would render the forms hcpy writes (`render`), since
Jinja is not installed here: the real Home Assistant check renders them for real.
"""

from __future__ import annotations

import json
import re

import pytest
from support import COFFEE, DISHWASHER, bridged, posts, profile_files, simulated

from hcpy.appliance.commands import build_set
from hcpy.appliance.profile_xml import parse_profile
from hcpy.appliance.state import ApplianceState
from hcpy.homeassistant.components import shown
from hcpy.homeassistant.discovery import Discovery
from hcpy.mqtt.options import PublishOptions
from hcpy.mqtt.publishing import Publisher
from hcpy.mqtt.screening import screen_payload
from hcpy.mqtt.topics import Topics

P = "homeconnect/"
PHASE = "Dishcare.Dishwasher.Status.ProgramPhase"
PROCESS_PHASE = "ConsumerProducts.CoffeeMaker.Status.ProcessPhase"
INFO = {"brand": "SIEMENS", "vib": "X", "mac": "C8-D7-78-AA-BB-0F"}

# `{% set shown = <JSON object> %}` then text with `{{ shown.get(E, E) }}` or `{{ value }}`: all hcpy writes.
_SET = re.compile(r"^\{% set shown = (?P<table>\{.*?\}) %\}")
_LOOKUP = re.compile(r"\{\{ shown\.get\((?P<expr>[\w.]+), (?P=expr)\) \}\}")


def render(template: str, value: str) -> str:
    """What Jinja renders (and Home Assistant strips) for `value`, for the template forms hcpy writes."""
    table: dict[str, str] = {}
    if match := _SET.match(template):
        table = json.loads(match["table"])
        template = template[match.end() :]
    assert "{%" not in template, template
    template = _LOOKUP.sub(lambda m: table.get(value, value), template)
    template = template.replace("{{ value }}", value)
    assert "{{" not in template, template
    return template.strip()


def reads_as_no_value(component: str, rendered: str) -> bool:
    """Home Assistant 2025.4's MQTT entities: whether a rendered state is taken as no value (components.py)."""
    if rendered in ("unknown", "unavailable"):
        return True
    if component == "select":
        return not rendered.strip() or rendered.lower() == "none"
    return rendered == "None"


def appliance(stem: str) -> tuple[Topics, ApplianceState, Publisher]:
    topics = Topics(P, "dev")
    state = ApplianceState(parse_profile(*profile_files(stem)), "dev")
    return topics, state, Publisher(topics, PublishOptions(home_assistant=True), state.profile)


def configs(topics: Topics, state: ApplianceState, publisher: Publisher) -> dict[str, dict]:
    messages = Discovery(topics, publisher.naming).messages(state, INFO)
    return {m.topic.split("/")[1] + "." + m.topic.split("/")[3]: json.loads(m.payload) for m in messages}


# -- which members --------------------------------------------------------------------------------


@pytest.mark.parametrize("member", ["None", "none", "NONE", "unknown", "unavailable", "", " Padded"])
def test_members_home_assistant_reads_as_no_value_are_shown_quoted(member):
    assert shown(member) == f"“{member}”"
    assert not reads_as_no_value("sensor", shown(member)) and not reads_as_no_value("select", shown(member))


@pytest.mark.parametrize("member", ["Off", "Unknown", "NoneOfThem", "Grinding", "0"])
def test_every_other_member_is_shown_as_it_is(member):
    assert shown(member) == member


# -- sensors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stem, name", [(COFFEE, PROCESS_PHASE), (DISHWASHER, PHASE)])
def test_a_sensor_shows_the_member_none_as_a_state_of_its_own(stem, name):
    topics, state, publisher = appliance(stem)
    feature = state.profile.by_name(name)
    assert feature is not None and feature.enum is not None and feature.enum.members[0] == "None"
    sensor = configs(topics, state, publisher)[f"sensor.dev_{feature.feature_id}"]
    # The payload hcpy2-0 users read stays the member's name.
    changes = state.apply_values([{"uid": feature.uid, "value": 0}])
    sent = {m.topic: m.payload for m in publisher.changes(state, changes)}
    assert sent[sensor["state_topic"]] == "None"
    rendered = render(sensor["value_template"], "None")
    assert rendered == "“None”" and rendered in sensor["options"] and not reads_as_no_value("sensor", rendered)
    # Every other member renders as itself, and is an option.
    for member in feature.enum.members.values():
        assert render(sensor["value_template"], member) in sensor["options"]
        if member != "None":
            assert render(sensor["value_template"], member) == member
    assert "None" not in sensor["options"] and len(sensor["options"]) == len(feature.enum.members)


def test_a_sensor_without_such_a_member_has_no_value_template():
    topics, state, publisher = appliance(DISHWASHER)
    door = configs(topics, state, publisher)["sensor.dev_bsh_common_status_doorstate"]
    assert door["options"] == ["Open", "Closed"] and "value_template" not in door


# -- selects ------------------------------------------------------------------------------------


def test_a_select_offers_the_member_none_and_sends_it_as_the_member():
    topics, state, publisher = appliance(DISHWASHER)
    feature = state.profile.by_name(PHASE)
    assert feature is not None and feature.enum is not None
    state.apply_description_changes([{"uid": feature.uid, "access": "READWRITE"}])
    select = configs(topics, state, publisher)[f"select.dev_{feature.feature_id}"]
    assert select["options"][0] == "“None”"
    shown_state = render(select["value_template"], "None")
    assert shown_state in select["options"] and not reads_as_no_value("select", shown_state)
    # What Home Assistant publishes for each option is accepted, as the member's own value.
    for value, member in feature.enum.members.items():
        option = shown(member)
        assert option in select["options"]
        body = render(select["command_template"], option)
        assert json.loads(body) == {"uid": feature.uid, "value": member}
        assert build_set(state, screen_payload(body)).data == [{"uid": feature.uid, "value": value}]


# -- end to end ---------------------------------------------------------------------------------


@pytest.fixture
def dishwasher():
    sim, entry = simulated(parse_profile(*profile_files(DISHWASHER)), "dishwasher")
    yield sim, entry
    sim.stop()


def test_home_assistant_s_none_reaches_the_appliance_and_the_state_topic_stays_hcpy2_0_s(broker, subscriber, dishwasher):
    sim, _ = dishwasher
    feature = sim.app.profile.by_name(PHASE)
    assert feature is not None
    sensor_topic = f"homeassistant/sensor/hcpy/dishwasher_{feature.feature_id}/config"
    select_topic = f"homeassistant/select/hcpy/dishwasher_{feature.feature_id}/config"
    state_topic = f"{P}dishwasher/state/{feature.feature_id}"
    with bridged(broker.port, [dishwasher], ha_discovery=True):
        sim.set_value(PHASE, 0)
        assert subscriber.wait(state_topic, "None") == "None"  # as hcpy2-0 published it
        sensor = json.loads(subscriber.wait(sensor_topic))
        assert render(sensor["value_template"], "None") in sensor["options"]
        sim.set_value(PHASE, 2)
        subscriber.wait(state_topic, "MainWash")
        # Made writable by the appliance: a select now, whose "None" Home Assistant sends.
        mark = subscriber.mark()
        sim.set_description(PHASE, access="READWRITE")
        select = json.loads(subscriber.wait(select_topic, since=mark))
        assert select["command_topic"] == f"{P}dishwasher/set"
        subscriber.publish(select["command_topic"], render(select["command_template"], "“None”"))
        subscriber.wait(state_topic, "None", since=mark)
        assert posts(sim)[-1].data == [{"uid": feature.uid, "value": 0}]
