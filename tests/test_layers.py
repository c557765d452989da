"""The package layout is the architecture: a layer imports only the layers below it.

Read from the source with `ast`, so a function-local import counts as much as
one at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HCPY = Path(__file__).resolve().parents[1] / "hcpy"
FOUNDATIONS = {"hcpy.errors", "hcpy.encoding", "hcpy.files", "hcpy.times"}
# Layer -> the layers it may import (besides itself and the foundations).
#
# From the bottom: the wire protocol, the appliance model, program runs; MQTT
# (the broker link, topics, publishing, commands and the per-appliance
# bridge); Home Assistant's discovery, which the bridge is handed through
# `mqtt.discovery_port` and never imports; the web console, which shows the
# bridge (and takes Home Assistant's units table, one place for that fact);
# the application at the top, which builds the settings and starts
# everything. Nothing imports the application.
ALLOWED = {
    "protocol": set(),
    "appliance": {"protocol"},
    "runs": {"appliance"},
    "mqtt": {"appliance", "protocol", "runs"},
    "homeassistant": {"appliance", "mqtt", "runs"},
    "onboarding": {"appliance"},
    "simulator": {"appliance", "protocol"},
    "web": {"appliance", "homeassistant", "mqtt", "protocol", "runs"},
    # The applications (command lines) sit on top of every layer.
    "app": {"appliance", "homeassistant", "mqtt", "onboarding", "protocol", "runs", "simulator", "web"},
}
# Pure logic: decided without sockets, threads or processes (DESIGN.md).
PURE = [
    "appliance/model.py",
    "appliance/profile_build.py",
    "appliance/profile_xml.py",
    "appliance/profile_json.py",
    "appliance/entry.py",
    "appliance/entry_diff.py",
    "appliance/state.py",
    "appliance/commands.py",
    "appliance/programs.py",
    "appliance/controls.py",
    "appliance/names.py",
    "protocol/message.py",
    "mqtt/topics.py",
    "mqtt/outgoing.py",
    "mqtt/options.py",
    "mqtt/naming.py",
    "mqtt/publishing.py",
    "mqtt/command.py",
    "mqtt/packets.py",
    "mqtt/run_topics.py",
    "mqtt/discovery_port.py",
    "homeassistant/entity.py",
    "homeassistant/device.py",
    "homeassistant/labels.py",
    "homeassistant/components.py",
    "homeassistant/catalogue.py",
    "homeassistant/entities.py",
    "homeassistant/discovery.py",
    "homeassistant/run_entities.py",
    "homeassistant/announcer.py",
    "app/forks.py",
    "app/addon_options.py",
    "runs/detector.py",
    "runs/config.py",
    "runs/readings.py",
    "runs/record.py",
    "onboarding/pasted.py",
    "onboarding/token_claims.py",
    "onboarding/oauth.py",
    "onboarding/regions.py",
    "onboarding/paired.py",
    "app/login_args.py",
    "simulator/dialogue.py",
    "simulator/lifecycle.py",
    "simulator/runner.py",
    "simulator/changes.py",
    "simulator/kinds/__init__.py",
    "simulator/kinds/life.py",
    "simulator/kinds/fridge.py",
    "simulator/kinds/hob.py",
    "web/health.py",
    "web/pages.py",
    "web/html.py",
    "web/ingress.py",
    "web/control_panel.py",
    "web/log_page.py",
    "web/runs_page.py",
    "web/chart.py",
    "web/commands.py",
    "web/snapshot.py",
    "web/face.py",
    "web/setup_port.py",
    "web/setup_pages.py",
    "web/form_data.py",
]
IO_MODULES = {"socket", "ssl", "select", "threading", "subprocess", "paho", "websocket", "requests"}


def module_name(path: Path) -> str:
    parts = path.relative_to(HCPY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Absolute names of every module `path` imports."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # `from . import tlspsk` imports a module, not a name.
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def layer_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "hcpy" else None


def known_module(name: str) -> bool:
    path = HCPY.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


SOURCES = sorted(p for p in HCPY.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(HCPY)))
def test_a_layer_imports_only_the_layers_below_it(path):
    me = module_name(path)
    parts = path.relative_to(HCPY).parts
    mine = parts[0] if len(parts) > 1 else None
    for name in imports(path):
        if not name.startswith("hcpy") or not known_module(name):
            continue
        if mine is None:  # the foundations and hcpy/__init__ import no layer
            assert name in FOUNDATIONS or name == "hcpy", f"{me} imports {name}"
            continue
        theirs = layer_of(name)
        if name in FOUNDATIONS or theirs in (None, mine):
            continue
        assert theirs in ALLOWED[mine], f"{me} ({mine}) imports {name} ({theirs}): an upward or sideways import"


@pytest.mark.parametrize("relative", PURE)
def test_pure_modules_do_no_io(relative):
    path = HCPY / relative
    assert path.exists(), f"{relative} is listed as pure but does not exist"
    used = {name.split(".")[0] for name in imports(path)} & IO_MODULES
    assert not used, f"{relative} is pure logic but imports {sorted(used)}"


def test_every_package_is_a_known_layer():
    packages = {p.parent.name for p in HCPY.glob("*/__init__.py")}
    assert packages == set(ALLOWED), "a package of hcpy that test_layers.py does not place"


def test_hc2mqtt_is_only_the_command_line_of_the_application():
    used = {name for name in imports(HCPY.parent / "hc2mqtt.py") if name.startswith("hcpy.") and known_module(name)}
    assert used and all(layer_of(name) == "app" or name in FOUNDATIONS for name in used), sorted(used)


def test_the_checks_see_imports():
    # The rules above are only worth something if imports are found at all.
    found = imports(HCPY / "mqtt" / "bridge.py")
    assert "hcpy.appliance.connection" in found and "hcpy.mqtt.link" in found
    assert "hcpy.protocol.tlspsk" in imports(HCPY / "protocol" / "transport.py")


# --- no import cycles -------------------------------------------------------------------


def module_edges(path: Path) -> set[str]:
    """The hcpy modules `path` imports, function-local imports included.

    `from package import name` is an edge to the module `name` when that is
    a module, else to the package.
    """
    edges: set[str] = set()
    for name in imports(path):
        if name.startswith("hcpy") and known_module(name):
            edges.add(name)
    # imports() also lists the package of `from package import module`; that is no edge of its own.
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            package = _from_target(path, node)
            if all(known_module(f"{package}.{alias.name}") for alias in node.names):
                edges.discard(package)
    edges.discard(module_name(path))
    return edges


def _from_target(path: Path, node: ast.ImportFrom) -> str:
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    if not node.level:
        return node.module or ""
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """At least one cycle per knot of modules that import each other: its modules in import order, the first again."""
    found: list[list[str]] = []
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        # Iterative DFS; `path` is the chain of imports being followed.
        path: list[str] = [start]
        on_path = {start}
        todo = [iter(sorted(graph.get(start, ())))]
        while todo:
            nxt = next(todo[-1], None)
            if nxt is None:
                finished = path.pop()
                done.add(finished)
                on_path.discard(finished)
                todo.pop()
                continue
            if nxt in on_path:
                found.append(path[path.index(nxt) :] + [nxt])
                continue
            if nxt in done:
                continue
            path.append(nxt)
            on_path.add(nxt)
            todo.append(iter(sorted(graph.get(nxt, ()))))
    # The same knot is found once per way round it: one cycle per set of modules is enough to act on.
    unique: dict[frozenset[str], list[str]] = {}
    for cycle in found:
        unique.setdefault(frozenset(cycle), cycle)
    return list(unique.values())


def test_no_import_cycle_anywhere_in_hcpy():
    graph = {module_name(path): module_edges(path) for path in SOURCES}
    found = cycles(graph)
    shown = "\n".join(" -> ".join(cycle) for cycle in found)
    assert not found, f"import cycles (imports go one way: move the shared piece down, or pass a callable):\n{shown}"


def test_the_cycle_check_sees_cycles():
    # Function-local and `from . import` imports are edges like any other.
    assert "hcpy.simulator.runner" in module_edges(HCPY / "simulator" / "appliance.py")
    assert "hcpy.protocol.tlspsk" in module_edges(HCPY / "protocol" / "transport.py")
    assert "hcpy.protocol" not in module_edges(HCPY / "protocol" / "transport.py")
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e2"}, "e2": {"e"}}
    assert sorted(cycles(graph)) == [["a", "b", "c", "a"], ["e", "e2", "e"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"b"}}) == []
