"""A wheel's METADATA read over HTTP (range requests) or from a find-links folder is located by the store's one
rule (:mod:`wheelhouse.store.metadata`), so the index never accepts a wheel the folder scan would refuse."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from packaging.utils import NormalizedName

from tests.support.index_server import IndexServer
from tests.support.wheels import metadata_text
from wheelhouse.index.config import IndexConfig
from wheelhouse.index.errors import MetadataError
from wheelhouse.index.http import IndexClient

FILENAME = "demo-1.0-py3-none-any.whl"


def _two_dist_infos() -> bytes:
    # pip refuses a wheel with more than one top-level .dist-info directory; the index once took the one named
    # like the file.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("demo-1.0.dist-info/METADATA", metadata_text("demo", "1.0"))
        zf.writestr("other-2.0.dist-info/METADATA", metadata_text("other", "2.0", requires_dist=["evil"]))
    return buf.getvalue()


def test_a_wheel_with_two_dist_info_directories_is_refused_over_http() -> None:
    with IndexServer(core_metadata=False) as srv:
        srv.add(FILENAME, _two_dist_infos())
        with IndexClient(IndexConfig(index_url=srv.index_url), sleep=lambda _s: None) as client:
            (remote,) = client.project_files(NormalizedName("demo"))
            with pytest.raises(MetadataError, match=re.escape("more than one .dist-info directory")):
                client.metadata(remote)
        # Read by ranges, as before: the rule did not cost a whole download.
        assert all(r.header("Range") for r in srv.requests.to(f"/files/{FILENAME}"))


def test_a_wheel_with_two_dist_info_directories_is_refused_from_find_links(tmp_path: Path) -> None:
    (tmp_path / FILENAME).write_bytes(_two_dist_infos())
    with IndexClient(IndexConfig(no_index=True, find_links=(str(tmp_path),))) as client:
        (remote,) = client.project_files(NormalizedName("demo"))
        with pytest.raises(MetadataError, match=re.escape(f"{FILENAME}: more than one .dist-info directory")):
            client.metadata(remote)
