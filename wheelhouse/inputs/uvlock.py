"""``uv.lock`` as a requirements input: the project's dependencies as requirements, every locked release as an
exact constraint.

uv writes one universal lock: each ``[[package]]`` is a release, with ``resolution-markers`` when uv forked the
resolution and chose several versions of one project for different environments. Honouring the lock exactly
while still letting each target's markers and tags decide which files it needs means: the requirements are the
project's own dependency entries (its extras with ``--extra``, its ``dev-dependencies`` groups with ``--group``;
uv has already folded ``include-group`` into them), and every registry release is a ``name==version``
constraint carrying its resolution markers. The resolver then picks, per target, exactly the locked version.

Projects of the workspace itself (sources ``virtual``, ``editable``, ``directory``) are not wheels to fetch:
their dependencies are taken in their place. A release from a git repository, a URL or a local path cannot be
fetched offline from an index, so it is an error naming the lock's line. The lock's ``requires-python`` and
``supported-markers`` (uv's ``environments``) are its :class:`~wheelhouse.inputs.model.LockScope`.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidName, canonicalize_name
from packaging.version import InvalidVersion, Version

from wheelhouse import _toml
from wheelhouse._text import shorten
from wheelhouse.errors import RequirementsError
from wheelhouse.inputs.model import Found, LockScope, Selection, both, either
from wheelhouse.requirements import Origin, RequirementLine

__all__ = ["read_uv_lock"]

_LOCAL_SOURCES = ("virtual", "editable", "directory")
# A project of the workspace is walked once per marker it is reached under; projects that depend on each other
# along many paths, each with its own marker, would be walked once per path, a number that grows exponentially.
# A workspace walks each table of its projects about once: the bound is far above that, and reached in seconds.
_MAX_WALKS = 5_000
_MAX_WALKS_PER_PACKAGE = 10


@dataclass(frozen=True)
class _Package:
    data: Mapping[str, Any]
    start: int | None  # the line of its [[package]] header
    end: int | None

    @property
    def name(self) -> str:
        return str(self.data.get("name", ""))

    @property
    def source(self) -> Mapping[str, Any]:
        source = self.data.get("source", {})
        return source if isinstance(source, dict) else {}

    @property
    def local(self) -> bool:
        return any(key in self.source for key in _LOCAL_SOURCES)

    @property
    def shown(self) -> str:
        """The name as a message quotes it: a valid project name may still run to any length."""
        return shorten(self.name)


@dataclass
class _Lines(_toml.Lines):
    """The lock's lines, with the headers of each table found once: a lock lists thousands of packages, and each
    looks up the headers of its sub-tables."""

    _headers: dict[str, list[int]] = field(default_factory=dict, init=False)

    def headers(self, name: str) -> list[int]:
        if name not in self._headers:
            self._headers[name] = super().headers(name)
        return self._headers[name]


def _reason(exc: Exception) -> str:
    """packaging's message on one line: it quotes the text it could not parse below, under a caret."""
    return shorten(str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__)


