"""The console's "Add appliances" (GET /add and its forms), over real HTTP.

The console runs for real (ConsoleServer over hcpy's bridge and a private
mosquitto) with the application's `Setup`; the cloud is tests/fakecloud.py
over loopback HTTP, as in hc-login's tests; the scan hears a simulator that
advertises itself by real mDNS on loopback, as in hc-login scan's tests.
"""

from __future__ import annotations

import html
import io
import json
import secrets
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from fakecloud import b64url, profile_zip
from support import DISHWASHER, b64, bridged, profile_files, simulated
from test_login import DISHWASHER_ID, WASHER_ID, assert_no_secrets, browser_login, check_devices, fake  # noqa: F401
from test_mdns import LOOPBACK, random_ha_id
from test_web_support import Browser, parse

from hcpy.app.setup import Setup
from hcpy.appliance.devices import load_devices, save_devices
from hcpy.appliance.entry import entry_from_profile
from hcpy.appliance.profile_xml import parse_profile
from hcpy.simulator.advertise import Advertiser
from hcpy.web.server import MAX_UPLOAD, ConsoleServer

PASSWORD = "correct horse battery staple"
FIXTURE = "SIEMENS-SN658X06TE-000000000000"
POSTS = ("/add/login-start", "/add/login-finish", "/add/upload", "/add/scan", "/add/other-addon")


@contextmanager
def served(broker, setup: Setup | None, host: str = "127.0.0.1", password: str | None = None):
    with bridged(broker.port, []) as bridge:
        server = ConsoleServer(bridge, host, 0, password, setup=setup).start()
        try:
            yield server
        finally:
            server.stop()


def make_setup(tmp_path: Path, fake=None, other: Path | None = None, devices: Path | None = None) -> Setup:  # noqa: F811
    devices = devices or tmp_path / "config" / "devices.json"
    return Setup(
        devices,
        devices.parent / "discovery.yaml",
        other,
        cloud_base=fake.base if fake is not None else None,
        scan_seconds=20.0,  # a deadline: it ends once every appliance of devices.json was heard
        scan_interfaces=LOOPBACK,
    )


class Page(Browser):
    """A browser that posts the console's forms as a browser does (form fields, the page's token)."""

    def add(self) -> object:
        return self.page("/add")

    def form(self, path: str, fields: dict[str, str] | None = None, files=None, token: bool = True):
        data = dict(fields or {})
        if token:
            data["token"] = self.token or ""
        response = self.http.post(self.base + path, data=data, files=files, timeout=60, allow_redirects=False)
        return response, parse(response.text)


def result(document):
    return document.by_id("add-result")


def added(document) -> dict[str, str]:
    return {
        li.get("data-appliance"): " ".join(li.text().split()) for li in document.find_all("li", data_appliance=True)
    }


# -- the cloud login --------------------------------------------------------------------------


def test_a_login_writes_devices_json_and_keeps_each_profile(broker, fake, tmp_path):  # noqa: F811
    setup = make_setup(tmp_path, fake)
    with served(broker, setup) as server:
        page = Page(server.url)
        document = page.add()
        assert [o.get("value") for o in document.by_id("region").find_all("option")] == ["EU", "NA", "CN"]
        assert document.by_id("hcauth-picture").get("src") == "/static/hcauth-address.svg"
        assert page.get("/static/hcauth-address.svg").headers["Content-Type"] == "image/svg+xml"
        response, document = page.form("/add/login-start", {"region": "EU"})
        assert response.status_code == 200
        link = document.by_id("login-url")
        assert link.get("target") == "_blank" and link.get("href").startswith(fake.base + "/security/oauth/authorize?")
        hcauth = browser_login(link.get("href"))
        # As the browser's error line shows it, percent-encoded once: any form hc-login takes.
        pasted = f"Failed to launch '{quote(hcauth, safe='')}' because the scheme does not have a registered handler."
        response, document = page.form("/add/login-finish", {"pasted": pasted})
    assert response.status_code == 200, response.text
    devices = tmp_path / "config" / "devices.json"
    check_devices(devices, fake)  # mode 0600, both appliances with their keys and profiles
    shown = added(document)
    assert set(shown) == {"dishwasher", "washer"}, shown
    assert "SIEMENS SN658X06TE (Dishwasher), profile saved, key saved, host" in shown["dishwasher"], shown
    assert f"profile zip kept as {DISHWASHER_ID}.zip" in shown["dishwasher"]
    assert "picks the appliances up within a few seconds" in document.by_id("add-done").text()
    for ha_id in (DISHWASHER_ID, WASHER_ID):
        kept = devices.parent / f"{ha_id}.zip"
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        assert zipfile.ZipFile(kept).namelist()
    assert not list(devices.parent.glob(".*.tmp"))  # written atomically: no temporary file left
    assert_no_secrets(fake, response.text)


