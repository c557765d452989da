"""`hc2mqtt --check`: try the broker and every appliance once, print one table.

What a user runs when something does not work, and what an issue report
should contain: for each appliance of devices.json one handshake and the
values it brings (in parallel, one thread each), for the broker one connect,
then a row each saying what worked and, when not, why. Keys and IVs are
never printed: only what the transport and the session say, and they never
quote them.

Two halves: the probes (`check_appliance`, `check_broker`, `run_check`) do
the I/O and fill one dataclass per row; `render` turns rows into text and
is pure (tests/test_check.py tests it without a network).
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..appliance.devices import load_devices
from ..appliance.entry import ApplianceEntry
from ..errors import (
    ApplianceError,
    ConnectError,
    ConnectionClosed,
    HcpyError,
    KeyRejected,
    ProtocolError,
    RequestTimeout,
)
from ..mqtt.bridge import BridgeSettings
from ..mqtt.client import paho
from ..mqtt.link import UNSUPPORTED_PROTOCOL, MqttSettings, connect_failure, paho_client, refusal_hint
from ..protocol import mdns
from ..protocol.identity import installation_device_id
from ..protocol.message import Message
from ..protocol.session import Session, Values
from ..protocol.transport import AES_PORT, TLS_PORT, Endpoint, Timing, Transport

log = logging.getLogger("hcpy.check")

OK = "ok"
# Where a lookup by haId found an appliance: an IPv4 address, an object with
# `address` and `port` (mdns.Found), or None.
Resolver = Callable[[str], Any]


# -- rows (pure) ------------------------------------------------------------------


@dataclass(frozen=True)
class ApplianceRow:
    """What the check found out about one appliance. Never holds a key."""

    name: str
    host: str  # as configured (with the domain suffix)
    address: str = ""  # "ip:port" where it was tried; "" when the host did not resolve
    transport: str = ""  # "tls" or "aes"
    problem: str = ""  # "" when the handshake worked, else a few words ("connection refused")
    detail: str = ""  # the full sentence behind `problem`
    hint: str = ""  # what to check, when the failure points at something ("nothing listens on …: is it on?")
    key: str = "unknown"  # "ok", "wrong" or "unknown" (nothing answered that could tell)
    features: int | None = None  # in its profile; None for an entry that could not be read
    firmware: str = ""  # from the handshake's device info
    values: int = 0  # values read in the handshake
    # The address was found by mDNS (the configured host did not answer, and
    # mDNS heard the appliance somewhere else); the row then says "(mDNS)".
    found_by_mdns: bool = False

    @property
    def ok(self) -> bool:
        return not self.problem


@dataclass(frozen=True)
class BrokerRow:
    host: str
    port: int
    tls: bool = False
    problem: str = ""
    detail: str = ""
    version: str = ""  # the MQTT version it accepted: "5.0" or "3.1.1"

    @property
    def ok(self) -> bool:
        return not self.problem


@dataclass(frozen=True)
class CheckReport:
    appliances: list[ApplianceRow]
    broker: BrokerRow
    notes: list[str]  # problems that are no row's (devices.json unreadable, entries left out)

    @property
    def ok(self) -> bool:
        return self.broker.ok and not self.notes and bool(self.appliances) and all(a.ok for a in self.appliances)


_HEADER = ("NAME", "HOST {arrow} ADDRESS", "TRANSPORT", "HANDSHAKE", "KEY", "FEATURES", "FIRMWARE")


def _cells(row: ApplianceRow | BrokerRow, arrow: str) -> tuple[str, ...]:
    if isinstance(row, BrokerRow):
        where = f"{row.host}:{row.port}"
        handshake = OK if row.ok else f"failed: {row.problem}"
        return ("MQTT broker", where, "mqtt+tls" if row.tls else "mqtt", handshake, "-", "-",
                f"MQTT {row.version}" if row.version else "-")  # fmt: skip
    address = row.address or "?"
    if row.found_by_mdns:
        address += " (mDNS)"
    # A host that is an address is shown once, with the port.
    same = row.address and row.address.rsplit(":", 1)[0].strip("[]") == row.host and not row.found_by_mdns
    where = address if same else f"{row.host} {arrow} {address}"
    handshake = OK if row.ok else f"failed: {row.problem}"
    features = "-" if row.features is None else str(row.features)
    return (row.name, where, row.transport or "-", handshake, row.key, features, row.firmware or "-")


def render(report: CheckReport, arrow: str = "→") -> str:
    """The table, the reasons behind each failure, and a verdict line."""
    header = tuple(h.format(arrow=arrow) for h in _HEADER)
    rows = [_cells(a, arrow) for a in report.appliances] + [_cells(report.broker, arrow)]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(header), *(line(r) for r in rows)]
    details = []
    for a in report.appliances:
        if not a.ok:
            details.append(f"{a.name}: {a.detail or a.problem}")
            if a.hint:
                details.append(f"  {a.hint}")
    if not report.broker.ok:
        b = report.broker
        details.append(f"MQTT broker {b.host}:{b.port}: {b.detail or b.problem}")
    details += report.notes
    if details:
        out += ["", *details]
    good = sum(a.ok for a in report.appliances)
    broker = "the broker is reachable" if report.broker.ok else "the broker is not"
    if report.ok:
        out += ["", f"All ok: {good} appliance(s) answered and {broker}."]
    else:
        out += ["", f"Not ok: {good} of {len(report.appliances)} appliance(s) answered and {broker}."]
    return "\n".join(out) + "\n"


# -- appliances (I/O) ------------------------------------------------------------


def _cause(exc: BaseException) -> BaseException | None:
    """The error the transport caught (it raises its own `from None`, keeping it as the context)."""
    return exc.__cause__ or exc.__context__


def _short(exc: BaseException) -> str:
    """A few words for the table; the full message goes under it."""
    if isinstance(exc, KeyRejected):
        return "wrong key"
    if isinstance(exc, ConnectError):
        cause = _cause(exc)
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "host does not resolve"
        if isinstance(cause, (TimeoutError, socket.timeout)):
            return "no answer (timed out)"
        if isinstance(cause, OSError) and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "unreachable"
        if "refused the websocket upgrade" in str(exc):
            return "websocket refused"
        return "cannot connect"
    if isinstance(exc, RequestTimeout):
        return "no answer in the handshake"
    if isinstance(exc, ConnectionClosed):
        return "connection lost"
    if isinstance(exc, ApplianceError):
        return f"refused {exc.resource} ({exc.code})"
    if isinstance(exc, ProtocolError):
        return "protocol error"
    return type(exc).__name__


def _hint(exc: BaseException, endpoint: Endpoint, timing: Timing) -> str:
    """What to check after a failed connect to `endpoint`; "" when the failure points at nothing in particular."""
    if not isinstance(exc, ConnectError) or isinstance(exc, KeyRejected):
        return ""  # a wrong key's sentence says what to do already
    cause, host = _cause(exc), endpoint.host
    if isinstance(cause, socket.gaierror):
        return (f"the name {host} does not resolve: give the appliance's IP address as host in devices.json, "
                "or run hc-login scan")  # fmt: skip
    if isinstance(cause, ConnectionRefusedError):
        return (f"nothing listens on {host}:{endpoint.actual_port}: is the appliance on and on this network? "
                f"TLS appliances listen on {TLS_PORT}, AES on {AES_PORT}")  # fmt: skip
    if isinstance(cause, (TimeoutError, socket.timeout)):
        return f"no answer from {host} within {timing.connect:g} s: wrong address, or a firewall/VLAN between"
    if isinstance(cause, OSError) and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return f"no route to {host}: wrong address, or the appliance is on another network (VLAN)"
    return ""


def _addresses(host: str) -> set[str]:
    """The addresses `host` stands for now (itself when it is one); empty when it does not resolve."""
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)}
    except (OSError, UnicodeError):
        return set()


def _address(host: str, port: int) -> str:
    """"ip:port" the host stands for now; "" when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return ""
    ip = str(infos[0][4][0]) if infos else ""
    if not ip:
        return ""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _unanswered(exc: ConnectError) -> bool:
    """Nothing answered there (as the connection decides when to ask mDNS)."""
    return isinstance(_cause(exc), OSError)


