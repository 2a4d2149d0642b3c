"""Human renderings shared by the commands (rich): the verify report, wide tables, ages and dates.

Every string that came from a file or the network is escaped for rich's markup (``rich.markup.escape``) and
made safe for a terminal (:func:`wheelhouse._text.safe`) before it is printed: :func:`text` does both.
"""

from __future__ import annotations

import datetime
import re
from typing import TYPE_CHECKING, Any

from wheelhouse import _log
from wheelhouse._text import plural, safe

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from wheelhouse.cli._common import State
    from wheelhouse.resolve.resolver import Gap
    from wheelhouse.resolve.verify import VerifyReport

MAX_REJECTED_SHOWN = 8
# Spaces a table pads its last column with, before any closing colour codes of the line.
_TRAILING_SPACES = re.compile(r" +(?=(?:\x1b\[[0-9;]*m)*$)", re.MULTILINE)


def text(value: object) -> str:
    """``value`` as rich markup that prints it literally: no markup of its own, no control characters."""
    from rich.markup import escape

    return escape(safe(str(value)))


def print_wide(state: State, renderable: Any) -> None:
    """Print a table whole: folded to the window on a terminal, never cut short nor padded when piped or captured."""
    from rich.measure import Measurement

    out = state.console
    if out.is_terminal:
        out.print(renderable)
        return
    # Without a terminal rich assumes 80 columns and would fold file names and hashes; print at natural width,
    # without the spaces that pad every line to the widest one.
    natural = Measurement.get(out, out.options.update_width(100_000), renderable).maximum
    saved = out.width
    out.width = max(saved, natural)
    try:
        with out.capture() as captured:
            out.print(renderable)
    finally:
        out.width = saved
    out.file.write(_TRAILING_SPACES.sub("", captured.get()))


def human_age(seconds: float) -> str:
    """A coarse age: ``just now``, ``5 minutes``, ``1 hour``, ``3 days``, ``2 months``, ``1 year``."""
    seconds = max(0.0, seconds)
    # (unit, its length, from when it is used): "45 days" reads better than "1 month", so months start at 60 days.
    for unit, length, start in (
        ("year", 365 * 86400, 365 * 86400),
        ("month", 30 * 86400, 60 * 86400),
        ("day", 86400, 86400),
        ("hour", 3600, 3600),
        ("minute", 60, 60),
    ):
        if seconds >= start:
            return plural(int(seconds // length), unit)
    return "just now"


def iso_time(timestamp: float | None) -> str | None:
    """A timestamp as ISO 8601 in UTC (for JSON), None for none."""
    if not timestamp:
        return None
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc).isoformat(timespec="seconds")


def local_date(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def render_verify(state: State, report: VerifyReport) -> None:
    """Per target: covered or not with the pinned count; each gap with chain, rejected files and the fix."""
    out = state.console
    for problem in report.problems:
        _log.warning(f"{report.wheels_dir}/{problem.filename}: {problem.reason}")
    for res in report.resolutions:
        t = res.target
        head = f"[bold]{t.name}[/] ({t.docker_platform}, CPython {t.python_full_version})"
        if res.covered:
            out.print(f"[green]✓[/] {head}: covered, {len(res.pins)} pinned")
            if state.verbose:
                for pin in res.pins:
                    out.print(f"    {text(pin.name)}=={text(pin.version)}  {text(pin.dist.filename)}")
            continue
        gaps = plural(len(res.gaps), "gap")
        out.print(f"[red]✗[/] {head}: [red]not covered[/], {len(res.pins)} pinned, {gaps}")
        for gap in res.gaps:
            _render_gap(state, gap)
        out.print(f"  [bold]fix:[/] {text(report.fix_command(t))}")
    total = len(report.resolutions)
    good = sum(r.covered for r in report.resolutions)
    if total > 1:
        colour = "green" if good == total else "red"
        out.print(f"[{colour}]{good} of {total} targets covered[/]")


def _render_gap(state: State, gap: Gap) -> None:
    from wheelhouse.resolve.resolver import format_chain

    out = state.console
    out.print(f"  [red]•[/] [bold]{text(gap.requirement)}[/]: {text(gap.summary)}")
    for chain in gap.chains[:5]:
        out.print(f"      needed by: {text(format_chain(chain))}")
    if len(gap.chains) > 5:
        out.print(f"      … and {plural(len(gap.chains) - 5, 'more chain')}")
    for rej in gap.rejected[:MAX_REJECTED_SHOWN]:
        out.print(f"      rejected {text(rej.filename)}: {text(rej.reason)}")
    if len(gap.rejected) > MAX_REJECTED_SHOWN:
        out.print(f"      … and {plural(len(gap.rejected) - MAX_REJECTED_SHOWN, 'more file')} rejected")


class TransientProgress:
    """A transient rich progress bar on a terminal's stderr; silent otherwise. Also a ``CheckReporter``."""

    def __init__(self, state: State, label: str, enabled: bool) -> None:
        self.state = state
        self.label = label
        self.enabled = enabled and state.err_is_terminal
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> TransientProgress:
        if self.enabled:
            from rich.progress import Progress

            self._progress = Progress(console=self.state.err, transient=True)
            self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, done: int, total: int) -> None:
        if self._progress is None:
            return
        if self._task is None:
            self._task = self._progress.add_task(self.label, total=total)
        self._progress.update(self._task, completed=done, total=total)

    def checked(self, filename: str, done: int, total: int) -> None:
        self.update(done, total)

    def fixing(self, filename: str) -> None:
        _log.info(f"fixing {filename}")
