"""Hostile input from either side costs only itself (issue 9).

Over real sockets on both transports and a real mosquitto: commands that
are too large, not UTF-8, nested too deep, or carry values no wire type
holds are refused with a 400 and a short reason, never reach the appliance,
and never cost a traceback; refusals are answered every time but logged
only a few times a minute. From the appliance: a message nested too deep,
too large, full of unknown uids or garbage costs that message only (no
reconnect), is logged a few times, and nothing multi-megabyte or empty is
published as a retained value.
"""

from __future__ import annotations

import json
import logging

import pytest
from support import COFFEE, DISHWASHER, Subscriber, bridged, posts, profile_files, simulated

from hcpy.appliance.model import MAX_STRING
from hcpy.appliance.profile_xml import parse_profile
from hcpy.protocol.resources import RO_VALUES
from hcpy.protocol.session import MAX_REPORT

P = "homeconnect/"
LONGEST_LINE = 2048  # the bound for an answer or a log line
POWER_ON = {"name": "BSH.Common.Setting.PowerState", "value": "On"}
DISPLAY_NAME = "state/consumerproducts_coffeemaker_option_displayname"
WIFI = "state/bsh_common_status_wifisignalstrength"


@pytest.fixture(scope="module")
def profiles():
    return {stem: parse_profile(*profile_files(stem)) for stem in (DISHWASHER, COFFEE)}


@pytest.fixture(params=["tls", "aes"])
def transport(request):
    return request.param


@pytest.fixture
def served(broker, subscriber, profiles, transport):
    """A dishwasher and a coffee machine behind a bridge; yields {name: simulator}."""
    sims = [simulated(profiles[DISHWASHER], "dishwasher", transport), simulated(profiles[COFFEE], "coffee", transport)]
    with bridged(broker.port, sims):
        for _, entry in sims:
            subscriber.wait(f"{P}{entry.name}/LWT", "online")
        yield {entry.name: sim for sim, entry in sims}
    for sim, _ in sims:
        sim.stop()


def answers(subscriber, topic, since, count, timeout=15.0):
    """The next `count` answers on `topic` after `since`, as published."""
    found = []

    def enough(_):
        found[:] = [p for t, p, _ in subscriber.messages[since:] if t == topic]
        return len(found) >= count

    try:
        subscriber.wait(topic, enough, timeout=timeout, since=since)
    except AssertionError:
        pass
    return list(found)


def value_writes(sim):
    return [m for m in posts(sim) if m.resource == RO_VALUES]


def long_lines(caplog):
    return [r.getMessage()[:120] for r in caplog.records if len(r.getMessage()) > LONGEST_LINE]


