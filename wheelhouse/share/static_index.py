"""A static package index over the wheels folder, and a small HTTP server for it.

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

A static server cannot negotiate PEP 691 content types, so it serves ``index.html`` (which every installer
reads); :class:`IndexHTTPServer` (``wheelhouse serve``) negotiates ``Accept`` and ``?format=`` itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import os
import shutil
import socket
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from packaging.utils import canonicalize_name
from packaging.version import Version

from wheelhouse.dists import MAX_METADATA_BYTES
from wheelhouse.errors import StoreError, UsageError
from wheelhouse.store.folder import PARTIAL_PREFIX, Store, StoreScan, atomic_write

MARKER = ".wheelhouse-index"
API_VERSION = "1.1"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
JSON_SCHEMA_VERSION = 1
_MARKER_TEXT = b"wheelhouse simple index 1\n"
_CHUNK = 1024 * 1024


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
    out = out if out is not None else default_index_dir(store)
    _claim(store, out)
    scan = scan if scan is not None else store.scan()
    try:
        return _build(store, out, scan)
    except OSError as exc:
        raise StoreError(f"cannot write the index in {out}: {exc.strerror or exc}") from None


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
            IndexedFile(filename, project, version, hashes[filename], src.stat().st_size, requires_python, metadata_sha)
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
            os.link(src, tmp)
            how = "link"
        except OSError:
            # Another filesystem, or one without hard links: copy (and keep the mtime so re-runs see it as same).
            shutil.copy2(src, tmp)
            how = "copy"
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return how


def wheel_metadata_bytes(path: Path) -> bytes | None:
    """The bytes of a wheel's ``.dist-info/METADATA`` (bounded), or None when there is no readable one."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = [
                i for i in zf.infolist() if i.filename.count("/") == 1 and i.filename.endswith(".dist-info/METADATA")
            ]
            if len(names) != 1 or names[0].file_size > MAX_METADATA_BYTES:
                return None
            with zf.open(names[0]) as fh:
                data = fh.read(MAX_METADATA_BYTES + 1)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, ValueError):
        return None
    return data if len(data) <= MAX_METADATA_BYTES else None


def _write_metadata(wheel: Path, dest: Path, refresh: bool) -> tuple[str | None, bool]:
    """Publish the wheel's METADATA as ``dest`` (PEP 658): (its sha256 or None when unavailable, changed?)."""
    if not refresh and dest.is_file():
        with contextlib.suppress(OSError):
            return hashlib.sha256(dest.read_bytes()).hexdigest(), False
    data = wheel_metadata_bytes(wheel)
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
        if not name.startswith(".") and base not in filenames and path.is_file():
            path.unlink()
            removed.append(f"files/{name}")
    simple = out / "simple"
    for path in sorted(simple.iterdir()):
        if path.is_dir() and path.name not in projects:
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


# -- serving -----------------------------------------------------------------------------------------------


def negotiate(accept: str | None, query: str = "") -> str:
    """The PEP 691 content type to answer with: ``?format=`` wins, then the best ``Accept`` entry, else HTML."""
    wanted = parse_qs(query).get("format")
    # An unencoded "+" in the query arrives as a space; clients rarely encode it.
    if wanted and wanted[-1].replace(" ", "+") in _PREFERENCE:
        return wanted[-1].replace(" ", "+")
    best, best_q = TEXT_HTML, 0.0
    for media, q in _parse_accept(accept or ""):
        # A wildcard means "anything": the legacy HTML page is the answer every client understands.
        candidate = media if media in _PREFERENCE else TEXT_HTML if media in _WILDCARDS else None
        if candidate is None or q <= 0:
            continue
        # Equal weights go to the richer format (JSON, then versioned HTML), as PEP 691 lets the server choose.
        if q > best_q or (q == best_q and _PREFERENCE.index(candidate) < _PREFERENCE.index(best)):
            best, best_q = candidate, q
    return best


_PREFERENCE = (JSON_TYPE, HTML_TYPE, TEXT_HTML)
_WILDCARDS = frozenset({"*/*", "text/*", "application/*"})


def _parse_accept(header: str) -> Iterator[tuple[str, float]]:
    for part in header.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media:
            yield media.lower(), q


