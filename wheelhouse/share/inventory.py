"""What the wheels folder holds: a listing of its wheels, one wheel in detail, and why a project is there.

Everything here reads; nothing writes except the metadata cache that :meth:`Store.scan` keeps warm. Provenance
(where a file came from, when it was added, which targets use it) comes from the manifest's records, which
``download`` writes; a file copied in by hand simply has no record.
"""

from __future__ import annotations

import fnmatch
import os
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from wheelhouse.dists import DistFile, InvalidDistFilename, metadata_message, parse_dist_filename
from wheelhouse.errors import StoreError, UsageError, WheelhouseError
from wheelhouse.requirements import RequirementSet
from wheelhouse.resolve.resolver import Chain, Gap, Provider, resolve
from wheelhouse.store.folder import (
    Store,
    StoredWheel,
    StoreFinder,
    StoreProblem,
    StoreScan,
)
from wheelhouse.store.fs import file_sha256
from wheelhouse.store.manifest import FileRecord
from wheelhouse.store.metadata import read_metadata_member
from wheelhouse.targets import Target

__all__ = [
    "ArchiveMember",
    "Inventory",
    "NotInFolderError",
    "WheelDetails",
    "WheelEntry",
    "WhyReport",
    "WhyStatus",
    "WhyTarget",
    "list_wheels",
    "open_store",
    "short_tags",
    "show_wheels",
    "why",
]

# Legacy manylinux names and the PEP 600 name each one is an alias of.
_LEGACY_ALIASES = {"manylinux2014": "manylinux_2_17", "manylinux2010": "manylinux_2_12", "manylinux1": "manylinux_2_5"}
_GLOB_CHARS = frozenset("*?[")


class NotInFolderError(WheelhouseError):
    """A wheel or project asked for by name is not in the folder."""


@dataclass(frozen=True)
class WheelEntry:
    """One wheel of the folder, as ``list`` shows it."""

    filename: str
    project: NormalizedName
    version: Version
    tags: tuple[str, ...]
    short_tags: str
    size: int
    mtime: float
    record: FileRecord | None

    @property
    def added(self) -> float:
        """When the file came into the folder: the record's date, else the file's modification time."""
        if self.record is not None and self.record.added:
            return self.record.added
        return self.mtime

    @property
    def targets(self) -> tuple[str, ...]:
        """The targets whose resolution used this file when it was downloaded (from the manifest)."""
        return self.record.targets if self.record is not None else ()


@dataclass(frozen=True)
class Inventory:
    """The wheels of a folder (after any filter), with the folder's unreadable files."""

    wheels_dir: str
    entries: tuple[WheelEntry, ...]
    problems: tuple[StoreProblem, ...] = ()
    filtered: bool = False
    total_in_folder: int = 0

    @property
    def size(self) -> int:
        """Bytes of the listed wheels."""
        return sum(e.size for e in self.entries)

    @property
    def projects(self) -> int:
        """How many distinct projects the listed wheels belong to."""
        return len({e.project for e in self.entries})


def open_store(root: Path | str) -> Store:
    """The store at ``root``; a missing folder is an error with the command that creates it."""
    store = Store(root)
    if not store.root.exists():
        raise StoreError(
            f"the wheels folder {store.root} does not exist",
            hint="wheelhouse download -r requirements.txt (or pass --wheels DIR)",
        )
    if not store.root.is_dir():
        raise StoreError(f"{store.root} is not a directory", hint="pass --wheels DIR naming the wheels folder")
    return store


def short_tags(filename: str) -> str:
    """The tag part of a wheel file name without redundant aliases.

    ``cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64`` becomes ``cp312-cp312-manylinux_2_17_x86_64``:
    the legacy ``manylinux2014`` name says the same as ``manylinux_2_17`` and only widens a table.
    """
    stem = filename.removesuffix(".whl")
    parts = stem.split("-")
    if len(parts) < 5:
        return stem
    pys, abis, plats = parts[-3:]
    platforms = plats.split(".")
    present = set(platforms)
    kept = []
    for plat in platforms:
        legacy, _, arch = plat.partition("_")
        modern = _LEGACY_ALIASES.get(legacy)
        if modern is not None and f"{modern}_{arch}" in present:
            continue
        kept.append(plat)
    return f"{pys}-{abis}-{'.'.join(kept)}"


