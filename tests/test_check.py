"""`python hc2mqtt.py --check` (issue 10, part 3): one row per appliance and the broker's, exit 0 or 1.

The table is rendered by a pure function (tested first, without a network);
then hc2mqtt runs as a subprocess against real simulators (TLS and AES) and
a real mosquitto, and against an appliance that is not there, one with a
wrong key and a broker that is down.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import COFFEE, DISHWASHER, WASHER, b64, free_port

from hcpy.app.check import ApplianceRow, BrokerRow, CheckReport, render
from hcpy.appliance.devices import save_devices

ROOT = Path(__file__).resolve().parents[1]
# Generous: the check runs its probes in parallel, but CI machines may be loaded.
TIMEOUT = 90


# -- the table (pure) -------------------------------------------------------------


def _ok_row(name="dishwasher", transport="tls") -> ApplianceRow:
    return ApplianceRow(name=name, host="dishwasher.lan", address="192.0.2.7:443", transport=transport,
                        key="ok", features=412, firmware="3.2.10", values=37)  # fmt: skip


def test_render_all_ok():
    report = CheckReport([_ok_row(), _ok_row("washer", "aes")], BrokerRow("localhost", 1883, version="5.0"), [])
    text = render(report)
    lines = text.splitlines()
    assert lines[0].split() == ["NAME", "HOST", "→", "ADDRESS", "TRANSPORT", "HANDSHAKE", "KEY", "FEATURES", "FIRMWARE"]
    assert lines[1].split() == ["dishwasher", "dishwasher.lan", "→", "192.0.2.7:443", "tls", "ok", "ok", "412", "3.2.10"]
    assert lines[2].split()[0] == "washer" and lines[2].split()[4] == "aes"
    assert lines[3].split() == ["MQTT", "broker", "localhost:1883", "mqtt", "ok", "-", "-", "MQTT", "5.0"]
    # Columns line up: every cell of a column starts where its header does.
    start = lines[0].index("HANDSHAKE")
    assert all(line[start:].startswith("ok") for line in lines[1:4])
    assert lines[-1] == "All ok: 2 appliance(s) answered and the broker is reachable."
    assert report.ok


def test_render_failures_give_their_reasons_under_the_table():
    refused = ApplianceRow(name="coffee", host="127.0.0.1", address="127.0.0.1:9", transport="tls",
                           problem="connection refused", detail="cannot connect to wss://127.0.0.1:9/homeconnect: "
                           "[Errno 111] Connection refused", features=200)  # fmt: skip
    wrong = ApplianceRow(name="washer", host="washer", address="", transport="aes", problem="wrong key",
                         detail="check its key and iv in devices.json", key="wrong", features=300)  # fmt: skip
    broker = BrokerRow("localhost", 1883, problem="connection refused",
                       detail="connection refused: nothing listens on that port")  # fmt: skip
    report = CheckReport([refused, wrong], broker, ["devices.json: appliance 3: 'key' must be 43 characters"])
    text = render(report, arrow="->")
    lines = text.splitlines()
    assert "127.0.0.1:9" in lines[1] and "->" not in lines[1]  # an address shown once when host is one
    assert "failed: connection refused" in lines[1] and "unknown" in lines[1]
    assert "washer -> ?" in lines[2] and "failed: wrong key" in lines[2] and " wrong " in lines[2]
    assert "failed: connection refused" in lines[3] and lines[3].rstrip().endswith("-")
    assert "coffee: cannot connect to wss://127.0.0.1:9/homeconnect: [Errno 111] Connection refused" in lines
    assert "washer: check its key and iv in devices.json" in lines
    assert "MQTT broker localhost:1883: connection refused: nothing listens on that port" in lines
    assert "devices.json: appliance 3: 'key' must be 43 characters" in lines
    assert lines[-1] == "Not ok: 0 of 2 appliance(s) answered and the broker is not."
    assert not report.ok


def test_a_report_without_appliances_is_not_ok():
    assert not CheckReport([], BrokerRow("localhost", 1883, version="5.0"), []).ok
    assert not CheckReport([_ok_row()], BrokerRow("localhost", 1883, version="5.0"), ["entry 2 left out"]).ok


# -- hc2mqtt --check over real sockets ---------------------------------------------------


def _check(devices: Path, broker_port: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "hc2mqtt.py", "--check", "--devices_file", str(devices),
         "--mqtt_host", "127.0.0.1", "--mqtt_port", str(broker_port)],
        cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )  # fmt: skip


def _row(output: str, name: str) -> str:
    table = output.split("\n\n")[0].splitlines()  # the reasons follow after an empty line
    rows = [line for line in table if line.split()[:1] == [name]]
    assert len(rows) == 1, output
    return rows[0]


def _no_secrets(output: str, entries) -> None:
    for entry in entries:
        assert entry.key not in output and entry.psk.hex() not in output
        if entry.iv:
            assert entry.iv not in output and entry.iv_bytes.hex() not in output


def test_everything_ok_exits_0(tmp_path, broker, sims):
    _, dishwasher = sims(DISHWASHER, "dishwasher", "tls")
    _, washer = sims(WASHER, "washer", "aes")
    devices = tmp_path / "devices.json"
    save_devices(devices, [dishwasher, washer], merge=False)
    result = _check(devices, broker.port)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for entry in (dishwasher, washer):
        cells = _row(out, entry.name).split()
        assert cells[1] == f"127.0.0.1:{entry.port}"  # the host is an address: shown once
        assert cells[2] == entry.transport
        assert cells[3:5] == ["ok", "ok"]  # handshake, key
        assert cells[5] == str(len(entry.profile.features))
        assert cells[6] == "3.2.10.20200911163726"  # the simulator's swVersion
    broker_row = _row(out, "MQTT")
    assert f"127.0.0.1:{broker.port}" in broker_row and " ok " in broker_row and "MQTT 5.0" in broker_row
    assert out.splitlines()[-1] == "All ok: 2 appliance(s) answered and the broker is reachable."
    _no_secrets(out + result.stderr, [dishwasher, washer])


@pytest.mark.parametrize("transport", ["tls", "aes"])
def test_unreachable_and_wrong_key_exit_1_and_say_why(tmp_path, broker, sims, transport):
    _, good = sims(DISHWASHER, "dishwasher", "tls")
    _, coffee = sims(COFFEE, "coffeemaker", transport)
    wrong = dataclasses.replace(coffee, key=b64(os.urandom(32)))
    _, washer = sims(WASHER, "washer", "aes")
    gone = dataclasses.replace(washer, port=free_port())  # nothing listens there
    devices = tmp_path / "devices.json"
    save_devices(devices, [good, wrong, gone], merge=False)
    result = _check(devices, broker.port)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert _row(out, "dishwasher").split()[3:5] == ["ok", "ok"]
    row = _row(out, "coffeemaker")
    assert "failed: wrong key" in row and row.split()[6] == "wrong"
    row = _row(out, "washer")
    assert "failed: connection refused" in row and row.split()[6] == "unknown"
    lines = out.splitlines()
    assert any(line.startswith("coffeemaker: ") and "devices.json" in line and "check its key" in line for line in lines)
    assert any(line.startswith("washer: cannot connect to ws://127.0.0.1:") and "refused" in line for line in lines)
    assert " ok " in _row(out, "MQTT")
    assert lines[-1] == "Not ok: 1 of 3 appliance(s) answered and the broker is reachable."
    _no_secrets(out + result.stderr, [good, wrong, coffee, washer])


def test_broker_down_is_its_rows_reason(tmp_path, sims):
    _, dishwasher = sims(DISHWASHER, "dishwasher", "tls")
    devices = tmp_path / "devices.json"
    save_devices(devices, [dishwasher], merge=False)
    port = free_port()
    result = _check(devices, port)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert _row(out, "dishwasher").split()[3:5] == ["ok", "ok"]
    assert "failed: connection refused" in _row(out, "MQTT")
    assert (f"MQTT broker 127.0.0.1:{port}: connection refused: nothing listens on that port; "
            "is the broker running, is mqtt_port right?") in out.splitlines()  # fmt: skip
    assert out.splitlines()[-1] == "Not ok: 1 of 1 appliance(s) answered and the broker is not."
    _no_secrets(out + result.stderr, [dishwasher])


def test_an_unreadable_devices_file_still_checks_the_broker(tmp_path, broker):
    result = _check(tmp_path / "nope.json", broker.port)
    assert result.returncode == 1, result.stdout + result.stderr
    assert " ok " in _row(result.stdout, "MQTT")
    assert "nope.json" in result.stdout
    assert "Traceback" not in result.stderr


# -- in process: what the subprocess tests cannot set up -------------------------------------


def test_an_appliance_whose_host_does_not_resolve_is_found_by_its_haid(tmp_path, broker, sims):
    from hcpy.app.check import run_check
    from hcpy.mqtt.bridge import BridgeSettings
    from hcpy.mqtt.link import MqttSettings
    from hcpy.protocol.mdns import Found

    sim, entry = sims(DISHWASHER, "dishwasher", "tls")
    ha_id = "SIEMENS-SN658X06TE-68A40E000001"
    lost = dataclasses.replace(entry, host="dishwasher.invalid", ha_id=ha_id)
    asked = []

    def resolver(wanted):
        asked.append(wanted)
        return Found(ha_id, "SIEMENS", "Dishwasher", "127.0.0.1", sim.port, ha_id)

    devices = tmp_path / "devices.json"
    save_devices(devices, [lost], merge=False)
    report = run_check(str(devices), MqttSettings(host="127.0.0.1", port=broker.port),
                       BridgeSettings(device_id="00112233aabbccdd", resolver=resolver))  # fmt: skip
    assert asked == [ha_id]
    (row,) = report.appliances
    assert row.ok and row.key == "ok" and row.found_by_mdns and row.address == f"127.0.0.1:{sim.port}"
    assert report.ok
    assert _row(render(report), "dishwasher").split()[1:5] == ["dishwasher.invalid", "→", f"127.0.0.1:{sim.port}", "(mDNS)"]


def test_a_broker_refusing_the_login_names_the_settings(tmp_path, pki):
    from support import Broker

    from hcpy.app.check import check_broker
    from hcpy.mqtt.link import MqttSettings

    broker = Broker(tmp_path, f"allow_anonymous false\npassword_file {pki / 'passwords'}\n")
    broker.start()
    try:
        row = check_broker(MqttSettings(host="127.0.0.1", port=broker.port, username="hcpy", password="wrong"), "hcpy-check-x", 20)
    finally:
        broker.stop()
    assert not row.ok
    assert row.problem.startswith("refused (")
    assert row.detail.startswith("refused the connection: ") and "check mqtt_username/mqtt_password" in row.detail
