"""hcpy.appliance.profile: the real fixture profiles and hand-written broken ones."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from hcpy.appliance.model import Access, Kind, Profile
from hcpy.appliance.profile_xml import parse_profile
from hcpy.errors import HcpyError, ProfileError
from hcpy.simulator.examples import EXAMPLES

PROFILES = EXAMPLES  # the simulator's example appliances are the tests' fixtures: real profiles


@cache
def fixture_profile(model: str) -> Profile:
    base = PROFILES / f"SIEMENS-{model}-000000000000"
    return parse_profile(
        Path(f"{base}_DeviceDescription.xml").read_bytes(),
        Path(f"{base}_FeatureMapping.xml").read_bytes(),
    )


def dishwasher() -> Profile:
    return fixture_profile("SN658X06TE")


def washer() -> Profile:
    return fixture_profile("WM16XE91")


def coffee() -> Profile:
    return fixture_profile("TI9555X1DE")


def option_names(profile: Profile, program: str) -> set[str]:
    feature = profile.by_name(program)
    assert feature is not None, program
    return {profile.features[uid].short_name for uid in profile.programs[feature.uid].options}


# --- the dishwasher ---------------------------------------------------------------


def test_fixtures_parse_without_problems():
    for profile in (dishwasher(), washer(), coffee()):
        assert profile.problems == []


def test_dishwasher_description():
    d = dishwasher().description
    assert (d.type, d.brand, d.model, d.version, d.revision) == ("Dishwasher", "SIEMENS", "SN658X06TE", "1", "0")


def test_dishwasher_programs_and_the_options_each_allows():
    profile = dishwasher()
    names = {p.name.rsplit(".", 1)[-1] for p in profile.programs.values()}
    assert names == {
        "Intensiv70", "Auto2", "Eco50", "NightWash", "Kurz60", "Glas40", "Quick45", "PreRinse", "MachineCare",
    }
    program = "Dishcare.Dishwasher.Program."
    assert option_names(profile, program + "Eco50") == {
        "StartInRelative", "IntensivZone", "VarioSpeedPlus", "BrillianceDry",
    }
    # NightWash has no VarioSpeedPlus, Quick45 only BrillianceDry, PreRinse only the start delay.
    assert option_names(profile, program + "NightWash") == {"StartInRelative", "IntensivZone", "BrillianceDry"}
    assert option_names(profile, program + "Quick45") == {"StartInRelative", "BrillianceDry"}
    assert option_names(profile, program + "PreRinse") == {"StartInRelative"}
    # Programs are features too, so names resolve.
    eco = profile.by_name(program + "Eco50")
    assert eco.uid == 0x2004 and eco.kind is Kind.PROGRAM and eco.parent == 0x0107


def test_dishwasher_program_option_uses_the_programs_access_over_the_option_list():
    profile = dishwasher()
    start = profile.by_name("BSH.Common.Option.StartInRelative")
    # optionList: read only; every program makes it writable, without live update.
    assert start.limits.access is Access.READ
    eco = profile.programs[0x2004]
    option = eco.options[start.uid]
    assert option.limits.access is Access.READ_WRITE and option.live_update is False
    # Attributes the program leaves out come from the option list (default false).
    intensiv = eco.options[profile.by_name("Dishcare.Dishwasher.Option.IntensivZone").uid]
    assert intensiv.live_update is True and intensiv.limits.default is False
    assert eco.available is True and eco.execution == "selectAndStart"


def test_dishwasher_features_types_and_defaults():
    profile = dishwasher()
    door = profile.by_name("BSH.Common.Status.DoorState")
    assert door.uid == 0x020F and door.kind is Kind.STATUS and door.parent == 0x0102
    assert door.content_type_name == "enumeration" and door.data_type == 0x80
    assert door.enum.enid == 0x0201 and door.enum.name == "BSH.Common.EnumType.DoorState"
    assert door.enum.members == {0: "Open", 1: "Closed"}
    assert door.notify_on_change is True and door.live_update is False and door.password_protected is False
    assert door.handling is None and door.level is None

    wifi = profile.by_name("BSH.Common.Status.WiFiSignalStrength")
    assert wifi.notify_on_change is False and wifi.init_value == 0

    # Commands default to notifyOnChange false.
    abort = profile.by_name("BSH.Common.Command.AbortProgram")
    assert abort.kind is Kind.COMMAND and abort.notify_on_change is False and abort.limits.access is Access.NONE

    update = profile.by_name("BSH.Common.Event.SoftwareUpdateAvailable")
    assert (update.handling, update.level) == ("acknowledge", "hint")
    assert update.enum.members == {0: "Off", 1: "Present", 2: "Confirmed"}
    aquastop = profile.by_name("BSH.Common.Event.AquaStopOccured")
    assert (aquastop.handling, aquastop.level) == ("none", "critical")

    # A boolean initValue written "1" is still a boolean.
    assert profile.by_name("BSH.Common.Option.RemainingProgramTimeIsEstimated").init_value is True

    nested = profile.by_name("Dishcare.Dishwasher.OptionList.Options")
    assert nested.uid == 0xEFF1 and nested.kind is Kind.LIST and nested.parent == 0x0106
    assert profile.features[0x1406].parent == 0xEFF1

    selected = profile.by_name("BSH.Common.Root.SelectedProgram")
    assert selected.kind is Kind.SELECTED_PROGRAM and selected.limits.access is Access.READ_WRITE
    assert selected.attributes["fullOptionSet"] == "false"


def test_by_name_is_exact():
    profile = dishwasher()
    assert profile.by_name("DoorState") is None
    assert profile.by_name("BSH.Common.Status.Door") is None
    assert profile.by_name("bsh.common.status.doorstate") is None
    assert profile.by_name("BSH.Common.Status.DoorState").uid == 0x020F


def test_error_names_are_keyed_by_code():
    errors = dishwasher().errors
    assert errors[403] == "BSH.Common.Error.403.Forbidden"
    assert errors[0x0203] == errors[515] == "BSH.Common.Error.Busy"
    assert errors[531] == "BSH.Common.Error.ValueOutOfRange"
    assert len(errors) == 48


# --- the washer ---------------------------------------------------------------------


def test_washer_nested_lists_keep_their_parents():
    profile = washer()
    processing = profile.by_name("LaundryCare.Common.StatusList.ProcessingData")
    washer_data = profile.by_name("LaundryCare.Common.StatusList.WasherData")
    assert processing.kind is washer_data.kind is Kind.LIST
    assert processing.parent == 0x0102 and washer_data.parent == processing.uid
    load = profile.by_name("LaundryCare.Washer.Status.ProcessingData.LaundryLoad")
    assert load.kind is Kind.STATUS and load.parent == washer_data.uid

    groups = {f.name: f for f in profile.features.values() if f.name.startswith("LaundryCare.Common.ProgramGroup.")}
    assert groups["LaundryCare.Common.ProgramGroup.Washer"].parent == groups["LaundryCare.Common.ProgramGroup.Regular"].uid
    assert groups["LaundryCare.Common.ProgramGroup.Favorites"].limits.available is False


def test_washer_programs_in_nested_groups():
    profile = washer()
    assert len(profile.programs) == 26
    cotton = profile.by_name("LaundryCare.Washer.Program.Cotton")
    assert cotton.parent == profile.by_name("LaundryCare.Common.ProgramGroup.Washer").uid
    memory = profile.by_name("LaundryCare.Common.Program.Memory1")
    assert memory.parent == profile.by_name("LaundryCare.Common.ProgramGroup.Favorites").uid
    program = profile.programs[cotton.uid]
    assert program.available is False and len(program.options) == 32


def test_washer_limits_are_numbers_and_program_limits_fall_back_to_the_option_list():
    profile = washer()
    load = profile.by_name("LaundryCare.Common.Option.LoadRecommendation")
    assert load.limits == load.limits.__class__(access=Access.NONE, available=False, min=0, max=25500, step=100)
    assert isinstance(load.limits.max, int)
    option = profile.programs[profile.by_name("LaundryCare.Washer.Program.Cotton").uid].options[load.uid]
    # The program opens it up; the numbers come from the option list.
    assert option.limits.access is Access.READ_WRITE and option.limits.available is True
    assert (option.limits.min, option.limits.max, option.limits.step) == (0, 25500, 100)
    duration = profile.by_name("BSH.Common.Option.Duration")
    assert (duration.limits.min, duration.limits.max, duration.limits.step, duration.init_value) == (300, 12600, 300, 1200)
    assert duration.content_type_name == "timeSpan"
    spin = profile.by_name("LaundryCare.Washer.Option.SpinSpeed")
    assert spin.limits.default == 0 and spin.enum.enid == 0x6002


def test_washer_subset_enumerations_take_names_from_their_super_type():
    enums = washer().enums
    temperature = enums[0x6001]
    assert temperature.name == "LaundryCare.Washer.EnumType.Temperature"
    subset = enums[0x8002]
    assert subset.subset_of == 0x6001 and subset.name is None
    assert subset.members == {0: "Cold", 1: "GC20", 2: "GC30", 3: "GC40", 5: "GC60", 8: "GC90", 254: "Auto"}
    assert enums[0x8003].members == {1: "UlOff", 39: "UlLow", 79: "UlMedium", 119: "UlHigh", 254: "Auto"}
    assert enums[0x8A04].subset_of == 0x0202 and enums[0x8A04].members == {9: "En", 48: "Zh"}


# --- the coffee machine ---------------------------------------------------------------


def test_coffee_enumerations():
    profile = coffee()
    bean = profile.by_name("ConsumerProducts.CoffeeMaker.Option.BeanAmount")
    assert bean.enum is profile.enums[0x1006]
    assert bean.enum.name == "ConsumerProducts.CoffeeMaker.EnumType.BeanAmount"
    assert bean.enum.members[10] == "VeryMild" and bean.enum.members[200] == "CoffeeGround"
    assert (bean.limits.min, bean.limits.max, bean.limits.default) == (10, 200, 60)
    assert profile.enums[0x1118].members == {
        60: "Strong", 80: "VeryStrong", 100: "ExtraStrong", 110: "DoubleShot", 120: "DoubleShotPlus", 200: "CoffeeGround",
    }
    assert profile.enums[0x1017].members[90] == "90Percent"
    assert profile.enums[0x1017].subset_of == 0x1007


def test_coffee_program_options_have_per_program_defaults():
    profile = coffee()
    bean = profile.by_name("ConsumerProducts.CoffeeMaker.Option.BeanAmount").uid
    fill = profile.by_name("ConsumerProducts.CoffeeMaker.Option.FillQuantity").uid
    ristretto = profile.programs[profile.by_name("ConsumerProducts.CoffeeMaker.Program.Beverage.Ristretto").uid]
    doppio = profile.programs[profile.by_name("ConsumerProducts.CoffeeMaker.Program.Beverage.EspressoDoppio").uid]
    assert ristretto.options[bean].limits.default == 80
    assert doppio.options[bean].limits.default == 100
    assert ristretto.options[fill].limits.default == 25 and doppio.options[fill].limits.default == 60
    # Unset per program: range and enumeration come from the option list.
    assert (ristretto.options[fill].limits.min, ristretto.options[fill].limits.max, ristretto.options[fill].limits.step) == (20, 400, 5)
    assert ristretto.options[bean].enum.enid == 0x1006
    assert ristretto.options[bean].live_update is True


def test_coffee_program_execution_and_program_slots():
    profile = coffee()
    rinsing = profile.programs[profile.by_name("ConsumerProducts.CoffeeMaker.Program.CleaningModes.ApplianceOffRinsing").uid]
    assert rinsing.execution == "none" and rinsing.available is False
    clean = profile.programs[profile.by_name("ConsumerProducts.CoffeeMaker.Program.CleaningModes.Clean").uid]
    assert clean.execution == "selectAndStart"
    assert {profile.features[u].short_name for u in clean.options} == {
        "ProgramProgress", "BeveragesRemaining", "CurrentStepRemainingTime",
    }
    active = profile.by_name("BSH.Common.Root.ActiveProgram")
    assert active.kind is Kind.ACTIVE_PROGRAM and active.limits.access is Access.READ
    assert active.attributes == {"access": "read", "fullOptionSet": "true", "uid": "0100", "validate": "false"}
    assert profile.description.model == "TI9555X1DE" and profile.description.version == "89"


# --- hand-written profiles ----------------------------------------------------------

MAPPING = """<?xml version="1.0" encoding="utf-8"?>
<featureMappingFile xmlns="http://www.home-connect.com/schemas/FeatureMapping/20140417"
    xmlns:xi="http://www.w3.org/2001/XInclude">
  <xi:include href="missing.xml" parse="xml">
    <xi:fallback><error>xinclude error: file "missing.xml" not found</error></xi:fallback>
  </xi:include>
  <featureDescription>
    <!-- <feature refUID="0999">Test.Commented.Status.Out</feature> -->
    <feature refUID="0102">BSH.Common.Root.StatusList</feature>
    <feature refUID="0104">BSH.Common.Root.EventList</feature>
    <feature refUID="0106">BSH.Common.Root.OptionList</feature>
    <feature refUID="0107">BSH.Common.Root.ProgramGroup</feature>
    <feature refUID="020F">BSH.Common.Status.DoorState</feature>
    <feature refUID="1000">Test.Oven.Status.Broken</feature>
    <feature refUID="1001">Test.Oven.Status.Temperature</feature>
    <feature refUID="1002">Test.Oven.Status.Mode</feature>
    <feature refUID="1003">Test.Oven.Event.Preheated</feature>
    <feature refUID="1004">Test.Oven.Option.Setpoint</feature>
    <feature refUID="2000">Test.Oven.Program.Bake</feature>
    <feature refUID="3000">Test.Oven.Setting.OnlyInMapping</feature>
    <feature refUID="XYZ1">Test.Oven.Setting.BadHex</feature>
  </featureDescription>
  <errorDescription><error refEID="0193">BSH.Common.Error.403.Forbidden</error></errorDescription>
  <enumDescriptionList>
    <enumDescription refENID="0001" enumKey="BSH.Common.EnumType.EventPresentState">
      <enumMember refValue="0">Off</enumMember><enumMember refValue="1">Present</enumMember>
      <enumMember refValue="2">Confirmed</enumMember>
    </enumDescription>
    <enumDescription refENID="0201" enumKey="BSH.Common.EnumType.DoorState">
      <enumMember refValue="0">Open</enumMember><enumMember refValue="1">Closed</enumMember>
    </enumDescription>
  </enumDescriptionList>