def _entry(wheel: StoredWheel, records: dict[str, FileRecord]) -> WheelEntry:
    dist = wheel.dist
    return WheelEntry(
        filename=dist.filename,
        project=dist.name,
        version=dist.version,
        tags=tuple(sorted(str(t) for t in dist.tags)),
        short_tags=short_tags(dist.filename),
        size=dist.size or 0,
        mtime=wheel.mtime,
        record=records.get(dist.filename),
    )


def _matches_project(name: NormalizedName, patterns: Sequence[str]) -> bool:
    # Normalise the pattern as PEP 503 normalises names, so "Django_*" finds "django-extensions".
    return any(fnmatch.fnmatchcase(name, re.sub(r"[-_.]+", "-", p).lower()) for p in patterns)


def installable(dist: DistFile, target: Target) -> bool:
    """Whether ``target`` can install ``dist`` (tags and Requires-Python), by the resolver's own rule."""
    return Provider(target, []).rules.file_rejection(dist) is None


def list_wheels(store: Store, *, projects: Sequence[str] = (), targets: Sequence[Target] = ()) -> Inventory:
    """Every wheel in the folder, sorted by project and version.

    ``projects`` keeps wheels whose project matches one of the names (shell-style patterns allowed); ``targets``
    keeps wheels that at least one of the targets can install. Both filters judge the files themselves, so
    wheels copied in by hand (with no record) are listed like downloaded ones.
    """
    scan = store.scan()
    records = dict(scan.records)
    entries = []
    for wheel in scan.wheels:
        if projects and not _matches_project(wheel.dist.name, projects):
            continue
        if targets and not any(installable(wheel.dist, t) for t in targets):
            continue
        entries.append(_entry(wheel, records))
    entries.sort(key=lambda e: (e.project, e.version, e.filename))
    return Inventory(
        wheels_dir=str(store.root),
        entries=tuple(entries),
        problems=scan.problems,
        filtered=bool(projects or targets),
        total_in_folder=len(scan.wheels),
    )


# -- show ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveMember:
    """One file inside a wheel."""

    path: str
    size: int


@dataclass(frozen=True)
class WheelDetails:
    """One wheel in full: metadata summary, tags, hash, size, provenance and its files."""

    filename: str
    path: str
    name: str
    version: str
    summary: str | None
    license: str | None
    requires_python: str | None
    requires_dist: tuple[str, ...]
    extras: tuple[str, ...]
    tags: tuple[str, ...]
    sha256: str
    size: int
    members: tuple[ArchiveMember, ...]
    record: FileRecord | None = None
    in_folder: bool = True
    other_versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Metadata:
    name: str
    version: str
    summary: str | None
    license: str | None
    requires_python: str | None
    requires_dist: tuple[str, ...]
    extras: tuple[str, ...]


