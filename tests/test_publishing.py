"""hcpy.mqtt.publishing: what goes out for real fixture profiles and real wire values."""

from __future__ import annotations

import json
from functools import cache

import pytest
from support import COFFEE, DISHWASHER, WASHER, profile_files

from hcpy.appliance.model import Description, Feature, Kind, Profile
from hcpy.appliance.profile_xml import parse_profile
from hcpy.appliance.state import ApplianceState, Change
from hcpy.errors import ConfigError, HcpyError
from hcpy.mqtt.naming import is_wanted
from hcpy.mqtt.options import NameFilter, PublishOptions, Rename
from hcpy.mqtt.outgoing import Outgoing
from hcpy.mqtt.publishing import Publisher, homie_payload, summary
from hcpy.mqtt.topics import Layout, Topics

DOOR = "BSH.Common.Status.DoorState"
OPERATION = "BSH.Common.Status.OperationState"
POWER = "BSH.Common.Setting.PowerState"
REMAINING = "BSH.Common.Option.RemainingProgramTime"
PROGRESS = "BSH.Common.Option.ProgramProgress"
EXTRA_DRY = "Dishcare.Dishwasher.Setting.ExtraDry"
FINISHED = "BSH.Common.Event.ProgramFinished"
LOW_WATER = "BSH.Common.Event.LowWaterPressure"
AQUA_STOP = "BSH.Common.Event.AquaStopOccured"
INTERNAL_ERROR = "Dishcare.Dishwasher.Event.InternalError"
CHILD_LOCK = "BSH.Common.Setting.ChildLock"
FILL_QUANTITY = "ConsumerProducts.CoffeeMaker.Option.FillQuantity"

T = "homeconnect/dishwasher"
WHERE = "devices.json: dishwasher: hc2mqtt."


@cache
def profile(stem: str) -> Profile:
    return parse_profile(*profile_files(stem))


def make(stem: str = DISHWASHER, name: str = "dishwasher", **options) -> tuple[ApplianceState, Publisher]:
    prof = profile(stem)
    return ApplianceState(prof, name), Publisher(Topics("homeconnect/", name), PublishOptions(**options), prof)


def wire(state: ApplianceState, *pairs: tuple[str, object]) -> list[dict]:
    """Wire values; an enumeration's member may be given by name."""
    items = []
    for name, value in pairs:
        feature = state.profile.by_name(name)
        if feature.enum is not None and isinstance(value, str):
            value = next(number for number, member in feature.enum.members.items() if member == value)
        items.append({"uid": feature.uid, "value": value})
    return items


def send(state: ApplianceState, publisher: Publisher, *pairs: tuple[str, object]) -> list[tuple[str, str]]:
    messages = publisher.changes(state, state.apply_values(wire(state, *pairs)))
    # Events are occurrences, everything else a state.
    assert all(m.retain != ("/event/" in m.topic) for m in messages), messages
    return [(m.topic, m.payload) for m in messages]


def pairs(messages: list[Outgoing]) -> list[tuple[str, str]]:
    assert all(m.retain for m in messages)
    return [(m.topic, m.payload) for m in messages]


def summary_of(messages: list[tuple[str, str]], topic: str = T) -> dict:
    [payload] = [p for t, p in messages if t == topic]
    return json.loads(payload)


# -- defaults: hcpy2-0 topics and payloads ------------------------------------------------


def test_defaults_publish_hcpy2_0_topics_and_the_summary():
    state, publisher = make()
    out = send(state, publisher, (DOOR, 1), (EXTRA_DRY, True), (REMAINING, 10140))
    assert out == [
        (f"{T}/state/bsh_common_status_doorstate", "Closed"),
        (f"{T}/state/bsh_common_option_remainingprogramtime", "10140"),
        (f"{T}/state/dishcare_dishwasher_setting_extradry", "True"),
        (
            T,
            '{"state": null, "door": "Closed", "remaining": "2:49", "power": null, '
            '"lowwaterpressure": null, "aquastop": null, "error": null, "remainingseconds": 10140}',
        ),
    ]


def test_scalar_payload_formats():
    state, publisher = make(summary=False)
    out = send(state, publisher, (EXTRA_DRY, False), (PROGRESS, 21.5), (OPERATION, 3))
    assert out == [
        (f"{T}/state/bsh_common_option_programprogress", "21.5"),
        (f"{T}/state/bsh_common_status_operationstate", "Run"),
        (f"{T}/state/dishcare_dishwasher_setting_extradry", "False"),
    ]


