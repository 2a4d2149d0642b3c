"""Images rendered for speed: BuildKit mounts instead of copies, uv or pip chosen at render time, a build context
holding only the target's wheels, and Dockerfile.cached going to the folder first.

The first part renders and checks text; the second builds real images with the engine of
``scripts/docker-test-env.sh`` (skipped, saying why, where it does not run): the uv path, the pip path and the
classic builder, each checked for the app running, ``pip check``, compiled bytecode and no wheel in any layer.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import test_docker as docker_test
from tests.conftest import Cli
from tests.support.dockerfiles import runs
from tests.support.index_server import IndexServer
from tests.support.wheels import make_wheel, write_wheel
from tests.test_docker import _explain
from wheelhouse.docker.buildkit import HEAVY_DIR
from wheelhouse.docker.context import (
    HEAVY_WHEEL_BYTES,
    HeavyWheel,
    context_size,
    find_uv_wheel,
    heavy_wheels,
    uv_data_dir,
    with_uv,
)
from wheelhouse.docker.images import parse_base_image
from wheelhouse.docker.render import (
    DOCKERFILE_CACHED,
    DOCKERFILE_OFFLINE,
    DOCKERFILE_WHEELS,
    DOCKERIGNORE,
    RenderOptions,
    render,
)
from wheelhouse.errors import UsageError
from wheelhouse.requirements import RequirementSet
from wheelhouse.targets import parse_target

AMD64 = parse_target("linux/amd64", python="3.11")
ARM64 = parse_target("linux/arm64", python="3.11")
UV_AMD64 = "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
UV_ARM64 = "uv-0.13.9-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
TARGET_ARGS = ("--target", "linux/amd64", "--python", "3.11")


# The bytecode step of a virtualenv that holds only what its step installed: a batch of files per core.
COMPILE_ALL = (
    '{ modules="$(mktemp)"; find /opt/venv/lib -name \'*.py\' -print0 >"$modules"; '
    'xargs -0 -r -a "$modules" -P "$(nproc)" -n 400 /opt/venv/bin/python -m compileall -qq; rm -f "$modules"; }'
)


def options(**kwargs: object) -> RenderOptions:
    return RenderOptions(target=AMD64, base_image=parse_base_image("python:3.11-slim"), **kwargs)  # type: ignore[arg-type]


def mounts(run: str) -> list[str]:
    """The --mount flags of one RUN."""
    return [word for word in run.split() if word.startswith("--mount=")]


# -- the installer chosen at render time -------------------------------------------------------------------


HEAVY = (
    HeavyWheel("wheels/numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl", "numpy==2.4.6", "a" * 64),
    HeavyWheel("wheels/scipy-1.17.1-cp311-cp311-manylinux_2_28_x86_64.whl", "scipy==1.17.1", "b" * 64),
)


def test_a_uv_wheel_of_the_target_makes_the_offline_image_install_with_uv_in_two_layers() -> None:
    text = render(options(uv_wheel=f"wheels/{UV_AMD64}", heavy_wheels=HEAVY)).files[DOCKERFILE_OFFLINE]
    assert "FROM python:3.11-slim AS uv" in text
    extract, heavy, rest = runs(text)
    assert f"source=wheels/{UV_AMD64},target=/tmp/uv.whl" in extract
    assert "/tmp/uv/uv-0.13.9.data/scripts/uv /uv/bin/uv" in extract
    uv_mount = "--mount=type=bind,from=uv,source=/uv/bin,target=/tmp/wheelhouse/.uv"
    # Layer 1 mounts the heavy files one by one and nothing else: its cache key is those files' content.
    assert mounts(heavy) == [
        uv_mount,
        f"--mount=type=bind,source={HEAVY[0].path},target={HEAVY_DIR}/{HEAVY[0].filename}",
        f"--mount=type=bind,source={HEAVY[1].path},target={HEAVY_DIR}/{HEAVY[1].filename}",
    ]
    assert f"'{'a' * 64}  {HEAVY_DIR}/{HEAVY[0].filename}'" in heavy
    assert "| sha256sum -c - && /tmp/wheelhouse/.uv/uv venv" in heavy
    assert f"--find-links={HEAVY_DIR} --no-deps numpy==2.4.6 scipy==1.17.1" in heavy
    assert heavy.endswith("&& " + COMPILE_ALL)
    # Layer 2 mounts the folder and the requirements, installs exactly the requirements and compiles what it wrote.
    assert mounts(rest) == [
        uv_mount,
        "--mount=type=bind,source=wheels,target=/tmp/wheelhouse/wheels",
        "--mount=type=bind,source=requirements.txt,target=/tmp/wheelhouse/requirements.txt",
    ]
    assert "--find-links=/tmp/wheelhouse/wheels --exact --strict -r /tmp/wheelhouse/requirements.txt" in rest
    assert "find /opt/venv/lib -newer \"$mark\" -name '*.py' -exec /opt/venv/bin/python -m compileall" in rest
    assert "type=cache" not in text
    assert "cp -a" not in text
    # Nothing is copied from the context but the app: the wheels reach no layer.
    assert [line for line in text.splitlines() if line.startswith("COPY")] == ["COPY app/ ./"]
    # The pipe's status is sha256sum's; hadolint is told so right above the heavy layer's RUN.
    assert "# hadolint ignore=DL4006\nRUN " in text


def test_without_heavy_wheels_the_first_layer_only_makes_the_virtualenv() -> None:
    text = render(options(uv_wheel=f"wheels/{UV_AMD64}")).files[DOCKERFILE_OFFLINE]
    _extract, venv, rest = runs(text)
    assert "sha256sum" not in text
    assert venv.endswith('/tmp/wheelhouse/.uv/uv venv --quiet --no-cache --python="$(command -v python3)" /opt/venv')
    # Everything is new in layer 2: compiled on every core.
    assert rest.endswith("&& " + COMPILE_ALL)
    assert "mark=" not in rest


def test_a_lock_is_installed_with_its_hashes_by_uv() -> None:
    text = render(
        options(uv_wheel=f"wheels/{UV_AMD64}", lock="requirements.lock", requirements=(), heavy_wheels=HEAVY)
    ).files[DOCKERFILE_OFFLINE]
    heavy, rest = runs(text)[1:]
    assert "requirements.lock" not in heavy
    assert "--exact --strict --require-hashes -r /tmp/wheelhouse/requirements.lock" in rest


def test_without_uv_pip_installs_in_two_layers_from_mounts() -> None:
    text = render(options(heavy_wheels=HEAVY)).files[DOCKERFILE_OFFLINE]
    assert " AS " not in text  # one stage: nothing to copy between stages
    heavy, rest = runs(text)
    assert heavy.startswith(f"RUN --mount=type=bind,source={HEAVY[0].path},target={HEAVY_DIR}/{HEAVY[0].filename}")
    assert "| sha256sum -c - && python3 -m venv /opt/venv" in heavy
    assert f"--no-index --find-links={HEAVY_DIR} --only-binary=:all: --no-deps numpy==2.4.6 scipy==1.17.1" in heavy
    assert rest.startswith("RUN --mount=type=bind,source=wheels,target=/tmp/wheelhouse/wheels")
    assert "pip install --no-cache-dir --disable-pip-version-check --no-compile --no-index" in rest
    assert "-r /tmp/wheelhouse/requirements.txt" in rest
    # The compile step may not hide a failed install: it runs only after pip succeeded.
    assert rest.endswith(
        "-r /tmp/wheelhouse/requirements.txt && { find /opt/venv/lib -newer \"$mark\" -name '*.py' -exec "
        '/opt/venv/bin/python -m compileall -qq {} + || :; } && rm -f "$mark"'
    )


def test_without_uv_and_heavy_wheels_pip_compiles_everything_on_every_core() -> None:
    venv, install = runs(render(options()).files[DOCKERFILE_OFFLINE])
    assert venv == "RUN python3 -m venv /opt/venv"
    assert install.endswith("&& " + COMPILE_ALL)


@pytest.mark.parametrize(
    ("extra", "why"),
    [({"lock": "pylock.toml", "requirements": ()}, "pip reads pylock.toml"), ({"classic": True}, "classic")],
)
def test_pylock_and_the_classic_builder_keep_pip_even_with_a_uv_wheel(extra: dict[str, object], why: str) -> None:
    result = render(options(uv_wheel=f"wheels/{UV_AMD64}", **extra))
    assert result.options.installer == "pip", why
    assert "AS uv" not in result.files[DOCKERFILE_OFFLINE]


def test_classic_renders_the_two_stage_file_and_says_so_in_the_command() -> None:
    result = render(options(classic=True))
    text = result.files[DOCKERFILE_OFFLINE]
    assert "COPY wheels/ wheels/" in text
    assert "COPY --from=install /opt/venv /opt/venv" in text
    assert "--mount" not in text
    assert result.command.endswith(" --classic")
    assert "COPY wheels/ wheels/" in result.files[DOCKERFILE_WHEELS]


def test_network_none_goes_on_every_run_that_installs() -> None:
    text = render(options(uv_wheel=f"wheels/{UV_AMD64}", run_network_none=True)).files[DOCKERFILE_OFFLINE]
    assert all(run.startswith("RUN --network=none --mount=") for run in runs(text))


def test_a_path_a_mount_cannot_name_is_refused_with_the_classic_way_out() -> None:
    with pytest.raises(UsageError) as caught:
        render(options(requirements=("my reqs.txt",)))
    assert "--classic" in (caught.value.hint or "")
    render(options(requirements=("my reqs.txt",), classic=True))


def test_the_heavy_wheels_are_the_pinned_files_of_the_threshold_or_more(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "big-1.0-py3-none-any.whl").write_bytes(b"b" * HEAVY_WHEEL_BYTES)
    (wheels / "Small_Name-2.0.post1-py3-none-any.whl").write_bytes(b"s" * (HEAVY_WHEEL_BYTES - 1))
    (wheels / "Large_Name-2.0.post1-py3-none-any.whl").write_bytes(b"l" * (HEAVY_WHEEL_BYTES + 1))
    (wheels / "linked-1.0-py3-none-any.whl").symlink_to(wheels / "big-1.0-py3-none-any.whl")
    (wheels / "unpinned-1.0-py3-none-any.whl").write_bytes(b"u" * HEAVY_WHEEL_BYTES)
    pinned = [f"wheels/{name}" for name in ("linked-1.0-py3-none-any.whl", "Small_Name-2.0.post1-py3-none-any.whl")]
    pinned += ["wheels/big-1.0-py3-none-any.whl", "wheels/Large_Name-2.0.post1-py3-none-any.whl", "wheels/gone.whl"]
    found = heavy_wheels(tmp_path, pinned)
    # Sorted by path; the pin is the canonical name and the version; the sha256 is the file's content's.
    assert [(w.path, w.pin) for w in found] == [
        ("wheels/Large_Name-2.0.post1-py3-none-any.whl", "large-name==2.0.post1"),
        ("wheels/big-1.0-py3-none-any.whl", "big==1.0"),
    ]
    assert found[1].sha256 == hashlib.sha256(b"b" * HEAVY_WHEEL_BYTES).hexdigest()
    assert found[1].filename == "big-1.0-py3-none-any.whl"
    assert heavy_wheels(tmp_path, None) == ()
    assert heavy_wheels(tmp_path, pinned, threshold=10 * HEAVY_WHEEL_BYTES) == ()


def test_with_a_lock_a_heavy_wheel_the_lock_does_not_name_is_left_to_the_checked_install(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "a-1.0-py3-none-any.whl").write_bytes(b"a" * HEAVY_WHEEL_BYTES)
    (wheels / "b-1.0-py3-none-any.whl").write_bytes(b"b" * HEAVY_WHEEL_BYTES)
    good = hashlib.sha256(b"a" * HEAVY_WHEEL_BYTES).hexdigest()
    (tmp_path / "requirements.lock").write_text(
        f"a==1.0 \\\n    --hash=sha256:{good.upper()}\nb==1.0 \\\n    --hash=sha256:{'0' * 64}\n"
    )
    pinned = ["wheels/a-1.0-py3-none-any.whl", "wheels/b-1.0-py3-none-any.whl"]
    assert [w.pin for w in heavy_wheels(tmp_path, pinned, lock="requirements.lock")] == ["a==1.0"]
    # A lock that cannot be read names no hash: everything goes to the install that reads it (and fails there).
    assert heavy_wheels(tmp_path, pinned, lock="missing.lock") == ()
    # Read as requirement files are: a named pipe is not waited on.
    os.mkfifo(tmp_path / "pipe.lock")
    assert heavy_wheels(tmp_path, pinned, lock="pipe.lock") == ()


# -- Dockerfile.cached and Dockerfile.wheels -----------------------------------------------------------------


def test_the_cached_dockerfile_tries_the_folder_alone_before_the_index() -> None:
    install = next(run for run in runs(render(options()).files[DOCKERFILE_CACHED]) if "pip install" in run)
    assert install.startswith(
        "RUN --mount=type=cache,target=/root/.cache/pip --mount=type=bind,source=wheels,target=/build/wheels"
    )
    local, _, fallback = install.partition("||")
    assert "--no-index --find-links=wheels" in local
    assert "--no-index" not in fallback
    assert "--find-links=wheels" in fallback
    assert "--cache-dir=/root/.cache/pip" in local
    assert "--cache-dir=/root/.cache/pip" in fallback


def test_the_wheels_dockerfile_mounts_the_wheels_unless_classic() -> None:
    text = render(options()).files[DOCKERFILE_WHEELS]
    assert "COPY wheels/" not in text
    install = next(run for run in runs(text) if "pip install" in run)
    assert install.startswith("RUN --mount=type=bind,source=wheels,target=/build/wheels")


# -- the build context -------------------------------------------------------------------------------------


def test_the_dockerignore_lets_through_only_the_named_wheels_and_uv() -> None:
    wheels = ("wheels/a-1.0-py3-none-any.whl", "wheels/b-2.0-py3-none-any.whl")
    text = render(options(context_wheels=wheels, uv_wheel=f"wheels/{UV_AMD64}")).files[DOCKERIGNORE]
    rules = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert rules[:5] == ["*", f"!{wheels[0]}", f"!{wheels[1]}", f"!wheels/{UV_AMD64}", "!requirements.txt"]
    assert "!wheels" not in rules


def test_find_uv_wheel_takes_the_newest_that_runs_on_the_target() -> None:
    names = [UV_AMD64, UV_ARM64, "uv-0.9.0-py3-none-manylinux_2_17_x86_64.whl", "uv-1.0.0a1-py3-none-any.whl"]
    names += ["uv-0.14.0-py3-none-win_amd64.whl", "uvicorn-1.0-py3-none-any.whl", "uv-bad.whl"]
    assert find_uv_wheel(Path("unused"), AMD64, names) == UV_AMD64
    assert find_uv_wheel(Path("unused"), ARM64, names) == UV_ARM64
    musl = parse_target("linux/amd64", python="3.11", libc="musllinux_1_2")
    assert find_uv_wheel(Path("unused"), musl, names) is None
    assert uv_data_dir(UV_AMD64) == "uv-0.13.9.data"


def test_with_uv_adds_uv_once() -> None:
    added = with_uv(RequirementSet())
    assert [line.name for line in added.requirements] == ["uv"]
    assert with_uv(added) == added


def test_context_size_counts_files_once_and_skips_the_folders_bookkeeping(tmp_path: Path) -> None:
    (tmp_path / "wheels" / ".wheelhouse").mkdir(parents=True)
    (tmp_path / "wheels" / ".wheelhouse" / "manifest.json").write_bytes(b"x" * 100)
    (tmp_path / "wheels" / "a.whl").write_bytes(b"x" * 10)
    (tmp_path / "requirements.txt").write_bytes(b"a\n")
    size = context_size(tmp_path, ["wheels", "wheels/a.whl", "requirements.txt", "missing"])
    assert (size.files, size.bytes) == (2, 12)


def test_render_carries_only_the_targets_wheels_and_reports_the_context(project: Path, cli: Cli) -> None:
    write_wheel(project / "wheels", "alpha", "1.0", requires_dist=["beta>=2"])
    write_wheel(project / "wheels", "alpha", "0.9")
    write_wheel(project / "wheels", "beta", "2.1", tag="cp311-cp311-manylinux_2_17_x86_64")
    write_wheel(project / "wheels", "beta", "2.1", tag="cp311-cp311-manylinux_2_17_aarch64")
    uv_name, uv_data = make_wheel("uv", "0.13.9", tag="py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64")
    (project / "wheels" / uv_name).write_bytes(uv_data)
    (project / "requirements.txt").write_text("alpha\n")
    result = cli("render", *TARGET_ARGS)
    assert result.exit_code == 0, result.output
    allowed = [line for line in (project / DOCKERIGNORE).read_text().splitlines() if line.startswith("!wheels")]
    assert allowed == [
        "!wheels/alpha-1.0-py3-none-any.whl",
        "!wheels/beta-2.1-cp311-cp311-manylinux_2_17_x86_64.whl",
        f"!wheels/{uv_name}",
    ]
    assert "offline installer: uv" in result.stderr
    assert "build context: 4 files" in result.stderr
    assert "AS uv" in (project / DOCKERFILE_OFFLINE).read_text()
    # A folder that does not cover the target is carried whole: an online Dockerfile fills the gap.
    (project / "requirements.txt").write_text("alpha\ngamma\n")
    assert cli("render", *TARGET_ARGS).exit_code == 0
    assert "!wheels\n" in (project / DOCKERIGNORE).read_text()


def test_render_puts_the_folders_heavy_wheels_into_their_own_layer_by_their_sha256(project: Path, cli: Cli) -> None:
    write_wheel(project / "wheels", "alpha", "1.0", requires_dist=["big"])
    name, data = make_wheel("big", "2.0", files={"big/blob.bin": os.urandom(HEAVY_WHEEL_BYTES)})
    (project / "wheels" / name).write_bytes(data)
    (project / "requirements.txt").write_text("alpha\n")
    assert cli("render", *TARGET_ARGS).exit_code == 0
    heavy, rest = runs((project / DOCKERFILE_OFFLINE).read_text())
    assert mounts(heavy) == [f"--mount=type=bind,source=wheels/{name},target={HEAVY_DIR}/{name}"]
    assert f"'{hashlib.sha256(data).hexdigest()}  {HEAVY_DIR}/{name}'" in heavy
    assert "--no-deps big==2.0" in heavy
    assert "alpha" not in heavy
    assert "-r /tmp/wheelhouse/requirements.txt" in rest
    # The rendering follows the file: other bytes under the same name make the committed file stale.
    (project / "wheels" / name).write_bytes(
        make_wheel("big", "2.0", files={"big/blob.bin": os.urandom(HEAVY_WHEEL_BYTES)})[1]
    )
    assert cli("render", *TARGET_ARGS, "--check").exit_code == 1
    # The classic builder's file has no heavy layer.
    assert cli("render", *TARGET_ARGS, "--classic").exit_code == 0
    assert "sha256sum" not in (project / DOCKERFILE_OFFLINE).read_text()


# -- real images -------------------------------------------------------------------------------------------


class Engine(docker_test.Engine):
    """The shared test engine, with the longer limits of builds that compile a virtualenv."""

    name = "speed"
    docker_timeout = 600
    wheelhouse_timeout = 900

    def image_args(self) -> tuple[str, ...]:
        return (*TARGET_ARGS, "--base-image", self.base_image, "--base-python", "3.11")


@pytest.fixture
def engine() -> Iterator[Engine]:
    yield from docker_test.running(Engine)


def _uv_binary() -> Path:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        pytest.skip("uv is not installed here (it is a test dependency: pip install uv)")
    return Path(found)


def write_uv_wheel(wheels: Path) -> str:
    """A uv wheel for linux/amd64 holding this environment's own uv binary, as uv's wheels on the index do."""
    binary = _uv_binary()
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True).stdout.split()[1]
    name, data = make_wheel(
        "uv",
        version,
        tag="py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64",
        files={f"uv-{version}.data/scripts/uv": binary.read_bytes()},
    )
    (wheels / name).write_bytes(data)
    return name


def make_project(root: Path, *, uv: bool) -> str:
    """alpha 1.0 needs beta>=2 (beta has a console script) and delta, whose wheel is heavy (random bytes, so no
    other run shares its layer); the app imports alpha and beta. Returns delta's sha256, which the rendered
    heavy layer names (the build cache records to prune)."""
    write_wheel(root / "wheels", "alpha", "1.0", requires_dist=["beta>=2", "delta"])
    write_wheel(root / "wheels", "beta", "2.1")
    write_wheel(root / "wheels", "gamma", "3.0")
    name, data = make_wheel(
        "delta",
        "4.0",
        files={"delta/__init__.py": b"VERSION = '4.0'\n", "delta/blob.bin": os.urandom(HEAVY_WHEEL_BYTES + 1024)},
    )
    (root / "wheels" / name).write_bytes(data)
    if uv:
        write_uv_wheel(root / "wheels")
    (root / "requirements.txt").write_text(f"alpha==1.0\n# {uuid.uuid4().hex}\n")
    (root / "app").mkdir(exist_ok=True)
    (root / "app" / "main.py").write_text(
        "import alpha, beta\nprint(f'alpha {alpha.__version__} beta {beta.__version__}')\n"
    )
    return hashlib.sha256(data).hexdigest()


def layers(engine: Engine, image: str) -> list[str]:
    """The diff ids of an image's layers, the base image's first."""
    inspected = engine.docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", image)
    assert inspected.returncode == 0, _explain(inspected)
    found: list[str] = json.loads(inspected.stdout)
    return found


def assert_image_is_clean(engine: Engine, tag: str) -> None:
    """The app runs with no network, pip check is clean, the bytecode is there and current, and no layer of the
    image holds a wheel."""
    ran = engine.docker("run", "--rm", "--network=none", tag)
    assert ran.returncode == 0, _explain(ran)
    assert ran.stdout.strip() == "alpha 1.0 beta 2.1"
    # The base image's own pip checks the virtualenv (the uv image has no pip of its own).
    checked = engine.docker(
        "run",
        "--rm",
        "--network=none",
        tag,
        "/usr/bin/python3",
        "-m",
        "pip",
        "--python",
        "/opt/venv/bin/python",
        "check",
    )
    assert checked.returncode == 0, _explain(checked)
    # A read-only file system: a module whose bytecode were missing or stale would need writing, and compileall
    # exits non-zero when it cannot write.
    compiled = engine.docker(
        "run",
        "--rm",
        "--network=none",
        "--read-only",
        tag,
        "/opt/venv/bin/python",
        "-m",
        "compileall",
        "-q",
        "/opt/venv/lib",
    )
    assert compiled.returncode == 0, _explain(compiled)
    assert (
        "alpha/__pycache__"
        in engine.docker(
            "run", "--rm", "--network=none", tag, "find", "/opt/venv/lib", "-path", "*alpha/__pycache__*"
        ).stdout
    )
    saved = subprocess.run(
        [engine.client, "save", tag], env=engine.env, capture_output=True, check=True, timeout=600
    ).stdout
    base = engine.docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", engine.base_image)
    base_layers = len(json.loads(base.stdout))
    members: list[str] = []
    with tarfile.open(fileobj=io.BytesIO(saved)) as image:
        manifest = image.extractfile("manifest.json")
        assert manifest is not None
        # The base image's own layers are not ours to judge (Debian keeps pip's wheel for ensurepip).
        for name in json.load(manifest)[0]["Layers"][base_layers:]:
            handle = image.extractfile(name)
            assert handle is not None
            with tarfile.open(fileobj=handle) as files:
                members += files.getnames()
    assert any("opt/venv" in m for m in members), "the image's own layers hold no virtualenv"
    assert not [m for m in members if m.endswith(".whl")], "a wheel is in a layer of the image"
    history = engine.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", tag)
    assert "COPY wheels" not in history.stdout


@pytest.mark.docker
@pytest.mark.slow
def test_the_uv_image_builds_offline_and_a_rebuild_reuses_the_heavy_layer(tmp_path: Path, engine: Engine) -> None:
    engine.cache_marks.append(make_project(tmp_path, uv=True))
    tag = engine.tag()
    build = ("build", "--offline", "-t", tag, *engine.image_args(), "--docker", engine.client)
    built = engine.wheelhouse(*build, cwd=tmp_path)
    assert built.returncode == 0, _explain(built)
    assert "offline installer: uv" in built.stderr
    dockerfile = (tmp_path / DOCKERFILE_OFFLINE).read_text()
    assert "AS uv" in dockerfile
    assert "--no-deps delta==4.0" in dockerfile
    assert_image_is_clean(engine, tag)
    base = len(layers(engine, engine.base_image))
    first = layers(engine, tag)
    # A one-line change: gamma, a project new to the closure, joins, then leaves again. The heavy layer (the
    # first the image adds) is reused each time; the layer of the rest follows the requirements exactly.
    with open(tmp_path / "requirements.txt", "a") as handle:
        handle.write("gamma\n")
    again = engine.wheelhouse(*build, cwd=tmp_path)
    assert again.returncode == 0, _explain(again)
    listed = engine.docker("run", "--rm", "--network=none", tag, "ls", "/opt/venv/lib/python3.11/site-packages")
    assert "gamma" in listed.stdout.split()
    second = layers(engine, tag)
    assert second[: base + 1] == first[: base + 1], "the heavy layer was built again"
    assert second[base + 1] != first[base + 1]
    (tmp_path / "requirements.txt").write_text("alpha==1.0\n")
    third = engine.wheelhouse(*build, cwd=tmp_path)
    assert third.returncode == 0, _explain(third)
    listed = engine.docker("run", "--rm", "--network=none", tag, "ls", "/opt/venv/lib/python3.11/site-packages")
    assert "gamma" not in listed.stdout.split()
    assert "delta" in listed.stdout.split()
    assert layers(engine, tag)[: base + 1] == first[: base + 1]
    assert_image_is_clean(engine, tag)


@pytest.mark.docker
@pytest.mark.slow
def test_a_heavy_wheel_that_no_longer_matches_the_rendering_fails_the_build(tmp_path: Path, engine: Engine) -> None:
    engine.cache_marks.append(make_project(tmp_path, uv=False))
    rendered = engine.wheelhouse("render", *engine.image_args(), cwd=tmp_path)
    assert rendered.returncode == 0, _explain(rendered)
    # The same file name, other bytes (as a wheel replaced after the rendering): the heavy layer refuses it.
    (heavy,) = (tmp_path / "wheels").glob("delta-*.whl")
    heavy.write_bytes(make_wheel("delta", "4.0", files={"delta/__init__.py": b"EVIL = True\n"})[1])
    tag = engine.tag()
    built = engine.docker("build", "--network=none", "-f", DOCKERFILE_OFFLINE, "-t", tag, ".", cwd=tmp_path)
    assert built.returncode != 0
    assert f"{heavy.name}: FAILED" in built.stdout + built.stderr


@pytest.mark.docker
@pytest.mark.slow
def test_the_uv_image_installs_a_lock_by_its_hashes(tmp_path: Path, engine: Engine) -> None:
    engine.cache_marks.append(make_project(tmp_path, uv=True))
    locked = engine.wheelhouse("lock", *TARGET_ARGS, cwd=tmp_path)
    assert locked.returncode == 0, _explain(locked)
    tag = engine.tag()
    built = engine.wheelhouse(
        "build", "--offline", "-t", tag, *engine.image_args(), "--docker", engine.client, cwd=tmp_path
    )
    assert built.returncode == 0, _explain(built)
    dockerfile = (tmp_path / DOCKERFILE_OFFLINE).read_text()
    assert "--require-hashes -r /tmp/wheelhouse/requirements.lock" in dockerfile
    assert "--no-deps delta==4.0" in dockerfile
    assert_image_is_clean(engine, tag)


@pytest.mark.docker
@pytest.mark.slow
def test_the_pip_image_builds_offline_from_mounts(tmp_path: Path, engine: Engine) -> None:
    engine.cache_marks.append(make_project(tmp_path, uv=False))
    tag = engine.tag()
    built = engine.wheelhouse(
        "build",
        "--offline",
        "-t",
        tag,
        *engine.image_args(),
        "--docker",
        engine.client,
        "--",
        "--no-cache",
        cwd=tmp_path,
    )
    assert built.returncode == 0, _explain(built)
    assert "offline installer: pip" in built.stderr
    dockerfile = (tmp_path / DOCKERFILE_OFFLINE).read_text()
    assert "--mount=type=bind,source=wheels" in dockerfile
    assert "--no-deps delta==4.0" in dockerfile
    assert_image_is_clean(engine, tag)


@pytest.mark.docker
@pytest.mark.slow
def test_the_classic_rendering_builds_with_the_classic_builder(tmp_path: Path, engine: Engine) -> None:
    engine.cache_marks.append(make_project(tmp_path, uv=True))
    rendered = engine.wheelhouse("render", "--classic", *engine.image_args(), cwd=tmp_path)
    assert rendered.returncode == 0, _explain(rendered)
    tag = engine.tag()
    classic = {**engine.env, "DOCKER_BUILDKIT": "0"}
    built = engine.docker(
        "build", "--network=none", "--no-cache", "-f", DOCKERFILE_OFFLINE, "-t", tag, ".", cwd=tmp_path, env=classic
    )
    assert built.returncode == 0, _explain(built)
    assert "Sending build context to Docker daemon" in built.stdout
    assert_image_is_clean(engine, tag)


@pytest.mark.docker
@pytest.mark.slow
def test_the_cached_dockerfile_builds_from_the_folder_without_the_index(tmp_path: Path, engine: Engine) -> None:
    engine.cache_marks.append(make_project(tmp_path, uv=False))
    rendered = engine.wheelhouse("render", *engine.image_args(), cwd=tmp_path)
    assert rendered.returncode == 0, _explain(rendered)
    tag = engine.tag()
    # No network at all: local-first means the folder alone serves a covered install.
    built = engine.docker("build", "--network=none", "-f", DOCKERFILE_CACHED, "-t", tag, ".", cwd=tmp_path)
    assert built.returncode == 0, _explain(built)
    # pip names the index it looks in when it uses one; the local-first install names only the folder.
    output = built.stdout + built.stderr
    assert "Looking in links: wheels" in output
    assert "Looking in indexes" not in output
    assert_image_is_clean(engine, tag)


def test_download_with_uv_fetches_uv_for_each_target_and_render_then_installs_with_it(
    project: Path, cli: Cli, index_server: IndexServer
) -> None:
    index_server.add_wheel("alpha", "1.0")
    for platform in ("manylinux_2_17_x86_64.manylinux2014_x86_64", "manylinux_2_17_aarch64.manylinux2014_aarch64"):
        index_server.add_wheel("uv", "0.13.9", tag=f"py3-none-{platform}")
    (project / "requirements.txt").write_text("alpha\n")
    args = ["download", "--index-url", index_server.index_url, "--python", "3.11"]
    without = cli(*args, "--target", "linux/amd64")
    assert without.exit_code == 0, without.output
    assert not list((project / "wheels").glob("uv-*"))
    fetched = cli(*args, "--target", "linux/amd64", "--target", "linux/arm64", "--with-uv")
    assert fetched.exit_code == 0, fetched.output
    assert sorted(p.name for p in (project / "wheels").glob("uv-*")) == [UV_ARM64, UV_AMD64]
    assert cli("render", *TARGET_ARGS).exit_code == 0
    assert f"source=wheels/{UV_AMD64}" in (project / DOCKERFILE_OFFLINE).read_text()
