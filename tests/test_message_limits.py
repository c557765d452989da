"""The websocket message limit at its edge: 4 MiB passes, one byte more is refused.

Whole and in fragments, on FrameReader (the framing both hcpy and the
simulator read with). The number is written out: a limit that moves, either
way, fails here.
"""

from __future__ import annotations

import pytest
import websocket as wsclient  # websocket-client builds the frames: an independent implementation

from hcpy.protocol.websocket import OP_BINARY, OP_CONTINUATION, OP_TEXT, FrameReader, WebSocketError

LIMIT = 4 * 1024 * 1024  # bytes of one message


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    return wsclient.ABNF(int(fin), 0, 0, 0, opcode, 0, payload).format()


def test_one_frame_of_4_mib_is_read_and_one_byte_more_is_refused():
    assert FrameReader(masked=False).feed(frame(OP_BINARY, bytes(LIMIT))) == [(OP_BINARY, bytes(LIMIT))]
    with pytest.raises(WebSocketError, match="too large") as refused:
        # Refused on the header alone: the payload never has to arrive.
        FrameReader(masked=False).feed(frame(OP_BINARY, bytes(LIMIT + 1))[:10])
    assert refused.value.close_code == 1009


def test_fragments_adding_up_to_4_mib_are_read_and_one_byte_more_is_refused():
    half = bytes(LIMIT // 2)
    reader = FrameReader(masked=False)
    assert reader.feed(frame(OP_TEXT, half, fin=False)) == []
    assert reader.feed(frame(OP_CONTINUATION, half)) == [(OP_TEXT, bytes(LIMIT))]
    reader = FrameReader(masked=False)
    reader.feed(frame(OP_TEXT, half, fin=False))
    with pytest.raises(WebSocketError, match="too large"):
        reader.feed(frame(OP_CONTINUATION, half + b"x", fin=False))