def test_none_is_never_published():
    state, publisher = make(summary=False)
    assert send(state, publisher, (DOOR, None)) == []
    assert publisher.everything(state) == []


def test_only_changes_are_published():
    state, publisher = make()
    send(state, publisher, (DOOR, 1), (EXTRA_DRY, True))
    # The same values again: the state reports nothing, and nothing goes out.
    assert send(state, publisher, (DOOR, 1), (EXTRA_DRY, True)) == []
    # A change list repeating an already published value sends nothing either.
    door = state.profile.by_name(DOOR)
    assert publisher.changes(state, [Change(door, "Closed", 1)]) == []
    # One value changes: its topic, and the summary because it maps the door.
    assert send(state, publisher, (DOOR, 0), (EXTRA_DRY, True)) == [
        (f"{T}/state/bsh_common_status_doorstate", "Open"),
        (
            T,
            '{"state": null, "door": "Open", "remaining": null, "power": null, '
            '"lowwaterpressure": null, "aquastop": null, "error": null, "remainingseconds": null}',
        ),
    ]
    # An unmapped value changes: no summary.
    assert send(state, publisher, (EXTRA_DRY, False)) == [(f"{T}/state/dishcare_dishwasher_setting_extradry", "False")]


def test_everything_republishes_every_value_but_no_event():
    state, publisher = make()
    first = send(state, publisher, (DOOR, 1), (FINISHED, 1), (POWER, 2))
    assert (f"{T}/event/bsh_common_event_programfinished", '{"event_type": "Present"}') in first
    assert pairs(publisher.everything(state)) == [
        (f"{T}/state/bsh_common_status_doorstate", "Closed"),
        (f"{T}/state/bsh_common_setting_powerstate", "On"),
        (
            T,
            '{"state": null, "door": "Closed", "remaining": null, "power": true, '
            '"lowwaterpressure": null, "aquastop": null, "error": null, "remainingseconds": null}',
        ),
    ]
    # And again: everything() does not care what was sent before.
    assert len(publisher.everything(state)) == 3


def test_events_go_out_on_every_occurrence():
    state, publisher = make(summary=False, as_json=True)
    topic = f"{T}/event/bsh_common_event_programfinished"
    assert send(state, publisher, (FINISHED, 1)) == [(topic, '{"event_type": "Present"}')]
    assert send(state, publisher, (FINISHED, 1)) == [(topic, '{"event_type": "Present"}')]
    assert send(state, publisher, (FINISHED, 2)) == [(topic, '{"event_type": "Confirmed"}')]
    # Events are not state: not in the JSON object, not per-feature state topics.
    out = send(state, publisher, (DOOR, 1), (FINISHED, 1))
    assert out == [
        (topic, '{"event_type": "Present"}'),
        (f"{T}/state/bsh_common_status_doorstate", "Closed"),
        (f"{T}/state", '{"BSH.Common.Status.DoorState": "Closed"}'),
    ]


def test_an_event_going_off_is_no_occurrence():
    state, publisher = make(summary=False)
    topic = f"{T}/event/bsh_common_event_programfinished"
    assert send(state, publisher, (FINISHED, 0)) == []
    assert send(state, publisher, (FINISHED, 1)) == [(topic, '{"event_type": "Present"}')]
    assert send(state, publisher, (FINISHED, 0)) == []
    assert publisher.everything(state) == []


def test_events_as_states_are_retained_with_their_off():
    state, publisher = make(summary=False, event_states=True)
    finished = publisher.changes(state, state.apply_values(wire(state, (FINISHED, 0))))
    assert finished == [Outgoing(f"{T}/event/bsh_common_event_programfinished", '{"event_type": "Off"}', True)]
    # A newcomer (a broker reconnect) gets where each event stands.
    assert publisher.everything(state) == finished


