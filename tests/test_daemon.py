"""`python hc2mqtt.py` as users run it: an hcpy2-0 config.ini and devices.json."""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
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


# --- the README's commands, as a newcomer copies them ----------------------------------------------------------


def readme_block(name: str) -> list[str]:
    """The command lines of the ```sh block after ``<!-- README test: name -->`` (comment lines left out)."""
    text = (ROOT / "README.md").read_text()
    marker = f"<!-- README test: {name} -->"
    assert text.count(marker) == 1, f"README.md has {text.count(marker)} {marker!r}"
    block = re.match(r"\s*```sh\n(.*?)```", text.split(marker, 1)[1], re.S)
    assert block, f"no ```sh block right after {marker!r}"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]


class Shell:
    """Runs README lines as a user's shell would, on this test's broker and free ports instead of the usual ones.

    `python` is this interpreter; mosquitto_pub/_sub get the broker's port;
    a line ending in `&` runs in the background, `kill %1` ends the first of those.
    """

    def __init__(self, broker_port: int, replace: dict[str, str]):
        self.port = broker_port
        self.replace = replace
        self.background: list[subprocess.Popen] = []

    def argv(self, line: str) -> list[str]:
        """The line's words (comment and a trailing `&` left out), pointed at this test's broker and ports."""
        for old, new in self.replace.items():
            line = line.replace(old, new)
        words = shlex.split(line, comments=True)
        if words[-1] == "&":
            words.pop()
        if words[0] == "python":
            words[0] = sys.executable
        if words[0] in ("mosquitto_pub", "mosquitto_sub"):
            words[1:1] = ["-h", "127.0.0.1", "-p", str(self.port)]
        if "hc2mqtt.py" in words and "--mqtt_port" not in words:
            words += ["--mqtt_host", "127.0.0.1", "--mqtt_port", str(self.port)]
        return words

    def run(self, line: str, background: bool = False, **popen) -> subprocess.Popen | subprocess.CompletedProcess:
        """Run `line`; in the background when it ends in `&` (or `background`: "in another terminal")."""
        command = shlex.split(line, comments=True)
        if command == ["kill", "%1"]:
            first = self.background.pop(0)
            first.terminate()
            first.wait(30)
            return first
        if command[-1] == "&" or background:
            process = subprocess.Popen(self.argv(line), cwd=ROOT, **popen)
            self.background.append(process)
            return process
        return subprocess.run(self.argv(line), cwd=ROOT, capture_output=True, text=True, timeout=120)

    def close(self) -> None:
        for process in self.background:
            process.kill()
            process.wait(10)


def test_the_readme_demo_commands_work_as_written(tmp_path, broker, subscriber):
    """"Try it now" and "Running a program", line by line, against `python hc2mqtt.py --demo` as the README starts it."""
    from support import free_port

    start = readme_block("demo start")
    assert re.fullmatch(r"sudo apt install mosquitto mosquitto-clients\b.*", start[0]), start[0]
    assert "pip install -c constraints.txt -r requirements.txt" in start[1]  # the newcomer run-through runs it
    assert start[2:] == ["python hc2mqtt.py --demo"], start
    shell = Shell(broker.port, {"--demo": f"--demo --http_port {free_port()}"})
    log = (tmp_path / "demo.log").open("w")
    # In a terminal of its own, as the README has it: not a job of the shell the other lines run in.
    demo = subprocess.Popen(shell.argv(start[2]), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        subscriber.wait("demo/demo_dishwasher/LWT", "online", timeout=60)
        for block in ("demo commands", "running a program"):
            for line in readme_block(block):
                mark = subscriber.mark()
                if line.startswith("mosquitto_sub"):  # "in a second terminal", or with `&`
                    watcher = shell.run(line, background=True, stdout=subprocess.PIPE, text=True)
                    subscriber.sync()  # its subscription is under way; what it receives is checked below
                    continue
                result = shell.run(line)
                if line.startswith("mosquitto_pub"):
                    assert result.returncode == 0, (line, result.stderr)
                    topic = shlex.split(line)[shlex.split(line).index("-t") + 1]
                    answer = json.loads(subscriber.wait(topic.rpartition("/")[0] + "/response", since=mark, timeout=30))
                    assert answer["status"] == "ok", (line, answer)
                    if '"delay"' in line:  # what the README's comment promises next
                        subscriber.wait("demo/demo_dishwasher/state/bsh_common_status_operationstate", "DelayedStart", since=mark, timeout=30)
            if block == "running a program":
                assert watcher.poll() is not None, "`kill %1` did not end the mosquitto_sub of the block"
                seen = watcher.stdout.read()
                assert "demo/demo_dishwasher/response " in seen and '"status": "ok"' in seen, seen[-2000:]
            else:
                shell.background.remove(watcher)
                watcher.terminate()
                seen, _ = watcher.communicate(timeout=10)
                assert "demo/demo_dishwasher/state/bsh_common_status_operationstate " in seen, seen[-2000:]
        # Ctrl-C: the demo ends and leaves nothing retained under demo/.
        demo.send_signal(signal.SIGINT)
        assert demo.wait(60) == 0, (tmp_path / "demo.log").read_text()[-3000:]
        left = shell.run("mosquitto_sub -t 'demo/#' -v --retained-only -W 1")
        assert left.stdout == "", left.stdout[:2000]
    finally:
        shell.close()
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)
        log.close()


def test_the_readme_import_try_works_as_written(tmp_path, broker):
    """Export sample zips, import them, serve them, --scan, --check: the README's offline try of the import."""
    from support import free_ports

    from hcpy.simulator.examples import EXAMPLES

    lines = readme_block("import")
    count = len(list(EXAMPLES.glob("*_DeviceDescription.xml")))
    # The simulator serves the appliances on 8443, 8444, ...: here on free ports.
    shell = Shell(broker.port, {"/tmp/hcpy-try": str(tmp_path / "try"), "--advertise": f"--advertise --base-port {free_ports(count)}"})
    results = []
    try:
        for line in lines:
            result = shell.run(line, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
            results.append((line, result))
            if isinstance(result, subprocess.CompletedProcess):
                assert result.returncode == 0, (line, result.stdout[-2000:], result.stderr[-2000:])
    finally:
        shell.close()
    outputs = {line.split()[1] + " " + line.split()[2]: r.stdout for line, r in results if isinstance(r, subprocess.CompletedProcess)}
    assert f"Wrote {tmp_path / 'try' / 'devices.json'} ({count} appliances" in outputs["hc_login.py --import"]
    assert f"({count} appliances changed)" in outputs["hc_login.py --scan"]
    assert f"All ok: {count} appliance(s) answered" in outputs["hc2mqtt.py --check"]
    # The zips hold keys: never anywhere but where the user asked.
    assert not list(ROOT.glob("*.zip")) and not list((ROOT / "config").glob("*.zip"))


def test_every_demo_topic_in_the_readme_names_a_demo_appliance():
    """`demo/dishwasher` was once in the README: the demo's appliances are demo_<name>, everywhere."""
    from hcpy.app.demo import demo_name
    from hcpy.simulator.examples import demo_entries

    names = {demo_name(e.name) for e in demo_entries("127.0.0.1")}
    text = (ROOT / "README.md").read_text() + (ROOT / "compose.yaml").read_text()
    used = set(re.findall(r"\bdemo/([a-z_0-9]+)/", text))
    assert used and used <= names, sorted(used - names)
    # Nothing tells a user to publish to the real bridge's topics "with the demo running".
    assert not re.search(r"mosquitto_pub -t homeconnect/", (ROOT / "README.md").read_text())


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
