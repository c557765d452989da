"""RFC 6455 websockets, as much as Home Connect needs, for both ends.

The appliance's side (the simulator) and hcpy's side share the framing here:
`FrameReader` turns received bytes into messages, `encode_frame` turns a
message into bytes, and `client_upgrade` opens a connection the way the
official app does (PROTOCOL.md §1.2: an empty Origin header, a bare 101).

Why not websocket-client: every appliance message crosses this code, and a
buffered reader that takes all frames out of one socket read costs a
fraction of a frame-at-a-time reader doing several small reads. No I/O
happens here except in `client_upgrade`, on a socket the caller owns.
"""

from __future__ import annotations

import base64
import os
import struct
from typing import Protocol

try:
    # CPython's own SHA-1, without hashlib: hashlib loads OpenSSL's digests
    # (half a MB of a daemon that only ever hashes the upgrade's 60 bytes).
    from _sha1 import sha1  # type: ignore[import-not-found]  # CPython's, without stubs
except ImportError:  # another Python
    from hashlib import sha1

# RFC 6455 §1.3: the accept value is the key plus this GUID, SHA-1, base64.
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# Appliance messages are a few kB; anything far larger is an attack or a bug.
MAX_MESSAGE = 4 * 1024 * 1024
_MAX_HEADER = 16 * 1024

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

# First bytes of a final text or binary frame with no reserved bits set.
_WHOLE_MESSAGE = frozenset({0x80 | OP_TEXT, 0x80 | OP_BINARY})

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_TOO_BIG = 1009


class WebSocketError(Exception):
    """The peer broke the websocket protocol; `close_code` says how."""

    def __init__(self, message: str, close_code: int = CLOSE_PROTOCOL_ERROR):
        super().__init__(message)
        self.close_code = close_code


class UpgradeRefused(Exception):
    """The server answered the upgrade request with something other than 101."""

    def __init__(self, status: int, reason: str):
        super().__init__(f"{status} {reason}".strip())
        self.status = status


def accept_key(key: str) -> str:
    return base64.b64encode(sha1(key.encode("ascii") + _GUID).digest()).decode("ascii")


def _unmask(mask: bytes, data: bytes) -> bytes:
    # One big-integer XOR instead of a Python loop over every byte.
    n = len(data)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def encode_frame(opcode: int, payload: bytes, mask: bool, mask_key: bytes | None = None) -> bytes:
    """One whole frame. Clients mask (RFC 6455 §5.1), servers never do."""
    length = len(payload)
    first = 0x80 | opcode
    bit = 0x80 if mask else 0
    if length < 126:
        header = bytes((first, bit | length))
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, bit | 127, length)
    if not mask:
        return header + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    return header + key + _unmask(key, payload)


