"""Who may drive the appliances through the console: the session token, the origin, the host, the password.

Against the real console over a simulated dishwasher: every refusal is a
403 with a sentence, and nothing reaches the appliance (the simulator counts
what it was sent).
"""

from __future__ import annotations

import logging

import pytest
from support import DISHWASHER, posts, profile_files, simulated
from test_web_support import Browser, EventStream, console_over

from hcpy.appliance.profile_xml import parse_profile
from hcpy.simulator import ManualClock
from hcpy.web.server import ConsoleServer

PASSWORD = "correct horse battery staple"
SELECT = {"action": "select", "program": "Dishcare.Dishwasher.Program.Eco50"}


@pytest.fixture(scope="module")
def profile():
    return parse_profile(*profile_files(DISHWASHER))


@pytest.fixture
def dishwasher(profile):
    sim, entry = simulated(profile, "dishwasher", clock=ManualClock())
    yield sim, entry
    sim.stop()


@pytest.fixture
def console(broker, dishwasher):
    with console_over(broker.port, [dishwasher]) as (bridge, server):
        yield bridge, server


@pytest.fixture
def locked(broker, dishwasher):
    with console_over(broker.port, [dishwasher], password=PASSWORD) as (bridge, server):
        yield bridge, server


def test_the_session_cookie_is_httponly_and_samesite_strict(console):
    _, server = console
    browser = Browser(server.url)
    response = browser.get("/")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"hcpy_session_{server.port}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    # The cookie is sent back, not renewed; the token is the session's and not the cookie.
    assert "Set-Cookie" not in browser.get("/").headers
    browser.page("/")
    assert browser.token and browser.token not in cookie


def test_posts_without_the_sessions_token_or_from_elsewhere_are_refused_and_nothing_is_sent(console, dishwasher):
    bridge, server = console
    sim, _ = dishwasher
    browser = Browser(server.url)
    browser.page("/appliance/dishwasher")
    before, replies = len(posts(sim)), dict(bridge.appliances[0].replies)
    path = "/appliance/dishwasher/command"

    def refused(response, words):
        assert response.status_code == 403, (response.status_code, response.text)
        answer = response.json()
        assert answer["status"] == "error" and answer["code"] == 403 and words in answer["error"], answer

    refused(browser.post(path, SELECT, token=None), "carries no console token")
    refused(browser.post(path, SELECT, token="0" * 64), "does not belong to this session")
    refused(browser.post(path, SELECT, headers={"Origin": "http://evil.example"}), "comes from http://evil.example")
    refused(browser.post(path, SELECT, headers={"Referer": "http://evil.example/page"}), "not from this console")
    refused(browser.post(path, SELECT, headers={"Origin": "null"}), "a page with no origin")
    # Another browser's token is no use without that browser's cookie.
    stranger = Browser(server.url)
    refused(stranger.post(path, SELECT, token=browser.token), "carries no console token")
    stranger.page("/")
    refused(stranger.post(path, SELECT, token=browser.token), "does not belong to this session")
    # A form field carries the token as well as the header does; a wrong one is refused the same.
    response = browser.http.post(browser.base + path, data={"token": "x", **SELECT}, timeout=10)
    refused(response, "does not belong to this session")
    assert len(posts(sim)) == before and dict(bridge.appliances[0].replies) == replies

    # From this console's own page, it goes.
    origin = server.url.rstrip("/")
    answer = browser.post(path, SELECT, headers={"Origin": origin, "Referer": origin + "/appliance/dishwasher"}).json()
    assert answer["status"] == "ok", answer
    assert len(posts(sim)) == before + 1


def test_a_page_addressed_by_another_name_is_refused_on_loopback(console):
    # DNS rebinding: a site whose name resolves to 127.0.0.1 sends its own name as Host.
    _, server = console
    browser = Browser(server.url)
    for host in (f"evil.example:{server.port}", "evil.example", "127.0.0.1.evil.example"):
        response = browser.get("/", headers={"Host": host})
        assert response.status_code == 403 and "answers only to 127.0.0.1 or localhost" in response.text, host
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
        assert browser.get("/", headers={"Host": host}).status_code == 200, host


