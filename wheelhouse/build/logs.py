"""Build logs: one file per build in ``wheels/.wheelhouse/logs/``, begun with the command, and the last lines of
a failed one for the message.

Contract: a log starts with the argv that ran; that argv holds no credentials, because index settings reach pip
only through its environment (``build.pip_options``).
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Sequence
from pathlib import Path

__all__ = ["LOG_TAIL_LINES", "append_log", "log_tail", "start_log"]

# How many lines of a failed build's log are shown; the rest is in the log file.
LOG_TAIL_LINES = 15


def log_tail(log: Path, lines: int = LOG_TAIL_LINES) -> tuple[str, ...]:
    """The last non-blank lines of ``log`` (read from its last 64 kB), or nothing when it cannot be read."""
    try:
        with open(log, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ()
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return tuple(kept[-lines:])


def start_log(log: Path, argv: Sequence[str], note: str = "") -> None:
    """Begin a fresh log with ``note`` and the command."""
    log.parent.mkdir(parents=True, exist_ok=True)
    header = f"$ {shlex.join(argv)}\n"
    if note:
        header = f"# {note}\n{header}"
    log.write_text(header, encoding="utf-8")


def append_log(log: Path, line: str) -> None:
    """Add a line to a build's log (what wheelhouse did between the programs it ran); a log that cannot be
    written is no reason to fail the build."""
    with contextlib.suppress(OSError), open(log, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
