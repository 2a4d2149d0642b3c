"""``wheelhouse index`` and ``wheelhouse serve``: the folder as a PEP 503/691 package index, written as static
files (:mod:`wheelhouse.share.static_index`) or served over HTTP (:mod:`wheelhouse.share.serve`)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from wheelhouse import _log
from wheelhouse._text import plural
from wheelhouse.cli import _process
from wheelhouse.cli._common import (
    JSON_SCHEMA_VERSION,
    F,
    ProjectOptions,
    State,
    existing_store,
    get_state,
    json_option,
    print_json,
    project_options,
)
from wheelhouse.cli._reports import text
from wheelhouse.errors import WheelhouseError

if TYPE_CHECKING:
    from wheelhouse.share.static_index import IndexResult


def _out_option(func: F) -> F:
    return click.option(
        "--out",
        "out_dir",
        type=click.Path(file_okay=False),
        default=None,
        help="Directory of the index (default: wheels/.wheelhouse/index). Created if missing; it must be empty "
        "or hold an earlier index.",
    )(func)


@click.command("index")
@project_options(requirements=False, targets=False)
@_out_option
@json_option
def index_command(project: ProjectOptions, out_dir: str | None, as_json: bool) -> None:
    """Write a static package index over the folder: PEP 503 HTML and PEP 691 JSON pages with sha256
    fragments, Requires-Python and PEP 658 .metadata files, and the wheels (hard links, or copies).

    pip and uv use it with --index-url file://DIR/simple/; copy DIR to any static web server or object
    store to share the wheelhouse with many machines. Re-running updates only what changed.
    """
    from wheelhouse.share.static_index import build_index, result_to_json

    state = get_state()
    _settings, store = existing_store(project)
    result = build_index(store, Path(out_dir) if out_dir else None)
    if as_json:
        print_json(result_to_json(result))
        return
    _render_index(state, result)
    state.console.print(f"  use it:   pip install --index-url {text(result.url)} PKG")
    state.console.print("  serve it: wheelhouse serve" + (f" --out {text(shlex.quote(out_dir))}" if out_dir else ""))


def _render_index(state: State, result: IndexResult) -> None:
    changes = (
        f"{len(result.written)} written, {len(result.removed)} removed"
        if result.written or result.removed
        else "unchanged"
    )
    state.console.print(
        f"[green]✓[/] index of {plural(len(result.projects), 'project')}, {plural(len(result.files), 'file')} "
        f"in {text(result.out_dir)} ({changes})"
    )
    if result.copied:
        _log.warning(
            f"{plural(len(result.copied), 'file was', 'files were')} copied, not hard-linked (the index is on "
            "another filesystem); they take space twice"
        )


@click.command("serve")
@project_options(requirements=False, targets=False)
@_out_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on; loopback by default.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port; 0 picks a free one."
)
@json_option
def serve_command(project: ProjectOptions, out_dir: str | None, host: str, port: int, as_json: bool) -> None:
    """Serve the folder as a package index (PEP 503/691 with PEP 658 metadata) until interrupted.

    Writes or refreshes the static index first (see 'wheelhouse index') and rebuilds it when files are added
    to or removed from the folder. Listens on 127.0.0.1 by default; another address serves other machines
    too, without authentication, and prints a warning. The first line printed is the index URL (with
    --json, a JSON object on one line). -v logs every request.
    """
    import signal

    from wheelhouse.share.serve import AutoRefresh, IndexHTTPServer, is_loopback
    from wheelhouse.share.static_index import default_index_dir

    # A server runs until it is stopped: what it makes in cycles (a request's error, a thread) must be freed.
    _process.resume_collector()
    state = get_state()
    _settings, store = existing_store(project)
    out = Path(out_dir) if out_dir else default_index_dir(store)
    if not is_loopback(host):
        _log.warning(
            f"serving on {host}: every machine that can reach this address can download the wheels "
            "(no authentication, no TLS)"
        )
    refresh = AutoRefresh(store, out, on_rebuild=lambda r: _log.info(f"index rebuilt: {len(r.written)} written"))
    refresh()
    try:
        server = IndexHTTPServer(out, host, port, refresh=refresh, log=_log.info if state.verbose else None)
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
            data = {"schema": JSON_SCHEMA_VERSION, "url": server.url, "index_url": server.index_url, "out": str(out)}
            sys.stdout.write(json.dumps(data) + "\n")
        else:
            click.echo(f"Serving {store.root} at {server.index_url}")
            click.echo(f"  pip install --index-url {server.index_url} PKG   (Ctrl-C stops)")
        sys.stdout.flush()
        server.serve_forever()
    except KeyboardInterrupt:
        _log.info("stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
