"""The console script ``wheelhouse`` (and ``python -m wheelhouse``): a ``verify`` or a ``download`` whose inputs
have not changed is answered from the proof cache (:mod:`wheelhouse.store.proofs`) before anything else is
imported; every other command line goes to :func:`wheelhouse.cli.run`.

The cache is looked up only for ``wheelhouse verify ...`` over the folder (not ``--index-url``/``--against``)
and for ``wheelhouse download ...`` (not ``--no-cache``, ``--help`` or ``WHEELHOUSE_NO_PROOF_CACHE=1``). A
download's answer is kept only when the run needed nothing but the folder's files: it made no request (a socket
is an event the recording refuses) and changed no file. Its key (:func:`invocation_key`) covers
what the answer depends on before any file is read: wheelhouse's version, the Python running it (executable,
version, flags, import path), the host (uname, libc), the working directory, the whole command line, the
environment variables wheelhouse and its output read, and the terminal (which streams are terminals, their
size and encodings). The entry found under it must then vouch for the folder's state and for every file, probe,
listing, module and ``${VAR}`` the recorded run depended on (:meth:`wheelhouse.store.proofs.Proof.stale`).
A miss runs the command in full under a :class:`wheelhouse._recording.Recording` and stores what it answered
(exit status 0 or 3 only) with what it depended on. A replay writes the stored output, with the time it took
itself wherever the run printed its elapsed time.

This module and what it imports on a hit are standard library only: no click, rich, packaging or resolvelib.
"""

from __future__ import annotations

import os
import stat
import sys
import time

from wheelhouse import __version__
from wheelhouse.store import proofs

# When this answer began, for the elapsed time a replay prints (the interpreter's start is not part of it, as it
# is not of the time a full run prints).
_STARTED = time.perf_counter()

TYPE_CHECKING = False  # typing's import is not paid for on the fast path; type checkers read it as True
if TYPE_CHECKING:
    from typing import NoReturn

    from wheelhouse._recording import Recording

NO_CACHE_ENV = "WHEELHOUSE_NO_PROOF_CACHE"
# Part of every key: a change in what the key or an entry means starts a new cache.
KEY_FORMAT = "2"
# Environment variables that change what verify answers or how its output looks: wheelhouse's own, pip's
# (read by the settings of some commands), locale and Python's, rich's and click's terminal variables, the
# shell completion of click. ``${VAR}`` references inside the input files are checked by each entry.
ENV_PREFIXES = ("WHEELHOUSE", "_WHEELHOUSE", "PIP_", "UV_", "LC_", "PYTHON")
ENV_NAMES = frozenset(
    {
        "CI",
        "CLICOLOR",
        "CLICOLOR_FORCE",
        "COLORTERM",
        "COLUMNS",
        "COMP_CWORD",
        "COMP_WORDS",
        "DATABRICKS_RUNTIME_VERSION",
        "FORCE_COLOR",
        "HOME",
        "JUPYTER_COLUMNS",
        "JUPYTER_LINES",
        "LANG",
        "LANGUAGE",
        "LESS",
        "LINES",
        "NO_COLOR",
        "PAGER",
        "SOURCE_DATE_EPOCH",
        "TERM",
        "TERM_PROGRAM",
        "TTY_COMPATIBLE",
        "TTY_INTERACTIVE",
        "TZ",
        "UNICODE_VERSION",
        "XDG_CONFIG_HOME",
    }
)
# The commands the cache may answer, each with the options after which the answer depends on more than the
# folder and the files, or that do not answer at all. A download's index is not among them: an answer that
# needed the index is never kept (it opened a socket).
# What of .wheelhouse/ the folder's state stands for (see Plan._covered).
_STATE_PARTS = frozenset({"manifest.json", "manifest.seal", "lock", "tmp", "sdists", proofs.PROOFS_DIR})
_BYPASS = {
    "verify": ("--no-cache", "--index-url", "--against", "--help", "-h", "--version"),
    "download": ("--no-cache", "--help", "-h", "--version"),
}


