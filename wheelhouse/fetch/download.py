"""``wheelhouse download``: resolve each target over the folder *and* the index, then fetch what is missing.

The resolver is the one ``verify`` uses, with two finder tiers: the local store first, the remote index second.
A requirement the folder already satisfies never reaches the network, so a covered run makes zero requests and
adding one requirement fetches only its new closure. Old versions stay in the folder.

Speed comes from overlapping the round trips pip makes one after another: while the resolver works, a pool
speculatively fetches the project pages of every dependency it has seen and the metadata of the wheel the
resolver will most likely pin for each, so most lookups the resolver makes are already answered; that wheel
starts downloading as soon as its metadata is read, and every other file the moment the resolver pins it. When
the resolver backtracks through a project's releases, the metadata of the next ones is fetched ahead. Files are
downloaded in parallel, each streamed to a temporary file, checked against the index's sha256, and only then
renamed into the folder (``Store.commit``); a file the final plan does not use never leaves the temporary area.

A version that publishes only a source distribution for a target is pinned as an sdist (wheels of any version
are preferred) and built into a wheel after the downloads (``wheelhouse.build.sdist``); ``BuildOptions(enabled=False)``
(``--no-build``) leaves it a gap and keeps the sdist, so that verify says "only a source distribution".
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from wheelhouse.build.sdist import (
    BuildOptions,
    BuildOutcome,
    BuildReporter,
    BuildRunner,
    SdistBuild,
    SdistFinder,
    SdistMetadata,
    build_sdists,
    subprocess_runner,
)
from wheelhouse.dists import CoreMetadata, DistFile, Finder, parse_dist_filename
from wheelhouse.errors import StoreError, WheelhouseError
from wheelhouse.requirements import RequirementSet
from wheelhouse.resolve.resolver import FormatControl, Resolution, ResolveReporter, resolve
from wheelhouse.resolve.verify import VerifyReport, verify_scan
from wheelhouse.store.folder import FileRecord, Store, StoredWheel, StoreFinder, StoreScan, fsync_file
from wheelhouse.targets import Target

if TYPE_CHECKING:
    from wheelhouse.index.finder import IndexFinder
    from wheelhouse.index.http import IndexClient
    from wheelhouse.index.pages import RemoteFile

DEFAULT_JOBS = 8
# When the resolver gives up a release, the metadata of this many older ones is fetched ahead.
_BACKTRACK_AHEAD = 8
# Least seconds between two manifest saves while files keep arriving (the last save comes when they stop).
_SAVE_GAP = 0.1


class DownloadReporter(BuildReporter):
    """Progress hooks; every one does nothing by default. Called from worker threads during downloads.

    The build stage's hooks (``build_started``, ``build_finished``) come from :class:`BuildReporter`.
    """

    def resolving(self, target: Target) -> None:
        """Resolution of ``target`` starts."""

    def planned(self, plan: DownloadPlan) -> None:
        """The plan is known (also in a dry run)."""

    def waiting(self, message: str) -> None:
        """Another process holds the folder's lock; we wait for it."""

    def file_started(self, item: PlannedFile) -> None:
        """A download starts."""

    def file_progress(self, item: PlannedFile, received: int) -> None:
        """``received`` bytes of ``item`` have arrived so far (restarts at 0 when a retry starts over)."""

    def file_done(self, item: PlannedFile) -> None:
        """``item`` is verified and in the folder."""

    def file_failed(self, item: PlannedFile, error: WheelhouseError) -> None:
        """``item`` could not be downloaded; nothing of it is in the folder."""


@dataclass(frozen=True)
class PlannedFile:
    """A file the plan fetches, and the targets it serves."""

    filename: str
    url: str  # redacted: for display and for the manifest
    size: int | None
    sha256: str | None
    targets: tuple[str, ...]
    remote: RemoteFile = field(repr=False, compare=False)
    # The metadata the index gave for it (what the resolver read), when known.
    metadata: CoreMetadata | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class DownloadPlan:
    """What one run will do: per-target resolutions over folder + index, and the files to fetch."""

    resolutions: tuple[Resolution, ...]
    fetch: tuple[PlannedFile, ...] = ()
    present: tuple[str, ...] = ()  # files already in the folder that the resolutions use
    build: tuple[SdistBuild, ...] = ()  # sdists pinned for some targets: built after the downloads
    keep: tuple[PlannedFile, ...] = ()  # with building off: sdists of "sdist-only" gaps, kept for verify
    base: StoreScan | None = field(default=None, repr=False, compare=False)  # the folder the plan started from

    @property
    def total_bytes(self) -> int:
        return sum(f.size or 0 for f in self.fetch)

    @property
    def resolvable(self) -> bool:
        return all(r.covered for r in self.resolutions)


