"""Values for uids the profile lacks (firmware newer than the profile), end to end.

The simulators play the full profiles; the bridge holds reduced copies, as
an older hc-login's devices.json would be. Over TLS (dishwasher) and AES
(washer) the values the bridge's profile lacks reach MQTT on T/state/<uid>
as hcpy2-0 published them (raw, retained), are said in the log at most
once a minute per appliance (a clock the test turns), are counted in
/metrics and listed on the console's appliance page.
"""

from __future__ import annotations

import dataclasses
import logging
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import DISHWASHER, WASHER, Subscriber, profile_files, simulated
from test_web_support import Browser, console_over, wait_until

from hcpy.appliance.profile_xml import parse_profile
from hcpy.protocol.resources import RO_VALUES

P = "homeconnect/"
WIFI = "BSH.Common.Status.WiFiSignalStrength"
LOCAL = "BSH.Common.Status.LocalControlActive"
# What each bridge profile lacks, by appliance.
DROPPED = {"dishwasher": (WIFI,), "washer": (WIFI, LOCAL)}


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def reduced(profile, names):
    """A copy of `profile` without the features `names` (the appliance's firmware is newer)."""
    features = {uid: f for uid, f in profile.features.items() if f.name not in names}
    assert len(features) == len(profile.features) - len(names)
    return dataclasses.replace(profile, features=features)


@pytest.fixture
def kitchen(broker):
    full = {stem: parse_profile(*profile_files(stem)) for stem in (DISHWASHER, WASHER)}
    dishwasher = simulated(full[DISHWASHER], "dishwasher", "tls")
    washer = simulated(full[WASHER], "washer", "aes", services="legacy")
    sims = {"dishwasher": dishwasher[0], "washer": washer[0]}
    entries = []
    for name, (sim, entry) in (("dishwasher", dishwasher), ("washer", washer)):
        entries.append((sim, dataclasses.replace(entry, profile=reduced(entry.profile, DROPPED[name]))))
    try:
        with console_over(broker.port, entries) as (bridge, server):
            yield bridge, server, sims
    finally:
        for sim in sims.values():
            sim.stop()


def uid_of(sim, name: str) -> int:
    return sim.app.feature(name).uid


def test_values_the_profile_lacks_are_published_on_state_uid_over_tls_and_aes(kitchen, broker):
    bridge, _, sims = kitchen
    subscriber = Subscriber(broker.port)
    try:
        for name, sim in sims.items():
            wifi = uid_of(sim, WIFI)
            assert wifi not in bridge.appliances[list(sims).index(name)].state.profile.features
            mark = subscriber.mark()
            sim.set_value(WIFI, -47)
            subscriber.wait(f"{P}{name}/state/{wifi}", "-47", since=mark)
        local = uid_of(sims["washer"], LOCAL)
        mark = subscriber.mark()
        sims["washer"].set_value(LOCAL, True)
        subscriber.wait(f"{P}washer/state/{local}", "True", since=mark)
        # An object value as JSON, a float kept a float: the raw value, as hcpy2-0 published it.
        mark = subscriber.mark()
        sims["dishwasher"].notify(RO_VALUES, [{"uid": 0x7A00, "value": {"tz": 60, "tzName": "Europe/Berlin"}},
                                              {"uid": 0x7A01, "value": 13273.0}])  # fmt: skip
        assert subscriber.wait(f"{P}dishwasher/state/{0x7A00}", since=mark) == '{"tz": 60, "tzName": "Europe/Berlin"}'
        assert subscriber.wait(f"{P}dishwasher/state/{0x7A01}", since=mark) == "13273.0"
    finally:
        subscriber.close()
    # Retained, like every state: a newcomer gets them at once.
    late = Subscriber(broker.port, client_id="late")
    try:
        late.sync()
        retained = {t: p for t, p, r in late.messages if r}
        assert retained[f"{P}dishwasher/state/{uid_of(sims['dishwasher'], WIFI)}"] == "-47"
        assert retained[f"{P}washer/state/{uid_of(sims['washer'], WIFI)}"] == "-47"
        assert retained[f"{P}washer/state/{local}"] == "True"
        # The known features are where they always were.
        assert f"{P}washer/state/bsh_common_setting_powerstate" in retained
    finally:
        late.close()


