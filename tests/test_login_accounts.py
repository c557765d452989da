"""hc-login as real accounts meet it (issue 13), against the fake cloud over loopback HTTP.

Regions (a 401 or an empty list from the wrong one, the region in the
token), pasted codes in their encodings, the intermediate SingleKey URL, a
403 on one of two appliances, redirects, both key kinds, the host names
and the kept profile zips. Each test asserts the sentence the user reads.
"""

from __future__ import annotations

import json
import logging
import secrets
import stat
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from fakecloud import CloudAppliance, FakeCloud, b64url
from test_login import assert_no_secrets, browser_login, run_login

from hcpy.app.login_cli import main
from hcpy.onboarding.pasted import decode_once

# Real haIds of this kind are 18 digits; TLS appliances announce BRAND-TYPE-HAID.
DISH_ID = "012090386729000001"
WASHER_ID = "012090386729000002"
DISH_HOST = f"SIEMENS-Dishwasher-{DISH_ID}"


def _appliances() -> list[CloudAppliance]:
    return [
        CloudAppliance(
            DISH_ID, "SIEMENS", "Dishwasher", b64url(secrets.token_bytes(32)),
            fixture="SIEMENS-SN658X06TE-000000000000",
        ),  # fmt: skip
        CloudAppliance(
            WASHER_ID, "SIEMENS", "Washer", b64url(secrets.token_bytes(32)), b64url(secrets.token_bytes(16)),
            fixture="SIEMENS-WM16XE91-000000000000",
        ),  # fmt: skip
    ]


@pytest.fixture
def fake():
    server = FakeCloud(_appliances()).start()
    yield server
    server.stop()


def regional(fake: FakeCloud) -> str:
    """--cloud-base giving each region hosts of its own: /eu/…, /na/…, /cn/…"""
    return f"{fake.base}/{{region}}"


def services_asked(fake: FakeCloud) -> list[str]:
    """The region prefix of every services request, in order ('eu', 'na', …)."""
    return [path.split("/")[1] for method, path in fake.requests if "/api/" in path]


def written(devices: Path) -> dict[str, dict]:
    return {obj["haId"]: obj for obj in json.loads(devices.read_text())}


WRONG_REGION_NA = "wrong region: this account lives in NA; next time run hc-login --region NA"


# --------------------------------------------------------------------------
# 1. Region


@pytest.mark.parametrize("wrong_region", ["401", "empty"])
def test_a_wrong_region_is_left_for_the_one_that_answers_and_said(fake, tmp_path, caplog, wrong_region):
    caplog.set_level(logging.DEBUG)
    fake.home_region, fake.wrong_region = "na", wrong_region
    devices = tmp_path / "devices.json"
    result = run_login(fake, devices, base=regional(fake))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[lines.index("Logged in.") + 1] == WRONG_REGION_NA
    assert "Found 2 appliances" in result.output and "pair them" not in result.output
    # EU's list was asked once; the keys and profiles came from NA only.
    assert services_asked(fake) == ["eu"] + ["na"] * 5
    assert set(written(devices)) == {DISH_ID, WASHER_ID}
    assert_no_secrets(fake, result.output, caplog.text)


@pytest.mark.parametrize("where", ["header", "payload"])
def test_the_region_in_the_token_is_asked_first(fake, tmp_path, where):
    fake.home_region = "na"
    if where == "header":
        fake.token_header = {"x-reg": "NA", "x-env": "PRD"}
    else:
        fake.token_claims = {"region": "NA"}
    devices = tmp_path / "devices.json"
    result = run_login(fake, devices, base=regional(fake))
    assert result.exit_code == 0, result.output
    assert services_asked(fake) == ["na"] * 5  # EU's services never saw the token
    assert "wrong region" not in result.output  # nothing to do better next time
    assert set(written(devices)) == {DISH_ID, WASHER_ID}


def test_a_wrongly_named_region_is_said_even_when_the_token_put_it_right(fake, tmp_path):
    fake.home_region, fake.token_header = "na", {"x-reg": "NA"}
    result = run_login(fake, tmp_path / "devices.json", "--region", "EU", base=regional(fake))
    assert result.exit_code == 0, result.output
    assert WRONG_REGION_NA in result.output.splitlines()
    assert services_asked(fake)[0] == "na"
    assert [path for method, path in fake.requests if method == "POST"] == ["/eu/security/oauth/token"]


def test_pair_them_in_the_app_only_when_every_region_is_empty(fake, tmp_path):
    fake.home_region, fake.wrong_region = "eu", "empty"
    fake.appliances.clear()
    devices = tmp_path / "devices.json"
    result = run_login(fake, devices, base=regional(fake))
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "Error: the account has no paired appliances in any region (EU, NA), demo ones aside: "
        f"pair them in the Home Connect app first; {devices} was not changed"
    )
    assert services_asked(fake) == ["eu", "na"]
    assert "wrong region" not in result.output
    assert not devices.exists()


