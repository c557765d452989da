"""What the console sees of hc2mqtt: journals, connection stats, reply counts, latency, listeners.

hcpy.appliance.observed is pure and tested directly; the rest runs over real
sockets to simulated appliances (TLS and AES) and a real mosquitto, as
everything the bridge does.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
import threading
import time
from collections import Counter

import pytest
from support import (
    DISHWASHER,
    FAST,
    QUICK_RETRY,
    WASHER,
    bridged,
    eventually,
    free_port,
    posts,
    profile_files,
    simulated,
)

from hcpy.appliance.connection import ApplianceConnection
from hcpy.appliance.observed import DISCONNECT_REASONS, HIDDEN_DATA, Histogram, Journal, JournalEntry
from hcpy.appliance.profile_xml import parse_profile
from hcpy.appliance.state import ApplianceState
from hcpy.mqtt.topics import CommandTopic
from hcpy.protocol.message import Action, Message
from hcpy.protocol.transport import Endpoint
from hcpy.simulator import SimulatedAppliance, Simulator

P = "homeconnect/"
FIRMWARE = "3.2.10.20200911163726"  # the simulator's swVersion


@pytest.fixture(scope="module")
def profiles():
    return {"dishwasher": parse_profile(*profile_files(DISHWASHER)), "washer": parse_profile(*profile_files(WASHER))}



def secrets_of(psk: bytes, iv: bytes | None) -> list[str]:
    """Every way a key or IV could be written out: base64 (both alphabets), base64url without padding, hex."""
    found = []
    for raw in [psk] + ([iv] if iv else []):
        found += [base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("="), raw.hex()]
        found += [base64.b64encode(raw).decode().rstrip("=")[:20]]  # a prefix is a leak too
    return found


# -- the pure parts ------------------------------------------------------------------------------


def message(msg_id: int, action: Action = Action.NOTIFY, resource: str = "/ro/values", data=None, code=None) -> str:
    """A message's text, as the session hands it to the journal."""
    return Message(7, msg_id, resource, 1, action, data, code).to_json()


def test_journal_keeps_the_last_entries_oldest_first_and_counts_all():
    journal = Journal(size=5)
    for n in range(12):
        journal.record("in" if n % 3 else "out", message(n, data=[{"uid": 1, "value": n}]))
    entries = journal.entries()
    assert len(journal) == 5 and [e.msg_id for e in entries] == [7, 8, 9, 10, 11]
    assert (journal.messages_in, journal.messages_out) == (8, 4)
    assert journal.last_in_at is not None and journal.last_out_at is not None
    assert entries[-1].data == [{"uid": 1, "value": 11}] and entries[-1].direction == "in"
    assert all(a.at <= b.at for a, b in itertools.pairwise(entries))
    # A snapshot: later records do not change it.
    journal.record("in", message(99))
    assert [e.msg_id for e in entries] == [7, 8, 9, 10, 11]


def test_a_message_too_long_to_keep_is_kept_as_its_envelope_with_a_note():
    journal = Journal(kept_text=2000)
    values = [{"uid": uid, "value": uid * 1000} for uid in range(200)]
    text = message(41, data=values)
    assert len(text) > 2000
    journal.record("in", text)
    journal.record("in", message(42, data=values[:3]))
    big, small = journal.entries()
    assert (big.msg_id, big.action, big.resource, big.direction) == (41, "NOTIFY", "/ro/values", "in")
    assert big.data == [{"note": f"hcpy: 200 entries, {len(text):,} characters: too long to keep in the message log"}]
    assert small.data == values[:3]  # a message that fits is kept whole
    assert journal.messages_in == 2


def test_journal_holds_at_most_its_total_of_text_dropping_the_oldest():
    journal = Journal(size=500, kept_text=10_000, kept_total=50_000)
    for n in range(400):
        journal.record("in", message(n, data=[{"uid": 1, "value": "x" * 900}]))
    one = len(message(399, data=[{"uid": 1, "value": "x" * 900}]))
    assert 50_000 - one < journal.kept_chars <= 50_000  # full, but never over
    ids = [e.msg_id for e in journal.entries()]
    assert ids[-1] == 399 and ids == list(range(400 - len(ids), 400)) and 40 < len(ids) < 60
    assert journal.messages_in == 400


