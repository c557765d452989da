"""The Home Assistant add-on's files at the top of the checkout, against the Supervisor's rules for them.

The Supervisor cannot run here, so its rules are written down below as facts,
from its source of August 2026 (supervisor/apps/validate.py: the add-on
config's schema, the map and service patterns, the translations' schema;
supervisor/apps/options.py: the option types; supervisor/const.py: the
architectures, startup and boot values; supervisor/store/validate.py and
data.py: repository.yaml, and which files it takes for add-on configs).
What it would not complain about but log as deprecated (old architectures,
the add-on names of folder maps) is refused too: an installed add-on's
advisories go to its users' Supervisor log.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import tomllib
import zlib
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# --- the Supervisor's facts -------------------------------------------------

BOOL, INT, STR, STRS, DICT, LIST = bool, int, str, "list of str", dict, list
# Every key of an add-on's config.yaml, with the YAML type it takes. Others
# are dropped without a word.
CONFIG_KEYS: dict[str, Any] = {
    "name": STR, "version": STR, "slug": STR, "description": STR, "arch": STRS, "machine": STRS, "url": STR,
    "startup": STR, "boot": STR, "init": BOOL, "stage": STR, "ports": DICT, "ports_description": DICT,
    "watchdog": STR, "webui": STR, "ingress": BOOL, "ingress_port": INT, "ingress_entry": STR,
    "ingress_stream": BOOL, "panel_icon": STR, "panel_title": STR, "panel_admin": BOOL, "homeassistant": STR,
    "host_network": BOOL, "host_pid": BOOL, "host_ipc": BOOL, "host_uts": BOOL, "host_dbus": BOOL,
    "devices": STRS, "udev": BOOL, "tmpfs": BOOL, "map": LIST, "environment": DICT, "privileged": STRS,
    "apparmor": BOOL, "full_access": BOOL, "audio": BOOL, "video": BOOL, "gpio": BOOL, "usb": BOOL, "uart": BOOL,
    "devicetree": BOOL, "kernel_modules": BOOL, "realtime": BOOL, "hassio_api": BOOL, "hassio_role": STR,
    "homeassistant_api": BOOL, "stdin": BOOL, "legacy": BOOL, "docker_api": BOOL, "auth_api": BOOL,
    "services": STRS, "discovery": STRS, "backup_exclude": STRS, "backup_pre": STR, "backup_post": STR,
    "backup": STR, "options": DICT, "schema": DICT, "image": STR, "ulimits": DICT, "timeout": INT,
    "journald": BOOL, "breaking_versions": STRS,
}  # fmt: skip
REQUIRED_KEYS = {"name", "version", "slug", "description", "arch"}
# Keys it still reads but logs as deprecated ("advanced" is ignored since 2026.03).
DEPRECATED_KEYS = {"advanced", "codenotary", "auto_uart"} | {f"snapshot{s}" for s in ("", "_exclude", "_pre", "_post")}
SLUG = re.compile(r"[-_.A-Za-z0-9]+")
ARCHES = {"aarch64", "amd64"}  # what the 2026 Supervisor runs on
ARCHES_DEPRECATED = {"armhf", "armv7", "i386"}
STARTUPS = {"initialize", "system", "services", "application", "once"}
BOOTS = {"auto", "manual", "manual_only"}
MAP_TYPES = {"data", "config", "ssl", "local_apps", "backup", "share", "media", "homeassistant_config",
             "all_app_configs", "app_config"}  # fmt: skip
MAP_TYPES_DEPRECATED = {"addons", "all_addon_configs", "addon_config"}  # since 2026.07: the app_ names above
MAP_ENTRY_KEYS = {"type": STR, "read_only": BOOL, "path": STR}  # read_only defaults to true
SERVICE = re.compile(r"(mqtt|mysql):(provide|want|need)")
WATCHDOG = re.compile(r"(https?|\[PROTO:\w+\]|tcp)://\[HOST\]:(\[PORT:(?P<mapped>\d+)\]|(?P<port>\d+))(?P<path>.*)")
# What gives an add-on more than it needs: none of these is wanted (the
# services API, /services/mqtt, needs only the `services` role).
PRIVILEGES = {"hassio_api", "homeassistant_api", "docker_api", "auth_api", "full_access", "host_pid", "host_ipc",
              "host_dbus", "privileged", "devices", "udev", "uart", "usb", "gpio", "kernel_modules", "realtime"}  # fmt: skip
REPOSITORY_KEYS = {"name": STR, "url": STR, "maintainer": STR}
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")

# --- what this add-on decided (issue 20) ----------------------------------

DECIDED = {
    "slug": "hcpy",
    "arch": ["aarch64", "amd64"],
    "startup": "services",
    "boot": "auto",
    "init": True,  # docker's tini: no s6 in the image
    "host_network": True,  # mDNS
    "ingress": True,
    "services": ["mqtt:want"],
}
# type -> (read_only, path inside the container; None: the Supervisor's default)
DECIDED_MAP = {"app_config": (False, None), "all_app_configs": (True, "/addon_configs"), "share": (False, None)}


def load(name: str) -> Any:
    return yaml.safe_load((ROOT / name).read_text())


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return load("config.yaml")


def of_type(value: Any, kind: Any) -> bool:
    if kind == STRS:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind is INT:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


# --- the option syntax: TYPE[(MIN,MAX)][?] ------------------------------------

RANGED = {"str", "password", "int", "float"}
PLAIN = {"bool", "email", "url", "port"}
NUMBER = r"-?\d*\.?\d+"


def option_type(schema: str) -> tuple[str, str | None, bool]:
    """(type, what its brackets hold, optional) of a schema string; ValueError when the Supervisor would refuse it."""
    optional = schema.endswith("?")
    body = schema[:-1] if optional else schema
    kind, _, rest = body.partition("(")
    argument = rest[:-1] if rest else None
    if rest and not rest.endswith(")"):
        raise ValueError(f"{schema!r}: no closing bracket")
    if kind in PLAIN and argument is None:
        return kind, None, optional
    if kind in RANGED:
        if argument is None:
            return kind, None, optional
        bound = NUMBER if kind == "float" else r"-?\d+" if kind == "int" else r"\d+"
        if re.fullmatch(rf"({bound})?,({bound})?", argument):
            return kind, argument, optional
    if kind == "match" and argument is not None:
        re.compile(argument)
        return kind, argument, optional
    if kind == "list" and argument:
        return kind, argument, optional
    if kind == "device" and (argument is None or re.fullmatch(r"subsystem=[a-z]+", argument)):
        return kind, argument, optional
    raise ValueError(f"{schema!r} is no option type of the Supervisor's")


def within(value: float, argument: str | None) -> bool:
    low, _, high = (argument or ",").partition(",")
    return (not low or value >= float(low)) and (not high or value <= float(high))


def valid_value(schema: str, value: Any) -> bool:
    """Whether the Supervisor takes `value` for an option of `schema`."""
    kind, argument, _ = option_type(schema)
    if kind in ("str", "password"):
        return isinstance(value, str) and within(len(value), argument)
    if kind == "int":
        return of_type(value, INT) and within(value, argument)
    if kind == "float":
        return isinstance(value, int | float) and not isinstance(value, bool) and within(value, argument)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "port":
        return of_type(value, INT) and 1 <= value <= 65535
    if kind == "email":
        return isinstance(value, str) and re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value) is not None
    if kind == "url":
        parts = urlsplit(value) if isinstance(value, str) else None
        return bool(parts and parts.scheme and parts.netloc)
    if kind == "match":
        return re.match(argument or "", str(value)) is not None
    if kind == "list":
        return str(value) in (argument or "").split("|")
    return isinstance(value, str)  # device: a path the Supervisor looks up


def test_option_syntax_reader_knows_valid_from_invalid():
    for good in ("str", "str?", "str(1,)", "password", "int(-5,10)?", "float(0.5,)", "bool?", "email", "url",
                 "port", "match(^[a-z]+$)", "list(a|b-c)?", "device", "device(subsystem=tty)"):  # fmt: skip
        option_type(good)
    # "": the Supervisor's pattern takes it, then fails every option of that type when it validates.
    for bad in ("string", "str(a,b)", "int(1.5,)", "list()", "bool(1,2)", "device(tty)", "str?" + "?", "int(1,", ""):
        with pytest.raises(ValueError):
            option_type(bad)
    assert valid_value("int(1,10)", 10) and not valid_value("int(1,10)", 11) and not valid_value("int", True)
    assert valid_value("list(a|b)?", "b") and not valid_value("list(a|b)", "c")
    assert valid_value("str(2,)", "ab") and not valid_value("str(2,)", "a") and not valid_value("str", 1)
    assert not valid_value("port", 0) and not valid_value("bool", "true") and valid_value("password", "")


# --- config.yaml --------------------------------------------------------------


def test_config_keys_are_the_supervisors_with_their_types(config):
    assert isinstance(config, dict)
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    assert not unknown, f"keys the Supervisor drops: {unknown}"
    deprecated = sorted(set(config) & DEPRECATED_KEYS)
    assert not deprecated, f"keys the Supervisor logs as deprecated: {deprecated}"
    wrong = {key: value for key, value in config.items() if not of_type(value, CONFIG_KEYS[key])}
    assert not wrong, f"of the wrong type: {wrong}"
    missing = sorted(REQUIRED_KEYS - set(config))
    assert not missing, f"required keys missing: {missing}"


def test_config_identity_is_the_projects(config):
    assert SLUG.fullmatch(config["slug"]) and config["slug"] == DECIDED["slug"]
    assert config["name"] == "hcpy"
    # Quoted in YAML (a string), and pyproject.toml's: the version that makes the Supervisor offer an update.
    assert config["version"] == PYPROJECT["project"]["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", config["version"]), config["version"]
    assert config["description"] == PYPROJECT["project"]["description"]


def test_config_runs_where_and_when_decided(config):
    assert set(config["arch"]) <= ARCHES | ARCHES_DEPRECATED, config["arch"]
    assert not set(config["arch"]) & ARCHES_DEPRECATED, "deprecated architectures are logged in every user's Supervisor"
    assert config["startup"] in STARTUPS and config["boot"] in BOOTS
    decided = {key: config.get(key) for key in DECIDED}
    assert decided == DECIDED


def test_config_map_gives_the_folders_decided(config):
    found: dict[str, tuple[bool, str | None]] = {}
    for entry in config["map"]:
        # The dict form: the string form ("share:rw") cannot set a path.
        assert isinstance(entry, dict) and set(entry) <= set(MAP_ENTRY_KEYS), entry
        assert all(of_type(v, MAP_ENTRY_KEYS[k]) for k, v in entry.items()), entry
        kind = entry["type"]
        assert kind in MAP_TYPES | MAP_TYPES_DEPRECATED, f"no map type of the Supervisor's: {kind}"
        assert kind not in MAP_TYPES_DEPRECATED, f"{kind}: logged as deprecated since Supervisor 2026.07"
        assert kind not in found, f"{kind} mapped twice"
        path = entry.get("path")
        assert path is None or PurePosixPath(path).is_absolute(), path
        found[kind] = (entry.get("read_only", True), path)
    assert found == DECIDED_MAP


def test_config_services_and_privileges(config):
    for service in config["services"]:
        assert SERVICE.fullmatch(service), service
    granted = sorted(key for key in PRIVILEGES if config.get(key))
    assert not granted, f"more access than the add-on needs: {granted}"


def test_config_ingress_and_watchdog_name_one_port(config):
    port = config["ingress_port"]
    assert of_type(port, INT) and 1 <= port <= 65535, "a fixed port: 0 (chosen at start) could not be watched"
    match = WATCHDOG.fullmatch(config["watchdog"])
    assert match, config["watchdog"]
    # Host networking: the Supervisor calls the port itself, not a mapped one.
    assert match["port"] and int(match["port"]) == port, config["watchdog"]
    # Not /healthz: the Supervisor restarts an add-on whose watchdog answers 300 or more, and /healthz answers
    # 503 whenever an appliance is switched off. /livez answers whether hcpy itself works.
    assert match["path"] == "/livez"
    assert config["panel_icon"].startswith("mdi:") and config["panel_title"].strip()


def test_config_options_and_schema(config):
    options, schema = config["options"], config["schema"]
    # An option without a schema is dropped with a warning; a schema without
    # a default shows an empty field.
    assert set(options) == set(schema), set(options) ^ set(schema)
    for name, type_ in schema.items():
        assert isinstance(type_, str), f"{name}: nested schemas are not used here"
        option_type(type_)
        assert valid_value(type_, options[name]), f"{name}: default {options[name]!r} is no {type_}"


def test_config_options_feed_hc2mqtt_options(config):
    import hc2mqtt
    from hcpy.app.forks import LAYOUT_CHOICES

    params = {p.name for p in hc2mqtt.main.params}
    for name in config["schema"]:
        assert name.startswith("HCPY_"), name
        if name != "HCPY_CONFIG_FILE":  # read by the add-on itself
            assert name.removeprefix("HCPY_").lower() in params, f"{name}: hc2mqtt has no such option"
    _, layouts, _ = option_type(config["schema"]["HCPY_TOPIC_LAYOUT"])
    assert tuple((layouts or "").split("|")) == LAYOUT_CHOICES


# --- translations ---------------------------------------------------------------


def test_every_option_has_a_translation_and_every_translation_an_option(config):
    files = sorted((ROOT / "translations").iterdir())
    assert [f.name for f in files] == ["en.yaml"], files
    translations = load("translations/en.yaml")
    assert set(translations) <= {"configuration", "network"}, set(translations)
    configuration = translations["configuration"]
    assert set(configuration) == set(config["schema"]), set(configuration) ^ set(config["schema"])
    for name, text in configuration.items():
        assert set(text) <= {"name", "description", "fields"}, (name, set(text))
        assert isinstance(text.get("name"), str) and text["name"].strip(), f"{name}: no name"
        assert isinstance(text.get("description"), str) and text["description"].strip(), f"{name}: no description"


# --- repository.yaml, and the files the Supervisor looks for ---------------------


def test_repository_file_is_valid():
    found = [s for s in CONFIG_SUFFIXES if (ROOT / f"repository{s}").exists()]
    assert found == [".yaml"], found  # the Supervisor reads one of them
    repository = load("repository.yaml")
    assert isinstance(repository, dict) and set(repository) <= set(REPOSITORY_KEYS), repository
    assert all(of_type(v, REPOSITORY_KEYS[k]) for k, v in repository.items()), repository
    assert repository.get("name", "").strip(), "name is required"
    if "url" in repository:
        parts = urlsplit(repository["url"])
        assert parts.scheme in ("http", "https") and parts.netloc, repository["url"]


def repository_files() -> list[str]:
    """What a clone of this repository holds: committed files and those not ignored."""
    result = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.fail(f"git ls-files failed (is this a git checkout?): {result.stderr}")
    return [f for f in result.stdout.split("\0") if f and (ROOT / f).exists()]


def addon_configs(files: list[str]) -> list[str]:
    """The files the Supervisor's store reads as add-on configs: config.* with a config suffix, anywhere
    but under a folder whose name starts with '.' or is 'rootfs'."""
    found = []
    for name in files:
        path = PurePosixPath(name)
        if path.stem == "config" and path.suffix in CONFIG_SUFFIXES:
            if not any(part.startswith(".") or part == "rootfs" for part in path.parts):
                found.append(name)
    return sorted(found)


def test_the_one_addon_config_in_the_repository_is_the_top_one():
    # Any other config.json/yaml/yml (a test fixture, say) would be read as a
    # broken add-on and logged in every user's Supervisor log.
    assert addon_configs(repository_files()) == ["config.yaml"]


def test_addon_config_finder_sees_what_the_supervisor_sees():
    files = ["config.yaml", "tests/fixtures/config.json", "a/config.yml", "a/config.ini", ".github/config.yaml",
             "rootfs/etc/config.json", "x/.hidden/config.json", "configs/other.json"]  # fmt: skip
    assert addon_configs(files) == ["a/config.yml", "config.yaml", "tests/fixtures/config.json"]


def test_no_build_file_or_arch_dockerfile_at_the_top():
    # build.yaml is deprecated (the Dockerfile names its base); Dockerfile.<arch> would replace the Dockerfile.
    tops = {p.name for p in ROOT.iterdir()}
    assert not {f"build{s}" for s in CONFIG_SUFFIXES} & tops
    assert not {f"Dockerfile.{a}" for a in ARCHES | ARCHES_DEPRECATED} & tops
    assert "Dockerfile" in tops


# --- icon.png, logo.png ----------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG, after checking its chunks, their CRCs and that its pixels decompress whole."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is no PNG"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"{path.name}: bad CRC in {kind!r}"
        chunks.append((kind, body))
        at += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND", [k for k, _ in chunks]
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    pixels = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    if interlace == 0:
        assert len(pixels) == height * (1 + (width * channels * depth + 7) // 8), f"{path.name}: pixels cut short"
    return width, height


def test_icon_and_logo_are_pngs_of_the_sizes_home_assistant_shows():
    assert png_size(ROOT / "icon.png") == (128, 128)
    assert png_size(ROOT / "logo.png") == (250, 100)


def test_png_reader_refuses_a_broken_file(tmp_path):
    broken = bytearray((ROOT / "icon.png").read_bytes())
    broken[20] ^= 0xFF  # inside IHDR: its CRC no longer fits
    (tmp_path / "broken.png").write_bytes(bytes(broken))
    with pytest.raises(AssertionError, match="bad CRC"):
        png_size(tmp_path / "broken.png")


# --- DOCS.md, CHANGELOG.md -------------------------------------------------------


def test_docs_name_every_option_and_the_changelog_this_version(config):
    docs = (ROOT / "DOCS.md").read_text()
    missing = [name for name in config["schema"] if f"`{name}`" not in docs]
    assert not missing, f"DOCS.md does not explain {missing}"
    for name, default in config["options"].items():
        row = re.search(rf"^\| `{name}` \| (.*?) \|", docs, re.M)
        assert row, f"DOCS.md's table has no row for {name}"
        shown = "empty" if default == "" else f"`{json.dumps(default).strip(chr(34))}`"
        assert row[1] == shown, f"DOCS.md gives {name} the default {row[1]}, config.yaml {default!r}"
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## {re.escape(config['version'])}$", changelog, re.M), "CHANGELOG.md has no entry for it"


# --- config.yaml and the entry point say the same -----------------------------------


def test_config_is_what_the_entry_point_reads(config):
    """The options, their order, the ingress port and the other add-ons' folder: one table (addon_options) and
    the entry's constants; config.yaml must say the same, or the Supervisor validates what hcpy-addon refuses."""
    from hcpy.app import addon, addon_options

    assert list(config["options"].items()) == list(addon_options.config_yaml_options().items())
    assert config["schema"] == addon_options.config_yaml_schema()
    assert list(config["schema"]) == list(addon_options.config_yaml_schema())
    assert config["ingress_port"] == addon.INGRESS_PORT
    paths = {entry["type"]: entry.get("path") for entry in config["map"]}
    assert paths["all_app_configs"] == addon.OTHER_ADDON_CONFIGS
    assert "hcpy-addon" in PYPROJECT["project"]["scripts"]
