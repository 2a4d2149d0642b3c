"""Option and argument values that parse but mean nothing: ``nan`` and ``inf`` where a number of seconds or days
is asked for, an empty wheels folder (an unset variable), and a project name that no requirement can name. Each
is a usage error (exit 2) in one line, before anything is read or changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.wheels import write_wheel
from wheelhouse.errors import ConfigError
from wheelhouse.index.config import index_config_from_pip


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("download", "--timeout", "nan", "zzz"), "--timeout"),
        (("download", "--timeout", "inf", "zzz"), "--timeout"),
        (("prune", "-y", "--older-than", "nan"), "--older-than"),
        (("prune", "--older-than", "inf"), "--older-than"),
        (("publish", "--timeout", "nan"), "--timeout"),
    ],
)
def test_numbers_that_are_not_finite_are_refused(cli: Cli, project: Path, args: tuple[str, ...], option: str) -> None:
    wheel = write_wheel(project / "wheels", "old", "1.0")
    result = cli(*args)
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert f"Invalid value for '{option}'" in line
    assert "is not a finite number" in line
    # prune --older-than nan once removed every file, "older" than nothing.
    assert wheel.is_file()


def test_an_infinite_timeout_in_pip_configuration_is_refused(tmp_path: Path) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\ntimeout = inf\n")
    with pytest.raises(ConfigError, match="invalid timeout value 'inf'"):
        index_config_from_pip({"PIP_CONFIG_FILE": str(conf)})


@pytest.mark.parametrize("command", ["check", "list", "verify"])
@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_wheels_folder_is_refused(cli: Cli, project: Path, command: str, value: str) -> None:
    (project / "requirements.txt").write_text("aaa\n")
    (project / "notes.txt").write_text("keep me\n")
    result = cli(command, "--fix", "--wheels", value) if command == "check" else cli(command, "--wheels", value)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--wheels': must not be empty" in result.output
    # check --fix of the working directory would have moved these away.
    assert (project / "notes.txt").read_text() == "keep me\n"
    assert not (project / ".wheelhouse").exists()


@pytest.mark.parametrize(
    ("name", "hint"),
    [("../etc", None), ("a/b", "'a'"), ("", None), ("aaa==1.0", "'aaa'"), ("aaa.", None)],
)
def test_why_refuses_what_is_not_a_project_name(cli: Cli, project: Path, name: str, hint: str | None) -> None:
    write_wheel(project / "wheels", "aaa", "1.0")
    (project / "requirements.txt").write_text("aaa\n")
    result = cli("why", "--", name)
    assert result.exit_code == 2, result.output
    assert f"{name!r} is not a project name" in result.output
    if hint is not None:
        assert f"give the project's name alone: {hint}" in result.output
    assert "not needed" not in result.output


def test_why_still_answers_for_a_real_name(cli: Cli, project: Path) -> None:
    write_wheel(project / "wheels", "aaa", "1.0")
    (project / "requirements.txt").write_text("aaa\n")
    result = cli("why", "AAA", "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 0, result.output
    assert "requirements.txt" in result.output
