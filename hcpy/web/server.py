"""The console's HTTP server: `ConsoleServer(bridge, host, port, password)`, started beside the bridge.

A `ThreadingHTTPServer` in a daemon thread; each request on a thread of its
own. Routes:

    GET  /                              the appliances
    GET  /appliance/<name>              one appliance: connection, controls, values (live)
    GET  /appliance/<name>/controls     its controls alone (the page's script refreshes them)
    POST /appliance/<name>/command      a command, through exactly the MQTT command path; answers hcpy's T/response
    GET  /appliance/<name>/log          the message log, filtered
    GET  /appliance/<name>/log.jsonl    the same as JSON Lines, to download
    GET  /appliance/<name>/runs         finished runs with a chart of energy and water
    GET  /events[?appliance=<name>]     server-sent events (events.py)
    GET  /add                           add appliances (with a `setup` port): the forms
    POST /add/login-start, /add/login-finish, /add/upload, /add/scan, /add/other-addon
                                        each step, answered with the page and its result
    GET  /login, POST /login, POST /logout
    GET  /healthz, /metrics             health.report, metrics.render (no login: probes and scrapers)
    GET  /livez                         health.liveness: hc2mqtt itself works (the add-on's watchdog)
    GET  /static/<file>                 console.css, console.js

Who may do what is `security.Guard`'s; the pages are rendered by the pure
modules (pages, control_panel, log_page, runs_page) from `snapshot` values.

With `ingress_peer` (Home Assistant's add-on): requests from that address
are Home Assistant's, its user logged in already (no login page), served
under the prefix its X-Ingress-Path announces (ingress.py); every other
peer is refused, but for /healthz and /metrics from loopback.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ..appliance.commands import CommandError
from ..errors import HcpyError, StepFailed
from ..logs import Throttle
from ..mqtt.bridge import Bridge
from ..mqtt.screening import DEFAULT_LIMITS, ScreenLimits, screen_payload
from . import health, metrics
from .answers import Answers, new_transaction
from .bounded import HEADER_DEADLINE, MAX_CONNECTIONS, BoundedHandler, BoundedServer
from .commands import NotACommand, command_of, with_transaction
from .control_panel import control_panel
from .events import KEEP_ALIVE, RETRY, EventHub, TooManyClients, frame
from .form_data import NotFormData, parse_form_data
from .html import appliance_url, bare_page, esc, page
from .ingress import (
    ONLY_HOME_ASSISTANT,
    PATH_HEADER,
    forwarded_host,
    prefix_of,
    rooted,
    trusted_address,
    under,
)
from .log_page import LogFilter, json_lines, log_page, selected
from .pages import appliance_list, appliance_page, login_page, problem_page
from .runs_page import runs_page
from .security import (
    FRAMED_HEADERS,
    HEADERS,
    TOKEN_FIELD,
    TOKEN_HEADER,
    Guard,
    LoginRefused,
    Refused,
    Visitor,
    client_of,
    is_loopback,
    open_to_network,
    peer_address,
)
from .setup_pages import AddView, add_page, outcome_html, problem_html, scan_html
from .setup_port import SetupPort, Upload
from .snapshot import connection_of, controls_of, unknown_of, value_rows

log = logging.getLogger("hcpy.web")

MAX_BODY = 64 * 1024  # a command is at most a few kB (--max_command_bytes)
# A JSON body is screened as an MQTT command is, before it is parsed: the
# console wraps a command's payload in one more object (topic, payload, token).
BODY_LIMITS = ScreenLimits(
    max_bytes=MAX_BODY, max_depth=DEFAULT_LIMITS.max_depth + 1, max_items=DEFAULT_LIMITS.max_items
)
# Profile zips are a few hundred kB each; an upload of several stays far below this.
MAX_UPLOAD = 16 * 1024 * 1024
# An upload larger than MAX_UPLOAD is read (and dropped) up to this, so that the
# browser sees the page saying so rather than a connection reset.
MAX_DRAIN = 4 * MAX_UPLOAD
UPLOAD_PATH = ["add", "upload"]
REQUEST_TIMEOUT = 30.0  # seconds one read of a body (or one write of an answer or event stream) may stall
KEEP_ALIVE_INTERVAL = 15.0
# An event stream ends after this: one whose client went away without a word
# (a laptop shut) is otherwise noticed only when its send buffer fills, days
# of keep-alives later. An open page's browser reconnects within seconds.
STREAM_LIFETIME = 30 * 60.0
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
_STATIC_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


class ConsoleServer:
    """The web console of `bridge` on host:port (0: a free port; `port` then says which).

    `ingress_peer`: the address of Home Assistant's ingress proxy (the
    Supervisor's, 172.30.32.2), the only peer served (module docstring);
    ValueError when it is no IP address.
    """

    def __init__(
        self,
        bridge: Bridge,
        host: str = "127.0.0.1",
        port: int = 0,
        password: str | None = None,
        *,
        keep_alive: float = KEEP_ALIVE_INTERVAL,
        setup: SetupPort | None = None,
        ingress_peer: str | None = None,
        max_connections: int = MAX_CONNECTIONS,
        header_deadline: float = HEADER_DEADLINE,
        stream_lifetime: float = STREAM_LIFETIME,
    ):
        self.bridge = bridge
        self.setup = setup  # None: no "Add appliances" pages
        self.ingress_peer = ingress_peer
        self._ingress = trusted_address(ingress_peer) if ingress_peer is not None else None
        self.host = host
        self.requested_port = port
        self._password = password or None
        self.keep_alive = keep_alive
        self.poll = min(0.5, keep_alive)  # how soon an event stream notices the end
        self.max_connections = max_connections
        self.header_deadline = header_deadline
        self.stream_lifetime = stream_lifetime
        # Streams may hold half the connections; the pages are served with the rest (events.MAX_CLIENTS).
        self.events = EventHub(max_clients=max(1, max_connections // 2))
        self.logins = Throttle(log, burst=3)  # wrong passwords and lockouts, said without flooding the log
        self.answers = Answers()
        self.guard: Guard | None = None
        self.stopping = threading.Event()
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self.static = _static_files()

    @property
    def port(self) -> int:
        """The port bound (after `start`)."""
        return self._httpd.server_address[1] if self._httpd is not None else self.requested_port

    @property
    def connections(self) -> int:
        """Connections being served now."""
        return self._httpd.connections if self._httpd is not None else 0

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def answer_timeout(self) -> float:
        """How long a posted command waits for its answer: the appliance's time to answer, and a second."""
        return self.bridge.settings.request_timeout + 1.0

    def start(self) -> ConsoleServer:
        """Bind and serve; OSError when the address cannot be bound (the port is taken)."""
        server_class = _HttpServer6 if ":" in self.host else _HttpServer
        self._httpd = server_class((self.host, self.requested_port), _Handler)
        self._httpd.console = self
        self._httpd.max_connections = self.max_connections
        self._httpd.header_deadline = self.header_deadline
        self.guard = Guard(self._password, loopback=is_loopback(self.host), port=self.port)
        self.bridge.add_listener(self.events)
        self.bridge.add_listener(self.answers)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.2,), name="web-console", daemon=True)
        self._thread.start()
        if self.ingress_peer is not None:
            log.info("web console on %s for Home Assistant's ingress: only %s is served", self.url, self.ingress_peer)
            return self
        log.info("web console on %s%s", self.url, " (password protected)" if self._password else "")
        if open_to_network(self.host, self._password):
            log.warning(
                "the web console on %s is open to the network without a password: anyone who reaches it can "
                "drive the appliances; set http_password (or HCPY_HTTP_PASSWORD), or keep http_host 127.0.0.1",
                self.url,
            )
        return self

    def stop(self) -> None:
        """End every event stream, stop serving, let the port go."""
        self.stopping.set()
        self.events.close()
        if self._httpd is None:
            return
        self.bridge.remove_listener(self.events)
        self.bridge.remove_listener(self.answers)
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(2.0)

    def trusts(self, peer: str) -> bool:
        """Whether a request from `peer` (a TCP peer's address) is Home Assistant's ingress proxy."""
        return self._ingress is not None and peer_address(peer) == self._ingress

    def appliance(self, name: str) -> Any:
        return next((a for a in self.bridge.appliances if a.name == name), None)


