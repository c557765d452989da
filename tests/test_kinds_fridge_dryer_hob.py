"""A fridge-freezer, a dryer and a hob in the simulator, over real sockets on both transports.

Their profiles are invented (hcpy/simulator/profiles/, README.md) from the
public API's key catalogue; these tests check that they parse cleanly and
that each appliance lives as its kind does: the fridge-freezer keeps its
setpoints within their limits, raises a door alarm when a door stays open
and ends a super mode by itself; the dryer runs a program with a drying
target to its end; the hob refuses a program start from afar.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time

import pytest
from support import bridged, simulated

from hcpy.appliance.model import Kind, ValueKind
from hcpy.appliance.profile_xml import parse_profile
from hcpy.errors import ApplianceError, ConnectionClosed
from hcpy.protocol.message import Action
from hcpy.protocol.session import Session
from hcpy.protocol.transport import Endpoint, Timing, Transport
from hcpy.simulator import ManualClock, SimulatedAppliance, Simulator
from hcpy.simulator.examples import EXAMPLES
from hcpy.simulator.kinds.fridge import DOOR_ALARM_SECONDS, SUPER_MODE_SECONDS

INVENTED = EXAMPLES
FRIDGE, DRYER, HOB = "BOSCH-SIMFRIDGE1-INVENTED", "SIEMENS-SIMDRYER1-INVENTED", "NEFF-SIMHOB1-INVENTED"
PSK = os.urandom(32)
IV = os.urandom(16)
FAST = Timing(connect=5, ping_interval=0.3, silence=1.5, tick=0.1)

FF = "Refrigeration.FridgeFreezer"
FRIDGE_SETPOINT, FREEZER_SETPOINT = f"{FF}.Setting.SetpointTemperatureRefrigerator", f"{FF}.Setting.SetpointTemperatureFreezer"
SUPER_FREEZER = f"{FF}.Setting.SuperModeFreezer"
FREEZER_DOOR, FREEZER_ALARM = "Refrigeration.Common.Status.Door.Freezer", f"{FF}.Event.DoorAlarmFreezer"
DRYING_TARGET, COTTON = "LaundryCare.Dryer.Option.DryingTarget", "LaundryCare.Dryer.Program.Cotton"
OPERATION, REMAINING = "BSH.Common.Status.OperationState", "BSH.Common.Option.RemainingProgramTime"
PROGRESS, FINISHED = "BSH.Common.Option.ProgramProgress", "BSH.Common.Event.ProgramFinished"


def load(stem: str):
    return parse_profile(
        (INVENTED / f"{stem}_DeviceDescription.xml").read_bytes(),
        (INVENTED / f"{stem}_FeatureMapping.xml").read_bytes(),
        stem,
    )


@pytest.fixture(params=["tls", "aes"])
def transport_kind(request):
    return request.param


class Recorder:
    """Keeps the values the session reported."""

    def __init__(self) -> None:
        self.values: list[dict] = []
        self.event = threading.Event()

    def on_values(self, values):
        self.values.extend(values)
        self.event.set()

    def on_description_changes(self, changes):
        pass

    def on_message(self, message):
        pass

    def mark(self) -> int:
        return len(self.values)

    def saw(self, uid, value, since=0, timeout=5.0) -> bool:
        """Whether the value arrived (after the first `since` values), waiting for it a while."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(v.get("uid") == uid and v.get("value") == value for v in self.values[since:]):
                return True
            self.event.wait(0.05)
            self.event.clear()
        return False


class Connected:
    """A simulated appliance on a ManualClock and hcpy's own session talking to it."""

    def __init__(self, stem: str, kind: str, **appliance):
        self.profile = load(stem)
        self.clock = ManualClock()
        self.app = SimulatedAppliance(self.profile, clock=self.clock, **appliance)
        self.sim = Simulator(self.app, PSK, IV if kind == "aes" else None)
        self.recorder = Recorder()
        self.kind = kind
        self.session: Session | None = None
        self.thread: threading.Thread | None = None

    def __enter__(self) -> Connected:
        self.sim.start()
        endpoint = Endpoint("127.0.0.1", PSK, IV if self.kind == "aes" else None, port=self.sim.port)
        self.session = Session(
            Transport(endpoint, FAST), device_id="0123456789abcdef", device_name="hcpy-test", listener=self.recorder
        )
        self.session.connect()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        assert self.session is not None
        try:
            self.session.run()
        except ConnectionClosed:
            pass

    def __exit__(self, *exc_info) -> None:
        assert self.session is not None and self.thread is not None
        self.session.close()
        self.thread.join(2)
        self.sim.stop()

    def uid(self, name: str) -> int:
        feature = self.profile.by_name(name)
        assert feature is not None, name
        return feature.uid

    def member(self, name: str, member: str) -> int:
        feature = self.profile.by_name(name)
        assert feature is not None and feature.enum is not None, name
        return next(v for v, m in feature.enum.members.items() if m == member)

    def post(self, resource: str, data: list[dict]):
        assert self.session is not None
        return self.session.request(Action.POST, resource, data)


