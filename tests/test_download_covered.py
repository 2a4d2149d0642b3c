"""A download whose folder already covers every target proves it once: the plan's resolution over the folder is
the closing verify's answer, not resolved a second time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.index_server import IndexServer
from tests.test_download import publish_flask
from wheelhouse.fetch.ahead import VerifyAhead
from wheelhouse.resolve.verify import verify_scan

ARGS = ("--target", "linux/amd64", "--python", "3.12")


@pytest.fixture
def flask_index(index_server: IndexServer, project: Path) -> IndexServer:
    publish_flask(index_server)
    (project / "requirements.txt").write_text("flask==3.0.0\n")
    return index_server


def _downloaded_then_counting(
    cli: Cli, index: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[tuple[str, ...], list[int]]:
    """A first download into the project, then a count of the closing verifies that follow: (args, calls)."""
    args = ("download", "--index-url", index.index_url, *ARGS)
    assert cli(*args).exit_code == 0
    calls: list[int] = []

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return verify_scan(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("wheelhouse.fetch.download.verify_scan", counted)
    return args, calls


def test_a_covered_rerun_reports_the_plan_s_proof_without_resolving_again(
    cli: Cli, flask_index: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args, calls = _downloaded_then_counting(cli, flask_index, monkeypatch)
    again = cli(*args, "--json")
    assert again.exit_code == 0, again.output
    assert calls == []
    fresh = cli("verify", *ARGS, "--json", "--no-cache")
    assert fresh.exit_code == 0, fresh.output
    ran, proved = json.loads(again.stdout)["verify"], json.loads(fresh.stdout)
    assert ran["covered"] is True
    assert ran["targets"] == proved["targets"]


def test_a_download_that_adds_a_file_verifies_the_folder_again(
    cli: Cli, flask_index: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args, calls = _downloaded_then_counting(cli, flask_index, monkeypatch)
    # The verify computed while files arrive is the usual path for a download that fetched something.
    monkeypatch.setattr(VerifyAhead, "applies", staticmethod(lambda plan: False))
    (project / "wheels" / "werkzeug-3.0.1-py3-none-any.whl").unlink()
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert calls == [1]
    assert "covered, 4 pinned" in result.output
