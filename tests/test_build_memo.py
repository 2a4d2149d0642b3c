"""A wheel is built once per (sdist sha256, place); a failed build is remembered until ``--retry-builds``; a wheel
built to learn an sdist's metadata is the one the build stage commits; independent sdists build at once; a binary
built here carries the glibc its ELF files need.

pip runs for real here (with ``--no-build-isolation``, so no index is needed), through a runner that counts the
pip processes: the counts are the claims.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import threading
import time
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from tests.support.wheels import make_sdist, make_wheel, metadata_text
from wheelhouse._proc import CAPTURE, Output, RunResult, subprocess_runner
from wheelhouse.build.builder import build_sdists
from wheelhouse.build.metadata import SdistMetadata
from wheelhouse.build.model import BuildOptions, SdistBuild
from wheelhouse.build.wheeltags import elf_needs, retag
from wheelhouse.dists import DistFile, parse_dist_filename
from wheelhouse.store.folder import Store
from wheelhouse.store.metadata import read_wheel_metadata
from wheelhouse.targets import Target, host_target, parse_target

HOST = host_target()
PY = f"{HOST.python_version[0]}.{HOST.python_version[1]}"
FOREIGN = parse_target("linux/arm64" if HOST.arch != "aarch64" else "linux/amd64", python=PY)
BINARY_SETUP_PY = (
    "from setuptools import Distribution, setup\n\n"
    "class BinaryDistribution(Distribution):\n"
    "    def has_ext_modules(self):\n"
    "        return True\n\n"
    "setup(distclass=BinaryDistribution)\n"
)
FAILING_SETUP_PY = "import sys\nsys.exit('error: this project cannot be built (missing libfrobnicate)')\n"
NO_ISOLATION = BuildOptions(isolation=False)


@pytest.fixture(autouse=True)
def _no_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHEELHOUSE_DOCKER", "/nonexistent/docker")


class CountingRunner:
    """The real runner, counting the pip processes it starts."""

    def __init__(self) -> None:
        self.pip_runs: list[list[str]] = []

    def __call__(
        self, argv: Sequence[str], *, env: Mapping[str, str], output: Output = CAPTURE, timeout: float | None = None
    ) -> RunResult:
        if "pip" in argv:
            self.pip_runs.append(list(argv))
        return subprocess_runner(argv, env=env, output=output, timeout=timeout)


def static_pkg_info(name: str, version: str) -> str:
    return metadata_text(name, version).replace("Metadata-Version: 2.1", "Metadata-Version: 2.2")


def kept_sdist(store: Store, name: str, version: str, **kwargs: object) -> SdistBuild:
    filename, data = make_sdist(name, version, **kwargs)  # type: ignore[arg-type]
    store.ensure()
    store.sdist_dir.mkdir(parents=True, exist_ok=True)
    (store.sdist_dir / filename).write_bytes(data)
    return SdistBuild(filename, canonicalize_name(name), Version(version), (HOST,))


def with_targets(build: SdistBuild, *targets: Target) -> SdistBuild:
    return SdistBuild(build.filename, build.name, build.version, targets)


def test_a_wheel_built_once_is_never_built_again(tmp_path: Path) -> None:
    store = Store(tmp_path / "wheels")
    build = kept_sdist(
        store, "cext-pkg", "2.0", setup_py=BINARY_SETUP_PY, extra_files={"PKG-INFO": static_pkg_info("cext-pkg", "2.0")}
    )
    runner = CountingRunner()
    [first] = build_sdists([with_targets(build, HOST, FOREIGN)], store, options=NO_ISOLATION, runner=runner)
    assert len(runner.pip_runs) == 1
    [wheel] = first.wheels
    assert wheel.targets == (HOST.name,)
    [needs_docker] = first.failures
    assert needs_docker.kind == "needs-docker"
    assert needs_docker.targets == (FOREIGN.name,)

    # The next run plans the sdist for the foreign target again: what the build here gives is known.
    [again] = build_sdists([with_targets(build, FOREIGN)], store, options=NO_ISOLATION, runner=runner)
    assert len(runner.pip_runs) == 1
    assert [f.kind for f in again.failures] == ["needs-docker"]
    assert "binary wheel" in again.failures[0].reason
    # And for both targets: the host's wheel is the one in the folder, not a new build.
    [both] = build_sdists([with_targets(build, HOST, FOREIGN)], store, options=NO_ISOLATION, runner=runner)
    assert len(runner.pip_runs) == 1
    assert [w.filename for w in both.wheels] == [wheel.filename]


def test_a_binary_no_target_took_is_kept_aside_and_not_built_again(tmp_path: Path) -> None:
    store = Store(tmp_path / "wheels")
    build = kept_sdist(
        store, "cext-pkg", "2.0", setup_py=BINARY_SETUP_PY, extra_files={"PKG-INFO": static_pkg_info("cext-pkg", "2.0")}
    )
    runner = CountingRunner()
    for _ in range(3):
        [outcome] = build_sdists([with_targets(build, FOREIGN)], store, options=NO_ISOLATION, runner=runner)
        assert [f.kind for f in outcome.failures] == ["needs-docker"]
    assert len(runner.pip_runs) == 1
    assert not list(store.root.glob("*.whl"))  # never committed for a platform it cannot serve


def test_a_failed_build_is_remembered_until_retry_builds(tmp_path: Path) -> None:
    store = Store(tmp_path / "wheels")
    build = kept_sdist(
        store,
        "broken-pkg",
        "1.0",
        setup_py=FAILING_SETUP_PY,
        extra_files={"PKG-INFO": static_pkg_info("broken-pkg", "1.0")},
    )
    runner = CountingRunner()
    [first] = build_sdists([build], store, options=NO_ISOLATION, runner=runner)
    assert len(runner.pip_runs) == 1
    [failure] = first.failures
    assert "--retry-builds" not in failure.reason

    [second] = build_sdists([build], store, options=NO_ISOLATION, runner=runner)
    assert len(runner.pip_runs) == 1
    [remembered] = second.failures
    assert "in an earlier run" in remembered.reason
    assert "--retry-builds" in remembered.reason
    assert remembered.log == failure.log
    assert Path(str(remembered.log)).is_file()
    assert any("missing libfrobnicate" in line for line in remembered.tail)

    retry = BuildOptions(isolation=False, retry_failed=True)
    [third] = build_sdists([build], store, options=retry, runner=runner)
    assert len(runner.pip_runs) == 2
    assert "--retry-builds" not in third.failures[0].reason


def _sdist_dist(path: Path) -> DistFile:
    name, version, kind, tags, _ = parse_dist_filename(path.name)
    return DistFile(path.name, name, version, kind, tags, str(path), True)


def test_the_wheel_built_for_metadata_is_the_one_committed(tmp_path: Path) -> None:
    store = Store(tmp_path / "wheels")
    # PKG-INFO 2.1 cannot be trusted (PEP 643): the backend must run to learn the dependencies.
    build = kept_sdist(store, "tiny-pkg", "1.0", requires_dist=["dep>=1"])
    runner = CountingRunner()
    sdists = SdistMetadata(store, None, NO_ISOLATION, runner=runner, build_wheels=True)
    path = store.sdist_dir / build.filename
    meta = sdists.metadata(_sdist_dist(path), None)
    assert meta.requires_dist == ("dep>=1",)
    assert len(runner.pip_runs) == 1
    assert "wheel" in runner.pip_runs[0]
    # Asked again (another target, another run): the remembered wheel answers.
    again = SdistMetadata(store, None, NO_ISOLATION, runner=runner, build_wheels=True)
    assert again.metadata(_sdist_dist(path), None).requires_dist == ("dep>=1",)

    [outcome] = build_sdists([with_targets(build, HOST, FOREIGN)], store, options=NO_ISOLATION, runner=runner)
    assert len(runner.pip_runs) == 1
    assert [w.filename for w in outcome.wheels] == ["tiny_pkg-1.0-py3-none-any.whl"]
    assert sorted(outcome.wheels[0].targets) == sorted([HOST.name, FOREIGN.name])
    assert (store.root / "tiny_pkg-1.0-py3-none-any.whl").is_file()
    # The copy kept for the build stage is gone once the folder holds the wheel.
    assert not list((store.meta_dir / "builds").glob("*/*.whl"))


def test_a_dry_run_prepares_metadata_without_building(tmp_path: Path) -> None:
    store = Store(tmp_path / "wheels")
    build = kept_sdist(store, "tiny-pkg", "1.0", requires_dist=["dep>=1"])
    runner = CountingRunner()
    sdists = SdistMetadata(store, None, NO_ISOLATION, runner=runner)
    assert sdists.metadata(_sdist_dist(store.sdist_dir / build.filename), None).requires_dist == ("dep>=1",)
    [argv] = runner.pip_runs
    assert "--dry-run" in argv
    assert "wheel" not in argv


def test_independent_sdists_build_at_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "wheels")
    builds = [
        kept_sdist(store, f"pkg-{n}", "1.0", extra_files={"PKG-INFO": static_pkg_info(f"pkg-{n}", "1.0")})
        for n in range(4)
    ]
    lock = threading.Lock()
    running = [0, 0]  # now, most at once

    def fake_pip(
        argv: Sequence[str], *, env: Mapping[str, str], output: Output = CAPTURE, timeout: float | None = None
    ) -> RunResult:
        with lock:
            running[0] += 1
            running[1] = max(running)
        time.sleep(0.3)
        out = Path(argv[argv.index("--wheel-dir") + 1])
        name = Path(argv[-1]).name.removesuffix("-1.0.tar.gz")
        filename, data = make_wheel(name, "1.0")
        (out / filename).write_bytes(data)
        with lock:
            running[0] -= 1
        return RunResult(0)

    options = BuildOptions(isolation=False, jobs=4)
    outcomes = build_sdists(builds, store, options=options, runner=fake_pip)
    assert [o.ok for o in outcomes] == [True] * 4
    assert [o.project for o in outcomes] == [NormalizedName(f"pkg-{n}") for n in range(4)]
    # As many at once as the machine has cores (bounded by jobs): more would only compete for them.
    assert running[1] == min(4, os.cpu_count() or 1)


# -- the glibc a binary built here needs ------------------------------------------------------------------------

C_SOURCE = "#include <string.h>\nvoid copy(char *dst, const char *src, size_t n) { memcpy(dst, src, n); }\n"


@pytest.fixture
def memcpy_library(tmp_path: Path) -> bytes:
    """A shared library that needs memcpy@GLIBC_2.14, the version x86_64 links today."""
    compiler = shutil.which("cc")
    if compiler is None or HOST.arch != "x86_64" or HOST.libc.family != "manylinux":
        pytest.skip("needs a C compiler on an x86_64 glibc machine (memcpy@GLIBC_2.14 is x86_64's)")
    source = tmp_path / "copy.c"
    source.write_text(C_SOURCE)
    library = tmp_path / "_copy.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-o", str(library), str(source)], check=True)
    return library.read_bytes()


def test_elf_files_state_the_glibc_they_need_and_the_wheel_is_retagged(tmp_path: Path, memcpy_library: bytes) -> None:
    tag = f"cp{HOST.python_version[0]}{HOST.python_version[1]}-cp{HOST.python_version[0]}{HOST.python_version[1]}"
    filename, data = make_wheel("cext", "1.0", tag=f"{tag}-linux_x86_64", files={"cext/_copy.so": memcpy_library})
    wheel = tmp_path / filename
    wheel.write_bytes(data)
    needs = elf_needs(wheel)
    assert needs.glibc_minor == 14
    assert needs.retaggable
    assert needs.elf_files == 1
    out = tmp_path / "out"
    out.mkdir()
    tagged = retag(wheel, "manylinux_2_14_x86_64", out)
    assert tagged.name == f"cext-1.0-{tag}-manylinux_2_14_x86_64.whl"
    # The WHEEL file says the new tag and RECORD the new WHEEL's hash, as pip checks on install.
    with zipfile.ZipFile(tagged) as zf:
        wheel_text = zf.read("cext-1.0.dist-info/WHEEL").decode()
        record = zf.read("cext-1.0.dist-info/RECORD").decode()
    assert f"Tag: {tag}-manylinux_2_14_x86_64" in wheel_text
    assert "linux_x86_64" not in wheel_text.replace("manylinux", "")
    digest = base64.urlsafe_b64encode(hashlib.sha256(wheel_text.encode()).digest()).rstrip(b"=").decode()
    assert f"cext-1.0.dist-info/WHEEL,sha256={digest}," in record
    assert read_wheel_metadata(tagged).name == "cext"


def test_a_binary_built_here_is_judged_by_the_glibc_it_really_needs(tmp_path: Path, memcpy_library: bytes) -> None:
    """A linux_x86_64 wheel built here used to serve every x86_64 target; now it states glibc 2.14, so a target that
    promises only glibc 2.12 does not accept it and one with 2.17 does."""
    store = Store(tmp_path / "wheels")
    build = kept_sdist(store, "cext", "1.0", extra_files={"PKG-INFO": static_pkg_info("cext", "1.0")})
    tag = f"cp{HOST.python_version[0]}{HOST.python_version[1]}-cp{HOST.python_version[0]}{HOST.python_version[1]}"
    filename, data = make_wheel("cext", "1.0", tag=f"{tag}-linux_x86_64", files={"cext/_copy.so": memcpy_library})

    def fake_pip(
        argv: Sequence[str], *, env: Mapping[str, str], output: Output = CAPTURE, timeout: float | None = None
    ) -> RunResult:
        (Path(argv[argv.index("--wheel-dir") + 1]) / filename).write_bytes(data)
        return RunResult(0)

    old = parse_target("linux/amd64", python=PY, libc="manylinux_2_12")
    new = parse_target("linux/amd64", python=PY, libc="manylinux_2_17")
    [outcome] = build_sdists([with_targets(build, old, new)], store, options=NO_ISOLATION, runner=fake_pip)
    [wheel] = outcome.wheels
    assert wheel.filename == f"cext-1.0-{tag}-manylinux_2_14_x86_64.whl"
    assert wheel.targets == (new.name,)
    [unfit] = outcome.failures
    assert unfit.kind == "unfit"
    assert unfit.targets == (old.name,)
    assert "manylinux_2_14" in unfit.reason
    assert [p.name for p in store.root.glob("*.whl")] == [wheel.filename]


def test_a_linked_builds_folder_is_never_followed(tmp_path: Path) -> None:
    store = Store(tmp_path / "wheels")
    build = kept_sdist(store, "tiny-pkg", "1.0", extra_files={"PKG-INFO": static_pkg_info("tiny-pkg", "1.0")})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (store.meta_dir / "builds").symlink_to(elsewhere, target_is_directory=True)
    [outcome] = build_sdists([build], store, options=NO_ISOLATION, runner=CountingRunner())
    [failure] = outcome.failures
    assert "symbolic link" in failure.reason
    assert list(elsewhere.iterdir()) == []
    assert not list(store.root.glob("*.whl"))
