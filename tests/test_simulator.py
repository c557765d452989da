"""hcpy.simulator over real loopback sockets, with a client played by hand.

The client here is deliberately minimal (websocket-client plus, for AES, a
client-side FrameCodec): it checks what the simulator puts on the wire, not
how hcpy's own client copes with it.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import websocket
from support import COFFEE, DISHWASHER, WASHER, profile_files

from hcpy.appliance.model import (
    Access,
    Description,
    EnumType,
    Feature,
    Kind,
    Limits,
    Profile,
    Program,
    ProgramOption,
    ValueKind,
)
from hcpy.appliance.profile_xml import parse_profile
from hcpy.errors import FrameError, ProtocolError
from hcpy.protocol import tlspsk
from hcpy.protocol.frame import FrameCodec
from hcpy.protocol.message import Message
from hcpy.simulator import ManualClock, ScaledClock, SimulatedAppliance, Simulator
from hcpy.simulator.values import check_value, initial_value
from hcpy.simulator.wsserver import accept_key

OPERATION_NAME, ABORT_NAME = "BSH.Common.Status.OperationState", "BSH.Common.Command.AbortProgram"
PAUSE_NAME, RESUME_NAME = "BSH.Common.Command.PauseProgram", "BSH.Common.Command.ResumeProgram"
START_IN_NAME, REMAINING_NAME = "BSH.Common.Option.StartInRelative", "BSH.Common.Option.RemainingProgramTime"
PROGRESS_NAME, FINISHED_NAME = "BSH.Common.Option.ProgramProgress", "BSH.Common.Event.ProgramFinished"
OPERATION_MEMBERS = {0: "Inactive", 1: "Ready", 2: "DelayedStart", 3: "Run", 4: "Pause", 6: "Finished", 8: "Aborting"}
PSK = bytes(range(32))
IV = bytes(range(100, 116))
TIMEOUT = 5

# uids of the hand-made profile
DOOR, OPERATION, POWER, CHILD_LOCK, REMOTE = 527, 552, 539, 0x0214, 0x020B
BRIGHTNESS, NAME, ABORT, START_IN, TEMPERATURE = 0x3000, 0x3001, 512, 558, 0x3002
FINISHED, ACTIVE, SELECTED, ECO, QUICK, RINSE = 0x021C, 256, 257, 0x2004, 0x2007, 0x2008


def small_profile() -> Profile:
    rw, ro, wo = Access.READ_WRITE, Access.READ, Access.WRITE_ONLY
    door = EnumType(0x0201, {0: "Open", 1: "Closed"}, "BSH.Common.EnumType.DoorState")
    operation = EnumType(0x0203, {0: "Inactive", 1: "Ready", 3: "Run", 6: "Finished"}, "BSH.Common.EnumType.OperationState")
    power = EnumType(0x0204, {1: "Off", 2: "On"}, "BSH.Common.EnumType.PowerState")
    temperature = EnumType(0x3100, {30: "C30", 40: "C40", 60: "C60"}, "Test.EnumType.Temperature")
    cool = EnumType(0x3101, {30: "C30", 40: "C40"}, subset_of=0x3100)
    event = EnumType(0x0001, {0: "Off", 1: "Present", 2: "Confirmed"}, "BSH.Common.EnumType.EventPresentState")
    features = [
        Feature(DOOR, "BSH.Common.Status.DoorState", Kind.STATUS, Limits(ro), 0x03, 0x80, door, init_value=1),
        Feature(OPERATION, "BSH.Common.Status.OperationState", Kind.STATUS, Limits(ro), 0x03, 0x80, operation),
        Feature(REMOTE, "BSH.Common.Status.RemoteControlActive", Kind.STATUS, Limits(ro), 0x01, 0x00),
        Feature(POWER, "BSH.Common.Setting.PowerState", Kind.SETTING, Limits(rw), 0x03, 0x80, power, init_value="2"),
        Feature(CHILD_LOCK, "BSH.Common.Setting.ChildLock", Kind.SETTING, Limits(rw), 0x01, 0x00),
        Feature(BRIGHTNESS, "Test.Setting.Brightness", Kind.SETTING, Limits(rw, min=10, max=100, step=10), 0x11, 0x80),
        Feature(NAME, "Test.Setting.Name", Kind.SETTING, Limits(rw, max=5), 0x05, 0x8B),
        Feature(ABORT, "BSH.Common.Command.AbortProgram", Kind.COMMAND, Limits(wo), 0x01, 0x00),
        Feature(START_IN, "BSH.Common.Option.StartInRelative", Kind.OPTION, Limits(ro, min=0, max=86400, step=60), 0x10, 0x82),
        Feature(TEMPERATURE, "Test.Option.Temperature", Kind.OPTION, Limits(rw, default="40"), 0x03, 0x80, temperature),
        Feature(FINISHED, "BSH.Common.Event.ProgramFinished", Kind.EVENT, Limits(ro), 0x03, 0x80, event),
        Feature(ACTIVE, "BSH.Common.Root.ActiveProgram", Kind.ACTIVE_PROGRAM, Limits(rw)),
        Feature(SELECTED, "BSH.Common.Root.SelectedProgram", Kind.SELECTED_PROGRAM, Limits(rw)),
        Feature(ECO, "Test.Program.Eco50", Kind.PROGRAM),
        Feature(QUICK, "Test.Program.Quick", Kind.PROGRAM),
        Feature(RINSE, "Test.Program.PreRinse", Kind.PROGRAM),
    ]
    programs = [
        Program(
            ECO,
            "Test.Program.Eco50",
            options={
                START_IN: ProgramOption(START_IN, Limits(rw, min=0, max=3600, step=60)),
                TEMPERATURE: ProgramOption(TEMPERATURE, Limits(rw), enum=cool),
            },
        ),
        Program(QUICK, "Test.Program.Quick", options={START_IN: ProgramOption(START_IN, Limits(rw, max=600))}),
        Program(RINSE, "Test.Program.PreRinse", execution="selectOnly"),
    ]
    return Profile(
        Description("Dishwasher", "TESTBRAND", "TEST123", "1", "0"),
        {f.uid: f for f in features},
        {p.uid: p for p in programs},
        {e.enid: e for e in (door, operation, power, temperature, cool, event)},
    )


# --- a minimal client, played by hand ------------------------------------


_clients: list[Client] = []


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    while _clients:
        _clients.pop().ws.shutdown()


def connect_refused(sim: Simulator, url: str | None = None) -> websocket.WebSocketBadStatusException:
    """Connect expecting the upgrade to be refused; return websocket-client's exception."""
    sslopt = None if sim.transport == "aes" else {"context": tlspsk.client_context(PSK)}
    ws = websocket.WebSocket(sslopt=sslopt)
    try:
        with pytest.raises(websocket.WebSocketBadStatusException) as caught:
            ws.connect(url or sim.url, timeout=TIMEOUT)
    finally:
        ws.shutdown()
    return caught.value


