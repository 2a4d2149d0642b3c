"""Resolution and its report stay proportional to the size of the requirement set.

Nothing here is timed: each test counts the work done (candidate lists built, pins checked against
requirements, chain links made, resolvelib runs), which grew with the square of the number of projects when
every project was re-examined on every round, and compares the one-pass answer with resolvelib's own.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from tests.support.wheels import write_wheel
from wheelhouse.requirements import RequirementSet, load_requirements
from wheelhouse.resolve import onepass as onepass_module
from wheelhouse.resolve import resolver as resolver_module
from wheelhouse.resolve.provider import Provider
from wheelhouse.resolve.resolver import Resolution, resolve
from wheelhouse.store.folder import Store, StoreFinder
from wheelhouse.targets import Target, parse_target

TARGET = "cp312-manylinux_2_28_x86_64"


def _line(tmp_path: Path, count: int) -> tuple[RequirementSet, StoreFinder]:
    """``count`` projects, each depending on the one before, every one pinned with == at the top level.

    ``p-000`` is needed by every other project, through chains up to ``count`` long, and is pinned first: its
    chains are asked for before those of any project they pass through.
    """
    wheels = tmp_path / "wheels"
    for i in range(count):
        deps = [f"p-{i - 1:03d}>=1.0"] if i else []
        write_wheel(wheels, f"p-{i:03d}", "1.0", requires_dist=deps)
    req = tmp_path / "requirements.txt"
    req.write_text("".join(f"p-{i:03d}==1.0\n" for i in range(count)))
    return load_requirements([req]), StoreFinder(Store(wheels).scan())


def _count(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """Count calls of ``owner.name`` (the list's only item)."""
    calls = [0]
    original = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def _summary(resolution: Resolution) -> list[tuple[str, str, str, list[str], list[list[str]]]]:
    return [
        (p.name, str(p.version), p.dist.filename, sorted(p.extras), [[str(link) for link in c] for c in p.chains])
        for p in resolution.pins
    ]


def test_conflict_free_set_is_resolved_without_rounds_over_every_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = 150
    reqs, finder = _line(tmp_path, count)

    def no_resolvelib(*args: object, **kwargs: object) -> None:
        raise AssertionError("resolvelib ran for a set without conflicts")

    monkeypatch.setattr(resolver_module, "Resolver", no_resolvelib)
    matches = _count(monkeypatch, Provider, "find_matches")
    checks = _count(monkeypatch, Provider, "is_satisfied_by")
    resolution = resolve(reqs, parse_target(TARGET), [finder])
    assert resolution.covered
    assert len(resolution.pins) == count
    # One candidate list per project, and one check per requirement met by a project already pinned (here each
    # dependency): resolvelib made one list per requirement and checked every pin on every round.
    assert matches[0] == count
    assert checks[0] <= count


def test_chains_are_built_once_per_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    count = 150
    reqs, finder = _line(tmp_path, count)
    links = _count(monkeypatch, resolver_module, "ChainLink")
    resolution = resolve(reqs, parse_target(TARGET), [finder])
    # A covered resolution's chains are built only when asked for: verify never shows them.
    assert links[0] == 0
    first = resolution.pin("p-000")
    assert first is not None
    assert len(first.chains) == 50
    assert all(p.chains for p in resolution.pins)
    # At most 50 chains per project, each extending one chain of a dependent by one link, built once: rebuilding
    # the chains of every dependent for each project made this grow with the square of the set.
    assert links[0] <= 52 * count


def _random_folder(root: Path, seed: int) -> tuple[RequirementSet, StoreFinder]:
    """A random set of projects with several versions, extras, markers and bounds (some of which conflict)."""
    rng = random.Random(seed)
    wheels = root / "wheels"
    count = 60
    versions = {i: [f"{major}.0" for major in range(1, rng.randint(2, 4))] for i in range(count)}
    for i in range(count):
        for version in versions[i]:
            deps = []
            for j in sorted({rng.randrange(i) for _ in range(rng.randint(0, 3))} if i else ()):
                top = len(versions[j])
                # Mostly open bounds, as real metadata has: an upper bound or a pin now and then, which can
                # conflict with a choice already made (then resolvelib backtracks and one pass gives up).
                roll = rng.random()
                spec = "" if roll < 0.4 else ">=1.0" if roll < 0.88 else f"<{rng.randint(2, top + 1)}.0"
                spec = f"=={rng.randint(1, top)}.0" if roll > 0.97 else spec
                extra = "[fast]" if j % 7 == 0 and rng.random() < 0.5 else ""
                marker = rng.choice(("", "", "", ' ; sys_platform == "win32"', ' ; python_version >= "3.8"'))
                # Now and then a project no file serves: a gap, which the lenient pass explains.
                name = f"gone-{j:02d}" if rng.random() < 0.01 else f"q-{j:02d}"
                deps.append(f"{name}{extra}{spec}{marker}")
            extras: tuple[str, ...] = ()
            if i % 7 == 0 and i:
                deps.append(f"q-{rng.randrange(i):02d} ; extra == 'fast'")
                extras = ("fast",)
            write_wheel(wheels, f"q-{i:02d}", version, requires_dist=deps, extras=extras)
    req = root / "requirements.txt"
    lines = [f"q-{i:02d}{rng.choice(('', '>=1.0', '<3.0'))}" for i in rng.sample(range(count), 20)]
    req.write_text("\n".join(lines) + "\n")
    return load_requirements([req]), StoreFinder(Store(wheels).scan())


@pytest.mark.parametrize("seed", range(1, 21))
def test_one_pass_gives_resolvelib_s_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    reqs, finder = _random_folder(tmp_path, seed)
    target: Target = parse_target(TARGET)
    quick = resolve(reqs, target, [finder])
    with monkeypatch.context() as patched:
        patched.setattr(resolver_module, "resolve_one_pass", lambda *args: None)
        reference = resolve(reqs, target, [finder])
    assert _summary(quick) == _summary(reference)
    assert [(g.kind, g.project, g.chains) for g in quick.gaps] == [
        (g.kind, g.project, g.chains) for g in reference.gaps
    ]


def test_gaps_of_a_conflict_free_set_are_found_in_one_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    count = 40
    reqs, finder = _line(tmp_path, count)
    req = tmp_path / "requirements.txt"
    req.write_text(req.read_text() + "absent==1.0\n")
    reqs = load_requirements([req])
    target = parse_target(TARGET)
    with monkeypatch.context() as patched:
        patched.setattr(resolver_module, "resolve_one_pass", lambda *args: None)
        reference = resolve(reqs, target, [finder])
    runs = _count(monkeypatch, resolver_module, "Resolver")
    resolution = resolve(reqs, target, [finder])
    # The strict pass stops at the first requirement nothing serves; the lenient pass that finds every gap is
    # the one pass.
    assert runs[0] == 1
    assert [g.project for g in resolution.gaps] == ["absent"]
    assert _summary(resolution) == _summary(reference)
    assert [(g.kind, g.chains) for g in resolution.gaps] == [(g.kind, g.chains) for g in reference.gaps]


def _newer_tier(root: Path, seed: int) -> StoreFinder:
    """A second tier (the index's role): newer releases and pre-releases of some projects and the projects the
    folder lacks."""
    rng = random.Random(seed * 7919)
    wheels = root / "index"
    for i in range(60):
        if rng.random() < 0.3:
            version = rng.choice(("9.0", "9.0", "9.0rc1"))
            write_wheel(wheels, f"q-{i:02d}", version, requires_dist=[f"q-{rng.randrange(i):02d}"] if i else [])
    for j in range(60):
        write_wheel(wheels, f"gone-{j:02d}", "1.0")
    return StoreFinder(Store(wheels).scan())


@pytest.mark.parametrize("seed", range(1, 21))
def test_one_pass_over_two_tiers_gives_resolvelib_s_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """Download resolves over the folder then the index: one pass over both tiers gives resolvelib's answer."""
    reqs, folder = _random_folder(tmp_path, seed)
    index = _newer_tier(tmp_path, seed)
    target: Target = parse_target(TARGET)
    quick = resolve(reqs, target, [folder, index])
    with monkeypatch.context() as patched:
        patched.setattr(resolver_module, "resolve_one_pass", lambda *args: None)
        reference = resolve(reqs, target, [folder, index])
    assert _summary(quick) == _summary(reference)
    assert [(g.kind, g.project, g.chains) for g in quick.gaps] == [
        (g.kind, g.project, g.chains) for g in reference.gaps
    ]


def test_a_covered_set_over_two_tiers_runs_no_resolvelib_and_asks_nothing_of_the_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = 150
    reqs, folder = _line(tmp_path, count)
    asked: list[str] = []

    class Index:
        def files(self, name: Any) -> list[Any]:
            asked.append(str(name))
            return []

        def metadata(self, dist: Any) -> Any:
            raise AssertionError("the index was asked for metadata")

    runs = _count(monkeypatch, resolver_module, "Resolver")
    resolution = resolve(reqs, parse_target(TARGET), [folder, Index()], sdists=True)
    assert resolution.covered
    assert len(resolution.pins) == count
    assert runs[0] == 0
    assert asked == []


def test_a_folder_that_lacks_a_project_is_resolved_over_every_tier(tmp_path: Path) -> None:
    _, folder = _line(tmp_path, 5)
    req = tmp_path / "requirements.txt"
    req.write_text(req.read_text() + "extra-project\n")
    write_wheel(tmp_path / "index", "extra-project", "2.0", requires_dist=["p-000"])
    index = StoreFinder(Store(tmp_path / "index").scan())
    resolution = resolve(load_requirements([req]), parse_target(TARGET), [folder, index])
    assert resolution.covered
    pin = resolution.pin("extra-project")
    assert pin is not None
    assert str(pin.version) == "2.0"


def test_one_pass_leaves_to_resolvelib_a_project_whose_later_tier_has_a_pre_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pre-release can join a project's candidates when a later requirement names it, so the requirements
    added before its pin were not all checked: for a project pinned from the index with such files, one pass
    gives up and resolvelib answers."""
    _, folder = _line(tmp_path, 3)
    write_wheel(tmp_path / "index", "late", "1.0")
    write_wheel(tmp_path / "index", "late", "2.0rc1")
    index = StoreFinder(Store(tmp_path / "index").scan())
    req = tmp_path / "requirements.txt"
    req.write_text(req.read_text() + "late\n")
    answers: list[object] = []
    original = onepass_module.resolve_one_pass

    def spy(*args: Any) -> Any:
        answers.append(original(*args))
        return answers[-1]

    monkeypatch.setattr(resolver_module, "resolve_one_pass", spy)
    resolution = resolve(load_requirements([req]), parse_target(TARGET), [folder, index])
    assert answers == [None]
    pin = resolution.pin("late")
    assert pin is not None
    assert str(pin.version) == "1.0"