def test_events_still_go_out_without_per_feature_topics():
    state, publisher = make(as_mqtt=False, summary=False)
    door, finished = state.profile.by_name(DOOR), state.profile.by_name(FINISHED)
    assert publisher.naming.state_topic(door) is None
    assert publisher.naming.event_topic(finished) == f"{T}/event/bsh_common_event_programfinished"
    assert publisher.naming.event_topic(door) is None and publisher.naming.state_topic(finished) is None
    assert send(state, publisher, (DOOR, 1), (FINISHED, 1)) == [
        (f"{T}/event/bsh_common_event_programfinished", '{"event_type": "Present"}')
    ]


# -- the JSON object ------------------------------------------------------------------------


def test_json_object_holds_every_published_value_natively():
    state, publisher = make(as_json=True, as_mqtt=False, summary=False)
    assert send(state, publisher, (DOOR, 1), (EXTRA_DRY, True), (REMAINING, 600)) == [
        (
            f"{T}/state",
            '{"BSH.Common.Status.DoorState": "Closed", "BSH.Common.Option.RemainingProgramTime": 600, '
            '"Dishcare.Dishwasher.Setting.ExtraDry": true}',
        )
    ]
    assert send(state, publisher, (REMAINING, 540)) == [
        (
            f"{T}/state",
            '{"BSH.Common.Status.DoorState": "Closed", "BSH.Common.Option.RemainingProgramTime": 540, '
            '"Dishcare.Dishwasher.Setting.ExtraDry": true}',
        )
    ]
    assert publisher.changes(state, []) == []


@pytest.mark.parametrize(
    "mode, keys",
    [
        ("short", ["DoorState", "ExtraDry"]),
        ("uid", ["527", "4356"]),
        ("long", [DOOR, EXTRA_DRY]),
    ],
)
def test_json_keys_follow_the_rename_mode(mode, keys):
    state, publisher = make(as_json=True, as_mqtt=False, summary=False, rename=Rename(mode))
    out = send(state, publisher, (DOOR, 1), (EXTRA_DRY, True))
    assert list(json.loads(out[0][1])) == keys


def test_json_object_includes_info_keys():
    state, publisher = make(as_json=True, as_mqtt=False, summary=False)
    assert publisher.info({"mac": "aa-bb-cc", "ipV4": {"ipAddress": "192.0.2.7"}}) == []  # as_mqtt is off
    assert send(state, publisher, (DOOR, 1)) == [
        (f"{T}/state", '{"BSH.Common.Status.DoorState": "Closed", "mac": "aa-bb-cc", "ipV4": {"ipAddress": "192.0.2.7"}}')
    ]


# -- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rename, topic",
    [
        (Rename(), "bsh_common_status_doorstate"),
        (Rename("short"), "doorstate"),
        (Rename("uid"), "527"),
        (Rename("uid", {DOOR: "door"}), "door"),
        (Rename("long", {"527": "Door"}), "door"),
        (Rename("short", {DOOR: "Front door/latch+#1"}), "front_door_latch__1"),
    ],
)
def test_rename_decides_the_topic_key(rename, topic):
    state, publisher = make(summary=False, rename=rename)
    assert send(state, publisher, (DOOR, 1)) == [(f"{T}/state/{topic}", "Closed")]
    assert publisher.naming.state_topic(state.profile.by_name(DOOR)) == f"{T}/state/{topic}"


def test_explicit_rename_by_name_wins_over_one_by_uid():
    _, publisher = make(rename=Rename("short", {"527": "byuid", DOOR: "byname"}))
    assert publisher.naming.key(profile(DISHWASHER).by_name(DOOR)) == "byname"


def test_short_names_that_clash_keep_enough_segments():
    _, publisher = make(WASHER, "washer", rename=Rename("short"))
    washer = profile(WASHER)
    key = lambda name: publisher.naming.key(washer.by_name(name))  # noqa: E731
    assert key("LaundryCare.Common.Setting.Brightness") == "Setting.Brightness"
    assert key("LaundryCare.Common.Setting.DoorLightRing.Brightness") == "DoorLightRing.Brightness"
    assert key("LaundryCare.Common.Setting.TimeLight.Active") == "TimeLight.Active"
    assert key(DOOR) == "DoorState"
    # A program of the same name carries no value and does not lengthen the event's name.
    _, coffee = make(COFFEE, "coffee", rename=Rename("short"))
    assert coffee.naming.key(profile(COFFEE).by_name("ConsumerProducts.CoffeeMaker.Event.SpecialRinsing")) == "SpecialRinsing"


