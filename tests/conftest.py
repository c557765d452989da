"""Fixtures: a private mosquitto broker and a subscriber on it (see support.py)."""

from __future__ import annotations

import pytest
from support import Broker, Subscriber


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