@dataclass(frozen=True)
class FailedFile:
    filename: str
    url: str
    reason: str


@dataclass(frozen=True)
class DownloadResult:
    """The outcome of a run: what came in, what failed, and the folder's verify report afterwards."""

    plan: DownloadPlan
    downloaded: tuple[str, ...] = ()
    failed: tuple[FailedFile, ...] = ()
    bytes_downloaded: int = 0
    requests: int = 0
    seconds: float = 0.0
    cleaned: tuple[str, ...] = ()
    report: VerifyReport | None = None
    builds: tuple[BuildOutcome, ...] = ()
    kept: tuple[str, ...] = ()  # sdists kept in .wheelhouse/sdists/ this run without building them

    @property
    def ok(self) -> bool:
        builds_ok = all(b.ok for b in self.builds)
        return not self.failed and builds_ok and (self.report is None or self.report.covered)


@dataclass(frozen=True)
class DownloadOptions:
    """Tunables of a run."""

    jobs: int = DEFAULT_JOBS
    pre: bool = False
    dry_run: bool = False
    wait: bool = True  # wait for another process's lock (False: fail at once)
    fix_args: tuple[str, ...] = ()
    build: BuildOptions = field(default_factory=BuildOptions)
    formats: FormatControl = field(default_factory=FormatControl)


def _started_pool(workers: int, name: str) -> ThreadPoolExecutor:
    """A thread pool whose threads all run already.

    A pool starts a thread on a submit that finds none idle, and starting one means waiting for the interpreter
    lock twice; once the workers are busy parsing and hashing, each such wait lasts up to a switch interval. Started
    now, while nothing else runs, they cost a fraction of a millisecond each.
    """
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    everyone = threading.Barrier(workers + 1)
    for _ in range(workers):
        pool.submit(everyone.wait, 5.0)
    with contextlib.suppress(threading.BrokenBarrierError):
        everyone.wait(5.0)
    return pool


# Speculative tasks, most urgent first. A likely file's metadata comes first, the largest file first: reading it
# starts that file's transfer and asks for its dependencies' pages, so the link fills early and the deepest
# projects are reached sooner. Look-ahead for backtracking comes next, then project pages. Breadth first,
# the metadata of a 30 MB wheel whose page had arrived waited behind dozens of small pages.
_URGENT_METADATA = 0
_LOOK_AHEAD = 1
_PAGE = 2


class _PriorityPool:
    """Worker threads, all started at once, that take the most urgent task first (the lowest priority tuple;
    in submission order among equals). Fire and forget: a task's result and errors are its own business."""

    def __init__(self, workers: int, name: str) -> None:
        self._queue: queue.PriorityQueue[tuple[tuple[int, int], int, Callable[[], object] | None]]
        self._queue = queue.PriorityQueue()
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._closed = False
        # Daemon threads: their work only warms caches, so an exit need not wait for a slow speculative request.
        self._threads = [threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[[], object], priority: tuple[int, int]) -> bool:
        """Queue ``fn``; False (and nothing queued) once the pool is shut down."""
        with self._lock:
            if self._closed:
                return False
            self._queue.put((priority, next(self._order), fn))
        return True

    def shutdown(self, *, wait: bool = False) -> None:
        """Drop the tasks not yet started; each worker ends after the task it is running (awaited with ``wait``)."""
        with self._lock:
            self._closed = True
            with contextlib.suppress(queue.Empty):
                while True:
                    self._queue.get_nowait()
                    self._queue.task_done()
            for _ in self._threads:
                self._queue.put(((sys.maxsize, 0), next(self._order), None))
        if wait:
            for thread in self._threads:
                thread.join()

    def join(self) -> None:
        """Wait until every task queued so far has run."""
        self._queue.join()

    def _work(self) -> None:
        while True:
            _priority, _order, fn = self._queue.get()
            try:
                if fn is None:
                    return
                fn()
            except BaseException:
                # Ignored, even a KeyboardInterrupt: that reaches a worker only as another thread's outcome (a
                # page the interrupted main thread was fetching), and the main thread reports it.
                pass
            finally:
                self._queue.task_done()


