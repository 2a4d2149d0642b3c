"""Publishing: put on a package index server (devpi, pypiserver, Artifactory, Nexus, PyPI) exactly the files some
targets need, or the whole folder, and prove from the server's own pages that it holds them.

Contract, in the order a run goes:

1. :func:`select_files` (the folder, read only): the files the targets' resolutions over the folder pin (the
   resolver ``verify`` uses; a target the folder does not cover stops the run with exit 3 before the server is
   asked anything), with their kept source distributions when asked; or every file of the folder.
2. :func:`plan_publish` (the server, read only): each project's Simple API page once. A file the server lists
   with the same sha256 is present and not sent again; a file of the same name with another sha256 is a
   conflict: :class:`PublishConflict` names both hashes and nothing at all is sent. A server is never asked to
   overwrite a file.
3. :func:`publish` sends the rest through the upload API (:mod:`wheelhouse.share.upload`), ``jobs`` at a time,
   each retried on its own; a file that still fails is reported and the others go on.
4. It then reads the pages again, through a new client (no page of step 2 is reused), and checks that every
   selected file is listed with its sha256; with requirements, it resolves every target over the server alone
   (:func:`wheelhouse.share.remote_verify.verify_remote`): "the server covers every target".

Running it again is safe: what the server holds is skipped, so a run cut short is finished by the next one.
No file of the folder is added, changed or removed (the store refreshes its manifest cache, as ``verify``
does); every URL in a message is redacted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from packaging.utils import canonicalize_name

from wheelhouse import _log
from wheelhouse._text import plural, redact_url
from wheelhouse.dists import DistFile
from wheelhouse.errors import WheelhouseError
from wheelhouse.index.auth import netloc, split_credentials
from wheelhouse.index.config import IndexConfig
from wheelhouse.index.http import IndexClient
from wheelhouse.index.pages import RemoteFile
from wheelhouse.requirements import RequirementSet
from wheelhouse.resolve.verify import VerifyReport, verify_scan
from wheelhouse.share.remote_verify import verify_remote
from wheelhouse.share.upload import Repository, Uploader, UploadFile, UploadStatus, simple_url_for
from wheelhouse.store.folder import Store
from wheelhouse.store.fs import file_sha256
from wheelhouse.targets import Target

__all__ = [
    "FailedFile",
    "PublishConflict",
    "PublishOptions",
    "PublishPlan",
    "PublishReporter",
    "PublishResult",
    "plan_publish",
    "publish",
    "select_files",
    "server_index_url",
]

DEFAULT_JOBS = 4


class PublishConflict(WheelhouseError):
    """The server holds a file of the same name with other bytes; it is never overwritten."""

    def __init__(self, filename: str, ours: str, theirs: str | None, index_url: str, more: int = 0) -> None:
        self.filename = filename
        self.ours = ours
        self.theirs = theirs
        others = f" (and {plural(more, 'other file')} alike)" if more else ""
        if theirs is None:
            message = (
                f"{filename} is already on {index_url} without a sha256 to compare; the folder's copy has "
                f"sha256 {ours}: refusing to upload over it{others}"
            )
        else:
            message = (
                f"{filename} is already on {index_url} with sha256 {theirs}; the folder's copy has sha256 "
                f"{ours}: refusing to overwrite it{others}"
            )
        super().__init__(
            message,
            hint="a published file is never replaced: publish another version (or build number), or remove the "
            "server's copy by hand if it is wrong",
        )


@dataclass(frozen=True)
class PublishOptions:
    """Tunables of a run."""

    jobs: int = DEFAULT_JOBS
    sdists: bool = False  # also the kept source distributions of the pinned versions
    everything: bool = False  # every file of the folder, not only what the targets need
    dry_run: bool = False


class PublishReporter:
    """Progress hooks; each does nothing by default. The file hooks are called from worker threads."""

    def reading(self, what: str) -> None:
        """A step starts: reading the server's pages, checking them again, verifying the targets."""

    def planned(self, plan: PublishPlan) -> None:
        """What will be sent is known (also in a dry run)."""

    def file_started(self, item: UploadFile) -> None:
        """An upload starts."""

    def file_progress(self, item: UploadFile, sent: int) -> None:
        """``sent`` bytes of ``item`` are on their way (restarts at 0 when a retry starts over)."""

    def file_retry(self, item: UploadFile, attempt: int, cause: str) -> None:
        """An attempt failed with ``cause``; attempt number ``attempt`` follows after a pause."""

    def file_done(self, item: UploadFile, status: UploadStatus) -> None:
        """The server accepted ``item`` ("uploaded"), or said it already held one of that name ("exists")."""

    def file_failed(self, item: UploadFile, error: WheelhouseError) -> None:
        """``item`` could not be sent."""


