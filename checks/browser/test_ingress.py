"""The web console as Home Assistant's add-on panel, in a real browser: behind a proxy like Home Assistant's ingress.

Home Assistant shows the panel in an iframe of its own page, at
/api/hassio_ingress/<token>/; its Supervisor forwards to the console with the
prefix in X-Ingress-Path. Here tests/ingress_proxy.py plays both: its `/` is
Home Assistant's page with the iframe, and it forwards the prefix's paths
from 127.0.0.1, the console's ingress peer. In the frame, headless Chromium
must get the list, an appliance's page, a command's answer and a value over
the live event stream, every request under the prefix.

The console runs in this process over the session's simulator and broker
(conftest.py), with a bridge of its own (MQTT prefix ingress/): hc2mqtt has
no option for an ingress peer (the add-on sets ConsoleSettings.ingress_peer
itself, hcpy.app.addon), and one only for a test would be an option every
user sees. ConsoleServer(..., ingress_peer=...) is what hc2mqtt starts
(tests/test_console_ingress.py checks that hook).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_stack import LOOPBACK, WAIT, Stack, say, wait_for
from ingress_proxy import IngressProxy  # tests/ingress_proxy.py
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select
from test_console import severe_messages, simulator_says, wait

from hcpy.appliance.devices import load_devices
from hcpy.mqtt.bridge import Bridge, BridgeSettings
from hcpy.mqtt.link import MqttSettings
from hcpy.web.server import ConsoleServer

WASHER = "washer"
DOOR = "BSH.Common.Status.DoorState"


@pytest.fixture(scope="module")
def panel(stack: Stack) -> Iterator[IngressProxy]:
    """The console for Home Assistant's ingress over the demo appliances, and the proxy in front of it."""
    bridge = Bridge(
        load_devices(stack.tmp / "demo.json"),
        MqttSettings(host=LOOPBACK, port=stack.broker.port, prefix="ingress/", clientname="hcpy-ingress-check"),
        BridgeSettings(device_id="00112233aabbccdd", resolver=None),
    )
    bridge.start()
    server: ConsoleServer | None = None
    try:
        server = ConsoleServer(bridge, LOOPBACK, 0, ingress_peer=LOOPBACK).start()
        wait_for(
            "every appliance online for the ingress console",
            lambda: all(a.connection.online for a in bridge.appliances),
        )
        with IngressProxy(server.port) as proxy:
            say(f"ingress proxy {proxy.url} -> console :{server.port}, panel {proxy.base}/")
            yield proxy
    finally:
        if server is not None:
            server.stop()
        bridge.stop()


def in_home_assistant(driver, proxy: IngressProxy) -> None:
    """Home Assistant's page with the panel's iframe; the driver then works inside the frame."""
    driver.switch_to.default_content()
    driver.get(proxy.url + "/")
    wait(driver).until(EC.frame_to_be_available_and_switch_to_it((By.ID, "panel")))


def live(driver, kind: str) -> None:
    wait(driver).until(EC.presence_of_element_located((By.CSS_SELECTOR, f'body[data-page="{kind}"][data-live="open"]')))


def named_paths(driver) -> list[tuple[str, str]]:
    """Every href, src and action of the page, as written in it."""
    script = """
      return Array.from(document.querySelectorAll("[href], [src], [action]")).flatMap((e) =>
        ["href", "src", "action"].filter((a) => e.hasAttribute(a)).map((a) => [e.tagName, e.getAttribute(a)]));
    """
    found: Any = driver.execute_script(script)
    return [(tag, value) for tag, value in found]


def test_the_list_in_home_assistants_frame(stack, driver, panel):
    driver.get_log("browser")  # what came before is not this page's
    in_home_assistant(driver, panel)
    live(driver, "list")  # the event stream is open, through the proxy
    assert driver.execute_script("return location.pathname") == panel.prefix + "/"
    cards = driver.find_elements(By.CSS_SELECTOR, "article.connection[data-appliance]")
    assert sorted(c.get_attribute("data-appliance") for c in cards) == sorted(e["name"] for e in stack.demo)
    for card in cards:
        assert card.find_element(By.CSS_SELECTOR, '[data-field="state"]').text == "online"
    # The stylesheet applied (its path is under the prefix too).
    assert driver.execute_script("return document.styleSheets.length && document.styleSheets[0].cssRules.length") > 0
    for tag, value in named_paths(driver):
        assert value.startswith((panel.prefix + "/", "data:")), (tag, value)
    driver.switch_to.default_content()
    assert severe_messages(driver) == []


def test_an_appliance_page_answers_a_command_and_hears_a_value_live(stack, driver, panel):
    driver.get_log("browser")
    in_home_assistant(driver, panel)
    live(driver, "list")
    driver.find_element(By.CSS_SELECTOR, f'article.connection[data-appliance="{WASHER}"] a.appliance-link').click()
    live(driver, "appliance")
    assert driver.execute_script("return location.pathname") == f"{panel.prefix}/appliance/{WASHER}"
    assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-root") == panel.prefix + "/"
    forwarded = panel.forwarded

    # A command: chosen in the controls, posted by the page's script, answered by hcpy.
    def choose(d):
        select = Select(d.find_element(By.ID, "program-select"))
        program = next(o.get_attribute("value") for o in select.options if o.get_attribute("value"))
        select.select_by_value(program)
        d.find_element(By.ID, "select-button").click()
        return program

    program = wait(driver).until(choose)

    def answered(d):
        reply = d.find_element(By.ID, "program-reply")
        return reply.text if reply.get_attribute("data-status") in ("ok", "error") else None

    reply = wait(driver).until(answered)
    assert reply.startswith("ok"), (program, reply)
    assert panel.forwarded > forwarded  # the post went through the proxy

    # A value: the simulator opens the washer's door; the open page shows it without a reload.
    cell = (By.CSS_SELECTOR, f'td.value[data-feature="{DOOR}"]')
    before = driver.find_element(*cell).text
    now, verb = ("Closed", "close") if before == "Open" else ("Open", "open")
    driver.execute_script("window.hcpyMarker = 'not reloaded'")
    simulator_says(stack, f"door {verb} {WASHER}", WASHER)
    wait(driver, WAIT).until(EC.text_to_be_present_in_element(cell, now))
    assert driver.execute_script("return window.hcpyMarker") == "not reloaded"
    stack.simulator.type(f"door close {WASHER}")  # as other tests may want it
    driver.switch_to.default_content()
    assert severe_messages(driver) == []
