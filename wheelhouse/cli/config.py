"""``wheelhouse config``: the effective configuration, where each value came from, and the effective index.

Settings come from :mod:`wheelhouse.settings` (defaults, the configuration file, the command line); the index
is what :func:`wheelhouse.settings.effective_index_config` gives ``download`` and ``check --fix`` for the same
options. URLs are shown with their credentials redacted: this output ends up in logs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from wheelhouse import _log
from wheelhouse._text import redact_url
from wheelhouse.cli._common import (
    JSON_SCHEMA_VERSION,
    ProjectOptions,
    State,
    effective_settings,
    get_state,
    index_config,
    index_options,
    json_option,
    load_inputs,
    load_targets,
    print_json,
    project_options,
)
from wheelhouse.cli._reports import print_wide, text
from wheelhouse.errors import WheelhouseError

if TYPE_CHECKING:
    from wheelhouse.requirements import RequirementSet
    from wheelhouse.settings import IndexOptions, SettingRow, Settings
    from wheelhouse.targets import Target

_URL_KEYS = ("index-url", "extra-index-urls", "find-links")


@click.command("config")
@project_options()
@index_options
@click.option("--base-image", default=None, metavar="IMAGE", help="As render/build.")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=None, help="As download.")
@json_option
def config_command(
    project: ProjectOptions, index: IndexOptions, base_image: str | None, jobs: int | None, as_json: bool
) -> None:
    """Print the effective configuration and where each value came from, and the index download would use.

    Values come from defaults, then wheelhouse.toml or [tool.wheelhouse] in pyproject.toml (the nearest one,
    searched from the working directory upwards, or --config FILE), then the command line. Options given here
    show what another command given the same options would use. The index settings also come from pip's
    configuration files, PIP_* variables and the options inside the requirements files.
    """
    from wheelhouse.settings import index_rows, settings_rows

    state = get_state()
    settings = effective_settings(
        project,
        index_url=index.index_url,
        extra_index_urls=index.extra_index_urls,
        find_links=index.find_links,
        base_image=base_image,
        jobs=jobs,
    )
    rows = _redacted(settings_rows(settings))
    # Parsing the targets validates them: a typo in the file is reported here, not at the next download.
    target_list = load_targets(settings)
    index_table = _redacted(index_rows(index_config(settings, _requirement_options(settings), index)))
    if as_json:
        print_json(
            {
                "schema": JSON_SCHEMA_VERSION,
                "config_file": settings.config_file,
                "settings": _rows_json(rows),
                "index": _rows_json(index_table),
                "targets": [
                    {"target": t.name, "platform": t.docker_platform, "python": t.python_full_version}
                    for t in target_list
                ],
            }
        )
        return
    _render_config(state, settings, rows, index_table, target_list)


def _requirement_options(settings: Settings) -> RequirementSet | None:
    """The requirement files' index options, when the files can be read: ``config`` shows the rest regardless."""
    try:
        return load_inputs(settings, (), required=False)
    except WheelhouseError as exc:
        _log.warning(f"the index options of the requirements files are left out: {exc}")
        return None


def _rows_json(rows: Sequence[SettingRow]) -> dict[str, Any]:
    return {
        row.key: {"value": list(row.value) if isinstance(row.value, tuple) else row.value, "source": row.source}
        for row in rows
    }


def _redacted(rows: Sequence[SettingRow]) -> tuple[SettingRow, ...]:
    """The rows with credentials in index and find-links URLs replaced by ``****``: output ends up in logs."""
    out = []
    for row in rows:
        if row.key in _URL_KEYS and row.value:
            value = tuple(map(redact_url, row.value)) if isinstance(row.value, tuple) else redact_url(row.value)
            row = dataclasses.replace(row, value=value)
        out.append(row)
    return tuple(out)


def _shown(value: object) -> str:
    if isinstance(value, tuple):
        return ", ".join(value) if value else "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value is None else str(value)


def _render_config(
    state: State,
    settings: Settings,
    rows: Sequence[SettingRow],
    index_table: Sequence[SettingRow],
    target_list: Sequence[Target],
) -> None:
    from rich.table import Table

    out = state.console
    if settings.config_file:
        out.print(f"configuration file: {text(settings.config_file)}")
    else:
        where = f"in {Path.cwd()} or above"
        out.print(
            text(f"no configuration file (no wheelhouse.toml, nor pyproject.toml with [tool.wheelhouse], {where})")
        )
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("Key")
    table.add_column("Value", overflow="fold")
    table.add_column("Source", overflow="fold")
    for row in rows:
        table.add_row(text(row.key), text(_shown(row.value)), text(row.source))
    print_wide(state, table)
    out.print("index (what download and check --fix use, with pip's configuration and the requirements files):")
    index = Table(box=None, pad_edge=False, show_header=False)
    index.add_column("Key")
    index.add_column("Value", overflow="fold")
    index.add_column("Source", overflow="fold")
    for row in index_table:
        index.add_row(f"  {text(row.key)}", text(_shown(row.value)), text(row.source))
    print_wide(state, index)
    out.print("targets: " + text(", ".join(t.name for t in target_list)))
