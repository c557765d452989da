"""hc2mqtt end to end: simulators <-> bridge <-> a real mosquitto <-> a subscriber."""

from __future__ import annotations

import json
import time

import pytest
from support import DISHWASHER, WASHER, Subscriber, bridged, posts, profile_files, simulated

from hcpy.appliance.profile_xml import parse_profile

P = "homeconnect/"


@pytest.fixture(scope="module")
def profiles():
    return {"dishwasher": parse_profile(*profile_files(DISHWASHER)), "washer": parse_profile(*profile_files(WASHER))}


def running(broker, sims_and_entries, **settings):
    return bridged(broker.port, sims_and_entries, **settings)


def appliance(profile, name, transport="tls", services="iz"):
    return simulated(profile, name, transport, services)


@pytest.fixture
def kitchen(profiles):
    """A TLS dishwasher and an AES washer."""
    pair = [appliance(profiles["dishwasher"], "dishwasher"), appliance(profiles["washer"], "washer", "aes", "legacy")]
    yield pair
    for sim, _ in pair:
        sim.stop()


# -- publishing --------------------------------------------------------------------------


def test_state_and_availability_topics(broker, subscriber, kitchen, profiles):
    (dish, _), (_washer, _) = kitchen
    with running(broker, kitchen):
        subscriber.wait(f"{P}LWT", "online")
        for name in ("dishwasher", "washer"):
            subscriber.wait(f"{P}{name}/LWT", "online")
        # Values as the simulators hold them, decoded by the profile, hcpy2-0 style.
        door = subscriber.wait(f"{P}dishwasher/state/bsh_common_status_doorstate")
        assert door in profiles["dishwasher"].features[527].enum.members.values()
        subscriber.wait(f"{P}washer/state/bsh_common_status_doorstate")
        # A change on the appliance reaches MQTT.
        mark = subscriber.mark()
        dish.set_value("BSH.Common.Status.DoorState", 0)
        subscriber.wait(f"{P}dishwasher/state/bsh_common_status_doorstate", "Open", since=mark)
        dish.set_value("Dishcare.Dishwasher.Setting.ExtraDry", True)
        subscriber.wait(f"{P}dishwasher/state/dishcare_dishwasher_setting_extradry", "True")
        # Device info from the handshake, as hcpy2-0 published it.
        assert subscriber.wait(f"{P}dishwasher/state/vib") == "SN658X06TE"
        # Events: a JSON object, on every occurrence.
        event = next(f for f in profiles["dishwasher"].features.values() if f.kind.value == "event")
        mark = subscriber.mark()
        dish.set_value(event.uid, 1)
        payload = subscriber.wait(f"{P}dishwasher/event/{event.feature_id}", since=mark)
        assert json.loads(payload) == {"event_type": "Present"}
        # The compact summary on T.
        summary = json.loads(subscriber.wait(f"{P}dishwasher", lambda p: json.loads(p).get("door") == "Open"))
        assert set(summary) >= {"state", "door", "remaining", "power", "remainingseconds"}
        mark = subscriber.mark()
    # A clean stop says offline, for the bridge and for each appliance.
    subscriber.wait(f"{P}LWT", "offline", since=mark)
    subscriber.wait(f"{P}dishwasher/LWT", "offline", since=mark)


def test_retained_and_published_on_change_only(broker, subscriber, kitchen):
    (dish, _), _ = kitchen
    with running(broker, kitchen):
        subscriber.wait(f"{P}dishwasher/state/bsh_common_status_doorstate")
        subscriber.wait(f"{P}washer/state/bsh_common_status_doorstate")  # (slower under load: AES)
        mark = subscriber.mark()
        dish.set_value("BSH.Common.Status.DoorState", 0)
        subscriber.wait(f"{P}dishwasher/state/bsh_common_status_doorstate", "Open", since=mark)
        mark = subscriber.mark()
        dish.set_value("BSH.Common.Status.DoorState", 0)  # the same again
        dish.set_value("Dishcare.Dishwasher.Setting.ExtraDry", True)
        subscriber.wait(f"{P}dishwasher/state/dishcare_dishwasher_setting_extradry", "True", since=mark)
        door = [m for m in subscriber.messages[mark:] if m[0] == f"{P}dishwasher/state/bsh_common_status_doorstate"]
        assert door == []
    # A newcomer gets the retained state.
    late = Subscriber(broker.port)
    try:
        assert late.wait(f"{P}dishwasher/state/bsh_common_status_doorstate") == "Open"
        assert any(retained for t, _, retained in late.messages if t.endswith("/bsh_common_status_doorstate"))
    finally:
        late.close()


