"""A hostile or broken index, as the index client and the download pipeline meet it.

Credentials go to the origin they were given for and to no other, however a listed URL is spelled; a body that
trickles, never ends or is longer than asked for is cut off in bounded time and memory; header values no
parser expects, a project page that lists local files, or two different files under one name end in one line
(or a warning) and never in a traceback, a hang, a local file read at an index's request, or bytes in the
folder that the plan did not choose.

Most cases use the local index (``tests.support.index_server``); those that need a reply it cannot give (a
status line of one's own, a body that never ends) use :class:`RawServer`, a socket on 127.0.0.1 answering
with exactly the bytes a test writes.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from packaging.utils import NormalizedName

from tests.conftest import Cli
from tests.support.index_server import JSON_TYPE, Fault, IndexServer
from tests.support.wheels import make_wheel
from wheelhouse.errors import HashMismatchError, NetworkError
from wheelhouse.index.config import IndexConfig
from wheelhouse.index.http import IndexClient
from wheelhouse.store.folder import PARTIAL_PREFIX

TARGET = ("--target", "linux/amd64", "--python", "3.12")
DEMO = NormalizedName("demo")
SECRET = "s3cret-pw"

# -- helpers -----------------------------------------------------------------------------------------------------


class RawServer:
    """A TCP server on 127.0.0.1 whose ``reply`` writes each answer byte by byte.

    ``reply(head, conn)`` gets the request head (request line and headers, decoded as latin-1) and the socket;
    the connection is closed when it returns.
    """

    def __init__(self, reply: Callable[[str, socket.socket], None]) -> None:
        self.reply = reply
        self.heads: list[str] = []
        self.stop = threading.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        port: int = self._sock.getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def close(self) -> None:
        self.stop.set()
        self._sock.close()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        data = b""
        with conn:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            self.heads.append(data.split(b"\r\n\r\n", 1)[0].decode("latin-1"))
            # OSError: the client hung up, which is what a cut-off looks like from here.
            with contextlib.suppress(OSError):
                self.reply(self.heads[-1], conn)


@pytest.fixture
def raw() -> Iterator[Callable[[Callable[[str, socket.socket], None]], RawServer]]:
    servers: list[RawServer] = []

    def start(reply: Callable[[str, socket.socket], None]) -> RawServer:
        servers.append(RawServer(reply))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def head(status: str, *headers: str) -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status}", *headers, "Connection: close"]) + "\r\n\r\n").encode("latin-1")


def json_page(*entries: Mapping[str, object]) -> Fault:
    """A project page listing exactly ``entries`` (PEP 691 JSON)."""
    body = json.dumps({"meta": {"api-version": "1.1"}, "files": list(entries)}).encode()
    return Fault.replace(body, JSON_TYPE)


def client_for(index_url: str, **config: object) -> IndexClient:
    settings: dict[str, object] = {"retries": 0, "timeout": 5.0, **config}
    return IndexClient(IndexConfig(index_url=index_url, **settings), sleep=lambda _s: None)  # type: ignore[arg-type]


@contextlib.contextmanager
def listed_on(server: RawServer, filename: str, timeout: float = 5.0, **fields: object) -> Iterator[IndexClient]:
    """A client of a local index whose page for demo lists ``filename`` at ``server`` (with ``fields``)."""
    entry = {"filename": filename, "url": f"{server.url}/files/{filename}", "hashes": {}, **fields}
    with IndexServer() as index:
        index.add("demo-0.1.tar.gz", b"listed so that the page exists")
        index.inject("/simple/demo/", json_page(entry), times=None)
        with client_for(index.index_url, timeout=timeout) as client:
            yield client


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def wheels_in(project: Path) -> list[str]:
    return sorted(p.name for p in (project / "wheels").glob("*.whl"))


def partials_in(project: Path) -> list[str]:
    return sorted(p.name for p in (project / "wheels").rglob(f"{PARTIAL_PREFIX}*"))


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error: ")]


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHEELHOUSE_BACKOFF", "0")


# -- credentials go to the origin they were given for ----------------------------------------------------------


def test_a_listed_url_whose_host_the_http_stack_reads_otherwise_gets_no_credentials(tmp_path: Path) -> None:
    # Up to a backslash, the HTTP stack reads the other server as the host; up to the "@", Python's urlsplit reads
    # the index. Credentials must follow the host the request is sent to.
    filename, data = make_wheel("demo", "1.0")
    with IndexServer() as index, IndexServer() as other:
        index.add(filename, data)
        other_host, index_host = other.url.split("//")[1], index.url.split("//")[1]
        tricky = f"http://{other_host}\\@{index_host}/files/{filename}"
        entry = {"filename": filename, "url": tricky, "hashes": {"sha256": hashlib.sha256(data).hexdigest()}}
        index.inject("/simple/demo/", json_page(entry), times=None)
        with client_for(index.index_url.replace("http://", f"http://alice:{SECRET}@")) as client:
            (remote,) = client.project_files(DEMO)
            with pytest.raises(NetworkError) as info:
                client.download(remote, tmp_path / "demo.part")
        assert [r.header("Authorization") for r in index.requests.to("/simple/demo/")] == [basic("alice", SECRET)]
        reached = other.requests.snapshot()
    assert reached, "the request went to the other server"
    assert [r.header("Authorization") for r in reached] == [None] * len(reached)
    assert SECRET not in str(info.value)
    assert not (tmp_path / "demo.part").exists()


def test_files_under_a_base_href_to_another_server_get_no_credentials_and_the_pages_hash(tmp_path: Path) -> None:
    filename, data = make_wheel("demo", "1.0")
    with IndexServer() as index, IndexServer() as other:
        index.add(filename, data)
        other.add(filename, data + b"tampered")
        page = (
            f'<html><head><base href="{other.url}/files/"></head><body>'
            f'<a href="{filename}#sha256={hashlib.sha256(data).hexdigest()}">{filename}</a></body></html>'
        )
        index.inject("/simple/demo/", Fault.replace(page.encode(), "text/html"), times=None)
        with client_for(index.index_url.replace("http://", f"http://alice:{SECRET}@")) as client:
            (remote,) = client.project_files(DEMO)
            assert remote.url == other.file_url(filename)
            with pytest.raises(HashMismatchError):
                client.download(remote, tmp_path / "demo.part")
        (hop,) = other.requests.to(f"/files/{filename}")
    assert hop.header("Authorization") is None
    assert not (tmp_path / "demo.part").exists()


def test_a_project_page_redirected_to_another_port_is_read_there_without_credentials(tmp_path: Path) -> None:
    filename, data = make_wheel("demo", "1.0")
    with IndexServer() as index, IndexServer() as other:
        index.add(filename, data)
        other.add(filename, data)
        index.inject("/simple/demo/", Fault.redirect(f"{other.index_url}/demo/", status=301), times=None)
        with client_for(index.index_url.replace("http://", f"http://alice:{SECRET}@")) as client:
            (remote,) = client.project_files(DEMO)
            # Relative links resolve against the page where it was found.
            assert remote.url == other.file_url(filename)
            assert client.download(remote, tmp_path / "demo.whl") == hashlib.sha256(data).hexdigest()
        assert [r.header("Authorization") for r in index.requests.snapshot()] == [basic("alice", SECRET)]
        reached = other.requests.snapshot()
    assert [r.route for r in reached] == ["/simple/demo/", f"/files/{filename}"]
    assert [r.header("Authorization") for r in reached] == [None, None]


@pytest.mark.parametrize("flags", [(), ("-v",), ("--json",)], ids=["plain", "verbose", "json"])
def test_a_401_that_echoes_the_password_does_not_reach_the_output(
    cli: Cli, project: Path, raw: Callable[[Callable[[str, socket.socket], None]], RawServer], flags: tuple[str, ...]
) -> None:
    def reply(_head: str, conn: socket.socket) -> None:
        body = f"alice:{SECRET} is not a valid login".encode()
        conn.sendall(
            head(
                f"401 password {SECRET} refused",
                f'WWW-Authenticate: Basic realm="{SECRET}"',
                f"Content-Length: {len(body)}",
            )
            + body
        )

    server = raw(reply)
    (project / "requirements.txt").write_text("demo\n")
    index_url = f"http://alice:{SECRET}@{server.url.split('//')[1]}/simple"
    verbose = [f for f in flags if f == "-v"]
    rest = [f for f in flags if f != "-v"]
    result = cli(*verbose, "download", *rest, "--index-url", index_url, *TARGET, "--retries", "0")
    assert result.exit_code == 1, result.output
    assert SECRET not in result.output
    assert "HTTP 401" in result.output
    assert f"Authorization: {basic('alice', SECRET)}" in server.heads[0]
    assert wheels_in(project) == []


# -- bodies that trickle, never end, or are longer than asked for ------------------------------------------------


def drip(status: str, *headers: str, chunked: bool = False) -> Callable[[str, socket.socket], None]:
    """A reply that sends its head, then one byte every 50 ms until the client hangs up: never silent for a
    timeout, never done."""

    def reply(_head: str, conn: socket.socket) -> None:
        framing = "Transfer-Encoding: chunked" if chunked else "Content-Length: 100000000"
        conn.sendall(head(status, *headers, framing))
        for _ in range(2000):
            conn.sendall(b"1\r\n \r\n" if chunked else b" ")
            time.sleep(0.05)

    return reply


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_project_page_that_trickles_without_end_is_cut_off(
    raw: Callable[[Callable[[str, socket.socket], None]], RawServer], chunked: bool
) -> None:
    server = raw(drip("200 OK", "Content-Type: text/html", chunked=chunked))
    started = time.monotonic()
    with client_for(f"{server.url}/simple", timeout=0.5) as client, pytest.raises(NetworkError) as info:
        client.project_files(DEMO)
    assert time.monotonic() - started < 5
    assert "too slow" in str(info.value)
    assert str(info.value).startswith(f"cannot fetch {server.url}/simple/demo/: ")


def test_core_metadata_that_trickles_without_end_is_cut_off(
    raw: Callable[[Callable[[str, socket.socket], None]], RawServer],
) -> None:
    server = raw(drip("200 OK", "Content-Type: application/octet-stream"))
    filename = "demo-1.0-py3-none-any.whl"
    with listed_on(server, filename, timeout=0.5, **{"core-metadata": True}) as client:
        (remote,) = client.project_files(DEMO)
        started = time.monotonic()
        with pytest.raises(NetworkError) as info:
            client.metadata(remote)
    assert time.monotonic() - started < 5
    assert "too slow" in str(info.value)
    assert server.heads[0].startswith(f"GET /files/{filename}.metadata ")


def endless(conn: socket.socket, sent: list[int]) -> None:
    """Zero bytes, fast, up to 256 MiB, for as long as the client reads; how many were written goes to ``sent``."""
    block = bytes(1024 * 1024)
    count = 0
    try:
        for _ in range(256):
            conn.sendall(block)
            count += len(block)
    finally:
        sent.append(count)


def written(sent: list[int], replies: int) -> int:
    """The most bytes one of ``replies`` replies wrote, once each has ended (the client hung up on them)."""
    deadline = time.monotonic() + 5
    while len(sent) < replies and time.monotonic() < deadline:
        time.sleep(0.01)
    return max(sent, default=0)


def _metadata_fails(server: RawServer) -> None:
    """Reading the metadata of the one wheel ``server`` lists ends in one NetworkError."""
    with listed_on(server, "demo-1.0-py3-none-any.whl") as client:
        (remote,) = client.project_files(DEMO)
        with pytest.raises(NetworkError):
            client.metadata(remote)


def test_a_ranged_answer_longer_than_the_range_is_not_read_to_its_end(
    raw: Callable[[Callable[[str, socket.socket], None]], RawServer],
) -> None:
    sent: list[int] = []

    def reply(_head: str, conn: socket.socket) -> None:
        conn.sendall(head("206 Partial Content", "Content-Range: bytes 0-65535/65536"))
        endless(conn, sent)

    server = raw(reply)
    _metadata_fails(server)
    # The range asked for, plus what the socket buffers hold: far from the 256 MiB the server would send.
    assert 0 < written(sent, len(server.heads)) < 32 * 1024 * 1024


def test_a_central_directory_claimed_to_be_huge_is_not_fetched_into_memory(
    raw: Callable[[Callable[[str, socket.socket], None]], RawServer],
) -> None:
    total = 4 * 1024**3
    size_cd = 1024**3
    # An end-of-central-directory record naming a 1 GiB central directory right before it.
    record = b"PK\x05\x06" + bytes(4) + (1).to_bytes(2, "little") * 2
    record += size_cd.to_bytes(4, "little") + (total - 22 - size_cd).to_bytes(4, "little") + bytes(2)
    tail = bytes(65536 - len(record)) + record
    ranges: list[str] = []
    sent: list[int] = []

    def reply(request: str, conn: socket.socket) -> None:
        asked = next((line for line in request.split("\r\n") if line.lower().startswith("range:")), "")
        ranges.append(asked)
        if asked.endswith("=-65536"):
            conn.sendall(
                head("206 Partial Content", f"Content-Range: bytes {total - 65536}-{total - 1}/{total}") + tail
            )
            return
        if not asked:
            conn.sendall(head("404 Not Found", "Content-Length: 0"))
            return
        first = int(asked.split("=")[1].split("-")[0])
        conn.sendall(head("206 Partial Content", f"Content-Range: bytes {first}-{first + size_cd - 1}/{total}"))
        endless(conn, sent)

    server = raw(reply)
    _metadata_fails(server)
    assert ranges[0] == "Range: bytes=-65536"
    # The central directory is not asked for by range (the whole file is: here, a 404).
    assert ranges[1:] == [""]
    assert sent == []


# -- header values no parser expects -----------------------------------------------------------------------------


def test_a_content_length_of_a_digit_int_cannot_read_is_no_length(
    raw: Callable[[Callable[[str, socket.socket], None]], RawServer], tmp_path: Path
) -> None:
    # "²" (latin-1 0xb2) is a digit to str.isdigit(), and not a number to int().
    filename, data = make_wheel("demo", "1.0")
    sha = hashlib.sha256(data).hexdigest()
    page = f'<a href="/files/{filename}#sha256={sha}">{filename}</a>'.encode()

    def reply(request: str, conn: socket.socket) -> None:
        body = page if request.startswith("GET /simple/") else data
        conn.sendall(head("200 OK", "Content-Type: text/html", "Content-Length: \xb2") + body)

    server = raw(reply)
    with client_for(f"{server.url}/simple") as client:
        (remote,) = client.project_files(DEMO)
        assert client.download(remote, tmp_path / "demo.whl") == sha
    assert (tmp_path / "demo.whl").read_bytes() == data


def test_a_retry_after_date_beyond_any_calendar_is_waited_for_at_most_the_longest_wait() -> None:
    sleeps: list[float] = []
    with IndexServer() as index:
        index.add_wheel("demo", "1.0")
        far = "Mon, 01 Jan 99999999999999999999 00:00:00 GMT"
        index.inject("/simple/demo/", Fault.error(503, retry_after=far))
        config = IndexConfig(index_url=index.index_url, retries=1, timeout=5)
        with IndexClient(config, backoff=0.01, max_wait=7.0, sleep=sleeps.append) as client:
            assert [f.filename for f in client.project_files(DEMO)] == ["demo-1.0-py3-none-any.whl"]
    assert len(sleeps) == 1
    assert 0 <= sleeps[0] <= 7.0


# -- what a page lists -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["json", "html", "base-href"])
def test_a_remote_page_cannot_make_wheelhouse_read_a_local_file(
    cli: Cli, project: Path, tmp_path: Path, no_backoff: None, shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    filename, data = make_wheel("demo", "1.0")
    local = tmp_path / "elsewhere" / filename
    local.parent.mkdir()
    local.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    if shape == "json":
        fault = json_page({"filename": filename, "url": local.as_uri(), "hashes": {"sha256": sha}})
    elif shape == "html":
        fault = Fault.replace(f'<a href="{local.as_uri()}#sha256={sha}">x</a>'.encode(), "text/html")
    else:
        body = f'<base href="{local.parent.as_uri()}/"><a href="{filename}#sha256={sha}">x</a>'
        fault = Fault.replace(body.encode(), "text/html")
    with IndexServer() as index:
        index.add("demo-0.1.tar.gz", b"listed so that the page exists")
        index.inject("/simple/demo/", fault, times=None)
        result = cli("download", "demo", "--index-url", index.index_url, *TARGET, "--retries", "0")
        index_url = index.index_url
    assert result.exit_code == 3, result.output
    why = f"a remote index may not point at a local file ({local.as_uri()})"
    assert f"warning: skipped {filename!r} listed by {index_url}: {why}" in result.stderr
    assert wheels_in(project) == []
    assert "Traceback" not in result.output


def test_a_page_of_the_wrong_shape_is_one_line(cli: Cli, project: Path, no_backoff: None) -> None:
    with IndexServer() as index:
        index.add("demo-0.1.tar.gz", b"listed so that the page exists")
        index.inject("/simple/demo/", Fault.replace(b'{"files": {}}', JSON_TYPE), times=None)
        result = cli("download", "demo", "--index-url", index.index_url, *TARGET, "--retries", "0")
        page = f"{index.url}/simple/demo/"
    assert result.exit_code == 1, result.output
    (line,) = error_lines(result.stderr)
    assert line == f"error: {page}: invalid JSON index page: not a PEP 691 project page (no 'files' list)"
    assert "Traceback" not in result.output


def test_a_file_redirected_to_a_local_path_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("local only")
    with IndexServer() as index:
        filename = index.add_wheel("demo", "1.0")
        index.inject(f"/files/{filename}", Fault.redirect(secret.as_uri()), times=None)
        with client_for(index.index_url) as client:
            (remote,) = client.project_files(DEMO)
            with pytest.raises(NetworkError) as info:
                client.download(remote, tmp_path / "demo.part")
        assert str(info.value).startswith(f"cannot fetch {index.file_url(filename)}: ")
    assert not (tmp_path / "demo.part").exists()


# -- one name, two files -----------------------------------------------------------------------------------------


def test_a_transfer_of_another_listing_of_the_same_name_is_not_committed(tmp_path: Path) -> None:
    """The plan's file and a transfer started earlier under the same name (speculation follows the likely entry of
    a page) may be different entries: what lands must be the bytes the plan chose."""
    from wheelhouse.fetch.commit import commit_all
    from wheelhouse.fetch.model import DownloadPlan, DownloadReporter, PlannedFile
    from wheelhouse.fetch.transfers import Transfers
    from wheelhouse.index.pages import RemoteFile
    from wheelhouse.store.folder import Store

    filename, ours = make_wheel("demo", "1.0", files={"demo/data.txt": b"ours"})
    _, theirs = make_wheel("demo", "1.0", files={"demo/data.txt": b"theirs"})
    with IndexServer() as index:
        index.add(f"a/{filename}", theirs)
        index.add(f"b/{filename}", ours)
        first = RemoteFile(filename, f"{index.url}/files/a%2F{filename}", hashlib.sha256(theirs).hexdigest())
        chosen = RemoteFile(filename, f"{index.url}/files/b%2F{filename}", hashlib.sha256(ours).hexdigest())
        store = Store(tmp_path / "wheels")
        store.ensure()
        with client_for(index.index_url) as client, store.lock():
            transfers = Transfers(store, client, jobs=2)
            try:
                transfers.start(filename, first).result(timeout=10)
                item = PlannedFile(filename, chosen.url, None, chosen.sha256, ("t",), remote=chosen)
                downloaded, failed, _ = commit_all(
                    DownloadPlan((), fetch=(item,)), store, transfers, DownloadReporter(), ()
                )
            finally:
                transfers.close()
    assert downloaded == ()
    (failure,) = failed
    assert failure.filename == filename
    assert f"expected sha256 {chosen.sha256}, got {first.sha256}" in failure.reason
    assert sorted(p.name for p in store.root.glob("*.whl")) == []
    assert sorted(p.name for p in store.root.rglob(f"{PARTIAL_PREFIX}*")) == []


def test_a_name_listed_twice_with_other_bytes_never_lands_unpinned_bytes(
    cli: Cli, project: Path, no_backoff: None
) -> None:
    filename, ours = make_wheel("demo", "1.0", files={"demo/data.txt": b"ours"})
    _, theirs = make_wheel("demo", "1.0", files={"demo/data.txt": b"theirs"})
    pinned = hashlib.sha256(ours).hexdigest()
    with IndexServer() as index:
        index.add(f"a/{filename}", theirs)
        index.add(f"b/{filename}", ours)
        index.add("demo-0.1.tar.gz", b"listed so that the page exists")
        listed = [
            {
                "filename": filename,
                "url": f"{index.url}/files/a%2F{filename}",
                "hashes": {"sha256": hashlib.sha256(theirs).hexdigest()},
            },
            {"filename": filename, "url": f"{index.url}/files/b%2F{filename}", "hashes": {"sha256": pinned}},
        ]
        index.inject("/simple/demo/", json_page(*listed), times=None)
        (project / "requirements.txt").write_text(f"demo==1.0 --hash=sha256:{pinned}\n")
        for _ in range(3):
            result = cli("download", "--index-url", index.index_url, *TARGET, "--retries", "0")
            assert "Traceback" not in result.output
            assert result.exit_code in (0, 1), result.output
            landed = project / "wheels" / filename
            if landed.exists():
                assert hashlib.sha256(landed.read_bytes()).hexdigest() == pinned
                assert result.exit_code == 0, result.output
            assert partials_in(project) == []


def test_credentials_of_an_internationalised_host_go_to_it_as_the_http_stack_spells_it() -> None:
    """Hosts are matched as requests are sent (in IDNA): the pair given for ``bücher.example`` still reaches it."""
    import requests

    sent: list[tuple[str, str | None]] = []

    class Recording(requests.Session):
        def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:
            sent.append((request.url or "", request.headers.get("Authorization")))
            raise requests.ConnectionError("not connected")

    config = IndexConfig(index_url=f"https://alice:{SECRET}@Bücher.example/simple", retries=0)
    with (
        Recording() as session,
        IndexClient(config, session=session, sleep=lambda _s: None) as client,
        pytest.raises(NetworkError) as info,
    ):
        client.project_files(DEMO)
    assert sent == [("https://xn--bcher-kva.example/simple/demo/", basic("alice", SECRET))]
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("declared", [False, True], ids=["no-length", "content-length"])
def test_a_wheel_longer_than_the_size_its_index_lists_is_cut_off(
    raw: Callable[[Callable[[str, socket.socket], None]], RawServer], tmp_path: Path, declared: bool
) -> None:
    filename, data = make_wheel("demo", "1.0")
    sent: list[int] = []
    length = (f"Content-Length: {256 * 1024 * 1024}",) if declared else ()

    def reply(_head: str, conn: socket.socket) -> None:
        conn.sendall(head("200 OK", "Content-Type: application/octet-stream", *length))
        endless(conn, sent)

    server = raw(reply)
    with listed_on(server, filename, hashes={"sha256": hashlib.sha256(data).hexdigest()}, size=len(data)) as client:
        (remote,) = client.project_files(DEMO)
        with pytest.raises(NetworkError) as info:
            client.download(remote, tmp_path / "demo.part")
    assert str(info.value).endswith(f"is longer than the {len(data)} bytes its index lists")
    assert not (tmp_path / "demo.part").exists()
    deadline = time.monotonic() + 5
    while not sent and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sent
    assert sent[0] < 64 * 1024 * 1024
