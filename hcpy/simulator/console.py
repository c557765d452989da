"""What a user does by hand at a real appliance, typed at the simulator's console.

A real dishwasher only starts from the app once someone pressed its Remote
Start button and closed its door; the simulator needs the same hands.
`parse()` is pure; `Console` reads lines from a stream in a thread and
applies them to the running simulators. Standard input that is closed or
not a terminal (systemd, docker, CI) simply ends the console.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TextIO

from .server import Simulator

log = logging.getLogger("hcpy.simulator")

HELP = """commands (add an appliance name to act on one appliance only):
  door open|close      open or close the door
  remote on|off        allow or forbid starting programs remotely (the Remote Start button)
  power on|off         switch on, or to standby
  state                show each appliance's operation state, program and remaining time
  help                 this text"""

# verb -> (the words it takes, the Simulator method, the argument for each word)
_ACTIONS: dict[str, tuple[str, dict[str, bool]]] = {
    "door": ("set_door", {"close": True, "closed": True, "open": False}),
    "remote": ("allow_remote_start", {"on": True, "off": False}),
    "power": ("set_power", {"on": True, "off": False}),
}


@dataclass(frozen=True)
class Typed:
    verb: str  # door, remote, power, state, help
    on: bool | None = None
    names: tuple[str, ...] = ()  # empty: every appliance


class ConsoleError(ValueError):
    pass


def parse(line: str, known: Iterable[str]) -> Typed | None:
    """One typed line as a command; None for an empty line; ConsoleError says what is wrong."""
    words = line.split()
    if not words:
        return None
    verb, rest = words[0].lower(), words[1:]
    names = tuple(w for w in rest if w in set(known))
    others = [w.lower() for w in rest if w not in names]
    if verb in ("state", "help"):
        if others:
            raise ConsoleError(f"{verb} takes only appliance names, not {' '.join(others)!r}")
        return Typed(verb, names=names)
    if verb not in _ACTIONS:
        raise ConsoleError(f"unknown command {verb!r}; type help")
    _, words_for = _ACTIONS[verb]
    if len(others) != 1 or others[0] not in words_for:
        raise ConsoleError(f"{verb} takes one of {', '.join(words_for)} and optionally appliance names ({', '.join(known)})")
    return Typed(verb, words_for[others[0]], names)


class Console:
    def __init__(self, sims: list[Simulator], stream: TextIO, out: Callable[[str], None] = print):
        self.sims = sims
        self.stream = stream
        self.out = out
        self._thread = threading.Thread(target=self._run, name="sim-console", daemon=True)

    def start(self) -> Console:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for line in self.stream:
                self.apply(line)
        except (OSError, ValueError):  # stdin closed under us
            pass

    def apply(self, line: str) -> None:
        try:
            typed = parse(line, [s.name for s in self.sims])
        except ConsoleError as exc:
            self.out(str(exc))
            return
        if typed is None:
            return
        chosen = [s for s in self.sims if not typed.names or s.name in typed.names]
        if typed.verb == "help":
            self.out(HELP)
            return
        if typed.verb == "state":
            for sim in chosen:
                self.out(f"{sim.name}: {sim.app.summary()}")
            return
        method, _ = _ACTIONS[typed.verb]
        for sim in chosen:
            getattr(sim, method)(typed.on)
            self.out(f"{sim.name}: {sim.app.summary()}")
