"""Targets: parsing every accepted form, tag lists and the complete marker environment."""

from __future__ import annotations

import pytest
from packaging.markers import Environment, Marker
from packaging.tags import Tag

from wheelhouse.errors import ExitCode, TargetError
from wheelhouse.targets import (
    KNOWN_PATCH_RELEASES,
    host_target,
    parse_libc,
    parse_python,
    parse_target,
    parse_targets,
)


@pytest.mark.parametrize(
    ("spec", "python", "libc", "name"),
    [
        ("linux/amd64", "3.12", None, "cp312-manylinux_2_28_x86_64"),
        ("linux/arm64", "3.11", None, "cp311-manylinux_2_28_aarch64"),
        ("linux/arm64/v8", "3.13", "manylinux_2_17", "cp313-manylinux_2_17_aarch64"),
        ("linux/amd64", "3.12.4", "musllinux_1_2", "cp312-musllinux_1_2_x86_64"),
        ("linux/amd64", "3.10", "manylinux2014", "cp310-manylinux_2_17_x86_64"),
        ("cp312-manylinux_2_28_aarch64", None, None, "cp312-manylinux_2_28_aarch64"),
        ("CP311-musllinux_1_2_x86_64", None, None, "cp311-musllinux_1_2_x86_64"),
        ("cp310-manylinux2014_x86_64", None, None, "cp310-manylinux_2_17_x86_64"),
    ],
)
def test_parse_forms(spec: str, python: str | None, libc: str | None, name: str) -> None:
    assert parse_target(spec, python=python, libc=libc).name == name


def test_docker_platform_round_trip() -> None:
    assert parse_target("linux/arm64/v8", python="3.12").docker_platform == "linux/arm64"
    assert parse_target("cp312-manylinux_2_28_x86_64").docker_platform == "linux/amd64"


@pytest.mark.parametrize("bad", ["linux/sparc", "darwin/arm64", "cp312-manylinux_2_28_sparc", "py3-none-any", "", "x"])
def test_bad_target_lists_accepted_forms(bad: str) -> None:
    with pytest.raises(TargetError) as info:
        parse_target(bad, python="3.12")
    assert "accepted forms" in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("2.7", "wheelhouse targets CPython 3 only (3.8 and newer)"),
        ("2.7.18", "wheelhouse targets CPython 3 only (3.8 and newer)"),
        ("27", "wheelhouse targets CPython 3 only (3.8 and newer)"),
        ("cp27", "wheelhouse targets CPython 3 only (3.8 and newer)"),
        ("4.0", "wheelhouse targets CPython 3 only (3.8 and newer)"),
        ("3.7", "wheelhouse supports CPython 3.8 and newer"),
        ("3", "expected X.Y or X.Y.Z, e.g. 3.12 or 3.12.4"),
        ("3.x", "expected X.Y or X.Y.Z, e.g. 3.12 or 3.12.4"),
        ("three", "expected X.Y or X.Y.Z, e.g. 3.12 or 3.12.4"),
        ("3.12.4.1", "expected X.Y or X.Y.Z, e.g. 3.12 or 3.12.4"),
        ("", "expected X.Y or X.Y.Z, e.g. 3.12 or 3.12.4"),
        # Digits of another script: int() reads them, a person reading the command line would not.
        ("3.\u0661\u0662", "expected X.Y or X.Y.Z, e.g. 3.12 or 3.12.4"),
    ],
)
def test_bad_python_says_why(bad: str, reason: str) -> None:
    with pytest.raises(TargetError) as info:
        parse_python(bad)
    assert str(info.value) == f"bad Python version {bad!r}: {reason}"


def test_a_compact_target_of_another_major_says_cpython_3_only() -> None:
    with pytest.raises(TargetError) as info:
        parse_target("cp27-manylinux_2_28_x86_64")
    message = "bad target 'cp27-manylinux_2_28_x86_64': wheelhouse targets CPython 3 only (3.8 and newer)"
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("spec", "python", "libc"),
    [
        ("linux/amd64", "3" * 5000, None),
        ("x" * 5000, "3.12", None),
        ("linux/amd64", "3.12", "manylinux_" * 500),
        ("cp312-manylinux_2_28_x86_64", "3.11" + " " * 5000, None),
        ("cp312-manylinux_2_28_x86_64", None, "m" * 5000),
    ],
    ids=["python", "target", "libc", "conflicting-python", "libc-of-a-compact-target"],
)
def test_target_errors_quote_long_input_shortened(spec: str, python: str | None, libc: str | None) -> None:
    with pytest.raises(TargetError) as info:
        parse_target(spec, python=python, libc=libc)
    message = str(info.value)
    assert "\n" not in message
    assert len(message) < 400


