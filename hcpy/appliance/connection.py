"""Keeps one appliance connected: a thread that connects, listens, reconnects.

Offline is a normal state (a dishwasher switches its Wi-Fi off), so a failed
or lost connection is logged once per change and retried with exponential
backoff and jitter, never in a hot loop. Whatever the appliance reports is
decoded into its `ApplianceState` and handed to a `ConnectionObserver` (the bridge).

An appliance whose host does not resolve or answer is looked up by its haId
(a `resolver`, normally `protocol.mdns.locate`), and the address found is
used from then on: DHCP moves appliances, and cloud logins leave `host` as a
name no DNS knows.

What the console and the metrics read of it (hcpy.appliance.observed): its
`journal` of messages in both directions, kept across reconnects, and its
`stats`, where the connection stands, since when and why.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import ConnectError, ConnectionClosed, HcpyError, KeyRejected, NotConnected, RequestTimeout
from ..protocol.message import Action, Message
from ..protocol.session import ReplyCallback, Session
from ..protocol.transport import Endpoint, Timing, Transport
from ..protocol.websocket import UpgradeRefused
from .commands import Request
from .observed import CONNECTING, OFFLINE, ONLINE, STOPPED, ConnectionStats, Journal
from .state import ApplianceState, Change


@dataclass(frozen=True)
class Backoff:
    first: float = 2.0
    limit: float = 60.0
    # A connection that lasted this long resets the delay to `first`.
    stable_after: float = 30.0

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            # Full jitter on the upper half: appliances that dropped together
            # (a router restart) do not all come back in the same second.
            yield delay * random.uniform(0.5, 1.0)
            delay = min(delay * 2, self.limit)


# Where the appliance with a haId is now: an IPv4 address, or an object with
# `address` and `port` (`protocol.mdns.Found`), or None when nothing answered.
Resolver = Callable[[str], Any]
# mDNS lookups are multicast and take seconds: at most one per appliance in
# this time, however often its connection fails.
RESOLVE_INTERVAL = 30.0


class ConnectionObserver(Protocol):
    """What a connection reports upward; every method runs on the connection's thread."""

    def online(self, connection: ApplianceConnection) -> None: ...

    def offline(self, connection: ApplianceConnection, reason: str) -> None: ...

    def changed(self, connection: ApplianceConnection, changes: list[Change]) -> None: ...

    def limits_changed(self, connection: ApplianceConnection, uids: set[int]) -> None: ...


class _Unobserved:
    """The observer of a connection nobody watches (tests, tools)."""

    def online(self, connection: ApplianceConnection) -> None:
        pass

    def offline(self, connection: ApplianceConnection, reason: str) -> None:
        pass

    def changed(self, connection: ApplianceConnection, changes: list[Change]) -> None:
        pass

    def limits_changed(self, connection: ApplianceConnection, uids: set[int]) -> None:
        pass


