"""The one translation of index settings into pip's (build/pip_options.py) and its credential policy: settings
travel in the environment, never on a command line; a container gets them as ``-e NAME`` without a value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.wheels import make_wheel
from wheelhouse.build.pip_options import (
    CONTAINER_CERT,
    container_environment,
    docker_env_args,
    index_settings,
    pip_environment,
)
from wheelhouse.index.config import IndexConfig


def test_container_settings_mount_local_locations_and_keep_urls(tmp_path: Path) -> None:
    links = tmp_path / "links"
    links.mkdir()
    cert = tmp_path / "ca.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    config = IndexConfig(
        index_url="https://user:s3cret@index.test/simple",
        extra_index_urls=(str(tmp_path / "missing"),),
        find_links=(str(links), f"file://{links}"),
        cert=str(cert),
    )
    env, mounts = container_environment(config, find_links=(str(tmp_path / "gone"),))
    assert env["PIP_INDEX_URL"] == "https://user:s3cret@index.test/simple"
    assert "PIP_EXTRA_INDEX_URL" not in env  # a local index that does not exist cannot be mounted
    assert env["PIP_FIND_LINKS"] == "/wheelhouse-links/0 file:///wheelhouse-links/1"
    assert env["PIP_CERT"] == CONTAINER_CERT
    assert env["PIP_CONFIG_FILE"] == "/dev/null"
    assert mounts == [
        "-v", f"{cert.resolve()}:{CONTAINER_CERT}:ro",
        "-v", f"{links.resolve()}:/wheelhouse-links/0:ro",
        "-v", f"{links.resolve()}:/wheelhouse-links/1:ro",
    ]  # fmt: skip


def test_docker_gets_names_on_its_command_line_and_values_in_its_environment() -> None:
    inner = {"PIP_INDEX_URL": "https://user:s3cret@index.test/simple", "PIP_NO_INPUT": "1"}
    argv, env = docker_env_args(inner, {"PATH": "/usr/bin", "PIP_INDEX_URL": "https://host-only.test/simple"})
    assert argv == ["-e", "PIP_INDEX_URL", "-e", "PIP_NO_INPUT"]
    assert env == {"PATH": "/usr/bin", **inner}


def test_the_effective_settings_replace_inherited_ones() -> None:
    base = {"PIP_INDEX_URL": "https://old.test/simple", "PIP_EXTRA_INDEX_URL": "https://old.test/x", "PIP_PRE": "1"}
    env = pip_environment(IndexConfig(index_url="https://new.test/simple"), base=base)
    assert env["PIP_INDEX_URL"] == "https://new.test/simple"
    assert "PIP_EXTRA_INDEX_URL" not in env
    assert env["PIP_PRE"] == "1"
    # Without a configuration, nothing inherited is touched (a caller with no index settings of its own).
    assert pip_environment(None, base=base)["PIP_EXTRA_INDEX_URL"] == "https://old.test/x"


def test_no_index_sets_no_index_url() -> None:
    settings = index_settings(IndexConfig(no_index=True, find_links=("/srv/wheels",)))
    assert settings["PIP_NO_INDEX"] == "1"
    assert "PIP_INDEX_URL" not in settings
    assert settings["PIP_FIND_LINKS"] == "/srv/wheels"


def test_a_find_links_folder_with_a_space_reaches_pip_whole(tmp_path: Path) -> None:
    # pip splits PIP_FIND_LINKS on whitespace; the folder is given as its file: URL instead.
    links = tmp_path / "my links"
    links.mkdir()
    filename, data = make_wheel("spaced", "1.0")
    (links / filename).write_bytes(data)
    env = pip_environment(IndexConfig(no_index=True, find_links=(str(links),)), base={"PATH": os.environ["PATH"]})
    assert " " not in env["PIP_FIND_LINKS"]
    dest = tmp_path / "dest"
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(dest), "spaced"]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (dest / filename).is_file()
