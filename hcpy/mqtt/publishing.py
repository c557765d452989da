"""What hcpy publishes for one appliance, decided without any I/O.

`Publisher` turns an appliance's state into `Outgoing` messages; the bridge
sends them. Output families, each switched by `PublishOptions`:

- per-feature topics ``T/state/<key>`` (hcpy2-0 v0.4 layout and payloads);
- events on ``T/event/<key>`` as ``{"event_type": "<member>"}``, on every
  occurrence; they have no other channel, so they follow the filters but not
  ``publish_as_mqtt``;
- one JSON object with every published value on ``T/state``;
- Homie 4 topics under ``homie/<device id>``;
- the original compact summary on ``T`` (osresearch's keys and formats).

Publishing is on change: the last payload sent on each retained topic is
remembered and an unchanged one is not sent again. `everything()` sends all
of them anyway, for a reconnect of the appliance or the broker.

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

So no filters at all publishes everything, and ``publish_never`` alone
publishes everything but what it names. A ``publish`` block with empty lists
counts as absent. The filters cover per-feature topics, events, the JSON
object, Homie and info keys; the summary is a fixed message and ignores them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from ..appliance.model import Feature, Kind, Profile, ValueKind
from ..appliance.state import ApplianceState, Change
from ..errors import ConfigError
from .topics import Topics

RENAME_MODES = ("short", "long", "uid")
FILTER_LISTS = ("long_names", "contains")

# devices.json / config.ini key -> PublishOptions field, for the booleans.
_SWITCHES = {
    "publish_as_mqtt": "as_mqtt",
    "publish_as_json": "as_json",
    "publish_homie_topics": "homie",
    "publish_summary": "summary",
}
OPTION_KEYS = (*_SWITCHES, "homie_prefix", "rename", "publish", "publish_never")

HOMIE_VERSION = "4.0.0"
HOMIE_PROPERTY = "value"

# osresearch's summary: feature short name -> summary key.
SUMMARY_SOURCES = {
    "OperationState": "state",
    "DoorState": "door",
    "RemainingProgramTime": "remaining",
    "PowerState": "power",
    "LowWaterPressure": "lowwaterpressure",
    "AquaStopOccured": "aquastop",
    "InternalError": "error",
    "FatalErrorOccured": "error",
}
SUMMARY_KEYS = ("state", "door", "remaining", "power", "lowwaterpressure", "aquastop", "error", "remainingseconds")

# Kinds that never carry a value; leaving them out of the short-name clash
# check keeps e.g. an event and a program of the same name both short.
_VALUELESS = (Kind.PROGRAM, Kind.LIST)


@dataclass(frozen=True)
class Outgoing:
    topic: str
    payload: str
    retain: bool = True


@dataclass(frozen=True)
class NameFilter:
    long_names: frozenset[str] = frozenset()
    contains: tuple[str, ...] = ()

    def contained(self, name: str) -> bool:
        return any(part in name for part in self.contains)


@dataclass(frozen=True)
class Rename:
    default: str = "long"
    names: dict[str, str] = field(default_factory=dict)  # full name or decimal uid -> custom name


@dataclass(frozen=True)
class PublishOptions:
    as_mqtt: bool = True
    as_json: bool = False
    homie: bool = False
    homie_prefix: str = "homie/"
    summary: bool = True
    rename: Rename = field(default_factory=Rename)
    publish: NameFilter | None = None  # None: no publish block
    publish_never: NameFilter | None = None

    @classmethod
    def parse(cls, block: dict | None, base: PublishOptions | None = None, appliance: str = "") -> PublishOptions:
        """Options from an "hc2mqtt" block over `base` (the config.ini defaults).

        Each key replaces the base's value, except `rename`, whose entries are
        added to the base's. Raises ConfigError naming the appliance and key.
        """
        where = f"devices.json: {appliance}: hc2mqtt." if appliance else "config.ini: "
        options = base or cls()
        if block is None:
            return options
        if not isinstance(block, dict):
            raise ConfigError(
                f"{where.rstrip('.: ')} must be an object of publishing options, such as {{\"publish_as_json\": true}}"
            )
        changes: dict[str, Any] = {}
        for key, value in block.items():
            if key in _SWITCHES:
                changes[_SWITCHES[key]] = _switch(where, key, value)
            elif key == "homie_prefix":
                changes["homie_prefix"] = _homie_prefix(where, value)
            elif key == "rename":
                changes["rename"] = _rename(where, value, options.rename)
            elif key in ("publish", "publish_never"):
                changes[key] = _name_filter(where, key, value)
            else:
                raise ConfigError(f"{where}{key} is not a publishing option; use one of {', '.join(OPTION_KEYS)}")
        return replace(options, **changes)


# -- parsing helpers ----------------------------------------------------------------------


def _switch(where: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}{key} must be true or false, not {value!r}")
    return value


def _homie_prefix(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip("/") or any(c in value for c in "+#"):
        raise ConfigError(f"{where}homie_prefix must be a topic prefix such as \"homie/\", not {value!r}")
    return value if value.endswith("/") else value + "/"


def _rename(where: str, value: Any, base: Rename) -> Rename:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}rename must be an object such as {{\"default\": \"short\", \"527\": \"door\"}}")
    default, names = base.default, dict(base.names)
    for key, name in value.items():
        if key == "default":
            if name not in RENAME_MODES:
                raise ConfigError(f"{where}rename.default must be short, long or uid, not {name!r}")
            default = name
        elif not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}rename.{key} must be a non-empty name, not {name!r}")
        else:
            names[key] = name
    return Rename(default, names)


def _name_filter(where: str, key: str, value: Any) -> NameFilter | None:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}{key} must be an object such as {{\"contains\": [\"Event\"]}}")
    lists: dict[str, list[str]] = {}
    for name, items in value.items():
        if name not in FILTER_LISTS:
            raise ConfigError(f"{where}{key}.{name} is not known; use long_names or contains")
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise ConfigError(f"{where}{key}.{name} must be a list of non-empty strings")
        lists[name] = items
    result = NameFilter(frozenset(lists.get("long_names", ())), tuple(lists.get("contains", ())))
    return result if result.long_names or result.contains else None


# -- pure decisions -----------------------------------------------------------------------


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


def homie_id(text: str) -> str:
    """A Homie topic id: lower-case a-z, 0-9 and inner hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def json_payload(value: Any) -> str:
    # json.dumps' own separators, as hcpy2-0 and osresearch wrote them: an
    # automation matching the payload text keeps working.
    return json.dumps(value, default=str)


