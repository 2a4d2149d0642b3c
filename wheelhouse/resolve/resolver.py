"""Resolve a requirement set for one target over one or more finders, with resolvelib.

All domain knowledge lives in :class:`Provider`; resolvelib only searches. Resolution runs in two passes:

1. *strict*: exactly pip's semantics (backtracking over real files). Success means the target is covered.
2. *lenient*, only when strict fails: every project that has no acceptable file resolves to a placeholder, so
   one run reports *every* gap (not just the first one pip would stop at), each with the chains that need it and
   the reason each present file was rejected.

Finders are tiers: candidates of the first finder (the local store) are offered before those of the next (the
remote index), and a later tier is only consulted when the earlier ones have nothing acceptable. That is what
makes a covered ``download`` run cost zero network requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib import AbstractProvider, BaseReporter, Resolver
from resolvelib.resolvers import ResolutionError, ResolutionImpossible, ResolutionTooDeep

from wheelhouse.dists import DistFile, Finder
from wheelhouse.requirements import RequirementLine, RequirementSet
from wheelhouse.targets import Target

GapKind = Literal["missing", "no-compatible", "sdist-only", "conflict"]
MAX_ROUNDS = 20000


@dataclass(frozen=True)
class ChainLink:
    """One step of a requirement chain: the requirement text, and where it came from at the top level."""

    requirement: str
    origin: str | None = None

    def __str__(self) -> str:
        return f"{self.origin} {self.requirement}" if self.origin else self.requirement


Chain = tuple[ChainLink, ...]


def format_chain(chain: Chain) -> str:
    """``requirements.txt:3 flask==3.0.0 -> werkzeug>=3.0.0 -> markupsafe>=2.1.1``."""
    return " -> ".join(str(link) for link in chain)


@dataclass(frozen=True)
class Rejection:
    """A file that exists for a project and why it cannot serve the target."""

    filename: str
    reason: str


@dataclass(frozen=True)
class Gap:
    """Why a project cannot be satisfied for a target, with every chain that needs it."""

    kind: GapKind
    project: NormalizedName
    requirement: str
    chains: tuple[Chain, ...] = ()
    rejected: tuple[Rejection, ...] = ()

    @property
    def summary(self) -> str:
        if self.kind == "missing":
            return f"no file for {self.project} in any source"
        if self.kind == "sdist-only":
            return f"only a source distribution is available for {self.requirement}; no wheel for this target"
        if self.kind == "conflict":
            return f"conflicting requirements on {self.project}: no single version satisfies them all"
        return f"no compatible file for {self.requirement}"


@dataclass(frozen=True)
class Pin:
    """A chosen project version and the file that serves it on the target."""

    name: NormalizedName
    version: Version
    dist: DistFile
    extras: frozenset[str] = frozenset()
    chains: tuple[Chain, ...] = ()


@dataclass(frozen=True)
class Resolution:
    """The outcome of resolving one requirement set for one target."""

    target: Target
    pins: tuple[Pin, ...] = ()
    gaps: tuple[Gap, ...] = ()

    @property
    def covered(self) -> bool:
        return not self.gaps

    def pin(self, name: str) -> Pin | None:
        key = canonicalize_name(name)
        return next((p for p in self.pins if p.name == key), None)


# -- resolvelib's vocabulary -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Req:
    name: NormalizedName
    extras: frozenset[str]
    specifier: SpecifierSet
    text: str
    origin: str | None = None
    wheel_file: str | None = None

    @cached_property
    def identifier(self) -> str:
        return _identifier(self.name, self.extras)

    @cached_property
    def satisfied(self) -> dict[Version, bool]:
        """Memo of ``specifier.contains`` by version: resolvelib re-checks every pin against every requirement
        on every round, which made these checks most of a resolution's time."""
        return {}

    @cached_property
    def pinned_version(self) -> Version | None:
        """The version an exact ``==`` pin names (asked thousands of times per resolution: computed once)."""
        specs = list(self.specifier)
        if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
            try:
                return Version(specs[0].version)
            except ValueError:
                return None
        return None


@dataclass(frozen=True)
class _Candidate:
    name: NormalizedName
    version: Version
    extras: frozenset[str]
    dist: DistFile | None  # None: the lenient pass's placeholder for "nothing acceptable"
    tier: int = 0

    @property
    def identifier(self) -> str:
        return _identifier(self.name, self.extras)


class ResolveReporter(BaseReporter["_Req", "_Candidate", str]):
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


