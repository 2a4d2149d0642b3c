"""The finder that adds sdists' metadata to another finder, and the source of that metadata made on demand.

Light on purpose: a download wraps its finders in :class:`SdistFinder` whether or not it meets an sdist, while
what answers an sdist's metadata (:class:`wheelhouse.build.metadata.SdistMetadata`: the archive readers, the
PEP 517 frontend, the search for interpreters) is made, and imported, only when the first sdist is met.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from wheelhouse.dists import CoreMetadata, DistFile, Finder
from wheelhouse.releases import ReleaseFiles

if TYPE_CHECKING:
    from packaging.utils import NormalizedName

    from wheelhouse.build.metadata import SdistMetadata
    from wheelhouse.build.model import BuildFailure

__all__ = ["Fetch", "SdistFinder", "SdistSource", "SdistsOnDemand"]

# Downloads a remote sdist to a path (verifying its sha256) and returns its URL, redacted.
Fetch = Callable[[DistFile, Path], str]


class SdistSource(Protocol):
    """What :class:`SdistFinder` asks of an sdist: build it ahead, or answer its metadata."""

    def ahead(self, dist: DistFile, fetch: Fetch | None) -> None: ...

    def metadata(self, dist: DistFile, fetch: Fetch | None) -> CoreMetadata: ...


class SdistsOnDemand:
    """An :class:`SdistMetadata` made by ``make`` when an sdist first needs it (thread-safe); until then it has
    no failures, has built nothing, and has nothing to finish."""

    def __init__(self, make: Callable[[], SdistMetadata]) -> None:
        self._make = make
        self._made: SdistMetadata | None = None
        self._lock = threading.Lock()

    def get(self) -> SdistMetadata:
        with self._lock:
            if self._made is None:
                self._made = self._make()
            return self._made

    def ahead(self, dist: DistFile, fetch: Fetch | None) -> None:
        self.get().ahead(dist, fetch)

    def metadata(self, dist: DistFile, fetch: Fetch | None) -> CoreMetadata:
        return self.get().metadata(dist, fetch)

    def finish(self, needed: Collection[str]) -> None:
        """See :meth:`SdistMetadata.finish`."""
        if self._made is not None:
            self._made.finish(needed)

    @property
    def failures(self) -> Mapping[str, BuildFailure]:
        return self._made.failures if self._made is not None else {}

    @property
    def built(self) -> Collection[str]:
        return self._made.built if self._made is not None else ()


class SdistFinder:
    """A :class:`wheelhouse.dists.Finder` that adds sdist metadata to another finder.

    Wheels and file lists come from ``inner``; an sdist's metadata from ``sdists`` (which keeps the file,
    downloading it with ``fetch`` when it is remote).
    """

    def __init__(self, inner: Finder, sdists: SdistSource, fetch: Fetch | None = None) -> None:
        self.inner = inner
        self.sdists = sdists
        self.fetch = fetch

    def files(self, name: NormalizedName) -> Sequence[DistFile]:
        """The inner finder's files for ``name``; a project that lists only sdists starts building ahead."""
        found = self.inner.files(name)
        if isinstance(found, ReleaseFiles):
            # Asked without building every release: a project that has a wheel usually has it in its newest.
            only_sdists = not found.has_wheel() and any(found.of("sdist", v) for v in found.versions("sdist"))
        else:
            only_sdists = bool(found) and all(d.kind == "sdist" for d in found)
        if only_sdists:
            likely = _likely_sdist(found)
            if likely is not None:
                self.sdists.ahead(likely, None if likely.local else self.fetch)
        return found

    def all_files(self, name: NormalizedName) -> Sequence[DistFile]:
        """The inner finder's files for ``name``, with those it set aside (see ``Provider.all_files``)."""
        everything = getattr(self.inner, "all_files", None)
        return everything(name) if everything is not None else self.inner.files(name)

    def metadata(self, dist: DistFile) -> CoreMetadata:
        """Metadata of a wheel from the inner finder; of an sdist from its PKG-INFO or its build backend."""
        if dist.kind == "sdist":
            return self.sdists.metadata(dist, None if dist.local else self.fetch)
        return self.inner.metadata(dist)


def _likely_sdist(files: Sequence[DistFile]) -> DistFile | None:
    """The sdist the resolver will most likely pin: the newest final release (``.tar.gz`` first, as PEP 625)."""
    finals = [d for d in files if not d.version.is_prerelease] or list(files)
    newest = max(d.version for d in finals)
    same = sorted(
        (d for d in finals if d.version == newest), key=lambda d: (not d.filename.endswith(".tar.gz"), d.filename)
    )
    return same[0] if same else None
