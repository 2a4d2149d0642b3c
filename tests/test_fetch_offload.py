"""Large files are transferred by a child process (wheelhouse.fetch.offload), with the same outcome as in-process.

The child must be invisible to a user: the same files land, the same errors are said, the request count covers
its requests, credentials reach it without appearing on a command line, and when it cannot run (it does not
start, or it ends) the transfers happen in the process that asked for them. Against the local index; the files
are just over the size from which the child takes them.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from tests.conftest import Cli
from tests.support.index_server import Fault, IndexServer, RecordedRequest
from tests.support.wheels import make_wheel, metadata_text
from tests.test_faults import Throttle, assert_sound_folder, file_gets
from wheelhouse.fetch import offload, transfers
from wheelhouse.fetch.transfers import OFFLOAD_MIN_BYTES, Cancelled, Transfers
from wheelhouse.index.config import IndexConfig
from wheelhouse.index.http import IndexClient
from wheelhouse.index.pages import RemoteFile
from wheelhouse.store.folder import Store

TARGET = ("--target", "linux/amd64", "--python", "3.12")
BIG = OFFLOAD_MIN_BYTES + 64 * 1024


def publish_big(srv: IndexServer, name: str, version: str = "1.0") -> str:
    return srv.add_wheel(name, version, files={f"{name}/payload.bin": os.urandom(BIG)})


@pytest.fixture(autouse=True)
def wait_for_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    """A large file waits for the transfer process to start, so that these tests see it at work (a download
    does not wait: see test_a_large_file_does_not_wait_for_the_child_to_start)."""
    monkeypatch.setattr(transfers, "OFFLOAD_READY_WAIT", 30.0)


@pytest.fixture
def in_process_downloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The file names this process downloads itself (a child's transfers are not seen here)."""
    seen: list[str] = []
    original = IndexClient.download

    def download(self: IndexClient, f: RemoteFile, dest: Path, **kwargs: object) -> str:
        seen.append(f.filename)
        return original(self, f, dest, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(IndexClient, "download", download)
    return seen


@pytest.fixture
def command_lines(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The command line of every process started from now on."""
    started: list[list[str]] = []
    real_popen = subprocess.Popen

    def popen(args: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        started.append(list(args))
        return real_popen(args, **kwargs)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(subprocess, "Popen", popen)
    return started


def download(cli: Cli, srv: IndexServer, *extra: str) -> tuple[int, str]:
    result = cli("download", "--index-url", srv.index_url, *TARGET, "--retries", "1", *extra)
    return result.exit_code, result.output


def test_a_large_wheel_is_transferred_by_the_child_and_lands_as_any_other(
    cli: Cli, index_server: IndexServer, project: Path, in_process_downloads: list[str]
) -> None:
    big = publish_big(index_server, "big", "1.0")
    small = index_server.add_wheel("small", "1.0")
    (project / "requirements.txt").write_text("big\nsmall\n")
    code, output = download(cli, index_server, "--json")
    assert code == 0, output
    assert sorted(assert_sound_folder(project / "wheels", index_server)) == sorted([big, small])
    assert big not in in_process_downloads
    # The manifest holds the wheel's own metadata, read by the child's check.
    records = json.loads((project / "wheels" / ".wheelhouse" / "manifest.json").read_text())["records"]
    assert records[big]["sha256"] == __import__("hashlib").sha256(index_server.file_bytes(big)).hexdigest()
    # Every request counts, the child's too.
    assert json.loads(output)["requests"] == len(index_server.requests.snapshot())
    verify = cli("verify", *TARGET)
    assert verify.exit_code == 0, verify.output


def test_a_large_wheel_with_other_bytes_than_its_hash_is_refused_and_never_lands(
    cli: Cli, index_server: IndexServer, project: Path
) -> None:
    big = publish_big(index_server, "big")
    index_server.inject(f"/files/{big}", Fault.replace(os.urandom(BIG)), times=None)
    (project / "requirements.txt").write_text("big\n")
    code, output = download(cli, index_server)
    assert code == 1, output
    assert f"hash mismatch for {index_server.file_url(big)}" in output
    assert "Traceback" not in output
    assert assert_sound_folder(project / "wheels", index_server) == []
    assert not list((project / "wheels" / ".wheelhouse" / "tmp").glob(".partial-*"))


def test_a_large_wheel_whose_own_metadata_names_another_release_is_refused(
    cli: Cli, index_server: IndexServer, project: Path
) -> None:
    _name, data = make_wheel("good", "2.0", files={"good/payload.bin": os.urandom(BIG)})
    filename = "good-1.0-py3-none-any.whl"
    index_server.add(filename, data, metadata=metadata_text("good", "1.0").encode())
    (project / "requirements.txt").write_text("good==1.0\n")
    code, output = download(cli, index_server)
    assert code == 1, output
    assert "refused, not added to the folder: METADATA says good 2.0" in output
    assert "Traceback" not in output
    assert assert_sound_folder(project / "wheels", index_server) == []


def test_a_server_error_on_a_large_wheel_is_retried_by_the_child(
    cli: Cli, index_server: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHEELHOUSE_BACKOFF", "0")
    big = publish_big(index_server, "big")
    index_server.inject(f"/files/{big}", Fault.error(503), times=1)
    (project / "requirements.txt").write_text("big\n")
    code, output = download(cli, index_server, "--json")
    assert code == 0, output
    assert file_gets(index_server).count(f"/files/{big}") == 2
    assert json.loads(output)["requests"] == len(index_server.requests.snapshot())
    assert assert_sound_folder(project / "wheels", index_server) == [big]


def test_a_large_wheel_that_cannot_be_fetched_is_named_in_one_line(
    cli: Cli, index_server: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHEELHOUSE_BACKOFF", "0")
    big = publish_big(index_server, "big")
    index_server.inject(f"/files/{big}", Fault.error(404), times=None)
    (project / "requirements.txt").write_text("big\n")
    code, output = download(cli, index_server)
    assert code == 1, output
    assert f"cannot fetch {index_server.file_url(big)}: HTTP 404" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    "executable", [pytest.param("/nonexistent/python", id="does-not-start"), pytest.param("/bin/true", id="ends")]
)
def test_when_the_child_cannot_run_the_transfers_happen_here(
    cli: Cli,
    index_server: IndexServer,
    project: Path,
    in_process_downloads: list[str],
    monkeypatch: pytest.MonkeyPatch,
    executable: str,
) -> None:
    big = publish_big(index_server, "big")
    (project / "requirements.txt").write_text("big\n")
    monkeypatch.setattr(sys, "executable", executable)
    code, output = download(cli, index_server)
    assert code == 0, output
    assert "warning" not in output
    assert big in in_process_downloads
    assert assert_sound_folder(project / "wheels", index_server) == [big]


def test_a_large_file_does_not_wait_for_the_child_to_start(
    cli: Cli,
    index_server: IndexServer,
    project: Path,
    in_process_downloads: list[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The largest files bound a download: one that would wait for the transfer process's start-up runs here."""
    monkeypatch.setattr(transfers, "OFFLOAD_READY_WAIT", 0.0)
    # A child that never gets to say it has started: it only keeps what it is sent.
    heard = tmp_path / "heard.txt"
    starting = tmp_path / "still-starting"
    starting.write_text(f"#!/bin/sh\nexec cat > {heard}\n")
    starting.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(starting))
    big = publish_big(index_server, "big")
    (project / "requirements.txt").write_text("big\n")
    code, output = download(cli, index_server)
    assert code == 0, output
    assert big in in_process_downloads
    assert assert_sound_folder(project / "wheels", index_server) == [big]
    # It was started and given its configuration, and asked for nothing.
    heard_lines = [json.loads(line) for line in heard.read_text().splitlines()]
    assert len(heard_lines) == 1
    assert "config" in heard_lines[0]


def test_credentials_reach_the_child_through_its_input_not_its_command_line(
    cli: Cli, index_server: IndexServer, project: Path, command_lines: list[list[str]]
) -> None:
    def need_credentials(request: RecordedRequest) -> Fault | None:
        return None if request.header("Authorization") else Fault.error(401)

    index_server.on_request = need_credentials
    big = publish_big(index_server, "big")
    (project / "requirements.txt").write_text("big\n")
    secret_url = index_server.index_url.replace("http://", "http://user:s3cret@")
    result = cli("download", "--index-url", secret_url, *TARGET)
    assert result.exit_code == 0, result.output
    assert assert_sound_folder(project / "wheels", index_server) == [big]
    assert command_lines, "the child was never started"
    assert not any("s3cret" in " ".join(args) for args in command_lines)
    assert "s3cret" not in result.output


@pytest.fixture
def slow_big(index_server: IndexServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[RemoteFile, Throttle]]:
    big = publish_big(index_server, "big")
    throttle = Throttle(monkeypatch, {len(index_server.file_bytes(big))}, delay=0.05)
    yield RemoteFile(big, index_server.file_url(big), size=len(index_server.file_bytes(big))), throttle
    throttle.release()


def child_of(index_url: str, jobs: int = 2, **config: Any) -> offload.TransferProcess:
    """A transfer process for a client of ``index_url``, as Transfers makes one."""
    return offload.TransferProcess(IndexClient(IndexConfig(index_url=index_url, **config)), jobs)


def fetch_in_a_thread(
    child: offload.TransferProcess,
    remote: RemoteFile,
    temp: Path,
    progress: Callable[[int], None],
    cancel: threading.Event,
) -> Callable[[], BaseException | object]:
    """``child.fetch`` running in a thread of its own; the function returned waits for that thread to end and
    gives what the fetch returned or raised."""
    outcome: list[BaseException | object] = []

    def run() -> None:
        try:
            outcome.append(child.fetch(remote, temp, progress, cancel))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()

    def result() -> BaseException | object:
        thread.join(timeout=10)
        assert not thread.is_alive()
        assert len(outcome) == 1
        return outcome[0]

    return result


def test_a_cancelled_transfer_stops_and_the_child_ends_leaving_no_file(
    index_server: IndexServer, tmp_path: Path, slow_big: tuple[RemoteFile, Throttle]
) -> None:
    remote, _throttle = slow_big
    child = child_of(index_server.index_url)
    temp = tmp_path / "big.partial"
    temp.touch()
    cancel = threading.Event()
    received: list[int] = []
    result = fetch_in_a_thread(child, remote, temp, received.append, cancel)
    deadline = time.monotonic() + 30
    while not received and time.monotonic() < deadline:
        time.sleep(0.01)
    assert received, "no progress from the child"
    cancel.set()
    assert isinstance(result(), Cancelled)
    proc = child._proc
    child.close()
    assert proc is not None
    assert proc.poll() is not None
    assert not temp.exists()


def test_the_child_ends_when_its_parent_closes_it_however_busy(
    index_server: IndexServer, tmp_path: Path, slow_big: tuple[RemoteFile, Throttle]
) -> None:
    remote, _throttle = slow_big
    child = child_of(index_server.index_url)
    temp = tmp_path / "big.partial"
    started = threading.Event()
    result = fetch_in_a_thread(child, remote, temp, lambda n: started.set(), threading.Event())
    assert started.wait(30)
    proc = child._proc
    began = time.monotonic()
    child.close()
    assert proc is not None
    assert proc.poll() is not None
    assert time.monotonic() - began < offload._GRACE_SECONDS
    # The transfer was stopped, not finished: the caller hears so (or is told to do it itself).
    outcome = result()
    assert outcome is None or isinstance(outcome, Cancelled)
    assert not temp.exists()


def test_the_child_process_runs_the_wheelhouse_that_started_it(tmp_path: Path) -> None:
    """The child imports wheelhouse from where this process did, whatever the working directory: it answers (here
    that nothing listens on the port) instead of failing to start."""
    script = (
        "import threading; from pathlib import Path; from wheelhouse.fetch import offload;"
        "from wheelhouse.errors import NetworkError; from wheelhouse.index.config import IndexConfig;"
        "from wheelhouse.index.pages import RemoteFile; from wheelhouse.index.http import IndexClient;"
        "p = offload.TransferProcess(IndexClient(IndexConfig(retries=0)), 1);"
        "remote = RemoteFile('a-1.0-py3-none-any.whl', 'http://127.0.0.1:9/a-1.0-py3-none-any.whl');\n"
        "try:\n    p.fetch(remote, Path('a.partial'), lambda n: None, threading.Event())\n"
        "except NetworkError as exc:\n    print('network error:', exc)\n"
        "p.close()"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("network error: cannot fetch http://127.0.0.1:9/"), done.stdout + done.stderr


def test_a_download_of_small_files_never_starts_the_child(
    cli: Cli, index_server: IndexServer, project: Path, command_lines: list[list[str]]
) -> None:
    index_server.add_wheel("small", "1.0", requires_dist=["other"])
    index_server.add_wheel("other", "1.0")
    (project / "requirements.txt").write_text("small\n")
    code, output = download(cli, index_server)
    assert code == 0, output
    assert not [args for args in command_lines if "wheelhouse.fetch.offload" in args]


def test_once_the_child_runs_small_files_from_the_index_go_there_too(
    index_server: IndexServer, tmp_path: Path, in_process_downloads: list[str]
) -> None:
    big = publish_big(index_server, "big")
    smalls = [index_server.add_wheel(f"small{i}", "1.0") for i in range(3)]
    store = Store(tmp_path / "wheels")
    store.ensure()
    with IndexClient(IndexConfig(index_url=index_server.index_url)) as client:
        remote = {
            f.filename: f
            for name in ("big", "small0", "small1", "small2")
            for f in client.project_files(canonicalize_name(name))
        }
        moving = Transfers(store, client, 4)
        try:
            # Alone, a small file is streamed here (see test_a_download_of_small_files_never_starts_the_child); a
            # large one starts the child, and from then on the small ones go there as well.
            moving.start(big, remote[big]).result(timeout=60)
            done = [moving.start(name, remote[name]).result(timeout=60) for name in smalls]
        finally:
            moving.close()
    assert in_process_downloads == []
    for name, (_temp, sha) in zip(smalls, done, strict=True):
        assert sha == hashlib.sha256(index_server.file_bytes(name)).hexdigest()
    assert {r.route.rsplit("/", 1)[-1] for r in index_server.requests.snapshot() if r.route.startswith("/files/")} >= {
        big,
        *smalls,
    }


def test_a_child_started_ahead_and_never_used_is_stopped_without_waiting(tmp_path: Path) -> None:
    child = child_of(IndexConfig().index_url, jobs=1)
    child.prepare()
    proc = child._proc
    assert proc is not None
    began = time.monotonic()
    child.close()
    assert proc.poll() is not None
    assert time.monotonic() - began < 1.0


@pytest.mark.parametrize("first_line", ["", "not json\n", '{"jobs": 2}\n', "[]\n", '{"jobs": "x", "config": {}}\n'])
def test_the_transfer_process_run_by_hand_says_one_line(first_line: str) -> None:
    """Only a download starts it, with its configuration on stdin; anything else gets one line, not a traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "wheelhouse.fetch.offload"],
        input=first_line,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert "the transfer process of a download, not a command" in proc.stderr
