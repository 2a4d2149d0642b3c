"""Source distributions in every archive format pip accepts reach the resolver from an index page (JSON and HTML)
and from a find-links folder; the relevance filters that drop installers and other platforms' wheels keep them."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.utils import NormalizedName

from tests.support.index_server import IndexServer
from wheelhouse.dists import SDIST_SUFFIXES
from wheelhouse.index.config import IndexConfig
from wheelhouse.index.finder import IndexFinder
from wheelhouse.index.http import IndexClient
from wheelhouse.targets import parse_target

LIB = NormalizedName("guess-language-spirit")
# The release that publishes only a .tar.bz2 (pip builds it).
STEM = "guess_language-spirit-0.5.3"


@pytest.mark.parametrize("api", ["json", "html"])
@pytest.mark.parametrize("suffix", SDIST_SUFFIXES)
def test_every_sdist_format_on_an_index_page_is_offered(api: str, suffix: str) -> None:
    target = parse_target("linux/amd64", python="3.12")
    with IndexServer(json_api=api == "json", html_api=api == "html") as srv:
        srv.add(STEM + suffix, b"archive bytes", project=LIB)
        with IndexClient(IndexConfig(index_url=srv.index_url)) as client:
            # With targets the finder sets aside what no target can use: an sdist is not among it.
            (dist,) = IndexFinder(client, [target]).files(LIB)
    assert (dist.filename, dist.kind, str(dist.version)) == (STEM + suffix, "sdist", "0.5.3")


def test_every_sdist_format_in_a_find_links_folder_is_offered(tmp_path: Path) -> None:
    for number, suffix in enumerate(SDIST_SUFFIXES):
        (tmp_path / f"guess_language-spirit-0.5.{number}{suffix}").write_bytes(b"archive bytes")
    (tmp_path / "guess_language-spirit-0.4.0.exe").write_bytes(b"an installer")
    with IndexClient(IndexConfig(no_index=True, find_links=(str(tmp_path),))) as client:
        dists = IndexFinder(client).files(LIB)
    assert sorted(d.filename for d in dists) == sorted(
        f"guess_language-spirit-0.5.{n}{s}" for n, s in enumerate(SDIST_SUFFIXES)
    )
    assert {d.kind for d in dists} == {"sdist"}
