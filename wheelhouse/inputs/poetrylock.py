"""``poetry.lock`` as a requirements input, read the way ``poetry install`` reads a lock of format 2.1.

Poetry 2 writes, for every locked release, the dependency ``groups`` it belongs to and the ``markers`` under which
it is installed (one string, or one per group), with optional releases listed per extra in ``[extras]``. So the
lock alone says what to install, as for Poetry's own installer: every release of a selected group (``main``
always, others with ``--group``; an optional one only with an ``--extra`` that lists it) becomes a requirement
``name==version; markers``, and every release also becomes a constraint, so that what the resolver reaches
through dependencies is the locked version too. Where a project is locked at several versions (for different
environments), each constraint keeps its markers; otherwise a constraint holds everywhere.

Earlier lock formats (1.x, 2.0) carry no groups or markers: reading them would mean re-resolving the project's
Poetry constraints, which is Poetry's work, so they are an error that says to lock again with Poetry 2. A
directory dependency is the user's own code (not fetched; its locked dependencies are); a git, URL or file
release cannot be fetched from an index and is an error naming its line. ``[metadata] python-versions`` is the
lock's :class:`~wheelhouse.inputs.model.LockScope`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidName, canonicalize_name
from packaging.version import InvalidVersion, Version

from wheelhouse import _log, _toml
from wheelhouse._text import shorten
from wheelhouse.errors import RequirementsError
from wheelhouse.inputs.model import Found, LockScope, Selection, either, settle_extras
from wheelhouse.requirements import Origin, RequirementLine

__all__ = ["poetry_python_spec", "read_poetry_lock"]

_MAIN = "main"


def read_poetry_lock(path: str, selection: Selection) -> Found:
    """Requirements and constraints from a ``poetry.lock``; see the module docstring."""
    text, data = _toml.load(path)
    lines = _toml.Lines(text)
    metadata = data.get("metadata", {})
    lock_version = str(metadata.get("lock-version", "")) if isinstance(metadata, dict) else ""
    packages = data.get("package", [])
    if not isinstance(packages, list) or not all(isinstance(p, dict) for p in packages):
        raise RequirementsError("[[package]] must be an array of tables", path=path, line=None, text="")
    if packages and not all("groups" in p for p in packages):
        raise RequirementsError(
            f"lock-version {shorten(lock_version, 20) or '?'} does not say which group each release belongs to",
            path=path,
            line=lines.key("lock-version"),
            text="",
            hint="lock again with Poetry 2 (poetry lock), which writes lock-version 2.1",
        )
    starts = lines.headers("package")
    by_extra = _extras(data.get("extras", {}), path, lines)
    chosen_extras = selection.extra_names & set(by_extra)
    in_chosen_extras: set[str] = set().union(*(by_extra[e] for e in chosen_extras)) if chosen_extras else set()
    groups = {_MAIN} | selection.group_names
    counts: dict[str, int] = {}
    for package in packages:
        key = canonicalize_name(str(package.get("name", "")))
        counts[key] = counts.get(key, 0) + 1

    requirements: list[RequirementLine] = []
    constraints: list[RequirementLine] = []
    known_groups: set[str] = set()
    for index, package in enumerate(packages):
        start = starts[index] if len(starts) == len(packages) else None
        end = lines.end_of_item(start, "package") if start else None
        origin = Origin(path, lines.key("name", start, end) if start else None)
        name, version = package.get("name"), package.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            raise RequirementsError("a release without name or version", path=path, line=origin.line, text="")
        _check_release(package, name, version, path, lines, start, end)
        member_of: set[str] = {canonicalize_name(g) for g in package["groups"]}
        known_groups |= member_of
        source = package.get("source", {})
        kind = source.get("type") if isinstance(source, dict) else None
        if kind == "directory":
            _log.warning(f"{origin}: {shorten(name)} is a directory dependency (your own code): not fetched")
            continue
        if kind not in (None, "legacy"):
            raise RequirementsError(
                f"{shorten(name)} comes from a {shorten(kind, 40)} source, which is not supported offline",
                path=path,
                line=origin.line,
                text="",
                hint="lock it from a package index, or put its wheel into the wheels folder and pin it",
            )
        # Errors in the markers name their own line; the requirement's origin stays the release's name.
        at_markers = Origin(path, (lines.key("markers", start, end) or origin.line) if start else None)
        all_groups = _marker(package, member_of, path, at_markers, selection.extra_names)
        if member_of & groups and (not package.get("optional") or canonicalize_name(name) in in_chosen_extras):
            marker = _marker(package, member_of & groups, path, at_markers, selection.extra_names)
            requirements.append(_line(name, version, marker, origin, path))
        # A project locked once is that version everywhere; several versions each keep where they apply.
        constraints.append(
            _line(name, version, all_groups if counts[canonicalize_name(name)] > 1 else None, origin, path)
        )
    return Found(
        requirements=tuple(requirements),
        constraints=tuple(constraints),
        scope=_scope(path, metadata, lines),
        known_extras=frozenset(by_extra),
        known_groups=frozenset(known_groups),
    )


def _extras(table: Any, path: str, lines: _toml.Lines) -> dict[str, set[str]]:
    """``[extras]``: each extra's name, normalised, with the names of the releases it installs."""
    header = next(iter(lines.headers("extras")), None)
    if not isinstance(table, dict):
        raise RequirementsError("[extras] must be a table", path=path, line=header or lines.key("extras"), text="")
    by_extra: dict[str, set[str]] = {}
    for extra, names in table.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            line = lines.key(extra, header, lines.end_of(header)) if header else None
            raise RequirementsError(
                f"[extras] {shorten(extra, 60)} must be a list of strings", path=path, line=line or header, text=""
            )
        by_extra[canonicalize_name(extra)] = {canonicalize_name(n) for n in names}
    return by_extra


