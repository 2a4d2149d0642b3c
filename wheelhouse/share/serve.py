"""Serving a package index over HTTP: the one PEP 691 content negotiation, and a server for an index tree.

:func:`negotiate` decides between PEP 691 JSON and PEP 503 HTML for a page request (``?format=`` and
``Accept``); :func:`byte_range` reads a single ``Range`` header. Every index server of the project uses these
two: ``wheelhouse serve``, the fault-injecting index of the tests and the benchmark server.

:class:`IndexHTTPServer` serves a directory laid out as :func:`wheelhouse.share.static_index.build_index`
writes it (``simple/<project>/index.{html,json}`` and ``files/``), read-only: pages by negotiation, files
with single ranges and ``sendfile(2)``. Nothing outside the directory is served, and no dot file (the index
marker, partial writes). Two methods are seams for a subclass that records or paces requests
(:meth:`IndexHTTPServer.request_started`, :meth:`IndexHTTPServer.send_file`); the benchmark server is one.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import socket
import stat
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, unquote, urlsplit

from packaging.utils import canonicalize_name

from wheelhouse import _log
from wheelhouse.errors import StoreError
from wheelhouse.share._own import open_own
from wheelhouse.share.static_index import IndexResult, build_index
from wheelhouse.store.folder import Store

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
# Richest first: a client that names several formats with equal weight gets the richest it named.
PAGE_TYPES = (JSON_TYPE, HTML_TYPE, TEXT_HTML)


# -- negotiation --------------------------------------------------------------------------------------------


def negotiate(accept: str | None, query: str = "", offered: Sequence[str] = PAGE_TYPES) -> str | None:
    """The media type to answer a page request with, among ``offered`` (richest first), or None.

    ``?format=`` naming an offered type wins. Otherwise each offered type takes the weight of the most
    specific ``Accept`` range that matches it (RFC 9110); the heaviest wins. Among equal weights a type the
    client named beats one it reached through a wildcard; among named types the richest wins (PEP 691 lets
    the server choose), among wildcard matches the plainest (``text/html``), since a client that accepts
    anything may understand nothing but the legacy page. No ``Accept`` at all counts as ``*/*``. None means
    the client accepts none of ``offered``: the caller answers 406 or its default.
    """
    wanted = parse_qs(query).get("format")
    if wanted:
        # An unencoded "+" in the query arrives as a space; clients rarely encode it.
        forced = wanted[-1].replace(" ", "+")
        if forced in offered:
            return forced
    ranges = list(_parse_accept(accept)) if accept and accept.strip() else [("*/*", 1.0)]
    best: tuple[float, int, int] | None = None
    choice = None
    for rank, media in enumerate(offered):
        weight = _weight(media, ranges)
        if weight is None or weight[0] <= 0:
            continue
        q, specific = weight
        # Named types: the richest (lowest rank) first; wildcard-only matches: the plainest first.
        key = (q, specific, -rank if specific else rank)
        if best is None or key > best:
            best, choice = key, media
    return choice


def _weight(media: str, ranges: Sequence[tuple[str, float]]) -> tuple[float, int] | None:
    """(q, 1 when named exactly else 0) of the most specific range matching ``media``, or None."""
    kind = media.split("/")[0]
    found: tuple[int, float] | None = None
    for pattern, q in ranges:
        level = 2 if pattern == media else 1 if pattern == f"{kind}/*" else 0 if pattern == "*/*" else -1
        if level >= 0 and (found is None or level > found[0] or (level == found[0] and q > found[1])):
            found = (level, q)
    return None if found is None else (found[1], 1 if found[0] == 2 else 0)


def _parse_accept(header: str) -> Iterator[tuple[str, float]]:
    for part in header.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media:
            yield media.lower(), q


