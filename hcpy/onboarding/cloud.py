"""The one-time trip to the Home Connect cloud for keys and profiles (PROTOCOL.md §6).

The SingleKey ID login page has a CAPTCHA, so the login is half manual: we
build a PKCE authorize URL, the user logs in with a browser and pastes back
the `hcauth://auth/prod?code=…` URL the browser could not open, and we
exchange that code for a token. With the token we list the paired
appliances and fetch each one's key and profile zip.

Every URL lives in `REGIONS`; `endpoints(region, base_override)` points
them all at one other base (a local fake cloud in the tests; a `{region}`
in it gives each region a base of its own). Tokens, codes, keys and the
PKCE verifier are never logged and never part of an exception message or
a repr.

What real accounts need beyond the happy path: the account's region comes
from the token, and a 401 or an empty list from one region's services
host means "try the next region" (`download`); an appliance the cloud
refuses this account (403: shared or restricted) is skipped, the others
are written; GETs follow redirects, the token POST never does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests

from ..appliance.entry import ApplianceEntry
from ..encoding import b64url
from ..errors import CloudError, HcpyError
from ..files import write_private
from .importer import entry_from_profile_zip

# The paste and token readers are pure modules of their own; hc_login and
# the tests reach them through this one, as before they were split off.
from .pasted import Redirect, parse_pasted, parse_redirect, with_state  # noqa: F401
from .token_claims import account_id_from_jwt, region_from_jwt

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


# A region's services host, tried when the account's own one answers 401 or
# an empty list. Not CN: it is a cloud of its own (its own login host),
# whose accounts cannot log in at the others' and whose services would only
# be handed a token of another cloud; it is asked only when named.
FALLBACK_REGIONS = ("EU", "NA")
DEFAULT_REGION = "EU"


def endpoints(region: str = DEFAULT_REGION, base_override: str | None = None) -> Endpoints:
    """The region's URLs, or all of them under `base_override` (e.g. a local test server).

    A `{region}` in `base_override` becomes the region's name in lower case,
    so a test server can play every region's hosts under one port.
    """
    key = region.strip().upper()
    if key not in REGIONS:
        raise CloudError(f"unknown region {region!r}: use one of {', '.join(REGIONS)}")
    found = REGIONS[key]
    if base_override:
        base = base_override.replace("{region}", key.lower()).rstrip("/")
        return replace(found, auth_base=base, services_base=base)
    return found


def region_order(claimed: str | None, given: str | None) -> list[str]:
    """The regions whose services host to ask for the paired appliances, in order.

    The token's claim first (it is the account's own word), then the
    region the user named, then the usual ones.
    """
    order: list[str] = []
    for region in (claimed, given, *FALLBACK_REGIONS):
        if region and region.upper() in REGIONS and region.upper() not in order:
            order.append(region.upper())
    return order


def region_note(answered: str, given: str | None, passed_over: Sequence[str]) -> str | None:
    """The line that tells the user to name the region next time, when that would have helped.

    Said when the region in effect (the one named, else EU) is not the
    account's and either the user named it or a region was tried in vain;
    a token that names the right region needs no word.
    """
    in_effect = (given or DEFAULT_REGION).upper()
    if answered == in_effect or not (given or passed_over):
        return None
    return f"wrong region: this account lives in {answered}; next time run hc-login --region {answered}"


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


# --------------------------------------------------------------------------
# The HTTP half.


@dataclass(frozen=True)
class Token:
    access_token: str = field(repr=False)
    account_id: str
    region: str | None = None  # as the token's claims name it


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


def appliance_host(appliance: PairedAppliance, tls: bool) -> str:
    """The name a new entry's `host` gets: the one the appliance announces on the network.

    TLS appliances announce BRAND-TYPE-HAID (hcpy2-0 writes the same),
    unless the haId already starts with the brand (BRAND-VIB-MAC ids),
    which is then the name itself; AES appliances announce the haId.
    """
    ha_id = appliance.ha_id
    named = ha_id.upper().startswith(appliance.brand.upper() + "-")
    if not tls or not appliance.brand or not appliance.ha_type or named:
        return ha_id
    host = f"{appliance.brand}-{appliance.ha_type}-{ha_id}"
    return "".join(c if c.isalnum() or c == "-" else "-" for c in host)  # one DNS label


def profile_zip_name(ha_id: str) -> str:
    """`<haId>.zip`, as hcpy2-0 keeps it; a haId is never allowed to be a path."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", ha_id).lstrip(".")
    return f"{safe or 'appliance'}.zip"


def save_profile_zip(folder: Path, ha_id: str, data: bytes) -> Path:
    """Keep a profile zip next to devices.json for a later `hc-login --import` (mode 0600, atomic)."""
    path = folder / profile_zip_name(ha_id)
    write_private(path, data)
    return path


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


