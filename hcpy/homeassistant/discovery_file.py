"""hcpy2-0's ``discovery.yaml``: its users' Home Assistant discovery overrides.

Pure: `parse` turns the file's text into a `DiscoveryOverrides` and a list of
problems (one sentence each, naming the file); `load` reads the file first.
`hcpy.homeassistant.discovery` applies the result. Nothing here ever raises on bad
input: whatever cannot be understood is a problem, and only that entry is
left out.

The keys, as hcpy2-0 documents them::

    HA_DISCOVERY_PREFIX: homeassistant
    MAGIC_OVERRIDES:        # full feature name -> keys merged over its discovery payload
      BSH.Common.Status.DoorState:
        icon: mdi:door
      BSH.Common.Command.AbortProgram:
        component_type: button     # the Home Assistant component instead of hcpy's
    EXPAND_NAME:            # name prefix -> index of the first dotted part in the entity name
      BSH.Common.Setting.Favorite.: 3
    SKIP_ENTITIES:          # name prefixes: no entity (the program roots never skipped)
    - Dishcare.Dishwasher.Program.
    DISABLED_ENTITIES:      # name prefixes: entity disabled by default
    - Refrigeration.Common.Status.
    DISABLED_EXCEPTIONS:    # substrings that keep a disabled one enabled
    - Refrigeration.Common.Status.Door.
    ADDITIONAL_FEATURES:    # handshake info keys as diagnostic sensors
    - name: rssi
      entity_category: diagnostic

An older hcpy2-0 nested each override's keys under ``payload_values:``;
both forms are read.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

PREFIX_KEY = "HA_DISCOVERY_PREFIX"
MAGIC_KEY = "MAGIC_OVERRIDES"
EXPAND_KEY = "EXPAND_NAME"
SKIP_KEY = "SKIP_ENTITIES"
DISABLED_KEY = "DISABLED_ENTITIES"
EXCEPTIONS_KEY = "DISABLED_EXCEPTIONS"
ADDITIONAL_KEY = "ADDITIONAL_FEATURES"
KEYS = (PREFIX_KEY, MAGIC_KEY, EXPAND_KEY, SKIP_KEY, DISABLED_KEY, EXCEPTIONS_KEY, ADDITIONAL_KEY)

COMPONENT_KEY = "component_type"
OLD_NESTING_KEY = "payload_values"  # an older hcpy2-0's form of an override
TEMPLATE_KEY = "template"  # an additional feature's: reads hcpy2-0's JSON object

# The never-skipped program roots (hcpy2-0 made the same exception).
NEVER_SKIPPED = frozenset({"BSH.Common.Root.ActiveProgram", "BSH.Common.Root.SelectedProgram"})

# What ties an entity to its topics and to its past in Home Assistant: an
# override of these would cut the entity off from the bridge, or make it a
# new one. Refused, by full name and by Home Assistant's abbreviation.
WIRING = {
    "unique_id": "unique_id",
    "uniq_id": "unique_id",
    "state_topic": "state_topic",
    "stat_t": "state_topic",
    "command_topic": "command_topic",
    "cmd_t": "command_topic",
    "availability": "availability",
    "avty": "availability",
    "availability_topic": "availability_topic",
    "avty_t": "availability_topic",
    "device": "device",
    "dev": "device",
    "object_id": "object_id",
    "obj_id": "object_id",
    "default_entity_id": "default_entity_id",
    "def_ent_id": "default_entity_id",
}

# The discovery keys of the components hcpy builds (sensor, binary_sensor,
# switch, button, select, number, event) and those every entity has. Home
# Assistant refuses a config with a key it does not know, and the entity with
# it: an override key not listed here is left out, with a warning.
ENTITY_KEYS = frozenset(
    {
        # every entity
        "name", "icon", "entity_picture", "entity_category", "enabled_by_default", "device_class",
        "json_attributes_topic", "json_attributes_template", "availability_mode", "availability_template",
        "payload_available", "payload_not_available", "encoding", "qos", "platform",
        # sensor, binary_sensor
        "unit_of_measurement", "state_class", "suggested_display_precision", "options", "expire_after",
        "force_update", "last_reset_value_template", "value_template", "off_delay", "payload_on", "payload_off",
        # switch, button, select, number
        "command_template", "optimistic", "retain", "state_on", "state_off", "payload_press",
        "min", "max", "step", "mode",
        # event
        "event_types",
    }
)  # fmt: skip
# Home Assistant's abbreviations of the keys above (it expands them): one name per key here.
ABBREVIATIONS = {
    "ic": "icon",
    "ent_pic": "entity_picture",
    "ent_cat": "entity_category",
    "en": "enabled_by_default",
    "dev_cla": "device_class",
    "json_attr_t": "json_attributes_topic",
    "json_attr_tpl": "json_attributes_template",
    "avty_mode": "availability_mode",
    "avty_tpl": "availability_template",
    "pl_avail": "payload_available",
    "pl_not_avail": "payload_not_available",
    "e": "encoding",
    "p": "platform",
    "unit_of_meas": "unit_of_measurement",
    "stat_cla": "state_class",
    "sug_dsp_prc": "suggested_display_precision",
    "ops": "options",
    "exp_aft": "expire_after",
    "frc_upd": "force_update",
    "lrst_val_tpl": "last_reset_value_template",
    "val_tpl": "value_template",
    "off_dly": "off_delay",
    "pl_on": "payload_on",
    "pl_off": "payload_off",
    "cmd_tpl": "command_template",
    "opt": "optimistic",
    "ret": "retain",
    "stat_on": "state_on",
    "stat_off": "state_off",
    "pl_prs": "payload_press",
    "evt_typ": "event_types",
}


class Audience:
    """The feature names of the appliances one file serves, to say once which override names none of them.

    Each appliance's discovery adds its names when it is made (all of them
    before any publishes); the first to publish reports.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: set[str] = set()
        self._reported = False

    def serve(self, names: Iterable[str]) -> None:
        with self._lock:
            self._known.update(names)

    def unknown_once(self, names: Iterable[str]) -> list[tuple[str, str | None]]:
        """The first time: each of `names` no appliance has, with the closest known name (or None)."""
        with self._lock:
            if self._reported:
                return []
            self._reported = True
            known = sorted(self._known)
            return [
                (name, next(iter(_close_matches(name, known, n=1, cutoff=0.8)), None))
                for name in names
                if name not in self._known
            ]


