"""The client end of a connection to one appliance (PROTOCOL.md §1).

`Transport` carries message texts over a websocket: text frames inside
TLS-PSK, or binary frames through the AES frame codec. It also keeps the
connection honest: pings when idle and a silence timeout, so a half-open
connection is noticed instead of waited on forever.

Every appliance message crosses `receive()`, so it does little: one poll,
one read, and every frame that read completed is parsed at once.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from ..errors import ConnectError, ConnectionClosed, FrameError
from . import tlspsk
from .websocket import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameReader,
    UpgradeRefused,
    WebSocketError,
    client_upgrade,
    encode_frame,
)

PATH = "/homeconnect"
# The most application data one TLS record carries (RFC 5246 §6.2.1).
_TLS_RECORD = 1 << 14
TLS_PORT = 443
AES_PORT = 80


@dataclass(frozen=True)
class Endpoint:
    """Where an appliance is and how to reach it. Holds the keys: never log it."""

    host: str
    psk: bytes = field(repr=False)
    iv: bytes | None = field(default=None, repr=False)
    port: int | None = None  # None: the appliance's fixed port

    @property
    def uses_aes(self) -> bool:
        return self.iv is not None

    @property
    def actual_port(self) -> int:
        return self.port or (AES_PORT if self.uses_aes else TLS_PORT)

    @property
    def url(self) -> str:
        scheme = "ws" if self.uses_aes else "wss"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.actual_port}{PATH}"


@dataclass(frozen=True)
class Timing:
    """Timeouts in seconds. Tests shorten them; the defaults suit appliances."""

    connect: float = 10.0
    ping_interval: float = 20.0
    # Nothing received (not even a pong) for this long: the connection is dead.
    # Below 60 s, so a half-open connection is noticed within a minute.
    silence: float = 50.0
    # How long one receive() waits before handing control back to its caller.
    tick: float = 1.0


class Transport:
    """One websocket connection; one instance per connection attempt."""

    def __init__(self, endpoint: Endpoint, timing: Timing = Timing(), log: logging.Logger | None = None):
        self.endpoint = endpoint
        self.timing = timing
        self.log = log or logging.getLogger("hcpy.transport")
        self._sock: socket.socket | None = None
        self._codec = None  # a FrameCodec on AES connections
        self._reader = FrameReader(masked=False)
        self._texts: deque[str] = deque()  # received, not yet handed out
        self._poll = select.poll()
        self._tick_ms = max(1, int(timing.tick * 1000))
        self._pending = None  # SSLSocket.pending: decrypted bytes poll() cannot see
        self._more = False  # whether they may be there
        self._read = None  # the socket's read
        self._last_received = 0.0
        self._last_ping = 0.0
        # OpenSSL allows one thread at a time on a connection: the reading
        # thread and a thread sending a command take turns.
        self._io = threading.Lock()

    def connect(self) -> None:
        ep = self.endpoint
        try:
            sock = socket.create_connection((ep.host, ep.actual_port), timeout=self.timing.connect)
        except OSError as exc:
            raise ConnectError(f"cannot connect to {ep.url}: {_describe(exc)}") from None
        try:
            # Messages are small and conversational: Nagle would only delay them.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if not ep.uses_aes:
                sock = tlspsk.client_context(ep.psk).wrap_socket(sock)
            leftover = client_upgrade(sock, ep.host, ep.actual_port, PATH)
        except UpgradeRefused as exc:
            sock.close()
            raise ConnectError(
                f"the appliance at {ep.host} refused the websocket upgrade ({exc.status}); "
                "if this persists, power-cycle the appliance"
            ) from None
        except ssl.SSLError as exc:
            sock.close()
            raise ConnectError(
                f"TLS with the appliance at {ep.host} failed ({exc.reason or exc}); check its key in devices.json"
            ) from None
        except (OSError, WebSocketError) as exc:
            sock.close()
            raise ConnectError(f"cannot connect to {ep.url}: {_describe(exc)}") from None
        if ep.uses_aes:
            # Fresh chains and MACs for every connection (PROTOCOL.md §1.2);
            # pycryptodome is only loaded where an AES appliance needs it.
            from .frame import FrameCodec

            self._codec = FrameCodec(ep.psk, ep.iv)
        sock.settimeout(self.timing.tick)
        self._pending = getattr(sock, "pending", None)
        # SSLSocket.recv only forwards to read.
        self._read = sock.read if isinstance(sock, ssl.SSLSocket) else sock.recv
        self._poll.register(sock, select.POLLIN)
        self._sock = sock
        self._last_received = self._last_ping = time.monotonic()
        if leftover:
            self._take(self._reader.feed(leftover))

    def send(self, text: str) -> None:
        codec = self._codec
        if codec is None:
            self._send_frame(OP_TEXT, text.encode("utf-8"), "sending")
        else:
            # Encoded under the lock: the AES chain must go out in the order it was built.
            self._send_frame(OP_BINARY, text, "sending", codec.encode)

    def receive(self) -> str | None:
        """Return the next message text, or None when a tick passed without one.

        Raises ConnectionClosed when the peer closed, the connection broke,
        stayed silent too long, or sent a frame failing its MAC.
        """
        texts = self._texts
        if texts:
            return texts.popleft()
        sock = self._sock
        if sock is None:
            raise ConnectionClosed("not connected")
        now = time.monotonic()
        if now - self._last_received > self.timing.silence:
            self.close()
            raise ConnectionClosed(f"nothing received for {self.timing.silence:.0f} s")
        if now - self._last_ping >= self.timing.ping_interval:
            self._last_ping = now
            self._send_frame(OP_PING, b"", "ping")
        try:
            # Wait outside the lock, so that other threads can send meanwhile;
            # read inside it.
            if not self._more and not self._poll.poll(self._tick_ms):
                return None
            with self._io:
                chunk = self._read(65536)
        except (TimeoutError, ssl.SSLWantReadError):
            return None  # half a TLS record so far
        except (OSError, ValueError) as exc:
            # ValueError: the socket was closed by another thread meanwhile.
            self.close()
            raise ConnectionClosed(f"connection lost: {_describe(exc)}") from None
        if not chunk:
            self.close()
            raise ConnectionClosed("connection lost: the appliance closed the TCP connection")
        self._last_received = now
        # TLS hands out one record per read; only after a full one can more
        # be decrypted already, where poll() cannot see it.
        self._more = len(chunk) >= _TLS_RECORD and self._pending is not None and self._pending() > 0
        try:
            frames = self._reader.feed(chunk)
        except WebSocketError as exc:
            self.close()
            raise ConnectionClosed(f"connection lost: {exc}") from None
        if len(frames) == 1 and frames[0][0] == OP_TEXT and self._codec is None:
            try:
                return frames[0][1].decode("utf-8")  # nearly every read: one TLS text frame
            except UnicodeDecodeError:
                pass  # _take() says so
        self._take(frames)
        return texts.popleft() if texts else None

    def _take(self, frames: list[tuple[int, bytes]]) -> None:
        """Queue the texts of received frames; answer pings; notice a close."""
        codec = self._codec
        for opcode, payload in frames:
            if codec is None and opcode in (OP_TEXT, OP_BINARY):
                try:
                    self._texts.append(payload.decode("utf-8"))
                except UnicodeDecodeError:
                    self.log.warning("ignored a frame that is not UTF-8 text")
            elif opcode == OP_BINARY and codec is not None:
                try:
                    self._texts.append(codec.decode(payload))
                except FrameError as exc:
                    # The chains no longer agree; nothing later can be trusted.
                    self.close()
                    raise ConnectionClosed(str(exc)) from None
            elif opcode == OP_PING:
                self._send_frame(OP_PONG, payload, "pong")
            elif opcode == OP_CLOSE:
                self.close()
                raise ConnectionClosed("the appliance closed the connection")
            elif opcode == OP_TEXT:
                self.log.warning("ignored a text frame on an AES connection")

    def _send_frame(self, opcode: int, payload, what: str, encode=None) -> None:
        sock = self._sock
        if sock is None:
            raise ConnectionClosed("not connected")
        try:
            with self._io:
                sock.sendall(encode_frame(opcode, encode(payload) if encode else payload, mask=True))
        except (OSError, ValueError) as exc:
            self.close()
            raise ConnectionClosed(f"{what} failed: {_describe(exc)}") from None

    def close(self) -> None:
        """Close at once; safe from any thread and more than once."""
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                # socket.socket's own shutdown: it wakes a thread blocked in
                # poll() or recv() on this socket, TLS or not.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    return str(exc) or type(exc).__name__
