"""Shared test fixtures: real profiles and a private mosquitto broker."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

PROFILES = Path(__file__).parent / "fixtures" / "profiles"
DISHWASHER = "SIEMENS-SN658X06TE-000000000000"
WASHER = "SIEMENS-WM16XE91-000000000000"
COFFEE = "SIEMENS-TI9555X1DE-000000000000"


def profile_files(stem: str) -> tuple[bytes, bytes]:
    """(DeviceDescription.xml, FeatureMapping.xml) of a fixture profile."""
    return (
        (PROFILES / f"{stem}_DeviceDescription.xml").read_bytes(),
        (PROFILES / f"{stem}_FeatureMapping.xml").read_bytes(),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
    return found


class Broker:
    """A mosquitto of our own on a free loopback port; restartable."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [_mosquitto_binary(), "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(5)
            self.process = None


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()
