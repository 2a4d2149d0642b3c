"""The one way wheelhouse runs another program (pip, the Docker client): a :class:`Runner` that takes an argv,
an exact environment, where the output goes and a timeout, and returns a :class:`RunResult`.

Contract: every subprocess runs through a ``Runner`` passed in by the caller, so tests swap it for a fake that
checks the exact argv and environment without running anything. The program gets no standard input (a prompt
would hang a download) and exactly the environment given. Whether a program worked is judged from its exit
status and the files it left, never by parsing its output; the output is kept only to be quoted. A timeout
counts as exit status 124, as ``timeout(1)`` reports it. A program that does not exist raises
``FileNotFoundError`` (``PermissionError`` when it cannot be run), so the caller can say which one is missing.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

__all__ = ["CAPTURE", "TERMINAL", "TIMEOUT_STATUS", "Output", "RunResult", "Runner", "subprocess_runner"]

CAPTURE: Literal["capture"] = "capture"
TERMINAL: Literal["terminal"] = "terminal"
# Where a program's standard output and error go: returned in the result (``capture``), straight to this
# process's terminal (``terminal``, for a build the user watches), or appended to a log file (a path).
Output = Literal["capture", "terminal"] | Path
TIMEOUT_STATUS = 124


@dataclass(frozen=True)
class RunResult:
    """What a finished program returned; ``stdout`` and ``stderr`` are empty unless its output was captured."""

    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def output(self) -> str:
        """Standard output then standard error, for quoting in a message."""
        return self.stdout + self.stderr

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Runner(Protocol):
    """Runs one program to its end."""

    def __call__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        output: Output = CAPTURE,
        timeout: float | None = None,
    ) -> RunResult:
        """Run ``argv`` with exactly ``env``, its output going to ``output``; stop it after ``timeout`` seconds.

        Raises ``FileNotFoundError`` when the program does not exist.
        """
        ...


def subprocess_runner(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    output: Output = CAPTURE,
    timeout: float | None = None,
) -> RunResult:
    """The real runner: ``subprocess.run`` with no input."""
    stopped = f"no answer within {timeout or 0:.0f} s"
    if isinstance(output, Path):
        output.parent.mkdir(parents=True, exist_ok=True)
        with open(output, "ab") as log:
            try:
                logged = subprocess.run(
                    list(argv),
                    env=dict(env),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                log.write(f"\nwheelhouse: stopped after {timeout or 0:.0f} s\n".encode())
                return RunResult(TIMEOUT_STATUS, "", stopped)
        return RunResult(logged.returncode)
    try:
        proc = subprocess.run(
            list(argv),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=output == CAPTURE,
            # Output is only quoted, so a program that writes bytes of another encoding must not stop the run.
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return RunResult(TIMEOUT_STATUS, "", stopped)
    return RunResult(proc.returncode, proc.stdout or "", proc.stderr or "")
