"""An HTTP server whose clients cannot take it: a cap on connections, a deadline for headers, a deep backlog.

`http.server` gives each connection a thread of its own, for as long as the
client likes, and times out only single socket operations: a client sending
a byte every few seconds holds its thread for ever, and a few hundred such
clients hold a few hundred threads. Here:

- `BoundedServer` serves at most `max_connections` at once; the one beyond
  is answered 503 and closed at once by the accepting thread (no thread of
  its own). Its listen backlog (128, not socketserver's 5) holds a burst of
  clients connecting at the same moment instead of resetting some of them.
  A connection's end the client caused (reset, broken pipe, a timeout) is
  one debug line, not socketserver's traceback on stderr.
- `BoundedHandler` reads a request's line and headers against one deadline
  for all of them (`header_deadline` from their first byte), however slowly
  they drip in. Waiting for that first byte, an idle kept-alive connection
  has the per operation timeout (`timeout`), as the body and the answer do
  (an upload over a slow link may take long): shorter than the idle time of
  a client's connection pool (aiohttp's, in Home Assistant's ingress proxy,
  is 15 s), it would close connections such a client is about to reuse.
"""

from __future__ import annotations

import io
import logging
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("hcpy.web")

MAX_CONNECTIONS = 64  # served at once; a browser opens at most 6 to one host
BACKLOG = 128  # connections the kernel holds until they are accepted
HEADER_DEADLINE = 10.0  # seconds for a request's line and headers, all of them, from their first byte
_BUSY_SENTENCE = b"the console is busy with other clients; try again in a moment\n"
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
    b"Retry-After: 5\r\nContent-Length: %d\r\n\r\n%s" % (len(_BUSY_SENTENCE), _BUSY_SENTENCE)
)


class BoundedServer(ThreadingHTTPServer):
    daemon_threads = True  # an open event stream must not hold up the end
    request_queue_size = BACKLOG
    max_connections = MAX_CONNECTIONS
    header_deadline = HEADER_DEADLINE

    def server_activate(self) -> None:
        self._count_lock = threading.Lock()
        self.connections = 0
        super().server_activate()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._count_lock:
            full = self.connections >= self.max_connections
            if not full:
                self.connections += 1
        if full:
            log.debug("web console: %s turned away: %d connections served already", client_address[0], self.connections)
            return self._turn_away(request)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._ended()  # no thread started: its slot is free again
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._ended()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # the client reset, went away or stalled: nothing of ours failed
            log.debug("web console: the connection from %s ended: %s", client_address[0], error)
        else:
            log.error("web console: the connection from %s failed", client_address[0], exc_info=error)

    def _ended(self) -> None:
        with self._count_lock:
            self.connections -= 1

    def _turn_away(self, request: socket.socket) -> None:
        """Answer 503 without waiting on the client (the accepting thread must not), and close."""
        try:
            request.setblocking(False)
            try:
                # What the client sent already is read first: closing with it
                # unread would reset the connection before the 503 is read.
                request.recv(65536)
            except BlockingIOError:
                pass
            request.send(BUSY)
        except OSError:
            pass
        self.shutdown_request(request)


class BoundedHandler(BaseHTTPRequestHandler):
    server: BoundedServer

    def setup(self) -> None:
        super().setup()
        self._reader = _DeadlineReader(self.connection, self.timeout)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        self._reader.allow(self.server.header_deadline)
        super().handle_one_request()

    def parse_request(self) -> bool:
        parsed = super().parse_request()  # reads the headers
        self._reader.allow(None)
        self.connection.settimeout(self.timeout)  # what the last header's read left of the deadline no longer applies
        return parsed


class _DeadlineReader(io.RawIOBase):
    """A socket's bytes; once a deadline runs (`allow`), each read is given only what is left of it."""

    def __init__(self, sock: socket.socket, timeout: float | None):
        self.sock = sock
        self.timeout = timeout  # for each read, deadline or not
        self.allowed: float | None = None  # seconds from the next byte on
        self.deadline: float | None = None  # monotonic; set by the first byte read after `allow`

    def allow(self, seconds: float | None) -> None:
        """Give what is read from the next byte on `seconds` in all (None: no deadline)."""
        self.allowed = seconds
        self.deadline = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        wait = self.timeout
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request's headers took longer than the console waits for them")
            wait = left if wait is None else min(wait, left)
        self.sock.settimeout(wait)
        count = self.sock.recv_into(buffer)
        if count and self.allowed is not None and self.deadline is None:
            self.deadline = time.monotonic() + self.allowed
        return count
