"""The console's pure parts, directly: the controls' shorthand, sessions and tokens, the log's filters, the chart, the pages' escaping, the event hub."""

from __future__ import annotations

import json
import threading
import time

import pytest
from support import DISHWASHER, profile_files

from hcpy.appliance.profile_xml import parse_profile
from hcpy.appliance.state import ApplianceState
from hcpy.mqtt.topics import CommandTopic
from hcpy.web import pages
from hcpy.web.chart import Bar, bar_chart
from hcpy.web.commands import NotACommand, command_of, with_transaction
from hcpy.web.events import EventHub, frame
from hcpy.web.log_page import HIDDEN, LogFilter, json_lines, log_page, redact, selected
from hcpy.web.runs_page import figure, runs_page
from hcpy.web.security import Guard, Refused, is_loopback, open_to_network
from hcpy.web.snapshot import Connection, controls_of, shown, value_rows

ECO = "Dishcare.Dishwasher.Program.Eco50"


# -- what the controls post ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("posted", "topic", "body"),
    [
        ({"action": "select", "program": ECO}, CommandTopic.SELECTED_PROGRAM, {"program": ECO}),
        ({"action": "select", "program": ECO, "option:A.B": "True", "option:C.D": ""}, CommandTopic.SELECTED_PROGRAM,
         {"program": ECO, "options": [{"name": "A.B", "value": "True"}]}),
        ({"action": "start", "program": ECO, "token": "t"}, CommandTopic.ACTIVE_PROGRAM, {"program": ECO}),
        ({"action": "start"}, CommandTopic.ACTIVE_PROGRAM, {"program": "selected"}),
        ({"action": "start_delayed", "program": ECO, "delay_minutes": "90"}, CommandTopic.ACTIVE_PROGRAM,
         {"program": ECO, "delay": 5400}),
        ({"action": "start_delayed", "delay": 60, "options": {"X.Y": 3}}, CommandTopic.ACTIVE_PROGRAM,
         {"program": "selected", "options": [{"name": "X.Y", "value": 3}], "delay": 60}),
        ({"action": "pause"}, CommandTopic.ACTIVE_PROGRAM, {"program": "pause"}),
        ({"action": "resume"}, CommandTopic.ACTIVE_PROGRAM, {"program": "resume"}),
        ({"action": "abort"}, CommandTopic.ACTIVE_PROGRAM, {"program": "stop"}),
        ({"action": "set", "name": "PowerState", "value": "Off"}, CommandTopic.SET, {"name": "PowerState", "value": "Off"}),
        ({"action": "set", "name": "BSH.Common.Command.AbortProgram", "value": ""}, CommandTopic.SET,
         {"name": "BSH.Common.Command.AbortProgram"}),
        ({"topic": "set", "payload": '[{"uid": 539, "value": 2}]'}, CommandTopic.SET, [{"uid": 539, "value": 2}]),
        ({"topic": "activeProgram", "payload": {"program": "selected"}}, CommandTopic.ACTIVE_PROGRAM, {"program": "selected"}),
        ({"topic": "selectedProgram", "payload": '"Eco50"'}, CommandTopic.SELECTED_PROGRAM, {"program": "Eco50"}),
    ],
)  # fmt: skip
def test_the_controls_shorthand_becomes_the_mqtt_command(posted, topic, body):
    assert command_of(posted) == (topic, body)


@pytest.mark.parametrize(
    ("posted", "words"),
    [
        ({}, "no command"),
        ({"action": "explode"}, "no command"),
        ({"topic": "LWT", "payload": "{}"}, "is no command topic"),
        ({"topic": "set", "payload": "{oops"}, "the payload is not JSON"),
        ({"topic": "set"}, "no payload"),
        ({"action": "select"}, '"select" needs a "program"'),
        ({"action": "set", "value": 1}, '"set" needs the "name"'),
        ({"action": "start_delayed", "program": ECO}, "needs the delay"),
        ({"action": "start_delayed", "program": ECO, "delay_minutes": "-5"}, "0 or more"),
        ({"action": "start_delayed", "program": ECO, "delay_minutes": "soon"}, "must be a number"),
        ({"action": "start", "options": "all"}, '"options" must be'),
    ],
)
def test_a_post_that_is_no_command_says_what_it_lacks(posted, words):
    with pytest.raises(NotACommand, match=words):
        command_of(posted)


