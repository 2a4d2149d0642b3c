"""The vocabulary the input readers share: what to select from a project file, what one reader found, and what a
lock file says it can serve (checked against each target before anything is resolved)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from packaging.markers import InvalidMarker, Marker
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from wheelhouse._markers import holds_or_not
from wheelhouse.errors import NotCoveredError
from wheelhouse.requirements import RequirementLine
from wheelhouse.targets import Target


@dataclass(frozen=True)
class Selection:
    """What to take from a project file besides its main dependencies: ``--extra`` and ``--group`` names."""

    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @property
    def extra_names(self) -> frozenset[str]:
        return frozenset(canonicalize_name(e) for e in self.extras)

    @property
    def group_names(self) -> frozenset[str]:
        return frozenset(canonicalize_name(g) for g in self.groups)


class Scope(Protocol):
    """What a lock can serve: :class:`LockScope` here, and :mod:`wheelhouse.resolve.pylock`'s ``PylockInput``."""

    def refusal(self, target: Target) -> str | None:
        """Why the lock cannot serve ``target`` (naming the lock, and the package where one is at fault)."""
        ...


@dataclass(frozen=True)
class LockScope:
    """What a lock file was made for (or a pyproject.toml declares): a Python range and, where the tool
    restricted them, environments.

    A target outside it is refused before resolving, naming the lock, its project and the target: the tool that
    wrote the lock never considered that target, so versions "honoured exactly" would be versions nobody chose.
    """

    path: str
    project: str | None
    requires_python: SpecifierSet | None = None
    environments: tuple[Marker, ...] = ()
    # How the file came to its range: a lock was made for it; a pyproject.toml declares it.
    made: str = "locked"

    def refusal(self, target: Target) -> str | None:
        """Why this file cannot serve ``target``, or None."""
        who = f"{self.path}" + (f" (project {self.project})" if self.project else "")
        refused = f"{who} cannot serve target {target.name} ({target.docker_platform}): it was {self.made}"
        version = target.python_full_version
        if self.requires_python is not None and not self.requires_python.contains(version, prereleases=True):
            return f"{refused} for Python {self.requires_python}, the target has {version}"
        env = dict(target.marker_environment)
        # A marker that cannot be evaluated (python_version ~= "abc") admits no target.
        if self.environments and not any(holds_or_not(marker, {**env, "extra": ""}) for marker in self.environments):
            shown = " or ".join(f"{m}" for m in self.environments)
            return f"{refused} only for {shown}"
        return None


@dataclass(frozen=True)
class Found:
    """What one input file gave: requirements, constraints (the locked pins), a lock's scope, and which of the
    selected extras and groups it knew (a name no file knows is an error)."""

    requirements: tuple[RequirementLine, ...] = ()
    constraints: tuple[RequirementLine, ...] = ()
    scope: Scope | None = None
    known_extras: frozenset[str] = frozenset()
    known_groups: frozenset[str] = frozenset()


def check_scopes(scopes: Sequence[Scope], targets: Iterable[Target]) -> None:
    """Raise :class:`NotCoveredError` for the first target a lock cannot serve."""
    for target in targets:
        for scope in scopes:
            reason = scope.refusal(target)
            if reason is not None:
                raise NotCoveredError(reason, hint="lock again for that Python or platform, or drop the target")


# ``extra == "name"`` in either order and quoting: a lock's marker that names the extras it serves.
_EXTRA_CLAUSE = re.compile(
    r"""\bextra\s*==\s*(?P<q1>["'])(?P<a>[^"']*)(?P=q1)|(?P<q2>["'])(?P<b>[^"']*)(?P=q2)\s*==\s*extra\b"""
)
# A clause that holds in every environment and one that never does: what an extra clause becomes once the
# selected extras are known (the resolver evaluates top-level markers with no extra).
_TRUE = 'python_version >= "0"'
_FALSE = 'python_version < "0"'


def settle_extras(marker: str | None, extras: frozenset[str]) -> Marker | None:
    """``marker`` with every ``extra == "x"`` clause replaced by whether ``x`` is among ``extras``."""
    if not marker or not marker.strip():
        return None

    def clause(match: re.Match[str]) -> str:
        name = match.group("a") if match.group("a") is not None else match.group("b")
        return _TRUE if canonicalize_name(name) in extras else _FALSE

    whole = _EXTRA_CLAUSE.fullmatch(marker.strip().strip("()").strip())
    if whole is not None:
        # Only an extra decides (Poetry's optional releases): no marker at all when it is selected.
        return None if clause(whole) == _TRUE else Marker(_FALSE)
    try:
        return Marker(_EXTRA_CLAUSE.sub(clause, marker))
    except InvalidMarker:
        return Marker(marker)


def both(first: Marker | None, second: Marker | None) -> Marker | None:
    """The conjunction of two optional markers."""
    if first is None:
        return second
    if second is None:
        return first
    return Marker(f"({first}) and ({second})")


def either(markers: Sequence[Marker | None]) -> Marker | None:
    """The disjunction of optional markers (None, "always", wins)."""
    if not markers or any(m is None for m in markers):
        return None
    unique = list(dict.fromkeys(str(m) for m in markers))
    return Marker(unique[0]) if len(unique) == 1 else Marker(" or ".join(f"({m})" for m in unique))
