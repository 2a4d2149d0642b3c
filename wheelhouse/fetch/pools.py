"""Worker threads for a download: started before they are needed, and a pool that runs the most urgent task first.

Contract: :func:`started_pool` returns an ordinary :class:`~concurrent.futures.ThreadPoolExecutor` whose workers
all run already; :class:`PriorityPool` runs fire-and-forget tasks by priority on daemon threads, ignores every
task's failure (a task reports through its own side effects), and drops what has not started when shut down.
Neither knows about wheels, indexes or the folder.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor


def started_pool(workers: int, name: str) -> ThreadPoolExecutor:
    """A thread pool whose threads all run already.

    A pool starts a thread on a submit that finds none idle, and starting one means waiting for the interpreter
    lock twice; once the workers are busy parsing and hashing, each such wait lasts up to a switch interval. Started
    now, while nothing else runs, they cost a fraction of a millisecond each.
    """
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    everyone = threading.Barrier(workers + 1)
    for _ in range(workers):
        pool.submit(everyone.wait, 5.0)
    with contextlib.suppress(threading.BrokenBarrierError):
        everyone.wait(5.0)
    return pool


class PriorityPool:
    """Worker threads, all started at once, that take the most urgent task first (the lowest priority tuple;
    in submission order among equals). Fire and forget: a task's result and errors are its own business."""

    def __init__(self, workers: int, name: str) -> None:
        self._queue: queue.PriorityQueue[tuple[tuple[int, ...], int, Callable[[], object] | None]]
        self._queue = queue.PriorityQueue()
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._closed = False
        # Daemon threads: their work only warms caches, so an exit need not wait for a slow speculative request.
        self._threads = [threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[[], object], priority: tuple[int, ...]) -> bool:
        """Queue ``fn``; False (and nothing queued) once the pool is shut down."""
        with self._lock:
            if self._closed:
                return False
            self._queue.put((priority, next(self._order), fn))
        return True

    def shutdown(self, *, wait: bool = False) -> None:
        """Drop the tasks not yet started; each worker ends after the task it is running (awaited with ``wait``)."""
        with self._lock:
            self._closed = True
            with contextlib.suppress(queue.Empty):
                while True:
                    self._queue.get_nowait()
                    self._queue.task_done()
            for _ in self._threads:
                self._queue.put(((sys.maxsize, 0), next(self._order), None))
        if wait:
            for thread in self._threads:
                thread.join()

    def join(self) -> None:
        """Wait until every task queued so far has run."""
        self._queue.join()

    def _work(self) -> None:
        while True:
            _priority, _order, fn = self._queue.get()
            try:
                if fn is None:
                    return
                fn()
            except BaseException:
                # Ignored, even a KeyboardInterrupt: that reaches a worker only as another thread's outcome (a
                # page the interrupted main thread was fetching), and the main thread reports it.
                pass
            finally:
                self._queue.task_done()
