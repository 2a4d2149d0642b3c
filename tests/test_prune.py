"""``prune``: exactly what remains under each policy, verify passing afterwards, and every refusal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.wheels import make_sdist, write_wheel
from wheelhouse.errors import StoreError
from wheelhouse.requirements import load_requirements
from wheelhouse.resolve.prune import PrunePlan, PrunePolicy, plan_prune, prune
from wheelhouse.store.folder import FileRecord, Store
from wheelhouse.targets import parse_targets

DAY = 86400.0
X86_312 = "markupsafe-2.1.5-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
ARM_312 = "markupsafe-2.1.5-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
X86_310 = "markupsafe-2.1.5-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
OLD_MARKUPSAFE = "markupsafe-2.1.3-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
NEEDED = {"flask-3.0.0-py3-none-any.whl", "werkzeug-3.0.1-py3-none-any.whl", X86_312, ARM_312}
TARGETS = ("--target", "linux/amd64", "--target", "linux/arm64", "--python", "3.12")


@pytest.fixture
def folder(project: Path) -> Path:
    """Needed files for 3.12 on both architectures, plus old versions, another Python's build, unused projects."""
    wheels = project / "wheels"
    write_wheel(wheels, "flask", "3.0.0", requires_dist=["werkzeug>=3.0.0", 'tomli; python_version < "3.11"'])
    write_wheel(wheels, "flask", "2.0.0")
    write_wheel(wheels, "flask", "1.0.0")
    write_wheel(wheels, "werkzeug", "3.0.1", requires_dist=["markupsafe>=2.1.1"])
    for name in (X86_312, ARM_312, X86_310, OLD_MARKUPSAFE):
        version, tag = name.removeprefix("markupsafe-").removesuffix(".whl").split("-", 1)
        write_wheel(wheels, "markupsafe", version, tag=tag, payload_size=2000)
    write_wheel(wheels, "tomli", "2.0.1")
    write_wheel(wheels, "leftover", "1.0")
    write_wheel(wheels, "leftover", "0.9")
    sdists = wheels / ".wheelhouse" / "sdists"
    sdists.mkdir(parents=True)
    for name, version in (("flask", "3.0.0"), ("leftover", "1.0")):
        filename, data = make_sdist(name, version)
        (sdists / filename).write_bytes(data)
    (project / "requirements.txt").write_text("flask==3.0.0\n")
    Store(wheels).scan()  # a warm metadata cache, so snapshots compare the folder and not the cache
    return wheels


def _wheels(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("*.whl")}


