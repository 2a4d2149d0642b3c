"""wheelhouse's own state (wheels/.wheelhouse/...) is never followed through a symbolic link.

A wheels folder that arrives by git, rsync, a shared volume or a bundle can carry links; following one would
delete, truncate or move files outside the folder. Each case plants a link to a directory or file outside
and checks the command refuses in one line naming the link, and that the outside files are untouched.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.index_server import IndexServer
from tests.support.wheels import write_wheel
from wheelhouse.errors import StoreError
from wheelhouse.share.integrity import check
from wheelhouse.store.folder import FileRecord, Store
from wheelhouse.store.fs import PARTIAL_PREFIX, atomic_write

TARGET = ("--target", "linux/amd64", "--python", "3.12")


def _outside_dir(tmp_path: Path) -> tuple[Path, Path]:
    """A directory outside the project holding one old, regular file."""
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "precious.txt"
    victim.write_text("keep me")
    old = time.time() - 3 * 86400
    os.utime(victim, (old, old))
    return outside, victim


def _plant(wheels: Path, name: str, target: Path) -> Path:
    meta = wheels / ".wheelhouse"
    meta.mkdir(parents=True, exist_ok=True)
    link = meta / name
    link.symlink_to(target)
    return link


def test_download_refuses_a_tmp_link_and_deletes_nothing_outside(
    cli: Cli, project: Path, tmp_path: Path, index_server: IndexServer
) -> None:
    index_server.add_wheel("demo", "1.0")
    outside, victim = _outside_dir(tmp_path)
    link = _plant(project / "wheels", "tmp", outside)
    result = cli("download", "--index-url", index_server.index_url, *TARGET, "demo")
    assert result.exit_code == 1, result.output
    assert "symbolic link" in result.output
    assert str(link.relative_to(project)) in result.output
    assert "Traceback" not in result.output
    assert victim.read_text() == "keep me"
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]


def test_check_fix_refuses_tmp_and_quarantine_links(cli: Cli, project: Path, tmp_path: Path) -> None:
    wheels = project / "wheels"
    (wheels / "broken-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    outside, victim = _outside_dir(tmp_path)
    for name in ("tmp", "quarantine"):
        link = _plant(wheels, name, outside)
        result = cli("check", "--fix")
        assert result.exit_code == 1, result.output
        assert "symbolic link" in result.output
        assert name in result.output
        link.unlink()
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]
    assert victim.read_text() == "keep me"
    assert (wheels / "broken-1.0-py3-none-any.whl").read_bytes() == b"not a zip"


def test_the_lock_is_never_opened_through_a_link(wheels_dir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    _plant(wheels_dir, "lock", victim)
    store = Store(wheels_dir)
    with pytest.raises(StoreError, match="symbolic link"), store.lock():
        pass
    # Even past the up-front check (a link that appears later), the open itself does not follow it.
    store.check_state = lambda: None  # type: ignore[method-assign]
    with pytest.raises(StoreError, match="symbolic link"), store.lock():
        pass
    assert victim.read_text() == "keep me"


def test_a_hard_linked_lock_is_never_written(wheels_dir: Path) -> None:
    # A planted hard link (or a cp -al backup) gives the lock file another name; the holder's pid is not
    # written then, so the other file is not truncated, and the folder still works.
    victim = wheels_dir / "victim.txt"
    victim.write_text("keep me")
    (wheels_dir / ".wheelhouse").mkdir()
    os.link(victim, wheels_dir / ".wheelhouse" / "lock")
    store = Store(wheels_dir)
    with store.lock():
        store.update_records({"x-1.0-py3-none-any.whl": FileRecord(sha256="1")})
    assert victim.read_text() == "keep me"


def test_a_lock_that_is_not_a_file_is_refused(wheels_dir: Path) -> None:
    (wheels_dir / ".wheelhouse").mkdir()
    os.mkfifo(wheels_dir / ".wheelhouse" / "lock")
    with pytest.raises(StoreError, match="not a regular file"), Store(wheels_dir).lock():
        pass


def test_a_manifest_link_is_neither_read_nor_written_through(wheels_dir: Path, tmp_path: Path) -> None:
    write_wheel(wheels_dir, "demo", "1.0")
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text('{"format": 1, "files": {}, "records": {"demo-1.0-py3-none-any.whl": {"sha256": "0"}}}')
    _plant(wheels_dir, "manifest.json", elsewhere)
    store = Store(wheels_dir)
    assert store.records() == {}  # not read through the link
    with pytest.raises(StoreError, match=r"manifest\.json is a symbolic link"):
        store.update_records({"demo-1.0-py3-none-any.whl": FileRecord(sha256="1")})
    assert "records" in elsewhere.read_text()
    assert '"1"' not in elsewhere.read_text()


def test_the_whole_state_folder_as_a_link_is_refused(wheels_dir: Path, tmp_path: Path) -> None:
    outside, victim = _outside_dir(tmp_path)
    (outside / "tmp").mkdir()
    (outside / "tmp" / f"{PARTIAL_PREFIX}x").write_text("x")
    (wheels_dir / ".wheelhouse").symlink_to(outside)
    store = Store(wheels_dir)
    with pytest.raises(StoreError, match=r"\.wheelhouse is a symbolic link"), store.lock():
        pass
    with pytest.raises(StoreError):
        check(store, fix=True)
    assert (outside / "tmp" / f"{PARTIAL_PREFIX}x").exists()
    assert victim.exists()


def test_atomic_write_does_not_follow_a_link_at_its_temporary_name(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = tmp_path / "out.json"
    # The temporary name is predictable (pid and thread); a planted link there is replaced, not written through.
    import threading

    (tmp_path / f"{PARTIAL_PREFIX}out.json.{os.getpid()}.{threading.get_ident()}").symlink_to(victim)
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert victim.read_text() == "keep me"
