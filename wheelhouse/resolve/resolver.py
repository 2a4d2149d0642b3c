"""Resolve a requirement set for one target over one or more finders, with resolvelib; the results (pins, and
gaps that say why, for which target, via which chain).

All domain knowledge lives in the provider (:class:`~wheelhouse.resolve.provider.Provider`, which lists and
orders candidates, and its :class:`~wheelhouse.resolve.file_rules.FileRules`, which judge one file for the
target); resolvelib only searches; this module runs the search and explains what it could not find.
Resolution runs in two passes:

1. *strict*: exactly pip's semantics (backtracking over real files). Success means the target is covered.
2. *lenient*, only when strict fails: every project that has no acceptable file resolves to a placeholder, so
   one run reports *every* gap (not just the first one pip would stop at), each with the chains that need it and
   the reason each present file was rejected.

Finders are tiers: candidates of the first finder (the local store) are offered before those of the next (the
remote index), and a later tier is only consulted when the earlier ones have nothing acceptable. That is what
makes a covered ``download`` run cost zero network requests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any, Literal

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib import Resolver
from resolvelib.resolvers import ResolutionError, ResolutionImpossible, ResolutionTooDeep

from wheelhouse._markers import UnevaluableMarker
from wheelhouse.dists import DistFile, Finder
from wheelhouse.errors import RequirementsError
from wheelhouse.requirements import RequirementLine, RequirementSet
from wheelhouse.resolve.file_rules import explain_tags
from wheelhouse.resolve.onepass import resolve_one_pass
from wheelhouse.resolve.provider import FormatControl, Provider, ResolveReporter, parse_format_control
from wheelhouse.resolve.vocabulary import Candidate, Req
from wheelhouse.targets import Target

__all__ = [
    "Chain",
    "ChainLink",
    "FormatControl",
    "Gap",
    "GapKind",
    "Pin",
    "Provider",
    "Rejection",
    "Resolution",
    "ResolveReporter",
    "explain_tags",
    "format_chain",
    "parse_format_control",
    "resolve",
]

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
    # What every file the requirement allows has against it, when they share one cause (a newer Python, a yank):
    # said instead of the general "no compatible file", as pip says "Requires-Python >=3.12".
    cause: str | None = None

    @property
    def summary(self) -> str:
        if self.cause:
            return self.cause
        if self.kind == "missing":
            return f"no file for {self.project} in any source"
        if self.kind == "sdist-only":
            return f"only a source distribution is available for {self.requirement}; no wheel for this target"
        if self.kind == "conflict":
            return f"conflicting requirements on {self.project}: no single version satisfies them all"
        return f"no compatible file for {self.requirement}"


def _no_chains() -> tuple[Chain, ...]:
    return ()


@dataclass(frozen=True)
class Pin:
    """A chosen project version and the file that serves it on the target.

    Its ``chains`` are worked out when first asked for (``chains_of``): only some commands show them (``why``,
    the SBOM), and for thousands of pins building them was a large part of a verify that never shows them.
    """

    name: NormalizedName
    version: Version
    dist: DistFile
    extras: frozenset[str] = frozenset()
    chains_of: Callable[[], tuple[Chain, ...]] = field(default=_no_chains, repr=False, compare=False)

    @cached_property
    def chains(self) -> tuple[Chain, ...]:
        """Every chain of requirements that leads to this project (at most 50 per requirement on it)."""
        return self.chains_of()


@dataclass(frozen=True)
class Resolution:
    """The outcome of resolving one requirement set for one target."""

    target: Target
    pins: tuple[Pin, ...] = ()
    gaps: tuple[Gap, ...] = ()
    # Covered in one pass by the first finder's files alone (a download's folder), with the default options: a
    # resolution over that finder alone gives this very answer (see :func:`resolve`), so a download that added
    # nothing need not prove its folder again.
    first_tier: bool = field(default=False, compare=False)

    @property
    def covered(self) -> bool:
        return not self.gaps

    def pin(self, name: str) -> Pin | None:
        key = canonicalize_name(name)
        return next((p for p in self.pins if p.name == key), None)


# -- the public entry point --------------------------------------------------------------------------------


def resolve(
    requirements: RequirementSet,
    target: Target,
    finders: Sequence[Finder],
    *,
    pre: bool = False,
    reporter: ResolveReporter | None = None,
    sdists: bool = False,
    formats: FormatControl | None = None,
) -> Resolution:
    """Resolve ``requirements`` for ``target``; never raises for an unsatisfiable set, it returns gaps.

    With ``sdists`` a source distribution may be pinned (its ``Pin.dist.kind`` is ``"sdist"``: the caller
    builds it) when no acceptable wheel serves the version; the finders must then answer sdist metadata.
    """
    pre = pre or requirements.pre
    env_provider = Provider(target, finders, pre=pre)
    roots = [Req.top_level(line) for line in requirements.requirements if _line_holds(env_provider, line)]
    constraints: dict[NormalizedName, list[Req]] = {}
    for line in requirements.constraints:
        if _line_holds(env_provider, line):
            c = Req.top_level(line)
            constraints.setdefault(c.name, []).append(c)

    strict = Provider(target, finders, constraints=constraints, pre=pre, sdists=sdists, formats=formats)
    hashed = {r.name for r in (*roots, *(c for cs in constraints.values() for c in cs)) if r.hashes}
    if hashed:
        strict.prime_digests(sorted(hashed))
    # Without conflicts one pass gives resolvelib's answer in time proportional to the set, not its square. Over
    # several tiers (a download: the folder, then the index) it also makes a covered re-run ask the index nothing.
    quick = resolve_one_pass(strict, roots, MAX_ROUNDS, reporter)
    if quick is not None:
        resolution = _resolution(target, quick, strict)
        default = (formats is None or formats == FormatControl()) and pre == requirements.pre
        first = default and all(c.tier == 0 for c in quick.mapping.values())
        return dataclasses.replace(resolution, first_tier=first) if first else resolution
    tried = strict
    strict = Provider(target, finders, constraints=constraints, pre=pre, sdists=sdists, formats=formats)
    strict.share_files(tried)
    # The lenient pass in one pass only where it cannot fetch or build: its gaps are explained from the files.
    one_pass = len(finders) == 1 and not sdists and reporter is None
    try:
        result = Resolver(strict, reporter or ResolveReporter()).resolve(roots, max_rounds=MAX_ROUNDS)
        return _resolution(target, result, strict)
    except ResolutionImpossible as exc:
        strict_causes = list(exc.causes)
    except ResolutionTooDeep:
        strict_causes = []

    # Strict failed: resolve again admitting placeholders so that every gap is found and explained at once.
    lenient = Provider(target, finders, constraints=constraints, pre=pre, lenient=True, sdists=sdists, formats=formats)
    if one_pass:
        # Its own copies of what the strict pass learnt: a pass given up leaves resolvelib's inputs untouched.
        lenient.share_memos(strict, copy=True)
        quick = resolve_one_pass(lenient, roots, MAX_ROUNDS)
        if quick is not None:
            resolution = _resolution(target, quick, lenient)
            if resolution.gaps:
                return resolution
            return Resolution(target, resolution.pins, _conflict_gaps(strict_causes, strict))
        lenient = Provider(
            target, finders, constraints=constraints, pre=pre, lenient=True, sdists=sdists, formats=formats
        )
    lenient.share_memos(strict)
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


# How many requirements up from a project its chains are followed (see _resolution's walk).
_MAX_CHAIN_DEPTH = 200


def _line_holds(provider: Provider, line: RequirementLine) -> bool:
    """Whether the marker of a requirement or constraint line holds on the provider's target; a marker that
    cannot be evaluated is the line's error."""
    try:
        return provider.rules.marker_holds(line.requirement.marker)
    except UnevaluableMarker as exc:
        raise RequirementsError(
            f"its marker cannot be evaluated for the target {provider.target.name} ({exc.why})",
            path=line.origin.path,
            line=line.origin.line,
            text=line.text,
        ) from None


