"""Decoding values and applying description changes by the real profiles."""

from __future__ import annotations

import logging

import pytest
from support import DISHWASHER, WASHER, profile_files

from hcpy.appliance.model import Access
from hcpy.appliance.profile_xml import parse_profile
from hcpy.appliance.state import ApplianceState


@pytest.fixture
def dishwasher():
    return ApplianceState(parse_profile(*profile_files(DISHWASHER)), "dishwasher")


def test_values_decode_by_the_profile(dishwasher):
    changes = dishwasher.apply_values(
        [
            {"uid": 527, "value": 1},  # DoorState enum
            {"uid": 4356, "value": True},  # ExtraDry boolean
            {"uid": 27, "value": -61},  # WiFiSignalStrength number
            {"uid": 256, "value": 8196},  # ActiveProgram: a program uid
            {"uid": 539, "value": 2},  # PowerState
        ]
    )
    decoded = {c.feature.name: c.value for c in changes}
    assert decoded == {
        "BSH.Common.Status.DoorState": "Closed",
        "Dishcare.Dishwasher.Setting.ExtraDry": True,
        "BSH.Common.Status.WiFiSignalStrength": -61,
        "BSH.Common.Root.ActiveProgram": "Dishcare.Dishwasher.Program.Eco50",
        "BSH.Common.Setting.PowerState": "On",
    }
    assert dishwasher.values[527] == "Closed"
    assert dishwasher.raw[527] == 1


def test_only_changes_are_reported(dishwasher):
    assert dishwasher.apply_values([{"uid": 527, "value": 1}])
    assert dishwasher.apply_values([{"uid": 527, "value": 1}]) == []
    assert [c.value for c in dishwasher.apply_values([{"uid": 527, "value": 0}])] == ["Open"]


def test_events_count_every_time(dishwasher):
    event = next(f for f in dishwasher.profile.features.values() if f.kind.value == "event")
    first = dishwasher.apply_values([{"uid": event.uid, "value": 1}])
    again = dishwasher.apply_values([{"uid": event.uid, "value": 1}])
    assert [c.value for c in first] == [c.value for c in again] == ["Present"]


def test_unknown_enum_member_keeps_the_number(dishwasher):
    assert [c.value for c in dishwasher.apply_values([{"uid": 527, "value": 77}])] == [77]


def test_bad_entries_are_skipped_and_warned_once(dishwasher, caplog):
    with caplog.at_level(logging.WARNING):
        for n in range(3):
            changes = dishwasher.apply_values(
                [{"uid": 0x7777, "value": 1}, {"value": 3}, "junk", {"uid": "527", "value": 1}, {"uid": 527, "value": 0}]
            )
            # The unknown uid's value is a change the first time (published on T/state/30583), then unchanged.
            assert [c.feature.uid for c in changes] == ([0x7777, 527] if n == 0 else [])
    malformed = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert len(malformed) == 3  # each of the three bad entries once
    unknown = [r.getMessage() for r in caplog.records if "the profile lacks" in r.getMessage()]
    assert len(unknown) == 1 and unknown[0].startswith("dishwasher: 1 value(s) for 1 uid(s)") and "30583" in unknown[0]
    assert "hc-login" in unknown[0]


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_unknown_uids_are_kept_counted_and_said_once_a_minute(dishwasher, caplog):
    clock = dishwasher.clock = Clock()
    with caplog.at_level(logging.WARNING):
        # An oven answer carried 26 of them at once.
        changes = dishwasher.apply_values([{"uid": 0x7000 + n, "value": n} for n in range(26)])
        assert [(c.feature.name, c.value, c.raw) for c in changes][:2] == [("28672", 0, 0), ("28673", 1, 1)]
        assert len(changes) == 26 and all(c.feature.uid not in dishwasher.profile.features for c in changes)
        clock.now += 30
        changes = dishwasher.apply_values([{"uid": 0x7000, "value": {"tz": 1, "tzName": "Europe/Berlin"}},
                                           {"uid": 0x7100, "value": 13273.0}])  # fmt: skip
        assert [c.raw for c in changes] == [{"tz": 1, "tzName": "Europe/Berlin"}, 13273.0]
        lines = [r.getMessage() for r in caplog.records if "the profile lacks" in r.getMessage()]
        assert len(lines) == 1  # the second burst came within the minute
        assert lines[0].startswith("dishwasher: 26 value(s) for 26 uid(s) the profile lacks (new: 28672, 28673,")
        assert "and 18 more; 26 such uid(s) so far" in lines[0]
        clock.now += 30
        dishwasher.apply_values([{"uid": 0x7001, "value": 5}])
        clock.now += 1
        dishwasher.apply_values([{"uid": 0x7200, "value": 5}])  # a new one within the minute: held
        clock.now += 60
        dishwasher.apply_values([{"uid": 527, "value": 1}])  # any message after it names it
    lines = [r.getMessage() for r in caplog.records if "the profile lacks" in r.getMessage()]
    assert len(lines) == 3
    assert "3 value(s) for 1 uid(s) the profile lacks (new: 28928; 27 such uid(s) so far)" in lines[1]
    assert "1 value(s) for 1 uid(s) the profile lacks (new: 29184; 28 such uid(s) so far)" in lines[2]
    unknown = dishwasher.unknown
    assert (unknown.values, unknown.distinct) == (30, 28)
    seen = unknown.seen[0x7000]
    assert (seen.value, seen.at, seen.count) == ({"tz": 1, "tzName": "Europe/Berlin"}, 1_000_030.0, 2)
    assert unknown.seen[0x7001].value == 5 and unknown.seen[0x7001].at == 1_000_060.0
    # They stay apart from the profile's values.
    assert 0x7000 not in dishwasher.values and 0x7000 not in dishwasher.raw


