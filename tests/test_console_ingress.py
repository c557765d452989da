"""The console behind Home Assistant's ingress (hcpy.web.ingress), over real HTTP through a proxy like Home Assistant's.

A simulated dishwasher, hcpy's bridge, the console on 127.0.0.1 with
ingress_peer 127.0.0.1, and tests/ingress_proxy.py in front of it (it
connects from 127.0.0.1, as the Supervisor from 172.30.32.2). A request
from another address of this machine (127.0.0.2: Linux routes all of 127/8
to lo) is anyone else on the network, and must be refused.
"""

from __future__ import annotations

import json

import pytest
from ingress_proxy import IngressProxy, can_bind, direct
from support import DISHWASHER, free_port, posts, profile_files, simulated
from test_web_support import Browser, EventStream, console_over, parse

from hcpy.appliance.profile_xml import parse_profile
from hcpy.errors import ConfigError
from hcpy.simulator import ManualClock
from hcpy.web import ingress, pages
from hcpy.web.html import page
from hcpy.web.snapshot import Connection

pytestmark = pytest.mark.skipif(
    not can_bind("127.0.0.2"), reason="this system has no 127.0.0.2 (Linux has all of 127/8)"
)

DOOR = "BSH.Common.Status.DoorState"
SELECT = {"action": "select", "program": "Dishcare.Dishwasher.Program.Eco50"}
HA = "homeassistant.local:8123"  # the name the browser uses for Home Assistant: its Host and Origin
REFUSED = ingress.ONLY_HOME_ASSISTANT
PAGES = ("/", "/appliance/dishwasher", "/appliance/dishwasher/controls", "/appliance/dishwasher/log",
         "/appliance/dishwasher/runs", "/login?next=/nowhere")  # fmt: skip


@pytest.fixture(scope="module")
def profile():
    return parse_profile(*profile_files(DISHWASHER))


def behind_ingress(broker, profile, tmp_path, password=None):
    sim, entry = simulated(profile, "dishwasher", clock=ManualClock())
    settings = {"ingress_peer": "127.0.0.1", "runs_dir": tmp_path / "runs"}
    try:
        with (
            console_over(broker.port, [(sim, entry)], password, **settings) as (_, server),
            IngressProxy(server.port) as proxy,
        ):
            panel = Browser(proxy.base)
            yield panel, proxy, server, sim
            panel.close()
    finally:
        sim.stop()


@pytest.fixture
def served(broker, profile, tmp_path):
    """(a browser on the panel's URL, the proxy, the console, the simulator)."""
    yield from behind_ingress(broker, profile, tmp_path)


@pytest.fixture
def guarded(broker, profile, tmp_path):
    """The same, the console with a password."""
    yield from behind_ingress(broker, profile, tmp_path, password="pw")


def paths_named(html: str) -> list[tuple[str, str, str]]:
    """(tag, attribute, value) of every href, src and action of a page, and its body's data-root."""
    return [
        (node.tag, name, node.attrs[name] or "")
        for node in parse(html).walk()
        for name in ("href", "src", "action", "data-root")
        if name in node.attrs
    ]


def test_every_page_names_only_paths_under_the_prefix(served):
    panel, proxy, _, _ = served
    for path in PAGES:
        response = panel.get(path)
        assert response.status_code in (200, 303), (path, response.status_code, response.text[:300])
        if response.status_code == 303:
            assert response.headers["Location"].startswith(proxy.prefix + "/"), path
            continue
        named = paths_named(response.text)
        assert named, path
        for tag, name, value in named:
            if value.startswith("data:"):  # the page's icon: no path
                continue
            assert value.startswith(proxy.prefix + "/"), (path, tag, name, value)
    document = panel.page("/")
    assert document.find("body").get("data-root") == proxy.prefix + "/"
    assert document.find("a", class_="appliance-link").get("href") == proxy.prefix + "/appliance/dishwasher"
    assert document.find("link", rel="stylesheet").get("href") == proxy.prefix + "/static/console.css"
    assert document.find("script").get("src") == proxy.prefix + "/static/console.js"
    controls = panel.page("/appliance/dishwasher/controls")
    assert controls.find("form", class_="command-form").get("action") == proxy.prefix + "/appliance/dishwasher/command"
    # What those name is served, under the prefix.
    assert panel.get("/static/console.js").status_code == 200


def test_the_list_and_an_appliance_page_are_served_to_be_framed_by_home_assistant(served):
    panel, _, _, _ = served
    document = panel.page("/")
    card = document.find("article", class_="connection")
    assert card.get("data-appliance") == "dishwasher" and card.get("data-state") == "online"
    response = panel.get("/appliance/dishwasher")
    assert response.status_code == 200
    assert parse(response.text).find("h1").text() == "dishwasher"
    # Home Assistant shows the panel in an iframe of its own page, on its own origin.
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    # Home Assistant logged its user in: the console asks nothing, offers no logout.
    assert not parse(response.text).find_all("form", class_="logout")