def _resolution(target: Target, result: Any, provider: Provider) -> Resolution:
    mapping: Mapping[str, Candidate] = result.mapping
    criteria: Mapping[str, Any] = result.criteria
    chains_memo: dict[str, tuple[Chain, ...]] = {}

    def walk(identifier: str, stack: frozenset[str]) -> tuple[tuple[Chain, ...], bool]:
        """The chains to ``identifier``, and whether none was cut short by ``stack`` (a dependency cycle)."""
        if identifier in chains_memo:
            return chains_memo[identifier], True
        if len(stack) >= _MAX_CHAIN_DEPTH:
            # Deeper than any real project's graph (a generated or hostile folder): the chain is shown from here,
            # and the walk stays within the interpreter's recursion limit.
            return ((ChainLink(f"... ({_MAX_CHAIN_DEPTH} or more requirements above)"),),), False
        out: list[Chain] = []
        whole = True
        criterion = criteria.get(identifier)
        for info in criterion.information if criterion is not None else ():
            req: Req = info.requirement
            parent: Candidate | None = info.parent
            if parent is None:
                out.append((ChainLink(req.text, req.origin),))
                continue
            pid = parent.identifier
            if pid in stack:
                whole = False
                continue
            found, parent_whole = walk(pid, stack | {identifier})
            whole = whole and parent_whole
            parent_chains = found or ((ChainLink(f"{parent.name}=={parent.version}"),),)
            # A project's extras variant depends on the plain project: that link says nothing to a user.
            same = parent.name == req.name
            for pc in parent_chains:
                out.append(pc if same else (*pc, ChainLink(req.text)))
                if len(out) >= 50:
                    break
        unique = tuple(dict.fromkeys(out))
        # Chains that no cycle cut short are the same whichever path asked for them: kept, every project's
        # chains are built once (rebuilding them per dependent made the report quadratic in deep graphs).
        if whole or not stack:
            chains_memo[identifier] = unique
        return unique, whole

    def chains(identifier: str) -> tuple[Chain, ...]:
        return walk(identifier, frozenset())[0]

    pins: dict[NormalizedName, Pin] = {}
    gaps: dict[NormalizedName, Gap] = {}
    for identifier, cand in mapping.items():
        if cand.dist is None:
            reqs = [info.requirement for info in criteria[identifier].information]
            gap = _explain(provider, cand.name, reqs + provider.constraints.get(cand.name, []), chains(identifier))
            if cand.name in gaps:
                old = gaps[cand.name]
                gap = dataclasses.replace(old, chains=tuple(dict.fromkeys(old.chains + gap.chains)))
            gaps[cand.name] = gap
            continue
        if cand.name in pins:
            old_pin = pins[cand.name]
            pins[cand.name] = Pin(
                cand.name,
                cand.version,
                old_pin.dist,
                old_pin.extras | cand.extras,
                partial(_merged_chains, old_pin, chains, identifier),
            )
        else:
            pins[cand.name] = Pin(cand.name, cand.version, cand.dist, cand.extras, partial(chains, identifier))
    return Resolution(
        target,
        tuple(sorted(pins.values(), key=lambda p: p.name)),
        tuple(sorted(gaps.values(), key=lambda g: g.project)),
    )


