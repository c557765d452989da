"""A command that carries the retain flag is refused whenever it arrives, and never runs.

Retained commands are a trap: the broker keeps them and hands them to hcpy
again at every connect, so a program would start after each restart. hcpy
subscribes to its command topics over MQTT 5 with Retain As Published, so a
retained command published live is as recognisable as one the broker
replays; both are answered on T/response (400, with how to clear it) and
never reach the appliance. Over real sockets on both transports (the
dishwasher speaks TLS, the washer AES) and a real mosquitto. A broker that
speaks only MQTT 3.1.1 (played by a proxy that refuses MQTT 5 in front of
mosquitto) gets one warning and MQTT 3.1.1, and everything else still works;
a broker that refuses the connection for another reason is told so once and
asked again only after a backoff.
"""

from __future__ import annotations

import json
import logging
import time

import paho.mqtt.client as paho
import pytest
from support import (
    DISHWASHER,
    USER,
    WASHER,
    Broker,
    Mqtt311Only,
    Subscriber,
    bridged,
    posts,
    profile_files,
    simulated,
)

from hcpy.appliance.profile_xml import parse_profile
from hcpy.mqtt.link import MqttLink, MqttSettings

P = "homeconnect/"
WAIT = 15.0  # generous: the suite may run on a loaded machine

# (appliance, command topic, a valid command, the resource it is sent to)
COMMANDS = [
    ("dishwasher", "set", {"name": "BSH.Common.Setting.PowerState", "value": "Off"}, "/ro/values"),
    ("dishwasher", "activeProgram", {"program": "Eco50"}, "/ro/activeProgram"),
    ("dishwasher", "selectedProgram", {"program": "Eco50"}, "/ro/selectedProgram"),
    ("washer", "set", {"name": "BSH.Common.Setting.AllowBackendConnection", "value": False}, "/ro/values"),
]


@pytest.fixture(scope="module")
def profiles():
    return {"dishwasher": parse_profile(*profile_files(DISHWASHER)), "washer": parse_profile(*profile_files(WASHER))}


@pytest.fixture
def kitchen(profiles):
    """A TLS dishwasher and an AES washer, by name."""
    sims = {
        "dishwasher": simulated(profiles["dishwasher"], "dishwasher"),
        "washer": simulated(profiles["washer"], "washer", "aes", "legacy"),
    }
    yield sims
    for sim, _ in sims.values():
        sim.stop()


def publish_retained(subscriber, topic: str, payload) -> None:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    subscriber.client.publish(topic, body, qos=1, retain=True).wait_for_publish(5)


def answers(subscriber, base: str, since: int) -> list[dict]:
    return [json.loads(p) for t, p, _ in subscriber.messages[since:] if t == f"{base}/response"]


def sent_to(sim, resource: str) -> list:
    return [m for m in posts(sim) if m.resource == resource]


def assert_refused_as_retained(answer: dict, topic: str) -> None:
    assert (answer["status"], answer["code"]) == ("error", 400), answer
    assert topic in answer["error"], answer
    # It says what to do instead, and that it is gone.
    assert "without the retain flag" in answer["error"] and "cleared the retained one" in answer["error"], answer


def retained_on(port: int, topic: str) -> list[str]:
    """What the broker holds retained on `topic`, as a newcomer sees it."""
    late = Subscriber(port, client_id="retained-check")
    try:
        late.sync()  # every retained message came before its marker
    finally:
        late.close()
    return [p for t, p, retained in late.messages if t == topic and retained]