class _SpeculativeFinder:
    """The index finder, plus speculation: what the resolver will probably ask next is fetched in advance.

    Only a cache is warmed: every answer the resolver sees still comes from the finder it wraps.
    """

    def __init__(
        self,
        finder: IndexFinder,
        target: Target,
        pool: _PriorityPool,
        stop: threading.Event,
        local: StoreFinder | None = None,
        transfers: _Transfers | None = None,
        formats: FormatControl | None = None,
    ) -> None:
        self.finder = finder
        self.formats = formats or FormatControl()
        self.local = local
        # With transfers, the file whose metadata is prefetched starts downloading too (see _warm_metadata).
        self.transfers = transfers
        self._python_checks: dict[str, bool] = {}
        self._likely: dict[NormalizedName, list[DistFile]] = {}  # per project: see _likely_for
        self._ahead: set[str] = set()  # files whose metadata prefetch_older asked for
        self.target = target
        self.pool = pool
        self.stop = stop
        self._asked: set[NormalizedName] = set()
        # The specifier each project was first asked with: the version to speculate on must satisfy it (a pinned
        # old release is common, and the newest release's metadata would then be fetched for nothing).
        self._wanted: dict[NormalizedName, SpecifierSet] = {}
        self._followed: set[str] = set()  # files whose dependencies were prefetched
        self._warmed: set[NormalizedName] = set()  # projects whose likely metadata was prefetched
        self._lock = threading.Lock()

    def files(self, name: NormalizedName) -> Sequence[DistFile]:
        files = self.finder.files(name)
        with self._lock:
            spec = self._wanted.get(name)
            first = name not in self._warmed
            self._warmed.add(name)
        if first:
            self._warm_metadata(files, spec)
        return files

    def all_files(self, name: NormalizedName) -> Sequence[DistFile]:
        """Every file the index lists for ``name``, with the wheels no target can use (to explain a gap)."""
        return self.finder.all_files(name)

    def metadata(self, dist: DistFile) -> CoreMetadata:
        meta = self.finder.metadata(dist)
        with self._lock:
            first = dist.location not in self._followed
            self._followed.add(dist.location)
        if first:
            self._prefetch_dependencies(meta)
        return meta

    def _submit(self, fn: Callable[[], object], priority: tuple[int, int]) -> None:
        # The pool ignores a task's failure: speculation failing is not an error, the resolver asks again and
        # then sees the real failure.
        if not self.stop.is_set():
            self.pool.submit(fn, priority)

    def _prefetch_dependencies(self, meta: CoreMetadata) -> None:
        wanted: list[tuple[NormalizedName, SpecifierSet]] = []
        env = dict(self.target.marker_environment, extra="")
        for text in meta.requires_dist:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            # Only what the target needs without extras: pages of Windows-only or optional dependencies are
            # often the largest on an index, and parsing them for nothing slows everything else down.
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            wanted.append((canonicalize_name(req.name), req.specifier))
        self.prefetch(wanted)

    def prefetch(self, wanted: Sequence[tuple[NormalizedName, SpecifierSet]]) -> None:
        """Fetch the pages of these projects (and the metadata of the newest version each specifier admits),
        unless the folder serves them."""
        for name, spec in wanted:
            with self._lock:
                if name in self._asked:
                    continue
                self._asked.add(name)
                self._wanted.setdefault(name, spec)
            if self.local is not None and any(
                d.kind == "wheel" and self.target.best_tag(d.tags) is not None for d in self.local.files(name)
            ):
                # The folder probably serves it: speculating would spend requests a covered project never needs.
                continue
            self._submit(lambda name=name: self.files(name), (_PAGE, 0))  # type: ignore[misc]

    def _warm_metadata(self, files: Sequence[DistFile], spec: SpecifierSet | None) -> None:
        """Guess the file the resolver will pin, prefetch its metadata, then start its download."""
        if not files:
            return
        likely = self._likely_for(files[0].name, files, spec)
        if likely:
            pick = likely[0]
            self._submit(lambda: self._warm(pick), (_URGENT_METADATA, -(pick.size or 0)))

    def _likely_for(self, name: NormalizedName, files: Sequence[DistFile], spec: SpecifierSet | None) -> list[DistFile]:
        """:meth:`_likely_files` of a project, computed once (warming and backtracking both need it)."""
        with self._lock:
            likely = self._likely.get(name)
        if likely is None:
            likely = self._likely_files(files, spec)
            with self._lock:
                self._likely[name] = likely
        return likely

    def _likely_files(self, files: Sequence[DistFile], spec: SpecifierSet | None) -> list[DistFile]:
        """The files the resolver would try for a project, in its order: for each release the specifier admits,
        newest first, the wheel it prefers (best tag, then highest build) among those the target can use."""
        if not files or self.formats.no_wheels(files[0].name):
            return []  # --no-binary: the index's wheels are never used
        best: dict[Version, tuple[int, tuple[int, str] | tuple[()], DistFile]] = {}
        for dist in files:
            if dist.kind != "wheel" or dist.yanked is not None:
                continue
            rank = self.target.best_tag(dist.tags)
            if rank is None or dist.version.is_prerelease or (spec is not None and not spec.contains(dist.version)):
                continue
            if dist.requires_python and not self._python_ok(dist.requires_python):
                continue
            current = best.get(dist.version)
            if current is None or (-rank, dist.build) > (-current[0], current[1]):
                best[dist.version] = (rank, dist.build, dist)
        return [best[v][2] for v in sorted(best, reverse=True)]

    def prefetch_older(self, dist: DistFile, count: int = _BACKTRACK_AHEAD) -> None:
        """The resolver gave up ``dist``: it tries the next older releases one by one, each needing metadata.
        Ask for theirs now, in parallel, instead of one round trip after another."""
        with self._lock:
            spec = self._wanted.get(dist.name)
        likely = self._likely_for(dist.name, self.finder.files(dist.name), spec)
        older = [d for d in likely if d.version < dist.version][:count]
        with self._lock:
            # The resolver rejects releases in quick succession: each is asked for once.
            fresh = [d for d in older if d.location not in self._ahead]
            self._ahead.update(d.location for d in fresh)
        for candidate in fresh:
            self._submit(lambda candidate=candidate: self.metadata(candidate), (_LOOK_AHEAD, 0))  # type: ignore[misc]

    def _warm(self, dist: DistFile) -> None:
        self.metadata(dist)  # raises (ignored by the pool) when the metadata is unusable: no download then
        if self.transfers is not None:
            # Usually the very file the resolver pins a moment later: its bytes are on their way already. A
            # wrong guess costs one discarded download (see _Transfers).
            self.transfers.start(dist.filename, self.finder.remote_file(dist))

    def _python_ok(self, requires_python: str) -> bool:
        ok = self._python_checks.get(requires_python)
        if ok is None:
            try:
                spec = SpecifierSet(requires_python)
                ok = spec.contains(self.target.python_full_version, prereleases=True)
            except InvalidSpecifier:
                ok = False
            self._python_checks[requires_python] = ok
        return ok