def test_renames_naming_nothing_are_reported():
    _, publisher = make(rename=Rename("long", {"527": "door", "BSH.Common.Status.DoorStat": "x", "99999": "y"}))
    assert publisher.naming.problems == [
        "dishwasher: hc2mqtt.rename.BSH.Common.Status.DoorStat names no feature of this appliance; "
        "use a full feature name or a decimal uid",
        "dishwasher: hc2mqtt.rename.99999 names no feature of this appliance; use a full feature name or a decimal uid",
    ]


# -- filters ------------------------------------------------------------------------------------


def test_filter_rules_apply_in_order():
    publish = NameFilter(frozenset({"A.Keep.Me"}), ("Keep",))
    never = NameFilter(frozenset({"A.Keep.Never"}), ("Me", "Drop"))
    # 1: an exact publish name beats a publish_never substring ("Me").
    assert is_wanted("A.Keep.Me", publish, never)
    # 2: an exact publish_never name beats a publish substring ("Keep").
    assert not is_wanted("A.Keep.Never", publish, never)
    # 3: a publish_never substring beats a publish substring.
    assert not is_wanted("A.Keep.Drop", publish, never)
    # 4: a publish substring alone publishes.
    assert is_wanted("A.Keep.Other", publish, never)
    # 5: nothing matches and there is a publish block: not published.
    assert not is_wanted("B.Other", publish, never)
    # Only publish_never: everything but what it names.
    assert is_wanted("B.Other", None, never)
    assert not is_wanted("A.Keep.Drop", None, never)
    # No filters: everything.
    assert is_wanted("B.Other", None, None)


def test_filters_cover_state_events_json_homie_and_info():
    options = PublishOptions.parse(
        {
            "publish_as_json": True,
            "publish_homie_topics": True,
            "publish_summary": False,
            "publish": {"long_names": [FINISHED], "contains": ["Status", "mac"]},
            "publish_never": {"long_names": [OPERATION], "contains": ["Event"]},
        }
    )
    prof = profile(DISHWASHER)
    state = ApplianceState(prof, "dishwasher")
    publisher = Publisher(Topics("homeconnect/", "dishwasher"), options, prof)
    assert [m.topic for m in publisher.info({"mac": "aa-bb", "swVersion": "1.2"})] == [f"{T}/state/mac"]
    out = send(state, publisher, (DOOR, 1), (OPERATION, 3), (EXTRA_DRY, True), (FINISHED, 1), (LOW_WATER, 1))
    topics = [t for t, _ in out]
    assert topics == [
        f"{T}/event/bsh_common_event_programfinished",  # exact publish name beats "Event"
        f"{T}/state/bsh_common_status_doorstate",  # "Status"
        "homie/dishwasher/$homie",
        "homie/dishwasher/$name",
        "homie/dishwasher/$nodes",
        "homie/dishwasher/bsh-common-status-doorstate/$name",
        "homie/dishwasher/bsh-common-status-doorstate/$type",
        "homie/dishwasher/bsh-common-status-doorstate/$properties",
        "homie/dishwasher/bsh-common-status-doorstate/value/$name",
        "homie/dishwasher/bsh-common-status-doorstate/value/$datatype",
        "homie/dishwasher/bsh-common-status-doorstate/value/$format",
        "homie/dishwasher/bsh-common-status-doorstate/value/$settable",
        "homie/dishwasher/bsh-common-status-doorstate/value",
        f"{T}/state",
    ]
    assert json.loads(dict(out)[f"{T}/state"]) == {DOOR: "Closed", "mac": "aa-bb"}
    assert dict(out)["homie/dishwasher/$nodes"] == "bsh-common-status-doorstate"
    assert publisher.naming.is_published(prof.by_name(DOOR))
    assert not publisher.naming.is_published(prof.by_name(OPERATION))
    assert not publisher.naming.is_published(prof.by_name(EXTRA_DRY))
    assert publisher.naming.state_topic(prof.by_name(EXTRA_DRY)) is None


def test_publish_never_alone_hides_only_what_it_names():
    options = PublishOptions.parse({"publish_never": {"contains": ["ExtraDry"]}, "publish_summary": False})
    prof = profile(DISHWASHER)
    state = ApplianceState(prof, "dishwasher")
    publisher = Publisher(Topics("homeconnect/", "dishwasher"), options, prof)
    assert send(state, publisher, (DOOR, 1), (EXTRA_DRY, True), (FINISHED, 1)) == [
        (f"{T}/event/bsh_common_event_programfinished", '{"event_type": "Present"}'),
        (f"{T}/state/bsh_common_status_doorstate", "Closed"),
    ]