def test_a_command_through_the_proxy_needs_the_token(served):
    panel, _, _, sim = served
    panel.page("/appliance/dishwasher")
    # As the browser sends them to Home Assistant (requests keeps its cookie for 127.0.0.1, not for Host: HA).
    cookie = "; ".join(f"{c.name}={c.value}" for c in panel.http.cookies)
    ha = {"Host": HA, "Origin": f"http://{HA}", "Cookie": cookie}
    refused = panel.post("/appliance/dishwasher/command", SELECT, token=False, headers=dict(ha))
    assert refused.status_code == 403 and "token" in refused.json()["error"]
    other_site = panel.post("/appliance/dishwasher/command", SELECT, headers={**ha, "Origin": "http://evil.example"})
    assert other_site.status_code == 403 and "evil.example" in other_site.json()["error"]
    assert not posts(sim)
    answer = panel.post("/appliance/dishwasher/command", SELECT, headers=dict(ha))
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "ok"
    assert [m.resource for m in posts(sim)] == ["/ro/selectedProgram"]


def test_the_session_cookie_lives_under_the_prefix(served):
    panel, proxy, server, _ = served
    response = panel.get("/")
    cookie = response.headers["Set-Cookie"]
    assert f"Path={proxy.prefix};" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert cookie.startswith(f"hcpy_session_{server.port}=")


def test_no_login_from_home_assistant_even_with_a_password(guarded):
    panel, proxy, server, _ = guarded
    document = panel.page("/appliance/dishwasher")
    assert document.find("h1").text() == "dishwasher"
    assert not document.find_all("form", class_="logout")
    assert panel.get("/login?next=/appliance/dishwasher").headers["Location"] == proxy.prefix + "/appliance/dishwasher"
    answer = panel.post("/appliance/dishwasher/command", SELECT)
    assert answer.status_code == 200 and answer.json()["status"] == "ok"
    # Anyone else meets a refusal, not a login form.
    status, _, body = direct(server.port, "GET", "/login")
    assert status == 403 and REFUSED.encode() in body.replace(b"&#x27;", b"'")


def test_redirects_after_login_and_logout_stay_under_the_prefix(guarded):
    panel, proxy, _, _ = guarded
    panel.page("/")
    out = panel.post("/logout", None, data={"token": panel.token})
    assert out.status_code == 303 and out.headers["Location"] == proxy.prefix + "/"
    assert f"Path={proxy.prefix};" in out.headers["Set-Cookie"] and "Max-Age=0" in out.headers["Set-Cookie"]
    back = panel.get("/login?next=/appliance/dishwasher/log")
    assert back.status_code == 303 and back.headers["Location"] == proxy.prefix + "/appliance/dishwasher/log"
    # A next= that leaves the console goes to the console's start, under the prefix.
    assert panel.get("/login?next=//evil.example/").headers["Location"] == proxy.prefix + "/"


def test_the_event_stream_flows_live_through_the_proxy(served):
    panel, _, _, sim = served
    panel.page("/appliance/dishwasher")
    stream = EventStream(panel, "/events?appliance=dishwasher")
    try:
        assert stream.wait("ready")["name"] == "dishwasher"
        assert stream.response.headers.get("Transfer-Encoding") == "chunked"  # streamed by the proxy, not collected
        for value in ("Open", "Closed"):
            sim.set_value(DOOR, value)
            assert stream.wait("value", lambda d, v=value: d["feature"] == DOOR and d["value"] == v)["value"] == value
    finally:
        stream.close()


MALFORMED = ["api/hassio_ingress/x", "//evil.example", "/a//b", "/api/../static", "/a/./b", '/a"b', "/a'b", "/a b",
             "/a;b", "/a,b", "/a%2fb", "/a<b", "/" + "x" * 300, "https://evil.example/x"]  # fmt: skip


@pytest.mark.parametrize("header", MALFORMED)
def test_a_malformed_ingress_path_is_refused(served, header):
    _, _, server, _ = served
    status, _, body = direct(server.port, "GET", "/", {"X-Ingress-Path": header}, source="127.0.0.1")
    assert status == 400 and b"X-Ingress-Path" in body
    assert header.encode() not in body  # never echoed into the page


def test_a_well_formed_ingress_path_from_the_trusted_peer_is_used(served):
    _, _, server, _ = served
    status, _, body = direct(
        server.port, "GET", "/", {"X-Ingress-Path": "/api/hassio_ingress/abc_D-1/"}, source="127.0.0.1"
    )
    assert status == 200 and b'href="/api/hassio_ingress/abc_D-1/static/console.css"' in body