def _base_name(identifier: str) -> NormalizedName:
    return NormalizedName(identifier.split("[", 1)[0])


_PLACEHOLDER_VERSION = Version("0")


class _TagMismatch:
    """A file rejection for tags none of which the target accepts, spelled out (``explain_tags``) on demand."""


_TAG_MISMATCH = _TagMismatch()


@dataclass(frozen=True)
class FormatControl:
    """pip's --no-binary / --only-binary: project names (canonical) or ``:all:``.

    ``no_binary`` refuses the index's wheels of those projects (they are built from source; wheels already in the
    folder, such as earlier builds, stay acceptable so runs remain incremental). ``only_binary`` refuses their
    source distributions, so they are never built.
    """

    no_binary: frozenset[str] = frozenset()
    only_binary: frozenset[str] = frozenset()

    def no_wheels(self, name: str) -> bool:
        return name in self.no_binary or (":all:" in self.no_binary and name not in self.only_binary)

    def binary_only(self, name: str) -> bool:
        return name in self.only_binary or (":all:" in self.only_binary and name not in self.no_binary)


def parse_format_control(no_binary: Sequence[str] = (), only_binary: Sequence[str] = ()) -> FormatControl:
    """pip's option values: comma-separated names, ``:all:`` and ``:none:`` (which clears what came before)."""

    def collect(values: Sequence[str]) -> frozenset[str]:
        names: set[str] = set()
        for value in values:
            for item in value.split(","):
                item = item.strip()
                if item == ":none:":
                    names.clear()
                elif item == ":all:":
                    names.add(":all:")
                elif item:
                    names.add(canonicalize_name(item))
        return frozenset(names)

    return FormatControl(collect(no_binary), collect(only_binary))


