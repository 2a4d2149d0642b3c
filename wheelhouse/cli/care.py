"""Care of the folder: ``list``, ``show``, ``why``, ``prune``, ``lock`` and ``config``.

Each command parses its options, calls one core function (``wheelhouse.share.inventory``, ``wheelhouse.resolve.prune``,
``wheelhouse.resolve.lockfile``, ``wheelhouse.settings``) and renders the result: rich for people, ``--json`` for
programs (the structures are documented in docs/care.md).
"""

from __future__ import annotations

import dataclasses
import datetime
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from wheelhouse.cli._common import (
    State,
    effective_settings,
    get_state,
    json_option,
    load_project,
    load_targets,
    print_json,
    requirement_args,
    requirement_file_options,
    requirement_options,
    target_options,
    wheels_option,
)
from wheelhouse.errors import ExitCode, NotCoveredError, UsageError

if TYPE_CHECKING:
    from wheelhouse.resolve.lockfile import Lock
    from wheelhouse.resolve.prune import PruneEntry, PrunePlan, PruneResult
    from wheelhouse.settings import SettingRow, Settings
    from wheelhouse.share.inventory import Inventory, WheelDetails, WhyReport
    from wheelhouse.store.folder import FileRecord
    from wheelhouse.targets import Target

F = TypeVar("F", bound=Callable[..., Any])
JSON_SCHEMA_VERSION = 1


# -- shared rendering helpers --------------------------------------------------------------------------------


def human_size(size: int) -> str:
    """Bytes in decimal units, as pip prints them: ``812 B``, ``12.3 kB``, ``1.2 MB``, ``3.40 GB``."""
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{value:.2f} {unit}" if unit in ("GB", "TB") else f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


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
            count = int(seconds // length)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "just now"


def _iso(timestamp: float | None) -> str | None:
    if not timestamp:
        return None
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc).isoformat(timespec="seconds")


