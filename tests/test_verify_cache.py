"""The proof cache of ``verify`` (wheels/.wheelhouse/proofs/): a replay is byte for byte the full run's answer, and
a change to anything the answer depends on makes the full run happen again, with the right answer.

Each test runs the installed console script as a user does (the cache lives in the console script's entry),
twice or more in the same project."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.modules import modules_in, run_listing_modules
from tests.support.wheels import write_wheel
from wheelhouse import _entry
from wheelhouse._recording import Recording
from wheelhouse.store import proofs

TARGET = ("--target", "linux/amd64", "--python", "3.12")
REPO = Path(__file__).resolve().parents[1]


def _script() -> str:
    return shutil.which("wheelhouse", path=str(Path(sys.executable).parent)) or "wheelhouse"


def run(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """``wheelhouse verify ARGS`` in ``project``, its output as bytes."""
    environ = {**os.environ, **(env or {})}
    return subprocess.run(
        [_script(), "verify", *args], cwd=project, env=environ, capture_output=True, timeout=120, check=False
    )


def entries(project: Path) -> dict[str, int]:
    """The proof cache's entries, by name, with their inode (an entry written again has a new one)."""
    folder = project / "wheels" / ".wheelhouse" / "proofs"
    if not folder.is_dir() or folder.is_symlink():
        return {}
    return {p.name: p.stat().st_ino for p in folder.iterdir() if not p.name.startswith(".")}


def answer(proc: subprocess.CompletedProcess[bytes]) -> tuple[int, bytes, bytes]:
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def app(project: Path) -> Path:
    """a 1.0 needs b; b 1.0 in the folder; requirements.txt asks for a."""
    wheels = project / "wheels"
    write_wheel(wheels, "a", "1.0", requires_dist=["b>=1"])
    write_wheel(wheels, "b", "1.0")
    (project / "requirements.txt").write_text("a\n")
    return project


