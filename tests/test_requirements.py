"""Requirements files parse as pip parses them, into frozen results with file:line origins."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.wheels import write_wheel
from wheelhouse.errors import RequirementsError
from wheelhouse.requirements import (
    Origin,
    RequirementSet,
    load_requirements,
    parse_requirement_text,
)

SHA256 = "a" * 64
FLASK_WHEEL = "flask-3.0.0-py3-none-any.whl"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path as the current directory, so files are named as a user would name them."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(workdir: Path, text: str, wheels_dir: Path | None = None) -> RequirementSet:
    write(workdir / "requirements.txt", text)
    return load_requirements(["requirements.txt"], wheels_dir=wheels_dir)


def load_error(workdir: Path, text: str, wheels_dir: Path | None = None) -> RequirementsError:
    """The error loading ``text`` as requirements.txt raises; always a single line."""
    with pytest.raises(RequirementsError) as info:
        load(workdir, text, wheels_dir)
    assert "\n" not in str(info.value)
    return info.value


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings said on the diagnostics channel (the logger named "wheelhouse")."""
    return [r.getMessage() for r in caplog.records if r.name == "wheelhouse" and r.levelno == logging.WARNING]


def lines_of(result: RequirementSet) -> list[tuple[int | None, str]]:
    return [(entry.origin.line, str(entry.requirement)) for entry in result.requirements]


# --- logical lines: comments, blanks, continuations -------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param("flask==3.0.0\n", [(1, "flask==3.0.0")], id="plain"),
        pytest.param("# top\n\n   \nflask  # why\n", [(4, "flask")], id="comments-and-blanks"),
        pytest.param("flask\\\n==3.0.0\n", [(1, "flask==3.0.0")], id="continuation"),
        pytest.param(
            "six\nflask \\\n  >=3 \\\n  ; python_version >= '3.8'\nattrs\n",
            [(1, "six"), (2, 'flask>=3; python_version >= "3.8"'), (5, "attrs")],
            id="continuation-origin-is-first-line",
        ),
        pytest.param("six\nflask==3.0.0 \\", [(1, "six"), (2, "flask==3.0.0")], id="backslash-at-eof"),
        pytest.param("# note \\\nflask\n", [(2, "flask")], id="comment-never-continues"),
        pytest.param("flask \\\n# note\nsix\n", [(1, "flask"), (3, "six")], id="comment-ends-continuation"),
        pytest.param("flask==3.0.0\r\nsix\r\n", [(1, "flask==3.0.0"), (2, "six")], id="crlf"),
    ],
)
def test_logical_lines(workdir: Path, content: str, expected: list[tuple[int, str]]) -> None:
    assert lines_of(load(workdir, content)) == expected


def test_hash_sign_only_starts_a_comment_after_whitespace(workdir: Path) -> None:
    result = load(workdir, "-i https://example.org/simple#frag\n")
    assert result.index_url == "https://example.org/simple#frag"


def test_origin_and_line_render_file_line(workdir: Path) -> None:
    entry = load(workdir, "\n\nflask==3.0.0 --hash=sha256:" + SHA256 + "\n").requirements[0]
    assert entry.origin == Origin("requirements.txt", 3)
    assert str(entry) == "requirements.txt:3 flask==3.0.0"
    assert entry.text == "flask==3.0.0"
    assert str(Origin(None, None)) == "command line"
    assert str(Origin("requirements.txt", None)) == "requirements.txt"
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.text = "other"  # type: ignore[misc]


def test_utf8_bom_is_accepted(workdir: Path) -> None:
    (workdir / "requirements.txt").write_bytes(b"\xef\xbb\xbfflask\n")
    assert lines_of(load_requirements(["requirements.txt"])) == [(1, "flask")]


# --- environment variables --------------------------------------------------------------------------------


