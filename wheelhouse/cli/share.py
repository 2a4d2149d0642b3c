"""``wheelhouse check``, ``index``, ``serve``, ``export`` and ``import``: keep the folder sound and share it."""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from wheelhouse.cli._common import (
    State,
    effective_settings,
    get_state,
    json_option,
    load_project,
    print_json,
    requirement_args,
    requirement_options,
    target_options,
    wheels_option,
)
from wheelhouse.errors import ExitCode, StoreError, WheelhouseError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from wheelhouse.share.integrity import CheckReport, Fetch
    from wheelhouse.share.static_index import IndexResult
    from wheelhouse.store.folder import Store


def _existing_store(wheels_dir: str | None) -> Store:
    from wheelhouse.store.folder import Store

    settings = effective_settings(wheels_dir=wheels_dir)
    store = Store(settings.wheels_path)
    if not store.root.is_dir():
        raise StoreError(
            f"the wheels folder {store.root} does not exist",
            hint="wheelhouse download -r requirements.txt (or pass --wheels DIR)",
        )
    return store


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    value = n / 1000
    for unit in ("kB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


class _Progress:
    """A transient rich progress bar on a terminal's stderr; silent otherwise."""

    def __init__(self, state: State, label: str, enabled: bool) -> None:
        self.state = state
        self.label = label
        self.enabled = enabled and state.err_is_terminal
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import Progress

            self._progress = Progress(console=self.state.err, transient=True)
            self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, done: int, total: int) -> None:
        if self._progress is None:
            return
        if self._task is None:
            self._task = self._progress.add_task(self.label, total=total)
        self._progress.update(self._task, completed=done, total=total)

    # CheckReporter hooks
    def checked(self, filename: str, done: int, total: int) -> None:
        self.update(done, total)

    def fixing(self, filename: str) -> None:
        self.state.info(f"fixing {filename}")


# -- check -------------------------------------------------------------------------------------------------


def _fetcher(state: State) -> Fetch:
    """Download recorded URLs through wheelhouse's index client, with pip's certificates and credentials."""
    settings = state.settings()

    def fetch(filename: str, url: str, sha256: str | None, dest: Path) -> str:
        from wheelhouse.index.config import index_config_from_pip
        from wheelhouse.index.http import IndexClient
        from wheelhouse.index.pages import RemoteFile

        config = index_config_from_pip()
        # The configured indexes carry the credentials (if any) for the hosts the recorded URLs point at.
        overrides: dict[str, Any] = {}
        if settings.index_url:
            overrides["index_url"] = settings.index_url
        if settings.extra_index_urls:
            overrides["extra_index_urls"] = settings.extra_index_urls
        if overrides:
            config = dataclasses.replace(config, **overrides)
        with IndexClient(config, jobs=1) as client:
            return client.download(RemoteFile(filename=filename, url=url, sha256=sha256), dest)

    return fetch


@click.command("check")
@click.option(
    "--fix",
    is_flag=True,
    help="Move bad files aside to wheels/.wheelhouse/quarantine/ (never deleted) and download them again "
    "from the URL recorded for them.",
)
@wheels_option
@json_option
def check_command(fix: bool, wheels_dir: str | None, as_json: bool) -> None:
    """Check every file in the wheels folder: each wheel is a readable zip whose RECORD matches its
    contents and whose sha256 matches the one recorded when it was downloaded.

    Also reports files that are not wheels, wheels whose METADATA contradicts their name, and partial
    files left by interrupted runs. Reads every byte, a chunk at a time; zip bombs are refused unread.

    Exit status: 0 nothing wrong (or, with --fix, everything fixed), 1 problems remain.
    """
    from wheelhouse.share.integrity import check, report_to_json

    state = get_state()
    store = _existing_store(wheels_dir)
    settings = state.settings()
    with _Progress(state, "checking", not as_json) as progress:
        report = check(store, fix=fix, fetch=_fetcher(state) if fix else None, jobs=settings.jobs, reporter=progress)
    if as_json:
        print_json(report_to_json(report))
    else:
        _render_check(state, report)
    click.get_current_context().exit(ExitCode.OK if report.clean else ExitCode.FAILURE)


