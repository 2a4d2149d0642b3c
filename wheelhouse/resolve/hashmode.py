"""pip's hash-checking mode, judged on the projects a resolution installs.

One ``--hash`` anywhere in the requirement or constraint files turns the mode on for the whole install (pip's
``--require-hashes``: "it turns on automatically when any package has a hash"). pip then installs a project only
from a top-level requirement line that pins it with ``==`` and carries hashes; a constraint line's hashes do not
count, and a dependency without a line of its own is refused, with the line to add. Loading the requirements
warns about the top-level lines that lack a hash or a pin (:func:`wheelhouse.requirements.check_hash_mode`); only
a resolution knows the dependencies, and :func:`warn_unhashed_dependencies` warns about those, in one line that
gives the first line to add with its file's sha256.

Like the load-time warning, this does not change what verify proves: the files are there and each requirement
that pins hashes was served by a file with one of them. ``wheelhouse lock`` writes a lock that pins and hashes
every project, which is what an install in this mode needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName

from wheelhouse import _log
from wheelhouse._markers import holds_or_not
from wheelhouse._text import plural
from wheelhouse.requirements import RequirementSet, hash_mode_on
from wheelhouse.store.folder import Store

if TYPE_CHECKING:
    from wheelhouse.dists import DistFile
    from wheelhouse.resolve.resolver import Pin, Resolution

__all__ = ["unhashed_dependencies", "warn_unhashed_dependencies"]


def unhashed_dependencies(requirements: RequirementSet, resolutions: Sequence[Resolution]) -> list[Pin]:
    """The pins, over every target, that pip's hash-checking mode refuses for want of a requirement line of their
    own on that target (none when the mode is off); each project and version once, in name order."""
    if not hash_mode_on(requirements):
        return []
    found: dict[tuple[NormalizedName, str], Pin] = {}
    for resolution in resolutions:
        env = dict(resolution.target.marker_environment, extra="")
        own = {line.name for line in requirements.requirements if holds_or_not(line.requirement.marker, env)}
        for pin in resolution.pins:
            if pin.name not in own:
                found.setdefault((pin.name, str(pin.version)), pin)
    return [found[key] for key in sorted(found)]


def warn_unhashed_dependencies(requirements: RequirementSet, resolutions: Sequence[Resolution]) -> None:
    """Warn, in one line, when pip's hash-checking mode would refuse dependencies that have no line of their
    own: how many, and the first line to add, with its wheel's sha256."""
    refused = unhashed_dependencies(requirements, resolutions)
    if not refused:
        return
    first = refused[0]
    digest = _sha256(first.dist)
    line = f"{first.name}=={first.version}" + (f" --hash=sha256:{digest}" if digest else "")
    count = plural(len(refused), "dependency", "dependencies")
    _log.warning(
        f"with --hash on some requirements, pip installs nothing until every package it installs has a line of "
        f"its own with an == pin and a --hash (hash-checking mode); {count} {'has' if len(refused) == 1 else 'have'}"
        f" none, such as {line}: wheelhouse lock writes every such line"
    )


def _sha256(dist: DistFile) -> str | None:
    """The sha256 pip would check for ``dist``: the index's for a remote wheel, the folder's (cached) for a wheel
    in it; None for a source distribution (pip installs the wheel built from it) or a file that cannot be read."""
    if dist.kind != "wheel":
        return None
    if dist.sha256:
        return dist.sha256
    if not dist.local:
        return None
    try:
        return Store(Path(dist.location).parent).hashes([dist.filename])[dist.filename]
    except OSError:
        return None