class ApplianceConnection:
    def __init__(
        self,
        name: str,
        endpoint: Endpoint,
        state: ApplianceState,
        *,
        device_id: str,
        observer: ConnectionObserver | None = None,
        timing: Timing = Timing(),
        backoff: Backoff = Backoff(),
        request_timeout: float = 10.0,
        ha_id: str | None = None,
        resolver: Resolver | None = None,
        resolve_interval: float = RESOLVE_INTERVAL,
    ):
        self.name = name
        self.endpoint = endpoint  # as configured
        # Where the next attempt goes: `endpoint`, or where mDNS found the appliance.
        self._target = endpoint
        self.ha_id = ha_id
        self.resolver = resolver
        self.resolve_interval = resolve_interval
        self._resolved_at: float | None = None  # monotonic time of the last lookup
        self._resolve_problem: str | None = None  # the last failed lookup's reason, said once
        self.state = state
        self.device_id = device_id
        self.observer = observer or _Unobserved()
        self.timing = timing
        self.backoff = backoff
        self.request_timeout = request_timeout
        self.log = logging.getLogger(f"hcpy.appliance.{name}")
        self._session: Session | None = None
        self._online = threading.Event()
        self._up = False  # the same, read on every message without a call
        self._stop = threading.Event()
        self._was_online = False  # whether the last attempt got as far as online
        self._key_rejected = False  # whether the last attempt failed on the key
        self._thread: threading.Thread | None = None
        # For the console and the metrics: every message, and where the connection stands.
        self.journal = Journal()
        self.stats = ConnectionStats(
            address=_address(endpoint), transport="aes" if endpoint.uses_aes else "tls", ha_id=ha_id
        )

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"appliance-{self.name}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to end, without waiting for it."""
        self._stop.set()
        self.stats.enter(STOPPED, self.stats.reason)
        session = self._session
        if session is not None:
            session.close("hcpy is shutting down")

    def stop(self, timeout: float = 2.0) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def online(self) -> bool:
        return self._up

    @property
    def target(self) -> Endpoint:
        """Where the connection goes now: the configured endpoint, or the address mDNS found."""
        return self._target

    def wait_online(self, timeout: float) -> bool:
        return self._online.wait(timeout)

    def _run(self) -> None:
        delays = self.backoff.delays()
        last_reason = None
        while not self._stop.is_set():
            started = time.monotonic()
            reason = self._connect_once()
            if self._stop.is_set():
                break
            if time.monotonic() - started >= self.backoff.stable_after:
                delays = self.backoff.delays()
            delay = next(delays)
            # One line per change of reason: a switched-off appliance is quiet,
            # but every loss of a connection that was up is said.
            # A key the appliance does not share is the user's to fix: a warning.
            level = (logging.WARNING if self._key_rejected else logging.INFO) if reason != last_reason else logging.DEBUG
            self.log.log(level, "%s: %s; retrying in %.0f s", self.name, reason, delay)
            last_reason = None if self._was_online else reason
            self._stop.wait(delay)
        self.stats.enter(STOPPED, self.stats.reason)

    def _connect_once(self) -> str:
        """One connection, from connect to loss. Returns why it ended.

        When the appliance was not found where it was looked for, and mDNS
        knows it somewhere else, that is tried at once.
        """
        reason, unanswered = self._attempt(self._target)
        if unanswered and not self._stop.is_set() and self._relocate():
            if self._stop.is_set():
                return "stopped"
            reason, _ = self._attempt(self._target)
        return reason

    def _attempt(self, endpoint: Endpoint) -> tuple[str, bool]:
        """One connection to `endpoint`: why it ended, and whether nothing answered there."""
        unanswered = False
        self._key_rejected = False
        stats = self.stats
        stats.address = _address(endpoint)
        if stats.state != OFFLINE:
            # Retries of an appliance that is away stay "offline", since it went:
            # "offline since 7:02" says more than the start of the latest retry.
            stats.enter(CONNECTING, stats.reason)
        kind = "other"  # why it ended, for stats.disconnects
        session = Session(
            Transport(endpoint, self.timing, self.log, self.state.throttle),
            device_id=self.device_id,
            listener=self,
            request_timeout=self.request_timeout,
            error_names=_error_names(self.state),
            log=self.log,
            throttle=self.state.throttle,
            journal=self.journal,
        )
        self._session = session
        try:
            session.connect()
            if self._stop.is_set():
                return "stopped", False
            self._up = True
            self._online.set()
            stats.connects += 1
            stats.firmware = _firmware(session.device_info) or stats.firmware
            stats.enter(ONLINE, stats.reason)
            self.log.info("%s: connected to %s", self.name, endpoint.host)
            self.observer.online(self)
            session.run()
            reason = "connection ended"  # run() only ends by raising
        except ConnectError as exc:
            reason = str(exc)
            unanswered = _unanswered(exc)
            self._key_rejected = isinstance(exc, KeyRejected)
            kind = _failed_connect(exc)
        except ConnectionClosed as exc:
            reason = f"disconnected: {exc}"
            kind = _lost(exc, session.transport)
        except HcpyError as exc:
            reason = f"session failed: {exc}"
            kind = "timeout" if isinstance(exc, RequestTimeout) else "error"
        except Exception as exc:  # noqa: BLE001 - the thread must outlive any bug
            self.log.exception("%s: unexpected error", self.name)
            reason = f"unexpected error: {exc!r}"
        finally:
            self._session = None
            session.close()
            if self._stop.is_set():
                stats.enter(STOPPED, stats.reason)
        if not self._stop.is_set():
            stats.enter(OFFLINE, reason)
            stats.disconnects[kind] += 1
        self._was_online = self._up
        if self._was_online:
            self._up = False
            self._online.clear()
            self.observer.offline(self, reason)
        return reason, unanswered

    def _relocate(self) -> bool:
        """Ask the resolver where the appliance is now; True when that is somewhere new.

        Asked at most once per `resolve_interval`; an answer naming where the
        connection already went changes nothing.
        """
        if self.ha_id is None or self.resolver is None:
            return False
        now = time.monotonic()
        if self._resolved_at is not None and now - self._resolved_at < self.resolve_interval:
            return False
        self._resolved_at = now
        try:
            address, port = _where(self.resolver(self.ha_id))
        except Exception as exc:  # noqa: BLE001 - a lookup must never end the thread
            problem = f"{exc.__class__.__name__}: {exc}"
            level = logging.WARNING if problem != self._resolve_problem else logging.DEBUG
            self.log.log(level, "%s: looking up %s by mDNS failed (%s)", self.name, self.ha_id, problem)
            self._resolve_problem = problem
            return False
        self._resolve_problem = None
        if not address:
            self.log.debug("%s: mDNS heard no appliance %s", self.name, self.ha_id)
            return False
        old = self._target
        new = dataclasses.replace(old, host=address, port=port or old.port)
        if new.actual_port == old.actual_port and address in _addresses_of(old.host):
            return False
        shown = address if new.port is None else f"{address}:{new.actual_port}"
        self.log.info("found %s at %s by mDNS (its host %s did not answer)", self.name, shown, old.host)
        self._target = new
        return True

    # -- from the session (SessionListener; on this connection's thread) --------------

    def on_values(self, values: list[dict[str, Any]]) -> None:
        changes = self.state.apply_values(values)
        if changes:
            self._report(changes)

    def on_description_changes(self, items: list[dict[str, Any]]) -> None:
        changes, touched = self.state.apply_description_changes(items)
        if changes:
            self._report(changes)
        if touched and self._up:
            self.observer.limits_changed(self, touched)

    def on_message(self, message: Message) -> None:
        self.log.debug("%s: unhandled %s %s", self.name, message.action.value, message.resource)

    def _report(self, changes: list[Change]) -> None:
        if not self._up:
            # During the handshake the state is only gathered: online() then
            # publishes all of it at once. Events in it are where each event
            # stands, not occurrences: firing them would repeat a ProgramFinished
            # at every reconnect.
            return
        self.observer.changed(self, changes)

    # -- commands -----------------------------------------------------------------

    @property
    def session(self) -> Session | None:
        """The current session while online, else None."""
        return self._session if self._up else None

    def submit(self, request: Request, callback: ReplyCallback) -> None:
        """Send a validated command; `callback(reply, error)` gets the outcome.

        Raises NotConnected at once when the appliance is offline.
        """
        session = self.session
        if session is None:
            raise NotConnected(f"{self.name} is offline; the command was not sent")
        session.submit(Action.POST, request.resource, request.data, callback)


