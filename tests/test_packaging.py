"""The ways to install and run hcpy: pyproject.toml, the image, compose, systemd.

docker is not available where the tests run, so the files are checked for
what they promise instead: the console scripts exist and read HCPY_*
variables, the image's build context holds what the commands and the demo
need and none of the keys, the compose services fit together and with the
image, the broker's own config starts a real mosquitto with persistence,
and the systemd unit passes `systemd-analyze verify`.
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path, PurePosixPath

import paho.mqtt.client as paho
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
MOSQUITTO_CONF = ROOT / "contrib" / "mosquitto" / "mosquitto.conf"
UNIT = ROOT / "contrib" / "hc2mqtt.service"

# What must never reach the image: keys, the installation's identity, venvs.
SECRET_PATHS = [
    "config/devices.json",
    "config/demo.json",
    "config/config.ini",
    "config/deviceid",
    "config/.hc-login-pending.json",
    "config/backup/devices.json",
    ".venv/bin/python",
    ".venv-ci-3.13/lib/python3.13/site-packages/click/__init__.py",
    ".git/HEAD",
    ".git/objects/ab/cdef",
    "hcpy/__pycache__/files.cpython-313.pyc",
    "hcpy/mqtt/__pycache__/link.cpython-311.pyc",
    ".pytest_cache/v/cache/lastfailed",
    ".ruff_cache/CACHEDIR.TAG",
    "build/lib/hcpy/__init__.py",
    "hcpy.egg-info/PKG-INFO",
]


# --- helpers -------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    try:
        import yaml
    except ImportError:
        pytest.fail("PyYAML is not installed: requirements-dev.txt must list pyyaml, which reads compose.yaml here")
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def requirement_lines(path: Path, allow_options: bool = False) -> list[str]:
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            if line.startswith("-"):
                assert allow_options, f"{path.name}: {line!r} is not a requirement pyproject.toml can read"
                continue
            lines.append(line)
    return lines


def normalized(requirements: list[str]) -> list[str]:
    return [str(Requirement(r)) for r in requirements]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        instructions.append((word.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends in a continuation line"
    return instructions


def exec_form(arguments: str) -> list[str]:
    form = json.loads(arguments)
    assert isinstance(form, list) and all(isinstance(a, str) for a in form), arguments
    return form


def _pattern_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as Docker reads it (Go filepath.Match, plus `**`)."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                out += "(.*/)?"
                i += 1
            else:
                out += ".*"
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.index("]", i)
            body = pattern[i + 1 : end]
            out += "[" + ("^" + body[1:] if body.startswith("^") else body) + "]"
            i = end
        elif c == "\\":
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + r"\Z")


def dockerignore_rules() -> list[tuple[re.Pattern, bool]]:
    rules = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = line[1:].strip() if include else line
        pattern = os.path.normpath(pattern.strip("/")).replace(os.sep, "/")
        rules.append((_pattern_regex(pattern), include))
    return rules


def in_build_context(path: str, rules: list[tuple[re.Pattern, bool]]) -> bool:
    """Whether Docker sends `path` to the build: the last rule matching it or a parent decides."""
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    sent = True
    for regex, include in rules:
        if any(regex.match(c) for c in candidates):
            sent = include
    return sent


def config_copy(tmp_path: Path) -> Path:
    """A working directory with config/config.ini made from the example, as a user would."""
    (tmp_path / "config").mkdir()
    shutil.copy(ROOT / "config" / "config.ini.example", tmp_path / "config" / "config.ini")
    return tmp_path


def parse_hc2mqtt(args: list[str], cwd: Path) -> dict:
    """hc2mqtt's options for these arguments, parsed by hc2mqtt itself (nothing is run).

    With --config, the file's settings count as well (they are the defaults of
    the options the arguments do not give); "_config_read" says whether it was read.
    """
    import hc2mqtt

    here = os.getcwd()
    # Put back every option's default after the parse, in case the parse
    # changed one: a second parse in this process must start as the first.
    defaults = [(param, param.default) for param in hc2mqtt.main.params]
    os.chdir(cwd)
    try:
        with hc2mqtt.main.make_context("hc2mqtt", list(args)) as ctx:
            return {**ctx.params, "_config_read": bool(ctx.default_map)}
    finally:
        os.chdir(here)
        for param, default in defaults:
            param.default = default


def option_value(args: list[str], name: str) -> str | None:
    for i, word in enumerate(args):
        if word == name and i + 1 < len(args):
            return args[i + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


def run_console_script(name: str, args: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT):
    """Run a [project.scripts] entry the way pip's generated script does."""
    module, _, attr = PYPROJECT["project"]["scripts"][name].partition(":")
    code = (
        "import sys\n"
        f"from {module} import {attr.split('.')[0]} as target\n"
        f"target = target{''.join('.' + a for a in attr.split('.')[1:])}\n"
        f"sys.argv[0] = {name!r}\n"
        "sys.exit(target())\n"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HCPY_")}
    environ["PYTHONPATH"] = str(ROOT) + os.pathsep + environ.get("PYTHONPATH", "")
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=60
    )


