"""The proof cache answers a covered ``download`` as it answers ``verify``: a run that needed only the folder's
files (no request, no file changed) is kept and replayed, with the replay's own elapsed time; anything that
needed the index, or a change to what the answer depends on, runs in full.

The command-line tests run the installed console script as a user does, against a local index on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.index_server import IndexServer
from tests.test_verify_cache import _script, entries
from wheelhouse import _entry, _recording
from wheelhouse._recording import Recording
from wheelhouse.store import fs, proofs

TARGET = ("--target", "linux/amd64", "--python", "3.12")
TIME = re.compile(rb"in \d+\.\d s, ")


def run(
    project: Path, index: IndexServer, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """``wheelhouse download --index-url INDEX TARGET ARGS`` in ``project``, its output as bytes."""
    return subprocess.run(
        [_script(), "download", "--index-url", index.index_url, *TARGET, *args],
        cwd=project,
        env={**os.environ, **(env or {})},
        capture_output=True,
        timeout=120,
        check=False,
    )


def untimed(output: bytes) -> bytes:
    return re.sub(rb'\n  "seconds": [0-9.]+,\n', b'\n  "seconds": _,\n', TIME.sub(b"in _ s, ", output))


def covered(project: Path, index: IndexServer, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Download (not kept: it used the network), run again covered (kept), and a third time: the kept answer,
    with no request and no new entry. Returns the covered full run."""
    fetching = run(project, index, *args)
    assert fetching.returncode == 0, fetching.stderr
    assert entries(project) == {}, "a run that made requests was kept"
    full = run(project, index, *args)
    assert full.returncode == 0, full.stderr
    stored = entries(project)
    assert len(stored) == 1, full.stderr
    index.requests.clear()
    replay = run(project, index, *args)
    assert entries(project) == stored  # not written again: a full run would have
    assert index.requests.snapshot() == []
    assert (replay.returncode, untimed(replay.stdout), replay.stderr) == (0, untimed(full.stdout), full.stderr)
    return full


def test_a_covered_download_is_answered_from_the_cache(a_needs_b: IndexServer, project: Path) -> None:
    full = covered(project, a_needs_b)
    assert b"downloaded 0 files (0 B) in " in full.stdout
    assert b"0 requests; 2 already present" in full.stdout
    assert TIME.search(full.stdout)
    first = run(project, a_needs_b, "-v")  # another command line: another entry
    verbose = run(project, a_needs_b, "-v")
    assert b"proof cache" not in first.stderr
    assert b"answer from the proof cache" in verbose.stderr.partition(b"\n")[0]


def test_a_replayed_json_answer_is_the_full_runs_with_its_own_time(a_needs_b: IndexServer, project: Path) -> None:
    full = covered(project, a_needs_b, "--json")
    replay = run(project, a_needs_b, "--json")
    first, again = json.loads(full.stdout), json.loads(replay.stdout)
    assert again["requests"] == 0
    assert again["downloaded"] == []
    assert {k: v for k, v in again.items() if k != "seconds"} == {k: v for k, v in first.items() if k != "seconds"}
    assert isinstance(again["seconds"], float)
    assert again["seconds"] >= 0
    assert re.search(rb'\n  "seconds": \d+\.\d{3},\n', replay.stdout)


def test_a_removed_wheel_is_downloaded_again_not_answered(a_needs_b: IndexServer, project: Path) -> None:
    covered(project, a_needs_b)
    (project / "wheels" / "b-1.0-py3-none-any.whl").unlink()
    again = run(project, a_needs_b)
    assert again.returncode == 0, again.stderr
    assert b"downloaded 1 file" in again.stdout
    assert (project / "wheels" / "b-1.0-py3-none-any.whl").is_file()