def _read_details(path: Path) -> tuple[_Metadata, tuple[ArchiveMember, ...]]:
    """The METADATA fields ``show`` needs and the member list; StoreError when the zip cannot be read."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            data = read_metadata_member(zf, path.name)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
        raise StoreError(f"cannot read {path}: {exc}", hint=f"wheelhouse check --wheels {path.parent}") from None
    msg = metadata_message(data)

    def field(key: str) -> str | None:
        value = msg.get(key)
        text = str(value).strip() if value is not None else ""
        return text or None

    # License-Expression (metadata 2.4) is the precise answer; the free-text License field often holds the whole
    # licence text, so only its first line is shown; classifiers are the last resort.
    license_text = field("License-Expression")
    if license_text is None and (raw := field("License")) is not None:
        lines = raw.splitlines()
        license_text = lines[0].strip() + (" …" if len(lines) > 1 else "")
    if license_text is None:
        classifiers = [str(c) for c in msg.get_all("Classifier") or () if str(c).startswith("License ::")]
        if classifiers:
            license_text = "; ".join(c.rsplit("::", 1)[-1].strip() for c in classifiers)
    meta = _Metadata(
        name=field("Name") or "",
        version=field("Version") or "",
        summary=field("Summary"),
        license=license_text,
        requires_python=field("Requires-Python"),
        requires_dist=tuple(str(v).strip() for v in msg.get_all("Requires-Dist") or ()),
        extras=tuple(str(v).strip() for v in msg.get_all("Provides-Extra") or ()),
    )
    members = tuple(ArchiveMember(i.filename, i.file_size) for i in infos if not i.is_dir())
    return meta, members


def _details(
    path: Path, *, store: Store | None, record: FileRecord | None, other_versions: Sequence[str] = ()
) -> WheelDetails:
    meta, members = _read_details(path)
    try:
        _name, _version, _kind, tags, _build = parse_dist_filename(path.name)
    except InvalidDistFilename as exc:
        raise UsageError(f"{path.name} is not a wheel file name ({exc})") from None
    try:
        sha = store.hashes([path.name])[path.name] if store is not None else file_sha256(path)
        size = path.stat().st_size
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    return WheelDetails(
        filename=path.name,
        path=str(path),
        name=meta.name,
        version=meta.version,
        summary=meta.summary,
        license=meta.license,
        requires_python=meta.requires_python,
        requires_dist=meta.requires_dist,
        extras=meta.extras,
        tags=tuple(sorted(str(t) for t in tags)),
        sha256=sha,
        size=size,
        members=members,
        record=record,
        in_folder=store is not None,
        other_versions=tuple(other_versions),
    )


def _select(scan: StoreScan, spec: str) -> tuple[list[StoredWheel], list[str]]:
    """The stored wheels a ``show`` argument names, and the other versions of that project (newest first)."""
    if _GLOB_CHARS & set(spec):
        pattern = os.path.basename(spec)
        return [w for w in scan.wheels if fnmatch.fnmatchcase(w.dist.filename, pattern)], []
    if spec.endswith(".whl") or "/" in spec:
        name = os.path.basename(spec)
        return [w for w in scan.wheels if w.dist.filename == name], []
    try:
        req = Requirement(spec)
    except InvalidRequirement as exc:
        raise UsageError(
            f"cannot read {spec!r}: expected a wheel file, PROJECT or PROJECT==VERSION ({str(exc).splitlines()[0]})",
            hint="wheelhouse show flask==3.0.0",
        ) from None
    project = canonicalize_name(req.name)
    wheels = scan.by_name().get(project, [])
    versions = sorted({w.dist.version for w in wheels}, reverse=True)
    matching = [v for v in versions if req.specifier.contains(v, prereleases=True)]
    if not matching:
        return [], [str(v) for v in versions]
    # Without an exact version, the newest matching one is shown and the rest are named: a project with many
    # versions times many platforms would otherwise print pages of identical metadata.
    chosen = matching[0]
    others = [str(v) for v in versions if v != chosen]
    return [w for w in wheels if w.dist.version == chosen], others


def show_wheels(store: Store | None, specs: Sequence[str]) -> tuple[WheelDetails, ...]:
    """Details of every wheel the arguments name.

    An argument is a path to a wheel file (inside or outside the folder), a file name or shell pattern matched
    against the folder (``numpy*.whl``), or ``PROJECT[==VERSION]`` (a bare project shows its newest version,
    every platform's file). Raises :class:`NotInFolderError` naming what is there instead.
    """
    scan = store.scan() if store is not None and store.exists() else None
    records = dict(scan.records) if scan is not None else {}
    root = store.root.resolve() if store is not None else None
    out: dict[str, WheelDetails] = {}
    for spec in specs:
        path = Path(spec)
        if spec.endswith(".whl") and path.is_file() and (root is None or path.resolve().parent != root):
            # A wheel outside the folder: its own details, no provenance.
            out.setdefault(str(path.resolve()), _details(path, store=None, record=None))
            continue
        if scan is None or store is None:
            raise NotInFolderError(f"{spec}: the wheels folder does not exist", hint="pass --wheels DIR")
        wheels, others = _select(scan, spec)
        if not wheels:
            raise _not_found(scan, spec, others)
        for wheel in sorted(wheels, key=lambda w: w.dist.filename):
            out.setdefault(
                wheel.dist.filename,
                _details(wheel.path, store=store, record=records.get(wheel.dist.filename), other_versions=others),
            )
    return tuple(out.values())


def _not_found(scan: StoreScan, spec: str, versions: Sequence[str]) -> WheelhouseError:
    where = scan.root
    pattern = os.path.basename(spec)
    for problem in scan.problems:
        # The file is there but is not a usable wheel: say why instead of "not found".
        if problem.filename == pattern or fnmatch.fnmatchcase(problem.filename, pattern):
            return StoreError(
                f"cannot read {where / problem.filename}: {problem.reason}",
                hint=f"wheelhouse check --wheels {where}",
            )
    if versions:
        project = re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0]
        return NotInFolderError(
            f"no wheel in {where} matches {spec!r}; versions present: {', '.join(versions)}",
            hint=f"wheelhouse show {project}=={versions[0]}",
        )
    if spec.endswith(".whl") or "/" in spec or _GLOB_CHARS & set(spec):
        return NotInFolderError(f"no wheel in {where} matches {spec!r}", hint=f"wheelhouse list --wheels {where}")
    return NotInFolderError(
        f"no wheel in {where} matches {spec!r}",
        hint=f"wheelhouse list --wheels {where} (or wheelhouse download {spec})",
    )


# -- why -----------------------------------------------------------------------------------------------------


WhyStatus = Literal["pinned", "missing", "not-needed", "unknown"]


@dataclass(frozen=True)
class WhyTarget:
    """Why one target needs a project: the pinned file and every chain from the top-level requirements."""

    target: Target
    covered: bool
    version: Version | None = None
    filename: str | None = None
    chains: tuple[Chain, ...] = ()
    gap: Gap | None = None

    @property
    def needed(self) -> bool:
        """True when the target's resolution pins the project or lacks it (a gap)."""
        return self.version is not None or self.gap is not None

    @property
    def status(self) -> WhyStatus:
        """``pinned``, ``missing`` (a gap), ``not-needed``, or ``unknown``: the target is not covered and its
        resolution never reached the project, which a file that is missing may well need (a folder for
        ``requests`` without requests cannot tell that idna is needed)."""
        if self.version is not None:
            return "pinned"
        if self.gap is not None:
            return "missing"
        return "not-needed" if self.covered else "unknown"


@dataclass(frozen=True)
class WhyReport:
    """The answer of ``why`` for every target."""

    project: NormalizedName
    targets: tuple[WhyTarget, ...]
    files_in_folder: tuple[str, ...] = ()

    @property
    def needed(self) -> bool:
        """True when some target needs the project."""
        return any(t.needed for t in self.targets)

    @property
    def unknown(self) -> tuple[Target, ...]:
        """The targets that are not covered and whose resolution never reached the project: whether they need
        it is not known until their gaps are filled (and ``prune`` removes nothing meanwhile)."""
        return tuple(t.target for t in self.targets if t.status == "unknown")


def why(
    requirements: RequirementSet,
    targets: Iterable[Target],
    store: Store,
    project: str,
) -> WhyReport:
    """Resolve ``requirements`` per target from the folder alone and report every chain that reaches ``project``.

    A target whose requirements do not resolve still answers: the resolver's gap report carries the chains of
    a missing project, and the pins it could make carry theirs.
    """
    name = canonicalize_name(project)
    scan = store.scan()
    finder = StoreFinder(scan)
    rows = []
    for target in targets:
        res = resolve(requirements, target, [finder])
        pin = res.pin(name)
        gap = next((g for g in res.gaps if g.project == name), None)
        if pin is not None:
            rows.append(WhyTarget(target, res.covered, pin.version, pin.dist.filename, pin.chains))
        elif gap is not None:
            rows.append(WhyTarget(target, res.covered, chains=gap.chains, gap=gap))
        else:
            rows.append(WhyTarget(target, res.covered))
    present = tuple(sorted(d.filename for d in finder.files(name)))
    return WhyReport(name, tuple(rows), present)
