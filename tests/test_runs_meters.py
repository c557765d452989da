"""Meters over real sockets, and one appliance's run recorder around them (no broker here).

`FakeMeter` is a real HTTP server on loopback that answers as a Tasmota
(``/cm?cmnd=Status%208``) and an ESPHome (``/sensor/<id>``) do; a test can
hold its answers back to play a meter that does not answer in time.
test_runs_bridge.py uses it too.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from support import DISHWASHER, b64, free_port, profile_files

from hcpy.appliance.entry import entry_from_profile
from hcpy.appliance.profile_xml import parse_profile
from hcpy.appliance.state import ApplianceState
from hcpy.mqtt.run_recorder import RunRecorder
from hcpy.mqtt.topics import Topics
from hcpy.runs.config import ENERGY, WATER, MeterSpec
from hcpy.runs.meters import MqttMeters, read_http

ECO = "Dishcare.Dishwasher.Program.Eco50"
T0 = 1_714_564_800.0  # 2024-05-01T12:00:00Z


class FakeMeter:
    """A Tasmota plug and an ESPHome water meter on one local HTTP server."""

    def __init__(self):
        self.total = 169.961  # Tasmota ENERGY.Total, kWh
        self.water_m3 = 9.804  # ESPHome sensor, m³
        self.answering = threading.Event()  # cleared: requests wait (at most 10 s) until it is set
        self.answering.set()
        self.asked: list[str] = []
        meter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                meter.asked.append(self.path)
                meter.answering.wait(10)
                status, body = meter.answer(self.path)
                data = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), name="fake-meter", daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def answer(self, path: str) -> tuple[int, str]:
        if path.lower().startswith("/cm?cmnd=status"):
            energy = {"TotalStartTime": "2022-09-06T12:00:00", "Total": self.total, "Yesterday": 0.063, "Today": 0.048,
                      "Power": 5, "ApparentPower": 14, "ReactivePower": 13, "Factor": 0.35, "Voltage": 231, "Current": 0.061}  # fmt: skip
            return 200, json.dumps({"StatusSNS": {"Time": "2024-05-01T12:00:00", "ENERGY": energy}})
        if path.startswith("/sensor/"):
            sensor = path.rsplit("/", 1)[-1]
            return 200, json.dumps({"id": f"sensor-{sensor}", "value": self.water_m3, "state": f"{self.water_m3} m³"})
        if path == "/text":
            return 200, "hello"
        return 404, "Not Found"

    def close(self):
        self.answering.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def meter():
    m = FakeMeter()
    yield m
    m.close()


def tasmota(meter, **kw):
    return MeterSpec(ENERGY, "hc2mqtt.energy_meter", url=meter.url("/cm?cmnd=Status%208"),
                     path=("StatusSNS", "ENERGY", "Total"), **kw)  # fmt: skip


# -- HTTP meters ------------------------------------------------------------------------------


def test_a_tasmota_and_an_esphome_meter_answer(meter):
    assert read_http(tasmota(meter)).value == 169.961
    esphome = MeterSpec(WATER, "addons.watermeter", url=meter.url("/sensor/wasseruhr_anzeige"), path=("value",),
                        unit="m³", factor=1000.0)  # fmt: skip
    assert read_http(esphome).value == 9804.0


def test_what_an_http_meter_can_get_wrong(meter):
    wrong = read_http(MeterSpec(ENERGY, "x", url=meter.url("/cm/nothing"), path=("value",)))
    assert (wrong.value, wrong.reason, wrong.hint) == (None, "answered HTTP 404 Not Found", "check its URL")
    text = read_http(MeterSpec(ENERGY, "x", url=meter.url("/text"), path=("value",)))
    assert text.reason == "answered 'hello', which is no JSON"
    path = read_http(MeterSpec(ENERGY, "x", url=meter.url("/cm?cmnd=Status%208"), path=("StatusSNS", "ENERGY", "Totl")))
    assert path.reason == "has no StatusSNS.ENERGY.Totl (StatusSNS.ENERGY has no 'Totl')"
    closed = read_http(MeterSpec(ENERGY, "x", url=f"http://127.0.0.1:{free_port()}/cm?cmnd=Status%208", path=("v",)))
    assert closed.reason == "could not be reached (Connection refused)"
    assert "reaches it at that address" in closed.hint


def test_a_meter_that_does_not_answer_in_time(meter):
    meter.answering.clear()
    late = read_http(tasmota(meter, timeout=0.2))
    assert (late.value, late.reason) == (None, "did not answer within 0.2 s")
    assert meter.asked == ["/cm?cmnd=Status%208"]


# -- MQTT meters ---------------------------------------------------------------------------------


def test_an_mqtt_meter_remembers_the_latest_counter():
    sensor = MeterSpec(ENERGY, "hc2mqtt.energy_meter", topic="tele/plug/SENSOR", path=("ENERGY", "Total"))
    plain = MeterSpec(WATER, "hc2mqtt.water_meter", topic="water-meter/sensor/water_total/state", unit="m³", factor=1000.0)
    meters = MqttMeters([sensor, plain])
    assert sorted(meters.topics) == ["tele/plug/SENSOR", "water-meter/sensor/water_total/state"]
    nothing = meters.read(sensor)
    assert (nothing.value, nothing.reason) == (None, "nothing on tele/plug/SENSOR yet")
    meters.feed("tele/plug/SENSOR", b'{"Time": "2024-05-01T12:00:00", "Switch1": "ON"}')
    assert meters.read(sensor).reason == (
        "nothing on tele/plug/SENSOR yet with a counter (the last message has no ENERGY.Total (the answer has no 'ENERGY'))"
    )
    meters.feed("tele/plug/SENSOR", json.dumps({"ENERGY": {"Total": 169.961, "Power": 1900}}).encode())
    meters.feed("tele/plug/SENSOR", b'{"Switch1": "OFF"}')  # no counter: the latest stays
    assert meters.read(sensor).value == 169.961
    meters.feed("water-meter/sensor/water_total/state", b"9.804")
    assert meters.read(plain).value == 9804.0
    meters.feed("somewhere/else", b"1")  # not a meter's topic: nothing


# -- one appliance's recorder (the worker, the files, the log lines) -----------------------------


class Published:
    """What the recorder publishes, for a test to wait on."""

    def __init__(self):
        self.messages = []
        self.cond = threading.Condition()

    def __call__(self, messages):
        with self.cond:
            self.messages.extend(messages)
            self.cond.notify_all()

    def wait(self, topic, test=lambda payload: True, since=0):
        with self.cond:
            assert self.cond.wait_for(
                lambda: any(m.topic == topic and test(m.payload) for m in self.messages[since:]), timeout=15
            ), f"nothing on {topic}: {self.messages[since:]}"
            return next(m.payload for m in self.messages[since:] if m.topic == topic and test(m.payload))

    def mark(self):
        with self.cond:
            return len(self.messages)


@pytest.fixture(scope="module")
def profile():
    return parse_profile(*profile_files(DISHWASHER))


class Appliance:
    """A dishwasher's state and a recorder watching it, as the bridge wires them (without the bridge)."""

    def __init__(self, profile, runs_dir, block, clock):
        self.profile = profile
        self.entry = entry_from_profile(profile, key=b64(os.urandom(32)), host="127.0.0.1", name="dishwasher")
        self.entry.extra["hc2mqtt"] = block
        self.state = ApplianceState(profile, "dishwasher")
        self.published = Published()
        self.recorder = RunRecorder(self.entry, Topics("homeconnect/", "dishwasher"), runs_dir, self.published,
                                    log=logging.getLogger("hcpy.appliance.dishwasher"))  # fmt: skip
        self.recorder.clock = clock

    def wire(self, name, value):
        feature = self.profile.by_name(name)
        if feature.enum is not None:
            value = next(k for k, v in feature.enum.members.items() if v == value)
        elif feature.holds_uid:
            value = self.profile.by_name(value).uid if value else 0
        return {"uid": feature.uid, "value": value}

    def connects(self, **values):
        self.state.apply_values([self.wire(n, v) for n, v in values.items()])
        self.recorder.look(self.state)

    def reports(self, **values):
        changes = self.state.apply_values([self.wire(n, v) for n, v in values.items()])
        self.recorder.changed(self.state, changes)


