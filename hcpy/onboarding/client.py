"""Plain HTTP calls to the Home Connect cloud; every failure becomes a CloudError with advice.

Tokens, codes, keys and the PKCE verifier are never logged and never part of
an exception message. GETs follow redirects, the token POST never does.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

import requests

from ..errors import CloudError
from .oauth import CLIENT_ID, REDIRECT_URI, Token
from .paired import Encryption, PairedAppliance, encryption_from
from .pending_login import PendingLogin
from .regions import REGIONS, Endpoints
from .token_claims import account_id_from_jwt, region_from_jwt

log = logging.getLogger("hcpy.cloud")

# (connect, read) seconds for every request.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 30.0)


class CloudClient:
    """Plain HTTP calls to the cloud; every failure becomes a CloudError with advice."""

    def __init__(
        self,
        ep: Endpoints,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ):
        self.endpoints = ep
        self.timeout = timeout
        self.session = session or requests.Session()

    def at(self, ep: Endpoints) -> CloudClient:
        """The same client (session, timeouts) talking to another region's hosts."""
        return CloudClient(ep, timeout=self.timeout, session=self.session)

    def exchange_code(self, pending: PendingLogin, code: str) -> Token:
        data = {
            "grant_type": "authorization_code",
            "client_id": CLIENT_ID,
            "code_verifier": pending.verifier,
            "code": code,
            "redirect_uri": REDIRECT_URI,
        }
        resp = self._request("POST", self.endpoints.token, "the login token", data=data)
        body = self._json(resp, "the login token")
        access = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(access, str) or not access:
            raise CloudError("the cloud's token answer holds no access token; run hc-login again")
        return Token(
            access_token=access, account_id=account_id_from_jwt(access), region=region_from_jwt(access, tuple(REGIONS))
        )

    def paired_appliances(self, token: Token) -> list[PairedAppliance]:
        """Every paired appliance, demo ones included (see `is_demo`)."""
        what = "the list of paired appliances"
        body = self._json(self._get(self.endpoints.paired_appliances(token.account_id), token, what), what)
        items = _unwrap(body, "appliances")
        if not isinstance(items, list):
            raise CloudError(f"{what} from the cloud has no 'appliances' list; try again later")
        found = []
        for item in items:
            if not isinstance(item, dict):
                continue
            ha_id = item.get("haId") or item.get("identifier")
            if not isinstance(ha_id, str) or not ha_id:
                log.warning("skipping a paired appliance without a haId in the cloud's list")
                continue
            found.append(
                PairedAppliance(
                    ha_id=ha_id,
                    brand=str(item.get("brand") or ""),
                    ha_type=str(item.get("haType") or item.get("type") or ""),
                    raw=item,
                )
            )
        return found

    def encryption_information(self, token: Token, appliance: PairedAppliance) -> Encryption:
        what = f"the key of {appliance.label}"
        url = self.endpoints.encryption_information(appliance.ha_id)
        body = self._json(self._get(url, token, what, per_appliance=True), what)
        found = encryption_from(body)
        if found is None:
            raise CloudError(f"the cloud sent {what} without a usable tls or aes key; try again later")
        return found

    def profile_zip(self, token: Token, appliance: PairedAppliance) -> bytes:
        what = f"the profile of {appliance.label}"
        return self._get(self.endpoints.iddf(appliance.ha_id), token, what, per_appliance=True).content

    # -- plumbing

    def _get(self, url: str, token: Token, what: str, *, per_appliance: bool = False) -> requests.Response:
        headers = {"Authorization": f"Bearer {token.access_token}"}
        return self._request("GET", url, what, per_appliance=per_appliance, headers=headers)

    def _request(
        self, method: str, url: str, what: str, *, per_appliance: bool = False, **kwargs: Any
    ) -> requests.Response:
        host = urlsplit(url).netloc
        region = self.endpoints.region
        # GETs follow redirects as every other client does (a profile may move
        # to a download host; requests drops the Authorization header when the
        # host changes). The token POST never does: its form carries the code
        # and the PKCE verifier, which go to the token endpoint or nowhere.
        follow = method == "GET"
        try:
            resp = self.session.request(method, url, timeout=self.timeout, allow_redirects=follow, **kwargs)
        except requests.exceptions.ConnectTimeout:
            raise CloudError(
                f"could not connect to {host} within {self.timeout[0]:g} s while fetching {what}: "
                f"check the network connection and that your account's region is {region} (--region)"
            ) from None
        except requests.exceptions.Timeout:
            raise CloudError(
                f"{host} did not answer within {self.timeout[1]:g} s while sending {what}: "
                f"check the network connection and that your account's region is {region} (--region)"
            ) from None
        except requests.exceptions.RequestException as exc:
            log.debug("request to %s failed: %s", host, type(exc).__name__)
            raise CloudError(
                f"could not reach {host} for {what}: check the network connection "
                f"and that your account's region is {region} (--region)"
            ) from None
        moved = f" (after {len(resp.history)} redirect{'s' * (len(resp.history) != 1)})" if resp.history else ""
        log.debug("%s %s -> %s%s", method, urlsplit(url).path, resp.status_code, moved)
        if resp.status_code == 403 and per_appliance:
            # Appliances shared with this account or restricted by their owner:
            # the others are still this account's to fetch.
            raise CloudError(f"the cloud refuses {what} to this account (HTTP 403)", status=403)
        if resp.status_code in (401, 403) or (resp.status_code == 400 and url == self.endpoints.token):
            raise CloudError(
                f"the login was refused or has expired (HTTP {resp.status_code}{_oauth_error(resp)} "
                f"on {what}); run hc-login again",
                status=401,
            )
        if resp.status_code == 404:
            raise CloudError(f"the cloud does not know {what} (HTTP 404)", status=404)
        if resp.status_code != 200:
            raise CloudError(
                f"the cloud answered HTTP {resp.status_code} for {what}; try again later",
                status=resp.status_code,
            )
        return resp

    @staticmethod
    def _json(resp: requests.Response, what: str) -> Any:
        try:
            return resp.json()
        except ValueError:
            raise CloudError(f"the cloud's answer for {what} is not JSON; try again later") from None


def _oauth_error(resp: requests.Response) -> str:
    """The OAuth `error` name (e.g. invalid_grant): it says what went wrong and holds no secret."""
    try:
        error = resp.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return f", {error}" if isinstance(error, str) and re.fullmatch(r"[\w.-]{1,64}", error) else ""


def _unwrap(body: Any, key: str) -> Any:
    if isinstance(body, dict):
        if key in body:
            return body[key]
        data = body.get("data")
        if isinstance(data, dict) and key in data:
            return data[key]
    return None
