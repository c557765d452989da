"""What the web console's tests share (no tests here): a browser-like client, an HTML reader, an event stream reader.

The console runs for real: `ConsoleServer` on 127.0.0.1:0 over hcpy's bridge
between simulated appliances and a private mosquitto; the tests talk HTTP to
it with `requests`, as a browser would (cookie, token, JSON posts).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import Any

import requests
from support import bridged, eventually

from hcpy.web.server import ConsoleServer

VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})


# -- reading pages ------------------------------------------------------------------------------


class Node:
    """An element of a parsed page: its tag, attributes, children and text."""

    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None = None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.attrs.get(name, default)
        return default if value is None else value

    def walk(self) -> Iterator[Node]:
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.walk()

    def find_all(self, tag: str | None = None, **attrs: str | bool) -> list[Node]:
        """Elements with this tag (any for None) whose attributes are as given (True: present; `class_`: one of its classes)."""
        found = []
        for node in self.walk():
            if tag is not None and node.tag != tag:
                continue
            if all(_matches(node, name, wanted) for name, wanted in attrs.items()):
                found.append(node)
        return found

    def find(self, tag: str | None = None, **attrs: str | bool) -> Node:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag or '*'}> with {attrs}"
        return found[0]

    def by_id(self, element_id: str) -> Node:
        return self.find(id=element_id)


def _matches(node: Node, name: str, wanted: str | bool) -> bool:
    if name == "class_":
        return str(wanted) in (node.get("class") or "").split()
    name = name.replace("_", "-")
    if wanted is True:
        return name in node.attrs
    return node.get(name) == wanted


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Node(tag, dict(attrs), self.current))

    def handle_endtag(self, tag: str) -> None:
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


# -- a browser ----------------------------------------------------------------------------------


class Browser:
    """One browser session with the console: its cookie, and the token of the last page it loaded."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.http = requests.Session()
        self.token: str | None = None

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        kwargs.setdefault("allow_redirects", False)
        return self.http.get(self.base + path, **kwargs)

    def page(self, path: str) -> Node:
        response = self.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        document = parse(response.text)
        token = [m.get("content") for m in document.find_all("meta", name="hcpy-token")]
        if token:
            self.token = token[0]
        return document

    def post(self, path: str, json_body: Any = None, token: str | None | bool = True, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token is True:
            token = self.token
        if token:
            headers["X-Hcpy-Token"] = token
        kwargs.setdefault("timeout", 20)
        kwargs.setdefault("allow_redirects", False)
        return self.http.post(self.base + path, json=json_body, headers=headers, **kwargs)

    def command(self, appliance: str, body: dict[str, Any], **kwargs: Any) -> requests.Response:
        if self.token is None:
            self.page(f"/appliance/{appliance}")
        return self.post(f"/appliance/{appliance}/command", body, **kwargs)

    def close(self) -> None:
        self.http.close()


class EventStream:
    """A page's /events stream, read on a thread of its own: every event as (name, data)."""

    def __init__(self, browser: Browser, path: str = "/events"):
        self.events: list[tuple[str, Any]] = []
        self.comments: list[str] = []
        self._cond = threading.Condition()
        self.response = browser.http.get(browser.base + path, stream=True, timeout=(5, 60))
        assert self.response.status_code == 200, (self.response.status_code, self.response.text[:300])
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        name, data = "message", []
        try:
            for raw in self.response.iter_lines(chunk_size=1, decode_unicode=False):
                line = raw.decode("utf-8")
                if line == "":
                    if data:
                        with self._cond:
                            self.events.append((name, json.loads("\n".join(data))))
                            self._cond.notify_all()
                    name, data = "message", []
                elif line.startswith(":"):
                    with self._cond:
                        self.comments.append(line)
                        self._cond.notify_all()
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
        except (requests.RequestException, OSError, ValueError, AttributeError):
            pass
        with self._cond:
            self.events.append(("#closed", None))
            self._cond.notify_all()

    def wait(self, name: str, test: Callable[[Any], bool] = lambda data: True, timeout: float = 10.0, since: int = 0) -> Any:
        """The first `name` event from the `since`-th on that passes `test`; `self.found` is its index."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for index, (event, data) in enumerate(self.events[since:], since):
                    if event == name and test(data):
                        self.found = index
                        return data
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {name} event as wanted; saw {self.events[-8:]}")
                self._cond.wait(left)

    def close(self) -> None:
        self.response.close()


# -- a console over simulated appliances ------------------------------------------------------------


@contextmanager
def console_over(port: int, sims_and_entries: list, password: str | None = None, ingress_peer: str | None = None,
                 **settings: Any) -> Iterator[tuple[Any, ConsoleServer]]:  # fmt: skip
    """hcpy's bridge between the simulators and the broker on `port`, and its web console on 127.0.0.1:0."""
    with bridged(port, sims_and_entries, **settings) as bridge:
        server = ConsoleServer(bridge, "127.0.0.1", 0, password, keep_alive=1.0, ingress_peer=ingress_peer).start()
        try:
            for appliance in bridge.appliances:
                assert appliance.connection.wait_online(10), f"{appliance.name} did not come online"
            yield bridge, server
        finally:
            server.stop()


def wait_until(test: Callable[[], Any], timeout: float = 10.0, what: str = "the condition") -> Any:
    return eventually(test, timeout, what)
