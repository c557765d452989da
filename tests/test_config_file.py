"""config.ini mistakes are said with what to do (issue 10, part 7): the lines a user sees."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hcpy.mqtt.config_file import ConfigFileMissing, read_config

ROOT = Path(__file__).resolve().parents[1]
KNOWN = ["mqtt_host", "mqtt_port", "mqtt_clientname", "ha_discovery", "devices_file"]


def test_unknown_keys_are_named_with_the_closest_known_one(tmp_path):
    config = tmp_path / "config.ini"
    config.write_text('mqtt_hots = "broker"\nmqtt_port = 1884\nha_discover = True\nwhatever_this_is = 1\n')
    values, problems = read_config(config, KNOWN)
    assert values == {"mqtt_hots": "broker", "mqtt_port": 1884, "ha_discover": True, "whatever_this_is": 1}
    assert problems == [
        f"{config}: ignored the unknown setting 'mqtt_hots'; did you mean mqtt_host?",
        f"{config}: ignored the unknown setting 'ha_discover'; did you mean ha_discovery?",
        f"{config}: ignored the unknown setting 'whatever_this_is'; hc2mqtt --help lists the settings",
    ]


def test_a_missing_file_says_to_copy_the_example(tmp_path):
    with pytest.raises(ConfigFileMissing, match="copy config/config.ini.example to it"):
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
