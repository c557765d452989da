"""Keys and IVs in every form they could leak in, and the search for them. Pure."""

from __future__ import annotations

import base64


def secret_forms(raw: bytes) -> set[bytes]:
    """A key or IV as raw bytes, hex (either case), base64 and base64url, padded or not."""
    forms = {raw, raw.hex().encode(), raw.hex().upper().encode()}
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        forms |= {encoded, encoded.rstrip(b"=")}
    return forms


def count_in(text: bytes, secrets: list[bytes]) -> int:
    """How many times any of `secrets` occurs in `text`."""
    return sum(text.count(s) for s in secrets)
