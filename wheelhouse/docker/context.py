"""What the build context of a rendered Dockerfile carries: which wheels, which uv, and how much it weighs.

Contract: a build sends its whole context to the builder before the first step runs, and the classic
builder copies every file the ``.dockerignore`` lets through. The context therefore carries only the wheels
that the target's resolution over the folder picked (:func:`context_wheels`), not every target's wheels and
every old version; when the folder does not cover the target, it carries the whole folder (an online
Dockerfile then fills the gap from the index). The uv the image installs with is a wheel of the folder too
(:func:`find_uv_wheel`), so an offline build needs nothing that is not in the folder. Nothing here runs
Docker or writes a file.

The heavy wheels (:func:`heavy_wheels`) are the pinned wheels of :data:`HEAVY_WHEEL_BYTES` or more: the
offline Dockerfile installs them in a layer of their own, keyed by those files alone, so a change of
requirements that keeps them rebuilds only the small rest. The rule is a fixed size, not a share of the
total: adding a small project then never moves another project across the line, and a project's place does
not depend on what else the requirements hold. 256 KiB puts the compiled projects (numpy, scipy, pandas,
scikit-learn, pip itself) and the large pure-Python ones (tzdata, narwhals, joblib) in the heavy layer and
leaves the many small ones, which are what a one-line change usually adds, to the rebuilt layer.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from wheelhouse._reqfile import MAX_FILE_BYTES, Unreadable, read_file
from wheelhouse.requirements import Origin, RequirementSet, parse_requirement_text
from wheelhouse.resolve.installer import UV, find_uv_wheel
from wheelhouse.store.fs import file_sha256

__all__ = [
    "HEAVY_WHEEL_BYTES",
    "ContextSize",
    "HeavyWheel",
    "context_size",
    "find_uv_wheel",
    "heavy_wheels",
    "uv_data_dir",
    "with_uv",
]

# A wheel of this size or more is installed in the offline image's first, separately cached layer.
HEAVY_WHEEL_BYTES = 256 * 1024
_SHA256_RE = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")


def with_uv(requirements: RequirementSet) -> RequirementSet:
    """``requirements`` with uv added (``download --with-uv``), unless they name uv already.

    uv is the offline image's installer, not a dependency of the project: it is fetched only when asked,
    so a folder kept for pip users, its lock and its bundles do not grow by a binary for every target.
    """
    if any(line.name == UV for line in requirements.requirements):
        return requirements
    line = parse_requirement_text(UV, Origin(None, None))
    return dataclasses.replace(requirements, requirements=(*requirements.requirements, line))


def uv_data_dir(wheel_name: str) -> str:
    """The ``<name>-<version>.data`` directory of a uv wheel, where its ``scripts/uv`` lives (PEP 427)."""
    name, version = wheel_name.split("-")[:2]
    return f"{name}-{version}.data"


@dataclass(frozen=True)
class ContextSize:
    """The files a build sends to the builder and their total size in bytes."""

    files: int
    bytes: int


def context_size(root: Path, paths: Sequence[str]) -> ContextSize:
    """Size of the context ``paths`` (files or directories relative to ``root``) make up; symlinks are not
    followed, as Docker sends a link and not its target, and a path that is missing counts nothing."""
    files = 0
    total = 0
    seen: set[str] = set()
    for relative in paths:
        path = root / relative
        for file in _walk(path):
            key = os.fspath(file)
            if key in seen:
                continue
            seen.add(key)
            try:
                info = file.lstat()
            except OSError:
                continue
            files += 1
            total += info.st_size
    return ContextSize(files, total)


def _walk(path: Path) -> Iterable[Path]:
    if path.is_symlink() or path.is_file():
        yield path
        return
    if not path.is_dir():
        return
    for directory, dirnames, filenames in os.walk(path):
        # wheelhouse's own bookkeeping stays out of the context (.dockerignore says so too).
        dirnames[:] = sorted(d for d in dirnames if d != ".wheelhouse" and d != "__pycache__")
        for name in sorted(filenames):
            yield Path(directory) / name


@dataclass(frozen=True)
class HeavyWheel:
    """A pinned wheel of the heavy layer: where it is in the context, the pin that installs it, its sha256."""

    path: str
    pin: str
    sha256: str

    @property
    def filename(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def heavy_wheels(
    root: Path, wheels: Sequence[str] | None, *, lock: str | None = None, threshold: int = HEAVY_WHEEL_BYTES
) -> tuple[HeavyWheel, ...]:
    """The wheels among ``wheels`` (context-relative paths under ``root``, the target's pins) of ``threshold``
    bytes or more, sorted by path, each with the sha256 of its content now.

    None (the folder does not cover the target) gives none: the install then has no pins to split. A file that
    is not a regular file (a symlink: Docker would send the link) is left to the full install. With a ``lock``,
    a file whose sha256 the lock does not list is left to the full install too, which checks it against the
    lock and fails the build, so the heavy layer never installs what the lock would refuse.
    """
    if not wheels:
        return ()
    allowed: set[str] | None = None
    if lock is not None:
        # The reader of requirement files: a regular file only, within its size limit (a pipe never blocks it).
        try:
            text = read_file(os.fspath(root / lock), MAX_FILE_BYTES).decode("utf-8", errors="replace")
        except Unreadable:
            text = ""
        allowed = set(_SHA256_RE.findall(text.lower()))
    found: list[HeavyWheel] = []
    for relative in sorted(set(wheels)):
        path = root / relative
        try:
            info = path.lstat()
            if not stat.S_ISREG(info.st_mode) or info.st_size < threshold:
                continue
            name, version, _build, _tags = parse_wheel_filename(path.name)
            digest = file_sha256(path)
        except (OSError, InvalidWheelFilename):
            continue
        if allowed is not None and digest not in allowed:
            continue
        found.append(HeavyWheel(relative, f"{name}=={version}", digest))
    return tuple(found)
