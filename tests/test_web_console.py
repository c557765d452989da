"""The web console end to end: simulated appliances <-> hcpy's bridge <-> mosquitto, and the console over HTTP.

Each page is read as a browser gets it (requests, its cookie and token), the
live stream as an EventSource would read it, and every command goes through
the console to the simulator and back. Nothing asserts on wall time: waits
are generous, and only ever reached when something is broken.
"""

from __future__ import annotations

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import COFFEE, DISHWASHER, WASHER, posts, profile_files, simulated
from test_web_support import Browser, EventStream, console_over, parse, wait_until

from hcpy.appliance.profile_xml import parse_profile
from hcpy.encoding import unb64url
from hcpy.simulator import ManualClock

ECO = "Dishcare.Dishwasher.Program.Eco50"
QUICK = "Dishcare.Dishwasher.Program.Quick45"
DOOR = "BSH.Common.Status.DoorState"
OPERATION = "BSH.Common.Status.OperationState"
POWER = "BSH.Common.Setting.PowerState"
T0 = 1_714_564_800.0  # 2024-05-01T12:00:00Z: the runs' time when the dishwasher's clock reads 0


@pytest.fixture(scope="module")
def profiles():
    return {stem: parse_profile(*profile_files(stem)) for stem in (DISHWASHER, WASHER, COFFEE)}


@pytest.fixture
def kitchen(profiles, broker, tmp_path):
    """A TLS dishwasher and an AES washer on clocks the test turns, bridged, with the console: (bridge, server, sims)."""
    clock = ManualClock()
    dishwasher = simulated(profiles[DISHWASHER], "dishwasher", "tls", clock=clock)
    washer = simulated(profiles[WASHER], "washer", "aes", services="legacy", clock=ManualClock())
    # Forecasts of 100 % stand for these (hcpy.runs): the runs page has figures without a meter.
    dishwasher[1].extra["hc2mqtt"] = {"energy_full_scale_kwh": 2, "water_full_scale_l": 20}
    sims = {"dishwasher": dishwasher, "washer": washer}
    try:
        with console_over(broker.port, [dishwasher, washer], runs_dir=tmp_path / "runs") as (bridge, server):
            # Runs are timed by the dishwasher's clock: a run's duration is its own.
            bridge.appliances[0].runs.clock = lambda: T0 + clock.now()
            yield bridge, server, sims
    finally:
        for sim, _ in sims.values():
            sim.stop()


@pytest.fixture
def browser(kitchen):
    _, server, _ = kitchen
    b = Browser(server.url)
    yield b
    b.close()


def cell(document, feature: str):
    return document.find("td", data_feature=feature)


def test_the_appliance_list_shows_each_connection(kitchen, browser):
    _bridge, _, sims = kitchen
    document = browser.page("/")
    for name, transport in (("dishwasher", "TLS"), ("washer", "AES")):
        card = document.find("article", data_appliance=name)
        assert card.get("data-state") == "online"
        fields = {n.get("data-field"): n.text() for n in card.find_all(data_field=True)}
        assert fields["state"] == "online" and fields["reason"] == "connected"
        assert fields["transport"] == transport
        assert fields["address"] == f"127.0.0.1:{sims[name][0].port}"
        assert fields["firmware"].startswith("3.2.10")
        assert fields["reconnects"] == "0"
        assert int(fields["messages_in"]) > 0 and int(fields["messages_out"]) > 0
        assert card.find("time", data_field="since").get("datetime")
        assert card.find("time", data_field="last_in").get("datetime")
        assert card.find("a", class_="appliance-link").get("href") == f"/appliance/{name}"
    assert "SIEMENS SN658X06TE" in document.find("article", data_appliance="dishwasher").text()