def test_the_consoles_transaction_replaces_any_other():
    assert with_transaction({"program": ECO, "transaction": "mine"}, "console-1") == {"program": ECO, "transaction": "console-1"}
    assert with_transaction([{"uid": 1, "transaction": "a"}, {"uid": 2, "transaction": "b"}], "console-2") == [
        {"uid": 1, "transaction": "console-2"},
        {"uid": 2},
    ]
    with pytest.raises(NotACommand, match="JSON object"):
        with_transaction(5, "console-3")


# -- sessions, tokens, password --------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_belongs_to_its_session_and_to_this_server():
    guard = Guard(port=8080)
    alice = guard.visitor(None)
    assert alice.new and not alice.logged_in and not guard.needs_login(alice)
    cookie = guard.cookie(alice.session)
    assert cookie.startswith("hcpy_session_8080=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    back = guard.visitor(f"other=1; {cookie.split(';')[0]}")
    assert back.session == alice.session and not back.new
    guard.check_post(back, guard.token(alice.session), None, None, "127.0.0.1:8080")
    bob = guard.visitor(guard.cookie(guard.visitor(None).session).split(";")[0])
    with pytest.raises(Refused, match="does not belong"):
        guard.check_post(bob, guard.token(alice.session), None, None, "127.0.0.1:8080")
    # Another console (another secret) never accepts this one's tokens.
    with pytest.raises(Refused, match="does not belong"):
        Guard(port=8080).check_post(back, guard.token(alice.session), None, None, "127.0.0.1:8080")
    # A made-up cookie value is no session.
    assert guard.visitor("hcpy_session_8080=short").new


@pytest.mark.parametrize(
    ("origin", "referer", "ok"),
    [
        (None, None, True),
        ("http://127.0.0.1:8080", None, True),
        ("https://127.0.0.1:8080", None, True),  # behind a TLS proxy that keeps the Host
        (None, "http://127.0.0.1:8080/appliance/x", True),
        ("http://127.0.0.1:8081", None, False),
        ("http://localhost:8080", None, False),
        ("null", None, False),
        (None, "http://evil.example/", False),
        ("http://evil.example", "http://127.0.0.1:8080/", False),  # Origin decides
        ("javascript:alert(1)", None, False),
    ],
)
def test_an_origin_or_referer_must_be_this_console(origin, referer, ok):
    guard = Guard(port=8080)
    visitor = guard.visitor(guard.cookie(guard.visitor(None).session).split(";")[0])
    check = lambda: guard.check_post(visitor, guard.token(visitor.session), origin, referer, "127.0.0.1:8080")  # noqa: E731
    if ok:
        check()
    else:
        with pytest.raises(Refused):
            check()


def test_logins_rotate_the_session_expire_and_slow_down_guessing():
    clock = Clock()
    guard = Guard("s3cret", idle=600, lifetime=3600, clock=clock)
    before = guard.visitor(None)
    assert guard.needs_login(before)
    with pytest.raises(Refused, match="wrong password") as wrong:
        guard.login(before, "S3cret")
    assert wrong.value.status == 403
    session = guard.login(before, "s3cret")
    assert session != before.session  # a fixed session id gets no login
    assert not guard.visitor(guard.cookie(before.session).split(";")[0]).logged_in
    cookie = guard.cookie(session).split(";")[0]
    assert guard.visitor(cookie).logged_in
    clock.now += 500
    assert guard.visitor(cookie).logged_in  # used: idle time starts again
    clock.now += 601
    assert not guard.visitor(cookie).logged_in  # idle too long
    session = guard.login(before, "s3cret")
    cookie = guard.cookie(session).split(";")[0]
    logged_in_at = clock.now
    while clock.now + 500 - logged_in_at <= 3600:
        clock.now += 500
        assert guard.visitor(cookie).logged_in
    clock.now += 500
    assert not guard.visitor(cookie).logged_in  # past its lifetime, however busy
    for _ in range(10):
        with pytest.raises(Refused, match="wrong password"):
            guard.login(before, "guess")
    with pytest.raises(Refused, match="too many wrong passwords") as slowed:
        guard.login(before, "s3cret")
    assert slowed.value.status == 429
    clock.now += 61
    assert guard.login(before, "s3cret")


def test_a_loopback_console_answers_only_to_loopback_names():
    guard = Guard(loopback=True)
    for host in ("127.0.0.1:8080", "localhost:8080", "[::1]:8080", "127.0.0.1", "LOCALHOST", None):
        guard.check_host(host)
    for host in ("evil.example:8080", "127.0.0.1.nip.io", "192.168.1.2:8080"):
        with pytest.raises(Refused, match="answers only to"):
            guard.check_host(host)
    Guard(loopback=False).check_host("hcpy.lan:8080")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and not is_loopback("0.0.0.0")
    assert open_to_network("0.0.0.0", None) and not open_to_network("0.0.0.0", "pw") and not open_to_network("127.0.0.1", None)


# -- the message log -------------------------------------------------------------------------------


def entry(direction, action, resource, data=None, at="2024-05-01T12:00:00.000+00:00"):
    return {"at": at, "unix": 0.0, "direction": direction, "msg_id": 1, "action": action, "resource": resource, "data": data, "code": None}


def test_the_log_filters_and_hides_anything_named_like_a_secret():
    entries = [
        entry("in", "POST", "/ei/initialValues", [{"edMsgID": 5}]),
        entry("out", "GET", "/ci/authentication", [{"nonce": "abc", "key": "K", "IV": "V", "sub": {"password": "p"}}]),
        entry("in", "NOTIFY", "/ro/values", [{"uid": 1, "value": 2}]),
        entry("out", "POST", "/ro/activeProgram", [{"program": 8192}]),
    ]
    chosen = selected(entries, LogFilter.from_query({"direction": ["OUT"], "action": ["post"], "resource": ["PROGRAM"]}))
    assert [e["resource"] for e in chosen] == ["/ro/activeProgram"]
    assert [e["resource"] for e in selected(entries, LogFilter(limit=2))] == ["/ro/values", "/ro/activeProgram"]
    everything = selected(entries, LogFilter.from_query({"limit": ["bogus"]}))
    assert everything[1]["data"] == [{"nonce": "abc", "key": HIDDEN, "IV": HIDDEN, "sub": {"password": HIDDEN}}]
    assert redact({"access_token": "t", "uid": 1}) == {"access_token": HIDDEN, "uid": 1}
    lines = json_lines(everything).decode().splitlines()
    assert [json.loads(line)["resource"] for line in lines] == [e["resource"] for e in entries]
    page = log_page("dish<washer>", everything, LogFilter(resource='"><script>'), 4)
    assert "<script>" not in page and "dish&lt;washer&gt;" in page and "&quot;&gt;&lt;script&gt;" in page
    assert 'id="log-download" href="/appliance/dish%3Cwasher%3E/log.jsonl?resource=' in page


# -- runs ---------------------------------------------------------------------------------------------


def test_a_runs_figure_is_the_meters_else_the_forecast():
    measured = {"energy_kwh": 0.8, "energy_estimate_kwh": 1.2, "water_l": None, "water_estimate_l": 10.0}
    assert figure(measured, "energy") == (0.8, False) and figure(measured, "water") == (10.0, True)
    assert figure({"energy_kwh": None}, "energy") == (None, False)
    records = [
        {"program": "A.B.Eco50", "start": "2024-05-01T12:00:00+00:00", "duration_s": 13500, "ended": "finished", **measured},
        {"program": "A.B.Quick45", "start": "2024-05-02T12:00:00+00:00", "duration_s": 1800, "ended": "aborted",
         "energy_reason": "no meter", "energy_estimate_reason": "the run was aborted after 22 s"},
    ]  # fmt: skip
    page = runs_page("dishwasher", records, True)
    assert "2 runs: 0.8 kWh and 10 L" in page and "3:45 h" in page
    # An aborted run's missing figure says both why: no meter, and no estimate for a run cut short.
    assert 'title="no meter; the run was aborted after 22 s"' in page
    assert 'data-value="0.8"' in page and 'class="bar estimate"' in page and 'class="missing"' in page
    assert 'id="runs-off"' in runs_page("x", [], False) and 'id="runs-empty"' in runs_page("x", [], True)


def test_the_chart_scales_to_a_round_top():
    svg = bar_chart("Energy <per> run", "kWh", [Bar("05-01", "Eco50", 1.2), Bar("05-02", "Quick", 0.6, True), Bar("05-03", "x", None)], "c")
    assert svg.startswith('<svg id="c"') and "Energy &lt;per&gt; run" in svg and "<per>" not in svg
    assert '>2</text>' in svg  # the axis' top: a round number above 1.2
    heights = [float(part.split('"')[0]) for part in svg.split('height="')[1:] if part[0].isdigit()]
    assert heights[0] == pytest.approx(2 * heights[1]) and "style=" not in svg


# -- pages ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dishwasher_state():
    state = ApplianceState(parse_profile(*profile_files(DISHWASHER)), "dishwasher")
    profile = state.profile
    state.apply_values([
        {"uid": profile.by_name("BSH.Common.Status.DoorState").uid, "value": 1},
        {"uid": profile.by_name("BSH.Common.Setting.PowerState").uid, "value": 2},
        {"uid": profile.by_name("BSH.Common.Option.RemainingProgramTime").uid, "value": 600},
        {"uid": profile.by_name("BSH.Common.Root.SelectedProgram").uid, "value": profile.by_name(ECO).uid},
    ])  # fmt: skip
    return state


def test_values_are_grouped_named_and_shown_as_mqtt_shows_them(dishwasher_state):
    groups = value_rows(dishwasher_state)
    assert [r.name for r in groups["status"]] == ["BSH.Common.Status.DoorState"]
    door = groups["status"][0]
    assert (door.value, door.short, door.unit) == ("Closed", "Door state", None) and "Open" in door.members
    assert [(r.value, r.unit) for r in groups["option"]] == [("600", "s")]
    assert [r.value for r in groups["program"]] == [ECO]
    assert [r.value for r in groups["setting"]] == ["On"]
    assert (shown(True), shown(None), shown(1.5), shown({"b": 1, "a": [2]})) == ("True", "None", "1.5", '{"a": [2], "b": 1}')


def test_controls_offer_the_programs_and_writable_settings(dishwasher_state):
    controls = controls_of(dishwasher_state)
    assert controls.selected == ECO and controls.active is None
    eco = next(p for p in controls.programs if p.name == ECO)
    assert eco.delay == "BSH.Common.Option.StartInRelative"
    assert "BSH.Common.Option.StartInRelative" not in [f.name for f in eco.options]  # the delayed start's
    assert all(f.kind == "boolean" and f.members == ("True", "False") for f in eco.options)
    power = next(f for f in controls.settings if f.name == "BSH.Common.Setting.PowerState")
    assert (power.kind, power.value, power.members) == ("enum", "On", ("Off", "On"))
    assert "abort" in controls.commands


def test_names_and_values_from_appliances_are_escaped():
    hostile = '<img src=x onerror="alert(1)">'
    connection = Connection(name=hostile, brand="B", model=hostile, type="", state="offline", since=None, reason=hostile,
                            transport="tls", address=hostile, firmware=hostile, ha_id=None, last_in=None, last_out=None,
                            messages_in=0, messages_out=0, connects=0, disconnects={hostile: 1})  # fmt: skip
    html = pages.appliance_list([connection])
    assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert 'href="/appliance/%3Cimg%20src%3Dx%20onerror%3D%22alert%281%29%22%3E"' in html


# -- the event hub ------------------------------------------------------------------------------------------


def test_a_client_that_stops_reading_is_dropped_and_never_holds_up_the_bridge():
    hub = EventHub(queue_size=3, max_clients=2)
    slow = hub.subscribe("dishwasher")
    other = hub.subscribe(None)
    started = time.monotonic()
    for n in range(1000):
        hub.publish("dishwasher", "value", {"n": n})
    assert time.monotonic() - started < 5  # never waits for a reader (a generous bound: only a block would reach it)
    assert slow.dropped and slow.queue.qsize() == 3
    assert not other.dropped and other.queue.qsize() == 0  # the list takes connection events only
    hub.publish("washer", "connection", {"state": "online"})
    assert other.next(1) == frame("connection", {"state": "online"})
    with pytest.raises(Exception, match="follow the console already"):
        hub.subscribe(None)
    hub.unsubscribe(slow)
    hub.subscribe(None)
    hub.close()
    assert other.dropped


def test_an_event_is_one_line_of_json():
    assert frame("value", {"v": "a\nb"}) == b'event: value\ndata: {"v": "a\\nb"}\n\n'


def test_the_hub_takes_events_from_many_threads():
    hub = EventHub(queue_size=10_000)
    client = hub.subscribe("a")
    threads = [threading.Thread(target=lambda: [hub.publish("a", "value", i) for i in range(500)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert client.queue.qsize() == 2000 and not client.dropped


def test_wrong_passwords_are_counted_per_client_and_say_when_the_lockout_starts():
    from hcpy.web.security import MAX_FAILURES, LoginRefused

    clock = Clock()
    guard = Guard("s3cret", clock=clock)
    visitor = guard.visitor(None)
    refusals = []
    for _ in range(MAX_FAILURES):
        with pytest.raises(LoginRefused) as wrong:
            guard.login(visitor, "guess", "192.0.2.7")
        refusals.append(wrong.value)
    assert [r.failures for r in refusals] == list(range(1, MAX_FAILURES + 1))
    assert [r.locked for r in refusals] == [False] * (MAX_FAILURES - 1) + [True]  # said once, as it starts
    with pytest.raises(LoginRefused, match="too many wrong passwords") as waits:
        guard.login(visitor, "s3cret", "192.0.2.7")
    assert waits.value.status == 429 and not waits.value.locked
    assert guard.login(visitor, "s3cret", "192.0.2.8")  # another client is not locked out
    clock.now += 61
    assert guard.login(visitor, "s3cret", "192.0.2.7")


def test_a_client_is_its_address_or_its_ipv6_64():
    from hcpy.web.security import client_of

    assert client_of("192.0.2.7") == "192.0.2.7"
    assert client_of("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_of("2001:db8:1:2:aaaa::1") == client_of("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert client_of("2001:db8:1:3::1") != client_of("2001:db8:1:2::1")
    assert client_of("fe80::1%eth0") == "fe80::/64"


def test_event_streams_are_bounded_in_all_and_per_client():
    from hcpy.web.events import TooManyClients

    hub = EventHub(max_clients=4, per_client=2)
    hub.subscribe(None, "a")
    hub.subscribe(None, "a")
    with pytest.raises(TooManyClients, match="2 pages of this browser"):
        hub.subscribe(None, "a")
    hub.subscribe(None, "b")
    hub.subscribe(None)  # Home Assistant's ingress: not counted per client
    with pytest.raises(TooManyClients, match="4 pages follow the console"):
        hub.subscribe(None, "c")


def test_a_form_body_nested_thousands_deep_or_decoding_to_surrogates_is_no_form():
    from hcpy.web.form_data import NotFormData, parse_form_data

    nested = b"v"
    for level in range(3000, 0, -1):
        nested = (b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n"
                  % (level - 1, level) + nested + b"\r\n--b%d--\r\n" % (level - 1))  # fmt: skip
    with pytest.raises(NotFormData, match="nests parts within parts"):
        parse_form_data("multipart/form-data; boundary=b0", nested)
    utf7 = (b'--x\r\nContent-Disposition: form-data; name="key"\r\nContent-Type: text/plain; charset=utf-7\r\n\r\n'
            b"+2AA-\r\n--x--\r\n")  # fmt: skip
    with pytest.raises(NotFormData, match="is not text"):
        parse_form_data("multipart/form-data; boundary=x", utf7)
