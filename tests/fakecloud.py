"""A local stand-in for the Home Connect cloud, over real HTTP on 127.0.0.1.

It plays both hosts of PROTOCOL.md §6 under one base URL: the login host
(authorize, token) and the services host (paired appliances, encryption
information, iddf profile zips). It checks what a real cloud would check
(client id, redirect URI, PKCE verifier against the challenge, the bearer
token) and can be told to fail in the ways the real one does.

Regions: a path that starts with /eu, /na or /cn is that region's hosts
(hc-login's hidden --cloud-base http://…/{region}); a path without one is
every region at once. With `home_region` set, the other regions' services
hosts answer as a real one does for an account that is not theirs: 401, or
an empty list (`wrong_region`). The token can name the region in its
claims (`token_claims`, `token_header`).

Codes carry `+` and `/`, as real ones can, so that a code sent still
percent-encoded (or decoded twice) is refused like the real cloud refuses it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import secrets
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from hcpy.simulator.examples import EXAMPLES

CLIENT_ID = "9B75AC9EC512F36C84256AC47D813E2C1DD0D6520DF774B020E1E6E2EB29B1F3"
REDIRECT_URI = "hcauth://auth/prod"
FIXTURES = EXAMPLES


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


REGIONS = ("eu", "na", "cn")


def make_jwt(claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    header = b64url(json.dumps({"alg": "RS256", "typ": "JWT", **(header or {})}).encode())
    payload = b64url(json.dumps(claims).encode())
    return f"{header}.{payload}.{b64url(secrets.token_bytes(64))}"


def profile_zip(fixture: str, ha_id: str) -> bytes:
    """The cloud's iddf zip for a fixture profile, its files renamed to the haId."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in ("DeviceDescription", "FeatureMapping"):
            zf.writestr(f"{ha_id}_{part}.xml", (FIXTURES / f"{fixture}_{part}.xml").read_bytes())
    return buf.getvalue()


@dataclass
class CloudAppliance:
    ha_id: str
    brand: str
    ha_type: str
    key: str
    iv: str | None = None
    fixture: str | None = None  # profile to serve; None for demo appliances
    demo: bool = False
    aes_too: tuple[str, str] | None = None  # (key, iv): also AES material next to the TLS key

    def encryption_body(self) -> dict[str, Any]:
        if self.iv:
            return {"aes": {"key": self.key, "iv": self.iv}}
        body: dict[str, Any] = {"tls": {"key": self.key}}
        if self.aes_too:
            # Both kinds: the appliance speaks TLS; the AES pair is for older firmware.
            body["aes"] = {"key": self.aes_too[0], "iv": self.aes_too[1]}
        return body


@dataclass
class Behaviour:
    """What to get wrong, keyed by the call: token, appliances, encryption, iddf."""

    status: dict[str, int] = field(default_factory=dict)  # call -> HTTP status for every haId
    status_for: dict[tuple[str, str], int] = field(default_factory=dict)  # (call, haId) -> status
    delay: dict[str, float] = field(default_factory=dict)  # call -> seconds to sleep first
    delay_for: dict[tuple[str, str], float] = field(default_factory=dict)  # (call, haId) -> seconds
    body_for: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (call, haId) -> raw body
    # (call, haId) -> a 30x status: the answer moved to /moved/<call>/<haId> ("" for token and appliances)
    redirect: dict[tuple[str, str], int] = field(default_factory=dict)
    authorize_error: str | None = None


