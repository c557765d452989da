"""hc2mqtt refuses to start, with one clear line and exit status 2, when there is nothing it could bridge.

In process: `daemon.run` returns before it connects to anything, so no
broker is needed; what a user reads is the log line.
"""

from __future__ import annotations

import logging

from support import DISHWASHER, profile_files

from hcpy.app import daemon
from hcpy.appliance.devices import save_devices
from hcpy.appliance.entry import entry_from_profile
from hcpy.appliance.profile_xml import parse_profile
from hcpy.mqtt.bridge import BridgeSettings
from hcpy.mqtt.link import MqttSettings

KEY = "A" * 43


def _devices(tmp_path, *names: str):
    profile = parse_profile(*profile_files(DISHWASHER))
    entries = [entry_from_profile(profile, key=KEY, host="127.0.0.1", name=name) for name in names]
    path = tmp_path / "devices.json"
    save_devices(path, entries, merge=False)
    return str(path)


def _run(devices: str, names=(), sections=None) -> int:
    # Port 1: nothing is ever connected to; every refusal comes before the broker.
    return daemon.run(devices, MqttSettings(host="127.0.0.1", port=1), BridgeSettings(resolver=None), names, sections)


def _said(caplog) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "hcpy"]


def test_appliance_names_devices_json_lacks_are_named_and_nothing_starts(tmp_path, caplog):
    devices = _devices(tmp_path, "dishwasher")
    with caplog.at_level(logging.INFO, logger="hcpy"):
        assert _run(devices, names=("dishwasher", "oven", "fridge")) == 2
    assert _said(caplog) == [(logging.ERROR, f"{devices} has no appliance named fridge, oven")]


def test_a_devices_file_without_appliances_says_to_run_hc_login(tmp_path, caplog):
    devices = _devices(tmp_path)
    with caplog.at_level(logging.INFO, logger="hcpy"):
        assert _run(devices) == 2
    assert _said(caplog) == [(logging.ERROR, f"{devices} lists no appliances; run hc-login first")]


def test_a_config_section_for_no_appliance_is_a_warning_before_the_refusal(tmp_path, caplog):
    devices = _devices(tmp_path)
    with caplog.at_level(logging.INFO, logger="hcpy"):
        assert _run(devices, sections={"oven": {"meter": "x"}}) == 2
    assert _said(caplog) == [
        (logging.WARNING, f"the config file's section [oven] names no appliance of {devices}; it is not used"),
        (logging.ERROR, f"{devices} lists no appliances; run hc-login first"),
    ]
