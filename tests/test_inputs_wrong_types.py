"""Input and settings files that parse but hold values of the wrong type, values nested without end, bytes that
are not UTF-8, and Dockerfiles ``init`` must not copy blindly.

Each ends in one line ``error: FILE[:LINE]: ...`` and exit 2, naming the value at fault; never an internal error,
and never a wrong value read as "nothing" (a string where a list belongs is not an empty list).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result

from tests.conftest import Cli
from tests.support.wheels import write_wheel
from wheelhouse.inputs.dockerfile import read_dockerfile
from wheelhouse.settings import load_settings

AMD64 = ("--target", "linux/amd64", "--python", "3.12")

UV_LOCK = """\
version = 1
requires-python = ">=3.11"

[[package]]
name = "myapp"
version = "0.1.0"
source = { virtual = "." }
dependencies = [{ name = "kite" }]

[[package]]
name = "kite"
version = "4.1.1"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "pixel-utils" }]

[[package]]
name = "pixel-utils"
version = "1.1.3"
source = { registry = "https://pypi.org/simple" }
"""

POETRY_LOCK = """\
[[package]]
name = "kite"
version = "4.1.1"
description = ""
optional = false
python-versions = ">=3.8"
groups = ["main"]
files = []

[[package]]
name = "pixel-utils"
version = "1.1.3"
description = ""
optional = false
python-versions = ">=3.8"
groups = ["main"]
files = []

[extras]

