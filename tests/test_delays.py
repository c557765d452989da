"""A program's delay (StartInRelative, FinishInRelative) as appliances treat it.

While the start is still delayed the delay can be changed (the start
moves); once the program runs the delay is spent: the appliance reports it
0 and read-only under the program (a description change scoped to it), and
refuses a write; when the run ends it is writable again. hcpy refuses a
write before sending it: by the access the appliance announced, and from
Run on by the operation state, for firmware that announces nothing.

The simulated appliance on its own, hcpy's command check on its own, and
both over real sockets behind the bridge with a real mosquitto.
"""

from __future__ import annotations

import pytest
from support import DISHWASHER, WASHER, at_rest, posts, profile_files

from hcpy.appliance import controls
from hcpy.appliance.commands import CommandError, build_set
from hcpy.appliance.model import Access
from hcpy.appliance.profile_xml import parse_profile
from hcpy.appliance.state import ApplianceState
from hcpy.simulator import ManualClock, SimulatedAppliance

START_IN, FINISH_IN = "BSH.Common.Option.StartInRelative", "BSH.Common.Option.FinishInRelative"
OPERATION = "BSH.Common.Status.OperationState"
ECO, QUICK = "Dishcare.Dishwasher.Program.Eco50", "Dishcare.Dishwasher.Program.Quick45"
SENTENCE = "StartInRelative cannot be changed while a program runs"

STATE = "state/bsh_common_status_operationstate"
DELAY = "state/bsh_common_option_startinrelative"
DELAY_WORKS = "available/bsh_common_option_startinrelative"


@pytest.fixture(scope="module")
def profiles():
    return {stem: parse_profile(*profile_files(stem)) for stem in (DISHWASHER, WASHER)}


def appliance(profile):
    return SimulatedAppliance(profile, clock=ManualClock(), remote_start=True)


def later(app, seconds):
    app.clock.advance(seconds)
    return app.advance()


def operation(app):
    return app.member(OPERATION)


def scoped(changes, uid, program_uid):
    """The description changes for option `uid` under program `program_uid`."""
    return [d for d in changes.descriptions if d.get("uid") == uid and d.get("parentUID") == program_uid]


# -- the simulated appliance -------------------------------------------------------------------


def test_the_delay_is_spent_and_read_only_while_the_program_runs(profiles):
    app = appliance(profiles[DISHWASHER])
    start_in, eco = app.feature(START_IN).uid, app.feature(ECO).uid
    result = app.start_program("/ro/activeProgram", [{"program": eco, "options": [{"uid": start_in, "value": 3600}]}])
    assert result.ok, result.reason
    assert operation(app) == "DelayedStart"
    assert not [d for d in scoped(result.changes, start_in, eco) if d.get("access") == "READ"]

    changes = later(app, 3600)
    assert operation(app) == "Run"
    assert {"uid": start_in, "value": 0} in changes.values  # not the last minute of the countdown
    assert scoped(changes, start_in, eco) == [{"uid": start_in, "parentUID": eco, "access": "READ"}]
    refused = app.write_values([{"uid": start_in, "value": 7200}])
    assert (refused.code, refused.ok) == (403, False)
    assert "StartInRelative" in refused.reason and "not writable" in refused.reason
    assert app.value(start_in) == 0
    # Said once: the next tick repeats neither the value nor the access.
    assert not scoped(later(app, 60), start_in, eco)
    # Someone reconnecting is told the same in the descriptions of all.
    assert {"uid": start_in, "parentUID": eco, "access": "READ"} in [
        {k: d[k] for k in ("uid", "parentUID", "access")}
        for d in app.description_changes()
        if d.get("parentUID") == eco and d["uid"] == start_in
    ]

    changes = later(app, 4 * 3600)
    assert operation(app) == "Finished"
    assert scoped(changes, start_in, eco) == [{"uid": start_in, "parentUID": eco, "access": "READWRITE"}]
    assert app.write_values([{"uid": start_in, "value": 7200}]).ok  # for the next run


