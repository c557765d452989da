"""Which features are published, and under what names and topics.

Names. ``rename.default`` picks the name a feature goes by: ``long`` (full
name, the default), ``short`` (last name segment; when two features share
it, enough leading segments are kept to tell them apart, e.g.
``DoorLightRing.Brightness``) or ``uid`` (decimal). An explicit
``rename`` entry keyed by full name or decimal uid wins over the default. The
topic key is that name lower-cased, ``.`` -> ``_``, with the characters MQTT
forbids in a topic level (``+ # /``, whitespace) replaced by ``_``.

Filters. For a feature's full name (or an info key), the first rule that
applies decides:

1. listed in ``publish.long_names`` -> published;
2. listed in ``publish_never.long_names`` -> not published;
3. contains a ``publish_never.contains`` substring -> not published;
4. contains a ``publish.contains`` substring -> published;
5. otherwise published only if there is no ``publish`` block.

Layouts (`topics.Layout`). In hcpy2-0's (and osresearch's) a value goes to
``T/state/<topic key>`` and an event to ``T/event/<topic key>``; in the
publishing-modes fork's every feature, events included, is a value on
``T/<Key>/value``, where Key is the name itself (case kept) with only the
characters MQTT forbids in a level replaced.

So no filters at all publishes everything, and ``publish_never`` alone
publishes everything but what it names. A ``publish`` block with empty lists
counts as absent. The filters cover per-feature topics, events, the JSON
object, Homie and info keys; the summary is a fixed message and ignores them.

`Naming` is also what Home Assistant discovery reads: the topics an entity
finds its state (and, for a control, whether it can be used now) on are
exactly those the publisher writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..appliance.controls import is_control
from ..appliance.model import Feature, Kind, Profile
from .options import NameFilter, PublishOptions
from .topics import Layout, Topics

# Kinds that never carry a value; leaving them out of the short-name clash
# check keeps e.g. an event and a program of the same name both short.
_VALUELESS = (Kind.PROGRAM, Kind.LIST)


def is_wanted(name: str, publish: NameFilter | None, never: NameFilter | None) -> bool:
    """The filter rule of the module docstring."""
    if publish is not None and name in publish.long_names:
        return True
    if never is not None and (name in never.long_names or never.contained(name)):
        return False
    if publish is not None:
        return publish.contained(name)
    return True


def short_names(names: Iterable[str]) -> dict[str, str]:
    """Each name's shortest dotted tail that no other name ends with."""
    split = {name: name.split(".") for name in set(names)}
    result = {}
    for name, parts in split.items():
        for n in range(1, len(parts) + 1):
            tail = parts[-n:]
            if sum(1 for other in split.values() if other[-n:] == tail) == 1:
                break
        result[name] = ".".join(parts[-n:])
    return result


_TOPIC_ILLEGAL = re.compile(r"[+#/\s\x00]")


def topic_key(name: str) -> str:
    return _TOPIC_ILLEGAL.sub("_", name.lower().replace(".", "_"))


def topic_level(name: str) -> str:
    """The name as one topic level, case and dots kept (the publishing-modes layout)."""
    return _TOPIC_ILLEGAL.sub("_", name)


class Naming:
    """One appliance's names, filters and topics, each worked out once."""

    def __init__(self, topics: Topics, options: PublishOptions, profile: Profile):
        self.topics = topics
        self.options = options
        self.profile = profile
        self._short = short_names(f.name for f in profile.features.values() if f.kind not in _VALUELESS)
        # Names never change while running: each topic is worked out once.
        self._state_topics: dict[int, str | None] = {}
        self._wanted: dict[str, bool] = {}  # full name -> passes the filters
        self.modes = options.layout is Layout.PUBLISHING_MODES
        # The publishing-modes fork publishes events as values, like any feature.
        self.events_as_values = self.modes
        self.problems = self._rename_problems()
        # The controls whose usability is published: those whose value is.
        self.controls = frozenset(
            uid for uid, f in sorted(profile.features.items()) if is_control(profile, f) and self.state_topic(f)
        )

    def key(self, feature: Feature) -> str:
        rename = self.options.rename
        custom = rename.names.get(feature.name) or rename.names.get(str(feature.uid))
        if custom:
            return custom
        if rename.default == "uid":
            return str(feature.uid)
        if rename.default == "short":
            return self._short.get(feature.name, feature.short_name)
        return feature.name

    def wants(self, name: str) -> bool:
        """Whether a feature's full name (or an info key) passes the filters."""
        wanted = self._wanted.get(name)
        if wanted is None:
            wanted = self._wanted[name] = is_wanted(name, self.options.publish, self.options.publish_never)
        return wanted

    def is_published(self, feature: Feature) -> bool:
        return self.wants(feature.name)

    def state_topic(self, feature: Feature) -> str | None:
        """Where a feature's value is published (None: it is not); asked for every value."""
        try:
            return self._state_topics[feature.uid]
        except KeyError:
            published = (
                self.options.as_mqtt
                and (feature.kind is not Kind.EVENT or self.events_as_values)
                and self.is_published(feature)
            )
            topic = self._state_topics[feature.uid] = self._topic(feature) if published else None
            return topic

    def event_topic(self, feature: Feature) -> str | None:
        if feature.kind != Kind.EVENT or self.events_as_values or not self.is_published(feature):
            return None
        return self._topic(feature)

    def available_topic(self, feature: Feature) -> str | None:
        """Where whether a control can be used now is published (None: nowhere)."""
        if not self.options.home_assistant or feature.uid not in self.controls:
            return None
        return self.topics.available(topic_key(self.key(feature)))

    def _topic(self, feature: Feature) -> str:
        if self.modes:
            return self.topics.value(topic_level(self.key(feature)))
        key = topic_key(self.key(feature))
        return self.topics.event(key) if feature.kind == Kind.EVENT else self.topics.state(key)

    def unknown_topic(self, uid: int) -> str | None:
        """Where a value for a uid the profile lacks goes: ``T/state/<uid>``, as hcpy2-0
        published it; only in the layouts with per-feature state topics."""
        if not self.options.as_mqtt or self.modes or not self.wants(str(uid)):
            return None
        return self.topics.state(str(uid))

    def info_topic(self, key: str) -> str | None:
        """Where a handshake info key (``ipV4``…) is published, if it is."""
        if not self.options.as_mqtt or not self.wants(key):
            return None
        if self.modes:
            return self.topics.value(topic_level(key))
        return self.topics.state(topic_key(key))

    def _rename_problems(self) -> list[str]:
        """Rename entries naming nothing this appliance has: likely typos."""
        problems = []
        for key in self.options.rename.names:
            known = int(key) in self.profile.features if key.isdigit() else self.profile.by_name(key) is not None
            if not known:
                problems.append(
                    f"{self.topics.name}: hc2mqtt.rename.{key} names no feature of this appliance; "
                    "use a full feature name or a decimal uid"
                )
        return problems
