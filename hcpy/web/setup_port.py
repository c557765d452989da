"""What the console's "Add appliances" pages ask of whoever writes devices.json (`hcpy.app.setup.Setup`).

The web layer shows forms and results; getting keys and profiles (the cloud
login, profile zips, mDNS, another add-on's files) is the application's, on
top of hc-login's steps. The console is handed a `SetupPort` (or None: no
such pages, as in the demo). Every method either returns what it did or
raises `hcpy.errors.HcpyError` whose text is one sentence saying what to do
(`hcpy.errors.StepFailed` adds the problems behind it, which the page lists);
none of them ever puts a key, an IV, a code or a token into a result.
Pure: protocols and values only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Upload:
    """One file a browser uploaded."""

    name: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class AddedAppliance:
    """One appliance as devices.json now holds it."""

    name: str
    kind: str  # brand, model and type, e.g. "SIEMENS SN658X06TE (Dishwasher)"
    host: str
    profile_saved: bool  # its profile is in devices.json
    key_saved: bool
    profile_zip: str | None = None  # the profile zip kept beside devices.json
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What one step did to devices.json."""

    appliances: tuple[AddedAppliance, ...] = ()
    problems: tuple[str, ...] = ()  # appliances or files left out, one sentence each
    notes: tuple[str, ...] = ()  # anything else worth saying (the wrong-region line, what a scan did)
    changed: bool = False  # devices.json was written


@dataclass(frozen=True)
class HeardAppliance:
    """One appliance a scan heard, and whether devices.json knows it."""

    ha_id: str
    kind: str
    address: str  # where it was heard (host[:port])
    name: str | None  # its name in devices.json; None when devices.json has no such appliance
    host: str | None  # its host in devices.json after the scan


@dataclass(frozen=True)
class ScanOutcome:
    heard: tuple[HeardAppliance, ...] = ()
    missing: tuple[str, ...] = ()  # devices.json's appliances not heard
    changed: tuple[str, ...] = ()  # "name: host a -> b", one per appliance changed
    sentence: str = ""  # how it ended when nothing was written (nothing heard, nothing to change)


@dataclass(frozen=True)
class OtherAddonFiles:
    """hcpy2-0's add-on files found in another add-on's config folder."""

    folder: str
    files: tuple[str, ...]  # the names found there: devices.json, discovery.yaml
    appliances: int  # how many appliances its devices.json holds


class SetupPort(Protocol):
    @property
    def devices_file(self) -> str:
        """The devices.json written (for the page's sentences)."""
        ...

    @property
    def regions(self) -> Sequence[str]:
        """The regions a login may start in; the first is the default."""
        ...

    def start_login(self, region: str | None) -> str:
        """A new cloud login: the URL to open in a browser."""
        ...

    def finish_login(self, pasted: str) -> Outcome:
        """The hcauth:// address pasted (in any form hc-login takes) → every appliance into devices.json."""
        ...

    def import_uploads(self, files: Sequence[Upload], key: str | None, iv: str | None) -> Outcome:
        """Profile zips (or a profile's XML pair and its JSON) → devices.json; `key`/`iv` for one without a key."""
        ...

    def scan(self) -> ScanOutcome:
        """Listen for the appliances (mDNS) a few seconds; set the host of those devices.json has."""
        ...

    def other_addon_files(self) -> OtherAddonFiles | None:
        """hcpy2-0's add-on files to offer for import, or None."""
        ...

    def import_other_addon(self) -> Outcome:
        """Copy the files `other_addon_files` found beside our devices file (mode 0600, atomically)."""
        ...