def test_journal_entry_json():
    entry = JournalEntry(1_700_000_000.25, "in", 3, "RESPONSE", "/ro/values", None, 403)
    assert entry.to_json() == {
        "at": "2023-11-14T22:13:20.250+00:00",
        "unix": 1_700_000_000.25,
        "direction": "in",
        "msg_id": 3,
        "action": "RESPONSE",
        "resource": "/ro/values",
        "data": None,
        "code": 403,
    }


def test_journal_can_be_read_while_another_thread_records():
    journal = Journal(size=50)
    done = threading.Event()

    def record():
        n = 0
        while not done.is_set():
            journal.record("in", message(n))
            n += 1

    writer = threading.Thread(target=record)
    writer.start()
    try:
        for _ in range(2000):
            entries = journal.entries()
            assert len(entries) <= 50
            ids = [e.msg_id for e in entries]
            assert ids == sorted(ids)
    finally:
        done.set()
        writer.join()


def test_histogram_buckets_are_cumulative_upper_bounds():
    histogram = Histogram((0.001, 0.01, 0.1))
    for seconds in (0.0005, 0.001, 0.002, 0.05, 0.05, 3.0):
        histogram.observe(seconds)
    cumulative, total, count = histogram.snapshot()
    # 0.001 counts in the bucket whose upper bound it is (le="0.001").
    assert cumulative == [2, 3, 5, 6] and count == 6
    assert total == pytest.approx(3.1035)
    assert Histogram().snapshot() == ([0] * 13, 0.0, 0)


# -- journals over real connections ------------------------------------------------------------


@pytest.mark.parametrize("transport, services", [("tls", "iz"), ("aes", "legacy")])
def test_the_journal_holds_the_handshake_the_values_and_a_command(broker, subscriber, profiles, transport, services):
    sim, entry = simulated(profiles["dishwasher"], "dishwasher", transport, services)
    try:
        with bridged(broker.port, [(sim, entry)]) as bridge:
            subscriber.wait(f"{P}dishwasher/LWT", "online")
            sim.set_value("BSH.Common.Status.DoorState", 0)
            subscriber.wait(f"{P}dishwasher/state/bsh_common_status_doorstate", "Open")
            answer = subscriber.response(f"{P}dishwasher/set", {"name": "BSH.Common.Setting.PowerState", "value": "Off"})
            assert answer["status"] == "ok", answer
            # The appliance gone (its LWT offline), nothing more can arrive:
            # the counts below and the entries are of the same messages.
            mark = subscriber.mark()
            sim.stop()
            subscriber.wait(f"{P}dishwasher/LWT", "offline", since=mark)
            journal = bridge.appliances[0].connection.journal
            entries = journal.entries()
    finally:
        sim.stop()

    seen = [(e.direction, e.action, e.resource) for e in entries]
    # The handshake, both ways.
    assert seen[0] == ("in", "POST", "/ei/initialValues")
    assert ("out", "RESPONSE", "/ei/initialValues") in seen
    assert ("out", "GET", "/ci/services") in seen and ("in", "RESPONSE", "/ci/services") in seen
    who = "/iz/info" if services == "iz" else "/ci/info"
    assert ("out", "GET", who) in seen and ("in", "RESPONSE", who) in seen
    assert ("out", "NOTIFY", "/ei/deviceReady") in seen
    values = next(e for e in entries if e.direction == "in" and e.resource == "/ro/allMandatoryValues")
    assert any(item.get("uid") == 527 for item in values.data)  # the door, among all values
    # A value the appliance reported of its own accord.
    assert any(e.direction == "in" and e.action == "NOTIFY" and e.resource == "/ro/values"
               and {"uid": 527, "value": 0} in (e.data or []) for e in entries)  # fmt: skip
    # The command and the appliance's answer to it, matched by msgID, in order.
    sent = [e for e in entries if e.direction == "out" and (e.action, e.resource) == ("POST", "/ro/values")]
    assert len(sent) == 1 and sent[0].data == [{"uid": 539, "value": 1}] == posts(sim)[-1].data
    reply = [e for e in entries if e.direction == "in" and e.action == "RESPONSE" and e.msg_id == sent[0].msg_id]
    assert len(reply) == 1 and reply[0].code is None and entries.index(reply[0]) > entries.index(sent[0])
    # Counted as recorded, all of it (the journal holds far more than this).
    assert journal.messages_in == sum(d == "in" for d, _, _ in seen)
    assert journal.messages_out == sum(d == "out" for d, _, _ in seen) == len(sim.received)
    # Never a key or IV, in any spelling.
    text = json.dumps([e.to_json() for e in entries])
    for secret in secrets_of(entry.psk, entry.iv_bytes):
        assert secret not in text


