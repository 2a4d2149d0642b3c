"""The resolvelib provider: what a candidate is, in which order candidates are offered, what each depends on.

resolvelib only searches; this module answers its questions. Candidates are listed here: every file of a
project from each finder (tier), filtered by the requirements on it, yanked files only for exact pins, and
offered folder before index, wheels before sdists, best tag first. Which file may serve the target at all (tags,
Requires-Python, --no-binary / --only-binary, markers, what a file's own metadata rules out) is decided by the
provider's :class:`~wheelhouse.resolve.file_rules.FileRules` (``Provider.rules``). A file whose own metadata
rules it out is passed over like pip does: the resolver tries the next candidate, and the reason is kept for the
explanation of a gap.

A requirement that pins hashes (``--hash``, a lock's file hashes) admits only files with one of those digests
(:meth:`Provider.digest` says how each is known); only the candidates of such requirements are ever hashed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version
from resolvelib import AbstractProvider, BaseReporter

from wheelhouse.dists import (
    SDIST_SUFFIXES,
    CoreMetadata,
    DistFile,
    DistKind,
    Finder,
    UnusableMetadata,
    sdist_suffix,
)
from wheelhouse.errors import NetworkError, StoreError
from wheelhouse.releases import Releases, Replay, by_release
from wheelhouse.resolve.file_rules import FileRules
from wheelhouse.resolve.formats import FormatControl, parse_format_control
from wheelhouse.resolve.vocabulary import UNUSABLE, Candidate, Req, base_name
from wheelhouse.store.folder import Store, StoreFinder
from wheelhouse.store.fs import file_digest
from wheelhouse.targets import Target

__all__ = ["FormatControl", "Provider", "ResolveReporter", "parse_format_control"]


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


_PLACEHOLDER_VERSION = Version("0")


class Provider(AbstractProvider["Req", "Candidate", str]):
    """The resolvelib provider for one target over ``finders`` (tiers, first asked first).

    The rules about a single file are ``rules``'s; what stays here is resolvelib's interface, the listing and
    ordering of candidates, and the memos of what each finder lists and each file depends on.
    """

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
        self.rules = FileRules(target, formats, sdists=sdists)
        self.finders = list(finders)
        self.constraints = constraints or {}
        self.pre = pre
        self.lenient = lenient
        # Admit source distributions as candidates (they are built later); wheels are always offered first.
        self.sdists = sdists
        self._files: dict[tuple[int, NormalizedName], Sequence[DistFile]] = {}
        self._deps: dict[tuple[str, str, frozenset[str]], list[Req]] = {}
        # resolvelib asks for the same candidates many times while it works; the answers never change. One pass
        # asks once per project, and turns the memo off (hashing every requirement on a project costs more).
        self.remember_candidates = True
        self._acceptable_memo: dict[
            tuple[int, NormalizedName, str, tuple[Req, ...]], Replay[tuple[Version, DistFile]]
        ] = {}
        # Per tier, project and kind: its releases, newest first, and their files (see by_release).
        self._releases: dict[tuple[int, NormalizedName, str], Releases] = {}
        # Per identifier, when a dependency first named it: see _preference.
        self._first_named: dict[str, int] = {}
        # Hex digests by (file location, algorithm), None where it cannot be known before a download: see digest.
        self._digests: dict[tuple[str, str], str | None] = {}

    def share_files(self, other: Provider) -> None:
        """Share ``other``'s file lists and the digests it computed (neither changes during a resolution)."""
        self._files = other._files
        self._digests = other._digests

    def share_memos(self, other: Provider, *, copy: bool = False) -> None:
        """Share ``other``'s file lists, dependencies and what metadata ruled out (same target and finders): the
        lenient pass then repeats none of the strict pass's reads, and explains what that pass learnt. With
        ``copy``, what this provider learns later stays its own."""
        self._files = other._files
        self._digests = other._digests
        self._deps = dict(other._deps) if copy else other._deps
        self.rules.share_unusable(other.rules, copy=copy)

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
    ) -> tuple[bool, bool, bool, float, str]:
        """Decide early what is most constrained: backtrack causes, pins, top-level requirements (:meth:`rank`)."""
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

    def _preference(
        self, identifier: str, information: Mapping[str, Iterator[Any]], causes: frozenset[str]
    ) -> tuple[bool, bool, bool, float, str]:
        pinned = top = False
        for info in information[identifier]:
            pinned = pinned or info.requirement.pinned_version is not None
            top = top or info.parent is None
        return (identifier not in causes, *self.rank(identifier, pinned=pinned, top=top))

    def rank(self, identifier: str, *, pinned: bool, top: bool) -> tuple[bool, bool, float, str]:
        """The preference of ``identifier`` apart from backtrack causes: pins, then the user's requirements (by
        name), then the rest in the order dependencies first named them, breadth first as they were read.

        A project's own dependencies are thus decided before those of its dependencies. Deciding a later-named
        one first made a conflict between the earlier ones walk back through its releases (resolvelib undoes the
        most recent decision first), each one's metadata fetched for nothing. A dependency is named before it
        is ever ranked (:meth:`get_dependencies` runs first), so its rank never changes.
        """
        order = 0 if top else self._first_named.get(identifier, math.inf)
        return (not pinned, not top, order, identifier)

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Req]],
        incompatibilities: Mapping[str, Iterator[Candidate]],
    ) -> Callable[[], Iterator[Candidate]]:
        """Candidates for ``identifier``, best first; lazily, so later finders are asked only when needed."""
        if identifier == UNUSABLE:
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
            kinds: tuple[DistKind, ...] = ("wheel", "sdist") if self.sdists else ("wheel",)
            # The same mapping while the candidates are listed: a dependency read meanwhile may add to it.
            unusable = self.rules.unusable_files
            for kind in kinds:
                for tier in range(len(self.finders)):
                    for version, dist in self._acceptable(tier, name, reqs, kind=kind):
                        if version in seen or version in bad or (dist.location, dist.filename) in unusable:
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
        deps = self._dependencies_of(candidate)
        named = self._first_named
        for req in deps:
            named.setdefault(req.identifier, len(named))
        return deps

    def _dependencies_of(self, candidate: Candidate) -> list[Req]:
        if candidate.dist is None:
            return []
        found = self.dependencies(candidate.dist, candidate.extras, tier=candidate.tier)
        reason = self.rules.unusable_reason(candidate.dist)
        if reason is not None:
            return [Req(UNUSABLE, frozenset(), SpecifierSet(), f"{candidate.dist.filename}: {reason}")]
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

        Reading the metadata may rule the file out (``rules.unusable_reason``); it then brings nothing.
        """
        key = (dist.location, dist.filename, extras)
        if key in self._deps:
            return self._deps[key]
        meta: CoreMetadata | UnusableMetadata
        try:
            meta = self.finders[tier].metadata(dist)
        except UnusableMetadata as exc:
            meta = exc
        found = self.rules.requirements(dist, meta, extras)
        if found is None:
            # Another file of the same version (another tag or build) may still serve: choose the best again.
            self._acceptable_memo.clear()
            found = []
        self._deps[key] = found
        return found

    def digest(self, dist: DistFile, algorithm: str) -> str | None:
        """The hex digest of ``dist`` in ``algorithm`` (a :mod:`hashlib` name a requirement pins), or None when it
        cannot be known before the file is downloaded: an index file is known by the sha256 its index publishes,
        and by nothing else. A file on this machine (in the wheels folder, or a ``file:`` URL of a find-links
        folder) is read: its sha256 through the folder's cache (:meth:`Store.hashes`) when it is a wheel in the
        folder. Asked only for the candidates of a requirement that pins hashes.
        """
        if algorithm == "sha256" and dist.sha256:
            return dist.sha256
        key = (dist.location, algorithm)
        if key not in self._digests:
            self._digests[key] = self._compute_digest(dist, algorithm)
        return self._digests[key]

    def prime_digests(self, names: Iterable[NormalizedName]) -> None:
        """Learn the sha256 of every wheel of these projects in the wheels folders, through each folder's cache in
        one pass (the projects whose requirements pin hashes): asked one file at a time, each was a round trip of
        the whole manifest, quadratic in the folder's size."""
        by_root: dict[Path, list[DistFile]] = {}
        # The folders only: asking an index for its page here would fetch it ahead of the resolution, one by one.
        folders = [tier for tier, finder in enumerate(self.finders) if isinstance(finder, StoreFinder)]
        for name in names:
            for tier in folders:
                for dist in self.files(tier, name):
                    if dist.local and dist.kind == "wheel" and not dist.sha256:
                        by_root.setdefault(Path(dist.location).parent, []).append(dist)
        for root, dists in by_root.items():
            try:
                found = Store(root).hashes(sorted({d.filename for d in dists}))
            except OSError:
                continue  # each file is then asked for alone, and a failure named for it
            for dist in dists:
                self._digests[(dist.location, "sha256")] = found[dist.filename]

    def _compute_digest(self, dist: DistFile, algorithm: str) -> str | None:
        if dist.local:
            path = Path(dist.location)
            try:
                if algorithm == "sha256" and dist.kind == "wheel":
                    # Through the folder's cache: the next scan carries the hash, and no run reads the file again.
                    return Store(path.parent).hashes([dist.filename])[dist.filename]
                return file_digest(path, algorithm)
            except OSError as exc:
                raise StoreError(
                    f"cannot read {dist.filename} to check its hash: {exc.strerror or exc}; "
                    "was the folder changed meanwhile?",
                    hint="run the command again",
                ) from None
        if dist.location.lower().startswith("file:"):
            # Imported here: a resolution over the folder alone loads nothing of the index code.
            from wheelhouse.index.pages import file_url_path

            local = file_url_path(dist.location)
            try:
                return file_digest(local, algorithm)
            except OSError as exc:
                raise NetworkError(f"cannot read {local} to check its hash: {exc.strerror or exc}") from None
        return None

    def _acceptable(
        self, tier: int, name: NormalizedName, reqs: Sequence[Req], *, kind: DistKind = "wheel"
    ) -> Iterable[tuple[Version, DistFile]]:
        """(version, best file of ``kind``) pairs from one tier that meet every requirement, newest first; each
        release's files are looked at only when a reader gets that far."""
        if not self.remember_candidates:
            return self._compute_acceptable(tier, name, reqs, kind)
        key = (tier, name, kind, tuple(reqs))
        memo = self._acceptable_memo.get(key)
        if memo is None:
            memo = self._acceptable_memo[key] = Replay(self._compute_acceptable(tier, name, reqs, kind))
        return memo

    def _compute_acceptable(
        self, tier: int, name: NormalizedName, reqs: Sequence[Req], kind: DistKind
    ) -> Iterator[tuple[Version, DistFile]]:
        releases = self._releases.get((tier, name, kind))
        if releases is None:
            releases = self._releases[(tier, name, kind)] = by_release(self.files(tier, name), kind)
        versions, of = releases
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
        usable = self.rules.usable
        # Only these requirements make a file's digest matter: without them no file is hashed.
        hashed = [r for r in reqs if r.hashes]
        for version in allowed:  # newest first, as by_release lists them
            best: tuple[int, DistFile] | None = None
            for dist in of(version):
                if wanted_files and dist.filename not in wanted_files:
                    continue
                if dist.yanked is not None and version not in pinned:
                    continue  # PEP 592: yanked files are only for exact pins
                if not usable(dist):
                    continue
                if hashed and self.rules.hash_rejection(dist, hashed, self.digest) is not None:
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
                yield version, best[1]


def _contains(requirement: Req, version: Version) -> bool:
    """``requirement.specifier.contains(version, prereleases=True)``, each answer computed once."""
    memo = requirement.satisfied
    found = memo.get(version)
    if found is None:
        found = memo[version] = requirement.specifier.contains(version, prereleases=True)
    return found
