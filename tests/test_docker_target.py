"""``build --offline`` without a target reads it from the base image; the base image is judged by what it runs.

Also the defects met on the way: a base image that is not on the machine is said in one line (with `docker
load`) before Docker is asked to build; an image whose platform label disagrees with what it runs is refused;
a one-off build leaves the rendered files of the project as they are; the classic builder's install stage,
which holds the wheels, does not stay behind as an untagged image. Everything here runs without Docker (a fake
runner, or the fake ``docker`` executable of tests/test_docker.py); tests/test_docker_target_engine.py repeats
what matters with a real engine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Cli, run_wheelhouse
from tests.test_docker import FakeDocker, client_with, fake_docker, make_app_project, version_json
from wheelhouse._proc import RunResult
from wheelhouse.docker.client import stage_names
from wheelhouse.docker.images import BaseImage, check_base_image, check_image_label, target_from_image
from wheelhouse.errors import DockerError, UsageError
from wheelhouse.targets import parse_target

__all__ = ["fake_docker"]  # the fixture, imported to be found here

PROBED = BaseImage("acme/py:1", (3, 11), "3.11.2", "glibc", (2, 36), "x86_64", "probed", label="linux/amd64")


def _facts(python: str = "3.11.2", machine: str = "x86_64", glibc: str | None = "2.36") -> str:
    libc = ["glibc", glibc] if glibc else ["", ""]
    musl = None if glibc else [1, 2]
    return json.dumps({"python": [int(x) for x in python.split(".")], "machine": machine, "libc": libc, "musl": musl})


# -- the target an image is ----------------------------------------------------------------------------------


def test_the_target_of_a_glibc_image_is_its_arch_exact_python_and_glibc() -> None:
    target = target_from_image(PROBED)
    assert target.name == "cp311-manylinux_2_36_x86_64"
    assert (target.python_full_version, target.python_exact) == ("3.11.2", True)
    # The wheels a manylinux_2_28 download fetched serve it: every older glibc's tags are accepted.
    assert "manylinux_2_28_x86_64" in target.platforms


def test_the_target_of_a_musl_image_is_musllinux() -> None:
    image = BaseImage("acme/alpine", (3, 12), "3.12.4", "musl", None, "aarch64", "probed", musl=(1, 2))
    assert target_from_image(image).name == "cp312-musllinux_1_2_aarch64"


def test_an_image_whose_libc_is_unknown_gives_no_target() -> None:
    image = BaseImage("acme/odd", (3, 11), "3.11.2", None, None, "x86_64", "probed")
    with pytest.raises(UsageError, match="cannot tell which libc") as exc:
        target_from_image(image)
    assert exc.value.hint is not None
    assert "--target" in exc.value.hint


def test_the_probe_reads_musl_from_its_loader() -> None:
    client = client_with(
        {
            ("version",): RunResult(0, version_json()),
            ("image", "inspect"): RunResult(0, "linux/arm64/v8\n"),
            ("run",): RunResult(0, _facts("3.12.4", "aarch64", glibc=None) + "\n"),
        }
    )
    image = client.probe_image("acme/alpine")
    assert (image.libc, image.musl, image.arch, image.label) == ("musl", (1, 2), "aarch64", "linux/arm64/v8")
    check_image_label(image)  # arm64/v8 is arm64: no disagreement


# -- mismatches that matter, and one that does not -----------------------------------------------------------


def test_a_patch_release_difference_is_a_warning_even_for_a_pinned_target() -> None:
    pinned = parse_target("linux/amd64", python="3.11.7")
    warnings = check_base_image(PROBED, pinned)
    assert len(warnings) == 1
    assert "3.11.7" in warnings[0]
    assert "3.11.2" in warnings[0]


@pytest.mark.parametrize(
    ("target", "both"),
    [
        (parse_target("linux/amd64", python="3.12"), ("CPython 3.11", "CPython 3.12")),
        (parse_target("linux/arm64", python="3.11"), ("x86_64", "aarch64")),
        (parse_target("linux/amd64", python="3.11", libc="musllinux_1_2"), ("glibc", "musllinux")),
    ],
)
def test_a_mismatch_that_matters_is_one_line_naming_both(target: object, both: tuple[str, str]) -> None:
    with pytest.raises(UsageError) as exc:
        check_base_image(PROBED, target)  # type: ignore[arg-type]
    message = str(exc.value)
    assert "\n" not in message
    assert all(word in message for word in both), message


def test_an_image_labelled_for_another_platform_than_it_runs_is_refused() -> None:
    # What `docker import --platform linux/arm64` makes on Docker 20.10: an arm64 file system labelled amd64.
    mislabelled = BaseImage("acme/arm", (3, 11), "3.11.2", "glibc", (2, 36), "aarch64", "probed", label="linux/amd64")
    with pytest.raises(UsageError) as exc:
        target_from_image(mislabelled)
    assert str(exc.value) == (
        "the base image acme/arm runs aarch64 programs (linux/arm64) but is labelled linux/amd64: a build for "
        "linux/arm64 would look for another image in a registry"
    )
    assert exc.value.hint is not None
    assert "FROM scratch" in exc.value.hint
    with pytest.raises(UsageError, match="but is labelled linux/amd64"):
        check_base_image(mislabelled, parse_target("linux/arm64", python="3.11"))


# -- the probe: presence, emulation --------------------------------------------------------------------------


def test_an_offline_probe_of_a_missing_image_says_how_to_load_it() -> None:
    client = client_with({("image", "inspect"): RunResult(1, "", "Error: No such image: acme/py:1")})
    with pytest.raises(DockerError) as exc:
        client.probe_image("acme/py:1", offline=True)
    assert str(exc.value) == "the base image acme/py:1 is not on this machine, and an offline build cannot pull it"
    assert exc.value.hint is not None
    assert "docker load -i FILE" in exc.value.hint
    assert "docker save acme/py:1" in exc.value.hint


def test_an_image_of_another_architecture_that_cannot_run_says_emulation_is_missing() -> None:
    client = client_with(
        {
            ("version",): RunResult(0, version_json()),
            ("buildx", "version"): RunResult(0),
            ("image", "inspect"): RunResult(0, "linux/arm64\n"),
            ("run",): RunResult(1, "", "exec /usr/bin/python3: exec format error\n"),
        }
    )
    with pytest.raises(DockerError) as exc:
        client.probe_image("acme/arm", offline=True)
    assert str(exc.value) == (
        "cannot run the linux/arm64 base image acme/arm on this linux/amd64 engine: there is no emulation for "
        "aarch64 (exec /usr/bin/python3: exec format error)"
    )
    assert exc.value.hint is not None
    assert "qemu-user-static binfmt-support" in exc.value.hint


# -- build without a target ----------------------------------------------------------------------------------


def _builds(fake: FakeDocker) -> list[dict[str, object]]:
    return [c for c in fake.calls() if isinstance(c["argv"], list) and c["argv"][:1] == ["build"]]


def test_build_offline_without_a_target_verifies_for_what_the_image_runs(
    project: Path, cli: Cli, fake_docker: FakeDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A download for this machine's Python, then a build on an image of another patch release, builds."""
    make_app_project(project)
    monkeypatch.setenv("FAKE_DOCKER_PYTHON", "3.11.2")
    result = cli("-v", "build", "--offline", "-t", "app", "--base-image", "acme/py:prod")
    assert result.exit_code == 0, result.output
    assert "target read from the base image acme/py:prod: cp311-manylinux_2_36_x86_64" in result.stderr
    assert "verified: wheels covers cp311-manylinux_2_36_x86_64" in result.stderr
    header = (project / "Dockerfile.offline").read_text().splitlines()[1]
    assert "--target cp311-manylinux_2_36_x86_64 --python 3.11.2 --base-image acme/py:prod" in header
    assert [b["argv"] for b in _builds(fake_docker)] == [
        ["build", "--network=none", "-f", "Dockerfile.offline", "-t", "app", "."]
    ]
    # The image was run once, with no network, to learn what it is.
    runs = [c["argv"] for c in fake_docker.calls() if isinstance(c["argv"], list) and c["argv"][:1] == ["run"]]
    assert len(runs) == 1
    assert runs[0][:3] == ["run", "--rm", "--network=none"]


def test_build_offline_without_a_target_checks_the_image_python_against_the_wheels(
    project: Path, cli: Cli, fake_docker: FakeDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wheels for CPython 3.11 only do not cover an image of 3.12: the gap report names the image's target."""
    make_app_project(project)
    (project / "wheels" / "alpha-1.0-py3-none-any.whl").unlink()
    from tests.support.wheels import write_wheel

    write_wheel(project / "wheels", "alpha", "1.0", requires_dist=["beta>=2"], tag="cp311-cp311-manylinux_2_17_x86_64")
    monkeypatch.setenv("FAKE_DOCKER_PYTHON", "3.12.4")
    result = cli("build", "--offline", "--base-image", "acme/py:prod")
    assert result.exit_code == 3, result.output
    assert "cp312-manylinux_2_36_x86_64" in result.output
    assert _builds(fake_docker) == []


def test_a_missing_base_image_stops_an_offline_build_in_one_line(
    project: Path, cli: Cli, fake_docker: FakeDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_app_project(project)
    monkeypatch.setenv("FAKE_DOCKER_MISSING", "python:3.11-slim")
    for args in ((), ("--target", "linux/amd64", "--python", "3.11")):
        result = cli("build", "--offline", "--base-image", "python:3.11-slim", *args)
        assert result.exit_code == 1, result.output
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert errors == [
            "error: the base image python:3.11-slim is not on this machine, and an offline build cannot pull it"
        ]
        assert "docker load" in result.stderr
        assert "wheelhouse verify" not in result.stderr
    assert _builds(fake_docker) == []


def test_a_mislabelled_base_image_is_refused_before_building(
    project: Path, cli: Cli, fake_docker: FakeDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_app_project(project)
    monkeypatch.setenv("FAKE_DOCKER_LABEL", "linux/amd64")
    result = cli("build", "--offline", "--base-image", "acme/py:3.11-arm64")
    assert result.exit_code == 2, result.output
    assert "runs aarch64 programs (linux/arm64) but is labelled linux/amd64" in result.stderr
    assert _builds(fake_docker) == []


# -- a one-off build leaves the project's rendered files alone -----------------------------------------------


def test_a_build_for_another_base_image_does_not_rewrite_the_rendered_files(
    project: Path, cli: Cli, fake_docker: FakeDocker
) -> None:
    make_app_project(project)
    target = ("--target", "linux/amd64", "--python", "3.11")
    assert cli("render", *target).exit_code == 0
    committed = {p.name: p.read_bytes() for p in project.iterdir() if p.is_file()}
    result = cli("-v", "build", "--offline", *target, "--base-image", "acme/py:other", "--base-python", "3.11")
    assert result.exit_code == 0, result.output
    assert {p.name: p.read_bytes() for p in project.iterdir() if p.is_file()} == committed
    assert cli("render", "--check", *target).exit_code == 0
    (build,) = _builds(fake_docker)
    argv = build["argv"]
    assert isinstance(argv, list)
    dockerfile = argv[argv.index("-f") + 1]
    assert dockerfile.endswith("/Dockerfile.offline")
    assert not dockerfile.startswith(str(project))
    rendered = build["dockerfile"]
    assert isinstance(rendered, dict)
    assert "FROM acme/py:other" in rendered["text"]
    # BuildKit filters the context with the ignore file beside the temporary Dockerfile.
    assert rendered["ignore"] is not None
    assert "leaving it as it is" in result.stderr
    assert not Path(dockerfile).exists(), "the temporary rendering is removed after the build"
    # Asked to, the build writes them.
    written = cli("build", "--offline", *target, "--base-image", "acme/py:other", "--base-python", "3.11", "--write")
    assert written.exit_code == 0, written.output
    assert "FROM acme/py:other" in (project / "Dockerfile.offline").read_text()
    assert _builds(fake_docker)[-1]["argv"][3] == "Dockerfile.offline"  # type: ignore[index]


def test_a_first_build_writes_the_missing_files(project: Path, cli: Cli, fake_docker: FakeDocker) -> None:
    make_app_project(project)
    result = cli("build", "--offline", "--target", "linux/amd64", "--python", "3.11")
    assert result.exit_code == 0, result.output
    assert "wrote Dockerfile.offline" in result.stderr
    assert _builds(fake_docker)[0]["argv"][3] == "Dockerfile.offline"  # type: ignore[index]


# -- the classic builder's install stage -----------------------------------------------------------------------


def test_stage_names_are_the_named_stages_before_the_last() -> None:
    text = "FROM a AS uv\nRUN x\nFROM --platform=linux/arm64 b AS install\nFROM b AS final\nCMD []\n"
    assert stage_names(text) == ("uv", "install")
    assert stage_names("FROM a\n") == ()


def test_the_classic_builder_removes_the_install_stage_image_it_left(
    project: Path, cli: Cli, fake_docker: FakeDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_app_project(project)
    monkeypatch.setenv("DOCKER_BUILDKIT", "0")
    target = ("--target", "linux/amd64", "--python", "3.11")
    # A real process: arguments after `--` reach docker build as they are.
    result = run_wheelhouse("-v", "build", "--offline", "-t", "app", *target, "--", "--no-cache", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    builds = [b["argv"] for b in _builds(fake_docker)]
    assert builds[0] == ["build", "--network=none", "-f", "Dockerfile.offline", "-t", "app", "--no-cache", "."]
    # The same build, quiet and from the cache it just filled (no --no-cache, no tag), up to the install stage.
    assert builds[1] == ["build", "--network=none", "-f", "Dockerfile.offline", "-q", "--target", "install", "."]
    calls = [c["argv"] for c in fake_docker.calls()]
    assert ["image", "rm", "sha256:" + "5" * 64] in calls
    assert "removed the install stage's image 555555555555" in result.stderr
