"""Where the Home Connect cloud lives, region by region, and which region to ask first.

Every URL lives in `REGIONS`; `endpoints(region, base_override)` points them
all at one other base (a local fake cloud in the tests; a `{region}` in it
gives each region a base of its own). The account's region comes from the
token; the others are asked when its services host has nothing (`download`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from urllib.parse import quote

from ..errors import CloudError


@dataclass(frozen=True)
class Endpoints:
    """Where one region's cloud lives: the login host and the services host."""

    region: str
    auth_base: str
    services_base: str

    @property
    def authorize(self) -> str:
        return f"{self.auth_base}/security/oauth/authorize"

    @property
    def token(self) -> str:
        return f"{self.auth_base}/security/oauth/token"

    def paired_appliances(self, account_id: str) -> str:
        return f"{self.services_base}/api/account/v2/accounts/{_seg(account_id)}/paired-appliances"

    def encryption_information(self, ha_id: str) -> str:
        return f"{self.services_base}/api/appliance/v2/appliances/{_seg(ha_id)}/encryption-information"

    def iddf(self, ha_id: str) -> str:
        return f"{self.services_base}/api/iddf/v1/iddf/{_seg(ha_id)}"


# BSH moves these every year or two; this table is the only place they live.
REGIONS: dict[str, Endpoints] = {
    "EU": Endpoints("EU", "https://api.home-connect.com", "https://eu.services.home-connect.com"),
    "NA": Endpoints("NA", "https://api-rna.home-connect.com", "https://na.services.home-connect.com"),
    "CN": Endpoints("CN", "https://api.home-connect.cn", "https://cn.services.home-connect.cn"),
}


# A region's services host, tried when the account's own one answers 401 or
# an empty list. Not CN: it is a cloud of its own (its own login host),
# whose accounts cannot log in at the others' and whose services would only
# be handed a token of another cloud; it is asked only when named.
FALLBACK_REGIONS = ("EU", "NA")
DEFAULT_REGION = "EU"


def endpoints(region: str = DEFAULT_REGION, base_override: str | None = None) -> Endpoints:
    """The region's URLs, or all of them under `base_override` (e.g. a local test server).

    A `{region}` in `base_override` becomes the region's name in lower case,
    so a test server can play every region's hosts under one port.
    """
    key = region.strip().upper()
    if key not in REGIONS:
        raise CloudError(f"unknown region {region!r}: use one of {', '.join(REGIONS)}")
    found = REGIONS[key]
    if base_override:
        base = base_override.replace("{region}", key.lower()).rstrip("/")
        return replace(found, auth_base=base, services_base=base)
    return found


def region_order(claimed: str | None, given: str | None) -> list[str]:
    """The regions whose services host to ask for the paired appliances, in order.

    The token's claim first (it is the account's own word), then the
    region the user named, then the usual ones.
    """
    order: list[str] = []
    for region in (claimed, given, *FALLBACK_REGIONS):
        if region and region.upper() in REGIONS and region.upper() not in order:
            order.append(region.upper())
    return order


def region_note(answered: str, given: str | None, passed_over: Sequence[str]) -> str | None:
    """The line that tells the user to name the region next time, when that would have helped.

    Said when the region in effect (the one named, else EU) is not the
    account's and either the user named it or a region was tried in vain;
    a token that names the right region needs no word.
    """
    in_effect = (given or DEFAULT_REGION).upper()
    if answered == in_effect or not (given or passed_over):
        return None
    return f"wrong region: this account lives in {answered}; next time run hc-login --region {answered}"


def _seg(value: str) -> str:
    return quote(value, safe="")
