"""What makes a cold download from a real index fast, checked against the local index's request log.

Speculation asks for what the resolver will need before it asks (the pages a requirement's extras bring in too),
looks ahead further the deeper the resolver backtracks through a project's releases and not at all when it only
replays a pin, and no request is ever made twice. Timings are the benchmark's business (bench/network.py); these
tests pin the behaviour that the timings rest on.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.tags import parse_tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from tests.conftest import Cli
from tests.support.index_server import Fault, IndexServer
from tests.support.modules import modules_in, run_listing_modules
from wheelhouse.dists import CoreMetadata, DistFile
from wheelhouse.errors import NetworkError
from wheelhouse.fetch.pools import PriorityPool
from wheelhouse.fetch.speculation import PinReporter, SpeculativeFinder
from wheelhouse.fetch.transfers import Transfers
from wheelhouse.index.config import IndexConfig
from wheelhouse.index.finder import IndexFinder
from wheelhouse.index.http import IndexClient
from wheelhouse.index.pages import Listing, RemoteFile
from wheelhouse.requirements import Origin, RequirementLine, parse_requirement_text
from wheelhouse.store.folder import Store
from wheelhouse.targets import parse_target

TARGET = parse_target("linux/amd64", python="3.12")


def line(text: str) -> RequirementLine:
    return parse_requirement_text(text, Origin(None, None))


@pytest.fixture
def extras_index(index_server: IndexServer) -> IndexServer:
    index_server.add_wheel("app", "1.0", requires_dist=["base>=1", 'fast-dep; extra == "fast"'])
    index_server.add_wheel("base", "1.0")
    index_server.add_wheel("fast-dep", "1.0")
    return index_server


@pytest.fixture
def speculating(extras_index: IndexServer) -> Iterator[tuple[SpeculativeFinder, PriorityPool]]:
    pool = PriorityPool(4, "test")
    with IndexClient(IndexConfig(index_url=extras_index.index_url)) as client:
        try:
            yield SpeculativeFinder(IndexFinder(client, [TARGET]), TARGET, pool, threading.Event()), pool
        finally:
            pool.shutdown(wait=True)


def pages(srv: IndexServer) -> set[str]:
    return {r.route for r in srv.requests.snapshot() if r.route.startswith("/simple/")}


def test_the_pages_an_extra_brings_in_are_fetched_before_the_resolver_asks(
    extras_index: IndexServer, speculating: tuple[SpeculativeFinder, PriorityPool]
) -> None:
    speculative, pool = speculating
    speculative.prefetch_requirements([line("app[fast]")])
    pool.join()  # every speculative task, and those they queued, has run; the resolver asked for nothing
    assert pages(extras_index) == {"/simple/app/", "/simple/base/", "/simple/fast-dep/"}


def test_without_the_extra_its_dependencies_cost_no_request(
    extras_index: IndexServer, speculating: tuple[SpeculativeFinder, PriorityPool]
) -> None:
    speculative, pool = speculating
    speculative.prefetch_requirements([line("app")])
    pool.join()
    assert pages(extras_index) == {"/simple/app/", "/simple/base/"}


def test_an_extra_learnt_after_the_metadata_was_read_is_followed_then(
    extras_index: IndexServer, speculating: tuple[SpeculativeFinder, PriorityPool]
) -> None:
    """``app`` is read first; later a dependency asks for ``app[fast]``: its extra's pages follow at once."""
    speculative, pool = speculating
    speculative.prefetch_requirements([line("app")])
    pool.join()
    assert "/simple/fast-dep/" not in pages(extras_index)
    speculative.prefetch([(canonicalize_name("app"), line("app").requirement.specifier, frozenset({"fast"}))])
    pool.join()
    assert "/simple/fast-dep/" in pages(extras_index)
    assert len(extras_index.requests.to("/simple/app/")) == 1


def _wheel(name: str, version: str) -> DistFile:
    filename = f"{name}-{version}-py3-none-any.whl"
    tags = frozenset(parse_tag("py3-none-any"))
    return DistFile(filename, NormalizedName(name), Version(version), "wheel", tags, filename, False)