def state_payload(value: Any) -> str:
    """hcpy2-0's payload: str() of a scalar (`Closed`, `True`, `180`), JSON for objects."""
    return json_payload(value) if isinstance(value, (dict, list)) else str(value)


def event_payload(value: Any) -> str:
    return json_payload({"event_type": value})


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


HOMIE_DATATYPES = {
    ValueKind.BOOLEAN: "boolean",
    ValueKind.ENUM: "enum",
    ValueKind.INTEGER: "integer",
    ValueKind.NUMBER: "float",
}


def homie_datatype(feature: Feature) -> str:
    if feature.holds_uid:
        return "string"  # published as the target's name
    return HOMIE_DATATYPES.get(feature.value_kind, "string")


def homie_payload(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _number(value)
    return state_payload(value)


def homie_format(feature: Feature, limits_min: Any, limits_max: Any) -> str | None:
    datatype = homie_datatype(feature)
    if datatype == "enum":
        return ",".join(feature.enum.members.values())
    if datatype in ("integer", "float") and limits_min is not None and limits_max is not None:
        return f"{_number(limits_min)}:{_number(limits_max)}"
    return None


def summary_value(feature: Feature, value: Any) -> Any:
    if value == "On" or (feature.kind == Kind.EVENT and value == "Present"):
        return True
    if value == "Off" or (feature.kind == Kind.EVENT and value == "Confirmed"):
        return False
    return value


def summary(mapped: list[tuple[Feature, Any]]) -> dict[str, Any]:
    """The compact message from (feature, value) pairs of the mapped features.

    Two features can feed one key (InternalError, FatalErrorOccured -> error):
    a true one wins, otherwise the first known value.
    """
    result: dict[str, Any] = dict.fromkeys(SUMMARY_KEYS)
    for feature, value in mapped:
        key = SUMMARY_SOURCES[feature.short_name]
        value = summary_value(feature, value)
        if key == "remaining":
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                seconds = int(value)
                result["remainingseconds"] = seconds
                value = "%d:%02d" % (seconds // 3600, seconds // 60 % 60)
        if result[key] is None or (value is True and result[key] is not True):
            result[key] = value
    return result


# -- the publisher ------------------------------------------------------------------------


class Publisher:
    def __init__(self, topics: Topics, options: PublishOptions, profile: Profile):
        self.topics = topics
        self.options = options
        self.profile = profile
        self.homie_base = options.homie_prefix + (homie_id(topics.appliance) or "appliance")
        self._short = short_names(f.name for f in profile.features.values() if f.kind not in _VALUELESS)
        self._summary_sources = [f for _, f in sorted(profile.features.items()) if f.short_name in SUMMARY_SOURCES]
        self._summary_uids = {f.uid for f in self._summary_sources}
        self._topics: dict[int, str] = {}  # uid -> its state or event topic
        self._wanted: dict[str, bool] = {}  # full name -> passes the filters
        self._sent: dict[str, str] = {}  # retained topic -> last payload sent
        self._info: dict[str, Any] = {}
        self.problems = self._rename_problems()

    # -- names and topics --------------------------------------------------------------

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

    def is_published(self, feature: Feature) -> bool:
        wanted = self._wanted.get(feature.name)
        if wanted is None:
            wanted = self._wanted[feature.name] = is_wanted(feature.name, self.options.publish, self.options.publish_never)
        return wanted

    def state_topic(self, feature: Feature) -> str | None:
        if not self.options.as_mqtt or feature.kind == Kind.EVENT or not self.is_published(feature):
            return None
        return self._topic(feature)

    def event_topic(self, feature: Feature) -> str | None:
        if feature.kind != Kind.EVENT or not self.is_published(feature):
            return None
        return self._topic(feature)

    def _topic(self, feature: Feature) -> str:
        # Names never change while running: work each topic out once.
        topic = self._topics.get(feature.uid)
        if topic is None:
            key = topic_key(self.key(feature))
            topic = self.topics.event(key) if feature.kind == Kind.EVENT else self.topics.state(key)
            self._topics[feature.uid] = topic
        return topic

    def info_topic(self, key: str) -> str | None:
        """Where a handshake info key (``ipV4``…) is published, if it is."""
        if not self.options.as_mqtt or not is_wanted(key, self.options.publish, self.options.publish_never):
            return None
        return self.topics.state(topic_key(key))

    @property
    def summary_topic(self) -> str:
        return self.topics.base

    # -- what to send --------------------------------------------------------------------

    def changes(self, state: ApplianceState, changes: list[Change]) -> list[Outgoing]:
        """Events as they occur, then the retained topics the changes touch.

        This is the hot path (every value an appliance reports), so only
        what depends on the changed features is rendered; `refresh()` covers
        changes of access and limits.
        """
        wanted = [c for c in changes if c.value is not None and self.is_published(c.feature)]
        out = [
            Outgoing(self.event_topic(c.feature), event_payload(c.value)) for c in wanted if c.feature.kind == Kind.EVENT
        ]
        values = [c for c in wanted if c.feature.kind != Kind.EVENT]
        touched = bool(values)
        retained = []
        # Retained topics go out in uid order, as everything() sends them.
        for change in sorted(values, key=lambda c: c.feature.uid):
            topic = self.state_topic(change.feature)
            if topic is not None:
                retained.append(Outgoing(topic, state_payload(change.value)))
        if touched and self.options.homie:
            retained += self._homie(state, self._values_of(state))
        if touched and self.options.as_json:
            retained += self._json(self._values_of(state))
        if self.options.summary and any(c.feature.uid in self._summary_uids for c in changes):
            retained += self._summary(state)
        return out + self._fresh(retained)

    def refresh(self, state: ApplianceState) -> list[Outgoing]:
        """What a limits change alters: Homie's $settable and $format, nothing else published."""
        if not self.options.homie:
            return []
        return self._fresh(self._homie(state, self._values_of(state)))

    def everything(self, state: ApplianceState) -> list[Outgoing]:
        messages = self._retained(state)
        self._sent.update((m.topic, m.payload) for m in messages)
        return messages

    def info(self, info: dict) -> list[Outgoing]:
        """Device and network info from the handshake (/iz/info, /ni/info), by key.

        Kept, so that everything() repeats it and the JSON object includes it
        from the next publish on.
        """
        self._info.update((k, v) for k, v in info.items() if v is not None)
        return self._fresh(self._info_topics())

    def homie_state(self, online: bool) -> list[Outgoing]:
        if not self.options.homie:
            return []
        return [Outgoing(f"{self.homie_base}/$state", "ready" if online else "lost")]

    # -- rendering -----------------------------------------------------------------------

    def _fresh(self, messages: list[Outgoing]) -> list[Outgoing]:
        """The messages whose payload differs from the last one sent on their topic."""
        fresh = []
        for message in messages:
            if self._sent.get(message.topic) != message.payload:
                self._sent[message.topic] = message.payload
                fresh.append(message)
        return fresh

    def _values_of(self, state: ApplianceState) -> list[tuple[Feature, Any]]:
        """Published, non-event features with a value, in uid order."""
        pairs = []
        for uid in sorted(state.values):
            feature = self.profile.features.get(uid)
            value = state.values[uid]
            if feature is not None and value is not None and feature.kind != Kind.EVENT and self.is_published(feature):
                pairs.append((feature, value))
        return pairs

    def _retained(self, state: ApplianceState) -> list[Outgoing]:
        """Every retained message the current state calls for."""
        values = self._values_of(state)
        out = []
        if self.options.as_mqtt:
            out += [Outgoing(self.state_topic(f), state_payload(v)) for f, v in values]
        out += self._info_topics()
        out += self._homie(state, values)
        out += self._json(values)
        out += self._summary(state)
        return out

    def _info_topics(self) -> list[Outgoing]:
        topics = ((self.info_topic(k), v) for k, v in self._info.items())
        return [Outgoing(topic, state_payload(v)) for topic, v in topics if topic is not None]

    def _json(self, values: list[tuple[Feature, Any]]) -> list[Outgoing]:
        if not self.options.as_json:
            return []
        document = {self.key(f): v for f, v in values}
        for k, v in self._info.items():
            if k not in document and is_wanted(k, self.options.publish, self.options.publish_never):
                document[k] = v
        # An empty object would only overwrite a retained one before values arrive.
        return [Outgoing(self.topics.json_state, json_payload(document))] if document else []

    def _summary(self, state: ApplianceState) -> list[Outgoing]:
        if not self.options.summary or not self._summary_sources:
            return []
        mapped = [(f, state.values[f.uid]) for f in self._summary_sources if state.values.get(f.uid) is not None]
        return [Outgoing(self.summary_topic, json_payload(summary(mapped)))]

    def _homie(self, state: ApplianceState, values: list[tuple[Feature, Any]]) -> list[Outgoing]:
        if not self.options.homie:
            return []
        base = self.homie_base
        nodes, seen = [], set()
        for feature, value in values:
            node = homie_id(topic_key(self.key(feature))) or f"uid-{feature.uid}"
            if node in seen:  # two renames that fold to one id
                node = f"{node}-{feature.uid}"
            seen.add(node)
            nodes.append((node, feature, value))
        out = [
            Outgoing(f"{base}/$homie", HOMIE_VERSION),
            Outgoing(f"{base}/$name", self.topics.name),
            Outgoing(f"{base}/$nodes", ",".join(node for node, _, _ in nodes)),
        ]
        for node, feature, value in nodes:
            out += self._homie_node(f"{base}/{node}", feature, value, state)
        return out

    def _homie_node(self, topic: str, feature: Feature, value: Any, state: ApplianceState) -> list[Outgoing]:
        limits = state.limits.get(feature.uid, feature.limits)
        prop = f"{topic}/{HOMIE_PROPERTY}"
        out = [
            Outgoing(f"{topic}/$name", feature.name),
            Outgoing(f"{topic}/$type", feature.kind.value),
            Outgoing(f"{topic}/$properties", HOMIE_PROPERTY),
            Outgoing(f"{prop}/$name", feature.short_name),
            Outgoing(f"{prop}/$datatype", homie_datatype(feature)),
        ]
        format_ = homie_format(feature, limits.min, limits.max)
        if format_ is not None:
            out.append(Outgoing(f"{prop}/$format", format_))
        out.append(Outgoing(f"{prop}/$settable", "true" if limits.access.writable else "false"))
        out.append(Outgoing(prop, homie_payload(value)))
        return out

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