def _sdists(folder: Path) -> set[str]:
    return {p.name for p in (folder / ".wheelhouse" / "sdists").iterdir()}


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under the folder with size and mtime (the lock file excepted: taking it is not a change)."""
    out: dict[str, tuple[int, int]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != "lock":
            st = path.stat()
            out[str(path.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return out


def _age(folder: Path, filename: str, days: float) -> None:
    when = time.time() - days * DAY
    os.utime(folder / filename, (when, when))


def _verify_all(cli: Cli, *targets: str) -> None:
    result = cli("verify", *(targets or TARGETS))
    assert result.exit_code == 0, result.output


# -- policies -----------------------------------------------------------------------------------------------


def test_default_prune_keeps_exactly_what_the_targets_use(cli: Cli, folder: Path) -> None:
    result = cli("prune", *TARGETS, "--yes")
    assert result.exit_code == 0, result.output
    assert _wheels(folder) == NEEDED
    # The flask sdist stays with its project; leftover has no wheel any more, so its sdist goes.
    assert _sdists(folder) == {"flask-3.0.0.tar.gz"}
    out = result.output
    for gone in ("flask-2.0.0-py3-none-any.whl", X86_310, OLD_MARKUPSAFE, "tomli-2.0.1-py3-none-any.whl"):
        assert gone in out
    assert "unused version: targets use 3.0.0" in out
    assert "unused file: no given target installs this file" in out
    assert "unused project: no target needs this project" in out
    assert "sdist, no wheel left" in out
    assert "removed 8 files, freed" in out
    assert "every target (2) still resolves from what remains" in out
    _verify_all(cli)
    records = Store(folder).records()
    assert not set(records) - NEEDED


def test_keep_versions_keeps_the_newest_n_versions_with_all_their_files(cli: Cli, folder: Path) -> None:
    result = cli("prune", *TARGETS, "--keep-versions", "1", "--yes")
    assert result.exit_code == 0, result.output
    assert _wheels(folder) == NEEDED | {X86_310, "tomli-2.0.1-py3-none-any.whl", "leftover-1.0-py3-none-any.whl"}
    assert _sdists(folder) == {"flask-3.0.0.tar.gz", "leftover-1.0.tar.gz"}
    _verify_all(cli)
    again = cli("prune", *TARGETS, "--keep-versions", "2", "--yes")
    assert again.exit_code == 0, again.output
    assert "nothing to remove" in again.output


def test_keep_two_versions(cli: Cli, folder: Path) -> None:
    result = cli("prune", *TARGETS, "--keep-versions", "2", "--yes")
    assert result.exit_code == 0, result.output
    assert _wheels(folder) == NEEDED | {
        "flask-2.0.0-py3-none-any.whl",
        X86_310,
        OLD_MARKUPSAFE,
        "tomli-2.0.1-py3-none-any.whl",
        "leftover-1.0-py3-none-any.whl",
        "leftover-0.9-py3-none-any.whl",
    }
    _verify_all(cli)


def test_older_than_spares_recent_files_by_record_date_then_mtime(cli: Cli, folder: Path) -> None:
    # flask 1.0.0: old by mtime, no record. leftover 0.9: recent mtime, but the record says it came 100 days ago.
    # flask 2.0.0: old mtime, but its record says it was added yesterday: the record wins.
    _age(folder, "flask-1.0.0-py3-none-any.whl", 100)
    _age(folder, "flask-2.0.0-py3-none-any.whl", 100)
    Store(folder).update_records(
        {
            "leftover-0.9-py3-none-any.whl": FileRecord(sha256="0" * 64, added=time.time() - 100 * DAY),
            "flask-2.0.0-py3-none-any.whl": FileRecord(sha256="1" * 64, added=time.time() - DAY),
        }
    )
    result = cli("prune", *TARGETS, "--older-than", "30", "--yes")
    assert result.exit_code == 0, result.output
    everything = NEEDED | {
        "flask-2.0.0-py3-none-any.whl",
        X86_310,
        OLD_MARKUPSAFE,
        "tomli-2.0.1-py3-none-any.whl",
        "leftover-1.0-py3-none-any.whl",
    }
    assert _wheels(folder) == everything
    assert _sdists(folder) == {"flask-3.0.0.tar.gz", "leftover-1.0.tar.gz"}
    assert (
        "keeping 11 files: 4 needed by the targets, 5 newer than --older-than, 2 sdists of projects still present"
        in result.output
    )
    _verify_all(cli)


def test_pruning_for_one_architecture_removes_the_other(cli: Cli, folder: Path) -> None:
    result = cli("prune", "--target", "linux/amd64", "--python", "3.12", "--yes")
    assert result.exit_code == 0, result.output
    assert _wheels(folder) == NEEDED - {ARM_312}
    _verify_all(cli, "--target", "linux/amd64", "--python", "3.12")
    # Prune serves only the targets it is given: the arm64 target lost its file, as documented.
    assert cli("verify", "--target", "linux/arm64", "--python", "3.12").exit_code == 3


def test_plan_reasons_and_sizes(folder: Path) -> None:
    store = Store(folder)
    reqs = load_requirements(["requirements.txt"])
    targets = parse_targets(["linux/amd64", "linux/arm64"], pythons=["3.12"])
    plan = plan_prune(reqs, targets, store, PrunePolicy())
    reasons = {e.filename: e.reason for e in plan.remove}
    assert reasons == {
        "flask-1.0.0-py3-none-any.whl": "unused-version",
        "flask-2.0.0-py3-none-any.whl": "unused-version",
        OLD_MARKUPSAFE: "unused-version",
        X86_310: "unused-file",
        "tomli-2.0.1-py3-none-any.whl": "unused-project",
        "leftover-0.9-py3-none-any.whl": "unused-project",
        "leftover-1.0-py3-none-any.whl": "unused-project",
        ".wheelhouse/sdists/leftover-1.0.tar.gz": "orphan-sdist",
    }
    assert {e.filename for e in plan.keep if e.reason == "needed"} == NEEDED
    assert plan.freed == sum((folder / e.filename).stat().st_size for e in plan.remove)
    assert plan.covered


# -- safety -------------------------------------------------------------------------------------------------


def test_dry_run_changes_nothing(cli: Cli, folder: Path) -> None:
    assert cli("list").exit_code == 0  # the metadata cache is warm: what remains to compare is the folder itself
    before = _snapshot(folder)
    manifest = (folder / ".wheelhouse" / "manifest.json").read_bytes()
    result = cli("prune", *TARGETS, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would remove 8 files, freeing" in result.output
    assert "dry run: nothing was removed" in result.output
    assert _snapshot(folder) == before
    assert (folder / ".wheelhouse" / "manifest.json").read_bytes() == manifest
    data = json.loads(cli("prune", *TARGETS, "--dry-run", "--json").stdout)
    assert data["dry_run"] is True
    assert data["removed"] == []
    assert data["freed"] == 0
    assert len(data["remove"]) == 8
    assert data["would_free"] == sum(e["size"] for e in data["remove"])
    assert _snapshot(folder) == before


def test_refuses_when_the_requirements_do_not_resolve(cli: Cli, folder: Path) -> None:
    (folder / "werkzeug-3.0.1-py3-none-any.whl").unlink()
    Store(folder).scan()
    before = _snapshot(folder)
    result = cli("prune", *TARGETS, "--yes")
    assert result.exit_code == 3
    out = result.output
    assert "not covered" in out
    assert "needed by: requirements.txt:1 flask==3.0.0 -> werkzeug>=3.0.0" in out
    assert "fix: wheelhouse download --target cp312-manylinux_2_28_x86_64" in out
    assert "error: refusing to prune" in out
    assert "nothing was removed" in out
    assert _snapshot(folder) == before
    as_json = cli("prune", *TARGETS, "--yes", "--json")
    assert as_json.exit_code == 3
    data = json.loads(as_json.stdout)
    assert data["covered"] is False
    assert data["remove"] == []
    assert data["verify"]["targets"][0]["gaps"][0]["project"] == "werkzeug"


def test_refuses_without_yes_when_stdin_is_not_a_terminal(cli: Cli, folder: Path) -> None:
    before = _snapshot(folder)
    result = cli("prune", *TARGETS)
    assert result.exit_code == 2
    assert "error: refusing to remove 8 files without confirmation: standard input is not a terminal" in result.output
    assert "hint: wheelhouse prune --target linux/amd64 --target linux/arm64 --python 3.12 --yes" in result.output
    assert "leftover-0.9-py3-none-any.whl" in result.output  # what would go was shown first
    assert _snapshot(folder) == before


def test_nothing_to_remove_needs_no_confirmation(cli: Cli, folder: Path) -> None:
    assert cli("prune", *TARGETS, "--yes").exit_code == 0
    result = cli("prune", *TARGETS)
    assert result.exit_code == 0, result.output
    assert "nothing to remove" in result.output


def test_asks_on_a_terminal(cli: Cli, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wheelhouse.cli.prune as care

    monkeypatch.setattr(care, "_stdin_is_terminal", lambda: True)
    before = _snapshot(folder)
    declined = cli("prune", *TARGETS, input="n\n")
    assert declined.exit_code == 1
    assert "Remove 8 files, freeing" in declined.output
    assert "nothing removed" in declined.output
    assert _snapshot(folder) == before
    accepted = cli("prune", *TARGETS, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert _wheels(folder) == NEEDED
    _verify_all(cli)


def test_json_after_removal(cli: Cli, folder: Path) -> None:
    result = cli("prune", *TARGETS, "--keep-versions", "1", "--yes", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == 1
    assert data["covered"] is True
    assert data["dry_run"] is False
    assert data["targets"] == ["cp312-manylinux_2_28_x86_64", "cp312-manylinux_2_28_aarch64"]
    assert sorted(data["removed"]) == sorted(
        [
            "flask-1.0.0-py3-none-any.whl",
            "flask-2.0.0-py3-none-any.whl",
            OLD_MARKUPSAFE,
            "leftover-0.9-py3-none-any.whl",
        ]
    )
    assert data["freed"] == data["would_free"] > 0
    first = data["remove"][0]
    assert set(first) == {"file", "project", "version", "kind", "size", "added", "reason", "detail"}
    kept = {e["file"]: e["reason"] for e in data["keep"]}
    assert kept[X86_310] == "keep-versions"
    assert kept[ARM_312] == "needed"
    assert kept[".wheelhouse/sdists/flask-3.0.0.tar.gz"] == "project-kept"


_TRY_LOCK = """
import sys
from wheelhouse.errors import LockTimeout
from wheelhouse.store.folder import Store
try:
    with Store(sys.argv[1]).lock(wait=False):
        sys.exit(0)
