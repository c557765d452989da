"""The console as the appliance's face, in a real browser (the same stack as test_console.py: hc2mqtt over the demo).

The dishwasher's card on the list and the top of its page show a program
started from the page: state, program, time left, end, progress; they
follow the run without a reload. Start now is styled by the program chosen
in the dropdown; the coffee machine offers no delayed start; the washer's
forecasts are values, not inputs; the message log names features.
"""

from __future__ import annotations

import time

from browser_stack import WAIT, Stack
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from test_console import mark_page, open_page, page_marker, severe_messages, wait

DISHWASHER = "dishwasher"
ECO = "Dishcare.Dishwasher.Program.Eco50"  # 3:45 h: almost two minutes at the simulator's 120x
OPERATION = "BSH.Common.Status.OperationState"
UNDER_WAY = ("DelayedStart", "Run", "Pause", "ActionRequired", "Aborting")
SLOT = 'article.connection[data-appliance="{name}"] [data-face-slot="{key}"]'
# What a slot shows: its text, or nothing while it is hidden.
SLOT_TEXT = """
const row = document.querySelector(arguments[0]);
return row && !row.hidden ? row.querySelector("dd").textContent.trim() : null;
"""


def slot_text(driver, name: str, key: str) -> str | None:
    return driver.execute_script(SLOT_TEXT, SLOT.format(name=name, key=key))


def progress_value(driver, name: str) -> float | None:
    return driver.execute_script(
        "const bar = document.querySelector(arguments[0]); return bar && !bar.closest('[hidden]') ? bar.value : null",
        SLOT.format(name=name, key="progress") + " progress",
    )


def looks_primary(driver, element_id: str) -> bool:
    """Whether the button is drawn in the accent colour, not the muted one of a button that would be refused."""
    return driver.execute_script(
        "const b = document.getElementById(arguments[0]);"
        "const muted = getComputedStyle(document.querySelector('.model')).color;"
        "return getComputedStyle(b).backgroundColor !== muted",
        element_id,
    )


def choose(driver, program: str) -> None:
    for _attempt in range(5):  # the controls are redrawn as values change
        try:
            Select(driver.find_element(By.ID, "program-select")).select_by_value(program)
            return
        except StaleElementReferenceException:
            time.sleep(0.05)


def press(driver, element_id: str) -> str:
    for _attempt in range(5):
        try:
            driver.find_element(By.ID, element_id).click()
            break
        except StaleElementReferenceException:
            time.sleep(0.05)

    def answered(d):
        element = d.find_element(By.ID, "program-reply" if element_id.startswith("start") else "run-reply")
        return element.text if element.get_attribute("data-status") in ("ok", "error") else None

    return wait(driver).until(answered)


def test_a_run_started_from_the_page_shows_on_the_face_and_the_list_follows_it_live(stack: Stack, driver):
    # A run of an earlier test ends first (Quick45: 15 s).
    open_page(driver, stack, "/")
    wait(driver, WAIT * 2).until(lambda d: slot_text(d, DISHWASHER, "operation") not in (None, *UNDER_WAY))
    assert slot_text(driver, DISHWASHER, "remaining") is None and slot_text(driver, DISHWASHER, "progress") is None

    open_page(driver, stack, f"/appliance/{DISHWASHER}")
    choose(driver, ECO)
    # Start now is styled by the program chosen: the dishwasher is idle, Eco50 startable.
    assert driver.find_element(By.ID, "start-button").get_attribute("data-startable") == "true"
    assert looks_primary(driver, "start-button")
    assert driver.find_element(By.ID, "start-delayed-button").is_displayed()  # Eco50 has StartInRelative
    since = stack.subscriber.mark()
    assert press(driver, "start-button").startswith("ok"), driver.find_element(By.ID, "program-reply").text
    stack.subscriber.wait(stack.topic(DISHWASHER, OPERATION), "Run", timeout=WAIT, since=since)
    # The top of the page, without a reload.
    wait(driver).until(lambda d: slot_text(d, DISHWASHER, "operation") == "Run")
    wait(driver).until(lambda d: slot_text(d, DISHWASHER, "program") == "Eco50")
    wait(driver).until(lambda d: (slot_text(d, DISHWASHER, "remaining") or "").endswith((" h", " min")))
    wait(driver).until(lambda d: slot_text(d, DISHWASHER, "end") not in (None, "", "–"))
    # Running, the appliance takes no other start: muted, and its title says why.
    wait(driver).until(lambda d: d.find_element(By.ID, "start-button").get_attribute("data-startable") == "false")
    assert "under way" in driver.find_element(By.ID, "start-button").get_attribute("title")
    assert not looks_primary(driver, "start-button")

    # The list: the dishwasher's card shows the run and follows it, the page never reloaded.
    open_page(driver, stack, "/")
    marker = mark_page(driver)
    assert slot_text(driver, DISHWASHER, "operation") == "Run"
    assert slot_text(driver, DISHWASHER, "program") == "Eco50"
    assert slot_text(driver, DISHWASHER, "phase")
    assert slot_text(driver, DISHWASHER, "door") == "Closed"
    assert slot_text(driver, DISHWASHER, "remote_start") == "yes"
    first_remaining = slot_text(driver, DISHWASHER, "remaining")
    first = wait(driver).until(lambda d: progress_value(d, DISHWASHER))  # the bar, once the appliance reports progress
    later = wait(driver, WAIT * 2).until(lambda d: (v := progress_value(d, DISHWASHER)) and v > first and v)
    assert later > first
    assert slot_text(driver, DISHWASHER, "progress") == f"{later:g} %"
    wait(driver).until(lambda d: slot_text(d, DISHWASHER, "remaining") != first_remaining)
    assert page_marker(driver) == marker, "the list was reloaded"
    # The connection is one click away.
    card = driver.find_element(By.CSS_SELECTOR, f'article.connection[data-appliance="{DISHWASHER}"]')
    address = card.find_element(By.CSS_SELECTOR, '[data-field="address"]')
    assert not address.is_displayed()
    card.find_element(By.CSS_SELECTOR, "details.connection-details summary").click()
    assert address.is_displayed() and address.text == f"127.0.0.1:{stack.appliance(DISHWASHER)['port']}"
    assert severe_messages(driver) == []

    # Left as found: the run aborted from its page.
    open_page(driver, stack, f"/appliance/{DISHWASHER}")
    assert press(driver, "abort-button").startswith("ok")
    wait(driver, WAIT * 2).until(lambda d: slot_text(d, DISHWASHER, "operation") not in UNDER_WAY)


