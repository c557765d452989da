"""One connection's conversation, appliance side (PROTOCOL.md §2–§4).

No I/O, and used by one thread only (its connection's). `Dialogue` turns
each message a client sends into the replies for that client and the
notifications for every client. It is lenient like an appliance (it answers
what it can) but writes down every way the client strays from the protocol
in `violations`, for tests to inspect.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..encoding import b64url
from ..protocol.message import Action, Message
from ..protocol.resources import (
    CI_AUTHENTICATION,
    CI_INFO,
    CI_SERVICES,
    EI_DEVICE_READY,
    EI_INITIAL_VALUES,
    IZ_INFO,
    NI_INFO,
    RO_ACTIVE_PROGRAM,
    RO_ALL_DESCRIPTION_CHANGES,
    RO_ALL_MANDATORY_VALUES,
    RO_DESCRIPTION_CHANGE,
    RO_SELECTED_PROGRAM,
    RO_VALUES,
)
from .appliance import BAD_REQUEST, FORBIDDEN, NOT_FOUND, SimulatedAppliance
from .changes import Changes, Result


@dataclass
class Outcome:
    replies: list[Message] = field(default_factory=list)  # to the client that asked, in order
    notifications: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)  # (resource, data) to all
    reason: str = ""  # why a request was refused, for the log


class Dialogue:
    def __init__(self, app: SimulatedAppliance, rng: random.Random | None = None):
        rng = rng or random.SystemRandom()
        self.app = app
        self.sid = rng.randint(1 << 28, (1 << 32) - 1)
        self.ed_msg_id = rng.randint(1 << 28, 1 << 30)
        self._own_msg_id = rng.randint(1 << 28, 1 << 30)
        self._expected_msg_id = self.ed_msg_id
        self._greeting: Message | None = None
        self.services_answered = False
        self.ready = False
        self.device_answer: dict[str, Any] | None = None
        self.violations: list[str] = []
        self._routes: dict[tuple[Action, str], Callable[[Message], Outcome]] = {
            (Action.GET, CI_SERVICES): self._services,
            (Action.GET, IZ_INFO): self._info,
            (Action.GET, CI_INFO): self._info,
            (Action.GET, CI_AUTHENTICATION): self._authentication,
            (Action.GET, NI_INFO): self._network,
            (Action.GET, RO_ALL_MANDATORY_VALUES): lambda m: _ok(m, app.mandatory_values()),
            (Action.GET, RO_ALL_DESCRIPTION_CHANGES): lambda m: _ok(m, app.description_changes()),
            # Real appliances refuse a plain read of all values.
            (Action.GET, RO_VALUES): lambda m: Outcome([m.reply(code=BAD_REQUEST)], reason="GET /ro/values"),
            (Action.POST, RO_VALUES): lambda m: self._write(m, app.write_values(m.data or [])),
            (Action.POST, RO_SELECTED_PROGRAM): lambda m: self._write(m, app.start_program(m.resource, m.data or [])),
            (Action.POST, RO_ACTIVE_PROGRAM): lambda m: self._write(m, app.start_program(m.resource, m.data or [])),
        }

    # --- the appliance speaks first --------------------------------------

    def greeting(self) -> Message:
        """POST /ei/initialValues, the first message of every session."""
        self._greeting = self.message(
            EI_INITIAL_VALUES,
            [{"edMsgID": self.ed_msg_id}],
            Action.POST,
            version=self.app.initial_values_version,
        )
        return self._greeting

    def message(self, resource: str, data: list[dict[str, Any]] | None, action: Action = Action.NOTIFY, version: int | None = None) -> Message:
        """A message of the appliance's own, numbered from its own counter."""
        if version is None:
            version = self.app.service_version(resource.strip("/").split("/", 1)[0]) or 1
        self._own_msg_id += 1
        return Message(self.sid, self._own_msg_id, resource, version, action, data)

    # --- the client speaks ----------------------------------------------

    def handle(self, msg: Message) -> Outcome:
        self.check(msg)
        if msg.action is Action.RESPONSE:
            self._on_response(msg)
            return Outcome()
        if msg.action is Action.NOTIFY:
            if msg.resource == EI_DEVICE_READY:
                self.ready = True
            return Outcome()
        route = self._routes.get((msg.action, msg.resource))
        if route is None or self.app.service_version(msg.service) is None:
            return Outcome([msg.reply(code=NOT_FOUND)], reason=f"no {msg.action.value} {msg.resource}")
        return route(msg)

    def check(self, msg: Message) -> None:
        """Note how ``msg`` strays from the session's ids and versions (handle() does this too)."""
        if msg.sID != self.sid:
            self.violations.append(f"{msg.action.value} {msg.resource} carried sID {msg.sID}, the session's is {self.sid}")
        if msg.action is Action.RESPONSE:
            return
        if msg.msgID != self._expected_msg_id:
            self.violations.append(
                f"{msg.action.value} {msg.resource} carried msgID {msg.msgID}, expected {self._expected_msg_id}"
            )
        # Follow the client's count from here, so one slip is reported once.
        self._expected_msg_id = msg.msgID + 1
        expected_version = 1
        if self.services_answered and msg.resource != CI_SERVICES:
            expected_version = self.app.service_version(msg.service) or 1
        if msg.version != expected_version:
            self.violations.append(f"{msg.action.value} {msg.resource} carried version {msg.version}, expected {expected_version}")

    def _on_response(self, msg: Message) -> None:
        greeting = self._greeting
        if greeting is None or msg.resource != EI_INITIAL_VALUES:
            self.violations.append(f"unexpected RESPONSE to {msg.resource}")
            return
        if msg.msgID != greeting.msgID:
            self.violations.append(f"RESPONSE to {EI_INITIAL_VALUES} carried msgID {msg.msgID}, expected {greeting.msgID}")
        answer = (msg.data or [{}])[0]
        self.device_answer = answer
        expected = 2 if greeting.version == 1 else "Application"
        device_type = answer.get("deviceType")
        if device_type != expected or isinstance(device_type, bool):
            self.violations.append(
                f"answered {EI_INITIAL_VALUES} version {greeting.version} with deviceType {device_type!r}, expected {expected!r}"
            )

    # --- routes -----------------------------------------------------------

    def _services(self, msg: Message) -> Outcome:
        self.services_answered = True
        return _ok(msg, [dict(s) for s in self.app.services])

    def _info(self, msg: Message) -> Outcome:
        return _ok(msg, [dict(self.app.info)])

    def _authentication(self, msg: Message) -> Outcome:
        if self.app.service_version("iz") is not None:
            # Appliances with iz do not know it; clients that ask anyway get a harmless 404.
            return Outcome([msg.reply(code=NOT_FOUND)], reason="/ci/authentication on an iz appliance")
        nonce = (msg.data or [{}])[0].get("nonce")
        if not isinstance(nonce, str) or not nonce:
            return Outcome([msg.reply(code=BAD_REQUEST)], reason="/ci/authentication without a nonce")
        response = b64url(os.urandom(32))
        return _ok(msg, [{"response": response}])

    def _network(self, msg: Message) -> Outcome:
        if not self.ready:
            return Outcome([msg.reply(code=FORBIDDEN)], reason="/ni/info before /ei/deviceReady")
        return _ok(msg, [dict(self.app.network)])

    def _write(self, msg: Message, result: Result) -> Outcome:
        if not result.ok:
            return Outcome([msg.reply(code=result.code)], reason=result.reason)
        return Outcome([msg.reply()], notifications(result.changes))


def notifications(changes: Changes) -> list[tuple[str, list[dict[str, Any]]]]:
    """The NOTIFYs that tell clients of `changes`: descriptions first, so that a value
    arrives with the access and limits it now has."""
    out = []
    if changes.descriptions:
        out.append((RO_DESCRIPTION_CHANGE, changes.descriptions))
    if changes.values:
        out.append((RO_VALUES, changes.values))
    return out


def _ok(msg: Message, data: list[dict[str, Any]]) -> Outcome:
    return Outcome([msg.reply(data)])
