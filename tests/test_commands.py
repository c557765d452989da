"""Command validation against real profiles and the live state."""

from __future__ import annotations

import json

import pytest
from support import DISHWASHER, WASHER, profile_files

from hcpy.appliance.commands import CommandError, Request, build_set
from hcpy.appliance.model import EnumType
from hcpy.appliance.profile_xml import parse_profile
from hcpy.appliance.programs import build_program
from hcpy.appliance.state import ApplianceState
from hcpy.mqtt.screening import screen_payload
from hcpy.protocol.resources import RO_ACTIVE_PROGRAM as ACTIVE_PROGRAM
from hcpy.protocol.resources import RO_SELECTED_PROGRAM as SELECTED_PROGRAM
from hcpy.protocol.resources import RO_VALUES as VALUES


@pytest.fixture
def dishwasher():
    return ApplianceState(parse_profile(*profile_files(DISHWASHER)), "dishwasher")


@pytest.fixture
def washer():
    return ApplianceState(parse_profile(*profile_files(WASHER)), "washer")


def refused(code, call, *args, match=None):
    with pytest.raises(CommandError, match=match) as info:
        call(*args)
    assert info.value.code == code
    return str(info.value)


# -- T/set ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"uid": 539, "value": "On"},
        {"uid": "539", "value": 2},
        {"name": "BSH.Common.Setting.PowerState", "value": "On"},
        {"name": "bsh_common_setting_powerstate", "value": "on"},
        {"name": "PowerState", "value": "2"},
    ],
)
def test_set_by_uid_name_topic_id_and_short_name(dishwasher, body):
    assert build_set(dishwasher, body).data == [{"uid": 539, "value": 2}]


def test_set_several_values_in_one_message(dishwasher):
    request = build_set(
        dishwasher,
        [{"name": "Dishcare.Dishwasher.Setting.ExtraDry", "value": True}, {"uid": 4354, "value": "R02"}],
    )
    assert request.resource == VALUES
    assert request.data == [{"uid": 4356, "value": True}, {"uid": 4354, "value": 2}]


@pytest.mark.parametrize("value, wire", [(True, True), ("false", False), ("on", True), (0, False)])
def test_booleans(dishwasher, value, wire):
    assert build_set(dishwasher, {"uid": 4356, "value": value}).data[0]["value"] is wire


def test_a_write_only_command_needs_no_value(dishwasher):
    assert build_set(dishwasher, {"name": "DeactivateWiFi"}).data == [{"uid": 1, "value": True}]


def test_unknown_feature(dishwasher):
    refused(404, build_set, dishwasher, {"name": "BSH.Common.Setting.NoSuchThing", "value": 1}, match="no feature")
    refused(404, build_set, dishwasher, {"uid": 9999, "value": 1})


def test_substring_is_never_guessed(dishwasher):
    # "Power" is part of PowerState and AutoPowerOff: it names neither.
    refused(404, build_set, dishwasher, {"name": "Power", "value": "On"})


def test_ambiguous_short_name(washer):
    # Four washer features end in ".Active" (door light ring, time light, i-Dos 1 and 2).
    sentence = refused(400, build_set, washer, {"name": "Active", "value": True}, match="ambiguous")
    assert "LaundryCare.Washer.Option.IDos1.Active" in sentence
    assert "LaundryCare.Common.Setting.TimeLight.Active" in sentence


def test_read_only(dishwasher):
    refused(403, build_set, dishwasher, {"name": "BSH.Common.Status.DoorState", "value": "Open"}, match="not writable")


def test_live_access_decides(dishwasher):
    abort = {"name": "BSH.Common.Command.AbortProgram"}
    refused(403, build_set, dishwasher, abort)  # access none in the profile
    dishwasher.apply_description_changes([{"uid": 512, "access": "WRITEONLY", "available": True}])
    assert build_set(dishwasher, abort).data == [{"uid": 512, "value": True}]
    dishwasher.apply_description_changes([{"uid": 512, "available": False}])
    refused(403, build_set, dishwasher, abort, match="not available")


def test_bad_enum_value_lists_the_members(dishwasher):
    sentence = refused(400, build_set, dishwasher, {"uid": 539, "value": "Maybe"})
    assert "Off" in sentence and "On" in sentence


