"""Prove that a package index server covers a requirement set for every target, from its pages alone.

Contract: :func:`verify_remote` resolves each target with the resolver ``verify`` uses, over one finder: the
server's Simple API (PEP 503 HTML or PEP 691 JSON) through :class:`~wheelhouse.index.finder.IndexFinder`.
Metadata comes from PEP 658 files where the server publishes them, else from HTTP range requests into each
pinned wheel, else from the whole file (streamed to a temporary file and deleted): nothing is written anywhere
else, and the wheels folder is not read. What a site runs before it cuts its network: a covered report means
``pip install --index-url`` from that server alone succeeds for every target.

A publish run, which has just checked that the server lists each of its files with the file's sha256, passes
those files as ``known``: a listed file with one of their digests is those bytes, so its metadata is read from
the local copy rather than downloaded again (a server without PEP 658 files, such as devpi or pypiserver,
would otherwise send every wheel back whole, or in ranges).
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from wheelhouse._text import redact_url
from wheelhouse.dists import CoreMetadata, DistFile, Finder
from wheelhouse.errors import WheelhouseError
from wheelhouse.index.errors import MetadataMismatch
from wheelhouse.index.finder import IndexFinder
from wheelhouse.index.http import IndexClient
from wheelhouse.requirements import RequirementSet
from wheelhouse.resolve.resolver import resolve
from wheelhouse.resolve.verify import VerifyReport
from wheelhouse.targets import Target

__all__ = ["RemoteVerifyReport", "repository_url_for", "verify_remote"]


@dataclass(frozen=True)
class RemoteVerifyReport(VerifyReport):
    """A :class:`VerifyReport` whose "folder" is a server's index URL (redacted); its fix publishes there."""

    def fix_command(self, target: Target) -> str:
        """The ``wheelhouse publish`` line that fills this target's gaps on the server."""
        argv = ["wheelhouse", "publish", "--repository-url", repository_url_for(self.wheels_dir)]
        argv += ["--target", target.name, *self.fix_args]
        return shlex.join(argv)


def repository_url_for(index_url: str) -> str:
    """The upload URL that usually goes with a Simple API URL: devpi's ``<index>/+simple/`` and the
    ``<repository>/simple/`` of pypiserver, Artifactory and Nexus both drop their last part."""
    base = index_url.rstrip("/")
    for suffix in ("/+simple", "/simple"):
        if base.endswith(suffix):
            return base[: -len(suffix)] + "/"
    return base + "/"


def verify_remote(
    requirements: RequirementSet,
    targets: Sequence[Target],
    client: IndexClient,
    *,
    fix_args: Sequence[str] = (),
    expected: Iterable[str] = (),
    known: Mapping[str, Path] | None = None,
    jobs: int = 8,
) -> RemoteVerifyReport:
    """Resolve ``requirements`` for each target over the server ``client`` reads, and nothing else.

    ``expected`` names files the caller knows the resolution will pin (a publish run's files): their projects'
    pages and their metadata are read in parallel before the resolver asks, one at a time, for them.

    ``known`` maps sha256 digests to local copies of those exact bytes (the files a publish run just checked on
    the server's pages): the metadata of a listed file whose published sha256 is among them is read from the
    local copy instead of being fetched. The same digest is the same file, so this proves as much and spares
    the server one download per wheel. Never raises for a requirement the server cannot serve: that is a gap.
    """
    index_finder = IndexFinder(client, targets)
    finder: Finder = index_finder
    if known:
        finder = _KnownBytes(index_finder, known)
    else:
        _warm(index_finder, requirements, expected, jobs)
    resolutions = tuple(resolve(requirements, target, [finder]) for target in targets)
    index_url = redact_url(client.config.index_url)
    return RemoteVerifyReport(index_url, resolutions, fix_args=tuple(fix_args))


class _KnownBytes:
    """A finder over the server's pages whose metadata, for files whose published sha256 has a local copy, is
    read from that copy (:func:`wheelhouse.store.metadata.read_wheel_metadata`, which checks the name and
    version against the file name, as the index finder checks what it fetches)."""

    def __init__(self, finder: IndexFinder, known: Mapping[str, Path]) -> None:
        self._finder = finder
        self._known = known

    def files(self, name: NormalizedName) -> Sequence[DistFile]:
        return self._finder.files(name)

    def all_files(self, name: NormalizedName) -> Sequence[DistFile]:
        return self._finder.all_files(name)

    def metadata(self, dist: DistFile) -> CoreMetadata:
        local = self._known.get(dist.sha256 or "")
        if local is None or dist.kind != "wheel":
            return self._finder.metadata(dist)
        from wheelhouse.store.metadata import MetadataProblem, read_wheel_metadata

        try:
            return read_wheel_metadata(local, dist.filename)
        except MetadataProblem as exc:
            raise MetadataMismatch(f"METADATA of {dist.filename}: {exc}") from None


def _warm(finder: IndexFinder, requirements: RequirementSet, expected: Iterable[str], jobs: int) -> None:
    """Read the pages of the top-level projects and of ``expected``'s, and ``expected``'s metadata, in parallel.

    Failures are left for the resolver to meet again and report in its own words.
    """
    from wheelhouse.dists import InvalidDistFilename, parse_dist_filename

    wanted = set(expected)
    projects = {canonicalize_name(line.requirement.name) for line in requirements.requirements}
    for filename in wanted:
        try:
            projects.add(parse_dist_filename(filename)[0])
        except InvalidDistFilename:
            continue

    def page(name: str) -> None:
        try:
            files = finder.files(canonicalize_name(name))
        except WheelhouseError:
            return
        for dist in files:
            if dist.filename in wanted and dist.kind == "wheel":
                with contextlib.suppress(WheelhouseError):
                    finder.metadata(dist)

    if not projects:
        return
    with ThreadPoolExecutor(
        max_workers=max(1, min(jobs, len(projects))), thread_name_prefix="wheelhouse-verify"
    ) as pool:
        list(pool.map(page, sorted(projects)))
