"""Interrupting ``wheelhouse download``: ``kill -9``, Ctrl-C (SIGINT) and SIGTERM on real processes.

The index serves the large wheels slowly, so the signal lands while several files are half-transferred. Afterwards
the folder holds only complete, verified wheels and a valid manifest; partial files exist only in
``wheels/.wheelhouse/tmp`` (never where pip looks) and the next run removes them; the next run completes the job
and downloads only what is missing. Ctrl-C exits 130 with the single line ``error: interrupted``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.index_server import Fault, IndexServer
from tests.test_faults import Throttle, assert_sound_folder, file_gets, publish
from wheelhouse.store.folder import META_DIR, PARTIAL_PREFIX

SMALL = ("alpha", "beta", "gamma")
LARGE = ("big-one", "big-two", "big-three")
LARGE_SIZE = 1_500_000
TARGET = ("--target", "linux/amd64", "--python", "3.12")


def wheelhouse_exe() -> str:
    return shutil.which("wheelhouse", path=str(Path(sys.executable).parent)) or "wheelhouse"


def start(project: Path, *args: str) -> subprocess.Popen[str]:
    """``wheelhouse ARGS`` as a real process in ``project`` (stdout and stderr piped, text)."""
    env = {**os.environ, "WHEELHOUSE_BACKOFF": "0"}
    return subprocess.Popen(
        [wheelhouse_exe(), *args], cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(condition: Callable[[], bool], what: str, proc: subprocess.Popen[str] | None = None) -> None:
    """Poll ``condition`` until it holds; fail (showing the process's output) after 60 seconds."""
    deadline = time.monotonic() + 60
    while not condition():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the process ended (exit {proc.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def partials(wheels: Path) -> list[Path]:
    tmp = wheels / META_DIR / "tmp"
    return sorted(tmp.glob(f"{PARTIAL_PREFIX}*")) if tmp.is_dir() else []


def partial_with_bytes(wheels: Path) -> bool:
    for path in partials(wheels):
        try:
            if path.stat().st_size > 0:
                return True
        except FileNotFoundError:
            continue
    return False


@pytest.fixture
def slow_index(index_server: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Throttle]:
    """Three small wheels at full speed and three of 1.5 MB at about 0.8 MB/s; requirements name all six."""
    publish(index_server, SMALL, size=8 * 1024)
    publish(index_server, LARGE, size=LARGE_SIZE)
    sizes = {len(index_server.file_bytes(f"{name.replace('-', '_')}-1.0-py3-none-any.whl")) for name in LARGE}
    throttle = Throttle(monkeypatch, sizes, delay=0.02)
    (project / "requirements.txt").write_text("\n".join(SMALL + LARGE) + "\n")
    yield throttle
    throttle.release()


def download_args(srv: IndexServer, *extra: str) -> tuple[str, ...]:
    return ("download", "--index-url", srv.index_url, *TARGET, "--retries", "1", "--timeout", "10", *extra)


def finish_and_check(project: Path, srv: IndexServer, throttle: Throttle, present: list[str]) -> None:
    """Run again at full speed: it must fetch exactly what is missing, clean every stray and cover the targets."""
    throttle.release()
    srv.requests.settle()  # what the interrupted run sent before it ended is not counted as the re-run's
    srv.requests.clear()
    proc = start(project, *download_args(srv))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    fetched = sorted(route.removeprefix("/files/") for route in file_gets(srv))
    expected = sorted(srv.file_url(n).rsplit("/", 1)[1] for n in all_wheels(srv) if n not in present)
    assert fetched == expected
    assert partials(project / "wheels") == []
    assert len(assert_sound_folder(project / "wheels", srv)) == len(SMALL + LARGE)
    verify = start(project, "verify", *TARGET)
    out, err = verify.communicate(timeout=60)
    assert verify.returncode == 0, out + err


def all_wheels(srv: IndexServer) -> list[str]:
    return [f"{name.replace('-', '_')}-1.0-py3-none-any.whl" for name in SMALL + LARGE]


def test_kill_9_mid_download_leaves_only_complete_verified_wheels(
    slow_index: Throttle, index_server: IndexServer, project: Path
) -> None:
    wheels = project / "wheels"
    proc = start(project, *download_args(index_server))
    wait_for(lambda: partial_with_bytes(wheels), "a partial download", proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    # Half-transferred files are where pip never looks; everything pip can see is complete and verified.
    assert partials(wheels)
    present = assert_sound_folder(wheels, index_server, partials_left=True)
    assert len(present) < len(SMALL + LARGE)
    # verify reads the folder as it is: no problems, just the gaps still to fill.
    verify = start(project, "verify", *TARGET)
    out, err = verify.communicate(timeout=60)
    assert verify.returncode == 3, out + err
    assert "warning" not in err
    finish_and_check(project, index_server, slow_index, present)


def test_ctrl_c_exits_130_with_one_line_and_cleans_up(
    slow_index: Throttle, index_server: IndexServer, project: Path
) -> None:
    wheels = project / "wheels"
    proc = start(project, *download_args(index_server, "--json"))
    wait_for(lambda: partial_with_bytes(wheels), "a partial download", proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.splitlines() == ["error: interrupted"]
    assert out == ""
    # The workers stop at their next chunk and delete their partial files before the process exits.
    present = assert_sound_folder(wheels, index_server)
    assert len(present) < len(SMALL + LARGE)
    finish_and_check(project, index_server, slow_index, present)


def test_ctrl_c_in_a_human_run_ends_with_one_error_line(
    slow_index: Throttle, index_server: IndexServer, project: Path
) -> None:
    wheels = project / "wheels"
    proc = start(project, *download_args(index_server))
    wait_for(lambda: partial_with_bytes(wheels), "a partial download", proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    lines = err.splitlines()
    # Progress lines come first; the interruption is the last line and the only error.
    assert lines[-1] == "error: interrupted"
    assert [line for line in lines if line.startswith("error")] == ["error: interrupted"]
    assert "Traceback" not in out + err
    assert all(line.strip() for line in lines), lines
    assert_sound_folder(wheels, index_server)


def test_ctrl_c_during_resolution_leaves_the_folder_untouched(
    slow_index: Throttle, index_server: IndexServer, project: Path
) -> None:
    wheels = project / "wheels"
    index_server.inject("/simple/big-two/", Fault.slow(5), times=None)
    proc = start(project, *download_args(index_server))
    wait_for(lambda: bool(index_server.requests.to("/simple/big-two/")), "the slow page is asked for", proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.splitlines()[-1] == "error: interrupted"
    assert "Traceback" not in out + err
    # Files of projects whose metadata already arrived may have started downloading; none of them lands.
    assert assert_sound_folder(wheels, index_server) == []
    index_server.clear_faults()
    finish_and_check(project, index_server, slow_index, [])


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=["kill-9", "sigint", "sigterm"])
@pytest.mark.parametrize("moment", ["first-page", "first-file", "first-commit"])
def test_interrupted_at_any_moment_the_folder_stays_sound(
    slow_index: Throttle, index_server: IndexServer, project: Path, sig: signal.Signals, moment: str
) -> None:
    wheels = project / "wheels"
    proc = start(project, *download_args(index_server))
    moments: dict[str, Callable[[], bool]] = {
        "first-page": lambda: any(r.route.startswith("/simple/") for r in index_server.requests.snapshot()),
        "first-file": lambda: bool(file_gets(index_server)),
        "first-commit": lambda: any(wheels.glob("*.whl")),
    }
    wait_for(moments[moment], moment, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in out + err
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert err.splitlines()[-1] == "error: interrupted", err
    present = assert_sound_folder(wheels, index_server, partials_left=sig != signal.SIGINT)
    finish_and_check(project, index_server, slow_index, present)


def test_partial_files_of_a_killed_run_are_removed_by_the_next_one(
    index_server: IndexServer, project: Path, no_backoff: None
) -> None:
    # What a kill -9 can leave behind: a partial download, a partial manifest (killed inside its atomic
    # write) and a partial file at the top level (from older versions that staged there).
    publish(index_server, ("alpha",))
    (project / "requirements.txt").write_text("alpha\n")
    wheels = project / "wheels"
    strays = [
        wheels / META_DIR / "tmp" / f"{PARTIAL_PREFIX}999-1-2-alpha-1.0-py3-none-any.whl",
        wheels / META_DIR / f"{PARTIAL_PREFIX}manifest.json.999.1",
        wheels / f"{PARTIAL_PREFIX}alpha-1.0-py3-none-any.whl",
    ]
    for stray in strays:
        stray.parent.mkdir(parents=True, exist_ok=True)
        stray.write_bytes(b"half a file")
    proc = start(project, "-v", *download_args(index_server))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert [s for s in strays if s.exists()] == []
    assert "removed 3 partial files left by an interrupted run" in err
    assert assert_sound_folder(wheels, index_server) == ["alpha-1.0-py3-none-any.whl"]


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHEELHOUSE_BACKOFF", "0")
