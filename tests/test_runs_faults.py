"""Run records through the faults a Raspberry Pi meets (issue 21): a full disk, a kill, a folder that cannot be written.

Each fault is a real one: writes beyond a file size limit (RLIMIT_FSIZE, in
a child process: the kernel cuts the write short, as a full disk does), a
64 KB tmpfs filled up and a read-only tmpfs (both when this host lets the
test mount them), a runs folder that is a file, and hc2mqtt's recorder
killed with SIGKILL in a child process at each step of recording a run.
The recorder is the bridge's own (`RunRecorder`), fed the state changes a
dishwasher reports; its files are real files.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from support import DISHWASHER, b64, eventually, profile_files, simulated
from test_runs import ACTIVE, CONFIG, ECO, ENERGY_FORECAST, OP, POWER, QUICK, T0, WATER_FORECAST, Dishwasher, active_run
from test_web_support import Browser, console_over

from hcpy.appliance.entry import entry_from_profile
from hcpy.appliance.profile_xml import parse_profile
from hcpy.mqtt.run_recorder import RunRecorder
from hcpy.mqtt.topics import Topics
from hcpy.runs.readings import Reading
from hcpy.runs.record import finish
from hcpy.runs.store import RunStore
from hcpy.times import iso
from hcpy.web.runs_page import runs_page

ROOT = Path(__file__).resolve().parent.parent
REMAINING = "BSH.Common.Option.RemainingProgramTime"
KEY = b64(bytes(range(32)))


@pytest.fixture(scope="module")
def profile():
    return parse_profile(*profile_files(DISHWASHER))


# -- a dishwasher and the recorder watching it ------------------------------------------------------


class Clock:
    """The recorder's clock: seconds after T0, turned by the test."""

    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return T0 + self.t


class Kitchen:
    """A dishwasher's state and hc2mqtt's run recorder for it, as the bridge feeds it."""

    def __init__(self, profile, runs_dir, clock, store=None):
        self.dishwasher = Dishwasher(profile)
        self.clock = clock
        self.published = []
        entry = entry_from_profile(profile, key=KEY, host="127.0.0.1", name="dishwasher")
        entry.extra["hc2mqtt"] = {"energy_full_scale_kwh": 2, "water_full_scale_l": 20}
        self.recorder = RunRecorder(entry, Topics("homeconnect/", "dishwasher"), Path(runs_dir), self.published.extend, store=store)
        self.recorder.clock = clock

    def connect(self, **found):
        """The appliance (re)connects and says how it is."""
        d = self.dishwasher
        d.state.apply_values([d.wire(name, value) for name, value in found.items()])
        self.recorder.look(d.state)

    def reports(self, *pairs):
        d = self.dishwasher
        self.recorder.changed(d.state, d.state.apply_values([d.wire(name, value) for name, value in pairs]))

    def start(self, program, remaining=None):
        pairs = [(ACTIVE, program), (ENERGY_FORECAST, 60), (WATER_FORECAST, 50)]
        pairs += [(REMAINING, remaining)] if remaining is not None else []
        self.reports(*pairs, (OP, "Run"))

    def stop(self):
        self.recorder.stop(10)

    def records(self):
        return self.recorder.store.history()

    def retained_run(self):
        """What T/run carries now (the recorder's republish, as at a broker reconnect)."""
        self.published.clear()
        self.recorder.republish(self.dishwasher.state)
        return next(json.loads(m.payload) for m in self.published if m.topic == "homeconnect/dishwasher/run")


def at_rest(kitchen):
    kitchen.connect(**{OP: "Ready", POWER: "On", ACTIVE: 0})


def three_runs(kitchen, clock, program=QUICK):
    """Three runs of ``program`` an hour apart, from rest: the recorder writes each."""
    at_rest(kitchen)
    for n in range(3):
        clock.t = n * 3600
        kitchen.start(program)
        clock.t += 1800
        kitchen.reports((OP, "Finished"))
        kitchen.reports((OP, "Ready"))
    kitchen.stop()


def recorded(kitchen, count):
    """Wait until the recorder's worker has `count` runs in the history."""
    return eventually(lambda: len(kitchen.records()) == count and kitchen.records(), what=f"{count} runs in the history")


def state_file(kitchen):
    return json.loads(kitchen.recorder.store.state_path.read_text())


def kept_remaining_at(kitchen):
    """When the remaining time the state file keeps was reported (None: none kept yet)."""
    try:
        return (state_file(kitchen)["active"] or {}).get("remaining_at")
    except FileNotFoundError:
        return None


