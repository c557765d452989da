"""The one-time trip to the Home Connect cloud for keys and profiles (PROTOCOL.md §6).

The SingleKey ID login page has a CAPTCHA, so the login is half manual: we
build a PKCE authorize URL, the user logs in with a browser and pastes back
the `hcauth://auth/prod?code=…` URL the browser could not open, and we
exchange that code for a token. With the token we list the paired
appliances and fetch each one's key and profile zip.

Every URL lives in `REGIONS`; `endpoints(region, base_override)` points
them all at one other base (a local fake cloud in the tests). Tokens,
codes, keys and the PKCE verifier are never logged and never part of an
exception message or a repr.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import requests

from ..appliance.entry import ApplianceEntry
from ..encoding import b64url, unb64url
from ..errors import CloudError, HcpyError
from ..files import write_private
from .importer import entry_from_profile_zip

log = logging.getLogger("hcpy.cloud")

CLIENT_ID = "9B75AC9EC512F36C84256AC47D813E2C1DD0D6520DF774B020E1E6E2EB29B1F3"
REDIRECT_URI = "hcauth://auth/prod"
SCOPE = "ReadOrigApi"

# (connect, read) seconds for every request.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 30.0)


@dataclass(frozen=True)
class Endpoints:
    """Where one region's cloud lives: the login host and the services host."""

    region: str
    auth_base: str
    services_base: str

    @property
    def authorize(self) -> str:
        return f"{self.auth_base}/security/oauth/authorize"

    @property
    def token(self) -> str:
        return f"{self.auth_base}/security/oauth/token"

    def paired_appliances(self, account_id: str) -> str:
        return f"{self.services_base}/api/account/v2/accounts/{_seg(account_id)}/paired-appliances"

    def encryption_information(self, ha_id: str) -> str:
        return f"{self.services_base}/api/appliance/v2/appliances/{_seg(ha_id)}/encryption-information"

    def iddf(self, ha_id: str) -> str:
        return f"{self.services_base}/api/iddf/v1/iddf/{_seg(ha_id)}"


# BSH moves these every year or two; this table is the only place they live.
REGIONS: dict[str, Endpoints] = {
    "EU": Endpoints("EU", "https://api.home-connect.com", "https://eu.services.home-connect.com"),
    "NA": Endpoints("NA", "https://api-rna.home-connect.com", "https://na.services.home-connect.com"),
    "CN": Endpoints("CN", "https://api.home-connect.cn", "https://cn.services.home-connect.cn"),
}


def endpoints(region: str = "EU", base_override: str | None = None) -> Endpoints:
    """The region's URLs, or all of them under `base_override` (e.g. a local test server)."""
    key = region.strip().upper()
    if key not in REGIONS:
        raise CloudError(f"unknown region {region!r}: use one of {', '.join(REGIONS)}")
    found = REGIONS[key]
    if base_override:
        base = base_override.rstrip("/")
        return replace(found, auth_base=base, services_base=base)
    return found


def _seg(value: str) -> str:
    return quote(value, safe="")


def code_challenge(verifier: str) -> str:
    """The S256 PKCE challenge of a verifier."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


# --------------------------------------------------------------------------
# The manual half: authorize URL out, redirect URL in.


@dataclass(frozen=True)
class PendingLogin:
    """One login attempt: what is needed to turn its code into a token."""

    endpoints: Endpoints
    verifier: str = field(repr=False)
    state: str
    nonce: str

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
            "created": int(time.time()),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "PendingLogin":
        ep = Endpoints(obj["region"], obj["auth_base"], obj["services_base"])
        return cls(ep, verifier=obj["verifier"], state=obj["state"], nonce=obj["nonce"])


def start_login(ep: Endpoints) -> PendingLogin:
    """A fresh PKCE pair, state and nonce for one login."""
    return PendingLogin(
        ep,
        verifier=b64url(secrets.token_bytes(32)),
        state=b64url(secrets.token_bytes(16)),
        nonce=b64url(secrets.token_bytes(16)),
    )


@dataclass(frozen=True)
class Redirect:
    code: str = field(repr=False)
    state: str | None


# What a browser shows around the URL: quotes, "Location: ", a
# "Failed to launch '…' because the scheme does not have a handler" line.
_HCAUTH = re.compile(r"hcauth://[^\s'\"<>`]+", re.IGNORECASE)
_QUOTES = "'\"<>` \t\r\n"


def parse_redirect(text: str) -> Redirect:
    """The code and state of a pasted `hcauth://auth/prod?code=…&state=…` URL."""
    cleaned = text.strip().strip(_QUOTES)
    found = _HCAUTH.search(cleaned)
    candidate = found.group(0) if found else cleaned
    parts = urlsplit(candidate)
    query = parts.query or parts.fragment
    if not query and "=" in candidate and "://" not in candidate:
        query = candidate.lstrip("?")
    params = parse_qs(query)
    error = _first(params, "error")
    if error:
        detail = _first(params, "error_description")
        detail = f" ({detail})" if detail else ""
        raise CloudError(f"the login page answered with the error {error!r}{detail}; run hc-login again and log in")
    code = _first(params, "code")
    if not code:
        raise CloudError(
            "the pasted text holds no code: paste the whole hcauth://auth/prod?code=…&state=… URL "
            "from the browser's network tab"
        )
    return Redirect(code=code, state=_first(params, "state"))


def _first(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0].strip() if values and values[0].strip() else None


def checked_code(redirect: Redirect, pending: PendingLogin) -> str:
    """The redirect's code, once its state proves it answers this login."""
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


