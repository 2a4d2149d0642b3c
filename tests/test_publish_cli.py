"""``wheelhouse publish`` refusals that need no server: no repository, a folder that does not cover a target
(nothing is asked of the server), and a server that cannot be reached (one line, the password never shown)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.servers import free_port
from tests.support.wheels import write_wheel


def test_without_a_repository_it_is_a_usage_error(project: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWINE_REPOSITORY_URL", raising=False)
    write_wheel(project / "wheels", "demo", "1.0")
    result = cli("publish", "demo")
    assert result.exit_code == 2
    assert "error: no repository to publish to" in result.stderr
    assert "TWINE_REPOSITORY_URL" in result.stderr


def test_a_folder_that_does_not_cover_a_target_stops_before_the_server_is_asked(project: Path, cli: Cli) -> None:
    write_wheel(project / "wheels", "app", "1.0", requires_dist=["absent"])
    # Nothing listens on this port: reaching it would be a network error (exit 1), not exit 3.
    url = f"http://127.0.0.1:{free_port()}/alice/dev/"
    result = cli("publish", "--repository-url", url, "app==1.0", "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 3
    assert "does not cover cp312-manylinux_2_28_x86_64" in result.stderr
    assert "hint: wheelhouse download" in result.stderr


def test_an_unreachable_server_is_one_line_without_the_password(
    project: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHEELHOUSE_BACKOFF", "0")
    write_wheel(project / "wheels", "demo", "1.0")
    secret = "never-print-me"
    url = f"http://ci:{secret}@127.0.0.1:{free_port()}/"
    result = cli("publish", "--repository-url", url, "demo", "--index-url", url + "simple/", "-v")
    assert result.exit_code == 1
    assert secret not in result.output
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")]
