"""Building the sdists a resolution pinned into wheels, for each of their targets, and committing what fits.

A wheelhouse that claims "no internet needed" must hold a wheel for every package. Packages that publish only an
sdist (pip#4289) are therefore built here, and where they are built decides which targets the result may serve
(``build.plan``):

* **On this machine**, with an interpreter of the target's Python (``build.interpreters``): the sdist's backend
  in a build environment shared by sdists with the same build requirements (``build.frontend``), else
  ``python -m pip wheel --no-deps``; build requirements come from the folder or the configured index into
  wheelhouse's cache, never into ``wheels/``. The host build serves *host-compatible* targets: same OS,
  architecture and libc family as this machine, a Python of the target's minor installed here; a binary carries
  the glibc tag its ELF files need (``build.wheeltags``).
* **In a container** of the target's base image and platform (``docker run --platform ...``, ``build.containers``)
  for every other target, when a Docker engine answers.
* A pure-Python result (``py3-none-any``) serves every target, wherever it was built. A binary wheel built here
  never enters a foreign target's set; without Docker such a target stops with the exact command that builds the
  wheel elsewhere.

Contract: the sdist itself is kept in ``wheels/.wheelhouse/sdists/`` (where ``pip --find-links wheels`` does not
look), so a build can be repeated offline; logs go to ``wheels/.wheelhouse/logs/``. pip and Docker run only as
subprocesses through an injectable :class:`~wheelhouse._proc.Runner`; whether a build worked is judged from the
files it left, never from its output. One sdist failing never stops the others, and nothing of a failed build
reaches the folder; built wheels are committed atomically with a provenance record. Independent sdists build at
once (``BuildOptions.jobs``, never more than the cores); what a build gave is remembered (``build.memo``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from wheelhouse._proc import Runner, subprocess_runner
from wheelhouse.build.archive import build_requirements, sdist_stem
from wheelhouse.build.attempts import Workshop
from wheelhouse.build.containers import (
    DockerStatus,
    docker_wheel_command,
)
from wheelhouse.build.logs import start_log
from wheelhouse.build.model import BuildFailure, BuildOptions, BuildOutcome, BuildReporter, BuiltWheel, SdistBuild
from wheelhouse.build.plan import (
    Attempt,
    Place,
    SdistJob,
    base_image_for,
    glibc_notes,
    host_incompatibility,
)
from wheelhouse.errors import StoreError, WheelhouseError
from wheelhouse.store.folder import FileRecord, Store
from wheelhouse.store.fs import file_sha256
from wheelhouse.targets import Target

if TYPE_CHECKING:
    from wheelhouse.index.config import IndexConfig

__all__ = ["build_sdists"]


class _Builder:
    """Builds the sdists of one run; holds what they share (the host, Docker's status, pip's environment)."""

    def __init__(
        self,
        store: Store,
        config: IndexConfig | None,
        options: BuildOptions,
        runner: Runner,
        reporter: BuildReporter,
        sources: Sequence[str],
        environ: Mapping[str, str] | None,
    ) -> None:
        self.store = store
        self.options = options
        self.reporter = reporter
        self.sources = tuple(sources)
        self.shop = Workshop(store, config, options, runner, reporter, environ)
        self.host = self.shop.host
        self.memo = self.shop.memo

    # -- running -------------------------------------------------------------------------------------------

    # -- one build -----------------------------------------------------------------------------------------

    # -- one sdist -----------------------------------------------------------------------------------------

    def build(self, build: SdistBuild) -> BuildOutcome:
        """Every build one sdist needs: here for host-compatible targets (with an interpreter of each target's
        Python), in containers for the others; what an earlier run built or saw fail is not built again."""
        names = tuple(t.name for t in build.targets)
        failure = build.metadata_failure
        if failure is not None:
            failure = BuildFailure(failure.kind, names, failure.reason, failure.log, failure.tail, failure.command)
            return BuildOutcome(build.filename, build.name, build.version, failures=(failure,))
        sdist = Path(build.path) if build.path else self.store.sdist_dir / build.filename
        if not sdist.is_file():
            failure = BuildFailure("failed", names, f"{sdist} is missing")
            return BuildOutcome(build.filename, build.name, build.version, failures=(failure,))
        sha256 = file_sha256(sdist)
        with tempfile.TemporaryDirectory(prefix="wheelhouse-build-") as tmp:
            work = Path(tmp)
            job = SdistJob(build)
            attempts = self._plan_and_run(job, sdist, sha256, work)
            wheels, notes = self._commit_served(job, sdist, sha256)
            self._keep_unserved(attempts, job, sha256)
            build_deps: list[str] = []
            if self.options.keep_build_deps:
                for place in dict.fromkeys(a.place for a in job.served.values()):
                    try:
                        build_deps += self._keep_build_deps(build, sdist, work, place)
                    except WheelhouseError as exc:
                        notes.append(str(exc))
        return BuildOutcome(
            build.filename,
            build.name,
            build.version,
            wheels=wheels,
            failures=job.failures(),
            notes=tuple(notes),
            build_deps=tuple(dict.fromkeys(build_deps)),
        )

    def _remembered_pure(self, sha256: str) -> Attempt | None:
        """A pure wheel an earlier build of this sdist gave anywhere (it serves every target it fits)."""
        for key, entry in self.memo.all(sha256).items():
            if entry.failure is not None or not entry.tags or not all(t.endswith("-none-any") for t in entry.tags):
                continue
            wheel = self.memo.wheel_path(sha256, entry)
            if wheel is not None:
                platform, _, image = key.partition("@")
                place = Place(platform, image) if image else Place()
                tags = entry.tag_set()
                return Attempt(place, entry.command, Path(entry.log), wheel, tags, entry.requires_python, reused=True)
        return None

    def _plan_and_run(self, job: SdistJob, sdist: Path, sha256: str, work: Path) -> list[Attempt]:
        """Decide where each target's wheel is built, build each place at most once, and record the outcome."""
        build = job.build
        mode = self.options.build_in
        targets = list(build.targets)
        attempts: dict[Place, Attempt] = {}

        def run(place: Place, for_targets: Sequence[Target]) -> Attempt:
            if place not in attempts:
                attempts[place] = self.shop.attempt(build, sdist, sha256, work, place, for_targets)
            return attempts[place]

        # 0. A pure wheel built before (for metadata, or in an earlier run) serves every target it fits.
        pure = self._remembered_pure(sha256) if mode != "docker" else None
        if pure is not None:
            attempts[pure.place] = pure
            job.serve(pure, targets, binary_ok=())

        # 1. Host-compatible targets build here, with an interpreter of their Python. A pure result serves all.
        places = {t.name: self.shop.host_place(t) for t in targets if t.name not in job.served}
        host_ok = [name for name, place in places.items() if place is not None]
        groups: dict[Place, list[Target]] = {}
        for target in targets:
            place = places.get(target.name)
            if place is not None and target.name not in job.served:
                groups.setdefault(place, []).append(target)
        for place, group in groups.items():
            group = [t for t in group if t.name not in job.served]
            if not group:
                continue  # a pure wheel from an earlier place serves them
            attempt = run(place, group)
            if attempt.ok:
                job.serve(attempt, targets if attempt.pure else group, binary_ok=[t.name for t in group])
            else:
                job.failed(attempt, group)

        # 2. The other targets (and those a binary built here does not fit, such as an older glibc) build in their
        #    own image and platform, one container per (platform, image).
        foreign = [
            t
            for t in targets
            if t.name not in job.served
            and (t.name not in host_ok or (mode == "auto" and job.problems.get(t.name, _NONE).kind == "unfit"))
        ]
        docker = self.shop.docker() if foreign else DockerStatus(None, False, "")
        if foreign and docker.available:
            containers: dict[Place, list[Target]] = {}
            for target in foreign:
                place = Place(target.docker_platform, base_image_for(target, self.options.base_image))
                containers.setdefault(place, []).append(target)
            for place, group in containers.items():
                group = [t for t in group if t.name not in job.served]
                if group:  # else a pure wheel from an earlier container already serves them
                    attempt = run(place, group)
                    if attempt.ok:
                        job.serve(attempt, group, binary_ok=[t.name for t in group])
                    else:
                        job.failed(attempt, group)

        # 3. What is left (no Docker, or its build failed): a pure wheel built here serves any platform.
        pending = [t for t in foreign if t.name not in job.served and t.name not in host_ok]
        if not pending:
            return list(attempts.values())
        fallback = None
        if mode != "docker":
            fallback = next((a for a in attempts.values() if a.place.host and a.ok), None) or run(Place(), pending)
        if fallback is not None and fallback.ok and fallback.pure:
            job.serve(fallback, pending, binary_ok=())
            return list(attempts.values())
        if docker.available:
            return list(attempts.values())  # the container builds' own failures stand
        if fallback is None:
            why = "--build-in docker builds it in the target's image"
        elif fallback.ok:
            tags = ", ".join(sorted(str(t) for t in fallback.tags)[:3])
            why = f"built on this machine it is a binary wheel ({tags}), which must not serve another platform"
        else:
            why = f"the build on this machine failed too (log: {fallback.log})"
        for target in pending:
            image = base_image_for(target, self.options.base_image)
            reason = f"{host_incompatibility(target, self.host) or 'it must be built in its image'}; {why}; "
            reason += f"no Docker engine is available ({docker.detail})"
            command = docker_wheel_command(
                target.docker_platform, image, str(self.store.root), self.shop.relative(sdist)
            )
            job.problems[target.name] = BuildFailure("needs-docker", (target.name,), reason, command=command)
        return list(attempts.values())

    def _keep_unserved(self, attempts: Sequence[Attempt], job: SdistJob, sha256: str) -> None:
        """Keep aside the wheels no target took (a binary for a foreign target): the next run need not build it
        again to learn that it cannot serve."""
        served = {a.wheel for a in job.served.values()}
        for attempt in attempts:
            if attempt.ok and not attempt.reused and attempt.wheel not in served:
                assert attempt.wheel is not None
                entry = self.memo.get(sha256, attempt.place.memo_key(self.host))
                if entry is not None:
                    with contextlib.suppress(OSError):
                        self.memo.remember(sha256, attempt.place.memo_key(self.host), entry, attempt.wheel)

    # -- committing ----------------------------------------------------------------------------------------

    def _commit(self, wheel: Path, record: FileRecord) -> None:
        """Copy a finished wheel to the folder's temporary area, hash it, and commit it atomically."""
        temp = self.store.new_temp(wheel.name)
        try:
            shutil.copyfile(wheel, temp)
            record = dataclasses.replace(record, sha256=file_sha256(temp))
            self.store.commit(temp, wheel.name, record)
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()

    def _commit_served(self, job: SdistJob, sdist: Path, sha256: str) -> tuple[tuple[BuiltWheel, ...], list[str]]:
        """Commit each wheel that serves some target (a binary nobody may use is dropped), with its record."""
        by_attempt: dict[Path, tuple[Attempt, list[str]]] = {}
        for name, attempt in job.served.items():
            assert attempt.wheel is not None
            by_attempt.setdefault(attempt.wheel, (attempt, []))[1].append(name)
        build = job.build
        wheels: list[BuiltWheel] = []
        notes: list[str] = []
        for wheel, (attempt, names) in by_attempt.items():
            record = FileRecord(
                sha256="",
                url=build.url,
                added=time.time(),
                targets=tuple(sorted(names)),
                sources=self.sources,
                built_by=attempt.command,
                built_from=self.shop.relative(sdist),
            )
            try:
                self._commit(wheel, record)
            except StoreError as exc:
                for name in names:
                    job.problems[name] = BuildFailure("failed", (name,), str(exc), str(attempt.log))
                    del job.served[name]
                continue
            self.memo.drop_copy(sha256, wheel.name)
            wheels.append(
                BuiltWheel(wheel.name, tuple(sorted(names)), attempt.command, str(attempt.place), attempt.pure)
            )
            if attempt.place.host and not attempt.pure and any(t.platform.startswith("linux_") for t in attempt.tags):
                notes.extend(glibc_notes(wheel.name, self.host, [t for t in build.targets if t.name in names]))
        return tuple(wheels), notes

    # -- build requirements (--keep-build-deps) ------------------------------------------------------------

    def _keep_build_deps(self, build: SdistBuild, sdist: Path, work: Path, place: Place) -> list[str]:
        """Download the sdist's build requirements as wheels where it was built, and add them to the folder.

        Only the static ``[build-system] requires`` are known without running the backend; they are what a
        rebuild with ``--no-index --find-links wheels`` needs for setuptools, flit, hatchling and the like.
        """
        requires = build_requirements(sdist)
        if not requires:
            return []
        out = Path(tempfile.mkdtemp(prefix="deps-", dir=work))
        log = self.store.meta_dir / "logs" / f"{sdist_stem(build.filename)}.{place.label}.build-deps.log"
        pip, env, out_seen = self.shop.pip(place, out, sdist.parent)
        argv = [*pip, "download", "--only-binary", ":all:", "--dest", out_seen, *requires]
        start_log(log, argv, f"downloading the build requirements of {build.filename} {place}")
        result = self.shop.run(argv, env, log, self.options.timeout)
        if result.returncode != 0:
            raise WheelhouseError(
                f"the build requirements of {build.filename} ({', '.join(requires)}) could not be downloaded "
                f"{place}; see {log}"
            )
        kept: list[str] = []
        for wheel in sorted(out.glob("*.whl")):
            record = FileRecord(sha256="", added=time.time(), sources=(f"build requirement of {build.filename}",))
            try:
                self._commit(wheel, record)
            except StoreError as exc:
                raise WheelhouseError(f"cannot keep build requirement {wheel.name}: {exc}") from None
            kept.append(wheel.name)
        return kept


