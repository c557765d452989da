"""`hc2mqtt --check` says what to check (issue 21, item 3), and "(mDNS)" only when mDNS found the address.

Over real loopback sockets: a port nothing listens on (refused), a listening
socket whose backlog is full (the connect times out, as a black-holed address
does), a server that accepts and never answers the TLS handshake, a name that
does not resolve (`.invalid`), and mDNS answers naming the address that was
tried already.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from support import WASHER, b64, free_port
from test_check_reasons import Listener

from hcpy.app.check import BrokerRow, CheckReport, check_appliance, render
from hcpy.appliance.devices import save_devices
from hcpy.protocol.mdns import Found
from hcpy.protocol.transport import Timing

ROOT = Path(__file__).resolve().parents[1]
DEVICE_ID = "00112233aabbccdd"
HA_ID = "SIEMENS-SN658X06TE-68A40E000001"
QUICK = Timing(connect=0.3)
TIMED_OUT = "no answer from 127.0.0.1 within 0.3 s: wrong address, or a firewall/VLAN between"


@pytest.fixture
def full_backlog():
    """A loopback port that takes no more connections: listening, never accepting, its backlog full."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    held = []
    for _ in range(8):  # the kernel's queue holds backlog + 1; fill it until a connect hangs
        client = socket.socket()
        client.settimeout(0.3)
        try:
            client.connect(("127.0.0.1", port))
        except TimeoutError:
            client.close()
            break
        held.append(client)
    else:
        pytest.fail("the backlog never filled")
    yield port
    for client in held:
        client.close()
    server.close()


def test_a_refused_connection_says_nothing_listens_and_the_appliances_ports(sims):
    _, entry = sims()
    port = free_port()
    row = check_appliance(dataclasses.replace(entry, port=port), device_id=DEVICE_ID, resolver=None)
    assert row.problem == "connection refused"
    assert row.hint == (f"nothing listens on 127.0.0.1:{port}: is the appliance on and on this network? "
                        "TLS appliances listen on 443, AES on 80")  # fmt: skip


def test_a_connect_that_times_out_says_wrong_address_or_firewall(sims, full_backlog):
    _, entry = sims()
    row = check_appliance(dataclasses.replace(entry, port=full_backlog), device_id=DEVICE_ID, timing=QUICK,
                          resolver=None)  # fmt: skip
    assert (row.problem, row.hint) == ("no answer (timed out)", TIMED_OUT)


def test_a_tls_handshake_never_answered_says_the_same(sims):
    _, entry = sims()
    silent = Listener(lambda conn: None)
    try:
        row = check_appliance(dataclasses.replace(entry, port=silent.port), device_id=DEVICE_ID, timing=QUICK,
                              resolver=None)  # fmt: skip
    finally:
        silent.close()
    assert (row.problem, row.hint) == ("no answer (timed out)", TIMED_OUT)


def test_a_name_that_does_not_resolve_says_to_give_the_address_or_scan(sims):
    _, entry = sims()
    row = check_appliance(dataclasses.replace(entry, host="nonexistent.invalid"), device_id=DEVICE_ID, resolver=None)
    assert row.problem == "host does not resolve"
    assert row.hint == ("the name nonexistent.invalid does not resolve: give the appliance's IP address as host in "
                        "devices.json, or run hc-login scan")  # fmt: skip


def test_a_wrong_key_gets_no_hint_beyond_its_own_sentence(sims):
    _, entry = sims()
    row = check_appliance(dataclasses.replace(entry, key=b64(os.urandom(32))), device_id=DEVICE_ID, resolver=None)
    assert row.problem == "wrong key" and row.hint == ""


def test_the_hint_is_said_under_the_reason(sims):
    _, entry = sims()
    row = check_appliance(dataclasses.replace(entry, host="nonexistent.invalid"), device_id=DEVICE_ID, resolver=None)
    lines = render(CheckReport([row], BrokerRow("localhost", 1883, version="5.0"), [])).splitlines()
    at = lines.index(f"dishwasher: {row.detail}")
    assert lines[at + 1] == f"  {row.hint}"


# -- "(mDNS)": only for an address mDNS found -----------------------------------------------------


def _same_place(port: int):
    asked = []

    def resolver(ha_id):
        asked.append(ha_id)
        return Found(ha_id, "SIEMENS", "Dishwasher", "127.0.0.1", port, ha_id)

    return resolver, asked


def test_an_answering_appliance_mdns_finds_where_it_was_tried_is_not_labelled_mdns(sims):
    sim, entry = sims()
    wrong = dataclasses.replace(entry, key=b64(os.urandom(32)), ha_id=HA_ID)
    resolver, _ = _same_place(sim.port)
    row = check_appliance(wrong, device_id=DEVICE_ID, resolver=resolver)
    assert row.problem == "wrong key" and not row.found_by_mdns
    assert "(mDNS)" not in render(CheckReport([row], BrokerRow("localhost", 1883, version="5.0"), []))


def test_a_silent_appliance_mdns_finds_where_it_was_tried_is_not_retried_or_labelled(sims):
    _, entry = sims()
    silent = Listener(lambda conn: None)
    try:
        resolver, asked = _same_place(silent.port)
        tried = dataclasses.replace(entry, port=silent.port, ha_id=HA_ID)
        row = check_appliance(tried, device_id=DEVICE_ID, timing=QUICK, resolver=resolver)
        connections = len(silent._conns)
    finally:
        silent.close()
    assert asked == [HA_ID]  # asked, since nothing answered there
    assert connections == 1  # and not tried again where it was
    assert (row.problem, row.hint, row.found_by_mdns) == ("no answer (timed out)", TIMED_OUT, False)
    rendered = render(CheckReport([row], BrokerRow("localhost", 1883, version="5.0"), []))
    assert "(mDNS)" not in rendered and f"127.0.0.1:{silent.port}" in rendered


def test_an_appliance_mdns_found_elsewhere_is_labelled_mdns(sims):
    sim, entry = sims()
    resolver, asked = _same_place(sim.port)
    moved = dataclasses.replace(entry, port=free_port(), ha_id=HA_ID)
    row = check_appliance(moved, device_id=DEVICE_ID, resolver=resolver)
    assert row.ok and row.found_by_mdns and asked == [HA_ID]
    assert f"127.0.0.1:{sim.port} (mDNS)" in render(CheckReport([row], BrokerRow("localhost", 1883, version="5.0"), []))


# -- as a user runs it -----------------------------------------------------------------------------


def test_hc2mqtt_check_prints_the_hint_under_the_reason(tmp_path, broker, sims):
    _, washer = sims(WASHER, "washer", "aes")
    gone = dataclasses.replace(washer, port=free_port())
    devices = tmp_path / "devices.json"
    save_devices(devices, [gone], merge=False)
    done = subprocess.run(
        [sys.executable, "hc2mqtt.py", "--check", "--devices_file", str(devices),
         "--mqtt_host", "127.0.0.1", "--mqtt_port", str(broker.port)],
        cwd=ROOT, capture_output=True, text=True, timeout=90, env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("washer: cannot connect"))
    assert lines[at + 1] == (f"  nothing listens on 127.0.0.1:{gone.port}: is the appliance on and on this "
                             "network? TLS appliances listen on 443, AES on 80")  # fmt: skip
    assert "(mDNS)" not in done.stdout
