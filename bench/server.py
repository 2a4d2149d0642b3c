"""A static package index server for the benchmarks: files from disk, zero-copy, with a request log.

It serves a directory written by ``bench/generate.py`` on 127.0.0.1: ``/simple/`` pages as PEP 691 JSON or
PEP 503 HTML by ``Accept`` (ties go to HTML, as on PyPI), ``/files/<name>`` with single ``Range`` requests, and
``/files/<name>.metadata`` (PEP 658). Files go out with ``sendfile(2)``, so the server costs little CPU while a
client downloads in parallel; the benchmarks run it in a process of its own, so it never competes with the
measuring process for the GIL.

Every request is appended to a log file as ``METHOD PATH`` (one line, flushed at once), which is how the
benchmarks count the requests a client made::

    python bench/server.py DIR --log requests.log     # prints http://127.0.0.1:PORT, then serves until killed
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "text/html"
_NORMALIZE = re.compile(r"[-_.]+")


class Link:
    """An emulated network link between the server and its clients: every response waits ``latency`` seconds
    (a round trip), and all bodies share ``rate`` bytes per second, in the order they are sent.

    Loopback has neither limit, so without a link the benchmarks measure processing alone; with one they
    measure what a client does with a real connection's round trips and bandwidth.
    """

    CHUNK = 256 * 1024  # bytes sent between two waits for the link

    def __init__(self, rate: float, latency: float) -> None:
        self.rate = rate
        self.latency = latency
        self._lock = threading.Lock()
        self._free_at = time.monotonic()

    def round_trip(self) -> None:
        if self.latency > 0:
            time.sleep(self.latency)

    def transmit(self, size: int) -> None:
        """Wait until ``size`` more bytes have gone over the link (after the bytes already queued on it)."""
        if self.rate <= 0 or size <= 0:
            return
        with self._lock:
            now = time.monotonic()
            self._free_at = max(now, self._free_at) + size / self.rate
            wait = self._free_at - now
        time.sleep(wait)

    def describe(self) -> str:
        return f"{self.rate * 8 / 1e9:g} Gbit/s, {self.latency * 1000:g} ms per request"


class IndexHTTPServer(ThreadingHTTPServer):
    """Serves one generated index directory; ``log`` receives one line per request."""

    daemon_threads = True
    # Parallel clients open many connections at once; the default backlog of 5 would make them retry.
    request_queue_size = 128

    def __init__(
        self,
        root: Path,
        log: IO[str] | None,
        address: tuple[str, int] = ("127.0.0.1", 0),
        *,
        link: Link | None = None,
    ) -> None:
        self.root = root.resolve()
        self.log = log
        self.log_lock = threading.Lock()
        self.link = link
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def record(self, method: str, path: str) -> None:
        """Append one request to the log."""
        if self.log is None:
            return
        with self.log_lock:
            self.log.write(f"{method} {path}\n")
            self.log.flush()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-file (a cancelled download) is not a server failure worth a traceback.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: IndexHTTPServer
    # Keep-alive, as a real index offers: clients reuse connections.
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as production servers set it: with Nagle's algorithm a keep-alive response written in two
    # parts (headers, then body) waits for the client's delayed ACK, about 40 ms per request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, *, head: bool) -> None:
        self.server.record(self.command, self.path)
        if self.server.link is not None:
            self.server.link.round_trip()
        path = urlsplit(self.path).path
        if path == "/simple":
            self._redirect("/simple/")
        elif path == "/simple/":
            self._page(self.server.root / "simple", head)
        elif path.startswith("/simple/"):
            name = unquote(path[len("/simple/") :]).rstrip("/")
            normalized = _NORMALIZE.sub("-", name).lower()
            if normalized != name or not path.endswith("/"):
                self._redirect(f"/simple/{normalized}/")
            else:
                self._page(self.server.root / "simple" / normalized, head)
        elif path.startswith("/files/") and "/" not in unquote(path[len("/files/") :]):
            self._file(self.server.root / "files" / unquote(path[len("/files/") :]), head)
        else:
            self._status(404)

    def _redirect(self, location: str) -> None:
        self.send_response(301)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _status(self, code: int) -> None:
        body = f"{code}\n".encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _wants_json(self) -> bool:
        query = urlsplit(self.path).query
        if "format=" in query:
            return JSON_TYPE in unquote(query)
        best_json = best_html = 0.0
        for part in (self.headers.get("Accept") or "").split(","):
            media, *params = (p.strip() for p in part.split(";"))
            q = 1.0
            for param in params:
                key, _, value = param.partition("=")
                if key.strip() == "q":
                    with contextlib.suppress(ValueError):
                        q = float(value)
            if media == JSON_TYPE:
                best_json = max(best_json, q)
            elif media in (HTML_TYPE, "application/vnd.pypi.simple.v1+html", "*/*", "text/*"):
                best_html = max(best_html, q)
        return best_json > best_html

    def _page(self, directory: Path, head: bool) -> None:
        wants_json = self._wants_json()
        page = directory / ("index.json" if wants_json else "index.html")
        try:
            body = page.read_bytes()
        except OSError:
            self._status(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", JSON_TYPE if wants_json else "text/html; charset=utf-8")
        self.send_header("Vary", "Accept")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            if self.server.link is not None:
                self.server.link.transmit(len(body))
            self.wfile.write(body)

    def _file(self, path: Path, head: bool) -> None:
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed below, after sendfile
        except OSError:
            self._status(404)
            return
        with fh:
            size = os.fstat(fh.fileno()).st_size
            start, end = 0, size - 1
            status = 200
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", (self.headers.get("Range") or "").strip())
            if match and match.groups() != ("", ""):
                first, last = match.groups()
                if first == "":
                    start = max(size - int(last), 0)
                else:
                    start = int(first)
                    end = min(int(last), size - 1) if last else size - 1
                if start >= size or end < start:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.send_header("Content-Length", str(end - start + 1))
            self.end_headers()
            if head:
                return
            self.wfile.flush()
            link = self.server.link
            if link is None:
                # Zero-copy from the page cache to the socket.
                self.connection.sendfile(fh, start, end - start + 1)
                return
            offset, remaining = start, end - start + 1
            while remaining > 0:
                size = min(remaining, link.CHUNK)
                link.transmit(size)
                self.connection.sendfile(fh, offset, size)
                offset, remaining = offset + size, remaining - size


@contextlib.contextmanager
def serve_in_thread(root: Path, log: IO[str] | None = None) -> Iterator[IndexHTTPServer]:
    """Serve ``root`` from a thread of this process (for tests; benchmarks use :func:`serve_in_process`)."""
    httpd = IndexHTTPServer(root, log)
    thread = threading.Thread(target=httpd.serve_forever, name="bench-index", daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


class ServerProcess:
    """A running ``bench/server.py`` process: its ``url`` and the requests it logged."""

    def __init__(self, proc: subprocess.Popen[str], url: str, log_path: Path) -> None:
        self.proc = proc
        self.url = url
        self.log_path = log_path

    @property
    def index_url(self) -> str:
        """The simple index URL."""
        return f"{self.url}/simple"

    def request_count(self) -> int:
        """How many requests the server has logged so far."""
        try:
            with open(self.log_path, "rb") as fh:
                return sum(1 for _ in fh)
        except FileNotFoundError:
            return 0

    def requests(self) -> list[str]:
        """The logged requests, ``METHOD PATH`` each."""
        try:
            return self.log_path.read_text().splitlines()
        except FileNotFoundError:
            return []


@contextlib.contextmanager
def serve_in_process(root: Path, log_path: Path, *, link: Link | None = None) -> Iterator[ServerProcess]:
    """Run the server on ``root`` in a child process, logging requests to ``log_path``; stop it on exit."""
    extra = ["--rate", str(link.rate), "--latency", str(link.latency)] if link is not None else []
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), str(root), "--log", str(log_path), *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"the benchmark index server did not start (exit status {proc.poll()})")
        yield ServerProcess(proc, url, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def main(argv: list[str] | None = None) -> int:
    """Serve a generated index until terminated; the first line printed is the base URL."""
    parser = argparse.ArgumentParser(description="Serve a generated benchmark index on 127.0.0.1.")
    parser.add_argument("root", type=Path)
    parser.add_argument("--log", type=Path, default=None, help="append one line per request to this file")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate", type=float, default=0.0, help="emulate a link of this many bytes per second")
    parser.add_argument("--latency", type=float, default=0.0, help="emulate this many seconds per request")
    args = parser.parse_args(argv)
    log = open(args.log, "a", encoding="utf-8") if args.log else None  # noqa: SIM115 - lives as long as the server
    link = Link(args.rate, args.latency) if args.rate > 0 or args.latency > 0 else None
    httpd = IndexHTTPServer(args.root, log, ("127.0.0.1", args.port), link=link)
    print(httpd.url, flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