class Client:
    """Speaks to the simulator the way a client must, and no more."""

    def __init__(self, sim: Simulator):
        self.sim = sim
        self.codec = FrameCodec(PSK, IV) if sim.transport == "aes" else None
        sslopt = None if self.codec else {"context": tlspsk.client_context(PSK)}
        self.ws = websocket.create_connection(sim.url, sslopt=sslopt, timeout=TIMEOUT, suppress_origin=True)
        _clients.append(self)
        self.sid = 0
        self.next_id = 0
        self.versions: dict[str, int] = {}

    def send_text(self, text: str) -> None:
        if self.codec:
            self.ws.send_binary(self.codec.encode(text))
        else:
            self.ws.send(text)

    def send(self, obj: dict) -> None:
        self.send_text(json.dumps(obj))

    def recv_text(self) -> str:
        opcode, payload = self.ws.recv_data()
        if self.codec:
            assert opcode == websocket.ABNF.OPCODE_BINARY
            return self.codec.decode(payload)
        assert opcode == websocket.ABNF.OPCODE_TEXT
        return payload.decode("utf-8")

    def recv(self) -> dict:
        return json.loads(self.recv_text())

    def greet(self, device_type: object = None) -> dict:
        """Take /ei/initialValues and answer it as PROTOCOL.md §3 says (or with ``device_type``)."""
        first = self.recv()
        assert first["action"] == "POST" and first["resource"] == "/ei/initialValues"
        self.sid = first["sID"]
        self.next_id = first["data"][0]["edMsgID"]
        if device_type is None:
            device_type = 2 if first["version"] == 1 else "Application"
        self.send(
            {
                "sID": self.sid,
                "msgID": first["msgID"],
                "resource": first["resource"],
                "version": first["version"],
                "action": "RESPONSE",
                "data": [{"deviceType": device_type, "deviceName": "test", "deviceID": "test-client"}],
            }
        )
        return first

    def message(self, resource: str, action: str = "GET", data: list | None = None, **override) -> dict:
        service = resource.strip("/").split("/")[0]
        msg = {
            "sID": self.sid,
            "msgID": self.next_id,
            "resource": resource,
            "version": 1 if resource == "/ci/services" else self.versions.get(service, 1),
            "action": action,
        }
        if data is not None:
            msg["data"] = data
        msg.update(override)
        self.next_id = msg["msgID"] + 1
        return msg

    def request(self, resource: str, action: str = "GET", data: list | None = None, **override) -> dict:
        msg = self.message(resource, action, data, **override)
        self.send(msg)
        reply = self.recv()
        assert reply["action"] == "RESPONSE" and reply["msgID"] == msg["msgID"], reply
        assert (reply["sID"], reply["resource"], reply["version"]) == (msg["sID"], resource, msg["version"])
        return reply

    def notify(self, resource: str) -> None:
        self.send(self.message(resource, "NOTIFY"))

    def setup(self) -> None:
        """Steps 1–5 of the handshake."""
        self.greet()
        services = self.request("/ci/services")["data"]
        self.versions = {s["service"]: s["version"] for s in services}
        self.notify("/ei/deviceReady")

    def close(self) -> None:
        self.ws.close(timeout=1)


@pytest.fixture(params=["tls", "aes"])
def transport(request):
    return request.param


@pytest.fixture
def sim(transport):
    with Simulator(SimulatedAppliance(small_profile()), PSK, IV if transport == "aes" else None) as s:
        yield s


@pytest.fixture
def client(sim):
    c = Client(sim)
    c.setup()
    return c


def values_of(reply: dict) -> dict[int, object]:
    return {d["uid"]: d["value"] for d in reply["data"]}


# --- pure value logic ----------------------------------------------------------


def test_value_checks_follow_type_and_limits():
    number, enum = ValueKind.NUMBER, ValueKind.ENUM
    half_steps = Limits(Access.READ_WRITE, min=0.5, max=3, step=0.5)
    assert check_value(number, 2.5, half_steps, None) is None
    assert "step size 0.5" in check_value(number, 2.25, half_steps, None)
    assert "minimum 0.5" in check_value(number, 0, half_steps, None)
    assert "expects a number" in check_value(number, True, half_steps, None)
    members = EnumType(1, {0: "Off", 2: "On"})
    assert check_value(enum, 2, Limits(), members) is None
    assert "no enumeration value 1" in check_value(enum, 1, Limits(), members)
    assert "maximum 1" in check_value(enum, 2, Limits(max=1), members)
    assert "length 4 is above the maximum 3" in check_value(ValueKind.STRING, "four", Limits(max=3), None)
    assert check_value(ValueKind.ANY, "2024-01-01T00:00", Limits(), None) is None