def test_numbers_are_checked_against_limits_and_step(washer):
    name = "LaundryCare.Common.Status.LoadInformation"  # 0..25500 step 100, read-only in the profile
    washer.apply_description_changes([{"uid": 10754, "access": "READWRITE", "available": True}])
    assert build_set(washer, {"name": name, "value": 2500}).data == [{"uid": 10754, "value": 2500}]
    assert build_set(washer, {"name": name, "value": "2600"}).data == [{"uid": 10754, "value": 2600}]
    refused(400, build_set, washer, {"name": name, "value": 25600}, match="out of range")
    refused(400, build_set, washer, {"name": name, "value": -100}, match="out of range")
    refused(400, build_set, washer, {"name": name, "value": 2550}, match="step")
    refused(400, build_set, washer, {"name": name, "value": "lots"}, match="number")
    # The live limits win over the profile's.
    washer.apply_description_changes([{"uid": 10754, "max": 1000}])
    refused(400, build_set, washer, {"name": name, "value": 2500}, match="out of range")


def test_string_length(washer):
    name = "LaundryCare.Washer.Setting.IDos1.ContentName"  # a string of at most 16
    washer.apply_description_changes([{"uid": 12293, "access": "READWRITE", "available": True}])
    assert build_set(washer, {"name": name, "value": "Colour"}).data[0]["value"] == "Colour"
    refused(400, build_set, washer, {"name": name, "value": "x" * 17}, match="16")
    refused(400, build_set, washer, {"name": name, "value": 5}, match="string")


@pytest.mark.parametrize(
    "body, match",
    [
        ([], "empty"),
        ("On", "object"),
        ({"value": 1}, "uid"),
        ({"uid": 539}, "no value"),
        ({"uid": None, "value": 1}, "name"),
        ({"uid": True, "value": 1}, "name"),
    ],
)
def test_malformed_set_payloads(dishwasher, body, match):
    with pytest.raises(CommandError, match=match):
        build_set(dishwasher, body)


def test_invalid_json():
    with pytest.raises(CommandError, match="not valid JSON"):
        screen_payload(b"{uid: 539")
    with pytest.raises(CommandError, match="not UTF-8"):
        screen_payload(b"\xff")


# -- programs -----------------------------------------------------------------------


@pytest.mark.parametrize("ref", [8196, "8196", "Dishcare.Dishwasher.Program.Eco50", "Eco50"])
def test_select_program_by_any_exact_name(dishwasher, ref):
    request = build_program(dishwasher, {"program": ref}, SELECTED_PROGRAM)
    assert request == type(request)(SELECTED_PROGRAM, [{"program": 8196}])


def test_start_program_with_options(dishwasher):
    request = build_program(
        dishwasher,
        {"program": "Eco50", "options": [{"name": "VarioSpeedPlus", "value": True}, {"uid": 558, "value": 3600}]},
        ACTIVE_PROGRAM,
    )
    assert request.resource == ACTIVE_PROGRAM
    assert request.data == [{"program": 8196, "options": [{"uid": 5127, "value": True}, {"uid": 558, "value": 3600}]}]


def test_program_options_use_the_programs_own_limits(washer):
    cotton = next(p for p in washer.profile.programs.values() if p.name.endswith(".Cotton"))
    # The washer's profile lists every program as unavailable until the
    # appliance says otherwise in a description change.
    refused(403, build_program, washer, {"program": cotton.uid}, SELECTED_PROGRAM, match="not available")
    washer.apply_description_changes([{"uid": cotton.uid, "available": True}])
    option = cotton.options[548]  # Duration: 300..12600 in 300 s steps
    assert (option.limits.min, option.limits.max) == (300, 12600)
    ok = build_program(washer, {"program": cotton.uid, "options": [{"uid": 548, "value": 600}]}, SELECTED_PROGRAM)
    assert ok.data[0]["options"] == [{"uid": 548, "value": 600}]
    refused(400, build_program, washer, {"program": cotton.uid, "options": [{"uid": 548, "value": 100}]}, SELECTED_PROGRAM)
    refused(400, build_program, washer, {"program": cotton.uid, "options": [{"uid": 548, "value": 650}]}, SELECTED_PROGRAM)
    # A program's limits change on their own, scoped by parentUID.
    washer.apply_description_changes([{"uid": 548, "parentUID": cotton.uid, "max": 600}])
    refused(400, build_program, washer, {"program": cotton.uid, "options": [{"uid": 548, "value": 900}]}, SELECTED_PROGRAM)


