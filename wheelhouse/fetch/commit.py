"""Committing finished transfers into the folder: the only way a downloaded file reaches wheels/.

Contract: :func:`commit_all` waits for every planned transfer (each checked against the index's sha256 and its
own METADATA by :mod:`~wheelhouse.fetch.transfers`), and moves each temporary file into the folder with
:meth:`Store.commit`, under the folder's lock: a rename, refused when a file of the same name holds other bytes
or when a wheel already present serves the same release for the same tags with other bytes
(:mod:`wheelhouse.store.shadow`). A file that fails is reported as a :class:`FailedFile`, naming why, and
leaves nothing in the folder. Provenance records are saved in batches while files keep arriving, and once at
the end, also when the run is interrupted: a committed file is never left without its record for longer than
a save gap.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path

from wheelhouse.errors import HashMismatchError, StoreError, WheelhouseError
from wheelhouse.fetch.model import DownloadPlan, DownloadReporter, FailedFile, PlannedFile
from wheelhouse.fetch.transfers import Transfers
from wheelhouse.store.folder import FileRecord, Store

# Least seconds between two manifest saves while files keep arriving (the last save comes when they stop).
_SAVE_GAP = 0.1


def commit_all(
    plan: DownloadPlan,
    store: Store,
    transfers: Transfers,
    reporter: DownloadReporter,
    sources: Sequence[str],
    all_started: Callable[[], None] | None = None,
) -> tuple[tuple[str, ...], tuple[FailedFile, ...], int]:
    """Finish every planned transfer (most already run), commit each verified file, then record them all.

    ``all_started`` is called once every transfer has been started (work that can wait until then).
    """
    if not plan.fetch:
        return (), (), 0
    downloaded: list[str] = []
    failed: list[FailedFile] = []
    records: dict[str, FileRecord] = {}
    futures: dict[Future[tuple[Path, str]], PlannedFile] = {}
    try:
        # Largest first: the long transfers start early and the pool drains evenly. Started inside the try: a
        # Ctrl-C landing while the first workers start must cancel them too.
        for item in sorted(plan.fetch, key=lambda f: -(f.size or 0)):
            reporter.file_started(item)
            transfers.listen(item.filename, lambda n, item=item: reporter.file_progress(item, n))  # type: ignore[misc]
            futures[transfers.start(item.filename, item.remote)] = item
        if all_started is not None:
            all_started()
        pending: set[Future[tuple[Path, str]]] = set(futures)
        saved = time.monotonic()
        while pending:
            done, pending = wait(pending, timeout=0)
            if not done:
                # About to block on slow transfers: save what is committed so far. Each save rewrites the
                # manifest, so bursts of completions share one write (at most one per _SAVE_GAP), yet a long
                # wait never leaves committed files without their records.
                if records and time.monotonic() - saved >= _SAVE_GAP:
                    _save_records(store, records, failed, transfers)
                    saved = time.monotonic()
                done, pending = wait(pending, timeout=_SAVE_GAP if records else None, return_when=FIRST_COMPLETED)
            for future in done:
                _finish(future, futures[future], store, transfers, reporter, sources, records, downloaded, failed)
    except BaseException:
        # Ctrl-C (or any crash): stop every stream at its next chunk. Committed files are complete and verified
        # and their records are saved below; partial ones are deleted by their workers (or by the next run).
        transfers.close()
        _save_records(store, records, failed, transfers)
        raise
    _save_records(store, records, failed, transfers)
    total = sum(transfers.received.get(name, 0) for name in downloaded)
    return tuple(sorted(downloaded)), tuple(sorted(failed, key=lambda f: f.filename)), total


def _finish(
    future: Future[tuple[Path, str]],
    item: PlannedFile,
    store: Store,
    transfers: Transfers,
    reporter: DownloadReporter,
    sources: Sequence[str],
    records: dict[str, FileRecord],
    downloaded: list[str],
    failed: list[FailedFile],
) -> None:
    """Commit one finished transfer (its record joins the next batch), or note why it failed."""
    transfers.take(item.filename)
    try:
        temp, sha = future.result()
        try:
            if item.sha256 and sha != item.sha256:
                # The transfer of a file by this name may have been started for another entry of the page (an
                # index listing one name twice, with other bytes): what lands is the entry the plan chose.
                raise HashMismatchError(item.url, item.sha256, sha)
            record = FileRecord(
                sha256=sha, url=item.url, added=time.time(), targets=item.targets, sources=tuple(sources)
            )
            store.commit(temp, item.filename, record, save_record=False, synced=True)
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()
        records[item.filename] = record
        downloaded.append(item.filename)
        reporter.file_done(item)
    except WheelhouseError as exc:
        failed.append(FailedFile(item.filename, item.url, str(exc)))
        reporter.file_failed(item, exc)
    except OSError as exc:
        error = WheelhouseError(f"cannot write {item.filename}: {exc.strerror or exc}")
        failed.append(FailedFile(item.filename, item.url, str(error)))
        reporter.file_failed(item, error)


def _save_records(store: Store, records: dict[str, FileRecord], failed: list[FailedFile], transfers: Transfers) -> None:
    if not records:
        return
    # Each wheel's METADATA was read by its transfer (the check of its own metadata): the manifest takes it from
    # there instead of opening the wheel again in this thread.
    known = {name: meta for name in records if (meta := transfers.metadata(name)) is not None}
    try:
        store.sync()
        store.update_records(records, prime=True, known=known)
    except StoreError as exc:
        # The files are complete and verified; only their records are missing, and the next run adds them.
        for filename, record in records.items():
            failed.append(
                FailedFile(
                    filename, record.url or "", f"{filename} is in the folder, but its record was not saved: {exc}"
                )
            )
    records.clear()
