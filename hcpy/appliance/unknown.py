"""Values for uids the profile lacks: kept, counted, and said once a minute.

An appliance whose firmware is newer than its profile (devices.json from an
older hc-login) reports uids the profile has no feature for. hcpy2-0
published them on ``T/state/<uid>`` with the raw value; hcpy does too, and
keeps here what the console and the metrics show: each uid's last value and
when it came, how many values came in all. The log gets one line per
appliance at most every `window` seconds naming how many and which uids
appeared since the last line. Pure logic: the caller gives the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The console lists at most this many uids; past that they are only counted.
REMEMBERED = 256
# A log line names at most this many of the new uids.
NAMED = 8
HINT = "run hc-login again to refresh the profile (the appliance's firmware is likely newer)"


@dataclass
class Sighting:
    uid: int
    value: Any  # as on the wire
    at: float  # unix time of the last value
    count: int = 1


class UnknownUids:
    def __init__(self, window: float = 60.0):
        self.window = window
        self.seen: dict[int, Sighting] = {}
        self.values = 0  # values received for uids the profile lacks, all told
        self.distinct = 0  # distinct such uids, remembered or not
        self._forgotten: set[int] = set()  # past REMEMBERED: only to count distinct uids (bounded by 0xFFFF)
        self._new: list[int] = []  # uids first seen since the last line
        self._since_line = 0  # values since the last line
        self._last_line: float | None = None

    def note(self, uid: int, value: Any, now: float) -> bool:
        """Keep a value; True when the uid is seen for the first time."""
        self.values += 1
        self._since_line += 1
        sighting = self.seen.get(uid)
        if sighting is not None:
            sighting.value, sighting.at = value, now
            sighting.count += 1
            return False
        if uid in self._forgotten:
            return False
        if len(self.seen) < REMEMBERED:
            self.seen[uid] = Sighting(uid, value, now)
        else:
            self._forgotten.add(uid)
        self.distinct += 1
        self._new.append(uid)
        return True

    @property
    def pending(self) -> bool:
        """New uids came that no line has named yet."""
        return bool(self._new)

    def line(self, appliance: str, now: float) -> str | None:
        """The log line now due, if any: new uids came and none was said in the last window.

        New uids that come within the window wait for the next message after
        it (any value); the count then covers them all.
        """
        if not self._new or (self._last_line is not None and now - self._last_line < self.window):
            return None
        named = ", ".join(str(uid) for uid in self._new[:NAMED])
        more = f" and {len(self._new) - NAMED:,} more" if len(self._new) > NAMED else ""
        prefix = f"{appliance}: " if appliance else ""
        text = (
            f"{prefix}{self._since_line:,} value(s) for {len(self._new):,} uid(s) the profile lacks "
            f"(new: {named}{more}; {self.distinct:,} such uid(s) so far), published on state/<uid>; {HINT}"
        )
        self._new, self._since_line, self._last_line = [], 0, now
        return text

    def listed(self) -> list[Sighting]:
        return sorted(self.seen.values(), key=lambda s: s.uid)
