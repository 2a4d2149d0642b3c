"""Building wheels from source distributions (issue #6): metadata, where builds run, failures, Docker.

The isolated builds here are real: pip creates a build environment and installs setuptools from the local test
index, which serves a wheel of the setuptools this interpreter runs, repacked from its installed files (a test
must not download it from the internet). Docker builds run only with the private engine of
``scripts/docker-test-env.sh`` and are skipped, saying why, without it.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from packaging.utils import NormalizedName
from packaging.version import Version

from tests.conftest import Cli
from tests.support import docker_env
from tests.support.index_server import Fault, IndexServer
from tests.support.wheels import make_sdist, make_wheel, metadata_text, repack_installed
from wheelhouse._proc import CAPTURE, Output, RunResult
from wheelhouse.build.archive import (
    LEGACY_BUILD_REQUIRES,
    build_requirements,
    read_sdist_member,
    sdist_stem,
    static_metadata,
)
from wheelhouse.build.builder import build_sdists
from wheelhouse.build.containers import docker_wheel_command
from wheelhouse.build.metadata import SdistMetadata
from wheelhouse.build.model import BuildOptions, SdistBuild
from wheelhouse.build.pip_options import pip_environment
from wheelhouse.build.plan import base_image_for, host_incompatibility
from wheelhouse.dists import CoreMetadata, DistFile, parse_dist_filename
from wheelhouse.index.config import IndexConfig
from wheelhouse.requirements import load_requirements
from wheelhouse.resolve.resolver import resolve
from wheelhouse.store.folder import Store
from wheelhouse.targets import host_target, parse_target

# A setup.py that makes setuptools tag the wheel for this interpreter and platform (cp311-cp311-linux_x86_64)
# without a compiler: what a C extension's build produces, for the rules that matter here.
BINARY_SETUP_PY = (
    "from setuptools import Distribution, setup\n\n"
    "class BinaryDistribution(Distribution):\n"
    "    def has_ext_modules(self):\n"
    "        return True\n\n"
    "setup(distclass=BinaryDistribution)\n"
)
FAILING_SETUP_PY = "import sys\nsys.exit('error: this project cannot be built (missing libfrobnicate)')\n"


@pytest.fixture(scope="session")
def setuptools_wheel() -> tuple[str, bytes]:
    return repack_installed("setuptools")


@pytest.fixture
def index(index_server: IndexServer, setuptools_wheel: tuple[str, bytes]) -> IndexServer:
    """The local index, serving setuptools for isolated builds and a wheel-only dependency."""
    index_server.add(*setuptools_wheel)
    index_server.add_wheel("dep", "1.0")
    return index_server


@pytest.fixture(autouse=True)
def _no_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Builds here never find a Docker engine unless a test asks for one."""
    monkeypatch.setenv("WHEELHOUSE_DOCKER", "/nonexistent/docker")


def static_pkg_info(name: str, version: str, requires_dist: Sequence[str] = ()) -> str:
    """A PKG-INFO resolution may trust (PEP 643: Metadata-Version 2.2, nothing Dynamic)."""
    return metadata_text(name, version, requires_dist=requires_dist).replace(
        "Metadata-Version: 2.1", "Metadata-Version: 2.2"
    )


def manifest_records(wheels: Path) -> dict[str, dict[str, object]]:
    records: dict[str, dict[str, object]] = json.loads((wheels / ".wheelhouse" / "manifest.json").read_text())[
        "records"
    ]
    return records


def root_files(wheels: Path) -> list[str]:
    return sorted(p.name for p in wheels.iterdir() if not p.name.startswith("."))


HOST = host_target()
# A target of another architecture than this machine's: binaries built here must never serve it.
FOREIGN = "linux/arm64" if HOST.arch != "aarch64" else "linux/amd64"
FOREIGN_NAME = parse_target(FOREIGN, python=f"{HOST.python_version[0]}.{HOST.python_version[1]}").name
PY = f"{HOST.python_version[0]}.{HOST.python_version[1]}"


# -- metadata ----------------------------------------------------------------------------------------------


def _sdist_dist(path: Path) -> DistFile:
    name, version, kind, tags, _ = parse_dist_filename(path.name)
    return DistFile(path.name, name, version, kind, tags, str(path), True)


def test_static_pkg_info_is_trusted_only_from_metadata_2_2_without_dynamic_requirements(tmp_path: Path) -> None:
    cases = {
        "trusted": static_pkg_info("trusted", "1.0", ["dep>=1"]),
        "old": metadata_text("old", "1.0", requires_dist=["dep>=1"]),  # 2.1: says nothing about dynamic fields
        "dynamic": static_pkg_info("dynamic", "1.0").replace("\n\n", "\nDynamic: Requires-Dist\n\n"),
    }
    results = {}
    for name, pkg_info in cases.items():
        filename, data = make_sdist(name, "1.0", extra_files={"PKG-INFO": pkg_info})
        (tmp_path / filename).write_bytes(data)
        results[name] = static_metadata(tmp_path / filename, _sdist_dist(tmp_path / filename))
    assert results["trusted"] == CoreMetadata("trusted", "1.0", ("dep>=1",))
    assert results["old"] is None
    assert results["dynamic"] is None


def test_build_requirements_are_the_static_build_system_table(tmp_path: Path) -> None:
    filename, data = make_sdist("tiny", "1.0")
    (tmp_path / filename).write_bytes(data)
    assert build_requirements(tmp_path / filename) == ("setuptools",)