</featureMappingFile>
"""

DESCRIPTION = """<?xml version="1.0" encoding="UTF-8"?>
<device xmlns="http://www.home-connect.com/schemas/DeviceDescription/20140417"
    xmlns:xi="http://www.w3.org/2001/XInclude">
  <!-- <status uid="0998" access="read"/> -->
  <xi:include href="HC_INT_BSH_CTD.xml" parse="xml">
    <xi:fallback><error>xinclude error</error><statusList uid="0997"><status uid="0996"/></statusList></xi:fallback>
  </xi:include>
  <description><type>Oven</type><brand>NEFF</brand><model>B57CR22N0</model>
    <version>3</version><revision>1</revision></description>
  <statusList access="read" available="true" uid="0102">
    <status access="read" available="true" enumerationType="0201" refCID="03" refDID="80" uid="020F"/>
    <status access="read" available="true" refCID="07" refDID="82" uid="10G0"/>
    <status access="read" available="true" refCID="07" refDID="82" min="abc" max="300" stepSize="5" uid="1001"/>
    <status access="read" available="true" enumerationType="7777" refCID="03" refDID="80" uid="1002"/>
  </statusList>
  <eventList uid="0104">
    <event refCID="03" refDID="80" uid="1003"/>
  </eventList>
  <optionList access="readWrite" available="true" uid="0106">
    <option access="readWrite" available="true" default="180" max="250" min="30" refCID="07" refDID="82" uid="1004"/>
  </optionList>
  <programGroup available="true" uid="0107">
    <program available="true" uid="2000">
      <option access="readWrite" available="true" max="200" refUID="1004"/>
      <option access="readWrite" available="true" refUID="QQ"/>
    </program>
  </programGroup>
  <enumerationTypeList>
    <enumerationType enid="0201"><enumeration value="0"/><enumeration value="1"/></enumerationType>
  </enumerationTypeList>
