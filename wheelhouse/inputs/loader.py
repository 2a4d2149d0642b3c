"""One entry point for every input format: files named with ``-r``/``-c`` (or configured, or found), package
arguments, ``--extra`` and ``--group`` -> one :class:`~wheelhouse.requirements.RequirementSet`, plus the scopes of
the lock files among them.

pip requirements files keep their own reader and semantics (:func:`wheelhouse.requirements.load_requirements`,
read together, in order, so their index options behave as in pip); every other format is read by its module and
appended: requirements after the requirements files' ones, locked pins as constraints. A lock named with ``-c``
gives only its pins. Extras and groups must mean something to at least one file given: a name none of them
knows is an error listing the names they do know, as an unknown extra is in uv.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from wheelhouse import _log
from wheelhouse._text import shorten
from wheelhouse.errors import RequirementsError, UsageError
from wheelhouse.inputs.detect import InputFormat, detect_format
from wheelhouse.inputs.model import Found, Scope, Selection
from wheelhouse.requirements import RequirementLine, RequirementSet, load_requirements

__all__ = ["Inputs", "load_inputs"]

_NO_SELECTION = Selection()


@dataclass(frozen=True)
class Inputs:
    """What the inputs say: the requirement set, and the scope of each lock file among them."""

    requirements: RequirementSet
    scopes: tuple[Scope, ...] = ()


def load_inputs(
    files: Sequence[str | os.PathLike[str]] = (),
    packages: Sequence[str] = (),
    *,
    constraints: Sequence[str | os.PathLike[str]] = (),
    selection: Selection = _NO_SELECTION,
    wheels_dir: Path | None = None,
    within: str | os.PathLike[str] | None = None,
) -> Inputs:
    """Read every input; raise :class:`RequirementsError` (one line, naming the file) for one that cannot be
    read, and :class:`UsageError` for ``--extra``/``--group`` names no input file knows. ``within``: see
    :func:`wheelhouse.requirements.load_requirements`."""
    pip_files: list[str] = []
    pip_constraints: list[str] = []
    found: list[tuple[str, Found]] = []
    for raw in constraints:
        path = os.fspath(raw)
        kind = detect_format(path)
        _log.info(f"constraints {path}: read as {_describe(kind)}")
        if kind == "requirements":
            pip_constraints.append(path)
        elif kind == "pyproject":
            raise RequirementsError(
                "a constraints file must be a requirements file or a lock", path=path, line=None, text=""
            )
        else:
            pins = _read(kind, path, Selection(), wheels_dir)
            found.append((path, Found(constraints=pins.constraints + pins.requirements, scope=pins.scope)))
    for raw in files:
        path = os.fspath(raw)
        kind = detect_format(path)
        _log.info(f"requirements {path}: read as {_describe(kind)}")
        if kind == "requirements":
            pip_files.append(path)
        else:
            found.append((path, _read(kind, path, selection, wheels_dir)))
    _check_selection(selection, [(path, f) for path, f in found if path in {os.fspath(p) for p in files}])
    base = load_requirements(pip_files, packages, constraints=pip_constraints, wheels_dir=wheels_dir, within=within)
    if not found:
        return Inputs(base)
    requirements: list[RequirementLine] = list(base.requirements)
    locked: list[RequirementLine] = list(base.constraints)
    for _, each in found:
        requirements += each.requirements
        locked += each.constraints
    read = tuple(dict.fromkeys([*base.files, *(os.path.realpath(path) for path, _ in found)]))
    merged = replace(base, requirements=tuple(requirements), constraints=tuple(locked), files=read)
    return Inputs(merged, tuple(f.scope for _, f in found if f.scope is not None))


_DESCRIPTIONS: dict[InputFormat, str] = {
    "requirements": "a pip requirements file",
    "pyproject": "pyproject.toml",
    "pylock": "a PEP 751 lock (pylock.toml)",
    "uv.lock": "a uv lock",
    "poetry.lock": "a Poetry lock",
}


def _describe(kind: InputFormat) -> str:
    return _DESCRIPTIONS[kind]


def _read(kind: InputFormat, path: str, selection: Selection, wheels_dir: Path | None) -> Found:
    if kind == "pyproject":
        from wheelhouse.inputs.pyproject import read_pyproject

        return read_pyproject(path, selection, wheels_dir=wheels_dir)
    if kind == "uv.lock":
        from wheelhouse.inputs.uvlock import read_uv_lock

        return read_uv_lock(path, selection)
    if kind == "poetry.lock":
        from wheelhouse.inputs.poetrylock import read_poetry_lock

        return read_poetry_lock(path, selection)
    return _read_pylock(path)


def _read_pylock(path: str) -> Found:
    """pylock.toml, through the lock module's reader: one ``name==version ; marker`` requirement per package
    (the lock's default groups; its extras and groups are not selectable here), and its refusal per target."""
    from wheelhouse.resolve.pylock import read_pylock_constraints

    lock = read_pylock_constraints(path)
    return Found(requirements=lock.requirements, scope=lock)


def _check_selection(selection: Selection, found: Sequence[tuple[str, Found]]) -> None:
    if not selection.extras and not selection.groups:
        return
    if not found:
        raise UsageError(
            "--extra and --group select from pyproject.toml, pylock.toml, uv.lock or poetry.lock; none was given",
            hint="wheelhouse download -r pyproject.toml --extra NAME",
        )
    for option, wanted, known in (
        ("--extra", selection.extras, frozenset().union(*(f.known_extras for _, f in found))),
        ("--group", selection.groups, frozenset().union(*(f.known_groups for _, f in found))),
    ):
        from packaging.utils import canonicalize_name

        missing = [name for name in wanted if canonicalize_name(name) not in known]
        if missing:
            files = ", ".join(path for path, _ in found)
            # The names come from the files: a file may define thousands, or one of any length.
            shown = shorten(", ".join(sorted(known)), 400) or "none"
            raise UsageError(f"{option} {shorten(missing[0], 60)}: not in {files} (it has: {shown})")