def test_only_braced_environment_variables_expand(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WH_VERSION", "3.0.0")
    monkeypatch.setenv("WH_HOST", "pypi.example.org")
    monkeypatch.delenv("WH_UNSET", raising=False)
    result = load(
        workdir,
        "flask==${WH_VERSION}\n-i https://${WH_HOST}/simple\n--extra-index-url https://$WH_HOST/${WH_UNSET}\n",
    )
    assert lines_of(result) == [(1, "flask==3.0.0")]
    assert result.index_url == "https://pypi.example.org/simple"
    # "$NAME" is not expanded, nor is an unset variable (pip leaves both as written).
    assert result.extra_index_urls == ("https://$WH_HOST/${WH_UNSET}",)


# --- -r: nesting, relative resolution, cycles, missing files -----------------------------------------------


@pytest.mark.parametrize("spelling", ["-r {}", "-r{}", "--requirement {}", "--requirement={}"])
def test_nested_requirements_resolve_against_the_including_file(workdir: Path, spelling: str) -> None:
    write(workdir / "reqs/main.txt", "flask\n" + spelling.format("common/base.txt") + "\nsix\n")
    write(workdir / "reqs/common/base.txt", "attrs\n-r ../../shared.txt\n")
    write(workdir / "shared.txt", "\nclick\n")
    result = load_requirements(["reqs/main.txt"])
    assert [str(entry) for entry in result.requirements] == [
        "reqs/main.txt:1 flask",
        "reqs/common/base.txt:1 attrs",
        "reqs/common/../../shared.txt:2 click",
        "reqs/main.txt:3 six",
    ]
    assert result.files == tuple(
        str(workdir / name) for name in ("reqs/main.txt", "reqs/common/base.txt", "shared.txt")
    )


def test_file_included_twice_is_read_once(workdir: Path) -> None:
    write(workdir / "a.txt", "-r common.txt\nflask\n")
    write(workdir / "b.txt", "-r ./common.txt\n")
    write(workdir / "common.txt", "six\n")
    result = load_requirements(["a.txt", "b.txt"])
    assert [str(entry) for entry in result.requirements] == ["common.txt:1 six", "a.txt:2 flask"]
    assert result.files == tuple(str(workdir / name) for name in ("a.txt", "common.txt", "b.txt"))


@pytest.mark.parametrize(
    ("files", "message"),
    [
        pytest.param(
            {"a.txt": "six\n-r b.txt\n", "b.txt": "\n-r a.txt\n"},
            "b.txt:2: requirements files include each other: a.txt -> b.txt -> a.txt: '-r a.txt'",
            id="two-files",
        ),
        pytest.param(
            {"a.txt": "-r a.txt\n"},
            "a.txt:1: requirements files include each other: a.txt -> a.txt: '-r a.txt'",
            id="self",
        ),
        pytest.param(
            {"a.txt": "-c sub/c.txt\n", "sub/c.txt": "-r ../a.txt\n"},
            "sub/c.txt:1: requirements files include each other: a.txt -> sub/c.txt -> sub/../a.txt: '-r ../a.txt'",
            id="through-constraints",
        ),
    ],
)
def test_include_cycle_names_the_chain(workdir: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        write(workdir / name, text)
    with pytest.raises(RequirementsError) as info:
        load_requirements(["a.txt"])
    assert str(info.value) == message


def test_missing_nested_file_is_blamed_on_the_including_line(workdir: Path) -> None:
    write(workdir / "reqs/main.txt", "flask\n-r missing.txt\n")
    with pytest.raises(RequirementsError) as info:
        load_requirements(["reqs/main.txt"])
    assert str(info.value) == "reqs/main.txt:2: file not found: reqs/missing.txt: '-r missing.txt'"
    assert (info.value.path, info.value.line) == ("reqs/main.txt", 2)


def test_missing_top_level_file(workdir: Path) -> None:
    with pytest.raises(RequirementsError) as info:
        load_requirements(["missing.txt"])
    assert str(info.value) == "missing.txt: file not found"
    assert (info.value.path, info.value.line) == ("missing.txt", None)


def _directory(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path.mkdir()


def _not_utf8(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path.write_bytes(b"flask\nsix\xff\n")


def _unreadable(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # chmod cannot lock root out, so simulate the refusal the OS gives everyone else.
    path.write_text("flask\n")
    real_open = os.open

    def refuse(name: str, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        if os.path.basename(name) == path.name:
            raise PermissionError(13, "Permission denied", name)
        return real_open(name, flags, mode, **kwargs)

    monkeypatch.setattr(os, "open", refuse)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(_directory, "requirements.txt: is a directory", id="directory"),
        pytest.param(_not_utf8, "requirements.txt:2: not UTF-8 (byte 0xff): 'six\\\\xff'", id="not-utf8"),
        pytest.param(_unreadable, "requirements.txt: permission denied", id="permission"),
    ],
)
def test_unreadable_file_is_one_line_error(
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    make: Callable[[Path, pytest.MonkeyPatch], None],
    message: str,
) -> None:
    make(workdir / "requirements.txt", monkeypatch)
    with pytest.raises(RequirementsError) as info:
        load_requirements(["requirements.txt"])
    assert str(info.value) == message


def test_unreadable_nested_file_is_blamed_on_the_including_line(workdir: Path) -> None:
    (workdir / "sub").mkdir()
    message = str(load_error(workdir, "flask\n-r sub\n"))
    assert message == "requirements.txt:2: is a directory: sub: '-r sub'"


def test_remote_requirements_file_is_not_fetched(workdir: Path) -> None:
    message = str(load_error(workdir, "-r https://example.org/requirements.txt\n"))
    assert message.startswith("requirements.txt:1: a remote requirements file is not supported offline")


def test_remote_requirements_file_named_in_a_nested_folder_is_not_fetched(workdir: Path) -> None:
    # pip joins only a path to the including file's folder, never a URL.
    write(workdir / "sub/more.txt", "-r https://example.org/requirements.txt\n")
    message = str(load_error(workdir, "-r sub/more.txt\n"))
    assert message == (
        "sub/more.txt:1: a remote requirements file is not supported offline: https://example.org/requirements.txt: "
        "'-r https://example.org/requirements.txt'"
    )


# --- constraints ------------------------------------------------------------------------------------------


def test_constraints_from_option_and_nested_files(workdir: Path) -> None:
    write(workdir / "constraints.txt", "attrs<24; python_version >= '3.8'\n-c more.txt\n")
    write(workdir / "more.txt", f"six==1.16.0 --hash=sha256:{SHA256}\n")
    write(workdir / "reqs/requirements.txt", "flask\n-c ../pins.txt\n")
    write(workdir / "pins.txt", "flask==3.0.0\n")
    result = load_requirements(["reqs/requirements.txt"], constraints=["constraints.txt"])
    assert [str(entry) for entry in result.constraints] == [
        'constraints.txt:1 attrs<24; python_version >= "3.8"',
        "more.txt:1 six==1.16.0",
        "reqs/../pins.txt:1 flask==3.0.0",
    ]
    assert result.constraints[1].hashes == (f"sha256:{SHA256}",)
    assert [str(entry) for entry in result.requirements] == ["reqs/requirements.txt:1 flask"]


def test_requirement_file_inside_constraints_file_yields_requirements(workdir: Path) -> None:
    # pip: "-r" keeps its meaning inside a constraints file (pypa/pip#12222).
    write(workdir / "constraints.txt", "black<=23\n-r requirements.txt\n")
    write(workdir / "requirements.txt", "pytest==7.0.0\n")
    result = load_requirements(constraints=["constraints.txt"])
    assert [str(entry) for entry in result.constraints] == ["constraints.txt:1 black<=23"]
    assert [str(entry) for entry in result.requirements] == ["requirements.txt:1 pytest==7.0.0"]


def test_constraint_with_extras_is_an_error(workdir: Path) -> None:
    write(workdir / "constraints.txt", "six\nrequests[socks]==2.31.0\n")
    with pytest.raises(RequirementsError) as info:
        load_requirements(constraints=["constraints.txt"])
    assert str(info.value).startswith("constraints.txt:2: a constraint may not have extras")


# --- requirements: extras, markers, duplicates, hashes -----------------------------------------------------


def test_extras_markers_and_repeated_names_are_kept(workdir: Path) -> None:
    result = load(workdir, "Requests[socks,security]>=2; python_version >= '3.8'\nrequests<3\n")
    first, second = result.requirements
    assert first.name == second.name == "requests"
    assert first.requirement.extras == {"socks", "security"}
    assert str(first.requirement.marker) == 'python_version >= "3.8"'
    assert str(second.requirement.specifier) == "<3"


def test_hashes_are_kept_in_order_and_normalised(workdir: Path) -> None:
    sha384, sha512 = "b" * 96, "C" * 128
    result = load(
        workdir,
        f"flask==3.0.0 \\\n  --hash=sha256:{SHA256} \\\n  --hash sha512:{sha512} --hash=SHA384:{sha384}\n",
    )
    assert result.requirements[0].hashes == (f"sha256:{SHA256}", f"sha512:{sha512.lower()}", f"sha384:{sha384}")


@pytest.mark.parametrize(
    "value",
    [f"md5:{'a' * 32}", SHA256, f"sha256:{'a' * 63}", f"sha256:{'g' * 64}", f"sha512:{SHA256}", "sha256:"],
)
def test_malformed_hash_is_an_error(workdir: Path, value: str) -> None:
    message = str(load_error(workdir, f"flask==3.0.0 --hash={value}\n"))
    assert message.startswith(f"requirements.txt:1: invalid --hash '{value}'")


# --- index options and warnings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "index_url", "extra_index_urls", "no_index", "pre"),
    [
        pytest.param("-i https://a/simple\n", "https://a/simple", (), False, False, id="short"),
        pytest.param("--index-url=https://a/simple\n", "https://a/simple", (), False, False, id="long"),
        pytest.param("--extra-index https://b/simple\n", None, ("https://b/simple",), False, False, id="prefix"),
        pytest.param(
            "-i https://a/simple\n--extra-index-url https://b/simple\n-i https://c/simple\n"
            "--extra-index-url https://d/simple --extra-index-url https://e/simple\n",
            "https://c/simple",
            ("https://d/simple", "https://e/simple"),
            False,
            False,
            id="last-index-wins-and-drops-earlier-extras",
        ),
        pytest.param(
            "-i https://a/simple\n--no-index\n--extra-index-url https://b/simple\n",
            None,
            (),
            True,
            False,
            id="no-index",
        ),
        pytest.param("--pre\nflask\n", None, (), False, True, id="pre"),
    ],
)
def test_index_options(
    workdir: Path,
    caplog: pytest.LogCaptureFixture,
    content: str,
    index_url: str | None,
    extra_index_urls: tuple[str, ...],
    no_index: bool,
    pre: bool,
) -> None:
    result = load(workdir, content)
    assert (result.index_url, result.extra_index_urls, result.no_index, result.pre) == (
        index_url,
        extra_index_urls,
        no_index,
        pre,
    )
    assert warnings_of(caplog) == []


def test_find_links_resolve_local_paths_against_the_file(workdir: Path) -> None:
    (workdir / "reqs/wheels").mkdir(parents=True)
    write(
        workdir / "reqs/requirements.txt",
        "-f wheels\n--find-links https://example.org/links\n--find-links=not-there\n",
    )
    result = load_requirements(["reqs/requirements.txt"])
    assert result.find_links == (str(workdir / "reqs/wheels"), "https://example.org/links", "not-there")


@pytest.mark.parametrize(
    ("line", "option"),
    [
        ("--trusted-host example.org", "--trusted-host"),
        ("--prefer-binary", "--prefer-binary"),
        ("--only-binary :all:", "--only-binary"),
        ("--no-binary flask", "--no-binary"),
        ("--use-feature truststore", "--use-feature"),
        ("--progress-bar off", "--progress-bar"),
        ("--require-hashes", "--require-hashes"),
        ("flask --config-settings editable_mode=compat", "--config-settings"),
        ("flask --global-option=--quiet", "--global-option"),
    ],
)
def test_harmless_options_warn(workdir: Path, caplog: pytest.LogCaptureFixture, line: str, option: str) -> None:
    load(workdir, f"six\n{line}\n")
    assert warnings_of(caplog) == [f"requirements.txt:2: option {option} is ignored"]


@pytest.mark.parametrize(
    ("line", "warning", "pre"),
    [
        ("flask --pre", "option --pre is ignored on this line, as pip does", False),
        (f"--hash=sha256:{SHA256}", "option --hash is ignored on this line, as pip does", False),
        ("-r other.txt --pre", "option --pre is ignored on this line, as pip does", False),
        ("--pre flask", "argument 'flask' after the options is ignored, as pip does", True),
        # pip follows only the first file, and only the first -f, of a line.
        ("-r other.txt -r missing.txt", "option --requirement is ignored on this line, as pip does", False),
        ("-f https://a/ -f https://b/", "option --find-links is ignored on this line, as pip does", False),
    ],
)
def test_options_pip_ignores_warn(
    workdir: Path, caplog: pytest.LogCaptureFixture, line: str, warning: str, pre: bool
) -> None:
    write(workdir / "other.txt", "")
    result = load(workdir, line + "\n")
    assert (warnings_of(caplog), result.pre) == ([f"requirements.txt:1: {warning}"], pre)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--frobnicate", "requirements.txt:1: unknown option --frobnicate: '--frobnicate'"),
        ("flask --frobnicate=1", "requirements.txt:1: unknown option --frobnicate: 'flask --frobnicate=1'"),
        ("--pre=yes", "requirements.txt:1: invalid option: --pre option does not take a value: '--pre=yes'"),
        ("-r", "requirements.txt:1: invalid option: -r option requires 1 argument: '-r'"),
        ("-r 'x.txt", 'requirements.txt:1: invalid options: No closing quotation: "-r \'x.txt"'),
    ],
)
def test_bad_options_are_errors(workdir: Path, line: str, message: str) -> None:
    assert str(load_error(workdir, line + "\n")) == message


# --- offline: editables, VCS, URLs, paths, and wheels already present ----------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "-e .",
        "--editable git+https://github.com/pallets/flask#egg=flask",
        "git+https://github.com/pallets/flask@3.0.0#egg=flask",
        "flask @ git+https://github.com/pallets/flask@3.0.0",
        "flask @ https://example.org/flask-3.0.0.tar.gz",
        f"flask @ https://example.org/{FLASK_WHEEL.replace('3.0.0', '2.0.0')}",
        "https://example.org/flask-3.0.0.tar.gz",
        f"https://example.org/other/{FLASK_WHEEL.replace('3.0.0', '2.0.0')}",
        "./vendor/flask-3.0.0.tar.gz",
        ".",
    ],
)
def test_what_needs_the_network_is_not_supported_offline(workdir: Path, line: str) -> None:
    write_wheel(workdir / "wheels", "flask", "3.0.0")
    error = load_error(workdir, f"six\n{line}\n", wheels_dir=workdir / "wheels")
    assert str(error).startswith("requirements.txt:2: ")
    assert "not supported offline" in str(error)
    assert line in str(error)
    assert error.hint is not None
    assert "wheels folder" in error.hint


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"flask @ https://example.org/files/{FLASK_WHEEL}", "flask==3.0.0"),
        (
            f"Flask[async] @ file:///elsewhere/{FLASK_WHEEL} ; python_version >= '3.8'",
            'Flask[async]==3.0.0; python_version >= "3.8"',
        ),
        (f"https://example.org/{FLASK_WHEEL}#sha256={SHA256}", "flask==3.0.0"),
        (f"https://example.org/{FLASK_WHEEL}; sys_platform == 'linux'", 'flask==3.0.0; sys_platform == "linux"'),
        (f"./wheels/{FLASK_WHEEL}[async,dotenv]", "flask[async,dotenv]==3.0.0"),
    ],
)
def test_direct_reference_to_a_wheel_in_wheels_dir(workdir: Path, line: str, expected: str) -> None:
    wheel = write_wheel(workdir / "wheels", "flask", "3.0.0")
    assert wheel.name == FLASK_WHEEL
    entry = load(workdir, line + "\n", wheels_dir=workdir / "wheels").requirements[0]
    assert (str(entry.requirement), entry.wheel_file, entry.name) == (expected, FLASK_WHEEL, "flask")
    assert entry.text == line