def test_an_appliance_page_shows_its_values_grouped_with_units_and_members(kitchen, browser):
    document = browser.page("/appliance/dishwasher")
    assert document.find("body").get("data-appliance") == "dishwasher"
    door = cell(document, DOOR)
    assert door.text() in ("Open", "Closed")
    assert "Open" in door.get("title") and "Closed" in door.get("title")  # the enumeration's members
    assert cell(document, OPERATION).text() == "Ready"
    assert cell(document, POWER).text() == "On"
    # Grouped as the profile groups them, each with its unit.
    groups = {g.get("data-group"): g for g in document.find_all("tbody", data_group=True)}
    assert groups["status"].find_all("td", data_feature=DOOR)
    assert groups["setting"].find_all("td", data_feature=POWER)
    remaining = groups["option"].find("tr", data_row="BSH.Common.Option.RemainingProgramTime")
    assert remaining.find("td", class_="unit").text() == "s"
    wifi = groups["status"].find("tr", data_row="BSH.Common.Status.WiFiSignalStrength")
    assert wifi.find("td", class_="unit").text() == "dBm"
    assert groups["program"].find_all("td", data_feature="BSH.Common.Root.SelectedProgram")
    assert groups["event"].find_all("td", data_feature="BSH.Common.Event.ProgramFinished")
    # The controls: the profile's programs, their options within their limits, the commands, the settings.
    programs = [o.get("value") for o in document.by_id("program-select").find_all("option")]
    assert ECO in programs and QUICK in programs
    for element_id in ("select-button", "start-button", "start-delay", "start-delayed-button", "abort-button",
                       "program-reply", "last-answer", "settings", "raw-topic", "raw-payload", "raw-button"):  # fmt: skip
        document.by_id(element_id)
    power = document.find("form", data_setting=POWER)
    assert [o.get("value") for o in power.find("select").find_all("option")] == ["Off", "On"]
    delay = document.by_id("start-delay")
    assert delay.get("min") == "0"


def test_the_washer_page_over_aes(kitchen, browser):
    document = browser.page("/appliance/washer")
    assert document.find("article", data_appliance="washer").find(data_field="transport").text() == "AES"
    programs = [o.get("value") for o in document.by_id("program-select").find_all("option")]
    assert "LaundryCare.Washer.Program.Cotton" in programs
    # An enumeration option is a choice of its members.
    cotton = document.find("fieldset", data_program="LaundryCare.Washer.Program.Cotton")
    spin = cotton.find("div", data_option="LaundryCare.Washer.Option.SpinSpeed").find("select")
    offered = {o.get("value") for o in spin.find_all("option")} - {""}
    members = set(kitchen[0].appliances[1].state.profile.by_name("LaundryCare.Washer.Option.SpinSpeed").enum.members.values())
    assert len(offered) > 2 and offered <= members, offered


def test_options_take_their_programs_live_limits(profiles, broker):
    espresso = "ConsumerProducts.CoffeeMaker.Program.Beverage.Espresso"
    fill = "ConsumerProducts.CoffeeMaker.Option.FillQuantity"
    sim, entry = simulated(profiles[COFFEE], "coffeemaker", clock=ManualClock())
    try:
        with console_over(broker.port, [(sim, entry)]) as (bridge, server):
            browser = Browser(server.url)
            field = browser.page("/appliance/coffeemaker").find("fieldset", data_program=espresso).find("input", data_field_name=fill)
            assert (field.get("type"), field.get("min"), field.get("max"), field.get("step")) == ("number", "20", "400", "5")
            # The appliance narrows the option for Espresso: the controls follow.
            profile = bridge.appliances[0].state.profile
            sim.set_description(fill, min=35, max=60, parent_uid=profile.by_name(espresso).uid)

            def narrowed():
                page = parse(browser.get("/appliance/coffeemaker/controls").text)
                field = page.find("fieldset", data_program=espresso).find("input", data_field_name=fill)
                return (field.get("min"), field.get("max")) == ("35", "60")

            wait_until(narrowed, what="Espresso's FillQuantity within 35-60")
            answer = browser.command("coffeemaker", {"action": "select", "program": espresso, f"option:{fill}": "100"}).json()
            assert answer["status"] == "error" and "100" in answer["error"] and fill in answer["error"], answer
            browser.close()
    finally:
        sim.stop()


def test_a_value_change_in_the_simulator_reaches_the_page_live(kitchen, browser):
    bridge, _, sims = kitchen
    sim = sims["dishwasher"][0]
    browser.page("/appliance/dishwasher")
    stream = EventStream(browser, "/events?appliance=dishwasher")
    washer_stream = EventStream(browser, "/events?appliance=washer")
    try:
        hello = stream.wait("ready")
        assert hello["name"] == "dishwasher" and hello["state"] == "online"
        washer_stream.wait("ready")
        now = "Open" if bridge.appliances[0].state.value_of(DOOR) == "Closed" else "Closed"
        sim.set_value(DOOR, now)
        change = stream.wait("value", lambda d: d["feature"] == DOOR)
        members = list(bridge.appliances[0].state.profile.by_name(DOOR).enum.members.values())
        assert change == {"feature": DOOR, "short": "Door state", "group": "status", "value": now, "unit": None, "members": members}
        # The card (message counts, last message) follows the values, not only connects.
        card = stream.wait("connection", lambda d: d["name"] == "dishwasher" and d["messages_in"] > hello["messages_in"])
        assert card["state"] == "online"
        # The washer's changes go to the washer's pages only.
        sims["washer"][0].set_value(DOOR, "Open")
        washer_stream.wait("value", lambda d: d["feature"] == DOOR and d["value"] == "Open")
        assert len([d for e, d in stream.events if e == "value" and d["feature"] == DOOR]) == 1
        # Quiet streams are kept alive.
        wait_until(lambda: stream.comments, what="a keep-alive comment")
    finally:
        stream.close()
        washer_stream.close()
    # The page as loaded now says the same.
    assert cell(browser.page("/appliance/dishwasher"), DOOR).text() == now


