"""The MQTT topic layout, in one place (DESIGN.md, MQTT interface).

Compatible with hcpy2-0: `P` is the prefix (default ``homeconnect/``, its
trailing slash included), `T` = `P` + the appliance name with non-ASCII
characters dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..appliance.entry import clean_name

DEFAULT_PREFIX = "homeconnect/"
ONLINE = "online"
OFFLINE = "offline"

# Command topics: suffix of T -> what it does.
SET = "set"
ACTIVE_PROGRAM = "activeProgram"
SELECTED_PROGRAM = "selectedProgram"
COMMANDS = (SET, ACTIVE_PROGRAM, SELECTED_PROGRAM)


def bridge_lwt(prefix: str) -> str:
    return f"{prefix}LWT"


@dataclass(frozen=True)
class Topics:
    prefix: str
    name: str  # the appliance name as configured

    @property
    def appliance(self) -> str:
        """The name as topics (and Home Assistant unique_ids) carry it: ASCII only."""
        return clean_name(self.name)

    @property
    def base(self) -> str:
        return self.prefix + self.appliance

    @property
    def lwt(self) -> str:
        return f"{self.base}/LWT"

    @property
    def bridge_lwt(self) -> str:
        return bridge_lwt(self.prefix)

    @property
    def json_state(self) -> str:
        return f"{self.base}/state"

    def state(self, key: str) -> str:
        return f"{self.base}/state/{key}"

    def event(self, key: str) -> str:
        return f"{self.base}/event/{key}"

    def command(self, suffix: str) -> str:
        return f"{self.base}/{suffix}"

    @property
    def response(self) -> str:
        return f"{self.base}/response"
