"""Opening a distribution file of the folder to send it elsewhere (into a bundle, to a server): only a regular
file of the folder itself is read.

A symbolic link named like a wheel or an sdist may point anywhere (another user's key, a file outside the
folder): sending what it points to would publish that file, which the static index already refuses to do. The
link is refused when the file is opened, so a file swapped for a link after it was listed is refused too.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from wheelhouse.errors import WheelhouseError

__all__ = ["open_own", "refuse_foreign"]

_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def refuse_foreign(path: Path, error: type[WheelhouseError], action: str) -> int:
    """The size of ``path`` when it is a regular file (not a link); ``error`` naming it and ``action`` otherwise."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise error(f"cannot {action} {path}: {exc.strerror or exc}") from None
    _refuse(path, st.st_mode, error, action)
    return st.st_size


def open_own(path: Path, error: type[WheelhouseError], action: str) -> BinaryIO:
    """``path`` opened for reading without following a link (and without blocking on a pipe); ``error`` naming
    it and ``action`` when it is not a regular file."""
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            _refuse(path, stat.S_IFLNK, error, action)
        raise error(f"cannot {action} {path}: {exc.strerror or exc}") from None
    fh = os.fdopen(fd, "rb")
    try:
        _refuse(path, os.fstat(fd).st_mode, error, action)
    except BaseException:
        fh.close()
        raise
    return fh


def _refuse(path: Path, mode: int, error: type[WheelhouseError], action: str) -> None:
    if stat.S_ISREG(mode):
        return
    what = "a symbolic link (it may point anywhere)" if stat.S_ISLNK(mode) else "not a regular file"
    raise error(
        f"refusing to {action} {path}: it is {what}",
        hint=f"put the file itself in {path.parent}, or move {path.name} out of it",
    )
