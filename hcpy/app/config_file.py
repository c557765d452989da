"""The settings file, read with care: hcpy2-0's config.ini, or homeconnect-hcpy's config.json.

config.ini as hcpy2-0 writes it: configobj, Python literals; hcpy adds
optional per-appliance sections (``[dishwasher]``), read like that
appliance's "hc2mqtt" block in devices.json.
config.json as homeconnect-hcpy writes it: one JSON object whose mqtt_*,
devices_file, domain_suffix and debug keys are hc2mqtt's own, null meaning
unset, and LOGLEVEL "DEBUG" meaning debug; its other keys (locale, tzinfo,
the cloud login's) serve that program only and are named as unused.

A key hcpy does not know is not dropped in silence: it is named, with the
closest key hcpy knows ("mqtt_hots: did you mean mqtt_host?"), since a typo
there would otherwise leave a default in force unnoticed.

A line configobj cannot read, and a value of the wrong kind, is said as the
file, the line, the setting and what to write there (`mqtt_host = localhost`
-> text values need quotes: mqtt_host = "localhost"), never as configobj's
"Parse error from unrepr-ing value". A value click would have taken anyway
(`mqtt_port = "1883"`, `ha_discovery = "yes"`, hcpy2-0 read them through
click) is taken, with a warning saying how to write it. A password's value
is never repeated. Pure apart from reading the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .settings import CHOICES, FLAGS, OPTION_DEFAULTS, OPTIONAL_TEXTS, POSITIVE_NUMBERS, RANGES, TEXTS, range_words

EXAMPLE = "config/config.ini.example"


class ConfigFileMissing(FileNotFoundError):
    def __init__(self, path: str):
        super().__init__(f"{path} does not exist: copy {EXAMPLE} to it and edit it, or leave --config out")


# homeconnect-hcpy's config.json keys that mean something only to that program.
JSON_ONLY_KEYS = frozenset({"locale", "tzinfo", "hc_username", "hc_password", "LOGLEVEL"})


class ConfigFileInvalid(ValueError):
    pass


def read_config(path: str | Path, known: Iterable[str]) -> tuple[dict[str, Any], list[str], dict[str, dict[str, Any]]]:
    """The file's settings, a sentence for each key that is no option, and the per-appliance sections.

    A section ``[dishwasher]`` holds what that appliance's "hc2mqtt" block in
    devices.json may (publishing options, meters); the block's own keys win.
    """
    if not Path(path).is_file():
        raise ConfigFileMissing(str(path))
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    known = sorted(set(known))
    if text.lstrip().startswith("{"):
        values, problems = _json_settings(path, text)
    else:
        import configobj  # here: a run without a config file never loads it

        try:
            values = dict(configobj.ConfigObj(str(path), unrepr=True, file_error=True))
        except configobj.ConfigObjError as exc:
            raise ConfigFileInvalid("\n".join(_parse_errors(path, text, exc))) from None
        values, problems = _checked_kinds(path, text, values)
    sections = {k: _plain(v) for k, v in values.items() if isinstance(v, dict)}
    values = {k: v for k, v in values.items() if k not in sections}
    for key in values:
        if key in known:
            continue
        import difflib  # here: only a typo needs it

        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else "; hc2mqtt --help lists the settings"
        problems.append(f"{path}: ignored the unknown setting {key!r}{hint}")
    return values, problems, sections


def _plain(section: Any) -> Any:
    """A configobj section as plain dicts (the form a devices.json block has)."""
    return {k: _plain(v) for k, v in section.items()} if isinstance(section, dict) else section


def _json_settings(path: str | Path, text: str) -> tuple[dict[str, Any], list[str]]:
    """homeconnect-hcpy's config.json as hc2mqtt settings."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        # The message and position only: the document may hold passwords.
        raise ConfigFileInvalid(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(document, dict):
        raise ConfigFileInvalid(f"{path}: must be one JSON object of settings")
    values = {k: v for k, v in document.items() if v is not None and k not in JSON_ONLY_KEYS}
    if "mqtt_protocol" in values:  # `"mqtt_protocol": 5` means "5", as config.ini's `mqtt_protocol = 5` does
        values["mqtt_protocol"] = str(values["mqtt_protocol"])
    level = document.get("LOGLEVEL")
    if isinstance(level, str) and level.upper() == "DEBUG":
        values.setdefault("debug", True)
    unused = sorted(k for k in document if k in JSON_ONLY_KEYS and k != "LOGLEVEL")
    problems = [f"{path}: {', '.join(unused)} not used by hc2mqtt (homeconnect-hcpy's own settings)"] if unused else []
    return values, problems


# -- config.ini lines hcpy cannot use, said with what to write ---------------------------------------

_SETTING = re.compile(r"^\s*([^=\s\[]+)\s*=\s*(.*?)\s*$")
_SECTION = re.compile(r"^\s*\[")
# Example values where the default makes a poor one.
_EXAMPLES = {"http_port": "8080", "mqtt_host": '"localhost"', "mqtt_username": '"hcpy"'}
_TRUE, _FALSE = ("true", "yes", "on", "1", "y", "t"), ("false", "no", "off", "0", "n", "f")
_LITERALS = 'values are Python literals: text in quotes ("…"), numbers without, True or False, None'


def _secret(name: str) -> bool:
    return "password" in name


def _line_of(text: str, name: str) -> int | None:
    """The line (from 1) that sets `name` before any [section]; None when none does."""
    for number, line in enumerate(text.splitlines(), 1):
        if _SECTION.match(line):
            return None
        match = _SETTING.match(line)
        if match and match.group(1) == name:
            return number
    return None


def _in_section(text: str, number: int) -> bool:
    return any(_SECTION.match(line) for line in text.splitlines()[: number - 1])


def _where(path: str | Path, number: int | None, name: str) -> str:
    return f"{path}, line {number} ({name})" if number else f"{path} ({name})"


def _bare(raw: str) -> str:
    """A value as written, without a trailing comment or stray quotes."""
    raw = re.split(r"\s+#", raw, maxsplit=1)[0].strip()
    return raw.strip("\"'")


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a Python string literal too


def _flag_example(raw: str) -> str:
    return "False" if raw.strip().lower() in _FALSE else "True"


def how_to_write(name: str, raw: str | None = None) -> str:
    """What a value of `name` looks like in config.ini: the kind in words, and `name = example`.

    `raw`: the value as the user wrote it, to base the example on (a
    password's is never used).
    """
    bare = _bare(raw) if raw is not None and not _secret(name) else None
    if name in FLAGS:
        return f"booleans are True or False, without quotes: {name} = {_flag_example(bare or '')}"
    if name in RANGES:
        example = bare if bare and bare.isdigit() else _EXAMPLES.get(name, str(OPTION_DEFAULTS[name]))
        return f"{name} is {range_words(name)}, without quotes: {name} = {example}"
    if name in POSITIVE_NUMBERS:
        example = bare if bare and _number(bare) is not None else f"{OPTION_DEFAULTS[name]:g}"
        return f"{name} is a number above 0, without quotes: {name} = {example}"
    if name in CHOICES:
        words = ", ".join(_quoted(choice) for choice in CHOICES[name])
        example = bare if bare in CHOICES[name] else str(OPTION_DEFAULTS[name])
        return f"{name} is one of {words}, in quotes: {name} = {_quoted(example)}"
    if name in TEXTS or name in OPTIONAL_TEXTS:
        if _secret(name):
            return f'text values need quotes: {name} = "…"'
        default = OPTION_DEFAULTS.get(name)
        example = _quoted(bare) if bare else _EXAMPLES.get(name, _quoted(str(default)) if default else '"…"')
        return f"text values need quotes: {name} = {example}"
    if name == "appliances":
        return f'a list of appliance names: {name} = ["dishwasher", "washer"]'
    return _LITERALS


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _parse_errors(path: str | Path, text: str, exc: Exception) -> list[str]:
    """One sentence per line configobj could not read (its own words are jargon: "unrepr-ing")."""
    import configobj  # loaded already: it raised `exc`

    sentences = []
    for error in getattr(exc, "errors", None) or [exc]:
        number = getattr(error, "line_number", None)
        line = str(getattr(error, "line", "") or "")
        match = _SETTING.match(line)
        where = f"{path}, line {number}" if number else str(path)
        if isinstance(error, configobj.DuplicateError) and match:
            sentences.append(f"{where}: {match.group(1)} is set a second time; keep one of the two lines")
        elif isinstance(error, configobj.UnreprError) and match:
            name, raw = match.groups()
            in_section = isinstance(number, int) and _in_section(text, number)
            shown = "its value" if _secret(name) else _bare(raw) or "its value"
            advice = _LITERALS if in_section else how_to_write(name, raw)
            # The value repeated only where it cannot be a secret (a typo'd password's name is no setting's).
            if not in_section and (name in FLAGS or name in RANGES or name in POSITIVE_NUMBERS or name in CHOICES):
                sentences.append(f"{where} ({name}): {shown} cannot be read; {advice}")
            else:
                sentences.append(f"{where} ({name}): {advice}")
        elif match is None and line.strip():
            # Not repeated: a line without "=" may be a password on its own line.
            sentences.append(f"{where}: neither a setting (name = value) nor a [section]; {_LITERALS}")
        else:
            sentences.append(f"{where}: cannot be read; {_LITERALS}")
    return sentences


def _checked_kinds(path: str | Path, text: str, values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`values` with what click would have taken turned into the right kind (a warning each, saying how to
    write it); ConfigFileInvalid naming every value of a kind no setting takes."""
    values = dict(values)
    problems: list[str] = []
    errors: list[str] = []
    for name, value in list(values.items()):
        if isinstance(value, dict):
            continue  # a per-appliance section: its settings are checked where they apply
        where = _where(path, _line_of(text, name), name)
        shown = "its value" if _secret(name) else repr(value)
        taken, ok = _as_kind(name, value)
        if ok and taken is value:
            continue
        if ok:
            values[name] = taken
            if name in CHOICES:
                continue  # `mqtt_protocol = 5`: as meant, and as hcpy2-0 took it
            as_what = "text" if isinstance(taken, str) else repr(taken)
            problems.append(f"{where}: {shown} is taken as {as_what}; {how_to_write(name, str(taken))}")
        else:
            errors.append(f"{where}: {shown} cannot be used; {how_to_write(name)}")
    if errors:
        raise ConfigFileInvalid("\n".join(errors))
    return values, problems


def _as_kind(name: str, value: Any) -> tuple[Any, bool]:
    """(value as `name` takes it, whether it can); the same object when it is of that kind already."""
    if name in FLAGS:
        if isinstance(value, bool):
            return value, True
        word = str(value).strip().lower() if isinstance(value, (str, int)) else None
        if word in _TRUE or word in _FALSE:
            return word in _TRUE, True
        return value, False
    if name in RANGES:
        if isinstance(value, int) and not isinstance(value, bool):
            low, high = RANGES[name]
            return value, low <= value <= high
        if isinstance(value, str) and value.strip().isdigit():
            return _as_kind(name, int(value.strip()))
        return value, False
    if name in POSITIVE_NUMBERS:
        number = _number(value) if isinstance(value, str) else value
        good = isinstance(number, (int, float)) and not isinstance(number, bool) and number > 0
        return (value if number is value else number), good
    if name in CHOICES:
        # `mqtt_protocol = 5` reads as meant: a number, said as text.
        text = str(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
        return (value if text == value else text), text in CHOICES[name]
    if name in TEXTS or name in OPTIONAL_TEXTS:
        if isinstance(value, str) or (value is None and name in OPTIONAL_TEXTS):
            return value, True
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value), True
        return value, False
    return value, True
