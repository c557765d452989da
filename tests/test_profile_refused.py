"""A hand-edited devices.json entry or a damaged XML profile: each broken part is named once, the rest loads.

Existing users edit devices.json by hand. hcpy must not refuse a whole
appliance for one wrong value: every broken part gets one sentence naming
where it is and what happens instead (skipped, ignored, a default used), and
the model keeps everything else. The exact sentences are what a user reads
in the log, so they are asserted in full.
"""

from __future__ import annotations

import math

import pytest

from hcpy.appliance.model import Access, Description, Kind
from hcpy.appliance.profile_build import convert_value, guess_kind, parse_bool, parse_number
from hcpy.appliance.profile_json import profile_from_json
from hcpy.appliance.profile_xml import parse_profile

# --- devices.json: a profile as hcpy stores it -------------------------------------


def _load(obj):
    problems: list[str] = []
    return profile_from_json(obj, problems.append), problems


def test_a_description_and_features_of_the_wrong_shape_leave_an_empty_but_usable_profile():
    profile, problems = _load({"description": ["SIEMENS"], "features": ["oops"], "enums": [], "errors": "none"})
    assert problems == [
        "'description' is not an object; ignored",
        "'enums' is not an object; ignored",
        "'errors' is not an object; ignored",
        "'features' is not an object; the appliance has no known features",
    ]
    assert profile.features == {} and profile.enums == {} and profile.errors == {}
    assert profile.description == Description()


def test_broken_feature_fields_are_named_and_degrade_to_defaults():
    features = {
        # An unknown kind falls back to what the name says.
        "256": {"name": "BSH.Common.Status.DoorState", "kind": "gadget", "access": "read"},
        # A parent that is not a uid is dropped, the feature kept.
        "257": {"name": "BSH.Common.Setting.PowerState", "parent": "not-hex", "access": "readWrite"},
        # The key is the uid; a disagreeing or unreadable 'uid' attribute loses.
        "258": {"name": "BSH.Common.Status.A", "uid": "0103"},
        "259": {"name": "BSH.Common.Status.B", "uid": "zz"},
        # Nested values are not XML attributes.
        "260": {"name": "BSH.Common.Status.C", "min": [1, 2], "available": True},
        # 'values' must map whole numbers to names.
        "261": {"name": "BSH.Common.Status.D", "values": ["Open", "Closed"]},
        "262": {"name": "BSH.Common.Status.E", "values": {"0": "Open", "one": "Closed"}},
    }
    profile, problems = _load({"description": {"brand": "SIEMENS", "model": 42}, "features": features})
    assert problems == [
        "feature 256 (BSH.Common.Status.DoorState): 'kind' 'gadget' is unknown; using status",
        "feature 257 (BSH.Common.Setting.PowerState): 'parent' is not hexadecimal; ignored",
        "feature 258 (BSH.Common.Status.A): 'uid' '0103' disagrees with the key; the key wins",
        "feature 259 (BSH.Common.Status.B): 'uid' 'zz' is not hexadecimal; the key wins",
        "feature 260 (BSH.Common.Status.C): 'min' is not a plain value; ignored",
        "feature 261 (BSH.Common.Status.D): 'values' is not an object; ignored",
        "feature 262 (BSH.Common.Status.E): 'values' key 'one' is not a whole number; skipped",
    ]
    assert profile.description.model == "42"  # a number where text belongs is read as its text
    assert profile.features[256].kind is Kind.STATUS
    assert profile.features[257].parent is None and profile.features[257].limits.access is Access.READ_WRITE
    assert set(profile.features) == {256, 257, 258, 259, 260, 261, 262}  # the key wins: 258 stays 258
    assert profile.features[260].limits.min is None and profile.features[260].limits.available is True
    assert profile.features[261].enum is None
    assert profile.features[262].enum is not None and profile.features[262].enum.members == {0: "Open"}


def test_broken_program_options_are_skipped_and_the_program_kept():
    features = {
        "8192": {"name": "Dishcare.Dishwasher.Program.Eco50", "options": ["5120"]},
        "8193": {"name": "Dishcare.Dishwasher.Program.Quick45", "options": {"x": {}, "5120": "max=5", "5121": {"max": "9"}}},
        "5121": {"name": "BSH.Common.Option.StartInRelative", "refCID": "10", "refDID": "82", "max": "86400"},
    }
    profile, problems = _load({"features": features})
    assert problems == [
        "program Dishcare.Dishwasher.Program.Eco50: 'options' is not an object; it allows no options",
        "program Dishcare.Dishwasher.Program.Quick45: option x: the key is not a decimal uid; skipped",
        "program Dishcare.Dishwasher.Program.Quick45: option 5120: not an object; skipped",
    ]
    assert profile.programs[8192].options == {}
    quick = profile.programs[8193]
    assert list(quick.options) == [5121] and quick.options[5121].limits.max == 9


