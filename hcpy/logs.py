"""Log lines that stay readable whatever arrives: bounded and rate-limited.

Input hcpy does not control (an appliance, anyone who can publish on the
broker) decides how often a warning fires and what it quotes. `excerpt`
bounds what a line or an answer quotes of that input; `Throttle` lets the
first few lines of one kind through and then counts, saying how many it
held back ("… and 9,999 more like it in the last 60 s") when that kind
fires again after its window. Shared by every layer; no I/O beyond the
logger it is given.
"""

from __future__ import annotations

import logging
import reprlib
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

# What a log line or an answer quotes of the input, at most.
EXCERPT = 80


def excerpt(value: Any, limit: int = EXCERPT) -> str:
    """repr() of `value`, cut to `limit` characters (the cut says how long it was).

    Built without rendering all of a huge value: a long string is sliced
    before repr(), and containers go through reprlib, which stops at a few
    entries and levels.
    """
    if isinstance(value, (str, bytes, bytearray)):
        shown, size = repr(value[: limit + 1]), len(value)
    elif isinstance(value, (list, dict, tuple, set)):
        shown, size = _SHORT.repr(value), len(value)
        if len(shown) > limit:
            return shown[:limit] + f"…({size:,} entries)"
        return shown
    else:
        shown, size = repr(value), 0
    if len(shown) <= limit:
        return shown
    return shown[:limit] + (f"…({size:,} long)" if size else "…")


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 4, EXCERPT, EXCERPT
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 8


class Throttle:
    """At most `burst` lines of each kind per `window` seconds, the rest counted.

    A kind is any hashable key (say ("unknown uid",) or ("refused", topic)).
    Kinds are kept for `window` after their last line and at most `kinds` at
    once, so a flood of distinct keys cannot grow memory.
    """

    def __init__(
        self,
        log: logging.Logger,
        burst: int = 5,
        window: float = 60.0,
        kinds: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.log = log
        self.burst, self.window, self.kinds = burst, window, kinds
        self._clock = clock
        self._lock = threading.Lock()
        # kind -> [window start, lines logged in it, lines held back in it]
        self._seen: dict[Hashable, list[float]] = {}

    def log_line(self, level: int, kind: Hashable, message: str, *args: Any, exc_info: bool = False) -> bool:
        """Log unless this kind is over its burst; True when the line went out."""
        now = self._clock()
        held = 0
        with self._lock:
            entry = self._seen.get(kind)
            if entry is None or now - entry[0] >= self.window:
                held = int(entry[2]) if entry is not None else 0
                if entry is None and len(self._seen) >= self.kinds:
                    self._forget(now)
                entry = self._seen[kind] = [now, 0, 0]
            if entry[1] >= self.burst:
                entry[2] += 1
                return False
            entry[1] += 1
        if held:
            # noqa below: `message` is the caller's format string, grown by one clause; its arguments stay apart.
            self.log.log(level, message + " (and %s more like it in the last %.0f s, not logged)", *args, f"{held:,}",  # noqa: G003
                         self.window, exc_info=exc_info)  # fmt: skip
        else:
            self.log.log(level, message, *args, exc_info=exc_info)
        return True

    def warning(self, kind: Hashable, message: str, *args: Any) -> bool:
        return self.log_line(logging.WARNING, kind, message, *args)

    def _forget(self, now: float) -> None:
        """Make room: drop kinds whose window is over, else the oldest half."""
        stale = [k for k, (start, _, _) in self._seen.items() if now - start >= self.window]
        if not stale:
            stale = sorted(self._seen, key=lambda k: self._seen[k][0])[: max(1, len(self._seen) // 2)]
        for kind in stale:
            del self._seen[kind]
