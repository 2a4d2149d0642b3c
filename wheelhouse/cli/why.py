"""``wheelhouse why``: every chain of requirements that needs a project, per target, from the folder alone.

Calls :func:`wheelhouse.share.inventory.why` and renders its report (rich, or ``--json``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import click

from wheelhouse import _log
from wheelhouse._text import plural
from wheelhouse.cli._common import (
    JSON_SCHEMA_VERSION,
    ProjectOptions,
    State,
    get_state,
    json_option,
    load_project,
    print_json,
    project_options,
)
from wheelhouse.cli._reports import text

if TYPE_CHECKING:
    from wheelhouse.share.inventory import WhyReport


# PEP 508's project name: what a requirement can name (a name that cannot be is in no chain, and saying that it is
# "not needed" would invite pruning the project the user meant).
_PROJECT_NAME = re.compile(r"[A-Z0-9]([A-Z0-9._-]*[A-Z0-9])?", re.IGNORECASE)


def _project_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not _PROJECT_NAME.fullmatch(value):
        found = re.match(r"[A-Z0-9][A-Z0-9._-]*", value, re.IGNORECASE)
        hint = f" (give the project's name alone: {found.group(0).rstrip('._-')!r})" if found else ""
        raise click.BadParameter(f"{value!r} is not a project name{hint}.", ctx, param)
    return value


@click.command("why")
@click.argument("name", metavar="PROJECT", callback=_project_name)
@project_options()
@json_option
def why_command(name: str, project: ProjectOptions, as_json: bool) -> None:
    """Show every chain of requirements that needs PROJECT, per target, resolved from the folder alone."""
    from packaging.utils import canonicalize_name

    from wheelhouse.share.inventory import open_store, why

    state = get_state()
    settings, reqs, target_list = load_project(project)
    store = open_store(settings.wheels_path)
    report = why(reqs, target_list, store, name)
    if canonicalize_name(name) != name.lower() and not as_json:
        _log.info(f"{name} is {report.project} once normalised")
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
                "status": row.status,
                "version": None if row.version is None else str(row.version),
                "file": row.filename,
                "chains": [format_chain(c) for c in row.chains],
                "gap": None if row.gap is None else {"kind": row.gap.kind, "summary": row.gap.summary},
            }
            for row in report.targets
        ],
    }


def _render_why(state: State, report: WhyReport) -> None:
    from wheelhouse.resolve.resolver import format_chain

    out = state.console
    name = text(report.project)
    unknown = report.unknown
    if not report.needed and not unknown:
        names = ", ".join(r.target.name for r in report.targets)
        out.print(f"[bold]{name}[/] is not needed by any target ({text(names)})")
        if report.files_in_folder:
            count = len(report.files_in_folder)
            out.print(
                f"  {plural(count, 'file')} in the folder; "
                f"'wheelhouse prune' would remove {'it' if count == 1 else 'them'}"
            )
        return
    needing = sum(r.needed for r in report.targets)
    if needing:
        out.print(f"[bold]{name}[/] is needed by {needing} of {plural(len(report.targets), 'target')}")
    else:
        out.print(f"[bold]{name}[/] is not needed by any covered target")
    if unknown:
        # A target that is not covered may need the project through a file that is missing: say so, never
        # "not needed" (which would invite a prune).
        out.print(
            f"  not known for {plural(len(unknown), 'target')} that the folder does not cover: "
            f"{text(', '.join(t.name for t in unknown))}"
        )
    for row in report.targets:
        head = f"[bold]{row.target.name}[/]"
        if row.status == "pinned":
            out.print(f"{head}: {name} {text(row.version)} ({text(row.filename or '')})")
        elif row.gap is not None:
            out.print(f"{head}: [red]{text(row.gap.summary)}[/]")
        elif row.status == "unknown":
            out.print(f"{head}: not known (the target is not covered: its resolution stops before {name} is reached)")
        else:
            out.print(f"{head}: not needed")
            continue
        for chain in row.chains:
            out.print(f"    {text(format_chain(chain))}")
        if not row.covered:
            out.print(
                f"    [yellow]this target is not covered; 'wheelhouse verify --target {row.target.name}' says why[/]"
            )
