"""``wheelhouse check``: corrupt, truncated, tampered and hostile wheels are found; ``--fix`` repairs them."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli
from tests.support.index_server import Fault, IndexServer
from tests.support.wheels import make_wheel, write_wheel
from wheelhouse.share.integrity import Limits, check, inspect_wheel
from wheelhouse.store.folder import PARTIAL_PREFIX, FileRecord, Store

# -- crafting broken archives -------------------------------------------------------------------------------


def _rezip(data: bytes, replace: dict[str, bytes | None] | None = None, add: dict[str, bytes] | None = None) -> bytes:
    """Rewrite a wheel's members without touching RECORD: what tampering looks like."""
    replace = replace or {}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename in replace:
                new = replace[info.filename]
                if new is not None:
                    dst.writestr(info.filename, new)
                continue
            dst.writestr(info, src.read(info))
        for name, content in (add or {}).items():
            dst.writestr(name, content)
    return out.getvalue()


def _central_entries(data: bytes) -> dict[str, int]:
    """Member name -> offset of its central directory header."""
    out: dict[str, int] = {}
    start = data.find(b"PK\x01\x02")
    while start != -1:
        (name_len,) = struct.unpack_from("<H", data, start + 28)
        out[data[start + 46 : start + 46 + name_len].decode()] = start
        start = data.find(b"PK\x01\x02", start + 46 + name_len)
    return out


def _local_header(data: bytes, name: str) -> int:
    start = data.find(b"PK\x03\x04")
    while start != -1:
        (name_len,) = struct.unpack_from("<H", data, start + 26)
        if data[start + 30 : start + 30 + name_len].decode(errors="replace") == name:
            return start
        start = data.find(b"PK\x03\x04", start + 4)
    raise AssertionError(f"no local header for {name}")


def _patch(data: bytes, name: str, *, size: int | None = None, crc: int | None = None) -> bytes:
    """Rewrite a member's declared uncompressed size and/or CRC in both of its headers."""
    buf = bytearray(data)
    central = _central_entries(data)[name]
    local = _local_header(data, name)
    if size is not None:
        struct.pack_into("<L", buf, central + 24, size)
        struct.pack_into("<L", buf, local + 22, size)
    if crc is not None:
        struct.pack_into("<L", buf, central + 16, crc)
        struct.pack_into("<L", buf, local + 14, crc)
    return bytes(buf)


def _write(directory: Path, filename: str, data: bytes) -> Path:
    path = directory / filename
    path.write_bytes(data)
    return path


def _kinds(path: Path, limits: Limits | None = None) -> list[str]:
    return [f.kind for f in inspect_wheel(path, limits=limits).findings]


def _messages(path: Path, limits: Limits | None = None) -> str:
    return " | ".join(f.message for f in inspect_wheel(path, limits=limits).findings)


PAYLOAD = "demo/data.bin"


@pytest.fixture
def demo() -> tuple[str, bytes]:
    return make_wheel("demo", "1.0", files={PAYLOAD: b"abcdefgh" * 50_000})


# -- one wheel ----------------------------------------------------------------------------------------------


def test_a_good_wheel_has_no_findings_and_its_hash(tmp_path: Path, demo: tuple[str, bytes]) -> None:
    path = _write(tmp_path, *demo)
    result = inspect_wheel(path)
    assert result.ok, result.findings
    assert result.sha256 == hashlib.sha256(demo[1]).hexdigest()


def test_truncated_wheel_is_corrupt(tmp_path: Path, demo: tuple[str, bytes]) -> None:
    filename, data = demo
    path = _write(tmp_path, filename, data[: len(data) - 200])
    assert _kinds(path)[0] == "corrupt"
    assert "not a readable zip" in _messages(path)


def test_member_changed_after_record_was_written(tmp_path: Path, demo: tuple[str, bytes]) -> None:
    filename, data = demo
    path = _write(tmp_path, filename, _rezip(data, replace={"demo/__init__.py": b"import os; os.system('x')\n"}))
    assert _kinds(path) == ["record-mismatch"]
    assert "demo/__init__.py: sha256 differs from RECORD" in _messages(path)


def test_members_missing_from_record_and_from_the_wheel(tmp_path: Path, demo: tuple[str, bytes]) -> None:
    filename, data = demo
    path = _write(tmp_path, filename, _rezip(data, replace={PAYLOAD: None}, add={"demo/extra.py": b"x = 1\n"}))
    messages = _messages(path)
    assert "demo/extra.py: in the wheel but not listed in RECORD" in messages
    assert f"{PAYLOAD}: listed in RECORD but not in the wheel" in messages


