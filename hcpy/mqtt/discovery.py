"""Home Assistant MQTT discovery payloads for one appliance.

Pure: reads the profile and the live limits of an `ApplianceState` and
returns the retained config messages; the bridge sends them. Identity
follows hcpy2-0 so that existing entities survive the switch: config topic
``<prefix>/<component>/hcpy/<name>_<feature_id>/config``, unique_id
``<name>_<feature_id>``, default_entity_id ``<component>.<unique_id>``.

Payload strings must equal what the bridge publishes: booleans as ``True`` /
``False``, enums as member names, events as ``{"event_type": <member>}``.
Every command an entity sends is one that `hcpy.appliance.commands` accepts.

Entities do not come and go with the appliance's access changes: whether a
feature is a control is the profile's to say (`controls.is_control`), and
whether it works now is its availability, read from the topic the publisher
writes (``T/available/<key>``). The start button works the same way.

A user's hcpy2-0 ``discovery.yaml`` (`discovery_file.DiscoveryOverrides`, in
`DiscoveryOptions.overrides`) is applied here, per entity: skipped and
disabled ones, expanded names, keys merged over the payload, another
component where hcpy can build it. Unique ids never change with it; only
a component change moves an entity's config topic (`removals` clears the old).
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Protocol

from ..appliance import names
from ..appliance.controls import is_control
from ..appliance.model import (
    CID_TIME_SPAN,
    NUMERIC_CONTENT,
    Feature,
    Kind,
    Limits,
    Profile,
)
from ..appliance.state import ApplianceState
from .discovery_file import ADDITIONAL_KEY, MAGIC_KEY, DiscoveryOverrides
from .outgoing import Outgoing
from .publishing import EVENT_OFF, PROGRAM_END_KEY
from .topics import START_SELECTED_KEY, CommandTopic, Topics

log = logging.getLogger("hcpy.discovery")


NODE_ID = "hcpy"  # the node segment of hcpy2-0's config topics
ORIGIN = {"name": "hcpy"}
# Entities of no feature of their own: their unique_id suffixes.
SYNTHETIC_IDS = (START_SELECTED_KEY, PROGRAM_END_KEY)
WIFI_SIGNAL = "BSH.Common.Status.WiFiSignalStrength"
# Where a program root's select sends the chosen program.
PROGRAM_TOPICS = {Kind.ACTIVE_PROGRAM: CommandTopic.ACTIVE_PROGRAM, Kind.SELECTED_PROGRAM: CommandTopic.SELECTED_PROGRAM}

# Every component this module (or hcpy2-0 before it) may have used for a feature.
COMPONENTS = ("binary_sensor", "sensor", "event", "switch", "button", "select", "number", "light")
# Those that send commands: a discovery.yaml may ask for them for a writable feature.
CONTROL_COMPONENTS = ("switch", "button", "select", "number")

# About the link to the appliance rather than about the appliance.
DIAGNOSTIC = frozenset(
    {
        "BSH.Common.Status.WiFiSignalStrength",
        "BSH.Common.Status.BackendConnected",
        "BSH.Common.Setting.AllowBackendConnection",
        "BSH.Common.Status.CustomerServiceConnectionAllowed",
        "BSH.Common.Command.DeactivateWiFi",
        "BSH.Common.Command.ApplyNetworkReset",
    }
)
# One tap on these cuts the appliance off or wipes it: present, but off until
# the user enables them.
DISABLED_BY_DEFAULT = frozenset(
    {
        "BSH.Common.Command.DeactivateWiFi",
        "BSH.Common.Command.ApplyNetworkReset",
        "BSH.Common.Command.ApplyFactoryReset",
        "BSH.Common.Command.DepairCustomerEnergyManager",
        "BSH.Common.Command.MainsPowerOff",  # nothing switches it back on remotely
        "ConsumerProducts.CoffeeMaker.Command.DeleteAllProfiles",
    }
)


@dataclass(frozen=True)
class Unit:
    unit: str
    device_class: str | None = None
    state_class: str | None = None  # sensors only; numbers have none


# By content type (refCID). Only types whose unit the protocol fixes; weight,
# volume, rpm, flow rate and water hardness are left unitless rather than guessed.
UNITS: dict[int, Unit] = {
    0x07: Unit("°C", "temperature", "measurement"),
    0x08: Unit("°F", "temperature", "measurement"),
    0x10: Unit("s", "duration"),
    0x11: Unit("%", None, "measurement"),
    0x12: Unit("dBm", "signal_strength", "measurement"),
    0x23: Unit("W", "power", "measurement"),
    # No state class: whether an appliance's energy value is a meter, a per-run
    # counter or a forecast is not in the profile, and each needs another one.
    0x24: Unit("kWh", "energy"),
}

# Time spans (a delayed start, a duration) are set in minutes: a slider of
# 86400 seconds is no way to pick "in 2 hours".
MINUTE = 60


@dataclass(frozen=True)
class DiscoveryOptions:
    prefix: str = "homeassistant"
    events_as_sensors: bool = False
    # The user's discovery.yaml (hcpy2-0's format); empty: hcpy's own choices.
    overrides: DiscoveryOverrides = dataclass_field(default_factory=DiscoveryOverrides)


class PublishedTopics(Protocol):
    """Where the bridge publishes what an entity reads; None: it does not publish it.

    `naming.Naming` answers this; discovery needs nothing else of the publisher.
    """

    def state_topic(self, feature: Feature) -> str | None: ...

    def event_topic(self, feature: Feature) -> str | None: ...

    def info_topic(self, key: str) -> str | None: ...

    def available_topic(self, feature: Feature) -> str | None: ...


class Discovery:
    """Home Assistant's view of one appliance: its entities' configs, and which to remove."""

    def __init__(
        self,
        topics: Topics,
        published: PublishedTopics,
        options: DiscoveryOptions = DiscoveryOptions(),
        profile: Profile | None = None,
    ):
        self.topics = topics
        self.published = published
        self.options = options
        self._said: set[str] = set()  # this appliance's discovery.yaml warnings, each said once
        # Every appliance a discovery.yaml serves is known before any publishes,
        # so that an override naming a feature none of them has is said once.
        # The bridge's `Naming` carries the profile.
        profile = profile if profile is not None else getattr(published, "profile", None)
        if options.overrides.magic and isinstance(profile, Profile):
            options.overrides.audience.serve(_names(profile, options.overrides))

    def messages(self, state: ApplianceState, info: dict[str, Any]) -> list[Outgoing]:
        """One retained config message per entity of this appliance.

        `info` is the handshake's device and network info; the keys listed
        in INFO_SENSORS (and a discovery.yaml's ADDITIONAL_FEATURES) become
        diagnostic sensors where they are published.
        """
        info = info or {}
        overrides = self.options.overrides
        if overrides.magic:
            self._unknown_names(state.profile)
        builder = _Builder(self.topics, state, info, self.published, self.options, self._warn)
        messages = [builder.message(*entity) for entity in builder.info_sensors(info)]
        for uid in sorted(state.profile.features):
            feature = state.profile.features[uid]
            try:
                entities = builder.entities(feature)
            except Exception:  # one odd feature must not cost the others their entities
                log.warning(
                    "%s: no Home Assistant entity for %s (uid %d): its description could not be turned into one",
                    self.topics.name,
                    feature.name,
                    uid,
                    exc_info=True,
                )
                continue
            messages += [builder.message(component, unique_id, config) for component, unique_id, config in entities]
        messages += [builder.message(*entity) for entity in builder.program_end()]
        return messages

    def removals(self, state: ApplianceState, current: Iterable[Outgoing], known: Iterable[str]) -> list[Outgoing]:
        """Empty retained payloads for this appliance's configs that `current` no longer has.

        `known` are config topics known to exist on the broker: those seen on
        `config_topic_filter(options)`, or those published before (a control
        whose access dropped to read becomes a sensor; its old switch must
        go). Topics of other appliances or other software are never touched.
        """
        prefix = self.options.prefix
        keep = {m.topic for m in current}
        name = self.topics.appliance
        ours = {_object_id(f"{name}_{f.feature_id}") for f in state.profile.features.values()}
        ours.update(_object_id(f"{name}_{suffix}") for suffix in SYNTHETIC_IDS)
        # Info sensors a discovery.yaml skips or moves to another component.
        overrides = self.options.overrides
        info_keys = [*INFO_SENSORS, *(entry.key for entry in overrides.additional)]
        ours.update(_object_id(f"{name}_{key.lower()}") for key in info_keys if overrides.is_skipped(key))
        removals = []
        for topic in dict.fromkeys(known):
            parts = topic.split("/")
            if (
                topic not in keep
                and topic.startswith(prefix + "/")
                and len(parts) == len(prefix.split("/")) + 4
                and parts[-4] in COMPONENTS
                and parts[-3] == NODE_ID
                and parts[-2] in ours
                and parts[-1] == "config"
            ):
                removals.append(Outgoing(topic, "", retain=True))
        return removals

    def _warn(self, sentence: str) -> None:
        """A discovery.yaml warning about this appliance, said once (discovery runs at every change)."""
        if sentence not in self._said:
            self._said.add(sentence)
            log.warning("%s", sentence)

    def _unknown_names(self, profile: Profile) -> None:
        overrides = self.options.overrides
        overrides.audience.serve(_names(profile, overrides))  # a Discovery made without its profile
        for name, close in overrides.audience.unknown_once(overrides.magic):
            hint = f" (did you mean {close}?)" if close else ""
            log.warning(
                "%s: %s: %s names no feature of any configured appliance%s; that override is not used",
                overrides.source,
                MAGIC_KEY,
                name,
                hint,
            )


def _names(profile: Profile, overrides: DiscoveryOverrides) -> list[str]:
    """What a MAGIC_OVERRIDES entry may name for this appliance: its features, info keys, hcpy's own entities."""
    info = [*INFO_SENSORS, *(entry.key for entry in overrides.additional)]
    return [*(f.name for f in profile.features.values()), *info, *SYNTHETIC_IDS]


def config_topic_filter(options: DiscoveryOptions = DiscoveryOptions()) -> str:
    """Subscribe to this to learn which config topics the broker retains."""
    return f"{options.prefix}/+/{NODE_ID}/+/config"


def label(feature: Feature, first: int | None = None) -> str:
    """A readable entity name: "BSH.Common.Status.DoorState" -> "Door state".

    Segments after the kind segment are kept, so that features whose last
    segment is shared ("IDos1.ContentName", "IDos2.ContentName") stay apart.
    `first` (discovery.yaml's EXPAND_NAME) is the index of the first segment
    kept instead: "BSH.Common.Status.Program.All.Count.Started", 4 -> "All count started".
    """
    parts = feature.name.split(".")
    start = next((i + 1 for i, p in enumerate(parts) if p in _KIND_SEGMENTS and i + 1 < len(parts)), len(parts) - 1)
    if first is not None and parts[first:]:
        start = first if first >= 0 else max(0, len(parts) + first)
    words: list[str] = []
    for word in (w for part in parts[start:] for w in _WORD.findall(part)):
        if not words or word.lower() != words[-1].lower():  # "Spin.SpinAbort" -> "Spin abort"
            words.append(word)
    if not words:
        return feature.name
    tail = [w.lower() if re.fullmatch(r"[A-Z][a-z]+", w) else w for w in words[1:]]
    return " ".join([words[0], *tail])


_KIND_SEGMENTS = frozenset({"Status", "Setting", "Event", "Command", "Option", "Program", "Root"})
# Brand words stay whole; then acronyms before a capitalised word, words, acronyms, numbers.
_WORD = re.compile(r"WiFi|IDos|[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


# -- building ----------------------------------------------------------------------

Entity = tuple[str, str, dict[str, Any]]  # component, object id suffix, config


# Network facts from /ni/info that hcpy2-0 offered as diagnostic sensors
# (same unique_ids: <appliance>_ipv4 …).
INFO_SENSORS: dict[str, dict[str, Any]] = {
    "ipV4": {"name": "IPv4 address", "value_template": "{{ value_json.ipAddress }}"},
    "ipV6": {"name": "IPv6 address", "value_template": "{{ value_json.ipAddress }}"},
    "rssi": {
        "name": "Wi-Fi signal",
        "unit_of_measurement": "dBm",
        "device_class": "signal_strength",
        "state_class": "measurement",
    },
    "euiAddress": {"name": "EUI address"},
}


class _Builder:
    def __init__(
        self,
        topics: Topics,
        state: ApplianceState,
        info: dict[str, Any],
        published: PublishedTopics,
        options: DiscoveryOptions,
        warn: Callable[[str], None] | None = None,
    ):
        self.topics = topics
        self.state = state
        self.published = published
        self.options = options
        self.overrides = options.overrides
        self.warn = warn or (lambda sentence: log.warning("%s", sentence))
        self.name = topics.appliance
        self.device = device_block(self.name, state, info)
        self.availability = [{"topic": topics.bridge_lwt}, {"topic": topics.lwt}]

    # -- one feature -> its entities

    def entities(self, feature: Feature) -> list[Entity]:
        """hcpy's entities for a feature, as the user's discovery.yaml has them."""
        if self.overrides.is_skipped(feature.name):
            return []
        entities = self._own(feature)
        wanted = self.overrides.component(feature.name)
        if wanted is not None and (not entities or entities[0][0] != wanted):
            # The main entity in the user's component; the others (a start button) stay.
            converted = self._as_component(feature, wanted)
            if converted is None:
                self.cannot(f"{MAGIC_KEY}: {feature.name}", wanted, entities[0][0] if entities else None)
            else:
                entities = [converted, *entities[1:]]
        return entities

    def _own(self, feature: Feature) -> list[Entity]:
        if feature.kind in (Kind.LIST, Kind.PROGRAM, Kind.PROTECTION_PORT):
            return []
        if feature.kind is Kind.EVENT:
            return self._event(feature)
        # A feature the bridge does not publish (filtered, or JSON-only output)
        # gets no entity, not even a stateless button.
        topic = self.published.state_topic(feature)
        if topic is None:
            return []
        if feature.kind in PROGRAM_TOPICS:
            return self._program_root(feature, topic)
        limits = self.state.limits.get(feature.uid, feature.limits)
        # A feature only the appliance's description change made writable is
        # a control too (without an availability of its own).
        if self._writable(feature):
            control = self._control(feature, topic)
            if control is not None:
                return [control]
        if limits.access.readable or feature.limits.access.readable:
            return self._sensor(feature, topic)
        return []

    def _writable(self, feature: Feature) -> bool:
        limits = self.state.limits.get(feature.uid, feature.limits)
        return is_control(self.state.profile, feature) or limits.access.writable

    def _as_component(self, feature: Feature, component: str) -> Entity | None:
        """The feature's main entity as `component`, or None: hcpy cannot build that for it."""
        if feature.kind in (Kind.LIST, Kind.PROGRAM, Kind.PROTECTION_PORT) or feature.kind in PROGRAM_TOPICS:
            return None
        if feature.kind is Kind.EVENT:
            topic = self.published.event_topic(feature)
            if topic is None or feature.enum is None or component not in ("event", "sensor"):
                return None
            return self._event_entity(feature, topic, as_sensor=component == "sensor")
        topic = self.published.state_topic(feature)
        if topic is None:
            return None
        if component in CONTROL_COMPONENTS:
            return self._control_as(feature, topic, component) if self._writable(feature) else None
        if not _ever_readable(self.state, feature):
            return None
        if component == "sensor":
            if feature.is_boolean:
                return self._entity("sensor", feature, state_topic=topic)
            return self._sensor(feature, topic)[0]
        if component == "binary_sensor":
            states = _two_states(feature)
            if states is None:
                return None
            on, off = states
            return self._entity("binary_sensor", feature, state_topic=topic, payload_on=on, payload_off=off)
        return None

    def cannot(self, where: str, component: str, kept: str | None) -> None:
        stays = f"it stays a {kept}" if kept else "it gets no entity"
        self.warn(
            f"{self.topics.name}: {self.overrides.source}: {where}: component_type {component}: "
            f"hcpy cannot build a {component} for it; {stays}"
        )

    def info_sensors(self, info: dict[str, Any]) -> list[Entity]:
        """Diagnostic sensors of handshake info keys: INFO_SENSORS, and a discovery.yaml's ADDITIONAL_FEATURES.

        hcpy publishes each info key on a topic of its own (``T/state/ipv4``);
        an additional feature's template, which read hcpy2-0's JSON object,
        gives way to that topic and hcpy's template for the key.
        """
        additional = {entry.key: entry for entry in self.overrides.additional}
        entities = []
        for key in dict.fromkeys([*INFO_SENSORS, *additional]):
            entry = additional.get(key)
            if self.overrides.is_skipped(key):
                continue
            if key == "rssi" and entry is None and self.has_sensor(WIFI_SIGNAL):
                continue  # the appliance reports its signal live: one Wi-Fi entity, not two (unless asked for)
            topic = self.published.info_topic(key) if key in info else None
            if topic is None:
                if entry is not None:
                    if key not in info:
                        why = f"this appliance reports no {key} in its handshake"
                    else:
                        why = f"hcpy publishes no topic of its own for this appliance's {key}"
                        why += " (publish filters, JSON only)"
                    self.warn(
                        f"{self.topics.name}: {self.overrides.source}: {ADDITIONAL_KEY}: {key}: "
                        f"{why}, so hcpy cannot serve it; no entity"
                    )
                continue
            config = {"entity_category": "diagnostic", **INFO_SENSORS.get(key, {"name": key})}
            if entry is not None:
                config.update(entry.payload)
            asked = ((ADDITIONAL_KEY, entry.component if entry else None), (MAGIC_KEY, self.overrides.component(key)))
            for where, component in asked:
                if component not in (None, "sensor"):
                    self.cannot(f"{where}: {key}", component, "sensor")
            entity = self._entity("sensor", None, object_suffix=key.lower(), key=key, state_topic=topic, **config)
            entities.append(entity)
        return entities

    def has_sensor(self, name: str) -> bool:
        feature = self.state.profile.by_name(name)
        return feature is not None and self.published.state_topic(feature) is not None

    def program_end(self) -> list[Entity]:
        """When the program under way ends, as a timestamp Home Assistant shows as "in 2 hours"."""
        topic = self.published.info_topic(PROGRAM_END_KEY)
        if topic is None or not self.has_sensor(names.REMAINING_PROGRAM_TIME):
            return []
        if self.overrides.is_skipped(PROGRAM_END_KEY):
            return []
        return [
            self._entity(
                "sensor",
                None,
                object_suffix=PROGRAM_END_KEY,
                name="Program end",
                key=PROGRAM_END_KEY,
                state_topic=topic,
                device_class="timestamp",
            )
        ]

    def _sensor(self, feature: Feature, topic: str) -> list[Entity]:
        if feature.is_boolean:
            return [self._entity("binary_sensor", feature, state_topic=topic, payload_on="True", payload_off="False")]
        config: dict[str, Any] = {"state_topic": topic}
        if feature.enum is not None:
            config.update(device_class="enum", options=_members(feature))
        elif feature.content_type in UNITS:
            unit = UNITS[feature.content_type]
            config["unit_of_measurement"] = unit.unit
            if unit.device_class:
                config["device_class"] = unit.device_class
            if unit.state_class:
                config["state_class"] = unit.state_class
        return [self._entity("sensor", feature, **config)]

    def _event(self, feature: Feature) -> list[Entity]:
        if feature.enum is None:
            return []
        topic = self.published.event_topic(feature)
        if topic is None:
            # Where events are values like any other (the publishing-modes
            # layout: a plain retained member, Off included), where each stands.
            state = self.published.state_topic(feature)
            if state is None:
                return []
            return [self._entity("sensor", feature, state_topic=state, device_class="enum", options=_members(feature))]
        return [self._event_entity(feature, topic, self.options.events_as_sensors)]

    def _event_entity(self, feature: Feature, topic: str, as_sensor: bool) -> Entity:
        if as_sensor:
            return self._entity(
                "sensor",
                feature,
                state_topic=topic,
                value_template="{{ value_json.event_type }}",
                device_class="enum",
                options=_members(feature),
            )
        # The bridge publishes {"event_type": …} already: no value_template, which
        # for events must render a whole JSON event payload. It never sends Off.
        types = [member for member in _members(feature) if member != EVENT_OFF]
        return self._entity("event", feature, state_topic=topic, event_types=types)

    def _control(self, feature: Feature, topic: str) -> Entity | None:
        """The control for a feature the profile lets users write, available while it works."""
        if feature.is_boolean:
            component = "button" if feature.kind is Kind.COMMAND else "switch"
        elif feature.enum is not None:
            component = "switch" if sorted(_members(feature)) == ["Off", "On"] else "select"
        else:
            component = "number"
        return self._control_as(feature, topic, component)

    def _control_as(self, feature: Feature, topic: str, component: str) -> Entity | None:
        """The control of this component for a writable feature, or None: it cannot be one."""
        set_topic = self.topics.command(CommandTopic.SET)
        uid = feature.uid
        usable = self._usable(feature)
        if feature.is_boolean:
            if component == "button":  # a setting's button sets it on
                return self._entity("button", feature, command_topic=set_topic, payload_press=_set(uid, True), **usable)
            if component != "switch" or feature.kind is Kind.COMMAND:
                return None
            return self._entity(
                "switch",
                feature,
                state_topic=topic,
                command_topic=set_topic,
                state_on="True",
                state_off="False",
                payload_on=_set(uid, True),
                payload_off=_set(uid, False),
                **usable,
            )
        # A command with a value, or a value nobody can read back, has no
        # sensible Home Assistant form.
        if feature.kind is Kind.COMMAND or not _ever_readable(self.state, feature):
            return None
        if feature.enum is not None:
            members = _members(feature)
            if component == "switch" and sorted(members) == ["Off", "On"]:
                return self._entity(
                    "switch",
                    feature,
                    state_topic=topic,
                    command_topic=set_topic,
                    state_on="On",
                    state_off="Off",
                    payload_on=_set(uid, "On"),
                    payload_off=_set(uid, "Off"),
                    **usable,
                )
            if component != "select":
                return None
            return self._entity(
                "select",
                feature,
                state_topic=topic,
                command_topic=set_topic,
                options=members,
                command_template=_set_template(uid, quoted=True),
                **usable,
            )
        if component == "number" and feature.content_type in NUMERIC_CONTENT:
            return self._number(feature, topic, usable)
        return None

    def _number(self, feature: Feature, topic: str, usable: dict[str, Any]) -> Entity | None:
        # Live: an option's bounds are those of the program in charge, and
        # change with it (the bridge republishes this config then).
        _, limits = self.state.option_limits(feature)
        bounds = _bounds(feature.bounded(limits))
        if bounds is None:
            return None
        low, high = bounds
        step = _step(limits)
        config: dict[str, Any] = {"state_topic": topic, "command_topic": self.topics.command(CommandTopic.SET)}
        unit = UNITS.get(feature.content_type) if feature.content_type is not None else None
        if feature.content_type == CID_TIME_SPAN and (step % MINUTE == 0 or step == 1):
            # Shown and set in whole minutes; the appliance gets seconds.
            step = max(1, step // MINUTE)
            low, high = -(-low // MINUTE), high // MINUTE
            config.update(
                unit_of_measurement="min",
                device_class="duration",
                mode="box",
                value_template="{{ (value | int(0) / 60) | round(0) | int }}",
                command_template=f'{{"uid":{feature.uid},"value":{{{{ (value | int) * 60 }}}}}}',
            )
        else:
            config["command_template"] = _set_template(feature.uid, quoted=False)
            if unit is not None:
                config["unit_of_measurement"] = unit.unit
                if unit.device_class:
                    config["device_class"] = unit.device_class
        config.update(min=low, max=high, step=step, **usable)
        return self._entity("number", feature, **config)

    def _usable(self, feature: Feature) -> dict[str, Any]:
        """The availability of a control: the appliance's, and its own "works now"."""
        topic = self.published.available_topic(feature)
        return {"availability": [*self.availability, {"topic": topic}]} if topic else {}

    def _program_root(self, feature: Feature, topic: str) -> list[Entity]:
        labels = program_labels(self.state)
        if not labels:
            return []
        # The bridge reports the program's full name (or, undecoded, its uid);
        # both must land on the option label, and anything else (0: no
        # program) on "None", which Home Assistant's select takes as no option.
        mapping = {
            key: text
            for uid, text in labels.items()
            for key in (self.state.profile.features[uid].name, str(uid))
        }
        config: dict[str, Any] = {
            "state_topic": topic,
            "command_topic": self.topics.command(PROGRAM_TOPICS[feature.kind]),
            "options": list(dict.fromkeys(labels.values())),
            "command_template": '{"program":"{{ value }}"}',
            "value_template": program_value_template(mapping),
        }
        entities = [self._entity("select", feature, **config)]
        if feature.kind is Kind.ACTIVE_PROGRAM and self.state.profile.root(Kind.SELECTED_PROGRAM):
            entities.append(
                self._entity(
                    "button",
                    None,
                    object_suffix=START_SELECTED_KEY,
                    name="Start selected program",
                    key=START_SELECTED_KEY,
                    command_topic=self.topics.command(CommandTopic.ACTIVE_PROGRAM),
                    payload_press='{"program":"selected"}',
                    availability=[*self.availability, {"topic": self.topics.available(START_SELECTED_KEY)}],
                )
            )
        return entities

    # -- assembling

    def _entity(
        self,
        component: str,
        feature: Feature | None,
        object_suffix: str | None = None,
        name: str | None = None,
        key: str | None = None,
        **specific: Any,
    ) -> Entity:
        """An entity's config; `key` (a feature's name by default) is what discovery.yaml calls it."""
        suffix = object_suffix or feature.feature_id  # type: ignore[union-attr]
        unique_id = f"{self.name}_{suffix}"
        if key is None and feature is not None:
            key = feature.name
        if name is None and feature is not None:
            name = label(feature, self.overrides.expansion(feature.name))
        config: dict[str, Any] = {
            "name": name,
            "unique_id": unique_id,
            "default_entity_id": f"{component}.{_slug(unique_id)}",
            "device": self.device,
            "origin": ORIGIN,
            "availability_mode": "all",
            "availability": self.availability,
        }
        if feature is not None and feature.name in DIAGNOSTIC:
            config["entity_category"] = "diagnostic"
        if feature is not None and feature.name in DISABLED_BY_DEFAULT:
            config["enabled_by_default"] = False
        if key is not None and self.overrides.is_disabled(key):
            config["enabled_by_default"] = False
        config.update(specific)
        override = self.overrides.override(key) if key is not None else None
        if override is not None:
            # Identity and wiring keys were refused when the file was read.
            config.update(_with_device_name(override.payload, self.name))
        return component, unique_id, config

    def message(self, component: str, unique_id: str, config: dict[str, Any]) -> Outgoing:
        topic = f"{self.options.prefix}/{component}/{NODE_ID}/{_object_id(unique_id)}/config"
        return Outgoing(topic, json.dumps(config, ensure_ascii=False), retain=True)


# -- pieces ------------------------------------------------------------------------------


def device_block(name: str, state: ApplianceState, info: dict[str, Any]) -> dict[str, Any]:
    """The Home Assistant device: handshake info first, the profile's description as fallback."""
    description = state.profile.description
    device: dict[str, Any] = {"identifiers": [name], "name": name}
    brand = _text(info.get("brand")) or description.brand
    if brand:
        device["manufacturer"] = brand.title()
    model = _text(info.get("deviceType")) or description.type
    if model:
        device["model"] = model
    model_id = _text(info.get("vib")) or description.model
    if model_id:
        device["model_id"] = model_id
    for key, field in (("swVersion", "sw_version"), ("hwVersion", "hw_version"), ("serialNumber", "serial_number")):
        if _text(info.get(key)):
            device[field] = _text(info.get(key))
    mac = _mac(info.get("mac"))
    if mac:
        device["connections"] = [["mac", mac]]
    return device


def program_labels(state: ApplianceState) -> dict[int, str]:
    """Option label per available program: the short name if no other program has it.

    Uniqueness is judged among all programs, as `commands.resolve` judges it,
    so every label resolves back to exactly its program.
    """
    profile = state.profile
    features = [profile.features[uid] for uid in profile.programs if uid in profile.features]
    counts = Counter(f.short_name for f in features)
    labels = {}
    for feature in features:
        # Live: appliances often describe programs as unavailable and enable
        # them by description changes right after connecting.
        limits = state.limits.get(feature.uid)
        available = limits.available if limits is not None else profile.programs[feature.uid].available
        if available:
            labels[feature.uid] = feature.short_name if counts[feature.short_name] == 1 else feature.name
    return labels


def program_value_template(mapping: dict[str, str]) -> str:
    # A Jinja dict literal with JSON-quoted strings is valid Jinja.
    return "{% set labels = " + json.dumps(mapping, ensure_ascii=False) + ' %}{{ labels.get(value, "None") }}'


def _two_states(feature: Feature) -> tuple[str, str] | None:
    """A binary sensor's (payload_on, payload_off) for a feature of two states, as the bridge publishes them."""
    if feature.is_boolean:
        return "True", "False"
    members = sorted(_members(feature))
    if members == ["Off", "On"]:
        return "On", "Off"
    if members == ["Closed", "Open"]:  # Home Assistant's door and window classes: on means open
        return "Open", "Closed"
    return None


def _with_device_name(value: Any, name: str) -> Any:
    """An override's value with DEVICE_NAME in its text replaced by the appliance's name, as hcpy2-0 did."""
    if isinstance(value, str):
        return value.replace("DEVICE_NAME", name)
    if isinstance(value, dict):
        return {k: _with_device_name(v, name) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_device_name(v, name) for v in value]
    return value


def _ever_readable(state: ApplianceState, feature: Feature) -> bool:
    """Whether a value can be read back: a control without one has no state to show."""
    accesses = [feature.limits.access, state.limits.get(feature.uid, feature.limits).access]
    accesses += [limits.access for (_, uid), limits in state.program_limits.items() if uid == feature.uid]
    return any(access.readable for access in accesses)


def _members(feature: Feature) -> list[str]:
    return list(dict.fromkeys(feature.enum.members.values())) if feature.enum else []


def _set(uid: int, value: Any) -> str:
    return json.dumps({"uid": uid, "value": value}, separators=(",", ":"))


def _set_template(uid: int, quoted: bool) -> str:
    value = '"{{ value }}"' if quoted else "{{ value }}"
    return f'{{"uid":{uid},"value":{value}}}'


def _bounds(limits: Limits) -> tuple[int | float, int | float] | None:
    # Integer widths by refDID are unproven (0x81 carries 25500), so a number
    # without bounds (its own, or its content type's) stays a sensor.
    low, high = _number(limits.min), _number(limits.max)
    if low is None or high is None or low > high:
        return None
    return low, high


def _step(limits: Limits) -> int | float:
    step = _number(limits.step)
    return step if step is not None and step > 0 else 1


def _number(value: Any) -> int | float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return int(number) if number.is_integer() else number


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _mac(value: Any) -> str:
    text = _text(value).lower().replace("-", ":")
    digits = re.sub(r"[^0-9a-f]", "", text)
    if len(digits) != 12:
        return ""
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def _object_id(unique_id: str) -> str:
    # Home Assistant only matches [a-zA-Z0-9_-] in the object id segment of a
    # config topic; names hcpy2-0 could discover already fit and stay unchanged.
    return re.sub(r"[^a-zA-Z0-9_-]", "_", unique_id)


def _slug(text: str) -> str:
    # default_entity_id is validated as an entity id: lower-case [a-z0-9_],
    # no leading, trailing or doubled underscores.
    slug = re.sub(r"[^a-z0-9_]", "_", text.lower())
    slug = re.sub(r"_+", "_", slug).strip("_")
    return slug or "appliance"
