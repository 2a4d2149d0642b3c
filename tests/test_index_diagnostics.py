"""What the index layer says, and when it says nothing: warnings reach the diagnostics channel (and the
CLI's stderr), files no resolver would pick are skipped without a word."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.wheels import make_wheel
from wheelhouse import _log


@pytest.fixture(autouse=True)
def _fresh_channel() -> Iterator[None]:
    # ``once`` messages are said once per process: each test starts with none said.
    _log.forget()
    yield
    _log.forget()


def test_a_missing_find_links_location_is_named_on_stderr(cli: Cli, project: Path, tmp_path: Path) -> None:
    links = project / "links"
    links.mkdir()
    filename, data = make_wheel("attrs", "23.2.0")
    (links / filename).write_bytes(data)
    missing = tmp_path / "missing"
    result = cli(
        "download",
        "--no-index",
        "--find-links",
        str(missing),
        "--find-links",
        "links/",
        "--target",
        "linux/amd64",
        "--python",
        "3.12",
        "attrs",
    )
    assert result.exit_code == 0, result.output
    assert (project / "wheels" / filename).is_file()
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: find-links location {str(missing)!r} does not exist; ignored"]


def test_a_missing_find_links_location_is_said_once_per_client(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from packaging.utils import NormalizedName

    from wheelhouse.index.config import IndexConfig
    from wheelhouse.index.http import IndexClient

    missing = str(tmp_path / "missing")
    with IndexClient(IndexConfig(no_index=True, find_links=(missing,))) as client:
        for name in ("a", "b", "c"):
            assert client.project_files(NormalizedName(name)) == ()
    said = [r.getMessage() for r in caplog.records if r.name == "wheelhouse" and r.levelno == logging.WARNING]
    assert said == [f"find-links location {missing!r} does not exist; ignored"]
