"""Finding appliances on the local network by mDNS (PROTOCOL.md, end of §6).

Appliances announce the service `_homeconnect._tcp.local.`. Its TXT record
carries `id` (the haId), `brand`, `type`, `vib`, `mac` and `tls`; the host
name it points to is usually the haId or BRAND-TYPE-HAID (``.local.``), and
the instance name differs between firmwares (the haId, or "Type Brand vib"),
so the haId is read from TXT `id` first and from the names only without it.

Two halves: the records read into a `Found` (`found_from`, `matches`, and
`announcement` for the simulator's side) are pure and tested without a
network; `browse`, `locate` and `resolve` do the multicast I/O with
python-zeroconf, each on a Zeroconf instance of its own that is closed
before they return, so nothing keeps listening between lookups.

`interfaces` (IPv4 addresses) limits where a lookup listens and asks; None
is every interface. Tests pass ``["127.0.0.1"]`` so nothing leaves the host.
"""

from __future__ import annotations

import ipaddress
import logging
import queue
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zeroconf import Zeroconf

log = logging.getLogger("hcpy.mdns")

SERVICE_TYPE = "_homeconnect._tcp.local."
# One lookup's answer normally comes whole in the announcement the browser
# hears (PTR, SRV, TXT and A together); asking for missing parts is bounded
# so that one silent appliance cannot use up a scan.
_REQUEST_LIMIT = 2.0


@dataclass(frozen=True)
class Found:
    """One appliance heard on the network."""

    ha_id: str
    brand: str
    type: str
    address: str | None  # IPv4; None when the announcement carried none
    port: int | None
    name: str  # the service instance name, without the service type
    vib: str = ""
    tls: bool | None = None  # TXT `tls`; None when absent or unreadable
    server: str = ""  # the host name announced, without ".local."


# -- pure: announcements <-> Found ------------------------------------------------


# zeroconf's ServiceInfo.properties (bytes), or text (tests, other sources).
TxtProperties = Mapping[bytes, bytes | None] | Mapping[str, str | None]


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value.strip()


def decode_txt(properties: TxtProperties) -> dict[str, str]:
    """TXT properties as text, keys lowercased (DNS-SD keys ignore case, RFC 6763 §6.4)."""
    return {_text(key).lower(): _text(value) for key, value in properties.items() if _text(key)}


def instance_label(name: str, service_type: str = SERVICE_TYPE) -> str:
    """The instance part of a service name: "X._homeconnect._tcp.local." -> "X"."""
    name = name.rstrip(".")
    suffix = "." + service_type.rstrip(".")
    if name.lower().endswith(suffix.lower()):
        name = name[: -len(suffix)]
    return name.strip()


def host_label(server: str | None) -> str:
    """The host name without the ".local." every mDNS name ends with."""
    host = (server or "").strip().rstrip(".")
    if host.lower().endswith(".local"):
        host = host[: -len(".local")]
    return host


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    value = value.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    return None


def _first_ipv4(addresses: Sequence[str]) -> str | None:
    for address in addresses:
        try:
            if ipaddress.ip_address(address).version == 4:
                return str(address)
        except ValueError:
            continue
    return None


def found_from(
    name: str,
    properties: TxtProperties,
    addresses: Sequence[str] = (),
    port: int | None = None,
    server: str | None = None,
) -> Found | None:
    """What one service announcement says about its appliance.

    None when it names no appliance at all (no TXT `id`, no host or
    instance name to take the haId from).
    """
    txt = decode_txt(properties)
    label = instance_label(name)
    host = host_label(server)
    ha_id = txt.get("id") or host or label
    if not ha_id:
        return None
    return Found(
        ha_id=ha_id,
        brand=txt.get("brand", ""),
        type=txt.get("type", ""),
        address=_first_ipv4(addresses),
        port=port if isinstance(port, int) and 0 < port < 65536 else None,
        name=label,
        vib=txt.get("vib", ""),
        tls=_flag(txt.get("tls")),
        server=host,
    )


# haIds are long; a suffix match on a few characters would be a coincidence.
_MIN_SUFFIX = 6


def matches(found: Found, ha_id: str) -> bool:
    """Whether `found` is the appliance devices.json knows by `ha_id`.

    Equal ids (ignoring case), or one is the other's last part: a host name
    BRAND-TYPE-HAID ends with the bare haId, and a devices.json may hold
    either form.
    """
    want = ha_id.strip().lower()
    if not want:
        return False
    names = [n.lower() for n in (found.ha_id, found.server, found.name) if n]
    for known in names:
        if known == want:
            return True
        if len(want) >= _MIN_SUFFIX and known.endswith("-" + want):
            return True
    have = found.ha_id.lower()
    return len(have) >= _MIN_SUFFIX and want.endswith("-" + have)


