"""The AES-CBC + HMAC frame codec of AES appliances (PROTOCOL.md §1.2).

Pure code, no I/O: a `FrameCodec` turns JSON text into the bytes of one
binary websocket frame and back. One codec serves one connection; its state
(the CBC chain and the last MAC of each direction) starts fresh with every
connection and must never be shared between two.

The codec is symmetric: a client sends with direction byte ``E`` and
receives ``C``; the simulator, playing the appliance, does the opposite.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from Crypto.Cipher import AES

from ..errors import FrameError

BLOCK = 16
MAC_LEN = 16
# Direction bytes that enter each frame's MAC.
TO_APPLIANCE = b"E"
TO_CLIENT = b"C"


def derive_keys(psk: bytes) -> tuple[bytes, bytes]:
    """Return (enc_key, mac_key) for a 32-byte pre-shared key."""
    enc_key = hmac.new(psk, b"ENC", hashlib.sha256).digest()
    mac_key = hmac.new(psk, b"MAC", hashlib.sha256).digest()
    return enc_key, mac_key


def pad(plain: bytes, random_bytes: Callable[[int], bytes] = os.urandom) -> bytes:
    """Pad as the appliances do: 0x00, random filler, then the pad length.

    The pad is never shorter than 2 bytes, so a message one byte short of a
    block boundary gets 17 bytes of pad instead of 1.
    """
    pad_len = BLOCK - len(plain) % BLOCK
    if pad_len == 1:
        pad_len += BLOCK
    return plain + b"\x00" + random_bytes(pad_len - 2) + bytes([pad_len])


def unpad(padded: bytes) -> bytes:
    pad_len = padded[-1]
    if pad_len < 2 or pad_len > BLOCK + 1 or pad_len > len(padded):
        raise FrameError(f"invalid padding length {pad_len}")
    return padded[:-pad_len]


class _Cipher(Protocol):
    """What a pycryptodome CBC cipher offers here."""

    def encrypt(self, plaintext: bytes) -> bytes: ...
    def decrypt(self, ciphertext: bytes) -> bytes: ...


@dataclass
class _Direction:
    """One direction of a connection: its CBC chain and its last MAC.

    A CBC cipher object carries its chain from one call to the next, which is
    exactly the protocol's rule that message n chains onto message n-1.
    """

    byte: bytes
    cipher: _Cipher
    last_mac: bytes = bytes(MAC_LEN)


@dataclass
class FrameCodec:
    """Encrypts outgoing and decrypts incoming frames of one connection.

    ``outgoing`` is the direction byte this side sends with: ``TO_APPLIANCE``
    for a client, ``TO_CLIENT`` for an appliance (the simulator).
    """

    psk: bytes = field(repr=False)
    iv: bytes = field(repr=False)
    outgoing: bytes = TO_APPLIANCE
    # Source of the pad's filler bytes; tests pass a fixed one for vectors.
    random_bytes: Callable[[int], bytes] = field(default=os.urandom, repr=False)
    _enc_key: bytes = field(init=False, repr=False)
    _mac_key: bytes = field(init=False, repr=False)
    _tx: _Direction = field(init=False, repr=False)
    _rx: _Direction = field(init=False, repr=False)
    # Sending may happen from several threads; the chain must stay in order.
    _tx_lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if len(self.psk) != 32:
            raise ValueError("the AES key must be 32 bytes")
        if len(self.iv) != BLOCK:
            raise ValueError("the AES IV must be 16 bytes")
        if self.outgoing not in (TO_APPLIANCE, TO_CLIENT):
            raise ValueError("outgoing must be TO_APPLIANCE or TO_CLIENT")
        incoming = TO_CLIENT if self.outgoing == TO_APPLIANCE else TO_APPLIANCE
        self._enc_key, self._mac_key = derive_keys(self.psk)
        self._tx = _Direction(self.outgoing, AES.new(self._enc_key, AES.MODE_CBC, self.iv))
        self._rx = _Direction(incoming, AES.new(self._enc_key, AES.MODE_CBC, self.iv))

    def _mac(self, direction: _Direction, ciphertext: bytes) -> bytes:
        data = self.iv + direction.byte + direction.last_mac + ciphertext
        # hmac.digest is the one-shot C path; hmac.new builds Python objects per frame.
        return hmac.digest(self._mac_key, data, "sha256")[:MAC_LEN]

    def encode(self, text: str) -> bytes:
        """Return the frame bytes (ciphertext + MAC) carrying ``text``."""
        padded = pad(text.encode("utf-8"), self.random_bytes)
        with self._tx_lock:
            ciphertext = self._tx.cipher.encrypt(padded)
            mac = self._mac(self._tx, ciphertext)
            self._tx.last_mac = mac
        return ciphertext + mac

    def decode(self, frame: bytes) -> str:
        """Check and decrypt one received frame; return its text.

        Raises FrameError for a malformed frame or a MAC mismatch. After a MAC
        mismatch the two chains disagree for good: the connection must close.
        """
        if len(frame) < BLOCK + MAC_LEN or len(frame) % BLOCK:
            raise FrameError(f"malformed frame of {len(frame)} bytes")
        ciphertext, mac = frame[:-MAC_LEN], frame[-MAC_LEN:]
        if not hmac.compare_digest(mac, self._mac(self._rx, ciphertext)):
            raise FrameError("frame MAC does not match (wrong key or IV, or a broken connection)")
        self._rx.last_mac = mac
        plain = self._rx.cipher.decrypt(ciphertext)
        try:
            return unpad(plain).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FrameError("decrypted frame is not UTF-8") from exc
