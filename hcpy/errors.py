"""Exceptions of hcpy, each carrying a sentence a user can act on."""

from __future__ import annotations

# Names of the error codes appliances answer with (PROTOCOL.md §4). A
# profile's own errorDescription list, when it has the code, takes precedence.
ERROR_CODE_NAMES: dict[int, str] = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    500: "InternalServerError",
    515: "Busy",
    531: "ValueOutOfRange",
    537: "RemoteControlNotActive",
    538: "RemoteStartNotActive",
    539: "LockedByLocalControl",
    541: "ProcessStateNotCompliant",
}


def error_code_name(code: int) -> str:
    return ERROR_CODE_NAMES.get(code, f"Error{code}")


class HcpyError(Exception):
    """Base of every error hcpy raises on purpose."""


class FrameError(HcpyError):
    """An AES frame was malformed or its MAC did not match."""


class ProtocolError(HcpyError):
    """A peer sent something that is not a valid Home Connect message."""


class ConnectionClosed(HcpyError):
    """The connection to the appliance is gone (closed, timed out or broken)."""


class RequestTimeout(HcpyError):
    """The appliance did not answer a request in time."""


class ApplianceError(HcpyError):
    """The appliance answered a request with an error code."""

    def __init__(self, resource: str, code: int, name: str | None = None, appliance: str = ""):
        self.resource = resource
        self.code = code
        self.name = name or error_code_name(code)
        self.appliance = appliance
        who = f"{appliance}: " if appliance else ""
        super().__init__(f"{who}the appliance refused {resource} with {code} {self.name}")
