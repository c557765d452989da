"""Answers on T/response, matched to the command that asked by its "transaction".

Every command the soak publishes carries a transaction of its own, and the
bridge's answer carries it back (hcpy.mqtt.command: `Command.transaction`,
also read from the text of a payload it refused). An answer is counted for
the command whose transaction it carries, on the appliance it was sent to;
nothing is counted per appliance. An answer whose "transaction" field is
missing but whose echoed request (the payload's text, for a command the
bridge did not read: a retained one) shows the transaction is matched by
that, and counted apart (`by_echo`).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

_ECHOED = re.compile(r'"transaction"\s*:\s*"([A-Za-z0-9-]{1,40})"')


@dataclass
class Sent:
    kind: str
    topic_base: str  # the appliance's T
    answer: dict[str, Any] | None = None
    answers: int = 0  # more than one: the bridge answered twice


@dataclass
class Answers:
    sent: dict[str, Sent] = field(default_factory=dict)  # transaction -> the command
    total: int = 0
    foreign: int = 0  # a transaction no command of ours carried
    wrong_appliance: int = 0  # ours, on another appliance's T/response
    by_echo: int = 0  # matched by the transaction in the echoed request text
    without: list[str] = field(default_factory=list)  # answers without a transaction (first 200 characters)
    unreadable: int = 0  # no JSON object
    code_500: int = 0
    longest: int = 0
    longest_excerpt: str = ""
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def expect(self, transaction: str, kind: str, topic_base: str) -> None:
        with self._cond:
            self.sent[transaction] = Sent(kind, topic_base)

    def add(self, topic: str, payload: bytes) -> None:
        try:
            answer = json.loads(payload)
        except (ValueError, UnicodeDecodeError, RecursionError):
            answer = None
        with self._cond:
            self.total += 1
            if len(payload) > self.longest:
                self.longest = len(payload)
                self.longest_excerpt = payload[:120].decode("utf-8", "replace")
            if not isinstance(answer, dict):
                self.unreadable += 1
                return
            if answer.get("code") == 500:
                self.code_500 += 1
            transaction = answer.get("transaction")
            if transaction is None and isinstance(answer.get("request"), str):
                echoed = _ECHOED.search(answer["request"])
                if echoed is not None:
                    transaction = echoed.group(1)
                    self.by_echo += 1
            if transaction is None:
                if len(self.without) < 1000:
                    self.without.append(payload[:200].decode("utf-8", "replace"))
                return
            sent = self.sent.get(transaction) if isinstance(transaction, str) else None
            if sent is None:
                self.foreign += 1
            elif topic != f"{sent.topic_base}/response":
                self.wrong_appliance += 1
            else:
                sent.answers += 1
                sent.answer = sent.answer or answer
            self._cond.notify_all()

    def wait(self, transaction: str, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                sent = self.sent.get(transaction)
                if sent is not None and sent.answer is not None:
                    return sent.answer
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(min(left, 0.5))

    def of_kind(self, prefix: str) -> list[Sent]:
        with self._cond:
            return [s for t, s in self.sent.items() if t.startswith(prefix)]

    def answered(self, prefix: str) -> int:
        return sum(1 for s in self.of_kind(prefix) if s.answer is not None)

    def by_kind(self, prefix: str) -> dict[str, Counter]:
        """kind -> Counter of "sent", "answered", "ok", codes."""
        table: dict[str, Counter] = {}
        for s in self.of_kind(prefix):
            row = table.setdefault(s.kind, Counter())
            row["sent"] += 1
            if s.answer is not None:
                row["answered"] += 1
                row["ok" if s.answer.get("status") == "ok" else f"code {s.answer.get('code')}"] += 1
        return table
