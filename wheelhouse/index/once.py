"""A result computed once per key however many threads ask for it at the same moment.

Kept apart from the HTTP transport so that code with no network of its own (the finder) can use it without
importing requests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

__all__ = ["OnceCache"]

T = TypeVar("T")
K = TypeVar("K")


class OnceCache(Generic[K, T]):
    """``compute()`` once per key across threads; later callers get the same result or error.

    With ``remember_errors`` False, an error reaches only the callers that waited for that computation: the next
    caller computes again.
    """

    def __init__(self, *, remember_errors: bool = True) -> None:
        self._lock = threading.Lock()
        self._futures: dict[K, Future[T]] = {}
        self._remember_errors = remember_errors

    def get(self, key: K, compute: Callable[[], T]) -> T:
        """The result of ``compute()`` for ``key``, computed by the first caller; the others wait for it."""
        with self._lock:
            future = self._futures.get(key)
            owner = future is None
            if future is None:
                future = Future()
                self._futures[key] = future
        if owner:
            try:
                future.set_result(compute())
            except Exception as exc:
                if not self._remember_errors:
                    with self._lock:
                        self._futures.pop(key, None)
                future.set_exception(exc)
            except BaseException as exc:
                # An interrupt is not an answer: forget it so a later call can try again.
                with self._lock:
                    self._futures.pop(key, None)
                future.set_exception(exc)
                raise
        return future.result()
