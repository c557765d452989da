"""The web console's pages and /metrics, read as a browser and a scraper would, for the secret search."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import quote

from .harness import Rig
from .secrets import count_in

VIEWS = ("", "/controls", "/log", "/log.jsonl", "/runs")


@dataclass
class ConsoleSearch:
    read: int = 0
    bytes: int = 0
    failed: list[str] = field(default_factory=list)
    hits: list[str] = field(default_factory=list)  # pages that showed a key or IV


def search_console(rig: Rig) -> ConsoleSearch:
    found = ConsoleSearch()
    port = rig.daemon.http_port
    secrets = sorted({s for a in rig.appliances for s in a.secrets})
    paths = ["/", "/metrics", "/healthz"]
    paths += [f"/appliance/{quote(a.name)}{view}" for a in rig.appliances for view in VIEWS]
    for path in paths:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": f"127.0.0.1:{port}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                body = response.read()
        except (urllib.error.URLError, OSError) as exc:
            found.failed.append(f"{path}: {exc}")
            continue
        found.read += 1
        found.bytes += len(body)
        if count_in(body, secrets):
            found.hits.append(path)
    return found
