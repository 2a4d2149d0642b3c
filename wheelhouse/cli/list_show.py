"""``wheelhouse list`` and ``wheelhouse show``: what the folder holds, and one wheel in detail.

Both read :mod:`wheelhouse.share.inventory` and render its results: rich for people, ``--json`` for programs
(the structures are documented in docs/care.md). Every string taken from a wheel (its METADATA, its file
list) or from the folder's records is printed through :func:`wheelhouse.cli._reports.text`, so a hostile
wheel cannot drive the terminal.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from wheelhouse import _log
from wheelhouse._text import plural, size
from wheelhouse.cli._common import (
    JSON_SCHEMA_VERSION,
    ProjectOptions,
    State,
    effective_settings,
    explicit_targets,
    get_state,
    json_option,
    load_targets,
    print_json,
    project_options,
)
from wheelhouse.cli._reports import human_age, iso_time, local_date, print_wide, text

if TYPE_CHECKING:
    from wheelhouse.share.inventory import Inventory, WheelDetails
    from wheelhouse.store.folder import FileRecord


def record_json(record: FileRecord | None) -> dict[str, Any] | None:
    """A wheel's provenance record, as ``show --json`` gives it."""
    if record is None:
        return None
    return {
        "url": record.url,
        "added": iso_time(record.added),
        "targets": list(record.targets),
        "sources": list(record.sources),
        "built_by": record.built_by,
    }


# -- list ----------------------------------------------------------------------------------------------------


@click.command("list")
@click.argument("projects", nargs=-1, metavar="[PROJECT]...")
@project_options(requirements=False)
@json_option
def list_command(projects: tuple[str, ...], project: ProjectOptions, as_json: bool) -> None:
    """List the wheels in the folder: project, version, tags, size, age and the targets that use them.

    PROJECT names (shell patterns allowed, e.g. 'django*') keep only those projects. --target/--python/--libc
    keep only the wheels those targets can install. "Used by" comes from the records `download` keeps.
    """
    from wheelhouse.share.inventory import list_wheels, open_store

    state = get_state()
    settings = effective_settings(project)
    store = open_store(settings.wheels_path)
    # Only targets asked for here filter the listing; configured targets alone would hide wheels silently.
    chosen = load_targets(settings) if explicit_targets(settings) else ()
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
                "added": iso_time(e.added),
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
    from rich.table import Table

    for problem in inventory.problems:
        _log.warning(f"{inventory.wheels_dir}/{problem.filename}: {problem.reason}")
    out = state.console
    if not inventory.entries:
        if inventory.filtered and inventory.total_in_folder:
            total = plural(inventory.total_in_folder, "wheel")
            out.print(f"no wheel in {text(inventory.wheels_dir)} matches ({total} in all)")
        else:
            out.print(f"no wheels in {text(inventory.wheels_dir)}")
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
            text(e.project) + (" [yellow](built)[/]" if is_built else ""),
            text(e.version),
            text(e.short_tags),
            size(e.size),
            human_age(now - e.added),
            text(", ".join(e.targets)) if e.targets else "-",
        )
    print_wide(state, table)
    total = (
        f"{plural(len(inventory.entries), 'wheel')}, {plural(inventory.projects, 'project')}, {size(inventory.size)}"
    )
    if inventory.filtered:
        total += f" (of {inventory.total_in_folder} wheels in the folder)"
    out.print(f"[bold]{total}[/]")
    if built:
        out.print(f"(built) {built} built here from a source distribution; 'wheelhouse show' names the command")


# -- show ----------------------------------------------------------------------------------------------------


@click.command("show")
@click.argument("specs", nargs=-1, required=True, metavar="WHEEL|PROJECT[==VERSION]...")
@project_options(requirements=False, targets=False)
@json_option
def show_command(specs: tuple[str, ...], project: ProjectOptions, as_json: bool) -> None:
    """Show a wheel's metadata, tags, sha256, size, provenance and the files it contains.

    WHEEL is a path or file name (patterns like 'numpy*.whl' are matched in the folder); PROJECT shows the
    newest version present (every platform's file), PROJECT==VERSION that version.
    """
    from wheelhouse.share.inventory import open_store, show_wheels
    from wheelhouse.store.folder import Store

    settings = effective_settings(project)
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
        "record": record_json(d.record),
        "other_versions": list(d.other_versions),
        "files": [{"path": m.path, "size": m.size} for m in d.members],
    }


def _render_details(state: State, d: WheelDetails) -> None:
    from rich.table import Table

    out = state.console
    out.print(f"[bold]{text(d.name)} {text(d.version)}[/]  {text(d.filename)}")
    rows: list[tuple[str, str]] = [
        ("Summary", d.summary or "-"),
        ("License", d.license or "-"),
        ("Requires-Python", d.requires_python or "-"),
        ("Requires-Dist", "\n".join(d.requires_dist) or "-"),
        ("Extras", ", ".join(d.extras) or "-"),
        ("Tags", "\n".join(d.tags)),
        ("SHA256", d.sha256),
        ("Size", f"{size(d.size)} ({d.size} bytes)"),
    ]
    record = d.record
    if record is not None:
        if record.url:
            rows.append(("Source", record.url))
        if record.added:
            age = human_age(time.time() - record.added)
            rows.append(("Added", f"{local_date(record.added)} ({age if age == 'just now' else age + ' ago'})"))
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
        # The lines of a multi-line value (Requires-Dist, Tags) are each made safe; the line breaks stay.
        grid.add_row(f"  {key}", "\n".join(text(line) for line in value.split("\n")))
    print_wide(state, grid)
    unpacked = sum(m.size for m in d.members)
    out.print(f"  [bold]Files[/] ({len(d.members)}, {size(unpacked)} unpacked):")
    files = Table.grid(padding=(0, 2))
    files.add_column(justify="right", no_wrap=True)
    files.add_column(overflow="fold")
    for member in d.members:
        files.add_row(f"    {size(member.size)}", text(member.path))
    print_wide(state, files)
