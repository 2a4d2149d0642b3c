"""``wheelhouse init``: wheelhouse.toml from the inputs and the Dockerfile found, asking nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.data.inputs.generate import serve
from tests.support.index_server import IndexServer
from wheelhouse.inputs.dockerfile import read_dockerfile
from wheelhouse.settings import load_settings
from wheelhouse.targets import parse_targets

DATA = Path(__file__).parent / "data" / "inputs"


def targets_of(project: Path) -> list[str]:
    settings = load_settings(project)
    return [t.name for t in parse_targets(settings.targets, pythons=settings.python, libc=settings.libc)]


def test_init_writes_requirements_and_the_dockerfiles_target(cli: Cli, project: Path) -> None:
    (project / "requirements.txt").write_text("alpha\n")
    (project / "Dockerfile").write_text("FROM python:3.12-slim\nCOPY . /app\n")
    result = cli("init")
    assert result.exit_code == 0, result.output
    settings = load_settings(project)
    assert settings.requirements == ("requirements.txt",)
    assert settings.targets == ("linux/amd64",)
    assert settings.python == ("3.12",)
    assert settings.libc is None
    assert targets_of(project) == ["cp312-manylinux_2_28_x86_64"]
    assert "Dockerfile:1: FROM python:3.12-slim" in (project / "wheelhouse.toml").read_text()


def test_init_honours_platform_alpine_arg_and_stage_names(cli: Cli, project: Path) -> None:
    (project / "requirements.txt").write_text("alpha\n")
    (project / "Dockerfile").write_text(
        "ARG PYTHON=3.11\n"
        "# the build stage\n"
        "FROM --platform=linux/arm64 \\\n"
        "     python:${PYTHON}-alpine3.20 AS build\n"
        "RUN pip wheel .\n"
        "FROM build\n"
        'CMD ["app"]\n'
    )
    assert cli("init").exit_code == 0
    assert targets_of(project) == ["cp311-musllinux_1_2_aarch64"]


def test_a_build_platform_variable_is_not_a_platform(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM --platform=$BUILDPLATFORM python:3.13 AS b\nFROM python:3.13-slim-bookworm\n")
    found = read_dockerfile(dockerfile)
    assert found is not None
    assert (found.platform, found.python, found.libc, found.line) == ("linux/amd64", "3.13", None, 2)


def test_init_prefers_the_lock_beside_pyproject(cli: Cli, project: Path) -> None:
    shutil.copy(DATA / "project" / "pyproject.toml", project)
    shutil.copy(DATA / "poetry.lock", project)
    assert cli("init").exit_code == 0
    assert load_settings(project).requirements == ("poetry.lock",)


def test_init_without_inputs_or_dockerfile_writes_comments_only(cli: Cli, project: Path) -> None:
    result = cli("init")
    assert result.exit_code == 0, result.output
    settings = load_settings(project)
    assert (settings.requirements, settings.targets) == ((), ())
    assert "no Dockerfile found here" in (project / "wheelhouse.toml").read_text()


def test_init_refuses_to_replace_a_file_unless_forced(cli: Cli, project: Path) -> None:
    (project / "wheelhouse.toml").write_text('wheels = "mine"\n')
    (project / "Dockerfile").write_text("FROM python:3.12-slim\n")
    result = cli("init")
    assert result.exit_code == 2
    assert result.output.strip() == "error: wheelhouse.toml already exists; pass --force to replace it"
    assert (project / "wheelhouse.toml").read_text() == 'wheels = "mine"\n'
    forced = cli("init", "--force")
    assert forced.exit_code == 0, forced.output
    assert load_settings(project).targets == ("linux/amd64",)


def test_init_then_download_uses_what_it_wrote(cli: Cli, project: Path) -> None:
    shutil.copy(DATA / "project" / "pyproject.toml", project)
    shutil.copy(DATA / "uv.lock", project)
    (project / "Dockerfile").write_text("FROM python:3.12-slim\n")
    assert cli("init").exit_code == 0
    with IndexServer() as server:
        serve(server)
        server.add_wheel("alpha", "1.1")
        result = cli("download", "-i", server.index_url)
    assert result.exit_code == 0, result.output
    assert "cp312-manylinux_2_28_x86_64" in result.output
    assert sorted(p.name for p in (project / "wheels").glob("*.whl")) == [
        "alpha-1.0-py3-none-any.whl",
        "beta-1.0-py3-none-manylinux_2_17_x86_64.whl",
        "zeta-1.5-py3-none-any.whl",
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("FROM python:3.10", ("linux/amd64", "3.10", None)),
        ("FROM docker.io/library/python:3.12.4-slim AS run", ("linux/amd64", "3.12.4", None)),
        ("FROM --platform=linux/arm64 python:3.13-alpine", ("linux/arm64", "3.13", "musllinux_1_2")),
        ("FROM registry.example.org/base/app:1.2", ("linux/amd64", None, None)),
    ],
)
def test_from_lines(tmp_path: Path, line: str, expected: tuple[str, str | None, str | None]) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(line + "\n")
    found = read_dockerfile(dockerfile)
    assert found is not None
    assert (found.platform, found.python, found.libc) == expected


def test_init_writes_no_target_for_a_windows_image(cli: Cli, project: Path) -> None:
    (project / "requirements.txt").write_text("alpha\n")
    (project / "Dockerfile").write_text("FROM python:3.12-windowsservercore-ltsc2022\nCOPY . /app\n")
    result = cli("init")
    assert result.exit_code == 0, result.output
    written = (project / "wheelhouse.toml").read_text()
    assert "targets =" not in written
    assert "python =" not in written
    assert "FROM python:3.12-windowsservercore-ltsc2022, a Windows image" in written
    found = read_dockerfile(project / "Dockerfile")
    assert found is not None
    assert found.windows
