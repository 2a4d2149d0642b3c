"""A static package index over the wheels folder.

:func:`build_index` writes a self-contained tree that pip, uv and any static web server or object store can
use::

    DIR/.wheelhouse-index                 marker: this directory is ours to update
    DIR/simple/index.html, index.json     the project list (PEP 503 HTML, PEP 691 JSON)
    DIR/simple/<project>/index.html       one project's files, with #sha256= fragments,
    DIR/simple/<project>/index.json       data-requires-python and data-core-metadata (PEP 658/714)
    DIR/files/<file>                      the wheels and sdists: hard links into the folder, copies where
    DIR/files/<file>.metadata             a link is impossible; PEP 658 metadata files beside them

Pages link to files relatively (``../../files/<file>``), so the same tree works as ``file://DIR/simple/`` and
behind any web server at any prefix. Output is deterministic (sorted, no timestamps), every file is written
atomically, and a re-run rewrites only what changed and removes what left the folder.

Only regular files of the folder are published, and the index is never written through a symlink: a link
named like a wheel or an sdist is left out (it may point anywhere), and a link in place of the index's own
directories is refused with one line naming it (following it would delete and write files elsewhere).

A static server cannot negotiate PEP 691 content types, so it serves ``index.html`` (which every installer
reads); :mod:`wheelhouse.share.serve` (``wheelhouse serve``) negotiates ``Accept`` and ``?format=`` itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import os
import shutil
import stat
import threading
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from packaging.version import Version

from wheelhouse import _log
from wheelhouse.errors import StoreError, UsageError
from wheelhouse.store.folder import Store, StoreScan
from wheelhouse.store.fs import PARTIAL_PREFIX, atomic_write, refuse_symlink
from wheelhouse.store.metadata import MetadataProblem, read_metadata_member

MARKER = ".wheelhouse-index"
API_VERSION = "1.1"
JSON_SCHEMA_VERSION = 1
_MARKER_TEXT = b"wheelhouse simple index 1\n"


@dataclass(frozen=True)
class IndexedFile:
    """One distribution file as the index lists it."""

    filename: str
    project: str  # normalised name
    version: str
    sha256: str
    size: int
    requires_python: str | None = None
    metadata_sha256: str | None = None  # set when a PEP 658 .metadata file is published


@dataclass(frozen=True)
class IndexResult:
    """What :func:`build_index` produced."""

    out_dir: Path
    files: tuple[IndexedFile, ...]
    written: tuple[str, ...]  # paths (relative to out_dir) created or changed by this run
    removed: tuple[str, ...]  # paths removed because their file left the folder
    copied: tuple[str, ...] = ()  # files that could not be hard-linked and were copied

    @property
    def simple_dir(self) -> Path:
        return self.out_dir / "simple"

    @property
    def projects(self) -> tuple[str, ...]:
        return tuple(sorted({f.project for f in self.files}))

    @property
    def url(self) -> str:
        """The ``file://`` URL to give ``pip --index-url``."""
        return self.simple_dir.resolve().as_uri() + "/"


def default_index_dir(store: Store) -> Path:
    """Where the index goes when no ``--out`` is given: inside the folder's own state directory."""
    return store.meta_dir / "index"


# -- building ----------------------------------------------------------------------------------------------


def build_index(store: Store, out: Path | None = None, *, scan: StoreScan | None = None) -> IndexResult:
    """Write (or bring up to date) the static index of the folder in ``out``; see the module docstring.

    Raises UsageError when ``out`` is a non-empty directory that is not a wheelhouse index (it would be
    written into and pruned), StoreError when the folder cannot be read or the index cannot be written.
    """
    if out is None:
        out = default_index_dir(store)
        # The default lives in the folder's state directory, which may have arrived with the folder (git,
        # rsync, a shared volume): neither it nor the index directory in it is followed. An --out the user
        # names is theirs to point anywhere.
        refuse_symlink(store.meta_dir)
        refuse_symlink(out)
    refuse_symlink(out / MARKER)
    _claim(store, out)
    scan = scan if scan is not None else store.scan()
    try:
        return _build(store, out, scan)
    except OSError as exc:
        raise StoreError(f"cannot write the index in {out}: {exc.strerror or exc}") from None