class FrameReader:
    """Bytes in, whole messages and control frames out, for one direction of one connection.

    `masked` says what the peer must do: clients mask every frame, servers
    never do (a frame breaking that rule is a protocol error). Fragmented
    messages are put together; a message over MAX_MESSAGE is refused.
    """

    def __init__(self, masked: bool):
        self.masked = masked
        self._buf = bytearray()
        # A fragmented message being assembled (RFC 6455 §5.4).
        self._fragment_op: int | None = None
        self._fragments: list[bytes] = []
        self._fragment_size = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a whole frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Take what the socket gave; return every message and control frame it completes.

        Items are (opcode, payload): OP_TEXT / OP_BINARY for messages (their
        fragments already joined), OP_PING / OP_PONG / OP_CLOSE for control
        frames, in the order they arrived. Raises WebSocketError.
        """
        buf = self._buf
        # Nearly every read holds exactly one whole, unmasked, unfragmented
        # message (appliance messages are 100 bytes to a few kB): take it
        # without copying it through the buffer.
        if not buf and not self.masked and len(data) > 4 and data[0] in _WHOLE_MESSAGE and self._fragment_op is None:
            length = data[1]
            if length < 126 and len(data) == length + 2:
                return [(data[0] & 0x0F, data[2:])]
            if length == 126 and len(data) == (data[2] << 8 | data[3]) + 4:
                return [(data[0] & 0x0F, data[4:])]
        buf += data
        out: list[tuple[int, bytes]] = []
        while True:
            frame = self._take_frame()
            if frame is None:
                return out
            message = self._assemble(*frame)
            if message is not None:
                out.append(message)

    def _take_frame(self) -> tuple[bool, int, bytes] | None:
        buf = self._buf
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        if b0 & 0x70:
            raise WebSocketError("reserved bits set (no extension was negotiated)")
        if bool(b1 & 0x80) != self.masked:
            raise WebSocketError("client frame is not masked" if self.masked else "server frame is masked")
        fin, opcode, length = bool(b0 & 0x80), b0 & 0x0F, b1 & 0x7F
        pos = 2
        if length == 126:
            if len(buf) < 4:
                return None
            (length,) = struct.unpack_from("!H", buf, 2)
            pos = 4
        elif length == 127:
            if len(buf) < 10:
                return None
            (length,) = struct.unpack_from("!Q", buf, 2)
            pos = 10
        if opcode >= OP_CLOSE and (length > 125 or not fin):
            raise WebSocketError("invalid control frame")
        if length > MAX_MESSAGE:
            raise WebSocketError("message too large", CLOSE_TOO_BIG)
        if self.masked:
            pos += 4
        if len(buf) < pos + length:
            return None
        payload = bytes(buf[pos : pos + length])
        if self.masked:
            payload = _unmask(bytes(buf[pos - 4 : pos]), payload)
        del buf[: pos + length]
        return fin, opcode, payload

    def _assemble(self, fin: bool, opcode: int, payload: bytes) -> tuple[int, bytes] | None:
        if opcode in (OP_PING, OP_PONG, OP_CLOSE):
            return opcode, payload  # may come between the fragments of a message
        if opcode in (OP_TEXT, OP_BINARY):
            if self._fragment_op is not None:
                raise WebSocketError("new message started inside a fragmented one")
            if fin:
                return opcode, payload
            self._fragment_op, self._fragments, self._fragment_size = opcode, [payload], len(payload)
            return None
        if opcode == OP_CONTINUATION:
            if self._fragment_op is None:
                raise WebSocketError("continuation frame without a message")
            self._fragments.append(payload)
            self._fragment_size += len(payload)
            if self._fragment_size > MAX_MESSAGE:
                raise WebSocketError("message too large", CLOSE_TOO_BIG)
            if not fin:
                return None
            message = self._fragment_op, b"".join(self._fragments)
            self._fragment_op, self._fragments, self._fragment_size = None, [], 0
            return message
        raise WebSocketError(f"unknown opcode {opcode:#x}")


def close_code(payload: bytes) -> int | None:
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


# --- the client's upgrade --------------------------------------------------------------


class ByteStream(Protocol):
    """A connected socket, or TLS over one (tlspsk.ClientTls)."""

    def sendall(self, data: bytes, /) -> None: ...
    def recv(self, size: int, /) -> bytes: ...


def client_upgrade(sock: ByteStream, host: str, port: int, path: str) -> bytes:
    """Ask for the websocket on a connected socket; return bytes that came after the 101.

    Raises UpgradeRefused for any other status, WebSocketError for a reply
    that is no upgrade, OSError when the connection fails.
    """
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    authority = f"[{host}]" if ":" in host else host
    request = (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {authority}:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        # The official app sends an empty Origin (PROTOCOL.md §1.2).
        "Origin: \r\n"
        "\r\n"
    )
    sock.sendall(request.encode("ascii"))
    received = bytearray()
    while b"\r\n\r\n" not in received:
        if len(received) > _MAX_HEADER:
            raise WebSocketError("the upgrade answer is too large")
        chunk = sock.recv(4096)
        if not chunk:
            raise WebSocketError("the connection closed during the websocket upgrade")
        received += chunk
    end = received.index(b"\r\n\r\n")
    status_line, *header_lines = bytes(received[:end]).decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise WebSocketError(f"the upgrade answer is not HTTP: {status_line[:80]!r}")
    status = int(parts[1])
    if status != 101:
        raise UpgradeRefused(status, parts[2] if len(parts) > 2 else "")
    headers = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    # Appliances answer a bare 101; check the accept value only when it is there.
    accept = headers.get("sec-websocket-accept")
    if accept is not None and accept != accept_key(key):
        raise WebSocketError("the upgrade answer carries a wrong Sec-WebSocket-Accept")
    return bytes(received[end + 4 :])
