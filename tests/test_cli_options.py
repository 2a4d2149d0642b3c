"""The options every command shares: ``-v`` after the command, one ProjectOptions, and the one precedence of
index settings used by ``download`` and ``check --fix`` and shown by ``config``."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest

from tests.conftest import Cli
from tests.support.index_server import IndexServer
from tests.support.wheels import write_wheel
from wheelhouse.cli import COMMANDS
from wheelhouse.cli import cli as wheelhouse_group
from wheelhouse.requirements import RequirementSet
from wheelhouse.settings import IndexOptions, Settings, effective_index_config, load_settings

TARGET = ("--target", "linux/amd64", "--python", "3.12")
NO_FILES = {"PIP_CONFIG_FILE": os.devnull}


@pytest.fixture(autouse=True)
def _quiet_again() -> Iterator[None]:
    """The diagnostics level is process-wide: each test starts and ends at the default."""
    logger = logging.getLogger("wheelhouse")
    saved = logger.level
    yield
    logger.setLevel(saved)


# -- -v after the command --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_takes_verbose_after_its_name(name: str) -> None:
    ctx = click.Context(wheelhouse_group)
    command = wheelhouse_group.get_command(ctx, name)
    assert command is not None
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    assert {"-v", "--verbose"} <= options


def test_download_dash_v_after_the_command_shows_notes(cli: Cli, project: Path) -> None:
    links = project / "links"
    write_wheel(links, "pkg", "1.0")
    result = cli("download", "-v", "--no-index", "-f", str(links), "pkg", *TARGET)
    assert result.exit_code == 0, result.output
    assert "index: IndexConfig(" in result.output  # a note shown with -v only
    quiet = cli("download", "--no-index", "-f", str(links), "pkg", *TARGET)
    assert quiet.exit_code == 0, quiet.output
    assert "index: IndexConfig(" not in quiet.output


def test_verbose_before_and_after_the_command_add_up(cli: Cli, project: Path) -> None:
    write_wheel(project / "wheels", "pkg", "1.0")
    result = cli("-v", "verify", "-v", "pkg", *TARGET)
    assert result.exit_code == 0, result.output
    assert logging.getLogger("wheelhouse").level == logging.DEBUG
    assert "target cp312-manylinux_2_28_x86_64" in result.output


# -- one precedence of index settings -------------------------------------------------------------------------


def test_each_layer_overrides_the_one_below_and_is_named() -> None:
    environ = {**NO_FILES, "PIP_INDEX_URL": "http://127.0.0.1:1/env", "PIP_TIMEOUT": "7", "PIP_CERT": "/env.pem"}
    settings = Settings(
        extra_index_urls=("http://127.0.0.1:3/toml-extra",),
        sources={"extra_index_urls": "/p/wheelhouse.toml"},
    )
    reqs = RequirementSet(index_url="http://127.0.0.1:2/req", find_links=("req-links",))
    options = IndexOptions(find_links=("cli-links",), retries=1)

    config = effective_index_config(settings, reqs, options, environ=environ)
    assert config.index_url == "http://127.0.0.1:2/req"
    assert config.extra_index_urls == ("http://127.0.0.1:3/toml-extra",)
    assert config.find_links == ("cli-links",)
    assert (config.timeout, config.cert, config.retries) == (7.0, "/env.pem", 1)
    assert dict(config.sources) == {
        "index_url": "requirements file",
        "extra_index_urls": "/p/wheelhouse.toml",
        "find_links": "command line",
        "timeout": "environment PIP_TIMEOUT",
        "cert": "environment PIP_CERT",
        "retries": "command line",
    }


def test_the_command_line_wins_and_isolated_skips_pip() -> None:
    environ = {**NO_FILES, "PIP_INDEX_URL": "http://127.0.0.1:1/env", "PIP_NO_INDEX": "1"}
    settings = Settings(index_url="http://127.0.0.1:3/toml", sources={"index_url": "/p/wheelhouse.toml"})
    given = IndexOptions(index_url="http://127.0.0.1:4/cli", cert="/cli.pem", timeout=3.0)
    config = effective_index_config(settings, None, given, environ=environ)
    assert (config.index_url, config.no_index, config.cert, config.timeout) == (
        "http://127.0.0.1:4/cli",
        True,
        "/cli.pem",
        3.0,
    )
    isolated = effective_index_config(settings, None, IndexOptions(isolated=True), environ=environ)
    assert (isolated.index_url, isolated.no_index) == ("http://127.0.0.1:3/toml", False)
    assert dict(isolated.sources)["isolated"] == "command line"


def test_config_shows_the_effective_index_redacted(cli: Cli, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "http://user:s3cret@127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_TIMEOUT", "9")
    (project / "requirements.txt").write_text("--find-links ./links\npkg\n")
    result = cli("config", "--json", "--retries", "2")
    assert result.exit_code == 0, result.output
    index = json.loads(result.stdout)["index"]
    assert index["index-url"] == {"value": "http://user:****@127.0.0.1:9/simple", "source": "environment PIP_INDEX_URL"}
    assert index["find-links"] == {"value": ["./links"], "source": "requirements file"}
    assert index["timeout"] == {"value": 9.0, "source": "environment PIP_TIMEOUT"}
    assert index["retries"] == {"value": 2, "source": "command line"}
    assert index["no-index"] == {"value": False, "source": "default"}
    human = cli("config")
    assert human.exit_code == 0, human.output
    assert "s3cret" not in human.output
    row = next(line.split() for line in human.output.splitlines() if line.strip().startswith("timeout"))
    assert row == ["timeout", "9.0", "environment", "PIP_TIMEOUT"]


def test_config_shows_the_index_even_when_the_requirements_files_are_missing(cli: Cli, project: Path) -> None:
    (project / "wheelhouse.toml").write_text('requirements = ["missing.txt"]\nindex-url = "http://127.0.0.1:9/s"\n')
    result = cli("config", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["index"]["index-url"] == {"value": "http://127.0.0.1:9/s", "source": str(project / "wheelhouse.toml")}


# -- check --fix: the same precedence, one client --------------------------------------------------------------


def test_check_fix_uses_one_client_with_the_effective_index(
    cli: Cli, project: Path, index_server: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wheelhouse.index import http
    from wheelhouse.store.folder import FileRecord, Store

    wheels = project / "wheels"
    records = {}
    originals = {}
    for name in ("one", "two"):
        filename = index_server.add_wheel(name, "1.0")
        good = index_server.file_bytes(filename)
        originals[filename] = good
        (wheels / filename).write_bytes(good[:-300])
        records[filename] = FileRecord(sha256=hashlib.sha256(good).hexdigest(), url=index_server.file_url(filename))
    Store(wheels).update_records(records)
    (project / "wheelhouse.toml").write_text('find-links = ["links"]\n')
    monkeypatch.setenv("PIP_TIMEOUT", "7")

    opened: list[Any] = []

    class CountingClient(http.IndexClient):
        def __init__(self, config: Any, **kwargs: Any) -> None:
            opened.append(config)
            super().__init__(config, **kwargs)

    monkeypatch.setattr(http, "IndexClient", CountingClient)
    result = cli("check", "--fix", "--json")
    assert result.exit_code == 0, result.output
    assert [i["fix"]["status"] for i in json.loads(result.stdout)["issues"]] == ["restored", "restored"]
    assert all((wheels / f).read_bytes() == data for f, data in originals.items())
    (config,) = opened
    assert config.timeout == 7.0
    assert config.find_links == ("links",)


def test_check_without_fix_opens_no_client(cli: Cli, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wheelhouse.index import http

    write_wheel(project / "wheels", "pkg", "1.0")

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("no client is needed")

    monkeypatch.setattr(http, "IndexClient", refuse)
    assert cli("check").exit_code == 0
    assert cli("check", "--fix").exit_code == 0


def test_settings_of_the_file_reach_the_effective_index(project: Path) -> None:
    (project / "wheelhouse.toml").write_text('index-url = "http://127.0.0.1:9/simple"\n')
    config = effective_index_config(load_settings(project), environ=NO_FILES)
    assert config.index_url == "http://127.0.0.1:9/simple"
    assert dict(config.sources)["index_url"] == str(project / "wheelhouse.toml")