class _HttpServer(BoundedServer):
    console: ConsoleServer


class _HttpServer6(_HttpServer):
    address_family = socket.AF_INET6


def _static_files() -> dict[str, tuple[bytes, str, str]]:
    """The console's CSS and JavaScript (package data), read once: (body, content type, ETag)."""
    files = {}
    folder = resources.files("hcpy.web").joinpath("static")
    for item in folder.iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1] if "." in item.name else ""
        if item.is_file() and suffix in STATIC_TYPES:
            body = item.read_bytes()
            files[item.name] = (body, STATIC_TYPES[suffix], '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return files


T = TypeVar("T")


def _read_snapshot(read: Callable[[], T]) -> T:
    """`read()` again when an appliance's thread changed a dict it was going through."""
    for _ in range(4):
        try:
            return read()
        except RuntimeError:
            continue
    return read()


class _Handler(BoundedHandler):
    server: _HttpServer
    server_version = "hcpy-console"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = REQUEST_TIMEOUT

    # -- plumbing ------------------------------------------------------------------------

    @property
    def console(self) -> ConsoleServer:
        return self.server.console

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        # The path only: bodies (a password) are never logged.
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def _handle(self, method: str) -> None:
        self._cookie: str | None = None
        # Set by _route: whether the peer is Home Assistant's ingress proxy,
        # and the prefix everything this answer names goes under ("": none).
        self._trusted = False
        self._root = ""
        try:
            self._route(method)
        except Refused as exc:
            if method == "POST":
                self.close_connection = True  # its body may be unread
            self._refuse(exc)
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:  # noqa: BLE001 - one request's bug must not end the console
            log.exception("web console: %s %s failed", method, urlsplit(self.path).path)
            self.close_connection = True
            try:
                self._send(500, b"the console failed to answer; see hc2mqtt's log\n", "text/plain; charset=utf-8")
            except OSError:
                pass

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None,
              content_length: bool = True) -> None:  # fmt: skip
        self.send_response(status)
        fields = {**self._headers, "Content-Type": content_type, "Cache-Control": "no-store", **(headers or {})}
        if self.close_connection:
            # Said, not only done: a client that reuses the connection for its
            # next request would otherwise find it closed under that request.
            fields["Connection"] = "close"
        if content_length:
            fields["Content-Length"] = str(len(body))
        for name, value in fields.items():
            self.send_header(name, value)
        if self._cookie is not None:
            self.send_header("Set-Cookie", self._cookie)
        self.end_headers()
        self.wfile.write(body)

    @property
    def _headers(self) -> dict[str, str]:
        return FRAMED_HEADERS if self._trusted else HEADERS

    def _html(self, status: int, text: str) -> None:
        self._send(status, rooted(text, self._root).encode("utf-8"), "text/html; charset=utf-8")

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def _redirect(self, location: str) -> None:
        self._send(303, b"", "text/plain; charset=utf-8", {"Location": under(self._root, location)})

    def _refuse(self, exc: Refused) -> None:
        if self._wants_json:
            self._json(exc.status, {"status": "error", "error": exc.sentence, "code": exc.status})
        else:
            self._html(exc.status, bare_page("Not done", problem_page(exc.sentence)))

    @property
    def _wants_json(self) -> bool:
        return self.command == "POST" and urlsplit(self.path).path.endswith("/command")

    # -- routing --------------------------------------------------------------------------

    def _route(self, method: str) -> None:
        console = self.console
        guard = console.guard
        assert guard is not None
        parts = urlsplit(self.path)
        segments = [unquote(s) for s in parts.path.split("/")[1:]]
        query = parse_qs(parts.query, keep_blank_values=True)
        self._check_framing()
        host = self._admit(method, segments)

        # Open to probes and scrapers, and what every page needs.
        if method == "GET" and segments and segments[0] in ("static", "healthz", "livez", "metrics"):
            return self._public(segments)

        visitor = guard.visitor(self.headers.get("Cookie"))
        if visitor.new:
            self._cookie = self._session_cookie(visitor.session)
        posted: dict[str, Any] = {}
        if method == "POST":
            # A large upload only from who may add appliances: anyone else's body stays under MAX_BODY.
            logged_in = not (self._asks_password and guard.needs_login(visitor))
            upload = segments == UPLOAD_PATH and console.setup is not None and logged_in
            posted = self._body(upload=upload and self._may_set_up())
            sent = self.headers.get(TOKEN_HEADER) or _text(posted.get(TOKEN_FIELD))
            guard.check_post(visitor, sent, self.headers.get("Origin"), self.headers.get("Referer"), host)

        if segments == ["login"]:
            return self._login(method, visitor, query, posted)
        if segments == ["logout"] and method == "POST":
            guard.logout(visitor.session)
            self._cookie = self._session_cookie(visitor.session, expire=True)
            return self._redirect("/login" if self._asks_password else "/")
        if self._asks_password and guard.needs_login(visitor):
            if method == "GET" and segments != ["events"]:
                target = parts.path + (f"?{parts.query}" if parts.query else "")
                return self._redirect("/login?next=" + quote(target, safe="/"))
            raise Refused(403, "log in to the console first")

        token = guard.token(visitor.session)
        if segments and segments[0] == "add" and console.setup is not None:
            return self._add(method, segments[1:], posted, token)
        if method == "GET":
            if segments in ([""], []):
                connections = [connection_of(a) for a in console.bridge.appliances]
                can_add = console.setup is not None and self._may_set_up()
                if can_add and not connections and not query.get("list"):
                    # A first start (no devices.json yet): the console opens where appliances are added.
                    return self._redirect("/add")
                return self._page("Appliances", appliance_list(connections, can_add), token, "list")
            if segments == ["events"]:
                return self._events(query)
            if len(segments) in (2, 3) and segments[0] == "appliance":
                return self._appliance_get(segments[1], segments[2] if len(segments) == 3 else "", query, token)
        elif method == "POST" and len(segments) == 3 and segments[0] == "appliance" and segments[2] == "command":
            return self._command(segments[1], posted)
        raise Refused(404 if method == "GET" else 405, f"the console has no {method} {parts.path[:100]}")

    def _check_framing(self) -> None:
        """Refuse a body the console would not read as the client meant it.

        http.server reads no chunked body: its chunks would be taken for a
        next request on the connection (a command smuggled past the checks).
        The console's own pages always send a Content-Length.
        """
        if self.headers.get("Transfer-Encoding") is not None:
            self.close_connection = True
            raise Refused(411, "send the body with a Content-Length: the console reads no Transfer-Encoding (chunked)")
        lengths = self.headers.get_all("Content-Length") or []
        if len(set(lengths)) > 1:
            self.close_connection = True
            raise Refused(400, "the request has more than one Content-Length")
        if self.command != "POST" and lengths and lengths[0].strip() != "0":
            self.close_connection = True  # a body nothing reads must not be taken for the next request

    def _admit(self, method: str, segments: list[str]) -> str | None:
        """Refuse a peer the console does not serve; the Host its POSTs' Origin must name.

        With an ingress peer, only that peer is served (and a loopback one
        /healthz and /metrics: a container's health check); its Host is Home
        Assistant's, so the loopback console's Host check is not for it, and
        Home Assistant's own name is in X-Forwarded-Host.
        """
        console = self.console
        assert console.guard is not None
        if console.ingress_peer is None:
            console.guard.check_host(self.headers.get("Host"))
            return self.headers.get("Host")
        peer = self.client_address[0]
        if console.trusts(peer):
            self._trusted = True
            self._root = prefix_of(self.headers.get(PATH_HEADER))
            return forwarded_host(self.headers.get("X-Forwarded-Host"), self.headers.get("Host"))
        if method == "GET" and segments in (["healthz"], ["livez"], ["metrics"]) and is_loopback(peer):
            console.guard.check_host(self.headers.get("Host"))
            return self.headers.get("Host")
        raise Refused(403, ONLY_HOME_ASSISTANT)

    @property
    def _asks_password(self) -> bool:
        """Whether this request's user must log in first: never Home Assistant's, whom it logged in."""
        guard = self.console.guard
        return guard is not None and guard.protected and not self._trusted

    def _session_cookie(self, session: str, expire: bool = False) -> str:
        assert self.console.guard is not None
        return self.console.guard.cookie(session, expire, path=self._root or "/")

    def _page(self, title: str, body: str, token: str, kind: str, appliance: str | None = None) -> None:
        crumbs: tuple[tuple[str, str], ...] = ()
        if appliance is not None:
            crumbs = ((appliance, appliance_url(appliance)),)
        add_link = self.console.setup is not None
        notice = health.broker_notice(self.console.bridge)  # every page says so while the broker is away
        if notice:
            body = f'<p class="problem" id="broker-problem" role="alert">{esc(notice)}</p>{body}'
        self._html(200, page(title, body, token=token, kind=kind, appliance=appliance, crumbs=crumbs,
                             protected=self._asks_password, add_link=add_link))  # fmt: skip

    def _public(self, segments: list[str]) -> None:
        bridge = self.console.bridge
        if segments == ["healthz"]:
            status, report = health.report(bridge)
            return self._json(status, report)
        if segments == ["livez"]:
            status, report = health.liveness(bridge)
            return self._json(status, report)
        if segments == ["metrics"]:
            body, content_type = metrics.render(bridge)
            return self._send(200, body, content_type)
        name = segments[1] if len(segments) == 2 else ""
        found = self.console.static.get(name) if _STATIC_NAME.fullmatch(name) else None
        if found is None:
            raise Refused(404, "no such file")
        body, content_type, etag = found
        headers = {"Cache-Control": "no-cache", "ETag": etag}
        if self.headers.get("If-None-Match") == etag:
            return self._send(304, b"", content_type, headers, content_length=False)
        self._send(200, body, content_type, headers)

    def _appliance_get(self, name: str, view: str, query: dict[str, list[str]], token: str) -> None:
        appliance = self.console.appliance(name)
        if appliance is None:
            raise Refused(404, f"no appliance is named {name[:100]}")
        if view == "":
            last = self.console.answers.last.get(name)
            body = _read_snapshot(lambda: appliance_page(
                connection_of(appliance), self._controls(appliance, token), value_rows(appliance.state), last,
                unknown_of(appliance.state)))  # fmt: skip
            return self._page(name, body, token, "appliance", name)
        if view == "controls":
            return self._html(200, _read_snapshot(lambda: self._controls(appliance, token)))
        if view in ("log", "log.jsonl"):
            log_filter = LogFilter.from_query(query)
            everything = [entry.to_json() for entry in appliance.connection.journal.entries()]
            entries = selected(everything, log_filter)
            if view == "log":
                features = {uid: f.name for uid, f in appliance.state.profile.features.items()}
                return self._page(
                    f"{name}: messages", log_page(name, entries, log_filter, len(everything), features), token, "log", name
                )
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            filename = re.sub(r"[^A-Za-z0-9._-]", "_", name) + f"-messages-{stamp}.jsonl"
            return self._send(200, json_lines(entries), "application/x-ndjson; charset=utf-8",
                              {"Content-Disposition": f'attachment; filename="{filename}"'})  # fmt: skip
        if view == "runs":
            records, problem, skipped = [], None, 0
            if appliance.runs is not None:
                try:
                    records = appliance.runs.store.history()
                    skipped = appliance.runs.store.skipped  # what that read left out
                except (OSError, ValueError) as exc:
                    problem = f"{appliance.runs.store.history_path} cannot be read ({exc})"
            body = runs_page(name, records, appliance.runs is not None, problem, skipped)
            return self._page(f"{name}: runs", body, token, "runs", name)
        raise Refused(404, f"the console has no page {view[:60]} for {name[:100]}")

    def _controls(self, appliance: Any, token: str) -> str:
        return control_panel(appliance.name, controls_of(appliance.state), token, appliance.connection.online)

    # -- adding appliances ------------------------------------------------------------------

    def _may_set_up(self) -> bool:
        """Whether this request may use the pages that write keys into devices.json.

        The one place that decides it (the login itself is checked before,
        for every page): a console without a password only on loopback, or
        Home Assistant's ingress proxy (it authenticated the user already).
        """
        guard = self.console.guard
        return self._trusted or (guard is not None and guard.may_set_up())

    def _add(self, method: str, step: list[str], posted: dict[str, Any], token: str) -> None:
        setup = self.console.setup
        assert setup is not None
        if not self._may_set_up():
            raise Refused(
                403,
                "adding appliances writes their keys, so these pages need the console's password: set http_password "
                "(or HCPY_HTTP_PASSWORD), or keep http_host 127.0.0.1",
            )
        view = AddView(setup.devices_file, list(setup.regions), max_upload=MAX_UPLOAD)
        if method == "GET" and step in ([], [""]):
            return self._add_page(view, token)
        if method != "POST" or len(step) != 1:
            raise Refused(404 if method == "GET" else 405, f"the console has no {method} /add/{'/'.join(step)[:60]}")
        name = step[0]
        try:
            if name == "login-start":
                region = _text(posted.get("region")) or None
                url = setup.start_login(region)
                view = replace(view, region=region, login_url=url)
            elif name == "login-finish":
                outcome = setup.finish_login(_text(posted.get("pasted")))
                view = _with(view, name, outcome_html(outcome, setup.devices_file))
            elif name == "upload":
                files = _uploads(posted.get("files"))
                if not files:
                    view = _with(view, name, problem_html("no file was chosen: choose the profile zips to import"))
                else:
                    key, iv = _text(posted.get("key")).strip(), _text(posted.get("iv")).strip()
                    outcome = setup.import_uploads(files, key or None, iv or None)
                    view = _with(view, name, outcome_html(outcome, setup.devices_file))
            elif name == "scan":
                view = _with(view, name, scan_html(setup.scan(), setup.devices_file))
            elif name == "other-addon":
                view = _with(view, name, outcome_html(setup.import_other_addon(), setup.devices_file))
            else:
                raise Refused(405, f"the console has no POST /add/{name[:60]}")
        except HcpyError as exc:
            problems = exc.problems if isinstance(exc, StepFailed) else []
            view = _with(view, name, problem_html(str(exc), problems))
        else:
            # devices.json may have changed: the bridge takes it now rather
            # than at the watcher's next look (the page then shows it).
            reload = self.console.bridge.reload_devices
            if reload is not None and name != "login-start":
                reload()
        return self._add_page(view, token)

    def _add_page(self, view: AddView, token: str) -> None:
        setup = self.console.setup
        assert setup is not None
        other = setup.other_addon_files()
        shown = replace(view, other_addon=other)
        self._page("Add appliances", add_page(shown, token), token, "add")

    # -- requests with a body --------------------------------------------------------------

    def _body(self, upload: bool = False) -> dict[str, Any]:
        """The posted fields; `upload`: a multipart form with files (up to MAX_UPLOAD) is taken too."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            raise Refused(400, "the request's Content-Length is no number")
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if upload and kind == "multipart/form-data":
            return self._upload(length)
        if length > MAX_BODY:
            self.close_connection = True
            raise Refused(413, f"the request is larger than the console takes ({MAX_BODY:,} bytes)")
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(400, "the request is not UTF-8") from None
        if kind == "application/json":
            try:
                # As an MQTT command is screened (nesting counted before the
                # parser recurses, numbers finite, strings valid Unicode).
                data = screen_payload(raw, BODY_LIMITS) if text.strip() else {}
            except CommandError as exc:
                raise Refused(400, _of_the_request(str(exc))) from None
            if not isinstance(data, dict):
                raise Refused(400, "the request must be a JSON object")
            return data
        if kind in ("application/x-www-form-urlencoded", ""):
            return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
        raise Refused(415, "send the request as JSON or as a form (application/x-www-form-urlencoded)")

    def _upload(self, length: int) -> dict[str, Any]:
        """A form with files; one too large is refused with a sentence (nothing of it is used)."""
        if length > MAX_UPLOAD:
            self.close_connection = True
            if length > MAX_DRAIN:
                raise Refused(413, _too_large(length))
            left = length
            while left > 0:  # read and dropped: the browser then shows the page instead of a reset connection
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    break
                left -= len(chunk)
            raise Refused(413, _too_large(length))
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            fields, files = parse_form_data(self.headers.get("Content-Type") or "", raw)
        except NotFormData as exc:
            raise Refused(400, str(exc)) from None
        posted: dict[str, Any] = dict(fields)
        posted["files"] = files
        return posted

    def _login(self, method: str, visitor: Visitor, query: dict[str, list[str]], posted: dict[str, Any]) -> None:
        guard = self.console.guard
        if guard is None:  # set when the server starts, before any request
            raise Refused(503, "the console is starting")
        next_path = _local(_text(posted.get("next")) if method == "POST" else (query.get("next") or ["/"])[0])
        if not self._asks_password:
            return self._redirect(next_path)
        token = guard.token(visitor.session)
        if method == "GET":
            if visitor.logged_in:
                return self._redirect(next_path)
            return self._html(200, bare_page("Log in", login_page(token, next_path)))
        try:
            session = guard.login(visitor, _text(posted.get("password")), client_of(self.client_address[0]))
        except LoginRefused as exc:
            self._log_refused_login(exc)
            return self._html(exc.status, bare_page("Log in", login_page(token, next_path, exc.sentence)))
        self._cookie = self._session_cookie(session)
        return self._redirect(next_path)

    def _log_refused_login(self, refused: LoginRefused) -> None:
        """A wrong password or a lockout, by the client's address (never what was typed), at most a few a minute."""
        throttle = self.console.logins
        if refused.locked:
            throttle.warning("locked out", "console logins from %s locked out for up to a minute after %d "
                             "wrong passwords; everyone else may still log in", refused.client, refused.failures)  # fmt: skip
        elif refused.status == 403:
            throttle.warning("wrong password", "wrong password for the console from %s (%d in the last minute)",
                             refused.client, refused.failures)  # fmt: skip
        else:
            log.debug("console login from %s refused: locked out", refused.client)

    def _command(self, name: str, posted: dict[str, Any]) -> None:
        """Submit a command as if published on its topic; answer with what hcpy published on T/response."""
        appliance = self.console.appliance(name)
        if appliance is None:
            raise Refused(404, f"no appliance is named {name[:100]}")
        topic = None
        try:
            topic, body = command_of(posted)
            transaction = new_transaction()
            payload = json.dumps(with_transaction(body, transaction), ensure_ascii=False).encode("utf-8")
        except NotACommand as exc:
            return self._json(
                400, {"command": str(topic) if topic else None, "status": "error", "error": str(exc), "code": 400}
            )
        answers = self.console.answers
        pending = answers.expect(appliance.name, transaction)
        try:
            appliance.submit_command(topic, payload)
            answer = pending.wait(self.console.answer_timeout)
        finally:
            answers.forget(pending)
        if answer is None:
            seconds = self.console.answer_timeout
            return self._json(504, {"command": str(topic), "status": "error", "code": 504, "transaction": transaction,
                                    "error": f"hcpy published no answer to this command on {appliance.topics.response} "
                                             f"within {seconds:g} s; see hc2mqtt's log"})  # fmt: skip
        return self._json(200, answer)

    # -- the event stream -------------------------------------------------------------------

    def _events(self, query: dict[str, list[str]]) -> None:
        console = self.console
        names = query.get("appliance")
        name = names[0] if names else None
        appliance = console.appliance(name) if name is not None else None
        if name is not None and appliance is None:
            raise Refused(404, f"no appliance is named {name[:100]}")
        # Home Assistant's users all come from its Supervisor: counted together only.
        source = None if self._trusted else client_of(self.client_address[0])
        try:
            client = console.events.subscribe(name, source)
        except TooManyClients as exc:
            raise Refused(503, str(exc)) from None
        try:
            self.close_connection = True
            self.send_response(200)
            for header, value in {**self._headers, "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store",
                                  "X-Accel-Buffering": "no", "Connection": "close"}.items():  # fmt: skip
                self.send_header(header, value)
            if self._cookie is not None:
                self.send_header("Set-Cookie", self._cookie)
            self.end_headers()
            hello = connection_of(appliance).to_json() if appliance is not None else {}
            self.wfile.write(RETRY + frame("ready", hello))
            quiet = 0.0
            ends = time.monotonic() + console.stream_lifetime
            while not client.dropped and not console.stopping.is_set() and time.monotonic() < ends:
                data = client.next(console.poll)
                if data is None:
                    quiet += console.poll
                    if quiet >= console.keep_alive:
                        self.wfile.write(KEEP_ALIVE)
                        quiet = 0.0
                    continue
                chunks = [data]
                while len(chunks) < 100 and (more := client.next(0)) is not None:
                    chunks.append(more)
                self.wfile.write(b"".join(chunks))
                quiet = 0.0
        except OSError:
            pass  # the page went away
        finally:
            console.events.unsubscribe(client)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _of_the_request(screened: str) -> str:
    """A screening sentence (said of an MQTT command's payload) said of the console's request."""
    unparsed = screened.replace("the payload is not valid JSON", "the request is not JSON")
    return unparsed.replace("the payload", "the request")


def _too_large(length: int) -> str:
    return (
        f"the upload is {length / (1024 * 1024):.1f} MB, more than the {MAX_UPLOAD // (1024 * 1024)} MB the console "
        "takes: a profile zip is a few hundred kB; upload the profile zips alone, a few at a time"
    )


def _with(view: AddView, step: str, result: str) -> AddView:
    return replace(view, result=result, step=step)


def _uploads(value: Any) -> list[Upload]:
    return [u for u in value if isinstance(u, Upload)] if isinstance(value, list) else []


def _local(path: str) -> str:
    """Where to go after logging in: a path of this console only."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path or any(ord(c) < 0x20 for c in path):
        return "/"
    return path