def test_the_log_says_it_once_a_minute_per_appliance(kitchen, broker, caplog):
    bridge, _, sims = kitchen
    dishwasher = bridge.appliances[0]
    assert dishwasher.name == "dishwasher"
    clock = dishwasher.state.clock = Clock(1_800_000_000.0)  # far after the line said at connect
    subscriber = Subscriber(broker.port)

    def sends(uid: int, value: int) -> None:
        mark = subscriber.mark()
        sims["dishwasher"].notify(RO_VALUES, [{"uid": uid, "value": value}])
        subscriber.wait(f"{P}dishwasher/state/{uid}", str(value), since=mark)

    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records
                if r.name == "hcpy.appliance.dishwasher" and "the profile lacks" in r.getMessage()]  # fmt: skip

    try:
        with caplog.at_level(logging.WARNING):
            sends(0x7777, 1)
            assert len(said()) == 1 and "(new: 30583;" in said()[0] and "hc-login" in said()[0]
            clock.now += 59
            sends(0x7778, 2)
            sends(0x7777, 3)
            assert len(said()) == 1  # within the minute: counted, not said
            clock.now += 1
            sends(0x7779, 4)
            assert len(said()) == 2
            assert re.match(r"dishwasher: 3 value\(s\) for 2 uid\(s\) the profile lacks \(new: 30584, 30585; "
                            r"\d+ such uid\(s\) so far\)", said()[1]), said()[1]  # fmt: skip
            clock.now += 120
            sends(0x7777, 5)  # no new uid: nothing to say
            assert len(said()) == 2
    finally:
        subscriber.close()
    # Each appliance has its own line: the washer's values said nothing here.
    washer = [r for r in caplog.records if r.name == "hcpy.appliance.washer" and "the profile lacks" in r.getMessage()]
    assert washer == []


def test_metrics_and_the_console_page_list_them(kitchen):
    bridge, server, sims = kitchen
    wifi = uid_of(sims["dishwasher"], WIFI)
    sims["dishwasher"].set_value(WIFI, -52)
    sims["washer"].set_value(WIFI, -53)
    sims["washer"].set_value(LOCAL, True)
    washer = bridge.appliances[1]
    local = uid_of(sims["washer"], LOCAL)
    wait_until(lambda: washer.state.unknown.seen[local].value is True, what="the washer's value")
    wait_until(lambda: bridge.appliances[0].state.unknown.seen[wifi].value == -52, what="the dishwasher's value")
    browser = Browser(server.url)
    try:
        response = browser.get("/metrics")
        assert response.status_code == 200
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples
        }
        assert samples[("hcpy_unknown_uids", (("appliance", "dishwasher"),))] == 1
        assert samples[("hcpy_unknown_uids", (("appliance", "washer"),))] == 2
        for name in ("dishwasher", "washer"):
            counted = samples[("hcpy_unknown_uid_values_total", (("appliance", name),))]
            # (Read after the scrape: the appliance may have sent more since.)
            assert 2 <= counted <= bridge.appliances[list(sims).index(name)].state.unknown.values

        document = browser.page("/appliance/dishwasher")
        section = document.by_id("unknown-uids")
        row = section.find("tr", data_uid=str(wifi))
        assert row.find("td", **{"class": "value"}).text() == "-52"
        assert row.find("time").get("datetime")
        hint = section.find("p").text()
        assert "hc-login" in hint and "T/state/<uid>" in hint
        assert section.find("span", data_field="unknown_uids").text() == "1"
        # The known values stay in their groups; the unknown one is not among them.
        assert not document.find_all("td", data_feature=str(wifi))
        washer_page = browser.page("/appliance/washer")
        assert {r.get("data-uid") for r in washer_page.by_id("unknown-uids").find_all("tr", data_uid=True)} == {
            str(uid_of(sims["washer"], WIFI)), str(uid_of(sims["washer"], LOCAL))}  # fmt: skip
    finally:
        browser.close()
