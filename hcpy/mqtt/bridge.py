"""The bridge: appliances on one side, MQTT on the other.

One `ApplianceBridge` per appliance glues its connection (a thread), its
state, what gets published (`publishing`), the discovery of its entities (a
`discovery_port.DiscoveryPort` the application hands it, or none) and the
commands that arrive on its topics. `Bridge` owns them all and the single
MQTT link. Every command gets an answer on `T/response`; a bad one is
refused there, logged once, and never reaches the appliance.

The console (hcpy.web) watches through `listeners` (`BridgeListener`), told
after each publish, and reads the counts kept here (`replies`, `latency`)
and on each connection (`journal`, `stats`) when it is asked.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from ..appliance.commands import CommandError, describe
from ..appliance.connection import ApplianceConnection, Backoff, Resolver
from ..appliance.entry import ApplianceEntry
from ..appliance.entry_diff import EntryDiff, diff_entries
from ..appliance.model import PROGRAM_ROOTS
from ..appliance.observed import Histogram
from ..appliance.state import ApplianceState, Change
from ..errors import ConfigError, HcpyError, NotConnected
from ..logs import Throttle
from ..protocol.transport import Endpoint, Timing
from ..runs.config import RunConfig
from .client import topic_matches_sub
from .command import Command, Outcome, outcome_of, refused, response
from .discovery_port import ApplianceDiscovery, DiscoveryPort
from .link import MqttLink, MqttSettings
from .options import PublishOptions
from .outgoing import Outgoing
from .publishing import Publisher
from .run_recorder import RunRecorder
from .screening import ScreenLimits
from .topics import OFFLINE, ONLINE, CommandTopic, Topics

log = logging.getLogger("hcpy.bridge")

_COMMAND_TOPICS = {str(topic): topic for topic in CommandTopic}


def _locate(ha_id: str) -> Any:
    """mDNS's lookup (`protocol.mdns.locate`), loaded the first time an appliance is looked for:
    most runs find every appliance at its host and never need zeroconf's side of hcpy."""
    from ..protocol import mdns

    return mdns.locate(ha_id)


@dataclass(frozen=True)
class BridgeSettings:
    device_id: str = ""  # how hcpy introduces itself; the daemon sets this installation's
    publish: PublishOptions = field(default_factory=PublishOptions)
    # Who announces the appliances' entities (Home Assistant's discovery); None: nobody.
    discovery: DiscoveryPort | None = None
    domain_suffix: str = ""
    request_timeout: float = 10.0
    command_limits: ScreenLimits = ScreenLimits()
    # Where an appliance with a haId is when its host does not answer (None: nowhere).
    resolver: Resolver | None = _locate
    timing: Timing = Timing()
    backoff: Backoff = Backoff()
    # Where each appliance's runs are kept (hcpy.runs); None: runs are not recorded.
    runs_dir: Path | None = None
    # Whether a stop empties every retained topic the bridge published, LWTs
    # included (the demo: its appliances are gone for good when it stops, and
    # a broker that keeps their ~370 topics would show them for ever).
    leave_nothing: bool = False


class BridgeListener(Protocol):
    """Told what an appliance's bridge just published (the console's live view).

    Each method runs on the thread that published: the appliance's
    connection thread, or the MQTT link's for a command refused at once. It
    must return quickly; what it raises is logged once and otherwise ignored.
    """

    def values_changed(self, appliance: ApplianceBridge, changes: list[Change]) -> None: ...

    def connection_changed(self, appliance: ApplianceBridge) -> None:
        """The appliance came online or went offline (appliance.connection.stats says why)."""

    def answered(self, appliance: ApplianceBridge, response: dict[str, Any]) -> None:
        """A command's answer, as published on T/response."""


