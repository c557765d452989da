"""hc2mqtt, once its settings are known: the bridge, the check or the demo."""

from __future__ import annotations

from .console import SetupFiles, add_page, web_console
from .settings import Mode, Settings

# hc2mqtt's log lines, whoever starts it (hc2mqtt, hcpy-addon): the add-on's log reads like hc2mqtt's.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def launch(settings: Settings) -> int:
    """Do what `settings` ask; the exit code."""
    console = settings.console
    # The demo gets no "Add appliances": its devices file is the simulator's.
    setup = None
    if settings.mode is Mode.BRIDGE:
        setup = SetupFiles(settings.devices_file, settings.discovery_file, console.other_addon_configs)
    hook = web_console(
        console.host, console.port, console.password, console.required, setup, ingress_peer=console.ingress_peer
    )
    if settings.mode is Mode.DEMO:
        from ..simulator.demo import DemoAppliances
        from . import demo

        appliances = DemoAppliances(settings.demo_speed)
        speed = settings.demo_speed
        return demo.run_demo(appliances, settings.mqtt, settings.bridge, settings.keep_prefix, speed, hook)
    if settings.mode is Mode.CHECK:
        from .check import main as check

        return check(settings.devices_file, settings.mqtt, settings.bridge, settings.appliances)
    from .daemon import run

    add = add_page(console.host, console.port, console.ingress_peer is not None)
    return run(settings.devices_file, settings.mqtt, settings.bridge, settings.appliances, settings.sections, hook, add)