class _Releases:
    """A finder with 40 releases of ``a`` and of ``b``, recording whose metadata is asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self._lock = threading.Lock()

    def files(self, name: str) -> list[DistFile]:
        return [_wheel(name, f"{n}.0") for n in range(1, 41)]

    def metadata(self, dist: DistFile) -> CoreMetadata:
        with self._lock:
            self.asked.append(f"{dist.name} {dist.version}")
        return CoreMetadata(dist.name, str(dist.version))


def test_look_ahead_grows_with_each_rejection_of_a_project() -> None:
    """Two releases at a project's first rejection (most are passing), then eight, then 32: a deep backtrack
    reaches its release in a few rounds without every passing rejection paying for eight."""
    finder = _Releases()
    pool = PriorityPool(4, "test")
    try:
        speculative = SpeculativeFinder(finder, TARGET, pool, threading.Event())  # type: ignore[arg-type]
        seen: list[set[str]] = []
        for rejected in ("40.0", "39.0", "38.0"):
            speculative.prefetch_older(_wheel("a", rejected))
            pool.join()
            seen.append(set(finder.asked))
        speculative.prefetch_older(_wheel("b", "40.0"))
        pool.join()
    finally:
        pool.shutdown(wait=True)
    assert seen[0] == {"a 39.0", "a 38.0"}
    assert seen[1] == {f"a {n}.0" for n in range(31, 40)}
    assert seen[2] == {f"a {n}.0" for n in range(6, 40)}
    assert sorted(set(finder.asked) - seen[2]) == ["b 38.0", "b 39.0"]  # b's first rejection: two again
    assert len(finder.asked) == len(set(finder.asked))  # each release asked for once


class _PinConflict:
    """A finder where ``a`` 10.0 to 20.0 need ``pin>=2`` and older ``a`` releases take ``pin`` 1.0."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self._lock = threading.Lock()

    def files(self, name: str) -> list[DistFile]:
        return [_wheel("pin", "1.0")] if name == "pin" else [_wheel("a", f"{n}.0") for n in range(1, 21)]

    def metadata(self, dist: DistFile) -> CoreMetadata:
        with self._lock:
            self.asked.append(f"{dist.name} {dist.version}")
        needs = ("pin>=2",) if dist.name == "a" and dist.version >= Version("10") else ()
        return CoreMetadata(dist.name, str(dist.version), needs)


def test_releases_a_top_level_pin_rules_out_are_read_ahead_before_the_resolver_rejects_them() -> None:
    """``pin==1.0`` rules out ``a`` 20.0, the likely release: the resolver will reject it and walk back through
    every release down to 9.0, each needing its metadata. That walk is read ahead, a few releases at a time, and
    stops a few past the first release the pin allows."""
    finder = _PinConflict()
    pool = PriorityPool(4, "test")
    try:
        speculative = SpeculativeFinder(finder, TARGET, pool, threading.Event())  # type: ignore[arg-type]
        speculative.prefetch_requirements([line("pin==1.0"), line("a")])
        pool.join()  # a task's follow-up tasks are queued before it ends: this waits for the whole walk
    finally:
        pool.shutdown(wait=True)
    walked = {f"a {n}.0" for n in range(20, 5, -1)}  # 9.0 allows the pin; 8.0 to 6.0 were in flight with it
    assert set(finder.asked) - {"pin 1.0"} == walked
    assert len(finder.asked) == len(set(finder.asked))