def test_an_empty_publish_block_restricts_nothing():
    options = PublishOptions.parse({"publish": {"long_names": [], "contains": []}}, appliance="dishwasher")
    assert options.publish is None
    _, publisher = make()
    assert publisher.naming.is_published(profile(DISHWASHER).by_name(EXTRA_DRY))


# -- Homie ----------------------------------------------------------------------------------------


def homie(out: list[tuple[str, str]], node: str) -> dict[str, str]:
    prefix = f"homie/coffee/{node}/"
    return {t[len(prefix):]: p for t, p in out if t.startswith(prefix)}


def test_homie_topics_for_enum_number_and_boolean_setting():
    state, publisher = make(COFFEE, "coffee", homie=True, as_mqtt=False, summary=False, rename=Rename("short"))
    out = pairs(publisher.everything(state))
    assert out == [
        ("homie/coffee/$homie", "4.0.0"),
        ("homie/coffee/$name", "coffee"),
        ("homie/coffee/$nodes", ""),
    ]
    out = send(state, publisher, (DOOR, 1), (CHILD_LOCK, True), (FILL_QUANTITY, 120))
    assert dict(out)["homie/coffee/$nodes"] == "childlock,doorstate,fillquantity"
    assert homie(out, "doorstate") == {
        "$name": DOOR,
        "$type": "status",
        "$properties": "value",
        "value/$name": "DoorState",
        "value/$datatype": "enum",
        "value/$format": "Open,Closed",
        "value/$settable": "false",
        "value": "Closed",
    }
    assert homie(out, "childlock") == {
        "$name": CHILD_LOCK,
        "$type": "setting",
        "$properties": "value",
        "value/$name": "ChildLock",
        "value/$datatype": "boolean",
        "value/$settable": "true",
        "value": "true",
    }
    assert homie(out, "fillquantity") == {
        "$name": FILL_QUANTITY,
        "$type": "option",
        "$properties": "value",
        "value/$name": "FillQuantity",
        "value/$datatype": "integer",
        "value/$format": "20:400",
        "value/$settable": "true",
        "value": "120",
    }
    # A value change sends only the value topic.
    assert send(state, publisher, (CHILD_LOCK, False)) == [("homie/coffee/childlock/value", "false")]
    # A new node: the node list and that node's attributes, not the others' again.
    out = send(state, publisher, (OPERATION, 3))
    assert [t for t, _ in out] == [
        "homie/coffee/$nodes",
        "homie/coffee/operationstate/$name",
        "homie/coffee/operationstate/$type",
        "homie/coffee/operationstate/$properties",
        "homie/coffee/operationstate/value/$name",
        "homie/coffee/operationstate/value/$datatype",
        "homie/coffee/operationstate/value/$format",
        "homie/coffee/operationstate/value/$settable",
        "homie/coffee/operationstate/value",
    ]
    assert dict(out)["homie/coffee/$nodes"] == "childlock,doorstate,operationstate,fillquantity"
    # everything() repeats the whole structure.
    assert len(publisher.everything(state)) == 3 + 8 + 7 + 8 + 8


def test_homie_state_and_device_id():
    _state, publisher = make(WASHER, "Küche Waschmaschine 2", homie=True, homie_prefix="devices/")
    assert publisher.homie_base == "devices/kuche-waschmaschine-2"
    assert pairs(publisher.homie_state(True)) == [("devices/kuche-waschmaschine-2/$state", "ready")]
    assert pairs(publisher.homie_state(False)) == [("devices/kuche-waschmaschine-2/$state", "lost")]
    _, plain = make()
    assert plain.homie_state(True) == []


def test_homie_settable_follows_live_access():
    state, publisher = make(WASHER, "washer", homie=True, as_mqtt=False, summary=False)
    node = "homie/washer/bsh-common-setting-childlock/value/$settable"
    send(state, publisher, (CHILD_LOCK, False))
    assert dict(pairs(publisher.everything(state)))[node] == "false"  # access "none" in the profile
    uid = state.profile.by_name(CHILD_LOCK).uid
    state.apply_description_changes([{"uid": uid, "access": "READWRITE"}])
    assert dict(pairs(publisher.everything(state)))[node] == "true"


