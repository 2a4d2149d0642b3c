"""render and build --offline with a pylock.toml: the image installs it with hashes enforced, through a pip that
reads it (upgraded from the wheels folder when the image's own is older), and build verifies all of that first."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import os
import re
import shlex
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.version import Version

from tests.conftest import Cli
from tests.support.wheels import write_wheel
from tests.test_docker import Engine, FakeDocker, _explain, running
from wheelhouse.docker.render import (
    DOCKERFILE_OFFLINE,
    DOCKERFILE_WHEELS,
    DOCKERIGNORE,
    PYLOCK_PIP,
    RENDERED_FILES,
)

HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
TARGET = ("--target", "linux/amd64", "--python", "3.11")


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeDocker:
    return FakeDocker(tmp_path / "fakebin", monkeypatch)


def make_app(root: Path) -> None:
    """alpha needs beta; the app prints both versions."""
    write_wheel(root / "wheels", "alpha", "1.0", requires_dist=["beta>=2"])
    write_wheel(root / "wheels", "beta", "2.1")
    (root / "requirements.txt").write_text("alpha==1.0\n")
    (root / "app").mkdir(exist_ok=True)
    (root / "app" / "main.py").write_text(
        "import alpha, beta\nprint(f'alpha {alpha.__version__} beta {beta.__version__}')\n"
    )


def _lock(cli: Cli, *target: str) -> None:
    result = cli("lock", "--format", "pylock", *target)
    assert result.exit_code == 0, result.output


# Where the offline Dockerfile bind-mounts the build context's wheels and lock for its one install RUN.
MOUNTS = "/tmp/wheelhouse/"


def _in_context(dockerfile: str) -> str:
    """The Dockerfile with the mount points of its install RUN written as paths of the build context."""
    return dockerfile.replace(MOUNTS, "")


def _run_steps(dockerfile: str) -> list[str]:
    """The pip commands of the install RUN instructions, continuations joined, ``&&`` split, mount options
    dropped and mounted paths written as paths of the build context (where the test runs them)."""
    out: list[str] = []
    pending = ""
    for line in _in_context(dockerfile).splitlines():
        if pending or line.startswith("RUN "):
            pending += line.rstrip("\\").strip() + " "
            if not line.endswith("\\"):
                words = pending.strip().removeprefix("RUN ").split(" ")
                command = " ".join(w for w in words if not w.startswith("--mount="))
                out += [part.strip() for part in command.split(" && ") if "-m pip install" in part]
                pending = ""
    return out


def test_render_installs_the_pylock_with_hashes_through_a_pip_that_reads_it(cli: Cli, project: Path) -> None:
    make_app(project)
    _lock(cli, *TARGET)
    result = cli("render", *TARGET)
    assert result.exit_code == 0, result.output
    offline = (project / DOCKERFILE_OFFLINE).read_text()
    assert f"--mount=type=bind,source=pylock.toml,target={MOUNTS}pylock.toml" in offline
    steps = _run_steps(offline)
    assert steps == [
        "/opt/venv/bin/python -m pip install --no-cache-dir --disable-pip-version-check --no-index "
        f"--find-links=wheels --only-binary=:all: '{PYLOCK_PIP}'",
        "/opt/venv/bin/python -m pip install --no-cache-dir --disable-pip-version-check --no-compile --no-index "
        "--find-links=wheels --only-binary=:all: --require-hashes -r pylock.toml",
    ]
    # The reproducing command needs no --lock: pylock.toml is found as requirements.lock is.
    assert "--lock" not in offline.splitlines()[1]
    # One RUN, so the network flags of the install (--run-network-none) cover the upgrade of pip too.
    assert sum(1 for line in offline.splitlines() if line.startswith("RUN --mount=type=bind,source=wheels")) == 1
    assert "!pylock.toml" in (project / DOCKERIGNORE).read_text().splitlines()
    wheels = (project / DOCKERFILE_WHEELS).read_text()
    assert f"--find-links=wheels --only-binary=:all: '{PYLOCK_PIP}'" in wheels
    assert "-r pylock.toml" in wheels
    assert cli("render", *TARGET, "--check").exit_code == 0


def test_requirements_lock_still_wins_over_a_pylock_beside_it(cli: Cli, project: Path) -> None:
    make_app(project)
    _lock(cli, *TARGET)
    assert cli("lock", *TARGET).exit_code == 0
    assert cli("render", *TARGET).exit_code == 0
    offline = _in_context((project / DOCKERFILE_OFFLINE).read_text())
    assert "--require-hashes -r requirements.lock" in offline
    assert PYLOCK_PIP not in offline
    named = cli("render", *TARGET, "--lock", "pylock.toml")
    assert named.exit_code == 0, named.output
    assert "--require-hashes -r pylock.toml" in _in_context((project / DOCKERFILE_OFFLINE).read_text())


def _header_command(path: Path) -> list[str]:
    """The arguments of the ``wheelhouse render`` command a rendered file's header says re-creates it."""
    argv = shlex.split(path.read_text().splitlines()[1].removeprefix("#   "))
    assert argv[:2] == ["wheelhouse", "render"]
    return argv[1:]


