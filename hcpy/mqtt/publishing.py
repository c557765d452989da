"""What hcpy publishes for one appliance, decided without any I/O.

`Publisher` turns an appliance's state into `Outgoing` messages; the bridge
sends them. Output families, each switched by `PublishOptions`:

- per-feature topics ``T/state/<key>`` (hcpy2-0 v0.4 layout and payloads);
- events on ``T/event/<key>`` as ``{"event_type": "<member>"}``, on every
  occurrence, not retained, and never for ``Off`` (that is no occurrence: a
  retained or repeated one would fire Home Assistant's event entities and
  automations again); with ``event_states`` (for sensors made of events)
  they are states instead, hcpy2-0's way: retained, ``Off`` included. They
  have no other channel, so they follow the filters but not
  ``publish_as_mqtt``;
- with ``home_assistant``, whether each control can be used now on
  ``T/available/<key>`` (``online``/``offline``), whether the selected
  program can be started on ``T/available/start_selected_program``, and
  when the program under way ends on ``T/state/program_end`` (ISO 8601, or
  ``None`` when none runs);
- one JSON object with every published value on ``T/state``;
- Homie 4 topics under ``homie/<device id>``, or in the publishing-modes
  layout beside the values (``T/<Key>/$name``, ``T/<Key>/value/$datatype``…,
  as that fork published them);
- the original compact summary on ``T`` (osresearch's keys and formats), or
  on ``T/state`` in osresearch's layout (where its hc2mqtt script put it).

Publishing is on change: the last payload sent on each retained topic is
remembered and an unchanged one is not sent again. `everything()` sends all
of them anyway, for a reconnect of the appliance or the broker.

Names and filters are `naming`'s; options are `options`'.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from ..appliance import controls, names, programs
from ..appliance.model import Feature, Kind, Profile, ValueKind
from ..appliance.state import ApplianceState, Change
from .naming import Naming, topic_key, topic_level
from .options import PublishOptions
from .outgoing import Outgoing
from .topics import OFFLINE, ONLINE, START_SELECTED_KEY, Layout, Topics

HOMIE_VERSION = "4.0.0"
PROGRAM_END_KEY = "program_end"
# The member of an event's enumeration that says it is not (or no longer) there.
EVENT_OFF = "Off"
HOMIE_PROPERTY = "value"
# What the publishing-modes fork put in each node's $type (its README's example).
MODES_NODE_TYPE = "type"

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


def homie_id(text: str) -> str:
    """A Homie topic id: lower-case a-z, 0-9 and inner hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def json_payload(value: Any) -> str:
    # json.dumps' own separators, as hcpy2-0 and osresearch wrote them: an
    # automation matching the payload text keeps working.
    return json.dumps(value, default=str)


# What an empty string value is published as. An empty retained payload is
# MQTT's way to delete a topic: the value would vanish instead of reading "".
EMPTY = '""'


