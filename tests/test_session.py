"""The client (transport + session) against the simulator, over real sockets.

Both transports (TLS-PSK, AES), both handshakes (iz, legacy), requests,
notifications, and every misbehaviour the simulator can produce.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading
import time

import pytest
from support import DISHWASHER, eventually, profile_files

from hcpy.appliance.profile_xml import parse_profile
from hcpy.encoding import b64url
from hcpy.errors import ApplianceError, ConnectError, ConnectionClosed, KeyRejected, RequestTimeout
from hcpy.protocol.message import Action
from hcpy.protocol.session import Session
from hcpy.protocol.transport import Endpoint, Timing, Transport
from hcpy.simulator import SimulatedAppliance, Simulator

PSK = os.urandom(32)
IV = os.urandom(16)
FAST = Timing(connect=5, ping_interval=0.3, silence=1.5, tick=0.1)


@pytest.fixture(scope="module")
def profile():
    return parse_profile(*profile_files(DISHWASHER))


class Recorder:
    """A listener that keeps what the session reported."""

    def __init__(self):
        self.values: list[dict] = []
        self.changes: list[dict] = []
        self.event = threading.Event()

    def listener(self) -> Recorder:
        return self

    def on_values(self, values):
        self.values.extend(values)
        self.event.set()

    def on_description_changes(self, changes):
        self.changes.extend(changes)

    def on_message(self, message):
        pass

    def wait_for(self, uid, value, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(v.get("uid") == uid and v.get("value") == value for v in self.values):
                return True
            self.event.wait(0.05)
            self.event.clear()
        return False


def uid(profile, name):
    return profile.by_name(name).uid


@pytest.fixture(params=["tls", "aes"])
def transport_kind(request):
    return request.param


def make_sim(profile, kind, services="iz", version=2):
    app = SimulatedAppliance(profile, services=services, initial_values_version=version)
    return Simulator(app, PSK, IV if kind == "aes" else None)  # started by `with`


def make_session(sim, kind, recorder=None, timing=FAST, request_timeout=3.0, clock=time.monotonic):
    endpoint = Endpoint("127.0.0.1", PSK, IV if kind == "aes" else None, port=sim.port)
    return Session(
        Transport(endpoint, timing, clock=clock),
        device_id="0123456789abcdef",
        device_name="hcpy-test",
        listener=(recorder or Recorder()).listener(),
        request_timeout=request_timeout,
    )


class SteppedClock:
    """A clock that stands still until the test moves it; it counts how often it was read."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.reads = 0
        self._cond = threading.Condition()

    def __call__(self) -> float:
        with self._cond:
            self.reads += 1
            self._cond.notify_all()
            return self.now

    def advance(self, seconds: float) -> int:
        """Move on; how often it had been read by then."""
        with self._cond:
            self.now += seconds
            return self.reads

    def wait_reads(self, count: int, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.reads >= count, timeout)


class Reader:
    """Connects a session and runs its receive loop on a thread, as the daemon does.

    Leaving the block closes the session; `closed` holds why run() ended.
    """

    def __init__(self, session: Session):
        self.session = session
        self.closed: ConnectionClosed | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.session.run()
        except ConnectionClosed as exc:
            self.closed = exc

    def __enter__(self) -> Reader:
        self.session.connect()
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.session.close()
        self.thread.join(2)

    def ended(self, timeout: float) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()


@pytest.mark.parametrize("services, version", [("iz", 2), ("legacy", 1)])
def test_handshake_reads_everything(profile, transport_kind, services, version):
    recorder = Recorder()
    with make_sim(profile, transport_kind, services, version) as sim:
        session = make_session(sim, transport_kind, recorder)
        with Reader(session):
            assert "ro" in session.services
            assert ("iz" in session.services) == (services == "iz")
            assert session.device_info["vib"] == "SN658X06TE"
            assert session.network_info.get("ipV4")
            # Every value of the appliance arrived: compare with what it holds.
            door = uid(profile, "BSH.Common.Status.DoorState")
            assert any(v["uid"] == door for v in recorder.values)
            assert recorder.changes, "allDescriptionChanges was not read"
            # The appliance saw a well-formed dialogue.
            assert sim.violations == []
            answer = sim.client_answers[0]
            assert answer["deviceType"] == ("Application" if version == 2 else 2)
            assert answer["deviceID"] == "0123456789abcdef"
            resources = [m.resource for m in sim.received]
            if services == "iz":
                assert "/iz/info" in resources and "/ci/info" not in resources
            else:
                assert resources.index("/ci/authentication") < resources.index("/ci/info")
                nonce = next(m for m in sim.received if m.resource == "/ci/authentication").data[0]["nonce"]
                assert len(nonce) == 43
            assert resources.index("/ei/deviceReady") < resources.index("/ni/info")
            assert "/ro/values" not in [m.resource for m in sim.received if m.action == Action.GET]


