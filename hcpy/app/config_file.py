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
there would otherwise leave a default in force unnoticed. Pure apart from
reading the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

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

        values, problems = dict(configobj.ConfigObj(str(path), unrepr=True, file_error=True)), []
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
    level = document.get("LOGLEVEL")
    if isinstance(level, str) and level.upper() == "DEBUG":
        values.setdefault("debug", True)
    unused = sorted(k for k in document if k in JSON_ONLY_KEYS and k != "LOGLEVEL")
    problems = [f"{path}: {', '.join(unused)} not used by hc2mqtt (homeconnect-hcpy's own settings)"] if unused else []
    return values, problems
