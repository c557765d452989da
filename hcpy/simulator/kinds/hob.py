"""A hob: it reports its state, and is switched on, off and run at the hob only.

The Home Connect API offers hobs no remote start (and no remote power
control): a program start from afar is refused whatever the appliance's
other settings say.
"""

from __future__ import annotations

from .life import Life


class HobLife(Life):
    no_remote_start = "a hob is operated at the hob only; it has no remote start"
