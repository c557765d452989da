"""`hc2mqtt --check`: the few words each failure gets in its row, and what the check is told to look at.

tests/test_check.py covers the table and the common failures through the
command line; here, in process and over real sockets, the rarer ones a user
still has to tell apart: a host that does not resolve, an appliance that
does not answer, refuses the websocket, refuses or stalls a request of the
handshake or drops it; a broker that never answers CONNECT, closes at once,
or speaks only MQTT 3.1.1; names that devices.json does not have.
"""

from __future__ import annotations

import dataclasses
import io
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from support import WASHER
from test_retained_commands import Mqtt311Only

from hcpy.app import check
from hcpy.app.check import check_appliance, check_broker, run_check
from hcpy.appliance.devices import save_devices
from hcpy.mqtt.bridge import BridgeSettings
from hcpy.mqtt.link import MqttSettings
from hcpy.protocol.transport import Timing

DEVICE_ID = "00112233aabbccdd"
HA_ID = "SIEMENS-SN658X06TE-68A40E000001"


class Listener:
    """A loopback TCP server that does one thing with every connection: `answer(conn)`."""

    def __init__(self, answer):
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._answer = answer
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self._conns.append(conn)
            try:
                self._answer(conn)
            except OSError:
                pass

    def close(self) -> None:
        self._server.close()
        for conn in self._conns:
            conn.close()


@pytest.fixture
def listeners():
    made: list[Listener] = []

    def make(answer=lambda conn: None) -> Listener:
        made.append(Listener(answer))
        return made[-1]

    yield make
    for listener in made:
        listener.close()


def _refuse_upgrade(conn: socket.socket) -> None:
    conn.recv(4096)
    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")


# -- appliances -----------------------------------------------------------------


def test_a_host_that_does_not_resolve_says_so_and_the_key_stays_unknown(sims):
    _, entry = sims()
    lost = dataclasses.replace(entry, host="dishwasher.invalid")
    row = check_appliance(lost, device_id=DEVICE_ID, resolver=None)
    assert (row.problem, row.key, row.address) == ("host does not resolve", "unknown", "")
    assert row.detail.startswith("cannot connect to wss://dishwasher.invalid")


def test_a_failing_mdns_lookup_leaves_the_first_reason(sims):
    _, entry = sims()
    lost = dataclasses.replace(entry, host="dishwasher.invalid", ha_id=HA_ID)

    def broken(ha_id):
        raise OSError("no multicast here")

    row = check_appliance(lost, device_id=DEVICE_ID, resolver=broken)
    assert row.problem == "host does not resolve" and not row.found_by_mdns


def test_a_resolver_giving_an_address_alone_keeps_the_configured_port(sims):
    sim, entry = sims()
    lost = dataclasses.replace(entry, host="dishwasher.invalid", ha_id=HA_ID)
    row = check_appliance(lost, device_id=DEVICE_ID, resolver=lambda ha_id: "127.0.0.1")
    assert row.ok and row.found_by_mdns and row.address == f"127.0.0.1:{sim.port}"


def test_a_resolver_that_finds_nothing_leaves_the_first_reason(sims):
    _, entry = sims()
    lost = dataclasses.replace(entry, host="dishwasher.invalid", ha_id=HA_ID)
    assert check_appliance(lost, device_id=DEVICE_ID, resolver=lambda ha_id: None).problem == "host does not resolve"


def test_an_appliance_that_accepts_but_never_answers_timed_out(sims, listeners):
    _, entry = sims()
    silent = listeners()
    row = check_appliance(dataclasses.replace(entry, port=silent.port), device_id=DEVICE_ID,
                          timing=Timing(connect=0.3), resolver=None)  # fmt: skip
    assert (row.problem, row.key) == ("no answer (timed out)", "unknown")


def test_an_appliance_refusing_the_websocket_upgrade_says_so(sims, listeners):
    _, entry = sims(WASHER, "washer", "aes")  # plain ws: the refusal is readable without TLS
    refusing = listeners(_refuse_upgrade)
    row = check_appliance(dataclasses.replace(entry, port=refusing.port), device_id=DEVICE_ID, resolver=None)
    assert row.problem == "websocket refused" and row.key == "unknown"
    assert "refused the websocket upgrade (404)" in row.detail and "power-cycle" in row.detail


