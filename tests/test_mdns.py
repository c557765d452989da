"""Finding appliances by mDNS: the records read, and real multicast on loopback.

The network tests use python-zeroconf unmocked, bound to 127.0.0.1 only, so
nothing is ever announced on the LAN. Loopback here has no MULTICAST flag,
yet Linux delivers multicast sent with IP_MULTICAST_IF=127.0.0.1 to the
group members on lo, which is all mDNS needs (no namespace, no root).

Every haId is random: another test run on this machine shares loopback's
port 5353, and must neither clash with these names nor be mistaken for them.
Waits are deadlines to give up at, never durations asserted.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import DISHWASHER, FAST, QUICK_RETRY, WASHER, b64, profile_files, simulated

from hc_login import _placed
from hc_login import main as hc_login_main
from hcpy.appliance.connection import ApplianceConnection, Backoff
from hcpy.appliance.devices import load_devices, save_devices
from hcpy.appliance.entry import entry_from_profile
from hcpy.appliance.profile_xml import parse_profile
from hcpy.appliance.state import ApplianceState
from hcpy.protocol import mdns
from hcpy.protocol.transport import Endpoint
from hcpy.simulator import SimulatedAppliance, Simulator
from hcpy.simulator.advertise import Advertiser

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = ["127.0.0.1"]
# Deadlines, generous for a loaded machine; a passing test returns long before.
HEAR = 20.0
ONLINE = 20.0


def random_ha_id(brand: str = "SIEMENS", vib: str = "SN658X06TE") -> str:
    return f"{brand}-{vib}-{os.urandom(6).hex().upper()}"


@pytest.fixture(scope="module")
def dishwasher():
    return parse_profile(*profile_files(DISHWASHER), DISHWASHER)


@pytest.fixture(scope="module")
def washer():
    return parse_profile(*profile_files(WASHER), WASHER)


@pytest.fixture
def advertiser():
    adv = Advertiser(LOOPBACK)
    yield adv
    adv.close()


def hear(*ha_ids: str) -> dict[str, mdns.Found]:
    """Browse until every one of `ha_ids` was heard (or the deadline); theirs only."""
    heard = mdns.browse(
        HEAR,
        interfaces=LOOPBACK,
        enough=lambda found: all(any(mdns.matches(f, h) for f in found) for h in ha_ids),
    )
    return {h: f for h in ha_ids for f in heard if mdns.matches(f, h)}


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# -- the records, without a network ----------------------------------------------


def test_a_real_appliances_announcement_is_read():
    # Shaped as appliances announce themselves: the instance named by type,
    # brand and vib, the host by brand, vib and MAC, the haId in TXT `id`,
    # keys and values as bytes, a key without a value.
    found = mdns.found_from(
        "Dishwasher Siemens SN658X06TE._homeconnect._tcp.local.",
        {b"txtvers": b"2", b"id": b"012345678901234567", b"brand": b"Siemens", b"type": b"Dishwasher",
         b"vib": b"SN658X06TE", b"mac": b"68A40E000000", b"tls": b"true", b"info": None},  # fmt: skip
        ["fe80::1", "192.168.1.20"],
        443,
        "SIEMENS-SN658X06TE-68A40E000000.local.",
    )
    assert found == mdns.Found(
        ha_id="012345678901234567",
        brand="Siemens",
        type="Dishwasher",
        address="192.168.1.20",
        port=443,
        name="Dishwasher Siemens SN658X06TE",
        vib="SN658X06TE",
        tls=True,
        server="SIEMENS-SN658X06TE-68A40E000000",
    )


def test_txt_keys_ignore_case_and_values_are_trimmed():
    found = mdns.found_from("x._homeconnect._tcp.local.", {"ID": " ABC123 ", "Brand": "Bosch", "TLS": "False"})
    assert (found.ha_id, found.brand, found.tls) == ("ABC123", "Bosch", False)
    assert mdns.decode_txt({b"Type": b"Oven", b"": b"x", "vib": None}) == {"type": "Oven", "vib": ""}


def test_without_an_id_the_haid_comes_from_the_host_then_the_instance_name():
    by_host = mdns.found_from("Oven Bosch HBG._homeconnect._tcp.local", {}, server="BOSCH-HBG672-68A40E000001.local.")
    assert by_host.ha_id == "BOSCH-HBG672-68A40E000001"
    by_name = mdns.found_from("BOSCH-HBG672-68A40E000001._homeconnect._tcp.local.", {})
    assert by_name.ha_id == "BOSCH-HBG672-68A40E000001" and by_name.server == ""
    assert mdns.found_from("._homeconnect._tcp.local.", {}) is None


def test_odd_values_are_left_out_rather_than_trusted():
    found = mdns.found_from("a._homeconnect._tcp.local.", {"id": "a1", "tls": "maybe"}, ["::1", "not-an-ip"], 0)
    assert found.address is None and found.port is None and found.tls is None
    assert mdns.instance_label("A B._HomeConnect._tcp.local.") == "A B"
    assert mdns.host_label("host.local.") == "host" and mdns.host_label(None) == ""


def test_an_appliance_matches_its_haid_in_either_form():
    found = mdns.found_from(
        "x._homeconnect._tcp.local.", {"id": "68A40E000000"}, server="SIEMENS-SN658X06TE-68A40E000000.local."
    )
    assert mdns.matches(found, "68a40e000000")  # case does not matter
    assert mdns.matches(found, "SIEMENS-SN658X06TE-68A40E000000")  # the host name form
    assert not mdns.matches(found, "68A40E000001") and not mdns.matches(found, "")
    # devices.json with the bare haId, the appliance announcing the long form
    long_form = mdns.found_from("y._homeconnect._tcp.local.", {"id": "SIEMENS-SN658X06TE-68A40E000000"})
    assert mdns.matches(long_form, "68A40E000000")
    # a suffix of a few characters is a coincidence, not the appliance
    assert not mdns.matches(mdns.found_from("z._homeconnect._tcp.local.", {"id": "BOSCH-X-00"}), "00")


def test_what_the_simulator_announces_reads_back():
    name, server, properties = mdns.announcement("68A40E000002", "Bosch", "Washer", vib="WAX32", mac="0123", tls=False)
    assert name == "Bosch-Washer-68A40E000002._homeconnect._tcp.local." and server == "Bosch-Washer-68A40E000002.local."
    found = mdns.found_from(name, properties, ["10.0.0.5"], 80, server)
    assert (found.ha_id, found.brand, found.type, found.vib, found.tls) == ("68A40E000002", "Bosch", "Washer", "WAX32", False)
    # A haId already starting with the brand is the host name as it is.
    assert mdns.announcement("SIEMENS-SN658X06TE-68A40E000000", "SIEMENS", "Dishwasher")[1] == (
        "SIEMENS-SN658X06TE-68A40E000000.local."
    )


# -- real mDNS on loopback -------------------------------------------------------------


def test_a_scan_hears_every_advertised_simulator(dishwasher, washer, advertiser):
    sim1, _ = simulated(dishwasher, "dishwasher")
    sim2, _ = simulated(washer, "washer", transport="aes")
    try:
        id1, id2 = random_ha_id(), random_ha_id(vib="WM16XE91")
        advertiser.add(sim1, id1)
        advertiser.add(sim2, id2)
        heard = hear(id1, id2)
        assert heard[id1] == mdns.Found(
            ha_id=id1,
            brand="SIEMENS",
            type="Dishwasher",
            address="127.0.0.1",
            port=sim1.port,
            name=heard[id1].name,
            vib="SN658X06TE",
            tls=True,
            server=heard[id1].name,
        )
        assert (heard[id2].brand, heard[id2].type, heard[id2].address, heard[id2].port, heard[id2].tls) == (
            "SIEMENS", "Washer", "127.0.0.1", sim2.port, False,
        )  # fmt: skip
        assert mdns.resolve(id2, HEAR, interfaces=LOOPBACK) == "127.0.0.1"
    finally:
        sim1.stop()
        sim2.stop()


def test_hc_login_scan_sets_the_host_of_the_matching_entry_only(dishwasher, washer, advertiser, tmp_path):
    sim, _ = simulated(dishwasher, "dishwasher")
    try:
        heard_id, silent_id = random_ha_id(), random_ha_id(vib="WM16XE91")
        entries = [
            entry_from_profile(dishwasher, key=b64(os.urandom(32)), ha_id=heard_id, name="dishwasher"),
            entry_from_profile(washer, key=b64(os.urandom(32)), iv=b64(os.urandom(16)), ha_id=silent_id,
                               host="10.99.0.7", name="washer"),  # fmt: skip
            entry_from_profile(washer, key=b64(os.urandom(32)), host="washer2.example", name="no_haid"),
        ]
        path = tmp_path / "devices.json"
        save_devices(path, entries, merge=False)
        before = json.loads(path.read_text())
        advertiser.add(sim, heard_id)

        # The washer never answers: the scan listens its whole --scan-time.
        result = CliRunner().invoke(
            hc_login_main,
            ["--scan", "--devices", str(path), "--scan-interface", "127.0.0.1", "--scan-time", "4"],
        )
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert lines[0].split() == ["haId", "brand", "type", "address"]
        assert any(line.split() == [heard_id, "SIEMENS", "Dishwasher", f"127.0.0.1:{sim.port}"] for line in lines)
        assert f"dishwasher: host {heard_id} -> 127.0.0.1, port default -> {sim.port}" in lines
        assert "Not heard (switched off, or on another network): washer" in lines

        after = json.loads(path.read_text())
        assert after[0] == {**before[0], "host": "127.0.0.1", "port": sim.port}
        assert after[1:] == before[1:]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

        # Scanning again would change nothing: the entry already points there.
        heard = mdns.found_from(f"x.{mdns.SERVICE_TYPE}", {"id": heard_id}, ["127.0.0.1"], sim.port)
        assert _placed(load_devices(path)[0], heard) is None
    finally:
        sim.stop()


def test_hc_login_scan_goes_alone(tmp_path):
    result = CliRunner().invoke(hc_login_main, ["--scan", "--import", str(tmp_path)])
    assert result.exit_code == 2 and "--scan goes alone" in result.output
    result = CliRunner().invoke(hc_login_main, ["--scan", "--scan-interface", "eth0"])
    assert result.exit_code == 2 and "IPv4 address" in result.output


def connection_to(profile, psk: bytes, host: str, ha_id: str, **kwargs) -> ApplianceConnection:
    return ApplianceConnection(
        "dishwasher",
        Endpoint(host, psk, None, None),
        ApplianceState(profile, "dishwasher"),
        device_id="00112233aabbccdd",
        timing=FAST,
        backoff=QUICK_RETRY,
        request_timeout=3,
        ha_id=ha_id,
        **kwargs,
    )


def test_an_appliance_whose_host_does_not_resolve_is_found_by_mdns_and_again_after_it_moved(
    dishwasher, advertiser, caplog
):
    caplog.set_level(logging.INFO, logger="hcpy.appliance")
    psk = os.urandom(32)
    ha_id = random_ha_id()
    sim = Simulator(SimulatedAppliance(dishwasher), psk).start()
    moved = None
    conn = connection_to(
        dishwasher,
        psk,
        "nonexistent-appliance.invalid",
        ha_id,
        resolver=functools.partial(mdns.locate, timeout=HEAR, interfaces=LOOPBACK),
        # Not the daemon's 30 s: the move below must be noticed within the test.
        resolve_interval=0.5,
    )
    try:
        advertiser.add(sim, ha_id)
        conn.start()
        assert conn.wait_online(ONLINE), "never connected"
        assert (conn.target.host, conn.target.port) == ("127.0.0.1", sim.port)
        assert conn.endpoint.host == "nonexistent-appliance.invalid"  # the configured one stays known
        assert (
            f"found dishwasher at 127.0.0.1:{sim.port} by mDNS (its host nonexistent-appliance.invalid did not answer)"
            in caplog.messages
        )

        # DHCP hands the appliance another address (and here another port).
        advertiser.remove(ha_id)
        sim.stop()
        assert wait_until(lambda: not conn.online, ONLINE)
        moved = Simulator(SimulatedAppliance(dishwasher), psk, host="127.0.0.2").start()
        advertiser.add(moved, ha_id)
        assert moved.wait_connected(ONLINE), "never reconnected at the new address"
        assert wait_until(lambda: conn.online, ONLINE)
        assert (conn.target.host, conn.target.port) == ("127.0.0.2", moved.port)
        assert f"found dishwasher at 127.0.0.2:{moved.port} by mDNS (its host 127.0.0.1 did not answer)" in caplog.messages
    finally:
        conn.stop()
        sim.stop()
        if moved is not None:
            moved.stop()


def test_lookups_are_rate_limited_and_failures_only_said_once(dishwasher, caplog):
    # A resolver that never finds the appliance, on a port nothing listens on:
    # every attempt fails, yet only the first in the interval asks.
    caplog.set_level(logging.DEBUG, logger="hcpy.appliance")
    sim = Simulator(SimulatedAppliance(dishwasher), os.urandom(32)).start()
    port = sim.port
    sim.stop()
    asked = []

    def resolver(ha_id):
        asked.append(ha_id)
        if len(asked) == 1:
            return None
        raise OSError("no multicast here")

    conn = ApplianceConnection(
        "dishwasher",
        Endpoint("127.0.0.1", os.urandom(32), None, port),
        ApplianceState(dishwasher, "dishwasher"),
        device_id="00112233aabbccdd",
        timing=FAST,
        backoff=Backoff(first=0.05, limit=0.1, stable_after=5),
        ha_id="68A40E000009",
        resolver=resolver,
        resolve_interval=3600,
    )
    conn.start()
    try:
        assert wait_until(lambda: sum("retrying" in m for m in caplog.messages) >= 5, ONLINE)
        assert asked == ["68A40E000009"]
        # Once the interval passed, a failing lookup is warned about once, then quiet.
        conn.resolve_interval = 0
        assert wait_until(lambda: len(asked) >= 4, ONLINE)
    finally:
        conn.stop()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "looking up" in r.getMessage()]
    assert len(warnings) == 1 and "no multicast here" in warnings[0].getMessage()
    assert not conn.online


def test_an_answer_naming_where_it_already_went_changes_nothing(dishwasher):
    # A name that resolves to the address mDNS reports (and the same port): no switch.
    conn = connection_to(dishwasher, os.urandom(32), "localhost", "68A40E00000A", resolver=lambda _: "127.0.0.1")
    assert conn._relocate() is False and conn.target.host == "localhost"
    # A port change alone is a move.
    moved = connection_to(
        dishwasher, os.urandom(32), "127.0.0.1", "68A40E00000A",
        resolver=lambda _: mdns.Found("68A40E00000A", "", "", "127.0.0.1", 8443, "x"),
    )  # fmt: skip
    assert moved._relocate() is True and (moved.target.host, moved.target.port) == ("127.0.0.1", 8443)
    # No haId or no resolver: never asked.
    assert connection_to(dishwasher, os.urandom(32), "x.invalid", None, resolver=lambda _: 1 / 0)._relocate() is False


def test_the_simulator_command_advertises_its_appliances(dishwasher, tmp_path):
    ha_id = random_ha_id()
    devices = tmp_path / "devices.json"
    save_devices(devices, [entry_from_profile(dishwasher, key=b64(os.urandom(32)), ha_id=ha_id, name="dishwasher")])
    process = subprocess.Popen(
        [sys.executable, "-m", "hcpy.simulator", "--devices", str(devices), "--base-port", "0", "--advertise"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        found = hear(ha_id).get(ha_id)
        assert found is not None, "the simulator was not heard"
        assert (found.address, found.type, found.tls) == ("127.0.0.1", "Dishwasher", True)
    finally:
        process.terminate()
        process.wait(30)


def test_an_appliance_that_answers_wrongly_is_not_looked_up(dishwasher, caplog):
    # A refused websocket upgrade is the appliance itself, wedged: it has not moved.
    caplog.set_level(logging.DEBUG, logger="hcpy.appliance")
    psk = os.urandom(32)
    sim = Simulator(SimulatedAppliance(dishwasher), psk).start()
    sim.refuse_upgrade = True
    asked = []
    conn = ApplianceConnection(
        "dishwasher",
        Endpoint("127.0.0.1", psk, None, sim.port),
        ApplianceState(dishwasher, "dishwasher"),
        device_id="00112233aabbccdd",
        timing=FAST,
        backoff=Backoff(first=0.05, limit=0.1, stable_after=5),
        ha_id="68A40E00000B",
        resolver=asked.append,
        resolve_interval=0,
    )
    conn.start()
    try:
        assert wait_until(lambda: sum("refused the websocket upgrade" in m for m in caplog.messages) >= 3, ONLINE)
    finally:
        conn.stop()
        sim.stop()
    assert asked == []
