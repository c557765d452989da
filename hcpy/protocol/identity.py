"""The deviceID hcpy introduces itself with (PROTOCOL.md §3 step 2).

It must be stable for one installation and differ between installations: an
appliance closes a second connection that uses the same deviceID. It is kept
in a small file beside devices.json; it is not a secret.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

FILE_NAME = "deviceid"
_VALID = re.compile(r"^[0-9a-f]{16}$")


def installation_device_id(directory: str | Path) -> str:
    """Return this installation's deviceID, creating it on first use."""
    path = Path(directory) / FILE_NAME
    try:
        stored = path.read_text().strip()
        if _VALID.match(stored):
            return stored
    except OSError:
        pass
    device_id = os.urandom(8).hex()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(device_id + "\n")
        os.replace(tmp, path)
    except OSError:
        # A read-only config directory: still connect, with an id for this run.
        pass
    return device_id
