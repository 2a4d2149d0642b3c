"""``wheelhouse download``: fill the folder for every target, with a progress display, and verify it.

Parses the options, takes the index settings from :func:`wheelhouse.settings.effective_index_config`, calls
:func:`wheelhouse.fetch.download.download` (or :func:`~wheelhouse.fetch.download.plan_download` for a dry run)
with a reporter that draws progress (rich on a terminal, a line per event otherwise), and renders the result.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import click

from wheelhouse import _log, _recording
from wheelhouse._text import plural, size
from wheelhouse.cli import _process
from wheelhouse.cli._common import (
    JSON_SCHEMA_VERSION,
    ProjectOptions,
    State,
    get_state,
    index_config,
    index_options,
    json_option,
    load_project,
    print_json,
    project_options,
    requirement_args,
)
from wheelhouse.cli._progress import TransferBars, echo, short
from wheelhouse.cli._reports import text
from wheelhouse.errors import ExitCode, UsageError, WheelhouseError
from wheelhouse.fetch.model import DEFAULT_JOBS, DownloadPlan, DownloadReporter, DownloadResult, PlannedFile

if TYPE_CHECKING:
    from wheelhouse.build.model import BuildIn, BuildOutcome, SdistBuild
    from wheelhouse.settings import IndexOptions
    from wheelhouse.targets import Target


@click.command("download")
@project_options(packages=True)
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    metavar="TAG",
    help="pip-style platform tag (e.g. manylinux_2_28_aarch64); each one is a target with every --python.",
)
@click.option("--abi", default=None, metavar="ABI", help="pip-style ABI (cp312, abi3, none); must match --python.")
@click.option("--implementation", default=None, metavar="IMPL", help="pip-style implementation; only 'cp'.")
@index_options
@click.option("--pre", is_flag=True, help="Include pre-release versions.")
@click.option(
    "--only-binary",
    "only_binary",
    multiple=True,
    metavar="SPEC",
    help="Never build these projects from source (names, comma-separated, or :all:); pip's semantics.",
)
@click.option(
    "--no-binary",
    "no_binary",
    multiple=True,
    metavar="SPEC",
    help="Build these projects from source instead of using the index's wheels (names, comma-separated, "
    "or :all:); wheels already in the folder stay acceptable.",
)
@click.option(
    "-j", "--jobs", type=click.IntRange(1, 64), default=None, help=f"Parallel downloads (default {DEFAULT_JOBS})."
)
@click.option(
    "--engine",
    type=click.Choice(["native", "pip"]),
    default="native",
    show_default=True,
    help="native: wheelhouse's resolver and parallel fetcher. pip: run 'pip download' per target first "
    "(for pip plugins/keyring), then fill what pip missed natively.",
)
@click.option("--dry-run", is_flag=True, help="Print the plan (files, sizes, per target); download nothing.")
@click.option("--no-wait", is_flag=True, help="Fail at once when another wheelhouse process is using the folder.")
@click.option(
    "--no-build",
    is_flag=True,
    help="Never build wheels from source distributions: packages with only an sdist for a target stay gaps "
    "(their sdists are kept in WHEELS/.wheelhouse/sdists/).",
)
@click.option(
    "--build-in",
    type=click.Choice(["auto", "host", "docker"]),
    default="auto",
    show_default=True,
    help="Where sdists are built. auto: here for targets matching this machine, in the target's image (Docker) "
    "for the others; host: never Docker (other targets accept only pure-Python results); docker: every target "
    "in its image.",
)
@click.option(
    "--base-image",
    default=None,
    metavar="IMAGE",
    help="Image to build sdists in for --build-in docker/auto ({python} is replaced by X.Y). "
    "Default: python:X.Y-slim, or python:X.Y-alpine for musllinux targets.",
)
@click.option(
    "--keep-build-deps",
    is_flag=True,
    help="Also add the wheels of sdists' build requirements (setuptools, ...) to the folder, so that builds "
    "can be repeated with no index.",
)
@click.option(
    "--retry-builds",
    is_flag=True,
    help="Build again the sdists whose build failed in an earlier run (remembered in wheels/.wheelhouse/builds/).",
)
@click.option(
    "--no-build-isolation",
    is_flag=True,
    help="Build sdists with this interpreter's installed build backend instead of an isolated environment.",
)
@click.option(
    "--with-uv",
    is_flag=True,
    help="Also fetch uv for every target: the offline image rendered for BuildKit then installs with it "
    "(faster than pip) instead of pip.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Run it in full even when the proof cache holds the answer of the same covered run "
    "(also WHEELHOUSE_NO_PROOF_CACHE=1).",
)
@json_option
def download_command(
    project: ProjectOptions,
    platforms: tuple[str, ...],
    abi: str | None,
    implementation: str | None,
    index: IndexOptions,
    pre: bool,
    only_binary: tuple[str, ...],
    no_binary: tuple[str, ...],
    jobs: int | None,
    engine: str,
    dry_run: bool,
    no_wait: bool,
    no_build: bool,
    build_in: str,
    base_image: str | None,
    keep_build_deps: bool,
    retry_builds: bool,
    no_build_isolation: bool,
    with_uv: bool,
    no_cache: bool,
    as_json: bool,
) -> None:
    """Fill the wheels folder for every target, in parallel, verified, incrementally.

    Each target is resolved with the same resolver as `verify`, over the folder first and the index second:
    wheels already present are reused (a covered run makes no network request) and old versions are kept.
    Every file is streamed to a temporary name, checked against the index's sha256, then moved into place.
    Afterwards every target is verified offline; the exit status is verify's (0 covered, 3 not covered),
    or 1 when a file could not be downloaded or a wheel could not be built.

    A version that publishes only a source distribution for a target is built into a wheel: here for targets
    that match this machine (OS, architecture, libc family; with an interpreter of the target's Python found
    here), in a container of the target's image otherwise. A pure-Python result serves every target; a binary
    built here never serves another platform. Without Docker such a package stops with the command that builds
    it elsewhere. A build is not repeated: what it gave, or how it failed, is remembered (--retry-builds). See
    docs/sdists.md.

    Index settings, highest precedence first: these options; wheelhouse.toml; --index-url/--extra-index-url/
    --find-links lines in the requirements files; PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS,
    PIP_NO_INDEX, PIP_CERT; pip's configuration files; https://pypi.org/simple. --isolated skips pip's
    files and variables. Credentials may be in URLs or ~/.netrc; they never appear in output or the manifest.

    A run that needed nothing but the folder (every target covered by its files, no request made, no file
    changed) is kept in wheels/.wheelhouse/proofs/ and answered again from there, without resolving, while
    nothing it depends on changes, as verify's answers are (see `wheelhouse verify --help`); --no-cache runs
    it in full.
    """
    from wheelhouse.build.model import BuildOptions
    from wheelhouse.fetch.download import download, plan_download
    from wheelhouse.fetch.model import DownloadOptions
    from wheelhouse.index.http import IndexClient
    from wheelhouse.resolve.formats import parse_format_control
    from wheelhouse.resolve.hashmode import warn_unhashed_dependencies
    from wheelhouse.store.folder import Store

    state = get_state()
    pip_targets = _pip_style_targets(platforms, project.pythons, abi, implementation)
    if pip_targets:
        # Each --platform with each --python is a target; --python alone then adds nothing more.
        project = dataclasses.replace(
            project,
            targets=(*project.targets, *pip_targets),
            pythons=project.pythons if project.targets else (),
        )
    settings, reqs, target_list = load_project(project, jobs=jobs, base_image=base_image)
    if with_uv:
        from wheelhouse.docker.context import with_uv as add_uv

        reqs = add_uv(reqs)
    config = index_config(settings, reqs, index)
    store = Store(settings.wheels_path)
    if not no_cache:
        # Kept only if the run makes no request and changes no file (the recording sees every socket and write).
        _recording.note_folder(str(settings.wheels_path))
    options = DownloadOptions(
        jobs=settings.jobs or DEFAULT_JOBS,
        pre=pre,
        wait=not no_wait,
        fix_args=requirement_args(settings, project.packages),
        build=BuildOptions(
            enabled=not no_build,
            keep_build_deps=keep_build_deps,
            build_in=cast("BuildIn", build_in),
            base_image=settings.base_image,
            isolation=not no_build_isolation,
            retry_failed=retry_builds,
        ),
        formats=parse_format_control(no_binary, only_binary),
    )
    if engine == "pip" and not dry_run:
        from wheelhouse.build.pip_engine import pip_download

        pip_download(reqs, target_list, store, config)

    reporter = _reporter(state, as_json)
    with IndexClient(config, jobs=max(options.jobs, 4), backoff=_backoff()) as client:
        try:
            if dry_run:
                plan = plan_download(reqs, target_list, store, client, options=options, reporter=reporter)
                result = DownloadResult(plan, requests=client.request_count)
            else:
                result = download(reqs, target_list, store, client, options=options, reporter=reporter)
        finally:
            reporter.close()
    warn_unhashed_dependencies(reqs, result.report.resolutions if result.report else result.plan.resolutions)
    if as_json:
        # A dry run measures no time: its seconds are not an elapsed time a replay would print its own of.
        print_json(_result_json(result, dry_run), elapsed=None if dry_run else "seconds")
    else:
        _render(state, result, dry_run)
    click.get_current_context().exit(_exit_code(result, dry_run))


def _pip_style_targets(
    platforms: Sequence[str], pythons: Sequence[str], abi: str | None, implementation: str | None
) -> list[str]:
    """pip's --platform/--python-version/--abi/--implementation expressed as wheelhouse targets."""
    if implementation not in (None, "cp"):
        raise UsageError(f"--implementation {implementation}: only CPython ('cp') targets are supported")
    if not platforms:
        if abi is not None:
            raise UsageError("--abi needs --platform (or use --target)")
        return []
    from wheelhouse.targets import parse_python

    versions = [parse_python(p)[0] for p in pythons] or [(sys.version_info.major, sys.version_info.minor)]
    out: list[str] = []
    for version in versions:
        tag = f"cp{version[0]}{version[1]}"
        if abi not in (None, "none", "abi3", tag):
            raise UsageError(f"--abi {abi} does not match Python {version[0]}.{version[1]} (expected {tag})")
        for platform in platforms:
            out.append(f"{tag}-{platform}")
    return out