# -- connection stats over a real connection ----------------------------------------------------


class Appliance:
    """A simulated appliance on a port of its own (so it can be stopped and started again), and hcpy's connection to it."""

    def __init__(self, profile, transport="tls", psk=None, key=None):
        self.profile = profile
        self.psk = psk or os.urandom(32)
        self.iv = os.urandom(16) if transport == "aes" else None
        self.port = free_port()
        self.sim = Simulator(SimulatedAppliance(profile, services="iz"), self.psk, self.iv, port=self.port).start()
        log = logging.getLogger("hcpy.appliance.test")
        self.connection = ApplianceConnection(
            "test",
            Endpoint("127.0.0.1", key or self.psk, self.iv, self.port),
            ApplianceState(profile, "test", log),
            device_id="00112233aabbccdd",
            timing=FAST,
            backoff=QUICK_RETRY,
            request_timeout=3,
        )

    def close(self):
        self.connection.stop()
        self.sim.stop()


@pytest.fixture
def make(profiles):
    made = []

    def make(**kwargs):
        made.append(Appliance(profiles["dishwasher"], **kwargs))
        return made[-1]

    yield make
    for appliance in made:
        appliance.close()


@pytest.mark.parametrize("transport", ["tls", "aes"])
def test_stats_follow_the_connection(make, transport):
    appliance = make(transport=transport)
    stats = appliance.connection.stats
    assert stats.state == "connecting" and stats.transport == transport
    assert stats.address == f"127.0.0.1:{appliance.port}"
    appliance.connection.start()
    assert appliance.connection.wait_online(8)
    assert stats.state == "online" and stats.connects == 1 and stats.firmware == FIRMWARE
    online_since = stats.since

    appliance.sim.stop()  # a websocket close, then nothing listens there
    eventually(lambda: stats.state == "offline", what="offline")
    assert stats.since >= online_since
    assert stats.reason and "closed the connection" in stats.reason
    assert stats.disconnects["closed_by_appliance"] == 1
    went = stats.since
    eventually(lambda: stats.disconnects["refused"] >= 2, what="refused reconnects")
    # Offline since it went, whatever the retries; why: the latest one's failure.
    assert stats.state == "offline" and stats.since == went
    assert "refused" in stats.reason
    assert set(stats.disconnects) <= set(DISCONNECT_REASONS)

    appliance.sim.start()  # the same port
    eventually(lambda: stats.state == "online", what="online again")
    assert stats.connects == 2
    appliance.connection.stop()
    assert stats.state == "stopped"
    assert sum(stats.disconnects.values()) == stats.disconnects["closed_by_appliance"] + stats.disconnects["refused"]
    assert stats.to_json()["disconnects"]["closed_by_appliance"] == 1


def test_a_silent_appliance_is_counted_as_silent(make):
    appliance = make()
    stats = appliance.connection.stats
    appliance.connection.start()
    assert appliance.connection.wait_online(8)
    appliance.sim.go_silent()
    eventually(lambda: stats.disconnects["silent"] == 1, what="a silent drop")
    assert stats.disconnects["closed_by_appliance"] == 0
    eventually(lambda: stats.connects == 2, what="a reconnect")


@pytest.mark.parametrize("transport", ["tls", "aes"])
def test_a_wrong_key_is_counted_as_key_rejected(make, transport):
    appliance = make(transport=transport, key=os.urandom(32))
    stats = appliance.connection.stats
    appliance.connection.start()
    eventually(lambda: stats.disconnects["key_rejected"] >= 1, what="a rejected key")
    assert stats.state == "offline" and stats.connects == 0 and "key" in stats.reason
    assert stats.firmware is None


# -- the bridge's counts and listeners ------------------------------------------------------------


@pytest.fixture
def dishwasher(profiles):
    sim, entry = simulated(profiles["dishwasher"], "dishwasher")
    yield sim, entry
    sim.stop()


