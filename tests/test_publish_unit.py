"""The pieces of ``publish`` without a real server: the multipart body, the form, credentials, the server's
Simple API URL, the plan against a local index (conflicts, files present), and the uploader's answers to a
server that says "exists", "try again", or "who are you"."""

from __future__ import annotations

import email
import email.policy
import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import requests

from tests.support.index_server import IndexServer
from tests.support.wheels import make_wheel, write_wheel
from wheelhouse.errors import ExitCode, NotCoveredError
from wheelhouse.index.config import IndexConfig
from wheelhouse.index.http import IndexClient
from wheelhouse.requirements import load_requirements
from wheelhouse.share.publish import PublishConflict, PublishOptions, plan_publish, select_files
from wheelhouse.share.remote_verify import repository_url_for
from wheelhouse.share.upload import (
    MultipartBody,
    Repository,
    Uploader,
    UploadError,
    UploadFile,
    form_fields,
    simple_url_for,
)
from wheelhouse.store.folder import Store
from wheelhouse.targets import parse_targets


def _item(path: Path, project: str = "demo", version: str = "1.0") -> UploadFile:
    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    if path.name.endswith(".whl"):
        return UploadFile(path.name, path, sha256, len(data), project, version, "wheel")
    return UploadFile(path.name, path, sha256, len(data), project, version, "sdist")


@pytest.fixture
def wheel(tmp_path: Path) -> UploadFile:
    path = write_wheel(tmp_path, "demo", "1.0", requires_dist=["lib>=1", "other; extra == 'x'"], payload_size=700_000)
    return _item(path)


def test_the_body_is_the_form_then_the_file_and_its_length_is_known(wheel: UploadFile) -> None:
    progress: list[int] = []
    body = MultipartBody(form_fields(wheel), wheel, progress.append)
    data = body.read(-1)
    assert len(data) == len(body)
    message = email.message_from_bytes(
        f"Content-Type: {body.content_type}\r\n\r\n".encode() + data, policy=email.policy.HTTP
    )
    parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
    content = parts["content"].get_payload(decode=True)
    assert isinstance(content, bytes)
    assert hashlib.sha256(content).hexdigest() == wheel.sha256
    assert parts["content"].get_filename() == "demo-1.0-py3-none-any.whl"
    assert progress[-1] == wheel.size
    fields = form_fields(wheel)
    assert (":action", "file_upload") in fields
    assert ("filetype", "bdist_wheel") in fields
    assert ("pyversion", "py3") in fields
    assert ("sha256_digest", wheel.sha256) in fields
    assert [v for k, v in fields if k == "requires_dist"] == ["lib>=1", "other; extra == 'x'"]
    assert [k for k, _ in fields].count("metadata_version") == 1


def test_reading_the_body_in_pieces_gives_the_same_bytes(wheel: UploadFile) -> None:
    whole = MultipartBody(form_fields(wheel), wheel).read(-1)
    body = MultipartBody(form_fields(wheel), wheel)
    pieces = []
    while chunk := body.read(8192):
        pieces.append(chunk)
    # Boundaries are random per body: compare the lengths and the file inside.
    assert sum(map(len, pieces)) == len(whole)


def test_an_sdist_is_sent_as_source_with_its_pkg_info(tmp_path: Path) -> None:
    from tests.support.wheels import make_sdist

    filename, data = make_sdist("demo", "1.0", requires_dist=["lib"])
    path = tmp_path / filename
    path.write_bytes(data)
    fields = form_fields(_item(path))
    assert ("filetype", "sdist") in fields
    assert ("pyversion", "source") in fields
    assert ("requires_dist", "lib") in fields


def test_the_simple_api_url_is_derived_per_server_kind() -> None:
    devpi = requests.Response()
    devpi.headers["X-Devpi-Server-Version"] = "6.20.3"
    assert simple_url_for("http://h:3141/alice/dev", devpi) == "http://h:3141/alice/dev/+simple/"
    assert simple_url_for("http://h:8080/", None) == "http://h:8080/simple/"
    nexus = "https://nexus.example/repository/pypi-hosted/"
    assert simple_url_for(nexus, requests.Response()) == nexus + "simple/"
    assert simple_url_for("https://upload.pypi.org/legacy/", None) == "https://pypi.org/simple/"
    assert repository_url_for("http://h:3141/alice/dev/+simple/") == "http://h:3141/alice/dev/"
    assert repository_url_for("http://h:8080/simple/") == "http://h:8080/"


