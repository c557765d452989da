"""One appliance's entities, each as a component, a unique_id and a config. Pure.

`EntityBuilder` turns each feature into its entities (`components` says which
component; `entity` gives every config its envelope), adds the info sensors
and hcpy's own entities, and applies the user's discovery.yaml to each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Protocol

from ..appliance import names
from ..appliance.controls import is_control
from ..appliance.model import Feature, Kind
from ..appliance.state import ApplianceState
from ..mqtt.outgoing import Outgoing
from ..mqtt.publishing import EVENT_OFF, PROGRAM_END_KEY
from ..mqtt.topics import START_SELECTED_KEY, CommandTopic, Topics
from . import entity
from .catalogue import DIAGNOSTIC, DISABLED_BY_DEFAULT, INFO_SENSORS, WIFI_SIGNAL
from .components import (
    DEFAULTS,
    FANS,
    LIGHTS,
    RECIPES,
    Role,
    Shape,
    Wiring,
    enum_fields,
    fan_fields,
    light_fields,
    members,
    shape_of,
)
from .device import device_block
from .discovery_file import ADDITIONAL_KEY, MAGIC_KEY, DiscoveryOverrides
from .labels import PROGRAM_END, label, program_labels, program_value_template

log = logging.getLogger("hcpy.discovery")

# Where a program root's select sends the chosen program.
PROGRAM_TOPICS = {
    Kind.ACTIVE_PROGRAM: CommandTopic.ACTIVE_PROGRAM,
    Kind.SELECTED_PROGRAM: CommandTopic.SELECTED_PROGRAM,
}
# Features that are no entity: lists and the program descriptions a program root's select offers.
NO_ENTITY = (Kind.LIST, Kind.PROGRAM, Kind.PROTECTION_PORT)


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


Entity = tuple[str, str, dict[str, Any]]  # component, unique_id, config


class EntityBuilder:
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
        if feature.name in FANS:
            entities += self._fan(feature)
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
        if feature.kind in NO_ENTITY:
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
        if feature.name in LIGHTS or feature.name in LIGHTS.values():
            light = self._light(feature, topic)
            if light is not None:
                return light
        shape = shape_of(feature)
        # A feature only the appliance's description change made writable is
        # a control too (without an availability of its own).
        if self._writable(feature):
            role = Role.COMMAND if feature.kind is Kind.COMMAND else Role.WRITE
            control = DEFAULTS.get((role, shape))
            built = self._built(feature, topic, control) if control is not None else None
            if built is not None:
                return [built]
        limits = self.state.limits.get(feature.uid, feature.limits)
        if limits.access.readable or feature.limits.access.readable:
            built = self._built(feature, topic, DEFAULTS[(Role.READ, shape)])
            return [built] if built is not None else []
        return []

    def _light(self, feature: Feature, topic: str) -> list[Entity] | None:
        """A light's switch as one `light` with its brightness; its brightness as nothing more.

        None: this feature is no part of a light (its switch cannot be written,
        or is not published), and gets its own entities.
        """
        profile = self.state.profile
        switch_name = next((k for k, v in LIGHTS.items() if feature.name in (k, v)))
        switch = profile.by_name(switch_name)
        if switch is None or shape_of(switch) not in (Shape.BOOLEAN, Shape.ON_OFF) or not self._writable(switch):
            return None
        switch_topic = self.published.state_topic(switch)
        if switch_topic is None or not _ever_readable(self.state, switch):
            return None
        brightness = profile.by_name(LIGHTS[switch_name])
        if brightness is not None and not self._writable(brightness):
            brightness = None
        brightness_topic = self.published.state_topic(brightness) if brightness is not None else None
        wiring = Wiring(switch_topic, self.topics.command(CommandTopic.SET), self._usable(switch), self.state)
        fields = light_fields(switch, brightness, wiring, brightness_topic)
        if feature is not switch:
            # Part of its switch's light, unless that light cannot dim with it
            # (light_fields decides: the brightness may have no usable bounds).
            return [] if brightness is feature and "brightness_command_topic" in fields else None
        return [self._entity("light", switch, **fields)]

    def _fan(self, level: Feature) -> list[Entity]:
        """A `fan` beside the speed option's own entity: its program started and stopped, its stages as speeds."""
        fan = FANS[level.name]
        profile = self.state.profile
        program = profile.by_name(fan.program)
        run = profile.by_name(names.OPERATION_STATE)
        root = profile.root(Kind.ACTIVE_PROGRAM)
        if program is None or run is None or root is None or level.enum is None:
            return []
        run_topic, level_topic = self.published.state_topic(run), self.published.state_topic(level)
        if run_topic is None or level_topic is None or not self._writable_in(level, program):
            return []
        topics = {
            "run": run_topic,
            "level": level_topic,
            "set": self.topics.command(CommandTopic.SET),
            "program": self.topics.command(CommandTopic.ACTIVE_PROGRAM),
        }
        boost = profile.by_name(fan.boost) if fan.boost else None
        boost_topic = self.published.state_topic(boost) if boost is not None else None
        if boost is not None and boost_topic is not None and self._writable_in(boost, program):
            topics["boost"] = boost_topic
        fields = fan_fields(program, level, boost, topics)
        if fields is None:
            return []
        return [self._entity("fan", program, name=label(program, None), **fields)]

    def _writable_in(self, option: Feature, program: Feature) -> bool:
        """Whether `option` can be set while `program` runs (its program's access, or its own)."""
        limits = self.state.program_limits.get((program.uid, option.uid))
        return (limits is not None and limits.access.writable) or self._writable(option)

    def _writable(self, feature: Feature) -> bool:
        limits = self.state.limits.get(feature.uid, feature.limits)
        return is_control(self.state.profile, feature) or limits.access.writable

    def _built(self, feature: Feature, topic: str, component: str) -> Entity | None:
        """The feature as `component` (`components.RECIPES`), or None: hcpy cannot build that for it."""
        recipe = RECIPES.get((component, shape_of(feature)))
        if recipe is None:
            return None
        if recipe.sends and not self._writable(feature):
            return None
        if recipe.stateful and feature.kind is Kind.COMMAND:
            return None
        if recipe.read_back and not _ever_readable(self.state, feature):
            return None
        usable = self._usable(feature) if recipe.sends else {}
        wiring = Wiring(topic, self.topics.command(CommandTopic.SET), usable, self.state)
        fields = recipe.fields(feature, wiring)
        return None if fields is None else self._entity(component, feature, **fields)

    def _as_component(self, feature: Feature, component: str) -> Entity | None:
        """The feature's main entity as `component`, or None: hcpy cannot build that for it."""
        if feature.kind in NO_ENTITY or feature.kind in PROGRAM_TOPICS:
            return None
        if feature.kind is Kind.EVENT:
            topic = self.published.event_topic(feature)
            if topic is None or feature.enum is None or component not in ("event", "sensor"):
                return None
            return self._event_entity(feature, topic, as_sensor=component == "sensor")
        topic = self.published.state_topic(feature)
        if topic is None:
            return None
        return self._built(feature, topic, component)

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
                name=PROGRAM_END,
                key=PROGRAM_END_KEY,
                state_topic=topic,
                device_class="timestamp",
            )
        ]

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
            return [self._entity("sensor", feature, state_topic=state, device_class="enum", **enum_fields(feature))]
        if names.is_door_alarm(feature.name) and not self.options.events_as_sensors:
            # A problem while it stands (Present), none once confirmed or Off.
            present = '{% if value_json.event_type == "Present" %}ON{% else %}OFF{% endif %}'
            config = {"state_topic": topic, "value_template": present, "payload_on": "ON", "payload_off": "OFF"}
            return [self._entity("binary_sensor", feature, device_class="problem", **config)]
        return [self._event_entity(feature, topic, self.options.events_as_sensors)]

    def _event_entity(self, feature: Feature, topic: str, as_sensor: bool) -> Entity:
        if as_sensor:
            fields = enum_fields(feature, "value_json.event_type", "{{ value_json.event_type }}")
            return self._entity(
                "sensor",
                feature,
                state_topic=topic,
                value_template=fields["value_template"],
                device_class="enum",
                options=fields["options"],
            )
        # The bridge publishes {"event_type": …} already: no value_template, which
        # for events must render a whole JSON event payload. It never sends Off.
        types = [member for member in members(feature) if member != EVENT_OFF]
        return self._entity("event", feature, state_topic=topic, event_types=types)

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
        unique_id = entity.unique_id(self.name, suffix)
        if key is None and feature is not None:
            key = feature.name
        if name is None and feature is not None:
            name = label(feature, self.overrides.expansion(feature.name))
        config = entity.envelope(component, unique_id, name, self.device, self.availability)
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
        return entity.message(self.options.prefix, component, unique_id, config)


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
