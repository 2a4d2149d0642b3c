"""The index client: every file the configured indexes and find-links list for a project, a file's core
metadata, and verified downloads, through one HTTP session.

Contract: :class:`IndexClient` is thread-safe and asks for each project page and each file's metadata once, however
many threads ask. Transient failures are retried (:mod:`wheelhouse.index.transport`); what cannot be fixed by a
retry raises :class:`~wheelhouse.errors.NetworkError` with the redacted URL. Credentials in the configured URLs
are sent to their own host only and appear in no URL this module stores or reports. A download streams to a
path the caller chose and is deleted again on any failure; nothing here writes into the wheels folder. Warnings
(a find-links location that does not exist, a malformed page entry) go to :mod:`wheelhouse._log`.

The client is a facade over three collaborators: :class:`~wheelhouse.index.transport.Transport` (session,
retries, bodies), :class:`_ProjectPages` (page fetching and caching, below) and
:class:`~wheelhouse.index.metadata.RemoteMetadata` (PEP 658 and range requests).
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName, canonicalize_name

from wheelhouse import _log
from wheelhouse._text import redact_url
from wheelhouse.dists import InvalidDistFilename, parse_dist_filename
from wheelhouse.errors import HashMismatchError, NetworkError
from wheelhouse.index.auth import Credentials
from wheelhouse.index.config import IndexConfig
from wheelhouse.index.filenames import DIST_SUFFIXES
from wheelhouse.index.once import OnceCache
from wheelhouse.index.pages import (
    PAGE_ACCEPT,
    Listing,
    RemoteFile,
    add_page,
    file_url_path,
    is_file_url,
    parse_html_page,
    parse_page,
)

if TYPE_CHECKING:
    import requests

    from wheelhouse.index.metadata import RemoteMetadata
    from wheelhouse.index.transport import Transport

__all__ = ["IndexClient"]


class _ProjectPages:
    """The files each index and find-links location lists for a project, fetched once per project and once
    per find-links location."""

    def __init__(self, transport: Transport, index_urls: tuple[str, ...], find_links: tuple[str, ...]) -> None:
        self._transport = transport
        self._index_urls = index_urls
        self._find_links = find_links
        self._pages: OnceCache[NormalizedName, Listing] = OnceCache()
        self._links: OnceCache[str, tuple[RemoteFile, ...]] = OnceCache()

    def files(self, name: NormalizedName) -> tuple[RemoteFile, ...]:
        """See :meth:`IndexClient.project_files`."""
        return self.listing(name).files()

    def listing(self, name: NormalizedName) -> Listing:
        """See :meth:`IndexClient.project_listing`."""
        return self._pages.get(name, lambda: self._collect(name))

    def _collect(self, name: NormalizedName) -> Listing:
        # One listing across sources: a URL listed by several (an index and a find-links page) appears once.
        listing = Listing()
        for index_url in self._index_urls:
            self._index_page(listing, index_url, name)
        for location in self._find_links:
            for remote in self._links.get(location, functools.partial(self._find_links_files, location)):
                try:
                    if parse_dist_filename(remote.filename)[0] == name:
                        listing.add(remote)
                except InvalidDistFilename:
                    continue  # find-links list every project's files; one we cannot name is not ours
        return listing

    def _index_page(self, listing: Listing, index_url: str, name: NormalizedName) -> None:
        url = f"{index_url.rstrip('/')}/{name}/"
        if is_file_url(url):
            for remote in self._local_index_page(url, index_url):
                listing.add(remote)
            return
        page = self._transport.fetch_page(url, PAGE_ACCEPT)
        if page is None:
            return
        final_url, content_type, body = page
        add_page(listing, body, content_type, final_url, index_url)

    def _local_index_page(self, url: str, index_url: str) -> list[RemoteFile]:
        """A project page of a static index on disk: ``<dir>/<project>/index.html``, or the bare directory."""
        directory = file_url_path(url)
        page = directory / "index.html"
        if page.is_file():
            return parse_html_page(page.read_text(encoding="utf-8", errors="replace"), page.as_uri(), index_url)
        if directory.is_dir():
            return _directory_files(directory, index_url)
        return []

    def _find_links_files(self, location: str) -> tuple[RemoteFile, ...]:
        """Every file a find-links location lists: a directory's files, or the links of an HTML page."""
        if "://" in location and not is_file_url(location):
            page = self._transport.fetch_page(location, "text/html")
            if page is None:
                raise NetworkError(f"find-links page {redact_url(location)} does not exist (HTTP 404)")
            final_url, content_type, body = page
            return tuple(parse_page(body, content_type or "text/html", final_url, location))
        path = file_url_path(location) if is_file_url(location) else Path(location).expanduser()
        if path.is_dir():
            return tuple(_directory_files(path, location))
        if path.is_file() and path.suffix.lower() in (".html", ".htm"):
            text = path.read_text(encoding="utf-8", errors="replace")
            return tuple(parse_html_page(text, path.resolve().as_uri(), location))
        if path.is_file():
            return (_local_file(path, location),)
        # Read once per client (the cache above), so said once.
        _log.warning(f"find-links location {redact_url(location)!r} does not exist; ignored")
        return ()


def _directory_files(directory: Path, origin: str) -> list[RemoteFile]:
    return [
        _local_file(p, origin) for p in sorted(directory.iterdir()) if p.is_file() and p.name.endswith(DIST_SUFFIXES)
    ]


def _local_file(path: Path, origin: str) -> RemoteFile:
    resolved = path.resolve()
    return RemoteFile(filename=path.name, url=resolved.as_uri(), size=resolved.stat().st_size, index_url=origin)


