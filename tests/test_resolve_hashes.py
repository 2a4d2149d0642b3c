"""Hash-pinned requirements (``--hash``, a pylock.toml's file hashes): only a file with one of the pinned digests
serves, as in pip's hash-checking mode, in verify, lock and download alike; requirements without hashes are
resolved as before, and nothing is hashed for them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import pytest
from click.testing import Result

from tests.conftest import Cli
from tests.support.index_server import Fault, IndexServer
from tests.support.wheels import make_wheel, write_wheel
from tests.test_faults import file_gets
from wheelhouse.store.folder import META_DIR, Store

TARGET = ("--target", "linux/amd64", "--python", "3.12")
ZEROS = "sha256:" + "0" * 64


def warnings_of(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("warning: ")]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder_files(wheels: Path) -> list[str]:
    """The folder's files, and any partial file left in its state folder (a transfer not cleaned up)."""
    tmp = wheels / META_DIR / "tmp"
    partial = sorted(p.name for p in tmp.iterdir()) if tmp.is_dir() else []
    return sorted(p.name for p in wheels.iterdir() if p.name != META_DIR) + partial


def gap_reasons(stdout: str) -> dict[str, str]:
    """``{file: reason}`` of every rejected file of ``verify --json``'s one target."""
    (target,) = json.loads(stdout)["targets"]
    return {r["file"]: r["reason"] for gap in target["gaps"] for r in gap["rejected"]}


def test_verify_refuses_a_folder_file_whose_hash_is_not_pinned(cli: Cli, project: Path) -> None:
    wheel = write_wheel(project / "wheels", "aaa", "1.0")
    (project / "requirements.txt").write_text(f"aaa==1.0 --hash={ZEROS}\n")
    before = wheel.read_bytes()
    result = cli("verify", *TARGET)
    assert result.exit_code == 3, result.output
    reason = f"sha256 {sha256_of(wheel)} is not among the hashes pinned by requirements.txt:1"
    assert f"rejected {wheel.name}: {reason}" in result.output
    assert "Traceback" not in result.output
    as_json = cli("verify", "--json", *TARGET)
    assert as_json.exit_code == 3
    assert gap_reasons(as_json.stdout) == {wheel.name: reason}
    assert wheel.read_bytes() == before


def test_verify_covers_with_the_right_hash(cli: Cli, project: Path) -> None:
    wheel = write_wheel(project / "wheels", "aaa", "1.0")
    (project / "requirements.txt").write_text(f"aaa==1.0 --hash=sha256:{sha256_of(wheel).upper()}\n")
    result = cli("verify", *TARGET)
    assert result.exit_code == 0, result.output
    assert "covered, 1 pinned" in result.output


def test_a_line_with_two_hashes_is_met_by_the_second(cli: Cli, project: Path) -> None:
    wheel = write_wheel(project / "wheels", "aaa", "1.0")
    (project / "requirements.txt").write_text(
        f"aaa==1.0 \\\n    --hash={ZEROS} \\\n    --hash=sha256:{sha256_of(wheel)}\n"
    )
    result = cli("verify", *TARGET)
    assert result.exit_code == 0, result.output
    assert "covered, 1 pinned" in result.output


def test_a_sha512_pin_is_checked_against_the_file(cli: Cli, project: Path) -> None:
    wheel = write_wheel(project / "wheels", "aaa", "1.0")
    sha512 = hashlib.sha512(wheel.read_bytes()).hexdigest()
    (project / "requirements.txt").write_text(f"aaa==1.0 --hash=sha512:{sha512}\n")
    assert cli("verify", *TARGET).exit_code == 0
    (project / "requirements.txt").write_text(f"aaa==1.0 --hash=sha512:{'0' * 128}\n")
    result = cli("verify", "--json", *TARGET)
    assert result.exit_code == 3
    assert gap_reasons(result.stdout) == {
        wheel.name: f"sha512 {sha512} is not among the hashes pinned by requirements.txt:1"
    }


