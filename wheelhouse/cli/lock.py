"""``wheelhouse lock``: pinned requirements with ``--hash`` entries (or a PEP 751 ``pylock.toml``) for the wheels
that serve the targets.

Calls :mod:`wheelhouse.resolve.lockfile` (build, render, write) and, for ``--format pylock``,
:mod:`wheelhouse.resolve.pylock`, and reports what was written (rich, or ``--json``). Nothing is written unless
every target resolves from the folder.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

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
    reproduce,
    requirement_args,
)
from wheelhouse.cli._reports import text
from wheelhouse.errors import NotCoveredError, StoreError
from wheelhouse.store.fs import is_stream, read_bounded, refuse_inside, write_output

if TYPE_CHECKING:
    from wheelhouse.resolve.lockfile import Lock

DEFAULT_OUTPUT = "requirements.lock"
DEFAULT_OUTPUTS = {"requirements": DEFAULT_OUTPUT, "pylock": "pylock.toml"}


def _format_of(output: str | None, lock_format: str | None) -> tuple[str, str]:
    """The format and the output: --format, else told by the name of -o (pylock.toml, pylock.NAME.toml)."""
    from wheelhouse.resolve.pylock import check_output_name, is_pylock_name

    if lock_format is None:
        lock_format = "pylock" if output not in (None, "-") and is_pylock_name(output) else "requirements"
    output = output or DEFAULT_OUTPUTS[lock_format]
    if lock_format == "pylock":
        check_output_name(output)
    return lock_format, output


@click.command("lock")
@project_options(packages=True)
@click.option(
    "-o",
    "--output",
    default=None,
    metavar="FILE",
    help="Where to write the lock; '-' for standard output. Default: requirements.lock, or pylock.toml "
    "with --format pylock.",
)
@click.option(
    "--format",
    "lock_format",
    type=click.Choice(["requirements", "pylock"]),
    default=None,
    help="requirements: pip's format with --hash lines (default); pylock: a PEP 751 pylock.toml whose files "
    "point into the wheels folder. Default: told by the -o name.",
)
@json_option
def lock_command(project: ProjectOptions, output: str | None, lock_format: str | None, as_json: bool) -> None:
    """Write pinned requirements with --hash entries for the wheels in the folder that serve the targets.

    One file serves every target: pins only some targets use carry environment markers. Install with
    `pip install --require-hashes --no-index --find-links wheels -r requirements.lock`. With --format pylock,
    a PEP 751 pylock.toml lists every file with its hash, size and path into the wheels folder: install it with
    `pip install --no-index -r pylock.toml` (pip 26.1 or newer) or `uv pip install --offline -r pylock.toml`.
    Refuses (exit 3, nothing written) when the requirements do not resolve from the folder for every target.
    """
    from wheelhouse.resolve.lockfile import build_lock, render_lock
    from wheelhouse.share.inventory import open_store

    state = get_state()
    lock_format, output = _format_of(output, lock_format)
    settings, reqs, target_list = load_project(project)
    streamed = False
    if output != "-":
        # Checked before any work: a lock written there would replace a wheel or the folder's own state.
        refuse_inside(
            settings.wheels_path,
            Path(output),
            what="the lock",
            hint=f"name a lock outside the folder, e.g. wheelhouse lock -o {DEFAULT_OUTPUTS[lock_format]}",
        )
        # A device or a pipe (-o /dev/stdout) is written every time, and a directory is refused here.
        streamed = is_stream(Path(output))
    # A lock that goes to a stream is saved under its usual name: its paths and install line say that name.
    named = DEFAULT_OUTPUTS[lock_format] if output == "-" or streamed else output
    store = open_store(settings.wheels_path)
    extra = [] if lock_format == "requirements" else ["--format", lock_format]
    extra += [] if output == DEFAULT_OUTPUTS[lock_format] else ["-o", output]
    lock = build_lock(
        reqs,
        target_list,
        store,
        command=reproduce("lock", settings, project.packages, *extra),
        fix_args=requirement_args(settings, project.packages),
    )
    if not lock.covered:
        if as_json:
            print_json(_lock_json(lock, output, None, written=False, lock_format=lock_format))
        else:
            from wheelhouse.cli._reports import render_verify

            render_verify(state, lock.report)
        raise NotCoveredError(
            "refusing to lock: the requirements do not resolve from the folder for every target; nothing was written",
            hint="fill the gaps with the 'fix' command above, then lock again",
        )
    if lock_format == "pylock":
        from wheelhouse.resolve.pylock import render_pylock

        # Written to standard output, the paths into the wheels folder are relative to the working directory.
        text_of_lock = render_pylock(lock, store, output=Path(named).absolute(), wheels_dir=settings.wheels)
    else:
        text_of_lock = render_lock(lock, wheels_dir=settings.wheels, output=named)
    if output == "-":
        if as_json:
            print_json(_lock_json(lock, output, text_of_lock, written=False, lock_format=lock_format))
        else:
            sys.stdout.write(text_of_lock)
        return
    path = Path(output)
    data = text_of_lock.encode()
    unchanged = not streamed and _current(path) == data
    if not unchanged:
        # An identical lock is left untouched, so its mtime (and any build cache keyed on it) stays valid.
        try:
            streamed = write_output(path, data)
        except OSError as exc:
            raise StoreError(f"cannot write {output}: {exc.strerror or exc}") from None
    if as_json:
        print_json(_lock_json(lock, output, None, written=not unchanged, lock_format=lock_format))
        return
    # Standard output may be where the lock went (-o /dev/stdout | ...): the summary must not follow it there.
    _render_lock(State(verbose=state.verbose, _console=state.err) if streamed else state, lock, output, unchanged)


def _current(path: Path) -> bytes | None:
    """The lock already at ``path``, when it is a regular file small enough to be one wheelhouse wrote."""
    try:
        return read_bounded(path)
    except OSError:
        return None


def _lock_json(
    lock: Lock, output: str, text_of_lock: str | None, *, written: bool, lock_format: str = "requirements"
) -> dict[str, Any]:
    from wheelhouse.resolve.verify import report_to_json

    data: dict[str, Any] = {
        "schema": JSON_SCHEMA_VERSION,
        "output": output,
        "format": lock_format,
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
    if text_of_lock is not None:
        data["text"] = text_of_lock
    return data


def _render_lock(state: State, lock: Lock, output: str, unchanged: bool) -> None:
    pins = len(lock.entries)
    marked = sum(e.marker is not None for e in lock.entries)
    files = sum(len(e.files) for e in lock.entries)
    verb = "unchanged" if unchanged else "wrote"
    detail = (
        f"{plural(pins, 'pin')} ({marked} with markers), {plural(files, 'file')}, {plural(len(lock.targets), 'target')}"
    )
    state.console.print(f"[green]✓[/] {verb} {text(output)}: {detail}")
