"""A command from MQTT as one value, and the answer built from it in one place.

What arrives on `T/set`, `T/activeProgram` or `T/selectedProgram` becomes a
`Command`: the topic it came on, the request as the user wrote it (echoed in
the answer), the optional "transaction" to echo, and, once resolved against
the appliance's live state, the request for the appliance. Whatever happens
to it after that is an `Outcome`, and `response()` turns the two into the
`T/response` payload (DESIGN.md, MQTT interface). Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from ..appliance.commands import CommandError, Request, build_set
from ..appliance.programs import build_program
from ..appliance.state import ApplianceState
from ..errors import ApplianceError, RequestTimeout
from ..protocol.resources import RO_ACTIVE_PROGRAM, RO_SELECTED_PROGRAM
from .screening import DEFAULT_LIMITS, ScreenLimits, screen_payload
from .topics import CommandTopic

# An answer echoes the request as read while its payload is this short;
# a longer one, or one that could not be read, is echoed as the start of its
# text (ECHO_LIMIT characters): answers stay small whatever was sent.
ECHO_REQUEST = 1024
ECHO_LIMIT = 200
# The appliance resource a program topic posts to.
_PROGRAM_RESOURCES = {
    CommandTopic.ACTIVE_PROGRAM: RO_ACTIVE_PROGRAM,
    CommandTopic.SELECTED_PROGRAM: RO_SELECTED_PROGRAM,
}


@dataclass(frozen=True)
class Command:
    topic: CommandTopic
    request: Any  # as published, without "transaction"; the text if it is no JSON
    transaction: Any = None
    writes: Request | None = None  # what goes to the appliance, once resolved
    problem: CommandError | None = None  # why it cannot even be read
    echo: str | None = None  # what the answer quotes instead of a long request

    @classmethod
    def received(cls, topic: CommandTopic, payload: bytes, limits: ScreenLimits = DEFAULT_LIMITS) -> Command:
        """Screen and read a payload; never raises (a refused one carries its `problem`)."""
        try:
            body = screen_payload(payload, limits)
        except CommandError as exc:
            return cls(topic, _text(payload), _transaction_in(payload), problem=exc)
        request, transaction = _split_transaction(body)
        if len(payload) > ECHO_REQUEST:
            # Read in full, echoed in part.
            return cls(topic, request, _short(transaction), echo=_text(payload))
        return cls(topic, request, transaction)

    @classmethod
    def retained(cls, topic: CommandTopic, payload: bytes) -> Command:
        """A command that arrived with the retain flag: it is only echoed, never
        read, but its transaction goes back so that the requester can match the refusal."""
        return cls(topic, _text(payload), _transaction_in(payload))

    def resolve(self, state: ApplianceState) -> Command:
        """This command with the request for the appliance; raises CommandError."""
        if self.problem is not None:
            raise self.problem
        if self.topic is CommandTopic.SET:
            writes = build_set(state, self.request)
        else:
            writes = build_program(state, self.request, _PROGRAM_RESOURCES[self.topic])
        return replace(self, writes=writes)


@dataclass(frozen=True)
class Outcome:
    """What became of a command: accepted, or refused with a sentence and a code."""

    error: str | None = None  # None: accepted
    code: int | None = None
    name: str | None = None  # the appliance's own name for its error code

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def by_appliance(self) -> bool:
        """The appliance itself refused (rather than hcpy, or the way to it)."""
        return self.name is not None


ACCEPTED = Outcome()


def refused(sentence: str, code: int) -> Outcome:
    return Outcome(sentence, code)


def outcome_of(appliance: str, error: Exception | None) -> Outcome:
    """What the appliance's answer (or its absence) means for a command that was sent."""
    if error is None:
        return ACCEPTED
    if isinstance(error, ApplianceError):
        return Outcome(f"{appliance} refused the command: {error.code} {error.name}", error.code, error.name)
    if isinstance(error, RequestTimeout):
        return refused(f"{appliance} did not answer the command in time", 504)
    return refused(f"{appliance}: the command was lost: {error}", 503)


def response(command: Command, outcome: Outcome) -> str:
    """The `T/response` payload: the request echoed, the status, and why when refused."""
    answer: dict[str, Any] = {
        "command": str(command.topic),
        "request": command.request if command.echo is None else command.echo,
        "status": "ok" if outcome.ok else "error",
    }
    if outcome.error is not None:
        answer["error"] = outcome.error
    if outcome.code is not None:
        answer["code"] = outcome.code
    if outcome.name is not None:
        answer["name"] = outcome.name
    if command.transaction is not None:
        answer["transaction"] = command.transaction
    return json.dumps(answer, ensure_ascii=False)


def _split_transaction(body: Any) -> tuple[Any, Any]:
    """Take the optional "transaction" out of a command, to echo it back."""
    if isinstance(body, dict) and "transaction" in body:
        body = dict(body)
        return body, body.pop("transaction")
    if isinstance(body, list):
        for item in body:
            if isinstance(item, dict) and "transaction" in item:
                items = [{k: v for k, v in i.items() if k != "transaction"} if isinstance(i, dict) else i for i in body]
                return items, item["transaction"]
    return body, None


def _text(payload: bytes) -> str:
    text = payload[: ECHO_LIMIT * 4].decode("utf-8", "replace")
    return text if len(text) <= ECHO_LIMIT and len(payload) <= ECHO_LIMIT * 4 else text[:ECHO_LIMIT] + "…"


# A transaction as it reads in a payload that could not be read as a whole.
_TRANSACTION = re.compile(rb'"transaction"\s*:\s*("(?:[^"\\]|\\.){0,200}"|-?[0-9]{1,20}\b)')


def _transaction_in(payload: bytes) -> Any:
    """The transaction of a refused payload, when its text shows a plain one: the
    requester can still match the answer."""
    found = _TRANSACTION.search(payload[: 64 * 1024])
    if found is None:
        return None
    try:
        transaction = json.loads(found.group(1))
        if isinstance(transaction, str):
            transaction.encode("utf-8")  # no unpaired surrogate goes back out
    except (ValueError, UnicodeError):
        return None
    return transaction


def _short(transaction: Any) -> Any:
    """The transaction to echo: as given, unless it is itself long."""
    shown = json.dumps(transaction, ensure_ascii=False)
    return transaction if len(shown) <= ECHO_LIMIT else shown[:ECHO_LIMIT] + "…"
