"""Speculation: what the resolver will probably ask next is fetched before it asks.

Contract: :class:`SpeculativeFinder` is a :class:`wheelhouse.dists.Finder` that answers exactly as the index
finder it wraps; it only warms that finder's caches in the background (project pages of dependencies, with the
extras each project is wanted with, in the order the resolver will ask for them; the metadata of the file the
resolver will most likely pin; the metadata of older releases when the resolver backtracks, or when a top-level
pin rules out the likely release) and starts the transfer of the likely file. On an index without
PEP 658 metadata a small likely wheel is downloaded first and its metadata read from the verified file (the
finder waits for that transfer instead of reading ranges; if it fails, the ranges are read). A failed
speculative task is never an error: the resolver asks again and sees the real failure. :class:`PinReporter` is
the resolver's reporter that starts the transfer of every remote wheel the resolver pins and asks for look-ahead
when it backtracks.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import CancelledError
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from wheelhouse._markers import holds_or_not
from wheelhouse.dists import CoreMetadata, DistFile
from wheelhouse.fetch.pools import PriorityPool
from wheelhouse.fetch.transfers import Transfers
from wheelhouse.releases import Replay, by_release
from wheelhouse.requirements import RequirementLine
from wheelhouse.resolve.resolver import FormatControl, ResolveReporter
from wheelhouse.resolve.vocabulary import pinned_version
from wheelhouse.store.folder import StoreFinder
from wheelhouse.targets import Target

if TYPE_CHECKING:
    from wheelhouse.index.finder import IndexFinder

# When the resolver gives up a release, the metadata of older ones is fetched ahead: two at the first rejection
# of a project, four times as many at each further one, at most this many. Most rejections are passing (the
# resolver takes the release back a moment later), so a first rejection asks for little; a second one marks a
# real backtrack, which may walk through dozens of releases, each needing its metadata before the next.
BACKTRACK_AHEAD = 32

# A likely wheel up to this size, on an index that offers no PEP 658 metadata, is downloaded whole for its
# metadata instead of being read by ranges first and downloaded afterwards (see
# SpeculativeFinder._metadata_from_file): most wheels of an application are this small, and the ranges of such a
# wheel (a 64 kB tail, often a second range) are most of its bytes anyway. Larger wheels, and any wheel whose
# index serves its METADATA alone, are read the cheap way: resolution never waits for a long transfer.
WHOLE_FILE_METADATA = 256 * 1024
_FIRST_LOOK_AHEAD = 2

# A release whose metadata needs another version of a top-level pin is one the resolver will reject, and it will
# then try the next older ones in turn, each needing its metadata (typer, whose newer releases need newer click and
# rich than an application pins, walks back through twenty). That walk is read ahead as soon as such a release is
# seen, this many releases at a time: each one ruled out in turn asks for the next.
_WALK_AHEAD = 4

# Speculative tasks, most urgent first. The pages of the dependencies of a file the resolver has just read come
# first: it asks for each of them next, one after another, and a page it asks for that no worker has started is
# fetched in its own thread while the others wait their turn. A likely file's metadata comes next, the largest
# file first: reading it starts that file's transfer and asks for its dependencies' pages, so the link fills
# early and the deepest projects are reached sooner. Look-ahead for backtracking comes next, then project pages.
# Breadth first, the metadata of a 30 MB wheel whose page had arrived waited behind dozens of small pages.
# Project pages go in the order the resolver will ask for them (see _page_priority), not in the order they were
# found: a dependency of a project whose large page came late waited behind the dependencies of every project
# read before it, and the resolver then fetched that page itself.
_NEEDED_PAGE = -1
_URGENT_METADATA = 0
_LOOK_AHEAD = 1
_PAGE = 2
# Where a project found through a file whose own place is unknown goes: after every known one of its depth.
_UNPLACED = 1 << 30

# A project to prefetch: its name, the specifier it is wanted with, and its extras.
_Wanted = tuple[NormalizedName, SpecifierSet, frozenset[str]]


class SpeculativeFinder:
    """The index finder, plus speculation: what the resolver will probably ask next is fetched in advance.

    Only a cache is warmed: every answer the resolver sees still comes from the finder it wraps.
    """

    def __init__(
        self,
        finder: IndexFinder,
        target: Target,
        pool: PriorityPool,
        stop: threading.Event,
        local: StoreFinder | None = None,
        transfers: Transfers | None = None,
        formats: FormatControl | None = None,
    ) -> None:
        self.finder = finder
        self.formats = formats or FormatControl()
        self.local = local
        # With transfers, the file whose metadata is prefetched starts downloading too (see _warm_metadata).
        self.transfers = transfers
        self._python_checks: dict[str, bool] = {}
        self._likely: dict[NormalizedName, Replay[DistFile]] = {}  # per project: see _likely_for
        self._ahead: set[str] = set()  # files whose metadata prefetch_older asked for
        self._rejections: dict[NormalizedName, int] = {}  # per project: how often the resolver gave up a release
        self.target = target
        self.pool = pool
        self.stop = stop
        self._asked: set[NormalizedName] = set()
        # The specifier each project was first asked with: the version to speculate on must satisfy it (a pinned
        # old release is common, and the newest release's metadata would then be fetched for nothing).
        self._wanted: dict[NormalizedName, SpecifierSet] = {}
        self._followed: set[str] = set()  # files whose dependencies were prefetched
        # The extras each project is wanted with (top-level lines, Requires-Dist read so far), and the metadata read
        # per project: an extra learnt after a project's metadata was followed is followed then.
        self._extras: dict[NormalizedName, set[str]] = {}
        self._read: dict[NormalizedName, list[CoreMetadata]] = {}
        self._warmed: set[NormalizedName] = set()  # projects whose likely metadata was prefetched
        self._hurried: set[NormalizedName] = set()  # projects whose page was asked for at _NEEDED_PAGE
        self._needs: dict[tuple[CoreMetadata, tuple[str, ...]], list[_Wanted]] = {}  # see _needed
        # Per project asked for, its place in the resolver's order (see _page_priority).
        self._places: dict[NormalizedName, tuple[int, ...]] = {}
        # The version each top-level requirement pins (see _ruled_out).
        self._pins: dict[NormalizedName, Version] = {}
        # Per project, the file whose metadata first named it (its spec is _wanted's); the files found ruled out
        # (see _walk_older), and the files given up because every release they admit of a dependency is.
        self._named_by: dict[NormalizedName, DistFile] = {}
        self._ruled: set[str] = set()
        self._given_up: set[str] = set()
        # Per project, the sha256 values each of its hash-pinning lines allows: an index file must be in each set.
        self._hashes: dict[NormalizedName, list[frozenset[str]]] = {}
        self.pages_asked = 0  # project pages prefetched (the folder served the rest)
        self._lock = threading.Lock()

    def files(self, name: NormalizedName) -> Sequence[DistFile]:
        files = self.finder.files(name)
        with self._lock:
            spec = self._wanted.get(name)
            first = name not in self._warmed
            self._warmed.add(name)
        if first:
            self._warm_metadata(canonicalize_name(name), files, spec)
        return files

    def all_files(self, name: NormalizedName) -> Sequence[DistFile]:
        """Every file the index lists for ``name``, with the wheels no target can use (to explain a gap)."""
        return self.finder.all_files(name)

    def metadata(self, dist: DistFile) -> CoreMetadata:
        """The resolver reads ``dist``: the pages of its dependencies go ahead of every speculative task."""
        meta = self._metadata(dist)
        with self._lock:
            extras = sorted(self._extras.get(canonicalize_name(meta.name), ()))
        for name, _spec, _extras in self._needed(meta, ["", *extras]):
            with self._lock:
                if name in self._hurried:
                    continue
                self._hurried.add(name)
            if not self._served_locally(name):
                self._submit(lambda name=name: self.files(name), (_NEEDED_PAGE, 0))  # type: ignore[misc]
        return meta

    def _metadata(self, dist: DistFile) -> CoreMetadata:
        """The finder's answer; its dependencies are prefetched the first time (at the priority of pages)."""
        meta = self.finder.metadata(dist)
        with self._lock:
            first = dist.location not in self._followed
            self._followed.add(dist.location)
        if first:
            self._prefetch_dependencies(meta, dist)
        return meta

    def _submit(self, fn: Callable[[], object], priority: tuple[int, ...]) -> None:
        # The pool ignores a task's failure: speculation failing is not an error, the resolver asks again and
        # then sees the real failure.
        if not self.stop.is_set():
            self.pool.submit(fn, priority)

    def _prefetch_dependencies(self, meta: CoreMetadata, dist: DistFile) -> None:
        name = canonicalize_name(meta.name)
        with self._lock:
            extras = sorted(self._extras.get(name, ()))
            self._read.setdefault(name, []).append(meta)
        self._follow(meta, ["", *extras], dist)

    def _follow(self, meta: CoreMetadata, extras: Sequence[str], source: DistFile | None = None) -> None:
        """Prefetch the dependencies ``meta`` (the metadata of ``source``) names for the target with any of
        ``extras`` ("" for none)."""
        with self._lock:
            place = self._places.get(canonicalize_name(meta.name), (_UNPLACED,))
        self.prefetch(self._needed(meta, extras), place, source)

    def _needed(self, meta: CoreMetadata, extras: Sequence[str]) -> list[_Wanted]:
        """The dependencies ``meta`` names for the target with any of ``extras`` ("" for none); worked out once
        per file and extras (the speculative reading of a file and the resolver's both ask)."""
        key = (meta, tuple(extras))
        with self._lock:
            known = self._needs.get(key)
        if known is not None:
            return known
        wanted: list[_Wanted] = []
        envs = [dict(self.target.marker_environment, extra=extra) for extra in extras]
        for text in meta.requires_dist:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            # Only what the target needs with the extras asked for: pages of Windows-only or optional
            # dependencies are often the largest on an index, and parsing them for nothing slows everything else.
            if not any(holds_or_not(req.marker, env) for env in envs):
                continue
            wanted.append((canonicalize_name(req.name), req.specifier, frozenset(req.extras)))
        with self._lock:
            self._needs[key] = wanted
        return wanted

    def prefetch_requirements(
        self, lines: Sequence[RequirementLine], constraints: Sequence[RequirementLine] = ()
    ) -> None:
        """:meth:`prefetch` the top-level requirements whose marker holds on the target, evaluated as the resolver
        does (no extra): a line for another platform is never resolved, so it must cost no request. They are
        taken in the resolver's order: pinned ones first, each group by name. The hashes these lines and
        ``constraints`` pin rule out the files they do not name, as the resolver rules them out."""
        for line in (*lines, *constraints):
            if line.hashes:
                sha256 = frozenset(value[len("sha256:") :] for value in line.hashes if value.startswith("sha256:"))
                self._hashes.setdefault(line.name, []).append(sha256)
        env = dict(self.target.marker_environment, extra="")
        held = [line for line in lines if holds_or_not(line.requirement.marker, env)]
        pins = {line.name: pin for line in held if (pin := pinned_version(line.requirement.specifier)) is not None}
        held.sort(key=lambda line: (line.name not in pins, line.name))
        self._pins.update(pins)
        self.prefetch([(line.name, line.requirement.specifier, frozenset(line.requirement.extras)) for line in held])

    def prefetch(self, wanted: Sequence[_Wanted], parent: tuple[int, ...] = (), source: DistFile | None = None) -> None:
        """Fetch the pages of these projects (and the metadata of the newest version each specifier admits),
        unless the folder serves them; each wanted with the extras given, whose dependencies are followed too.

        ``parent`` is the place (see :meth:`_page_priority`) of the project whose file names them, in its
        Requires-Dist order; none for the top-level requirements, in the resolver's order. ``source`` is that
        file, when a file names them."""
        for position, (name, spec, extras) in enumerate(wanted):
            with self._lock:
                known = self._extras.setdefault(name, set())
                added = sorted(extras - known)
                known.update(added)
                read = list(self._read.get(name, ())) if added else []
                if name in self._asked:
                    first = False
                else:
                    first = True
                    self._asked.add(name)
                    self._wanted.setdefault(name, spec)
                    self._places[name] = place = (*parent, position)
                    if source is not None:
                        self._named_by[name] = source
            for meta in read:
                # Its dependencies without these extras were followed when it was read.
                self._follow(meta, added)
            if not first:
                continue
            if self._served_locally(name):
                continue
            self.pages_asked += 1
            priority = self._page_priority(place, pinned=pinned_version(spec) is not None)
            self._submit(lambda name=name: self.files(name), priority)  # type: ignore[misc]

    @staticmethod
    def _page_priority(place: tuple[int, ...], *, pinned: bool) -> tuple[int, ...]:
        """A project page's priority, from its place (the position of each requirement on the path that first
        named it, from a top-level line down) and whether that requirement pins one version. As the resolver
        decides (:meth:`wheelhouse.resolve.provider.Provider.rank`): pins first, the user's own before those of
        dependencies (pydantic's ``pydantic-core==2.18.4``, a page of 7 MB, is decided right after the top-level
        pins), then the rest, shallower places first and then as the path reads: breadth first, in the order
        dependents named them."""
        return (_PAGE, not pinned, len(place) > 1, len(place), *place)

    def _served_locally(self, name: NormalizedName) -> bool:
        """Whether the folder probably serves ``name``: speculating would spend requests a covered project never
        needs."""
        return self.local is not None and any(
            d.kind == "wheel" and self.target.best_tag(d.tags) is not None for d in self.local.files(name)
        )

    def _warm_metadata(self, name: NormalizedName, files: Sequence[DistFile], spec: SpecifierSet | None) -> None:
        """Guess the file the resolver will pin, prefetch its metadata, then start its download."""
        pick = next(iter(self._likely_for(name, files, spec)), None)
        if pick is not None:
            if self.transfers is not None:
                # A large file will probably follow: the process that streams those takes a moment to start.
                self.transfers.prepare(self.finder.remote_file(pick))
                self._metadata_from_file(pick, self.transfers)
            self._submit(lambda: self._warm(pick), (_URGENT_METADATA, -(pick.size or 0)))

    def _likely_for(
        self, name: NormalizedName, files: Sequence[DistFile], spec: SpecifierSet | None
    ) -> Replay[DistFile]:
        """:meth:`_likely_files` of a project, computed once and as far as it is read (warming reads the first,
        backtracking a few more)."""
        with self._lock:
            likely = self._likely.get(name)
            if likely is None:
                likely = self._likely[name] = Replay(self._likely_files(name, files, spec))
        return likely

    def _likely_files(
        self, name: NormalizedName, files: Sequence[DistFile], spec: SpecifierSet | None
    ) -> Iterator[DistFile]:
        """The files the resolver would try for a project, in its order: for each release the specifier admits,
        newest first, the wheel it prefers (best tag, then highest build) among those the target can use."""
        if self.formats.no_wheels(name):
            return  # --no-binary: the index's wheels are never used
        versions, of = by_release(files, "wheel")
        pinned = self._hashes.get(name, ())
        for version in versions:
            if version.is_prerelease or (spec is not None and not spec.contains(version)):
                continue
            best: tuple[int, tuple[int, str] | tuple[()], DistFile] | None = None
            for dist in of(version):
                if dist.yanked is not None or any(dist.sha256 not in allowed for allowed in pinned):
                    continue
                rank = self.target.best_tag(dist.tags)
                if rank is None or (dist.requires_python and not self._python_ok(dist.requires_python)):
                    continue
                if best is None or (-rank, dist.build) > (-best[0], best[1]):
                    best = (rank, dist.build, dist)
            if best is not None:
                yield best[2]

    def prefetch_older(self, dist: DistFile, count: int | None = None) -> None:
        """The resolver gave up ``dist``: it tries the next older releases one by one, each needing metadata.
        Ask for theirs now, in parallel, instead of one round trip after another: ``count`` of them, by default
        two at a project's first rejection and four times as many at each further one (at most
        :data:`BACKTRACK_AHEAD`)."""
        with self._lock:
            if count is None:
                rejections = self._rejections.get(dist.name, 0)
                self._rejections[dist.name] = rejections + 1
                count = min(BACKTRACK_AHEAD, _FIRST_LOOK_AHEAD << (2 * rejections))
        self._read_ahead(dist, count)

    def _walk_older(self, dist: DistFile) -> None:
        """``dist`` is ruled out by a top-level pin (:meth:`_ruled_out`): read ahead the metadata of the next
        :data:`_WALK_AHEAD` older releases the resolver will try, each ruled out in turn walking on.

        Once every release the project was first wanted with is ruled out, the file that wanted it will be given
        up too (fastapi-cli 0.0.34, every typer release it admits needing a newer click than the pinned one):
        the releases the resolver tries after that file are read ahead as after a rejection."""
        likely = self._read_ahead(dist, _WALK_AHEAD)
        with self._lock:
            self._ruled.add(dist.location)
            source = self._named_by.get(dist.name)
        if source is None or not all(d.location in self._ruled for d in likely):
            return
        with self._lock:
            if source.location in self._given_up:
                return
            self._given_up.add(source.location)
        # Not counted as a rejection: the resolver's own, when it comes, asks for more.
        self._read_ahead(source, _FIRST_LOOK_AHEAD)

    def _read_ahead(self, dist: DistFile, count: int) -> Replay[DistFile]:
        """Read the metadata of the ``count`` releases the resolver would try after ``dist``, in the background;
        the files the resolver would try for its project (:meth:`_likely_for`)."""
        with self._lock:
            spec = self._wanted.get(dist.name)
        likely = self._likely_for(dist.name, self.finder.files(dist.name), spec)
        older = list(itertools.islice((d for d in likely if d.version < dist.version), count))
        with self._lock:
            # The resolver rejects releases in quick succession: each is asked for once.
            fresh = [d for d in older if d.location not in self._ahead]
            self._ahead.update(d.location for d in fresh)
        for candidate in fresh:
            self._submit(lambda candidate=candidate: self._look_ahead(candidate), (_LOOK_AHEAD, 0))  # type: ignore[misc]
        return likely

    def _look_ahead(self, dist: DistFile) -> None:
        if self._ruled_out(self._metadata(dist)):
            self._walk_older(dist)

    def _ruled_out(self, meta: CoreMetadata) -> bool:
        """Whether ``meta`` needs, for the target, a version of a top-level pin other than the pinned one: the
        resolver will reject its release whatever else it decides. Only a hint for speculation: the resolver
        judges the release itself."""
        if not self._pins:
            return False
        for name, spec, _extras in self._needed(meta, [""]):
            pinned = self._pins.get(name)
            if pinned is not None and not spec.contains(pinned, prereleases=True):
                return True
        return False

    def _warm(self, dist: DistFile) -> None:
        if self.transfers is not None:
            self.transfers.run_claimed(dist.filename, self.finder.remote_file(dist))  # if _metadata_from_file chose
        meta = self._metadata(dist)  # raises (ignored by the pool) when the metadata is unusable: no download then
        if meta.requires_python and not self._python_ok(meta.requires_python):
            # A limit the index's page did not say (find-links, no data-requires-python): the resolver will pass
            # over this release, so its bytes would be thrown away.
            return
        if self._ruled_out(meta):
            # The resolver will reject this release too, and walk back through older ones: read that walk ahead,
            # and do not start a download that would be thrown away.
            self._walk_older(dist)
            return
        if self.transfers is not None:
            # Usually the very file the resolver pins a moment later: its bytes are on their way already. A
            # wrong guess costs one discarded download (see Transfers).
            self.transfers.start(dist.filename, self.finder.remote_file(dist))

    def _metadata_from_file(self, dist: DistFile, transfers: Transfers) -> None:
        """For a small likely wheel on an index without PEP 658 metadata: reserve its download and let the finder
        read its metadata from the file, whoever needs it first running the transfer.

        Reading METADATA by ranges costs a request (often two) that the download repeats moments later; for a
        small wheel the whole file takes about as long as the ranges, and it is verified against the index's
        sha256, which ranges are not. Should the transfer fail, the finder asks the index as before.
        """
        if dist.size is None or dist.size > WHOLE_FILE_METADATA:
            return
        remote = self.finder.remote_file(dist)
        if remote.core_metadata:
            return
        future = transfers.claim(dist.filename)
        if future is None:
            return  # started already (pinned, or wanted by another target)
        claimed = future

        def source() -> CoreMetadata | None:
            transfers.run_claimed(dist.filename, remote)  # here, unless a worker runs (or ran) it already
            try:
                if claimed.exception() is not None:
                    return None
            except CancelledError:
                return None
            return transfers.metadata(dist.filename)

        self.finder.expect(dist, source)

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