def test_lines_the_throttle_holds_back_are_said_later_not_lost(dishwasher, caplog):
    """A warning held back in a burst is not marked as said: after the window it
    is logged, and the line says how many were held."""
    clock = dishwasher.clock = Clock()
    bad = [{"uid": -n, "value": 1} for n in range(1, 9)]  # eight distinct malformed entries
    with caplog.at_level(logging.WARNING):
        dishwasher.apply_values(bad)
        assert len([r for r in caplog.records if "malformed" in r.getMessage()]) == 5
        clock.now += 61
        dishwasher.apply_values(bad)
    said = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert len(said) == 8, said  # the three held back the first time, now said
    assert "(and 3 more like it in the last 60 s, not logged)" in said[5]
    assert all(f"'uid': -{n}," in " ".join(said) for n in range(1, 9))


def test_description_changes_update_live_limits(dishwasher):
    changes, touched = dishwasher.apply_description_changes(
        [{"uid": 512, "access": "WRITEONLY", "available": True}, {"uid": 539, "access": "READ"}]
    )
    assert changes == [] and touched == {512, 539}
    assert dishwasher.limits[512].access == Access.WRITE_ONLY
    assert dishwasher.limits[539].access == Access.READ
    # The profile itself is not changed: a reconnect starts from it again.
    assert dishwasher.profile.features[539].limits.access == Access.READ_WRITE
    # The same change again changes nothing.
    assert dishwasher.apply_description_changes([{"uid": 539, "access": "READ"}]) == ([], set())


def test_value_inside_a_description_change(dishwasher):
    changes, _ = dishwasher.apply_description_changes([{"uid": 527, "available": True, "value": 0}])
    assert [(c.feature.uid, c.value) for c in changes] == [(527, "Open")]


def test_parent_uid_scopes_a_change_to_one_program():
    washer = ApplianceState(parse_profile(*profile_files(WASHER)), "washer")
    cotton = next(p for p in washer.profile.programs.values() if p.name.endswith(".Cotton"))
    other = next(p for p in washer.profile.programs.values() if p.uid != cotton.uid and 548 in p.options)
    washer.apply_description_changes([{"uid": 548, "parentUID": cotton.uid, "min": 600, "max": 3600}])
    assert (washer.program_limits[(cotton.uid, 548)].min, washer.program_limits[(cotton.uid, 548)].max) == (600, 3600)
    assert washer.program_limits[(other.uid, 548)].max == 12600
    assert washer.limits[548].max == 12600


def test_an_unscoped_change_reaches_every_programs_copy():
    washer = ApplianceState(parse_profile(*profile_files(WASHER)), "washer")
    copies = [limits for (program, option), limits in washer.program_limits.items() if option == 548]
    assert len(copies) > 1 and all(limits.access == Access.READ_WRITE for limits in copies)
    _, touched = washer.apply_description_changes([{"uid": 548, "access": "READ", "max": 3600}])
    assert touched == {548}
    assert all(limits.access == Access.READ and limits.max == 3600 for limits in copies)
    assert washer.limits[548].access == Access.READ
    # A change scoped to one program stays there.
    cotton = next(p for p in washer.profile.programs.values() if p.name.endswith(".Cotton"))
    washer.apply_description_changes([{"uid": 548, "parentUID": cotton.uid, "access": "READWRITE"}])
    writable = [p for (p, o), limits in washer.program_limits.items() if o == 548 and limits.access == Access.READ_WRITE]
    assert writable == [cotton.uid]
