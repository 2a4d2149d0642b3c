"""Which wheels would shadow each other in one folder: the one predicate for every way a file comes in.

Contract: two wheel file names *collide* when they are different names for the same project and version that
serve some common tag: a case twin (``Good-1.0-py3-none-any.whl``), another spelling of an equal version
(``good-1.0.0-...``), a build tag (``good-1.0-1-py3-none-any.whl``), or an overlapping tag set
(``py2.py3-none-any`` next to ``py3-none-any``). ``pip --find-links`` then picks one of them by rules that do
not look at content, so a colliding file with other bytes silently replaces the one that was verified.
:meth:`Store.commit <wheelhouse.store.folder.Store.commit>` refuses such a file whatever adds it (download,
import, a build, check --fix); download and import use :func:`collisions` to refuse it before fetching or
staging anything.

Wheels with the same name and version but disjoint tags (``manylinux_2_17`` next to ``manylinux_2_28``, or one
per platform) do not collide: pip ranks them by tag, as an index publishes them.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from wheelhouse.store.fs import file_sha256

if TYPE_CHECKING:
    from wheelhouse.store.folder import Store

__all__ = ["SHADOWS", "collides", "collisions", "shadowed", "shadowing_wheels"]

# How the scan's reason for a wheel that shadows another starts (check reports it as such).
SHADOWS = "shadows "


@functools.lru_cache(maxsize=65536)
def _parsed(filename: str) -> tuple[str, Version, frozenset[str]] | None:
    # Cached: a download checks each new file against every present one, and the present names repeat.
    if not filename.endswith(".whl"):
        return None
    try:
        name, version, _build, tags = parse_wheel_filename(filename)
    except (InvalidWheelFilename, ValueError):
        return None
    return canonicalize_name(name), version, frozenset(str(t) for t in tags)


def collides(new: str, present: str) -> bool:
    """Whether wheel file names ``new`` and ``present`` differ but serve one project version for a common tag."""
    if new == present:
        return False
    a, b = _parsed(new), _parsed(present)
    return a is not None and b is not None and a[0] == b[0] and a[1] == b[1] and not a[2].isdisjoint(b[2])


def collisions(new: str, present: Iterable[str]) -> list[str]:
    """The names among ``present`` that ``new`` collides with (see :func:`collides`), sorted."""
    # A project name starts with a letter or digit, and its first character survives normalization but for
    # case: comparing it first keeps a commit into a folder of thousands of wheels cheap.
    first = new[:1].lower()
    return sorted(p for p in present if p[:1].lower() == first and collides(new, p))


def shadowed(root: Path, filename: str, sha256: str) -> list[str]:
    """The files in the folder ``root`` that ``filename``, with content ``sha256``, would shadow (other bytes)."""
    try:
        clashes = collisions(filename, os.listdir(root))
    except OSError:
        return []
    out: list[str] = []
    for other in clashes:
        with contextlib.suppress(OSError):
            if file_sha256(root / other) != sha256:
                out.append(other)
    return out


def shadowing_wheels(store: Store, wheels: Iterable[tuple[str, str, Version]]) -> dict[str, str]:
    """Of the wheels already in ``store``'s folder (file name, project, version each, as the scan parsed them),
    those that shadow each other with other bytes, each with why. Files come in through ``Store.commit``, which
    refuses such a pair, but also by hand or by a copy: pip would then install one of them by name alone, so the
    scan uses neither until one goes."""
    groups: dict[tuple[str, Version], list[str]] = {}
    for filename, name, version in wheels:
        groups.setdefault((name, version), []).append(filename)
    pairs = [
        (a, b)
        for names in groups.values()
        if len(names) > 1
        for i, a in enumerate(names)
        for b in names[i + 1 :]
        if collides(a, b)
    ]
    if not pairs:
        return {}
    # Only the colliding files are hashed, through the cache: identical copies (a case twin) are harmless.
    digests = store.hashes(sorted({name for pair in pairs for name in pair}))
    out: dict[str, str] = {}
    for a, b in pairs:
        if digests[a] != digests[b]:
            for this, other in ((a, b), (b, a)):
                out.setdefault(
                    this,
                    f"{SHADOWS}{other} (the same project and version for a common tag, with other bytes: pip would "
                    "pick one by name alone); neither is used until one is removed",
                )
    return out