</device>
"""


def test_broken_elements_are_reported_and_the_rest_parses():
    profile = parse_profile(DESCRIPTION, MAPPING, appliance="oven")
    problems = "\n".join(profile.problems)
    # Each problem names the appliance, the element and what is wrong.
    assert all(p.startswith("oven: ") for p in profile.problems)
    assert "<status uid='10G0'> has no hexadecimal uid; skipped" in problems
    assert "(Test.Oven.Status.Temperature): min='abc' is not a number; ignored" in problems
    assert "(Test.Oven.Status.Mode): enumerationType='7777' names an enumeration type" in problems
    assert "program Test.Oven.Program.Bake: <option refUID='QQ'> has no hexadecimal refUID; skipped" in problems
    assert "<feature refUID='XYZ1'> Test.Oven.Setting.BadHex has no hexadecimal refUID; skipped" in problems
    assert len(profile.problems) == 5

    # The rest is intact; broken attributes degrade, they do not drop the feature.
    temperature = profile.by_name("Test.Oven.Status.Temperature")
    assert temperature.limits.min is None and temperature.limits.max == 300 and temperature.limits.step == 5
    mode = profile.by_name("Test.Oven.Status.Mode")
    assert mode.kind is Kind.STATUS and mode.enum is None
    assert profile.by_name("BSH.Common.Status.DoorState").enum.members == {0: "Open", 1: "Closed"}
    assert profile.features[0x1000].kind is Kind.UNKNOWN  # its element was the broken one
    bake = profile.programs[0x2000]
    assert list(bake.options) == [0x1004]
    assert bake.options[0x1004].limits.max == 200 and bake.options[0x1004].limits.min == 30
    assert bake.options[0x1004].limits.default == 180
    assert profile.errors == {403: "BSH.Common.Error.403.Forbidden"}
    assert profile.description.brand == "NEFF"


def test_defaults_for_events_and_mapping_only_features():
    profile = parse_profile(DESCRIPTION, MAPPING, appliance="oven")
    preheated = profile.by_name("Test.Oven.Event.Preheated")
    # No enumerationType on an event: the event-state type 0001.
    assert preheated.enum is profile.enums[0x0001]
    assert preheated.enum.members == {0: "Off", 1: "Present", 2: "Confirmed"}
    assert (preheated.handling, preheated.level, preheated.limits.access) == ("none", "hint", Access.READ)
    only = profile.by_name("Test.Oven.Setting.OnlyInMapping")
    assert only.uid == 0x3000 and only.kind is Kind.UNKNOWN and only.attributes == {}
    program = profile.by_name("Test.Oven.Program.Bake")
    assert program.execution == "selectAndStart" and program.kind is Kind.PROGRAM


def test_comments_and_xinclude_fallbacks_create_nothing():
    profile = parse_profile(DESCRIPTION, MAPPING, appliance="oven")
    assert not {0x0996, 0x0997, 0x0998, 0x0999} & set(profile.features)
    assert profile.by_name("Test.Commented.Status.Out") is None
    # Fixtures are full of comments naming features and of xi:include blocks.
    assert all(not f.name.startswith("xinclude") for f in dishwasher().features.values())
    assert len(dishwasher().features) == 83


def test_appliance_defaults_to_brand_and_model_in_problems():
    profile = parse_profile(DESCRIPTION, MAPPING)
    assert profile.problems[0].startswith("NEFF B57CR22N0: ")


def test_not_xml_raises_a_clear_profile_error():
    with pytest.raises(ProfileError) as info:
        parse_profile(b"PK\x03\x04 this is a zip, not xml", MAPPING, appliance="oven")
    message = str(info.value)
    assert message.startswith("oven: the DeviceDescription is not valid XML")
    assert "download the appliance's profile again" in message
    assert isinstance(info.value, HcpyError)

    with pytest.raises(ProfileError) as info:
        parse_profile(DESCRIPTION, "<featureMappingFile><feature>", appliance="oven")
    assert "FeatureMapping is not valid XML" in str(info.value)


def test_entity_bombs_and_external_entities_are_refused(tmp_path):
    """Profiles come from zips of unknown origin: expat's own limits must hold."""
    laughs = '<!ENTITY l0 "lol">' + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    bomb = f'<?xml version="1.0"?><!DOCTYPE device [{laughs}]><device><description><type>&l9;</type></description></device>'
    with pytest.raises(ProfileError, match="amplification"):
        parse_profile(bomb, MAPPING, appliance="oven")

    secret = tmp_path / "secret.txt"
    secret.write_text("do not read me")
    external = (
        f'<?xml version="1.0"?><!DOCTYPE device [<!ENTITY x SYSTEM "file://{secret}">]>'
        "<device><description><type>&x;</type></description></device>"
    )
    with pytest.raises(ProfileError, match="undefined entity") as info:
        parse_profile(external, MAPPING, appliance="oven")
    assert "do not read me" not in str(info.value)


def test_swapped_files_are_named():
    with pytest.raises(ProfileError, match="swapped"):
        parse_profile(MAPPING, DESCRIPTION, appliance="oven")


def test_text_and_bytes_parse_alike():
    base = PROFILES / "SIEMENS-SN658X06TE-000000000000"
    text = parse_profile(
        Path(f"{base}_DeviceDescription.xml").read_text(encoding="utf-8"),
        Path(f"{base}_FeatureMapping.xml").read_text(encoding="utf-8"),
    )
    assert text == dishwasher()
    assert text.by_name("BSH.Common.Status.DoorState") is text.features[0x020F]
