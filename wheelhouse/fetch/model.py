"""The vocabulary of a download: its options, its plan, its progress hooks and its result.

Kept apart from the planner and the transfers, as :mod:`wheelhouse.build.model` is from the builds: a caller
(the command line's reporters, its help) names these types without loading the resolver and the transfers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wheelhouse.build.model import BuildOptions, BuildReporter
from wheelhouse.resolve.formats import FormatControl

if TYPE_CHECKING:
    from wheelhouse.build.model import BuildOutcome, SdistBuild
    from wheelhouse.dists import CoreMetadata
    from wheelhouse.errors import WheelhouseError
    from wheelhouse.index.pages import RemoteFile
    from wheelhouse.resolve.resolver import Resolution
    from wheelhouse.resolve.verify import VerifyReport
    from wheelhouse.store.folder import StoreScan
    from wheelhouse.targets import Target

__all__ = [
    "DEFAULT_JOBS",
    "DownloadOptions",
    "DownloadPlan",
    "DownloadReporter",
    "DownloadResult",
    "FailedFile",
    "PlannedFile",
]

DEFAULT_JOBS = 8


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
class DownloadOptions:
    """Tunables of a run."""

    jobs: int = DEFAULT_JOBS
    pre: bool = False
    wait: bool = True  # wait for another process's lock (False: fail at once)
    fix_args: tuple[str, ...] = ()
    build: BuildOptions = field(default_factory=BuildOptions)
    formats: FormatControl = field(default_factory=FormatControl)


@dataclass(frozen=True)
class FailedFile:
    """A planned file that did not reach the folder, and why."""

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