def volume(spec: str) -> tuple[str, str, str]:
    """(source, target, mode) of a short-syntax compose volume."""
    source, target, *mode = spec.split(":")
    return source, target, mode[0] if mode else "rw"


def conf_lines(path: Path) -> list[tuple[str, str]]:
    out = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            out.append((key, value.strip()))
    return out


# --- pyproject.toml ------------------------------------------------------


def test_the_package_takes_its_dependencies_from_requirements_txt():
    # One list: pyproject.toml names requirements.txt, and setuptools (what
    # `pip install .` builds with) must read it as the package's dependencies.
    from setuptools.config.pyprojecttoml import read_configuration

    assert "dependencies" not in PYPROJECT["project"], "pyproject.toml lists dependencies again: keep requirements.txt the one list"
    expanded = read_configuration(ROOT / "pyproject.toml", expand=True)["project"]["dependencies"]
    assert normalized(expanded) == normalized(requirement_lines(ROOT / "requirements.txt"))
    assert expanded, "no dependencies read"


def constraint_pins() -> dict[str, str]:
    pins = {}
    for line in requirement_lines(ROOT / "constraints.txt"):
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"constraints.txt: {line!r} is not a pin"
        pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def test_every_requirement_is_pinned_in_constraints_txt():
    # The image and CI install with -c constraints.txt: a requirement it does
    # not pin would float, and two builds could differ.
    pins = constraint_pins()
    for path in (ROOT / "requirements.txt", ROOT / "requirements-dev.txt"):
        for line in requirement_lines(path, allow_options=True):
            requirement = Requirement(line)
            name = canonicalize_name(requirement.name)
            assert name in pins, f"{path.name}: {requirement.name} is not pinned in constraints.txt (run .ci/lock)"
            assert requirement.specifier.contains(pins[name], prereleases=True), (
                f"constraints.txt pins {name}=={pins[name]}, outside {path.name}'s {requirement.specifier} (run .ci/lock)"
            )


def test_image_and_ci_install_with_the_constraints():
    runs = [a for w, a in dockerfile_instructions() if w == "RUN" and "pip install" in a]
    assert any("-c constraints.txt" in r and "-r requirements.txt" in r for r in runs), runs
    copies = [a for w, a in dockerfile_instructions() if w == "COPY"]
    assert any("constraints.txt" in c.split() for c in copies), copies
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"pip install [^\n]*-c constraints\.txt[^\n]*-r requirements-dev\.txt", ci), "CI installs without constraints.txt"


