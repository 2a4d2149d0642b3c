"""The seal on the folder's caches: proof that this user's wheelhouse wrote them.

The manifest's cached reading of each wheel (its metadata and sha256) and the stored answers of ``verify`` live
in the wheels folder, which others can write: a shared drive, a checkout, a bundle's unpacking. Their freshness
rules (size, mtime, inode, ctime) tell whether an entry still describes its file, not who wrote it, and anyone who
can write the folder can copy those values into a forged entry. So each cache is written with an HMAC-SHA256
(RFC 2104) of its bytes under a secret that lives outside every wheels folder, and believed only when the HMAC
verifies.

Contract: :func:`seal` gives the hex HMAC of ``data`` under this user's key, ``$XDG_CACHE_HOME/wheelhouse/seal-key``
(``~/.cache`` by default): 32 random bytes, made on first use with mode 0600 and never overwritten (two processes
making it at once agree on the first one linked into place). Where the key can neither be read nor made (no
writable home), a key of this process alone is used, so that nothing on disk is believed: every run then reads the
files, which is slower and still right. A cache written by another user or machine is not believed either, and
is replaced by the next run that writes it.

This module is on the console script's fast path (the stored answers of ``verify``): it imports only ``os`` and
``sys``.
"""

from __future__ import annotations

import os
import sys

try:
    # The standard library's own sha256, which hashlib falls back to: hashlib (and hmac) load OpenSSL first, and
    # that costs more than the rest of an answer from the cache. (``_sha2`` since Python 3.12.)
    from _sha256 import sha256 as _sha256  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # pragma: no cover - depends on the Python
    try:
        from _sha2 import sha256 as _sha256  # type: ignore[import-not-found, unused-ignore, no-redef]
    except ImportError:
        from hashlib import sha256 as _sha256  # type: ignore[assignment, unused-ignore]

__all__ = ["KEY_NAME", "Sealer", "key_path", "seal", "sealed"]

KEY_NAME = "seal-key"
_KEY_BYTES = 32
_BLOCK = 64  # SHA-256's block size, which HMAC pads the key to
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# The key's path and its two padded forms (inner, outer), made once per process and path.
_pads: tuple[str, bytes, bytes] | None = None


def key_path() -> str:
    """Where this user's key is kept: ``$XDG_CACHE_HOME/wheelhouse/seal-key``, ``~/.cache`` by default."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.environ.get("HOME") or os.path.expanduser("~"), ".cache")
    return os.path.join(base, "wheelhouse", KEY_NAME)


def _read_key(path: str) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return None
    try:
        data = os.read(fd, _KEY_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) == _KEY_BYTES else None


def _make_key(path: str) -> None:
    """Make the key at ``path`` unless another process makes it first (the first one linked in wins); quietly
    nothing where it cannot be made."""
    temp = f"{path}.{os.getpid()}.partial"
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    except OSError:
        return
    try:
        os.write(fd, os.urandom(_KEY_BYTES))
        os.fsync(fd)
        os.close(fd)
        os.link(temp, path)  # fails if it exists: a key already in use is never replaced
    except OSError:
        pass  # made by another process meanwhile, or not makeable: the caller reads what is there
    finally:
        import contextlib  # here: made once per user, and the fast path never needs it

        with contextlib.suppress(OSError):
            os.unlink(temp)


def _key(path: str) -> bytes:
    key = _read_key(path)
    if key is None:
        _make_key(path)
        key = _read_key(path)
    # Unreadable and unmakeable (or not a key): this process's own, so that no cache on disk is believed.
    return key if key is not None else os.urandom(_KEY_BYTES)


def _padded() -> tuple[bytes, bytes]:
    global _pads
    path = key_path()  # a process that changes HOME (a test) changes users
    if _pads is None or _pads[0] != path:
        key = _key(path).ljust(_BLOCK, b"\0")
        _pads = (path, bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key))
    return _pads[1], _pads[2]


class Sealer:
    """The HMAC-SHA256 of data fed in pieces, under this user's key (:func:`seal` of the whole)."""

    __slots__ = ("_inner", "_outer_pad", "_sha256")

    def __init__(self) -> None:
        inner_pad, self._outer_pad = _padded()
        # OpenSSL's sha256 is several times faster on a large manifest; use it once something else has paid for it.
        hashlib = sys.modules.get("hashlib")
        self._sha256 = _sha256 if hashlib is None else hashlib.sha256
        self._inner = self._sha256(inner_pad)

    def update(self, data: bytes) -> None:
        self._inner.update(data)

    def hexdigest(self) -> str:
        outer = self._sha256(self._outer_pad)
        outer.update(self._inner.digest())
        return str(outer.hexdigest())


def seal(data: bytes) -> str:
    """The hex HMAC-SHA256 of ``data`` under this user's key."""
    sealer = Sealer()
    sealer.update(data)
    return sealer.hexdigest()


def sealed(data: bytes, tag: str | bytes) -> bool:
    """Whether ``tag`` is ``data``'s seal, compared in constant time."""
    expected = seal(data).encode()
    given = tag.encode() if isinstance(tag, str) else tag
    if len(given) != len(expected):
        return False
    difference = 0
    for a, b in zip(expected, given, strict=True):
        difference |= a ^ b
    return difference == 0
