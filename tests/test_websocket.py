"""hcpy.protocol.websocket: the framing both ends share, checked against RFC 6455 and websocket-client.

websocket-client is an independent implementation: frames it builds must
read back through FrameReader, and frames encode_frame builds must be the
bytes it would build, so that the simulator and hcpy do not merely agree
with each other.
"""

from __future__ import annotations

import socket
import threading

import pytest
import websocket as wsclient  # websocket-client, the independent oracle

from hcpy.protocol.websocket import (
    MAX_MESSAGE,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameReader,
    UpgradeRefused,
    WebSocketError,
    accept_key,
    client_upgrade,
    encode_frame,
)


def client_frame(opcode: int, payload: bytes, fin: bool = True, mask_key: bytes = b"\x37\xfa\x21\x3d") -> bytes:
    frame = wsclient.ABNF(int(fin), 0, 0, 0, opcode, 1, payload)
    frame.get_mask_key = lambda n: mask_key
    return frame.format()


def server_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    return wsclient.ABNF(int(fin), 0, 0, 0, opcode, 0, payload).format()


def test_rfc6455_examples():
    # §5.7: a single-frame unmasked text message, and the same masked.
    assert encode_frame(OP_TEXT, b"Hello", mask=False) == bytes.fromhex("810548656c6c6f")
    masked = bytes.fromhex("818537fa213d7f9f4d5158")
    assert encode_frame(OP_TEXT, b"Hello", mask=True, mask_key=bytes.fromhex("37fa213d")) == masked
    assert FrameReader(masked=True).feed(masked) == [(OP_TEXT, b"Hello")]
    # §1.3: the accept value.
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_frames_match_websocket_client_both_ways(size, opcode):
    payload = bytes(i % 251 for i in range(size))
    assert encode_frame(opcode, payload, mask=False) == server_frame(opcode, payload)
    key = b"\x01\x02\x03\x04"
    assert encode_frame(opcode, payload, mask=True, mask_key=key) == client_frame(opcode, payload, mask_key=key)
    assert FrameReader(masked=False).feed(server_frame(opcode, payload)) == [(opcode, payload)]
    assert FrameReader(masked=True).feed(client_frame(opcode, payload)) == [(opcode, payload)]


def test_frames_split_anywhere_and_joined_in_one_read_come_out_whole():
    stream = b"".join(
        [
            server_frame(OP_TEXT, b'{"a": 1}'),
            server_frame(OP_PING, b"ping?"),
            server_frame(OP_BINARY, b"x" * 300),
            server_frame(OP_TEXT, "é".encode() * 40000),
        ]
    )
    expected = [(OP_TEXT, b'{"a": 1}'), (OP_PING, b"ping?"), (OP_BINARY, b"x" * 300), (OP_TEXT, "é".encode() * 40000)]
    assert FrameReader(masked=False).feed(stream) == expected
    for step in (1, 2, 3, 7, 1000):
        reader, got = FrameReader(masked=False), []
        for at in range(0, len(stream), step):
            got += reader.feed(stream[at : at + step])
        assert got == expected and reader.buffered == 0


def test_a_whole_message_inside_a_fragmented_one_is_an_error_in_separate_reads_too():
    reader = FrameReader(masked=False)
    assert reader.feed(server_frame(OP_TEXT, b"Hel", fin=False)) == []
    with pytest.raises(WebSocketError, match="inside a fragmented one"):
        reader.feed(server_frame(OP_TEXT, b"lo"))


def test_fragments_are_joined_and_control_frames_may_come_between():
    reader = FrameReader(masked=True)
    got = reader.feed(client_frame(OP_TEXT, b"Hel", fin=False))
    got += reader.feed(client_frame(OP_PING, b"still there?"))
    got += reader.feed(client_frame(OP_CONTINUATION, b"lo", fin=False))
    got += reader.feed(client_frame(OP_CONTINUATION, b"!", fin=True))
    assert got == [(OP_PING, b"still there?"), (OP_TEXT, b"Hello!")]


