"""The controls of one appliance's page: program, options, start, pause, resume, abort, settings, raw commands. Pure.

Each control is a form posting to /appliance/<name>/command in the
shorthand `commands.command_of` reads (action, program, option:<name>,
delay_minutes, name, value; or topic and payload), carrying the session's
token. The script sends them as JSON and shows the answer hcpy published
in the form's `output.reply`; without script they post as forms.

Stable ids for the script and browser tests: program-select, select-button,
start-button, start-delay and start-delayed-button (only where a program
has a delay option), pause-button,
resume-button, abort-button, program-reply, run-reply; the settings in
<details id="settings">, per setting setting-<feature_id> (the form),
setting-value-<feature_id>, setting-button-<feature_id>,
setting-reply-<feature_id>; in <details id="raw"> raw-topic, raw-payload,
raw-button, raw-reply.
"""

from __future__ import annotations

from ..mqtt.topics import CommandTopic
from .html import appliance_url, esc, token_input
from .snapshot import Controls, Field, ProgramChoice


def _number(value: float | str | None) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def field_input(field: Field, name: str, element_id: str) -> str:
    """The input for one field: a select for members, a number with its live bounds, or text."""
    common = f'name="{esc(name)}" id="{esc(element_id)}" data-field-name="{esc(field.name)}"'
    if field.kind in ("enum", "boolean"):
        choices = ['<option value="">–</option>'] if field.value not in field.members else []
        for member in field.members:
            chosen = " selected" if member == field.value else ""
            choices.append(f'<option value="{esc(member)}"{chosen}>{esc(member)}</option>')
        return f'<select {common}>{"".join(choices)}</select>'
    if field.kind == "number":
        bounds = "".join(
            f' {attribute}="{esc(_number(value))}"'
            for attribute, value in (("min", field.min), ("max", field.max), ("step", field.step or "any"))
            if value is not None
        )
        unit = f'<span class="unit">{esc(field.unit)}</span>' if field.unit else ""
        return f'<input type="number" {common}{bounds} value="{esc(field.value)}" inputmode="decimal">{unit}'
    return f'<input type="text" {common} value="{esc(field.value)}" maxlength="1024">'


def _options(choice: ProgramChoice, shown: bool, index: int) -> str:
    # Only the chosen program's options go out: the others' fieldsets are disabled.
    state = "" if shown else " disabled hidden"
    rows = []
    for n, field in enumerate(choice.options):
        element_id = f"option-{index}-{n}"
        if not field.writable:
            # The appliance's own figure: a value, never sent with the program.
            unit = f" {field.unit}" if field.unit else ""
            rows.append(
                f'<div class="row reading" data-option="{esc(field.name)}" data-read-only="true">'
                f'<span class="label" title="{esc(field.name)}">{esc(field.short)}</span>'
                f'<output id="{element_id}" data-field-name="{esc(field.name)}">{esc(field.value or "–")}{esc(unit)}</output></div>'
            )
            continue
        note = "" if field.usable else ' <small class="note">(not available now)</small>'
        rows.append(
            f'<div class="row" data-option="{esc(field.name)}"><label for="{element_id}" title="{esc(field.name)}">'
            f"{esc(field.short)}{note}</label>{field_input(field, 'option:' + field.name, element_id)}</div>"
        )
    body = "".join(rows) or '<p class="note">No options to set.</p>'
    return f'<fieldset class="program-options" data-program="{esc(choice.name)}"{state}><legend>Options of {esc(choice.short)}</legend>{body}</fieldset>'


def _form(action: str, token: str, element_id: str, inner: str, extra: str = "") -> str:
    return (
        f'<form class="command-form" id="{element_id}" method="post" action="{esc(action)}"{extra}>'
        f"{token_input(token)}{inner}</form>"
    )