def test_the_file_with_a_pinned_hash_serves_when_a_better_tag_does_not(cli: Cli, project: Path) -> None:
    wheels = project / "wheels"
    generic = write_wheel(wheels, "aaa", "1.0")
    write_wheel(wheels, "aaa", "1.0", tag="cp312-cp312-manylinux_2_17_x86_64")
    (project / "requirements.txt").write_text(f"aaa==1.0 --hash=sha256:{sha256_of(generic)}\n")
    result = cli("verify", "--json", *TARGET)
    assert result.exit_code == 0, result.output
    (target,) = json.loads(result.stdout)["targets"]
    assert [pin["file"] for pin in target["pins"]] == [generic.name]


def test_lock_lists_only_the_files_the_pinned_hashes_admit(cli: Cli, project: Path) -> None:
    wheels = project / "wheels"
    generic = write_wheel(wheels, "aaa", "1.0")
    other = write_wheel(wheels, "aaa", "1.0", tag="cp312-cp312-manylinux_2_17_x86_64")
    (project / "requirements.txt").write_text(f"aaa==1.0 --hash=sha256:{sha256_of(generic)}\n")
    result = cli("lock", *TARGET, "-o", "requirements.lock")
    assert result.exit_code == 0, result.output
    text = (project / "requirements.lock").read_text()
    assert f"--hash=sha256:{sha256_of(generic)}" in text
    # Installable on the target too, but pip in hash-checking mode would refuse it.
    assert sha256_of(other) not in text


def test_lock_keeps_a_wrong_pin_instead_of_replacing_it(cli: Cli, project: Path) -> None:
    write_wheel(project / "wheels", "aaa", "1.0")
    (project / "requirements.txt").write_text(f"aaa==1.0 --hash={ZEROS}\n")
    result = cli("lock", *TARGET, "-o", "requirements.lock")
    assert result.exit_code == 3, result.output
    assert "is not among the hashes pinned by requirements.txt:1" in result.output
    assert not (project / "requirements.lock").exists()


def test_an_edited_pylock_hash_is_a_gap(cli: Cli, project: Path) -> None:
    wheel = write_wheel(project / "wheels", "aaa", "1.0")
    (project / "requirements.txt").write_text("aaa==1.0\n")
    assert cli("lock", *TARGET, "-o", "pylock.toml").exit_code == 0
    lock = project / "pylock.toml"
    digest = sha256_of(wheel)
    assert digest in lock.read_text()
    assert cli("verify", "-r", "pylock.toml", *TARGET).exit_code == 0
    lock.write_text(lock.read_text().replace(digest, "0" * 64))
    result = cli("verify", "--json", "-r", "pylock.toml", *TARGET)
    assert result.exit_code == 3, result.output
    (reason,) = gap_reasons(result.stdout).values()
    assert reason.startswith(f"sha256 {digest} is not among the hashes pinned by pylock.toml:")


def test_requirements_without_hashes_are_resolved_without_hashing(cli: Cli, project: Path) -> None:
    wheels = project / "wheels"
    write_wheel(wheels, "aaa", "1.0", requires_dist=["bbb"])
    write_wheel(wheels, "bbb", "2.0")
    (project / "requirements.txt").write_text("aaa==1.0\n")
    result = cli("verify", *TARGET)
    assert result.exit_code == 0, result.output
    assert "covered, 2 pinned" in result.output
    assert "warning" not in result.stderr
    # The folder's cache holds what verify read: metadata, and no hash of any file.
    manifest = json.loads((wheels / META_DIR / "manifest.json").read_text())
    assert sorted(manifest["files"]) == folder_files(wheels)
    assert not [name for name, entry in manifest["files"].items() if "sha256" in entry]


