"""Transfers into the folder's temporary area, started the moment a file is likely to be needed.

Contract: :class:`Transfers` streams each file once (a second ``start`` of the same name returns the same
future) into ``.wheelhouse/tmp/``, verified against the index's sha256 by the client and flushed to disk; a
wheel whose own METADATA cannot be read or names another release than its file name fails its transfer. It
never touches wheels/ itself: a finished transfer's temporary file belongs to whoever takes it
(:meth:`Transfers.take`; the commit, see :mod:`wheelhouse.fetch.commit`); :meth:`Transfers.close` stops the rest
and deletes every temporary file nobody took.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from wheelhouse.dists import UnusableMetadata
from wheelhouse.fetch.pools import started_pool
from wheelhouse.store.folder import Store
from wheelhouse.store.fs import fsync_file
from wheelhouse.store.metadata import MetadataProblem, read_wheel_metadata

if TYPE_CHECKING:
    from wheelhouse.index.http import IndexClient
    from wheelhouse.index.pages import RemoteFile


class Cancelled(Exception):
    """Raised inside a worker's progress callback to abort its stream when the run is interrupted."""


def _check_own_metadata(temp: Path, filename: str) -> None:
    """Refuse a wheel whose own METADATA cannot be read or names another project or version than its file name.

    The resolver trusted the index's copy of the metadata (PEP 658, or the wheel's as the index served it then);
    what lands in the folder must be what pip will read, and the folder's scan would only report it afterwards.
    """
    try:
        read_wheel_metadata(temp, filename)
    except MetadataProblem as exc:
        # The message follows the file's name wherever a failed file is reported.
        raise UnusableMetadata(f"refused, not added to the folder: {exc}") from None


class Transfers:
    """Downloads into temporary files, started as early as possible: the moment the resolver pins a file.

    A pinned file is almost always in the final plan, so its transfer overlaps the rest of the resolution. A
    transfer that the final plan does not use (the resolver backtracked) is discarded with its temporary file;
    nothing reaches the folder before the commit takes it (:mod:`wheelhouse.fetch.commit`).
    """

    def __init__(self, store: Store, client: IndexClient, jobs: int) -> None:
        self.store = store
        self.client = client
        self.cancel = threading.Event()
        self.received: dict[str, int] = {}
        self._lock = threading.Lock()
        self._futures: dict[str, Future[tuple[Path, str]]] = {}
        self._listeners: dict[str, Callable[[int], None]] = {}
        self._taken: set[str] = set()
        self._pool = started_pool(max(1, jobs), "wheelhouse-download")

    def start(self, filename: str, remote: RemoteFile) -> Future[tuple[Path, str]]:
        """The transfer of ``filename`` (started now unless it already runs)."""
        with self._lock:
            future = self._futures.get(filename)
            if future is None:
                future = self._pool.submit(self._fetch, filename, remote)
                self._futures[filename] = future
            return future

    def listen(self, filename: str, callback: Callable[[int], None]) -> None:
        """Forward the transfer's progress (bytes so far) to ``callback`` from now on."""
        with self._lock:
            self._listeners[filename] = callback
            received = self.received.get(filename)
        if received:
            callback(received)

    def take(self, filename: str) -> None:
        """Mark a finished transfer as claimed: its temporary file is now the caller's to commit or delete."""
        with self._lock:
            self._taken.add(filename)

    def _fetch(self, filename: str, remote: RemoteFile) -> tuple[Path, str]:
        if self.cancel.is_set():
            raise Cancelled
        temp = self.store.new_temp(filename)

        def progress(n: int) -> None:
            if self.cancel.is_set():
                raise Cancelled
            with self._lock:
                self.received[filename] = n
                listener = self._listeners.get(filename)
            if listener is not None:
                listener(n)

        try:
            sha = self.client.download(remote, temp, on_progress=progress)
            if self.cancel.is_set():
                raise Cancelled
            if filename.endswith(".whl"):
                _check_own_metadata(temp, filename)
            # Flushed here, in parallel, so that committing in the main thread costs a rename.
            fsync_file(temp)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        return temp, sha

    def close(self) -> None:
        """Stop every transfer and delete the temporary files nobody claimed."""
        self.cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            leftovers = [(n, f) for n, f in self._futures.items() if n not in self._taken]
        for _name, future in leftovers:
            if future.done() and not future.cancelled() and future.exception() is None:
                with contextlib.suppress(OSError):
                    future.result()[0].unlink()