def test_refresh_sends_what_a_limits_change_alters_and_nothing_else():
    state, publisher = make(WASHER, "washer", homie=True, summary=False)
    node = "homie/washer/bsh-common-setting-childlock/value/$settable"
    send(state, publisher, (CHILD_LOCK, False))
    publisher.everything(state)
    uid = state.profile.by_name(CHILD_LOCK).uid
    state.apply_description_changes([{"uid": uid, "access": "READWRITE"}])
    assert pairs(publisher.refresh(state)) == [(node, "true")]
    assert publisher.refresh(state) == []
    # Without Homie no published topic depends on limits.
    plain_state, plain = make(WASHER, "washer")
    send(plain_state, plain, (CHILD_LOCK, False))
    plain_state.apply_description_changes([{"uid": uid, "access": "READWRITE"}])
    assert plain.refresh(plain_state) == []


def test_homie_payloads():
    assert [homie_payload(v) for v in (True, False, 21.5, 20.0, 7, "Closed")] == [
        "true",
        "false",
        "21.5",
        "20",
        "7",
        "Closed",
    ]


# -- the compact summary ---------------------------------------------------------------------------


def test_summary_maps_the_original_keys():
    state, publisher = make(as_mqtt=False)
    out = send(
        state,
        publisher,
        (OPERATION, 3),
        (DOOR, 1),
        (REMAINING, 10140),
        (POWER, 2),
        (LOW_WATER, 1),
        (AQUA_STOP, 0),
        (INTERNAL_ERROR, 2),
    )
    assert out[-1] == (
        T,
        '{"state": "Run", "door": "Closed", "remaining": "2:49", "power": true, '
        '"lowwaterpressure": true, "aquastop": false, "error": false, "remainingseconds": 10140}',
    )
    assert [t for t, _ in out[:-1]] == [  # the events themselves, in arrival order; Off is none
        f"{T}/event/bsh_common_event_lowwaterpressure",
        f"{T}/event/dishcare_dishwasher_event_internalerror",
    ]
    # Back to Off, and an hour with no minutes.
    out = send(state, publisher, (POWER, 1), (REMAINING, 3600), (LOW_WATER, 2))
    assert summary_of(out) == {
        "state": "Run",
        "door": "Closed",
        "remaining": "1:00",
        "power": False,
        "lowwaterpressure": False,
        "aquastop": False,
        "error": False,
        "remainingseconds": 3600,
    }


def test_summary_error_from_the_washers_fatal_error_and_other_power_states():
    state, publisher = make(WASHER, "washer", as_mqtt=False)
    out = send(state, publisher, ("LaundryCare.Common.Event.FatalErrorOccured", 1), (POWER, 3))
    assert summary_of(out, "homeconnect/washer") == {
        "state": None,
        "door": None,
        "remaining": None,
        "power": "Standby",
        "lowwaterpressure": None,
        "aquastop": None,
        "error": True,
        "remainingseconds": None,
    }


def test_summary_prefers_a_true_error():
    prof = profile(WASHER)
    internal = Feature(1, "X.Event.InternalError", Kind.EVENT)
    fatal = prof.by_name("LaundryCare.Common.Event.FatalErrorOccured")
    assert summary([(internal, "Off"), (fatal, "Present")])["error"] is True
    assert summary([(internal, "Present"), (fatal, "Confirmed")])["error"] is True
    assert summary([(internal, "Off"), (fatal, "Confirmed")])["error"] is False


def test_no_summary_without_mapped_features():
    prof = Profile(Description(), {5000: Feature(5000, "Vendor.Status.Humidity", Kind.STATUS, data_type=0x80)})
    state = ApplianceState(prof, "sensor")
    publisher = Publisher(Topics("homeconnect/", "sensor"), PublishOptions(), prof)
    out = publisher.changes(state, state.apply_values([{"uid": 5000, "value": 40}]))
    assert pairs(out) == [("homeconnect/sensor/state/vendor_status_humidity", "40")]


# -- info -------------------------------------------------------------------------------------------


