"""The resolvelib provider: every packaging rule wheelhouse applies when it chooses files for a target.

resolvelib only searches; what a candidate is, which files are acceptable for a target (tags, Requires-Python,
yanked, --no-binary / --only-binary), in which order they are offered (folder before index, wheels before
sdists, best tag first) and what a candidate depends on (Requires-Dist under the target's markers) is decided
here. A file whose own metadata rules it out (a Requires-Python that only its METADATA states, or METADATA naming
another project or version) is passed over like pip does: the resolver tries the next candidate, and the reason
is kept for the explanation of a gap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version
from resolvelib import AbstractProvider, BaseReporter

from wheelhouse import _log
from wheelhouse.dists import SDIST_SUFFIXES, CoreMetadata, DistFile, Finder, UnusableMetadata, sdist_suffix
from wheelhouse.requirements import RequirementLine, parse_pep508
from wheelhouse.resolve._memo import computed_once
from wheelhouse.resolve.formats import FormatControl, parse_format_control
from wheelhouse.targets import Target

__all__ = ["FormatControl", "Provider", "ResolveReporter", "explain_tags", "parse_format_control"]

# -- resolvelib's vocabulary -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Req:
    """A requirement as the resolver handles it: a project (with extras), its specifier, and where it came from.

    ``wheel_file`` is set for a requirement naming one wheel file (a path on the command line).
    """

    name: NormalizedName
    extras: frozenset[str]
    specifier: SpecifierSet
    text: str
    origin: str | None = None
    wheel_file: str | None = None

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
        """The version an exact ``==`` pin names (asked thousands of times per resolution: computed once)."""
        specs = list(self.specifier)
        if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
            try:
                return Version(specs[0].version)
            except ValueError:
                return None
        return None

    @property
    def unusable(self) -> bool:
        """Whether this is the requirement a file ruled out by its own metadata "depends" on (``text`` says why)."""
        return self.name == _UNUSABLE

    @classmethod
    def top_level(cls, line: RequirementLine) -> Req:
        """A requirement of the user's (a requirements file line, a command-line argument, a constraint)."""
        req = line.requirement
        return cls(
            canonicalize_name(req.name),
            frozenset(canonicalize_name(e) for e in req.extras),
            req.specifier,
            _requirement_text(req),
            origin=str(line.origin),
            wheel_file=line.wheel_file,
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


class ResolveReporter(BaseReporter["Req", "Candidate", str]):
    """resolvelib reporter whose hooks do nothing; subclass to show progress."""


def _cause_identifiers(backtrack_causes: Sequence[Any]) -> frozenset[str]:
    """The identifiers a backtrack cause names: its requirement's, and its parent's."""
    out: set[str] = set()
    for cause in backtrack_causes:
        out.add(cause.requirement.identifier)
        if cause.parent:
            out.add(cause.parent.identifier)
    return frozenset(out)


def _identifier(name: str, extras: frozenset[str]) -> str:
    return f"{name}[{','.join(sorted(extras))}]" if extras else name


def base_name(identifier: str) -> NormalizedName:
    """The project an identifier (``name`` or ``name[extra,...]``) is about."""
    return NormalizedName(identifier.split("[", 1)[0])


_PLACEHOLDER_VERSION = Version("0")
_UNREAD = Req(NormalizedName("<unread>"), frozenset(), SpecifierSet(), "")

# The identifier of a requirement no candidate can meet. A file whose own metadata rules it out is learnt about
# only when the resolver asks for its dependencies, once it has chosen it: it then "depends" on this, which
# resolvelib cannot satisfy, so it rejects the candidate and tries the next one (pip turns Requires-Python into
# a dependency the same way). Project names never contain "<", so no project can collide with it.
_UNUSABLE = NormalizedName("<unusable>")


class _TagMismatch:
    """A file rejection for tags none of which the target accepts, spelled out (``explain_tags``) on demand."""


_TAG_MISMATCH = _TagMismatch()


class Provider(AbstractProvider["Req", "Candidate", str]):
    """The resolvelib provider: every packaging rule wheelhouse applies lives here."""

    def __init__(
        self,
        target: Target,
        finders: Sequence[Finder],
        *,
        constraints: Mapping[NormalizedName, list[Req]] | None = None,
        pre: bool = False,
        lenient: bool = False,
        sdists: bool = False,
        formats: FormatControl | None = None,
    ) -> None:
        self.target = target
        self.formats = formats or FormatControl()
        self.finders = list(finders)
        self.constraints = constraints or {}
        self.pre = pre
        self.lenient = lenient
        # Admit source distributions as candidates (they are built later); wheels are always offered first.
        self.sdists = sdists
        self._env = dict(target.marker_environment)
        self._files: dict[tuple[int, NormalizedName], Sequence[DistFile]] = {}
        self._deps: dict[tuple[str, str, frozenset[str]], list[Req]] = {}
        # Files ruled out by what their own metadata says (see _UNUSABLE), by (location, filename): the reason,
        # and the Requires-Python that did it when that was the cause.
        self._unusable: dict[tuple[str, str], tuple[str, str | None]] = {}
        # resolvelib asks for the same candidates many times while it works; the answers never change. One pass
        # asks once per project, and turns the memo off (hashing every requirement on a project costs more).
        self.remember_candidates = True
        self._acceptable_memo: dict[
            tuple[int, NormalizedName, str, tuple[Req, ...]], list[tuple[Version, DistFile]]
        ] = {}
        self._rejections: dict[tuple[str, str], str | _TagMismatch | None] = {}
        self._by_version: dict[tuple[int, NormalizedName, str], dict[Version, list[DistFile]]] = {}
        self._python_checks: dict[str, bool | None] = {}
        # Requires-Dist text and extras -> the requirement it brings on the target, None when its marker is false.
        self._dep_reqs: dict[tuple[str, frozenset[str]], Req | None] = {}

    @property
    def unusable_files(self) -> Mapping[tuple[str, str], tuple[str, str | None]]:
        """The files whose own metadata ruled them out so far, by (location, filename)."""
        return self._unusable

    def share_files(self, other: Provider) -> None:
        """Share ``other``'s file lists (what each finder lists never changes during a resolution)."""
        self._files = other._files

    def share_memos(self, other: Provider, *, copy: bool = False) -> None:
        """Share ``other``'s file lists, dependencies and what metadata ruled out (same target and finders): the
        lenient pass then repeats none of the strict pass's reads, and explains what that pass learnt. With
        ``copy``, what this provider learns later stays its own."""
        self._files = other._files
        self._deps = dict(other._deps) if copy else other._deps
        self._unusable = dict(other._unusable) if copy else other._unusable

    # resolvelib protocol ---------------------------------------------------------------------------------
    def identify(self, requirement_or_candidate: Req | Candidate) -> str:
        """The key two requirements or candidates share when they are about the same thing."""
        return requirement_or_candidate.identifier

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, Candidate],
        candidates: Mapping[str, Iterator[Candidate]],
        information: Mapping[str, Iterator[Any]],
        backtrack_causes: Sequence[Any],
    ) -> tuple[bool, bool, bool, str]:
        """Decide early what is most constrained: pins first, then top-level requirements, then the rest."""
        return self._preference(identifier, information, _cause_identifiers(backtrack_causes))

    def narrow_requirement_selection(
        self,
        identifiers: Iterable[str],
        resolutions: Mapping[str, Candidate],
        candidates: Mapping[str, Iterator[Candidate]],
        information: Mapping[str, Iterator[Any]],
        backtrack_causes: Sequence[Any],
    ) -> Iterable[str]:
        """The one identifier :meth:`get_preference` would rank first, found in a single cheap pass.

        resolvelib ranks every unpinned identifier on every round, building three mappings per call; with a
        hundred projects that was a fifth of a resolution's time.
        """
        causes = _cause_identifiers(backtrack_causes)
        return [min(identifiers, key=lambda identifier: self._preference(identifier, information, causes))]

    @staticmethod
    def _preference(
        identifier: str, information: Mapping[str, Iterator[Any]], causes: frozenset[str]
    ) -> tuple[bool, bool, bool, str]:
        pinned = top = False
        for info in information[identifier]:
            pinned = pinned or info.requirement.pinned_version is not None
            top = top or info.parent is None
        return (identifier not in causes, not pinned, not top, identifier)

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Req]],
        incompatibilities: Mapping[str, Iterator[Candidate]],
    ) -> Callable[[], Iterator[Candidate]]:
        """Candidates for ``identifier``, best first; lazily, so later finders are asked only when needed."""
        if identifier == _UNUSABLE:
            return lambda: iter(())
        name = base_name(identifier)
        extras = frozenset(identifier[len(name) + 1 : -1].split(",")) if "[" in identifier else frozenset()
        reqs = list(requirements[identifier]) + self.constraints.get(name, [])
        if extras and name in requirements:
            # ``name[extra]`` pins the same version as plain ``name``: what constrains ``name`` constrains it
            # too (pip's factory does the same). Without this, ``uvicorn[standard]>=0.15`` next to
            # ``uvicorn==0.30.1`` walks every newer release, fetching metadata for each, before settling.
            reqs += [r for r in requirements[name] if r.wheel_file is None]
        bad = {c.version for c in incompatibilities[identifier]}

        def factory() -> Iterator[Candidate]:
            seen: set[Version] = set()
            # Every wheel of every tier before any sdist (pip's --prefer-binary): an sdist is used only for a
            # version no acceptable wheel serves, so a build happens only when it must.
            kinds = ("wheel", "sdist") if self.sdists else ("wheel",)
            for kind in kinds:
                for tier in range(len(self.finders)):
                    for version, dist in self._acceptable(tier, name, reqs, kind=kind):
                        if version in seen or version in bad or (dist.location, dist.filename) in self._unusable:
                            continue
                        seen.add(version)
                        yield Candidate(name, version, extras, dist, tier)
            if self.lenient and _PLACEHOLDER_VERSION not in bad:
                yield Candidate(name, _PLACEHOLDER_VERSION, extras, None)

        return factory

    def is_satisfied_by(self, requirement: Req, candidate: Candidate) -> bool:
        """Whether a pinned candidate meets a (possibly new) requirement."""
        if candidate.dist is None:
            return True
        if requirement.wheel_file and candidate.dist.filename != requirement.wheel_file:
            return False
        return _contains(requirement, candidate.version)

    def get_dependencies(self, candidate: Candidate) -> list[Req]:
        """Requires-Dist whose markers hold on the target, with the candidate's extras applied."""
        if candidate.dist is None:
            return []
        found = self.dependencies(candidate.dist, candidate.extras, tier=candidate.tier)
        reason = self.unusable_reason(candidate.dist)
        if reason is not None:
            return [Req(_UNUSABLE, frozenset(), SpecifierSet(), f"{candidate.dist.filename}: {reason}")]
        deps: list[Req] = []
        if candidate.extras:
            # A candidate with extras depends on the same version of the plain project, so both resolve together.
            deps.append(
                Req(
                    candidate.name,
                    frozenset(),
                    SpecifierSet(f"=={candidate.version}"),
                    f"{candidate.name}=={candidate.version}",
                )
            )
        deps.extend(found)
        return deps

    # domain ----------------------------------------------------------------------------------------------
    def files(self, tier: int, name: NormalizedName) -> Sequence[DistFile]:
        key = (tier, name)
        if key not in self._files:
            self._files[key] = self.finders[tier].files(name)
        return self._files[key]

    def all_files(self, name: NormalizedName) -> list[DistFile]:
        """Every file every tier knows for ``name`` (queries every finder), including those a finder sets
        aside because no target can use them (its optional ``all_files``): a gap explains each of them."""
        seen: dict[str, DistFile] = {}
        for tier in range(len(self.finders)):
            everything = getattr(self.finders[tier], "all_files", None)
            for dist in everything(name) if everything is not None else self.files(tier, name):
                seen.setdefault(dist.filename, dist)
        return list(seen.values())

    def dependencies(self, dist: DistFile, extras: frozenset[str], *, tier: int = 0) -> list[Req]:
        """The requirements ``dist`` (from finder ``tier``) brings for the target, with ``extras`` applied.

        Reading the metadata may rule the file out (:meth:`unusable_reason`); it then brings nothing.
        """
        key = (dist.location, dist.filename, extras)
        if key in self._deps:
            return self._deps[key]
        try:
            meta = self.finders[tier].metadata(dist)
        except UnusableMetadata as exc:
            _log.warning(f"passing over {dist.filename}: {exc}", once=f"unusable-metadata:{dist.location}")
            ruled_out: tuple[str, str | None] | None = (str(exc), None)
        else:
            ruled_out = self._metadata_rejection(dist, meta)
        if ruled_out is not None:
            _log.debug(f"{dist.filename} cannot serve {self.target.name}: {ruled_out[0]}")
            self._unusable[(dist.location, dist.filename)] = ruled_out
            # Another file of the same version (another tag or build) may still serve: choose the best again.
            self._acceptable_memo.clear()
            self._deps[key] = []
            return []
        out: list[Req] = []
        for text in meta.requires_dist:
            # Thousands of files repeat the same Requires-Dist lines: each is read once per set of extras.
            known = self._dep_reqs.get((text, extras), _UNREAD)
            if known is not _UNREAD:
                if known is not None:
                    out.append(known)
                continue
            try:
                req = parse_pep508(text)
            except InvalidRequirement:
                message = f"{dist.filename}: ignoring invalid Requires-Dist {text!r}"
                _log.warning(message, once=message)
                continue
            if not self.marker_holds(req.marker, extras):
                self._dep_reqs[(text, extras)] = None
                continue
            if req.url:
                message = f"{dist.filename}: ignoring direct-reference dependency {text!r}"
                _log.warning(message, once=message)
                continue
            dep = Req(
                canonicalize_name(req.name),
                frozenset(canonicalize_name(e) for e in req.extras),
                req.specifier,
                _requirement_text(req),
            )
            self._dep_reqs[(text, extras)] = dep
            out.append(dep)
        self._deps[key] = out
        return out

    def unusable_reason(self, dist: DistFile) -> str | None:
        """Why ``dist``'s own metadata rules it out, when that metadata was read during this resolution."""
        found = self._unusable.get((dist.location, dist.filename))
        return None if found is None else found[0]

    def excluding_requires_python(self, dist: DistFile) -> str | None:
        """The Requires-Python (the index's, or the file's own metadata's) that rules ``dist`` out, whatever else
        does too (a wheel for another Python usually has both against it), or None."""
        found = self._unusable.get((dist.location, dist.filename))
        if found is not None and found[1] is not None:
            return found[1]
        if dist.requires_python:
            try:
                spec = SpecifierSet(dist.requires_python)
            except InvalidSpecifier:
                return None
            if not spec.contains(self.target.python_full_version, prereleases=True):
                return dist.requires_python
        return None

    def _metadata_rejection(self, dist: DistFile, meta: CoreMetadata) -> tuple[str, str | None] | None:
        """Why the metadata ``dist`` holds rules it out for the target (another release, a Python it does not
        support), with the Requires-Python when that is the cause; None when it serves. The file name told the
        resolver neither."""
        try:
            same = canonicalize_name(meta.name) == dist.name and (
                meta.version == str(dist.version) or Version(meta.version) == dist.version
            )
        except InvalidVersion:
            same = False
        if not same:
            reason = f"its metadata names {meta.name} {meta.version}, not {dist.name} {dist.version}"
            _log.warning(f"passing over {dist.filename}: {reason}", once=f"other-release:{dist.location}")
            return reason, None
        if meta.requires_python and meta.requires_python != dist.requires_python:
            try:
                spec = SpecifierSet(meta.requires_python)
            except InvalidSpecifier:
                # pip ignores a Requires-Python it cannot parse, with a warning; a file is not lost over it.
                message = f"{dist.filename}: ignoring invalid Requires-Python {meta.requires_python!r}"
                _log.warning(message, once=message)
                return None
            if not spec.contains(self.target.python_full_version, prereleases=True):
                return self.python_reason(meta.requires_python), meta.requires_python
        return None

    def python_reason(self, requires_python: str) -> str:
        """The rejection of a file whose Requires-Python excludes the target's Python."""
        return f"requires Python {requires_python}, target has {self.target.python_full_version}"

    def marker_holds(self, marker: Marker | None, extras: Iterable[str] = ()) -> bool:
        """Evaluate a marker in the target's complete environment, once per extra (and once with none)."""
        if marker is None:
            return True
        for extra in ("", *sorted(extras)):
            env = dict(self._env, extra=extra)
            if marker.evaluate(env):
                return True
        return False

    def file_rejection(self, dist: DistFile) -> str | None:
        """Why ``dist`` cannot be installed on the target regardless of version constraints, or None."""
        reason = self._rejection(dist)
        if isinstance(reason, _TagMismatch):
            return explain_tags(dist.tags, self.target)
        return reason

    def usable(self, dist: DistFile) -> bool:
        """Whether :meth:`file_rejection` has nothing against ``dist``, without writing the explanation: an index
        lists hundreds of wheels for other platforms, and only a gap needs to say why each was refused."""
        return self._rejection(dist) is None

    def _rejection(self, dist: DistFile) -> str | _TagMismatch | None:
        key = (dist.location, dist.filename)
        learnt = self._unusable.get(key)
        if learnt is not None:
            return learnt[0]
        if key not in self._rejections:
            self._rejections[key] = self._file_rejection(dist)
        return self._rejections[key]

    def _file_rejection(self, dist: DistFile) -> str | _TagMismatch | None:
        if dist.kind == "sdist":
            if not self.sdists:
                return "source distribution only; no wheel for this version"
            if self.formats.binary_only(dist.name):
                return "source distribution, excluded by --only-binary"
        elif not dist.local and self.formats.no_wheels(dist.name):
            return "binary wheel from the index, excluded by --no-binary (build from source instead)"
        elif self.target.best_tag(dist.tags) is None:
            return _TAG_MISMATCH
        if dist.requires_python:
            allows = self._python_allows(dist.requires_python)
            if allows is None:
                return f"invalid Requires-Python {dist.requires_python!r}"
            if not allows:
                return self.python_reason(dist.requires_python)
        return None

    def _python_allows(self, requires_python: str) -> bool | None:
        """Whether a Requires-Python admits the target's Python (None: it does not parse); each text once,
        since thousands of files share a handful of them."""
        if requires_python not in self._python_checks:
            try:
                spec = SpecifierSet(requires_python)
            except InvalidSpecifier:
                self._python_checks[requires_python] = None
            else:
                allows = spec.contains(self.target.python_full_version, prereleases=True)
                self._python_checks[requires_python] = allows
        return self._python_checks[requires_python]

    def _acceptable(
        self, tier: int, name: NormalizedName, reqs: Sequence[Req], *, kind: str = "wheel"
    ) -> list[tuple[Version, DistFile]]:
        """(version, best file of ``kind``) pairs from one tier that meet every requirement, newest first."""
        if not self.remember_candidates:
            return self._compute_acceptable(tier, name, reqs, kind)
        key = (tier, name, kind, tuple(reqs))
        memo = self._acceptable_memo.get(key)
        if memo is None:
            memo = self._acceptable_memo[key] = self._compute_acceptable(tier, name, reqs, kind)
        return memo

    def _compute_acceptable(
        self, tier: int, name: NormalizedName, reqs: Sequence[Req], kind: str
    ) -> list[tuple[Version, DistFile]]:
        by_version = self._by_version.get((tier, name, kind))
        if by_version is None:
            by_version = {}
            for dist in self.files(tier, name):
                if dist.kind == kind:
                    by_version.setdefault(dist.version, []).append(dist)
            self._by_version[(tier, name, kind)] = by_version
        versions = list(by_version)
        pinned = {v for r in reqs if (v := r.pinned_version) is not None}
        wanted_files = {r.wheel_file for r in reqs if r.wheel_file}
        if any(v.is_prerelease for v in versions):
            spec = SpecifierSet()
            for req in reqs:
                spec &= req.specifier
            # packaging's filter admits pre-releases only when asked or when nothing else matches, as pip does.
            allowed = list(spec.filter(versions, prereleases=True if self.pre else None))
        else:
            # No pre-release to decide about: the filter keeps what every specifier contains, and each
            # requirement's answers are kept (as is_satisfied_by keeps them) instead of combining thousands of
            # specifier sets for a project many others depend on.
            allowed = [v for v in versions if all(_contains(r, v) for r in reqs)]
        out: list[tuple[Version, DistFile]] = []
        for version in sorted(allowed, reverse=True):
            best: tuple[int, DistFile] | None = None
            for dist in by_version[version]:
                if wanted_files and dist.filename not in wanted_files:
                    continue
                if dist.yanked is not None and version not in pinned:
                    continue  # PEP 592: yanked files are only for exact pins
                if not self.usable(dist):
                    continue
                # An admitted sdist has no tags: prefer the .tar.gz of PEP 625 over the legacy formats.
                if dist.kind == "sdist":
                    suffix = sdist_suffix(dist.filename)
                    rank: int | None = SDIST_SUFFIXES.index(suffix) if suffix else len(SDIST_SUFFIXES)
                else:
                    rank = self.target.best_tag(dist.tags)
                assert rank is not None
                # Prefer the best tag; among equal tags, a larger build number wins (PEP 427).
                key = (rank, dist)
                if best is None or key[0] < best[0] or (key[0] == best[0] and dist.build > best[1].build):
                    best = key
            if best is not None:
                out.append((version, best[1]))
        return out


