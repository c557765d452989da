"""TLS 1.2 pre-shared-key contexts for both Python back-ends (PROTOCOL.md §1.1).

Python 3.13 and newer have PSK callbacks in the standard ``ssl`` module; below
3.13 the ``sslpsk3`` package adds them to a subclass of ``SSLContext``. The
rest of hcpy only ever sees an ``ssl.SSLContext``.

Make one context per connection: sharing one between a client and a server
in the same process has shown session-reuse errors.
"""

from __future__ import annotations

import ssl
import sys

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


def client_context(psk: bytes) -> ssl.SSLContext:
    """A client context that authenticates with ``psk`` and no certificates."""
    ctx = _context(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_psk_client_callback(lambda hint: (IDENTITY, psk))
    return ctx


def server_context(psk: bytes) -> ssl.SSLContext:
    """A server context for the simulator: accepts any identity with ``psk``."""
    ctx = _context(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_psk_server_callback(lambda identity: psk, identity_hint=IDENTITY)
    return ctx
