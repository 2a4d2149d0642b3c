"""Prove, offline and per target, that a wheels folder covers a requirement set and its whole closure."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

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


def verify(
    requirements: RequirementSet,
    targets: Sequence[Target],
    store: Store,
    *,
    fix_args: Sequence[str] = (),
    warn: Callable[[str], None] | None = None,
) -> VerifyReport:
    """Resolve ``requirements`` for each target from the folder alone; never touches the network."""
    return verify_scan(requirements, targets, store.scan(), fix_args=fix_args, warn=warn)


def verify_scan(
    requirements: RequirementSet,
    targets: Sequence[Target],
    scan: StoreScan,
    *,
    fix_args: Sequence[str] = (),
    warn: Callable[[str], None] | None = None,
) -> VerifyReport:
    """:func:`verify` over a scan of the folder already taken."""
    finder = StoreFinder(scan)
    resolutions = tuple(resolve(requirements, target, [finder], warn=warn) for target in targets)
    return VerifyReport(str(scan.root), resolutions, scan.problems, tuple(fix_args))


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
