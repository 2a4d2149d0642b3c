"""One PEP 691 negotiation: ``negotiate()``'s rules, and the three index servers choosing alike by it."""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import pytest

from bench.server import BenchIndexServer
from tests.support.index_server import IndexServer
from tests.support.wheels import make_wheel
from wheelhouse.share.serve import (
    HTML_TYPE,
    JSON_TYPE,
    TEXT_HTML,
    UNSATISFIABLE,
    IndexHTTPServer,
    byte_range,
    negotiate,
)
from wheelhouse.share.static_index import build_index
from wheelhouse.store.folder import Store

CASES = [
    # (Accept, query, the answer)
    (None, "", TEXT_HTML),
    ("*/*", "", TEXT_HTML),
    ("text/*", "", TEXT_HTML),
    ("application/*", "", HTML_TYPE),
    (f"{JSON_TYPE}, {HTML_TYPE};q=0.2, text/html;q=0.01", "", JSON_TYPE),  # pip's and wheelhouse's header
    (f"{JSON_TYPE}, {HTML_TYPE}, {TEXT_HTML}", "", JSON_TYPE),  # named with equal weight: the richest
    (f"{TEXT_HTML}, */*;q=0.5", "", TEXT_HTML),
    (f"*/*;q=0.5, {JSON_TYPE}", "", JSON_TYPE),  # named beats reached through a wildcard
    (f"{JSON_TYPE};q=0, */*", "", TEXT_HTML),  # the most specific range decides JSON's weight: 0
    (f"{JSON_TYPE};q=0, text/html", "", TEXT_HTML),
    (f"{JSON_TYPE};Q=0.5, text/html;q=0.4", "", JSON_TYPE),
    ("text/html", f"format={JSON_TYPE}", JSON_TYPE),
    ("text/html", "format=application/vnd.pypi.simple.v1 json", JSON_TYPE),  # an unencoded "+"
    (JSON_TYPE, "format=nonsense", JSON_TYPE),  # an unknown format is ignored
]


@pytest.mark.parametrize(("accept", "query", "expected"), CASES)
def test_negotiate(accept: str | None, query: str, expected: str) -> None:
    assert negotiate(accept, query) == expected


def test_negotiate_among_what_a_server_offers() -> None:
    assert negotiate(JSON_TYPE, "", (HTML_TYPE, TEXT_HTML)) is None
    assert negotiate("image/png") is None
    assert negotiate(None, "", (JSON_TYPE,)) == JSON_TYPE
    assert negotiate("text/html", f"format={JSON_TYPE}", (HTML_TYPE, TEXT_HTML)) == TEXT_HTML


@pytest.mark.parametrize(
    ("header", "size", "span"),
    [
        (None, 10, None),
        ("bytes=2-5", 10, (2, 5)),
        ("bytes=2-", 10, (2, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-30", 10, (0, 9)),
        ("bytes=5-100", 10, (5, 9)),
        ("bytes=10-", 10, UNSATISFIABLE),
        ("bytes=-0", 10, UNSATISFIABLE),
        ("bytes=0-1,4-5", 10, None),  # several ranges: the whole body
        ("items=0-1", 10, None),
    ],
)
def test_byte_range(header: str | None, size: int, span: tuple[int, int] | None) -> None:
    assert byte_range(header, size) == span


@pytest.fixture(scope="module")
def three_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """``wheelhouse serve``'s server, the benchmark server and the tests' index, serving the same wheel."""
    folder = tmp_path_factory.mktemp("wheels")
    filename, data = make_wheel("demo", "1.0")
    (folder / filename).write_bytes(data)
    tree = tmp_path_factory.mktemp("index")
    build_index(Store(folder), tree)
    memory = IndexServer()
    memory.add(filename, data)
    with IndexHTTPServer(tree).start() as serve, BenchIndexServer(tree, None).start() as bench, memory:
        yield [serve.url, bench.url, memory.url]


def _content_type(url: str, headers: dict[str, str]) -> str:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "/simple/demo/", headers=headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        return (response.getheader("Content-Type") or "").split(";")[0]
    finally:
        conn.close()


@pytest.mark.parametrize("accept", [c[0] for c in CASES if not c[1]])
def test_every_server_negotiates_alike(three_servers: list[str], accept: str | None) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    answers = {_content_type(url, headers) for url in three_servers}
    assert answers == {negotiate(accept)}


def test_serve_answers_ranges(three_servers: list[str]) -> None:
    host, port = three_servers[0].removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/files/demo-1.0-py3-none-any.whl", headers={"Range": "bytes=0-3"})
    response = conn.getresponse()
    assert response.status == 206
    assert response.read() == b"PK\x03\x04"
    conn.close()
