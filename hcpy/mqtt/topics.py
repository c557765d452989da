"""The MQTT topic layout, in one place (DESIGN.md, MQTT interface).

Compatible with hcpy2-0: `P` is the prefix (default ``homeconnect/``, its
trailing slash included), `T` = `P` + the appliance name with non-ASCII
characters dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from ..appliance.entry import clean_name

DEFAULT_PREFIX = "homeconnect/"
ONLINE = "online"
OFFLINE = "offline"
# The control "start the selected program", which is no feature of its own.
START_SELECTED_KEY = "start_selected_program"


class Layout(StrEnum):
    """Where per-feature values go: the topic layout each fork's users subscribe to.

    Commands, responses and LWT topics are the same in all of them.
    """

    # T/state/<key>, events on T/event/<key>, the summary on T, JSON on T/state.
    HCPY = "hcpy2-0"
    # osresearch's hc2mqtt published its summary on T/state: hcpy2-0's layout,
    # with the summary where that script put it.
    OSRESEARCH = "osresearch"
    # The publishing-modes fork: T/<Key>/value (events too, as values), the
    # JSON object on T/state, Homie attributes beside the values.
    PUBLISHING_MODES = "publishing-modes"


class CommandTopic(StrEnum):
    """The suffixes of T that take commands (hcpy2-0's names)."""

    SET = "set"
    ACTIVE_PROGRAM = "activeProgram"
    SELECTED_PROGRAM = "selectedProgram"


def bridge_lwt(prefix: str) -> str:
    return f"{prefix}LWT"


@dataclass(frozen=True)
class Topics:
    """One appliance's topics; each is worked out once (they are on every publish)."""

    prefix: str
    name: str  # the appliance name as configured

    @cached_property
    def appliance(self) -> str:
        """The name as topics (and Home Assistant unique_ids) carry it: ASCII only."""
        return clean_name(self.name)

    @cached_property
    def base(self) -> str:
        return self.prefix + self.appliance

    @cached_property
    def lwt(self) -> str:
        return f"{self.base}/LWT"

    @cached_property
    def bridge_lwt(self) -> str:
        return bridge_lwt(self.prefix)

    @cached_property
    def json_state(self) -> str:
        return f"{self.base}/state"

    def state(self, key: str) -> str:
        return f"{self.base}/state/{key}"

    def value(self, level: str) -> str:
        """A value in the publishing-modes layout: T/<Key>/value."""
        return f"{self.base}/{level}/value"

    def event(self, key: str) -> str:
        return f"{self.base}/event/{key}"

    def available(self, key: str) -> str:
        """Whether a control can be used now: `online` / `offline`, as Home Assistant's availability reads it."""
        return f"{self.base}/available/{key}"

    def command(self, suffix: CommandTopic) -> str:
        return f"{self.base}/{suffix}"

    @cached_property
    def commands(self) -> list[str]:
        """Every topic this appliance takes commands on."""
        return [self.command(suffix) for suffix in CommandTopic]

    @cached_property
    def response(self) -> str:
        return f"{self.base}/response"
