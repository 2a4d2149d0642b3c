"""Multi-architecture builds with a real engine: linux/amd64 and linux/arm64 images from one wheels folder, the
arm64 one built and run under QEMU, with no network.

Needs what ``scripts/docker-test-env.sh up`` (its ``arm64`` step) prepares: QEMU's binfmt handlers and the arm64
test image ``$WHEELHOUSE_TEST_ARM64_IMAGE``. Skipped with the reason and the command that fixes it otherwise.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import docker_env
from tests.support.wheels import write_wheel
from tests.test_docker import Engine, _explain, make_app_project

pytestmark = pytest.mark.docker

ARM64_IMAGE = os.environ.get("WHEELHOUSE_TEST_ARM64_IMAGE") or "wheelhouse-test/python:3.11-bookworm-arm64"


@pytest.fixture
def arm_engine() -> Iterator[Engine]:
    ok, why = docker_env.docker_available()
    if not ok:
        pytest.skip(why)
    found = Engine()
    label = found.docker("image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", ARM64_IMAGE)
    if label.returncode != 0:
        pytest.skip(f"no arm64 test image {ARM64_IMAGE}: run `{docker_env.SETUP_SCRIPT} arm64` (as root)")
    machine = found.docker(
        "run", "--rm", "--network=none", ARM64_IMAGE, "python3", "-c", "import platform; print(platform.machine())"
    )
    if machine.returncode != 0 or machine.stdout.strip() != "aarch64":
        pytest.skip(
            f"the engine cannot run arm64 programs (no QEMU binfmt handler?): run `{docker_env.SETUP_SCRIPT} emulation`"
            f" (as root); {machine.stderr.strip()[-200:]}"
        )
    try:
        yield found
    finally:
        found.cleanup()


def test_two_architectures_build_from_one_folder_with_no_network(tmp_path: Path, arm_engine: Engine) -> None:
    engine = arm_engine
    make_app_project(tmp_path)
    # gamma has one wheel per architecture: each image must get its own.
    for wheel_arch in ("x86_64", "aarch64"):
        write_wheel(tmp_path / "wheels", "gamma", "1.0", tag=f"cp311-cp311-manylinux_2_17_{wheel_arch}")
    (tmp_path / "requirements.txt").write_text("alpha==1.0\ngamma==1.0\n")
    name = f"wheelhouse-test/multiarch:{uuid.uuid4().hex[:12]}"
    engine.tags += [f"{name}-amd64", f"{name}-arm64"]
    built = engine.wheelhouse(
        "-v",
        "build",
        "--offline",
        "-t",
        name,
        *("--target", "linux/amd64", "--target", "linux/arm64", "--python", "3.11", "--base-python", "3.11"),
        *("--base-image", engine.base_image, "--base-image", f"linux/arm64={ARM64_IMAGE}"),
        *("--docker", engine.client),
        cwd=tmp_path,
    )
    assert built.returncode == 0, _explain(built)
    for platform, machine in (("linux/amd64", "x86_64"), ("linux/arm64", "aarch64")):
        tag = f"{name}-{platform.split('/')[1]}"
        assert f"built {platform}: {tag}" in built.stderr
        assert f"--network=none --platform {platform}" in built.stderr
        label = engine.docker("image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", tag)
        assert label.stdout.strip() == platform
        ran = engine.docker("run", "--rm", "--network=none", tag)
        assert ran.returncode == 0, _explain(ran)
        assert ran.stdout.strip() == "alpha 1.0 beta 2.1"
        arch = engine.docker(
            "run", "--rm", "--network=none", tag, "python", "-c", "import platform; print(platform.machine())"
        )
        assert arch.stdout.strip() == machine
        wheel_tag = engine.docker(
            "run",
            "--rm",
            "--network=none",
            tag,
            "python",
            "-c",
            "from importlib.metadata import distribution; print(distribution('gamma').read_text('WHEEL'))",
        )
        assert f"Tag: cp311-cp311-manylinux_2_17_{machine}" in wheel_tag.stdout, _explain(wheel_tag)
    # Neither build wrote a Dockerfile into the project: each had its own.
    assert not (tmp_path / "Dockerfile.offline").exists()


def test_an_arm64_image_labelled_amd64_is_refused_naming_both(tmp_path: Path, arm_engine: Engine) -> None:
    """`docker import --platform linux/arm64` on Docker 20.10 labels the image linux/amd64."""
    engine = arm_engine
    rootfs = next(docker_env.state_dir().glob("cache/rootfs-*-arm64-*.tar"), None)
    if rootfs is None:
        pytest.skip(f"no cached arm64 root file system under {docker_env.state_dir()}/cache")
    imported = f"wheelhouse-test/imported:{uuid.uuid4().hex[:12]}"
    engine.tags.append(imported)
    done = engine.docker("import", "--platform", "linux/arm64", str(rootfs), imported, timeout=600)
    assert done.returncode == 0, _explain(done)
    label = engine.docker("image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", imported).stdout.strip()
    if label == "linux/arm64":
        pytest.skip("this engine labels an imported image with the platform it was given")
    make_app_project(tmp_path)
    result = engine.wheelhouse("build", "--offline", "--base-image", imported, "--docker", engine.client, cwd=tmp_path)
    assert result.returncode == 2, _explain(result)
    assert f"the base image {imported} runs aarch64 programs (linux/arm64) but is labelled {label}" in result.stderr
