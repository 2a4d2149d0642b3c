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


@pytest.mark.parametrize(
    ("args", "env", "source"),
    [
        (("download", "--isolated", "--index-url", "http://user:s3cret@[::1/simple/", "kite"), {}, "command line"),
        (("download", "--isolated", "--index-url", "http://127.0.0.1:99999999/simple/", "kite"), {}, "command line"),
        (("download", "--isolated", "-f", "http://[::1/links/", "kite"), {}, "command line"),
        (("download", "-r", "reqs.txt"), {}, "requirements file"),
        (("download", "kite"), {"PIP_INDEX_URL": "http://u:s3cret@[::1/simple/"}, "environment PIP_INDEX_URL"),
    ],
)
def test_an_index_url_that_cannot_be_parsed_is_one_line(
    cli: Cli, project: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], env: dict[str, str], source: str
) -> None:
    (project / "reqs.txt").write_text("--index-url http://[::1/simple/\nkite\n")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = cli(*args)
    assert result.exit_code == 2, result.output
    (line,) = result.output.splitlines()
    assert line.startswith("error: bad index URL ")
    assert f"(from {source})" in line
    assert "s3cret" not in line


def test_a_path_the_file_system_refuses_is_one_line(cli: Cli, project: Path) -> None:
    long = "x" * 300  # longer than a file name may be
    for args in (("list", "--wheels", long), ("show", f"{long}.whl"), ("--config", long, "list")):
        result = cli(*args)
        assert result.exit_code == 1, result.output
        (line,) = result.output.splitlines()
        assert line.startswith(f"error: {long}")
        assert line.endswith(": File name too long")
        assert "internal error" not in line


def test_why_in_a_graph_deeper_than_any_project_shows_the_chain_from_a_depth(cli: Cli, project: Path) -> None:
    depth = 260
    for i in range(depth):
        write_wheel(project / "wheels", f"p{i}", "1.0", requires_dist=[f"p{i + 1}"] if i < depth - 1 else [])
    (project / "requirements.txt").write_text("p0\n")
    result = cli("why", f"p{depth - 1}", "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 0, result.output
    assert "... (200 or more requirements above) -> " in result.output
    assert f"-> p{depth - 1}" in result.output
    shallow = cli("why", "p5", "--target", "linux/amd64", "--python", "3.12")
    assert "requirements.txt:1 p0 -> p1 -> p2 -> p3 -> p4 -> p5" in shallow.output


@pytest.mark.parametrize("command", [("check",), ("check", "--fix"), ("export", "../b.tar")])
def test_a_file_given_as_the_wheels_folder_is_named_as_such(cli: Cli, project: Path, command: tuple[str, ...]) -> None:
    (project / "afile").write_text("not a folder\n")
    result = cli(*command, "--wheels", "afile")
    assert result.exit_code == 1, result.output
    assert "error: afile is not a directory" in result.output
    assert "does not exist" not in result.output


def test_a_file_in_place_of_the_state_folder_gets_the_right_hint(cli: Cli, project: Path) -> None:
    write_wheel(project / "wheels", "aaa", "1.0")
    (project / "wheels" / ".wheelhouse").write_text("not a folder\n")
    (project / "requirements.txt").write_text("aaa\n")
    result = cli("prune", "-y", "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 1, result.output
    assert "cannot create wheels/.wheelhouse: File exists" in result.output
    assert "hint: move wheels/.wheelhouse out of the way" in result.output