def test_broken_enumerations_and_error_codes_are_skipped_one_by_one():
    enums = {
        "0201": {"name": "DoorState", "values": {"0": "Open", "1": "Closed"}, "subsetOf": "0200"},
        "QQ": {"values": {"0": "Off"}},
        "0202": "Open,Closed",
        "0203": {"values": {"0": "Off"}, "subsetOf": "nope", "name": 7},
    }
    profile, problems = _load({"enums": enums, "errors": {"403": "BSH.Common.Error.403.Forbidden", "E17": "x"}})
    assert problems == [
        "enumeration 'QQ': the key is not a hexadecimal enumeration id; skipped",
        "enumeration '0202': not an object; skipped",
        "enumeration '0203': 'subsetOf' is not hexadecimal; ignored",
        "error code 'E17' is not a whole number; skipped",
    ]
    assert set(profile.enums) == {0x0201, 0x0203}
    door = profile.enums[0x0201]
    assert (door.name, door.members, door.subset_of) == ("DoorState", {0: "Open", 1: "Closed"}, 0x0200)
    assert profile.enums[0x0203].name is None and profile.enums[0x0203].subset_of is None
    assert profile.errors == {403: "BSH.Common.Error.403.Forbidden"}


# --- attribute values: how the XML spells them ---------------------------------------


@pytest.mark.parametrize("text", ["yes", "2", ""])
def test_a_flag_is_true_false_1_or_0_only(text):
    assert parse_bool(" TRUE ") is True and parse_bool("0") is False
    with pytest.raises(ValueError, match="is not true or false"):
        parse_bool(text)


def test_numbers_stay_whole_when_written_whole_and_must_be_finite():
    assert parse_number("60") == 60 and isinstance(parse_number("60"), int)
    assert parse_number("0.5") == 0.5
    for text in ("nan", "inf", "-inf"):
        with pytest.raises(ValueError, match="is not a finite number"):
            parse_number(text)
    assert not math.isnan(parse_number("1e3"))


def test_a_value_without_any_type_takes_the_narrowest_reading_that_fits():
    assert convert_value("12", None, None) == 12
    assert convert_value("true", None, None) is True
    assert convert_value("Eco", None, None) == "Eco"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("BSH.Common.Root.ActiveProgram", Kind.ACTIVE_PROGRAM),
        ("BSH.Common.Root.ProgramList", Kind.LIST),
        ("BSH.Common.Root.Something", Kind.UNKNOWN),
        ("LaundryCare.Common.OptionList.Options", Kind.LIST),
        ("BSH.Common.Whatever.X", Kind.UNKNOWN),
        ("Too.Short", Kind.UNKNOWN),
    ],
)
def test_the_kind_a_name_implies(name, kind):
    assert guess_kind(name) is kind


# --- the XML pair -------------------------------------------------------------------

MAPPING = """<?xml version="1.0" encoding="UTF-8"?>
<featureMappingFile xmlns="http://www.home-connect.com/schemas/FeatureMapping/20140417">
  <featureDescription>
    <feature refUID="0101">Test.Root.StatusList</feature>
    <feature refUID="1001">Test.Oven.Status.Mode</feature>
    <feature refUID="1002">Test.Oven.Setting.Light</feature>
    <feature refUID="ZZ">Test.Oven.Status.Bad</feature>
    <feature refUID="1003"></feature>
    <comment>not a feature</comment>
  </featureDescription>
  <errorDescription>
    <error refEID="0193">BSH.Common.Error.403.Forbidden</error>
  </errorDescription>
  <enumDescriptionList>
    <enumDescription refENID="0201" enumKey="Test.Mode">
      <enumMember refValue="0">Off</enumMember>
      <enumMember refValue="x">Broken</enumMember>
      <enumMember refValue="1"></enumMember>
      <other refValue="2">Not a member</other>
    </enumDescription>
    <enumDescription refENID="nope" enumKey="Test.Bad"><enumMember refValue="0">A</enumMember></enumDescription>
    <somethingElse/>
  </enumDescriptionList>
</featureMappingFile>
"""

DESCRIPTION = """<?xml version="1.0" encoding="UTF-8"?>
<device xmlns="http://www.home-connect.com/schemas/DeviceDescription/20140417">
  <description><type>Oven</type><brand>NEFF</brand><model>B1</model></description>
  <statusList uid="0101">
    <status uid="1001" enumerationType="0201" refCID="03" refDID="80" access="sideways" available="maybe"/>
    <setting uid="1002" refCID="01" refDID="00" access="readWrite" default="perhaps"/>
    <status uid="1004" refCID="07" refDID="82"/>
  </statusList>
  <enumerationTypeList>
    <enumerationType enid="0201"><enumeration value="0"/><enumeration value="1"/><enumeration value="x"/></enumerationType>
    <enumerationType enid="0202" subsetOf="0999"><enumeration value="0"/></enumerationType>
    <enumerationType enid="QQ"><enumeration value="0"/></enumerationType>
    <comment/>
  </enumerationTypeList>
</device>
"""


