"""The web console in a real browser: headless Chromium (Debian's chromium and chromium-driver) driven by Selenium.

Against hc2mqtt serving the simulator's demo appliances (conftest.py,
browser_stack.py): the appliance list renders with every appliance online; a
value changed at the simulator's console appears on the open page without a
reload; a program started from the page runs in the simulator; the message
log's download holds the handshake and the start command and no key or IV;
the runs page charts the finished run.

No test asserts on wall time: waits are explicit and generous, and only
reached when something is broken. How long a value took from the broker to
the page is measured and reported at the end of the run (terminal summary).
"""

from __future__ import annotations

import base64
import json
import statistics
import time
import uuid
from pathlib import Path

import pytest
from browser_stack import WAIT, Stack, say
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

DISHWASHER = "dishwasher"
WASHER = "washer"
QUICK = "Dishcare.Dishwasher.Program.Quick45"  # half an hour: 15 s at the simulator's 120x
DOOR = "BSH.Common.Status.DoorState"
OPERATION = "BSH.Common.Status.OperationState"

# Measurements for the terminal summary (conftest.py prints them).
MEASURED: list[str] = []

# Notes every change of one value cell's text, with the browser's clock (Date.now(), ms),
# also across a redraw of the values (the observer watches the whole body).
RECORD = """
const feature = arguments[0];
const cellText = () => {
  const cell = document.querySelector(`td.value[data-feature="${CSS.escape(feature)}"]`);
  return cell ? cell.textContent : null;
};
window.hcpyRecorded = window.hcpyRecorded || {};
if (!window.hcpyRecorded[feature]) {
  const seen = (window.hcpyRecorded[feature] = [{ text: cellText(), at: Date.now() }]);
  new MutationObserver(() => {
    const text = cellText();
    if (text !== seen[seen.length - 1].text) seen.push({ text, at: Date.now() });
  }).observe(document.body, { subtree: true, childList: true, characterData: true });
}
"""


def wait(driver, timeout: float = WAIT) -> WebDriverWait:
    # The controls are redrawn as the appliance's state moves: an element
    # found a moment ago may be gone; the next poll finds the new one.
    return WebDriverWait(driver, timeout, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,))


def open_page(driver, stack: Stack, path: str, live: bool = True) -> None:
    """Load a console page; with `live`, wait until its event stream is up."""
    driver.get(stack.url + path)
    if live:
        wait(driver).until(EC.presence_of_element_located((By.CSS_SELECTOR, 'body[data-live="open"]')))


def record(driver, feature: str) -> None:
    driver.execute_script(RECORD, feature)


def recorded(driver, feature: str) -> list[dict]:
    return driver.execute_script("return (window.hcpyRecorded || {})[arguments[0]] || null", feature) or []


def page_saw(driver, feature: str, text: str, timeout: float = WAIT) -> dict:
    """The recorded change of `feature`'s cell to `text` (waiting for it)."""

    def found(d):
        return next((entry for entry in recorded(d, feature) if entry["text"] == text), None)

    try:
        return wait(driver, timeout).until(found)
    except Exception as exc:
        raise AssertionError(f"the page never showed {feature} = {text!r}; it showed {recorded(driver, feature)}") from exc


def mark_page(driver) -> str:
    """A marker in the page's window: still there later means the page was not reloaded."""
    marker = uuid.uuid4().hex
    driver.execute_script("window.hcpyMarker = arguments[0]", marker)
    return marker


def page_marker(driver) -> str | None:
    return driver.execute_script("return window.hcpyMarker || null")


def severe_messages(driver) -> list[str]:
    """What the page's console said at level SEVERE (script errors, Content-Security-Policy refusals, failed loads)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def simulator_says(stack: Stack, line: str, expect: str, timeout: float = WAIT) -> str:
    """Type `line` at the simulator's console; its first new output line that contains `expect`."""
    before = len(stack.simulator.output())
    stack.simulator.type(line)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for said in stack.simulator.output()[before:].splitlines():
            if expect in said:
                return said
        time.sleep(0.05)
    raise AssertionError(f"the simulator did not answer {line!r} with {expect!r}:\n{stack.simulator.tail()}")


# -- 1. the appliance list -------------------------------------------------------------------------


