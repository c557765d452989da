"""Exceptions of hcpy, each carrying a sentence a user can act on."""

from __future__ import annotations

from collections.abc import Sequence

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


class ConnectError(HcpyError):
    """The connection to the appliance could not be opened."""


class KeyRejected(ConnectError):
    """hcpy and the appliance do not share the key (or IV): the TLS-PSK
    handshake failed, or the first AES frame did not authenticate."""


class ConnectionClosed(HcpyError):
    """The connection to the appliance is gone (closed, timed out or broken)."""


class NotConnected(HcpyError):
    """A command arrived while the appliance is offline."""


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


class CloudError(HcpyError):
    """The Home Connect cloud could not be reached or refused a request.

    `status` is the HTTP status when the cloud answered one, so callers can
    tell an expired login (401) from one missing appliance (404).
    """

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class StepFailed(HcpyError):
    """A step of adding appliances (hc-login, the console's /add) that changed nothing.

    One sentence saying what to do, and the problems behind it (one per file
    or appliance), which the console lists under the sentence.
    """

    def __init__(self, sentence: str, problems: Sequence[str] = ()):
        super().__init__(sentence)
        self.problems = list(problems)


class ProfileImportError(HcpyError):
    """A profile zip or folder could not be imported."""


class ProfileError(HcpyError):
    """A profile file (DeviceDescription / FeatureMapping) cannot be read at all."""


class DevicesFileError(HcpyError):
    """devices.json cannot be read or written; the message names file, appliance and field."""


class ConfigError(HcpyError):
    """config.ini or a devices.json "hc2mqtt" block has a bad key or value; the message names both."""