def _render_check(state: State, report: CheckReport) -> None:
    from rich.markup import escape

    out = state.console
    where = report.wheels_dir
    for issue in report.issues:
        mark = "[green]✓[/]" if issue.fixed else "[red]✗[/]"
        out.print(f"{mark} {escape(where)}/{escape(issue.filename)}: [bold]{issue.kind}[/]: {escape(issue.reason)}")
        for detail in issue.details:
            out.print(f"    also: {escape(detail)}")
        if issue.fix is not None:
            colour = "green" if issue.fix.fixed else "red"
            out.print(f"    [{colour}]{issue.fix.status}[/]: {escape(issue.fix.detail)}")
            if issue.fix.quarantined:
                out.print(f"    now at {escape(where)}/{escape(issue.fix.quarantined)}")
            if issue.fix.command:
                out.print(f"    [bold]fix:[/] {escape(issue.fix.command)}")
    for name in report.cleaned:
        out.print(f"[green]✓[/] removed the partial file {escape(name)} left by an interrupted run")
    for name in report.stray:
        state.warn(
            f"{where}/{name}: partial file of an interrupted or running download"
            + ("; it is recent, so it was left alone" if report.fixed else "; 'wheelhouse check --fix' removes it")
        )
    bad = [i for i in report.issues if not i.fixed]
    noun = "file" if report.checked == 1 else "files"
    if not report.issues:
        out.print(f"[green]✓[/] {escape(where)}: {report.checked} {noun} checked, all intact")
    elif not bad:
        out.print(f"[green]✓[/] {escape(where)}: {report.checked} {noun} checked, {len(report.issues)} fixed")
    else:
        out.print(f"[red]✗[/] {escape(where)}: {report.checked} {noun} checked, {len(bad)} with problems")
        if not report.fixed:
            argv = ["wheelhouse", "check", "--fix"] + (["--wheels", where] if where != "wheels" else [])
            out.print(f"  [bold]fix:[/] {escape(shlex.join(argv))}  (moves them aside and downloads them again)")


# -- index and serve ---------------------------------------------------------------------------------------


def _out_option(func: Any) -> Any:
    return click.option(
        "--out",
        "out_dir",
        type=click.Path(file_okay=False),
        default=None,
        help="Directory of the index (default: wheels/.wheelhouse/index). Created if missing; it must be empty "
        "or hold an earlier index.",
    )(func)


@click.command("index")
@wheels_option
@_out_option
@json_option
def index_command(wheels_dir: str | None, out_dir: str | None, as_json: bool) -> None:
    """Write a static package index over the folder: PEP 503 HTML and PEP 691 JSON pages with sha256
    fragments, Requires-Python and PEP 658 .metadata files, and the wheels (hard links, or copies).

    pip and uv use it with --index-url file://DIR/simple/; copy DIR to any static web server or object
    store to share the wheelhouse with many machines. Re-running updates only what changed.
    """
    from wheelhouse.share.static_index import build_index, result_to_json

    state = get_state()
    store = _existing_store(wheels_dir)
    result = build_index(store, Path(out_dir) if out_dir else None)
    if as_json:
        print_json(result_to_json(result))
        return
    _render_index(state, result)
    state.console.print(f"  use it:   pip install --index-url {result.url} PKG")
    state.console.print("  serve it: wheelhouse serve" + (f" --out {shlex.quote(out_dir)}" if out_dir else ""))


def _render_index(state: State, result: IndexResult) -> None:
    from rich.markup import escape

    projects = len(result.projects)
    changes = (
        f"{len(result.written)} written, {len(result.removed)} removed"
        if result.written or result.removed
        else "unchanged"
    )
    state.console.print(
        f"[green]✓[/] index of {projects} project{'s' if projects != 1 else ''}, {len(result.files)} files "
        f"in {escape(str(result.out_dir))} ({changes})"
    )
    if result.copied:
        state.warn(
            f"{len(result.copied)} files were copied, not hard-linked (the index is on another filesystem); "
            "they take space twice"
        )


