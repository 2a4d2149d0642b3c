"""``wheelhouse publish`` and ``verify --index-url`` against a real pypiserver on 127.0.0.1.

pypiserver serves HTML pages only (no PEP 691 JSON, no PEP 658 metadata files): the remote verify reads each
wheel's metadata by range requests. Uploads need a password (an htpasswd file); here it comes from twine's
environment variables, as on a CI runner.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.servers import (
    PASSWORD,
    USER,
    RunningServer,
    listed,
    missing,
    pip_install_from,
    start_pypiserver,
    write_example_project,
)

pytestmark = pytest.mark.skipif(missing("pypi-server") is not None, reason=str(missing("pypi-server")))

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
TARGETS = ("--target", "linux/amd64", "--target", "linux/arm64", "--python", PYTHON)


@pytest.fixture(scope="module")
def pypiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_pypiserver(tmp_path_factory.mktemp("pypiserver"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def example(project: Path) -> Path:
    write_example_project(project)
    return project


def test_publish_with_twine_variables_then_verify_and_install_from_the_server_alone(
    pypiserver: RunningServer, example: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TWINE_REPOSITORY_URL", pypiserver.repository_url)
    monkeypatch.setenv("TWINE_USERNAME", USER)
    monkeypatch.setenv("TWINE_PASSWORD", PASSWORD)
    result = cli("publish", *TARGETS, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["index"] == pypiserver.index_url  # found without being told: pypiserver's /simple/
    assert len(data["uploaded"]) == 4
    assert data["covered"] is True
    assert PASSWORD not in result.output
    for filename, sha256 in listed(pypiserver.index_url, "lib").items():
        assert sha256 == hashlib.sha256((example / "wheels" / filename).read_bytes()).hexdigest()

    again = cli("publish", *TARGETS, "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["uploaded"] == []

    verified = cli("verify", "--index-url", pypiserver.index_url, *TARGETS, "--json")
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.stdout)
    assert [len(t["pins"]) for t in report["targets"]] == [3, 3]

    target = tmp_path / "installed"
    pip = pip_install_from(pypiserver.index_url, target, "app==1.0")
    assert pip.returncode == 0, pip.stderr
    assert (target / "lib" / "arch.txt").read_text() == platform.machine()


def test_a_wrong_password_is_refused_and_never_printed(
    pypiserver: RunningServer, example: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.wheels import write_wheel

    write_wheel(example / "wheels", "only-here", "1.0")  # a file the server surely lacks, whatever ran before
    wrong = "not-the-Pa55word"
    monkeypatch.setenv("TWINE_PASSWORD", wrong)
    url = pypiserver.repository_url.replace("http://", f"http://{USER}:{wrong}@")
    result = cli("publish", "--repository-url", url, "--all", *TARGETS)
    assert result.exit_code == 1
    assert wrong not in result.output
    assert "refused the upload (HTTP 401" in result.stderr or "refused the upload (HTTP 403" in result.stderr
    assert "hint:" not in result.stderr or "--username" in result.stderr
    assert listed(pypiserver.index_url, "only-here") == {}