def _local_date(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def _print_wide(state: State, renderable: Any) -> None:
    """Print a table whole: folded to the window on a terminal, never cut short when piped or captured."""
    from rich.measure import Measurement

    out = state.console
    if out.is_terminal:
        out.print(renderable)
        return
    # Without a terminal rich assumes 80 columns and would fold file names and hashes; print at natural width.
    natural = Measurement.get(out, out.options.update_width(100_000), renderable).maximum
    saved = out.width
    out.width = max(saved, natural)
    try:
        out.print(renderable)
    finally:
        out.width = saved


def _record_json(record: FileRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "url": record.url,
        "added": _iso(record.added),
        "targets": list(record.targets),
        "sources": list(record.sources),
        "built_by": record.built_by,
    }


def _stdin_is_terminal() -> bool:
    """Whether someone can answer a question (tests replace this to simulate a terminal)."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _explicit_targets(settings: Settings) -> bool:
    return any(settings.sources.get(key) == "command line" for key in ("targets", "python", "libc"))


def _reproduce(name: str, settings: Settings, packages: Sequence[str], *extra: str) -> str:
    """The command line that repeats this invocation (for hints and the lock file's header)."""
    argv = ["wheelhouse", name, *requirement_args(settings, packages)]
    if settings.sources.get("targets") == "command line":
        for spec in settings.targets:
            argv += ["--target", spec]
    if settings.sources.get("python") == "command line":
        for python in settings.python:
            argv += ["--python", python]
    if settings.sources.get("libc") == "command line" and settings.libc:
        argv += ["--libc", settings.libc]
    if settings.sources.get("wheels") == "command line":
        argv += ["--wheels", settings.wheels]
    return shlex.join([*argv, *extra])


# -- list ----------------------------------------------------------------------------------------------------


@click.command("list")
@click.argument("projects", nargs=-1, metavar="[PROJECT]...")
@target_options
@wheels_option
@json_option
def list_command(
    projects: tuple[str, ...],
    targets: tuple[str, ...],
    pythons: tuple[str, ...],
    libc: str | None,
    wheels_dir: str | None,
    as_json: bool,
) -> None:
    """List the wheels in the folder: project, version, tags, size, age and the targets that use them.

    PROJECT names (shell patterns allowed, e.g. 'django*') keep only those projects. --target/--python/--libc
    keep only the wheels those targets can install. "Used by" comes from the records `download` keeps.
    """
    from wheelhouse.share.inventory import list_wheels, open_store

    state = get_state()
    settings = effective_settings(wheels_dir=wheels_dir, targets=targets, pythons=pythons, libc=libc)
    store = open_store(settings.wheels_path)
    # Only targets asked for here filter the listing; configured targets alone would hide wheels silently.
    chosen = load_targets(settings) if _explicit_targets(settings) else ()
    inventory = list_wheels(store, projects=projects, targets=chosen)
    if as_json:
        print_json(_inventory_json(inventory))
        return
    _render_inventory(state, inventory)


def _inventory_json(inventory: Inventory) -> dict[str, Any]:
    now = time.time()
    return {
        "schema": JSON_SCHEMA_VERSION,
        "wheels": inventory.wheels_dir,
        "files": [
            {
                "file": e.filename,
                "project": e.project,
                "version": str(e.version),
                "tags": list(e.tags),
                "short_tags": e.short_tags,
                "size": e.size,
                "added": _iso(e.added),
                "age_seconds": int(max(0.0, now - e.added)),
                "targets": list(e.targets),
                "url": e.record.url if e.record is not None else None,
                "built_by": e.record.built_by if e.record is not None else None,
            }
            for e in inventory.entries
        ],
        "total": {"files": len(inventory.entries), "projects": inventory.projects, "size": inventory.size},
        "total_in_folder": inventory.total_in_folder,
        "problems": [{"file": p.filename, "reason": p.reason} for p in inventory.problems],
    }


def _render_inventory(state: State, inventory: Inventory) -> None:
    from rich.markup import escape
    from rich.table import Table

    for problem in inventory.problems:
        state.warn(f"{inventory.wheels_dir}/{problem.filename}: {problem.reason}")
    out = state.console
    if not inventory.entries:
        if inventory.filtered and inventory.total_in_folder:
            out.print(f"no wheel in {escape(inventory.wheels_dir)} matches ({inventory.total_in_folder} wheels in all)")
        else:
            out.print(f"no wheels in {escape(inventory.wheels_dir)}")
        return
    now = time.time()
    table = Table(box=None, pad_edge=False, show_footer=False, header_style="bold")
    table.add_column("Project")
    table.add_column("Version")
    table.add_column("Tags", overflow="fold")
    table.add_column("Size", justify="right")
    table.add_column("Age", justify="right")
    table.add_column("Used by", overflow="fold")
    built = 0
    for e in inventory.entries:
        # Wheels built here from a source distribution are marked; `show` prints the command that built them.
        is_built = e.record is not None and bool(e.record.built_by)
        built += is_built
        table.add_row(
            escape(e.project) + (" [yellow](built)[/]" if is_built else ""),
            escape(str(e.version)),
            escape(e.short_tags),
            human_size(e.size),
            human_age(now - e.added),
            escape(", ".join(e.targets)) if e.targets else "-",
        )
    _print_wide(state, table)
    count = len(inventory.entries)
    total = f"{count} wheel{'s' if count != 1 else ''}, {inventory.projects} project"
    total += f"{'s' if inventory.projects != 1 else ''}, {human_size(inventory.size)}"
    if inventory.filtered:
        total += f" (of {inventory.total_in_folder} wheels in the folder)"
    out.print(f"[bold]{total}[/]")
    if built:
        out.print(f"(built) {built} built here from a source distribution; 'wheelhouse show' names the command")


# -- show ----------------------------------------------------------------------------------------------------


@click.command("show")
@click.argument("specs", nargs=-1, required=True, metavar="WHEEL|PROJECT[==VERSION]...")
@wheels_option
@json_option
def show_command(specs: tuple[str, ...], wheels_dir: str | None, as_json: bool) -> None:
    """Show a wheel's metadata, tags, sha256, size, provenance and the files it contains.

    WHEEL is a path or file name (patterns like 'numpy*.whl' are matched in the folder); PROJECT shows the
    newest version present (every platform's file), PROJECT==VERSION that version.
    """
    from wheelhouse.share.inventory import open_store, show_wheels
    from wheelhouse.store.folder import Store

    settings = effective_settings(wheels_dir=wheels_dir)
    # A wheel outside the folder can be shown without one; anything else needs the folder.
    outside = all(spec.endswith(".whl") and Path(spec).is_file() for spec in specs)
    store = Store(settings.wheels_path) if outside else open_store(settings.wheels_path)
    details = show_wheels(store, specs)
    if as_json:
        print_json({"schema": JSON_SCHEMA_VERSION, "wheels": [_details_json(d) for d in details]})
        return
    state = get_state()
    for index, item in enumerate(details):
        if index:
            state.console.print()
        _render_details(state, item)


def _details_json(d: WheelDetails) -> dict[str, Any]:
    return {
        "file": d.filename,
        "path": d.path,
        "name": d.name,
        "version": d.version,
        "summary": d.summary,
        "license": d.license,
        "requires_python": d.requires_python,
        "requires_dist": list(d.requires_dist),
        "extras": list(d.extras),
        "tags": list(d.tags),
        "sha256": d.sha256,
        "size": d.size,
        "in_folder": d.in_folder,
        "record": _record_json(d.record),
        "other_versions": list(d.other_versions),
        "files": [{"path": m.path, "size": m.size} for m in d.members],
    }


def _render_details(state: State, d: WheelDetails) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = state.console
    out.print(f"[bold]{escape(d.name)} {escape(d.version)}[/]  {escape(d.filename)}")
    rows: list[tuple[str, str]] = [
        ("Summary", d.summary or "-"),
        ("License", d.license or "-"),
        ("Requires-Python", d.requires_python or "-"),
        ("Requires-Dist", "\n".join(d.requires_dist) or "-"),
        ("Extras", ", ".join(d.extras) or "-"),
        ("Tags", "\n".join(d.tags)),
        ("SHA256", d.sha256),
        ("Size", f"{human_size(d.size)} ({d.size} bytes)"),
    ]
    record = d.record
    if record is not None:
        if record.url:
            rows.append(("Source", record.url))
        if record.added:
            rows.append(("Added", f"{_local_date(record.added)} ({human_age(time.time() - record.added)} ago)"))
        rows.append(("Used by", ", ".join(record.targets) or "-"))
        if record.sources:
            rows.append(("Requirements", ", ".join(record.sources)))
        if record.built_by:
            rows.append(("Built by", record.built_by))
    elif d.in_folder:
        rows.append(("Provenance", "no record (not added by wheelhouse download)"))
    else:
        rows.append(("Location", f"{d.path} (outside the wheels folder)"))
    if d.other_versions:
        rows.append(("Other versions", ", ".join(d.other_versions)))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in rows:
        grid.add_row(f"  {key}", escape(value))
    _print_wide(state, grid)
    unpacked = sum(m.size for m in d.members)
    out.print(f"  [bold]Files[/] ({len(d.members)}, {human_size(unpacked)} unpacked):")
    files = Table.grid(padding=(0, 2))
    files.add_column(justify="right", no_wrap=True)
    files.add_column(overflow="fold")
    for member in d.members:
        files.add_row(f"    {human_size(member.size)}", escape(member.path))
    _print_wide(state, files)


# -- why -----------------------------------------------------------------------------------------------------


@click.command("why")
@click.argument("project")
@requirement_file_options
@target_options
@wheels_option
@json_option
def why_command(
    project: str,
    requirement_files: tuple[str, ...],
    constraints: tuple[str, ...],
    targets: tuple[str, ...],
    pythons: tuple[str, ...],
    libc: str | None,
    wheels_dir: str | None,
    as_json: bool,
) -> None:
    """Show every chain of requirements that needs PROJECT, per target, resolved from the folder alone."""
    from packaging.utils import canonicalize_name

    from wheelhouse.share.inventory import open_store, why

    state = get_state()
    settings, reqs, target_list = load_project(
        wheels_dir=wheels_dir,
        requirement_files=requirement_files,
        constraints=constraints,
        targets=targets,
        pythons=pythons,
        libc=libc,
    )
    store = open_store(settings.wheels_path)
    report = why(reqs, target_list, store, project, warn=state.warn)
    if canonicalize_name(project) != project.lower() and not as_json:
        state.info(f"{project} is {report.project} once normalised")
    if as_json:
        print_json(_why_json(report))
        return
    _render_why(state, report)


def _why_json(report: WhyReport) -> dict[str, Any]:
    from wheelhouse.resolve.resolver import format_chain

    return {
        "schema": JSON_SCHEMA_VERSION,
        "project": report.project,
        "needed": report.needed,
        "files_in_folder": list(report.files_in_folder),
        "targets": [
            {
                "target": row.target.name,
                "covered": row.covered,
                "status": "pinned" if row.version is not None else "missing" if row.gap is not None else "not-needed",
                "version": None if row.version is None else str(row.version),
                "file": row.filename,
                "chains": [format_chain(c) for c in row.chains],
                "gap": None if row.gap is None else {"kind": row.gap.kind, "summary": row.gap.summary},
            }
            for row in report.targets
        ],
    }


def _render_why(state: State, report: WhyReport) -> None:
    from rich.markup import escape

    from wheelhouse.resolve.resolver import format_chain

    out = state.console
    name = escape(report.project)
    if not report.needed:
        names = ", ".join(r.target.name for r in report.targets)
        out.print(f"[bold]{name}[/] is not needed by any target ({escape(names)})")
        if report.files_in_folder:
            count = len(report.files_in_folder)
            files = "1 file" if count == 1 else f"{count} files"
            out.print(f"  {files} in the folder; 'wheelhouse prune' would remove {'it' if count == 1 else 'them'}")
        return
    needing = sum(r.needed for r in report.targets)
    out.print(f"[bold]{name}[/] is needed by {needing} of {len(report.targets)} targets")
    for row in report.targets:
        head = f"[bold]{row.target.name}[/]"
        if row.version is not None:
            out.print(f"{head}: {name} {row.version} ({escape(row.filename or '')})")
        elif row.gap is not None:
            out.print(f"{head}: [red]{escape(row.gap.summary)}[/]")
        else:
            out.print(f"{head}: not needed")
            continue
        for chain in row.chains:
            out.print(f"    {escape(format_chain(chain))}")
        if not row.covered:
            out.print(
                f"    [yellow]this target is not covered; 'wheelhouse verify --target {row.target.name}' says why[/]"
            )


# -- prune ---------------------------------------------------------------------------------------------------


@click.command("prune")
@requirement_options
@target_options
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
    type=click.FloatRange(min=0),
    default=None,
    metavar="DAYS",
    help="Only remove files that came into the folder more than DAYS days ago.",
)
@click.option("--dry-run", is_flag=True, help="Print what would go and the space it frees; change nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (needed when not on a terminal).")
@wheels_option
@json_option
def prune_command(
    packages: tuple[str, ...],
    requirement_files: tuple[str, ...],
    constraints: tuple[str, ...],
    targets: tuple[str, ...],
    pythons: tuple[str, ...],
    libc: str | None,
    keep_versions: int,
    older_than: float | None,
    dry_run: bool,
    yes: bool,
    wheels_dir: str | None,
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
    settings, reqs, target_list = load_project(
        packages,
        wheels_dir=wheels_dir,
        requirement_files=requirement_files,
        constraints=constraints,
        targets=targets,
        pythons=pythons,
        libc=libc,
    )
    store = open_store(settings.wheels_path)
    policy = PrunePolicy(keep_versions=keep_versions, older_than_days=older_than)
    policy_args: list[str] = []
    if keep_versions:
        policy_args += ["--keep-versions", str(keep_versions)]
    if older_than is not None:
        policy_args += ["--older-than", f"{older_than:g}"]
    again = _reproduce("prune", settings, packages, *policy_args)

    def confirm(plan: PrunePlan) -> bool:
        if not as_json:
            _render_plan(state, plan, done=False)
        if yes:
            return True
        count = len(plan.remove)
        noun = f"{count} file{'s' if count != 1 else ''}"
        if not _stdin_is_terminal():
            raise UsageError(
                f"refusing to remove {noun} without confirmation: standard input is not a terminal",
                hint=f"{again} --yes (or --dry-run to only list them)",
            )
        return click.confirm(f"Remove {noun}, freeing {human_size(plan.freed)}?", default=False, err=True)

    result = prune(
        reqs,
        target_list,
        store,
        policy,
        dry_run=dry_run,
        confirm=confirm,
        fix_args=requirement_args(settings, packages),
        warn=state.warn,
        on_wait=state.warn,
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
    from rich.markup import escape
    from rich.table import Table

    out = state.console
    for problem in plan.report.problems:
        state.warn(f"left alone: {plan.report.wheels_dir}/{problem.filename}: {problem.reason} (see wheelhouse check)")
    targets = ", ".join(r.target.name for r in plan.report.resolutions)
    out.print(f"every target resolves from the folder: {escape(targets)}")
    if plan.remove:
        now = time.time()
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("File", overflow="fold")
        table.add_column("Size", justify="right")
        table.add_column("Age", justify="right")
        table.add_column("Why it goes", overflow="fold")
        for entry in plan.remove:
            why = _REASONS.get(entry.reason, entry.reason) + (f": {entry.detail}" if entry.detail else "")
            table.add_row(escape(entry.filename), human_size(entry.size), human_age(now - entry.added), escape(why))
        _print_wide(state, table)
    out.print(_kept_summary(plan.keep))
    count = len(plan.remove)
    noun = f"{count} file{'s' if count != 1 else ''}"
    if not plan.remove:
        out.print("nothing to remove")
    elif dry_run:
        out.print(f"[bold]would remove {noun}, freeing {human_size(plan.freed)}[/] (dry run: nothing was removed)")
    elif not done:
        out.print(f"[bold]{noun} to remove, freeing {human_size(plan.freed)}[/]")


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
    }
    parts = [f"{counts[key]} {label}" for key, label in labels.items() if counts.get(key)]
    return f"keeping {len(keep)} file{'s' if len(keep) != 1 else ''}" + (f": {', '.join(parts)}" if parts else "")


def _render_removed(state: State, result: PruneResult) -> None:
    count = len(result.removed)
    targets = len(result.plan.report.resolutions)
    state.console.print(
        f"[green]✓[/] removed {count} file{'s' if count != 1 else ''}, freed {human_size(result.freed)}; "
        f"every target ({targets}) still resolves from what remains"
    )


def _entry_json(entry: PruneEntry) -> dict[str, Any]:
    return {
        "file": entry.filename,
        "project": entry.project,
        "version": str(entry.version),
        "kind": entry.kind,
        "size": entry.size,
        "added": _iso(entry.added),
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


# -- lock ----------------------------------------------------------------------------------------------------


@click.command("lock")
@requirement_options
@target_options
@click.option(
    "-o",
    "--output",
    default="requirements.lock",
    show_default=True,
    metavar="FILE",
    help="Where to write the lock; '-' for standard output.",
)
@wheels_option
@json_option
def lock_command(
    packages: tuple[str, ...],
    requirement_files: tuple[str, ...],
    constraints: tuple[str, ...],
    targets: tuple[str, ...],
    pythons: tuple[str, ...],
    libc: str | None,
    output: str,
    wheels_dir: str | None,
    as_json: bool,
) -> None:
    """Write pinned requirements with --hash entries for the wheels in the folder that serve the targets.

    One file serves every target: pins only some targets use carry environment markers. Install with
    `pip install --require-hashes --no-index --find-links wheels -r requirements.lock`. Refuses (exit 3,
    nothing written) when the requirements do not resolve from the folder for every target.
    """
    from wheelhouse.resolve.lockfile import build_lock, render_lock, write_lock
    from wheelhouse.share.inventory import open_store

    state = get_state()
    settings, reqs, target_list = load_project(
        packages,
        wheels_dir=wheels_dir,
        requirement_files=requirement_files,
        constraints=constraints,
        targets=targets,
        pythons=pythons,
        libc=libc,
    )
    store = open_store(settings.wheels_path)
    extra = [] if output == "requirements.lock" else ["-o", output]
    lock = build_lock(
        reqs,
        target_list,
        store,
        command=_reproduce("lock", settings, packages, *extra),
        fix_args=requirement_args(settings, packages),
        warn=state.warn,
    )
    if not lock.covered:
        if as_json:
            print_json(_lock_json(lock, output, None, written=False))
        else:
            from wheelhouse.cli._reports import render_verify

            render_verify(state, lock.report)
        raise NotCoveredError(
            "refusing to lock: the requirements do not resolve from the folder for every target; nothing was written",
            hint="fill the gaps with the 'fix' command above, then lock again",
        )
    text = render_lock(lock, wheels_dir=settings.wheels, output="requirements.lock" if output == "-" else output)
    if output == "-":
        if as_json:
            print_json(_lock_json(lock, output, text, written=False))
        else:
            sys.stdout.write(text)
        return
    path = Path(output)
    try:
        unchanged = path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        unchanged = False
    if not unchanged:
        # An identical lock is left untouched, so its mtime (and any build cache keyed on it) stays valid.
        write_lock(path, text)
    if as_json:
        print_json(_lock_json(lock, output, None, written=not unchanged))
        return
    _render_lock(state, lock, output, unchanged)


def _lock_json(lock: Lock, output: str, text: str | None, *, written: bool) -> dict[str, Any]:
    from wheelhouse.resolve.verify import report_to_json

    data: dict[str, Any] = {
        "schema": JSON_SCHEMA_VERSION,
        "output": output,
        "covered": lock.covered,
        "written": written,
        "targets": [t.name for t in lock.targets],
        "pins": [
            {
                "name": e.name,
                "version": str(e.version),
                "marker": e.marker,
                "targets": list(e.targets),
                "files": list(e.files),
                "hashes": list(e.hashes),
            }
            for e in lock.entries
        ],
        "verify": None if lock.covered else report_to_json(lock.report),
    }
    if text is not None:
        data["text"] = text
    return data


def _render_lock(state: State, lock: Lock, output: str, unchanged: bool) -> None:
    from rich.markup import escape

    pins = len(lock.entries)
    marked = sum(e.marker is not None for e in lock.entries)
    files = sum(len(e.files) for e in lock.entries)
    verb = "unchanged" if unchanged else "wrote"
    targets = len(lock.targets)
    detail = f"{pins} pins ({marked} with markers), {files} files, {targets} target{'s' if targets != 1 else ''}"
    state.console.print(f"[green]✓[/] {verb} {escape(output)}: {detail}")


# -- config --------------------------------------------------------------------------------------------------


@click.command("config")
@requirement_file_options
@target_options
@click.option("-i", "--index-url", default=None, metavar="URL", help="As download.")
@click.option("--extra-index-url", "extra_index_urls", multiple=True, metavar="URL", help="As download.")
@click.option("-f", "--find-links", "find_links", multiple=True, metavar="DIR|URL", help="As download.")
@click.option("--base-image", default=None, metavar="IMAGE", help="As render/build.")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=None, help="As download.")
@wheels_option
@json_option
def config_command(
    requirement_files: tuple[str, ...],
    constraints: tuple[str, ...],
    targets: tuple[str, ...],
    pythons: tuple[str, ...],
    libc: str | None,
    index_url: str | None,
    extra_index_urls: tuple[str, ...],
    find_links: tuple[str, ...],
    base_image: str | None,
    jobs: int | None,
    wheels_dir: str | None,
    as_json: bool,
) -> None:
    """Print the effective configuration and where each value came from.

    Values come from defaults, then wheelhouse.toml or [tool.wheelhouse] in pyproject.toml (the nearest one,
    searched from the working directory upwards, or --config FILE), then the command line. Options given here
    show what another command given the same options would use.
    """
    from wheelhouse.settings import settings_rows

    state = get_state()
    settings = effective_settings(
        wheels_dir=wheels_dir,
        requirement_files=requirement_files,
        constraints=constraints,
        targets=targets,
        pythons=pythons,
        libc=libc,
        index_url=index_url,
        extra_index_urls=extra_index_urls,
        find_links=find_links,
        base_image=base_image,
        jobs=jobs,
    )
    rows = _redacted(settings_rows(settings))
    # Parsing the targets validates them: a typo in the file is reported here, not at the next download.
    target_list = load_targets(settings)
    if as_json:
        print_json(
            {
                "schema": JSON_SCHEMA_VERSION,
                "config_file": settings.config_file,
                "settings": {
                    row.key: {
                        "value": list(row.value) if isinstance(row.value, tuple) else row.value,
                        "source": row.source,
                    }
                    for row in rows
                },
                "targets": [
                    {"target": t.name, "platform": t.docker_platform, "python": t.python_full_version}
                    for t in target_list
                ],
            }
        )
        return
    _render_config(state, settings, rows, target_list)


def _redacted(rows: Sequence[SettingRow]) -> tuple[SettingRow, ...]:
    """The rows with credentials in index and find-links URLs replaced by ``****``: output ends up in logs."""
    from wheelhouse._text import redact_url

    out = []
    for row in rows:
        if row.key in ("index-url", "extra-index-urls", "find-links") and row.value:
            value = tuple(map(redact_url, row.value)) if isinstance(row.value, tuple) else redact_url(row.value)
            row = dataclasses.replace(row, value=value)
        out.append(row)
    return tuple(out)


def _render_config(state: State, settings: Settings, rows: Sequence[Any], target_list: Sequence[Target]) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = state.console
    if settings.config_file:
        out.print(f"configuration file: {escape(settings.config_file)}")
    else:
        where = f"in {Path.cwd()} or above"
        out.print(
            escape(f"no configuration file (no wheelhouse.toml, nor pyproject.toml with [tool.wheelhouse], {where})")
        )
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("Key")
    table.add_column("Value", overflow="fold")
    table.add_column("Source", overflow="fold")
    for row in rows:
        value = row.value
        if isinstance(value, tuple):
            shown = ", ".join(value) if value else "-"
        else:
            shown = "-" if value is None else str(value)
        table.add_row(escape(row.key), escape(shown), escape(row.source))
    _print_wide(state, table)
    out.print("targets: " + escape(", ".join(t.name for t in target_list)))
