"""What the cloud's access token says about the account: its id and its region.

The token is a JWT; only its claims are read (base64url JSON), never its
signature checked: it goes back to the cloud that signed it, which checks
it. Pure, and nothing here ever puts the token itself into a message.
"""

from __future__ import annotations

import binascii
import json
import logging
from typing import Any

from ..encoding import unb64url
from ..errors import CloudError

log = logging.getLogger("hcpy.cloud")

# The claim names seen carrying the account's region, in either the
# payload or the header ("x-reg" sits next to "x-env" in the header).
REGION_CLAIMS = ("region", "x-reg")
# Other spellings of the regions hc-login knows.
REGION_ALIASES = {"US": "NA", "RNA": "NA", "NAR": "NA", "REU": "EU", "EMEA": "EU", "CHN": "CN"}


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(header, payload) of a JWT, or None when it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header, payload = (json.loads(unb64url(part)) for part in parts[:2])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        return None
    return header, payload


def account_id_from_jwt(token: str) -> str:
    """The account id: the `sub` claim of the access token."""
    parts = jwt_parts(token)
    if parts is None:
        if len(token.split(".")) != 3:
            raise CloudError(
                "the cloud's access token is not a JWT, so the account id cannot be read; run hc-login again"
            )
        raise CloudError("the cloud's access token carries no account id (sub); run hc-login again")
    sub = parts[1].get("sub")
    if sub is None:
        raise CloudError("the cloud's access token carries no account id (sub); run hc-login again")
    if not isinstance(sub, str) or not sub:
        raise CloudError("the cloud's access token carries an empty account id (sub); run hc-login again")
    return sub


def region_from_jwt(token: str, known: tuple[str, ...] = ("EU", "NA", "CN")) -> str | None:
    """The account's region as the token names it (one of `known`), or None when it does not say."""
    parts = jwt_parts(token)
    if parts is None:
        return None
    header, payload = parts
    for claims in (payload, header):
        for name in REGION_CLAIMS:
            region = normal_region(claims.get(name), known)
            if region:
                return region
            if claims.get(name) is not None:
                # Worth a look when a new region shows up; a region name is no secret.
                log.debug("the login token's %s claim names no region hc-login knows: %.20r", name, claims.get(name))
    return None


def normal_region(value: Any, known: tuple[str, ...]) -> str | None:
    if not isinstance(value, str):
        return None
    name = value.strip().upper()
    name = REGION_ALIASES.get(name, name)
    return name if name in known else None