def test_a_401_from_every_region_is_a_refused_login(fake, tmp_path):
    fake.behaviour.status["appliances"] = 401
    devices = tmp_path / "devices.json"
    result = run_login(fake, devices, base=regional(fake))
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "Error: the login was refused or has expired (HTTP 401, refused on the list of paired appliances); "
        "run hc-login again"
    )
    assert services_asked(fake) == ["eu", "na"]
    assert not devices.exists()


# --------------------------------------------------------------------------
# 2. Pasting


@pytest.mark.parametrize(
    "paste",
    [
        lambda url: quote(url, safe=""),
        lambda url: quote(quote(url, safe=""), safe=""),
        lambda url: f'  "{url.replace("&", "&amp;")}"  ',
    ],
    ids=["encoded-once", "encoded-twice", "amp-and-quotes"],
)
def test_the_final_url_logs_in_in_any_encoding(fake, tmp_path, paste):
    devices = tmp_path / "devices.json"
    result = run_login(fake, devices, paste=paste)
    assert result.exit_code == 0, result.output
    assert "%2B" in fake.token_forms[-1]["code"] or "+" in fake.token_forms[-1]["code"]
    assert fake.token_forms[-1]["code"] in fake.all_codes  # the code as issued, decoded exactly once
    assert set(written(devices)) == {DISH_ID, WASHER_ID}


def test_a_bare_code_is_followed_by_a_prompt_for_the_state(fake, tmp_path):
    def code_then_state(url: str) -> str:
        query = url.split("?", 1)[1]
        params = dict(part.split("=", 1) for part in query.split("&"))
        return f"{params['code']}\n{params['state']}"  # both as they stand in the URL (the code encoded)

    devices = tmp_path / "devices.json"
    result = run_login(fake, devices, paste=code_then_state)
    assert result.exit_code == 0, result.output
    assert "Paste the hcauth://auth/prod?code=… URL (or only its code) here: " in result.output
    assert "Now the state=… of the same URL: " in result.output
    assert "Logged in." in result.output
    assert_no_secrets(fake, result.output)


def test_the_intermediate_url_gets_keep_going(fake, tmp_path):
    devices = tmp_path / "devices.json"
    intermediate = 'https://singlekey-id.com/auth/en-gb/oauth/redirect_target?state={"session_id":"5e55"}'
    result = run_login(fake, devices, paste=lambda url: intermediate)
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "Error: this is not the final hcauth:// address but SingleKey's …/oauth/redirect_target step before it; "
        "keep going in the browser until it tries to open hcauth://auth/prod?code=…&state=…, and paste that"
    )
    assert not [r for r in fake.requests if r[0] == "POST"]  # nothing was sent as a code


def _first_run(fake: FakeCloud, devices: Path) -> tuple[str, str]:
    """Start a login without finishing it; the (code, state) as they stand in the hcauth:// URL."""
    first = CliRunner().invoke(main, ["--devices", str(devices)], input="", env={"HCPY_CLOUD_BASE": fake.base})
    assert first.exit_code == 1
    url = next(w for w in first.output.split() if "/security/oauth/authorize?" in w)
    redirect = browser_login(url)
    params = dict(part.split("=", 1) for part in redirect.split("?", 1)[1].split("&"))
    return params["code"], params["state"]


@pytest.mark.parametrize("encoded", [True, False], ids=["as-in-the-url", "decoded"])
def test_code_and_state_options_are_decoded_once(fake, tmp_path, encoded):
    devices = tmp_path / "devices.json"
    code, state = _first_run(fake, devices)
    assert "%2B" in code and "%2F" in code  # the fake cloud's codes carry '+' and '/'
    given = code if encoded else decode_once(code)
    result = CliRunner().invoke(
        main, ["--devices", str(devices), "--code", given, "--state", state], env={"HCPY_CLOUD_BASE": fake.base}
    )
    assert result.exit_code == 0, result.output
    assert fake.token_forms[-1]["code"] == decode_once(code)
    assert set(written(devices)) == {DISH_ID, WASHER_ID}


def test_a_bare_code_option_needs_its_state(fake, tmp_path):
    devices = tmp_path / "devices.json"
    code, _state = _first_run(fake, devices)
    result = CliRunner().invoke(main, ["--devices", str(devices), "--code", code], env={"HCPY_CLOUD_BASE": fake.base})
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "Error: only a code was given, without its state: give the state=… of the same hcauth:// URL too "
        "(hc-login --code C --state S), or paste the whole URL"
    )


# --------------------------------------------------------------------------
# 3. A forbidden appliance


@pytest.mark.parametrize("call, what", [("encryption", "key"), ("iddf", "profile")])
def test_a_403_on_one_appliance_skips_it_and_writes_the_other(fake, tmp_path, call, what):
    fake.behaviour.status_for[(call, WASHER_ID)] = 403
    devices = tmp_path / "devices.json"
    result = run_login(fake, devices)
    assert result.exit_code == 0, result.output
    assert f"WARNING: SIEMENS Washer ({WASHER_ID}) skipped: the cloud refuses this account its {what} (HTTP 403), " \
        "as for an appliance shared with you or restricted by its owner; run hc-login with the owner's account " \
        "to get it" in result.stderr.splitlines()  # fmt: skip
    assert f"Wrote {devices} (1 appliance: dishwasher)" in result.output
    assert "1 could not be fetched or imported: see the warnings above." in result.stderr
    assert set(written(devices)) == {DISH_ID}


