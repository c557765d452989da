"""What a simulated appliance tells its clients, and what it answers a write."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Changes:
    """Value and description changes, wire-ready, for every client."""

    values: list[dict[str, Any]] = field(default_factory=list)
    descriptions: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.values or self.descriptions)

    def __iadd__(self, other: Changes) -> Changes:
        self.values += other.values
        self.descriptions += other.descriptions
        return self


@dataclass
class Result:
    """What the appliance made of a write: ``code`` None means accepted."""

    code: int | None = None
    changes: Changes = field(default_factory=Changes)
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.code is None


class Refused(Exception):
    """A write the appliance answers with an error code."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason
