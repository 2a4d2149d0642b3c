"""``build --target linux/amd64 --target linux/arm64``: one image per target, each verified for its own target and
built from its own rendering with ``--platform`` and ``--network=none``; without emulation, one line says so.

These run with the fake ``docker`` of tests/test_docker.py (a reference with "arm64" in it is an arm64 image);
tests/test_docker_multiarch_engine.py builds both images with a real engine where QEMU runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.wheels import write_wheel
from tests.test_docker import FakeDocker, fake_docker, make_app_project
from wheelhouse.docker.client import platform_tag

__all__ = ["fake_docker"]  # the fixture, imported to be found here

BOTH = ("--target", "linux/amd64", "--target", "linux/arm64", "--python", "3.11")
IMAGES = ("--base-image", "acme/py:3.11", "--base-image", "linux/arm64=acme/py:3.11-arm64", "--base-python", "3.11")


def _builds(fake: FakeDocker) -> list[dict[str, object]]:
    return [c for c in fake.calls() if isinstance(c["argv"], list) and c["argv"][:1] == ["build"]]


def test_platform_tags() -> None:
    assert platform_tag("app:1", "linux/arm64") == "app:1-arm64"
    assert platform_tag("app", "linux/amd64") == "app:latest-amd64"
    assert platform_tag("registry:5000/team/app", "linux/arm/v7") == "registry:5000/team/app:latest-arm-v7"


def test_two_targets_build_two_images_each_from_its_own_rendering(
    project: Path, cli: Cli, fake_docker: FakeDocker
) -> None:
    make_app_project(project)
    result = cli("-v", "build", "--offline", "-t", "app:1", *BOTH, *IMAGES)
    assert result.exit_code == 0, result.output
    assert "verified: wheels covers cp311-manylinux_2_28_x86_64" in result.stderr
    assert "verified: wheels covers cp311-manylinux_2_28_aarch64" in result.stderr
    builds = _builds(fake_docker)
    assert len(builds) == 2
    for build, platform, image, tag in zip(
        builds,
        ("linux/amd64", "linux/arm64"),
        ("acme/py:3.11", "acme/py:3.11-arm64"),
        ("app:1-amd64", "app:1-arm64"),
        strict=True,
    ):
        argv = build["argv"]
        assert isinstance(argv, list)
        assert argv[:4] == ["build", "--network=none", "--platform", platform]
        assert argv[argv.index("-t") + 1] == tag
        dockerfile = build["dockerfile"]
        assert isinstance(dockerfile, dict)
        assert f"FROM {image}" in dockerfile["text"]
        assert f"({platform}," in dockerfile["text"]  # the header names the target's platform
        assert not str(argv[argv.index("-f") + 1]).startswith(str(project))
        assert f"built {platform}: {tag}" in result.stderr
    # A file here could serve only one of the targets: none is written.
    assert not (project / "Dockerfile.offline").exists()
    assert not (project / ".dockerignore").exists()


def test_each_target_is_verified_before_anything_is_built(project: Path, cli: Cli, fake_docker: FakeDocker) -> None:
    make_app_project(project)
    # gamma has a wheel for x86_64 only: the arm64 image cannot be built offline.
    write_wheel(project / "wheels", "gamma", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64")
    (project / "requirements.txt").write_text("alpha==1.0\ngamma==1.0\n")
    result = cli("build", "--offline", *BOTH, *IMAGES)
    assert result.exit_code == 3, result.output
    assert "does not cover cp311-manylinux_2_28_aarch64" in result.stderr
    assert _builds(fake_docker) == []


def test_without_emulation_the_other_architecture_is_refused_in_one_line(
    project: Path, cli: Cli, fake_docker: FakeDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_app_project(project)
    monkeypatch.setenv("FAKE_DOCKER_NO_EMULATION", "1")
    result = cli("build", "--offline", *BOTH, *IMAGES)
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: cannot run the linux/arm64 base image acme/py:3.11-arm64 on this linux/amd64 engine: there is no "
        "emulation for aarch64 (exec /usr/bin/python3: exec format error)"
    ]
    assert "qemu-user-static" in result.stderr
    assert _builds(fake_docker) == [], "nothing is built when one target cannot be"


def test_one_image_for_every_platform_is_refused_with_the_fix(project: Path, cli: Cli, fake_docker: FakeDocker) -> None:
    """A local image store holds one platform per name: an amd64 image cannot be the arm64 target's base."""
    make_app_project(project)
    result = cli("build", "--offline", *BOTH, "--base-image", "acme/py:3.11", "--base-python", "3.11")
    assert result.exit_code == 2, result.output
    assert "is built for x86_64, but the target cp311-manylinux_2_28_aarch64 is aarch64" in result.stderr
    assert "--base-image linux/arm64=IMAGE" in result.stderr
    assert _builds(fake_docker) == []


def test_a_platform_image_must_name_a_docker_platform(project: Path, cli: Cli, fake_docker: FakeDocker) -> None:
    make_app_project(project)
    result = cli("build", "--offline", *BOTH, "--base-image", "linux/sparc=acme/py")
    assert result.exit_code == 2, result.output
    assert "'linux/sparc' is not a Docker platform" in result.stderr


def test_write_is_refused_with_several_targets(project: Path, cli: Cli, fake_docker: FakeDocker) -> None:
    make_app_project(project)
    result = cli("build", "--offline", *BOTH, *IMAGES, "--write")
    assert result.exit_code == 2, result.output
    assert "--write renders one target's files" in result.stderr


def test_each_build_context_carries_the_wheels_of_its_own_target(
    project: Path, cli: Cli, fake_docker: FakeDocker
) -> None:
    make_app_project(project)
    amd = write_wheel(project / "wheels", "gamma", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64").name
    arm = write_wheel(project / "wheels", "gamma", "1.0", tag="cp311-cp311-manylinux_2_17_aarch64").name
    (project / "requirements.txt").write_text("alpha==1.0\ngamma==1.0\n")
    result = cli("build", "--offline", *BOTH, *IMAGES)
    assert result.exit_code == 0, result.output
    ignores = []
    for build in _builds(fake_docker):
        dockerfile = build["dockerfile"]
        assert isinstance(dockerfile, dict)
        assert isinstance(dockerfile["ignore"], str), "BuildKit reads the ignore file beside each Dockerfile"
        ignores.append(dockerfile["ignore"])
    amd_ignore, arm_ignore = ignores
    # Each lets through its own target's wheel of gamma, and not the other's.
    assert amd in amd_ignore
    assert arm not in amd_ignore
    assert arm in arm_ignore
    assert amd not in arm_ignore
