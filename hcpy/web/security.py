"""Who may use the console, and how a page of another site is kept from using it. No I/O.

- Every browser gets a session: a random id in a cookie (HttpOnly,
  SameSite=Strict), never shown on a page. Its token is an HMAC of that id
  under this server's own secret, made at start and never kept: pages carry
  the token, and every POST must send it back (header `X-Hcpy-Token` or form
  field `token`). Another site can neither read the token nor make the
  browser send the cookie along.
- An Origin or Referer, when the browser sends one, must be this console.
- Bound to loopback, the console answers only requests addressed to a
  loopback name: a site whose DNS name an attacker points at 127.0.0.1
  (DNS rebinding) reaches nothing.
- With a password: a login form; the password is compared in constant time
  and never logged or shown; a login gets a new session (whatever id the
  browser had before is not trusted with it), which ends after `idle`
  seconds unused or `lifetime` seconds in all; wrong passwords are counted
  per client (its address; an IPv6 one by its /64, what one host is given),
  and past `MAX_FAILURES` in a minute that client's logins wait until the
  minute is over. Counted for everyone at once, ten guesses from anyone would
  lock out the owner as well; a backoff for everyone would still slow the
  owner down. Behind Home Assistant's ingress every request comes from the
  Supervisor's address, but none of them logs in (Home Assistant did), so
  the count is never theirs; behind a proxy of one's own, all its clients
  are one address here (X-Forwarded-For is not believed: anyone can send it).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

TOKEN_HEADER = "X-Hcpy-Token"
TOKEN_FIELD = "token"
IDLE = 12 * 3600.0  # a logged-in session unused this long ends
LIFETIME = 7 * 86400.0  # and every one ends this long after its login
MAX_SESSIONS = 256  # logged-in sessions kept; the oldest goes first
MAX_FAILURES = 10  # wrong passwords a minute from one client before its logins wait
FAILURE_WINDOW = 60.0
MAX_GUESSERS = 1024  # clients whose wrong passwords are counted at once; beyond, those of the longest ago are dropped
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})
_PORT = re.compile(r":[0-9]{0,5}")  # what may follow the name in a Host header

# Sent with every answer. No inline script anywhere (JavaScript comes from
# /static/), no framing, no guessing of content types.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# Behind Home Assistant's ingress (ingress.py) the console is shown in an
# iframe of Home Assistant's own page, on Home Assistant's origin (the
# prefix is a path there): framing by that same origin only.
FRAMED_HEADERS = {
    **HEADERS,
    "Content-Security-Policy": HEADERS["Content-Security-Policy"].replace(
        "frame-ancestors 'none'", "frame-ancestors 'self'"
    ),
    "X-Frame-Options": "SAMEORIGIN",
}


class Refused(Exception):
    """A request the console does not serve: the HTTP status and a sentence saying why."""

    def __init__(self, status: int, sentence: str):
        super().__init__(sentence)
        self.status = status
        self.sentence = sentence


class LoginRefused(Refused):
    """A wrong password (403) or a client that must wait (429): `client` and its wrong passwords in the window.

    `locked` is True on the wrong password that starts the wait (once per
    lockout), for the server to log it.
    """

    def __init__(self, status: int, sentence: str, client: str, failures: int, locked: bool = False):
        super().__init__(status, sentence)
        self.client = client
        self.failures = failures
        self.locked = locked


@dataclass(frozen=True)
class Visitor:
    """Who sent a request: the session it belongs to (new when it brought none), and whether it is logged in."""

    session: str
    new: bool
    logged_in: bool


@dataclass
class _Login:
    started: float
    used: float


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, IPv6 with or without brackets) is this machine only."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def open_to_network(host: str, password: str | None) -> bool:
    """Whether a console on `host` lets anyone who reaches it drive the appliances."""
    return not password and not is_loopback(host)


def peer_address(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A TCP peer's address as an address (an IPv4 one mapped into IPv6 as itself); None for no address."""
    try:
        found = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def client_of(address: str) -> str:
    """Who a TCP peer is, for counting its wrong passwords: the address, or an IPv6 address's /64.

    One machine is given a whole /64 in IPv6, and can send from any address
    in it; an IPv4 address mapped into IPv6 is that IPv4 address.
    """
    found = peer_address(address)
    if found is None:
        return address
    if isinstance(found, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((found, 64), strict=False))
    return str(found)


def _host_name(host_header: str) -> str:
    """The name in a Host header, without its port; "" when what follows the name is no port.

    The port itself is not compared with the console's: a forwarded port
    (ssh -L 9000:127.0.0.1:8080) is still this machine. But
    "127.0.0.1:8080.evil.example" is no name and port, and names nothing.
    """
    value = host_header.strip()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return ""
        name, rest = value[1:end], value[end + 1 :]
    elif value.count(":") == 1:
        name, rest = value.split(":")[0], value[value.find(":") :]
    else:
        name, rest = value, ""  # no port, or an IPv6 address without brackets
    if rest and not _PORT.fullmatch(rest):
        return ""
    return name


