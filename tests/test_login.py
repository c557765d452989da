"""hc-login against a fake cloud over real loopback HTTP (PROTOCOL.md §6)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import secrets
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from click.testing import CliRunner
from fakecloud import CloudAppliance, FakeCloud, b64url, make_jwt

from hcpy.app.login_cli import main
from hcpy.appliance.devices import load_devices
from hcpy.errors import CloudError
from hcpy.onboarding import oauth, paired, pending_login, regions, token_claims
from hcpy.onboarding.client import CloudClient
from hcpy.onboarding.pasted import parse_redirect

ROOT = Path(__file__).resolve().parent.parent
DISHWASHER_ID = "SIEMENS-SN658X06TE-68A40E000001"
WASHER_ID = "SIEMENS-WM16XE91-68A40E000002"
DEMO_ID = "BOSCH-HMG636RS1-68A40E0000DE"


def _appliances() -> list[CloudAppliance]:
    return [
        CloudAppliance(
            DISHWASHER_ID, "SIEMENS", "Dishwasher", b64url(secrets.token_bytes(32)),
            fixture="SIEMENS-SN658X06TE-000000000000",
        ),
        CloudAppliance(
            WASHER_ID, "SIEMENS", "Washer", b64url(secrets.token_bytes(32)), b64url(secrets.token_bytes(16)),
            fixture="SIEMENS-WM16XE91-000000000000",
        ),
        CloudAppliance(DEMO_ID, "BOSCH", "Oven", b64url(secrets.token_bytes(32)), demo=True),
    ]


@pytest.fixture
def fake():
    server = FakeCloud(_appliances()).start()
    yield server
    server.stop()


def browser_login(authorize_url: str) -> str:
    """What the user does in the browser: open the URL, end up at hcauth://…"""
    resp = requests.get(authorize_url, allow_redirects=False, timeout=5)
    assert resp.status_code == 302, resp.text
    return resp.headers["Location"]


