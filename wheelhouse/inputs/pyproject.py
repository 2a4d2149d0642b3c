"""``pyproject.toml`` as a requirements input: ``[project] dependencies``, the optional dependencies chosen with
``--extra`` and the PEP 735 dependency groups chosen with ``--group``.

Groups, with their ``include-group`` tables and cycle checks, are packaging's (:mod:`packaging.dependency_groups`);
this module only walks the includes itself to know which group wrote each requirement, so an origin is the
line of the string in the file. The project itself is not a requirement: its own code is not a wheel to fetch.
Dependencies the file declares ``dynamic`` (computed by the build backend) cannot be read without building, so
they are an error that says what to pass instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.dependency_groups import DependencyGroupInclude, DependencyGroupResolver
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from wheelhouse import _toml
from wheelhouse.errors import RequirementsError
from wheelhouse.inputs.model import Found, LockScope, Selection
from wheelhouse.requirements import Origin, RequirementLine, parse_requirement_text

__all__ = ["read_pyproject"]


def read_pyproject(path: str, selection: Selection, *, wheels_dir: Path | None = None) -> Found:
    """The requirements of ``path``: main dependencies, then the selected extras, then the selected groups."""
    text, data = _toml.load(path)
    lines = _toml.Lines(text)
    project = data.get("project")
    groups_table = data.get("dependency-groups")
    if project is None and groups_table is None:
        raise RequirementsError(
            "no [project] table and no [dependency-groups]: nothing to install",
            path=path,
            line=None,
            text="",
            hint="list the dependencies in [project] dependencies, or pass a requirements file or a lock file",
        )
    project = _table(project, path, "[project]")
    found: list[RequirementLine] = []
    dynamic = _strings(project.get("dynamic", []), path, "[project] dynamic")
    if "dependencies" in dynamic or ("optional-dependencies" in dynamic and selection.extras):
        raise RequirementsError(
            "the dependencies are dynamic (computed by the build backend), so they cannot be read offline",
            path=path,
            line=_first(lines, "project"),
            text="",
            hint="export them to a requirements file or lock the project (uv lock, poetry lock), and pass that",
        )
    tool = data.get("tool")
    if "dependencies" not in project and isinstance(tool, dict) and "poetry" in tool:
        raise RequirementsError(
            "the dependencies are in [tool.poetry], Poetry's own format",
            path=path,
            line=None,
            text="",
            hint="pass poetry.lock instead (wheelhouse reads it), or move them to [project] dependencies",
        )
    header = _first(lines, "project")
    found += _requirements(
        lines, _strings(project.get("dependencies", []), path, "[project] dependencies"), path, header, wheels_dir
    )

    optional = _table(project.get("optional-dependencies", {}), path, "[project.optional-dependencies]")
    by_extra = {canonicalize_name(name): (name, value) for name, value in optional.items()}
    known_extras = frozenset(by_extra)
    for extra in selection.extras:
        if canonicalize_name(extra) not in by_extra:
            continue
        name, items = by_extra[canonicalize_name(extra)]
        start = _first(lines, "project.optional-dependencies") or header
        start = lines.key(name, start) or start
        found += _requirements(lines, _strings(items, path, f"optional dependency {name!r}"), path, start, wheels_dir)

    groups = _table(groups_table or {}, path, "[dependency-groups]")
    known_groups = frozenset(canonicalize_name(name) for name in groups)
    wanted = [g for g in selection.groups if canonicalize_name(g) in known_groups]
    if wanted:
        found += _groups(groups, wanted, path, lines, wheels_dir)
    return Found(
        requirements=tuple(found),
        scope=_scope(path, project),
        known_extras=known_extras,
        known_groups=known_groups,
    )


def _scope(path: str, project: Mapping[str, Any]) -> LockScope | None:
    """The project's requires-python: a target outside it could not install the project itself."""
    raw = project.get("requires-python")
    if raw is not None and not isinstance(raw, str):
        raise RequirementsError("[project] requires-python must be a string", path=path, line=None, text="")
    if raw is None or not raw.strip():
        return None
    try:
        spec = SpecifierSet(raw)
    except InvalidSpecifier:
        raise RequirementsError(f"invalid requires-python {raw!r}", path=path, line=None, text="") from None
    name = project.get("name")
    return LockScope(path, name if isinstance(name, str) else None, spec, made="declared")