def test_initial_values_take_xml_text_and_limits():
    def feature(**kw) -> Feature:
        return Feature(1, "Test.Status.X", Kind.STATUS, **kw)

    assert initial_value(feature(content_type=0x01, init_value="true"), Limits()) is True
    assert initial_value(feature(content_type=0x02, data_type=0x82), Limits(min="30")) == 30
    assert initial_value(feature(content_type=0x04, data_type=0x88), Limits(default="1.5")) == 1.5
    assert initial_value(feature(content_type=0x05, data_type=0x8B), Limits(min=1)) == ""
    assert initial_value(feature(enum=EnumType(2, {5: "A", 1: "B"})), Limits()) == 5
    assert Feature(2, "Test.Root.ActiveProgram", Kind.ACTIVE_PROGRAM).value_kind is ValueKind.INTEGER


# --- websocket basics -------------------------------------------------------


def test_accept_key_matches_rfc6455_example():
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_binds_a_free_loopback_port_and_names_its_url(sim):
    assert sim.port > 0
    scheme = "ws" if sim.transport == "aes" else "wss"
    assert sim.url == f"{scheme}://127.0.0.1:{sim.port}/homeconnect"


def test_ping_is_answered_with_pong_and_fragments_are_joined(sim):
    c = Client(sim)
    c.greet()
    c.ws.ping(b"are you there")
    opcode, payload = c.ws.recv_data(control_frame=True)
    assert (opcode, payload) == (websocket.ABNF.OPCODE_PONG, b"are you there")
    # The /ci/services request split over three frames.
    raw = c.codec.encode(json.dumps(c.message("/ci/services"))) if c.codec else json.dumps(c.message("/ci/services")).encode()
    first_op = websocket.ABNF.OPCODE_BINARY if c.codec else websocket.ABNF.OPCODE_TEXT
    third = len(raw) // 3
    c.ws.send_frame(websocket.ABNF(0, 0, 0, 0, first_op, 1, raw[:third]))
    c.ws.ping(b"between fragments")
    c.ws.send_frame(websocket.ABNF(0, 0, 0, 0, websocket.ABNF.OPCODE_CONT, 1, raw[third : 2 * third]))
    c.ws.send_frame(websocket.ABNF(1, 0, 0, 0, websocket.ABNF.OPCODE_CONT, 1, raw[2 * third :]))
    opcode, payload = c.ws.recv_data(control_frame=True)
    assert (opcode, payload) == (websocket.ABNF.OPCODE_PONG, b"between fragments")
    reply = c.recv()
    assert reply["resource"] == "/ci/services" and reply["data"][0] == {"service": "ci", "version": 3}
    c.close()


def test_client_close_is_answered_and_the_session_ends(sim):
    c = Client(sim)
    c.greet()
    assert sim.wait_connected(TIMEOUT)
    c.ws.send_close(websocket.STATUS_NORMAL)
    opcode, payload = c.ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE and struct.unpack("!H", payload[:2])[0] == websocket.STATUS_NORMAL
    c.ws.shutdown()
    assert sim.wait_disconnected(TIMEOUT) and sim.connection_count == 0


def test_unmasked_client_frame_is_a_protocol_error(sim):
    c = Client(sim)
    c.greet()
    # An unmasked text frame: servers must refuse those (RFC 6455 §5.1).
    c.ws.sock.sendall(b"\x81\x05hello")
    opcode, payload = c.ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE and struct.unpack("!H", payload[:2])[0] == 1002


def test_other_paths_get_404(sim):
    assert connect_refused(sim, sim.url.replace("/homeconnect", "/elsewhere")).status_code == 404


def test_tls_with_the_wrong_key_fails():
    with Simulator(SimulatedAppliance(small_profile()), PSK) as s:
        ws = websocket.WebSocket(sslopt={"context": tlspsk.client_context(bytes(32))})
        with pytest.raises((ssl.SSLError, ConnectionError)):
            ws.connect(s.url, timeout=TIMEOUT)
        ws.shutdown()
        assert s.accepted == 0


# --- handshake (PROTOCOL.md §3) ----------------------------------------------


def test_iz_handshake_answers_every_step(sim):
    c = Client(sim)
    first = c.greet()
    assert first["version"] == 2 and isinstance(first["data"][0]["edMsgID"], int)
    services = c.request("/ci/services")["data"]
    assert services == [
        {"service": "ci", "version": 3},
        {"service": "ei", "version": 2},
        {"service": "iz", "version": 1},
        {"service": "ni", "version": 1},
        {"service": "ro", "version": 1},
    ]
    c.versions = {s["service"]: s["version"] for s in services}
    info = c.request("/iz/info")["data"][0]
    assert {"deviceID", "eNumber", "brand", "vib", "mac", "haVersion", "swVersion", "hwVersion", "deviceType",
            "serialNumber", "customerIndex", "fdString", "shipSki"} <= set(info)
    assert (info["brand"], info["vib"], info["deviceType"]) == ("TESTBRAND", "TEST123", "Dishwasher")
    assert c.request("/ci/authentication", data=[{"nonce": "n" * 43}])["code"] == 404

    assert c.request("/ni/info")["code"] == 403  # before deviceReady
    c.notify("/ei/deviceReady")
    network = c.request("/ni/info")["data"][0]
    assert network["ssid"] and set(network["ipV4"]) == {"ipAddress", "prefixSize", "gateway", "dnsServer"}

    values = values_of(c.request("/ro/allMandatoryValues"))
    # initValue, default, first member, False, min or 0, "" – and no command;
    # found switched on, door closed, ready.
    assert values[DOOR] == 1 and values[POWER] == 2 and values[TEMPERATURE] == 40
    assert values[OPERATION] == 1 and values[CHILD_LOCK] is False and values[BRIGHTNESS] == 10
    assert values[NAME] == "" and values[START_IN] == 0 and values[FINISHED] == 0 and values[ACTIVE] == 0
    assert ABORT not in values

    changes = c.request("/ro/allDescriptionChanges")["data"]
    by_uid = {(d["uid"], d.get("parentUID")): d for d in changes}
    assert by_uid[(POWER, None)]["access"] == "READWRITE" and by_uid[(DOOR, None)]["access"] == "READ"
    assert by_uid[(ABORT, None)]["access"] == "WRITEONLY"
    assert by_uid[(BRIGHTNESS, None)] == {"uid": BRIGHTNESS, "access": "READWRITE", "available": True,
                                               "min": 10, "max": 100, "stepSize": 10}
    assert by_uid[(START_IN, ECO)] == {"uid": START_IN, "parentUID": ECO, "access": "READWRITE",
                                       "available": True, "min": 0, "max": 3600, "stepSize": 60}

    assert c.request("/ro/values")["code"] == 400  # appliances refuse a plain read
    assert c.request("/ro/nothingHere")["code"] == 404
    assert c.request("/zz/info")["code"] == 404
    assert sim.violations == []
    assert sim.client_answers == [{"deviceType": "Application", "deviceName": "test", "deviceID": "test-client"}]
    c.close()