class ApplianceBridge:
    """One appliance on MQTT; its connection's ConnectionObserver."""

    def __init__(
        self,
        entry: ApplianceEntry,
        link: MqttLink,
        mqtt: MqttSettings,
        settings: BridgeSettings,
        retained_configs: set[str] | None = None,
    ):
        self.name = entry.name
        self.entry = entry  # as it was bridged: Bridge.apply compares it with the file's next one
        self.link = link
        self.settings = settings
        self.log = logging.getLogger(f"hcpy.appliance.{entry.name}")
        self._throttle = Throttle(self.log)
        self.topics = Topics(mqtt.prefix, entry.name)
        self.state = ApplianceState(entry.profile, entry.name, self.log)
        try:
            options = PublishOptions.parse(entry.options_block, settings.publish, entry.name)
        except ConfigError as exc:
            # A typo in one appliance's block must not keep it (or others) dark.
            self.log.error("%s; using the default publishing options for %s", exc, entry.name)
            options = settings.publish
        # Home Assistant reads whether each control works now; sensors made of
        # events read events as states.
        options = replace(
            options,
            home_assistant=settings.discovery is not None,
            event_states=settings.discovery is not None and settings.discovery.events_as_sensors,
        )
        self.publisher = Publisher(self.topics, options, entry.profile)
        for problem in self.publisher.naming.problems:
            self.log.warning("%s", problem)
        self.discovery: ApplianceDiscovery | None = None
        if settings.discovery is not None:
            self.discovery = settings.discovery.appliance(self.topics, self.publisher.naming)
        # Each program run, with its energy and water (hcpy.runs). Its topics
        # go out as every state does, QoS 0 retained (republished at each
        # connect). (With QoS 1 here, bench/bridge.py once measured a p50 latency
        # of 5-9 ms instead of 0.4 ms at 10 appliances x 100 values/s: Nagle's
        # algorithm on the broker socket, off since; see link._no_delay.)
        self.runs: RunRecorder | None = None
        if settings.runs_dir is not None:
            self.runs = RunRecorder(entry, self.topics, settings.runs_dir, self._publish_runs,
                                    name_of=self.publisher.naming.key, log=self.log)  # fmt: skip
        host = f"{entry.host}.{settings.domain_suffix}" if settings.domain_suffix else entry.host
        self.connection = ApplianceConnection(
            entry.name,
            Endpoint(host, entry.psk, entry.iv_bytes, entry.port),
            self.state,
            device_id=settings.device_id,
            observer=self,
            timing=settings.timing,
            backoff=settings.backoff,
            request_timeout=settings.request_timeout,
            ha_id=entry.ha_id,
            resolver=settings.resolver,
        )
        self._info: dict[str, Any] = {}
        self._program_roots = frozenset(r.uid for k in PROGRAM_ROOTS if (r := entry.profile.root(k)) is not None)
        self._discovered: dict[str, str] = {}  # discovery config topic -> payload last published
        # Config topics the broker held when we connected (shared by all appliances).
        self._retained_configs = retained_configs if retained_configs is not None else set()
        # Serialises publishing between the appliance thread and paho's thread
        # (a broker reconnect republishes while values may be arriving).
        self._lock = threading.Lock()
        # Retained topics published with a payload (what `farewell` empties)
        # and whether the appliance left the bridge (Bridge.apply): its
        # connection's thread may outlive the stop, and must publish nothing
        # after the farewell, nor beside the appliance's new bridge.
        self._retained: set[str] = set()
        self._retained_lock = threading.Lock()  # the run recorder's thread adds to it too
        self._retired = False
        # For the metrics: command answers by status ("ok" or the code), and
        # how long a change took from the appliance's message to MQTT.
        self.replies: Counter[str] = Counter()
        self._replies_lock = threading.Lock()  # answers come from two threads
        self.latency = Histogram()
        self.listeners: list[BridgeListener] = []
        # A broken listener's traceback once, then only counted.
        self._listener_throttle = Throttle(self.log, burst=1, window=3600.0)

    @property
    def command_topics(self) -> list[str]:
        return self.topics.commands

    # -- from the appliance (its connection thread) -----------------------------------

    def online(self, connection: ApplianceConnection) -> None:
        if self._retired:
            return
        session = connection.session
        self._info = {**(session.device_info if session else {}), **(session.network_info if session else {})}
        if self.runs is not None:
            self.runs.look(self.state)  # a run may have begun or ended while hcpy could not see
        self.publish_all()
        if self.listeners:
            self._tell("connection_changed")

    def offline(self, connection: ApplianceConnection, reason: str) -> None:
        with self._lock:
            if self._retired:
                return
            self._send([Outgoing(self.topics.lwt, OFFLINE)] + self.publisher.homie_state(False))
        if self.listeners:
            self._tell("connection_changed")

    def changed(self, connection: ApplianceConnection, changes: list[Change]) -> None:
        with self._lock:
            if self._retired:
                return
            messages = self.publisher.changes(self.state, changes)
            if self._program_roots and self.discovery is not None:
                if any(change.feature.uid in self._program_roots for change in changes):
                    # Option entities take the bounds of the program in charge.
                    messages += self._discovery(only_changed=True)
            behind = self._send(messages)
        # The message carrying these changes is the last one the connection
        # received: this runs on its reading thread, while it is dispatched.
        received = connection.journal.last_in_at
        if received is not None:
            self.latency.observe(max(0.0, time.time() - received))
        if self.listeners:
            self._tell("values_changed", changes)
        if self.runs is not None:
            self.runs.changed(self.state, changes)
        if behind:
            # A flooding appliance waits here, not in a growing queue.
            self.link.throttle()

    def limits_changed(self, connection: ApplianceConnection, uids: set[int]) -> None:
        # Access decides whether an entity is a control or a sensor (and
        # Homie's $settable, $format).
        with self._lock:
            if self._retired:
                return
            messages = self.publisher.refresh(self.state)
            if self.discovery is not None:
                messages += self._discovery(only_changed=True)
            self._send(messages)

    # -- publishing ---------------------------------------------------------------------

    def publish_all(self) -> None:
        """Everything, as after a (re)connect of the appliance or the broker."""
        online = self.connection.online
        with self._lock:
            if self._retired:
                return
            messages = [Outgoing(self.topics.lwt, ONLINE if online else OFFLINE)]
            messages += self.publisher.homie_state(online)
            if online:
                messages += self.publisher.info(self._info)
                messages += self.publisher.everything(self.state)
                if self.discovery is not None:
                    messages += self._discovery()
            self._send(messages)
            if self.runs is not None:
                self.runs.republish(self.state, self._run_entities if online and self.discovery is not None else None)

    def _send(self, messages: list[Outgoing]) -> bool:
        """Publish (holding _lock), keeping track of the retained topics; link.publish's answer."""
        self._track(messages)
        return self.link.publish(messages)

    def _track(self, messages: list[Outgoing]) -> None:
        with self._retained_lock:
            self._retained.update(m.topic for m in messages if m.retain and m.payload)

    def _publish_runs(self, messages: list[Outgoing]) -> None:
        """The run recorder's way out, tracked as `_send`'s.

        Not under _lock: publish_all holds it while the recorder republishes.
        """
        if self._retired:
            return
        self._track(messages)
        self.link.publish(messages)

    def retire(self) -> None:
        """Leave the bridge: nothing is published for this appliance from now on but `farewell`'s."""
        with self._lock:
            self._retired = True
        self.connection.request_stop()

    def take_over(self, old: ApplianceBridge) -> None:
        """Start from what `old` (this appliance's bridge before its entry changed) left on the broker.

        Its discovery configs are weighed at the first publish (those the new
        entry lacks are removed), and its retained topics are this one's to
        empty when the appliance leaves.
        """
        with old._lock, old._retained_lock:
            discovered, retained = dict(old._discovered), set(old._retained)
        with self._lock, self._retained_lock:
            self._discovered = {**discovered, **self._discovered}
            self._retained |= retained

    def farewell(self, keep_lwt: bool = True) -> list[Outgoing]:
        """The last messages of an appliance that left devices.json (retired): its traces emptied, its LWT offline.

        It empties every retained topic it published, its Home Assistant discovery configs first (Home
        Assistant then removes its entities), and the configs of it the
        broker held from an earlier run. Its values would otherwise stay on
        the broker for good, read by Home Assistant and openHAB as if current.
        Its LWT stays, `offline`: whoever still watches it learns that it is gone
        (unless not `keep_lwt`: then it is emptied too, and nothing is left).
        """
        with self._lock:
            lwt = [Outgoing(self.topics.lwt, OFFLINE)] + self.publisher.homie_state(False)
            with self._retained_lock:
                published = set(self._retained)
            # Ours on the broker: what we published, and what it held from before.
            known = published | self._retained_configs
            configs = set(self._discovered)
            if self.discovery is not None:
                configs.update(m.topic for m in self.discovery.removals(self.state, [], known))
                if self.runs is not None:
                    runs = self.discovery.run_messages(self.state, self._info, self.runs.config, known)
                    configs.update(m.topic for m in runs if m.topic in known)
            others = published - configs - {m.topic for m in lwt}
            if not keep_lwt:
                lwt = [Outgoing(m.topic, "") for m in lwt]
            return [Outgoing(topic, "") for topic in sorted(configs) + sorted(others)] + lwt

    def _discovery(self, only_changed: bool = False) -> list[Outgoing]:
        """Discovery configs, and the removal of stale ones.

        After a description change only the configs that read differently go
        out: Home Assistant reloads an entity for every config it receives.
        """
        assert self.discovery is not None  # called only when discovery is on
        current = self.discovery.messages(self.state, self._info)
        # A control whose access dropped to read becomes a sensor: its old
        # config (another component) has to go.
        known = set(self._discovered) | self._retained_configs
        stale = self.discovery.removals(self.state, current, known)
        before, self._discovered = self._discovered, {m.topic: m.payload for m in current}
        if only_changed:
            current = [m for m in current if before.get(m.topic) != m.payload]
        return current + stale

    def _run_entities(self, config: RunConfig) -> list[Outgoing]:
        """The run entities' configs, for the recorder to send before its retained topics."""
        assert self.discovery is not None
        return self.discovery.run_messages(self.state, self._info, config, self._retained_configs)

    def drop_stale_config(self, topic: str) -> None:
        """A retained config seen after our discovery went out: remove it if ours and stale."""
        # Under the lock _discovery() runs under: checked outside it, a config
        # seen while _discovery() was between weighing the known configs and
        # keeping what it sent fell between the two, and stayed.
        with self._lock:
            if not self._discovered or self.discovery is None:
                return  # _discovery() will weigh it when it runs
            if self._retired:
                return
            current = [Outgoing(t, "") for t in self._discovered]
            self._send(self.discovery.removals(self.state, current, [topic]))

    # -- commands (the MQTT link's network thread) ----------------------------------------------------------

    def handle_command(self, topic: CommandTopic, payload: bytes) -> None:
        """Read, check and send a command; every way it ends is answered by `_answer`."""
        command = Command.received(topic, payload, self.settings.command_limits)
        try:
            outcome = self._submit(command)
        except Exception:  # noqa: BLE001 - a bug must still get the requester an answer
            self._throttle.log_line(logging.ERROR, ("bug", topic), "%s: handling a %s command failed",
                                    self.name, topic, exc_info=True)  # fmt: skip
            outcome = refused("hcpy failed to handle the command (see its log)", 500)
        if outcome is not None:
            self._answer(command, outcome)

    def _submit(self, command: Command) -> Outcome | None:
        """Why the command cannot go to the appliance, or None: it went, and its answer follows."""
        try:
            command = command.resolve(self.state)
        except CommandError as exc:
            return refused(str(exc), exc.code)
        writes = command.writes
        assert writes is not None  # resolve() sets it
        try:
            self.connection.submit(writes, lambda reply, error: self._answered(command, error))
        except NotConnected as exc:
            return refused(str(exc), 503)
        except HcpyError as exc:
            return refused(f"{self.name}: sending failed: {exc}", 503)
        return None

    def refuse_retained(self, topic: CommandTopic, payload: bytes) -> None:
        """Answer a retained command, and take it off the broker: it would come back at every restart."""
        where = self.topics.command(topic)
        sentence = (
            f"ignored a retained command on {where}: commands are never taken from retained messages; "
            "publish it without the retain flag (hcpy cleared the retained one with an empty retained message)"
        )
        self._answer(Command.retained(topic, payload), refused(sentence, 400))
        # An empty payload on a command topic is no command (Bridge._message).
        self.link.publish([Outgoing(where, "", retain=True)], qos=1)

    def _answered(self, command: Command, error: Exception | None) -> None:
        """The appliance's answer to a command that was sent (on its connection's thread)."""
        self._answer(command, outcome_of(self.name, error))

    def _answer(self, command: Command, outcome: Outcome) -> None:
        """Log what became of a command and answer it on T/response: the one way out."""
        if outcome.ok:
            # Accepted: it was resolved and sent, so it has its writes.
            writes = describe(command.writes, self.state) if command.writes is not None else "(unresolved)"
            self.log.info("%s: %s %s accepted", self.name, command.topic, writes)
        elif outcome.by_appliance:
            self._throttle.warning(("refused by appliance",), "%s", outcome.error)
        else:
            # Whoever can publish decides how often this fires: a few lines a
            # minute of each kind; every command still gets its answer.
            self._throttle.warning(("refused", command.topic), "%s: refused %s command: %s", self.name, command.topic,
                                   outcome.error)  # fmt: skip
        # Counted before it goes out: whoever reads the answer reads the count with it.
        status = "ok" if outcome.ok else str(outcome.code or "error")
        with self._replies_lock:
            self.replies[status] += 1
        answer = response(command, outcome)
        self.link.publish([Outgoing(self.topics.response, answer, retain=False)], qos=1)
        if self.listeners:
            self._tell("answered", json.loads(answer))

    def submit_command(self, topic: CommandTopic, payload: bytes) -> None:
        """A command from the console: the same way as one from MQTT, answered on T/response."""
        self.handle_command(topic, payload)

    def _tell(self, method: str, *args: Any) -> None:
        """Call `method` on every listener; one that fails costs only its own call."""
        for listener in self.listeners:
            try:
                getattr(listener, method)(self, *args)
            except Exception:  # noqa: BLE001 - the console must never break the bridge
                self._listener_throttle.log_line(logging.ERROR, ("listener", method, type(listener)),
                                                 "%s: a listener (%s) failed in %s", self.name,
                                                 type(listener).__name__, method, exc_info=True)  # fmt: skip


