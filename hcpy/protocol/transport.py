"""The client end of a connection to one appliance (PROTOCOL.md §1).

`Transport` carries message texts over a websocket: text frames inside
TLS-PSK, or binary frames through the AES frame codec. It also keeps the
connection honest: pings when idle and a silence timeout, so a half-open
connection is noticed instead of waited on forever.

Every appliance message crosses `receive()`, so it does little: one read of
the plain socket (TLS is decrypted from memory, `tlspsk.ClientTls`), with
the kernel's receive timeout as the tick where it can be set, and every
frame that read completed is parsed at once. The reading thread holds no
lock while it waits; TLS state and sends take turns under one.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import ConnectError, ConnectionClosed, FrameError, KeyRejected
from ..logs import Throttle
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

if TYPE_CHECKING:
    from .frame import FrameCodec  # imported where an AES appliance needs it

PATH = "/homeconnect"
# Whether a struct timeval is two C longs of 64 bits, so that SO_RCVTIMEO can
# be written safely (see _tick_by_kernel).
KERNEL_TICK = struct.calcsize("l") == 8
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

    def __init__(
        self,
        endpoint: Endpoint,
        timing: Timing = Timing(),
        log: logging.Logger | None = None,
        throttle: Throttle | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.endpoint = endpoint
        self.timing = timing
        self._clock = clock  # what pings and silence are measured with (a test steps its own)
        self.log = log or logging.getLogger("hcpy.transport")
        self._throttle = throttle or Throttle(self.log)
        self._sock: socket.socket | None = None
        self._tls: tlspsk.ClientTls | None = None
        self._codec: FrameCodec | None = None  # on AES connections
        self._authenticated = False  # an AES frame from the appliance checked out
        self._reader = FrameReader(masked=False)
        self._texts: deque[str] = deque()  # received, not yet handed out
        self._last_received = 0.0
        self._last_ping = 0.0
        # The TLS state (OpenSSL allows one thread at a time) and the AES chain
        # (frames must go out in the order they were encrypted): the reading
        # thread decrypting and a thread sending a command take turns.
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
            stream: socket.socket | tlspsk.ClientTls = sock
            if not ep.uses_aes:
                stream = self._tls = tlspsk.ClientTls(sock, ep.psk)
            leftover = client_upgrade(stream, ep.host, ep.actual_port, PATH)
        except UpgradeRefused as exc:
            sock.close()
            raise ConnectError(
                f"the appliance at {ep.host} refused the websocket upgrade ({exc.status}); "
                "if this persists, power-cycle the appliance"
            ) from None
        except ssl.SSLError as exc:
            sock.close()
            reason = getattr(exc, "reason", None) or exc
            raise KeyRejected(
                f"TLS with the appliance at {ep.host} failed ({reason}); check its key in devices.json "
                "(run hc-login again if the appliance was reset)"
            ) from None
        except (OSError, WebSocketError) as exc:
            sock.close()
            raise ConnectError(f"cannot connect to {ep.url}: {_describe(exc)}") from None
        if ep.iv is not None:  # uses_aes
            # Fresh chains and MACs for every connection (PROTOCOL.md §1.2);
            # pycryptodome is only loaded where an AES appliance needs it.
            from .frame import FrameCodec

            self._codec = FrameCodec(ep.psk, ep.iv)
        _tick_by_kernel(sock, self.timing)
        self._sock = sock
        self._last_received = self._last_ping = self._clock()
        if leftover:
            self._take(self._reader.feed(leftover))

    def send(self, text: str) -> None:
        codec = self._codec
        if codec is None:
            self._send_frame(OP_TEXT, text.encode("utf-8"), "sending")
        else:
            # Encoded under the lock: the AES chain must go out in the order it was built.
            self._send_frame(OP_BINARY, lambda: codec.encode(text), "sending")

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
        now = self._clock()
        if now - self._last_received > self.timing.silence:
            self.close()
            raise ConnectionClosed(f"nothing received for {self.timing.silence:.0f} s")
        if now - self._last_ping >= self.timing.ping_interval:
            self._last_ping = now
            self._send_frame(OP_PING, b"", "ping")
        try:
            # No lock while waiting: other threads send meanwhile.
            chunk = sock.recv(65536)
        except (BlockingIOError, TimeoutError):
            return None  # a tick passed
        except (OSError, ValueError) as exc:
            # ValueError: the socket was closed by another thread meanwhile.
            self.close()
            raise ConnectionClosed(f"connection lost: {_describe(exc)}") from None
        if not chunk:
            self.close()
            raise ConnectionClosed("connection lost: the appliance closed the TCP connection")
        self._last_received = now
        if self._tls is not None:
            try:
                with self._io:
                    chunk = self._tls.decrypt(chunk)
            except ssl.SSLError as exc:
                self.close()
                raise ConnectionClosed(f"connection lost: TLS: {getattr(exc, 'reason', None) or exc}") from None
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
                    self._throttle.warning(("not utf-8",), "ignored a frame of %s bytes that is not UTF-8 text",
                                           f"{len(payload):,}")  # fmt: skip
            elif opcode == OP_BINARY and codec is not None:
                try:
                    self._texts.append(codec.decode(payload))
                except FrameError as exc:
                    # The chains no longer agree; nothing later can be trusted.
                    self.close()
                    if not self._authenticated:
                        # Not one frame ever checked out: not a broken connection, another key.
                        raise KeyRejected(
                            f"the first frame from the appliance at {self.endpoint.host} did not authenticate "
                            f"({exc}); check its key and iv in devices.json (run hc-login again if the "
                            "appliance was reset)"
                        ) from None
                    raise ConnectionClosed(str(exc)) from None
                self._authenticated = True
            elif opcode == OP_PING:
                self._send_frame(OP_PONG, payload, "pong")
            elif opcode == OP_CLOSE:
                self.close()
                raise ConnectionClosed("the appliance closed the connection")
            elif opcode == OP_TEXT:
                self._throttle.warning(("text on aes",), "ignored a text frame on an AES connection")

    def _send_frame(self, opcode: int, payload: bytes | Callable[[], bytes], what: str) -> None:
        """Send one frame; a callable payload is made under the lock (the AES chain's order)."""
        sock = self._sock
        if sock is None:
            raise ConnectionClosed("not connected")
        try:
            with self._io:
                frame = encode_frame(opcode, payload() if callable(payload) else payload, mask=True)
                sock.sendall(self._tls.encrypt(frame) if self._tls is not None else frame)
        except (OSError, ValueError) as exc:
            self.close()
            raise ConnectionClosed(f"{what} failed: {_describe(exc)}") from None

    def close(self) -> None:
        """Close at once; safe from any thread and more than once."""
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                # Wakes a thread blocked in recv() on this socket.
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    return str(exc) or type(exc).__name__


def _tick_by_kernel(sock: socket.socket, timing: Timing) -> None:
    """Make reads return after a tick, and sends give up after the connect timeout.

    A blocking socket with the kernel's SO_RCVTIMEO waits in one recv() call;
    Python's own timeout polls first, a second system call per message. The
    option takes a struct timeval, whose layout is certain only where a C
    long is 64 bits; elsewhere (32-bit ARM may have 64-bit time_t) Python's
    timeout it is. Read back, so that a value the kernel took otherwise is
    never trusted.
    """
    if KERNEL_TICK:
        sock.settimeout(None)
        try:
            for option, seconds in ((socket.SO_RCVTIMEO, timing.tick), (socket.SO_SNDTIMEO, timing.connect)):
                value = struct.pack("ll", int(seconds), int(seconds % 1 * 1_000_000))
                sock.setsockopt(socket.SOL_SOCKET, option, value)
                got_s, got_us = struct.unpack("ll", sock.getsockopt(socket.SOL_SOCKET, option, len(value)))
                if abs(got_s + got_us / 1e6 - seconds) > 0.05 or not got_s + got_us:
                    raise OSError("the kernel took another timeout")
            return
        except OSError:
            pass
    sock.settimeout(timing.tick)