class PinReporter(ResolveReporter):
    """Starts the transfer of every remote wheel the resolver pins (see :class:`Transfers`); when it backtracks over
    a project, prefetches the metadata of the releases it will try next."""

    def __init__(
        self, transfers: Transfers | None, remote: IndexFinder, speculative: SpeculativeFinder | None = None
    ) -> None:
        self.transfers = transfers
        self.remote = remote
        self.speculative = speculative
        self._pinned: dict[str, DistFile] = {}  # per project, the file pinned last

    def rejecting_candidate(self, criterion: Any, candidate: Any) -> None:
        dist: DistFile | None = candidate.dist
        if self.speculative is not None and dist is not None and not dist.local and dist.kind == "wheel":
            self.speculative.prefetch_older(dist)

    def pinning(self, candidate: Any) -> None:
        dist: DistFile | None = candidate.dist
        if dist is None or dist.local or dist.kind != "wheel":
            return
        before = self._pinned.get(candidate.name)
        self._pinned[candidate.name] = dist
        if before is not None:
            # Pinned again. The same file: the resolver undid a later decision and replays this one, nothing to
            # fetch. Another: it is backtracking over this project, often through many releases in a row; their
            # files wait for the final plan instead of each being fetched and thrown away, and the metadata of
            # the releases it will try next is fetched ahead.
            if self.speculative is not None and before.location != dist.location:
                self.speculative.prefetch_older(dist)
            return
        if self.transfers is None:
            return
        try:
            remote = self.remote.remote_file(dist)
        except KeyError:
            return
        self.transfers.start(dist.filename, remote)