def _backoff() -> float:
    """Seconds before the first retry (doubling after each attempt): ``WHEELHOUSE_BACKOFF``, else 0.5."""
    raw = os.environ.get("WHEELHOUSE_BACKOFF", "").strip()
    if not raw:
        return 0.5
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    # "not >= 0" also refuses nan.
    if not seconds >= 0 or seconds == float("inf"):
        raise UsageError(f"WHEELHOUSE_BACKOFF={raw!r} is not a number of seconds", hint="WHEELHOUSE_BACKOFF=0.5")
    return seconds


# -- progress ----------------------------------------------------------------------------------------------


class _PlainReporter(DownloadReporter):
    """Line-per-event progress for logs and pipes."""

    def __init__(self, state: State, quiet: bool) -> None:
        self.state = state
        self.quiet = quiet
        self._lock = threading.Lock()

    def _say(self, message: str) -> None:
        if not self.quiet:
            with self._lock:
                echo(message)

    def resolving(self, target: Target) -> None:
        self._say(f"resolving {target.name}")

    def planned(self, plan: DownloadPlan) -> None:
        if not self.quiet:
            # The summary at the end is rendered with rich: import it while the files arrive, not after them.
            _process.import_in_background("rich.console", "rich.markup")
        if plan.fetch:
            self._say(_plan_line(plan))

    def waiting(self, message: str) -> None:
        with self._lock:
            echo(message)

    def file_done(self, item: PlannedFile) -> None:
        self._say(f"downloaded {item.filename}" + (f" ({size(item.size)})" if item.size else ""))

    def file_failed(self, item: PlannedFile, error: WheelhouseError) -> None:
        # A person's run lists every failure once at the end (_render); with --json nothing is rendered, so
        # the log gets the same line now.
        if self.quiet:
            with self._lock:
                echo(f"error: {_failure_text(item.filename, item.url, str(error))}")

    def build_started(self, build: SdistBuild, where: str, targets: Sequence[str]) -> None:
        self._say(f"building {build.filename} {where} for {', '.join(targets)}")

    def build_finished(self, outcome: BuildOutcome) -> None:
        lines = _build_lines(outcome)
        if lines and (not self.quiet or not outcome.ok):
            with self._lock:
                for line in lines:
                    echo(line)

    def close(self) -> None:
        return None