def read_uv_lock(path: str, selection: Selection) -> Found:
    """Requirements and constraints from a ``uv.lock``; see the module docstring."""
    text, data = _toml.load(path)
    lines = _Lines(text)
    raw = data.get("package", [])
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        raise RequirementsError("[[package]] must be an array of tables", path=path, line=None, text="")
    starts = lines.headers("package")
    packages = []
    for index, entry in enumerate(raw):
        start = starts[index] if index < len(starts) and len(starts) == len(raw) else None
        package = _Package(entry, start, lines.end_of_item(start, "package") if start else None)
        _check_package(package, path, lines)
        packages.append(package)
    by_name: dict[str, list[_Package]] = {}
    for package in packages:
        by_name.setdefault(canonicalize_name(package.name), []).append(package)

    roots = _roots(packages, _members(data, path, lines))
    if not roots:
        raise RequirementsError("no project of the workspace in this lock", path=path, line=None, text="")
    reader = _Reader(path, lines, by_name, selection)
    try:
        for root in roots:
            reader.take(root, "dependencies", None)
            for extra in selection.extras:
                reader.take(root, "optional-dependencies", None, canonicalize_name(extra))
            for group in selection.groups:
                reader.take(root, "dev-dependencies", None, canonicalize_name(group))
    except RecursionError:
        # Each project of the workspace reached through another is one level deeper: a chain of thousands.
        raise RequirementsError(
            "the workspace's projects depend on each other too deeply", path=path, line=None, text=""
        ) from None

    constraints = []
    for package in packages:
        if package.local:
            continue
        origin = Origin(path, lines.key("name", package.start, package.end) if package.start else None)
        if "registry" not in package.source:
            kind = shorten(str(next(iter(package.source), "unknown")), 40)
            raise RequirementsError(
                f"{package.shown} comes from a {kind} source, which is not supported offline",
                path=path,
                line=origin.line,
                text="",
                hint="lock it from a package index, or put its wheel into the wheels folder and pin it",
            )
        constraints.append(_pin(package, origin, path))

    known_extras = frozenset(canonicalize_name(e) for r in roots for e in _mapping(r.data, "optional-dependencies"))
    known_groups = frozenset(canonicalize_name(g) for r in roots for g in _mapping(r.data, "dev-dependencies"))
    return Found(
        requirements=tuple(reader.out.values()),
        constraints=tuple(constraints),
        scope=_scope(path, data, roots, lines),
        known_extras=known_extras,
        known_groups=known_groups,
    )


def _roots(packages: Sequence[_Package], members: set[str]) -> list[_Package]:
    """The project at the workspace root; without one (a virtual workspace), every member."""
    at_root = [p for p in packages if p.local and any(p.source.get(k) == "." for k in _LOCAL_SOURCES)]
    if at_root:
        return at_root
    return [p for p in packages if p.local and canonicalize_name(p.name) in members]


def _members(data: Mapping[str, Any], path: str, lines: _toml.Lines) -> set[str]:
    """The names in ``[manifest] members``, normalised."""
    manifest = data.get("manifest", {})
    header = next(iter(lines.headers("manifest")), None)
    line = (
        lines.key("members", header, lines.end_of(header)) if header else lines.key("manifest", 1, lines.preamble_end())
    )
    if not isinstance(manifest, dict):
        raise RequirementsError("[manifest] must be a table", path=path, line=lines.key("manifest"), text="")
    members = manifest.get("members", [])
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise RequirementsError("[manifest] members must be a list of strings", path=path, line=line, text="")
    return {canonicalize_name(m) for m in members}