def _handshake(endpoint: Endpoint, device_id: str, timing: Timing, request_timeout: float, name: str) -> tuple[dict[str, Any], int]:
    """One session: connect, handshake (with its read of every value), close. Returns (device_info, values)."""
    values: list[Any] = []

    class Listener:
        def on_values(self, items: Values) -> None:
            values.extend(items)

        def on_description_changes(self, items: Values) -> None:
            pass

        def on_message(self, message: Message) -> None:
            pass

    applog = logging.getLogger(f"hcpy.appliance.{name}")
    session = Session(
        Transport(endpoint, timing, applog),
        device_id=device_id,
        listener=Listener(),
        request_timeout=request_timeout,
        log=applog,
    )
    try:
        session.connect()
        return dict(session.device_info), len(values)
    finally:
        session.close("hcpy --check is done")


def _firmware(info: dict[str, Any]) -> str:
    for key in ("swVersion", "softwareVersion", "firmwareVersion", "version"):
        value = info.get(key)
        if value not in (None, ""):
            return str(value)
    return ""


def check_appliance(
    entry: ApplianceEntry,
    *,
    device_id: str,
    domain_suffix: str = "",
    timing: Timing = Timing(connect=5.0),
    request_timeout: float = 10.0,
    resolver: Resolver | None = mdns.locate,
) -> ApplianceRow:
    host = f"{entry.host}.{domain_suffix}" if domain_suffix else entry.host
    endpoint = Endpoint(host, entry.psk, entry.iv_bytes, entry.port)
    row = ApplianceRow(
        name=entry.name,
        host=host,
        address=_address(host, endpoint.actual_port),
        transport=entry.transport,
        features=len(entry.profile.features),
    )
    try:
        try:
            info, values = _handshake(endpoint, device_id, timing, request_timeout, entry.name)
        except ConnectError as exc:
            found = _locate(entry, resolver) if _unanswered(exc) else None
            if found is None:
                raise
            address, port = found
            elsewhere = replace(endpoint, host=address, port=port or endpoint.port)
            if elsewhere.actual_port == endpoint.actual_port and address in _addresses(endpoint.host):
                raise  # mDNS heard it where it was tried: nothing new to try, and no "(mDNS)" to say
            endpoint = elsewhere
            row = replace(row, address=_address(address, endpoint.actual_port), found_by_mdns=True)
            info, values = _handshake(endpoint, device_id, timing, request_timeout, entry.name)
    except KeyRejected as exc:
        return replace(row, problem=_short(exc), detail=str(exc), key="wrong")
    except HcpyError as exc:
        # Past the transport (a session error), the key was good: frames authenticated.
        key = "unknown" if isinstance(exc, ConnectError) else OK
        return replace(row, problem=_short(exc), detail=str(exc), key=key, hint=_hint(exc, endpoint, timing))
    except Exception as exc:  # noqa: BLE001 - one appliance's surprise must not hide the others' rows
        log.debug("%s: check failed", entry.name, exc_info=True)
        return replace(row, problem=type(exc).__name__, detail=f"unexpected error: {exc!r}")
    return replace(row, key=OK, firmware=_firmware(info), values=values)


