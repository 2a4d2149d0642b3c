"""Transfers into the folder's temporary area, started the moment a file is likely to be needed.

Contract: :class:`Transfers` streams each file once (a second ``start`` of the same name returns the same
future) into ``.wheelhouse/tmp/``, verified against the index's sha256 by the client and flushed to disk; a
wheel whose own METADATA cannot be read or names another release than its file name fails its transfer. It
never touches wheels/ itself: a finished transfer's temporary file belongs to whoever takes it
(:meth:`Transfers.take`; the commit, see :mod:`wheelhouse.fetch.commit`); :meth:`Transfers.close` stops the rest
and deletes every temporary file nobody took. A transfer may be reserved (:meth:`Transfers.claim`) and run by the
first thread that needs it (:meth:`Transfers.run_claimed`) rather than by the pool; each wheel's own METADATA,
read by that check, is kept (:meth:`Transfers.metadata`) for whoever would otherwise open the wheel again.
Files of :data:`OFFLOAD_MIN_BYTES` and more from an HTTP index start a child process
(:mod:`wheelhouse.fetch.offload`) running the same :func:`fetch_checked`, which streams them once it has started
(a large file that finds it still starting is transferred here), and every smaller file from an HTTP index while
it runs; the pool's thread waits for it. Transfers waiting for a worker of
the pool run largest first.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, wait
from pathlib import Path
from typing import TYPE_CHECKING

from wheelhouse.dists import CoreMetadata, UnusableMetadata
from wheelhouse.fetch.offload import TransferProcess
from wheelhouse.fetch.pools import started_pool
from wheelhouse.store.folder import Store
from wheelhouse.store.fs import fsync_file
from wheelhouse.store.metadata import MetadataProblem, read_wheel_metadata

if TYPE_CHECKING:
    from wheelhouse.index.http import IndexClient
    from wheelhouse.index.pages import RemoteFile


# Files at least this large are worth starting a child process for: their many TLS records are where waiting
# for the interpreter lock costs most (see wheelhouse.fetch.offload). Once it runs, smaller files go there too:
# each one's requests, records, hashing and writes would otherwise take the lock from the resolver.
OFFLOAD_MIN_BYTES = 1024 * 1024


# How long a large file's transfer waits for the transfer process to start before it runs here instead (the
# tests wait for it, to see the process at work).
OFFLOAD_READY_WAIT = 0.0


def _over_http(remote: RemoteFile) -> bool:
    return remote.url.startswith(("https://", "http://"))


def _worth_offloading(remote: RemoteFile) -> bool:
    return _over_http(remote) and (remote.size or 0) >= OFFLOAD_MIN_BYTES


class Cancelled(Exception):
    """Raised inside a worker's progress callback to abort its stream when the run is interrupted."""


def _check_own_metadata(temp: Path, filename: str) -> CoreMetadata:
    """Refuse a wheel whose own METADATA cannot be read or names another project or version than its file name;
    the metadata otherwise.

    The resolver trusted the index's copy of the metadata (PEP 658, or the wheel's as the index served it then);
    what lands in the folder must be what pip will read, and the folder's scan would only report it afterwards.
    """
    try:
        return read_wheel_metadata(temp, filename)
    except MetadataProblem as exc:
        # The message follows the file's name wherever a failed file is reported.
        raise UnusableMetadata(f"refused, not added to the folder: {exc}") from None


