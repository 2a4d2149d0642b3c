"""Requirements input as an attacker (or an accident) writes it: secrets in lines, lines built to make a parser
quadratic, include chains a thousand files deep, and -r pointing at a pipe, a device or an endless file.

Every case ends with the set parsed, or one RequirementsError naming file:line, quickly; no message quotes a
credential, expanded from ``${VAR}`` or written out.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import Cli
from tests.support.wheels import write_wheel
from tests.test_faults import TARGET
from wheelhouse import _reqfile
from wheelhouse.errors import RequirementsError
from wheelhouse.requirements import RequirementSet, load_requirements

T = TypeVar("T")
SECRET = "s3cr3t-Pa55"
# Generous: the fixed parser takes a few hundredths of a second for each case below; the quadratic one took
# minutes. Only an outcome is asserted, never a duration.
PATIENCE = 30.0


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def finished(work: Callable[[], T], seconds: float = PATIENCE) -> T | BaseException:
    """What ``work`` returned or raised; fails the test if it has not finished within ``seconds`` (a read that
    blocks must fail the test, not stall the suite). The thread is a daemon: it never holds up the end of the
    run. Only for work that waits on the system: CPU-bound work holds the interpreter lock (see below)."""
    outcome: list[T | BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # handed to the test, which asserts on it
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if not outcome:
        pytest.fail(f"still running after {seconds:.0f} s")
    return outcome[0]


def load_file(text: str | bytes, name: str = "requirements.txt") -> RequirementSet | BaseException:
    path = Path(name)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return finished(lambda: load_requirements([name]))


def one_line_error(outcome: object, where: str = "requirements.txt:1: ") -> str:
    assert isinstance(outcome, RequirementsError), outcome
    message = str(outcome)
    assert "\n" not in message
    assert message.startswith(where), message
    assert len(message) < 400
    return message


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "wheelhouse" and r.levelno == logging.WARNING]


# -- secrets --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [SECRET, "p@ss@word", "tok:en", "x#frag", "%40enc"])
def test_an_expanded_secret_never_reaches_the_error(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("WH_PW", secret)
    message = one_line_error(
        load_file("six\n--index-url http://user:${WH_PW}@host/simple/ --bogus\n"), "requirements.txt:2: "
    )
    assert message.startswith("requirements.txt:2: unknown option --bogus: ")
    assert secret not in message
    assert "http://user:${WH_PW}@host/simple/" in message or "http://user:****@host/simple/" in message


def test_a_written_out_password_is_redacted_in_the_error(workdir: Path) -> None:
    message = one_line_error(load_file(f"--extra-index-url https://user:{SECRET}@host/simple/ --bogus\n"))
    assert SECRET not in message
    assert "https://user:****@host/simple/" in message


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("-r https://user:${WH_PW}@host/requirements.txt", "a remote requirements file is not supported offline"),
        ("pkg @ https://user:${WH_PW}@host/pkg-1.0-py3-none-any.whl", "a direct reference is not supported offline"),
        ("https://user:${WH_PW}@host/pkg-1.0-py3-none-any.whl", "a URL is not supported offline"),
        ("pkg @ https://user:${WH_PW}@host/pkg.whl ;; bad", "invalid requirement"),
        ("-r ${WH_PW}.txt", "file not found"),
        ("--extra-index-url https://host/simple/?token=${WH_PW} --bogus", "unknown option --bogus"),
        ("flask --hash=${WH_PW}", "invalid --hash"),
    ],
    ids=["remote-file", "direct-reference", "url", "invalid", "file-name", "token-in-query", "hash"],
)
def test_no_error_built_from_a_line_quotes_an_expanded_value(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, line: str, reason: str
) -> None:
    monkeypatch.setenv("WH_PW", SECRET)
    outcome = load_file(line + "\n")
    message = one_line_error(outcome)
    assert message.startswith(f"requirements.txt:1: {reason}")
    assert SECRET not in message
    # Nor does a traceback (shown with -v): nothing chained to the error carries the line.
    assert isinstance(outcome, BaseException)
    assert SECRET not in "".join(traceback.format_exception(outcome))


def test_warnings_built_from_a_line_quote_no_secret(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("WH_PW", SECRET)
    load_file(f"--pre https://user:${{WH_PW}}@host/x https://tok{SECRET}@host/y\n")
    said = warnings_of(caplog)
    assert len(said) == 2
    assert all("after the options is ignored" in message for message in said)
    assert not any(SECRET in message for message in said)


def test_an_accepted_wheel_reference_keeps_no_secret_in_its_text(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The text of a requirement is shown later (why chains, reports): it is kept as written, not as expanded.
    monkeypatch.setenv("WH_PW", SECRET)
    write_wheel(workdir / "wheels", "pkg", "1.0")
    Path("requirements.txt").write_text(
        "pkg @ https://user:${WH_PW}@host/pkg-1.0-py3-none-any.whl\n"
        f"https://user:{SECRET}@host/pkg-1.0-py3-none-any.whl\n"
    )
    result = load_requirements(["requirements.txt"], wheels_dir=workdir / "wheels")
    assert [entry.text for entry in result.requirements] == [
        "pkg @ https://user:****@host/pkg-1.0-py3-none-any.whl",
        "https://user:****@host/pkg-1.0-py3-none-any.whl",
    ]
    assert [str(entry.requirement) for entry in result.requirements] == ["pkg==1.0", "pkg==1.0"]
    (package,) = load_requirements(
        packages=[f"https://user:{SECRET}@host/pkg-1.0-py3-none-any.whl"], wheels_dir=workdir / "wheels"
    ).requirements
    assert SECRET not in package.text


def test_a_command_line_package_with_a_password_is_redacted() -> None:
    with pytest.raises(RequirementsError) as info:
        load_requirements(packages=[f"https://user:{SECRET}@host/pkg-1.0-py3-none-any.whl"])
    assert SECRET not in str(info.value)
    assert "https://user:****@host/" in str(info.value)


@pytest.mark.parametrize("verbose", [(), ("-v",)], ids=["quiet", "verbose"])
def test_the_cli_never_prints_the_secret(
    cli: Cli, project: Path, monkeypatch: pytest.MonkeyPatch, verbose: tuple[str, ...]
) -> None:
    monkeypatch.setenv("WH_PW", SECRET)
    (project / "requirements.txt").write_text("good\n--index-url http://user:${WH_PW}@host/simple/ --bogus\n")
    result = cli(*verbose, "verify", "-r", "requirements.txt", *TARGET)
    assert result.exit_code == 2
    assert SECRET not in result.output
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert line.startswith("error: requirements.txt:2: unknown option --bogus")


def test_the_cli_prints_warnings_without_the_secret(cli: Cli, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WH_PW", SECRET)
    write_wheel(project / "wheels", "good", "1.0")
    (project / "requirements.txt").write_text("good\n--pre https://user:${WH_PW}@host/x\n")
    result = cli("verify", "-r", "requirements.txt", *TARGET)
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert "warning: requirements.txt:2: argument 'https://user:****@host/x' after the options" in result.stderr


# -- time linear in the length of a line ----------------------------------------------------------------------

N = 300_000
PATHOLOGICAL = {
    "spaces-inside": "a" + " " * N + "b",
    "spaces-before": " " * N + "a",
    "spaces-after": "a" + " " * N,
    "spaces-before-an-option": "a" + " " * N + "--bogus",
    "tabs": "a" + "\t" * N + "b",
    "spaces-before-a-comment": "a" + " " * N + "# comment",
    "continued-spaces": "a" + " \\\n" * (N // 3),
    "brackets": "a" + "[" * N,
    "brackets-closed": "a[" + "[" * N + "]",
    "dotted-word": "a." * (N // 2),
    "dashed-word": "a-" * (N // 2),
    "schemes": "a://" * (N // 4),
    "long-option-word": "-" * N,
    "long-quoted-option": "flask --hash '" + "x" * N + "'",
    "unclosed-quote": "flask --hash '" + " " * N,
    "many-option-words": "--pre " * (N // 6),
    "many-include-options": "a " + "-r " * (N // 3),
}
PARSES = {"spaces-before", "spaces-after", "spaces-before-a-comment", "continued-spaces"}


# Run in a child process: a quadratic regular expression holds the interpreter lock for its whole run, so no
# timeout in this process could interrupt it. One child parses every shape in turn and says how each ended.
_PARSE_EACH = """
import json, sys
from wheelhouse.errors import RequirementsError
from wheelhouse.requirements import load_requirements

