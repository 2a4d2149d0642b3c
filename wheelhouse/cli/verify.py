"""``wheelhouse verify``: prove offline that the folder covers the requirements for every target.

Calls :func:`wheelhouse.resolve.verify.verify` and renders its report (:func:`wheelhouse.cli._reports.render_verify`,
or ``--json``); the exit status says whether every target is covered. With ``--index-url``/``--against`` the
same proof is made over a server's pages instead of the folder (:func:`wheelhouse.share.remote_verify.verify_remote`).
"""

from __future__ import annotations

import click

from wheelhouse import _log
from wheelhouse.cli._common import (
    ProjectOptions,
    get_state,
    json_option,
    load_project,
    print_json,
    project_options,
    requirement_args,
)
from wheelhouse.errors import ExitCode


@click.command("verify")
@project_options(packages=True)
@click.option(
    "--index-url",
    "--against",
    "against",
    default=None,
    metavar="URL",
    help="Prove it of a package index server instead (its Simple API URL), from its pages and metadata alone.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Prove it again even when nothing it depends on changed, instead of answering from the proof cache "
    "(also WHEELHOUSE_NO_PROOF_CACHE=1).",
)
@json_option
def verify_command(project: ProjectOptions, against: str | None, no_cache: bool, as_json: bool) -> None:
    """Prove offline that the wheels folder covers every requirement and its whole dependency closure,
    for every target. Never touches the network, unless --index-url names a server to prove it of instead.

    Exit status: 0 every target covered, 3 some target not covered, 2 bad usage, 1 other failure.
    Each gap names the chain of requirements that needs it, every file that was present and why it was
    rejected, and the `wheelhouse download` command that fills it.

    The answer is kept in wheels/.wheelhouse/proofs/ and given again, without resolving, while nothing it
    depends on changes: the files in the folder (name, size, mtime, inode, ctime), every input file read
    (by content), the options, the working directory, the environment and terminal, wheelhouse and the
    Python running it. -v says when the answer came from there; --no-cache proves it again. A read-only
    folder is proved every time.
    """
    from wheelhouse import _recording
    from wheelhouse.resolve.hashmode import warn_unhashed_dependencies
    from wheelhouse.resolve.verify import report_to_json, verify
    from wheelhouse.store.folder import Store

    state = get_state()
    settings, reqs, target_list = load_project(project)
    if against is not None:
        _recording.forbid("a server's pages are not files the cache can check")
        from wheelhouse.cli.publish import verify_against

        verify_against(state, against, reqs, target_list, requirement_args(settings, project.packages), as_json)
        return
    store = Store(settings.wheels_path)
    if not no_cache:
        _recording.note_folder(str(settings.wheels_path))
    if not store.root.exists():
        # (A path that exists but is not a folder is the store's one-line error, not a warning.)
        _log.warning(f"the wheels folder {settings.wheels} does not exist")
    report = verify(reqs, target_list, store, fix_args=requirement_args(settings, project.packages))
    warn_unhashed_dependencies(reqs, report.resolutions)
    if as_json:
        print_json(report_to_json(report))
    else:
        from wheelhouse.cli._reports import render_verify

        render_verify(state, report)
    click.get_current_context().exit(ExitCode.OK if report.covered else ExitCode.NOT_COVERED)