def test_direct_reference_needs_wheels_dir(workdir: Path) -> None:
    write_wheel(workdir / "wheels", "flask", "3.0.0")
    assert "not supported offline" in str(load_error(workdir, f"flask @ file:///w/{FLASK_WHEEL}\n"))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (f"django @ https://example.org/{FLASK_WHEEL}", f"the wheel {FLASK_WHEEL} is not django"),
        ("https://example.org/not-a-wheel.whl", "invalid wheel file name 'not-a-wheel.whl'"),
        (f"https://[example.org/{FLASK_WHEEL}", "invalid URL: Invalid IPv6 URL"),
    ],
)
def test_direct_reference_to_a_bad_wheel(workdir: Path, line: str, message: str) -> None:
    write_wheel(workdir / "wheels", "flask", "3.0.0")
    (workdir / "wheels/not-a-wheel.whl").write_bytes(b"")
    error = load_error(workdir, line + "\n", wheels_dir=workdir / "wheels")
    assert str(error) == f"requirements.txt:1: {message}: {line!r}"


# --- invalid requirement syntax ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("flask ==", "Expected semicolon (after name with no version specifier) or end"),
        ("flask[async", "Expected matching RIGHT_BRACKET for LEFT_BRACKET, after extras"),
        ("flask; python_version >>> '3'", "Expected a marker variable or quoted string"),
    ],
)
def test_invalid_requirement_is_one_line(workdir: Path, line: str, reason: str) -> None:
    assert str(load_error(workdir, f"six\n{line}\n")) == f"requirements.txt:2: invalid requirement: {reason}: {line!r}"