@pytest.mark.parametrize("name, suffix, command, resource", COMMANDS, ids=[f"{c[0]}-{c[1]}" for c in COMMANDS])
def test_a_retained_command_published_live_is_refused(broker, subscriber, kitchen, name, suffix, command, resource):
    sim, _ = kitchen[name]
    base, topic = f"{P}{name}", f"{P}{name}/{suffix}"
    with bridged(broker.port, list(kitchen.values())):
        subscriber.wait(f"{base}/LWT", "online", timeout=WAIT)
        before = len(sent_to(sim, resource))
        mark = subscriber.mark()
        # Live: hcpy is subscribed already, so the broker forwards it (MQTT
        # 3.1.1 would clear its retain flag on the way).
        publish_retained(subscriber, topic, command)
        assert_refused_as_retained(json.loads(subscriber.wait(f"{base}/response", since=mark, timeout=WAIT)), topic)
        assert len(sent_to(sim, resource)) == before
        # hcpy cleared it: an empty retained message, no command, no answer.
        subscriber.wait(topic, "", since=mark, timeout=WAIT)
        assert retained_on(broker.port, topic) == []
        # Cleared again by the user: still no command.
        publish_retained(subscriber, topic, b"")
        # The same command without the flag is valid, and runs.
        answer = subscriber.response(topic, command)
        assert answer["status"] == "ok", answer
        assert len(answers(subscriber, base, mark)) == 2  # the refusal and this one: nothing for the clearings
        assert len(sent_to(sim, resource)) == before + 1


def test_a_retained_command_is_refused_at_connect_and_at_every_reconnect(broker, subscriber, kitchen):
    dish, _ = kitchen["dishwasher"]
    base, topic = f"{P}dishwasher", f"{P}dishwasher/set"
    # Left on the broker before hc2mqtt starts.
    publish_retained(subscriber, topic, {"name": "BSH.Common.Setting.PowerState", "value": "Off"})
    try:
        with bridged(broker.port, list(kitchen.values())):
            assert_refused_as_retained(json.loads(subscriber.wait(f"{base}/response", timeout=WAIT)), topic)
            subscriber.wait(f"{base}/LWT", "online", timeout=WAIT)
            subscriber.wait(topic, "", timeout=WAIT)  # hcpy cleared it
            # Left again (a tool that keeps doing it); another client with
            # hcpy's client id takes the session over: the broker drops hcpy,
            # which connects again and is given the replay.
            intruder = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, client_id="hcpy-test")
            intruder.connect("127.0.0.1", broker.port)
            mark = subscriber.mark()
            publish_retained(subscriber, topic, {"name": "BSH.Common.Setting.PowerState", "value": "Off"})
            intruder.loop(1.0)
            assert_refused_as_retained(json.loads(subscriber.wait(f"{base}/response", since=mark, timeout=WAIT)), topic)
            intruder.disconnect()
            # (Forwarded live and replayed at the reconnect, it may be refused
            # twice: the answer to this one is the one with its transaction.)
            mark = subscriber.mark()
            subscriber.publish(topic, {"name": "BSH.Common.Setting.PowerState", "value": "On", "transaction": "on"})
            answer = json.loads(subscriber.wait(f"{base}/response", lambda p: '"transaction": "on"' in p, since=mark,
                                                timeout=WAIT))  # fmt: skip
            assert answer["status"] == "ok", answer
            assert [m.data for m in sent_to(dish, "/ro/values")] == [[{"uid": 539, "value": 2}]]  # never the Off
    finally:
        publish_retained(subscriber, topic, b"")


def test_discovery_configs_are_still_told_apart_by_the_broker_replaying_them(broker, subscriber, kitchen):
    # The configs subscription keeps MQTT's usual retain flag: only what the
    # broker held at connect counts as left by someone, never hcpy's own
    # (retained) configs coming back to it live.
    foreign = "homeassistant/sensor/hcpy/dishwasher_uptime/config"
    publish_retained(subscriber, foreign, {"name": "old"})
    own = "homeassistant/sensor/hcpy/dishwasher_bsh_common_status_doorstate/config"
    try:
        with bridged(broker.port, list(kitchen.values()), ha_discovery=True) as bridge:
            subscriber.wait(own, timeout=WAIT)
            # Forwarded to hcpy before this command, which hcpy reads after it.
            answer = subscriber.response(f"{P}dishwasher/set", {"name": "BSH.Common.Setting.PowerState", "value": "On"})
            assert answer["status"] == "ok", answer
            assert foreign in bridge._retained_configs
            assert own not in bridge._retained_configs
    finally:
        publish_retained(subscriber, foreign, b"")