def test_home_assistant_discovery(broker, subscriber, kitchen):
    with running(broker, kitchen, ha_discovery=True):
        topic = "homeassistant/sensor/hcpy/dishwasher_bsh_common_status_doorstate/config"
        config = json.loads(subscriber.wait(topic))
        assert config["unique_id"] == "dishwasher_bsh_common_status_doorstate"
        assert config["state_topic"] == f"{P}dishwasher/state/bsh_common_status_doorstate"
        assert {"topic": f"{P}dishwasher/LWT"} in config["availability"]
        # hcpy2-0's diagnostic network sensors, from /ni/info.
        ip = json.loads(subscriber.wait("homeassistant/sensor/hcpy/dishwasher_ipv4/config"))
        assert ip["unique_id"] == "dishwasher_ipv4" and ip["entity_category"] == "diagnostic"
        assert ip["state_topic"] == f"{P}dishwasher/state/ipv4"
        assert "ipAddress" in json.loads(subscriber.wait(ip["state_topic"]))


# -- commands ---------------------------------------------------------------------------------


def test_set_by_name_is_answered_and_applied(broker, subscriber, kitchen):
    (dish, _), _ = kitchen
    with running(broker, kitchen):
        subscriber.wait(f"{P}dishwasher/LWT", "online")
        answer = subscriber.response(
            f"{P}dishwasher/set", {"name": "BSH.Common.Setting.PowerState", "value": "Off", "transaction": "t-1"}
        )
        assert answer["status"] == "ok" and answer["transaction"] == "t-1" and answer["command"] == "set"
        assert posts(dish)[-1].data == [{"uid": 539, "value": 1}]
        subscriber.wait(f"{P}dishwasher/state/bsh_common_setting_powerstate", "Off")


def test_programs_are_selected_and_started(broker, subscriber, kitchen):
    (dish, _), _ = kitchen
    with running(broker, kitchen):
        subscriber.wait(f"{P}dishwasher/LWT", "online")
        answer = subscriber.response(f"{P}dishwasher/selectedProgram", {"program": "Eco50"})
        assert answer["status"] == "ok", answer
        subscriber.wait(f"{P}dishwasher/state/bsh_common_root_selectedprogram", "Dishcare.Dishwasher.Program.Eco50")
        answer = subscriber.response(f"{P}dishwasher/activeProgram", {"program": "selected"})
        assert answer["status"] == "ok", answer
        assert posts(dish)[-1].resource == "/ro/activeProgram"
        assert posts(dish)[-1].data[0]["program"] == 8196
        subscriber.wait(f"{P}dishwasher/state/bsh_common_root_activeprogram", "Dishcare.Dishwasher.Program.Eco50")


BAD_COMMANDS = [
    ("set", b"{not json", 400, "not valid JSON"),
    ("set", {"name": "BSH.Common.Setting.Nope", "value": 1}, 404, "no feature"),
    ("set", {"name": "BSH.Common.Status.DoorState", "value": "Open"}, 403, "not writable"),
    ("set", {"uid": 539, "value": "Sideways"}, 400, "not a value"),
    ("set", {"name": "Dishcare.Dishwasher.Setting.ExtraDry", "value": "maybe"}, 400, "true or false"),
    ("selectedProgram", {"program": "Dishcare.Dishwasher.Program.Nope"}, 404, "no program"),
    ("activeProgram", {"program": "Eco50", "options": [{"uid": 544, "value": 60}]}, 400, "not an option"),
    ("activeProgram", {"program": "Eco50", "options": [{"uid": 558, "value": "soon"}]}, 400, "number"),
]


def test_bad_commands_are_refused_and_never_sent(broker, subscriber, kitchen):
    (dish, _), _ = kitchen
    with running(broker, kitchen):
        subscriber.wait(f"{P}dishwasher/LWT", "online")
        before = len(posts(dish))
        for suffix, payload, code, words in BAD_COMMANDS:
            answer = subscriber.response(f"{P}dishwasher/{suffix}", payload)
            assert answer["status"] == "error", answer
            assert answer["code"] == code, answer
            assert words in answer["error"], answer
        assert len(posts(dish)) == before


