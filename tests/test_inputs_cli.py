"""pyproject.toml, uv.lock and poetry.lock as inputs of download, verify, why and lock, end to end against a local
index: the locks under tests/data/inputs were written by uv and Poetry for the project beside them (see the
README there); the index here also serves newer releases than were locked, so an honoured lock is visible."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.data.inputs.generate import serve
from tests.support.index_server import IndexServer

DATA = Path(__file__).parent / "data" / "inputs"
AMD64 = ("--target", "linux/amd64", "--python", "3.12")
ARM64 = ("--target", "linux/arm64", "--python", "3.12")


@pytest.fixture
def demo_index() -> Iterator[IndexServer]:
    """The releases the locks were made from, plus newer ones published since (including an arm64 beta)."""
    with IndexServer() as server:
        serve(server)
        server.add_wheel("alpha", "1.1", requires_dist=["zeta<2"])
        server.add_wheel("zeta", "1.6")
        server.add_wheel("beta", "1.1", tag="py3-none-manylinux_2_17_aarch64")
        server.add_wheel("delta", "2.0")
        yield server


@pytest.fixture
def demo(project: Path) -> Path:
    """The demo project's pyproject.toml and both of its real lock files, in the working directory."""
    shutil.copy(DATA / "project" / "pyproject.toml", project)
    shutil.copy(DATA / "uv.lock", project)
    shutil.copy(DATA / "poetry.lock", project)
    return project


def wheels(project: Path) -> list[str]:
    return sorted(p.name for p in (project / "wheels").glob("*.whl"))


@pytest.mark.parametrize("lock", ["uv.lock", "poetry.lock"])
def test_download_honours_the_locked_versions_then_verify_covers(
    cli: Cli, demo: Path, demo_index: IndexServer, lock: str
) -> None:
    result = cli("download", "-r", lock, "-i", demo_index.index_url, *AMD64)
    assert result.exit_code == 0, result.output
    # alpha 1.1 and zeta 1.6 are newer on the index: the lock's 1.0 and 1.5 are taken.
    assert wheels(demo) == [
        "alpha-1.0-py3-none-any.whl",
        "beta-1.0-py3-none-manylinux_2_17_x86_64.whl",
        "zeta-1.5-py3-none-any.whl",
    ]
    verified = cli("verify", "-r", lock, *AMD64)
    assert verified.exit_code == 0, verified.output


@pytest.mark.parametrize("lock", ["uv.lock", "poetry.lock"])
def test_a_lock_selects_extras_and_groups(cli: Cli, demo: Path, demo_index: IndexServer, lock: str) -> None:
    result = cli("download", "-r", lock, "--extra", "cli", "--group", "test", "-i", demo_index.index_url, *AMD64)
    assert result.exit_code == 0, result.output
    # delta 2.0 is on the index; the lock (and the test group, which includes dev) says 1.0.
    assert {"gamma-1.0-py3-none-any.whl", "delta-1.0-py3-none-any.whl", "epsilon-1.0-py3-none-any.whl"} <= set(
        wheels(demo)
    )


@pytest.mark.parametrize("lock", ["uv.lock", "poetry.lock"])
def test_a_lock_whose_version_has_no_wheel_for_the_target_names_package_and_target(
    cli: Cli, demo: Path, demo_index: IndexServer, lock: str
) -> None:
    # beta 1.1 has an arm64 wheel, but the lock says 1.0, which has only an x86_64 one.
    result = cli("download", "-r", lock, "-i", demo_index.index_url, *ARM64)
    assert result.exit_code == 3, result.output
    assert "cp312-manylinux_2_28_aarch64" in result.output
    assert "beta==1.0" in result.output
    assert f"{lock}:" in result.output  # the chain names the file and line
    assert "beta-1.1" not in " ".join(wheels(demo))


@pytest.mark.parametrize("lock", ["uv.lock", "poetry.lock"])
def test_a_lock_refuses_a_python_it_was_not_made_for(cli: Cli, demo: Path, lock: str) -> None:
    result = cli("verify", "-r", lock, "--target", "linux/amd64", "--python", "3.9")
    assert result.exit_code == 3, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert f"{lock} " in errors[0]
    assert "cp39-manylinux_2_28_x86_64" in errors[0]
    assert ">=3.10" in errors[0]


