"""Door alarms (events named *DoorAlarm*) as Home Assistant problem binary sensors.

Such an alarm stands while a door is left open: the bridge publishes its Off
too (other events' Off it leaves out), so the sensor goes off when the door
is closed, as it does when the alarm is confirmed.
"""

from __future__ import annotations

import json

from support import DISHWASHER, at_rest, profile_files

from hcpy.appliance.profile_xml import parse_profile
from hcpy.appliance.state import ApplianceState
from hcpy.homeassistant.discovery import Discovery, DiscoveryOptions
from hcpy.mqtt.naming import Naming
from hcpy.mqtt.options import PublishOptions
from hcpy.mqtt.topics import Topics
from hcpy.simulator.examples import EXAMPLES
from hcpy.simulator.kinds.fridge import DOOR_ALARM_SECONDS

FRIDGE = "BOSCH-SIMFRIDGE1-INVENTED"
FREEZER_DOOR = "Refrigeration.Common.Status.Door.Freezer"
ALARM = "homeassistant/binary_sensor/hcpy/fridge_refrigeration_fridgefreezer_event_dooralarmfreezer/config"
EVENT = "event/refrigeration_fridgefreezer_event_dooralarmfreezer"


def fridge_profile():
    files = (EXAMPLES / f"{FRIDGE}_{part}.xml" for part in ("DeviceDescription", "FeatureMapping"))
    return parse_profile(*(path.read_bytes() for path in files), FRIDGE)


def configs(profile, name: str, **options) -> dict[str, dict]:
    topics = Topics("homeconnect/", name)
    naming = Naming(topics, PublishOptions(home_assistant=True), profile)
    messages = Discovery(topics, naming, DiscoveryOptions(**options)).messages(ApplianceState(profile, name), {})
    return {m.topic: json.loads(m.payload) for m in messages}


def present(template: str, payload: str) -> str:
    """The template's verdict on an event payload, per its one condition (value_json.event_type == "Present")."""
    assert template == '{% if value_json.event_type == "Present" %}ON{% else %}OFF{% endif %}', template
    return "ON" if json.loads(payload)["event_type"] == "Present" else "OFF"


def test_door_alarms_are_problem_binary_sensors_not_events():
    found = configs(fridge_profile(), "fridge")
    alarm = found[ALARM]
    assert alarm["device_class"] == "problem"
    assert alarm["state_topic"] == "homeconnect/fridge/" + EVENT
    assert (alarm["payload_on"], alarm["payload_off"]) == ("ON", "OFF")
    assert [
        present(alarm["value_template"], json.dumps({"event_type": t})) for t in ("Present", "Confirmed", "Off")
    ] == [
        "ON",
        "OFF",
        "OFF",
    ]
    alarms = [t for t in found if "dooralarm" in t]
    assert sorted(alarms) == sorted([ALARM, ALARM.replace("dooralarmfreezer", "dooralarmrefrigerator")]), alarms
    # Other events stay events.
    assert any(t.startswith("homeassistant/event/") and "temperaturealarmfreezer" in t for t in found)


def test_with_events_as_sensors_a_door_alarm_stays_an_enum_sensor():
    found = configs(fridge_profile(), "fridge", events_as_sensors=True)
    assert ALARM not in found
    sensor = found[ALARM.replace("binary_sensor", "sensor")]
    assert sensor["device_class"] == "enum" and "Off" in sensor["options"]


def test_appliances_without_door_alarms_get_no_problem_sensor():
    found = configs(parse_profile(*profile_files(DISHWASHER)), "dishwasher")
    assert not [c for c in found.values() if c.get("device_class") == "problem"]


def test_the_alarm_goes_on_when_the_door_stays_open_and_off_when_it_is_closed(run_one):
    sim, entry = at_rest(fridge_profile(), "fridge", "aes")
    kitchen = run_one(sim, entry)
    alarm = json.loads(kitchen.subscriber.wait(ALARM))
    mark = kitchen.subscriber.mark()
    sim.set_value(FREEZER_DOOR, "Open")
    sim.advance(0)
    sim.advance(DOOR_ALARM_SECONDS)
    assert present(alarm["value_template"], kitchen.sees(EVENT, since=mark)) == "ON"
    mark = kitchen.subscriber.mark()
    sim.set_value(FREEZER_DOOR, "Closed")
    sim.advance(1)
    assert present(alarm["value_template"], kitchen.sees(EVENT, since=mark)) == "OFF"
