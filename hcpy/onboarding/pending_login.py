"""One login attempt between the authorize URL going out and its code coming back.

The attempt's PKCE verifier, state and nonce; the check that a pasted code
answers this attempt; and the file that lets a second run (`--code/--state`)
finish it. The verifier is never logged and never part of a repr.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from ..encoding import b64url
from ..errors import CloudError
from ..files import write_private
from .oauth import CLIENT_ID, REDIRECT_URI, SCOPE, code_challenge
from .pasted import Redirect
from .regions import REGIONS, Endpoints


@dataclass(frozen=True)
class PendingLogin:
    """One login attempt: what is needed to turn its code into a token."""

    endpoints: Endpoints
    verifier: str = field(repr=False)
    state: str
    nonce: str
    named_region: str | None = None  # --region, when the user gave one (for the second run of --code)

    @property
    def challenge(self) -> str:
        return code_challenge(self.verifier)

    @property
    def authorize_url(self) -> str:
        query = urlencode(
            {
                "response_type": "code",
                "prompt": "login",
                "code_challenge": self.challenge,
                "code_challenge_method": "S256",
                "client_id": CLIENT_ID,
                "scope": SCOPE,
                "nonce": self.nonce,
                "state": self.state,
                "redirect_uri": REDIRECT_URI,
            },
            safe=":/",
        )
        return f"{self.endpoints.authorize}?{query}"

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.endpoints.region,
            "auth_base": self.endpoints.auth_base,
            "services_base": self.endpoints.services_base,
            "verifier": self.verifier,
            "state": self.state,
            "nonce": self.nonce,
            "named_region": self.named_region,
            "created": int(time.time()),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> PendingLogin:
        ep = Endpoints(obj["region"], obj["auth_base"], obj["services_base"])
        named = obj.get("named_region")  # absent in files of older versions
        return cls(
            ep, verifier=obj["verifier"], state=obj["state"], nonce=obj["nonce"],
            named_region=named if isinstance(named, str) and named.upper() in REGIONS else None,
        )  # fmt: skip


def start_login(ep: Endpoints, named_region: str | None = None) -> PendingLogin:
    """A fresh PKCE pair, state and nonce for one login."""
    return PendingLogin(
        ep,
        verifier=b64url(secrets.token_bytes(32)),
        state=b64url(secrets.token_bytes(16)),
        nonce=b64url(secrets.token_bytes(16)),
        named_region=named_region.upper() if named_region else None,
    )


def checked_code(redirect: Redirect, pending: PendingLogin) -> str:
    """The redirect's code, once its state proves it answers this login."""
    if redirect.state is None and redirect.bare:
        raise CloudError(
            "only a code was given, without its state: give the state=… of the same hcauth:// URL too "
            "(hc-login --code C --state S), or paste the whole URL"
        )
    if redirect.state is None:
        raise CloudError("the pasted URL has no state=…: paste the complete hcauth://auth/prod?code=…&state=… URL")
    if not secrets.compare_digest(redirect.state, pending.state):
        raise CloudError(
            "the pasted URL belongs to another login attempt (its state does not match): "
            "log in with the URL hc-login printed last and paste that login's hcauth:// URL"
        )
    return redirect.code


# A login attempt can be finished by a second run (`--code/--state`), so its
# verifier is kept next to devices.json until the token exchange succeeds.
def save_pending(path: Path, pending: PendingLogin) -> None:
    write_private(path, json.dumps(pending.to_json()))


def load_pending(path: Path) -> PendingLogin | None:
    try:
        return PendingLogin.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise CloudError(f"{path} is not a login in progress ({type(exc).__name__}); run hc-login again") from None