def test_legacy_preset_wants_authentication_and_ci_info():
    app = SimulatedAppliance(small_profile(), services="legacy", initial_values_version=1, info={"vib": "OLD1"})
    with Simulator(app, PSK, IV) as s:
        c = Client(s)
        first = c.greet()
        assert first["version"] == 1
        services = c.request("/ci/services")["data"]
        assert {"service": "ci", "version": 2} in services and "iz" not in {x["service"] for x in services}
        c.versions = {x["service"]: x["version"] for x in services}
        assert c.request("/iz/info")["code"] == 404
        auth = c.request("/ci/authentication", data=[{"nonce": "A" * 43}])
        assert len(auth["data"][0]["response"]) == 43
        assert c.request("/ci/authentication", data=[{}])["code"] == 400
        info = c.request("/ci/info")["data"][0]
        assert info["vib"] == "OLD1" and info["brand"] == "TESTBRAND"
        assert s.violations == []
        assert s.client_answers[0]["deviceType"] == 2
        c.close()


def test_wrong_device_type_is_recorded_not_refused():
    with Simulator(SimulatedAppliance(small_profile(), initial_values_version=1), PSK) as s:
        c = Client(s)
        c.greet(device_type="Application")  # version 1 wants 2
        assert c.request("/ci/services")["data"]
        assert any("deviceType 'Application', expected 2" in v for v in s.violations)
        c.close()


def test_id_and_version_slips_are_recorded_but_answered(client, sim):
    assert client.request("/iz/info", sID=client.sid + 1)["data"]
    client.next_id += 5
    assert client.request("/iz/info")["data"]
    assert client.request("/ro/allMandatoryValues", version=2)["data"]
    assert sim.violations == [
        f"GET /iz/info carried sID {client.sid + 1}, the session's is {client.sid}",
        f"GET /iz/info carried msgID {client.next_id - 2}, expected {client.next_id - 7}",
        "GET /ro/allMandatoryValues carried version 2, expected 1",
    ]


def test_received_records_every_client_message(client, sim):
    ready = sim.wait_received("/ei/deviceReady", "NOTIFY", TIMEOUT)  # a NOTIFY has no answer to wait for
    assert ready is not None and ready.sID == client.sid
    resources = [(m.action.value, m.resource) for m in sim.received]
    assert resources == [("RESPONSE", "/ei/initialValues"), ("GET", "/ci/services"), ("NOTIFY", "/ei/deviceReady")]
    assert all(isinstance(m, Message) for m in sim.received)


# --- writing values (PROTOCOL.md §4) ------------------------------------------


def test_post_values_answers_then_notifies_every_client(client, sim):
    other = Client(sim)
    other.setup()
    reply = client.request("/ro/values", "POST", [{"uid": POWER, "value": 1}, {"uid": CHILD_LOCK, "value": True}])
    assert "data" not in reply and "code" not in reply
    for c in (client, other):
        note = c.recv()
        assert (note["action"], note["resource"], note["sID"]) == ("NOTIFY", "/ro/values", c.sid)
        # Switching off makes the appliance inactive too.
        assert note["data"] == [{"uid": POWER, "value": 1}, {"uid": OPERATION, "value": 0}, {"uid": CHILD_LOCK, "value": True}]
    assert values_of(client.request("/ro/allMandatoryValues"))[POWER] == 1
    other.close()


def test_appliance_messages_count_up_from_their_own_msgid(client, sim):
    sim.set_value(DOOR, 0)
    sim.set_value("BSH.Common.Status.DoorState", "Closed")
    first, second = client.recv(), client.recv()
    assert second["msgID"] == first["msgID"] + 1
    assert (first["data"], second["data"]) == ([{"uid": DOOR, "value": 0}], [{"uid": DOOR, "value": 1}])


@pytest.mark.parametrize(
    "items, code",
    [
        ([{"uid": 0x7777, "value": 1}], 404),  # unknown uid
        ([{"uid": DOOR, "value": 0}], 403),  # read-only status
        ([{"uid": POWER, "value": "On"}], 400),  # enum members travel as integers
        ([{"uid": POWER, "value": 3}], 400),  # no such member
        ([{"uid": CHILD_LOCK, "value": 1}], 400),  # booleans are true/false
        ([{"uid": BRIGHTNESS, "value": 110}], 400),  # above max
        ([{"uid": BRIGHTNESS, "value": 5}], 400),  # below min
        ([{"uid": BRIGHTNESS, "value": 25}], 400),  # off the step
        ([{"uid": NAME, "value": "toolong"}], 400),  # string longer than max
        ([{"uid": START_IN, "value": 60}], 403),  # read-only while no program is selected
        ([{"uid": POWER}], 400),  # no value
        ([], 400),
        ([{"uid": POWER, "value": 1}, {"uid": BRIGHTNESS, "value": 25}], 400),  # all or nothing
    ],
)
def test_post_values_refusals_change_nothing(client, sim, items, code):
    assert client.request("/ro/values", "POST", items)["code"] == code
    # Nothing was notified in between: the next message is this answer.
    values = values_of(client.request("/ro/allMandatoryValues"))
    assert values[POWER] == 2 and values[BRIGHTNESS] == 10 and values[DOOR] == 1
    assert sim.received[-2].resource == "/ro/values"  # it did reach the appliance


