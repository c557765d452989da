"""Home Assistant MQTT discovery payloads for one appliance.

Pure: reads the profile and the live limits of an `ApplianceState` and
returns the retained config messages; the bridge sends them. Every entity's
envelope (identity, device, availability) is `entity`'s; which component a
feature becomes is `components`' tables; the entities of each feature are
`entities`'. unique_ids are ``<name>_<feature_id>``, as hcpy2-0 had them.

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

import logging
from collections.abc import Iterable
from typing import Any

from ..appliance.model import Profile
from ..appliance.state import ApplianceState
from ..mqtt.outgoing import Outgoing
from ..mqtt.topics import Topics
from . import entity
from .catalogue import INFO_SENSORS, SYNTHETIC_IDS
from .components import COMPONENTS
from .discovery_file import MAGIC_KEY, DiscoveryOverrides
from .entities import DiscoveryOptions, EntityBuilder, PublishedTopics
from .labels import label

__all__ = ["Discovery", "DiscoveryOptions", "PublishedTopics", "config_topic_filter", "label"]

log = logging.getLogger("hcpy.discovery")
DEFAULT_OPTIONS = DiscoveryOptions()


class Discovery:
    """Home Assistant's view of one appliance: its entities' configs, and which to remove."""

    def __init__(
        self,
        topics: Topics,
        published: PublishedTopics,
        options: DiscoveryOptions = DEFAULT_OPTIONS,
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
        builder = EntityBuilder(self.topics, state, info, self.published, self.options, self._warn)
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
        ours = {entity.object_id(entity.unique_id(name, f.feature_id)) for f in state.profile.features.values()}
        ours.update(entity.object_id(entity.unique_id(name, suffix)) for suffix in SYNTHETIC_IDS)
        # Info sensors a discovery.yaml skips or moves to another component.
        overrides = self.options.overrides
        info_keys = [*INFO_SENSORS, *(entry.key for entry in overrides.additional)]
        skipped = [key for key in info_keys if overrides.is_skipped(key)]
        ours.update(entity.object_id(entity.unique_id(name, key.lower())) for key in skipped)
        removals = []
        for topic in dict.fromkeys(known):
            parts = topic.split("/")
            if (
                topic not in keep
                and topic.startswith(prefix + "/")
                and len(parts) == len(prefix.split("/")) + 4
                and parts[-4] in COMPONENTS
                and parts[-3] == entity.NODE_ID
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


def config_topic_filter(options: DiscoveryOptions = DEFAULT_OPTIONS) -> str:
    """Subscribe to this to learn which config topics the broker retains."""
    return f"{options.prefix}/+/{entity.NODE_ID}/+/config"
