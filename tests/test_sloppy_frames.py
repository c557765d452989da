"""Sloppy appliances: frames of the shapes real ones send, through the real session over real sockets.

The frames are tests/fixtures/sloppy_frames.json. The simulator answers a
handshake request with one of them (`mangle_next`) or sends one of its own
accord (`send_raw`); hcpy's connection either stays online or says
truthfully why not, on both transports.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support import DISHWASHER, FAST, QUICK_RETRY, eventually, profile_files

from hcpy.appliance.connection import ApplianceConnection
from hcpy.appliance.profile_xml import parse_profile
from hcpy.appliance.state import ApplianceState
from hcpy.protocol.message import Action, Message
from hcpy.protocol.repair import close_brackets
from hcpy.protocol.transport import Endpoint
from hcpy.simulator import SimulatedAppliance, Simulator

FRAMES = json.loads((Path(__file__).parent / "fixtures" / "sloppy_frames.json").read_text())
PSK = os.urandom(32)
IV = os.urandom(16)
_PLACE = re.compile(r"\{\{([A-Za-z.]+)\}\}")


@pytest.fixture(scope="module")
def profile():
    return parse_profile(*profile_files(DISHWASHER))


@pytest.fixture(params=["tls", "aes"])
def kind(request):
    return request.param


def frame(profile, name: str, answered: Message | None = None, sid: int = 1) -> str:
    """The fixture frame ``name`` with uids and ids filled in."""
    ids = {"sID": str(answered.sID if answered else sid)}
    if answered is not None:
        ids.update(msgID=str(answered.msgID), resource=answered.resource, version=str(answered.version))

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        return ids[key] if key in ids else str(profile.by_name(key).uid)

    return _PLACE.sub(fill, FRAMES[name])


def answer_with(profile, name: str):
    return lambda reply: frame(profile, name, reply)


def simulator(profile, kind: str, services: str = "iz") -> Simulator:
    return Simulator(SimulatedAppliance(profile, services=services), PSK, IV if kind == "aes" else None)


def connection(profile, sim: Simulator, kind: str) -> ApplianceConnection:
    return ApplianceConnection(
        "dishwasher",
        Endpoint("127.0.0.1", PSK, IV if kind == "aes" else None, port=sim.port),
        ApplianceState(profile, "dishwasher"),
        device_id="00112233aabbccdd",
        timing=FAST,
        backoff=QUICK_RETRY,
        request_timeout=3,
    )


@contextmanager
def running(profile, sim: Simulator, kind: str) -> Iterator[ApplianceConnection]:
    """A started connection to ``sim``, stopped however the block ends."""
    conn = connection(profile, sim, kind)
    conn.start()
    try:
        yield conn
    finally:
        conn.stop()


def online_sid(conn: ApplianceConnection) -> int:
    """The session id of ``conn`` once it is online: what frames sent of the appliance's accord carry."""
    assert conn.wait_online(5)
    session = conn.session
    assert session is not None and session.sid is not None
    return session.sid


def lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records]


# --- the repair itself -------------------------------------------------------


@pytest.mark.parametrize(
    "text, repaired",
    [
        ('{"a":[1,2]', '{"a":[1,2]}'),
        ('{"a":[{"b":1}', '{"a":[{"b":1}]}'),
        ('{"a":"x]}"', '{"a":"x]}"}'),  # brackets in strings count for nothing
        ('{"a":"q\\"]"', '{"a":"q\\"]"}'),  # nor do escaped quotes end a string
        ('{"a":[1,2]}', None),  # nothing open
        ('{"a":[1,2}}', None),  # closed by the wrong kind
        ('{"a":"cut', None),  # ends in a string
        ('{"a":[1,', None),  # a value is missing too
        ('{"a":' + "[" * 10, None),  # far more than a bracket short
    ],
)
def test_close_brackets(text, repaired):
    assert close_brackets(text) == repaired


