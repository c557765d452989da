"""The "Add appliances" page (GET /add) and what each of its forms answers. Pure: rendered from `setup_port` values.

Plain forms that work without JavaScript: each posts to /add/<step> and the
answer is this page again with the step's result on top. Elements the
browser tests find carry ids: `login-start`, `login-url`, `pasted`,
`upload-form`, `scan-form`, `other-addon`, `add-result`, `add-problem`, and
each appliance of a result is an `li` with `data-appliance`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .html import esc, token_input
from .setup_port import AddedAppliance, OtherAddonFiles, Outcome, ScanOutcome

PICTURE = "/static/hcauth-address.svg"
PICKED_UP = "The running bridge picks the appliances up within a few seconds: no restart needed."


@dataclass(frozen=True)
class AddView:
    """What the page shows besides its forms."""

    devices_file: str
    regions: Sequence[str]
    region: str | None = None  # the one chosen last
    login_url: str | None = None  # a login just started
    other_addon: OtherAddonFiles | None = None
    result: str = ""  # the HTML of the last step's result (`outcome_html`, `scan_html`, `problem_html`)
    step: str = ""  # which form the result belongs to: login-start, login-finish, upload, scan, other-addon
    max_upload: int = 16 * 1024 * 1024


def add_page(view: AddView, token: str) -> str:
    result = (
        f'<section class="card add-result" id="add-result" data-step="{esc(view.step)}">{view.result}</section>'
        if view.result
        else ""
    )
    return (
        "<h1>Add appliances</h1>"
        f'<p class="hint">Whatever is added here is written to <code>{esc(view.devices_file)}</code>: each '
        "appliance's key and profile. Choose one of the ways below; a scan then finds where each appliance is on "
        "your network.</p>"
        f"{result}"
        f"{other_addon_box(view.other_addon, token)}"
        f"{login_section(view, token)}"
        f"{upload_section(view, token)}"
        f"{scan_section(token)}"
    )


def other_addon_box(found: OtherAddonFiles | None, token: str) -> str:
    if found is None:
        return ""
    files = " and ".join(found.files)
    count = f" ({found.appliances} appliance{'s' * (found.appliances != 1)})" if found.appliances else ""
    return (
        '<section class="card other-addon" id="other-addon">'
        "<h2>Found hcpy2-0's add-on files</h2>"
        f"<p>Found hcpy2-0's add-on files in <code>{esc(found.folder)}</code>: {esc(files)}{esc(count)}. "
        "Import them to bridge the same appliances without logging in again.</p>"
        '<form method="post" action="/add/other-addon">'
        f"{token_input(token)}"
        '<button type="submit" id="other-addon-import">Import</button></form></section>'
    )


def login_section(view: AddView, token: str) -> str:
    options = "".join(
        f'<option value="{esc(r)}"{" selected" if r == (view.region or view.regions[0]) else ""}>{esc(r)}</option>'
        for r in view.regions
    )
    shown = ""
    if view.login_url:
        shown = (
            '<p class="login-url">Open this address (a new tab), log in with your Home Connect account: '
            f'<a href="{esc(view.login_url)}" id="login-url" target="_blank" rel="noopener noreferrer">'
            "log in at Home Connect</a></p>"
        )
    return (
        '<section class="card add-login" id="add-login"><h2>From your Home Connect account</h2>'
        "<p>Once, with the login of the Home Connect app; the cloud then hands over each appliance's key and "
        "profile. The account's region is read from the login; the one chosen here is where it starts.</p>"
        '<form method="post" action="/add/login-start" id="login-start-form">'
        f"{token_input(token)}"
        f'<label for="region">Region</label> <select name="region" id="region">{options}</select> '
        '<button type="submit" id="login-start">Show the login address</button></form>'
        f"{shown}"
        '<ol class="steps">'
        "<li>Before you open the login address: open the browser's developer tools (F12) on their "
        "<strong>Network</strong> tab, in the tab where you log in.</li>"
        "<li>Log in. At the end the browser tries to open an address starting with "
        "<code>hcauth://auth/prod?code=</code> and fails or shows nothing: that is expected. Find that request in the "
        "Network tab (filter: <code>hcauth</code>), right-click it and copy its address (Copy → Copy URL). An address "
        "with <code>redirect_target</code> on the way is not it: it comes before.</li>"
        "<li>Paste it below, as it is (the whole address; encoded or not).</li></ol>"
        f'<figure><img src="{PICTURE}" id="hcauth-picture" width="720" height="330" '
        "alt=\"The browser's developer tools, Network tab: the failed request to hcauth://auth/prod?code=…&amp;state=… "
        'is the one to copy"><figcaption>Where the hcauth:// address appears: the last request of the login, '
        "failed, in the Network tab.</figcaption></figure>"
        '<form method="post" action="/add/login-finish" id="login-finish-form">'
        f"{token_input(token)}"
        '<label for="pasted">The hcauth:// address</label>'
        '<textarea name="pasted" id="pasted" rows="3" required autocomplete="off" spellcheck="false" '
        'placeholder="hcauth://auth/prod?code=…&amp;state=…"></textarea>'
        '<button type="submit" id="login-finish">Add the appliances</button></form></section>'
    )


def upload_section(view: AddView, token: str) -> str:
    megabytes = view.max_upload // (1024 * 1024)
    return (
        '<section class="card add-upload" id="add-upload"><h2>From profile zips</h2>'
        "<p>Profile zips you already have: those a cloud login kept (<code>&lt;haId&gt;.zip</code>), the profile "
        "downloader's (with the key inside), or an appliance's two XML files with its JSON. A zip without a key "
        f"needs the appliance's key (and IV, for an AES appliance) below, one appliance at a time. At most {megabytes} MB.</p>"
        '<form method="post" action="/add/upload" enctype="multipart/form-data" id="upload-form">'
        f"{token_input(token)}"
        '<label for="profile-files">Profile zips</label>'
        '<input type="file" name="files" id="profile-files" multiple required accept=".zip,.xml,.json">'
        '<label for="profile-key">Key (only for a zip without one)</label>'
        '<input type="password" name="key" id="profile-key" autocomplete="off">'
        '<label for="profile-iv">IV (only for an AES appliance)</label>'
        '<input type="password" name="iv" id="profile-iv" autocomplete="off">'
        '<button type="submit" id="upload-button">Import</button></form></section>'
    )


def scan_section(token: str) -> str:
    return (
        '<section class="card add-scan" id="add-scan"><h2>Where they are</h2>'
        "<p>The appliances announce themselves on the network (mDNS). A scan listens a few seconds and sets the "
        "address of each appliance it hears.</p>"
        '<form method="post" action="/add/scan" id="scan-form">'
        f"{token_input(token)}"
        '<button type="submit" id="scan-button">Scan the network</button></form></section>'
    )


# -- results ---------------------------------------------------------------------------


def added_item(appliance: AddedAppliance) -> str:
    facts = [
        f'<span class="kind">{esc(appliance.kind)}</span>',
        '<span data-field="profile">profile saved</span>' if appliance.profile_saved else "no profile",
        '<span data-field="key">key saved</span>' if appliance.key_saved else "no key",
        f'host <code data-field="host">{esc(appliance.host)}</code>',
    ]
    if appliance.profile_zip:
        facts.append(f"profile zip kept as <code>{esc(appliance.profile_zip)}</code>")
    problems = "".join(f'<li class="problem">{esc(p)}</li>' for p in appliance.problems)
    return (
        f'<li data-appliance="{esc(appliance.name)}"><strong>{esc(appliance.name)}</strong>: '
        f"{', '.join(facts)}{f'<ul>{problems}</ul>' if problems else ''}</li>"
    )


def _problems(problems: Sequence[str]) -> str:
    if not problems:
        return ""
    items = "".join(f"<li>{esc(p)}</li>" for p in problems)
    return f'<ul class="problems" id="add-problems">{items}</ul>'


def outcome_html(outcome: Outcome, devices_file: str) -> str:
    count = len(outcome.appliances)
    items = "".join(added_item(a) for a in outcome.appliances)
    notes = "".join(f'<p class="hint">{esc(n)}</p>' for n in outcome.notes)
    left_out = ""
    if outcome.problems:
        left_out = f"<p>{len(outcome.problems)} left out:</p>{_problems(outcome.problems)}"
    return (
        f"<h2>Added {count} appliance{'s' * (count != 1)}</h2>"
        f'<p class="done" id="add-done">Wrote <code>{esc(devices_file)}</code>. {esc(PICKED_UP)}</p>'
        f"{notes}"
        f'<ul class="added" id="added">{items}</ul>'
        f"{left_out}"
    )


def problem_html(sentence: str, problems: Sequence[str] = ()) -> str:
    return f'<h2>Not done</h2><p class="problem" id="add-problem" role="alert">{esc(sentence)}</p>{_problems(problems)}'


def scan_html(outcome: ScanOutcome, devices_file: str) -> str:
    rows = "".join(
        f'<tr data-ha-id="{esc(h.ha_id)}"><td>{esc(h.name or "(not in devices.json)")}</td><td>{esc(h.kind)}</td>'
        f'<td><code>{esc(h.ha_id)}</code></td><td data-field="address">{esc(h.address)}</td>'
        f'<td data-field="host">{esc(h.host or "–")}</td></tr>'
        for h in outcome.heard
    )
    table = (
        '<table class="values" id="heard"><thead><tr><th>name</th><th>appliance</th><th>haId</th><th>heard at</th>'
        f"<th>host in devices.json</th></tr></thead><tbody>{rows}</tbody></table>"
        if outcome.heard
        else ""
    )
    changed = "".join(f"<li>{esc(c)}</li>" for c in outcome.changed)
    if outcome.changed:
        said = (
            f'<div class="done" id="add-done"><p>Wrote <code>{esc(devices_file)}</code>:</p>'
            f'<ul id="scan-changed">{changed}</ul><p>{esc(PICKED_UP)}</p></div>'
        )
    else:
        said = f'<p class="problem" id="add-problem" role="alert">{esc(outcome.sentence)}</p>'
    missing = (
        f"<p>Not heard (switched off, or on another network): {esc(', '.join(outcome.missing))}</p>"
        if outcome.missing
        else ""
    )
    heading = f"Heard {len(outcome.heard)} appliance{'s' * (len(outcome.heard) != 1)}"
    return f"<h2>{heading}</h2>{said}{table}{missing}"


def add_link_box() -> str:
    """What the appliance list says when there is nothing to bridge yet, and setup is possible."""
    return (
        '<section class="card no-appliances" id="no-appliances"><h1>No appliances yet</h1>'
        "<p>The bridge has no appliances to bridge: add them from your Home Connect account, from profile zips, "
        "or from hcpy2-0's files.</p>"
        '<p><a href="/add" class="button" id="add-appliances-link">Add appliances</a></p></section>'
    )
