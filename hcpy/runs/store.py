"""Where one appliance's runs are kept: beside devices.json, in runs/.

- ``<name>.json``: the run under way, the last finished run and the totals,
  rewritten atomically (temporary file + rename, mode 0600) at every change,
  so that a restart of hc2mqtt goes on where it stopped;
- ``<name>.jsonl``: the history, one finished run per line (JSON Lines),
  rotated: past `max_bytes` it becomes ``<name>.jsonl.1`` (the older ones
  ``.2``, ``.3``; `keep` of them are kept).

`<name>` is the appliance's name as topics carry it, with anything but
letters, digits, ``.``, ``_`` and ``-`` replaced by ``_``.

What a Raspberry Pi meets is planned for: a full disk or a kill can cut the
history's last line, so an append that wrote less than the whole line is an
error (`ShortWrite`) and takes its fragment back, the next append starts on
a new line, and `history()` skips a line that is no whole record. A kill
between adding a finished run to the history and rewriting the state file
leaves that run in both: `load` finds it as the history's last record and
hands it over as `Stored.recorded`, so that it is not recorded a second
time. Temporary files a killed write left are removed when the store is
made.
"""

from __future__ import annotations

import errno
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..files import remove_stale_temporaries, write_private
from ..times import iso
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
    # The run the state file still calls under way, found already in the
    # history: hc2mqtt stopped between the two writes. It is the last run,
    # and not yet in `totals`.
    recorded: RunRecord | None = None


class ShortWrite(OSError):
    """Fewer bytes reached the history than its line has (a full disk, a file size limit)."""


class RunStore:
    def __init__(self, directory: Path, name: str, max_bytes: int = HISTORY_BYTES, keep: int = HISTORY_KEEP):
        self.directory = Path(directory)
        stem = file_stem(name)
        self.state_path = self.directory / f"{stem}.json"
        self.history_path = self.directory / f"{stem}.jsonl"
        self.max_bytes = max_bytes
        self.keep = keep
        # Lines of the history file that were no whole record at its last reading.
        self.skipped = 0
        # A write killed between its temporary file and the rename left the
        # temporary file: nobody else will ever remove it. Only this store's
        # own, so that another appliance's write under way is left alone.
        remove_stale_temporaries(self.state_path)

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
        if stored.active is not None:
            stored.recorded = self._recorded(stored.active, stored.problems)
            if stored.recorded is not None:
                stored.active = None
        return stored

    def _recorded(self, active: ActiveRun, problems: list[str]) -> RunRecord | None:
        """`active`'s record when it is the history's last one (appended, then hc2mqtt stopped)."""
        try:
            last = self.last_record()
        except OSError as exc:
            problems.append(f"cannot read {self.history_path} ({exc.strerror or exc}); the run under way is taken as not recorded")
            return None
        if last is None:
            return None
        if (last.get("appliance"), last.get("program"), last.get("start")) != (active.appliance, active.program, iso(active.started_at)):
            return None
        try:
            return RunRecord.from_json(last)
        except (ValueError, TypeError) as exc:
            problems.append(f"{self.history_path}: the last run cannot be read ({exc})")
            return None

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
        """Add a finished run to the history, rotating it first when it has grown too long.

        All of the line or nothing: a write that stops short (a full disk, a
        file size limit) is taken back and its error raised (an OSError).
        """
        line = (json.dumps(record.to_json(), ensure_ascii=False) + "\n").encode("utf-8")
        self._directory()
        try:
            size = self.history_path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size and size + len(line) > self.max_bytes:
            self._rotate()
            size = 0
        fd = os.open(self.history_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                # The last line was cut (a kill, or a fragment not taken back):
                # this record starts a line of its own; history() skips the fragment.
                line = b"\n" + line
            self._write_all(fd, line, size)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _write_all(self, fd: int, line: bytes, size: int) -> None:
        """All of `line`, or the file cut back to `size` and the error raised.

        A full disk (or a file size limit) first cuts a write short, without
        an error; writing the rest then says why (ENOSPC, EFBIG, EDQUOT).
        """
        done = 0
        try:
            while done < len(line):
                written = os.write(fd, line[done:])
                if written <= 0:
                    raise ShortWrite(errno.EIO, f"only {done} of {len(line)} bytes could be written", str(self.history_path))
                done += written
        except OSError as exc:
            self._take_back(fd, size)
            if exc.filename is None:
                exc.filename = str(self.history_path)
            raise

    @staticmethod
    def _take_back(fd: int, size: int) -> None:
        """Cut the file back to `size`: a fragment must not stay for the next line to follow."""
        try:
            os.ftruncate(fd, size)
        except OSError:
            pass  # the next append starts on a new line all the same, and readers skip the fragment

    def history(self) -> list[dict[str, Any]]:
        """The current history file's records (the rotated ones left aside).

        A line that is no whole record (cut by a full disk or a kill) is
        skipped, and counted in `skipped`: every intact run stays readable.
        A file in which no line is a record is no history: ValueError says so.
        """
        try:
            data = self.history_path.read_bytes()
        except FileNotFoundError:
            self.skipped = 0
            return []
        records, skipped = [], 0
        for line in data.split(b"\n"):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:  # UnicodeDecodeError is one
                skipped += 1
                continue
            if isinstance(record, dict):
                records.append(record)
            else:
                skipped += 1
        self.skipped = skipped
        if skipped and not records:
            raise ValueError(f"none of its {skipped} line{'s' * (skipped != 1)} is a run record")
        return records

    def last_record(self) -> dict[str, Any] | None:
        """The history's last whole record (reading only the file's end)."""
        try:
            with self.history_path.open("rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(0, size - 64 * 1024))
                tail = handle.read()
        except FileNotFoundError:
            return None
        for line in reversed(tail.split(b"\n")):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a cut last line: the record before it is the last whole one
            return record if isinstance(record, dict) else None
        return None

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