def test_console_scripts_are_the_three_commands_and_their_targets_exist():
    scripts = PYPROJECT["project"]["scripts"]
    # hcpy-addon: the Home Assistant add-on's entry, in the package (hcpy.app.addon).
    assert set(scripts) == {"hc-login", "hc2mqtt", "hcpy-addon"}
    modules = set(PYPROJECT["tool"]["setuptools"]["py-modules"])
    for name, target in scripts.items():
        module_name, _, attr = target.partition(":")
        if module_name.startswith("hcpy."):
            assert (ROOT / f"{module_name.replace('.', '/')}.py").is_file(), f"{name}: no module {module_name}"
        else:
            assert module_name in modules, f"{name}: module {module_name} is not installed (py-modules)"
            assert (ROOT / f"{module_name}.py").is_file()
        obj = importlib.import_module(module_name)
        for part in attr.split("."):
            assert hasattr(obj, part), f"{name} = {target!r}: {module_name} has no {attr}"
            obj = getattr(obj, part)
        assert callable(obj), f"{name} = {target!r} is not callable"


@pytest.mark.parametrize("name", ["hc-login", "hc2mqtt"])
def test_console_script_runs_as_its_name(name):
    result = run_console_script(name, ["--help"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: {name} "), result.stdout[:200]


def test_hc2mqtt_console_script_reads_hcpy_environment_variables(tmp_path):
    # A console script calls its target without arguments: HCPY_* must still be read,
    # as with `python hc2mqtt.py`. An invalid value proves it without running anything.
    result = run_console_script("hc2mqtt", [], env={"HCPY_MQTT_PORT": "not-a-port"}, cwd=tmp_path)
    assert result.returncode == 2, (result.returncode, result.stderr[-500:])
    assert "--mqtt_port" in result.stderr and "not-a-port" in result.stderr, result.stderr


def test_every_hcpy_package_is_installed():
    # setuptools only finds packages with an __init__.py: a directory of code
    # without one would be missing from `pip install .` and from the image.
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    for directory in sorted({p.parent for p in (ROOT / "hcpy").rglob("*.py")}):
        dotted = ".".join(directory.relative_to(ROOT).parts)
        assert (directory / "__init__.py").is_file(), f"{dotted} has no __init__.py: pip install . would leave it out"
        assert any(re.fullmatch(pat.replace(".", r"\.").replace("*", ".*"), dotted) for pat in include), dotted


def test_demo_profiles_ship_with_the_package():
    from hcpy.simulator.examples import EXAMPLES

    package_data = PYPROJECT["tool"]["setuptools"].get("package-data", {})
    files = sorted(EXAMPLES.rglob("*.xml"))
    assert files, f"no profiles in {EXAMPLES}"
    for path in files:
        relative = path.relative_to(ROOT)
        assert relative.parts[0] == "hcpy", f"{relative} is outside the hcpy package"
        package_dir = next(p for p in path.parents if (p / "__init__.py").is_file())
        package = ".".join(package_dir.relative_to(ROOT).parts)
        inside = path.relative_to(package_dir).as_posix()
        assert any(PurePosixPath(inside).match(g) for g in package_data.get(package, [])), (
            f"{relative} is not in [tool.setuptools.package-data] {package}"
        )


def test_console_files_ship_with_the_package():
    # hc2mqtt serves the web console's stylesheet and script from the installed package.
    package_data = PYPROJECT["tool"]["setuptools"].get("package-data", {})
    static = ROOT / "hcpy" / "web" / "static"
    files = sorted(p for p in static.iterdir() if p.is_file())
    assert {p.suffix for p in files} >= {".css", ".js"}, files
    for path in files:
        inside = path.relative_to(ROOT / "hcpy" / "web").as_posix()
        assert any(PurePosixPath(inside).match(g) for g in package_data.get("hcpy.web", [])), (
            f"{path.relative_to(ROOT)} is not in [tool.setuptools.package-data] hcpy.web"
        )
        assert in_build_context(path.relative_to(ROOT).as_posix(), dockerignore_rules()), f".dockerignore leaves out {path}"


# --- the image -----------------------------------------------------------


# The image's command: the Home Assistant add-on (config.yaml; ADDON.md of issue 20).
ADDON_COMMAND = ["hcpy-addon"]


def compose_user(service: dict) -> str:
    """The uid a compose service runs as, with the file's own default for ${VAR:-default}."""
    user = re.sub(r"\$\{\w+:-(\w+)\}", r"\1", str(service.get("user", "")))
    return user.split(":")[0]


def test_image_installs_the_project_and_runs_the_addon():
    instructions = dockerfile_instructions()
    words = [w for w, _ in instructions]
    runs = [a for w, a in instructions if w == "RUN"]
    assert any(re.search(r"\bpip install\b[^&;]*\s\.(\s|$)", r) for r in runs), "the project is not pip-installed"
    # No USER: the add-on runs as root, since the folders the Supervisor maps
    # (/config, /data, /share) are root's and config.yaml cannot name a user.
    # compose.yaml's services are not root (test_compose_services_do_not_run_as_root).
    assert "USER" not in words
    # No ENTRYPOINT: `docker compose run --rm hc2mqtt hc-login …` replaces the command.
    assert "ENTRYPOINT" not in words
    # hcpy-addon is [project.scripts]' entry for hcpy.app.addon:main (the add-on's entry point).
    assert exec_form(dict(instructions)["CMD"]) == ADDON_COMMAND


def test_compose_services_do_not_run_as_root(compose):
    for name, service in compose["services"].items():
        if service.get("build") == "." or service.get("image") == compose["services"]["hc2mqtt"]["image"]:
            uid = compose_user(service)
            assert uid.isdigit() and uid != "0", f"{name} runs as {service.get('user')!r}: root in the image"


def test_image_config_directory_belongs_to_the_compose_user(compose):
    # An unmounted config/ (docker run without -v: an anonymous volume takes
    # the image's owner) must be writable for the uid compose runs as by default.
    instructions = dockerfile_instructions()
    uid = compose_user(compose["services"]["hc2mqtt"])
    runs = " && ".join(a for w, a in instructions if w == "RUN")
    workdir = [a for w, a in instructions if w == "WORKDIR"][-1]
    assert re.search(rf"\bchown\s+{re.escape(uid)}(:\S+)?\s+(config|{re.escape(workdir)}/config)\b", runs), (
        f"uid {uid} cannot write {workdir}/config (deviceid, devices.json)"
    )


def test_image_python_needs_no_compiler():
    # sslpsk3 (Python < 3.13) is built from source and needs gcc and OpenSSL headers.
    base = dict(dockerfile_instructions())["FROM"].split()[0]
    match = re.fullmatch(r"python:(\d+)\.(\d+)[-.\w]*", base)
    assert match, base
    runs = " ".join(a for w, a in dockerfile_instructions() if w == "RUN")
    assert (int(match[1]), int(match[2])) >= (3, 13) or ("build-essential" in runs and "libssl-dev" in runs), base


def test_dockerignore_keeps_keys_venvs_and_caches_out():
    rules = dockerignore_rules()
    leaked = [p for p in SECRET_PATHS if in_build_context(p, rules)]
    assert not leaked, f"sent to the docker build: {leaked}"
    # The same for whatever is in config/ now, but the example.
    present = [p.relative_to(ROOT).as_posix() for p in (ROOT / "config").rglob("*") if p.is_file()]
    leaked = [p for p in present if p != "config/config.ini.example" and in_build_context(p, rules)]
    assert not leaked, f"sent to the docker build: {leaked}"


def test_build_context_holds_what_the_image_needs():
    from hcpy.simulator.examples import EXAMPLES

    rules = dockerignore_rules()
    copied = [a.split()[0] for w, a in dockerfile_instructions() if w == "COPY"]
    needed = ["pyproject.toml", "requirements.txt", "constraints.txt", PYPROJECT["project"]["readme"]]
    needed += [f"{m}.py" for m in PYPROJECT["tool"]["setuptools"]["py-modules"]]
    needed += [p.relative_to(ROOT).as_posix() for p in (ROOT / "hcpy").rglob("*.py")]
    # The demo (python -m hcpy.simulator --demo) reads these.
    needed += [p.relative_to(ROOT).as_posix() for p in EXAMPLES.rglob("*.xml")]
    assert any(p.endswith(".xml") for p in needed), f"no demo profiles in {EXAMPLES}"
    missing = [p for p in needed if (ROOT / p).exists() and not in_build_context(p, rules)]
    assert not missing, f".dockerignore leaves out {missing}"
    missing = [p for p in needed if not (ROOT / p).exists()]
    assert not missing, missing
    assert "." in copied, f"the Dockerfile copies only {copied}; the demo profiles and pyproject.toml need all of it"


def test_dockerignore_matcher_reads_patterns_as_docker_does():
    # The reader above decides the two tests before; check it on known cases.
    def sent(patterns: str, path: str) -> bool:
        rules = []
        for line in patterns.split():
            include = line.startswith("!")
            rules.append((_pattern_regex(line.lstrip("!").strip("/")), include))
        return in_build_context(path, rules)

    assert not sent("config/*", "config/devices.json")
    assert sent("config/*", "configs/devices.json")
    assert sent("config/* !config/x.example", "config/x.example")
    assert not sent(".venv*", ".venv-ci-3.13/bin/python")
    assert sent(".venv*", "hcpy/.venvfoo") is True
    assert not sent("**/__pycache__", "hcpy/mqtt/__pycache__/a.pyc")
    assert not sent("**/__pycache__", "__pycache__/a.pyc")
    assert not sent("**/*.py[cod]", "a/b/c.pyc")
    assert sent("*.py[cod]", "a/b/c.pyc")
    assert not sent("tests/* !tests/fixtures", "tests/test_x.py")
    assert sent("tests/* !tests/fixtures", "tests/fixtures/profiles/a.xml")


# --- compose.yaml --------------------------------------------------------


def test_mosquitto_service_has_its_config_and_persistent_storage(compose):
    services = compose["services"]
    mosquitto = services["mosquitto"]
    assert re.fullmatch(r"eclipse-mosquitto:2(\.[\d.]+)?", mosquitto["image"]), mosquitto["image"]
    mounts = [volume(v) for v in mosquitto["volumes"]]
    conf = [(s, m) for s, t, m in mounts if t == "/mosquitto/config/mosquitto.conf"]
    assert conf, "mosquitto.conf is not mounted"
    source, mode = conf[0]
    assert (ROOT / source).resolve() == MOSQUITTO_CONF, source
    assert mode == "ro", "the image's entrypoint would chown the checkout's file"
    data = [s for s, t, _ in mounts if t.rstrip("/") == "/mosquitto/data"]
    assert data and data[0] in (compose.get("volumes") or {}), "the broker's data is not on a named volume"
    settings = dict(conf_lines(MOSQUITTO_CONF))
    assert settings.get("persistence") == "true"
    assert settings.get("persistence_location", "").rstrip("/") == "/mosquitto/data"


def test_anonymous_broker_is_published_on_loopback_only(compose):
    services = compose["services"]
    settings = conf_lines(MOSQUITTO_CONF)
    listeners = [v.split()[0] for k, v in settings if k == "listener"]
    assert listeners == ["1883"], listeners
    ports = services["mosquitto"].get("ports", [])
    published = [str(p).rsplit(":", 1)[-1] for p in ports]
    assert published == ["1883"], ports
    if ("allow_anonymous", "true") in settings:
        exposed = [p for p in ports if not str(p).startswith("127.0.0.1:")]
        assert not exposed, f"anonymous access published beyond this machine: {exposed}"
    assert services["mosquitto"].get("network_mode") != "host" or ("allow_anonymous", "true") not in settings


def test_hc2mqtt_service_reaches_the_broker_and_its_config(compose):
    services = compose["services"]
    bridge = services["hc2mqtt"]
    depends = bridge.get("depends_on", [])
    assert "mosquitto" in depends
    # Appliances on the LAN, mDNS: host networking; the broker is then localhost:1883.
    assert bridge.get("network_mode") == "host"
    example = (ROOT / "config" / "config.ini.example").read_text()
    assert re.search(r'^mqtt_host = "localhost"$', example, re.M) and re.search(r"^mqtt_port = 1883$", example, re.M)
    assert any(str(p).endswith(":1883") and str(p).startswith("127.0.0.1:") for p in services["mosquitto"]["ports"])
    workdir = [a for w, a in dockerfile_instructions() if w == "WORKDIR"][-1]
    mounts = [volume(v) for v in bridge["volumes"]]
    assert ("./config", f"{workdir}/config", "rw") in mounts, mounts
    # A command of its own, reading config/config.ini under WORKDIR: the image's is the add-on.
    assert bridge.get("command") == ["hc2mqtt", "--config", "config/config.ini"] and "entrypoint" not in bridge
    assert bridge.get("build") == "." and bridge.get("restart") in ("unless-stopped", "always")


def test_every_hc2mqtt_command_parses(compose, tmp_path):
    services = compose["services"]
    cwd = config_copy(tmp_path)
    cmd = services["hc2mqtt"]["command"]
    params = parse_hc2mqtt(cmd[1:], cwd)
    assert option_value(cmd, "--config") == "config/config.ini" and params["_config_read"], cmd
    for service in services.values():
        command = service.get("command")
        if isinstance(command, str):
            command = shlex.split(command)
        if command and command[0] == "hc2mqtt":
            parse_hc2mqtt(command[1:], cwd)  # raises click.UsageError on a wrong option


def started(compose: dict, profiles: set[str], targets: list[str], no_deps: bool = False) -> set[str]:
    """The services `docker compose [--profile P]… up [--no-deps] [TARGETS]` starts, by the Compose spec's rules.

    Without targets: every service without profiles and those of an active
    profile. A targeted service's profiles become active; its depends_on
    come along unless --no-deps.
    """
    services = compose["services"]
    if not targets:
        return {n for n, s in services.items() if not s.get("profiles") or set(s["profiles"]) & profiles}
    chosen: set[str] = set()
    todo = list(targets)
    while todo:
        name = todo.pop()
        if name in chosen:
            continue
        chosen.add(name)
        if not no_deps:
            todo += list(services[name].get("depends_on") or [])
    return chosen


def test_demo_profile_runs_the_demo_without_the_real_bridge(compose):
    services = compose["services"]
    # The real bridge restarts until config/config.ini exists: not the demo's.
    assert started(compose, {"demo"}, []) == {"mosquitto", "demo"}
    assert started(compose, set(), ["demo"]) == {"mosquitto", "demo"}
    assert "demo" not in services["hc2mqtt"].get("profiles", [])
    # The demo is hc2mqtt --demo (the same appliance names as the README's commands), on compose's broker.
    demo = services["demo"]
    options = parse_hc2mqtt(demo["command"][1:], ROOT)
    assert demo["command"][0] == "hc2mqtt" and options["demo"], demo["command"]
    assert options["mqtt_host"] in ("localhost", "127.0.0.1") and options["mqtt_port"] == 1883
    assert "--mqtt_prefix" not in demo["command"], "the demo's own prefix (demo/) is what the README's commands use"
    assert demo.get("network_mode") == "host"  # its broker at localhost:1883, its console on the host's loopback
    from hcpy.web.security import is_loopback

    assert options["http_port"] == 8080 and is_loopback(options["http_host"]), (options["http_port"], options["http_host"])


def test_real_bridge_starts_by_its_name_or_profile(compose):
    assert compose["services"]["hc2mqtt"].get("profiles") == ["bridge"]
    assert started(compose, set(), ["hc2mqtt"]) == {"mosquitto", "hc2mqtt"}
    assert "hc2mqtt" in started(compose, {"bridge"}, [])
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^docker compose up -d hc2mqtt\b", readme, re.M), "the README does not start the bridge by name"
    assert not re.search(r"^docker compose up -d\s*(#|$)", readme, re.M), "a bare `up -d` starts only the broker now"


def test_a_broker_already_on_the_host_is_used_without_compose_s(compose):
    """Port 1883 taken: --no-deps starts a service alone, and host networking takes it to the host's broker."""
    services = compose["services"]
    for name in ("demo", "hc2mqtt"):
        assert started(compose, set(), [name], no_deps=True) == {name}
        assert services[name].get("network_mode") == "host", name
    text = (ROOT / "compose.yaml").read_text()
    readme = (ROOT / "README.md").read_text()
    for doc in (text, readme):
        assert "docker compose up --no-deps demo" in doc
        assert "docker compose up -d --no-deps hc2mqtt" in doc
        assert "already in use" in doc  # the error a user sees, to be found by searching


def test_time_zone_comes_from_the_host(compose):
    for name, service in compose["services"].items():
        if service.get("image") != compose["services"]["hc2mqtt"]["image"]:
            continue
        environment = service.get("environment") or {}
        tz = str(environment.get("TZ", ""))
        # No zone of the file's own: TZ from where compose runs, else the host's file.
        assert tz.startswith("${TZ:-") and "/etc/localtime" in tz, (name, tz)
        assert ("/etc/localtime", "/etc/localtime", "ro") in [volume(v) for v in service["volumes"]], name
    settings = [line.split("#")[0] for line in (ROOT / "compose.yaml").read_text().splitlines()]
    assert not [line for line in settings if re.search(r"\b(Europe|America|Asia|Australia)/", line)]


def test_compose_holds_no_secrets(compose):
    services = compose["services"]
    text = (ROOT / "compose.yaml").read_text()
    for name, service in services.items():
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(e.split("=", 1) if "=" in e else (e, None) for e in environment)
        for key, value in environment.items():
            assert not re.search(r"PASSWORD|SECRET|TOKEN|KEY|_IV$", key.upper()) or value in (None, ""), (name, key)
    assert not re.search(r"(?im)^\s*[^#\n]*\b(password|passwd|secret|token|psk)\b\s*[:=]\s*\S", text)
    assert not re.search(r"[A-Za-z0-9_-]{43}", text), "something like a key in compose.yaml"


def test_readme_compose_commands_name_existing_services_and_profiles(compose):
    services = compose["services"]
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"docker compose [^\n`]*", readme)
    assert any("--profile demo up" in c for c in commands)
    assert any(re.search(r"run --rm hc2mqtt hc-login\b", c) for c in commands)
    profiles = {p for s in services.values() for p in s.get("profiles", [])}
    for command in commands:
        words = command.split("#")[0].split()
        for flag, value in itertools.pairwise(words):
            if flag == "--profile":
                assert value in profiles, command
        if "up" in words:
            targets = [w for w in words[words.index("up") + 1 :] if not w.startswith("-")]
            assert set(targets) <= set(services), command
        if "run" in words:
            # docker compose run [OPTIONS] SERVICE [COMMAND…]: the first word that is not an option or its value.
            rest = iter(words[words.index("run") + 1 :])
            for word in rest:
                if word in ("-v", "--volume", "-e", "--env", "-w", "--workdir", "-u", "--user", "--entrypoint"):
                    next(rest)
                elif not word.startswith("-"):
                    assert word in services, command
                    break
            else:
                pytest.fail(f"no service in {command!r}")


# --- the broker's config, on a real mosquitto ------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_mosquitto(config: Path, port: int) -> subprocess.Popen:
    binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if not binary:
        pytest.fail("mosquitto is not installed (apt-get install mosquitto)")
    process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"mosquitto refused {config.name}:\n{process.stdout.read().decode()}")
            time.sleep(0.05)
    process.kill()
    pytest.fail("mosquitto did not listen")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(5)