class _RichReporter(_PlainReporter):
    """A live display: one bar per active file and a total with bytes, speed and ETA."""

    def __init__(self, state: State) -> None:
        super().__init__(state, quiet=False)
        self.bars = TransferBars(state.err)

    def resolving(self, target: Target) -> None:
        self.state.err.print(f"resolving {target.name}", highlight=False)

    def planned(self, plan: DownloadPlan) -> None:
        if not plan.fetch:
            return
        self.state.err.print(_plan_line(plan))
        self.bars.start(plan.total_bytes)

    def file_started(self, item: PlannedFile) -> None:
        self.bars.begin(item.filename, item.size, text(short(item.filename)))

    def file_progress(self, item: PlannedFile, received: int) -> None:
        self.bars.advance(item.filename, received)

    def file_done(self, item: PlannedFile) -> None:
        self.bars.finish(item.filename)
        self.bars.print(f"[green]✓[/] {text(item.filename)} ({size(item.size or 0)})")

    def file_failed(self, item: PlannedFile, error: WheelhouseError) -> None:
        self.bars.finish(item.filename)
        self.bars.print(f"[red]✗[/] {text(item.filename)}: {text(error)}")

    def build_started(self, build: SdistBuild, where: str, targets: Sequence[str]) -> None:
        self.bars.print(f"[bold]building[/] {text(build.filename)} {text(where)} for {text(', '.join(targets))}")

    def build_finished(self, outcome: BuildOutcome) -> None:
        for line in _build_lines(outcome):
            self.bars.print(text(line))

    def close(self) -> None:
        self.bars.stop()


