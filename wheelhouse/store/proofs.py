"""The proof cache, ``wheels/.wheelhouse/proofs/``: the answer of a ``verify``, or of a ``download`` that needed
only the folder's files, whose inputs have not changed.

An entry is stored under a key that names the invocation (wheelhouse and the Python running it, the host, the
command line, the working directory, the environment variables and terminal facts that shape the output; the
console script computes it, :mod:`wheelhouse._entry`). It holds what that run's answer depended on beyond the
key, and the answer itself:

* the folder's state (:func:`folder_state`): name, type, size, mtime, inode and ctime of every file in the
  folder, of the manifest and of the kept sdists and partial files: the manifest's own freshness rule, which
  nothing a copy, git, rsync or a bundle carries can satisfy;
* every file the run read, with a keyed digest of its content (requirements, nested -r/-c files, wheelhouse.toml,
  pyproject.toml, lock files), every path it probed (present, absent, a folder), every folder it listed
  outside the wheels folder, the environment variables its inputs name (``${VAR}``), and every module file
  of the code that ran (so an edited source checkout is a new answer);
* the exit status (0 or 3: an operational failure is never stored) and the exact bytes written to stdout and
  stderr, in the order they were written, but for the elapsed time a command printed, kept as a slot that a
  replay fills with its own.

Contract: an entry is believed only when it carries this user's seal (:mod:`wheelhouse.store.seal`: one edited or
forged in the folder, or written by another user, does not) and every one of these still holds
(:meth:`Proof.stale`); a corrupt, foreign or unreadable entry is ignored (and replaced by the next full run).
Nothing here follows a symbolic link in ``.wheelhouse/`` (a linked state or proofs folder means no cache), writes go
through the store's atomic, no-follow helpers, and at most :data:`MAX_ENTRIES` entries are kept.

This module is on the console script's fast path, so it imports only ``os``, ``sys``, the seal and the standard
library's own sha256 at module level (no pathlib, json, re or dataclasses; the writing side imports the store's
helpers when it runs), and its value types are plain classes.
"""

from __future__ import annotations

import os
import stat
import sys

from wheelhouse.store.seal import Sealer, seal, sealed

try:
    # The standard library's own sha256, which hashlib falls back to: hashlib first loads OpenSSL, and that
    # costs more than the rest of an answer from the cache. (``_sha2`` since Python 3.12.)
    from _sha256 import sha256 as _sha256  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # pragma: no cover - depends on the Python
    try:
        from _sha2 import sha256 as _sha256  # type: ignore[import-not-found, unused-ignore, no-redef]
    except ImportError:
        from hashlib import sha256 as _sha256  # type: ignore[assignment, unused-ignore]

# typing's import costs more than this whole module on the fast path; type checkers read the name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

PROOFS_DIR = "proofs"
META_DIR = ".wheelhouse"
# wheelhouse.store.fs.PARTIAL_PREFIX, not imported: that module is not on the fast path.
PARTIAL_PREFIX = ".partial-"
# The format's magic word and version: an entry of another version is stale. Version 2: sealed (store/seal.py);
# 3: the digests of values and contents keyed as well (keyed_digest).
MAGIC = b"wheelhouse-proof 3 "
# Enough for every argv of a project's folder and its variants (targets, --json, -v); the oldest go first.
MAX_ENTRIES = 16
# An entry larger than this is not one wheelhouse wrote: it is ignored rather than read.
MAX_ENTRY_BYTES = 256 * 1024 * 1024
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# An output item's stream: 1 stdout, 2 stderr; ELAPSED + the stream where the run printed its elapsed time.
ELAPSED = 2
# Tags of the header's records, with the number of fields that follow each.
_ARITY = {"K": 1, "W": 1, "S": 1, "X": 1, "1": 1, "2": 1, "3": 1, "4": 1, "F": 2, "P": 3, "D": 2, "M": 2, "V": 2}


def sha256_hex(data: bytes) -> str:
    return str(_sha256(data).hexdigest())


def keyed_digest(data: bytes) -> str:
    """The digest an entry keeps of a value or a content it depended on: keyed with this user's key (an HMAC,
    :mod:`wheelhouse.store.seal`), since an entry lies in a folder others may read, and a plain sha256 of a short
    value (a password in an index URL, a token in a variable or a pip.conf) could be guessed from it offline."""
    return seal(data)


def file_digest(path: str) -> str | None:
    """The :func:`keyed_digest` of a file's content (following links, as the run that read it did); None when
    unreadable."""
    digest = Sealer()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1024 * 1024):
                digest.update(chunk)
    except OSError:
        return None
    return str(digest.hexdigest())


