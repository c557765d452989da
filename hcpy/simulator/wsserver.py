"""The server side of RFC 6455 websockets, just as much as an appliance needs.

websocket-client only plays the client, and the simulator must be able to
misbehave on purpose (answer 404 to the upgrade, go silent, drop the TCP
connection without a close frame), so it owns its framing. Works on any
connected socket, plain or TLS.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
import threading

# RFC 6455 §1.3: the accept value is the key plus this GUID, SHA-1, base64.
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_REQUEST = 16 * 1024
# Appliance messages are a few kB; anything far larger is an attack or a bug.
MAX_MESSAGE = 4 * 1024 * 1024

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_TOO_BIG = 1009


class WebSocketError(Exception):
    """The peer broke the websocket protocol; `close_code` says how."""

    def __init__(self, message: str, close_code: int = CLOSE_PROTOCOL_ERROR):
        super().__init__(message)
        self.close_code = close_code


class PeerClosed(Exception):
    """The TCP connection ended (EOF or reset) before a websocket close."""


class CloseReceived(PeerClosed):
    """The peer sent a close frame (already answered)."""

    def __init__(self, code: int | None):
        super().__init__(f"close frame with code {code}")
        self.code = code


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest()).decode("ascii")


def _unmask(mask: bytes, data: bytes) -> bytes:
    # One big-integer XOR instead of a Python loop over every byte.
    n = len(data)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


class ServerWebSocket:
    """One accepted websocket connection, server side.

    Not a thread owner: the caller reads and writes. The send lock keeps
    frames whole should a caller send from more than one thread.
    """

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._buf = bytearray()
        self._send_lock = threading.Lock()
        self.close_sent = False
        # A fragmented message being assembled (RFC 6455 §5.4).
        self._fragment_op: int | None = None
        self._fragments: list[bytes] = []
        self._fragment_size = 0

    @property
    def buffered(self) -> bool:
        """Bytes already read from the socket but not yet consumed."""
        return bool(self._buf)

    # --- handshake -------------------------------------------------------

    def read_upgrade(self) -> tuple[str, dict[str, str]]:
        """Read the HTTP upgrade request; return (path, lower-cased headers)."""
        while b"\r\n\r\n" not in self._buf:
            if len(self._buf) > _MAX_REQUEST:
                raise WebSocketError("upgrade request too large")
            self._fill()
        end = self._buf.index(b"\r\n\r\n")
        head = bytes(self._buf[:end]).decode("latin-1")
        # Bytes after the request are already websocket frames.
        del self._buf[: end + 4]
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
        """Read one frame; return the (OP_TEXT | OP_BINARY, payload) message it completes.

        Returns None when the frame completed no message (a control frame,
        answered here, or a fragment). One frame per call, so the caller can
        stop reading between any two frames. Raises CloseReceived after a
        close frame (answered), WebSocketError for a protocol violation and
        PeerClosed when the TCP connection ends.
        """
        fin, opcode, payload = self._read_frame()
        if opcode == OP_PING:
            self.send_frame(OP_PONG, payload)
        elif opcode == OP_PONG:
            pass
        elif opcode == OP_CLOSE:
            if not self.close_sent:
                # Echo the peer's status code, as RFC 6455 §5.5.1 asks.
                self.close_sent = True
                self.send_frame(OP_CLOSE, payload[:2])
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            raise CloseReceived(code)
        elif opcode in (OP_TEXT, OP_BINARY):
            if self._fragment_op is not None:
                raise WebSocketError("new message started inside a fragmented one")
            if fin:
                return opcode, payload
            self._fragment_op, self._fragments, self._fragment_size = opcode, [payload], len(payload)
        elif opcode == OP_CONTINUATION:
            if self._fragment_op is None:
                raise WebSocketError("continuation frame without a message")
            self._fragments.append(payload)
            self._fragment_size += len(payload)
            if self._fragment_size > MAX_MESSAGE:
                raise WebSocketError("message too large", CLOSE_TOO_BIG)
            if fin:
                message = self._fragment_op, b"".join(self._fragments)
                self._fragment_op, self._fragments, self._fragment_size = None, [], 0
                return message
        else:
            raise WebSocketError(f"unknown opcode {opcode:#x}")
        return None

    def _read_frame(self) -> tuple[bool, int, bytes]:
        b0, b1 = self._read(2)
        fin, opcode = bool(b0 & 0x80), b0 & 0x0F
        if b0 & 0x70:
            raise WebSocketError("reserved bits set (no extension was negotiated)")
        if not b1 & 0x80:
            raise WebSocketError("client frame is not masked")
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read(8))
        if opcode >= OP_CLOSE and (length > 125 or not fin):
            raise WebSocketError("invalid control frame")
        if length > MAX_MESSAGE:
            raise WebSocketError("message too large", CLOSE_TOO_BIG)
        mask = self._read(4)
        return fin, opcode, _unmask(mask, self._read(length))

    def _read(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._fill()
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _fill(self) -> None:
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionError, OSError) as exc:
            raise PeerClosed(str(exc) or type(exc).__name__) from None
        if not chunk:
            raise PeerClosed("end of stream")
        self._buf += chunk

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
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
        self._sendall(header + payload)

    def _sendall(self, data: bytes) -> None:
        with self._send_lock:
            self.sock.sendall(data)
