"""The chaos soak's pure parts (bench.chaos): its verdicts, figures and matching can fail."""

from __future__ import annotations

import base64
import math

import pytest

from bench.chaos.answers import Answers
from bench.chaos.measures import LogStats, Window, lost_updates, percentile
from bench.chaos.secrets import count_in, secret_forms
from bench.chaos.targets import TARGETS, judge


def test_every_target_has_a_figure_that_misses_it_and_none_passes_unmeasured():
    for target in TARGETS:
        failing = target.limit + 1 if target.at_most else target.limit - 1
        assert not target.passes(failing), target.key
        assert target.passes(target.limit), target.key
        assert not target.passes(None) and not target.passes(math.nan), target.key
    assert not any(v.passed for v in judge({}))


def test_a_figure_for_no_target_is_an_error():
    with pytest.raises(KeyError):
        judge({"no such target": (0, "")})


def test_updates_in_a_fault_window_are_not_promised_and_others_are_counted_one_by_one():
    sent = [(0, 1, 1.0), (0, 2, 2.0), (0, 3, 3.0), (1, 1, 2.0)]
    seen = {0: {1}, 1: set()}
    checked, lost, examples = lost_updates(sent, seen, [Window(0, 1.5, 2.5)], until=10.0)
    assert (checked, lost) == (3, 2)
    assert examples == [(0, 3, 3.0), (1, 1, 2.0)]


def test_p99_is_the_nearest_rank():
    assert percentile(list(range(1, 101)), 0.99) == 99
    assert percentile([5.0], 0.99) == 5.0
    assert math.isnan(percentile([], 0.99))


def test_log_stats_count_tracebacks_at_any_level_and_size_only_info_and_above():
    text = (
        b"2026-01-01 00:00:00,000 DEBUG hcpy: received " + b"x" * 5000 + b"\n"
        b"2026-01-01 00:00:00,001 DEBUG hcpy: failed\nTraceback (most recent call last):\n  File x\n"
        b"2026-01-01 00:00:00,002 WARNING hcpy: short\n"
    )
    stats = LogStats.of(text)
    assert stats.tracebacks == 1
    assert stats.warnings == 1
    assert stats.info_lines == 1
    assert stats.longest_info_line < 100


def test_secrets_are_found_in_every_encoding():
    raw = bytes(range(32))
    forms = secret_forms(raw)
    for shown in (raw, raw.hex().encode(), raw.hex().upper().encode(), base64.b64encode(raw),
                  base64.urlsafe_b64encode(raw).rstrip(b"=")):  # fmt: skip
        assert count_in(b"before " + shown + b" after", sorted(forms)) >= 1
    assert count_in(b"nothing here", sorted(forms)) == 0


def test_answers_are_matched_by_transaction_not_by_appliance():
    answers = Answers()
    answers.expect("cmd-1", "kind", "chaos/a")
    answers.expect("cmd-2", "kind", "chaos/a")
    answers.add("chaos/a/response", b'{"status": "error", "code": 400}')  # no transaction: matches nothing
    answers.add("chaos/b/response", b'{"status": "error", "transaction": "cmd-1"}')  # another appliance's
    answers.add("chaos/a/response", b'{"status": "error", "transaction": "cmd-9"}')  # no command of ours
    assert answers.answered("cmd-") == 0
    assert (answers.wrong_appliance, answers.foreign, len(answers.without)) == (1, 1, 1)
    answers.add("chaos/a/response", b'{"status": "error", "request": "{\\"transaction\\": \\"cmd-2\\"}"}')
    assert answers.answered("cmd-") == 1 and answers.by_echo == 1