def _check_release(
    package: Mapping[str, Any],
    name: str,
    version: str,
    path: str,
    lines: _toml.Lines,
    start: int | None,
    end: int | None,
) -> None:
    """Refuse a release whose values Poetry would never write, naming the line of the value.

    Its name and version are pasted into ``name==version``: text that is not a project name or a PEP 440 version
    could carry its own marker or specifier and switch the pin off.
    """

    def line_of(key: str) -> int | None:
        return (lines.key(key, start, end) or start) if start else None

    try:
        canonicalize_name(name, validate=True)
    except InvalidName:
        raise RequirementsError("not a valid project name", path=path, line=line_of("name"), text=name) from None
    name = shorten(name)  # as messages quote it: a valid project name may still run to any length
    try:
        Version(version)
    except InvalidVersion:
        raise RequirementsError(
            f"{name}: version must be a PEP 440 version", path=path, line=line_of("version"), text=version
        ) from None
    groups = package.get("groups")
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise RequirementsError(f"{name}: groups must be a list of strings", path=path, line=line_of("groups"), text="")
    if not isinstance(package.get("optional", False), bool):
        raise RequirementsError(f"{name}: optional must be true or false", path=path, line=line_of("optional"), text="")
    source = package.get("source", {})
    if not isinstance(source, dict) or not isinstance(source.get("type", ""), str):
        raise RequirementsError(f"{name}: source must be a table", path=path, line=line_of("source"), text="")


def _marker(
    package: Mapping[str, Any], groups: set[str], path: str, origin: Origin, extras: frozenset[str]
) -> Marker | None:
    """Where ``package`` is installed for the given groups: its one marker, or those of its groups joined."""
    raw = package.get("markers")
    try:
        if raw is None or isinstance(raw, str):
            return settle_extras(raw, extras)
        if isinstance(raw, dict) and all(isinstance(v, str) for v in raw.values()):
            per_group: dict[str, str] = {canonicalize_name(k): v for k, v in raw.items()}
            return either([settle_extras(per_group.get(g), extras) for g in sorted(groups)])
    except InvalidMarker as exc:
        # packaging quotes the text under a caret on lines of their own: its first line says what is wrong.
        reason = shorten(str(exc).splitlines()[0] if str(exc).strip() else "invalid")
        raise RequirementsError(f"invalid markers: {reason}", path=path, line=origin.line, text="") from None
    raise RequirementsError(
        f"{shorten(str(package.get('name')))}: markers must be a string or a table of strings",
        path=path,
        line=origin.line,
        text="",
    )


def _line(name: str, version: str, marker: Marker | None, origin: Origin, path: str) -> RequirementLine:
    text = f"{name}=={version}" + (f"; {marker}" if marker else "")
    try:
        return RequirementLine(Requirement(text), origin, text)
    except InvalidRequirement as exc:
        reason = shorten(str(exc).splitlines()[0] if str(exc).strip() else "invalid")
        raise RequirementsError(f"invalid release: {reason}", path=path, line=origin.line, text=text) from None


def _scope(path: str, metadata: Any, lines: _toml.Lines) -> LockScope:
    raw = metadata.get("python-versions") if isinstance(metadata, dict) else None
    if raw is not None and not isinstance(raw, str):
        line = lines.key("python-versions", next(iter(lines.headers("metadata")), None))
        raise RequirementsError("[metadata] python-versions must be a string", path=path, line=line, text="")
    spec = poetry_python_spec(raw) if isinstance(raw, str) else None
    if isinstance(raw, str) and spec is None:
        _log.info(f"{path}: python-versions {shorten(raw)!r} is not understood; the lock's Python range is not checked")
    return LockScope(path, None, spec)


_CARET = re.compile(r"^\^\s*(\d+(?:\.\d+)*)$")
_TILDE = re.compile(r"^~(?!=)\s*(\d+(?:\.\d+)*)$")


def poetry_python_spec(text: str) -> SpecifierSet | None:
    """Poetry's ``python-versions`` (PEP 440, or its ``^3.10`` / ``~3.10`` / ``*`` forms) as a specifier set.

    A union (``||``) has no single specifier set: None, and the range is not checked.
    """
    text = text.strip()
    if text in ("", "*"):
        return None
    if "||" in text:
        return None
    parts: list[str] = []
    for part in re.split(r"\s*,\s*|\s+(?=[<>=!~^])", text):
        if not part:
            continue
        caret, tilde = _CARET.match(part), _TILDE.match(part)
        try:
            if caret:
                parts += _range(caret.group(1), _caret_upper(caret.group(1)))
            elif tilde:
                parts += _range(tilde.group(1), _tilde_upper(tilde.group(1)))
            else:
                parts.append(part)
            return_spec = SpecifierSet(",".join(parts))
        except (InvalidSpecifier, InvalidVersion):
            return None
    return return_spec if parts else None


def _range(low: str, high: str) -> list[str]:
    return [f">={low}", f"<{high}"]


def _caret_upper(version: str) -> str:
    release: Sequence[int] = Version(version).release
    for position, number in enumerate(release):
        if number != 0 or position == len(release) - 1:
            return ".".join(str(n) for n in [*release[:position], number + 1])
    return version


def _tilde_upper(version: str) -> str:
    release = Version(version).release
    if len(release) == 1:
        return str(release[0] + 1)
    return f"{release[0]}.{release[1] + 1}"
