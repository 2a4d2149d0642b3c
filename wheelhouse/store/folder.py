"""The wheels/ folder: scan, atomic additions, provenance, and the one way files enter or leave it.

Layout::

    wheels/
      *.whl                       what pip --find-links sees
      .wheelhouse/manifest.json   metadata cache and provenance records (store/manifest.py)
      .wheelhouse/lock            flock(2) target serialising writers across processes (store/lock.py)
      .wheelhouse/tmp/            partial downloads and staging; abandoned when seen by the lock's holder
      .wheelhouse/sdists/         source distributions kept for offline rebuilds
      .wheelhouse/proofs/         verify's answers while nothing they depend on changes (store/proofs.py)

Contract: the files are the truth and the manifest only a cache of them (a malformed, stale or transported
entry is dropped and the file read again). Every change to the folder happens under the folder's lock and is
atomic (temporary file in ``.wheelhouse/tmp/``, fsync, rename), so readers see a file whole or not at all. A
file never replaces another of the same name with other bytes, nor lands next to one it would shadow for pip
(store/shadow.py). Nothing under ``.wheelhouse/`` is followed through a symbolic link (store/fs.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName

from wheelhouse.dists import DIST_SUFFIXES, CoreMetadata, DistFile, InvalidDistFilename, parse_dist_filename
from wheelhouse.errors import LockTimeout, StoreError
from wheelhouse.store import fs as _fs
from wheelhouse.store import metadata as _metadata
from wheelhouse.store.fs import PARTIAL_PREFIX, file_sha256, fsync_dir, fsync_file, kind_of, real_dir, refuse_symlink
from wheelhouse.store.lock import FolderLock, remove_paths, stray_paths
from wheelhouse.store.manifest import (
    FileRecord,
    file_key,
    is_fresh,
    metadata_of,
    read_manifest,
    record_from,
    write_manifest,
)
from wheelhouse.store.shadow import collisions, shadowed, shadowing_wheels

# FileRecord is part of Store's interface (records, update_records, commit) and PARTIAL_PREFIX of the layout.
__all__ = [
    "META_DIR",
    "PARTIAL_PREFIX",
    "STATE_ENTRIES",
    "FileRecord",
    "Store",
    "StoreFinder",
    "StoreProblem",
    "StoreScan",
    "StoredWheel",
]

META_DIR = ".wheelhouse"
# wheelhouse's own files and folders inside META_DIR: none of them is ever followed through a symbolic link.
STATE_ENTRIES = ("lock", "manifest.json", "tmp", "quarantine", "sdists", "logs", "index", "builds", "proofs")


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
    stray: tuple[str, ...] = ()  # partial files and folders, relative to the folder
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


def _metadata_entry(path: Path) -> dict[str, Any]:
    """The manifest's cached metadata of a wheel (``metadata``, or the ``problem`` reading it)."""
    try:
        parse_dist_filename(path.name)
        return {"metadata": asdict(_metadata.read_wheel_metadata(path))}
    except InvalidDistFilename as exc:
        return {"problem": f"not a valid wheel or sdist file name ({exc})"}
    except ValueError as exc:
        return {"problem": str(exc)}


def _unsafe_name(filename: str) -> bool:
    return "/" in filename or "\\" in filename or filename.startswith(".") or "\0" in filename


