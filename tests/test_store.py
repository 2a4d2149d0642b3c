"""The wheels folder: scanning, the manifest cache, atomic commits, provenance and the process lock."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from tests.support.wheels import make_wheel, write_wheel
from wheelhouse.errors import LockTimeout, StoreError
from wheelhouse.store.folder import FileRecord, Store
from wheelhouse.store.fs import atomic_write


def test_scan_reads_metadata_then_uses_the_manifest(wheels_dir: Path) -> None:
    write_wheel(wheels_dir, "a", "1.0", requires_dist=["b>=1"], requires_python=">=3.9", extras=["fast"])
    write_wheel(wheels_dir, "b", "2.0")
    store = Store(wheels_dir)
    first = store.scan()
    assert first.opened == 2
    (a,) = [w for w in first.wheels if w.dist.name == "a"]
    assert a.metadata.requires_dist == ("b>=1",)
    assert a.metadata.requires_python == ">=3.9"
    assert a.metadata.provides_extra == ("fast",)
    assert store.manifest_path.is_file()
    second = store.scan()
    assert second.opened == 0
    assert second.wheels == first.wheels


def test_changed_file_is_read_again(wheels_dir: Path) -> None:
    path = write_wheel(wheels_dir, "a", "1.0")
    store = Store(wheels_dir)
    store.scan()
    _, data = make_wheel("a", "1.0", requires_dist=["new-dep"])
    path.write_bytes(data)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10_000_000))
    scan = store.scan()
    assert scan.opened == 1
    assert scan.wheels[0].metadata.requires_dist == ("new-dep",)


@pytest.mark.parametrize(
    "garbage",
    [b"", b"{not json", b'{"format": 99}', b'{"format": 1, "files": [], "records": {}}', b"\x00\xff"],
)
def test_corrupt_manifest_is_rebuilt_silently(wheels_dir: Path, garbage: bytes) -> None:
    write_wheel(wheels_dir, "a", "1.0")
    store = Store(wheels_dir)
    store.meta_dir.mkdir()
    store.manifest_path.write_bytes(garbage)
    scan = store.scan()
    assert [w.dist.filename for w in scan.wheels] == ["a-1.0-py3-none-any.whl"]
    assert json.loads(store.manifest_path.read_text())["format"] == 1


def test_manifest_lying_about_metadata_is_not_trusted_after_change(wheels_dir: Path) -> None:
    write_wheel(wheels_dir, "a", "1.0")
    store = Store(wheels_dir)
    store.scan()
    manifest = json.loads(store.manifest_path.read_text())
    manifest["files"]["a-1.0-py3-none-any.whl"]["size"] = 1
    store.manifest_path.write_text(json.dumps(manifest))
    assert store.scan().opened == 1


def test_problems_are_reported_not_raised(wheels_dir: Path) -> None:
    (wheels_dir / "notes.txt").write_text("hello")
    (wheels_dir / "broken-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    (wheels_dir / "bad_name.whl").write_bytes(b"x")
    _, data = make_wheel("other", "2.0")
    (wheels_dir / "liar-1.0-py3-none-any.whl").write_bytes(data)
    write_wheel(wheels_dir, "good", "1.0")
    (wheels_dir / "good-1.0.tar.gz").write_bytes(b"sdist")
    scan = Store(wheels_dir).scan()
    reasons = {p.filename: p.reason for p in scan.problems}
    assert "not a readable zip" in reasons["broken-1.0-py3-none-any.whl"]
    assert "not a valid wheel or sdist file name" in reasons["bad_name.whl"]
    assert "METADATA says other 2.0" in reasons["liar-1.0-py3-none-any.whl"]
    assert "not a valid wheel" in reasons["notes.txt"]
    assert [w.dist.filename for w in scan.wheels] == ["good-1.0-py3-none-any.whl"]
    assert [s.filename for s in scan.sdists] == ["good-1.0.tar.gz"]


def test_oversized_metadata_is_refused(wheels_dir: Path) -> None:
    _, data = make_wheel("huge", "1.0", requires_dist=["x" * 100] * 100_000)
    (wheels_dir / "huge-1.0-py3-none-any.whl").write_bytes(data)
    (problem,) = Store(wheels_dir).scan().problems
    assert "limit" in problem.reason


def test_commit_is_atomic_and_records_provenance(wheels_dir: Path) -> None:
    store = Store(wheels_dir)
    filename, data = make_wheel("a", "1.0")
    tmp = store.new_temp(filename)
    tmp.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    store.commit(tmp, filename, FileRecord(sha256=sha, url="http://127.0.0.1/a", targets=("t1",), sources=("r.txt",)))
    assert (wheels_dir / filename).read_bytes() == data
    assert not tmp.exists()
    store.update_records({filename: FileRecord(sha256=sha, targets=("t2",))})
    record = store.records()[filename]
    assert record.targets == ("t1", "t2")
    assert record.url == "http://127.0.0.1/a"
    scan = store.scan()
    assert scan.wheels[0].dist.sha256 == sha  # primed by commit: no re-hash needed
    assert store.hashes([filename]) == {filename: sha}


def test_commit_refuses_a_different_file_with_the_same_name(wheels_dir: Path) -> None:
    store = Store(wheels_dir)
    filename, data = make_wheel("a", "1.0")
    (wheels_dir / filename).write_bytes(data)
    _, other = make_wheel("a", "1.0", requires_dist=["x"])
    tmp = store.new_temp(filename)
    tmp.write_bytes(other)
    with pytest.raises(StoreError, match="different content"):
        store.commit(tmp, filename, FileRecord(sha256=hashlib.sha256(other).hexdigest()))
    assert (wheels_dir / filename).read_bytes() == data
    assert not tmp.exists()


@pytest.mark.parametrize("name", ["../evil.whl", "a/b.whl", ".hidden.whl", "x\0.whl"])
def test_commit_refuses_unsafe_names(wheels_dir: Path, name: str) -> None:
    store = Store(wheels_dir)
    tmp = store.new_temp("x")
    tmp.write_bytes(b"x")
    with pytest.raises(StoreError, match="unsafe"):
        store.commit(tmp, name, FileRecord(sha256="0"))


def test_stray_partials_are_listed_and_cleaned(wheels_dir: Path) -> None:
    store = Store(wheels_dir)
    tmp = store.new_temp("a-1.0-py3-none-any.whl")
    tmp.write_bytes(b"partial")
    scan = store.scan()
    assert scan.stray
    assert scan.stray[0].endswith("a-1.0-py3-none-any.whl")
    assert scan.wheels == ()
    with store.lock():
        cleaned = store.clean_stray()
    assert len(cleaned) == 1
    assert not tmp.exists()


def test_atomic_write_leaves_old_content_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"old")

    def boom(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="No space"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_read_only_folder_still_scans(wheels_dir: Path) -> None:
    write_wheel(wheels_dir, "a", "1.0")
    Store(wheels_dir).meta_dir.mkdir()
    wheels_dir.chmod(0o555)
    (wheels_dir / ".wheelhouse").chmod(0o555)
    try:
        if os.access(wheels_dir / ".wheelhouse", os.W_OK):
            pytest.skip("running as root: permissions are not enforced")
        assert len(Store(wheels_dir).scan().wheels) == 1
    finally:
        (wheels_dir / ".wheelhouse").chmod(0o755)
        wheels_dir.chmod(0o755)


def _hold_lock(root: str, ready: multiprocessing.synchronize.Event, release: multiprocessing.synchronize.Event) -> None:
    with Store(root).lock():
        ready.set()
        release.wait(10)


def test_lock_serialises_processes(wheels_dir: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(str(wheels_dir), ready, release))
    proc.start()
    try:
        assert ready.wait(20)
        store = Store(wheels_dir)
        with pytest.raises(LockTimeout, match="another wheelhouse process"), store.lock(wait=False):
            pass
        messages: list[str] = []
        with pytest.raises(LockTimeout, match="gave up"), store.lock(timeout=0.2, on_wait=messages.append):
            pass
        assert messages
        assert "waiting" in messages[0]
        release.set()
        with store.lock(timeout=10):
            pass
    finally:
        release.set()
        proc.join(10)


def test_lock_is_reentrant_in_process(wheels_dir: Path) -> None:
    store = Store(wheels_dir)
    with store.lock(), Store(wheels_dir).lock(wait=False):
        pass