def _groups(
    groups: Mapping[str, Any], wanted: Sequence[str], path: str, lines: _toml.Lines, wheels_dir: Path | None
) -> list[RequirementLine]:
    """The requirements of the wanted groups and the groups they include, each once, with its own line."""
    _check_includes(groups, wanted, path, lines)
    try:
        resolver = DependencyGroupResolver(groups)
        for group in wanted:
            resolver.resolve(group)  # packaging's validation: names, objects, cycles
    except RecursionError:
        # packaging follows includes recursively: a chain of a few thousand groups exhausts the stack.
        raise RequirementsError(
            "[dependency-groups]: groups include each other too deeply", path=path, line=None, text=""
        ) from None
    except Exception as exc:  # packaging collects its findings into an ExceptionGroup (3.11+, or its backport)
        # The group's own message is generic ("data ... was malformed"); its first finding says what.
        first: BaseException = exc
        while isinstance(getattr(first, "exceptions", None), tuple) and first.exceptions:  # type: ignore[attr-defined]
            first = first.exceptions[0]  # type: ignore[attr-defined]
        if not isinstance(first, (ValueError, TypeError, LookupError)):
            raise
        reason = " ".join(str(first).split())
        raise RequirementsError(f"[dependency-groups]: {reason}", path=path, line=None, text="") from None
    header = _first(lines, "dependency-groups")
    keys = _key_lines(lines, header)
    raw_names = {canonicalize_name(name): name for name in groups}
    out: list[RequirementLine] = []
    done: set[str] = set()
    pending = [canonicalize_name(g) for g in wanted]
    while pending:
        group = pending.pop(0)
        if group in done:
            continue
        done.add(group)
        start = keys.get(raw_names[group]) or header
        written = _written(groups[raw_names[group]])
        texts: list[str] = []
        for item in resolver.lookup(group):
            if isinstance(item, DependencyGroupInclude):
                pending.append(canonicalize_name(item.include_group))
                continue
            texts.append(written.get(str(item), str(item)))
        out += _requirements(lines, texts, path, start, wheels_dir)
    # One requirement reached through two groups is one line to the resolver (the first group's).
    return list({(line.text, str(line.origin)): line for line in out}.values())


def _check_includes(groups: Mapping[str, Any], wanted: Sequence[str], path: str, lines: _toml.Lines) -> None:
    """Refuse an ``include-group`` of a group the file does not define, naming the group that includes it.

    packaging reports it as a lookup of the missing name alone, without the group that wrote it.
    """
    by_name = {canonicalize_name(name): name for name in groups}
    pending = [by_name[canonicalize_name(g)] for g in wanted if canonicalize_name(g) in by_name]
    done: set[str] = set()
    while pending:
        group = pending.pop()
        if group in done:
            continue
        done.add(group)
        items = groups[group]
        for item in items if isinstance(items, list) else []:
            included = item.get("include-group") if isinstance(item, dict) else None
            if not isinstance(included, str):
                continue  # packaging says what is wrong with an entry that is not a string or an include
            if canonicalize_name(included) not in by_name:
                start = lines.key(group, _first(lines, "dependency-groups") or 1)
                raise RequirementsError(
                    f"dependency group {group!r} includes {included!r}, which does not exist",
                    path=path,
                    line=lines.string(included, start) if start else None,
                    text="",
                )
            pending.append(by_name[canonicalize_name(included)])


def _written(items: Any) -> dict[str, str]:
    """Each string of a group as the file wrote it (for its line), by its parsed form; the first one wins."""
    found: dict[str, str] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, str):
            try:
                found.setdefault(str(Requirement(item)), item)
            except ValueError:
                continue
    return found


def _requirements(
    lines: _toml.Lines, texts: Sequence[str], path: str, start: int | None, wheels_dir: Path | None
) -> list[RequirementLine]:
    """The requirements of one array's strings, each with its line. An array is written in order, so each string
    is looked for from the line of the one before it (:meth:`wheelhouse._toml.Lines.bounded_string`)."""
    out: list[RequirementLine] = []
    cursor = start
    for text in texts:
        line = lines.bounded_string(text, cursor)
        cursor = line or cursor
        out.append(parse_requirement_text(text, Origin(path, line), wheels_dir=wheels_dir))
    return out


def _key_lines(lines: _toml.Lines, start: int | None) -> dict[str, int]:
    """The line of the first ``key =`` of each key from ``start`` on (as :meth:`wheelhouse._toml.Lines.key` finds
    one), read in one pass: looking up each of thousands of groups from the table's header costs their square."""
    found: dict[str, int] = {}
    for number in range(start or 1, len(lines.lines) + 1):
        match = _KEY.match(lines.lines[number - 1])
        if match is not None:
            found.setdefault(next(k for k in match.groups() if k is not None), number)
    return found


_KEY = re.compile(r"""^\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*=""")


def _first(lines: _toml.Lines, table: str) -> int | None:
    found = lines.headers(table)
    return found[0] if found else None


def _table(value: Any, path: str, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequirementsError(f"{what} must be a table", path=path, line=None, text="")
    return value


def _strings(value: Any, path: str, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RequirementsError(f"{what} must be a list of strings", path=path, line=None, text="")
    return value
