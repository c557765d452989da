"""What hc-login makes of cloud answers it cannot use: one sentence each, never a traceback.

Against the fake cloud over real loopback HTTP (tests/fakecloud.py), told
to send bodies the real cloud might after a change on its side: a token
answer without a token, a list of appliances in another shape or with
entries it cannot use, keys without key material, text that is no JSON; and
a cloud host where nothing listens.
"""

from __future__ import annotations

import logging

import pytest
from fakecloud import FakeCloud
from support import free_port
from test_login import WASHER_ID, _appliances, browser_login

from hcpy.errors import CloudError
from hcpy.onboarding import oauth, paired, pending_login, regions
from hcpy.onboarding.client import CloudClient
from hcpy.onboarding.pasted import parse_redirect


@pytest.fixture
def fake():
    server = FakeCloud(_appliances()).start()
    yield server
    server.stop()


def _client(base: str) -> CloudClient:
    return CloudClient(regions.endpoints("EU", base), timeout=(2, 5))


def _token(client: CloudClient) -> oauth.Token:
    pending = pending_login.start_login(client.endpoints)
    redirect = parse_redirect(browser_login(pending.authorize_url))
    return client.exchange_code(pending, pending_login.checked_code(redirect, pending))


def test_a_token_answer_without_a_token_says_to_log_in_again(fake):
    client = _client(fake.base)
    fake.behaviour.body_for[("token", "")] = b'{"token_type": "Bearer", "expires_in": 86400}'
    with pytest.raises(CloudError, match=r"^the cloud's token answer holds no access token; run hc-login again$"):
        _token(client)


def test_a_list_wrapped_in_data_is_read_and_unusable_entries_are_skipped_with_a_warning(fake, caplog):
    client = _client(fake.base)
    token = _token(client)
    fake.behaviour.body_for[("appliances", "")] = (
        b'{"data": {"appliances": [{"identifier": "BOSCH-X-1", "brand": "BOSCH", "type": "Oven"},'
        b' "not an appliance", {"brand": "SIEMENS", "haType": "Washer"}]}}'
    )
    with caplog.at_level(logging.WARNING):
        found = client.paired_appliances(token)
    assert [(a.ha_id, a.brand, a.ha_type) for a in found] == [("BOSCH-X-1", "BOSCH", "Oven")]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "skipping a paired appliance without a haId in the cloud's list"
    ]


@pytest.mark.parametrize(
    ("body", "sentence"),
    [
        (b'{"items": []}', "the list of paired appliances from the cloud has no 'appliances' list; try again later"),
        (b"<html>maintenance</html>", "the cloud's answer for the list of paired appliances is not JSON; try again later"),
    ],
)
def test_a_list_of_appliances_in_another_shape_says_to_try_again(fake, body, sentence):
    client = _client(fake.base)
    token = _token(client)
    fake.behaviour.body_for[("appliances", "")] = body
    with pytest.raises(CloudError) as refused:
        client.paired_appliances(token)
    assert str(refused.value) == sentence


def test_keys_without_key_material_name_the_appliance(fake):
    client = _client(fake.base)
    token = _token(client)
    fake.behaviour.body_for[("encryption", WASHER_ID)] = b'{"tls": {}, "aes": {"key": ""}}'
    washer = paired.PairedAppliance(WASHER_ID, "SIEMENS", "Washer")
    with pytest.raises(CloudError) as refused:
        client.encryption_information(token, washer)
    assert str(refused.value) == (
        f"the cloud sent the key of SIEMENS Washer ({WASHER_ID}) without a usable tls or aes key; try again later"
    )
    assert fake.appliances[WASHER_ID].key not in str(refused.value)


def test_a_cloud_host_where_nothing_listens_names_the_host_and_the_region():
    port = free_port()
    client = _client(f"http://127.0.0.1:{port}")
    with pytest.raises(CloudError) as refused:
        client.paired_appliances(oauth.Token(access_token="t", account_id="a"))
    assert str(refused.value) == (
        f"could not reach 127.0.0.1:{port} for the list of paired appliances: check the network connection "
        "and that your account's region is EU (--region)"
    )
