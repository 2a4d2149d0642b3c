"""With a real engine (scripts/docker-test-env.sh): the target read from the base image, a base image that is not
on the machine, and the classic builder's install stage removed after the build.

The test image is Debian bookworm's python3 (CPython 3.11.2, glibc 2.36): a project verified for another 3.11
patch release builds on it when no target is given. Skipped, saying why, where the engine is not running.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from tests.test_docker import Engine, _explain, engine, make_app_project

__all__ = ["engine"]  # the fixture, imported to be found here

pytestmark = pytest.mark.docker


def _image_args(engine: Engine) -> tuple[str, ...]:
    return ("--base-image", engine.base_image, "--docker", engine.client)


def test_an_offline_build_without_a_target_builds_for_what_the_image_runs(tmp_path: Path, engine: Engine) -> None:
    make_app_project(tmp_path)
    tag = engine.tag()
    built = engine.wheelhouse("-v", "build", "--offline", "-t", tag, *_image_args(engine), cwd=tmp_path)
    assert built.returncode == 0, _explain(built)
    found = re.search(
        r"target read from the base image \S+: (cp311-manylinux_2_(\d+)_x86_64): \S+, CPython (\S+)", built.stderr
    )
    assert found is not None, built.stderr
    assert found.group(3) == "3.11.2"  # bookworm's python3, to the patch release
    assert f"verified: wheels covers {found.group(1)}" in built.stderr
    assert engine.run_app(tag).stdout.strip() == "alpha 1.0 beta 2.1"


def test_a_target_of_another_patch_release_builds_with_a_warning(tmp_path: Path, engine: Engine) -> None:
    """What a download for this machine's CPython 3.11.7 verified serves the image's 3.11.2."""
    make_app_project(tmp_path)
    tag = engine.tag()
    target = ("--target", "linux/amd64", "--python", "3.11.7")
    built = engine.wheelhouse("build", "--offline", "-t", tag, *target, *_image_args(engine), cwd=tmp_path)
    assert built.returncode == 0, _explain(built)
    assert "is CPython 3.11.7 but" in built.stderr
    assert "runs 3.11.2" in built.stderr
    assert engine.run_app(tag).returncode == 0


def test_a_base_image_that_is_not_here_stops_the_offline_build_in_one_line(tmp_path: Path, engine: Engine) -> None:
    make_app_project(tmp_path)
    absent = f"wheelhouse-test/absent:{uuid.uuid4().hex[:12]}"
    result = engine.wheelhouse("build", "--offline", "--base-image", absent, "--docker", engine.client, cwd=tmp_path)
    assert result.returncode == 1, _explain(result)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: the base image {absent} is not on this machine, and an offline build cannot pull it"]
    assert "docker load" in result.stderr
    assert "wheelhouse verify" not in result.stderr


def test_the_classic_builder_leaves_no_image_of_the_install_stage(tmp_path: Path, engine: Engine) -> None:
    make_app_project(tmp_path)
    tag = engine.tag()
    classic = {**engine.env, "DOCKER_BUILDKIT": "0"}
    target = ("--target", "linux/amd64", "--python", "3.11", "--base-python", "3.11")
    built = engine.wheelhouse(
        "-v",
        "build",
        "--offline",
        "-t",
        tag,
        *target,
        *_image_args(engine),
        "--",
        "--no-cache",
        cwd=tmp_path,
        env=classic,
    )
    assert built.returncode == 0, _explain(built)
    assert "Sending build context to Docker daemon" in built.stdout + built.stderr  # the classic builder ran
    removed = re.search(r"removed the install stage's image ([0-9a-f]{12})", built.stderr)
    assert removed is not None, built.stderr
    # The image that held wheels/ is gone; the app's image is there and runs.
    assert engine.docker("image", "inspect", removed.group(1)).returncode != 0
    assert engine.run_app(tag).stdout.strip() == "alpha 1.0 beta 2.1"


def test_a_build_for_other_options_leaves_the_rendered_files_and_builds_what_it_was_asked(
    tmp_path: Path, engine: Engine
) -> None:
    make_app_project(tmp_path)
    target = ("--target", "linux/amd64", "--python", "3.11", "--base-python", "3.11")
    rendered = engine.wheelhouse("render", *target, "--base-image", engine.base_image, cwd=tmp_path)
    assert rendered.returncode == 0, _explain(rendered)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    tag = engine.tag()
    other = ("--cmd", "python -c 'print(42)'")
    built = engine.wheelhouse("build", "--offline", "-t", tag, *target, *_image_args(engine), *other, cwd=tmp_path)
    assert built.returncode == 0, _explain(built)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    check = engine.wheelhouse("render", "--check", *target, "--base-image", engine.base_image, cwd=tmp_path)
    assert check.returncode == 0, _explain(check)
    # The image is the one this build rendered (a temporary Dockerfile), not the one in the directory.
    assert engine.run_app(tag).stdout.strip() == "42"
