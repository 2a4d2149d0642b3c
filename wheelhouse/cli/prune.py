"""``wheelhouse prune``: remove the wheels no target needs, after showing them and asking.

Calls :func:`wheelhouse.resolve.prune.prune` with a confirmation callback (the only question wheelhouse asks)
and renders the plan and the result (rich, or ``--json``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from wheelhouse import _log
from wheelhouse._text import plural, size
from wheelhouse.cli._common import (
    JSON_SCHEMA_VERSION,
    FiniteFloat,
    ProjectOptions,
    State,
    get_state,
    json_option,
    load_project,
    print_json,
    project_options,
    reproduce,
    requirement_args,
)
from wheelhouse.cli._reports import human_age, iso_time, print_wide, text
from wheelhouse.errors import ExitCode, NotCoveredError, UsageError

if TYPE_CHECKING:
    from wheelhouse.resolve.prune import PruneEntry, PrunePlan, PruneResult


def _stdin_is_terminal() -> bool:
    """Whether someone can answer a question (tests replace this to simulate a terminal)."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


@click.command("prune")
@project_options(packages=True)
@click.option(
    "--keep-versions",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="N",
    help="Also keep the newest N versions of every project (all their files), even when unused.",
)
@click.option(
    "--older-than",
    type=FiniteFloat(min=0),
    default=None,
    metavar="DAYS",
    help="Only remove files that came into the folder more than DAYS days ago.",
)
@click.option("--dry-run", is_flag=True, help="Print what would go and the space it frees; change nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (needed when not on a terminal).")
@json_option
def prune_command(
    project: ProjectOptions,
    keep_versions: int,
    older_than: float | None,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Remove the wheels no target needs.

    Keeps every file the resolution of the current requirements chooses for every target (give all the
    targets you ship to), plus what --keep-versions and --older-than spare; removes the rest, and source
    distributions of projects that have no wheel left. Refuses (exit 3, nothing removed) when the requirements
    do not resolve from the folder. Asks before removing unless --yes.
    """
    from wheelhouse.resolve.prune import PrunePolicy, prune
    from wheelhouse.share.inventory import open_store

    state = get_state()
    settings, reqs, target_list = load_project(project)
    store = open_store(settings.wheels_path)
    policy = PrunePolicy(keep_versions=keep_versions, older_than_days=older_than)
    policy_args: list[str] = []
    if keep_versions:
        policy_args += ["--keep-versions", str(keep_versions)]
    if older_than is not None:
        policy_args += ["--older-than", f"{older_than:g}"]
    again = reproduce("prune", settings, project.packages, *policy_args)

    def confirm(plan: PrunePlan) -> bool:
        if not as_json:
            _render_plan(state, plan, done=False)
        if yes:
            return True
        files = plural(len(plan.remove), "file")
        if not _stdin_is_terminal():
            raise UsageError(
                f"refusing to remove {files} without confirmation: standard input is not a terminal",
                hint=f"{again} --yes (or --dry-run to only list them)",
            )
        return click.confirm(f"Remove {files}, freeing {size(plan.freed)}?", default=False, err=True)

    result = prune(
        reqs,
        target_list,
        store,
        policy,
        dry_run=dry_run,
        confirm=confirm,
        fix_args=requirement_args(settings, project.packages),
        on_wait=_log.warning,
    )
    plan = result.plan
    if as_json:
        print_json(_prune_json(result))
    elif not plan.covered:
        from wheelhouse.cli._reports import render_verify

        render_verify(state, plan.report)
    elif dry_run or not plan.remove:
        _render_plan(state, plan, done=False, dry_run=dry_run)
    elif result.removed:
        _render_removed(state, result)
    if not plan.covered:
        raise NotCoveredError(
            "refusing to prune: the requirements do not resolve from the folder for every target; nothing was removed",
            hint="fill the gaps with the 'fix' command above, or prune with the targets you still ship to",
        )
    if result.declined:
        click.echo("nothing removed", err=True)
        click.get_current_context().exit(ExitCode.FAILURE)


_REASONS = {
    "unused-project": "unused project",
    "unused-version": "unused version",
    "unused-file": "unused file",
    "orphan-sdist": "sdist, no wheel left",
}


def _render_plan(state: State, plan: PrunePlan, *, done: bool, dry_run: bool = False) -> None:
    from rich.table import Table

    out = state.console
    for problem in plan.report.problems:
        _log.warning(
            f"left alone: {plan.report.wheels_dir}/{problem.filename}: {problem.reason} (see wheelhouse check)"
        )
    targets = ", ".join(r.target.name for r in plan.report.resolutions)
    out.print(f"every target resolves from the folder: {text(targets)}")
    if plan.remove:
        now = time.time()
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("File", overflow="fold")
        table.add_column("Size", justify="right")
        table.add_column("Age", justify="right")
        table.add_column("Why it goes", overflow="fold")
        for entry in plan.remove:
            why = _REASONS.get(entry.reason, entry.reason) + (f": {entry.detail}" if entry.detail else "")
            table.add_row(text(entry.filename), size(entry.size), human_age(now - entry.added), text(why))
        print_wide(state, table)
    out.print(_kept_summary(plan.keep))
    files = plural(len(plan.remove), "file")
    if not plan.remove:
        out.print("nothing to remove")
    elif dry_run:
        out.print(f"[bold]would remove {files}, freeing {size(plan.freed)}[/] (dry run: nothing was removed)")
    elif not done:
        out.print(f"[bold]{files} to remove, freeing {size(plan.freed)}[/]")


def _kept_summary(keep: Sequence[PruneEntry]) -> str:
    counts: dict[str, int] = {}
    for entry in keep:
        counts[entry.reason] = counts.get(entry.reason, 0) + 1
    labels = {
        "needed": "needed by the targets",
        "keep-versions": "among the newest versions (--keep-versions)",
        "recent": "newer than --older-than",
        "project-kept": "sdists of projects still present",
        "build-requirement": "build requirements of kept sdists",
        "installer": "uv's wheel, the offline image's installer",
    }
    parts = [f"{counts[key]} {label}" for key, label in labels.items() if counts.get(key)]
    return f"keeping {plural(len(keep), 'file')}" + (f": {', '.join(parts)}" if parts else "")


def _render_removed(state: State, result: PruneResult) -> None:
    targets = len(result.plan.report.resolutions)
    state.console.print(
        f"[green]✓[/] removed {plural(len(result.removed), 'file')}, freed {size(result.freed)}; "
        f"every target ({targets}) still resolves from what remains"
    )


def _entry_json(entry: PruneEntry) -> dict[str, Any]:
    return {
        "file": entry.filename,
        "project": entry.project,
        "version": str(entry.version),
        "kind": entry.kind,
        "size": entry.size,
        "added": iso_time(entry.added),
        "reason": entry.reason,
        "detail": entry.detail,
    }


def _prune_json(result: PruneResult) -> dict[str, Any]:
    from wheelhouse.resolve.verify import report_to_json

    plan = result.plan
    return {
        "schema": JSON_SCHEMA_VERSION,
        "wheels": plan.report.wheels_dir,
        "covered": plan.covered,
        "dry_run": result.dry_run,
        "declined": result.declined,
        "targets": [r.target.name for r in plan.report.resolutions],
        "remove": [_entry_json(e) for e in plan.remove],
        "keep": [_entry_json(e) for e in plan.keep],
        "removed": list(result.removed),
        "would_free": plan.freed,
        "freed": result.freed,
        "verify": None if plan.covered else report_to_json(plan.report),
    }