def test_a_start_without_delay_after_a_delayed_one_runs_at_once(profiles):
    app = appliance(profiles[DISHWASHER])
    start_in, eco = app.feature(START_IN).uid, app.feature(ECO).uid
    assert app.start_program("/ro/activeProgram", [{"program": eco, "options": [{"uid": start_in, "value": 600}]}]).ok
    later(app, 599)
    assert app.value(start_in) == 1  # the countdown's last report
    later(app, 1)
    later(app, 4 * 3600)
    assert operation(app) == "Finished" and app.value(start_in) == 0
    # "Start now": the program as it is selected, options as the appliance holds them.
    result = app.start_program(
        "/ro/activeProgram", [{"program": eco, "options": [{"uid": start_in, "value": app.value(start_in)}]}]
    )
    assert result.ok, result.reason
    assert operation(app) == "Run"
    delayed = {"uid": app.feature(OPERATION).uid, "value": 2}
    assert app.feature(OPERATION).enum.members[delayed["value"]] == "DelayedStart"
    assert delayed not in result.changes.values  # not even for a moment


def test_while_the_start_is_delayed_a_new_delay_moves_it(profiles):
    app = appliance(profiles[DISHWASHER])
    start_in, eco = app.feature(START_IN).uid, app.feature(ECO).uid
    assert app.start_program("/ro/activeProgram", [{"program": eco, "options": [{"uid": start_in, "value": 3600}]}]).ok
    later(app, 600)
    assert app.value(start_in) == 3000
    assert app.write_values([{"uid": start_in, "value": 7200}]).ok
    later(app, 3600)
    assert (operation(app), app.value(start_in)) == ("DelayedStart", 3600)  # two hours from the change, not one
    result = app.write_values([{"uid": start_in, "value": 0}])
    assert result.ok and operation(app) == "Run"


def test_an_aborted_delayed_start_leaves_no_delay_behind(profiles):
    app = appliance(profiles[DISHWASHER])
    start_in, eco = app.feature(START_IN).uid, app.feature(ECO).uid
    assert app.start_program("/ro/activeProgram", [{"program": eco, "options": [{"uid": start_in, "value": 3600}]}]).ok
    later(app, 1800)
    assert app.value(start_in) == 1800
    result = app.write_values([{"uid": app.feature("BSH.Common.Command.AbortProgram").uid, "value": True}])
    assert result.ok and operation(app) == "Aborting"
    assert app.value(start_in) == 0


def test_an_aborted_run_gives_the_delay_back(profiles):
    app = appliance(profiles[DISHWASHER])
    start_in, quick = app.feature(START_IN).uid, app.feature(QUICK).uid
    assert app.start_program("/ro/activeProgram", [{"program": quick}]).ok
    assert app.option_limits(app.profile.programs[quick], start_in).access is Access.READ
    result = app.write_values([{"uid": app.feature("BSH.Common.Command.AbortProgram").uid, "value": True}])
    assert scoped(result.changes, start_in, quick) == [{"uid": start_in, "parentUID": quick, "access": "READWRITE"}]
    assert app.option_limits(app.profile.programs[quick], start_in).access is Access.READ_WRITE


def test_a_washers_finish_in_relative_is_spent_and_read_only_while_it_runs(profiles):
    app = appliance(profiles[WASHER])
    finish_in, cotton = app.feature(FINISH_IN).uid, app.feature("LaundryCare.Washer.Program.Cotton").uid
    result = app.start_program(
        "/ro/activeProgram", [{"program": cotton, "options": [{"uid": finish_in, "value": 3 * 3600}]}]
    )
    assert result.ok, result.reason
    assert operation(app) == "DelayedStart"
    changes = later(app, 3600)
    assert operation(app) == "Run" and app.value(finish_in) == 0
    assert scoped(changes, finish_in, cotton) == [{"uid": finish_in, "parentUID": cotton, "access": "READ"}]
    assert app.write_values([{"uid": finish_in, "value": 7200}]).code == 403
    app.set_power(False)  # switched off: the run ends quietly, and so does the lock
    assert app.option_limits(app.profile.programs[cotton], finish_in).access is Access.READ_WRITE


# -- hcpy's check, before anything is sent ---------------------------------------------------


def reported(state, **values):
    """Values as the appliance reports them, by full name (members by name)."""
    items = []
    for name, value in values.items():
        feature = state.profile.by_name(name)
        if feature.enum is not None and isinstance(value, str):
            value = next(n for n, m in feature.enum.members.items() if m == value)
        items.append({"uid": feature.uid, "value": value})
    state.apply_values(items)


@pytest.fixture
def dishwasher(profiles):
    state = ApplianceState(profiles[DISHWASHER], "dishwasher")
    eco = state.profile.by_name(ECO).uid
    reported(state, **{"BSH.Common.Root.SelectedProgram": eco, OPERATION: "Ready"})
    return state


