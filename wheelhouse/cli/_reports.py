"""Human renderings of core results (rich)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wheelhouse.resolve.resolver import Gap, format_chain

if TYPE_CHECKING:
    from wheelhouse.cli._common import State
    from wheelhouse.resolve.verify import VerifyReport

MAX_REJECTED_SHOWN = 8


def render_verify(state: State, report: VerifyReport) -> None:
    """Per target: covered or not with the pinned count; each gap with chain, rejected files and the fix."""
    from rich.markup import escape

    out = state.console
    for problem in report.problems:
        state.warn(f"{report.wheels_dir}/{problem.filename}: {problem.reason}")
    for res in report.resolutions:
        t = res.target
        head = f"[bold]{t.name}[/] ({t.docker_platform}, CPython {t.python_full_version})"
        if res.covered:
            out.print(f"[green]✓[/] {head}: covered, {len(res.pins)} pinned")
            if state.verbose:
                for pin in res.pins:
                    out.print(f"    {pin.name}=={pin.version}  {escape(pin.dist.filename)}")
            continue
        noun = "gap" if len(res.gaps) == 1 else "gaps"
        out.print(f"[red]✗[/] {head}: [red]not covered[/], {len(res.pins)} pinned, {len(res.gaps)} {noun}")
        for gap in res.gaps:
            _render_gap(state, gap)
        out.print(f"  [bold]fix:[/] {escape(report.fix_command(t))}")
    total = len(report.resolutions)
    good = sum(r.covered for r in report.resolutions)
    if total > 1:
        colour = "green" if good == total else "red"
        out.print(f"[{colour}]{good} of {total} targets covered[/]")


def _render_gap(state: State, gap: Gap) -> None:
    from rich.markup import escape

    out = state.console
    out.print(f"  [red]•[/] [bold]{escape(gap.requirement)}[/]: {escape(gap.summary)}")
    for chain in gap.chains[:5]:
        out.print(f"      needed by: {escape(format_chain(chain))}")
    if len(gap.chains) > 5:
        out.print(f"      … and {len(gap.chains) - 5} more chains")
    for rej in gap.rejected[:MAX_REJECTED_SHOWN]:
        out.print(f"      rejected {escape(rej.filename)}: {escape(rej.reason)}")
    if len(gap.rejected) > MAX_REJECTED_SHOWN:
        out.print(f"      … and {len(gap.rejected) - MAX_REJECTED_SHOWN} more files rejected")