def test_damaged_xml_names_each_broken_element_and_keeps_the_rest():
    profile = parse_profile(DESCRIPTION, MAPPING, appliance="oven")
    assert profile.problems == [
        "oven: FeatureMapping: <feature refUID='ZZ'> Test.Oven.Status.Bad has no hexadecimal refUID; skipped",
        "oven: FeatureMapping: <feature refUID='1003'> has no name; skipped",
        "oven: FeatureMapping: <enumDescription refENID='0201'>: <enumMember refValue='x'> needs a whole-number"
        " refValue and a name; skipped",
        "oven: FeatureMapping: <enumDescription refENID='0201'>: <enumMember refValue='1'> needs a whole-number"
        " refValue and a name; skipped",
        "oven: FeatureMapping: <enumDescription refENID='nope'> has no hexadecimal refENID; skipped",
        "oven: DeviceDescription: <enumerationType enid='0201'>: <enumeration value='x'> is not a whole number;"
        " skipped",
        "oven: DeviceDescription: <enumerationType enid='QQ'> has no hexadecimal enid; skipped",
        "oven: DeviceDescription: <enumerationType enid='0201'> values 1 have no name in the FeatureMapping;"
        " they will show as numbers",
        "oven: DeviceDescription: <enumerationType enid='0202'> values 0 have no name in the FeatureMapping;"
        " they will show as numbers",
        "oven: DeviceDescription: <enumerationType enid='0202'> is a subset of '0999', which neither file defines",
        "oven: DeviceDescription: <status uid='1001'> (Test.Oven.Status.Mode): access='sideways' is not a known"
        " access; using read",
        "oven: DeviceDescription: <status uid='1001'> (Test.Oven.Status.Mode): available='maybe' is not true or"
        " false; using true",
        "oven: DeviceDescription: <setting uid='1002'> (Test.Oven.Setting.Light): default='perhaps' does not fit"
        " the feature's type; kept as text",
        "oven: DeviceDescription: <status uid='1004'> has no name in the FeatureMapping; calling it"
        " Unknown.status.1004",
    ]
    mode = profile.by_name("Test.Oven.Status.Mode")
    light = profile.by_name("Test.Oven.Setting.Light")
    assert mode is not None and light is not None
    assert mode.limits.access is Access.READ and mode.limits.available is True
    assert mode.enum is not None and mode.enum.members == {0: "Off"} and mode.enum.name == "Test.Mode"
    assert light.limits.default == "perhaps"
    assert profile.features[0x1004].name == "Unknown.status.1004"  # kept: its values still decode by uid
    assert profile.errors == {403: "BSH.Common.Error.403.Forbidden"}


def test_type_ids_that_are_not_hexadecimal_are_ignored_and_the_names_kept():
    features = {
        # A broken refCID: the value is untyped; the names listed beside it still apply.
        "256": {"name": "BSH.Common.Status.DoorState", "refCID": "zz", "enumerationType": "zz",
                "values": {"0": "Open", "1": "Closed"}},  # fmt: skip
        # Without listed names, an enumerationType that is not hexadecimal names nothing.
        "257": {"name": "BSH.Common.Status.OperationState", "enumerationType": "0x12"},
        "8192": {"name": "Dishcare.Dishwasher.Program.Eco50",
                 "options": {"5120": {"enumerationType": "0201"}}},  # fmt: skip
        "5120": {"name": "Dishcare.Dishwasher.Option.Drying", "enumerationType": "0200"},
    }
    enums = {"0201": {"values": {"0": "Off", "1": "On"}}}
    profile, problems = _load({"features": features, "enums": enums})
    assert problems == [
        "feature 256 (BSH.Common.Status.DoorState): refCID='zz' is not hexadecimal; ignored",
        "feature 257 (BSH.Common.Status.OperationState): enumerationType='0x12' is not hexadecimal; ignored",
        "feature 5120 (Dishcare.Dishwasher.Option.Drying): enumerationType='0200' names an enumeration type the"
        " profile does not define; its values will show as numbers",
    ]
    door = profile.features[256]
    assert door.content_type is None and door.enum is not None and door.enum.members == {0: "Open", 1: "Closed"}
    assert profile.features[257].enum is None
    # The program's own enumeration for its option wins over the option's (here unknown) one.
    option = profile.programs[8192].options[5120]
    assert option.enum is profile.enums[0x0201]


def test_a_repeated_uid_keeps_the_first_element():
    description = DESCRIPTION.replace('<status uid="1004"', '<status uid="1001" refCID="01"/><status uid="1004"')
    profile = parse_profile(description, MAPPING, appliance="oven")
    assert (
        "oven: DeviceDescription: <status uid='1001'> (Test.Oven.Status.Mode) repeats uid 1001 (Test.Oven.Status.Mode);"
        " the second one is skipped"
    ) in profile.problems
    assert profile.features[0x1001].content_type == 0x03  # the first one's