def test_unavailable_setting_is_forbidden_until_available_again(client, sim):
    sim.set_description(BRIGHTNESS, available=False)
    change = client.recv()
    assert (change["action"], change["resource"]) == ("NOTIFY", "/ro/descriptionChange")
    assert change["data"] == [{"uid": BRIGHTNESS, "available": False}]
    assert client.request("/ro/values", "POST", [{"uid": BRIGHTNESS, "value": 20}])["code"] == 403
    sim.set_description(BRIGHTNESS, available=True, access="READ")
    assert client.recv()["data"] == [{"uid": BRIGHTNESS, "access": "READ", "available": True}]
    assert client.request("/ro/values", "POST", [{"uid": BRIGHTNESS, "value": 20}])["code"] == 403
    sim.set_description("Test.Setting.Brightness", access=Access.READ_WRITE, max=20, value=20)
    assert client.recv()["data"] == [{"uid": BRIGHTNESS, "access": "READWRITE", "max": 20, "value": 20}]
    assert client.request("/ro/values", "POST", [{"uid": BRIGHTNESS, "value": 30}])["code"] == 400


def test_command_is_accepted_but_holds_no_value(client):
    assert "code" not in client.request("/ro/values", "POST", [{"uid": ABORT, "value": True}])
    values = values_of(client.request("/ro/allMandatoryValues"))  # no NOTIFY came before it
    assert ABORT not in values


# --- programs ---------------------------------------------------------------


def test_select_program_with_options(client):
    reply = client.request(
        "/ro/selectedProgram", "POST",
        [{"program": ECO, "options": [{"uid": START_IN, "value": 1800}, {"uid": TEMPERATURE, "value": 30}]}],
    )
    assert "code" not in reply
    # Its options' access and limits under Eco50 first, then the values.
    limits = client.recv()
    assert limits["resource"] == "/ro/descriptionChange"
    assert {d["uid"]: (d["parentUID"], d["access"], d.get("max")) for d in limits["data"]} == {
        START_IN: (ECO, "READWRITE", 3600),
        TEMPERATURE: (ECO, "READWRITE", None),
    }
    note = client.recv()
    assert note["resource"] == "/ro/values"
    # The defaults it brings (Temperature 40), then the options given.
    assert note["data"] == [
        {"uid": SELECTED, "value": ECO},
        {"uid": START_IN, "value": 1800},
        {"uid": TEMPERATURE, "value": 30},
    ]
    # With Eco50 selected, its own limits apply to the option: writable, max 3600.
    assert "code" not in client.request("/ro/values", "POST", [{"uid": START_IN, "value": 600}])
    assert values_of(client.recv()) == {START_IN: 600}
    assert client.request("/ro/values", "POST", [{"uid": START_IN, "value": 7200}])["code"] == 400


def test_start_program_runs_it(client):
    assert "code" not in client.request("/ro/activeProgram", "POST", [{"program": QUICK, "options": []}])
    assert client.recv()["resource"] == "/ro/descriptionChange"  # Quick's option limits; AbortProgram stays writable
    assert values_of(client.recv()) == {SELECTED: QUICK, ACTIVE: QUICK, OPERATION: 3}


@pytest.mark.parametrize(
    "resource, entry, code",
    [
        ("/ro/activeProgram", {"program": 0x2999}, 404),  # unknown program
        ("/ro/selectedProgram", {"program": QUICK, "options": [{"uid": TEMPERATURE, "value": 40}]}, 400),  # not its option
        ("/ro/activeProgram", {"program": ECO, "options": [{"uid": START_IN, "value": 7200}]}, 400),  # above Eco's max
        ("/ro/activeProgram", {"program": QUICK, "options": [{"uid": START_IN, "value": 900}]}, 400),  # above Quick's max
        ("/ro/activeProgram", {"program": ECO, "options": [{"uid": TEMPERATURE, "value": 60}]}, 400),  # not in Eco's subset
        ("/ro/activeProgram", {"program": ECO, "options": [{"uid": START_IN, "value": 90}]}, 400),  # off Eco's step
        ("/ro/activeProgram", {"program": RINSE}, 403),  # selectOnly
        ("/ro/selectedProgram", {"options": []}, 400),  # no program
    ],
)
def test_program_refusals(client, resource, entry, code):
    assert client.request(resource, "POST", [entry])["code"] == code
    values = values_of(client.request("/ro/allMandatoryValues"))
    assert values[ACTIVE] == 0 and values[SELECTED] == 0 and values[OPERATION] == 1  # still Ready


def test_program_refused_when_remote_start_is_not_allowed(client, sim):
    sim.set_description("BSH.Common.Root.ActiveProgram", access="read")
    assert client.recv()["data"] == [{"uid": ACTIVE, "access": "READ"}]
    assert client.request("/ro/activeProgram", "POST", [{"program": QUICK}])["code"] == 403
    sim.set_description(START_IN, parent_uid=ECO, max=120)
    assert client.recv()["data"] == [{"uid": START_IN, "parentUID": ECO, "max": 120}]
    options = [{"uid": START_IN, "value": 180}]
    assert client.request("/ro/selectedProgram", "POST", [{"program": ECO, "options": options}])["code"] == 400


def real(stem: str, remote_start: bool = True) -> SimulatedAppliance:
    """A simulated appliance of a real fixture profile on a clock the test turns."""

    return SimulatedAppliance(parse_profile(*profile_files(stem)), clock=ManualClock(), remote_start=remote_start)


def uid_of(app: SimulatedAppliance, name: str) -> int:
    return app.feature(name).uid


def member(app: SimulatedAppliance, name: str) -> str:
    feature = app.feature(name)
    return feature.enum.members[app.value(name)]