@dataclass(frozen=True)
class FailedFile:
    """A file that did not end up on the server as it is in the folder, and why."""

    filename: str
    reason: str


@dataclass(frozen=True)
class PublishPlan:
    """What a run sends: the files the server lacks, and those it already holds with the same sha256."""

    repository_url: str  # redacted
    index_url: str  # redacted: where the server's pages are read
    upload: tuple[UploadFile, ...] = ()
    present: tuple[UploadFile, ...] = ()

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.upload)


@dataclass(frozen=True)
class PublishResult:
    """The outcome of a run: what was sent, what failed, the check of the server's pages and the remote verify."""

    plan: PublishPlan
    uploaded: tuple[str, ...] = ()
    failed: tuple[FailedFile, ...] = ()
    # After the uploads: selected files the server's pages do not list with the folder's sha256.
    unverified: tuple[FailedFile, ...] = ()
    report: VerifyReport | None = field(default=None, repr=False)
    checked: bool = False  # the pages were read again (not in a dry run)
    seconds: float = 0.0
    bytes_sent: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.unverified and (self.report is None or self.report.covered)


# -- 1. what to publish --------------------------------------------------------------------------------------


def select_files(
    store: Store,
    requirements: RequirementSet | None,
    targets: Sequence[Target],
    *,
    options: PublishOptions = PublishOptions(),
    fix_args: Sequence[str] = (),
) -> tuple[tuple[UploadFile, ...], VerifyReport | None]:
    """The files to publish, and the folder's verify report they came from (None for ``everything``).

    With requirements, the files every target's resolution over the folder pins; NotCoveredError (exit 3) when a
    target is not covered: a server filled with part of a closure would fail its installs later, far from here.
    With ``options.sdists``, the source distributions of the pinned versions (in the folder or kept aside in
    ``.wheelhouse/sdists/``) are added. With ``options.everything``, every wheel (and with ``sdists`` every
    source distribution) of the folder.
    """
    scan = store.scan()
    sdists = [*scan.sdists, *scan.kept_sdists] if options.sdists else []
    report: VerifyReport | None = None
    if options.everything or requirements is None:
        chosen: list[DistFile] = [w.dist for w in scan.wheels] + sdists
    else:
        report = verify_scan(requirements, targets, scan, fix_args=fix_args)
        report.require_covered("a server holding part of the closure would fail its installs")
        pinned = {pin.dist.filename: pin.dist for r in report.resolutions for pin in r.pins}
        versions = {(pin.name, pin.version) for r in report.resolutions for pin in r.pins}
        chosen = list(pinned.values()) + [d for d in sdists if (d.name, d.version) in versions]
    unique: dict[str, DistFile] = {}
    for dist in chosen:
        # A kept sdist and one in the folder may share a name: the folder's copy is the one installers see.
        unique.setdefault(dist.filename, dist)
    return _upload_files(store, sorted(unique.values(), key=lambda d: d.filename)), report