def test_the_appliance_list_shows_every_demo_appliance_online(stack, driver):
    driver.get_log("browser")  # what came before is not this page's
    open_page(driver, stack, "/")
    assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-page") == "list"
    cards = driver.find_elements(By.CSS_SELECTOR, "article.connection[data-appliance]")
    names = sorted(card.get_attribute("data-appliance") for card in cards)
    assert names == sorted(entry["name"] for entry in stack.demo)
    assert {"coffeemaker", "dishwasher", "washer", "oven", "hood"} <= set(names), names
    for card in cards:
        name = card.get_attribute("data-appliance")
        assert card.get_attribute("data-state") == "online", name
        assert card.find_element(By.CSS_SELECTOR, '[data-field="state"]').text == "online", name
        assert card.find_element(By.CSS_SELECTOR, '[data-field="reason"]').text == "connected", name
        # The connection's details are one click away (a closed <details>): read as the document holds them.
        address = card.find_element(By.CSS_SELECTOR, '[data-field="address"]').get_attribute("textContent")
        assert address == f"127.0.0.1:{stack.appliance(name)['port']}"
        link = card.find_element(By.CSS_SELECTOR, "a.appliance-link")
        assert link.get_attribute("href") == f"{stack.url}/appliance/{name}"
        assert card.is_displayed()
    transports = {c.get_attribute("data-appliance"): c.find_element(By.CSS_SELECTOR, '[data-field="transport"]').get_attribute("textContent")
                  for c in cards}  # fmt: skip
    # Each card names the transport demo.json gives its appliance (an IV: AES).
    assert transports == {e["name"]: "AES" if e.get("iv") else "TLS" for e in stack.demo}
    assert {transports["coffeemaker"], transports["dishwasher"], transports["washer"]} == {"TLS", "AES"}
    # The console's script ran (the stream is open) and nothing was refused: no script error, no CSP violation.
    assert severe_messages(driver) == []

    # Following a card's link is a page of that appliance with its values.
    driver.find_element(By.CSS_SELECTOR, f'article.connection[data-appliance="{WASHER}"] a.appliance-link').click()
    wait(driver).until(EC.presence_of_element_located((By.CSS_SELECTOR, 'body[data-page="appliance"][data-live="open"]')))
    assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-appliance") == WASHER
    assert driver.find_element(By.CSS_SELECTOR, f'td.value[data-feature="{OPERATION}"]').text == "Ready"
    assert severe_messages(driver) == []


# -- 2. a value changed in the simulator shows on the open page --------------------------------------


def test_a_value_changed_in_the_simulator_appears_on_the_open_page_without_a_reload(stack, driver):
    open_page(driver, stack, f"/appliance/{DISHWASHER}")
    cell = (By.CSS_SELECTOR, f'td.value[data-feature="{DOOR}"]')
    assert driver.find_element(*cell).text == "Closed"
    marker = mark_page(driver)
    record(driver, DOOR)
    topic = stack.topic(DISHWASHER, DOOR)
    delays = []
    try:
        for _ in range(3):
            for typed, shown in (("open", "Open"), ("close", "Closed")):
                since = stack.subscriber.mark()
                said = simulator_says(stack, f"door {typed} {DISHWASHER}", f"{DISHWASHER}: ")
                assert f"door {shown.lower()}" in said.lower(), said
                published = stack.subscriber.seen_at(topic, shown, since=since)  # the bridge published it
                # On the page without anyone reloading it:
                wait(driver).until(EC.text_to_be_present_in_element(cell, shown))
                assert driver.find_element(*cell).text == shown
                changes = [e for e in recorded(driver, DOOR) if e["text"] == shown]
                delays.append(changes[-1]["at"] / 1000 - published)
    finally:
        stack.simulator.type(f"door close {DISHWASHER}")  # as the other tests want it
    assert page_marker(driver) == marker, "the page was reloaded"
    assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-live") == "open"
    texts = [e["text"] for e in recorded(driver, DOOR)]
    assert texts == ["Closed", "Open", "Closed", "Open", "Closed", "Open", "Closed"], texts
    ms = sorted(round(d * 1000) for d in delays)
    line = (f"broker -> page delay of {DOOR} on {DISHWASHER} over {len(ms)} changes: "
            f"min {ms[0]} ms, median {statistics.median(ms):g} ms, max {ms[-1]} ms (all: {ms})")  # fmt: skip
    MEASURED.append(line)
    say(line)


