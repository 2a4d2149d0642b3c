"""File-system primitives of the wheels folder: atomic writes, durable renames, hashing, and never following links.

Contract:

* :func:`atomic_write` leaves ``path`` with its old content or its new one, never a mix, and never writes
  through a link planted where its temporary file goes.
* wheelhouse's own state (``wheels/.wheelhouse/`` and what is in it: lock, manifest, tmp/, quarantine/,
  sdists/, logs/, index/) is never followed through a symbolic link: a folder that arrives by git, rsync, a
  shared volume or a bundle can carry such links, and following one would delete, truncate or write files
  outside the folder. :func:`refuse_symlink`, :func:`real_dir` and :func:`open_nofollow` raise a one-line
  :class:`~wheelhouse.errors.StoreError` that names the link instead.
* Files a user names as a command's output (a lock, an SBOM, the rendered Dockerfiles) go through
  :func:`write_output` or :func:`open_output`: a regular file is replaced atomically, while a device, a named
  pipe or one of the process's own descriptors (``-o /dev/stdout``) is written into, never renamed over. They
  are read back only through :func:`read_bounded`, which never blocks on a pipe nor reads a device without end.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from wheelhouse.errors import StoreError, UsageError

# Files whose name starts with this are incomplete: temporary files of atomic writes and downloads.
PARTIAL_PREFIX = ".partial-"
_CHUNK = 1024 * 1024
# The longest file name (in bytes) the common Linux file systems take.
_NAME_MAX = 255
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_OPEN_FLAGS = getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
# What wheelhouse writes (a lock of a large project, an SBOM, a Dockerfile) runs to a few megabytes; a file
# far beyond that is not one of its outputs, so it is not read back to compare.
OUTPUT_MAX_BYTES = 32 * 1024 * 1024
# /proc/PID/fd/N (and /proc/PID/task/TID/fd/N): what /dev/stdout, /dev/fd/N and /proc/self/fd/N lead to.
_FD_LINK = re.compile(r"/proc/(\d+)(?:/task/\d+)?/fd/(\d+)")
_KINDS = (
    (stat.S_ISDIR, "is a directory"),
    (stat.S_ISBLK, "is a block device"),
    (stat.S_ISSOCK, "is a socket"),
)


def partial_name(filename: str) -> str:
    """A fresh name for a partial file that will become ``filename``: unique to this process, thread and moment.

    A file system takes names of at most 255 bytes, and a valid distribution name may use nearly all of them;
    such a name is shortened (its hash and its end stay, the suffix with them), or it could never be written.
    """
    name = f"{PARTIAL_PREFIX}{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}-{filename}"
    if len(os.fsencode(name)) <= _NAME_MAX:
        return name
    digest = hashlib.sha256(os.fsencode(filename)).hexdigest()[:16]
    return f"{name[: name.index(filename)]}{digest}-{filename[-64:]}"


def refuse_symlink(path: Path) -> None:
    """StoreError naming ``path`` when it is a symbolic link (wheelhouse never follows one in its state)."""
    if path.is_symlink():
        raise StoreError(
            f"{path} is a symbolic link; refusing to follow it (wheelhouse keeps its state only in real files "
            "and folders)",
            hint=f"remove the link: rm {path}",
        )


def real_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) as a real directory; StoreError when it, or it once made, is a link."""
    refuse_symlink(path)
    path.mkdir(parents=True, exist_ok=True)
    # Checked again after mkdir: exist_ok accepts a link to a directory that appeared in between.
    refuse_symlink(path)
    return path