# --- positional packages ----------------------------------------------------------------------------------


def test_packages_come_from_the_command_line(workdir: Path) -> None:
    write_wheel(workdir / "wheels", "flask", "3.0.0")
    write(workdir / "requirements.txt", "six\n")
    result = load_requirements(
        ["requirements.txt"],
        ["attrs>=23; python_version >= '3.8'", f"./wheels/{FLASK_WHEEL}"],
        wheels_dir=workdir / "wheels",
    )
    # pip's order: packages, then requirement files.
    assert [str(entry) for entry in result.requirements] == [
        'command line attrs>=23; python_version >= "3.8"',
        "command line flask==3.0.0",
        "requirements.txt:1 six",
    ]
    assert result.requirements[0].origin == Origin(None, None)


@pytest.mark.parametrize(
    ("package", "message"),
    [
        ("-r requirements.txt", "command line: expected a requirement, not an option: '-r requirements.txt'"),
        ("flask --hash=sha256:00", "command line: invalid requirement: Expected semicolon"),
        ("git+https://github.com/pallets/flask", "command line: a VCS URL is not supported offline"),
    ],
)
def test_bad_packages(package: str, message: str) -> None:
    with pytest.raises(RequirementsError) as info:
        load_requirements(packages=[package])
    assert str(info.value).startswith(message)