def test_a_request_the_appliance_refuses_in_the_handshake_names_it(sims):
    sim, entry = sims()
    sim.fail_next("/ci/services", code=400)
    row = check_appliance(entry, device_id=DEVICE_ID, resolver=None)
    # Frames went both ways: the key was good.
    assert (row.problem, row.key) == ("refused /ci/services (400)", "ok")


def test_a_request_left_unanswered_in_the_handshake_is_no_answer(sims):
    sim, entry = sims()
    sim.stall_next("/ci/services")
    row = check_appliance(entry, device_id=DEVICE_ID, request_timeout=0.5, resolver=None)
    assert (row.problem, row.key) == ("no answer in the handshake", "ok")


def test_an_appliance_dropping_the_handshake_lost_the_connection(sims):
    sim, entry = sims()
    sim.stall_next("/ci/services")
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(check_appliance, entry, device_id=DEVICE_ID, request_timeout=30, resolver=None)
        assert sim.wait_received("/ci/services", timeout=10)
        sim.drop_connections()
        row = future.result(timeout=30)
    assert row.problem == "connection lost" and row.key == "ok"


# -- the broker ---------------------------------------------------------------------


def test_a_broker_that_never_answers_connect(listeners):
    silent = listeners()
    row = check_broker(MqttSettings(host="127.0.0.1", port=silent.port), "hcpy-check-x", timeout=1.0)
    assert (row.problem, row.detail) == ("no CONNACK", "no answer to CONNECT within 1 s")


def test_a_broker_that_closes_at_once(listeners):
    closing = listeners(lambda conn: (conn.recv(4096), conn.close()))
    row = check_broker(MqttSettings(host="127.0.0.1", port=closing.port), "hcpy-check-x", timeout=5)
    assert (row.problem, row.detail) == ("no CONNACK", "it closed the connection without accepting it")


def test_a_broker_speaking_only_mqtt_3_1_1_is_ok_at_that_version(broker):
    old = Mqtt311Only(broker.port)
    try:
        row = check_broker(MqttSettings(host="127.0.0.1", port=old.port), "hcpy-check-x", timeout=10)
    finally:
        old.close()
    assert row.ok and row.version == "3.1.1"
    assert old.levels == [5, 4]  # MQTT 5 first, then 3.1.1


# -- what the check is told to look at -----------------------------------------------


def test_names_devices_json_does_not_have_are_a_note(tmp_path, broker, sims):
    _, entry = sims()
    devices = tmp_path / "devices.json"
    save_devices(devices, [entry], merge=False)
    report = run_check(str(devices), MqttSettings(host="127.0.0.1", port=broker.port),
                       BridgeSettings(device_id=DEVICE_ID, resolver=None), names=("dishwasher", "oven", "fridge"))  # fmt: skip
    assert [row.name for row in report.appliances] == ["dishwasher"] and report.appliances[0].ok
    assert report.notes == [f"{devices} has no appliance named fridge, oven"]
    assert not report.ok


def test_a_devices_file_without_appliances_says_to_run_hc_login(tmp_path, broker):
    devices = tmp_path / "devices.json"
    devices.write_text("[]")
    report = run_check(str(devices), MqttSettings(host="127.0.0.1", port=broker.port),
                       BridgeSettings(device_id=DEVICE_ID, resolver=None))  # fmt: skip
    assert report.notes == [f"{devices} lists no appliances; run hc-login first"]
    assert report.broker.ok and not report.ok


def test_a_terminal_without_unicode_gets_an_ascii_arrow(tmp_path, broker, sims, monkeypatch):
    _, entry = sims()
    devices = tmp_path / "devices.json"
    save_devices(devices, [entry], merge=False)
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="ascii"))
    status = check.main(str(devices), MqttSettings(host="127.0.0.1", port=broker.port),
                        BridgeSettings(device_id=DEVICE_ID, resolver=None))  # fmt: skip
    text = raw.getvalue().decode("ascii")
    assert status == 0, text
    assert text.splitlines()[0].split()[:4] == ["NAME", "HOST", "->", "ADDRESS"]
    assert text.splitlines()[-1] == "All ok: 1 appliance(s) answered and the broker is reachable."
