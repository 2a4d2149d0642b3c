"""The folder's process lock, and what it tells about partial files.

Contract:

* :class:`FolderLock` is an exclusive ``flock(2)`` on ``wheels/.wheelhouse/lock``, re-entrant within a process,
  so that one process at a time writes the folder. The lock file is opened without following a link and must
  be a regular file; the holder's pid is written into it only when it has no other name (a hard link). The
  kernel drops the lock when its holder dies, however it dies.
* Every process that makes a temporary file or folder in the wheels folder (``.wheelhouse/tmp/``, or next to
  the manifest) holds the lock for as long as it exists. So whoever holds the lock knows that every partial
  file it sees is abandoned, whatever its age (:func:`stray_paths`, :func:`remove_paths`): no age threshold
  and no pid (pids repeat, and mean nothing on another machine sharing the volume) is trusted.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from wheelhouse.errors import LockTimeout, StoreError
from wheelhouse.store.fs import PARTIAL_PREFIX, open_nofollow

# flock(2) locks belong to an open file description, so a second flock from the same process on a new
# descriptor would deadlock. Track the locks this process holds and make them re-entrant.
_HELD: dict[str, tuple[int, int]] = {}
_HELD_GUARD = threading.RLock()
# The flock makes a *process* the folder's owner; threads of that process (parallel downloads) then serialise
# their manifest read-modify-write cycles on this per-folder mutex.
_MUTEXES: dict[str, threading.RLock] = {}


class FolderLock:
    """The exclusive lock of one wheels folder (see the module docstring)."""

    def __init__(self, path: Path, root: Path, prepare: Callable[[], None]) -> None:
        self.path = path
        self.root = root
        self._prepare = prepare  # makes (and checks) the state folder before the first acquisition
        self._key: str | None = None

    def key(self) -> str:
        """The lock file's real path: the identity of the folder's lock within this process (computed once)."""
        if self._key is None:
            self._key = str(self.path.resolve())
        return self._key

    @contextlib.contextmanager
    def hold(
        self, *, wait: bool = True, timeout: float | None = None, on_wait: Callable[[str], None] | None = None
    ) -> Iterator[None]:
        """Hold the lock; ``on_wait`` is called once with a message when another process holds it."""
        key = self.key()
        with _HELD_GUARD:
            held = _HELD.get(key)
            if held is not None:
                _HELD[key] = (held[0], held[1] + 1)
        if held is None:
            self._prepare()
            fd = self._open()
            try:
                self._acquire(fd, wait=wait, timeout=timeout, on_wait=on_wait)
            except BaseException:
                os.close(fd)
                raise
            # The holder's pid, for the message of whoever waits. Not into a file with other names: a hard link
            # (planted, or made by a cp -al backup) would have a file elsewhere on the disk truncated.
            if os.fstat(fd).st_nlink == 1:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                    os.write(fd, f"{os.getpid()}\n".encode())
            with _HELD_GUARD:
                _HELD[key] = (fd, 1)
        try:
            yield
        finally:
            _release(key)

    @contextlib.contextmanager
    def exclusive(self, *, wait: bool = True) -> Iterator[None]:
        """The lock plus this process's per-folder mutex: for read-modify-write cycles of the manifest."""
        with self.hold(wait=wait):
            with _HELD_GUARD:
                mutex = _MUTEXES.setdefault(self.key(), threading.RLock())
            with mutex:
                yield

    def _open(self) -> int:
        try:
            fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise StoreError(
                f"cannot lock the wheels folder {self.root}: {exc.strerror or exc}",
                hint=f"make {self.root} writable (or pass --wheels DIR)",
            ) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise StoreError(f"{self.path} is not a regular file; refusing to use it as the folder's lock")
        return fd

    def _acquire(self, fd: int, *, wait: bool, timeout: float | None, on_wait: Callable[[str], None] | None) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise StoreError(f"cannot lock {self.path}: {exc.strerror}") from None
        holder = ""
        with contextlib.suppress(OSError, ValueError):
            holder = f" (process {int(os.pread(fd, 32, 0).decode().strip())})"
        message = f"another wheelhouse process{holder} is using {self.root}"
        if not wait:
            raise LockTimeout(message, hint="wait for it to finish, or run without --no-wait to queue behind it")
        if on_wait is not None:
            on_wait(f"{message}; waiting for it to finish")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError:
                if deadline is not None and time.monotonic() > deadline:
                    raise LockTimeout(f"{message}; gave up after {timeout:.0f} s") from None
                time.sleep(0.05)


def _release(key: str) -> None:
    with _HELD_GUARD:
        fd, count = _HELD[key]
        if count > 1:
            _HELD[key] = (fd, count - 1)
            return
        del _HELD[key]
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def stray_paths(root: Path, tmp_dir: Path) -> list[Path]:
    """The partial files and folders of the folder at ``root``: abandoned when seen under the lock.

    That is ``.partial-*`` at the top level and next to the manifest (a write cut short by kill -9), and
    everything in ``tmp_dir``. Nothing is looked for behind a symbolic link.
    """
    meta_dir = tmp_dir.parent
    found: list[Path] = []
    with contextlib.suppress(OSError):
        found.extend(sorted(p for p in root.iterdir() if p.name.startswith(PARTIAL_PREFIX)))
    if meta_dir.is_symlink() or not meta_dir.is_dir():
        return found
    with contextlib.suppress(OSError):
        found.extend(sorted(meta_dir.glob(f"{PARTIAL_PREFIX}*")))
    if tmp_dir.is_symlink() or not tmp_dir.is_dir():
        return found
    with contextlib.suppress(OSError):
        found.extend(sorted(tmp_dir.iterdir()))
    return found


def remove_paths(paths: list[Path]) -> list[str]:
    """Delete each path (a folder with its content, a link as itself); the names of those removed."""
    removed: list[str] = []
    for path in paths:
        try:
            if path.is_dir() and not path.is_symlink():
                import shutil  # here: only a holder that finds a partial folder needs it

                shutil.rmtree(path)  # never follows a link inside it
            else:
                path.unlink()
        except OSError:
            continue
        removed.append(path.name)
    return removed
