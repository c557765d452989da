"""The appliance list, one appliance's page, the login form. Pure: rendered from `snapshot` values.

Elements the script (and browser tests) find carry stable attributes:
`data-appliance` on each appliance's card, `data-face-slot` on each slot
of its face (face.SLOTS; `data-face-feature` the feature it shows),
`data-alert` on each alert, `data-field` on each of its connection facts
(in <details class="connection-details">), `data-group` on each group of values, `data-feature`
(the full feature name) on each value cell.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..appliance.unknown import HINT
from .face import SLOTS, Face
from .html import appliance_url, esc, token_input, when
from .setup_pages import add_link_box
from .snapshot import GROUPS, Connection, Unknown, ValueRow

STATE_WORDS = {"online": "online", "offline": "offline", "connecting": "connecting", "stopped": "stopped"}


def _clock(unix: float) -> str:
    """A time of day (the expected end) as a <time>: UTC here, the browser's own clock once the script ran."""
    moment = datetime.fromtimestamp(unix, UTC)
    return f'<time datetime="{moment.isoformat(timespec="seconds")}" data-clock>{moment.strftime("%H:%M")} UTC</time>'


def face_section(face: Face | None) -> str:
    """What a person looks at: every slot of face.SLOTS (those without a value hidden, for the script to fill), the alerts."""
    if face is None:
        return ""
    slots = {s.key: s for s in face.slots}
    rows = []
    for key in SLOTS:
        slot = slots.get(key)
        if key not in face.headings and slot is None:
            continue  # nothing of the appliance's says it
        heading, source = face.headings.get(key, (slot.label, slot.feature) if slot else ("", None))
        feature = slot.feature if slot is not None and slot.feature else source
        hidden = "" if slot is not None else " hidden"
        attributes = f' data-face-feature="{esc(feature)}"' if feature else ""
        if key == "end":
            shown = _clock(slot.number) if slot is not None and slot.number is not None else "<time data-clock>–</time>"
        else:
            shown = f'<span class="face-text">{esc(slot.text if slot else "")}</span>'
        # The bar spans the card under its figure: beside it, a narrow card has no room.
        bar = ""
        if key == "progress":
            percent = slot.number if slot is not None and slot.number is not None else 0
            bar = f'<progress max="100" value="{percent:g}" aria-label="{esc(slot.label if slot else heading)}"></progress>'
        rows.append(
            f'<div class="face-slot" data-face-slot="{key}"{attributes}{hidden}><dt>{esc(slot.label if slot else heading)}</dt>'
            f"<dd>{shown}</dd>{bar}</div>"
        )
    alerts = "".join(
        f'<li data-alert="{esc(a.feature)}"><span class="alert-name">{esc(a.label)}</span>: '
        f'<span class="alert-value">{esc(a.value)}</span> {when(a.at) if a.at is not None else ""}</li>'
        for a in face.alerts
    )
    under_way = "true" if face.under_way else "false"
    return (
        f'<div class="face" data-under-way="{under_way}"><dl class="face-slots">{"".join(rows)}</dl>'
        f'<ul class="alerts"{"" if alerts else " hidden"}>{alerts}</ul></div>'
    )


def connection_card(connection: Connection, link: bool = True) -> str:
    """An appliance's card: its face (state, program, time left, progress, door, alerts); the connection one click away."""
    name = esc(connection.name)
    title = f'<a href="{esc(appliance_url(connection.name))}" class="appliance-link">{name}</a>' if link else name
    model = " ".join(part for part in (connection.brand, connection.model) if part)
    kind = f" ({esc(connection.type)})" if connection.type else ""
    reason = "connected" if connection.state == "online" else (connection.reason or "–")
    disconnects = ", ".join(f"{esc(k)} {v}" for k, v in sorted(connection.disconnects.items())) or "none"
    state = esc(connection.state)
    return (
        f'<article class="card connection" data-appliance="{name}" data-state="{state}">'
        f'<h2>{title} <span class="badge" data-field="state">{esc(STATE_WORDS.get(connection.state, connection.state))}</span></h2>'
        f'<p class="model">{esc(model)}{kind}</p>'
        f"{face_section(connection.face)}"
        '<details class="connection-details"><summary>Connection: '
        f'<span data-field="reason">{esc(reason)}</span></summary>'
        "<dl>"
        f"<dt>Since</dt><dd>{when(connection.since, 'since')}</dd>"
        f'<dt>Transport</dt><dd data-field="transport">{esc(connection.transport.upper())}</dd>'
        f'<dt>Address</dt><dd data-field="address">{esc(connection.address or "–")}</dd>'
        f'<dt>Firmware</dt><dd data-field="firmware">{esc(connection.firmware or "–")}</dd>'
        f"<dt>Last message</dt><dd>{when(connection.last_in, 'last_in')}</dd>"
        f'<dt>Reconnects</dt><dd data-field="reconnects">{connection.reconnects}</dd>'
        f'<dt>Ended attempts</dt><dd data-field="disconnects">{disconnects}</dd>'
        f'<dt>Messages</dt><dd><span data-field="messages_in">{connection.messages_in}</span> in, '
        f'<span data-field="messages_out">{connection.messages_out}</span> out</dd>'
        "</dl></details>"
        f'<p class="links"><a href="{esc(appliance_url(connection.name, "/log"))}" class="log-link">Message log</a> '
        f'<a href="{esc(appliance_url(connection.name, "/runs"))}" class="runs-link">Runs</a></p>'
        "</article>"
    )


