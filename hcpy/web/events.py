"""Server-sent events to open pages: value changes, connection changes, command answers.

The hub is a bridge listener: the bridge calls it on its own threads (an
appliance's connection thread, paho's), so it only renders the event once
and offers it to each subscribed page's bounded queue, never waiting. A page
whose queue is full (a client that stopped reading) is dropped: its stream
ends, and its browser reconnects and reloads what it shows. Each page's own
request thread writes its stream, with a keep-alive comment when quiet.

An appliance's page subscribes with `appliance=<name>` and gets that
appliance's `value`, `connection` and `answer` events; the appliance list
subscribes without, and gets every appliance's `connection` events.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

from ..appliance.state import Change
from .snapshot import connection_of, value_row

QUEUE_SIZE = 512  # events a page may fall behind by before it is dropped
# Open streams at once. Each holds one of the server's connections for as
# long as its page is open, so they may take half of them (bounded.py's 64)
# and no more: the pages themselves are served with the rest.
MAX_CLIENTS = 32
# Open streams from one client (one address): a browser opens at most 6
# connections to one host, so more are tabs left open or a script, and they
# must not take the streams of everyone else.
MAX_PER_CLIENT = 8
KEEP_ALIVE = b": keep-alive\n\n"
RETRY = b"retry: 2000\n\n"  # how soon a browser comes back after its stream ended
CARD_INTERVAL = 1.0  # seconds between refreshes of an appliance's card while values flow


def frame(event: str, data: Any) -> bytes:
    """One event in the text/event-stream format (its data on one line: JSON has no newline)."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n".encode()


class TooManyClients(Exception):
    pass


class Client:
    """One page's stream: what it wants, and the events waiting for it."""

    def __init__(self, appliance: str | None, size: int, source: str | None = None):
        self.appliance = appliance
        self.source = source
        self.queue: queue.Queue[bytes] = queue.Queue(maxsize=size)
        self.dropped = False

    def wants(self, appliance: str, event: str) -> bool:
        return appliance == self.appliance if self.appliance is not None else event == "connection"

    def offer(self, data: bytes) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(data)
        except queue.Full:
            self.dropped = True  # its request thread sees it and ends the stream

    def next(self, timeout: float) -> bytes | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None


class EventHub:
    def __init__(self, queue_size: int = QUEUE_SIZE, max_clients: int = MAX_CLIENTS, per_client: int = MAX_PER_CLIENT):
        self.queue_size = queue_size
        self.max_clients = max_clients
        self.per_client = per_client
        # Replaced whole under the lock, read without it: the bridge's threads never wait for a page.
        self._clients: tuple[Client, ...] = ()
        self._lock = threading.Lock()
        self.closed = False
        self._card_sent: dict[str, float] = {}  # appliance -> when its card was last refreshed (monotonic)
        self._card_due: set[str] = set()  # appliances whose card is refreshed when their interval is over

    def subscribe(self, appliance: str | None, source: str | None = None) -> Client:
        """A new stream; `source`: who opens it (None: not counted per client, as Home Assistant's ingress for all its users)."""
        client = Client(appliance, self.queue_size, source)
        with self._lock:
            if len(self._clients) >= self.max_clients:
                raise TooManyClients(f"{len(self._clients)} pages follow the console already; close one and reload")
            if source is not None and sum(c.source == source for c in self._clients) >= self.per_client:
                raise TooManyClients(
                    f"{self.per_client} pages of this browser (or of others at {source}) follow the console already; "
                    "close one and reload"
                )
            self._clients = self._clients + (client,)
        return client

    def unsubscribe(self, client: Client) -> None:
        with self._lock:
            self._clients = tuple(c for c in self._clients if c is not client)

    @property
    def clients(self) -> int:
        return len(self._clients)

    def close(self) -> None:
        """End every stream (their threads see it within their poll interval)."""
        self.closed = True
        for client in self._clients:
            client.dropped = True

    def publish(self, appliance: str, event: str, data: Any) -> None:
        clients = [c for c in self._clients if c.wants(appliance, event)]
        if not clients or self.closed:
            return
        rendered = frame(event, data)
        for client in clients:
            client.offer(rendered)

    # -- the bridge's listener ------------------------------------------------------------

    def values_changed(self, appliance: Any, changes: list[Change]) -> None:
        watching = {c.appliance for c in self._clients}
        if appliance.name not in watching and None not in watching:
            return  # nobody looks: nothing to render (the list looks at every card: its face moves with the values)
        features = appliance.state.profile.features
        for change in changes if appliance.name in watching else ():
            if change.feature.uid in features:  # a uid the profile lacks is listed apart, on a reload
                self.publish(appliance.name, "value", value_row(change.feature, change.value).to_json())
        # The card (its face, message counts, last message time) moves with
        # every value: refreshed at most once a CARD_INTERVAL, not at every
        # value, and once more when the interval is over, so that the last
        # change of a burst is shown too.
        now = time.monotonic()
        wait = CARD_INTERVAL - (now - self._card_sent.get(appliance.name, 0.0))
        if wait <= 0:
            self._card_sent[appliance.name] = now
            self.publish(appliance.name, "connection", connection_of(appliance).to_json())
        elif appliance.name not in self._card_due:
            self._card_due.add(appliance.name)
            timer = threading.Timer(wait, self._card_later, (appliance,))
            timer.daemon = True
            timer.start()

    def _card_later(self, appliance: Any) -> None:
        self._card_due.discard(appliance.name)
        self._card_sent[appliance.name] = time.monotonic()
        try:
            card = connection_of(appliance).to_json()
        except RuntimeError:  # the state changed while read: the next value sends the card
            return
        if not self.closed:
            self.publish(appliance.name, "connection", card)

    def connection_changed(self, appliance: Any) -> None:
        if not self._clients:
            return
        self.publish(appliance.name, "connection", connection_of(appliance).to_json())

    def answered(self, appliance: Any, response: dict[str, Any]) -> None:
        self.publish(appliance.name, "answer", response)