def _merged_chains(pin: Pin, chains: Callable[[str], tuple[Chain, ...]], identifier: str) -> tuple[Chain, ...]:
    """``pin``'s chains followed by those of ``identifier`` (the same project with other extras)."""
    return tuple(dict.fromkeys(pin.chains + chains(identifier)))


def _explain(provider: Provider, name: NormalizedName, reqs: Sequence[Req], chains: tuple[Chain, ...]) -> Gap:
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
    # Per file the requirement allows: the Requires-Python that excludes it, "yanked", or None (anything else).
    in_range_causes: list[str | None] = []
    for dist in sorted(files, key=lambda d: (d.version, d.filename), reverse=True):
        reason = provider.rules.file_rejection(dist)
        in_range = spec.contains(dist.version, prereleases=True)
        cause = provider.rules.excluding_requires_python(dist)
        if cause is not None:
            if dist.kind == "sdist":
                # Building would not help a source distribution for another Python: that is its reason.
                reason = provider.rules.python_reason(cause)
        elif dist.yanked is not None and dist.version not in pinned and (reason is None or dist.kind == "sdist"):
            reason = f"yanked{': ' + dist.yanked if dist.yanked else ''} (only used when pinned with ==)"
            cause = _YANKED
        if in_range:
            in_range_causes.append(cause)
        if reason is None and wanted_files and dist.filename not in wanted_files:
            reason = f"not the file named by the requirement ({', '.join(sorted(wanted_files))})"
        if reason is None:
            usable_versions.add(dist.version)
            if not in_range:
                failing = [r for r in reqs if not r.specifier.contains(dist.version, prereleases=True)]
                reason = f"version {dist.version} is outside {'; '.join(r.text for r in failing) or text}"
        elif dist.kind == "sdist" and in_range and cause is None:
            sdist_in_range = True
        if reason is not None:
            rejected.append(Rejection(dist.filename, reason))
    kind: GapKind = "no-compatible"
    individually_ok = all(any(r.specifier.contains(v, prereleases=True) for v in usable_versions) for r in reqs)
    if usable_versions and individually_ok and len(reqs) > 1:
        kind = "conflict"
    elif sdist_in_range:
        kind = "sdist-only"
    cause = _shared_cause(in_range_causes, text, provider.target) if kind == "no-compatible" else None
    return Gap(kind, name, text, chains, tuple(rejected), cause)


_YANKED = "yanked"


def _shared_cause(causes: Sequence[str | None], requirement: str, target: Target) -> str | None:
    """The one cause every file the requirement allows is refused for, said in a line; None when they differ.

    ``causes`` holds, per file, the Requires-Python that excludes it, :data:`_YANKED`, or None for any other
    reason (tags, formats).
    """
    if not causes or None in causes:
        return None
    if all(c == _YANKED for c in causes):
        return f"every release {requirement} allows is yanked; a yanked release is used only when pinned with =="
    if _YANKED in causes:
        return None
    limits = sorted({c for c in causes if c is not None})
    return f"{requirement} requires Python {' or '.join(limits)}; the target has {target.python_full_version}"


def _conflict_gaps(causes: Sequence[Any], provider: Provider) -> tuple[Gap, ...]:
    by_name: dict[NormalizedName, list[Chain]] = {}
    for cause in causes:
        req: Req = cause.requirement
        parent: Candidate | None = cause.parent
        if req.unusable and parent is not None:
            # Not a project: the parent's file was ruled out by its own metadata, and ``text`` says how.
            by_name.setdefault(parent.name, []).append((ChainLink(req.text),))
            continue
        link = ChainLink(req.text, req.origin)
        chain: Chain = (ChainLink(f"{parent.name}=={parent.version}"), link) if parent else (link,)
        by_name.setdefault(req.name, []).append(chain)
    return tuple(
        Gap("conflict", name, name, tuple(dict.fromkeys(chains))) for name, chains in sorted(by_name.items())
    ) or (Gap("conflict", NormalizedName("?"), "resolution", ()),)
