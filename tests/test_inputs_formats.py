"""The input readers on their own: what each format yields (requirements, pins, origins, scopes), how a format
is told, and the errors for inputs that cannot be used offline."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from wheelhouse.errors import NotCoveredError, RequirementsError, UsageError
from wheelhouse.inputs import Selection, check_scopes, detect_format, find_default_input, load_inputs
from wheelhouse.inputs.model import settle_extras
from wheelhouse.inputs.poetrylock import poetry_python_spec
from wheelhouse.targets import parse_target

DATA = Path(__file__).parent / "data" / "inputs"


def lines(path: Path | str, **selection: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(requirements, constraints) as ``origin requirement`` strings."""
    found = load_inputs([str(path)], selection=Selection(**selection)).requirements
    return [str(r) for r in found.requirements], [str(c) for c in found.constraints]


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_pyproject_dependencies_extras_and_groups_with_lines(here: Path) -> None:
    shutil.copy(DATA / "project" / "pyproject.toml", here)
    assert lines("pyproject.toml") == (
        ["pyproject.toml:6 alpha>=1.0", 'pyproject.toml:7 beta; sys_platform == "linux"'],
        [],
    )
    requirements, _ = lines("pyproject.toml", extras=("CLI",), groups=("test",))
    # An extra's name is normalised; the test group includes dev, whose delta keeps its own line.
    assert requirements[2:] == ["pyproject.toml:11 gamma", "pyproject.toml:17 epsilon", "pyproject.toml:14 delta"]


def test_pyproject_group_cycle_is_packagings_error_on_one_line(here: Path) -> None:
    (here / "pyproject.toml").write_text(
        '[dependency-groups]\na = [{include-group = "b"}]\nb = [{include-group = "a"}, "x"]\n'
    )
    with pytest.raises(RequirementsError) as info:
        load_inputs(["pyproject.toml"], selection=Selection(groups=("a",)))
    assert "Cyclic dependency group include" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('[project]\nname = "x"\ndynamic = ["dependencies"]\n', "dependencies are dynamic"),
        ('[project]\nname = "x"\n[tool.poetry.dependencies]\nrequests = "^2"\n', "[tool.poetry]"),
        ("[tool.ruff]\nline-length = 1\n", "no [project] table"),
        ('[project]\ndependencies = ["git+https://example.org/x.git"]\n', "not supported offline"),
    ],
)
def test_pyproject_that_cannot_be_read_offline(here: Path, text: str, reason: str) -> None:
    (here / "pyproject.toml").write_text(text)
    with pytest.raises(RequirementsError, match=re.escape(reason)):
        load_inputs(["pyproject.toml"])


def test_uv_lock_roots_are_the_projects_dependencies_and_every_release_a_pin() -> None:
    requirements, constraints = lines(DATA / "uv.lock", groups=("dev",))
    path = str(DATA / "uv.lock")
    assert requirements == [f"{path}:37 alpha", f'{path}:38 beta; sys_platform == "linux"', f"{path}:48 delta"]
    assert constraints == [
        f"{path}:6 alpha==1.0",
        f"{path}:17 beta==1.0",
        f"{path}:25 delta==1.0",
        f"{path}:71 epsilon==1.0",
        f"{path}:79 gamma==1.0",
        f"{path}:87 zeta==1.5",
    ]


def test_uv_lock_forks_keep_their_markers_and_workspace_members_are_walked_through(here: Path) -> None:
    (here / "uv.lock").write_text(
        """version = 1
revision = 3
requires-python = ">=3.9"
supported-markers = ["sys_platform == 'linux'"]

[manifest]
members = ["app", "lib"]

[[package]]
name = "app"
version = "0.1.0"
source = { virtual = "." }
dependencies = [{ name = "lib" }]

[[package]]
name = "lib"
version = "0.1.0"
source = { editable = "packages/lib" }
dependencies = [
    { name = "numpy", version = "1.26.4", marker = "python_full_version < '3.10'" },
    { name = "numpy", version = "2.1.0", marker = "python_full_version >= '3.10'" },
]

[[package]]
name = "numpy"
version = "1.26.4"
source = { registry = "https://pypi.org/simple" }
resolution-markers = ["python_full_version < '3.10'"]

[[package]]
name = "numpy"
version = "2.1.0"
source = { registry = "https://pypi.org/simple" }
resolution-markers = ["python_full_version >= '3.10'"]
"""
    )
    inputs = load_inputs(["uv.lock"])
    assert [str(r.requirement) for r in inputs.requirements.requirements] == [
        'numpy; python_full_version < "3.10"',
        'numpy; python_full_version >= "3.10"',
    ]
    assert [str(c.requirement) for c in inputs.requirements.constraints] == [
        'numpy==1.26.4; python_full_version < "3.10"',
        'numpy==2.1.0; python_full_version >= "3.10"',
    ]
    check_scopes(inputs.scopes, [parse_target("linux/amd64", python="3.12")])
    with pytest.raises(NotCoveredError, match=r"uv.lock \(project app\) cannot serve target cp38"):
        check_scopes(inputs.scopes, [parse_target("linux/amd64", python="3.8")])