def test_pyproject_with_extra_and_included_group(cli: Cli, demo: Path, demo_index: IndexServer) -> None:
    result = cli(
        "download", "-r", "pyproject.toml", "--extra", "cli", "--group", "test", "-i", demo_index.index_url, *AMD64
    )
    assert result.exit_code == 0, result.output
    names = {name.split("-")[0] for name in wheels(demo)}
    # dependencies, the cli extra, the test group and the dev group it includes; no lock, so the newest.
    assert names == {"alpha", "beta", "zeta", "gamma", "delta", "epsilon"}
    assert "delta-2.0-py3-none-any.whl" in wheels(demo)
    why = cli("why", "delta", "-r", "pyproject.toml", "--group", "test", *AMD64)
    assert why.exit_code == 0, why.output
    assert "pyproject.toml:14 delta" in why.output  # the line of "delta" in the dev group


def test_why_chains_through_a_lock_name_its_lines(cli: Cli, demo: Path, demo_index: IndexServer) -> None:
    assert cli("download", "-r", "uv.lock", "-i", demo_index.index_url, *AMD64).exit_code == 0
    result = cli("why", "zeta", "-r", "uv.lock", *AMD64)
    assert result.exit_code == 0, result.output
    assert "uv.lock:37 alpha -> zeta<2" in result.output


def test_lock_command_reads_a_poetry_lock(cli: Cli, demo: Path, demo_index: IndexServer) -> None:
    assert cli("download", "-r", "poetry.lock", "-i", demo_index.index_url, *AMD64).exit_code == 0
    result = cli("lock", "-r", "poetry.lock", *AMD64, "-o", "requirements.lock")
    assert result.exit_code == 0, result.output
    text = (demo / "requirements.lock").read_text()
    assert "alpha==1.0" in text
    assert "zeta==1.5" in text


def test_unknown_extra_or_group_is_one_line_naming_what_exists(cli: Cli, demo: Path) -> None:
    result = cli("verify", "-r", "uv.lock", "--group", "docs", *AMD64)
    assert result.exit_code == 2
    assert result.output.strip() == "error: --group docs: not in uv.lock (it has: dev, test)"
    (demo / "requirements.txt").write_text("alpha\n")
    plain = cli("verify", "-r", "requirements.txt", "--extra", "cli", *AMD64)
    assert plain.exit_code == 2
    assert "--extra and --group select from pyproject.toml" in plain.output


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("Pipfile.lock", '{"_meta": {}, "default": {}}\n'),
        ("environment.yml", "name: demo\ndependencies:\n  - python=3.12\n"),
        ("tool.toml", "[tool.black]\nline-length = 100\n"),
        ("setup.cfg", "[metadata]\nname = demo\n"),
    ],
)
def test_unknown_format_is_a_one_line_error(cli: Cli, project: Path, name: str, content: str) -> None:
    (project / name).write_text(content)
    result = cli("verify", "-r", name, *AMD64)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == [
        f"error: {name}: unknown input format (expected a pip requirements file, pyproject.toml, "
        "pylock.toml, uv.lock or poetry.lock)"
    ]


def test_a_renamed_lock_is_known_by_its_content(cli: Cli, demo: Path, demo_index: IndexServer) -> None:
    shutil.copy(demo / "uv.lock", demo / "production.lock")
    result = cli("download", "-r", "production.lock", "-i", demo_index.index_url, *AMD64)
    assert result.exit_code == 0, result.output
    assert "alpha-1.0-py3-none-any.whl" in wheels(demo)


def test_auto_detection_order_and_verbose_note(cli: Cli, demo: Path, demo_index: IndexServer) -> None:
    # Only pyproject.toml (with dependencies) is here among the names auto-detection tries.
    result = cli("download", "-v", "-i", demo_index.index_url, *AMD64)
    assert result.exit_code == 0, result.output
    assert "no requirements given: using pyproject.toml, found here" in result.output
    (demo / "requirements.txt").write_text("zeta==1.6\n")
    result = cli("verify", "-v", *AMD64)
    assert "using requirements.txt, found here" in result.output
    assert result.exit_code == 0, result.output


def test_configured_requirements_come_before_detection(cli: Cli, demo: Path, demo_index: IndexServer) -> None:
    (demo / "requirements.txt").write_text("zeta==1.6\n")
    (demo / "wheelhouse.toml").write_text('requirements = ["poetry.lock"]\ngroups = ["test"]\n')
    result = cli("download", "-v", "-i", demo_index.index_url, *AMD64)
    assert result.exit_code == 0, result.output
    assert "found here" not in result.output
    assert "epsilon-1.0-py3-none-any.whl" in wheels(demo)  # the configured group
    assert "zeta-1.6-py3-none-any.whl" not in wheels(demo)


