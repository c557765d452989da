"""The console's notice that the MQTT broker is not there, in a real browser: it goes without a reload.

A stack of its own: `hc2mqtt --demo` pointed at a port where no broker
listens yet (its console shows the appliances and says there is no broker,
health.broker_notice), then a mosquitto started on that port. The open page,
never reloaded, drops the notice once hcpy has its broker (console.js asks
/healthz).
"""

from __future__ import annotations

import sys

import requests
from browser_stack import LOOPBACK, ROOT, say, start_chromium, wait_for
from processes import Process, child_env
from selenium.webdriver.common.by import By
from support import Broker, free_port

# The link's reconnect delay grows to 30 s while no broker answers: a deadline
# only reached when something is broken.
CONNECTED = 90.0


def test_the_no_broker_notice_goes_once_a_broker_is_there_without_a_reload(tmp_path):
    broker = Broker(tmp_path)  # its port chosen, nothing listening there yet
    http_port = free_port()
    env = {k: v for k, v in child_env().items() if not k.startswith("HCPY_")}
    demo = Process(
        "hc2mqtt --demo",
        [sys.executable, str(ROOT / "hc2mqtt.py"), "--demo", "--mqtt_host", LOOPBACK, "--mqtt_port", str(broker.port),
         "--http_port", str(http_port)],  # fmt: skip
        tmp_path / "hc2mqtt.log",
        cwd=tmp_path,
        env=env,
    ).start()
    driver = None
    try:
        url = f"http://{LOOPBACK}:{http_port}/"

        def alive() -> None:
            if not demo.alive():
                raise AssertionError(f"hc2mqtt --demo exited:\n{demo.tail()}")

        def notice_shown() -> bool:
            return 'id="broker-problem"' in requests.get(url, timeout=2).text

        wait_for("the console saying there is no broker", notice_shown, alive=alive)
        driver = start_chromium(profile=tmp_path / "chromium-profile")
        driver.get(url)
        notice = driver.find_element(By.ID, "broker-problem")
        assert f"no MQTT broker at {LOOPBACK}:{broker.port}" in notice.text
        assert driver.find_elements(By.CSS_SELECTOR, 'article.connection[data-appliance="demo_dishwasher"]')
        driver.execute_script("window.__notReloaded = true;")

        broker.start()
        say(f"broker started on :{broker.port}; waiting for the page to drop its notice")
        wait_for("the notice gone from the open page", lambda: not driver.find_elements(By.ID, "broker-problem"),
                 timeout=CONNECTED, alive=alive)  # fmt: skip
        assert driver.execute_script("return window.__notReloaded === true;"), "the page was reloaded"
        assert requests.get(url + "healthz", timeout=5).json()["broker"]["connected"] is True
    finally:
        if driver is not None:
            driver.quit()
        demo.stop()
        broker.stop()
