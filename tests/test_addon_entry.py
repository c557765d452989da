"""The Home Assistant add-on's entry (`hcpy-addon`): its options, the Supervisor asked over real HTTP, hc2mqtt run.

The Supervisor is played by a small HTTP server on loopback answering
`GET /services/mqtt` as the real one does (supervisor/api/services.py and
api/utils.py's envelope): the token checked, the broker's data, or the
Supervisor's errors. The broker is a real mosquitto that knows one user and
password, the appliance a simulator.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support import PASSWORD, USER, Broker, Subscriber, eventually, free_port

from hcpy.app import addon, addon_options
from hcpy.app.addon_options import OPTIONS, AddonOptionsError, read
from hcpy.app.settings import OPTION_DEFAULTS
from hcpy.app.supervisor import SupervisorError, mqtt_service
from hcpy.appliance.devices import save_devices

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "supervisor-token-of-this-add-on"

# hcpy2-0's add-on (home-assistant-addon/config.yaml): its options, as the
# Supervisor saves them to /data/options.json when the user keeps the defaults.
HCPY20_OPTIONS = {
    "HCPY_DEVICES_FILE": "/config/devices.json",
    "HCPY_DISCOVERY_FILE": "/config/discovery.yaml",
    "HCPY_MQTT_HOST": "localhost",
    "HCPY_MQTT_PORT": 1883,
    "HCPY_MQTT_PREFIX": "homeconnect/",
    "HCPY_MQTT_USERNAME": "",
    "HCPY_MQTT_PASSWORD": "",
    "HCPY_MQTT_SSL": False,
    "HCPY_MQTT_CAFILE": "",
    "HCPY_MQTT_CERTFILE": "",
    "HCPY_MQTT_KEYFILE": "",
    "HCPY_MQTT_CLIENTNAME": "hcpy1",
    "HCPY_HA_DISCOVERY": True,
    "HCPY_DOMAIN_SUFFIX": "",
    "HCPY_DEBUG": False,
    "HCPY_EVENTS_AS_SENSORS": False,
}
# And its schema: the same names must keep the same types.
HCPY20_SCHEMA = {
    "HCPY_DEVICES_FILE": "str", "HCPY_DISCOVERY_FILE": "str", "HCPY_MQTT_HOST": "str", "HCPY_MQTT_PORT": "int",
    "HCPY_MQTT_PREFIX": "str", "HCPY_MQTT_USERNAME": "str", "HCPY_MQTT_PASSWORD": "password",
    "HCPY_MQTT_SSL": "bool?", "HCPY_MQTT_CAFILE": "str", "HCPY_MQTT_CERTFILE": "str", "HCPY_MQTT_KEYFILE": "str",
    "HCPY_MQTT_CLIENTNAME": "str", "HCPY_DOMAIN_SUFFIX": "str", "HCPY_HA_DISCOVERY": "bool?", "HCPY_DEBUG": "bool?",
    "HCPY_EVENTS_AS_SENSORS": "bool?",
}  # fmt: skip


# --- the options ----------------------------------------------------------------------------


def test_hcpy20s_saved_options_validate_unchanged():
    values = read(HCPY20_OPTIONS)
    assert values.warnings == []
    assert values.given == {**addon_options.config_yaml_options(), **HCPY20_OPTIONS}
    assert not values.ask_supervisor
    assert values.hc2mqtt == {
        "devices_file": "/config/devices.json",
        "discovery_file": "/config/discovery.yaml",
        "mqtt_host": "localhost",
        "mqtt_port": 1883,
        "mqtt_prefix": "homeconnect/",
        "mqtt_username": None,
        "mqtt_password": None,
        "mqtt_ssl": False,
        "mqtt_cafile": None,
        "mqtt_certfile": None,
        "mqtt_keyfile": None,
        "mqtt_clientname": "hcpy1",
        "ha_discovery": True,
        "domain_suffix": "",
        "debug": False,
        "events_as_sensors": False,
    }
    assert set(values.hc2mqtt) <= set(OPTION_DEFAULTS)


def test_the_options_keep_hcpy20s_names_and_types_and_add_only_optional_ones():
    schema = addon_options.config_yaml_schema()
    assert {name: schema[name] for name in HCPY20_SCHEMA} == HCPY20_SCHEMA
    added = {o.name: o for o in OPTIONS if o.name not in HCPY20_SCHEMA}
    assert set(added) == {"HCPY_CONFIG_FILE", "HCPY_TOPIC_LAYOUT", "HCPY_HA_DISCOVERY_PREFIX"}
    assert all(o.optional for o in added.values())
    assert added["HCPY_TOPIC_LAYOUT"].schema == "list(auto|hcpy2-0|osresearch|publishing-modes)?"
    # The two defaults that differ from hcpy2-0's, on purpose (addon_options' docstring says why).
    defaults = addon_options.config_yaml_options()
    assert {k for k in HCPY20_OPTIONS if defaults[k] != HCPY20_OPTIONS[k]} == {"HCPY_MQTT_HOST", "HCPY_MQTT_CLIENTNAME"}
    assert all(o.option is None or o.option in OPTION_DEFAULTS for o in OPTIONS)
    assert all(o.description for o in OPTIONS)


def test_an_empty_options_file_takes_every_default_and_asks_the_supervisor():
    values = read({})
    assert values.given == addon_options.config_yaml_options()
    assert values.ask_supervisor and "mqtt_host" not in values.hc2mqtt
    assert values.config_file == "/config/config.ini"
    # Left at their defaults, hcpy's own options leave the choice to config.ini and discovery.yaml.
    assert "topic_layout" not in values.hc2mqtt and "ha_discovery_prefix" not in values.hc2mqtt
    assert values.hc2mqtt["mqtt_clientname"] is None and values.hc2mqtt["mqtt_username"] is None
    # The options hcpy2-0's file always has are named as missing, in one line; the optional ones are not.
    [warning] = values.warnings
    assert "HCPY_MQTT_PORT" in warning and "HCPY_MQTT_SSL" not in warning and "HCPY_TOPIC_LAYOUT" not in warning


def test_hcpys_own_options_feed_hc2mqtt_when_set():
    values = read({"HCPY_TOPIC_LAYOUT": "osresearch", "HCPY_HA_DISCOVERY_PREFIX": "ha", "HCPY_CONFIG_FILE": "/x.ini"})
    assert values.hc2mqtt["topic_layout"] == "osresearch" and values.hc2mqtt["ha_discovery_prefix"] == "ha"
    assert values.config_file == "/x.ini" and "HCPY_CONFIG_FILE" not in values.hc2mqtt


def wrong_value(option):
    return {"str": 5, "password": 5, "int": "abc", "bool": "yes", "list": "sideways"}[option.kind]


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_every_options_wrong_type_is_a_sentence_naming_it(option):
    with pytest.raises(AddonOptionsError) as caught:
        read({**HCPY20_OPTIONS, option.name: wrong_value(option)})
    [problem] = caught.value.problems
    assert problem.startswith(f"{option.name}: must be "), problem
    if option.kind == "password":
        assert problem == "HCPY_MQTT_PASSWORD: must be text, not a hidden value"
    else:
        assert repr(wrong_value(option)) in problem


def test_the_port_sentence_and_its_range():
    for port in ("abc", 0, 65536, True, 1883.5):
        with pytest.raises(AddonOptionsError) as caught:
            read({"HCPY_MQTT_PORT": port})
        assert str(caught.value) == f"HCPY_MQTT_PORT: must be a whole number from 1 to 65535, not {port!r}"
    assert read({"HCPY_MQTT_PORT": 65535}).hc2mqtt["mqtt_port"] == 65535


def test_every_wrong_value_is_said_not_only_the_first():
    with pytest.raises(AddonOptionsError) as caught:
        read({"HCPY_MQTT_PORT": "abc", "HCPY_DEBUG": "yes", "HCPY_TOPIC_LAYOUT": "sideways", "HCPY_DEVICES_FILE": " "})
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "HCPY_DEVICES_FILE", "HCPY_MQTT_PORT", "HCPY_DEBUG", "HCPY_TOPIC_LAYOUT"]  # fmt: skip
    assert "one of auto, hcpy2-0, osresearch, publishing-modes" in caught.value.problems[-1]
    assert "must not be empty" in caught.value.problems[0]


def test_null_is_no_value_for_a_required_option_and_the_default_for_an_optional_one():
    with pytest.raises(AddonOptionsError, match=r"^HCPY_MQTT_PREFIX: must be text, not null$"):
        read({**HCPY20_OPTIONS, "HCPY_MQTT_PREFIX": None})
    assert read({**HCPY20_OPTIONS, "HCPY_MQTT_SSL": None}).hc2mqtt["mqtt_ssl"] is False


def test_unknown_keys_are_warned_not_fatal():
    values = read({**HCPY20_OPTIONS, "HCPY_MQTT_HOTS": "broker", "colour": "red"}, "/data/options.json")
    assert values.warnings == [
        "/data/options.json: ignored 'HCPY_MQTT_HOTS', which is no option of this add-on; did you mean HCPY_MQTT_HOST?",
        "/data/options.json: ignored 'colour', which is no option of this add-on",
    ]
    assert values.hc2mqtt["mqtt_host"] == "localhost"


def test_a_document_that_is_no_object_is_refused():
    with pytest.raises(AddonOptionsError, match="one JSON object"):
        read(["HCPY_DEBUG"])  # type: ignore[arg-type]


# --- a Supervisor of our own ----------------------------------------------------------------


class FakeSupervisor:
    """The Supervisor's `GET /services/mqtt` over real HTTP on loopback.

    `answer` is (status, body) for a request with the right token; one
    without it gets a bare 401, as from the Supervisor's security middleware.
    """

    def __init__(self):
        self.answer: tuple[int, bytes] = ok_answer()
        self.seen: list[tuple[str, str | None]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                auth = self.headers.get("Authorization")
                fake.seen.append((self.path, auth))
                if auth != f"Bearer {TOKEN}":  # none, or one the Supervisor does not know
                    status, body = 401, b"401: Unauthorized"
                elif self.path != "/services/mqtt":
                    status, body = envelope_error(404, "Service does not exist")
                else:
                    status, body = fake.answer
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if body.startswith(b"{") else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def ok_answer(host="127.0.0.1", port=1883, username=USER, password=PASSWORD) -> tuple[int, bytes]:
    data = {"host": host, "port": port, "ssl": False, "protocol": "3.1.1", "username": username,
            "password": password, "addon": "core_mosquitto"}  # fmt: skip
    return 200, json.dumps({"result": "ok", "data": data}).encode()


def envelope_error(status: int, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"result": "error", "message": message}).encode()


@pytest.fixture
def supervisor():
    fake = FakeSupervisor()
    yield fake
    fake.close()


def env_for(supervisor, **more):
    return {"SUPERVISOR_TOKEN": TOKEN, "HCPY_SUPERVISOR_URL": supervisor.url, **more}


def test_the_supervisors_broker_asked_with_the_token(supervisor):
    service = mqtt_service(env_for(supervisor))
    assert (service.host, service.port, service.ssl, service.username, service.password) == (
        "127.0.0.1", 1883, False, USER, PASSWORD)  # fmt: skip
    assert service.provider == "core_mosquitto"
    assert supervisor.seen == [("/services/mqtt", f"Bearer {TOKEN}")]
    assert PASSWORD not in repr(service)


def test_the_apis_second_version_names_the_app():
    from hcpy.app.supervisor import parse_answer

    body = json.dumps({"result": "ok", "data": {"host": "core-mosquitto", "port": 1883, "app": "core_mosquitto"}})
    service = parse_answer(200, body.encode(), "http://supervisor")
    assert service.provider == "core_mosquitto" and service.username is None and service.password is None


def test_a_wrong_token_is_refused_and_said(supervisor):
    with pytest.raises(SupervisorError) as caught:
        mqtt_service({**env_for(supervisor), "SUPERVISOR_TOKEN": "not-the-token"})
    assert "the Supervisor refused this add-on's token (HTTP 401)" in str(caught.value)
    assert "not-the-token" not in str(caught.value) and not caught.value.retry


def test_no_access_to_the_service_names_config_yamls_services(supervisor):
    supervisor.answer = envelope_error(403, "No access to mqtt service!")
    with pytest.raises(SupervisorError) as caught:
        mqtt_service(env_for(supervisor))
    assert "no access to its MQTT service (it said: No access to mqtt service!)" in str(caught.value)
    assert "`services`" in str(caught.value) and "HCPY_MQTT_HOST" in str(caught.value)


def test_a_missing_service_says_to_install_mosquitto(supervisor):
    supervisor.answer = envelope_error(400, "Service not enabled")
    with pytest.raises(SupervisorError) as caught:
        mqtt_service(env_for(supervisor))
    assert str(caught.value) == (
        "the Supervisor has no MQTT service (it said: Service not enabled): install and start the Mosquitto broker "
        "add-on, or set the add-on option HCPY_MQTT_HOST to the broker's host"
    )
    assert caught.value.retry


def test_an_unreachable_supervisor_is_said():
    with pytest.raises(SupervisorError, match=r"cannot reach the Supervisor at http://127\.0\.0\.1:\d+/services/mqtt"):
        mqtt_service({"SUPERVISOR_TOKEN": TOKEN, "HCPY_SUPERVISOR_URL": f"http://127.0.0.1:{free_port()}"})


def test_a_supervisor_that_never_answers_is_said():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(SupervisorError, match=r"cannot reach the Supervisor .* \(timed out\)"):
            mqtt_service({"SUPERVISOR_TOKEN": TOKEN, "HCPY_SUPERVISOR_URL": url}, timeout=0.3)


def test_an_answer_that_is_no_json_is_said(supervisor):
    supervisor.answer = (200, b"<html>a router's login page</html>")
    with pytest.raises(
        SupervisorError, match=r"answered HTTP 200 with no JSON: is http://127\.0\.0\.1:\d+ the Supervisor"
    ):
        mqtt_service(env_for(supervisor))


def test_an_answer_without_a_host_is_said(supervisor):
    supervisor.answer = (200, json.dumps({"result": "ok", "data": {"port": "x", "password": 5}}).encode())
    with pytest.raises(SupervisorError, match=r"has no usable host, port, password;"):
        mqtt_service(env_for(supervisor))


def test_without_a_token_it_is_no_add_on():
    with pytest.raises(SupervisorError, match=r"SUPERVISOR_TOKEN is not set.*set HCPY_MQTT_HOST"):
        mqtt_service({"HCPY_SUPERVISOR_URL": "http://127.0.0.1:9"})


# --- the add-on's settings ---------------------------------------------------------------------


def options_file(tmp_path, **options) -> Path:
    path = tmp_path / "options.json"
    base = {**HCPY20_OPTIONS, "HCPY_MQTT_HOST": "", "HCPY_MQTT_CLIENTNAME": "",
            "HCPY_DEVICES_FILE": str(tmp_path / "devices.json"), "HCPY_DISCOVERY_FILE": str(tmp_path / "discovery.yaml"),
            "HCPY_CONFIG_FILE": str(tmp_path / "config.ini"), "HCPY_HA_DISCOVERY": False}  # fmt: skip
    path.write_text(json.dumps({**base, **options}))
    return path


TEST_INGRESS = addon.Ingress("127.0.0.1", 8942)


def test_the_supervisors_broker_is_taken_and_logged_without_its_password(tmp_path, supervisor, caplog):
    caplog.set_level(logging.INFO, "hcpy")
    settings = addon.addon_settings(options_file(tmp_path), env_for(supervisor), TEST_INGRESS)
    mqtt = settings.mqtt
    assert (mqtt.host, mqtt.port, mqtt.username, mqtt.password, mqtt.ssl) == ("127.0.0.1", 1883, USER, PASSWORD, False)
    assert (f"MQTT broker 127.0.0.1:1883 as user {USER} (from the Supervisor's mqtt service, "
            "the Mosquitto broker add-on)") in caplog.messages  # fmt: skip
    assert PASSWORD not in caplog.text and PASSWORD not in repr(settings)
    # No devices.json yet is no error: the daemon starts with none and the console says how to add them.
    assert not (tmp_path / "devices.json").exists() and settings.devices_file == str(tmp_path / "devices.json")
    console = settings.console
    assert (console.host, console.port, console.ingress_peer, console.other_addon_configs) == (
        "127.0.0.1", 8942, "127.0.0.1", "/addon_configs")  # fmt: skip


def test_the_supervisors_peer_gets_a_console_on_every_address(tmp_path):
    settings = addon.addon_settings(options_file(tmp_path, HCPY_MQTT_HOST="broker.lan"), {}, addon.Ingress())
    assert (settings.console.host, settings.console.port, settings.console.ingress_peer) == (
        "0.0.0.0", 8942, "172.30.32.2")  # fmt: skip
    assert settings.mqtt.host == "broker.lan" and settings.mqtt.clientname is None


def test_the_add_ons_own_user_wins_over_the_supervisors(tmp_path, supervisor, caplog):
    caplog.set_level(logging.INFO, "hcpy")
    path = options_file(tmp_path, HCPY_MQTT_USERNAME="me", HCPY_MQTT_PASSWORD="mine-and-secret")
    settings = addon.addon_settings(path, env_for(supervisor), TEST_INGRESS)
    assert (settings.mqtt.host, settings.mqtt.username, settings.mqtt.password) == (
        "127.0.0.1",
        "me",
        "mine-and-secret",
    )
    assert "as user me (from the Supervisor's mqtt service" in caplog.text
    assert "mine-and-secret" not in caplog.text and PASSWORD not in caplog.text


def test_a_given_host_is_not_asked_for(tmp_path, supervisor, caplog):
    caplog.set_level(logging.INFO, "hcpy")
    path = options_file(tmp_path, HCPY_MQTT_HOST="broker.lan", HCPY_MQTT_PORT=1884, HCPY_MQTT_SSL=True)
    settings = addon.addon_settings(path, env_for(supervisor), TEST_INGRESS)
    assert (settings.mqtt.host, settings.mqtt.port, settings.mqtt.ssl) == ("broker.lan", 1884, True)
    assert supervisor.seen == []
    assert (
        "MQTT broker broker.lan:1884 over TLS without a user name (from the add-on option HCPY_MQTT_HOST)"
        in caplog.messages
    )


def test_config_ini_adds_sections_and_settings_and_the_options_win(tmp_path, caplog):
    caplog.set_level(logging.INFO, "hcpy")
    (tmp_path / "config.ini").write_text(
        'mqtt_prefix = "elsewhere/"\npublish_as_json = True\nmqtt_protocol = 5\nhttp_port = 80\n'
        "[dishwasher]\npublish_as_json = False\n"
    )
    settings = addon.addon_settings(options_file(tmp_path, HCPY_MQTT_HOST="broker.lan"), {}, TEST_INGRESS)
    assert settings.mqtt.prefix == "homeconnect/"  # the add-on's option
    assert settings.bridge.publish.as_json is True and settings.mqtt.protocol == "5"  # config.ini's
    assert settings.sections == {"dishwasher": {"publish_as_json": False}}
    assert settings.console.port == 8942
    assert f"{tmp_path / 'config.ini'}: http_port, mqtt_prefix not used: the add-on's options win" in caplog.messages


def test_a_config_ini_named_but_missing_is_said(tmp_path, caplog):
    path = options_file(tmp_path, HCPY_MQTT_HOST="broker.lan")
    addon.addon_settings(path, {}, TEST_INGRESS)
    assert f"HCPY_CONFIG_FILE {tmp_path / 'config.ini'} does not exist; going on without it" in caplog.messages


def run_logged(path, env, caplog) -> int:
    caplog.set_level(logging.INFO, "hcpy")
    return addon.run(path, env)


def test_the_entry_reports_a_wrong_token_and_exits_2(tmp_path, supervisor, caplog):
    code = run_logged(options_file(tmp_path), {**env_for(supervisor), "SUPERVISOR_TOKEN": "stale"}, caplog)
    assert code == 2
    [error] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert error.startswith("the Supervisor refused this add-on's token (HTTP 401)")


def test_the_entry_reports_a_missing_service_and_exits_2(tmp_path, supervisor, caplog):
    supervisor.answer = envelope_error(400, "Service not enabled")
    code = run_logged(options_file(tmp_path), env_for(supervisor, HCPY_SUPERVISOR_WAIT="0"), caplog)
    assert code == 2 and "install and start the Mosquitto broker add-on" in caplog.text


def test_the_entry_waits_for_the_service_to_appear(tmp_path, supervisor, caplog):
    caplog.set_level(logging.INFO, "hcpy")
    supervisor.answer = envelope_error(400, "Service not enabled")
    done = {}
    worker = threading.Thread(
        target=lambda: done.update(settings=addon.addon_settings(
            options_file(tmp_path), env_for(supervisor, HCPY_SUPERVISOR_WAIT="30"), TEST_INGRESS)),
    )  # fmt: skip
    worker.start()
    eventually(lambda: len(supervisor.seen) >= 1, what="the first question")
    supervisor.answer = ok_answer(port=1999)
    worker.join(20)
    assert done["settings"].mqtt.port == 1999
    assert "waiting up to 30 s for the Supervisor's mqtt service" in caplog.text


def test_the_entry_reports_bad_options_one_line_each(tmp_path, caplog):
    path = options_file(tmp_path, HCPY_MQTT_PORT="abc", HCPY_DEBUG="yes", HCPY_EXTRA=1)
    assert run_logged(path, {}, caplog) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["HCPY_MQTT_PORT: must be a whole number from 1 to 65535, not 'abc'",
                      "HCPY_DEBUG: must be true or false, not 'yes'"]  # fmt: skip
    assert "ignored 'HCPY_EXTRA'" in caplog.text


def test_an_options_file_that_is_no_json_is_said(tmp_path, caplog):
    path = tmp_path / "options.json"
    path.write_text('{"HCPY_MQTT_PASSWORD": "abc"')
    assert run_logged(path, {}, caplog) == 2
    assert f"{path}: not valid JSON (line 1, column" in caplog.text and "abc" not in caplog.text


@pytest.mark.parametrize(("variable", "value"), [("HCPY_INGRESS_PORT", "http"), ("HCPY_INGRESS_PEER", "supervisor")])
def test_the_test_knobs_are_checked(tmp_path, caplog, variable, value):
    assert run_logged(options_file(tmp_path, HCPY_MQTT_HOST="broker.lan"), {variable: value}, caplog) == 2
    assert f"{variable}: must be" in caplog.text


# --- end to end: `python -m hcpy.app.addon` -------------------------------------------------


@pytest.fixture
def password_broker(tmp_path, pki):
    """A mosquitto that lets anonymous subscribers in but checks every user name's password."""
    broker = Broker(tmp_path, f"allow_anonymous true\npassword_file {pki / 'passwords'}\n")
    broker.start()
    yield broker
    broker.stop()


