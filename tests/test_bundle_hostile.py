"""Bundles that lie: credentials and bogus targets in the manifest, a member that unpacks to far more than the
bundle, a member given twice, a refusal into a folder that did not exist, and ``export -``.

Each ends with one line and nothing kept: no secret stored under wheels/ or printed, no byte of a bomb staged,
no directory left behind by a refused import.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli
from tests.support.wheels import make_wheel, write_wheel
from wheelhouse.share import bundle as bundle_module
from wheelhouse.share.bundle import BundleError, export_bundle
from wheelhouse.store.folder import Store

TARGET = "cp312-manylinux_2_28_x86_64"
SECRETS = ("s3cret", "s3cret2", "s3cret3", "s3cret4", "s3cret5")
WHEEL_NAME, WHEEL = make_wheel("kite", "4.1.1")
WHEEL_MEMBER = (f"wheels/{WHEEL_NAME}", WHEEL)


def _tar(path: Path, members: list[tuple[str, bytes]], mode: str = "w") -> Path:
    """A tar (``mode`` "w:gz" for a compressed one) holding ``members`` as (name, data), in order."""
    with tarfile.open(path, mode) as tf:  # type: ignore[call-overload]
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _sums(*members: tuple[str, bytes]) -> tuple[str, bytes]:
    return "SHA256SUMS", "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in members).encode()


def _all_bytes(folder: Path) -> bytes:
    """Every file under ``folder``, state included, as one string of bytes to search."""
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


# -- what the manifest says about itself ---------------------------------------------------------------------


@pytest.fixture
def lying_bundle(project: Path, tmp_path: Path) -> Path:
    """A real export whose manifest was edited on the way: credentials in the URL, sources and targets."""
    write_wheel(project / "wheels", "kite", "4.1.1")
    honest = export_bundle(Store(project / "wheels"), tmp_path / "honest.tar").bundle
    with tarfile.open(honest) as tf:
        members = {m.name: tf.extractfile(m).read() for m in tf.getmembers()}  # type: ignore[union-attr]
    manifest: dict[str, Any] = json.loads(members["manifest.json"])
    manifest["files"][WHEEL_NAME].update(
        url=f"https://user:s3cret@evil.example/{WHEEL_NAME}",
        sources=["https://u:s3cret2@evil/x", "requirements.txt"],
        targets=["https://tok:s3cret3@x/", "host", TARGET],
        built_by="docker https://b:s3cret4@registry/",
    )
    manifest["targets"] = ["http://a:s3cret5@h/", "linux/amd64", TARGET]
    members["manifest.json"] = json.dumps(manifest).encode()
    return _tar(tmp_path / "lying.tar", list(members.items()))


def test_credentials_in_a_manifest_are_neither_stored_nor_printed(cli: Cli, lying_bundle: Path, tmp_path: Path) -> None:
    target = tmp_path / "airgap" / "wheels"
    imported = cli("import", str(lying_bundle), "--wheels", str(target))
    assert imported.exit_code == 0, imported.output
    shown = cli("show", WHEEL_NAME, "--wheels", str(target))
    listed = cli("list", "--json", "--wheels", str(target))
    assert shown.exit_code == listed.exit_code == 0
    for output in (imported.output, shown.output, listed.output):
        assert not [s for s in SECRETS if s in output], output
    assert not [s for s in SECRETS if s.encode() in _all_bytes(target)]
    record = Store(target).records()[WHEEL_NAME]
    assert record.url == f"https://evil.example/{WHEEL_NAME}"
    assert record.sources == ("https://u:****@evil/x", "requirements.txt")
    assert record.built_by == "docker https://b:****@registry/"


def test_only_real_target_names_of_a_manifest_are_kept_or_suggested(
    cli: Cli, lying_bundle: Path, tmp_path: Path
) -> None:
    target = tmp_path / "airgap" / "wheels"
    imported = cli("import", str(lying_bundle), "--wheels", str(target), "--json")
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout)["targets"] == [TARGET]
    assert Store(target).records()[WHEEL_NAME].targets == (TARGET,)
    again = cli("import", str(lying_bundle), "--wheels", str(tmp_path / "other"))
    assert f"next: wheelhouse verify --target {TARGET} -r requirements.txt" in again.output
    assert "http://" not in again.output
    assert "linux/amd64" not in again.output


# -- bounded unpacking -------------------------------------------------------------------------------------


class _Zeros(io.RawIOBase):
    """``n`` zero bytes, read without holding them in memory."""

    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def test_a_decompression_bomb_is_refused_before_a_byte_is_staged(
    cli: Cli, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = tmp_path / "bomb.tar.gz"
    size = 64 * 1024 * 1024  # about 64 kB once gzipped: 1000 times the bundle
    with tarfile.open(bomb, "w:gz") as tf:
        info = tarfile.TarInfo("wheels/bomb-1.0-py3-none-any.whl")
        info.size = size
        tf.addfile(info, io.BufferedReader(_Zeros(size)))
    staged: list[str] = []
    real_extract = bundle_module._extract

    def extract(tf: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> bundle_module.BundleFile:
        staged.append(member.name)
        return real_extract(tf, member, dest)

    monkeypatch.setattr(bundle_module, "_extract", extract)
    result = cli("import", str(bomb))
    assert result.exit_code == 1, result.output
    assert result.output.startswith("error: refusing the bundle: its wheels would unpack to more than 100 times")
    assert "bomb-1.0-py3-none-any.whl alone is 67.1 MB" in result.output
    assert staged == []
    assert list((project / "wheels").iterdir()) == []


def test_a_member_larger_than_the_free_space_is_refused_before_it_is_staged(
    cli: Cli, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = _tar(tmp_path / "b.tar", [WHEEL_MEMBER, _sums(WHEEL_MEMBER)])
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=len(WHEEL) - 1))
    result = cli("import", str(bundle))
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"error: cannot import {bundle}: wheels/{WHEEL_NAME} is ")
    assert "free in" in result.output
    assert list((project / "wheels").iterdir()) == []


def test_a_member_that_holds_more_than_its_header_says_stops_at_the_declared_size(tmp_path: Path) -> None:
    class Lying:
        def extractfile(self, member: tarfile.TarInfo) -> io.BytesIO:
            return io.BytesIO(b"x" * (member.size + bundle_module._CHUNK))

    member = tarfile.TarInfo(f"wheels/{WHEEL_NAME}")
    member.size = 10
    with pytest.raises(BundleError, match="holds more than its declared 10 bytes"):
        bundle_module._extract(Lying(), member, tmp_path / WHEEL_NAME)  # type: ignore[arg-type]
    assert (tmp_path / WHEEL_NAME).stat().st_size == 0


# -- a name given twice ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("twice", "members"),
    [
        # The second list would win over the first, whichever of them a reviewer of the bundle checked.
        ("SHA256SUMS", [WHEEL_MEMBER, _sums((WHEEL_MEMBER[0], b"other bytes")), _sums(WHEEL_MEMBER)]),
        ("manifest.json", [WHEEL_MEMBER, _sums(WHEEL_MEMBER), ("manifest.json", b"{}"), ("manifest.json", b"{}")]),
    ],
)
def test_an_index_member_given_twice_is_refused(
    cli: Cli, project: Path, tmp_path: Path, twice: str, members: list[tuple[str, bytes]]
) -> None:
    result = cli("import", str(_tar(tmp_path / "b.tar", members)))
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"error: refusing the bundle: {twice} appears twice")
    assert not list((project / "wheels").glob("*.whl"))


# -- a refused import leaves the file system as it was -----------------------------------------------------


def test_a_refused_import_leaves_no_folder_behind(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.tar").write_text("junk\n")
    result = cli("import", "bad.tar", "--wheels", "deep/er/wh")
    assert result.exit_code == 1, result.output
    assert "is not a readable tar file" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tar"]


def test_a_bundle_refused_late_leaves_an_existing_empty_folder_empty(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "wheels"
    folder.mkdir()
    bundle = _tar(tmp_path / "b.tar", [WHEEL_MEMBER, _sums((WHEEL_MEMBER[0], b"x"))])
    result = cli("import", str(bundle), "--wheels", str(folder))
    assert result.exit_code == 1, result.output
    assert "checksum mismatch" in result.output
    assert list(folder.iterdir()) == []


def test_a_refused_import_keeps_the_state_of_an_existing_folder(cli: Cli, project: Path, tmp_path: Path) -> None:
    good = _tar(tmp_path / "good.tar", [WHEEL_MEMBER, _sums(WHEEL_MEMBER)])
    assert cli("import", str(good)).exit_code == 0
    state = sorted(p.relative_to(project) for p in (project / "wheels").rglob("*"))
    (tmp_path / "bad.tar").write_text("junk\n")
    assert cli("import", str(tmp_path / "bad.tar")).exit_code == 1
    assert sorted(p.relative_to(project) for p in (project / "wheels").rglob("*")) == state


# -- export - ----------------------------------------------------------------------------------------------


def test_export_to_a_dash_is_refused_in_one_line(cli: Cli, project: Path) -> None:
    write_wheel(project / "wheels", "kite", "4.1.1")
    result = cli("export", "-")
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[0] == (
        "error: export writes the bundle to a file; '-' (standard output) is not supported"
    )
    assert result.stdout == ""
    assert not (project / "-").exists()


@pytest.mark.parametrize("device", ["/dev/null", "/dev/full"])
def test_export_into_a_link_to_a_device_writes_into_it_and_keeps_the_link(cli: Cli, project: Path, device: str) -> None:
    write_wheel(project / "wheels", "kite", "1.0")
    link = project / "out.tar"
    link.symlink_to(device)
    result = cli("export", "out.tar")
    if device == "/dev/full":
        assert result.exit_code == 1, result.output
        assert "cannot write the bundle out.tar: No space left on device" in result.output
    else:
        assert result.exit_code == 0, result.output
    # Renaming over the link (or the device) would replace it for the whole system.
    assert link.is_symlink()
    assert os.readlink(link) == device
    assert list(project.glob(".partial-*")) == []
