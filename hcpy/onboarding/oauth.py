"""The OAuth client hc-login is to the Home Connect cloud (PROTOCOL.md §6): its identity, PKCE, the token.

The SingleKey ID login page has a CAPTCHA, so the login is half manual: we
build a PKCE authorize URL (`pending_login`), the user logs in with a browser
and pastes back the `hcauth://auth/prod?code=…` URL the browser could not
open (`pasted`), and we exchange that code for a token (`client`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from ..encoding import b64url

CLIENT_ID = "9B75AC9EC512F36C84256AC47D813E2C1DD0D6520DF774B020E1E6E2EB29B1F3"
REDIRECT_URI = "hcauth://auth/prod"
SCOPE = "ReadOrigApi"


def code_challenge(verifier: str) -> str:
    """The S256 PKCE challenge of a verifier."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclass(frozen=True)
class Token:
    """What the code was exchanged for; the access token never shows in a repr."""

    access_token: str = field(repr=False)
    account_id: str
    region: str | None = None  # as the token's claims name it
