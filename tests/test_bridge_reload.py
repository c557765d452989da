"""Bridge.apply: appliances added, changed and removed while the bridge runs (simulators, a real broker)."""

from __future__ import annotations

import dataclasses
import json

from support import DISHWASHER, WASHER, Subscriber, bridged, eventually

from hcpy.errors import ConfigError

T = "homeconnect/"
CONFIGS = "homeassistant/"


class Recorder:
    """A BridgeListener that remembers which appliances told it something."""

    def __init__(self):
        self.heard: set[str] = set()

    def values_changed(self, appliance, changes):
        self.heard.add(appliance.name)

    def connection_changed(self, appliance):
        self.heard.add(appliance.name)

    def answered(self, appliance, response):
        self.heard.add(appliance.name)


def retained_on_broker(broker, client_id: str) -> dict[str, str]:
    """What the broker holds retained now: a fresh client's replays (empty payloads are no retained message)."""
    fresh = Subscriber(broker.port, client_id)
    try:
        fresh.sync()
        return {topic: payload for topic, payload, retained in fresh.messages if retained}
    finally:
        fresh.close()


def answered_by(subscriber, topic, payload, witness_topic, witness_payload) -> bool:
    """Whether hcpy answered `payload` on `topic`; a witness command, answered after it, settles the question.

    The broker forwards hcpy's messages in order, and hcpy answers them in
    order: once the witness's answer is out, the first had its answer, if any.
    """
    mark = subscriber.mark()
    subscriber.publish(topic, payload)
    answer = subscriber.response(witness_topic, witness_payload, since=mark)
    assert answer["status"], answer
    base = topic.rpartition("/")[0]
    return any(t == f"{base}/response" for t, _, _ in subscriber.messages[mark:])


def test_appliances_come_change_and_go_while_the_bridge_runs(broker, subscriber, sims, tmp_path):
    dishwasher_sim, dishwasher = sims(DISHWASHER, "dishwasher")
    washer_sim, washer = sims(WASHER, "washer", "aes")
    moved_sim, moved_entry = sims(WASHER, "washer", "aes")  # the washer, somewhere else with a new key
    listener = Recorder()
    with bridged(broker.port, [], ha_discovery=True, runs_dir=tmp_path / "runs") as bridge:
        bridge.add_listener(listener)
        assert bridge.link.wait_connected(10)
        assert bridge.appliances == []

        diff = bridge.apply([dishwasher])
        assert [e.name for e in diff.added] == ["dishwasher"]
        subscriber.wait(T + "dishwasher/LWT", "online")
        subscriber.wait(T + "dishwasher/state/bsh_common_status_doorstate")
        # Its commands are subscribed: answered.
        assert subscriber.response(T + "dishwasher/set", {"name": "PowerState", "value": "On"})["status"] == "ok"

        # A second one: the first goes on, its connection untouched.
        diff = bridge.apply([dishwasher, washer])
        assert [e.name for e in diff.added] == ["washer"] and not diff.changed
        subscriber.wait(T + "washer/LWT", "online")
        washer_config = eventually(lambda: [t for t, p, _ in subscriber.messages
                                            if t.startswith(CONFIGS) and "/washer_" in t and p], what="washer's configs")  # fmt: skip
        eventually(lambda: "washer" in listener.heard, what="the listener hearing of the washer")
        assert dishwasher_sim.accepted == 1

        # The same again: nothing to do.
        assert not bridge.apply([dataclasses.replace(dishwasher), dataclasses.replace(washer)])

        # The washer moved: reconnected there; the dishwasher still untouched.
        mark = subscriber.mark()
        diff = bridge.apply([dishwasher, moved_entry])
        assert [c.entry.name for c in diff.changed] == ["washer"]
        assert diff.changed[0].reason == "its port and key changed"
        assert moved_sim.wait_connected(10)
        subscriber.wait(T + "washer/LWT", "online", since=mark)
        assert dishwasher_sim.accepted == 1
        assert eventually(lambda: washer_sim.connection_count == 0, what="the old washer's connection to end") is True
        # Its Home Assistant entities stayed (only a removal clears them).
        assert not any(t in washer_config and p == "" for t, p, _ in subscriber.messages[mark:])

        # Removed: offline, commands no longer taken, nothing of it left retained but its LWT.
        mark = subscriber.mark()
        diff = bridge.apply([dishwasher])
        assert diff.removed == ("washer",)
        subscriber.wait(T + "washer/LWT", "offline", since=mark)
        assert not any(t.startswith(T + "washer/") for t in bridge.link.subscriptions)
        assert eventually(lambda: moved_sim.connection_count == 0, what="the washer's connection to end") is True
        retained = retained_on_broker(broker, "after-removal")
        assert {t: p for t, p in retained.items() if t.startswith(T + "washer/")} == {T + "washer/LWT": "offline"}
        assert not [t for t in retained if t.startswith(CONFIGS) and "/washer_" in t]
        # Its run entities were among the configs cleared.
        assert any("/washer_run_" in t and p for t, p, _ in subscriber.messages[:mark])
        # The dishwasher's are all still there.
        assert any(t.startswith(CONFIGS) and "/dishwasher_" in t for t in retained)
        assert retained[T + "dishwasher/LWT"] == "online"
        power = {"name": "PowerState", "value": "On"}
        assert not answered_by(subscriber, T + "washer/set", json.dumps(power), T + "dishwasher/set", power)
        assert dishwasher_sim.accepted == 1


