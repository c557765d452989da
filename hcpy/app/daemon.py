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
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

from ..appliance.devices import load_devices
from ..appliance.entry import ApplianceEntry
from ..errors import HcpyError
from ..mqtt.bridge import Bridge, BridgeSettings
from ..mqtt.link import MqttSettings
from ..protocol.identity import installation_device_id
from .devices_watch import DevicesWatcher, stamp_of

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
    add_page: str | None = None,
) -> int:
    """Bridge every appliance of `devices_file` (or those in `names`) and follow the file; block until SIGTERM/SIGINT.

    `sections`: the config file's per-appliance settings, by appliance name;
    `console`: served beside the bridge (see `Console`); `add_page`: where
    its user adds appliances (for the line said when there are none yet).
    With a console, a devices file that is missing, empty or unreadable is
    no reason to stop: the bridge starts with no appliances and picks them
    up when the file lists some. Without one, it is (exit code 2).
    """
    give_back_large_blocks()
    waiting = console is not None
    seen = stamp_of(devices_file)  # before reading: a change meanwhile is picked up
    try:
        unread = waiting and (seen is None or seen.size == 0)
        entries = [] if unread else load_devices(devices_file, skip_broken=True)
    except (HcpyError, OSError) as exc:
        if not waiting:
            log.error("%s", exc)
            return 2
        log.error("%s; starting without appliances (the file is watched)", exc)
        entries = []
    sections = dict(sections or {})
    for name in sorted(set(sections) - {e.name for e in entries}):
        if entries or waiting:  # hc2mqtt runs, following the file: an appliance of that name may come
            log.warning("the config file's section [%s] names no appliance of %s yet; it applies to one added "
                        "under that name", name, devices_file)  # fmt: skip
        else:
            log.warning("the config file's section [%s] names no appliance of %s; it is not used", name, devices_file)
    if names and (entries or not waiting):
        unknown = set(names) - {e.name for e in entries}
        if unknown:
            log.error("%s has no appliance named %s", devices_file, ", ".join(sorted(unknown)))
            return 2
    prepare = partial(_chosen, names=names, sections=sections)
    entries = prepare(entries)
    if not entries and not waiting:
        log.error("%s lists no appliances; run hc-login first", devices_file)
        return 2

    # The deviceID is this installation's, kept beside devices.json.
    settings = replace(settings, device_id=installation_device_id(Path(devices_file).parent))
    # Each appliance's runs (hcpy.runs) are kept there too, in runs/.
    settings = replace(settings, runs_dir=settings.runs_dir or Path(devices_file).parent / "runs")
    if not mqtt.clientname:
        mqtt = replace(mqtt, clientname=client_id(settings.device_id))
    if not entries:
        where = f" at {add_page}" if add_page else ""
        log.info(
            "no appliances yet: add them in the web console%s (or run hc-login); %s is watched", where, devices_file
        )

    def watch(bridge: Bridge) -> DevicesWatcher:
        return DevicesWatcher(devices_file, bridge, prepare, seen)

    return serve(entries, mqtt, settings, console, watch)


def _chosen(
    entries: list[ApplianceEntry], names: tuple[str, ...], sections: Mapping[str, dict[str, Any]]
) -> list[ApplianceEntry]:
    """The appliances to bridge of those the devices file lists: those in `names` (all: none), with their sections."""
    return [e.with_options(sections.get(e.name)) for e in entries if not names or e.name in names]


def serve(
    entries: list[ApplianceEntry],
    mqtt: MqttSettings,
    settings: BridgeSettings,
    console: Console | None = None,
    watch: Callable[[Bridge], DevicesWatcher] | None = None,
) -> int:
    """Bridge `entries` to the broker until SIGTERM/SIGINT; 0 then, 2 when they cannot be bridged.

    `console` is started before the bridge (it sees everything from the
    first connect) and stopped before it; `watch` makes what follows the
    devices file (started once the bridge runs, stopped first).
    """
    try:
        bridge = Bridge(entries, mqtt, settings)
    except HcpyError as exc:
        log.error("%s", exc)
        return 2
    watcher = watch(bridge) if watch is not None else None
    if watcher is not None:
        bridge.reload_devices = watcher.reload  # for the console: pick up the file now

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
        if entries:
            log.info("starting %d appliance(s): %s", len(entries), ", ".join(e.name for e in entries))
        bridge.start()
        if watcher is not None:
            watcher.start()
        stop.wait()
    finally:
        try:
            if watcher is not None:
                watcher.stop()
            if stop_console is not None:
                stop_console()
        finally:
            bridge.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0
