"""``lock --format pylock``: a PEP 751 pylock.toml for every target, valid for packaging.pylock, that pip and uv
install from offline, with every file's hash enforced."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.pylock import PackageWheel, Pylock
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import Cli
from tests.support.index_server import IndexServer
from tests.support.wheels import write_wheel
from wheelhouse.requirements import load_requirements
from wheelhouse.resolve.lockfile import build_lock
from wheelhouse.resolve.pylock import build_pylock, target_environment
from wheelhouse.resolve.verify import verify
from wheelhouse.store.folder import FileRecord, Store
from wheelhouse.targets import host_target, parse_targets

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
PYTHONS = sorted({"3.10", "3.12", HOST_PYTHON}, key=lambda v: tuple(map(int, v.split("."))))
TARGET_ARGS = ("--target", "linux/amd64", "--target", "linux/arm64", *(a for p in PYTHONS for a in ("--python", p)))
TARGETS = parse_targets(["linux/amd64", "linux/arm64"], pythons=PYTHONS)


def _native_tag(python: str, arch: str) -> str:
    cp = "cp" + python.replace(".", "")
    return f"{cp}-{cp}-manylinux_2_17_{arch}.manylinux2014_{arch}"


@pytest.fixture
def folder(project: Path) -> Path:
    """app -> compat (2.0 needs Python >= 3.11, else 1.0), native (one build per Python and arch), tomli (< 3.11)."""
    wheels = project / "wheels"
    write_wheel(wheels, "app", "1.0", requires_dist=["compat", "native>=1", 'tomli; python_version < "3.11"'])
    write_wheel(wheels, "compat", "2.0", requires_python=">=3.11")
    write_wheel(wheels, "compat", "1.0")
    for python in PYTHONS:
        for arch in ("x86_64", "aarch64"):
            write_wheel(wheels, "native", "1.0", tag=_native_tag(python, arch), payload_size=500)
    # A build for a Python no target uses: it must not be listed.
    write_wheel(wheels, "native", "1.0", tag=_native_tag("3.9", "x86_64"))
    write_wheel(wheels, "tomli", "2.0.1")
    (project / "requirements.txt").write_text("app==1.0\n")
    return wheels


def _load(path: Path) -> tuple[dict[str, Any], Pylock]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return data, Pylock.from_dict(data)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- the document ----------------------------------------------------------------------------------------------


def test_pylock_lists_each_version_once_with_markers_hashes_sizes_and_paths(
    cli: Cli, folder: Path, project: Path
) -> None:
    result = cli("lock", "--format", "pylock", *TARGET_ARGS)
    assert result.exit_code == 0, result.output
    assert "wrote pylock.toml" in result.output
    data, lock = _load(project / "pylock.toml")
    assert data["lock-version"] == "1.0"
    assert data["created-by"] == "wheelhouse"
    assert data["tool"]["wheelhouse"]["targets"] == [t.name for t in TARGETS]
    assert [str(m) for m in lock.environments or ()] == [str(Marker(target_environment(t))) for t in TARGETS]
    versions = {(str(p.name), str(p.version)): p for p in lock.packages}
    assert sorted(versions) == [
        ("app", "1.0"),
        ("compat", "1.0"),
        ("compat", "2.0"),
        ("native", "1.0"),
        ("tomli", "2.0.1"),
    ]
    # One entry per (name, version): markers only where some targets do without it.
    assert versions[("app", "1.0")].marker is None
    assert versions[("native", "1.0")].marker is None
    assert str(versions[("tomli", "2.0.1")].marker) == 'python_version == "3.10"'
    assert str(versions[("compat", "1.0")].marker) == 'python_version == "3.10"'
    assert str(versions[("compat", "2.0")].marker) == 'python_version >= "3.11"'
    native = versions[("native", "1.0")]
    # Every build a target can install, and not the cp39 one no target uses.
    assert sorted(w.name or "" for w in native.wheels or ()) == sorted(
        p.name for p in folder.glob("native-*.whl") if "cp39" not in p.name
    )
    for package in lock.packages:
        for wheel in package.wheels or ():
            assert wheel.path is not None
            assert wheel.path == f"wheels/{wheel.name}"
            on_disk = project / wheel.path
            assert wheel.size == on_disk.stat().st_size
            assert wheel.hashes == {"sha256": _sha256(on_disk)}
            # Nothing came from an index in this folder: no URL is made up.
            assert wheel.url is None


def test_each_target_selects_exactly_its_resolution(folder: Path, project: Path) -> None:
    """packaging's own selection, for each target's environment and tags, gives the pins verify found."""
    store = Store(folder)
    reqs = load_requirements([project / "requirements.txt"])
    lock = build_lock(reqs, TARGETS, store)
    document = build_pylock(lock, store, lock_dir=project)
    report = verify(reqs, TARGETS, store)
    for resolution in report.resolutions:
        target = resolution.target
        selected = list(document.select(environment=dict(target.marker_environment), tags=target.tags))  # type: ignore[arg-type]
        assert {(p.name, p.version) for p, _ in selected} == {(pin.name, pin.version) for pin in resolution.pins}
        for package, wheel in selected:
            pin = next(p for p in resolution.pins if p.name == package.name)
            assert isinstance(wheel, PackageWheel)
            assert wheel.filename == pin.dist.filename, target.name


def test_a_file_from_an_index_carries_its_url_and_credentials_never(cli: Cli, folder: Path, project: Path) -> None:
    store = Store(folder)
    app = "app-1.0-py3-none-any.whl"
    tomli = "tomli-2.0.1-py3-none-any.whl"
    store.update_records(
        {
            app: FileRecord(sha256=_sha256(folder / app), url=f"https://files.example.org/packages/{app}"),
            tomli: FileRecord(sha256=_sha256(folder / tomli), url=f"https://user:secret@example.org/{tomli}"),
        }
    )
    assert cli("lock", "-o", "pylock.toml", *TARGET_ARGS).exit_code == 0
    text = (project / "pylock.toml").read_text()
    _, lock = _load(project / "pylock.toml")
    wheels = {w.name: w for p in lock.packages for w in p.wheels or ()}
    assert wheels[app].url == f"https://files.example.org/packages/{app}"
    # The path still comes first for installers (pip prefers path over url), so nothing is fetched.
    assert wheels[app].path == f"wheels/{app}"
    assert wheels[tomli].url is None
    assert "secret" not in text


def test_download_records_the_index_url_in_the_lock(cli: Cli, index_server: IndexServer, project: Path) -> None:
    index_server.add_wheel("solo", "1.0")
    (project / "requirements.txt").write_text("solo==1.0\n")
    assert cli("download", "--index-url", index_server.index_url).exit_code == 0
    assert cli("lock", "--format", "pylock").exit_code == 0
    _, lock = _load(project / "pylock.toml")
    (wheel,) = [w for p in lock.packages for w in p.wheels or ()]
    assert wheel.url == index_server.file_url("solo-1.0-py3-none-any.whl")


def test_paths_are_relative_to_the_lock_and_stdout_to_the_working_directory(
    cli: Cli, folder: Path, project: Path
) -> None:
    (project / "locks").mkdir()
    assert cli("lock", "-o", "locks/pylock.prod.toml", *TARGET_ARGS).exit_code == 0
    _, lock = _load(project / "locks" / "pylock.prod.toml")
    paths = [w.path for p in lock.packages for w in p.wheels or ()]
    assert paths
    assert all(p is not None and p.startswith("../wheels/") for p in paths)
    assert all((project / "locks" / str(p)).is_file() for p in paths)
    out = cli("lock", "--format", "pylock", "-o", "-", *TARGET_ARGS)
    assert out.exit_code == 0
    assert Pylock.from_dict(tomllib.loads(out.output)).packages[0].wheels[0].path == "wheels/app-1.0-py3-none-any.whl"  # type: ignore[index]


def test_pylock_is_deterministic_and_left_alone_when_unchanged(cli: Cli, folder: Path, project: Path) -> None:
    assert cli("lock", "--format", "pylock", *TARGET_ARGS).exit_code == 0
    path = project / "pylock.toml"
    first = path.read_bytes()
    os.utime(path, ns=(1, 1))
    again = cli("lock", "--format", "pylock", *TARGET_ARGS)
    assert again.exit_code == 0
    assert "unchanged pylock.toml" in again.output
    assert path.read_bytes() == first
    assert path.stat().st_mtime_ns == 1
    header = [line for line in first.decode().splitlines() if line.startswith("#")]
    assert f"#    wheelhouse lock {' '.join(TARGET_ARGS)} --format pylock" in header
    assert "#    pip install --no-index -r pylock.toml          (pip 26.1 or newer)" in header


def test_json_names_the_format(cli: Cli, folder: Path, project: Path) -> None:
    result = cli("lock", "--format", "pylock", "--json", *TARGET_ARGS)
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["format"] == "pylock"
    assert data["output"] == "pylock.toml"
    assert data["written"] is True
    assert {p["name"] for p in data["pins"]} == {"app", "compat", "native", "tomli"}


def test_a_name_installers_would_not_read_as_a_lock_is_refused(cli: Cli, folder: Path, project: Path) -> None:
    result = cli("lock", "--format", "pylock", "-o", "locked.toml")
    assert result.exit_code == 2
    assert "pylock.toml or pylock.<name>.toml" in result.output
    assert not (project / "locked.toml").exists()
    # The name alone tells the format; requirements stay the default otherwise.
    assert cli("lock", "-o", "pylock.web.toml").exit_code == 0
    Pylock.from_dict(tomllib.loads((project / "pylock.web.toml").read_text()))
    assert cli("lock").exit_code == 0
    assert (project / "requirements.lock").read_text().startswith("# This file was generated")


def test_nothing_is_written_when_a_target_is_not_covered(cli: Cli, folder: Path, project: Path) -> None:
    result = cli("lock", "--format", "pylock", "--target", "linux/arm64", "--python", "3.9")
    assert result.exit_code == 3
    assert "refusing to lock" in result.output
    assert not (project / "pylock.toml").exists()


# -- installers ------------------------------------------------------------------------------------------------


def _isolated_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        UV_NO_CONFIG="1",
        UV_CACHE_DIR=str(tmp / "uv-cache"),
        UV_PYTHON_DOWNLOADS="never",
    )
    return env


def _pip_version() -> Version:
    out = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True, check=True)
    return Version(out.stdout.split()[1])


def _uv() -> str | None:
    return shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")


def _uv_version(uv: str) -> Version:
    out = subprocess.run([uv, "--version"], capture_output=True, text=True, check=True)
    return Version(out.stdout.split()[1])


def _installed(target_dir: Path) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for info in target_dir.glob("*.dist-info"):
        name, version = info.name.removesuffix(".dist-info").rsplit("-", 1)
        found.add((canonicalize_name(name), version))
    return found


@pytest.fixture
def host_folder(project: Path) -> Path:
    """A small closure for the machine running the tests: app -> dep, plus a marker the host does not meet."""
    wheels = project / "wheels"
    write_wheel(wheels, "app", "1.0", requires_dist=["dep>=2", 'never; sys_platform == "win32"'])
    write_wheel(wheels, "dep", "2.0")
    write_wheel(wheels, "dep", "1.0")
    (project / "requirements.txt").write_text("app==1.0\n")
    return wheels


def _tamper(path: Path) -> None:
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("dep/evil.py", "raise SystemExit('tampered')\n")


def test_pip_installs_from_the_pylock_offline_and_refuses_a_tampered_wheel(
    cli: Cli, host_folder: Path, project: Path, tmp_path: Path
) -> None:
    if _pip_version() < Version("26.1"):
        pytest.skip(f"pip {_pip_version()} cannot read pylock.toml (pip 26.1 or newer can; the test extra asks for it)")
    assert cli("lock", "--format", "pylock").exit_code == 0
    env = _isolated_env(tmp_path)
    base = [sys.executable, "-m", "pip", "--isolated", "install", "--no-index", "--no-cache-dir"]
    done = subprocess.run(
        [*base, "--target", str(tmp_path / "site"), "-r", "pylock.toml"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert _installed(tmp_path / "site") == {("app", "1.0"), ("dep", "2.0")}
    _tamper(host_folder / "dep-2.0-py3-none-any.whl")
    refused = subprocess.run(
        [*base, "--target", str(tmp_path / "site2"), "-r", "pylock.toml"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert refused.returncode != 0
    assert "do not match the hashes" in refused.stderr or "Expected sha256" in refused.stderr
    assert not (tmp_path / "site2" / "dep").exists()


@pytest.mark.parametrize("how", ["install", "sync"])
def test_uv_installs_from_the_pylock_offline_and_refuses_a_tampered_wheel(
    cli: Cli, host_folder: Path, project: Path, tmp_path: Path, how: str
) -> None:
    uv = _uv()
    if uv is None:
        pytest.skip("uv is not installed (the test extra installs it)")
    if _uv_version(uv) < Version("0.6.15"):
        pytest.skip(f"uv {_uv_version(uv)} cannot read pylock.toml (uv 0.6.15 or newer can)")
    assert cli("lock", "--format", "pylock").exit_code == 0
    env = _isolated_env(tmp_path)
    if how == "install":
        argv = [uv, "pip", "install", "--offline", "--no-config", "--python", sys.executable, "-r", "pylock.toml"]
    else:
        argv = [uv, "pip", "sync", "--offline", "--no-config", "--python", sys.executable, "pylock.toml"]

    def run(site: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*argv, "--target", str(site)], cwd=project, env=env, capture_output=True, text=True, timeout=300
        )

    done = run(tmp_path / "site")
    assert done.returncode == 0, done.stderr
    assert _installed(tmp_path / "site") == {("app", "1.0"), ("dep", "2.0")}
    _tamper(host_folder / "dep-2.0-py3-none-any.whl")
    refused = run(tmp_path / "site2")
    assert refused.returncode != 0
    # uv compares the size the lock records first, then the hash: either refuses the file.
    assert re.search(r"hash|size", refused.stderr, re.IGNORECASE), refused.stderr
    assert not (tmp_path / "site2" / "dep").exists()


def test_the_host_lock_names_the_host_environment(cli: Cli, host_folder: Path, project: Path) -> None:
    assert cli("lock", "--format", "pylock").exit_code == 0
    _, lock = _load(project / "pylock.toml")
    host = host_target()
    (environment,) = lock.environments or ()
    assert environment.evaluate(dict(host.marker_environment))
    assert {p.name for p in lock.packages} == {"app", "dep"}
