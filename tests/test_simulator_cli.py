"""`python -m hcpy.simulator` says what is wrong with its arguments or its devices file, and exits 2 (or 1).

The refusals come before it serves anything, so they run in process and
read stderr; the one where nothing could be served runs as the command a
user types.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from support import DISHWASHER, profile_files

from hcpy.appliance.devices import save_devices
from hcpy.appliance.entry import entry_from_profile
from hcpy.appliance.model import Description, Profile
from hcpy.appliance.profile_xml import parse_profile
from hcpy.simulator.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
KEY = base64.urlsafe_b64encode(bytes(range(32))).rstrip(b"=").decode()


def _devices(tmp_path: Path, *entries) -> Path:
    path = tmp_path / "devices.json"
    save_devices(path, list(entries), merge=False)
    return path


def _dishwasher(**fields):
    return entry_from_profile(parse_profile(*profile_files(DISHWASHER)), key=KEY, name="dishwasher", **fields)


def _refused(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err.strip()


@pytest.mark.parametrize(("speed", "said"), [("0", "--speed must be a positive number, not 0"),
                                             ("nan", "--speed must be a positive number, not nan")])  # fmt: skip
def test_a_speed_that_is_not_positive_is_refused(capsys, speed, said):
    assert _refused(capsys, ["--speed", speed]) == said


@pytest.mark.parametrize("host", ["0.0.0.0", "localhost", "::1"])
def test_advertising_needs_one_ipv4_address(capsys, host):
    # Announcing on every interface would put the simulator on the LAN by accident.
    said = _refused(capsys, ["--advertise", "--host", host])
    assert said == f"--advertise announces on the interface of --host: give one IPv4 address, not {host!r}"


def test_a_demo_file_that_cannot_be_written_is_named(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    said = _refused(capsys, ["--demo", str(blocker / "devices.json")])
    assert said.startswith(f"cannot write the demo devices file {blocker / 'devices.json'}: ")


def test_a_devices_file_that_is_missing_or_broken_is_named(capsys, tmp_path):
    assert "no such file; run hc-login" in _refused(capsys, ["--devices", str(tmp_path / "nope.json")])
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    assert _refused(capsys, ["--devices", str(broken)]).startswith(f"{broken}: not valid JSON")
    said = _refused(capsys, ["--devices", str(tmp_path)])  # a directory
    assert said.startswith(f"{tmp_path}: cannot be read (IsADirectoryError: ")


def test_names_the_devices_file_lacks_are_named_with_those_it_has(capsys, tmp_path):
    devices = _devices(tmp_path, _dishwasher())
    said = _refused(capsys, ["--devices", str(devices), "--name", "oven", "--name", "dishwasher"])
    assert said == f"{devices} has no appliance named 'oven'; it has: dishwasher"


def test_nothing_served_is_exit_1_after_saying_why_for_each(tmp_path):
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    empty = Profile(Description(type="Oven"), {})
    devices = _devices(
        tmp_path,
        _dishwasher(port=port),
        entry_from_profile(empty, key=KEY, name="oven", port=1),
    )
    try:
        result = subprocess.run([sys.executable, "-m", "hcpy.simulator", "--devices", str(devices)], cwd=ROOT,
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    finally:
        taken.close()
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert any(f"dishwasher: cannot serve it on 127.0.0.1 port {port}: " in line for line in lines), lines
    assert any(line.endswith(f"oven: skipped, its entry in {devices} has no features to simulate") for line in lines)
    assert lines[-1] == "no appliance could be served"
    assert KEY not in result.stderr
