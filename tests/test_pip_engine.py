"""``wheelhouse download --engine pip``: real pip against the local index, then the native engine fills gaps."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Cli
from tests.support.index_server import IndexServer
from wheelhouse.build.pip_engine import pip_argv
from wheelhouse.index.config import IndexConfig
from wheelhouse.targets import parse_target


def test_pip_gets_every_platform_tag_of_the_target(tmp_path: Path) -> None:
    target = parse_target("linux/arm64", python="3.12")
    argv = pip_argv(target, tmp_path, tmp_path / "r.txt", None, IndexConfig(index_url="http://127.0.0.1:1/simple"))
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