def announcement(
    ha_id: str, brand: str, type_: str, vib: str = "", mac: str = "", tls: bool = True
) -> tuple[str, str, dict[str, str]]:
    """(service name, host name, TXT properties) an appliance announces.

    Shaped like real ones: the host is BRAND-TYPE-HAID (just the haId when
    that already starts with the brand), the TXT keys as PROTOCOL.md lists.
    The instance name is the host name, which the haId makes unique.
    """
    host = ha_id if not brand or ha_id.upper().startswith(brand.upper() + "-") else f"{brand}-{type_}-{ha_id}"
    host = "".join(c if c.isalnum() or c == "-" else "-" for c in host)  # a DNS label
    properties = {"txtvers": "1", "id": ha_id, "brand": brand, "type": type_, "vib": vib, "mac": mac,
                  "tls": "true" if tls else "false"}  # fmt: skip
    return f"{host}.{SERVICE_TYPE}", f"{host}.local.", {k: v for k, v in properties.items() if v}


# -- I/O: asking the network --------------------------------------------------------


def _zeroconf(interfaces: Sequence[str] | None) -> Zeroconf:
    # Imported here: only the lookups need the library, not the parsing above.
    from zeroconf import InterfaceChoice, IPVersion, Zeroconf

    # IPv4 only: devices.json and the transport want an IPv4 address, and
    # appliances answer on IPv4.
    return Zeroconf(interfaces=list(interfaces) if interfaces else InterfaceChoice.All, ip_version=IPVersion.V4Only)


def browse(
    timeout: float,
    *,
    interfaces: Sequence[str] | None = None,
    enough: Callable[[list[Found]], bool] | None = None,
) -> list[Found]:
    """Every appliance heard within `timeout` seconds, sorted by haId.

    Returns early once `enough(found so far)` is true. Raises OSError when
    no multicast socket could be opened.
    """
    from zeroconf import DNSQuestionType, Error, IPVersion, ServiceBrowser, ServiceInfo, ServiceStateChange

    deadline = time.monotonic() + timeout
    heard: queue.Queue[str] = queue.Queue()

    def on_change(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        # On zeroconf's thread: only note the name; the request below blocks.
        if state_change in (ServiceStateChange.Added, ServiceStateChange.Updated):
            heard.put(name)

    zc = _zeroconf(interfaces)
    found: dict[str, Found] = {}
    try:
        # QM: answers by multicast. A unicast answer (QU, zeroconf's default
        # first question) reaches only one of the sockets sharing port 5353
        # on this host, which may be another responder's (the simulator's, or
        # a desktop's mDNS daemon), and the lookup would wait for the retry.
        browser = ServiceBrowser(zc, SERVICE_TYPE, handlers=[on_change], question_type=DNSQuestionType.QM)
        try:
            while (left := deadline - time.monotonic()) > 0:
                try:
                    name = heard.get(timeout=left)
                except queue.Empty:
                    break
                info = ServiceInfo(SERVICE_TYPE, name)
                wait = max(0.05, min(left, _REQUEST_LIMIT))
                try:
                    answered = info.request(zc, wait * 1000, question_type=DNSQuestionType.QM)
                except Error as exc:  # e.g. zeroconf's loop too busy to answer in time
                    log.debug("mDNS: asking %s failed: %r", name, exc)
                    continue
                if not answered:
                    log.debug("mDNS: %s did not describe itself within %.1f s", name, wait)
                    continue
                item = found_from(name, info.properties, info.parsed_addresses(IPVersion.V4Only), info.port, info.server)
                if item is None:
                    continue
                found[name] = item
                if enough is not None and enough(list(found.values())):
                    break
        finally:
            browser.cancel()
    finally:
        zc.close()
    return sorted(found.values(), key=lambda f: (f.ha_id, f.name))


def locate(ha_id: str, timeout: float = 3.0, *, interfaces: Sequence[str] | None = None) -> Found | None:
    """The appliance with this haId as it announces itself now (with an IPv4 address), or None.

    Never raises: a lookup that cannot even listen is logged and finds nothing.
    """
    try:
        heard = browse(
            timeout,
            interfaces=interfaces,
            enough=lambda items: any(f.address and matches(f, ha_id) for f in items),
        )
    except OSError as exc:
        log.warning("mDNS lookup of %s failed: %s", ha_id, exc)
        return None
    return next((f for f in heard if f.address and matches(f, ha_id)), None)


def resolve(ha_id: str, timeout: float = 3.0, *, interfaces: Sequence[str] | None = None) -> str | None:
    """The current IPv4 address of the appliance with this haId, or None."""
    found = locate(ha_id, timeout, interfaces=interfaces)
    return found.address if found else None
