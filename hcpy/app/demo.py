"""`hc2mqtt --demo`: simulated appliances bridged to the broker, kept apart from real ones.

The appliances themselves come from the caller (`launch`: `hcpy.simulator.demo`);
here they are bridged exactly as the daemon bridges real ones (`daemon.serve`),
with everything that could meet a real installation on the same broker changed:

- topics under ``demo/`` (unless a prefix was asked for);
- appliance names ``demo_<name>``: Home Assistant's unique_ids, device
  identifiers and discovery config topics all derive from the name
  (``homeassistant/<component>/hcpy/demo_dishwasher_<feature>/config``), so
  none can be a real "dishwasher"'s. The README's commands and compose's
  demo (which runs this) use these names;
- an MQTT client id and a deviceID of this run's own, never the
  installation's (a real bridge with the same client id would be kicked off);
  no key is written anywhere. The runs the appliances make are recorded (so
  that the console's runs page has some) in a temporary directory, deleted
  at exit;
- every retained topic it published emptied when it stops (SIGINT/SIGTERM),
  its LWTs and Home Assistant configs included: a demo's appliances are gone
  for good when it ends, and a broker keeping their ~370 topics would show
  them for ever (and Home Assistant their devices). Only a demo that is
  killed leaves them (the README says how to empty ``demo/#``).

The web console (`console.web_console`) comes in as `console`, as for
`daemon.serve`.

No broker is no reason to stop: a newcomer may try the demo before
installing one. The appliances run and the console shows them; the log and
every console page say that there is no broker and how to start one, and the
link keeps trying, so that the values appear once one is started.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from ..appliance.entry import ApplianceEntry
from ..mqtt.bridge import Bridge, BridgeSettings
from ..mqtt.link import MqttLink, MqttSettings, no_broker
from .daemon import Console, give_back_large_blocks, serve

log = logging.getLogger("hcpy")

DEMO_PREFIX = "demo/"
NAME_PREFIX = "demo_"
# How long the demo gives the broker before it says there is none (the
# link's first attempt is refused at once when nothing listens).
BROKER_GRACE = 2.0


def demo_name(name: str) -> str:
    """The demo appliance's name: its ids can then never be those of a real appliance `name`."""
    return name if name.startswith(NAME_PREFIX) else NAME_PREFIX + name


def run_demo(
    appliances: AbstractContextManager[list[ApplianceEntry]],
    mqtt: MqttSettings,
    settings: BridgeSettings,
    keep_prefix: bool = False,
    speed: float | None = None,
    console: Console | None = None,
) -> int:
    """Start `appliances`, bridge them until SIGTERM/SIGINT, stop them; the exit code.

    `keep_prefix`: the prefix in `mqtt` was asked for explicitly; else ``demo/``.
    `console`: served beside the bridge (`daemon.Console`).
    """
    give_back_large_blocks()
    if not keep_prefix:
        mqtt = dataclasses.replace(mqtt, prefix=DEMO_PREFIX)
    run_id = os.urandom(8).hex()
    # 127.0.0.1: nothing to look up. Nothing left on the broker at the end.
    settings = dataclasses.replace(settings, device_id=run_id, resolver=None, leave_nothing=True)
    if not mqtt.clientname:
        mqtt = dataclasses.replace(mqtt, clientname=f"hcpy-demo-{run_id[:8]}")
    with appliances as entries, tempfile.TemporaryDirectory(prefix="hcpy-demo-runs-") as runs:
        settings = dataclasses.replace(settings, runs_dir=Path(runs))
        entries = [dataclasses.replace(e, name=demo_name(e.name)) for e in entries]
        log.info(
            "DEMO: %d simulated appliances%s, bridged to %s:%d under %s; stop with Ctrl-C (or SIGTERM)",
            len(entries),
            f" at {speed:g}x speed" if speed else "",
            mqtt.host,
            mqtt.port,
            mqtt.prefix,
        )
        return serve(entries, mqtt, settings, _telling_of_no_broker(console))


def _telling_of_no_broker(console: Console | None) -> Console:
    """`console`, and a line in the log once the bridge starts when no broker is there, with how to start one."""

    def start(bridge: Bridge) -> Callable[[], None] | None:
        stop = console(bridge) if console is not None else None
        threading.Thread(target=_say_no_broker, args=(bridge.link,), name="demo-broker", daemon=True).start()
        return stop

    return start


def _say_no_broker(link: MqttLink) -> None:
    if not link.wait_connected(BROKER_GRACE) and link.nothing_listens:
        log.warning("DEMO: %s; the appliances run meanwhile, and the demo connects once a broker is there",
                    no_broker(link.settings))  # fmt: skip
