"""Child processes for the heavy checks (checks/home_assistant, checks/browser): started, fed, ended.

Standard library only: both checks run it with their own venv's Python.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path


def child_env() -> dict[str, str]:
    """The environment for hcpy's processes: no HCPY_* settings from outside, unbuffered logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HCPY_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Process:
    """A child process (simulator, hc2mqtt) logging to a file; stop() always ends it.

    With stdin_pipe=True, `type()` writes lines to its stdin (the simulator's
    console: "door close dishwasher", "remote on").
    """

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_file: Path,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        stdin_pipe: bool = False,
    ):
        self.name, self.argv, self.log_file = name, argv, Path(log_file)
        self.cwd, self.env, self.stdin_pipe = cwd, env, stdin_pipe
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        # Appended: a restarted process keeps what it logged before.
        with self.log_file.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.PIPE if self.stdin_pipe else subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.process.returncode if self.process else None

    def type(self, line: str) -> None:
        """Write one line to the process's stdin (needs stdin_pipe=True)."""
        if self.process is None or self.process.stdin is None:
            raise RuntimeError(f"{self.name} has no stdin pipe")
        self.process.stdin.write(line.rstrip("\n").encode() + b"\n")
        self.process.stdin.flush()

    def output(self) -> str:
        """Everything it logged so far."""
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL (its whole process group) after `timeout`; the exit code."""
        if self.process is None:
            return None
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        return self.process.returncode