def open_nofollow(path: Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` that refuses a symbolic link at ``path`` (StoreError naming it) instead of following it."""
    try:
        return os.open(path, flags | _NOFOLLOW, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            refuse_symlink(path)
        raise


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see the old content or the new, never a mix.

    The rename replaces a link at ``path`` itself rather than writing through it, and the temporary file is
    created exclusively, so a link planted under its (predictable) name is not followed either.
    ``durable=False`` skips the two fsyncs, for a cache whose entries check themselves (a write lost in a crash
    is only an entry to make again).
    """
    with _replacing(path, durable=durable) as fh:
        fh.write(data)


@contextlib.contextmanager
def _replacing(path: Path, *, durable: bool = True) -> Iterator[BinaryIO]:
    """A handle on a new file that replaces ``path`` when the block ends without an exception (atomic_write)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{PARTIAL_PREFIX}{path.name}.{os.getpid()}.{threading.get_ident()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()  # left by a killed run of a process that had our pid
    try:
        # "x": O_CREAT|O_EXCL, which fails on any link at the path instead of writing through it.
        with open(tmp, "xb") as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if durable:
        fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make the renames in ``directory`` durable (best effort: some file systems cannot sync a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a file's content to disk (a missing file is left to the caller's next step to report)."""
    with contextlib.suppress(FileNotFoundError), open(path, "rb") as fh:
        os.fsync(fh.fileno())


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    import hashlib  # here: most commands that write the folder never hash (and OpenSSL's import is not free)

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest in ``algorithm`` (a :mod:`hashlib` name) of the regular file at ``path``; OSError for
    anything else: a named pipe or a device is never read (the open does not block, and its kind is checked on
    what was opened)."""
    import hashlib  # here: most commands never hash (and OpenSSL's import is not free)

    digest = hashlib.new(algorithm)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | _OPEN_FLAGS)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_bounded(path: Path, limit: int = OUTPUT_MAX_BYTES, *, follow: bool = True) -> bytes | None:
    """The bytes of ``path`` when it is a regular file (or, with ``follow``, a link to one) of at most ``limit``
    bytes, else None.

    For reading back a command's earlier output to see whether it changed, and the folder's own state: a named
    pipe or a device in its place (``/dev/zero``) is judged by its kind before it is opened and again on what was
    opened, and the open does not block, so it is never waited on nor read without end. FileNotFoundError when
    nothing is there; other OSErrors (a folder that cannot be read, a link when not ``follow``) are the caller's.
    """
    if not stat.S_ISREG((os.stat(path) if follow else os.lstat(path)).st_mode):
        return None
    nofollow = 0 if follow else _NOFOLLOW
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | _OPEN_FLAGS | nofollow)
    try:
        info = os.fstat(fd)
        # Checked again on what was opened: the file may have been swapped for a pipe in between.
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        chunks: list[bytes] = []
        total = 0
        # Read to the end, not to st_size: a file still growing is held to the limit too.
        while chunk := os.read(fd, min(_CHUNK, limit + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                return None
        return b"".join(chunks)
    finally:
        os.close(fd)


def is_stream(path: Path) -> bool:
    """Whether :func:`open_output` writes into ``path`` as it is rather than replacing it.

    True for a character device, a named pipe (or a link to either) and this process's own descriptors;
    False for a regular file, a link to one, or nothing there. UsageError for what cannot take an output: a
    directory, a block device (writing into it would overwrite a disk), a socket.
    """
    if _own_descriptor(path) is not None:
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False  # nothing there (or a dangling link): atomic_write creates it, or says why it cannot
    if stat.S_ISREG(mode):
        return False
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return True
    kind = next((what for is_kind, what in _KINDS if is_kind(mode)), "is not a regular file")
    raise UsageError(f"{path} {kind}; refusing to write the output there", hint="name a file to write instead")


def write_output(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path``, an output a user named; True when it was written into a stream
    (:func:`open_output`)."""
    with open_output(path) as (fh, streamed):
        fh.write(data)
    return streamed


@contextlib.contextmanager
def open_output(path: Path) -> Iterator[tuple[BinaryIO, bool]]:
    """A handle to write an output a user named, and whether it is a stream (for outputs too large to hold).

    A regular file, or nothing, at ``path`` is replaced as :func:`atomic_write` does, when the block ends
    without an exception (a link to a regular file is replaced, not written through). A device or a named
    pipe is written into as it is: renaming over ``/dev/null``, or over the ``/dev/stdout`` link, would
    replace it for the whole system, and ``-o /dev/stdout`` means "print it". That covers the process's own
    descriptors whatever they are open on (``-o /dev/stdout >> log`` appends to the log as ``-`` would). A
    named pipe must already have a reader (StoreError otherwise, never a wait without end). A directory, a
    block device or a socket is a UsageError (:func:`is_stream`).
    """
    fd = _stream_descriptor(path)
    if fd is None:
        with _replacing(path) as fh:
            yield fh, False
        return
    with os.fdopen(fd, "wb") as fh:
        yield fh, True


def _stream_descriptor(path: Path) -> int | None:
    """A descriptor open for writing into ``path`` when it is a stream (:func:`is_stream`), else None."""
    own = _own_descriptor(path)
    if own is not None:
        return os.dup(own)  # closed when written, leaving the process's own one open
    if not is_stream(path):
        return None
    try:
        # Opened without blocking: a named pipe that no process reads would otherwise wait without end.
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_NONBLOCK", 0) | _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno != errno.ENXIO or not stat.S_ISFIFO(os.stat(path).st_mode):
            raise
        raise StoreError(
            f"{path} is a named pipe that no process is reading; nothing was written",
            hint="start the process that reads it first",
        ) from None
    if stat.S_ISREG(os.fstat(fd).st_mode):
        # Swapped for a regular file since it was judged: opening it changed nothing, so it is replaced whole.
        os.close(fd)
        return None
    os.set_blocking(fd, True)  # from here on, wait for the reader to take what is written
    return fd


def refuse_inside(folder: Path, path: Path, *, what: str, hint: str) -> None:
    """StoreError when writing ``path`` would land in the wheels ``folder``: it would overwrite a wheel or the
    folder's state, or be taken for a file of the folder. The rule ``export`` applies to its bundle; ``..``
    and links in the parent folders are resolved first, so neither leads around it."""
    root = folder.resolve()
    where = path.parent.resolve() / path.name
    if where == root or root in where.parents:
        raise StoreError(f"refusing to write {what} {path} inside the wheels folder {folder}", hint=hint)


def _own_descriptor(path: Path) -> int | None:
    """The open descriptor of this process that ``path`` leads to through /proc, else None."""
    current = os.path.join(os.path.realpath(path.parent), path.name)
    for _ in range(40):  # the kernel's own bound on links followed in one lookup
        match = _FD_LINK.fullmatch(current)
        if match is not None:
            if int(match[1]) != os.getpid():
                return None
            fd = int(match[2])
            try:
                os.fstat(fd)
            except OSError:
                return None
            return fd
        try:
            target = os.readlink(current)
        except OSError:
            return None  # not a link: the chain ends outside /proc
        following = os.path.normpath(os.path.join(os.path.dirname(current), target))
        current = os.path.join(os.path.realpath(os.path.dirname(following)), os.path.basename(following))
    return None


def kind_of(entry: os.DirEntry[str]) -> str:
    """What a folder entry that is not a regular file is, in words (for the scan's report of it)."""
    if entry.is_symlink():
        return "a symbolic link to a folder" if entry.is_dir() else "a symbolic link to nothing readable"
    if entry.is_dir():
        return "a folder"
    try:
        mode = entry.stat(follow_symlinks=False).st_mode
    except OSError:
        return "unreadable"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a file"
