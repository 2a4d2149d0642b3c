"""Core metadata of sdist candidates during resolution (the finder that adds it to another finder is
:mod:`wheelhouse.build.finder`).

Contract: an sdist the resolver considers is kept in ``wheels/.wheelhouse/sdists/`` (where ``pip --find-links
wheels`` does not look; a local sdist stays where it is), downloaded at most once and verified by its sha256.
Its metadata comes from a trusted ``PKG-INFO`` (``build.archive.static_metadata``), else from the PEP 517
``prepare_metadata_for_build_wheel`` hook, run by ``pip install --dry-run --report`` in an isolated environment
through the injected runner. A hook that fails is remembered as a :class:`~wheelhouse.build.model.BuildFailure`
and answered with metadata that has no dependencies, so the other packages resolve and the build stage reports
this one. Each sdist is asked once per run; the object is thread-safe.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import tempfile
import threading
from collections.abc import Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name, parse_wheel_filename

from wheelhouse._proc import Runner, RunResult, subprocess_runner
from wheelhouse.build.archive import same_release, sdist_stem, static_metadata
from wheelhouse.build.finder import Fetch
from wheelhouse.build.frontend import build_here
from wheelhouse.build.interpreters import find_interpreter
from wheelhouse.build.logs import log_tail, start_log
from wheelhouse.build.memo import BuildMemo, Remembered
from wheelhouse.build.model import BuildFailure, BuildOptions
from wheelhouse.build.pip_options import default_cache_dir, folder_links, pip_environment
from wheelhouse.build.plan import Place, host_incompatibility, this_machine
from wheelhouse.dists import CoreMetadata, DistFile
from wheelhouse.errors import StoreError, WheelhouseError
from wheelhouse.store.folder import Store
from wheelhouse.store.fs import file_sha256
from wheelhouse.store.metadata import read_wheel_metadata
from wheelhouse.targets import Target

if TYPE_CHECKING:
    from wheelhouse.index.config import IndexConfig

__all__ = ["SdistMetadata"]


class SdistMetadata:
    """Keeps sdists in the folder and answers their core metadata, once per file per run (thread-safe)."""

    def __init__(
        self,
        store: Store,
        config: IndexConfig | None,
        options: BuildOptions | None = None,
        *,
        runner: Runner = subprocess_runner,
        build_wheels: bool = False,
        targets: Sequence[Target] = (),
    ) -> None:
        self.store = store
        self.config = config
        self.options = options or BuildOptions()
        self.runner = runner
        # Learn the metadata by building the wheel on this machine, which the build stage then reuses: one
        # build environment and one subprocess per sdist instead of two. Off for a dry run (it builds nothing)
        # and with --build-in docker (no wheel built here is used).
        self.build_wheels = build_wheels and self.options.build_in != "docker"
        self.memo = BuildMemo(store)
        self.targets = tuple(targets)
        self._place: Place | None = None
        self.failures: dict[str, BuildFailure] = {}
        self.built: set[str] = set()  # sdists a build ran for in this run (not remembered from an earlier one)
        self._cache: dict[str, CoreMetadata] = {}
        self._lock = threading.Lock()
        self._file_locks: dict[str, threading.Lock] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._ahead: dict[str, Future[None]] = {}

    def path(self, dist: DistFile) -> Path:
        """Where the sdist is kept (a local sdist stays where it is)."""
        return Path(dist.location) if dist.local else self.store.sdist_dir / dist.filename

    def keep(self, dist: DistFile, fetch: Fetch | None) -> Path:
        """The kept copy of ``dist``, downloading it (sha256-verified by ``fetch``) when it is not there yet."""
        path = self.path(dist)
        if path.is_file() and (dist.local or dist.sha256 is None or file_sha256(path) == dist.sha256):
            return path
        if fetch is None:
            raise StoreError(f"{dist.filename} is not in {self.store.sdist_dir}")
        self.store.ensure()
        temp = self.store.new_temp(dist.filename)
        try:
            fetch(dist, temp)
            return self.store.keep_sdist(temp, dist.filename)
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()

    def metadata(self, dist: DistFile, fetch: Fetch | None) -> CoreMetadata:
        """Core metadata of the sdist ``dist``: trusted PKG-INFO, else the prepare-metadata hook.

        A hook that fails is remembered in :attr:`failures` (with its log) and answered with metadata that has
        no dependencies, so the other packages resolve and the build stage reports this one.
        """
        with self._lock:
            cached = self._cache.get(dist.filename)
            file_lock = self._file_locks.setdefault(dist.filename, threading.Lock())
        if cached is not None:
            return cached
        with file_lock:  # one computation per file, whether the resolver or a build ahead asks first
            with self._lock:
                cached = self._cache.get(dist.filename)
            return cached if cached is not None else self._metadata(dist, fetch)

    def _metadata(self, dist: DistFile, fetch: Fetch | None) -> CoreMetadata:
        meta: CoreMetadata | None = None
        try:
            path = self.keep(dist, fetch)
            meta = static_metadata(path, dist)
            if meta is None:
                meta = self._prepare(path, dist)
        except WheelhouseError as exc:
            # A download that failed after its retries: this package cannot be built, the others carry on.
            self.failures[dist.filename] = BuildFailure("failed", (), f"cannot keep {dist.filename}: {exc}")
        except ValueError as exc:
            self.failures[dist.filename] = BuildFailure("failed", (), f"cannot read {dist.filename}: {exc}")
        if meta is None:
            meta = CoreMetadata(name=str(dist.name), version=str(dist.version))
        with self._lock:
            self._cache[dist.filename] = meta
        return meta

    def _prepare(self, path: Path, dist: DistFile) -> CoreMetadata | None:
        """Run ``prepare_metadata_for_build_wheel`` through pip (isolated build environment, nothing installed),
        or build the wheel and read its METADATA when the build stage may reuse it."""
        log = self.store.meta_dir / "logs" / f"{sdist_stem(dist.filename)}.metadata.log"
        if self.build_wheels:
            return self._build(path, dist, log, record_failure=True)
        with tempfile.TemporaryDirectory(prefix="wheelhouse-metadata-") as work:
            report = Path(work) / "report.json"
            argv = [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--no-deps",
                "--ignore-installed",
                "--ignore-requires-python",
                "--report",
                str(report),
                *(() if self.options.isolation else ("--no-build-isolation",)),
                str(path),
            ]
            start_log(log, argv, f"preparing the metadata of {dist.filename}")
            env = pip_environment(
                self.config,
                cache_dir=self.options.cache_dir or default_cache_dir(),
                find_links=folder_links(self.store.root),
            )
            try:
                result = self.runner(argv, env=env, output=log, timeout=self.options.timeout)
            except OSError as exc:
                result = RunResult(127, "", str(exc))
            meta, problem = _report_metadata(report, dist) if result.returncode == 0 else (None, None)
        if meta is not None:
            return meta
        reason = problem or f"preparing its metadata failed (exit status {result.returncode})"
        self.failures[dist.filename] = BuildFailure("failed", (), reason, str(log), log_tail(log))
        return None

    # -- building ahead of the build stage ---------------------------------------------------------------------

    def ahead(self, dist: DistFile, fetch: Fetch | None) -> None:
        """Start keeping and building the sdist ``dist`` in the background (bounded by jobs and cores).

        The resolver asks for a project's metadata only when it pins it, one project after another; a project
        that publishes only sdists will almost surely be built, so its build starts as soon as its files are
        listed. The build stage then finds the wheel remembered instead of building it after everything else.
        """
        if not self.build_wheels:
            return
        with self._lock:
            if dist.filename in self._ahead or dist.filename in self._cache:
                return
            if self._pool is None:
                workers = max(1, min(self.options.jobs, os.cpu_count() or 1))
                self._pool = ThreadPoolExecutor(workers, thread_name_prefix="wheelhouse-sdist")
            self._ahead[dist.filename] = self._pool.submit(self._build_ahead, dist, fetch)

    def _build_ahead(self, dist: DistFile, fetch: Fetch | None) -> None:
        self.metadata(dist, fetch)
        path = self.path(dist)
        if dist.filename in self.failures or not path.is_file():
            return
        # Static metadata answered the resolver at once; the wheel is built now all the same (a dynamic one was
        # built for its metadata, and the memo answers this call).
        log = self.store.meta_dir / "logs" / f"{sdist_stem(dist.filename)}.{self.place().label}.log"
        with contextlib.suppress(OSError, ValueError, WheelhouseError):
            self._build(path, dist, log, record_failure=False)

    def place(self) -> Place:
        """Where builds for metadata run: this machine with the interpreter of a target that can use the result
        (wheelhouse's own when a target runs its Python, else the first target's Python found here)."""
        with self._lock:
            if self._place is None:
                self._place = Place()
                host = this_machine()
                fitting = [t for t in self.targets if host_incompatibility(t, host, any_python=True) is None]
                if fitting and not any(t.python_version == tuple(sys.version_info[:2]) for t in fitting):
                    for target in fitting:
                        found = find_interpreter(target, self.runner, os.environ)
                        if found is not None:
                            self._place = Place(python=found.path, python_version=found.version)
                            break
            return self._place

    def finish(self, needed: Collection[str]) -> None:
        """Drop the builds ahead that have not started and that the plan does not need; wait for the others."""
        with self._lock:
            pool, ahead = self._pool, dict(self._ahead)
        for filename, future in ahead.items():
            if filename not in needed:
                future.cancel()
        if pool is not None:
            pool.shutdown(wait=True)

    def _build(self, path: Path, dist: DistFile, log: Path, *, record_failure: bool) -> CoreMetadata | None:
        """The metadata of the wheel built here from ``path`` (remembered for the build stage), or None."""
        sha256 = file_sha256(path)
        place = self.place()
        key = place.memo_key(this_machine())
        remembered = self.memo.get(sha256, key)
        if remembered is not None:
            if remembered.failure is None:
                wheel = self.memo.wheel_path(sha256, remembered)
                if wheel is not None:
                    try:
                        return read_wheel_metadata(wheel)
                    except ValueError:
                        pass
            elif not self.options.retry_failed or dist.filename in self.built:
                if record_failure:
                    reason = f"{remembered.failure} {place}"
                    if dist.filename not in self.built:
                        reason += " in an earlier run, and is not tried again until --retry-builds"
                    self.failures[dist.filename] = BuildFailure("failed", (), reason, remembered.log, remembered.tail)
                return None
        flags = ["wheel", "--no-deps", "--ignore-requires-python"]
        if not self.options.isolation:
            flags.append("--no-build-isolation")
        pip = [place.python or sys.executable, "-m", "pip"]
        command = shlex.join([*pip, *flags, "--wheel-dir", str(self.store.root), str(path)])
        with self._lock:
            self.built.add(dist.filename)
        with tempfile.TemporaryDirectory(prefix="wheelhouse-metadata-") as work:
            argv = [*pip, *flags, "--wheel-dir", work, str(path)]
            why = "for its metadata" if record_failure else "ahead of the build stage"
            start_log(log, argv, f"building {dist.filename} {place}, {why}")
            cache_dir = self.options.cache_dir or default_cache_dir()
            env = pip_environment(self.config, cache_dir=cache_dir, find_links=folder_links(self.store.root))
            result = build_here(
                argv,
                path,
                Path(work),
                isolation=self.options.isolation,
                cache=cache_dir.parent / "build-envs",
                env=env,
                folder=self.store.root,
                runner=self.runner,
                log=log,
                timeout=self.options.timeout,
            )
            wheels = sorted(Path(work).glob("*.whl"))
            meta: CoreMetadata | None = None
            problem: str | None
            if result.returncode != 0:
                problem = f"the build failed (exit status {result.returncode})"
            elif len(wheels) != 1:
                problem = f"the build left {len(wheels)} wheels instead of one"
            else:
                try:
                    meta = read_wheel_metadata(wheels[0])
                    problem = None if same_release(meta, dist) else f"the wheel built from {dist.filename} is not it"
                except ValueError as exc:
                    problem = f"the built wheel is unusable: {exc}"
            if meta is not None and problem is None:
                tags = tuple(sorted(str(t) for t in parse_wheel_filename(wheels[0].name)[3]))
                entry = Remembered(command, str(log), wheels[0].name, tags, meta.requires_python)
                self.memo.remember(sha256, key, entry, wheels[0])
                return meta
        tail = log_tail(log)
        self.memo.remember(sha256, key, Remembered(command, str(log), failure=problem, tail=tail))
        if record_failure:
            reason = f"{problem or 'the build failed'} {place}"
            self.failures[dist.filename] = BuildFailure("failed", (), reason, str(log), tail)
        return None


def _report_metadata(report: Path, dist: DistFile) -> tuple[CoreMetadata | None, str | None]:
    """The metadata pip's installation report (``--report``) gives for the one sdist it prepared."""
    try:
        data = json.loads(report.read_bytes())
        raw = data["install"][0]["metadata"]
        meta = CoreMetadata(
            name=str(raw["name"]),
            version=str(raw["version"]),
            requires_dist=tuple(str(r) for r in raw.get("requires_dist") or ()),
            requires_python=str(raw["requires_python"]) if raw.get("requires_python") else None,
            provides_extra=tuple(str(canonicalize_name(str(e))) for e in raw.get("provides_extra") or ()),
        )
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        return None, f"pip's report on {dist.filename} is unusable ({type(exc).__name__}: {exc})"
    if not same_release(meta, dist):
        return None, f"the metadata of {dist.filename} says {meta.name} {meta.version}"
    return meta, None
