"""Resolution in one pass, for the common case where resolvelib would never go back on a choice.

resolvelib re-examines every requirement of every project on every round (which project is still unsatisfied,
which to pin next) and copies its whole state before each pin so that it can backtrack. Both cost time
proportional to the number of projects per pin, so a requirement set of n projects costs n² time and n² memory:
a 10,000-line requirements file did not finish in reasonable time. When nothing conflicts, none of that is
needed: each project is pinned once, to the first candidate the provider offers, in the order resolvelib would
have chosen.

:func:`resolve_one_pass` makes exactly resolvelib's choices (the same provider, the same candidate lists, the
same order of pins, the same requirement information for the chains) and keeps only what the result needs. It
gives up, returning None, at the first sign that resolvelib would have done something else: a candidate list
that would be empty, a pin that a later requirement does not accept, a file ruled out by its own metadata (each
of these makes resolvelib reject or backtrack), more rounds than resolvelib is allowed. The caller then runs
resolvelib, from scratch, with a fresh provider: the answer is resolvelib's either way.

Contract: candidate lists are computed once per project, at the time it is pinned, which is the same list
resolvelib would iterate because, for a project whose files have no yanked or pre-release version and no
requirement naming a file, adding a requirement can only remove candidates (so a list that is not empty when
pinned was not empty before). For other projects every added requirement is checked as resolvelib checks it.
With several finders (tiers: the folder, then the index) that property is judged on the first tier's files,
which are at hand; a project pinned from a later tier is judged again on every tier's files (by then fetched),
and one pass gives up if they are not all plain. A source distribution as the first candidate gives up (its
metadata comes from a build, which resolvelib's path handles). A reporter sees only ``pinning``, called as
resolvelib calls it, when a candidate is accepted: there are no rounds, rejections or backtracking to report.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.utils import NormalizedName
from resolvelib.structs import RequirementInformation

from wheelhouse.dists import DistFile
from wheelhouse.releases import ReleaseFiles
from wheelhouse.resolve.provider import Provider, ResolveReporter
from wheelhouse.resolve.vocabulary import Candidate, Req, base_name

__all__ = ["OnePassResult", "resolve_one_pass"]


@dataclass
class _Criterion:
    """What is known about one identifier: the requirements on it, each with the candidate that brought it."""

    information: list[RequirementInformation[Req, Candidate]] = field(default_factory=list)
    pinned: bool = False  # some requirement is an exact == pin (the first thing the preference looks at)
    top: bool = False  # some requirement is the user's own
    # For ``name[extra]``: how many of plain ``name``'s requirements existed when this one last gained a
    # requirement (resolvelib computes an extras variant's candidates from the plain project's requirements
    # of that moment).
    plain_seen: int = 0
    # Some requirement names one file: candidates then depend on more than specifiers (checked on every add).
    names_file: bool = False


@dataclass(frozen=True)
class OnePassResult:
    """The parts of resolvelib's result that :func:`wheelhouse.resolve.resolver._resolution` reads."""

    mapping: Mapping[str, Candidate]
    criteria: Mapping[str, _Criterion]


class _GiveUp(Exception):
    """resolvelib would have rejected a candidate or backtracked here: let it resolve."""


def resolve_one_pass(
    provider: Provider, roots: Sequence[Req], max_rounds: int, reporter: ResolveReporter | None = None
) -> OnePassResult | None:
    """resolvelib's result for ``roots`` when it would never reject a candidate, else None."""
    provider.remember_candidates = False
    try:
        return _OnePass(provider, max_rounds, reporter).run(roots)
    except _GiveUp:
        return None
    finally:
        provider.remember_candidates = True


