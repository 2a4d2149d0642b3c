"""The vocabulary of the build stage: how sdists are built (:class:`BuildOptions`), what must be built
(:class:`SdistBuild`), what came of it (:class:`BuiltWheel`, :class:`BuildFailure`, :class:`BuildOutcome`) and
the progress hooks a caller may listen to (:class:`BuildReporter`).

Contract: plain frozen data and no-op hooks; nothing here runs a program or touches a file, so every other
module of ``build/`` (and ``fetch/``, which plans builds) can import it without cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from packaging.utils import NormalizedName
from packaging.version import Version

from wheelhouse.targets import Target

__all__ = [
    "DEFAULT_BUILD_TIMEOUT",
    "BuildFailure",
    "BuildIn",
    "BuildOptions",
    "BuildOutcome",
    "BuildReporter",
    "BuiltWheel",
    "FailureKind",
    "SdistBuild",
]

BuildIn = Literal["auto", "host", "docker"]
FailureKind = Literal["failed", "needs-docker", "unfit"]
DEFAULT_BUILD_TIMEOUT = 3600.0


@dataclass(frozen=True)
class BuildOptions:
    """How sdists are built.

    ``build_in``: ``auto`` builds host-compatible targets here and the others in Docker; ``host`` never uses
    Docker (a foreign target then accepts only a pure-Python result); ``docker`` builds every target in its
    base image. ``base_image`` overrides the official ``python:X.Y-slim`` / ``python:X.Y-alpine`` image; it may
    contain ``{python}`` (X.Y). ``isolation=False`` builds with the running interpreter's setuptools
    (``--no-build-isolation``) instead of installing build requirements from the index. ``docker`` is the client
    to run (None: the ``WHEELHOUSE_DOCKER`` variable, else ``docker`` on PATH). ``cache_dir`` is pip's cache
    for build requirements (None: ``$XDG_CACHE_HOME/wheelhouse/pip``). ``retry_failed`` runs again the builds
    an earlier run remembered as failed (``--retry-builds``). ``jobs`` bounds the builds that run at once (never
    more than the machine's cores).
    """

    enabled: bool = True
    keep_build_deps: bool = False
    build_in: BuildIn = "auto"
    base_image: str | None = None
    isolation: bool = True
    docker: str | None = None
    cache_dir: Path | None = None
    timeout: float | None = DEFAULT_BUILD_TIMEOUT
    retry_failed: bool = False
    jobs: int = 4


class BuildReporter:
    """Progress hooks of the build stage; every one does nothing by default."""

    def build_started(self, build: SdistBuild, where: str, targets: Sequence[str]) -> None:
        """A build of ``build`` starts ``where`` (``this machine`` or an image and platform) for ``targets``."""

    def build_finished(self, outcome: BuildOutcome) -> None:
        """Every build of one sdist is over: what it produced and what failed."""


@dataclass(frozen=True)
class SdistBuild:
    """An sdist the resolution pinned for some targets: it must become a wheel for each of them.

    ``metadata_failure`` is set when its metadata could not be prepared; then it is not built again.
    ``fresh``: a build of it ran in this run already (for its metadata, or ahead of the build stage), so what
    the build memo says is this run's answer, not one to retry with ``--retry-builds``.
    """

    filename: str
    name: NormalizedName
    version: Version
    targets: tuple[Target, ...]
    url: str | None = None  # redacted, for the manifest
    metadata_failure: BuildFailure | None = None
    path: str | None = None  # where the sdist is when not in .wheelhouse/sdists/ (e.g. the folder itself)
    fresh: bool = False


@dataclass(frozen=True)
class BuiltWheel:
    """A wheel built from an sdist and committed to the folder, with the targets it serves."""

    filename: str
    targets: tuple[str, ...]
    built_by: str
    where: str
    pure: bool


@dataclass(frozen=True)
class BuildFailure:
    """Why some targets of an sdist have no wheel.

    ``kind``: ``failed`` (a build ran and failed; see ``log`` and ``tail``), ``needs-docker`` (only a build in
    the target's image can serve it and no Docker engine is available; ``command`` builds it elsewhere),
    ``unfit`` (a wheel was built but does not fit the target, e.g. the image runs another Python).
    """

    kind: FailureKind
    targets: tuple[str, ...]
    reason: str
    log: str | None = None
    tail: tuple[str, ...] = ()
    command: str | None = None


@dataclass(frozen=True)
class BuildOutcome:
    """Everything the build stage did for one sdist."""

    sdist: str
    project: NormalizedName
    version: Version
    wheels: tuple[BuiltWheel, ...] = ()
    failures: tuple[BuildFailure, ...] = ()
    notes: tuple[str, ...] = ()
    build_deps: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failures