@pytest.mark.parametrize(
    ("choice", "installs"),
    [
        (("--lock", "pylock.toml"), "--require-hashes -r pylock.toml"),
        (("--lock", "requirements.lock"), "--require-hashes -r requirements.lock"),
        (("--no-lock",), "-r requirements.txt"),
    ],
)
def test_the_header_command_reproduces_a_render_that_chose_its_lock(
    cli: Cli, project: Path, choice: tuple[str, ...], installs: str
) -> None:
    """With both locks in the context the default picks requirements.lock; a render that named the other one (or
    none) says so in its header, so running the header's command again gives the same files."""
    make_app(project)
    _lock(cli, *TARGET)
    assert cli("lock", *TARGET).exit_code == 0
    rendered = cli("render", *TARGET, *choice)
    assert rendered.exit_code == 0, rendered.output
    offline = project / DOCKERFILE_OFFLINE
    first = {name: (project / name).read_text() for name in RENDERED_FILES}
    assert installs in _in_context(first[DOCKERFILE_OFFLINE])
    command = _header_command(offline)
    assert " ".join(choice) in shlex.join(command)
    assert cli(*command, "--check").exit_code == 0
    # Rendered the default way in between, the files change; the header's command brings back the same bytes.
    assert cli("render", *TARGET).exit_code == 0
    if choice != ("--lock", "requirements.lock"):
        assert offline.read_text() != first[DOCKERFILE_OFFLINE]
    again = cli(*command)
    assert again.exit_code == 0, again.output
    assert {name: (project / name).read_text() for name in RENDERED_FILES} == first


def test_render_refuses_a_target_the_pylock_cannot_serve(cli: Cli, project: Path) -> None:
    make_app(project)
    _lock(cli, *TARGET)
    result = cli("render", "--target", "linux/arm64", "--python", "3.11")
    assert result.exit_code == 3
    assert "pylock.toml cannot serve target cp311-manylinux_2_28_aarch64" in result.output
    assert "cp311-manylinux_2_28_x86_64" in result.output
    assert not (project / DOCKERFILE_OFFLINE).exists()


def test_build_offline_verifies_the_pip_that_reads_the_lock(cli: Cli, project: Path, fake_docker: FakeDocker) -> None:
    make_app(project)
    _lock(cli, *TARGET)
    result = cli("build", "--offline", "-t", "app", *TARGET)
    assert result.exit_code == 3
    assert f"{PYLOCK_PIP}: no file for pip" in result.stdout
    assert f"fix: wheelhouse download --target cp311-manylinux_2_28_x86_64 -r pylock.toml '{PYLOCK_PIP}'" in (
        result.stdout
    )
    assert fake_docker.calls() == []
    _pip_wheel(project / "wheels")
    built = cli("build", "--offline", "-t", "app", *TARGET)
    assert built.exit_code == 0, built.output
    assert fake_docker.builds() == [["build", "--network=none", "-f", "Dockerfile.offline", "-t", "app", "."]]


def _pip_wheel(directory: Path) -> Path:
    """A wheel of the pip running these tests (26.1 or newer, from the test extra), rebuilt from its installed
    files: the tests reach no index, and the image's older pip is upgraded from exactly such a wheel."""
    dist = importlib.metadata.distribution("pip")
    version = dist.version
    info = f"pip-{version}.dist-info"
    path = directory / f"pip-{version}-py3-none-any.whl"
    record: list[str] = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in dist.files or ():
            name = str(file)
            top = name.split("/", 1)[0]
            if "__pycache__" in name or top not in ("pip", info) or name.endswith(("/RECORD", "/INSTALLER")):
                continue
            if name.endswith(("/REQUESTED", "/direct_url.json")):
                continue
            data = Path(str(file.locate())).read_bytes()
            archive.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{name},sha256={digest},{len(data)}")
        record.append(f"{info}/RECORD,,")
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path