class _Transfers:
    """Downloads into temporary files, started as early as possible: the moment the resolver pins a file.

    A pinned file is almost always in the final plan, so its transfer overlaps the rest of the resolution. A
    transfer that the final plan does not use (the resolver backtracked) is discarded with its temporary file;
    nothing reaches the folder before :func:`_fetch_all` commits it.
    """

    def __init__(self, store: Store, client: IndexClient, jobs: int) -> None:
        self.store = store
        self.client = client
        self.cancel = threading.Event()
        self.received: dict[str, int] = {}
        self._lock = threading.Lock()
        self._futures: dict[str, Future[tuple[Path, str]]] = {}
        self._listeners: dict[str, Callable[[int], None]] = {}
        self._taken: set[str] = set()
        self._pool = _started_pool(max(1, jobs), "wheelhouse-download")

    def start(self, filename: str, remote: RemoteFile) -> Future[tuple[Path, str]]:
        """The transfer of ``filename`` (started now unless it already runs)."""
        with self._lock:
            future = self._futures.get(filename)
            if future is None:
                future = self._pool.submit(self._fetch, filename, remote)
                self._futures[filename] = future
            return future

    def listen(self, filename: str, callback: Callable[[int], None]) -> None:
        """Forward the transfer's progress (bytes so far) to ``callback`` from now on."""
        with self._lock:
            self._listeners[filename] = callback
            received = self.received.get(filename)
        if received:
            callback(received)

    def take(self, filename: str) -> None:
        """Mark a finished transfer as claimed: its temporary file is now the caller's to commit or delete."""
        with self._lock:
            self._taken.add(filename)

    def _fetch(self, filename: str, remote: RemoteFile) -> tuple[Path, str]:
        if self.cancel.is_set():
            raise _Cancelled
        temp = self.store.new_temp(filename)

        def progress(n: int) -> None:
            if self.cancel.is_set():
                raise _Cancelled
            with self._lock:
                self.received[filename] = n
                listener = self._listeners.get(filename)
            if listener is not None:
                listener(n)

        try:
            sha = self.client.download(remote, temp, on_progress=progress)
            if self.cancel.is_set():
                raise _Cancelled
            # Flushed here, in parallel, so that committing in the main thread costs a rename.
            fsync_file(temp)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        return temp, sha

    def close(self) -> None:
        """Stop every transfer and delete the temporary files nobody claimed."""
        self.cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            leftovers = [(n, f) for n, f in self._futures.items() if n not in self._taken]
        for _name, future in leftovers:
            if future.done() and not future.cancelled() and future.exception() is None:
                with contextlib.suppress(OSError):
                    future.result()[0].unlink()