@click.command("serve")
@wheels_option
@_out_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on; loopback by default.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port; 0 picks a free one."
)
@json_option
def serve_command(wheels_dir: str | None, out_dir: str | None, host: str, port: int, as_json: bool) -> None:
    """Serve the folder as a package index (PEP 503/691 with PEP 658 metadata) until interrupted.

    Writes or refreshes the static index first (see 'wheelhouse index') and rebuilds it when files are added
    to or removed from the folder. Listens on 127.0.0.1 by default; another address serves other machines
    too, without authentication, and prints a warning. The first line printed is the index URL (with
    --json, a JSON object on one line). -v logs every request.
    """
    import signal

    from wheelhouse.share.serve import AutoRefresh, IndexHTTPServer, is_loopback
    from wheelhouse.share.static_index import default_index_dir

    state = get_state()
    store = _existing_store(wheels_dir)
    out = Path(out_dir) if out_dir else default_index_dir(store)
    if not is_loopback(host):
        state.warn(
            f"serving on {host}: every machine that can reach this address can download the wheels "
            "(no authentication, no TLS)"
        )
    refresh = AutoRefresh(store, out, on_rebuild=lambda r: state.info(f"index rebuilt: {len(r.written)} written"))
    refresh()
    try:
        server = IndexHTTPServer(out, host, port, refresh=refresh, log=state.info if state.verbose else None)
    except OSError as exc:
        raise WheelhouseError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", hint="wheelhouse serve --port 0 (any free port)"
        ) from None

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        # The URL is printed only once the socket listens and an interrupt is handled: a client or supervisor
        # that stops the server as soon as it reads the URL gets a clean stop, not exit 130.
        if as_json:
            # One line, so a supervisor can read the URL before the server blocks.
            data = {"schema": 1, "url": server.url, "index_url": server.index_url, "out": str(out)}
            sys.stdout.write(json.dumps(data) + "\n")
        else:
            click.echo(f"Serving {store.root} at {server.index_url}")
            click.echo(f"  pip install --index-url {server.index_url} PKG   (Ctrl-C stops)")
        sys.stdout.flush()
        server.serve_forever()
    except KeyboardInterrupt:
        state.info("stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()


# -- export and import -------------------------------------------------------------------------------------


@click.command("export")
@click.argument("bundle", type=click.Path(dir_okay=False))
@requirement_options
@target_options
@wheels_option
@json_option
def export_command(
    bundle: str,
    packages: tuple[str, ...],
    requirement_files: tuple[str, ...],
    constraints: tuple[str, ...],
    targets: tuple[str, ...],
    pythons: tuple[str, ...],
    libc: str | None,
    wheels_dir: str | None,
    as_json: bool,
) -> None:
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
    from wheelhouse.share.bundle import compatible_wheels, export_bundle, export_to_json, required_wheels

    state = get_state()
    store = _existing_store(wheels_dir)
    selective = bool(packages or requirement_files or constraints or targets or pythons)
    filenames: list[str] | None = None
    target_names: list[str] = []
    if selective:
        settings, reqs, target_list = load_project(
            packages,
            wheels_dir=wheels_dir,
            requirement_files=requirement_files,
            constraints=constraints,
            targets=targets,
            pythons=pythons,
            libc=libc,
            required=False,
        )
        target_names = [t.name for t in target_list]
        if reqs.requirements:
            from wheelhouse.resolve.verify import verify

            report = verify(reqs, target_list, store, fix_args=requirement_args(settings, packages), warn=state.warn)
            filenames = required_wheels(report)
        else:
            filenames = compatible_wheels(store.scan(), target_list)
        if not filenames:
            state.warn(f"no wheel in {store.root} serves {', '.join(target_names)}; the bundle is empty")
    with _Progress(state, "exporting", not as_json) as progress:
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
    from rich.markup import escape

    total = sum(f.size for f in result.files)
    scope = f" for {', '.join(result.targets)}" if result.targets else ""
    state.console.print(
        f"[green]✓[/] wrote {escape(bundle)}: {len(result.files)} wheels{escape(scope)}, {_size(total)}, "
        f"with {escape('SHA256SUMS')} and manifest.json"
    )
    state.console.print(f"  on the other side: wheelhouse import {escape(shlex.quote(bundle))}")


@click.command("import")
@click.argument("bundle", type=click.Path(dir_okay=False))
@wheels_option
@json_option
def import_command(bundle: str, wheels_dir: str | None, as_json: bool) -> None:
    """Add the wheels of BUNDLE (written by 'wheelhouse export') to the folder, all or nothing.

    Every checksum is verified and every wheel checked before anything is added. A bundle holding anything
    but wheels under wheels/ (links, devices, absolute paths, '..'), a wheel without a matching checksum, or
    a wheel that would replace a different file of the same name is refused whole. Wheels already present
    are kept; the bundle's provenance records (targets, sources, URLs) are merged into the folder's.
    """
    from wheelhouse.share.bundle import import_bundle, import_to_json
    from wheelhouse.store.folder import Store

    state = get_state()
    settings = effective_settings(wheels_dir=wheels_dir)
    store = Store(settings.wheels_path)
    with _Progress(state, "importing", not as_json):
        result = import_bundle(store, Path(bundle), on_file=lambda f: state.info(f"staging {f}"))
    if as_json:
        print_json(import_to_json(result))
        return
    from rich.markup import escape

    state.console.print(
        f"[green]✓[/] imported {len(result.added)} wheels into {escape(str(store.root))} "
        f"({len(result.present)} already present), every checksum verified"
    )
    if result.targets:
        argv = ["wheelhouse", "verify"] + [a for t in result.targets for a in ("--target", t)]
        state.console.print(f"  next: {escape(shlex.join(argv))} -r requirements.txt")
