"""Hostile or bad input: unsafe file names from an index, malicious and broken wheels in the folder, bad
requirements, missing and unreadable paths, a read-only folder, a full disk, and credentials.

Every case ends the same way: a one-line error (or a warning naming the file) and a non-zero exit where the
command could not do its job, never a traceback, never a half-written wheels/ folder, memory bounded.
"""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import signal
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

from tests.conftest import Cli
from tests.support.index_server import Fault, IndexServer
from tests.support.wheels import make_wheel, metadata_text, write_wheel
from tests.test_faults import TARGET, assert_sound_folder, file_gets, lines_naming, publish
from tests.test_interrupt import wheelhouse_exe
from wheelhouse.store.folder import META_DIR, Store

# -- hostile file names from the index ---------------------------------------------------------------------------

HOSTILE_NAMES = [
    "../evil-1.0-py3-none-any.whl",
    "..\\evil-1.0-py3-none-any.whl",
    "/tmp/evil-1.0-py3-none-any.whl",
    "sub/evil-1.0-py3-none-any.whl",
    "evil-1.0-py3-none-any.whl\x00.txt",
    "C:evil-1.0-py3-none-any.whl",
    "evil-1.0-py3-none-any.exe",
    "evil-1.0-py3-none-any.whl.sh",
    "evil-1.0.tar.gz.exe",
    ".evil-1.0-py3-none-any.whl",
    "evil-1.0-py3-none-any.whl\n",
]
# Names no installer would pick (installers are everyday index content: PyPI lists thousands; a wheel name with
# another suffix is not a wheel) are refused just the same, but without a warning, as pip passes over them.
QUIET = {"evil-1.0-py3-none-any.exe", "evil-1.0.tar.gz.exe", "evil-1.0-py3-none-any.whl.sh"}