def _reporter(state: State, as_json: bool) -> _PlainReporter:
    if not as_json and state.err_is_terminal and not os.environ.get("CI"):
        return _RichReporter(state)
    return _PlainReporter(state, quiet=as_json)


# -- results -----------------------------------------------------------------------------------------------


def _build_lines(outcome: BuildOutcome) -> list[str]:
    """What one sdist's builds produced and, per failure, the reason, the log's last lines and where it is."""
    lines: list[str] = []
    for wheel in outcome.wheels:
        serves = "pure Python" if wheel.pure else "binary"
        lines.append(f"✓ built {wheel.filename} {wheel.where} ({serves}; serves {', '.join(wheel.targets)})")
    for failure in outcome.failures:
        lines.append(
            f"✗ {outcome.project} {outcome.version} ({outcome.sdist}) for {', '.join(failure.targets)}: "
            f"{failure.reason}"
        )
        if failure.tail:
            lines.append("  last lines of the build log:")
            lines.extend(f"    {line}" for line in failure.tail)
        if failure.log:
            lines.append(f"  full log: {failure.log}")
        if failure.command:
            lines.append(f"  build it elsewhere: {failure.command}")
    lines.extend(f"  note: {note}" for note in outcome.notes)
    if outcome.build_deps:
        lines.append(f"  kept build requirements: {', '.join(outcome.build_deps)}")
    return lines


def _exit_code(result: DownloadResult, dry_run: bool) -> int:
    if result.failed or not all(b.ok for b in result.builds):
        return ExitCode.FAILURE
    if dry_run:
        return ExitCode.OK if result.plan.resolvable else ExitCode.NOT_COVERED
    return ExitCode.OK if result.report is None or result.report.covered else ExitCode.NOT_COVERED


def _render(state: State, result: DownloadResult, dry_run: bool) -> None:
    out = state.console
    plan = result.plan
    if dry_run:
        out.print(
            f"[bold]plan[/]: {plural(len(plan.fetch), 'file')} to download, {size(plan.total_bytes)}; "
            f"{len(plan.present)} already present"
        )
        for item in plan.fetch:
            out.print(f"  {text(item.filename)}  {size(item.size or 0)}  ({text(', '.join(item.targets))})")
        for build in plan.build:
            targets = ", ".join(t.name for t in build.targets)
            out.print(f"  to build from {text(build.filename)} (only a source distribution): {text(targets)}")
        for res in plan.resolutions:
            status = "[green]resolves[/]" if res.covered else f"[red]{len(res.gaps)} unresolvable[/]"
            out.print(f"  {res.target.name}: {len(res.pins)} pins, {status}")
            for gap in res.gaps:
                out.print(f"    • {text(gap.requirement)}: {text(gap.summary)}")
        return
    for failure in result.failed:
        echo(f"error: {_failure_text(failure.filename, failure.url, failure.reason)}")
    if result.cleaned:
        _log.info(f"removed {len(result.cleaned)} partial files left by an interrupted run")
    out.print(
        f"downloaded {plural(len(result.downloaded), 'file')} ({size(result.bytes_downloaded)}) "
        f"in {_recording.elapsed(result.seconds, '.1f')} s, {plural(result.requests, 'request')}; "
        f"{len(plan.present)} already present"
    )
    if result.builds:
        built = sum(len(b.wheels) for b in result.builds)
        out.print(f"built {plural(built, 'wheel')} from {plural(len(result.builds), 'source distribution')}")
    for name in result.kept:
        out.print(f"kept {text(name)} in {text(_kept_sdists_dir(result))} (not built: --no-build)")
    _render_build_failures(state, result)
    if result.report is not None:
        from wheelhouse.cli._reports import render_verify

        render_verify(state, result.report)


