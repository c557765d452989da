"""hc-login --import: profile zips and folders to devices.json, no cloud."""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import stat
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakecloud import b64url, profile_zip

from hcpy.app.login_cli import main
from hcpy.appliance.devices import load_devices
from hcpy.onboarding.importer import import_paths, import_uploads
from hcpy.simulator.examples import EXAMPLES

PROFILES = EXAMPLES  # the simulator's example appliances are the tests' fixtures: real profiles
DISH_FIXTURE = "SIEMENS-SN658X06TE-000000000000"
WASHER_FIXTURE = "SIEMENS-WM16XE91-000000000000"
DISH_ID = "SIEMENS-SN658X06TE-68A40E000001"
WASHER_ID = "SIEMENS-WM16XE91-68A40E000002"


def new_key() -> str:
    return b64url(secrets.token_bytes(32))


def new_iv() -> str:
    return b64url(secrets.token_bytes(16))


def downloader_zip(path: Path, fixture: str, ha_id: str, key: str, iv: str | None, **meta) -> Path:
    """A zip as the profile downloader writes it: the XML pair plus its JSON."""
    info = {
        "haId": ha_id,
        "type": meta.pop("type", "Dishwasher"),
        "brand": "SIEMENS",
        "vib": fixture.split("-")[1],
        "mac": "68-A4-0E-00-00-01",
        "serialNumber": "000000000000",
        "deviceDescriptionFileName": f"{ha_id}_DeviceDescription.xml",
        "featureMappingFileName": f"{ha_id}_FeatureMapping.xml",
        "connectionType": "AES" if iv else "TLS",
        "key": key,
        "iv": iv,
        **meta,
    }
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{ha_id}.json", json.dumps(info))
        for part in ("DeviceDescription", "FeatureMapping"):
            zf.writestr(f"{ha_id}_{part}.xml", (PROFILES / f"{fixture}_{part}.xml").read_bytes())
    return path


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_folder_of_downloader_zips_imports_all_and_names_the_bad_ones(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    zips = tmp_path / "profiles"
    zips.mkdir()
    dish_key, washer_key, washer_iv = new_key(), new_key(), new_iv()
    downloader_zip(zips / "dish.zip", DISH_FIXTURE, DISH_ID, dish_key, None)
    downloader_zip(zips / "washer.zip", WASHER_FIXTURE, WASHER_ID, washer_key, washer_iv, type="Washer")
    (zips / "broken.zip").write_bytes(b"this is not a zip")
    with zipfile.ZipFile(zips / "half.zip", "w") as zf:
        zf.writestr("X_DeviceDescription.xml", (PROFILES / f"{DISH_FIXTURE}_DeviceDescription.xml").read_bytes())
    devices = tmp_path / "devices.json"

    result = invoke("--devices", str(devices), "--import", str(zips))

    assert result.exit_code == 0, result.output
    assert f"dishwasher (SIEMENS SN658X06TE): imported from {zips / 'dish.zip'}" in result.output
    assert "washer (SIEMENS WM16XE91): imported from" in result.output
    assert f"{zips / 'broken.zip'} is not a zip file" in result.stderr
    assert f"{zips / 'half.zip'}: X has a DeviceDescription.xml but no FeatureMapping.xml" in result.stderr
    assert "2 could not be fetched or imported" in result.stderr
    assert stat.S_IMODE(devices.stat().st_mode) == 0o600
    raw = {o["haId"]: o for o in json.loads(devices.read_text())}
    assert raw[DISH_ID]["key"] == dish_key and "iv" not in raw[DISH_ID]
    assert (raw[WASHER_ID]["key"], raw[WASHER_ID]["iv"]) == (washer_key, washer_iv)
    assert raw[DISH_ID]["host"] == DISH_ID  # the haId is the appliance's hostname until the user says otherwise
    entries = {e.ha_id: e for e in load_devices(devices)}
    assert entries[DISH_ID].profile.by_name("BSH.Common.Status.DoorState").uid == 0x020F
    assert entries[WASHER_ID].profile.by_name("LaundryCare.Washer.Option.Temperature") is not None
    for secret in (dish_key, washer_key, washer_iv):
        assert secret not in result.output and secret not in caplog.text


def test_bare_profile_zip_needs_a_key(tmp_path):
    bare = tmp_path / "iddf.zip"
    bare.write_bytes(profile_zip(DISH_FIXTURE, DISH_ID))
    devices = tmp_path / "devices.json"

    missing = invoke("--devices", str(devices), "--import", str(bare))
    assert missing.exit_code == 1
    assert f"{bare} ({DISH_ID}): this profile carries no key; give it with --key" in missing.output
    assert "was not changed" in missing.output and not devices.exists()

    key = new_key()
    ok = invoke("--devices", str(devices), "--import", str(bare), "--key", key, "--host", "192.0.2.7")
    assert ok.exit_code == 0, ok.output
    (obj,) = json.loads(devices.read_text())
    assert (obj["name"], obj["haId"], obj["host"], obj["key"]) == ("dishwasher", DISH_ID, "192.0.2.7", key)
    assert "iv" not in obj and key not in ok.output


def test_folder_with_an_xml_pair_and_aes_key(tmp_path):
    folder = tmp_path / "unpacked"
    folder.mkdir()
    for part in ("DeviceDescription", "FeatureMapping"):
        shutil.copy(PROFILES / f"{WASHER_FIXTURE}_{part}.xml", folder / f"{WASHER_ID}_{part}.xml")
    key, iv = new_key(), new_iv()
    result = import_paths([folder], key=key, iv=iv)
    assert result.problems == []
    (entry,) = result.entries
    assert (entry.name, entry.ha_id, entry.key, entry.iv) == ("washer", WASHER_ID, key, iv)
    assert entry.profile.description.model == "WM16XE91"
    # Naming one file of the pair finds its partner.
    single = import_paths([folder / f"{WASHER_ID}_FeatureMapping.xml"], key=key, iv=iv)
    assert [e.ha_id for e in single.entries] == [WASHER_ID]


def test_wrong_keys_and_metadata_are_named_without_the_secret(tmp_path):
    bad_iv = downloader_zip(tmp_path / "aes.zip", WASHER_FIXTURE, WASHER_ID, new_key(), None, connectionType="AES")
    bare = tmp_path / "bare.zip"
    bare.write_bytes(profile_zip(DISH_FIXTURE, DISH_ID))
    short_key = "c2hvcnQta2V5"
    result = import_paths([bad_iv, bare, tmp_path / "nowhere.zip"], key=short_key)
    assert result.entries == []
    assert f"{bad_iv} ({WASHER_ID}): the JSON says connectionType AES but holds no iv; download it again" in (
        result.problems
    )
    key_problem = next(p for p in result.problems if str(bare) in p)
    assert "'key' must be 43 characters of base64url" in key_problem and short_key not in key_problem
    assert f"{tmp_path / 'nowhere.zip'} does not exist" in result.problems


def test_one_key_for_several_bare_profiles_is_refused(tmp_path):
    for name, fixture, ha_id in (("a.zip", DISH_FIXTURE, DISH_ID), ("b.zip", WASHER_FIXTURE, WASHER_ID)):
        (tmp_path / name).write_bytes(profile_zip(fixture, ha_id))
    good = downloader_zip(tmp_path / "good.zip", DISH_FIXTURE, "SIEMENS-SN658X06TE-68A40E000003", new_key(), None)
    result = import_paths([tmp_path / "a.zip", tmp_path / "b.zip", good], key=new_key())
    assert [e.ha_id for e in result.entries] == ["SIEMENS-SN658X06TE-68A40E000003"]
    assert len(result.problems) == 2
    assert all("--key can only belong to one appliance" in p and "one at a time" in p for p in result.problems)


def test_import_merges_into_an_existing_file(tmp_path):
    devices = tmp_path / "devices.json"
    first = downloader_zip(tmp_path / "dish.zip", DISH_FIXTURE, DISH_ID, new_key(), None)
    assert invoke("--devices", str(devices), "--import", str(first)).exit_code == 0
    second = downloader_zip(tmp_path / "dish2.zip", DISH_FIXTURE, "SIEMENS-SN658X06TE-68A40E000009", new_key(), None)
    result = invoke("--devices", str(devices), "--import", str(second))
    assert result.exit_code == 0, result.output
    names = [o["name"] for o in json.loads(devices.read_text())]
    assert names == ["dishwasher", "dishwasher_2"]
    assert f"Wrote {devices} (2 appliances: dishwasher, dishwasher_2)" in result.output


def test_nothing_importable_changes_nothing(tmp_path):
    devices = tmp_path / "devices.json"
    devices.write_text("[]\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke("--devices", str(devices), "--import", str(empty))
    assert result.exit_code == 1
    assert f"{empty} holds no profile zips" in result.stderr
    assert devices.read_text() == "[]\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--import"], "--import needs at least one zip file or folder"), (["--iv", "x", "--import", "z"], "--iv needs --key")],
)
def test_import_usage_mistakes(args, message):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert message in result.output