def run() -> NoReturn:
    """The console script: answer from the cache when it can, else the full command (recorded when it may be
    kept)."""
    recording: Recording | None = None
    try:
        plan = Plan.of(sys.argv[1:])
        if plan is not None:
            plan.answer_if_known()  # exits on a hit
    except KeyboardInterrupt:
        _say("error: interrupted")  # what cli.main says for it
        os._exit(130)
    except Exception:
        plan = None  # a cache that cannot be read is no reason to fail: prove it instead, uncached
    if plan is not None and plan.state is not None:
        from wheelhouse._recording import Recording

        # The user's key was read (or made, the first time ever) by invocation_key, before the recording, which
        # would take its writing for a write outside the folder and keep nothing.
        recording = Recording(plan.cwd)
        recording.start()
    from wheelhouse.cli import run as run_cli

    if plan is None or recording is None:
        run_cli()
    kept = recording
    run_cli(finish=lambda code: plan.keep(kept, code))


class Plan:
    """An invocation the cache may answer: its key, its folder (absolute) and the folder's state; ``locks`` when
    the command takes the folder's lock (a download), which a replay must then be able to take as well."""

    def __init__(self, key: str, wheels: str, cwd: str, verbose: int, *, locks: bool = False) -> None:
        self.key = key
        self.wheels = wheels
        self.cwd = cwd
        self.verbose = verbose
        self.locks = locks
        self.state: str | None = None

    @classmethod
    def of(cls, argv: list[str]) -> Plan | None:
        """The plan for this command line, or None when the cache must not be used for it."""
        bypass = _BYPASS.get(argv[0]) if argv else None
        if bypass is None or os.environ.get(NO_CACHE_ENV, "") not in ("", "0"):
            return None
        words = argv[1 : argv.index("--")] if "--" in argv else argv[1:]
        if any(word == flag or word.startswith(flag + "=") for word in words for flag in bypass):
            return None
        if sys.stdout is None or sys.stderr is None or not hasattr(sys.stdout, "buffer"):
            return None
        try:
            cwd = os.getcwd()
        except OSError:
            return None
        wheels = wheels_folder(words, cwd)
        if wheels is None:
            return None
        return cls(invocation_key(argv, cwd), wheels, cwd, _verbosity(words), locks=argv[0] == "download")

    def answer_if_known(self) -> None:
        """Replay the stored answer and exit when the entry for this invocation still holds; else return,
        leaving :attr:`state` (the folder's state before the run; None when there is no cache for it)."""
        self.state = proofs.folder_state(self.wheels)
        if self.state is None:
            return
        proof = proofs.read_proof(self.wheels, self.key)
        reason = "no entry" if proof is None else proof.stale(self.key, self.wheels, self.state)
        if reason is None and self.locks:
            reason = _lock_refusal(os.path.join(self.wheels, proofs.META_DIR))
        if proof is None or reason is not None:
            if self.verbose >= 2:
                _say(f"proof cache: {reason}; proving it")
            return
        if self.verbose:
            where = os.path.join(self.wheels, proofs.META_DIR, proofs.PROOFS_DIR, self.key)
            _say(f"answer from the proof cache ({where}); nothing it depends on changed (--no-cache proves it again)")
        _replay(proof)

    def keep(self, recording: Recording, code: int) -> int:
        """After the full run: store its answer when it may be kept. Returns the exit status unchanged; a
        failure to store is never the command's failure."""
        try:
            recording.stop()
            if code in (0, 3) and recording.unsafe is None and recording.folder == self.wheels:
                proof = self._proof(recording, code)
                if proof is not None:
                    proofs.write_proof(self.wheels, proof)
        except KeyboardInterrupt:
            _say("error: interrupted")
            return 130
        except Exception:
            pass  # a cache that cannot be written is no reason to fail the proof it would have kept
        return code

    def _proof(self, recording: Recording, code: int) -> proofs.Proof | None:
        """The entry for a recorded run, or None when its answer must not be kept."""
        import re

        state = proofs.folder_state(self.wheels)
        if state is None or proofs.files_part(state) != proofs.files_part(self.state):
            return None  # the files changed while the run read them
        if any(not self._covered(path) for path in recording.writes):
            return None  # it wrote outside the folder: not a proof of files alone
        modules = proofs.module_files()
        # What the import system opened is code, vouched for by the modules' rows and the Python's version.
        # ... and the bytecode compiled from it (a file the user names may live in a folder called __pycache__).
        imported = {getattr(module, "__file__", None) for module in list(sys.modules.values())}
        imported |= {getattr(module, "__cached__", None) for module in list(sys.modules.values())}
        files: list[tuple[str, str]] = []
        names: set[str] = set()
        for path, seen in recording.reads.items():
            if self._covered(path) or path in imported or _bytecode(path):
                continue
            if not seen.startswith(f"{stat.S_IFREG}:") or proofs.stat_key(path) != seen:
                return None  # not a regular file (a pipe, a device), or changed while the run read it
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError:
                return None
            files.append((path, proofs.keyed_digest(data)))
            names.update(name.decode() for name in re.findall(rb"\$\{([A-Z0-9_]+)\}", data))
        probes = [(how, path, found) for (how, path), found in recording.probes.items() if not self._covered(path)]
        # The import system lists the folders of sys.path and of packages; the working directory (on sys.path
        # under python -m) stays: a listing of it may be the run's own.
        skipped = {recording.absolute(entry or ".") for entry in sys.path}
        for module in list(sys.modules.values()):
            skipped.update(getattr(module, "__path__", None) or ())
        skipped.discard(self.cwd)
        listings = [
            (directory, proofs.listing_digest(directory))
            for directory in dict.fromkeys(recording.listed)
            if not self._covered(directory) and directory not in skipped
        ]
        # The variables the run read, and those its inputs name; all of them when it went through the table.
        names |= set(os.environ) if recording.environ_all else recording.environ
        env = [(name, proofs.env_digest(os.environ.get(name))) for name in sorted(names)]
        return proofs.Proof(
            self.key,
            self.wheels,
            state,
            code,
            recording.output,
            files=files,
            probes=probes,
            listings=listings,
            modules=modules,
            env=env,
        )

    def _covered(self, path: str) -> bool:
        """Whether the folder's state (:func:`wheelhouse.store.proofs.folder_state`) stands for ``path``: the
        folder, a file at its top level, or the part of wheelhouse's own state that the state reads (the manifest
        and its seal, the kept sdists, the partial files, the lock, the proofs). Anything else in ``.wheelhouse/``
        (the build memo, the logs) is an input like any other file, checked by its content."""
        if path == self.wheels or os.path.dirname(path) == self.wheels:
            return True
        meta = os.path.join(self.wheels, proofs.META_DIR) + os.sep
        if not path.startswith(meta):
            return False
        top = path[len(meta) :].partition(os.sep)[0]
        return top in _STATE_PARTS or top.startswith(proofs.PARTIAL_PREFIX)


