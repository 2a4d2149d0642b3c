"""``wheelhouse download`` against the local index: incremental, parallel, verified, per target."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.index_server import Fault, IndexServer
from wheelhouse.fetch.ahead import VerifyAhead
from wheelhouse.resolve.verify import verify_scan
from wheelhouse.store.folder import Store

X86 = "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64"
ARM = "cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64"


def publish_flask(srv: IndexServer) -> None:
    srv.add_wheel(
        "flask", "3.0.0", requires_dist=["werkzeug>=3.0.0", "jinja2>=3.1.2", 'tomli; python_version < "3.11"']
    )
    srv.add_wheel("flask", "2.0.0", requires_dist=["werkzeug>=2.0"])
    srv.add_wheel("werkzeug", "3.0.1", requires_dist=["markupsafe>=2.1.1"])
    srv.add_wheel("jinja2", "3.1.2", requires_dist=["markupsafe>=2.0"])
    srv.add_wheel("tomli", "2.0.1")
    srv.add_wheel("markupsafe", "2.1.5", tag=X86)
    srv.add_wheel("markupsafe", "2.1.5", tag=ARM)
    srv.add_wheel("markupsafe", "2.1.5", tag="cp310-cp310-manylinux_2_17_x86_64")
    srv.add_wheel("markupsafe", "2.0.0", tag=X86)


def wheels(project: Path) -> list[str]:
    return sorted(p.name for p in (project / "wheels").glob("*.whl"))


def file_gets(srv: IndexServer) -> list[str]:
    """Whole-file downloads (not PEP 658 metadata, not ranged reads)."""
    return [
        r.route
        for r in srv.requests.snapshot()
        if r.route.startswith("/files/")
        and r.method == "GET"
        and not r.route.endswith(".metadata")
        and not r.header("Range")
    ]


@pytest.fixture
def flask_index(index_server: IndexServer, project: Path) -> IndexServer:
    publish_flask(index_server)
    (project / "requirements.txt").write_text("flask==3.0.0\n")
    return index_server


def test_cold_download_then_verify(cli: Cli, flask_index: IndexServer, project: Path) -> None:
    result = cli("download", "--index-url", flask_index.index_url, "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 0, result.output
    assert wheels(project) == [
        "flask-3.0.0-py3-none-any.whl",
        "jinja2-3.1.2-py3-none-any.whl",
        f"markupsafe-2.1.5-{X86}.whl",
        "werkzeug-3.0.1-py3-none-any.whl",
    ]
    assert "covered, 4 pinned" in result.output
    assert not list((project / "wheels" / ".wheelhouse" / "tmp").glob("*"))
    verify = cli("verify", "--target", "linux/amd64", "--python", "3.12")
    assert verify.exit_code == 0


def test_second_run_makes_zero_requests(cli: Cli, flask_index: IndexServer, project: Path) -> None:
    args = ["download", "--index-url", flask_index.index_url, "--target", "linux/amd64", "--python", "3.12"]
    assert cli(*args).exit_code == 0
    manifest = (project / "wheels" / ".wheelhouse" / "manifest.json").read_bytes()
    flask_index.requests.clear()
    again = cli(*args)
    assert again.exit_code == 0, again.output
    assert flask_index.requests.snapshot() == []
    assert "0 requests" in again.output
    # Nothing new to record: the manifest is not rewritten either.
    assert (project / "wheels" / ".wheelhouse" / "manifest.json").read_bytes() == manifest


def test_adding_a_requirement_fetches_only_its_closure(cli: Cli, flask_index: IndexServer, project: Path) -> None:
    flask_index.add_wheel("requests", "2.31.0", requires_dist=["idna>=2.5", "markupsafe"])
    flask_index.add_wheel("idna", "3.6")
    args = ["download", "--index-url", flask_index.index_url, "--target", "linux/amd64", "--python", "3.12"]
    assert cli(*args).exit_code == 0
    flask_index.requests.clear()
    (project / "requirements.txt").write_text("flask==3.0.0\nrequests\n")
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert sorted(file_gets(flask_index)) == [
        "/files/idna-3.6-py3-none-any.whl",
        "/files/requests-2.31.0-py3-none-any.whl",
    ]
    assert not [r for r in flask_index.requests.snapshot() if "markupsafe" in r.route or "flask" in r.route]
    pages = sorted(r.route for r in flask_index.requests.snapshot() if r.route.startswith("/simple/"))
    assert pages == ["/simple/idna/", "/simple/requests/"]


def test_old_versions_stay(cli: Cli, flask_index: IndexServer, project: Path) -> None:
    (project / "requirements.txt").write_text("flask==2.0.0\n")
    assert (
        cli("download", "--index-url", flask_index.index_url, "--target", "linux/amd64", "--python", "3.12").exit_code
        == 0
    )
    (project / "requirements.txt").write_text("flask==3.0.0\n")
    assert (
        cli("download", "--index-url", flask_index.index_url, "--target", "linux/amd64", "--python", "3.12").exit_code
        == 0
    )
    names = wheels(project)
    assert "flask-2.0.0-py3-none-any.whl" in names
    assert "flask-3.0.0-py3-none-any.whl" in names


def test_two_targets_share_pure_wheels_and_record_them(cli: Cli, flask_index: IndexServer, project: Path) -> None:
    result = cli(
        "download",
        "--index-url",
        flask_index.index_url,
        "--target",
        "linux/amd64",
        "--target",
        "linux/arm64",
        "--python",
        "3.12",
    )
    assert result.exit_code == 0, result.output
    gets = file_gets(flask_index)
    assert gets.count("/files/flask-3.0.0-py3-none-any.whl") == 1
    assert f"markupsafe-2.1.5-{ARM}.whl" in wheels(project)
    records = Store(project / "wheels").records()
    assert records["flask-3.0.0-py3-none-any.whl"].targets == (
        "cp312-manylinux_2_28_aarch64",
        "cp312-manylinux_2_28_x86_64",
    )
    assert records[f"markupsafe-2.1.5-{X86}.whl"].targets == ("cp312-manylinux_2_28_x86_64",)
    assert records["flask-3.0.0-py3-none-any.whl"].sources == (str((project / "requirements.txt").resolve()),)
    url = records["flask-3.0.0-py3-none-any.whl"].url
    assert url is not None
    assert url.startswith(flask_index.url)


def test_platform_marker_dependency_for_the_target_not_the_host(
    cli: Cli, flask_index: IndexServer, project: Path
) -> None:
    result = cli("download", "--index-url", flask_index.index_url, "--target", "linux/amd64", "--python", "3.10")
    assert result.exit_code == 0, result.output
    assert "tomli-2.0.1-py3-none-any.whl" in wheels(project)
    assert "markupsafe-2.1.5-cp310-cp310-manylinux_2_17_x86_64.whl" in wheels(project)


@pytest.mark.parametrize(
    ("options", "uses_metadata", "tries_range"),
    [
        ({"json_api": True, "html_api": True, "core_metadata": True, "range_requests": True}, True, False),
        ({"json_api": False, "html_api": True, "core_metadata": True, "range_requests": True}, True, False),
        # Sizes listed and every wheel small: each is downloaded once and its METADATA read from the file, with
        # no ranges before (tests/test_fetch_network_speed.py reads a wheel by ranges when its transfer fails).
        ({"json_api": True, "html_api": False, "core_metadata": False, "range_requests": True}, False, False),
        # The client cannot know that Range is ignored before it asks; it then reads the whole body.
        ({"json_api": False, "html_api": True, "core_metadata": False, "range_requests": False}, False, True),
    ],
    ids=["json+pep658", "html+pep658", "json+range", "html+whole-file"],
)
def test_index_flavours(
    cli: Cli, project: Path, options: dict[str, bool], uses_metadata: bool, tries_range: bool
) -> None:
    with IndexServer(**options) as srv:
        publish_flask(srv)
        (project / "requirements.txt").write_text("flask==3.0.0\n")
        result = cli("download", "--index-url", srv.index_url, "--target", "linux/arm64", "--python", "3.12")
        assert result.exit_code == 0, result.output
        log = srv.requests.snapshot()
        assert any(r.route.endswith(".metadata") for r in log) == uses_metadata
        assert any(r.header("Range") for r in log) == tries_range
        assert f"markupsafe-2.1.5-{ARM}.whl" in wheels(project)


def test_yanked_files_skipped_unless_pinned(cli: Cli, index_server: IndexServer, project: Path) -> None:
    index_server.add_wheel("lib", "1.0")
    index_server.add_wheel("lib", "2.0", yanked="broken")
    (project / "requirements.txt").write_text("lib\n")
    assert (
        cli("download", "--index-url", index_server.index_url, "--target", "linux/amd64", "--python", "3.12").exit_code
        == 0
    )
    assert wheels(project) == ["lib-1.0-py3-none-any.whl"]
    (project / "requirements.txt").write_text("lib==2.0\n")
    assert (
        cli("download", "--index-url", index_server.index_url, "--target", "linux/amd64", "--python", "3.12").exit_code
        == 0
    )
    assert "lib-2.0-py3-none-any.whl" in wheels(project)


def test_bad_hash_is_rejected_and_nothing_lands(cli: Cli, flask_index: IndexServer, project: Path) -> None:
    flask_index.inject("/files/jinja2-3.1.2-py3-none-any.whl", Fault.replace(b"PK\x03\x04 evil bytes"), times=None)
    result = cli("download", "--index-url", flask_index.index_url, "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 1
    assert "hash mismatch" in result.output
    assert "jinja2-3.1.2-py3-none-any.whl" in result.output
    assert "jinja2-3.1.2-py3-none-any.whl" not in wheels(project)
    # The other files are complete and verified.
    assert "flask-3.0.0-py3-none-any.whl" in wheels(project)
    assert not list((project / "wheels" / ".wheelhouse" / "tmp").glob("*"))


def test_dry_run_downloads_nothing(cli: Cli, flask_index: IndexServer, project: Path) -> None:
    result = cli(
        "download", "--dry-run", "--index-url", flask_index.index_url, "--target", "linux/amd64", "--python", "3.12"
    )
    assert result.exit_code == 0, result.output
    assert "4 files to download" in result.output
    assert wheels(project) == []
    assert file_gets(flask_index) == []


def test_json_report(cli: Cli, flask_index: IndexServer, project: Path) -> None:
    result = cli(
        "download", "--json", "--index-url", flask_index.index_url, "--target", "linux/amd64", "--python", "3.12"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == 1
    assert sorted(data["downloaded"]) == wheels(project)
    assert data["verify"]["covered"] is True
    assert {f["file"] for f in data["plan"]["fetch"]} == set(wheels(project))


def test_unresolvable_project_exits_3_with_gap(cli: Cli, flask_index: IndexServer, project: Path) -> None:
    (project / "requirements.txt").write_text("flask==3.0.0\nnot-on-the-index\n")
    result = cli("download", "--index-url", flask_index.index_url, "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 3, result.output
    assert "not-on-the-index" in result.output
    # What could be fetched was fetched.
    assert "flask-3.0.0-py3-none-any.whl" in wheels(project)


def test_pip_style_platform_flags(cli: Cli, flask_index: IndexServer, project: Path) -> None:
    result = cli(
        "download",
        "--index-url",
        flask_index.index_url,
        "--platform",
        "manylinux_2_28_aarch64",
        "--python",
        "3.12",
        "--abi",
        "cp312",
        "--implementation",
        "cp",
    )
    assert result.exit_code == 0, result.output
    assert f"markupsafe-2.1.5-{ARM}.whl" in wheels(project)
    bad = cli(
        "download",
        "--index-url",
        flask_index.index_url,
        "--platform",
        "manylinux_2_28_aarch64",
        "--python",
        "3.12",
        "--abi",
        "cp311",
    )
    assert bad.exit_code == 2
    assert "does not match" in bad.output


def test_requirements_file_index_url_is_used(cli: Cli, flask_index: IndexServer, project: Path) -> None:
    (project / "requirements.txt").write_text(f"--index-url {flask_index.index_url}\nflask==3.0.0\n")
    result = cli("download", "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 0, result.output
    assert "flask-3.0.0-py3-none-any.whl" in wheels(project)


def test_credentials_never_reach_output_or_manifest(cli: Cli, flask_index: IndexServer, project: Path) -> None:
    url = flask_index.index_url.replace("http://", "http://user:s3cret@")
    (project / "requirements.txt").write_text("flask==3.0.0\nmissing-project\n")
    result = cli("-v", "download", "--index-url", url, "--target", "linux/amd64", "--python", "3.12")
    assert "s3cret" not in result.output
    assert "s3cret" not in (project / "wheels" / ".wheelhouse" / "manifest.json").read_text()


def test_backtracking_over_a_project_does_not_fetch_each_release(
    cli: Cli, index_server: IndexServer, project: Path
) -> None:
    """A transfer starts when the resolver pins a file; a project it backtracks over waits for the final plan.

    ``a`` 5..1 each need ``c>=N``, and ``b`` (resolved after ``a``) needs ``c<2``: the resolver pins and drops
    releases of ``a`` one after another. Only the first pin may have started early; no other dropped release
    is fetched.
    """
    for n in range(1, 6):
        index_server.add_wheel("a", f"{n}.0", requires_dist=[f"c>={n}.0"])
        index_server.add_wheel("c", f"{n}.0")
    index_server.add_wheel("b", "1.0", requires_dist=["c<2"])
    (project / "requirements.txt").write_text("a\nb\n")
    result = cli("download", "--index-url", index_server.index_url, "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 0, result.output
    assert wheels(project) == ["a-1.0-py3-none-any.whl", "b-1.0-py3-none-any.whl", "c-1.0-py3-none-any.whl"]
    fetched_a = [r for r in file_gets(index_server) if r.startswith("/files/a-")]
    assert len(fetched_a) <= 2, fetched_a
    assert "/files/a-1.0-py3-none-any.whl" in fetched_a


def test_the_file_fetched_ahead_is_the_one_the_resolver_pins(
    cli: Cli, index_server: IndexServer, project: Path
) -> None:
    """Pages are read ahead and the likely file starts downloading at once: it must be the file the resolver
    then pins (best tag, Python it supports), or the early bytes are wasted."""
    old_glibc = "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64"
    new_glibc = "cp312-cp312-manylinux_2_28_x86_64"
    index_server.add_wheel("native", "2.0", tag=old_glibc)
    index_server.add_wheel("native", "2.0", tag=new_glibc)
    index_server.add_wheel("native", "3.0", tag=new_glibc, requires_python=">=3.13")
    (project / "requirements.txt").write_text("native\n")
    result = cli("download", "--index-url", index_server.index_url, "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 0, result.output
    assert wheels(project) == [f"native-2.0-{new_glibc}.whl"]
    touched = {
        r.route.removesuffix(".metadata") for r in index_server.requests.snapshot() if r.route.startswith("/files/")
    }
    assert touched == {f"/files/native-2.0-{new_glibc}.whl"}


def test_backtracking_fetches_the_metadata_of_the_next_releases_ahead() -> None:
    """When the resolver gives up a release it tries the next older ones, one by one, each needing metadata:
    those of the next releases it would try (its order, its filters) are asked for at once, in parallel."""
    import threading

    from packaging.tags import parse_tag
    from packaging.utils import NormalizedName
    from packaging.version import Version

    from wheelhouse.dists import CoreMetadata, DistFile
    from wheelhouse.fetch.pools import PriorityPool
    from wheelhouse.fetch.speculation import SpeculativeFinder
    from wheelhouse.targets import parse_target

    def wheel(version: str, tag: str = "py3-none-any", **extra: object) -> DistFile:
        filename = f"a-{version}-{tag}.whl"
        return DistFile(
            filename, NormalizedName("a"), Version(version), "wheel", frozenset(parse_tag(tag)), filename, False,
            **extra,  # type: ignore[arg-type]
        )  # fmt: skip

    files = [wheel(f"{n}.0") for n in range(1, 13)]
    files += [
        wheel("11.0", "cp312-cp312-manylinux_2_17_x86_64"),  # a better tag for 11.0: preferred
        wheel("10.5", "cp312-cp312-macosx_11_0_arm64"),  # not for this target
        wheel("10.4", yanked=""),  # yanked
        wheel("10.3", requires_python=">=3.13"),  # not for this Python
        wheel("10.2rc1"),  # a pre-release
    ]
    asked: list[str] = []
    lock = threading.Lock()

    class Finder:
        def files(self, name: str) -> list[DistFile]:
            return files

        def metadata(self, dist: DistFile) -> CoreMetadata:
            with lock:
                asked.append(dist.filename)
            return CoreMetadata("a", str(dist.version))

    target = parse_target("linux/amd64", python="3.12")
    pool = PriorityPool(4, "test")
    try:
        speculative = SpeculativeFinder(Finder(), target, pool, threading.Event())  # type: ignore[arg-type]
        speculative.prefetch_older(wheel("12.0"), count=4)
        pool.join()
    finally:
        pool.shutdown(wait=True)
    assert sorted(asked) == sorted(
        ["a-11.0-cp312-cp312-manylinux_2_17_x86_64.whl", "a-10.0-py3-none-any.whl", "a-9.0-py3-none-any.whl",
         "a-8.0-py3-none-any.whl"]
    )  # fmt: skip


def test_a_gap_on_the_index_names_the_wheels_no_target_can_use(
    cli: Cli, index_server: IndexServer, project: Path
) -> None:
    """Wheels no target can use are set aside unparsed while resolving, yet a gap still lists each with why."""
    index_server.add_wheel("native", "1.0", tag=X86)
    index_server.add_wheel("native", "1.0", tag="cp312-cp312-musllinux_1_1_aarch64")
    (project / "requirements.txt").write_text("native\n")
    result = cli(
        "download", "--index-url", index_server.index_url, "--target", "linux/arm64", "--python", "3.12", "--json"
    )
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    text = json.dumps(report)
    assert f"native-1.0-{X86}.whl" in text
    assert "built for x86_64, target is aarch64" in text
    assert "native-1.0-cp312-cp312-musllinux_1_1_aarch64.whl" in text
    assert "target uses glibc" in text
    assert wheels(project) == []


def test_speculation_runs_the_most_urgent_task_first_and_survives_any_failure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A likely file's metadata (which starts its transfer) goes before pages queued earlier, the largest file
    first; a task that fails, even with a KeyboardInterrupt that was another thread's, stops nothing."""
    import threading

    from wheelhouse.fetch.pools import PriorityPool

    pool = PriorityPool(1, "test")
    gate = threading.Event()
    ran: list[str] = []
    try:
        pool.submit(gate.wait, (0, 0))  # holds the only worker while the rest queues up

        def task(label: str, error: BaseException | None = None) -> Callable[[], None]:
            def run() -> None:
                ran.append(label)
                if error is not None:
                    raise error

            return run

        pool.submit(task("page a"), (2, 0))
        pool.submit(task("page b", KeyboardInterrupt()), (2, 0))
        pool.submit(task("small metadata", RuntimeError("boom")), (0, -1_000))
        pool.submit(task("look-ahead"), (1, 0))
        pool.submit(task("large metadata"), (0, -30_000_000))
        gate.set()
        pool.join()
    finally:
        pool.shutdown(wait=True)
    assert ran == ["large metadata", "small metadata", "look-ahead", "page a", "page b"]
    assert capsys.readouterr().err == ""
    assert pool.submit(task("late"), (0, 0)) is False