def test_the_appliances_refusal_comes_back_with_its_name(broker, subscriber, kitchen):
    (dish, _), _ = kitchen
    with running(broker, kitchen):
        subscriber.wait(f"{P}dishwasher/LWT", "online")
        dish.fail_next("/ro/values", 403)
        answer = subscriber.response(f"{P}dishwasher/set", {"name": "PowerState", "value": "On"})
        assert (answer["status"], answer["code"], answer["name"]) == ("error", 403, "Forbidden")
        assert "refused" in answer["error"]


def test_offline_appliance(broker, subscriber, kitchen):
    (dish, _), _ = kitchen
    with running(broker, kitchen):
        subscriber.wait(f"{P}dishwasher/LWT", "online")
        mark = subscriber.mark()
        dish.stop()
        subscriber.wait(f"{P}dishwasher/LWT", "offline", since=mark)
        answer = subscriber.response(f"{P}dishwasher/set", {"name": "PowerState", "value": "On"})
        assert answer["status"] == "error" and "offline" in answer["error"]
        # The other appliance is unaffected.
        answer = subscriber.response(f"{P}washer/set", {"name": "BSH.Common.Setting.AllowBackendConnection", "value": False})
        assert answer["status"] == "ok", answer


# -- resilience ------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["drop_connections", "go_silent", "send_bad_mac"])
def test_appliance_faults_lead_to_a_reconnect(broker, subscriber, kitchen, fault):
    _, (washer, _) = kitchen  # AES, so a bad MAC is possible
    with running(broker, kitchen):
        subscriber.wait(f"{P}washer/LWT", "online")
        mark = subscriber.mark()
        getattr(washer, fault)()
        subscriber.wait(f"{P}washer/LWT", "offline", since=mark)
        subscriber.wait(f"{P}washer/LWT", "online", since=mark)
        # Fully republished after the return.
        subscriber.wait(f"{P}washer/state/bsh_common_status_doorstate", since=mark)


def test_broker_restart_republishes_everything(broker, subscriber, kitchen):
    with running(broker, kitchen):
        subscriber.wait(f"{P}dishwasher/state/bsh_common_status_doorstate")
        broker.stop()
        broker.start()  # same port, no persistence: every retained topic is gone
        mark = subscriber.mark()
        subscriber.wait(f"{P}LWT", "online", timeout=15, since=mark)
        subscriber.wait(f"{P}dishwasher/state/bsh_common_status_doorstate", timeout=15, since=mark)
        subscriber.wait(f"{P}washer/LWT", "online", since=mark)
        # Commands work again: subscriptions were renewed.
        answer = subscriber.response(f"{P}dishwasher/set", {"name": "PowerState", "value": "On"})
        assert answer["status"] == "ok"


def test_two_appliances_of_the_same_type(broker, subscriber, profiles):
    from hcpy.appliance.entry import unique_names

    first = appliance(profiles["dishwasher"], "dishwasher")
    second = appliance(profiles["dishwasher"], "dishwasher", "aes")
    entries = unique_names([first[1], second[1]])
    assert [e.name for e in entries] == ["dishwasher", "dishwasher_2"]
    try:
        with running(broker, [(first[0], entries[0]), (second[0], entries[1])]):
            subscriber.wait(f"{P}dishwasher/LWT", "online")
            subscriber.wait(f"{P}dishwasher_2/LWT", "online")
            second[0].set_value("BSH.Common.Status.DoorState", 0)
            first[0].set_value("BSH.Common.Status.DoorState", 1)
            subscriber.wait(f"{P}dishwasher_2/state/bsh_common_status_doorstate", "Open")
            subscriber.wait(f"{P}dishwasher/state/bsh_common_status_doorstate", "Closed")
            answer = subscriber.response(f"{P}dishwasher_2/set", {"name": "PowerState", "value": "Off"})
            assert answer["status"] == "ok"
            assert posts(second[0])[-1].data == [{"uid": 539, "value": 1}]
            assert [m for m in posts(first[0]) if m.resource == "/ro/values"] == []
    finally:
        first[0].stop()
        second[0].stop()


def test_shutdown_is_quick(broker, subscriber, kitchen):
    with running(broker, kitchen) as bridge:
        subscriber.wait(f"{P}dishwasher/LWT", "online")
        subscriber.wait(f"{P}washer/LWT", "online")
        mark = subscriber.mark()
    subscriber.wait(f"{P}LWT", "offline", since=mark)
    subscriber.wait(f"{P}washer/LWT", "offline", since=mark)
    assert not any(a.connection.running for a in bridge.appliances)


