"""What a reload of devices.json changes (hcpy.appliance.entry_diff): pure."""

from __future__ import annotations

import dataclasses

import pytest
from support import DISHWASHER, WASHER, b64, profile_files

from hcpy.appliance.entry import entry_from_profile
from hcpy.appliance.entry_diff import Changed, EntryDiff, diff_entries, differences
from hcpy.appliance.profile_xml import parse_profile


@pytest.fixture(scope="module")
def dishwasher():
    return entry_from_profile(
        parse_profile(*profile_files(DISHWASHER)), key=b64(b"k" * 32), host="10.0.0.2", name="dishwasher"
    )


@pytest.fixture(scope="module")
def washer():
    return entry_from_profile(parse_profile(*profile_files(WASHER)), key=b64(b"w" * 32), iv=b64(b"i" * 16),
                              host="10.0.0.3", name="washer")  # fmt: skip


def test_the_same_entries_are_no_change(dishwasher, washer):
    # Read again from the file: equal, not the same objects.
    again = [dataclasses.replace(dishwasher), dataclasses.replace(washer)]
    diff = diff_entries([dishwasher, washer], again)
    assert diff == EntryDiff() and not diff


def test_added_removed_and_changed_by_name(dishwasher, washer):
    moved = dataclasses.replace(washer, host="10.0.0.9")
    coffee = dataclasses.replace(dishwasher, name="coffee")
    diff = diff_entries([dishwasher, washer], [moved, coffee])
    assert diff.added == (coffee,)
    assert diff.removed == ("dishwasher",)
    assert diff.changed == (Changed(moved, ("host",)),)
    assert diff.changed[0].reason == "its host changed"


def test_a_renamed_entry_is_one_removed_and_one_added(dishwasher):
    renamed = dataclasses.replace(dishwasher, name="kitchen")
    diff = diff_entries([dishwasher], [renamed])
    assert (diff.added, diff.removed, diff.changed) == ((renamed,), ("dishwasher",), ())


def test_what_changed_is_named_never_quoted(dishwasher, washer):
    other = dataclasses.replace(washer, host="h", port=1234, key=b64(b"x" * 32))
    assert differences(washer, other) == ("host", "port", "key")
    assert Changed(other, ("host", "port", "key")).reason == "its host, port and key changed"
    # A new iv alone is a new key, as the log says it.
    assert differences(washer, dataclasses.replace(washer, iv=b64(b"j" * 16))) == ("key",)
    assert differences(washer, dataclasses.replace(washer, ha_id="SIEMENS-WM-1")) == ("haId",)


def test_the_profile_and_the_hc2mqtt_settings_count(dishwasher, washer):
    assert differences(dishwasher, dataclasses.replace(dishwasher, profile=washer.profile)) == ("profile",)
    with_block = dishwasher.with_options({"publish_as_json": True})
    assert differences(dishwasher, with_block) == ("hc2mqtt settings",)
    # A key only another program reads is no change for the bridge.
    assert differences(dishwasher, dataclasses.replace(dishwasher, extra={"room": "kitchen"})) == ()


def test_a_broken_entry_keeps_its_appliance(dishwasher, washer):
    """The file still has it, unreadable: removing it would take its entities out of Home Assistant."""
    diff = diff_entries([dishwasher, washer], [dishwasher], broken=["washer"])
    assert diff.removed == () and diff.kept == ("washer",) and not diff
    # A broken entry of an appliance not bridged is nothing to keep.
    assert diff_entries([dishwasher], [dishwasher], broken=["washer"]).kept == ()