# --- handshake answers ---------------------------------------------------------


@pytest.mark.parametrize("shape", ["values_a_brace_short", "values_bracket_and_brace_short"])
def test_an_answer_brackets_short_is_repaired(profile, kind, shape, caplog):
    caplog.set_level(logging.INFO, logger="hcpy")
    with simulator(profile, kind) as sim:
        sim.mangle_next("/ro/allMandatoryValues", answer_with(profile, shape))
        with running(profile, sim, kind) as conn:
            assert conn.wait_online(5)
            state = conn.state
            assert state.value_of("BSH.Common.Status.DoorState") is not None
            remaining = profile.by_name("BSH.Common.Option.RemainingProgramTime").uid
            assert state.raw[remaining] == 13273.0 and type(state.raw[remaining]) is float
            tz = profile.by_name("BSH.Common.Setting.ApplianceTime").uid
            assert state.raw[tz] == {"tz": "Europe/Berlin", "tzName": "CET-1CEST,M3.5.0,M10.5.0/3"}
            repaired = [line for line in lines(caplog) if line.startswith("repaired")]
            assert len(repaired) == 1 and "/ro/allMandatoryValues" in repaired[0]
            assert conn.stats.connects == 1
            # The console's message log reads it (as repaired): the text as sent does not parse.
            answers = [
                e for e in conn.journal.entries() if e.resource == "/ro/allMandatoryValues" and e.direction == "in"
            ]
            assert len(answers) == 1 and answers[0].data
            assert sim.violations == []


@pytest.mark.parametrize("shape", ["values_bracket_lost_inside", "values_cut_in_a_string"])
def test_an_answer_that_cannot_be_repaired_is_said_once_and_the_handshake_retried(profile, kind, shape, caplog):
    caplog.set_level(logging.INFO, logger="hcpy")
    with simulator(profile, kind) as sim:
        sim.mangle_next("/ro/allMandatoryValues", answer_with(profile, shape), times=3)
        with running(profile, sim, kind) as conn:
            assert conn.wait_online(10)
            asked = [m for m in sim.received if m.resource == "/ro/allMandatoryValues"]
            assert len(asked) == 4  # three sloppy answers, then a good one
            said = lines(caplog)
            why = [line for line in said if "could not be read" in line]
            assert len(why) == 1, said  # one line for the same reason, however often
            assert "answered /ro/allMandatoryValues" in why[0] and "retrying" in why[0]
            assert "ending '" in why[0]  # an excerpt of what came
            assert not any("did not answer" in line for line in said)
            assert not any("ignored a message" in line for line in said)


def test_an_answer_that_never_mends_keeps_the_reason(profile, caplog):
    caplog.set_level(logging.INFO, logger="hcpy")
    with simulator(profile, "tls") as sim:
        sim.mangle_next("/ro/allMandatoryValues", answer_with(profile, "values_bracket_lost_inside"), times=1000)
        with running(profile, sim, "tls") as conn:
            eventually(lambda: len([m for m in sim.received if m.resource == "/ro/allMandatoryValues"]) >= 3,
                       what="three handshakes")  # fmt: skip
            assert not conn.online
            assert "could not be read" in conn.stats.reason
            assert not any("did not answer" in line for line in lines(caplog))


def test_answers_without_data_or_code_are_accepted(profile, kind):
    with simulator(profile, kind) as sim:
        sim.mangle_next("/ro/allDescriptionChanges", answer_with(profile, "answer_without_data_or_code"))
        with running(profile, sim, kind) as conn:
            assert conn.wait_online(5)
            session = conn.session
            assert session is not None
            power = profile.by_name("BSH.Common.Setting.PowerState").uid
            sim.mangle_next("/ro/values", answer_with(profile, "answer_without_data_or_code"))
            reply = session.request(Action.POST, "/ro/values", [{"uid": power, "value": 2}])
            assert reply.data is None and reply.code is None


