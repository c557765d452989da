"""base64url without padding: how keys, IVs, nonces and PKCE values are written."""

from __future__ import annotations

import base64


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Decode with or without padding (PROTOCOL.md §1: append '=' and decode)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
