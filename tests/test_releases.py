"""A project's index files are built a release at a time: the resolver and the speculation read the newest
releases a requirement admits, and a long-lived project's other files are never parsed. Used as a sequence the
files are every file, as before; what a hostile or unreadable name deserves is said whether or not its release is
read; lists of candidates are computed only as far as they are read."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import pytest
from packaging.tags import parse_tag
from packaging.utils import NormalizedName
from packaging.version import Version

from tests.support.index_server import IndexServer
from tests.support.wheels import make_wheel
from wheelhouse import _log
from wheelhouse.dists import DistFile, InvalidDistFilename, parse_dist_filename, release_version, split_release
from wheelhouse.fetch.pools import PriorityPool
from wheelhouse.fetch.speculation import SpeculativeFinder
from wheelhouse.index.config import IndexConfig
from wheelhouse.index.finder import IndexFinder
from wheelhouse.index.http import IndexClient
from wheelhouse.releases import ReleaseFiles, Replay
from wheelhouse.requirements import Origin, parse_requirement_text
from wheelhouse.resolve.provider import Provider
from wheelhouse.resolve.vocabulary import Req
from wheelhouse.targets import parse_target

TARGET = parse_target("linux/amd64", python="3.11")


@pytest.fixture(autouse=True)
def _fresh_channel() -> Iterator[None]:
    # ``once`` messages are said once per process: each test starts with none said.
    _log.forget()
    yield
    _log.forget()


class _CountingFinder(IndexFinder):
    """An IndexFinder that counts the files it builds."""

    built = 0

    def _dist_file(self, *args: Any, **kwargs: Any) -> DistFile | None:
        type(self).built += 1
        return super()._dist_file(*args, **kwargs)


@pytest.fixture
def counting() -> type[_CountingFinder]:
    _CountingFinder.built = 0
    return _CountingFinder


def _many_releases(srv: IndexServer, name: str = "lib", count: int = 30) -> list[str]:
    names = []
    for n in range(1, count + 1):
        names.append(srv.add_wheel(name, f"{n}.0"))
        names.append(srv.add_sdist(name, f"{n}.0"))
    return names


def test_files_of_one_release_are_built_without_the_others(counting: type[_CountingFinder]) -> None:
    with IndexServer() as srv:
        listed = _many_releases(srv)
        with IndexClient(IndexConfig(index_url=srv.index_url)) as client:
            files = counting(client, [TARGET]).files(NormalizedName("lib"))
            assert isinstance(files, ReleaseFiles)
            assert counting.built == 0
            assert files.versions("wheel")[:2] == (Version("30.0"), Version("29.0"))
            assert len(files.versions("sdist")) == 30
            assert counting.built == 0
            (newest,) = files.of("wheel", Version("30.0"))
            assert newest.filename == "lib-30.0-py3-none-any.whl"
            assert counting.built == 1
            assert files.of("wheel", Version("30.0")) == (newest,)  # built once
            assert counting.built == 1
            # As a sequence: every file, in the order the page lists them, the built one among them.
            assert [d.filename for d in files] == client.project_listing(NormalizedName("lib")).filenames
            assert sorted(listed) == sorted(d.filename for d in files)
            assert newest in files
            assert counting.built == 60


def test_a_resolution_builds_only_the_releases_it_reads(counting: type[_CountingFinder]) -> None:
    with IndexServer() as srv:
        _many_releases(srv)
        with IndexClient(IndexConfig(index_url=srv.index_url)) as client:
            provider = Provider(TARGET, [counting(client, [TARGET])], sdists=True)
            req = Req.top_level(parse_requirement_text("lib>=2", Origin("requirements.txt", 1)))
            factory = provider.find_matches("lib", {"lib": iter([req])}, {"lib": iter([])})
            first = next(iter(factory()))
            assert (first.version, first.dist.kind if first.dist else None) == (Version("30.0"), "wheel")
            assert counting.built == 1
            # Reading further builds further, and a second reader replays what the first computed.
            assert [c.version for c in list(factory())[:3]] == [Version("30.0"), Version("29.0"), Version("28.0")]
            assert counting.built == 58  # the whole list was read: every wheel, then every sdist (but 1.0's)


def test_a_hostile_or_unreadable_name_is_said_at_once_whatever_its_release(
    counting: type[_CountingFinder], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="wheelhouse")
    _, junk = make_wheel("lib", "0.1")
    with IndexServer() as srv:
        _many_releases(srv, count=5)
        srv.add("lib-1.0-1\x07-py3-none-any.whl", junk, project="lib")  # an old release, a control character
        srv.add("other-1.0-py3-none-any.whl", junk, project="lib")  # another project's
        srv.add("lib-2004d.tar.gz", junk, project="lib")  # a version no installer reads
        with IndexClient(IndexConfig(index_url=srv.index_url)) as client:
            files = counting(client, [TARGET]).files(NormalizedName("lib"))
            assert isinstance(files, ReleaseFiles)
            said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            assert counting.built == 3  # those three, nothing else
            files.of("wheel", Version("5.0"))
    assert len(said) == 2
    assert "'lib-1.0-1\\x07-py3-none-any.whl'" in said[0]
    assert "control character" in said[0]
    assert "it belongs to other" in said[1]
    assert next(r.getMessage() for r in caplog.records if r.levelno == logging.INFO).startswith(
        "lib: passed over 1 listed file"
    )


def test_plain_says_no_for_a_yanked_or_pre_release_file_unbuilt() -> None:
    with IndexServer() as srv:
        _many_releases(srv, count=3)
        srv.add_wheel("yanks", "1.0")
        srv.add_wheel("yanks", "0.9", yanked="broken")
        srv.add_wheel("pre", "1.0")
        srv.add_wheel("pre", "2.0rc1")
        with IndexClient(IndexConfig(index_url=srv.index_url)) as client:
            finder = IndexFinder(client, [TARGET])
            plain = {name: finder.files(NormalizedName(name)) for name in ("lib", "yanks", "pre")}
            assert {name: files.plain() for name, files in plain.items()} == {  # type: ignore[attr-defined]
                "lib": True,
                "yanks": False,
                "pre": False,
            }
            built = {n: all(d.yanked is None and not d.version.is_prerelease for d in f) for n, f in plain.items()}
            assert built == {
                "lib": True,
                "yanks": False,
                "pre": False,
            }


def _dist(name: str, version: str, kind: str = "wheel") -> DistFile:
    filename = f"{name}-{version}-py3-none-any.whl" if kind == "wheel" else f"{name}-{version}.tar.gz"
    tags = frozenset(parse_tag("py3-none-any")) if kind == "wheel" else frozenset()
    return DistFile(filename, NormalizedName(name), Version(version), kind, tags, filename, False)  # type: ignore[arg-type]


def _release_files(dists: Sequence[DistFile], calls: list[Sequence[int]]) -> ReleaseFiles:
    pending: dict[Any, list[int]] = {}
    for i, dist in enumerate(dists):
        pending.setdefault((dist.kind, dist.version), []).append(i)

    def build(positions: Sequence[int]) -> list[tuple[int, DistFile]]:
        calls.append(tuple(positions))
        return [(i, dists[i]) for i in positions if dists[i].version != Version("3.0")]  # 3.0 builds to nothing

    return ReleaseFiles(pending, (), build, lambda i: False)


def test_a_release_that_builds_to_nothing_is_empty_and_the_newest_wheel_is_found_first() -> None:
    calls: list[Sequence[int]] = []
    dists = [_dist("a", "1.0"), _dist("a", "3.0"), _dist("a", "2.0", "sdist"), _dist("a", "2.0")]
    files = _release_files(dists, calls)
    assert files.of("wheel", Version("3.0")) == ()
    assert files.has_wheel()
    assert calls == [(1,), (3,)]  # 3.0 read first and empty, then 2.0's wheel: 1.0 never built
    assert bool(files)
    assert list(files) == [dists[0], dists[2], dists[3]]
    assert len(files) == 3
    assert files[0] == dists[0]
    assert not _release_files([_dist("a", "3.0")], []), "a project whose only file builds to nothing is empty"


def test_threads_asking_for_one_release_at_once_build_it_once() -> None:
    calls: list[Sequence[int]] = []
    barrier = threading.Barrier(8)
    files = _release_files([_dist("a", "1.0"), _dist("a", "1.0", "sdist")], calls)
    answers: list[tuple[DistFile, ...]] = []

    def ask() -> None:
        barrier.wait()
        answers.append(files.of("wheel", Version("1.0")))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [(0,)]
    assert len(answers) == 8
    assert len(set(answers)) == 1


def test_replay_computes_as_far_as_read_and_raises_a_failure_to_every_reader() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for n in range(3):
            produced.append(n)
            yield n
        raise OSError("gone")

    replay = Replay(source())
    assert next(iter(replay)) == 0
    assert produced == [0]
    reader = iter(replay)
    assert [next(reader), next(reader)] == [0, 1]
    assert produced == [0, 1]
    for _ in range(2):
        with pytest.raises(OSError, match="gone"):
            list(replay)
    assert produced == [0, 1, 2]
    assert list(Replay(iter([1, 2]))) == [1, 2]


@pytest.mark.parametrize(
    ("filename", "key"),
    [
        ("lib-1.0-py3-none-any.whl", ("wheel", "1.0")),
        ("Lib-1.0-1build-py3-none-any.whl", ("wheel", "1.0")),
        ("lib-1.0.tar.gz", ("sdist", "1.0")),
        ("LIB-2.0.zip", ("sdist", "2.0")),
        ("lib-1.0.tar.bz2", None),  # an old format: the full parse judges it
        ("other-1.0-py3-none-any.whl", None),
        ("lib-2004d.tar.gz", None),
        ("lib-extra-1.0.tar.gz", None),
        ("../lib-1.0.tar.gz", None),
        ("-1.0.tar.gz", None),
        ("lib.tar.gz", None),
    ],
)
def test_a_release_is_read_from_a_name_as_the_full_parse_reads_it(filename: str, key: tuple[str, str] | None) -> None:
    parts = split_release(filename)
    version = None if parts is None else release_version(*parts, NormalizedName("lib"))
    assert (None if parts is None or version is None else (parts[0], str(version))) == key
    if key is not None:
        name, parsed, kind, _, _ = parse_dist_filename(filename)
        assert (kind, parsed, name) == (key[0], Version(key[1]), "lib")


def test_a_wheel_name_grouped_under_a_release_that_does_not_parse_is_no_distribution() -> None:
    """A wheel name with too few parts splits like a good one; its release is read, and it builds to nothing."""
    parts = split_release("lib-1.0-py3-any.whl")
    assert parts is not None
    assert release_version(*parts, NormalizedName("lib")) == Version("1.0")
    with pytest.raises(InvalidDistFilename):
        parse_dist_filename("lib-1.0-py3-any.whl")


def test_speculation_never_picks_a_file_the_pinned_hashes_rule_out() -> None:
    with IndexServer() as srv:
        good = srv.add_wheel("lib", "1.0")
        srv.add_wheel("lib", "2.0")
        digest = hashlib.sha256(srv.file_bytes(good)).hexdigest()
        pool = PriorityPool(2, "test")
        try:
            with IndexClient(IndexConfig(index_url=srv.index_url)) as client:
                finder = IndexFinder(client, [TARGET])
                speculative = SpeculativeFinder(finder, TARGET, pool, threading.Event())
                line = replace(
                    parse_requirement_text("lib", Origin("requirements.txt", 1)), hashes=(f"sha256:{digest}",)
                )
                speculative.prefetch_requirements([], [line])
                files = finder.files(NormalizedName("lib"))
                likely = [d.filename for d in speculative._likely_for(NormalizedName("lib"), files, None)]
        finally:
            pool.shutdown(wait=True)
    assert likely == [good]