def test_real_dishwasher_profile():

    profile = parse_profile(*profile_files(DISHWASHER))
    with Simulator(SimulatedAppliance(profile, remote_start=True), PSK) as s:
        c = Client(s)
        c.setup()
        assert c.request("/iz/info")["data"][0]["vib"] == "SN658X06TE"
        values = values_of(c.request("/ro/allMandatoryValues"))
        assert values[0x020F] == 1 and values[0x1406] is False  # DoorState Closed; IntensivZone default false
        assert 0x0200 not in values  # AbortProgram is a command
        # AbortProgram has access "none" in this profile until a program runs.
        assert c.request("/ro/values", "POST", [{"uid": 0x0200, "value": True}])["code"] == 403
        eco, intensiv_zone = 0x2004, 0x1406
        options = [{"uid": intensiv_zone, "value": True}, {"uid": 558, "value": 3600}]
        assert "code" not in c.request("/ro/activeProgram", "POST", [{"program": eco, "options": options}])
        descriptions = {d["uid"]: d for d in c.recv()["data"]}
        assert descriptions[0x0200]["access"] == "WRITEONLY"  # AbortProgram now
        assert descriptions[558]["parentUID"] == eco and descriptions[558]["access"] == "READWRITE"
        values = values_of(c.recv())
        assert values[0x0100] == eco and values[0x0101] == eco and values[intensiv_zone] is True
        assert values[0x0228] == 2 and values[558] == 3600  # DelayedStart, an hour to go
        assert "code" not in c.request("/ro/values", "POST", [{"uid": 0x0200, "value": True}])
        assert s.violations == []
        c.close()


def test_a_dishwasher_program_from_delayed_start_to_finished():
    app = real(DISHWASHER)
    start_in, remaining, progress = (uid_of(app, n) for n in (START_IN_NAME, REMAINING_NAME, PROGRESS_NAME))
    eco = uid_of(app, "Dishcare.Dishwasher.Program.Eco50")
    result = app.start_program("/ro/activeProgram", [{"program": eco, "options": [{"uid": start_in, "value": 3600}]}])
    assert result.ok, result.reason
    assert member(app, OPERATION_NAME) == "DelayedStart" and app.value(start_in) == 3600
    assert app.value(remaining) == int(3.75 * 3600)  # the program's own time, while it waits
    app.clock.advance(1800)
    changes = app.advance()
    assert {"uid": start_in, "value": 1800} in changes.values
    app.clock.advance(1800)
    app.advance()
    assert member(app, OPERATION_NAME) == "Run" and app.value(progress) == 0
    assert member(app, "Dishcare.Dishwasher.Status.ProgramPhase") == "PreRinse"
    # Commands a running program offers; the washer-only ones stay as they were.
    assert app._limits[uid_of(app, ABORT_NAME)].access is Access.WRITE_ONLY
    app.clock.advance(6780)  # of 13,500 s: past half way, so the third of four phases
    app.advance()
    assert member(app, "Dishcare.Dishwasher.Status.ProgramPhase") == "FinalRinse"
    assert app.value(progress) == 50 and app.value(remaining) == 13500 - 6780
    app.clock.advance(3.75 * 3600)
    changes = app.advance()
    assert member(app, OPERATION_NAME) == "Finished"
    assert app.value(remaining) == 0 and app.value(progress) == 100 and app.value(256) == 0
    assert {"uid": uid_of(app, FINISHED_NAME), "value": 1} in changes.values  # ProgramFinished Present
    assert app._limits[uid_of(app, ABORT_NAME)].access is Access.NONE
    # The user empties it: opening the door makes it ready again.
    app.set_door(closed=False)
    assert member(app, OPERATION_NAME) == "Ready"


@pytest.mark.parametrize(
    "prepare, code, reason",
    [
        (lambda app: app.allow_remote_start(False), 538, "remote start"),
        (lambda app: app.set_door(closed=False), 540, "door"),
        (lambda app: app.set_power(False), 540, "switched on"),
        (lambda app: app.start_program("/ro/activeProgram", [{"program": 0x2007}]), 541, "under way"),
    ],
)
def test_a_start_is_refused_as_an_appliance_refuses_it(prepare, code, reason):
    app = real(DISHWASHER)
    prepare(app)
    result = app.start_program("/ro/activeProgram", [{"program": uid_of(app, "Dishcare.Dishwasher.Program.Eco50")}])
    assert (result.code, reason in result.reason) == (code, True)


def test_abort_winds_down_to_ready_with_its_event():
    app = real(DISHWASHER)
    quick = uid_of(app, "Dishcare.Dishwasher.Program.Quick45")
    assert app.start_program("/ro/activeProgram", [{"program": quick}]).ok
    app.clock.advance(60)
    app.advance()
    result = app.write_values([{"uid": uid_of(app, ABORT_NAME), "value": True}])
    assert result.ok
    assert member(app, OPERATION_NAME) == "Aborting" and app.value(256) == 0
    assert {"uid": uid_of(app, "BSH.Common.Event.ProgramAborted"), "value": 1} in result.changes.values
    app.clock.advance(10)
    app.advance()
    assert member(app, OPERATION_NAME) == "Ready"
    assert app._limits[uid_of(app, ABORT_NAME)].access is Access.NONE


def test_a_washer_pauses_resumes_and_finishes_when_asked_to_finish():
    app = real(WASHER)
    cotton = uid_of(app, "LaundryCare.Washer.Program.Cotton")
    finish_in, duration = uid_of(app, "BSH.Common.Option.FinishInRelative"), uid_of(app, "BSH.Common.Option.Duration")
    options = [{"uid": duration, "value": 3600}, {"uid": finish_in, "value": 5400}]
    result = app.start_program("/ro/activeProgram", [{"program": cotton, "options": options}])
    assert result.ok, result.reason
    assert member(app, OPERATION_NAME) == "DelayedStart"  # done in 90 minutes, takes 60: half an hour to wait
    app.clock.advance(1800 + 600)
    app.advance()
    assert member(app, OPERATION_NAME) == "Run" and app._limits[uid_of(app, PAUSE_NAME)].access is Access.WRITE_ONLY
    assert app.write_values([{"uid": uid_of(app, PAUSE_NAME), "value": True}]).ok
    assert member(app, OPERATION_NAME) == "Pause" and app._limits[uid_of(app, RESUME_NAME)].access is Access.WRITE_ONLY
    left = app.value(uid_of(app, REMAINING_NAME))
    app.clock.advance(7200)
    app.advance()
    assert app.value(uid_of(app, REMAINING_NAME)) == left  # a paused program's clock stands still
    assert app.write_values([{"uid": uid_of(app, RESUME_NAME), "value": True}]).ok
    app.clock.advance(3000)
    app.advance()
    assert member(app, OPERATION_NAME) == "Finished"


