"""The resolver, driven by data: folders, requirements and expected pins or gaps per target (tests/cases)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.wheels import write_wheel
from wheelhouse.requirements import load_requirements
from wheelhouse.resolve.resolver import explain_tags, format_chain, resolve
from wheelhouse.store.folder import Store, StoreFinder
from wheelhouse.targets import parse_target

CASES: list[dict[str, Any]] = json.loads((Path(__file__).parent / "cases" / "resolver.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_resolver_case(case: dict[str, Any], tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name, version, kwargs in case["wheels"]:
        write_wheel(wheels, name, version, **kwargs)
    req_file = tmp_path / "requirements.txt"
    req_file.write_text(case["requirements"] + "\n")
    constraints = []
    if "constraints" in case:
        (tmp_path / "constraints.txt").write_text(case["constraints"] + "\n")
        constraints = [tmp_path / "constraints.txt"]
    # Origins are shown as the user named the file: run from the case's directory.
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        reqs = load_requirements(["requirements.txt"], constraints=constraints)
        finder = StoreFinder(Store(wheels).scan())
        for target_name, expect in case["targets"].items():
            res = resolve(reqs, parse_target(target_name), [finder])
            assert res.target.name == target_name
            if "pins" in expect:
                assert {p.name: str(p.version) for p in res.pins} == expect["pins"], res.gaps
            if "files" in expect:
                for name, filename in expect["files"].items():
                    pin = res.pin(name)
                    assert pin is not None
                    assert pin.dist.filename == filename
            expected_gaps = expect.get("gaps", [])
            assert [g.project for g in res.gaps] == [g["project"] for g in expected_gaps]
            assert res.covered == (not expected_gaps)
            for gap, want in zip(res.gaps, expected_gaps, strict=True):
                if "kind" in want:
                    assert gap.kind == want["kind"], gap
                if "reason" in want:
                    reasons = " | ".join(r.reason for r in gap.rejected)
                    assert want["reason"] in reasons
                if "chains" in want:
                    assert sorted(format_chain(c) for c in gap.chains) == want["chains"]


def test_missing_gap_carries_full_chain(tmp_path: Path) -> None:
    wheels = tmp_path / "w"
    write_wheel(wheels, "flask", "3.0.0", requires_dist=["werkzeug>=3.0.0"])
    write_wheel(wheels, "werkzeug", "3.0.1", requires_dist=["markupsafe>=2.1.1"])
    (tmp_path / "requirements.txt").write_text("\n\nflask==3.0.0\n")
    reqs = load_requirements([tmp_path / "requirements.txt"])
    res = resolve(reqs, parse_target("linux/amd64", python="3.12"), [StoreFinder(Store(wheels).scan())])
    (gap,) = res.gaps
    assert gap.project == "markupsafe"
    assert gap.kind == "missing"
    chain = format_chain(gap.chains[0])
    assert chain.endswith("requirements.txt:3 flask==3.0.0 -> werkzeug>=3.0.0 -> markupsafe>=2.1.1")


def test_pins_carry_their_chains(tmp_path: Path) -> None:
    wheels = tmp_path / "w"
    write_wheel(wheels, "a", "1", requires_dist=["c"])
    write_wheel(wheels, "b", "1", requires_dist=["c>=1"])
    write_wheel(wheels, "c", "1")
    reqs = load_requirements([], ["a", "b"])
    res = resolve(reqs, parse_target("linux/amd64", python="3.12"), [StoreFinder(Store(wheels).scan())])
    pin = res.pin("c")
    assert pin is not None
    assert sorted(format_chain(c) for c in pin.chains) == ["command line a -> c", "command line b -> c>=1"]


class _CountingFinder:
    """A second tier that records whether it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def files(self, name: Any) -> list[Any]:
        self.asked.append(str(name))
        return []

    def metadata(self, dist: Any) -> Any:
        raise AssertionError("not expected")


def test_later_tier_is_not_consulted_when_the_first_covers(tmp_path: Path) -> None:
    wheels = tmp_path / "w"
    write_wheel(wheels, "a", "1", requires_dist=["b"])
    write_wheel(wheels, "b", "1")
    remote = _CountingFinder()
    reqs = load_requirements([], ["a"])
    res = resolve(reqs, parse_target("linux/amd64", python="3.12"), [StoreFinder(Store(wheels).scan()), remote])
    assert res.covered
    assert remote.asked == []


def test_explain_tags_other_os() -> None:
    from packaging.tags import parse_tag

    reason = explain_tags(parse_tag("cp312-cp312-win_amd64"), parse_target("linux/amd64", python="3.12"))
    assert "another operating system" in reason


def test_an_extra_is_held_to_the_constraints_on_its_project(tmp_path: Path) -> None:
    """``srv[std]>=1.0`` next to ``srv==1.0`` pins 1.0 straight away: no metadata read for newer releases.

    Each metadata read is a network round trip during a download; walking every newer release of a project
    pinned elsewhere made the real-index download several times slower (pip's factory narrows the same way).
    """
    wheels = tmp_path / "wheels"
    for minor in range(10):
        write_wheel(wheels, "srv", f"1.{minor}", requires_dist=[f'helper=={minor}.0; extra == "std"'])
        write_wheel(wheels, "helper", f"{minor}.0")
    write_wheel(wheels, "app", "1.0", requires_dist=["srv[std]>=1.0"])
    store_finder = StoreFinder(Store(wheels).scan())
    read: list[str] = []

    class Counting:
        def files(self, name: Any) -> Any:
            return store_finder.files(name)

        def metadata(self, dist: Any) -> Any:
            read.append(dist.filename)
            return store_finder.metadata(dist)

    req_file = tmp_path / "requirements.txt"
    req_file.write_text("app\nsrv==1.0\n")
    res = resolve(load_requirements([req_file]), parse_target("cp312-manylinux_2_28_x86_64"), [Counting()])
    assert res.covered, res.gaps
    assert {p.name: str(p.version) for p in res.pins} == {"app": "1.0", "srv": "1.0", "helper": "0.0"}
    assert {f for f in read if f.startswith("srv")} == {"srv-1.0-py3-none-any.whl"}