def test_a_wrong_or_spent_pasted_address_is_a_sentence_and_changes_nothing(broker, fake, tmp_path):  # noqa: F811
    setup = make_setup(tmp_path, fake)
    devices = tmp_path / "config" / "devices.json"
    with served(broker, setup) as server:
        page = Page(server.url)
        page.add()

        def problem(pasted: str) -> str:
            response, document = page.form("/add/login-finish", {"pasted": pasted})
            assert response.status_code == 200
            return document.by_id("add-problem").text()

        assert "not the final hcauth:// address but SingleKey's …/oauth/redirect_target step" in problem(
            "https://singlekey-id.com/auth/connect/oauth/redirect_target?state=%7B%22session_id%22%3A1%7D"
        )
        assert "paste the whole hcauth://auth/prod?code=…&state=… address" in problem("c0de-only")
        assert "belongs to no login started here" in problem("hcauth://auth/prod?code=abc&state=unknown")
        _, document = page.form("/add/login-start", {"region": "EU"})
        hcauth = browser_login(document.by_id("login-url").get("href"))
        fake.behaviour.status["token"] = 400  # expired, or used already
        sentence = problem(hcauth)
        assert "the login was refused or has expired" in sentence and "hc-login" not in sentence, sentence
        assert "press “Show the login address” again" in sentence
    assert not devices.exists()


def test_an_unreachable_cloud_is_a_sentence(broker, tmp_path):
    from fakecloud import FakeCloud
    from test_login import _appliances

    cloud = FakeCloud(_appliances()).start()
    setup = make_setup(tmp_path, cloud)
    with served(broker, setup) as server:
        page = Page(server.url)
        page.add()
        _, document = page.form("/add/login-start", {"region": "EU"})
        hcauth = browser_login(document.by_id("login-url").get("href"))
        cloud.stop()
        _, document = page.form("/add/login-finish", {"pasted": hcauth})
    sentence = document.by_id("add-problem").text()
    assert sentence.startswith(f"could not reach {cloud.netloc} for the login token: check the network connection")
    assert not (tmp_path / "config" / "devices.json").exists()


# -- profile zips ----------------------------------------------------------------------------


def _zip(ha_id: str = DISHWASHER_ID) -> bytes:
    return profile_zip(FIXTURE, ha_id)


def test_a_profile_zip_with_its_key_becomes_an_entry(broker, tmp_path):
    setup = make_setup(tmp_path)
    key = b64url(secrets.token_bytes(32))
    with served(broker, setup) as server:
        page = Page(server.url)
        page.add()
        response, document = page.form(
            "/add/upload",
            {"key": key, "iv": ""},
            files=[("files", (f"{DISHWASHER_ID}.zip", _zip(), "application/zip"))],
        )
    assert response.status_code == 200, response.text
    devices = tmp_path / "config" / "devices.json"
    assert stat.S_IMODE(devices.stat().st_mode) == 0o600
    (entry,) = load_devices(devices)
    assert entry.ha_id == DISHWASHER_ID and entry.key == key and entry.iv is None
    assert entry.profile.by_name("BSH.Common.Status.DoorState").uid == 0x020F
    assert set(added(document)) == {entry.name}
    assert key not in response.text


def test_a_downloader_zip_carries_its_own_key(broker, tmp_path):
    key, iv = b64url(secrets.token_bytes(32)), b64url(secrets.token_bytes(16))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, zipfile.ZipFile(io.BytesIO(_zip(WASHER_ID))) as bare:
        for name in bare.namelist():
            archive.writestr(name, bare.read(name))
        archive.writestr(f"{WASHER_ID}.json", json.dumps({"haId": WASHER_ID, "key": key, "iv": iv, "connectionType": "AES",
                                                           "deviceDescriptionFileName": f"{WASHER_ID}_DeviceDescription.xml"}))  # fmt: skip
    setup = make_setup(tmp_path)
    with served(broker, setup) as server:
        page = Page(server.url)
        page.add()
        _, document = page.form("/add/upload", files=[("files", ("profile.zip", buffer.getvalue(), "application/zip"))])
    (entry,) = load_devices(tmp_path / "config" / "devices.json")
    assert (entry.key, entry.iv) == (key, iv)
    assert list(added(document)) == [entry.name]