@dataclass(frozen=True)
class Override:
    """MAGIC_OVERRIDES for one name: keys merged over its payload, and a component to use instead."""

    payload: Mapping[str, Any] = field(default_factory=dict, hash=False)
    component: str | None = None


@dataclass(frozen=True)
class AdditionalFeature:
    """An ADDITIONAL_FEATURES entry: a handshake info key (``ipV4``…) as a sensor."""

    key: str
    payload: Mapping[str, Any] = field(default_factory=dict, hash=False)
    component: str | None = None
    template: str | None = None  # hcpy2-0's, on its JSON object; hcpy reads the key's own topic


@dataclass(frozen=True)
class DiscoveryOverrides:
    """What a discovery.yaml asks for; empty (the default) asks for nothing."""

    source: str = ""  # the file, for the sentences that name it
    prefix: str | None = None  # HA_DISCOVERY_PREFIX, when the file sets one
    magic: Mapping[str, Override] = field(default_factory=dict, hash=False)
    expand_name: tuple[tuple[str, int], ...] = ()
    skip: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()
    disabled_exceptions: tuple[str, ...] = ()
    additional: tuple[AdditionalFeature, ...] = ()
    audience: Audience = field(default_factory=Audience, compare=False, hash=False, repr=False)

    def is_skipped(self, name: str) -> bool:
        return name not in NEVER_SKIPPED and any(name.startswith(prefix) for prefix in self.skip)

    def is_disabled(self, name: str) -> bool:
        return any(name.startswith(prefix) for prefix in self.disabled) and not any(
            exception in name for exception in self.disabled_exceptions
        )

    def expansion(self, name: str) -> int | None:
        """EXPAND_NAME's index for `name`: the first prefix in the file's order that matches."""
        return next((index for prefix, index in self.expand_name if name.startswith(prefix)), None)

    def override(self, name: str) -> Override | None:
        return self.magic.get(name)

    def component(self, name: str) -> str | None:
        override = self.magic.get(name)
        return override.component if override is not None else None


