"""``wheelhouse publish``: upload what the targets need to a package index server, then prove it holds them.

Parses the options, finds the credentials (:meth:`wheelhouse.share.upload.Repository.from_options`), selects the
files (:func:`wheelhouse.share.publish.select_files`), and calls :func:`wheelhouse.share.publish.publish` with a
reporter that draws progress (rich on a terminal, a line per event otherwise); renders the result or ``--json``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from wheelhouse._text import plural, redact, size
from wheelhouse.cli._common import (
    JSON_SCHEMA_VERSION,
    FiniteFloat,
    ProjectOptions,
    State,
    existing_store,
    get_state,
    json_option,
    load_project,
    print_json,
    project_options,
    requirement_args,
)
from wheelhouse.cli._progress import TransferBars, echo, short
from wheelhouse.cli._reports import text
from wheelhouse.errors import ExitCode, UsageError, WheelhouseError
from wheelhouse.share.publish import DEFAULT_JOBS, PublishPlan, PublishReporter, PublishResult
from wheelhouse.share.upload import UploadFile, UploadStatus

if TYPE_CHECKING:
    from wheelhouse.requirements import RequirementSet
    from wheelhouse.targets import Target


@click.command("publish")
@project_options(packages=True)
@click.option(
    "--repository-url",
    envvar="TWINE_REPOSITORY_URL",
    show_envvar=True,
    default=None,
    metavar="URL",
    help="The server's upload URL, as twine takes it (devpi: http://host:3141/USER/INDEX/, pypiserver: "
    "http://host:8080/, Artifactory: .../api/pypi/REPO, Nexus: .../repository/REPO/).",
)
@click.option(
    "--index-url",
    default=None,
    metavar="URL",
    help="Where the server's Simple API is read (default: <repository-url>/+simple/ on devpi, "
    "<repository-url>/simple/ elsewhere).",
)
@click.option("-u", "--username", envvar="TWINE_USERNAME", show_envvar=True, default=None, help="User name.")
@click.option(
    "-p",
    "--password",
    envvar="TWINE_PASSWORD",
    show_envvar=True,
    default=None,
    help="Password or token (default: the URL, ~/.netrc, or the keyring command for --username).",
)
@click.option("--sdists", is_flag=True, help="Also upload the kept source distributions of the pinned versions.")
@click.option(
    "--all", "everything", is_flag=True, help="Upload every file of the folder, not only what the targets need."
)
@click.option(
    "--dry-run", is_flag=True, help="List what would be uploaded (the server's pages are read); send nothing."
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 32),
    default=DEFAULT_JOBS,
    show_default=True,
    help="Parallel uploads.",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    metavar="N",
    help="Retries of each failed upload (a dropped connection, a 5xx answer), with back-off. Uploads only: "
    "reading the server's pages is retried 4 times, as for downloads.",
)
@click.option("--cert", default=None, metavar="PATH", help="CA bundle for HTTPS.")
@click.option(
    "--timeout",
    type=FiniteFloat(min=0, min_open=True),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds a connection may stay silent before the attempt fails.",
)
@json_option
def publish_command(
    project: ProjectOptions,
    repository_url: str | None,
    index_url: str | None,
    username: str | None,
    password: str | None,
    sdists: bool,
    everything: bool,
    dry_run: bool,
    jobs: int,
    retries: int,
    cert: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Upload the wheels the targets need (with --all: the whole folder) to a package index server through
    the upload API twine uses, then prove from the server's pages that it covers every target.

    Before uploading, the server's page of each project is read: files it lists with the same sha256 are not
    sent again (a second run uploads nothing); a file of the same name with another sha256 stops the run
    before anything is sent, naming both hashes (a published file is never overwritten). Uploads run in
    parallel and each is retried on its own. Afterwards the pages are read again, every file's sha256 is
    checked, and every target is resolved over the server alone, as `verify --index-url` does.

    Exit status: 0 the server covers every target, 1 an upload or the check failed (or a conflict),
    3 the folder itself does not cover a target (nothing is sent), 2 bad usage.
    """
    from wheelhouse.share.publish import (
        PublishOptions,
        index_config_for,
        publish,
        select_files,
        server_index_url,
    )
    from wheelhouse.share.upload import Repository, Uploader

    state = get_state()
    if not repository_url:
        raise UsageError(
            "no repository to publish to",
            hint="wheelhouse publish --repository-url https://devpi.example/USER/INDEX/ (or TWINE_REPOSITORY_URL)",
        )
    _check_url("--repository-url", repository_url, ("http", "https"))
    if index_url is not None:
        _check_url("--index-url", index_url, _INDEX_SCHEMES)
    _settings, store = existing_store(project)
    settings, reqs, targets = load_project(project, required=not everything)
    options = PublishOptions(jobs=jobs, sdists=sdists, everything=everything, dry_run=dry_run)
    fix_args = requirement_args(settings, project.packages)
    files, _report = select_files(
        store, reqs if reqs.requirements else None, targets, options=options, fix_args=fix_args
    )
    repository = Repository.from_options(repository_url, username, password, cert=cert, timeout=timeout)
    reporter = _reporter(state, as_json)
    with Uploader(repository, retries=retries, backoff=_backoff(), on_retry=reporter.file_retry) as uploader:
        index = index_config_for(repository, server_index_url(uploader, index_url))
        try:
            result = publish(
                uploader,
                files,
                index,
                requirements=reqs if reqs.requirements else None,
                targets=targets,
                options=options,
                reporter=reporter,
                fix_args=fix_args,
                backoff=_backoff(),
            )
        finally:
            reporter.close()
    if as_json:
        print_json(_result_json(result, dry_run))
    else:
        _render(state, result, dry_run)
    click.get_current_context().exit(_exit_code(result))