class _Reader:
    """Walks dependency entries from the roots, through the workspace's own projects, to registry releases."""

    def __init__(
        self, path: str, lines: _toml.Lines, by_name: Mapping[str, list[_Package]], selection: Selection
    ) -> None:
        self.path = path
        self.lines = lines
        self.by_name = by_name
        self.selection = selection
        self.out: dict[str, RequirementLine] = {}
        self.seen: set[tuple[str, str, str | None, str]] = set()
        # The tables being walked: a workspace's projects may depend on each other in a cycle.
        self.walking: set[tuple[str, str, str | None]] = set()
        self.max_walks = _MAX_WALKS + _MAX_WALKS_PER_PACKAGE * sum(len(found) for found in by_name.values())

    def take(self, package: _Package, table: str, marker: Marker | None, key: str | None = None) -> None:
        """Add the entries of ``package``'s ``table`` (``key``: the extra or group within it)."""
        entries: Any = package.data.get(table, [])
        if key is not None:
            named: dict[str, Any] = {canonicalize_name(k): v for k, v in _mapping(package.data, table).items()}
            entries = named.get(key, [])
        sign = (package.name, table, key, str(marker))
        walk = sign[:3]
        # Back at a table being walked (a cycle), the marker is the one it was entered with and more: it adds
        # nothing the walk under way does not.
        if sign in self.seen or walk in self.walking:
            return
        if len(self.seen) >= self.max_walks:
            raise RequirementsError(
                f"the workspace's projects reach each other by more than {self.max_walks} paths under different "
                "markers",
                path=self.path,
                line=None,
                text="",
            )
        self.seen.add(sign)
        self.walking.add(walk)
        start, end = _section(self.lines, package, table, key)
        # Every entry's types were checked with its package (_check_package). Entries are written in order, so
        # each name is looked for from the line of the one before.
        cursor = start
        try:
            for entry in entries:
                cursor = self._entry(entry, marker, cursor, end) or cursor
        finally:
            self.walking.discard(walk)

    def _entry(self, entry: Mapping[str, Any], outer: Marker | None, start: int | None, end: int | None) -> int | None:
        """Take one dependency entry; the line it was found on."""
        name = entry["name"]
        line = self.lines.bounded_string(name, start, end) if start is not None else None
        try:
            marker = both(outer, Marker(entry["marker"]) if entry.get("marker") else None)
        except InvalidMarker as exc:
            raise RequirementsError(f"invalid marker: {_reason(exc)}", path=self.path, line=line, text=name) from None
        extras: list[str] = entry.get("extra", [])
        target = self._release(name, entry.get("version"))
        if target is not None and target.local:
            # A project of the workspace: its code is not fetched, its dependencies are.
            self.take(target, "dependencies", marker)
            for extra in extras:
                self.take(target, "optional-dependencies", marker, canonicalize_name(extra))
            return line
        text = name + (f"[{','.join(sorted(extras))}]" if extras else "") + (f"; {marker}" if marker else "")
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            raise RequirementsError(
                f"invalid dependency: {_reason(exc)}", path=self.path, line=line, text=text
            ) from None
        self.out.setdefault(text, RequirementLine(requirement, Origin(self.path, line), text))
        return line

    def _release(self, name: str, version: Any) -> _Package | None:
        candidates = self.by_name.get(canonicalize_name(name), [])
        for package in candidates:
            if version is None or package.data.get("version") == version:
                return package
        return None


def _section(lines: _toml.Lines, package: _Package, table: str, key: str | None) -> tuple[int | None, int | None]:
    """The lines of ``package``'s ``table`` (its sub-table header, then the key's line), for origins."""
    if package.start is None:
        return None, None
    if table == "dependencies":
        line = lines.key("dependencies", package.start, package.end)
        return line, package.end
    headers = lines.headers(f"package.{table}")
    # The first header after the package's own: headers are in order, so found by bisection, not by a scan.
    at = bisect.bisect_right(headers, package.start)
    header = headers[at] if at < len(headers) and headers[at] <= (package.end or headers[at]) else None
    if header is None:
        return None, None
    end = lines.end_of(header)
    names: dict[str, str] = {canonicalize_name(k): k for k in _mapping(package.data, table)}
    line = lines.key(names.get(key or "", key or ""), header, end)
    return line or header, end


def _check_package(package: _Package, path: str, lines: _toml.Lines) -> None:
    """Refuse a ``[[package]]`` whose values have types uv never writes, naming the line of the value.

    What is read later is then known to be well formed: a number where a marker belongs would otherwise fail
    deep in packaging, and a string where a list belongs would be read as no dependencies at all.
    """
    data = package.data

    def fail(reason: str, key: str, text: str = "") -> RequirementsError:
        line = lines.key(key, package.start, package.end) if package.start else None
        return RequirementsError(reason, path=path, line=line or package.start, text=text)

    raw = data.get("name")
    if not isinstance(raw, str) or not _valid_name(raw):
        raise fail("a release without a valid name", "name", raw if isinstance(raw, str) else "")
    name = shorten(raw)
    version = data.get("version")
    if version is not None and not (isinstance(version, str) and _valid_version(version)):
        raise fail(f"{name}: version must be a PEP 440 version", "version", str(version))
    if not isinstance(data.get("source", {}), dict):
        raise fail(f"{name}: source must be a table", "source")
    forks = data.get("resolution-markers", [])
    if not isinstance(forks, list) or not all(isinstance(m, str) for m in forks):
        raise fail(f"{name}: resolution-markers must be a list of strings", "resolution-markers")
    _check_entries(package, "dependencies", None, data.get("dependencies", []), path, lines)
    for table in ("optional-dependencies", "dev-dependencies"):
        named = data.get(table, {})
        if not isinstance(named, dict):
            raise fail(f"{name}: {table} must be a table", table)
        for key, entries in named.items():
            _check_entries(package, table, key, entries, path, lines)