def test_a_changed_requirements_file_is_resolved_again(a_needs_b: IndexServer, project: Path) -> None:
    covered(project, a_needs_b)
    (project / "requirements.txt").write_text("a\nc\n")
    again = run(project, a_needs_b)
    assert again.returncode == 0, again.stderr
    assert b"downloaded 1 file" in again.stdout
    assert (project / "wheels" / "c-1.0-py3-none-any.whl").is_file()


@pytest.mark.parametrize("stray", [".partial-a.whl", ".wheelhouse/.partial-manifest", ".wheelhouse/tmp/x"])
def test_a_partial_file_left_by_an_interrupted_run_is_cleaned_not_answered_over(
    a_needs_b: IndexServer, project: Path, stray: str
) -> None:
    covered(project, a_needs_b)
    path = project / "wheels" / stray
    path.parent.mkdir(exist_ok=True)
    path.write_text("cut short")
    again = run(project, a_needs_b)
    assert again.returncode == 0, again.stderr
    assert not path.exists()
    assert proofs.PARTIAL_PREFIX == fs.PARTIAL_PREFIX


def test_no_cache_and_the_environment_variable_run_it_in_full(a_needs_b: IndexServer, project: Path) -> None:
    assert run(project, a_needs_b).returncode == 0
    assert run(project, a_needs_b, "--no-cache").returncode == 0
    assert run(project, a_needs_b, env={_entry.NO_CACHE_ENV: "1"}).returncode == 0
    assert entries(project) == {}
    help_text = subprocess.run([_script(), "download", "--help"], capture_output=True, check=True).stdout.decode()
    assert "--no-cache" in help_text
    assert "proof cache" in help_text


def test_a_dry_run_over_a_covered_folder_is_kept_too(a_needs_b: IndexServer, project: Path) -> None:
    assert run(project, a_needs_b).returncode == 0
    full = run(project, a_needs_b, "--dry-run", "--json")
    assert json.loads(full.stdout)["seconds"] == 0  # a dry run measures no time, and a replay gives none
    replay = run(project, a_needs_b, "--dry-run", "--json")
    assert len(entries(project)) == 1
    assert (replay.returncode, replay.stdout) == (full.returncode, full.stdout)


# -- the elapsed time's slot ------------------------------------------------------------------------------------


def test_a_marked_time_reaches_the_stream_unmarked_and_is_kept_as_a_slot(tmp_path: Path) -> None:
    recording = Recording(str(tmp_path))
    real = sys.stdout
    recording.start()
    try:
        marked = _recording.elapsed(1.25, ".1f")
        assert marked != "1.2"
        sys.stdout.write(f"took {marked} s\n")
        # A write that ends inside a mark, completed by the next one.
        half = len(marked) - 2
        sys.stdout.write(f"then {marked[:half]}")
        sys.stdout.write(f"{marked[half:]} s\n")
        # A mark around text that is not an elapsed time's format is not a slot: it passes through as written.
        sys.stdout.write("\x1fxx\x1fy\x1f!\n")
        sys.stdout.flush()
    finally:
        recording.stop()
    assert sys.stdout is real
    assert _recording.elapsed(1.25, ".1f") == "1.2"  # no marks outside a recording
    assert recording.output == [
        (1, b"took "),
        (3, b".1f"),
        (1, b" s\nthen "),
        (3, b".1f"),
        (1, b" s\n\x1fxx\x1fy\x1f!\n"),
    ]


def test_a_mark_never_completed_is_written_as_it_came(tmp_path: Path) -> None:
    recording = Recording(str(tmp_path))
    recording.start()
    try:
        sys.stdout.write("\x1f.1f\x1f2.0")
    finally:
        recording.stop()
    assert recording.output == [(1, b"\x1f.1f\x1f2.0")]


def test_an_entry_keeps_its_slots_and_refuses_a_slot_that_is_not_a_format(tmp_path: Path) -> None:
    output = [(1, b"took "), (3, b".2f"), (1, b" s\n"), (4, b".1f")]
    entry = proofs.Proof("k", str(tmp_path), "s:m", 0, output)
    decoded = proofs.Proof.decode(entry.encode())
    assert decoded is not None
    assert decoded.output == tuple(output)
    forged = proofs.Proof("k", str(tmp_path), "s:m", 0, [(3, b"%s!")])
    assert proofs.Proof.decode(forged.encode()) is None


