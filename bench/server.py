"""The benchmark index server: ``wheelhouse serve``'s server, recording every request and optionally pacing
the replies like a network link.

It serves a directory written by ``bench/generate.py`` (the layout of ``wheelhouse index``) on 127.0.0.1 with
:class:`wheelhouse.share.serve.IndexHTTPServer`: pages by PEP 691 negotiation, ``/files/<name>`` with single
``Range`` requests and ``/files/<name>.metadata`` (PEP 658), files with ``sendfile(2)``. The benchmarks run it
in a process of its own, so it never competes with the measuring process for the GIL; the tests run it in a
thread (:func:`serve_in_thread`).

Every request is appended to a log file as ``METHOD PATH`` (one line, flushed at once), which is how the
benchmarks count the requests a client made::

    python bench/server.py DIR --log requests.log     # prints http://127.0.0.1:PORT, then serves until killed
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

if __package__ in (None, ""):
    # Run as a script (serve_in_process does): the repository, not bench/, is where imports start.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from wheelhouse.share.serve import IndexHTTPServer


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


class BenchIndexServer(IndexHTTPServer):
    """Serves one generated index directory; ``log`` receives one ``METHOD PATH`` line per request."""

    def __init__(
        self,
        root: Path,
        log: IO[str] | None,
        address: tuple[str, int] = ("127.0.0.1", 0),
        *,
        link: Link | None = None,
    ) -> None:
        self.request_log = log
        self.log_lock = threading.Lock()
        self.link = link
        super().__init__(root, *address)

    def request_started(self, method: str, path: str) -> None:
        """Log the request (before answering it, so a count is complete once the client exits), then wait a
        round trip of the link."""
        if self.request_log is not None:
            with self.log_lock:
                self.request_log.write(f"{method} {path}\n")
                self.request_log.flush()
        if self.link is not None:
            self.link.round_trip()

    def send_file(self, sock: socket.socket, fh: IO[bytes], offset: int, count: int) -> None:
        """Send the bytes, at the link's pace when there is one."""
        link = self.link
        if link is None:
            super().send_file(sock, fh, offset, count)
            return
        while count > 0:
            size = min(count, link.CHUNK)
            link.transmit(size)
            super().send_file(sock, fh, offset, size)
            offset, count = offset + size, count - size

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-file (a cancelled download) is not a server failure worth a traceback.
        pass


@contextlib.contextmanager
def serve_in_thread(root: Path, log: IO[str] | None = None) -> Iterator[BenchIndexServer]:
    """Serve ``root`` from a thread of this process (for tests; benchmarks use :func:`serve_in_process`)."""
    httpd = BenchIndexServer(root, log)
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
    httpd = BenchIndexServer(args.root, log, ("127.0.0.1", args.port), link=link)
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
