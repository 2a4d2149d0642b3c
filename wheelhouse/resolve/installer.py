"""The installer wheel of an offline image: uv's wheel for a target, among a folder's files.

Contract: pure over file names and a target; reads the folder only when no names are given. ``download
--with-uv`` puts uv's wheels into the folder; the offline Dockerfile installs with the one this picks
(:mod:`wheelhouse.docker.context`), and ``prune`` keeps that one for each target it is given, though no
requirement names uv (:mod:`wheelhouse.resolve.prune`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from wheelhouse.targets import Target

__all__ = ["UV", "find_uv_wheel"]

UV = "uv"


def find_uv_wheel(wheels_dir: Path, target: Target, names: Iterable[str] | None = None) -> str | None:
    """The file name of the newest uv wheel in ``wheels_dir`` that runs on ``target``, or None.

    uv's wheels hold one static binary per platform (``py3-none-<platform>``); a wheel of another platform
    or libc would not run in the image, so the target's own tags decide, as for every other wheel.
    """
    if names is None:
        try:
            names = [entry.name for entry in os.scandir(wheels_dir) if entry.is_file(follow_symlinks=False)]
        except OSError:
            return None
    priority = target.tag_priority
    best: tuple[Version, int, str] | None = None
    for name in names:
        if not (name.startswith("uv-") and name.endswith(".whl")):
            continue
        try:
            project, version, _build, tags = parse_wheel_filename(name)
        except InvalidWheelFilename:
            continue
        if project != UV or version.is_prerelease:
            continue
        ranks = [priority[tag] for tag in tags if tag in priority]
        if not ranks:
            continue
        # Newest version first; among files of one version, the tag the target prefers (lowest rank).
        key = (version, -min(ranks), name)
        if best is None or key > best:
            best = key
    return best[2] if best else None