class Bridge:
    """Every appliance and the one MQTT link; `apply` changes the appliances while it runs."""

    def __init__(self, entries: list[ApplianceEntry], mqtt: MqttSettings, settings: BridgeSettings):
        self.link = MqttLink(mqtt, self._broker_connected, self._message)
        self.mqtt = mqtt
        self.settings = settings
        # Discovery configs the broker retains: an entity that changed component
        # (or that an earlier hcpy made) must not linger in Home Assistant.
        self._configs = settings.discovery.config_filter if settings.discovery is not None else None
        self._retained_configs: set[str] = set()
        # Given to every appliance, those added later too.
        self._listeners: list[BridgeListener] = []
        # One change of the appliances at a time (apply, listeners, stop).
        self._changing = threading.Lock()
        self._started = False
        # Read without a lock by the MQTT thread and the console's: each is
        # replaced whole (`_install`), never changed in place.
        self.appliances: list[ApplianceBridge] = []
        self._by_base: dict[str, ApplianceBridge] = {}
        # MQTT meters (hcpy.runs): topic -> the recorders reading it.
        self._meters: dict[str, list[RunRecorder]] = {}
        self._install([self._bridge(e) for e in entries])
        # Reads the devices file and applies it now (the daemon's watch sets
        # it; the console may offer it): None when nothing follows the file.
        self.reload_devices: Callable[[], object] | None = None

    def _bridge(self, entry: ApplianceEntry) -> ApplianceBridge:
        appliance = ApplianceBridge(entry, self.link, self.mqtt, self.settings, self._retained_configs)
        appliance.listeners = list(self._listeners)
        return appliance

    def _install(self, appliances: list[ApplianceBridge]) -> None:
        """Make `appliances` the bridged ones: each structure the other threads read is replaced whole."""
        meters: dict[str, list[RunRecorder]] = {}
        for recorder in (a.runs for a in appliances if a.runs is not None):
            for topic in recorder.meter_topics:
                meters.setdefault(topic, []).append(recorder)
        self._meters = meters
        self._by_base = {a.topics.base: a for a in appliances}
        self.appliances = appliances

    def add_listener(self, listener: BridgeListener) -> None:
        """Tell `listener` what every appliance publishes from now on (BridgeListener), those added later too."""
        with self._changing:
            self._listeners = [*self._listeners, listener]
            # A new list, never one changed in place: appliance threads iterate the old one meanwhile.
            for appliance in self.appliances:
                appliance.listeners = [*appliance.listeners, listener]

    def remove_listener(self, listener: BridgeListener) -> None:
        with self._changing:
            self._listeners = [known for known in self._listeners if known is not listener]
            for appliance in self.appliances:
                appliance.listeners = [known for known in appliance.listeners if known is not listener]

    def _command_topics(self) -> set[str]:
        return {t for a in self.appliances for t in a.command_topics}

    def start(self) -> None:
        with self._changing:
            # Commands keep the retain flag they were published with, so that a
            # retained one is refused however it arrives; discovery configs do not
            # (_config_seen wants only the broker's replays flagged retained).
            self.link.subscribe(self._command_topics(), as_published=True)
            if self._configs is not None:
                self.link.subscribe([self._configs], as_published=False)
            if self._meters:
                self.link.subscribe(self._meters, as_published=False)
            self.link.start()
            for appliance in self.appliances:
                appliance.connection.start()
            self._started = True

    def apply(self, entries: list[ApplianceEntry], broken: Collection[str] = (), timeout: float = 1.2) -> EntryDiff:
        """Bridge exactly `entries` from now on; what changed (nothing: the appliances are left alone).

        An appliance whose entry reads the same is not touched (its
        connection goes on); a changed one is reconnected with its new entry;
        a removed one is stopped and forgotten (`ApplianceBridge.farewell`).
        `broken`: names whose entries could not be read: kept as they run.
        Blocks for at most about `timeout` (the leaving connections' stop);
        call it from any thread but the MQTT link's.
        """
        with self._changing:
            diff = diff_entries((a.entry for a in self.appliances), entries, broken)
            if not diff:
                return diff
            old = {a.name: a for a in self.appliances}
            removed = [old[name] for name in diff.removed]
            replaced = [old[c.entry.name] for c in diff.changed]
            leaving = removed + replaced
            for appliance in leaving:
                appliance.retire()
            deadline = time.monotonic() + timeout
            for appliance in leaving:
                appliance.connection.stop(max(0.0, deadline - time.monotonic()))
            runs_deadline = time.monotonic() + 0.3  # as in stop(): a run that just ended is recorded
            for appliance in leaving:
                if appliance.runs is not None:
                    appliance.runs.stop(max(0.0, runs_deadline - time.monotonic()))
            # Built after the old ones stopped: a new run recorder reads the
            # runs the old one kept.
            fresh: dict[str, ApplianceBridge] = {}
            for entry in (*diff.added, *(c.entry for c in diff.changed)):
                try:
                    fresh[entry.name] = self._bridge(entry)
                except HcpyError as exc:  # the others are bridged all the same
                    log.error("%s cannot be bridged (%s); it is left out until its entry changes", entry.name, exc)
            unbridged = []
            for appliance in replaced:
                if appliance.name in fresh:
                    fresh[appliance.name].take_over(appliance)
                else:
                    unbridged.append(appliance)
            staying = {name: a for name, a in old.items() if a not in leaving}
            before_commands, before_meters = self._command_topics(), set(self._meters)
            order = [e.name for e in entries] + list(diff.kept)
            self._install([a for name in order if (a := fresh.get(name) or staying.get(name)) is not None])
            if self._started:
                self.link.unsubscribe((before_commands - self._command_topics()) | (before_meters - set(self._meters)))
                self.link.subscribe(self._command_topics() - before_commands, as_published=True)
                self.link.subscribe(set(self._meters) - before_meters, as_published=False)
            # QoS 1: a removal that does not reach the broker leaves Home Assistant's entities for good.
            for appliance in removed:
                self.link.publish(appliance.farewell(), qos=1)
            for appliance in unbridged:
                # Retired, its connection's stop published nothing: without this its LWT stays online.
                offline = [Outgoing(appliance.topics.lwt, OFFLINE)] + appliance.publisher.homie_state(False)
                self.link.publish(offline, qos=1)
            if self._started:
                for appliance in fresh.values():
                    appliance.publish_all()  # offline until its connection says otherwise
                    appliance.connection.start()
            return diff

    def stop(self, timeout: float = 1.2) -> None:
        """Stop everything within about `timeout` + 0.5 s (the 2 s promise)."""
        with self._changing:
            self._started = False
            self._stop(timeout)

    def _stop(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for appliance in self.appliances:
            appliance.connection.request_stop()
        for appliance in self.appliances:
            appliance.connection.stop(max(0.0, deadline - time.monotonic()))
        # Said here as well: a thread still stuck in a connect attempt cannot.
        for appliance in self.appliances:
            appliance.offline(appliance.connection, "hcpy is shutting down")
        runs_deadline = time.monotonic() + 0.3  # a run that just ended: its record goes out
        for appliance in self.appliances:
            if appliance.runs is not None:
                appliance.runs.stop(max(0.0, runs_deadline - time.monotonic()))
        if self.settings.leave_nothing:
            # QoS 1, as a removal's: the link's stop waits for its own last
            # publish, which the broker acknowledges after these.
            for appliance in self.appliances:
                self.link.publish(appliance.farewell(keep_lwt=False), qos=1)
        self.link.stop(timeout=0.5, last_word="" if self.settings.leave_nothing else OFFLINE)

    def _broker_connected(self) -> None:
        for appliance in self.appliances:
            appliance.publish_all()

    def _message(self, topic: str, payload: bytes, retained: bool) -> None:
        if self._configs is not None and topic_matches_sub(self._configs, topic):
            self._config_seen(topic, payload, retained)
            return
        recorders = self._meters.get(topic)
        if recorders:
            for recorder in recorders:
                recorder.meter_message(topic, payload)
            return
        base, _, suffix = topic.rpartition("/")
        appliance = self._by_base.get(base)
        command = _COMMAND_TOPICS.get(suffix)
        if appliance is None or command is None:
            log.warning("ignored a message on %s: no appliance has that topic", topic)
            return
        if not payload:
            # Someone clearing a retained command, as refuse_retained asks: no
            # command, nothing to answer. (Over MQTT 5 it comes flagged
            # retained; a broker speaking only 3.1.1 forwards it without the
            # flag, and an empty payload is no command either way.)
            log.debug("an empty message on %s: a retained command cleared", topic)
            return
        if retained:
            # The broker would replay a retained command at every (re)connect:
            # a program would start again after each restart. Refused whether
            # replayed or published live (the link subscribes to commands with
            # Retain As Published).
            appliance.refuse_retained(command, payload)
            return
        appliance.handle_command(command, payload)

    def _config_seen(self, topic: str, payload: bytes, retained: bool) -> None:
        # Only what the broker replays at subscribe time is news; our own
        # publishes come back live (not flagged retained).
        if not retained:
            return
        if not payload:
            self._retained_configs.discard(topic)
            return
        self._retained_configs.add(topic)
        for appliance in self.appliances:
            appliance.drop_stale_config(topic)