def clean_env(**more) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HCPY_") and k != "SUPERVISOR_TOKEN"}
    return {**env, "PYTHONPATH": str(ROOT), **more}


def start_addon(cwd, env: dict[str, str]) -> subprocess.Popen[str]:
    """The add-on's entry as the container runs it; its log (stdout and stderr together) is what stop() returns."""
    return subprocess.Popen([sys.executable, "-m", "hcpy.app.addon"], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip


def stop(process) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return output


def healthz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status
    except OSError:
        return 0


def test_the_add_on_bridges_the_supervisors_broker_and_serves_ingress(tmp_path, supervisor, password_broker, sims):
    _sim, entry = sims()
    save_devices(tmp_path / "devices.json", [entry], merge=False)
    supervisor.answer = ok_answer(port=password_broker.port)
    ingress_port = free_port()
    subscriber = Subscriber(password_broker.port)
    env = clean_env(SUPERVISOR_TOKEN=TOKEN, HCPY_SUPERVISOR_URL=supervisor.url,
                    HCPY_ADDON_OPTIONS=str(options_file(tmp_path, HCPY_MQTT_PREFIX="hc/", HCPY_DEBUG=True)),
                    HCPY_INGRESS_PEER="127.0.0.1", HCPY_INGRESS_PORT=str(ingress_port))  # fmt: skip
    process = start_addon(tmp_path, env)
    try:
        subscriber.wait("hc/dishwasher/LWT", "online", timeout=20)
        subscriber.wait("hc/dishwasher/state/bsh_common_status_doorstate")
        eventually(lambda: healthz(ingress_port) == 200, what="the console's /healthz on the ingress port")
    finally:
        output = stop(process)
        subscriber.close()
    assert process.returncode == 0, output
    assert (f"MQTT broker 127.0.0.1:{password_broker.port} as user {USER} (from the Supervisor's mqtt service, "
            "the Mosquitto broker add-on)") in output  # fmt: skip
    # The broker checks the password: the bridge got in with the Supervisor's, which it never said, debug or not.
    assert " DEBUG " in output and PASSWORD not in output
    assert supervisor.seen == [("/services/mqtt", f"Bearer {TOKEN}")]


def test_without_an_options_file_it_runs_hc2mqtt_with_config_ini(tmp_path, broker, sims):
    _sim, entry = sims()
    save_devices(tmp_path / "devices.json", [entry], merge=False)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.ini").write_text(
        f'devices_file = "{tmp_path / "devices.json"}"\nmqtt_host = "127.0.0.1"\nmqtt_port = {broker.port}\n'
        'mqtt_prefix = "plain/"\n'
    )
    subscriber = Subscriber(broker.port)
    env = clean_env(HCPY_ADDON_OPTIONS=str(tmp_path / "no-options.json"))
    process = start_addon(tmp_path, env)
    try:
        subscriber.wait("plain/dishwasher/LWT", "online", timeout=20)
    finally:
        output = stop(process)
        subscriber.close()
    assert process.returncode == 0, output
    assert (f"no add-on options at {tmp_path / 'no-options.json'} (not started by Home Assistant's Supervisor): "
            "running hc2mqtt --config config/config.ini") in output  # fmt: skip
    # hc2mqtt's own logging took over (its format, its level) after that one line.
    assert output.count("INFO hcpy: no add-on options") == 1


def test_a_broker_name_that_does_not_resolve_here_becomes_this_machine(tmp_path, supervisor, caplog):
    """With host networking the hassio network's names (core-mosquitto) may not resolve; the Mosquitto add-on
    publishes its port on the host, so the add-on takes this machine's address, and says so."""
    caplog.set_level(logging.INFO, "hcpy")
    supervisor.answer = ok_answer(host="core-mosquitto.invalid", port=1884)
    settings = addon.addon_settings(options_file(tmp_path), env_for(supervisor), TEST_INGRESS)
    assert (settings.mqtt.host, settings.mqtt.port) == ("127.0.0.1", 1884)
    assert any("core-mosquitto.invalid does not resolve" in m for m in caplog.messages), caplog.messages
    assert "MQTT broker 127.0.0.1:1884 as user" in caplog.text
