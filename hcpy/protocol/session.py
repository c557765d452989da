"""A session with one appliance: handshake, requests and the receive loop.

PROTOCOL.md §2–§4. The session owns the ids (sID, msgID), the service
versions and the matching of responses to requests. It hands what the
appliance reports (values, description changes) to its listener and knows
nothing about profiles or MQTT.

Threads: one thread runs `connect()` and then `run()`, reading frames. Any
other thread may `submit()` a request and get its answer by callback (the
bridge does, so MQTT never waits on an appliance), or `request()` and wait
for it. A request made from the reading thread itself (the handshake) reads
frames until its answer arrives.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..encoding import b64url
from ..errors import (
    ApplianceError,
    ConnectionClosed,
    ProtocolError,
    RequestTimeout,
    error_code_name,
)
from ..logs import Throttle, excerpt
from .message import Action, Message
from .repair import close_brackets
from .resources import (
    CI_AUTHENTICATION,
    CI_INFO,
    CI_SERVICES,
    EI_DEVICE_READY,
    EI_INITIAL_VALUES,
    IZ_INFO,
    NI_INFO,
    RO_ALL_DESCRIPTION_CHANGES,
    RO_ALL_MANDATORY_VALUES,
    RO_DESCRIPTION_CHANGE,
    RO_VALUES,
)
from .transport import Transport

Values = list[dict[str, Any]]


# The actions an appliance reports changes with.
_REPORTS = (Action.NOTIFY, Action.POST)
# The largest message read from an appliance. The largest real ones are the
# description changes at connect (90 kB for the washer of the fixtures).
MAX_REPORT = 1 << 20
_RESOURCE = re.compile(r'"resource"\s*:\s*"([^"\\]{1,64})"')
_RESPONSE = re.compile(r'"action"\s*:\s*"RESPONSE"')
# How much of an unreadable answer's end its error quotes.
_TAIL = 60
_MSG_ID = re.compile(r'"msgID"\s*:\s*(\d{1,12})\b')
# allMandatoryValues may answer 500 while the appliance is busy.
BUSY_RETRIES = 3
BUSY_DELAY = 1.0


class SessionListener(Protocol):
    """What the session reports upward. Each method runs on the reading thread."""

    def on_values(self, values: Values) -> None: ...

    def on_description_changes(self, changes: Values) -> None: ...

    def on_message(self, message: Message) -> None:
        """Anything else the appliance sends of its own accord."""


class _Deaf:
    """The listener of a session nobody listens to."""

    def on_values(self, values: Values) -> None:
        pass

    def on_description_changes(self, changes: Values) -> None:
        pass

    def on_message(self, message: Message) -> None:
        pass


class Journal(Protocol):
    """Keeps what crossed the wire (hcpy.appliance.observed.Journal): every message's text, "in" or "out"."""

    def record(self, direction: str, text: str) -> None: ...


class ReplyCallback(Protocol):
    """Gets the outcome of one submitted request: its RESPONSE, or why there is none."""

    def __call__(self, reply: Message | None, error: Exception | None) -> None: ...


@dataclass
class _Pending:
    """A request waiting for its RESPONSE: waited on, or answered by callback."""

    resource: str
    deadline: float
    callback: ReplyCallback | None = None
    done: threading.Event = field(default_factory=threading.Event)
    reply: Message | None = None
    error: Exception | None = None

    def finish(self, reply: Message | None, error: Exception | None, error_names: dict[int, str]) -> None:
        if error is None and reply is not None and reply.code is not None and reply.code >= 400:
            name = error_names.get(reply.code) or error_code_name(reply.code)
            error = ApplianceError(self.resource, reply.code, name)
        self.reply, self.error = reply, error
        self.done.set()
        if self.callback is not None:
            try:
                self.callback(None if error else reply, error)
            except Exception:  # noqa: BLE001 - a caller's bug must not end the session
                logging.getLogger("hcpy.session").exception("answering %s failed", self.resource)