def test_a_shut_down_speculation_drops_what_has_not_started() -> None:
    import threading

    from wheelhouse.fetch.pools import PriorityPool

    pool = PriorityPool(1, "test")
    gate = threading.Event()
    ran: list[int] = []
    pool.submit(gate.wait, (0, 0))
    for i in range(5):
        pool.submit(lambda i=i: ran.append(i), (2, 0))  # type: ignore[misc]
    pool.shutdown()
    gate.set()
    pool.shutdown(wait=True)
    assert ran == []


# -- the verify that ends a run, computed while the files arrive ---------------------------------------------------


def _download_and_verify(
    index_server: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch, retries: int = 4
) -> tuple[object, object, list[bool]]:
    """Download flask==3.0.0 at the core level; the run's report, a fresh verify's, and whether the report
    computed ahead stood."""
    from wheelhouse.fetch import download as core
    from wheelhouse.fetch.ahead import VerifyAhead
    from wheelhouse.index.config import IndexConfig
    from wheelhouse.index.http import IndexClient
    from wheelhouse.requirements import load_requirements
    from wheelhouse.resolve.verify import report_to_json, verify
    from wheelhouse.targets import parse_target

    used: list[bool] = []
    real_report = VerifyAhead.report

    def report(self: VerifyAhead, *args: object, **kwargs: object) -> object:
        out = real_report(self, *args, **kwargs)  # type: ignore[arg-type]
        used.append(out is not None)
        return out

    monkeypatch.setattr(VerifyAhead, "report", report)
    reqs = load_requirements([project / "requirements.txt"])
    targets = [parse_target("linux/amd64", python="3.12")]
    store = Store(project / "wheels")
    config = IndexConfig(index_url=index_server.index_url, retries=retries)
    with IndexClient(config, backoff=0.0) as client:
        result = core.download(reqs, targets, store, client)
    assert result.report is not None
    return report_to_json(result.report), report_to_json(verify(reqs, targets, store)), used