def load(path: str | os.PathLike[str], explicit: bool = True) -> tuple[DiscoveryOverrides, list[str]]:
    """The overrides of the file at `path`, and its problems.

    A missing file is a problem only when the user named it (`explicit`);
    the default path absent is no file, as with hcpy2-0 users who never made one.
    """
    source = os.fspath(path)
    nothing = DiscoveryOverrides(source=source)
    fallback = "Home Assistant entities use hcpy's own choices"
    try:
        with open(path, "rb") as file:
            raw = file.read()
    except FileNotFoundError:
        return nothing, [f"{source}: no such file; {fallback}"] if explicit else []
    except OSError as exc:
        return nothing, [f"{source}: cannot be read ({exc.strerror or exc.__class__.__name__}); {fallback}"]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return nothing, [f"{source}: not UTF-8 text (byte {exc.start}); {fallback}"]
    return parse(text, source)


def parse(text: str, source: str = "discovery.yaml") -> tuple[DiscoveryOverrides, list[str]]:
    """The overrides `text` asks for, and one sentence per thing in it that was left out."""
    import yaml  # here: a bridge without a discovery.yaml never loads PyYAML (memory)

    problems: list[str] = []
    empty = DiscoveryOverrides(source=source)
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return empty, [_yaml_problem(source, exc)]
    if document is None:
        return empty, []
    if not isinstance(document, dict):
        return empty, [
            f"{source}: expected a mapping of {', '.join(KEYS)}, found {_kind(document)}; "
            "Home Assistant entities use hcpy's own choices"
        ]
    reader = _Reader(source, problems)
    values: dict[str, Any] = {}
    for key, value in document.items():
        if key not in KEYS:
            problems.append(_unknown_key(source, key))
            continue
        if value is None:  # a key with every entry commented out
            continue
        values[key] = value
    overrides = DiscoveryOverrides(
        source=source,
        prefix=reader.prefix(values.get(PREFIX_KEY)),
        magic=reader.magic(values.get(MAGIC_KEY)),
        expand_name=reader.expand_name(values.get(EXPAND_KEY)),
        skip=reader.names(SKIP_KEY, values.get(SKIP_KEY)),
        disabled=reader.names(DISABLED_KEY, values.get(DISABLED_KEY)),
        disabled_exceptions=reader.names(EXCEPTIONS_KEY, values.get(EXCEPTIONS_KEY)),
        additional=reader.additional(values.get(ADDITIONAL_KEY)),
    )
    return overrides, problems


# -- reading ------------------------------------------------------------------------------


