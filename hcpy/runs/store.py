"""Where one appliance's runs are kept: beside devices.json, in runs/.

- ``<name>.json``: the run under way, the last finished run and the totals,
  rewritten atomically (temporary file + rename, mode 0600) at every change,
  so that a restart of hc2mqtt goes on where it stopped;
- ``<name>.jsonl``: the history, one finished run per line (JSON Lines),
  rotated: past `max_bytes` it becomes ``<name>.jsonl.1`` (the older ones
  ``.2``, ``.3``; `keep` of them are kept).

`<name>` is the appliance's name as topics carry it, with anything but
letters, digits, ``.``, ``_`` and ``-`` replaced by ``_``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..files import write_private
from .record import ActiveRun, RunRecord, Totals

HISTORY_BYTES = 1_000_000
HISTORY_KEEP = 3
VERSION = 1


def file_stem(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "appliance"
    return "_" + stem if stem.startswith(".") else stem


@dataclass
class Stored:
    active: ActiveRun | None = None
    last: RunRecord | None = None
    totals: Totals = field(default_factory=Totals)
    problems: list[str] = field(default_factory=list)


class RunStore:
    def __init__(self, directory: Path, name: str, max_bytes: int = HISTORY_BYTES, keep: int = HISTORY_KEEP):
        self.directory = Path(directory)
        stem = file_stem(name)
        self.state_path = self.directory / f"{stem}.json"
        self.history_path = self.directory / f"{stem}.jsonl"
        self.max_bytes = max_bytes
        self.keep = keep

    def load(self) -> Stored:
        """What was kept; a part that cannot be read is left out, and `problems` says so."""
        stored = Stored()
        try:
            text = self.state_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return stored
        except OSError as exc:
            stored.problems.append(f"cannot read {self.state_path} ({exc.strerror or exc}); starting without it")
            return stored
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            stored.problems.append(f"{self.state_path} is no JSON object ({exc}); starting without it")
            return stored
        for key, reader in (("active", ActiveRun.from_json), ("last", RunRecord.from_json), ("totals", Totals.from_json)):
            if data.get(key) is None:
                continue
            try:
                setattr(stored, key, reader(data[key]))
            except (ValueError, TypeError) as exc:
                stored.problems.append(f"{self.state_path}: {key} cannot be read ({exc}); left out")
        return stored

    def save(self, active: ActiveRun | None, last: RunRecord | None, totals: Totals) -> None:
        self.write(self.text(active, last, totals))

    @staticmethod
    def text(active: ActiveRun | None, last: RunRecord | None, totals: Totals) -> str:
        """The state file's contents."""
        data: dict[str, Any] = {
            "version": VERSION,
            "active": active.to_json() if active is not None else None,
            "last": last.to_json() if last is not None else None,
            "totals": totals.to_json(),
        }
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    def write(self, text: str) -> None:
        """Replace the state file with `text`, atomically, readable by its owner only."""
        self._directory()
        write_private(self.state_path, text)

    def append(self, record: RunRecord) -> None:
        """Add a finished run to the history, rotating it first when it has grown too long."""
        line = (json.dumps(record.to_json(), ensure_ascii=False) + "\n").encode("utf-8")
        self._directory()
        try:
            size = self.history_path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size and size + len(line) > self.max_bytes:
            self._rotate()
        fd = os.open(self.history_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def history(self) -> list[dict[str, Any]]:
        """The current history file's records (the rotated ones left aside)."""
        try:
            lines = self.history_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def _rotate(self) -> None:
        oldest = self.history_path.with_name(f"{self.history_path.name}.{self.keep}")
        oldest.unlink(missing_ok=True)
        for n in range(self.keep - 1, 0, -1):
            older = self.history_path.with_name(f"{self.history_path.name}.{n}")
            if older.exists():
                os.replace(older, self.history_path.with_name(f"{self.history_path.name}.{n + 1}"))
        if self.keep > 0:
            os.replace(self.history_path, self.history_path.with_name(f"{self.history_path.name}.1"))
        else:
            self.history_path.unlink(missing_ok=True)

    def _directory(self) -> None:
        # Beside devices.json, which holds keys: only its owner reads it.
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
