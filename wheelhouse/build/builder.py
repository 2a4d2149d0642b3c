"""Building the sdists a resolution pinned into wheels, for each of their targets, and committing what fits.

A wheelhouse that claims "no internet needed" must hold a wheel for every package. Packages that publish only an
sdist (pip#4289) are therefore built here, and where they are built decides which targets the result may serve
(``build.plan``):

* **On this machine** (``python -m pip wheel --no-deps``, an isolated build environment whose build requirements
  come from the configured index into wheelhouse's own pip cache, never into ``wheels/``). The host build serves
  *host-compatible* targets: same OS, architecture, Python minor and libc family as this machine.
* **In a container** of the target's base image and platform (``docker run --platform ...``, ``build.containers``)
  for every other target, when a Docker engine answers.
* A pure-Python result (``py3-none-any``) serves every target, wherever it was built. A binary wheel built here
  never enters a foreign target's set; without Docker such a target stops with the exact command that builds the
  wheel elsewhere.

Contract: the sdist itself is kept in ``wheels/.wheelhouse/sdists/`` (where ``pip --find-links wheels`` does not
look), so a build can be repeated offline; logs go to ``wheels/.wheelhouse/logs/``. pip and Docker run only as
subprocesses through an injectable :class:`~wheelhouse._proc.Runner`; whether a build worked is judged from the
files it left, never from its output. One sdist failing never stops the others, and nothing of a failed build
reaches the folder; built wheels are committed atomically with a provenance record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from wheelhouse._proc import Output, Runner, RunResult, subprocess_runner
from wheelhouse.build.archive import build_requirements, sdist_stem
from wheelhouse.build.containers import (
    CONTAINER_OUT,
    CONTAINER_SDISTS,
    DockerStatus,
    container_pip,
    docker_wheel_command,
    probe,
)
from wheelhouse.build.logs import log_tail, start_log
from wheelhouse.build.model import BuildFailure, BuildOptions, BuildOutcome, BuildReporter, BuiltWheel, SdistBuild
from wheelhouse.build.pip_options import default_cache_dir, folder_links, pip_environment
from wheelhouse.build.plan import (
    Attempt,
    Place,
    SdistJob,
    base_image_for,
    glibc_notes,
    host_incompatibility,
    this_machine,
)
from wheelhouse.errors import StoreError, WheelhouseError
from wheelhouse.store.folder import FileRecord, Store
from wheelhouse.store.fs import file_sha256
from wheelhouse.store.metadata import read_wheel_metadata
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
        self.config = config
        self.options = options
        self.runner = runner
        self.reporter = reporter
        self.sources = tuple(sources)
        self.environ = dict(os.environ if environ is None else environ)
        self.host = this_machine()
        self.cache_dir = options.cache_dir or default_cache_dir(self.environ)
        self._docker: DockerStatus | None = None

    # -- running -------------------------------------------------------------------------------------------

    def docker(self) -> DockerStatus:
        """Whether a Docker engine answers (asked at most once per run, and only when a build needs it)."""
        if self._docker is None:
            self._docker = probe(self.options, self.environ, self.runner)
        return self._docker

    def _run(self, argv: Sequence[str], env: Mapping[str, str], output: Output, timeout: float | None) -> RunResult:
        try:
            return self.runner(argv, env=env, output=output, timeout=timeout)
        except OSError as exc:
            if isinstance(output, Path):
                with contextlib.suppress(OSError), open(output, "a", encoding="utf-8") as fh:
                    fh.write(f"wheelhouse: cannot run {argv[0]}: {exc}\n")
            return RunResult(127, "", str(exc))

    def _pip(self, place: Place, out: Path, sdists: Path) -> tuple[list[str], dict[str, str], str]:
        """argv prefix that runs pip in ``place`` (``out`` writable), its environment, and where ``out`` is seen."""
        if place.host:
            env = pip_environment(
                self.config, base=self.environ, cache_dir=self.cache_dir, find_links=folder_links(self.store.root)
            )
            return [sys.executable, "-m", "pip"], env, str(out)
        status = self.docker()
        assert status.client is not None
        argv, env = container_pip(
            status.client, place, sdists, out, config=self.config, environ=self.environ, wheels=self.store.root
        )
        return argv, env, CONTAINER_OUT

    # -- one build -----------------------------------------------------------------------------------------

    def attempt(self, build: SdistBuild, sdist: Path, work: Path, place: Place, targets: Sequence[Target]) -> Attempt:
        """``pip wheel --no-deps`` of the kept sdist in ``place``, into a private output folder, judged from disk."""
        out = Path(tempfile.mkdtemp(prefix="out-", dir=work))
        log = self.store.meta_dir / "logs" / f"{sdist_stem(build.filename)}.{place.label}.log"
        pip, env, out_seen = self._pip(place, out, sdist.parent)
        flags = ["wheel", "--no-deps", "--ignore-requires-python"]
        if place.host and not self.options.isolation:
            flags.append("--no-build-isolation")
        sdist_seen = str(sdist) if place.host else f"{CONTAINER_SDISTS}/{sdist.name}"
        argv = [*pip, *flags, "--wheel-dir", out_seen, sdist_seen]
        if place.host:
            command = shlex.join([*pip, *flags, "--wheel-dir", str(self.store.root), str(sdist)])
        else:
            assert place.platform is not None
            assert place.image is not None
            root = str(self.store.root.resolve())
            command = docker_wheel_command(place.platform, place.image, root, self._relative(sdist))
        self.reporter.build_started(build, str(place), [t.name for t in targets])
        start_log(log, argv, f"building {build.filename} {place}")
        result = self._run(argv, env, log, self.options.timeout)
        return self._judge(Attempt(place, command, log), result.returncode, out, build)

    @staticmethod
    def _judge(attempt: Attempt, returncode: int, out: Path, build: SdistBuild) -> Attempt:
        wheels = sorted(p for p in out.glob("*.whl") if p.is_file())
        failure: str | None = None
        if returncode != 0:
            failure = f"the build failed (exit status {returncode})"
        elif len(wheels) != 1:
            failure = f"the build left {len(wheels)} wheels instead of one"
        else:
            wheel = wheels[0]
            try:
                name, version, _build_tag, tags = parse_wheel_filename(wheel.name)
                if name != build.name or version != build.version:
                    raise ValueError(f"it is {wheel.name}, not {build.name} {build.version}")
                meta = read_wheel_metadata(wheel)
            except (InvalidWheelFilename, ValueError) as exc:
                failure = f"the built wheel is unusable: {exc}"
            else:
                return Attempt(attempt.place, attempt.command, attempt.log, wheel, tags, meta.requires_python)
        return Attempt(attempt.place, attempt.command, attempt.log, failure=failure, tail=log_tail(attempt.log))

    # -- one sdist -----------------------------------------------------------------------------------------

    def build(self, build: SdistBuild) -> BuildOutcome:
        """Every build one sdist needs: here for host-compatible targets, in containers for the others."""
        names = tuple(t.name for t in build.targets)
        failure = build.metadata_failure
        if failure is not None:
            failure = BuildFailure(failure.kind, names, failure.reason, failure.log, failure.tail, failure.command)
            return BuildOutcome(build.filename, build.name, build.version, failures=(failure,))
        sdist = Path(build.path) if build.path else self.store.sdist_dir / build.filename
        if not sdist.is_file():
            failure = BuildFailure("failed", names, f"{sdist} is missing")
            return BuildOutcome(build.filename, build.name, build.version, failures=(failure,))
        with tempfile.TemporaryDirectory(prefix="wheelhouse-build-") as tmp:
            work = Path(tmp)
            job = SdistJob(build)
            self._plan_and_run(job, sdist, work)
            wheels, notes = self._commit_served(job, sdist)
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

    def _plan_and_run(self, job: SdistJob, sdist: Path, work: Path) -> None:
        """Decide where each target's wheel is built, build each place at most once, and record the outcome."""
        build = job.build
        mode = self.options.build_in
        targets = list(build.targets)
        host_ok = [t.name for t in targets if mode != "docker" and host_incompatibility(t, self.host) is None]
        host_attempt: Attempt | None = None

        def on_host(for_targets: Sequence[Target]) -> Attempt:
            nonlocal host_attempt
            if host_attempt is None:
                host_attempt = self.attempt(build, sdist, work, Place(), for_targets)
            return host_attempt

        # 1. Host-compatible targets build here. A pure result serves every target at once.
        local = [t for t in targets if t.name in host_ok]
        if local:
            attempt = on_host(local)
            if attempt.ok:
                job.serve(attempt, targets, binary_ok=host_ok)
            else:
                job.failed(attempt, local)

        # 2. The other targets build in their own image and platform, one container per (platform, image).
        foreign = [t for t in targets if t.name not in job.served and t.name not in host_ok]
        docker = self.docker() if foreign else DockerStatus(None, False, "")
        if foreign and docker.available:
            groups: dict[Place, list[Target]] = {}
            for target in foreign:
                place = Place(target.docker_platform, base_image_for(target, self.options.base_image))
                groups.setdefault(place, []).append(target)
            for place, group in groups.items():
                group = [t for t in group if t.name not in job.served]
                if group:  # else a pure wheel from an earlier container already serves them
                    attempt = self.attempt(build, sdist, work, place, group)
                    if attempt.ok:
                        job.serve(attempt, group, binary_ok=[t.name for t in group])
                    else:
                        job.failed(attempt, group)

        # 3. What is left (no Docker, or its build failed): a pure wheel built here serves any platform.
        pending = [t for t in foreign if t.name not in job.served]
        if not pending:
            return
        fallback = on_host(pending) if mode != "docker" else None
        if fallback is not None and fallback.ok and fallback.pure:
            job.serve(fallback, pending, binary_ok=())
            return
        if docker.available:
            return  # the container builds' own failures stand
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
            command = docker_wheel_command(target.docker_platform, image, str(self.store.root), self._relative(sdist))
            job.problems[target.name] = BuildFailure("needs-docker", (target.name,), reason, command=command)

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

    def _relative(self, path: Path) -> str:
        """``path`` relative to the folder when inside it (``.wheelhouse/sdists/x.tar.gz``), else as it is."""
        try:
            return path.resolve().relative_to(self.store.root.resolve()).as_posix()
        except ValueError:
            return str(path)

    def _commit_served(self, job: SdistJob, sdist: Path) -> tuple[tuple[BuiltWheel, ...], list[str]]:
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
                built_from=self._relative(sdist),
            )
            try:
                self._commit(wheel, record)
            except StoreError as exc:
                for name in names:
                    job.problems[name] = BuildFailure("failed", (name,), str(exc), str(attempt.log))
                    del job.served[name]
                continue
            wheels.append(
                BuiltWheel(wheel.name, tuple(sorted(names)), attempt.command, str(attempt.place), attempt.pure)
            )
            if attempt.place.host and not attempt.pure:
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
        pip, env, out_seen = self._pip(place, out, sdist.parent)
        argv = [*pip, "download", "--only-binary", ":all:", "--dest", out_seen, *requires]
        start_log(log, argv, f"downloading the build requirements of {build.filename} {place}")
        result = self._run(argv, env, log, self.options.timeout)
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
    builder = _Builder(store, config, options or BuildOptions(), runner, reporter, sources, environ)
    outcomes: list[BuildOutcome] = []
    for build in builds:
        try:
            outcome = builder.build(build)
        except (StoreError, OSError) as exc:
            reason = str(exc) if isinstance(exc, StoreError) else f"{exc.strerror or exc}"
            names = tuple(t.name for t in build.targets)
            outcome = BuildOutcome(
                build.filename, build.name, build.version, failures=(BuildFailure("failed", names, reason),)
            )
        reporter.build_finished(outcome)
        outcomes.append(outcome)
    return tuple(outcomes)
