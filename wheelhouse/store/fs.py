"""File-system primitives of the wheels folder: atomic writes, durable renames, hashing, and never following links.

Contract:

* :func:`atomic_write` leaves ``path`` with its old content or its new one, never a mix, and never writes
  through a link planted where its temporary file goes.
* wheelhouse's own state (``wheels/.wheelhouse/`` and what is in it: lock, manifest, tmp/, quarantine/,
  sdists/, logs/, index/) is never followed through a symbolic link: a folder that arrives by git, rsync, a
  shared volume or a bundle can carry such links, and following one would delete, truncate or write files
  outside the folder. :func:`refuse_symlink`, :func:`real_dir` and :func:`open_nofollow` raise a one-line
  :class:`~wheelhouse.errors.StoreError` that names the link instead.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from pathlib import Path

from wheelhouse.errors import StoreError

# Files whose name starts with this are incomplete: temporary files of atomic writes and downloads.
PARTIAL_PREFIX = ".partial-"
_CHUNK = 1024 * 1024
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{PARTIAL_PREFIX}{path.name}.{os.getpid()}.{threading.get_ident()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()  # left by a killed run of a process that had our pid
    try:
        # "x": O_CREAT|O_EXCL, which fails on any link at the path instead of writing through it.
        with open(tmp, "xb") as fh:
            fh.write(data)
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