def test_credentials_come_from_the_options_first_then_the_url_and_stay_on_their_host() -> None:
    repo = Repository.from_options("https://user:from-url@devpi.example/alice/dev")
    assert repo.url == "https://devpi.example/alice/dev/"
    assert repo.auth == ("user", "from-url")
    explicit = Repository.from_options("https://user:from-url@devpi.example/alice/dev/", "ci", "from-option")
    assert explicit.auth == ("ci", "from-option")
    assert explicit.with_credentials("https://devpi.example/alice/dev/+simple/") == (
        "https://ci:from-option@devpi.example/alice/dev/+simple/"
    )
    assert explicit.with_credentials("https://elsewhere.example/simple/") == "https://elsewhere.example/simple/"
    assert Repository.from_options("https://devpi.example/").auth is None


def _client(server: IndexServer) -> IndexClient:
    return IndexClient(IndexConfig(index_url=server.index_url, retries=0), backoff=0)


def test_the_plan_skips_what_the_server_lists_with_the_same_sha256(tmp_path: Path, index_server: IndexServer) -> None:
    same = write_wheel(tmp_path, "demo", "1.0")
    new = write_wheel(tmp_path, "demo", "1.1")
    index_server.add(same.name, same.read_bytes())
    with _client(index_server) as client:
        plan = plan_publish([_item(same), _item(new, version="1.1")], client, repository_url="http://x/")
    assert [f.filename for f in plan.upload] == [new.name]
    assert [f.filename for f in plan.present] == [same.name]


def test_a_file_of_the_same_name_with_another_sha256_stops_the_plan_naming_both(
    tmp_path: Path, index_server: IndexServer
) -> None:
    ours = write_wheel(tmp_path, "demo", "1.0", payload_size=10)
    filename, theirs = make_wheel("demo", "1.0", payload_size=11)
    index_server.add(filename, theirs)
    with _client(index_server) as client, pytest.raises(PublishConflict) as caught:
        plan_publish([_item(ours)], client, repository_url="http://x/")
    message = str(caught.value)
    assert hashlib.sha256(theirs).hexdigest() in message
    assert _item(ours).sha256 in message
    assert "\n" not in message
    assert caught.value.exit_code == ExitCode.FAILURE


