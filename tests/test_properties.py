"""Property-based tests (hypothesis) over what users type: target strings and requirement lines.

Every input either parses or is refused with a one-line error; a requirements file's error names file:line; the
exit status is 0, 2 or 3 (never 1, the code of an internal failure); no traceback ever reaches the user.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import Cli
from tests.support.wheels import write_wheel
from wheelhouse.dists import SDIST_SUFFIXES
from wheelhouse.errors import TargetError
from wheelhouse.targets import DOCKER_ARCHES, parse_libc, parse_target

# Modest and reproducible: the suite stays fast, CI sees the same examples, and no database is written into
# the checkout.
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- targets -----------------------------------------------------------------------------------------------------

_ARCHES = ["x86_64", "aarch64", "armv7l", "i686", "ppc64le", "s390x", "riscv64", "X86_64", ""]
_LIBCS = st.one_of(
    st.sampled_from(["manylinux_2_28", "manylinux_2_17", "manylinux2014", "manylinux1", "musllinux_1_2", ""]),
    st.from_regex(r"\A(many|musl)linux_\d{1,6}_\d{1,6}\Z"),
    st.builds(lambda n: f"manylinux_2_{'9' * n}", st.integers(1, 5000)),
)
_PYTHONS = st.one_of(
    st.sampled_from(["3.12", "3.10.4", "312", "cp311", "3", "2.7", "3.7", "3.12.999", "3.1234", " 3.12 "]),
    st.from_regex(r"\A(cp)?\d{1,3}(\.\d{1,4}){0,3}\Z"),
    st.text(max_size=12),
)
TARGET_TEXT = st.one_of(
    st.sampled_from([*DOCKER_ARCHES, "host", "HOST", " linux/amd64 ", "linux/amd64/", "linux", "windows/amd64"]),
    st.builds(lambda py, libc, arch: f"cp{py}-{libc}_{arch}", st.integers(0, 400), _LIBCS, st.sampled_from(_ARCHES)),
    st.from_regex(r"\Acp3\d{1,2}-(manylinux|musllinux)_\d{1,4}_\d{1,4}_[a-z0-9_]{1,8}\Z"),
    st.text(max_size=40),
)


@PROPERTY
@given(spec=TARGET_TEXT, python=st.none() | _PYTHONS, libc=st.none() | _LIBCS)
@example(spec="cp312-manylinux_2_99999999999_x86_64", python=None, libc=None)
@example(spec="linux/amd64", python="3.12", libc="musllinux_1_" + "9" * 5000)
def test_a_target_string_parses_or_is_one_target_error(spec: str, python: str | None, libc: str | None) -> None:
    try:
        target = parse_target(spec, python=python, libc=libc)
    except TargetError as exc:
        refused = str(exc)
        assert refused
        assert "\n" not in refused
        return
    # A parsed target is complete and bounded, and its name parses back to the same platform.
    assert target.tags
    assert len(target.platforms) <= 2000
    assert len(target.marker_environment) >= 11
    again = parse_target(target.name)
    assert (again.arch, again.libc, again.python_version) == (target.arch, target.libc, target.python_version)


@PROPERTY
@given(spec=_LIBCS | st.text(max_size=30))
def test_a_libc_string_parses_or_is_one_target_error(spec: str) -> None:
    try:
        libc = parse_libc(spec)
    except TargetError as exc:
        refused = str(exc)
        assert "\n" not in refused
        return
    assert str(parse_libc(str(libc))) == str(libc)


def test_an_absurd_libc_version_is_refused_not_expanded() -> None:
    # Each older glibc is one platform tag: manylinux_2_99999999999 would be a hundred billion of them.
    with pytest.raises(TargetError, match="no libc version part is above 999"):
        parse_target("cp312-manylinux_2_99999999999_x86_64")
    with pytest.raises(TargetError, match="no libc version part is above 999"):
        parse_target("linux/amd64", python="3.12", libc="manylinux_2_" + "9" * 5000)
    assert len(parse_target("linux/amd64", python="3.12", libc="manylinux_2_999").platforms) < 1000


@pytest.mark.parametrize(
    ("spec", "libc"),
    [
        ("linux/arm64", "manylinux1"),
        ("cp312-manylinux_2_16_aarch64", None),
        ("linux/amd64", "manylinux_2_4"),
        ("host", "manylinux_2_0"),
    ],
)
def test_a_glibc_older_than_any_manylinux_of_the_architecture_is_refused(spec: str, libc: str | None) -> None:
    # Such a target could use no manylinux wheel at all; it used to fail later with an IndexError.
    with pytest.raises(TargetError, match="is older than the oldest manylinux for") as info:
        parse_target(spec, python="3.12" if not spec.startswith("cp") else None, libc=libc)
    assert info.value.hint
    assert parse_target("linux/amd64", python="3.12", libc="manylinux1").platforms[-2:] == (
        "manylinux1_x86_64",
        "linux_x86_64",
    )


@pytest.fixture
def folder(project: Path) -> Path:
    write_wheel(project / "wheels", "demo", "1.0")
    return project


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


@PROPERTY
@given(spec=TARGET_TEXT, python=st.none() | _PYTHONS, libc=st.none() | _LIBCS)
def test_any_target_on_the_command_line_is_handled(
    cli: Cli, folder: Path, spec: str, python: str | None, libc: str | None
) -> None:
    args = ["verify", f"--target={spec}", "demo"]
    if python is not None:
        args.append(f"--python={python}")
    if libc is not None:
        args.append(f"--libc={libc}")
    result = cli(*args)
    assert result.exit_code in (0, 2, 3), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert len(_errors(result.stderr)) == 1, result.stderr


# -- requirement lines -------------------------------------------------------------------------------------------

_NAMES = st.from_regex(r"\A[A-Za-z0-9]([A-Za-z0-9._-]{0,10}[A-Za-z0-9])?\Z") | st.sampled_from(["demo", "Demo_", ""])
_SPECS = st.sampled_from(
    ["", "==1.0", ">=0.5", "~=1.0", "!=2.*", "===1.0", "==", "<", ">=1,<2", " == 1.0 ", "==1.0.*", "@", "(==1.0)"]
)
_EXTRAS = st.sampled_from(["", "[fast]", "[a,b]", "[", "[]", "[a b]"])
_MARKERS = st.sampled_from(
    [
        "",
        '; python_version < "3.11"',
        '; sys_platform == "win32"',
        "; platform_machine == 'aarch64' and os_name == 'posix'",
        "; extra == 'x'",
        "; nonsense",
        ";",
        '; python_version >= "3.8" or',
    ]
)
_OPTIONS = st.sampled_from(
    [
        "-r other.txt",
        "-r missing.txt",
        "--requirement=other.txt",
        "-c other.txt",
        "-r",
        "-e .",
        "-e git+https://example.org/x.git#egg=x",
        "--index-url http://127.0.0.1:9/simple",
        "-i",
        "--extra-index-url=http://user:pw@127.0.0.1:9/simple",
        "-f ./wheels",
        "--find-links",
        "--no-index",
        "--pre",
        "--only-binary :all:",
        "--no-binary demo",
        "--trusted-host 127.0.0.1",
        "--prefer-binary",
        "--hash=sha256:" + "0" * 64,
        "--hash=md5:abc",
        "-Z",
        "--unknown-option",
        "demo @ https://example.org/demo-1.0-py3-none-any.whl",
        "demo @ file:///nowhere/demo-1.0-py3-none-any.whl",
        "./wheels/demo-1.0-py3-none-any.whl",
        "https://example.org/demo-1.0.tar.gz",
        "demo==${DEMO_VERSION}",
        "${UNSET_VARIABLE}",
        "# a comment",
        "demo # trailing comment",
        "\\",
        "demo \\",
        "   ",
        "\t-r\tother.txt",
    ]
)
_REQUIREMENT = st.builds(lambda n, x, s, m: f"{n}{x}{s}{m}", _NAMES, _EXTRAS, _SPECS, _MARKERS)
_NOISE = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)
LINE = st.one_of(_REQUIREMENT, _OPTIONS, _NOISE, st.builds(lambda r, o: f"{r} {o}", _REQUIREMENT, _OPTIONS))
FILE_LINE = re.compile(r"^error: [^\n]*?\.txt:\d+: ")


@PROPERTY
@given(lines=st.lists(LINE, min_size=1, max_size=6))
@example(lines=["demo\x00==1"])
@example(lines=["\x1b[2J\x1b[31mdemo"])
@example(lines=["demo==1.0 \\", "\\", ""])
@example(lines=["-r requirements.txt"])
def test_any_requirements_file_parses_or_names_file_and_line(cli: Cli, folder: Path, lines: list[str]) -> None:
    (folder / "other.txt").write_text("demo>=0.1\n")
    (folder / "requirements.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("verify", "-r", "requirements.txt", "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code in (0, 2, 3), result.output
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    # What the file holds is echoed escaped: no terminal control sequence gets through.
    assert "\x1b" not in result.output
    if result.exit_code == 2:
        (error,) = _errors(result.stderr)
        assert FILE_LINE.match(error), error


@PROPERTY
@given(data=st.binary(max_size=200))
@example(data=b"\xff\xfe\x00d\x00e\x00m\x00o")
@example(data=b"demo\r\n-r other.txt\r\n")
@example(data=b"\xef\xbb\xbfdemo\n")
def test_any_bytes_as_requirements_parse_or_name_file_and_line(cli: Cli, folder: Path, data: bytes) -> None:
    (folder / "other.txt").write_text("demo>=0.1\n")
    (folder / "requirements.txt").write_bytes(data)
    result = cli("verify", "-r", "requirements.txt", "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code in (0, 2, 3), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        (error,) = _errors(result.stderr)
        assert FILE_LINE.match(error), error


@PROPERTY
@given(packages=st.lists(_REQUIREMENT | _NOISE, min_size=1, max_size=3))
def test_any_package_argument_parses_or_is_one_error(cli: Cli, folder: Path, packages: list[str]) -> None:
    # The test runner's own click entry consumes the first "--"; the second reaches wheelhouse.
    result = cli("verify", "--target", "linux/amd64", "--python", "3.12", "--", "--", *packages)
    assert result.exit_code in (0, 2, 3), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        (error,) = _errors(result.stderr)
        assert error.startswith("error: command line")


# -- wheel file names ----------------------------------------------------------------------------------------------

_NAME_PARTS = st.one_of(
    st.sampled_from(["numpy", "Foo_Bar", "zope.interface", "a", "x__y", "_", "", "naïve", "pkg.", "9lives"]),
    st.from_regex(r"\A[A-Za-z0-9._-]{1,12}\Z"),
)
_VERSIONS = st.one_of(
    st.sampled_from(["1.0", "2.0.post1", "1.0rc1", "1!2.0", "1.0+local", "v1.0", "1.0-1", "bad", "", "01.0"]),
    st.from_regex(r"\A[0-9.a-z+!]{1,10}\Z"),
)
_BUILDS = st.sampled_from(["", "1", "12abc", "x", "1-2", "0_"])
_TRIPLES = st.one_of(
    st.sampled_from(
        [
            "py3-none-any",
            "py2.py3-none-any",
            "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
            "cp39-abi3-musllinux_1_1_aarch64",
            "py3--any",
            "3py-none-any",
            "py3-none",
            "py3-none-any-extra",
        ]
    ),
    st.from_regex(r"\A[a-z0-9_.]{0,8}-[a-z0-9_.]{0,8}-[a-z0-9_.]{0,12}\Z"),
)


@PROPERTY
@given(name=_NAME_PARTS, version=_VERSIONS, build=_BUILDS, triple=_TRIPLES)
def test_wheel_file_names_parse_exactly_as_packaging_parses_them(
    name: str, version: str, build: str, triple: str
) -> None:
    """The fast path for index pages agrees with packaging on every name, and refuses what packaging refuses."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    from wheelhouse.dists import InvalidDistFilename, parse_dist_filename

    filename = "-".join(p for p in (name, version, build) if p or p is name) + f"-{triple}.whl"
    try:
        expected = parse_wheel_filename(filename)
    except (InvalidWheelFilename, ValueError):
        with pytest.raises(InvalidDistFilename):
            parse_dist_filename(filename)
        return
    got_name, got_version, kind, got_tags, got_build = parse_dist_filename(filename)
    assert (got_name, got_version, got_build, got_tags) == expected
    assert kind == "wheel"


