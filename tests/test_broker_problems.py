"""When the broker is wrong, hcpy says so plainly (issue 10, part 1).

The exact lines a user sees: the broker down or unknown at start, lost
later, and two clients sharing one client id, over a real mosquitto. Each
reason is said once, not at every retry.
"""

from __future__ import annotations

import logging

import pytest
from support import eventually, free_port, log_lines
from support import wait_for_log as wait_for

from hcpy.app.daemon import client_id
from hcpy.mqtt.link import MqttLink, MqttSettings


def lines(caplog, pattern: str) -> list[str]:
    return log_lines(caplog, pattern)


@pytest.fixture
def links():
    started = []

    def start(**settings) -> MqttLink:
        link = MqttLink(MqttSettings(**settings), lambda: None, lambda *a: None)
        link.start()
        started.append(link)
        return link

    yield start
    for link in started:
        link.stop(timeout=0.5)


def test_a_broker_that_is_down_at_start_is_named_with_the_reason(caplog, links):
    caplog.set_level(logging.DEBUG, logger="hcpy.mqtt")
    port = free_port()
    links(host="127.0.0.1", port=port, clientname="down")
    [line] = wait_for(caplog, "cannot connect")[:1]
    assert line == (
        f"cannot connect to the MQTT broker 127.0.0.1:{port}: connection refused: nothing listens on that port; "
        "is the broker running, is mqtt_port right?; retrying in 1 s"
    )
    # The next retries say nothing new at WARNING.
    wait_for(caplog, "retrying in 2 s")
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]


def test_a_host_that_does_not_resolve_is_said_so(caplog, links):
    caplog.set_level(logging.INFO, logger="hcpy.mqtt")
    links(host="no-such-broker.invalid", port=1883, clientname="dns")
    [line] = wait_for(caplog, "cannot connect")
    assert line.startswith("cannot connect to the MQTT broker no-such-broker.invalid:1883: its name does not resolve (")
    assert "check mqtt_host" in line


def test_a_broker_lost_later_is_said_once_then_its_reason(caplog, links, broker):
    caplog.set_level(logging.INFO, logger="hcpy.mqtt")
    link = links(host="127.0.0.1", port=broker.port, clientname="later")
    assert link.wait_connected(10)
    assert lines(caplog, "connected to MQTT broker") == [
        f"connected to MQTT broker 127.0.0.1:{broker.port} (MQTT 5, client id later)"
    ]
    broker.stop()
    wait_for(caplog, "connection refused")
    assert lines(caplog, "lost the MQTT broker") == ["lost the MQTT broker (the connection ended); reconnecting"]
    broker.start()
    assert link.wait_connected(15)


def test_two_clients_with_one_client_id_are_told_apart(caplog, links, broker, monkeypatch):
    caplog.set_level(logging.INFO, logger="hcpy.mqtt")
    # Their turns come sooner (the backoff doubles from here); the reasoning is the same.
    monkeypatch.setattr("hcpy.mqtt.link._FIRST_DELAY", 0.1)
    first = links(host="127.0.0.1", port=broker.port, clientname="hcpy1")
    assert first.wait_connected(10)
    second = links(host="127.0.0.1", port=broker.port, clientname="hcpy1")
    [blame] = wait_for(caplog, "another MQTT client")[:1]
    # Over MQTT 5 a broker may say "Session taken over"; mosquitto 2.0 just
    # closes the connection, and the third quick drop in a row tells.
    assert blame.startswith(("the broker says: ", "the broker keeps dropping hcpy right after it connects: "))
    assert blame.endswith(
        "another MQTT client is using hcpy's client id 'hcpy1'; give each its own mqtt_clientname "
        "(or leave it unset: hcpy then uses one unique to this installation)"
    )
    # They keep taking turns, but backing off, and the log does not repeat it
    # at every turn: two more connects each after the blame.
    turns = first.connects + second.connects
    eventually(lambda: first.connects + second.connects >= turns + 4, 20, "four more turns")
    assert len(lines(caplog, "another MQTT client")) <= 2  # at most once per link
    assert len(lines(caplog, "lost the MQTT broker")) <= 2


def test_the_default_client_id_is_this_installations_own():
    assert client_id("00112233aabbccdd") == "hcpy-00112233aabbccdd"
    assert len(client_id("00112233aabbccdd")) <= 23  # what every broker must accept (MQTT 3.1.1 §3.1.3.1)