OP = "BSH.Common.Status.OperationState"
ACTIVE = "BSH.Common.Root.ActiveProgram"


def names(**short):
    full = {"op": OP, "active": ACTIVE, "power": "BSH.Common.Setting.PowerState",
            "energy": "BSH.Common.Option.EnergyForecast", "water": "BSH.Common.Option.WaterForecast"}  # fmt: skip
    return {full[k]: v for k, v in short.items()}


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


def test_a_meter_that_does_not_answer_at_the_end_costs_only_its_figure(profile, meter, tmp_path, caplog):
    clock = Clock()
    block = {"energy_meter": {"url": meter.url("/cm?cmnd=Status%208"), "path": "StatusSNS.ENERGY.Total", "timeout": 0.2},
             "energy_full_scale_kwh": 2}  # fmt: skip
    dishwasher = Appliance(profile, tmp_path / "runs", block, clock)
    dishwasher.connects(**names(op="Ready", power="On", active=None))
    dishwasher.reports(**names(active=ECO, energy=60, water=50, op="Run"))
    active = json.loads(dishwasher.published.wait("homeconnect/dishwasher/run/active", bool))
    assert (active["program"], active["energy_start_kwh"], active["energy_estimate_kwh"]) == (ECO, 169.961, 1.2)

    meter.answering.clear()  # the plug hangs
    clock.now += 3600
    with caplog.at_level(logging.WARNING, "hcpy.appliance.dishwasher"):
        dishwasher.reports(**names(active=None, op="Finished"))
        record = json.loads(dishwasher.published.wait("homeconnect/dishwasher/run"))
    assert (record["ended"], record["duration_s"], record["energy_kwh"]) == ("finished", 3600, None)
    assert record["energy_reason"] == "no end reading: did not answer within 0.2 s"
    assert record["energy_estimate_kwh"] == 1.2  # the appliance's own figure is still there
    assert [r.getMessage() for r in caplog.records] == [
        f"dishwasher: energy meter {meter.url('/cm?cmnd=Status%208')} (hc2mqtt.energy_meter) did not answer within 0.2 s "
        "at the end of the run; check that it is switched on and that this host reaches it at that address "
        "(the run is recorded without energy)"
    ]
    totals = json.loads(dishwasher.published.wait("homeconnect/dishwasher/run/totals", lambda p: '"runs": 1' in p))
    assert (totals["energy_kwh"], totals["runs"], totals["energy_runs"]) == (0.0, 1, 0)
    assert [json.loads(line) for line in dishwasher.recorder.store.history_path.read_text().splitlines()] == [record]
    dishwasher.recorder.stop()


