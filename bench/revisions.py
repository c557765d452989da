"""Other revisions of hcpy, checked out beside this one to be run on the same rig."""

from __future__ import annotations

import compileall
import shutil
import subprocess
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Tree:
    """One hcpy checkout whose hc2mqtt.py is measured."""

    label: str
    root: Path


def checkout(rev: str, stack: ExitStack) -> Tree:
    """REV in a temporary git worktree, removed again at the end."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--verify", "--short", f"{rev}^{{commit}}"],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
    except subprocess.CalledProcessError:
        raise SystemExit(f"--against: {rev!r} is not a revision of this repository") from None
    where = Path(tempfile.mkdtemp(prefix=f"hcpy-bench-{commit}-"))
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(where), commit], cwd=ROOT, check=True)
    stack.callback(remove_worktree, where)
    return Tree(commit, where)


def remove_worktree(where: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(where)], cwd=ROOT, check=False)
    shutil.rmtree(where, ignore_errors=True)


def byte_compile(tree: Tree) -> None:
    # An installed hcpy has its .pyc files after the first start; measure that,
    # not the compiler (PYTHONDONTWRITEBYTECODE may be set here).
    compileall.compile_dir(tree.root / "hcpy", quiet=1)