def test_key_from_the_environment_keeps_it_off_the_command_line(tmp_path):
    """HCPY_KEY instead of --key: nothing secret in shell history or /proc/*/cmdline."""
    import base64
    import subprocess
    import sys

    from support import DISHWASHER, PROFILES

    bare = tmp_path / "bare.zip"
    with zipfile.ZipFile(bare, "w") as z:
        for suffix in ("DeviceDescription", "FeatureMapping"):
            z.write(PROFILES / f"{DISHWASHER}_{suffix}.xml", f"X_{suffix}.xml")
    key = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    devices = tmp_path / "devices.json"
    result = subprocess.run(
        [sys.executable, "hc_login.py", "--devices", str(devices), "--import", str(bare), "--host", "10.0.0.9"],
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "HCPY_KEY": key},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(devices.read_text())[0]["key"] == key
    assert key not in result.stdout + result.stderr


def test_both_files_of_one_pair_with_a_key_are_one_appliance(tmp_path):
    key = new_key()
    description, mapping = (PROFILES / f"{DISH_FIXTURE}_{part}.xml" for part in ("DeviceDescription", "FeatureMapping"))
    result = import_paths([description, mapping], key=key)
    assert result.problems == [] and len(result.entries) == 1
    assert result.entries[0].key == key and result.entries[0].iv is None


