"""A project's files built a release at a time (:class:`ReleaseFiles`), and lists computed only as far as they
are read (:class:`Replay`).

A long-lived project's index page lists tens of thousands of files over hundreds of releases, and a resolution
looks at a few releases of most projects: the newest its requirements admit, and a few older ones when it walks
back. Building every listed file into a :class:`~wheelhouse.dists.DistFile` (parsing its name, its tags, the
entry's hashes and Requires-Python) was most of the processor time a cold download spent on pages, so a finder
may hand out a :class:`ReleaseFiles` instead of a tuple: it says which releases have files of each kind without
building any, and builds one release's files when they are asked for. The resolver and the speculative reader
use that; anything else sees a plain sequence (which builds every file, in the order they were listed).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Generic, TypeVar, overload

from packaging.version import Version

from wheelhouse.dists import DistFile, DistKind

__all__ = ["ReleaseFiles", "Releases", "Replay", "by_release"]

T = TypeVar("T")

# Builds the listed files at these positions: (position, file) for each that is a usable distribution.
Build = Callable[[Sequence[int]], list[tuple[int, DistFile]]]


class ReleaseFiles(Sequence[DistFile]):
    """A project's files, grouped by (kind, release) from their names and built one release at a time.

    ``pending`` maps a kind and release to the listing positions of the files whose names say they are of that
    kind and release; ``build`` turns positions into files (a file it passes over is simply absent, so a release
    may build to nothing); ``built`` are files built already (names the grouping could not read plainly), and
    ``yanked`` says whether the entry at a position is yanked. A file ``build`` returns must be of the kind and
    release it was grouped under. Thread-safe: the resolver and the speculative workers share one.
    """

    def __init__(
        self,
        pending: Mapping[tuple[DistKind, Version], Sequence[int]],
        built: Iterable[tuple[int, DistFile]],
        build: Build,
        yanked: Callable[[int], bool],
    ) -> None:
        self._build = build
        self._yanked = yanked
        self._lock = threading.Lock()
        self._pending = dict(pending)
        self._done: dict[tuple[DistKind, Version], list[tuple[int, DistFile]]] = {}
        for position, dist in built:
            self._done.setdefault((dist.kind, dist.version), []).append((position, dist))
        self._versions: dict[DistKind, tuple[Version, ...]] = {}
        self._all: tuple[DistFile, ...] | None = None
        self._plain: bool | None = None

    def versions(self, kind: DistKind) -> tuple[Version, ...]:
        """The releases with files of ``kind``, newest first, built or not (one may build to no file)."""
        with self._lock:
            found = self._versions.get(kind)
            if found is None:
                keys = {v for k, v in (*self._pending, *self._done) if k == kind}
                found = self._versions[kind] = tuple(sorted(keys, reverse=True))
            return found

    def of(self, kind: DistKind, version: Version) -> tuple[DistFile, ...]:
        """The files of ``kind`` of release ``version``, built now if they were not, in the order listed."""
        key = (kind, version)
        with self._lock:
            self._settle(key)
            return tuple(dist for _, dist in self._done.get(key, ()))

    def has_wheel(self) -> bool:
        """Whether some release has a wheel (built newest first until one is found)."""
        return any(self.of("wheel", v) for v in self.versions("wheel"))

    def plain(self) -> bool:
        """Whether no file is yanked and no release is a pre-release. Judged on every listed entry, the ones that
        build to nothing included: a "no" may be wrong, a "yes" never is."""
        with self._lock:
            if self._plain is None:
                self._plain = not any(v.is_prerelease for _, v in (*self._pending, *self._done)) and not any(
                    dist.yanked is not None for done in self._done.values() for _, dist in done
                )
                if self._plain:
                    self._plain = not any(map(self._yanked, (p for ps in self._pending.values() for p in ps)))
            return self._plain

    def _settle(self, key: tuple[DistKind, Version]) -> None:
        # Called with the lock held: a reader must never see a release half built.
        positions = self._pending.pop(key, None)
        if positions is not None:
            made = self._build(positions)
            if made:
                done = self._done.setdefault(key, [])
                done.extend(made)
                done.sort(key=lambda item: item[0])

    def _every(self) -> tuple[DistFile, ...]:
        with self._lock:
            if self._all is None:
                for key in list(self._pending):
                    self._settle(key)
                ordered = sorted((item for done in self._done.values() for item in done), key=lambda item: item[0])
                self._all = tuple(dist for _, dist in ordered)
            return self._all

    def __bool__(self) -> bool:
        kinds: tuple[DistKind, ...] = ("wheel", "sdist")
        return any(self.of(kind, v) for kind in kinds for v in self.versions(kind))

    def __len__(self) -> int:
        return len(self._every())

    def __iter__(self) -> Iterator[DistFile]:
        return iter(self._every())

    @overload
    def __getitem__(self, index: int) -> DistFile: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[DistFile, ...]: ...

    def __getitem__(self, index: int | slice) -> DistFile | tuple[DistFile, ...]:
        return self._every()[index]


# A project's releases of one kind, newest first, and a function giving each one's files.
Releases = tuple[Sequence[Version], Callable[[Version], Sequence[DistFile]]]


def by_release(files: Sequence[DistFile], kind: DistKind) -> Releases:
    """The releases with files of ``kind`` among ``files``, newest first, and a function giving each one's files:
    from a :class:`ReleaseFiles` without building any, from any other sequence by grouping it once."""
    if isinstance(files, ReleaseFiles):
        return files.versions(kind), functools.partial(files.of, kind)
    grouped: dict[Version, list[DistFile]] = {}
    for dist in files:
        if dist.kind == kind:
            grouped.setdefault(dist.version, []).append(dist)
    return sorted(grouped, reverse=True), grouped.__getitem__


class Replay(Generic[T]):
    """The items of an iterator, computed only as far as some reader has read, each reader starting from the
    first: a list of candidates the resolver reads again and again, but rarely to its end. An error the iterator
    raised is raised again to every reader that reaches it. Thread-safe."""

    def __init__(self, source: Iterator[T]) -> None:
        self._source = source
        self._items: list[T] = []
        self._done = False
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[T]:
        i = 0
        items = self._items
        while True:
            if i < len(items):
                yield items[i]
                i += 1
                continue
            with self._lock:
                if i < len(items):
                    continue
                if self._error is not None:
                    raise self._error
                if self._done:
                    return
                try:
                    items.append(next(self._source))
                except StopIteration:
                    self._done = True
                    return
                except Exception as exc:
                    self._error = exc
                    raise
