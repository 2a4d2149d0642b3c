"""``wheelhouse publish`` and ``verify --index-url`` against a real devpi-server on 127.0.0.1.

One server per module (it takes seconds to start); each test publishes into an index of its own.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.servers import (
    PASSWORD,
    USER,
    CuttingProxy,
    RunningServer,
    listed,
    missing,
    new_devpi_index,
    pip_install_from,
    start_devpi,
    write_example_project,
)

pytestmark = pytest.mark.skipif(
    missing("devpi-init", "devpi-server") is not None, reason=str(missing("devpi-init", "devpi-server"))
)

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
TARGETS = ("--target", "linux/amd64", "--target", "linux/arm64", "--python", PYTHON)
NEEDED = {
    "app-1.0-py3-none-any.whl",
    "lib-1.0-py3-none-manylinux_2_17_x86_64.whl",
    "lib-1.0-py3-none-manylinux_2_17_aarch64.whl",
    "pure-2.0-py3-none-any.whl",
}


@pytest.fixture(scope="module")
def devpi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_devpi(tmp_path_factory.mktemp("devpi"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def example(project: Path) -> Path:
    write_example_project(project)
    return project


def _with_password(url: str) -> str:
    return url.replace("http://", f"http://{USER}:{PASSWORD}@", 1)


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_publish_uploads_what_the_targets_need_then_a_second_run_uploads_nothing(
    devpi: RunningServer, example: Path, cli: Cli
) -> None:
    repository, index = new_devpi_index(devpi, "first")
    result = cli("publish", "--repository-url", _with_password(repository), *TARGETS, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["uploaded"]) == NEEDED  # not "other", which no target needs; no sdist without --sdists
    assert data["covered"] is True
    assert data["index"] == index
    for name in ("app", "lib", "pure"):
        for filename, sha256 in listed(index, name).items():
            assert sha256 == _sha256(example / "wheels" / filename)
    assert listed(index, "other") == {}
    assert PASSWORD not in result.output

    again = cli("publish", "--repository-url", _with_password(repository), *TARGETS, "--json")
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)
    assert data["uploaded"] == []
    assert {f["file"] for f in data["present"]} == NEEDED
    assert data["covered"] is True


def test_a_file_of_the_same_name_with_other_bytes_is_a_conflict_and_nothing_is_sent(
    devpi: RunningServer, example: Path, cli: Cli
) -> None:
    repository, index = new_devpi_index(devpi, "conflict")
    first = cli("publish", "--repository-url", _with_password(repository), *TARGETS)
    assert first.exit_code == 0, first.output
    served = listed(index, "pure")["pure-2.0-py3-none-any.whl"]
    # The folder now holds other bytes under the published name, and a new file the server lacks.
    from tests.support.wheels import write_wheel

    changed = write_wheel(example / "wheels", "pure", "2.0", payload_size=200_001)
    result = cli("publish", "--repository-url", _with_password(repository), *TARGETS, "--all")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert served in errors[0]
    assert _sha256(changed) in errors[0]
    assert "pure-2.0-py3-none-any.whl" in errors[0]
    # Nothing was sent: the server's copy is the first one, and "other" (which --all would add) is not there.
    assert listed(index, "pure")["pure-2.0-py3-none-any.whl"] == served
    assert listed(index, "other") == {}


def test_verify_against_the_server_and_pip_installs_from_it_alone(
    devpi: RunningServer, example: Path, cli: Cli, tmp_path: Path
) -> None:
    repository, index = new_devpi_index(devpi, "install")
    assert cli("publish", "--repository-url", _with_password(repository), *TARGETS, "--sdists").exit_code == 0
    assert "pure-2.0.tar.gz" in listed(index, "pure")

    verified = cli("verify", "--index-url", index, *TARGETS)
    assert verified.exit_code == 0, verified.output
    assert "covers every target" in verified.stdout
    also = cli("verify", "--against", index, "--target", "linux/s390x", "--python", PYTHON, "--json")
    assert also.exit_code == 3
    report = json.loads(also.stdout)
    assert report["covered"] is False
    assert report["targets"][0]["gaps"][0]["project"] == "lib"
    assert report["targets"][0]["fix"].startswith(f"wheelhouse publish --repository-url {repository}")

    target = tmp_path / "installed"
    pip = pip_install_from(index, target, "app==1.0")
    assert pip.returncode == 0, pip.stderr
    import platform

    assert (target / "lib" / "arch.txt").read_text() == platform.machine()
    assert (target / "pure" / "__init__.py").is_file()


def test_an_upload_cut_mid_way_is_retried_and_nothing_partial_is_listed(
    devpi: RunningServer, example: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    repository, index = new_devpi_index(devpi, "faults")
    port = int(devpi.base_url.rsplit(":", 1)[1])
    monkeypatch.setenv("WHEELHOUSE_BACKOFF", "0")
    monkeypatch.setenv("TWINE_USERNAME", USER)
    monkeypatch.setenv("TWINE_PASSWORD", PASSWORD)
    proxy = CuttingProxy(("127.0.0.1", port), cuts=1, after=100_000)
    try:
        through = proxy.url(repository.split(str(port), 1)[1])
        args = ("publish", "--repository-url", through, "--index-url", index, *TARGETS, "-j", "1")
        # No retries: the cut upload fails the run, and the server lists nothing of it.
        cut = cli(*args, "--retries", "0", "--json")
        assert cut.exit_code == 1
        data = json.loads(cut.stdout)
        assert [f["file"] for f in data["failed"]] == ["pure-2.0-py3-none-any.whl"]  # the only file over 100 kB
        assert proxy.cut == 1
        assert listed(index, "pure") == {}
        # The same command again finishes the job, sending only what is missing.
        again = cli(*args, "--json")
        assert again.exit_code == 0, again.output
        data = json.loads(again.stdout)
        assert data["uploaded"] == ["pure-2.0-py3-none-any.whl"]
        assert data["covered"] is True
        assert listed(index, "pure")["pure-2.0-py3-none-any.whl"] == _sha256(
            example / "wheels" / "pure-2.0-py3-none-any.whl"
        )
        # With retries, a cut is survived within one run.
        proxy.cuts, proxy.cut = 1, 0
        repository2, index2 = new_devpi_index(devpi, "faults2")
        through2 = proxy.url(repository2.split(str(port), 1)[1])
        one_run = cli("publish", "--repository-url", through2, "--index-url", index2, *TARGETS, "-j", "1")
        assert one_run.exit_code == 0, one_run.output
        assert "retrying pure-2.0-py3-none-any.whl" in one_run.stderr
        assert proxy.cut == 1
    finally:
        proxy.close()


def test_dry_run_lists_what_would_be_sent_and_sends_nothing(devpi: RunningServer, example: Path, cli: Cli) -> None:
    repository, index = new_devpi_index(devpi, "dry")
    result = cli("publish", "--repository-url", _with_password(repository), *TARGETS, "--all", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "5 files to upload" in result.stdout
    assert "other-9.0-py3-none-any.whl" in result.stdout
    assert listed(index, "app") == {}


def test_on_a_terminal_progress_is_drawn_and_every_file_reported(
    devpi: RunningServer, example: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    repository, _index = new_devpi_index(devpi, "terminal")
    result = cli("publish", "--repository-url", _with_password(repository), *TARGETS)
    assert result.exit_code == 0, result.output
    assert "4 files to upload" in result.stderr
    for filename in NEEDED:
        assert f"✓ {filename}" in result.stderr
    assert "the server covers every target" in result.stdout
    assert PASSWORD not in result.output