def _str(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def encryption_from(body: Any) -> Encryption | None:
    """The key (and IV) in an encryption-information answer; TLS first.

    When both are there the appliance speaks TLS; the AES material is for
    older firmware. hcpy2-0, the profile downloader and the HA integration
    all take TLS first too.
    """
    if isinstance(body, dict) and not ({"tls", "aes"} & body.keys()) and isinstance(body.get("data"), dict):
        body = body["data"]
    if not isinstance(body, dict):
        return None
    tls, aes = body.get("tls"), body.get("aes")
    if isinstance(tls, dict) and _str(tls.get("key")):
        return Encryption(key=tls["key"])
    if isinstance(aes, dict) and _str(aes.get("key")) and _str(aes.get("iv")):
        return Encryption(key=aes["key"], iv=aes["iv"])
    return None


def is_demo(appliance: PairedAppliance) -> bool:
    return appliance.raw.get("isDemo") in (True, "true", "True")


# --------------------------------------------------------------------------
# The whole fetch: every appliance's key and profile, or a reason it was skipped.


@dataclass
class Download:
    entries: list[ApplianceEntry] = field(default_factory=list)  # in the cloud's order
    fetched: list[PairedAppliance] = field(default_factory=list)  # the appliance of each entry
    profiles: list[bytes] = field(default_factory=list, repr=False)  # the profile zip of each entry
    skipped: list[str] = field(default_factory=list)  # one sentence per appliance that failed
    paired: int = 0  # real (non-demo) appliances the account has
    demo: int = 0
    region: str = DEFAULT_REGION  # the region whose services host gave the list
    asked: list[str] = field(default_factory=list)  # every region asked for the list, in order


@dataclass(frozen=True)
class Listing:
    client: CloudClient  # pointed at the region it came from
    appliances: list[PairedAppliance]
    passed_over: list[str]  # regions asked before that answered 401 or no appliance
    asked: list[str]


def list_paired(client: CloudClient, token: Token, regions: Sequence[Endpoints]) -> Listing:
    """The paired appliances from the first region whose services host lists some.

    A 401 or a list without real appliances moves on to the next region:
    that is how a services host answers an account of another region. Any
    other failure (a timeout, a 5xx) is raised at once: another region
    cannot mend the network. When no region lists an appliance the first
    empty list is returned; when every region refused, the first refusal
    is raised (the login itself is then at fault).
    """
    asked: list[str] = []
    hosts: set[str] = set()
    passed_over: list[str] = []
    first_empty: Listing | None = None
    refusal: CloudError | None = None
    for ep in regions or [client.endpoints]:
        if ep.services_base in hosts:
            continue  # one base plays every region (--cloud-base without {region}): asking again tells nothing
        hosts.add(ep.services_base)
        asked.append(ep.region)
        regional = client.at(ep)
        try:
            found = regional.paired_appliances(token)
        except CloudError as exc:
            if exc.status != 401:
                raise
            log.debug("region %s refused the list of paired appliances", ep.region)
            refusal = refusal or exc
            passed_over.append(ep.region)
            continue
        if any(not is_demo(a) for a in found):
            return Listing(regional, found, list(passed_over), asked)
        first_empty = first_empty or Listing(regional, found, [], asked)
        passed_over.append(ep.region)
    if first_empty is not None:
        return replace(first_empty, passed_over=passed_over, asked=asked)
    assert refusal is not None  # every region asked raised or answered
    raise refusal


def forbidden_reason(what: str) -> str:
    """Why an appliance answered 403 was skipped, and what gets it."""
    return (
        f"the cloud refuses this account its {what} (HTTP 403), as for an appliance shared with you or "
        "restricted by its owner; run hc-login with the owner's account to get it"
    )


def download(
    client: CloudClient,
    token: Token,
    *,
    regions: Sequence[Endpoints] = (),
    given_region: str | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> Download:
    """Fetch key and profile of every paired appliance.

    `regions` are the services hosts to ask for the list, in order
    (`region_order`; default: the client's own); `given_region` is the one
    the user named, for the "wrong region" line. One appliance's failure
    (403, 404, timeout, a broken zip or profile) skips only that appliance,
    with a warning naming it; a refused login (401) fails the whole
    download, since every later request would fail too.
    """
    result = Download()
    listing = list_paired(client, token, regions or [client.endpoints])
    regional = listing.client
    result.region, result.asked = regional.endpoints.region, listing.asked
    real = [a for a in listing.appliances if not is_demo(a)]
    result.paired, result.demo = len(real), len(listing.appliances) - len(real)
    note = region_note(result.region, given_region, listing.passed_over) if real else None
    if note:
        progress(note)
    demo_note = f" ({result.demo} demo appliance{'s' * (result.demo != 1)} skipped)" if result.demo else ""
    progress(f"Found {len(real)} appliance{'s' * (len(real) != 1)}{demo_note}")
    for appliance in real:
        what = "key"
        try:
            enc = regional.encryption_information(token, appliance)
            what = "profile"
            data = regional.profile_zip(token, appliance)
            entry = entry_from_profile_zip(
                data, source=f"the profile of {appliance.label}", key=enc.key, iv=enc.iv, ha_id=appliance.ha_id
            )
        except CloudError as exc:
            if exc.status == 401:
                raise
            reason = forbidden_reason(what) if exc.status == 403 else str(exc)
        except HcpyError as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - one odd profile must not cost the other appliances
            log.debug("fetching %s failed", appliance.ha_id, exc_info=True)
            reason = f"unexpected {type(exc).__name__} while reading its profile"
        else:
            entry = dataclasses.replace(entry, host=appliance_host(appliance, tls=enc.iv is None))
            result.entries.append(entry)
            result.fetched.append(appliance)
            result.profiles.append(data)
            desc = entry.profile.description
            progress(f"{entry.name} ({desc.brand} {desc.model}): key and profile ok ({enc.transport})")
            continue
        sentence = f"{appliance.label} skipped: {reason}"
        log.warning("%s", sentence)
        result.skipped.append(sentence)
    return result
