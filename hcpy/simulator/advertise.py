"""Announces simulated appliances over mDNS, as real ones announce themselves.

    with Advertiser(["127.0.0.1"]) as adv:
        adv.add(sim, ha_id="SIEMENS-SN658X06TE-68A40E000001")

Each simulator becomes a `_homeconnect._tcp.local.` service at its host and
port, with the TXT record of a real appliance (`protocol.mdns.announcement`),
so `hc_login.py --scan` and the daemon's lookup by haId find it.

The announcements go out only on the interfaces given: tests and the
simulator's default keep them on loopback, never on the LAN.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Sequence
from typing import Any

from ..protocol.mdns import SERVICE_TYPE, announcement
from .server import Simulator

log = logging.getLogger("hcpy.simulator")


def default_ha_id(sim: Simulator) -> str:
    """A haId in the BRAND-VIB-MAC form many appliances have, from the simulated device info."""
    info = sim.app.info
    mac = "".join(c for c in str(info.get("mac", "")) if c.isalnum()).upper()
    parts = [str(info.get("brand") or "SIM"), str(info.get("vib") or "APPLIANCE"), mac or "000000000000"]
    return "-".join(p.upper() for p in parts)


class Advertiser:
    """One Zeroconf responder for any number of simulators."""

    def __init__(self, interfaces: Sequence[str] = ("127.0.0.1",)):
        if not interfaces:
            # Announcing on every interface is never what a simulator wants by accident.
            raise ValueError("give the IPv4 address(es) of the interface(s) to announce on")
        from zeroconf import IPVersion, Zeroconf

        self.interfaces = list(interfaces)
        self._zc = Zeroconf(interfaces=self.interfaces, ip_version=IPVersion.V4Only)
        self._services: dict[str, Any] = {}  # haId -> its ServiceInfo
        self._lock = threading.Lock()

    def add(self, sim: Simulator, ha_id: str | None = None, address: str | None = None) -> str:
        """Announce `sim` (started) as the appliance `ha_id`; returns the haId.

        `address` is the IPv4 address announced: the simulator's own host by
        default, which must then be a concrete address (not 0.0.0.0).
        Blocks for the probing mDNS asks before a name is claimed (about 1 s).
        """
        from zeroconf import ServiceInfo

        ha_id = ha_id or default_ha_id(sim)
        address = address or sim.host
        try:
            ip = ipaddress.IPv4Address(address)
        except ValueError:
            raise ValueError(f"mDNS announces an IPv4 address; {address!r} is not one") from None
        if ip.is_unspecified:
            raise ValueError(f"the simulator listens on {address}: give the address to announce")
        desc = sim.app.profile.description
        device = sim.app.info
        name, server, properties = announcement(
            ha_id,
            str(device.get("brand") or desc.brand),
            desc.type,
            vib=str(device.get("vib") or desc.model),
            mac=str(device.get("mac", "")).replace("-", ""),
            tls=sim.transport == "tls",
        )
        info = ServiceInfo(
            SERVICE_TYPE, name, addresses=[socket.inet_aton(str(ip))], port=sim.port, properties=properties, server=server
        )
        with self._lock:
            if ha_id in self._services:
                raise ValueError(f"{ha_id} is already announced; remove() it first")
            self._services[ha_id] = info
        try:
            self._zc.register_service(info)
        except BaseException:
            with self._lock:
                self._services.pop(ha_id, None)
            raise
        log.info("%s: announced by mDNS as %s at %s:%d", sim.name, ha_id, ip, sim.port)
        return ha_id

    def remove(self, ha_id: str) -> None:
        """Withdraw an announcement (a goodbye packet, as an appliance switching off sends)."""
        with self._lock:
            info = self._services.pop(ha_id, None)
        if info is not None:
            self._zc.unregister_service(info)

    @property
    def announced(self) -> list[str]:
        with self._lock:
            return sorted(self._services)

    def close(self) -> None:
        for ha_id in self.announced:
            self.remove(ha_id)
        self._zc.close()

    def __enter__(self) -> Advertiser:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
