"""The client end of a connection to one appliance (PROTOCOL.md §1).

`Transport` carries message texts over a websocket: text frames inside
TLS-PSK, or binary frames through the AES frame codec. It also keeps the
connection honest: pings when idle and a silence timeout, so a half-open
connection is noticed instead of waited on forever.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

import websocket

from ..errors import ConnectError, ConnectionClosed, FrameError
from . import tlspsk
from .frame import FrameCodec

PATH = "/homeconnect"
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
    def url(self) -> str:
        scheme, default_port = ("ws", AES_PORT) if self.uses_aes else ("wss", TLS_PORT)
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port or default_port}{PATH}"


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
        self._ws: websocket.WebSocket | None = None
        self._codec: FrameCodec | None = None
        self._last_received = 0.0
        self._last_ping = 0.0
        # OpenSSL allows one thread at a time on a connection: the reading
        # thread and a thread sending a command take turns.
        self._io = threading.Lock()

    def connect(self) -> None:
        ep = self.endpoint
        if ep.uses_aes:
            # Fresh chains and MACs for every connection (PROTOCOL.md §1.2).
            self._codec = FrameCodec(ep.psk, ep.iv)
            sslopt = None
        else:
            sslopt = {"context": tlspsk.client_context(ep.psk)}
        ws = websocket.WebSocket(sslopt=sslopt, skip_utf8_validation=True)
        try:
            # Captures of the official app show an empty Origin header. An
            # appliance is on the LAN: never go through a proxy from the environment.
            ws.connect(
                ep.url,
                timeout=self.timing.connect,
                suppress_origin=True,
                header=["Origin:"],
                http_no_proxy=[ep.host],
            )
        except websocket.WebSocketBadStatusException as exc:
            ws.shutdown()
            raise ConnectError(
                f"the appliance at {ep.host} refused the websocket upgrade ({exc.status_code}); "
                "if this persists, power-cycle the appliance"
            ) from None
        except ssl.SSLError as exc:
            ws.shutdown()
            raise ConnectError(
                f"TLS with the appliance at {ep.host} failed ({exc.reason or exc}); check its key in devices.json"
            ) from None
        except (OSError, websocket.WebSocketException) as exc:
            ws.shutdown()
            raise ConnectError(f"cannot connect to {ep.url}: {_describe(exc)}") from None
        ws.settimeout(self.timing.tick)
        self._ws = ws
        self._last_received = self._last_ping = time.monotonic()

    def send(self, text: str) -> None:
        ws = self._ws
        if ws is None:
            raise ConnectionClosed("not connected")
        try:
            with self._io:
                if self._codec is not None:
                    ws.send_binary(self._codec.encode(text))
                else:
                    ws.send(text)
        except (OSError, websocket.WebSocketException) as exc:
            self.close()
            raise ConnectionClosed(f"sending failed: {_describe(exc)}") from None

    def receive(self) -> str | None:
        """Return the next message text, or None when a tick passed without one.

        Raises ConnectionClosed when the peer closed, the connection broke,
        stayed silent too long, or sent a frame failing its MAC.
        """
        ws = self._ws
        if ws is None:
            raise ConnectionClosed("not connected")
        now = time.monotonic()
        if now - self._last_received > self.timing.silence:
            self.close()
            raise ConnectionClosed(f"nothing received for {self.timing.silence:.0f} s")
        if now - self._last_ping >= self.timing.ping_interval:
            self._last_ping = now
            try:
                with self._io:
                    ws.ping()
            except (OSError, websocket.WebSocketException) as exc:
                self.close()
                raise ConnectionClosed(f"ping failed: {_describe(exc)}") from None
        try:
            # Wait outside the lock, so that other threads can send meanwhile;
            # read inside it.
            if not self._readable(ws):
                return None
            with self._io:
                opcode, payload = ws.recv_data(control_frame=True)
        except websocket.WebSocketTimeoutException:
            return None
        except (OSError, ValueError, websocket.WebSocketException, AttributeError) as exc:
            # AttributeError: websocket-client's socket went away under it
            # because close() ran in another thread.
            self.close()
            raise ConnectionClosed(f"connection lost: {_describe(exc)}") from None
        self._last_received = time.monotonic()
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            self.close()
            raise ConnectionClosed("the appliance closed the connection")
        if opcode in (websocket.ABNF.OPCODE_PING, websocket.ABNF.OPCODE_PONG):
            return None
        if self._codec is not None:
            if opcode != websocket.ABNF.OPCODE_BINARY:
                self.log.warning("ignored a text frame on an AES connection")
                return None
            try:
                return self._codec.decode(payload)
            except FrameError as exc:
                # The chains no longer agree; nothing later can be trusted.
                self.close()
                raise ConnectionClosed(str(exc)) from None
        if isinstance(payload, bytes):
            try:
                return payload.decode("utf-8")
            except UnicodeDecodeError:
                self.log.warning("ignored a frame that is not UTF-8 text")
                return None
        return payload

    def _readable(self, ws: websocket.WebSocket) -> bool:
        """Wait up to a tick for something to read."""
        sock = ws.sock
        if sock is None:
            raise ConnectionClosed("connection lost: closed")
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True  # already decrypted, the socket itself may be quiet
        readable, _, _ = select.select([sock], [], [], self.timing.tick)
        return bool(readable)

    def close(self) -> None:
        """Close at once; safe from any thread and more than once."""
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.abort()
            ws.shutdown()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    return str(exc) or type(exc).__name__
