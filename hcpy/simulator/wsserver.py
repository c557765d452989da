"""The server side of RFC 6455 websockets, as an appliance answers them.

websocket-client only plays the client, and the simulator must be able to
misbehave on purpose (answer 404 to the upgrade, go silent, drop the TCP
connection without a close frame), so it owns its connection; the framing
itself is `hcpy.protocol.websocket`'s, shared with hcpy's own side. Works on
any connected socket, plain or TLS.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections import deque

from ..protocol.websocket import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameReader,
    WebSocketError,
    accept_key,
    close_code,
    encode_frame,
)

__all__ = [
    "CLOSE_GOING_AWAY",
    "OP_BINARY",
    "OP_TEXT",
    "CloseReceived",
    "PeerClosed",
    "ServerWebSocket",
    "WebSocketError",
    "accept_key",
]

_MAX_REQUEST = 16 * 1024


class PeerClosed(Exception):
    """The TCP connection ended (EOF or reset) before a websocket close."""


class CloseReceived(PeerClosed):
    """The peer sent a close frame (already answered)."""

    def __init__(self, code: int | None):
        super().__init__(f"close frame with code {code}")
        self.code = code


class ServerWebSocket:
    """One accepted websocket connection, server side.

    Not a thread owner: the caller reads and writes. The send lock keeps
    frames whole should a caller send from more than one thread.
    """

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._head = bytearray()  # the upgrade request, until it is complete
        self._reader = FrameReader(masked=True)
        self._received: deque[tuple[int, bytes]] = deque()
        self._send_lock = threading.Lock()
        self.close_sent = False

    @property
    def buffered(self) -> bool:
        """Whole frames already read from the socket but not yet handled."""
        return bool(self._received)

    # --- handshake -------------------------------------------------------

    def read_upgrade(self) -> tuple[str, dict[str, str]]:
        """Read the HTTP upgrade request; return (path, lower-cased headers)."""
        while b"\r\n\r\n" not in self._head:
            if len(self._head) > _MAX_REQUEST:
                raise WebSocketError("upgrade request too large")
            self._head += self._recv()
        end = self._head.index(b"\r\n\r\n")
        head = bytes(self._head[:end]).decode("latin-1")
        # Bytes after the request are already websocket frames.
        self._received.extend(self._reader.feed(bytes(self._head[end + 4 :])))
        self._head.clear()
        request_line, *header_lines = head.split("\r\n")
        parts = request_line.split()
        if len(parts) != 3 or parts[0] != "GET":
            raise WebSocketError(f"not a websocket upgrade: {request_line!r}")
        headers: dict[str, str] = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return parts[1], headers

    def accept(self, headers: dict[str, str]) -> None:
        """Answer 101; raises WebSocketError (nothing sent) for a request that is no upgrade."""
        key = headers.get("sec-websocket-key", "")
        if "websocket" not in headers.get("upgrade", "").lower() or not key:
            raise WebSocketError("upgrade request without Upgrade: websocket or Sec-WebSocket-Key")
        self._sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\n"
                "Upgrade: websocket\r\n"
                "Connection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
            ).encode("ascii")
        )

    def refuse(self, status: int, reason: str) -> None:
        self._sendall(f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode("ascii"))

    # --- frames in -------------------------------------------------------

    def read_message(self) -> tuple[int, bytes] | None:
        """Handle one received frame; return the (OP_TEXT | OP_BINARY, payload) message it is.

        Reads the socket only when no whole frame is waiting, so the caller
        can stop between any two frames. Returns None for a control frame
        (a ping is answered here). Raises CloseReceived after a close frame
        (answered), WebSocketError for a protocol violation and PeerClosed
        when the TCP connection ends.
        """
        while not self._received:
            self._received.extend(self._reader.feed(self._recv()))
        opcode, payload = self._received.popleft()
        if opcode == OP_PING:
            self.send_frame(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            if not self.close_sent:
                # Echo the peer's status code, as RFC 6455 §5.5.1 asks.
                self.close_sent = True
                self.send_frame(OP_CLOSE, payload[:2])
            raise CloseReceived(close_code(payload))
        elif opcode in (OP_TEXT, OP_BINARY):
            return opcode, payload
        return None

    def _recv(self) -> bytes:
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionError, OSError) as exc:
            raise PeerClosed(str(exc) or type(exc).__name__) from None
        if not chunk:
            raise PeerClosed("end of stream")
        return chunk

    # --- frames out ------------------------------------------------------

    def send_text(self, text: str) -> None:
        self.send_frame(OP_TEXT, text.encode("utf-8"))

    def send_binary(self, data: bytes) -> None:
        self.send_frame(OP_BINARY, data)

    def send_close(self, code: int = CLOSE_NORMAL) -> None:
        if not self.close_sent:
            self.close_sent = True
            self.send_frame(OP_CLOSE, struct.pack("!H", code))

    def send_frame(self, opcode: int, payload: bytes) -> None:
        """Send one unmasked frame (servers never mask, RFC 6455 §5.1)."""
        self._sendall(encode_frame(opcode, payload, mask=False))

    def _sendall(self, data: bytes) -> None:
        with self._send_lock:
            self.sock.sendall(data)
