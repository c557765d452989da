"""The console's "Add appliances" in a real browser: headless Chromium driven by Selenium.

A stack of its own (not conftest.py's demo stack, whose devices file is the
simulator's): a mosquitto, the fake Home Connect cloud of tests/fakecloud.py
on loopback, a simulated appliance that advertises itself by real mDNS on
loopback, and hc2mqtt with its console (HCPY_CLOUD_BASE points its login at
the fake cloud, HCPY_SCAN_INTERFACES its scan at loopback) with no
devices.json at all, as on a first start.

In the browser: the empty list leading to "Add appliances", the cloud login
(the login address shown, the hcauth:// address pasted into the field), a
profile zip uploaded with its key (the file input given a path, as a user
picks one), and a scan that finds where that appliance is. Each step is
checked in devices.json; at the end the running bridge, never restarted, has
connected to the appliance added, and its card on the list says online.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import sys
from pathlib import Path

import pytest
import requests
from browser_stack import LOOPBACK, ROOT, WAIT, say, start_chromium, wait_for
from fakecloud import CloudAppliance, FakeCloud, b64url, profile_zip
from processes import Process, child_env
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait
from support import DISHWASHER, Broker, b64, free_port, profile_files

from hcpy.appliance.profile_xml import parse_profile
from hcpy.simulator import SimulatedAppliance, Simulator
from hcpy.simulator.advertise import Advertiser

CLOUD_DISHWASHER = "SIEMENS-SN658X06TE-68A40E00B001"
CLOUD_WASHER = "SIEMENS-WM16XE91-68A40E00B002"
FIXTURE_DISHWASHER = "SIEMENS-SN658X06TE-000000000000"
FIXTURE_WASHER = "SIEMENS-WM16XE91-000000000000"


def _ha_id() -> str:
    # Random: another run on this machine shares loopback's mDNS port.
    return f"SIEMENS-SN658X06TE-{os.urandom(6).hex().upper()}"


@pytest.fixture(scope="module")
def setup_stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("add")
    profile = parse_profile(*profile_files(DISHWASHER))
    started: list = []
    try:
        broker = Broker(tmp)
        broker.start()
        started.append(broker.stop)
        cloud = FakeCloud([
            CloudAppliance(CLOUD_DISHWASHER, "SIEMENS", "Dishwasher", b64url(secrets.token_bytes(32)), fixture=FIXTURE_DISHWASHER),
            CloudAppliance(CLOUD_WASHER, "SIEMENS", "Washer", b64url(secrets.token_bytes(32)), b64url(secrets.token_bytes(16)),
                           fixture=FIXTURE_WASHER),
        ]).start()  # fmt: skip
        started.append(cloud.stop)

        # The appliance a zip upload adds (and a scan finds).
        new_psk = secrets.token_bytes(32)
        new = Simulator(SimulatedAppliance(profile, services="iz", remote_start=True), new_psk, None).start()
        started.append(new.stop)
        new_id = _ha_id()
        advertiser = Advertiser([LOOPBACK])
        started.append(advertiser.close)
        advertiser.add(new, new_id)

        devices = tmp / "config" / "devices.json"  # not there yet: the first start
        devices.parent.mkdir()
        http_port = free_port()
        env = {**child_env(), "HCPY_CLOUD_BASE": cloud.base, "HCPY_SCAN_INTERFACES": LOOPBACK}
        bridge = Process(
            "hc2mqtt",
            [sys.executable, str(ROOT / "hc2mqtt.py"), "--devices_file", str(devices), "--mqtt_host", LOOPBACK,
             "--mqtt_port", str(broker.port), "--http_port", str(http_port)],  # fmt: skip
            tmp / "hc2mqtt.log",
            cwd=tmp,
            env=env,
        ).start()
        started.append(bridge.stop)
        url = f"http://{LOOPBACK}:{http_port}"

        def alive() -> None:
            if not bridge.alive():
                raise AssertionError(f"hc2mqtt exited:\n{bridge.tail()}")

        wait_for("the console of a bridge with no appliances yet", lambda: requests.get(url + "/healthz", timeout=2).status_code == 200,
                 alive=alive)  # fmt: skip
        driver = start_chromium(profile=tmp / "chromium-profile")
        started.append(driver.quit)
        say(f"add appliances: console {url}, fake cloud {cloud.base}, advertised {new_id} on :{new.port}")
        yield {
            "tmp": tmp, "url": url, "driver": driver, "cloud": cloud, "devices": devices, "bridge": bridge,
            "new_id": new_id, "new_key": b64(new_psk), "new_port": new.port,
        }  # fmt: skip
    finally:
        for stop in reversed(started):
            try:
                stop()
            except Exception as exc:  # noqa: BLE001 - stop the rest whatever one of them does
                say(f"stopping failed: {exc!r}")


def devices_json(stack) -> dict[str, dict]:
    path: Path = stack["devices"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    return {obj.get("haId"): obj for obj in json.loads(path.read_text())}


def done(driver) -> str:
    """The result of the step just posted: its sentence (AssertionError with the page's problem when it failed)."""
    WebDriverWait(driver, WAIT).until(EC.presence_of_element_located((By.ID, "add-result")))
    problems = driver.find_elements(By.ID, "add-problem")
    assert not problems, problems[0].text
    return driver.find_element(By.ID, "add-done").text


def test_with_no_appliances_yet_the_list_leads_to_add_appliances(setup_stack):
    driver = setup_stack["driver"]
    driver.get(setup_stack["url"] + "/")
    # The console opens on Add appliances (a first start) ...
    WebDriverWait(driver, WAIT).until(EC.presence_of_element_located((By.ID, "login-start")))
    assert driver.current_url == setup_stack["url"] + "/add"
    # ... and the list, asked for, says there is nothing yet and where to add it.
    driver.get(setup_stack["url"] + "/?list=1")
    assert not driver.find_elements(By.CSS_SELECTOR, "article.connection")
    link = WebDriverWait(driver, WAIT).until(EC.presence_of_element_located((By.ID, "add-appliances-link")))
    assert link.get_attribute("href").endswith("/add")
    assert not setup_stack["devices"].exists()


def test_the_cloud_login_in_the_browser_writes_devices_json(setup_stack):
    driver, cloud = setup_stack["driver"], setup_stack["cloud"]
    driver.get(setup_stack["url"] + "/")
    driver.find_element(By.ID, "nav-add").click()
    WebDriverWait(driver, WAIT).until(EC.presence_of_element_located((By.ID, "login-start")))
    picture = driver.find_element(By.ID, "hcauth-picture")
    assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", picture) > 0
    Select(driver.find_element(By.ID, "region")).select_by_value("EU")
    driver.find_element(By.ID, "login-start").click()
    link = WebDriverWait(driver, WAIT).until(EC.presence_of_element_located((By.ID, "login-url")))
    assert link.get_attribute("target") == "_blank"
    # What the user does in the other tab: log in; the browser then fails to open hcauth://…
    answer = requests.get(link.get_attribute("href"), allow_redirects=False, timeout=10)
    hcauth = answer.headers["Location"]
    assert hcauth.startswith("hcauth://auth/prod?code=")
    driver.find_element(By.ID, "pasted").send_keys(hcauth)
    driver.find_element(By.ID, "login-finish").click()
    assert "picks the appliances up within a few seconds" in done(driver)
    shown = {li.get_attribute("data-appliance") for li in driver.find_elements(By.CSS_SELECTOR, "#added li[data-appliance]")}
    assert shown == {"dishwasher", "washer"}, shown
    written = devices_json(setup_stack)
    assert written[CLOUD_DISHWASHER]["key"] == cloud.appliances[CLOUD_DISHWASHER].key
    assert written[CLOUD_WASHER]["iv"] == cloud.appliances[CLOUD_WASHER].iv
    assert (setup_stack["devices"].parent / f"{CLOUD_DISHWASHER}.zip").exists()
    page = driver.page_source
    assert cloud.appliances[CLOUD_DISHWASHER].key not in page and hcauth not in page


def test_a_profile_zip_uploaded_with_its_key_writes_devices_json(setup_stack):
    driver, new_id = setup_stack["driver"], setup_stack["new_id"]
    upload = setup_stack["tmp"] / f"{new_id}.zip"
    upload.write_bytes(profile_zip(FIXTURE_DISHWASHER, new_id))
    driver.get(setup_stack["url"] + "/add")
    driver.find_element(By.ID, "profile-files").send_keys(str(upload))
    driver.find_element(By.ID, "profile-key").send_keys(setup_stack["new_key"])
    driver.find_element(By.ID, "upload-button").click()
    done(driver)
    entry = devices_json(setup_stack)[new_id]
    assert entry["key"] == setup_stack["new_key"] and entry["host"] == new_id  # not found yet: the scan sets it
    assert setup_stack["new_key"] not in driver.page_source


def test_a_scan_finds_where_the_uploaded_appliance_is(setup_stack):
    driver, new_id = setup_stack["driver"], setup_stack["new_id"]
    driver.get(setup_stack["url"] + "/add")
    driver.find_element(By.ID, "scan-button").click()
    done(driver)
    row = driver.find_element(By.CSS_SELECTOR, f'#heard tr[data-ha-id="{new_id}"]')
    assert row.find_element(By.CSS_SELECTOR, '[data-field="host"]').text == LOOPBACK
    entry = devices_json(setup_stack)[new_id]
    assert (entry["host"], entry.get("port")) == (LOOPBACK, setup_stack["new_port"])
    driver.save_screenshot(str(setup_stack["tmp"] / "add-appliances.png"))


def test_the_running_bridge_connects_to_the_appliance_added_without_a_restart(setup_stack):
    driver, new_id = setup_stack["driver"], setup_stack["new_id"]
    name = devices_json(setup_stack)[new_id]["name"]
    card = f'article.connection[data-appliance="{name}"]'

    def online() -> bool:
        driver.get(setup_stack["url"] + "/")
        found = driver.find_elements(By.CSS_SELECTOR, card)
        return bool(found) and found[0].get_attribute("data-state") == "online"

    wait_for(f"{name} online on the list", online)
    assert setup_stack["bridge"].alive(), "hc2mqtt was restarted or ended"
    # The cloud's appliances are listed too (their hosts are not on this network: offline, said why).
    listed = {e.get_attribute("data-appliance") for e in driver.find_elements(By.CSS_SELECTOR, "article.connection")}
    assert {"dishwasher", "washer", name} <= listed, listed
    driver.save_screenshot(str(setup_stack["tmp"] / "added-online.png"))