class _Reader:
    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems

    def bad(self, where: str, value: Any, expected: str) -> None:
        self.problems.append(f"{self.source}: {where}: {_show(value)} is not {expected}; ignored")

    def prefix(self, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip("/ ") or any(c in value for c in "+#\0"):
            self.bad(PREFIX_KEY, value, "a topic prefix (text without + or #)")
            return None
        return value.strip().rstrip("/")

    def magic(self, value: Any) -> dict[str, Override]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.bad(MAGIC_KEY, value, "a mapping of feature names to the keys to override")
            return {}
        overrides = {}
        for name, entry in value.items():
            if not isinstance(name, str) or not name:
                self.bad(MAGIC_KEY, name, "a feature name")
                continue
            where = f"{MAGIC_KEY}: {name}"
            if entry is None:
                continue
            if not isinstance(entry, dict):
                self.bad(where, entry, "a mapping of discovery keys to values")
                continue
            payload, component = self.payload(where, entry)
            overrides[name] = Override(payload, component)
        return overrides

    def payload(self, where: str, entry: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """An entry's discovery keys (older `payload_values:` nesting flattened) and its component_type."""
        merged: dict[Any, Any] = {}
        nested = entry.get(OLD_NESTING_KEY)
        if isinstance(nested, dict):
            merged.update(nested)
        elif nested is not None:
            self.bad(f"{where}: {OLD_NESTING_KEY}", nested, "a mapping of discovery keys to values")
        merged.update((k, v) for k, v in entry.items() if k != OLD_NESTING_KEY)
        payload: dict[str, Any] = {}
        component = None
        for key, value in merged.items():
            if key == COMPONENT_KEY:
                if isinstance(value, str) and value.strip():
                    component = value.strip().lower()
                else:
                    self.bad(f"{where}: {COMPONENT_KEY}", value, "a Home Assistant component (sensor, switch, …)")
                continue
            if not isinstance(key, str):
                self.bad(where, key, "a discovery key")
                continue
            full = ABBREVIATIONS.get(key, key)
            if full in WIRING:
                self.problems.append(
                    f"{self.source}: {where}: {key} refused: hcpy sets {WIRING[full]} itself and the entity "
                    "would lose its link to the bridge or its history in Home Assistant"
                )
                continue
            if full not in ENTITY_KEYS:
                close = _close_matches(full, sorted(ENTITY_KEYS), n=1, cutoff=0.7)
                hint = f" (did you mean {close[0]}?)" if close else ""
                self.problems.append(
                    f"{self.source}: {where}: {key!r} is no discovery key hcpy knows{hint}; ignored "
                    "(Home Assistant would refuse the entity)"
                )
                continue
            payload[full] = value
        return payload, component

    def expand_name(self, value: Any) -> tuple[tuple[str, int], ...]:
        if value is None:
            return ()
        if not isinstance(value, dict):
            self.bad(EXPAND_KEY, value, "a mapping of name prefixes to part indexes")
            return ()
        entries = []
        for prefix, index in value.items():
            if not isinstance(prefix, str) or not prefix:
                self.bad(EXPAND_KEY, prefix, "a name prefix")
            elif isinstance(index, bool) or not isinstance(index, int):
                self.bad(f"{EXPAND_KEY}: {prefix}", index, "an index (a whole number: the first dotted part kept)")
            else:
                entries.append((prefix, index))
        return tuple(entries)

    def names(self, key: str, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]  # one entry written without the list dash
        if not isinstance(value, list):
            self.bad(key, value, "a list of name prefixes")
            return ()
        names = []
        for item in value:
            if isinstance(item, str) and item:
                names.append(item)
            else:
                self.bad(key, item, "a name prefix (an empty one would match every feature)")
        return tuple(names)

    def additional(self, value: Any) -> tuple[AdditionalFeature, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.bad(ADDITIONAL_KEY, value, "a list of entries with a name")
            return ()
        features = []
        for entry in value:
            name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(name, str) or not name:
                self.bad(ADDITIONAL_KEY, entry, "an entry with a name (a handshake info key such as ipV4)")
                continue
            where = f"{ADDITIONAL_KEY}: {name}"
            template = entry.get(TEMPLATE_KEY)
            if template is not None and not isinstance(template, str):
                self.bad(f"{where}: {TEMPLATE_KEY}", template, "a template")
                template = None
            rest = {k: v for k, v in entry.items() if k not in ("name", TEMPLATE_KEY)}
            payload, component = self.payload(where, rest)
            features.append(AdditionalFeature(name, payload, component, template))
        return tuple(features)


def _unknown_key(source: str, key: Any) -> str:
    text = str(key)
    close = _close_matches(text.upper(), KEYS, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"{source}: unknown key {text!r} ignored ({hint}the keys are {', '.join(KEYS)})"


def _yaml_problem(source: str, exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{source}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else source
    reason = getattr(exc, "problem", None) or str(exc)
    reason = " ".join(str(reason).split())  # one line
    return f"{where}: not valid YAML ({reason}); Home Assistant entities use hcpy's own choices"


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"  # "an int", "a float"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _close_matches(word: str, possibilities: Iterable[str], n: int, cutoff: float) -> list[str]:
    """difflib's, imported here: only a typo in discovery.yaml needs it."""
    import difflib

    return difflib.get_close_matches(word, possibilities, n=n, cutoff=cutoff)