for name, text in json.load(sys.stdin).items():
    with open("requirements.txt", "w", encoding="utf-8") as file:
        file.write(text + "\\n")
    try:
        result = load_requirements(["requirements.txt"])
        outcome = {"parsed": [str(entry.requirement) for entry in result.requirements]}
    except RequirementsError as exc:
        outcome = {"error": str(exc)}
    print(json.dumps({name: outcome}), flush=True)
"""


@pytest.fixture(scope="module")
def pathological_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """How each PATHOLOGICAL line ended (parsed, or the error's text); a shape missing did not finish in time."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen(
        [sys.executable, "-c", _PARSE_EACH],
        cwd=tmp_path_factory.mktemp("pathological"),
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        out, _ = child.communicate(json.dumps(PATHOLOGICAL), timeout=PATIENCE)
    except subprocess.TimeoutExpired:
        child.kill()
        out, _ = child.communicate()
    outcomes: dict[str, dict[str, Any]] = {}
    for line in out.splitlines():
        outcomes.update(json.loads(line))
    return outcomes


@pytest.mark.parametrize("shape", list(PATHOLOGICAL))
def test_a_pathological_line_parses_or_fails_cleanly(
    pathological_outcomes: dict[str, dict[str, Any]], shape: str
) -> None:
    outcome = pathological_outcomes.get(shape)
    assert outcome is not None, f"not finished within {PATIENCE:.0f} s"
    if shape in PARSES:
        assert outcome == {"parsed": ["a"]}
    else:
        assert "error" in outcome, outcome
        message = outcome["error"]
        assert "\n" not in message
        assert message.startswith("requirements.txt:1: "), message
        assert len(message) < 400


def test_a_line_of_too_many_option_words_names_the_limit(workdir: Path) -> None:
    message = one_line_error(load_file("--pre " * (_reqfile.MAX_OPTION_WORDS + 1) + "\n"))
    assert f"too many options on one line ({_reqfile.MAX_OPTION_WORDS + 1} words, at most" in message


_SHELL_TEXT = st.text(st.sampled_from(list(" \t\r\n'\"\\ab-=#")), max_size=24)


@settings(max_examples=1000, deadline=None)
@given(text=_SHELL_TEXT)
def test_options_split_as_shlex_splits_them(text: str) -> None:
    try:
        expected: list[str] | str = shlex.split(text)
    except ValueError as exc:
        expected = str(exc)
    try:
        got: list[str] | str = _reqfile.shell_split(text)
    except ValueError as exc:
        got = str(exc)
    assert got == expected


# -- files: only regular ones, bounded, followed without recursion ---------------------------------------------


def test_a_named_pipe_is_refused_not_waited_for(workdir: Path) -> None:
    os.mkfifo("pipe.txt")
    message = one_line_error(load_file("six\n-r pipe.txt\n"), "requirements.txt:2: ")
    assert message == "requirements.txt:2: not a regular file (a named pipe): pipe.txt: '-r pipe.txt'"
    assert str(finished(lambda: load_requirements(["pipe.txt"]))) == "pipe.txt: not a regular file (a named pipe)"


def test_standard_input_through_dev_stdin_is_named_for_what_it_is(workdir: Path) -> None:
    """``-r /dev/stdin`` with a pipe on standard input: the name opens a pipe, whose real path
    (``/proc/<pid>/fd/pipe:[...]``) exists nowhere; it is refused as a pipe, not as a file that is missing."""
    code = (
        "from wheelhouse.requirements import load_requirements\n"
        "try:\n    load_requirements(['/dev/stdin'])\n"
        "except Exception as exc:\n    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input="six\n", capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "/dev/stdin: not a regular file (a named pipe)", done.stderr


def test_a_device_is_refused_not_read(workdir: Path) -> None:
    message = one_line_error(load_file("-r /dev/zero\n"))
    assert message == "requirements.txt:1: not a regular file (a character device): /dev/zero: '-r /dev/zero'"
    assert str(finished(lambda: load_requirements(["/dev/zero"]))).startswith("/dev/zero: not a regular file")


def test_a_file_over_the_size_limit_is_refused_unread(workdir: Path) -> None:
    with open("huge.txt", "wb") as sparse:  # a hole: no disk space, and reading it would take a while
        sparse.truncate(_reqfile.MAX_FILE_BYTES + 1)
    message = one_line_error(load_file("-r huge.txt\n"))
    assert message == "requirements.txt:1: too large: more than 16.0 MB: huge.txt: '-r huge.txt'"


def test_a_file_that_outgrows_its_size_while_read_is_held_to_the_limit(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Path("big.txt").write_text("six\n" * 100)
    real_fstat = os.fstat

    def stale_fstat(fd: int) -> os.stat_result:
        # The size seen when the file was opened, before a writer appended the rest.
        info = real_fstat(fd)
        return os.stat_result((*info[:6], 10, *info[7:]))

    monkeypatch.setattr(_reqfile, "MAX_FILE_BYTES", 100)
    monkeypatch.setattr(os, "fstat", stale_fstat)
    assert str(finished(lambda: load_requirements(["big.txt"]))) == "big.txt: too large: more than 100 B"


def test_files_of_one_load_share_a_total_size_limit(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_reqfile, "MAX_TOTAL_BYTES", 200)
    Path("a.txt").write_text("-r b.txt\n" + "six\n" * 20)
    Path("b.txt").write_text("-r c.txt\n" + "six\n" * 20)
    Path("c.txt").write_text("six\n" * 20)
    message = one_line_error(finished(lambda: load_requirements(["a.txt"])), "b.txt:1: ")
    assert message == "b.txt:1: too large: the requirements files read hold more than 200 B: c.txt: '-r c.txt'"


DEPTH = 1000


def test_a_chain_of_a_thousand_nested_files_is_read(workdir: Path) -> None:
    for i in range(DEPTH):
        Path(f"r{i}.txt").write_text(f"-r r{i + 1}.txt\npkg{i}\n")
    Path(f"r{DEPTH}.txt").write_text("last\n")
    outcome = finished(lambda: load_requirements(["r0.txt"]))
    assert isinstance(outcome, RequirementSet), outcome
    names = [entry.name for entry in outcome.requirements]
    # Each file's requirement comes after everything its -r line brought in, as pip orders them.
    assert names == ["last", *(f"pkg{i}" for i in reversed(range(DEPTH)))]
    assert len(outcome.files) == DEPTH + 1


def test_a_chain_whose_names_climb_out_and_back_in_is_read(workdir: Path) -> None:
    # Named as written, "d/../d/../d/..." grows past the longest path the system opens long before the end.
    Path("d").mkdir()
    for i in range(DEPTH):
        Path(f"d/r{i}.txt").write_text(f"-r ../d/r{i + 1}.txt\n")
    Path(f"d/r{DEPTH}.txt").write_text("last\n")
    outcome = finished(lambda: load_requirements(["d/r0.txt"]))
    assert isinstance(outcome, RequirementSet), outcome
    assert [entry.name for entry in outcome.requirements] == ["last"]


def test_a_cycle_through_a_thousand_files_is_one_short_line(workdir: Path) -> None:
    for i in range(DEPTH):
        Path(f"r{i}.txt").write_text(f"-r r{(i + 1) % DEPTH}.txt\n")
    message = one_line_error(finished(lambda: load_requirements(["r0.txt"])), f"r{DEPTH - 1}.txt:1: ")
    assert (
        "requirements files include each other: r0.txt -> r1.txt -> r2.txt -> r3.txt -> ... (993 more) -> " in message
    )
    assert message.endswith(f"r{DEPTH - 1}.txt -> r0.txt: '-r r0.txt'")


def test_the_cli_reads_a_thousand_nested_files(cli: Cli, project: Path) -> None:
    for i in range(DEPTH):
        (project / f"r{i}.txt").write_text(f"-r r{i + 1}.txt\n")
    (project / f"r{DEPTH}.txt").write_text("good\n")
    write_wheel(project / "wheels", "good", "1.0")
    result = cli("verify", "-r", "r0.txt", *TARGET)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


def test_the_cli_refuses_a_named_pipe_in_one_line(cli: Cli, project: Path) -> None:
    os.mkfifo(project / "pipe.txt")
    (project / "requirements.txt").write_text("-r pipe.txt\n")
    result = finished(lambda: cli("verify", "-r", "requirements.txt", *TARGET))
    assert not isinstance(result, BaseException), result
    assert result.exit_code == 2
    assert (
        result.stderr.strip() == "error: requirements.txt:1: not a regular file (a named pipe): pipe.txt: '-r pipe.txt'"
    )


@pytest.mark.parametrize("name", ["pipe", "reqs.lock", "deps.toml", "pylock.toml"])
def test_the_cli_refuses_a_named_pipe_of_any_name_given_with_r(cli: Cli, project: Path, name: str) -> None:
    # A name that does not say "requirements file" makes the input detector look inside: it must not hang on a
    # pipe any more than the requirements reader does.
    os.mkfifo(project / name)
    result = finished(lambda: cli("verify", "-r", name, *TARGET))
    assert not isinstance(result, BaseException), result
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert "not a regular file" in lines[0]
