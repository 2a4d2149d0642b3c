"""``wheelhouse sbom``: a CycloneDX bill of materials of exactly the wheels each target installs.

Calls :mod:`wheelhouse.share.sbom` (resolve from the folder, describe, render) and writes the document to standard
output or ``-o FILE``. Nothing is written unless every target resolves from the folder; without the ``sbom``
extra (cyclonedx-python-lib) the command says in one line how to install it.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import click

from wheelhouse._text import plural
from wheelhouse.cli._common import (
    ProjectOptions,
    State,
    get_state,
    load_project,
    project_options,
    requirement_args,
)
from wheelhouse.cli._reports import text
from wheelhouse.errors import NotCoveredError, StoreError, UsageError
from wheelhouse.store.fs import refuse_inside, write_output


@click.command("sbom")
@project_options(packages=True)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["cyclonedx-json"]),
    default="cyclonedx-json",
    show_default=True,
    help="The document's format.",
)
@click.option(
    "-o", "--output", default="-", show_default=True, metavar="FILE", help="Where to write it; '-' for standard output."
)
def sbom_command(project: ProjectOptions, output_format: str, output: str) -> None:
    """Write a CycloneDX SBOM of the wheels in the folder that each target installs.

    Each wheel is a component with its purl (pkg:pypi/name@version?file_name=...), sha256, the licence its
    METADATA declares, the targets that install it and the requirement chains that pull it in; the dependency
    graph links each wheel to those it requires. Refuses (exit 3, nothing written) when the requirements do not
    resolve from the folder for every target. Set SOURCE_DATE_EPOCH for a reproducible timestamp.
    """
    from wheelhouse.share.sbom import INSTALL_HINT, build_sbom, cyclonedx_available, cyclonedx_json

    # Said before any work: resolving a large folder only to learn that the extra is missing wastes the wait.
    if not cyclonedx_available():
        raise UsageError("wheelhouse sbom needs cyclonedx-python-lib", hint=INSTALL_HINT)
    from wheelhouse.share.inventory import open_store

    state = get_state()
    settings, reqs, target_list = load_project(project)
    if output != "-":
        # Checked before any work: a document written there would replace a wheel or the folder's own state.
        refuse_inside(
            settings.wheels_path,
            Path(output),
            what="the SBOM",
            hint="name a file outside the folder, e.g. wheelhouse sbom -o sbom.cdx.json",
        )
    store = open_store(settings.wheels_path)
    sbom = build_sbom(reqs, target_list, store, fix_args=requirement_args(settings, project.packages))
    if not sbom.covered:
        from wheelhouse.cli._reports import render_verify

        # Standard output is for the document only: `wheelhouse sbom > sbom.json` must not fill it with a report.
        render_verify(State(verbose=state.verbose, _console=state.err) if output == "-" else state, sbom.report)
        raise NotCoveredError(
            "refusing to write an SBOM: the requirements do not resolve from the folder for every target; "
            "nothing was written",
            hint="fill the gaps with the 'fix' command above, then run sbom again",
        )
    document = cyclonedx_json(sbom, name=_project_name(settings.wheels_path), timestamp=_timestamp())
    if output == "-":
        sys.stdout.write(document)
        return
    try:
        streamed = write_output(Path(output), document.encode())
    except OSError as exc:
        raise StoreError(f"cannot write {output}: {exc.strerror or exc}") from None
    detail = f"{plural(len(sbom.components), 'component')}, {plural(len(sbom.targets), 'target')}"
    # Written into a device or a pipe (-o /dev/stdout), the document may be on standard output: the summary
    # goes to standard error then, so that it does not follow the document there.
    (state.err if streamed else state.console).print(f"[green]✓[/] wrote {text(output)}: {detail}")


def _project_name(wheels: Path) -> str:
    """The described application's name: the folder that holds the wheels folder (the project's own)."""
    return wheels.resolve().parent.name or "project"


def _timestamp() -> datetime | None:
    """``SOURCE_DATE_EPOCH`` (the reproducible-builds convention) when set and valid, else None (now)."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return None
    try:
        return datetime.fromtimestamp(int(value), tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise UsageError(f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds") from None
