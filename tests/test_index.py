"""The remote index client and finder, against the local index server on 127.0.0.1.

Also covers the server itself (pages, ranges, metadata, faults), since every other test builds on it.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import logging
import os
import re
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from packaging.utils import NormalizedName, canonicalize_name

from tests.support.index_server import Fault, IndexServer, RecordedRequest
from tests.support.wheels import make_wheel, metadata_text
from wheelhouse._text import redact, redact_url
from wheelhouse.errors import ConfigError, HashMismatchError, NetworkError
from wheelhouse.index.config import IndexConfig, index_config_from_pip, pip_config_files
from wheelhouse.index.errors import MetadataError
from wheelhouse.index.finder import IndexFinder
from wheelhouse.index.http import IndexClient
from wheelhouse.index.pages import RemoteFile

JSON = "application/vnd.pypi.simple.v1+json"
DEMO = NormalizedName("demo")


class Sleeps(list[float]):
    """Records the client's back-off waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def warnings_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings said on the diagnostics channel during the test."""
    return [r.getMessage() for r in caplog.records if r.name == "wheelhouse" and r.levelno == logging.WARNING]


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def srv() -> Iterator[IndexServer]:
    with IndexServer() as server:
        yield server


def make_client(config: IndexConfig, sleeps: Sleeps | None = None, **kwargs: Any) -> IndexClient:
    return IndexClient(config, backoff=0.01, sleep=sleeps if sleeps is not None else Sleeps(), **kwargs)


@pytest.fixture
def client(srv: IndexServer, sleeps: Sleeps) -> Iterator[IndexClient]:
    with make_client(IndexConfig(index_url=srv.index_url, retries=2, timeout=5), sleeps) as c:
        yield c


def payload(size: int) -> dict[str, bytes]:
    """An incompressible data member for ``make_wheel(files=...)``.

    Used instead of ``payload_size``, whose block loop in tests/support/wheels.py is quadratic (about a minute
    for 2 MB).
    """
    return {"demo/_payload.bin": os.urandom(size)}


def file_route(filename: str) -> str:
    return f"/files/{filename}"


def ranged_bytes(requests_: list[RecordedRequest], size: int) -> int:
    """How many bytes the Range headers of ``requests_`` asked for."""
    total = 0
    for r in requests_:
        header = r.header("Range")
        assert header, f"{r.path} was fetched without a Range header"
        first, last = re.fullmatch(r"bytes=(\d*)-(\d*)", header).groups()  # type: ignore[union-attr]
        total += int(last) if not first else (int(last) if last else size - 1) - int(first) + 1
    return total


# -- the server ------------------------------------------------------------------------------------------------


def test_server_negotiates_json_and_html(srv: IndexServer) -> None:
    filename = srv.add_wheel("Demo_Pkg", "1.0", requires_python=">=3.8,<4")
    with requests.Session() as s:
        page = s.get(f"{srv.index_url}/demo-pkg/", headers={"Accept": JSON})
        assert page.headers["Content-Type"] == JSON
        entry = page.json()["files"][0]
        assert entry["filename"] == filename
        assert entry["requires-python"] == ">=3.8,<4"
        assert entry["core-metadata"] == entry["dist-info-metadata"]
        assert entry["hashes"]["sha256"] == hashlib.sha256(srv.file_bytes(filename)).hexdigest()

        html_page = s.get(f"{srv.index_url}/demo-pkg/")
        assert html_page.headers["Content-Type"].startswith("text/html")
        assert 'data-requires-python="&gt;=3.8,&lt;4"' in html_page.text
        assert f"#sha256={entry['hashes']['sha256']}" in html_page.text

        # PyPI redirects names that are not normalised, and project URLs without the trailing slash.
        redirected = s.get(f"{srv.index_url}/Demo_Pkg", headers={"Accept": JSON})
        assert [r.status_code for r in redirected.history] == [301]
        assert redirected.url.endswith("/simple/demo-pkg/")
        assert s.get(f"{srv.index_url}/").text.count("demo-pkg") == 2  # href and text
        assert s.get(f"{srv.index_url}/missing/").status_code == 404


def test_server_json_only_and_html_only() -> None:
    with IndexServer(html_api=False) as json_only, IndexServer(json_api=False) as html_only:
        for server in (json_only, html_only):
            server.add_wheel("demo", "1.0")
        with requests.Session() as s:
            assert s.get(f"{json_only.index_url}/demo/").headers["Content-Type"] == JSON
            assert s.get(f"{html_only.index_url}/demo/", headers={"Accept": JSON}).status_code == 406


def test_server_ranges_and_metadata(srv: IndexServer) -> None:
    filename = srv.add_wheel("demo", "1.0", files=payload(10_000))
    data = srv.file_bytes(filename)
    url = srv.file_url(filename)
    with requests.Session() as s:
        tail = s.get(url, headers={"Range": "bytes=-100"})
        assert tail.status_code == 206
        assert tail.content == data[-100:]
        assert tail.headers["Content-Range"] == f"bytes {len(data) - 100}-{len(data) - 1}/{len(data)}"
        assert s.get(url, headers={"Range": "bytes=10-19"}).content == data[10:20]
        assert s.get(url, headers={"Range": f"bytes={len(data)}-"}).status_code == 416
        assert s.get(url).content == data
        metadata = s.get(url + ".metadata")
        assert metadata.content == metadata_text("demo", "1.0").encode()
    with IndexServer(range_requests=False, core_metadata=False) as plain:
        plain.add(filename, data)
        with requests.Session() as s:
            ignored = s.get(plain.file_url(filename), headers={"Range": "bytes=-100"})
            assert ignored.status_code == 200
            assert ignored.content == data
            assert s.get(plain.file_url(filename) + ".metadata").status_code == 404