class IndexHTTPServer(ThreadingHTTPServer):
    """Serves a tree written by :func:`build_index` read-only over HTTP, with PEP 691 negotiation.

    ``refresh`` is called before each page request (it may rebuild the index when the folder changed);
    ``log`` receives one line per request. Only files inside ``root`` are served; dot files never are.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        root: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        refresh: Callable[[], None] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.root = root.resolve()
        self.refresh = refresh
        self.log = log
        self._thread: threading.Thread | None = None
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host.strip("[]"), port), _Handler)

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8000``."""
        host, port = self.server_address[:2]
        text = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{text}]" if ":" in text else text
        return f"http://{shown}:{port}"

    @property
    def index_url(self) -> str:
        """The URL to give ``pip --index-url``."""
        return f"{self.url}/simple/"

    def start(self) -> IndexHTTPServer:
        """Serve in a background thread (for tests and embedding); stop with :meth:`stop`."""
        self._thread = threading.Thread(target=self.serve_forever, name="wheelhouse-serve", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()

    def __enter__(self) -> IndexHTTPServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    server: IndexHTTPServer
    server_version = "wheelhouse"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log is not None:
            self.server.log(f"{self.address_string()} {format % args}")

    def _answer(self, *, body: bool) -> None:
        split = urlsplit(self.path)
        raw_path = unquote(split.path)
        if "\0" in raw_path or "\\" in raw_path:
            return self._status(400, "bad path")
        parts = [p for p in raw_path.split("/") if p]
        if any(p.startswith(".") for p in parts):
            return self._status(404, "not found")  # "..", the marker and partial files alike
        if not parts:
            return self._redirect("/simple/")
        if parts[0] == "simple" and self.server.refresh is not None:
            try:
                self.server.refresh()
            except Exception as exc:  # a failed rebuild keeps serving the last good index
                if self.server.log is not None:
                    self.server.log(f"index refresh failed: {exc}")
        if parts[0] == "simple" and len(parts) == 2 and canonicalize_name(parts[1]) != parts[1]:
            # PEP 503: a client may ask for any spelling; send it to the normalised one, as PyPI does.
            return self._redirect(f"/simple/{canonicalize_name(parts[1])}/")
        path = self.server.root.joinpath(*parts)
        try:
            resolved = path.resolve()
        except OSError:
            return self._status(404, "not found")
        if resolved != self.server.root and self.server.root not in resolved.parents:
            return self._status(404, "not found")
        if resolved.is_dir():
            if not split.path.endswith("/"):
                return self._redirect(split.path + "/" + (f"?{split.query}" if split.query else ""))
            return self._page(resolved, split.query, body=body)
        if resolved.is_file():
            return self._file(resolved, "application/octet-stream", body=body)
        return self._status(404, "not found")

    def _page(self, directory: Path, query: str, *, body: bool) -> None:
        content_type = negotiate(self.headers.get("Accept"), query)
        page = directory / ("index.json" if content_type == JSON_TYPE else "index.html")
        if not page.is_file():
            return self._status(404, "not found")
        charset = "" if content_type == JSON_TYPE else "; charset=utf-8"
        self._file(page, content_type + charset, body=body, vary=True)

    def _file(self, path: Path, content_type: str, *, body: bool, vary: bool = False) -> None:
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed below, after the headers are sent
        except OSError:
            return self._status(404, "not found")
        with fh:
            size = os.fstat(fh.fileno()).st_size
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(size))
            if vary:
                self.send_header("Vary", "Accept")
            self.end_headers()
            if body:
                with contextlib.suppress(ConnectionError):
                    shutil.copyfileobj(fh, self.wfile, _CHUNK)

    def _redirect(self, location: str) -> None:
        self.send_response(301)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _status(self, code: int, message: str) -> None:
        data = f"{code} {message}\n".encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class AutoRefresh:
    """Rebuilds the index when the wheels folder's directory listing changes (its mtime moves).

    Adding or removing a file renames into or unlinks from the folder, which updates the directory's mtime;
    a stat per page request is all it costs when nothing changed.
    """

    def __init__(self, store: Store, out: Path, *, on_rebuild: Callable[[IndexResult], None] | None = None) -> None:
        self.store = store
        self.out = out
        self.on_rebuild = on_rebuild
        self._lock = threading.Lock()
        self._seen: int | None = None

    def __call__(self) -> None:
        """Rebuild if the folder changed since the last build (thread-safe)."""
        with self._lock:
            try:
                mtime = self.store.root.stat().st_mtime_ns
            except OSError:
                return
            if mtime == self._seen:
                return
            result = build_index(self.store, self.out)
            self._seen = mtime
            if self.on_rebuild is not None:
                self.on_rebuild(result)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
