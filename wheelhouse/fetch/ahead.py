"""The verify that ends a download, computed while the files are still arriving.

Contract: :class:`VerifyAhead` predicts the folder as it will be once every planned wheel is committed (each
with the metadata the index gave for it) and resolves every target over that prediction in a thread of its
own. Its report is used only if a scan taken after the commits shows exactly the predicted folder, everything a
resolution reads included; otherwise :meth:`VerifyAhead.report` returns None and the caller verifies the
usual way. It never writes anything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Sequence

from wheelhouse.dists import DistFile, parse_dist_filename
from wheelhouse.fetch.model import DownloadPlan
from wheelhouse.requirements import RequirementSet
from wheelhouse.resolve.verify import VerifyReport, verify_scan
from wheelhouse.store.folder import Store, StoredWheel, StoreScan
from wheelhouse.targets import Target


class VerifyAhead:
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
            self._report = verify_scan(requirements, targets, scan)

    def report(self, final: StoreScan, fix_args: Sequence[str]) -> VerifyReport | None:
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
        return VerifyReport(str(final.root), resolutions, final.problems, tuple(fix_args))