def _old_pip_venv(where: Path) -> Path:
    """A virtualenv with the pip this Python bundles, as ``python3 -m venv`` makes one in the image."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=300, capture_output=True)
    return where


def test_the_rendered_offline_install_runs_with_an_old_pip_and_enforces_hashes(
    cli: Cli, project: Path, tmp_path: Path
) -> None:
    """The install stage's pip steps, run outside Docker against a venv with the pip ``ensurepip`` bundles."""
    make_app(project)
    _pip_wheel(project / "wheels")
    _lock(cli, "--python", HOST_PYTHON)
    assert cli("render", "--python", HOST_PYTHON, "--base-image", f"python:{HOST_PYTHON}-slim").exit_code == 0
    steps = _run_steps((project / DOCKERFILE_OFFLINE).read_text())
    venv = _old_pip_venv(tmp_path / "venv")
    python = venv / "bin" / "python"
    bundled = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True, text=True, check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull

    def run_steps() -> subprocess.CompletedProcess[str]:
        for step in steps:
            done = subprocess.run(
                step.replace("/opt/venv", str(venv)),
                shell=True,
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            if done.returncode != 0:
                return done
        return done

    first = run_steps()
    assert first.returncode == 0, first.stdout + first.stderr
    after = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True, text=True, check=True)
    assert Version(after.stdout.split()[1]) >= Version("26.1")
    if Version(bundled.stdout.split()[1]) < Version("26.1"):
        assert after.stdout != bundled.stdout
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True)
    assert {"alpha==1.0", "beta==2.1"} <= set(listed.stdout.split())
    # A wheel changed after locking is refused by the hash the lock holds.
    subprocess.run([str(python), "-m", "pip", "uninstall", "-y", "beta"], check=True, capture_output=True, env=env)
    beta = project / "wheels" / "beta-2.1-py3-none-any.whl"
    with zipfile.ZipFile(beta, "a") as archive:
        archive.writestr("beta/evil.py", "raise SystemExit\n")
    refused = run_steps()
    assert refused.returncode != 0
    assert re.search(r"hash", refused.stderr, re.IGNORECASE), refused.stderr


# -- a real engine (scripts/docker-test-env.sh) ------------------------------------------------------------------


@pytest.fixture
def engine() -> Iterator[Engine]:
    yield from running(Engine)


@pytest.mark.docker
def test_the_offline_image_installs_the_pylock_with_no_network(tmp_path: Path, engine: Engine) -> None:
    """The test image's Debian pip (23.x) cannot read pylock.toml: the build upgrades it from the wheels folder,
    with no network, then installs the lock with its hashes checked; a wheel changed since is refused before it."""
    make_app(tmp_path)
    _pip_wheel(tmp_path / "wheels")
    locked = engine.wheelhouse("lock", "--format", "pylock", *TARGET, cwd=tmp_path)
    assert locked.returncode == 0, _explain(locked)
    tag = engine.tag()
    built = engine.wheelhouse("build", "--offline", "-t", tag, *engine.build_args(), "--", "--no-cache", cwd=tmp_path)
    assert built.returncode == 0, _explain(built)
    assert "--require-hashes -r pylock.toml" in _in_context((tmp_path / DOCKERFILE_OFFLINE).read_text())
    ran = engine.run_app(tag)
    assert ran.returncode == 0, _explain(ran)
    assert ran.stdout.strip() == "alpha 1.0 beta 2.1"
    pip = engine.docker("run", "--rm", "--network=none", tag, "python", "-m", "pip", "--version")
    assert Version(pip.stdout.split()[1]) >= Version("26.1"), _explain(pip)
    beta = tmp_path / "wheels" / "beta-2.1-py3-none-any.whl"
    with zipfile.ZipFile(beta, "a") as archive:
        archive.writestr("beta/evil.py", "raise SystemExit\n")
    tampered = engine.wheelhouse("build", "--offline", "-t", engine.tag(), *engine.build_args(), cwd=tmp_path)
    # The verify before the build finds the changed file against the lock's hashes (pip's would, later).
    assert tampered.returncode == 3, _explain(tampered)
    assert "rejected beta-2.1-py3-none-any.whl: sha256 " in tampered.stdout
    assert "is not among the hashes pinned by pylock.toml" in tampered.stdout


def test_the_context_of_a_pylock_render_carries_the_locked_wheels_and_the_pip_that_reads_them(
    cli: Cli, project: Path
) -> None:
    """The pip the image needs for a pylock.toml is added to what the lock installs; it does not stand for it
    (as a package named on the command line stands for the configured requirements)."""
    make_app(project)
    _pip_wheel(project / "wheels")
    _lock(cli, *TARGET)
    assert cli("render", *TARGET).exit_code == 0
    let_through = [line for line in (project / DOCKERIGNORE).read_text().splitlines() if line.startswith("!")]
    assert [line for line in let_through if line.startswith("!wheels/")] == [
        "!wheels/alpha-1.0-py3-none-any.whl",
        "!wheels/beta-2.1-py3-none-any.whl",
        f"!wheels/{_pip_wheel(project / 'wheels').name}",
    ]
