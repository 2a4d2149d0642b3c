"""What the folder holds besides its wheels is never believed over them. Its caches count only under this user's
seal: an entry that keeps a file's size, mtime, inode and ctime but lies about its metadata or hash, or a stored
verify answer re-hashed after an edit, changes nothing any command says. A manifest that is a named pipe, huge,
or nested past what JSON decoding allows is a missing cache, not a hang or a crash. And an entry named like a
wheel that is not a file (a folder, a named pipe, a dangling link) is reported, never read or silently skipped."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.index_server import IndexServer
from tests.support.wheels import make_wheel, write_wheel
from tests.test_verify_cache import TARGET, entries, run
from wheelhouse.store import proofs, seal
from wheelhouse.store.folder import Store
from wheelhouse.store.manifest import read_manifest, seal_path

AAA = "aaa-1.0-py3-none-any.whl"


def _forge(store: Store, filename: str, **change: object) -> None:
    """Edit one cached entry as someone with write access to the folder can: the file's own freshness values
    kept, the claims changed, the manifest written back without this user's key."""
    manifest = json.loads(store.manifest_path.read_text())
    manifest["files"][filename].update(change)
    store.manifest_path.write_text(json.dumps(manifest))


def test_the_seal_is_hmac_sha256_under_a_private_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tag = seal.seal(b"data")
    key = Path(seal.key_path())
    assert key == tmp_path / "cache" / "wheelhouse" / "seal-key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert tag == hmac.new(key.read_bytes(), b"data", hashlib.sha256).hexdigest()
    assert seal.sealed(b"data", tag)
    assert not seal.sealed(b"date", tag)
    assert not seal.sealed(b"data", tag[:-1])
    # Another user (another key) does not recognise it.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "other"))
    assert not seal.sealed(b"data", tag)


def test_a_key_that_cannot_be_made_trusts_nothing_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    tag = seal.seal(b"data")
    assert seal.sealed(b"data", tag)  # this process's own writes
    assert not (blocked / "wheelhouse").exists()


def test_forged_metadata_and_hash_in_the_manifest_change_nothing(cli: Cli, project: Path) -> None:
    wheels = project / "wheels"
    write_wheel(wheels, "aaa", "1.0", requires_dist=["bbb>=1"])
    write_wheel(wheels, "bbb", "1.0")
    (project / "requirements.txt").write_text("aaa\n")
    store = Store(wheels)
    store.scan()
    store.hashes([AAA])
    real = hashlib.sha256((wheels / AAA).read_bytes()).hexdigest()
    (wheels / "bbb-1.0-py3-none-any.whl").unlink()
    entry = json.loads(store.manifest_path.read_text())["files"][AAA]
    assert entry["sha256"] == real
    assert os.stat(wheels / AAA).st_ino == entry["ino"]
    _forge(store, AAA, sha256="0" * 64, metadata={"name": "aaa", "version": "1.0", "requires_dist": []})

    verify = cli("verify", "--no-cache", *TARGET)
    assert verify.exit_code == 3, verify.output
    assert "bbb" in verify.output
    assert store.hashes([AAA]) == {AAA: real}
    show = cli("show", AAA)
    assert show.exit_code == 0, show.output
    assert real in show.output
    assert "0" * 64 not in show.output


def test_a_sealed_manifest_is_believed(wheels_dir: Path) -> None:
    write_wheel(wheels_dir, "aaa", "1.0")
    store = Store(wheels_dir)
    assert store.scan().opened == 1
    assert seal_path(store.manifest_path).is_file()
    assert store.scan().opened == 0
    # The same bytes without their seal: the cache is ignored, the files read again, and the seal written anew.
    seal_path(store.manifest_path).unlink()
    assert read_manifest(store.manifest_path)["files"] == {}
    assert store.scan().opened == 1
    assert store.scan().opened == 0