def fetch_checked(
    client: IndexClient, remote: RemoteFile, temp: Path, progress: Callable[[int], None]
) -> tuple[str, CoreMetadata | None]:
    """``remote`` streamed into ``temp``, verified by the client, its own METADATA checked when it is a wheel,
    and flushed to disk: its sha256 and that METADATA. ``temp`` is deleted on any failure."""
    try:
        sha = client.download(remote, temp, on_progress=progress)
        meta = _check_own_metadata(temp, remote.filename) if remote.filename.endswith(".whl") else None
        # Flushed here, in parallel, so that committing in the main thread costs a rename.
        fsync_file(temp)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    return sha, meta


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
        self._metadata: dict[str, CoreMetadata] = {}  # each finished wheel's own, checked METADATA
        # Transfers reserved by claim(), whichever thread runs them, and those not started yet.
        self._here: list[Future[tuple[Path, str]]] = []
        self._unstarted: dict[str, Future[tuple[Path, str]]] = {}
        self._pool = started_pool(max(1, jobs), "wheelhouse-download")
        # Transfers waiting for a worker, largest first (see _queue).
        self._waiting: list[tuple[int, int, Future[tuple[Path, str]], str, RemoteFile]] = []
        self._order = itertools.count()
        # Large files from a remote index are streamed by a child process (see wheelhouse.fetch.offload), unless
        # the client was given a session of its own (which a child could not share).
        self._offload = (
            TransferProcess(client, max(1, jobs))
            # With one core, a second process only takes turns with this one.
            if client.can_offload and (os.cpu_count() or 1) > 1
            else None
        )

    def start(self, filename: str, remote: RemoteFile) -> Future[tuple[Path, str]]:
        """The transfer of ``filename`` (started now unless it already runs)."""
        with self._lock:
            future = self._futures.get(filename)
            if future is None:
                future = self._futures[filename] = Future()
                unstarted: Future[tuple[Path, str]] | None = future
            else:
                unstarted = self._unstarted.pop(filename, None)
        if unstarted is not None:
            self._queue(unstarted, filename, remote)
        return future

    def _queue(self, future: Future[tuple[Path, str]], filename: str, remote: RemoteFile) -> None:
        """Run the transfer in the pool, the largest waiting file first: the largest files bound the download's
        time, and the resolver pins small files by the dozen before the speculation has found the large ones."""
        with self._lock:
            heapq.heappush(self._waiting, (-(remote.size or 0), next(self._order), future, filename, remote))
        self._pool.submit(self._run_largest)

    def _run_largest(self) -> None:
        with self._lock:
            if not self._waiting:
                return
            _size, _order, future, filename, remote = heapq.heappop(self._waiting)
        self._run(future, filename, remote)

    @staticmethod
    def _offloads(remote: RemoteFile, offload: TransferProcess) -> bool:
        """Whether the transfer process streams ``remote``: a large file starts it (or, while it starts, is
        streamed here at once); a small one goes there only when it already runs."""
        if _worth_offloading(remote):
            return offload.ready(OFFLOAD_READY_WAIT)
        return _over_http(remote) and offload.running()

    def prepare(self, remote: RemoteFile) -> None:
        """``remote`` is likely to be transferred soon: start what takes a while to start (the transfer process,
        when the file would go there)."""
        if self._offload is not None and _worth_offloading(remote):
            self._offload.prepare()

    def claim(self, filename: str) -> Future[tuple[Path, str]] | None:
        """Reserve the transfer of ``filename`` without starting it; None when it is started or reserved already.

        The reserved transfer runs in the thread that first calls :meth:`run_claimed` (a reader that needs the
        file now, for its metadata: see :meth:`metadata`, must not queue behind the long transfers of the pool),
        or in the pool when :meth:`start` asks for it first.
        """
        with self._lock:
            if filename in self._futures:
                return None
            future: Future[tuple[Path, str]] = Future()
            self._futures[filename] = future
            self._unstarted[filename] = future
            self._here.append(future)
        return future

    def run_claimed(self, filename: str, remote: RemoteFile) -> None:
        """Run the reserved transfer of ``filename`` in this thread, unless it runs (or ran) already."""
        with self._lock:
            future = self._unstarted.pop(filename, None)
        if future is not None:
            self._run(future, filename, remote)

    def _run(self, future: Future[tuple[Path, str]], filename: str, remote: RemoteFile) -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(self._fetch(filename, remote))
            except BaseException as exc:  # the outcome is the future's: whoever waits for it sees the error
                future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise  # Ctrl-C in the thread that ran it (the resolver's) interrupts the run, not only this file

    def metadata(self, filename: str) -> CoreMetadata | None:
        """The own METADATA of the wheel ``filename`` once its transfer succeeded (checked against its name)."""
        with self._lock:
            return self._metadata.get(filename)

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
            answer = None
            if self._offload is not None and self._offloads(remote, self._offload):
                answer = self._offload.fetch(remote, temp, progress, self.cancel)
            if answer is None:
                if self.cancel.is_set():
                    raise Cancelled
                answer = fetch_checked(self.client, remote, temp, progress)
            sha, meta = answer
            if self.cancel.is_set():
                raise Cancelled
            if meta is not None:
                with self._lock:
                    self._metadata[filename] = meta
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        return temp, sha

    def close(self) -> None:
        """Stop every transfer and delete the temporary files nobody claimed."""
        self.cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._offload is not None:
            self._offload.close()
        with self._lock:
            waiting = [entry[2] for entry in self._waiting]
            self._waiting.clear()
            here = list(self._here)
            self._unstarted.clear()
        for future in (*waiting, *here):
            if future.cancel():  # queued or reserved, and never run: nobody will
                future.set_running_or_notify_cancel()
        # Reserved transfers running in other threads end at their next chunk now; until then their files are
        # theirs. (The pool's own cancelled futures are not waited for: wait() never counts them as done.)
        wait(here)
        with self._lock:
            leftovers = [(n, f) for n, f in self._futures.items() if n not in self._taken]
        for _name, future in leftovers:
            if future.done() and not future.cancelled() and future.exception() is None:
                with contextlib.suppress(OSError):
                    future.result()[0].unlink()
