"""`hc-login scan` when its results cannot go into devices.json: said, and the file left as it is.

Real mDNS on loopback, as in tests/test_mdns.py (python-zeroconf bound to
127.0.0.1, random haIds): a scan before there is a devices.json, and one
that would have to rewrite a devices.json holding parts hcpy cannot read.
"""

from __future__ import annotations

import json

from click.testing import CliRunner
from support import DISHWASHER, b64, profile_files, simulated
from test_mdns import LOOPBACK, random_ha_id

from hcpy.app.login_cli import main as hc_login_main
from hcpy.appliance.devices import save_devices
from hcpy.appliance.entry import entry_from_profile
from hcpy.appliance.profile_xml import parse_profile
from hcpy.simulator.advertise import Advertiser


def _scan(path, seconds: str):
    return CliRunner().invoke(
        hc_login_main, ["--scan", "--devices", str(path), "--scan-interface", "127.0.0.1", "--scan-time", seconds]
    )


def test_a_scan_before_there_is_a_devices_file_lists_what_it_heard_and_says_to_get_keys_first(tmp_path):
    profile = parse_profile(*profile_files(DISHWASHER))
    sim, _ = simulated(profile, "dishwasher")
    advertiser = Advertiser(LOOPBACK)
    try:
        ha_id = random_ha_id()
        advertiser.add(sim, ha_id)
        path = tmp_path / "devices.json"
        result = _scan(path, "4")  # nothing to wait for: it listens its whole time
    finally:
        advertiser.close()
        sim.stop()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["haId", "brand", "type", "address"]
    assert any(line.split()[:1] == [ha_id] for line in lines), lines
    assert lines[-1] == f"{path} does not exist yet: get the keys first (hc-login or hc-login --import), then scan again."
    assert not path.exists()


def test_a_devices_file_with_parts_hcpy_cannot_read_is_not_rewritten(tmp_path):
    profile = parse_profile(*profile_files(DISHWASHER))
    sim, _ = simulated(profile, "dishwasher")
    advertiser = Advertiser(LOOPBACK)
    try:
        ha_id = random_ha_id()
        path = tmp_path / "devices.json"
        save_devices(path, [entry_from_profile(profile, key=b64(bytes(32)), ha_id=ha_id, name="dishwasher")], merge=False)
        raw = json.loads(path.read_text())
        raw[0]["features"]["0x20F"] = {"name": "BSH.Common.Status.Custom"}  # a hand edit hcpy cannot read
        path.write_text(json.dumps(raw))
        before = path.read_text()
        advertiser.add(sim, ha_id)
        result = _scan(path, "20")  # ends as soon as the one appliance is heard
    finally:
        advertiser.close()
        sim.stop()
    assert result.exit_code == 1, result.output
    assert (
        f"Error: {path} has parts hcpy cannot read (see the warnings above) that rewriting it would drop, so it was"
        f" not changed; set these by hand: dishwasher: host {ha_id} -> 127.0.0.1, port default -> {sim.port}"
    ) in " ".join(result.output.split())
    assert path.read_text() == before