def test_replies_are_counted_by_status(broker, subscriber, dishwasher):
    sim, _ = dishwasher
    with bridged(broker.port, [dishwasher]) as bridge:
        appliance = bridge.appliances[0]
        subscriber.wait(f"{P}dishwasher/LWT", "online")
        assert appliance.replies == Counter()
        assert subscriber.response(f"{P}dishwasher/set", {"name": "PowerState", "value": "Off"})["status"] == "ok"
        answer = subscriber.response(f"{P}dishwasher/set", {"name": "BSH.Common.Setting.Nope", "value": 1})
        assert answer["code"] == 404
        sim.fail_next("/ro/values", 409)  # refused by the appliance itself
        assert subscriber.response(f"{P}dishwasher/set", {"name": "PowerState", "value": "On"})["code"] == 409
        assert subscriber.response(f"{P}dishwasher/set", b"{not json")["code"] == 400
        assert subscriber.response(f"{P}dishwasher/set", {"name": "PowerState", "value": "On"})["status"] == "ok"
        assert appliance.replies == Counter({"ok": 2, "404": 1, "409": 1, "400": 1})


def test_latency_is_observed_for_every_batch_of_changes(broker, subscriber, dishwasher):
    sim, _ = dishwasher
    with bridged(broker.port, [dishwasher]) as bridge:
        latency = bridge.appliances[0].latency
        subscriber.wait(f"{P}dishwasher/LWT", "online")
        _, _, before = latency.snapshot()
        for value in (True, False, True):
            mark = subscriber.mark()
            sim.set_value("Dishcare.Dishwasher.Setting.ExtraDry", value)
            subscriber.wait(f"{P}dishwasher/state/dishcare_dishwasher_setting_extradry", str(value), since=mark)
        # Observed once publish() returned: the subscriber may see the value a moment before.
        deadline = time.monotonic() + 10
        while latency.snapshot()[2] < before + 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        cumulative, total, count = latency.snapshot()
    assert count >= before + 3
    assert cumulative == sorted(cumulative) and cumulative[-1] == count
    assert total >= 0


class Recorder:
    """A console's listener: remembers every call."""

    def __init__(self):
        self.calls: list[tuple] = []

    def values_changed(self, appliance, changes):
        self.calls.append(("values", appliance.name, [c.feature.name for c in changes]))

    def connection_changed(self, appliance):
        self.calls.append(("connection", appliance.name, appliance.connection.stats.state))

    def answered(self, appliance, response):
        self.calls.append(("answered", appliance.name, response))

    def of(self, kind):
        return [call[1:] for call in list(self.calls) if call[0] == kind]


class Broken:
    """A listener whose every method fails."""

    def __init__(self):
        self.tried = 0

    def _fail(self, *args):
        self.tried += 1
        raise RuntimeError("the console broke")

    values_changed = connection_changed = answered = _fail


def test_listeners_hear_values_connections_and_answers(broker, subscriber, dishwasher, caplog):
    sim, _ = dishwasher
    recorder, broken = Recorder(), Broken()
    with bridged(broker.port, [dishwasher]) as bridge:
        subscriber.wait(f"{P}dishwasher/LWT", "online")
        bridge.add_listener(broken)  # first: its failures must not keep the next one from hearing
        bridge.add_listener(recorder)
        for value in (0, 1, 0):
            mark = subscriber.mark()
            sim.set_value("BSH.Common.Status.DoorState", value)
            subscriber.wait(f"{P}dishwasher/state/bsh_common_status_doorstate", since=mark)
        eventually(lambda: len(recorder.of("values")) >= 3, what="three value changes heard")
        assert all(names == ["BSH.Common.Status.DoorState"] for _, names in recorder.of("values"))

        published = subscriber.response(f"{P}dishwasher/set", {"name": "PowerState", "value": "Off", "transaction": 7})
        eventually(lambda: recorder.of("answered"), what="an answer heard")
        assert recorder.of("answered") == [("dishwasher", published)]

        mark = subscriber.mark()
        sim.drop_connections()
        subscriber.wait(f"{P}dishwasher/LWT", "offline", since=mark)
        subscriber.wait(f"{P}dishwasher/LWT", "online", since=mark)
        # The first connect's own call may come after the listener was added
        # (it follows the LWT the test waited for): the drop's are from its offline on.
        dropped = lambda: recorder.of("connection")[recorder.of("connection").index(("dishwasher", "offline")):]  # noqa: E731
        eventually(lambda: ("dishwasher", "offline") in recorder.of("connection") and len(dropped()) >= 2,
                   what="offline and online heard")  # fmt: skip
        assert dropped()[:2] == [("dishwasher", "offline"), ("dishwasher", "online")]
        # Publishing went on throughout; the broken listener was tried every time, and logged once per method.
        mark = subscriber.mark()
        sim.set_value("BSH.Common.Status.DoorState", 1)
        subscriber.wait(f"{P}dishwasher/state/bsh_common_status_doorstate", "Closed", since=mark)
        bridge.remove_listener(recorder)
        calls = len(recorder.calls)
        mark = subscriber.mark()
        sim.set_value("BSH.Common.Status.DoorState", 0)
        subscriber.wait(f"{P}dishwasher/state/bsh_common_status_doorstate", "Open", since=mark)
    assert broken.tried >= len(recorder.calls) >= 6
    assert len(recorder.calls) == calls  # removed: heard no more
    failures = [r for r in caplog.records if "a listener (Broken) failed" in r.getMessage()]
    assert sorted(r.getMessage().rsplit(" ", 1)[-1] for r in failures) == ["answered", "connection_changed",
                                                                           "values_changed"]  # fmt: skip
    assert all(r.exc_info for r in failures)