def test_set_value_and_see_the_notify(profile, transport_kind, tick):
    recorder = Recorder()
    with make_sim(profile, transport_kind) as sim:
        session = make_session(sim, transport_kind, recorder)
        with Reader(session) as reader:
            power = uid(profile, "BSH.Common.Setting.PowerState")
            enum = profile.features[power].enum
            on = next(v for v, name in enum.members.items() if name == "On")
            reply = session.request(Action.POST, "/ro/values", [{"uid": power, "value": on}])
            assert reply.code is None and reply.action == Action.RESPONSE
            assert recorder.wait_for(power, on)
            posted = [m for m in sim.received if m.resource == "/ro/values" and m.action == Action.POST]
            assert posted[-1].data == [{"uid": power, "value": on}]
            # A change on the appliance's side arrives as a NOTIFY too.
            door = uid(profile, "BSH.Common.Status.DoorState")
            sim.set_value(door, 0)
            assert recorder.wait_for(door, 0)
        assert not reader.thread.is_alive()


def test_refusal_becomes_a_typed_error(profile, transport_kind):
    with make_sim(profile, transport_kind) as sim:
        session = make_session(sim, transport_kind)
        session.error_names = {403: "Forbidden"}
        with Reader(session):
            door = uid(profile, "BSH.Common.Status.DoorState")  # read-only
            with pytest.raises(ApplianceError) as info:
                session.request(Action.POST, "/ro/values", [{"uid": door, "value": 0}])
            assert info.value.code == 403 and info.value.name == "Forbidden"
            with pytest.raises(ApplianceError) as info:
                session.request(Action.POST, "/ro/values", [{"uid": 0x7FFF, "value": 0}])
            assert info.value.code == 404


def test_submit_answers_by_callback(profile):
    with make_sim(profile, "tls") as sim:
        outcomes = []
        done = threading.Event()

        def callback(reply, error):
            outcomes.append((reply, error))
            done.set()

        with Reader(make_session(sim, "tls")) as reader:
            door = uid(profile, "BSH.Common.Status.DoorState")
            reader.session.submit(Action.POST, "/ro/values", [{"uid": door, "value": 0}], callback)
            assert done.wait(3)
            reply, error = outcomes[0]
            assert reply is None and isinstance(error, ApplianceError) and error.code == 403


def test_msgids_count_up_from_edmsgid(profile):
    with make_sim(profile, "aes") as sim:
        session = make_session(sim, "aes")
        with Reader(session):
            own = [m for m in sim.received if m.action != Action.RESPONSE]
            ids = [m.msgID for m in own]
            assert ids == list(range(ids[0], ids[0] + len(ids)))
            assert {m.sID for m in sim.received} == {session.sid}
            # The version of each request is the one its service advertised.
            ni = next(m for m in own if m.resource == "/ni/info")
            assert ni.version == session.services["ni"]
            services = next(m for m in own if m.resource == "/ci/services")
            assert services.version == 1


# -- misbehaviour: each is noticed, closes cleanly, and a new connection works --


def reconnects(profile, sim, kind):
    recorder = Recorder()
    session = make_session(sim, kind, recorder)
    with Reader(session):
        assert recorder.values
    return True


def test_dropped_connection(profile, transport_kind, tick):
    with make_sim(profile, transport_kind) as sim:
        with Reader(make_session(sim, transport_kind)) as reader:
            sim.drop_connections()
            assert reader.ended(3)
            assert isinstance(reader.closed, ConnectionClosed)
        assert reconnects(profile, sim, transport_kind)


@pytest.fixture(params=["kernel", "python"])
def tick(request, monkeypatch):
    """Both ways a read returns after a tick: SO_RCVTIMEO on a blocking socket, or Python's timeout."""
    import hcpy.protocol.transport

    if request.param == "python":
        monkeypatch.setattr(hcpy.protocol.transport, "KERNEL_TICK", False)
    elif not hcpy.protocol.transport.KERNEL_TICK:
        pytest.skip("a C long is not 64 bits here: the kernel's tick is not used")
    return request.param


def test_each_tick_mode_sets_up_the_socket_as_it_says(profile, transport_kind, tick):
    with make_sim(profile, transport_kind) as sim:
        session = make_session(sim, transport_kind)
        session.connect()
        try:
            sock = session.transport._sock
            if tick == "kernel":
                assert sock.gettimeout() is None
                seconds, micros = struct.unpack("ll", sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16))
                assert abs(seconds + micros / 1e6 - FAST.tick) < 0.05
            else:
                assert sock.gettimeout() == FAST.tick
        finally:
            session.close()


def test_silent_appliance_is_noticed(profile, transport_kind, tick):
    clock = SteppedClock()
    with make_sim(profile, transport_kind) as sim:
        with Reader(make_session(sim, transport_kind, clock=clock)) as reader:
            sim.go_silent()

            def silence_passes() -> bool:
                # Again and again: what the appliance sent before going silent may still be read after a step.
                clock.advance(FAST.silence + FAST.ping_interval)
                return reader.ended(0.1)

            eventually(silence_passes, 5, "the silence noticed")
            assert "nothing received" in str(reader.closed)
        assert reconnects(profile, sim, transport_kind)


