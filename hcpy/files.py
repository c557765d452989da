"""Writing files that hold secrets: owner-only, atomic, durable."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: str | Path, text: str | bytes) -> None:
    """Write `text` (or bytes) to `path` with mode 0600, never leaving a half-written file.

    A temporary file in the same directory is written, flushed to disk and
    renamed over `path`; then the directory is synced so the rename survives
    a crash too.
    """
    import tempfile  # here: with shutil, bz2 and lzma behind it, a megabyte a daemon that writes nothing never needs

    path = Path(path)
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        # mkstemp already creates 0600; fchmod states it whatever the platform does.
        os.fchmod(fd, 0o600)
        binary = isinstance(text, bytes)
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove the temporary files `write_private` left beside `path` when it was killed mid-write.

    Call it before writing `path` (at start): a write under way for `path`
    would lose its temporary file. Only `path`'s own are matched (mkstemp's
    eight random characters between its name and ``.tmp``), never another
    file's. What could not be removed is left; the removed ones are returned.
    """
    import re

    path = Path(path)
    own = re.compile(rf"\.{re.escape(path.name)}\.[A-Za-z0-9_]{{8}}\.tmp")
    removed = []
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    for name in names:
        if own.fullmatch(name):
            try:
                os.unlink(path.parent / name)
            except OSError:
                continue
            removed.append(path.parent / name)
    return removed
