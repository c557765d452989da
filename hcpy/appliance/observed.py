"""What the console and the metrics see of a connection: its messages, its state, its timings.

Kept by the connection (`Journal`, `ConnectionStats`) and the bridge
(`Histogram`) as they work, and only read by others (hcpy.web) when someone
looks. Recording is on the hot path, every message an appliance sends, so
it is a deque append and a few assignments under an uncontended lock (the
reading thread records what comes in, a sender what goes out); everything
readable is built when it is read.

Only protocol messages are recorded, never what the transport holds: the
key and IV never reach a Message, so they cannot reach the journal.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from ..protocol.message import Message
from ..protocol.resources import CI_AUTHENTICATION
from ..times import iso

IN = "in"  # a message from the appliance; "out" is one to it

# The message log is bounded in characters as well as in messages: a NOTIFY
# of a thousand values is 0.8 MB, and 500 of them kept per appliance grew
# hc2mqtt by 30 MB in the chaos soak. A message longer than KEPT_TEXT is
# kept as its envelope with a note instead of its data; all kept text of
# one connection is at most KEPT_TOTAL (the oldest messages go first).
KEPT_TEXT = 32 * 1024
KEPT_TOTAL = 1024 * 1024
# What stands for the data of a message too long to keep.
ABRIDGED = "hcpy: {entries} entries, {chars:,} characters: too long to keep in the message log"

# Connection states (ConnectionStats.state).
CONNECTING, ONLINE, OFFLINE, STOPPED = "connecting", "online", "offline", "stopped"

# Why a connection attempt ended (ConnectionStats.disconnects), told by the
# exception's type where the connection catches it:
#   refused              nothing listens there (TCP refused), or the websocket upgrade was refused
#   unreachable          no route, or the host name does not resolve
#   timeout              the connect or a handshake request timed out
#   key_rejected         the appliance does not share the key (or IV)
#   closed_by_appliance  the appliance closed the connection (TCP FIN or reset, websocket close)
#   silent               nothing arrived for Timing.silence seconds, not even a pong
#   error                a broken connection or a protocol error (TLS, websocket, MAC, a bad message)
#   other                anything else (a bug in hcpy: its traceback is in the log)
DISCONNECT_REASONS = (
    "refused",
    "unreachable",
    "timeout",
    "key_rejected",
    "closed_by_appliance",
    "silent",
    "error",
    "other",
)


@dataclass(frozen=True)
class JournalEntry:
    """One protocol message, as it crossed the wire, and when."""

    at: float  # unix time
    direction: str  # "in": from the appliance; "out": to it
    msg_id: int | None
    action: str  # GET, POST, NOTIFY, RESPONSE
    resource: str
    data: Any  # as on the wire
    code: int | None  # the error code of a response

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at, "milliseconds"),
            "unix": self.at,
            "direction": self.direction,
            "msg_id": self.msg_id,
            "action": self.action,
            "resource": self.resource,
            "data": self.data,
            "code": self.code,
        }


class Journal:
    """The last `size` messages of a connection in both directions, and counts of all of them.

    Kept across reconnects. Written by the session (the reading thread
    records what comes in; whoever sends records what goes out, under the
    session's send lock), read from any thread.
    """

    def __init__(self, size: int = 500, kept_text: int = KEPT_TEXT, kept_total: int = KEPT_TOTAL):
        self.size = size
        self.kept_text = kept_text
        self.kept_total = kept_total
        # The messages' text, parsed only when read: strings are not tracked
        # by the garbage collector, whereas thousands of kept message dicts
        # made every collection longer (latency at 10 appliances x 100/s).
        self._recent: deque[tuple[float, str, str]] = deque()
        self._kept = 0  # characters of text in _recent
        self._lock = threading.Lock()
        self.messages_in = 0
        self.messages_out = 0
        self.last_in_at: float | None = None
        self.last_out_at: float | None = None

    def record(self, direction: str, text: str) -> None:
        now = time.time()
        if len(text) > self.kept_text:
            text = _abridged(text)
        with self._lock:
            recent = self._recent
            recent.append((now, direction, text))
            self._kept += len(text)
            while len(recent) > self.size or (self._kept > self.kept_total and len(recent) > 1):
                self._kept -= len(recent.popleft()[2])
            if direction == IN:
                self.messages_in += 1
                self.last_in_at = now
            else:
                self.messages_out += 1
                self.last_out_at = now

    def entries(self) -> list[JournalEntry]:
        """The recorded messages, oldest first: a snapshot."""
        entries = []
        for at, direction, text in self._snapshot():
            m = Message.from_json(text)  # it was read once already: it parses
            entries.append(JournalEntry(at, direction, m.msgID, m.action.value, m.resource, _shown(m), m.code))
        return entries

    def _snapshot(self) -> tuple[tuple[float, str, str], ...]:
        with self._lock:
            return tuple(self._recent)

    @property
    def kept_chars(self) -> int:
        """Characters of message text held now (at most `kept_total`, but for one message)."""
        return self._kept

    def __len__(self) -> int:
        return len(self._recent)


@dataclass
class ConnectionStats:
    """Where a connection stands, since when and why, and how its attempts went.

    `state` is "connecting" until the first attempt ends, "online" once a
    handshake is done, "offline" when a connection was lost or an attempt
    failed, and stays so while it is retried (`since` is when it went
    offline, not the latest retry; `reason` the latest failure's), and
    "stopped" once hcpy stops.

    Written by the connection's thread (and stop()); read from any thread:
    each field is replaced whole, but for `disconnects`, whose counts only
    grow (a reader copies it with dict(), one step under the GIL).
    """

    state: str = CONNECTING
    since: float = field(default_factory=time.time)  # unix time the state began
    # Why the last attempt ended, as the log says it (None before any ended);
    # while offline, why it is offline.
    reason: str | None = None
    address: str = ""  # host, or host:port, the connection uses now (after mDNS relocation)
    transport: str = "tls"  # "tls" or "aes"
    connects: int = 0  # connections that came online
    # Ended attempts by reason class (DISCONNECT_REASONS): lost connections and failed connects.
    disconnects: Counter[str] = field(default_factory=Counter)
    firmware: str | None = None  # swVersion from the handshake's device info
    ha_id: str | None = None

    def enter(self, state: str, reason: str | None = None) -> None:
        """Now in `state` for `reason`; `since` moves only when the state changes."""
        if state != self.state:
            self.since = time.time()
        self.state, self.reason = state, reason

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "since": iso(self.since, "milliseconds"),
            "reason": self.reason,
            "address": self.address,
            "transport": self.transport,
            "connects": self.connects,
            "disconnects": dict(self.disconnects),
            "firmware": self.firmware,
            "ha_id": self.ha_id,
        }


# Upper bounds in seconds: from well under a millisecond (the bridge on a
# quiet machine) to seconds (a broker that holds hcpy back).
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Histogram:
    """Observed durations counted into fixed buckets, Prometheus style (upper bounds, inclusive).

    One writer (an appliance's thread); readers get a snapshot that may be
    one observation behind in one of its parts, which a scrape tolerates.
    """

    def __init__(self, buckets: tuple[float, ...] = BUCKETS):
        self.buckets = tuple(sorted(buckets))
        self._counts = [0] * (len(self.buckets) + 1)  # the last: above every bound (+Inf)
        self._sum = 0.0

    def observe(self, seconds: float) -> None:
        self._counts[bisect_left(self.buckets, seconds)] += 1
        self._sum += seconds

    def snapshot(self) -> tuple[list[int], float, int]:
        """(cumulative counts per bucket, the last for +Inf; sum; count)."""
        cumulative, total = [], 0
        for n in list(self._counts):
            total += n
            cumulative.append(total)
        return cumulative, self._sum, cumulative[-1]


# The authentication handshake's nonce and the appliance's answer to it: an
# answer derived from the key is no key, but a console or an issue report has
# no use for it either.
HIDDEN = {CI_AUTHENTICATION}
HIDDEN_DATA = "(hidden: the authentication handshake)"


def _abridged(text: str) -> str:
    """A message's text with its data replaced by a note saying how much there was.

    Only messages that were parsed (received) or built (sent) reach the
    journal, so the text parses.
    """
    message = Message.from_json(text)
    entries = len(message.data) if message.data is not None else 0
    message.data = [{"note": ABRIDGED.format(entries=entries, chars=len(text))}]
    return message.to_json()


def _shown(message: Message) -> Any:
    return HIDDEN_DATA if message.resource in HIDDEN and message.data else message.data