def _client(port: int) -> paho.Client:
    client = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.connect("127.0.0.1", port)
    return client


def test_broker_config_starts_mosquitto_anonymous_and_keeps_retained_values(tmp_path):
    # contrib/mosquitto/mosquitto.conf as it is, but on a free loopback port and
    # with the volume's path in tmp_path.
    port = _free_port()
    text = MOSQUITTO_CONF.read_text()
    text, listeners = re.subn(r"(?m)^listener 1883$", f"listener {port} 127.0.0.1", text)
    text, locations = re.subn(r"(?m)^persistence_location /mosquitto/data/?$", f"persistence_location {tmp_path}/", text)
    assert listeners == 1 and locations == 1
    if os.geteuid() == 0:
        text += "\nuser root\n"  # else mosquitto switches user and cannot write tmp_path
    config = tmp_path / "mosquitto.conf"
    config.write_text(text)

    broker = _start_mosquitto(config, port)
    try:
        client = _client(port)  # no username: anonymous
        client.loop_start()
        client.publish("homeconnect/dishwasher/LWT", "online", qos=1, retain=True).wait_for_publish(5)
        client.loop_stop()
        client.disconnect()
    finally:
        _stop(broker)

    broker = _start_mosquitto(config, port)
    try:
        got: list[bytes] = []
        client = _client(port)
        client.on_message = lambda c, u, m: got.append(m.payload)
        client.subscribe("homeconnect/dishwasher/LWT")
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            client.loop(0.1)
        client.disconnect()
    finally:
        _stop(broker)
    assert got == [b"online"], "the retained value did not survive a restart"


