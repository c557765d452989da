"""Answers the simulator gets wrong on purpose, one resource at a time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..protocol.message import Message

# Turns the answer the simulator would give into the text it sends instead.
Mangle = Callable[[Message], str]


@dataclass
class Fault:
    """How to mistreat the next request for one resource.

    ``code``: answer with this error code instead. ``mangle``: answer with
    the text it makes of the right answer (a sloppy appliance's frame).
    Otherwise ``delay``: answer that many seconds late, or never when None.
    """

    code: int | None = None
    delay: float | None = None
    mangle: Mangle | None = None
    times: int = 1


class Faults:
    """Pending faults by resource; the first one queued is used up first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, list[Fault]] = {}

    def add(self, resource: str, fault: Fault) -> None:
        if fault.times < 1:
            raise ValueError("a fault must apply at least once")
        with self._lock:
            self._pending.setdefault(resource, []).append(fault)

    def take(self, resource: str) -> Fault | None:
        with self._lock:
            queue = self._pending.get(resource)
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times == 0:
                queue.pop(0)
            return fault