def test_a_pyproject_nested_past_the_toml_parser_gives_the_legacy_build_requirements(tmp_path: Path) -> None:
    nested = "[build-system]\nrequires = " + "[" * 5000 + "]" * 5000 + "\n"
    filename, data = make_sdist("deep", "1.0", extra_files={"pyproject.toml": nested})
    (tmp_path / filename).write_bytes(data)
    assert build_requirements(tmp_path / filename) == LEGACY_BUILD_REQUIRES


# -- every sdist format pip accepts --------------------------------------------------------------------------

_TAR_MODES = {".tar.gz": "w:gz", ".tgz": "w:gz", ".tar.bz2": "w:bz2", ".tbz": "w:bz2", ".tar.xz": "w:xz",
              ".txz": "w:xz", ".tar": "w"}  # fmt: skip
LEGACY_SUFFIXES = [*_TAR_MODES, ".zip"]


def repack_sdist(filename: str, data: bytes, suffix: str, *, stem: str | None = None) -> tuple[str, bytes]:
    """The ``.tar.gz`` sdist ``make_sdist`` built, in another archive format pip accepts (top directory ``stem``)."""
    old_stem = filename.removesuffix(".tar.gz")
    stem = stem or old_stem
    members: list[tuple[str, bytes]] = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
        for info in tf:
            extracted = tf.extractfile(info)
            assert extracted is not None
            members.append((stem + info.name.removeprefix(old_stem), extracted.read()))
    buf = io.BytesIO()
    if suffix == ".zip":
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, content in members:
                zf.writestr(name, content)
    else:
        with tarfile.open(fileobj=buf, mode=_TAR_MODES[suffix]) as tf:  # type: ignore[call-overload]
            for name, content in members:
                info = tarfile.TarInfo(name)
                info.size = len(content)
                info.mtime = 1704067200
                tf.addfile(info, io.BytesIO(content))
    return stem + suffix, buf.getvalue()


@pytest.mark.parametrize("suffix", LEGACY_SUFFIXES)
def test_every_sdist_format_is_read_like_a_tar_gz(tmp_path: Path, suffix: str) -> None:
    made = make_sdist("old-pkg", "0.5.3", extra_files={"PKG-INFO": static_pkg_info("old-pkg", "0.5.3", ["dep>=1"])})
    filename, data = repack_sdist(*made, suffix)
    assert filename == f"old_pkg-0.5.3{suffix}"
    path = tmp_path / filename
    path.write_bytes(data)
    assert static_metadata(path, _sdist_dist(path)) == CoreMetadata("old-pkg", "0.5.3", ("dep>=1",))
    assert build_requirements(path) == ("setuptools",)
    assert read_sdist_member(path, "setup.cfg") is None
    assert sdist_stem(filename) == "old_pkg-0.5.3"


def test_an_unreadable_legacy_archive_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "old_pkg-0.5.3.tar.bz2"
    path.write_bytes(b"BZh9 not really bzip2")
    with pytest.raises(ValueError, match=r"old_pkg-0\.5\.3\.tar\.bz2 is not a readable source archive"):
        read_sdist_member(path, "PKG-INFO")


@pytest.mark.parametrize("suffix", [".tar.bz2", ".zip"])
def test_a_legacy_format_sdist_is_prepared_and_built_into_a_wheel_here(
    tmp_path: Path, index: IndexServer, suffix: str
) -> None:
    # Metadata-Version 2.1: resolution must ask the build backend, through pip, as for a .tar.gz.
    filename, data = repack_sdist(*make_sdist("old-pkg", "0.5.3", requires_dist=["dep>=1"]), suffix)
    store = Store(tmp_path / "wheels")
    store.ensure()
    store.sdist_dir.mkdir(parents=True)
    (store.sdist_dir / filename).write_bytes(data)
    config = IndexConfig(index_url=index.index_url)
    dist = _sdist_dist(store.sdist_dir / filename)
    sdists = SdistMetadata(store, config)
    assert sdists.metadata(dist, None).requires_dist == ("dep>=1",)
    assert not sdists.failures
    assert (store.meta_dir / "logs" / "old_pkg-0.5.3.metadata.log").is_file()

    build = SdistBuild(filename, dist.name, dist.version, (HOST,))
    with store.lock():
        [outcome] = build_sdists([build], store, config=config)
    assert outcome.ok, outcome.failures
    [wheel] = outcome.wheels
    assert wheel.filename == "old_pkg-0.5.3-py3-none-any.whl"
    assert (store.root / wheel.filename).is_file()
    assert store.records()[wheel.filename].built_from == f".wheelhouse/sdists/{filename}"
    assert (store.meta_dir / "logs" / "old_pkg-0.5.3.host.log").is_file()


def test_a_release_published_only_as_tar_bz2_is_downloaded_and_built(
    cli: Cli, project: Path, index: IndexServer
) -> None:
    # guess_language-spirit 0.5.3 publishes nothing but guess_language-spirit-0.5.3.tar.bz2; pip builds it.
    made = make_sdist("guess_language-spirit", "0.5.3")
    filename, data = repack_sdist(*made, ".tar.bz2", stem="guess_language-spirit-0.5.3")
    index.add(filename, data, project="guess_language-spirit")
    code, out, err = _download(cli, index, "guess_language-spirit==0.5.3")
    assert code == 0, out + err
    wheels = project / "wheels"
    assert root_files(wheels) == ["guess_language_spirit-0.5.3-py3-none-any.whl"]
    record = manifest_records(wheels)["guess_language_spirit-0.5.3-py3-none-any.whl"]
    assert record["built_from"] == f".wheelhouse/sdists/{filename}"
    assert cli("verify", "guess_language-spirit==0.5.3").exit_code == 0