class ScreenReader(io.RawIOBase):
    """CliRunner stdin that, when the prompt reads it, logs in with the URL on screen.

    The authorize URL (and its random state) only exists once hc-login has
    printed it, so the pasted answer is made at that moment, as a user would.
    """

    def __init__(self, base: str, paste=lambda redirect: redirect):
        self.base = base
        self.paste = paste
        self.data: bytes | None = None
        self.pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if len(buf) == 0:  # click probes the stream with read(0) before anything is on screen
            return 0
        if self.data is None:
            sys.stdout.flush()
            screen = sys.stdout.buffer.getvalue().decode()
            # The base may carry a region (…/eu/security/…) when the test plays several.
            url = re.search(re.escape(self.base) + r"\S*/security/oauth/authorize\S+", screen).group(0)
            self.data = (self.paste(browser_login(url)) + "\n").encode()
        chunk = self.data[self.pos : self.pos + len(buf)]
        buf[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


def run_login(fake: FakeCloud, devices: Path, *args: str, paste=lambda r: r, base: str | None = None):
    """hc-login as a user runs it; `base` e.g. f"{fake.base}/{{region}}" gives each region its own hosts."""
    runner = CliRunner()
    return runner.invoke(
        main,
        ["--devices", str(devices), *args],
        input=ScreenReader(fake.base, paste),
        env={"HCPY_CLOUD_BASE": base or fake.base},
        catch_exceptions=False,
    )


def assert_no_secrets(fake: FakeCloud, *texts: str) -> None:
    handed_out = fake.secrets_handed_out()
    assert len(handed_out) >= 3  # at least code, token, keys: the check is not vacuous
    for text in texts:
        for secret in handed_out:
            assert secret not in text


def check_devices(path: Path, fake: FakeCloud) -> dict:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = json.loads(path.read_text())
    by_id = {obj["haId"]: obj for obj in raw}
    assert set(by_id) == {DISHWASHER_ID, WASHER_ID}  # the demo appliance is skipped
    dish, washer = by_id[DISHWASHER_ID], by_id[WASHER_ID]
    assert dish["name"] == "dishwasher" and washer["name"] == "washer"
    assert dish["key"] == fake.appliances[DISHWASHER_ID].key
    assert "iv" not in dish  # TLS appliance
    assert washer["key"] == fake.appliances[WASHER_ID].key
    assert washer["iv"] == fake.appliances[WASHER_ID].iv
    assert dish["description"]["model"] == "SN658X06TE"
    # Real feature names from the fixture profiles, through the model's reader.
    entries = {e.ha_id: e for e in load_devices(path)}
    assert entries[DISHWASHER_ID].profile.by_name("BSH.Common.Status.DoorState").uid == 0x020F
    assert entries[WASHER_ID].profile.by_name("LaundryCare.Washer.Option.Temperature") is not None
    return by_id


# --------------------------------------------------------------------------
# Pure parts


def test_authorize_url_carries_a_pkce_challenge_of_the_verifier():
    pending = pending_login.start_login(regions.endpoints("EU"))
    parts = urlsplit(pending.authorize_url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://api.home-connect.com/security/oauth/authorize"
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert q == {
        "response_type": "code",
        "prompt": "login",
        "code_challenge": q["code_challenge"],
        "code_challenge_method": "S256",
        "client_id": "9B75AC9EC512F36C84256AC47D813E2C1DD0D6520DF774B020E1E6E2EB29B1F3",
        "scope": "ReadOrigApi",
        "nonce": pending.nonce,
        "state": pending.state,
        "redirect_uri": "hcauth://auth/prod",
    }
    assert "redirect_uri=hcauth://auth/prod" in parts.query  # left readable, as the app sends it
    assert len(pending.verifier) == 43 and "=" not in pending.verifier
    assert q["code_challenge"] == b64url(hashlib.sha256(pending.verifier.encode()).digest())
    other = pending_login.start_login(regions.endpoints("EU"))
    assert {other.verifier, other.state, other.nonce}.isdisjoint({pending.verifier, pending.state, pending.nonce})
    assert pending.verifier not in repr(pending)


def test_one_url_table_per_region_and_one_override():
    na = regions.endpoints("na")
    assert na.token == "https://api-rna.home-connect.com/security/oauth/token"
    assert na.paired_appliances("abc") == "https://na.services.home-connect.com/api/account/v2/accounts/abc/paired-appliances"
    cn = regions.endpoints("CN")
    assert cn.iddf("X-1") == "https://cn.services.home-connect.cn/api/iddf/v1/iddf/X-1"
    eu = regions.endpoints("EU", "http://127.0.0.1:9/")
    assert eu.authorize == "http://127.0.0.1:9/security/oauth/authorize"
    assert eu.encryption_information("A") == "http://127.0.0.1:9/api/appliance/v2/appliances/A/encryption-information"
    with pytest.raises(CloudError, match="unknown region 'XX': use one of EU, NA, CN"):
        regions.endpoints("XX")


@pytest.mark.parametrize(
    "pasted",
    [
        "hcauth://auth/prod?code=C0de-1&state=S1",
        "  'hcauth://auth/prod?code=C0de-1&state=S1'\n",
        '"hcauth://auth/prod?code=C0de-1&state=S1"',
        "Failed to launch 'hcauth://auth/prod?code=C0de-1&state=S1' because the scheme does not have a registered handler.",
        "Location: hcauth://auth/prod?state=S1&code=C0de-1",
    ],
)
def test_pasted_redirect_is_read_whatever_surrounds_it(pasted):
    redirect = parse_redirect(pasted)
    assert (redirect.code, redirect.state) == ("C0de-1", "S1")
    assert "C0de-1" not in repr(redirect)


def test_pasted_redirect_errors_are_clear():
    pending = pending_login.start_login(regions.endpoints("EU"))
    with pytest.raises(CloudError, match="another login attempt"):
        pending_login.checked_code(parse_redirect(f"hcauth://auth/prod?code=abc&state=x{pending.state}"), pending)
    with pytest.raises(CloudError, match="no state="):
        pending_login.checked_code(parse_redirect("hcauth://auth/prod?code=abc"), pending)
    with pytest.raises(CloudError, match="error 'access_denied' \\(User denied\\)"):
        parse_redirect("hcauth://auth/prod?error=access_denied&error_description=User+denied&state=s")
    with pytest.raises(CloudError, match="holds no code"):
        parse_redirect("https://example.invalid/")
    good = parse_redirect(f"hcauth://auth/prod?code=abc&state={pending.state}")
    assert pending_login.checked_code(good, pending) == "abc"


def test_account_id_is_the_jwt_sub():
    assert token_claims.account_id_from_jwt(make_jwt({"sub": "user-42"})) == "user-42"
    with pytest.raises(CloudError, match="not a JWT"):
        token_claims.account_id_from_jwt("opaque-token")
    with pytest.raises(CloudError, match="no account id"):
        token_claims.account_id_from_jwt(make_jwt({"name": "x"}))


def test_client_turns_http_failures_into_sentences(fake):
    client = CloudClient(regions.endpoints("EU", fake.base), timeout=(2, 2))
    token = oauth.Token(access_token="not-issued", account_id=fake.account_id)
    with pytest.raises(CloudError, match=r"refused or has expired.*run hc-login again") as refused:
        client.paired_appliances(token)
    assert refused.value.status == 401
    pending = pending_login.start_login(client.endpoints)
    redirect = parse_redirect(browser_login(pending.authorize_url))
    good = client.exchange_code(pending, pending_login.checked_code(redirect, pending))
    assert good.account_id == fake.account_id
    unknown = paired.PairedAppliance("SIEMENS-NOPE-000000000000", "SIEMENS", "Oven")
    with pytest.raises(CloudError, match=r"SIEMENS Oven \(SIEMENS-NOPE-000000000000\) \(HTTP 404\)") as missing:
        client.encryption_information(good, unknown)
    assert missing.value.status == 404
    enc = client.encryption_information(good, paired.PairedAppliance(WASHER_ID, "SIEMENS", "Washer"))
    assert (enc.key, enc.iv, enc.transport) == (fake.appliances[WASHER_ID].key, fake.appliances[WASHER_ID].iv, "AES")
    assert enc.key not in repr(enc) and good.access_token not in repr(good)


def test_a_code_is_refused_with_the_wrong_verifier(fake):
    """The fake cloud really checks PKCE: the test of the happy path means something."""
    client = CloudClient(regions.endpoints("EU", fake.base), timeout=(2, 2))
    pending = pending_login.start_login(client.endpoints)
    code = pending_login.checked_code(parse_redirect(browser_login(pending.authorize_url)), pending)
    impostor = pending_login.PendingLogin(pending.endpoints, verifier=b64url(os.urandom(32)), state=pending.state, nonce="n")
    with pytest.raises(CloudError, match="refused or has expired \\(HTTP 400, invalid_grant"):
        client.exchange_code(impostor, code)


# --------------------------------------------------------------------------
# The whole CLI


def test_login_writes_every_real_appliance(fake, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    devices = tmp_path / "config" / "devices.json"
    result = run_login(fake, devices)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Found 2 appliances (1 demo appliance skipped)" in out
    assert "dishwasher (SIEMENS SN658X06TE): key and profile ok (TLS)" in out
    assert "washer (SIEMENS WM16XE91): key and profile ok (AES)" in out
    assert f"Wrote {devices} (2 appliances: dishwasher, washer)" in out
    check_devices(devices, fake)
    form = fake.token_forms[-1]
    assert form["grant_type"] == "authorization_code" and form["redirect_uri"] == "hcauth://auth/prod"
    assert not (devices.parent / ".hc-login-pending.json").exists()
    # The demo appliance was never asked for its key or profile.
    assert not [p for _, p in fake.requests if DEMO_ID in p]
    assert_no_secrets(fake, out, result.stderr, caplog.text)


def test_login_runs_as_a_script(fake, tmp_path):
    devices = tmp_path / "devices.json"
    env = {**os.environ, "HCPY_CLOUD_BASE": fake.base}
    proc = subprocess.Popen(
        [sys.executable, "hc_login.py", "--devices", str(devices), "-v"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # no controlling terminal: the prompt reads stdin
    )
    try:
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "/security/oauth/authorize?" in line:
                break
        url = seen[-1].strip()
        assert url.startswith(fake.base)
        proc.stdin.write(browser_login(url) + "\n")
        proc.stdin.close()
        out = "".join(seen) + proc.stdout.read()
        err = proc.stderr.read()
        assert proc.wait(30) == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Logged in." in out and "washer (SIEMENS WM16XE91): key and profile ok (AES)" in out
    assert "GET /api/iddf/v1/iddf/" in err  # -v really logs at debug ...
    assert_no_secrets(fake, out, err)  # ... and still shows no secret
    check_devices(devices, fake)


def test_second_login_keeps_user_edits(fake, tmp_path):
    devices = tmp_path / "devices.json"
    assert run_login(fake, devices).exit_code == 0
    raw = json.loads(devices.read_text())
    for obj in raw:
        if obj["haId"] == DISHWASHER_ID:
            obj["name"], obj["host"] = "kitchen", "192.0.2.10"
    devices.write_text(json.dumps(raw))
    fake.appliances[DISHWASHER_ID].key = b64url(secrets.token_bytes(32))  # re-paired appliance
    result = run_login(fake, devices)
    assert result.exit_code == 0, result.output
    by_id = {o["haId"]: o for o in json.loads(devices.read_text())}
    assert (by_id[DISHWASHER_ID]["name"], by_id[DISHWASHER_ID]["host"]) == ("kitchen", "192.0.2.10")
    assert by_id[DISHWASHER_ID]["key"] == fake.appliances[DISHWASHER_ID].key
    assert stat.S_IMODE(devices.stat().st_mode) == 0o600


def _existing(devices: Path) -> bytes:
    devices.parent.mkdir(parents=True, exist_ok=True)
    devices.write_text("[]\n")
    return devices.read_bytes()


@pytest.mark.parametrize("call", ["token", "appliances"])
def test_refused_login_writes_nothing(fake, tmp_path, caplog, call):
    caplog.set_level(logging.DEBUG)
    devices = tmp_path / "devices.json"
    before = _existing(devices)
    fake.behaviour.status[call] = 401
    result = run_login(fake, devices)
    assert result.exit_code == 1
    assert "the login was refused or has expired" in result.output and "run hc-login again" in result.output
    assert devices.read_bytes() == before
    assert_no_secrets(fake, result.output, caplog.text)


def test_one_missing_profile_skips_only_that_appliance(fake, tmp_path, caplog):
    devices = tmp_path / "devices.json"
    fake.behaviour.status_for[("iddf", WASHER_ID)] = 404
    result = run_login(fake, devices)
    assert result.exit_code == 0, result.output
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(WASHER_ID in w and "skipped" in w and "HTTP 404" in w for w in warnings), warnings
    assert f"SIEMENS Washer ({WASHER_ID}) skipped" in result.stderr
    assert "1 could not be fetched" in result.stderr
    assert [o["haId"] for o in json.loads(devices.read_text())] == [DISHWASHER_ID]


def test_a_profile_that_is_not_a_zip_names_the_appliance(fake, tmp_path, caplog):
    devices = tmp_path / "devices.json"
    fake.behaviour.body_for[("iddf", DISHWASHER_ID)] = b"<html>maintenance</html>"
    result = run_login(fake, devices)
    assert result.exit_code == 0, result.output
    assert f"the profile of SIEMENS Dishwasher ({DISHWASHER_ID}) is not a zip file" in caplog.text
    assert [o["haId"] for o in json.loads(devices.read_text())] == [WASHER_ID]


def test_all_appliances_failing_writes_nothing(fake, tmp_path):
    devices = tmp_path / "devices.json"
    before = _existing(devices)
    fake.behaviour.status["encryption"] = 404
    result = run_login(fake, devices)
    assert result.exit_code == 1
    assert "no appliance could be fetched" in result.output and "was not changed" in result.output
    assert result.stderr.count("skipped") == 2
    assert devices.read_bytes() == before


def test_a_cloud_that_does_not_answer_times_out_naming_the_host(fake, tmp_path):
    devices = tmp_path / "devices.json"
    fake.behaviour.delay["appliances"] = 5
    result = run_login(fake, devices, "--timeout", "0.3")
    assert result.exit_code == 1
    assert f"{fake.netloc} did not answer within 0.3 s" in result.output
    assert "check the network connection" in result.output and "region" in result.output
    assert not devices.exists()


def test_a_slow_profile_skips_only_that_appliance(fake, tmp_path):
    devices = tmp_path / "devices.json"
    fake.behaviour.delay_for[("iddf", DISHWASHER_ID)] = 5
    result = run_login(fake, devices, "--timeout", "0.3")
    assert result.exit_code == 0, result.output
    assert f"SIEMENS Dishwasher ({DISHWASHER_ID}) skipped: {fake.netloc} did not answer within 0.3 s" in result.stderr
    assert [o["haId"] for o in json.loads(devices.read_text())] == [WASHER_ID]


def test_login_errors_from_the_pasted_url(fake, tmp_path):
    devices = tmp_path / "devices.json"
    mismatch = run_login(fake, devices, paste=lambda r: r.replace("state=", "state=x"))
    assert mismatch.exit_code == 1 and "another login attempt" in mismatch.output
    fake.behaviour.authorize_error = "access_denied"
    denied = run_login(fake, devices)
    assert denied.exit_code == 1 and "error 'access_denied'" in denied.output
    assert not devices.exists()
    assert not [r for r in fake.requests if r[0] == "POST"]  # no code was ever sent


def test_login_can_be_finished_by_a_second_run(fake, tmp_path):
    devices = tmp_path / "devices.json"
    runner = CliRunner()
    env = {"HCPY_CLOUD_BASE": fake.base}
    first = runner.invoke(main, ["--devices", str(devices)], input="", env=env)
    assert first.exit_code == 1 and "hc-login --code" in first.output
    pending = devices.parent / ".hc-login-pending.json"
    assert stat.S_IMODE(pending.stat().st_mode) == 0o600
    url = re.search(re.escape(fake.base) + r"/security/oauth/authorize\S+", first.output).group(0)
    redirect = parse_redirect(browser_login(url))
    wrong = runner.invoke(main, ["--devices", str(devices), "--code", redirect.code, "--state", "nope"], env=env)
    assert wrong.exit_code == 1 and "another login attempt" in wrong.output
    second = runner.invoke(
        main, ["--devices", str(devices), "--code", redirect.code, "--state", redirect.state], env=env
    )
    assert second.exit_code == 0, second.output
    check_devices(devices, fake)
    assert not pending.exists()
    again = runner.invoke(main, ["--devices", str(devices), "--code", redirect.code, "--state", redirect.state], env=env)
    assert again.exit_code == 1 and "no login in progress" in again.output
    assert_no_secrets(fake, first.output, second.output, wrong.output)


def test_help_explains_both_ways():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "hc-login [--region EU|NA|CN]" in result.output
    assert "hc-login --import PATH [PATH…]" in result.output
    assert "--cloud-base" not in result.output


def test_usage_mistakes_are_explained(tmp_path):
    runner = CliRunner()
    assert "add --import" in runner.invoke(main, [str(tmp_path / "a.zip")]).output
    assert "--key, --iv and --host are for --import" in runner.invoke(main, ["--key", "x"]).output