_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")
UNSATISFIABLE = (-1, -1)


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive span a single ``Range: bytes=`` header asks of ``size`` bytes.

    None means "send the whole body": no header, a malformed one, or several ranges (RFC 9110 lets a server
    ignore those). :data:`UNSATISFIABLE` means 416.
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header)
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        suffix = _position(last)
        return UNSATISFIABLE if suffix == 0 or size == 0 else (max(size - suffix, 0), size - 1)
    start = _position(first)
    end = min(_position(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return UNSATISFIABLE
    return (start, end)


def _position(digits: str) -> int:
    """A byte position of a Range header; one of more digits than any file size needs counts as past every
    file (int() refuses over 4300 digits, and a client may send more)."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 20 else 10**20


# -- the server ---------------------------------------------------------------------------------------------


class IndexHTTPServer(ThreadingHTTPServer):
    """Serves an index tree read-only over HTTP, with PEP 691 negotiation and single ranges.

    ``refresh`` is called before each page request (it may rebuild the index when the folder changed);
    ``log`` receives one line per request. Only files inside ``root`` are served; dot files never are.
    """

    daemon_threads = True
    allow_reuse_address = True
    # Parallel clients open many connections at once; the default backlog of 5 would make them retry.
    request_queue_size = 128

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

    def request_started(self, method: str, path: str) -> None:
        """Called first for every request, before it is answered; a subclass may record or delay it."""

    def send_file(self, sock: socket.socket, fh: IO[bytes], offset: int, count: int) -> None:
        """Send ``count`` bytes of ``fh`` from ``offset`` (zero-copy where the OS can); a subclass may pace it."""
        sock.sendfile(fh, offset, count)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-file (a cancelled download) is no server failure worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

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
    # Keep-alive: clients reuse connections, as they do with a real index.
    protocol_version = "HTTP/1.1"
    # With Nagle's algorithm a kept-alive response written in two parts (headers, then body) waits for the
    # client's delayed ACK, about 40 ms per request.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log is not None:
            self.server.log(f"{self.address_string()} {format % args}")

    def _answer(self, *, body: bool) -> None:
        self.server.request_started(self.command, self.path)
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
                _log.warning(f"the index was not rebuilt, serving the last one: {exc}", once=f"refresh: {exc}")
        if parts[0] == "simple" and len(parts) == 2 and canonicalize_name(parts[1]) != parts[1]:
            # PEP 503: a client may ask for any spelling; send it to the normalised one, as PyPI does.
            return self._redirect(f"/simple/{canonicalize_name(parts[1])}/")
        path = self.server.root.joinpath(*parts)
        try:
            resolved = path.resolve()
            if resolved != self.server.root and self.server.root not in resolved.parents:
                return self._status(404, "not found")
            # A name longer than the file system allows fails here (ENAMETOOLONG), not only a missing one.
            mode = resolved.stat().st_mode
        except OSError:
            return self._status(404, "not found")
        if stat.S_ISDIR(mode):
            if not split.path.endswith("/"):
                return self._redirect(split.path + "/" + (f"?{split.query}" if split.query else ""))
            return self._page(resolved, split.query, body=body)
        if stat.S_ISREG(mode):
            return self._file(resolved, "application/octet-stream", body=body, ranges=True)
        return self._status(404, "not found")

    def _page(self, directory: Path, query: str, *, body: bool) -> None:
        # Every client understands the legacy page, so one that accepts neither format still gets it.
        content_type = negotiate(self.headers.get("Accept"), query) or TEXT_HTML
        page = directory / ("index.json" if content_type == JSON_TYPE else "index.html")
        if not page.is_file():
            return self._status(404, "not found")
        charset = "" if content_type == JSON_TYPE else "; charset=utf-8"
        self._file(page, content_type + charset, body=body, vary=True)

    def _file(self, path: Path, content_type: str, *, body: bool, vary: bool = False, ranges: bool = False) -> None:
        try:
            # Opened without following a link, and checked again once open: the file found inside the tree may
            # have been swapped for a link to another file (or a pipe) since the path was resolved.
            fh = open_own(path, StoreError, "serve")
        except StoreError:
            return self._status(404, "not found")
        with fh:
            size = os.fstat(fh.fileno()).st_size
            span = byte_range(self.headers.get("Range"), size) if ranges else None
            if span == UNSATISFIABLE:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start, end = span if span is not None else (0, size - 1)
            self.send_response(206 if span is not None else 200)
            self.send_header("Content-Type", content_type)
            if ranges:
                self.send_header("Accept-Ranges", "bytes")
            if span is not None:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.send_header("Content-Length", str(end - start + 1))
            if vary:
                self.send_header("Vary", "Accept")
            self.end_headers()
            if body and end >= start:
                try:
                    self.server.send_file(self.connection, fh, start, end - start + 1)
                except ConnectionError:
                    self.close_connection = True

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


# -- serving a wheels folder --------------------------------------------------------------------------------


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
    if host == "localhost":
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    return False
