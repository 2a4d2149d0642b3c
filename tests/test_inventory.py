"""``list``, ``show`` and ``why``: the core functions and the commands, asserted on content."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from tests.conftest import Cli, run_wheelhouse
from tests.support.wheels import write_wheel
from wheelhouse._text import size as human_size
from wheelhouse.cli._reports import human_age
from wheelhouse.errors import StoreError
from wheelhouse.requirements import load_requirements
from wheelhouse.share.inventory import NotInFolderError, list_wheels, open_store, short_tags, show_wheels, why
from wheelhouse.store.folder import Store
from wheelhouse.store.manifest import FileRecord
from wheelhouse.targets import parse_target, parse_targets

X86 = "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64"
ARM = "cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64"
DAY = 86400.0


@pytest.fixture
def folder(project: Path) -> Path:
    """flask 3.0.0 (and an older 2.0.0) -> werkzeug -> markupsafe (per architecture), an unused project."""
    wheels = project / "wheels"
    write_wheel(
        wheels,
        "flask",
        "3.0.0",
        requires_dist=[
            "werkzeug>=3.0.0",
            "markupsafe>=2.0",
            'tomli; python_version < "3.11"',
            "asgiref; extra == 'async'",
        ],
        requires_python=">=3.8",
        extras=["async"],
        summary="A simple framework for building complex web applications.",
        license="BSD-3-Clause",
    )
    write_wheel(wheels, "flask", "2.0.0")
    write_wheel(wheels, "werkzeug", "3.0.1", requires_dist=["markupsafe>=2.1.1"])
    write_wheel(wheels, "markupsafe", "2.1.5", tag=X86)
    write_wheel(wheels, "markupsafe", "2.1.5", tag=ARM)
    write_wheel(wheels, "tomli", "2.0.1")
    write_wheel(wheels, "Unused_Thing", "1.0", requires_python=">=3.13")
    (project / "requirements.txt").write_text("flask==3.0.0\n")
    return wheels


# -- helpers ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("a-1.0-py3-none-any.whl", "py3-none-any"),
        (f"markupsafe-2.1.5-{X86}.whl", "cp312-cp312-manylinux_2_17_x86_64"),
        ("x-1.0-cp39-cp39-manylinux2010_x86_64.manylinux_2_12_x86_64.whl", "cp39-cp39-manylinux_2_12_x86_64"),
        # An alias without its PEP 600 twin says something the rest does not: it stays.
        ("x-1.0-cp39-cp39-manylinux2014_x86_64.whl", "cp39-cp39-manylinux2014_x86_64"),
        ("x-1.0-1build-py2.py3-none-any.whl", "py2.py3-none-any"),
        ("x-1.0-cp312-abi3-musllinux_1_2_aarch64.whl", "cp312-abi3-musllinux_1_2_aarch64"),
    ],
)
def test_short_tags(filename: str, expected: str) -> None:
    assert short_tags(filename) == expected


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (12_345, "12.3 kB"),
        (1_234_567, "1.2 MB"),
        (3_400_000_000, "3.4 GB"),
    ],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "just now"),
        (30, "just now"),
        (60, "1 minute"),
        (150, "2 minutes"),
        (3600, "1 hour"),
        (5 * 3600 + 10, "5 hours"),
        (DAY, "1 day"),
        (3 * DAY + 100, "3 days"),
        (45 * DAY, "45 days"),
        (61 * DAY, "2 months"),
        (400 * DAY, "1 year"),
        (800 * DAY, "2 years"),
    ],
)
def test_human_age(seconds: float, text: str) -> None:
    assert human_age(seconds) == text


# -- list ---------------------------------------------------------------------------------------------------


def test_list_wheels_sorted_with_records(folder: Path) -> None:
    store = Store(folder)
    store.update_records(
        {
            "flask-3.0.0-py3-none-any.whl": FileRecord(
                sha256="0" * 64,
                url="https://files.example/flask-3.0.0-py3-none-any.whl",
                added=1_700_000_000.0,
                targets=("cp312-manylinux_2_28_x86_64",),
            )
        }
    )
    inventory = list_wheels(store)
    assert [(e.project, str(e.version)) for e in inventory.entries] == [
        ("flask", "2.0.0"),
        ("flask", "3.0.0"),
        ("markupsafe", "2.1.5"),
        ("markupsafe", "2.1.5"),
        ("tomli", "2.0.1"),
        ("unused-thing", "1.0"),
        ("werkzeug", "3.0.1"),
    ]
    flask = inventory.entries[1]
    assert flask.targets == ("cp312-manylinux_2_28_x86_64",)
    assert flask.added == 1_700_000_000.0
    old = inventory.entries[0]
    assert old.record is None
    assert old.targets == ()
    assert old.added == pytest.approx((folder / "flask-2.0.0-py3-none-any.whl").stat().st_mtime)
    assert inventory.size == sum(p.stat().st_size for p in folder.glob("*.whl"))
    assert inventory.projects == 5
    assert not inventory.filtered


def test_list_filters_by_project_pattern_and_normalised_name(folder: Path) -> None:
    store = Store(folder)
    assert {e.filename for e in list_wheels(store, projects=["Unused.Thing"]).entries} == {
        "unused_thing-1.0-py3-none-any.whl"
    }
    assert {e.project for e in list_wheels(store, projects=["MARKUP*", "tom?i"]).entries} == {"markupsafe", "tomli"}
    filtered = list_wheels(store, projects=["nothing-like-it"])
    assert filtered.entries == ()
    assert filtered.filtered
    assert filtered.total_in_folder == 7


def test_list_filters_by_what_a_target_can_install(folder: Path) -> None:
    store = Store(folder)
    arm312 = parse_target("linux/arm64", python="3.12")
    names = {e.filename for e in list_wheels(store, targets=[arm312]).entries}
    assert f"markupsafe-2.1.5-{ARM}.whl" in names
    assert f"markupsafe-2.1.5-{X86}.whl" not in names
    # Requires-Python >=3.13 rules the unused project out for a 3.12 target, in for 3.13.
    assert "unused_thing-1.0-py3-none-any.whl" not in names
    arm313 = parse_target("linux/arm64", python="3.13")
    names313 = {e.filename for e in list_wheels(store, targets=[arm313]).entries}
    assert "unused_thing-1.0-py3-none-any.whl" in names313
    assert f"markupsafe-2.1.5-{ARM}.whl" not in names313  # cp312 only


def test_open_store_missing_folder_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as info:
        open_store(tmp_path / "nope")
    assert "does not exist" in str(info.value)
    assert info.value.hint is not None
    assert "wheelhouse download" in info.value.hint


def test_cli_list_table_and_totals(cli: Cli, folder: Path) -> None:
    Store(folder).update_records(
        {
            "werkzeug-3.0.1-py3-none-any.whl": FileRecord(
                sha256="1" * 64,
                added=time.time() - 3 * DAY - 60,
                targets=("cp312-manylinux_2_28_aarch64", "cp312-manylinux_2_28_x86_64"),
            )
        }
    )
    result = cli("list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["Project", "Version", "Tags", "Size", "Age", "Used", "by"]
    werkzeug = next(line for line in lines if line.startswith("werkzeug"))
    assert "3.0.1" in werkzeug
    assert "py3-none-any" in werkzeug
    assert "3 days" in werkzeug
    assert "cp312-manylinux_2_28_aarch64, cp312-manylinux_2_28_x86_64" in werkzeug
    arm = next(line for line in lines if "aarch64" in line and line.startswith("markupsafe"))
    # The redundant manylinux2014 alias is not shown.
    assert "cp312-cp312-manylinux_2_17_aarch64" in arm
    assert "manylinux2014" not in arm
    assert "just now" in arm
    total = sum(p.stat().st_size for p in folder.glob("*.whl"))
    assert lines[-1] == f"7 wheels, 5 projects, {human_size(total)}"


def test_cli_list_filters(cli: Cli, folder: Path) -> None:
    result = cli("list", "markupsafe", "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("markupsafe")]
    assert len(rows) == 1
    assert "x86_64" in rows[0]
    assert result.output.splitlines()[-1].endswith("(of 7 wheels in the folder)")
    nothing = cli("list", "django")
    assert nothing.exit_code == 0
    assert "no wheel in wheels matches (7 wheels in all)" in nothing.output


def test_cli_list_json(cli: Cli, folder: Path) -> None:
    Store(folder).update_records(
        {f"markupsafe-2.1.5-{ARM}.whl": FileRecord(sha256="2" * 64, url="https://x/m.whl", targets=("t1",))}
    )
    result = cli("list", "--json", "markupsafe")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == 1
    assert data["wheels"] == "wheels"
    assert [f["file"] for f in data["files"]] == [f"markupsafe-2.1.5-{ARM}.whl", f"markupsafe-2.1.5-{X86}.whl"]
    arm = data["files"][0]
    assert arm["project"] == "markupsafe"
    assert arm["version"] == "2.1.5"
    assert arm["tags"] == ["cp312-cp312-manylinux2014_aarch64", "cp312-cp312-manylinux_2_17_aarch64"]
    assert arm["short_tags"] == "cp312-cp312-manylinux_2_17_aarch64"
    assert arm["size"] == (folder / arm["file"]).stat().st_size
    assert arm["targets"] == ["t1"]
    assert arm["url"] == "https://x/m.whl"
    assert arm["added"].endswith("+00:00")
    assert isinstance(arm["age_seconds"], int)
    assert data["total"] == {"files": 2, "projects": 1, "size": sum(f["size"] for f in data["files"])}
    assert data["total_in_folder"] == 7
    assert data["problems"] == []


def test_cli_list_reports_unreadable_files_and_missing_folder(cli: Cli, folder: Path, tmp_path: Path) -> None:
    (folder / "broken-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    result = cli("list", "--json")
    assert result.exit_code == 0
    problems = json.loads(result.stdout)["problems"]
    assert [p["file"] for p in problems] == ["broken-1.0-py3-none-any.whl"]
    human = cli("list")
    assert "warning: wheels/broken-1.0-py3-none-any.whl: not a readable zip file" in human.output
    missing = cli("list", "--wheels", str(tmp_path / "elsewhere"))
    assert missing.exit_code == 1
    assert "error: the wheels folder" in missing.output
    assert "does not exist" in missing.output
    assert "hint: wheelhouse download" in missing.output
    assert "Traceback" not in missing.output


def test_cli_list_empty_folder(cli: Cli, project: Path) -> None:
    result = cli("list")
    assert result.exit_code == 0
    assert result.output.strip() == "no wheels in wheels"


# -- show ---------------------------------------------------------------------------------------------------


def test_show_project_gives_newest_version_and_names_the_others(folder: Path) -> None:
    (details,) = show_wheels(Store(folder), ["Flask"])
    assert details.filename == "flask-3.0.0-py3-none-any.whl"
    assert details.name == "flask"
    assert details.version == "3.0.0"
    assert details.summary == "A simple framework for building complex web applications."
    assert details.license == "BSD-3-Clause"
    assert details.requires_python == ">=3.8"
    assert details.requires_dist == (
        "werkzeug>=3.0.0",
        "markupsafe>=2.0",
        'tomli; python_version < "3.11"',
        "asgiref; extra == 'async'",
    )
    assert details.extras == ("async",)
    assert details.tags == ("py3-none-any",)
    data = (folder / details.filename).read_bytes()
    assert details.sha256 == hashlib.sha256(data).hexdigest()
    assert details.size == len(data)
    assert details.other_versions == ("2.0.0",)
    members = {m.path: m.size for m in details.members}
    assert members["flask/__init__.py"] == len(b"__version__ = '3.0.0'\n")
    assert "flask-3.0.0.dist-info/METADATA" in members
    assert "flask-3.0.0.dist-info/RECORD" in members


def test_show_selects_versions_files_and_patterns(folder: Path) -> None:
    store = Store(folder)
    assert [d.version for d in show_wheels(store, ["flask==2.0.0"])] == ["2.0.0"]
    both = show_wheels(store, ["markupsafe"])
    assert [d.filename for d in both] == [f"markupsafe-2.1.5-{ARM}.whl", f"markupsafe-2.1.5-{X86}.whl"]
    by_pattern = show_wheels(store, ["wheels/markupsafe*aarch64*.whl"])
    assert [d.filename for d in by_pattern] == [f"markupsafe-2.1.5-{ARM}.whl"]
    by_path = show_wheels(store, [str(folder / "tomli-2.0.1-py3-none-any.whl"), "tomli-2.0.1-py3-none-any.whl"])
    assert [d.filename for d in by_path] == ["tomli-2.0.1-py3-none-any.whl"]  # the same file once
    assert by_path[0].in_folder


def test_show_wheel_outside_the_folder(folder: Path, tmp_path: Path) -> None:
    outside = write_wheel(tmp_path / "elsewhere", "solo", "0.1", summary="Alone")
    (details,) = show_wheels(Store(folder), [str(outside)])
    assert details.summary == "Alone"
    assert not details.in_folder
    assert details.record is None
    assert details.sha256 == hashlib.sha256(outside.read_bytes()).hexdigest()


def test_show_not_found_names_versions_present(folder: Path) -> None:
    store = Store(folder)
    with pytest.raises(NotInFolderError) as info:
        show_wheels(store, ["flask==9.9"])
    assert "versions present: 3.0.0, 2.0.0" in str(info.value)
    assert info.value.hint == "wheelhouse show flask==3.0.0"
    with pytest.raises(NotInFolderError) as none:
        show_wheels(store, ["django"])
    assert "no wheel in" in str(none.value)
    assert none.value.hint is not None
    assert "wheelhouse download django" in none.value.hint


def test_cli_show_human(cli: Cli, folder: Path) -> None:
    Store(folder).update_records(
        {
            "flask-3.0.0-py3-none-any.whl": FileRecord(
                sha256="3" * 64,
                url="https://files.example/flask-3.0.0-py3-none-any.whl",
                added=time.time() - 2 * DAY - 5,
                targets=("cp312-manylinux_2_28_x86_64",),
                sources=("requirements.txt",),
                built_by="wheelhouse download --build flask",
            )
        }
    )
    result = cli("show", "flask")
    assert result.exit_code == 0, result.output
    out = result.output
    sha = hashlib.sha256((folder / "flask-3.0.0-py3-none-any.whl").read_bytes()).hexdigest()
    assert out.splitlines()[0] == "flask 3.0.0  flask-3.0.0-py3-none-any.whl"
    for expected in (
        "Summary          A simple framework for building complex web applications.",
        "License          BSD-3-Clause",
        "Requires-Python  >=3.8",
        "Requires-Dist    werkzeug>=3.0.0",
        'tomli; python_version < "3.11"',
        "Extras           async",
        "Tags             py3-none-any",
        f"SHA256           {sha}",
        "Source           https://files.example/flask-3.0.0-py3-none-any.whl",
        "(2 days ago)",
        "Used by          cp312-manylinux_2_28_x86_64",
        "Requirements     requirements.txt",
        "Built by         wheelhouse download --build flask",
        "Other versions   2.0.0",
        "Files (4,",
        "flask-3.0.0.dist-info/METADATA",
    ):
        assert expected in out, expected
    assert "22 B  flask/__init__.py" in out


def test_cli_show_json_and_errors(cli: Cli, folder: Path) -> None:
    result = cli("show", "--json", "markupsafe")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == 1
    assert [w["file"] for w in data["wheels"]] == [f"markupsafe-2.1.5-{ARM}.whl", f"markupsafe-2.1.5-{X86}.whl"]
    first = data["wheels"][0]
    assert first["name"] == "markupsafe"
    assert first["record"] is None
    assert first["in_folder"] is True
    assert {f["path"] for f in first["files"]} >= {"markupsafe/__init__.py", "markupsafe-2.1.5.dist-info/WHEEL"}
    assert first["sha256"] == hashlib.sha256((folder / first["file"]).read_bytes()).hexdigest()
    missing = cli("show", "numpy")
    assert missing.exit_code == 1
    assert "error: no wheel in wheels matches 'numpy'" in missing.output
    bad = cli("show", "flask===")
    assert bad.exit_code == 2
    assert "expected a wheel file, PROJECT or PROJECT==VERSION" in bad.output
    assert cli("show").exit_code == 2


def test_cli_show_corrupt_wheel_is_one_line(cli: Cli, folder: Path) -> None:
    path = folder / "flask-3.0.0-py3-none-any.whl"
    path.write_bytes(b"PK\x03\x04 truncated")
    os.utime(path, (time.time() + 5, time.time() + 5))
    result = cli("show", str(path))
    assert result.exit_code == 1
    assert "error: cannot read" in result.output
    assert "Traceback" not in result.output


# -- why ----------------------------------------------------------------------------------------------------


def test_why_chains_per_target(folder: Path) -> None:
    reqs = load_requirements(["requirements.txt"])
    targets = parse_targets(["linux/amd64", "linux/arm64"], pythons=["3.10", "3.12"])
    report = why(reqs, targets, Store(folder), "MarkupSafe")
    assert report.project == "markupsafe"
    assert report.needed
    rows = {r.target.name: r for r in report.targets}
    x86 = rows["cp312-manylinux_2_28_x86_64"]
    assert x86.filename == f"markupsafe-2.1.5-{X86}.whl"
    assert str(x86.version) == "2.1.5"
    from wheelhouse.resolve.resolver import format_chain

    assert sorted(format_chain(c) for c in x86.chains) == [
        "requirements.txt:1 flask==3.0.0 -> markupsafe>=2.0",
        "requirements.txt:1 flask==3.0.0 -> werkzeug>=3.0.0 -> markupsafe>=2.1.1",
    ]
    # No cp310 build of markupsafe: that target needs it and lacks it, with the same chains.
    gap_row = rows["cp310-manylinux_2_28_aarch64"]
    assert gap_row.gap is not None
    assert gap_row.version is None
    assert not gap_row.covered
    assert len(gap_row.chains) == 2
    assert report.files_in_folder == (f"markupsafe-2.1.5-{ARM}.whl", f"markupsafe-2.1.5-{X86}.whl")


def test_why_marker_dependent_and_unneeded(folder: Path) -> None:
    reqs = load_requirements(["requirements.txt"])
    targets = parse_targets(["linux/amd64"], pythons=["3.10", "3.12"])
    tomli = why(reqs, targets, Store(folder), "tomli")
    by_name = {r.target.name: r for r in tomli.targets}
    assert by_name["cp310-manylinux_2_28_x86_64"].needed
    assert not by_name["cp312-manylinux_2_28_x86_64"].needed
    unused = why(reqs, targets, Store(folder), "unused-thing")
    assert not unused.needed
    assert unused.files_in_folder == ("unused_thing-1.0-py3-none-any.whl",)


def test_cli_why_human(cli: Cli, folder: Path) -> None:
    result = cli("why", "tomli", "--target", "linux/amd64", "--python", "3.10", "--python", "3.12")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "tomli is needed by 1 of 2 targets" in out
    assert "cp310-manylinux_2_28_x86_64: tomli 2.0.1 (tomli-2.0.1-py3-none-any.whl)" in out
    assert "\n    requirements.txt:1 flask==3.0.0 -> tomli\n" in out
    assert "cp312-manylinux_2_28_x86_64: not needed" in out
    gone = cli("why", "unused-thing", "--target", "linux/amd64", "--python", "3.12")
    assert gone.exit_code == 0
    assert "unused-thing is not needed by any target (cp312-manylinux_2_28_x86_64)" in gone.output
    assert "1 file in the folder; 'wheelhouse prune' would remove it" in gone.output
    absent = cli("why", "django", "--target", "linux/amd64", "--python", "3.12")
    assert "django is not needed by any target" in absent.output
    assert "prune" not in absent.output


def _without_flask(folder: Path) -> None:
    """The folder for ``flask==3.0.0`` with flask's wheels removed: its dependencies stay, unreached."""
    for path in folder.glob("flask-*.whl"):
        path.unlink()


