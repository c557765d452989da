"""`hc2mqtt --demo` with no broker (issue 21, item 8): it keeps running, the console says so, and it connects later.

Real processes: the demo on a free console port with nothing listening where
its broker should be; its console answers with the appliances and the
sentence saying there is no broker and how to start one, the log says it
too; then a mosquitto starts on that port and the demo's values arrive
there, and the console stops saying it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from support import Broker, Subscriber, eventually, free_port

ROOT = Path(__file__).resolve().parents[1]
WAIT = 60.0  # seconds; only ever reached when something is broken


def _page(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
            return answer.read().decode("utf-8")
    except OSError:
        return ""  # not listening yet


@pytest.fixture
def demo_without_broker(tmp_path):
    broker = Broker(tmp_path)  # its port chosen, nothing listening there yet
    http_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HCPY_")}
    log_path = tmp_path / "hc2mqtt.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "hc2mqtt.py"),
                "--demo",
                "--mqtt_host",
                "127.0.0.1",
                "--mqtt_port",
                str(broker.port),
                "--http_port",
                str(http_port),
            ],  # fmt: skip
            cwd=tmp_path,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process, broker, http_port, log_path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        broker.stop()


def test_the_demo_runs_without_a_broker_says_how_to_start_one_and_connects_to_one_started_later(demo_without_broker):
    process, broker, http_port, log_path = demo_without_broker
    sentence = (f"no MQTT broker at 127.0.0.1:{broker.port}: start one (sudo apt install mosquitto, or docker "
                "compose up -d mosquitto), or give --mqtt_host")  # fmt: skip

    page = eventually(
        lambda: (p := _page(http_port)) and 'id="broker-problem"' in p and p, WAIT, "the console's notice"
    )
    assert f"{sentence}; hcpy keeps trying and publishes everything once it connects." in page
    assert 'data-appliance="demo_dishwasher"' in page and 'data-appliance="demo_washer"' in page
    eventually(lambda: f"WARNING hcpy: DEMO: {sentence}" in log_path.read_text(), WAIT, "the log's line")
    assert process.poll() is None, log_path.read_text()[-3000:]

    broker.start()
    subscriber = Subscriber(broker.port)
    try:
        subscriber.wait("demo/LWT", "online", timeout=WAIT)
        subscriber.wait("demo/demo_dishwasher/LWT", "online", timeout=WAIT)
        subscriber.wait("demo/demo_dishwasher/state/bsh_common_status_doorstate", timeout=WAIT)
        eventually(lambda: "broker-problem" not in _page(http_port), WAIT, "the notice's end")
    finally:
        subscriber.close()
    process.send_signal(signal.SIGTERM)
    assert process.wait(WAIT) == 0, log_path.read_text()[-3000:]
    assert "Traceback" not in log_path.read_text()


# -- the notice, in process ---------------------------------------------------------------------------


def _notice_of(port: int):
    from hcpy.mqtt.bridge import Bridge, BridgeSettings
    from hcpy.mqtt.link import MqttSettings
    from hcpy.web.health import broker_notice

    bridge = Bridge([], MqttSettings(host="127.0.0.1", port=port, clientname="hcpy-notice"), BridgeSettings())
    bridge.start()
    return bridge, lambda: broker_notice(bridge)


def test_a_broker_that_answers_but_will_not_have_hcpy_gets_its_reason_not_the_install_hint():
    from test_check_reasons import Listener

    closing = Listener(lambda conn: (conn.recv(4096), conn.close()))
    bridge, notice = _notice_of(closing.port)
    try:
        said = eventually(notice, WAIT, "the notice")
    finally:
        bridge.stop()
        closing.close()
    assert said == (f"the MQTT broker 127.0.0.1:{closing.port} closed the connection without accepting it; "
                    "hcpy keeps trying.")  # fmt: skip


def test_no_notice_while_the_broker_has_hcpy(broker):
    bridge, notice = _notice_of(broker.port)
    try:
        assert bridge.link.wait_connected(WAIT)
        assert notice() is None
    finally:
        bridge.stop()