class _DependentGivenUp:
    """``cli`` 1.0 to 5.0 need ``typer>=3``; ``cli`` 5.0 also needs ``typer<=8`` (1.0 to 4.0 need ``typer``
    alone). ``typer`` 3.0 and newer need ``pin>=2``."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self._lock = threading.Lock()

    def files(self, name: str) -> list[DistFile]:
        top = {"pin": 1, "cli": 5, "typer": 10}[name]
        return [_wheel(name, f"{n}.0") for n in range(1, top + 1)]

    def metadata(self, dist: DistFile) -> CoreMetadata:
        with self._lock:
            self.asked.append(f"{dist.name} {dist.version}")
        needs: tuple[str, ...] = ()
        if dist.name == "cli":
            needs = ("typer>=3,<=8",) if dist.version == Version("5.0") else ("typer",)
        elif dist.name == "typer" and dist.version >= Version("3"):
            needs = ("pin>=2",)
        return CoreMetadata(dist.name, str(dist.version), needs)


def _speculate_to_the_end(finder: _DependentGivenUp) -> None:
    """Speculation over ``finder`` for ``pin==1.0`` and ``cli``, until every task it queued has run."""
    pool = PriorityPool(4, "test")
    try:
        speculative = SpeculativeFinder(finder, TARGET, pool, threading.Event())  # type: ignore[arg-type]
        speculative.prefetch_requirements([line("pin==1.0"), line("cli")])
        pool.join()
    finally:
        pool.shutdown(wait=True)


def test_a_file_every_release_of_whose_dependency_is_ruled_out_has_its_older_releases_read_ahead() -> None:
    """``pin==1.0`` rules out every ``typer`` release ``cli`` 5.0 admits (3.0 to 8.0): the resolver will walk
    them, give up ``cli`` 5.0 and try ``cli`` 4.0 and 3.0, each needing its metadata. Those are read as soon as the
    last admitted ``typer`` is found ruled out, before any rejection by the resolver."""
    finder = _DependentGivenUp()
    _speculate_to_the_end(finder)
    asked = set(finder.asked)
    assert {f"typer {n}.0" for n in range(3, 9)} <= asked  # the walk, down to the last release cli 5.0 admits
    assert {"cli 4.0", "cli 3.0"} <= asked  # read ahead: cli 5.0 will be given up
    assert "cli 2.0" not in asked
    assert len(finder.asked) == len(set(finder.asked))


def test_a_walk_that_finds_a_release_does_not_read_its_dependents_older_releases() -> None:
    """The same, with ``typer`` 2.0 admitted by ``cli`` 5.0 (``typer>=1``): the walk ends there, and ``cli`` 5.0
    stands."""

    class _Found(_DependentGivenUp):
        def metadata(self, dist: DistFile) -> CoreMetadata:
            meta = super().metadata(dist)
            if dist.name == "cli" and dist.version == Version("5.0"):
                return CoreMetadata(dist.name, str(dist.version), ("typer>=1,<=8",))
            return meta

    finder = _Found()
    _speculate_to_the_end(finder)
    assert "typer 2.0" in finder.asked
    assert not {"cli 4.0", "cli 3.0"} & set(finder.asked)


class _Pages:
    """A finder recording the pages asked for, in order; ``app`` needs ``base``, and ``winonly`` on Windows."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self._lock = threading.Lock()

    def files(self, name: str) -> list[DistFile]:
        with self._lock:
            self.asked.append(name)
        return []

    def metadata(self, dist: DistFile) -> CoreMetadata:
        return CoreMetadata(dist.name, str(dist.version), ("base>=1", 'winonly; sys_platform == "win32"'))


@contextlib.contextmanager
def _queued(finder: _Pages) -> Iterator[SpeculativeFinder]:
    """Speculation over ``finder`` with one worker, held while the body queues tasks: once the body is done, the
    queued tasks run one by one, most urgent first, and are all done when the block ends."""
    pool = PriorityPool(1, "test")
    gate = threading.Event()
    try:
        pool.submit(lambda: gate.wait(10), (-2, 0))
        yield SpeculativeFinder(finder, TARGET, pool, threading.Event())  # type: ignore[arg-type]
        gate.set()
        pool.join()
    finally:
        gate.set()
        pool.shutdown(wait=True)


def test_the_pages_a_file_the_resolver_reads_needs_go_ahead_of_speculative_pages() -> None:
    """The resolver asks for each dependency of the file it just read, one after another, and fetches a page no
    worker has started in its own thread: those pages jump the queue of speculative ones."""
    finder = _Pages()
    with _queued(finder) as speculative:
        speculative.prefetch([(canonicalize_name(f"other{i}"), SpecifierSet(), frozenset()) for i in range(5)])
        speculative.metadata(_wheel("app", "1.0"))
    assert finder.asked[0] == "base"
    assert set(finder.asked) == {"base", *(f"other{i}" for i in range(5))}  # never the Windows-only one