def _upload_files(store: Store, dists: Sequence[DistFile]) -> tuple[UploadFile, ...]:
    """Each file with its size and sha256: the folder's own files by the store's hash cache, kept sdists read."""
    from pathlib import Path

    from wheelhouse.share._own import refuse_foreign

    # Before any is hashed: a link named like a distribution is refused, not followed (see share/_own.py).
    sizes = {d.filename: refuse_foreign(Path(d.location), WheelhouseError, "publish") for d in dists}
    in_root = [d.filename for d in dists if Path(d.location).parent == store.root]
    hashes = store.hashes(in_root) if in_root else {}
    out: list[UploadFile] = []
    for dist in dists:
        path = Path(dist.location)
        sha256 = hashes.get(dist.filename) or file_sha256(path)
        out.append(
            UploadFile(
                dist.filename,
                path,
                sha256,
                sizes[dist.filename],
                str(dist.name),
                str(dist.version),
                "wheel" if dist.kind == "wheel" else "sdist",
            )
        )
    return tuple(out)


# -- 2. what the server holds --------------------------------------------------------------------------------


def server_index_url(uploader: Uploader, explicit: str | None = None) -> str:
    """The Simple API URL of the repository ``uploader`` sends to: ``explicit`` when given, else derived from
    the repository URL and one probe of it (:func:`wheelhouse.share.upload.simple_url_for`)."""
    if explicit:
        return explicit if explicit.endswith("/") else explicit + "/"
    return simple_url_for(uploader.repository.url, uploader.probe())