# --- what the appliance reports of its own accord -------------------------------


def test_description_changes_for_lists_and_unknown_programs_and_object_values(profile, kind, caplog):
    caplog.set_level(logging.INFO, logger="hcpy")
    with simulator(profile, kind) as sim, running(profile, sim, kind) as conn:
        sid = online_sid(conn)
        sim.send_raw(frame(profile, "description_changes_lists_and_unknown_programs", sid=sid))
        sim.send_raw(frame(profile, "values_objects_and_floats", sid=sid))
        door = profile.by_name("BSH.Common.Status.DoorState").uid
        other = 0 if conn.state.raw.get(door) == 1 else 1
        sim.set_value(door, other)  # after both: when it arrives, they have been handled
        eventually(lambda: conn.state.raw.get(door) == other, what="the door's value")
        state = conn.state
        remaining = profile.by_name("BSH.Common.Option.RemainingProgramTime")
        # Scoped to a list, the change holds for the option wherever it is.
        assert state.limits[remaining.uid].max == 86400
        assert state.raw[remaining.uid] == 13273.0 and type(state.raw[remaining.uid]) is float
        tz = profile.by_name("BSH.Common.Setting.ApplianceTime").uid
        assert state.raw[tz] == {"tz": "America/New_York", "tzName": "EST5EDT,M3.2.0,M11.1.0"}
        error = profile.by_name("Dishcare.Dishwasher.Event.InternalError").uid
        assert state.raw[error]["length"] == 2
        intensive = profile.by_name("Dishcare.Dishwasher.Option.IntensivZone").uid
        assert state.raw[intensive] is True  # its value applied although its program is unknown
        said = lines(caplog)
        assert any("65000" in line for line in said)  # the unknown program is counted
        assert not any("could not be processed" in line for line in said)
        assert conn.online and conn.stats.connects == 1


def test_a_notification_a_brace_short_is_repaired(profile, kind, caplog):
    caplog.set_level(logging.INFO, logger="hcpy")
    with simulator(profile, kind) as sim, running(profile, sim, kind) as conn:
        sid = online_sid(conn)
        for _ in range(3):
            sim.send_raw(frame(profile, "notify_a_brace_short", sid=sid))
        forecast = profile.by_name("BSH.Common.Option.EnergyForecast").uid
        eventually(lambda: conn.state.raw.get(forecast) == 61, what="the repaired value")
        tz = profile.by_name("BSH.Common.Setting.ApplianceTime").uid
        assert conn.state.raw[tz] == {"tz": "Asia/Tokyo", "tzName": "JST-9"}
        door = profile.by_name("BSH.Common.Status.DoorState").uid
        other = 0 if conn.state.raw.get(door) == 1 else 1
        sim.set_value(door, other)  # after all three
        eventually(lambda: conn.state.raw.get(door) == other, what="the door's value")
        repaired = [r for r in caplog.records if r.getMessage().startswith("repaired")]
        assert len(repaired) == 1 and "/ro/values" in repaired[0].getMessage()  # once, not three times
        assert not any("ignored a message" in r.getMessage() for r in caplog.records)


# --- services -------------------------------------------------------------------


@pytest.mark.parametrize("services", ["ci-only", "mt"])
def test_handshake_with_only_ci_or_an_unknown_service(profile, kind, services):
    with simulator(profile, kind, services) as sim, running(profile, sim, kind) as conn:
        assert conn.wait_online(5)
        session = conn.session
        assert session is not None
        assert ("mt" in session.services) == (services == "mt")
        assert session.device_info.get("vib")
        resources = [m.resource for m in sim.received]
        if services == "ci-only":
            assert "/ci/info" in resources and "/iz/info" not in resources and "/ni/info" not in resources
        assert not any(r.startswith("/mt/") for r in resources)
        assert conn.state.value_of("BSH.Common.Status.DoorState") is not None
        assert sim.violations == []
