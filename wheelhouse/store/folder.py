"""The wheels/ folder: scan, cached metadata, atomic additions, provenance records and a process lock.

Layout::

    wheels/
      *.whl                       what pip --find-links sees
      .wheelhouse/manifest.json   metadata cache (keyed by file name + size + mtime) and provenance records
      .wheelhouse/lock            flock(2) target serialising writers across processes
      .wheelhouse/tmp/            partial downloads; never visible to pip, cleaned on the next run
      .wheelhouse/sdists/         source distributions kept for offline rebuilds

The manifest is a cache: a stale or corrupt one is rebuilt silently and never trusted over the files. It is only
ever written under the lock, atomically (temp file, fsync, rename), so readers see the old or the new version.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import NormalizedName

if TYPE_CHECKING:
    import zipfile

from wheelhouse.dists import (
    CoreMetadata,
    DistFile,
    InvalidDistFilename,
    parse_dist_filename,
)
from wheelhouse.errors import LockTimeout, StoreError
from wheelhouse.store import metadata as _metadata
from wheelhouse.store.fs import (
    PARTIAL_PREFIX,
    atomic_write,
    file_sha256,
    fsync_dir,
    fsync_file,
    open_nofollow,
    real_dir,
    refuse_symlink,
)

MANIFEST_FORMAT = 1
META_DIR = ".wheelhouse"
# wheelhouse's own files and folders inside META_DIR: none of them is ever followed through a symbolic link.
STATE_ENTRIES = ("lock", "manifest.json", "tmp", "quarantine", "sdists", "logs", "index")


@dataclass(frozen=True)
class FileRecord:
    """Provenance of a file: how it came into the folder and which targets it serves."""

    sha256: str
    url: str | None = None
    added: float = 0.0
    targets: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    built_by: str | None = None
    # For a wheel built here: the kept sdist it came from, relative to the folder (.wheelhouse/sdists/...).
    built_from: str | None = None

    def merged(self, other: FileRecord) -> FileRecord:
        """Combine two records of the same file: union of targets and sources, newest facts otherwise."""
        return FileRecord(
            sha256=other.sha256 or self.sha256,
            url=other.url or self.url,
            added=self.added or other.added,
            targets=tuple(sorted(set(self.targets) | set(other.targets))),
            sources=tuple(sorted(set(self.sources) | set(other.sources))),
            built_by=other.built_by or self.built_by,
            built_from=other.built_from or self.built_from,
        )


@dataclass(frozen=True)
class StoredWheel:
    """A wheel in the folder with the metadata read from it."""

    dist: DistFile
    metadata: CoreMetadata
    mtime: float

    @property
    def path(self) -> Path:
        return Path(self.dist.location)


@dataclass(frozen=True)
class StoreProblem:
    """A file in the folder that cannot serve as a wheel, and why."""

    filename: str
    reason: str


@dataclass(frozen=True)
class StoreScan:
    """A snapshot of the folder."""

    root: Path
    wheels: tuple[StoredWheel, ...] = ()
    sdists: tuple[DistFile, ...] = ()
    problems: tuple[StoreProblem, ...] = ()
    stray: tuple[str, ...] = ()
    records: Mapping[str, FileRecord] = field(default_factory=dict)
    opened: int = 0  # zips opened by this scan; 0 on a warm manifest
    kept_sdists: tuple[DistFile, ...] = ()  # in .wheelhouse/sdists/: not visible to pip, kept for rebuilds

    def by_name(self) -> dict[NormalizedName, list[StoredWheel]]:
        out: dict[NormalizedName, list[StoredWheel]] = {}
        for wheel in self.wheels:
            out.setdefault(wheel.dist.name, []).append(wheel)
        return out

    def resolver_view(self) -> tuple[object, ...]:
        """All that a resolution over this scan reads (through :class:`StoreFinder`), hashes and sizes aside:
        scans with equal views resolve alike. Hashes and sizes are left out because no resolution reads them,
        and a plan may not know a file's size before it arrives."""
        return (
            tuple((dataclasses.replace(w.dist, sha256=None, size=None), w.metadata) for w in self.wheels),
            tuple(dataclasses.replace(d, sha256=None, size=None) for d in self.sdists),
            tuple(dataclasses.replace(d, sha256=None, size=None) for d in self.kept_sdists),
            self.problems,
        )

    def get(self, filename: str) -> StoredWheel | None:
        for wheel in self.wheels:
            if wheel.dist.filename == filename:
                return wheel
        return None


