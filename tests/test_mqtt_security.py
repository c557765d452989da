"""MQTT over TLS with a client certificate and a password, against a real mosquitto."""

from __future__ import annotations

import base64
import logging
import os
import ssl
import subprocess

import paho.mqtt.client as paho
import pytest
from support import DISHWASHER, PASSWORD, USER, Broker, profile_files, wait_for_log

from hcpy.appliance.entry import entry_from_profile
from hcpy.appliance.profile_xml import parse_profile
from hcpy.mqtt.bridge import Bridge, BridgeSettings
from hcpy.mqtt.link import MqttSettings
from hcpy.simulator import SimulatedAppliance, Simulator


@pytest.fixture
def secure_broker(tmp_path, pki):
    broker = Broker(
        tmp_path,
        f"allow_anonymous false\npassword_file {pki / 'passwords'}\n"
        f"cafile {pki / 'ca.crt'}\ncertfile {pki / 'server.crt'}\nkeyfile {pki / 'server.key'}\n"
        "require_certificate true\n",
    )
    broker.start()
    yield broker
    broker.stop()


def subscribe(broker, pki):
    seen = {}
    client = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, client_id="secure-subscriber")
    client.tls_set(ca_certs=str(pki / "ca.crt"), certfile=str(pki / "client.crt"), keyfile=str(pki / "client.key"))
    client.username_pw_set(USER, PASSWORD)
    client.on_connect = lambda c, *a: c.subscribe("#")
    client.on_message = lambda c, u, m: seen.__setitem__(m.topic, m.payload.decode())
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client, seen


def wait_for(seen, topic, timeout=10):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if topic in seen:
            return seen[topic]
        time.sleep(0.05)
    raise AssertionError(f"nothing on {topic}; saw {sorted(seen)[:10]}")


def run_bridge(broker, pki, password, sim, psk):
    entry = entry_from_profile(
        sim.app.profile, key=base64.urlsafe_b64encode(psk).rstrip(b"=").decode(), host="127.0.0.1", port=sim.port
    )
    settings = MqttSettings(
        host="127.0.0.1",
        port=broker.port,
        username=USER,
        password=password,
        ssl=True,
        cafile=str(pki / "ca.crt"),
        certfile=str(pki / "client.crt"),
        keyfile=str(pki / "client.key"),
        clientname="hcpy-secure",
    )
    bridge = Bridge([entry], settings, BridgeSettings(device_id="00112233aabbccdd"))
    bridge.start()
    return bridge


def test_tls_client_certificate_and_password(secure_broker, pki, caplog):
    psk = os.urandom(32)
    client, seen = subscribe(secure_broker, pki)
    with caplog.at_level(logging.DEBUG), Simulator(SimulatedAppliance(parse_profile(*profile_files(DISHWASHER))), psk) as sim:
        bridge = run_bridge(secure_broker, pki, PASSWORD, sim, psk)
        try:
            assert wait_for(seen, "homeconnect/LWT") == "online"
            wait_for(seen, "homeconnect/dishwasher/state/bsh_common_status_doorstate")
        finally:
            bridge.stop()
            client.disconnect()  # first: it wakes paho's loop, which then ends at once
            client.loop_stop()
    assert PASSWORD not in caplog.text


def test_wrong_password_is_said_plainly_and_nothing_breaks(secure_broker, pki, caplog):
    psk = os.urandom(32)
    with caplog.at_level(logging.INFO), Simulator(SimulatedAppliance(parse_profile(*profile_files(DISHWASHER))), psk) as sim:
        bridge = run_bridge(secure_broker, pki, "wrong", sim, psk)
        try:
            # The appliance side carries on regardless of the broker.
            assert bridge.appliances[0].connection.wait_online(10)
            wait_for_log(caplog, "refused the connection")
            assert not bridge.link.connected
        finally:
            bridge.stop()
    refusals = [r.getMessage() for r in caplog.records if "refused the connection" in r.getMessage()]
    assert refusals and "mqtt_username/mqtt_password" in refusals[0]
    assert "wrong" not in " ".join(refusals)


def test_an_untrusted_broker_certificate_is_refused(secure_broker, pki, tmp_path):
    # A CA that did not sign the broker's certificate: TLS must fail, not connect.
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other CA",
                    "-keyout", "other.key", "-out", "other.crt"], cwd=tmp_path, check=True, capture_output=True)
    client = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, client_id="untrusting")
    client.tls_set(ca_certs=str(tmp_path / "other.crt"))
    with pytest.raises(ssl.SSLError):
        client.connect("127.0.0.1", secure_broker.port)
