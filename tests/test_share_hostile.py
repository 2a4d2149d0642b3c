"""The sharing commands against hostile servers, clients, bundles and folders.

``publish`` to a server that echoes the credentials it was sent, redirects, answers without end, hangs or
claims to store what it does not; ``serve`` asked for paths outside its tree, names too long for the file
system, ranges of thousands of digits; ``index`` over file names carrying markup; ``export`` and ``publish``
over links in the folder that point outside it; ``import`` of a bundle whose manifest nests past the JSON
decoder or whose wheel is blocked by a link; ``check`` of a RECORD of a million rows and of a wheel replaced
while it is checked; ``sbom`` over METADATA carrying terminal escapes.

Each case ends with one line on stderr and a non-zero exit (or the right answer), no secret in any output, and
no file outside the folder read, sent or changed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import socket
import tarfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO, ClassVar
from urllib.parse import quote

import pytest

from tests.conftest import Cli
from tests.support.wheels import make_sdist, make_wheel, write_wheel
from wheelhouse.share import wheel_check
from wheelhouse.share.serve import UNSATISFIABLE, IndexHTTPServer, byte_range
from wheelhouse.share.static_index import build_index
from wheelhouse.share.upload import Repository, Uploader, UploadError, UploadFile
from wheelhouse.share.wheel_check import inspect_wheel
from wheelhouse.store.folder import Store

USER = "ci"
SECRET = "s3cr3t/pw"  # the "/" makes the URL carry it percent-encoded
ENCODED = quote(SECRET, safe="")
BASIC = base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
ALL_FORMS = (SECRET, ENCODED, BASIC)


# -- a server that answers as each test tells it -------------------------------------------------------------


Answer = Callable[["_Handler"], None]


@dataclass
class Hostile:
    """A server on 127.0.0.1: ``url`` (no credentials), what it saw, and the bytes it sent."""

    url: str
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)

    def credentialed(self, user: str = USER, password: str = ENCODED) -> str:
        return self.url.replace("http://", f"http://{user}:{password}@" if password else f"http://{user}@")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    on_get: ClassVar[Answer]
    on_post: ClassVar[Answer]
    record: ClassVar[Hostile]
    stop: ClassVar[threading.Event]

    def log_message(self, format: str, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        self.record.seen.append(("GET", self.path, self.headers.get("Authorization")))
        type(self).on_get(self)

    def do_POST(self) -> None:
        self.record.seen.append(("POST", self.path, self.headers.get("Authorization")))
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).on_post(self)

    def reply(self, status: int, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def endless(self, status: int, limit: int = 256 * 1024 * 1024) -> None:
        """A chunked body that ends only when the client hangs up (or at ``limit``)."""
        self.send_response(status)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"x" * 65536
        sent = 0
        try:
            while sent < limit and not self.stop.is_set():
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass
        finally:
            self.record.sent.append(sent)
            self.close_connection = True


def _not_found(handler: _Handler) -> None:
    handler.reply(404, b"not here")


def _stored(handler: _Handler) -> None:
    handler.reply(200)


ServerFactory = Callable[..., Hostile]


class _QuietServer(ThreadingHTTPServer):
    # A client that hangs up on an endless or refused answer is what these tests provoke: the server's own
    # traceback for it would land in the captured stderr the tests read.
    def handle_error(self, request: object, client_address: object) -> None:
        pass


@pytest.fixture
def hostile() -> Iterator[ServerFactory]:
    """``hostile(on_post=..., on_get=...)`` starts a server answering with those; all stop after the test."""
    servers: list[tuple[ThreadingHTTPServer, threading.Event]] = []

    def start(on_post: Answer = _stored, on_get: Answer = _not_found) -> Hostile:
        stop = threading.Event()
        record = Hostile("")
        handler = type("Handler", (_Handler,), {"on_get": on_get, "on_post": on_post, "record": record, "stop": stop})
        httpd = _QuietServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append((httpd, stop))
        record.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        return record

    yield start
    for httpd, stop in servers:
        stop.set()
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def demo(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose folder holds one wheel, retries without pauses."""
    monkeypatch.setenv("WHEELHOUSE_BACKOFF", "0")
    monkeypatch.delenv("TWINE_REPOSITORY_URL", raising=False)
    return write_wheel(project / "wheels", "demo", "1.0")


