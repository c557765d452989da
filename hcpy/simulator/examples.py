"""The example appliances: real profiles shipped in the package, with fresh keys.

They are the test suite's fixtures (tests/support.py reads them here), what
`python -m hcpy.simulator --demo` serves and what `hc2mqtt --demo` bridges.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..appliance.entry import ApplianceEntry, entry_from_profile, unique_names
from ..appliance.model import Profile
from ..appliance.profile_xml import parse_profile
from ..encoding import b64url
from ..errors import HcpyError

EXAMPLES = Path(__file__).with_name("profiles")  # package data (pyproject.toml)

# What a forecast of 100 % stands for on the example appliances (a typical
# dishwasher's and washer's most thirsty program): the demo's runs come with
# energy and water estimates, and Home Assistant gets their energy and water sensors.
FULL_SCALE = {
    "dishwasher": {"energy_full_scale_kwh": 2.0, "water_full_scale_l": 20},
    "washer": {"energy_full_scale_kwh": 2.5, "water_full_scale_l": 80},
}


# The order they are listed in (the console, the demo's log, the README): the
# three with real appliances' profiles first, then the ones made for hcpy
# (profiles/README.md says where each fact came from).
ORDER = ("dishwasher", "coffeemaker", "washer", "oven", "hood", "fridgefreezer", "dryer", "hob")


def _listed(kind: str) -> int:
    return ORDER.index(kind) if kind in ORDER else len(ORDER)


def example_profiles() -> list[tuple[str, Profile]]:
    """Each example's profile and the name its files have in EXAMPLES (the stem), in `ORDER`."""
    found = []
    for description in sorted(EXAMPLES.glob("*_DeviceDescription.xml")):
        stem = description.name.removesuffix("_DeviceDescription.xml")
        mapping = description.with_name(f"{stem}_FeatureMapping.xml")
        found.append((stem, parse_profile(description.read_bytes(), mapping.read_bytes(), description.stem)))
    found.sort(key=lambda item: _listed(item[1].description.type.lower()))  # stable: by file name within a kind
    return found


def demo_entries(host: str, first_port: int | None = None) -> list[ApplianceEntry]:
    """The example appliances' entries, with fresh keys, in memory only.

    Ports count up from `first_port`; None leaves them unset (the caller
    serves on free ports and fills them in). The washer gets an IV, so both
    transports are on show.
    """
    return entries_for([profile for _, profile in example_profiles()], host, first_port)


def entries_for(profiles: list[Profile], host: str, first_port: int | None = None) -> list[ApplianceEntry]:
    """`demo_entries` of these profiles (already parsed), one entry each, in their order."""
    entries = []
    for index, profile in enumerate(profiles):
        kind = profile.description.type.lower()
        entry = entry_from_profile(
            profile,
            key=b64url(os.urandom(32)),
            iv=b64url(os.urandom(16)) if kind == "washer" else None,
            host=host,
            port=None if first_port is None else first_port + index,
        )
        entries.append(entry.with_options(FULL_SCALE.get(kind)))
    if not entries:
        raise HcpyError(f"no example profiles in {EXAMPLES}")
    return unique_names(entries)
