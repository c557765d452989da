"""The message envelope every Home Connect frame carries (PROTOCOL.md §2)."""

from __future__ import annotations

import json
import json.scanner
import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ..errors import ProtocolError


class Action(str, Enum):
    GET = "GET"
    POST = "POST"
    NOTIFY = "NOTIFY"
    RESPONSE = "RESPONSE"


@dataclass(slots=True)
class Message:
    sID: int
    msgID: int
    resource: str
    version: int = 1
    action: Action = Action.GET
    data: list[dict[str, Any]] | None = None
    code: int | None = None

    @property
    def service(self) -> str:
        """The first path segment (`ro` for `/ro/values`): it picks the version."""
        return self.resource.strip("/").split("/", 1)[0]

    def to_json(self) -> str:
        # Key order as the appliances send it; compact, and never edited as
        # text afterwards (strings may hold quotes and apostrophes).
        obj: dict[str, Any] = {
            "sID": self.sID,
            "msgID": self.msgID,
            "resource": self.resource,
            "version": self.version,
            "action": self.action.value,
        }
        if self.data is not None:
            obj["data"] = self.data
        if self.code is not None:
            obj["code"] = self.code
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Message:
        """Parse and check one received message; raises ProtocolError.

        Every appliance message passes here, so the checks are written out
        rather than delegated: exact types (a bool is no id), finite numbers
        only (NaN and 1e400 are not JSON), data a list of objects.
        """
        try:
            if not isinstance(text, str):
                text = text.decode("utf-8")
            if text[:1] in _WHITESPACE:
                text = text.lstrip(_WHITESPACE)  # what json.loads would skip
            obj, end = _SCAN(text, 0)
        except StopIteration as stop:  # what the scanner raises where no value starts
            raise ProtocolError(f"received a frame that is not JSON: no value at character {stop.value}") from None
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, the hooks' refusals
            raise ProtocolError(f"received a frame that is not JSON: {exc}") from None
        except RecursionError:  # nested deeper than the C scanner goes
            raise ProtocolError("received a frame nested too deeply to read") from None
        if end != len(text) and text[end:].strip():
            raise ProtocolError(f"received a frame that is not JSON: extra data at character {end}")
        if type(obj) is not dict:
            raise ProtocolError("received a JSON frame that is not an object")
        try:
            action = _ACTIONS[obj["action"]]
            sid, msg_id, resource = obj["sID"], obj["msgID"], obj["resource"]
            version, code, data = obj.get("version", 1), obj.get("code"), obj.get("data")
        except (KeyError, TypeError) as exc:
            raise ProtocolError(f"received a message with a missing or invalid field: {exc!r}") from None
        if type(sid) is not int or type(msg_id) is not int or type(version) is not int:
            for name, number in (("sID", sid), ("msgID", msg_id), ("version", version)):
                if type(number) is not int:
                    raise ProtocolError(f"received a message whose {name} {number!r} is not an integer")
        if code is not None and type(code) is not int:
            raise ProtocolError(f"received a message whose code {code!r} is not an integer")
        if data is not None:
            if type(data) is not list:
                raise ProtocolError("message data is not a list of objects")
            for item in data:
                if type(item) is not dict:
                    raise ProtocolError("message data is not a list of objects")
        return cls(sid, msg_id, resource if type(resource) is str else str(resource), version, action, data, code)

    def reply(self, data: list[dict[str, Any]] | None = None, code: int | None = None) -> Message:
        """The RESPONSE to this message, echoing its ids, resource and version."""
        return Message(self.sID, self.msgID, self.resource, self.version, Action.RESPONSE, data, code)


def _no_constants(name: str) -> Any:
    # NaN and Infinity are not JSON; Python's json would let them through.
    raise ValueError(f"{name} is not a JSON value")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e400
        raise ValueError(f"{text} is out of range")
    return number


# One decoder for every message (json.loads(text, **hooks) builds a new one per
# call), and its scanner called directly: the C code, without raw_decode's frame.
_DECODER = json.JSONDecoder(parse_constant=_no_constants, parse_float=_finite)
# typeshed types make_scanner's argument as a make_scanner; it reads a decoder's hooks.
_SCAN = json.scanner.make_scanner(_DECODER)  # type: ignore[arg-type]
_ACTIONS = {action.value: action for action in Action}
_WHITESPACE = " \t\n\r"
