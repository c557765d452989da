"""The message log: the last protocol messages of an appliance, filtered, as a page and as JSON Lines. Pure.

The entries are what the connection's journal recorded
(`JournalEntry.to_json()`): messages only, where keys never are. Even so,
a field whose name says it holds a secret (key, iv, psk, password, token,
secret) is shown as "(hidden)": what is downloaded here goes into issue
reports.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from .html import appliance_url, esc

DIRECTIONS = ("in", "out")
ACTIONS = ("GET", "POST", "NOTIFY", "RESPONSE")
DEFAULT_LIMIT = 200
MAX_LIMIT = 5000
SHOWN_DATA = 600  # characters of a message's data a page shows (the download has all)
HIDDEN = "(hidden)"
_SECRET_NAME = re.compile(r"(?i)^(key|iv|psk|password|passwd|secret|token|access_token|refresh_token|id_token|.*_key|.*_secret)$")


@dataclass(frozen=True)
class LogFilter:
    direction: str | None = None  # "in" / "out"; None: both
    resource: str = ""  # a substring of the resource
    action: str | None = None
    limit: int = DEFAULT_LIMIT

    @classmethod
    def from_query(cls, query: dict[str, list[str]]) -> LogFilter:
        def first(name: str) -> str:
            values = query.get(name) or [""]
            return values[0].strip()

        direction = first("direction").lower()
        action = first("action").upper()
        try:
            limit = int(first("limit") or DEFAULT_LIMIT)
        except ValueError:
            limit = DEFAULT_LIMIT
        return cls(
            direction=direction if direction in DIRECTIONS else None,
            resource=first("resource")[:200],
            action=action if action in ACTIONS else None,
            limit=max(1, min(limit, MAX_LIMIT)),
        )

    def query(self) -> str:
        """The filter as a query string (for the download link)."""
        params = {"direction": self.direction or "", "resource": self.resource, "action": self.action or "", "limit": self.limit}
        return urlencode({k: v for k, v in params.items() if v not in ("", None)})

    def keeps(self, entry: dict[str, Any]) -> bool:
        if self.direction is not None and entry.get("direction") != self.direction:
            return False
        if self.action is not None and entry.get("action") != self.action:
            return False
        if self.resource and self.resource.lower() not in str(entry.get("resource", "")).lower():
            return False
        return True


def redact(data: Any) -> Any:
    """`data` with the value of every field named like a secret replaced."""
    if isinstance(data, dict):
        return {k: HIDDEN if isinstance(k, str) and _SECRET_NAME.match(k) else redact(v) for k, v in data.items()}
    if isinstance(data, list):
        return [redact(item) for item in data]
    return data


def selected(entries: list[dict[str, Any]], log_filter: LogFilter) -> list[dict[str, Any]]:
    """The last `limit` entries the filter keeps, oldest first, redacted."""
    kept = [e for e in entries if log_filter.keeps(e)][-log_filter.limit :]
    return [{**e, "data": redact(e.get("data"))} for e in kept]


def json_lines(entries: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(e, ensure_ascii=False, default=str) + "\n" for e in entries).encode("utf-8")


def feature_name(uid: Any, features: Mapping[int, str]) -> Any:
    """A uid as the page shows it: "BSH.Common.Option.RemainingProgramTime (544)"; one the profile lacks stays a number."""
    if isinstance(uid, int) and not isinstance(uid, bool) and uid in features:
        return f"{features[uid]} ({uid})"
    return uid


def named(data: Any, features: Mapping[int, str]) -> Any:
    """`data` with every "uid" (and a program's "program") given as its feature's name with the uid in brackets."""
    if isinstance(data, dict):
        return {k: feature_name(v, features) if k in _UID_KEYS else named(v, features) for k, v in data.items()}
    if isinstance(data, list):
        return [named(item, features) for item in data]
    return data


_UID_KEYS = frozenset({"uid", "program", "parentUID"})


def data_text(value: Any, features: Mapping[int, str] | None = None) -> str:
    """A message's data as the page shows it: its features named, one value a line ("Name (uid) = value")."""
    if value is None:
        return ""
    shown = named(value, features or {})
    if isinstance(shown, list) and shown and all(isinstance(item, dict) and set(item) <= {"uid", "value"} and "uid" in item
                                                 for item in shown):  # fmt: skip
        lines = [f"{item['uid']} = {json.dumps(item.get('value'), ensure_ascii=False, default=str)}" for item in shown]
        text = "\n".join(lines)
    else:
        text = json.dumps(shown, ensure_ascii=False, default=str)
    return text if len(text) <= SHOWN_DATA else text[:SHOWN_DATA] + "…"


def _select(name: str, element_id: str, choices: tuple[str, ...], chosen: str | None) -> str:
    options = ['<option value="">all</option>']
    options += [f'<option value="{c}"{" selected" if c == chosen else ""}>{c}</option>' for c in choices]
    return f'<select name="{name}" id="{element_id}">{"".join(options)}</select>'


def log_page(
    name: str, entries: list[dict[str, Any]], log_filter: LogFilter, total: int, features: Mapping[int, str] | None = None
) -> str:
    """The newest first; `entries` as `selected` returns them, `total` how many the journal holds.

    `features` (uid -> full feature name, the appliance's profile) names the
    uids in the data; the download (`json_lines`) keeps them raw.
    """
    rows = []
    for entry in reversed(entries):
        direction = entry.get("direction")
        arrow = "← in" if direction == "in" else "→ out"
        code = entry.get("code")
        rows.append(
            f'<tr class="message {esc(direction)}" data-direction="{esc(direction)}" data-action="{esc(entry.get("action"))}">'
            f'<td class="at"><time datetime="{esc(entry.get("at") or "")}">{esc((entry.get("at") or "")[11:23])}</time></td>'
            f'<td class="direction">{arrow}</td>'
            f'<td class="msgid">{esc(entry.get("msg_id") if entry.get("msg_id") is not None else "")}</td>'
            f'<td class="action">{esc(entry.get("action"))}</td>'
            f'<td class="resource">{esc(entry.get("resource"))}</td>'
            f'<td class="code">{esc(code if code is not None else "")}</td>'
            f'<td class="data"><code>{esc(data_text(entry.get("data"), features))}</code></td>'
            "</tr>"
        )
    download = appliance_url(name, "/log.jsonl") + (f"?{log_filter.query()}" if log_filter.query() else "")
    table = (
        '<div class="scroll"><table class="log" id="log-table"><thead><tr><th>Time (UTC)</th><th>Dir.</th><th>msgID</th>'
        '<th>Action</th><th>Resource</th><th>Code</th><th>Data</th></tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table></div>'
        if rows
        else '<p class="note" id="log-empty">No messages match.</p>'
    )
    return (
        f"<h1>Message log of {esc(name)}</h1>"
        f'<p class="note">The last {len(entries)} of the {total} messages kept, newest first; '
        "the download holds them oldest first, as JSON Lines, without any key.</p>"
        f'<form method="get" class="card filters" id="log-filters" action="{esc(appliance_url(name, "/log"))}">'
        f'<div class="row"><label for="log-direction">Direction</label>{_select("direction", "log-direction", DIRECTIONS, log_filter.direction)}</div>'
        f'<div class="row"><label for="log-resource">Resource contains</label>'
        f'<input type="text" name="resource" id="log-resource" value="{esc(log_filter.resource)}" placeholder="/ro/values"></div>'
        f'<div class="row"><label for="log-action">Action</label>{_select("action", "log-action", ACTIONS, log_filter.action)}</div>'
        f'<div class="row"><label for="log-limit">Last</label>'
        f'<input type="number" name="limit" id="log-limit" min="1" max="{MAX_LIMIT}" value="{log_filter.limit}"></div>'
        '<div class="buttons"><button type="submit" id="log-filter-button">Filter</button>'
        f'<a class="button" id="log-download" href="{esc(download)}" download>Download (JSON Lines)</a></div>'
        "</form>"
        f"{table}"
    )