def test_program_enum_subset(washer):
    # The fixture's programs allow every temperature; narrow one program's
    # enum as a profile may, and check that the program's own enum decides.
    program = next(p for p in washer.profile.programs.values() if p.name.endswith(".Cotton"))
    washer.apply_description_changes([{"uid": program.uid, "available": True}])
    option = program.options[24577]
    allowed = {v: n for v, n in option.enum.members.items() if n in ("Cold", "GC40")}
    option.enum = EnumType(option.enum.enid, allowed)
    body = {"program": program.uid, "options": [{"name": "Temperature", "value": "GC40"}]}
    gc40 = next(v for v, n in allowed.items() if n == "GC40")
    assert build_program(washer, body, SELECTED_PROGRAM).data[0]["options"] == [{"uid": 24577, "value": gc40}]
    body["options"][0]["value"] = "GC90"  # a member of the option, not of this program
    sentence = refused(400, build_program, washer, body, SELECTED_PROGRAM)
    assert "Cold" in sentence and "GC40" in sentence


def test_unknown_program(dishwasher):
    refused(404, build_program, dishwasher, {"program": "Dishcare.Dishwasher.Program.Nope"}, ACTIVE_PROGRAM)
    refused(404, build_program, dishwasher, {"program": 539}, ACTIVE_PROGRAM)  # a setting, not a program


def test_option_not_valid_for_the_program(dishwasher, washer):
    refused(
        400,
        build_program,
        dishwasher,
        {"program": "Eco50", "options": [{"name": "BSH.Common.Option.RemainingProgramTime", "value": 60}]},
        ACTIVE_PROGRAM,
        match="not an option of",
    )
    refused(404, build_program, dishwasher, {"program": "Eco50", "options": [{"name": "Spin", "value": 1}]}, ACTIVE_PROGRAM)


def test_start_the_selected_program(dishwasher):
    refused(409, build_program, dishwasher, {"program": "selected"}, ACTIVE_PROGRAM, match="no program is selected")
    dishwasher.apply_values([{"uid": 257, "value": 8195}, {"uid": 5126, "value": True}, {"uid": 558, "value": 0}])
    request = build_program(dishwasher, {"program": "selected"}, ACTIVE_PROGRAM)
    assert request.data[0]["program"] == 8195
    assert {"uid": 5126, "value": True} in request.data[0]["options"]
    # An explicit option overrides the appliance's current one.
    request = build_program(
        dishwasher, {"program": "selected", "options": [{"uid": 5126, "value": False}]}, ACTIVE_PROGRAM
    )
    assert {"uid": 5126, "value": False} in request.data[0]["options"]
    assert {"uid": 5126, "value": True} not in request.data[0]["options"]


def test_selecting_needs_a_program(dishwasher):
    refused(400, build_program, dishwasher, {}, SELECTED_PROGRAM, match="program")
    refused(400, build_program, dishwasher, ["Eco50"], SELECTED_PROGRAM, match="object")


@pytest.mark.parametrize("ref", ["²", "٣", "12³"])
def test_digits_outside_ascii_are_names_not_uids(dishwasher, ref):
    refused(404, build_set, dishwasher, {"name": ref, "value": 1})
    refused(400, build_set, dishwasher, {"uid": 539, "value": ref})