except LockTimeout:
    sys.exit(7)
"""


def test_the_folder_is_locked_from_plan_to_removal(folder: Path) -> None:
    store = Store(folder)
    reqs = load_requirements(["requirements.txt"])
    targets = parse_targets(["linux/amd64", "linux/arm64"], pythons=["3.12"])
    seen: list[int] = []

    def confirm(plan: PrunePlan) -> bool:
        # Another process (a concurrent download) cannot take the folder while the plan awaits its answer.
        probe = subprocess.run([sys.executable, "-c", _TRY_LOCK, str(folder)], check=False, timeout=60)
        seen.append(probe.returncode)
        return True

    result = prune(reqs, targets, store, confirm=confirm)
    assert seen == [7]
    assert set(result.removed) == {e.filename for e in result.plan.remove}
    assert _wheels(folder) == NEEDED
    probe = subprocess.run([sys.executable, "-c", _TRY_LOCK, str(folder)], check=False, timeout=60)
    assert probe.returncode == 0


def test_a_plan_that_would_break_a_target_removes_nothing(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wheelhouse.resolve.prune as prune_module

    real = prune_module.plan_prune

    def broken_plan(*args: object, **kwargs: object) -> PrunePlan:
        plan = real(*args, **kwargs)  # type: ignore[arg-type]
        needed = next(e for e in plan.keep if e.filename == "werkzeug-3.0.1-py3-none-any.whl")
        return PrunePlan(plan.report, (*plan.remove, needed), plan.keep, plan.policy)

    monkeypatch.setattr(prune_module, "plan_prune", broken_plan)
    before = _snapshot(folder)
    reqs = load_requirements(["requirements.txt"])
    targets = parse_targets(["linux/amd64"], pythons=["3.12"])
    with pytest.raises(StoreError, match="would resolve differently"):
        prune(reqs, targets, Store(folder))
    assert _snapshot(folder) == before


def test_problem_files_are_left_alone(cli: Cli, folder: Path) -> None:
    (folder / "broken-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    result = cli("prune", *TARGETS, "--yes")
    assert result.exit_code == 0, result.output
    assert (folder / "broken-1.0-py3-none-any.whl").exists()
    assert "left alone: wheels/broken-1.0-py3-none-any.whl" in result.output


def test_prune_without_requirements_is_refused(cli: Cli, project: Path) -> None:
    write_wheel(project / "wheels", "a", "1.0")
    result = cli("prune", "--yes")
    assert result.exit_code == 2
    assert "no requirements given" in result.output
    assert (project / "wheels" / "a-1.0-py3-none-any.whl").exists()


def test_build_requirements_stay_while_their_sdist_stays(cli: Cli, folder: Path) -> None:
    write_wheel(folder, "setuptools", "70.0")
    write_wheel(folder, "wheel-builder", "1.0")
    Store(folder).update_records(
        {
            "setuptools-70.0-py3-none-any.whl": FileRecord(
                sha256="0" * 64, sources=("build requirement of flask-3.0.0.tar.gz",)
            ),
            "wheel_builder-1.0-py3-none-any.whl": FileRecord(
                sha256="1" * 64, sources=("build requirement of leftover-1.0.tar.gz",)
            ),
        }
    )
    result = cli("prune", *TARGETS, "--yes")
    assert result.exit_code == 0, result.output
    # flask's sdist stays, so what rebuilds it offline stays; leftover's sdist goes, and its builder with it.
    assert "setuptools-70.0-py3-none-any.whl" in _wheels(folder)
    assert "wheel_builder-1.0-py3-none-any.whl" not in _wheels(folder)
    assert "build requirements of kept sdists" in result.output
