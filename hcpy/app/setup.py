"""The console's "Add appliances" (`hcpy.web.setup_port.SetupPort`), on hc-login's own steps.

The cloud login, the import of profile zips and the scan are `login_steps`'
and `login_scan`'s, exactly as hc-login runs them; what is the console's own:
logins in progress are kept in memory (a page may start several; a pasted
address finishes the one its state names), uploads are bytes rather than
paths, and hcpy2-0's add-on files in another add-on's config folder can be
copied over. One step at a time: they all write devices.json.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from ..appliance.devices import load_devices, save_devices
from ..appliance.entry import ApplianceEntry
from ..errors import CloudError, HcpyError, StepFailed
from ..files import write_private
from ..onboarding.client import DEFAULT_TIMEOUT
from ..onboarding.importer import import_uploads
from ..onboarding.pasted import parse_pasted
from ..onboarding.pending_login import PendingLogin, start_login
from ..onboarding.regions import DEFAULT_REGION, REGIONS, endpoints
from ..protocol.transport import AES_PORT, TLS_PORT
from ..web.setup_port import AddedAppliance, HeardAppliance, OtherAddonFiles, Outcome, ScanOutcome, Upload
from .login_scan import scan_hosts
from .login_steps import Saved, cloud_login, known_keys, save_imported

log = logging.getLogger("hcpy.setup")

# A login URL is good for a few minutes at the cloud; one left longer is forgotten.
PENDING_LIFETIME = 30 * 60.0
MAX_PENDING = 8
SCAN_SECONDS = 5.0
# hcpy2-0's add-on (slug hcpy): the Supervisor names its folder <8 hex>_hcpy, or local_hcpy when installed locally.
OTHER_ADDON_FOLDER = re.compile(r"(?:[0-9a-f]{8}|local)_hcpy")
OTHER_ADDON_FILES = ("devices.json", "discovery.yaml")

# The steps' sentences name hc-login's options; on the console the same advice is a form's field or button.
CONSOLE_WORDS = (
    ("give it with --key (and --iv for AES appliances)", "give its key (and its IV for an AES appliance) in the form"),
    ("; run hc-login again", "; press “Show the login address” again, log in and paste the new address"),
    ("(see the warnings above)", "(see the problems listed)"),
    ("next time run hc-login --region ", "next time choose the region "),
    ("run this on the appliances' network, or try a longer --scan-time", "run hcpy on the appliances' network"),
)


def console_words(sentence: str) -> str:
    for cli, console in CONSOLE_WORDS:
        sentence = sentence.replace(cli, console)
    return sentence


class Setup:
    """`SetupPort` for the console: writes `devices_file` (and the profile zips beside it)."""

    def __init__(
        self,
        devices_file: str | os.PathLike[str],
        discovery_file: str | os.PathLike[str],
        other_addon_configs: str | os.PathLike[str] | None = None,
        *,
        cloud_base: str | None = None,
        scan_seconds: float = SCAN_SECONDS,
        scan_interfaces: Sequence[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT[1],
    ):
        self.path = Path(devices_file)
        self.discovery_path = Path(discovery_file)
        self.other_addon_configs = Path(other_addon_configs) if other_addon_configs else None
        self.cloud_base = cloud_base
        self.scan_seconds = scan_seconds
        self.scan_interfaces = list(scan_interfaces) if scan_interfaces else None
        self.timeout = timeout
        self._pending: dict[str, tuple[PendingLogin, float]] = {}  # state -> login, when started
        self._lock = threading.Lock()  # one step at a time: each writes devices.json

    @property
    def devices_file(self) -> str:
        return str(self.path)

    @property
    def regions(self) -> Sequence[str]:
        return [DEFAULT_REGION, *(r for r in REGIONS if r != DEFAULT_REGION)]

    # -- the cloud ---------------------------------------------------------------------

    def start_login(self, region: str | None) -> str:
        named = region.upper() if region and region.upper() in REGIONS else None
        if region and named is None:
            raise StepFailed(f"unknown region {region[:20]!r}: choose one of {', '.join(self.regions)}")
        pending = start_login(endpoints(named or DEFAULT_REGION, self.cloud_base), named_region=named)
        now = time.monotonic()
        with self._lock:
            self._pending = {s: (p, t) for s, (p, t) in self._pending.items() if now - t < PENDING_LIFETIME}
            self._pending[pending.state] = (pending, now)
            while len(self._pending) > MAX_PENDING:
                self._pending.pop(next(iter(self._pending)))
        return pending.authorize_url

    def finish_login(self, pasted: str) -> Outcome:
        try:
            redirect = parse_pasted(pasted)
        except CloudError as exc:
            raise StepFailed(console_words(str(exc))) from None
        if redirect.state is None:
            raise StepFailed(
                "only a code was pasted, without its state: paste the whole hcauth://auth/prod?code=…&state=… address"
            )
        with self._lock:
            found = self._pending.get(redirect.state)
            if found is None:
                raise StepFailed(
                    "this address belongs to no login started here (an older one, or one from before hcpy restarted): "
                    "press “Show the login address”, log in with that address and paste the new hcauth:// address"
                )
            pending = found[0]

            def spent() -> None:
                self._pending.pop(pending.state, None)

            try:
                saved = cloud_login(
                    self.path, pending, redirect, timeout=self.timeout, region=pending.named_region,
                    cloud_base=self.cloud_base, spent=spent,
                )  # fmt: skip
            except HcpyError as exc:
                raise _failed(exc) from None
        return _outcome(saved)

    # -- profile zips ------------------------------------------------------------------

    def import_uploads(self, files: Sequence[Upload], key: str | None, iv: str | None) -> Outcome:
        if iv and not key:
            raise StepFailed("an IV goes with a key: give the key too")
        known = known_keys(self.path)
        profiles: list[tuple[str, bytes]] = []
        for upload in files:
            keys = _keys_of_devices_file(upload)
            if keys is None:
                profiles.append((upload.name, upload.data))
            else:
                known = {**keys, **known}  # what our devices.json holds wins
        if not profiles:
            raise StepFailed(
                "no profile was uploaded: choose the appliance's profile zip (with its devices.json, if any)"
            )
        with self._lock:
            result = import_uploads(profiles, key=key or None, iv=iv or None, known=known)
            try:
                saved = save_imported(self.path, result)
            except HcpyError as exc:
                raise _failed(exc) from None
        return _outcome(saved)

    # -- the network -------------------------------------------------------------------

    def scan(self) -> ScanOutcome:
        with self._lock:
            try:
                scan = scan_hosts(self.path, self.scan_seconds, self.scan_interfaces)
            except HcpyError as exc:
                raise _failed(exc) from None
        names = {id(found): entry for entry, found in scan.placed}
        heard = tuple(
            HeardAppliance(
                ha_id=f.ha_id,
                kind=" ".join(p for p in (f.brand, f.type) if p) or "?",
                address=(f.address or "no IPv4 address") + (f":{f.port}" if f.port and f.port not in (TLS_PORT, AES_PORT) else ""),
                name=names[id(f)].name if id(f) in names else None,
                host=names[id(f)].host if id(f) in names else None,
            )
            for f in scan.found
        )  # fmt: skip
        sentence = scan.sentence
        if not scan.found:
            sentence = console_words(sentence)
        elif not self.path.exists():
            sentence = f"{self.path} does not exist yet: add the appliances first (log in or upload their profiles), then scan again"
        return ScanOutcome(heard, tuple(scan.missing), tuple(scan.changed), sentence)

    # -- hcpy2-0's add-on --------------------------------------------------------------

    def other_addon_files(self) -> OtherAddonFiles | None:
        folder = self._other_addon_folder()
        if folder is None:
            return None
        files = tuple(name for name in OTHER_ADDON_FILES if (folder / name).is_file())
        try:
            count = len(load_devices(folder / "devices.json", skip_broken=True))
        except HcpyError:
            count = 0
        return OtherAddonFiles(str(folder), files, count)

    def import_other_addon(self) -> Outcome:
        with self._lock:
            folder = self._other_addon_folder()
            if folder is None:
                raise StepFailed(f"no devices.json of hcpy2-0's add-on was found in {self.other_addon_configs}")
            source = folder / "devices.json"
            try:
                theirs = load_devices(source, skip_broken=True)
                data = source.read_bytes()
            except (HcpyError, OSError) as exc:
                raise StepFailed(f"{source} cannot be imported: {exc}") from None
            if not theirs:
                raise StepFailed(f"{source} holds no appliance; nothing was imported")
            notes = []
            try:
                if self._has_appliances():
                    # Ours already holds appliances: theirs are added, as an import adds them (by haId, keeping ours).
                    save_devices(self.path, theirs, merge=True)
                    notes.append(f"{source}'s appliances were added to {self.path}")
                else:
                    write_private(self.path, data)  # as it is: hcpy reads hcpy2-0's file (and its MQTT_CONF)
                    notes.append(f"{source} was copied to {self.path}")
                notes.extend(self._copy_discovery(folder / "discovery.yaml"))
            except OSError as exc:
                raise StepFailed(
                    f"{self.path} cannot be written ({exc.strerror or type(exc).__name__}): make its folder writable "
                    "for hcpy, then try again"
                ) from None
            except HcpyError as exc:
                raise _failed(exc) from None
            ours = {e.ha_id or e.name: e for e in load_devices(self.path, skip_broken=True)}
            added = tuple(_added(ours.get(e.ha_id or e.name, e)) for e in theirs)
        return Outcome(added, (), tuple(notes), changed=True)

    def _copy_discovery(self, source: Path) -> list[str]:
        if not source.is_file():
            return []
        data = source.read_bytes()
        if self.discovery_path.exists():
            if self.discovery_path.read_bytes() == data:
                return []
            return [f"{self.discovery_path} exists already and was kept; {source} was not copied"]
        write_private(self.discovery_path, data)
        return [f"{source} was copied to {self.discovery_path}"]

    def _has_appliances(self) -> bool:
        if not self.path.exists():
            return False
        try:
            return bool(load_devices(self.path, skip_broken=True))
        except HcpyError:
            return False

    def _other_addon_folder(self) -> Path | None:
        """The first <8 hex>_hcpy folder with a devices.json that is not our own devices file's folder."""
        base = self.other_addon_configs
        if base is None or not base.is_dir():
            return None
        try:
            folders = sorted(p for p in base.iterdir() if OTHER_ADDON_FOLDER.fullmatch(p.name) and p.is_dir())
        except OSError:
            return None
        for folder in folders:
            if not (folder / "devices.json").is_file() or _same_folder(folder, self.path.parent):
                continue
            return folder
        return None


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _keys_of_devices_file(upload: Upload) -> dict[str, tuple[str, str | None]] | None:
    """haId -> (key, iv) when the upload is a devices.json (a list of appliances); None when it is not one."""
    if not upload.name.lower().endswith(".json"):
        return None
    try:
        data = json.loads(upload.data)
    except ValueError:
        return None
    if not isinstance(data, list):
        return None
    keys: dict[str, tuple[str, str | None]] = {}
    for obj in data:
        if isinstance(obj, dict) and isinstance(obj.get("haId"), str) and isinstance(obj.get("key"), str):
            iv = obj.get("iv")
            keys[obj["haId"]] = (obj["key"], iv if isinstance(iv, str) else None)
    return keys


def _failed(exc: HcpyError) -> StepFailed:
    problems = [console_words(p) for p in exc.problems] if isinstance(exc, StepFailed) else []
    return StepFailed(console_words(str(exc)), problems)


def _added(entry: ApplianceEntry, profile_zip: str | None = None, problems: tuple[str, ...] = ()) -> AddedAppliance:
    desc = entry.profile.description
    kind = " ".join(p for p in (desc.brand, desc.model) if p) + (f" ({desc.type})" if desc.type else "")
    return AddedAppliance(
        name=entry.name,
        kind=kind.strip() or "?",
        host=entry.host,
        profile_saved=bool(entry.profile.features),
        key_saved=bool(entry.key),
        profile_zip=profile_zip,
        problems=problems,
    )


def _outcome(saved: Saved) -> Outcome:
    added = tuple(_added(w.entry, w.profile_zip, tuple(console_words(p) for p in w.problems)) for w in saved.appliances)
    notes = tuple(console_words(n) for n in saved.notes)
    return Outcome(added, tuple(console_words(p) for p in saved.problems), notes, changed=True)
