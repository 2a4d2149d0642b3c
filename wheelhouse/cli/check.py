"""``wheelhouse check``: every file of the folder is a sound wheel with the checksum it came with.

Calls :func:`wheelhouse.share.integrity.check`; with ``--fix`` it gives the check a fetcher that downloads
recorded URLs through one index client for the whole run, with the same index settings ``download`` uses
(:func:`wheelhouse.settings.effective_index_config`: certificates, timeouts, find-links and credentials).
"""

from __future__ import annotations

import shlex
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import click

from wheelhouse import _log
from wheelhouse._text import plural
from wheelhouse.cli._common import (
    ProjectOptions,
    State,
    existing_store,
    get_state,
    index_config,
    json_option,
    load_inputs,
    print_json,
    project_options,
)
from wheelhouse.cli._reports import TransientProgress, text
from wheelhouse.errors import ExitCode, WheelhouseError

if TYPE_CHECKING:
    from wheelhouse.index.config import IndexConfig
    from wheelhouse.index.http import IndexClient
    from wheelhouse.settings import Settings
    from wheelhouse.share.integrity import CheckReport


class _Fetcher:
    """Downloads recorded URLs for ``check --fix`` through one index client, opened at the first download (a
    folder with nothing to fix never imports the HTTP stack) and closed with ``stack``."""

    def __init__(self, config: IndexConfig, stack: ExitStack) -> None:
        self.config = config
        self.stack = stack
        self._client: IndexClient | None = None

    def __call__(self, filename: str, url: str, sha256: str | None, dest: Path) -> str:
        from wheelhouse.index.pages import RemoteFile

        return self.client().download(RemoteFile(filename=filename, url=url, sha256=sha256), dest)

    def client(self) -> IndexClient:
        if self._client is None:
            from wheelhouse.index.http import IndexClient

            # The configured indexes carry the credentials (if any) for the hosts the recorded URLs point at.
            self._client = self.stack.enter_context(IndexClient(self.config, jobs=1))
        return self._client


def _fix_index(settings: Settings) -> IndexConfig:
    """The index settings of a download with the configured requirements (their files' options included
    when they can be read: a broken requirements file must not stop a repair)."""
    try:
        requirements = load_inputs(settings, (), required=False)
    except WheelhouseError as exc:
        _log.info(f"the index options of the requirements files are left out: {exc}")
        requirements = None
    return index_config(settings, requirements)


@click.command("check")
@click.option(
    "--fix",
    is_flag=True,
    help="Move bad files aside to wheels/.wheelhouse/quarantine/ (never deleted) and download them again "
    "from the URL recorded for them.",
)
@project_options(requirements=False, targets=False)
@json_option
def check_command(fix: bool, project: ProjectOptions, as_json: bool) -> None:
    """Check every file in the wheels folder: each wheel is a readable zip whose RECORD matches its
    contents and whose sha256 matches the one recorded when it was downloaded.

    Also reports files that are not wheels, wheels whose METADATA contradicts their name, and partial
    files left by interrupted runs. Reads every byte, a chunk at a time; zip bombs are refused unread.

    Exit status: 0 nothing wrong (or, with --fix, everything fixed), 1 problems remain.
    """
    from wheelhouse.share.integrity import check, report_to_json

    state = get_state()
    settings, store = existing_store(project)
    with ExitStack() as stack:
        fetch = _Fetcher(_fix_index(settings), stack) if fix else None
        with TransientProgress(state, "checking", not as_json) as progress:
            report = check(store, fix=fix, fetch=fetch, jobs=settings.jobs, reporter=progress)
    if as_json:
        print_json(report_to_json(report))
    else:
        _render_check(state, report)
    click.get_current_context().exit(ExitCode.OK if report.clean else ExitCode.FAILURE)


def _render_check(state: State, report: CheckReport) -> None:
    out = state.console
    where = text(report.wheels_dir)
    for issue in report.issues:
        mark = "[green]✓[/]" if issue.fixed else "[red]✗[/]"
        out.print(f"{mark} {where}/{text(issue.filename)}: [bold]{issue.kind}[/]: {text(issue.reason)}")
        for detail in issue.details:
            out.print(f"    also: {text(detail)}")
        if issue.fix is not None:
            colour = "green" if issue.fix.fixed else "red"
            out.print(f"    [{colour}]{issue.fix.status}[/]: {text(issue.fix.detail)}")
            if issue.fix.quarantined:
                out.print(f"    now at {where}/{text(issue.fix.quarantined)}")
            if issue.fix.command:
                out.print(f"    [bold]fix:[/] {text(issue.fix.command)}")
    for name in report.cleaned:
        out.print(f"[green]✓[/] removed the partial file {text(name)} left by an interrupted run")
    for name in report.stray:
        _log.warning(
            f"{report.wheels_dir}/{name}: partial file of an interrupted or running download"
            + ("; it could not be removed" if report.fixed else "; 'wheelhouse check --fix' removes it")
        )
    bad = [i for i in report.issues if not i.fixed]
    checked = plural(report.checked, "file")
    if not report.issues:
        out.print(f"[green]✓[/] {where}: {checked} checked, all intact")
    elif not bad:
        out.print(f"[green]✓[/] {where}: {checked} checked, {len(report.issues)} fixed")
    else:
        out.print(f"[red]✗[/] {where}: {checked} checked, {len(bad)} with problems")
        if all(issue.kind == "shadowed" for issue in bad):
            # --fix cannot tell which of two shadowing wheels was verified; nothing to move or download.
            out.print("  [bold]fix:[/] remove the one of each shadowing pair you do not want")
        elif not report.fixed:
            argv = ["wheelhouse", "check", "--fix"]
            if report.wheels_dir != "wheels":
                argv += ["--wheels", report.wheels_dir]
            out.print(f"  [bold]fix:[/] {text(shlex.join(argv))}  (moves them aside and downloads them again)")
