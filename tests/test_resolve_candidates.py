"""Which candidates the resolver accepts: what a file's own metadata reveals (Requires-Python, another name or
version) makes it pass over the file and try the next, and every sdist format pip accepts is a candidate."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from wheelhouse.dists import (
    SDIST_SUFFIXES,
    CoreMetadata,
    DistFile,
    InvalidDistFilename,
    parse_dist_filename,
)
from wheelhouse.requirements import load_requirements
from wheelhouse.resolve.resolver import resolve
from wheelhouse.targets import parse_target

PY312 = parse_target("linux/amd64", python="3.12")


class MemoryFinder:
    """A finder over files listed in memory, each with the metadata its file would hold.

    Like a ``--find-links`` folder, it knows no Requires-Python before the metadata is read.
    """

    def __init__(self, files: dict[str, CoreMetadata]) -> None:
        self.meta = files
        self.read: list[str] = []

    def files(self, name: NormalizedName) -> Sequence[DistFile]:
        out = []
        for filename in self.meta:
            project, version, kind, tags, build = parse_dist_filename(filename)
            if project == name:
                out.append(DistFile(filename, project, version, kind, tags, f"/links/{filename}", False, build))
        return out

    def metadata(self, dist: DistFile) -> CoreMetadata:
        self.read.append(dist.filename)
        return self.meta[dist.filename]


def meta(name: str, version: str, *, requires_python: str | None = None, deps: Sequence[str] = ()) -> CoreMetadata:
    return CoreMetadata(name, version, tuple(deps), requires_python)


def test_requires_python_known_only_from_metadata_makes_the_resolver_take_the_next_release() -> None:
    finder = MemoryFinder(
        {
            "lib-1.0-py3-none-any.whl": meta("lib", "1.0"),
            "lib-2.0-py3-none-any.whl": meta("lib", "2.0", requires_python=">=3.13"),
        }
    )
    res = resolve(load_requirements([], ["lib"]), PY312, [finder])
    assert res.covered, res.gaps
    pin = res.pin("lib")
    assert pin is not None
    assert pin.dist.filename == "lib-1.0-py3-none-any.whl"


def test_a_dependency_whose_newest_release_needs_a_newer_python_backtracks_to_an_older_one() -> None:
    finder = MemoryFinder(
        {
            "app-1.0-py3-none-any.whl": meta("app", "1.0", deps=["lib>=1"]),
            "lib-1.0-py3-none-any.whl": meta("lib", "1.0"),
            "lib-2.0-py3-none-any.whl": meta("lib", "2.0", requires_python=">=3.13"),
        }
    )
    res = resolve(load_requirements([], ["app"]), PY312, [finder])
    assert res.covered, res.gaps
    assert {p.name: str(p.version) for p in res.pins} == {"app": "1.0", "lib": "1.0"}


def test_when_every_release_needs_a_newer_python_the_gap_says_so() -> None:
    finder = MemoryFinder({"lib-2.0-py3-none-any.whl": meta("lib", "2.0", requires_python=">=3.13")})
    res = resolve(load_requirements([], ["lib"]), PY312, [finder])
    (gap,) = res.gaps
    assert gap.project == "lib"
    (rejected,) = gap.rejected
    assert rejected.filename == "lib-2.0-py3-none-any.whl"
    assert rejected.reason == f"requires Python >=3.13, target has {PY312.python_full_version}"
    assert "requires Python >=3.13" in gap.summary


@pytest.mark.parametrize(
    ("name", "version"),
    [("other", "2.0"), ("lib", "2.1")],
    ids=["another project", "another version"],
)
def test_a_file_whose_metadata_names_another_release_is_passed_over(name: str, version: str) -> None:
    finder = MemoryFinder(
        {
            "lib-1.0-py3-none-any.whl": meta("lib", "1.0"),
            "lib-2.0-py3-none-any.whl": meta(name, version, deps=["helper"]),
            "helper-1.0-py3-none-any.whl": meta("helper", "1.0"),
        }
    )
    res = resolve(load_requirements([], ["lib"]), PY312, [finder])
    assert res.covered, res.gaps
    pin = res.pin("lib")
    assert pin is not None
    assert str(pin.version) == "1.0"
    # The bad file's dependencies were never followed.
    assert res.pin("helper") is None


def test_a_file_whose_metadata_names_another_release_is_explained_in_the_gap() -> None:
    finder = MemoryFinder({"lib-2.0-py3-none-any.whl": meta("other", "2.0")})
    res = resolve(load_requirements([], ["lib"]), PY312, [finder])
    (gap,) = res.gaps
    (rejected,) = gap.rejected
    assert rejected.filename == "lib-2.0-py3-none-any.whl"
    assert "other 2.0" in rejected.reason


@pytest.mark.parametrize("suffix", SDIST_SUFFIXES)
def test_every_sdist_format_pip_accepts_is_parsed(suffix: str) -> None:
    name, version, kind, tags, build = parse_dist_filename(f"guess_language-spirit-0.5.3{suffix}")
    assert (name, version, kind, tags, build) == (
        canonicalize_name("guess-language-spirit"),
        Version("0.5.3"),
        "sdist",
        frozenset(),
        (),
    )


@pytest.mark.parametrize("filename", ["lib-1.0.tar.lz", "lib-1.0.rar", "lib-1.0.TAR.GZ", "lib-1.0.egg"])
def test_other_archives_are_not_sdists(filename: str) -> None:
    with pytest.raises(InvalidDistFilename):
        parse_dist_filename(filename)


def test_a_legacy_sdist_is_a_candidate_like_any_other() -> None:
    finder = MemoryFinder({"lib-1.0.tar.bz2": meta("lib", "1.0")})
    reqs = load_requirements([], ["lib"])
    built = resolve(reqs, PY312, [finder], sdists=True)
    pin = built.pin("lib")
    assert pin is not None
    assert pin.dist.filename == "lib-1.0.tar.bz2"
    (gap,) = resolve(reqs, PY312, [finder]).gaps
    assert gap.kind == "sdist-only"


def test_among_sdists_of_one_version_the_pep_625_format_is_preferred() -> None:
    finder = MemoryFinder({f"lib-1.0{s}": meta("lib", "1.0") for s in reversed(SDIST_SUFFIXES)})
    pin = resolve(load_requirements([], ["lib"]), PY312, [finder], sdists=True).pin("lib")
    assert pin is not None
    assert pin.dist.filename == "lib-1.0.tar.gz"


def test_an_index_file_whose_metadata_names_another_project_is_passed_over(caplog: pytest.LogCaptureFixture) -> None:
    """The index finder refuses the metadata (MetadataMismatch); the resolver takes the next release instead of
    ending the run, and says once which file it passed over."""
    from tests.support.index_server import IndexServer
    from tests.support.wheels import make_wheel
    from wheelhouse.index.config import IndexConfig
    from wheelhouse.index.finder import IndexFinder
    from wheelhouse.index.http import IndexClient

    with IndexServer() as srv:
        srv.add_wheel("demo", "1.0")
        _, impostor = make_wheel("evil", "6.6.6")
        srv.add("demo-2.0-py3-none-any.whl", impostor)
        config = IndexConfig(index_url=srv.index_url, retries=0, timeout=5)
        with IndexClient(config) as client, caplog.at_level(logging.WARNING, logger="wheelhouse"):
            res = resolve(load_requirements([], ["demo"]), PY312, [IndexFinder(client)])
    pin = res.pin("demo")
    assert pin is not None
    assert str(pin.version) == "1.0"
    said = [r.getMessage() for r in caplog.records if "demo-2.0-py3-none-any.whl" in r.getMessage()]
    assert len(said) == 1
    assert "says evil 6.6.6, not demo 2.0" in said[0]


def test_a_conflict_between_a_projects_dependencies_never_walks_through_the_releases_of_a_later_named_one() -> None:
    """The dependencies a project names are decided in the order they were named, breadth first.

    ``cli`` 2.0 needs ``typer>=2``, whose release needs ``click>=2`` against the top-level pin ``click==1.0``: the
    resolver must go back to ``cli`` 1.0. ``toolkit`` (named by ``cli`` after ``typer``, and alphabetically before
    it) has nothing to do with the conflict. Decided before ``typer``, it was the most recent decision when the
    conflict showed, and the resolver tried each of its older releases, reading their metadata, in vain.
    """
    files = {
        "app-1.0-py3-none-any.whl": meta("app", "1.0", deps=["cli"]),
        "cli-1.0-py3-none-any.whl": meta("cli", "1.0", deps=["typer>=1", "toolkit"]),
        "cli-2.0-py3-none-any.whl": meta("cli", "2.0", deps=["typer>=2", "toolkit"]),
        "typer-1.0-py3-none-any.whl": meta("typer", "1.0", deps=["click>=1"]),
        "typer-2.0-py3-none-any.whl": meta("typer", "2.0", deps=["click>=2"]),
        "click-1.0-py3-none-any.whl": meta("click", "1.0"),
        "click-2.0-py3-none-any.whl": meta("click", "2.0"),
    }
    files.update({f"toolkit-{n}.0-py3-none-any.whl": meta("toolkit", f"{n}.0") for n in range(1, 6)})
    finder = MemoryFinder(files)
    res = resolve(load_requirements([], ["app", "click==1.0"]), PY312, [finder])
    assert res.covered, res.gaps
    assert {p.name: str(p.version) for p in res.pins} == {
        "app": "1.0",
        "cli": "1.0",
        "typer": "1.0",
        "click": "1.0",
        "toolkit": "5.0",
    }
    assert [f for f in finder.read if f.startswith("toolkit-")] == ["toolkit-5.0-py3-none-any.whl"]


def test_a_listed_file_made_the_fast_way_equals_the_one_the_constructor_makes() -> None:
    import dataclasses

    from packaging.tags import parse_tag

    fields = {
        "filename": "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        "name": canonicalize_name("demo"),
        "version": Version("1.0"),
        "kind": "wheel",
        "tags": frozenset(parse_tag("cp312-cp312-manylinux_2_17_x86_64")),
        "location": "https://files.example/demo.whl",
    }
    extra = {"build": (1, "b"), "requires_python": ">=3.9", "yanked": "broken", "sha256": "ab" * 32, "size": 5}
    fast = DistFile.remote(**fields, **extra)  # type: ignore[arg-type]
    made = DistFile(**fields, local=False, **extra)  # type: ignore[arg-type]
    assert fast == made
    assert hash(fast) == hash(made)
    assert set(vars(fast)) == {f.name for f in dataclasses.fields(DistFile)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.size = 6  # type: ignore[misc]
