"""hc2mqtt's settings built without click (hcpy.app.settings): sources, precedence and one clear error per bad value."""

from __future__ import annotations

import json
import logging

import pytest

from hcpy.app.settings import DEMO_HTTP_PORT, Mode, Options, Settings, SettingsError, Source, build
from hcpy.homeassistant.announcer import HomeAssistant
from hcpy.mqtt.screening import ScreenLimits
from hcpy.mqtt.topics import Layout


def settings(tmp_path, sources=None, **values) -> Settings:
    values.setdefault("devices_file", str(tmp_path / "devices.json"))
    sources = {"devices_file": Source.DEFAULT, **(sources or {})}
    return build(Options(values, sources))


def test_the_defaults(tmp_path):
    built = settings(tmp_path)
    mqtt = built.mqtt
    assert (mqtt.host, mqtt.port, mqtt.prefix, mqtt.clientname) == ("localhost", 1883, "homeconnect/", None)
    assert built.mode is Mode.BRIDGE and built.console.port == 0 and built.appliances == ()
    assert built.bridge.discovery is None  # no Home Assistant unless asked
    assert built.bridge.publish.layout is Layout.HCPY and built.bridge.publish.summary
    assert built.bridge.command_limits == ScreenLimits()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("mqtt_port", 70000),
        ("mqtt_port", "1883"),
        ("mqtt_port", True),
        ("mqtt_session_expiry", -1),
        ("mqtt_protocol", "4"),
        ("max_command_bytes", 10),
        ("http_port", 65536),
        ("demo_speed", 0),
        ("topic_layout", "mine"),
        ("ha_discovery", "yes"),
        ("mqtt_host", 5),
        ("mqtt_username", 5),
    ],
)
def test_a_bad_value_is_one_sentence_naming_its_option(tmp_path, option, value):
    with pytest.raises(SettingsError) as raised:
        settings(tmp_path, **{option: value})
    assert raised.value.option == option
    sentence = str(raised.value)
    assert sentence.startswith(f"{option}: ") and repr(value) in sentence and "\n" not in sentence


def test_a_bad_password_is_named_but_not_shown(tmp_path):
    with pytest.raises(SettingsError, match=r"^mqtt_password: must be text, not a hidden value$"):
        settings(tmp_path, mqtt_password=123456)


def test_an_unknown_option_is_named(tmp_path):
    with pytest.raises(SettingsError, match=r"^mqtt_hots: no such option"):
        settings(tmp_path, mqtt_hots="broker")


def test_two_devices_files_are_refused(tmp_path):
    with pytest.raises(SettingsError, match=r"two devices files: a.json and --devices_file b.json; give one"):
        given = {"devices_file": Source.COMMAND_LINE}
        settings(tmp_path, devices_argument="a.json", devices_file="b.json", sources=given)
    # The argument alone is the devices file.
    assert settings(tmp_path, devices_argument="a.json").devices_file == "a.json"


def test_mqtt_conf_gives_what_nothing_else_gives(tmp_path, caplog):
    devices = tmp_path / "devices.json"
    conf = {"name": "MQTT_CONF", "host": "broker.lan", "port": "1884", "topic_prefix": "hc2mqtt/", "username": ""}
    devices.write_text(json.dumps([conf]))
    caplog.set_level(logging.INFO)
    built = settings(tmp_path, mqtt_host="from-the-file", sources={"mqtt_host": Source.CONFIG_FILE})
    assert (built.mqtt.host, built.mqtt.port, built.mqtt.prefix) == ("from-the-file", 1884, "hc2mqtt/")
    assert "MQTT_CONF entry: mqtt_port, mqtt_prefix" in caplog.text
    # The publishing-modes fork's file: its layout, and no summary unless asked for.
    assert built.bridge.publish.layout is Layout.PUBLISHING_MODES and not built.bridge.publish.summary
    devices.write_text(json.dumps(conf))
    with pytest.raises(SettingsError, match=r"devices.json is one JSON object, not the list") as raised:
        settings(tmp_path)
    assert raised.value.option == "devices_file"


def test_a_bad_mqtt_conf_value_names_its_key(tmp_path):
    (tmp_path / "devices.json").write_text(json.dumps([{"name": "MQTT_CONF", "port": "many"}]))
    with pytest.raises(Exception, match="MQTT_CONF: port must be a whole number"):
        settings(tmp_path)


def test_home_assistant_takes_the_discovery_files_prefix_unless_one_is_given(tmp_path):
    discovery = tmp_path / "discovery.yaml"
    discovery.write_text("HA_DISCOVERY_PREFIX: ha-from-file\n")
    built = settings(tmp_path, ha_discovery=True, discovery_file=str(discovery), events_as_sensors=True)
    assert isinstance(built.bridge.discovery, HomeAssistant)
    assert built.bridge.discovery.options.prefix == "ha-from-file" and built.bridge.discovery.events_as_sensors
    assert built.bridge.discovery.config_filter == "ha-from-file/+/hcpy/+/config"
    given = settings(tmp_path, ha_discovery=True, discovery_file=str(discovery), ha_discovery_prefix="mine",
                     sources={"ha_discovery_prefix": Source.ENVIRONMENT})  # fmt: skip
    assert given.bridge.discovery.options.prefix == "mine"  # type: ignore[union-attr]


def test_the_demos_console_and_prefix_come_from_the_command_line_only(tmp_path):
    from_file = {"http_port": Source.CONFIG_FILE, "http_host": Source.CONFIG_FILE, "mqtt_prefix": Source.CONFIG_FILE}
    demo = settings(tmp_path, demo=True, http_port=9999, http_host="0.0.0.0", mqtt_prefix="real/", sources=from_file)
    assert demo.mode is Mode.DEMO and not demo.keep_prefix
    assert (demo.console.host, demo.console.port, demo.console.required) == ("127.0.0.1", DEMO_HTTP_PORT, False)
    asked = settings(tmp_path, demo=True, check=True, http_port=9100, mqtt_prefix="mine/")
    assert asked.mode is Mode.DEMO and asked.keep_prefix  # the demo wins over --check
    assert (asked.console.port, asked.console.required) == (9100, True)
    # Not the demo: the config file's console is the bridge's.
    bridge = settings(tmp_path, http_port=9999, sources=from_file)
    assert (bridge.console.port, bridge.console.required) == (9999, True)
    assert settings(tmp_path, check=True).mode is Mode.CHECK