def test_no_input_anywhere_says_where_it_looked(cli: Cli, project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    result = cli("verify", *AMD64)
    assert result.exit_code == 2
    assert "no requirements.txt, pylock.toml or pyproject.toml here" in result.output


def _uv() -> str | None:
    found = shutil.which("uv", path=str(Path(sys.executable).parent))
    return found


@pytest.mark.skipif(_uv() is None, reason="uv is not installed beside this Python (it is in the test extra)")
def test_a_uv_lock_made_now_by_uv_serves_download(cli: Cli, project: Path, demo_index: IndexServer) -> None:
    """The committed lock could be stale against the uv installed: lock the project again with it, here, while
    the index has beta 1.1 for arm64 only. The lock then serves linux/arm64, and linux/amd64 not (beta)."""
    uv = _uv()
    assert uv is not None
    shutil.copy(DATA / "project" / "pyproject.toml", project)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_"))}
    env.update(UV_NO_CONFIG="1", UV_CACHE_DIR=str(project / ".uv-cache"))
    subprocess.run(
        [uv, "lock", "--default-index", demo_index.index_url, "--python", sys.executable],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )
    result = cli("download", "-r", "uv.lock", "-i", demo_index.index_url, *ARM64)
    assert result.exit_code == 0, result.output
    assert wheels(project) == [
        "alpha-1.1-py3-none-any.whl",
        "beta-1.1-py3-none-manylinux_2_17_aarch64.whl",
        "zeta-1.6-py3-none-any.whl",
    ]
    amd64 = cli("download", "-r", "uv.lock", "-i", demo_index.index_url, *AMD64)
    assert amd64.exit_code == 3, amd64.output
    assert "beta==1.1: no compatible file" in amd64.output
    assert "cp312-manylinux_2_28_x86_64" in amd64.output


def test_render_refuses_a_format_pip_cannot_install_then_installs_the_lock_made_from_it(
    cli: Cli, demo: Path, demo_index: IndexServer
) -> None:
    assert cli("download", "-r", "uv.lock", "-i", demo_index.index_url, *AMD64).exit_code == 0
    refused = cli("render", "-r", "uv.lock", *AMD64)
    assert refused.exit_code == 2
    assert refused.output.splitlines() == [
        "error: the image installs with pip, which cannot install -r uv.lock (uv.lock)",
        "hint: wheelhouse lock -r uv.lock (writes requirements.lock, which render installs)",
    ]
    assert not (demo / "Dockerfile.offline").exists()
    assert cli("lock", "-r", "uv.lock", *AMD64).exit_code == 0
    # requirements.lock is a pip requirements file, whatever its suffix says.
    assert cli("verify", "-r", "requirements.lock", *AMD64).exit_code == 0
    rendered = cli("render", *AMD64)
    assert rendered.exit_code == 0, rendered.output
    # The offline Dockerfile mounts the lock for its install at /tmp/wheelhouse/.
    assert "--require-hashes -r /tmp/wheelhouse/requirements.lock" in (demo / "Dockerfile.offline").read_text()


@pytest.mark.skipif(_uv() is None, reason="uv is not installed beside this Python (it is in the test extra)")
def test_a_pylock_exported_by_uv_is_found_first_and_read_by_the_lock_module(
    cli: Cli, demo: Path, demo_index: IndexServer
) -> None:
    """``uv export --format pylock.toml`` of the committed uv.lock: auto-detection takes it before pyproject.toml,
    and it is read through wheelhouse.resolve.pylock (whose selection refuses a target it cannot serve)."""
    uv = _uv()
    assert uv is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_"))}
    env.update(UV_NO_CONFIG="1", UV_CACHE_DIR=str(demo / ".uv-cache"))
    subprocess.run(
        [uv, "export", "--format", "pylock.toml", "--frozen", "-o", "pylock.toml"],
        cwd=demo,
        env=env,
        check=True,
        capture_output=True,
    )
    result = cli("download", "-v", "-i", demo_index.index_url, *AMD64)
    assert result.exit_code == 0, result.output
    assert "no requirements given: using pylock.toml, found here" in result.output
    assert "alpha-1.0-py3-none-any.whl" in wheels(demo)
    refused = cli("verify", *ARM64)
    assert refused.exit_code == 3
    assert "pylock.toml cannot serve target cp312-manylinux_2_28_aarch64" in refused.output
    assert "beta" in refused.output


def test_pyproject_refuses_a_python_outside_its_requires_python(cli: Cli, demo: Path) -> None:
    result = cli("verify", "-r", "pyproject.toml", "--target", "linux/amd64", "--python", "3.9")
    assert result.exit_code == 3, result.output
    first = result.output.splitlines()[0]
    assert first.startswith(
        "error: pyproject.toml (project demo) cannot serve target cp39-manylinux_2_28_x86_64 (linux/amd64): "
        "it was declared for Python >=3.10, the target has 3.9."
    )