class _Tree(_Pages):
    """:class:`_Pages`, where ``alpha`` needs ``a-dep`` and exactly ``a-pin`` 1.0, and ``zeta`` needs ``z-dep``."""

    def metadata(self, dist: DistFile) -> CoreMetadata:
        needs = {"alpha": ("a-dep", "a-pin==1.0"), "zeta": ("z-dep",)}
        return CoreMetadata(dist.name, str(dist.version), needs.get(dist.name, ()))


def test_speculative_pages_come_in_the_order_the_resolver_asks_for_them() -> None:
    """The resolver decides pinned top-level requirements first, by name, then pins that dependencies ask for,
    then the other top-level requirements, then dependencies breadth first in the order their dependents named
    them: a dependency of ``alpha`` goes ahead of one of ``zeta``, though ``zeta``'s file was read first."""
    finder = _Tree()
    with _queued(finder) as speculative:
        speculative.prefetch_requirements([line("zeta==1.0"), line("mid>=1"), line("alpha==1.0")])
        speculative._metadata(_wheel("zeta", "1.0"))
        speculative._metadata(_wheel("alpha", "1.0"))
    assert finder.asked == ["alpha", "zeta", "a-pin", "mid", "a-dep", "z-dep"]


@dataclass(frozen=True)
class _Candidate:
    name: str
    dist: DistFile


class _Recorder:
    def __init__(self) -> None:
        self.older: list[str] = []

    def prefetch_older(self, dist: DistFile) -> None:
        self.older.append(dist.filename)


def test_a_replayed_pin_looks_ahead_for_nothing_and_another_release_does() -> None:
    """After a backjump resolvelib pins the same candidates again: that is no backtracking over them."""
    recorder = _Recorder()
    reporter = PinReporter(None, None, recorder)  # type: ignore[arg-type]
    first, older = _wheel("a", "2.0"), _wheel("a", "1.0")
    reporter.pinning(_Candidate("a", first))
    reporter.pinning(_Candidate("a", first))
    assert recorder.older == []
    reporter.pinning(_Candidate("a", older))
    assert recorder.older == [older.filename]