# --- systemd ---------------------------------------------------------------


def unit_settings() -> dict[str, str]:
    settings = {}
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    return settings


def test_systemd_unit_starts_an_installed_hc2mqtt(tmp_path):
    settings = unit_settings()
    workdir = PurePosixPath(settings["WorkingDirectory"])
    command = shlex.split(settings["ExecStart"])
    executable = PurePosixPath(command[0])
    # The console script of a venv (pip install .), not a script of the checkout.
    assert executable.name in PYPROJECT["project"]["scripts"], executable
    assert executable.parent.name == "bin" and executable.is_absolute(), executable
    options = parse_hc2mqtt(command[1:], config_copy(tmp_path))
    config = PurePosixPath(option_value(command, "--config") or "")
    assert options["_config_read"] and not config.is_absolute() and config.parts[0] == "config", command
    # ProtectSystem=strict: hc2mqtt writes deviceid (and hc-login devices.json) in config/.
    assert settings.get("ProtectSystem") == "strict"
    writable = [PurePosixPath(p) for p in settings.get("ReadWritePaths", "").split()]
    assert workdir / "config" in writable, writable
    assert settings.get("User") not in (None, "", "root")
    # The README's steps make exactly this: the user, the venv, the config directory.
    readme = (ROOT / "README.md").read_text()
    venv = executable.parent.parent
    for step in (
        rf"useradd --system .*\b{re.escape(settings['User'])}$",
        rf"python3 -m venv {re.escape(str(venv))}\b",
        rf"{re.escape(str(venv))}/bin/pip install \.",
        rf"install -d -o {re.escape(settings['User'])} .*{re.escape(str(workdir / 'config'))}$",
        rf"cp {re.escape(UNIT.relative_to(ROOT).as_posix())} /etc/systemd/system/",
        rf"systemctl enable --now {re.escape(UNIT.stem)}\b",
    ):
        assert re.search(step, readme, re.M), f"README's systemd steps lack {step!r}"


def test_systemd_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed")
    settings = unit_settings()
    root = PurePosixPath(settings["WorkingDirectory"])
    # The unit as installed under tmp_path: the executable it names must exist there.
    executable = tmp_path / PurePosixPath(shlex.split(settings["ExecStart"])[0]).relative_to(root)
    executable.parent.mkdir(parents=True)
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    (tmp_path / "config").mkdir()
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace(str(root), str(tmp_path)))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        # Not the unit's: this machine's own units that verify also loads.
        if UNIT.name in line or str(tmp_path) in line
    ]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr
