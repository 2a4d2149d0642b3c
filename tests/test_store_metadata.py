"""The one METADATA reader: which member is a wheel's METADATA (pip's rule), and its checks."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from tests.support.wheels import make_wheel, metadata_text
from wheelhouse.share.wheel_check import inspect_wheel
from wheelhouse.store.metadata import (
    MetadataProblem,
    find_metadata_member,
    locate_metadata_member,
    read_metadata_member,
    read_wheel_metadata,
)


@pytest.mark.parametrize(
    ("names", "filename", "member"),
    [
        (
            ["demo-1.0.dist-info/METADATA", "demo/__init__.py"],
            "demo-1.0-py3-none-any.whl",
            "demo-1.0.dist-info/METADATA",
        ),
        # The directory's spelling may differ from the file name's; normalized, it names the same project.
        (["Foo.Bar-1.0.dist-info/METADATA"], "foo_bar-1.0-py3-none-any.whl", "Foo.Bar-1.0.dist-info/METADATA"),
        # pip refuses a wheel with two .dist-info directories, even when one of them is named for the project.
        (["demo-1.0.dist-info/METADATA", "other-1.0.dist-info/METADATA"], "demo-1.0-py3-none-any.whl", None),
        (["demo-1.0.dist-info/METADATA", "other-1.0.dist-info/RECORD"], "demo-1.0-py3-none-any.whl", None),
        # A directory named for another project, none at all, or one without METADATA.
        (["other-1.0.dist-info/METADATA"], "demo-1.0-py3-none-any.whl", None),
        (["demo/__init__.py"], "demo-1.0-py3-none-any.whl", None),
        (["demo-1.0.dist-info/RECORD"], "demo-1.0-py3-none-any.whl", None),
        # Only a top-level directory counts.
        (["lib/demo-1.0.dist-info/METADATA"], "demo-1.0-py3-none-any.whl", None),
    ],
)
def test_find_metadata_member_follows_pips_rule(names: list[str], filename: str, member: str | None) -> None:
    assert find_metadata_member(names, filename) == member
    if member is None:
        with pytest.raises(MetadataProblem):
            locate_metadata_member(names, filename)


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_read_wheel_metadata_checks_the_file_name(tmp_path: Path) -> None:
    filename, data = make_wheel("demo", "1.0", requires_dist=["six"])
    (tmp_path / filename).write_bytes(data)
    assert read_wheel_metadata(tmp_path / filename).requires_dist == ("six",)
    # A temporary path is read under the wheel's real name.
    (tmp_path / "download.tmp").write_bytes(data)
    assert read_wheel_metadata(tmp_path / "download.tmp", filename).name == "demo"
    with pytest.raises(MetadataProblem, match=r"METADATA says demo 1\.0 but the file name says demo 2\.0"):
        read_wheel_metadata(tmp_path / "download.tmp", "demo-2.0-py3-none-any.whl")


def test_a_dist_info_named_for_another_project_is_refused_everywhere(tmp_path: Path) -> None:
    # METADATA agrees with the file name, but pip would refuse the wheel for its directory's name.
    path = _zip(
        tmp_path / "demo-1.0-py3-none-any.whl", {"x-1.0.dist-info/METADATA": metadata_text("demo", "1.0").encode()}
    )
    with pytest.raises(MetadataProblem, match="not named for demo"):
        read_wheel_metadata(path)
    with zipfile.ZipFile(path) as zf, pytest.raises(MetadataProblem):
        read_metadata_member(zf, path.name)
    assert any("not named for demo" in f.message for f in inspect_wheel(path).findings)


def test_metadata_over_the_limit_is_refused_whatever_the_header_says(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big-1.0.dist-info/METADATA", metadata_text("big", "1.0").encode() + b"X" * (9 * 1024 * 1024))
    path = tmp_path / "big-1.0-py3-none-any.whl"
    path.write_bytes(buf.getvalue())
    with pytest.raises(MetadataProblem, match="byte limit"):
        read_wheel_metadata(path)