def test_uv_lock_git_source_is_refused_with_its_line(here: Path) -> None:
    (here / "uv.lock").write_text(
        'version = 1\nrequires-python = ">=3.9"\n\n[[package]]\nname = "app"\nversion = "1"\n'
        'source = { virtual = "." }\ndependencies = [{ name = "tool" }]\n\n'
        '[[package]]\nname = "tool"\nversion = "1.0"\nsource = { git = "https://example.org/tool?rev=1#abc" }\n'
    )
    with pytest.raises(RequirementsError) as info:
        load_inputs(["uv.lock"])
    assert str(info.value) == "uv.lock:11: tool comes from a git source, which is not supported offline"


def test_poetry_lock_groups_markers_and_extras() -> None:
    path = str(DATA / "poetry.lock")
    requirements, constraints = lines(path)
    assert requirements == [
        f"{path}:4 alpha==1.0",
        f'{path}:23 beta==1.0; sys_platform == "linux"',
        f"{path}:89 zeta==1.5",
    ]
    assert len(constraints) == 6
    with_extra, _ = lines(path, extras=("cli",), groups=("dev",))
    assert f"{path}:72 gamma==1.0" in with_extra
    assert f"{path}:40 delta==1.0" in with_extra
    assert f"{path}:56 epsilon==1.0" not in with_extra  # only in the test group


def test_poetry_lock_of_an_older_format_says_to_lock_again(here: Path) -> None:
    (here / "poetry.lock").write_text(
        '[[package]]\nname = "a"\nversion = "1"\noptional = false\npython-versions = "*"\nfiles = []\n\n'
        '[metadata]\nlock-version = "2.0"\npython-versions = "^3.9"\ncontent-hash = "x"\n'
    )
    with pytest.raises(RequirementsError) as info:
        load_inputs(["poetry.lock"])
    assert "lock-version 2.0 does not say which group" in str(info.value)
    assert info.value.hint is not None
    assert "poetry lock" in info.value.hint


@pytest.mark.parametrize(
    ("text", "spec"),
    [("^3.9", ">=3.9,<4"), ("~3.10", ">=3.10,<3.11"), (">=3.10,<4.0", ">=3.10,<4.0"), ("^0.2.1", ">=0.2.1,<0.3")],
)
def test_poetry_python_versions(text: str, spec: str) -> None:
    assert poetry_python_spec(text) == SpecifierSet(spec)


def test_poetry_python_versions_unions_and_anything_are_not_checked() -> None:
    assert poetry_python_spec("*") is None
    assert poetry_python_spec(">=2.7,<2.8 || >=3.4") is None


def test_extra_clauses_settle_to_the_selection() -> None:
    assert settle_extras('extra == "cli"', frozenset({"cli"})) is None
    never = settle_extras("extra == 'cli'", frozenset())
    assert never is not None
    assert not never.evaluate({"python_version": "3.12"})
    mixed = settle_extras('sys_platform == "linux" and extra == "cli"', frozenset({"cli"}))
    assert mixed is not None
    assert mixed.evaluate({"sys_platform": "linux", "python_version": "3.12"})
    assert not mixed.evaluate({"sys_platform": "darwin", "python_version": "3.12"})


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("requirements.txt", "", "requirements"),
        ("dev.in", "", "requirements"),
        ("reqs", "# pinned\nflask==3.0\n", "requirements"),
        ("pylock.web.toml", "", "pylock"),
        ("deps.toml", 'lock-version = "1.0"\ncreated-by = "x"\npackages = []\n', "pylock"),
        ("frozen", 'version = 1\nrequires-python = ">=3.9"\n', "uv.lock"),
        ("app.lock", '# Poetry\n[[package]]\nname = "a"\n[metadata]\nlock-version = "2.1"\n', "poetry.lock"),
        ("project.toml", '[project]\nname = "x"\n', "pyproject"),
    ],
)
def test_format_by_name_then_content(here: Path, name: str, content: str, kind: str) -> None:
    (here / name).write_text(content)
    assert detect_format(name) == kind


def test_pipfile_lock_is_an_unknown_format(here: Path) -> None:
    (here / "Pipfile.lock").write_text(json.dumps({"default": {}}))
    with pytest.raises(RequirementsError, match="unknown input format"):
        detect_format("Pipfile.lock")


def test_default_input_order(here: Path) -> None:
    assert find_default_input(here) is None
    (here / "pyproject.toml").write_text("[tool.black]\n")
    assert find_default_input(here) is None  # configures tools, declares no dependencies
    (here / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = []\n')
    assert find_default_input(Path()) == "pyproject.toml"
    (here / "pylock.toml").write_text("")
    assert find_default_input(Path()) == "pylock.toml"
    (here / "requirements.txt").write_text("")
    assert find_default_input(Path()) == "requirements.txt"


def test_selection_with_only_pip_files_is_a_usage_error(here: Path) -> None:
    (here / "requirements.txt").write_text("x\n")
    with pytest.raises(UsageError, match="--extra and --group select from"):
        load_inputs(["requirements.txt"], selection=Selection(extras=("cli",)))


def test_a_lock_given_as_constraints_gives_only_pins(here: Path) -> None:
    shutil.copy(DATA / "uv.lock", here)
    (here / "requirements.txt").write_text("alpha\n")
    found = load_inputs(["requirements.txt"], constraints=["uv.lock"]).requirements
    assert [str(r.requirement) for r in found.requirements] == ["alpha"]
    assert "alpha==1.0" in [str(c.requirement) for c in found.constraints]