def test_a_coffee_machine_brews_and_counts_the_beverage():
    app = real(COFFEE)
    espresso = uid_of(app, "ConsumerProducts.CoffeeMaker.Program.Beverage.Espresso")
    counter = uid_of(app, "ConsumerProducts.CoffeeMaker.Status.BeverageCounterRistrettoEspresso")
    before = app.value(counter)
    assert app.start_program("/ro/activeProgram", [{"program": espresso}]).ok
    assert member(app, OPERATION_NAME) == "Run"
    app.clock.advance(60)
    app.advance()
    assert member(app, OPERATION_NAME) == "Finished" and app.value(counter) == before + 1


def test_the_coffee_machine_starts_only_with_remote_start_allowed():
    app = real(COFFEE, remote_start=False)
    espresso = uid_of(app, "ConsumerProducts.CoffeeMaker.Program.Beverage.Espresso")
    # ActiveProgram is read-only in its profile until Remote Start is pressed.
    assert app.start_program("/ro/activeProgram", [{"program": espresso}]).code == 403
    changes = app.allow_remote_start()
    assert {"uid": 256, "access": "READWRITE"} in changes.descriptions
    assert app.start_program("/ro/activeProgram", [{"program": espresso}]).ok


def test_switching_off_ends_a_program_quietly():
    app = real(DISHWASHER)
    assert app.start_program("/ro/activeProgram", [{"program": uid_of(app, "Dishcare.Dishwasher.Program.Quick45")}]).ok
    changes = app.write_values([{"uid": uid_of(app, "BSH.Common.Setting.PowerState"), "value": 1}])
    assert member(app, OPERATION_NAME) == "Inactive" and app.value(256) == 0
    assert not any(c["uid"] == uid_of(app, "BSH.Common.Event.ProgramAborted") for c in changes.changes.values)


def test_washer_programs_are_available_as_a_real_one_announces_them():
    app = real(WASHER)
    cotton = uid_of(app, "LaundryCare.Washer.Program.Cotton")
    described = {d["uid"]: d for d in app.description_changes() if "parentUID" not in d}
    assert described[cotton]["available"] is True


def test_the_clock_runs_programs_over_real_sockets(transport):
    """A fast clock and the simulator's own ticker: a client sees a whole run."""

    app = SimulatedAppliance(parse_profile(*profile_files(DISHWASHER)), clock=ScaledClock(36000), remote_start=True)
    with Simulator(app, PSK, IV if transport == "aes" else None) as s:
        c = Client(s)
        c.setup()
        quick = 0x2007
        assert "code" not in c.request("/ro/activeProgram", "POST", [{"program": quick}])
        seen = []
        deadline = time.monotonic() + 10
        while "Finished" not in seen and time.monotonic() < deadline:
            note = c.recv()
            if note["resource"] == "/ro/values":
                seen += [OPERATION_MEMBERS.get(d["value"]) for d in note["data"] if d["uid"] == 0x0228]
        assert seen[-1] == "Finished" and "Run" in seen
        c.close()


# --- misbehaviour on request --------------------------------------------------


def test_drop_connections_cuts_tcp_and_accepts_new_ones(client, sim):
    sim.drop_connections()
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
        client.recv_text()
    again = Client(sim)
    assert again.greet()["resource"] == "/ei/initialValues"
    assert sim.wait_connected(TIMEOUT) and sim.accepted == 2
    again.close()


def test_silent_appliance_answers_nothing_not_even_pings(client, sim):
    sim.go_silent()
    client.ws.settimeout(0.5)
    client.ws.ping(b"hello?")
    client.send(client.message("/iz/info"))
    with pytest.raises(websocket.WebSocketTimeoutException):
        client.ws.recv_data(control_frame=True)
    assert sim.connection_count == 1  # the TCP connection is still up
    fresh = Client(sim)  # later connections behave
    fresh.setup()
    assert fresh.request("/iz/info")["data"]
    fresh.close()


def test_bad_mac_frame_fails_the_client_codec():
    with Simulator(SimulatedAppliance(small_profile()), PSK, IV) as s:
        c = Client(s)
        c.setup()
        s.send_bad_mac()
        with pytest.raises(FrameError, match="MAC"):
            c.recv_text()
        c.close()


def test_bad_mac_needs_aes():
    with Simulator(SimulatedAppliance(small_profile()), PSK) as s, pytest.raises(RuntimeError, match="AES"):
        s.send_bad_mac()


def test_garbage_is_not_a_message(client, sim):
    sim.send_garbage()
    text = client.recv_text()  # for AES: a correctly encrypted frame
    with pytest.raises(ProtocolError):
        Message.from_json(text)
    assert client.request("/iz/info")["data"]  # the session carries on


def test_unencrypted_garbage_on_aes_is_no_frame():
    with Simulator(SimulatedAppliance(small_profile()), PSK, IV) as s:
        c = Client(s)
        c.setup()
        s.send_garbage(encrypted=False)
        with pytest.raises(FrameError, match="malformed"):
            c.recv_text()
        c.close()


def test_client_frame_failing_the_mac_closes_the_connection():
    with Simulator(SimulatedAppliance(small_profile()), PSK, IV) as s:
        c = Client(s)
        c.setup()
        wrong = FrameCodec(bytes(32), IV)
        c.ws.send_binary(wrong.encode(json.dumps(c.message("/iz/info"))))
        with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
            c.recv_text()
        assert any("MAC" in v for v in s.violations)


