"""`python hc2mqtt.py` as users run it: an hcpy2-0 config.ini and devices.json."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import DISHWASHER, profile_files

from hcpy.appliance.profile_xml import parse_profile
from hcpy.simulator import SimulatedAppliance, Simulator

ROOT = Path(__file__).resolve().parents[1]
PSK = os.urandom(32)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hcpy_devices_json(port: int) -> list[dict]:
    """A devices.json as hcpy's own hc-login writes it: a few real features.

    The appliance reports many more uids than listed: as with a real hcpy
    file, those are skipped with one warning each.
    """
    return [
        {
            "name": "dishwasher",
            "host": "127.0.0.1",
            "port": port,  # the one addition: tests cannot bind 443
            "key": b64(PSK),
            "description": {"type": "Dishwasher", "brand": "SIEMENS", "model": "SN658X06TE", "version": "1", "revision": "0"},
            "features": {
                "527": {
                    "name": "BSH.Common.Status.DoorState", "access": "read", "available": "true",
                    "enumerationType": "0201", "refCID": "03", "refDID": "80",
                    "values": {"0": "Open", "1": "Closed"},
                },
                "539": {
                    "name": "BSH.Common.Setting.PowerState", "access": "readWrite", "available": "true",
                    "refCID": "03", "refDID": "80", "values": {"1": "Off", "2": "On"},
                },
                "4356": {
                    "name": "Dishcare.Dishwasher.Setting.ExtraDry", "access": "readWrite",
                    "available": "true", "refCID": "01", "refDID": "00",
                },
                "256": {"name": "BSH.Common.Root.ActiveProgram"},
                "8196": {"name": "Dishcare.Dishwasher.Program.Eco50"},
            },
        }
    ]


def hcpy20_config_ini(path: Path, devices: Path, port: int) -> None:
    # Verbatim keys and value syntax of hcpy2-0's config.ini.example.
    path.write_text(
        f'devices_file = "{devices}"\n'
        'mqtt_host = "127.0.0.1"\n'
        f"mqtt_port = {port}\n"
        'mqtt_username = "mqtt"\n'
        'mqtt_password = "password"\n'
        'mqtt_prefix = "homeconnect/"\n'
        'mqtt_clientname = "hcpy"\n'
        "mqtt_ssl = False\n"
        "mqtt_cafile = None\n"
        "mqtt_certfile = None\n"
        "mqtt_keyfile = None\n"
        "ha_discovery = True  # See section Home Assistant\n"
        f'discovery_file = "{path.parent / "discovery.yaml"}"\n'
        "domain_suffix =\n"
        "events_as_sensors = False\n"
        "debug = True\n"
    )


@pytest.fixture
def simulator():
    profile = parse_profile(*profile_files(DISHWASHER))
    with Simulator(SimulatedAppliance(profile), PSK) as sim:
        yield sim


def test_hcpy20_config_runs_unchanged_and_stops_on_sigterm(tmp_path, broker, subscriber, simulator):
    devices = tmp_path / "devices.json"
    devices.write_text(json.dumps(hcpy_devices_json(simulator.port), indent=4))
    config = tmp_path / "config.ini"
    # A wrong port in the file: HCPY_MQTT_PORT from the environment wins, as in hcpy2-0.
    hcpy20_config_ini(config, devices, 1)
    env = {**os.environ, "HCPY_MQTT_PORT": str(broker.port)}
    daemon = subprocess.Popen(
        [sys.executable, "hc2mqtt.py", "--config", str(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        subscriber.wait("homeconnect/LWT", "online", timeout=20)
        subscriber.wait("homeconnect/dishwasher/LWT", "online")
        subscriber.wait("homeconnect/dishwasher/state/bsh_common_status_doorstate")
        subscriber.wait("homeconnect/dishwasher/state/bsh_common_setting_powerstate")
        discovery = json.loads(subscriber.wait("homeassistant/sensor/hcpy/dishwasher_bsh_common_status_doorstate/config"))
        assert discovery["unique_id"] == "dishwasher_bsh_common_status_doorstate"
        simulator.set_value(527, 1)
        subscriber.wait("homeconnect/dishwasher/state/bsh_common_status_doorstate", "Closed")
        answer = subscriber.response("homeconnect/dishwasher/set", [{"uid": 539, "value": "Off"}])
        assert answer["status"] == "ok", answer
        subscriber.wait("homeconnect/dishwasher/state/bsh_common_setting_powerstate", "Off")
        mark = subscriber.mark()
        daemon.send_signal(signal.SIGTERM)
        output, _ = daemon.communicate(timeout=10)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
    assert daemon.returncode == 0, output
    subscriber.wait("homeconnect/LWT", "offline", since=mark)
    subscriber.wait("homeconnect/dishwasher/LWT", "offline", since=mark)
    # Debug logging was on, and still no key.
    assert "DEBUG" in output and "sending" in output
    assert b64(PSK) not in output and PSK.hex() not in output
    assert "uid(s) the profile lacks" in output  # the features the short file lacks, said in one line


def test_missing_devices_file_is_one_clear_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "hc2mqtt.py", "--devices_file", str(tmp_path / "nope.json"), "--mqtt_port", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "nope.json" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_the_hcpy20_options():
    result = subprocess.run([sys.executable, "hc2mqtt.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    for option in ("--devices_file", "--mqtt_host", "--mqtt_prefix", "--mqtt_ssl", "--ha-discovery", "--config"):
        assert option in result.stdout


def test_the_readme_demo(tmp_path, broker, subscriber):
    """`python -m hcpy.simulator --demo F` then `hc2mqtt.py --devices_file F`."""
    from support import free_ports

    from hcpy.simulator.examples import EXAMPLES

    demo = tmp_path / "demo.json"
    # --demo serves every example appliance on base, base+1, ...: all of those ports must be free.
    count = len(list(EXAMPLES.glob("*_DeviceDescription.xml")))
    simulator = subprocess.Popen(
        [sys.executable, "-m", "hcpy.simulator", "--demo", str(demo), "--base-port", str(free_ports(count))],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    daemon = None
    try:
        # The simulator writes the file before it serves; wait for its first line.
        assert "wrote" in simulator.stdout.readline()
        assert oct(demo.stat().st_mode & 0o777) == "0o600"
        daemon = subprocess.Popen(
            [sys.executable, "hc2mqtt.py", "--devices_file", str(demo), "--mqtt_host", "127.0.0.1", "--mqtt_port", str(broker.port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name in ("dishwasher", "coffeemaker", "washer"):
            subscriber.wait(f"homeconnect/{name}/LWT", "online", timeout=20)
            subscriber.wait(f"homeconnect/{name}/state/bsh_common_status_doorstate")
        answer = subscriber.response("homeconnect/dishwasher/set", {"name": "PowerState", "value": "Off"})
        assert answer["status"] == "ok", answer
    finally:
        for process in (daemon, simulator):
            if process is not None:
                process.terminate()
                process.wait(10)


def test_a_missing_config_file_is_an_error_not_ignored(tmp_path):
    result = subprocess.run(
        [sys.executable, "hc2mqtt.py", "--config", str(tmp_path / "config.ini")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "config.ini" in result.stderr and "does not exist" in result.stderr


def test_a_shutdown_that_hangs_says_where_and_ends(tmp_path):
    """SIGTERM starts a watchdog: a stop that never returns is logged with every thread's stack, and the process ends."""
    from support import free_port

    script = tmp_path / "hangs.py"
    script.write_text(
        "import logging, threading\n"
        "from hcpy.app import daemon\n"
        "from hcpy.mqtt.bridge import BridgeSettings\n"
        "from hcpy.mqtt.link import MqttSettings\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "daemon.SHUTDOWN_LIMIT = 1.0\n"
        "def console(bridge):\n"
        "    print('serving', flush=True)\n"
        "    def stop_that_hangs():\n"
        "        threading.Event().wait()\n"
        "    return stop_that_hangs\n"
        f"daemon.serve([], MqttSettings(host='127.0.0.1', port={free_port()}), BridgeSettings(resolver=None), console)\n"
    )
    process = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    try:
        assert process.stdout.readline().strip() == "serving"
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 1, errors
    assert "still shutting down after 1 s: ending now" in errors
    assert "stop_that_hangs" in errors  # the stuck thread's stack names where it hangs
