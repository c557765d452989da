"""The paired appliances as the cloud lists them, and the key each one has.

Keys and IVs never show in a repr.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PairedAppliance:
    ha_id: str
    brand: str
    ha_type: str
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def label(self) -> str:
        """How the user recognises it before its profile is known."""
        what = " ".join(p for p in (self.brand, self.ha_type) if p)
        return f"{what} ({self.ha_id})" if what else self.ha_id


@dataclass(frozen=True)
class Encryption:
    key: str = field(repr=False)
    iv: str | None = field(repr=False, default=None)

    @property
    def transport(self) -> str:
        return "AES" if self.iv else "TLS"


def appliance_host(appliance: PairedAppliance, tls: bool) -> str:
    """The name a new entry's `host` gets: the one the appliance announces on the network.

    TLS appliances announce BRAND-TYPE-HAID (hcpy2-0 writes the same),
    unless the haId already starts with the brand (BRAND-VIB-MAC ids),
    which is then the name itself; AES appliances announce the haId.
    """
    ha_id = appliance.ha_id
    named = ha_id.upper().startswith(appliance.brand.upper() + "-")
    if not tls or not appliance.brand or not appliance.ha_type or named:
        return ha_id
    host = f"{appliance.brand}-{appliance.ha_type}-{ha_id}"
    return "".join(c if c.isalnum() or c == "-" else "-" for c in host)  # one DNS label


def _str(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def encryption_from(body: Any) -> Encryption | None:
    """The key (and IV) in an encryption-information answer; TLS first.

    When both are there the appliance speaks TLS; the AES material is for
    older firmware. hcpy2-0, the profile downloader and the HA integration
    all take TLS first too.
    """
    if isinstance(body, dict) and not ({"tls", "aes"} & body.keys()) and isinstance(body.get("data"), dict):
        body = body["data"]
    if not isinstance(body, dict):
        return None
    tls, aes = body.get("tls"), body.get("aes")
    if isinstance(tls, dict) and _str(tls.get("key")):
        return Encryption(key=tls["key"])
    if isinstance(aes, dict) and _str(aes.get("key")) and _str(aes.get("iv")):
        return Encryption(key=aes["key"], iv=aes["iv"])
    return None


def is_demo(appliance: PairedAppliance) -> bool:
    return appliance.raw.get("isDemo") in (True, "true", "True")