def test_a_401_on_one_appliance_still_fails_the_whole_run(fake, tmp_path):
    fake.behaviour.status_for[("iddf", WASHER_ID)] = 401
    devices = tmp_path / "devices.json"
    result = run_login(fake, devices)
    assert result.exit_code == 1
    assert "the login was refused or has expired (HTTP 401" in result.output
    assert not devices.exists()


# --------------------------------------------------------------------------
# 4. Redirects


@pytest.mark.parametrize("call, ha_id", [("iddf", DISH_ID), ("encryption", WASHER_ID), ("appliances", "")])
def test_gets_follow_a_redirect(fake, tmp_path, call, ha_id):
    fake.behaviour.redirect[(call, ha_id)] = 302
    devices = tmp_path / "devices.json"
    result = run_login(fake, devices)
    assert result.exit_code == 0, result.output
    assert ("GET", f"/moved/{call}/{ha_id}".rstrip("/")) in fake.requests
    assert set(written(devices)) == {DISH_ID, WASHER_ID}


def test_the_token_post_never_follows_a_redirect(fake, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    fake.behaviour.redirect[("token", "")] = 307
    devices = tmp_path / "devices.json"
    result = run_login(fake, devices)
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == "Error: the cloud answered HTTP 307 for the login token; try again later"
    assert not [path for _, path in fake.requests if path.startswith("/moved")]  # code and verifier stayed put
    assert_no_secrets(fake, result.output, caplog.text)


# --------------------------------------------------------------------------
# 5 and 6. Both key kinds; host names; the kept profiles


def test_tls_is_chosen_when_the_cloud_sends_both_kinds(fake, tmp_path):
    dish = fake.appliances[DISH_ID]
    dish.aes_too = (b64url(secrets.token_bytes(32)), b64url(secrets.token_bytes(16)))
    devices = tmp_path / "devices.json"
    result = run_login(fake, devices)
    assert result.exit_code == 0, result.output
    assert "dishwasher (SIEMENS SN658X06TE): key and profile ok (TLS)" in result.output
    entry = written(devices)[DISH_ID]
    assert entry["key"] == dish.key and "iv" not in entry
    assert entry["host"] == DISH_HOST


def test_hosts_are_the_announced_names_and_profiles_are_kept_for_reimport(fake, tmp_path):
    devices = tmp_path / "config" / "devices.json"
    result = run_login(fake, devices)
    assert result.exit_code == 0, result.output
    by_id = written(devices)
    assert by_id[DISH_ID]["host"] == DISH_HOST  # TLS: BRAND-TYPE-HAID
    assert by_id[WASHER_ID]["host"] == WASHER_ID  # AES: the haId
    assert f"Kept the profiles in {devices.parent} for a later hc-login --import: {DISH_ID}.zip, {WASHER_ID}.zip" \
        in result.output.splitlines()  # fmt: skip
    for ha_id in (DISH_ID, WASHER_ID):
        kept = devices.parent / f"{ha_id}.zip"
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        with zipfile.ZipFile(kept) as zf:
            assert sorted(zf.namelist()) == [f"{ha_id}_DeviceDescription.xml", f"{ha_id}_FeatureMapping.xml"]
            assert fake.appliances[ha_id].key.encode() not in b"".join(zf.read(n) for n in zf.namelist())
    assert not list(devices.parent.glob(".*.tmp"))

    # Later, offline: the kept zip re-imports, taking the key devices.json holds.
    raw = json.loads(devices.read_text())
    for obj in raw:
        obj["description"]["model"] = "OUTDATED"
    devices.write_text(json.dumps(raw))
    again = CliRunner().invoke(main, ["--devices", str(devices), "--import", str(devices.parent / f"{DISH_ID}.zip")])
    assert again.exit_code == 0, again.output
    assert f"imported from {devices.parent / f'{DISH_ID}.zip'}" in again.output
    after = written(devices)
    assert after[DISH_ID]["description"]["model"] == "SN658X06TE"
    assert after[DISH_ID]["key"] == fake.appliances[DISH_ID].key and after[DISH_ID]["host"] == DISH_HOST
    assert after[WASHER_ID]["description"]["model"] == "OUTDATED"  # not imported, left alone


def test_an_existing_entry_keeps_its_host(fake, tmp_path):
    """devices.json files of earlier logins (host = haId, or the user's own) keep their host."""
    devices = tmp_path / "devices.json"
    assert run_login(fake, devices).exit_code == 0
    raw = json.loads(devices.read_text())
    for obj in raw:
        obj["host"] = obj["haId"]
    devices.write_text(json.dumps(raw))
    assert run_login(fake, devices).exit_code == 0
    assert written(devices)[DISH_ID]["host"] == DISH_ID
