"""A local package index for tests: PEP 503 HTML, PEP 691 JSON, PEP 658 metadata and ranged file downloads.

``IndexServer`` runs a ``ThreadingHTTPServer`` on ``127.0.0.1:0`` in a background thread (never "localhost":
that name may resolve to ``::1`` first, and the socket guard only lets 127.0.0.1 through). It records every
request so a test can assert what the client fetched, and it can inject faults per path::

    with IndexServer() as srv:
        srv.add_wheel("demo", "1.0", requires_python=">=3.9")
        srv.inject("/files/demo-1.0-py3-none-any.whl", Fault.error(503, retry_after=0), times=1)
        ...  # point the client at srv.index_url
        assert [r.path for r in srv.requests if r.method == "GET"]

Layout served:

* ``/simple/`` - the project list; ``/simple/<project>/`` - one project's files, JSON or HTML by ``Accept``
  (or ``?format=``); a name that is not PEP 503 normalised gets a 301 to the normalised URL, as PyPI does.
* ``/files/<filename>`` - the file, honouring a single ``Range: bytes=...`` when ``range_requests`` is on.
* ``/files/<filename>.metadata`` - the wheel's ``METADATA`` (PEP 658) when ``core_metadata`` is on.

File links on project pages are relative (``../../files/...``), so clients must resolve them against the
page URL, as PEP 503 and PEP 691 allow.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import socket
import struct
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from packaging.utils import canonicalize_name

from tests.support.wheels import make_sdist, make_wheel
from wheelhouse.share.serve import HTML_TYPE, JSON_TYPE, PAGE_TYPES, TEXT_HTML, UNSATISFIABLE, byte_range, negotiate

__all__ = ["HTML_TYPE", "JSON_TYPE", "TEXT_HTML", "Fault", "IndexServer", "Injection", "RecordedRequest", "RequestLog"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it (recorded before any fault or response)."""

    method: str
    path: str
    headers: dict[str, str]

    @property
    def route(self) -> str:
        """The path without its query string."""
        return urlsplit(self.path).path

    def header(self, name: str) -> str | None:
        """A request header, looked up case-insensitively."""
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


class RequestLog(list[RecordedRequest]):
    """The server's request log: a list whose appends and clears are safe across handler threads."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def append(self, item: RecordedRequest) -> None:
        with self._lock:
            super().append(item)
            self._last = time.monotonic()

    def settle(self, quiet: float = 0.3, limit: float = 10.0) -> None:
        """Wait until no request has arrived for ``quiet`` seconds (at most ``limit``): a client killed outright
        may have sent requests that a handler thread reads, and logs, only after the client is gone."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            with self._lock:
                idle = time.monotonic() - self._last
            if idle >= quiet:
                return
            time.sleep(quiet - idle)

    def clear(self) -> None:
        with self._lock:
            super().clear()

    def snapshot(self) -> list[RecordedRequest]:
        """A copy that later requests do not change."""
        with self._lock:
            return list(self)

    def to(self, route: str, method: str = "GET") -> list[RecordedRequest]:
        """The requests whose path (without query) is ``route``."""
        return [r for r in self.snapshot() if r.route == route and r.method == method]


@dataclass(frozen=True)
class Fault:
    """What the server does instead of, or to, its normal reply to a matching request.

    Fields combine: the normal reply is computed first, then ``delay`` is slept, ``status``/``body``/
    ``headers``/``content_type`` replace parts of it, and ``truncate_at`` / ``reset_at`` cut the body short.
    The class methods build the common cases.
    """

    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    content_type: str | None = None
    delay: float = 0.0
    # Send this many body bytes while announcing the full Content-Length, then close cleanly (FIN).
    truncate_at: int | None = None
    # Send this many body bytes, then reset the connection (RST) - what a crashing proxy looks like.
    reset_at: int | None = None

    @classmethod
    def error(cls, status: int, *, retry_after: float | str | None = None, body: bytes | None = None) -> Fault:
        """Reply with an error status, optionally with ``Retry-After`` (seconds or an HTTP date)."""
        headers = (("Retry-After", str(retry_after)),) if retry_after is not None else ()
        return cls(status=status, headers=headers, body=body if body is not None else f"{status}\n".encode())

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Fault:
        """Redirect to ``location`` (absolute, or a path on this server)."""
        return cls(status=status, headers=(("Location", location),), body=b"")

    @classmethod
    def truncate(cls, at: int) -> Fault:
        """Send only the first ``at`` body bytes under a Content-Length for the whole body."""
        return cls(truncate_at=at)

    @classmethod
    def reset(cls, at: int = 0) -> Fault:
        """Reset the connection after ``at`` body bytes."""
        return cls(reset_at=at)

    @classmethod
    def replace(cls, body: bytes, content_type: str | None = None) -> Fault:
        """Serve ``body`` instead of the real one (wrong bytes, invalid JSON or HTML), with its own length."""
        return cls(body=body, content_type=content_type)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Wait ``seconds`` before replying (for timeout tests)."""
        return cls(delay=seconds)


@dataclass
class Injection:
    """A fault registered with :meth:`IndexServer.inject`; ``hits`` counts how often it fired."""

    match: str | re.Pattern[str]
    fault: Fault
    remaining: int | None
    hits: int = 0

    def matches(self, route: str) -> bool:
        """Whether this injection applies to a request path (without query)."""
        if isinstance(self.match, str):
            return self.match == route
        return self.match.search(route) is not None


@dataclass(frozen=True)
class _Entry:
    filename: str
    project: str
    data: bytes
    sha256: str
    yanked: str | None
    requires_python: str | None
    metadata: bytes | None

    @property
    def metadata_sha256(self) -> str | None:
        return hashlib.sha256(self.metadata).hexdigest() if self.metadata is not None else None


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _wheel_metadata(data: bytes) -> bytes | None:
    """The top-level ``*.dist-info/METADATA`` of a wheel, or None when ``data`` is not such a zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for name in zf.namelist():
                if re.fullmatch(r"[^/]+\.dist-info/METADATA", name):
                    return zf.read(name)
    except zipfile.BadZipFile:
        return None
    return None