def _one_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr
    return errors[0]


def _no_secret(text: str) -> None:
    for form in ALL_FORMS:
        assert form not in text, f"{form!r} in {text!r}"


# -- publish: what a server echoes of the credentials ----------------------------------------------------------


def _echo_authorization(handler: _Handler) -> None:
    auth = handler.headers.get("Authorization", "")
    decoded = base64.b64decode(auth.split()[-1]).decode()
    handler.reply(403, f"bad credentials: {auth} ({decoded}, {ENCODED})\n".encode())


def _echo_in_json(handler: _Handler) -> None:
    handler.reply(401, json.dumps({"message": f"wrong password {SECRET!r} for {USER}"}).encode())


def _echo_in_status_line(handler: _Handler) -> None:
    handler.send_response(403, f"Forbidden for {USER}:{SECRET}")
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def _echo_in_redirect(handler: _Handler) -> None:
    handler.reply(307, headers=(("Location", f"http://elsewhere.invalid/{ENCODED}/upload"),))


@pytest.mark.parametrize(
    "answer",
    [_echo_authorization, _echo_in_json, _echo_in_status_line, _echo_in_redirect],
    ids=["authorization-in-text", "password-in-json", "password-in-status-line", "password-in-redirect"],
)
@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_a_refusal_echoing_the_credentials_never_shows_them(
    cli: Cli, demo: Path, hostile: ServerFactory, answer: Answer, as_json: bool
) -> None:
    server = hostile(on_post=answer)
    result = cli("publish", "--repository-url", server.credentialed(), "--all", "-v", *(["--json"] if as_json else []))
    assert result.exit_code == 1, result.output
    _no_secret(result.output)
    assert "****" in result.output
    if as_json:
        failed = json.loads(result.stdout)["failed"]
        assert [f["file"] for f in failed] == [demo.name]
    else:
        assert "refused the upload" in result.output or "redirect" in result.output


def test_a_token_given_as_the_user_name_is_not_echoed_either(cli: Cli, demo: Path, hostile: ServerFactory) -> None:
    token = "pypi-AgEIcHlwaS5vcmc"

    def echo(handler: _Handler) -> None:
        handler.reply(403, f"token {token} has expired\n".encode())

    server = hostile(on_post=echo)
    result = cli("publish", "--repository-url", server.credentialed(token, ""), "--all")
    assert result.exit_code == 1, result.output
    assert token not in result.output
    assert "token **** has expired" in result.output


# -- publish: redirects, garbage, silence, bodies without end ------------------------------------------------


def test_a_redirected_upload_is_not_followed_and_no_credential_leaves_for_the_other_host(
    cli: Cli, demo: Path, hostile: ServerFactory
) -> None:
    elsewhere = hostile(on_get=_stored)

    def redirect(handler: _Handler) -> None:
        handler.reply(307, headers=(("Location", elsewhere.url + "upload"),))

    server = hostile(on_post=redirect)
    result = cli("publish", "--repository-url", server.credentialed(), "--all")
    assert result.exit_code == 1, result.output
    assert "uploads are not redirected" in result.output
    assert elsewhere.seen == []
    _no_secret(result.output)


