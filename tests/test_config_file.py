"""config.ini mistakes are said with what to do (issue 10, part 7): the lines a user sees."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hcpy.app.config_file import ConfigFileMissing, read_config

ROOT = Path(__file__).resolve().parents[1]
KNOWN = ["mqtt_host", "mqtt_port", "mqtt_clientname", "ha_discovery", "devices_file"]


def test_unknown_keys_are_named_with_the_closest_known_one(tmp_path):
    config = tmp_path / "config.ini"
    config.write_text('mqtt_hots = "broker"\nmqtt_port = 1884\nha_discover = True\nwhatever_this_is = 1\n')
    values, problems, _sections = read_config(config, KNOWN)
    assert values == {"mqtt_hots": "broker", "mqtt_port": 1884, "ha_discover": True, "whatever_this_is": 1}
    assert problems == [
        f"{config}: ignored the unknown setting 'mqtt_hots'; did you mean mqtt_host?",
        f"{config}: ignored the unknown setting 'ha_discover'; did you mean ha_discovery?",
        f"{config}: ignored the unknown setting 'whatever_this_is'; hc2mqtt --help lists the settings",
    ]


def test_a_missing_file_says_to_copy_the_example(tmp_path):
    with pytest.raises(ConfigFileMissing, match=r"copy config/config\.ini\.example to it"):
        read_config(tmp_path / "config.ini", KNOWN)


def run(*args: str) -> str:
    done = subprocess.run([sys.executable, "hc2mqtt.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    return done.stdout + done.stderr


def test_hc2mqtt_warns_about_a_typo_before_anything_else(tmp_path):
    config = tmp_path / "config.ini"
    config.write_text(f'devices_file = "{tmp_path / "none.json"}"\nmqtt_hots = "broker"\n')
    output = run("--config", str(config))
    assert f"WARNING hcpy: {config}: ignored the unknown setting 'mqtt_hots'; did you mean mqtt_host?" in output
    assert "no such file; run hc-login" in output


def test_hc2mqtt_with_a_missing_config_file_says_what_to_do(tmp_path):
    output = run("--config", str(tmp_path / "config.ini"))
    assert f"{tmp_path / 'config.ini'} does not exist: copy config/config.ini.example to it and edit it" in output


def test_sections_are_per_appliance_settings_and_no_unknown_keys(tmp_path):
    config = tmp_path / "config.ini"
    config.write_text(
        'mqtt_port = 1884\n'
        '[dishwasher]\n'
        'energy_meter = "mqtt:tele/dishwasher-plug/SENSOR ENERGY.Total kWh"\n'
        'water_full_scale_l = 12\n'
        '[[rename]]\n'
        'default = "short"\n'
    )
    values, problems, sections = read_config(config, KNOWN)
    assert (values, problems) == ({"mqtt_port": 1884}, [])
    assert sections == {
        "dishwasher": {
            "energy_meter": "mqtt:tele/dishwasher-plug/SENSOR ENERGY.Total kWh",
            "water_full_scale_l": 12,
            "rename": {"default": "short"},
        }
    }


def test_a_section_configures_that_appliances_meter(tmp_path, broker, subscriber):
    """config.ini's [dishwasher] gives it an energy meter: hc2mqtt offers Home Assistant its energy sensors."""
    import json
    import signal

    from support import DISHWASHER, profile_files, simulated

    from hcpy.appliance.entry import entry_to_json
    from hcpy.appliance.profile_xml import parse_profile

    sim, entry = simulated(parse_profile(*profile_files(DISHWASHER)), "dishwasher")
    try:
        devices = tmp_path / "devices.json"
        devices.write_text(json.dumps([entry_to_json(entry)]))
        config = tmp_path / "config.ini"
        config.write_text(
            f'devices_file = "{devices}"\nmqtt_host = "127.0.0.1"\nmqtt_port = {broker.port}\nha_discovery = True\n'
            '[dishwasher]\nenergy_meter = "mqtt:tele/dishwasher-plug/SENSOR ENERGY.Total kWh"\n'
            '[oven]\nwater_full_scale_l = 12\n'
        )
        daemon = subprocess.Popen([sys.executable, "hc2mqtt.py", "--config", str(config)], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        try:
            energy = json.loads(subscriber.wait("homeassistant/sensor/hcpy/dishwasher_run_energy_total/config", timeout=20))
            assert (energy["device_class"], energy["state_class"]) == ("energy", "total_increasing")
            assert "homeassistant/sensor/hcpy/dishwasher_run_water_total/config" not in subscriber.last  # no water meter
        finally:
            daemon.send_signal(signal.SIGTERM)
            output, _ = daemon.communicate(timeout=15)
    finally:
        sim.stop()
    # hc2mqtt follows devices.json: an oven added later gets the section.
    assert f"the config file's section [oven] names no appliance of {devices} yet; it applies to one added under that name" in output
    assert "unknown setting" not in output