class _OnePass:
    def __init__(self, provider: Provider, max_rounds: int, reporter: ResolveReporter | None) -> None:
        self.provider = provider
        self.max_rounds = max_rounds
        self.reporter = reporter
        self.criteria: dict[str, _Criterion] = {}
        self.mapping: dict[str, Candidate] = {}
        # (preference, identifier) of unpinned identifiers; an entry is stale once its identifier is pinned or
        # its preference improved (a newer entry then sorts first).
        self.heap: list[tuple[tuple[bool, bool, bool, float, str], str]] = []
        self._plain: dict[NormalizedName, bool] = {}
        self._unusable_seen = len(provider.rules.unusable_files)

    def run(self, roots: Sequence[Req]) -> OnePassResult:
        for req in roots:
            self.add(req, None)
        # resolvelib's first round is spent on adding the roots; every later round pins one identifier, and a
        # final round finds nothing left.
        rounds = 0
        while self.heap:
            key, identifier = heapq.heappop(self.heap)
            criterion = self.criteria[identifier]
            if identifier in self.mapping or key != self.preference(identifier, criterion):
                continue
            rounds += 1
            if rounds >= self.max_rounds:
                raise _GiveUp
            self.pin(identifier, criterion)
        return OnePassResult(self.mapping, self.criteria)

    def preference(self, identifier: str, criterion: _Criterion) -> tuple[bool, bool, bool, float, str]:
        # Provider.get_preference with no backtrack causes (there are none before the first backtrack).
        return (True, *self.provider.rank(identifier, pinned=criterion.pinned, top=criterion.top))

    def add(self, req: Req, parent: Candidate | None) -> None:
        """resolvelib's ``_add_to_criteria``: record ``req`` and check it leaves some candidate."""
        identifier = req.identifier
        criterion = self.criteria.get(identifier)
        fresh = criterion is None
        if criterion is None:
            criterion = self.criteria[identifier] = _Criterion()
        before = (criterion.pinned, criterion.top)
        criterion.information.append(RequirementInformation(req, parent))
        criterion.pinned = criterion.pinned or req.pinned_version is not None
        criterion.top = criterion.top or parent is None
        criterion.names_file = criterion.names_file or req.wheel_file is not None
        if req.extras:
            plain = self.criteria.get(req.name)
            criterion.plain_seen = len(plain.information) if plain is not None else 0
        checked = criterion.names_file or not self.plain(req.name)
        pin = self.mapping.get(identifier)
        if pin is not None:
            # A pinned project stays pinned while it meets every new requirement (resolvelib would otherwise
            # choose it again, which is not one pass).
            if not self.provider.is_satisfied_by(req, pin):
                raise _GiveUp
            if checked:
                self.first_candidate(identifier, criterion)
            return
        if checked:
            self.first_candidate(identifier, criterion)
        if fresh or before != (criterion.pinned, criterion.top):
            heapq.heappush(self.heap, (self.preference(identifier, criterion), identifier))

    def pin(self, identifier: str, criterion: _Criterion) -> None:
        """resolvelib's ``_attempt_to_pin_criterion`` when its first candidate is accepted."""
        candidate = self.first_candidate(identifier, criterion)
        if candidate.dist is not None and candidate.dist.kind == "sdist":
            raise _GiveUp
        if candidate.tier and not criterion.names_file and not self.plain_everywhere(candidate.name):
            # Its earlier requirements were not checked one by one: sound only if no tier can grow its list.
            raise _GiveUp
        dependencies = self.provider.get_dependencies(candidate)
        if len(self.provider.rules.unusable_files) != self._unusable_seen or any(r.unusable for r in dependencies):
            # The candidate's own metadata ruled it out: resolvelib tries the next one.
            raise _GiveUp
        self.mapping[identifier] = candidate
        if self.reporter is not None:
            self.reporter.pinning(candidate)
        for req in dependencies:
            self.add(req, candidate)

    def first_candidate(self, identifier: str, criterion: _Criterion) -> Candidate:
        """The first candidate resolvelib's criterion would offer; giving up when it would offer none."""
        name = base_name(identifier)
        requirements: dict[str, list[Req]] = {identifier: [i.requirement for i in criterion.information]}
        if identifier != name:
            plain = self.criteria.get(name)
            if plain is not None:
                requirements[name] = [i.requirement for i in plain.information[: criterion.plain_seen]]
        factory = self.provider.find_matches(identifier, _Lists(requirements), _Lists({identifier: []}))
        found = next(iter(factory()), None)
        if found is None:
            raise _GiveUp
        return found

    def plain(self, name: NormalizedName) -> bool:
        """Whether adding a specifier can only remove candidates of ``name`` from the first tier (see the
        module's contract); a requirement naming a file is checked apart (``_Criterion.names_file``)."""
        known = self._plain.get(name)
        if known is None:
            known = self._plain_files(self.provider.files(0, name))
            known = known and not any(c.wheel_file for c in self.provider.constraints.get(name, ()))
            self._plain[name] = known
        return known

    def plain_everywhere(self, name: NormalizedName) -> bool:
        """:meth:`plain` over the files of every tier."""
        return self.plain(name) and all(
            self._plain_files(self.provider.files(tier, name)) for tier in range(1, len(self.provider.finders))
        )

    @staticmethod
    def _plain_files(files: Sequence[DistFile]) -> bool:
        if isinstance(files, ReleaseFiles):
            return files.plain()  # without building every release
        return all(d.yanked is None and not d.version.is_prerelease for d in files)


class _Lists(Mapping[str, Iterator[Any]]):
    """The mapping of iterators find_matches receives from resolvelib, over plain lists."""

    def __init__(self, lists: dict[str, list[Any]]) -> None:
        self._lists = lists

    def __getitem__(self, key: str) -> Iterator[Any]:
        return iter(self._lists[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._lists)

    def __len__(self) -> int:
        return len(self._lists)

    def __contains__(self, key: object) -> bool:
        return key in self._lists