def test_damaged_data_fails_the_crc(tmp_path: Path, demo: tuple[str, bytes]) -> None:
    filename, data = demo
    path = _write(tmp_path, filename, _patch(data, PAYLOAD, crc=0x12345678))
    assert _kinds(path)[0] == "corrupt"
    assert f"{PAYLOAD}: CRC check failed" in _messages(path)


def test_member_that_inflates_past_its_declared_size_is_reported(tmp_path: Path, demo: tuple[str, bytes]) -> None:
    filename, data = demo
    path = _write(tmp_path, filename, _patch(data, PAYLOAD, size=1000))
    assert _kinds(path)[0] == "corrupt"
    assert f"{PAYLOAD}: inflates to more than its declared 1000 bytes" in _messages(path)


def test_zip_bomb_declared_size_is_refused_without_inflating(
    tmp_path: Path, demo: tuple[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    filename, data = demo
    path = _write(tmp_path, filename, _patch(data, PAYLOAD, size=0xFFFF_FFF0))

    def no_inflating(*args: object) -> None:
        raise AssertionError("a member over the limit must not be inflated")

    monkeypatch.setattr("wheelhouse.share.wheel_check.zlib.decompressobj", no_inflating)
    limits = Limits(max_member_bytes=1024**3)
    assert _kinds(path, limits) == ["corrupt"]
    assert f"{PAYLOAD} declares {0xFFFF_FFF0} bytes, over the per-member limit" in _messages(path, limits)


def test_total_declared_size_limit(tmp_path: Path, demo: tuple[str, bytes]) -> None:
    path = _write(tmp_path, *demo)
    assert "over the limit of 1000" in _messages(path, Limits(max_total_bytes=1000))


def test_overlapping_members_are_a_zip_bomb(tmp_path: Path, demo: tuple[str, bytes]) -> None:
    filename, data = demo
    buf = bytearray(data)
    entries = _central_entries(data)
    (first_offset,) = struct.unpack_from("<L", data, entries["demo/__init__.py"] + 42)
    # Point the payload's central entry at another member's data: two names, one compressed kernel.
    struct.pack_into("<L", buf, entries[PAYLOAD] + 42, first_offset)
    path = _write(tmp_path, filename, bytes(buf))
    assert _kinds(path) == ["corrupt"]
    assert "overlaps" in _messages(path)


def test_member_path_escaping_the_install_directory(tmp_path: Path) -> None:
    filename, data = make_wheel("demo", "1.0", files={"../../etc/evil.py": b"x = 1\n"})
    path = _write(tmp_path, filename, data)
    assert "../../etc/evil.py: the path escapes the install directory" in _messages(path)


def test_metadata_contradicting_the_file_name(tmp_path: Path) -> None:
    _, data = make_wheel("demo", "1.0")
    path = _write(tmp_path, "demo-2.0-py3-none-any.whl", data)
    assert "metadata-mismatch" in _kinds(path)
    assert "METADATA says demo 1.0 but the file name says demo 2.0" in _messages(path)


def test_large_stored_member_streams(tmp_path: Path) -> None:
    # 24 MB of incompressible data in chunks; the check passes and reads it all (bounded by chunk size).
    filename, data = make_wheel("big", "1.0", payload_size=24 * 1024 * 1024)
    assert inspect_wheel(_write(tmp_path, filename, data)).ok


# -- the folder ---------------------------------------------------------------------------------------------


def test_check_clean_folder_exits_zero(cli: Cli, project: Path) -> None:
    write_wheel(project / "wheels", "demo", "1.0")
    write_wheel(project / "wheels", "dep", "2.0")
    result = cli("check")
    assert result.exit_code == 0, result.output
    assert "2 files checked, all intact" in result.output


def test_check_reports_every_kind_and_exits_one(cli: Cli, project: Path, demo: tuple[str, bytes]) -> None:
    wheels = project / "wheels"
    filename, data = demo
    _write(wheels, filename, data[:-500])  # truncated
    tampered = write_wheel(wheels, "tampered", "1.0")
    tampered.write_bytes(_rezip(tampered.read_bytes(), replace={"tampered/__init__.py": b"evil = True\n"}))
    swapped = write_wheel(wheels, "swapped", "1.0")
    Store(wheels).update_records({swapped.name: FileRecord(sha256="0" * 64, url="https://example.invalid/x.whl")})
    (wheels / "notes.txt").write_text("hello")
    write_wheel(wheels, "fine", "1.0")

    result = cli("check", "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == 1
    assert data["clean"] is False
    assert data["checked"] == 5
    kinds = {i["file"]: i["kind"] for i in data["issues"]}
    assert kinds == {
        filename: "corrupt",
        tampered.name: "record-mismatch",
        swapped.name: "hash-mismatch",
        "notes.txt": "not-a-wheel",
    }
    assert all(i["fix"] is None for i in data["issues"])

    human = cli("check")
    assert human.exit_code == 1
    assert f"wheels/{filename}: corrupt: not a readable zip file" in human.output
    assert "4 with problems" in human.output
    assert "fix: wheelhouse check --fix" in human.output


def test_stray_partial_files_are_reported_but_do_not_fail(cli: Cli, project: Path) -> None:
    wheels = project / "wheels"
    write_wheel(wheels, "demo", "1.0")
    (wheels / f"{PARTIAL_PREFIX}demo.whl").write_bytes(b"half")
    result = cli("check")
    assert result.exit_code == 0, result.output
    assert f"{PARTIAL_PREFIX}demo.whl: partial file" in result.output


def test_fix_removes_every_abandoned_partial_file_and_folder(cli: Cli, project: Path) -> None:
    # Whoever made a partial file held the folder's lock while it existed; check --fix holds it now, so every
    # partial file is abandoned, however recent, and a killed import's staging folder goes with its content.
    wheels = project / "wheels"
    tmp = wheels / ".wheelhouse" / "tmp"
    tmp.mkdir(parents=True)
    old = tmp / f"{PARTIAL_PREFIX}old.whl"
    old.write_bytes(b"old")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    recent = tmp / f"{PARTIAL_PREFIX}recent.whl"
    recent.write_bytes(b"abandoned a second ago")
    staging = tmp / f"{PARTIAL_PREFIX}4242-1-2-import"
    staging.mkdir()
    (staging / "demo-1.0-py3-none-any.whl").write_bytes(b"half")
    result = cli("check", "--fix", "--json")
    data = json.loads(result.stdout)
    assert data["cleaned"] == sorted([old.name, recent.name, staging.name])
    assert data["stray"] == []
    assert list(tmp.iterdir()) == []


def test_fix_quarantines_and_downloads_again(cli: Cli, project: Path, index_server: IndexServer) -> None:
    wheels = project / "wheels"
    filename = index_server.add_wheel("demo", "1.0", requires_dist=["dep"])
    good = index_server.file_bytes(filename)
    sha = hashlib.sha256(good).hexdigest()
    _write(wheels, filename, good[:-300])
    store = Store(wheels)
    url = index_server.file_url(filename)
    store.update_records({filename: FileRecord(sha256=sha, url=url, targets=("cp312-manylinux_2_28_x86_64",))})

    result = cli("check", "--fix", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["clean"] is True
    (issue,) = data["issues"]
    assert issue["kind"] == "corrupt"
    assert issue["fix"]["status"] == "restored"
    assert issue["fix"]["quarantined"] == f".wheelhouse/quarantine/{filename}"
    assert (wheels / filename).read_bytes() == good
    assert (wheels / ".wheelhouse" / "quarantine" / filename).read_bytes() == good[:-300]
    assert store.records()[filename].targets == ("cp312-manylinux_2_28_x86_64",)
    assert [r.route for r in index_server.requests] == [f"/files/{filename}"]
    again = cli("check")
    assert again.exit_code == 0, again.output


def test_fix_without_recorded_url_moves_aside_and_names_the_command(cli: Cli, project: Path) -> None:
    wheels = project / "wheels"
    path = write_wheel(wheels, "demo", "1.0")
    path.write_bytes(path.read_bytes()[:100])
    Store(wheels).update_records({path.name: FileRecord(sha256="ab" * 32, targets=("cp311-musllinux_1_2_x86_64",))})
    result = cli("check", "--fix")
    assert result.exit_code == 1, result.output
    assert "no-url: moved aside; no download URL was recorded for it" in result.output
    assert "fix: wheelhouse download --target cp311-musllinux_1_2_x86_64 demo==1.0" in result.output
    assert not path.exists()
    assert (wheels / ".wheelhouse" / "quarantine" / path.name).is_file()


def test_fix_reports_a_failed_download(cli: Cli, project: Path, index_server: IndexServer) -> None:
    wheels = project / "wheels"
    filename = index_server.add_wheel("demo", "1.0")
    _write(wheels, filename, b"not a zip")
    url = index_server.file_url(filename)
    Store(wheels).update_records({filename: FileRecord(sha256="cd" * 32, url=url)})
    index_server.inject(f"/files/{filename}", Fault.error(404), times=None)
    result = cli("check", "--fix", "--json")
    assert result.exit_code == 1
    (issue,) = json.loads(result.stdout)["issues"]
    assert issue["fix"]["status"] == "failed"
    assert "downloading it again failed" in issue["fix"]["detail"]
    assert issue["fix"]["command"] == "wheelhouse download demo==1.0"
    assert not (wheels / filename).exists()


def test_fix_refuses_a_download_with_the_wrong_hash(project: Path, index_server: IndexServer) -> None:
    wheels = project / "wheels"
    filename = index_server.add_wheel("demo", "1.0")
    _write(wheels, filename, b"garbage")
    Store(wheels).update_records({filename: FileRecord(sha256="ef" * 32, url=index_server.file_url(filename))})
    from wheelhouse.index.config import IndexConfig
    from wheelhouse.index.http import IndexClient
    from wheelhouse.index.pages import RemoteFile

    def fetch(name: str, url: str, sha256: str | None, dest: Path) -> str:
        with IndexClient(IndexConfig(), jobs=1, sleep=lambda _s: None) as client:
            return client.download(RemoteFile(filename=name, url=url, sha256=sha256), dest)

    report = check(Store(wheels), fix=True, fetch=fetch)
    (issue,) = report.issues
    assert issue.fix is not None
    assert issue.fix.status == "failed"
    assert "hash mismatch" in issue.fix.detail
    assert not (wheels / filename).exists()
    assert not report.clean


def test_fix_moves_foreign_files_aside(cli: Cli, project: Path) -> None:
    wheels = project / "wheels"
    (wheels / "notes.txt").write_text("hello")
    (wheels / ".wheelhouse" / "quarantine").mkdir(parents=True)
    (wheels / ".wheelhouse" / "quarantine" / "notes.txt").write_text("an earlier one")
    result = cli("check", "--fix")
    assert result.exit_code == 0, result.output
    assert (wheels / ".wheelhouse" / "quarantine" / "notes.txt.1").read_text() == "hello"
    assert (wheels / ".wheelhouse" / "quarantine" / "notes.txt").read_text() == "an earlier one"


def test_check_of_a_missing_folder_is_one_line(cli: Cli, project: Path) -> None:
    result = cli("check", "--wheels", "nowhere")
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == "error: the wheels folder nowhere does not exist"
    assert "Traceback" not in result.output


def _unreadable_fix(cli: Cli, project: Path) -> tuple[Path, dict[str, Any]]:
    wheels = project / "wheels"
    path = write_wheel(wheels, "demo", "1.0")
    result = cli("check", "--fix", "--json")
    assert result.exit_code == 1, result.output
    return path, json.loads(result.stdout)


def _assert_left_alone(project: Path, path: Path, data: dict[str, Any]) -> None:
    (issue,) = data["issues"]
    assert issue["kind"] == "unreadable"
    assert issue["fix"]["status"] == "left-alone"
    assert issue["fix"]["quarantined"] is None
    assert path.exists()
    assert not (project / "wheels" / ".wheelhouse" / "quarantine").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="running as root: permissions are not enforced")
def test_fix_leaves_a_wheel_this_user_cannot_read(cli: Cli, project: Path) -> None:
    path = write_wheel(project / "wheels", "demo", "1.0")
    path.chmod(0)
    try:
        result = cli("check", "--fix", "--json")
        data = json.loads(result.stdout)
        _assert_left_alone(project, path, data)
    finally:
        path.chmod(0o644)


def test_fix_leaves_a_wheel_whose_open_is_refused(cli: Cli, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same case as above, for any user: the open is refused as it would be for a file mode 000.
    from wheelhouse.share import wheel_check

    def refused(path: Path) -> str:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(wheel_check, "_file_sha256", refused)
    path, data = _unreadable_fix(cli, project)
    _assert_left_alone(project, path, data)
    human = cli("check")
    assert "unreadable" in human.output
    assert "corrupt" not in human.output
