"""Drive a real Home Assistant from a check: start it, own it, look inside it.

A small harness for end-to-end checks of hcpy against Home Assistant (HA),
meant for a CI step of its own (see .ci/home_assistant), not for pytest.

    ha = HomeAssistant(config_dir, hass=venv / "bin" / "hass", port=free_port())
    try:
        ha.start()                 # writes configuration.yaml, runs hass, waits for HTTP
        ha.onboard()               # owner user + long-lived token (ha.token)
        ha.wait_running()
        ha.add_mqtt(broker_port)   # MQTT integration via its config flow
        with ha.watch() as changes:
            ha.call_service("select", "select_option", {...})
            changes.wait_for("select.x", "y")
        print(ha.states(), ha.entity_registry(), ha.mqtt_problems())
    finally:
        ha.stop()

Everything talks to 127.0.0.1 only. REST goes through `requests`, the
websocket API through `websocket-client` (one short connection per command,
one long one per Recorder).

Home Assistant 2025.4 notes that shaped this:
- hass runs with --skip-pip: nothing is installed at runtime, so the venv must
  already hold the requirements of every integration HA sets up. HA always
  sets up its "default integrations" (frontend, backup, person, ...) whatever
  configuration.yaml says; "frontend" is critical (without the
  home-assistant-frontend package HA falls back to recovery mode, which has
  no API), and "mqtt" needs paho-mqtt==2.1.0. .ci/home_assistant installs them.
- The HTTP server answers early, while integrations are still being set up;
  `wait_running()` waits for the core state RUNNING.
- Onboarding: only the "user" step is needed for API access. POST
  /api/onboarding/users (no auth) returns an auth code for `client_id`; the
  code is exchanged at /auth/token for a short-lived access token, which
  then asks the websocket API for a long-lived one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import requests
import websocket  # websocket-client
from processes import Process  # noqa: F401  (checks/processes.py; check.py imports it from here)

LOOPBACK = "127.0.0.1"


class HomeAssistantError(RuntimeError):
    """HA did not start, refused a request or did not get where we waited for."""


# --------------------------------------------------------------------------
# Log file


@dataclass(frozen=True)
class LogRecord:
    """One record of home-assistant.log; `message` includes continuation lines (tracebacks)."""

    time: str
    level: str  # DEBUG, INFO, WARNING, ERROR, CRITICAL
    logger: str
    message: str

    def __str__(self) -> str:
        return f"{self.level} [{self.logger}] {self.message}"


# "2025-04-20 10:00:00.123 WARNING (MainThread) [homeassistant.components.mqtt] text"
_LOG_LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) "
    r"(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) "
    r"\((?P<thread>[^)]*)\) \[(?P<logger>[^\]]+)\] (?P<message>.*)$"
)
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


def parse_log(text: str) -> list[LogRecord]:
    """Records of an HA log; lines that do not start a record continue the previous one."""
    records: list[LogRecord] = []
    current: dict[str, str] | None = None
    extra: list[str] = []

    def flush() -> None:
        if current is not None:
            message = "\n".join([current["message"], *extra]).rstrip()
            records.append(LogRecord(current["time"], current["level"], current["logger"], message))

    for line in text.splitlines():
        match = _LOG_LINE.match(line)
        if match:
            flush()
            current, extra = match.groupdict(), []
        elif current is not None:
            extra.append(line)
    flush()
    return records


# --------------------------------------------------------------------------
# Websocket API


class _Websocket:
    """One authenticated connection to HA's websocket API (not thread-safe)."""

    def __init__(self, url: str, token: str, timeout: float = 10.0):
        self.conn = websocket.create_connection(url, timeout=timeout)
        self._next_id = 1
        hello = json.loads(self.conn.recv())
        if hello.get("type") != "auth_required":
            raise HomeAssistantError(f"websocket: expected auth_required, got {hello}")
        self.conn.send(json.dumps({"type": "auth", "access_token": token}))
        answer = json.loads(self.conn.recv())
        if answer.get("type") != "auth_ok":
            raise HomeAssistantError(f"websocket: authentication failed: {answer}")

    def send(self, type_: str, **payload: Any) -> int:
        """Send a command; its id, to match the answer."""
        msg_id = self._next_id
        self._next_id += 1
        self.conn.send(json.dumps({"id": msg_id, "type": type_, **payload}))
        return msg_id

    def command(self, type_: str, **payload: Any) -> Any:
        """Send a command and return its result (raise on an error answer)."""
        msg_id = self.send(type_, **payload)
        while True:
            answer = json.loads(self.conn.recv())
            if answer.get("id") != msg_id or answer.get("type") != "result":
                continue  # events of other subscriptions
            if not answer.get("success"):
                raise HomeAssistantError(f"websocket {type_}: {answer.get('error')}")
            return answer.get("result")

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken socket is fine
            self.conn.close()