def test_pings_keep_a_quiet_connection_alive(profile, transport_kind, tick):
    # The transport's clock is the test's: it moves a ping interval at a time,
    # to three times the allowed silence. A step is through when the transport
    # read the clock twice after it: the first read checked the silence and
    # pinged, the second began the next receive, so the first one ended well.
    # Only the pongs are heard meanwhile: were they not counted, the step to
    # past the silence would end the connection, and its reads.
    timing = Timing(connect=5, ping_interval=1.0, silence=3.0, tick=0.1)
    clock = SteppedClock()
    recorder = Recorder()
    with make_sim(profile, transport_kind) as sim, Reader(make_session(sim, transport_kind, recorder, timing=timing, clock=clock)) as reader:
        values = len(recorder.values)
        for step in range(1, 10):
            reads = clock.advance(timing.ping_interval)
            assert clock.wait_reads(reads + 2), f"the transport stopped at step {step}: {reader.closed}"
        assert reader.thread.is_alive() and reader.closed is None
        assert len(recorder.values) == values  # nothing but pongs


def test_bad_mac_closes_the_connection(profile):
    with make_sim(profile, "aes") as sim:
        with Reader(make_session(sim, "aes")) as reader:
            sim.send_bad_mac()
            assert reader.ended(3)
            assert "MAC" in str(reader.closed)
        assert reconnects(profile, sim, "aes")


def test_garbage_costs_one_message_not_the_session(profile, transport_kind, caplog):
    recorder = Recorder()
    with make_sim(profile, transport_kind) as sim:
        with Reader(make_session(sim, transport_kind, recorder)) as reader:
            with caplog.at_level(logging.WARNING):
                sim.send_garbage()
                door = uid(profile, "BSH.Common.Status.DoorState")
                sim.set_value(door, 2)
                assert recorder.wait_for(door, 2)
            assert any("ignored a message" in r.getMessage() for r in caplog.records)
            assert reader.thread.is_alive() and reader.closed is None
        assert reconnects(profile, sim, transport_kind)


def test_refused_upgrade(profile, transport_kind):
    with make_sim(profile, transport_kind) as sim:
        sim.refuse_upgrade = True
        session = make_session(sim, transport_kind)
        with pytest.raises(ConnectError, match="404"):
            session.connect()
        sim.refuse_upgrade = False
        assert reconnects(profile, sim, transport_kind)


def test_wrong_key_is_a_connect_or_close_error(profile, transport_kind):
    with make_sim(profile, transport_kind) as sim:
        wrong = Endpoint("127.0.0.1", os.urandom(32), IV if transport_kind == "aes" else None, port=sim.port)
        session = Session(Transport(wrong, FAST), device_id="0123456789abcdef", request_timeout=2)
        # TLS fails in the handshake; AES fails at the first frame's MAC. Both
        # say it is the key, as a KeyRejected (a ConnectError).
        with pytest.raises(KeyRejected, match="MAC" if transport_kind == "aes" else "TLS"):
            session.connect()


def test_busy_appliance_is_asked_again(profile):
    recorder = Recorder()
    with make_sim(profile, "tls") as sim:
        sim.fail_next("/ro/allMandatoryValues", 500)
        session = make_session(sim, "tls", recorder)
        with Reader(session):
            assert recorder.values
            asked = [m for m in sim.received if m.resource == "/ro/allMandatoryValues"]
            assert len(asked) == 2


def test_unanswered_request_times_out(profile):
    with make_sim(profile, "tls") as sim, Reader(make_session(sim, "tls", request_timeout=1.0)) as reader:
        sim.stall_next("/ro/values")
        power = uid(profile, "BSH.Common.Setting.PowerState")
        with pytest.raises(RequestTimeout):
            reader.session.request(Action.POST, "/ro/values", [{"uid": power, "value": 2}])
        assert reader.thread.is_alive()


def test_nothing_listening(profile):
    with make_sim(profile, "tls") as sim:
        port = sim.port
    session = Session(
        Transport(Endpoint("127.0.0.1", PSK, port=port), FAST), device_id="0123456789abcdef"
    )
    with pytest.raises(ConnectError, match="cannot connect"):
        session.connect()


def test_keys_never_reach_the_logs(profile, transport_kind, caplog):
    secrets = [
        b64url(PSK),
        b64url(IV),
        PSK.hex(),
        IV.hex(),
        repr(PSK),
        repr(IV),
    ]
    with caplog.at_level(logging.DEBUG):
        recorder = Recorder()
        with make_sim(profile, transport_kind) as sim:
            session = make_session(sim, transport_kind, recorder)
            logging.getLogger("hcpy").debug("session %r endpoint %r", session, session.transport.endpoint)
            with Reader(session) as reader:
                power = uid(profile, "BSH.Common.Setting.PowerState")
                session.request(Action.POST, "/ro/values", [{"uid": power, "value": 2}])
                sim.drop_connections()
                assert reader.ended(3)
    text = caplog.text  # formatted records, tracebacks included
    assert "sending" in text and "/ro/allMandatoryValues" in text  # debug logging did run
    for secret in secrets:
        assert secret not in text
