"""The Docker tests' and the benchmark's clean-up removes the images they built and never another's: a classic
build prints the id of its ``FROM`` step's image (the base image) among its own, and ``image rm --force`` of that
id would untag and delete the base image every later build needs."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from bench import docker_env

BASE_ID = "3e6174f4cbbd"
OURS_ID = "c257a45a2525"


def _fake_client(tmp_path: Path) -> tuple[Path, Path]:
    """A docker client that knows two images (the base image, tagged by others, and one of ours) and logs the
    images it is asked to remove."""
    log = tmp_path / "removed.txt"
    tags = {BASE_ID: ["wheelhouse-test/python:3.11-bookworm"], OURS_ID: ["wheelhouse-test/app:1"]}
    script = tmp_path / "docker"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"tags = {json.dumps(tags)}\n"
        "tags['wheelhouse-test/app:1'] = tags[" + repr(OURS_ID) + "]\n"
        "args = sys.argv[1:]\n"
        "if args[:2] == ['image', 'inspect']:\n"
        "    status = 0\n"
        "    for ref in args[4:]:\n"
        "        if ref in tags:\n"
        "            print(json.dumps(tags[ref]))\n"
        "        else:\n"
        "            print(f'Error: No such image: {ref}', file=sys.stderr)\n"
        "            status = 1\n"
        "    sys.exit(status)\n"
        "if args[:3] == ['image', 'rm', '--force']:\n"
        f"    open({str(log)!r}, 'a').write(' '.join(args[3:]) + '\\n')\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, log


def test_an_image_tagged_by_somebody_else_is_never_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, log = _fake_client(tmp_path)
    monkeypatch.setenv("WHEELHOUSE_DOCKER_CLIENT", str(client))
    docker_env.remove_images([BASE_ID, OURS_ID, "wheelhouse-test/app:1", "gone0000000"])
    assert log.read_text().split() == sorted([OURS_ID, "wheelhouse-test/app:1", "gone0000000"])


def test_nothing_to_remove_runs_no_removal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, log = _fake_client(tmp_path)
    monkeypatch.setenv("WHEELHOUSE_DOCKER_CLIENT", str(client))
    docker_env.remove_images([BASE_ID])
    assert not log.exists()
