"""What the real-browser tests (conftest.py) and screenshots.py share: the running pieces and a headless Chromium.

Everything runs for real, on 127.0.0.1, under one temporary directory;
`running_stack(tmp)` starts, and stops again on leaving (also on failure):
  - a private mosquitto (tests/support.py's Broker);
  - the simulator's demo appliances, `python -m hcpy.simulator --demo
    <tmp>/demo.json --base-port <free> --speed 120` (its standard input is a
    pipe: `simulator.type("door open dishwasher")` is its console);
  - hc2mqtt on them with its console, `python hc2mqtt.py --devices_file
    <tmp>/demo.json --mqtt_host 127.0.0.1 --mqtt_port <broker> --http_port <free>`;
  - a subscriber to everything on the broker that notes when each message came.
`start_chromium()` gives a headless Chromium of the distribution
(/usr/bin/chromium, /usr/bin/chromedriver) driven by Selenium.

Waits are generous and only reached when something is broken: no test
asserts on how long anything took.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# tests/support.py (Broker, Subscriber, free_port), which imports hcpy from the checkout.
for _path in (str(ROOT), str(ROOT / "tests"), str(ROOT / "checks")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from processes import Process, child_env  # noqa: E402  (checks/processes.py, shared with the HA check)
from support import Broker, Subscriber, free_port, free_ports  # noqa: E402  (tests/support.py)

from hcpy.simulator.examples import EXAMPLES  # noqa: E402

# Debian's packages chromium and chromium-driver (another build: these two variables).
CHROMIUM = os.environ.get("HCPY_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("HCPY_CHROMEDRIVER", "/usr/bin/chromedriver")
LOOPBACK = "127.0.0.1"
PREFIX = "homeconnect/"
SPEED = 120  # appliance seconds per real second: the dishwasher's Quick45 (half an hour) runs in 15 s
WAIT = 30.0  # seconds; only reached when something is broken


def say(message: str) -> None:
    """A line for the CI log (pytest -s shows it at once; otherwise under "Captured stdout" on failure)."""
    print(f"[browser] {message}", flush=True)


class TimedSubscriber(Subscriber):
    """tests/support.py's Subscriber that also notes when (time.time()) each message came."""

    def __init__(self, port: int, client_id: str = "browser-check-subscriber"):
        self.times: list[float] = []
        super().__init__(port, client_id)

    def _on_message(self, client, userdata, message):
        with self._cond:
            self.times.append(time.time())
        super()._on_message(client, userdata, message)

    def seen_at(self, topic: str, payload: str, since: int = 0, timeout: float = WAIT) -> float:
        """When `topic` first carried `payload` after message number `since` (waiting for it)."""
        self.wait(topic, payload, timeout=timeout, since=since)
        with self._cond:
            for index in range(since, len(self.messages)):
                t, p, _ = self.messages[index]
                if t == topic and p == payload:
                    return self.times[index]
        raise AssertionError(f"{payload!r} on {topic} went missing")


def wait_for(what: str, probe: Callable[[], Any], timeout: float = WAIT, every: float = 0.1,
             alive: Callable[[], None] | None = None) -> Any:  # fmt: skip
    """probe()'s first true answer; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if alive is not None:
            alive()
        try:
            found = probe()
        except Exception as exc:  # noqa: BLE001 - not there yet (an exception is never an answer)
            last = exc
        else:
            if found:
                return found
            last = found
        time.sleep(every)
    raise AssertionError(f"no {what} after {timeout:g}s (last: {last!r})")


@dataclass
class Stack:
    tmp: Path
    broker: Broker
    simulator: Process
    bridge: Process
    subscriber: TimedSubscriber
    url: str  # the console, http://127.0.0.1:<port>
    demo: list[dict[str, Any]]  # demo.json: names, keys, IVs

    def check_alive(self) -> None:
        for process in (self.simulator, self.bridge):
            if not process.alive():
                raise AssertionError(f"{process.name} exited with {process.process.returncode}:\n{process.tail()}")

    def appliance(self, name: str) -> dict[str, Any]:
        return next(e for e in self.demo if e["name"] == name)

    def topic(self, name: str, feature: str) -> str:
        """The MQTT topic of one feature's value: homeconnect/<name>/state/<feature, lower case, dots as _>."""
        return f"{PREFIX}{name}/state/{feature.lower().replace('.', '_')}"