def test_server_faults_fire_the_given_number_of_times(srv: IndexServer) -> None:
    srv.add_wheel("demo", "1.0")
    injection = srv.inject("/simple/demo/", Fault.error(503, retry_after=7), times=2)
    srv.inject(re.compile(r"^/simple/"), Fault.replace(b"{not json", content_type=JSON), times=1)
    with requests.Session() as s:
        first = s.get(f"{srv.index_url}/demo/")
        assert (first.status_code, first.headers["Retry-After"]) == (503, "7")
        assert s.get(f"{srv.index_url}/demo/").status_code == 503
        assert s.get(f"{srv.index_url}/demo/").content == b"{not json"
        assert s.get(f"{srv.index_url}/demo/").status_code == 200
    assert injection.hits == 2
    assert [r.route for r in srv.requests] == ["/simple/demo/"] * 4
    srv.requests.clear()
    assert srv.requests == []


# -- project pages ---------------------------------------------------------------------------------------------


def publish_demo(server: IndexServer) -> None:
    server.add_wheel("demo", "1.0", requires_python=">=3.8,<4")
    server.add_wheel("demo", "0.9", yanked="broken build")
    server.add_wheel("demo", "0.8", yanked="")
    server.add_wheel("demo", "1.0", tag="cp312-cp312-manylinux_2_17_x86_64")
    server.add_sdist("demo", "1.0")


def portable(files: tuple[RemoteFile, ...], server: IndexServer) -> list[RemoteFile]:
    # HTML pages carry no size; URLs differ by port. Everything else must agree.
    return [dataclasses.replace(f, url=f.url.removeprefix(server.url), index_url="", size=None) for f in files]


def test_json_and_html_indexes_give_the_same_files() -> None:
    with IndexServer(html_api=False) as json_srv, IndexServer(json_api=False) as html_srv:
        publish_demo(json_srv)
        publish_demo(html_srv)
        with (
            make_client(IndexConfig(index_url=json_srv.index_url)) as json_client,
            make_client(IndexConfig(index_url=html_srv.index_url)) as html_client,
        ):
            from_json = json_client.project_files(DEMO)
            from_html = html_client.project_files(DEMO)
        assert len(from_json) == 5
        assert portable(from_json, json_srv) == portable(from_html, html_srv)
        assert all(f.size for f in from_json)
        assert (json_srv.requests[0].header("Accept") or "").startswith(JSON)


def test_requires_python_yanked_and_hashes_are_parsed(client: IndexClient, srv: IndexServer) -> None:
    publish_demo(srv)
    files = {f.filename: f for f in client.project_files(DEMO)}
    current = files["demo-1.0-py3-none-any.whl"]
    assert current.requires_python == ">=3.8,<4"
    assert current.yanked is None
    assert current.sha256 == hashlib.sha256(srv.file_bytes(current.filename)).hexdigest()
    assert current.core_metadata
    assert current.metadata_sha256
    assert current.url == srv.file_url(current.filename)  # relative link resolved against the page
    assert current.index_url == srv.index_url
    assert files["demo-0.9-py3-none-any.whl"].yanked == "broken build"
    assert files["demo-0.8-py3-none-any.whl"].yanked == ""
    assert files["demo-1.0.tar.gz"].core_metadata is False


def test_project_pages_are_cached_and_404_means_no_files(client: IndexClient, srv: IndexServer) -> None:
    publish_demo(srv)
    assert client.project_files(NormalizedName("nothing-here")) == ()
    first = client.project_files(DEMO)
    assert client.project_files(DEMO) is first
    assert [r.route for r in srv.requests] == ["/simple/nothing-here/", "/simple/demo/"]
    assert client.request_count == 2


