"""Prove, offline and per target, that a wheels folder covers a requirement set and its whole closure."""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wheelhouse._text import plural
from wheelhouse.errors import NotCoveredError
from wheelhouse.requirements import RequirementSet
from wheelhouse.resolve.resolver import Resolution, format_chain, resolve
from wheelhouse.store.folder import Store, StoreFinder, StoreProblem, StoreScan
from wheelhouse.targets import Target

JSON_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class VerifyReport:
    """Per-target resolutions against the folder, plus the folder's own problems."""

    wheels_dir: str
    resolutions: tuple[Resolution, ...]
    problems: tuple[StoreProblem, ...] = ()
    fix_args: tuple[str, ...] = ()

    @property
    def covered(self) -> bool:
        return all(r.covered for r in self.resolutions)

    def fix_command(self, target: Target) -> str:
        """The ``wheelhouse download`` line that fills this target's gaps."""
        argv = ["wheelhouse", "download", "--target", target.name]
        if self.wheels_dir != "wheels":
            argv += ["--wheels", self.wheels_dir]
        argv += list(self.fix_args)
        return shlex.join(argv)

    def require_covered(self, consequence: str) -> None:
        """NotCoveredError naming the targets not covered and their gaps, when some target is not; ``consequence``
        says what going on without them would break (a bundle, a server)."""
        uncovered = [r for r in self.resolutions if not r.covered]
        if uncovered:
            names = ", ".join(r.target.name for r in uncovered)
            gaps = plural(sum(len(r.gaps) for r in uncovered), "gap")
            raise NotCoveredError(
                f"the folder does not cover {names} ({gaps}); {consequence} (wheelhouse verify shows the gaps)",
                hint=self.fix_command(uncovered[0].target),
            )


def verify(
    requirements: RequirementSet,
    targets: Sequence[Target],
    store: Store,
    *,
    fix_args: Sequence[str] = (),
) -> VerifyReport:
    """Resolve ``requirements`` for each target from the folder alone; never touches the network."""
    return verify_scan(requirements, targets, store.scan(), fix_args=fix_args)


def verify_scan(
    requirements: RequirementSet,
    targets: Sequence[Target],
    scan: StoreScan,
    *,
    fix_args: Sequence[str] = (),
    explained_by: Sequence[Resolution] = (),
) -> VerifyReport:
    """:func:`verify` over a scan of the folder already taken.

    ``explained_by`` are resolutions of the same targets over more sources than the folder (a download's plan,
    over the folder and the index). Where one has a gap for a project the folder cannot serve either, its
    explanation is the one reported: the folder alone can only say that it holds no file, while the plan knows
    why none of the index's files could serve (a newer Python, a yank, only an sdist).
    """
    finder = StoreFinder(scan)
    resolutions = tuple(_explained(resolve(requirements, target, [finder]), explained_by) for target in targets)
    return VerifyReport(str(scan.root), resolutions, scan.problems, tuple(fix_args))


def _explained(resolution: Resolution, explained_by: Sequence[Resolution]) -> Resolution:
    """``resolution`` with each gap replaced by the matching gap of a resolution over more sources, if any."""
    if resolution.covered:
        return resolution
    wider = next((r for r in explained_by if r.target.name == resolution.target.name), None)
    if wider is None:
        return resolution
    known = {g.project: g for g in wider.gaps if g.kind != "missing"}
    gaps = tuple(
        # The chains stay the folder's: they are what this resolution followed to reach the project.
        dataclasses.replace(known[g.project], chains=g.chains) if g.project in known else g
        for g in resolution.gaps
    )
    return dataclasses.replace(resolution, gaps=gaps)


def report_to_json(report: VerifyReport) -> dict[str, Any]:
    """The documented, stable ``--json`` structure (schema 1; see README "verify --json")."""
    return {
        "schema": JSON_SCHEMA_VERSION,
        "wheels": report.wheels_dir,
        "covered": report.covered,
        "targets": [
            {
                "target": r.target.name,
                "platform": r.target.docker_platform,
                "python": r.target.python_full_version,
                "covered": r.covered,
                "pins": [
                    {
                        "name": p.name,
                        "version": str(p.version),
                        "file": p.dist.filename,
                        "extras": sorted(p.extras),
                    }
                    for p in r.pins
                ],
                "gaps": [
                    {
                        "kind": g.kind,
                        "project": g.project,
                        "requirement": g.requirement,
                        "summary": g.summary,
                        "chains": [format_chain(c) for c in g.chains],
                        "rejected": [{"file": x.filename, "reason": x.reason} for x in g.rejected],
                    }
                    for g in r.gaps
                ],
                "fix": None if r.covered else report.fix_command(r.target),
            }
            for r in report.resolutions
        ],
        "problems": [{"file": p.filename, "reason": p.reason} for p in report.problems],
    }
