"""The floor for a download: fetch a known list of URLs in parallel and write them to disk, nothing else.

No resolution, no index pages, no hashing: a pool of threads, one keep-alive HTTP connection each, streaming
each body to a file in 1 MiB chunks. A downloader that resolves, verifies hashes and commits atomically cannot
beat this; the benchmark reports how close wheelhouse comes to it::

    python bench/rawfetch.py --jobs 8 --dest DIR URLS.txt
"""

from __future__ import annotations

import argparse
import http.client
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlsplit

_local = threading.local()
_CHUNK = 1024 * 1024


def _connection(scheme: str, netloc: str) -> http.client.HTTPConnection:
    conns: dict[tuple[str, str], http.client.HTTPConnection] = _local.__dict__.setdefault("conns", {})
    conn = conns.get((scheme, netloc))
    if conn is None:
        cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        conn = conns[(scheme, netloc)] = cls(netloc, timeout=120)
    return conn


def fetch(url: str, dest: Path) -> int:
    """GET ``url`` into ``dest`` / its last path segment; the number of bytes written."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    target = dest / unquote(parts.path.rsplit("/", 1)[-1])
    for attempt in range(2):
        conn = _connection(parts.scheme, parts.netloc)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                response.read()
                return fetch(response.headers["Location"], dest)
            if response.status != 200:
                raise RuntimeError(f"{url}: HTTP {response.status}")
            written = 0
            with open(target, "wb") as fh:
                while chunk := response.read(_CHUNK):
                    fh.write(chunk)
                    written += len(chunk)
            return written
        except (http.client.HTTPException, ConnectionError):
            # A keep-alive connection the server closed: reconnect once.
            conn.close()
            _local.conns.pop((parts.scheme, parts.netloc), None)
            if attempt:
                raise
    raise AssertionError("unreachable")


def main(argv: list[str] | None = None) -> int:
    """Fetch every URL listed in the file (one a line) into ``--dest``."""
    parser = argparse.ArgumentParser(description="Fetch URLs in parallel (the download floor).")
    parser.add_argument("urls", type=Path)
    parser.add_argument("--dest", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=8)
    args = parser.parse_args(argv)
    urls = [u.strip() for u in args.urls.read_text().splitlines() if u.strip()]
    args.dest.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        total = sum(pool.map(lambda u: fetch(u, args.dest), urls))
    print(f"{len(urls)} files, {total} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