# -- a broker that speaks only MQTT 3.1.1 ---------------------------------------------------


def test_a_broker_that_speaks_only_mqtt_311_gets_a_warning_and_mqtt_311(broker, subscriber, kitchen, caplog):
    dish, _ = kitchen["dishwasher"]
    base, topic = f"{P}dishwasher", f"{P}dishwasher/set"
    proxy = Mqtt311Only(broker.port)
    start = subscriber.mark()
    publish_retained(subscriber, topic, {"name": "BSH.Common.Setting.PowerState", "value": "Off"})
    try:
        with caplog.at_level(logging.INFO, logger="hcpy"), bridged(proxy.port, list(kitchen.values())):
            # Replayed at connect: still refused over MQTT 3.1.1.
            assert_refused_as_retained(json.loads(subscriber.wait(f"{base}/response", timeout=WAIT)), topic)
            # Cleared: over 3.1.1 that arrives without the flag, and is still no command.
            publish_retained(subscriber, topic, b"")
            # State goes out (framed for 3.1.1), on both transports, and commands work.
            subscriber.wait(f"{base}/LWT", "online", timeout=WAIT)
            subscriber.wait(f"{P}washer/state/bsh_common_status_doorstate", timeout=WAIT)
            mark = subscriber.mark()
            dish.set_value("BSH.Common.Status.DoorState", 0)
            subscriber.wait(f"{base}/state/bsh_common_status_doorstate", "Open", since=mark, timeout=WAIT)
            answer = subscriber.response(topic, {"name": "BSH.Common.Setting.PowerState", "value": "On"})
            assert answer["status"] == "ok", answer
            assert [m.data for m in sent_to(dish, "/ro/values")] == [[{"uid": 539, "value": 2}]]
            assert len(answers(subscriber, base, start)) == 2  # the refusal and the command: nothing for the clearing
    finally:
        proxy.close()
        publish_retained(subscriber, topic, b"")
    assert proxy.levels == [5, 4]  # MQTT 5 once, then 3.1.1 for good
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "only MQTT 3.1.1" in r.getMessage()]
    assert len(warnings) == 1
    assert "retain flag cannot be recognised" in warnings[0].getMessage()
    assert "replays at connect are still refused" in warnings[0].getMessage()
    assert not [r for r in caplog.records if r.name == "hcpy.mqtt" and r.levelno >= logging.ERROR]


def test_a_refused_connection_is_said_once_and_not_retried_at_once(tmp_path, pki, caplog):
    # The refusal and the fallback share one path: a CONNACK that says no is
    # followed by the usual backoff (it was a tight reconnect loop, thousands
    # of attempts and log lines a second, with a wrong password).
    broker = Broker(tmp_path, f"allow_anonymous false\npassword_file {pki / 'passwords'}\n")
    broker.start()
    link = MqttLink(
        MqttSettings(host="127.0.0.1", port=broker.port, username=USER, password="wrong", clientname="refused"),
        lambda: None, lambda *a: None,
    )  # fmt: skip
    try:
        with caplog.at_level(logging.DEBUG, logger="hcpy.mqtt"):
            link.start()
            # The second refusal is only logged at DEBUG; wait for it.
            deadline = time.monotonic() + WAIT
            while not [r for r in caplog.records if r.levelno == logging.DEBUG and "refused the connection" in r.getMessage()]:
                assert time.monotonic() < deadline, caplog.text[-2000:]
                time.sleep(0.05)
            assert not link.connected
    finally:
        link.stop()
        broker.stop()
    refusals = [r for r in caplog.records if "refused the connection" in r.getMessage()]
    errors = [r for r in refusals if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "mqtt_username/mqtt_password" in errors[0].getMessage(), refusals
    assert "wrong" not in caplog.text
    # Two attempts a second apart, not thousands (a loaded machine only makes fewer).
    assert len(refusals) < 10
    assert broker.log.read_text().count("New connection from") < 10