def test_anyone_else_is_refused_with_a_sentence_whatever_they_send(served):
    _, proxy, server, sim = served
    sent = {"X-Ingress-Path": proxy.prefix, "Host": HA, "Content-Type": "application/json"}
    for method, path in (("GET", "/"), ("GET", "/appliance/dishwasher"), ("GET", "/static/console.css"),
                         ("GET", "/events"), ("GET", "/login"), ("POST", "/appliance/dishwasher/command")):  # fmt: skip
        status, _, body = direct(server.port, method, path, sent, b'{"action": "select"}' if method == "POST" else None)
        assert status == 403, (method, path, status)
        text = body.decode()
        assert "open it from Home Assistant" in text and "sidebar" in text, (method, path, text[:300])
        # The header from this peer was not taken: the page names no path under it.
        assert proxy.prefix not in text
    assert not posts(sim)


def test_a_health_check_from_loopback_is_answered_and_nothing_more(served):
    _, _, server, _ = served
    status, _, body = direct(server.port, "GET", "/healthz")
    assert status == 200 and b'"broker"' in body
    status, headers, _ = direct(server.port, "GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert direct(server.port, "GET", "/static/console.js")[0] == 403
    # The Supervisor's watchdog asks /livez from the ingress peer, without a prefix; loopback may ask it too.
    for source in ("127.0.0.1", "127.0.0.2"):
        status, _, body = direct(server.port, "GET", "/livez", source=source)
        assert status == 200 and json.loads(body) == {"status": "ok", "mqtt_thread": True}, (source, status, body)


def test_an_appliance_name_cannot_forge_a_path_outside_the_prefix():
    # Entries refuse '/' in names (MQTT topics); the rendering must not rely on that.
    name = 'x" href="/evil'
    connection = Connection(name, "Bosch", "SMV", "Dishwasher", "online", None, None, "tls", "127.0.0.1", None, None,
                            None, None, 0, 0, 1)  # fmt: skip
    html = page("Appliances", pages.appliance_list([connection]), token="t", kind="list")
    served = ingress.rooted(html, "/api/hassio_ingress/T")
    for tag, attribute, value in paths_named(served):
        assert value.startswith(("/api/hassio_ingress/T/", "data:")), (tag, attribute, value)
    document = parse(served)
    assert document.find("article", class_="connection").get("data-appliance") == name
    assert (
        document.find("a", class_="appliance-link").get("href")
        == "/api/hassio_ingress/T/appliance/x%22%20href%3D%22%2Fevil"
    )


def test_rooted_rewrites_only_the_consoles_own_attributes():
    html = ('<a href="/x">/y</a><form action="/z"></form><img src="/i"><link href="//cdn.example/a">'
            '<a data-href="/keep">href="/text"</a><body data-root="/">')  # fmt: skip
    assert ingress.rooted(html, "/p") == (
        '<a href="/p/x">/y</a><form action="/p/z"></form><img src="/p/i"><link href="//cdn.example/a">'
        '<a data-href="/keep">href="/text"</a><body data-root="/p/">'
    )
    assert ingress.rooted(html, "") == html
    assert ingress.under("/p", "/login?next=/") == "/p/login?next=/"


def test_the_ingress_peer_comes_from_the_settings_through_hc2mqtts_hook(broker, profile):
    from hcpy.app.console import web_console

    sim, entry = simulated(profile, "dishwasher", clock=ManualClock())
    try:
        with console_over(broker.port, [(sim, entry)]) as (bridge, _):
            port = free_port()
            stop = web_console("127.0.0.1", port, None, required=True, ingress_peer="127.0.0.1")(bridge)
            try:
                assert direct(port, "GET", "/")[0] == 403
                assert direct(port, "GET", "/", source="127.0.0.1")[0] == 200
            finally:
                stop()
            with pytest.raises(ConfigError, match="IP address"):
                web_console("127.0.0.1", free_port(), None, required=True, ingress_peer="supervisor")(bridge)
    finally:
        sim.stop()


def test_the_peer_and_the_prefix_are_read_strictly():
    assert ingress.trusted_address("172.30.32.2") == ingress.peer_address(
        "::ffff:172.30.32.2"
    )  # a dual-stack socket's view
    assert ingress.peer_address("172.30.32.20") != ingress.trusted_address("172.30.32.2")
    assert ingress.peer_address("not an address") is None
    for wrong in ("supervisor", "172.30.32.0/23", ""):
        with pytest.raises(ValueError, match="IP address"):
            ingress.trusted_address(wrong)
    assert ingress.prefix_of(None) == "" and ingress.prefix_of("/") == ""
    assert ingress.prefix_of("/api/hassio_ingress/abc-D_e/") == "/api/hassio_ingress/abc-D_e"
    assert ingress.forwarded_host("ha.example:8123, 10.0.0.2", "172.30.32.1") == "ha.example:8123"
    assert ingress.forwarded_host(None, "homeassistant.local:8123") == "homeassistant.local:8123"