def _project_of(filename: str) -> str:
    # Wheel names use "_" for "-" and sdist names end in "-<version>"; both canonicalise to the project.
    if filename.endswith(".whl"):
        return canonicalize_name(filename.split("-")[0])
    stem = re.sub(r"\.(tar\.gz|zip)$", "", filename)
    return canonicalize_name(stem.rpartition("-")[0] or stem)


class IndexServer:
    """A local package index on 127.0.0.1; use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        *,
        json_api: bool = True,
        html_api: bool = True,
        core_metadata: bool = True,
        range_requests: bool = True,
    ) -> None:
        self.json_api = json_api
        self.html_api = html_api
        self.core_metadata = core_metadata
        self.range_requests = range_requests
        self.requests = RequestLog()
        # Called for every request after it is recorded; may return a Fault, for faults that need logic.
        self.on_request: Callable[[RecordedRequest], Fault | None] | None = None
        self._lock = threading.Lock()
        self._files: dict[str, _Entry] = {}
        self._injections: list[Injection] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- content --------------------------------------------------------------------------------------------

    def add(
        self,
        filename: str,
        data: bytes,
        *,
        yanked: str | None = None,
        requires_python: str | None = None,
        project: str | None = None,
        metadata: bytes | None = None,
    ) -> None:
        """Publish ``data`` as ``filename``; ``project`` defaults to the name the file name carries.

        ``yanked=""`` yanks without a reason. Any file name is accepted, hostile ones included, so tests can
        check that clients refuse them. ``metadata`` publishes other core metadata than the wheel's own, as an
        index whose metadata disagrees with its files would.
        """
        entry = _Entry(
            filename=filename,
            project=canonicalize_name(project) if project else _project_of(filename),
            data=data,
            sha256=hashlib.sha256(data).hexdigest(),
            yanked=yanked,
            requires_python=requires_python,
            metadata=metadata if metadata is not None else _wheel_metadata(data) if filename.endswith(".whl") else None,
        )
        with self._lock:
            self._files[filename] = entry

    def add_wheel(self, name: str, version: str, *, yanked: str | None = None, **make_wheel_kwargs: Any) -> str:
        """Build a wheel with ``make_wheel``, publish it and return its file name.

        ``requires_python`` goes into the wheel's metadata and onto the index, as a real upload would.
        """
        filename, data = make_wheel(name, version, **make_wheel_kwargs)
        self.add(filename, data, yanked=yanked, requires_python=make_wheel_kwargs.get("requires_python"))
        return filename

    def add_sdist(self, name: str, version: str, *, yanked: str | None = None, **make_sdist_kwargs: Any) -> str:
        """Build an sdist with ``make_sdist``, publish it and return its file name."""
        filename, data = make_sdist(name, version, **make_sdist_kwargs)
        self.add(filename, data, yanked=yanked)
        return filename

    def file_bytes(self, filename: str) -> bytes:
        """The bytes published under ``filename``."""
        with self._lock:
            return self._files[filename].data

    def file_url(self, filename: str) -> str:
        """The absolute URL the index links for ``filename``."""
        return f"{self.url}/files/{quote(filename, safe='')}"

    # -- faults ---------------------------------------------------------------------------------------------

    def inject(self, path: str | re.Pattern[str], fault: Fault, *, times: int | None = 1) -> Injection:
        """Apply ``fault`` to the next ``times`` requests whose path is ``path`` (or matches the pattern).

        ``times=None`` applies it to every matching request. Injections are tried in the order added.
        """
        injection = Injection(path, fault, times)
        with self._lock:
            self._injections.append(injection)
        return injection

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        with self._lock:
            self._injections.clear()

    def _take_fault(self, request: RecordedRequest) -> Fault | None:
        with self._lock:
            for injection in self._injections:
                if injection.remaining != 0 and injection.matches(request.route):
                    if injection.remaining is not None:
                        injection.remaining -= 1
                    injection.hits += 1
                    return injection.fault
        return self.on_request(request) if self.on_request else None

    # -- lifecycle ------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT``."""
        if self._httpd is None:
            raise RuntimeError("IndexServer is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def index_url(self) -> str:
        """The simple index URL, ``{url}/simple``."""
        return f"{self.url}/simple"

    def start(self) -> IndexServer:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        if self._httpd is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"index": self})
        httpd = _QuietServer(("127.0.0.1", 0), handler)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="index-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> IndexServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- routing --------------------------------------------------------------------------------------------

    def _entries(self) -> list[_Entry]:
        with self._lock:
            return list(self._files.values())

    def _route(self, method: str, raw_path: str, headers: Mapping[str, str]) -> _Reply:
        parts = urlsplit(raw_path)
        path = parts.path
        if path in ("/simple", "/simple/"):
            if path == "/simple":
                return _Reply(301, headers={"Location": "/simple/"})
            return self._project_list(headers, parts.query)
        if path.startswith("/simple/"):
            return self._project_page(path, headers, parts.query)
        if path.startswith("/files/"):
            return self._file(unquote(path[len("/files/") :]), headers)
        return _Reply(404, b"not found\n")

    def _negotiate(self, headers: Mapping[str, str], query: str) -> str | None:
        offered = [t for t in PAGE_TYPES if (t == JSON_TYPE and self.json_api) or (t != JSON_TYPE and self.html_api)]
        return negotiate(headers.get("accept"), query, offered)

    def _project_list(self, headers: Mapping[str, str], query: str) -> _Reply:
        media = self._negotiate(headers, query)
        projects = sorted({e.project for e in self._entries()})
        if media is None:
            return _Reply(406, b"not acceptable\n")
        if media == JSON_TYPE:
            doc = {"meta": {"api-version": "1.1"}, "projects": [{"name": p} for p in projects]}
            return _Reply(200, json.dumps(doc).encode(), {"Content-Type": JSON_TYPE})
        links = "".join(f'    <a href="{quote(p)}/">{html.escape(p)}</a><br/>\n' for p in projects)
        page = f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n"
        return _Reply(200, page.encode(), {"Content-Type": f"{media}; charset=utf-8"})

    def _project_page(self, path: str, headers: Mapping[str, str], query: str) -> _Reply:
        raw = unquote(path[len("/simple/") :])
        name = raw.rstrip("/")
        normalized = canonicalize_name(name)
        if name != normalized or not raw.endswith("/"):
            location = f"/simple/{normalized}/" + (f"?{query}" if query else "")
            return _Reply(301, headers={"Location": location})
        entries = sorted((e for e in self._entries() if e.project == normalized), key=lambda e: e.filename)
        if not entries:
            return _Reply(404, b"not found\n")
        media = self._negotiate(headers, query)
        if media is None:
            return _Reply(406, b"not acceptable\n")
        reply_headers = {"Vary": "Accept"}
        if media == JSON_TYPE:
            doc = self._project_json(normalized, entries)
            reply_headers["Content-Type"] = JSON_TYPE
            return _Reply(200, json.dumps(doc).encode(), reply_headers)
        reply_headers["Content-Type"] = f"{media}; charset=utf-8"
        return _Reply(200, self._project_html(normalized, entries).encode(), reply_headers)

    def _project_json(self, project: str, entries: list[_Entry]) -> dict[str, Any]:
        files = []
        for e in entries:
            metadata: bool | dict[str, str] = False
            if self.core_metadata and e.metadata is not None:
                metadata = {"sha256": e.metadata_sha256 or ""}
            files.append(
                {
                    "filename": e.filename,
                    "url": f"../../files/{quote(e.filename, safe='')}",
                    "hashes": {"sha256": e.sha256},
                    "requires-python": e.requires_python,
                    # PEP 592: a yank without a reason is ``true``.
                    "yanked": (e.yanked or True) if e.yanked is not None else False,
                    "core-metadata": metadata,
                    # PEP 714 renamed the key; PyPI still sends both for older clients.
                    "dist-info-metadata": metadata,
                    "size": len(e.data),
                }
            )
        versions = sorted({v for v in (self._version_of(e.filename) for e in entries) if v})
        return {"meta": {"api-version": "1.1"}, "name": project, "files": files, "versions": versions}

    @staticmethod
    def _version_of(filename: str) -> str | None:
        parts = re.sub(r"\.(whl|tar\.gz|zip)$", "", filename).split("-")
        if filename.endswith(".whl"):
            return parts[1] if len(parts) >= 2 else None
        return parts[-1] if len(parts) >= 2 else None

    def _project_html(self, project: str, entries: list[_Entry]) -> str:
        anchors = []
        for e in entries:
            attrs = [f'href="../../files/{quote(e.filename, safe="")}#sha256={e.sha256}"']
            if e.requires_python is not None:
                attrs.append(f'data-requires-python="{html.escape(e.requires_python)}"')
            if e.yanked is not None:
                attrs.append(f'data-yanked="{html.escape(e.yanked)}"')
            if self.core_metadata and e.metadata is not None:
                value = f"sha256={e.metadata_sha256}"
                attrs.append(f'data-core-metadata="{value}" data-dist-info-metadata="{value}"')
            anchors.append(f"    <a {' '.join(attrs)}>{html.escape(e.filename)}</a><br/>\n")
        return (
            "<!DOCTYPE html>\n<html><head>\n"
            '<meta name="pypi:repository-version" content="1.1">\n'
            f"<title>Links for {html.escape(project)}</title></head><body>\n"
            f"<h1>Links for {html.escape(project)}</h1>\n{''.join(anchors)}</body></html>\n"
        )

    def _file(self, filename: str, headers: Mapping[str, str]) -> _Reply:
        with self._lock:
            entry = self._files.get(filename)
            meta_entry = self._files.get(filename[: -len(".metadata")]) if filename.endswith(".metadata") else None
        if entry is None and meta_entry is not None:
            if not self.core_metadata or meta_entry.metadata is None:
                return _Reply(404, b"not found\n")
            return _Reply(200, meta_entry.metadata, {"Content-Type": "application/octet-stream"})
        if entry is None:
            return _Reply(404, b"not found\n")
        data = entry.data
        base = {"Content-Type": "application/octet-stream"}
        if not self.range_requests:
            return _Reply(200, data, base)
        base["Accept-Ranges"] = "bytes"
        span = byte_range(headers.get("range"), len(data))
        if span is None:
            return _Reply(200, data, base)
        if span == UNSATISFIABLE:
            return _Reply(416, b"", {**base, "Content-Range": f"bytes */{len(data)}"})
        start, end = span
        return _Reply(206, data[start : end + 1], {**base, "Content-Range": f"bytes {start}-{end}/{len(data)}"})


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (or faults that reset the connection) are expected here, not test failures.
        pass