def test_a_broker_reconnect_renews_the_subscriptions_as_they_are_now(broker, subscriber, sims):
    _, dishwasher = sims(DISHWASHER, "dishwasher")
    washer_sim, washer = sims(WASHER, "washer")
    with bridged(broker.port, [(washer_sim, washer)]) as bridge:
        subscriber.wait(T + "washer/LWT", "online")
        bridge.apply([dishwasher])  # the washer goes, the dishwasher comes
        subscriber.wait(T + "dishwasher/LWT", "online")
        broker.stop()
        broker.start()  # same port, nothing kept: the link subscribes again
        eventually(lambda: bridge.link.connects >= 2 and bridge.link.connected, 15, "the bridge's reconnect")
        assert set(bridge.link.subscriptions) == set(bridge.appliances[0].command_topics)
        subscriber.wait(T + "dishwasher/LWT", "online", timeout=15)
        power = {"name": "PowerState", "value": "On"}
        assert subscriber.response(T + "dishwasher/set", power)["status"] == "ok"
        assert not answered_by(subscriber, T + "washer/set", json.dumps(power), T + "dishwasher/set", power)


def test_an_appliance_whose_entry_broke_keeps_running(broker, subscriber, sims):
    sim, dishwasher = sims(DISHWASHER, "dishwasher")
    with bridged(broker.port, [(sim, dishwasher)]) as bridge:
        subscriber.wait(T + "dishwasher/LWT", "online")
        diff = bridge.apply([], broken=["dishwasher"])
        assert diff.kept == ("dishwasher",) and not diff
        assert [a.name for a in bridge.appliances] == ["dishwasher"] and bridge.appliances[0].connection.online
        assert sim.accepted == 1


def test_a_changed_appliance_that_cannot_be_bridged_again_is_offline(broker, subscriber, sims, monkeypatch):
    sim, dishwasher = sims(DISHWASHER, "dishwasher")
    with bridged(broker.port, [(sim, dishwasher)]) as bridge:
        subscriber.wait(T + "dishwasher/LWT", "online")

        def refused(entry):
            raise ConfigError(f"{entry.name}: a made-up reason")

        monkeypatch.setattr(bridge, "_bridge", refused)
        mark = subscriber.mark()
        diff = bridge.apply([dataclasses.replace(dishwasher, port=dishwasher.port + 1)])
        assert [c.entry.name for c in diff.changed] == ["dishwasher"] and bridge.appliances == []
        # Nothing bridges it now: its LWT must not go on saying online.
        subscriber.wait(T + "dishwasher/LWT", "offline", since=mark)
        assert retained_on_broker(broker, "witness")[T + "dishwasher/LWT"] == "offline"