# -- where builds run ----------------------------------------------------------------------------------------


def test_host_compatibility_is_os_architecture_python_minor_and_libc_family() -> None:
    assert host_incompatibility(HOST, HOST) is None
    older_glibc = parse_target("host", python=PY, libc="manylinux_2_17")
    assert host_incompatibility(older_glibc, HOST) is None  # same family: a glibc note, not a refusal
    assert "this machine is" in (host_incompatibility(parse_target(FOREIGN, python=PY), HOST) or "")
    other_python = parse_target("host", python="3.13" if PY != "3.13" else "3.12")
    assert "CPython" in (host_incompatibility(other_python, HOST) or "")
    musl = parse_target("host", python=PY, libc="musllinux_1_2")
    assert "musl" in (host_incompatibility(musl, HOST) or "")
    assert host_incompatibility(HOST, None) == "this machine is not Linux"


def test_base_image_defaults_to_the_official_image_and_accepts_a_template() -> None:
    assert base_image_for(parse_target("linux/arm64", python="3.12")) == "python:3.12-slim"
    assert base_image_for(parse_target("cp311-musllinux_1_2_x86_64")) == "python:3.11-alpine"
    assert base_image_for(parse_target("linux/amd64", python="3.12.4")) == "python:3.12.4-slim"
    assert base_image_for(parse_target("linux/amd64", python="3.12"), "reg/py:{python}-bookworm") == (
        "reg/py:3.12-bookworm"
    )


def test_elsewhere_command_mounts_the_folder_and_builds_the_kept_sdist() -> None:
    command = docker_wheel_command("linux/arm64", "python:3.12-slim", "wheels", ".wheelhouse/sdists/x-1.0.tar.gz")
    assert command == (
        'docker run --rm --platform linux/arm64 -v "$PWD/wheels:/wheels" python:3.12-slim '
        "python3 -m pip wheel --no-deps --wheel-dir /wheels /wheels/.wheelhouse/sdists/x-1.0.tar.gz"
    )


def test_pip_environment_carries_the_index_settings_and_isolation() -> None:
    config = IndexConfig(
        index_url="https://u:secret@example.test/simple",
        extra_index_urls=("https://extra.test/simple",),
        find_links=("/srv/wheels",),
        isolated=True,
    )
    env = pip_environment(config, base={"PIP_CONSTRAINT": "/etc/c.txt", "PATH": "/bin"}, cache_dir=Path("/c"))
    assert env["PIP_INDEX_URL"] == "https://u:secret@example.test/simple"
    assert env["PIP_EXTRA_INDEX_URL"] == "https://extra.test/simple"
    assert env["PIP_FIND_LINKS"] == "/srv/wheels"
    assert env["PIP_CONFIG_FILE"] == os.devnull
    assert env["PIP_CACHE_DIR"] == "/c"
    assert "PIP_CONSTRAINT" not in env  # --isolated: the user's pip variables do not leak in
    assert env["PATH"] == "/bin"
    kept = pip_environment(IndexConfig(), base={"PIP_CONSTRAINT": "/etc/c.txt"})
    assert kept["PIP_CONSTRAINT"] == "/etc/c.txt"
    assert "PIP_CONFIG_FILE" not in kept


# -- resolution ----------------------------------------------------------------------------------------------


class _Finder:
    """Files and metadata from memory."""

    def __init__(self, files: Mapping[str, CoreMetadata]) -> None:
        self.meta = {}
        self.by_name: dict[NormalizedName, list[DistFile]] = {}
        for filename, meta in files.items():
            name, version, kind, tags, build = parse_dist_filename(filename)
            dist = DistFile(filename, name, version, kind, tags, f"https://x.test/{filename}", False, build)
            self.by_name.setdefault(name, []).append(dist)
            self.meta[filename] = meta

    def files(self, name: NormalizedName) -> list[DistFile]:
        return self.by_name.get(name, [])

    def metadata(self, dist: DistFile) -> CoreMetadata:
        return self.meta[dist.filename]


def test_resolver_admits_sdists_only_when_asked_and_after_every_wheel(tmp_path: Path) -> None:
    finder = _Finder(
        {
            "app-2.0.tar.gz": CoreMetadata("app", "2.0", ("lib>=1",)),
            "app-1.0-py3-none-any.whl": CoreMetadata("app", "1.0"),
            "lib-1.0.tar.gz": CoreMetadata("lib", "1.0"),
        }
    )
    reqs = load_requirements([], ["app", "lib"], wheels_dir=tmp_path)
    target = parse_target("linux/amd64", python="3.12")
    without = resolve(reqs, target, [finder])
    assert [(g.project, g.kind) for g in without.gaps] == [("lib", "sdist-only")]
    with_sdists = resolve(reqs, target, [finder], sdists=True)
    assert with_sdists.covered
    # The older wheel wins over the newer sdist: a build happens only for a version no wheel serves.
    assert {p.name: (str(p.version), p.dist.kind) for p in with_sdists.pins} == {
        "app": ("1.0", "wheel"),
        "lib": ("1.0", "sdist"),
    }
    pinned = load_requirements([], ["app==2.0"], wheels_dir=tmp_path)
    forced = resolve(pinned, target, [finder], sdists=True)
    assert {p.name: p.dist.kind for p in forced.pins} == {"app": "sdist", "lib": "sdist"}