def build_sdists(
    builds: Sequence[SdistBuild],
    store: Store,
    *,
    config: IndexConfig | None = None,
    options: BuildOptions | None = None,
    runner: Runner = subprocess_runner,
    reporter: BuildReporter | None = None,
    sources: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> tuple[BuildOutcome, ...]:
    """Build a wheel from each kept sdist for each of its targets, commit what fits, and report per sdist.

    One sdist failing never stops the others, and nothing of a failed build reaches the folder. Built wheels
    are committed atomically with a provenance record (``built_by``: the command that builds them again;
    ``built_from``: the kept sdist; ``targets``: those they serve). Call it with the folder's lock held.
    ``environ`` (default ``os.environ``) is the environment pip and Docker run with.
    """
    reporter = reporter or BuildReporter()
    options = options or BuildOptions()
    builder = _Builder(store, config, options, runner, reporter, sources, environ)

    def one(build: SdistBuild) -> BuildOutcome:
        try:
            outcome = builder.build(build)
        except (StoreError, OSError) as exc:
            reason = str(exc) if isinstance(exc, StoreError) else f"{exc.strerror or exc}"
            names = tuple(t.name for t in build.targets)
            outcome = BuildOutcome(
                build.filename, build.name, build.version, failures=(BuildFailure("failed", names, reason),)
            )
        reporter.build_finished(outcome)
        return outcome

    # Builds of different sdists are independent; each is mostly one process, so more at once than cores only
    # makes them compete.
    workers = max(1, min(options.jobs, os.cpu_count() or 1, len(builds)))
    if workers == 1:
        return tuple(one(build) for build in builds)
    with ThreadPoolExecutor(workers, thread_name_prefix="wheelhouse-build") as pool:
        return tuple(pool.map(one, builds))


# A problem of no kind, for lookups of targets that have none.
_NONE = BuildFailure("failed", (), "")