def test_the_closing_verify_is_computed_while_files_arrive_and_equals_a_fresh_one(
    flask_index: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran, fresh, used = _download_and_verify(flask_index, project, monkeypatch)
    assert used == [True]
    assert ran == fresh
    assert ran["covered"] is True  # type: ignore[index]


def test_a_wheel_whose_metadata_is_not_what_the_index_said_is_verified_from_the_wheel(
    index_server: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The index says app needs helper; the wheel itself needs nothing. The folder gets helper (the plan
    # followed the index), but the proof must rest on the wheels: helper is then not part of the closure.
    from tests.support.wheels import make_wheel, metadata_text

    filename, data = make_wheel("app", "1.0")
    index_server.add(filename, data, metadata=metadata_text("app", "1.0", requires_dist=["helper"]).encode())
    index_server.add_wheel("helper", "1.0")
    (project / "requirements.txt").write_text("app\n")
    ran, fresh, used = _download_and_verify(index_server, project, monkeypatch)
    assert used == [False]
    assert ran == fresh
    pins = [p["name"] for p in ran["targets"][0]["pins"]]  # type: ignore[index]
    assert pins == ["app"]
    assert wheels(project) == ["app-1.0-py3-none-any.whl", "helper-1.0-py3-none-any.whl"]


def test_a_failed_download_is_verified_from_the_folder(
    flask_index: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flask_index.inject("/files/werkzeug-3.0.1-py3-none-any.whl", Fault.error(500), times=None)
    ran, fresh, used = _download_and_verify(flask_index, project, monkeypatch, retries=0)
    assert used == [False]
    assert ran == fresh
    assert ran["covered"] is False  # type: ignore[index]


def test_a_stuck_speculative_task_does_not_hold_up_the_exit(tmp_path: Path) -> None:
    """Speculation only warms caches: a request still hanging when the run is over is not waited for."""
    import subprocess
    import sys
    import time

    code = (
        "import threading, time\n"
        "import wheelhouse.cli as cli\n"
        "from wheelhouse.fetch.pools import PriorityPool\n"
        "pool = PriorityPool(2, 'test')\n"
        "started = threading.Event()\n"
        "pool.submit(lambda: (started.set(), time.sleep(60)), (0, 0))\n"
        "started.wait(10)\n"
        "pool.shutdown()\n"
        "cli.main = lambda: print('done')\n"
        "cli.run()\n"
    )
    began = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    elapsed = time.monotonic() - began
    assert (proc.returncode, proc.stdout) == (0, "done\n"), proc.stderr
    assert elapsed < 30, f"the exit waited for a speculative task: {elapsed:.1f} s"


COVERED_ARGS = ("--target", "linux/amd64", "--python", "3.12")


# -- a covered re-run proves its folder once -----------------------------------------------------------------------


def _downloaded_then_counting(
    cli: Cli, index: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[tuple[str, ...], list[int]]:
    """A first download into the project, then a count of the closing verifies that follow: (args, calls)."""
    args = ("download", "--index-url", index.index_url, *COVERED_ARGS)
    assert cli(*args).exit_code == 0
    calls: list[int] = []

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return verify_scan(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("wheelhouse.fetch.download.verify_scan", counted)
    return args, calls


def test_a_covered_rerun_reports_the_plan_s_proof_without_resolving_again(
    cli: Cli, flask_index: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args, calls = _downloaded_then_counting(cli, flask_index, monkeypatch)
    again = cli(*args, "--json")
    assert again.exit_code == 0, again.output
    assert calls == []
    fresh = cli("verify", *COVERED_ARGS, "--json", "--no-cache")
    assert fresh.exit_code == 0, fresh.output
    ran, proved = json.loads(again.stdout)["verify"], json.loads(fresh.stdout)
    assert ran["covered"] is True
    assert ran["targets"] == proved["targets"]


def test_a_download_that_adds_a_file_verifies_the_folder_again(
    cli: Cli, flask_index: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args, calls = _downloaded_then_counting(cli, flask_index, monkeypatch)
    # The verify computed while files arrive is the usual path for a download that fetched something.
    monkeypatch.setattr(VerifyAhead, "applies", staticmethod(lambda plan: False))
    (project / "wheels" / "werkzeug-3.0.1-py3-none-any.whl").unlink()
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert calls == [1]
    assert "covered, 4 pinned" in result.output