def test_refused_upgrade_answers_404(sim):
    sim.refuse_upgrade = True
    assert connect_refused(sim).status_code == 404
    assert sim.accepted == 0
    sim.refuse_upgrade = False
    assert Client(sim).greet()["resource"] == "/ei/initialValues"


def test_fail_next_answers_busy_once(client, sim):
    sim.fail_next("/ro/allMandatoryValues", 500)
    assert client.request("/ro/allMandatoryValues")["code"] == 500
    assert values_of(client.request("/ro/allMandatoryValues"))[DOOR] == 1
    assert sim.violations == []


def test_stalled_answers_come_late_or_never(client, sim):
    sim.stall_next("/iz/info")  # never
    client.send(client.message("/iz/info"))
    sim.stall_next("/ci/info", seconds=0.2)
    late = client.message("/ci/info")
    client.send(late)
    # Answered before the late one, and nothing ever comes for /iz/info.
    assert client.request("/ro/allMandatoryValues")["data"]
    reply = client.recv()
    assert (reply["resource"], reply["msgID"]) == ("/ci/info", late["msgID"])
    assert client.request("/iz/info")["data"]
    assert sim.violations == []


# --- life cycle -------------------------------------------------------------------


def test_stop_says_goodbye_and_leaves_no_threads():
    s = Simulator(SimulatedAppliance(small_profile()), PSK, IV).start()
    clients = [Client(s) for _ in range(3)]
    for c in clients:
        c.greet()
    silent = Client(s)
    silent.greet()
    assert s.wait_connected(TIMEOUT, count=4)
    s.go_silent()  # silences all four; reopen three that speak
    talkers = [Client(s) for _ in range(3)]
    for c in talkers:
        c.greet()
    raw = socket.create_connection(("127.0.0.1", s.port))  # never finishes its upgrade
    s.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith(f"hcpy-sim-{s.port}")]
    for c in talkers:
        opcode, payload = c.ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE and struct.unpack("!H", payload[:2])[0] == 1001
    try:
        assert raw.recv(10) == b""
    except ConnectionResetError:
        pass  # stop() came before the listener had accepted it: closed all the same
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", s.port), timeout=TIMEOUT)
    raw.close()


def test_simulator_rejects_bad_keys_clearly():
    with pytest.raises(ValueError, match="32 bytes"):
        Simulator(SimulatedAppliance(small_profile()), b"short")
    with pytest.raises(ValueError, match="16 bytes"):
        Simulator(SimulatedAppliance(small_profile()), PSK, b"short")
    with pytest.raises(ValueError, match="preset"):
        SimulatedAppliance(small_profile(), services="nope")


def test_set_value_rejects_unknown_names():
    app = SimulatedAppliance(small_profile())
    with pytest.raises(KeyError, match=r"Test\.Nothing"):
        app.set_value("Test.Nothing", 1)
    with pytest.raises(ValueError, match="no member 'Ajar'"):
        app.set_value(DOOR, "Ajar")
    assert app.set_value(ACTIVE, "Test.Program.Eco50") == {"uid": ACTIVE, "value": ECO}


# --- command line -------------------------------------------------------------------


def test_command_line_serves_a_devices_json(tmp_path):
    from hcpy.appliance.devices import save_devices
    from hcpy.appliance.entry import entry_from_profile

    def b64(data: bytes) -> str:
        import base64

        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    profile = parse_profile(*profile_files(DISHWASHER))
    devices = tmp_path / "devices.json"
    save_devices(devices, [
        entry_from_profile(profile, key=b64(PSK), name="dishwasher"),
        entry_from_profile(profile, key=b64(PSK), iv=b64(IV), name="washer"),
    ])
    proc = subprocess.Popen(
        [sys.executable, "-m", "hcpy.simulator", "--devices", str(devices), "--base-port", "0", "--name", "washer"],
        cwd=Path(__file__).parent.parent,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    try:
        line = proc.stderr.readline()
        assert "washer" in line and "AES" in line and "ws://127.0.0.1:" in line, line
        assert b64(PSK) not in line and b64(IV) not in line
        url = line.split()[line.split().index("on") + 1]
        codec = FrameCodec(PSK, IV)
        ws = websocket.create_connection(url, timeout=TIMEOUT)
        first = json.loads(codec.decode(ws.recv()))
        assert first["resource"] == "/ei/initialValues"
        ws.close()
        proc.terminate()
        assert proc.wait(TIMEOUT) == 0
    finally:
        proc.kill()
        proc.stderr.close()


# -- the console: what a user does by hand ----------------------------------------------


def test_console_lines_are_read_exactly():
    from hcpy.simulator.console import ConsoleError, Typed, parse

    known = ["dishwasher", "washer"]
    assert parse("  ", known) is None
    assert parse("door close dishwasher", known) == Typed("door", True, ("dishwasher",))
    assert parse("DOOR open", known) == Typed("door", False)
    assert parse("remote on washer dishwasher", known) == Typed("remote", True, ("washer", "dishwasher"))
    assert parse("state washer", known) == Typed("state", names=("washer",))
    for line, words in (("door ajar", "door takes one of"), ("fly away", "unknown command 'fly'"), ("state loud", "takes only")):
        with pytest.raises(ConsoleError, match=words):
            parse(line, known)


def test_console_acts_on_the_appliances_and_says_where_they_stand():
    import io

    from hcpy.simulator.console import Console

    profile = parse_profile(*profile_files(DISHWASHER))
    with Simulator(SimulatedAppliance(profile, clock=ManualClock()), PSK, name="dishwasher") as sim:
        said = []
        console = Console([sim], io.StringIO("door open\nremote on dishwasher\nbogus\n"), said.append)
        console._run()
        assert sim.app.member("BSH.Common.Status.DoorState") == "Open"
        assert sim.app.value("BSH.Common.Status.RemoteControlStartAllowed") is True
        assert said[0] == "dishwasher: On, door Open, remote start not allowed, Ready"
        assert said[1] == "dishwasher: On, door Open, remote start allowed, Ready"
        assert said[2].startswith("unknown command 'bogus'")