# -- a short write: the file size limit (always) and a full tmpfs (when it can be mounted) ---------------------

RECORD = finish(active_run(), T0 + 1800, "finished", CONFIG, Reading(170.711), Reading(9812.0))
LINE = len((json.dumps(RECORD.to_json(), ensure_ascii=False) + "\n").encode())

LIMITED_APPENDS = r"""
import json, resource, sys
from hcpy.runs.store import RunStore
from test_runs_faults import RECORD
directory, limit = sys.argv[1], int(sys.argv[2])
store = RunStore(directory, "dishwasher")
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))  # the kernel cuts writes beyond it short
done = {"appended": 0, "errors": []}
for _ in range(6):
    try:
        store.append(RECORD)
        done["appended"] += 1
    except OSError as exc:
        done["errors"].append([type(exc).__name__, exc.errno, str(exc)])
print(json.dumps(done))
"""


def child(code, *args, **kwargs):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, **kwargs)  # fmt: skip


def test_a_write_cut_short_by_a_file_size_limit_is_an_error_and_leaves_no_fragment(tmp_path):
    # 3.5 lines fit: the fourth append is cut short by the kernel (as a full disk cuts it), the later ones refused.
    done = child(LIMITED_APPENDS, tmp_path, int(LINE * 3.5))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["appended"] == 3
    # Each of the later appends is cut short, then refused (EFBIG: the limit), and its fragment taken back.
    assert [e[:2] for e in result["errors"]] == [["OSError", errno.EFBIG]] * 3, result
    assert "File too large" in result["errors"][0][2] and "dishwasher.jsonl" in result["errors"][0][2]
    store = RunStore(tmp_path, "dishwasher")
    assert store.history_path.stat().st_size == 3 * LINE  # the cut line was taken back
    assert store.history() == [RECORD.to_json()] * 3 and store.skipped == 0
    store.append(RECORD)  # room again
    assert store.history() == [RECORD.to_json()] * 4 and store.skipped == 0


def test_a_cut_line_is_skipped_and_the_next_run_starts_a_line_of_its_own(tmp_path):
    # A fragment a kill (or an older hc2mqtt on a full disk) left, followed by a whole run, and one at the very end.
    store = RunStore(tmp_path, "dishwasher")
    whole = (json.dumps(RECORD.to_json()) + "\n").encode()
    store.history_path.write_bytes(whole + whole[:300] + b"\n" + whole + whole[:-200])
    assert store.history() == [RECORD.to_json()] * 2 and store.skipped == 2
    store.append(RECORD)
    assert store.history() == [RECORD.to_json()] * 3 and store.skipped == 2
    # The console's runs page shows every whole run.
    page = runs_page("dishwasher", store.history(), True, skipped=store.skipped)
    assert page.count("<tr data-run=") == 3 and "3 runs:" in page and 'id="runs-skipped">2 damaged lines' in page
    assert 'id="runs-skipped"' not in runs_page("dishwasher", store.history(), True)
    # Nothing whole in it at all: no history, and the runs page says the file cannot be read.
    store.history_path.write_bytes(whole[:300])
    with pytest.raises(ValueError, match="none of its 1 line is a run record"):
        store.history()


def test_the_consoles_runs_page_shows_every_whole_run_of_a_cut_history(profile, broker, tmp_path):
    sim, entry = simulated(profile, "dishwasher")
    try:
        with console_over(broker.port, [(sim, entry)], runs_dir=tmp_path / "runs") as (bridge, server):
            store = bridge.appliances[0].runs.store
            store.directory.mkdir(parents=True, exist_ok=True)
            whole = (json.dumps(RECORD.to_json()) + "\n").encode()
            store.history_path.write_bytes(whole + whole[:300] + b"\n" + whole + whole[:-200])
            browser = Browser(server.url)
            try:
                document = browser.page("/appliance/dishwasher/runs")
            finally:
                browser.close()
            assert len(document.find_all("tr", data_run=True)) == 2
            assert document.by_id("runs-summary").text().startswith("2 runs:")
            # And says what it left out, and why that happens.
            assert document.by_id("runs-skipped").text().startswith("2 damaged lines of the history left out")
    finally:
        sim.stop()