# --------------------------------------------------------------------------
# state_changed recorder


@dataclass(frozen=True)
class StateChange:
    """One state_changed event as the recorder received it."""

    entity_id: str
    old: dict[str, Any] | None  # the full old state object, None when the entity appeared
    new: dict[str, Any] | None  # the full new state object, None when it was removed
    at: float  # time.monotonic() when it arrived

    @property
    def state(self) -> str | None:
        """The new state's value ("on", "Run", "unavailable", ...), None if removed."""
        return self.new["state"] if self.new else None

    @property
    def old_state(self) -> str | None:
        return self.old["state"] if self.old else None


class Recorder:
    """Records HA's state_changed events in a background thread (own websocket).

    Use as a context manager or call start()/stop(). `changes` grows while it
    runs; `mark()` + `since=` let a check look only at what came after a step.
    """

    def __init__(self, ws_url: str, token: str, entity_ids: Iterable[str] | None = None):
        self._url, self._token = ws_url, token
        self._only = set(entity_ids) if entity_ids is not None else None
        self.changes: list[StateChange] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._ws: _Websocket | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> Recorder:
        """Subscribe and return once HA confirmed the subscription."""
        self._thread = threading.Thread(target=self._run, name="ha-recorder", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise HomeAssistantError("recorder: no subscription confirmation from HA")
        if self._error is not None:
            raise HomeAssistantError(f"recorder: {self._error}") from self._error
        return self

    def _run(self) -> None:
        try:
            self._ws = _Websocket(self._url, self._token)
            self._ws.command("subscribe_events", event_type="state_changed")
            self._ws.conn.settimeout(0.5)  # so that stop() is noticed
            self._ready.set()
            while not self._stop.is_set():
                try:
                    raw = self._ws.conn.recv()
                except websocket.WebSocketTimeoutException:
                    continue
                if not raw:
                    break
                msg = json.loads(raw)
                if msg.get("type") != "event":
                    continue
                data = msg["event"]["data"]
                entity_id = data["entity_id"]
                if self._only is not None and entity_id not in self._only:
                    continue
                change = StateChange(entity_id, data.get("old_state"), data.get("new_state"), time.monotonic())
                with self._cond:
                    self.changes.append(change)
                    self._cond.notify_all()
        except Exception as exc:  # noqa: BLE001 - reported through start()/wait_for()
            if not self._stop.is_set():
                self._error = exc
        finally:
            self._ready.set()
            with self._cond:
                self._cond.notify_all()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._ws is not None:
            self._ws.close()

    def __enter__(self) -> Self:
        return self if self._thread else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def mark(self) -> int:
        """Position in `changes` now; pass it as `since` to ignore older changes."""
        with self._cond:
            return len(self.changes)

    def of(self, entity_id: str, since: int = 0) -> list[StateChange]:
        """The changes of one entity, oldest first."""
        with self._cond:
            return [c for c in self.changes[since:] if c.entity_id == entity_id]

    def states(self, entity_id: str, since: int = 0) -> list[str | None]:
        """The sequence of states one entity went through, e.g. ["Inactive", "Run", "Finished"]."""
        return [c.state for c in self.of(entity_id, since)]

    def wait_for(
        self,
        entity_id: str,
        state: str | Callable[[StateChange], bool],
        timeout: float = 30.0,
        since: int = 0,
    ) -> StateChange:
        """The first change of `entity_id` (after `since`) to `state`, or matching a predicate."""
        test = state if callable(state) else (lambda c: c.state == state)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for change in self.changes[since:]:
                    if change.entity_id == entity_id and test(change):
                        return change
                if self._error is not None:
                    raise HomeAssistantError(f"recorder stopped: {self._error}")
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [c.state for c in self.changes[since:] if c.entity_id == entity_id]
                    raise HomeAssistantError(f"{entity_id} did not reach {state!r} in {timeout}s; went through {seen}")
                self._cond.wait(left)


# --------------------------------------------------------------------------
# Other processes and the broker


def retained_messages(
    port: int, topic_filter: str, quiet: float = 1.0, timeout: float = 15.0, host: str = LOOPBACK
) -> dict[str, bytes]:
    """The non-empty retained messages under `topic_filter` now, by topic.

    Subscribes with a fresh client and collects until no message came for
    `quiet` seconds (the broker sends retained messages right after SUBACK).
    """
    import paho.mqtt.client as paho  # only the checks that need it pay for the import

    found: dict[str, bytes] = {}
    last = [time.monotonic()]
    subscribed = threading.Event()
    lock = threading.Lock()

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        with lock:
            if message.retain and message.payload:
                found[message.topic] = bytes(message.payload)
            last[0] = time.monotonic()

    def on_subscribe(*args: Any) -> None:
        last[0] = time.monotonic()
        subscribed.set()

    client = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2)
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.on_connect = lambda c, *a: c.subscribe(topic_filter, qos=1)
    client.connect(host, port)
    client.loop_start()
    try:
        if not subscribed.wait(timeout):
            raise RuntimeError(f"no SUBACK for {topic_filter} from the broker on port {port}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with lock:
                if time.monotonic() - last[0] >= quiet:
                    break
            time.sleep(0.05)
        with lock:
            return dict(found)
    finally:
        client.loop_stop()
        client.disconnect()


# --------------------------------------------------------------------------
# Home Assistant


class HomeAssistant:
    """A Home Assistant of our own: config dir, process, owner user, token, MQTT entry."""

    USERNAME = "hcpy-ci"
    PASSWORD = "hcpy-ci-password"  # a throwaway instance on loopback

    def __init__(self, config_dir: Path, hass: Path, port: int):
        self.config_dir = Path(config_dir)
        self.hass = Path(hass)
        self.port = port
        self.base_url = f"http://{LOOPBACK}:{port}"
        self.ws_url = f"ws://{LOOPBACK}:{port}/api/websocket"
        self.log_file = self.config_dir / "home-assistant.log"
        self.console_file = self.config_dir / "hass.console.log"  # stdout/stderr of hass
        self.token: str | None = None  # long-lived access token, after onboard()
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at: float | None = None  # time.monotonic() at Popen
        self.http_seconds: float | None = None  # Popen -> HTTP answers
        self.running_seconds: float | None = None  # Popen -> core state RUNNING seen
        self.mqtt_entry_id: str | None = None
        self._session = requests.Session()
        self._recorders: list[Recorder] = []

    # -- configuration and process -------------------------------------

    def write_config(self) -> None:
        """A minimal configuration.yaml: no default_config, only what the checks need.

        HA still sets up its built-in default integrations (frontend, person,
        backup, ...): bootstrap does that regardless of this file.
        """
        self.config_dir.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "configuration.yaml").write_text(
            f"""\
homeassistant:
  name: hcpy check
  time_zone: UTC
  unit_system: metric
  country: DE
  latitude: 0
  longitude: 0
  elevation: 0

http:
  server_host: {LOOPBACK}
  server_port: {self.port}

api:
websocket_api:
config:

logger:
  default: warning
  logs:
    homeassistant.components.mqtt: warning
    # "Home Assistant initialized in ...s"
    homeassistant.bootstrap: info
"""
        )

    def start(self, timeout: float = 120.0) -> float:
        """Write the config, run hass and wait until its HTTP server answers; seconds it took."""
        self.write_config()
        console = self.console_file.open("wb")
        self.started_at = time.monotonic()
        argv = [str(self.hass), "--config", str(self.config_dir), "--log-file", str(self.log_file), "--log-no-color"]
        argv.append("--skip-pip")  # never install packages at runtime (.ci/home_assistant did)
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our SIGTERM only, not the terminal's Ctrl-C
        )
        console.close()
        deadline = self.started_at + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise HomeAssistantError(f"hass exited with {self.process.returncode}:\n{self._tail()}")
            try:
                # The one API view that answers without authentication.
                if self._session.get(f"{self.base_url}/api/onboarding", timeout=2).ok:
                    self.http_seconds = time.monotonic() - self.started_at
                    return self.http_seconds
            except requests.RequestException:
                pass
            time.sleep(0.25)
        raise HomeAssistantError(f"HA's HTTP server did not answer within {timeout}s:\n{self._tail()}")

    def wait_running(self, timeout: float = 120.0) -> float:
        """Wait until HA's core state is RUNNING (all set up); seconds since Popen."""
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            state = self.get("/api/config").get("state")
            if state == "RUNNING":
                assert self.started_at is not None
                self.running_seconds = time.monotonic() - self.started_at
                return self.running_seconds
            time.sleep(0.25)
        raise HomeAssistantError(f"HA still {state} after {timeout}s")

    def initialized_seconds(self) -> float | None:
        """HA's own "Home Assistant initialized in X s" from its log, if it logged it yet."""
        for record in self.log_records():
            match = re.match(r"Home Assistant initialized in ([\d.]+)s", record.message)
            if match:
                return float(match.group(1))
        return None

    def stop(self, timeout: float = 20.0) -> int | None:
        """Stop recorders, then hass: SIGTERM, SIGKILL after `timeout` - 5 s. Its exit code."""
        for recorder in self._recorders:
            recorder.stop()
        self._recorders.clear()
        self._session.close()
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(max(timeout - 5, 1))
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # hass and anything it spawned
                self.process.wait(5)
        return self.process.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _tail(self, lines: int = 40) -> str:
        text = ""
        for path in (self.console_file, self.log_file):
            if path.exists():
                text += f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text

    # -- onboarding and auth ---------------------------------------------

    def onboard(self, name: str = "hcpy CI") -> str:
        """Create the owner user and a long-lived access token (also kept in self.token)."""
        client_id = f"{self.base_url}/"
        answer = self._session.post(
            f"{self.base_url}/api/onboarding/users",
            json={
                "client_id": client_id,
                "name": name,
                "username": self.USERNAME,
                "password": self.PASSWORD,
                "language": "en",
            },
            timeout=30,
        )
        self._check(answer, "onboarding: create user")
        tokens = self._session.post(
            f"{self.base_url}/auth/token",
            data={"grant_type": "authorization_code", "code": answer.json()["auth_code"], "client_id": client_id},
            timeout=10,
        )
        self._check(tokens, "auth: exchange the code")
        ws = _Websocket(self.ws_url, tokens.json()["access_token"])
        try:
            self.token = ws.command("auth/long_lived_access_token", lifespan=30, client_name="hcpy-ci")
        finally:
            ws.close()
        self._session.headers["Authorization"] = f"Bearer {self.token}"
        return self.token

    # -- REST and websocket --------------------------------------------

    @staticmethod
    def _check(response: requests.Response, what: str) -> None:
        if not response.ok:
            raise HomeAssistantError(f"{what}: HTTP {response.status_code} {response.text[:2000]}")

    def get(self, path: str, **params: Any) -> Any:
        """GET an API path ("/api/states"), decoded JSON."""
        response = self._session.get(f"{self.base_url}{path}", params=params or None, timeout=30)
        self._check(response, f"GET {path}")
        return response.json()

    def post(self, path: str, data: Any = None, timeout: float = 30.0) -> Any:
        """POST JSON to an API path, decoded JSON (None if the body is empty)."""
        response = self._session.post(f"{self.base_url}{path}", json=data, timeout=timeout)
        self._check(response, f"POST {path}")
        return response.json() if response.content else None

    def ws_command(self, type_: str, **payload: Any) -> Any:
        """One websocket command on a fresh connection; its result."""
        if self.token is None:
            raise HomeAssistantError("no token yet: call onboard() first")
        ws = _Websocket(self.ws_url, self.token)
        try:
            return ws.command(type_, **payload)
        finally:
            ws.close()

    def states(self) -> dict[str, dict[str, Any]]:
        """All current states by entity_id (state objects as GET /api/states gives them)."""
        return {s["entity_id"]: s for s in self.get("/api/states")}

    def state(self, entity_id: str) -> dict[str, Any] | None:
        """One entity's state object, None if HA has no state for it."""
        response = self._session.get(f"{self.base_url}/api/states/{entity_id}", timeout=30)
        if response.status_code == 404:
            return None
        self._check(response, f"GET state of {entity_id}")
        return response.json()

    def entity_registry(self) -> list[dict[str, Any]]:
        """Entity registry entries (entity_id, unique_id, platform, disabled_by, device_id, ...)."""
        return self.ws_command("config/entity_registry/list")

    def device_registry(self) -> list[dict[str, Any]]:
        return self.ws_command("config/device_registry/list")

    def call_service(self, domain: str, service: str, data: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
        """Call a service over REST; HA answers once it ran, with the states it changed.

        A service HA rejects (bad option, unknown entity) raises HomeAssistantError with HA's message.
        """
        path = f"/api/services/{domain}/{service}"
        response = self._session.post(f"{self.base_url}{path}", json=data or {}, timeout=timeout)
        if not response.ok:
            # HA 2025.4 answers a ServiceValidationError (e.g. an option a select does not have)
            # with a bare HTTP 500; the reason is only in its log, so quote the newest error.
            errors = self.problems("ERROR")
            reason = errors[-1].message.splitlines()[-1] if errors else ""
            raise HomeAssistantError(f"POST {path}: HTTP {response.status_code} {response.text[:500]!r}; HA's last error: {reason}")
        return response.json()

    def call_service_ws(self, domain: str, service: str, data: dict[str, Any] | None = None) -> Any:
        """Call a service over the websocket API: errors come back with HA's own message.

        "service_data" is `data`; pass {"entity_id": ...} in it as over REST.
        """
        return self.ws_command("call_service", domain=domain, service=service, service_data=data or {})

    def watch(self, entity_ids: Iterable[str] | None = None) -> Recorder:
        """A started Recorder of state_changed events (all entities, or only `entity_ids`)."""
        if self.token is None:
            raise HomeAssistantError("no token yet: call onboard() first")
        recorder = Recorder(self.ws_url, self.token, entity_ids).start()
        self._recorders.append(recorder)  # stop() stops it at the latest
        return recorder

    # -- MQTT integration ------------------------------------------------

    def add_mqtt(self, broker_port: int, broker: str = LOOPBACK, timeout: float = 60.0) -> str:
        """Add the MQTT integration through its config flow and wait until it is loaded; entry_id.

        Discovery stays on with HA's default prefix "homeassistant".
        """
        flow = self.post("/api/config/config_entries/flow", {"handler": "mqtt", "show_advanced_options": False})
        if flow.get("type") != "form" or flow.get("step_id") != "broker":
            raise HomeAssistantError(f"mqtt config flow: expected the broker form, got {flow}")
        result = self.post(
            f"/api/config/config_entries/flow/{flow['flow_id']}",
            {"broker": broker, "port": broker_port},
        )
        if result.get("type") != "create_entry":
            raise HomeAssistantError(f"mqtt config flow: no entry created: {result}")
        entry_id = result["result"]["entry_id"]
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            entries = self.get("/api/config/config_entries/entry", domain="mqtt")
            state = next((e["state"] for e in entries if e["entry_id"] == entry_id), None)
            if state == "loaded":
                self.mqtt_entry_id = entry_id
                return entry_id
            if state in ("setup_error", "migration_error", "failed_unload"):
                break
            time.sleep(0.25)
        raise HomeAssistantError(f"mqtt config entry {entry_id} is {state}, not loaded:\n{self._tail()}")

    # -- log -----------------------------------------------------------------

    def log_records(self) -> list[LogRecord]:
        """home-assistant.log as records (level, logger, message)."""
        if not self.log_file.exists():
            return []
        return parse_log(self.log_file.read_text(errors="replace"))

    def problems(self, min_level: str = "WARNING") -> list[LogRecord]:
        """All records at `min_level` or above."""
        floor = _LEVELS[min_level]
        return [r for r in self.log_records() if _LEVELS[r.level] >= floor]

    def mqtt_problems(self, min_level: str = "WARNING") -> list[LogRecord]:
        """Warnings and errors whose logger or text mentions MQTT."""
        return [r for r in self.problems(min_level) if "mqtt" in r.logger.lower() or "mqtt" in r.message.lower()]
