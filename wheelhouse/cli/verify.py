"""``wheelhouse verify``."""

from __future__ import annotations

import click

from wheelhouse.cli._common import (
    get_state,
    json_option,
    load_project,
    print_json,
    requirement_args,
    requirement_options,
    target_options,
    wheels_option,
)
from wheelhouse.errors import ExitCode


@click.command("verify")
@requirement_options
@target_options
@wheels_option
@json_option
def verify_command(
    packages: tuple[str, ...],
    requirement_files: tuple[str, ...],
    constraints: tuple[str, ...],
    targets: tuple[str, ...],
    pythons: tuple[str, ...],
    libc: str | None,
    wheels_dir: str | None,
    as_json: bool,
) -> None:
    """Prove offline that the wheels folder covers every requirement and its whole dependency closure,
    for every target. Never touches the network.

    Exit status: 0 every target covered, 3 some target not covered, 2 bad usage, 1 other failure.
    Each gap names the chain of requirements that needs it, every file that was present and why it was
    rejected, and the `wheelhouse download` command that fills it.
    """
    from wheelhouse.resolve.verify import report_to_json, verify
    from wheelhouse.store.folder import Store

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
    store = Store(settings.wheels_path)
    if not store.root.exists():
        # (A path that exists but is not a folder is the store's one-line error, not a warning.)
        state.warn(f"the wheels folder {settings.wheels} does not exist")
    report = verify(reqs, target_list, store, fix_args=requirement_args(settings, packages), warn=state.warn)
    if as_json:
        print_json(report_to_json(report))
    else:
        from wheelhouse.cli._reports import render_verify

        render_verify(state, report)
    click.get_current_context().exit(ExitCode.OK if report.covered else ExitCode.NOT_COVERED)
