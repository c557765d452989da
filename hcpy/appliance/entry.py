"""One appliance of devices.json: its entry, checked, and its JSON both ways.

An entry is name, host (and port), key (and iv for AES appliances), haId,
the profile (see `profile_json`) and whatever other keys the user's file
holds, carried through verbatim. Pure: `devices` does the file I/O.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..encoding import unb64url
from ..errors import DevicesFileError
from .model import Description, Profile
from .profile_json import DESCRIPTION_FIELDS, profile_from_json, profile_to_json

# Top-level keys this module reads and writes; everything else is the user's
# (or another fork's) and is carried through untouched.
KNOWN_KEYS = ("name", "host", "key", "iv", "port", "haId", "description", "features", "enums", "errors")
OPTIONS_KEY = "hc2mqtt"  # the per-appliance block of settings for hc2mqtt
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_KEY_CHARS = 43  # 32 bytes
_IV_CHARS = 22  # 16 bytes
# Names become MQTT topic segments.
_TOPIC_SPECIALS = frozenset("/+#")


def clean_name(name: str) -> str:
    """The name as MQTT topics carry it (hcpy2-0's rule): ASCII only.

    Two names that clean to the same text would share topics, so names are
    unique by this form.
    """
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")


def _secret_problem(value: object, name: str, chars: int) -> str | None:
    """Why a key/iv is unusable, without ever quoting it."""
    if not isinstance(value, str):
        return f"'{name}' must be {chars} characters of base64url, found {type(value).__name__}"
    body = value.rstrip("=")
    if len(body) != chars or not _B64URL.fullmatch(body):
        return (
            f"'{name}' must be {chars} characters of base64url"
            f" (found {len(body)} characters{'' if _B64URL.fullmatch(body) else ', some not base64url'});"
            " copy it again from hc-login's output"
        )
    return None


@dataclass
class ApplianceEntry:
    """One appliance of devices.json. Its repr never shows key or iv."""

    name: str
    host: str
    key: str = field(repr=False)
    iv: str | None = field(default=None, repr=False)
    port: int | None = None
    ha_id: str | None = None
    profile: Profile = field(default_factory=lambda: Profile(Description(), {}), repr=False)
    # Top-level keys hcpy does not know (e.g. a fork's "hc2mqtt" block): kept
    # verbatim. Not shown: nobody knows what they hold.
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    # Keys inside "description" beyond the profile's own (the publishing-modes
    # fork keeps its "hc2mqtt" block there): kept verbatim, written back there.
    description_extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def options_block(self) -> Any:
        """The appliance's "hc2mqtt" block, wherever the user's fork put it.

        At the top level (hcpy's place) or inside "description" (the
        publishing-modes fork's); when both are there the top-level keys win.
        Not checked here: `hcpy.mqtt.options` and `hcpy.runs` read it.
        """
        top, inner = self.extra.get(OPTIONS_KEY), self.description_extra.get(OPTIONS_KEY)
        if isinstance(top, dict) and isinstance(inner, dict):
            return {**inner, **top}
        return top if top is not None else inner

    def with_options(self, defaults: dict[str, Any] | None) -> ApplianceEntry:
        """This entry with `defaults` (config.ini's section for it) under its "hc2mqtt" block, whose keys win."""
        if not defaults:
            return self
        block = self.options_block
        if block is not None and not isinstance(block, dict):
            return self  # a broken block: its own error says so, and nothing is guessed
        merged = {**defaults, **(block or {})}
        inner = {k: v for k, v in self.description_extra.items() if k != OPTIONS_KEY}
        return dataclasses.replace(self, extra={**self.extra, OPTIONS_KEY: merged}, description_extra=inner)

    @property
    def psk(self) -> bytes:
        return unb64url(self.key)

    @property
    def iv_bytes(self) -> bytes | None:
        return None if self.iv is None else unb64url(self.iv)

    @property
    def transport(self) -> Literal["tls", "aes"]:
        return "aes" if self.iv is not None else "tls"

    def __repr__(self) -> str:
        d = self.profile.description
        return (
            f"ApplianceEntry(name={self.name!r}, host={self.host!r}, port={self.port!r},"
            f" ha_id={self.ha_id!r}, transport={self.transport!r}, model={d.brand} {d.model})"
        )

    __str__ = __repr__


def label_of(source: str, index: int | None, name: object) -> str:
    parts = [source] if source else []
    who = f"appliance {index}" if index is not None else "appliance"
    if isinstance(name, str) and name:
        who += f" ({name})"
    parts.append(who)
    return ": ".join(parts)


def entry_from_json(obj: object, source: str = "", index: int | None = None) -> ApplianceEntry:
    """One appliance from its devices.json object.

    Raises DevicesFileError naming `source` (the file), the appliance (its
    1-based `index` and name) and the field when the entry is unusable; a
    broken feature is left out and reported in the profile's `problems`.
    """
    if not isinstance(obj, dict):
        raise DevicesFileError(f"{label_of(source, index, None)}: must be a JSON object, found {type(obj).__name__}")
    name = obj.get("name")
    label = label_of(source, index, name)

    def fail(text: str) -> DevicesFileError:
        return DevicesFileError(f"{label}: {text}")

    if not isinstance(name, str) or not name.strip():
        raise fail("'name' is missing; give each appliance a short unique name such as 'dishwasher'")
    if _TOPIC_SPECIALS & set(name):
        raise fail("'name' must not contain '/', '+' or '#' (it becomes an MQTT topic); rename it")
    if not clean_name(name).strip():
        raise fail("'name' needs at least one ASCII letter or digit (it becomes an MQTT topic); rename it")
    ha_id = obj.get("haId")
    if ha_id is not None and (not isinstance(ha_id, str) or not ha_id):
        raise fail("'haId' must be a non-empty string")
    host = obj.get("host", ha_id)
    if not isinstance(host, str) or not host.strip():
        raise fail("'host' is missing; put the appliance's IP address or hostname there")
    key = obj.get("key")
    problem = _secret_problem(key, "key", _KEY_CHARS)
    if problem or not isinstance(key, str):  # a key that is no str is a problem already
        raise fail(problem or "'key' must be a string")
    iv = obj.get("iv")
    if iv is not None:
        problem = _secret_problem(iv, "iv", _IV_CHARS)
        if problem:
            raise fail(problem)
    port = obj.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        raise fail("'port' must be a whole number from 1 to 65535, or left out for the appliance's default")

    problems: list[str] = []
    profile = profile_from_json(obj, lambda text: problems.append(f"{label}: {text}"))
    profile.problems.extend(problems)
    return ApplianceEntry(
        name=name,
        host=host,
        key=key,
        iv=iv,
        port=port,
        ha_id=ha_id,
        profile=profile,
        extra={k: v for k, v in obj.items() if k not in KNOWN_KEYS},
        description_extra=_description_extra(obj.get("description")),
    )


def _description_extra(description: Any) -> dict[str, Any]:
    if not isinstance(description, dict):
        return {}
    return {k: v for k, v in description.items() if k not in DESCRIPTION_FIELDS}


def entry_to_json(entry: ApplianceEntry) -> dict[str, Any]:
    """The devices.json object of one appliance (hcpy format plus extras)."""
    out: dict[str, Any] = {"name": entry.name, "host": entry.host}
    if entry.port is not None:
        out["port"] = entry.port
    if entry.ha_id is not None:
        out["haId"] = entry.ha_id
    out["key"] = entry.key
    if entry.iv is not None:
        out["iv"] = entry.iv
    out.update(profile_to_json(entry.profile))
    for key, value in entry.description_extra.items():
        out["description"].setdefault(key, value)
    for key, value in entry.extra.items():
        out.setdefault(key, value)
    return out


def entry_from_profile(
    profile: Profile,
    *,
    key: str,
    iv: str | None = None,
    ha_id: str | None = None,
    host: str | None = None,
    name: str | None = None,
    port: int | None = None,
) -> ApplianceEntry:
    """A new entry for a freshly parsed profile (what hc-login writes)."""
    name = name or profile.description.type.lower() or "appliance"
    label = f"appliance {name}"
    for value, field_name, chars in ((key, "key", _KEY_CHARS), (iv, "iv", _IV_CHARS)):
        if value is not None:
            problem = _secret_problem(value, field_name, chars)
            if problem:
                raise DevicesFileError(f"{label}: {problem}")
    return ApplianceEntry(
        name=name, host=host or ha_id or name, key=key, iv=iv, port=port, ha_id=ha_id, profile=profile
    )


def unique_names(entries: Iterable[ApplianceEntry]) -> list[ApplianceEntry]:
    """Copies of `entries` whose names never collide.

    The first of a name keeps it; later ones get the lowest free "_2", "_3"…
    suffix, never one another entry already has, so the result depends only
    on the order of the list.
    """
    entries = list(entries)
    # Compared as they end up in MQTT topics: "Öfen" and "Ofen" collide.
    taken = {clean_name(entry.name) for entry in entries}
    seen: set[str] = set()
    result = []
    for entry in entries:
        name = entry.name
        if clean_name(name) in seen:
            n = 2
            while clean_name(f"{entry.name}_{n}") in taken:
                n += 1
            name = f"{entry.name}_{n}"
            taken.add(clean_name(name))
            entry = dataclasses.replace(entry, name=name)
        seen.add(clean_name(name))
        result.append(entry)
    return result
