"""``wheelhouse download`` lands only wheels it can stand behind, and asks the index only what it needs.

End to end against the local index (or a find-links folder): a wheel whose own METADATA names another release,
a wheel that would shadow one already in the folder, a release whose Requires-Python is only in its METADATA,
and a top-level requirement whose marker is false for the target.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.index_server import IndexServer
from tests.support.wheels import make_wheel, metadata_text, write_wheel

TARGET = ("--target", "linux/amd64", "--python", "3.12")


def wheels(project: Path) -> list[str]:
    return sorted(p.name for p in (project / "wheels").glob("*.whl"))


def leftovers(project: Path) -> list[str]:
    """Temporary files a run left in the folder's state directory."""
    return sorted(p.name for p in (project / "wheels" / ".wheelhouse" / "tmp").glob(".partial-*"))


# -- markers are evaluated before any request -------------------------------------------------------------------


def test_a_covered_rerun_with_a_requirement_for_another_platform_makes_zero_requests(
    cli: Cli, index_server: IndexServer, project: Path
) -> None:
    index_server.add_wheel("app", "1.0")
    index_server.add_wheel("colorama", "0.4.6")
    (project / "requirements.txt").write_text("app==1.0\ncolorama; sys_platform == 'win32'\n")
    args = ["download", "--index-url", index_server.index_url, *TARGET]
    first = cli(*args)
    assert first.exit_code == 0, first.output
    assert wheels(project) == ["app-1.0-py3-none-any.whl"]
    # The Windows-only requirement is never asked for, not even on the first run.
    assert not [r.route for r in index_server.requests.snapshot() if "colorama" in r.route]
    index_server.requests.clear()
    again = cli(*args)
    assert again.exit_code == 0, again.output
    assert [r.route for r in index_server.requests.snapshot()] == []


# -- a wheel whose own METADATA names another release never lands ----------------------------------------------


@pytest.mark.parametrize(("says_name", "says_version"), [("evil", "1.0"), ("good", "2.0")])
def test_a_wheel_whose_own_metadata_names_another_release_is_refused_and_never_lands(
    cli: Cli, index_server: IndexServer, project: Path, says_name: str, says_version: str
) -> None:
    # The index's PEP 658 metadata says good 1.0 (so the resolver pins the file); the wheel itself says otherwise.
    _name, data = make_wheel(says_name, says_version)
    filename = "good-1.0-py3-none-any.whl"
    index_server.add(filename, data, metadata=metadata_text("good", "1.0").encode())
    (project / "requirements.txt").write_text("good==1.0\n")
    result = cli("download", "--index-url", index_server.index_url, *TARGET)
    assert result.exit_code == 1, result.output
    assert f"{filename} from {index_server.url}" in result.output
    assert f"refused, not added to the folder: METADATA says {says_name} {says_version}" in result.output
    assert "Traceback" not in result.output
    assert wheels(project) == []
    assert leftovers(project) == []


# -- a wheel that would shadow one already in the folder never lands --------------------------------------------


@pytest.mark.parametrize(
    "twin",
    [
        pytest.param("Good-1.0-py3-none-any.whl", id="case-twin"),
        pytest.param("good-1.0.0-py3-none-any.whl", id="equal-version-other-spelling"),
        pytest.param("good-1.0-1-py3-none-any.whl", id="build-tag"),
    ],
)
def test_a_wheel_that_would_shadow_one_in_the_folder_is_refused_naming_both(
    cli: Cli, index_server: IndexServer, project: Path, twin: str
) -> None:
    # good 1.0 in the folder needs Python 3.13 by its own METADATA, so a 3.12 target looks for good 1.0 on the
    # index. The index's file serves good 1.0 for py3-none-any too: with both in the folder, a 3.13 target's
    # pip would pick one of the two by its name alone.
    present = write_wheel(project / "wheels", "good", "1.0", requires_python=">=3.13")
    before = present.read_bytes()
    _name, data = make_wheel("good", "1.0.0" if "1.0.0" in twin else "1.0", build="1" if "-1-" in twin else None)
    index_server.add(twin, data)
    (project / "requirements.txt").write_text("good==1.0\n")
    result = cli("download", "--index-url", index_server.index_url, *TARGET)
    assert result.exit_code == 1, result.output
    assert twin in result.output
    assert present.name in result.output
    assert "Traceback" not in result.output
    assert wheels(project) == [present.name]
    assert present.read_bytes() == before
    assert leftovers(project) == []


# -- Requires-Python found only in a wheel's METADATA -----------------------------------------------------------


def test_requires_python_only_in_metadata_makes_the_resolver_take_the_older_release(
    cli: Cli, tmp_path: Path, project: Path
) -> None:
    # A find-links folder has no data-requires-python: lib 2.0's limit is in its METADATA only.
    links = tmp_path / "fl"
    write_wheel(links, "lib", "1.0")
    write_wheel(links, "lib", "2.0", requires_python=">=3.13")
    result = cli("download", "lib", "--no-index", "--find-links", str(links), *TARGET)
    assert result.exit_code == 0, result.output
    assert wheels(project) == ["lib-1.0-py3-none-any.whl"]
    assert "covered" in result.output
    verify = cli("verify", "lib", *TARGET)
    assert verify.exit_code == 0, verify.output
