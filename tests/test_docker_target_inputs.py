"""Packages named on the command line replace the configured requirements, as ``-r FILE`` does.

``wheelhouse download six`` in a project whose wheelhouse.toml lists requirements fetches six alone; verify and
lock read their inputs the same way, so the rule is checked on them too.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli
from tests.support.index_server import IndexServer
from tests.support.wheels import write_wheel

TARGET = ("--target", "linux/amd64", "--python", "3.11")


def _configured_project(project: Path) -> None:
    """wheelhouse.toml names requirements.txt, which needs alpha; the folder holds neither alpha nor six."""
    (project / "requirements.txt").write_text("alpha==1.0\n")
    (project / "wheelhouse.toml").write_text('requirements = ["requirements.txt"]\n')


def test_download_of_a_named_package_fetches_it_alone(cli: Cli, project: Path, index_server: IndexServer) -> None:
    _configured_project(project)
    index_server.add_wheel("alpha", "1.0")
    index_server.add_wheel("six", "1.16.0")
    result = cli("download", "--dry-run", "--json", "--index-url", index_server.index_url, *TARGET, "six")
    assert result.exit_code == 0, result.output
    planned = {item["file"] for item in json.loads(result.stdout)["plan"]["fetch"]}
    assert planned == {"six-1.16.0-py3-none-any.whl"}


def test_requirement_files_on_the_command_line_still_add_to_named_packages(
    cli: Cli, project: Path, index_server: IndexServer
) -> None:
    _configured_project(project)
    index_server.add_wheel("alpha", "1.0")
    index_server.add_wheel("six", "1.16.0")
    result = cli(
        "download",
        "--dry-run",
        "--json",
        "--index-url",
        index_server.index_url,
        *TARGET,
        "-r",
        "requirements.txt",
        "six",
    )
    assert result.exit_code == 0, result.output
    planned = {item["file"] for item in json.loads(result.stdout)["plan"]["fetch"]}
    assert planned == {"six-1.16.0-py3-none-any.whl", "alpha-1.0-py3-none-any.whl"}


def test_verify_of_a_named_package_ignores_the_configured_requirements(cli: Cli, project: Path) -> None:
    _configured_project(project)
    write_wheel(project / "wheels", "six", "1.16.0")
    named = cli("verify", *TARGET, "six")
    assert named.exit_code == 0, named.output
    # Without a name the configured requirements are what is verified: alpha is missing.
    assert cli("verify", *TARGET).exit_code == 3