def test_a_bare_zip_takes_its_key_from_an_uploaded_devices_json(broker, tmp_path):
    key = b64url(secrets.token_bytes(32))
    other = json.dumps([{"name": "old", "host": "old", "haId": DISHWASHER_ID, "key": key, "description": {}}])
    setup = make_setup(tmp_path)
    with served(broker, setup) as server:
        page = Page(server.url)
        page.add()
        _, document = page.form("/add/upload", files=[("files", ("p.zip", _zip(), "application/zip")),
                                                      ("files", ("devices.json", other.encode(), "application/json"))])  # fmt: skip
    (entry,) = load_devices(tmp_path / "config" / "devices.json")
    assert (entry.ha_id, entry.key) == (DISHWASHER_ID, key)
    assert list(added(document)) == [entry.name]


def test_what_cannot_be_imported_is_a_sentence(broker, tmp_path):
    setup = make_setup(tmp_path)
    devices = tmp_path / "config" / "devices.json"
    with served(broker, setup) as server:
        page = Page(server.url)
        page.add()

        def upload(name: str, data: bytes, **fields: str):
            response, document = page.form(
                "/add/upload", fields, files=[("files", (name, data, "application/octet-stream"))]
            )
            return response, document

        _, document = upload("profile.zip", _zip())
        assert "nothing could be imported" in document.by_id("add-problem").text()
        assert (
            "this profile carries no key; give its key (and its IV for an AES appliance) in the form"
            in document.by_id("add-problems").text()
        )
        _, document = upload("holiday.jpg", b"\xff\xd8\xff\xe0 not a zip")
        assert "holiday.jpg is not a zip file" in document.by_id("add-problems").text()
        response, document = upload("huge.zip", b"\0" * (MAX_UPLOAD + 1))
        assert response.status_code == 413
        assert "more than the 16 MB the console takes" in document.find("p", class_="problem").text()
        # The console still serves this browser after the dropped upload.
        page.add()
        _, document = page.form("/add/upload", {"key": ""}, files=[])
        assert "choose the profile zips" in document.by_id("add-problem").text()
    assert not devices.exists()


def test_an_unwritable_devices_file_is_a_sentence(broker, tmp_path):
    # A file where its folder should be: not writable whoever runs the tests (root writes into a 0500 folder).
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    setup = make_setup(tmp_path, devices=blocker / "devices.json")
    with served(broker, setup) as server:
        page = Page(server.url)
        page.add()
        _, document = page.form("/add/upload", {"key": b64url(secrets.token_bytes(32))},
                                files=[("files", ("p.zip", _zip(), "application/zip"))])  # fmt: skip
    sentence = document.by_id("add-problem").text()
    assert sentence.startswith(f"{blocker / 'devices.json'} cannot be written (")
    assert "make its folder writable for hcpy (or choose another devices file), then try again" in sentence


# -- the scan ----------------------------------------------------------------------------------


def test_a_scan_fills_in_the_host_of_an_appliance_heard(broker, tmp_path):
    profile = parse_profile(*profile_files(DISHWASHER))
    sim, _ = simulated(profile, "dishwasher")
    advertiser = Advertiser(LOOPBACK)
    devices = tmp_path / "config" / "devices.json"
    try:
        ha_id = random_ha_id()
        save_devices(
            devices, [entry_from_profile(profile, key=b64(bytes(32)), ha_id=ha_id, name="dishwasher")], merge=False
        )
        advertiser.add(sim, ha_id)
        with served(broker, make_setup(tmp_path)) as server:
            page = Page(server.url)
            page.add()
            _, document = page.form("/add/scan")
    finally:
        advertiser.close()
        sim.stop()
    (entry,) = load_devices(devices)
    assert (entry.host, entry.port) == ("127.0.0.1", sim.port)
    row = document.find("tr", data_ha_id=ha_id)
    assert row.find(data_field="host").text() == "127.0.0.1"
    assert f"dishwasher: host {ha_id} -> 127.0.0.1, port default -> {sim.port}" in document.by_id("scan-changed").text()


def test_a_scan_that_hears_nothing_says_what_to_do(broker, tmp_path):
    setup = make_setup(tmp_path)
    setup.scan_seconds = 0.5
    with served(broker, setup) as server:
        page = Page(server.url)
        page.add()
        _, document = page.form("/add/scan")
    sentence = document.by_id("add-problem").text()
    assert (
        sentence.startswith("No Home Connect appliance announced itself within 0.5 s")
        or "does not exist yet" in sentence
    )


