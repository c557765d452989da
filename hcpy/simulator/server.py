"""Serves a `SimulatedAppliance` over real sockets, as the appliance would.

TLS-PSK with text frames, or plain TCP with AES-encrypted binary frames
(PROTOCOL.md §1), one thread per connection (`connection.py`).
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import threading
import time
from functools import partial
from typing import Any

from ..protocol import tlspsk
from ..protocol.frame import TO_CLIENT, FrameCodec
from ..protocol.message import Action, Message
from ..protocol.resources import RO_DESCRIPTION_CHANGE, RO_VALUES
from ..protocol.transport import PATH
from .appliance import SimulatedAppliance
from .changes import Changes
from .clock import ManualClock
from .connection import Connection
from .dialogue import Dialogue, notifications
from .faults import Fault, Faults, Mangle

# stop() first lets connections say goodbye, then cuts what is left.
GOODBYE_WAIT = 0.6
STOP_WAIT = 0.4

log = logging.getLogger("hcpy.simulator")


class Simulator:
    """A simulated appliance listening on ``host:port``.

    ``iv`` given: the AES transport (ws://), else TLS-PSK (wss://). ``port``
    0 picks a free port; read the bound one from `port` after `start()`.
    ``keep_history`` keeps every received message and dialogue for tests
    (`received`, `violations`); the command line turns it off.
    The key and IV are never logged.
    """

    def __init__(
        self,
        app: SimulatedAppliance,
        psk: bytes,
        iv: bytes | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str | None = None,
        keep_history: bool = True,
    ):
        if len(psk) != 32:
            raise ValueError("the simulator's key must be 32 bytes")
        if iv is not None and len(iv) != 16:
            raise ValueError("the simulator's AES IV must be 16 bytes")
        self.app = app
        self._psk = psk
        self._iv = iv
        self.host = host
        self._requested_port = port
        desc = app.profile.description
        self.name = name or " ".join(part for part in (desc.brand, desc.model) if part) or "appliance"
        self.refuse_upgrade = False  # True: answer 404 to every websocket upgrade, like a wedged appliance
        self.faults = Faults()
        self.accepted = 0  # websocket sessions opened so far
        self._listener: socket.socket | None = None
        self._port: int | None = None
        self._listen_thread: threading.Thread | None = None
        self._ticker: threading.Thread | None = None
        self._stopping = threading.Event()
        self._cond = threading.Condition()
        self._live: list[Connection] = []
        self._dialogues: list[Dialogue] = []
        self._received: list[Message] = []
        # Tests read the history; a long-running simulator must not grow with it.
        self.keep_history = keep_history

    # --- facts --------------------------------------------------------

    @property
    def transport(self) -> str:
        return "aes" if self._iv is not None else "tls"

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"the simulator {self.name} is not started")
        return self._port

    @property
    def thread_prefix(self) -> str:
        """Every thread of this simulator has a name starting with this."""
        return f"hcpy-sim-{self.port}"

    @property
    def url(self) -> str:
        scheme = "ws" if self.transport == "aes" else "wss"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{PATH}"

    # --- life cycle -----------------------------------------------------

    def start(self) -> Simulator:
        if self._listener is not None:
            raise RuntimeError(f"the simulator {self.name} is already running on port {self._port}")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.create_server((self.host, self._requested_port), family=family)
        self._listener = listener
        self._port = listener.getsockname()[1]
        self._stopping.clear()
        # stop() writes a byte here to wake the listener out of select().
        self._wake_r, self._wake_w = socket.socketpair()
        self._listen_thread = threading.Thread(target=self._accept_loop, name=f"{self.thread_prefix}-listen", daemon=True)
        self._listen_thread.start()
        speed = getattr(self.app.clock, "speed", None)
        if speed:
            # The appliance's clock runs by itself: report a running program
            # once per appliance minute, but at least once a second.
            period = min(1.0, max(0.02, 60.0 / speed))
            self._ticker = threading.Thread(target=self._tick, args=(period,), name=f"{self.thread_prefix}-clock", daemon=True)
            self._ticker.start()
        log.debug("%s: listening on %s (%s)", self.name, self.url, self.transport.upper())
        return self

    def stop(self) -> None:
        """Close the listener and every connection; returns within about a second."""
        self._stopping.set()
        if self._ticker is not None:
            self._ticker.join(STOP_WAIT)
            self._ticker = None
        if self._listen_thread is not None:
            self._wake_w.send(b"\0")
            self._listen_thread.join(STOP_WAIT)
            self._listen_thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            self._wake_r.close()
            self._wake_w.close()
        conns = self._snapshot(sessions_only=False)
        for conn in conns:
            if not conn.opened:
                conn.kill()  # still in its handshake: nobody to say goodbye to
            else:
                conn.end()
        _join([c.thread for c in conns], GOODBYE_WAIT)
        for conn in conns:
            if conn.thread.is_alive():
                conn.kill()  # stuck in a handshake or half a frame
        _join([c.thread for c in conns], STOP_WAIT)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # --- what the tests look at -----------------------------------------

    @property
    def received(self) -> list[Message]:
        """Every message a client sent, in arrival order (a copy)."""
        with self._cond:
            return list(self._received)

    @property
    def violations(self) -> list[str]:
        """Every way a client strayed from the protocol, over all connections."""
        with self._cond:
            dialogues = list(self._dialogues)
        return [v for d in dialogues for v in list(d.violations)]

    @property
    def client_answers(self) -> list[dict[str, Any]]:
        """What each client answered to /ei/initialValues (deviceType, deviceName, deviceID)."""
        with self._cond:
            return [d.device_answer for d in self._dialogues if d.device_answer is not None]

    @property
    def connection_count(self) -> int:
        return len(self._snapshot())

    def wait_connected(self, timeout: float = 5.0, count: int = 1) -> bool:
        """Wait until at least ``count`` websocket sessions are open."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._sessions()) >= count, timeout)

    def wait_disconnected(self, timeout: float = 5.0) -> bool:
        """Wait until no websocket session is open."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._sessions(), timeout)

    def wait_received(
        self, resource: str, action: Action | str | None = None, timeout: float = 5.0, start: int = 0
    ) -> Message | None:
        """The first message for ``resource`` (and ``action``) at index ``start`` or later of `received`."""
        wanted = None if action is None else Action(action)

        def find() -> Message | None:
            for msg in self._received[start:]:
                if msg.resource == resource and (wanted is None or msg.action is wanted):
                    return msg
            return None

        with self._cond:
            self._cond.wait_for(lambda: find() is not None, timeout)
            return find()

    # --- the appliance changes by itself --------------------------------

    def set_value(self, uid_or_name: int | str, value: Any) -> None:
        """Change a value (enum member names accepted) and notify every client."""
        self.notify(RO_VALUES, [self.app.set_value(uid_or_name, value)])

    def set_description(self, uid_or_name: int | str, **changes: Any) -> None:
        """Change live limits and notify /ro/descriptionChange.

        Takes the keywords of `SimulatedAppliance.set_description` (access,
        available, min, max, step, default, value, parent_uid).
        """
        self.notify(RO_DESCRIPTION_CHANGE, [self.app.set_description(uid_or_name, **changes)])

    def notify(self, resource: str, data: list[dict[str, Any]]) -> None:
        """Send a NOTIFY of the appliance's own to every client."""
        for conn in self._snapshot():
            conn.post(partial(conn.send_notify, resource, data))

    def tell(self, changes: Changes) -> None:
        """Notify every client of what the appliance changed."""
        for resource, data in notifications(changes):
            self.notify(resource, data)

    # --- what the appliance's user does by hand -------------------------

    def set_door(self, closed: bool) -> None:
        self.tell(self.app.set_door(closed))

    def allow_remote_start(self, allowed: bool = True) -> None:
        self.tell(self.app.allow_remote_start(allowed))

    def set_power(self, on: bool) -> None:
        self.tell(self.app.set_power(on))

    # --- time -------------------------------------------------------------

    def advance(self, seconds: float = 0.0) -> None:
        """Turn a `ManualClock` on by `seconds` and report what the appliance did meanwhile."""
        if seconds:
            clock = self.app.clock
            if not isinstance(clock, ManualClock):
                raise TypeError(f"advance({seconds}) needs a ManualClock; this simulator runs on {type(clock).__name__}")
            clock.advance(seconds)
        self.tell(self.app.advance())

    def _tick(self, period: float) -> None:
        while not self._stopping.wait(period):
            try:
                self.tell(self.app.advance())
            except Exception:  # noqa: BLE001 - the appliance's clock must not stop
                log.exception("%s: running the program failed", self.name)

    # --- misbehaviour on request ----------------------------------------

    def drop_connections(self) -> None:
        """Cut every connection's TCP at once, without a websocket close."""
        for conn in self._snapshot():
            conn.kill()

    def go_silent(self) -> None:
        """Open connections stop reading and writing (no answers, no pongs); TCP stays up.

        Connections opened later behave normally.
        """
        for conn in self._snapshot():
            conn.silence()

    def send_bad_mac(self) -> None:
        """AES only: send every client a notification whose MAC is wrong."""
        if self.transport != "aes":
            raise RuntimeError("send_bad_mac() needs the AES transport (give the simulator an iv)")
        for conn in self._snapshot():
            conn.post(conn.send_bad_mac)

    def send_garbage(self, encrypted: bool = True) -> None:
        """Send every client a frame that is not JSON.

        TLS: a text frame. AES: a correctly encrypted non-JSON payload, or
        with ``encrypted=False`` bytes that are no valid frame at all.
        """
        for conn in self._snapshot():
            conn.post(partial(conn.send_garbage, encrypted))

    def send_raw(self, text: str) -> None:
        """Send every client ``text`` as one frame, exactly as given (a test's hostile message).

        TLS: a text frame; AES: encrypted and authenticated as any message.
        Nothing checks that ``text`` is JSON or a message: a benchmark uses it
        for what `notify` cannot build (say, data nested 100,000 deep).
        """
        for conn in self._snapshot():
            conn.post(partial(conn.send_raw, text))

    def fail_next(self, resource: str, code: int = 500, times: int = 1) -> None:
        """Answer the next ``times`` requests for ``resource`` with ``code`` (500: busy, retry)."""
        self.faults.add(resource, Fault(code=code, times=times))

    def stall_next(self, resource: str, seconds: float | None = None, times: int = 1) -> None:
        """Answer the next ``times`` requests for ``resource`` ``seconds`` late, or never (None).

        The request still takes effect; only its answer (and notifications) is held back.
        """
        self.faults.add(resource, Fault(delay=seconds, times=times))

    def mangle_next(self, resource: str, mangle: Mangle, times: int = 1) -> None:
        """Answer the next ``times`` requests for ``resource`` with ``mangle(answer)``, exactly as it says.

        For the frames sloppy appliances send: a bracket short, no data and no code.
        """
        self.faults.add(resource, Fault(mangle=mangle, times=times))

    # --- internals --------------------------------------------------------

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        number = 0
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([listener, self._wake_r], [], [])
                if listener not in ready:
                    continue
                sock, _addr = listener.accept()
            except OSError as exc:
                log.error("%s: cannot accept connections any more: %s", self.name, exc)
                break
            number += 1
            # Messages are small and conversational: do not let Nagle hold them back.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._cond:
                if self._stopping.is_set():
                    sock.close()
                    break
                conn = Connection(self, sock, number)
                self._live.append(conn)
            conn.thread.start()

    def _snapshot(self, sessions_only: bool = True) -> list[Connection]:
        with self._cond:
            return self._sessions() if sessions_only else list(self._live)

    def _sessions(self) -> list[Connection]:
        return [c for c in self._live if c.opened and not c.ending]

    # --- called by its connections ------------------------------------------

    def connection_opened(self, conn: Connection) -> None:
        with self._cond:
            self.accepted += 1
            assert conn.dialogue is not None
            if self.keep_history:
                self._dialogues.append(conn.dialogue)
            conn.opened = True
            self._cond.notify_all()

    def connection_closed(self, conn: Connection) -> None:
        with self._cond:
            if conn in self._live:
                self._live.remove(conn)
            self._cond.notify_all()

    def record(self, msg: Message) -> None:
        with self._cond:
            if self.keep_history:
                self._received.append(msg)
            self._cond.notify_all()

    def new_codec(self) -> FrameCodec | None:
        return None if self._iv is None else FrameCodec(self._psk, self._iv, outgoing=TO_CLIENT)

    def new_tls_context(self, label: str) -> ssl.SSLContext:
        # A fresh context per connection (PROTOCOL.md §1.1: shared ones break session reuse).
        def refused(identity: str | None) -> None:
            sent = "an empty identity" if not identity else f"identity {identity[:64]!r}"
            log.warning("%s: refused the TLS handshake: the client sent %s, not %r", label, sent, tlspsk.IDENTITY)

        return tlspsk.server_context(self._psk, refused)


def _join(threads: list[threading.Thread], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
