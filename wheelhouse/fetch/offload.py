"""Large transfers in a process of their own.

Why a process: Python's TLS hands a connection's bytes over one record (16 KiB) at a time, and each record is a
turn of the interpreter lock. While the resolver and the page readers keep that lock busy, a transfer thread
waits up to a switch interval (5 ms) for each record, so a 40 MB wheel crawled at a few MB/s beside a resolution
that had nothing to do with it. A child process has a lock of its own: its transfers run at the speed of the
link whatever the resolver does.

Contract: :class:`TransferProcess` fetches a file into a temporary path the caller chose, exactly as
:func:`wheelhouse.fetch.transfers.fetch_checked` does in this process (the same client configuration, retries,
sha256 check, the wheel's own METADATA check, flushed to disk), and returns the same answer or raises the same
error. The child is started at the first transfer and runs until :meth:`TransferProcess.close`; it reads
requests from its stdin and answers on its stdout, one JSON object per line. When the child cannot be started or
ends unexpectedly, :meth:`TransferProcess.fetch` answers None and the caller transfers in its own process: the
child is a speed-up, never a new way to fail. Ctrl-C is the parent's to handle: the child ignores it and stops
when its stdin closes, deleting the file it was writing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from wheelhouse import _log
from wheelhouse.dists import CoreMetadata, UnusableMetadata
from wheelhouse.errors import HashMismatchError, NetworkError, StoreError, WheelhouseError
from wheelhouse.index.config import IndexConfig
from wheelhouse.index.pages import RemoteFile

if TYPE_CHECKING:
    from wheelhouse.index.http import IndexClient

__all__ = ["TransferProcess"]

# How long a cancelled transfer may take to answer, and the child to end once told to, before it is killed.
_GRACE_SECONDS = 5.0
# How often the child tells a transfer's progress.
_PROGRESS_SECONDS = 0.1


class _Unavailable(Exception):
    """The child could not take the transfer (not started, or ended): the caller transfers in-process."""


def _config_from_json(data: dict[str, Any]) -> IndexConfig:
    def tuples(value: Any) -> Any:
        return tuple(tuples(v) for v in value) if isinstance(value, list) else value

    return IndexConfig(**{key: tuples(value) for key, value in data.items()})


class TransferProcess:
    """A child process that runs transfers in parallel, for a parent that waits for them without the lock."""

    def __init__(self, client: IndexClient, jobs: int) -> None:
        # The child fetches as ``client`` does (its configuration and back-off), and its requests count as the
        # client's: the run reports them all.
        self._client = client
        self._jobs = jobs
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._failed = False  # could not start, or ended: every later fetch is the caller's
        self._next_id = 0
        self._pending: dict[int, tuple[Future[tuple[str, CoreMetadata | None]], Callable[[int], None]]] = {}
        self._ready = threading.Event()  # the child said it reads requests
        self._requests_seen = 0
        self._reader: threading.Thread | None = None
        self._drainer: threading.Thread | None = None
        self._stderr: list[bytes] = []

    def prepare(self) -> None:
        """Start the child now, if it is not running (it takes a quarter of a second to import what it needs)."""
        with self._lock:
            if self._proc is None and not self._failed:
                with contextlib.suppress(_Unavailable):
                    self._start()

    def running(self) -> bool:
        """Whether the child has started and takes transfers, without starting it."""
        return self._ready.is_set() and not self._failed

    def ready(self, wait: float = 0.0) -> bool:
        """Whether the child has started and takes transfers (waiting up to ``wait`` seconds); it is started now
        if it was not. A transfer that finds it still starting is better done at once by the caller: on a fast
        link the largest files would otherwise wait for the child's start-up, and they bound the download."""
        self.prepare()
        # Failing sets the event too (see _fail_all): the answer is then False at once.
        return self._ready.wait(wait) and not self._failed

    def fetch(
        self, remote: RemoteFile, temp: Path, progress: Callable[[int], None], cancel: threading.Event
    ) -> tuple[str, CoreMetadata | None] | None:
        """``remote`` streamed into ``temp`` and checked by the child: its sha256 and, for a wheel, its own
        METADATA. None when the child cannot take it (the caller then transfers it itself).

        Raises what the in-process transfer raises (NetworkError, HashMismatchError, StoreError,
        UnusableMetadata), and :class:`~wheelhouse.fetch.transfers.Cancelled` once ``cancel`` is set.
        """
        from wheelhouse.fetch.transfers import Cancelled

        try:
            request_id, future = self._send_request(remote, temp, progress)
        except _Unavailable:
            return None
        told = False
        waited = 0.0
        while True:
            try:
                return future.result(timeout=0.1)
            except _Unavailable:
                return None
            except FutureTimeout:
                pass
            if cancel.is_set():
                if not told:
                    told = True
                    self._write({"cancel": request_id})
                waited += 0.1
                if waited >= _GRACE_SECONDS:
                    raise Cancelled from None

    def _send_request(
        self, remote: RemoteFile, temp: Path, progress: Callable[[int], None]
    ) -> tuple[int, Future[tuple[str, CoreMetadata | None]]]:
        with self._lock:
            if self._failed:
                raise _Unavailable
            if self._proc is None:
                self._start()
            request_id = self._next_id
            self._next_id += 1
            future: Future[tuple[str, CoreMetadata | None]] = Future()
            self._pending[request_id] = (future, progress)
        self._write(
            {
                "get": request_id,
                "filename": remote.filename,
                "url": remote.url,
                "sha256": remote.sha256,
                "size": remote.size,
                "dest": str(temp),
            }
        )
        return request_id, future

    def _start(self) -> None:
        """Start the child (called under the lock); on failure every transfer stays in this process."""
        # The child imports the very wheelhouse this process runs, wherever it was imported from.
        import wheelhouse

        env = dict(os.environ)
        root = str(Path(wheelhouse.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "wheelhouse.fetch.offload"],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except (OSError, ValueError) as exc:
            _log.debug(f"transfers stay in this process: the transfer process did not start ({exc})")
            self._fail_all()
            raise _Unavailable from None
        self._proc = proc
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stderr is not None
        # The configuration goes through the pipe, never the command line: its URLs may carry credentials.
        first = {
            "config": dataclasses.asdict(self._client.config),
            "jobs": self._jobs,
            "backoff": self._client.backoff,
            "max_wait": self._client.max_wait,
            "parent": os.getpid(),
        }
        try:
            proc.stdin.write(json.dumps(first).encode() + b"\n")
            proc.stdin.flush()
        except OSError:
            self._fail_all()
            raise _Unavailable from None
        self._reader = threading.Thread(target=self._read, args=(proc.stdout,), name="wheelhouse-offload", daemon=True)
        self._reader.start()
        self._drainer = threading.Thread(
            target=self._drain, args=(proc.stderr,), name="wheelhouse-offload-err", daemon=True
        )
        self._drainer.start()

    def _write(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode() + b"\n"
        with self._lock:
            proc = self._proc
            if proc is None or proc.stdin is None or self._failed:
                return
        # Not under the main lock: the reader thread needs it to hand out answers while a write waits.
        try:
            with self._write_lock:
                proc.stdin.write(data)
                proc.stdin.flush()
        except (OSError, ValueError):
            with self._lock:
                self._fail_all()

    def _drain(self, stream: IO[bytes]) -> None:
        # A child that fails says why on stderr; kept for the debug log instead of reaching the user's terminal.
        for line in stream:
            if len(self._stderr) < 200:
                self._stderr.append(line)

    def _read(self, stream: IO[bytes]) -> None:
        for line in stream:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            self._dispatch(message)
        with self._lock:
            self._fail_all()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("ready"):
            self._ready.set()
            return
        requests = message.get("requests")
        if isinstance(requests, int):
            with self._lock:
                delta = requests - self._requests_seen
                self._requests_seen = max(self._requests_seen, requests)
            if delta > 0:
                self._client.count_requests(delta)
        request_id = message.get("id")
        if not isinstance(request_id, int):
            return
        with self._lock:
            entry = self._pending.get(request_id)
            if entry is not None and "progress" not in message:
                del self._pending[request_id]
        if entry is None:
            return
        future, progress = entry
        if "progress" in message:
            # The parent's callback raises when the run is cancelled; the cancel request already says so.
            with contextlib.suppress(Exception):
                progress(int(message["progress"]))
            return
        if "done" in message:
            with contextlib.suppress(Exception):
                progress(int(message.get("received", 0)))
            meta = message.get("metadata")
            future.set_result((str(message["done"]), CoreMetadata(**_tuples(meta)) if meta else None))
            return
        future.set_exception(_error(message))

    def _fail_all(self) -> None:
        """The child is gone (called under the lock): whatever it was doing, the callers do themselves."""
        if not self._failed and self._stderr:
            text = b"".join(self._stderr).decode(errors="replace").strip().splitlines()
            _log.debug(f"the transfer process ended: {text[-1] if text else 'no message'}")
        self._failed = True
        self._ready.set()  # whoever waits for the start hears that it will not come (ready() says False)
        pending, self._pending = self._pending, {}
        for future, _progress in pending.values():
            if not future.done():
                future.set_exception(_Unavailable())

    def close(self) -> None:
        """Stop the child: it cancels what it still does and ends (killed if it does not, in time)."""
        with self._lock:
            proc = self._proc
            self._failed = True
            asked = self._next_id > 0
        if proc is None:
            return
        if not asked:
            # Started ahead, never used: nothing of its own to clean up, and no reason to wait for its start-up.
            proc.kill()
        with self._write_lock, contextlib.suppress(OSError, ValueError):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            proc.wait(timeout=_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for thread in (self._reader, self._drainer):
            if thread is not None:
                thread.join(timeout=_GRACE_SECONDS)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        with self._lock:
            self._fail_all()


def _tuples(meta: dict[str, Any]) -> dict[str, Any]:
    return {key: tuple(value) if isinstance(value, list) else value for key, value in meta.items()}


def _error(message: dict[str, Any]) -> BaseException:
    """The parent's exception for an error the child reported, the one the in-process transfer would raise."""
    from wheelhouse.fetch.transfers import Cancelled

    kind = message.get("error")
    text = str(message.get("message", ""))
    hint = message.get("hint") if isinstance(message.get("hint"), str) else None
    if kind == "cancelled":
        return Cancelled()
    if kind == "hash":
        return HashMismatchError(str(message["url"]), str(message["expected"]), str(message["actual"]))
    if kind == "metadata":
        return UnusableMetadata(text, hint=hint)
    if kind == "store":
        return StoreError(text, hint=hint)
    if kind == "network":
        return NetworkError(text, hint=hint)
    return _Unavailable(text)  # anything else: the parent tries the transfer itself


def _child() -> int:
    """The child's loop: requests in on stdin, answers out on stdout, until stdin closes."""
    from wheelhouse.fetch.transfers import Cancelled, fetch_checked
    from wheelhouse.index.http import IndexClient

    with contextlib.suppress(ValueError, OSError):  # not the main thread, or no such signal: nothing to ignore
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        first = json.loads(stdin.readline())
        jobs = max(1, int(first["jobs"]))
        config = _config_from_json(first["config"])
        backoff, max_wait = float(first.get("backoff", 0.5)), float(first.get("max_wait", 30.0))
    except (ValueError, TypeError, KeyError, AttributeError):
        # Run by hand, or fed something else: one line, not a traceback.
        sys.stderr.write(
            "wheelhouse.fetch.offload: the transfer process of a download, not a command: it reads its"
            " configuration from the download that starts it\n"
        )
        return 2
    client = IndexClient(config, jobs=jobs, backoff=backoff, max_wait=max_wait)
    out_lock = threading.Lock()
    cancelled: set[int] = set()
    stopping = threading.Event()
    parent = first.get("parent")

    def orphaned() -> bool:
        # A parent killed outright (kill -9) cannot say stop; its requests still queued here must not be sent.
        # On POSIX a dead parent's child is adopted by another process at once.
        return os.name == "posix" and isinstance(parent, int) and os.getppid() != parent

    def send(message: dict[str, Any]) -> None:
        data = json.dumps(message).encode() + b"\n"
        with out_lock, contextlib.suppress(OSError, ValueError):
            stdout.write(data)
            stdout.flush()

    def run(request: dict[str, Any]) -> None:
        request_id = int(request["get"])

        said = [0.0, 0]  # when progress was last said, and the bytes received so far

        def progress(received: int) -> None:
            if stopping.is_set() or request_id in cancelled or orphaned():
                raise Cancelled
            said[1] = received
            # Every record would be a line for the parent to read, under the lock this process exists to spare.
            now = time.monotonic()
            if now - said[0] >= _PROGRESS_SECONDS:
                said[0] = now
                send({"id": request_id, "progress": received})

        if stopping.is_set() or request_id in cancelled or orphaned():
            send({"id": request_id, "error": "cancelled"})
            return

        remote = RemoteFile(
            filename=str(request["filename"]), url=str(request["url"]), sha256=request["sha256"], size=request["size"]
        )
        answer: dict[str, Any] = {"id": request_id}
        try:
            sha, meta = fetch_checked(client, remote, Path(request["dest"]), progress)
        except Cancelled:
            answer.update(error="cancelled")
        except HashMismatchError as exc:
            answer.update(error="hash", url=exc.url, expected=exc.expected, actual=exc.actual)
        except UnusableMetadata as exc:
            answer.update(error="metadata", message=exc.message, hint=exc.hint)
        except StoreError as exc:
            answer.update(error="store", message=exc.message, hint=exc.hint)
        except WheelhouseError as exc:
            answer.update(error="network", message=exc.message, hint=exc.hint)
        except Exception as exc:  # the parent retries in its own process, where the error is reported properly
            answer.update(error="internal", message=f"{type(exc).__name__}: {exc}")
        else:
            answer.update(done=sha, received=said[1], metadata=dataclasses.asdict(meta) if meta is not None else None)
        answer["requests"] = client.request_count
        send(answer)

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="wheelhouse-offload")
    send({"ready": True})
    for line in stdin:
        message = json.loads(line)
        if "get" in message:
            pool.submit(run, message)
        elif "cancel" in message:
            cancelled.add(int(message["cancel"]))
    # stdin closed: the parent is done with us (or gone). What still runs stops at its next chunk of bytes.
    stopping.set()
    pool.shutdown(wait=True, cancel_futures=True)
    client.close()
    return 0


if __name__ == "__main__":
    # The child exits without the interpreter's teardown, as the command line does: nothing is left to flush.
    code = _child()
    sys.stdout.flush()
    os._exit(code)
