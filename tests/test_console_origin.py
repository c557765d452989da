"""The console's Host, Origin and Referer checks match exactly, never by prefix.

Over real HTTP against the console over a simulated dishwasher (as in
test_web_security.py): an Origin that only starts like this console's, a
Referer likewise, or a Host that only starts with a loopback name, is
refused with a 403, and nothing reaches the appliance.
"""

from __future__ import annotations

import pytest
from support import DISHWASHER, posts, profile_files, simulated
from test_web_support import Browser, console_over

from hcpy.appliance.profile_xml import parse_profile
from hcpy.simulator import ManualClock

SELECT = {"action": "select", "program": "Dishcare.Dishwasher.Program.Eco50"}
PATH = "/appliance/dishwasher/command"


@pytest.fixture(scope="module")
def profile():
    return parse_profile(*profile_files(DISHWASHER))


@pytest.fixture
def served(broker, profile):
    """(browser with a page loaded, console server, simulator)."""
    sim, entry = simulated(profile, "dishwasher", clock=ManualClock())
    try:
        with console_over(broker.port, [(sim, entry)]) as (_, server):
            browser = Browser(server.url)
            browser.page("/appliance/dishwasher")
            yield browser, server, sim
            browser.close()
    finally:
        sim.stop()


def lookalikes(origin: str, port: int) -> list[str]:
    """Origins that start like (or are contained in) `origin`, this console's, and are not it."""
    scheme, _, netloc = origin.partition("://")
    return [
        f"{origin}.evil.example",
        f"{origin}0",
        f"{origin}@evil.example",
        f"{origin[:-1]}",  # one digit short
        f"{scheme}://{netloc.rsplit(':', 1)[0]}",  # no port
        f"{scheme}://{netloc.rsplit(':', 1)[0]}:{port + 1}",
        f"{scheme}://evil.example.{netloc}",
        f"{scheme}://{netloc}x",
        f"ftp://{netloc}",
        f"http://{netloc}.",
    ]


def test_an_origin_that_only_starts_like_the_consoles_is_refused(served):
    browser, server, sim = served
    origin = server.url.rstrip("/")  # http://127.0.0.1:PORT
    before = len(posts(sim))
    for other in lookalikes(origin, server.port):
        response = browser.post(PATH, SELECT, headers={"Origin": other})
        assert response.status_code == 403, (other, response.status_code, response.text)
        assert "not from this console" in response.json()["error"], other
    assert len(posts(sim)) == before
    answer = browser.post(PATH, SELECT, headers={"Origin": origin}).json()
    assert answer["status"] == "ok", answer
    assert len(posts(sim)) == before + 1


def test_a_referer_that_only_starts_like_the_consoles_is_refused(served):
    browser, server, sim = served
    origin = server.url.rstrip("/")
    before = len(posts(sim))
    for other in lookalikes(origin, server.port):
        response = browser.post(PATH, SELECT, headers={"Referer": other + "/appliance/dishwasher"})
        assert response.status_code == 403, (other, response.status_code, response.text)
    assert len(posts(sim)) == before
    answer = browser.post(PATH, SELECT, headers={"Referer": origin + "/appliance/dishwasher?x=1"}).json()
    assert answer["status"] == "ok", answer


def test_the_origin_must_name_the_host_the_request_was_sent_to(served):
    browser, server, _ = served
    port = server.port
    # The cookie jar would not send 127.0.0.1's cookie to a request naming localhost: send it by hand.
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.http.cookies)
    as_localhost = {"Host": f"localhost:{port}", "Cookie": cookie}
    # Both loopback names are served, each with its own origin only.
    answer = browser.post(PATH, SELECT, headers={**as_localhost, "Origin": f"http://localhost:{port}"})
    assert answer.status_code == 200, answer.text
    crossed = browser.post(PATH, SELECT, headers={**as_localhost, "Origin": f"http://127.0.0.1:{port}"})
    assert crossed.status_code == 403 and "not from this console" in crossed.text, crossed.text


def test_a_host_that_only_starts_with_a_loopback_name_is_refused(served):
    browser, server, _ = served
    port = server.port
    for host in (
        f"127.0.0.1:{port}.evil.example",
        f"localhost:{port}.evil.example",
        f"127.0.0.1.evil.example:{port}",
        f"localhost.evil.example:{port}",
        f"[::1]:{port}.evil.example",
        f"[::1]evil.example:{port}",
        f"127.0.0.1:{port}@evil.example",
    ):
        response = browser.get("/", headers={"Host": host})
        assert response.status_code == 403 and "answers only to 127.0.0.1 or localhost" in response.text, host
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "127.0.0.1", "LOCALHOST"):
        assert browser.get("/", headers={"Host": host}).status_code == 200, host