class _PinReporter(ResolveReporter):
    """Starts the transfer of every remote wheel the resolver pins (see :class:`_Transfers`); when it backtracks
    over a project, prefetches the metadata of the releases it will try next."""

    def __init__(
        self, transfers: _Transfers | None, remote: IndexFinder, speculative: _SpeculativeFinder | None = None
    ) -> None:
        self.transfers = transfers
        self.remote = remote
        self.speculative = speculative
        self._pinned: set[str] = set()

    def rejecting_candidate(self, criterion: Any, candidate: Any) -> None:
        dist: DistFile | None = candidate.dist
        if self.speculative is not None and dist is not None and not dist.local and dist.kind == "wheel":
            self.speculative.prefetch_older(dist)

    def pinning(self, candidate: Any) -> None:
        dist: DistFile | None = candidate.dist
        if dist is None or dist.local or dist.kind != "wheel":
            return
        if candidate.name in self._pinned:
            # Pinned again: the resolver is backtracking over this project, often through many releases in a
            # row. Their files wait for the final plan instead of each being fetched and thrown away, and the
            # metadata of the releases it will try next is fetched ahead.
            if self.speculative is not None:
                self.speculative.prefetch_older(dist)
            return
        self._pinned.add(candidate.name)
        if self.transfers is None:
            return
        try:
            remote = self.remote.remote_file(dist)
        except KeyError:
            return
        self.transfers.start(dist.filename, remote)


def plan_download(
    requirements: RequirementSet,
    targets: Sequence[Target],
    store: Store,
    client: IndexClient,
    *,
    options: DownloadOptions = DownloadOptions(),
    reporter: DownloadReporter | None = None,
    warn: Callable[[str], None] | None = None,
    runner: BuildRunner = subprocess_runner,
    transfers: _Transfers | None = None,
) -> DownloadPlan:
    """Resolve every target over the folder and the index; list the files to fetch (each once).

    With ``transfers``, each remote wheel starts downloading the moment the resolver pins it.

    With building on, sdists may be pinned: their metadata comes from a kept copy (downloaded into
    ``.wheelhouse/sdists/``), by ``PKG-INFO`` or the build backend's prepare-metadata hook run by ``runner``.
    """
    from wheelhouse.index.finder import IndexFinder

    reporter = reporter or DownloadReporter()
    building = options.build.enabled
    base = store.scan()
    local = StoreFinder(base)
    remote = IndexFinder(client, targets)
    sdists = SdistMetadata(store, client.config, options.build, runner=runner)

    def fetch_sdist(dist: DistFile, dest: Path) -> str:
        return client.download(remote.remote_file(dist), dest)

    stop = threading.Event()
    pool = _PriorityPool(max(2, options.jobs), "wheelhouse-speculate")
    resolutions: list[Resolution] = []
    try:
        for target in targets:
            reporter.resolving(target)
            speculative = _SpeculativeFinder(remote, target, pool, stop, local, transfers, options.formats)
            # The top-level requirements are known now: their pages need not wait for the resolver to ask.
            speculative.prefetch([(line.name, line.requirement.specifier) for line in requirements.requirements])
            finders: list[Finder] = [local, speculative]
            if building:
                finders = [SdistFinder(finders[0], sdists), SdistFinder(finders[1], sdists, fetch_sdist)]
            pins = _PinReporter(transfers, remote, speculative)
            resolutions.append(
                resolve(
                    requirements,
                    target,
                    finders,
                    pre=options.pre,
                    warn=warn,
                    sdists=building,
                    reporter=pins,
                    formats=options.formats,
                )
            )
    finally:
        stop.set()
        pool.shutdown()

    from wheelhouse._text import redact_url

    fetch: dict[str, PlannedFile] = {}
    present: dict[str, None] = {}
    builds: dict[str, tuple[DistFile, list[Target]]] = {}
    for res in resolutions:
        for pin in res.pins:
            dist = pin.dist
            if dist.kind == "sdist":
                # Never fetched into the folder: it is kept aside and built after the downloads.
                builds.setdefault(dist.filename, (dist, []))[1].append(res.target)
                continue
            if dist.local:
                present.setdefault(dist.filename, None)
                continue
            item = fetch.get(dist.filename)
            if item is None:
                # py3-none-any and abi3 wheels serve several targets: one download, several targets recorded.
                rf = remote.remote_file(dist)
                fetch[dist.filename] = PlannedFile(
                    dist.filename,
                    redact_url(rf.url),
                    rf.size,
                    rf.sha256,
                    (res.target.name,),
                    rf,
                    _read_metadata(remote, dist),
                )
            elif res.target.name not in item.targets:
                fetch[dist.filename] = dataclasses.replace(item, targets=(*item.targets, res.target.name))
    planned_builds = tuple(
        SdistBuild(
            filename,
            dist.name,
            dist.version,
            tuple(build_targets),
            url=None if dist.local else redact_url(dist.location),
            metadata_failure=sdists.failures.get(filename),
            path=dist.location if dist.local else None,
        )
        for filename, (dist, build_targets) in sorted(builds.items())
    )
    keep = () if building else _sdists_to_keep(resolutions, remote)
    plan = DownloadPlan(
        tuple(resolutions),
        tuple(sorted(fetch.values(), key=lambda f: f.filename)),
        tuple(present),
        build=planned_builds,
        keep=keep,
        base=base,
    )
    reporter.planned(plan)
    return plan