def test_stop_pause_resume_where_the_appliance_has_them(dishwasher):
    # The dishwasher has AbortProgram (writable while a program runs) but no Pause/Resume.
    refused(403, build_program, dishwasher, {"program": "stop"}, ACTIVE_PROGRAM, match="not writable")
    dishwasher.apply_description_changes([{"uid": 512, "access": "WRITEONLY"}])
    assert build_program(dishwasher, {"program": "Stop"}, ACTIVE_PROGRAM) == Request(VALUES, [{"uid": 512, "value": True}])
    refused(404, build_program, dishwasher, {"program": "pause"}, ACTIVE_PROGRAM, match="PauseProgram")
    refused(404, build_program, dishwasher, "resume", ACTIVE_PROGRAM, match="ResumeProgram")
    # On selectedProgram the words are program names, and there are none such.
    refused(404, build_program, dishwasher, {"program": "stop"}, SELECTED_PROGRAM)


@pytest.mark.parametrize(
    "body, match",
    [
        ({}, 'no "program" given: name a program, or "selected"'),
        ({"options": []}, 'no "program"'),
        ({"program": "Eco50", "start": True}, "'start' is not understood"),
        ({"program": "stop", "delay": 60}, "takes no options or delay"),
        ({"program": "Eco50", "options": {"uid": 558}}, '"options" must be a list'),
    ],
)
def test_empty_or_meaningless_program_payloads_are_400(dishwasher, body, match):
    refused(400, build_program, dishwasher, body, ACTIVE_PROGRAM, match=match)


def reported(state, **values):
    """Values as the appliance reports them, by short name and member name."""
    items = []
    for short, value in values.items():
        feature = next(f for f in state.profile.features.values() if f.short_name == short and f.kind.value != "program")
        if feature.enum is not None and isinstance(value, str):
            value = next(n for n, m in feature.enum.members.items() if m == value)
        items.append({"uid": feature.uid, "value": value})
    state.apply_values(items)


@pytest.mark.parametrize(
    "values, code, match",
    [
        ({"OperationState": "Run"}, 409, "already under way .*Run.*abort it"),
        ({"OperationState": "DelayedStart"}, 409, "already under way"),
        ({"PowerState": "Off"}, 409, "switched off .*switch it on"),
        ({"RemoteControlStartAllowed": False}, 403, "enable Remote Start on the appliance"),
        ({"DoorState": "Open"}, 409, "door is open: close it"),
    ],
)
def test_a_start_the_appliance_would_refuse_is_refused_before_sending(dishwasher, values, code, match):
    ready = {"OperationState": "Ready", "PowerState": "On", "RemoteControlStartAllowed": True, "DoorState": "Closed"}
    reported(dishwasher, **ready)
    assert build_program(dishwasher, {"program": "Eco50"}, ACTIVE_PROGRAM).data == [{"program": 8196}]
    reported(dishwasher, **values)
    refused(code, build_program, dishwasher, {"program": "Eco50"}, ACTIVE_PROGRAM, match=match)
    # Selecting is still fine: only a start is refused.
    assert build_program(dishwasher, {"program": "Eco50"}, SELECTED_PROGRAM).data == [{"program": 8196}]


def test_a_start_is_refused_while_active_program_is_read_only(washer):
    cotton = next(p for p in washer.profile.programs.values() if p.name.endswith(".Cotton"))
    washer.apply_description_changes([{"uid": cotton.uid, "available": True}])
    refused(403, build_program, washer, {"program": cotton.uid}, ACTIVE_PROGRAM, match="takes no program start now")
    washer.apply_description_changes([{"uid": 256, "access": "READWRITE"}])
    assert build_program(washer, {"program": cotton.uid}, ACTIVE_PROGRAM).data == [{"program": cotton.uid}]


def test_a_delay_goes_through_start_in_relative(dishwasher):
    request = build_program(dishwasher, {"program": "Eco50", "delay": 3600}, ACTIVE_PROGRAM)
    assert request.data == [{"program": 8196, "options": [{"uid": 558, "value": 3600}]}]
    # A time span the profile leaves unbounded still takes no negative and no more than a day.
    refused(400, build_program, dishwasher, {"program": "Eco50", "delay": -5}, ACTIVE_PROGRAM, match="0 or more")
    bad = {"program": "Eco50", "options": [{"uid": 558, "value": 99999999}]}
    refused(400, build_program, dishwasher, bad, ACTIVE_PROGRAM, match="out of range .*0 to 86400")
    refused(400, build_program, dishwasher, {"program": "Eco50", "delay": 99999999}, ACTIVE_PROGRAM, match="out of range")
    refused(400, build_program, dishwasher, {"program": "Eco50", "delay": "soon"}, ACTIVE_PROGRAM, match="seconds")


