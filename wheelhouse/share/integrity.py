"""Integrity of the wheels folder: is every file what it claims to be, and the file that was downloaded?

:func:`check` inspects every file of the folder (each wheel with
:func:`~wheelhouse.share.wheel_check.inspect_wheel`: zip structure, bounded inflation, RECORD, METADATA),
re-hashes it and compares the hash with the one recorded when it was added (``Store.records()``; a hash cached
in the manifest is never taken for the file's). With ``fix=True``, holding the folder's lock, it moves every
bad file aside to ``wheels/.wheelhouse/quarantine/`` (never deletes it, never through a symbolic link), fetches
it again from its recorded URL through an injected ``fetch`` callable, committing it only once it passes the
same checks, and removes the partial files interrupted runs left. A file this user cannot read is reported as
``unreadable`` and left where it is.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import stat
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from wheelhouse.dists import InvalidDistFilename, parse_dist_filename
from wheelhouse.errors import WheelhouseError
from wheelhouse.share.wheel_check import Finding, Inspection, IssueKind, Limits, inspect_wheel, read_failure
from wheelhouse.store.folder import FileRecord, Store, StoreScan
from wheelhouse.store.fs import file_sha256, real_dir
from wheelhouse.store.shadow import SHADOWS

# Limits and inspect_wheel are part of this module's interface (check takes limits; bundles inspect wheels).
__all__ = [
    "CheckReport",
    "CheckReporter",
    "FileIssue",
    "Finding",
    "FixOutcome",
    "Inspection",
    "Limits",
    "NullCheckReporter",
    "check",
    "inspect_wheel",
    "quarantine",
    "report_to_json",
    "restore_command",
]

FixStatus = Literal["restored", "moved-aside", "no-url", "failed", "left-alone"]

JSON_SCHEMA_VERSION = 1
QUARANTINE_DIR = "quarantine"
_MAX_DETAILS = 20


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


# -- the folder --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Subject:
    """A file to check: how, and what its download record says."""

    filename: str
    kind: Literal["wheel", "sdist", "foreign", "shadowed"]
    record: FileRecord | None = None
    note: str = ""  # the scan's reason for a foreign or shadowed file


@dataclass
class _Checked:
    subject: _Subject
    inspection: Inspection
    issue: FileIssue | None = field(default=None)


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _subjects(scan: StoreScan) -> list[_Subject]:
    records = scan.records
    subjects: dict[str, _Subject] = {}
    for wheel in scan.wheels:
        name = wheel.dist.filename
        subjects[name] = _Subject(name, "wheel", records.get(name))
    for sdist in scan.sdists:
        subjects[sdist.filename] = _Subject(sdist.filename, "sdist", records.get(sdist.filename))
    for problem in scan.problems:
        if problem.reason.startswith(SHADOWS):
            subjects[problem.filename] = _Subject(
                problem.filename, "shadowed", records.get(problem.filename), problem.reason
            )
            continue
        if not _regular(scan.root / problem.filename):
            # A folder, a named pipe or a dangling link under a wheel's name: reading it would fail or block.
            subjects[problem.filename] = _Subject(problem.filename, "foreign", None, problem.reason)
            continue
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
    if subject.kind == "shadowed":
        return Inspection(None, (Finding("shadowed", subject.note),))
    if subject.kind == "sdist":
        # Source distributions are only compared with their recorded hash: building them is download's job.
        try:
            return Inspection(file_sha256(path))
        except OSError as exc:
            return Inspection(None, (read_failure(exc),))
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
    if fix and (stray or any(item.issue is not None for item in checked)):
        # Held for every fix (the new copies are partial files until committed) and the cleaning: under the
        # lock, a partial file is certainly abandoned by whoever made it, whatever its age.
        with store.lock():
            for item in checked:
                if item.issue is not None:
                    report.fixing(item.subject.filename)
                    outcome = _fix(store, item.subject, item.issue, fetch, limits)
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


def _fix(store: Store, subject: _Subject, issue: FileIssue, fetch: Fetch | None, limits: Limits) -> FixOutcome:
    filename = subject.filename
    if issue.kind == "unreadable":
        return FixOutcome("left-alone", "left in place: run the check as a user who can read it")
    if issue.kind == "shadowed":
        # Which of the two was verified, the folder cannot tell: the user removes the one they do not want.
        return FixOutcome("left-alone", "left in place: remove the one of the two you do not want")
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
