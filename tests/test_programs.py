"""Programs end to end: MQTT commands <-> bridge <-> simulated appliances running them.

Each appliance runs on a clock the test turns (`ManualClock`), over real
sockets on both transports and a real mosquitto: select, start now or
later, run through the phases, pause, resume, abort, finish; and every
start the appliance would refuse is refused before it is sent, with the
reason a user can act on.
"""

from __future__ import annotations

import json

import pytest
from support import COFFEE, DISHWASHER, WASHER, at_rest, posts, profile_files

from hcpy.appliance.profile_xml import parse_profile

P = "homeconnect/"
STATE = "state/bsh_common_status_operationstate"
REMAINING = "state/bsh_common_option_remainingprogramtime"
PROGRESS = "state/bsh_common_option_programprogress"
DELAY = "state/bsh_common_option_startinrelative"
ABORT_WORKS = "available/bsh_common_command_abortprogram"
START_WORKS = "available/start_selected_program"
FINISHED = "event/bsh_common_event_programfinished"


@pytest.fixture(scope="module")
def profiles():
    return {stem: parse_profile(*profile_files(stem)) for stem in (DISHWASHER, WASHER, COFFEE)}


@pytest.fixture(params=["tls", "aes"])
def transport(request):
    return request.param


def test_a_dishwasher_runs_a_delayed_program_to_the_end(profiles, run_one, transport):
    kitchen = run_one(*at_rest(profiles[DISHWASHER], "dishwasher", transport))
    kitchen.sees(STATE, "Ready")
    kitchen.sees(START_WORKS, "offline")  # nothing selected yet
    answer = kitchen.command("selectedProgram", {"program": "Eco50"})
    assert answer["status"] == "ok", answer
    kitchen.sees("state/bsh_common_root_selectedprogram", "Dishcare.Dishwasher.Program.Eco50")
    kitchen.sees(REMAINING, "13500")  # what Eco50 takes, shown once selected
    kitchen.sees(START_WORKS, "online")
    kitchen.sees("available/bsh_common_option_startinrelative", "online")

    answer = kitchen.command("activeProgram", {"program": "selected", "delay": 3600, "transaction": "t-7"})
    assert (answer["status"], answer["transaction"]) == ("ok", "t-7"), answer
    start = posts(kitchen.sim)[-1]
    assert start.resource == "/ro/activeProgram"
    assert {"uid": 558, "value": 3600} in start.data[0]["options"]
    kitchen.sees(STATE, "DelayedStart")
    kitchen.sees(DELAY, "3600")
    kitchen.sees(ABORT_WORKS, "online")
    kitchen.sees(START_WORKS, "offline")
    end = kitchen.sees("state/program_end", lambda p: p != "None")
    assert end.endswith("+00:00")  # an ISO 8601 time, 1 h + 3:45 h away

    mark = kitchen.later(1800)
    kitchen.sees(DELAY, "1800", since=mark)
    mark = kitchen.later(1800)
    kitchen.sees(STATE, "Run", since=mark)
    kitchen.sees("state/dishcare_dishwasher_status_programphase", "PreRinse", since=mark)
    mark = kitchen.later(13500 / 2)
    kitchen.sees(REMAINING, "6780", since=mark)  # whole minutes, rounded up
    kitchen.sees(PROGRESS, "50", since=mark)
    kitchen.sees("state/dishcare_dishwasher_status_programphase", "FinalRinse", since=mark)

    mark = kitchen.later(13500 / 2)
    kitchen.sees(STATE, "Finished", since=mark)
    assert json.loads(kitchen.sees(FINISHED, since=mark)) == {"event_type": "Present"}
    kitchen.sees(PROGRESS, "100", since=mark)
    kitchen.sees(ABORT_WORKS, "offline", since=mark)
    kitchen.sees("state/program_end", "None", since=mark)
    events = [(t, p, r) for t, p, r in kitchen.subscriber.messages[mark:] if t == kitchen.base + FINISHED]
    assert events == [(kitchen.base + FINISHED, '{"event_type": "Present"}', False)]  # once, not retained
    # Finished until someone opens the door.
    mark = kitchen.subscriber.mark()
    kitchen.sim.set_door(False)
    kitchen.sees(STATE, "Ready", since=mark)


def test_a_running_program_is_paused_resumed_and_aborted(profiles, run_one, transport):
    kitchen = run_one(*at_rest(profiles[WASHER], "washer", transport, services="legacy"))
    # A real washer announces its programs once connected: they are there to run.
    answer = kitchen.command("activeProgram", {"program": "Cotton"})
    assert answer["status"] == "ok", answer
    kitchen.sees(STATE, "Run")
    kitchen.sees("available/bsh_common_command_pauseprogram", "online")
    kitchen.sees("available/bsh_common_command_resumeprogram", "offline")
    kitchen.sees("state/laundrycare_common_option_processphase", "DetectingLoad")

    assert kitchen.command("activeProgram", {"program": "pause"})["status"] == "ok"
    kitchen.sees(STATE, "Pause")
    kitchen.sees("available/bsh_common_command_resumeprogram", "online")
    kitchen.later(1800)  # paused: no time passes for the program (see below)

    assert kitchen.command("activeProgram", {"program": "resume"})["status"] == "ok"
    kitchen.sees(STATE, "Run")
    mark = kitchen.later(600)
    # Cotton's 2 hours less the 10 minutes it ran; not the half hour it was paused.
    kitchen.sees(REMAINING, str(7200 - 600), since=mark)

    mark = kitchen.subscriber.mark()
    assert kitchen.command("activeProgram", {"program": "stop"})["status"] == "ok"
    kitchen.sees(STATE, "Aborting", since=mark)
    assert json.loads(kitchen.sees("event/bsh_common_event_programaborted", since=mark)) == {"event_type": "Present"}
    kitchen.sees(ABORT_WORKS, "offline", since=mark)
    mark = kitchen.later(5)
    kitchen.sees(STATE, "Ready", since=mark)
    # Nothing to abort any more: refused before it is sent, and why.
    answer = kitchen.command("activeProgram", {"program": "stop"})
    assert (answer["status"], answer["code"]) == ("error", 403)
    assert "does not take AbortProgram now (OperationState Ready)" in answer["error"], answer


