"""The MQTT messages of one appliance's runs. Pure.

Topics (T is the appliance's base topic), all retained JSON:

- ``T/run``: the last finished run (`record.RunRecord`);
- ``T/run/active``: the run under way, an empty retained message when none;
- ``T/run/totals``: energy_kwh, water_l and the runs counted so far.

Their Home Assistant entities are `hcpy.homeassistant.run_entities`'.
"""

from __future__ import annotations

import json
from typing import Any

from .outgoing import Outgoing

RUN, ACTIVE, TOTALS = "run", "run/active", "run/totals"


def run_topic(base: str, what: str = RUN) -> str:
    return f"{base}/{what}"


def payload(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def state_messages(
    base: str, last: dict[str, Any] | None, active: dict[str, Any] | None, totals: dict[str, Any]
) -> list[Outgoing]:
    """Every retained run topic as it stands (after a (re)connect)."""
    out = [Outgoing(run_topic(base, TOTALS), payload(totals))]
    if last is not None:
        out.append(Outgoing(run_topic(base, RUN), payload(last)))
    out.append(Outgoing(run_topic(base, ACTIVE), payload(active) if active is not None else ""))
    return out


def finished_messages(base: str, record: dict[str, Any], totals: dict[str, Any]) -> list[Outgoing]:
    """A run ended: the totals, its record, and no run under way."""
    return [
        Outgoing(run_topic(base, TOTALS), payload(totals)),
        Outgoing(run_topic(base, RUN), payload(record)),
        Outgoing(run_topic(base, ACTIVE), ""),
    ]