def test_per_appliance_options_block(broker, subscriber, profiles):
    sim, entry = appliance(profiles["dishwasher"], "dishwasher")
    entry.extra["hc2mqtt"] = {
        "publish_as_json": True,
        "publish_homie_topics": True,
        "rename": {"default": "short", "BSH.Common.Status.DoorState": "door"},
        "publish_never": {"contains": ["WiFi"]},
    }
    try:
        with running(broker, [(sim, entry)]):
            subscriber.wait(f"{P}dishwasher/state/door")
            subscriber.wait(f"{P}dishwasher/state/powerstate")
            document = json.loads(subscriber.wait(f"{P}dishwasher/state", lambda p: "door" in json.loads(p)))
            assert "PowerState" in document
            assert subscriber.wait("homie/dishwasher/$homie") == "4.0.0"
            subscriber.wait("homie/dishwasher/door/value")
            mark = subscriber.mark()
            sim.set_value("BSH.Common.Status.DoorState", 0)
            subscriber.wait(f"{P}dishwasher/state/door", "Open", since=mark)
            subscriber.wait("homie/dishwasher/door/value", "Open", since=mark)
            # Commands still take full names, whatever the topics are called.
            answer = subscriber.response(f"{P}dishwasher/set", {"name": "BSH.Common.Setting.PowerState", "value": "On"})
            assert answer["status"] == "ok"
        assert not [t for t, _, _ in subscriber.messages if "wifi" in t.lower()]
        assert not [t for t, _, _ in subscriber.messages if t.endswith("/bsh_common_status_doorstate")]
    finally:
        sim.stop()


def test_a_broken_options_block_costs_only_the_options(broker, subscriber, profiles, caplog):
    sim, entry = appliance(profiles["dishwasher"], "dishwasher")
    entry.extra["hc2mqtt"] = {"rename": {"default": "medium"}}
    try:
        with running(broker, [(sim, entry)]):
            subscriber.wait(f"{P}dishwasher/state/bsh_common_status_doorstate")
        assert any("rename.default" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)
    finally:
        sim.stop()


def test_a_bug_in_command_handling_still_answers(broker, subscriber, kitchen, monkeypatch):
    import hcpy.mqtt.command

    def broken(state, body):
        raise RuntimeError("simulated bug")

    with running(broker, kitchen):
        subscriber.wait(f"{P}dishwasher/LWT", "online")
        monkeypatch.setattr(hcpy.mqtt.command, "build_set", broken)
        answer = subscriber.response(f"{P}dishwasher/set", {"name": "PowerState", "value": "On"})
        assert (answer["status"], answer["code"]) == ("error", 500)
        monkeypatch.undo()
        answer = subscriber.response(f"{P}dishwasher/set", {"name": "PowerState", "value": "On"})
        assert answer["status"] == "ok"


def test_indigestible_reports_cost_only_themselves(broker, subscriber, kitchen, caplog):
    (dish, _), _ = kitchen
    with running(broker, kitchen):
        subscriber.wait(f"{P}dishwasher/LWT", "online")
        mark = subscriber.mark()
        dish.notify("/ro/descriptionChange", [{"uid": 539, "access": {"odd": True}}])
        dish.notify("/ro/values", [{"uid": 544, "value": float("inf")}])  # sent as Infinity
        dish.notify("/ro/values", [{"uid": 544, "value": [1, {"a": None}]}, {"uid": None}])
        dish.set_value("BSH.Common.Status.DoorState", 0)
        subscriber.wait(f"{P}dishwasher/state/bsh_common_status_doorstate", "Open", since=mark)
        assert ("homeconnect/dishwasher/LWT", "offline") not in [(t, p) for t, p, _ in subscriber.messages[mark:]]
    assert any("Infinity" in r.getMessage() for r in caplog.records)


def test_retained_commands_are_not_replayed(broker, subscriber, kitchen):
    (dish, _), _ = kitchen
    # Left on the broker by some tool before hc2mqtt starts.
    subscriber.client.publish(f"{P}dishwasher/set", json.dumps({"name": "PowerState", "value": "Off"}), qos=1, retain=True).wait_for_publish(5)
    with running(broker, kitchen):
        answer = json.loads(subscriber.wait(f"{P}dishwasher/response"))
        assert answer["status"] == "error" and "retain" in answer["error"]
        subscriber.wait(f"{P}dishwasher/set", "")  # and cleared it from the broker
        subscriber.wait(f"{P}dishwasher/LWT", "online")
        assert [m for m in posts(dish) if m.resource == "/ro/values"] == []
    subscriber.client.publish(f"{P}dishwasher/set", b"", qos=1, retain=True).wait_for_publish(5)