def _lock_refusal(meta: str) -> str | None:
    """Why the folder's lock would not be taken at once as a download takes it (another process holds it, the
    folder cannot be written, the lock is a link or not a file), or None: a replay must not answer where the run
    would wait, or fail."""
    import fcntl

    if not os.access(meta, os.W_OK):
        return "the folder cannot be written"
    path = os.path.join(meta, "lock")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None  # nobody holds it; the run would make it
    except OSError:
        return "the folder's lock cannot be opened"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "the folder's lock is not a file"
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return "another process holds the folder's lock"
        return None
    finally:
        os.close(fd)  # which also lets go of the lock


def _replay(proof: proofs.Proof) -> NoReturn:
    """Write the stored output, in its order, and exit with the stored status."""
    status = proof.status
    try:
        for stream, data in proof.output:
            target = sys.stdout if stream in (1, 1 + proofs.ELAPSED) else sys.stderr
            if stream > proofs.ELAPSED:  # where the run printed its elapsed time, this one's
                data = format(time.perf_counter() - _STARTED, data.decode("ascii")).encode("ascii")
            target.flush()
            target.buffer.write(data)
            target.buffer.flush()
    except (OSError, ValueError):
        status = 1  # a reader that went away: what the full run would have answered (cli.main)
    os._exit(status)


def _bytecode(path: str) -> bool:
    """Whether ``path`` is a module's compiled bytecode (``__pycache__/*.pyc``): code, which the modules' rows and
    the Python's version vouch for."""
    return path.endswith(".pyc") and os.path.basename(os.path.dirname(path)) == "__pycache__"


