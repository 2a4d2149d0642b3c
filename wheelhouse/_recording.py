"""What a command run read, probed and wrote: the facts a proof-cache entry (:mod:`wheelhouse.store.proofs`) is
stored with, observed rather than listed by hand.

While a :class:`Recording` is active it keeps:

* every file opened (an audit hook on ``open``), with its identity at that moment, split into reads and writes;
* every ``os.stat``/``os.lstat`` (what pathlib's ``exists``/``is_file``, ``os.path`` and ``realpath`` call), with
  what it found: the configuration file searched for upwards, the default inputs looked for, a path tried;
* every folder listed (``os.listdir``/``os.scandir``);
* every environment variable read through ``os.environ`` (``get``, ``[]``, ``in``, ``os.getenv``: wheelhouse's
  settings, rich's and click's terminal variables, ``sysconfig``'s), or all of them when the run went through the
  whole table (a copy, a loop);
* every event that reaches outside the machine's files (a socket, a subprocess): such a run is not cached;
* every byte written to ``sys.stdout`` and ``sys.stderr``, in order, passed through as it is written, through
  streams that answer ``isatty``, ``fileno`` and ``encoding`` as the real ones do (so the output is the same);
  an elapsed time the command prints (:func:`elapsed`) is kept as a slot, so that a replay prints its own.

The command itself says which folder it proved (:func:`note_folder`) or that its answer must not be kept
(:func:`forbid`). Only the console script starts a recording (:mod:`wheelhouse._entry`); elsewhere these
calls do nothing. Standard library only, as the fast path that imports it.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from _thread import get_ident

from wheelhouse.store.proofs import ELAPSED, elapsed_spec, probe, stat_key

TYPE_CHECKING = False  # typing's import is not paid for on the fast path; type checkers read it as True
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from typing import Any

_ACTIVE: Recording | None = None
_HOOKED = False
_REAL_STAT = os.stat
_REAL_LSTAT = os.lstat
# Events after which a run's answer depends on more than files: never cached.
_OUTSIDE = frozenset(
    {
        "socket.connect",
        "socket.getaddrinfo",
        "socket.bind",
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.fork",
        "os.forkpty",
        "urllib.Request",
        "ctypes.dlopen",
    }
)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# Brackets an elapsed time in the recorded streams: ``MARK spec MARK text MARK``. A control character that no
# output of wheelhouse carries (user text is printed with control characters escaped), and of no width to rich.
_MARK = "\x1f"
_BMARK = _MARK.encode()


def elapsed(seconds: float, spec: str) -> str:
    """``seconds`` formatted by ``spec`` (``.Nf``), for output. During a recording the text carries marks that the
    recorded streams take out again, keeping the place as a slot: an answer replayed from the proof cache prints
    the time the replay took, not the recorded run's."""
    text = format(seconds, spec)
    if _ACTIVE is None or not _ACTIVE.marks or not elapsed_spec(spec.encode("ascii", "replace")):
        return text
    return f"{_MARK}{spec}{_MARK}{text}{_MARK}"


def note_folder(path: str) -> None:
    """Say that this run proved the wheels folder ``path`` (as given; joined to the working directory here)."""
    if _ACTIVE is not None:
        _ACTIVE.folder = _ACTIVE.absolute(path)


def forbid(reason: str) -> None:
    """Say that this run's answer must not be kept (it depended on something no entry can check)."""
    if _ACTIVE is not None and _ACTIVE.unsafe is None:
        _ACTIVE.give_up(reason)


def names_with_prefix(environ: Mapping[str, str], prefix: str) -> list[str]:
    """The names in ``environ`` that start with ``prefix``, sorted. Looking for them is not a walk through every
    variable when the invocation key already holds each variable of that prefix (``wheelhouse._entry``'s
    ``ENV_PREFIXES``, such as ``PIP_``): a recording then does not make its answer depend on all of them, so that
    a variable nobody reads (a CI job's number, ``OLDPWD``) leaves the answer standing."""
    if _ACTIVE is not None and environ is os.environ:
        from wheelhouse._entry import ENV_PREFIXES

        if prefix.startswith(ENV_PREFIXES):
            environ = _REAL_ENVIRON  # the same table, unwatched
    return sorted(name for name in environ if name.startswith(prefix))


def normalise(cwd: str, path: str) -> str:
    """``path`` made absolute against ``cwd`` and normalised as pathlib normalises it (empty and ``.`` parts
    dropped), ``..`` kept: collapsing it would name another file when the part before it is a link."""
    if not path.startswith(os.sep):
        path = cwd + os.sep + path
    parts = [part for part in path.split(os.sep) if part not in ("", ".")]
    return os.sep + os.sep.join(parts)


