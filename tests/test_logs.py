"""Bounded quotes and rate-limited warnings (hcpy/logs.py), on a clock the test turns."""

from __future__ import annotations

import logging

from hcpy.logs import Throttle, excerpt


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_excerpt_bounds_what_it_quotes_without_rendering_it_all():
    assert excerpt("short") == "'short'"
    long = excerpt("A" * 1_000_000)
    assert len(long) < 120 and long.endswith("…(1,000,000 long)")
    assert excerpt(list(range(100_000))) == "[0, 1, 2, 3, 4, 5, 6, 7, ...]"
    assert len(excerpt(["A" * 1_000_000] * 16)) < 120
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    assert excerpt(deep) == "[[[[[...]]]]]"
    assert excerpt(b"\xff" * 10) == repr(b"\xff" * 10)


def test_a_flood_is_logged_a_few_times_then_counted(caplog):
    clock = Clock()
    throttle = Throttle(logging.getLogger("hcpy.test"), burst=3, window=60, clock=clock)
    with caplog.at_level(logging.WARNING):
        sent = [throttle.warning(("unknown",), "unknown uid %d", n) for n in range(1000)]
        assert sent.count(True) == 3 and [r.getMessage() for r in caplog.records] == [
            "unknown uid 0", "unknown uid 1", "unknown uid 2"]  # fmt: skip
        # Another kind has its own budget.
        assert throttle.warning(("garbage",), "garbage")
        clock.now = 61
        assert throttle.warning(("unknown",), "unknown uid %d", 1000)
    assert caplog.records[-1].getMessage() == "unknown uid 1000 (and 997 more like it in the last 60 s, not logged)"


def test_distinct_kinds_cannot_grow_it_without_bound():
    clock = Clock()
    throttle = Throttle(logging.getLogger("hcpy.test"), burst=1, window=60, kinds=100, clock=clock)
    for n in range(10_000):
        throttle.warning(("uid", n), "x")
    assert len(throttle._seen) <= 100
