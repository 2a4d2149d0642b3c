"""One wheel, checked thoroughly in bounded time and memory: is it what it claims to be?

:func:`inspect_wheel` reads every byte once, never more than a chunk at a time, and reports each finding:

* the file is a readable zip whose members do not overlap, whose paths stay inside the archive and whose
  declared sizes are within :class:`Limits` (a zip bomb is refused before a byte of it is inflated);
* every member inflates to exactly its declared size with a matching CRC (a member that inflates past its
  declared size is reported, not read to the end);
* ``RECORD`` lists every member with a hash that matches, and nothing that is not there;
* ``METADATA`` (located by the store's one reader, wheelhouse.store.metadata) names the project and version
  the file name carries.

A file this user may not read is reported as ``unreadable``, never as corrupt: it says nothing of its bytes.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import csv
import hashlib
import io
import itertools
import os
import struct
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Literal

from wheelhouse.dists import MAX_METADATA_BYTES, parse_core_metadata
from wheelhouse.store.metadata import MetadataProblem, check_metadata_names_file, locate_metadata_member

__all__ = ["Finding", "Inspection", "IssueKind", "Limits", "inspect_wheel", "read_failure"]

IssueKind = Literal[
    "corrupt", "record-mismatch", "hash-mismatch", "metadata-mismatch", "not-a-wheel", "unreadable", "shadowed"
]

_READ_CHUNK = 1024 * 1024
# Inflate at most this much at a time, so a member's memory cost is bounded whatever its compression ratio.
_INFLATE_CHUNK = 256 * 1024
# RECORD may list signatures of itself without hashes (PEP 427).
_RECORD_SELF = ("RECORD", "RECORD.jws", "RECORD.p7s")
_WEAK_HASHES = frozenset({"md5", "sha1"})
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"


@dataclass(frozen=True)
class Limits:
    """Bounds that make a hostile archive cost a bounded amount of time and memory.

    The defaults are far above any real wheel (the largest members of GPU wheels are a few GiB), and far below
    what a zip bomb declares.
    """

    max_member_bytes: int = 8 * 1024**3
    max_total_bytes: int = 64 * 1024**3
    max_members: int = 500_000
    max_record_bytes: int = 64 * 1024**2


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a file."""

    kind: IssueKind
    message: str


@dataclass(frozen=True)
class Inspection:
    """What :func:`inspect_wheel` found: the file's sha256 (None when unreadable) and every problem."""

    sha256: str | None
    findings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.findings


# -- one wheel ---------------------------------------------------------------------------------------------


class _Bad(Exception):
    """Stops the inspection of an archive that cannot be read any further."""


def _record_digest(value: str) -> tuple[str, str] | None:
    """``sha256=<urlsafe b64>`` -> (algorithm, hex digest); None when the field is not of that form."""
    algorithm, sep, encoded = value.partition("=")
    if not sep or not encoded:
        return None
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        return None
    return algorithm.lower(), raw.hex()


def _unsafe_member(name: str) -> bool:
    parts = PurePosixPath(name).parts
    drive = bool(parts) and ":" in parts[0]
    return not parts or name.startswith("/") or "\\" in name or "\0" in name or ".." in parts or drive