def tracebacks(caplog):
    return [r.getMessage() for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


HOSTILE = [
    # (payload on T/set, what the answer's error says)
    (b'{"name": "BSH.Common.Setting.PowerState", "value": "\\ud83d"}', "unpaired surrogate"),
    (b'{"name": "\\udfff", "value": 1}', "unpaired surrogate"),
    (b"[" * 5000 + b"]" * 5000, "at most 4,096"),
    (b"[" * 50 + b"]" * 50, "nests deeper than"),
    (json.dumps({"name": "A" * 1_000_000, "value": 1}).encode(), "at most 4,096"),
    (b"\xef\xbb\xbf" + json.dumps(POWER_ON).encode(), "byte-order mark"),
    (json.dumps(POWER_ON).encode("utf-16"), "UTF-16"),
    (json.dumps(POWER_ON).encode("utf-16-le"), "UTF-16"),
    (b'{"name": "BSH.Common.Setting.PowerState", "value": "\xff"}', "not UTF-8"),
    (b'{"name": "BSH.Common.Setting.ApplianceTime", "value": {"hour": 7}}', "a string, a number or true/false"),
    (b'{"name": "BSH.Common.Setting.ApplianceTime", "value": [1, 2]}', "a string, a number or true/false"),
    (b'{"name": "BSH.Common.Command.AcknowledgeEvent", "value": 1e30}', "out of range"),
    (b'{"name": "BSH.Common.Command.AcknowledgeEvent", "value": 123456789012345678901234567890}', "out of range"),
    (b'{"name": "BSH.Common.Setting.PowerState", "value": NaN}', "not valid JSON"),
    (b'{"name": "BSH.Common.Setting.PowerState", "value": 1e400}', "not valid JSON"),
    (json.dumps([{"uid": 539}] * 100).encode(), "at most 64"),
    (json.dumps({"name": "BSH.Common.Setting.ApplianceTime", "value": "x" * 2000}).encode(), "at most 1024 characters"),
]


def test_hostile_commands_are_refused_briefly_and_never_sent(served, subscriber, caplog):
    caplog.set_level(logging.INFO)
    dishwasher = served["dishwasher"]
    topic = f"{P}dishwasher/response"
    for payload, reason in HOSTILE:
        mark = subscriber.mark()
        subscriber.publish(f"{P}dishwasher/set", payload)
        [answer] = answers(subscriber, topic, mark, 1)[:1] or [None]
        assert answer is not None, f"no answer to {payload[:60]!r}"
        assert len(answer.encode()) <= LONGEST_LINE, f"{len(answer)}-byte answer to {payload[:60]!r}"
        body = json.loads(answer)
        assert (body["status"], body["code"]) == ("error", 400), (payload[:60], body)
        assert reason in body["error"], (payload[:60], body["error"])
    assert value_writes(dishwasher) == []
    assert tracebacks(caplog) == []
    assert long_lines(caplog) == []
    # The way in still works for a good command.
    answer = subscriber.response(f"{P}dishwasher/set", POWER_ON)
    assert answer["status"] == "ok", answer
    assert [m.data for m in value_writes(dishwasher)] == [[{"uid": 539, "value": 2}]]


def test_a_refused_payload_still_echoes_its_transaction(served, subscriber):
    for payload, transaction in (
        (b'\xef\xbb\xbf{"name": "PowerState", "value": "On", "transaction": "bom-1"}', "bom-1"),
        (b'{"name": "PowerState", "value": NaN, "transaction": 77}', 77),
        (b'{"name": "\\ud83d", "transaction": "surrogate"}', "surrogate"),
        (b'{"transaction": "\\ud83d"}', None),  # never echoed: it is no valid text
    ):
        answer = subscriber.response(f"{P}dishwasher/set", payload)
        assert answer["code"] == 400 and answer.get("transaction") == transaction, answer


def test_a_long_request_is_echoed_in_part(served, subscriber):
    # Valid JSON a little under the size limit: read whole, quoted in part.
    request = {"name": "BSH.Common.Setting.PowerState", "value": "On", "note": "n" * 3000, "transaction": "t-1"}
    answer = subscriber.response(f"{P}dishwasher/set", request)
    assert answer["status"] == "ok" and answer["transaction"] == "t-1", answer
    assert isinstance(answer["request"], str) and answer["request"].endswith("…")
    assert len(json.dumps(answer)) <= LONGEST_LINE


def test_a_delay_below_zero_is_refused_where_the_profile_sets_no_bounds(served, subscriber):
    select = subscriber.response(f"{P}dishwasher/selectedProgram", {"program": "Dishcare.Dishwasher.Program.Eco50"})
    assert select["status"] == "ok", select
    for suffix, payload in (
        ("set", {"name": "BSH.Common.Option.StartInRelative", "value": -86400}),
        ("activeProgram", {"program": "Dishcare.Dishwasher.Program.Eco50",
                           "options": [{"name": "BSH.Common.Option.StartInRelative", "value": -86400}]}),
        ("activeProgram", {"program": "selected", "delay": -60}),
    ):  # fmt: skip
        answer = subscriber.response(f"{P}dishwasher/{suffix}", payload)
        assert (answer["status"], answer["code"]) == ("error", 400), (suffix, answer)
    assert not [m for m in posts(served["dishwasher"]) if m.resource != "/ro/selectedProgram"]


def test_every_refusal_is_answered_and_only_a_few_are_logged(served, subscriber, caplog):
    caplog.set_level(logging.INFO)
    mark = subscriber.mark()
    for n in range(60):
        subscriber.client.publish(f"{P}coffee/set", f"not json {n}", qos=1)
    got = answers(subscriber, f"{P}coffee/response", mark, 60)
    assert len(got) == 60
    assert all(json.loads(a)["code"] == 400 for a in got)
    refusals = [r for r in caplog.records if "refused set command" in r.getMessage()]
    assert 1 <= len(refusals) <= 6, [r.getMessage() for r in refusals]


# -- from the appliance ---------------------------------------------------------------------


def raw_notify(data_text: str, msg_id: int = 9000) -> str:
    return f'{{"sID":1,"msgID":{msg_id},"resource":"/ro/values","version":1,"action":"NOTIFY","data":{data_text}}}'


def still_serving(sim, subscriber, name, value):
    """A value the appliance changes after the hostile message still arrives."""
    mark = subscriber.mark()
    sim.set_value("BSH.Common.Status.WiFiSignalStrength", value)
    subscriber.wait(f"{P}{name}/{WIFI}", str(value), since=mark)


def appliance_warnings(caplog, name):
    return [r for r in caplog.records if r.name == f"hcpy.appliance.{name}" and r.levelno >= logging.WARNING]


def test_a_message_nested_too_deep_costs_only_itself(served, subscriber, caplog):
    sim = served["dishwasher"]
    sim.send_raw(raw_notify("[" + "[" * 100_000 + "]" * 100_000 + "]"))
    sim.send_raw(raw_notify('[{"uid": 27, "value": ' + "[" * 5000 + "]" * 5000 + "}]", 9001))
    still_serving(sim, subscriber, "dishwasher", -41)
    assert sim.connection_count == 1
    assert tracebacks(caplog) == []
    warned = [r.getMessage() for r in appliance_warnings(caplog, "dishwasher")]
    assert any("nested too deeply" in w for w in warned), warned


def test_floods_from_the_appliance_are_logged_a_few_times(served, subscriber, caplog):
    sim = served["dishwasher"]
    sim.notify(RO_VALUES, [{"uid": 40000 + n, "value": 1} for n in range(900)])
    for _ in range(300):
        sim.send_raw("garbage that is no JSON")
    # Far more entries than the appliance has features: refused whole, in one line.
    sim.notify(RO_VALUES, [{"uid": 27, "value": -n} for n in range(10_000)])
    still_serving(sim, subscriber, "dishwasher", -42)
    assert sim.connection_count == 1
    warned = [r.getMessage() for r in appliance_warnings(caplog, "dishwasher")]
    unknown = [w for w in warned if "uid(s) the profile lacks" in w]
    garbled = [w for w in warned if "not JSON" in w]
    many = [w for w in warned if "ignored a message of 10,000 values" in w]
    assert 1 <= len(unknown) <= 5 and 1 <= len(garbled) <= 5 and len(many) == 1, warned
    assert subscriber.last[f"{P}dishwasher/{WIFI}"] == "-42"  # none of the 10,000
    assert long_lines(caplog) == []


def test_a_repeated_uid_in_one_message_is_published_once(served, subscriber):
    sim = served["dishwasher"]
    mark = subscriber.mark()
    flood = [str(-n) for n in range(1001, 1901)]  # far from what the appliance reports at connect
    sim.notify(RO_VALUES, [{"uid": 27, "value": int(v)} for v in flood])
    subscriber.wait(f"{P}dishwasher/{WIFI}", "-1900", since=mark)
    still_serving(sim, subscriber, "dishwasher", -43)
    # (A republish of the connect-time value may come in between: the bridge
    # publishes everything when the broker connection is up, too.)
    published = [p for t, p, _ in subscriber.messages[mark:] if t == f"{P}dishwasher/{WIFI}" and p in flood + ["-43"]]
    assert published == ["-1900", "-43"]


def test_oversized_values_are_cut_or_refused_with_a_line(served, subscriber, caplog):
    sim = served["coffee"]
    mark = subscriber.mark()
    uid = sim.app.feature("ConsumerProducts.CoffeeMaker.Option.DisplayName").uid
    # A whole message over the limit is not even read...
    sim.notify(RO_VALUES, [{"uid": uid, "value": "x" * (MAX_REPORT + 10)}])
    still_serving(sim, subscriber, "coffee", -44)
    # ...a long value in a readable one is cut.
    sim.notify(RO_VALUES, [{"uid": uid, "value": "y" * 5000}])
    cut = subscriber.wait(f"{P}coffee/{DISPLAY_NAME}", lambda p: p.startswith("y"), since=mark)
    assert cut == "y" * MAX_STRING
    assert sim.connection_count == 1
    assert max(len(p) for t, p, _ in subscriber.messages[mark:] if t.startswith(f"{P}coffee/state/")) <= MAX_STRING
    warned = [r.getMessage() for r in appliance_warnings(caplog, "coffee")]
    assert any("ignored a message of" in w and "/ro/values" in w for w in warned), warned
    assert any("cut a value of ConsumerProducts.CoffeeMaker.Option.DisplayName" in w for w in warned), warned
    assert long_lines(caplog) == []


def test_an_appliance_holding_a_huge_value_still_connects(served, subscriber, caplog):
    # Its answer to allMandatoryValues carries the value at every connect: an
    # answer is read whatever its size (the value then cut), or the appliance
    # would never come back online.
    sim = served["coffee"]
    sim.set_value("ConsumerProducts.CoffeeMaker.Option.DisplayName", "z" * (MAX_REPORT + 10))
    mark = subscriber.mark()
    sim.drop_connections()
    subscriber.wait(f"{P}coffee/LWT", "offline", since=mark)
    subscriber.wait(f"{P}coffee/LWT", "online", since=mark, timeout=15)
    subscriber.wait(f"{P}coffee/{DISPLAY_NAME}", "z" * MAX_STRING, since=mark)


def test_an_empty_value_keeps_its_topic(served, broker, subscriber):
    sim = served["coffee"]
    mark = subscriber.mark()
    sim.set_value("ConsumerProducts.CoffeeMaker.Option.DisplayName", "Espresso")
    subscriber.wait(f"{P}coffee/{DISPLAY_NAME}", "Espresso", since=mark)
    mark = subscriber.mark()  # (the value at connect may have been "" too)
    sim.set_value("ConsumerProducts.CoffeeMaker.Option.DisplayName", "")
    subscriber.wait(f"{P}coffee/{DISPLAY_NAME}", '""', since=mark)
    # What a client subscribing now is given: the topic still holds it.
    late = Subscriber(broker.port, client_id="late-subscriber")
    try:
        assert late.wait(f"{P}coffee/{DISPLAY_NAME}") == '""'
    finally:
        late.close()
    assert all(p != "" for t, p, retained in subscriber.messages[mark:] if t.startswith(f"{P}coffee/state/"))