def test_pages_redirected_to_another_host_are_read_there_without_credentials(
    cli: Cli, demo: Path, hostile: ServerFactory
) -> None:
    elsewhere = hostile()

    def redirect(handler: _Handler) -> None:
        handler.reply(302, headers=(("Location", elsewhere.url.rstrip("/") + handler.path),))

    server = hostile(on_get=redirect)
    result = cli("publish", "--repository-url", server.credentialed(), "--all")
    # The other host holds nothing, so the check after the upload fails; it was asked with no credentials.
    assert result.exit_code == 1, result.output
    assert elsewhere.seen
    assert all(auth is None for _method, _path, auth in elsewhere.seen)
    assert all(auth == f"Basic {BASIC}" for _method, _path, auth in server.seen)


def test_a_server_that_claims_success_without_storing_fails_the_check(
    cli: Cli, demo: Path, hostile: ServerFactory
) -> None:
    server = hostile(on_post=lambda h: h.reply(200, b"\x00\xff<html>OK</html>"))
    result = cli("publish", "--repository-url", server.url, "--all")
    assert result.exit_code == 1, result.output
    assert f"error: {demo.name}: the server's page does not list it after the upload" in result.stderr
    assert "does not hold every file yet" in result.output


def test_a_server_that_never_answers_an_upload_times_out(cli: Cli, demo: Path, hostile: ServerFactory) -> None:
    server = hostile(on_post=lambda h: h.stop.wait(30))
    started = time.monotonic()
    result = cli("publish", "--repository-url", server.url, "--all", "--timeout", "0.5", "--retries", "1")
    assert time.monotonic() - started < 15
    assert result.exit_code == 1, result.output
    assert f"upload to {server.url} failed after 2 attempts: timed out" in result.stderr


def _bytes_sent(server: Hostile) -> int:
    """What the server's endless answer sent before the client hung up."""
    deadline = time.monotonic() + 10
    while not server.sent and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.sent, "the server is still sending"
    return server.sent[0]


@pytest.fixture
def item(tmp_path: Path) -> UploadFile:
    path = write_wheel(tmp_path / "dist", "demo", "1.0")
    data = path.read_bytes()
    return UploadFile(path.name, path, hashlib.sha256(data).hexdigest(), len(data), "demo", "1.0", "wheel")


@pytest.mark.parametrize("status", [200, 403, 503])
def test_an_answer_without_end_is_not_read_to_its_end(item: UploadFile, hostile: ServerFactory, status: int) -> None:
    server = hostile(on_post=lambda h: h.endless(status))
    started = time.monotonic()
    with Uploader(Repository.from_options(server.url, timeout=5), retries=0, backoff=0) as uploader:
        if status == 200:
            assert uploader.upload(item) == "uploaded"
        else:
            with pytest.raises(UploadError, match=f"HTTP {status}") as caught:
                uploader.upload(item)
            assert len(str(caught.value)) < 400
    assert time.monotonic() - started < 10
    # What the sockets' buffers hold, at most: the body is dropped, not read.
    assert _bytes_sent(server) < 32 * 1024 * 1024


def test_a_probe_answered_without_end_is_not_read(hostile: ServerFactory) -> None:
    server = hostile(on_get=lambda h: h.endless(200))
    with Uploader(Repository.from_options(server.url, timeout=5), retries=0) as uploader:
        answer = uploader.probe()
    assert answer is not None
    assert answer.status_code == 200
    assert _bytes_sent(server) < 32 * 1024 * 1024


def test_a_page_nested_past_the_json_decoder_is_one_line(cli: Cli, demo: Path, hostile: ServerFactory) -> None:
    def deep(handler: _Handler) -> None:
        body = b'{"files": ' + b"[" * 100_000
        handler.reply(200, body, (("Content-Type", "application/vnd.pypi.simple.v1+json"),))

    server = hostile(on_get=deep)
    result = cli("publish", "--repository-url", server.url, "--all")
    assert result.exit_code == 1, result.output
    assert "internal error" not in _one_error_line(result.stderr)


# -- export and publish never send what a link in the folder points to -----------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A private file outside the folder, and a real wheel out there too."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "id_rsa").write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
    write_wheel(path, "private", "1.0")
    return path