class IndexClient:
    """HTTP access to the configured indexes and find-links, through one ``requests.Session``.

    Thread-safe: project pages and metadata are fetched once per name / URL even when many threads ask at
    once. Transient failures (connection errors, 429 and 5xx answers, bodies cut short) are retried
    ``config.retries`` times with exponential backoff (``backoff * 2**attempt`` seconds, at least what
    ``Retry-After`` asks, at most ``max_wait``). ``sleep`` is injectable so tests need not wait.
    """

    def __init__(
        self,
        config: IndexConfig,
        *,
        jobs: int = 8,
        session: requests.Session | None = None,
        backoff: float = 0.5,
        max_wait: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.jobs = max(1, jobs)
        self._credentials = Credentials()
        self._index_urls = tuple(self._credentials.take(u) for u in config.index_urls)
        self._find_links = tuple(self._credentials.take(u) if "://" in u else u for u in config.find_links)
        self._session = session
        self._sleep = sleep
        # What another process needs to fetch as this client does. It may only when the client was given
        # neither a session nor a sleep of its own, which a configuration does not carry.
        self.backoff = backoff
        self.max_wait = max_wait
        self.can_offload = session is None and sleep is time.sleep
        # The HTTP stack (requests, TLS, the session) is set up at its first use: a download the folder covers
        # asks the index nothing, and should not pay for importing what asking takes.
        self._lock = threading.Lock()
        self._stack: tuple[Transport, _ProjectPages, RemoteMetadata] | None = None

    def _network(self) -> tuple[Transport, _ProjectPages, RemoteMetadata]:
        stack = self._stack
        if stack is not None:
            return stack
        with self._lock:
            if self._stack is None:
                from wheelhouse.index.metadata import RemoteMetadata
                from wheelhouse.index.transport import Transport

                transport = Transport(
                    self.config,
                    self._credentials,
                    jobs=self.jobs,
                    session=self._session,
                    backoff=self.backoff,
                    max_wait=self.max_wait,
                    sleep=self._sleep,
                )
                pages = _ProjectPages(transport, self._index_urls, self._find_links)
                self._stack = (transport, pages, RemoteMetadata(transport))
            return self._stack

    @property
    def _transport(self) -> Transport:
        return self._network()[0]

    @property
    def _pages(self) -> _ProjectPages:
        return self._network()[1]

    @property
    def _metadata(self) -> RemoteMetadata:
        return self._network()[2]

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far (every attempt and redirect counts), with those sent on its behalf by
        another process (:meth:`count_requests`)."""
        stack = self._stack
        return stack[0].request_count if stack is not None else 0

    def count_requests(self, n: int) -> None:
        """Count ``n`` requests sent on this client's behalf by another process (a transfer process)."""
        self._transport.count_requests(n)

    def close(self) -> None:
        """Release the session when the client created it."""
        stack = self._stack
        if stack is not None:
            stack[0].close()

    def __enter__(self) -> IndexClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def project_files(self, name: NormalizedName) -> tuple[RemoteFile, ...]:
        """Every file the indexes and find-links list for ``name``, in configuration order.

        Files with the same URL are listed once. Cached per name; a 404 from an index means "no files there".
        Raises NetworkError (with the redacted URL) when a page cannot be fetched or parsed.
        """
        return self._pages.files(canonicalize_name(name))

    def project_listing(self, name: NormalizedName) -> Listing:
        """:meth:`project_files` as a :class:`~wheelhouse.index.pages.Listing`: the same files, in the same order,
        each built only when asked for (a reader that needs a few of thousands builds only those)."""
        return self._pages.listing(canonicalize_name(name))

    def metadata(self, f: RemoteFile) -> bytes:
        """The core metadata file (``METADATA``) of ``f``, fetched as cheaply as the index allows.

        In order: the PEP 658/714 ``.metadata`` file when the index offers one (its sha256 verified when
        published); else, for a wheel, HTTP range requests for the zip's end record, central directory and
        the METADATA member only; else, when the server ignores ranges, the whole file (spooled to disk, its
        sha256 verified). Cached per URL. Raises MetadataError, HashMismatchError or NetworkError.
        """
        return self._metadata.get(f)

    def download(self, f: RemoteFile, dest: Path, *, on_progress: Callable[[int], None] | None = None) -> str:
        """Stream ``f`` to ``dest`` in chunks, verify it, and return its sha256 (hex).

        ``dest`` is a temporary path the caller chose (and later moves into place); it is overwritten, and
        deleted again on any failure. ``on_progress`` receives the bytes received so far in the current
        attempt (it restarts from zero when a retry starts over). Raises HashMismatchError when the index
        published a sha256 and the bytes differ, NetworkError (redacted URL and cause) after the retries,
        including for bodies shorter than their Content-Length.
        """
        try:
            if is_file_url(f.url):
                actual = _copy_local(f, dest, on_progress)
            else:
                # The size the index lists bounds what is written (None when it lists none).
                limit = f.size if f.size is not None and f.size >= 0 else None

                def attempt() -> str:
                    with dest.open("wb") as out:
                        return self._transport.stream_to(f.url, out, on_progress, limit=limit)

                actual = self._transport.retrying(f.url, attempt)
            if f.sha256 and actual != f.sha256:
                raise HashMismatchError(redact_url(f.url), f.sha256, actual)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        return actual


def _copy_local(f: RemoteFile, dest: Path, on_progress: Callable[[int], None] | None) -> str:
    from wheelhouse.index.transport import CHUNK

    source = file_url_path(f.url)
    digest = hashlib.sha256()
    copied = 0
    try:
        with source.open("rb") as src, dest.open("wb") as out:
            while chunk := src.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                copied += len(chunk)
                if on_progress is not None:
                    on_progress(copied)
    except OSError as exc:
        raise NetworkError(f"cannot copy {source}: {exc.strerror or exc}") from None
    return digest.hexdigest()