def test_parse_requirement_text_keeps_the_origin() -> None:
    entry = parse_requirement_text("  flask>=3 ", Origin("requirements.txt", 7))
    assert (str(entry), entry.text, entry.hashes, entry.wheel_file) == (
        "requirements.txt:7 flask>=3",
        "flask>=3",
        (),
        None,
    )


# --- property: anything either parses or fails on one line naming the place ---------------------------------

_FRAGMENTS = st.sampled_from(
    ("flask", "==", "1.0", " ", "-r", "-c", "-e", "-i", "--hash=sha256:", SHA256, "[", "]", ";", "\\", "#", "@")
) | st.sampled_from(("https://x/", ".whl", ".tar.gz", "${HOME}", "'", '"', "python_version", "<", ">", ".", "/"))
_LINES = st.one_of(st.text(st.characters(codec="utf-8"), max_size=30), st.lists(_FRAGMENTS, max_size=8).map("".join))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_LINES, max_size=6))
def test_any_text_parses_or_fails_on_one_line(workdir: Path, lines: list[str]) -> None:
    (workdir / "requirements.txt").write_text("\n".join(lines), encoding="utf-8")
    try:
        load_requirements(["requirements.txt"], wheels_dir=workdir)
    except RequirementsError as exc:
        message = str(exc)
        assert len(message.splitlines()) == 1
        assert re.match(r"requirements\.txt:\d+: ", message), message