def server_files(client: IndexClient, projects: Sequence[str], jobs: int) -> dict[str, RemoteFile]:
    """Every file the server's pages list for ``projects``, by file name; pages read ``jobs`` at a time."""
    names = sorted({canonicalize_name(p) for p in projects})
    found: dict[str, RemoteFile] = {}
    if not names:
        return found
    host = netloc(client.config.index_url)
    workers = max(1, min(jobs, len(names)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wheelhouse-pages") as pool:
        for name, files in zip(names, pool.map(client.project_files, names), strict=True):
            elsewhere = {netloc(r.url) for r in files if netloc(r.url) != host}
            if elsewhere:
                # pypiserver redirects a project it does not hold to pypi.org unless started with
                # --disable-fallback: those files are another index's, and a name they share with ours is no
                # conflict with this server.
                _log.warning(
                    f"{name}: the server's page lists files on {', '.join(sorted(elsewhere))} (a fallback to another "
                    "index?); they are not counted as the server's"
                )
            for remote in files:
                if netloc(remote.url) == host:
                    found.setdefault(remote.filename, remote)
    return found


def plan_publish(
    files: Sequence[UploadFile],
    client: IndexClient,
    *,
    repository_url: str,
    jobs: int = DEFAULT_JOBS,
) -> PublishPlan:
    """Compare ``files`` with what the server ``client`` reads lists; raises PublishConflict before anything
    is sent when a file of the same name has another (or no) sha256 there."""
    index_url = redact_url(split_credentials(client.config.index_url)[0])
    listed = server_files(client, [f.project for f in files], jobs)
    upload: list[UploadFile] = []
    present: list[UploadFile] = []
    conflicts: list[tuple[UploadFile, str | None]] = []
    for item in files:
        remote = listed.get(item.filename)
        if remote is None:
            upload.append(item)
        elif remote.sha256 == item.sha256:
            present.append(item)
        else:
            conflicts.append((item, remote.sha256))
    if conflicts:
        item, theirs = conflicts[0]
        raise PublishConflict(item.filename, item.sha256, theirs, index_url, more=len(conflicts) - 1)
    return PublishPlan(redact_url(repository_url), index_url, tuple(upload), tuple(present))


# -- 3 and 4. send, then prove -------------------------------------------------------------------------------


def index_config_for(repository: Repository, index_url: str, *, retries: int = 4) -> IndexConfig:
    """How the server's pages are read: that index alone (no pip configuration, no find-links), with the
    repository's credentials when it is on the same host, its certificate and timeout."""
    return IndexConfig(
        index_url=repository.with_credentials(index_url),
        cert=repository.cert,
        timeout=repository.timeout,
        retries=retries,
        isolated=True,
    )


def publish(
    uploader: Uploader,
    files: Sequence[UploadFile],
    index: IndexConfig,
    *,
    requirements: RequirementSet | None = None,
    targets: Sequence[Target] = (),
    options: PublishOptions = PublishOptions(),
    reporter: PublishReporter | None = None,
    fix_args: Sequence[str] = (),
    backoff: float = 0.5,
) -> PublishResult:
    """Plan, send what the server lacks, then read its pages again and verify every target over it.

    ``index`` reads the server's Simple API (:func:`index_config_for`). Raises PublishConflict (nothing sent)
    and NetworkError when the pages cannot be read; a file that cannot be sent is a :class:`FailedFile` of the
    result, as is one the pages do not list afterwards with the folder's sha256.
    """
    reporter = reporter or PublishReporter()
    started = time.perf_counter()
    reporter.reading("server")
    with IndexClient(index, jobs=options.jobs, backoff=backoff) as client:
        plan = plan_publish(files, client, repository_url=uploader.repository.url, jobs=options.jobs)
    reporter.planned(plan)
    if options.dry_run:
        return PublishResult(plan, seconds=time.perf_counter() - started)

    uploaded, failed, sent = _send(uploader, plan.upload, options.jobs, reporter)

    # The proof reads everything again through a new client: a page cached from the plan proves nothing.
    reporter.reading("check")
    with IndexClient(index, jobs=options.jobs, backoff=backoff) as client:
        listed = server_files(client, [f.project for f in files], options.jobs)
        failed_names = {f.filename for f in failed}
        unverified = tuple(
            FailedFile(item.filename, reason)
            for item in files
            if item.filename not in failed_names and (reason := _listed_reason(item, listed.get(item.filename)))
        )
        report = None
        if requirements is not None and requirements.requirements and not failed and not unverified:
            reporter.reading("verify")
            report = verify_remote(
                requirements,
                targets,
                client,
                fix_args=fix_args,
                expected=[f.filename for f in files],
                # Every file is listed with its own sha256 (checked just above): its metadata is the local copy's.
                known={f.sha256: f.path for f in files if f.kind == "wheel"},
                jobs=options.jobs,
            )
    return PublishResult(
        plan,
        uploaded=tuple(sorted(uploaded)),
        failed=tuple(sorted(failed, key=lambda f: f.filename)),
        unverified=unverified,
        report=report,
        checked=True,
        seconds=time.perf_counter() - started,
        bytes_sent=sent,
    )


def _listed_reason(item: UploadFile, remote: RemoteFile | None) -> str | None:
    """Why the server's page does not prove it holds ``item``; None when it does."""
    if remote is None:
        return "the server's page does not list it after the upload"
    if remote.sha256 is None:
        return "the server's page lists it without a sha256"
    if remote.sha256 != item.sha256:
        return f"the server lists it with sha256 {remote.sha256}, the folder's copy has sha256 {item.sha256}"
    return None


def _send(
    uploader: Uploader, items: Sequence[UploadFile], jobs: int, reporter: PublishReporter
) -> tuple[list[str], list[FailedFile], int]:
    """Upload ``items`` ``jobs`` at a time; the names sent, the failures, and the bytes sent."""
    uploaded: list[str] = []
    failed: list[FailedFile] = []
    lock = threading.Lock()
    sent = 0

    def one(item: UploadFile) -> None:
        nonlocal sent
        reporter.file_started(item)
        try:
            status = uploader.upload(item, lambda n: reporter.file_progress(item, n))
        except WheelhouseError as exc:
            with lock:
                failed.append(FailedFile(item.filename, str(exc)))
            reporter.file_failed(item, exc)
            return
        with lock:
            uploaded.append(item.filename)
            sent += item.size
        reporter.file_done(item, status)

    if not items:
        return uploaded, failed, sent
    pool = ThreadPoolExecutor(max_workers=max(1, min(jobs, len(items))), thread_name_prefix="wheelhouse-upload")
    try:
        futures = [pool.submit(one, item) for item in items]
        for future in as_completed(futures):
            future.result()
    except BaseException:
        # Ctrl-C: uploads not started yet are dropped; a file cut mid-way is never listed by a server (it
        # stores a file only once the whole request arrived), and the next run sends it again.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    if failed:
        _log.debug(f"{plural(len(failed), 'upload')} failed")
    return uploaded, failed, sent