def test_concurrent_callers_share_one_fetch(client: IndexClient, srv: IndexServer) -> None:
    publish_demo(srv)
    srv.inject("/simple/demo/", Fault.slow(0.2))
    results: list[tuple[RemoteFile, ...]] = []
    threads = [threading.Thread(target=lambda: results.append(client.project_files(DEMO))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(srv.requests.to("/simple/demo/")) == 1
    assert all(r == results[0] for r in results)
    assert len(results) == 6


def test_relative_links_resolve_against_the_page_after_redirects(srv: IndexServer, sleeps: Sleeps) -> None:
    publish_demo(srv)
    srv.inject("/deep/a/b/demo/", Fault.redirect("/simple/demo/", status=301))
    with make_client(IndexConfig(index_url=f"{srv.url}/deep/a/b"), sleeps) as c:
        files = c.project_files(DEMO)
        assert {urlsplit(f.url).path for f in files} == {file_route(f.filename) for f in files}
        assert c.request_count == 2  # the redirect counts


def test_extra_indexes_and_no_index(srv: IndexServer, sleeps: Sleeps) -> None:
    srv.add_wheel("demo", "1.0")
    with IndexServer(json_api=False) as extra:
        extra.add_wheel("demo", "2.0")
        config = IndexConfig(index_url=srv.index_url, extra_index_urls=(extra.index_url,))
        with make_client(config, sleeps) as c:
            assert [f.filename for f in c.project_files(DEMO)] == [
                "demo-1.0-py3-none-any.whl",
                "demo-2.0-py3-none-any.whl",
            ]
        with make_client(dataclasses.replace(config, no_index=True), sleeps) as c:
            assert c.project_files(DEMO) == ()
        assert len(extra.requests) == 1


def test_find_links_directory_html_file_and_remote_page(
    srv: IndexServer, tmp_path: Path, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    links = tmp_path / "links"
    links.mkdir()
    for name, version in [("demo", "1.1"), ("other", "1.0")]:
        filename, data = make_wheel(name, version)
        (links / filename).write_bytes(data)
    (links / "notes.txt").write_text("not a distribution")
    page = tmp_path / "page.html"
    page.write_text(
        '<a href="links/demo-1.1-py3-none-any.whl">demo</a><a href="links/other-1.0-py3-none-any.whl">x</a>'
    )
    srv.add_wheel("demo", "1.2")
    config = IndexConfig(
        no_index=True,
        find_links=(str(links), page.as_uri(), f"{srv.index_url}/demo/", str(tmp_path / "missing")),
    )
    with make_client(config, sleeps) as c:
        files = c.project_files(DEMO)
        # The directory and the page list the same local file: it appears once.
        assert [f.filename for f in files] == ["demo-1.1-py3-none-any.whl", "demo-1.2-py3-none-any.whl"]
        assert files[0].url == (links / "demo-1.1-py3-none-any.whl").resolve().as_uri()
        assert files[0].size == (links / "demo-1.1-py3-none-any.whl").stat().st_size
        assert files[1].sha256 is not None
        assert any("missing" in w for w in warnings_in(caplog))
        assert c.metadata(files[0]).startswith(b"Metadata-Version")
        dest = tmp_path / "dl.whl"
        assert c.download(files[0], dest) == hashlib.sha256(dest.read_bytes()).hexdigest()


def test_static_file_index(tmp_path: Path, sleeps: Sleeps) -> None:
    filename, data = make_wheel("demo", "1.0")
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / filename).write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    project = tmp_path / "simple" / "demo"
    project.mkdir(parents=True)
    (project / "index.html").write_text(f'<a href="../../files/{filename}#sha256={digest}">{filename}</a>')
    with make_client(IndexConfig(index_url=(tmp_path / "simple").as_uri()), sleeps) as c:
        (remote,) = c.project_files(DEMO)
        assert remote.sha256 == digest
        assert c.project_files(NormalizedName("absent")) == ()
        assert c.metadata(remote) == metadata_text("demo", "1.0").encode()
        assert c.download(remote, tmp_path / "out.whl") == digest
        assert c.request_count == 0


def test_invalid_pages_raise_network_error(client: IndexClient, srv: IndexServer) -> None:
    srv.add_wheel("demo", "1.0")
    srv.add_wheel("other", "1.0")
    srv.add_wheel("third", "1.0")
    srv.inject("/simple/demo/", Fault.replace(b'{"files": [', content_type=JSON))
    srv.inject("/simple/other/", Fault.replace(b"\xff\xfe<a href=x>", content_type="text/html; charset=utf-8"))
    srv.inject("/simple/third/", Fault.replace(b'{"meta": {"api-version": "2.0"}, "files": []}', content_type=JSON))
    with pytest.raises(NetworkError, match=r"/simple/demo/: invalid JSON index page"):
        client.project_files(DEMO)
    with pytest.raises(NetworkError, match=r"/simple/other/: the index page is not valid utf-8"):
        client.project_files(NormalizedName("other"))
    with pytest.raises(NetworkError, match=r"API version 2.0"):
        client.project_files(NormalizedName("third"))


# -- retries ---------------------------------------------------------------------------------------------------


def test_503_with_retry_after_is_retried(client: IndexClient, srv: IndexServer, sleeps: Sleeps) -> None:
    srv.add_wheel("demo", "1.0")
    srv.inject("/simple/demo/", Fault.error(503, retry_after=2), times=2)
    assert len(client.project_files(DEMO)) == 1
    assert len(srv.requests.to("/simple/demo/")) == 3
    assert client.request_count == 3
    assert sleeps == [2.0, 2.0]  # Retry-After beats the short backoff


def test_backoff_grows_and_is_capped(srv: IndexServer, sleeps: Sleeps) -> None:
    srv.add_wheel("demo", "1.0")
    srv.inject("/simple/demo/", Fault.error(502), times=3)
    srv.inject("/simple/demo/", Fault.error(429, retry_after=3600), times=1)
    with make_client(IndexConfig(index_url=srv.index_url, retries=5), sleeps, max_wait=5.0) as c:
        assert len(c.project_files(DEMO)) == 1
    assert sleeps == [0.01, 0.02, 0.04, 5.0]


def test_retries_exhausted_raise_network_error(client: IndexClient, srv: IndexServer) -> None:
    srv.add_wheel("demo", "1.0")
    srv.inject("/simple/demo/", Fault.error(500), times=None)
    with pytest.raises(
        NetworkError, match=r"cannot fetch http://127\.0\.0\.1:\d+/simple/demo/: HTTP 500 \(3 attempts\)"
    ):
        client.project_files(DEMO)
    assert len(srv.requests) == 3
    # The failure is remembered: asking again does not hammer the index.
    with pytest.raises(NetworkError):
        client.project_files(DEMO)
    assert len(srv.requests) == 3


def test_connection_reset_and_timeout_are_retried(srv: IndexServer, sleeps: Sleeps) -> None:
    srv.add_wheel("demo", "1.0")
    srv.inject("/simple/demo/", Fault.reset(at=0))
    srv.inject("/simple/demo/", Fault.slow(0.5))
    with make_client(IndexConfig(index_url=srv.index_url, timeout=0.2, retries=2), sleeps) as c:
        assert len(c.project_files(DEMO)) == 1
    assert len(srv.requests) == 3


def test_client_errors_are_not_retried(client: IndexClient, srv: IndexServer) -> None:
    srv.inject("/simple/demo/", Fault.error(403), times=None)
    with pytest.raises(NetworkError, match="HTTP 403") as info:
        client.project_files(DEMO)
    assert info.value.hint
    assert "credentials" in info.value.hint
    assert len(srv.requests) == 1


# -- metadata --------------------------------------------------------------------------------------------------


def test_core_metadata_is_used_when_offered(client: IndexClient, srv: IndexServer) -> None:
    filename = srv.add_wheel("demo", "1.0", requires_dist=["idna>=3"], files=payload(100_000))
    (remote,) = client.project_files(DEMO)
    assert b"Requires-Dist: idna>=3" in client.metadata(remote)
    assert client.metadata(remote) is client.metadata(remote)
    routes = [r.route for r in srv.requests]
    assert routes == ["/simple/demo/", file_route(filename) + ".metadata"]
    assert not srv.requests.to(file_route(filename))


def test_core_metadata_hash_is_verified(client: IndexClient, srv: IndexServer) -> None:
    filename = srv.add_wheel("demo", "1.0")
    srv.inject(file_route(filename) + ".metadata", Fault.replace(b"Name: evil\nVersion: 6.6.6\n"))
    (remote,) = client.project_files(DEMO)
    with pytest.raises(HashMismatchError) as info:
        client.metadata(remote)
    assert info.value.expected == remote.metadata_sha256
    assert info.value.url.endswith(".metadata")


def test_range_requests_read_only_the_zip_directory(srv: IndexServer, sleeps: Sleeps) -> None:
    with IndexServer(core_metadata=False) as plain:
        filename = plain.add_wheel("demo", "1.0", requires_dist=["idna>=3"], files=payload(2_000_000))
        size = len(plain.file_bytes(filename))
        with make_client(IndexConfig(index_url=plain.index_url), sleeps) as c:
            (remote,) = c.project_files(DEMO)
            assert not remote.core_metadata
            assert b"Requires-Dist: idna>=3" in c.metadata(remote)
        fetches = plain.requests.to(file_route(filename))
        assert fetches
        assert all(r.header("Range") for r in fetches)
        assert ranged_bytes(fetches, size) < size // 20
        assert not plain.requests.to(file_route(filename) + ".metadata")


def test_range_requests_reach_a_member_far_from_the_end(sleeps: Sleeps) -> None:
    # METADATA first, then 2 MB: the tail holds the directory but not the member.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("demo-1.0.dist-info/METADATA", metadata_text("demo", "1.0", requires_dist=["six"]))
        zf.writestr("demo/_payload.bin", os.urandom(2_000_000))
        zf.writestr("demo-1.0.dist-info/RECORD", "")
    data = buf.getvalue()
    with IndexServer(core_metadata=False) as plain:
        plain.add("demo-1.0-py3-none-any.whl", data)
        with make_client(IndexConfig(index_url=plain.index_url), sleeps) as c:
            (remote,) = c.project_files(DEMO)
            assert b"Requires-Dist: six" in c.metadata(remote)
        fetches = plain.requests.to(file_route(remote.filename))
        assert len(fetches) == 2
        assert ranged_bytes(fetches, len(data)) < len(data) // 20


def test_whole_file_when_the_server_ignores_range(sleeps: Sleeps) -> None:
    with IndexServer(core_metadata=False, range_requests=False) as plain:
        filename = plain.add_wheel("demo", "1.0", files=payload(200_000))
        with make_client(IndexConfig(index_url=plain.index_url), sleeps) as c:
            (remote,) = c.project_files(DEMO)
            assert c.metadata(remote) == metadata_text("demo", "1.0").encode()
        # The 200 answer to the ranged request is used as is: one request, not two.
        assert len(plain.requests.to(file_route(filename))) == 1


def test_whole_file_metadata_is_hash_checked(sleeps: Sleeps) -> None:
    with IndexServer(core_metadata=False, range_requests=False) as plain:
        filename = plain.add_wheel("demo", "1.0")
        _, other = make_wheel("demo", "1.0", requires_dist=["evil"])
        plain.inject(file_route(filename), Fault.replace(other))
        with make_client(IndexConfig(index_url=plain.index_url), sleeps) as c:
            (remote,) = c.project_files(DEMO)
            with pytest.raises(HashMismatchError):
                c.metadata(remote)


# -- downloads -------------------------------------------------------------------------------------------------


def test_download_streams_and_returns_the_sha256(client: IndexClient, srv: IndexServer, tmp_path: Path) -> None:
    filename = srv.add_wheel("demo", "1.0", files=payload(300_000))
    (remote,) = client.project_files(DEMO)
    progress: list[int] = []
    dest = tmp_path / "demo.part"
    assert client.download(remote, dest, on_progress=progress.append) == remote.sha256
    assert dest.read_bytes() == srv.file_bytes(filename)
    assert len(progress) > 1
    assert progress == sorted(progress)
    assert progress[-1] == remote.size
    assert srv.requests.to(file_route(filename))[0].header("Accept-Encoding") == "identity"


def test_bodies_larger_than_a_write_batch_land_byte_for_byte(
    client: IndexClient, srv: IndexServer, tmp_path: Path
) -> None:
    """A body is written and hashed in batches through one buffer per thread: a body spanning several batches,
    and a smaller one after it through the same buffer, each land exactly as served."""
    from wheelhouse.index import transport

    big = srv.add_wheel("demo", "1.0", files=payload(2 * transport._BATCH_SIZE + 12_345))
    small = srv.add_wheel("demo", "1.1", files=payload(40_000))
    remotes = {r.filename: r for r in client.project_files(DEMO)}
    assert (remotes[big].size or 0) > 2 * transport._BATCH_SIZE
    for filename in (big, small, big):
        dest = tmp_path / f"{filename}.part"
        assert client.download(remotes[filename], dest) == remotes[filename].sha256
        assert dest.read_bytes() == srv.file_bytes(filename)


def test_a_write_that_fails_mid_body_is_a_store_error(
    client: IndexClient, srv: IndexServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wheelhouse.errors import StoreError
    from wheelhouse.index import transport

    filename = srv.add_wheel("demo", "1.0", files=payload(transport._BATCH_SIZE + 5_000))
    (remote,) = client.project_files(DEMO)
    real_open = Path.open

    class FullDisk(io.FileIO):
        def write(self, data: Any) -> int:
            raise OSError(28, "No space left on device")

    def open_full(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        return FullDisk(self, "wb") if mode == "wb" else real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_full)
    dest = tmp_path / "demo.part"
    with pytest.raises(StoreError, match=r"cannot write the download of .*No space left on device"):
        client.download(remote, dest)
    assert not dest.exists()
    assert len(srv.requests.to(file_route(filename))) == 1


def test_download_hash_mismatch_leaves_no_file(client: IndexClient, srv: IndexServer, tmp_path: Path) -> None:
    filename = srv.add_wheel("demo", "1.0")
    wrong = b"x" * len(srv.file_bytes(filename))
    srv.inject(file_route(filename), Fault.replace(wrong))
    (remote,) = client.project_files(DEMO)
    dest = tmp_path / "demo.part"
    with pytest.raises(HashMismatchError) as info:
        client.download(remote, dest)
    assert info.value.url == remote.url
    assert info.value.expected == remote.sha256
    assert info.value.actual == hashlib.sha256(wrong).hexdigest()
    assert str(info.value).startswith(f"hash mismatch for {remote.url}")
    assert not dest.exists()


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        (Fault.truncate(at=1000), "truncated body: received 1000 of|IncompleteRead"),
        # A reset may drop bytes already in flight, so the count received is not fixed.
        (Fault.reset(at=1000), r"connection lost after \d+ bytes"),
    ],
    ids=["truncated", "reset"],
)
def test_download_cut_short_fails_after_retries(
    client: IndexClient, srv: IndexServer, tmp_path: Path, fault: Fault, cause: str
) -> None:
    filename = srv.add_wheel("demo", "1.0", files=payload(100_000))
    srv.inject(file_route(filename), fault, times=None)
    (remote,) = client.project_files(DEMO)
    dest = tmp_path / "demo.part"
    with pytest.raises(NetworkError, match=rf"cannot fetch {re.escape(remote.url)}: .*({cause}).*\(3 attempts\)"):
        client.download(remote, dest)
    assert not dest.exists()
    assert len(srv.requests.to(file_route(filename))) == 3


def test_download_cut_short_once_is_retried(client: IndexClient, srv: IndexServer, tmp_path: Path) -> None:
    filename = srv.add_wheel("demo", "1.0", files=payload(100_000))
    srv.inject(file_route(filename), Fault.truncate(at=5000))
    (remote,) = client.project_files(DEMO)
    dest = tmp_path / "demo.part"
    assert client.download(remote, dest) == remote.sha256
    assert dest.read_bytes() == srv.file_bytes(filename)


# -- the finder ------------------------------------------------------------------------------------------------


def test_finder_lists_dist_files_and_reads_wheel_metadata(
    client: IndexClient, srv: IndexServer, caplog: pytest.LogCaptureFixture
) -> None:
    publish_demo(srv)
    finder = IndexFinder(client)
    dists = {d.filename: d for d in finder.files(DEMO)}
    wheel = dists["demo-1.0-py3-none-any.whl"]
    assert (wheel.kind, str(wheel.version), wheel.local) == ("wheel", "1.0", False)
    assert wheel.location == srv.file_url(wheel.filename)
    assert wheel.requires_python == ">=3.8,<4"
    assert dists["demo-0.9-py3-none-any.whl"].yanked == "broken build"
    meta = finder.metadata(wheel)
    assert (meta.name, meta.version, meta.requires_python) == ("demo", "1.0", ">=3.8,<4")
    assert finder.remote_file(wheel).sha256 == wheel.sha256
    with pytest.raises(MetadataError, match="source distribution"):
        finder.metadata(dists["demo-1.0.tar.gz"])
    assert warnings_in(caplog) == []


@pytest.mark.parametrize("api", ["json", "html"])
def test_finder_skips_hostile_file_names(api: str, sleeps: Sleeps, caplog: pytest.LogCaptureFixture) -> None:
    _, good = make_wheel("demo", "1.0")
    hostile = [
        "../demo-1.0-py3-none-any.whl",
        "..\\demo-1.0-py3-none-any.whl",
        "/etc/demo-1.0-py3-none-any.whl",
        "sub/demo-1.0-py3-none-any.whl",
        "demo-1.0-py3-none-any.whl\x00.txt",
        "C:demo-1.0-py3-none-any.whl",
        "demo-1.0-py3-none-any.exe",
        "demo-1.0..tar.gz",
        "demo-notaversion-py3-none-any.whl",
        "other-1.0-py3-none-any.whl",
    ]
    with IndexServer(json_api=api == "json", html_api=api == "html") as server:
        server.add("demo-1.0-py3-none-any.whl", good)
        for name in hostile:
            server.add(name, good, project="demo")
        with make_client(IndexConfig(index_url=server.index_url), sleeps) as c:
            finder = IndexFinder(c)
            assert [d.filename for d in finder.files(DEMO)] == ["demo-1.0-py3-none-any.whl"]
            # Installers, eggs and names no installer parses are everyday index content, not hostile: skipped
            # without a warning.
            said = warnings_in(caplog)
            assert len(said) == len(hostile) - 2
            assert not any("notaversion" in w for w in said)
            assert not any(".exe" in w for w in said)
            assert any("belongs to other" in w for w in said)


def test_finder_refuses_metadata_of_another_project(client: IndexClient, srv: IndexServer) -> None:
    _, impostor = make_wheel("evil", "6.6.6")
    srv.add("demo-1.0-py3-none-any.whl", impostor)
    finder = IndexFinder(client)
    (dist,) = finder.files(DEMO)
    with pytest.raises(MetadataError, match=re.escape("says evil 6.6.6, not demo 1.0")):
        finder.metadata(dist)


# -- credentials, certificates, headers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:s3cret@example.org/simple", "https://user:****@example.org/simple"),
        ("https://token@example.org:8443/simple/", "https://****@example.org:8443/simple/"),
        ("https://user:p%40ss@example.org/", "https://user:****@example.org/"),
        ("https://example.org/simple", "https://example.org/simple"),
        ("/local/path/wheels", "/local/path/wheels"),
        ("https://example.org/simple/?token=s3cret", "https://example.org/simple/?token=****"),
        (
            "https://u:pw@example.org/x.whl?sig=s3cret&expires=9",
            "https://u:****@example.org/x.whl?sig=****&expires=****",
        ),
        ("http://[::1/simple/?token=s3cret", "http://[::1/simple/?token=****"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_query_token_in_a_message_is_redacted() -> None:
    message = "cannot fetch https://host/simple/pkg/?token=s3cret#frag: HTTP 403 (see https://u:pw@h/?a=1&b=2)"
    assert (
        redact(message)
        == "cannot fetch https://host/simple/pkg/?token=****#frag: HTTP 403 (see https://u:****@h/?a=****&b=****)"
    )


def test_credentials_are_sent_but_never_shown(srv: IndexServer, sleeps: Sleeps, tmp_path: Path) -> None:
    filename = srv.add_wheel("demo", "1.0")
    secret_url = srv.index_url.replace("http://", "http://alice:s3cret@")
    config = IndexConfig(index_url=secret_url, retries=0)
    assert "s3cret" not in repr(config)
    with make_client(config, sleeps) as c:
        (remote,) = c.project_files(DEMO)
        assert "s3cret" not in remote.url + remote.index_url
        srv.inject(file_route(filename), Fault.error(500))
        with pytest.raises(NetworkError) as info:
            c.download(remote, tmp_path / "x.part")
        assert "s3cret" not in str(info.value)
        (dist,) = IndexFinder(c).files(DEMO)
        assert "s3cret" not in dist.location
    # Sent as basic auth to the index host, on the page and on the file it links.
    assert all((r.header("Authorization") or "").startswith("Basic ") for r in srv.requests)


def test_user_agent_and_cert_override_the_environment(
    srv: IndexServer, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv.add_wheel("demo", "1.0")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/environment/bundle.pem")

    class RecordingSession(requests.Session):
        def __init__(self) -> None:
            super().__init__()
            self.verify_seen: list[object] = []

        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            self.verify_seen.append(kwargs.get("verify"))
            return super().send(request, **kwargs)

    for cert, expected in [("/my/ca.pem", "/my/ca.pem"), (None, "/environment/bundle.pem")]:
        with RecordingSession() as session:
            config = IndexConfig(index_url=srv.index_url, cert=cert)
            with make_client(config, sleeps, session=session) as c:
                c.project_files(DEMO)
            assert session.verify_seen == [expected]
    with make_client(IndexConfig(index_url=srv.index_url), sleeps) as c:
        c.project_files(DEMO)
    assert (srv.requests[-1].header("User-Agent") or "").startswith("wheelhouse/")


# -- pip configuration -----------------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def pip_home(tmp_path: Path) -> dict[str, str]:
    """An environ whose config paths all live under tmp_path; nothing of the machine's pip setup leaks in."""
    return {"HOME": str(tmp_path / "home"), "XDG_CONFIG_DIRS": str(tmp_path / "xdg")}


def test_pip_config_files_follow_pip_order(tmp_path: Path, pip_home: dict[str, str]) -> None:
    env = {**pip_home, "VIRTUAL_ENV": str(tmp_path / "venv")}
    files = pip_config_files(env, platform="linux")
    assert files == (
        ("global", tmp_path / "xdg/pip/pip.conf"),
        ("global", Path("/etc/pip.conf")),
        ("user", tmp_path / "home/.pip/pip.conf"),
        ("user", tmp_path / "home/.config/pip/pip.conf"),
        ("site", tmp_path / "venv/pip.conf"),
    )
    custom = write(tmp_path / "custom.conf", "")
    with_file = pip_config_files({**env, "PIP_CONFIG_FILE": str(custom)}, system_files=(), platform="linux")
    # An existing PIP_CONFIG_FILE replaces the user files and comes last, overriding the others.
    assert with_file == (("site", tmp_path / "venv/pip.conf"), ("env", custom))
    assert pip_config_files({**env, "PIP_CONFIG_FILE": os.devnull}) == ()


def test_index_config_precedence(tmp_path: Path, pip_home: dict[str, str]) -> None:
    system = write(tmp_path / "etc/pip.conf", "[global]\nindex-url = https://system/simple\ntimeout = 5\n")
    write(tmp_path / "home/.pip/pip.conf", "[global]\nindex-url = https://legacy/simple\ncert = /legacy.pem\n")
    user = write(
        tmp_path / "home/.config/pip/pip.conf",
        "[global]\nindex-url = https://user/simple\nextra-index-url =\n    https://e1/simple\n    https://e2/simple\n"
        "[install]\nfind-links = /install-only\n",
    )
    venv = write(tmp_path / "venv/pip.conf", "[download]\nfind-links = /links-a /links-b\nretries = 7\n")
    env = {
        **pip_home,
        "VIRTUAL_ENV": str(venv.parent),
        "PIP_EXTRA_INDEX_URL": "https://x1/simple  https://x2/simple",
        "PIP_DEFAULT_TIMEOUT": "9",
        "PIP_NO_INDEX": "",  # empty: ignored
    }
    config = index_config_from_pip(env, system_files=[system])
    assert config == IndexConfig(
        index_url="https://user/simple",
        extra_index_urls=("https://x1/simple", "https://x2/simple"),
        find_links=("/links-a", "/links-b"),
        cert="/legacy.pem",
        timeout=9.0,
        retries=7,
    )
    sources = dict(config.sources)
    assert sources["index_url"] == f"{user} [global]"
    assert sources["find_links"] == f"{venv} [download]"
    assert sources["extra_index_urls"] == "environment PIP_EXTRA_INDEX_URL"
    assert sources["timeout"] == "environment PIP_DEFAULT_TIMEOUT"


def test_download_section_beats_global_from_any_file(tmp_path: Path, pip_home: dict[str, str]) -> None:
    # pip merges files first, then sections: [download] in the system file wins over the user's [global].
    system = write(tmp_path / "etc/pip.conf", "[download]\nindex-url = https://system-download/simple\n")
    write(tmp_path / "home/.config/pip/pip.conf", "[global]\nindex-url = https://user/simple\n")
    config = index_config_from_pip(pip_home, system_files=[system])
    assert config.index_url == "https://system-download/simple"
    config = index_config_from_pip({**pip_home, "PIP_INDEX_URL": "https://env/simple"}, system_files=[system])
    assert config.index_url == "https://env/simple"


def test_pip_config_file_variable(tmp_path: Path, pip_home: dict[str, str]) -> None:
    write(tmp_path / "home/.config/pip/pip.conf", "[global]\nindex-url = https://user/simple\ncert = /user.pem\n")
    system = write(tmp_path / "etc/pip.conf", "[global]\nindex-url = https://system/simple\nretries = 1\n")
    chosen = write(tmp_path / "chosen.conf", "[global]\nindex-url = https://chosen/simple\n")
    config = index_config_from_pip({**pip_home, "PIP_CONFIG_FILE": str(chosen)}, system_files=[system])
    assert (config.index_url, config.cert, config.retries) == ("https://chosen/simple", None, 1)
    disabled = index_config_from_pip(
        {**pip_home, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "yes"}, system_files=[system]
    )
    assert disabled == IndexConfig(no_index=True)


def test_isolated_and_empty_environments_give_defaults(tmp_path: Path, pip_home: dict[str, str]) -> None:
    system = write(tmp_path / "etc/pip.conf", "[global]\nindex-url = https://system/simple\n")
    env = {**pip_home, "PIP_INDEX_URL": "https://env/simple"}
    assert index_config_from_pip(env, isolated=True, system_files=[system]) == IndexConfig(isolated=True)
    assert index_config_from_pip({}, system_files=()) == IndexConfig()


def test_bad_pip_values_name_their_source(tmp_path: Path, pip_home: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="environment PIP_NO_INDEX: 'maybe' is not a boolean"):
        index_config_from_pip({**pip_home, "PIP_NO_INDEX": "maybe"}, system_files=())
    broken = write(tmp_path / "etc/pip.conf", "[global]\ntimeout = soon\n")
    with pytest.raises(ConfigError, match=re.escape(f"{broken} [global]: invalid timeout value 'soon'")):
        index_config_from_pip(pip_home, system_files=[broken])
    garbage = write(tmp_path / "etc/garbage.conf", "index-url = no section\n")
    with pytest.raises(ConfigError, match="cannot parse pip configuration"):
        index_config_from_pip(pip_home, system_files=[garbage])


def test_canonical_names_are_used_for_pages(client: IndexClient, srv: IndexServer) -> None:
    srv.add_wheel("Zope.Interface", "6.0")
    assert len(client.project_files(canonicalize_name("Zope.Interface"))) == 1
    assert [r.route for r in srv.requests] == ["/simple/zope-interface/"]
    assert json.loads(requests.get(f"{srv.index_url}/", headers={"Accept": JSON}, timeout=5).content)["projects"]


def test_finder_skips_other_platforms_and_formats_quietly_and_answers_once(
    client: IndexClient, srv: IndexServer, caplog: pytest.LogCaptureFixture
) -> None:
    for tag in ("cp312-cp312-win_amd64", "cp312-cp312-macosx_11_0_arm64", "cp312-cp312-manylinux_2_17_x86_64"):
        srv.add_wheel("demo", "1.0", tag=tag)
    _, data = make_wheel("demo", "0.5")
    srv.add("demo-0.5-py2.7.egg", data, project="demo")
    finder = IndexFinder(client)
    first = finder.files(DEMO)
    assert [d.filename for d in first] == ["demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"]
    assert warnings_in(caplog) == []
    srv.requests.clear()
    assert finder.files(DEMO) is first
    assert srv.requests.snapshot() == []


def test_an_oversized_project_page_is_refused(
    client: IndexClient, srv: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wheelhouse.index.transport as transport_module

    for version in range(40):
        srv.add_wheel("demo", f"1.{version}")
    monkeypatch.setattr(transport_module, "MAX_PAGE_BYTES", 2000)
    with pytest.raises(NetworkError, match="over"):
        client.project_files(DEMO)


@pytest.mark.parametrize("inflated", [1500, 100_000], ids=["within-the-bound", "over-the-bound"])
def test_a_compressed_project_page_is_bounded_by_what_it_inflates_to(
    client: IndexClient, srv: IndexServer, monkeypatch: pytest.MonkeyPatch, inflated: int
) -> None:
    """A page whose body is compressed is read in bounded pieces, however small its declared length: a few
    hundred bytes can inflate to gigabytes. One within the bound is read as any other."""
    import gzip

    import wheelhouse.index.transport as transport_module
    from tests.support.index_server import JSON_TYPE

    srv.add_wheel("demo", "1.0")  # the page exists; its body is replaced
    entry = {"filename": "demo-1.0.tar.gz", "url": f"{srv.url}/files/demo-1.0.tar.gz", "hashes": {}}
    page = json.dumps({"meta": {"api-version": "1.0"}, "files": [entry], "padding": ""}).encode()
    page = page.replace(b'"padding": ""', b'"padding": "' + b" " * (inflated - len(page)) + b'"')
    packed = gzip.compress(page)
    assert len(packed) < 2000
    gzipped = Fault(headers=(("Content-Encoding", "gzip"),), body=packed, content_type=JSON_TYPE)
    srv.inject("/simple/demo/", gzipped, times=None)
    monkeypatch.setattr(transport_module, "MAX_PAGE_BYTES", 2000)
    if inflated > 2000:
        with pytest.raises(NetworkError, match="over 2000 bytes"):
            client.project_files(DEMO)
    else:
        assert [f.filename for f in client.project_files(DEMO)] == ["demo-1.0.tar.gz"]


def test_a_project_page_cut_short_of_its_declared_length_is_retried(
    client: IndexClient, srv: IndexServer, sleeps: Sleeps
) -> None:
    srv.add_wheel("demo", "1.0")
    srv.inject("/simple/demo/", Fault.truncate(at=10))
    assert [f.filename for f in client.project_files(DEMO)] == ["demo-1.0-py3-none-any.whl"]
    assert len(srv.requests.to("/simple/demo/")) == 2


def test_netrc_credentials_are_sent_and_the_environment_is_read_once_per_host(
    srv: IndexServer, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for version in ("1.0", "1.1"):
        srv.add_wheel("demo", version)
    srv.add_wheel("other", "1.0")
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login netrc-user password netrc-pass\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    looked_up: list[str] = []
    original = requests.utils.get_environ_proxies

    def counting(url: str, no_proxy: str | None = None) -> dict[str, str]:
        looked_up.append(url)
        return dict(original(url, no_proxy))

    monkeypatch.setattr(requests.utils, "get_environ_proxies", counting)
    with make_client(IndexConfig(index_url=srv.index_url), sleeps) as c:
        c.project_files(DEMO)
        c.project_files(NormalizedName("other"))
        for f in c.project_files(DEMO):
            c.download(f, tmp_path / f.filename)
    assert len(looked_up) == 1
    expected = "Basic " + base64.b64encode(b"netrc-user:netrc-pass").decode()
    assert {r.header("Authorization") for r in srv.requests} == {expected}
