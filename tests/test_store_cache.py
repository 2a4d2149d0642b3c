"""The manifest is a cache, never the truth: a malformed entry, a forged hash, stale records and the partial
files of a killed run are all handled by reading the files again."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli
from tests.support.wheels import write_wheel
from wheelhouse.share.integrity import check
from wheelhouse.store.folder import FileRecord, Store
from wheelhouse.store.manifest import seal_path
from wheelhouse.store.seal import seal

WHEEL = "demo-1.0-py3-none-any.whl"


def _edit_entry(store: Store, change: dict[str, Any]) -> None:
    manifest = json.loads(store.manifest_path.read_text())
    manifest["files"][WHEEL].update(change)
    store.manifest_path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "change",
    [
        {"metadata": "oops"},
        {"metadata": {"version": "1.0", "requires_dist": []}},
        {"metadata": {"name": "demo", "version": "1.0", "requires_python": 5}},
        {"metadata": {"name": "demo", "version": "1.0", "requires_dist": "beta"}},
        {"metadata": {"name": "other", "version": "9.0"}},
        {"metadata": {"name": "demo", "version": "1.0"}, "problem": "both"},
        {"size": "big"},
        {"sha256": 7},
    ],
    ids=["not-a-table", "no-name", "requires-python-5", "requires-dist-string", "other-project", "both", "size", "sha"],
)
def test_a_malformed_entry_is_dropped_and_the_wheel_read_again(wheels_dir: Path, change: dict[str, Any]) -> None:
    write_wheel(wheels_dir, "demo", "1.0", requires_dist=["six>=1"], requires_python=">=3.8")
    store = Store(wheels_dir)
    first = store.scan()
    _edit_entry(store, change)
    again = store.scan()
    assert again.opened == 1
    assert again.wheels == first.wheels
    (wheel,) = again.wheels
    assert wheel.metadata.requires_dist == ("six>=1",)
    assert wheel.metadata.requires_python == ">=3.8"
    # The bad entry was replaced by the file's own, so the next scan is warm again.
    assert store.scan().opened == 0


def test_malformed_records_are_ignored_not_crashed_on(wheels_dir: Path) -> None:
    write_wheel(wheels_dir, "demo", "1.0")
    store = Store(wheels_dir)
    store.update_records({WHEEL: FileRecord(sha256="a" * 64, targets=("t",))})
    manifest = json.loads(store.manifest_path.read_text())
    manifest["records"][WHEEL]["targets"] = "abc"
    manifest["records"]["other.whl"] = "oops"
    store.manifest_path.write_text(json.dumps(manifest))
    assert store.records() == {}
    assert store.scan().records == {}


def test_a_forged_cached_hash_is_never_published(cli: Cli, project: Path) -> None:
    wheels = project / "wheels"
    path = write_wheel(wheels, "demo", "1.0")
    (project / "requirements.txt").write_text("demo\n")
    store = Store(wheels)
    store.scan()
    real = hashlib.sha256(path.read_bytes()).hexdigest()
    # The entry as it arrives with a folder (or was written before): size and mtime match, which was all that
    # was checked; the inode and ctime it was computed for are not this file's.
    manifest = json.loads(store.manifest_path.read_text())
    entry = manifest["files"][WHEEL]
    entry.update({"sha256": "0" * 64, "ino": entry["ino"] + 1})
    store.manifest_path.write_text(json.dumps(manifest))
    assert path.stat().st_mtime_ns == entry["mtime_ns"]
    assert store.hashes([WHEEL]) == {WHEEL: real}
    result = cli("lock", "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 0, result.output
    text = (project / "requirements.lock").read_text()
    assert f"--hash=sha256:{real}" in text
    assert "0" * 64 not in text
    assert check(store).clean


def test_a_hash_computed_here_is_kept_while_the_file_is_the_same(wheels_dir: Path) -> None:
    path = write_wheel(wheels_dir, "demo", "1.0")
    store = Store(wheels_dir)
    store.scan()
    store.hashes([WHEEL])
    assert (
        json.loads(store.manifest_path.read_text())["files"][WHEEL]["sha256"]
        == hashlib.sha256(path.read_bytes()).hexdigest()
    )


def test_a_copied_folder_does_not_trust_the_copied_cache(wheels_dir: Path, tmp_path: Path) -> None:
    # cp -p, rsync -a, a bundle or git carry the manifest and the mtimes, but never inodes and ctimes.
    write_wheel(wheels_dir, "demo", "1.0")
    Store(wheels_dir).scan()
    copy = tmp_path / "copy"
    shutil.copytree(wheels_dir, copy, copy_function=shutil.copy2)
    assert Store(copy).scan().opened == 1


def test_records_of_files_that_are_gone_are_trimmed(wheels_dir: Path) -> None:
    write_wheel(wheels_dir, "demo", "1.0")
    store = Store(wheels_dir)
    store.scan()
    manifest = json.loads(store.manifest_path.read_text())
    for n in range(2000):
        manifest["records"][f"gone{n}-1.0-py3-none-any.whl"] = {"sha256": "b" * 64}
        manifest["files"][f"gone{n}-1.0-py3-none-any.whl"] = {"size": 1, "mtime_ns": 1}
    # Sealed as this user's own writes are, so that its cache is believed and the trim is what is tested.
    data = json.dumps(manifest).encode()
    store.manifest_path.write_bytes(data)
    seal_path(store.manifest_path).write_text(seal(data))
    store.update_records({WHEEL: FileRecord(sha256="c" * 64)})
    manifest = json.loads(store.manifest_path.read_text())
    assert list(manifest["records"]) == [WHEEL]
    assert list(manifest["files"]) == [WHEEL]


def test_a_killed_import_leaves_nothing_the_next_writer_keeps(wheels_dir: Path) -> None:
    store = Store(wheels_dir)
    store.ensure()
    # What a killed import leaves: its staging folder, with a wheel half written, two days old.
    staging = store.new_temp("import")
    staging.mkdir()
    (staging / WHEEL).write_bytes(b"half")
    old = os.stat(staging).st_mtime - 2 * 86400
    os.utime(staging, (old, old))
    assert store.scan().stray == (str(staging.relative_to(wheels_dir)),)
    with store.lock():
        assert store.clean_stray() == [staging.name]
    assert not staging.exists()
    assert store.scan().stray == ()