def cached(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run twice; the second run must be the first one's answer, replayed from the cache (the entry the first
    stored is still the same file: a full run would have written it again)."""
    first = run(project, *args, env=env)
    stored = entries(project)
    assert len(stored) == 1, first.stderr
    second = run(project, *args, env=env)
    assert entries(project) == stored
    assert answer(second) == answer(first)
    return first


def pins(proc: subprocess.CompletedProcess[bytes]) -> dict[str, str]:
    report = json.loads(proc.stdout)
    return {p["name"]: p["version"] for t in report["targets"] for p in t["pins"]}


# -- a replay is the full run's answer --------------------------------------------------------------------------


@pytest.mark.parametrize("args", [TARGET, (*TARGET, "--json"), (*TARGET, "--target", "linux/arm64")])
def test_a_replay_is_byte_identical_to_the_full_run(app: Path, args: tuple[str, ...]) -> None:
    first = cached(app, *args)
    assert first.returncode == 0
    full = run(app, *args, "--no-cache")
    assert (full.stdout, full.stderr) == (first.stdout, first.stderr)


def test_a_not_covered_answer_is_replayed_with_its_status_and_both_streams(app: Path) -> None:
    (app / "wheels" / "b-1.0-py3-none-any.whl").unlink()
    (app / "wheels" / "junk.whl").write_text("not a wheel")  # a warning on stderr, the report on stdout
    first = cached(app, *TARGET)
    assert first.returncode == 3
    assert b"warning: " in first.stderr
    assert b"not covered" in first.stdout


def test_verbose_says_the_answer_came_from_the_cache(app: Path) -> None:
    first = run(app, *TARGET, "-v")
    second = run(app, *TARGET, "-v")
    assert b"proof cache" not in first.stderr
    note, _, rest = second.stderr.partition(b"\n")
    assert b"answer from the proof cache" in note
    assert (second.returncode, second.stdout, rest) == (first.returncode, first.stdout, first.stderr)


def test_no_cache_and_the_environment_variable_bypass_it(app: Path) -> None:
    assert run(app, *TARGET, "--no-cache").returncode == 0
    assert run(app, *TARGET, env={_entry.NO_CACHE_ENV: "1"}).returncode == 0
    assert entries(app) == {}


def test_help_documents_the_cache(app: Path) -> None:
    text = run(app, "--help").stdout.decode()
    assert "--no-cache" in text
    assert "proof cache" in text
    assert "WHEELHOUSE_NO_PROOF_CACHE" in text


def test_a_failure_is_never_stored(app: Path) -> None:
    (app / "requirements.txt").write_text("a ==== 1\n")
    assert run(app, *TARGET).returncode == 2
    assert run(app, *TARGET, "--wheels", "missing-folder").returncode in (2, 3)
    assert entries(app) == {}


# -- the folder ---------------------------------------------------------------------------------------------


def test_a_wheel_rewritten_in_place_with_the_same_size_and_mtime_is_proved_again(app: Path) -> None:
    assert cached(app, *TARGET).returncode == 0
    wheel = app / "wheels" / "b-1.0-py3-none-any.whl"
    before = wheel.stat()
    with open(wheel, "r+b") as fh:  # same inode, same size: only the content (and so the ctime) changes
        fh.write(b"\0" * before.st_size)
    os.utime(wheel, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = wheel.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    proc = run(app, *TARGET)
    assert proc.returncode == 3
    assert b"b-1.0-py3-none-any.whl" in proc.stderr  # the folder's problem, read from the file itself


def test_a_wheel_added_or_removed_is_proved_again(app: Path) -> None:
    assert pins(cached(app, *TARGET, "--json")) == {"a": "1.0", "b": "1.0"}
    write_wheel(app / "wheels", "b", "2.0")
    assert pins(run(app, *TARGET, "--json")) == {"a": "1.0", "b": "2.0"}
    (app / "wheels" / "b-2.0-py3-none-any.whl").unlink()
    (app / "wheels" / "b-1.0-py3-none-any.whl").unlink()
    proc = run(app, *TARGET, "--json")
    assert proc.returncode == 3
    assert json.loads(proc.stdout)["covered"] is False


def test_a_kept_sdist_that_appears_is_proved_again(app: Path) -> None:
    (app / "wheels" / "b-1.0-py3-none-any.whl").unlink()
    first = cached(app, *TARGET)
    assert first.returncode == 3
    kept = app / "wheels" / ".wheelhouse" / "sdists"
    kept.mkdir()
    (kept / "b-1.0.tar.gz").write_bytes(b"kept for an offline rebuild")
    second = run(app, *TARGET)
    assert second.returncode == 3
    assert second.stdout != first.stdout  # the gap now names the source distribution kept
    assert b"b-1.0.tar.gz" in second.stdout


# -- the inputs ---------------------------------------------------------------------------------------------


def test_an_edited_nested_requirements_file_is_proved_again(app: Path) -> None:
    (app / "requirements.txt").write_text("-r more/base.txt\n")
    (app / "more").mkdir()
    (app / "more" / "base.txt").write_text("a\n")
    assert cached(app, *TARGET).returncode == 0
    (app / "more" / "base.txt").write_text("a\nc\n")  # c is not in the folder
    proc = run(app, *TARGET)
    assert proc.returncode == 3
    assert b"c" in proc.stdout


def test_an_edited_wheelhouse_toml_is_proved_again(app: Path) -> None:
    (app / "wheelhouse.toml").write_text('targets = ["linux/amd64"]\npython = ["3.12"]\n')
    assert b"CPython 3.12" in cached(app).stdout
    (app / "wheelhouse.toml").write_text('targets = ["linux/amd64"]\npython = ["3.11"]\n')
    proc = run(app)
    assert proc.returncode == 0
    assert b"CPython 3.11" in proc.stdout


def test_a_configuration_file_that_appears_above_is_seen(app: Path) -> None:
    # No wheelhouse.toml anywhere at first: the search upwards found none, and that absence is part of the proof.
    assert b"CPython 3.12" in cached(app, "--target", "linux/amd64", "--python", "3.12").stdout
    (app / "wheelhouse.toml").write_text('requirements = ["other.txt"]\n')
    (app / "other.txt").write_text("c\n")
    proc = run(app, "--target", "linux/amd64", "--python", "3.12")
    assert proc.returncode == 3


def test_a_changed_target_option_is_another_answer(app: Path) -> None:
    assert b"CPython 3.12" in cached(app, *TARGET).stdout
    proc = run(app, "--target", "linux/amd64", "--python", "3.11")
    assert b"CPython 3.11" in proc.stdout
    assert len(entries(app)) == 2


def test_a_changed_environment_variable_named_in_a_requirements_file_is_proved_again(app: Path) -> None:
    (app / "requirements.txt").write_text("a\n${EXTRA_PROJECT}\n")
    assert cached(app, *TARGET, env={"EXTRA_PROJECT": "b"}).returncode == 0
    proc = run(app, *TARGET, env={"EXTRA_PROJECT": "c"})
    assert proc.returncode == 3
    assert b"c" in proc.stdout


def test_a_variable_the_run_read_is_checked_even_outside_the_key(app: Path) -> None:
    """Every variable the run read through os.environ is part of its entry: here sysconfig's
    _PYTHON_PROJECT_BASE, which no list of wheelhouse's own variables would name."""
    first = run(app, *TARGET, "-vv")
    names = {name for name, _digest in _stored(app).env}
    assert {"TTY_COMPATIBLE", "FORCE_COLOR", "_PYTHON_PROJECT_BASE"} <= names
    # The value sysconfig would compute anyway: the answer is the same, but the entry cannot know that.
    base = os.path.dirname(os.path.realpath(sys.executable))
    second = run(app, *TARGET, "-vv", env={"_PYTHON_PROJECT_BASE": base})
    assert b"proof cache: ${_PYTHON_PROJECT_BASE} changed; proving it" in second.stderr
    assert (second.returncode, second.stdout) == (first.returncode, first.stdout)