def test_with_a_password_pages_ask_for_it(locked, dishwasher, caplog):
    caplog.set_level(logging.DEBUG)
    _, server = locked
    sim, _ = dishwasher
    browser = Browser(server.url)
    response = browser.get("/appliance/dishwasher?x=1")
    assert response.status_code == 303 and response.headers["Location"] == "/login?next=/appliance/dishwasher%3Fx%3D1"
    for path in ("/", "/appliance/dishwasher/log.jsonl", "/appliance/dishwasher/runs"):
        assert browser.get(path).status_code == 303, path
    assert browser.get("/events").status_code == 403
    # Probes and scrapers need no login.
    assert browser.get("/healthz").status_code == 200 and browser.get("/metrics").status_code == 200

    login = browser.page("/login?next=/appliance/dishwasher")
    token = login.find("input", name="token").get("value")
    assert login.by_id("login-password").get("type") == "password"
    before = len(posts(sim))
    command = browser.post("/appliance/dishwasher/command", SELECT, token=token)
    assert command.status_code == 403 and "log in" in command.json()["error"]

    wrong = browser.http.post(browser.base + "/login", data={"token": token, "password": "guess", "next": "/"}, timeout=10,
                              allow_redirects=False)  # fmt: skip
    assert wrong.status_code == 403 and "wrong password" in wrong.text
    assert browser.get("/").status_code == 303
    # The login form itself takes the session's token.
    forged = browser.http.post(browser.base + "/login", data={"password": PASSWORD, "next": "/"}, timeout=10, allow_redirects=False)
    assert forged.status_code == 403

    right = browser.http.post(browser.base + "/login", data={"token": token, "password": PASSWORD, "next": "/appliance/dishwasher"},
                              timeout=10, allow_redirects=False)  # fmt: skip
    assert right.status_code == 303 and right.headers["Location"] == "/appliance/dishwasher"
    assert "HttpOnly" in right.headers["Set-Cookie"]
    document = browser.page("/appliance/dishwasher")
    assert document.by_id("logout-button")
    assert browser.token != token  # a new session, a new token
    assert browser.command("dishwasher", SELECT).json()["status"] == "ok"
    assert len(posts(sim)) == before + 1
    stream = EventStream(browser, "/events?appliance=dishwasher")
    stream.wait("ready")
    stream.close()

    # Logged out, the pages ask again.
    logout = browser.http.post(browser.base + "/logout", data={"token": browser.token}, timeout=10, allow_redirects=False)
    assert logout.status_code == 303 and logout.headers["Location"] == "/login"
    assert browser.get("/").status_code == 303
    # The password is never shown or logged.
    for path in ("/login", "/healthz", "/metrics"):
        assert PASSWORD not in browser.get(path).text
    assert PASSWORD not in caplog.text


def test_a_login_goes_back_only_to_this_console(locked):
    _, server = locked
    browser = Browser(server.url)
    token = browser.page("/login").find("input", name="token").get("value")
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = browser.http.post(browser.base + "/login", data={"token": token, "password": PASSWORD, "next": target},
                                     timeout=10, allow_redirects=False)  # fmt: skip
        assert response.status_code == 303 and response.headers["Location"] == "/", target
        token = browser.page("/").find("meta", name="hcpy-token").get("content")


def test_an_open_console_warns_and_a_protected_one_does_not(console, caplog):
    bridge, _ = console
    caplog.set_level(logging.INFO, logger="hcpy.web")
    open_console = ConsoleServer(bridge, "0.0.0.0", 0).start()
    open_console.stop()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "open to the network without a password" in warnings[0], warnings
    caplog.clear()
    protected = ConsoleServer(bridge, "0.0.0.0", 0, password=PASSWORD).start()
    protected.stop()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "password protected" in caplog.text and PASSWORD not in caplog.text