def _contains(requirement: Req, version: Version) -> bool:
    """``requirement.specifier.contains(version, prereleases=True)``, each answer computed once."""
    memo = requirement.satisfied
    found = memo.get(version)
    if found is None:
        found = memo[version] = requirement.specifier.contains(version, prereleases=True)
    return found


def _requirement_text(req: Requirement) -> str:
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    return f"{req.name}{extras}{req.specifier}"


_ARCHES = ("x86_64", "aarch64", "armv7l", "i686", "ppc64le", "s390x", "arm64", "amd64", "win32", "universal2")


def explain_tags(tags: Iterable[Tag], target: Target) -> str:
    """A human reason why none of a wheel's tags fits the target (architecture, libc, Python, ABI)."""
    tags = sorted(tags, key=str)
    platforms = {t.platform for t in tags}
    shown = ", ".join(sorted({str(t) for t in tags})[:3])
    best = str(target.tags[0])
    if platforms & set(target.platforms) or "any" in platforms:
        interpreters = sorted({t.interpreter for t in tags})
        abis = sorted({t.abi for t in tags})
        return f"built for Python {', '.join(interpreters)} (ABI {', '.join(abis)}); target needs {best}"
    if all(not p.startswith(("manylinux", "musllinux", "linux")) for p in platforms):
        return f"built for another operating system ({shown}); target needs {best}"
    if not any(p.endswith("_" + target.arch) for p in platforms):
        arches = sorted({a for p in platforms for a in _ARCHES if p.endswith(a)}) or sorted(platforms)
        return f"built for {', '.join(arches)}, target is {target.arch} ({shown}; target needs {best})"
    if target.libc.family == "musllinux" and not any(p.startswith("musllinux") for p in platforms):
        return f"built for glibc (manylinux), target uses musl ({shown}; target needs {best})"
    if target.libc.family == "manylinux" and all(p.startswith("musllinux") for p in platforms):
        return f"built for musl (musllinux), target uses glibc ({shown}; target needs {best})"
    if target.libc.family == "manylinux":
        return f"needs a newer glibc than the target's {target.libc} ({shown})"
    return f"needs a newer musl than the target's {target.libc} ({shown})"
