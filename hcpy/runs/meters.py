"""Reading meters: the latest value of MQTT meters, and HTTP meters on demand.

An MQTT meter's topic is one hc2mqtt subscribes to; `MqttMeters.feed` keeps
the latest counter each message carries (paho's network thread), `read`
hands it out when a run starts or ends (the appliance's thread). An HTTP
meter is asked by `read_http`, from the run recorder's own worker thread,
never from an appliance's or paho's: a meter that does not answer costs its
timeout there and nowhere else.
"""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING

from .config import MeterSpec
from .readings import Reading, reading

if TYPE_CHECKING:
    import requests

_UNREACHABLE = "check that it is switched on and that this host reaches it at that address"


class MqttMeters:
    """The latest reading of each MQTT meter."""

    def __init__(self, specs: list[MeterSpec]):
        self._specs: dict[str, list[MeterSpec]] = {}
        for spec in specs:
            if spec.topic is not None:
                self._specs.setdefault(spec.topic, []).append(spec)
        self._latest: dict[MeterSpec, Reading] = {}
        self._problem: dict[MeterSpec, str] = {}
        self._lock = threading.Lock()

    @property
    def topics(self) -> list[str]:
        return list(self._specs)

    def feed(self, topic: str, body: bytes) -> None:
        """A message on a meter's topic: its counter becomes the latest reading.

        A message without the counter (a meter may publish other things on
        the same topic) leaves the latest reading as it was.
        """
        for spec in self._specs.get(topic, ()):
            found = reading(spec, body)
            with self._lock:
                if found.value is not None:
                    self._latest[spec] = found
                    self._problem.pop(spec, None)
                else:
                    self._problem[spec] = found.reason or "no value"

    def read(self, spec: MeterSpec) -> Reading:
        with self._lock:
            latest = self._latest.get(spec)
            problem = self._problem.get(spec)
        if latest is not None:
            return latest
        why = f"nothing on {spec.topic} yet" + (f" with a counter (the last message {problem})" if problem else "")
        return Reading.missing(why, f"check that the meter publishes there (a Tasmota: lower TelePeriod), with {spec.path_text or 'a plain number'}")


def session() -> requests.Session:
    """What HTTP meters are asked with: meters are on the local network, so no proxy from the environment."""
    import requests  # here: only HTTP meters need it, and it costs megabytes of memory

    s = requests.Session()
    s.trust_env = False
    return s


def read_http(spec: MeterSpec, http: requests.Session | None = None) -> Reading:
    """Ask an HTTP meter for its counter, waiting at most its timeout."""
    import requests

    if spec.url is None:  # an MQTT meter, read elsewhere
        return Reading.missing("no URL to ask")
    http = http or session()
    try:
        response = http.get(spec.url, timeout=spec.timeout, headers={"Accept": "application/json"})
    except requests.Timeout:
        return Reading.missing(f"did not answer within {spec.timeout:g} s", _UNREACHABLE)
    except requests.ConnectionError as exc:
        if isinstance(_root(exc), socket.gaierror):
            return Reading.missing(f"could not be reached ({_cause(exc)})", "check the host name in its URL: it does not resolve")
        return Reading.missing(f"could not be reached ({_cause(exc)})", _UNREACHABLE)
    except requests.RequestException as exc:
        return Reading.missing(f"could not be asked ({_cause(exc)})", "check its URL")
    with response:
        if response.status_code != 200:
            return Reading.missing(f"answered HTTP {response.status_code} {response.reason or ''}".rstrip(), "check its URL")
        return reading(spec, response.content)


def _root(exc: BaseException) -> BaseException:
    seen = {id(exc)}
    while exc.__context__ is not None and id(exc.__context__) not in seen:
        exc = exc.__context__
        seen.add(id(exc))
    return exc


def _cause(exc: BaseException) -> str:
    """The innermost reason of a requests error, short: "Connection refused", "Name or service not known"."""
    exc = _root(exc)
    text = str(exc.args[-1] if exc.args else exc) if isinstance(exc, OSError) else str(exc)
    text = text.split("] ", 1)[-1] if text.startswith("[Errno") else text
    return text[:120] or exc.__class__.__name__
