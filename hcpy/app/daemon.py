"""Runs the bridge until a signal ends it: what `hc2mqtt` does."""

from __future__ import annotations

import ctypes
import faulthandler
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from ..appliance.devices import load_devices
from ..appliance.entry import ApplianceEntry
from ..errors import HcpyError
from ..mqtt.bridge import Bridge, BridgeSettings
from ..mqtt.link import MqttSettings
from ..protocol.identity import installation_device_id

log = logging.getLogger("hcpy")

# Seconds a shutdown may take before hc2mqtt says where it is stuck and ends
# itself: stopping takes about 2 s, and a process that hangs in it would
# otherwise be silent until systemd or docker kill it.
SHUTDOWN_LIMIT = 15.0


def _watch_shutdown(limit: float) -> None:
    """From now on, at most `limit` seconds to the end of the process (a daemon timer)."""

    def stuck() -> None:
        log.error("still shutting down after %g s: ending now; where each thread is (for an issue report):", limit)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        os._exit(1)

    timer = threading.Timer(limit, stuck)
    timer.daemon = True
    timer.start()

# What hc2mqtt serves beside MQTT (the web console, `console.web_console`, so
# that a bridge without one never loads hcpy.web): called with the bridge before it
# starts; returns what stops it, or None when there is nothing to stop.
# HcpyError: it cannot be served, and hc2mqtt does not start.
Console = Callable[[Bridge], Callable[[], None] | None]

# glibc's mallopt(): above this size a block gets its own mapping, unmapped
# when freed. glibc raises the threshold to the size of every such block
# freed (up to 32 MB), after which a burst of large messages stays in the
# heap for good; a fixed threshold keeps giving it back.
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 256 * 1024
# And one heap for all threads: glibc gives each thread that allocates its
# own (up to 8 per core), each keeping what it once held. CPython allocates
# under its global lock, so the threads would hardly ever meet in one heap.
_M_ARENA_MAX = -8


def give_back_large_blocks() -> bool:
    """Fix glibc's mmap threshold and use one heap (True when it could); elsewhere nothing to do."""
    try:
        # The process's own symbols: libc is loaded already (no library search,
        # which would run ldconfig in a subprocess).
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): they have no such setting
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(_M_ARENA_MAX, 1))


def client_id(device_id: str) -> str:
    """The MQTT client id of an installation that configured none.

    hcpy2-0's default, "hcpy1", is shared by every installation that kept it:
    two on one broker take each other's session in turn, every second. The
    deviceID is this installation's own; 21 characters, within the 23 every
    broker accepts.
    """
    return f"hcpy-{device_id}"


def run(
    devices_file: str,
    mqtt: MqttSettings,
    settings: BridgeSettings,
    names: tuple[str, ...] = (),
    sections: Mapping[str, dict[str, Any]] | None = None,
    console: Console | None = None,
) -> int:
    """Start every appliance of `devices_file` (or those in `names`); block until SIGTERM/SIGINT.

    `sections`: the config file's per-appliance settings, by appliance name;
    `console`: served beside the bridge (see `Console`).
    """
    give_back_large_blocks()
    try:
        entries = load_devices(devices_file, skip_broken=True)
    except (HcpyError, OSError) as exc:
        log.error("%s", exc)
        return 2
    sections = dict(sections or {})
    for name in sorted(set(sections) - {e.name for e in entries}):
        log.warning("the config file's section [%s] names no appliance of %s; it is not used", name, devices_file)
    if names:
        unknown = set(names) - {e.name for e in entries}
        if unknown:
            log.error("%s has no appliance named %s", devices_file, ", ".join(sorted(unknown)))
            return 2
        entries = [e for e in entries if e.name in names]
    if not entries:
        log.error("%s lists no appliances; run hc-login first", devices_file)
        return 2
    entries = [e.with_options(sections.get(e.name)) for e in entries]

    # The deviceID is this installation's, kept beside devices.json.
    settings = replace(settings, device_id=installation_device_id(Path(devices_file).parent))
    # Each appliance's runs (hcpy.runs) are kept there too, in runs/.
    settings = replace(settings, runs_dir=settings.runs_dir or Path(devices_file).parent / "runs")
    if not mqtt.clientname:
        mqtt = replace(mqtt, clientname=client_id(settings.device_id))
    return serve(entries, mqtt, settings, console)


def serve(entries: list[ApplianceEntry], mqtt: MqttSettings, settings: BridgeSettings, console: Console | None = None) -> int:
    """Bridge `entries` to the broker until SIGTERM/SIGINT; 0 then, 2 when they cannot be bridged.

    `console` is started before the bridge (it sees everything from the
    first connect) and stopped before it.
    """
    try:
        bridge = Bridge(entries, mqtt, settings)
    except HcpyError as exc:
        log.error("%s", exc)
        return 2

    # Before the console says where it is: whoever reads that may stop
    # hc2mqtt at once, and SIGTERM must then end it cleanly.
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received %s; shutting down", signal.Signals(signum).name)
        if not stop.is_set():
            _watch_shutdown(SHUTDOWN_LIMIT)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    stop_console = None
    if console is not None:
        try:
            stop_console = console(bridge)
        except HcpyError as exc:
            log.error("%s", exc)
            for s, handler in previous.items():
                signal.signal(s, handler)
            return 2
    try:
        log.info("starting %d appliance(s): %s", len(entries), ", ".join(e.name for e in entries))
        bridge.start()
        stop.wait()
    finally:
        try:
            if stop_console is not None:
                stop_console()
        finally:
            bridge.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0
