"""TLS 1.2 with a pre-shared key, for both Python back-ends (PROTOCOL.md §1.1).

Python 3.13 and newer have PSK callbacks in the standard ``ssl`` module; below
3.13 the ``sslpsk3`` package adds them to a subclass of ``SSLContext``. The
rest of hcpy only ever sees an ``ssl.SSLContext``.

Make one context per connection: sharing one between a client and a server
in the same process has shown session-reuse errors. The client's side runs
over memory buffers (`ClientTls`); the simulator's wraps its socket.
"""

from __future__ import annotations

import socket
import ssl
import sys
from collections.abc import Callable
from typing import Any

# The identity hcpy sends, and the only one the simulator accepts: real
# appliances take it (PROTOCOL.md §1.1), and a simulator that took any other
# would let a change to it go unnoticed.
IDENTITY = "HCCOM_Local_App"
# The appliances negotiate ECDHE-PSK-CHACHA20-POLY1305; offer it first.
CIPHERS = "ECDHE-PSK-CHACHA20-POLY1305:PSK"

NATIVE = sys.version_info >= (3, 13)
BACKEND = "ssl" if NATIVE else "sslpsk3"


def _context(protocol: int) -> ssl.SSLContext:
    if NATIVE:
        ctx = ssl.SSLContext(protocol)
    else:
        import sslpsk3

        ctx = sslpsk3.SSLPSKContext(protocol)
    # Appliances speak TLS 1.2 only, and PSK suites do not exist in 1.3's list.
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHERS)
    return ctx


def _psk(ctx: ssl.SSLContext) -> Any:
    # The PSK callbacks are ssl's from 3.13 and sslpsk3's SSLContext subclass's
    # before; mypy checks as 3.11, whose typeshed has neither.
    return ctx


def client_context(psk: bytes) -> ssl.SSLContext:
    """A client context that authenticates with ``psk`` and no certificates."""
    ctx = _context(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    _psk(ctx).set_psk_client_callback(lambda hint: (IDENTITY, psk))
    return ctx


def server_context(psk: bytes, refused: Callable[[str | None], None] | None = None) -> ssl.SSLContext:
    """A server context for the simulator: ``psk`` for `IDENTITY`, and a failed
    handshake for any other identity (``refused`` is told which, None for an empty one)."""

    def key_for(identity: str | None) -> bytes:
        if identity == IDENTITY:
            return psk
        if refused is not None:
            refused(identity)
        return b""  # OpenSSL ends the handshake: "unknown psk identity"

    ctx = _context(ssl.PROTOCOL_TLS_SERVER)
    _psk(ctx).set_psk_server_callback(key_for, identity_hint=IDENTITY)
    return ctx


class ClientTls:
    """The client's TLS over memory buffers, on a plain socket the caller reads.

    Reading the socket then needs no lock on the TLS state: one thread can
    wait in recv() while another sends (an SSL object allows one thread at a
    time), and one recv() carries whole records, where OpenSSL on a socket
    reads each record's header and body separately.

    `recv` and `sendall` serve the handshake and the websocket upgrade, on
    the socket's own timeout; afterwards the caller reads the socket itself
    and passes what came to `decrypt`, and sends what `encrypt` returns.
    """

    def __init__(self, sock: socket.socket, psk: bytes):
        self.sock = sock
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = client_context(psk).wrap_bio(self._in, self._out, server_side=False)
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._send_pending()
                data = sock.recv(65536)
                if not data:
                    # What a wrong key usually looks like from this side.
                    raise ssl.SSLEOFError("the appliance closed the connection during the TLS handshake") from None
                self._in.write(data)
        self._send_pending()

    def decrypt(self, data: bytes) -> bytes:
        """The plaintext of the records `data` completes (b"" while a record is still partial)."""
        incoming, tls = self._in, self._tls
        incoming.write(data)
        parts = []
        try:
            # One read returns one record (at most 16 kB, so nothing stays
            # pending in it); more bytes left in the buffer are more records.
            parts.append(tls.read(65536))
            while incoming.pending:
                parts.append(tls.read(65536))
        except ssl.SSLWantReadError:
            pass  # the rest of a record is still on its way
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def encrypt(self, data: bytes) -> bytes:
        self._tls.write(data)
        return self._out.read()

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(self.encrypt(data))

    def recv(self, size: int) -> bytes:
        while True:
            data = self.sock.recv(size)
            if not data:
                return b""
            plain = self.decrypt(data)
            if plain:
                return plain

    def _send_pending(self) -> None:
        if self._out.pending:
            self.sock.sendall(self._out.read())