class Provider(AbstractProvider["_Req", "_Candidate", str]):
    """The resolvelib provider: every packaging rule wheelhouse applies lives here."""

    def __init__(
        self,
        target: Target,
        finders: Sequence[Finder],
        *,
        constraints: Mapping[NormalizedName, list[_Req]] | None = None,
        pre: bool = False,
        lenient: bool = False,
        warn: Callable[[str], None] | None = None,
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
        self.warn = warn or (lambda _msg: None)
        self._env = dict(target.marker_environment)
        self._files: dict[tuple[int, NormalizedName], Sequence[DistFile]] = {}
        self._deps: dict[tuple[str, str, frozenset[str]], list[_Req]] = {}
        # resolvelib asks for the same candidates many times while it works; the answers never change.
        self._acceptable_memo: dict[
            tuple[int, NormalizedName, str, tuple[_Req, ...]], list[tuple[Version, DistFile]]
        ] = {}
        self._rejections: dict[tuple[str, str], str | _TagMismatch | None] = {}
        self._by_version: dict[tuple[int, NormalizedName, str], dict[Version, list[DistFile]]] = {}

    # resolvelib protocol ---------------------------------------------------------------------------------
    def identify(self, requirement_or_candidate: _Req | _Candidate) -> str:
        """The key two requirements or candidates share when they are about the same thing."""
        return requirement_or_candidate.identifier

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, _Candidate],
        candidates: Mapping[str, Iterator[_Candidate]],
        information: Mapping[str, Iterator[Any]],
        backtrack_causes: Sequence[Any],
    ) -> tuple[bool, bool, bool, str]:
        """Decide early what is most constrained: pins first, then top-level requirements, then the rest."""
        return self._preference(identifier, information, _cause_identifiers(backtrack_causes))

    def narrow_requirement_selection(
        self,
        identifiers: Iterable[str],
        resolutions: Mapping[str, _Candidate],
        candidates: Mapping[str, Iterator[_Candidate]],
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
        requirements: Mapping[str, Iterator[_Req]],
        incompatibilities: Mapping[str, Iterator[_Candidate]],
    ) -> Callable[[], Iterator[_Candidate]]:
        """Candidates for ``identifier``, best first; lazily, so later finders are asked only when needed."""
        name = _base_name(identifier)
        extras = frozenset(identifier[len(name) + 1 : -1].split(",")) if "[" in identifier else frozenset()
        reqs = list(requirements[identifier]) + self.constraints.get(name, [])
        if extras and name in requirements:
            # ``name[extra]`` pins the same version as plain ``name``: what constrains ``name`` constrains it
            # too (pip's factory does the same). Without this, ``uvicorn[standard]>=0.15`` next to
            # ``uvicorn==0.30.1`` walks every newer release, fetching metadata for each, before settling.
            reqs += [r for r in requirements[name] if r.wheel_file is None]
        bad = {c.version for c in incompatibilities[identifier]}

        def factory() -> Iterator[_Candidate]:
            seen: set[Version] = set()
            # Every wheel of every tier before any sdist (pip's --prefer-binary): an sdist is used only for a
            # version no acceptable wheel serves, so a build happens only when it must.
            kinds = ("wheel", "sdist") if self.sdists else ("wheel",)
            for kind in kinds:
                for tier in range(len(self.finders)):
                    for version, dist in self._acceptable(tier, name, reqs, kind=kind):
                        if version in seen or version in bad:
                            continue
                        seen.add(version)
                        yield _Candidate(name, version, extras, dist, tier)
            if self.lenient and _PLACEHOLDER_VERSION not in bad:
                yield _Candidate(name, _PLACEHOLDER_VERSION, extras, None)

        return factory

    def is_satisfied_by(self, requirement: _Req, candidate: _Candidate) -> bool:
        """Whether a pinned candidate meets a (possibly new) requirement."""
        if candidate.dist is None:
            return True
        if requirement.wheel_file and candidate.dist.filename != requirement.wheel_file:
            return False
        memo = requirement.satisfied
        found = memo.get(candidate.version)
        if found is None:
            found = memo[candidate.version] = requirement.specifier.contains(candidate.version, prereleases=True)
        return found

    def get_dependencies(self, candidate: _Candidate) -> list[_Req]:
        """Requires-Dist whose markers hold on the target, with the candidate's extras applied."""
        if candidate.dist is None:
            return []
        deps: list[_Req] = []
        if candidate.extras:
            # A candidate with extras depends on the same version of the plain project, so both resolve together.
            deps.append(
                _Req(
                    candidate.name,
                    frozenset(),
                    SpecifierSet(f"=={candidate.version}"),
                    f"{candidate.name}=={candidate.version}",
                )
            )
        deps.extend(self.dependencies(candidate.dist, candidate.extras, tier=candidate.tier))
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

    def dependencies(self, dist: DistFile, extras: frozenset[str], *, tier: int = 0) -> list[_Req]:
        """The requirements ``dist`` (from finder ``tier``) brings for the target, with ``extras`` applied."""
        key = (dist.location, dist.filename, extras)
        if key in self._deps:
            return self._deps[key]
        meta = self.finders[tier].metadata(dist)
        out: list[_Req] = []
        for text in meta.requires_dist:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                self.warn(f"{dist.filename}: ignoring invalid Requires-Dist {text!r}")
                continue
            if not self.marker_holds(req.marker, extras):
                continue
            if req.url:
                self.warn(f"{dist.filename}: ignoring direct-reference dependency {text!r}")
                continue
            out.append(
                _Req(
                    canonicalize_name(req.name),
                    frozenset(canonicalize_name(e) for e in req.extras),
                    req.specifier,
                    _requirement_text(req),
                )
            )
        self._deps[key] = out
        return out

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
            try:
                spec = SpecifierSet(dist.requires_python)
            except InvalidSpecifier:
                return f"invalid Requires-Python {dist.requires_python!r}"
            if not spec.contains(self.target.python_full_version, prereleases=True):
                return f"requires Python {dist.requires_python}, target has {self.target.python_full_version}"
        return None

    def _acceptable(
        self, tier: int, name: NormalizedName, reqs: Sequence[_Req], *, kind: str = "wheel"
    ) -> list[tuple[Version, DistFile]]:
        """(version, best file of ``kind``) pairs from one tier that meet every requirement, newest first."""
        key = (tier, name, kind, tuple(reqs))
        memo = self._acceptable_memo.get(key)
        if memo is None:
            memo = self._acceptable_memo[key] = self._compute_acceptable(tier, name, reqs, kind)
        return memo

    def _compute_acceptable(
        self, tier: int, name: NormalizedName, reqs: Sequence[_Req], kind: str
    ) -> list[tuple[Version, DistFile]]:
        by_version = self._by_version.get((tier, name, kind))
        if by_version is None:
            by_version = {}
            for dist in self.files(tier, name):
                if dist.kind == kind:
                    by_version.setdefault(dist.version, []).append(dist)
            self._by_version[(tier, name, kind)] = by_version
        versions = list(by_version)
        spec = SpecifierSet()
        for req in reqs:
            spec &= req.specifier
        pinned = {v for r in reqs if (v := r.pinned_version) is not None}
        wanted_files = {r.wheel_file for r in reqs if r.wheel_file}
        # packaging's filter admits pre-releases only when asked or when nothing else matches, as pip does.
        allowed = list(spec.filter(versions, prereleases=True if self.pre else None))
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
                # An admitted sdist has no tags: prefer the .tar.gz of PEP 625 over a legacy .zip.
                if dist.kind == "sdist":
                    rank: int | None = 0 if dist.filename.endswith(".tar.gz") else 1
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