def test_a_folder_that_does_not_cover_a_target_publishes_nothing(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    write_wheel(wheels, "app", "1.0", requires_dist=["missing-lib"])
    reqs = load_requirements([], ["app==1.0"])
    with pytest.raises(NotCoveredError) as caught:
        select_files(Store(wheels), reqs, parse_targets(["linux/amd64"], pythons=["3.12"]))
    assert "does not cover cp312-manylinux_2_28_x86_64 (1 gap)" in str(caught.value)
    assert caught.value.exit_code == ExitCode.NOT_COVERED


def test_selection_takes_the_pinned_files_and_with_sdists_their_source_only(tmp_path: Path) -> None:
    from tests.support.wheels import make_sdist

    wheels = tmp_path / "wheels"
    write_wheel(wheels, "app", "1.0", requires_dist=["lib"])
    write_wheel(wheels, "lib", "2.0")
    write_wheel(wheels, "unused", "1.0")
    for name in ("lib", "unused"):
        filename, data = make_sdist(name, "2.0" if name == "lib" else "1.0")
        (wheels / filename).write_bytes(data)
    reqs = load_requirements([], ["app==1.0"])
    targets = parse_targets(["linux/amd64"], pythons=["3.12"])
    files, report = select_files(Store(wheels), reqs, targets)
    assert [f.filename for f in files] == ["app-1.0-py3-none-any.whl", "lib-2.0-py3-none-any.whl"]
    assert report is not None
    assert report.covered
    with_sdists, _ = select_files(Store(wheels), reqs, targets, options=PublishOptions(sdists=True))
    assert [f.filename for f in with_sdists][-1] == "lib-2.0.tar.gz"
    assert len(with_sdists) == 3
    everything, none = select_files(Store(wheels), reqs, targets, options=PublishOptions(everything=True))
    assert none is None
    assert len(everything) == 3
    for item in everything:
        assert item.sha256 == hashlib.sha256(item.path.read_bytes()).hexdigest()


# -- the uploader against a server that answers as told ---------------------------------------------------------


class _Answers(BaseHTTPRequestHandler):
    answers: ClassVar[list[tuple[int, bytes]]] = []
    seen: ClassVar[list[tuple[str | None, int]]] = []
    clients: ClassVar[list[tuple[str, int]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        type(self).seen.append((self.headers.get("Authorization"), length))
        type(self).clients.append(self.client_address)
        status, body = type(self).answers.pop(0) if type(self).answers else (200, b"")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def answering() -> Iterator[tuple[str, type[_Answers]]]:
    handler = type("Handler", (_Answers,), {"answers": [], "seen": [], "clients": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_5xx_answer_is_retried_and_the_retry_reported(
    wheel: UploadFile, answering: tuple[str, type[_Answers]]
) -> None:
    url, handler = answering
    handler.answers = [(503, b"busy"), (200, b"")]
    retries: list[tuple[str, int, str]] = []
    with Uploader(
        Repository.from_options(url, "ci", "tok"),
        backoff=0,
        on_retry=lambda item, n, cause: retries.append((item.filename, n, cause)),
    ) as uploader:
        assert uploader.upload(wheel) == "uploaded"
    assert retries == [(wheel.filename, 1, "HTTP 503 busy")]
    assert len(handler.seen) == 2
    assert all(auth and auth.startswith("Basic ") for auth, _ in handler.seen)
    assert all(length > wheel.size for _, length in handler.seen)


def test_a_server_that_holds_the_file_already_answers_exists(
    wheel: UploadFile, answering: tuple[str, type[_Answers]]
) -> None:
    url, handler = answering
    handler.answers = [(409, b"demo-1.0-py3-none-any.whl already exists in non-volatile index")]
    with Uploader(Repository.from_options(url), backoff=0) as uploader:
        assert uploader.upload(wheel) == "exists"


def test_a_refusal_names_the_status_and_never_the_password(
    wheel: UploadFile, answering: tuple[str, type[_Answers]]
) -> None:
    url, handler = answering
    handler.answers = [(403, b"no permission to submit")]
    secret = "pa55-w0rd-secret"
    repository = Repository.from_options(url.replace("http://", f"http://ci:{secret}@"))
    with Uploader(repository, backoff=0) as uploader, pytest.raises(UploadError) as caught:
        uploader.upload(wheel)
    assert "HTTP 403: no permission to submit" in str(caught.value)
    assert secret not in str(caught.value)
    assert caught.value.hint is not None
    assert len(handler.seen) == 1  # a refusal is not retried


def test_a_server_that_never_answers_well_fails_after_the_retries(
    wheel: UploadFile, answering: tuple[str, type[_Answers]]
) -> None:
    url, handler = answering
    handler.answers = [(502, b"")] * 3
    with Uploader(Repository.from_options(url), retries=2, backoff=0) as uploader, pytest.raises(UploadError) as caught:
        uploader.upload(wheel)
    assert "after 3 attempts" in str(caught.value)
    assert len(handler.seen) == 3


def test_the_remote_verify_reads_the_metadata_of_known_bytes_locally_and_of_the_rest_from_the_server(
    tmp_path: Path,
) -> None:
    from wheelhouse.share.remote_verify import verify_remote

    app = write_wheel(tmp_path / "local", "app", "1.0", requires_dist=["lib"])
    lib_name, lib = make_wheel("lib", "1.0")
    with IndexServer(core_metadata=False) as server:
        server.add(app.name, app.read_bytes())
        server.add(lib_name, lib)
        reqs = load_requirements([], ["app==1.0"])
        targets = parse_targets(["linux/amd64"], pythons=["3.12"])
        with _client(server) as client:
            report = verify_remote(reqs, targets, client, known={_item(app, "app").sha256: app})
        assert report.covered
        files = [r.route for r in server.requests.snapshot() if r.route.endswith(".whl")]
        # app's bytes are known (the same sha256 as the local copy): only lib's were asked for.
        assert files
        assert all(route.endswith(lib_name) for route in files)
        assert report.fix_command(targets[0]).startswith(f"wheelhouse publish --repository-url {server.url}/")


def test_without_a_password_the_netrc_then_the_keyring_command_are_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine netrc.example login ci password from-netrc\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert Repository.from_options("https://netrc.example/ci/prod/").auth == ("ci", "from-netrc")
    # keyring's command-line interface: `keyring get SERVICE USER` prints the password.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "keyring"
    script.write_text('#!/bin/sh\n[ "$1" = get ] && [ "$3" = ci ] && echo "from-keyring-$2" && exit 0\nexit 1\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    repo = Repository.from_options("https://ci@vault.example/ci/prod")
    assert repo.auth == ("ci", "from-keyring-https://vault.example/ci/prod/")
    assert Repository.from_options("https://ci@vault.example/", keyring_provider="disabled").auth == ("ci", "")


def test_successive_uploads_share_one_connection(wheel: UploadFile, answering: tuple[str, type[_Answers]]) -> None:
    # Over HTTPS a connection per file is a handshake per file: a short answer read to its end keeps it open.
    url, handler = answering
    handler.protocol_version = "HTTP/1.1"
    handler.answers = [(200, b"stored"), (200, b"stored"), (200, b"")]
    with Uploader(Repository.from_options(url), backoff=0) as uploader:
        assert [uploader.upload(wheel) for _ in range(3)] == ["uploaded"] * 3
    assert len(handler.seen) == 3
    assert len(set(handler.clients)) == 1
