"""A key the appliance does not share is said as a WARNING with what to do (issue 10, part 7).

Over real sockets on both transports: TLS-PSK fails in the handshake, AES on
the first frame; either way the appliance's logger says it once, at WARNING,
naming devices.json, and retries quietly.
"""

from __future__ import annotations

import logging
import os
import time

import pytest
from support import DISHWASHER, FAST, QUICK_RETRY, profile_files, simulated

from hcpy.appliance.connection import ApplianceConnection
from hcpy.appliance.profile_xml import parse_profile
from hcpy.appliance.state import ApplianceState
from hcpy.protocol.transport import Endpoint


@pytest.mark.parametrize("transport, words", [
    ("tls", "TLS with the appliance at 127.0.0.1 failed"),
    ("aes", "the first frame from the appliance at 127.0.0.1 did not authenticate"),
])  # fmt: skip
def test_a_wrong_key_is_a_warning_that_names_the_file(transport, words, caplog):
    profile = parse_profile(*profile_files(DISHWASHER))
    sim, _ = simulated(profile, "dishwasher", transport)
    wrong = os.urandom(32)
    iv = os.urandom(16) if transport == "aes" else None
    connection = ApplianceConnection(
        "dishwasher", Endpoint("127.0.0.1", wrong, iv, sim.port), ApplianceState(profile, "dishwasher"),
        device_id="0011223344556677", timing=FAST, backoff=QUICK_RETRY,
    )  # fmt: skip
    caplog.set_level(logging.DEBUG, logger="hcpy")
    try:
        connection.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len([r for r in caplog.records if words in r.getMessage()]) < 3:
            time.sleep(0.05)
    finally:
        connection.stop(2)
        sim.stop()
    said = [r for r in caplog.records if r.name == "hcpy.appliance.dishwasher" and words in r.getMessage()]
    assert len(said) >= 3, [r.getMessage() for r in caplog.records]
    assert [r.levelno for r in said][:2] == [logging.WARNING, logging.DEBUG]  # once, then quietly
    assert "check its key" in said[0].getMessage() and "devices.json" in said[0].getMessage()
    assert not connection.online
