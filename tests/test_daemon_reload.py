"""hc2mqtt follows devices.json while it runs, and with the console starts without one (issue 20)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from support import DISHWASHER, WASHER, eventually, free_port
from test_bridge_reload import answered_by, retained_on_broker

from hcpy.appliance.entry import entry_to_json

ROOT = Path(__file__).resolve().parents[1]
T = "homeconnect/"


def write_devices(path: Path, text: str) -> None:
    """As hc-login and the console write it: whole, by renaming (a new inode)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def devices(*entries) -> str:
    return json.dumps([entry_to_json(e) for e in entries], indent=2)


class Daemon:
    """hc2mqtt as a process, its log in a file the test reads while it runs."""

    def __init__(self, tmp_path: Path, *args: str):
        self.log_path = tmp_path / "hc2mqtt.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen([sys.executable, "hc2mqtt.py", *args], cwd=ROOT, stdout=self._log,
                                        stderr=subprocess.STDOUT, text=True)  # fmt: skip

    def lines(self, pattern: str) -> list[str]:
        return [line for line in self.log_path.read_text().splitlines() if re.search(pattern, line)]

    def says(self, pattern: str, timeout: float = 15.0, count: int = 1) -> list[str]:
        def enough():
            assert self.process.poll() is None, self.log_path.read_text()
            found = self.lines(pattern)
            return found if len(found) >= count else None

        try:
            return eventually(enough, timeout, f"a log line matching {pattern!r}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the log:\n{self.log_path.read_text()}") from None

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


def healthz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_appliances_follow_devices_json_without_a_restart(tmp_path, broker, subscriber, sims):
    dishwasher_sim, dishwasher = sims(DISHWASHER, "dishwasher")
    washer_sim, washer = sims(WASHER, "washer", "aes")
    moved_sim, moved = sims(WASHER, "washer", "aes")  # the washer somewhere else, with a new key
    config = tmp_path / "config"
    path = config / "devices.json"  # nothing there yet: a new installation
    http = free_port()
    daemon = Daemon(tmp_path, "--devices_file", str(path), "--mqtt_host", "127.0.0.1", "--mqtt_port", str(broker.port),
                    "--http_port", str(http), "--ha-discovery")  # fmt: skip
    try:
        line = daemon.says("no appliances yet")[0]
        assert f"http://127.0.0.1:{http}/add" in line and str(path) in line
        subscriber.wait(T + "LWT", "online", timeout=15)
        _, report = eventually(lambda: (r := healthz(http))[0] == 200 and r, what="/healthz saying ok")
        assert report["appliances"] == {}

        write_devices(path, devices(dishwasher))
        daemon.says(rf"added dishwasher \(from {re.escape(str(path))}\)")
        subscriber.wait(T + "dishwasher/LWT", "online")
        subscriber.wait(T + "dishwasher/state/bsh_common_status_doorstate")
        assert healthz(http)[1]["appliances"]["dishwasher"]["state"] == "online"

        write_devices(path, devices(dishwasher, washer))
        daemon.says("added washer")
        subscriber.wait(T + "washer/LWT", "online")
        subscriber.wait(T + "washer/state/bsh_common_status_doorstate")
        assert dishwasher_sim.accepted == 1  # the first one's connection untouched

        mark = subscriber.mark()
        write_devices(path, devices(dishwasher, moved))
        daemon.says("reconnecting washer: its port and key changed")
        assert moved_sim.wait_connected(10)
        subscriber.wait(T + "washer/LWT", "online", since=mark)
        assert dishwasher_sim.accepted == 1 and washer_sim.wait_disconnected(10)

        configs = {t for t, p, _ in subscriber.messages if t.startswith("homeassistant/") and "/washer_" in t and p}
        assert configs
        mark = subscriber.mark()
        write_devices(path, devices(dishwasher))
        daemon.says("removed washer")
        subscriber.wait(T + "washer/LWT", "offline", since=mark)
        for topic in configs:
            subscriber.wait(topic, "", since=mark)
        retained = retained_on_broker(broker, "after-removal")
        assert not configs & set(retained)
        assert {t for t in retained if t.startswith(T + "washer/")} == {T + "washer/LWT"}
        power = {"name": "PowerState", "value": "On"}
        assert not answered_by(subscriber, T + "washer/set", json.dumps(power), T + "dishwasher/set", power)
        assert moved_sim.wait_disconnected(10)

        # Broken mid-write: said once, and the dishwasher goes on.
        write_devices(path, devices(dishwasher)[:40])
        broken = daemon.says("not valid JSON")
        assert str(path) in broken[0] and "keep running" in broken[0]
        mark = subscriber.mark()
        door = T + "dishwasher/state/bsh_common_status_doorstate"
        closed = subscriber.last[door] != "Closed"
        dishwasher_sim.set_door(closed)
        subscriber.wait(door, "Closed" if closed else "Open", since=mark)
        write_devices(path, devices(dishwasher, washer))  # fixed, and the washer is back
        daemon.says("added washer", count=2)
        assert len(daemon.lines("not valid JSON")) == 1

        # Gone: said once; the appliances keep running.
        path.unlink()
        daemon.says(f"{re.escape(str(path))} is gone; the 2 appliance")
        assert healthz(http)[1]["appliances"]["dishwasher"]["state"] == "online"
        assert dishwasher_sim.accepted == 1
    finally:
        code = daemon.stop()
    assert code == 0, daemon.log_path.read_text()
    assert "Traceback" not in daemon.log_path.read_text()


