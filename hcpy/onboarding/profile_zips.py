"""Each appliance's profile zip, kept next to devices.json for a later `hc-login --import`."""

from __future__ import annotations

import re
from pathlib import Path

from ..files import write_private


def profile_zip_name(ha_id: str) -> str:
    """`<haId>.zip`, as hcpy2-0 keeps it; a haId is never allowed to be a path."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", ha_id).lstrip(".")
    return f"{safe or 'appliance'}.zip"


def save_profile_zip(folder: Path, ha_id: str, data: bytes) -> Path:
    """Keep a profile zip next to devices.json for a later `hc-login --import` (mode 0600, atomic)."""
    path = folder / profile_zip_name(ha_id)
    write_private(path, data)
    return path
