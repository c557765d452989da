"""What every console page shares: the page around its body, escaping, links, times. Pure.

Every text that is not the console's own goes through `esc` (html.escape,
quotes included). Pages hold no script and no style of their own: one CSS
file and one JavaScript file come from /static/, as the Content-Security-Policy
(security.HEADERS) demands.

Links, form actions and sources are the console's absolute paths ("/",
"/appliance/x"), and the body's data-root says "/": behind Home Assistant's
ingress the server puts all of them under the prefix at output
(ingress.rooted), so no page needs to know about it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote

STYLESHEET = "/static/console.css"
SCRIPT = "/static/console.js"


def esc(value: Any) -> str:
    return escape(str(value), quote=True)


def appliance_url(name: str, suffix: str = "") -> str:
    """The console's address of an appliance (`suffix`: "/log", "/runs", …), its name percent-encoded."""
    return f"/appliance/{quote(name, safe='')}{suffix}"


def when(unix: float | None, field: str | None = None) -> str:
    """A time as a <time> element (UTC; the script shows it in the browser's time zone); "–" for none."""
    attribute = f' data-field="{esc(field)}"' if field else ""
    if unix is None:
        return f"<time{attribute}>–</time>"
    moment = datetime.fromtimestamp(unix, UTC)
    return (
        f'<time{attribute} datetime="{moment.isoformat(timespec="seconds")}">'
        f"{moment.strftime('%Y-%m-%d %H:%M:%S')} UTC</time>"
    )


def duration(seconds: float | None) -> str:
    """A duration as h:mm (or m:ss under an hour)."""
    if seconds is None:
        return "–"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d} h" if hours else f"{minutes}:{secs:02d} min"


def token_input(token: str) -> str:
    """The hidden field every form of the console posts its session's token in (security.TOKEN_FIELD)."""
    return f'<input type="hidden" name="token" value="{esc(token)}">'


def page(
    title: str,
    body: str,
    *,
    token: str,
    kind: str,
    appliance: str | None = None,
    crumbs: tuple[tuple[str, str], ...] = (),
    protected: bool = False,
    add_link: bool = False,
) -> str:
    """A whole page: `body` is HTML already. `kind` names the page for the script (data-page).

    `add_link`: the console can add appliances (a link to /add in the header).
    """
    data = f' data-page="{esc(kind)}"'
    if appliance is not None:
        data += f' data-appliance="{esc(appliance)}"'
    trail = "".join(f' <span class="sep">/</span> <a href="{esc(href)}">{esc(text)}</a>' for text, href in crumbs)
    logout = ""
    if protected:
        logout = (
            '<form class="logout" method="post" action="/logout">'
            f"{token_input(token)}"
            '<button type="submit" id="logout-button">Log out</button></form>'
        )
    add = ' <a href="/add" class="add-link" id="nav-add">Add appliances</a>' if add_link else ""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="hcpy-token" content="{esc(token)}">'
        f"<title>{esc(title)} · hcpy</title>"
        f'<link rel="stylesheet" href="{STYLESHEET}">'
        '<link rel="icon" href="data:,">'
        f'<script src="{SCRIPT}" defer></script>'
        f'</head><body data-root="/"{data}>'
        f'<header><nav><a href="/" class="home">hcpy</a>{trail}{add}</nav>{logout}</header>'
        f"<main>{body}</main>"
        "</body></html>\n"
    )


def bare_page(title: str, body: str) -> str:
    """A page without session or script: login, refusals."""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · hcpy</title>"
        f'<link rel="stylesheet" href="{STYLESHEET}">'
        '<link rel="icon" href="data:,">'
        '</head><body data-root="/" data-page="bare">'
        '<header><nav><a href="/" class="home">hcpy</a></nav></header>'
        f"<main>{body}</main>"
        "</body></html>\n"
    )