def test_the_recording_notes_each_variable_read_and_a_walk_through_all(tmp_path: Path) -> None:
    recording = Recording(str(tmp_path))
    recording.start()
    try:
        os.environ.get("WH_TEST_ONE")
        _ = "WH_TEST_TWO" in os.environ
        os.getenv("WH_TEST_THREE")
        walked_before = recording.environ_all
        dict(os.environ)
    finally:
        recording.stop()
    assert {"WH_TEST_ONE", "WH_TEST_TWO", "WH_TEST_THREE"} <= recording.environ
    assert not walked_before
    assert recording.environ_all
    assert type(os.environ) is os._Environ


def test_a_changed_terminal_variable_is_another_answer(app: Path) -> None:
    plain = cached(app, *TARGET)
    coloured = run(app, *TARGET, env={"FORCE_COLOR": "1", "NO_COLOR": ""})
    assert b"\x1b[" not in plain.stdout
    assert b"\x1b[" in coloured.stdout


def test_the_entry_depends_on_the_code_that_ran(app: Path, tmp_path: Path) -> None:
    """Every module file of the run is part of its entry (an edited checkout is another answer), wheelhouse's
    and its dependencies', and a changed one makes the entry stale."""
    cached(app, *TARGET)
    proof = _stored(app)
    paths = [path for path, _key in proof.modules]
    for module in (("wheelhouse", "resolve", "verify.py"), ("wheelhouse", "cli", "_reports.py"), ("rich",)):
        assert any(os.path.join("", *module) in path for path in paths), module
    assert proof.stale(proof.key, proof.wheels, proofs.folder_state(proof.wheels)) is None
    edited = tmp_path / "module.py"
    edited.write_text("x = 1\n")
    entry = proofs.Proof(
        proof.key, proof.wheels, proof.state, 0, [], modules=[(str(edited), proofs.stat_key(str(edited)))]
    )
    edited.write_text("x = 2\n")
    assert entry.stale(proof.key, proof.wheels, proof.state) == f"wheelhouse's code changed ({edited})"


def _stored(project: Path) -> proofs.Proof:
    (name,) = entries(project)
    proof = proofs.read_proof(str(project / "wheels"), name)
    assert proof is not None
    return proof


# -- the cache's own files ----------------------------------------------------------------------------------


def test_a_corrupt_entry_is_ignored_and_written_again(app: Path) -> None:
    first = cached(app, *TARGET)
    ((name, _inode),) = entries(app).items()
    path = app / "wheels" / ".wheelhouse" / "proofs" / name
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # inside the stored output
    path.write_bytes(bytes(data))
    assert proofs.read_proof(str(app / "wheels"), name) is None
    second = run(app, *TARGET)
    assert answer(second) == answer(first)
    assert proofs.read_proof(str(app / "wheels"), name) is not None