# -- the public entry point --------------------------------------------------------------------------------


def _top_level(req_line: RequirementLine) -> _Req:
    req = req_line.requirement
    return _Req(
        canonicalize_name(req.name),
        frozenset(canonicalize_name(e) for e in req.extras),
        req.specifier,
        _requirement_text(req),
        origin=str(req_line.origin),
        wheel_file=req_line.wheel_file,
    )


def resolve(
    requirements: RequirementSet,
    target: Target,
    finders: Sequence[Finder],
    *,
    pre: bool = False,
    reporter: ResolveReporter | None = None,
    warn: Callable[[str], None] | None = None,
    sdists: bool = False,
    formats: FormatControl | None = None,
) -> Resolution:
    """Resolve ``requirements`` for ``target``; never raises for an unsatisfiable set, it returns gaps.

    With ``sdists`` a source distribution may be pinned (its ``Pin.dist.kind`` is ``"sdist"``: the caller
    builds it) when no acceptable wheel serves the version; the finders must then answer sdist metadata.
    """
    pre = pre or requirements.pre
    env_provider = Provider(target, finders, pre=pre, warn=warn)
    roots = [
        _top_level(line) for line in requirements.requirements if env_provider.marker_holds(line.requirement.marker)
    ]
    constraints: dict[NormalizedName, list[_Req]] = {}
    for line in requirements.constraints:
        if env_provider.marker_holds(line.requirement.marker):
            c = _top_level(line)
            constraints.setdefault(c.name, []).append(c)

    strict = Provider(target, finders, constraints=constraints, pre=pre, warn=warn, sdists=sdists, formats=formats)
    strict._files = env_provider._files
    try:
        result = Resolver(strict, reporter or ResolveReporter()).resolve(roots, max_rounds=MAX_ROUNDS)
        return _resolution(target, result, strict)
    except ResolutionImpossible as exc:
        strict_causes = list(exc.causes)
    except ResolutionTooDeep:
        strict_causes = []

    # Strict failed: resolve again admitting placeholders so that every gap is found and explained at once.
    lenient = Provider(
        target, finders, constraints=constraints, pre=pre, lenient=True, warn=warn, sdists=sdists, formats=formats
    )
    lenient._files = strict._files
    lenient._deps = strict._deps
    try:
        lenient_result = Resolver(lenient, reporter or ResolveReporter()).resolve(roots, max_rounds=MAX_ROUNDS)
        resolution = _resolution(target, lenient_result, lenient)
    except ResolutionError:
        resolution = Resolution(target)
    if resolution.gaps:
        return resolution
    # The lenient pass found a way that the strict pass did not (rare: e.g. conflicts resolved only by
    # backtracking into a placeholder). Report the strict conflict as it was.
    return Resolution(target, resolution.pins, _conflict_gaps(strict_causes, strict))


