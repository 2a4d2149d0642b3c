"""Integrity of the wheels folder: is every file what it claims to be, and the file that was downloaded?

For each wheel :func:`inspect_wheel` checks, reading every byte once and never more than a chunk at a time:

* the file is a readable zip whose members do not overlap, whose paths stay inside the archive and whose
  declared sizes are within :class:`Limits` (a zip bomb is refused before a byte of it is inflated);
* every member inflates to exactly its declared size with a matching CRC (a member that inflates past its
  declared size is reported, not read to the end);
* ``RECORD`` lists every member with a hash that matches, and nothing that is not there;
* ``METADATA`` names the project and version the file name carries.

:func:`check` runs that over the folder, compares each file's sha256 with the hash recorded when it was
downloaded (``Store.records()``), and with ``fix=True`` moves every bad file aside to
``wheels/.wheelhouse/quarantine/`` (never deletes it) and fetches it again from its recorded URL through an
injected ``fetch`` callable, committing it only once it passes the same checks.
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
import shlex
import struct
import time
import zipfile
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Literal, Protocol

from wheelhouse.dists import MAX_METADATA_BYTES, InvalidDistFilename, parse_core_metadata, parse_dist_filename
from wheelhouse.errors import WheelhouseError
from wheelhouse.store.folder import FileRecord, Store, StoreScan
from wheelhouse.store.fs import real_dir
from wheelhouse.store.metadata import MetadataProblem, check_metadata_names_file, locate_metadata_member

IssueKind = Literal["corrupt", "record-mismatch", "hash-mismatch", "metadata-mismatch", "not-a-wheel"]
FixStatus = Literal["restored", "moved-aside", "no-url", "failed"]

JSON_SCHEMA_VERSION = 1
QUARANTINE_DIR = "quarantine"
_READ_CHUNK = 1024 * 1024
# Inflate at most this much at a time, so a member's memory cost is bounded whatever its compression ratio.
_INFLATE_CHUNK = 256 * 1024
_MAX_DETAILS = 20
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


@dataclass(frozen=True)
class FixOutcome:
    """What ``--fix`` did about one file."""

    status: FixStatus
    detail: str
    quarantined: str | None = None  # where the bad file now is, relative to the wheels folder
    command: str | None = None  # the command that restores it, when wheelhouse could not

    @property
    def fixed(self) -> bool:
        return self.status in ("restored", "moved-aside")


@dataclass(frozen=True)
class FileIssue:
    """A file in the folder that is not what it should be."""

    filename: str
    kind: IssueKind
    reason: str
    details: tuple[str, ...] = ()
    fix: FixOutcome | None = None

    @property
    def fixed(self) -> bool:
        return self.fix is not None and self.fix.fixed


@dataclass(frozen=True)
class CheckReport:
    """The outcome of :func:`check`."""

    wheels_dir: str
    checked: int
    issues: tuple[FileIssue, ...] = ()
    stray: tuple[str, ...] = ()
    cleaned: tuple[str, ...] = ()
    fixed: bool = False  # whether --fix was asked for

    @property
    def clean(self) -> bool:
        """True when nothing is left wrong (issues that --fix repaired do not count)."""
        return all(issue.fixed for issue in self.issues)


class CheckReporter(Protocol):
    """Progress hooks of :func:`check`; the CLI draws them, tests ignore them."""

    def checked(self, filename: str, done: int, total: int) -> None:
        """``filename`` has been inspected; ``done`` of ``total`` files are."""
        ...

    def fixing(self, filename: str) -> None:
        """``filename`` is about to be moved aside and fetched again."""
        ...


class NullCheckReporter:
    """A reporter whose hooks do nothing."""

    def checked(self, filename: str, done: int, total: int) -> None:
        """Ignore progress."""

    def fixing(self, filename: str) -> None:
        """Ignore progress."""


# fetch(filename, url, expected_sha256, dest) -> sha256 of what was written to dest. It raises a
# WheelhouseError (NetworkError, HashMismatchError) on failure; the CLI builds it from wheelhouse.index.http.
Fetch = Callable[[str, str, str | None, Path], str]


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
    try:
        sha256 = _file_sha256(path)
    except OSError as exc:
        return Inspection(None, (Finding("corrupt", f"cannot be read: {exc.strerror or exc}"),))
    findings: list[Finding] = []
    try:
        with open(path, "rb") as raw, zipfile.ZipFile(raw) as zf:
            findings = _inspect_zip(filename or path.name, zf, raw, limits)
    except zipfile.BadZipFile as exc:
        findings = [Finding("corrupt", f"not a readable zip file ({exc}); truncated or not a wheel")]
    except (OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as exc:
        findings = [Finding("corrupt", f"cannot be read as a zip file ({exc})")]
    return Inspection(sha256, tuple(findings))


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
    expected: dict[str, tuple[str | None, int | None]] = {}
    if len(records) != 1:
        reader.findings.append(
            Finding("record-mismatch", "no .dist-info/RECORD" if not records else "more than one .dist-info/RECORD")
        )
    elif record_info is not None:
        data = reader.read_small(record_info, offsets[record_info.filename], limits.max_record_bytes)
        if data is None:
            raise _Bad
        expected = _parse_record(reader, data, record_info.filename)

    dist_info = record_info.filename.rsplit("/", 1)[0] if record_info is not None else None
    self_entries = {f"{dist_info}/{name}" for name in _RECORD_SELF} if dist_info else set()
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
    for name in sorted(expected):
        if name not in self_entries:
            reader.findings.append(Finding("record-mismatch", f"{name}: listed in RECORD but not in the wheel"))
    if metadata_member is not None:
        _check_metadata(reader, metadata_bytes)


def _parse_record(reader: _WheelReader, data: bytes, where: str) -> dict[str, tuple[str | None, int | None]]:
    out: dict[str, tuple[str | None, int | None]] = {}
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        reader.findings.append(Finding("record-mismatch", f"{where} cannot be parsed ({exc})"))
        return out
    for number, row in enumerate(rows, 1):
        if not row:
            continue
        if len(row) != 3:
            reader.findings.append(Finding("record-mismatch", f"{where}:{number}: expected path,hash,size"))
            continue
        name, hash_value, size = row
        try:
            size_value = int(size) if size else None
        except ValueError:
            reader.findings.append(Finding("record-mismatch", f"{where}:{number}: bad size {size!r}"))
            size_value = None
        out[name] = (hash_value or None, size_value)
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


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# -- the folder --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Subject:
    """A file to check: how, and what its download record says."""

    filename: str
    kind: Literal["wheel", "sdist", "foreign"]
    record: FileRecord | None = None
    note: str = ""  # the scan's reason for a foreign file


@dataclass
class _Checked:
    subject: _Subject
    inspection: Inspection
    issue: FileIssue | None = field(default=None)


def _subjects(scan: StoreScan) -> list[_Subject]:
    records = scan.records
    subjects: dict[str, _Subject] = {}
    for wheel in scan.wheels:
        name = wheel.dist.filename
        subjects[name] = _Subject(name, "wheel", records.get(name))
    for sdist in scan.sdists:
        subjects[sdist.filename] = _Subject(sdist.filename, "sdist", records.get(sdist.filename))
    for problem in scan.problems:
        try:
            _name, _version, kind, _tags, _build = parse_dist_filename(problem.filename)
        except InvalidDistFilename:
            subjects[problem.filename] = _Subject(problem.filename, "foreign", None, problem.reason)
            continue
        subjects[problem.filename] = _Subject(problem.filename, kind, records.get(problem.filename))
    return [subjects[k] for k in sorted(subjects)]


def _inspect_subject(root: Path, subject: _Subject, limits: Limits) -> Inspection:
    path = root / subject.filename
    if subject.kind == "foreign":
        return Inspection(None, (Finding("not-a-wheel", subject.note or "not a wheel"),))
    if subject.kind == "sdist":
        # Source distributions are only compared with their recorded hash: building them is download's job.
        try:
            return Inspection(_file_sha256(path))
        except OSError as exc:
            return Inspection(None, (Finding("corrupt", f"cannot be read: {exc.strerror or exc}"),))
    return inspect_wheel(path, limits=limits)


def _issue(subject: _Subject, inspection: Inspection) -> FileIssue | None:
    findings = list(inspection.findings)
    record = subject.record
    if record is not None and record.sha256 and inspection.sha256 and record.sha256 != inspection.sha256:
        # Structural findings say more about what happened, so they lead; the hash says that it happened.
        findings.append(
            Finding(
                "hash-mismatch",
                f"sha256 {inspection.sha256} differs from {record.sha256}, recorded when it was added",
            )
        )
    if not findings:
        return None
    details = tuple(f.message for f in findings[1:_MAX_DETAILS])
    if len(findings) > _MAX_DETAILS:
        details += (f"... and {len(findings) - _MAX_DETAILS} more",)
    return FileIssue(subject.filename, findings[0].kind, findings[0].message, details)


def check(
    store: Store,
    *,
    fix: bool = False,
    fetch: Fetch | None = None,
    limits: Limits | None = None,
    jobs: int | None = None,
    reporter: CheckReporter | None = None,
) -> CheckReport:
    """Check every file of the folder; with ``fix``, move bad files aside and fetch them again.

    ``fetch`` downloads a recorded URL to a temporary path (see :data:`Fetch`); without it, ``fix`` moves bad
    files aside and reports the command that restores them. Never deletes a wheel. Raises StoreError only
    when the folder itself cannot be read.
    """
    report = reporter or NullCheckReporter()
    limits = limits or Limits()
    if fix:
        # Refuse before checking anything: --fix moves, writes and deletes under .wheelhouse/.
        store.check_state()
    scan = store.scan()
    subjects = _subjects(scan)
    workers = max(1, jobs if jobs is not None else min(4, os.cpu_count() or 1))
    checked: list[_Checked] = []
    # zlib and hashlib release the GIL on large buffers, so threads check several wheels at once.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, (subject, inspection) in enumerate(
            zip(subjects, pool.map(lambda s: _inspect_subject(store.root, s, limits), subjects), strict=True), 1
        ):
            checked.append(_Checked(subject, inspection, _issue(subject, inspection)))
            report.checked(subject.filename, done, len(subjects))
    stray = tuple(scan.stray)
    cleaned: tuple[str, ...] = ()
    if fix:
        # Held for every fix (the new copies are partial files until committed) and the cleaning: under the
        # lock, a partial file is certainly abandoned by whoever made it, whatever its age.
        with store.lock():
            for item in checked:
                if item.issue is not None:
                    report.fixing(item.subject.filename)
                    outcome = _fix(store, item.subject, fetch, limits)
                    item.issue = FileIssue(
                        item.issue.filename, item.issue.kind, item.issue.reason, item.issue.details, outcome
                    )
            if stray:
                cleaned = tuple(sorted(store.clean_stray()))
        if stray:
            stray = tuple(store.scan().stray)
    issues = tuple(item.issue for item in checked if item.issue is not None)
    return CheckReport(str(store.root), len(subjects), issues, stray, cleaned, fix)


def quarantine(store: Store, filename: str) -> Path:
    """Move ``filename`` out of the folder into ``.wheelhouse/quarantine/``; returns its new path."""
    qdir = real_dir(store.meta_dir / QUARANTINE_DIR)
    dest = qdir / filename
    n = 1
    while dest.exists():  # an earlier quarantined copy is evidence too: never overwrite it
        dest = qdir / f"{filename}.{n}"
        n += 1
    os.replace(store.root / filename, dest)
    return dest


def restore_command(store: Store, filename: str, record: FileRecord | None) -> str:
    """The ``wheelhouse download`` line that brings ``filename`` back."""
    argv = ["wheelhouse", "download"]
    if str(store.root) != "wheels":
        argv += ["--wheels", str(store.root)]
    for target in record.targets if record else ():
        argv += ["--target", target]
    try:
        name, version, _kind, _tags, _build = parse_dist_filename(filename)
        argv.append(f"{name}=={version}")
    except InvalidDistFilename:
        argv.append(filename)
    return shlex.join(argv)


def _fix(store: Store, subject: _Subject, fetch: Fetch | None, limits: Limits) -> FixOutcome:
    filename = subject.filename
    with store.lock():
        try:
            moved = quarantine(store, filename)
        except FileNotFoundError:
            moved = None
        except OSError as exc:
            return FixOutcome("failed", f"cannot move it aside: {exc.strerror or exc}")
    where = str(moved.relative_to(store.root)) if moved is not None else None
    if subject.kind == "foreign":
        return FixOutcome("moved-aside", "not a wheel: moved aside, nothing to download", where)
    record = subject.record
    command = restore_command(store, filename, record)
    if record is None or not record.url:
        return FixOutcome("no-url", "moved aside; no download URL was recorded for it", where, command)
    if fetch is None:
        return FixOutcome("failed", "moved aside; downloading is not available here", where, command)
    temp = store.new_temp(filename)
    try:
        sha256 = fetch(filename, record.url, record.sha256 or None, temp)
        if subject.kind == "wheel":
            again = inspect_wheel(temp, filename=filename, limits=limits)
            if not again.ok:
                raise _Refetched(again.findings[0].message)
        store.commit(temp, filename, FileRecord(sha256=sha256, url=record.url, added=time.time()))
    except (WheelhouseError, _Refetched) as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        return FixOutcome("failed", f"moved aside; downloading it again failed: {exc}", where, command)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        return FixOutcome("failed", f"moved aside; cannot write the new copy: {exc.strerror or exc}", where, command)
    return FixOutcome("restored", f"moved aside and downloaded again from {record.url}", where)


class _Refetched(Exception):
    """The file fetched again is itself broken."""

    def __str__(self) -> str:
        return f"the new copy is broken too ({self.args[0]})"


def report_to_json(report: CheckReport) -> dict[str, Any]:
    """The documented ``check --json`` structure (schema 1; see docs/sharing.md)."""
    return {
        "schema": JSON_SCHEMA_VERSION,
        "wheels": report.wheels_dir,
        "clean": report.clean,
        "checked": report.checked,
        "issues": [
            {
                "file": issue.filename,
                "kind": issue.kind,
                "reason": issue.reason,
                "details": list(issue.details),
                "fix": None
                if issue.fix is None
                else {
                    "status": issue.fix.status,
                    "fixed": issue.fix.fixed,
                    "detail": issue.fix.detail,
                    "quarantined": issue.fix.quarantined,
                    "command": issue.fix.command,
                },
            }
            for issue in report.issues
        ],
        "stray": list(report.stray),
        "cleaned": list(report.cleaned),
    }