class Guard:
    """The console's sessions and checks; one per server, shared by its request threads."""

    def __init__(
        self,
        password: str | None = None,
        loopback: bool = True,
        port: int = 0,
        *,
        idle: float = IDLE,
        lifetime: float = LIFETIME,
        clock: Callable[[], float] = time.time,
    ):
        # Only a digest is kept: compared in constant time whatever the lengths.
        self._password = hashlib.sha256(password.encode("utf-8")).digest() if password else None
        self.loopback = loopback
        # Browsers send a host's cookies to each of its ports: one cookie per console.
        self.cookie_name = f"hcpy_session_{port}" if port else "hcpy_session"
        self.idle = idle
        self.lifetime = lifetime
        self.clock = clock
        self._secret = secrets.token_bytes(32)
        self._logins: dict[str, _Login] = {}
        self._failures: dict[str, list[float]] = {}  # client (client_of) -> its wrong passwords' times
        self._lock = threading.Lock()  # the console's request threads share the sessions

    @property
    def protected(self) -> bool:
        """Whether the console asks for a password."""
        return self._password is not None

    def may_set_up(self) -> bool:
        """Whether the pages that write keys into devices.json (/add) may be served at all.

        With a password (every page then needs the login), or bound to
        loopback; never open to the network without one.
        """
        return self.protected or self.loopback

    # -- each request ---------------------------------------------------------

    def check_host(self, host_header: str | None) -> None:
        """Refuse a request addressed to another name than a loopback one, when bound to loopback.

        A page of a site whose name was made to resolve to 127.0.0.1 sends
        that name: it must not be served.
        """
        if not self.loopback or not host_header:
            return
        if not is_loopback(_host_name(host_header)):
            raise Refused(
                403,
                f"this console listens on loopback and answers only to 127.0.0.1 or localhost, not to {host_header[:100]}",
            )

    def visitor(self, cookie_header: str | None) -> Visitor:
        """The session a request belongs to; a new one when it brought none (or none well formed)."""
        session = self._cookie(cookie_header)
        if session is None:
            return Visitor(secrets.token_urlsafe(32), new=True, logged_in=False)
        return Visitor(session, new=False, logged_in=self._logged_in(session))

    def token(self, session: str) -> str:
        """The token a session's pages carry and its POSTs send back."""
        return hmac.new(self._secret, session.encode("ascii"), hashlib.sha256).hexdigest()

    def needs_login(self, visitor: Visitor) -> bool:
        return self.protected and not visitor.logged_in

    def check_post(
        self, visitor: Visitor, sent: str | None, origin: str | None, referer: str | None, host: str | None
    ) -> None:
        """Refuse a state-changing request that does not come from this console's own pages."""
        where = origin if origin is not None else referer
        if where is not None and not self._same_site(where, host):
            shown = where[:100] if where != "null" else "a page with no origin (a sandbox, a file or a redirect)"
            raise Refused(403, f"refused: the request comes from {shown}, not from this console")
        if visitor.new or not sent:
            raise Refused(403, "refused: the request carries no console token; reload the console's page and try again")
        if not hmac.compare_digest(sent.encode("utf-8", "replace"), self.token(visitor.session).encode("ascii")):
            raise Refused(
                403, "refused: the console token does not belong to this session; reload the page and try again"
            )

    def cookie(self, session: str, expire: bool = False, path: str = "/") -> str:
        """The Set-Cookie value for `session` (or one that removes it); `path`: where the console is (ingress.py)."""
        value = f"{self.cookie_name}={'' if expire else session}; Path={path}; HttpOnly; SameSite=Strict"
        return value + ("; Max-Age=0" if expire else "")

    # -- logging in -------------------------------------------------------------

    def login(self, visitor: Visitor, password: str, client: str = "") -> str:
        """A new logged-in session for the right password; LoginRefused otherwise.

        `client`: who asks (client_of its address); its wrong passwords are
        counted apart from everyone else's.
        """
        now = self.clock()
        given = hashlib.sha256(password.encode("utf-8", "replace")).digest()
        with self._lock:
            failures = [t for t in self._failures.pop(client, []) if now - t < FAILURE_WINDOW]
            if failures:
                self._failures[client] = failures  # back in, as the one asking last
            if len(failures) >= MAX_FAILURES:
                wait = FAILURE_WINDOW - (now - failures[0])
                raise LoginRefused(
                    429, f"too many wrong passwords; try again in {max(1, round(wait))} s", client, len(failures)
                )
            if self._password is None or not hmac.compare_digest(given, self._password):
                failures.append(now)
                self._failures[client] = failures
                while len(self._failures) > MAX_GUESSERS:
                    self._failures.pop(next(iter(self._failures)))
                raise LoginRefused(403, "wrong password", client, len(failures), locked=len(failures) == MAX_FAILURES)
            self._logins.pop(visitor.session, None)
            session = secrets.token_urlsafe(32)
            self._logins[session] = _Login(now, now)
            while len(self._logins) > MAX_SESSIONS:
                self._logins.pop(next(iter(self._logins)))
        return session

    def logout(self, session: str) -> None:
        with self._lock:
            self._logins.pop(session, None)

    def _logged_in(self, session: str) -> bool:
        now = self.clock()
        with self._lock:
            login = self._logins.get(session)
            if login is None:
                return False
            if now - login.used > self.idle or now - login.started > self.lifetime:
                del self._logins[session]
                return False
            login.used = now
            return True

    # -- pieces ------------------------------------------------------------------

    def _cookie(self, header: str | None) -> str | None:
        if not header:
            return None
        try:
            jar = SimpleCookie(header)
        except CookieError:
            return None
        morsel = jar.get(self.cookie_name)
        if morsel is None or not _SESSION_ID.fullmatch(morsel.value):
            return None
        return morsel.value

    @staticmethod
    def _same_site(where: str, host: str | None) -> bool:
        """Whether an Origin or Referer names this console (as the request's Host names it)."""
        if not host or where == "null":
            return False
        try:
            parts = urlsplit(where)
        except ValueError:
            return False
        return parts.scheme in ("http", "https") and parts.netloc.lower() == host.strip().lower()