def test_info_keys_are_published_lower_cased():
    state, publisher = make(summary=False)
    out = publisher.info({"deviceType": "Dishwasher", "mac": "aa-bb-cc", "ipV4": {"ipAddress": "192.0.2.7"}, "x": None})
    assert pairs(out) == [
        (f"{T}/state/devicetype", "Dishwasher"),
        (f"{T}/state/mac", "aa-bb-cc"),
        (f"{T}/state/ipv4", '{"ipAddress": "192.0.2.7"}'),
    ]
    # Unchanged info is not sent again, changed info is; everything() has it all.
    assert pairs(publisher.info({"deviceType": "Dishwasher", "swVersion": "3.1"})) == [(f"{T}/state/swversion", "3.1")]
    assert [t for t, _ in pairs(publisher.everything(state))] == [
        f"{T}/state/devicetype",
        f"{T}/state/mac",
        f"{T}/state/ipv4",
        f"{T}/state/swversion",
    ]


def test_info_keys_obey_the_filters():
    options = PublishOptions(publish_never=NameFilter(frozenset({"mac"}), ("ipV",)))
    publisher = Publisher(Topics("homeconnect/", "dishwasher"), options, profile(DISHWASHER))
    out = publisher.info({"deviceType": "Dishwasher", "mac": "aa-bb-cc", "ipV4": {"ipAddress": "192.0.2.7"}})
    assert pairs(out) == [(f"{T}/state/devicetype", "Dishwasher")]


# -- PublishOptions.parse ---------------------------------------------------------------------------


def test_parse_reads_every_key_over_a_base():
    base = PublishOptions.parse({"rename": {"default": "short", "527": "door"}, "publish_as_json": True})
    options = PublishOptions.parse(
        {
            "publish_as_mqtt": False,
            "publish_homie_topics": True,
            "homie_prefix": "my/homie",
            "publish_summary": False,
            "rename": {DOOR: "front_door", "4356": "dry"},
            "publish": {"long_names": [DOOR], "contains": ["Status"]},
            "publish_never": {"contains": ["Event"]},
        },
        base,
        "dishwasher",
    )
    assert options == PublishOptions(
        as_mqtt=False,
        as_json=True,
        homie=True,
        homie_prefix="my/homie/",
        summary=False,
        rename=Rename("short", {"527": "door", DOOR: "front_door", "4356": "dry"}),
        publish=NameFilter(frozenset({DOOR}), ("Status",)),
        publish_never=NameFilter(frozenset(), ("Event",)),
    )
    assert PublishOptions.parse(None, base, "dishwasher") is base
    assert PublishOptions.parse({}, None, "dishwasher") == PublishOptions()


@pytest.mark.parametrize(
    "block, message",
    [
        (
            {"rename": {"default": "medium"}},
            "devices.json: dishwasher: hc2mqtt.rename.default must be short, long or uid, not 'medium'",
        ),
        ({"rename": {"527": ""}}, "devices.json: dishwasher: hc2mqtt.rename.527 must be a non-empty name, not ''"),
        ({"rename": ["short"]}, "devices.json: dishwasher: hc2mqtt.rename must be an object"),
        ({"publish_as_json": "yes"}, f"{WHERE}publish_as_json must be true or false, not 'yes'"),
        ({"publish_as_jsn": True}, f"{WHERE}publish_as_jsn is not a publishing option; use one of"),
        ({"publish": {"names": ["X"]}}, f"{WHERE}publish.names is not known; use long_names or contains"),
        (
            {"publish_never": {"contains": "Event"}},
            "devices.json: dishwasher: hc2mqtt.publish_never.contains must be a list of non-empty strings",
        ),
        ({"publish": {"contains": [""]}}, f"{WHERE}publish.contains must be a list of non-empty strings"),
        ({"homie_prefix": "homie/#"}, "devices.json: dishwasher: hc2mqtt.homie_prefix must be a topic prefix"),
        ("publish_as_json", "devices.json: dishwasher: hc2mqtt must be an object of publishing options"),
    ],
)
def test_parse_errors_name_the_appliance_and_the_key(block, message):
    with pytest.raises(ConfigError) as caught:
        PublishOptions.parse(block, None, "dishwasher")
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, HcpyError)


def test_parse_errors_for_the_config_ini_defaults():
    with pytest.raises(ConfigError, match=r"^config\.ini: publish_summary must be true or false, not 1$"):
        PublishOptions.parse({"publish_summary": 1})


