"""The console as hc2mqtt serves it: --http_port, --http_host, --http_password, and the demo's console on by default.

hc2mqtt runs as a user runs it (a subprocess against a real mosquitto) where
what matters is the whole command; the options and the port-taken paths are
checked in process. Waits are generous and only reached when something is
broken.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from support import DISHWASHER, free_port, profile_files, simulated
from test_web_support import Browser, wait_until

from hcpy.appliance.entry import entry_to_json
from hcpy.appliance.profile_xml import parse_profile
from hcpy.errors import ConfigError
from hcpy.mqtt.bridge import Bridge, BridgeSettings
from hcpy.mqtt.link import MqttSettings

ROOT = Path(__file__).resolve().parents[1]
WAIT = 60.0


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HCPY_")}
    env.update(extra)
    return env


def stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


def test_the_demo_serves_its_console_and_keeps_its_runs_only_while_it_runs(broker, tmp_path):
    port = free_port()
    scratch = tmp_path / "tmp"  # where the demo's temporary directory goes
    scratch.mkdir()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "hc2mqtt.py"), "--demo", "--mqtt_host", "127.0.0.1", "--mqtt_port", str(broker.port),
         "--http_port", str(port), "--demo_speed", "3600"],  # fmt: skip
        cwd=tmp_path,
        env=environment(TMPDIR=str(scratch)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        browser = Browser(f"http://127.0.0.1:{port}/")

        def listed():
            try:
                document = browser.page("/")
            except (requests.ConnectionError, AssertionError):
                return None
            states = {c.get("data-appliance"): c.get("data-state") for c in document.find_all("article", data_appliance=True)}
            return states if set(states.values()) == {"online"} else None

        states = wait_until(listed, WAIT, "the demo's appliances online on the console")
        kinds = ("dishwasher", "coffeemaker", "washer", "oven", "hood", "fridgefreezer", "dryer", "hob")
        assert set(states) == {f"demo_{kind}" for kind in kinds}
        assert [p.name for p in scratch.iterdir() if p.name.startswith("hcpy-demo-runs-")], "no runs directory"

        # A program started from the console runs to its end (an hour of the appliance's a second here).
        browser.page("/appliance/demo_dishwasher")
        answer = browser.command("demo_dishwasher", {"action": "start", "program": "Dishcare.Dishwasher.Program.Quick45"}).json()
        assert answer["status"] == "ok", answer

        def recorded():
            return "Quick45" in browser.get("/appliance/demo_dishwasher/runs").text

        wait_until(recorded, WAIT, "the run on the runs page")
        runs = browser.page("/appliance/demo_dishwasher/runs")
        assert runs.by_id("energy-chart").find_all("rect", data_value=True)  # the demo's forecasts give figures
    finally:
        output = stop(process)
    assert process.returncode == 0, output[-3000:]
    lines = output.splitlines()
    assert "DEMO" in lines[0], lines[:3]
    assert f"web console on http://127.0.0.1:{port}/" in output
    assert not list(scratch.iterdir()), "the demo's runs outlived it"


@pytest.fixture
def devices_file(tmp_path):
    sim, entry = simulated(parse_profile(*profile_files(DISHWASHER)), "dishwasher")
    path = tmp_path / "devices.json"
    path.write_text(json.dumps([entry_to_json(entry)]))
    yield path
    sim.stop()


def test_hc2mqtt_will_not_start_without_the_console_it_was_asked_for(broker, devices_file):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(ROOT / "hc2mqtt.py"), "--devices_file", str(devices_file), "--mqtt_host", "127.0.0.1",
             "--mqtt_port", str(broker.port), "--http_port", str(port)],  # fmt: skip
            cwd=devices_file.parent, env=environment(), capture_output=True, text=True, timeout=WAIT,
        )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"the web console cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "choose another http_port (0: no console)" in result.stderr


def test_hc2mqtt_serves_the_console_for_real_appliances_too(broker, devices_file):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "hc2mqtt.py"), "--devices_file", str(devices_file), "--mqtt_host", "127.0.0.1",
         "--mqtt_port", str(broker.port), "--http_port", str(port)],  # fmt: skip
        cwd=devices_file.parent,
        env=environment(HCPY_HTTP_PASSWORD="let me in"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        browser = Browser(f"http://127.0.0.1:{port}/")

        def answering():
            try:
                return browser.get("/").status_code
            except requests.ConnectionError:
                return None

        assert wait_until(answering, WAIT, "the console") == 303  # the password, from HCPY_HTTP_PASSWORD
        token = browser.page("/login").find("input", name="token").get("value")
        response = browser.http.post(browser.base + "/login", data={"token": token, "password": "let me in", "next": "/"},
                                     timeout=10, allow_redirects=False)  # fmt: skip
        assert response.status_code == 303
        wait_until(lambda: 'data-state="online"' in browser.get("/").text, WAIT, "the dishwasher online")
        assert browser.get("/healthz").json()["appliances"]["dishwasher"]["state"] == "online"
        # Its runs are kept where the daemon keeps them: beside devices.json.
        assert browser.page("/appliance/dishwasher/runs").by_id("runs-empty")
    finally:
        output = stop(process)
    assert process.returncode == 0, output[-3000:]
    assert "let me in" not in output
    assert "(password protected)" in output


def bridge_of(devices_file: Path) -> Bridge:
    from hcpy.appliance.devices import load_devices

    return Bridge(load_devices(str(devices_file)), MqttSettings(host="127.0.0.1", port=1), BridgeSettings(resolver=None))


def test_the_demo_goes_on_without_its_console_when_8080_is_taken(devices_file, caplog):
    from hcpy.app.console import web_console

    bridge = bridge_of(devices_file)  # never started: the console is tried first
    assert web_console("127.0.0.1", 0, None, required=False) is None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        caplog.set_level(logging.INFO)
        assert web_console("127.0.0.1", port, None, required=False)(bridge) is None
        said = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(said) == 1 and said[0].getMessage() == (
            f"the web console cannot listen on 127.0.0.1:{port} (Address already in use); "
            "going on without it (--http_port chooses another port)"
        )
        with pytest.raises(ConfigError, match="choose another http_port"):
            web_console("127.0.0.1", port, None, required=True)(bridge)
    stop_console = web_console("127.0.0.1", free_port(), "pw", required=True)(bridge)
    stop_console()


def options(args: list[str], cwd: Path, monkeypatch, run: bool = False, **env: str):
    """hc2mqtt's options for `args` and `env`, parsed by hc2mqtt itself; with `run`, what running it exits with."""
    import hc2mqtt

    for name in [k for k in os.environ if k.startswith("HCPY_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    defaults = [(param, param.default) for param in hc2mqtt.main.params]
    monkeypatch.chdir(cwd)
    try:
        if run:
            with pytest.raises(SystemExit) as exited:
                hc2mqtt.main.main(list(args), auto_envvar_prefix="HCPY", standalone_mode=False)
            return exited.value.code
        with hc2mqtt.main.make_context("hc2mqtt", list(args), auto_envvar_prefix="HCPY") as ctx:
            return dict(ctx.params)
    finally:
        for param, default in defaults:
            param.default = default


def test_the_console_options_come_from_the_command_line_the_environment_and_config_ini(tmp_path, monkeypatch):
    config = tmp_path / "config.ini"
    config.write_text('http_port = 8081\nhttp_host = "0.0.0.0"\nhttp_password = "from the file"\n')
    off = options([], tmp_path, monkeypatch)
    assert (off["http_port"], off["http_host"], off["http_password"]) == (0, "127.0.0.1", None)
    from_file = options(["--config", str(config)], tmp_path, monkeypatch)
    assert (from_file["http_port"], from_file["http_host"], from_file["http_password"]) == (8081, "0.0.0.0", "from the file")
    from_env = options(["--config", str(config)], tmp_path, monkeypatch, HCPY_HTTP_PASSWORD="from env", HCPY_HTTP_PORT="9000")
    assert (from_env["http_port"], from_env["http_password"]) == (9000, "from env")
    given = options(["--config", str(config), "--http_port", "9100"], tmp_path, monkeypatch, HCPY_HTTP_PORT="9000")
    assert given["http_port"] == 9100
    with pytest.raises(Exception, match="65535"):
        options(["--http_port", "70000"], tmp_path, monkeypatch)


def test_help_names_the_console_options_and_shows_no_password():
    result = subprocess.run([sys.executable, str(ROOT / "hc2mqtt.py"), "--help"], capture_output=True, text=True,
                            env=environment(HCPY_HTTP_PASSWORD="hunter2"), timeout=WAIT)  # fmt: skip
    assert result.returncode == 0
    for option in ("--http_port", "--http_host", "--http_password"):
        assert option in result.stdout
    assert "hunter2" not in result.stdout


def test_the_demos_console_is_on_8080_unless_the_command_line_says(tmp_path, monkeypatch, devices_file, caplog):
    caplog.set_level(logging.INFO)
    bridge = bridge_of(devices_file)

    def run_demo(appliances, mqtt, settings, keep_prefix, speed, console):
        # Instead of the demo: its console, started and stopped on a bridge that never starts.
        if console is None:
            return 3
        stop_console = console(bridge)
        if stop_console is not None:
            stop_console()
        return 0

    monkeypatch.setattr("hcpy.app.demo.run_demo", run_demo)
    config = tmp_path / "config.ini"
    config.write_text('http_port = 9999\nhttp_host = "0.0.0.0"\n')  # the real bridge's, not the demo's
    port = free_port()
    for args, where in ((["--demo", "--config", str(config)], "127.0.0.1:8080"), (["--demo", "--http_port", str(port)], f"127.0.0.1:{port}")):
        caplog.clear()
        assert options(args, tmp_path, monkeypatch, run=True) == 0
        # Served there, or (8080 being taken on this machine) said so in one line.
        assert f"web console on http://{where}/" in caplog.text or f"the web console cannot listen on {where}" in caplog.text
    assert options(["--demo", "--http_port", "0"], tmp_path, monkeypatch, run=True) == 3  # no console
