"""Everything the phases share, started in order and stopped in reverse: the `Rig`."""

from __future__ import annotations

import json
import random
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho

from .answers import Answers
from .plan import Plan
from .rig import (
    PREFIX,
    Appliance,
    Broker,
    Daemon,
    RssSampler,
    SetupError,
    build_appliances,
    free_port,
    stop_sims,
    write_devices,
)
from .watch import Watcher, mqtt_client


@dataclass
class Rig:
    plan: Plan
    rng: random.Random
    broker: Broker
    appliances: list[Appliance]
    daemon: Daemon
    watcher: Watcher
    rss: RssSampler
    answers: Answers
    publisher: paho.Client
    runs_dir: Path
    startup_topics: frozenset[str] = frozenset()  # every T/state/... the broker retained once all were online

    @property
    def port(self) -> int:
        return self.broker.port

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.publisher.publish(topic, payload, qos=1, retain=retain)

    def command(self, a: Appliance, suffix: str, body: dict[str, Any], transaction: str, kind: str) -> None:
        self.answers.expect(transaction, kind, a.base)
        self.publish(f"{a.base}/{suffix}", json.dumps({**body, "transaction": transaction}).encode())

    def wait_online(self, timeout: float, phase: str) -> list[str]:
        """Wait until every T/LWT says online; the names still not online."""
        deadline = time.monotonic() + timeout
        while True:
            missing = [a.name for a in self.appliances if self.watcher.get(a.lwt) != b"online"]
            if not missing or time.monotonic() > deadline or not self.daemon.alive(phase):
                return missing
            time.sleep(0.1)


def start_rig(plan: Plan, tree: Path, work: Path, stack: ExitStack) -> Rig:
    broker = Broker(work)
    broker.start()
    stack.callback(broker.stop)  # last: the daemon says offline on its way out
    appliances = build_appliances(plan.appliances, plan.runners, stack)
    stack.callback(stop_sims, appliances)  # before the single stops: in parallel, then theirs do nothing
    devices = work / "devices.json"
    write_devices(appliances, devices)
    watcher = Watcher(broker.port, appliances)
    stack.callback(watcher.close)
    answers = Answers()
    watcher.on_response = answers.add
    publisher = mqtt_client("commands")
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    stack.callback(publisher.disconnect)
    stack.callback(publisher.loop_stop)
    daemon = Daemon(tree, devices, broker.port, free_port(), work / "hc2mqtt.log", stack)
    rss = RssSampler(daemon)
    stack.callback(rss.stop)
    rig = Rig(
        plan, random.Random(plan.seed), broker, appliances, daemon, watcher, rss, answers, publisher, work / "runs"
    )
    missing = rig.wait_online(30.0 + plan.appliances, "start-up")
    if daemon.died_in:
        raise SetupError(daemon.death())
    if missing:
        raise SetupError(f"{len(missing)} appliance(s) never came online: {', '.join(missing)}")
    # What each appliance's first publish_all put on the broker: quiet for a second means done.
    count, quiet_since = -1, time.monotonic()
    while time.monotonic() - quiet_since < 1.0:
        if watcher.messages != count:
            count, quiet_since = watcher.messages, time.monotonic()
        time.sleep(0.1)
    rig.startup_topics = frozenset(t for t in watcher.copy() if t.startswith(PREFIX) and "/state/" in t)
    return rig