# -- building on this machine --------------------------------------------------------------------------------


def _download(cli: Cli, index: IndexServer, *args: str) -> tuple[int, str, str]:
    result = cli("download", *args, "--index-url", index.index_url)
    return result.exit_code, result.stdout, result.stderr


def test_pure_sdist_is_built_once_and_serves_two_targets(cli: Cli, project: Path, index: IndexServer) -> None:
    index.add_sdist("tiny-pkg", "1.0", requires_dist=["dep>=1"])
    targets = ["--target", "host", "--target", FOREIGN, "--python", PY]
    code, out, err = _download(cli, index, "tiny-pkg", *targets)
    assert code == 0, out + err
    wheels = project / "wheels"
    assert root_files(wheels) == ["dep-1.0-py3-none-any.whl", "tiny_pkg-1.0-py3-none-any.whl"]
    # The sdist is kept aside, where pip --find-links does not look, for offline rebuilds.
    assert (wheels / ".wheelhouse" / "sdists" / "tiny_pkg-1.0.tar.gz").is_file()
    record = manifest_records(wheels)["tiny_pkg-1.0-py3-none-any.whl"]
    assert record["built_from"] == ".wheelhouse/sdists/tiny_pkg-1.0.tar.gz"
    assert "-m pip wheel --no-deps" in str(record["built_by"])
    host_name = parse_target("host", python=PY).name
    assert sorted(record["targets"]) == sorted([host_name, FOREIGN_NAME])  # type: ignore[call-overload]
    # PKG-INFO 2.1 cannot be trusted: the backend's prepare-metadata hook gave the dependencies.
    assert (wheels / ".wheelhouse" / "logs" / "tiny_pkg-1.0.metadata.log").is_file()
    assert "pure Python" in err

    verified = cli("verify", "tiny-pkg", *targets, "--json")
    assert verified.exit_code == 0, verified.stdout
    report = json.loads(verified.stdout)
    assert [t["covered"] for t in report["targets"]] == [True, True]

    # A second run finds everything in the folder: nothing is built or fetched again.
    index.requests.clear()
    code, out, err = _download(cli, index, "tiny-pkg", *targets)
    assert code == 0, out + err
    assert "building" not in err
    assert index.requests.snapshot() == []

    # And pip installs it with no index at all.
    site = project / "site"
    argv = [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(wheels), "--target", str(site)]
    installed = subprocess.run(
        [*argv, "tiny-pkg"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    assert (site / "tiny_pkg" / "__init__.py").is_file()


def test_kept_sdist_and_build_deps_rebuild_with_no_index(
    cli: Cli, project: Path, index: IndexServer, setuptools_wheel: tuple[str, bytes]
) -> None:
    index.add_sdist("static-pkg", "2.0", extra_files={"PKG-INFO": static_pkg_info("static-pkg", "2.0")})
    code, out, err = _download(cli, index, "static-pkg", "--keep-build-deps")
    assert code == 0, out + err
    wheels = project / "wheels"
    # A trusted PKG-INFO answers resolution: the build backend did not have to run for metadata.
    assert not (wheels / ".wheelhouse" / "logs" / "static_pkg-2.0.metadata.log").exists()
    assert setuptools_wheel[0] in root_files(wheels)
    record = manifest_records(wheels)[setuptools_wheel[0]]
    assert record["sources"] == ["build requirement of static_pkg-2.0.tar.gz"]
    assert record["targets"] == []

    # The built wheel is lost; the kept sdist and build requirements rebuild it with no index at all.
    (wheels / "static_pkg-2.0-py3-none-any.whl").unlink()
    index.requests.clear()
    rebuilt = cli("download", "static-pkg", "--no-index")
    assert rebuilt.exit_code == 0, rebuilt.stdout + rebuilt.stderr
    assert (wheels / "static_pkg-2.0-py3-none-any.whl").is_file()
    assert index.requests.snapshot() == []


def test_an_sdist_in_the_folder_itself_is_built_where_it_is(cli: Cli, project: Path, index: IndexServer) -> None:
    filename, data = make_sdist("local-pkg", "0.3", extra_files={"PKG-INFO": static_pkg_info("local-pkg", "0.3")})
    wheels = project / "wheels"
    (wheels / filename).write_bytes(data)
    code, out, err = _download(cli, index, "local-pkg")
    assert code == 0, out + err
    assert manifest_records(wheels)["local_pkg-0.3-py3-none-any.whl"]["built_from"] == filename
    assert not index.requests.to(f"/files/{filename}")


def test_failed_build_names_package_and_log_and_the_rest_is_intact(cli: Cli, project: Path, index: IndexServer) -> None:
    index.add_wheel("good", "1.0")
    index.add_sdist("tiny-pkg", "1.0")
    # Static metadata, so resolution succeeds and the failure happens in the build itself.
    index.add_sdist(
        "broken-pkg",
        "1.0",
        setup_py=FAILING_SETUP_PY,
        extra_files={"PKG-INFO": static_pkg_info("broken-pkg", "1.0")},
    )
    code, out, err = _download(cli, index, "good", "tiny-pkg", "broken-pkg")
    assert code == 1, out + err
    wheels = project / "wheels"
    log = wheels / ".wheelhouse" / "logs" / "broken_pkg-1.0.host.log"
    assert "broken-pkg 1.0" in err
    assert "full log: wheels/.wheelhouse/logs/broken_pkg-1.0.host.log" in err
    assert "missing libfrobnicate" in err  # the last lines of the log are shown
    assert "missing libfrobnicate" in log.read_text()
    assert "Traceback" not in err
    # Every other package is in place; nothing of the failed build is, and no partial file is left.
    assert root_files(wheels) == ["good-1.0-py3-none-any.whl", "tiny_pkg-1.0-py3-none-any.whl"]
    assert not list((wheels / ".wheelhouse" / "tmp").iterdir())
    verified = cli("verify", "good", "tiny-pkg", "broken-pkg", "--json")
    assert verified.exit_code == 3
    gaps = json.loads(verified.stdout)["targets"][0]["gaps"]
    assert [(g["project"], g["kind"]) for g in gaps] == [("broken-pkg", "sdist-only")]


def test_failed_metadata_hook_is_reported_like_a_failed_build(cli: Cli, project: Path, index: IndexServer) -> None:
    index.add_sdist("nometa-pkg", "1.0", setup_py=FAILING_SETUP_PY)
    index.add_wheel("good", "1.0")
    code, out, _ = _download(cli, index, "nometa-pkg", "good", "--json")
    assert code == 1
    data = json.loads(out)
    [outcome] = data["builds"]
    [failure] = outcome["failures"]
    assert outcome["project"] == "nometa-pkg"
    assert failure["kind"] == "failed"
    assert failure["log"].endswith("nometa_pkg-1.0.metadata.log")
    assert "missing libfrobnicate" in "\n".join(failure["tail"])
    assert (project / "wheels" / "good-1.0-py3-none-any.whl").is_file()


def test_an_sdist_that_cannot_be_downloaded_fails_alone(cli: Cli, project: Path, index: IndexServer) -> None:
    filename = index.add_sdist("tiny-pkg", "1.0")
    index.add_wheel("good", "1.0")
    index.inject(f"/files/{filename}", Fault.error(404), times=None)
    code, out, err = _download(cli, index, "tiny-pkg", "good")
    assert code == 1, out + err
    assert f"cannot keep {filename}" in err
    assert root_files(project / "wheels") == ["good-1.0-py3-none-any.whl"]


def test_binary_sdist_for_a_foreign_target_without_docker_stops_and_stores_no_host_binary(
    cli: Cli, project: Path, index: IndexServer
) -> None:
    index.add_sdist("cext-pkg", "2.0", setup_py=BINARY_SETUP_PY)
    code, out, err = _download(cli, index, "cext-pkg", "--target", FOREIGN, "--python", PY)
    assert code == 1, out + err
    assert f"cext-pkg 2.0 for {FOREIGN_NAME}" in err
    assert "no Docker engine is available" in err
    platform = parse_target(FOREIGN, python=PY).docker_platform
    expected = (
        f'docker run --rm --platform {platform} -v "$PWD/wheels:/wheels" python:{PY}-slim python3 -m pip wheel '
        "--no-deps --wheel-dir /wheels /wheels/.wheelhouse/sdists/cext_pkg-2.0.tar.gz"
    )
    assert f"build it elsewhere: {expected}" in err
    wheels = project / "wheels"
    assert root_files(wheels) == []  # the linux_x86_64 wheel built here was not kept
    assert (wheels / ".wheelhouse" / "sdists" / "cext_pkg-2.0.tar.gz").is_file()


def test_binary_built_here_serves_only_the_host_compatible_target(cli: Cli, project: Path, index: IndexServer) -> None:
    index.add_sdist("cext-pkg", "2.0", setup_py=BINARY_SETUP_PY)
    code, out, err = _download(cli, index, "cext-pkg", "--target", "host", "--target", FOREIGN, "--python", PY)
    assert code == 1, out + err
    wheels = project / "wheels"
    [built] = root_files(wheels)
    assert built.startswith("cext_pkg-2.0-cp")
    # No ELF file needs any particular glibc: the tag is the architecture's oldest manylinux, not linux_<arch>.
    assert built.endswith((f"manylinux_2_5_{HOST.arch}.whl", f"manylinux_2_17_{HOST.arch}.whl"))
    assert manifest_records(wheels)[built]["targets"] == [parse_target("host", python=PY).name]
    assert f"for {FOREIGN_NAME}:" in err


def test_no_build_keeps_the_sdist_and_verify_says_only_a_source_distribution(
    cli: Cli, project: Path, index: IndexServer
) -> None:
    index.add_sdist("tiny-pkg", "1.0")
    code, out, err = _download(cli, index, "tiny-pkg", "--no-build")
    assert code == 3, out + err
    wheels = project / "wheels"
    assert root_files(wheels) == []
    assert (wheels / ".wheelhouse" / "sdists" / "tiny_pkg-1.0.tar.gz").is_file()
    assert not (wheels / ".wheelhouse" / "logs").exists()  # nothing ran
    verified = cli("verify", "tiny-pkg")
    assert verified.exit_code == 3
    assert "only a source distribution is available for tiny-pkg" in verified.stdout


def test_dry_run_lists_what_it_would_build(cli: Cli, project: Path, index: IndexServer) -> None:
    index.add_sdist("static-pkg", "2.0", extra_files={"PKG-INFO": static_pkg_info("static-pkg", "2.0")})
    code, out, err = _download(cli, index, "static-pkg", "--dry-run", "--json")
    assert code == 0, out + err
    plan = json.loads(out)["plan"]
    assert plan["build"] == [
        {"sdist": "static_pkg-2.0.tar.gz", "project": "static-pkg", "version": "2.0", "targets": [HOST.name]}
    ]
    assert plan["fetch"] == []
    assert root_files(project / "wheels") == []


# -- building in containers, without Docker ------------------------------------------------------------------


class FakeDocker:
    """A runner standing in for the Docker client: it answers ``version`` and "builds" into the mounted folder."""

    def __init__(self, wheel_tag: str) -> None:
        self.wheel_tag = wheel_tag
        self.calls: list[tuple[list[str], dict[str, str]]] = []

    def __call__(
        self, argv: Sequence[str], *, env: Mapping[str, str], output: Output = CAPTURE, timeout: float | None = None
    ) -> RunResult:
        argv = list(argv)
        self.calls.append((argv, dict(env)))
        if argv[1] == "version":
            server = {"Version": "20.10.24", "Os": "linux", "Arch": "amd64"}
            return RunResult(0, json.dumps({"Client": {"Version": "20.10.24"}, "Server": server}) + "\n")
        if argv[1] == "buildx":
            return RunResult(1)
        out = next(Path(a.split(":")[0]) for a in argv if a.endswith(":/out"))
        sdist = argv[-1].rsplit("/", 1)[-1]
        name, version = sdist[: -len(".tar.gz")].rsplit("-", 1)
        filename, data = make_wheel(name, version, tag=self.wheel_tag)
        (out / filename).write_bytes(data)
        return RunResult(0)


@pytest.fixture
def fake_docker_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    client = tmp_path / "bin" / "docker"
    client.parent.mkdir()
    client.write_text("#!/bin/sh\nexit 1\n")
    client.chmod(0o755)
    monkeypatch.setenv("WHEELHOUSE_DOCKER", str(client))
    return str(client)


def test_foreign_targets_build_in_their_image_and_platform(tmp_path: Path, fake_docker_client: str) -> None:
    store = Store(tmp_path / "wheels")
    store.ensure()
    filename, data = make_sdist("cext-pkg", "2.0", setup_py=BINARY_SETUP_PY)
    store.sdist_dir.mkdir(parents=True)
    (store.sdist_dir / filename).write_bytes(data)
    target = parse_target("linux/arm64", python="3.12")
    fake = FakeDocker("cp312-cp312-linux_aarch64")
    config = IndexConfig(index_url="https://user:secret@index.test/simple")
    build = SdistBuild(filename, NormalizedName("cext-pkg"), Version("2.0"), (target,))
    with store.lock():
        [outcome] = build_sdists([build], store, config=config, options=BuildOptions(build_in="docker"), runner=fake)
    assert outcome.ok, outcome.failures
    # The engine was asked what it is once, by the Docker client's own probe (the one `wheelhouse build` uses).
    probes = [argv[1:] for argv, _ in fake.calls if argv[1] in ("version", "buildx")]
    assert probes == [["version", "--format", "{{json .}}"], ["buildx", "version"]]
    [wheel] = outcome.wheels
    assert wheel.filename == "cext_pkg-2.0-cp312-cp312-linux_aarch64.whl"
    assert wheel.targets == (target.name,)
    argv, env = fake.calls[-1]
    assert argv[:5] == [fake_docker_client, "run", "--rm", "--platform", "linux/arm64"]
    assert "python:3.12-slim" in argv
    wheel_args = ["pip", "wheel", "--no-deps", "--ignore-requires-python", "--wheel-dir", "/out"]
    assert argv[-7:] == [*wheel_args, f"/sdists/{filename}"]
    # Credentials travel in the client's environment, never on the command line.
    assert not any("secret" in a for a in argv)
    assert argv[argv.index("PIP_INDEX_URL") - 1] == "-e"
    assert env["PIP_INDEX_URL"] == "https://user:secret@index.test/simple"
    record = store.records()[wheel.filename]
    assert str(record.built_by).startswith("docker run --rm --platform linux/arm64")
    assert record.targets == (target.name,)


def test_a_wheel_that_does_not_fit_its_target_is_refused(tmp_path: Path, fake_docker_client: str) -> None:
    store = Store(tmp_path / "wheels")
    store.ensure()
    filename, data = make_sdist("cext-pkg", "2.0")
    store.sdist_dir.mkdir(parents=True)
    (store.sdist_dir / filename).write_bytes(data)
    target = parse_target("linux/arm64", python="3.12")
    # The image ran another Python than the target's: its wheel must not be stored for this target.
    fake = FakeDocker("cp311-cp311-linux_aarch64")
    build = SdistBuild(filename, NormalizedName("cext-pkg"), Version("2.0"), (target,))
    with store.lock():
        [outcome] = build_sdists([build], store, options=BuildOptions(build_in="docker"), runner=fake)
    [failure] = outcome.failures
    assert failure.kind == "unfit"
    assert "does not accept" in failure.reason
    assert root_files(store.root) == []


# -- building in containers, with the Docker engine ----------------------------------------------------------


@pytest.mark.docker
def test_docker_builds_the_pure_sdist_in_the_base_image_and_it_installs_offline(
    cli: Cli,
    project: Path,
    setuptools_wheel: tuple[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    available, why = docker_env.docker_available()
    if not available:
        pytest.skip(why)
    for key, value in docker_env.docker_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("WHEELHOUSE_DOCKER", docker_env.docker_client())
    image = docker_env.base_image()
    # HTML pages only: the pip 23.0 of Debian bookworm inside the image fails on PEP 691 JSON pages whose
    # core-metadata value is a table ("TypeError: unhashable type: 'dict'"); the HTML form it reads fine.
    index = IndexServer(json_api=False).start()
    request.addfinalizer(index.stop)
    index.add(*setuptools_wheel)
    index.add_wheel("dep", "1.0")
    index.add_sdist("tiny-pkg", "1.0", requires_dist=["dep>=1"])
    code, out, err = _download(
        cli,
        index,
        "tiny-pkg",
        "--target",
        "linux/amd64",
        "--python",
        "3.11",
        "--build-in",
        "docker",
        "--base-image",
        image,
    )
    assert code == 0, out + err
    wheels = project / "wheels"
    record = manifest_records(wheels)["tiny_pkg-1.0-py3-none-any.whl"]
    assert str(record["built_by"]).startswith("docker run --rm --platform linux/amd64")
    assert image in str(record["built_by"])
    assert (wheels / ".wheelhouse" / "logs" / "tiny_pkg-1.0.linux-amd64.log").is_file()

    script = (
        "python3 -m venv /tmp/venv && /tmp/venv/bin/pip install --no-index --find-links /wheels tiny-pkg "
        "&& /tmp/venv/bin/python -c 'import tiny_pkg, dep; print(tiny_pkg.__version__)'"
    )
    argv = [docker_env.docker_client(), "run", "--rm", "--network", "none", "-v", f"{wheels}:/wheels:ro", image]
    installed = subprocess.run(
        [*argv, "sh", "-c", script],
        env=docker_env.docker_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert installed.stdout.strip().endswith("1.0")


def test_no_binary_builds_from_source_even_when_the_index_has_a_wheel(
    cli: Cli, project: Path, index: IndexServer
) -> None:
    index.add_sdist("both-kinds", "1.0")
    index.add_wheel("both-kinds", "1.0", summary="the index's binary wheel")
    code, out, err = _download(
        cli, index, "both-kinds", "--target", "host", "--python", PY, "--no-binary", "both-kinds"
    )
    assert code == 0, out + err
    wheels = project / "wheels"
    record = manifest_records(wheels)["both_kinds-1.0-py3-none-any.whl"]
    assert record["built_from"] == ".wheelhouse/sdists/both_kinds-1.0.tar.gz"
    # The index's wheel was never downloaded.
    assert not [r for r in index.requests.snapshot() if r.route == "/files/both_kinds-1.0-py3-none-any.whl"]
    # The wheel built here serves the next run: nothing is built again.
    index.requests.clear()
    code, out, err = _download(cli, index, "both-kinds", "--target", "host", "--python", PY, "--no-binary", ":all:")
    assert code == 0, out + err
    assert "building" not in err


def test_only_binary_never_builds(cli: Cli, project: Path, index: IndexServer) -> None:
    index.add_sdist("source-only", "1.0")
    code, out, err = _download(cli, index, "source-only", "--target", "host", "--python", PY, "--only-binary", ":all:")
    assert code == 3, out + err
    assert "source-only" in out
    assert "building" not in err
    assert root_files(project / "wheels") == []
    # The plan says why the sdist was not used.
    plan = cli("download", "--json", "--dry-run", "source-only", "--target", "host", "--python", PY,
               "--only-binary", ":all:", "--index-url", index.index_url)  # fmt: skip
    assert plan.exit_code == 3
    (gap,) = [g for t in json.loads(plan.stdout)["plan"]["targets"] for g in t["unresolvable"]]
    assert gap["project"] == "source-only"
    assert gap["rejected"] == [
        {"file": "source_only-1.0.tar.gz", "reason": "source distribution, excluded by --only-binary"}
    ]


# -- another Python on this machine, remembered builds ------------------------------------------------------------


def _other_python() -> str | None:
    """A CPython minor installed here besides the one running (3.12 preferred), or None."""
    from wheelhouse._proc import subprocess_runner
    from wheelhouse.build.interpreters import find_interpreter

    for minor in (12, 13, 10, 11):
        if minor == HOST.python_version[1]:
            continue
        target = parse_target("host", python=f"3.{minor}")
        if find_interpreter(target, subprocess_runner, os.environ) is not None:
            return f"3.{minor}"
    return None


def test_a_target_of_another_python_is_built_here_with_that_python(cli: Cli, project: Path, index: IndexServer) -> None:
    other = _other_python()
    if other is None:
        pytest.skip("no CPython of another minor version is installed on this machine (python3.X, pyenv or uv)")
    index.add_sdist(
        "cext-pkg", "2.0", setup_py=BINARY_SETUP_PY, extra_files={"PKG-INFO": static_pkg_info("cext-pkg", "2.0")}
    )
    code, out, err = _download(cli, index, "cext-pkg", "--target", "host", "--python", other)
    assert code == 0, out + err
    wheels = project / "wheels"
    cp = "cp" + other.replace(".", "")
    [built] = root_files(wheels)
    # Tagged by the interpreter that built it: that Python ran, not wheelhouse's own.
    assert built.startswith(f"cext_pkg-2.0-{cp}-{cp}-manylinux_")
    record = manifest_records(wheels)[built]
    assert f"python{other}" in str(record["built_by"]).split()[0]
    assert (wheels / ".wheelhouse" / "logs" / f"cext_pkg-2.0.host-py{other}.log").is_file()
    verified = cli("verify", "cext-pkg", "--target", "host", "--python", other)
    assert verified.exit_code == 0, verified.stdout + verified.stderr


def test_a_failed_build_is_not_run_again_until_retry_builds(cli: Cli, project: Path, index: IndexServer) -> None:
    index.add_sdist(
        "broken-pkg", "1.0", setup_py=FAILING_SETUP_PY, extra_files={"PKG-INFO": static_pkg_info("broken-pkg", "1.0")}
    )
    log = project / "wheels" / ".wheelhouse" / "logs" / "broken_pkg-1.0.host.log"
    code, out, err = _download(cli, index, "broken-pkg")
    assert code == 1, out + err
    assert "--retry-builds" not in err
    log.write_text(log.read_text() + "# seen\n")

    code, out, err = _download(cli, index, "broken-pkg")
    assert code == 1, out + err
    assert "not tried again until --retry-builds" in err
    assert "missing libfrobnicate" in err  # the remembered log's last lines
    assert log.read_text().endswith("# seen\n")  # no build ran: its log was not started again

    code, out, err = _download(cli, index, "broken-pkg", "--retry-builds")
    assert code == 1, out + err
    assert "--retry-builds" not in err
    assert "# seen" not in log.read_text()


def test_sdists_share_one_build_environment_installed_once(cli: Cli, project: Path, index: IndexServer) -> None:
    for name in ("pkg-one", "pkg-two", "pkg-three"):
        index.add_sdist(name, "1.0", extra_files={"PKG-INFO": static_pkg_info(name, "1.0")})
    code, out, err = _download(cli, index, "pkg-one", "pkg-two", "pkg-three")
    assert code == 0, out + err
    wheels = project / "wheels"
    assert root_files(wheels) == [f"pkg_{n}-1.0-py3-none-any.whl" for n in ("one", "three", "two")]
    logs = [(wheels / ".wheelhouse" / "logs" / f"pkg_{n}-1.0.host.log").read_text() for n in ("one", "two", "three")]
    # setuptools was installed for the first build only; each build ran the backend itself, not pip wheel.
    assert sum("-m pip install --target" in log for log in logs) == 1
    assert sum("# build requirements setuptools from " in log for log in logs) == 2
    assert all("PEP 517 build_wheel of setuptools.build_meta" in log for log in logs)
    # The environment is reused by the next run, from wheelhouse's cache, not from the folder.
    assert not any(name.startswith("setuptools") for name in root_files(wheels))


def test_a_backend_that_needs_more_than_its_static_requirements_is_built_by_pip(
    cli: Cli, project: Path, index: IndexServer
) -> None:
    backend = (
        "from setuptools.build_meta import *  # noqa\n"
        "def get_requires_for_build_wheel(config_settings=None):\n"
        "    return ['dep']\n"
    )
    pyproject = (
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "inner_backend"\nbackend-path = ["."]\n\n'
        '[project]\nname = "needy-pkg"\nversion = "1.0"\n\n[tool.setuptools]\npackages = ["needy_pkg"]\n'
    )
    index.add_sdist(
        "needy-pkg",
        "1.0",
        extra_files={
            "PKG-INFO": static_pkg_info("needy-pkg", "1.0"),
            "pyproject.toml": pyproject,
            "inner_backend.py": backend,
        },
    )
    code, out, err = _download(cli, index, "needy-pkg")
    assert code == 0, out + err
    wheels = project / "wheels"
    assert root_files(wheels) == ["needy_pkg-1.0-py3-none-any.whl"]
    log = (wheels / ".wheelhouse" / "logs" / "needy_pkg-1.0.host.log").read_text()
    assert "the backend also needs dep" in log
    assert "# this sdist is built by pip itself:" in log


def test_build_requirements_the_folder_holds_are_installed_from_it_alone(
    cli: Cli, project: Path, index: IndexServer
) -> None:
    from wheelhouse.build.pip_options import default_cache_dir

    index.add_sdist("static-pkg", "2.0", extra_files={"PKG-INFO": static_pkg_info("static-pkg", "2.0")})
    code, out, err = _download(cli, index, "static-pkg", "--keep-build-deps")
    assert code == 0, out + err
    # A new machine, or a week later: no shared build environment yet, setuptools is in the folder.
    shutil.rmtree(default_cache_dir().parent / "build-envs")
    index.add_sdist("other-pkg", "1.0", extra_files={"PKG-INFO": static_pkg_info("other-pkg", "1.0")})
    index.requests.clear()
    code, out, err = _download(cli, index, "other-pkg")
    assert code == 0, out + err
    assert (project / "wheels" / "other_pkg-1.0-py3-none-any.whl").is_file()
    assert not index.requests.to("/simple/setuptools/")


def test_metadata_for_a_target_of_another_python_is_learnt_by_building_with_that_python(
    cli: Cli, project: Path, index: IndexServer
) -> None:
    other = _other_python()
    if other is None:
        pytest.skip("no CPython of another minor version is installed on this machine (python3.X, pyenv or uv)")
    index.add_sdist("cext-pkg", "2.0", setup_py=BINARY_SETUP_PY)  # PKG-INFO 2.1: the backend must run
    code, out, err = _download(cli, index, "cext-pkg", "--target", "host", "--python", other)
    assert code == 0, out + err
    logs = project / "wheels" / ".wheelhouse" / "logs"
    # One build, by the target's Python, for the metadata; the build stage took its wheel.
    assert sorted(p.name for p in logs.iterdir()) == ["cext_pkg-2.0.metadata.log"]
    assert f"python{other} -m pip wheel" in (logs / "cext_pkg-2.0.metadata.log").read_text()
    cp = "cp" + other.replace(".", "")
    assert root_files(project / "wheels")[0].startswith(f"cext_pkg-2.0-{cp}-{cp}-manylinux_")