class _WheelReader:
    """Streams each member of an open wheel and checks it against its central-directory entry."""

    def __init__(self, filename: str, zf: zipfile.ZipFile, raw: BinaryIO, limits: Limits) -> None:
        self.filename = filename
        self.zf = zf
        self.raw = raw
        self.limits = limits
        self.findings: list[Finding] = []
        self.file_size = os.fstat(raw.fileno()).st_size

    def corrupt(self, message: str) -> None:
        self.findings.append(Finding("corrupt", message))

    def data_offsets(self, infos: Sequence[zipfile.ZipInfo]) -> dict[str, int]:
        """Where each member's compressed data starts; reports members whose data overlap or run off the end."""
        offsets: dict[str, int] = {}
        spans: list[tuple[int, int, str]] = []
        for info in infos:
            self.raw.seek(info.header_offset)
            header = self.raw.read(_LOCAL_HEADER.size)
            if len(header) != _LOCAL_HEADER.size or header[:4] != _LOCAL_SIGNATURE:
                self.corrupt(f"{info.filename}: no local file header at offset {info.header_offset}")
                continue
            fields = _LOCAL_HEADER.unpack(header)
            start = info.header_offset + _LOCAL_HEADER.size + fields[10] + fields[11]
            end = start + info.compress_size
            if end > self.file_size:
                self.corrupt(f"{info.filename}: data runs past the end of the file (truncated)")
                continue
            offsets[info.filename] = start
            spans.append((info.header_offset, end, info.filename))
        # Members sharing compressed data are the "overlapping" zip bomb: each inflates the same kernel again.
        spans.sort()
        for (_, end, name), (next_start, _, next_name) in itertools.pairwise(spans):
            if end > next_start:
                self.corrupt(f"{name}: its data overlaps the member {next_name} (a zip bomb or a broken archive)")
                raise _Bad
        return offsets

    def stream(self, info: zipfile.ZipInfo, start: int, sink: Callable[[bytes], None]) -> bool:
        """Inflate one member into ``sink`` in chunks; report and return False when it is not as declared."""
        name = info.filename
        if info.flag_bits & 0x1:
            self.corrupt(f"{name}: the member is encrypted")
            return False
        crc = 0
        produced = 0
        over = False

        def take(data: bytes) -> bool:
            nonlocal crc, produced, over
            if produced + len(data) > info.file_size:
                over = True
                return False
            produced += len(data)
            crc = zlib.crc32(data, crc)
            sink(data)
            return True

        if info.compress_type == zipfile.ZIP_STORED:
            if info.compress_size != info.file_size:
                self.corrupt(f"{name}: stored member is {info.compress_size} bytes but declares {info.file_size}")
                return False
            ok = self._copy_raw(start, info.compress_size, take)
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            ok = self._inflate(info, start, take)
        else:
            # bzip2/lzma/zstd members are rare in wheels; zipfile's reader stops at the declared size by itself.
            ok = self._read_with_zipfile(info, take)
        if over:
            self.corrupt(f"{name}: inflates to more than its declared {info.file_size} bytes")
            return False
        if not ok:
            return False
        if produced != info.file_size:
            self.corrupt(f"{name}: inflates to {produced} bytes, not the declared {info.file_size} (truncated)")
            return False
        if crc != info.CRC:
            self.corrupt(f"{name}: CRC check failed (the data is damaged)")
            return False
        return True

    def _copy_raw(self, start: int, size: int, take: Callable[[bytes], bool]) -> bool:
        self.raw.seek(start)
        left = size
        while left > 0:
            chunk = self.raw.read(min(_READ_CHUNK, left))
            if not chunk:
                return False
            left -= len(chunk)
            if not take(chunk):
                return False
        return True

    def _inflate(self, info: zipfile.ZipInfo, start: int, take: Callable[[bytes], bool]) -> bool:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self.raw.seek(start)
        left = info.compress_size
        try:
            while left > 0:
                chunk = self.raw.read(min(_READ_CHUNK, left))
                if not chunk:
                    return False
                left -= len(chunk)
                data = inflater.decompress(chunk, _INFLATE_CHUNK)
                while True:
                    if not take(data):
                        return False
                    if not inflater.unconsumed_tail:
                        break
                    data = inflater.decompress(inflater.unconsumed_tail, _INFLATE_CHUNK)
        except zlib.error as exc:
            self.corrupt(f"{info.filename}: compressed data is damaged ({exc})")
            return False
        if not inflater.eof:
            self.corrupt(f"{info.filename}: compressed data ends early (truncated)")
            return False
        return True

    def _read_with_zipfile(self, info: zipfile.ZipInfo, take: Callable[[bytes], bool]) -> bool:
        try:
            with self.zf.open(info) as fh:
                while chunk := fh.read(_INFLATE_CHUNK):
                    if not take(chunk):
                        return False
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
            self.corrupt(f"{info.filename}: cannot be read ({exc})")
            return False
        return True

    def read_small(self, info: zipfile.ZipInfo, start: int, limit: int) -> bytes | None:
        """A member's whole content when it declares at most ``limit`` bytes; None (reported) otherwise."""
        if info.file_size > limit:
            self.corrupt(f"{info.filename} declares {info.file_size} bytes, over the {limit} byte limit")
            return None
        chunks: list[bytes] = []
        return b"".join(chunks) if self.stream(info, start, chunks.append) else None