def test_a_washer_starts_later_through_finish_in_relative(profiles, run_one):
    kitchen = run_one(*at_rest(profiles[WASHER], "washer", "aes", services="legacy"))
    assert kitchen.command("selectedProgram", {"program": "Cotton"})["status"] == "ok"
    kitchen.sees(REMAINING, "7200")
    answer = kitchen.command("activeProgram", {"program": "selected", "delay": 3600})
    assert answer["status"] == "ok", answer
    finish_uid = profiles[WASHER].by_name("BSH.Common.Option.FinishInRelative").uid
    finish = next(o for o in posts(kitchen.sim)[-1].data[0]["options"] if o["uid"] == finish_uid)
    assert finish["value"] == 3600 + 7200
    kitchen.sees(STATE, "DelayedStart")
    mark = kitchen.later(3600)
    kitchen.sees(STATE, "Run", since=mark)


def test_the_coffee_machine_brews_a_beverage_and_counts_it(profiles, run_one):
    kitchen = run_one(*at_rest(profiles[COFFEE], "coffeemaker"))
    counter = "state/consumerproducts_coffeemaker_status_beveragecounterristrettoespresso"
    before = int(kitchen.sees(counter))
    answer = kitchen.command("activeProgram", {"program": "Espresso", "options": [{"name": "FillQuantity", "value": 40}]})
    assert answer["status"] == "ok", answer
    kitchen.sees(STATE, "Run")
    kitchen.sees("state/consumerproducts_coffeemaker_status_processphase", "Grinding")
    mark = kitchen.later(40)
    kitchen.sees(STATE, "Finished", since=mark)
    kitchen.sees(counter, str(before + 1), since=mark)


@pytest.mark.parametrize(
    "by_hand, reported, body, code, reason",
    [
        ("allow_remote_start", ("bsh_common_status_remotecontrolstartallowed", "False"), {"program": "Eco50"}, 403, "enable Remote Start on the appliance"),
        ("set_door", ("bsh_common_status_doorstate", "Open"), {"program": "Eco50"}, 409, "the door is open: close it"),
        ("set_power", ("bsh_common_setting_powerstate", "Off"), {"program": "Eco50"}, 409, "switched off (PowerState Off); switch it on"),
        (None, None, {}, 400, 'no "program" given'),
        (None, None, {"program": "Eco50", "delay": -5}, 400, "0 or more"),
        (None, None, {"program": "Eco50", "options": [{"uid": 558, "value": 99999999}]}, 400, "out of range"),
        (None, None, {"program": "Eco50", "options": [{"name": "Spin", "value": 1}]}, 404, "no option named 'Spin'"),
    ],
)
def test_a_start_the_appliance_would_refuse_is_never_sent(profiles, run_one, transport, by_hand, reported, body, code, reason):
    sim, entry = at_rest(profiles[DISHWASHER], "dishwasher", transport)
    kitchen = run_one(sim, entry)
    kitchen.sees(START_WORKS, "offline")
    if by_hand is not None:
        mark = kitchen.subscriber.mark()
        getattr(sim, by_hand)(False)  # what the appliance's user did (or did not do)
        kitchen.sees(f"state/{reported[0]}", reported[1], since=mark)
    sent = len(posts(sim))
    answer = kitchen.command("activeProgram", body)
    assert (answer["status"], answer["code"]) == ("error", code), answer
    assert reason in answer["error"], answer
    assert len(posts(sim)) == sent


def test_a_second_start_while_one_runs_is_refused(profiles, run_one, transport):
    kitchen = run_one(*at_rest(profiles[DISHWASHER], "dishwasher", transport))
    assert kitchen.command("activeProgram", {"program": "Quick45"})["status"] == "ok"
    kitchen.sees(STATE, "Run")
    sent = len(posts(kitchen.sim))
    answer = kitchen.command("activeProgram", {"program": "Eco50"})
    assert (answer["status"], answer["code"]) == ("error", 409), answer
    assert "already under way (OperationState Run); abort it" in answer["error"]
    assert len(posts(kitchen.sim)) == sent


def test_what_hcpy_cannot_know_the_appliance_still_refuses(profiles, run_one):
    """A refusal hcpy could not foresee comes back with the appliance's own code and name."""
    kitchen = run_one(*at_rest(profiles[DISHWASHER], "dishwasher"))
    kitchen.sim.fail_next("/ro/activeProgram", 541)
    answer = kitchen.command("activeProgram", {"program": "Eco50"})
    assert (answer["status"], answer["code"]) == ("error", 541), answer
