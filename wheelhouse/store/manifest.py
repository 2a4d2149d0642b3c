"""The folder's manifest, ``wheels/.wheelhouse/manifest.json``: a cache of what reading the wheels says, plus
provenance records. It is never the source of truth.

Contract:

* ``files``: per wheel, what reading it gave (``metadata`` or the ``problem`` found) and, once computed here,
  its ``sha256``, keyed by the file's size, mtime, inode and ctime (:func:`file_key`). A file whose key differs
  is read again. Inode and ctime are not carried by git, rsync, a copy or a bundle and cannot be set by a
  user, so an entry that arrives with a folder is never taken for the file's. Anyone who can write the folder
  can still copy a file's key into an entry of their own: so the manifest is written with a seal beside it
  (``manifest.seal``, :mod:`wheelhouse.store.seal`), and a manifest whose seal is not this user's has its
  ``files`` ignored, as if empty.
* ``records``: per file, its provenance (:class:`FileRecord`): the sha256 it had when it was added, its URL,
  targets and sources.
* Every entry is validated when read (:func:`read_manifest`): an entry of the wrong shape is dropped, as if it
  had never been written, so the file is read again; nothing in the manifest can crash a command or change
  what it reports. A manifest that is not a regular file (a named pipe), is larger than
  :data:`MAX_MANIFEST_BYTES` or nests deeper than JSON decoding allows is read as missing.
* It is written atomically (:func:`write_manifest`), only under the folder's lock, and a write drops the
  entries of files that are gone.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from packaging.utils import canonicalize_name, canonicalize_version

from wheelhouse import _log
from wheelhouse.dists import CoreMetadata
from wheelhouse.store.fs import atomic_write, read_bounded
from wheelhouse.store.seal import seal, sealed

MANIFEST_FORMAT = 1
# Far more than any folder's manifest (about 1 kB per wheel); a larger file is not one wheelhouse wrote.
MAX_MANIFEST_BYTES = 512 * 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")


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


def file_key(st: os.stat_result) -> dict[str, Any]:
    """The identity of a file's current content for the cache: size, mtime, inode and ctime."""
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino, "ctime_ns": st.st_ctime_ns}


def is_fresh(entry: object, st: os.stat_result) -> TypeGuard[dict[str, Any]]:
    """Whether a (validated) ``files`` entry describes the file whose stat is ``st``."""
    # file_key(st), compared field by field without building it: this runs for every file of the folder.
    return (
        isinstance(entry, dict)
        and entry.get("size") == st.st_size
        and entry.get("mtime_ns") == st.st_mtime_ns
        and entry.get("ino") == st.st_ino
        and entry.get("ctime_ns") == st.st_ctime_ns
    )


def metadata_of(entry: dict[str, Any]) -> CoreMetadata:
    """The CoreMetadata of a validated ``files`` entry that has ``metadata``."""
    md = entry["metadata"]
    return CoreMetadata(
        name=md["name"],
        version=md["version"],
        requires_dist=tuple(md.get("requires_dist", ())),
        requires_python=md.get("requires_python"),
        provides_extra=tuple(md.get("provides_extra", ())),
    )


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _valid_metadata(filename: str, md: object) -> bool:
    if not isinstance(md, dict):
        return False
    name, version = md.get("name"), md.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return False
    if not _is_str_list(md.get("requires_dist", [])) or not _is_str_list(md.get("provides_extra", [])):
        return False
    if not isinstance(md.get("requires_python"), (str, type(None))):
        return False
    # It must describe the file it is cached for (the wheel reader refuses a wheel whose METADATA does not).
    parts = filename.split("-")
    return (
        len(parts) > 2
        and canonicalize_name(name) == canonicalize_name(parts[0])
        # The same text needs no normalising (the usual case; a manifest may describe 10,000+ wheels).
        and (version == parts[1] or canonicalize_version(version) == canonicalize_version(parts[1]))
    )


def valid_file_entry(filename: str, entry: object) -> bool:
    """Whether a ``files`` entry has the shape this module writes (see the module docstring)."""
    if not isinstance(entry, dict) or not all(_is_int(entry.get(k)) for k in ("size", "mtime_ns")):
        return False
    if any(k in entry and not _is_int(entry[k]) for k in ("ino", "ctime_ns")):
        return False
    if "sha256" in entry and not (isinstance(entry["sha256"], str) and _SHA256.fullmatch(entry["sha256"])):
        return False
    if "metadata" in entry and ("problem" in entry or not _valid_metadata(filename, entry["metadata"])):
        return False
    return "problem" not in entry or isinstance(entry["problem"], str)


def record_from(raw: object) -> FileRecord | None:
    """The FileRecord of a ``records`` entry, or None when the entry has the wrong shape."""
    if not isinstance(raw, dict) or not isinstance(raw.get("sha256"), str):
        return None
    added = raw.get("added", 0.0)
    if isinstance(added, bool) or not isinstance(added, (int, float)):
        return None
    if not _is_str_list(raw.get("targets", [])) or not _is_str_list(raw.get("sources", [])):
        return None
    optional = (raw.get("url"), raw.get("built_by"), raw.get("built_from"))
    if not all(isinstance(v, (str, type(None))) for v in optional):
        return None
    return FileRecord(
        sha256=raw["sha256"],
        url=raw.get("url"),
        added=float(added),
        targets=tuple(raw.get("targets", ())),
        sources=tuple(raw.get("sources", ())),
        built_by=raw.get("built_by"),
        built_from=raw.get("built_from"),
    )


def seal_path(path: Path) -> Path:
    """Where the seal of the manifest at ``path`` is kept."""
    return path.with_name("manifest.seal")


def _read_regular(path: Path, limit: int) -> bytes | None:
    """The bytes of the regular file at ``path`` (not a link, at most ``limit`` bytes), else None."""
    try:
        return read_bounded(path, limit, follow=False)
    except OSError:
        return None


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest at ``path`` with every malformed entry dropped; ``{}`` when it is missing or unusable.

    A symbolic link in its place is not read: the files are read instead. Its ``files`` are kept only when its
    seal is this user's (see the module's contract).
    """
    data = _read_regular(path, MAX_MANIFEST_BYTES)
    if data is None:
        return {}
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(raw, dict) or raw.get("format") != MANIFEST_FORMAT:
        return {}
    files, records = raw.get("files"), raw.get("records")
    if not isinstance(files, dict) or not isinstance(records, dict):
        return {}
    tag = _read_regular(seal_path(path), 1024)
    if files and (tag is None or not sealed(data, tag.strip())):
        _log.debug(f"{path}: not sealed by this user; its cache is ignored and the files are read again")
        files = {}
    good_files = {k: v for k, v in files.items() if valid_file_entry(k, v)}
    good_records = {k: v for k, v in records.items() if record_from(v) is not None}
    dropped = len(files) - len(good_files) + len(records) - len(good_records)
    if dropped:
        _log.debug(f"{path}: ignored {dropped} malformed entries; the files are read again")
    return {**raw, "files": good_files, "records": good_records}


def write_manifest(path: Path, manifest: dict[str, Any], present: Collection[str]) -> None:
    """Write ``manifest`` atomically, keeping only the entries of files named in ``present``; raises OSError."""
    manifest["format"] = MANIFEST_FORMAT
    for section in ("files", "records"):
        entries = manifest.get(section)
        if isinstance(entries, dict):
            manifest[section] = {k: v for k, v in entries.items() if k in present}
    data = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    atomic_write(path, data)
    # After the manifest: a reader between the two writes sees a seal that does not match, and reads the files.
    atomic_write(seal_path(path), seal(data).encode() + b"\n")