def test_a_replay_prints_its_own_elapsed_time(tmp_path: Path) -> None:
    code = (
        "from wheelhouse import _entry\n"
        "from wheelhouse.store import proofs\n"
        "_entry._replay(proofs.Proof('k', 'w', 's:m', 3, [(1, b'took '), (3, b'.3f'), (1, b' s\\n'), (4, b'.1f')]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, check=False)
    assert proc.returncode == 3
    assert re.fullmatch(rb"took \d+\.\d{3} s\n", proc.stdout)
    assert re.fullmatch(rb"\d+\.\d", proc.stderr)


def test_a_run_that_reached_the_network_is_no_longer_watched(tmp_path: Path) -> None:
    """Once a run cannot be kept, the stat and environment hooks are gone (a download's transfers need none)."""
    import socket

    recording = Recording(str(tmp_path))
    real_stat, real_environ = os.stat, os.environ
    recording.start()
    try:
        assert os.stat is not real_stat
        os.stat(tmp_path)
        socket.getaddrinfo("127.0.0.1", 80)
        assert recording.unsafe == "the run used socket.getaddrinfo"
        assert os.stat is real_stat
        assert os.environ is real_environ
        (tmp_path / "later").write_text("x")
        assert str(tmp_path / "later") not in recording.writes
    finally:
        recording.stop()
    assert ("stat", str(tmp_path)) in recording.probes


def test_the_folders_state_stands_only_for_the_state_it_reads(tmp_path: Path) -> None:
    """What a run read in .wheelhouse/ beyond the state the entry keeps (the build memo, the logs) is an input
    checked by its content, as any other file is."""
    wheels = str(tmp_path / "wheels")
    plan = _entry.Plan("k", wheels, str(tmp_path), 0)
    meta = os.path.join(wheels, ".wheelhouse")
    for covered in (
        wheels,
        os.path.join(wheels, "a-1.0-py3-none-any.whl"),
        os.path.join(meta, "manifest.json"),
        os.path.join(meta, "lock"),
        os.path.join(meta, "tmp", "x"),
        os.path.join(meta, "sdists", "a-1.0.tar.gz"),
        os.path.join(meta, ".partial-manifest.json.1.2"),
    ):
        assert plan._covered(covered), covered
    for checked in (
        os.path.join(meta, "builds", "0123abcd.json"),
        os.path.join(meta, "logs", "a.log"),
        os.path.join(wheels + "-other", "a.whl"),
        os.path.join(wheels, "sub", "a.whl"),
    ):
        assert not plan._covered(checked), checked


def test_a_variable_nobody_reads_leaves_the_answer_standing(a_needs_b: IndexServer, project: Path) -> None:
    """pip's settings are looked for among the PIP_ variables (which the key holds), not by a walk that makes the
    answer depend on every variable: a CI job's own number changes from run to run."""
    assert run(project, a_needs_b).returncode == 0
    assert run(project, a_needs_b, env={"CI_JOB_NUMBER": "1"}).returncode == 0
    stored = entries(project)
    assert len(stored) == 1
    again = run(project, a_needs_b, "-v", env={"CI_JOB_NUMBER": "2"})  # -v: another command line, kept the first time
    replay = run(project, a_needs_b, "-v", env={"CI_JOB_NUMBER": "3"})
    assert b"answer from the proof cache" not in again.stderr
    assert b"answer from the proof cache" in replay.stderr
    # A PIP_ variable is part of the key: another answer, made in full.
    other = run(project, a_needs_b, "-v", env={"CI_JOB_NUMBER": "3", "PIP_RETRIES": "2"})
    assert b"answer from the proof cache" not in other.stderr
    assert other.returncode == 0