class Recording:
    """The facts of one run (see the module docstring). ``cwd`` is the working directory paths are joined to."""

    def __init__(self, cwd: str) -> None:
        self.cwd = cwd
        self.reads: dict[str, str] = {}  # absolute path -> identity (proofs.stat_key) when it was opened
        self.writes: list[str] = []
        self.probes: dict[tuple[str, str], str] = {}  # (how, absolute path) -> what the first look found
        self.listed: list[str] = []
        self.environ: set[str] = set()  # names read
        self.environ_all = False  # the run went through every variable
        self.output: list[tuple[int, bytes]] = []
        self.unsafe: str | None = None
        self.folder: str | None = None
        # Whether an elapsed time can be marked: the streams' encodings write the marks and digits as their ASCII
        # bytes, where the recorded streams look for them (not so in UTF-16, say).
        self.marks = False
        self._streams: tuple[Any, Any] | None = None
        # Threads inside a hook right now: the hook's own stat is not the run's. Per thread, so that another
        # thread's open is never missed while one is being recorded.
        self._busy: set[int] = set()

    def absolute(self, path: str) -> str:
        return normalise(self.cwd, path)

    # -- starting and stopping -------------------------------------------------------------------------------
    def start(self) -> None:
        """Begin recording this process (one recording at a time)."""
        global _ACTIVE, _HOOKED
        if not _HOOKED:
            # An audit hook cannot be removed; it does nothing once no recording is active.
            sys.addaudithook(_hook)
            _HOOKED = True
        stdout, stderr = sys.stdout, sys.stderr
        self._streams = (stdout, stderr)
        self.marks = all(_ascii_bytes(getattr(stream, "encoding", None)) for stream in (stdout, stderr))
        sys.stdout = _tee(stdout, 1, self.output)
        sys.stderr = _tee(stderr, 2, self.output)
        os.stat = _stat
        os.lstat = _lstat
        real = _REAL_ENVIRON
        # The same table of variables (one dict, so a change through either is seen by both), each read noted.
        table = real._data  # type: ignore[attr-defined]
        watched = _WatchedEnviron(table, real.encodekey, real.decodekey, real.encodevalue, real.decodevalue)
        os.environ = watched  # noqa: B003 - the same variables, not a new environment
        _ACTIVE = self

    def give_up(self, reason: str) -> None:
        """This run will not be kept (``reason``): stop watching what it reads. The streams stay recorded until
        :meth:`stop`, since another thread may be writing to them."""
        if self.unsafe is None:
            self.unsafe = reason
        _unwatch()

    def stop(self) -> None:
        """Stop recording: the real ``os.stat`` and streams are back, everything written is flushed through."""
        global _ACTIVE
        _ACTIVE = None
        _unwatch()
        if self._streams is None:
            return
        for tee in (sys.stdout, sys.stderr):
            try:
                tee.flush()
                raw = getattr(tee, "buffer", None)
                if isinstance(raw, _Tee):
                    raw.release()
            except (OSError, ValueError):
                self.unsafe = self.unsafe or "the output could not be written"
        sys.stdout, sys.stderr = self._streams
        self._streams = None
        merged: list[tuple[int, bytes]] = []
        for stream, data in self.output:
            if merged and merged[-1][0] == stream and stream <= ELAPSED:
                merged[-1] = (stream, merged[-1][1] + data)
            elif data:
                merged.append((stream, data))
        self.output[:] = merged

    # -- what the hooks see ----------------------------------------------------------------------------------
    def _opened(self, path: object, mode: object, flags: object) -> None:
        if isinstance(path, int) or path is None:
            return  # a descriptor already opened (and seen) by path, or a standard stream
        text = _text(path)
        if text is None:
            return
        absolute = self.absolute(text)
        if isinstance(mode, str):
            writes = any(c in mode for c in "wax+")
        else:
            writes = isinstance(flags, int) and bool(flags & _WRITE_FLAGS)
        if writes:
            self.writes.append(absolute)
        elif absolute not in self.reads:
            seen = stat_key(absolute)
            if seen == "-" or seen.startswith(f"{stat.S_IFDIR}:"):
                # A file tried and missing (the open fails), or a folder opened for its descriptor: what the run
                # learnt is that it is absent, or a folder.
                self.probes.setdefault(("stat", absolute), probe("stat", absolute))
            else:
                self.reads[absolute] = seen

    def _probed(self, how: str, path: object, found: str) -> None:
        text = _text(path)
        if text is not None:
            self.probes.setdefault((how, self.absolute(text)), found)


def _ascii_bytes(encoding: str | None) -> bool:
    """Whether ``encoding`` writes a mark, a format and a time as their ASCII bytes."""
    sample = f"{_MARK}.0123456789f"
    try:
        return encoding is not None and sample.encode(encoding) == sample.encode("ascii")
    except (LookupError, ValueError):
        return False


def _unwatch() -> None:
    """The real ``os.stat``, ``os.lstat`` and ``os.environ`` back (the same table of variables)."""
    os.stat = _REAL_STAT
    os.lstat = _REAL_LSTAT
    os.environ = _REAL_ENVIRON  # noqa: B003 - the table it watched, back


def _text(path: object) -> str | None:
    try:
        value = os.fspath(path)  # type: ignore[call-overload]
    except TypeError:
        return None
    return os.fsdecode(value) if isinstance(value, bytes) else value


