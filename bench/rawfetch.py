"""The floor for a download: fetch a known list of URLs in parallel and write them to disk, nothing else.

No resolution, no parsing, no hashing: a pool of threads, one keep-alive HTTP connection each per host (all
sharing one TLS context, so the CA certificates are read once), streaming each body to a file in 1 MiB chunks.
With ``--pages`` the project pages a download needed are fetched too, with the ``Accept`` header the downloader
sends, in the same pool and before the files: the floor of a download from an index is its files *plus* the
pages that name them. A downloader that resolves, verifies hashes and commits atomically cannot beat this; the
benchmark reports how close wheelhouse comes to it::

    python bench/rawfetch.py --jobs 8 --dest DIR [--pages PAGES.txt --accept TYPES] URLS.txt
"""

from __future__ import annotations

import argparse
import http.client
import os
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlsplit

_local = threading.local()
_CHUNK = 1024 * 1024
_context: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    """One context for every connection, trusting what the measured tools trust (a named bundle, else the
    system's default paths)."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle and Path(bundle).is_file():
        return ssl.create_default_context(cafile=bundle)
    return ssl.create_default_context()


def _connection(scheme: str, netloc: str) -> http.client.HTTPConnection:
    conns: dict[tuple[str, str], http.client.HTTPConnection] = _local.__dict__.setdefault("conns", {})
    conn = conns.get((scheme, netloc))
    if conn is None:
        if scheme == "https":
            conn = http.client.HTTPSConnection(netloc, timeout=120, context=_context)
        else:
            conn = http.client.HTTPConnection(netloc, timeout=120)
        conns[(scheme, netloc)] = conn
    return conn


def _target(dest: Path, path: str) -> Path:
    # A project page's URL ends with "/": it is named after its project.
    segments = [s for s in path.split("/") if s]
    name = unquote(segments[-1]) if segments else "index"
    return dest / (f"{name}.page" if path.endswith("/") else name)


def fetch(url: str, dest: Path, headers: dict[str, str] | None = None) -> int:
    """GET ``url`` into ``dest`` / its last path segment; the number of bytes written."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    target = _target(dest, parts.path)
    for attempt in range(2):
        conn = _connection(parts.scheme, parts.netloc)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                response.read()
                return fetch(response.headers["Location"], dest, headers)
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


def _lines(path: Path | None) -> list[str]:
    return [u.strip() for u in path.read_text().splitlines() if u.strip()] if path else []


def main(argv: list[str] | None = None) -> int:
    """Fetch every URL listed in the files (one a line) into ``--dest``: the pages first, then the files."""
    global _context
    parser = argparse.ArgumentParser(description="Fetch URLs in parallel (the download floor).")
    parser.add_argument("urls", type=Path)
    parser.add_argument("--dest", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--pages", type=Path, default=None, help="project page URLs, fetched with --accept")
    parser.add_argument("--accept", default="text/html", help="the Accept header for the pages")
    args = parser.parse_args(argv)
    urls = _lines(args.urls)
    pages = _lines(args.pages)
    args.dest.mkdir(parents=True, exist_ok=True)
    _context = _tls_context()
    page_headers = {"Accept": args.accept}
    with ThreadPoolExecutor(args.jobs) as pool:
        page_sizes = pool.map(lambda u: fetch(u, args.dest, page_headers), pages)
        sizes = pool.map(lambda u: fetch(u, args.dest), urls)
        page_total, total = sum(page_sizes), sum(sizes)
    print(f"{len(pages)} pages, {page_total} bytes; {len(urls)} files, {total} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