def test_the_appliance_never_waits_for_an_http_meter(profile, meter, tmp_path):
    clock = Clock()
    block = {"energy_meter": {"url": meter.url("/cm?cmnd=Status%208"), "path": "StatusSNS.ENERGY.Total", "timeout": 8}}
    dishwasher = Appliance(profile, tmp_path / "runs", block, clock)
    dishwasher.connects(**names(op="Ready", power="On", active=None))
    dishwasher.reports(**names(active=ECO, op="Run"))
    dishwasher.published.wait("homeconnect/dishwasher/run/active", bool)
    meter.answering.clear()
    meter.total = 170.711
    clock.now += 1800
    mark = dishwasher.published.mark()
    dishwasher.reports(**names(active=None, op="Finished"))  # returns while the meter holds its answer
    assert [m.topic for m in dishwasher.published.messages[mark:]] == []
    meter.answering.set()
    record = json.loads(dishwasher.published.wait("homeconnect/dishwasher/run", since=mark))
    assert (record["energy_kwh"], record["energy_reason"]) == (0.75, None)
    assert meter.asked == ["/cm?cmnd=Status%208"] * 2  # at the start and at the end, nothing more
    dishwasher.recorder.stop()


def test_a_restart_goes_on_with_the_run_or_ends_it_unseen(profile, meter, tmp_path):
    clock = Clock()
    block = {"energy_meter": f"{meter.url('/cm?cmnd=Status%208')} StatusSNS.ENERGY.Total kWh"}
    first = Appliance(profile, tmp_path / "runs", block, clock)
    first.connects(**names(op="Ready", power="On", active=None))
    first.reports(**names(active=ECO, op="Run"))
    first.published.wait("homeconnect/dishwasher/run/active", bool)
    first.recorder.stop()
    saved = json.loads(first.recorder.store.state_path.read_text())
    assert saved["active"]["program"] == ECO and saved["active"]["energy_start"] == {"value": 169.961, "reason": None}

    # Restarted while the dishwasher still runs: the run goes on.
    second = Appliance(profile, tmp_path / "runs", block, clock)
    second.connects(**names(op="Run", power="On", active=ECO))
    active = json.loads(second.published.wait("homeconnect/dishwasher/run/active", lambda p: '"bridge_restarted": true' in p))
    assert active["start"] == "2024-05-01T12:00:00+00:00"
    meter.total = 171.0
    clock.now += 7200
    second.reports(**names(op="Finished", active=None))
    record = json.loads(second.published.wait("homeconnect/dishwasher/run"))
    assert (record["ended"], record["energy_kwh"], record["duration_s"], record["bridge_restarted"]) == ("finished", 1.039, 7200, True)
    second.reports(**names(op="Ready"))
    second.reports(**names(active=ECO, op="Run"))  # a third run, under way when hc2mqtt stops
    second.published.wait("homeconnect/dishwasher/run/active", lambda p: '"bridge_restarted": false' in p)
    second.recorder.stop()

    # Restarted after it ended: over, but nobody saw how or when.
    third = Appliance(profile, tmp_path / "runs", block, clock)
    clock.now += 600
    third.connects(**names(op="Ready", power="On", active=None))
    record = json.loads(third.published.wait("homeconnect/dishwasher/run"))
    assert (record["ended"], record["end_seen"], record["bridge_restarted"], record["energy_kwh"]) == ("unknown", False, True, None)
    assert record["energy_reason"].startswith("hc2mqtt did not see the run end")
    assert third.published.wait("homeconnect/dishwasher/run/active") == ""
    totals = json.loads(third.published.wait("homeconnect/dishwasher/run/totals"))
    assert (totals["runs"], totals["energy_kwh"], totals["energy_runs"]) == (2, 1.039, 1)  # counted on through restarts
    third.recorder.stop()
    assert meter.asked == ["/cm?cmnd=Status%208"] * 3  # the unseen end asked nothing
