"""Several wheelhouse processes on one folder: the folder's lock serialises writers, readers never see a half-file.

Real processes throughout. The first download holds the lock while its large files are stalled on the local
index; the second process (another download, a prune) says that it waits, or fails at once with ``--no-wait``;
``verify`` and ``list`` run alongside and only ever see complete wheels and a parseable manifest.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.index_server import IndexServer
from tests.support.wheels import write_wheel
from tests.test_faults import Throttle, assert_sound_folder, file_gets, publish
from tests.test_interrupt import TARGET, start, wait_for, wheelhouse_exe
from wheelhouse.store.folder import META_DIR, Store

SMALL = ("alpha", "beta")
LARGE = ("big-one", "big-two")
ALL_WHEELS = sorted(f"{n.replace('-', '_')}-1.0-py3-none-any.whl" for n in SMALL + LARGE)


class Lines:
    """Collects a running process's stderr line by line, so a test can wait for a message while it runs."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._lock = threading.Lock()
        assert proc.stderr is not None
        self._thread = threading.Thread(target=self._read, args=(proc.stderr,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def has(self, text: str) -> bool:
        with self._lock:
            return any(text in line for line in self.lines)

    def finish(self, timeout: float = 120) -> tuple[int, str, list[str]]:
        """Wait for the process; its exit code, stdout and every stderr line."""
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        self.proc.wait(timeout=timeout)
        self._thread.join(timeout=10)
        self.proc.stdout.close()
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        return self.proc.returncode, out, list(self.lines)


@pytest.fixture
def stalled_index(
    index_server: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[IndexServer, Throttle]]:
    """Two small wheels and two large ones whose bodies stall after 64 kB until the test releases them."""
    publish(index_server, SMALL, size=8 * 1024)
    publish(index_server, LARGE, size=1_000_000)
    sizes = {len(index_server.file_bytes(n)) for n in ALL_WHEELS if n.startswith("big")}
    throttle = Throttle(monkeypatch, sizes, stall_after=64 * 1024)
    (project / "requirements.txt").write_text("\n".join(SMALL + LARGE) + "\n")
    yield index_server, throttle
    throttle.release()


def download_args(srv: IndexServer, *extra: str) -> tuple[str, ...]:
    return ("download", "--index-url", srv.index_url, *TARGET, "--retries", "1", "--timeout", "30", *extra)


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``wheelhouse ARGS`` to completion in ``project``."""
    return subprocess.run(
        [wheelhouse_exe(), *args], cwd=project, capture_output=True, text=True, timeout=60, check=False
    )


def holder_pid(wheels: Path) -> int | None:
    try:
        return int((wheels / META_DIR / "lock").read_text().strip())
    except (OSError, ValueError):
        return None


def start_first_download(project: Path, srv: IndexServer, throttle: Throttle) -> Lines:
    """A download that holds the lock, stalled in the middle of its large files."""
    first = Lines(start(project, *download_args(srv)))
    # The server, not the folder, says the transfer is under way: received bytes reach the temporary file in
    # batches, and a stalled body may not have filled one.
    wait_for(throttle.stalled.is_set, "the first download to be under way", first.proc)
    assert holder_pid(project / "wheels") == first.proc.pid
    return first


def test_a_second_download_waits_says_so_and_then_has_nothing_to_do(
    stalled_index: tuple[IndexServer, Throttle], project: Path
) -> None:
    srv, throttle = stalled_index
    first = start_first_download(project, srv, throttle)
    second = Lines(start(project, *download_args(srv)))
    message = f"another wheelhouse process (process {first.proc.pid}) is using wheels; waiting for it to finish"
    wait_for(lambda: second.has(message), "the second download to say that it waits", second.proc)
    # Both are running: the second waits while the first works.
    assert first.proc.poll() is None
    assert second.proc.poll() is None
    throttle.release()
    code1, _, lines1 = first.finish()
    code2, out2, lines2 = second.finish()
    assert code1 == 0, lines1
    assert code2 == 0, lines2
    # The second planned under the lock, after the first had finished: nothing left to fetch.
    assert "downloaded 0 files" in out2
    assert sorted(file_gets(srv)) == sorted(f"/files/{n}" for n in ALL_WHEELS)
    assert assert_sound_folder(project / "wheels", srv) == ALL_WHEELS
    verify = run(project, "verify", *TARGET)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_no_wait_fails_at_once_with_one_clear_error(stalled_index: tuple[IndexServer, Throttle], project: Path) -> None:
    srv, throttle = stalled_index
    first = start_first_download(project, srv, throttle)
    second = start(project, *download_args(srv, "--no-wait"))
    out, err = second.communicate(timeout=60)
    assert second.returncode == 1
    assert err.splitlines() == [
        f"error: another wheelhouse process (process {first.proc.pid}) is using wheels",
        "hint: wait for it to finish, or run without --no-wait to queue behind it",
    ]
    assert out == ""
    throttle.release()
    assert first.finish()[0] == 0
    # It never reached the index: every page was asked for once, by the first.
    pages = sorted(r.route for r in srv.requests.snapshot() if r.route.startswith("/simple/"))
    assert pages == sorted(f"/simple/{n}/" for n in SMALL + LARGE)
    assert assert_sound_folder(project / "wheels", srv) == ALL_WHEELS


def test_two_downloads_of_different_requirements_both_land_and_both_are_recorded(
    stalled_index: tuple[IndexServer, Throttle], project: Path
) -> None:
    srv, throttle = stalled_index
    (project / "first.txt").write_text("alpha\nbig-one\n")
    (project / "second.txt").write_text("beta\nbig-two\n")
    first = Lines(start(project, *download_args(srv, "-r", "first.txt")))
    wait_for(throttle.stalled.is_set, "the first download to be under way", first.proc)
    second = Lines(start(project, *download_args(srv, "-r", "second.txt")))
    wait_for(lambda: second.has("waiting for it to finish"), "the second download to wait", second.proc)
    throttle.release()
    assert first.finish()[0] == 0
    assert second.finish()[0] == 0
    assert assert_sound_folder(project / "wheels", srv) == ALL_WHEELS
    # No lost update: each run's records survived the other's manifest writes.
    records = Store(project / "wheels").records()
    assert sorted(records) == ALL_WHEELS
    assert records["big_one-1.0-py3-none-any.whl"].sources == (str((project / "first.txt").resolve()),)
    assert records["big_two-1.0-py3-none-any.whl"].sources == (str((project / "second.txt").resolve()),)


def test_prune_during_a_download_waits_and_keeps_what_the_download_brought(
    stalled_index: tuple[IndexServer, Throttle], project: Path
) -> None:
    srv, throttle = stalled_index
    # A project nobody needs any more: the prune's job.
    old = write_wheel(project / "wheels", "retired", "1.0")
    first = start_first_download(project, srv, throttle)
    prune = Lines(start(project, "prune", "--yes", *TARGET))
    wait_for(lambda: prune.has("waiting for it to finish"), "the prune to wait", prune.proc)
    assert first.proc.poll() is None
    assert old.exists()
    throttle.release()
    assert first.finish()[0] == 0
    code, out, lines = prune.finish()
    assert code == 0, (out, lines)
    assert "removed 1 file" in out
    assert not old.exists()
    assert assert_sound_folder(project / "wheels", srv) == ALL_WHEELS
    verify = run(project, "verify", *TARGET)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_readers_during_a_download_never_see_a_partial_wheel(
    stalled_index: tuple[IndexServer, Throttle], project: Path
) -> None:
    srv, throttle = stalled_index
    first = start_first_download(project, srv, throttle)
    # While the large files are half-transferred: verify and list see only complete wheels, no problems.
    for command in (("verify", *TARGET), ("list", "--json")):
        reader = run(project, *command)
        assert reader.returncode in (0, 3), reader.stdout + reader.stderr
        assert "warning" not in reader.stderr
        assert "Traceback" not in reader.stdout + reader.stderr
    listing = json.loads(reader.stdout)
    assert {w["file"] for w in listing["files"]} <= set(ALL_WHEELS)
    assert not any(w["file"].startswith("big") for w in listing["files"])
    json.loads((project / "wheels" / META_DIR / "manifest.json").read_bytes())
    throttle.release()
    assert first.finish()[0] == 0
    assert assert_sound_folder(project / "wheels", srv) == ALL_WHEELS


def test_the_lock_of_a_killed_process_is_free_at_once(
    stalled_index: tuple[IndexServer, Throttle], project: Path
) -> None:
    srv, throttle = stalled_index
    first = start_first_download(project, srv, throttle)
    first.proc.send_signal(signal.SIGKILL)
    first.finish()
    throttle.release()
    # flock(2) dies with its process: no stale lock file to delete by hand, --no-wait goes straight in.
    second = start(project, *download_args(srv, "--no-wait"))
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, out + err
    assert assert_sound_folder(project / "wheels", srv) == ALL_WHEELS