def state_payload(value: Any) -> str:
    """hcpy2-0's payload: str() of a scalar (`Closed`, `True`, `180`), JSON for objects."""
    if isinstance(value, (dict, list)):
        return json_payload(value)
    return str(value) or EMPTY


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
    if datatype == "enum" and feature.enum is not None:
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
        self.naming = Naming(topics, options, profile)
        if self.naming.modes:
            self.homie_base = topics.base  # the fork's Homie topics sit beside its values
        else:
            self.homie_base = options.homie_prefix + (homie_id(topics.appliance) or "appliance")
        self._summary_sources = [f for _, f in sorted(profile.features.items()) if f.short_name in SUMMARY_SOURCES]
        self._summary_uids = {f.uid for f in self._summary_sources}
        self._sent: dict[str, str] = {}  # retained topic -> last payload sent
        self._info: dict[str, Any] = {}
        self._controls = [profile.features[uid] for uid in sorted(self.naming.controls)]
        self._control_inputs = controls.inputs(profile)
        self._startable = profile.root(Kind.SELECTED_PROGRAM) is not None and bool(profile.programs)
        self._end_inputs = frozenset(f.uid for n in programs.END_INPUTS if (f := profile.by_name(n)) is not None)
        self._ends = all(profile.by_name(n) for n in programs.END_INPUTS[:2])  # OperationState, RemainingProgramTime
        self.clock = time.time  # what "now" is for the program's end

    @property
    def summary_topic(self) -> str:
        return self.topics.json_state if self.options.layout is Layout.OSRESEARCH else self.topics.base

    # -- what to send --------------------------------------------------------------------

    def changes(self, state: ApplianceState, changes: list[Change]) -> list[Outgoing]:
        """Events as they occur, then the retained topics the changes touch.

        This is the hot path (every value an appliance reports), so only
        what depends on the changed features is rendered, in one pass;
        `refresh()` covers changes of access and limits.
        """
        naming = self.naming
        events: list[Outgoing] = []
        retained: list[tuple[int, Outgoing]] = []
        touched = summary = usability = end = False
        for feature, value, _ in changes:
            if feature.uid in self._summary_uids:
                summary = True
            if feature.uid in self._control_inputs:
                usability = True
            if feature.uid in self._end_inputs:
                end = True
            if value is None:
                continue
            if feature.kind is Kind.UNKNOWN and feature.uid not in self.profile.features:
                topic = naming.unknown_topic(feature.uid)  # a uid the profile lacks
                if topic is not None:
                    retained.append((feature.uid, Outgoing(topic, state_payload(value))))
                continue
            topic = naming.state_topic(feature)
            if topic is not None:
                touched = True
                retained.append((feature.uid, Outgoing(topic, state_payload(value))))
            elif feature.kind is Kind.EVENT:
                event = self._event(feature, value)
                if event is not None:
                    events.append(event)
            elif naming.is_published(feature):
                touched = True  # published in the JSON object or Homie only
        if len(retained) > 1:
            retained.sort(key=itemgetter(0))  # uid order, as everything() sends them
        messages = [message for _, message in retained]
        if touched and self.options.homie:
            messages += self._homie(state, self._values_of(state))
        if touched and self.options.as_json:
            messages += self._json(self._values_of(state))
        if summary and self.options.summary:
            messages += self._summary(state)
        if usability:
            messages += self._usability(state)
        if end:
            messages += self._program_end(state)
        return events + self._fresh(messages)

    def refresh(self, state: ApplianceState) -> list[Outgoing]:
        """What a limits change alters: which controls work, and Homie's $settable and $format."""
        messages = self._usability(state)
        if self.options.homie:
            messages += self._homie(state, self._values_of(state))
        return self._fresh(messages)

    def everything(self, state: ApplianceState) -> list[Outgoing]:
        messages = self._retained(state)
        self._sent.update((m.topic, m.payload) for m in messages)
        return messages

    def info(self, info: dict[str, Any]) -> list[Outgoing]:
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

    def _event(self, feature: Feature, value: Any) -> Outgoing | None:
        topic = self.naming.event_topic(feature)
        if topic is None:
            return None
        if self.options.event_states:
            return Outgoing(topic, event_payload(value))
        # A door alarm's Off is news (the door was closed): its problem sensor goes off.
        if value == EVENT_OFF and not names.is_door_alarm(feature.name):
            return None
        return Outgoing(topic, event_payload(value), retain=False)

    def _usability(self, state: ApplianceState) -> list[Outgoing]:
        if not self.options.home_assistant:
            return []
        out = []
        for feature in self._controls:
            topic = self.naming.available_topic(feature)
            if topic is not None:
                out.append(Outgoing(topic, ONLINE if controls.usable(state, feature) else OFFLINE))
        if self._startable:
            start = ONLINE if controls.startable(state) else OFFLINE
            out.append(Outgoing(self.topics.available(START_SELECTED_KEY), start))
        return out

    def _program_end(self, state: ApplianceState) -> list[Outgoing]:
        topic = self.naming.info_topic(PROGRAM_END_KEY) if self.options.home_assistant and self._ends else None
        if topic is None:
            return []
        end = programs.expected_end(state, self.clock())
        # Whole seconds: the end moves by the clock's jitter at every update otherwise.
        payload = "None" if end is None else datetime.fromtimestamp(round(end), UTC).isoformat()
        return [Outgoing(topic, payload)]

    def _values_of(self, state: ApplianceState) -> list[tuple[Feature, Any]]:
        """Published features with a value, in uid order (events only where they are values)."""
        pairs = []
        for uid in sorted(state.values):
            feature = self.profile.features.get(uid)
            value = state.values[uid]
            if (
                feature is not None
                and value is not None
                and (feature.kind != Kind.EVENT or self.naming.events_as_values)
                and self.naming.is_published(feature)
            ):
                pairs.append((feature, value))
        return pairs

    def _retained(self, state: ApplianceState) -> list[Outgoing]:
        """Every retained message the current state calls for."""
        values = self._values_of(state)
        out = []
        if self.options.as_mqtt:
            out += [
                Outgoing(topic, state_payload(v)) for f, v in values if (topic := self.naming.state_topic(f)) is not None
            ]
            out += self._unknown(state)
        out += self._info_topics()
        out += self._homie(state, values)
        out += self._json(values)
        out += self._summary(state)
        out += self._usability(state)
        out += self._program_end(state)
        if self.options.event_states:
            out += self._event_states(state)
        return out

    def _unknown(self, state: ApplianceState) -> list[Outgoing]:
        """The values for uids the profile lacks, as hcpy2-0 published them."""
        out = []
        for sighting in state.unknown.listed():
            topic = self.naming.unknown_topic(sighting.uid)
            if topic is not None:
                out.append(Outgoing(topic, state_payload(sighting.value)))
        return out

    def _event_states(self, state: ApplianceState) -> list[Outgoing]:
        """Where each event stands, for those who read events as states."""
        out = []
        for uid in sorted(state.values):
            feature = self.profile.features.get(uid)
            if feature is not None and feature.kind is Kind.EVENT and state.values[uid] is not None:
                event = self._event(feature, state.values[uid])
                if event is not None:
                    out.append(event)
        return out

    def _info_topics(self) -> list[Outgoing]:
        topics = ((self.naming.info_topic(k), v) for k, v in self._info.items())
        return [Outgoing(topic, state_payload(v)) for topic, v in topics if topic is not None]

    def _json(self, values: list[tuple[Feature, Any]]) -> list[Outgoing]:
        if not self.options.as_json:
            return []
        document = {self.naming.key(f): v for f, v in values}
        for k, v in self._info.items():
            if k not in document and self.naming.wants(k):
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
        modes = self.naming.modes
        if modes and not self.options.as_mqtt:
            return []  # beside the values, which are not published
        nodes, seen = [], set()
        for feature, value in values:
            if modes:
                node = topic_level(self.naming.key(feature))
            else:
                node = homie_id(topic_key(self.naming.key(feature))) or f"uid-{feature.uid}"
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
        modes = self.naming.modes
        out = [
            Outgoing(f"{topic}/$name", feature.name),
            Outgoing(f"{topic}/$type", MODES_NODE_TYPE if modes else feature.kind.value),
            Outgoing(f"{topic}/$properties", HOMIE_PROPERTY),
            Outgoing(f"{prop}/$name", feature.short_name),
            Outgoing(f"{prop}/$datatype", homie_datatype(feature)),
        ]
        format_ = homie_format(feature, limits.min, limits.max)
        if format_ is not None:
            out.append(Outgoing(f"{prop}/$format", format_))
        out.append(Outgoing(f"{prop}/$settable", "true" if limits.access.writable else "false"))
        if not modes:  # there the property is the value topic itself, published as such
            out.append(Outgoing(prop, homie_payload(value)))
        return out