def start_in_is_refused(state):
    with pytest.raises(CommandError) as info:
        build_set(state, {"name": "StartInRelative", "value": 7200})
    assert info.value.code == 403
    assert not controls.usable(state, state.profile.by_name(START_IN))
    return str(info.value)


def test_hcpy_follows_the_access_the_appliance_announces(dishwasher):
    eco = dishwasher.profile.by_name(ECO).uid
    assert build_set(dishwasher, {"name": "StartInRelative", "value": 7200}).data == [{"uid": 558, "value": 7200}]
    reported(dishwasher, **{"BSH.Common.Root.ActiveProgram": eco, OPERATION: "DelayedStart"})
    # Still delayed: the delay is open, as the appliance says.
    assert build_set(dishwasher, {"name": "StartInRelative", "value": 7200}).data == [{"uid": 558, "value": 7200}]
    assert controls.usable(dishwasher, dishwasher.profile.by_name(START_IN))
    # An appliance that closes it even before the run: its word counts, with the sentence.
    dishwasher.apply_description_changes([{"uid": 558, "parentUID": eco, "access": "READ"}])
    sentence = start_in_is_refused(dishwasher)
    assert sentence.startswith(SENTENCE + " (OperationState DelayedStart); abort the program"), sentence
    # The run ended: writable again because the appliance says so.
    dishwasher.apply_description_changes([{"uid": 558, "parentUID": eco, "access": "READWRITE"}])
    reported(dishwasher, **{"BSH.Common.Root.ActiveProgram": 0, OPERATION: "Finished"})
    assert build_set(dishwasher, {"name": "StartInRelative", "value": 600}).data == [{"uid": 558, "value": 600}]


@pytest.mark.parametrize("running", ["Run", "Pause", "Aborting"])  # the dishwasher knows no ActionRequired
def test_from_run_on_hcpy_refuses_even_what_old_firmware_leaves_writable(dishwasher, running):
    eco = dishwasher.profile.by_name(ECO).uid
    reported(dishwasher, **{"BSH.Common.Root.ActiveProgram": eco, OPERATION: running})
    assert dishwasher.option_limits(dishwasher.profile.by_name(START_IN))[1].access.writable  # nothing announced
    assert start_in_is_refused(dishwasher).startswith(f"{SENTENCE} (OperationState {running})")


def test_a_second_start_with_a_delay_is_told_a_program_is_under_way(dishwasher):
    from hcpy.appliance.programs import build_program
    from hcpy.protocol.resources import RO_ACTIVE_PROGRAM

    eco = dishwasher.profile.by_name(ECO).uid
    reported(dishwasher, **{"BSH.Common.Root.ActiveProgram": eco, OPERATION: "Run"})
    dishwasher.apply_description_changes([{"uid": 558, "parentUID": eco, "access": "READ"}])
    with pytest.raises(CommandError, match="already under way") as info:
        build_program(dishwasher, {"program": "Eco50", "delay": 3600}, RO_ACTIVE_PROGRAM)
    assert info.value.code == 409


def test_other_options_stay_writable_while_a_program_runs(dishwasher):
    eco = dishwasher.profile.by_name(ECO).uid
    reported(dishwasher, **{"BSH.Common.Root.ActiveProgram": eco, OPERATION: "Run"})
    assert build_set(dishwasher, {"name": "IntensivZone", "value": True}).data[0]["value"] is True


def test_the_washers_finish_in_relative_is_refused_while_it_runs(profiles):
    washer = ApplianceState(profiles[WASHER], "washer")
    cotton = washer.profile.by_name("LaundryCare.Washer.Program.Cotton").uid
    reported(washer, **{"BSH.Common.Root.ActiveProgram": cotton, OPERATION: "Run"})
    with pytest.raises(CommandError, match="FinishInRelative cannot be changed while a program runs") as info:
        build_set(washer, {"name": "FinishInRelative", "value": 7200})
    assert info.value.code == 403


# -- over real sockets: the bridge, the simulated appliance, mosquitto ------------------------