def test_without_a_console_a_missing_devices_json_still_stops_hc2mqtt(tmp_path):
    result = subprocess.run([sys.executable, "hc2mqtt.py", "--devices_file", str(tmp_path / "devices.json"),
                             "--mqtt_port", str(free_port())], cwd=ROOT, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 2
    assert "run hc-login" in result.stderr and "no appliances yet" not in result.stderr


def test_an_empty_devices_json_with_the_console(tmp_path, broker, subscriber):
    """An empty file (the add-on's first start, a `touch`): no appliances yet, not an error."""
    path = tmp_path / "devices.json"
    path.write_text("")
    daemon = Daemon(tmp_path, "--devices_file", str(path), "--mqtt_host", "127.0.0.1", "--mqtt_port", str(broker.port),
                    "--http_port", str(free_port()))  # fmt: skip
    try:
        daemon.says("no appliances yet")
        subscriber.wait(T + "LWT", "online", timeout=15)
    finally:
        code = daemon.stop()
    assert code == 0
    assert "ERROR" not in daemon.log_path.read_text()


def test_new_entries_get_their_config_sections_and_only_the_appliances_asked_for(tmp_path, sims):
    """What the daemon does to the file's entries at start (--appliances, config.ini's sections), it does at each reload."""
    from functools import partial

    from hcpy.app.daemon import _chosen
    from hcpy.app.devices_watch import DevicesWatcher, stamp_of
    from hcpy.mqtt.bridge import Bridge, BridgeSettings
    from hcpy.mqtt.link import MqttSettings

    _, dishwasher = sims(DISHWASHER, "dishwasher")
    _, washer = sims(WASHER, "washer")
    path = tmp_path / "devices.json"
    bridge = Bridge([], MqttSettings(port=free_port()), BridgeSettings(resolver=None))  # not started: nothing connects
    section = {"publish_as_json": True}
    prepare = partial(_chosen, names=("dishwasher",), sections={"dishwasher": section})
    watcher = DevicesWatcher(str(path), bridge, prepare, stamp_of(path))
    assert watcher.check() is None  # still no file
    write_devices(path, devices(washer, dishwasher))
    diff = watcher.check()
    assert [e.name for e in diff.added] == ["dishwasher"]
    assert [a.name for a in bridge.appliances] == ["dishwasher"]
    assert bridge.appliances[0].entry.options_block == section
    assert watcher.check() is None  # unchanged: not read again
