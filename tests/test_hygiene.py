"""No test pauses for a fixed time: each waits for a fact (issue 18).

A sleep passes on a fast machine and fails on a slow one, or, worse, a
"nothing happened" check that only waited passes on a slow machine when it
should fail. So tests wait for what they need (a SUBACK, a marker sent after
the thing that must not happen, a log line, a count) and this scan keeps
fixed pauses over PAUSE_LIMIT out of tests/: a sleep, an Event().wait(), or a
wait that is expected to run out (inside pytest.raises, or in a try whose
handler just passes).
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
PAUSE_LIMIT = 0.1  # seconds: a polling step, not a pause
WAITS = frozenset({"wait", "get", "join", "eventually", "wait_for", "wait_for_log", "wait_connected", "ended"})
WAITS_BY_DEFAULT = frozenset({"wait", "eventually", "wait_for", "wait_for_log"})  # they wait (seconds) when not told
SWALLOWED = frozenset({"AssertionError", "TimeoutError", "Empty"})


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _seconds(node: ast.AST | None) -> float | None:
    """The value of a numeric literal (constant arithmetic included); None for anything else."""
    if node is None:
        return None
    try:
        value = ast.literal_eval(node)
    except ValueError:
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Add)):
            left, right = _seconds(node.left), _seconds(node.right)
            if left is not None and right is not None:
                return left * right if isinstance(node.op, ast.Mult) else left + right
        return None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _timeout(call: ast.Call) -> ast.AST | None:
    for keyword in call.keywords:
        if keyword.arg == "timeout":
            return keyword.value
    numbers = [a for a in call.args if _seconds(a) is not None]
    return numbers[-1] if numbers else None


def _swallows(handler: ast.ExceptHandler) -> bool:
    caught = handler.type
    names = {_name(e) for e in caught.elts} if isinstance(caught, ast.Tuple) else {_name(caught)} if caught else set()
    return bool(names & SWALLOWED) and all(isinstance(s, ast.Pass) for s in handler.body)


def _expected_to_run_out(tree: ast.AST) -> list[ast.AST]:
    """Where a wait is meant to time out: pytest.raises bodies, try bodies whose handler passes, `assert not`."""
    bodies: list[ast.AST] = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.With) and any(
            isinstance(item.context_expr, ast.Call) and _name(item.context_expr.func) == "raises" for item in node.items
        )) or (isinstance(node, ast.Try) and any(_swallows(h) for h in node.handlers)):
            bodies += node.body
        elif isinstance(node, ast.Assert) and isinstance(node.test, ast.UnaryOp) and isinstance(node.test.op, ast.Not):
            bodies.append(node.test)  # assert not x.wait(1): the wait is meant to run out
    return bodies


def pauses(source: str, filename: str = "<test>") -> list[str]:
    """Every fixed pause over PAUSE_LIMIT in `source`, as 'file:line: what'."""
    tree = ast.parse(source, filename)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        if name == "sleep":
            seconds = _seconds(node.args[0]) if node.args else None
            if seconds is None or seconds > PAUSE_LIMIT:
                found.append((node.lineno, f"sleep({ast.unparse(node.args[0]) if node.args else ''})"))
        elif name == "wait" and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Call) \
                and _name(node.func.value.func) == "Event":  # fmt: skip
            found.append((node.lineno, "Event().wait(): a pause"))
    for body in _expected_to_run_out(tree):
        for node in ast.walk(body):
            if isinstance(node, ast.Call) and _name(node.func) in WAITS:
                timeout = _timeout(node)
                seconds = _seconds(timeout)
                by_default = timeout is None and _name(node.func) in WAITS_BY_DEFAULT
                if by_default or (seconds is not None and seconds > PAUSE_LIMIT):
                    found.append((node.lineno, f"{ast.unparse(node)[:80]}: a wait meant to run out is a pause"))
    return [f"{filename}:{line}: {what}" for line, what in sorted(set(found))]


def test_no_test_pauses_for_a_fixed_time():
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        found += pauses(path.read_text(encoding="utf-8"), str(path.relative_to(TESTS.parent)))
    advice = "wait for a fact instead (support.py: eventually, Subscriber.sync, wait_for_log):"
    assert found == [], "\n".join([advice, *found])


def test_the_scan_finds_each_kind_of_pause():
    source = '''
import queue, threading, time
import pytest

def test_slow(subscriber, q):
    time.sleep(0.05)               # a polling step: allowed
    time.sleep(0.3)                # 7
    time.sleep(2 * 1.5)            # 8
    time.sleep(delay)              # 9: unknown, so not allowed
    threading.Event().wait(1)      # 10
    with pytest.raises(queue.Empty):
        q.get(timeout=2)           # 12
    try:
        subscriber.wait("never/published", timeout=1.0)  # 14
    except AssertionError:
        pass
    subscriber.wait("published", timeout=10)  # a wait for a fact: allowed
    try:
        subscriber.wait("published", timeout=10)  # the handler does something: allowed
    except AssertionError:
        raise RuntimeError("no")
    assert not link.wait_connected(1)  # 22
    assert link.wait_connected(10)  # a wait for a fact: allowed
    with pytest.raises(AssertionError):
        eventually(lambda: q.empty())  # 25: its default timeout
'''
    assert [line.split(":")[1] for line in pauses(source)] == ["7", "8", "9", "10", "12", "14", "22", "25"]