def _read_metadata(remote: IndexFinder, dist: DistFile) -> CoreMetadata | None:
    """The metadata the resolver read for a pinned file (cached by then), or None."""
    try:
        return remote.metadata(dist)
    except WheelhouseError:
        return None


def _sdists_to_keep(resolutions: Sequence[Resolution], remote: IndexFinder) -> tuple[PlannedFile, ...]:
    """For each "sdist-only" gap, the newest sdist in range on the index, to keep aside (building is off)."""
    from wheelhouse._text import redact_url

    keep: dict[str, PlannedFile] = {}
    for res in resolutions:
        for gap in res.gaps:
            if gap.kind != "sdist-only":
                continue
            try:
                spec = Requirement(gap.requirement).specifier
            except InvalidRequirement:
                continue
            rejected = {r.filename for r in gap.rejected}
            candidates = [
                d
                for d in remote.files(gap.project)
                if d.kind == "sdist" and d.filename in rejected and spec.contains(d.version, prereleases=True)
            ]
            if not candidates:
                continue
            newest: Version = max(d.version for d in candidates)
            dist = sorted((d for d in candidates if d.version == newest), key=lambda d: d.filename)[-1]
            if dist.filename not in keep:
                rf = remote.remote_file(dist)
                keep[dist.filename] = PlannedFile(
                    dist.filename, redact_url(rf.url), rf.size, rf.sha256, (res.target.name,), rf
                )
    return tuple(keep.values())


class _VerifyAhead:
    """The verify that ends a run, computed while the files download: over the folder as it will be once every
    planned file is committed, each with the metadata the index gave for it.

    It stands only if the folder turns out exactly so: :meth:`report` compares everything a resolution reads
    (:meth:`StoreScan.resolver_view`) with a scan taken after the commits, which has read each new file's
    metadata from the wheel itself. Any difference (a failed download, a wheel whose metadata is not what the
    index said) and the caller verifies the usual way.
    """

    def __init__(
        self, requirements: RequirementSet, targets: Sequence[Target], store: Store, plan: DownloadPlan
    ) -> None:
        self._args = (requirements, targets, store, plan)
        self._warnings: list[str] = []
        self._report: VerifyReport | None = None
        self._expected: tuple[object, ...] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Predict the folder and resolve over it, in a thread of its own."""
        requirements, targets, store, plan = self._args
        assert plan.base is not None
        added = []
        for item in plan.fetch:
            assert item.metadata is not None
            name, version, kind, tags, build = parse_dist_filename(item.filename)
            dist = DistFile(
                item.filename,
                name,
                version,
                kind,
                tags,
                str(store.root / item.filename),
                True,
                build=build,
                requires_python=item.metadata.requires_python,
            )
            added.append(StoredWheel(dist, item.metadata, 0.0))
        wheels = sorted((*plan.base.wheels, *added), key=lambda w: w.dist.filename)
        scan = dataclasses.replace(plan.base, wheels=tuple(wheels))
        self._expected = scan.resolver_view()
        self._thread = threading.Thread(
            target=self._run, args=(requirements, targets, scan), name="wheelhouse-verify-ahead", daemon=True
        )
        self._thread.start()

    @staticmethod
    def applies(plan: DownloadPlan) -> bool:
        """Whether the folder after the run is predictable: only wheels arrive, each with known metadata."""
        return (
            plan.base is not None
            and bool(plan.fetch)
            and not plan.build
            and not plan.keep
            and all(item.metadata is not None and item.filename.endswith(".whl") for item in plan.fetch)
        )

    def _run(self, requirements: RequirementSet, targets: Sequence[Target], scan: StoreScan) -> None:
        # A failure here only means the usual verify runs at the end, and reports it.
        with contextlib.suppress(Exception):
            self._report = verify_scan(requirements, targets, scan, warn=self._warnings.append)

    def report(
        self, final: StoreScan, fix_args: Sequence[str], warn: Callable[[str], None] | None
    ) -> VerifyReport | None:
        """The report, if it was started, the folder is as predicted and every target is covered; else None."""
        if self._thread is None:
            return None
        self._thread.join()
        report = self._report
        if report is None or not report.covered or final.resolver_view() != self._expected:
            return None
        # The same files, as the folder describes them (with their hashes and sizes).
        dists = {w.dist.filename: w.dist for w in final.wheels}
        resolutions = tuple(
            dataclasses.replace(
                res, pins=tuple(dataclasses.replace(pin, dist=dists[pin.dist.filename]) for pin in res.pins)
            )
            for res in report.resolutions
        )
        if warn is not None:
            for message in self._warnings:
                warn(message)
        return VerifyReport(str(final.root), resolutions, final.problems, tuple(fix_args))


class _Cancelled(Exception):
    """Raised inside a worker's progress callback to abort its stream when the run is interrupted."""