class Store:
    """A wheels/ folder."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._lock = FolderLock(self.meta_dir / "lock", self.root, self.ensure)

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
            hint = f"make {self.root} writable (or pass --wheels DIR)"
            if self.meta_dir.exists() and not self.meta_dir.is_dir():  # not a permission problem: the name is taken
                hint = f"move {self.meta_dir} out of the way; wheelhouse keeps its state in that folder"
            raise StoreError(f"cannot create {what}: {exc.strerror or exc}", hint=hint) from None

    # -- locking -----------------------------------------------------------------------------------------
    def lock(
        self,
        *,
        wait: bool = True,
        timeout: float | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> contextlib.AbstractContextManager[None]:
        """Hold the folder's exclusive lock; re-entrant within this process.

        ``on_wait`` is called once with a message when another process holds the lock and we wait for it.
        """
        return self._lock.hold(wait=wait, timeout=timeout, on_wait=on_wait)

    def _exclusive(self, *, wait: bool = True) -> contextlib.AbstractContextManager[None]:
        """The folder's lock plus this process's manifest mutex: for read-modify-write of the manifest."""
        return self._lock.exclusive(wait=wait)

    # -- manifest ----------------------------------------------------------------------------------------
    def _read_manifest(self) -> dict[str, Any]:
        return read_manifest(self.manifest_path)

    def _present(self) -> set[str]:
        """Names of the files manifest entries may describe: the folder's and the kept sdists'."""
        names: set[str] = set()
        for directory in (self.root, self.sdist_dir):
            with contextlib.suppress(OSError):
                names.update(os.listdir(directory))
        return names

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        try:
            # Refused rather than replaced: a link here means someone else's hand is in the state folder.
            refuse_symlink(self.manifest_path)
            write_manifest(self.manifest_path, manifest, self._present())
        except OSError as exc:
            # A full disk or a read-only folder: the old manifest is intact (atomic write); say so in one line.
            raise StoreError(
                f"cannot write {self.manifest_path}: {exc.strerror or exc}",
                hint=f"free space or make {self.root} writable, then run the command again",
            ) from None

    def records(self) -> dict[str, FileRecord]:
        """Provenance records, by file name (malformed ones are left out)."""
        return _records(self._read_manifest().get("records", {}))

    def update_records(
        self,
        updates: Mapping[str, FileRecord],
        *,
        replace: bool = False,
        prime: bool = False,
        known: Mapping[str, CoreMetadata] | None = None,
    ) -> None:
        """Merge provenance records into the manifest (under the lock).

        ``prime=True`` says each file was committed from exactly the bytes its record hashes (a verified
        download): the hash then also primes the metadata cache, so lock, index and check need not read it again.
        Never prime from an old record: the file may have changed since, and check must see that. ``known`` gives
        the metadata already read from those very bytes (by the store's reader, checked against the file name):
        a large wheel's is then not read a second time.
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
                if prime and record.sha256:
                    with contextlib.suppress(OSError):
                        st = (self.root / filename).stat()
                        # An entry of an earlier file of that name (other inode or ctime) is replaced whole.
                        base = cached if is_fresh(cached, st) else file_key(st)
                        if base.get("sha256"):
                            continue
                        entry = {**base, "sha256": record.sha256}
                        if filename.endswith(".whl") and "metadata" not in entry and "problem" not in entry:
                            # Read now, while the downloads of other files are still arriving, rather than by
                            # the scan of the verify that follows them.
                            meta = known.get(filename) if known else None
                            entry.update({"metadata": asdict(meta)} if meta else _metadata_entry(self.root / filename))
                        files[filename] = entry
            self._write_manifest(manifest)

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
        """Read the folder; open only wheels the manifest does not describe as they are now (see manifest.py)."""
        return _scan(self)

    def _save_cache(self, files: dict[str, Any]) -> None:
        """Store the metadata cache when we can take the lock at once; skipping is harmless (it is a cache)."""
        try:
            with self._exclusive(wait=False):
                manifest = self._read_manifest() or {"files": {}, "records": {}}
                # Merge rather than replace: a file committed while we scanned keeps its cached hash.
                manifest["files"] = {**manifest.get("files", {}), **files}
                self._write_manifest(manifest)
        except (LockTimeout, StoreError, OSError):
            # Read-only folder, full disk, a busy writer or a link in the state folder: the next run reads again.
            return

    def kept_sdists(self) -> tuple[DistFile, ...]:
        """The source distributions kept in ``.wheelhouse/sdists/`` (for offline rebuilds), by file name."""
        return _kept_sdists(self.sdist_dir)

    def keep_sdist(self, temp: Path, filename: str) -> Path:
        """Move a complete, verified sdist into ``.wheelhouse/sdists/`` atomically; returns its path."""
        if _unsafe_name(filename):
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
        """sha256 of each named file, one this code stands behind: computed here, now or when the file was
        committed, and cached with the file's inode and ctime (a hash that arrived with the folder, or was
        edited into the manifest, is never taken)."""
        manifest = self._read_manifest()
        cache = manifest.get("files", {}) if manifest else {}
        out: dict[str, str] = {}
        changed = False
        for filename in filenames:
            path = self.root / filename
            st = path.stat()
            entry = cache.get(filename)
            if is_fresh(entry, st) and entry.get("sha256"):
                out[filename] = str(entry["sha256"])
                continue
            out[filename] = file_sha256(path)
            # Compare with the stat taken before hashing: a file that changed meanwhile is not cached.
            if is_fresh(entry, st):
                entry["sha256"] = out[filename]
                changed = True
        if changed:
            self._save_cache(cache)
        return out

    # -- adding and removing files -------------------------------------------------------------------------
    def new_temp(self, filename: str) -> Path:
        """A fresh temporary path on the folder's filesystem for a file (or folder) that may later be committed.

        Hold the folder's lock until it is committed or removed: whoever holds the lock next takes every
        partial file for abandoned (store/lock.py).
        """
        self.check_state()
        real_dir(self.tmp_dir)
        return self.tmp_dir / _fs.partial_name(filename)

    def commit(
        self, temp: Path, filename: str, record: FileRecord, *, save_record: bool = True, synced: bool = False
    ) -> Path:
        """Move a complete, verified temporary file into the folder and record where it came from.

        A file that already exists with the same name is kept when identical and refused when different, and
        so is a file that another one already present would shadow for pip (store/shadow.py): a wheelhouse
        never silently replaces one wheel with another. ``save_record=False`` leaves the record to the caller,
        who saves many at once with :meth:`update_records`; ``synced=True`` says the caller already flushed
        the file's content and will call :meth:`sync` for the directory.
        """
        if _unsafe_name(filename):
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
                self._refuse_shadow(temp, filename, record.sha256)
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

    def _refuse_shadow(self, temp: Path, filename: str, sha256: str) -> None:
        if not collisions(filename, os.listdir(self.root)):
            return  # the common case: nothing to hash
        clashes = shadowed(self.root, filename, sha256 or file_sha256(temp))
        if clashes:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise StoreError(
                f"refusing {filename}: {clashes[0]} is already in {self.root} for the same project and version, "
                "with other content (pip would pick one of the two by its name alone)",
                hint=f"if {filename} is the right one, remove {clashes[0]} first ('wheelhouse prune' or rm)",
            )

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

    def clean_stray(self) -> list[str]:
        """Remove every partial file and folder: call it holding the lock, which says they are abandoned."""
        self.check_state()
        return remove_paths(stray_paths(self.root, self.tmp_dir))


def _records(raw_records: Mapping[str, Any]) -> dict[str, FileRecord]:
    """The well-formed records of a manifest's ``records`` section, by file name."""
    out: dict[str, FileRecord] = {}
    for filename, raw in raw_records.items():
        record = record_from(raw)
        if record is not None:
            out[filename] = record
    return out


def _scan(store: Store) -> StoreScan:
    """The body of :meth:`Store.scan`."""
    if not store.root.exists():
        return StoreScan(root=store.root)
    if not store.root.is_dir():
        raise StoreError(f"{store.root} is not a directory")
    try:
        entries = list(os.scandir(store.root))
    except OSError as exc:
        raise StoreError(f"cannot read the wheels folder {store.root}: {exc.strerror or exc}") from None
    manifest = store._read_manifest()
    cache: dict[str, Any] = manifest.get("files", {}) if manifest else {}
    raw_records = manifest.get("records", {}) if manifest else {}
    new_cache: dict[str, Any] = {}
    wheels: list[StoredWheel] = []
    sdists: list[DistFile] = []
    problems: list[StoreProblem] = []
    opened = 0
    root_text = str(store.root)
    for entry in sorted(entries, key=lambda e: e.name):
        filename = entry.name
        if filename.startswith("."):
            continue
        try:
            if not entry.is_file():
                # pip's --find-links sees these names too, and fails on them: say what they are.
                if filename.endswith(DIST_SUFFIXES):
                    problems.append(StoreProblem(filename, f"not a regular file ({kind_of(entry)})"))
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
        # str(Path(entry.path)), without a Path per file: the root's text is already normal, a name has no "/".
        location = filename if root_text == "." else os.path.join(root_text, filename)
        if kind == "sdist":
            sdists.append(DistFile(filename, name, version, "sdist", tags, location, True, size=st.st_size))
            continue
        cached = cache.get(filename)
        entry_cache: dict[str, Any]
        if is_fresh(cached, st) and ("metadata" in cached or "problem" in cached):
            entry_cache = cached
        else:
            opened += 1
            entry_cache = file_key(st)
            if is_fresh(cached, st) and cached.get("sha256"):
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
        meta = metadata_of(entry_cache)
        dist = DistFile(
            filename=filename,
            name=name,
            version=version,
            kind="wheel",
            tags=tags,
            location=location,
            local=True,
            build=build,
            requires_python=meta.requires_python,
            sha256=entry_cache.get("sha256"),
            size=st.st_size,
        )
        wheels.append(StoredWheel(dist, meta, st.st_mtime))
    if new_cache != cache:
        store._save_cache(new_cache)
    shadowing = shadowing_wheels(store, [(w.dist.filename, w.dist.name, w.dist.version) for w in wheels])
    if shadowing:
        problems += [StoreProblem(f, reason) for f, reason in shadowing.items()]
        problems.sort(key=lambda p: p.filename)
        wheels = [w for w in wheels if w.dist.filename not in shadowing]
    return StoreScan(
        root=store.root,
        wheels=tuple(wheels),
        sdists=tuple(sdists),
        problems=tuple(problems),
        stray=tuple(str(p.relative_to(store.root)) for p in stray_paths(store.root, store.tmp_dir)),
        records=_records(raw_records),
        opened=opened,
        kept_sdists=store.kept_sdists(),
    )


def _kept_sdists(sdist_dir: Path) -> tuple[DistFile, ...]:
    """The source distributions kept in ``.wheelhouse/sdists/`` (for offline rebuilds), by file name."""
    if sdist_dir.is_symlink():
        return ()
    try:
        entries = sorted(os.scandir(sdist_dir), key=lambda e: e.name)
    except OSError:
        return ()
    kept: list[DistFile] = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            name, version, kind, tags, _build = parse_dist_filename(entry.name)
            if kind != "sdist" or not entry.is_file(follow_symlinks=False):
                continue
            size = entry.stat().st_size
        except (InvalidDistFilename, OSError):
            continue
        kept.append(DistFile(entry.name, name, version, "sdist", tags, entry.path, True, size=size))
    return tuple(kept)


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
