"""A distribution's core metadata from an index, without downloading the distribution when the index allows.

Contract: :meth:`RemoteMetadata.get` returns the bytes of a file's ``METADATA`` by the cheapest means the index
supports: the PEP 658/714 ``.metadata`` file (its published sha256 verified), else HTTP range requests into a
wheel's zip (end record, central directory, the one member), else the whole file spooled to disk (its published
sha256 verified). Answers are cached per URL. It raises :class:`MetadataError` for a file that has no usable
metadata, :class:`~wheelhouse.errors.HashMismatchError` or :class:`~wheelhouse.errors.NetworkError`; it never
writes into the wheels folder. Parsing and checking the metadata is the finder's.
"""

from __future__ import annotations

import hashlib
import io
import re
import tempfile
import zipfile
from collections.abc import Callable
from typing import IO, Any, cast

from wheelhouse._text import redact_url
from wheelhouse.dists import MAX_METADATA_BYTES
from wheelhouse.errors import HashMismatchError
from wheelhouse.index.errors import MetadataError
from wheelhouse.index.once import OnceCache
from wheelhouse.index.pages import RemoteFile, file_url_path, is_file_url
from wheelhouse.index.transport import Transient, Transport, encoded
from wheelhouse.index.zipread import plain_zip
from wheelhouse.store.metadata import MetadataProblem, locate_metadata_member

__all__ = ["RemoteMetadata"]

# The tail fetched first when reading a wheel's metadata by ranges: the end-of-central-directory record plus,
# for most wheels, the whole central directory and the METADATA member written just before it.
_TAIL_BYTES = 64 * 1024


# The most one range request of a zip's end may ask for: its numbers are the server's, and a central directory
# said to be gigabytes long must not be fetched into memory. Real central directories are a few MB at most.
_MAX_RANGE = 64 * 1024 * 1024


class _RangeUnsupported(Exception):
    """The server answered a ranged request with something other than the requested range."""


def _longer() -> _RangeUnsupported:
    return _RangeUnsupported("an answer longer than the range asked for")


