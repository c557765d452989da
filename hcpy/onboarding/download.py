"""The whole fetch: every paired appliance's key and profile, or a reason it was skipped.

What real accounts need beyond the happy path: a 401 or an empty list from
one region's services host means "try the next region" (`list_paired`); an
appliance the cloud refuses this account (403: shared or restricted) is
skipped, the others are written.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from ..appliance.entry import ApplianceEntry
from ..errors import CloudError, HcpyError
from .client import CloudClient
from .importer import entry_from_profile_zip
from .oauth import Token
from .paired import PairedAppliance, appliance_host, is_demo
from .regions import DEFAULT_REGION, Endpoints, region_note

log = logging.getLogger("hcpy.cloud")


@dataclass
class Download:
    entries: list[ApplianceEntry] = field(default_factory=list)  # in the cloud's order
    fetched: list[PairedAppliance] = field(default_factory=list)  # the appliance of each entry
    profiles: list[bytes] = field(default_factory=list, repr=False)  # the profile zip of each entry
    skipped: list[str] = field(default_factory=list)  # one sentence per appliance that failed
    paired: int = 0  # real (non-demo) appliances the account has
    demo: int = 0
    region: str = DEFAULT_REGION  # the region whose services host gave the list
    asked: list[str] = field(default_factory=list)  # every region asked for the list, in order


@dataclass(frozen=True)
class Listing:
    client: CloudClient  # pointed at the region it came from
    appliances: list[PairedAppliance]
    passed_over: list[str]  # regions asked before that answered 401 or no appliance
    asked: list[str]


def list_paired(client: CloudClient, token: Token, regions: Sequence[Endpoints]) -> Listing:
    """The paired appliances from the first region whose services host lists some.

    A 401 or a list without real appliances moves on to the next region:
    that is how a services host answers an account of another region. Any
    other failure (a timeout, a 5xx) is raised at once: another region
    cannot mend the network. When no region lists an appliance the first
    empty list is returned; when every region refused, the first refusal
    is raised (the login itself is then at fault).
    """
    asked: list[str] = []
    hosts: set[str] = set()
    passed_over: list[str] = []
    first_empty: Listing | None = None
    refusal: CloudError | None = None
    for ep in regions or [client.endpoints]:
        if ep.services_base in hosts:
            continue  # one base plays every region (--cloud-base without {region}): asking again tells nothing
        hosts.add(ep.services_base)
        asked.append(ep.region)
        regional = client.at(ep)
        try:
            found = regional.paired_appliances(token)
        except CloudError as exc:
            if exc.status != 401:
                raise
            log.debug("region %s refused the list of paired appliances", ep.region)
            refusal = refusal or exc
            passed_over.append(ep.region)
            continue
        if any(not is_demo(a) for a in found):
            return Listing(regional, found, list(passed_over), asked)
        first_empty = first_empty or Listing(regional, found, [], asked)
        passed_over.append(ep.region)
    if first_empty is not None:
        return replace(first_empty, passed_over=passed_over, asked=asked)
    assert refusal is not None  # every region asked raised or answered
    raise refusal


def forbidden_reason(what: str) -> str:
    """Why an appliance answered 403 was skipped, and what gets it."""
    return (
        f"the cloud refuses this account its {what} (HTTP 403), as for an appliance shared with you or "
        "restricted by its owner; run hc-login with the owner's account to get it"
    )


def download(
    client: CloudClient,
    token: Token,
    *,
    regions: Sequence[Endpoints] = (),
    given_region: str | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> Download:
    """Fetch key and profile of every paired appliance.

    `regions` are the services hosts to ask for the list, in order
    (`region_order`; default: the client's own); `given_region` is the one
    the user named, for the "wrong region" line. One appliance's failure
    (403, 404, timeout, a broken zip or profile) skips only that appliance,
    with a warning naming it; a refused login (401) fails the whole
    download, since every later request would fail too.
    """
    result = Download()
    listing = list_paired(client, token, regions or [client.endpoints])
    regional = listing.client
    result.region, result.asked = regional.endpoints.region, listing.asked
    real = [a for a in listing.appliances if not is_demo(a)]
    result.paired, result.demo = len(real), len(listing.appliances) - len(real)
    note = region_note(result.region, given_region, listing.passed_over) if real else None
    if note:
        progress(note)
    demo_note = f" ({result.demo} demo appliance{'s' * (result.demo != 1)} skipped)" if result.demo else ""
    progress(f"Found {len(real)} appliance{'s' * (len(real) != 1)}{demo_note}")
    for appliance in real:
        what = "key"
        try:
            enc = regional.encryption_information(token, appliance)
            what = "profile"
            data = regional.profile_zip(token, appliance)
            entry = entry_from_profile_zip(
                data, source=f"the profile of {appliance.label}", key=enc.key, iv=enc.iv, ha_id=appliance.ha_id
            )
        except CloudError as exc:
            if exc.status == 401:
                raise
            reason = forbidden_reason(what) if exc.status == 403 else str(exc)
        except HcpyError as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - one odd profile must not cost the other appliances
            log.debug("fetching %s failed", appliance.ha_id, exc_info=True)
            reason = f"unexpected {type(exc).__name__} while reading its profile"
        else:
            entry = dataclasses.replace(entry, host=appliance_host(appliance, tls=enc.iv is None))
            result.entries.append(entry)
            result.fetched.append(appliance)
            result.profiles.append(data)
            desc = entry.profile.description
            progress(f"{entry.name} ({desc.brand} {desc.model}): key and profile ok ({enc.transport})")
            continue
        sentence = f"{appliance.label} skipped: {reason}"
        log.warning("%s", sentence)
        result.skipped.append(sentence)
    return result