def _locate(entry: ApplianceEntry, resolver: Resolver | None) -> tuple[str, int | None] | None:
    if entry.ha_id is None or resolver is None:
        return None
    try:
        found = resolver(entry.ha_id)
    except Exception as exc:  # noqa: BLE001 - a lookup is a bonus
        log.debug("mDNS lookup of %s failed: %s", entry.ha_id, exc)
        return None
    if found is None or isinstance(found, str):
        return (found, None) if found else None
    address = getattr(found, "address", None)
    return (address, getattr(found, "port", None) or None) if address else None


# -- the broker (I/O) --------------------------------------------------------------


def check_broker(s: MqttSettings, client_id: str, timeout: float = 5.0) -> BrokerRow:
    """One connect (MQTT 5, or MQTT 3.1.1 when the broker refuses 5), then a clean disconnect."""
    row = BrokerRow(host=s.host, port=s.port, tls=s.ssl)
    for protocol, version in ((paho.MQTTv5, "5.0"), (paho.MQTTv311, "3.1.1")):
        answer: list[paho.ReasonCode] = []
        try:
            client = paho_client(s, client_id, protocol)
            client.connect_timeout = timeout
            client.on_connect = lambda c, u, flags, rc, props, answer=answer: answer.append(rc)
            if protocol == paho.MQTTv5:
                client.connect(s.host, s.port, keepalive=30, clean_start=True)
            else:
                client.connect(s.host, s.port, keepalive=30)
        except (OSError, ValueError) as exc:  # refused, unreachable, DNS, TLS, a bad cafile
            why = connect_failure(exc)
            return replace(row, problem=why.split(":")[0].split(" (")[0], detail=why)
        try:
            deadline = time.monotonic() + timeout
            while not answer and time.monotonic() < deadline:
                if client.loop(timeout=0.2) not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_AGAIN):
                    break
            if not answer:
                closed = client.socket() is None
                why = ("it closed the connection without accepting it" if closed
                       else f"no answer to CONNECT within {timeout:.0f} s")  # fmt: skip
                return replace(row, problem="no CONNACK", detail=why)
            reason = answer[0]
            if reason.is_failure and reason.value == UNSUPPORTED_PROTOCOL and protocol == paho.MQTTv5:
                continue
            if reason.is_failure:
                return replace(row, problem=f"refused ({reason})",
                               detail=f"refused the connection: {reason}{refusal_hint(reason)}")  # fmt: skip
            return replace(row, version=version)
        finally:
            try:
                if client.is_connected():
                    client.disconnect()
                    client.loop(timeout=0.1)
            except Exception:  # noqa: BLE001 - leaving, whatever the socket says
                pass
            sock = client.socket()
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
    return replace(row, problem="no MQTT version accepted", detail="it refused MQTT 5 and MQTT 3.1.1")