# -- hcpy2-0's add-on files ----------------------------------------------------------------------


def test_hcpy2_0s_files_are_offered_and_copied_and_our_own_folder_is_not(broker, tmp_path):
    profile = parse_profile(*profile_files(DISHWASHER))
    configs = tmp_path / "addon_configs"
    ours = configs / "0a1b2c3d_hcpy"
    theirs = configs / "9f8e7d6c_hcpy"
    ours.mkdir(parents=True)
    theirs.mkdir()
    key = b64(secrets.token_bytes(32))
    save_devices(
        theirs / "devices.json",
        [entry_from_profile(profile, key=key, ha_id="SIEMENS-X-1", host="dish", name="dish")],
        merge=False,
    )
    (theirs / "devices.json").chmod(0o644)
    (theirs / "discovery.yaml").write_text("HA_DISCOVERY_PREFIX: ha\n")
    (configs / "core_mosquitto").mkdir()
    setup = make_setup(tmp_path, other=configs, devices=ours / "devices.json")
    with served(broker, setup) as server:
        page = Page(server.url)
        box = page.add().by_id("other-addon")
        assert str(theirs) in box.text() and "devices.json and discovery.yaml" in box.text()
        _, document = page.form("/add/other-addon")
        assert "dish" in added(document)
        # Now ours holds a devices.json too: it is never offered, and theirs is gone.
        for name in ("devices.json", "discovery.yaml"):
            (theirs / name).unlink()
        assert not page.add().find_all(id="other-addon")
    copied = ours / "devices.json"
    assert (
        stat.S_IMODE(copied.stat().st_mode) == 0o600 and stat.S_IMODE((ours / "discovery.yaml").stat().st_mode) == 0o600
    )
    (entry,) = load_devices(copied)
    assert (entry.name, entry.key) == ("dish", key)
    assert (ours / "discovery.yaml").read_text() == "HA_DISCOVERY_PREFIX: ha\n"
    assert key not in document.text()


def test_without_hcpy2_0s_files_nothing_is_offered(broker, tmp_path):
    configs = tmp_path / "addon_configs"
    ours = configs / "local_hcpy"
    ours.mkdir(parents=True)
    (ours / "devices.json").write_text("[]")
    with served(broker, make_setup(tmp_path, other=configs, devices=ours / "devices.json")) as server:
        assert not Page(server.url).add().find_all(id="other-addon")


# -- who may ----------------------------------------------------------------------------------


def test_every_post_needs_the_pages_token(broker, tmp_path):
    with served(broker, make_setup(tmp_path)) as server:
        page = Page(server.url)
        page.add()
        for path in POSTS:
            response, _ = page.form(path, {"region": "EU", "pasted": "hcauth://auth/prod?code=a&state=b"}, token=False)
            assert response.status_code == 403 and "carries no console token" in response.text, (path, response.text)
            response, _ = page.form(path, {"token": "0" * 64}, token=False)
            assert response.status_code == 403 and "does not belong to this session" in response.text, path
        response, _ = page.form("/add/upload", token=False, files=[("files", ("p.zip", _zip(), "application/zip"))])
        assert response.status_code == 403 and "carries no console token" in response.text
    assert not (tmp_path / "config").exists()


def test_beyond_loopback_without_a_password_the_pages_are_refused(broker, tmp_path):
    with served(broker, make_setup(tmp_path), host="0.0.0.0") as server:
        page = Page(f"http://127.0.0.1:{server.port}")
        response = page.get("/add")
        assert response.status_code == 403 and "set http_password" in response.text
        document = page.page("/")
        assert not document.find_all(id="add-appliances-link")
        response, _ = page.form("/add/scan")
        assert response.status_code == 403 and "set http_password" in response.text


def test_with_a_password_the_pages_need_the_login(broker, tmp_path):
    with served(broker, make_setup(tmp_path), host="0.0.0.0", password=PASSWORD) as server:
        page = Page(f"http://127.0.0.1:{server.port}")
        response = page.get("/add")
        assert response.status_code == 303 and response.headers["Location"] == "/login?next=/add"
        page.token = page.page("/login").find("input", name="token").get("value")
        response, _ = page.form("/add/scan")
        assert response.status_code == 403 and "log in to the console first" in response.text
        # Not logged in, an upload is no form the console reads (nor one larger than MAX_BODY).
        response, _ = page.form("/add/upload", files=[("files", ("p.zip", _zip(), "application/zip"))])
        assert response.status_code in (400, 413, 415), response.status_code
        response, _ = page.form("/login", {"password": PASSWORD, "next": "/add"})
        assert response.status_code == 303
        assert page.add().by_id("login-start-form")