@pytest.mark.parametrize("api", ["json", "html"])
def test_unsafe_names_on_the_index_are_refused_end_to_end(
    cli: Cli, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    monkeypatch.setenv("WHEELHOUSE_BACKOFF", "0")
    _, newer = make_wheel("evil", "1.0")
    with IndexServer(json_api=api == "json", html_api=api == "html") as srv:
        # The only safe file is the older version; each hostile name carries a newer one that would win.
        srv.add_wheel("evil", "0.9")
        for name in HOSTILE_NAMES:
            srv.add(name, newer, project="evil")
        (project / "requirements.txt").write_text("evil\n")
        index_url = srv.index_url
        result = cli("download", "--index-url", index_url, *TARGET)
        assert result.exit_code == 0, result.output
        assert not [r for r in file_gets(srv) if "1.0" in r]
    assert assert_sound_folder(project / "wheels") == ["evil-0.9-py3-none-any.whl"]
    # Each refusal is a warning naming the file and why; nothing landed anywhere else on disk.
    skipped = lines_naming(result.stderr, "skipped")
    assert len(skipped) == len(HOSTILE_NAMES) - len(QUIET)
    for name in (n for n in HOSTILE_NAMES if n not in QUIET):
        (line,) = [line for line in skipped if f"skipped {name!r} listed by {index_url}" in line]
        assert line.startswith("warning: ")
    planted = [p for p in tmp_path.rglob("*evil*") if p.is_file() and p.parent != project / "wheels"]
    assert planted == []
    assert not Path("/tmp/evil-1.0-py3-none-any.whl").exists()


def test_a_file_named_for_another_project_is_refused(cli: Cli, index_server: IndexServer, project: Path) -> None:
    # An index that lists "requests" under the page of "demo" cannot make demo pull it in.
    _, impostor = make_wheel("requests", "99.0")
    index_server.add_wheel("demo", "1.0")
    index_server.add("requests-99.0-py3-none-any.whl", impostor, project="demo")
    (project / "requirements.txt").write_text("demo\n")
    result = cli("download", "--index-url", index_server.index_url, *TARGET, "--retries", "0")
    assert result.exit_code == 0, result.output
    assert "belongs to requests" in result.stderr
    assert assert_sound_folder(project / "wheels") == ["demo-1.0-py3-none-any.whl"]


def test_oversized_metadata_from_the_index_is_refused(cli: Cli, index_server: IndexServer, project: Path) -> None:
    filename = index_server.add_wheel("demo", "1.0")
    huge = metadata_text("demo", "1.0").encode() + b"X" * (9 * 1024 * 1024)
    index_server.inject(f"/files/{filename}.metadata", Fault.replace(huge), times=None)
    (project / "requirements.txt").write_text("demo\n")
    result = cli("download", "--index-url", index_server.index_url, *TARGET, "--retries", "0")
    assert result.exit_code == 1
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert "over the 8388608 byte limit" in line
    assert file_gets(index_server) == []


# -- hostile and broken wheels in the folder ---------------------------------------------------------------------

BOMB_MB = 512
# A generous bound: a command that inflated any of the bombs into memory would need several times this.
MEMORY_BOUND_KB = 200 * 1024


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _zeros_member(zf: zipfile.ZipFile, name: str, megabytes: int, *, head: bytes = b"", fill: bytes = b"\0") -> None:
    with zf.open(name, "w", force_zip64=True) as fh:
        fh.write(head)
        block = fill * (1024 * 1024)
        for _ in range(megabytes):
            fh.write(block)


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose wheels/ holds one good wheel and every kind of bad one; built once per module."""
    root = tmp_path_factory.mktemp("hostile") / "project"
    wheels = root / "wheels"
    write_wheel(wheels, "good", "1.0")
    (root / "requirements.txt").write_text("good\n")
    # A classic bomb: an honest 512 MB member of zeros in a file of half a megabyte.
    with zipfile.ZipFile(wheels / "bomb-1.0-py3-none-any.whl", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb-1.0.dist-info/METADATA", metadata_text("bomb", "1.0"))
        _zeros_member(zf, "bomb/zeros.bin", BOMB_MB)
    # A lying bomb: METADATA declares 300 bytes but inflates to 256 MB.
    with zipfile.ZipFile(wheels / "liar-1.0-py3-none-any.whl", "w", zipfile.ZIP_DEFLATED) as zf:
        _zeros_member(zf, "liar-1.0.dist-info/METADATA", 256, head=metadata_text("liar", "1.0").encode(), fill=b"A")
        zf.getinfo("liar-1.0.dist-info/METADATA").file_size = 300
    _zip(
        wheels / "hugemeta-1.0-py3-none-any.whl",
        {"hugemeta-1.0.dist-info/METADATA": metadata_text("hugemeta", "1.0").encode() + b"X" * (20 * 1024 * 1024)},
    )
    _zip(wheels / "badmeta-1.0-py3-none-any.whl", {"badmeta-1.0.dist-info/METADATA": b"\xff\xfe\x00garbage\n\n\x00"})
    _zip(wheels / "nometa-1.0-py3-none-any.whl", {"nometa/__init__.py": b""})
    _zip(wheels / "othername-1.0-py3-none-any.whl", {"x-1.0.dist-info/METADATA": metadata_text("x", "2.0").encode()})
    (wheels / "notzip-1.0-py3-none-any.whl").write_bytes(os.urandom(4096))
    (wheels / "empty-1.0-py3-none-any.whl").write_bytes(b"")
    _, good = make_wheel("truncated", "1.0")
    (wheels / "truncated-1.0-py3-none-any.whl").write_bytes(good[: len(good) // 2])
    (wheels / "adirectory-1.0-py3-none-any.whl").mkdir()
    (wheels / "not a wheel name.whl").write_bytes(good)
    return root


BROKEN = [
    "adirectory-1.0-py3-none-any.whl",
    "badmeta-1.0-py3-none-any.whl",
    "empty-1.0-py3-none-any.whl",
    "hugemeta-1.0-py3-none-any.whl",
    "liar-1.0-py3-none-any.whl",
    "nometa-1.0-py3-none-any.whl",
    "not a wheel name.whl",
    "notzip-1.0-py3-none-any.whl",
    "othername-1.0-py3-none-any.whl",
    "truncated-1.0-py3-none-any.whl",
]

_MEASURE = """
import os, resource, subprocess, sys
code = subprocess.call(sys.argv[1:])
with open(os.environ["MAXRSS_FILE"], "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


def run_measured(cwd: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run ``wheelhouse ARGS`` as a real process; its result and its peak resident memory in kB."""
    rss_file = cwd.parent / f"maxrss-{os.getpid()}-{threading.get_ident()}"
    env = {**os.environ, "MAXRSS_FILE": str(rss_file)}
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, wheelhouse_exe(), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return proc, int(rss_file.read_text())


@pytest.mark.parametrize(
    ("args", "codes"),
    [
        (("verify", *TARGET), {0}),
        (("list",), {0}),
        (("list", "--json"), {0}),
        (("show", "bomb"), {0}),
        (("show", "liar-1.0-py3-none-any.whl"), {1}),
        (("show", "hugemeta-1.0-py3-none-any.whl"), {1}),
        (("show", "notzip-1.0-py3-none-any.whl"), {1}),
        (("check",), {1}),
        (("check", "--json"), {1}),
        (("lock", "-o", "-", *TARGET), {0}),
        (("why", "good", *TARGET), {0}),
        (("index", "--out", "../index-out"), {0}),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_hostile_wheels_are_reported_in_bounded_memory(
    hostile_folder: Path, args: tuple[str, ...], codes: set[int]
) -> None:
    proc, peak_kb = run_measured(hostile_folder, *args)
    output = proc.stdout + proc.stderr
    assert proc.returncode in codes, output
    assert "Traceback" not in output
    assert "internal error" not in output
    assert peak_kb < MEMORY_BOUND_KB, f"{' '.join(args)} peaked at {peak_kb} kB"
    if args[0] in ("verify", "list") and "--json" not in args:
        # Every broken file is named once, with a reason; the good ones serve as usual.
        for name in BROKEN:
            (line,) = lines_naming(proc.stderr, name)
            assert line.startswith("warning: "), line
    if args == ("list", "--json"):
        assert sorted(p["file"] for p in json.loads(proc.stdout)["problems"]) == BROKEN
    if args[0] == "show" and proc.returncode == 1:
        (line,) = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
        assert f"cannot read wheels/{args[1]}" in line
    if args[0] == "check" and "--json" in args:
        report = json.loads(proc.stdout)
        assert json.dumps(report)  # parses and round-trips


def test_check_names_every_broken_wheel(hostile_folder: Path) -> None:
    proc, _ = run_measured(hostile_folder, "check")
    assert proc.returncode == 1
    for name in [*BROKEN, "bomb-1.0-py3-none-any.whl"]:
        if name == "not a wheel name.whl":
            continue
        assert lines_naming(proc.stdout + proc.stderr, name), name


def test_downloading_next_to_hostile_wheels_leaves_them_alone(
    cli: Cli, hostile_folder: Path, index_server: IndexServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project = tmp_path / "copy"
    wheels = project / "wheels"
    wheels.mkdir(parents=True)
    for path in (hostile_folder / "wheels").iterdir():
        if path.is_file() and path.name not in ("bomb-1.0-py3-none-any.whl", "liar-1.0-py3-none-any.whl"):
            (wheels / path.name).write_bytes(path.read_bytes())
    publish(index_server, ("alpha",))
    monkeypatch.chdir(project)
    result = cli("download", "--index-url", index_server.index_url, *TARGET, "alpha")
    assert result.exit_code == 0, result.output
    assert (wheels / "alpha-1.0-py3-none-any.whl").is_file()
    # Broken files are reported, not removed or "repaired" by a download.
    # (The copy holds the broken files only: not the liar, nor the folder named like a wheel.)
    copied = [name for name in BROKEN if name not in ("liar-1.0-py3-none-any.whl", "adirectory-1.0-py3-none-any.whl")]
    assert all((wheels / name).exists() for name in copied)


# -- requirements input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"flask\x00==1\n", "requirements.txt:1: invalid requirement"),
        (b"\xff\xfeflask\n", "requirements.txt:1: not UTF-8"),
        (b"\x1b[31mflask\n", "requirements.txt:1: invalid requirement"),
        (b"ok==1\n" + b"x" * 1_000_000 + b" ==\n", "requirements.txt:2: invalid requirement"),
        (b"-r requirements.txt\n", "requirements.txt:1: requirements files include each other"),
        (b"-r nowhere.txt\n", "requirements.txt:1: file not found: nowhere.txt"),
        (b"-r .\n", "requirements.txt:1: is a directory"),
        (b"-e .\n", "requirements.txt:1: an editable requirement is not supported offline"),
        (b"flask --hash=sha256:zz\n", "requirements.txt:1: invalid --hash"),
        (b"git+https://example.org/x.git\n", "requirements.txt:1:"),
        (b"\\\n\\\n\\\n", None),
        (b'flask ; python_version ~= "abc"\n', "requirements.txt:1: its marker cannot be evaluated for the target"),
        (b'flask ; python_version ~= "' + b"a" * 100_000 + b'"\n', "requirements.txt:1: its marker cannot be"),
    ],
    ids=["nul", "not-utf8", "ansi-escape", "megabyte-line", "self-include", "missing-include", "dir-include",
         "editable", "bad-hash", "vcs-url", "only-continuations", "unevaluable-marker", "unevaluable-long-marker"],
)  # fmt: skip
def test_bad_requirements_are_one_line_with_file_and_line(
    cli: Cli, project: Path, content: bytes, message: str | None
) -> None:
    (project / "requirements.txt").write_bytes(content)
    result = cli("verify", *TARGET)
    assert "Traceback" not in result.output
    # Control characters from the file are shown escaped, never sent to the terminal as they are.
    assert "\x1b" not in result.output
    assert "\x00" not in result.output
    if message is None:
        assert result.exit_code in (0, 2, 3)
        return
    assert result.exit_code == 2
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert message in line
    assert len(line) < 400


def test_deeply_nested_includes_do_not_overflow(cli: Cli, project: Path) -> None:
    for i in range(300):
        (project / f"r{i}.txt").write_text(f"-r r{i + 1}.txt\n")
    (project / "r300.txt").write_text("good\n")
    write_wheel(project / "wheels", "good", "1.0")
    result = cli("verify", "-r", "r0.txt", *TARGET)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("verify", "-r", "missing.txt", *TARGET), "error: missing.txt: file not found"),
        (("verify", "-c", "missing.txt", "good", *TARGET), "error: missing.txt: file not found"),
        (("--config", "missing.toml", "verify", "good"), "error: configuration file missing.toml does not exist"),
        (("list", "--wheels", "nowhere"), "error: the wheels folder nowhere does not exist"),
        (("check", "--wheels", "nowhere"), "error: the wheels folder nowhere does not exist"),
        (("prune", "--wheels", "nowhere", "-y", "good"), "error: the wheels folder nowhere does not exist"),
        (("verify", "--wheels", "afile", "good", *TARGET), "error: afile is not a directory"),
        (("download", "--wheels", "afile", "--index-url", "http://127.0.0.1:9/simple", "good"), "Not a directory"),
    ],
)
def test_missing_or_wrong_paths_are_one_clear_error(
    cli: Cli, project: Path, args: tuple[str, ...], message: str
) -> None:
    (project / "afile").write_text("not a folder\n")
    result = cli(*args)
    assert result.exit_code in (1, 2)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert message in errors[0]
    assert "Traceback" not in result.output


# -- the file system: read-only, unreadable, full ----------------------------------------------------------------


def _inside(path: Any, root: str) -> bool:
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        return False  # a file descriptor
    full = os.path.abspath(text)
    return full == root or full.startswith(root + os.sep)


def _write_mode(mode: str) -> bool:
    return any(c in mode for c in "wax+")


class ReadOnly:
    """Every write under ``root`` fails with EROFS, as on a read-only mount (``docker run -v wheels:/w:ro``).

    Reads are untouched. Installed over ``open``, ``os.open`` and the ``os`` calls that change a directory, so
    the code under test meets the error where a real mount would raise it.
    """

    def __init__(self, root: Path) -> None:
        self.root = os.path.abspath(root)
        # Its own patcher: undoing it must not undo the fixtures' working directory and environment.
        self.patch = monkeypatch = pytest.MonkeyPatch()
        real_open = builtins.open

        def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> IO[Any]:
            if _write_mode(mode) and _inside(file, self.root):
                raise self._error(file)
            return real_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", guarded_open)
        monkeypatch.setattr(io, "open", guarded_open)
        real_os_open = os.open
        writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

        def guarded_os_open(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
            if flags & writing and _inside(path, self.root):
                raise self._error(path)
            return real_os_open(path, flags, mode, dir_fd=dir_fd)

        monkeypatch.setattr(os, "open", guarded_os_open)
        for name in ("mkdir", "replace", "rename", "unlink", "remove", "rmdir", "utime", "chmod", "link", "symlink"):
            monkeypatch.setattr(os, name, self._guard(getattr(os, name)))

    def undo(self) -> None:
        """Make the folder writable again."""
        self.patch.undo()

    def __enter__(self) -> ReadOnly:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.undo()

    def _error(self, path: Any) -> OSError:
        return OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(os.fspath(path)))

    def _guard(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            for arg in args[:2]:
                if isinstance(arg, (str, bytes, os.PathLike)) and _inside(arg, self.root):
                    raise self._error(arg)
            return real(*args, **kwargs)

        return guarded


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def filled(cli: Cli, index_server: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch) -> IndexServer:
    """alpha already downloaded; beta and gamma on the index and in the requirements, not yet fetched."""
    monkeypatch.setenv("WHEELHOUSE_BACKOFF", "0")
    publish(index_server)
    (project / "requirements.txt").write_text("alpha\n")
    assert cli("download", "--index-url", index_server.index_url, *TARGET).exit_code == 0
    (project / "requirements.txt").write_text("alpha\nbeta\ngamma\n")
    index_server.requests.clear()
    return index_server


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("download",), 1, "error: cannot lock the wheels folder wheels: Read-only file system"),
        (("prune", "--yes"), 1, "error: cannot lock the wheels folder wheels: Read-only file system"),
        (("check", "--fix"), 0, None),
        (("verify",), 3, None),
        (("list",), 0, None),
        (("check",), 0, None),
        (("download", "--dry-run"), 0, None),
    ],
)
def test_a_read_only_folder_is_read_and_never_half_written(
    cli: Cli,
    filled: IndexServer,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    code: int,
    message: str | None,
) -> None:
    wheels = project / "wheels"
    before = snapshot(wheels)
    extra = ("--index-url", filled.index_url) if args[0] == "download" else ()
    with ReadOnly(wheels):
        result = cli(*args, *TARGET, *extra) if args[0] not in ("list", "check") else cli(*args)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    if message is None:
        assert errors == []
    else:
        assert len(errors) == 1, result.stderr
        assert message in errors[0]
    if args == ("download",):
        # It stopped before asking the index anything.
        assert filled.requests.snapshot() == []
        assert "hint: make wheels writable" in result.stderr
    assert snapshot(wheels) == before


def test_a_read_only_folder_without_metadata_directory(
    cli: Cli, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_wheel(project / "wheels", "alpha", "1.0")
    with ReadOnly(project / "wheels"):
        result = cli("download", "--index-url", "http://127.0.0.1:9/simple", *TARGET, "alpha")
        verify = cli("verify", *TARGET, "alpha")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: cannot create wheels/.wheelhouse: Read-only file system",
        "hint: make wheels writable (or pass --wheels DIR)",
    ]
    assert verify.exit_code == 0, verify.output
    assert sorted(p.name for p in (project / "wheels").iterdir()) == ["alpha-1.0-py3-none-any.whl"]


def test_repairing_a_read_only_folder_is_one_error(cli: Cli, project: Path) -> None:
    write_wheel(project / "wheels", "alpha", "1.0")
    (project / "wheels" / "broken-1.0-py3-none-any.whl").write_bytes(b"junk")
    before = snapshot(project / "wheels")
    with ReadOnly(project / "wheels"):
        result = cli("check", "--fix")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: cannot create wheels/.wheelhouse: Read-only file system",
        "hint: make wheels writable (or pass --wheels DIR)",
    ]
    assert snapshot(project / "wheels") == before


def test_an_unreadable_folder_is_one_error(cli: Cli, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_wheel(project / "wheels", "alpha", "1.0")
    root = os.path.abspath(project / "wheels")
    real_scandir, real_listdir = os.scandir, os.listdir

    def denied(real: Callable[..., Any]) -> Callable[..., Any]:
        def call(path: Any = ".") -> Any:
            if _inside(path, root):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(os.fspath(path)))
            return real(path)

        return call

    monkeypatch.setattr(os, "scandir", denied(real_scandir))
    monkeypatch.setattr(os, "listdir", denied(real_listdir))
    for args in (("verify", *TARGET, "alpha"), ("list",), ("check",)):
        result = cli(*args)
        assert result.exit_code == 1, result.output
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert errors == ["error: cannot read the wheels folder wheels: Permission denied"], result.stderr
        assert "Traceback" not in result.output


def test_an_unreadable_wheel_is_a_problem_not_a_crash(cli: Cli, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_wheel(project / "wheels", "alpha", "1.0")
    locked = write_wheel(project / "wheels", "beta", "1.0")
    real_open = builtins.open

    def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> IO[Any]:
        if isinstance(file, (str, os.PathLike)) and os.path.abspath(file) == str(locked):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(io, "open", guarded_open)
    result = cli("verify", *TARGET, "alpha")
    assert result.exit_code == 0, result.output
    (line,) = lines_naming(result.stderr, locked.name)
    assert line.startswith("warning: ")
    assert "Permission denied" in line


class FullDisk:
    """Writes to chosen files under ``root`` draw on a budget of free bytes; past it they fail with ENOSPC.

    A write that does not fit writes what fits and then raises, as a real full disk does, so the code under test
    has a genuinely partial file to clean up. ``which`` picks the files (by path) that draw on the budget.
    """

    def __init__(self, root: Path, free: int, which: Callable[[str], bool] = lambda p: True) -> None:
        self.root = os.path.abspath(root)
        self.patch = monkeypatch = pytest.MonkeyPatch()
        self.free = free
        self.failures = 0
        self._lock = threading.Lock()
        real_open = builtins.open

        def budgeted_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            handle = real_open(file, mode, *args, **kwargs)
            if _write_mode(mode) and _inside(file, self.root) and which(os.fspath(file)):
                return _Budgeted(handle, self)
            return handle

        monkeypatch.setattr(builtins, "open", budgeted_open)
        monkeypatch.setattr(io, "open", budgeted_open)

    def undo(self) -> None:
        """Free space again."""
        self.patch.undo()

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.undo()

    def take(self, handle: IO[bytes], data: bytes) -> int:
        with self._lock:
            fits = min(self.free, len(data))
            self.free -= fits
        if fits:
            handle.write(data[:fits])
        if fits < len(data):
            with self._lock:
                self.failures += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return fits


class _Budgeted:
    def __init__(self, handle: IO[bytes], disk: FullDisk) -> None:
        self._handle = handle
        self._disk = disk

    def write(self, data: bytes) -> int:
        return self._disk.take(self._handle, bytes(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> _Budgeted:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._handle.close()


def is_download(path: str) -> bool:
    return f"{META_DIR}/tmp/" in path


def is_manifest(path: str) -> bool:
    return "manifest.json" in os.path.basename(path)


def test_a_full_disk_fails_each_download_cleanly(
    cli: Cli, filled: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheels = project / "wheels"
    before = snapshot(wheels)
    with FullDisk(wheels, free=0, which=is_download) as disk:
        result = cli("download", "--index-url", filled.index_url, *TARGET)
    assert result.exit_code == 1
    assert disk.failures >= 2
    for name in ("beta-1.0-py3-none-any.whl", "gamma-1.0-py3-none-any.whl"):
        (line,) = lines_naming(result.stderr, name)
        assert line.startswith("error: ")
        assert "No space left on device" in line
    assert "Traceback" not in result.output
    # Nothing partial is left and nothing that was there changed.
    assert snapshot(wheels) == before
    assert_sound_folder(wheels, filled)


def test_a_disk_that_fills_up_midway_leaves_only_whole_files(
    cli: Cli, filled: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheels = project / "wheels"
    # Room for about one and a half of the two wheels still to come (64 kB each), manifest writes included.
    with FullDisk(wheels, free=100 * 1024):
        result = cli("download", "--index-url", filled.index_url, *TARGET, "--jobs", "1")
    assert result.exit_code == 1
    assert "No space left on device" in result.stderr
    assert "Traceback" not in result.output
    present = assert_sound_folder(wheels, filled)
    assert "alpha-1.0-py3-none-any.whl" in present
    # With space again, the next run fetches what is missing and nothing else.
    filled.requests.clear()
    again = cli("download", "--index-url", filled.index_url, *TARGET)
    assert again.exit_code == 0, again.output
    assert sorted(file_gets(filled)) == sorted(f"/files/{n}" for n in PROJECT_WHEELS if n not in present)
    assert assert_sound_folder(wheels, filled) == PROJECT_WHEELS


PROJECT_WHEELS = ["alpha-1.0-py3-none-any.whl", "beta-1.0-py3-none-any.whl", "gamma-1.0-py3-none-any.whl"]


def test_a_full_disk_while_writing_the_manifest_keeps_the_old_one(
    cli: Cli, filled: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheels = project / "wheels"
    manifest = Store(wheels).manifest_path
    old = manifest.read_bytes()
    with FullDisk(wheels, free=0, which=is_manifest):
        result = cli("download", "--index-url", filled.index_url, *TARGET)
    assert result.exit_code == 1
    for name in ("beta-1.0-py3-none-any.whl", "gamma-1.0-py3-none-any.whl"):
        (line,) = lines_naming(result.stderr, f"error: {name}")
        assert f"{name} is in the folder, but its record was not saved" in line
        assert "manifest.json: No space left on device" in line
    assert "Traceback" not in result.output
    # The manifest is the old one, whole; the new wheels are complete and verified.
    assert manifest.read_bytes() == old
    assert assert_sound_folder(wheels, filled) == PROJECT_WHEELS
    # With space again, the records are added without downloading anything.
    filled.requests.clear()
    again = cli("download", "--index-url", filled.index_url, *TARGET)
    assert again.exit_code == 0, again.output
    assert file_gets(filled) == []
    assert sorted(Store(wheels).records()) == PROJECT_WHEELS


def test_a_full_disk_does_not_stop_reading_commands(
    cli: Cli, filled: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheels = project / "wheels"
    write_wheel(wheels, "beta", "1.0")
    write_wheel(wheels, "gamma", "1.0")
    before = snapshot(wheels)
    # verify would refresh its metadata cache for the two new wheels: it cannot, and need not.
    with FullDisk(wheels, free=0):
        result = cli("verify", *TARGET)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert snapshot(wheels) == before


# -- credentials and exposure ------------------------------------------------------------------------------------

SECRET = "s3cret-Tok3n"


def test_credentials_never_reach_output_logs_or_the_folder(
    cli: Cli, filled: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_url = filled.index_url.replace("http://", f"http://alice:{SECRET}@")
    token_url = filled.index_url.replace("http://", f"http://{SECRET}@")
    (project / "requirements.txt").write_text(f"--extra-index-url {token_url}\nalpha\nbeta\ngamma\nmissing-project\n")
    filled.inject("/files/gamma-1.0-py3-none-any.whl", Fault.error(503, retry_after=0), times=None)
    outputs = []
    for args in (
        ("-vv", "download", "--index-url", secret_url, *TARGET, "--retries", "1"),
        ("download", "--json", "--index-url", secret_url, *TARGET, "--retries", "1"),
        ("download", "--dry-run", "--json", "--index-url", secret_url, *TARGET),
        ("-v", "config", "--index-url", secret_url),
        ("config", "--json", "--index-url", secret_url, "--extra-index-url", token_url),
        ("list", "--json"),
        ("show", "beta"),
        ("check", "--json"),
    ):
        result = cli(*args)
        assert "Traceback" not in result.output, args
        outputs.append(result.output)
    assert SECRET not in "\n".join(outputs)
    assert "alice:****@" in "\n".join(outputs)
    # The index did receive them, as HTTP basic auth.
    assert any((r.header("Authorization") or "").startswith("Basic ") for r in filled.requests.snapshot())
    for path in (project / "wheels").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_rendered_dockerfiles_and_build_logs_carry_no_credentials(
    cli: Cli, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_docker import FakeDocker, make_app_project

    docker = FakeDocker(tmp_path / "fakebin", monkeypatch)
    make_app_project(project)
    (project / "wheelhouse.toml").write_text(
        f'index-url = "https://alice:{SECRET}@pypi.example.org/simple"\n'
        f'extra-index-urls = ["https://{SECRET}@extra.example.org/simple"]\n'
    )
    target = ("--target", "linux/amd64", "--python", "3.11")
    render = cli("-v", "render", *target)
    assert render.exit_code == 0, render.output
    build = cli("-v", "build", "--wheels", *target)
    assert build.exit_code == 0, build.output
    assert SECRET not in render.output + build.output
    for path in project.iterdir():
        if path.is_file() and path.name.startswith(("Dockerfile", "docker-compose", ".dockerignore")):
            assert SECRET not in path.read_text(), path
    # docker gets them as BuildKit secrets (files named by path), never on its command line.
    (argv,) = docker.builds()
    assert not any(SECRET in arg for arg in argv)
    secrets = docker.calls()[-1]["secrets"]
    assert isinstance(secrets, dict)
    assert sorted(secrets) == ["pip_extra_index_url", "pip_index_url"]


def test_serve_listens_on_loopback_only_by_default(project: Path) -> None:
    write_wheel(project / "wheels", "alpha", "1.0")
    proc = subprocess.Popen(
        [wheelhouse_exe(), "serve", "--port", "0", "--json"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        host_port = info["url"].removeprefix("http://")
        host, port = host_port.rsplit(":", 1)
        assert host == "127.0.0.1"
        tcp = Path("/proc/net/tcp")
        if tcp.exists():
            # The listening socket's local address, as the kernel has it: 127.0.0.1, not 0.0.0.0.
            listening = [
                line.split()[1]
                for line in tcp.read_text().splitlines()[1:]
                if line.split()[3] == "0A" and line.split()[1].endswith(f":{int(port):04X}")
            ]
            assert listening == [f"0100007F:{int(port):04X}"]
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in out + err


def test_peak_memory_wrapper_measures_a_real_process(tmp_path: Path) -> None:
    # The bound above means something only if the measurement sees a large allocation when there is one.
    (tmp_path / "cwd").mkdir()
    env = {**os.environ, "MAXRSS_FILE": str(tmp_path / "rss")}
    subprocess.run(
        [
            sys.executable,
            "-c",
            _MEASURE,
            sys.executable,
            "-c",
            "b = bytearray(300 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])",
        ],
        cwd=tmp_path / "cwd",
        env=env,
        check=True,
        timeout=60,
    )
    assert int((tmp_path / "rss").read_text()) > MEMORY_BOUND_KB


def test_a_requirement_marker_that_cannot_be_evaluated_stops_a_download_in_one_line(
    cli: Cli, index_server: IndexServer, project: Path
) -> None:
    publish(index_server, ("alpha",))
    (project / "requirements.txt").write_text('alpha ; platform_release ~= "x.y"\n')
    result = cli("download", "--index-url", index_server.index_url, *TARGET)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert line.startswith("error: requirements.txt:1: its marker cannot be evaluated for the target ")
    assert "(~= cannot compare '' with 'x.y')" in line
    assert not list((project / "wheels").glob("*.whl"))


def test_a_dependency_marker_that_cannot_be_evaluated_is_ignored_with_a_warning(cli: Cli, project: Path) -> None:
    # A wheel's metadata is the index's input, not the user's: its one unreadable line is set aside, as an
    # unparseable Requires-Dist is.
    wheels = project / "wheels"
    write_wheel(wheels, "alpha", "1.0", requires_dist=['beta ; python_version ~= "abc"', "gamma"])
    write_wheel(wheels, "gamma", "1.0")
    (project / "requirements.txt").write_text("alpha\n")
    result = cli("verify", *TARGET)
    assert result.exit_code == 0, result.output
    assert "covered, 2 pinned" in result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: alpha-1.0-py3-none-any.whl: ignoring Requires-Dist 'beta ; python_version ~= \"abc\"': its marker "
        "cannot be evaluated (~= cannot compare '3.12' with 'abc')"
    ]
    result = cli("sbom", "-o", "bom.json", *TARGET)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


def test_a_huge_unreadable_dependency_line_is_quoted_short(cli: Cli, project: Path) -> None:
    wheels = project / "wheels"
    write_wheel(wheels, "alpha", "1.0", requires_dist=["beta" + " ((" * 50_000, "gamma @ https://example.org/g.whl"])
    (project / "requirements.txt").write_text("alpha\n")
    result = cli("verify", *TARGET)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("warning: alpha-1.0-py3-none-any.whl: ignoring invalid Requires-Dist 'beta ((")
    assert "ignoring direct-reference dependency 'gamma @ https://example.org/g.whl'" in warnings[1]
    assert all(len(line) < 300 for line in warnings)
