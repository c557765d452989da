"""A stand-in for Home Assistant's ingress in front of the web console (no tests here).

What Home Assistant and its Supervisor do to a request for an add-on's panel
(home-assistant/core hassio/ingress.py, supervisor api/ingress.py), on
127.0.0.1: `/api/hassio_ingress/<token>/<path>` goes to the console's
`/<path>` with the browser's headers (Host, Origin, Cookie, ...), and
X-Ingress-Path, X-Forwarded-For, -Host, -Proto added; the answer comes back
with its headers, a body without Content-Length (the event stream) passed on
chunk by chunk as it comes. `/` is Home Assistant's page with the panel in an
iframe, as Home Assistant's sidebar shows it.

The proxy connects from 127.0.0.1: that is the console's ingress peer in the
tests. Also used by checks/browser/test_ingress.py (tests/ is on its path).
"""

from __future__ import annotations

import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "aHR0cHM6Ly9ob21lLWFzc2lzdGFudC5pbw_ingress-Token"  # like Home Assistant's (token_urlsafe)
# Hop by hop, or set again by the proxy (as aiohttp does on both sides).
_DROPPED = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "te", "upgrade"})
FRAME_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Home Assistant</title><link rel="icon" href="data:,"></head>
<body><h1>Home Assistant</h1><iframe id="panel" title="Home Connect" src="{src}" width="1200" height="800"></iframe>
</body></html>
"""


class IngressProxy:
    """Home Assistant's ingress for the console on 127.0.0.1:`console_port`; `base` is the panel's URL."""

    def __init__(self, console_port: int, token: str = TOKEN):
        self.console_port = console_port
        self.prefix = f"/api/hassio_ingress/{token}"
        self.forwarded = 0  # requests passed on to the console
        self._httpd = _ProxyServer(("127.0.0.1", 0), _ProxyHandler)
        self._httpd.proxy = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.1,), name="ingress-proxy", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def base(self) -> str:
        """The panel's address (without the trailing "/")."""
        return self.url + self.prefix

    def start(self) -> IngressProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(2.0)

    def __enter__(self) -> IngressProxy:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    proxy: IngressProxy


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _ProxyServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._forward("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._forward("POST")

    def _forward(self, method: str) -> None:
        proxy = self.server.proxy
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else None
        if self.path in ("/", "/index.html"):
            return self._answer(200, FRAME_PAGE.format(src=proxy.prefix + "/").encode(), "text/html; charset=utf-8")
        if self.path != proxy.prefix and not self.path.startswith(proxy.prefix + "/"):
            return self._answer(404, b"no such panel\n", "text/plain")
        path = "/" + self.path[len(proxy.prefix) :].lstrip("/")
        headers = {name: value for name, value in self.headers.items() if name.lower() not in _DROPPED}
        headers["X-Ingress-Path"] = proxy.prefix
        headers["X-Forwarded-For"] = self.client_address[0]
        headers["X-Forwarded-Host"] = self.headers.get("Host", "")
        headers["X-Forwarded-Proto"] = "http"
        if body is not None:
            headers["Content-Length"] = str(len(body))
        upstream = http.client.HTTPConnection(
            "127.0.0.1", proxy.console_port, timeout=60, source_address=("127.0.0.1", 0)
        )
        try:
            upstream.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                upstream.putheader(name, value)
            upstream.endheaders(body)
            answer = upstream.getresponse()
            proxy.forwarded += 1
            self._pass_back(answer)
        except OSError:
            self.close_connection = True
        finally:
            upstream.close()

    def _pass_back(self, answer: http.client.HTTPResponse) -> None:
        self.send_response(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in _DROPPED:
                self.send_header(name, value)
        if answer.status in (204, 304) or answer.status < 200:
            # No body, whatever the headers say (as the Supervisor's must_be_empty_body):
            # anything written would be read as the next answer on this connection.
            self.end_headers()
            return
        length = answer.getheader("Content-Length")
        if length is not None:
            data = answer.read()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        # Streamed, as the Supervisor does (X-Accel-Buffering: no): each piece as it comes.
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Accel-Buffering", "no")
        self.end_headers()
        self.wfile.flush()
        while piece := answer.read1(65536):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def direct(port: int, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None,
           source: str = "127.0.0.2") -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    """A request to the console on 127.0.0.1:`port` from another address of this machine (all of 127/8 is loopback).

    (status, headers, body); the body of an event stream is not read.
    """
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        fields = {name.lower(): value for name, value in answer.getheaders()}
        data = b"" if fields.get("content-type", "").startswith("text/event-stream") else answer.read()
        return answer.status, fields, data
    finally:
        connection.close()


def can_bind(address: str) -> bool:
    """Whether a socket can take `address` (Linux routes all of 127/8 to lo; other systems may have 127.0.0.1 only)."""
    try:
        with socket.socket() as probe:
            probe.bind((address, 0))
        return True
    except OSError:
        return False