def test_only_the_hashed_project_is_hashed(cli: Cli, project: Path) -> None:
    wheels = project / "wheels"
    aaa = write_wheel(wheels, "aaa", "1.0", requires_dist=["bbb"])
    write_wheel(wheels, "bbb", "2.0")
    (project / "requirements.txt").write_text(f"aaa==1.0 --hash=sha256:{sha256_of(aaa)}\nbbb==2.0\n")
    assert cli("verify", *TARGET).exit_code == 0
    manifest = json.loads((wheels / META_DIR / "manifest.json").read_text())
    # Kept in the folder's cache for the next run; the unhashed requirement was never read whole.
    assert {name for name, entry in manifest["files"].items() if "sha256" in entry} == {aaa.name}


def test_a_dependency_without_a_line_of_its_own_is_warned_about_with_the_line_to_add(cli: Cli, project: Path) -> None:
    # pip's hash-checking mode refuses a dependency that has no pinned, hashed line of its own: pip install -r
    # would stop, though every file is in the folder.
    wheels = project / "wheels"
    aaa = write_wheel(wheels, "aaa", "1.0", requires_dist=["bbb", "ccc; python_version < '3'"])
    bbb = write_wheel(wheels, "bbb", "2.0", requires_dist=["ddd"])
    ddd = write_wheel(wheels, "ddd", "4.0")
    (project / "requirements.txt").write_text(
        f"aaa==1.0 --hash=sha256:{sha256_of(aaa)}\nddd==4.0 --hash=sha256:{sha256_of(ddd)}\n"
    )
    for command in ("verify", "download"):
        result = cli(command, *TARGET, "--no-index") if command == "download" else cli(command, *TARGET)
        assert result.exit_code == 0, result.output
        assert warnings_of(result) == [
            "warning: with --hash on some requirements, pip installs nothing until every package it installs has a "
            "line of its own with an == pin and a --hash (hash-checking mode); 1 dependency has none, such as "
            f"bbb==2.0 --hash=sha256:{sha256_of(bbb)}: wheelhouse lock writes every such line"
        ], command


@pytest.mark.parametrize(
    ("requirements", "constraints", "faulty"),
    [
        ("aaa==1.0 --hash=sha256:{aaa}\nbbb>=1\nccc==3.0\n", None, "2: bbb>=1 has no --hash and no == pin"),
        # A hash in a constraints file alone turns the mode on, as for pip.
        ("-c constraints.txt\naaa==1.0\n", "aaa==1.0 --hash=sha256:{aaa}\n", "2: aaa==1.0 has no --hash"),
    ],
)
def test_a_requirement_without_hash_next_to_hashed_ones_is_warned_about(
    cli: Cli, project: Path, requirements: str, constraints: str | None, faulty: str
) -> None:
    wheels = project / "wheels"
    aaa = write_wheel(wheels, "aaa", "1.0")
    write_wheel(wheels, "bbb", "2.0")
    write_wheel(wheels, "ccc", "3.0")
    (project / "requirements.txt").write_text(requirements.format(aaa=sha256_of(aaa)))
    if constraints is not None:
        (project / "constraints.txt").write_text(constraints.format(aaa=sha256_of(aaa)))
    result = cli("verify", *TARGET)
    assert result.exit_code == 0, result.output
    assert warnings_of(result) == [
        f"warning: requirements.txt:{faulty}; with --hash on some requirements, "
        "pip installs nothing until every requirement has a --hash and an == pin (hash-checking mode)"
    ]


# -- download ------------------------------------------------------------------------------------------------


def test_download_does_not_add_an_index_file_whose_sha256_is_not_pinned(cli: Cli, project: Path) -> None:
    with IndexServer() as srv:
        filename = srv.add_wheel("aaa", "1.0")
        published = hashlib.sha256(srv.file_bytes(filename)).hexdigest()
        (project / "requirements.txt").write_text(f"aaa==1.0 --hash={ZEROS}\n")
        result = cli("download", "--index-url", srv.index_url, *TARGET)
        assert result.exit_code == 3, result.output
        # Not even fetched ahead of the resolver: its published sha256 already rules it out.
        assert file_gets(srv) == []
    assert f"rejected {filename}: sha256 {published} is not among the hashes pinned by requirements.txt:1" in (
        result.output
    )
    assert folder_files(project / "wheels") == []