def _resolution(target: Target, result: Any, provider: Provider) -> Resolution:
    mapping: Mapping[str, _Candidate] = result.mapping
    criteria: Mapping[str, Any] = result.criteria
    chains_memo: dict[str, tuple[Chain, ...]] = {}

    def chains(identifier: str, stack: frozenset[str] = frozenset()) -> tuple[Chain, ...]:
        if identifier in chains_memo:
            return chains_memo[identifier]
        out: list[Chain] = []
        criterion = criteria.get(identifier)
        for info in criterion.information if criterion is not None else ():
            req: _Req = info.requirement
            parent: _Candidate | None = info.parent
            if parent is None:
                out.append((ChainLink(req.text, req.origin),))
                continue
            pid = parent.identifier
            if pid in stack:
                continue
            parent_chains = chains(pid, stack | {identifier}) or ((ChainLink(f"{parent.name}=={parent.version}"),),)
            # A project's extras variant depends on the plain project: that link says nothing to a user.
            same = parent.name == req.name
            for pc in parent_chains:
                out.append(pc if same else (*pc, ChainLink(req.text)))
                if len(out) >= 50:
                    break
        unique = tuple(dict.fromkeys(out))
        if not stack:
            chains_memo[identifier] = unique
        return unique

    pins: dict[NormalizedName, Pin] = {}
    gaps: dict[NormalizedName, Gap] = {}
    for identifier, cand in mapping.items():
        if cand.dist is None:
            reqs = [info.requirement for info in criteria[identifier].information]
            gap = _explain(provider, cand.name, reqs + provider.constraints.get(cand.name, []), chains(identifier))
            if cand.name in gaps:
                old = gaps[cand.name]
                gap = Gap(
                    old.kind,
                    old.project,
                    old.requirement,
                    tuple(dict.fromkeys(old.chains + gap.chains)),
                    old.rejected,
                )
            gaps[cand.name] = gap
            continue
        found = chains(identifier)
        if cand.name in pins:
            old_pin = pins[cand.name]
            pins[cand.name] = Pin(
                cand.name,
                cand.version,
                old_pin.dist,
                old_pin.extras | cand.extras,
                tuple(dict.fromkeys(old_pin.chains + found)),
            )
        else:
            pins[cand.name] = Pin(cand.name, cand.version, cand.dist, cand.extras, found)
    return Resolution(
        target,
        tuple(sorted(pins.values(), key=lambda p: p.name)),
        tuple(sorted(gaps.values(), key=lambda g: g.project)),
    )


def _explain(provider: Provider, name: NormalizedName, reqs: Sequence[_Req], chains: tuple[Chain, ...]) -> Gap:
    """Classify a gap and give a reason for every file that exists for the project."""
    files = provider.all_files(name)
    spec = SpecifierSet()
    for req in reqs:
        spec &= req.specifier
    text = name + (str(spec) if str(spec) else "")
    if not files:
        return Gap("missing", name, text, chains)
    pinned = {v for r in reqs if (v := r.pinned_version) is not None}
    wanted_files = {r.wheel_file for r in reqs if r.wheel_file}
    rejected: list[Rejection] = []
    usable_versions: set[Version] = set()
    sdist_in_range = False
    for dist in sorted(files, key=lambda d: (d.version, d.filename), reverse=True):
        reason = provider.file_rejection(dist)
        in_range = spec.contains(dist.version, prereleases=True)
        if reason is None and dist.yanked is not None and dist.version not in pinned:
            reason = f"yanked{': ' + dist.yanked if dist.yanked else ''} (only used when pinned with ==)"
        if reason is None and wanted_files and dist.filename not in wanted_files:
            reason = f"not the file named by the requirement ({', '.join(sorted(wanted_files))})"
        if reason is None:
            usable_versions.add(dist.version)
            if not in_range:
                failing = [r for r in reqs if not r.specifier.contains(dist.version, prereleases=True)]
                reason = f"version {dist.version} is outside {'; '.join(r.text for r in failing) or text}"
        elif dist.kind == "sdist" and in_range:
            sdist_in_range = True
        if reason is not None:
            rejected.append(Rejection(dist.filename, reason))
    kind: GapKind = "no-compatible"
    individually_ok = all(any(r.specifier.contains(v, prereleases=True) for v in usable_versions) for r in reqs)
    if usable_versions and individually_ok and len(reqs) > 1:
        kind = "conflict"
    elif sdist_in_range:
        kind = "sdist-only"
    return Gap(kind, name, text, chains, tuple(rejected))


def _conflict_gaps(causes: Sequence[Any], provider: Provider) -> tuple[Gap, ...]:
    by_name: dict[NormalizedName, list[Chain]] = {}
    for cause in causes:
        req: _Req = cause.requirement
        parent: _Candidate | None = cause.parent
        link = ChainLink(req.text, req.origin)
        chain: Chain = (ChainLink(f"{parent.name}=={parent.version}"), link) if parent else (link,)
        by_name.setdefault(req.name, []).append(chain)
    return tuple(
        Gap("conflict", name, name, tuple(dict.fromkeys(chains))) for name, chains in sorted(by_name.items())
    ) or (Gap("conflict", NormalizedName("?"), "resolution", ()),)


@dataclass(frozen=True)
class MultiResolution:
    """Resolutions of one requirement set for several targets."""

    resolutions: tuple[Resolution, ...] = field(default_factory=tuple)

    @property
    def covered(self) -> bool:
        return all(r.covered for r in self.resolutions)
