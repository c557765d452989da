"""config.ini as hcpy2-0 writes it (configobj, Python literals, no sections), read with care.

A key hcpy does not know is not dropped in silence: it is named, with the
closest key hcpy knows ("mqtt_hots: did you mean mqtt_host?"), since a typo
there would otherwise leave a default in force unnoticed. Pure apart from
reading the file.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import configobj

EXAMPLE = "config/config.ini.example"


class ConfigFileMissing(FileNotFoundError):
    def __init__(self, path: str):
        super().__init__(f"{path} does not exist: copy {EXAMPLE} to it and edit it, or leave --config out")


def read_config(path: str | Path, known: Iterable[str]) -> tuple[dict[str, Any], list[str]]:
    """The file's settings, and a sentence for each key that is no option."""
    if not Path(path).is_file():
        raise ConfigFileMissing(str(path))
    values = dict(configobj.ConfigObj(str(path), unrepr=True, file_error=True))
    known = sorted(set(known))
    problems = []
    for key in values:
        if key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else "; hc2mqtt --help lists the settings"
        problems.append(f"{path}: ignored the unknown setting {key!r}{hint}")
    return values, problems