# A server's pages may also be a static index on this machine (wheelhouse index writes one).
_INDEX_SCHEMES = ("http", "https", "file")


def _check_url(option: str, url: str, schemes: tuple[str, ...]) -> None:
    """UsageError naming ``option`` unless ``url`` is an absolute URL of one of ``schemes`` without a query or a
    fragment: project paths (``simple/<project>/``) are appended to it, which would put them inside a query, and
    a query often carries a token that a message would then show."""
    if "?" in url or "#" in url:
        # Not echoed: the query may hold a token, and a "?" inside a password would cut redaction short.
        raise UsageError(
            f"{option} must not carry a query or a fragment (a '?' or '#' part)",
            hint="give the server's path alone; a token goes in the URL's user:password@, --password or ~/.netrc",
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here rather than at the first request
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in schemes or (parts.scheme.lower() != "file" and not parts.hostname):
        raise UsageError(
            f"{option} {redact(url)!r} is not a URL ({' or '.join(s + '://' for s in schemes)})",
            hint=f"{option} https://HOST/PATH/",
        )


def _backoff() -> float:
    """Seconds before the first retry: ``WHEELHOUSE_BACKOFF`` as download reads it, else 0.5."""
    from wheelhouse.cli.download import _backoff as download_backoff

    return download_backoff()


def _exit_code(result: PublishResult) -> int:
    if result.failed or result.unverified:
        return ExitCode.FAILURE
    if result.report is not None and not result.report.covered:
        return ExitCode.NOT_COVERED
    return ExitCode.OK


# -- progress ----------------------------------------------------------------------------------------------


# What each step of the run is called in the progress lines.
_READING = {
    "server": "reading the server's pages",
    "check": "reading the server's pages again to check every file",
    "verify": "verifying every target over the server",
}


class _PlainReporter(PublishReporter):
    """A line per event, for logs and pipes; silent but for failures with --json."""

    def __init__(self, state: State, quiet: bool) -> None:
        self.state = state
        self.quiet = quiet
        self._lock = threading.Lock()

    def _say(self, message: str) -> None:
        if not self.quiet:
            with self._lock:
                echo(message)

    def reading(self, what: str) -> None:
        self._say(_READING.get(what, what))

    def planned(self, plan: PublishPlan) -> None:
        self._say(_plan_line(plan))

    def file_done(self, item: UploadFile, status: UploadStatus) -> None:
        word = "uploaded" if status == "uploaded" else "already there (said the server)"
        self._say(f"{word} {item.filename} ({size(item.size)})")

    def file_retry(self, item: UploadFile, attempt: int, cause: str) -> None:
        self._say(f"retrying {item.filename} (attempt {attempt + 1}): {cause}")

    def file_failed(self, item: UploadFile, error: WheelhouseError) -> None:
        if self.quiet:
            with self._lock:
                echo(f"error: {error}")

    def close(self) -> None:
        return None


class _RichReporter(_PlainReporter):
    """A live display: one bar per file being sent and a total with bytes, speed and ETA."""

    def __init__(self, state: State) -> None:
        super().__init__(state, quiet=False)
        self.bars = TransferBars(state.err)

    def reading(self, what: str) -> None:
        if what != "server":
            self.bars.print(text(_READING.get(what, what)))

    def planned(self, plan: PublishPlan) -> None:
        self.state.err.print(text(_plan_line(plan)), highlight=False)
        if plan.upload:
            self.bars.start(plan.total_bytes)

    def file_started(self, item: UploadFile) -> None:
        self.bars.begin(item.filename, item.size, text(short(item.filename)))

    def file_progress(self, item: UploadFile, sent: int) -> None:
        self.bars.advance(item.filename, sent)

    def file_done(self, item: UploadFile, status: UploadStatus) -> None:
        self.bars.finish(item.filename)
        word = "" if status == "uploaded" else " (the server already held it)"
        self.bars.print(f"[green]✓[/] {text(item.filename)} ({size(item.size)}){word}")

    def file_retry(self, item: UploadFile, attempt: int, cause: str) -> None:
        self.bars.print(f"[yellow]↻[/] {text(item.filename)}: {text(cause)}; attempt {attempt + 1}")

    def file_failed(self, item: UploadFile, error: WheelhouseError) -> None:
        self.bars.finish(item.filename)
        self.bars.print(f"[red]✗[/] {text(item.filename)}: {text(error)}")

    def close(self) -> None:
        self.bars.stop()


def _reporter(state: State, as_json: bool) -> _PlainReporter:
    if not as_json and state.err_is_terminal and not os.environ.get("CI"):
        return _RichReporter(state)
    return _PlainReporter(state, quiet=as_json)


# -- results -----------------------------------------------------------------------------------------------


def _plan_line(plan: PublishPlan) -> str:
    return (
        f"{plural(len(plan.upload), 'file')} to upload ({size(plan.total_bytes)}) to {plan.repository_url}, "
        f"{len(plan.present)} already there"
    )


def _render(state: State, result: PublishResult, dry_run: bool) -> None:
    out = state.console
    plan = result.plan
    if dry_run:
        out.print(f"[bold]plan[/]: {text(_plan_line(plan))}")
        for item in plan.upload:
            out.print(f"  {text(item.filename)}  {size(item.size)}  sha256 {item.sha256}")
        return
    for failure in (*result.failed, *result.unverified):
        echo(
            f"error: {failure.filename}: {failure.reason}"
            if failure.filename not in failure.reason
            else f"error: {failure.reason}"
        )
    out.print(
        f"uploaded {plural(len(result.uploaded), 'file')} ({size(result.bytes_sent)}) in {result.seconds:.1f} s; "
        f"{len(plan.present)} already there"
    )
    checked = len(plan.upload) + len(plan.present) - len(result.failed) - len(result.unverified)
    if result.checked and not result.unverified and not result.failed:
        out.print(f"[green]✓[/] {text(plan.index_url)} lists every file with its sha256 ({checked} checked)")
    if result.report is not None:
        from wheelhouse.cli._reports import render_verify

        render_verify(state, result.report)
        if result.report.covered:
            out.print("[green]✓[/] the server covers every target")
    elif result.failed or result.unverified:
        out.print("[red]✗[/] the server does not hold every file yet; run the same command again to finish")


def _result_json(result: PublishResult, dry_run: bool) -> dict[str, Any]:
    from wheelhouse.resolve.verify import report_to_json

    plan = result.plan

    def entry(item: UploadFile) -> dict[str, Any]:
        return {"file": item.filename, "size": item.size, "sha256": item.sha256, "kind": item.kind}

    return {
        "schema": JSON_SCHEMA_VERSION,
        "dry_run": dry_run,
        "repository": plan.repository_url,
        "index": plan.index_url,
        "upload": [entry(f) for f in plan.upload],
        "present": [entry(f) for f in plan.present],
        "uploaded": list(result.uploaded),
        "failed": [{"file": f.filename, "reason": f.reason} for f in result.failed],
        "unverified": [{"file": f.filename, "reason": f.reason} for f in result.unverified],
        "checked": result.checked,
        "covered": None if result.report is None else result.report.covered,
        "verify": report_to_json(result.report) if result.report is not None else None,
        "bytes_sent": result.bytes_sent,
        "seconds": round(result.seconds, 3),
    }


# -- verify --index-url ------------------------------------------------------------------------------------


def verify_against(
    state: State,
    index_url: str,
    requirements: RequirementSet,
    targets: Sequence[Target],
    fix_args: Sequence[str],
    as_json: bool,
) -> None:
    """``wheelhouse verify --index-url URL``: resolve every target over that server's pages alone, render the
    report as ``verify`` does, and exit 0 when the server covers every target, 3 otherwise."""
    from wheelhouse.index.config import IndexConfig
    from wheelhouse.index.http import IndexClient
    from wheelhouse.resolve.verify import report_to_json
    from wheelhouse.share.remote_verify import verify_remote

    _check_url("--index-url", index_url, _INDEX_SCHEMES)
    config = IndexConfig(index_url=index_url, isolated=True)
    with IndexClient(config, backoff=_backoff()) as client:
        report = verify_remote(requirements, targets, client, fix_args=fix_args)
    if as_json:
        print_json({**report_to_json(report), "index": report.wheels_dir})
    else:
        from wheelhouse.cli._reports import render_verify

        render_verify(state, report)
        if report.covered:
            state.console.print(f"[green]✓[/] {text(report.wheels_dir)} covers every target")
    click.get_current_context().exit(ExitCode.OK if report.covered else ExitCode.NOT_COVERED)
