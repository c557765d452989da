"""config.ini mistakes said with the fix (issue 21, item 3): the file, the line, the setting and what to write.

configobj's own words ("Parse error from unrepr-ing value at line 8") never
reach the user; a value click would have taken (`mqtt_port = "1883"`) is
taken with a warning saying how to write it; a port out of range is refused
at start, from the command line and from config.ini alike. A password's
value is never repeated.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hcpy.app.config_file import ConfigFileInvalid, read_config
from hcpy.app.settings import OPTION_DEFAULTS

ROOT = Path(__file__).resolve().parents[1]


def _read(tmp_path: Path, text: str):
    config = tmp_path / "config.ini"
    config.write_text(text)
    return config, read_config(config, OPTION_DEFAULTS)


def _refused(tmp_path: Path, text: str) -> tuple[Path, list[str]]:
    config = tmp_path / "config.ini"
    config.write_text(text)
    with pytest.raises(ConfigFileInvalid) as raised:
        read_config(config, OPTION_DEFAULTS)
    return config, str(raised.value).splitlines()


@pytest.mark.parametrize(
    ("line", "sentence"),
    [
        ("mqtt_host = localhost", '(mqtt_host): text values need quotes: mqtt_host = "localhost"'),
        ("mqtt_host = 192.168.1.2", '(mqtt_host): text values need quotes: mqtt_host = "192.168.1.2"'),
        ("devices_file = ./config/devices.json  # mine",
         '(devices_file): text values need quotes: devices_file = "./config/devices.json"'),
        ("ha_discovery = yes", "(ha_discovery): yes cannot be read; booleans are True or False, without quotes: "
                               "ha_discovery = True"),
        ("publish_summary = off", "(publish_summary): off cannot be read; booleans are True or False, without "
                                  "quotes: publish_summary = False"),
        ("mqtt_port = abc", "(mqtt_port): abc cannot be read; mqtt_port is a port from 1 to 65535, without "
                            "quotes: mqtt_port = 1883"),
    ],
)  # fmt: skip
def test_a_line_configobj_cannot_read_names_file_line_setting_and_what_to_write(tmp_path, line, sentence):
    config, said = _refused(tmp_path, f'# hc2mqtt\ndebug = False\n{line}\nmqtt_prefix = "homeconnect/"\n')
    assert said == [f"{config}, line 3 {sentence}"]


def test_every_unreadable_line_is_said_at_once(tmp_path):
    config, said = _refused(tmp_path, "mqtt_host = localhost\nha_discovery = yes\nmqtt_port = abc\n")
    assert [s.split(" (")[0] for s in said] == [f"{config}, line {n}" for n in (1, 2, 3)]


def test_a_password_is_never_repeated(tmp_path):
    _, said = _refused(tmp_path, "mqtt_password = pa$$word\n")
    assert said[0].endswith('(mqtt_password): text values need quotes: mqtt_password = "…"')
    assert "pa$$word" not in said[0]
    _, said = _refused(tmp_path, "mqtt_pasword = s3cret!\n")  # a typo: no setting's name, so no kind known
    assert "s3cret" not in said[0] and "values are Python literals" in said[0]
    config, (values, problems, _) = _read(tmp_path, "mqtt_password = 123456\n")
    assert values["mqtt_password"] == "123456"
    assert problems == [f'{config}, line 1 (mqtt_password): its value is taken as text; text values need quotes: '
                        'mqtt_password = "…"']  # fmt: skip


def test_lines_that_are_no_setting_and_settings_given_twice(tmp_path):
    config, said = _refused(tmp_path, 'mqtt_host = "a"\nsecret\n')
    assert said == [f"{config}, line 2: neither a setting (name = value) nor a [section]; values are Python "
                    'literals: text in quotes ("…"), numbers without, True or False, None']  # fmt: skip
    config, said = _refused(tmp_path, 'mqtt_host = "a"\nmqtt_host = "b"\n')
    assert said == [f"{config}, line 2: mqtt_host is set a second time; keep one of the two lines"]


def test_a_sections_unreadable_value_says_how_values_are_written(tmp_path):
    config, said = _refused(tmp_path, "mqtt_port = 1883\n[dishwasher]\nenergy_meter = mqtt:plug\n")
    assert said == [f"{config}, line 3 (energy_meter): values are Python literals: text in quotes (\"…\"), "
                    "numbers without, True or False, None"]  # fmt: skip


@pytest.mark.parametrize(
    ("line", "value", "advice"),
    [
        ('mqtt_port = "1883"', 1883, "'1883' is taken as 1883; mqtt_port is a port from 1 to 65535, without "
                                     "quotes: mqtt_port = 1883"),
        ('ha_discovery = "yes"', True, "'yes' is taken as True; booleans are True or False, without quotes: "
                                       "ha_discovery = True"),
        ("publish_as_json = 1", True, "1 is taken as True; booleans are True or False, without quotes: "
                                      "publish_as_json = True"),
        ("mqtt_host = 5", "5", '5 is taken as text; text values need quotes: mqtt_host = "5"'),
    ],
)  # fmt: skip
def test_a_value_of_another_kind_that_click_took_is_taken_with_how_to_write_it(tmp_path, line, value, advice):
    config, (values, problems, _) = _read(tmp_path, f"debug = False\n{line}\n")
    name = line.split()[0]
    assert values[name] == value
    assert problems == [f"{config}, line 2 ({name}): {advice}"]


def test_mqtt_protocol_5_as_a_number_is_taken_as_meant(tmp_path):
    _, (values, problems, _) = _read(tmp_path, "mqtt_protocol = 5\n")
    assert values["mqtt_protocol"] == "5" and problems == []


@pytest.mark.parametrize(
    ("line", "advice"),
    [
        ("mqtt_port = 99999", "99999 cannot be used; mqtt_port is a port from 1 to 65535, without quotes: "
                              "mqtt_port = 1883"),
        ("mqtt_port = 0", "0 cannot be used; mqtt_port is a port from 1 to 65535, without quotes: mqtt_port = 1883"),
        ("http_port = 99999", "99999 cannot be used; http_port is a port from 0 to 65535 (0: no console), without "
                              "quotes: http_port = 8080"),
        ('mqtt_port = "abc"', "'abc' cannot be used; mqtt_port is a port from 1 to 65535, without quotes: "
                              "mqtt_port = 1883"),
        ("mqtt_port = 1883.5", "1883.5 cannot be used; mqtt_port is a port from 1 to 65535, without quotes: "
                               "mqtt_port = 1883"),
        ('ha_discovery = "maybe"', "'maybe' cannot be used; booleans are True or False, without quotes: "
                                   "ha_discovery = True"),
        ('demo_speed = "fast"', "'fast' cannot be used; demo_speed is a number above 0, without quotes: "
                                "demo_speed = 60"),
    ],
)  # fmt: skip
def test_a_value_no_setting_of_its_kind_takes_is_refused_with_what_to_write(tmp_path, line, advice):
    config, said = _refused(tmp_path, f"debug = False\n{line}\n")
    assert said == [f"{config}, line 2 ({line.split()[0]}): {advice}"]


# -- hc2mqtt as a user runs it ----------------------------------------------------------------------


def _hc2mqtt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "hc2mqtt.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=30)  # fmt: skip


def test_hc2mqtt_says_the_line_and_the_fix_and_exits_2(tmp_path):
    config = tmp_path / "config.ini"
    config.write_text(f'devices_file = "{tmp_path / "devices.json"}"\nmqtt_host = localhost\n')
    done = _hc2mqtt("--config", str(config))
    assert done.returncode == 2
    assert f'Error: {config}, line 2 (mqtt_host): text values need quotes: mqtt_host = "localhost"' in done.stderr
    assert "unrepr" not in done.stderr and "Traceback" not in done.stderr


def test_a_flag_given_as_a_number_no_longer_crashes_hc2mqtt(tmp_path):
    config = tmp_path / "config.ini"
    config.write_text(f'devices_file = "{tmp_path / "devices.json"}"\npublish_as_json = 1\n')
    done = _hc2mqtt("--config", str(config))
    assert "Traceback" not in done.stderr, done.stderr
    assert "(publish_as_json): 1 is taken as True; booleans are True or False" in done.stderr
    assert "no such file; run hc-login" in done.stderr  # it went on, to the devices file


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (("--mqtt_port", "99999"), "Error: mqtt_port: must be a port from 1 to 65535, not 99999"),
        (("--mqtt_port", "0"), "Error: mqtt_port: must be a port from 1 to 65535, not 0"),
        (("--http_port", "99999"), "99999 is not in the range 0<=x<=65535"),
        (("--demo", "--mqtt_port", "70000"), "Error: mqtt_port: must be a port from 1 to 65535, not 70000"),
        (("--check", "--mqtt_port", "70000"), "Error: mqtt_port: must be a port from 1 to 65535, not 70000"),
    ],
)
def test_a_port_out_of_range_on_the_command_line_is_refused_at_start(tmp_path, args, sentence):
    done = _hc2mqtt(*args, "--devices_file", str(tmp_path / "devices.json"))
    assert done.returncode == 2 and sentence in done.stderr, done.stderr
    assert "nothing listens" not in done.stderr + done.stdout


@pytest.mark.parametrize("name", ["mqtt_port", "http_port"])
def test_a_port_out_of_range_in_config_ini_is_refused_at_start(tmp_path, name):
    config = tmp_path / "config.ini"
    config.write_text(f'devices_file = "{tmp_path / "devices.json"}"\n{name} = 99999\n')
    done = _hc2mqtt("--config", str(config))
    assert done.returncode == 2
    assert f"Error: {config}, line 2 ({name}): 99999 cannot be used; {name} is a port from" in done.stderr


@pytest.mark.parametrize(
    ("line", "sentence"),
    [
        ("topic_layout = osresearch", '(topic_layout): osresearch cannot be read; topic_layout is one of "auto", '
                                      '"hcpy2-0", "osresearch", "publishing-modes", in quotes: '
                                      'topic_layout = "osresearch"'),
        ("mqtt_protocol = 4", '(mqtt_protocol): 4 cannot be used; mqtt_protocol is one of "auto", "5", "3.1.1", in '
                              'quotes: mqtt_protocol = "auto"'),
        ("mqtt_host = None", '(mqtt_host): None cannot be used; text values need quotes: mqtt_host = "localhost"'),
    ],
)  # fmt: skip
def test_a_word_out_of_a_few_or_no_text_at_all_says_which_ones(tmp_path, line, sentence):
    config, said = _refused(tmp_path, f"{line}\n")
    assert said == [f"{config}, line 1 {sentence}"]


def test_mqtt_protocol_5_as_a_json_number_is_taken_as_meant(tmp_path):
    config = tmp_path / "config.json"
    config.write_text('{"mqtt_protocol": 5}')
    values, problems, _ = read_config(config, OPTION_DEFAULTS)
    assert values["mqtt_protocol"] == "5" and problems == []
