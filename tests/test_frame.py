"""The AES frame codec, checked against the rules of PROTOCOL.md §1.2.

The expectations are recomputed here from the written rules with the
primitives (hashlib, hmac, pycryptodome's raw AES), not with the codec, so a
slip in the codec shows up as a mismatch.
"""

import hashlib
import hmac

import pytest
from Crypto.Cipher import AES

from hcpy.errors import FrameError
from hcpy.protocol.frame import TO_APPLIANCE, TO_CLIENT, FrameCodec, pad, unpad

PSK = bytes(range(32))
IV = bytes(range(100, 116))
FILLER = lambda n: b"\xab" * n  # noqa: E731 - fixed pad filler for exact vectors


def spec_keys():
    return (
        hmac.new(PSK, b"ENC", hashlib.sha256).digest(),
        hmac.new(PSK, b"MAC", hashlib.sha256).digest(),
    )


def spec_encode(texts, direction):
    """Encode a sequence of messages exactly as §1.2 describes, step by step."""
    enc_key, mac_key = spec_keys()
    chain, last_mac, frames = IV, bytes(16), []
    for text in texts:
        plain = text.encode()
        pad_len = 16 - len(plain) % 16
        if pad_len == 1:
            pad_len = 17
        padded = plain + b"\x00" + FILLER(pad_len - 2) + bytes([pad_len])
        ct = AES.new(enc_key, AES.MODE_CBC, chain).encrypt(padded)
        chain = ct[-16:]
        mac = hmac.new(mac_key, IV + direction + last_mac + ct, hashlib.sha256).digest()[:16]
        last_mac = mac
        frames.append(ct + mac)
    return frames


@pytest.mark.parametrize(
    "length, pad_len",
    [(15, 17), (16, 16), (14, 2), (170, 6), (0, 16), (31, 17), (32, 16)],
)
def test_pad_lengths(length, pad_len):
    padded = pad(b"x" * length, FILLER)
    assert len(padded) == length + pad_len
    assert len(padded) % 16 == 0
    assert padded[length] == 0
    assert padded[-1] == pad_len
    assert unpad(padded) == b"x" * length


def test_client_frames_match_the_spec_including_chaining():
    texts = [
        '{"sID":1,"msgID":2,"resource":"/ci/services","version":1,"action":"GET"}',
        "y" * 15,  # one short of a block: 17 bytes of pad
        "z" * 32,  # exactly aligned: a whole block of pad
        '{"data":[{"uid":539,"value":"l\'été"}]}',
    ]
    codec = FrameCodec(PSK, IV, random_bytes=FILLER)
    assert [codec.encode(t) for t in texts] == spec_encode(texts, TO_APPLIANCE)


def test_appliance_frames_decode_in_order():
    texts = ["first message", "x" * 15, "y" * 48, "ünïcödé ✓"]
    frames = spec_encode(texts, TO_CLIENT)
    codec = FrameCodec(PSK, IV)
    assert [codec.decode(f) for f in frames] == texts


def test_round_trip_between_client_and_appliance_codecs():
    client = FrameCodec(PSK, IV)
    appliance = FrameCodec(PSK, IV, outgoing=TO_CLIENT)
    for i in range(20):
        text = "m" * i * 7
        assert appliance.decode(client.encode(text)) == text
        assert client.decode(appliance.encode(text[::-1])) == text[::-1]


def test_a_tampered_mac_is_refused():
    frames = spec_encode(["hello appliance"], TO_CLIENT)
    bad = bytearray(frames[0])
    bad[-1] ^= 1
    with pytest.raises(FrameError, match="MAC"):
        FrameCodec(PSK, IV).decode(bytes(bad))


def test_a_tampered_ciphertext_is_refused():
    frames = spec_encode(["hello appliance"], TO_CLIENT)
    bad = bytearray(frames[0])
    bad[0] ^= 1
    with pytest.raises(FrameError, match="MAC"):
        FrameCodec(PSK, IV).decode(bytes(bad))


def test_a_frame_out_of_order_breaks_the_mac_chain():
    _first, second = spec_encode(["one", "two"], TO_CLIENT)
    with pytest.raises(FrameError):
        FrameCodec(PSK, IV).decode(second)


def test_the_direction_byte_matters():
    # A frame the client sent cannot be taken as one from the appliance.
    frame = FrameCodec(PSK, IV).encode("echo")
    with pytest.raises(FrameError):
        FrameCodec(PSK, IV).decode(frame)


@pytest.mark.parametrize("length", [0, 16, 31, 33, 47])
def test_malformed_lengths(length):
    with pytest.raises(FrameError, match="malformed"):
        FrameCodec(PSK, IV).decode(b"\x00" * length)


def test_bad_key_sizes():
    with pytest.raises(ValueError):
        FrameCodec(PSK[:16], IV)
    with pytest.raises(ValueError):
        FrameCodec(PSK, IV[:8])


def test_repr_hides_keys():
    text = repr(FrameCodec(PSK, IV))
    assert PSK.hex() not in text and repr(PSK) not in text and repr(IV) not in text