# -- all of it -------------------------------------------------------------------


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def run_check(
    devices_file: str,
    mqtt: MqttSettings,
    settings: BridgeSettings,
    names: tuple[str, ...] = (),
    *,
    timing: Timing = Timing(connect=5.0),
    request_timeout: float = 10.0,
    broker_timeout: float = 5.0,
) -> CheckReport:
    notes: list[str] = []
    entries: list[ApplianceEntry] = []
    skipped = _Collect()
    devices_log = logging.getLogger("hcpy.devices")
    devices_log.addHandler(skipped)
    try:
        entries = load_devices(devices_file, skip_broken=True)
    except (HcpyError, OSError) as exc:
        notes.append(str(exc))
    finally:
        devices_log.removeHandler(skipped)
    notes += skipped.messages  # entries left out: said under the table too
    if names:
        unknown = set(names) - {e.name for e in entries}
        if unknown:
            notes.append(f"{devices_file} has no appliance named {', '.join(sorted(unknown))}")
        entries = [e for e in entries if e.name in names]
    elif not entries and not notes:
        notes.append(f"{devices_file} lists no appliances; run hc-login first")

    device_id = settings.device_id or installation_device_id(Path(devices_file).parent)
    # Not the bridge's own client id: a check must not take over a running bridge's session.
    client_id = f"hcpy-check-{device_id[:12]}"
    with ThreadPoolExecutor(max_workers=len(entries) + 1, thread_name_prefix="check") as pool:
        broker = pool.submit(check_broker, mqtt, client_id, broker_timeout)
        rows = [
            pool.submit(
                check_appliance, entry, device_id=device_id, domain_suffix=settings.domain_suffix,
                timing=timing, request_timeout=request_timeout, resolver=settings.resolver,
            )  # fmt: skip
            for entry in entries
        ]
        return CheckReport([r.result() for r in rows], broker.result(), notes)


def main(devices_file: str, mqtt: MqttSettings, settings: BridgeSettings, names: tuple[str, ...] = ()) -> int:
    """What `hc2mqtt --check` does: the table on stdout; 0 when everything is ok, else 1."""
    import sys

    report = run_check(devices_file, mqtt, settings, names)
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "→".encode(encoding)
        arrow = "→"
    except (UnicodeEncodeError, LookupError):
        arrow = "->"
    sys.stdout.write(render(report, arrow))
    sys.stdout.flush()
    return 0 if report.ok else 1