# --- the profiles ---------------------------------------------------------------


@pytest.mark.parametrize(
    "stem, kind, programs",
    [(FRIDGE, "FridgeFreezer", 0), (DRYER, "Dryer", 5), (HOB, "Hob", 0)],
)
def test_profiles_parse_without_problems(stem, kind, programs):
    profile = load(stem)
    assert profile.problems == []
    assert profile.description.type == kind
    assert len(profile.programs) == programs
    # Every feature is named, none falls back to an "Unknown." name.
    assert not [f.name for f in profile.features.values() if f.name.startswith("Unknown.")]


def test_fridge_setpoints_carry_celsius_and_real_limits():
    profile = load(FRIDGE)
    for name, low, high in ((FRIDGE_SETPOINT, 2, 8), (FREEZER_SETPOINT, -24, -16)):
        feature = profile.by_name(name)
        assert feature is not None and feature.kind is Kind.SETTING
        assert feature.content_type == 0x07  # temperature in °C
        assert (int(feature.limits.min), int(feature.limits.max)) == (low, high)
        assert feature.limits.access.writable


def test_dryer_drying_target_members():
    profile = load(DRYER)
    target = profile.by_name(DRYING_TARGET)
    assert target is not None and target.value_kind is ValueKind.ENUM and target.enum is not None
    assert set(target.enum.members.values()) == {"IronDry", "CupboardDry", "CupboardDryPlus"}
    cotton = profile.by_name(COTTON)
    assert cotton is not None and target.uid in profile.programs[cotton.uid].options


# --- living as the kind does -------------------------------------------------------


def test_fridge_setpoint_in_range_is_taken_out_of_range_refused(transport_kind):
    with Connected(FRIDGE, transport_kind) as fridge:
        setpoint = fridge.uid(FRIDGE_SETPOINT)
        fridge.post("/ro/values", [{"uid": setpoint, "value": 3}])
        assert fridge.recorder.saw(setpoint, 3)
        assert fridge.app.value(FRIDGE_SETPOINT) == 3
        for wrong in (9, 1):
            with pytest.raises(ApplianceError) as refused:
                fridge.post("/ro/values", [{"uid": setpoint, "value": wrong}])
            assert refused.value.code == 400
        freezer = fridge.uid(FREEZER_SETPOINT)
        with pytest.raises(ApplianceError):
            fridge.post("/ro/values", [{"uid": freezer, "value": -30}])
        fridge.post("/ro/values", [{"uid": freezer, "value": -20}])
        assert fridge.recorder.saw(freezer, -20)
        assert fridge.app.value(FRIDGE_SETPOINT) == 3 and fridge.app.value(FREEZER_SETPOINT) == -20


def test_fridge_door_left_open_raises_the_alarm_and_closing_clears_it(transport_kind):
    with Connected(FRIDGE, transport_kind) as fridge:
        alarm = fridge.uid(FREEZER_ALARM)
        present, off = fridge.member(FREEZER_ALARM, "Present"), fridge.member(FREEZER_ALARM, "Off")
        fridge.sim.set_value(FREEZER_DOOR, "Open")
        fridge.sim.advance(0)  # the appliance notices the open door
        fridge.sim.advance(DOOR_ALARM_SECONDS - 1)
        assert fridge.recorder.saw(fridge.uid(FREEZER_DOOR), fridge.member(FREEZER_DOOR, "Open"))
        assert not fridge.recorder.saw(alarm, present, timeout=0.05)  # not yet
        fridge.sim.advance(1)
        assert fridge.recorder.saw(alarm, present)
        mark = fridge.recorder.mark()
        fridge.sim.set_value(FREEZER_DOOR, "Closed")
        fridge.sim.advance(1)
        assert fridge.recorder.saw(alarm, off, since=mark)


