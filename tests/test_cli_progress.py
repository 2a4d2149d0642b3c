"""The live transfer display that download draws on a terminal (publish's is tested against a real devpi)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.index_server import IndexServer
from tests.test_download import publish_flask, wheels
from wheelhouse.cli._progress import TransferBars, short


def test_download_on_a_terminal_draws_bars_and_names_every_file(
    cli: Cli, index_server: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_flask(index_server)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    result = cli(
        "download", "--index-url", index_server.index_url, "flask==3.0.0", "--target", "linux/amd64", "--python", "3.12"
    )
    assert result.exit_code == 0, result.output
    assert "to download" in result.stderr
    for filename in wheels(project):
        assert f"✓ {filename}" in result.stderr


def test_bars_count_every_file_once_in_the_total() -> None:
    import io

    from rich.console import Console

    bars = TransferBars(Console(file=io.StringIO(), force_terminal=False))
    bars.start(300)
    bars.begin("a.whl", 100, "a")
    bars.begin("b.whl", 200, "b")
    bars.advance("a.whl", 60)
    bars.advance("a.whl", 100)
    bars.advance("b.whl", 50)
    bars.finish("a.whl")
    total = next(task for task in bars.progress.tasks if task.description == "[bold]total")
    assert total.completed == 150
    assert [task.description for task in bars.progress.tasks] == ["[bold]total", "b"]
    bars.stop()


def test_a_long_name_is_cut_for_its_label() -> None:
    assert short("x" * 50) == "x" * 39 + "…"
    assert short("short.whl") == "short.whl"