@contextlib.contextmanager
def tmpfs(directory: Path, options: str):
    """A tmpfs mounted at `directory`; the test is skipped when this host does not let it mount one."""
    directory.mkdir()
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)], capture_output=True,
                                 text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"no tmpfs for this test: mount cannot run here ({exc}); the file size limit test covers a short write")
    if mounted.returncode != 0:
        pytest.skip(f"no tmpfs for this test: mount says {mounted.stderr.strip()!r} (it needs root or CAP_SYS_ADMIN); "
                    "the file size limit test covers a short write")  # fmt: skip
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], capture_output=True, timeout=10)


def fill(directory: Path) -> Path:
    """A file that takes every byte left on `directory`'s file system."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as handle, contextlib.suppress(OSError):
        while handle.write(b"x" * 512):
            pass
    return filler


def test_a_full_disk_keeps_every_whole_run_readable(tmp_path, caplog):
    with tmpfs(tmp_path / "small", "size=64k,mode=0700") as small:
        store = RunStore(small / "runs", "dishwasher")
        store.append(RECORD)
        filler = fill(small)
        appended, failure = 1, None
        for _ in range(20):  # what is left of the history's last page, then the disk is full
            try:
                store.append(RECORD)
            except OSError as exc:
                failure = exc
                break
            appended += 1
        assert failure is not None and failure.errno == errno.ENOSPC, failure
        assert store.history_path.stat().st_size == appended * LINE  # nothing of the line that did not fit
        assert store.history() == [RECORD.to_json()] * appended and store.skipped == 0
        # The recorder on that full disk: one line says so, whatever number of runs.
        clock = Clock()
        kitchen = Kitchen(parse_profile(*profile_files(DISHWASHER)), small / "runs", clock)
        caplog.set_level(logging.INFO, logger="hcpy.runs.dishwasher")
        three_runs(kitchen, clock, ECO)
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "No space left on device" in errors[0] and "free space" in errors[0], errors
        filler.unlink()
        store.append(RECORD)
        assert store.history() == [RECORD.to_json()] * (appended + 1) and store.skipped == 0


# -- a runs folder that cannot be written: said once, not four times a run ------------------------------------


def test_a_runs_folder_that_cannot_be_written_is_said_once(profile, tmp_path, caplog):
    runs = tmp_path / "runs"
    runs.write_text("a file where the runs folder should be")  # root may write anywhere: this stops even root
    caplog.set_level(logging.INFO, logger="hcpy.runs.dishwasher")
    clock = Clock()
    kitchen = Kitchen(profile, runs, clock)
    three_runs(kitchen, clock)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and str(runs) in errors[0], errors  # was 4 a run: 12
    finished = [r.getMessage() for r in caplog.records if "the run of" in r.getMessage() and "finished after" in r.getMessage()]
    assert len(finished) == 3  # recorded all the same (on MQTT)
    assert kitchen.retained_run()["ended"] == "finished"


def test_a_read_only_runs_folder_is_said_once_and_again_when_it_works(profile, tmp_path, caplog):
    with tmpfs(tmp_path / "ro", "ro,size=64k") as readonly:
        caplog.set_level(logging.INFO, logger="hcpy.runs.dishwasher")
        clock = Clock()
        kitchen = Kitchen(profile, readonly / "runs", clock)
        three_runs(kitchen, clock)
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "Read-only file system" in errors[0] and "read-only" in errors[0].split(":")[-1], errors
        remount = subprocess.run(["mount", "-o", "remount,rw", str(readonly)], capture_output=True, text=True, timeout=10)
        assert remount.returncode == 0, remount.stderr
        kitchen = Kitchen(profile, readonly / "runs", clock)
        three_runs(kitchen, clock)
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == errors
        assert len(kitchen.records()) == 3


# -- a kill at each step of recording a run: recorded once -----------------------------------------------------

STEPS = ("before_append", "mid_append", "after_append", "mid_state", "after_state")


class KilledStore(RunStore):
    """hc2mqtt's store, whose process is killed (SIGKILL) at `step` of recording a run of QUICK."""

    def __init__(self, directory, name, step):
        super().__init__(directory, name)
        self.step = step
        self.appended = False

    def append(self, record):
        if record.program == QUICK and self.step == "before_append":
            die()
        if record.program == QUICK and self.step == "mid_append":
            line = (json.dumps(record.to_json()) + "\n").encode()
            with self.history_path.open("ab", buffering=0) as handle:
                handle.write(line[: len(line) // 2])
            die()
        super().append(record)
        self.appended = record.program == QUICK
        if self.appended and self.step == "after_append":
            die()

    def write(self, text):
        if self.appended and self.step == "mid_state":
            # As write_private leaves it when killed between its temporary file and the rename.
            fd, _ = tempfile.mkstemp(prefix=f".{self.state_path.name}.", suffix=".tmp", dir=self.directory)
            os.write(fd, text[: len(text) // 2].encode())
            die()
        super().write(text)
        if self.appended and self.step == "after_state":
            die()


def die():
    os.kill(os.getpid(), signal.SIGKILL)


KILLED_RUN = r"""
import sys
from pathlib import Path
from hcpy.appliance.profile_xml import parse_profile
from support import DISHWASHER, profile_files
from test_runs import ECO, OP, QUICK
from test_runs_faults import Clock, Kitchen, KilledStore, at_rest, recorded
runs, step = Path(sys.argv[1]), sys.argv[2]
clock = Clock()
kitchen = Kitchen(parse_profile(*profile_files(DISHWASHER)), runs, clock, store=KilledStore(runs, "dishwasher", step))
at_rest(kitchen)
kitchen.start(ECO, remaining=1800)
clock.t = 1800
kitchen.reports((OP, "Finished"))
kitchen.reports((OP, "Ready"))
recorded(kitchen, 1)
clock.t = 3600
kitchen.start(QUICK, remaining=1800)
clock.t = 5400
kitchen.reports((OP, "Finished"))  # the store kills this process at its step
kitchen.stop()
print("not killed")
"""


@pytest.mark.parametrize("step", STEPS)
def test_a_run_is_recorded_once_wherever_hc2mqtt_is_killed(profile, tmp_path, step):
    runs = tmp_path / "runs"
    killed = child(KILLED_RUN, runs, step)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stdout, killed.stderr)
    left = list(runs.glob(".dishwasher.json.*.tmp"))  # what the kill left
    assert bool(left) == (step == "mid_state")

    # hc2mqtt again, later; the dishwasher is found at rest.
    clock = Clock()
    clock.t = 9000
    kitchen = Kitchen(profile, runs, clock)
    assert [p for p in left if p.exists()] == []  # removed at start
    at_rest(kitchen)
    kitchen.stop()
    assert sorted(p.name for p in runs.iterdir()) == ["dishwasher.json", "dishwasher.jsonl"]  # nothing else left
    records = kitchen.records()
    assert [r["program"] for r in records] == [ECO, QUICK], records  # each once
    quick = records[-1]
    if step in ("before_append", "mid_append"):
        # Its end was never written: it ended while hc2mqtt was down; the dishwasher's report places its end.
        assert (quick["ended"], quick["bridge_restarted"], quick["end_seen"]) == ("unknown", True, False)
        assert (quick["end"], quick["duration_s"]) == (iso(T0 + 5400), 1800)
    else:
        assert (quick["ended"], quick["end_seen"], quick["energy_estimate_kwh"]) == ("finished", True, 1.2)
    assert kitchen.recorder.store.skipped == (1 if step == "mid_append" else 0)
    kept = state_file(kitchen)
    assert kept["last"] == quick and kept["active"] is None and kept["totals"]["runs"] == 2
    assert kitchen.retained_run() == quick  # T/run ends on the run, not on an empty duplicate


# -- a run that ended while hc2mqtt could not see ----------------------------------------------------------------


def test_a_run_that_ended_while_hc2mqtt_was_down_ends_where_the_appliance_said(profile, tmp_path):
    clock = Clock()
    kitchen = Kitchen(profile, tmp_path / "runs", clock)
    at_rest(kitchen)
    kitchen.start(ECO, remaining=1800)
    clock.t = 600
    kitchen.reports((REMAINING, 2100))  # the program takes longer than first said: it ends at 2700
    eventually(lambda: kept_remaining_at(kitchen) == T0 + 600, what="the new end kept")
    clock.t = 660
    kitchen.reports((REMAINING, 2040))  # the same end: no write for it
    kitchen.stop()  # hc2mqtt stops (or is killed) during the run

    clock.t = 7200  # back two hours later: the dishwasher is at rest
    kitchen = Kitchen(profile, tmp_path / "runs", clock)
    at_rest(kitchen)
    kitchen.stop()
    (record,) = kitchen.records()
    assert (record["ended"], record["end_seen"], record["bridge_restarted"]) == ("unknown", False, True)
    assert (record["end"], record["duration_s"]) == (iso(T0 + 2700), 2700)  # was the reconnect: 7200
    assert record["end_reason"] == (
        "it ended while hc2mqtt could not see it: the end is where the appliance's last report "
        f"(35 min remaining at {iso(T0 + 600)}) put it"
    )
    # It ran to the end the appliance gave it: the forecast stands.
    assert (record["energy_estimate_kwh"], record["water_estimate_l"]) == (1.2, 10.0)


def test_a_run_that_ended_unseen_without_a_report_has_no_duration(profile, tmp_path):
    clock = Clock()
    kitchen = Kitchen(profile, tmp_path / "runs", clock)
    at_rest(kitchen)
    kitchen.start(ECO)  # this appliance says nothing of its remaining time
    clock.t = 600
    kitchen.connect(**{OP: "Ready", ACTIVE: 0})  # the connection was lost; back, the run is over
    kitchen.stop()
    (record,) = kitchen.records()
    assert (record["end"], record["duration_s"], record["end_seen"]) == (iso(T0 + 600), None, False)
    assert record["end_reason"].startswith("it ended while hc2mqtt could not see it, at the latest when hc2mqtt noticed")
    assert record["end_reason"].endswith("(the appliance reported no remaining time)")
    assert (record["energy_estimate_kwh"], record["water_estimate_l"]) == (None, None)
    assert record["energy_estimate_reason"].startswith("it is not known whether the run went to its end")


def test_an_end_the_appliance_put_after_the_reconnect_is_no_end(profile, tmp_path):
    clock = Clock()
    kitchen = Kitchen(profile, tmp_path / "runs", clock)
    at_rest(kitchen)
    kitchen.start(ECO, remaining=3600)
    clock.t = 600  # found over long before its end: aborted or switched off meanwhile, nobody knows when
    kitchen.connect(**{OP: "Ready", ACTIVE: 0})
    kitchen.stop()
    (record,) = kitchen.records()
    assert (record["end"], record["duration_s"]) == (iso(T0 + 600), None)
    assert record["end_reason"].endswith(f"(the appliance's last report put its end at {iso(T0 + 3600)})")
    assert record["energy_estimate_kwh"] is None


# -- an aborted run: no whole forecast ---------------------------------------------------------------------------


@pytest.mark.parametrize("ending, how, said", [((OP, "Aborting"), "aborted", "aborted"), ((POWER, "Off"), "switched_off", "switched off")])
def test_a_run_that_did_not_go_to_its_end_is_not_credited_the_forecast(profile, tmp_path, ending, how, said):
    clock = Clock()
    kitchen = Kitchen(profile, tmp_path / "runs", clock)
    at_rest(kitchen)
    kitchen.start(ECO, remaining=8100)
    clock.t = 22
    kitchen.reports(ending)
    kitchen.stop()
    (record,) = kitchen.records()
    assert (record["ended"], record["duration_s"], record["energy_forecast_percent"]) == (how, 22, 60)
    assert (record["energy_estimate_kwh"], record["water_estimate_l"]) == (None, None)  # was 1.2 kWh and 10 L
    assert record["energy_estimate_reason"] == (
        f"the run was {said} after 22 s: the appliance's forecast is for the whole program, "
        "and a program does not use it evenly over its time"
    )
    totals = state_file(kitchen)["totals"]
    assert (totals["runs"], totals["energy_kwh"], totals["energy_runs"]) == (1, 0.0, 0)


def test_a_record_written_before_these_fields_still_reads():
    old = RECORD.to_json()
    for key in ("end_reason", "energy_estimate_reason", "water_estimate_reason"):
        del old[key]
    assert type(RECORD).from_json(old) == RECORD


def test_an_absurd_remaining_time_is_no_report(profile, tmp_path):
    clock = Clock()
    kitchen = Kitchen(profile, tmp_path / "runs", clock)
    at_rest(kitchen)
    kitchen.start(ECO, remaining=1800)
    clock.t = 600
    kitchen.reports((REMAINING, 10**400))  # no float can hold it: it must not end the appliance's thread
    kitchen.reports((REMAINING, 1e300))  # a float, but an end past what a date can say
    kitchen.stop()

    clock.t = 7200
    kitchen = Kitchen(profile, tmp_path / "runs", clock)
    at_rest(kitchen)
    kitchen.stop()
    (record,) = kitchen.records()
    # The end is where the last sensible report put it.
    assert (record["end"], record["duration_s"]) == (iso(T0 + 1800), 1800)
