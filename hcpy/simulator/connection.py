"""One connection to the simulated appliance, served by its own thread.

The thread alone touches the socket (an SSL object must not be read and
written from two threads at once); other threads hand it work through an
outbox and wake it with a byte on a socket pair.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from ..errors import FrameError, ProtocolError
from ..protocol.frame import FrameCodec
from ..protocol.message import Action, Message
from ..protocol.resources import RO_VALUES
from ..protocol.transport import PATH
from .appliance import SimulatedAppliance
from .dialogue import Dialogue, Outcome
from .faults import Faults
from .wsserver import (
    CLOSE_GOING_AWAY,
    OP_BINARY,
    OP_TEXT,
    CloseReceived,
    PeerClosed,
    ServerWebSocket,
    WebSocketError,
)

HANDSHAKE_TIMEOUT = 5.0

log = logging.getLogger("hcpy.simulator")


class Host(Protocol):
    """What a connection needs of the simulator that accepted it (`server.Simulator` is one).

    Named here, below the server, so that the server can make connections
    without a connection knowing the server's class.
    """

    @property
    def app(self) -> SimulatedAppliance: ...
    @property
    def faults(self) -> Faults: ...
    @property
    def name(self) -> str: ...
    @property
    def transport(self) -> str: ...
    @property
    def thread_prefix(self) -> str: ...
    @property
    def refuse_upgrade(self) -> bool: ...

    def new_tls_context(self, label: str) -> ssl.SSLContext: ...
    def new_codec(self) -> FrameCodec | None: ...
    def connection_opened(self, conn: Connection) -> None: ...
    def connection_closed(self, conn: Connection) -> None: ...
    def record(self, msg: Message) -> None: ...
    def notify(self, resource: str, data: list[dict[str, Any]]) -> None: ...


class Connection:
    """One accepted TCP connection and the thread that serves it."""

    def __init__(self, sim: Host, sock: socket.socket, number: int):
        self.sim = sim
        self.sock = sock
        self.label = f"{sim.name} #{number}"
        self.ws: ServerWebSocket | None = None
        self.codec: FrameCodec | None = None
        self.dialogue: Dialogue | None = None
        self.silent = False
        self.opened = False  # a session: counted, notified (set by the simulator)
        self.ending = False
        self._going_away = False
        self._lock = threading.Lock()
        self._outbox: deque[Callable[[], None]] = deque()
        self._delayed: list[tuple[float, Outcome]] = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)
        self.thread = threading.Thread(target=self._run, name=f"{sim.thread_prefix}-conn{number}", daemon=True)

    # --- called from other threads ------------------------------------------

    def post(self, action: Callable[[], None]) -> None:
        """Run ``action`` on the connection's own thread, in order."""
        with self._lock:
            if self.ending:
                return
            self._outbox.append(action)
        self._wake()

    def silence(self) -> None:
        self.silent = True
        self._wake()

    def end(self) -> None:
        """Say goodbye (a websocket close, unless silent) and finish."""
        with self._lock:
            self.ending = True
            self._going_away = True
        self._wake()

    def kill(self) -> None:
        """Cut the TCP connection now: no websocket close, no TLS close_notify."""
        with self._lock:
            self.ending = True
            sock = self.sock
        try:
            # socket.socket's own shutdown: SSLSocket.shutdown would drop its
            # SSL object under the connection thread's feet.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass  # already awake (buffer full) or already finished

    # --- the connection thread ------------------------------------------------

    def _run(self) -> None:
        try:
            if self._open():
                self._serve()
        except CloseReceived as exc:
            log.info("%s: the client closed the connection (%s)", self.label, exc.code)
        except PeerClosed as exc:
            if not self.ending:
                log.info("%s: the connection ended (%s)", self.label, exc)
        except WebSocketError as exc:
            log.warning("%s: closing, the client broke the websocket protocol: %s", self.label, exc)
            code, ws = exc.close_code, self.ws
            if ws is not None:
                self._try(lambda: ws.send_close(code))
        except OSError as exc:  # ssl.SSLError included
            if not self.ending:
                log.info("%s: the connection failed: %s", self.label, exc)
        finally:
            with self._lock:
                self.ending = True
            _discard_unread(self.sock)
            self._try(self.sock.close)
            self._wake_r.close()
            self._wake_w.close()
            self.sim.connection_closed(self)

    def _open(self) -> bool:
        sim = self.sim
        self.sock.settimeout(HANDSHAKE_TIMEOUT)
        if sim.transport == "tls":
            context = sim.new_tls_context(self.label)
            tls = context.wrap_socket(self.sock, server_side=True, do_handshake_on_connect=False)
            with self._lock:
                self.sock = tls  # from here kill() must reach the TLS socket
                if self.ending:
                    return False
            tls.do_handshake()
        self.ws = ws = ServerWebSocket(self.sock)
        try:
            path, headers = ws.read_upgrade()
            if urlsplit(path).path != PATH:
                log.info("%s: refused an upgrade for %s (not %s)", self.label, path, PATH)
                ws.refuse(404, "Not Found")
                return False
            if sim.refuse_upgrade:
                log.info("%s: refused the upgrade with 404, as asked", self.label)
                ws.refuse(404, "Not Found")
                return False
            ws.accept(headers)
        except WebSocketError as exc:
            log.info("%s: refused a bad upgrade request: %s", self.label, exc)
            ws.refuse(400, "Bad Request")
            return False
        self.sock.settimeout(None)
        self.codec = sim.new_codec()
        self.dialogue = Dialogue(sim.app)
        # Registered before the greeting goes out: whatever the simulator
        # notifies from then on waits in the outbox and follows the greeting.
        sim.connection_opened(self)
        self.send(self.dialogue.greeting())
        log.info("%s: session open (%s)", self.label, sim.transport.upper())
        return True

    def _serve(self) -> None:
        ws = self.ws
        assert ws is not None
        while True:
            if self.ending:
                if self._going_away and not self.silent:
                    self._try(lambda: ws.send_close(CLOSE_GOING_AWAY))
                    # FIN right behind the close frame; TCP-level, as the TLS
                    # session ends here too.
                    self._try(lambda: socket.socket.shutdown(self.sock, socket.SHUT_WR))
                return
            if self.silent:
                self._wait(None, watch_socket=False)
                continue
            self._run_outbox()
            self._deliver_due()
            if not self._wait(self._next_due(), watch_socket=True) or self.silent or self.ending:
                continue
            frame = ws.read_message()
            if frame is not None:
                self._on_frame(*frame)

    def _wait(self, timeout: float | None, watch_socket: bool) -> bool:
        """Block until the socket has data (True), or a wake-up or timeout (False)."""
        if watch_socket and ((self.ws is not None and self.ws.buffered) or _pending(self.sock)):
            return True
        watched = [self._wake_r, self.sock] if watch_socket else [self._wake_r]
        try:
            ready, _, _ = select.select(watched, [], [], timeout)
        except (OSError, ValueError):
            raise PeerClosed("socket closed") from None
        if self._wake_r in ready:
            self._wake_r.recv(4096)
        return self.sock in ready

    def _run_outbox(self) -> None:
        while True:
            with self._lock:
                if not self._outbox:
                    return
                action = self._outbox.popleft()
            action()

    def _next_due(self) -> float | None:
        if not self._delayed:
            return None
        return max(0.0, min(due for due, _ in self._delayed) - time.monotonic())

    def _deliver_due(self) -> None:
        now = time.monotonic()
        due = [o for t, o in self._delayed if t <= now]
        self._delayed = [(t, o) for t, o in self._delayed if t > now]
        for outcome in due:
            self._deliver(outcome)

    def _on_frame(self, opcode: int, payload: bytes) -> None:
        dialogue = self.dialogue
        assert dialogue is not None
        if self.codec is not None:
            if opcode != OP_BINARY:
                dialogue.violations.append("text frame on an AES connection (ignored)")
                return
            try:
                text = self.codec.decode(payload)
            except FrameError as exc:
                # The chains disagree for good; a real appliance hangs up.
                dialogue.violations.append(f"undecodable AES frame: {exc}")
                log.warning("%s: closing: %s", self.label, exc)
                raise PeerClosed(str(exc)) from None
        else:
            if opcode != OP_TEXT:
                dialogue.violations.append("binary frame on a TLS connection")
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError:
                dialogue.violations.append("frame is not UTF-8 (ignored)")
                return
        try:
            msg = Message.from_json(text)
        except ProtocolError as exc:
            dialogue.violations.append(f"not a message (ignored): {exc}")
            return
        self.sim.record(msg)
        log.debug("%s: <- %s %s", self.label, msg.action.value, msg.resource)
        fault = self.sim.faults.take(msg.resource) if msg.action in (Action.GET, Action.POST) else None
        if fault is not None and fault.code is not None:
            dialogue.check(msg)
            log.info("%s: answering %s with %d, as asked", self.label, msg.resource, fault.code)
            self.send(msg.reply(code=fault.code))
            return
        outcome = dialogue.handle(msg)
        if outcome.reason:
            log.info("%s: refused %s %s: %s", self.label, msg.action.value, msg.resource, outcome.reason)
        if fault is not None and fault.mangle is not None:
            log.info("%s: answering %s sloppily, as asked", self.label, msg.resource)
            for reply in outcome.replies:
                if not self.silent:
                    self._send_text(fault.mangle(reply))
            outcome.replies = []
            self._deliver(outcome)
            return
        if fault is not None:
            if fault.delay is not None:
                self._delayed.append((time.monotonic() + fault.delay, outcome))
            log.info("%s: holding back the answer to %s, as asked", self.label, msg.resource)
            return
        self._deliver(outcome)

    def _deliver(self, outcome: Outcome) -> None:
        for reply in outcome.replies:
            self.send(reply)
        for resource, data in outcome.notifications:
            self.sim.notify(resource, data)  # every client, this one included (via its outbox)

    # --- sending (connection thread only) ------------------------------------

    def send(self, msg: Message) -> None:
        if self.silent:
            return
        self._send_text(msg.to_json())

    def _send_text(self, text: str) -> None:
        assert self.ws is not None
        if self.codec is not None:
            self.ws.send_binary(self.codec.encode(text))
        else:
            self.ws.send_text(text)

    def send_notify(self, resource: str, data: list[dict[str, Any]]) -> None:
        """A NOTIFY of the appliance's own (Simulator.notify)."""
        assert self.dialogue is not None  # posted to open sessions only
        self.send(self.dialogue.message(resource, data))

    def send_bad_mac(self) -> None:
        assert self.ws is not None and self.codec is not None and self.dialogue is not None
        if self.silent:
            return
        frame = bytearray(self.codec.encode(self.dialogue.message(RO_VALUES, self.sim.app.mandatory_values()[:1]).to_json()))
        frame[-1] ^= 0xFF
        self.ws.send_binary(bytes(frame))

    def send_garbage(self, encrypted: bool) -> None:
        assert self.ws is not None
        if self.silent:
            return
        garbage = "this is not JSON {"
        if self.codec is None:
            self.ws.send_text(garbage)
        elif encrypted:
            self.ws.send_binary(self.codec.encode(garbage))
        else:
            self.ws.send_binary(b"\x00not an AES frame")  # 17 bytes: not a whole number of blocks

    def send_raw(self, text: str) -> None:
        """One frame of exactly ``text`` (Simulator.send_raw)."""
        if not self.silent:
            self._send_text(text)

    @staticmethod
    def _try(action: Callable[[], Any]) -> None:
        try:
            action()
        except OSError:
            pass


def _pending(sock: socket.socket) -> bool:
    # Decrypted TLS bytes can wait inside the SSL object where select() cannot see them.
    pending = getattr(sock, "pending", None)
    return bool(pending and pending())


def _discard_unread(sock: socket.socket) -> None:
    """Read away what the client sent last, so closing sends FIN, not RST.

    A reset would make the client's kernel drop what it has not read yet,
    such as our close frame. Read below TLS: nothing here is used any more.
    """
    try:
        while select.select([sock], [], [], 0)[0]:
            if not socket.socket.recv(sock, 65536, socket.MSG_DONTWAIT):
                return
    except (OSError, ValueError):
        pass