class Session:
    def __init__(
        self,
        transport: Transport,
        *,
        device_id: str,
        device_name: str = "hcpy",
        listener: SessionListener | None = None,
        request_timeout: float = 10.0,
        error_names: dict[int, str] | None = None,
        log: logging.Logger | None = None,
        throttle: Throttle | None = None,
        journal: Journal | None = None,
    ):
        self.transport = transport
        self.device_id = device_id
        self.device_name = device_name
        self.listener = listener or _Deaf()
        self.request_timeout = request_timeout
        self.error_names = error_names or {}
        self.log = log or logging.getLogger("hcpy.session")
        # Warnings about what the appliance sends, a few a minute of each kind.
        self._throttle = throttle or Throttle(self.log)

        self.sid: int | None = None
        self.services: dict[str, int] = {}
        self.device_info: dict[str, Any] = {}
        self.network_info: dict[str, Any] = {}

        self._next_msg_id = 0
        self._send_lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self._reader: int | None = None  # ident of the thread reading frames
        self._closed: ConnectionClosed | None = None
        # Asked once: every message would otherwise ask the logger again.
        self._debug = self.log.isEnabledFor(logging.DEBUG)
        # Every message in and out, for the console (hcpy.appliance.observed.Journal).
        self._record = journal.record if journal is not None else None
        # Resources whose messages were repaired (closing brackets added), each said once.
        self._repaired: set[str] = set()

    # -- set-up ------------------------------------------------------------

    def connect(self) -> None:
        """Open the transport and run the handshake (PROTOCOL.md §3)."""
        self._reader = threading.get_ident()
        self.transport.connect()
        try:
            self._handshake()
        except BaseException:
            self.close()
            raise

    def _handshake(self) -> None:
        first = self._wait_for_initial_values()
        self.sid = first.sID
        try:
            self._next_msg_id = int((first.data or [])[0]["edMsgID"])
        except (TypeError, KeyError, IndexError, ValueError):
            raise ProtocolError("the appliance's /ei/initialValues carried no edMsgID") from None
        device_type: int | str = 2 if first.version == 1 else "Application"
        self._send(
            first.reply([{"deviceType": device_type, "deviceName": self.device_name, "deviceID": self.device_id}])
        )

        services = self.request(Action.GET, CI_SERVICES, version=1)
        self.services = {
            str(s["service"]): s["version"]
            for s in services.data or []
            if isinstance(s.get("version"), int) and not isinstance(s["version"], bool) and "service" in s
        }
        self.log.debug("services: %s", self.services)

        if "iz" in self.services:
            self.device_info = self._first(self.request(Action.GET, IZ_INFO))
        else:
            # Older appliances authenticate with a nonce and describe themselves
            # on /ci/info (PROTOCOL.md §3 step 4).
            nonce = b64url(os.urandom(32))
            self._request_tolerant(Action.GET, CI_AUTHENTICATION, [{"nonce": nonce}])
            reply = self._request_tolerant(Action.GET, CI_INFO)
            self.device_info = self._first(reply) if reply else {}

        # Without deviceReady the appliance answers 403 to /ni/*.
        self.notify(EI_DEVICE_READY)

        if "ni" in self.services:
            reply = self._request_tolerant(Action.GET, NI_INFO)
            self.network_info = self._first(reply) if reply else {}

        values = self._request_busy_tolerant(RO_ALL_MANDATORY_VALUES)
        self._report(self.listener.on_values, values.data or [])
        changes = self._request_tolerant(Action.GET, RO_ALL_DESCRIPTION_CHANGES)
        if changes is not None:
            self._report(self.listener.on_description_changes, changes.data or [])

    def _wait_for_initial_values(self) -> Message:
        deadline = time.monotonic() + self.request_timeout
        while time.monotonic() < deadline:
            message = self._receive()
            if message is None:
                continue
            if message.resource == EI_INITIAL_VALUES and message.action == Action.POST:
                return message
            self.log.debug("ignored %s %s before the handshake", message.action.value, message.resource)
        raise RequestTimeout(f"the appliance sent no /ei/initialValues within {self.request_timeout:.0f} s")

    def _request_tolerant(self, action: Action, resource: str, data: Any = None) -> Message | None:
        """A request whose refusal is harmless: log it and go on."""
        try:
            return self.request(action, resource, data)
        except ApplianceError as exc:
            self.log.debug("%s %s answered %s %s; going on", action.value, resource, exc.code, exc.name)
            return None

    def _request_busy_tolerant(self, resource: str) -> Message:
        for attempt in range(BUSY_RETRIES + 1):
            try:
                return self.request(Action.GET, resource)
            except ApplianceError as exc:
                if exc.code != 500 or attempt == BUSY_RETRIES:
                    raise
                self.log.info("the appliance is busy (500 on %s); asking again", resource)
                time.sleep(BUSY_DELAY)
        raise AssertionError("unreachable")

    @staticmethod
    def _first(message: Message | None) -> dict[str, Any]:
        if message and message.data:
            return dict(message.data[0])
        return {}

    # -- requests ----------------------------------------------------------

    def request(
        self,
        action: Action,
        resource: str,
        data: Any = None,
        *,
        version: int | None = None,
        timeout: float | None = None,
    ) -> Message:
        """Send a request and return the appliance's RESPONSE.

        Raises ApplianceError when it answers with an error code,
        RequestTimeout when it does not answer, ConnectionClosed when the
        connection goes away meanwhile.
        """
        timeout = self.request_timeout if timeout is None else timeout
        msg_id, pending = self._send_request(action, resource, data, version, timeout, None)
        try:
            self._await(pending, timeout)
        finally:
            self._pending.pop(msg_id, None)
        if not pending.done.is_set():
            raise RequestTimeout(f"the appliance did not answer {resource} within {timeout:.0f} s")
        if pending.error is not None:
            raise pending.error
        assert pending.reply is not None
        return pending.reply

    def submit(
        self,
        action: Action,
        resource: str,
        data: Any,
        callback: ReplyCallback,
        *,
        timeout: float | None = None,
    ) -> None:
        """Send a request without waiting; `callback(reply, error)` gets the outcome.

        The callback runs on the reading thread (or at once on this one if
        sending fails), so a caller such as an MQTT callback never blocks on
        a slow appliance.
        """
        timeout = self.request_timeout if timeout is None else timeout
        self._send_request(action, resource, data, None, timeout, callback)

    def notify(self, resource: str, data: Any = None) -> None:
        """Send a one-way NOTIFY (no answer expected)."""
        with self._send_lock:
            self._send(self._new_message(Action.NOTIFY, resource, data, None))

    def _send_request(
        self,
        action: Action,
        resource: str,
        data: Any,
        version: int | None,
        timeout: float,
        callback: ReplyCallback | None,
    ) -> tuple[int, _Pending]:
        pending = _Pending(resource, time.monotonic() + timeout, callback)
        # Ids go out in order: allocating and sending is one step.
        with self._send_lock:
            message = self._new_message(action, resource, data, version)
            self._pending[message.msgID] = pending
            try:
                self._send(message)
            except BaseException:
                self._pending.pop(message.msgID, None)
                raise
        return message.msgID, pending

    def _new_message(self, action: Action, resource: str, data: Any, version: int | None) -> Message:
        if self.sid is None:
            raise ConnectionClosed("no session: the handshake has not run")
        msg_id = self._next_msg_id
        self._next_msg_id += 1
        message = Message(self.sid, msg_id, resource, 1, action, data)
        message.version = version if version is not None else self.services.get(message.service, 1)
        return message

    def _await(self, pending: _Pending, timeout: float) -> None:
        if threading.get_ident() == self._reader:
            while not pending.done.is_set() and time.monotonic() < pending.deadline:
                self._dispatch(self._receive())
        else:
            pending.done.wait(timeout)

    # -- receiving ---------------------------------------------------------

    def run(self) -> None:
        """Read and dispatch messages until the connection ends.

        Always ends by raising ConnectionClosed (with the reason), also after
        close() from another thread.
        """
        self._reader = threading.get_ident()
        receive, dispatch = self._receive, self._dispatch
        while True:
            message = receive()
            if message is not None:
                dispatch(message)
            if self._pending:
                self._expire_submitted()

    def _expire_submitted(self) -> None:
        now = time.monotonic()
        for msg_id, pending in list(self._pending.items()):
            if pending.callback is not None and now >= pending.deadline:
                self._pending.pop(msg_id, None)
                timeout = RequestTimeout(f"the appliance did not answer {pending.resource} in time")
                pending.finish(None, timeout, self.error_names)

    def _receive(self) -> Message | None:
        if self._closed is not None:
            raise self._closed
        try:
            text = self.transport.receive()
        except ConnectionClosed as exc:
            self._fail_all(exc)
            raise
        if text is None:
            return None
        if self._debug:
            self.log.debug("received %s", text)
        if len(text) > MAX_REPORT and not _RESPONSE.search(text[:512]):
            # Reading it would hold every other appliance up (the JSON scanner
            # keeps the GIL), and no appliance reports this much at once. An
            # answer to hcpy's own request is read whatever its size (up to the
            # websocket's limit): the handshake cannot do without it.
            self._throttle.warning(("large",), "ignored a message of %s bytes from the appliance%s: more than %s",
                                   f"{len(text):,}", _resource_in(text), f"{MAX_REPORT:,}")  # fmt: skip
            return None
        try:
            message = Message.from_json(text)
        except ProtocolError as exc:
            repaired = self._repair(text)
            if repaired is None:
                # A garbled message costs that message, not the session; an
                # answer's failure is told by the request it answered.
                if not self._fail_garbled_answer(text, exc):
                    self._throttle.warning(("garbled",), "ignored a message of %s bytes from the appliance%s: %s",
                                           f"{len(text):,}", _resource_in(text), exc)  # fmt: skip
                return None
            # The journal keeps the text as repaired: it parses what it keeps (at
            # the console, and to abridge a long one), which the text as sent does not.
            message, text = repaired
        if self._record is not None:
            self._record("in", text)  # the text: a string costs the garbage collector nothing
        return message

    def _repair(self, text: str | bytes) -> tuple[Message, str] | None:
        """The message an appliance meant when it only left brackets open (repair.py), and its text; else None."""
        if len(text) > MAX_REPORT:
            return None  # read character by character: not for an answer this large
        if not isinstance(text, str):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                return None
        fixed = close_brackets(text)
        if fixed is None:
            return None
        try:
            message = Message.from_json(fixed)
        except ProtocolError:
            return None
        # Said once a session for each resource: an appliance that does it does it on every connect.
        level = logging.DEBUG if message.resource in self._repaired else logging.INFO
        self._repaired.add(message.resource)
        self.log.log(level, "repaired a message from the appliance on %s: it lacked the closing %s",
                     message.resource, excerpt(fixed[len(text.rstrip()):]))  # fmt: skip
        return message, fixed

    def _fail_garbled_answer(self, text: str | bytes, exc: ProtocolError) -> bool:
        """Fail the request a garbled frame answers, with that as the reason.

        Otherwise the request waits out its timeout, and the log would say the
        appliance did not answer when it did.
        """
        head = text[:512] if isinstance(text, str) else text[:512].decode("utf-8", "replace")
        found = _MSG_ID.search(head) if _RESPONSE.search(head) else None
        if found is None:
            return False
        pending = self._pending.pop(int(found.group(1)), None)
        if pending is None:
            return False
        # Its end, not its start: the start holds the session's ids, which would
        # make every retry's reason new (and logged), and the end is where
        # the brackets go missing.
        tail = text[-_TAIL:] if isinstance(text, str) else text[-_TAIL:].decode("utf-8", "replace")
        self.log.debug("the unreadable answer to %s: %s", pending.resource, exc)
        error = ProtocolError(f"the appliance answered {pending.resource} with a message that could not be read "
                              f"(not JSON), ending {excerpt(tail)}")  # fmt: skip
        pending.finish(None, error, self.error_names)
        return True

    def _dispatch(self, message: Message | None) -> None:
        if message is None:
            return
        if message.action is Action.RESPONSE:
            pending = self._pending.pop(message.msgID, None)
            if pending is None:
                self.log.debug("ignored a response to unknown msgID %s", message.msgID)
                return
            pending.finish(message, None, self.error_names)
            return
        resource, reported = message.resource, message.action in _REPORTS
        if reported and resource == RO_VALUES:
            self._report(self.listener.on_values, message.data or [])
        elif reported and resource == RO_DESCRIPTION_CHANGE:
            self._report(self.listener.on_description_changes, message.data or [])
        else:
            self._report(self.listener.on_message, message)

    def _report(self, callback: Callable[[Any], None], what: Any) -> None:
        """Hand a report to the listener; its failure costs that report only.

        A value the listener cannot digest must not end the session: the
        same value would come back with every handshake, forever.
        """
        try:
            callback(what)
        except Exception as exc:  # noqa: BLE001
            # A bug: its traceback once, then only counted.
            if self._throttle.warning(("undigested", type(exc)), "ignored a report from the appliance that could not "
                                      "be processed (%s: %s): %s", type(exc).__name__, excerpt(str(exc)), excerpt(what)):  # fmt: skip
                self.log.debug("the report's failure", exc_info=True)

    def _send(self, message: Message) -> None:
        if self._closed is not None:
            raise self._closed
        text = message.to_json()
        if self._debug:
            self.log.debug("sending %s", text)
        if self._record is not None:
            # Before it goes: its answer, recorded by the reading thread, comes after it.
            self._record("out", text)
        self.transport.send(text)

    def _fail_all(self, exc: ConnectionClosed) -> None:
        with self._send_lock:  # no request slips in between the two steps
            if self._closed is None:  # the first reason is the real one
                self._closed = exc
            waiting, self._pending = self._pending, {}
        for pending in waiting.values():
            pending.finish(None, self._closed, self.error_names)

    def close(self, reason: str = "closed by hcpy") -> None:
        """End the session; a thread in run() or request() returns at once."""
        self._fail_all(ConnectionClosed(reason))
        self.transport.close()


def _resource_in(text: str | bytes) -> str:
    """' on <resource>' for a log line, when the start of an unread message names one."""
    head = text[:512] if isinstance(text, str) else text[:512].decode("utf-8", "replace")
    found = _RESOURCE.search(head)
    return f" on {found.group(1)}" if found else ""