# flock(2) locks belong to an open file description, so a second flock from the same process on a new
# descriptor would deadlock. Track the locks this process holds and make them re-entrant.
_HELD: dict[str, tuple[int, int]] = {}
_HELD_GUARD = threading.RLock()
# The flock above makes a *process* the folder's owner; threads of that process (parallel downloads) then
# serialise their manifest read-modify-write cycles on this per-folder mutex.
_MUTEXES: dict[str, threading.RLock] = {}


def read_metadata_member(zf: zipfile.ZipFile, filename: str | None = None) -> bytes:
    """Transitional alias of :func:`wheelhouse.store.metadata.read_metadata_member` (the one reader)."""
    return _metadata.read_metadata_member(zf, filename or str(zf.filename and Path(zf.filename).name))


def read_wheel_metadata(path: Path, name: str = "", version: str = "") -> CoreMetadata:
    """Transitional alias of :func:`wheelhouse.store.metadata.read_wheel_metadata` (the one reader)."""
    del name, version  # the file name carries them
    return _metadata.read_wheel_metadata(path)


class Store:
    """A wheels/ folder."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._key: str | None = None

    def _lock_key(self) -> str:
        """The lock file's real path: the identity of the folder's lock within this process (computed once)."""
        if self._key is None:
            self._key = str((self.meta_dir / "lock").resolve())
        return self._key

    @property
    def meta_dir(self) -> Path:
        return self.root / META_DIR

    @property
    def manifest_path(self) -> Path:
        return self.meta_dir / "manifest.json"

    @property
    def tmp_dir(self) -> Path:
        return self.meta_dir / "tmp"

    @property
    def sdist_dir(self) -> Path:
        return self.meta_dir / "sdists"

    def exists(self) -> bool:
        return self.root.is_dir()

    def check_state(self) -> None:
        """StoreError naming the first symbolic link among wheelhouse's state paths (``.wheelhouse/...``).

        Every writing command passes here (through :meth:`lock`) before it deletes, truncates or moves a file
        under ``.wheelhouse/``: a planted ``tmp -> DIR`` would otherwise have DIR's files deleted.
        """
        refuse_symlink(self.meta_dir)
        for name in STATE_ENTRIES:
            refuse_symlink(self.meta_dir / name)

    def ensure(self) -> None:
        """Create the folder and its metadata directory, with a clear error when that is impossible."""
        self.check_state()
        try:
            real_dir(self.meta_dir)
        except OSError as exc:
            # Name what could not be made: an existing, read-only folder is not "the wheels folder".
            what = self.meta_dir if self.root.is_dir() else f"the wheels folder {self.root}"
            raise StoreError(
                f"cannot create {what}: {exc.strerror or exc}", hint=f"make {self.root} writable (or pass --wheels DIR)"
            ) from None

    # -- locking -----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(
        self,
        *,
        wait: bool = True,
        timeout: float | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> Iterator[None]:
        """Hold the folder's exclusive lock; re-entrant within this process.

        ``on_wait`` is called once with a message when another process holds the lock and we wait for it.
        """
        path = self.meta_dir / "lock"
        key = self._lock_key()
        with _HELD_GUARD:
            held = _HELD.get(key)
            if held is not None:
                _HELD[key] = (held[0], held[1] + 1)
                reentered = True
            else:
                reentered = False
        if reentered:
            try:
                yield
            finally:
                self._release(key)
            return
        self.ensure()
        try:
            fd = open_nofollow(path, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise StoreError(
                f"cannot lock the wheels folder {self.root}: {exc.strerror or exc}",
                hint=f"make {self.root} writable (or pass --wheels DIR)",
            ) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                # A hard link would have its other name truncated below, which may be anywhere on the disk.
                raise StoreError(f"{path} is not a plain file of its own; refusing to use it as the folder's lock")
            self._acquire(fd, path, wait=wait, timeout=timeout, on_wait=on_wait)
        except BaseException:
            os.close(fd)
            raise
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        with _HELD_GUARD:
            _HELD[key] = (fd, 1)
        try:
            yield
        finally:
            self._release(key)

    def _acquire(
        self, fd: int, path: Path, *, wait: bool, timeout: float | None, on_wait: Callable[[str], None] | None
    ) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise StoreError(f"cannot lock {path}: {exc.strerror}") from None
        holder = ""
        with contextlib.suppress(OSError, ValueError):
            holder = f" (process {int(path.read_text().strip())})"
        message = f"another wheelhouse process{holder} is using {self.root}"
        if not wait:
            raise LockTimeout(message, hint="wait for it to finish, or run without --no-wait to queue behind it")
        if on_wait is not None:
            on_wait(f"{message}; waiting for it to finish")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError:
                if deadline is not None and time.monotonic() > deadline:
                    raise LockTimeout(f"{message}; gave up after {timeout:.0f} s") from None
                time.sleep(0.05)

    @staticmethod
    def _release(key: str) -> None:
        with _HELD_GUARD:
            fd, count = _HELD[key]
            if count > 1:
                _HELD[key] = (fd, count - 1)
                return
            del _HELD[key]
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    @contextlib.contextmanager
    def _exclusive(self, *, wait: bool = True) -> Iterator[None]:
        """The folder's lock plus this process's manifest mutex: for read-modify-write of the manifest."""
        with self.lock(wait=wait):
            key = self._lock_key()
            with _HELD_GUARD:
                mutex = _MUTEXES.setdefault(key, threading.RLock())
            with mutex:
                yield

    def _holds_lock(self) -> bool:
        key = self._lock_key()
        with _HELD_GUARD:
            return key in _HELD

    # -- manifest ----------------------------------------------------------------------------------------
    def _read_manifest(self) -> dict[str, Any]:
        try:
            # A link in place of the manifest is not read (it is a cache: the files are read instead).
            with open(open_nofollow(self.manifest_path, os.O_RDONLY), "rb") as fh:
                raw = json.loads(fh.read())
        except (OSError, ValueError, StoreError):
            return {}
        if not isinstance(raw, dict) or raw.get("format") != MANIFEST_FORMAT:
            return {}
        if not isinstance(raw.get("files"), dict) or not isinstance(raw.get("records"), dict):
            return {}
        return raw

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        manifest["format"] = MANIFEST_FORMAT
        data = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        try:
            atomic_write(self.manifest_path, data)
        except OSError as exc:
            # A full disk or a read-only folder: the old manifest is intact (atomic write); say so in one line.
            raise StoreError(
                f"cannot write {self.manifest_path}: {exc.strerror or exc}",
                hint=f"free space or make {self.root} writable, then run the command again",
            ) from None

    def records(self) -> dict[str, FileRecord]:
        """Provenance records, by file name."""
        out: dict[str, FileRecord] = {}
        for filename, raw in self._read_manifest().get("records", {}).items():
            try:
                out[filename] = FileRecord(
                    sha256=str(raw["sha256"]),
                    url=raw.get("url"),
                    added=float(raw.get("added", 0.0)),
                    targets=tuple(raw.get("targets", ())),
                    sources=tuple(raw.get("sources", ())),
                    built_by=raw.get("built_by"),
                    built_from=raw.get("built_from"),
                )
            except (KeyError, TypeError, ValueError):
                continue
        return out

    def update_records(self, updates: Mapping[str, FileRecord], *, replace: bool = False, prime: bool = False) -> None:
        """Merge provenance records into the manifest (under the lock).

        ``prime=True`` says each file was committed from exactly the bytes its record hashes (a verified
        download): the hash then also primes the metadata cache, so lock, index and check need not read it again.
        Never prime from an old record: the file may have changed since, and check must see that.
        """
        with self._exclusive():
            manifest = self._read_manifest() or {"files": {}, "records": {}}
            records = manifest.setdefault("records", {})
            files = manifest.setdefault("files", {})
            current = self.records()
            for filename, record in updates.items():
                if not replace and filename in current:
                    record = current[filename].merged(record)
                else:
                    # Sorted, so the manifest does not depend on which thread finished first.
                    record = dataclasses.replace(
                        record, targets=tuple(sorted(set(record.targets))), sources=tuple(sorted(set(record.sources)))
                    )
                records[filename] = asdict(record)
                cached = files.get(filename)
                if prime and record.sha256 and not (isinstance(cached, dict) and cached.get("sha256")):
                    with contextlib.suppress(OSError):
                        st = (self.root / filename).stat()
                        if not isinstance(cached, dict) or (cached.get("size"), cached.get("mtime_ns")) != (
                            st.st_size,
                            st.st_mtime_ns,
                        ):
                            cached = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
                        entry = {**cached, "sha256": record.sha256}
                        if filename.endswith(".whl") and "metadata" not in entry and "problem" not in entry:
                            # Read now, while the downloads of other files are still arriving, rather than by
                            # the scan of the verify that follows them.
                            entry.update(self._metadata_entry(filename))
                        files[filename] = entry
            self._write_manifest(manifest)

    def _metadata_entry(self, filename: str) -> dict[str, Any]:
        """The manifest's cached metadata of a wheel in the folder (``metadata``, or the ``problem`` reading it)."""
        try:
            parse_dist_filename(filename)
            return {"metadata": asdict(_metadata.read_wheel_metadata(self.root / filename))}
        except InvalidDistFilename as exc:
            return {"problem": f"not a valid wheel or sdist file name ({exc})"}
        except ValueError as exc:
            return {"problem": str(exc)}

    def forget(self, filenames: Iterable[str]) -> None:
        """Drop manifest entries of removed files (under the lock)."""
        with self._exclusive():
            manifest = self._read_manifest()
            if not manifest:
                return
            for filename in filenames:
                manifest["files"].pop(filename, None)
                manifest["records"].pop(filename, None)
            self._write_manifest(manifest)

    # -- scanning ----------------------------------------------------------------------------------------
    def scan(self) -> StoreScan:
        """Read the folder; open only wheels the manifest does not describe at their current size and mtime."""
        if not self.root.exists():
            return StoreScan(root=self.root)
        if not self.root.is_dir():
            raise StoreError(f"{self.root} is not a directory")
        try:
            entries = list(os.scandir(self.root))
        except OSError as exc:
            raise StoreError(f"cannot read the wheels folder {self.root}: {exc.strerror or exc}") from None
        manifest = self._read_manifest()
        cache: dict[str, Any] = manifest.get("files", {}) if manifest else {}
        raw_records = manifest.get("records", {}) if manifest else {}
        new_cache: dict[str, Any] = {}
        wheels: list[StoredWheel] = []
        sdists: list[DistFile] = []
        problems: list[StoreProblem] = []
        stray: list[str] = []
        opened = 0
        for entry in sorted(entries, key=lambda e: e.name):
            filename = entry.name
            if filename.startswith("."):
                if filename.startswith(PARTIAL_PREFIX):
                    stray.append(filename)
                continue
            try:
                if not entry.is_file():
                    continue
                st = entry.stat()
            except OSError as exc:
                problems.append(StoreProblem(filename, f"cannot stat: {exc.strerror}"))
                continue
            try:
                name, version, kind, tags, build = parse_dist_filename(filename)
            except InvalidDistFilename as exc:
                problems.append(StoreProblem(filename, f"not a valid wheel or sdist file name ({exc})"))
                continue
            if kind == "sdist":
                sdists.append(
                    DistFile(filename, name, version, "sdist", tags, str(Path(entry.path)), True, size=st.st_size)
                )
                continue
            cached = cache.get(filename)
            entry_cache: dict[str, Any]
            fresh = (
                isinstance(cached, dict)
                and cached.get("size") == st.st_size
                and cached.get("mtime_ns") == st.st_mtime_ns
            )
            if fresh and isinstance(cached, dict) and ("metadata" in cached or "problem" in cached):
                entry_cache = cached
            else:
                opened += 1
                entry_cache = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
                if fresh and isinstance(cached, dict) and cached.get("sha256"):
                    # commit() primes the hash of a file it just verified; keep it while the file is unchanged.
                    entry_cache["sha256"] = cached["sha256"]
                try:
                    meta = _metadata.read_wheel_metadata(Path(entry.path))
                    entry_cache["metadata"] = asdict(meta)
                except ValueError as exc:
                    entry_cache["problem"] = str(exc)
            new_cache[filename] = entry_cache
            if "problem" in entry_cache:
                problems.append(StoreProblem(filename, str(entry_cache["problem"])))
                continue
            md = entry_cache["metadata"]
            meta = CoreMetadata(
                name=md["name"],
                version=md["version"],
                requires_dist=tuple(md.get("requires_dist", ())),
                requires_python=md.get("requires_python"),
                provides_extra=tuple(md.get("provides_extra", ())),
            )
            sha = entry_cache.get("sha256")
            dist = DistFile(
                filename=filename,
                name=name,
                version=version,
                kind="wheel",
                tags=tags,
                location=str(Path(entry.path)),
                local=True,
                build=build,
                requires_python=meta.requires_python,
                sha256=sha,
                size=st.st_size,
            )
            wheels.append(StoredWheel(dist, meta, st.st_mtime))
        if self.tmp_dir.is_dir() and not self.tmp_dir.is_symlink():
            with contextlib.suppress(OSError):
                stray.extend(f"{META_DIR}/tmp/{p.name}" for p in sorted(self.tmp_dir.iterdir()))
        with contextlib.suppress(OSError):
            # A manifest write cut short by kill -9 leaves its temporary file next to the manifest.
            stray.extend(f"{META_DIR}/{p.name}" for p in sorted(self.meta_dir.glob(f"{PARTIAL_PREFIX}*")))
        if new_cache != cache:
            self._save_cache(new_cache)
        return StoreScan(
            root=self.root,
            wheels=tuple(wheels),
            sdists=tuple(sdists),
            problems=tuple(problems),
            stray=tuple(stray),
            records=self.records() if raw_records else {},
            opened=opened,
            kept_sdists=self.kept_sdists(),
        )

    def _save_cache(self, files: dict[str, Any]) -> None:
        """Store the metadata cache when we can take the lock at once; skipping is harmless (it is a cache)."""
        try:
            with self._exclusive(wait=False):
                manifest = self._read_manifest() or {"files": {}, "records": {}}
                # Merge rather than replace: a file committed while we scanned keeps its cached hash.
                merged = {**manifest.get("files", {}), **files}
                manifest["files"] = {name: entry for name, entry in merged.items() if (self.root / name).exists()}
                self._write_manifest(manifest)
        except (LockTimeout, StoreError, OSError):
            # Read-only folder, full disk or a busy writer: the next run simply reads the zips again.
            return

    def kept_sdists(self) -> tuple[DistFile, ...]:
        """The source distributions kept in ``.wheelhouse/sdists/`` (for offline rebuilds), by file name."""
        try:
            entries = sorted(os.scandir(self.sdist_dir), key=lambda e: e.name)
        except OSError:
            return ()
        kept: list[DistFile] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                name, version, kind, tags, _build = parse_dist_filename(entry.name)
                if kind != "sdist" or not entry.is_file():
                    continue
                size = entry.stat().st_size
            except (InvalidDistFilename, OSError):
                continue
            kept.append(DistFile(entry.name, name, version, "sdist", tags, entry.path, True, size=size))
        return tuple(kept)

    def keep_sdist(self, temp: Path, filename: str) -> Path:
        """Move a complete, verified sdist into ``.wheelhouse/sdists/`` atomically; returns its path."""
        if "/" in filename or "\\" in filename or filename.startswith(".") or "\0" in filename:
            raise StoreError(f"refusing unsafe file name {filename!r}")
        try:
            real_dir(self.sdist_dir)
            dest = self.sdist_dir / filename
            with open(temp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(temp, dest)
        except OSError as exc:
            raise StoreError(f"cannot keep {filename} in {self.sdist_dir}: {exc.strerror or exc}") from None
        fsync_dir(self.sdist_dir)
        return dest

    def hashes(self, filenames: Iterable[str]) -> dict[str, str]:
        """sha256 of each named wheel, computed once and cached in the manifest."""
        manifest = self._read_manifest()
        cache = manifest.get("files", {}) if manifest else {}
        out: dict[str, str] = {}
        changed = False
        for filename in filenames:
            path = self.root / filename
            st = path.stat()
            entry = cache.get(filename)
            if (
                isinstance(entry, dict)
                and entry.get("sha256")
                and entry.get("size") == st.st_size
                and entry.get("mtime_ns") == st.st_mtime_ns
            ):
                out[filename] = str(entry["sha256"])
                continue
            out[filename] = file_sha256(path)
            if isinstance(entry, dict) and entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns:
                entry["sha256"] = out[filename]
                changed = True
        if changed:
            self._save_cache(cache)
        return out

    # -- adding files ------------------------------------------------------------------------------------
    def new_temp(self, filename: str) -> Path:
        """A fresh temporary path on the folder's filesystem for a file that may later be committed."""
        real_dir(self.tmp_dir)
        return self.tmp_dir / f"{PARTIAL_PREFIX}{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}-{filename}"

    def commit(
        self, temp: Path, filename: str, record: FileRecord, *, save_record: bool = True, synced: bool = False
    ) -> Path:
        """Move a complete, verified temporary file into the folder and record where it came from.

        A file that already exists with the same name is kept when identical and refused when different: a
        wheelhouse never silently replaces one wheel with another of the same name. ``save_record=False``
        leaves the record to the caller, who saves many at once with :meth:`update_records`; ``synced=True``
        says the caller already flushed the file's content and will call :meth:`sync` for the directory.
        """
        if "/" in filename or "\\" in filename or filename.startswith(".") or "\0" in filename:
            raise StoreError(f"refusing unsafe file name {filename!r}")
        dest = self.root / filename
        if not synced:
            # Flush the content before taking the lock: parallel writers do not wait for each other's disks.
            fsync_file(temp)
        with self._exclusive():
            if dest.exists():
                existing = file_sha256(dest)
                with contextlib.suppress(OSError):
                    temp.unlink()
                if existing != record.sha256:
                    raise StoreError(
                        f"{dest} already exists with different content (sha256 {existing}, new {record.sha256})",
                        hint=f"run 'wheelhouse check' and move {filename} aside if it is corrupt",
                    )
            else:
                os.replace(temp, dest)
                if not synced:
                    fsync_dir(self.root)
            if not save_record:
                return dest
            try:
                self.update_records({filename: record}, prime=True)
            except StoreError as exc:
                # The file is complete and verified; only its record is missing, and the next run adds it.
                raise StoreError(f"{filename} is in the folder, but its record was not saved: {exc}") from None
        return dest

    def sync(self) -> None:
        """Make the renames of committed files durable (one directory fsync for many commits)."""
        fsync_dir(self.root)

    def remove(self, filenames: Iterable[str]) -> list[str]:
        """Delete wheels and their manifest entries (under the lock); returns what was removed."""
        removed: list[str] = []
        with self.lock():
            for filename in filenames:
                try:
                    (self.root / filename).unlink()
                    removed.append(filename)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    raise StoreError(f"cannot remove {self.root / filename}: {exc.strerror}") from None
            self.forget(removed)
        return removed

    def clean_stray(self, *, older_than: float = 0.0) -> list[str]:
        """Remove partial files left by interrupted runs. Only call while holding the lock."""
        self.check_state()
        cleaned: list[str] = []
        now = time.time()
        candidates: list[Path] = []
        if self.tmp_dir.is_dir():
            candidates.extend(self.tmp_dir.iterdir())
        if self.root.is_dir():
            candidates.extend(p for p in self.root.iterdir() if p.name.startswith(PARTIAL_PREFIX))
        if self.meta_dir.is_dir():
            candidates.extend(self.meta_dir.glob(f"{PARTIAL_PREFIX}*"))
        for path in candidates:
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime >= older_than:
                    path.unlink()
                    cleaned.append(path.name)
        return cleaned


class StoreFinder:
    """A :class:`wheelhouse.dists.Finder` over a scanned folder; never touches the network."""

    def __init__(self, scan: StoreScan) -> None:
        self.scan = scan
        self._by_name = scan.by_name()
        self._meta = {w.dist.filename: w.metadata for w in scan.wheels}
        self._sdists: dict[NormalizedName, list[DistFile]] = {}
        for sdist in scan.sdists:
            self._sdists.setdefault(sdist.name, []).append(sdist)
        root_sdists = {s.filename for s in scan.sdists}
        for sdist in scan.kept_sdists:
            # A kept sdist tells verify "only a source distribution is available" instead of "missing".
            if sdist.filename not in root_sdists:
                self._sdists.setdefault(sdist.name, []).append(sdist)

    def files(self, name: NormalizedName) -> list[DistFile]:
        return [w.dist for w in self._by_name.get(name, ())] + self._sdists.get(name, [])

    def metadata(self, dist: DistFile) -> CoreMetadata:
        try:
            return self._meta[dist.filename]
        except KeyError:
            raise StoreError(f"no metadata for {dist.filename}") from None