@pytest.mark.parametrize("transport", ["tls", "aes"])
def test_a_delay_set_while_the_program_runs_is_refused_and_never_sent(profiles, run_one, transport):
    kitchen = run_one(*at_rest(profiles[DISHWASHER], "dishwasher", transport))
    kitchen.sees(STATE, "Ready")
    assert kitchen.command("activeProgram", {"program": "Eco50"})["status"] == "ok"
    kitchen.sees(STATE, "Run")
    kitchen.sees(DELAY_WORKS, "offline")  # the appliance said read-only
    sent = len(posts(kitchen.sim))
    answer = kitchen.command("set", {"name": "StartInRelative", "value": 7200, "transaction": "t-1"})
    assert (answer["status"], answer["code"], answer["transaction"]) == ("error", 403, "t-1"), answer
    assert SENTENCE in answer["error"], answer
    assert len(posts(kitchen.sim)) == sent  # nothing reached the appliance
    assert kitchen.sim.app.value(START_IN) == 0

    mark = kitchen.later(4 * 3600)
    kitchen.sees(STATE, "Finished", since=mark)
    kitchen.sees(DELAY_WORKS, "online", since=mark)
    mark = kitchen.subscriber.mark()
    answer = kitchen.command("set", {"name": "StartInRelative", "value": 7200})
    assert answer["status"] == "ok", answer
    assert posts(kitchen.sim)[-1].data == [{"uid": 558, "value": 7200}]
    kitchen.sees(DELAY, "7200", since=mark)


def test_old_firmware_that_announces_nothing_is_refused_by_the_operation_state(profiles, run_one):
    sim, entry = at_rest(profiles[DISHWASHER], "dishwasher", "tls")
    kitchen = run_one(sim, entry)
    assert kitchen.command("activeProgram", {"program": "Quick45"})["status"] == "ok"
    kitchen.sees(STATE, "Run")
    kitchen.sees(DELAY_WORKS, "offline")
    # Firmware that leaves the delay writable while the program runs.
    quick = profiles[DISHWASHER].by_name(QUICK).uid
    mark = kitchen.subscriber.mark()
    sim.set_description(START_IN, access="readWrite", parent_uid=quick)
    # A value sent after it on the same connection: once it is out, hcpy has the access too.
    sim.set_value("BSH.Common.Status.RemoteControlActive", True)
    kitchen.sees("state/bsh_common_status_remotecontrolactive", "True", since=mark)
    kitchen.sees(DELAY_WORKS, "offline")
    sent = len(posts(sim))
    answer = kitchen.command("set", {"name": "StartInRelative", "value": 7200})
    assert (answer["status"], answer["code"]) == ("error", 403), answer
    assert f"{SENTENCE} (OperationState Run)" in answer["error"], answer
    assert len(posts(sim)) == sent


@pytest.mark.parametrize("transport", ["tls", "aes"])
def test_after_a_delayed_start_the_next_start_now_goes_straight_to_run(profiles, run_one, transport):
    kitchen = run_one(*at_rest(profiles[DISHWASHER], "dishwasher", transport))
    assert kitchen.command("selectedProgram", {"program": "Quick45"})["status"] == "ok"
    kitchen.sees(DELAY_WORKS, "online")
    assert kitchen.command("activeProgram", {"program": "selected", "delay": 600})["status"] == "ok"
    kitchen.sees(STATE, "DelayedStart")
    kitchen.sees(DELAY, "600")
    mark = kitchen.subscriber.mark()
    assert (
        kitchen.command("set", {"name": "StartInRelative", "value": 300})["status"] == "ok"
    )  # still open: moves the start
    kitchen.sees(DELAY, "300", since=mark)
    mark = kitchen.later(299)
    kitchen.sees(DELAY, "1", since=mark)  # the countdown's last report
    mark = kitchen.later(1)
    kitchen.sees(STATE, "Run", since=mark)
    kitchen.sees(DELAY, "0", since=mark)  # spent: back to no delay
    mark = kitchen.later(1800)
    kitchen.sees(STATE, "Finished", since=mark)
    kitchen.sees(DELAY_WORKS, "online", since=mark)

    mark = kitchen.subscriber.mark()
    answer = kitchen.command("activeProgram", {"program": "selected"})  # the console's "Start now"
    assert answer["status"] == "ok", answer
    options = {o["uid"]: o["value"] for o in posts(kitchen.sim)[-1].data[0].get("options", [])}
    assert options.get(558, 0) == 0, options  # no delay carried over from the last run
    kitchen.sees(STATE, "Run", since=mark)
    states = [p for t, p, _ in kitchen.subscriber.messages[mark:] if t == kitchen.base + STATE]
    assert "DelayedStart" not in states, states
