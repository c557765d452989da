"""Profile zips of the example appliances, as a profile downloader writes them: to try `hc-login --import`.

Each zip holds one appliance's two XML files and the JSON the downloader
puts beside them (haId, connection type, key and, for AES, IV). The keys
and haIds are made up at each export, so nothing secret ships with hcpy; the files
are still written mode 0600, as every file holding a key.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

from ..appliance.entry import ApplianceEntry
from ..files import write_private
from .examples import EXAMPLES, entries_for, example_profiles


def profile_zip(entry: ApplianceEntry, stem: str, ha_id: str) -> bytes:
    """The downloader zip of an example appliance (`stem`: its profile files' name in EXAMPLES) as `ha_id`."""
    desc = entry.profile.description
    info = {
        "haId": ha_id,
        "type": desc.type,
        "brand": desc.brand,
        "vib": desc.model,
        "deviceDescriptionFileName": f"{ha_id}_DeviceDescription.xml",
        "featureMappingFileName": f"{ha_id}_FeatureMapping.xml",
        "connectionType": "AES" if entry.iv else "TLS",
        "key": entry.key,
        "iv": entry.iv,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{ha_id}.json", json.dumps(info, indent=2))
        for part in ("DeviceDescription", "FeatureMapping"):
            archive.writestr(f"{ha_id}_{part}.xml", (EXAMPLES / f"{stem}_{part}.xml").read_bytes())
    return out.getvalue()


def export_profile_zips(folder: Path, host: str = "127.0.0.1") -> list[Path]:
    """Write one downloader zip per example appliance into `folder` (made if missing); their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    examples = example_profiles()
    written = []
    # One entry per profile, in their order: entry i is stem i.
    entries = entries_for([profile for _, profile in examples], host)
    for (stem, _), entry in zip(examples, entries, strict=True):
        # A haId of its own, as every real appliance has (brand-model-12 hex
        # digits): two exports never announce the same one by mDNS.
        ha_id = f"{stem.rsplit('-', 1)[0]}-{os.urandom(6).hex().upper()}"
        path = folder / f"{entry.name}.zip"
        write_private(path, profile_zip(entry, stem, ha_id))
        written.append(path)
    return written
