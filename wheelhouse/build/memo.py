"""What earlier runs learnt from building an sdist, so a wheel is built once per (sdist sha256, place) and a build
that failed is not run again on every download.

A build is a subprocess that may take minutes; the same sdist built in the same place (this machine with the
same interpreter, or the same image and platform) gives the same answer. The memo keeps, per sdist sha256 and
place, either the wheel it gave (its name, tags and Requires-Python, and a copy of the file while the folder does
not hold it: a binary discarded because no target could use it, or a wheel built for metadata that the build
stage has yet to commit) or the failure (its reason, log and last lines). ``--retry-builds`` ignores remembered
failures.

Contract: everything lives in ``wheels/.wheelhouse/builds/`` (``<sha256>.json`` and ``<sha256>/<wheel>``), is
written atomically, never through a symbolic link (a linked ``builds`` is refused, as every state entry is), and
is only a cache: an entry that cannot be read, or whose wheel is gone, is as if it were
not there, and the build runs again. Thread-safe.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from packaging.tags import Tag, parse_tag

from wheelhouse.store.folder import Store
from wheelhouse.store.fs import atomic_write, real_dir

__all__ = ["BuildMemo", "Remembered"]

_VERSION = 1


@dataclass(frozen=True)
class Remembered:
    """One earlier build of an sdist in one place: the wheel it gave, or why it failed."""

    command: str
    log: str
    wheel: str | None = None
    tags: tuple[str, ...] = ()
    requires_python: str | None = None
    failure: str | None = None
    tail: tuple[str, ...] = field(default=())

    def tag_set(self) -> frozenset[Tag]:
        return frozenset(t for text in self.tags for t in parse_tag(text))


class BuildMemo:
    """The remembered builds of a folder's sdists (``wheels/.wheelhouse/builds/``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.root = store.meta_dir / "builds"
        self._lock = threading.Lock()

    def _file(self, sha256: str) -> Path:
        return self.root / f"{sha256}.json"

    def _read(self, sha256: str) -> dict[str, Remembered]:
        if self.root.is_symlink():
            return {}  # never followed: Store.check_state refuses it before anything is written
        try:
            data = json.loads(self._file(sha256).read_bytes())
            if data.get("version") != _VERSION:
                return {}
            return {
                str(place): Remembered(
                    command=str(entry["command"]),
                    log=str(entry["log"]),
                    wheel=entry.get("wheel"),
                    tags=tuple(str(t) for t in entry.get("tags") or ()),
                    requires_python=entry.get("requires_python"),
                    failure=entry.get("failure"),
                    tail=tuple(str(t) for t in entry.get("tail") or ()),
                )
                for place, entry in data["places"].items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}

    def get(self, sha256: str, place: str) -> Remembered | None:
        """What building the sdist ``sha256`` in ``place`` gave before, or None."""
        with self._lock:
            return self._read(sha256).get(place)

    def all(self, sha256: str) -> dict[str, Remembered]:
        """Every place the sdist ``sha256`` was built in, and what it gave."""
        with self._lock:
            return self._read(sha256)

    def remember(self, sha256: str, place: str, entry: Remembered, wheel: Path | None = None) -> None:
        """Record ``entry``; ``wheel`` (the built file) is copied aside until the folder holds it."""
        with self._lock:
            real_dir(self.root)
            if wheel is not None:
                kept = real_dir(self.root / sha256) / wheel.name
                if wheel.resolve() != kept.resolve():
                    shutil.copyfile(wheel, kept)
            places = self._read(sha256)
            places[place] = entry
            body = {"version": _VERSION, "places": {k: asdict(v) for k, v in sorted(places.items())}}
            atomic_write(self._file(sha256), (json.dumps(body, indent=1) + "\n").encode())

    def forget(self, sha256: str, place: str) -> None:
        """Drop what ``place`` gave (``--retry-builds``)."""
        with self._lock:
            places = self._read(sha256)
            if places.pop(place, None) is None:
                return
            real_dir(self.root)
            body = {"version": _VERSION, "places": {k: asdict(v) for k, v in sorted(places.items())}}
            atomic_write(self._file(sha256), (json.dumps(body, indent=1) + "\n").encode())

    def wheel_path(self, sha256: str, entry: Remembered) -> Path | None:
        """The remembered wheel's file: the copy kept aside, else the one in the folder, else None."""
        if entry.wheel is None or "/" in entry.wheel or entry.wheel.startswith(".") or self.root.is_symlink():
            return None
        for candidate in (self.root / sha256 / entry.wheel, self.store.root / entry.wheel):
            if candidate.is_file() and not candidate.is_symlink():
                return candidate
        return None

    def drop_copy(self, sha256: str, wheel: str) -> None:
        """The folder holds ``wheel`` now: the copy kept aside is not needed."""
        if self.root.is_symlink() or (self.root / sha256).is_symlink():
            return
        with contextlib.suppress(OSError):
            (self.root / sha256 / wheel).unlink()
        with contextlib.suppress(OSError):
            (self.root / sha256).rmdir()