def test_fridge_doors_by_hand_raise_both_alarms():
    # What the simulator's console "door open" does: every compartment's door opens.
    with Connected(FRIDGE, "tls") as fridge:
        fridge.sim.set_door(False)
        assert fridge.app.member("Refrigeration.Common.Status.Door.Refrigerator") == "Open"
        assert fridge.app.member(FREEZER_DOOR) == "Open"
        fridge.sim.advance(0)
        fridge.sim.advance(DOOR_ALARM_SECONDS)
        for alarm in (FREEZER_ALARM, f"{FF}.Event.DoorAlarmRefrigerator"):
            assert fridge.recorder.saw(fridge.uid(alarm), fridge.member(alarm, "Present"))
        assert fridge.app.summary().startswith("On, refrigerator door Open, freezer door Open")
        fridge.sim.set_door(True)
        assert fridge.app.member(FREEZER_DOOR) == "Closed"


def test_fridge_super_mode_switches_on_and_ends_by_itself(transport_kind):
    with Connected(FRIDGE, transport_kind) as fridge:
        mode = fridge.uid(SUPER_FREEZER)
        fridge.post("/ro/values", [{"uid": mode, "value": True}])
        assert fridge.recorder.saw(mode, True)
        fridge.sim.advance(0)
        fridge.sim.advance(SUPER_MODE_SECONDS[SUPER_FREEZER] - 1)
        assert fridge.app.value(SUPER_FREEZER) is True
        mark = fridge.recorder.mark()
        fridge.sim.advance(1)
        assert fridge.recorder.saw(mode, False, since=mark)
        with pytest.raises(ApplianceError) as refused:
            fridge.post("/ro/values", [{"uid": mode, "value": "on"}])
        assert refused.value.code == 400


def test_dryer_runs_a_program_with_a_drying_target_to_its_end(transport_kind):
    with Connected(DRYER, transport_kind, remote_start=True) as dryer:
        cotton, target = dryer.uid(COTTON), dryer.uid(DRYING_TARGET)
        plus = dryer.member(DRYING_TARGET, "CupboardDryPlus")
        dryer.post("/ro/activeProgram", [{"program": cotton, "options": [{"uid": target, "value": plus}]}])
        run, finished = dryer.member(OPERATION, "Run"), dryer.member(OPERATION, "Finished")
        assert dryer.recorder.saw(dryer.uid(OPERATION), run)
        assert dryer.recorder.saw(target, plus)
        duration = dryer.app.value(REMAINING)
        assert duration > 0
        remaining = dryer.uid(REMAINING)
        mark = dryer.recorder.mark()
        dryer.sim.advance(duration / 2)
        assert dryer.recorder.saw(dryer.uid(PROGRESS), 50, since=mark)
        left = dryer.app.value(REMAINING)  # whole minutes, rounded up, on a program this long
        assert duration / 2 <= left < duration / 2 + 60 and left % 60 == 0
        assert dryer.recorder.saw(remaining, left, since=mark)
        mark = dryer.recorder.mark()
        dryer.sim.advance(duration / 2)
        assert dryer.recorder.saw(dryer.uid(OPERATION), finished, since=mark)
        assert dryer.recorder.saw(dryer.uid(PROGRESS), 100, since=mark)
        assert dryer.recorder.saw(dryer.uid(FINISHED), dryer.member(FINISHED, "Present"), since=mark)
        assert dryer.recorder.saw(remaining, 0, since=mark)


@pytest.mark.parametrize("target, seconds", [("IronDry", 8100), ("CupboardDryPlus", 12420)])  # 0.75 and 1.15 of 3 h
def test_dryer_drying_target_sets_how_long_the_program_takes(target, seconds):
    with Connected(DRYER, "tls", remote_start=True) as dryer:
        chosen = dryer.member(DRYING_TARGET, target)
        options = [{"uid": dryer.uid(DRYING_TARGET), "value": chosen}]
        dryer.post("/ro/activeProgram", [{"program": dryer.uid(COTTON), "options": options}])
        assert dryer.recorder.saw(dryer.uid(REMAINING), seconds)
        dryer.sim.advance(seconds - 60)
        assert dryer.app.member(OPERATION) == "Run"
        dryer.sim.advance(60)
        assert dryer.recorder.saw(dryer.uid(OPERATION), dryer.member(OPERATION, "Finished"))


