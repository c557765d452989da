"""hc-login's three subcommands, and every older command line running as the one it means."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import IO, cast

import pytest
from click.testing import CliRunner
from test_import import DISH_FIXTURE, DISH_ID, downloader_zip, new_key
from test_login import ScreenReader, check_devices, fake  # noqa: F401  (fake is a fixture)

from hcpy.app.login_args import (
    IMPORT_NEEDS_PATHS,
    IMPORT_ONLY,
    PATHS_NEED_IMPORT,
    SCAN_ALONE,
    LegacyUsageError,
    subcommand_args,
)
from hcpy.app.login_cli import main

ROOT = Path(__file__).resolve().parent.parent


# click words it as "No such option: --x" or "No such option '--x'", depending on its version.
NO_SUCH = "No such option"


def translated(*args: str) -> list[str]:
    return subcommand_args(list(args), main.commands)


# --------------------------------------------------------------------------
# The older forms, read as a subcommand (pure)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ([], ["login"]),
        (["--region", "NA"], ["login", "--region", "NA"]),
        (["--devices", "d.json", "-v"], ["login", "--devices", "d.json", "-v"]),
        (["--code", "C", "--state", "S"], ["login", "--code", "C", "--state", "S"]),
        (["--code=C", "--timeout", "3"], ["login", "--code=C", "--timeout", "3"]),
        # hcpy2-0: `hc-login.py config/devices.json`
        (["config/devices.json"], ["login", "--devices", "config/devices.json"]),
        (["--region", "EU", "my.JSON"], ["login", "--region", "EU", "--devices", "my.JSON"]),
        (["--import", "a.zip", "b"], ["import", "a.zip", "b"]),
        (["--devices", "d.json", "--import", "a.zip", "--key", "K", "--iv", "I"],
         ["import", "--devices", "d.json", "--key", "K", "--iv", "I", "a.zip"]),  # fmt: skip
        (["--import", "--", "-odd.zip"], ["import", "--", "-odd.zip"]),
        (["--key", "-starts-with-dash", "--import", "a.zip"], ["import", "--key", "-starts-with-dash", "a.zip"]),
        (["--scan"], ["scan"]),
        (["--scan", "--scan-time", "2", "--scan-interface", "127.0.0.1"],
         ["scan", "--scan-time", "2", "--scan-interface", "127.0.0.1"]),  # fmt: skip
        # What the one command accepted and never used for that job is left out, as it was.
        (["--scan", "--region", "EU", "--timeout", "3"], ["scan"]),
        (["--import", "a.zip", "--region", "EU", "--code", "C", "--scan-time", "2"], ["import", "a.zip"]),
        (["--scan-time", "2"], ["login"]),
        # The new forms go through as they are, also after an option.
        (["scan", "--scan-time", "2"], ["scan", "--scan-time", "2"]),
        (["--devices", "d.json", "import", "a.zip"], ["import", "--devices", "d.json", "a.zip"]),
        # Help is the overview, or the job's own.
        (["--help"], ["--help"]),
        (["--region", "EU", "-h"], ["--help"]),
        (["--import", "--help"], ["import", "--help"]),
        # An option nobody has goes to click, which names it.
        (["--bogus"], ["login", "--bogus"]),
    ],
)
def test_each_older_form_is_its_subcommand(old, new):
    assert translated(*old) == new


@pytest.mark.parametrize(
    ("old", "message"),
    [
        (["--scan", "--import", "a.zip"], SCAN_ALONE),
        (["--import", "a.zip", "--scan"], SCAN_ALONE),
        (["--scan", "a.zip"], SCAN_ALONE),
        (["--scan", "--key", "K"], SCAN_ALONE),
        (["--scan", "--code", "C"], SCAN_ALONE),
        (["a.zip"], PATHS_NEED_IMPORT),
        (["a.json", "b.json"], PATHS_NEED_IMPORT),
        (["--devices", "d.json", "other.json"], PATHS_NEED_IMPORT),
        (["--import"], IMPORT_NEEDS_PATHS),
        (["--host", "h"], IMPORT_ONLY),
        (["--iv", "I", "--region", "EU"], IMPORT_ONLY),
    ],
)
def test_what_the_one_command_refused_is_refused_in_its_words(old, message):
    with pytest.raises(LegacyUsageError) as refused:
        translated(*old)
    assert str(refused.value) == message


# --------------------------------------------------------------------------
# The command line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scan", "--key", "K"], NO_SUCH + "--key"),
        (["scan", "a.zip"], "Got unexpected extra argument (a.zip)"),
        (["login", "--scan-time", "2"], NO_SUCH + "--scan-time"),
        (["login", "--host", "h"], NO_SUCH + "--host"),
        (["login", "a.zip"], "Got unexpected extra argument (a.zip)"),
        (["import", "--region", "EU", "a.zip"], NO_SUCH + "--region"),
        (["import"], "Missing argument 'PATH...'"),
        (["import", "--iv", "I", "a.zip"], "--iv needs --key"),
        (["login", "--state", "S"], "--state goes with --code"),
        (["scan", "--scan-interface", "eth0"], "--scan-interface takes an interface's IPv4 address, not 'eth0'"),
        # The older forms' refusals reach the user as a usage error too.
        (["--scan", "--host", "h"], SCAN_ALONE),
        (["--import", "a.zip", "--iv", "I"], "--iv needs --key"),
    ],
)
def test_refused_combinations_are_usage_errors_naming_the_problem(args, message):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    if message.startswith(NO_SUCH):
        option = message.removeprefix(NO_SUCH)
        assert NO_SUCH in result.output and f"{option}" in result.output.split(NO_SUCH)[1]
    else:
        assert message in result.output


def test_each_subcommand_lists_only_its_own_options():
    options = {}
    for name in ("login", "import", "scan"):
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0, result.output
        options[name] = {word.rstrip(",") for word in result.output.split() if word.startswith("--")}
    assert {"--region", "--code", "--state", "--timeout", "--devices"} <= options["login"]
    assert {"--key", "--iv", "--host", "--devices"} <= options["import"]
    assert {"--scan-time", "--scan-interface", "--devices"} <= options["scan"]
    assert not options["login"] & {"--key", "--iv", "--host", "--scan-time", "--scan-interface"}
    assert not options["import"] & {"--region", "--code", "--scan-time", "--timeout"}
    assert not options["scan"] & {"--region", "--code", "--key", "--host", "--timeout"}
    assert "--cloud-base" not in options["login"]


def test_the_overview_names_the_three_subcommands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    commands = result.output.split("Commands:")[1].split()
    assert {"login", "import", "scan"} <= set(commands)


def import_both_ways(tmp_path: Path, *args: str) -> tuple[str, str]:
    """`args` once as `import …` and once as the older `--import …`: the devices.json each writes."""
    written = []
    for form in (["import"], ["--import"]):
        devices = tmp_path / form[0].strip("-") / "devices.json"
        result = CliRunner().invoke(main, [*form, "--devices", str(devices), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert f"Wrote {devices} (1 appliance: dishwasher)" in result.output
        written.append(devices.read_text())
    return written[0], written[1]


def test_import_subcommand_writes_what_the_older_form_writes(tmp_path):
    key = new_key()
    zipped = downloader_zip(tmp_path / "dish.zip", DISH_FIXTURE, DISH_ID, key, None)
    new, old = import_both_ways(tmp_path, str(zipped), "--host", "192.0.2.7")
    assert new == old
    assert json.loads(new)[0]["key"] == key and json.loads(new)[0]["host"] == "192.0.2.7"


def login_with(fake, args: list[str]):  # noqa: F811  (fake is the fixture's value)
    reader = cast(IO[bytes], ScreenReader(fake.base, lambda r: r))  # a raw stream: click reads it as stdin
    return CliRunner().invoke(main, args, input=reader, env={"HCPY_CLOUD_BASE": fake.base}, catch_exceptions=False)


def test_login_subcommand_logs_in(fake, tmp_path):  # noqa: F811
    devices = tmp_path / "devices.json"
    result = login_with(fake, ["login", "--devices", str(devices)])
    assert result.exit_code == 0, result.output
    check_devices(devices, fake)


def test_hcpy2_0s_positional_devices_file_logs_in_to_that_file(fake, tmp_path):  # noqa: F811
    devices = tmp_path / "config" / "devices.json"
    result = login_with(fake, [str(devices)])
    assert result.exit_code == 0, result.output
    assert f"Wrote {devices} (2 appliances: dishwasher, washer)" in result.output
    check_devices(devices, fake)


def test_the_script_runs_a_subcommand(tmp_path):
    key = new_key()
    zipped = downloader_zip(tmp_path / "dish.zip", DISH_FIXTURE, DISH_ID, key, None)
    devices = tmp_path / "devices.json"
    result = subprocess.run(
        [sys.executable, "hc_login.py", "import", "--devices", str(devices), str(zipped)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(devices.read_text())[0]["key"] == key
