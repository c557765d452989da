"""The console's error answers: a request it cannot take gets a status and one sentence, and nothing is sent.

Against the real console over a simulated dishwasher, with requests a
browser would not make but a script or a mistyped URL does: bodies in a
type the console does not read, broken JSON or UTF-8, a Content-Length that
is no number, paths and appliances it does not have. A command's refusal is
JSON (its page reads it); a page's is HTML.
"""

from __future__ import annotations

import http.client

import pytest
from support import DISHWASHER, posts, profile_files, simulated
from test_web_support import Browser, console_over

from hcpy.appliance.profile_xml import parse_profile
from hcpy.simulator import ManualClock

COMMAND = "/appliance/dishwasher/command"


@pytest.fixture
def console(broker):
    sim, entry = simulated(parse_profile(*profile_files(DISHWASHER)), "dishwasher", clock=ManualClock())
    try:
        with console_over(broker.port, [(sim, entry)]) as (_bridge, server):
            browser = Browser(server.url)
            browser.page("/appliance/dishwasher")
            yield server, browser, sim
            browser.close()
    finally:
        sim.stop()


def _refused_json(response, status: int, words: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    answer = response.json()
    assert answer == {"status": "error", "error": answer["error"], "code": status} and words in answer["error"], answer


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        (b"action=abort", "text/plain", 415, "send the request as JSON or as a form (application/x-www-form-urlencoded)"),
        (b"action=\xff\xfe", "application/x-www-form-urlencoded", 400, "the request is not UTF-8"),
        (b'{"action": "abort"', "application/json", 400, "the request is not JSON ("),
        (b'["abort"]', "application/json", 400, "the request must be a JSON object"),
    ],
)
def test_a_command_body_the_console_cannot_read_is_refused_and_nothing_is_sent(console, body, content_type, status, words):
    _, browser, sim = console
    before = len(posts(sim))
    response = browser.http.post(browser.base + COMMAND, data=body, timeout=10,
                                 headers={"Content-Type": content_type, "X-Hcpy-Token": browser.token})  # fmt: skip
    _refused_json(response, status, words)
    assert len(posts(sim)) == before


def test_a_content_length_that_is_no_number_is_a_400(console):
    server, browser, sim = console
    before = len(posts(sim))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest("POST", COMMAND, skip_accept_encoding=True)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", "twelve")
        conn.putheader("X-Hcpy-Token", browser.token)
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 400
        assert b"the request's Content-Length is no number" in response.read()
    finally:
        conn.close()
    assert len(posts(sim)) == before


def test_a_post_to_a_path_without_posts_is_a_405(console):
    _, browser, _ = console
    response = browser.post("/appliance/dishwasher", {"action": "abort"})
    assert response.status_code == 405 and "the console has no POST /appliance/dishwasher" in response.text


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/appliance/dishwasher/settings", "the console has no page settings for dishwasher"),
        ("/events?appliance=oven", "no appliance is named oven"),
        ("/nowhere", "the console has no GET /nowhere"),
    ],
)
def test_a_page_or_stream_the_console_does_not_have_is_a_404_page(console, path, words):
    _, browser, _ = console
    response = browser.get(path)
    assert response.status_code == 404 and response.headers["Content-Type"].startswith("text/html")
    assert words in response.text
