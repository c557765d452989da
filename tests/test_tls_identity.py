"""The TLS-PSK identity (PROTOCOL.md §1.1), over real sockets on whichever back-end this Python has.

The simulator takes only the identity real appliances are known to accept
from hcpy, `HCCOM_Local_App`, and refuses any other with one log line: a
change to the identity hcpy sends cannot pass the suite unnoticed. The
identity is spelled out here on purpose, as the protocol's fact, not read
back from the code under test.
"""

from __future__ import annotations

import logging
import os
import ssl
from typing import Any

import pytest
import websocket
from support import DISHWASHER, profile_files

from hcpy.appliance.profile_xml import parse_profile
from hcpy.protocol import tlspsk
from hcpy.simulator import SimulatedAppliance, Simulator

SPEC_IDENTITY = "HCCOM_Local_App"
TIMEOUT = 5


@pytest.fixture(scope="module")
def profile():
    return parse_profile(*profile_files(DISHWASHER))


@pytest.fixture
def sim(profile):
    psk = os.urandom(32)
    with Simulator(SimulatedAppliance(profile), psk) as s:
        yield s, psk


def client_sending(identity: str, psk: bytes, hints: list) -> ssl.SSLContext:
    """hcpy's client context, made to send `identity` (and to note the server's hint)."""
    ctx: Any = tlspsk.client_context(psk)  # PSK callbacks: typeshed knows them from 3.13 on

    def callback(hint):
        hints.append(hint)
        return identity, psk

    ctx.set_psk_client_callback(callback)
    return ctx


def open_session(s: Simulator, ctx: ssl.SSLContext) -> websocket.WebSocket:
    ws = websocket.WebSocket(sslopt={"context": ctx})
    ws.connect(s.url, timeout=TIMEOUT)
    return ws


def test_hcpys_own_client_is_accepted(sim):
    s, psk = sim
    ws = open_session(s, tlspsk.client_context(psk))
    try:
        assert s.wait_connected(TIMEOUT) and s.accepted == 1
        greeting = ws.recv()
        assert isinstance(greeting, str) and '"resource":"/ei/initialValues"' in greeting.replace(" ", "")
    finally:
        ws.close()


def test_the_protocols_identity_is_accepted_and_the_server_hints_it(sim):
    s, psk = sim
    hints: list = []
    ws = open_session(s, client_sending(SPEC_IDENTITY, psk, hints))
    try:
        assert s.wait_connected(TIMEOUT) and s.accepted == 1
    finally:
        ws.close()
    assert hints == [SPEC_IDENTITY]


@pytest.mark.parametrize(
    "identity",
    [
        "Client_identity",  # what other projects send
        "",  # an empty one
        "HCCOM_Local_Ap",  # one letter short
        "HCCOM_Local_App ",  # one longer: no prefix match either way
        "hccom_local_app",  # the case counts
    ],
)
def test_any_other_identity_is_refused_with_one_clear_log_line(sim, identity, caplog):
    caplog.set_level(logging.INFO, logger="hcpy.simulator")
    s, psk = sim
    ws = websocket.WebSocket(sslopt={"context": client_sending(identity, psk, [])})
    with pytest.raises((ssl.SSLError, ConnectionError)) as refused:
        ws.connect(s.url, timeout=TIMEOUT)
    ws.shutdown()
    # The alert says why ("unknown psk identity"); a reset instead of it is the network's business.
    assert isinstance(refused.value, ConnectionError) or "identity" in str(refused.value).lower(), refused.value
    assert s.accepted == 0
    said = [r.getMessage() for r in caplog.records if "refused the TLS handshake" in r.getMessage()]
    assert len(said) == 1 and SPEC_IDENTITY in said[0], said
    assert (repr(identity) if identity else "an empty identity") in said[0], said
    assert psk.hex() not in " ".join(r.getMessage() for r in caplog.records)
    # Refusing one client costs nothing: the right identity still gets in.
    ws = open_session(s, tlspsk.client_context(psk))
    ws.close()
    assert s.accepted == 1