def test_the_console_opens_on_add_when_there_is_nothing_to_bridge(broker, tmp_path):
    with served(broker, make_setup(tmp_path)) as server:
        page = Page(server.url)
        first = page.http.get(server.url.rstrip("/") + "/", allow_redirects=False, timeout=10)
        document = page.page("/?list=1")
    assert first.status_code == 303 and first.headers["Location"] == "/add"
    assert document.by_id("add-appliances-link").get("href") == "/add"
    assert document.by_id("nav-add").get("href") == "/add"


def test_without_a_setup_there_are_no_add_pages(broker):
    with served(broker, None) as server:
        page = Page(server.url)
        document = page.page("/")
        assert page.get("/add").status_code == 404
    assert not document.find_all(id="nav-add") and not document.find_all(id="add-appliances-link")


@pytest.mark.parametrize("region", ["XX"])
def test_an_unknown_region_is_a_sentence(broker, tmp_path, region):
    with served(broker, make_setup(tmp_path)) as server:
        page = Page(server.url)
        page.add()
        _, document = page.form("/add/login-start", {"region": region})
    assert "unknown region 'XX': choose one of EU, NA, CN" in document.by_id("add-problem").text()


# -- behind Home Assistant's ingress ---------------------------------------------------------------


@pytest.mark.parametrize(
    "host, password",
    [("0.0.0.0", None), ("127.0.0.1", PASSWORD)],
    ids=["the-add-on-on-every-address-without-password", "with-a-console-password"],
)
def test_behind_ingress_home_assistants_user_adds_appliances_and_nobody_else_reaches_the_pages(
    broker, tmp_path, host, password
):
    """The add-on (its console on 0.0.0.0 without a password): Home Assistant logged its user in, so the pages
    are served to its proxy, and ask no console password even when one is set; anyone reaching the port
    directly is refused, whatever they send."""
    from ingress_proxy import IngressProxy, can_bind, direct

    from hcpy.web.ingress import ONLY_HOME_ASSISTANT

    if not can_bind("127.0.0.2"):
        pytest.skip("this system has no 127.0.0.2 (Linux has all of 127/8)")
    setup = make_setup(tmp_path)
    key = b64url(secrets.token_bytes(32))
    with bridged(broker.port, []) as bridge:
        server = ConsoleServer(bridge, host, 0, password, setup=setup, ingress_peer="127.0.0.1").start()
        try:
            with IngressProxy(server.port) as proxy:
                page = Page(proxy.base)
                document = page.add()
                assert document.find("form", action=proxy.prefix + "/add/upload") is not None
                response, document = page.form(
                    "/add/upload", {"key": key, "iv": ""},
                    files=[("files", (f"{DISHWASHER_ID}.zip", _zip(), "application/zip"))],
                )  # fmt: skip
                assert response.status_code == 200, response.text
                (entry,) = load_devices(tmp_path / "config" / "devices.json")
                assert entry.ha_id == DISHWASHER_ID and entry.key == key
                for method, path in (("GET", "/add"), ("POST", "/add/scan"), ("POST", "/add/upload")):
                    status, _, body = direct(server.port, method, path, {"Host": f"127.0.0.1:{server.port}"}, b"")
                    assert status == 403 and ONLY_HOME_ASSISTANT in html.unescape(body.decode()), (method, path, status)
        finally:
            server.stop()


def test_every_phrase_the_console_rewords_is_still_said_by_hc_login():
    """The console rewords hc-login's advice (an option becomes a form field); a phrase that hc-login no longer
    says would silently stop being reworded, and the console would tell its user to run a command line."""
    import ast

    from hcpy.app.setup import CONSOLE_WORDS

    def texts(path: Path) -> Iterator[str]:
        """Every string the module says, adjacent literals joined as Python joins them (f-string holes as \0)."""
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr):
                yield "".join(v.value if isinstance(v, ast.Constant) else "\0" for v in node.values)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield node.value

    root = Path(__file__).resolve().parents[1] / "hcpy"
    said = [t for p in root.rglob("*.py") if p.name != "setup.py" for t in texts(p)]
    for cli, _ in CONSOLE_WORDS:
        assert any(cli in t for t in said), f"no module says {cli!r} any more: update CONSOLE_WORDS (hcpy/app/setup.py)"
