"""Fixtures of the real-browser tests (test_console.py, test_ingress.py), run by .ci/browser as a separate CI step:

    python -m pytest checks/browser -q -p no:cacheprovider

Once per session (browser_stack.py, which also puts tests/ on sys.path for
tests/support.py's Broker, Subscriber and free_port): a mosquitto, the
simulator's demo appliances (`python -m hcpy.simulator --demo <tmp>/demo.json
--base-port <free>`, its console on a stdin pipe), hc2mqtt with its web
console on them (`python hc2mqtt.py --devices_file <tmp>/demo.json ...
--http_port <free>`), a subscriber to the broker, and a headless Chromium of
the distribution downloading into <tmp>/downloads. Everything is stopped at
the session's end, also when a test failed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_stack import Stack, running_stack, say, start_chromium


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Stack:
    with running_stack(tmp_path_factory.mktemp("browser")) as running:
        yield running


@pytest.fixture(scope="session")
def downloads(stack: Stack) -> Path:
    path = stack.tmp / "downloads"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def driver(stack: Stack, downloads: Path):
    chromium = start_chromium(downloads=downloads, profile=stack.tmp / "chromium-profile")
    say(f"{chromium.capabilities.get('browserName')} {chromium.capabilities.get('browserVersion')}, "
        f"chromedriver {chromium.capabilities.get('chrome', {}).get('chromedriverVersion', '?').split()[0]}")  # fmt: skip
    yield chromium
    chromium.quit()


def pytest_terminal_summary(terminalreporter):
    """The measured delays from the broker to the page (test_console.MEASURED), for the notes: reported, never asserted."""
    import sys

    measured = getattr(sys.modules.get("test_console"), "MEASURED", None)
    if measured:
        terminalreporter.section("measured in the browser")
        for line in measured:
            terminalreporter.write_line(line)
