"""The proof cache of ``download`` under hostile or messy conditions: a replay must be the answer (and the effect)
a full run would give now, and a recorded run must print what an unrecorded one prints.

Each test runs the installed console script as a user does, against a local index on 127.0.0.1 (helpers of
tests/test_download_cache.py). Each docstring says what a full run does that a replay must match."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.index_server import IndexServer
from tests.support.wheels import write_wheel
from tests.test_download_cache import TARGET, covered, run, untimed
from tests.test_verify_cache import _script, entries
from wheelhouse.store.folder import Store

B_WHEEL = "b-1.0-py3-none-any.whl"
C_WHEEL = "c-1.0-py3-none-any.whl"


def stored_entry(project: Path) -> bytes:
    (name,) = entries(project)
    return (project / "wheels" / ".wheelhouse" / "proofs" / name).read_bytes()


def from_cache(proc: subprocess.CompletedProcess[bytes]) -> bool:
    """Whether a ``-v`` run answered from the proof cache."""
    return b"answer from the proof cache" in proc.stderr


def command(index: IndexServer, *args: str) -> list[str]:
    """The command line :func:`tests.test_download_cache.run` runs."""
    return [_script(), "download", "--index-url", index.index_url, *TARGET, *args]


# -- the elapsed time's marks --------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_a_recorded_run_on_a_wide_encoding_prints_no_marks(
    a_needs_b: IndexServer, project: Path, encoding: str
) -> None:
    """The recorded streams look for the elapsed time's marks as the byte 0x1f in the encoded output; in UTF-16 or
    UTF-32 the mark is not that single byte, so no time is marked there: the marks and the format
    (``\\x1f.1f\\x1f0.2\\x1f``) never reach the user, in a run that is kept or one that fetched files."""
    env = {"PYTHONIOENCODING": encoding}
    fetching = run(project, a_needs_b, env=env)
    full = run(project, a_needs_b, "--no-cache", env=env)
    recorded = run(project, a_needs_b, env=env)
    replay = run(project, a_needs_b, env=env)
    assert [p.returncode for p in (fetching, full, recorded, replay)] == [0, 0, 0, 0]
    expected = untimed(full.stdout.decode(encoding).encode())
    assert "\x1f" not in fetching.stdout.decode(encoding)
    for proc in (recorded, replay):
        text = proc.stdout.decode(encoding)
        assert "\x1f" not in text
        assert untimed(text.encode()) == expected


def test_a_recorded_json_answer_on_a_wide_encoding_is_json(a_needs_b: IndexServer, project: Path) -> None:
    """As above: ``--json`` with a UTF-16 stdout is valid JSON, recorded and replayed."""
    env = {"PYTHONIOENCODING": "utf-16"}
    assert run(project, a_needs_b, "--json", env=env).returncode == 0
    for _ in range(3):  # recorded and kept, then replayed
        proc = run(project, a_needs_b, "--json", env=env)
        assert proc.returncode == 0
        assert json.loads(proc.stdout.decode("utf-16"))["requests"] == 0


# -- the folder's lock ---------------------------------------------------------------------------------------


def test_a_replay_does_not_answer_past_a_lock_another_process_holds_with_no_wait(
    a_needs_b: IndexServer, project: Path
) -> None:
    """--no-wait fails at once when another wheelhouse process is using the folder, and so does an invocation
    the cache holds: a replay answers only where the run would take the lock at once."""
    covered(project, a_needs_b, "--no-wait")
    with Store(project / "wheels").lock():
        full = run(project, a_needs_b, "--no-wait", "--no-cache")
        replay = run(project, a_needs_b, "--no-wait")
    assert full.returncode == 1
    assert b"another wheelhouse process" in full.stderr
    assert (replay.returncode, replay.stdout, replay.stderr) == (full.returncode, full.stdout, full.stderr)


def test_a_replay_waits_for_the_writer_holding_the_lock_and_answers_for_what_it_left(
    a_needs_b: IndexServer, project: Path
) -> None:
    """A full run queues behind a writer (a prune, another download) and answers for the folder that writer
    leaves; a replay would answer at once for the folder as it was, so a held lock means a full run, which fetches
    again the wheel the writer removed."""
    covered(project, a_needs_b)
    wheel = project / "wheels" / B_WHEEL
    with Store(project / "wheels").lock():
        proc = subprocess.Popen(
            command(a_needs_b), cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ
        )
        time.sleep(1.0)
        wheel.unlink()  # what the writer did while it held the lock
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert b"waiting for it to finish" in err
    assert b"downloaded 1 file" in out
    assert wheel.is_file()


def test_a_lock_file_replaced_by_a_link_is_refused_not_answered_over(
    a_needs_b: IndexServer, project: Path, tmp_path: Path
) -> None:
    """Every writing command refuses a symbolic link among the state entries (store.check_state, the lock opened
    without following links). The folder's state leaves the lock out (every run writes its pid there), so the
    replay looks at the lock itself and refuses a planted link as the run would."""
    covered(project, a_needs_b)
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    lock = project / "wheels" / ".wheelhouse" / "lock"
    lock.unlink()
    lock.symlink_to(victim)
    full = run(project, a_needs_b, "--no-cache")
    assert full.returncode == 1
    assert b"is a symbolic link" in full.stderr
    replay = run(project, a_needs_b)
    assert (replay.returncode, replay.stdout, replay.stderr) == (full.returncode, full.stdout, full.stderr)
    assert victim.read_text() == "keep me\n"


@pytest.mark.parametrize("planted", [".wheelhouse/builds", ".wheelhouse/logs", ".wheelhouse/quarantine", ".wheelhouse"])
def test_a_state_folder_replaced_by_a_link_is_refused_not_answered_over(
    a_needs_b: IndexServer, project: Path, tmp_path: Path, planted: str
) -> None:
    """Guard: a link planted where wheelhouse keeps other state makes the full run refuse, and no replay answers."""
    covered(project, a_needs_b)
    outside = tmp_path / "outside"
    path = project / "wheels" / planted
    if path.exists():
        path.rename(outside)
    else:
        outside.mkdir()
    path.symlink_to(outside)
    proc = run(project, a_needs_b)
    assert proc.returncode == 1
    assert b"is a symbolic link" in proc.stderr


# -- what an entry keeps in a shared folder ------------------------------------------------------------------


def test_an_entry_holds_no_plain_digest_of_a_credential_in_the_environment(
    a_needs_b: IndexServer, project: Path
) -> None:
    """An entry keeps each environment variable the run read (all of them, once anything walks os.environ) in
    wheels/.wheelhouse/proofs/, a folder others read (a shared drive, a checkout): as a digest keyed with the
    user's key, never a bare sha256 a password in PIP_INDEX_URL could be guessed against offline."""
    url = a_needs_b.index_url.replace("http://", "http://alice:correct-horse@")
    env = {**os.environ, "PIP_INDEX_URL": url}
    argv = [_script(), "download", *TARGET]
    for _ in range(2):  # fetch, then the covered run that is kept
        proc = subprocess.run(argv, cwd=project, env=env, capture_output=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
    data = stored_entry(project)
    assert b"correct-horse" not in data
    assert hashlib.sha256(url.encode()).hexdigest().encode() not in data


# -- inputs the entry must check -----------------------------------------------------------------------------


def test_an_edited_requirements_file_under_a_pycache_folder_is_resolved_again(
    a_needs_b: IndexServer, project: Path
) -> None:
    """Only bytecode is skipped among the files a run read, not every path with a __pycache__ part: an input
    kept there is checked by content, and the same-size edit below is seen and c fetched."""
    folder = project / "__pycache__"
    folder.mkdir()
    reqs = folder / "reqs.txt"
    reqs.write_text("a\nb\n")
    covered(project, a_needs_b, "-r", "__pycache__/reqs.txt")
    reqs.write_text("a\nc\n")  # the same size
    again = run(project, a_needs_b, "-r", "__pycache__/reqs.txt")
    assert again.returncode == 0, again.stderr
    assert b"downloaded 1 file" in again.stdout
    assert (project / "wheels" / C_WHEEL).is_file()


def test_a_variable_in_a_nested_requirements_file_is_resolved_again(a_needs_b: IndexServer, project: Path) -> None:
    """Guard: ``${VAR}`` in a file included with -r is an input of the entry."""
    (project / "requirements.txt").write_text("-r more/base.txt\n")
    (project / "more").mkdir()
    (project / "more" / "base.txt").write_text("a\n${EXTRA_PROJECT}\n")
    fetching = run(project, a_needs_b, env={"EXTRA_PROJECT": "b"})
    assert fetching.returncode == 0, fetching.stderr
    for _ in range(2):
        assert run(project, a_needs_b, env={"EXTRA_PROJECT": "b"}).returncode == 0
    assert len(entries(project)) == 1
    again = run(project, a_needs_b, env={"EXTRA_PROJECT": "c"})
    assert again.returncode == 0, again.stderr
    assert (project / "wheels" / C_WHEEL).is_file()


def test_a_changed_configuration_file_is_resolved_again(a_needs_b: IndexServer, project: Path) -> None:
    """Guard: wheelhouse.toml naming other requirements is a new answer, with the new file fetched."""
    (project / "wheelhouse.toml").write_text('requirements = ["requirements.txt"]\n')
    covered(project, a_needs_b)
    (project / "other.txt").write_text("a\nc\n")
    (project / "wheelhouse.toml").write_text('requirements = ["other.txt"]\n')
    again = run(project, a_needs_b)
    assert again.returncode == 0, again.stderr
    assert (project / "wheels" / C_WHEEL).is_file()


def test_a_pip_configuration_file_that_breaks_is_reported_not_answered_over(
    a_needs_b: IndexServer, project: Path, tmp_path: Path
) -> None:
    """Guard: the pip configuration named by PIP_CONFIG_FILE is read by the run, so an edit is seen."""
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\ntimeout = 10\n")
    env = {"PIP_CONFIG_FILE": str(conf)}
    assert run(project, a_needs_b, env=env).returncode == 0
    for _ in range(2):
        assert run(project, a_needs_b, env=env).returncode == 0
    assert len(entries(project)) == 1
    conf.write_text("[global\ntimeout = 10\n")
    proc = run(project, a_needs_b, env=env)
    assert proc.returncode == 2
    assert b"cannot parse pip configuration" in proc.stderr


# -- the folder ----------------------------------------------------------------------------------------------


def test_a_wheel_rewritten_with_the_same_name_size_and_mtime_is_not_answered_over(
    a_needs_b: IndexServer, project: Path
) -> None:
    """Guard: a wheel whose bytes change in place (same inode, size and mtime; only the ctime moves)."""
    covered(project, a_needs_b)
    wheel = project / "wheels" / "a-1.0-py3-none-any.whl"
    before = wheel.stat()
    with open(wheel, "r+b") as fh:
        fh.write(b"\0" * before.st_size)
    os.utime(wheel, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = wheel.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    proc = run(project, a_needs_b, "-v")
    assert not from_cache(proc)
    assert b"a-1.0-py3-none-any.whl" in proc.stderr  # the file's problem, read from the file itself


def test_a_linked_wheels_folder_pointed_elsewhere_is_filled_again(
    a_needs_b: IndexServer, project: Path, tmp_path: Path
) -> None:
    """Guard: ``wheels`` a link to a folder on a shared drive, later pointed at another folder."""
    first, second = tmp_path / "drive" / "v1", tmp_path / "drive" / "v2"
    first.mkdir(parents=True)
    second.mkdir()
    (project / "wheels").rmdir()
    (project / "wheels").symlink_to(first)
    assert run(project, a_needs_b).returncode == 0
    for _ in range(2):
        assert run(project, a_needs_b, "-v").returncode == 0
    write_wheel(second, "a", "1.0", requires_dist=["b>=1"])
    (project / "wheels").unlink()
    (project / "wheels").symlink_to(second)
    proc = run(project, a_needs_b, "-v")
    assert proc.returncode == 0, proc.stderr
    assert not from_cache(proc)
    assert b"downloaded 1 file" in proc.stdout
    assert (second / B_WHEEL).is_file()


def test_a_renamed_project_folder_is_proved_in_its_new_place(
    a_needs_b: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guard: the entries move with the folder; the working directory is part of the key."""
    covered(project, a_needs_b)
    moved = project.with_name("moved")
    monkeypatch.chdir(project.parent)
    project.rename(moved)
    (moved / "wheels" / B_WHEEL).unlink()
    proc = run(moved, a_needs_b)
    assert proc.returncode == 0, proc.stderr
    assert b"downloaded 1 file" in proc.stdout
    assert (moved / "wheels" / B_WHEEL).is_file()


def test_a_dry_run_replayed_over_a_folder_that_lost_a_wheel_plans_it_again(
    a_needs_b: IndexServer, project: Path
) -> None:
    """Guard: a kept --dry-run answer is not replayed once the folder changed."""
    assert run(project, a_needs_b).returncode == 0
    for _ in range(2):
        assert run(project, a_needs_b, "--dry-run").returncode == 0
    assert len(entries(project)) == 1
    (project / "wheels" / B_WHEEL).unlink()
    proc = run(project, a_needs_b, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert B_WHEEL.encode() in proc.stdout
    assert not (project / "wheels" / B_WHEEL).exists()


def test_a_gap_with_local_find_links_is_filled_once_the_links_hold_the_file(project: Path) -> None:
    """Guard: a download over --find-links DIR and no index that ends with a gap (exit 3) is not answered again
    after DIR gains the missing wheel."""
    links = project / "links"
    links.mkdir()
    write_wheel(project / "wheels", "a", "1.0", requires_dist=["b>=1"])
    (project / "requirements.txt").write_text("a\n")
    argv = [_script(), "download", "--no-index", "--find-links", "links", *TARGET]
    for _ in range(2):
        gap = subprocess.run(argv, cwd=project, capture_output=True, timeout=120, check=False)
        assert gap.returncode == 3, gap.stderr
    write_wheel(links, "b", "1.0")
    filled = subprocess.run(argv, cwd=project, capture_output=True, timeout=120, check=False)
    assert filled.returncode == 0, filled.stderr
    assert (project / "wheels" / B_WHEEL).is_file()


# -- the streams ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [(), ("--json",)])
def test_a_closed_stdout_gets_the_full_runs_status_from_a_replay(
    a_needs_b: IndexServer, project: Path, args: tuple[str, ...]
) -> None:
    """Guard: ``wheelhouse download | head -0``: the replay fails as the full run does (status 1, same stderr)."""
    covered(project, a_needs_b, *args)

    def closed(*extra: str) -> subprocess.CompletedProcess[bytes]:
        read, write = os.pipe()
        os.close(read)
        try:
            return subprocess.run(
                command(a_needs_b, *args, *extra),
                cwd=project,
                stdout=write,
                stderr=subprocess.PIPE,
                timeout=60,
                check=False,
            )
        finally:
            os.close(write)

    full = closed("--no-cache")
    replay = closed()
    assert full.returncode == 1
    assert (replay.returncode, replay.stderr) == (full.returncode, full.stderr)


def test_one_stream_for_both_gets_the_full_runs_order_from_a_replay(a_needs_b: IndexServer, project: Path) -> None:
    """Guard: ``2>&1``: warnings and the report interleave as in the full run."""
    covered(project, a_needs_b)
    (project / "wheels" / "junk.whl").write_text("not a wheel")  # a warning on stderr among the report

    def merged(*extra: str) -> bytes:
        proc = subprocess.run(
            command(a_needs_b, *extra),
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0
        return untimed(proc.stdout)

    full = merged("--no-cache")
    assert merged() == full  # recorded and kept
    assert merged() == full  # replayed
    assert len(entries(project)) == 2
    assert re.search(rb"warning: .*junk\.whl", full)