def test_option_limits_of_the_program_end_to_end(broker, subscriber, kitchen, profiles):
    _, (washer, _) = kitchen
    cotton = next(p for p in profiles["washer"].programs.values() if p.name.endswith(".Cotton"))
    with running(broker, kitchen) as bridge:
        subscriber.wait(f"{P}washer/LWT", "online")
        washer.set_description(cotton.uid, available=True)  # as a real washer does at run time
        state = bridge.appliances[1].state
        deadline = time.monotonic() + 5
        while not state.limits[cotton.uid].available and time.monotonic() < deadline:
            time.sleep(0.02)
        for duration, words in ((100, "out of range"), (650, "not a step")):
            body = {"program": "Cotton", "options": [{"name": "BSH.Common.Option.Duration", "value": duration}]}
            answer = subscriber.response(f"{P}washer/selectedProgram", body)
            assert (answer["status"], answer["code"]) == ("error", 400) and words in answer["error"], answer
        body = {"program": "Cotton", "options": [{"name": "BSH.Common.Option.Duration", "value": 600}]}
        answer = subscriber.response(f"{P}washer/selectedProgram", body)
        assert answer["status"] == "ok", answer
        selected = [m for m in posts(washer) if m.resource == "/ro/selectedProgram"]
        assert selected == selected[-1:] and selected[0].data == [{"program": cotton.uid, "options": [{"uid": 548, "value": 600}]}]


def test_stale_discovery_configs_left_on_the_broker_are_removed(broker, subscriber, kitchen):
    stale = "homeassistant/switch/hcpy/dishwasher_bsh_common_status_doorstate/config"  # DoorState is read-only
    foreign = "homeassistant/sensor/hcpy/dishwasher_uptime/config"  # not a feature: not ours to judge
    other = "homeassistant/switch/hcpy/oven_bsh_common_setting_childlock/config"  # another appliance
    for topic in (stale, foreign, other):
        subscriber.client.publish(topic, json.dumps({"name": "old"}), qos=1, retain=True).wait_for_publish(5)
    with running(broker, kitchen, ha_discovery=True):
        subscriber.wait("homeassistant/sensor/hcpy/dishwasher_bsh_common_status_doorstate/config")
        subscriber.wait(stale, "")
    late = Subscriber(broker.port)
    try:
        late.wait(foreign)
        late.wait(other)
        late.wait("homeassistant/sensor/hcpy/dishwasher_bsh_common_status_doorstate/config")
        late.sync()  # every retained config has come: the stale one would be among them
        assert stale not in late.last
    finally:
        late.close()


def test_a_description_change_republishes_only_the_configs_it_alters(broker, subscriber, kitchen):
    (dish, _), _ = kitchen
    abort = "homeassistant/button/hcpy/dishwasher_bsh_common_command_abortprogram/config"
    delay = "homeassistant/number/hcpy/dishwasher_bsh_common_option_startinrelative/config"
    with running(broker, kitchen, ha_discovery=True) as bridge:
        subscriber.wait(abort)
        subscriber.wait(f"{P}dishwasher/available/bsh_common_command_abortprogram", "offline")
        subscriber.wait("homeassistant/sensor/hcpy/dishwasher_program_end/config")  # the last config of the batch
        mark = subscriber.mark()
        connects = (bridge.link.connects, bridge.appliances[0].connection.stats.connects)

        def configs_since_mark() -> list[str]:
            sent = [(t, p) for t, p, _ in subscriber.messages[mark:] if "/hcpy/dishwasher_" in t]
            if (bridge.link.connects, bridge.appliances[0].connection.stats.connects) != connects:
                # A reconnect (the fast test timing on a loaded machine) republishes
                # every config, rightly; then only those that read differently count.
                before = {t: p for t, p, _ in subscriber.messages[:mark]}
                sent = [(t, p) for t, p in sent if before.get(t) != p]
            return [t for t, _ in sent]

        # A program started: the button that was there all along works now.
        dish.set_description("BSH.Common.Command.AbortProgram", access="WRITEONLY")
        subscriber.wait(f"{P}dishwasher/available/bsh_common_command_abortprogram", "online", since=mark)
        assert configs_since_mark() == []
        # New bounds for the delayed start: that number's config, and nothing else.
        dish.set_description("BSH.Common.Option.StartInRelative", max=7200)
        assert json.loads(subscriber.wait(delay, lambda p: json.loads(p)["max"] == 120, since=mark))["max"] == 120
        assert configs_since_mark() == [delay]