class _RangeFile(io.RawIOBase):
    """A read-only, seekable view of a remote file that fetches missing byte ranges on demand.

    ``zipfile`` reads through it exactly the bytes it needs: the end-of-central-directory record, the
    central directory, then one member. Fetched spans are kept (merged, sorted) so nothing is fetched twice.
    """

    def __init__(self, fetch: Callable[[int, int], bytes], size: int, *, min_fetch: int = 16 * 1024) -> None:
        super().__init__()
        self._fetch = fetch
        self._size = size
        self._min_fetch = min_fetch
        self._pos = 0
        self._spans: list[tuple[int, bytes]] = []

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def add(self, start: int, data: bytes) -> None:
        """Record bytes already fetched, starting at offset ``start``."""
        merged_start, merged = start, data
        kept = []
        for span_start, span in self._spans:
            span_end, merged_end = span_start + len(span), merged_start + len(merged)
            if span_end < merged_start or span_start > merged_end:
                kept.append((span_start, span))
                continue
            if span_start < merged_start:
                merged, merged_start = span[: merged_start - span_start] + merged, span_start
            merged_end = merged_start + len(merged)
            if span_end > merged_end:
                merged += span[merged_end - span_start :]
        kept.append((merged_start, merged))
        self._spans = sorted(kept, key=lambda s: s[0])

    def prefetch(self, start: int, end: int) -> None:
        """Make sure bytes ``[start, end)`` are present, fetching the gaps (each at least ``min_fetch`` long)."""
        end = min(end, self._size)
        cursor = start
        gaps = []
        for span_start, span in self._spans:
            span_end = span_start + len(span)
            if span_end <= cursor:
                continue
            if span_start >= end:
                break
            if span_start > cursor:
                gaps.append((cursor, span_start))
            cursor = max(cursor, span_end)
        if cursor < end:
            gaps.append((cursor, end))
        for gap_start, gap_end in gaps:
            fetch_end = min(self._size, max(gap_end, gap_start + self._min_fetch))
            self.add(gap_start, self._fetch(gap_start, fetch_end))

    def read(self, size: int = -1) -> bytes:
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        if end <= self._pos:
            return b""
        self.prefetch(self._pos, end)
        for span_start, span in self._spans:
            if span_start <= self._pos < span_start + len(span):
                data = span[self._pos - span_start : end - span_start]
                self._pos += len(data)
                return data
        raise OSError("range cache inconsistency")  # unreachable: prefetch filled [pos, end)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _read_zip_metadata(
    fileobj: IO[bytes] | _RangeFile, filename: str, *, prefetch: Callable[[int, int], None] | None
) -> bytes:
    # A plain zip (every wheel seen on an index) without zipfile, which builds an object per member first;
    # anything else, and a member that does not read back as its directory says, through zipfile.
    plain = plain_zip(cast("IO[bytes]", fileobj), fileobj.seek(0, io.SEEK_END))
    if plain is not None:
        try:
            member = locate_metadata_member(plain.names, filename)
        except MetadataProblem as exc:
            raise MetadataError(f"{filename}: {exc}") from None
        if plain.size(member) > MAX_METADATA_BYTES:
            raise MetadataError(f"{filename}: METADATA is {plain.size(member)} bytes, over the limit")
        if prefetch is not None:
            offset, compressed = plain.span(member)
            prefetch(offset, offset + 30 + len(member) + 1024 + compressed)
        data = plain.read(member)
        if data is not None:
            return data
    with zipfile.ZipFile(fileobj) as zf:
        # The store's rule, so a wheel read over HTTP is located exactly as the folder scan will locate it.
        try:
            member = locate_metadata_member(zf.namelist(), filename)
        except MetadataProblem as exc:
            raise MetadataError(f"{filename}: {exc}") from None
        info = zf.getinfo(member)
        if info.file_size > MAX_METADATA_BYTES:
            raise MetadataError(f"{filename}: METADATA is {info.file_size} bytes, over the limit")
        if prefetch is not None:
            # One request for the local header and the compressed member instead of zipfile's small reads;
            # the slack covers a local "extra" field longer than the central directory's.
            prefetch(info.header_offset, info.header_offset + 30 + len(member) + 1024 + info.compress_size)
        with zf.open(info) as member_file:
            data = member_file.read(MAX_METADATA_BYTES + 1)
    if len(data) > MAX_METADATA_BYTES:
        raise MetadataError(f"{filename}: METADATA is over the {MAX_METADATA_BYTES} byte limit")
    return data


