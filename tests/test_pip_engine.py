"""``wheelhouse download --engine pip``: real pip against the local index, then the native engine fills gaps."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.conftest import Cli
from tests.support.index_server import IndexServer
from wheelhouse._proc import CAPTURE, Output, RunResult
from wheelhouse.build.pip_engine import pip_argv, pip_download
from wheelhouse.index.config import IndexConfig
from wheelhouse.requirements import load_requirements
from wheelhouse.store.folder import Store
from wheelhouse.targets import parse_target


def test_pip_gets_every_platform_tag_of_the_target(tmp_path: Path) -> None:
    target = parse_target("linux/arm64", python="3.12")
    argv = pip_argv(target, tmp_path, tmp_path / "r.txt", None)
    platforms = [argv[i + 1] for i, a in enumerate(argv) if a == "--platform"]
    assert platforms == list(target.platforms)
    assert "manylinux2014_aarch64" in platforms
    assert "manylinux_2_28_aarch64" in platforms
    assert len(platforms) >= 13
    assert "--only-binary=:all:" in argv
    assert argv[argv.index("--abi") + 1] == "cp312"


def test_pip_engine_ends_covered_including_what_pip_skipped(cli: Cli, index_server: IndexServer, project: Path) -> None:
    # pip evaluates platform_machine for this (x86_64) host, so it skips armlib for an aarch64 target.
    index_server.add_wheel("app", "1.0", requires_dist=['armlib; platform_machine == "aarch64"', "common"])
    index_server.add_wheel("armlib", "1.0", tag="cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64")
    index_server.add_wheel("common", "2.0")
    (project / "requirements.txt").write_text("app\n")
    result = cli(
        "download", "--engine", "pip", "--index-url", index_server.index_url, "--target", "linux/arm64",
        "--python", "3.12",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (project / "wheels").glob("*.whl"))
    assert names == [
        "app-1.0-py3-none-any.whl",
        "armlib-1.0-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        "common-2.0-py3-none-any.whl",
    ]
    agents = [r.header("User-Agent") or "" for r in index_server.requests.snapshot()]
    # pip fetched the common files; the native engine fetched only what pip skipped.
    assert any(a.startswith("pip/") for a in agents)
    native_files = [
        r.route
        for r in index_server.requests.snapshot()
        if r.route.startswith("/files/") and not (r.header("User-Agent") or "").startswith("pip/")
        and not r.route.endswith(".metadata") and not r.header("Range")
    ]  # fmt: skip
    assert native_files == ["/files/armlib-1.0-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"]
    assert cli("verify", "--target", "linux/arm64", "--python", "3.12").exit_code == 0


def test_pip_failure_is_reported_and_native_continues(cli: Cli, index_server: IndexServer, project: Path) -> None:
    index_server.add_wheel("good", "1.0")
    (project / "requirements.txt").write_text("good\nmissing-everywhere\n")
    result = cli(
        "download", "--engine", "pip", "--index-url", index_server.index_url, "--target", "linux/amd64",
        "--python", "3.12",
    )  # fmt: skip
    assert result.exit_code == 3
    assert "pip download for cp312-manylinux_2_28_x86_64 exited with 1" in result.output
    assert "missing-everywhere" in result.output
    assert (project / "wheels" / "good-1.0-py3-none-any.whl").is_file()


class RecordingRunner:
    """Stands in for pip: records each command and its environment, downloads nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], dict[str, str]]] = []

    def __call__(
        self, argv: Sequence[str], *, env: Mapping[str, str], output: Output = CAPTURE, timeout: float | None = None
    ) -> RunResult:
        self.calls.append((list(argv), dict(env)))
        return RunResult(0)


def test_index_credentials_reach_pip_only_through_its_environment(tmp_path: Path) -> None:
    config = IndexConfig(
        index_url="https://user:s3cret@index.test/simple",
        extra_index_urls=("https://token@extra.test/simple",),
        find_links=("/srv/wheels",),
        cert="/etc/ca.pem",
        isolated=True,
    )
    reqs = load_requirements([], ["app"], wheels_dir=tmp_path)
    runner = RecordingRunner()
    inherited = {"PATH": os.environ.get("PATH", "/bin"), "PIP_INDEX_URL": "https://other.test/simple", "PIP_PRE": "1"}
    target = parse_target("linux/amd64", python="3.12")
    pip_download(reqs, [target], Store(tmp_path / "wheels"), config, runner=runner, environ=inherited)
    [(argv, env)] = runner.calls
    # No index setting is on the command line, where `ps` and logs would show the password.
    assert not any("s3cret" in a or "token@" in a for a in argv)
    assert not {"--index-url", "--extra-index-url", "--find-links", "--cert", "--isolated"} & set(argv)
    assert env["PIP_INDEX_URL"] == "https://user:s3cret@index.test/simple"
    assert env["PIP_EXTRA_INDEX_URL"] == "https://token@extra.test/simple"
    assert env["PIP_FIND_LINKS"] == "/srv/wheels"
    assert env["PIP_CERT"] == "/etc/ca.pem"
    # --isolated: pip's files and the caller's pip variables are ignored, as pip's own --isolated would.
    assert env["PIP_CONFIG_FILE"] == os.devnull
    assert "PIP_PRE" not in env
    assert env["PATH"] == inherited["PATH"]


def test_the_effective_index_replaces_an_inherited_one(tmp_path: Path) -> None:
    reqs = load_requirements([], ["app"], wheels_dir=tmp_path)
    runner = RecordingRunner()
    inherited = {"PIP_EXTRA_INDEX_URL": "https://stale.test/simple", "PIP_PRE": "1"}
    config = IndexConfig(index_url="http://127.0.0.1:1/simple", no_index=True)
    target = parse_target("linux/amd64", python="3.12")
    pip_download(reqs, [target], Store(tmp_path / "wheels"), config, runner=runner, environ=inherited)
    [(_, env)] = runner.calls
    assert env["PIP_NO_INDEX"] == "1"
    assert "PIP_EXTRA_INDEX_URL" not in env  # the settings wheelhouse resolved with, not a leftover
    assert env["PIP_PRE"] == "1"  # not isolated: the user's other pip variables still apply
