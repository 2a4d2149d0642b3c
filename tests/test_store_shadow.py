"""One wheel never shadows another: a file that pip would take for the same project and version, with other
bytes, is refused by import (naming both files), by the store's commit (so by download), and export never
writes its bundle over a file of the folder."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.wheels import make_wheel, write_wheel
from wheelhouse.errors import StoreError
from wheelhouse.store.folder import FileRecord, Store
from wheelhouse.store.fs import file_sha256
from wheelhouse.store.shadow import collides

GOOD = "good-1.0-py3-none-any.whl"


@pytest.mark.parametrize(
    ("new", "present", "expected"),
    [
        ("Good-1.0-py3-none-any.whl", GOOD, True),  # case twin
        ("good-1.0.0-py3-none-any.whl", GOOD, True),  # equal version, other spelling
        ("good-1.0-1-py3-none-any.whl", GOOD, True),  # build tag
        ("good-1.0-py2.py3-none-any.whl", GOOD, True),  # overlapping tags
        ("good-1.0-cp312-cp312-manylinux_2_28_x86_64.whl", "good-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", False),
        ("good-1.1-py3-none-any.whl", GOOD, False),
        ("other-1.0-py3-none-any.whl", GOOD, False),
        (GOOD, GOOD, False),  # the same name is commit's own check (same bytes kept, other bytes refused)
        ("good-1.0.tar.gz", GOOD, False),
    ],
)
def test_which_names_collide(new: str, present: str, expected: bool) -> None:
    assert collides(new, present) is expected


def _evil(filename: str, version: str = "1.0", build: str | None = None) -> bytes:
    """A wheel for good ``version`` with other bytes and other dependencies than the folder's."""
    _, data = make_wheel("good", version, requires_dist=["evil"], build=build)
    return data


def _bundle_of(tmp_path: Path, files: dict[str, bytes]) -> Path:
    """A bundle of these files with their checksums, written by hand: export itself leaves out wheels that
    shadow each other, so a bundle holding such twins comes from elsewhere."""
    bundle = tmp_path / "incoming.tar"
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  wheels/{name}\n" for name, data in files.items()).encode()
    with tarfile.open(bundle, "w") as tf:
        for name, data in [*((f"wheels/{n}", d) for n, d in files.items()), ("SHA256SUMS", sums)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return bundle


def _visible(wheels: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in wheels.iterdir() if p.is_file()}


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("Good-1.0-py3-none-any.whl", _evil("Good-1.0-py3-none-any.whl")),
        ("good-1.0.0-py3-none-any.whl", _evil("good-1.0.0-py3-none-any.whl", "1.0.0")),
        ("good-1.0-1-py3-none-any.whl", _evil("good-1.0-1-py3-none-any.whl", build="1")),
    ],
    ids=["case-twin", "equal-version", "build-tag"],
)
def test_import_refuses_a_wheel_that_would_shadow_one_present(
    cli: Cli, project: Path, tmp_path: Path, filename: str, data: bytes
) -> None:
    wheels = project / "wheels"
    write_wheel(wheels, "good", "1.0")
    before = _visible(wheels)
    bundle = _bundle_of(tmp_path, {filename: data})
    result = cli("import", str(bundle))
    assert result.exit_code == 1, result.output
    assert result.output.startswith("error: ")
    assert filename in result.output
    assert GOOD in result.output
    assert _visible(wheels) == before
    assert filename not in json.dumps(Store(wheels).records())


def test_import_refuses_a_bundle_holding_twins(cli: Cli, project: Path, tmp_path: Path) -> None:
    _, good = make_wheel("good", "1.0")
    bundle = _bundle_of(tmp_path, {GOOD: good, "good-1.0-1-py3-none-any.whl": _evil("x", build="1")})
    result = cli("import", str(bundle))
    assert result.exit_code == 1, result.output
    assert "good-1.0-1-py3-none-any.whl" in result.output
    assert GOOD in result.output
    assert _visible(project / "wheels") == {}


def test_import_of_the_same_bytes_under_the_same_name_is_still_fine(cli: Cli, project: Path, tmp_path: Path) -> None:
    wheels = project / "wheels"
    path = write_wheel(wheels, "good", "1.0")
    bundle = _bundle_of(tmp_path, {GOOD: path.read_bytes()})
    assert cli("import", str(bundle)).exit_code == 0


def test_commit_refuses_a_shadowing_file_whoever_adds_it(wheels_dir: Path) -> None:
    # download and builds add files through Store.commit: the same rule holds for them.
    write_wheel(wheels_dir, "good", "1.0")
    store = Store(wheels_dir)
    temp = store.new_temp("good-1.0-1-py3-none-any.whl")
    temp.write_bytes(_evil("x", build="1"))
    with pytest.raises(StoreError, match=r"good-1\.0-1-py3-none-any\.whl.*good-1\.0-py3-none-any\.whl"):
        store.commit(temp, "good-1.0-1-py3-none-any.whl", FileRecord(sha256=file_sha256(temp)))
    assert sorted(p.name for p in wheels_dir.iterdir() if p.is_file()) == [GOOD]
    assert not temp.exists()


def test_import_with_a_directory_in_the_way_is_one_line(cli: Cli, project: Path, tmp_path: Path) -> None:
    wheels = project / "wheels"
    (wheels / GOOD).mkdir()
    _, good = make_wheel("good", "1.0")
    bundle = _bundle_of(tmp_path, {GOOD: good})
    result = cli("import", str(bundle))
    assert result.exit_code == 1, result.output
    assert result.output.startswith("error: ")
    assert "internal error" not in result.output
    assert "not a regular file" in result.output
    assert (wheels / GOOD).is_dir()


@pytest.mark.parametrize("where", [GOOD, "sub/bundle.tar", ".wheelhouse/bundle.tar"])
def test_export_never_writes_inside_the_wheels_folder(cli: Cli, project: Path, where: str) -> None:
    wheels = project / "wheels"
    path = write_wheel(wheels, "good", "1.0")
    before = path.read_bytes()
    result = cli("export", f"wheels/{where}")
    assert result.exit_code != 0, result.output
    assert result.output.startswith("error: ")
    assert "inside the wheels folder" in result.output
    assert path.read_bytes() == before
    assert not (wheels / "sub").exists()
