"""discovery.yaml (hcpy2-0's Home Assistant overrides) written in the wrong shape: one line each, the rest applies.

tests/test_discovery_file.py covers wrong values inside the right shapes;
here whole keys hold the wrong kind of YAML (a list where a mapping
belongs, a number where a name belongs), as a hand-edited file ends up
after a wrong indentation.
"""

from __future__ import annotations

import pytest

from hcpy.homeassistant.discovery_file import AdditionalFeature, Override, parse

FALLBACK = "Home Assistant entities use hcpy's own choices"


@pytest.mark.parametrize(
    ("text", "found"),
    [("- HA_DISCOVERY_PREFIX: ha\n", "a list"), ("homeassistant\n", "text"), ("42\n", "an int"), ("4.2\n", "a float")],
)
def test_a_file_that_is_no_mapping_says_what_it_found(text, found):
    overrides, problems = parse(text, "discovery.yaml")
    assert len(problems) == 1
    assert problems[0].startswith("discovery.yaml: expected a mapping of HA_DISCOVERY_PREFIX, ")
    assert problems[0].endswith(f", found {found}; {FALLBACK}")
    assert overrides.magic == {} and overrides.prefix is None


def test_whole_keys_of_the_wrong_shape_are_named_and_left_out():
    overrides, problems = parse(
        "MAGIC_OVERRIDES: [BSH.Common.Status.DoorState]\n"
        "EXPAND_NAME: [BSH.Common.Setting.Favorite.]\n"
        "ADDITIONAL_FEATURES: {name: rssi}\n"
        "SKIP_ENTITIES: {Dishcare.: 1}\n",
        "discovery.yaml",
    )
    assert problems == [
        "discovery.yaml: MAGIC_OVERRIDES: ['BSH.Common.Status.DoorState'] is not a mapping of feature names to the"
        " keys to override; ignored",
        "discovery.yaml: EXPAND_NAME: ['BSH.Common.Setting.Favorite.'] is not a mapping of name prefixes to part"
        " indexes; ignored",
        "discovery.yaml: SKIP_ENTITIES: {'Dishcare.': 1} is not a list of name prefixes; ignored",
        "discovery.yaml: ADDITIONAL_FEATURES: {'name': 'rssi'} is not a list of entries with a name; ignored",
    ]
    assert overrides.magic == {} and overrides.expand_name == () and overrides.additional == () and overrides.skip == ()


def test_entries_of_the_wrong_shape_are_named_and_their_neighbours_kept():
    overrides, problems = parse(
        "MAGIC_OVERRIDES:\n"
        "  42: {icon: mdi:numeric}\n"
        "  BSH.Common.Status.DoorState:\n"
        "    payload_values: mdi:door\n"
        "    icon: mdi:door\n"
        "  BSH.Common.Setting.PowerState:\n"
        "    7: x\n"
        "    icon: mdi:power\n"
        "  BSH.Common.Status.OperationState:\n"
        "EXPAND_NAME:\n"
        "  1: 2\n"
        "  BSH.Common.Status.Program.: 3\n"
        "ADDITIONAL_FEATURES:\n"
        "- name: ipV4\n"
        "  template: [value_json]\n"
        "  entity_category: diagnostic\n",
        "discovery.yaml",
    )
    assert problems == [
        "discovery.yaml: MAGIC_OVERRIDES: 42 is not a feature name; ignored",
        "discovery.yaml: MAGIC_OVERRIDES: BSH.Common.Status.DoorState: payload_values: 'mdi:door' is not a mapping"
        " of discovery keys to values; ignored",
        "discovery.yaml: MAGIC_OVERRIDES: BSH.Common.Setting.PowerState: 7 is not a discovery key; ignored",
        "discovery.yaml: EXPAND_NAME: 1 is not a name prefix; ignored",
        "discovery.yaml: ADDITIONAL_FEATURES: ipV4: template: ['value_json'] is not a template; ignored",
    ]
    assert overrides.magic == {
        "BSH.Common.Status.DoorState": Override({"icon": "mdi:door"}),
        "BSH.Common.Setting.PowerState": Override({"icon": "mdi:power"}),
    }  # an entry left empty asks for nothing
    assert overrides.expand_name == (("BSH.Common.Status.Program.", 3),)
    assert overrides.additional == (AdditionalFeature("ipV4", {"entity_category": "diagnostic"}),)
