"""What a plain hc2mqtt run imports: only what it uses (memory; issue 18's 26 MB for one appliance).

hc2mqtt runs as users run it, with one simulated appliance, no web console,
no Home Assistant discovery and no config file; once the appliance is online
it writes the names of its loaded modules to a file on SIGUSR1 (a hook set by
the few lines that start it here, not by hcpy). What is only needed when
configured (the console, mDNS, metrics, YAML, HTTP meters, the config file)
or never by the daemon itself must not be among them.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from support import DISHWASHER, eventually, profile_files

from hcpy.appliance.devices import save_devices
from hcpy.appliance.entry import entry_from_profile
from hcpy.appliance.profile_xml import parse_profile
from hcpy.simulator import SimulatedAppliance, Simulator

ROOT = Path(__file__).resolve().parents[1]

# hc2mqtt.py as `python hc2mqtt.py ARGS` runs it, plus a SIGUSR1 handler that
# writes sorted(sys.modules) to the file named by the last argument.
RUN_WITH_MODULE_DUMP = """
import json, runpy, signal, sys
out = sys.argv.pop()
signal.signal(signal.SIGUSR1, lambda *_: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv[0] = "hc2mqtt.py"
runpy.run_path("hc2mqtt.py", run_name="__main__")
"""

# Loaded only where a run asks for them.
NOT_LOADED = (
    "hcpy.web",  # the web console: --http_port
    "hcpy.onboarding",  # hc-login's
    "hcpy.simulator",  # --demo's
    # Home Assistant's discovery (--ha_discovery); the package's __init__ (the default discovery.yaml path) is all.
    "hcpy.homeassistant.announcer",
    "hcpy.homeassistant.discovery",
    "hcpy.homeassistant.entities",
    "hcpy.homeassistant.discovery_file",
    "hcpy.protocol.mdns",  # looking an appliance up by haId: only when it is not at its host
    "zeroconf",  # mDNS: only when an appliance with a haId is not found at its host
    "prometheus_client",  # the console's /metrics
    "yaml",  # discovery.yaml: --ha-discovery with the file present
    "requests",  # HTTP meters of a run configuration
    "configobj",  # --config
    "click_config_file",
    "Crypto",  # pycryptodome: AES appliances only
    "http.client",  # urllib.request, which paho imports for its proxy support (hcpy.mqtt.client)
    "email",
    "difflib",  # "did you mean" for a typo in a settings file
    "tempfile",  # writing a file (hcpy.files), which an idle run does not do
    "_hashlib",  # OpenSSL's digests (hashlib): paho's MQTT over websockets; the upgrade's SHA-1 is _sha1's
)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_plain_run_loads_only_what_it_uses(tmp_path, broker, subscriber):
    profile = parse_profile(*profile_files(DISHWASHER))
    psk = os.urandom(32)
    devices = tmp_path / "devices.json"
    dump = tmp_path / "modules.json"
    with Simulator(SimulatedAppliance(profile), psk) as sim:
        entry = entry_from_profile(profile, key=b64(psk), host="127.0.0.1", port=sim.port, name="dishwasher")
        save_devices(devices, [entry], merge=False)
        # Not measured by coverage (.ci/checks): coverage itself loads hashlib into every process it starts in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("HCPY_") and not k.startswith("COVERAGE_PROCESS_")}
        daemon = subprocess.Popen(
            [sys.executable, "-c", RUN_WITH_MODULE_DUMP, "--devices_file", str(devices),
             "--mqtt_host", "127.0.0.1", "--mqtt_port", str(broker.port), str(dump)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            subscriber.wait("homeconnect/dishwasher/LWT", "online", timeout=20)
            subscriber.wait("homeconnect/dishwasher/state/bsh_common_status_doorstate")
            daemon.send_signal(signal.SIGUSR1)
            text = eventually(lambda: dump.exists() and dump.read_text(), what="the module list")
            modules = set(json.loads(text))
        finally:
            daemon.send_signal(signal.SIGTERM)
            output, _ = daemon.communicate(timeout=20)
    assert daemon.returncode == 0, output
    # The list is the daemon's, taken while it bridged the appliance.
    assert {"hcpy.mqtt.bridge", "hcpy.protocol.tlspsk", "paho.mqtt.client"} <= modules
    loaded = sorted(m for m in modules if any(m == name or m.startswith(name + ".") for name in NOT_LOADED))
    assert loaded == [], f"a plain run loaded {loaded}"
