"""The steps hc-login and the web console's "Add appliances" share: into devices.json, and what each did.

One code path each, whoever asks: a pasted login → every appliance's key and
profile written to devices.json and each profile zip kept beside it
(`cloud_login`); imported profiles → devices.json (`save_imported`). They say
their progress through `say` (hc-login prints it; the console ignores it, or
shows the lines) and end either with `Saved` (what each appliance became in
devices.json) or with `StepFailed`, a sentence saying what to do, with
devices.json unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..appliance.devices import load_devices, save_devices
from ..appliance.entry import ApplianceEntry, unique_names
from ..errors import HcpyError, StepFailed
from ..onboarding.client import DEFAULT_TIMEOUT, CloudClient
from ..onboarding.download import Download, download
from ..onboarding.importer import ImportResult
from ..onboarding.pasted import Redirect
from ..onboarding.pending_login import PendingLogin, checked_code
from ..onboarding.profile_zips import save_profile_zip
from ..onboarding.regions import endpoints, region_order

log = logging.getLogger("hc_login")

Say = Callable[[str], None]


def _quiet(line: str) -> None:
    pass


@dataclass(frozen=True)
class Written:
    """One appliance as devices.json now holds it (its name and host may be the user's own edits)."""

    entry: ApplianceEntry
    source: str  # where it came from: "the cloud", a zip's name
    profile_zip: str | None = None  # the profile zip kept beside devices.json
    problems: tuple[str, ...] = ()


@dataclass
class Saved:
    path: Path
    appliances: list[Written] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # appliances or files that could not be fetched or imported
    notes: list[str] = field(default_factory=list)  # e.g. the wrong-region line


def cloud_login(
    devices_path: Path,
    pending: PendingLogin,
    redirect: Redirect,
    *,
    timeout: float = DEFAULT_TIMEOUT[1],
    region: str | None = None,
    cloud_base: str | None = None,
    say: Say = _quiet,
    warn: Say = _quiet,
    spent: Callable[[], None] = lambda: None,
) -> Saved:
    """Exchange the pasted redirect's code, fetch every appliance, write devices.json, keep the zips.

    `spent` is called once the code is exchanged (it cannot be used again).
    """
    auth_code = checked_code(redirect, pending)
    client = CloudClient(pending.endpoints, timeout=(min(DEFAULT_TIMEOUT[0], timeout), timeout))
    token = client.exchange_code(pending, auth_code)
    spent()
    say("Logged in.")

    notes: list[str] = []

    def progress(line: str) -> None:
        if line.startswith("wrong region"):
            notes.append(line)
        say(line)

    given = (region or pending.named_region or "").upper() or None
    regions = [endpoints(r, cloud_base) for r in region_order(token.region, given)]
    result = download(client, token, regions=regions, given_region=given, progress=progress)
    if not result.paired:
        asked = result.asked
        where = f"in region {asked[0]}" if len(asked) == 1 else f"in any region ({', '.join(asked)})"
        raise StepFailed(
            f"the account has no paired appliances {where}, demo ones aside: pair them in the Home Connect app "
            f"first; {devices_path} was not changed"
        )
    if not result.entries:
        raise StepFailed(
            f"no appliance could be fetched (see the warnings above); {devices_path} was not changed", result.skipped
        )
    written = _save(devices_path, result.entries, skipped=len(result.skipped), say=say, warn=warn)
    kept = _keep_profiles(devices_path.parent, result, say)
    appliances = [
        Written(w, "the cloud", kept.get(e.ha_id or ""), () if e.ha_id in kept else (f"its profile zip was not kept in {devices_path.parent}",))
        for e, w in zip(result.entries, _as_written(result.entries, written), strict=True)
    ]  # fmt: skip
    return Saved(devices_path, appliances, list(result.skipped), notes)


def _keep_profiles(folder: Path, result: Download, say: Say) -> dict[str, str]:
    """Each profile zip next to devices.json (as hcpy2-0 keeps them), for a later --import: haId -> file name."""
    kept: dict[str, str] = {}
    for appliance, data in zip(result.fetched, result.profiles, strict=True):
        try:
            kept[appliance.ha_id] = save_profile_zip(folder, appliance.ha_id, data).name
        except OSError as exc:
            log.warning("could not keep the profile of %s in %s (%s)", appliance.label, folder, exc.strerror or exc)
    if kept:
        say(f"Kept the profiles in {folder} for a later hc-login --import: {', '.join(kept.values())}")
    return kept


def known_keys(devices_path: Path) -> dict[str, tuple[str, str | None]]:
    """haId -> (key, iv) of the appliances devices.json has: a new profile that comes without a key keeps its key."""
    if not devices_path.exists():
        return {}
    try:
        return {e.ha_id: (e.key, e.iv) for e in load_devices(devices_path, skip_broken=True) if e.ha_id}
    except HcpyError:
        return {}  # save_devices says what is wrong with the file


def save_imported(devices_path: Path, result: ImportResult, *, say: Say = _quiet, warn: Say = _quiet) -> Saved:
    """Write the imported entries to devices.json (merged); StepFailed when none could be imported."""
    for problem in result.problems:
        log.warning("%s", problem)
    if not result.entries:
        raise StepFailed(
            f"nothing could be imported (see the warnings above); {devices_path} was not changed", result.problems
        )
    for entry, source in zip(result.entries, result.sources, strict=True):
        desc = entry.profile.description
        say(f"{entry.name} ({desc.brand} {desc.model}): imported from {source}")
    written = _save(devices_path, result.entries, skipped=len(result.problems), say=say, warn=warn)
    appliances = [
        Written(w, source) for w, source in zip(_as_written(result.entries, written), result.sources, strict=True)
    ]
    return Saved(devices_path, appliances, list(result.problems))


def _save(
    devices_path: Path, entries: list[ApplianceEntry], *, skipped: int, say: Say, warn: Say
) -> list[ApplianceEntry]:
    try:
        written = save_devices(devices_path, unique_names(entries), merge=True)
    except OSError as exc:
        raise StepFailed(
            f"{devices_path} cannot be written ({exc.strerror or type(exc).__name__}): make its folder writable "
            "for hcpy (or choose another devices file), then try again"
        ) from None
    names = ", ".join(e.name for e in written)
    say(f"Wrote {devices_path} ({len(written)} appliance{'s' * (len(written) != 1)}: {names})")
    if skipped:
        warn(f"{skipped} could not be fetched or imported: see the warnings above.")
    return written


def _as_written(new: list[ApplianceEntry], written: list[ApplianceEntry]) -> list[ApplianceEntry]:
    """Each new entry as devices.json holds it after the merge (matched by haId, else by name)."""
    by_id = {e.ha_id: e for e in written if e.ha_id}
    renamed = unique_names(new)
    out = []
    for entry, named in zip(new, renamed, strict=True):
        found = by_id.get(entry.ha_id) if entry.ha_id else None
        found = found or next((e for e in written if e.name == named.name), None)
        out.append(found or named)
    return out