def test_export_refuses_a_wheel_that_is_a_link_to_a_file_outside(
    cli: Cli, project: Path, outside: Path, tmp_path: Path
) -> None:
    write_wheel(project / "wheels", "demo", "1.0")
    linked = next(outside.glob("*.whl"))
    (project / "wheels" / linked.name).symlink_to(linked)
    result = cli("export", str(tmp_path / "b.tar"))
    assert result.exit_code == 1, result.output
    line = _one_error_line(result.stderr)
    assert f"refusing to export wheels/{linked.name}: it is a symbolic link" in line
    assert not (tmp_path / "b.tar").exists()


def test_publish_refuses_a_distribution_that_is_a_link_and_sends_nothing(
    cli: Cli, demo: Path, outside: Path, hostile: ServerFactory
) -> None:
    (demo.parent / "key-1.0.tar.gz").symlink_to(outside / "id_rsa")
    server = hostile()
    result = cli("publish", "--repository-url", server.url, "--all", "--sdists")
    assert result.exit_code == 1, result.output
    assert "refusing to publish wheels/key-1.0.tar.gz: it is a symbolic link" in _one_error_line(result.stderr)
    assert [method for method, _path, _auth in server.seen if method == "POST"] == []


# -- serve -------------------------------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[IndexHTTPServer, Path]]:
    """``serve``'s server over an index of one wheel, with links inside its tree to a file outside."""
    wheels = tmp_path / "wheels"
    write_wheel(wheels, "demo", "1.0")
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET\n")
    out = tmp_path / "index"
    build_index(Store(wheels), out)
    (out / "files" / "leak-1.0-py3-none-any.whl").symlink_to(secret)
    (out / "simple" / "up").symlink_to(tmp_path, target_is_directory=True)
    with IndexHTTPServer(out).start() as server:
        yield server, secret


def _raw(server: IndexHTTPServer, request: bytes) -> bytes:
    """The whole answer to one raw request (the connection is closed after it)."""
    port = server.server_address[1]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _get(server: IndexHTTPServer, target: bytes, headers: bytes = b"") -> bytes:
    return _raw(server, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers + b"\r\n")


@pytest.mark.parametrize(
    "target",
    [
        b"/../secret.txt",
        b"/simple/../../secret.txt",
        b"/%2e%2e/secret.txt",
        b"/files/%2e%2e%2f%2e%2e%2fsecret.txt",
        b"/files/leak-1.0-py3-none-any.whl",
        b"/simple/up/secret.txt",
        b"//secret.txt",
        b"http://elsewhere/files/leak-1.0-py3-none-any.whl",
        b"/files/..%5csecret.txt",
    ],
)
def test_serve_never_answers_with_a_file_outside_its_tree(served: tuple[IndexHTTPServer, Path], target: bytes) -> None:
    server, _secret = served
    answer = _get(server, target)
    assert answer.split(b"\r\n")[0] in (b"HTTP/1.1 404 Not Found", b"HTTP/1.1 400 Bad Request")
    assert b"TOP SECRET" not in answer