def _refuse_links(out: Path) -> None:
    """Refuse an index tree with a symlink anywhere it would write, prune or read back a file.

    A planted ``files -> DIR`` would have files of DIR deleted and wheels written there; a planted page or
    ``.metadata`` link would have its target read and published. The index is ours alone, so any link in
    it was put there by someone else.
    """
    for name in ("files", "simple"):
        refuse_symlink(out / name)
    for directory in (out / "files", out / "simple"):
        if not directory.is_dir():
            continue
        with os.scandir(directory) as entries:
            for entry in entries:
                refuse_symlink(Path(entry.path))
                if directory.name == "simple" and entry.is_dir(follow_symlinks=False):
                    with os.scandir(entry.path) as pages:
                        for page in pages:
                            refuse_symlink(Path(page.path))


def _claim(store: Store, out: Path) -> None:
    """Refuse an output directory that holds anything but an earlier index of ours."""
    if out.resolve() == store.root.resolve():
        raise UsageError(
            f"the index cannot be written into the wheels folder itself ({out})",
            hint="wheelhouse index --out DIR with a separate directory",
        )
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a directory", hint="wheelhouse index --out NEW_DIR")
    if out.is_dir() and not (out / MARKER).is_file() and any(out.iterdir()):
        raise UsageError(
            f"{out} is not empty and holds no wheelhouse index; refusing to write into it",
            hint="wheelhouse index --out NEW_DIR (a new or empty directory)",
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        if not (out / MARKER).is_file():
            atomic_write(out / MARKER, _MARKER_TEXT)
    except OSError as exc:
        raise StoreError(f"cannot create the index directory {out}: {exc.strerror or exc}") from None


def _build(store: Store, out: Path, scan: StoreScan) -> IndexResult:
    files_dir = out / "files"
    simple = out / "simple"
    _refuse_links(out)
    files_dir.mkdir(exist_ok=True)
    simple.mkdir(exist_ok=True)
    written: list[str] = []
    copied: list[str] = []
    sources: list[tuple[str, str, str, str | None, bool]] = []  # filename, project, version, requires, wheel
    for wheel in scan.wheels:
        d = wheel.dist
        sources.append((d.filename, d.name, str(d.version), wheel.metadata.requires_python, True))
    for sdist in scan.sdists:
        sources.append((sdist.filename, sdist.name, str(sdist.version), None, False))
    sizes = _regular_files(store.root, [s[0] for s in sources])
    sources = [s for s in sources if s[0] in sizes]
    hashes = store.hashes(s[0] for s in sources)
    indexed: list[IndexedFile] = []
    for filename, project, version, requires_python, is_wheel in sorted(sources):
        src = store.root / filename
        dest = files_dir / filename
        fresh = _place(src, dest)
        if fresh is not None:
            written.append(f"files/{filename}")
            if fresh == "copy":
                copied.append(filename)
        metadata_sha = None
        if is_wheel:
            # A wheel without a readable METADATA is listed without the PEP 658 attribute.
            metadata_sha, changed = _write_metadata(src, dest.with_name(filename + ".metadata"), fresh is not None)
            if changed:
                written.append(f"files/{filename}.metadata")
        indexed.append(
            IndexedFile(filename, project, version, hashes[filename], sizes[filename], requires_python, metadata_sha)
        )
    by_project: dict[str, list[IndexedFile]] = {}
    for item in indexed:
        by_project.setdefault(item.project, []).append(item)
    for project, items in sorted(by_project.items()):
        items.sort(key=lambda f: (_version_key(f.version), f.filename))
        page_dir = simple / project
        page_dir.mkdir(exist_ok=True)
        for name, data in (
            ("index.html", _project_html(project, items)),
            ("index.json", _project_json(project, items)),
        ):
            if _write_if_changed(page_dir / name, data):
                written.append(f"simple/{project}/{name}")
    for name, data in (("index.html", _root_html(sorted(by_project))), ("index.json", _root_json(sorted(by_project)))):
        if _write_if_changed(simple / name, data):
            written.append(f"simple/{name}")
    removed = _prune(out, {f.filename for f in indexed}, set(by_project))
    return IndexResult(out, tuple(indexed), tuple(written), tuple(removed), tuple(copied))


def _regular_files(root: Path, filenames: Sequence[str]) -> dict[str, int]:
    """The size of each of ``filenames`` that is a regular file of ``root``; the others are left out, said once.

    A symlink named like a wheel or an sdist may point anywhere (a file outside the folder, another user's
    secret): publishing it would publish that file and its sha256.
    """
    sizes: dict[str, int] = {}
    for filename in filenames:
        try:
            st = os.lstat(root / filename)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            sizes[filename] = st.st_size
        else:
            _log.warning(f"{filename} is not a regular file of the folder (a symlink?); not published in the index")
    return sizes


def _version_key(version: str) -> tuple[int, Version | str]:
    try:
        return (0, Version(version))
    except ValueError:
        return (1, version)


def _place(src: Path, dest: Path) -> str | None:
    """Make ``dest`` the same file as ``src``: a hard link, else a copy. Returns how, or None when it was."""
    if dest.exists():
        with contextlib.suppress(OSError):
            if os.path.samefile(src, dest):
                return None
            s, d = src.stat(), dest.stat()
            # A copy keeps the source's size and mtime (copy2); a replaced source has a new mtime or inode.
            if d.st_nlink == 1 and s.st_size == d.st_size and s.st_mtime_ns == d.st_mtime_ns:
                return None
    tmp = dest.with_name(f"{PARTIAL_PREFIX}{dest.name}.{os.getpid()}.{threading.get_ident()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        try:
            # Not through a link: src was checked to be a regular file, and a swap since must not be followed.
            os.link(src, tmp, follow_symlinks=False)
            how = "link"
        except OSError:
            # Another filesystem, or one without hard links: copy (and keep the mtime so re-runs see it as same).
            shutil.copy2(src, tmp, follow_symlinks=False)
            how = "copy"
        if not stat.S_ISREG(os.lstat(tmp).st_mode):
            raise StoreError(f"{src} is no longer a regular file; not published in the index")
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return how


def _metadata_bytes(path: Path) -> bytes | None:
    """The bytes of a wheel's METADATA (bounded, located by the store's one rule), or None without one."""
    try:
        with zipfile.ZipFile(path) as zf:
            return read_metadata_member(zf, path.name)
    except (MetadataProblem, zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError):
        return None


def _write_metadata(wheel: Path, dest: Path, refresh: bool) -> tuple[str | None, bool]:
    """Publish the wheel's METADATA as ``dest`` (PEP 658): (its sha256 or None when unavailable, changed?)."""
    if not refresh and dest.is_file():
        with contextlib.suppress(OSError):
            return hashlib.sha256(dest.read_bytes()).hexdigest(), False
    data = _metadata_bytes(wheel)
    if data is None:
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()
        return None, False
    return hashlib.sha256(data).hexdigest(), _write_if_changed(dest, data)


def _write_if_changed(path: Path, data: bytes) -> bool:
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return False
    atomic_write(path, data)
    return True


def _prune(out: Path, filenames: set[str], projects: set[str]) -> list[str]:
    removed: list[str] = []
    files_dir = out / "files"
    for path in sorted(files_dir.iterdir()):
        name = path.name
        base = name[: -len(".metadata")] if name.endswith(".metadata") else name
        # Dot files are partial writes, possibly of a concurrent run: never ours to remove here.
        if not name.startswith(".") and base not in filenames and path.is_file() and not path.is_symlink():
            path.unlink()
            removed.append(f"files/{name}")
    simple = out / "simple"
    for path in sorted(simple.iterdir()):
        if path.is_dir() and not path.is_symlink() and path.name not in projects:
            for page in ("index.html", "index.json"):
                with contextlib.suppress(FileNotFoundError):
                    (path / page).unlink()
                    removed.append(f"simple/{path.name}/{page}")
            with contextlib.suppress(OSError):
                path.rmdir()
    return removed


# -- pages -------------------------------------------------------------------------------------------------


def _file_href(filename: str) -> str:
    return "../../files/" + quote(filename, safe="")


def _project_html(project: str, files: Sequence[IndexedFile]) -> bytes:
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">',
        f"    <title>Links for {html.escape(project)}</title>",
        "  </head>",
        "  <body>",
        f"    <h1>Links for {html.escape(project)}</h1>",
    ]
    for f in files:
        attrs = [f'href="{html.escape(_file_href(f.filename))}#sha256={f.sha256}"']
        if f.requires_python:
            attrs.append(f'data-requires-python="{html.escape(f.requires_python)}"')
        if f.metadata_sha256:
            # PEP 714 renamed the attribute; older pip versions read only the PEP 658 name, so give both.
            attrs.append(f'data-core-metadata="sha256={f.metadata_sha256}"')
            attrs.append(f'data-dist-info-metadata="sha256={f.metadata_sha256}"')
        lines.append(f"    <a {' '.join(attrs)}>{html.escape(f.filename)}</a><br>")
    lines += ["  </body>", "</html>", ""]
    return "\n".join(lines).encode()


def _project_json(project: str, files: Sequence[IndexedFile]) -> bytes:
    entries: list[dict[str, Any]] = []
    for f in files:
        entry: dict[str, Any] = {
            "filename": f.filename,
            "url": _file_href(f.filename),
            "hashes": {"sha256": f.sha256},
        }
        if f.requires_python:
            entry["requires-python"] = f.requires_python
        if f.metadata_sha256:
            entry["core-metadata"] = {"sha256": f.metadata_sha256}
            entry["dist-info-metadata"] = {"sha256": f.metadata_sha256}
        entry["size"] = f.size
        entry["yanked"] = False
        entries.append(entry)
    versions = sorted({f.version for f in files}, key=_version_key)
    data = {"meta": {"api-version": API_VERSION}, "name": project, "versions": versions, "files": entries}
    return (json.dumps(data, indent=1, sort_keys=False) + "\n").encode()


def _root_html(projects: Sequence[str]) -> bytes:
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">',
        "    <title>Simple index</title>",
        "  </head>",
        "  <body>",
    ]
    lines += [f'    <a href="{quote(p)}/">{html.escape(p)}</a><br>' for p in projects]
    lines += ["  </body>", "</html>", ""]
    return "\n".join(lines).encode()


def _root_json(projects: Sequence[str]) -> bytes:
    data = {"meta": {"api-version": API_VERSION}, "projects": [{"name": p} for p in projects]}
    return (json.dumps(data, indent=1) + "\n").encode()


def result_to_json(result: IndexResult) -> dict[str, Any]:
    """The documented ``index --json`` structure (schema 1; see docs/sharing.md)."""
    return {
        "schema": JSON_SCHEMA_VERSION,
        "out": str(result.out_dir),
        "url": result.url,
        "projects": len(result.projects),
        "files": [
            {
                "file": f.filename,
                "project": f.project,
                "version": f.version,
                "sha256": f.sha256,
                "size": f.size,
                "requires_python": f.requires_python,
                "metadata_sha256": f.metadata_sha256,
            }
            for f in result.files
        ],
        "written": list(result.written),
        "removed": list(result.removed),
        "copied": list(result.copied),
    }