# -- 3. starting a program from the page ----------------------------------------------------------


@pytest.fixture(scope="session")
def quick_run(stack: Stack, driver) -> dict:
    """Quick45 started from the dishwasher's page, once a session: what the page and the broker said.

    Chose it in #program-select, pressed #start-button; collects #program-reply
    when it is no longer pending and the page's OperationState cell's changes.
    Asserts nothing: the tests do.
    """
    stack.simulator.type(f"door close {DISHWASHER}")
    since = stack.subscriber.mark()
    open_page(driver, stack, f"/appliance/{DISHWASHER}")
    record(driver, OPERATION)
    marker = mark_page(driver)
    for _attempt in range(5):  # the controls are redrawn as values change: a stale element is tried again
        try:
            Select(driver.find_element(By.ID, "program-select")).select_by_value(QUICK)
            driver.find_element(By.ID, "start-button").click()
            break
        except StaleElementReferenceException:
            time.sleep(0.2)
    reply = {"status": None, "text": None, "answer": None}

    def answered(d):
        element = d.find_element(By.ID, "program-reply")
        status = element.get_attribute("data-status")
        return (status, element.text, element.get_attribute("title")) if status in ("ok", "error") else None

    try:
        reply["status"], reply["text"], answer = wait(driver).until(answered)
        reply["answer"] = json.loads(answer) if answer else None
    except Exception as exc:  # noqa: BLE001 - the test says what was missing
        reply["text"] = f"no answer on the page: {exc!r}"
    return {"since": since, "reply": reply, "marker": marker}


def test_starting_a_program_from_the_page_makes_the_simulator_run_it(stack, driver, quick_run):
    reply = quick_run["reply"]
    assert reply["status"] == "ok", reply
    assert reply["text"].startswith("ok"), reply
    answer = reply["answer"]
    assert answer["status"] == "ok" and str(answer.get("transaction", "")).startswith("console-"), answer
    # The simulator runs it: it says so at its console, and the bridge publishes Run.
    said = simulator_says(stack, f"state {DISHWASHER}", f"{DISHWASHER}: ")
    assert ", Run, running Quick45" in said, said
    operation = stack.topic(DISHWASHER, OPERATION)
    stack.subscriber.wait(operation, "Run", timeout=WAIT, since=quick_run["since"])
    assert json.loads(stack.subscriber.wait(f"homeconnect/{DISHWASHER}/response", since=quick_run["since"]))["status"] == "ok"
    # And the page, still the same one, shows the appliance running it.
    page_saw(driver, OPERATION, "Run")
    assert page_marker(driver) == quick_run["marker"], "the page was reloaded"
    now = wait(driver).until(lambda d: (t := d.find_element(By.ID, "program-now").text) and "under way: none" not in t and t)
    assert "Quick45" in now.split("under way:")[1], now
    assert severe_messages(driver) == []


# -- 4. the message log's download ----------------------------------------------------------------


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def secret_spellings(stack: Stack) -> list[tuple[str, str]]:
    """Every appliance's key and IV, as base64url (demo.json's), padded base64url and base64, and hex: (text, what)."""
    spellings = []
    for entry in stack.demo:
        for field in ("key", "iv"):
            if not entry.get(field):
                continue
            raw = _unb64(entry[field])
            label = f"{entry['name']} {field}"
            for kind, text in (
                ("base64url", entry[field].rstrip("=")),
                ("padded base64url", base64.urlsafe_b64encode(raw).decode()),
                ("padded base64", base64.b64encode(raw).decode()),
                ("base64", base64.b64encode(raw).decode().rstrip("=")),
                ("hex", raw.hex()),
            ):
                spellings.append((text, f"{label} ({kind})"))
    return spellings


def download_log(stack: Stack, driver, downloads: Path, name: str) -> Path:
    open_page(driver, stack, f"/appliance/{name}/log", live=False)
    assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-page") == "log"
    before = set(downloads.iterdir())
    driver.find_element(By.ID, "log-download").click()

    def finished(_):
        new = list(set(downloads.iterdir()) - before)
        done = [p for p in new if p.name.startswith(f"{name}-messages-") and p.suffix == ".jsonl"]
        return done[0] if done and not any(p.suffix == ".crdownload" for p in new) else None

    try:
        return wait(driver).until(finished)
    except Exception as exc:
        raise AssertionError(f"no {name}-messages-*.jsonl in {downloads}: {sorted(p.name for p in downloads.iterdir())}") from exc


