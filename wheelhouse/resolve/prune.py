"""Remove what no target needs from the wheels folder, without ever removing what one does.

The rule: resolve the current requirements for every given target from the folder alone; the files those
resolutions chose are kept, everything else is a candidate, narrowed by the policy (``keep_versions`` keeps the
newest N versions of each project, ``older_than_days`` spares recent files). Before anything is deleted, the
targets are resolved again over what would remain; only when that still pins exactly the same files does the
removal go ahead. Everything from the first scan to the last unlink happens under the folder's lock, so a
concurrent ``download`` can neither add a file the plan did not see nor lose one to it.

A resolution pins one file per project per target. Other files of a pinned version (the aarch64 wheel when only
x86_64 targets were given, a cp310 wheel when only 3.12 is) serve no given target and go like any other unused
file; prune with every target you ship to.

uv's wheel for a given target (the newest that runs on it, as ``download --with-uv`` fetched it) stays although
no requirement names it: the offline Dockerfile installs with it, and without it the image falls back to pip.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from packaging.utils import NormalizedName
from packaging.version import Version

from wheelhouse.dists import InvalidDistFilename, parse_dist_filename
from wheelhouse.errors import StoreError
from wheelhouse.requirements import RequirementSet
from wheelhouse.resolve.installer import find_uv_wheel
from wheelhouse.resolve.resolver import resolve
from wheelhouse.resolve.verify import VerifyReport
from wheelhouse.store.folder import META_DIR, Store, StoreFinder, StoreScan
from wheelhouse.store.manifest import FileRecord
from wheelhouse.targets import Target

__all__ = ["PruneEntry", "PrunePlan", "PrunePolicy", "PruneResult", "plan_prune", "prune"]

DAY = 86400.0

# Why a file goes. Stable strings: they appear in --json.
RemoveReason = Literal["unused-project", "unused-version", "unused-file", "orphan-sdist"]
# Why a file that no target needs stays.
KeepReason = Literal["needed", "keep-versions", "recent", "project-kept", "build-requirement", "installer"]
# How `download --keep-build-deps` marks the build requirements it keeps (wheelhouse.build.sdist).
_BUILD_REQUIREMENT_OF = "build requirement of "


@dataclass(frozen=True)
class PrunePolicy:
    """What may go besides the files the targets need.

    ``keep_versions``: the newest N versions of every project stay, every file of them, even when unused.
    ``older_than_days``: only files that came into the folder more than this many days ago may go.
    """

    keep_versions: int = 0
    older_than_days: float | None = None


@dataclass(frozen=True)
class PruneEntry:
    """One file the plan removes or keeps, and why."""

    filename: str  # relative to the wheels folder; sdists live under .wheelhouse/sdists/
    project: NormalizedName
    version: Version
    kind: Literal["wheel", "sdist"]
    size: int
    added: float
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class PrunePlan:
    """The resolutions a prune is based on and the files it removes and keeps."""

    report: VerifyReport
    remove: tuple[PruneEntry, ...] = ()
    keep: tuple[PruneEntry, ...] = ()
    policy: PrunePolicy = field(default_factory=PrunePolicy)

    @property
    def covered(self) -> bool:
        """Whether every target resolved; a plan that is not covered removes nothing."""
        return self.report.covered

    @property
    def freed(self) -> int:
        """Bytes the removal frees."""
        return sum(e.size for e in self.remove)


@dataclass(frozen=True)
class PruneResult:
    """What a prune did: ``removed`` is empty on a dry run, a refusal or a declined confirmation."""

    plan: PrunePlan
    removed: tuple[str, ...] = ()
    dry_run: bool = False
    declined: bool = False

    @property
    def freed(self) -> int:
        """Bytes actually freed."""
        gone = set(self.removed)
        return sum(e.size for e in self.plan.remove if e.filename in gone)


def _added(record: FileRecord | None, mtime: float) -> float:
    # The record's date is when wheelhouse put the file there; a file copied in by hand has only its mtime.
    return record.added if record is not None and record.added else mtime


def _sdists(store: Store, scan: StoreScan) -> list[tuple[str, NormalizedName, Version, int, float]]:
    """Every source distribution of the folder: at its top level and in .wheelhouse/sdists/."""
    out = [(d.filename, d.name, d.version, d.size or 0, os.stat(d.location).st_mtime) for d in scan.sdists]
    if store.sdist_dir.is_dir():
        for entry in sorted(os.scandir(store.sdist_dir), key=lambda e: e.name):
            try:
                name, version, kind, _tags, _build = parse_dist_filename(entry.name)
                st = entry.stat()
            except (InvalidDistFilename, OSError):
                continue
            if kind == "sdist" and entry.is_file():
                out.append((f"{META_DIR}/sdists/{entry.name}", name, version, st.st_size, st.st_mtime))
    return out


def plan_prune(
    requirements: RequirementSet,
    targets: Sequence[Target],
    store: Store,
    policy: PrunePolicy = PrunePolicy(),
    *,
    now: float | None = None,
    fix_args: Sequence[str] = (),
    scan: StoreScan | None = None,
) -> PrunePlan:
    """Decide what a prune removes. Reads only; a plan that is not covered removes nothing."""
    now = time.time() if now is None else now
    scan = scan or store.scan()
    finder = StoreFinder(scan)
    resolutions = tuple(resolve(requirements, t, [finder]) for t in targets)
    report = VerifyReport(str(store.root), resolutions, scan.problems, tuple(fix_args))
    if not report.covered:
        return PrunePlan(report, policy=policy)

    chosen = {pin.dist.filename for res in resolutions for pin in res.pins}
    names = [w.dist.filename for w in scan.wheels]
    installers = {found for t in targets if (found := find_uv_wheel(store.root, t, names)) is not None}
    pinned: dict[NormalizedName, set[Version]] = {}
    for res in resolutions:
        for pin in res.pins:
            pinned.setdefault(pin.name, set()).add(pin.version)
    newest: dict[NormalizedName, set[Version]] = {}
    if policy.keep_versions > 0:
        for name, wheels in scan.by_name().items():
            versions = sorted({w.dist.version for w in wheels}, reverse=True)
            newest[name] = set(versions[: policy.keep_versions])
    cutoff = None if policy.older_than_days is None else now - policy.older_than_days * DAY

    records = scan.records
    remove: list[PruneEntry] = []
    keep: list[PruneEntry] = []
    for wheel in scan.wheels:
        dist = wheel.dist
        entry = PruneEntry(
            dist.filename,
            dist.name,
            dist.version,
            "wheel",
            dist.size or 0,
            _added(records.get(dist.filename), wheel.mtime),
            "",
        )
        if dist.filename in chosen:
            keep.append(_with(entry, "needed"))
            continue
        if dist.filename in installers:
            keep.append(_with(entry, "installer", "the offline image installs with it (download --with-uv)"))
            continue
        used = pinned.get(dist.name)
        if used is None:
            why: RemoveReason = "unused-project"
            detail = "no target needs this project"
        elif dist.version not in used:
            why = "unused-version"
            detail = f"targets use {', '.join(str(v) for v in sorted(used))}"
        else:
            why = "unused-file"
            detail = "no given target installs this file"
        if dist.version in newest.get(dist.name, ()):
            keep.append(_with(entry, "keep-versions", detail))
        elif cutoff is not None and entry.added > cutoff:
            keep.append(_with(entry, "recent", detail))
        else:
            remove.append(_with(entry, why, detail))

    # A source distribution is kept for offline rebuilds as long as any wheel of its project stays.
    remaining = {e.project for e in keep}
    for filename, name, version, size, mtime in _sdists(store, scan):
        entry = PruneEntry(filename, name, version, "sdist", size, _added(records.get(filename), mtime), "")
        if name in remaining:
            keep.append(_with(entry, "project-kept"))
        elif cutoff is not None and entry.added > cutoff:
            keep.append(_with(entry, "recent", "no wheel of this project stays"))
        else:
            remove.append(_with(entry, "orphan-sdist", "no wheel of this project stays"))
    # Build requirements kept with --keep-build-deps stay while the sdist they rebuild stays: they are what
    # makes that rebuild possible offline.
    kept_sdists = {e.filename.rsplit("/", 1)[-1] for e in keep if e.kind == "sdist"}
    for entry in list(remove):
        record = records.get(entry.filename)
        needed_for = [
            s[len(_BUILD_REQUIREMENT_OF) :]
            for s in (record.sources if record else ())
            if s.startswith(_BUILD_REQUIREMENT_OF)
        ]
        if any(sdist in kept_sdists for sdist in needed_for):
            remove.remove(entry)
            keep.append(_with(entry, "build-requirement", f"builds {', '.join(needed_for)} offline"))
    return PrunePlan(report, tuple(sorted(remove, key=_order)), tuple(sorted(keep, key=_order)), policy)


def _order(entry: PruneEntry) -> tuple[str, Version, str]:
    return entry.project, entry.version, entry.filename


def _with(entry: PruneEntry, reason: str, detail: str = "") -> PruneEntry:
    return PruneEntry(entry.filename, entry.project, entry.version, entry.kind, entry.size, entry.added, reason, detail)


def _check_remaining(plan: PrunePlan, requirements: RequirementSet, scan: StoreScan) -> None:
    """Resolve every target over what would remain; refuse unless each pins exactly the same files."""
    going = {e.filename for e in plan.remove}
    rest = StoreScan(
        root=scan.root,
        wheels=tuple(w for w in scan.wheels if w.dist.filename not in going),
        sdists=tuple(s for s in scan.sdists if s.filename not in going),
        records=scan.records,
    )
    finder = StoreFinder(rest)
    for before in plan.report.resolutions:
        after = resolve(requirements, before.target, [finder])
        old = {p.dist.filename for p in before.pins}
        new = {p.dist.filename for p in after.pins}
        if not after.covered or old != new:
            # Unreachable while the planning above is right; it is the guarantee that prune never breaks a target.
            raise StoreError(
                f"refusing to prune: without the files to remove, {before.target.name} would resolve differently "
                f"({', '.join(sorted(old ^ new)) or 'not covered'}); nothing was removed",
                hint="wheelhouse prune --dry-run, and report this with its output",
            )


def prune(
    requirements: RequirementSet,
    targets: Sequence[Target],
    store: Store,
    policy: PrunePolicy = PrunePolicy(),
    *,
    dry_run: bool = False,
    confirm: Callable[[PrunePlan], bool] | None = None,
    now: float | None = None,
    fix_args: Sequence[str] = (),
    on_wait: Callable[[str], None] | None = None,
) -> PruneResult:
    """Plan and, unless ``dry_run``, remove, all under the folder's lock.

    ``confirm`` is called with the plan when there is something to remove; returning False removes nothing
    (it may also raise, e.g. to refuse when nobody can be asked). A plan that is not covered is returned
    unexecuted: check ``result.plan.covered``.
    """
    if dry_run:
        # Nothing is written, so no lock: a dry run works on a read-only folder and never waits.
        return PruneResult(plan_prune(requirements, targets, store, policy, now=now, fix_args=fix_args), dry_run=True)
    with store.lock(on_wait=on_wait):
        scan = store.scan()
        plan = plan_prune(requirements, targets, store, policy, now=now, fix_args=fix_args, scan=scan)
        if not plan.covered or not plan.remove:
            return PruneResult(plan)
        if confirm is not None and not confirm(plan):
            return PruneResult(plan, declined=True)
        _check_remaining(plan, requirements, scan)
        removed = store.remove(e.filename for e in plan.remove)
    return PruneResult(plan, tuple(removed))
