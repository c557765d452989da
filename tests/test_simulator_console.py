"""The simulator's console and its fault queue: what a person types, what a test asks for.

tests/test_simulator.py reads single commands; here the console serves two
appliances at once (by name or all), answers help and state, and ends
quietly when its input goes away; and a fault that could never apply is
refused when it is asked for, not silently ignored.
"""

from __future__ import annotations

import io

import pytest
from support import DISHWASHER, WASHER, profile_files

from hcpy.appliance.profile_xml import parse_profile
from hcpy.simulator import ManualClock, SimulatedAppliance, Simulator
from hcpy.simulator.console import HELP, Console

PSK = bytes(range(32))


@pytest.fixture
def two():
    dishwasher = Simulator(SimulatedAppliance(parse_profile(*profile_files(DISHWASHER)), clock=ManualClock()),
                           PSK, name="dishwasher").start()  # fmt: skip
    washer = Simulator(SimulatedAppliance(parse_profile(*profile_files(WASHER)), clock=ManualClock()),
                       PSK, bytes(16), name="washer").start()  # fmt: skip
    yield dishwasher, washer
    dishwasher.stop()
    washer.stop()


def test_help_state_and_commands_for_one_appliance_or_all(two):
    dishwasher, washer = two
    said: list[str] = []
    console = Console([dishwasher, washer], io.StringIO("\nhelp\npower off washer\nstate\n"), said.append)
    console._run()
    assert said[0] == HELP
    # "power off washer": the washer alone went to standby, and says so.
    assert said[1].startswith("washer: Standby, ")
    assert washer.app.member("BSH.Common.Setting.PowerState") == "Standby"
    assert dishwasher.app.member("BSH.Common.Setting.PowerState") == "On"
    # "state": one line per appliance, in order; the empty line said nothing.
    assert [line.split(":")[0] for line in said[2:]] == ["dishwasher", "washer"]
    assert said[2] == f"dishwasher: {dishwasher.app.summary()}" and said[3] == f"washer: {washer.app.summary()}"
    assert len(said) == 4


def test_the_console_ends_quietly_when_its_input_is_closed(two):
    stream = io.StringIO("state\n")
    stream.close()  # as stdin under systemd or docker can be
    said: list[str] = []
    console = Console(list(two), stream, said.append).start()
    console._thread.join(5)
    assert not console._thread.is_alive() and said == []


def test_a_fault_that_would_never_apply_is_refused(two):
    dishwasher, _ = two
    with pytest.raises(ValueError, match="a fault must apply at least once"):
        dishwasher.fail_next("/ro/values", code=400, times=0)