def test_the_log_download_holds_the_handshake_and_the_start_command_and_no_key(stack, driver, downloads, quick_run):
    assert quick_run["reply"]["status"] == "ok", quick_run["reply"]
    secrets = secret_spellings(stack)
    # Every appliance's key and every AES appliance's IV, five ways each.
    assert len(secrets) == 5 * sum(1 + bool(entry.get("iv")) for entry in stack.demo) >= 5 * 8
    for name in (DISHWASHER, WASHER):  # TLS, and AES with its IV
        path = download_log(stack, driver, downloads, name)
        text = path.read_text()
        messages = [json.loads(line) for line in text.splitlines()]
        assert messages and all({"at", "unix", "direction", "msg_id", "action", "resource", "data", "code"} <= set(m) for m in messages)
        seen = {(m["direction"], m["action"], m["resource"]) for m in messages}
        handshake = {("in", "POST", "/ei/initialValues"), ("out", "RESPONSE", "/ei/initialValues"), ("out", "GET", "/ci/services"),
                     ("out", "GET", "/ro/allMandatoryValues")}  # fmt: skip
        assert handshake <= seen, (name, sorted(seen))
        if name == DISHWASHER:
            starts = [m for m in messages if (m["direction"], m["action"], m["resource"]) == ("out", "POST", "/ro/activeProgram")]
            assert starts, sorted(seen)
            uid = _program_uid(stack, QUICK)
            started = [m for m in starts if any(d.get("program") == uid for d in m["data"] or [])]
            assert started, (uid, starts)
            # ... and the appliance's answer to it, without an error code.
            answers = [m for m in messages if m["direction"] == "in" and m["action"] == "RESPONSE" and m["msg_id"] == started[-1]["msg_id"]]
            assert answers and answers[0]["code"] is None, answers
        found = [label for secret, label in secrets if secret in text or secret.lower() in text.lower()]
        assert not found, f"{path.name} holds {found}"
        say(f"{path.name}: {len(messages)} messages, {path.stat().st_size} bytes, no key or IV")


def _program_uid(stack: Stack, program: str) -> int:
    """The program's uid in the dishwasher's profile (what /ro/activeProgram carries)."""
    from hcpy.appliance.devices import load_devices

    entry = next(e for e in load_devices(str(stack.tmp / "demo.json")) if e.name == DISHWASHER)
    return entry.profile.by_name(program).uid


# -- 5. the runs page charts the finished run ---------------------------------------------------------


def test_the_runs_page_charts_the_finished_run(stack, driver, quick_run):
    assert quick_run["reply"]["status"] == "ok", quick_run["reply"]
    stack.subscriber.wait(stack.topic(DISHWASHER, OPERATION), "Finished", timeout=WAIT + 30, since=quick_run["since"])

    def listed(d):
        open_page(d, stack, f"/appliance/{DISHWASHER}/runs", live=False)
        rows = d.find_elements(By.CSS_SELECTOR, "#runs-table tr[data-run]")
        return rows if rows else None

    rows = wait(driver).until(listed)  # the record is written as the run ends; the page is not live
    assert "Quick45" in rows[0].text and "finished" in rows[0].text, rows[0].text
    for chart, quantity in (("energy-chart", "energy"), ("water-chart", "water")):
        bars = driver.find_elements(By.CSS_SELECTOR, f"#{chart} rect[data-value]")
        assert bars, chart
        value = float(bars[-1].get_attribute("data-value"))
        assert value > 0, (chart, value)
        assert bars[-1].size["height"] > 0 and bars[-1].size["width"] > 0, (chart, bars[-1].size)
        cell = rows[0].find_element(By.CSS_SELECTOR, f'td[data-quantity="{quantity}"]')
        assert cell.text.strip() not in ("", "–"), cell.text
    assert driver.find_element(By.ID, "energy-chart").is_displayed()
    assert severe_messages(driver) == []