def test_a_symlinked_proofs_folder_is_never_followed(app: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    run(app, *TARGET, "--no-cache")  # makes .wheelhouse/
    (app / "wheels" / ".wheelhouse" / "proofs").symlink_to(outside)
    first = run(app, *TARGET)
    second = run(app, *TARGET)
    assert (first.returncode, second.returncode) == (0, 0)
    assert answer(first) == answer(second)
    assert list(outside.iterdir()) == []
    assert b"error" not in first.stderr


def test_a_symlinked_entry_is_replaced_not_written_through(app: Path, tmp_path: Path) -> None:
    first = cached(app, *TARGET)
    ((name, _inode),) = entries(app).items()
    path = app / "wheels" / ".wheelhouse" / "proofs" / name
    target = tmp_path / "elsewhere"
    target.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(target)
    before = target.read_bytes()
    assert proofs.read_proof(str(app / "wheels"), name) is None  # not followed
    second = run(app, *TARGET)
    assert answer(second) == answer(first)
    assert not path.is_symlink()  # replaced by a real entry; the file it pointed to is untouched
    assert target.read_bytes() == before


def test_a_read_only_folder_is_proved_every_time(app: Path) -> None:
    code = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from tests.test_hostile_input import ReadOnly
        ReadOnly(Path("wheels"))
        sys.argv = ["wheelhouse", "verify", "--target", "linux/amd64", "--python", "3.12"]
        from wheelhouse._entry import run
        run()
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.run([sys.executable, "-c", code], cwd=app, env=env, capture_output=True, timeout=120, check=False)
        for _ in range(2)
    ]
    assert [p.returncode for p in procs] == [0, 0], procs[0].stderr
    assert procs[0].stdout == procs[1].stdout
    assert b"covered" in procs[0].stdout
    assert not (app / "wheels" / ".wheelhouse").exists()


def test_only_the_newest_entries_are_kept(app: Path) -> None:
    first = cached(app, *TARGET)
    ((name, _inode),) = entries(app).items()
    folder = app / "wheels" / ".wheelhouse" / "proofs"
    entry = proofs.read_proof(str(app / "wheels"), name)
    assert entry is not None
    assert entry.status == first.returncode
    for i in range(proofs.MAX_ENTRIES + 5):
        old = folder / f"{i:064x}"
        old.write_bytes(b"old")
        os.utime(old, ns=(i * 10**9, i * 10**9))
    assert proofs.write_proof(str(app / "wheels"), entry)
    kept = sorted(p.name for p in folder.iterdir())
    assert len(kept) == proofs.MAX_ENTRIES
    assert name in kept
    assert f"{proofs.MAX_ENTRIES + 4:064x}" in kept
    assert f"{0:064x}" not in kept


# -- what a cached answer costs -----------------------------------------------------------------------------


def test_a_cached_answer_imports_none_of_the_resolution_or_rendering_libraries(app: Path, tmp_path: Path) -> None:
    seen = tmp_path / "modules.txt"
    argv = ["verify", "--target", "linux/amd64", "--python", "3.12"]
    procs = [run_listing_modules(argv, app, seen) for _ in range(2)]
    assert [p.returncode for p in procs] == [0, 0]
    assert procs[0].stdout == procs[1].stdout
    modules = modules_in(seen)
    top = {name.partition(".")[0] for name in modules}
    assert not top & {"click", "rich", "packaging", "resolvelib", "requests"}
    assert "wheelhouse.cli" not in modules
    assert "wheelhouse.store.proofs" in modules


def test_plans_are_made_only_for_a_verify_of_the_folder_or_a_download() -> None:
    cwd = os.getcwd()
    assert _entry.Plan.of(["verify", "-r", "r.txt", "--wheels", "w"]) is not None
    # A download's index is part of its key; an answer that used it is never kept (test_download_cache.py).
    assert _entry.Plan.of(["download", "-r", "r.txt", "--index-url", "http://127.0.0.1:1/simple"]) is not None
    for argv in (
        ["download", "--no-cache"],
        ["download", "--help"],
        ["list"],
        ["verify", "--index-url", "http://127.0.0.1:1/simple"],
        ["verify", "--against=http://127.0.0.1:1/simple"],
        ["verify", "--no-cache"],
        ["verify", "--help"],
        ["-v", "verify"],
    ):
        assert _entry.Plan.of(argv) is None, argv
    assert _entry.wheels_folder(["--wheels", "w/./x/"], cwd) == os.path.join(cwd, "w", "x")
    assert _entry.wheels_folder(["--wheels=../w"], "/a/b") == "/a/b/../w"