@contextlib.contextmanager
def running_stack(tmp: Path, speed: float = SPEED) -> Iterator[Stack]:
    """Broker, simulator, hc2mqtt with its console (every appliance online), subscriber; all stopped on leaving."""
    python = sys.executable
    with contextlib.ExitStack() as stop:
        broker = Broker(tmp)
        broker.start()
        stop.callback(broker.stop)

        count = len(list(EXAMPLES.glob("*_DeviceDescription.xml")))
        base = free_ports(count)  # --demo gives the appliances base, base+1, ...
        demo_file = tmp / "demo.json"
        simulator = Process(
            "simulator",
            [python, "-m", "hcpy.simulator", "--demo", str(demo_file), "--base-port", str(base), "--speed", f"{speed:g}"],
            tmp / "simulator.log",
            cwd=ROOT,
            env=child_env(),
            stdin_pipe=True,
        ).start()
        stop.callback(simulator.stop)

        def simulator_alive() -> None:
            if not simulator.alive():
                raise AssertionError(f"the simulator exited:\n{simulator.tail()}")

        # It says so once every appliance listens (no probe of ours: each would be a failed connection in its log).
        wait_for("the simulator serving its appliances", lambda: "programs run at" in simulator.output(), alive=simulator_alive)
        demo = json.loads(demo_file.read_text())

        subscriber = TimedSubscriber(broker.port)
        stop.callback(subscriber.close)

        http_port = free_port()
        bridge = Process(
            "hc2mqtt",
            [python, str(ROOT / "hc2mqtt.py"), "--devices_file", str(demo_file), "--mqtt_host", LOOPBACK,
             "--mqtt_port", str(broker.port), "--http_port", str(http_port)],  # fmt: skip
            tmp / "hc2mqtt.log",
            cwd=tmp,  # its runs go beside demo.json; no config/config.ini of the checkout is read
            env=child_env(),
        ).start()
        stop.callback(bridge.stop)
        found = Stack(tmp, broker, simulator, bridge, subscriber, f"http://{LOOPBACK}:{http_port}", demo)

        def healthy() -> bool:
            import requests

            return requests.get(found.url + "/healthz", timeout=2).status_code == 200

        wait_for("console with every appliance online (/healthz 200)", healthy, alive=found.check_alive)
        say(f"mosquitto :{broker.port}, simulator :{base}-{base + count - 1} at {speed:g}x, console {found.url}")
        yield found
        for process in (bridge, simulator):
            code = process.stop()
            say(f"{process.name} stopped ({code})")


def chromium_options(width: int = 1280, height: int = 900, downloads: Path | None = None, profile: Path | None = None):
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, in a container
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(argument)
    if profile is not None:
        options.add_argument(f"--user-data-dir={profile}")
    if downloads is not None:
        options.add_experimental_option(
            "prefs",
            {"download.default_directory": str(downloads), "download.prompt_for_download": False,
             "safebrowsing.enabled": False},  # fmt: skip
        )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return options


def start_chromium(width: int = 1280, height: int = 900, downloads: Path | None = None, profile: Path | None = None):
    """A headless Chromium of the distribution, driven through its chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            raise RuntimeError(f"{path} is missing: apt-get install chromium chromium-driver (.ci/browser does)")
    driver = webdriver.Chrome(options=chromium_options(width, height, downloads, profile), service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT)
    if downloads is not None:
        # What the prefs say, also through the DevTools protocol (headless Chromium listens to both).
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads),
                                                               "eventsEnabled": True})  # fmt: skip
    return driver
