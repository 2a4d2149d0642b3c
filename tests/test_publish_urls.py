"""``publish`` and ``verify --index-url`` take server URLs a project path is appended to: a URL with a query or a
fragment, or no URL at all, is a usage error (exit 2) in one line that shows no secret, before any request."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.servers import free_port
from tests.support.wheels import write_wheel

SECRETS = ("s3cret", "s3cretq", "s3cretf")


@pytest.fixture
def folder(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WHEELHOUSE_BACKOFF", "0")
    monkeypatch.delenv("TWINE_REPOSITORY_URL", raising=False)
    write_wheel(project / "wheels", "demo", "1.0")
    return project


def _server() -> str:
    # Nothing listens there: a request would be a network error (exit 1), not the usage error expected.
    return f"http://127.0.0.1:{free_port()}"


@pytest.mark.parametrize("tail", ["/?token=s3cretq", "/#frag-s3cretf", "/?token=s3cretq#frag-s3cretf", "/?"])
def test_a_repository_url_with_a_query_or_fragment_is_refused(folder: Path, cli: Cli, tail: str) -> None:
    url = _server().replace("http://", "http://user:s3cret@") + tail
    result = cli("publish", "--repository-url", url, "demo")
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[0] == (
        "error: --repository-url must not carry a query or a fragment (a '?' or '#' part)"
    )
    assert not [s for s in SECRETS if s in result.output]
    assert "simple" not in result.output


@pytest.mark.parametrize("command", ["publish", "verify"])
def test_an_index_url_with_a_query_is_refused(folder: Path, cli: Cli, command: str) -> None:
    index = f"{_server()}/simple/?token=s3cretq"
    extra = ["--repository-url", _server() + "/"] if command == "publish" else []
    result = cli(command, *extra, "--index-url", index, "demo", "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[0] == (
        "error: --index-url must not carry a query or a fragment (a '?' or '#' part)"
    )
    assert "s3cretq" not in result.output


@pytest.mark.parametrize(
    ("option", "value", "shown"),
    [
        ("--index-url", "not-a-url", "'not-a-url' is not a URL (http:// or https:// or file://)"),
        ("--index-url", "ftp://127.0.0.1/simple/", "'ftp://127.0.0.1/simple/' is not a URL"),
        ("--repository-url", "file:///srv/repo/", "'file:///srv/repo/' is not a URL (http:// or https://)"),
        ("--repository-url", "http://ci:s3cret@127.0.0.1:port/", "'http://ci:****@127.0.0.1:port/' is not a URL"),
        ("--repository-url", "http:///no-host/", "'http:///no-host/' is not a URL"),
    ],
)
def test_what_is_not_a_server_url_is_a_usage_error_naming_it(
    folder: Path, cli: Cli, option: str, value: str, shown: str
) -> None:
    args = ["--repository-url", _server() + "/"] if option == "--index-url" else []
    result = cli("publish", *args, option, value, "demo")
    assert result.exit_code == 2, result.output
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"error: {option} {shown}"), first
    assert "s3cret" not in result.output
    assert "Traceback" not in result.output


def test_the_retries_option_says_it_is_for_uploads_only(cli: Cli) -> None:
    result = cli("publish", "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Retries of each failed upload" in text
    assert "Uploads only: reading the server's pages is retried 4 times, as for downloads." in text