def test_a_forged_verify_answer_is_not_replayed(project: Path) -> None:
    wheels = project / "wheels"
    write_wheel(wheels, "aaa", "1.0", requires_dist=["bbb>=1"])
    (project / "requirements.txt").write_text("aaa\n")
    first = run(project, *TARGET)
    assert first.returncode == 3, first.stderr
    (name,) = entries(project)
    path = wheels / ".wheelhouse" / "proofs" / name
    proof = proofs.Proof.decode(path.read_bytes())
    assert proof is not None
    proof.status = 0
    proof.output = ((1, b"covered\n"),)
    # What the format was before it was sealed, and what anyone can compute: a plain sha256 of the body.
    body = proof.encode()[len(proofs.MAGIC) :].partition(b"\n")[2]
    path.write_bytes(proofs.MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    os.utime(path)
    again = run(project, *TARGET)
    assert again.returncode == 3, again.stdout
    assert again.stdout != b"covered\n"


def test_a_named_pipe_as_manifest_is_no_cache_and_no_hang(wheels_dir: Path) -> None:
    write_wheel(wheels_dir, "aaa", "1.0")
    (wheels_dir / ".wheelhouse").mkdir()
    os.mkfifo(wheels_dir / ".wheelhouse" / "manifest.json")
    done: list[int] = []
    worker = threading.Thread(target=lambda: done.append(len(Store(wheels_dir).scan().wheels)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert done == [1]


def test_a_manifest_nested_past_json_decoding_is_no_cache(wheels_dir: Path) -> None:
    write_wheel(wheels_dir, "aaa", "1.0")
    (wheels_dir / ".wheelhouse").mkdir()
    (wheels_dir / ".wheelhouse" / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    assert read_manifest(wheels_dir / ".wheelhouse" / "manifest.json") == {}
    result = subprocess.run(
        [sys.executable, "-m", "wheelhouse", "list", "--wheels", str(wheels_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "1 wheel, 1 project" in result.stdout


def test_entries_named_like_wheels_that_are_not_files_are_reported(cli: Cli, project: Path) -> None:
    wheels = project / "wheels"
    write_wheel(wheels, "aaa", "1.0")
    (project / "requirements.txt").write_text("aaa\n")
    (wheels / "dir-1.0-py3-none-any.whl").mkdir()
    (wheels / "dangling-1.0-py3-none-any.whl").symlink_to(project / "nowhere")
    os.mkfifo(wheels / "fifo-1.0-py3-none-any.whl")
    (wheels / "docs").mkdir()  # not a distribution's name: none of the folder's business
    result = cli("check")
    assert result.exit_code == 1, result.output
    assert "wheels/dir-1.0-py3-none-any.whl: not-a-wheel: not a regular file (a folder)" in result.output
    assert "dangling-1.0-py3-none-any.whl: not-a-wheel: not a regular file (a symbolic link to nothing" in (
        result.output
    )
    assert "wheels/fifo-1.0-py3-none-any.whl: not-a-wheel: not a regular file (a named pipe)" in result.output
    assert "docs" not in result.output
    verify = cli("verify", *TARGET)
    assert verify.exit_code == 0, verify.output
    assert "fifo-1.0-py3-none-any.whl: not a regular file (a named pipe)" in verify.stderr
    fixed = cli("check", "--fix")
    assert fixed.exit_code == 0, fixed.output
    assert sorted(p.name for p in (wheels / ".wheelhouse" / "quarantine").iterdir()) == [
        "dangling-1.0-py3-none-any.whl",
        "dir-1.0-py3-none-any.whl",
        "fifo-1.0-py3-none-any.whl",
    ]


def test_wheels_already_shadowing_each_other_are_reported_and_neither_used(cli: Cli, project: Path) -> None:
    wheels = project / "wheels"
    write_wheel(wheels, "aaa", "1.0", requires_dist=["bbb>=1"])
    write_wheel(wheels, "bbb", "1.0")
    (project / "requirements.txt").write_text("aaa\n")
    # Copied in by hand: a case twin with other content (no dependency), which commit() would have refused.
    _name, data = make_wheel("aaa", "1.0")
    (wheels / "Aaa-1.0-py3-none-any.whl").write_bytes(data)
    # An identical copy under another spelling of the version is harmless.
    shutil.copyfile(wheels / "bbb-1.0-py3-none-any.whl", wheels / "bbb-1.0.0-py3-none-any.whl")

    check = cli("check")
    assert check.exit_code == 1, check.output
    assert "wheels/Aaa-1.0-py3-none-any.whl: shadowed: shadows aaa-1.0-py3-none-any.whl" in check.output
    assert "wheels/aaa-1.0-py3-none-any.whl: shadowed: shadows Aaa-1.0-py3-none-any.whl" in check.output
    assert "bbb" not in check.output
    assert "fix: remove the one of each shadowing pair you do not want" in check.output
    verify = cli("verify", *TARGET)
    assert verify.exit_code == 3, verify.output
    assert "aaa-1.0-py3-none-any.whl: shadows Aaa-1.0-py3-none-any.whl" in verify.stderr
    # --fix cannot tell which one was verified: both stay for the user to choose.
    fixed = cli("check", "--fix")
    assert fixed.exit_code == 1, fixed.output
    assert (wheels / "Aaa-1.0-py3-none-any.whl").is_file()
    assert (wheels / "aaa-1.0-py3-none-any.whl").is_file()
    (wheels / "Aaa-1.0-py3-none-any.whl").unlink()
    assert cli("verify", *TARGET).exit_code == 0


def test_a_distribution_whose_name_nearly_fills_a_file_name_is_downloaded(
    cli: Cli, project: Path, index_server: IndexServer
) -> None:
    # 221 bytes: a valid wheel name, which the prefix that marks a partial file would take past 255.
    name = "a" * 200
    index_server.add_wheel(name, "1.0")
    result = cli("download", "--index-url", index_server.index_url, name, *TARGET)
    assert result.exit_code == 0, result.output
    filename = f"{name}-1.0-py3-none-any.whl"
    assert (project / "wheels" / filename).is_file()
    assert [p.name for p in (project / "wheels" / ".wheelhouse").rglob(".partial-*")] == []


def test_a_partial_name_stays_within_a_file_names_limit_and_keeps_its_suffix() -> None:
    from wheelhouse.store.fs import PARTIAL_PREFIX, partial_name

    long_name = "b" * 240 + "-1.0-py3-none-any.whl"
    short = partial_name("pkg-1.0-py3-none-any.whl")
    shortened = partial_name(long_name)
    assert short.startswith(PARTIAL_PREFIX)
    assert short.endswith("-pkg-1.0-py3-none-any.whl")
    assert shortened.startswith(PARTIAL_PREFIX)
    assert shortened.endswith("-1.0-py3-none-any.whl")
    assert len(os.fsencode(shortened)) <= 255
    assert partial_name(long_name) != shortened
