"""The answers the console's commands wait for: a bridge listener that hands each to its waiter.

A command posted from a page gets a transaction of its own
(`new_transaction`); its request thread waits on `Answers.expect(...)` while
the bridge answers it on T/response and tells its listeners (`answered`,
on the bridge's thread: a dict lookup and an Event, never a wait).
"""

from __future__ import annotations

import secrets
import threading
from typing import Any

from ..appliance.state import Change

PREFIX = "console-"


def new_transaction() -> str:
    return PREFIX + secrets.token_hex(8)


class Pending:
    """One command's answer to come."""

    def __init__(self, appliance: str, transaction: str):
        self.appliance = appliance
        self.transaction = transaction
        self.answer: dict[str, Any] | None = None
        self._done = threading.Event()

    def wait(self, timeout: float) -> dict[str, Any] | None:
        """The answer hcpy published, or None when none came within `timeout` seconds."""
        self._done.wait(timeout)
        return self.answer

    def _set(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self._done.set()


class Answers:
    """Registered with the bridge (`Bridge.add_listener`); only `answered` matters to it."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str], Pending] = {}
        self._lock = threading.Lock()
        # Each appliance's last answer on T/response (the console's or any MQTT
        # client's): what a page drawn now shows before live answers come.
        self.last: dict[str, dict[str, Any]] = {}

    def expect(self, appliance: str, transaction: str) -> Pending:
        """Wait for this answer; register before submitting, since a refusal is answered at once."""
        pending = Pending(appliance, transaction)
        with self._lock:
            self._pending[(appliance, transaction)] = pending
        return pending

    def forget(self, pending: Pending) -> None:
        with self._lock:
            self._pending.pop((pending.appliance, pending.transaction), None)

    # -- the bridge's listener ---------------------------------------------------------

    def answered(self, appliance: Any, response: dict[str, Any]) -> None:
        if isinstance(response, dict):
            self.last[appliance.name] = response
        transaction = response.get("transaction") if isinstance(response, dict) else None
        if not isinstance(transaction, str) or not transaction.startswith(PREFIX):
            return
        with self._lock:
            pending = self._pending.pop((appliance.name, transaction), None)
        if pending is not None:
            pending._set(response)

    def values_changed(self, appliance: Any, changes: list[Change]) -> None:
        pass

    def connection_changed(self, appliance: Any) -> None:
        pass