def test_dryer_without_remote_start_refuses_a_start(transport_kind):
    with Connected(DRYER, transport_kind) as dryer:
        with pytest.raises(ApplianceError) as refused:
            dryer.post("/ro/activeProgram", [{"program": dryer.uid(COTTON)}])
        assert refused.value.code == 403  # ActiveProgram read-only until remote start is allowed
        assert dryer.app.member(OPERATION) == "Ready"


def test_hob_reports_status_and_refuses_a_remote_start(transport_kind):
    # Even with every other reason out of the way (on, "remote start" pressed), a hob says no.
    with Connected(HOB, transport_kind, remote_start=True) as hob:
        assert hob.app.member(OPERATION) == "Ready"
        assert hob.app.member("BSH.Common.Setting.PowerState") == "On"
        with pytest.raises(ApplianceError) as refused:
            hob.post("/ro/activeProgram", [{"program": 0x4501}])
        assert refused.value.code == 403
        # Its power is switched at the hob only.
        power = hob.uid("BSH.Common.Setting.PowerState")
        with pytest.raises(ApplianceError) as refused:
            hob.post("/ro/values", [{"uid": power, "value": hob.member("BSH.Common.Setting.PowerState", "Off")}])
        assert refused.value.code == 403
        # What it reports reaches the client.
        hob.sim.set_value(OPERATION, "Run")
        assert hob.recorder.saw(hob.uid(OPERATION), hob.member(OPERATION, "Run"))


# --- through hcpy's bridge and a real broker -----------------------------------------


def test_the_three_through_the_bridge(broker, subscriber, caplog):
    """hc2mqtt's bridge reads all three; a setpoint set over MQTT is taken or refused; the hob says no."""
    clock = ManualClock()
    fridge_sim, fridge = simulated(load(FRIDGE), "fridge", "tls", clock=clock)
    dryer_sim, dryer = simulated(load(DRYER), "dryer", "aes", clock=clock)
    hob_sim, hob = simulated(load(HOB), "hob", "tls", clock=clock)
    base = "homeconnect/"
    try:
        with bridged(broker.port, [(fridge_sim, fridge), (dryer_sim, dryer), (hob_sim, hob)], ha_discovery=True):
            for name in ("fridge", "dryer", "hob"):
                subscriber.wait(f"{base}{name}/LWT", "online")
            setpoint = "state/refrigeration_fridgefreezer_setting_setpointtemperaturerefrigerator"
            subscriber.wait(f"{base}fridge/{setpoint}", "4")
            # Home Assistant gets it as a number in °C with the appliance's limits.
            number = "homeassistant/number/hcpy/fridge_refrigeration_fridgefreezer_setting_setpointtemperaturerefrigerator/config"
            config = json.loads(subscriber.wait(number))
            assert (config["min"], config["max"], config["unit_of_measurement"]) == (2, 8, "°C"), config
            answer = subscriber.response(f"{base}fridge/set", json.dumps({"name": FRIDGE_SETPOINT, "value": 6}))
            assert answer["status"] == "ok", answer
            subscriber.wait(f"{base}fridge/{setpoint}", "6")
            assert fridge_sim.app.value(FRIDGE_SETPOINT) == 6
            answer = subscriber.response(f"{base}fridge/set", json.dumps({"name": FRIDGE_SETPOINT, "value": 12}))
            assert answer["status"] == "error", answer
            assert fridge_sim.app.value(FRIDGE_SETPOINT) == 6

            answer = subscriber.response(f"{base}hob/activeProgram", json.dumps({"program": "Cotton"}))
            assert answer["status"] == "error", answer

            answer = subscriber.response(f"{base}dryer/activeProgram", json.dumps({"program": "Cotton"}))
            assert answer["status"] == "ok", answer
            subscriber.wait(f"{base}dryer/state/bsh_common_status_operationstate", "Run")
            mark = subscriber.mark()
            dryer_sim.advance(3 * 3600)
            subscriber.wait(f"{base}dryer/state/bsh_common_status_operationstate", "Finished", since=mark)
            finished = subscriber.wait(f"{base}dryer/event/bsh_common_event_programfinished", since=mark)
            assert json.loads(finished) == {"event_type": "Present"}
        assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        for sim in (fridge_sim, dryer_sim, hob_sim):
            sim.stop()