def _check_entries(package: _Package, table: str, key: str | None, entries: Any, path: str, lines: _toml.Lines) -> None:
    """Each dependency entry is a table with a project name, and a string marker and a list of extras if any."""
    start, end = _section(lines, package, table, canonicalize_name(key) if key is not None else None)
    what = table + (f" {shorten(key, 60)!r}" if key is not None else "")
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise RequirementsError(f"{package.shown}: {what} must be a list of tables", path=path, line=start, text="")
    for entry in entries:
        name = entry.get("name")
        if not isinstance(name, str):
            raise RequirementsError(f"{package.shown}: a {table} entry has no name", path=path, line=start, text="")
        problem = None
        if not _valid_name(name):
            problem = "is not a valid project name"
        elif not isinstance(entry.get("marker", ""), str):
            problem = "has a marker that is not a string"
        elif not isinstance(entry.get("version", ""), str):
            problem = "has a version that is not a string"
        elif not isinstance(extra := entry.get("extra", []), list) or not all(isinstance(e, str) for e in extra):
            problem = "has an extra that is not a list of strings"
        if problem is not None:
            line = lines.string(name, start, end) if start else None
            raise RequirementsError(
                f"{package.shown}: {what} entry {shorten(name)!r} {problem}", path=path, line=line or start, text=""
            )


def _valid_name(name: str) -> bool:
    try:
        canonicalize_name(name, validate=True)
    except InvalidName:
        return False
    return True


def _valid_version(version: str) -> bool:
    try:
        Version(version)
    except InvalidVersion:
        return False
    return True


def _pin(package: _Package, origin: Origin, path: str) -> RequirementLine:
    version = package.data.get("version")
    if not isinstance(version, str):
        raise RequirementsError(f"{package.shown} has no version", path=path, line=origin.line, text="")
    forks = package.data.get("resolution-markers", [])
    try:
        marker = either([Marker(m) for m in forks]) if forks else None
        text = f"{package.name}=={version}" + (f"; {marker}" if marker else "")
        return RequirementLine(Requirement(text), origin, text)
    except (InvalidMarker, InvalidRequirement) as exc:
        raise RequirementsError(
            f"invalid release: {_reason(exc)}", path=path, line=origin.line, text=package.name
        ) from None


def _scope(path: str, data: Mapping[str, Any], roots: Sequence[_Package], lines: _toml.Lines) -> LockScope:
    requires = data.get("requires-python")
    if requires is not None and not isinstance(requires, str):
        line = lines.key("requires-python", 1, lines.preamble_end())
        raise RequirementsError("requires-python must be a string", path=path, line=line, text="")
    markers = data.get("supported-markers", [])
    if not isinstance(markers, list) or not all(isinstance(m, str) for m in markers):
        line = lines.key("supported-markers", 1, lines.preamble_end())
        raise RequirementsError("supported-markers must be a list of strings", path=path, line=line, text="")
    try:
        spec = SpecifierSet(requires) if requires is not None and requires.strip() else None
        environments = tuple(Marker(m) for m in markers)
    except (InvalidSpecifier, InvalidMarker) as exc:
        raise RequirementsError(f"invalid lock scope: {_reason(exc)}", path=path, line=None, text="") from None
    return LockScope(path, ", ".join(r.name for r in roots) or None, spec, environments)


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    return value if isinstance(value, dict) else {}