def test_a_delay_goes_through_finish_in_relative_where_that_is_what_the_program_has(washer):
    cotton = next(p for p in washer.profile.programs.values() if p.name.endswith(".Cotton"))
    washer.apply_description_changes([{"uid": cotton.uid, "available": True}, {"uid": 256, "access": "READWRITE"}])
    # The run's length is what the appliance estimates once the program is selected.
    refused(400, build_program, washer, {"program": cotton.uid, "delay": 3600}, ACTIVE_PROGRAM, match="duration is not known")
    reported(washer, SelectedProgram=cotton.uid, RemainingProgramTime=5400 + 30)
    request = build_program(washer, {"program": "selected", "delay": 3600}, ACTIVE_PROGRAM)
    finish_uid = washer.profile.by_name("BSH.Common.Option.FinishInRelative").uid
    finish = next(o for o in request.data[0]["options"] if o["uid"] == finish_uid)
    assert finish["value"] == 3600 + 5460  # rounded up to the option's 60 s step


def test_a_program_without_a_delay_option_says_so():
    from support import COFFEE

    coffee = ApplianceState(parse_profile(*profile_files(COFFEE)), "coffee")
    refused(400, build_program, coffee, {"program": "Espresso", "delay": 60}, SELECTED_PROGRAM, match="offers no delayed start")


def test_setting_an_option_follows_the_program_in_charge(dishwasher):
    body = {"name": "StartInRelative", "value": 1800}
    refused(409, build_set, dishwasher, body, match="select a program that has it first")
    reported(dishwasher, SelectedProgram=8196)
    assert build_set(dishwasher, body).data == [{"uid": 558, "value": 1800}]
    refused(400, build_set, dishwasher, {"name": "StartInRelative", "value": 86401}, match="out of range for .*StartInRelative")
    # The program's own limits, as the appliance narrows them.
    dishwasher.apply_description_changes([{"uid": 558, "parentUID": 8196, "max": 600}])
    refused(400, build_set, dishwasher, body, match="0 to 600")
    dishwasher.apply_description_changes([{"uid": 558, "parentUID": 8196, "access": "READ"}])
    refused(403, build_set, dishwasher, body, match="not writable for Dishcare.Dishwasher.Program.Eco50")


def test_a_request_is_described_by_names_with_the_uid_in_brackets(dishwasher):
    from hcpy.appliance.commands import describe

    power = build_set(dishwasher, {"name": "BSH.Common.Setting.PowerState", "value": "On"})
    assert describe(power, dishwasher) == "PowerState [539] = On"
    eco = dishwasher.profile.by_name("Dishcare.Dishwasher.Program.Eco50")
    delay = dishwasher.profile.by_name("BSH.Common.Option.StartInRelative")
    start = Request("/ro/activeProgram", [{"program": eco.uid, "options": [{"uid": delay.uid, "value": 3600}]}])
    assert describe(start, dishwasher) == f"Dishcare.Dishwasher.Program.Eco50 [{eco.uid}] with StartInRelative [{delay.uid}] = 3600"
    assert describe(Request("/ro/values", [{"uid": 65000, "value": "x" * 500}]), dishwasher).startswith("[65000] = 'xxx")


def test_a_refused_retained_command_answers_with_its_transaction():
    # A retained command is never read, but whoever sent it matches the
    # refusal by its transaction, as for every other answer.
    from hcpy.mqtt.command import Command, response
    from hcpy.mqtt.command import refused as refusal
    from hcpy.mqtt.topics import CommandTopic

    payload = b'{"name": "PowerState", "value": "On", "transaction": "t-17"}'
    answer = json.loads(response(Command.retained(CommandTopic.SET, payload), refusal("retained", 400)))
    assert answer["transaction"] == "t-17" and answer["status"] == "error"
    assert answer["request"] == payload.decode()
    plain = json.loads(response(Command.retained(CommandTopic.SET, b'{"name": "PowerState"}'), refusal("retained", 400)))
    assert "transaction" not in plain
