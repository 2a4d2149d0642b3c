"""One build of an sdist in one place, and what the places share: this machine (with an interpreter of the
target's Python), Docker's status, pip's environment, the build memo.

Contract: :meth:`Workshop.attempt` answers from the memo when the same sdist was built in the same place before
(a wheel, or a failure that is not retried until ``--retry-builds``); otherwise it runs the build (the backend
in a shared environment, or ``pip wheel``, on this machine; ``pip wheel`` in a container) into a private output
folder, judges it from the files it left, gives a binary built here the glibc tag its ELF files need, and
remembers the outcome. Every process runs through the injected runner.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import shutil
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from wheelhouse._proc import Output, Runner, RunResult
from wheelhouse.build.archive import sdist_stem
from wheelhouse.build.containers import (
    CONTAINER_OUT,
    CONTAINER_SDISTS,
    DockerStatus,
    container_pip,
    docker_wheel_command,
    probe,
)
from wheelhouse.build.frontend import build_here
from wheelhouse.build.interpreters import find_interpreter
from wheelhouse.build.logs import append_log, log_tail, start_log
from wheelhouse.build.memo import BuildMemo, Remembered
from wheelhouse.build.model import BuildOptions, BuildReporter, SdistBuild
from wheelhouse.build.pip_options import default_cache_dir, folder_links, pip_environment
from wheelhouse.build.plan import Attempt, Place, host_incompatibility, this_machine
from wheelhouse.build.wheeltags import elf_needs, manylinux_tag, retag
from wheelhouse.store.folder import Store
from wheelhouse.store.metadata import read_wheel_metadata
from wheelhouse.targets import Target

if TYPE_CHECKING:
    from wheelhouse.index.config import IndexConfig

__all__ = ["Workshop"]


class Workshop:
    """Runs single builds for one run; holds what they share (the host, Docker's status, the memo)."""

    def __init__(
        self,
        store: Store,
        config: IndexConfig | None,
        options: BuildOptions,
        runner: Runner,
        reporter: BuildReporter,
        environ: Mapping[str, str] | None,
    ) -> None:
        self.store = store
        self.config = config
        self.options = options
        self.runner = runner
        self.reporter = reporter
        self.environ = dict(os.environ if environ is None else environ)
        self.host = this_machine()
        self.cache_dir = options.cache_dir or default_cache_dir(self.environ)
        self._docker: DockerStatus | None = None
        self._docker_lock = threading.Lock()
        self.memo = BuildMemo(store)

    def docker(self) -> DockerStatus:
        """Whether a Docker engine answers (asked at most once per run, and only when a build needs it)."""
        with self._docker_lock:
            if self._docker is None:
                self._docker = probe(self.options, self.environ, self.runner)
            return self._docker

    def run(self, argv: Sequence[str], env: Mapping[str, str], output: Output, timeout: float | None) -> RunResult:
        try:
            return self.runner(argv, env=env, output=output, timeout=timeout)
        except OSError as exc:
            if isinstance(output, Path):
                with contextlib.suppress(OSError), open(output, "a", encoding="utf-8") as fh:
                    fh.write(f"wheelhouse: cannot run {argv[0]}: {exc}\n")
            return RunResult(127, "", str(exc))

    def pip(self, place: Place, out: Path, sdists: Path) -> tuple[list[str], dict[str, str], str]:
        """argv prefix that runs pip in ``place`` (``out`` writable), its environment, and where ``out`` is seen."""
        if place.host:
            env = pip_environment(
                self.config, base=self.environ, cache_dir=self.cache_dir, find_links=folder_links(self.store.root)
            )
            return [place.python or sys.executable, "-m", "pip"], env, str(out)
        status = self.docker()
        assert status.client is not None
        argv, env = container_pip(
            status.client, place, sdists, out, config=self.config, environ=self.environ, wheels=self.store.root
        )
        return argv, env, CONTAINER_OUT

    def relative(self, path: Path) -> str:
        """``path`` relative to the folder when inside it (``.wheelhouse/sdists/x.tar.gz``), else as it is."""
        try:
            return path.resolve().relative_to(self.store.root.resolve()).as_posix()
        except ValueError:
            return str(path)

    def host_place(self, target: Target) -> Place | None:
        """This machine as the place to build ``target``'s wheel, with an interpreter of its Python, or None."""
        if self.options.build_in == "docker" or host_incompatibility(target, self.host, any_python=True):
            return None
        found = find_interpreter(target, self.runner, self.environ)
        if found is None:
            return None
        return Place() if found.running else Place(python=found.path, python_version=found.version)

    def attempt(
        self, build: SdistBuild, sdist: Path, sha256: str, work: Path, place: Place, targets: Sequence[Target]
    ) -> Attempt:
        """The wheel of the kept sdist built in ``place``: remembered from an earlier build, else built now with
        ``pip wheel --no-deps`` into a private output folder and judged from disk (and remembered)."""
        key = place.memo_key(self.host)
        remembered = self.memo.get(sha256, key)
        if remembered is not None:
            if remembered.failure is None:
                wheel = self.memo.wheel_path(sha256, remembered)
                if wheel is not None:
                    reused = Attempt(
                        place,
                        remembered.command,
                        Path(remembered.log),
                        wheel,
                        remembered.tag_set(),
                        remembered.requires_python,
                        reused=True,
                    )
                    return self._retag_remembered(reused, sha256, key, remembered, work)
            elif not self.options.retry_failed or build.fresh:
                return Attempt(
                    place,
                    remembered.command,
                    Path(remembered.log),
                    failure=remembered.failure,
                    tail=remembered.tail,
                    reused=not build.fresh,
                )
        out = Path(tempfile.mkdtemp(prefix="out-", dir=work))
        log = self.store.meta_dir / "logs" / f"{sdist_stem(build.filename)}.{place.label}.log"
        pip, env, out_seen = self.pip(place, out, sdist.parent)
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
            command = docker_wheel_command(place.platform, place.image, root, self.relative(sdist))
        self.reporter.build_started(build, str(place), [t.name for t in targets])
        start_log(log, argv, f"building {build.filename} {place}")
        if place.host:
            result = build_here(
                argv,
                sdist,
                out,
                isolation=self.options.isolation,
                cache=self.cache_dir.parent / "build-envs",
                env=env,
                folder=self.store.root,
                runner=self.runner,
                log=log,
                timeout=self.options.timeout,
            )
        else:
            result = self.run(argv, env, log, self.options.timeout)
        attempt = self._judge(Attempt(place, command, log), result.returncode, out, build)
        if attempt.ok and place.host and not attempt.pure:
            attempt = self._state_glibc(attempt, work, log)
        self.memo.remember(
            sha256,
            key,
            Remembered(
                command=command,
                log=str(log),
                wheel=attempt.wheel.name if attempt.wheel is not None else None,
                tags=tuple(sorted(str(t) for t in attempt.tags)),
                requires_python=attempt.requires_python,
                failure=attempt.failure,
                tail=attempt.tail,
            ),
        )
        return attempt

    def _retag_remembered(self, attempt: Attempt, sha256: str, key: str, remembered: Remembered, work: Path) -> Attempt:
        """A remembered binary still tagged ``linux_<arch>`` (built to learn its metadata) gets its glibc tag, and
        the memo the tagged wheel instead."""
        assert attempt.wheel is not None
        if not attempt.place.host or attempt.pure:
            return attempt
        tagged = self._state_glibc(attempt, work, attempt.log)
        if tagged.wheel is None or tagged.wheel == attempt.wheel:
            return attempt
        tags = tuple(sorted(str(t) for t in tagged.tags))
        entry = dataclasses.replace(remembered, wheel=tagged.wheel.name, tags=tags)
        self.memo.remember(sha256, key, entry, tagged.wheel)
        self.memo.drop_copy(sha256, attempt.wheel.name)
        return tagged

    def _state_glibc(self, attempt: Attempt, work: Path, log: Path) -> Attempt:
        """A binary built here, retagged from ``linux_<arch>`` to the manylinux its ELF files need.

        Without that, ``linux_<arch>`` would be accepted for every target of the architecture, whatever its libc.
        ``auditwheel repair`` is used for a wheel that links libraries outside the manylinux policy (it copies
        them in); a wheel neither can judge keeps its tag and serves only targets that match this machine.
        """
        assert attempt.wheel is not None
        if self.host is None or self.host.libc.family != "manylinux":
            return attempt
        if not any(t.platform.startswith("linux_") for t in attempt.tags):
            return attempt
        out = Path(tempfile.mkdtemp(prefix="tagged-", dir=work))
        try:
            needs = elf_needs(attempt.wheel)
        except (OSError, ValueError) as exc:
            append_log(log, f"wheelhouse: cannot read the ELF files of {attempt.wheel.name}: {exc}")
            return attempt
        tagged: Path | None = None
        if needs.retaggable:
            tagged = retag(attempt.wheel, manylinux_tag(needs, self.host.arch), out)
            append_log(log, f"wheelhouse: {attempt.wheel.name} needs glibc 2.{needs.glibc_minor or 0}: {tagged.name}")
        else:
            auditwheel = shutil.which("auditwheel", path=self.environ.get("PATH"))
            if auditwheel is None:
                append_log(log, f"wheelhouse: {attempt.wheel.name} links {', '.join(needs.foreign_libraries)}")
                return attempt
            argv = [auditwheel, "repair", "--wheel-dir", str(out), str(attempt.wheel)]
            append_log(log, f"$ {shlex.join(argv)}")
            result = self.run(argv, self.environ, log, self.options.timeout)
            repaired = sorted(out.glob("*.whl"))
            if not result.ok or len(repaired) != 1:
                return attempt
            tagged = repaired[0]
        try:
            _name, _version, _build, tags = parse_wheel_filename(tagged.name)
        except InvalidWheelFilename:
            return attempt
        return dataclasses.replace(attempt, wheel=tagged, tags=frozenset(tags))

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