def test_a_cold_download_makes_no_request_twice(cli: Cli, index_server: IndexServer, project: Path) -> None:
    index_server.add_wheel("app", "2.0", requires_dist=["lib>=1", 'extra-dep; extra == "x"'])
    index_server.add_wheel("app", "1.0", requires_dist=["lib>=1"])
    index_server.add_wheel("lib", "1.0")
    index_server.add_wheel("lib", "2.0", requires_python=">=3.13")
    index_server.add_wheel("extra-dep", "1.0", requires_dist=["lib"])
    (project / "requirements.txt").write_text("app[x]\n")
    result = cli("download", "--index-url", index_server.index_url, "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 0, result.output
    seen = Counter((r.method, r.route, r.header("Range")) for r in index_server.requests.snapshot())
    assert [request for request, count in seen.items() if count > 1] == []
    assert sorted(p.name for p in (project / "wheels").glob("*.whl")) == [
        "app-2.0-py3-none-any.whl",
        "extra_dep-1.0-py3-none-any.whl",
        "lib-1.0-py3-none-any.whl",
    ]


# -- a small wheel's metadata from the wheel itself ---------------------------------------------------------------


def _gets(srv: IndexServer, route: str) -> tuple[int, int]:
    """(whole-file GETs, ranged GETs) of ``route``."""
    log = srv.requests.to(route)
    return sum(1 for r in log if not r.header("Range")), sum(1 for r in log if r.header("Range"))


def test_without_pep_658_a_small_likely_wheel_is_downloaded_once_and_its_metadata_read_from_it(
    cli: Cli, project: Path
) -> None:
    """No ranges, then the same bytes again: one verified GET gives the resolver its metadata and the folder
    its file."""
    with IndexServer(core_metadata=False) as srv:
        app = srv.add_wheel("app", "1.0", requires_dist=["lib>=1"])
        lib = srv.add_wheel("lib", "1.0")
        (project / "requirements.txt").write_text("app\n")
        result = cli("download", "--index-url", srv.index_url, "--target", "linux/amd64", "--python", "3.12")
        assert result.exit_code == 0, result.output
        assert _gets(srv, f"/files/{app}") == (1, 0)
        assert _gets(srv, f"/files/{lib}") == (1, 0)
    assert sorted(p.name for p in (project / "wheels").glob("*.whl")) == [app, lib]


def test_with_pep_658_the_metadata_file_is_read_and_the_wheel_fetched_once(cli: Cli, project: Path) -> None:
    """An index that serves METADATA alone answers the resolver with one small request: nothing waits for a
    wheel's bytes."""
    with IndexServer() as srv:
        app = srv.add_wheel("app", "1.0")
        (project / "requirements.txt").write_text("app\n")
        result = cli("download", "--index-url", srv.index_url, "--target", "linux/amd64", "--python", "3.12")
        assert result.exit_code == 0, result.output
        assert len(srv.requests.to(f"/files/{app}.metadata")) == 1
        assert _gets(srv, f"/files/{app}") == (1, 0)


def test_when_the_wheel_cannot_be_fetched_its_metadata_is_read_by_ranges_and_the_file_is_named(
    cli: Cli, project: Path
) -> None:
    with IndexServer(core_metadata=False) as srv:
        app = srv.add_wheel("app", "1.0", requires_dist=["lib>=1"])
        lib = srv.add_wheel("lib", "1.0")
        route = f"/files/{app}"
        srv.on_request = lambda r: Fault.error(500) if r.route == route and not r.header("Range") else None
        (project / "requirements.txt").write_text("app\n")
        result = cli(
            "download", "--index-url", srv.index_url, "--target", "linux/amd64", "--python", "3.12", "--retries", "0"
        )
        assert result.exit_code == 1, result.output
        whole, ranged = _gets(srv, route)
        assert whole >= 1
        assert ranged >= 1  # resolution went on from the ranges: lib was found and fetched
        assert [line for line in result.output.splitlines() if line.startswith("error")] == [
            line for line in result.output.splitlines() if line.startswith("error") and app in line
        ]
    assert sorted(p.name for p in (project / "wheels").glob("*.whl")) == [lib]


# -- pages: entries built when asked for -----------------------------------------------------------------------


def _json_page(*entries: dict[str, object]) -> bytes:
    import json

    return json.dumps({"meta": {"api-version": "1.1"}, "name": "demo", "files": list(entries)}).encode()


def test_a_json_listing_builds_an_entry_only_when_asked_and_keeps_the_page_order(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = "https://files.example/demo-{}.whl"
    page = _json_page(
        {"filename": "demo-2.0-py3-none-any.whl", "url": url.format("2.0"), "hashes": {"sha256": "AB"}},
        {"filename": "demo-1.0-py3-none-win_amd64.whl", "url": url.format("win")},  # no Linux target: dropped
        {"filename": "demo-1.0-py3-none-any.whl", "url": url.format("1.0"), "requires-python": ">=3.61.*"},
        {"filename": "demo-2.0-py3-none-any.whl", "url": url.format("2.0")},  # the same URL again: listed once
    )
    listing = Listing()
    listing.add_json(page, "https://index.example/simple/demo/", "https://index.example/simple")
    assert listing.filenames == ["demo-2.0-py3-none-any.whl", "demo-1.0-py3-none-any.whl"]
    assert listing.relevant == [True, True]
    first = listing.file(0)
    assert (first.url, first.sha256) == (url.format("2.0"), "ab")
    # The second entry's invalid Requires-Python is said when it is built, not while the page is read.
    assert "ignoring the invalid Requires-Python" not in caplog.text
    assert [f.filename for f in listing.files()] == listing.filenames
    assert listing.file(0) is first
    assert "ignoring the invalid Requires-Python" in caplog.text


def test_the_finder_answers_the_same_from_a_json_and_an_html_page() -> None:
    """The listing is read lazily for JSON pages and eagerly for HTML ones; the finder sees no difference."""
    found: dict[str, list[tuple[str, str | None, str | None]]] = {}
    for api in ("json", "html"):
        with IndexServer(json_api=api == "json", html_api=api == "html") as srv:
            srv.add_wheel("demo", "1.0", requires_python=">=3.8")
            srv.add_wheel("demo", "1.0", tag="cp312-cp312-manylinux_2_17_aarch64")
            srv.add_wheel("demo", "0.9", yanked="broken")
            with IndexClient(IndexConfig(index_url=srv.index_url)) as client:
                finder = IndexFinder(client, [TARGET])
                found[api] = [(d.filename, d.requires_python, d.yanked) for d in finder.files(NormalizedName("demo"))]
                every = [d.filename for d in finder.all_files(NormalizedName("demo"))]
        assert "demo-1.0-cp312-cp312-manylinux_2_17_aarch64.whl" in every  # set aside, still explains a gap
    assert found["json"] == found["html"]
    assert sorted(found["json"]) == [
        ("demo-0.9-py3-none-any.whl", None, "broken"),
        ("demo-1.0-py3-none-any.whl", ">=3.8", None),
    ]


def test_the_manifest_takes_each_wheels_metadata_from_its_transfer(
    cli: Cli, index_server: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transfer reads each wheel's METADATA to check it; the manifest's cache is primed from that reading
    rather than by opening the wheel again (a large wheel's central directory is thousands of entries)."""
    import json

    import wheelhouse.store.folder as folder

    opened: list[str] = []
    original = folder._metadata_entry

    def counting(path: Path) -> dict[str, object]:
        opened.append(path.name)
        return original(path)

    monkeypatch.setattr(folder, "_metadata_entry", counting)
    app = index_server.add_wheel("app", "1.0", requires_dist=["lib>=1"])
    lib = index_server.add_wheel("lib", "1.0")
    (project / "requirements.txt").write_text("app\n")
    result = cli("download", "--index-url", index_server.index_url, "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 0, result.output
    assert opened == []
    files = json.loads((project / "wheels" / ".wheelhouse" / "manifest.json").read_text())["files"]
    assert files[app]["metadata"]["requires_dist"] == ["lib>=1"]
    assert (files[lib]["metadata"]["name"], files[lib]["metadata"]["version"]) == ("lib", "1.0")


# -- reserved transfers -------------------------------------------------------------------------------------------


class _FailingClient:
    can_offload = False  # every transfer runs here, where the failure is injected

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def download(self, remote: object, dest: Path, *, on_progress: object = None) -> str:
        raise self.error


def _transfers(tmp_path: Path, error: BaseException) -> Transfers:
    store = Store(tmp_path / "wheels")
    store.ensure()
    return Transfers(store, _FailingClient(error), 1)  # type: ignore[arg-type]


WHEEL = "a-1.0-py3-none-any.whl"


def test_a_reserved_transfer_that_fails_gives_its_error_to_whoever_waits(tmp_path: Path) -> None:
    transfers = _transfers(tmp_path, NetworkError("cannot fetch"))
    try:
        future = transfers.claim(WHEEL)
        assert future is not None
        assert transfers.claim(WHEEL) is None  # reserved once
        transfers.run_claimed(WHEEL, RemoteFile(WHEEL, "http://index.invalid/a.whl"))
        assert isinstance(future.exception(), NetworkError)
        assert transfers.start(WHEEL, RemoteFile(WHEEL, "http://index.invalid/a.whl")) is future
    finally:
        transfers.close()


def test_ctrl_c_in_the_thread_running_a_reserved_transfer_interrupts_that_thread(tmp_path: Path) -> None:
    """The resolver itself may run a reserved transfer (it needs the file's metadata): a Ctrl-C landing there
    must end the run, not only that file's transfer."""
    transfers = _transfers(tmp_path, KeyboardInterrupt())
    try:
        future = transfers.claim(WHEEL)
        assert future is not None
        with pytest.raises(KeyboardInterrupt):
            transfers.run_claimed(WHEEL, RemoteFile(WHEEL, "http://index.invalid/a.whl"))
        assert isinstance(future.exception(), KeyboardInterrupt)
    finally:
        transfers.close()


def test_closing_cancels_a_reserved_transfer_nobody_ran(tmp_path: Path) -> None:
    transfers = _transfers(tmp_path, NetworkError("never called"))
    future = transfers.claim(WHEEL)
    assert future is not None
    transfers.close()  # returns: nothing waits for a transfer that will never run
    assert future.cancelled()
    assert not list((tmp_path / "wheels" / ".wheelhouse" / "tmp").glob("*"))


class _RecordingClient:
    """Records the order of its downloads; the first waits until ``go`` is set, occupying the one worker."""

    can_offload = False

    def __init__(self) -> None:
        self.order: list[str] = []
        self.go = threading.Event()

    def download(self, remote: RemoteFile, dest: Path, *, on_progress: object = None) -> str:
        self.order.append(remote.filename)
        if len(self.order) == 1:
            assert self.go.wait(30)
        dest.write_bytes(b"")
        return "0" * 64


def test_waiting_transfers_run_largest_first(tmp_path: Path) -> None:
    """The largest files bound a download's time: they go first, whatever order the resolver pinned them in."""
    store = Store(tmp_path / "wheels")
    store.ensure()
    client = _RecordingClient()
    transfers = Transfers(store, client, 1)  # type: ignore[arg-type]
    try:

        def start(name: str, size: int) -> Future[tuple[Path, str]]:
            return transfers.start(name, RemoteFile(name, f"http://index.invalid/{name}", size=size))

        futures = [start("first.tar.gz", 1)]
        deadline = time.monotonic() + 30
        while not client.order and time.monotonic() < deadline:
            time.sleep(0.01)
        # The one worker is busy: these wait, pinned smallest first.
        sizes = {"small.tar.gz": 10, "medium.tar.gz": 500_000, "large.tar.gz": 30_000_000}
        futures += [start(name, size) for name, size in sizes.items()]
        client.go.set()
        for future in futures:
            future.result(timeout=30)
        assert client.order == ["first.tar.gz", "large.tar.gz", "medium.tar.gz", "small.tar.gz"]
    finally:
        transfers.close()


def test_a_covered_rerun_imports_neither_the_http_stack_nor_the_page_and_metadata_readers(
    cli: Cli, index_server: IndexServer, project: Path, tmp_path: Path
) -> None:
    """The readers are imported ahead of the first pages by a run that fetches some (see
    wheelhouse.index.finder.import_readers), and never by one that needs no page; nor is requests, whose
    session the client sets up at its first request."""
    index_server.add_wheel("app", "1.0", requires_dist=["lib>=1"])
    index_server.add_wheel("lib", "1.0")
    (project / "requirements.txt").write_text("app\n")
    argv = ["download", "--index-url", index_server.index_url, "--target", "linux/amd64", "--python", "3.12"]
    assert cli(*argv).exit_code == 0
    seen = tmp_path / "modules.txt"
    before = len(index_server.requests.snapshot())
    proc = run_listing_modules(argv, project, seen)
    assert proc.returncode == 0, proc.stderr
    assert len(index_server.requests.snapshot()) == before
    modules = modules_in(seen)
    assert "wheelhouse.fetch.plan" in modules  # the spy saw a download
    assert sorted(modules & {"msgspec", "wheelhouse.index._typed_page", "email.policy", "encodings.cp437"}) == []
    assert sorted(modules & {"requests", "urllib3", "wheelhouse.index.transport", "wheelhouse.index.metadata"}) == []
    # Nor what only an HTTP request or a file: URL needs (urllib.request brings the rest with it).
    assert sorted(modules & {"urllib.request", "http.client", "email.parser", "ssl"}) == []


def test_the_readers_are_imported_ahead_outside_the_main_thread(
    cli: Cli, index_server: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C lands in the main thread, and an import it interrupts can leave its module's lock taken for good."""
    from wheelhouse.index import finder

    threads: list[str] = []
    real = finder.import_readers

    def spy() -> None:
        threads.append(threading.current_thread().name)
        real()

    monkeypatch.setattr(finder, "import_readers", spy)
    index_server.add_wheel("app", "1.0")
    (project / "requirements.txt").write_text("app\n")
    result = cli("download", "--index-url", index_server.index_url, "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 0, result.output
    assert threads == ["wheelhouse-imports"]
