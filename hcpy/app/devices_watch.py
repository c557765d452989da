"""devices.json watched while hc2mqtt runs: appliances added, changed and removed without a restart.

A cheap poll (the file's inode, size and modification time every
`POLL_INTERVAL` seconds) rather than inotify: it works on every file system a
container may mount (network shares, Docker Desktop's), and hc-login and the
console replace the file atomically (a new inode), which a poll sees as
surely as an edit in place.

What a read that fails does: nothing to the appliances. A file broken
mid-write, or invalid, is said in one line and the appliances bridged keep
running until a readable file says otherwise; so does a file that is gone or
empty (an editor saving, a volume not mounted yet, a backup being restored
look the same, and removing every appliance would take their entities out of
Home Assistant). A file listing none (`[]`) removes them all.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..appliance.devices import load_devices
from ..appliance.entry import ApplianceEntry
from ..appliance.entry_diff import EntryDiff
from ..errors import DevicesFileError
from ..mqtt.bridge import Bridge

log = logging.getLogger("hcpy")

POLL_INTERVAL = 2.0


@dataclass(frozen=True)
class Stamp:
    """What changes whenever the file does: written in place (size, time) or replaced (inode)."""

    inode: int
    size: int
    mtime_ns: int


def stamp_of(path: str | os.PathLike[str]) -> Stamp | None:
    """The file's stamp; None when there is no file (or it cannot be looked at)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return Stamp(st.st_ino, st.st_size, st.st_mtime_ns)


class DevicesWatcher:
    """Apply `path`'s appliances to `bridge` whenever the file changes.

    `prepare`: what the daemon does to the file's entries before bridging
    them (only the appliances asked for, the config file's sections).
    `seen`: the stamp of the file the bridge was started from, taken before
    it was read (a change while it was being read is then picked up).
    """

    def __init__(
        self,
        path: str,
        bridge: Bridge,
        prepare: Callable[[list[ApplianceEntry]], list[ApplianceEntry]],
        seen: Stamp | None,
        interval: float = POLL_INTERVAL,
    ):
        self.path = path
        self.bridge = bridge
        self.prepare = prepare
        self.interval = interval
        self._seen = seen
        self._unread_said = seen is None or seen.size == 0  # the daemon said so as it started
        self._lock = threading.Lock()  # one reload at a time (the poll, the console)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> DevicesWatcher:
        self._thread = threading.Thread(target=self._poll, name="devices-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 3.0) -> None:
        """Stop polling; a reload under way finishes first (within `timeout`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def check(self) -> EntryDiff | None:
        """Reload when the file changed since it was last read."""
        if stamp_of(self.path) == self._seen:
            return None
        return self.reload()

    def reload(self) -> EntryDiff | None:
        """Read the file now and bridge what it lists; what changed, or None when it could not be read."""
        with self._lock:
            self._seen = stamp = stamp_of(self.path)
            running = len(self.bridge.appliances)
            if stamp is None or stamp.size == 0:
                if not self._unread_said:
                    self._unread_said = True
                    what = "is gone" if stamp is None else "is empty"
                    log.warning("%s %s; the %d appliance(s) bridged keep running (a file listing none, [], removes "
                                "them)", self.path, what, running)  # fmt: skip
                return None
            self._unread_said = False
            skipped: list[str] = []
            try:
                entries = load_devices(self.path, skip_broken=True, skipped=skipped)
            except DevicesFileError as exc:
                log.error("%s; the %d appliance(s) bridged keep running as they are", exc, running)
                return None
            diff = self.bridge.apply(self.prepare(entries), broken=skipped)
        for name in diff.removed:
            log.info("removed %s (it left %s)", name, self.path)
        for changed in diff.changed:
            log.info("reconnecting %s: %s", changed.entry.name, changed.reason)
        for entry in diff.added:
            log.info("added %s (from %s)", entry.name, self.path)
        for name in diff.kept:
            log.warning("%s keeps running as it was: its entry in %s cannot be used (see above)", name, self.path)
        return diff

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # noqa: BLE001 - the watch must outlive any bug; the bridge runs on
                log.exception("reloading %s failed; the appliances bridged keep running", self.path)