def test_why_on_a_target_that_is_not_covered_does_not_claim_the_project_is_unneeded(folder: Path) -> None:
    _without_flask(folder)
    reqs = load_requirements(["requirements.txt"])
    report = why(reqs, [parse_target("linux/amd64", python="3.12")], Store(folder), "werkzeug")
    (row,) = report.targets
    assert not row.covered
    assert row.status == "unknown"
    assert [t.name for t in report.unknown] == ["cp312-manylinux_2_28_x86_64"]
    assert not report.needed
    # A covered target that does not reach the project is still "not needed".
    reqs = load_requirements([], ["tomli"])
    (covered,) = why(reqs, [parse_target("linux/amd64", python="3.12")], Store(folder), "werkzeug").targets
    assert covered.status == "not-needed"
    assert covered.covered


def test_cli_why_on_a_target_that_is_not_covered(cli: Cli, folder: Path) -> None:
    _without_flask(folder)
    result = cli("why", "werkzeug", "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 0, result.output
    assert "not needed by any target" not in result.output
    assert "prune" not in result.output
    assert "cp312-manylinux_2_28_x86_64: not known" in result.output
    assert "not covered" in result.output
    data = json.loads(cli("why", "werkzeug", "--json", "--target", "linux/amd64", "--python", "3.12").stdout)
    assert [row["status"] for row in data["targets"]] == ["unknown"]


def test_cli_why_gap_and_json(cli: Cli, folder: Path) -> None:
    result = cli("why", "markupsafe", "--target", "linux/arm64", "--python", "3.10", "--python", "3.12")
    assert result.exit_code == 0, result.output
    assert "cp310-manylinux_2_28_aarch64: no compatible file for markupsafe" in result.output
    assert "this target is not covered" in result.output
    data = json.loads(cli("why", "markupsafe", "--json", "--target", "linux/arm64", "--python", "3.10").stdout)
    assert data["schema"] == 1
    assert data["project"] == "markupsafe"
    assert data["needed"] is True
    (row,) = data["targets"]
    assert row["target"] == "cp310-manylinux_2_28_aarch64"
    assert row["status"] == "missing"
    assert row["covered"] is False
    assert row["gap"]["kind"] == "no-compatible"
    assert "requirements.txt:1 flask==3.0.0 -> werkzeug>=3.0.0 -> markupsafe>=2.1.1" in row["chains"]
    pinned = json.loads(cli("why", "werkzeug", "--json", "-r", "requirements.txt", "--target", "linux/arm64").stdout)
    (row,) = pinned["targets"]
    assert row["status"] == "pinned"
    assert row["version"] == "3.0.1"
    assert row["file"] == "werkzeug-3.0.1-py3-none-any.whl"
    assert row["chains"] == ["requirements.txt:1 flask==3.0.0 -> werkzeug>=3.0.0"]


def test_cli_why_without_requirements_is_a_usage_error(cli: Cli, project: Path) -> None:
    result = cli("why", "flask")
    assert result.exit_code == 2
    assert "no requirements given" in result.output


def test_installed_command_lists_and_shows(folder: Path, project: Path) -> None:
    listed = run_wheelhouse("list", "--json", "tomli", cwd=project)
    assert listed.returncode == 0, listed.stderr
    assert [f["file"] for f in json.loads(listed.stdout)["files"]] == ["tomli-2.0.1-py3-none-any.whl"]
    shown = run_wheelhouse("show", "tomli", cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("tomli 2.0.1  tomli-2.0.1-py3-none-any.whl\n")
    missing = run_wheelhouse("show", "nothing-here", cwd=project)
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: no wheel in wheels matches 'nothing-here'")


def test_cli_list_marks_wheels_built_from_sdists(cli: Cli, folder: Path) -> None:
    Store(folder).update_records(
        {
            "flask-3.0.0-py3-none-any.whl": FileRecord(
                sha256="3" * 64, built_by="python -m pip wheel --no-deps wheels/.wheelhouse/sdists/flask-3.0.0.tar.gz"
            )
        }
    )
    human = cli("list")
    assert human.exit_code == 0, human.output
    flask_rows = [line for line in human.output.splitlines() if line.startswith("flask ")]
    assert any("(built)" in line and "3.0.0" in line for line in flask_rows)
    assert "1 built here from a source distribution" in human.output
    data = json.loads(cli("list", "--json").stdout)
    built = {f["file"]: f["built_by"] for f in data["files"]}
    assert built["flask-3.0.0-py3-none-any.whl"].startswith("python -m pip wheel")
    assert built["flask-2.0.0-py3-none-any.whl"] is None
