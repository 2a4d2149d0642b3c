"""Planning a download: resolve each target over the folder *and* the index, and list what is missing.

Contract: :func:`plan_download` resolves every target with the resolver ``verify`` uses, with two finder tiers,
the folder first and the index second, so a requirement the folder satisfies never reaches the network (a
covered run makes zero requests). It returns a :class:`DownloadPlan`: the resolutions, the files to fetch (each
once, with every target it serves), the files already present, the sdists to build or keep. It writes nothing
to the folder; with a :class:`~wheelhouse.fetch.transfers.Transfers` it starts the transfer of each remote
wheel the moment the resolver pins it (into the temporary area only).
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

from wheelhouse._proc import Runner as BuildRunner
from wheelhouse._proc import subprocess_runner
from wheelhouse._text import redact_url
from wheelhouse.build.finder import SdistFinder, SdistsOnDemand
from wheelhouse.build.model import SdistBuild
from wheelhouse.dists import CoreMetadata, DistFile, Finder
from wheelhouse.errors import WheelhouseError
from wheelhouse.fetch.model import DownloadOptions, DownloadPlan, DownloadReporter, PlannedFile
from wheelhouse.fetch.pools import PriorityPool
from wheelhouse.fetch.speculation import PinReporter, SpeculativeFinder
from wheelhouse.fetch.transfers import Transfers
from wheelhouse.requirements import RequirementSet
from wheelhouse.resolve.resolver import Resolution, resolve
from wheelhouse.store.folder import Store, StoreFinder
from wheelhouse.targets import Target

if TYPE_CHECKING:
    from collections.abc import Sequence

    from wheelhouse.build.metadata import SdistMetadata
    from wheelhouse.index.finder import IndexFinder
    from wheelhouse.index.http import IndexClient


def plan_download(
    requirements: RequirementSet,
    targets: Sequence[Target],
    store: Store,
    client: IndexClient,
    *,
    options: DownloadOptions | None = None,
    reporter: DownloadReporter | None = None,
    runner: BuildRunner = subprocess_runner,
    transfers: Transfers | None = None,
    build_for_metadata: bool = False,
) -> DownloadPlan:
    """Resolve every target over the folder and the index; list the files to fetch (each once).

    With ``transfers``, each remote wheel starts downloading the moment the resolver pins it.

    With building on, sdists may be pinned: their metadata comes from a kept copy (downloaded into
    ``.wheelhouse/sdists/``), by ``PKG-INFO`` or the build backend's prepare-metadata hook run by ``runner``;
    with ``build_for_metadata`` (a real download, not a dry run) by building the wheel, which the build stage
    then reuses instead of building it again.
    """
    from wheelhouse.index.finder import IndexFinder, import_readers

    options = options or DownloadOptions()
    reporter = reporter or DownloadReporter()
    building = options.build.enabled
    base = store.scan()
    local = StoreFinder(base)
    remote = IndexFinder(client, targets)
    build_options = dataclasses.replace(options.build, jobs=options.jobs)

    def make_sdists() -> SdistMetadata:
        from wheelhouse.build.metadata import SdistMetadata

        return SdistMetadata(
            store, client.config, build_options, runner=runner, build_wheels=build_for_metadata, targets=targets
        )

    sdists = SdistsOnDemand(make_sdists)

    def fetch_sdist(dist: DistFile, dest: Path) -> str:
        return client.download(remote.remote_file(dist), dest)

    stop = threading.Event()
    # Speculative tasks mostly wait on the network (a page, a range of a wheel): twice the transfer workers, so
    # that every top-level page and the first dependencies' pages are asked for at once.
    pool = PriorityPool(max(16, 2 * options.jobs), "wheelhouse-speculate")
    resolutions: list[Resolution] = []
    try:
        for target in targets:
            reporter.resolving(target)
            speculative = SpeculativeFinder(remote, target, pool, stop, local, transfers, options.formats)
            # The top-level requirements are known now: their pages need not wait for the resolver to ask.
            speculative.prefetch_requirements(requirements.requirements, requirements.constraints)
            if speculative.pages_asked:
                # While the first pages are on their way; never in this thread, where Ctrl-C lands: an import it
                # interrupts can leave that module's import lock taken, and the next thread to import it waits for
                # good.
                threading.Thread(target=import_readers, name="wheelhouse-imports", daemon=True).start()
            finders: list[Finder] = [local, speculative]
            if building:
                finders = [SdistFinder(finders[0], sdists), SdistFinder(finders[1], sdists, fetch_sdist)]
            pins = PinReporter(transfers, remote, speculative)
            resolutions.append(
                resolve(
                    requirements,
                    target,
                    finders,
                    pre=options.pre,
                    sdists=building,
                    reporter=pins,
                    formats=options.formats,
                )
            )
    finally:
        stop.set()
        pool.shutdown()
        # Builds started ahead of the build stage finish before it looks for their wheels.
        sdists.finish({pin.dist.filename for res in resolutions for pin in res.pins if pin.dist.kind == "sdist"})

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
            fresh=filename in sdists.built,
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