# -- whether each control works now --------------------------------------------------------


def test_controls_say_whether_they_work_now():
    state, publisher = make(summary=False, home_assistant=True)
    available = f"{T}/available/"
    start, delay = f"{available}start_selected_program", f"{available}bsh_common_option_startinrelative"
    abort = f"{available}bsh_common_command_abortprogram"
    everything = dict(pairs(publisher.everything(state)))
    # Options work only under a program that has them; no program is selected yet.
    assert everything[delay] == "offline" and everything[start] == "offline" and everything[abort] == "offline"
    assert everything[f"{available}bsh_common_setting_powerstate"] == "online"
    assert not [t for t in everything if t.startswith(available) and "remainingprogramtime" in t]  # never a control
    out = dict(send(state, publisher, ("BSH.Common.Root.SelectedProgram", 8196)))
    assert out[delay] == "online" and out[start] == "online"
    # What the appliance reports decides the start: no Remote Start, no start.
    out = dict(send(state, publisher, ("BSH.Common.Status.RemoteControlStartAllowed", False)))
    assert {t: p for t, p in out.items() if t.startswith(available)} == {start: "offline"}
    assert send(state, publisher, ("BSH.Common.Status.RemoteControlStartAllowed", False)) == []
    # Access changes (a description change) arrive through refresh().
    state.apply_description_changes([{"uid": state.profile.by_name("BSH.Common.Command.AbortProgram").uid, "access": "WRITEONLY"}])
    assert pairs(publisher.refresh(state)) == [(abort, "online")]
    assert publisher.refresh(state) == []


def test_no_usability_topics_unless_asked():
    state, publisher = make(summary=False)
    assert not [m for m in publisher.everything(state) if "/available/" in m.topic]
    assert publisher.refresh(state) == []


def test_the_program_end_is_worked_out_from_what_the_appliance_reports():
    state, publisher = make(summary=False, home_assistant=True)
    publisher.clock = lambda: 1_800_000_000.4  # 2027-01-15T08:00:00Z
    end = f"{T}/state/program_end"
    assert dict(pairs(publisher.everything(state)))[end] == "None"
    # Delayed by an hour, then a run of 2:49.
    out = dict(send(state, publisher, (OPERATION, "DelayedStart"), ("BSH.Common.Option.StartInRelative", 3600), (REMAINING, 10140)))
    assert out[end] == "2027-01-15T11:49:00+00:00"
    out = dict(send(state, publisher, (OPERATION, "Run"), ("BSH.Common.Option.StartInRelative", 0), (REMAINING, 600)))
    assert out[end] == "2027-01-15T08:10:00+00:00"
    assert dict(send(state, publisher, (OPERATION, "Finished")))[end] == "None"


@pytest.mark.parametrize(
    ("options", "topic"),
    [
        ({}, "homeconnect/dishwasher/state/30583"),  # hcpy2-0's layout
        ({"layout": Layout.OSRESEARCH}, "homeconnect/dishwasher/state/30583"),
        ({"layout": Layout.PUBLISHING_MODES}, None),  # that fork had no such topics
        ({"as_mqtt": False}, None),  # no per-feature topics at all
    ],
)
def test_a_uid_the_profile_lacks_goes_where_hcpy20_put_it(options, topic):
    state, publisher = make(**options, as_json=True, homie=True)
    out = publisher.changes(state, state.apply_values([{"uid": 0x7777, "value": 3}, {"uid": 527, "value": 1}]))
    unknown = [(m.topic, m.payload, m.retain) for m in out if m.topic.endswith("/30583")]
    assert unknown == ([(topic, "3", True)] if topic else [])
    # At a reconnect it is sent again with the rest; unchanged, it is not sent again.
    everything = [(m.topic, m.payload) for m in publisher.everything(state)]
    assert ((topic, "3") in everything) == (topic is not None)
    assert not [m for m in publisher.changes(state, state.apply_values([{"uid": 0x7777, "value": 3}])) if "30583" in m.topic]
    # Never in the JSON object, the summary or Homie: those hold the profile's features only.
    assert any(t == "homeconnect/dishwasher/state" for t, _ in everything)  # the JSON object is there
    assert all("30583" not in t + p for t, p in everything if t != topic)