def _failed_connect(exc: ConnectError) -> str:
    """The reason class (observed.DISCONNECT_REASONS) of a connect that failed.

    Told by the error the transport caught, which it keeps as the context.
    """
    if isinstance(exc, KeyRejected):
        return "key_rejected"
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, (ConnectionRefusedError, UpgradeRefused)):
        return "refused"
    if isinstance(cause, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(cause, socket.gaierror) or getattr(cause, "errno", None) in _UNREACHABLE:
        return "unreachable"
    if isinstance(cause, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return "closed_by_appliance"
    return "error"


_UNREACHABLE = frozenset((errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN))


def _lost(exc: ConnectionClosed, transport: Transport) -> str:
    """The reason class of a connection that ended after it was opened.

    The transport raises a plain ConnectionClosed, caught from nothing, both
    when the appliance closed the connection and when it stayed silent too
    long: its clock of the last bytes received tells which.
    """
    cause = exc.__cause__ or exc.__context__
    if cause is None:
        last = getattr(transport, "_last_received", None)
        if isinstance(last, float) and time.monotonic() - last > transport.timing.silence:
            return "silent"
        return "closed_by_appliance"
    if isinstance(cause, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return "closed_by_appliance"
    if isinstance(cause, (socket.timeout, TimeoutError)):
        return "timeout"
    return "error"


def _address(endpoint: Endpoint) -> str:
    """host, or host:port when the port is not the appliance's fixed one."""
    if endpoint.port is None:
        return endpoint.host
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    return f"{host}:{endpoint.port}"


def _firmware(info: dict[str, Any]) -> str | None:
    value = info.get("swVersion")
    return str(value) if value not in (None, "") else None


def _unanswered(exc: ConnectError) -> bool:
    """Whether a failed connect found no appliance there (no such name, refused,
    timed out, unreachable, or a TLS peer without the key: another device on
    the appliance's old address), not one that answered wrongly (a refused
    websocket upgrade).

    Told by the error the transport caught, which it keeps as the context.
    """
    cause = exc.__cause__ or exc.__context__
    return isinstance(cause, OSError)


def _where(found: Any) -> tuple[str | None, int | None]:
    """(address, port) from what a resolver returned."""
    if found is None or isinstance(found, str):
        return found or None, None
    return getattr(found, "address", None) or None, getattr(found, "port", None) or None


def _addresses_of(host: str) -> set[str]:
    """The IPv4 addresses `host` stands for now (itself when it is one); empty when it does not resolve."""
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)}
    except (OSError, UnicodeError):
        return set()


def _error_names(state: ApplianceState) -> dict[int, str]:
    # The profile's names are full ("BSH.Common.Error.403.Forbidden"); keep the last part.
    return {code: name.rsplit(".", 1)[-1] for code, name in state.profile.errors.items()}