def test_compact_target_conflicting_python() -> None:
    with pytest.raises(TargetError, match=r"names Python 3\.12"):
        parse_target("cp312-manylinux_2_28_x86_64", python="3.11")


def test_python_full_version_choice() -> None:
    t = parse_target("linux/amd64", python="3.11")
    assert t.python_full_version == f"3.11.{KNOWN_PATCH_RELEASES[(3, 11)]}"
    assert not t.python_exact
    exact = parse_target("linux/amd64", python="3.11.4")
    assert exact.python_full_version == "3.11.4"
    assert exact.python_exact
    assert "newest known patch release" in t.describe()


def test_manylinux_tags_order_and_aliases() -> None:
    t = parse_target("linux/amd64", python="3.12")
    platforms = t.platforms
    assert platforms[0] == "manylinux_2_28_x86_64"
    for expected in (
        "manylinux_2_27_x86_64",
        "manylinux_2_17_x86_64",
        "manylinux2014_x86_64",
        "manylinux2010_x86_64",
        "manylinux1_x86_64",
    ):
        assert expected in platforms
    assert (
        platforms.index("manylinux_2_17_x86_64")
        < platforms.index("manylinux2014_x86_64")
        < platforms.index("manylinux_2_16_x86_64")
    )
    assert "manylinux_2_29_x86_64" not in platforms
    tags = t.tags
    assert tags[0] == Tag("cp312", "cp312", "manylinux_2_28_x86_64")
    assert Tag("cp38", "abi3", "manylinux2014_x86_64") in tags
    assert Tag("py3", "none", "any") in tags
    assert Tag("cp312", "cp312", "musllinux_1_2_x86_64") not in tags
    assert Tag("cp313", "cp313", "manylinux_2_28_x86_64") not in tags
    assert tags.index(Tag("cp312", "cp312", "manylinux_2_17_x86_64")) < tags.index(Tag("py3", "none", "any"))


def test_aarch64_has_no_manylinux1() -> None:
    t = parse_target("linux/arm64", python="3.12")
    assert "manylinux1_aarch64" not in t.platforms
    assert "manylinux2014_aarch64" in t.platforms
    assert t.platforms[-2] == "manylinux_2_17_aarch64" or t.platforms[-2] == "manylinux2014_aarch64"


def test_musllinux_tags() -> None:
    t = parse_target("linux/amd64", python="3.12", libc="musllinux_1_2")
    assert t.platforms == (
        "musllinux_1_2_x86_64",
        "musllinux_1_1_x86_64",
        "musllinux_1_0_x86_64",
        "linux_x86_64",
    )


@pytest.mark.parametrize("spec", ["cp310-manylinux_2_28_aarch64", "cp313-musllinux_1_2_x86_64", "linux/amd64"])
def test_marker_environment_is_complete(spec: str) -> None:
    env = parse_target(spec, python=None if spec.startswith("cp") else "3.12").marker_environment
    assert set(env) == set(Environment.__annotations__)
    assert all(isinstance(v, str) for v in env.values())


def test_marker_environment_is_the_targets_not_the_hosts() -> None:
    env = parse_target("cp310-manylinux_2_28_aarch64").marker_environment
    assert env["platform_machine"] == "aarch64"
    assert env["python_version"] == "3.10"
    assert env["sys_platform"] == "linux"
    assert Marker('python_version < "3.11" and platform_machine == "aarch64"').evaluate(dict(env, extra=""))
    assert not Marker('sys_platform == "win32"').evaluate(dict(env, extra=""))


def test_parse_targets_cross_product_and_dedup() -> None:
    targets = parse_targets(["linux/amd64", "linux/arm64", "linux/amd64"], pythons=["3.11", "3.12"])
    assert [t.name for t in targets] == [
        "cp311-manylinux_2_28_x86_64",
        "cp312-manylinux_2_28_x86_64",
        "cp311-manylinux_2_28_aarch64",
        "cp312-manylinux_2_28_aarch64",
    ]


def test_host_target_default() -> None:
    (t,) = parse_targets()
    assert t == host_target()
    assert t.python_exact


@pytest.mark.parametrize("spec", ["musllinux_2_1", "cp312-musllinux_2_1_x86_64"])
def test_a_musl_version_other_than_1_x_is_refused(spec: str) -> None:
    with pytest.raises(TargetError, match=r"musl versions are 1\.x"):
        parse_target(spec) if spec.startswith("cp") else parse_libc(spec)
