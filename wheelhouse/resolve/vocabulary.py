"""What the resolver handles: requirements (:class:`Req`), candidates (:class:`Candidate`) and their identifiers.

Contract: value objects only, with no packaging rule of their own; both :mod:`wheelhouse.resolve.provider` (the
resolvelib interface) and :mod:`wheelhouse.resolve.file_rules` (what a file may serve on a target) build and read
them, so they live apart from both.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from wheelhouse.dists import DistFile
from wheelhouse.requirements import RequirementLine
from wheelhouse.resolve._memo import computed_once

__all__ = ["UNUSABLE", "Candidate", "Req", "base_name", "pinned_version", "requirement_text"]

# The identifier of a requirement no candidate can meet. A file whose own metadata rules it out is learnt about
# only when the resolver asks for its dependencies, once it has chosen it: it then "depends" on this, which
# resolvelib cannot satisfy, so it rejects the candidate and tries the next one (pip turns Requires-Python into
# a dependency the same way). Project names never contain "<", so no project can collide with it.
UNUSABLE = NormalizedName("<unusable>")


def pinned_version(specifier: SpecifierSet) -> Version | None:
    """The version ``specifier`` pins, when it is one exact ``==`` (or ``===``) pin of a valid version."""
    specs = list(specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        try:
            return Version(specs[0].version)
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class Req:
    """A requirement as the resolver handles it: a project (with extras), its specifier, and where it came from.

    ``wheel_file`` is set for a requirement naming one wheel file (a path on the command line). ``hashes`` are
    the ``algorithm:hexdigest`` values the requirement pins (pip's ``--hash``, a lock's file hashes): when there
    are any, only a file with one of those digests may serve it, as in pip's hash-checking mode.
    """

    name: NormalizedName
    extras: frozenset[str]
    specifier: SpecifierSet
    text: str
    origin: str | None = None
    wheel_file: str | None = None
    hashes: frozenset[str] = frozenset()

    def __hash__(self) -> int:
        return self._hash

    @computed_once
    def _hash(self) -> int:
        # The resolver's memos are keyed by requirements tens of thousands of times per resolution, and hashing a
        # specifier set hashes each of its specifiers anew.
        return hash((self.name, self.extras, self.specifier, self.text, self.origin, self.wheel_file, self.hashes))

    @computed_once
    def identifier(self) -> str:
        return _identifier(self.name, self.extras)

    @computed_once
    def satisfied(self) -> dict[Version, bool]:
        """Memo of ``specifier.contains`` by version: resolvelib re-checks every pin against every requirement
        on every round, which made these checks most of a resolution's time."""
        return {}

    @computed_once
    def pinned_version(self) -> Version | None:
        """:func:`pinned_version` of the specifier (asked thousands of times per resolution: computed once)."""
        return pinned_version(self.specifier)

    @property
    def unusable(self) -> bool:
        """Whether this is the requirement a file ruled out by its own metadata "depends" on (``text`` says why)."""
        return self.name == UNUSABLE

    @classmethod
    def top_level(cls, line: RequirementLine) -> Req:
        """A requirement of the user's (a requirements file line, a command-line argument, a constraint)."""
        req = line.requirement
        return cls(
            canonicalize_name(req.name),
            frozenset(canonicalize_name(e) for e in req.extras),
            req.specifier,
            requirement_text(req),
            origin=str(line.origin),
            wheel_file=line.wheel_file,
            hashes=frozenset(line.hashes),
        )


@dataclass(frozen=True)
class Candidate:
    """One version of a project (with extras) and the file of ``tier`` that serves it on the target."""

    name: NormalizedName
    version: Version
    extras: frozenset[str]
    dist: DistFile | None  # None: the lenient pass's placeholder for "nothing acceptable"
    tier: int = 0

    @property
    def identifier(self) -> str:
        return _identifier(self.name, self.extras)


def _identifier(name: str, extras: frozenset[str]) -> str:
    return f"{name}[{','.join(sorted(extras))}]" if extras else name


def base_name(identifier: str) -> NormalizedName:
    """The project an identifier (``name`` or ``name[extra,...]``) is about."""
    return NormalizedName(identifier.split("[", 1)[0])


def requirement_text(req: Requirement) -> str:
    """How a requirement is shown in chains and gaps: name, sorted extras and specifier, without its marker."""
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    return f"{req.name}{extras}{req.specifier}"