@PROPERTY
@given(name=_NAME_PARTS, version=_VERSIONS, suffix=st.sampled_from(list(SDIST_SUFFIXES)))
@example(name="", version="1.0", suffix=".tar.gz")  # no project name: refused, also by the cached path
@example(name="Foo_Bar", version="1.0", suffix=".zip")
@example(name="a\nb", version="1.0", suffix=".tar.gz")  # a line break in the name: no project name
@example(name='q"', version="1.0", suffix=".tar.bz2")
def test_sdist_names_parse_as_packaging_parses_the_same_stem_as_tar_gz(name: str, version: str, suffix: str) -> None:
    """Every sdist format parses as packaging parses the stem as ``.tar.gz`` (the cached path for the names an
    index lists by the thousand included), and a stem packaging refuses is refused; so is one whose part before
    the version is no project name, which packaging's sdist parser takes as it is."""
    from packaging.utils import InvalidName, InvalidSdistFilename, canonicalize_name, parse_sdist_filename

    from wheelhouse.dists import InvalidDistFilename, parse_dist_filename

    stem = f"{name}-{version}" if version else name
    try:
        expected = parse_sdist_filename(stem + ".tar.gz")
        canonicalize_name(stem.rpartition("-")[0], validate=True)
    except (InvalidSdistFilename, InvalidName, ValueError):
        with pytest.raises(InvalidDistFilename):
            parse_dist_filename(stem + suffix)
        return
    got_name, got_version, kind, tags, build = parse_dist_filename(stem + suffix)
    assert (got_name, got_version) == expected
    assert (kind, tags, build) == ("sdist", frozenset(), ())
