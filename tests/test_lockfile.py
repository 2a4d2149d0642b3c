"""``lock``: markers that serve every target from one file, hashes pip enforces, and deterministic output."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from packaging.markers import Marker

from tests.conftest import Cli
from tests.support.wheels import make_wheel, write_wheel
from wheelhouse.errors import UsageError
from wheelhouse.requirements import load_requirements
from wheelhouse.resolve.lockfile import LockEntry, build_lock, render_lock, target_marker
from wheelhouse.store.folder import Store
from wheelhouse.targets import Target, parse_target, parse_targets

HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
PYTHONS = sorted({"3.10", "3.12", HOST_PYTHON}, key=lambda v: tuple(map(int, v.split("."))))
TARGET_ARGS = ("--target", "linux/amd64", "--target", "linux/arm64", *(a for p in PYTHONS for a in ("--python", p)))


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
    # A build for a Python no target uses: it must not be hashed into the lock.
    write_wheel(wheels, "native", "1.0", tag=_native_tag("3.9", "x86_64"))
    write_wheel(wheels, "tomli", "2.0.1")
    (project / "requirements.txt").write_text("app==1.0\n")
    return wheels


def _sha(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _pip(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # The autouse fixture already points PIP_CONFIG_FILE at /dev/null and clears PIP_*; --isolated makes sure.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pip", "--isolated", "install", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


# -- markers ------------------------------------------------------------------------------------------------


FOUR = parse_targets(["linux/amd64", "linux/arm64"], pythons=["3.10", "3.12"])


@pytest.mark.parametrize(
    ("chosen", "expected"),
    [
        (["cp310-manylinux_2_28_x86_64", "cp310-manylinux_2_28_aarch64"], 'python_version == "3.10"'),
        (["cp312-manylinux_2_28_aarch64", "cp310-manylinux_2_28_aarch64"], 'platform_machine == "aarch64"'),
        (
            ["cp312-manylinux_2_28_x86_64"],
            '(python_version == "3.12" and platform_machine == "x86_64")',
        ),
        (
            ["cp310-manylinux_2_28_x86_64", "cp312-manylinux_2_28_x86_64", "cp312-manylinux_2_28_aarch64"],
            '(python_version == "3.10" and platform_machine == "x86_64") or python_version == "3.12"',
        ),
        ([t.name for t in FOUR], None),
    ],
)
def test_target_marker_examples(chosen: list[str], expected: str | None) -> None:
    assert target_marker([t for t in FOUR if t.name in chosen], FOUR) == expected


def test_python_ranges_name_only_target_versions() -> None:
    targets = parse_targets(["linux/amd64"], pythons=["3.10", "3.11", "3.12", "3.13"])
    assert target_marker(targets[:2], targets) == 'python_version <= "3.11"'
    assert target_marker(targets[1:], targets) == 'python_version >= "3.11"'
    assert target_marker([targets[0], targets[2]], targets) == 'python_version == "3.10" or python_version == "3.12"'


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
def test_every_subset_gets_a_marker_true_exactly_on_it(size: int) -> None:
    every = parse_targets(["linux/amd64", "linux/arm64", "linux/ppc64le"], pythons=["3.10", "3.11", "3.13"])
    for chosen in itertools.combinations(every, size):
        marker = target_marker(chosen, every)
        assert marker is not None
        parsed = Marker(marker)
        names = {t.name for t in chosen}
        assert [parsed.evaluate(dict(t.marker_environment)) for t in every] == [t.name in names for t in every]


def test_targets_differing_only_in_libc_cannot_be_split() -> None:
    glibc = parse_target("cp312-manylinux_2_28_x86_64")
    musl = parse_target("cp312-musllinux_1_2_x86_64")
    with pytest.raises(UsageError) as info:
        target_marker([musl], [glibc, musl])
    assert "differ only in libc" in str(info.value)
    assert info.value.hint is not None
    assert "wheelhouse lock --target cp312-musllinux_1_2_x86_64 -o requirements-cp312-musllinux_1_2_x86_64.lock" in (
        info.value.hint
    )
    # Both or neither: no marker needed, no ambiguity.
    assert target_marker([glibc, musl], [glibc, musl]) is None


# -- the lock -----------------------------------------------------------------------------------------------


def _targets() -> Sequence[Target]:
    return parse_targets(["linux/amd64", "linux/arm64"], pythons=PYTHONS)


def test_build_lock_entries(folder: Path) -> None:
    lock = build_lock(load_requirements(["requirements.txt"]), _targets(), Store(folder))
    assert lock.covered
    lines: dict[tuple[str, str], LockEntry] = {(e.name, str(e.version)): e for e in lock.entries}
    assert sorted(lines) == [
        ("app", "1.0"),
        ("compat", "1.0"),
        ("compat", "2.0"),
        ("native", "1.0"),
        ("tomli", "2.0.1"),
    ]
    assert lines[("app", "1.0")].marker is None
    assert lines[("compat", "1.0")].marker == 'python_version == "3.10"'
    assert lines[("compat", "2.0")].marker == 'python_version >= "3.11"'
    assert lines[("tomli", "2.0.1")].marker == 'python_version == "3.10"'
    native = lines[("native", "1.0")]
    assert native.marker is None
    expected_files = sorted(f"native-1.0-{_native_tag(p, a)}.whl" for p in PYTHONS for a in ("x86_64", "aarch64"))
    assert list(native.files) == expected_files
    assert list(native.hashes) == sorted(_sha(folder / f) for f in expected_files)
    assert all("cp39" not in f for f in native.files)


def test_cli_lock_writes_pip_format_with_header(cli: Cli, folder: Path, project: Path) -> None:
    result = cli("lock", *TARGET_ARGS)
    assert result.exit_code == 0, result.output
    assert "wrote requirements.lock: 5 pins (3 with markers)" in result.output
    text = (project / "requirements.lock").read_text()
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert header[0] == "# This file was generated by wheelhouse 0.1.0 from the wheels in wheels/."
    assert f"#    wheelhouse lock {' '.join(TARGET_ARGS)}" in header
    assert "#    cp312-manylinux_2_28_aarch64 (linux/arm64, CPython 3.12.12)" in header
    assert "#    pip install --require-hashes --no-index --find-links wheels -r requirements.lock" in header
    app = _sha(folder / "app-1.0-py3-none-any.whl")
    assert f"\napp==1.0 \\\n    --hash={app}\n" in text
    tomli = _sha(folder / "tomli-2.0.1-py3-none-any.whl")
    assert f'\ntomli==2.0.1 ; python_version == "3.10" \\\n    --hash={tomli}\n' in text
    # wheelhouse reads its own lock back as a hashed, pinned requirements file that the folder covers.
    reqs = load_requirements([project / "requirements.lock"])
    assert {str(r.requirement.specifier) for r in reqs.requirements} == {"==1.0", "==2.0", "==2.0.1"}
    assert all(r.hashes for r in reqs.requirements)
    assert cli("verify", "-r", "requirements.lock", *TARGET_ARGS).exit_code == 0


def test_lock_is_deterministic_and_left_alone_when_unchanged(cli: Cli, folder: Path, project: Path) -> None:
    assert cli("lock", *TARGET_ARGS).exit_code == 0
    path = project / "requirements.lock"
    first = path.read_bytes()
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    again = cli("lock", *TARGET_ARGS)
    assert again.exit_code == 0
    assert "unchanged requirements.lock" in again.output
    assert path.read_bytes() == first
    assert path.stat().st_mtime_ns == 1_000_000_000
    # Without the lock and with a cold metadata cache (every hash computed afresh): the same bytes.
    path.unlink()
    Store(folder).manifest_path.unlink()
    assert cli("lock", *TARGET_ARGS).exit_code == 0
    assert path.read_bytes() == first


def test_lock_to_stdout_and_json(cli: Cli, folder: Path, project: Path) -> None:
    out = cli("lock", *TARGET_ARGS, "-o", "-")
    assert out.exit_code == 0, out.output
    assert out.stdout.startswith("# This file was generated by wheelhouse")
    assert "app==1.0 \\\n" in out.stdout
    assert not (project / "requirements.lock").exists()
    data = json.loads(cli("lock", *TARGET_ARGS, "--json").stdout)
    assert data["schema"] == 1
    assert data["covered"] is True
    assert data["written"] is True
    assert data["output"] == "requirements.lock"
    assert data["targets"] == [t.name for t in _targets()]
    compat = [p for p in data["pins"] if p["name"] == "compat"]
    assert [(p["version"], p["marker"]) for p in compat] == [
        ("1.0", 'python_version == "3.10"'),
        ("2.0", 'python_version >= "3.11"'),
    ]
    assert compat[0]["targets"] == ["cp310-manylinux_2_28_x86_64", "cp310-manylinux_2_28_aarch64"]
    assert compat[0]["files"] == ["compat-1.0-py3-none-any.whl"]
    assert compat[0]["hashes"] == [_sha(folder / "compat-1.0-py3-none-any.whl")]
    assert data["verify"] is None


def test_lock_refuses_when_not_covered(cli: Cli, folder: Path, project: Path) -> None:
    for path in folder.glob("native-*aarch64*.whl"):
        path.unlink()
    result = cli("lock", *TARGET_ARGS)
    assert result.exit_code == 3
    assert "not covered" in result.output
    assert "needed by: requirements.txt:1 app==1.0 -> native>=1" in result.output
    assert "error: refusing to lock" in result.output
    assert not (project / "requirements.lock").exists()
    data = json.loads(cli("lock", *TARGET_ARGS, "--json").stdout)
    assert data["covered"] is False
    assert data["written"] is False
    assert data["pins"] == []
    assert data["verify"]["covered"] is False


def test_lock_refuses_targets_a_marker_cannot_tell_apart(cli: Cli, project: Path) -> None:
    wheels = project / "wheels"
    write_wheel(wheels, "lib", "2.0", tag="cp312-cp312-manylinux_2_17_x86_64")
    write_wheel(wheels, "lib", "1.0", tag="cp312-cp312-musllinux_1_2_x86_64")
    (project / "requirements.txt").write_text("lib\n")
    result = cli("lock", "--target", "cp312-manylinux_2_28_x86_64", "--target", "cp312-musllinux_1_2_x86_64")
    assert result.exit_code == 2
    assert "differ only in libc" in result.output
    assert "hint: wheelhouse lock --target" in result.output
    assert not (project / "requirements.lock").exists()


def test_render_lock_header_without_command(folder: Path) -> None:
    lock = build_lock(load_requirements(["requirements.txt"]), _targets()[:1], Store(folder))
    text = render_lock(lock, wheels_dir="/srv/wheels dir", output="out.lock")
    assert "To update it" not in text
    assert "--find-links '/srv/wheels dir' -r out.lock" in text
    assert text.endswith("\n")


# -- real pip -----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_pip_installs_from_the_lock_and_refuses_a_tampered_wheel(cli: Cli, folder: Path, project: Path) -> None:
    assert cli("lock", *TARGET_ARGS).exit_code == 0
    base = ("--require-hashes", "--no-index", "--find-links", "wheels", "-r", "requirements.lock")

    # This machine is one of the targets: pip installs exactly its pins.
    host = _pip(*base, "--target", str(project / "host"), cwd=project)
    assert host.returncode == 0, host.stdout + host.stderr
    installed = {p.name for p in (project / "host").glob("*.dist-info")}
    compat = "compat-1.0.dist-info" if HOST_PYTHON == "3.10" else "compat-2.0.dist-info"
    tomli = {"tomli-2.0.1.dist-info"} if HOST_PYTHON == "3.10" else set()
    assert installed == {"app-1.0.dist-info", "native-1.0.dist-info", compat} | tomli

    # Another architecture and Python: pip picks the aarch64 cp312 build, whose hash the same line allows.
    arm = _pip(
        *base,
        "--target",
        str(project / "arm"),
        "--platform",
        "manylinux_2_17_aarch64",
        "--python-version",
        "3.12",
        "--implementation",
        "cp",
        "--only-binary=:all:",
        cwd=project,
    )
    assert arm.returncode == 0, arm.stdout + arm.stderr
    wheel_meta = (project / "arm" / "native-1.0.dist-info" / "WHEEL").read_text()
    assert "Tag: cp312-cp312-manylinux_2_17_aarch64" in wheel_meta

    # Same name, other bytes: pip must refuse it.
    machine = os.uname().machine
    victim = folder / f"native-1.0-{_native_tag(HOST_PYTHON, machine)}.whl"
    _, data = make_wheel("native", "1.0", tag=_native_tag(HOST_PYTHON, machine), payload_size=501)
    victim.write_bytes(data)
    tampered = _pip(*base, "--target", str(project / "tampered"), cwd=project)
    assert tampered.returncode != 0
    assert "DO NOT MATCH THE HASHES" in tampered.stderr
    assert not (project / "tampered" / "native").exists()
