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
are preferred) and built into a wheel after the downloads (``wheelhouse.build.builder``);
``BuildOptions(enabled=False)`` (``--no-build``) leaves it a gap and keeps the sdist, so that verify says "only a
source distribution".

The work is split by concern: :mod:`~wheelhouse.fetch.plan` resolves and lists the files,
:mod:`~wheelhouse.fetch.speculation` fetches ahead of the resolver, :mod:`~wheelhouse.fetch.transfers` streams
files into the temporary area, :mod:`~wheelhouse.fetch.commit` moves them into the folder, and
:mod:`~wheelhouse.fetch.ahead` computes the closing verify while they arrive. This module runs them in order
under the folder's lock and returns a :class:`DownloadResult`; the types a caller names are in
:mod:`~wheelhouse.fetch.model`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from wheelhouse._proc import Runner as BuildRunner
from wheelhouse._proc import subprocess_runner
from wheelhouse.build.model import BuildOutcome
from wheelhouse.errors import WheelhouseError
from wheelhouse.fetch.ahead import VerifyAhead
from wheelhouse.fetch.commit import commit_all
from wheelhouse.fetch.model import (
    DownloadOptions,
    DownloadPlan,
    DownloadReporter,
    DownloadResult,
    FailedFile,
    PlannedFile,
)
from wheelhouse.fetch.plan import plan_download
from wheelhouse.fetch.transfers import Transfers
from wheelhouse.requirements import RequirementSet
from wheelhouse.resolve.verify import VerifyReport, verify_scan
from wheelhouse.store.folder import FileRecord, Store, StoreScan
from wheelhouse.targets import Target

if TYPE_CHECKING:
    from wheelhouse.index.http import IndexClient

__all__ = ["download", "plan_download"]


def download(
    requirements: RequirementSet,
    targets: Sequence[Target],
    store: Store,
    client: IndexClient,
    *,
    options: DownloadOptions | None = None,
    reporter: DownloadReporter | None = None,
    runner: BuildRunner = subprocess_runner,
) -> DownloadResult:
    """Plan, fetch in parallel under the folder's lock, build sdists, record provenance, then verify offline.

    A dry run is :func:`plan_download` alone. ``runner`` runs pip and Docker for sdist metadata and builds
    (injectable for tests).
    """
    options = options or DownloadOptions()
    reporter = reporter or DownloadReporter()
    started = time.monotonic()
    store.ensure()
    with store.lock(wait=options.wait, on_wait=reporter.waiting):
        # Only under the lock is a partial file certainly abandoned (its writer is gone).
        cleaned = tuple(store.clean_stray())
        transfers = Transfers(store, client, options.jobs)
        try:
            plan = plan_download(
                requirements,
                targets,
                store,
                client,
                options=options,
                reporter=reporter,
                runner=runner,
                transfers=transfers,
                build_for_metadata=True,
            )
            ahead = VerifyAhead(requirements, targets, store, plan) if VerifyAhead.applies(plan) else None
            downloaded, failed, received = commit_all(
                plan, store, transfers, reporter, requirements.files, all_started=ahead.start if ahead else None
            )
        finally:
            transfers.close()
        kept, keep_failed = _keep_sdists(plan.keep, store, client)
        failed = tuple(sorted((*failed, *keep_failed), key=lambda f: f.filename))
        builds: tuple[BuildOutcome, ...] = ()
        if plan.build:
            # Imported only when there is something to build: the archive readers, the PEP 517 frontend and the
            # container code are a large share of a download's imports, and most downloads build nothing.
            from wheelhouse.build.builder import build_sdists

            builds = build_sdists(
                plan.build,
                store,
                config=client.config,
                options=dataclasses.replace(options.build, jobs=options.jobs),
                runner=runner,
                reporter=reporter,
                sources=requirements.files,
            )
        _record_usage(plan, store, requirements.files, failed)
    final = store.scan()
    report = ahead.report(final, options.fix_args) if ahead is not None else None
    if report is None and _unchanged(plan, final, downloaded, builds, kept):
        # The plan's resolutions are the folder's own proof (Resolution.first_tier): resolving them again
        # would only repeat them, at the cost of a second resolution of the whole set.
        report = VerifyReport(str(final.root), plan.resolutions, final.problems, tuple(options.fix_args))
    if report is None:
        report = verify_scan(requirements, targets, final, fix_args=options.fix_args, explained_by=plan.resolutions)
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


def _unchanged(
    plan: DownloadPlan,
    final: StoreScan,
    downloaded: Sequence[object],
    builds: Sequence[object],
    kept: Sequence[object],
) -> bool:
    """Whether the download added nothing and every target was proved from the folder alone, on a folder that
    still reads as the plan's did."""
    if downloaded or builds or kept or not all(res.first_tier for res in plan.resolutions):
        return False
    return plan.base is not None and final.resolver_view() == plan.base.resolver_view()


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
