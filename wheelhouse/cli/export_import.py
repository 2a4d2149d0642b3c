"""``wheelhouse export`` and ``wheelhouse import``: carry wheels into a network that cannot download, as a
bundle (:mod:`wheelhouse.share.bundle` writes and reads the format, :mod:`wheelhouse.share.selection` chooses
the wheels).

What a bundle says about itself (its targets, sources and URLs) came from another machine: everything of it
that is printed goes through :func:`wheelhouse.cli._reports.text`.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from wheelhouse import _log
from wheelhouse._text import plural, size
from wheelhouse.cli._common import (
    JSON_SCHEMA_VERSION,
    ProjectOptions,
    effective_settings,
    existing_store,
    get_state,
    json_option,
    load_project,
    print_json,
    project_options,
    requirement_args,
)
from wheelhouse.cli._reports import TransientProgress, text
from wheelhouse.errors import UsageError

if TYPE_CHECKING:
    from wheelhouse.share.bundle import ExportResult, ImportResult


@click.command("export")
@click.argument("bundle", type=click.Path(dir_okay=False))
@project_options(packages=True)
@json_option
def export_command(bundle: str, project: ProjectOptions, as_json: bool) -> None:
    """Write BUNDLE, a tar of wheels with a SHA256SUMS list and a manifest, to carry into a network that
    cannot download ('wheelhouse import BUNDLE' on the other side).

    \b
    Which wheels:
      no -r/-c/PKG/--target/--python   every wheel in the folder
      requirements (-r, PKG, the configured ones or ./requirements.txt) with targets
                                       exactly the wheels that resolve them for each target (refused,
                                       exit 3, when a target is not covered)
      --target/--python alone, no requirements file
                                       every wheel that installs on at least one target
    """
    from wheelhouse.share.bundle import export_bundle
    from wheelhouse.share.selection import compatible_wheels, required_wheels

    if bundle == "-":
        # lock and sbom take "-" for standard output; a bundle is a file to carry, so "-" is refused rather than
        # written as a file named "-".
        raise UsageError(
            "export writes the bundle to a file; '-' (standard output) is not supported",
            hint="wheelhouse export bundle.tar",
        )
    state = get_state()
    _settings, store = existing_store(project)
    filenames: list[str] | None = None
    target_names: list[str] = []
    if project.selects:
        settings, reqs, target_list = load_project(project, required=False)
        target_names = [t.name for t in target_list]
        if reqs.requirements:
            from wheelhouse.resolve.verify import verify

            report = verify(reqs, target_list, store, fix_args=requirement_args(settings, project.packages))
            filenames = required_wheels(report)
        else:
            filenames = compatible_wheels(store.scan(), target_list)
        if not filenames:
            _log.warning(f"no wheel in {store.root} serves {', '.join(target_names)}; the bundle is empty")
    with TransientProgress(state, "exporting", not as_json) as progress:
        result = export_bundle(
            store,
            Path(bundle),
            filenames,
            targets=target_names,
            on_file=lambda _f, done, total: progress.update(done, total),
        )
    if as_json:
        print_json(export_to_json(result))
        return
    total = sum(f.size for f in result.files)
    scope = f" for {', '.join(result.targets)}" if result.targets else ""
    state.console.print(
        f"[green]✓[/] wrote {text(bundle)}: {plural(len(result.files), 'wheel')}{text(scope)}, {size(total)}, "
        f"with {text('SHA256SUMS')} and manifest.json"
    )
    state.console.print(f"  on the other side: wheelhouse import {text(shlex.quote(bundle))}")


@click.command("import")
@click.argument("bundle", type=click.Path(dir_okay=False))
@project_options(requirements=False, targets=False)
@json_option
def import_command(bundle: str, project: ProjectOptions, as_json: bool) -> None:
    """Add the wheels of BUNDLE (written by 'wheelhouse export') to the folder, all or nothing.

    Every checksum is verified and every wheel checked before anything is added. A bundle holding anything
    but wheels under wheels/ (links, devices, absolute paths, '..'), a wheel without a matching checksum, or
    a wheel that would replace a different file of the same name is refused whole. Wheels already present
    are kept; the bundle's provenance records (targets, sources, URLs) are merged into the folder's.
    """
    from wheelhouse.share.bundle import import_bundle
    from wheelhouse.store.folder import Store

    state = get_state()
    store = Store(effective_settings(project).wheels_path)
    with TransientProgress(state, "importing", not as_json):
        result = import_bundle(store, Path(bundle), on_file=lambda f: _log.info(f"staging {f}"))
    if as_json:
        print_json(import_to_json(result))
        return
    state.console.print(
        f"[green]✓[/] imported {plural(len(result.added), 'wheel')} into {text(store.root)} "
        f"({len(result.present)} already present), every checksum verified"
    )
    if result.targets:
        argv = ["wheelhouse", "verify"] + [a for t in result.targets for a in ("--target", t)]
        state.console.print(f"  next: {text(shlex.join(argv))} -r requirements.txt")


# -- --json --------------------------------------------------------------------------------------------------


def export_to_json(result: ExportResult) -> dict[str, Any]:
    """The documented ``export --json`` structure (schema 1; see docs/sharing.md)."""
    return {
        "schema": JSON_SCHEMA_VERSION,
        "bundle": str(result.bundle),
        "size": result.size,
        "targets": list(result.targets),
        "files": [{"file": f.filename, "sha256": f.sha256, "size": f.size} for f in result.files],
    }


def import_to_json(result: ImportResult) -> dict[str, Any]:
    """The documented ``import --json`` structure (schema 1; see docs/sharing.md)."""
    return {
        "schema": JSON_SCHEMA_VERSION,
        "bundle": str(result.bundle),
        "targets": list(result.targets),
        "added": [{"file": f.filename, "sha256": f.sha256, "size": f.size} for f in result.added],
        "present": [{"file": f.filename, "sha256": f.sha256, "size": f.size} for f in result.present],
    }