def _say(message: str) -> None:
    sys.stderr.write(_printable(message) + "\n")
    sys.stderr.flush()


def _printable(text: str) -> str:
    """``text`` with control characters escaped, so a folder's name cannot drive the terminal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _verbosity(words: list[str]) -> int:
    count = 0
    for word in words:
        if word == "--verbose":
            count += 1
        elif word.startswith("-") and not word.startswith("--") and set(word[1:]) == {"v"}:
            count += len(word) - 1
    return count


def invocation_key(argv: list[str], cwd: str) -> str:
    """The key of an invocation: a digest of everything its answer may depend on that is known before any of
    wheelhouse's files are read (see the module docstring)."""
    facts = [
        KEY_FORMAT,
        __version__,
        sys.executable,
        proofs.stat_key(sys.executable),
        sys.version,
        repr(sys.flags),
        repr(sorted(sys._xoptions.items())),
        "\0".join(sys.path),
        repr(os.uname()),
        _libc(),
        cwd,
        "\0".join(argv),
    ]
    facts += sorted(
        f"{name}={value}" for name, value in os.environ.items() if name in ENV_NAMES or name.startswith(ENV_PREFIXES)
    )
    for fd in (0, 1, 2):
        tty = os.isatty(fd)
        try:
            size = tuple(os.get_terminal_size(fd)) if tty else ()
        except OSError:
            size = ()
        facts.append(f"{fd}:{tty}:{size}")
    for stream in (sys.stdout, sys.stderr):
        facts.append(f"{stream.encoding}:{stream.errors}:{getattr(stream, 'line_buffering', None)}")
    # Keyed, as the digests inside an entry are: the command line and the variables may carry a credential, and
    # an entry's name lies in the folder. This reads (or makes) the user's key, before any recording starts.
    return proofs.keyed_digest("\n".join(facts).encode("utf-8", "surrogateescape"))


def _libc() -> str:
    try:
        return str(os.confstr("CS_GNU_LIBC_VERSION"))
    except (AttributeError, ValueError, OSError):
        return ""


def wheels_folder(words: list[str], cwd: str) -> str | None:
    """The wheels folder a ``verify`` with these options proves, absolute (see
    :func:`wheelhouse._recording.normalise`): ``--wheels``, else the configuration file's ``wheels``, else
    ``wheels``. None when that cannot be told without the full settings (a configuration file that does not
    parse): the full run then reports it, uncached."""
    from wheelhouse._recording import normalise

    given = None
    for at, word in enumerate(words):
        if word == "--wheels" and at + 1 < len(words):
            given = words[at + 1]
        elif word.startswith("--wheels="):
            given = word[len("--wheels=") :]
    if given is not None:
        return normalise(cwd, given) if given.strip() else None
    configured = _configured(cwd)
    if configured is None:
        return None
    base, value = configured
    return normalise(base, value)


def _configured(cwd: str) -> tuple[str, str] | None:
    """(folder the value is relative to, value) of the ``wheels`` setting, found as
    :func:`wheelhouse.settings.find_config_file` finds the file; None when it cannot be read here."""
    directory = cwd
    while True:
        own = os.path.join(directory, "wheelhouse.toml")
        if os.path.isfile(own):
            table = _toml(own)
            break
        pyproject = os.path.join(directory, "pyproject.toml")
        if os.path.isfile(pyproject):
            data = _toml(pyproject)
            tool = data.get("tool") if data is not None else None
            if not isinstance(tool, dict) or "wheelhouse" not in tool:
                return cwd, "wheels"  # an unreadable pyproject.toml, or one without the table: no configuration
            table = tool["wheelhouse"]
            break
        parent = os.path.dirname(directory)
        if parent == directory:
            return cwd, "wheels"
        directory = parent
    if not isinstance(table, dict):
        return None
    value = table.get("wheels", "wheels")
    if not isinstance(value, str) or not value.strip():
        return None
    return directory, value


def _toml(path: str) -> dict[str, object] | None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

    try:
        with open(path, "rb") as fh:
            data: dict[str, object] = tomllib.load(fh)
            return data
    except (OSError, ValueError):
        return None
