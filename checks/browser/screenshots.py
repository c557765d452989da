"""Screenshots of the web console for the docs: docs/console-<page>.png.

    python checks/browser/screenshots.py [--out docs] [--speed 1200]

(with .ci/browser's venv, or any venv holding requirements-dev.txt and
checks/browser/requirements.txt). The same setup as the browser tests
(browser_stack.py): a mosquitto, the simulator's demo appliances, hc2mqtt
with its console, a headless Chromium of the distribution. It runs three
short dishwasher programs to their end (for the runs page's charts), starts
a long one from the page's own controls, and shoots, in the light colour
scheme at a device scale of 1:

  console-runs.png             the dishwasher's runs with the energy and water charts, 1280 px wide
  console-log.png              the washer's message log (its handshake, features named), 1280 px
  console-appliance-phone.png  the dishwasher mid-run, started from its page: its face and controls, 390 px
  console-appliance.png        the same page, 1280 px: face, controls, last answer, the status values
  console-appliances.png       the appliance list, every appliance's face, the dishwasher's mid-run, 1280 px

Everything it started is stopped again, also on failure.
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from browser_stack import ROOT, WAIT, Stack, running_stack, say, start_chromium, wait_for  # noqa: E402

DISHWASHER = "dishwasher"
WASHER = "washer"
OPERATION = "BSH.Common.Status.OperationState"
SHORT_RUNS = ("Dishcare.Dishwasher.Program.PreRinse", "Dishcare.Dishwasher.Program.Quick45", "Dishcare.Dishwasher.Program.Kurz60")
LONG_RUN = "Dishcare.Dishwasher.Program.Eco50"  # under way while the appliance page is shot
DESKTOP = 1280
PHONE = 390


def _driver_tools():
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait

    return By, EC, Select, WebDriverWait


def viewport(driver, width: int, height: int, mobile: bool = False) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )


def open_page(driver, stack: Stack, path: str, live: bool = True) -> None:
    By, EC, _, WebDriverWait = _driver_tools()
    driver.get(stack.url + path)
    if live:
        WebDriverWait(driver, WAIT).until(EC.presence_of_element_located((By.CSS_SELECTOR, 'body[data-live="open"]')))


def shoot(driver, path: Path, width: int, height: int | None = None, below: str | None = None) -> None:
    """The page from its top, `width` wide: `height` px, or down to the bottom of the element `below` names, or all of it."""
    page_height = driver.execute_script("return document.documentElement.scrollHeight")
    if below is not None:
        bottom = driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.getBoundingClientRect().bottom + window.scrollY : null", below
        )
        height = int(bottom) + 16 if bottom else page_height
    height = min(height or page_height, page_height)
    driver.execute_script("window.scrollTo(0, 0); document.activeElement && document.activeElement.blur()")
    time.sleep(0.8)  # the highlight of a changed value fades, the scroll settles
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {"format": "png", "captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}},
    )
    data = base64.b64decode(shot["data"])
    path.write_bytes(data)
    say(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {width}x{height}, {len(data) // 1024} KB")


def start_from_page(driver, stack: Stack, program: str, reload: bool = True) -> None:
    """Choose `program` on the dishwasher's page and press Start now, as a user does; its answer must be ok."""
    By, _, Select, WebDriverWait = _driver_tools()
    from selenium.common.exceptions import StaleElementReferenceException

    if reload:
        open_page(driver, stack, f"/appliance/{DISHWASHER}")
    for _ in range(5):
        try:
            Select(driver.find_element(By.ID, "program-select")).select_by_value(program)
            driver.find_element(By.ID, "start-button").click()
            break
        except StaleElementReferenceException:
            time.sleep(0.2)

    def answered(d):
        status = d.find_element(By.ID, "program-reply").get_attribute("data-status")
        return status if status in ("ok", "error") else None

    status = WebDriverWait(driver, WAIT, poll_frequency=0.05).until(answered)
    if status != "ok":
        raise RuntimeError(f"starting {program}: {driver.find_element(By.ID, 'program-reply').text}")


def run_to_end(driver, stack: Stack, program: str) -> None:
    since = stack.subscriber.mark()
    start_from_page(driver, stack, program)
    stack.subscriber.wait(stack.topic(DISHWASHER, OPERATION), "Finished", timeout=WAIT * 4, since=since)
    say(f"{program.rsplit('.', 1)[-1]} ran to its end")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where the PNGs go (default: docs/)")
    parser.add_argument("--speed", type=float, default=1200, help="the simulator's speed (default: %(default)s)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    By, EC, _, WebDriverWait = _driver_tools()
    with tempfile.TemporaryDirectory(prefix="hcpy-screenshots-") as scratch, running_stack(Path(scratch), args.speed) as stack:
        driver = start_chromium(DESKTOP, 900, profile=Path(scratch) / "chromium-profile")
        try:
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "light"}]})
            viewport(driver, DESKTOP, 900)
            for program in SHORT_RUNS:
                run_to_end(driver, stack, program)

            # The runs page, with the charts of the runs just finished.
            def runs_listed() -> bool:
                open_page(driver, stack, f"/appliance/{DISHWASHER}/runs", live=False)
                return len(driver.find_elements(By.CSS_SELECTOR, "#runs-table tr[data-run]")) >= len(SHORT_RUNS)

            wait_for("the runs on the runs page", runs_listed)
            shoot(driver, args.out / "console-runs.png", DESKTOP)

            # The washer's messages: the whole handshake, AES (nothing ran on it).
            open_page(driver, stack, f"/appliance/{WASHER}/log", live=False)
            WebDriverWait(driver, WAIT).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#log-table tr.message")))
            shoot(driver, args.out / "console-log.png", DESKTOP, height=1100)

            # The dishwasher under way with a long program, started on its page (on a phone): the
            # page as it is then, not reloaded (the reply beside the button, the last answer).
            viewport(driver, PHONE, 844, mobile=True)
            open_page(driver, stack, f"/appliance/{DISHWASHER}")
            since = stack.subscriber.mark()
            start_from_page(driver, stack, LONG_RUN, reload=False)
            stack.subscriber.wait(stack.topic(DISHWASHER, OPERATION), "Run", timeout=WAIT, since=since)
            stack.subscriber.wait(stack.topic(DISHWASHER, "BSH.Common.Option.ProgramProgress"),
                                  lambda p: p.isdigit() and int(p) >= 15, timeout=WAIT, since=since)  # fmt: skip
            WebDriverWait(driver, WAIT).until(
                lambda d: "Eco50" in d.find_element(By.ID, "program-now").text.partition("under way:")[2]
            )
            shoot(driver, args.out / "console-appliance-phone.png", PHONE, below="#controls")
            viewport(driver, DESKTOP, 900)
            shoot(driver, args.out / "console-appliance.png", DESKTOP, below='section.group:has(tbody[data-group="status"])')

            # Every appliance's face, the dishwasher's with its run (Eco50 lasts 11 s at 1200x: shot now).
            open_page(driver, stack, "/")
            WebDriverWait(driver, WAIT).until(
                lambda d: len(d.find_elements(By.CSS_SELECTOR, 'article.connection[data-state="online"]')) == len(stack.demo)
            )
            shoot(driver, args.out / "console-appliances.png", DESKTOP, below="#appliance-list")
        finally:
            driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