def test_the_coffee_machine_has_no_delayed_start_and_start_now_follows_the_dropdown(stack: Stack, driver):
    open_page(driver, stack, "/appliance/coffeemaker")
    assert not driver.find_elements(By.ID, "start-delayed-button") and not driver.find_elements(By.ID, "start-delay")
    assert "Start with delay" not in driver.find_element(By.ID, "controls").text
    options = [o.get_attribute("value") for o in driver.find_elements(By.CSS_SELECTOR, "#program-select option")]
    for program in (options[-1], options[0]):
        choose(driver, program)
        assert driver.find_element(By.ID, "start-button").get_attribute("data-startable") == "true", program
        assert looks_primary(driver, "start-button"), program
    # Its face: what it is doing.
    assert slot_text(driver, "coffeemaker", "operation") == "Ready"
    assert severe_messages(driver) == []


def test_the_washers_forecasts_are_values_not_inputs(stack: Stack, driver):
    open_page(driver, stack, "/appliance/washer")
    cotton = "LaundryCare.Washer.Program.Cotton"
    choose(driver, cotton)
    fieldset = driver.find_element(By.CSS_SELECTOR, f'fieldset[data-program="{cotton}"]')
    assert fieldset.is_displayed()
    for forecast in ("BSH.Common.Option.EnergyForecast", "BSH.Common.Option.WaterForecast"):
        fields = fieldset.find_elements(
            By.CSS_SELECTOR, f'input[data-field-name="{forecast}"], select[data-field-name="{forecast}"]'
        )
        assert not fields, forecast
    # What a user sets there is still a field.
    assert fieldset.find_elements(By.CSS_SELECTOR, "select, input")
    for reading in fieldset.find_elements(By.CSS_SELECTOR, '[data-read-only="true"]'):
        assert not reading.find_elements(By.CSS_SELECTOR, "input, select"), reading.text


def test_the_message_log_names_features_with_their_uid(stack: Stack, driver):
    open_page(driver, stack, f"/appliance/{DISHWASHER}/log", live=False)
    text = driver.find_element(By.ID, "log-table").text
    assert f"{OPERATION} (" in text and "BSH.Common.Status.DoorState (" in text, text[:500]


def test_the_delay_is_offered_with_the_oven_programs_that_have_one_and_not_with_preheating(stack: Stack, driver):
    open_page(driver, stack, "/appliance/oven")
    options = {
        o.text: o.get_attribute("value") for o in driver.find_elements(By.CSS_SELECTOR, "#program-select option")
    }
    delayed = {o.text for o in driver.find_elements(By.CSS_SELECTOR, "#program-select option[data-delay]")}
    assert "PreHeating" in options and "PreHeating" not in delayed and "HotAir" in delayed, (options, delayed)
    for program, offered in (("HotAir", True), ("PreHeating", False), ("HotAir", True)):
        choose(driver, options[program])
        button = driver.find_element(By.ID, "start-delayed-button")
        assert button.is_displayed() is offered, program
        assert driver.find_element(By.ID, "start-delay").is_enabled() is offered, program
        assert looks_primary(driver, "start-button"), program