def test_the_list_hears_an_appliance_go_offline_and_come_back(kitchen, browser):
    _, _, sims = kitchen
    browser.page("/")
    stream = EventStream(browser, "/events")
    try:
        stream.wait("ready")
        sims["washer"][0].drop_connections()
        offline = stream.wait("connection", lambda d: d["name"] == "washer" and d["state"] == "offline")
        assert offline["reason"] and offline["disconnects"]
        # After the drop (the cards' own refreshes say "online" before it too).
        back = stream.wait("connection", lambda d: d["name"] == "washer" and d["state"] == "online", timeout=20,
                           since=stream.found + 1)  # fmt: skip
        assert back["reconnects"] == 1
        assert not [d for e, d in stream.events if e == "value"]  # the list follows connections only
    finally:
        stream.close()


def test_commands_from_the_controls_reach_the_appliance_and_return_hcpys_answer(kitchen, browser):
    bridge, _, sims = kitchen
    sim = sims["dishwasher"][0]
    browser.page("/appliance/dishwasher")
    stream = EventStream(browser, "/events?appliance=dishwasher")
    try:
        stream.wait("ready")
        answer = browser.command("dishwasher", {"action": "select", "program": ECO}).json()
        assert (answer["status"], answer["command"]) == ("ok", "selectedProgram"), answer
        assert answer["transaction"].startswith("console-")
        assert posts(sim)[-1].resource == "/ro/selectedProgram"
        # The page's stream carries the same answer, and the value it changed.
        assert stream.wait("answer", lambda d: d.get("transaction") == answer["transaction"]) == answer
        stream.wait("value", lambda d: d["feature"] == "BSH.Common.Root.SelectedProgram" and d["value"] == ECO)

        # A delayed start, as the form sends it: minutes.
        response = browser.command("dishwasher", {"action": "start_delayed", "program": ECO, "delay_minutes": "60",
                                                  "option:Dishcare.Dishwasher.Option.BrillianceDry": "True"})  # fmt: skip
        assert response.status_code == 200 and response.json()["status"] == "ok", response.text
        start = posts(sim)[-1]
        assert start.resource == "/ro/activeProgram"
        options = start.data[0]["options"]
        assert {"uid": 558, "value": 3600} in options  # StartInRelative
        assert any(o["value"] is True for o in options if o["uid"] != 558)
        stream.wait("value", lambda d: d["feature"] == OPERATION and d["value"] == "DelayedStart")

        # Refused by hcpy before anything is sent, with its sentence.
        sent = len(posts(sim))
        refused = browser.command("dishwasher", {"action": "set", "name": POWER, "value": "Sideways"}).json()
        assert refused["status"] == "error" and refused["code"] == 400, refused
        assert refused["error"] == "'Sideways' is not a value of BSH.Common.Setting.PowerState; allowed: Off, On"
        again = browser.command("dishwasher", {"action": "start", "program": QUICK}).json()
        assert again["status"] == "error" and again["code"] == 409 and "already under way" in again["error"], again
        assert len(posts(sim)) == sent

        aborted = browser.command("dishwasher", {"action": "abort"}).json()
        assert aborted["status"] == "ok", aborted
        assert posts(sim)[-1].data == [{"uid": bridge.appliances[0].state.profile.by_name("BSH.Common.Command.AbortProgram").uid, "value": True}]
    finally:
        stream.close()
    # A page drawn now shows the last answer, not only pages that were open for it.
    last = browser.page("/appliance/dishwasher").by_id("last-answer")
    assert (last.text(), last.attrs.get("data-status")) == ("ok (activeProgram)", "ok")


