"""Times as text: how hcpy writes a Unix time wherever a person or another program reads it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def iso(unix: float, timespec: str = "seconds") -> str: ...
@overload
def iso(unix: None, timespec: str = "seconds") -> None: ...
@overload
def iso(unix: float | None, timespec: str = "seconds") -> str | None: ...
def iso(unix: float | None, timespec: str = "seconds") -> str | None:
    """A Unix time as ISO 8601 in UTC ("2024-05-01T12:00:00+00:00"); None stays None.

    `timespec` as datetime.isoformat takes it: "seconds", or "milliseconds"
    where messages a fraction of a second apart must stay apart (the journal).
    """
    if unix is None:
        return None
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec=timespec)