def download(
    requirements: RequirementSet,
    targets: Sequence[Target],
    store: Store,
    client: IndexClient,
    *,
    options: DownloadOptions = DownloadOptions(),
    reporter: DownloadReporter | None = None,
    warn: Callable[[str], None] | None = None,
    runner: BuildRunner = subprocess_runner,
) -> DownloadResult:
    """Plan, fetch in parallel under the folder's lock, build sdists, record provenance, then verify offline.

    ``runner`` runs pip and Docker for sdist metadata and builds (injectable for tests).
    """
    reporter = reporter or DownloadReporter()
    started = time.monotonic()
    if options.dry_run:
        plan = plan_download(
            requirements, targets, store, client, options=options, reporter=reporter, warn=warn, runner=runner
        )
        return DownloadResult(plan, requests=client.request_count, seconds=time.monotonic() - started)

    store.ensure()
    with store.lock(wait=options.wait, on_wait=reporter.waiting):
        # Only under the lock is a partial file certainly abandoned (its writer is gone).
        cleaned = tuple(store.clean_stray())
        transfers = _Transfers(store, client, options.jobs)
        try:
            plan = plan_download(
                requirements,
                targets,
                store,
                client,
                options=options,
                reporter=reporter,
                warn=warn,
                runner=runner,
                transfers=transfers,
            )
            ahead = _VerifyAhead(requirements, targets, store, plan) if _VerifyAhead.applies(plan) else None
            downloaded, failed, received = _fetch_all(
                plan, store, transfers, reporter, requirements.files, all_started=ahead.start if ahead else None
            )
        finally:
            transfers.close()
        kept, keep_failed = _keep_sdists(plan.keep, store, client)
        failed = tuple(sorted((*failed, *keep_failed), key=lambda f: f.filename))
        builds = (
            build_sdists(
                plan.build,
                store,
                config=client.config,
                options=options.build,
                runner=runner,
                reporter=reporter,
                sources=requirements.files,
            )
            if plan.build
            else ()
        )
        _record_usage(plan, store, requirements.files, failed)
    final = store.scan()
    report = ahead.report(final, options.fix_args, warn) if ahead is not None else None
    if report is None:
        report = verify_scan(requirements, targets, final, fix_args=options.fix_args, warn=warn)
    return DownloadResult(
        plan,
        downloaded=downloaded,
        failed=failed,
        bytes_downloaded=received,
        requests=client.request_count,
        seconds=time.monotonic() - started,
        cleaned=cleaned,
        report=report,
        builds=builds,
        kept=kept,
    )


def _keep_sdists(
    items: Sequence[PlannedFile], store: Store, client: IndexClient
) -> tuple[tuple[str, ...], tuple[FailedFile, ...]]:
    """Download sdists into ``.wheelhouse/sdists/`` (verified, atomic), where pip never looks."""
    kept: list[str] = []
    failed: list[FailedFile] = []
    for item in items:
        temp = store.new_temp(item.filename)
        try:
            client.download(item.remote, temp)
            store.keep_sdist(temp, item.filename)
            kept.append(item.filename)
        except WheelhouseError as exc:
            failed.append(FailedFile(item.filename, item.url, str(exc)))
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()
    return tuple(kept), tuple(failed)