def test_a_setting_and_a_raw_command_as_plain_forms(kitchen, browser):
    bridge, _, sims = kitchen
    sim = sims["dishwasher"][0]
    profile = bridge.appliances[0].state.profile
    document = browser.page("/appliance/dishwasher")
    token = document.find("form", id="raw-form").find("input", name="token").get("value")
    # As a browser without script posts the raw form: urlencoded, the token a field.
    extra_dry = "Dishcare.Dishwasher.Setting.ExtraDry"
    response = browser.http.post(
        browser.base + "/appliance/dishwasher/command",
        data={"token": token, "topic": "set", "payload": json.dumps({"name": extra_dry, "value": True})},
        timeout=20,
    )
    answer = response.json()
    assert (answer["command"], answer["status"]) == ("set", "ok"), answer
    assert answer["transaction"].startswith("console-")
    assert posts(sim)[-1].resource == "/ro/values"
    assert posts(sim)[-1].data == [{"uid": profile.by_name(extra_dry).uid, "value": True}]
    # A setting through its own form's fields.
    power = document.find("form", data_setting=POWER)
    fields = {i.get("name"): i.get("value") for i in power.find_all("input") if i.get("name")}
    fields["value"] = "Off"
    answer = browser.http.post(browser.base + "/appliance/dishwasher/command", data=fields, timeout=20).json()
    assert answer["request"] == {"name": POWER, "value": "Off"}, answer
    assert answer["status"] == "ok", answer
    assert posts(sim)[-1].data[0]["uid"] == profile.by_name(POWER).uid


def test_a_post_that_is_no_command_is_a_400_with_a_sentence(kitchen, browser):
    browser.page("/appliance/dishwasher")
    response = browser.command("dishwasher", {"topic": "set", "payload": "{not json"})
    assert response.status_code == 400 and "the payload is not JSON" in response.json()["error"]
    response = browser.command("dishwasher", {"action": "launch"})
    assert response.status_code == 400 and "no command" in response.json()["error"]
    assert browser.command("nobody", {"action": "abort"}).status_code == 404


def test_no_answer_from_hcpy_is_a_504_that_says_so(kitchen, browser):
    bridge, server, _ = kitchen
    browser.page("/appliance/dishwasher")
    bridge.remove_listener(server.answers)  # the answer is published, but the console no longer hears it
    response = browser.command("dishwasher", {"action": "select", "program": ECO})
    assert response.status_code == 504
    assert response.json()["error"].startswith("hcpy published no answer to this command on homeconnect/dishwasher/response within 4 s")


def test_the_message_log_filters_and_downloads_without_keys(kitchen, browser):
    _, _, sims = kitchen
    browser.page("/appliance/washer")
    assert browser.command("washer", {"action": "select", "program": "LaundryCare.Washer.Program.Cotton"}).json()["status"] == "ok"

    document = browser.page("/appliance/washer/log")
    rows = document.by_id("log-table").find_all("tr", class_="message")
    resources = [r.find("td", class_="resource").text() for r in rows]
    assert "/ro/selectedProgram" in resources and "/ci/services" in resources
    filtered = browser.page("/appliance/washer/log?direction=out&action=POST&resource=program")
    rows = filtered.by_id("log-table").find_all("tr", class_="message")
    assert rows and all(r.get("data-direction") == "out" and r.get("data-action") == "POST" for r in rows)
    assert filtered.by_id("log-download").get("href") == "/appliance/washer/log.jsonl?direction=out&resource=program&action=POST&limit=200"

    response = browser.get(document.by_id("log-download").get("href"))
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/x-ndjson")
    assert response.headers["Content-Disposition"].startswith('attachment; filename="washer-messages-')
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert {"at", "unix", "direction", "msg_id", "action", "resource", "data", "code"} <= set(lines[0])
    resources = {(m["direction"], m["action"], m["resource"]) for m in lines}
    assert {("in", "POST", "/ei/initialValues"), ("out", "GET", "/ci/services"), ("out", "POST", "/ro/selectedProgram")} <= resources
    # No key and no IV of either appliance, in any spelling, on the page or in the download.
    for _, entry in sims.values():
        secrets = [entry.key, unb64url(entry.key).hex()]
        if entry.iv:
            secrets += [entry.iv, unb64url(entry.iv).hex()]
        for secret in secrets:
            assert secret not in response.text and secret not in browser.get("/appliance/washer/log").text
            assert secret not in browser.get("/appliance/washer").text and secret not in browser.get("/").text