def appliance_list(connections: list[Connection], can_add: bool = False) -> str:
    """Every appliance's card; none: a sentence, and the way to /add when the console can add them."""
    if not connections:
        return add_link_box() if can_add else "<p>No appliances are bridged.</p>"
    cards = "".join(connection_card(c) for c in connections)
    return f'<h1>Appliances</h1><section class="cards" id="appliance-list">{cards}</section>'


def value_row(row: ValueRow) -> str:
    members = f' title="{esc(", ".join(row.members))}"' if row.members else ""
    return (
        f'<tr data-row="{esc(row.name)}">'
        f'<th scope="row"><span class="short">{esc(row.short)}</span><small class="full">{esc(row.name)}</small></th>'
        f'<td class="value" data-feature="{esc(row.name)}"{members}>{esc(row.value)}</td>'
        f'<td class="unit">{esc(row.unit or "")}</td>'
        "</tr>"
    )


def value_groups(groups: dict[str, list[ValueRow]]) -> str:
    """Every group of GROUPS, an empty one hidden (the script shows it when its first value comes)."""
    sections = []
    for key, heading, _ in GROUPS:
        rows = groups.get(key, [])
        hidden = "" if rows else " hidden"
        sections.append(
            f'<section class="group" data-group="{key}"{hidden}><h2>{esc(heading)}</h2>'
            f'<table class="values"><tbody data-group="{key}">{"".join(value_row(r) for r in rows)}</tbody></table></section>'
        )
    return f'<section id="values">{"".join(sections)}</section>'


def describe_answer(answer: dict[str, Any] | None) -> tuple[str, str]:
    """An answer as a line and its status ("ok"/"error"), as the page's script words it (console.js describe)."""
    if not isinstance(answer, dict):
        return "–", ""
    if answer.get("status") == "ok":
        return f"ok ({answer.get('command')})", "ok"
    code = f" {answer['code']}" if answer.get("code") is not None else ""
    name = f" {answer['name']}" if answer.get("name") else ""
    return f"error{code}{name}: {answer.get('error') or 'refused'}", "error"


def unknown_uids(unknown: Unknown | None) -> str:
    """The uids the profile lacks, with their last values; nothing when there are none."""
    if unknown is None or not unknown.distinct:
        return ""
    rows = "".join(
        f'<tr data-uid="{row.uid}"><th scope="row">{row.uid}</th><td class="value">{esc(row.value)}</td>'
        f"<td>{when(row.at)}</td><td>{row.count:,}</td></tr>"
        for row in unknown.rows
    )
    listed = "" if len(unknown.rows) == unknown.distinct else f" (the first {len(unknown.rows):,} listed)"
    return (
        '<section class="card unknown-uids" id="unknown-uids"><h2>Uids the profile lacks</h2>'
        f'<p class="hint"><span data-field="unknown_values">{unknown.values:,}</span> value(s) for '
        f'<span data-field="unknown_uids">{unknown.distinct:,}</span> uid(s) the profile has no feature for'
        f"{listed}, published on T/state/&lt;uid&gt; with the raw value: {esc(HINT)}.</p>"
        '<table class="values"><thead><tr><th>uid</th><th>last value</th><th>when</th><th>values</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></section>"
    )


def appliance_page(
    connection: Connection,
    controls: str,
    groups: dict[str, list[ValueRow]],
    last_answer: dict[str, Any] | None = None,
    unknown: Unknown | None = None,
) -> str:
    text, status = describe_answer(last_answer)
    shown = f' data-status="{status}"' if status else ""
    return (
        f"<h1>{esc(connection.name)}</h1>"
        f"{connection_card(connection, link=False)}"
        f"{controls}"
        '<section class="card answers"><h2>Last answer on T/response</h2>'
        f'<output id="last-answer" aria-live="polite"{shown}>{esc(text)}</output></section>'
        f"{value_groups(groups)}"
        f"{unknown_uids(unknown)}"
    )


def login_page(token: str, next_path: str, problem: str | None = None) -> str:
    message = f'<p class="problem" id="login-problem" role="alert">{esc(problem)}</p>' if problem else ""
    return (
        '<h1>Log in</h1>'
        f"{message}"
        '<form method="post" action="/login" id="login-form" class="card">'
        f"{token_input(token)}"
        f'<input type="hidden" name="next" value="{esc(next_path)}">'
        '<label for="login-password">Password</label>'
        '<input type="password" name="password" id="login-password" autocomplete="current-password" required autofocus>'
        '<button type="submit" id="login-button">Log in</button>'
        "</form>"
    )


def problem_page(sentence: str) -> str:
    return f'<h1>Not done</h1><p class="problem" role="alert">{esc(sentence)}</p><p><a href="/">Back to the appliances</a></p>'