def inspect_wheel(path: Path, *, filename: str | None = None, limits: Limits | None = None) -> Inspection:
    """Check one wheel thoroughly, in bounded memory; see the module docstring for what is checked.

    ``filename`` is the wheel's name when ``path`` is a temporary file (METADATA is compared with it).
    """
    limits = limits or Limits()
    # One open file for the hash and the inspection: a file replaced while it is checked must not have one's
    # hash reported with the other's findings.
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        return Inspection(None, (read_failure(exc),))
    with raw:
        try:
            sha256 = _file_sha256(raw)
        except OSError as exc:
            return Inspection(None, (read_failure(exc),))
        findings: list[Finding] = []
        try:
            raw.seek(0)
            with zipfile.ZipFile(raw) as zf:
                findings = _inspect_zip(filename or path.name, zf, raw, limits)
        except zipfile.BadZipFile as exc:
            findings = [Finding("corrupt", f"not a readable zip file ({exc}); truncated or not a wheel")]
        except (OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as exc:
            findings = [Finding("corrupt", f"cannot be read as a zip file ({exc})")]
    return Inspection(sha256, tuple(findings))


def read_failure(exc: OSError) -> Finding:
    # A file this user may not read says nothing about its bytes: it is not called corrupt, and --fix leaves it.
    if isinstance(exc, PermissionError):
        return Finding("unreadable", f"unreadable by this user ({exc.strerror or exc}); it may well be intact")
    return Finding("corrupt", f"cannot be read: {exc.strerror or exc}")


def _inspect_zip(filename: str, zf: zipfile.ZipFile, raw: BinaryIO, limits: Limits) -> list[Finding]:
    reader = _WheelReader(filename, zf, raw, limits)
    with contextlib.suppress(_Bad):
        _inspect_members(reader, zf.infolist())
    return reader.findings


def _inspect_members(reader: _WheelReader, infos: list[zipfile.ZipInfo]) -> None:
    limits = reader.limits
    if len(infos) > limits.max_members:
        reader.corrupt(f"{len(infos)} members, over the limit of {limits.max_members}")
        raise _Bad
    names: set[str] = set()
    total = 0
    for info in infos:
        if info.filename in names:
            reader.corrupt(f"{info.filename}: the name appears twice in the archive")
            raise _Bad
        names.add(info.filename)
        if _unsafe_member(info.filename):
            reader.corrupt(f"{info.filename}: the path escapes the install directory")
        if info.file_size > limits.max_member_bytes:
            reader.corrupt(
                f"{info.filename} declares {info.file_size} bytes, over the per-member limit of "
                f"{limits.max_member_bytes} (a zip bomb?)"
            )
        total += info.file_size
    if total > limits.max_total_bytes:
        reader.corrupt(f"members declare {total} bytes in all, over the limit of {limits.max_total_bytes}")
    if reader.findings:
        raise _Bad
    offsets = reader.data_offsets(infos)
    if reader.findings:
        raise _Bad

    files = [info for info in infos if not info.is_dir()]
    records = [i for i in files if i.filename.count("/") == 1 and i.filename.endswith(".dist-info/RECORD")]
    try:
        metadata_member: str | None = locate_metadata_member([i.filename for i in infos], reader.filename)
    except MetadataProblem as exc:
        reader.findings.append(Finding("metadata-mismatch", str(exc)))
        metadata_member = None
    record_info = records[0] if len(records) == 1 else None
    dist_info = record_info.filename.rsplit("/", 1)[0] if record_info is not None else None
    self_entries = {f"{dist_info}/{name}" for name in _RECORD_SELF} if dist_info else set()
    expected: dict[str, tuple[str | None, int | None]] = {}
    absent = _Absent()
    if len(records) != 1:
        reader.findings.append(
            Finding("record-mismatch", "no .dist-info/RECORD" if not records else "more than one .dist-info/RECORD")
        )
    elif record_info is not None:
        data = reader.read_small(record_info, offsets[record_info.filename], limits.max_record_bytes)
        if data is None:
            raise _Bad
        expected = _parse_record(reader, data, record_info.filename, {i.filename for i in files} | self_entries, absent)
    metadata_bytes: bytes | None = None
    for info in files:
        entry = expected.pop(info.filename, None)
        algorithm = entry[0].partition("=")[0] if entry and entry[0] else None
        digest: Any = None
        if algorithm and algorithm not in _WEAK_HASHES and algorithm in hashlib.algorithms_guaranteed:
            digest = hashlib.new(algorithm)
        keep = io.BytesIO() if info.filename == metadata_member and info.file_size <= MAX_METADATA_BYTES else None

        def sink(data: bytes, digest: Any = digest, keep: io.BytesIO | None = keep) -> None:
            if digest is not None:
                digest.update(data)
            if keep is not None:
                keep.write(data)

        if not reader.stream(info, offsets[info.filename], sink):
            continue
        if keep is not None:
            metadata_bytes = keep.getvalue()
        if record_info is None or info.filename in self_entries:
            continue
        _compare_record_entry(reader, info, entry, digest)
    absent.names.extend(name for name in expected if name not in self_entries)
    for name in sorted(absent.names[:_MAX_ROW_FINDINGS]):
        reader.findings.append(Finding("record-mismatch", f"{name}: listed in RECORD but not in the wheel"))
    if absent.count + len(absent.names) > _MAX_ROW_FINDINGS:
        more = absent.count + len(absent.names) - _MAX_ROW_FINDINGS
        reader.findings.append(Finding("record-mismatch", f"... and {more} more listed in RECORD but not in the wheel"))
    if metadata_member is not None:
        _check_metadata(reader, metadata_bytes)


# A hostile RECORD of millions of short rows fits in a small wheel: what is kept of it is bounded by the members
# of the archive, its bad rows are reported up to this many, and reading stops after this many useless rows.
_MAX_ROW_FINDINGS = 20
_MAX_USELESS_ROWS = 10_000


@dataclass
class _Absent:
    """Names RECORD lists that the archive does not hold: the first few, and how many more."""

    names: list[str] = field(default_factory=list)
    count: int = 0


def _parse_record(
    reader: _WheelReader, data: bytes, where: str, members: set[str], absent: _Absent
) -> dict[str, tuple[str | None, int | None]]:
    """RECORD's entries for ``members``; a row naming anything else goes to ``absent``."""
    out: dict[str, tuple[str | None, int | None]] = {}
    bad: list[str] = []
    stopped = ""
    try:
        # Decoded as it is read: a StringIO of the whole text would cost four bytes a character.
        lines = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")
        for number, row in enumerate(csv.reader(lines), 1):
            if len(bad) + absent.count > _MAX_USELESS_ROWS:
                stopped = f"; the rows from {number} on are not read"
                break
            if not row:
                continue
            if len(row) != 3:
                bad.append(f"{where}:{number}: expected path,hash,size")
                continue
            name, hash_value, size = row
            try:
                size_value = int(size) if size else None
            except ValueError:
                bad.append(f"{where}:{number}: bad size {size[:40]!r}")
                size_value = None
            if name in members:
                out[name] = (hash_value or None, size_value)
            elif len(absent.names) < _MAX_ROW_FINDINGS:
                absent.names.append(name)
            else:
                absent.count += 1
    except (UnicodeDecodeError, csv.Error) as exc:
        bad.append(f"{where} cannot be parsed ({exc})")
    reader.findings.extend(Finding("record-mismatch", message) for message in bad[:_MAX_ROW_FINDINGS])
    if len(bad) > _MAX_ROW_FINDINGS or stopped:
        more = max(0, len(bad) - _MAX_ROW_FINDINGS)
        reader.findings.append(Finding("record-mismatch", f"{where}: ... and {more} more bad rows{stopped}"))
    return out


def _compare_record_entry(
    reader: _WheelReader, info: zipfile.ZipInfo, entry: tuple[str | None, int | None] | None, digest: Any
) -> None:
    name = info.filename
    if entry is None:
        reader.findings.append(Finding("record-mismatch", f"{name}: in the wheel but not listed in RECORD"))
        return
    hash_value, size = entry
    if hash_value is None:
        reader.findings.append(Finding("record-mismatch", f"{name}: RECORD gives no hash for it"))
        return
    parsed = _record_digest(hash_value)
    if parsed is None:
        reader.findings.append(Finding("record-mismatch", f"{name}: unreadable RECORD hash {hash_value!r}"))
        return
    algorithm, want = parsed
    if digest is None:
        reason = "a weak" if algorithm in _WEAK_HASHES else "an unknown"
        reader.findings.append(Finding("record-mismatch", f"{name}: RECORD uses {reason} hash ({algorithm})"))
        return
    if digest.hexdigest() != want:
        reader.findings.append(Finding("record-mismatch", f"{name}: {algorithm} differs from RECORD"))
    elif size is not None and size != info.file_size:
        reader.findings.append(Finding("record-mismatch", f"{name}: is {info.file_size} bytes, RECORD says {size}"))


def _check_metadata(reader: _WheelReader, data: bytes | None) -> None:
    if data is None:
        return  # already reported as corrupt or too large
    try:
        check_metadata_names_file(parse_core_metadata(data), reader.filename)
    except ValueError as exc:
        reader.findings.append(Finding("metadata-mismatch", str(exc)))


def _file_sha256(fh: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := fh.read(_READ_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()
