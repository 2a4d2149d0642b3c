"""Bundles: move a wheelhouse, or the part of it some targets need, into a network that cannot download.

A bundle is a plain tar file::

    wheels/<file>.whl   every wheel, in name order
    SHA256SUMS          "<sha256>  wheels/<file>" lines: ``sha256sum -c SHA256SUMS`` works after ``tar xf``
    manifest.json       format, generator, targets, and each file's provenance (url, targets, sources)

:func:`export_bundle` writes it deterministically (sorted members, fixed owner and times) and atomically; it
reads each wheel once, hashing as it goes, and refuses a wheel whose bytes differ from the hash recorded when
it was downloaded. :func:`import_bundle` treats a bundle as hostile until proven otherwise: it reads the tar
as a stream (bounded memory, compressed or not), refuses the whole bundle on any member that is not a plain
wheel under ``wheels/`` (links, devices, absolute paths, ``..``, a name given twice), stages every wheel in the
folder's temporary directory while hashing it, and adds nothing until every checksum matches, every wheel passes
:func:`wheelhouse.share.wheel_check.inspect_wheel`, and no file would replace a different one of the same name.
Staging is bounded before a byte is written: a member may not unpack to more than the free space, nor the wheels
to more than :data:`MAX_UNPACK_RATIO` times the bundle's size. The manifest's provenance is another machine's
word: URLs lose their credentials and target names that are not targets are dropped before anything is kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tarfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from wheelhouse import __version__
from wheelhouse._text import redact, shorten
from wheelhouse._text import size as human_size
from wheelhouse.dists import InvalidDistFilename, parse_dist_filename
from wheelhouse.errors import StoreError, WheelhouseError
from wheelhouse.index.auth import split_credentials
from wheelhouse.store.folder import FileRecord, Store
from wheelhouse.store.fs import file_sha256, open_output
from wheelhouse.store.shadow import collisions, shadowed

BUNDLE_FORMAT = 1
CHECKSUMS = "SHA256SUMS"
MANIFEST = "manifest.json"
WHEELS_DIR = "wheels"
# The checksum list and the manifest are read into memory; real ones are a few hundred bytes per wheel.
MAX_INDEX_MEMBER_BYTES = 64 * 1024 * 1024
# Wheels are zip files, already compressed: a bundle of them, gzipped or not, unpacks to about its own size. A
# far larger ratio is a decompression bomb, refused before it is written to disk.
MAX_UNPACK_RATIO = 100
_CHUNK = 1024 * 1024


class BundleError(WheelhouseError):
    """A bundle that cannot be written, or that is refused on import (nothing was added)."""


@dataclass(frozen=True)
class BundleFile:
    """A wheel in a bundle."""

    filename: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_bundle` wrote."""

    bundle: Path
    files: tuple[BundleFile, ...]
    targets: tuple[str, ...] = ()
    size: int = 0  # bytes of the bundle file


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_bundle` did: ``added`` are new in the folder, ``present`` were already there."""

    bundle: Path
    added: tuple[BundleFile, ...] = ()
    present: tuple[BundleFile, ...] = ()
    targets: tuple[str, ...] = ()


# -- export ------------------------------------------------------------------------------------------------


class _HashingReader(io.RawIOBase):
    """A read-only stream that hashes what passes through it."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.digest = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.fh.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.digest.update(data)
        self.count += n
        return n


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    # Fixed owner and time: the same files make the same bundle, byte for byte.
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def export_bundle(
    store: Store,
    dest: Path,
    filenames: Iterable[str] | None = None,
    *,
    targets: Sequence[str] = (),
    on_file: Callable[[str, int, int], None] | None = None,
) -> ExportResult:
    """Write ``filenames`` (default: every wheel) with checksums and provenance to the tar ``dest``.

    ``targets`` are recorded in the manifest (what the bundle was chosen for). ``on_file(filename, done,
    total)`` reports progress. Raises BundleError when a wheel cannot be read or differs from its recorded
    hash (nothing is left at ``dest`` then), StoreError when the folder cannot be read.
    """
    _refuse_inside(store, dest)
    scan = store.scan()
    present = {w.dist.filename: w for w in scan.wheels}
    if filenames is None:
        chosen = sorted(present)
    else:
        chosen = sorted(set(filenames))
        missing = [f for f in chosen if f not in present]
        if missing:
            raise BundleError(f"not in the wheels folder: {', '.join(missing)}", hint="wheelhouse download ...")
    records = scan.records
    files: list[BundleFile] = []
    streamed = False
    try:
        # A file is replaced whole (temporary file, fsync, rename; never written through a link); a device or a
        # pipe (export /dev/stdout | ssh ...) is written into, never renamed over (store/fs.py).
        with open_output(dest) as (out, streamed), tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
            for done, filename in enumerate(chosen, 1):
                files.append(_add_wheel(tf, store.root / filename, records.get(filename)))
                if on_file is not None:
                    on_file(filename, done, len(chosen))
            sums = "".join(f"{f.sha256}  {WHEELS_DIR}/{f.filename}\n" for f in files).encode()
            tf.addfile(_tarinfo(CHECKSUMS, len(sums)), io.BytesIO(sums))
            manifest = _manifest_bytes(files, records, targets)
            tf.addfile(_tarinfo(MANIFEST, len(manifest)), io.BytesIO(manifest))
    except OSError as exc:
        raise BundleError(f"cannot write the bundle {dest}: {exc.strerror or exc}") from None
    return ExportResult(dest, tuple(files), tuple(targets), 0 if streamed else dest.stat().st_size)


def _refuse_inside(store: Store, dest: Path) -> None:
    """BundleError when ``dest`` is in the wheels folder: it would overwrite a wheel, or be taken for one."""
    root = store.root.resolve()
    where = dest.parent.resolve() / dest.name
    if where == root or root in where.parents:
        raise BundleError(
            f"refusing to write the bundle {dest} inside the wheels folder {store.root}",
            hint="name a bundle outside the folder, e.g. wheelhouse export ../bundle.tar",
        )


def _add_wheel(tf: tarfile.TarFile, path: Path, record: FileRecord | None) -> BundleFile:
    from wheelhouse.share._own import open_own

    with open_own(path, BundleError, "export") as fh:
        size = os.fstat(fh.fileno()).st_size
        reader = _HashingReader(fh)
        tf.addfile(_tarinfo(f"{WHEELS_DIR}/{path.name}", size), io.BufferedReader(reader, _CHUNK))
    if reader.count != size:
        raise BundleError(f"{path} changed size while it was being read", hint="run the export again")
    sha256 = reader.digest.hexdigest()
    if record is not None and record.sha256 and record.sha256 != sha256:
        raise BundleError(
            f"{path.name} differs from the file that was downloaded (sha256 {sha256}, recorded {record.sha256})",
            hint=f"wheelhouse check --fix --wheels {path.parent}",
        )
    return BundleFile(path.name, sha256, size)


def _manifest_bytes(files: Sequence[BundleFile], records: Mapping[str, FileRecord], targets: Sequence[str]) -> bytes:
    entries: dict[str, Any] = {}
    for f in files:
        record = records.get(f.filename)
        entries[f.filename] = {
            "sha256": f.sha256,
            "size": f.size,
            "url": record.url if record else None,
            "targets": list(record.targets) if record else [],
            "sources": list(record.sources) if record else [],
            "built_by": record.built_by if record else None,
        }
    data = {
        "format": BUNDLE_FORMAT,
        "generator": f"wheelhouse {__version__}",
        "targets": list(targets),
        "files": entries,
    }
    return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()


# -- import ------------------------------------------------------------------------------------------------


def _member_path(member: tarfile.TarInfo) -> str:
    """The member's name, normalised; BundleError for anything that could land outside the folder."""
    raw = member.name
    name = raw
    while name.startswith("./"):
        name = name[2:]
    parts = PurePosixPath(name).parts
    if (
        not name
        or raw.startswith("/")
        or "\\" in raw
        or "\0" in raw
        or ".." in parts
        or "." in name.split("/")[:-1]
        or (parts and ":" in parts[0])
    ):
        raise BundleError(f"refusing the bundle: member {raw!r} has an unsafe path", hint=_HOSTILE_HINT)
    return name.rstrip("/")


_HOSTILE_HINT = "a bundle written by 'wheelhouse export' holds only wheels/<file>.whl, SHA256SUMS and manifest.json"


def _read_small(tf: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    if member.size > MAX_INDEX_MEMBER_BYTES:
        raise BundleError(f"refusing the bundle: {member.name} is {member.size} bytes", hint=_HOSTILE_HINT)
    fh = tf.extractfile(member)
    if fh is None:
        raise BundleError(f"refusing the bundle: {member.name} cannot be read", hint=_HOSTILE_HINT)
    return fh.read(MAX_INDEX_MEMBER_BYTES + 1)


def _parse_checksums(data: bytes) -> dict[str, str]:
    sums: dict[str, str] = {}
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        if not sep:
            digest, sep, name = line.partition(" *")  # sha256sum's binary-mode marker
        digest = digest.strip().lower()
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise BundleError(f"refusing the bundle: {CHECKSUMS}:{number} is not '<sha256>  <file>'")
        name = name.strip()
        if name.startswith("./"):
            name = name[2:]
        if name in sums:
            raise BundleError(f"refusing the bundle: {CHECKSUMS} lists {name} twice")
        sums[name] = digest
    return sums


def _parse_manifest(data: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise BundleError(f"refusing the bundle: {MANIFEST} is not valid JSON ({exc})") from None
    except RecursionError:
        raise BundleError(f"refusing the bundle: {MANIFEST} nests too deeply", hint=_HOSTILE_HINT) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files", {}), dict):
        raise BundleError(f"refusing the bundle: {MANIFEST} is not a wheelhouse bundle manifest")
    if manifest.get("format", BUNDLE_FORMAT) != BUNDLE_FORMAT:
        raise BundleError(
            f"the bundle's format {shorten(repr(manifest.get('format')), 40)} is not one this wheelhouse reads "
            f"({BUNDLE_FORMAT})",
            hint="export it again with this version, or upgrade wheelhouse here",
        )
    return manifest


def _target_names(value: Any) -> tuple[str, ...]:
    """The names of a manifest's list that are target names as export writes them (``Target.name``): they are
    printed as ``--target`` arguments of a command to run and kept in the folder's records."""
    from wheelhouse.targets import parse_target

    def valid(name: object) -> bool:
        with contextlib.suppress(WheelhouseError, ValueError):
            return isinstance(name, str) and parse_target(name).name == name
        return False

    return tuple(dict.fromkeys(n for n in value if valid(n))) if isinstance(value, list) else ()


def _without_credentials(url: Any) -> str | None:
    """A manifest's URL without its userinfo (as a download records it), or None when it is no URL string."""
    with contextlib.suppress(ValueError):
        return split_credentials(url)[0] if isinstance(url, str) else None
    return None


def _record_from(entry: Any, sha256: str, now: float) -> FileRecord:
    if not isinstance(entry, dict):
        return FileRecord(sha256=sha256, added=now)
    # Kept under wheels/ and shown by show and list: a credential in any of them would be stored and printed.
    sources = entry.get("sources")
    built_by = entry.get("built_by")
    return FileRecord(
        sha256=sha256,
        url=_without_credentials(entry.get("url")),
        added=now,
        targets=_target_names(entry.get("targets")),
        sources=tuple(redact(str(v)) for v in sources) if isinstance(sources, list) else (),
        built_by=redact(built_by) if isinstance(built_by, str) else None,
    )


def import_bundle(
    store: Store,
    bundle: Path,
    *,
    on_file: Callable[[str], None] | None = None,
) -> ImportResult:
    """Add the wheels of ``bundle`` to the folder, all or nothing; see the module docstring for the checks.

    Wheels already present with the same content are kept (their records are merged). Raises BundleError
    naming the first reason when the bundle is refused; the folder is then exactly as it was (and a folder
    the import created is removed again).
    """
    if not bundle.is_file():
        why = "it is not a regular file" if bundle.exists() else "it does not exist"
        raise BundleError(
            f"no bundle at {bundle}: {why}", hint="wheelhouse export BUNDLE.tar on the machine that has the wheels"
        )
    # A refused bundle leaves the file system as it was: what this import makes of a new folder goes again.
    created = [d for d in (store.meta_dir, *store.meta_dir.parents) if not os.path.lexists(d)]
    try:
        return _import(store, bundle, on_file)
    except BaseException:
        _remove_created(store, created)
        raise


def _import(store: Store, bundle: Path, on_file: Callable[[str], None] | None) -> ImportResult:
    from wheelhouse.share.wheel_check import inspect_wheel

    store.ensure()
    # The lock is held from staging to the last commit: a staging folder left by a killed import is then known
    # to be abandoned by the next process that holds the lock, which removes it.
    with store.lock():
        staging = store.new_temp("import")
        staging.mkdir()
        try:
            staged, sums, manifest = _stage(bundle, staging, on_file)
            _verify_staged(staged, sums)
            names = sorted(staged)
            # zlib and hashlib release the GIL, so wheels are checked side by side.
            with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
                checked = pool.map(lambda f: inspect_wheel(staging / f), names)
                for filename, inspection in zip(names, checked, strict=True):
                    if not inspection.ok:
                        reason = inspection.findings[0].message
                        raise BundleError(f"refusing the bundle: {filename} is broken: {reason}")
            return _commit(store, bundle, staging, staged, manifest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _remove_created(store: Store, created: Sequence[Path]) -> None:
    """Remove the ``created`` directories (deepest first), the lock and the temporary folder in them: each only
    when it holds nothing else, so a wheel or a file of another process is never removed."""
    with contextlib.suppress(OSError):
        if created and set(os.listdir(store.meta_dir)) <= {"lock", "tmp"}:
            (store.meta_dir / "lock").unlink()
    for directory in (store.tmp_dir, *created) if created else ():
        with contextlib.suppress(OSError):
            directory.rmdir()


def _stage(
    bundle: Path, staging: Path, on_file: Callable[[str], None] | None
) -> tuple[dict[str, BundleFile], dict[str, str] | None, dict[str, Any]]:
    staged: dict[str, BundleFile] = {}
    sums: dict[str, str] | None = None
    manifest: dict[str, Any] = {}
    seen: set[str] = set()
    try:
        # The bundle's own size bounds what its wheels may unpack to (see MAX_UNPACK_RATIO).
        budget = max(bundle.stat().st_size, 1) * MAX_UNPACK_RATIO
        # Stream mode: members are read in order, once, so a bundle of any size costs a chunk of memory.
        with tarfile.open(bundle, mode="r|*") as tf:
            for member in tf:
                name = _member_path(member)
                if name in seen and not member.isdir():
                    # A second copy would silently win over the first, which is the one that may have been checked.
                    raise BundleError(f"refusing the bundle: {name} appears twice", hint=_HOSTILE_HINT)
                seen.add(name)
                if member.isdir():
                    if name not in ("", ".", WHEELS_DIR):
                        raise BundleError(
                            f"refusing the bundle: unexpected directory {member.name!r}", hint=_HOSTILE_HINT
                        )
                    continue
                if not member.isreg():
                    kind = "a link" if member.issym() or member.islnk() else "not a regular file"
                    raise BundleError(f"refusing the bundle: member {member.name!r} is {kind}", hint=_HOSTILE_HINT)
                if name == CHECKSUMS:
                    sums = _parse_checksums(_read_small(tf, member))
                elif name == MANIFEST:
                    manifest = _parse_manifest(_read_small(tf, member))
                else:
                    filename = _wheel_member(name)
                    budget -= member.size
                    _refuse_unpacking(bundle, member, staging, over_ratio=budget < 0)
                    if on_file is not None:
                        on_file(filename)
                    staged[filename] = _extract(tf, member, staging / filename)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise BundleError(f"{bundle} is not a readable tar file ({exc})", hint=_HOSTILE_HINT) from None
    return staged, sums, manifest


def _wheel_member(name: str) -> str:
    prefix, sep, filename = name.partition("/")
    if prefix != WHEELS_DIR or not sep or "/" in filename:
        raise BundleError(f"refusing the bundle: unexpected member {name!r}", hint=_HOSTILE_HINT)
    try:
        kind = parse_dist_filename(filename)[2]
    except InvalidDistFilename:
        kind = None
    if kind != "wheel" or filename.startswith("."):
        raise BundleError(f"refusing the bundle: {name!r} is not a wheel", hint=_HOSTILE_HINT)
    return filename


def _refuse_unpacking(bundle: Path, member: tarfile.TarInfo, staging: Path, *, over_ratio: bool) -> None:
    """BundleError before ``member`` is staged when the wheels would unpack to more than MAX_UNPACK_RATIO times
    the bundle's size; StoreError when the member's declared size exceeds the free space of the staging folder."""
    if over_ratio:
        raise BundleError(
            f"refusing the bundle: its wheels would unpack to more than {MAX_UNPACK_RATIO} times its "
            f"{human_size(bundle.stat().st_size)} ({member.name} alone is {human_size(member.size)})",
            hint=_HOSTILE_HINT,
        )
    if member.size > (free := shutil.disk_usage(staging).free):
        raise StoreError(
            f"cannot import {bundle}: {member.name} is {human_size(member.size)}, more than the "
            f"{human_size(free)} free in {staging.parent}",
            hint="free some space, or import into a folder on another disk (--wheels DIR)",
        )


def _extract(tf: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> BundleFile:
    src = tf.extractfile(member)
    if src is None:
        raise BundleError(f"refusing the bundle: {member.name} cannot be read")
    digest = hashlib.sha256()
    size = 0
    try:
        out = open(dest, "wb")  # noqa: SIM115 - closed below; only its own errors are StoreErrors
    except OSError as exc:
        raise StoreError(f"cannot stage {dest.name} in {dest.parent}: {exc.strerror or exc}") from None
    with out:
        # Read errors (a truncated or damaged bundle) propagate to _stage, which names the bundle.
        while chunk := src.read(_CHUNK):
            if size + len(chunk) > member.size:
                # The header's size is what the free-space and ratio checks allowed: nothing beyond it is written.
                raise BundleError(
                    f"refusing the bundle: {member.name} holds more than its declared {member.size} bytes"
                )
            digest.update(chunk)
            try:
                out.write(chunk)
            except OSError as exc:
                raise StoreError(f"cannot stage {dest.name} in {dest.parent}: {exc.strerror or exc}") from None
            size += len(chunk)
        try:
            out.flush()
            os.fsync(out.fileno())
        except OSError as exc:
            raise StoreError(f"cannot stage {dest.name} in {dest.parent}: {exc.strerror or exc}") from None
    if size != member.size:
        raise BundleError(f"refusing the bundle: {member.name} is truncated ({size} of {member.size} bytes)")
    return BundleFile(dest.name, digest.hexdigest(), size)


def _verify_staged(staged: Mapping[str, BundleFile], sums: Mapping[str, str] | None) -> None:
    if sums is None:
        raise BundleError(f"refusing the bundle: it has no {CHECKSUMS}", hint=_HOSTILE_HINT)
    for filename, f in sorted(staged.items()):
        want = sums.get(f"{WHEELS_DIR}/{filename}")
        if want is None:
            raise BundleError(f"refusing the bundle: {filename} has no checksum in {CHECKSUMS}")
        if want != f.sha256:
            raise BundleError(
                f"refusing the bundle: checksum mismatch for {filename} (sha256 {f.sha256}, {CHECKSUMS} says {want})",
                hint="copy the bundle again; it was damaged on the way",
            )
    listed = {name.removeprefix(f"{WHEELS_DIR}/") for name in sums}
    missing = sorted(listed - set(staged))
    if missing:
        raise BundleError(f"refusing the bundle: {CHECKSUMS} lists {missing[0]} but the bundle does not hold it")


def _commit(
    store: Store, bundle: Path, staging: Path, staged: Mapping[str, BundleFile], manifest: Mapping[str, Any]
) -> ImportResult:
    entries = manifest.get("files", {})
    now = time.time()
    added: list[BundleFile] = []
    present: list[BundleFile] = []
    # One lock for the conflict check and every commit (re-entered: import_bundle holds it): no other process
    # can slip a different file in between.
    with store.lock():
        _refuse_shadows(store, staged)
        conflicts = []
        for filename, f in sorted(staged.items()):
            existing = store.root / filename
            if existing.is_symlink() or (existing.exists() and not existing.is_file()):
                raise BundleError(
                    f"refusing the bundle: {existing} is in the way of {filename} (it is not a regular file)",
                    hint=f"move {existing} out of the wheels folder",
                )
            if existing.exists():
                try:
                    sha = file_sha256(existing)
                except OSError as exc:
                    raise StoreError(f"cannot read {existing}: {exc.strerror or exc}") from None
                if sha != f.sha256:
                    conflicts.append(filename)
                else:
                    present.append(f)
        if conflicts:
            raise BundleError(
                f"refusing the bundle: {conflicts[0]} is already in {store.root} with different content"
                + (f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""),
                hint=f"run 'wheelhouse check --wheels {store.root}'; move the folder's copy aside if it is corrupt",
            )
        same = {f.filename for f in present}
        for filename, f in sorted(staged.items()):
            record = _record_from(entries.get(filename), f.sha256, now)
            if filename in same:
                store.update_records({filename: record})
                continue
            store.commit(staging / filename, filename, record)
            added.append(f)
    return ImportResult(bundle, tuple(added), tuple(present), _target_names(manifest.get("targets")))


def _refuse_shadows(store: Store, staged: Mapping[str, BundleFile]) -> None:
    """BundleError naming both files when a staged wheel would shadow another for pip (store/shadow.py)."""
    names = sorted(staged)
    for filename in names:
        f = staged[filename]
        for other in collisions(filename, names):
            if staged[other].sha256 != f.sha256:
                raise BundleError(
                    f"refusing the bundle: it holds both {filename} and {other}, the same project and version "
                    "with other content (pip would pick one of the two by its name alone)",
                    hint=_HOSTILE_HINT,
                )
        clashes = shadowed(store.root, filename, f.sha256)
        if clashes:
            raise BundleError(
                f"refusing the bundle: {filename} would shadow {clashes[0]}, already in {store.root} for the same "
                "project and version with other content (pip would pick one of the two by its name alone)",
                hint=f"if the bundle's file is the right one, remove {clashes[0]} first, then import again",
            )