def _stat_text(st: os.stat_result | None) -> str:
    if st is None:
        return "-"
    return f"{stat.S_IFMT(st.st_mode)}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_ctime_ns}"


def stat_key(path: str) -> str:
    """A file's identity by the manifest's freshness rule (type, size, mtime, inode, ctime); ``-`` if absent."""
    try:
        return _stat_text(os.stat(path))
    except OSError:
        return "-"


def _entries(directory: str) -> list[tuple[str, str]] | None:
    """(name, identity) of each entry of ``directory``, by name; None when it cannot be listed."""
    rows = []
    try:
        with os.scandir(directory) as it:
            for entry in it:
                try:
                    # Followed, as the folder's scan follows it; a dangling link has its own identity.
                    st: os.stat_result | None = entry.stat()
                except OSError:
                    st = None
                link = "L" if entry.is_symlink() else ""
                rows.append((entry.name, link + _stat_text(st)))
    except OSError:
        return None
    rows.sort()
    return rows


def folder_state(root: str) -> str | None:
    """A digest of everything in the folder a verify reads, each by name, type, size, mtime, inode and ctime:
    every entry of the folder (``.wheelhouse`` aside), the kept sdists and the partial files in
    ``.wheelhouse/tmp/`` and ``.wheelhouse/`` (which a download removes); then the manifest. None when the
    folder cannot be listed or its state folder is a symbolic link.

    The text is ``<files>:<manifest>``, two digests: the files' part (:func:`files_part`) tells a change of the
    files from a rewrite of the manifest (which the run being recorded may make itself)."""
    rows = _entries(root)
    if rows is None:
        return None
    parts = [f"{name}\0{key}" for name, key in rows if name != META_DIR]
    meta = os.path.join(root, META_DIR)
    try:
        meta_st = os.lstat(meta)
    except FileNotFoundError:
        meta_st = None
    except OSError:
        return None
    if meta_st is not None and not stat.S_ISDIR(meta_st.st_mode):
        return None  # a link (or a file) where wheelhouse keeps its state: no cache
    if meta_st is not None:
        # A write of the state cut short: a download cleans it up, so a replay must not stand in for that run.
        own = _entries(meta) or ()
        parts += [f"{META_DIR}/{entry}\0{key}" for entry, key in own if entry.startswith(PARTIAL_PREFIX)]
    for name in ("sdists", "tmp"):
        # Written the same whether .wheelhouse exists or not: a first verify makes it (for the manifest).
        path = os.path.join(meta, name)
        parts.append(f"{META_DIR}/{name}\0{probe('lstat', path)}")
        listed = _entries(path) if _real_dir(path) else None
        parts += [f"{META_DIR}/{name}/{entry}\0{key}" for entry, key in listed or ()]
    try:
        manifest = _stat_text(os.lstat(os.path.join(meta, "manifest.json")))
    except OSError:
        manifest = "-"
    return sha256_hex("\n".join(parts).encode("utf-8", "surrogateescape")) + ":" + sha256_hex(manifest.encode())


def files_part(state: str | None) -> str | None:
    """The files' digest of a :func:`folder_state` (the manifest left out)."""
    return None if state is None else state.partition(":")[0]


def listing_digest(directory: str) -> str:
    """A digest of the names in a folder (``-`` when it cannot be listed)."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return "-"
    return sha256_hex("\0".join(names).encode("utf-8", "surrogateescape"))


def probe(how: str, path: str) -> str:
    """What a ``stat`` (``how="stat"``) or ``lstat`` of ``path`` tells a program that only asks whether it is
    there and what it is: ``missing``, ``dir``, ``file:<size>``, ``link:<target>``, ``other:<type>``, or the
    error's number."""
    try:
        st = os.lstat(path) if how == "lstat" else os.stat(path)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"error:{exc.errno}"
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if stat.S_ISREG(st.st_mode):
        return f"file:{st.st_size}"
    if stat.S_ISLNK(st.st_mode):
        try:
            return "link:" + os.readlink(path)
        except OSError as exc:
            return f"error:{exc.errno}"
    return f"other:{stat.S_IFMT(st.st_mode)}"


def env_digest(value: str | None) -> str:
    return "-" if value is None else keyed_digest(value.encode("utf-8", "surrogateescape"))


