"""hc-login's pure parts for real accounts (issue 13): pasted codes, token regions, names.

No network: text and dicts in, values or the exact sentences users read out.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import pytest
from fakecloud import b64url, make_jwt

from hcpy.errors import CloudError
from hcpy.onboarding import (
    paired,
    pasted,
    pending_login,
    profile_zips,
    regions,
    token_claims,
)

CODE = "C0de+/x"  # what the cloud issued: '+' and '/' are real code characters
URL = "hcauth://auth/prod?code=C0de%2B%2Fx&state=S1"  # as the browser requests it


@pytest.mark.parametrize(
    "text",
    [
        URL,
        "hcauth://auth/prod?code=C0de+/x&state=S1",  # a browser that shows the URL decoded
        quote(URL, safe=""),  # fully percent-encoded once
        quote(quote(URL, safe=""), safe=""),  # ... and twice
        URL.replace("&", "&amp;"),  # copied out of HTML
        quote(URL.replace("&", "&amp;"), safe=""),
        URL.replace("/", "\\/").replace("&", "\\u0026"),  # copied out of JSON (a HAR file)
        f'  "{quote(URL, safe="")}"\n',  # quotes and whitespace around an encoded one
        "hcauth://auth/prod?state=S1&code=C0de%2B%2Fx",
        f"Failed to launch '{URL}' because the scheme does not have a registered handler.",
    ],
)
def test_the_final_url_is_read_in_any_encoding(text):
    redirect = pasted.parse_pasted(text)
    assert (redirect.code, redirect.state, redirect.bare) == (CODE, "S1", False)
    assert CODE not in repr(redirect)


@pytest.mark.parametrize("text", ["C0de%2B%2Fx", "C0de+/x", " 'C0de%2B%2Fx' \n"])
def test_a_bare_code_is_a_code_without_its_state(text):
    redirect = pasted.parse_pasted(text)
    assert (redirect.code, redirect.state, redirect.bare) == (CODE, None, True)
    pending = pending_login.start_login(regions.endpoints("EU"))
    with pytest.raises(CloudError) as missing:
        pending_login.checked_code(redirect, pending)
    assert str(missing.value) == (
        "only a code was given, without its state: give the state=… of the same hcauth:// URL too "
        "(hc-login --code C --state S), or paste the whole URL"
    )
    for state in (pending.state, f"state={pending.state}", f" '{pending.state}'\n"):
        assert pending_login.checked_code(pasted.with_state(redirect, state), pending) == CODE


@pytest.mark.parametrize(
    "value, decoded",
    [
        ("C0de%2B%2Fx", "C0de+/x"),
        ("C0de+/x", "C0de+/x"),  # '+' is not a space in a code
        ("C0de%252Bx", "C0de%2Bx"),  # a real '%' in the code: decoded once, never twice
        ("100%", "100%"),  # no escape at all
        ("a%2", "a%2"),
    ],
)
def test_codes_are_decoded_exactly_once_when_encoded(value, decoded):
    assert pasted.decode_once(value) == decoded


def test_a_state_in_the_url_wins_over_one_given_apart():
    redirect = pasted.parse_pasted(URL)
    assert pasted.with_state(redirect, "other").state == "S1"


NOT_FINAL = (
    "this is not the final hcauth:// address but SingleKey's …/oauth/redirect_target step before it; "
    "keep going in the browser until it tries to open hcauth://auth/prod?code=…&state=…, and paste that"
)
INTERMEDIATE = 'https://singlekey-id.com/auth/en-gb/oauth/redirect_target?state={"session_id":"0a1b2c","x":1}'


@pytest.mark.parametrize(
    "text",
    [
        INTERMEDIATE,
        "https://api.home-connect.com/security/oauth/redirect_target?state=%7B%22session_id%22%3A%220a1b%22%7D",
        quote(INTERMEDIATE, safe=""),
        'https://singlekey-id.com/x?state={"session_id":"0a1b","redirect_uri":"hcauth://auth/prod"}',
    ],
)
def test_the_intermediate_singlekey_url_gets_its_own_hint(text):
    with pytest.raises(CloudError) as caught:
        pasted.parse_pasted(text)
    assert str(caught.value) == NOT_FINAL
    assert "0a1b" not in str(caught.value)  # the login session's id is not repeated


def test_other_wrong_pastes_get_precise_hints():
    pending = pending_login.start_login(regions.endpoints("EU"))
    with pytest.raises(CloudError) as authorize:
        pasted.parse_pasted(pending.authorize_url)
    assert str(authorize.value) == (
        "this is the login URL hc-login printed: open it in the browser, log in, and paste the "
        "hcauth://auth/prod?code=…&state=… address the browser tries to open at the end"
    )
    for nothing in ("https://example.invalid/", "I logged in but nothing happened", ""):
        with pytest.raises(CloudError) as no_code:
            pasted.parse_pasted(nothing)
        assert str(no_code.value) == (
            "the pasted text holds no code: paste the whole hcauth://auth/prod?code=…&state=… URL "
            "from the browser's network tab"
        )
    with pytest.raises(CloudError) as other:
        pending_login.checked_code(pasted.parse_pasted(f"hcauth://auth/prod?code=abc&state=x{pending.state}"), pending)
    assert str(other.value) == (
        "the pasted URL belongs to another login attempt (its state does not match): "
        "log in with the URL hc-login printed last and paste that login's hcauth:// URL"
    )
    with pytest.raises(CloudError, match=r"error 'access_denied' \(User denied\)"):
        pasted.parse_pasted(quote("hcauth://auth/prod?error=access_denied&error_description=User+denied", safe=""))


# --------------------------------------------------------------------------
# The token's region


@pytest.mark.parametrize(
    "payload, header, region",
    [
        ({"region": "NA"}, {}, "NA"),
        ({}, {"x-reg": "NA", "x-env": "PRD"}, "NA"),
        ({"x-reg": "eu"}, {}, "EU"),
        ({"region": "US"}, {}, "NA"),
        ({"region": "CN"}, {"x-reg": "EU"}, "CN"),  # the payload's claim first
        ({"region": "MARS"}, {}, None),
        ({"region": 7}, {}, None),
        ({}, {}, None),
    ],
)
def test_the_region_is_read_from_the_token_claims(payload, header, region):
    token = make_jwt({"sub": "user-42", **payload}, header)
    assert token_claims.region_from_jwt(token) == region
    assert token_claims.account_id_from_jwt(token) == "user-42"


def test_no_region_in_tokens_that_are_not_jwts_and_the_token_is_never_logged(caplog):
    caplog.set_level(logging.DEBUG)
    assert token_claims.region_from_jwt("opaque-token") is None
    assert token_claims.region_from_jwt("a.b.c") is None
    token = make_jwt({"sub": "user-42", "region": "MARS"})
    assert token_claims.region_from_jwt(token) is None
    assert "MARS" in caplog.text  # a region name is worth a debug line ...
    assert token not in caplog.text and token.split(".")[2] not in caplog.text  # ... the token is not


def test_regions_are_asked_claim_first_then_the_named_one_then_the_usual_ones():
    assert regions.region_order(None, None) == ["EU", "NA"]
    assert regions.region_order("NA", None) == ["NA", "EU"]
    assert regions.region_order("NA", "EU") == ["NA", "EU"]
    assert regions.region_order(None, "cn") == ["CN", "EU", "NA"]
    assert regions.region_order("EU", "EU") == ["EU", "NA"]


def test_the_wrong_region_line_is_said_only_when_naming_the_region_would_have_helped():
    line = "wrong region: this account lives in NA; next time run hc-login --region NA"
    assert regions.region_note("NA", None, ["EU"]) == line  # EU was tried in vain
    assert regions.region_note("NA", "EU", []) == line  # the user named the wrong one
    assert regions.region_note("NA", None, []) is None  # the token named it: nothing went wrong
    assert regions.region_note("NA", "NA", []) is None
    assert regions.region_note("EU", None, []) is None


def test_each_region_gets_a_base_of_its_own_with_a_template():
    na = regions.endpoints("NA", "http://127.0.0.1:9/{region}")
    assert na.token == "http://127.0.0.1:9/na/security/oauth/token"
    assert na.iddf("X") == "http://127.0.0.1:9/na/api/iddf/v1/iddf/X"
    assert regions.endpoints("EU", "http://127.0.0.1:9/").services_base == "http://127.0.0.1:9"


# --------------------------------------------------------------------------
# Keys and names


def test_tls_comes_first_when_the_cloud_sends_both_kinds():
    tls, aes, iv = b64url(b"t" * 32), b64url(b"a" * 32), b64url(b"i" * 16)
    both = paired.encryption_from({"aes": {"key": aes, "iv": iv}, "tls": {"key": tls}})
    assert (both.key, both.iv, both.transport) == (tls, None, "TLS")
    only_aes = paired.encryption_from({"data": {"aes": {"key": aes, "iv": iv}}})
    assert (only_aes.key, only_aes.iv, only_aes.transport) == (aes, iv, "AES")
    assert paired.encryption_from({"tls": {"key": ""}, "aes": {"key": aes}}) is None


@pytest.mark.parametrize(
    "brand, ha_type, ha_id, tls, host",
    [
        ("SIEMENS", "Dishwasher", "012090386729000001", True, "SIEMENS-Dishwasher-012090386729000001"),
        ("BOSCH", "Washer", "012090386729000002", False, "012090386729000002"),  # AES: the haId
        # A haId of the BRAND-VIB-MAC kind is already the announced name.
        ("BOSCH", "Dishwasher", "BOSCH-SMV68TX06E-68A40E000003", True, "BOSCH-SMV68TX06E-68A40E000003"),
        ("", "Oven", "012090386729000004", True, "012090386729000004"),
        ("Neff", "Cook Top", "012090386729000005", True, "Neff-Cook-Top-012090386729000005"),
    ],
)
def test_new_entries_get_the_host_name_the_appliance_announces(brand, ha_type, ha_id, tls, host):
    assert paired.appliance_host(paired.PairedAppliance(ha_id, brand, ha_type), tls=tls) == host


def test_a_kept_profile_is_named_after_its_haid_and_never_a_path():
    assert profile_zips.profile_zip_name("012090386729000001") == "012090386729000001.zip"
    assert profile_zips.profile_zip_name("../../etc/x") == "_.._etc_x.zip"
    assert profile_zips.profile_zip_name("..") == "appliance.zip"