@pytest.mark.parametrize(
    "masked, data, match",
    [
        (False, client_frame(OP_TEXT, b"x"), "server frame is masked"),
        (True, server_frame(OP_TEXT, b"x"), "client frame is not masked"),
        (False, bytes([0xC1, 0x01, 0x78]), "reserved bits"),
        (False, server_frame(OP_CONTINUATION, b"x"), "continuation frame without a message"),
        (False, server_frame(OP_TEXT, b"x", fin=False) + server_frame(OP_TEXT, b"y"), "inside a fragmented one"),
        (False, bytes([0x83, 0x01, 0x78]), "unknown opcode"),
        (False, bytes([0x89, 126, 0, 200]) + b"x" * 200, "invalid control frame"),
        (False, server_frame(OP_CLOSE, b"\x03\xe8", fin=False), "invalid control frame"),
    ],
)
def test_protocol_violations_are_errors(masked, data, match):
    with pytest.raises(WebSocketError, match=match):
        FrameReader(masked=masked).feed(data)


def test_a_message_over_the_limit_is_refused_before_it_is_buffered():
    header = bytes([0x82, 127]) + (MAX_MESSAGE + 1).to_bytes(8, "big")
    with pytest.raises(WebSocketError, match="too large") as info:
        FrameReader(masked=False).feed(header)
    assert info.value.close_code == 1009
    reader = FrameReader(masked=False)
    chunk = b"x" * (MAX_MESSAGE // 2 + 1)
    reader.feed(server_frame(OP_BINARY, chunk, fin=False))
    with pytest.raises(WebSocketError, match="too large"):
        reader.feed(server_frame(OP_CONTINUATION, chunk, fin=True))


def serve_once(answer: bytes, tail: bytes = b""):
    """A one-shot server that reads a request and sends `answer` (the 101 built from its key if empty)."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen = {}

    def run():
        conn, _ = listener.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            seen["request"] = request.decode()
            key = next(line.split(":", 1)[1].strip() for line in seen["request"].split("\r\n") if line.lower().startswith("sec-websocket-key"))
            reply = answer or (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
            ).encode()
            conn.sendall(reply + tail)
        listener.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener.getsockname()[1], seen, thread


def test_client_upgrade_sends_what_the_app_sends_and_keeps_early_frames():
    early = server_frame(OP_TEXT, b'{"first": true}')
    port, seen, thread = serve_once(b"", tail=early)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        leftover = client_upgrade(sock, "127.0.0.1", port, "/homeconnect")
    thread.join(5)
    request = seen["request"]
    assert request.startswith("GET /homeconnect HTTP/1.1\r\n")
    assert "\r\nOrigin: \r\n" in request and "\r\nSec-WebSocket-Version: 13\r\n" in request
    assert FrameReader(masked=False).feed(leftover) == [(OP_TEXT, b'{"first": true}')]


def test_client_upgrade_refusals():
    port, _, thread = serve_once(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock, pytest.raises(UpgradeRefused) as info:
        client_upgrade(sock, "127.0.0.1", port, "/homeconnect")
    assert info.value.status == 404
    thread.join(5)
    port, _, thread = serve_once(b"HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: wrong\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock, pytest.raises(WebSocketError, match="Accept"):
        client_upgrade(sock, "127.0.0.1", port, "/homeconnect")
    thread.join(5)
    # A bare 101, as appliances send it, is an upgrade.
    port, _, thread = serve_once(b"HTTP/1.1 101\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        assert client_upgrade(sock, "127.0.0.1", port, "/homeconnect") == b""
    thread.join(5)


def test_pong_and_close_are_control_frames():
    reader = FrameReader(masked=False)
    assert reader.feed(server_frame(OP_PONG, b"") + server_frame(OP_CLOSE, b"\x03\xe9")) == [
        (OP_PONG, b""),
        (OP_CLOSE, b"\x03\xe9"),
    ]