class FakeCloud:
    def __init__(self, appliances: list[CloudAppliance]):
        self.appliances = {a.ha_id: a for a in appliances}
        self.account_id = "acc-" + secrets.token_hex(6)
        self.behaviour = Behaviour()
        self.issued_codes: dict[str, dict[str, str]] = {}  # unused code -> authorize params
        self.all_codes: list[str] = []
        self.tokens: set[str] = set()
        self.refresh_tokens: list[str] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) in arrival order, region prefix included
        self.token_forms: list[dict[str, str]] = []
        self.home_region: str | None = None  # "eu", "na", "cn"; None: every region answers
        self.wrong_region = "401"  # what another region's services say: "401" or "empty"
        self.token_claims: dict[str, Any] = {}  # added to the access token's payload
        self.token_header: dict[str, Any] = {}  # added to its header
        self.stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def netloc(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> FakeCloud:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def base_for(self, region: str) -> str:
        return f"{self.base}/{region}"

    def secrets_handed_out(self) -> list[str]:
        """Everything that must never show up in hc-login's output or logs."""
        out = list(self.all_codes) + list(self.tokens) + self.refresh_tokens
        for a in self.appliances.values():
            out.append(a.key)
            if a.iv:
                out.append(a.iv)
            out.extend(a.aes_too or ())
        out.extend(form.get("code_verifier", "") for form in self.token_forms)
        return [s for s in out if s]


def _handler(cloud: FakeCloud) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
            pass

        # -- helpers

        def _send(self, status: int, body: bytes = b"", ctype: str = "application/json", headers=None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, obj: Any) -> None:
            self._send(status, json.dumps(obj).encode())

        def _misbehave(self, call: str, ha_id: str = "") -> bool:
            b = cloud.behaviour
            delay = b.delay_for.get((call, ha_id)) or b.delay.get(call)
            if delay:
                cloud.stopping.wait(delay)
            status = b.status_for.get((call, ha_id)) or b.status.get(call)
            if status:
                self._json(status, {"error": "invalid_grant" if call == "token" else "refused"})
                return True
            body = b.body_for.get((call, ha_id))
            if body is not None:
                self._send(200, body, "application/octet-stream")
                return True
            return False

        def _authorized(self, region: str | None) -> bool:
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or auth[7:] not in cloud.tokens:
                self._json(401, {"error": "unauthorized"})
                return False
            if region and cloud.home_region and region != cloud.home_region:
                # Another region's services do not know this account's token.
                self._json(401, {"error": "unauthorized"})
                return False
            return True

        def _moved(self, call: str, ha_id: str, prefix: str) -> bool:
            status = cloud.behaviour.redirect.get((call, ha_id))
            if not status:
                return False
            self._send(status, b"", "text/plain", {"Location": f"{prefix}/moved/{call}/{ha_id}".rstrip("/")})
            return True

        # -- login host

        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            cloud.requests.append(("GET", parts.path))
            region, path = _region_of(parts.path)
            prefix = f"/{region}" if region else ""
            segs = path.strip("/").split("/")
            if path == "/security/oauth/authorize":
                return self._authorize(parse_qs(parts.query))
            if segs[0] == "moved":
                # Where a redirect points: a download host that needs no token (a signed URL).
                return self._serve(segs[1], segs[2] if len(segs) > 2 else "")
            if segs[:4] == ["api", "account", "v2", "accounts"] and segs[5:] == ["paired-appliances"]:
                if self._misbehave("appliances"):
                    return
                if region and cloud.home_region and region != cloud.home_region and cloud.wrong_region == "empty":
                    if self._authorized(None):
                        self._json(200, {"appliances": []})
                    return
                if not self._authorized(region):
                    return
                if segs[4] != cloud.account_id:
                    return self._json(403, {"error": "not your account"})
                if self._moved("appliances", "", prefix):
                    return
                return self._serve("appliances", "")
            if segs[:4] == ["api", "appliance", "v2", "appliances"] and segs[5:] == ["encryption-information"]:
                ha_id = segs[4]
                if self._misbehave("encryption", ha_id) or not self._authorized(region):
                    return
                if self._moved("encryption", ha_id, prefix):
                    return
                return self._serve("encryption", ha_id)
            if segs[:4] == ["api", "iddf", "v1", "iddf"] and len(segs) == 5:
                ha_id = segs[4]
                if self._misbehave("iddf", ha_id) or not self._authorized(region):
                    return
                if self._moved("iddf", ha_id, prefix):
                    return
                return self._serve("iddf", ha_id)
            self._json(404, {"error": "no such path"})

        def _serve(self, call: str, ha_id: str) -> None:
            if call == "appliances":
                items = [
                    {"haId": a.ha_id, "brand": a.brand, "haType": a.ha_type, "isDemo": a.demo}
                    for a in cloud.appliances.values()
                ]
                return self._json(200, {"appliances": items})
            a = cloud.appliances.get(ha_id)
            if call == "encryption" and a is not None:
                return self._json(200, a.encryption_body())
            if call == "iddf" and a is not None and a.fixture is not None:
                return self._send(200, profile_zip(a.fixture, a.ha_id), "application/zip")
            self._json(404, {"error": "no such thing"})

        def _authorize(self, q: dict[str, list[str]]) -> None:
            one = {k: v[0] for k, v in q.items()}
            expected = {
                "response_type": "code",
                "prompt": "login",
                "code_challenge_method": "S256",
                "client_id": CLIENT_ID,
                "scope": "ReadOrigApi",
                "redirect_uri": REDIRECT_URI,
            }
            wrong = [k for k, v in expected.items() if one.get(k) != v]
            wrong += [k for k in ("code_challenge", "nonce", "state") if not one.get(k)]
            if wrong:
                return self._json(400, {"error": "invalid_request", "fields": wrong})
            if cloud.behaviour.authorize_error:
                target = f"{REDIRECT_URI}?" + urlencode(
                    {"error": cloud.behaviour.authorize_error, "error_description": "User denied", "state": one["state"]}
                )
            else:
                # Standard base64 with '+' and '/' in it, percent-encoded in the Location.
                code = base64.b64encode(secrets.token_bytes(24)).decode() + "+/"
                cloud.issued_codes[code] = one
                cloud.all_codes.append(code)
                target = f"{REDIRECT_URI}?" + urlencode({"code": code, "state": one["state"]})
            self._send(302, b"", "text/plain", {"Location": target})

        def do_POST(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            cloud.requests.append(("POST", parts.path))
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length).decode()
            region, path = _region_of(parts.path)
            if path != "/security/oauth/token":
                return self._json(404, {"error": "no such path"})
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            cloud.token_forms.append(form)
            if self._misbehave("token") or self._moved("token", "", f"/{region}" if region else ""):
                return
            issued = cloud.issued_codes.pop(form.get("code", ""), None)
            checks = {
                "grant_type": form.get("grant_type") == "authorization_code",
                "client_id": form.get("client_id") == CLIENT_ID,
                "redirect_uri": form.get("redirect_uri") == REDIRECT_URI,
                "code": issued is not None,
                "code_verifier": issued is not None
                and b64url(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
                == issued["code_challenge"],
            }
            if not all(checks.values()):
                bad = [k for k, ok in checks.items() if not ok]
                return self._json(400, {"error": "invalid_grant", "failed": bad})
            claims = {"sub": cloud.account_id, "iss": "fake", "nonce": issued["nonce"], **cloud.token_claims}
            token = make_jwt(claims, cloud.token_header)
            cloud.tokens.add(token)
            refresh = b64url(secrets.token_bytes(32))
            cloud.refresh_tokens.append(refresh)
            self._json(
                200,
                {"access_token": token, "token_type": "Bearer", "expires_in": 86400, "refresh_token": refresh},
            )

    return Handler


def _region_of(path: str) -> tuple[str | None, str]:
    """("na", "/api/…") for "/na/api/…"; (None, path) for a path without a region."""
    first, _, rest = path.lstrip("/").partition("/")
    if first in REGIONS:
        return first, "/" + rest
    return None, path
