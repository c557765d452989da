"""The Home Assistant Supervisor's services API, asked for the MQTT broker: `mqtt_service()`.

Facts from the Supervisor (supervisor/api/services.py, api/utils.py,
services/modules/mqtt.py, api/middleware/security.py):

- an add-on reaches it at http://supervisor with its own token, the
  environment's SUPERVISOR_TOKEN, as `Authorization: Bearer <token>`;
- `GET /services/mqtt` answers `{"result": "ok", "data": {"host", "port",
  "ssl", "protocol", "username", "password", "addon"}}` (username and
  password only when the provider gave them; "app" instead of "addon" on the
  API's second version);
- errors come as `{"result": "error", "message": ...}`: 400 "Service not
  enabled" when no add-on provides MQTT, 403 "No access to mqtt service!"
  when config.yaml's `services` does not list mqtt; a token it does not know
  gets a bare 403, no token a bare 401;
- `/services.*` is open to every add-on's token without `hassio_api`: the
  access check is config.yaml's `services` alone.

urllib is imported only when the Supervisor is asked: a plain hc2mqtt run
never loads it (tests/test_loaded_modules.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

DEFAULT_URL = "http://supervisor"
URL_VARIABLE = "HCPY_SUPERVISOR_URL"  # for tests: a Supervisor of their own
TOKEN_VARIABLE = "SUPERVISOR_TOKEN"
TIMEOUT = 10.0
# What to do instead, said after every failure.
OR_SET_HOST = "or set the add-on option HCPY_MQTT_HOST to the broker's host"


@dataclass(frozen=True)
class MqttService:
    """The broker the Supervisor knows (the Mosquitto broker add-on, usually)."""

    host: str
    port: int
    ssl: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    provider: str = ""  # the add-on providing it, e.g. core_mosquitto


class SupervisorError(ConfigError):
    """The Supervisor could not say which broker to use, in a sentence saying what to do.

    `retry`: the Supervisor may answer later (it, or the broker's add-on, is
    still starting).
    """

    def __init__(self, sentence: str, retry: bool = False):
        super().__init__(sentence)
        self.retry = retry


def mqtt_service(env: Mapping[str, str], timeout: float = TIMEOUT) -> MqttService:
    """The Supervisor's MQTT service; SupervisorError when it cannot be had."""
    token = env.get(TOKEN_VARIABLE, "")
    if not token:
        raise SupervisorError(
            f"{TOKEN_VARIABLE} is not set, so hcpy is not running as a Home Assistant add-on and cannot ask the "
            f"Supervisor for the MQTT broker: set HCPY_MQTT_HOST to the broker's host"
        )
    url = env.get(URL_VARIABLE) or DEFAULT_URL
    status, body = _get(f"{url.rstrip('/')}/services/mqtt", token, timeout)
    return parse_answer(status, body, url)


def _get(url: str, token: str, timeout: float) -> tuple[int, bytes]:
    """The status and body of GET `url`; SupervisorError when no answer comes."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), bytes(exc.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise SupervisorError(
            f"cannot reach the Supervisor at {url} ({reason}) to ask for the MQTT broker; restart the add-on, "
            f"{OR_SET_HOST}",
            retry=True,
        ) from None


def parse_answer(status: int, body: bytes, url: str) -> MqttService:
    """The broker in the Supervisor's answer (`status`, `body`); SupervisorError saying what is wrong."""
    document = _json(body)
    message = _message(document)
    said = f" (it said: {message})" if message else ""
    if status in (401, 403) and "service" in message.lower():
        raise SupervisorError(
            f"the Supervisor gives this add-on no access to its MQTT service{said}: the add-on's config.yaml "
            f"must list mqtt in `services`; {OR_SET_HOST}"
        )
    if status in (401, 403):
        raise SupervisorError(
            f"the Supervisor refused this add-on's token (HTTP {status}){said}: restart the add-on; {OR_SET_HOST}"
        )
    if status in (400, 404) and isinstance(document, dict) and document.get("result") == "error":
        raise SupervisorError(
            f"the Supervisor has no MQTT service{said}: install and start the Mosquitto broker add-on, {OR_SET_HOST}",
            retry=True,
        )
    if document is None:
        raise SupervisorError(
            f"the Supervisor at {url} answered HTTP {status} with no JSON: is {url} the Supervisor? {OR_SET_HOST}"
        )
    if status != 200 or not isinstance(document, dict) or document.get("result") != "ok":
        raise SupervisorError(
            f"the Supervisor answered HTTP {status}{said} when asked for the MQTT broker; restart the add-on, "
            f"{OR_SET_HOST}",
            retry=status >= 500,
        )
    return _service(document.get("data"))


def _json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def _message(document: Any) -> str:
    message = document.get("message") if isinstance(document, dict) else None
    # Its own words, shortened: a page of HTML is no sentence.
    return " ".join(message.split())[:200] if isinstance(message, str) else ""


def _service(data: Any) -> MqttService:
    """The broker in the answer's data; SupervisorError naming what is missing or wrong (never the password)."""
    if not isinstance(data, dict):
        raise SupervisorError(f"the Supervisor's MQTT service has no data; {OR_SET_HOST}")
    host, port, ssl = data.get("host"), data.get("port"), data.get("ssl", False)
    username, password = data.get("username"), data.get("password")
    wrong = [
        name
        for name, ok in (
            ("host", isinstance(host, str) and host.strip() != ""),
            ("port", isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536),
            ("ssl", isinstance(ssl, bool)),
            ("username", username is None or isinstance(username, str)),
            ("password", password is None or isinstance(password, str)),
        )
        if not ok
    ]
    if wrong:
        raise SupervisorError(f"the Supervisor's MQTT service has no usable {', '.join(wrong)}; {OR_SET_HOST}")
    provider = data.get("addon", data.get("app", ""))
    return MqttService(
        host=str(host),
        port=int(port),  # type: ignore[arg-type]  # checked above
        ssl=bool(ssl),
        username=username or None,
        password=password or None,
        provider=provider if isinstance(provider, str) else "",
    )