[metadata]
lock-version = "2.1"
python-versions = "^3.11"
content-hash = "x"
"""

# Deep enough to exhaust the interpreter's stack in a recursive parser, small enough to stay a few kilobytes.
DEEP = "[" * 5000 + "]" * 5000


@pytest.fixture
def folder(project: Path) -> Path:
    """The wheels both locks pin: kite 4.1.1, which needs pixel-utils 1.1.3."""
    write_wheel(project / "wheels", "kite", "4.1.1", requires_dist=["pixel-utils"])
    write_wheel(project / "wheels", "pixel-utils", "1.1.3")
    return project


def one_error(result: Result, code: int = 2) -> str:
    """The one ``error:`` line of a run that failed with ``code``, after checking nothing else went wrong."""
    assert result.exit_code == code, result.output
    assert "internal error" not in result.output
    assert "Traceback" not in result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("error: ")]
    return line


def edit(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


# -- uv.lock ------------------------------------------------------------------------------------------------------


def test_the_good_uv_lock_is_covered(cli: Cli, folder: Path) -> None:
    (folder / "uv.lock").write_text(UV_LOCK)
    result = cli("verify", "-r", "uv.lock", *AMD64)
    assert result.exit_code == 0, result.output
    assert "covered, 2 pinned" in result.output


KITE_DEPENDENCY = 'dependencies = [{ name = "kite" }]'
VIRTUAL_ROOT = 'source = { virtual = "." }'


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            KITE_DEPENDENCY,
            'dependencies = [{ name = "kite", marker = 5 }]',
            "uv.lock:8: myapp: dependencies entry 'kite' has a marker that is not a string",
        ),
        (
            KITE_DEPENDENCY,
            'dependencies = [{ name = "kite", extra = 5 }]',
            "uv.lock:8: myapp: dependencies entry 'kite' has an extra that is not a list of strings",
        ),
        (
            'name = "kite"\n',
            'name = "kite"\nresolution-markers = 5\n',
            "uv.lock:12: kite: resolution-markers must be a list of strings",
        ),
        (
            'name = "kite"\n',
            'name = "kite"\nresolution-markers = [5]\n',
            "uv.lock:12: kite: resolution-markers must be a list of strings",
        ),
        (
            'requires-python = ">=3.11"\n',
            'requires-python = ">=3.11"\nsupported-markers = 5\n',
            "uv.lock:3: supported-markers must be a list of strings",
        ),
        (
            KITE_DEPENDENCY,
            'dependencies = "kite"',
            "uv.lock:8: myapp: dependencies must be a list of tables",
        ),
        (
            'version = "4.1.1"',
            "version = \"4.1.1; python_version < '3'\"",
            "uv.lock:12: kite: version must be a PEP 440 version",
        ),
        (
            KITE_DEPENDENCY,
            "dependencies = [{ name = \"kite; python_version < '3'\" }]",
            "uv.lock:8: myapp: dependencies entry \"kite; python_version < '3'\" is not a valid project name",
        ),
    ],
    ids=[
        "marker-number",
        "extra-number",
        "resolution-markers-number",
        "resolution-markers-numbers",
        "supported-markers-number",
        "dependencies-string",
        "version-with-marker",
        "name-with-marker",
    ],
)
def test_uv_lock_values_of_the_wrong_type(cli: Cli, folder: Path, old: str, new: str, expected: str) -> None:
    (folder / "uv.lock").write_text(edit(UV_LOCK, old, new))
    assert one_error(cli("verify", "-r", "uv.lock", *AMD64)).startswith(f"error: {expected}")


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ("[manifest]\nmembers = 5\n", "uv.lock:4: [manifest] members must be a list of strings"),
        ("manifest = { members = [5] }\n", "uv.lock:3: [manifest] members must be a list of strings"),
    ],
    ids=["number", "numbers"],
)
def test_uv_lock_workspace_members_of_the_wrong_type(cli: Cli, folder: Path, manifest: str, expected: str) -> None:
    # Without a project at the root, the members listed in the manifest are the roots.
    text = edit(edit(UV_LOCK, VIRTUAL_ROOT, 'source = { virtual = "sub" }'), "\n\n", "\n" + manifest + "\n")
    (folder / "uv.lock").write_text(text)
    assert one_error(cli("verify", "-r", "uv.lock", *AMD64)) == f"error: {expected}"
    (folder / "uv.lock").write_text(text.replace("[5]", "5").replace("5", '["myapp"]'))
    assert cli("verify", "-r", "uv.lock", *AMD64).exit_code == 0


def test_uv_lock_extra_written_as_a_string_is_not_an_empty_extra(cli: Cli, folder: Path) -> None:
    text = edit(UV_LOCK, KITE_DEPENDENCY, 'dependencies = []\n\n[package.optional-dependencies]\nx = "kite"')
    (folder / "uv.lock").write_text(text)
    line = one_error(cli("verify", "-r", "uv.lock", "--extra", "x", *AMD64))
    assert line == "error: uv.lock:11: myapp: optional-dependencies 'x' must be a list of tables"


# -- poetry.lock --------------------------------------------------------------------------------------------------


def test_the_good_poetry_lock_is_covered(cli: Cli, folder: Path) -> None:
    (folder / "poetry.lock").write_text(POETRY_LOCK)
    result = cli("verify", "-r", "poetry.lock", *AMD64)
    assert result.exit_code == 0, result.output
    assert "covered, 2 pinned" in result.output


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("[extras]\n", "[extras]\nx = 5\n", "poetry.lock:20: [extras] x must be a list of strings"),
        ("[extras]\n", "[extras]\nx = [5]\n", "poetry.lock:20: [extras] x must be a list of strings"),
        ('groups = ["main"]', "groups = 5", "poetry.lock:7: kite: groups must be a list of strings"),
        ('groups = ["main"]', 'groups = "main"', "poetry.lock:7: kite: groups must be a list of strings"),
        (
            'groups = ["main"]\n',
            'groups = ["main"]\nmarkers = {main = 5}\n',
            "poetry.lock:8: kite: markers must be a string or a table of strings",
        ),
        (
            'version = "4.1.1"',
            "version = \"4.1.1; python_version < '3'\"",
            "poetry.lock:3: kite: version must be a PEP 440 version",
        ),
    ],
    ids=["extra-number", "extra-numbers", "groups-number", "groups-string", "markers-number", "version-with-marker"],
)
def test_poetry_lock_values_of_the_wrong_type(cli: Cli, folder: Path, old: str, new: str, expected: str) -> None:
    (folder / "poetry.lock").write_text(edit(POETRY_LOCK, old, new))
    assert one_error(cli("verify", "-r", "poetry.lock", "--extra", "x", *AMD64)).startswith(f"error: {expected}")


# -- pyproject.toml -----------------------------------------------------------------------------------------------

PROJECT = '[project]\nname = "myapp"\nversion = "0.1.0"\ndependencies = []\n'


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("dynamic = 5\n", "pyproject.toml: [project] dynamic must be a list of strings"),
        ("requires-python = 5\n", "pyproject.toml: [project] requires-python must be a string"),
    ],
    ids=["dynamic", "requires-python"],
)
def test_pyproject_values_of_the_wrong_type(cli: Cli, folder: Path, extra: str, expected: str) -> None:
    (folder / "pyproject.toml").write_text(PROJECT + extra)
    assert one_error(cli("verify", "-r", "pyproject.toml", *AMD64)) == f"error: {expected}"


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ('g = [{include-group = "nope"}]\n', "pyproject.toml:7: dependency group 'g' includes 'nope', which does"),
        (
            'g = ["kite", {include-group = "h"}]\nh = [\n  "kite",\n  {include-group = "nope"},\n]\n',
            "pyproject.toml:10: dependency group 'h' includes 'nope', which does",
        ),
    ],
    ids=["direct", "through-another-group"],
)
def test_a_group_that_includes_a_missing_group(cli: Cli, folder: Path, groups: str, expected: str) -> None:
    (folder / "pyproject.toml").write_text(PROJECT + "\n[dependency-groups]\n" + groups)
    line = one_error(cli("verify", "-r", "pyproject.toml", "--group", "g", *AMD64))
    assert line == f"error: {expected} not exist"


# -- values nested without end ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pyproject.toml", PROJECT + f"foo = {DEEP}\n"),
        ("uv.lock", f"version = 1\nfoo = {DEEP}\n"),
        ("poetry.lock", f"foo = {DEEP}\n"),
        # pylock.toml is read through the same TOML reader as the others.
        ("pylock.toml", f'lock-version = "1.0"\nfoo = {DEEP}\n'),
    ],
    ids=["pyproject", "uv", "poetry", "pylock"],
)
def test_an_input_nested_too_deeply(cli: Cli, folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text)
    line = one_error(cli("verify", "-r", name, *AMD64))
    assert line == f"error: {name}: invalid TOML: values nested too deeply"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("wheelhouse.toml", f'wheels = "wheels"\nfoo = {DEEP}\n'),
        ("pyproject.toml", f'[tool.wheelhouse]\nwheels = "wheels"\nfoo = {DEEP}\n'),
    ],
    ids=["wheelhouse.toml", "tool.wheelhouse"],
)
def test_a_configuration_file_nested_too_deeply(cli: Cli, project: Path, name: str, text: str) -> None:
    (project / name).write_text(text)
    for command in ("list", "config"):
        line = one_error(cli(command))
        assert line == f"error: {project / name}: invalid TOML: values nested too deeply"


# -- configuration files that are not UTF-8 -----------------------------------------------------------------------


def test_a_wheelhouse_toml_that_is_not_utf8(cli: Cli, project: Path) -> None:
    (project / "wheelhouse.toml").write_bytes(b'wheels = "wheels"\n\xff\n')
    for command in ("list", "config"):
        assert one_error(cli(command)) == f"error: {project / 'wheelhouse.toml'}:2: not UTF-8"
    (project / "wheelhouse.toml").unlink()
    (project / "bad.toml").write_bytes(b"\xff")
    assert one_error(cli("--config", "bad.toml", "list")) == "error: bad.toml:1: not UTF-8"


def test_a_tool_wheelhouse_table_that_is_not_utf8_is_not_ignored(cli: Cli, project: Path) -> None:
    (project / "pyproject.toml").write_bytes(PROJECT.encode() + b'\n[tool.wheelhouse]\nwheels = "w\xff"\n')
    for command in ("list", "config"):
        assert one_error(cli(command)) == f"error: {project / 'pyproject.toml'}:7: not UTF-8"


def test_a_pyproject_without_the_table_is_still_no_configuration(cli: Cli, project: Path) -> None:
    # Another tool's broken pyproject.toml is not wheelhouse's configuration: commands that do not read it go on.
    (project / "pyproject.toml").write_bytes(PROJECT.encode() + b'\n[tool.other]\nx = "\xff"\n')
    result = cli("config")
    assert result.exit_code == 0, result.output
    assert "no configuration file" in result.output


# -- init and the Dockerfile --------------------------------------------------------------------------------------


def test_init_escapes_control_characters_of_the_dockerfile(cli: Cli, project: Path) -> None:
    (project / "requirements.txt").write_text("kite\n")
    (project / "Dockerfile").write_bytes(b"FROM python:3.12-slim\x00\xff\n")
    result = cli("init")
    assert result.exit_code == 0, result.output
    text = (project / "wheelhouse.toml").read_text()
    assert "\x00" not in text
    assert "FROM python:3.12-slim\\x00" in text
    settings = load_settings(project)
    assert (settings.requirements, settings.targets, settings.python) == (
        ("requirements.txt",),
        ("linux/amd64",),
        ("3.12",),
    )


@pytest.mark.parametrize(
    ("line", "platform", "python"),
    [
        ('FROM --platform="linux/arm64" python:3.12', "linux/arm64", "3.12"),
        ("FROM --platform='linux/arm64' \"python:3.12-slim\"", "linux/arm64", "3.12"),
        ('ARG P=linux/arm64\nFROM --platform="$P" python:3.12', "linux/arm64", "3.12"),
        ("FROM python:3.12.1rc1-slim", "linux/amd64", "3.12"),
        ("FROM python:3.13.0b2", "linux/amd64", "3.13"),
    ],
    ids=["double-quoted", "single-quoted", "quoted-variable", "release-candidate", "beta"],
)
def test_from_lines_read_as_docker_reads_them(tmp_path: Path, line: str, platform: str, python: str) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(line + "\n")
    found = read_dockerfile(dockerfile)
    assert found is not None
    assert (found.platform, found.python) == (platform, python)


def test_init_with_a_quoted_platform(cli: Cli, project: Path) -> None:
    (project / "Dockerfile").write_text('FROM --platform="linux/arm64" python:3.12.1rc1-slim\n')
    result = cli("init")
    assert result.exit_code == 0, result.output
    settings = load_settings(project)
    assert (settings.targets, settings.python) == (("linux/arm64",), ("3.12",))


def test_init_names_the_dockerfile_of_a_platform_it_cannot_use(cli: Cli, project: Path) -> None:
    (project / "Dockerfile").write_text("FROM python:3.12\nFROM --platform=linux/foo python:3.12\n")
    assert one_error(cli("init")).startswith("error: Dockerfile:2: bad target 'linux/foo'")
    assert not (project / "wheelhouse.toml").exists()
