"""The console as the appliance's face: what a person looks at on each card, the controls by the chosen program, the log's names.

First the pure parts (face.face_of, pages.face_section, the controls, the
log's data), then the same over real HTTP: simulated appliances, hcpy's
bridge, mosquitto and the console, a run started through the console and
turned on by the simulator's clock.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from support import COFFEE, DISHWASHER, WASHER, profile_files, simulated
from test_web_support import Browser, EventStream, console_over, parse, wait_until

from hcpy.appliance.observed import IN, Journal
from hcpy.appliance.profile_xml import parse_profile
from hcpy.appliance.state import ApplianceState
from hcpy.homeassistant.discovery import Discovery, DiscoveryOptions
from hcpy.mqtt.topics import Topics
from hcpy.simulator import ManualClock
from hcpy.web import pages
from hcpy.web.control_panel import program_form
from hcpy.web.face import duration, face_of
from hcpy.web.log_page import LogFilter, data_text, json_lines, log_page, selected
from hcpy.web.snapshot import Connection, controls_of

ECO = "Dishcare.Dishwasher.Program.Eco50"
QUICK = "Dishcare.Dishwasher.Program.Quick45"
OPERATION = "BSH.Common.Status.OperationState"
DOOR = "BSH.Common.Status.DoorState"
REMAINING = "BSH.Common.Option.RemainingProgramTime"
PROGRESS = "BSH.Common.Option.ProgramProgress"
PHASE = "Dishcare.Dishwasher.Status.ProgramPhase"
REMOTE_START = "BSH.Common.Status.RemoteControlStartAllowed"
COTTON = "LaundryCare.Washer.Program.Cotton"
ENERGY_FORECAST = "BSH.Common.Option.EnergyForecast"
WATER_FORECAST = "BSH.Common.Option.WaterForecast"
NOW = 1_714_564_800.0  # 2024-05-01T12:00:00Z


def state_of(stem: str, name: str = "appliance", **values) -> ApplianceState:
    state = ApplianceState(parse_profile(*profile_files(stem)), name)
    profile = state.profile
    items = []
    for feature_name, value in values.items():
        feature = profile.by_name(feature_name.replace("__", "."))
        if feature.enum is not None and isinstance(value, str):
            value = next(number for number, member in feature.enum.members.items() if member == value)
        elif isinstance(value, str) and profile.by_name(value) is not None:
            value = profile.by_name(value).uid
        items.append({"uid": feature.uid, "value": value})
    state.apply_values(items)
    return state


def running_dishwasher() -> ApplianceState:
    return state_of(
        DISHWASHER, "dishwasher",
        BSH__Common__Status__OperationState="Run", BSH__Common__Root__ActiveProgram=ECO,
        BSH__Common__Root__SelectedProgram=ECO, Dishcare__Dishwasher__Status__ProgramPhase="MainWash",
        BSH__Common__Option__RemainingProgramTime=3900, BSH__Common__Option__ProgramProgress=42,
        BSH__Common__Status__DoorState="Closed", BSH__Common__Status__RemoteControlStartAllowed=True,
    )  # fmt: skip


# -- the face, pure -----------------------------------------------------------------------------


def test_a_running_program_shows_state_program_phase_time_left_end_progress_and_door():
    face = face_of(running_dishwasher(), now=NOW)
    shown = {s.key: (s.label, s.text) for s in face.slots}
    assert shown["operation"] == ("Operation state", "Run")
    assert shown["program"] == ("Active program", "Eco50")
    assert shown["phase"] == ("Program phase", "MainWash")
    assert shown["remaining"] == ("Remaining program time", "1:05 h")
    assert shown["progress"] == ("Program progress", "42 %")
    assert shown["door"] == ("Door state", "Closed")
    assert shown["remote_start"] == ("Remote control start allowed", "yes")
    assert face.slot("end").label == "Program end" and face.slot("end").number == NOW + 3900
    assert face.slot("progress").number == 42 and face.under_way
    assert [s.key for s in face.slots] == [
        "operation",
        "program",
        "phase",
        "remaining",
        "end",
        "progress",
        "door",
        "remote_start",
    ]


def test_at_rest_there_is_no_time_left_progress_or_phase_and_the_selected_program_is_named():
    state = state_of(DISHWASHER, BSH__Common__Status__OperationState="Ready", BSH__Common__Root__SelectedProgram=QUICK,
                     BSH__Common__Option__RemainingProgramTime=1800, BSH__Common__Option__ProgramProgress=0)  # fmt: skip
    face = face_of(state, now=NOW)
    assert [s.key for s in face.slots] == ["operation", "program"]
    assert (face.slot("program").label, face.slot("program").text) == ("Selected program", "Quick45")
    # The slots without a value are still known (a page fills them when their values come).
    assert face.headings["remaining"] == ("Remaining program time", REMAINING)
    assert face.headings["end"] == ("Program end", None) and "phase" in face.headings


def test_the_faces_names_are_the_home_assistant_entity_names():
    state = running_dishwasher()
    topics = Topics("homeconnect/", "dishwasher")

    class Published:  # the topics discovery reads (the bridge's are Naming's)
        state_topic = staticmethod(lambda f: topics.state(f.feature_id))
        event_topic = staticmethod(lambda f: topics.event(f.feature_id))
        info_topic = staticmethod(lambda key: topics.state(key))
        available_topic = staticmethod(lambda f: topics.available(f.feature_id))

    entity_names = {
        json.loads(m.payload).get("name")
        for m in Discovery(topics, Published(), DiscoveryOptions()).messages(state, {})
    }
    labels = {s.label for s in face_of(state, now=NOW).slots}
    assert labels <= entity_names, labels - entity_names
    # The options' and the values' labels too.
    eco = next(p for p in controls_of(state).programs if p.name == ECO)
    assert "Brilliance dry" in {f.short for f in eco.options}
    assert {f.short for f in eco.options} <= entity_names, {f.short for f in eco.options} - entity_names


def test_an_alert_stands_with_its_time_and_the_last_runs_end_is_not_one_while_a_program_runs():
    state = state_of(DISHWASHER, BSH__Common__Status__OperationState="Finished", BSH__Common__Event__ProgramFinished="Present",
                     BSH__Common__Event__LowWaterPressure="Off")  # fmt: skip
    alerts = face_of(state, now=NOW).alerts
    assert [(a.label, a.value, a.at) for a in alerts] == [("Program finished", "Present", None)]
    running = running_dishwasher()
    running.apply_values([{"uid": running.profile.by_name("BSH.Common.Event.ProgramFinished").uid, "value": 1}])
    assert face_of(running, now=NOW).alerts == ()


def test_an_alert_says_when_it_came_from_the_messages_kept():
    state = state_of(DISHWASHER, BSH__Common__Status__OperationState="Ready")
    low = state.profile.by_name("BSH.Common.Event.LowWaterPressure")
    journal = Journal()
    notify = {"sID": 1, "msgID": 2, "resource": "/ro/values", "version": 1, "action": "NOTIFY"}
    journal.record(IN, json.dumps({**notify, "data": [{"uid": low.uid, "value": 1}]}))
    came = journal.entries()[-1].at
    state.apply_values([{"uid": low.uid, "value": 1}])
    assert [(a.label, a.value, a.at) for a in face_of(state, journal, now=NOW).alerts] == [
        ("Low water pressure", "Present", came)
    ]
    # Over, then again later: the new time.
    state.apply_values([{"uid": low.uid, "value": 0}])
    assert face_of(state, journal, now=NOW).alerts == ()
    journal.record(IN, json.dumps({**notify, "msgID": 3, "data": [{"uid": low.uid, "value": 1}]}))
    state.apply_values([{"uid": low.uid, "value": 1}])
    assert face_of(state, journal, now=NOW).alerts[0].at == journal.entries()[-1].at >= came


@pytest.mark.parametrize(("seconds", "text"), [(0, "0 s"), (45, "45 s"), (60, "1 min"), (89, "1 min"), (90, "2 min"),
                                               (3599, "60 min"), (3600, "1:00 h"), (13500, "3:45 h")])  # fmt: skip
def test_time_left_reads_as_a_person_says_it(seconds, text):
    assert duration(seconds) == text


def connection(face=None, name="dishwasher") -> Connection:
    return Connection(name=name, brand="SIEMENS", model="SN658X06TE", type="Dishwasher", state="online", since=NOW,
                      reason=None, transport="tls", address="127.0.0.1:1", firmware="3.2", ha_id=None, last_in=NOW,
                      last_out=None, messages_in=5, messages_out=3, connects=1, face=face)  # fmt: skip


def test_the_card_shows_the_face_first_and_the_connection_one_click_away():
    card = parse(pages.connection_card(connection(face_of(running_dishwasher(), now=NOW))))
    article = card.find("article", data_appliance="dishwasher")
    slots = {n.get("data-face-slot"): n for n in article.find_all(data_face_slot=True)}
    assert (
        slots["operation"].find("span", class_="face-text").text() == "Run" and "hidden" not in slots["operation"].attrs
    )
    assert slots["remaining"].get("data-face-feature") == REMAINING
    assert slots["progress"].find("progress").get("value") == "42"
    assert slots["end"].find("time").get("datetime") == "2024-05-01T13:05:00+00:00"
    # Connection details in a <details>, closed; the reason in its summary.
    details = article.find("details", class_="connection-details")
    assert "open" not in details.attrs and details.find("summary").find(data_field="reason").text() == "connected"
    assert {n.get("data-field") for n in details.find_all(data_field=True)} >= {
        "transport",
        "address",
        "firmware",
        "reconnects",
        "messages_in",
        "messages_out",
    }
    # At rest: the time slots are there, hidden, for the script to fill.
    rest = parse(
        pages.connection_card(
            connection(face_of(state_of(DISHWASHER, BSH__Common__Status__OperationState="Ready"), now=NOW))
        )
    )
    hidden = {n.get("data-face-slot") for n in rest.find_all(data_face_slot=True) if "hidden" in n.attrs}
    assert {"remaining", "progress", "end", "phase"} <= hidden


def test_names_on_the_face_are_escaped():
    state = state_of(DISHWASHER, BSH__Common__Status__OperationState="Run")
    face = face_of(state, now=NOW)
    hostile = replace(face, slots=tuple(replace(s, text="<b>x</b>") for s in face.slots))
    html = pages.connection_card(connection(hostile, name="<i>"))
    assert "<b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html and "<i>" not in html


# -- the controls, pure ---------------------------------------------------------------------------


def form_of(state: ApplianceState):
    return parse(program_form(controls_of(state), "/appliance/x/command", "token"))


def test_start_now_is_styled_by_the_program_chosen_in_the_dropdown():
    # Nothing selected on the appliance: the dropdown's program starts, and the button says so.
    form = form_of(state_of(DISHWASHER, BSH__Common__Status__OperationState="Ready"))
    assert form.by_id("start-button").get("data-startable") == "true"
    assert all(o.get("data-startable") == "true" for o in form.by_id("program-select").find_all("option"))
    # The appliance takes no start now: muted, and the title says why.
    open_door = form_of(
        state_of(DISHWASHER, BSH__Common__Status__OperationState="Ready", BSH__Common__Status__DoorState="Open")
    )
    button = open_door.by_id("start-button")
    assert button.get("data-startable") == "false" and "close it" in button.get("data-refused") and button.get("title")


def test_a_delayed_start_is_offered_only_with_a_program_that_has_a_delay_option():
    dishwasher = form_of(state_of(DISHWASHER, BSH__Common__Status__OperationState="Ready"))
    assert "hidden" not in dishwasher.by_id("start-delayed-button").attrs
    assert all(
        o.get("data-delay") == "BSH.Common.Option.StartInRelative"
        for o in dishwasher.by_id("program-select").find_all("option")
    )
    coffee = program_form(controls_of(state_of(COFFEE, BSH__Common__Status__OperationState="Ready")), "/a", "t")
    assert "start-delayed-button" not in coffee and "start-delay" not in coffee and "Start with delay" not in coffee


def test_the_washers_forecasts_are_shown_as_values_not_inputs():
    state = state_of(WASHER, BSH__Common__Status__OperationState="Ready", BSH__Common__Root__SelectedProgram=COTTON,
                     BSH__Common__Option__EnergyForecast=40, BSH__Common__Option__WaterForecast=60)  # fmt: skip
    cotton = state.profile.by_name(COTTON)
    state.limits[cotton.uid] = replace(state.limits[cotton.uid], available=True)
    fieldset = form_of(state).find("fieldset", data_program=COTTON)
    for name, value in ((ENERGY_FORECAST, "40 %"), (WATER_FORECAST, "60 %")):
        row = fieldset.find("div", data_option=name)
        assert row.get("data-read-only") == "true" and not row.find_all("input") and not row.find_all("select")
        assert row.find("output").text() == value
    assert fieldset.find_all(
        "select", data_field_name="LaundryCare.Washer.Option.SpinSpeed"
    )  # what a user sets stays a field


# -- the message log, pure ----------------------------------------------------------------------------


def test_the_log_names_features_with_the_uid_in_brackets_and_the_download_stays_raw():
    features = {544: REMAINING, 527: DOOR, 8196: ECO, 558: "BSH.Common.Option.StartInRelative"}
    assert data_text([{"uid": 544, "value": 3600}, {"uid": 527, "value": 1}], features) == (
        f"{REMAINING} (544) = 3600\n{DOOR} (527) = 1"
    )
    started = data_text([{"program": 8196, "options": [{"uid": 558, "value": 60}]}], features)
    assert f'"program": "{ECO} (8196)"' in started and '"uid": "BSH.Common.Option.StartInRelative (558)"' in started
    assert data_text([{"uid": 9999, "value": 1}], features) == "9999 = 1"  # one the profile lacks: its number
    entries = [{"at": "2024-05-01T12:00:00.000+00:00", "unix": NOW, "direction": "in", "msg_id": 1, "action": "NOTIFY",
                "resource": "/ro/values", "data": [{"uid": 544, "value": 3600}], "code": None}]  # fmt: skip
    page = parse(log_page("dishwasher", selected(entries, LogFilter()), LogFilter(), 1, features))
    assert page.find("td", class_="data").text() == f"{REMAINING} (544) = 3600"
    assert json.loads(json_lines(entries).decode())["data"] == [{"uid": 544, "value": 3600}]


# -- over real HTTP ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def profiles():
    return {stem: parse_profile(*profile_files(stem)) for stem in (DISHWASHER, WASHER, COFFEE)}


@pytest.fixture
def kitchen(profiles, broker):
    """A dishwasher on a clock the test turns, a washer and a coffee machine, bridged, with the console."""
    clock = ManualClock()
    sims = {
        "dishwasher": simulated(profiles[DISHWASHER], "dishwasher", "tls", clock=clock),
        "washer": simulated(profiles[WASHER], "washer", "aes", services="legacy", clock=ManualClock()),
        "coffeemaker": simulated(profiles[COFFEE], "coffeemaker", clock=ManualClock()),
    }
    try:
        with console_over(broker.port, list(sims.values())) as (bridge, server):
            browser = Browser(server.url)
            yield bridge, browser, {name: sim for name, (sim, _) in sims.items()}
            browser.close()
    finally:
        for sim, _ in sims.values():
            sim.stop()


def face_texts(document, name: str) -> dict[str, str]:
    card = document.find("article", data_appliance=name)
    return {
        n.get("data-face-slot"): n.find("dd").text().strip()
        for n in card.find_all(data_face_slot=True)
        if "hidden" not in n.attrs
    }


def test_the_list_and_the_page_show_a_run_and_the_stream_carries_the_face_live(kitchen):
    bridge, browser, sims = kitchen
    dishwasher = bridge.appliances[0]
    assert face_texts(browser.page("/"), "dishwasher")["operation"] == "Ready"
    browser.page("/appliance/dishwasher")
    stream = EventStream(browser, "/events")  # the list's stream
    try:
        stream.wait("ready")
        assert browser.command("dishwasher", {"action": "start", "program": ECO}).json()["status"] == "ok"
        wait_until(lambda: dishwasher.state.value_of(OPERATION) == "Run", what="the run")
        sims["dishwasher"].advance(3600)
        wait_until(lambda: (dishwasher.state.value_of(PROGRESS) or 0) > 0, what="progress")
        # The list's stream (connections only) carries the face: a page follows without a reload.
        live = stream.wait("connection", lambda d: d["name"] == "dishwasher" and d["face"] and any(
            s["key"] == "progress" and s["number"] > 0 for s in d["face"]["slots"]), timeout=15)  # fmt: skip
        slots = {s["key"]: s for s in live["face"]["slots"]}
        assert slots["operation"]["text"] == "Run" and slots["program"]["text"] == "Eco50"
        assert slots["remaining"]["feature"] == REMAINING and slots["end"]["number"] > slots["remaining"]["number"]
    finally:
        stream.close()
    for path in ("/", "/appliance/dishwasher"):
        shown = face_texts(browser.page(path), "dishwasher")
        assert shown["operation"] == "Run" and shown["program"] == "Eco50", (path, shown)
        assert shown["remaining"].endswith((" h", " min")) and shown["progress"].endswith(" %"), (path, shown)
        assert shown["phase"] and shown["door"] == "Closed" and shown["remote_start"] == "yes", (path, shown)
        assert "end" in shown, (path, shown)


def test_the_coffee_machine_offers_no_delay_and_the_washers_forecasts_are_no_inputs(kitchen):
    _, browser, _ = kitchen
    coffee = browser.get("/appliance/coffeemaker").text
    assert "Start with delay" not in coffee and 'id="start-delay"' not in coffee
    assert parse(coffee).by_id("start-button").get("data-startable") == "true"
    assert parse(browser.get("/appliance/dishwasher").text).by_id("start-delayed-button")

    def cotton():
        page = parse(browser.get("/appliance/washer/controls").text)
        found = page.find_all("fieldset", data_program=COTTON)
        return found[0] if found else None

    fieldset = wait_until(cotton, what="the washer's Cotton program")
    assert not fieldset.find_all("input", data_field_name=ENERGY_FORECAST)
    assert not fieldset.find_all("input", data_field_name=WATER_FORECAST)
    # Shown as values where the appliance reports them.
    for row in fieldset.find_all("div", data_read_only="true"):
        assert not row.find_all("input") and not row.find_all("select")


def test_the_log_page_names_the_features_and_the_download_keeps_uids(kitchen):
    bridge, browser, _ = kitchen
    profile = bridge.appliances[0].state.profile
    door = profile.by_name(DOOR)
    page = browser.get("/appliance/dishwasher/log").text
    assert f"{DOOR} ({door.uid}) = " in parse(page).by_id("log-table").text()
    raw = browser.get("/appliance/dishwasher/log.jsonl").text
    assert f"{DOOR} (" not in raw and f'"uid": {door.uid}' in raw