class _Handler(BaseHTTPRequestHandler):
    index: IndexServer
    # HTTP/1.1 so clients reuse connections, as they would against a real index.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm and delayed ACKs on a kept-alive
    # connection each response would stall for ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def _serve(self, method: str) -> None:
        request = RecordedRequest(method, self.path, dict(self.headers.items()))
        self.index.requests.append(request)
        fault = self.index._take_fault(request)
        # Lower-cased keys: header names are case-insensitive and routing looks them up by lower-case name.
        reply = self.index._route(method, self.path, {k.lower(): v for k, v in self.headers.items()})
        if fault is not None:
            reply = self._apply(fault, reply)
        self._send(method, reply, fault)

    @staticmethod
    def _apply(fault: Fault, reply: _Reply) -> _Reply:
        if fault.delay:
            time.sleep(fault.delay)
        headers = dict(reply.headers)
        if fault.status is not None:
            reply = _Reply(fault.status, fault.body if fault.body is not None else b"", {})
            headers = {"Content-Type": "text/plain"}
        elif fault.body is not None:
            reply = _Reply(reply.status, fault.body, {})
            headers.pop("Content-Range", None)
        headers.update(fault.headers)
        if fault.content_type:
            headers["Content-Type"] = fault.content_type
        return _Reply(reply.status, reply.body, headers)

    def _send(self, method: str, reply: _Reply, fault: Fault | None) -> None:
        self.send_response(reply.status)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(reply.body)))
        cut = None
        if fault is not None:
            cut = fault.truncate_at if fault.truncate_at is not None else fault.reset_at
        if cut is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if method == "HEAD":
            return
        for chunk in _chunks(reply.body if cut is None else reply.body[:cut]):
            self.wfile.write(chunk)
        if fault is not None and fault.reset_at is not None:
            self.wfile.flush()
            # SO_LINGER with a zero timeout turns close() into a TCP RST: a "connection reset by peer".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()


def _chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
