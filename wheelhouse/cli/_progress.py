"""What long transfers look like on a terminal, for downloads and uploads alike: one bar per file in flight and a
total with bytes, speed and time left; and the plain line that stands in for it in a log or a pipe.

The commands' reporters receive the core's hooks (``file_started``, ``file_progress``, ...) from worker threads and
call these methods; every method here is safe to call from any thread.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import click

from wheelhouse._text import redact, safe

if TYPE_CHECKING:
    from rich.console import Console


def echo(line: str) -> None:
    """One line on stderr, outside rich: names and reasons from an index, a server or a build log made
    terminal-safe, credentials of any URL redacted."""
    click.echo(safe(redact(line)), err=True)


def short(filename: str, width: int = 40) -> str:
    """A file name cut to ``width`` characters for a bar's label."""
    return filename if len(filename) <= width else filename[: width - 1] + "…"


class TransferBars:
    """Bars for files moving in either direction, plus a total. Nothing is drawn before :meth:`start`."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}", justify="left"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._lock = threading.Lock()
        self._tasks: dict[str, Any] = {}
        self._moved: dict[str, int] = {}
        self._total: Any = None
        self._started = False

    def start(self, total_bytes: int) -> None:
        """Show the display, with a total bar of ``total_bytes`` (unknown when 0)."""
        self.progress.start()
        self._started = True
        self._total = self.progress.add_task("[bold]total", total=total_bytes or None)

    def begin(self, filename: str, size: int | None, label: str) -> None:
        """A bar for ``filename``, labelled ``label`` (already escaped for rich)."""
        with self._lock:
            self._tasks[filename] = self.progress.add_task(label, total=size)

    def advance(self, filename: str, done: int) -> None:
        """``done`` bytes of ``filename`` have moved."""
        with self._lock:
            task = self._tasks.get(filename)
            if task is not None:
                self.progress.update(task, completed=done)
            self._moved[filename] = done
            if self._total is not None:
                self.progress.update(self._total, completed=sum(self._moved.values()))

    def finish(self, filename: str) -> None:
        """Remove ``filename``'s bar (its bytes stay in the total)."""
        with self._lock:
            task = self._tasks.pop(filename, None)
            if task is not None:
                self.progress.remove_task(task)

    def print(self, markup: str) -> None:
        """A line above the bars (rich markup; escape what came from a file or the network)."""
        self.progress.console.print(markup, highlight=False)

    def stop(self) -> None:
        if self._started:
            self.progress.stop()