def _fetch_all(
    plan: DownloadPlan,
    store: Store,
    transfers: _Transfers,
    reporter: DownloadReporter,
    sources: Sequence[str],
    all_started: Callable[[], None] | None = None,
) -> tuple[tuple[str, ...], tuple[FailedFile, ...], int]:
    """Finish every planned transfer (most already run), commit each verified file, then record them all.

    ``all_started`` is called once every transfer has been started (work that can wait until then).
    """
    if not plan.fetch:
        return (), (), 0
    downloaded: list[str] = []
    failed: list[FailedFile] = []
    records: dict[str, FileRecord] = {}
    futures: dict[Future[tuple[Path, str]], PlannedFile] = {}
    try:
        # Largest first: the long transfers start early and the pool drains evenly. Started inside the try: a
        # Ctrl-C landing while the first workers start must cancel them too.
        for item in sorted(plan.fetch, key=lambda f: -(f.size or 0)):
            reporter.file_started(item)
            transfers.listen(item.filename, lambda n, item=item: reporter.file_progress(item, n))  # type: ignore[misc]
            futures[transfers.start(item.filename, item.remote)] = item
        if all_started is not None:
            all_started()
        pending: set[Future[tuple[Path, str]]] = set(futures)
        saved = time.monotonic()
        while pending:
            done, pending = wait(pending, timeout=0)
            if not done:
                # About to block on slow transfers: save what is committed so far. Each save rewrites the
                # manifest, so bursts of completions share one write (at most one per _SAVE_GAP), yet a long
                # wait never leaves committed files without their records.
                if records and time.monotonic() - saved >= _SAVE_GAP:
                    _save_records(store, records, failed)
                    saved = time.monotonic()
                done, pending = wait(pending, timeout=_SAVE_GAP if records else None, return_when=FIRST_COMPLETED)
            for future in done:
                _finish(future, futures[future], store, transfers, reporter, sources, records, downloaded, failed)
    except BaseException:
        # Ctrl-C (or any crash): stop every stream at its next chunk. Committed files are complete and verified
        # and their records are saved below; partial ones are deleted by their workers (or by the next run).
        transfers.close()
        _save_records(store, records, failed)
        raise
    _save_records(store, records, failed)
    total = sum(transfers.received.get(name, 0) for name in downloaded)
    return tuple(sorted(downloaded)), tuple(sorted(failed, key=lambda f: f.filename)), total


def _finish(
    future: Future[tuple[Path, str]],
    item: PlannedFile,
    store: Store,
    transfers: _Transfers,
    reporter: DownloadReporter,
    sources: Sequence[str],
    records: dict[str, FileRecord],
    downloaded: list[str],
    failed: list[FailedFile],
) -> None:
    """Commit one finished transfer (its record joins the next batch), or note why it failed."""
    transfers.take(item.filename)
    try:
        temp, sha = future.result()
        try:
            record = FileRecord(
                sha256=sha, url=item.url, added=time.time(), targets=item.targets, sources=tuple(sources)
            )
            store.commit(temp, item.filename, record, save_record=False, synced=True)
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()
        records[item.filename] = record
        downloaded.append(item.filename)
        reporter.file_done(item)
    except WheelhouseError as exc:
        failed.append(FailedFile(item.filename, item.url, str(exc)))
        reporter.file_failed(item, exc)
    except OSError as exc:
        error = WheelhouseError(f"cannot write {item.filename}: {exc.strerror or exc}")
        failed.append(FailedFile(item.filename, item.url, str(error)))
        reporter.file_failed(item, error)


def _save_records(store: Store, records: dict[str, FileRecord], failed: list[FailedFile]) -> None:
    if not records:
        return
    try:
        store.sync()
        store.update_records(records, prime=True)
    except StoreError as exc:
        # The files are complete and verified; only their records are missing, and the next run adds them.
        for filename, record in records.items():
            failed.append(
                FailedFile(
                    filename, record.url or "", f"{filename} is in the folder, but its record was not saved: {exc}"
                )
            )
    records.clear()


def _record_usage(plan: DownloadPlan, store: Store, sources: Sequence[str], failed: Sequence[FailedFile]) -> None:
    """Record which target each used file serves and which requirement files produced it."""
    failed_names = {f.filename for f in failed}
    wanted: dict[str, set[str]] = {}
    for res in plan.resolutions:
        for pin in res.pins:
            # A built wheel's record is written when it is committed; the sdist itself is not in the folder.
            if pin.dist.kind != "sdist" and pin.dist.filename not in failed_names:
                wanted.setdefault(pin.dist.filename, set()).add(res.target.name)
    records = store.records()
    missing_hash = [name for name in wanted if name not in records and (store.root / name).is_file()]
    hashes = store.hashes(missing_hash) if missing_hash else {}
    updates: dict[str, FileRecord] = {}
    for filename, target_names in wanted.items():
        current = records.get(filename)
        if current is None:
            if filename not in hashes:
                continue
            updates[filename] = FileRecord(
                sha256=hashes[filename], added=time.time(), targets=tuple(sorted(target_names)), sources=tuple(sources)
            )
        elif not target_names <= set(current.targets) or not set(sources) <= set(current.sources):
            updates[filename] = FileRecord(
                sha256=current.sha256, targets=tuple(sorted(target_names)), sources=tuple(sources)
            )
    # Nothing new to say: a no-op run writes nothing.
    if updates:
        store.update_records(updates)
