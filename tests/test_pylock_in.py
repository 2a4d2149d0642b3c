"""pylock.toml as an input: the locked versions honoured exactly, resolved per target (markers and tags still decide
the files), and a lock that cannot serve a target refused in one line naming the package and the target."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.index_server import IndexServer
from tests.support.wheels import make_wheel, write_wheel
from wheelhouse.errors import RequirementsError
from wheelhouse.resolve.pylock import is_pylock_file, read_pylock_constraints
from wheelhouse.targets import parse_target

HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
FOUR = ("--target", "linux/amd64", "--target", "linux/arm64", "--python", "3.10", "--python", "3.12")
AMD64 = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"


@pytest.fixture
def locked(cli: Cli, project: Path) -> Path:
    """A folder and its pylock.toml for four targets: tomli only below 3.11, a native build per Python and arch."""
    wheels = project / "wheels"
    write_wheel(wheels, "app", "1.0", requires_dist=["native", 'tomli; python_version < "3.11"'])
    for python in ("310", "312"):
        for arch in ("x86_64", "aarch64"):
            write_wheel(wheels, "native", "1.0", tag=f"cp{python}-cp{python}-manylinux_2_17_{arch}")
    write_wheel(wheels, "tomli", "2.0.1")
    (project / "requirements.txt").write_text("app==1.0\n")
    result = cli("lock", "--format", "pylock", *FOUR)
    assert result.exit_code == 0, result.output
    (project / "requirements.txt").unlink()
    return project / "pylock.toml"


def _pins(cli: Cli, *args: str) -> dict[str, set[tuple[str, str]]]:
    result = cli("verify", "--json", *args)
    assert result.exit_code == 0, result.output
    return {t["target"]: {(p["name"], p["version"]) for p in t["pins"]} for t in json.loads(result.output)["targets"]}


def _write_lock(path: Path, body: str, header: str = "") -> Path:
    path.write_text(f'lock-version = "1.0"\ncreated-by = "hand"\n{header}\n{body}')
    return path


def _lock_of_one(project: Path, wheel: Path, *, marker: str | None = None, header: str = "") -> Path:
    """pylock.toml in ``project`` locking the one package of ``wheel`` (in wheels/), with its hash."""
    name, version = wheel.name.split("-")[:2]
    marker_line = f"marker = '{marker}'\n" if marker else ""
    return _write_lock(
        project / "pylock.toml",
        f'[[packages]]\nname = "{name}"\nversion = "{version}"\n{marker_line}'
        f'wheels = [{{ name = "{wheel.name}", path = "wheels/{wheel.name}", '
        f'hashes = {{ sha256 = "{hashlib.sha256(wheel.read_bytes()).hexdigest()}" }} }}]\n',
        header,
    )


def test_reader_pins_each_package_under_its_marker_with_its_hashes_and_line(locked: Path) -> None:
    lock = read_pylock_constraints(locked)
    lines = locked.read_text().splitlines()
    by_name = {str(line.name): line for line in lock.requirements}
    assert sorted(by_name) == ["app", "native", "tomli"]
    assert str(by_name["app"].requirement) == "app==1.0"
    assert str(by_name["tomli"].requirement) == 'tomli==2.0.1; python_version == "3.10"'
    assert len(by_name["native"].hashes) == 4
    assert all(h.startswith("sha256:") for line in lock.requirements for h in line.hashes)
    for line in lock.requirements:
        assert line.origin.path == str(locked)
        assert line.origin.line is not None
        assert lines[line.origin.line - 1] == "[[packages]]"
        assert lines[line.origin.line + 0] == f'name = "{line.name}"'


def test_every_command_resolves_the_locked_versions_per_target(cli: Cli, locked: Path, project: Path) -> None:
    pins = _pins(cli, "-r", "pylock.toml", *FOUR)
    assert pins["cp310-manylinux_2_28_x86_64"] == {("app", "1.0"), ("native", "1.0"), ("tomli", "2.0.1")}
    assert pins["cp312-manylinux_2_28_aarch64"] == {("app", "1.0"), ("native", "1.0")}
    # Found without -r too: pylock.toml is what the project offers when there is no requirements.txt.
    assert _pins(cli, *FOUR) == pins
    why = cli("why", "tomli", "-r", "pylock.toml", *FOUR)
    assert why.exit_code == 0, why.output
    assert "pylock.toml:" in why.output
    # lock reads its own lock back and writes the same pins in pip's format.
    assert cli("lock", "-r", "pylock.toml", *FOUR).exit_code == 0
    text = (project / "requirements.lock").read_text()
    assert 'tomli==2.0.1 ; python_version == "3.10"' in text


def test_prune_keeps_exactly_what_the_lock_selects(cli: Cli, locked: Path, project: Path) -> None:
    write_wheel(project / "wheels", "app", "0.9")
    write_wheel(project / "wheels", "native", "1.0", tag="cp39-cp39-manylinux_2_17_x86_64")
    result = cli("prune", "-r", "pylock.toml", *FOUR, "--yes")
    assert result.exit_code == 0, result.output
    left = sorted(p.name for p in (project / "wheels").glob("*.whl"))
    assert "app-0.9-py3-none-any.whl" not in left
    assert "native-1.0-cp39-cp39-manylinux_2_17_x86_64.whl" not in left
    assert len(left) == 6


def test_a_target_outside_the_locks_environments_is_refused_naming_it(cli: Cli, locked: Path) -> None:
    result = cli("verify", "-r", "pylock.toml", "--target", "linux/amd64", "--python", "3.11")
    assert result.exit_code == 3
    (line,) = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert "pylock.toml cannot serve target cp311-manylinux_2_28_x86_64 (linux/amd64)" in line
    assert "made only for cp310-manylinux_2_28_x86_64, cp312-manylinux_2_28_x86_64" in line


def test_a_package_without_a_file_for_the_target_is_named(cli: Cli, project: Path) -> None:
    _lock_of_one(project, write_wheel(project / "wheels", "native", "1.0", tag=AMD64))
    ok = cli("verify", "-r", "pylock.toml", "--target", "linux/amd64", "--python", "3.11")
    assert ok.exit_code == 0, ok.output
    result = cli("verify", "-r", "pylock.toml", "--target", "linux/arm64", "--python", "3.11")
    assert result.exit_code == 3
    assert (
        "error: pylock.toml cannot serve target cp311-manylinux_2_28_aarch64 (linux/arm64): no wheel of native 1.0 "
        "in the lock fits it, and the lock has no sdist of native"
    ) in result.output


def test_a_package_for_another_python_is_named(cli: Cli, project: Path) -> None:
    write_wheel(project / "wheels", "modern", "2.0")
    _write_lock(
        project / "pylock.toml",
        '[[packages]]\nname = "modern"\nversion = "2.0"\nrequires-python = ">=3.12"\n'
        f'wheels = [{{ name = "modern-2.0-py3-none-any.whl", hashes = {{ sha256 = "{"1" * 64}" }}, '
        'path = "wheels/modern-2.0-py3-none-any.whl" }]\n',
    )
    result = cli("verify", "-r", "pylock.toml", "--target", "linux/amd64", "--python", "3.11")
    assert result.exit_code == 3
    assert "cp311-manylinux_2_28_x86_64 (linux/amd64): modern 2.0 requires Python >=3.12; the target has 3.11" in (
        result.output
    )


def test_locked_versions_are_honoured_over_newer_ones(cli: Cli, project: Path, index_server: IndexServer) -> None:
    """The index and the folder offer dep 2.0; the lock says 1.0, and 1.0 is what every command takes."""
    digests: dict[str, str] = {}
    for version in ("1.0", "2.0"):
        filename, data = make_wheel("dep", version)
        index_server.add(filename, data)
        digests[version] = hashlib.sha256(data).hexdigest()
    write_wheel(project / "wheels", "dep", "2.0")
    _write_lock(
        project / "pylock.toml",
        '[[packages]]\nname = "dep"\nversion = "1.0"\n'
        f'wheels = [{{ name = "dep-1.0-py3-none-any.whl", url = "{index_server.file_url("dep-1.0-py3-none-any.whl")}", '
        f'hashes = {{ sha256 = "{digests["1.0"]}" }} }}]\n',
    )
    result = cli("download", "-r", "pylock.toml", "--index-url", index_server.index_url, "--python", HOST_PYTHON)
    assert result.exit_code == 0, result.output
    assert (project / "wheels" / "dep-1.0-py3-none-any.whl").is_file()
    assert _pins(cli, "-r", "pylock.toml", "--python", HOST_PYTHON) == {
        parse_target("host", python=HOST_PYTHON).name: {("dep", "1.0")}
    }


def test_dependency_group_markers_follow_the_default_groups(cli: Cli, project: Path) -> None:
    digests: dict[str, str] = {}
    for name in ("base", "devtool", "doctool"):
        digests[name] = hashlib.sha256(write_wheel(project / "wheels", name, "1.0").read_bytes()).hexdigest()

    def package(name: str, marker: str = "") -> str:
        return (
            f'[[packages]]\nname = "{name}"\nversion = "1.0"\n{marker}'
            f'wheels = [{{ name = "{name}-1.0-py3-none-any.whl", path = "wheels/{name}-1.0-py3-none-any.whl", '
            f'hashes = {{ sha256 = "{digests[name]}" }} }}]\n'
        )

    _write_lock(
        project / "pylock.toml",
        package("base")
        + package("devtool", "marker = \"'dev' in dependency_groups\"\n")
        + package("doctool", "marker = \"'docs' in dependency_groups and sys_platform == 'linux'\"\n"),
        header='dependency-groups = ["dev", "docs"]\ndefault-groups = ["dev"]\n',
    )
    pins = _pins(cli, "-r", "pylock.toml", "--python", HOST_PYTHON)
    # dev is a default group, docs is not: pip installs the lock the same way by default.
    assert list(pins.values()) == [{("base", "1.0"), ("devtool", "1.0")}]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('[[packages]]\nname = "x"\nvcs = { type = "git", url = "https://e.org/x", commit-id = "abc" }\n', "VCS"),
        ('[[packages]]\nname = "x"\ndirectory = { path = "../x" }\n', "a directory"),
        ('[[packages]]\nname = "Not_Normal"\nversion = "1"\n', "not a valid pylock.toml"),
        ("[[packages]\n", "invalid TOML"),
    ],
)
def test_a_lock_that_cannot_be_used_offline_is_a_one_line_error(
    cli: Cli, project: Path, body: str, reason: str
) -> None:
    _write_lock(project / "pylock.toml", body)
    result = cli("verify", "-r", "pylock.toml")
    assert result.exit_code == 2
    (line,) = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert line.startswith("error: pylock.toml")
    assert reason in line
    assert "Traceback" not in result.output


def test_a_newer_lock_version_is_refused(project: Path) -> None:
    (project / "pylock.toml").write_text('lock-version = "2.0"\ncreated-by = "x"\npackages = []\n')
    with pytest.raises(
        RequirementsError, match=re.escape("not a valid pylock.toml: pylock version 2.0 is not supported")
    ):
        read_pylock_constraints(project / "pylock.toml")


def test_a_lock_under_another_name_is_told_by_its_content(cli: Cli, locked: Path, project: Path) -> None:
    other = project / "deps-locked.toml"
    other.write_bytes(locked.read_bytes())
    assert is_pylock_file(other)
    assert not is_pylock_file(project / "wheels" / "app-1.0-py3-none-any.whl")
    (project / "requirements.in").write_text("app==1.0\n")
    assert not is_pylock_file(project / "requirements.in")
    assert _pins(cli, "-r", "deps-locked.toml", *FOUR) == _pins(cli, "-r", "pylock.toml", *FOUR)


def test_an_environment_marker_that_cannot_be_evaluated_admits_no_target(cli: Cli, project: Path) -> None:
    wheel = write_wheel(project / "wheels", "app", "1.0")
    _lock_of_one(project, wheel, header="environments = ['python_version ~= \"abc\"']\n")
    result = cli("verify", "-r", "pylock.toml", "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert "pylock.toml cannot serve target cp312-manylinux_2_28_x86_64 (linux/amd64)" in line
    assert "one of its markers cannot be evaluated for it (~= cannot compare '3.12' with 'abc')" in line


def test_a_package_marker_that_cannot_be_evaluated_is_the_locks_error(cli: Cli, project: Path) -> None:
    _lock_of_one(project, write_wheel(project / "wheels", "app", "1.0"), marker='python_version ~= "abc"')
    result = cli("verify", "-r", "pylock.toml", "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert line.startswith("error: pylock.toml:")
    assert "a marker that cannot be evaluated (~= cannot compare" in line
