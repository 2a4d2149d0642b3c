"""Configuration: discovery, precedence, errors naming file and key, and ``wheelhouse config``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli
from tests.support.wheels import write_wheel
from wheelhouse.settings import Settings, load_settings, settings_rows

KEYS = [
    "wheels",
    "requirements",
    "constraints",
    "extras",
    "groups",
    "targets",
    "python",
    "libc",
    "index-url",
    "extra-index-urls",
    "find-links",
    "base-image",
    "jobs",
]

FULL = """\
wheels = "store"
requirements = ["requirements.txt", "dev.txt"]
targets = ["linux/amd64", "linux/arm64"]
python = ["3.12"]
libc = "manylinux_2_28"
index-url = "http://127.0.0.1:9/simple"
extra-index-urls = "http://127.0.0.1:9/extra"
find-links = ["./local"]
base-image = "python:3.12-slim"
jobs = 4
"""


def _config(cli: Cli, *args: str) -> dict[str, Any]:
    result = cli(*args, "config", "--json") if args and args[0] == "--config" else cli("config", "--json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_settings_rows_defaults() -> None:
    rows = settings_rows(load_settings(Path("/nonexistent-start")))
    assert [r.key for r in rows] == KEYS
    assert {r.source for r in rows} == {"default"}
    assert rows[0].value == "wheels"


def test_defaults_without_a_file(cli: Cli, project: Path) -> None:
    result = cli("config")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("no configuration file (no wheelhouse.toml, nor pyproject.toml with [tool.wheelhouse]")
    assert str(project) in lines[0]
    assert lines[1].split() == ["Key", "Value", "Source"]
    assert lines[2].split() == ["wheels", "wheels", "default"]
    assert lines[-1].startswith("targets: cp")  # the host
    data = _config(cli)
    assert data["config_file"] is None
    assert list(data["settings"]) == KEYS
    assert all(v["source"] == "default" for v in data["settings"].values())


def test_wheelhouse_toml_values_and_sources(cli: Cli, project: Path) -> None:
    (project / "wheelhouse.toml").write_text(FULL)
    data = _config(cli)
    file = str(project / "wheelhouse.toml")
    assert data["config_file"] == file
    settings = data["settings"]
    assert settings["wheels"] == {"value": "store", "source": file}
    assert settings["requirements"] == {"value": ["requirements.txt", "dev.txt"], "source": file}
    assert settings["extra-index-urls"] == {"value": ["http://127.0.0.1:9/extra"], "source": file}
    assert settings["jobs"] == {"value": 4, "source": file}
    assert settings["constraints"] == {"value": [], "source": "default"}
    assert [t["target"] for t in data["targets"]] == ["cp312-manylinux_2_28_x86_64", "cp312-manylinux_2_28_aarch64"]
    human = cli("config")
    assert f"configuration file: {file}" in human.output
    row = next(line for line in human.output.splitlines() if line.startswith("base-image"))
    assert row.split() == ["base-image", "python:3.12-slim", file]
    assert "targets: cp312-manylinux_2_28_x86_64, cp312-manylinux_2_28_aarch64" in human.output


def test_pyproject_table_is_named_as_the_source(cli: Cli, project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[project]\nname = "demo"\n\n[tool.wheelhouse]\nwheels = "vendor/wheels"\ntargets = "linux/arm64"\n'
    )
    data = _config(cli)
    source = f"{project / 'pyproject.toml'} [tool.wheelhouse]"
    assert data["settings"]["wheels"] == {"value": "vendor/wheels", "source": source}
    assert data["settings"]["targets"] == {"value": ["linux/arm64"], "source": source}


def test_found_upwards_with_paths_relative_to_the_file(
    cli: Cli, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "wheelhouse.toml").write_text('wheels = "store"\nrequirements = ["reqs/base.txt"]\n')
    deeper = project / "src" / "pkg"
    deeper.mkdir(parents=True)
    monkeypatch.chdir(deeper)
    settings = _config(cli)["settings"]
    assert settings["wheels"]["value"] == str(project / "store")
    assert settings["requirements"]["value"] == [str(project / "reqs" / "base.txt")]
    assert settings["wheels"]["source"] == str(project / "wheelhouse.toml")


def test_wheelhouse_toml_wins_over_pyproject_in_the_same_directory(cli: Cli, project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.wheelhouse]\nwheels = "from-pyproject"\n')
    (project / "wheelhouse.toml").write_text('wheels = "from-wheelhouse-toml"\n')
    assert _config(cli)["settings"]["wheels"]["value"] == "from-wheelhouse-toml"


def test_a_project_boundary_stops_the_search(cli: Cli, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A pyproject.toml without [tool.wheelhouse] marks another project: the parent's settings do not leak in.
    (project / "wheelhouse.toml").write_text('wheels = "parent-store"\n')
    child = project / "child"
    child.mkdir()
    (child / "pyproject.toml").write_text('[project]\nname = "child"\n')
    monkeypatch.chdir(child)
    data = _config(cli)
    assert data["config_file"] is None
    assert data["settings"]["wheels"] == {"value": "wheels", "source": "default"}


def test_command_line_overrides_and_is_named(cli: Cli, project: Path) -> None:
    (project / "wheelhouse.toml").write_text(FULL)
    data = _config(cli, "--wheels", "other", "--target", "linux/amd64", "--python", "3.11", "--jobs", "2")
    settings = data["settings"]
    assert settings["wheels"] == {"value": "other", "source": "command line"}
    assert settings["targets"] == {"value": ["linux/amd64"], "source": "command line"}
    assert settings["python"] == {"value": ["3.11"], "source": "command line"}
    assert settings["jobs"] == {"value": 2, "source": "command line"}
    assert settings["base-image"]["source"] == str(project / "wheelhouse.toml")
    assert [t["target"] for t in data["targets"]] == ["cp311-manylinux_2_28_x86_64"]
    human = cli("config", "--index-url", "http://127.0.0.1:8/simple")
    row = next(line for line in human.output.splitlines() if line.startswith("index-url"))
    assert row.split() == ["index-url", "http://127.0.0.1:8/simple", "command", "line"]


def test_explicit_config_file(cli: Cli, project: Path) -> None:
    conf = project / "conf"
    conf.mkdir()
    (conf / "ci.toml").write_text('wheels = "ci-wheels"\n')
    data = _config(cli, "--config", "conf/ci.toml")
    assert data["config_file"] == "conf/ci.toml"
    assert data["settings"]["wheels"] == {"value": str(Path("conf") / "ci-wheels"), "source": "conf/ci.toml"}
    missing = cli("--config", "conf/nope.toml", "config")
    assert missing.exit_code == 2
    assert "error: configuration file conf/nope.toml does not exist" in missing.output


def test_configuration_reaches_other_commands(cli: Cli, project: Path) -> None:
    write_wheel(project / "store", "configured", "1.0")
    write_wheel(project / "wheels", "default-folder", "1.0")
    (project / "wheelhouse.toml").write_text('wheels = "store"\n')
    listed = cli("list")
    assert "configured" in listed.output
    assert "default-folder" not in listed.output
    overridden = cli("list", "--wheels", "wheels")
    assert "default-folder" in overridden.output
    assert "configured" not in overridden.output


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('wheel = "typo"\n', "unknown key 'wheel' (known keys: base-image, constraints,"),
        ("[extra]\nwheels = 'x'\n", "unknown key 'extra'"),
        ("wheels = 3\n", "wheels must be a string"),
        ('wheels = ""\n', "wheels must not be empty"),
        ('jobs = "4"\n', "jobs must be a positive integer"),
        ("jobs = 0\n", "jobs must be a positive integer"),
        ("jobs = true\n", "jobs must be a positive integer"),
        ("targets = [1]\n", "targets must be a string or a list of strings"),
        ("python = 3.10\n", 'python must be a string or a list of strings (quote versions: "3.10"'),
        ('libc = ["manylinux_2_28"]\n', "libc must be a string"),
        ("wheels = \n", "invalid TOML"),
    ],
)
def test_bad_wheelhouse_toml_names_file_and_key(cli: Cli, project: Path, toml: str, message: str) -> None:
    (project / "wheelhouse.toml").write_text(toml)
    for args in (("config",), ("list",)):
        result = cli(*args)
        assert result.exit_code == 2, result.output
        assert result.output.startswith(f"error: {project / 'wheelhouse.toml'}: ")
        assert message in result.output
        assert "Traceback" not in result.output


def test_bad_pyproject_table_names_the_table(cli: Cli, project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.wheelhouse]\nindex_url = "ok"\nbase_imag = "x"\n')
    result = cli("config")
    assert result.exit_code == 2
    assert f"error: {project / 'pyproject.toml'} [tool.wheelhouse]: unknown key 'base_imag'" in result.output
    (project / "pyproject.toml").write_text("[tool]\nwheelhouse = 3\n")
    not_table = cli("config")
    assert not_table.exit_code == 2
    assert "[tool.wheelhouse] must be a table" in not_table.output


def test_underscore_spelling_is_accepted(project: Path) -> None:
    (project / "wheelhouse.toml").write_text('index_url = "http://127.0.0.1:9/simple"\nbase-image = "python:3.11"\n')
    settings = load_settings(project)
    assert settings.index_url == "http://127.0.0.1:9/simple"
    assert settings.base_image == "python:3.11"


def test_bad_target_in_the_file_is_reported_by_config(cli: Cli, project: Path) -> None:
    (project / "wheelhouse.toml").write_text('targets = ["linux/sparc"]\n')
    result = cli("config")
    assert result.exit_code == 2
    assert "error: bad target 'linux/sparc'" in result.output
    (project / "wheelhouse.toml").write_text('libc = "glibc"\n')
    libc = cli("config")
    assert libc.exit_code == 2
    assert "error: bad libc 'glibc'" in libc.output


def test_with_cli_keeps_file_values_not_given() -> None:
    base = Settings(wheels="w", jobs=3, sources={"wheels": "f.toml", "jobs": "f.toml"})
    merged = base.with_cli(wheels=None, jobs=5, targets=())
    assert merged.wheels == "w"
    assert merged.jobs == 5
    assert merged.sources["jobs"] == "command line"
    assert merged.sources["wheels"] == "f.toml"