def test_the_runs_page_shows_a_finished_runs_figures(kitchen, browser):
    bridge, _, sims = kitchen
    sim = sims["dishwasher"][0]
    dishwasher = bridge.appliances[0]
    assert browser.page("/appliance/dishwasher/runs").by_id("runs-empty")
    answer = browser.command("dishwasher", {"action": "start", "program": QUICK}).json()
    assert answer["status"] == "ok", answer
    wait_until(lambda: dishwasher.state.value_of(OPERATION) == "Run", what="the run")
    sim.advance(1800)
    wait_until(lambda: dishwasher.runs.store.history(), what="the run's record")

    document = browser.page("/appliance/dishwasher/runs")
    row = document.by_id("runs-table").find("tr", data_run="0")
    assert "Quick45" in row.text() and "2024-05-01 12:00:00" in row.text() and "finished" in row.text()
    assert "30:00 min" in row.text()
    assert row.find("td", data_quantity="energy").text().startswith("1.2")  # 60 % of 2 kWh, forecast
    assert row.find("td", data_quantity="water").text().startswith("10")  # 50 % of 20 L
    energy = document.by_id("energy-chart").find_all("rect", data_value=True)
    water = document.by_id("water-chart").find_all("rect", data_value=True)
    assert [r.get("data-value") for r in energy] == ["1.2"] and [r.get("data-value") for r in water] == ["10"]
    assert "1 runs: 1.2 kWh and 10 L" in document.by_id("runs-summary").text()
    # An appliance whose runs are not recorded says so (the washer's are: both have a recorder here).
    assert browser.page("/appliance/washer/runs").by_id("runs-empty")


def test_health_and_metrics(kitchen, browser):
    response = browser.get("/healthz")
    assert response.status_code == 200
    report = response.json()
    assert report["broker"]["connected"] is True
    assert {name: a["state"] for name, a in report["appliances"].items()} == {"dishwasher": "online", "washer": "online"}
    response = browser.get("/metrics")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    assert samples[("hcpy_appliance_messages_total", (("appliance", "dishwasher"), ("direction", "in")))] > 0


def test_pages_hold_no_inline_script_or_style_and_carry_the_security_headers(kitchen, browser):
    for path in ("/", "/appliance/dishwasher", "/appliance/dishwasher/controls", "/appliance/washer/log", "/appliance/dishwasher/runs"):
        response = browser.get(path)
        assert response.status_code == 200, path
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe" not in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        document = parse(response.text)
        for script in document.find_all("script"):
            assert script.get("src", "").startswith("/static/") and not script.text().strip(), path
        for node in document.walk():
            assert "style" not in node.attrs and not [a for a in node.attrs if a.startswith("on")], (path, node.tag, node.attrs)
    script = browser.get("/static/console.js")
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("text/javascript")
    assert "EventSource" in script.text
    assert browser.get("/static/console.css").headers["Content-Type"].startswith("text/css")
    assert browser.get("/static/server.py").status_code == 404
    assert browser.get("/static/..%2Fserver.py").status_code == 404
    assert browser.get("/appliance/nobody").status_code == 404


def test_an_appliance_that_went_away_shows_why_and_its_commands_say_so(kitchen, browser):
    bridge, _, sims = kitchen
    sims["washer"][0].stop()
    washer = bridge.appliances[1]
    wait_until(lambda: washer.connection.stats.state in ("offline", "connecting") and washer.connection.stats.reason,
               what="the washer offline")  # fmt: skip
    document = browser.page("/appliance/washer")
    card = document.find("article", data_appliance="washer")
    assert card.get("data-state") in ("offline", "connecting")
    assert card.find(data_field="reason").text() not in ("", "–", "connected")
    assert document.by_id("controls").get("data-online") == "false"
    # A command hcpy would send: refused, since there is no one to send it to.
    answer = browser.command("washer", {"action": "set", "name": "BSH.Common.Setting.AllowBackendConnection", "value": "True"}).json()
    assert answer["status"] == "error" and answer["code"] == 503 and "washer is offline" in answer["error"], answer
    # The log and the values it had are still there.
    assert browser.page("/appliance/washer/log").by_id("log-table")
    assert document.find_all("td", data_feature=DOOR)


def test_static_files_are_revalidated_not_sent_again(kitchen, browser):
    first = browser.get("/static/console.css")
    etag = first.headers["ETag"]
    again = browser.get("/static/console.css", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert browser.get("/static/console.css", headers={"If-None-Match": '"other"'}).status_code == 200


def test_a_history_file_that_cannot_be_read_is_said_on_the_runs_page(kitchen, browser):
    bridge, _, _ = kitchen
    history = bridge.appliances[0].runs.store.history_path
    history.parent.mkdir(parents=True, exist_ok=True)
    history.write_text("{not json\n")
    problem = browser.page("/appliance/dishwasher/runs").by_id("runs-problem").text()
    assert str(history) in problem and "cannot be read" in problem