def program_form(controls: Controls, action: str, token: str) -> str:
    """The program dropdown, the chosen program's options, Select / Start now / Start with delay.

    Start now is styled by the program chosen in the dropdown (each option's
    data-startable; the script follows a change of choice) and by whether the
    appliance takes a start at all now (the button's title says why not).
    The delay is offered only with a program that has a delay option, and
    not at all on an appliance where none has.
    """
    if not controls.programs:
        return '<p class="note">This appliance offers no programs to start remotely.</p>'
    chosen_name = controls.active or controls.selected or controls.programs[0].name
    chosen = next((c for c in controls.programs if c.name == chosen_name), controls.programs[0])
    options = []
    for choice in controls.programs:
        mark = " selected" if choice is chosen else ""
        delay = f' data-delay="{esc(choice.delay)}"' if choice.delay else ""
        options.append(
            f'<option value="{esc(choice.name)}" data-startable="{str(choice.startable).lower()}"{delay}{mark}>'
            f"{esc(choice.short)}</option>"
        )
    fieldsets = "".join(_options(c, c is chosen, i) for i, c in enumerate(controls.programs))
    shown = {c.name: c.short for c in controls.programs}
    selected = shown.get(controls.selected or "", controls.selected or "none")
    active = shown.get(controls.active or "", controls.active or "none")
    now = f"Selected on the appliance: {esc(selected)}; under way: {esc(active)}"
    refused = controls.start_refused
    startable = chosen.startable and refused is None
    why = f' title="{esc(refused)}" data-refused="{esc(refused)}"' if refused else ""
    delay_row = delay_button = ""
    if any(c.delay for c in controls.programs):
        off = "" if chosen.delay else " hidden"
        disabled = "" if chosen.delay else " disabled"
        delay_row = (
            f'<div class="row" id="start-delay-row"{off}><label for="start-delay">Start in (minutes)</label>'
            f'<input type="number" name="delay_minutes" id="start-delay" min="0" max="1440" step="1" inputmode="numeric"{disabled}></div>'
        )
        delay_button = f'<button type="submit" name="action" value="start_delayed" id="start-delayed-button"{why}{off}>Start with delay</button>'
    inner = (
        f'<p class="note" id="program-now">{now}</p>'
        '<div class="row"><label for="program-select">Program</label>'
        f'<select name="program" id="program-select">{"".join(options)}</select></div>'
        f"{fieldsets}"
        f"{delay_row}"
        '<div class="buttons">'
        '<button type="submit" name="action" value="select" id="select-button" class="secondary">Select</button>'
        f'<button type="submit" name="action" value="start" id="start-button" data-startable="{str(startable).lower()}"{why}>Start now</button>'
        f"{delay_button}"
        "</div>"
        '<output class="reply" id="program-reply" aria-live="polite"></output>'
    )
    return _form(action, token, "program-form", inner)


def run_form(controls: Controls, action: str, token: str) -> str:
    if not controls.commands:
        return ""
    buttons = []
    for verb, label in (("pause", "Pause"), ("resume", "Resume"), ("abort", "Abort")):
        if verb in controls.commands:
            usable = str(controls.commands[verb]).lower()
            buttons.append(f'<button type="submit" name="action" value="{verb}" id="{verb}-button" data-usable="{usable}">{label}</button>')
    inner = f'<div class="buttons">{"".join(buttons)}</div><output class="reply" id="run-reply" aria-live="polite"></output>'
    return _form(action, token, "run-form", inner)


def setting_forms(controls: Controls, action: str, token: str) -> str:
    if not controls.settings:
        return ""
    forms = []
    for field in controls.settings:
        key = field.name.lower().replace(".", "_")
        note = "" if field.usable else ' <small class="note">(read-only now)</small>'
        inner = (
            '<input type="hidden" name="action" value="set">'
            f'<input type="hidden" name="name" value="{esc(field.name)}">'
            f'<label for="setting-value-{esc(key)}" title="{esc(field.name)}">{esc(field.short)}{note}</label>'
            f"{field_input(field, 'value', 'setting-value-' + key)}"
            f'<button type="submit" id="setting-button-{esc(key)}">Set</button>'
            f'<output class="reply" id="setting-reply-{esc(key)}" aria-live="polite"></output>'
        )
        forms.append(_form(action, token, f"setting-{key}", inner, f' data-setting="{esc(field.name)}"'))
    return (
        f'<details class="settings" id="settings"><summary>Settings ({len(forms)})</summary>'
        f'<div class="settings">{"".join(forms)}</div></details>'
    )


def raw_form(action: str, token: str) -> str:
    topics = "".join(f'<option value="{t}">{t}</option>' for t in CommandTopic)
    inner = (
        '<div class="row"><label for="raw-topic">Topic</label>'
        f'<select name="topic" id="raw-topic">{topics}</select></div>'
        '<div class="row"><label for="raw-payload">Payload (JSON)</label>'
        '<textarea name="payload" id="raw-payload" rows="3" spellcheck="false">'
        '{"name": "BSH.Common.Setting.PowerState", "value": "On"}</textarea></div>'
        '<div class="buttons"><button type="submit" id="raw-button">Send</button></div>'
        '<output class="reply" id="raw-reply" aria-live="polite"></output>'
    )
    return (
        '<details class="raw" id="raw"><summary>Raw command (as published on T/set, T/selectedProgram, T/activeProgram)</summary>'
        f"{_form(action, token, 'raw-form', inner)}</details>"
    )


def control_panel(name: str, controls: Controls, token: str, online: bool) -> str:
    """The whole controls section of an appliance's page (also served alone, for the script to refresh)."""
    action = appliance_url(name, "/command")
    offline = "" if online else '<p class="note warn">The appliance is not connected: commands are refused until it is.</p>'
    return (
        f'<section class="card" id="controls" data-online="{str(online).lower()}"><h2>Controls</h2>{offline}'
        f"{program_form(controls, action, token)}"
        f"{run_form(controls, action, token)}"
        f"{setting_forms(controls, action, token)}"
        f"{raw_form(action, token)}"
        "</section>"
    )