def _failure_text(filename: str, url: str, reason: str) -> str:
    """One line per file that did not come in: the file, its URL and the cause (which may name the URL)."""
    where = "" if url in reason else f" from {url}"
    return f"{filename}{where}: {reason}"


def _kept_sdists_dir(result: DownloadResult) -> str:
    """Where kept sdists are, for messages."""
    wheels = result.report.wheels_dir if result.report is not None else "wheels"
    return f"{wheels}/.wheelhouse/sdists/"


def _render_build_failures(state: State, result: DownloadResult) -> None:
    """One line per package and target without a wheel, with the log or the command that builds it elsewhere."""
    failures = [(b, f) for b in result.builds for f in b.failures]
    if not failures:
        return
    failing = plural(sum(1 for b in result.builds if not b.ok), "source distribution")
    _log.warning(f"no wheel could be built for some targets of {failing}:")
    for outcome, failure in failures:
        where = f"; log: {failure.log}" if failure.log else ""
        echo(f"  {outcome.project} {outcome.version} for {', '.join(failure.targets)}: {failure.reason}{where}")
        if failure.command:
            echo(f"    build it elsewhere: {failure.command}")


def _result_json(result: DownloadResult, dry_run: bool) -> dict[str, Any]:
    from wheelhouse.resolve.verify import report_to_json

    plan = result.plan
    return {
        "schema": JSON_SCHEMA_VERSION,
        "dry_run": dry_run,
        "plan": {
            "fetch": [
                {"file": f.filename, "url": f.url, "size": f.size, "sha256": f.sha256, "targets": list(f.targets)}
                for f in plan.fetch
            ],
            "present": list(plan.present),
            "build": [
                {
                    "sdist": b.filename,
                    "project": b.name,
                    "version": str(b.version),
                    "targets": [t.name for t in b.targets],
                }
                for b in plan.build
            ],
            "bytes": plan.total_bytes,
            "targets": [
                {
                    "target": r.target.name,
                    "pins": [{"name": p.name, "version": str(p.version), "file": p.dist.filename} for p in r.pins],
                    "unresolvable": [
                        {
                            "project": g.project,
                            "kind": g.kind,
                            "summary": g.summary,
                            "rejected": [{"file": x.filename, "reason": x.reason} for x in g.rejected],
                        }
                        for g in r.gaps
                    ],
                }
                for r in plan.resolutions
            ],
        },
        "downloaded": list(result.downloaded),
        "failed": [dataclasses.asdict(f) for f in result.failed],
        "builds": [
            {
                "sdist": b.sdist,
                "project": b.project,
                "version": str(b.version),
                "ok": b.ok,
                "wheels": [dataclasses.asdict(w) for w in b.wheels],
                "failures": [dataclasses.asdict(f) for f in b.failures],
                "notes": list(b.notes),
                "build_deps": list(b.build_deps),
            }
            for b in result.builds
        ],
        "kept_sdists": list(result.kept),
        "bytes_downloaded": result.bytes_downloaded,
        "requests": result.requests,
        "seconds": round(result.seconds, 3),
        "verify": report_to_json(result.report) if result.report is not None else None,
    }


def _plan_line(plan: DownloadPlan) -> str:
    files = plural(len(plan.fetch), "file")
    # An index need not publish sizes (PEP 691 makes them optional; PEP 503 pages have none): say only what is known.
    unknown = sum(1 for item in plan.fetch if not item.size)
    if unknown == len(plan.fetch):
        amount = ""
    elif unknown:
        amount = f" (at least {size(plan.total_bytes)})"
    else:
        amount = f" ({size(plan.total_bytes)})"
    return f"{files} to download{amount}, {len(plan.present)} already present"