def test_download_adds_an_index_file_whose_sha256_is_pinned(cli: Cli, project: Path) -> None:
    with IndexServer() as srv:
        filename = srv.add_wheel("aaa", "1.0")
        published = hashlib.sha256(srv.file_bytes(filename)).hexdigest()
        (project / "requirements.txt").write_text(f"aaa==1.0 --hash={ZEROS} --hash=sha256:{published}\n")
        result = cli("download", "--index-url", srv.index_url, *TARGET)
    assert result.exit_code == 0, result.output
    assert folder_files(project / "wheels") == [filename]


def test_an_index_file_without_a_published_sha256_is_not_downloaded_for_a_hash_pin(cli: Cli, project: Path) -> None:
    with IndexServer() as srv:
        filename = srv.add_wheel("aaa", "1.0")
        digest = hashlib.sha256(srv.file_bytes(filename)).hexdigest()
        # A plain project page: the link carries no #sha256 fragment.
        page = f'<html><body><a href="{srv.file_url(filename)}">{filename}</a></body></html>'
        srv.inject("/simple/aaa/", Fault.replace(page.encode(), "text/html"), times=None)
        (project / "requirements.txt").write_text(f"aaa==1.0 --hash=sha256:{digest}\n")
        result = cli("download", "--index-url", srv.index_url, *TARGET)
        assert result.exit_code == 3, result.output
    assert "the index publishes no sha256 hash for it" in result.output
    assert folder_files(project / "wheels") == []


@pytest.mark.parametrize("right", [False, True])
def test_download_from_a_find_links_folder_checks_the_pinned_hash(
    cli: Cli, project: Path, tmp_path: Path, right: bool
) -> None:
    source = tmp_path / "src"
    wheel = write_wheel(source, "aaa", "1.0")
    pin = f"sha256:{sha256_of(wheel)}" if right else ZEROS
    (project / "requirements.txt").write_text(f"aaa==1.0 --hash={pin}\n")
    result = cli("download", "--isolated", "--no-index", "-f", str(source), *TARGET)
    if right:
        assert result.exit_code == 0, result.output
        assert folder_files(project / "wheels") == [wheel.name]
        return
    assert result.exit_code == 3, result.output
    assert f"sha256 {sha256_of(wheel)} is not among the hashes pinned by requirements.txt:1" in result.output
    assert folder_files(project / "wheels") == []


def test_download_without_hashes_is_unchanged(cli: Cli, project: Path) -> None:
    with IndexServer() as srv:
        filename, data = make_wheel("aaa", "1.0")
        srv.add(filename, data)
        (project / "requirements.txt").write_text("aaa==1.0\n")
        result = cli("download", "--index-url", srv.index_url, *TARGET)
    assert result.exit_code == 0, result.output
    assert folder_files(project / "wheels") == [filename]
    assert "warning" not in result.stderr


def test_the_folder_wheels_of_hash_pins_are_hashed_in_one_pass(
    cli: Cli, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheels = project / "wheels"
    lines = []
    for name in ("aaa", "bbb", "ccc"):
        path = write_wheel(wheels, name, "1.0")
        lines.append(f"{name}==1.0 --hash=sha256:{sha256_of(path)}\n")
    (project / "requirements.txt").write_text("".join(lines))
    calls: list[list[str]] = []
    hashes = Store.hashes

    def counted(self: Store, filenames: Iterable[str]) -> dict[str, str]:
        calls.append(sorted(filenames))
        return hashes(self, calls[-1])

    monkeypatch.setattr(Store, "hashes", counted)
    result = cli("verify", *TARGET)
    assert result.exit_code == 0, result.output
    # One round trip of the folder's manifest for all three, not one per file.
    assert calls == [["aaa-1.0-py3-none-any.whl", "bbb-1.0-py3-none-any.whl", "ccc-1.0-py3-none-any.whl"]]
