"""Which wheels a bundle carries (:mod:`wheelhouse.share.bundle` writes and reads the format itself).

Contract: :func:`compatible_wheels` is every wheel of a scanned folder that installs on at least one target (tags
and Requires-Python); :func:`required_wheels` is every file a verify report pinned, and refuses with
:class:`~wheelhouse.errors.NotCoveredError` when some target has gaps, since a bundle without them would fail
offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wheelhouse.resolve.verify import VerifyReport
    from wheelhouse.store.folder import StoreScan
    from wheelhouse.targets import Target

__all__ = ["compatible_wheels", "required_wheels"]


def compatible_wheels(scan: StoreScan, targets: Sequence[Target]) -> list[str]:
    """Wheels in the folder that install on at least one target (tags and Requires-Python)."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    chosen: list[str] = []
    for wheel in scan.wheels:
        for target in targets:
            if target.best_tag(wheel.dist.tags) is None:
                continue
            requires = wheel.metadata.requires_python
            try:
                if requires and not SpecifierSet(requires).contains(target.python_full_version, prereleases=True):
                    continue
            except InvalidSpecifier:
                pass  # a wheel with an unreadable Requires-Python is pip's problem to judge, not ours to drop
            chosen.append(wheel.dist.filename)
            break
    return sorted(chosen)


def required_wheels(report: VerifyReport) -> list[str]:
    """The files pinned by a verify report's resolutions; raises NotCoveredError when any target has gaps."""
    report.require_covered("a bundle without them would fail offline")
    return sorted({pin.dist.filename for r in report.resolutions for pin in r.pins})