class RemoteMetadata:
    """Core metadata of remote files over a :class:`Transport`, fetched once per URL (thread-safe)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._cache: OnceCache[str, bytes] = OnceCache()

    def get(self, f: RemoteFile) -> bytes:
        """The core metadata file (``METADATA``) of ``f``, fetched as cheaply as the index allows.

        In order: the PEP 658/714 ``.metadata`` file when the index offers one (its sha256 verified when
        published); else, for a wheel, HTTP range requests for the zip's end record, central directory and
        the METADATA member only; else, when the server ignores ranges, the whole file (spooled to disk, its
        sha256 verified). Cached per URL. Raises MetadataError, HashMismatchError or NetworkError.
        """
        return self._cache.get(f.url, lambda: self._load(f))

    def _load(self, f: RemoteFile) -> bytes:
        if f.core_metadata and not is_file_url(f.url):
            data = self._core_metadata(f)
            if data is not None:
                return data
        if not f.filename.endswith(".whl"):
            raise MetadataError(
                f"{f.filename}: the index offers no core metadata for this source distribution",
                hint="source distributions need a build to reveal their metadata",
            )
        if is_file_url(f.url):
            with file_url_path(f.url).open("rb") as fh:
                return self._zip_metadata(fh, f.filename, f.url)
        return self._metadata_by_range(f)

    def _core_metadata(self, f: RemoteFile) -> bytes | None:
        url = f.url + ".metadata"

        def attempt() -> bytes | None:
            with self._transport.get(url, stream=True) as response:
                if response.status_code in (404, 410):
                    return None  # advertised but absent: fall back to the wheel itself
                if response.status_code != 200:
                    raise self._transport.http_error(url, response)
                return self._transport.read_body(
                    response,
                    MAX_METADATA_BYTES,
                    lambda: MetadataError(f"{redact_url(url)} is over the {MAX_METADATA_BYTES} byte limit"),
                )

        data = self._transport.retrying(url, attempt)
        if data is not None and f.metadata_sha256:
            actual = hashlib.sha256(data).hexdigest()
            if actual != f.metadata_sha256:
                raise HashMismatchError(redact_url(url), f.metadata_sha256, actual)
        return data

    def _zip_metadata(self, fileobj: IO[bytes], filename: str, url: str) -> bytes:
        try:
            return _read_zip_metadata(fileobj, filename, prefetch=None)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
            raise MetadataError(f"{filename} from {redact_url(url)} is not a readable wheel: {exc}") from None

    def _metadata_by_range(self, f: RemoteFile) -> bytes:
        # Spooled: small wheels stay in memory, a 500 MB one goes to a temporary file, never all in RAM.
        with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as spool:

            def tail_attempt() -> tuple[int, int, bytes] | str | None:
                """The tail as (start, total, bytes); or the sha256 of the whole file if the server sent it
                all (it ignores Range); or None when a plain GET is needed."""
                headers = {"Accept-Encoding": "identity", "Range": f"bytes=-{_TAIL_BYTES}"}
                with self._transport.get(f.url, headers=headers, stream=True) as response:
                    match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", response.headers.get("Content-Range", ""))
                    if response.status_code == 200 and not encoded(response):
                        spool.seek(0)
                        spool.truncate()
                        return self._transport.copy_body(f.url, response, spool, None)
                    if response.status_code != 206 or match is None or encoded(response):
                        if response.status_code >= 400 and response.status_code != 416:
                            raise self._transport.http_error(f.url, response)
                        return None
                    start, total = int(match.group(1)), int(match.group(3))
                    body = self._transport.read_body(response, min(total - start, _TAIL_BYTES), _longer, decode=False)
                if len(body) != total - start:
                    raise Transient(f"range body has {len(body)} bytes, expected {total - start}")
                return start, total, body

            try:
                tail = self._transport.retrying(f.url, tail_attempt)
            except _RangeUnsupported:
                tail = None
            if isinstance(tail, tuple):
                start, total, body = tail
                lazy = _RangeFile(lambda a, b: self._fetch_range(f.url, a, b), total)
                lazy.add(start, body)
                try:
                    return _read_zip_metadata(lazy, f.filename, prefetch=lazy.prefetch)
                except (_RangeUnsupported, zipfile.BadZipFile, EOFError):
                    # A server that stops honouring ranges, or bytes that do not add up: read it all.
                    tail = None
            if tail is None:

                def whole_attempt() -> str:
                    spool.seek(0)
                    spool.truncate()
                    return self._transport.stream_to(f.url, spool, None)

                tail = self._transport.retrying(f.url, whole_attempt)
            if f.sha256 and tail != f.sha256:
                raise HashMismatchError(redact_url(f.url), f.sha256, tail)
            spool.seek(0)
            return self._zip_metadata(spool, f.filename, f.url)

    def _fetch_range(self, url: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of ``url``; raises :class:`_RangeUnsupported` if the server won't, or if the zip
        asks for more than :data:`_MAX_RANGE` at once (then the whole file is read, on disk)."""
        if end - start > _MAX_RANGE:
            raise _RangeUnsupported(f"a range of {end - start} bytes")

        def attempt() -> bytes:
            headers = {"Accept-Encoding": "identity", "Range": f"bytes={start}-{end - 1}"}
            with self._transport.get(url, headers=headers, stream=True) as response:
                content_range = response.headers.get("Content-Range", "")
                if response.status_code != 206 or not content_range.startswith(f"bytes {start}-") or encoded(response):
                    raise _RangeUnsupported(f"HTTP {response.status_code} to a range request")
                body = self._transport.read_body(response, end - start, _longer, decode=False)
            if len(body) != end - start:
                raise Transient(f"range body has {len(body)} bytes, expected {end - start}")
            return body

        return self._transport.retrying(url, attempt)
