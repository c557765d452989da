"""An HTTP meter that cannot be asked: the reason and what to check, never an exception.

A meter's URL is typed by hand in config.ini; whatever is wrong with it
costs that run its figure and gives one reason and one hint (see
test_runs_meters for meters that answer badly).
"""

from __future__ import annotations

import pytest

from hcpy.runs.config import ENERGY, MeterSpec
from hcpy.runs.meters import read_http


def test_a_meter_whose_host_does_not_resolve_says_to_check_the_host_name():
    found = read_http(MeterSpec(ENERGY, "x", url="http://meter.invalid/cm?cmnd=Status%208", path=("v",)))
    assert found.value is None
    assert found.reason is not None and found.reason.startswith("could not be reached (")
    assert found.hint == "check the host name in its URL: it does not resolve"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://", "could not be asked (Invalid URL 'http://': No host supplied)"),
        ("ftp://127.0.0.1/x", "could not be asked (No connection adapters were found for 'ftp://127.0.0.1/x')"),
    ],
)
def test_a_url_requests_cannot_use_says_to_check_it(url, reason):
    found = read_http(MeterSpec(ENERGY, "x", url=url, path=("v",)))
    assert (found.value, found.reason, found.hint) == (None, reason, "check its URL")


def test_an_mqtt_meter_is_not_asked_over_http():
    found = read_http(MeterSpec(ENERGY, "x", topic="tele/plug/SENSOR", path=("v",)))
    assert (found.value, found.reason) == (None, "no URL to ask")
