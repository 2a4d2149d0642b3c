"""Shared fixtures: wheel folders built on the fly, the local index, an isolated pip, and the CLI runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from tests.support.index_server import IndexServer
from tests.support.wheels import write_wheel

# The Docker tests' check that they leave no dangling image behind (a session fixture; idle without them).
pytest_plugins = ["tests.support.docker_guard"]


@pytest.fixture(autouse=True)
def _isolated_pip(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """This machine's pip configuration (extra indexes, find-links, constraints) must not leak into tests."""
    for key in list(os.environ):
        if key.startswith("PIP_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    monkeypatch.setenv("PIP_NO_INPUT", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    # A private HOME keeps ~/.netrc and ~/.config/pip of the machine out of the tests.
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)


WheelFactory = Callable[..., Path]


@pytest.fixture
def wheels_dir(tmp_path: Path) -> Path:
    path = tmp_path / "wheels"
    path.mkdir()
    return path


@pytest.fixture
def add_wheel(wheels_dir: Path) -> WheelFactory:
    """``add_wheel("flask", "3.0.0", requires_dist=[...], tag=...)`` writes a wheel into ``wheels_dir``."""

    def add(name: str, version: str, **kwargs: Any) -> Path:
        return write_wheel(wheels_dir, name, version, **kwargs)

    return add


@pytest.fixture
def index_server() -> Iterator[IndexServer]:
    with IndexServer() as server:
        yield server


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory that is the working directory, with wheels/ inside."""
    root = tmp_path / "project"
    (root / "wheels").mkdir(parents=True)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def a_needs_b(index_server: IndexServer, project: Path) -> IndexServer:
    """The local index serving a 1.0 (which needs b), b 1.0 and c 1.0; the project's requirements.txt asks for a."""
    index_server.add_wheel("a", "1.0", requires_dist=["b>=1"])
    index_server.add_wheel("b", "1.0")
    index_server.add_wheel("c", "1.0")
    (project / "requirements.txt").write_text("a\n")
    return index_server


@click.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def _entry(args: tuple[str, ...]) -> None:
    """Call the real console-script entry (with its error handling) inside click's isolated runner."""
    from wheelhouse.cli import main

    main(list(args))


class Cli:
    """Run ``wheelhouse`` in-process; output and exit code as a user would see them."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(_entry, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def cli() -> Cli:
    return Cli()


def run_wheelhouse(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``wheelhouse`` console script as a real process."""
    exe = shutil.which("wheelhouse", path=str(Path(sys.executable).parent)) or "wheelhouse"
    return subprocess.run(
        [exe, *args],
        cwd=cwd,
        env=env or os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``network`` reach the real package index: they run only when asked for (``-m network``)."""
    if "network" in (config.getoption("markexpr") or "") and "not network" not in config.getoption("markexpr"):
        return
    skip = pytest.mark.skip(reason="reaches the real package index; run with -m network")
    for item in items:
        if "network" in item.keywords:
            item.add_marker(skip)
