"""The console script's exit: it skips the interpreter's teardown but nothing a normal exit does that matters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import run_wheelhouse
from tests.support.wheels import write_wheel


def _run_entry(body: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``wheelhouse.cli.run`` in a fresh interpreter, its ``main`` replaced by ``body``."""
    code = textwrap.dedent(
        """
        import atexit, sys, threading, time
        from pathlib import Path
        import wheelhouse.cli as cli
        out = Path(sys.argv[1])
        def fake_main():
        {body}
        cli.main = fake_main
        cli.run()
        """
    ).format(body=textwrap.indent(textwrap.dedent(body), "    "))
    return subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60, check=False
    )


def test_threads_exit_handlers_and_buffered_output_all_finish_before_the_exit(tmp_path: Path) -> None:
    proc = _run_entry(
        """
        def late():
            time.sleep(0.3)
            (out / "thread").write_text("done")
        threading.Thread(target=late).start()
        atexit.register(lambda: (out / "atexit").write_text("ran"))
        sys.stdout.write("x" * 1_000_000)  # more than any buffer holds: the rest is flushed at the exit
        sys.stdout.write("\\nend\\n")
        raise SystemExit(3)
        """,
        tmp_path,
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.endswith("x\nend\n")
    assert len(proc.stdout) == 1_000_000 + 5
    assert (tmp_path / "thread").read_text() == "done"
    assert (tmp_path / "atexit").read_text() == "ran"


@pytest.mark.parametrize(
    ("raised", "status", "stderr"),
    [("None", 0, ""), ("0", 0, ""), ("2", 2, ""), ("'a message'", 1, "a message\n")],
)
def test_the_exit_status_is_the_one_sys_exit_would_give(tmp_path: Path, raised: str, status: int, stderr: str) -> None:
    proc = _run_entry(f"raise SystemExit({raised})", tmp_path)
    assert proc.returncode == status
    assert proc.stderr == stderr


def test_a_main_that_returns_exits_zero(tmp_path: Path) -> None:
    proc = _run_entry("print('hello')", tmp_path)
    assert (proc.returncode, proc.stdout) == (0, "hello\n")


def test_the_installed_script_delivers_a_whole_json_report_through_a_pipe(project: Path) -> None:
    for i in range(200):
        write_wheel(project / "wheels", f"pkg{i}", "1.0")
    (project / "requirements.txt").write_text("".join(f"pkg{i}\n" for i in range(200)))
    proc = run_wheelhouse("verify", "--json", "--target", "linux/amd64", "--python", "3.12", cwd=project)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["covered"] is True
    assert len(report["targets"][0]["pins"]) == 200


def test_python_dash_m_uses_the_same_exit(project: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "wheelhouse", "verify", "--no-such-option"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ")


# -- is stderr a terminal? rich decides, but only when it could be one ---------------------------------------------


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return None


@pytest.mark.parametrize(
    ("env", "tty", "expected"),
    [
        ({}, False, False),
        ({}, True, True),
        ({"FORCE_COLOR": "1"}, False, True),
        ({"FORCE_COLOR": ""}, True, False),
        ({"TTY_COMPATIBLE": "1"}, False, True),
        ({"TTY_COMPATIBLE": "0"}, True, False),
    ],
)
def test_stderr_is_a_terminal_exactly_when_rich_says_so(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], tty: bool, expected: bool
) -> None:
    from wheelhouse.cli._common import State

    for var in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR", "TERM"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setattr(sys, "stderr", _Stream(tty))
    state = State()
    assert state.err_is_terminal is expected
    if not env and not tty:
        assert state._err is None  # a pipe or a log is told apart without creating a console


def test_a_piped_download_imports_rich_only_after_its_plan(tmp_path: Path) -> None:
    # The download's first requests do not wait for rich: it is not needed to tell that stderr is a pipe.
    code = textwrap.dedent(
        """
        import sys
        import wheelhouse.cli.download as d
        import wheelhouse.fetch.download as core
        seen = []
        def fake(*args, **kwargs):
            seen.append("rich.console" in sys.modules)
            raise SystemExit(0)
        core.download = fake
        try:
            d.download_command.main(["--no-index", "pkg", "--target", "linux/amd64", "--python", "3.12"],
                                    standalone_mode=False)
        except SystemExit:
            pass
        print(seen)
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.stdout.strip() == "[False]", proc.stderr


def test_a_reader_that_went_away_gets_no_traceback(tmp_path: Path) -> None:
    # `wheelhouse list | head -1`: the pipe is closed before the last output is flushed at the exit.
    code = textwrap.dedent(
        """
        import sys, time
        import wheelhouse.cli as cli
        def fake_main():
            time.sleep(0.5)  # the reader is gone by now
            sys.stdout.write("hello\\n")  # buffered: written by the exit's flush
        cli.main = fake_main
        cli.run()
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # output buffered, as usual
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    proc.stdout.close()
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert err == ""


# -- the shortcuts on interpreter internals fall back to the ordinary exit ------------------------------------------


@pytest.mark.parametrize("internal", ["threading._shutdown", "atexit._run_exitfuncs"])
def test_without_an_internal_the_exit_is_the_ordinary_one(tmp_path: Path, internal: str) -> None:
    module, name = internal.split(".")
    proc = _run_entry(
        f"""
        import {module}
        del {module}.{name}
        atexit.register(lambda: (out / "atexit").write_text("ran"))
        sys.stdout.write("buffered")
        raise SystemExit(3)
        """,
        tmp_path,
    )
    assert (proc.returncode, proc.stdout) == (3, "buffered"), proc.stderr
    assert (tmp_path / "atexit").read_text() == "ran"


def test_the_collector_is_paused_for_a_command_and_resumed_on_demand() -> None:
    import gc

    from wheelhouse.cli import _process

    was_enabled = gc.isenabled()
    try:
        _process.pause_collector()
        assert not gc.isenabled()
        _process.resume_collector()
        assert gc.isenabled()
    finally:
        (gc.enable if was_enabled else gc.disable)()


def test_a_command_runs_without_the_cyclic_collector(tmp_path: Path) -> None:
    proc = _run_entry(
        """
        import gc
        sys.stdout.write(f"enabled={gc.isenabled()}")
        """,
        tmp_path,
    )
    assert (proc.returncode, proc.stdout) == (0, "enabled=False"), proc.stderr