class Proof:
    """One entry: the answer of a run (status and output), and what it depended on beyond the key.

    ``output`` is the run's writes in order, each ``(1, bytes)`` for stdout or ``(2, bytes)`` for stderr, and
    ``(3, spec)`` or ``(4, spec)`` where an elapsed time was printed there (:func:`wheelhouse._recording.elapsed`;
    ``spec`` is its format, ``.Nf``): a replay prints its own time in that place.
    ``files`` are (path, :func:`keyed_digest`) of what the run read; ``probes`` (how, path, :func:`probe` result);
    ``listings`` (folder, :func:`listing_digest`); ``modules`` (path, :func:`stat_key`); ``env`` (name,
    :func:`env_digest`).
    """

    __slots__ = ("env", "files", "key", "listings", "modules", "output", "probes", "state", "status", "wheels")

    def __init__(
        self,
        key: str,
        wheels: str,
        state: str,
        status: int,
        output: Sequence[tuple[int, bytes]],
        *,
        files: Iterable[tuple[str, str]] = (),
        probes: Iterable[tuple[str, str, str]] = (),
        listings: Iterable[tuple[str, str]] = (),
        modules: Iterable[tuple[str, str]] = (),
        env: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.key = key
        self.wheels = wheels
        self.state = state
        self.status = status
        self.output = tuple(output)
        self.files = tuple(files)
        self.probes = tuple(probes)
        self.listings = tuple(listings)
        self.modules = tuple(modules)
        self.env = tuple(env)

    def stale(self, key: str, wheels: str, state: str | None) -> str | None:
        """Why this entry cannot answer the invocation ``key`` over the folder ``wheels`` in state ``state``
        (the first difference found, in words), or None when every fact it depended on still holds."""
        if self.key != key:
            return "the entry belongs to another invocation"
        if self.wheels != wheels:
            return "another wheels folder"
        if self.state != state:
            return "the folder changed"
        for path, text in self.modules:
            if stat_key(path) != text:
                return f"wheelhouse's code changed ({path})"
        for name, text in self.env:
            if env_digest(os.environ.get(name)) != text:
                return f"${{{name}}} changed"
        for how, path, seen in self.probes:
            if probe(how, path) != seen:
                return f"{path} changed"
        for directory, text in self.listings:
            if listing_digest(directory) != text:
                return f"the files in {directory} changed"
        for path, digest in self.files:
            if file_digest(path) != digest:
                return f"{path} changed"
        return None

    def encode(self) -> bytes:
        tokens = ["K", self.key, "W", self.wheels, "S", self.state, "X", str(self.status)]
        for stream, data in self.output:
            tokens += [str(stream), str(len(data))]
        for rows, tag in (
            (self.files, "F"),
            (self.probes, "P"),
            (self.listings, "D"),
            (self.modules, "M"),
            (self.env, "V"),
        ):
            for row in rows:
                tokens += [tag, *row]
        if any("\0" in token for token in tokens):
            raise ValueError("a NUL character in a proof's header")
        header = "\0".join(tokens).encode("utf-8", "surrogateescape")
        body = b"%d\n" % len(header) + header + b"".join(data for _stream, data in self.output)
        return MAGIC + seal(body).encode() + b"\n" + body

    @classmethod
    def decode(cls, raw: bytes) -> Proof | None:
        """The entry in ``raw``, or None when it is not a whole, intact entry of this format."""
        if not raw.startswith(MAGIC):
            return None
        tag, newline, body = raw[len(MAGIC) :].partition(b"\n")
        # Sealed, not merely hashed: anyone who can write the folder could hash a forged answer.
        if not newline or not sealed(body, tag):
            return None
        size_text, newline, rest = body.partition(b"\n")
        if not newline or not size_text.isdigit():
            return None
        size = int(size_text)
        try:
            tokens = rest[:size].decode("utf-8", "surrogateescape").split("\0")
            return cls._from_tokens(tokens, rest[size:])
        except (ValueError, IndexError, KeyError):
            return None

    @classmethod
    def _from_tokens(cls, tokens: list[str], data: bytes) -> Proof | None:
        fields: dict[str, str] = {}
        rows: dict[str, list[tuple[str, ...]]] = {tag: [] for tag in "FPDMV"}
        output: list[tuple[int, bytes]] = []
        at = 0
        while at < len(tokens):
            tag = tokens[at]
            arity = _ARITY[tag]
            values = tokens[at + 1 : at + 1 + arity]
            if len(values) != arity:
                return None
            at += 1 + arity
            if tag in "1234":
                length = int(values[0])
                if length < 0 or length > len(data):
                    return None
                chunk = data[:length]
                if tag in "34" and not elapsed_spec(chunk):
                    return None
                output.append((int(tag), chunk))
                data = data[length:]
            elif tag in rows:
                rows[tag].append(tuple(values))
            else:
                fields[tag] = values[0]
        if data or not {"K", "W", "S", "X"} <= fields.keys():
            return None
        status = int(fields["X"])
        if status not in (0, 3):
            return None
        return cls(
            fields["K"],
            fields["W"],
            fields["S"],
            status,
            output,
            files=[(r[0], r[1]) for r in rows["F"]],
            probes=[(r[0], r[1], r[2]) for r in rows["P"]],
            listings=[(r[0], r[1]) for r in rows["D"]],
            modules=[(r[0], r[1]) for r in rows["M"]],
            env=[(r[0], r[1]) for r in rows["V"]],
        )


def elapsed_spec(spec: bytes) -> bool:
    """Whether ``spec`` is a format an elapsed time is kept with (``.Nf``; see
    :func:`wheelhouse._recording.elapsed`)."""
    return len(spec) == 3 and spec[:1] == b"." and spec[1:2].isdigit() and spec[2:] == b"f"


def _real_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def read_proof(root: str, key: str) -> Proof | None:
    """The entry stored under ``key`` in the folder ``root``; None when there is none, when it is corrupt, or
    when ``.wheelhouse`` or ``proofs`` is a symbolic link (not followed)."""
    meta = os.path.join(root, META_DIR)
    proofs = os.path.join(meta, PROOFS_DIR)
    # The rule of store/fs.open_nofollow, spelled with os alone (that module's pathlib is not needed here).
    if not _real_dir(meta) or not _real_dir(proofs):
        return None
    try:
        fd = os.open(os.path.join(proofs, key), os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_ENTRY_BYTES:
            return None
        chunks = []
        while chunk := os.read(fd, 1024 * 1024):
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return Proof.decode(b"".join(chunks))


def write_proof(root: str, proof: Proof) -> bool:
    """Store ``proof`` in the folder ``root`` (atomically, never through a link, keeping the newest
    :data:`MAX_ENTRIES`); False when it could not be stored (a read-only folder, a link in the state folder,
    a missing folder, a writer holding the folder's lock). Never raises for those: it is only a cache."""
    from pathlib import Path

    from wheelhouse.errors import WheelhouseError
    from wheelhouse.store.folder import Store
    from wheelhouse.store.fs import atomic_write, real_dir

    if not os.path.isdir(root):
        return False  # a verify of a folder that does not exist leaves nothing behind
    store = Store(Path(root))
    try:
        data = proof.encode()
        with store.lock(wait=False):
            store.check_state()
            proofs = real_dir(store.meta_dir / PROOFS_DIR)
            # Not synced: an entry checks itself (its digest), so one lost or torn by a crash is only ignored.
            atomic_write(proofs / proof.key, data, durable=False)
            _prune(str(proofs), keep=proof.key)
    except (OSError, ValueError, WheelhouseError):
        return False
    return True


def _prune(proofs: str, *, keep: str) -> None:
    """Remove the oldest entries beyond :data:`MAX_ENTRIES` (and partial writes of killed runs)."""
    from wheelhouse.store.fs import PARTIAL_PREFIX

    aged: list[tuple[int, str]] = []
    with os.scandir(proofs) as it:
        for entry in it:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if entry.name.startswith(PARTIAL_PREFIX):
                # Written under the folder's lock, which we hold: any partial file here is abandoned.
                _unlink(entry.path)
            elif entry.name != keep:
                aged.append((st.st_mtime_ns, entry.path))
    aged.sort(reverse=True)
    for _mtime, path in aged[MAX_ENTRIES - 1 :]:
        _unlink(path)


def _unlink(path: str) -> None:
    import contextlib

    with contextlib.suppress(OSError):
        os.unlink(path)  # unlink removes a link itself, never what it points to


def stdlib_dir() -> str:
    """The standard library's folder (its modules are what the Python's version says they are)."""
    return os.path.dirname(os.__file__)


def module_files() -> list[tuple[str, str]]:
    """(path, :func:`stat_key`) of the file of every loaded module but the standard library's: wheelhouse's own
    and its dependencies' (site-packages, even inside the standard library's folder, counts as theirs)."""
    stdlib = stdlib_dir() + os.sep
    rows = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str):
            continue
        if path.startswith(stdlib) and "-packages" + os.sep not in path[len(stdlib) :]:
            continue
        rows.add((path, stat_key(path)))
    return sorted(rows)
