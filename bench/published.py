"""What two revisions of hc2mqtt publish, message by message, for the same appliances and commands.

A refactor must not change a topic, a payload, a retained flag or a Home
Assistant unique_id. Each revision's hc2mqtt runs on a rig of its own (a
private mosquitto and fresh simulators: a TLS dishwasher and coffee machine,
an AES washer), under the same options; the same value changes, description
change and commands (accepted and refused) go to both. Every message a
subscriber sees is compared as a multiset of (topic, payload, retained), and
so is what the broker replays to a second subscriber at the end (the
retained topics); the script prints the differences and exits 1 if any.

Run: python bench/published.py --against REV [hc2mqtt options, e.g. --ha-discovery --publish_as_json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import paho.mqtt.client as paho  # noqa: E402
from revisions import Tree, byte_compile, checkout  # noqa: E402
from support import COFFEE, DISHWASHER, WASHER, Broker, profile_files  # noqa: E402

from hcpy.appliance.devices import save_devices  # noqa: E402
from hcpy.appliance.entry import entry_from_profile  # noqa: E402
from hcpy.appliance.profile_xml import parse_profile  # noqa: E402
from hcpy.encoding import b64url  # noqa: E402
from hcpy.simulator import SimulatedAppliance, Simulator  # noqa: E402

APPLIANCES = ((DISHWASHER, "dishwasher", "tls"), (COFFEE, "coffee", "tls"), (WASHER, "washer", "aes"))
PREFIX, HA_PREFIX = "cmp/", "hacmp"
Message = tuple[str, str, bool]


def start_rig(work: Path, stack: ExitStack) -> tuple[Broker, dict[str, Simulator], Path]:
    broker = Broker(work)
    broker.start()
    stack.callback(broker.stop)
    sims, entries = {}, []
    for stem, name, transport in APPLIANCES:
        profile = parse_profile(*profile_files(stem))
        psk, iv = os.urandom(32), os.urandom(16) if transport == "aes" else None
        sim = Simulator(SimulatedAppliance(profile), psk, iv, keep_history=False).start()
        stack.callback(sim.stop)
        sims[name] = sim
        entries.append(
            entry_from_profile(profile, key=b64url(psk), iv=b64url(iv) if iv else None, host="127.0.0.1", port=sim.port, name=name)
        )
    devices = work / "devices.json"
    save_devices(devices, entries, merge=False)
    return broker, sims, devices


def record(tree: Tree, options: list[str], settle: float) -> list[Message]:
    """Everything published while one revision's hc2mqtt starts, follows changes, answers and stops."""
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hcpy-published-")))
        broker, sims, devices = start_rig(work, stack)
        seen: list[Message] = []
        lock = threading.Lock()
        client = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, client_id="published")

        def on_message(c, userdata, m):
            with lock:
                seen.append((m.topic, m.payload.decode("utf-8", "replace"), bool(m.retain)))

        client.on_connect = lambda c, *a: c.subscribe([(f"{PREFIX}#", 1), (f"{HA_PREFIX}/#", 1), ("homie/#", 1)])
        client.on_message = on_message
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        stack.callback(client.loop_stop)
        time.sleep(0.5)
        proc = subprocess.Popen(
            [sys.executable, "hc2mqtt.py", "--devices_file", str(devices), "--mqtt_host", "127.0.0.1",
             "--mqtt_port", str(broker.port), "--mqtt_prefix", PREFIX, "--mqtt_clientname", "published-daemon",
             "--ha_discovery_prefix", HA_PREFIX, *options],
            cwd=tree.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(settle)
        dish, coffee, washer = sims["dishwasher"], sims["coffee"], sims["washer"]
        dish.set_value("BSH.Common.Status.DoorState", "Open")
        dish.set_value("BSH.Common.Option.RemainingProgramTime", 3600)
        dish.set_value("BSH.Common.Event.ProgramFinished", "Present")
        coffee.set_value("BSH.Common.Status.DoorState", "Closed")
        washer.set_description("BSH.Common.Setting.ChildLock", access="readWrite")
        time.sleep(1)
        commands = [
            ("dishwasher/set", json.dumps({"name": "PowerState", "value": "Off", "transaction": 7})),
            ("dishwasher/set", json.dumps({"name": "Nope", "value": 1})),
            ("dishwasher/set", "not json"),
            ("dishwasher/activeProgram", json.dumps({"program": "Eco50"})),
            ("washer/selectedProgram", json.dumps({"program": "Cotton"})),
        ]
        for topic, payload in commands:
            client.publish(PREFIX + topic, payload, qos=1).wait_for_publish(5)
            time.sleep(0.2)
        time.sleep(1.5)
        # Live deliveries never carry the retain flag: what is retained shows
        # in what the broker replays to a subscriber that comes late.
        late = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, client_id="published-late")
        late.on_connect = client.on_connect
        late.on_message = on_message
        late.connect("127.0.0.1", broker.port)
        late.loop_start()
        time.sleep(1.0)
        late.loop_stop()
        late.disconnect()
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        time.sleep(0.5)
        with lock:
            return list(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", metavar="REV", required=True, help="the git revision to compare with")
    parser.add_argument("--settle", type=float, default=4.0, help="seconds for start-up before the changes")
    args, options = parser.parse_known_args()
    with ExitStack() as stack:
        trees = [Tree("this", ROOT), checkout(args.against, stack)]
        for tree in trees:
            byte_compile(tree)
        recorded = {tree.label: record(tree, options, args.settle) for tree in trees}
    mine, theirs = (Counter(recorded[t.label]) for t in trees)
    print(f"options: {' '.join(options) or '(defaults)'}")
    for tree in trees:
        messages = recorded[tree.label]
        print(f"{tree.label:>9}: {len(messages)} messages on {len({m[0] for m in messages})} topics")
    differences = [("-", m, n) for m, n in (theirs - mine).items()] + [("+", m, n) for m, n in (mine - theirs).items()]
    for sign, (topic, payload, retained), count in sorted(differences, key=lambda d: d[1]):
        print(f"  {sign} {count}x {topic} {'(retained) ' if retained else ''}{payload[:120]}")
    print("identical" if not differences else f"{len(differences)} difference(s): - only {trees[1].label}, + only this tree")
    sys.exit(1 if differences else 0)


if __name__ == "__main__":
    main()