# --------------------------------------------------------------------------
# The HTTP half.


@dataclass(frozen=True)
class Token:
    access_token: str = field(repr=False)
    account_id: str


@dataclass(frozen=True)
class PairedAppliance:
    ha_id: str
    brand: str
    ha_type: str
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def label(self) -> str:
        """How the user recognises it before its profile is known."""
        what = " ".join(p for p in (self.brand, self.ha_type) if p)
        return f"{what} ({self.ha_id})" if what else self.ha_id


@dataclass(frozen=True)
class Encryption:
    key: str = field(repr=False)
    iv: str | None = field(repr=False, default=None)

    @property
    def transport(self) -> str:
        return "AES" if self.iv else "TLS"


def account_id_from_jwt(token: str) -> str:
    """The account id: the `sub` claim of the access token (not verified: we only read it)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise CloudError("the cloud's access token is not a JWT, so the account id cannot be read; run hc-login again")
    try:
        payload = json.loads(unb64url(parts[1]))
        sub = payload["sub"]
    except (ValueError, binascii.Error, KeyError, TypeError):
        raise CloudError(
            "the cloud's access token carries no account id (sub); run hc-login again"
        ) from None
    if not isinstance(sub, str) or not sub:
        raise CloudError("the cloud's access token carries an empty account id (sub); run hc-login again")
    return sub


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
        return Token(access_token=access, account_id=account_id_from_jwt(access))

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
        body = self._json(self._get(self.endpoints.encryption_information(appliance.ha_id), token, what), what)
        if isinstance(body, dict) and not ({"tls", "aes"} & body.keys()) and isinstance(body.get("data"), dict):
            body = body["data"]
        if isinstance(body, dict):
            aes, tls = body.get("aes"), body.get("tls")
            if isinstance(aes, dict) and _str(aes.get("key")) and _str(aes.get("iv")):
                return Encryption(key=aes["key"], iv=aes["iv"])
            if isinstance(tls, dict) and _str(tls.get("key")):
                return Encryption(key=tls["key"])
        raise CloudError(f"the cloud sent {what} without a usable tls or aes key; try again later")

    def profile_zip(self, token: Token, appliance: PairedAppliance) -> bytes:
        return self._get(self.endpoints.iddf(appliance.ha_id), token, f"the profile of {appliance.label}").content

    # -- plumbing

    def _get(self, url: str, token: Token, what: str) -> requests.Response:
        return self._request("GET", url, what, headers={"Authorization": f"Bearer {token.access_token}"})

    def _request(self, method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        host = urlsplit(url).netloc
        region = self.endpoints.region
        try:
            resp = self.session.request(method, url, timeout=self.timeout, allow_redirects=False, **kwargs)
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
        log.debug("%s %s -> %s", method, urlsplit(url).path, resp.status_code)
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


def _str(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def is_demo(appliance: PairedAppliance) -> bool:
    return appliance.raw.get("isDemo") in (True, "true", "True")


# --------------------------------------------------------------------------
# The whole fetch: every appliance's key and profile, or a reason it was skipped.


@dataclass
class Download:
    entries: list[ApplianceEntry] = field(default_factory=list)  # in the cloud's order
    fetched: list[PairedAppliance] = field(default_factory=list)  # the appliance of each entry
    skipped: list[str] = field(default_factory=list)  # one sentence per appliance that failed
    paired: int = 0  # real (non-demo) appliances the account has
    demo: int = 0


def download(
    client: CloudClient,
    token: Token,
    *,
    progress: Callable[[str], None] = lambda line: None,
) -> Download:
    """Fetch key and profile of every paired appliance.

    One appliance's failure (404, timeout, a broken zip or profile) skips
    only that appliance, with a warning naming it; a refused login (401)
    fails the whole download, since every later request would fail too.
    """
    result = Download()
    appliances = client.paired_appliances(token)
    real = [a for a in appliances if not is_demo(a)]
    result.paired, result.demo = len(real), len(appliances) - len(real)
    demo_note = f" ({result.demo} demo appliance{'s' * (result.demo != 1)} skipped)" if result.demo else ""
    progress(f"Found {len(real)} appliance{'s' * (len(real) != 1)}{demo_note}")
    for appliance in real:
        try:
            enc = client.encryption_information(token, appliance)
            data = client.profile_zip(token, appliance)
            entry = entry_from_profile_zip(
                data, source=f"the profile of {appliance.label}", key=enc.key, iv=enc.iv, ha_id=appliance.ha_id
            )
        except CloudError as exc:
            if exc.status == 401:
                raise
            reason = str(exc)
        except HcpyError as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - one odd profile must not cost the other appliances
            log.debug("fetching %s failed", appliance.ha_id, exc_info=True)
            reason = f"unexpected {type(exc).__name__} while reading its profile"
        else:
            result.entries.append(entry)
            result.fetched.append(appliance)
            desc = entry.profile.description
            progress(f"{entry.name} ({desc.brand} {desc.model}): key and profile ok ({enc.transport})")
            continue
        sentence = f"{appliance.label} skipped: {reason}"
        log.warning("%s", sentence)
        result.skipped.append(sentence)
    return result