def test_a_profile_without_an_iv_is_imported_as_tls_with_a_hint(caplog):
    key = new_key()
    description = PROFILES / f"{DISH_FIXTURE}_DeviceDescription.xml"
    with caplog.at_level(logging.WARNING):
        result = import_paths([description], key=key)
    assert len(result.entries) == 1
    assert any("imported as a TLS appliance" in r.getMessage() and "--iv" in r.getMessage() for r in caplog.records)


def test_a_new_profile_for_a_known_appliance_keeps_its_key():
    key, iv = new_key(), new_iv()
    description = PROFILES / f"{DISH_FIXTURE}_DeviceDescription.xml"
    refused = import_paths([description])
    assert refused.entries == [] and "carries no key" in refused.problems[0]
    result = import_paths([description], known={DISH_FIXTURE: (key, None)})
    assert result.problems == [] and [(e.key, e.iv) for e in result.entries] == [(key, None)]
    aes = import_paths([description], known={DISH_FIXTURE.lower(): (key, iv)})
    assert [(e.key, e.iv) for e in aes.entries] == [(key, iv)]


def test_the_simulator_exports_sample_zips_that_import(tmp_path):
    """`python -m hcpy.simulator --export-profiles DIR` then `hc_login.py --import DIR`: the README's offline try."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    folder = tmp_path / "profiles"
    result = subprocess.run(
        [sys.executable, "-m", "hcpy.simulator", "--export-profiles", str(folder)],
        cwd=root, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    zips = sorted(folder.glob("*.zip"))
    assert len(zips) == len(list(PROFILES.glob("*_DeviceDescription.xml"))) and "washer.zip" in result.stdout
    assert all(stat.S_IMODE(z.stat().st_mode) == 0o600 for z in zips)  # each holds a key

    def meta(path: Path) -> dict:
        with zipfile.ZipFile(path) as archive:
            return next(json.loads(archive.read(n)) for n in archive.namelist() if n.endswith(".json"))

    metas = {m["haId"]: m for m in map(meta, zips)}
    # Fresh keys and haIds at each export: none ships with hcpy, and two exports never announce the same haId.
    again = tmp_path / "again"
    subprocess.run([sys.executable, "-m", "hcpy.simulator", "--export-profiles", str(again)], cwd=root, check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    first, second = meta(folder / "dishwasher.zip"), meta(again / "dishwasher.zip")
    assert first["key"] != second["key"] and first["haId"] != second["haId"]
    assert first["haId"].startswith("SIEMENS-SN658X06TE-") and first["connectionType"] == "TLS"

    devices = tmp_path / "devices.json"
    imported = invoke("--import", str(folder), "--devices", str(devices))
    assert imported.exit_code == 0, imported.output
    entries = {e.name: e for e in load_devices(str(devices))}
    assert {"dishwasher", "washer", "coffeemaker"} <= set(entries)
    for entry in entries.values():
        assert entry.key == metas[entry.ha_id]["key"] and entry.iv == metas[entry.ha_id]["iv"]
    assert entries["washer"].transport == "aes" and entries["dishwasher"].transport == "tls"
    assert entries["dishwasher"].profile.features  # the profile came along


def test_uploaded_json_without_a_profile_is_said_as_no_profile():
    result = import_uploads([("b.json", b"{}"), ("a.json", b"{}")])
    assert result.entries == []
    assert result.problems == [
        "a.json, b.json: no profile (a zip, or a *_DeviceDescription.xml with its *_FeatureMapping.xml)"
    ]