def _hook(event: str, args: tuple[object, ...]) -> None:
    recording = _ACTIVE
    # A run that will not be kept need not be watched further: a download streams files past this hook.
    if recording is None or recording.unsafe is not None:
        return
    thread = get_ident()
    if thread in recording._busy:
        return
    recording._busy.add(thread)  # the hook's own stat must not be recorded
    try:
        if event == "open":
            recording._opened(args[0], args[1] if len(args) > 1 else None, args[2] if len(args) > 2 else None)
        elif event in ("os.listdir", "os.scandir"):
            text = _text(args[0] if args and args[0] is not None else ".")
            if text is not None:
                recording.listed.append(recording.absolute(text))
        elif event in _OUTSIDE:
            recording.give_up(f"the run used {event}")
    except Exception:  # an audit hook that raises breaks the call it watches; this one only loses the entry
        recording.give_up("the recording failed")
    finally:
        recording._busy.discard(thread)


def _watched(real: Callable[..., os.stat_result], how: str) -> Callable[..., os.stat_result]:
    def watched(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        recording = _ACTIVE
        if (
            recording is None
            or recording.unsafe is not None
            or get_ident() in recording._busy
            or args
            or kwargs.get("dir_fd") is not None
        ):
            return real(path, *args, **kwargs)
        kind = "lstat" if how == "lstat" or kwargs.get("follow_symlinks") is False else "stat"
        try:
            result = real(path, *args, **kwargs)
        except FileNotFoundError:
            recording._probed(kind, path, "missing")
            raise
        except OSError as exc:
            recording._probed(kind, path, f"error:{exc.errno}")
            raise
        recording._probed(kind, path, _found(result, path))
        return result

    return watched


def _found(result: os.stat_result, path: Any) -> str:
    """:func:`wheelhouse.store.proofs.probe`'s words for a stat result."""
    mode = result.st_mode
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return f"file:{result.st_size}"
    if stat.S_ISLNK(mode):
        try:
            return "link:" + os.fsdecode(os.readlink(path))
        except (OSError, TypeError) as exc:
            return f"error:{getattr(exc, 'errno', None)}"
    return f"other:{stat.S_IFMT(mode)}"


_stat = _watched(_REAL_STAT, "stat")
_lstat = _watched(_REAL_LSTAT, "lstat")
_REAL_ENVIRON = os.environ


class _WatchedEnviron(os._Environ[str]):
    """``os.environ`` during a recording: reads of one variable (``get``, ``[]``, ``in``) note its name, a walk
    through the table (iteration, ``copy``, ``items``) notes that the run saw them all."""

    def __getitem__(self, key: str) -> str:
        recording = _ACTIVE
        if recording is not None and get_ident() not in recording._busy:
            recording.environ.add(key)
        return super().__getitem__(key)

    def __iter__(self) -> Iterator[str]:
        recording = _ACTIVE
        if recording is not None and get_ident() not in recording._busy:
            recording.environ_all = True
        return super().__iter__()


class _Tee(io.RawIOBase):
    """A raw stream that writes to a real stream's buffer and keeps a copy of each write."""

    def __init__(self, target: Any, number: int, sink: list[tuple[int, bytes]]) -> None:
        super().__init__()
        self._target = target
        self._number = number
        self._sink = sink
        self._held = b""  # the start of a marked time whose end a later write brings

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        if self._held or _BMARK in chunk:
            self._marked(self._held + chunk)
        else:
            self._plain(chunk)
        return len(chunk)

    def _plain(self, chunk: bytes) -> None:
        if chunk:
            self._target.write(chunk)
            self._sink.append((self._number, chunk))

    def _marked(self, data: bytes) -> None:
        """Pass ``data`` through without its marks; keep each marked time as a slot (see :func:`elapsed`)."""
        parts = data.split(_BMARK)
        self._held = b""
        self._plain(parts[0])
        at = 1
        while at + 2 < len(parts):
            spec, text, after = parts[at : at + 3]
            if elapsed_spec(spec):
                self._target.write(text)
                self._sink.append((ELAPSED + self._number, spec))
            else:
                self._plain(_BMARK + spec + _BMARK + text + _BMARK)
            self._plain(after)
            at += 3
        if at < len(parts):
            self._held = _BMARK + _BMARK.join(parts[at:])

    def flush(self) -> None:
        self._target.flush()

    def release(self) -> None:
        """Pass through, as written, a marked start whose end never came."""
        held, self._held = self._held, b""
        self._plain(held)

    def isatty(self) -> bool:
        return bool(self._target.isatty())

    def fileno(self) -> int:
        return int(self._target.fileno())


def _tee(stream: Any, number: int, sink: list[tuple[int, bytes]]) -> Any:
    """A text stream like ``stream`` (encoding, errors, buffering, terminal or not) that also records."""
    wrapper = io.TextIOWrapper(
        _Tee(stream.buffer, number, sink),  # type: ignore[type-var]
        encoding=stream.encoding,
        errors=stream.errors,
        line_buffering=stream.line_buffering,
        # Every write reaches the real stream's buffer at once, so the copy keeps stdout's and stderr's order.
        write_through=True,
    )
    return wrapper
