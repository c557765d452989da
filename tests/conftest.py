"""Fixtures: a private mosquitto broker and a subscriber on it (see support.py)."""

from __future__ import annotations

import pytest
from support import DISHWASHER, Broker, Kitchen, Subscriber, bridged, make_pki, profile_files, simulated

from hcpy.appliance.profile_xml import parse_profile


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


@pytest.fixture
def subscriber(broker):
    s = Subscriber(broker.port)
    yield s
    s.close()


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """A CA, certificates and a password file for a TLS broker (support.make_pki)."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def run_one(broker, subscriber):
    """Start a bridge (with Home Assistant's extras) for one simulated appliance."""
    started = []

    def start(sim, entry):
        context = bridged(broker.port, [(sim, entry)], ha_discovery=True)
        context.__enter__()
        started.append((context, sim))
        kitchen = Kitchen(subscriber, sim, entry.name)
        kitchen.sees("LWT", "online")
        return kitchen

    yield start
    for context, sim in started:
        context.__exit__(None, None, None)
        sim.stop()


@pytest.fixture
def sims():
    """Simulated appliances from the fixture profiles, `make(stem, name, transport)`; stopped after the test."""
    started = []

    def make(stem: str = DISHWASHER, name: str = "dishwasher", transport: str = "tls"):
        sim, entry = simulated(parse_profile(*profile_files(stem)), name, transport)
        started.append(sim)
        return sim, entry

    yield make
    for sim in started:
        sim.stop()
