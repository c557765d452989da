"""The message envelope every Home Connect frame carries (PROTOCOL.md §2)."""

from __future__ import annotations

import json
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


@dataclass
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
    def from_json(cls, text: str | bytes) -> "Message":
        try:
            obj = json.loads(text, parse_constant=_no_constants, parse_float=_finite)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProtocolError(f"received a frame that is not JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise ProtocolError("received a JSON frame that is not an object")
        try:
            action = Action(obj["action"])
            data = obj.get("data")
            if data is not None and not (isinstance(data, list) and all(isinstance(d, dict) for d in data)):
                raise ProtocolError("message data is not a list of objects")
            code = obj.get("code")
            return cls(
                sID=_int(obj["sID"]),
                msgID=_int(obj["msgID"]),
                resource=str(obj["resource"]),
                version=_int(obj.get("version", 1)),
                action=action,
                data=data,
                code=None if code is None else _int(code),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ProtocolError(f"received a message with a missing or invalid field: {exc!r}") from None

    def reply(self, data: list[dict[str, Any]] | None = None, code: int | None = None) -> "Message":
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


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not an integer")
    return value