def test_a_file_swapped_for_a_link_after_its_path_was_checked_is_not_served(
    served: tuple[IndexHTTPServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if the link replaced the wheel between the check of the resolved path and the open: the resolution
    # sees the link's own path, inside the tree.
    server, _secret = served
    monkeypatch.setattr(Path, "resolve", lambda self, strict=False: self)
    answer = _get(server, b"/files/leak-1.0-py3-none-any.whl")
    assert answer.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"TOP SECRET" not in answer


@pytest.mark.parametrize(
    "target",
    [b"/files/" + b"a" * 5000, b"/simple/demo/" + b"b" * 300, b"/simple/" + b"x" * 300 + b"/"],
    ids=["file", "in-a-project", "project"],
)
def test_a_name_longer_than_the_file_system_allows_is_not_found(
    served: tuple[IndexHTTPServer, Path], target: bytes
) -> None:
    server, _secret = served
    assert _get(server, target).startswith(b"HTTP/1.1 404 Not Found\r\n")


def test_a_range_of_thousands_of_digits_is_unsatisfiable(served: tuple[IndexHTTPServer, Path]) -> None:
    digits = "9" * 5000
    assert byte_range(f"bytes={digits}-", 100) == UNSATISFIABLE
    assert byte_range(f"bytes=0-{digits}", 100) == (0, 99)
    assert byte_range(f"bytes=-{digits}", 100) == (0, 99)
    assert byte_range("bytes=" + "0" * 5000 + "5-", 100) == (5, 99)
    server, _secret = served
    answer = _get(server, b"/files/demo-1.0-py3-none-any.whl", f"Range: bytes={digits}-\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 416 ")


def test_serve_refuses_post_and_answers_head_without_a_body(served: tuple[IndexHTTPServer, Path]) -> None:
    server, _secret = served
    post = _raw(server, b"POST /simple/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
    assert post.startswith(b"HTTP/1.1 501 ")
    head = _raw(server, b"HEAD /simple/demo/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert head.endswith(b"\r\n\r\n")


# -- the static index over file names carrying markup ----------------------------------------------------------


def test_a_file_named_with_markup_is_no_distribution_and_reaches_no_page(wheels_dir: Path, tmp_path: Path) -> None:
    _name, data = make_sdist("demo", "1.0")
    hostile_name = 'x"><img src=x onerror=alert(1)>-1.0.tar.gz'
    (wheels_dir / hostile_name).write_bytes(data)
    write_wheel(wheels_dir, "demo", "1.0")
    result = build_index(Store(wheels_dir), tmp_path / "out")
    # The part before the version is no project name: the file is not an sdist of any project.
    assert [f.filename for f in result.files] == ["demo-1.0-py3-none-any.whl"]
    for page in (tmp_path / "out" / "simple").rglob("index.*"):
        text = page.read_text()
        assert "<img" not in text
        assert "onerror" not in text


# -- import ------------------------------------------------------------------------------------------------


def _bundle(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _wheel_and_sums() -> list[tuple[str, bytes]]:
    name, data = make_wheel("kite", "1.0")
    return [(f"wheels/{name}", data), ("SHA256SUMS", f"{hashlib.sha256(data).hexdigest()}  wheels/{name}\n".encode())]


@pytest.mark.parametrize("manifest", [b"[" * 200_000, b'{"files": ' + b'{"a": ' * 100_000], ids=["array", "object"])
def test_a_manifest_nested_past_the_json_decoder_is_refused_in_one_line(
    cli: Cli, tmp_path: Path, manifest: bytes
) -> None:
    bundle = _bundle(tmp_path / "deep.tar", [*_wheel_and_sums(), ("manifest.json", manifest)])
    target = tmp_path / "fresh" / "wheels"
    result = cli("import", str(bundle), "--wheels", str(target))
    assert result.exit_code == 1, result.output
    assert _one_error_line(result.stderr) == "error: refusing the bundle: manifest.json nests too deeply"
    assert not target.exists()


def test_a_manifest_format_of_thousands_of_digits_is_named_in_a_short_line(cli: Cli, tmp_path: Path) -> None:
    bundle = _bundle(tmp_path / "fmt.tar", [*_wheel_and_sums(), ("manifest.json", b'{"format": ' + b"7" * 4000 + b"}")])
    result = cli("import", str(bundle), "--wheels", str(tmp_path / "w"))
    assert result.exit_code == 1, result.output
    line = _one_error_line(result.stderr)
    assert line.startswith("error: the bundle's format 777")
    assert len(line) < 200


def test_a_link_in_the_way_of_a_bundle_wheel_is_refused_and_what_it_points_to_is_untouched(
    cli: Cli, tmp_path: Path, outside: Path
) -> None:
    members = _wheel_and_sums()
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / members[0][0].removeprefix("wheels/")).symlink_to(outside / "id_rsa")
    before = (outside / "id_rsa").read_bytes()
    result = cli("import", str(_bundle(tmp_path / "b.tar", members)), "--wheels", str(wheels))
    assert result.exit_code == 1, result.output
    assert "is in the way of kite-1.0-py3-none-any.whl (it is not a regular file)" in _one_error_line(result.stderr)
    assert (outside / "id_rsa").read_bytes() == before
    assert (wheels / members[0][0].removeprefix("wheels/")).is_symlink()


def test_importing_a_named_pipe_is_one_line_and_does_not_block(cli: Cli, tmp_path: Path) -> None:
    pipe = tmp_path / "bundle.tar"
    os.mkfifo(pipe)
    result = cli("import", str(pipe), "--wheels", str(tmp_path / "w"))
    assert result.exit_code == 1, result.output
    assert _one_error_line(result.stderr) == f"error: no bundle at {pipe}: it is not a regular file"


# -- check -------------------------------------------------------------------------------------------------


def _with_record_tail(tail: bytes) -> tuple[str, bytes]:
    """A wheel whose RECORD ends with ``tail`` (compressed, it stays small)."""
    name, data = make_wheel("demo", "1.0")
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            body = src.read(info)
            zf.writestr(info, body + tail if info.filename.endswith("/RECORD") else body)
    return name, buf.getvalue()


@pytest.mark.parametrize(
    "tail",
    [b"a\n" * 1_000_000, b"".join(b"gone/%d.py,,\n" % n for n in range(1_000_000))],
    ids=["malformed-rows", "rows-naming-no-member"],
)
def test_a_record_of_a_million_rows_is_reported_in_a_bounded_number_of_findings(tmp_path: Path, tail: bytes) -> None:
    name, data = _with_record_tail(tail)
    path = tmp_path / name
    path.write_bytes(data)
    started = time.monotonic()
    findings = inspect_wheel(path).findings
    assert time.monotonic() - started < 20
    assert 1 < len(findings) <= 25
    assert {f.kind for f in findings} == {"record-mismatch"}
    assert "more" in findings[-1].message


def test_a_wheel_replaced_while_it_is_checked_is_judged_as_one_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_wheel(tmp_path, "demo", "1.0")
    good = path.read_bytes()
    broken = tmp_path / "broken"
    broken.write_bytes(good[: len(good) // 2])
    hash_of = wheel_check._file_sha256

    def hash_then_replace(source: BinaryIO) -> str:
        digest = hash_of(source)
        os.replace(broken, path)  # another writer renames a file over it, as every writer does
        return digest

    monkeypatch.setattr(wheel_check, "_file_sha256", hash_then_replace)
    inspection = inspect_wheel(path)
    # The hash is of the good bytes: the findings must be of those bytes too.
    assert inspection.sha256 == hashlib.sha256(good).hexdigest()
    assert inspection.ok, inspection.findings


# -- sbom ----------------------------------------------------------------------------------------------------


def test_terminal_escapes_in_metadata_stay_escaped_in_the_sbom(cli: Cli, project: Path) -> None:
    pytest.importorskip("cyclonedx")
    write_wheel(project / "wheels", "demo", "1.0", license="MIT\x1b[2J\x07", summary="\x1b]0;owned\x07")
    result = cli("sbom", "demo", "--target", "linux/amd64", "--python", "3.12", "-o", "sbom.json")
    assert result.exit_code == 0, result.output
    raw = (project / "sbom.json").read_bytes()
    assert b"\x1b" not in raw
    assert b"\x1b" not in result.output.encode()
    document = json.loads(raw)
    (component,) = document["components"]
    assert component["licenses"][0]["license"]["name"] == "MIT\x1b[2J\x07"