def test_a_command_from_the_console_goes_the_mqtt_way(broker, subscriber, dishwasher):
    sim, _ = dishwasher
    recorder = Recorder()
    with bridged(broker.port, [dishwasher]) as bridge:
        subscriber.wait(f"{P}dishwasher/LWT", "online")
        bridge.add_listener(recorder)
        appliance = bridge.appliances[0]
        mark = subscriber.mark()
        appliance.submit_command(CommandTopic.SET, b'{"name": "PowerState", "value": "Off", "transaction": "web-1"}')
        published = json.loads(subscriber.wait(f"{P}dishwasher/response", since=mark))
        assert published["status"] == "ok" and published["transaction"] == "web-1"
        assert posts(sim)[-1].data == [{"uid": 539, "value": 1}]
        mark = subscriber.mark()
        appliance.submit_command(CommandTopic.SELECTED_PROGRAM, b'{"program": "Nope"}')
        refused = json.loads(subscriber.wait(f"{P}dishwasher/response", since=mark))
        assert refused["status"] == "error" and refused["code"] == 404
        eventually(lambda: len(recorder.of("answered")) == 2, what="both answers heard")
        assert recorder.of("answered") == [("dishwasher", published), ("dishwasher", refused)]
        assert appliance.replies == Counter({"ok": 1, "404": 1})


def test_the_authentication_handshake_is_hidden_in_the_journal():
    journal = Journal()
    journal.record("out", message(1, Action.GET, "/ci/authentication", [{"nonce": "c2VjcmV0LW5vbmNl"}]))
    journal.record("in", message(1, Action.RESPONSE, "/ci/authentication", [{"response": "ZGVyaXZlZC1mcm9tLWtleQ"}]))
    journal.record("in", message(2, Action.NOTIFY, "/ro/values", [{"uid": 527, "value": 1}]))
    shown = json.dumps([e.to_json() for e in journal.entries()])
    assert "c2VjcmV0LW5vbmNl" not in shown and "ZGVyaXZlZC1mcm9tLWtleQ" not in shown
    assert [e.data for e in journal.entries()][:2] == [HIDDEN_DATA, HIDDEN_DATA]
    assert journal.entries()[2].data == [{"uid": 527, "value": 1}]  # everything else as on the wire


def test_a_4_mb_answer_is_kept_as_its_envelope_not_whole():
    # Issue 21 saw hc2mqtt hold a 4 MB answer until 500 newer messages pushed it out. With hc2mqtt's
    # own sizes (KEPT_TEXT), it is kept as its envelope and a note from the moment it arrives.
    journal = Journal()
    text = message(12, Action.RESPONSE, "/ro/allDescriptionChanges", data=[{"uid": 539, "value": "x" * (4 * 1024 * 1024)}])
    journal.record("in", text)
    journal.record("in", message(13))
    big, small = journal.entries()
    assert small.msg_id == 13
    assert (big.msg_id, big.action, big.resource) == (12, "RESPONSE", "/ro/allDescriptionChanges")
    assert big.data == [{"note": f"hcpy: 1 entries, {len(text):,} characters: too long to keep in the message log"}]
    assert journal.kept_chars < 1000  # of 4 MB
