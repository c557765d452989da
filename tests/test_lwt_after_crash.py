"""After a crash, the appliances' retained `T/LWT` (issue 21): what it says meanwhile, and who sets it right.

hc2mqtt is a real process here, killed with SIGKILL while a simulated
dishwasher is online. MQTT gives a connection one will, so the broker
announces only the bridge's `P/LWT` offline; each appliance's `T/LWT` stays
the "online" hc2mqtt left retained until hc2mqtt starts again, when its first
word on each appliance's topics is that appliance's `T/LWT` as it stands.
Home Assistant's entities need both (availability_mode "all"); any other
consumer reads `T/LWT` only while `P/LWT` is online (README, "MQTT topics").
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from support import DISHWASHER, PREFIX, Subscriber, bridged, profile_files, simulated

from hcpy.appliance.entry import entry_to_json
from hcpy.appliance.profile_xml import parse_profile

ROOT = Path(__file__).resolve().parent.parent
BRIDGE = f"{PREFIX}LWT"
APPLIANCE = f"{PREFIX}dishwasher/LWT"

HC2MQTT = r"""
import sys
from support import bridged
from hcpy.appliance.devices import load_devices
(entry,) = load_devices(sys.argv[2])
with bridged(int(sys.argv[1]), [(None, entry)]):
    print("bridging", flush=True)
    sys.stdin.read()  # until killed
"""


def test_after_a_crash_the_bridge_lwt_says_offline_and_the_next_start_sets_each_appliance_lwt_first(broker, subscriber, tmp_path):
    sim, entry = simulated(parse_profile(*profile_files(DISHWASHER)), "dishwasher")
    devices = tmp_path / "devices.json"
    devices.write_text(json.dumps([entry_to_json(entry)]))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]), "PYTHONDONTWRITEBYTECODE": "1"}
    hc2mqtt = subprocess.Popen([sys.executable, "-c", HC2MQTT, str(broker.port), str(devices)], cwd=ROOT, env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        subscriber.wait(APPLIANCE, "online", timeout=20)
        mark = subscriber.mark()
        hc2mqtt.send_signal(signal.SIGKILL)
        hc2mqtt.wait(10)
        subscriber.wait(BRIDGE, "offline", since=mark)  # the broker's will
    finally:
        hc2mqtt.kill()
        hc2mqtt.communicate(timeout=10)
    sim.stop()  # the dishwasher is switched off at the mains meanwhile

    # What a consumer that subscribes now is told: the bridge is offline; the appliance's LWT is the stale "online".
    late = Subscriber(broker.port, "late-subscriber", topics=(f"{PREFIX}#", "test-sync/#"))
    try:
        late.sync()
        assert (late.last[BRIDGE], late.last[APPLIANCE]) == ("offline", "online")
    finally:
        late.close()

    # hc2mqtt again: the appliance's LWT is set right before anything else is said of the appliance.
    mark = subscriber.mark()
    with bridged(broker.port, [(sim, entry)]):
        subscriber.wait(BRIDGE, "online", since=mark)
        subscriber.wait(APPLIANCE, "offline", since=mark)
        said = [(t, p) for t, p, _ in subscriber.messages[mark:] if t.startswith(f"{PREFIX}dishwasher")]
        assert said[0] == (APPLIANCE, "offline"), said[:3]
