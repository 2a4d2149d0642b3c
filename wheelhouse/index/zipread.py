"""One member of a plain zip, read without :class:`zipfile.ZipFile`: what a wheel's METADATA needs.

``ZipFile`` builds a ``ZipInfo`` for every entry of the central directory before a member can be opened, and the
large wheels of an application list thousands of files (Django's, botocore's, pandas's), read by range while the
resolver waits for their metadata. :func:`plain_member` walks the central directory with one
``struct`` call an entry and reads the one member it is asked for.

Contract: it reads only what ``zipfile`` reads the same way, and answers None for anything else (zip64 records,
data before the archive, a name with a NUL, a malformed extra field, encryption, a compression other than stored
or deflate, a local header that disagrees with the directory, a size or CRC that does not add up), so that the
caller then reads the archive with ``zipfile`` itself, which accepts or refuses it as it always did. It never
accepts what ``zipfile`` refuses.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import IO, NamedTuple

__all__ = ["PlainZip", "plain_zip"]

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory: 22 bytes
# A central directory entry (46 bytes), the fields zipfile reads that matter here: signature, version needed,
# flags, method, CRC, sizes, lengths of the name, extra field and comment, local header offset.
_ENTRY = struct.Struct("<4s2x3H4x3L3H8xL")
_LOCAL = struct.Struct("<4s5H3L2H")  # local file header: 30 bytes
_EOCD_SIG = b"PK\x05\x06"
_ENTRY_SIG = b"PK\x01\x02"
_LOCAL_SIG = b"PK\x03\x04"
_ZIP64_LOCATOR_SIG = b"PK\x06\x07"
_MAX_COMMENT = 1 << 16  # zipfile searches this far before the record
_UTF8_FLAG = 0x800
# Encrypted, compressed patched data, strong encryption: zipfile refuses or asks for a password.
_UNREAD_FLAGS = 0x1 | 0x20 | 0x40
_STORED, _DEFLATED = 0, 8
_MAX_EXTRACT_VERSION = 63  # zipfile's MAX_EXTRACT_VERSION


class PlainZip:
    """The names of a plain zip's entries, in directory order, and a reader of one member."""

    def __init__(
        self, fp: IO[bytes], names: list[str], entries: dict[str, tuple[int, int, int, int, int, int]]
    ) -> None:
        self._fp = fp
        self.names: Sequence[str] = names
        # Per name, its last entry (as zipfile keeps them), as the fields of an _Entry: a tuple is made faster.
        self._entries = entries

    def _entry(self, name: str) -> _Entry:
        return _Entry(*self._entries[name])

    def size(self, name: str) -> int:
        """The uncompressed size the directory gives for ``name``."""
        return self._entry(name).size

    def span(self, name: str) -> tuple[int, int]:
        """Where ``name``'s local header starts, and its compressed size."""
        entry = self._entry(name)
        return entry.offset, entry.compressed

    def read(self, name: str) -> bytes | None:
        """``name``'s bytes, or None when reading it is zipfile's business."""
        entry = self._entry(name)
        if entry.flags & _UNREAD_FLAGS or entry.method not in (_STORED, _DEFLATED):
            return None
        self._fp.seek(entry.offset)
        header = self._fp.read(_LOCAL.size)
        if len(header) != _LOCAL.size:
            return None
        signature, _needed, flags, *_, name_length, extra_length = _LOCAL.unpack(header)
        raw_name = self._fp.read(name_length)
        if signature != _LOCAL_SIG or len(raw_name) != name_length or _decoded(raw_name, flags) != name:
            return None
        self._fp.seek(entry.offset + _LOCAL.size + name_length + extra_length)
        data = self._fp.read(entry.compressed)
        if len(data) != entry.compressed:
            return None
        if entry.method == _DEFLATED:
            try:
                out = zlib.decompressobj(-15).decompress(data, entry.size)
            except zlib.error:
                return None
        else:
            out = data[: entry.size]
        if len(out) != entry.size or zlib.crc32(out) != entry.crc:
            return None
        return out


class _Entry(NamedTuple):
    flags: int
    method: int
    crc: int
    compressed: int
    size: int
    offset: int


def _decoded(raw: bytes, flags: int) -> str | None:
    try:
        return raw.decode("utf-8") if flags & _UTF8_FLAG else raw.decode("cp437")
    except UnicodeDecodeError:
        return None


def plain_zip(fp: IO[bytes], size: int) -> PlainZip | None:
    """The directory of the zip in ``fp`` (``size`` bytes long), or None when it is not plain (see the module)."""
    # Where zipfile looks, in its order: the record without a comment at the very end, else the last signature
    # in the last 64 KiB and the record's length.
    if size < _EOCD.size:
        return None
    fp.seek(size - _EOCD.size)
    tail, tail_start = fp.read(_EOCD.size), size - _EOCD.size
    if tail[:4] == _EOCD_SIG and tail[-2:] == b"\0\0":
        at = 0
    else:
        tail_start = max(size - _MAX_COMMENT - _EOCD.size, 0)
        fp.seek(tail_start)
        tail = fp.read(size - tail_start)
        at = tail.rfind(_EOCD_SIG)
        if at < 0 or at + _EOCD.size > len(tail):
            return None
    record = tail_start + at
    # A zip64 locator just before the record: zipfile reads the zip64 records.
    if record >= 20:
        fp.seek(record - 20)
        if fp.read(4) == _ZIP64_LOCATOR_SIG:
            return None
    _sig, disk, disk_with_directory, count_here, count, directory_size, directory_offset, _comment = _EOCD.unpack_from(
        tail, at
    )
    if disk or disk_with_directory or count_here != count or directory_offset + directory_size != record:
        return None
    fp.seek(directory_offset)
    directory = fp.read(directory_size)
    if len(directory) != directory_size:
        return None
    names: list[str] = []
    entries: dict[str, tuple[int, int, int, int, int, int]] = {}
    unpack = _ENTRY.unpack_from
    pos = 0
    while pos < directory_size:
        if pos + _ENTRY.size > directory_size:
            return None
        (sig, needed, flags, method, crc, compressed, full, name_length, extra_length, comment_length,
         offset) = unpack(directory, pos)  # fmt: skip
        start = pos + _ENTRY.size
        pos = start + name_length + extra_length + comment_length
        if sig != _ENTRY_SIG or pos > directory_size or needed & 0xFF > _MAX_EXTRACT_VERSION:
            return None
        if 0xFFFFFFFF in (compressed, full, offset):
            return None  # zip64 sizes
        raw = directory[start : start + name_length]
        if b"\0" in raw or (extra_length and not _plain_extra(directory, start + name_length, extra_length)):
            return None
        if raw.isascii():
            name = raw.decode("ascii")  # what either encoding makes of it
        else:
            decoded = _decoded(raw, flags)
            if decoded is None:
                return None
            name = decoded
        names.append(name)
        entries[name] = (flags, method, crc, compressed, full, offset)
    return PlainZip(fp, names, entries)


def _plain_extra(directory: bytes, start: int, length: int) -> bool:
    """Whether an entry's extra field is well formed and holds no zip64 record (zipfile reads those itself)."""
    end = start + length
    while end - start >= 4:
        kind, size = struct.unpack_from("<HH", directory, start)
        if kind == 1 or start + 4 + size > end:
            return False
        start += 4 + size
    return True
