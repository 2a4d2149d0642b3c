"""``wheelhouse download --engine pip``: run ``pip download`` per target, for pip's exact behaviour.

Some users need pip itself (keyring, plugins, a corporate configuration). pip is run as a subprocess with explicit
flags, one run per target. Two pip behaviours are compensated for:

* pip does not expand ``--platform``: ``manylinux_2_28_aarch64`` alone rejects ``manylinux2014`` wheels, and
  ``manylinux2014_aarch64`` alone silently picks old releases. We pass the target's full platform list.
* pip evaluates environment markers for the *host*, not the target (pip#4304), so dependencies behind
  ``platform_machine`` or ``python_version`` markers can be skipped. The caller therefore runs the native engine
  afterwards, which downloads what pip missed; the result is judged from the folder, not from pip's output.

Index settings reach pip as ``PIP_*`` variables from ``build.pip_options`` (the one translation, shared with sdist
builds), so an index URL's credentials are never on pip's command line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from wheelhouse import _log
from wheelhouse._proc import CAPTURE, Runner, subprocess_runner
from wheelhouse.build.pip_options import pip_environment
from wheelhouse.dists import InvalidDistFilename, parse_dist_filename
from wheelhouse.errors import StoreError, WheelhouseError
from wheelhouse.index.config import IndexConfig
from wheelhouse.requirements import RequirementSet
from wheelhouse.store.folder import FileRecord, Store
from wheelhouse.store.fs import file_sha256
from wheelhouse.store.metadata import read_wheel_metadata
from wheelhouse.targets import Target

_TAIL_LINES = 8


@dataclass(frozen=True)
class PipRun:
    """One ``pip download`` run for one target and what it added to the folder."""

    target: str
    argv: tuple[str, ...]
    returncode: int
    added: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()
    tail: str = ""


def pip_argv(target: Target, dest: Path, requirements_file: Path, constraints_file: Path | None) -> list[str]:
    """The ``pip download`` command line for one target, with every platform tag the target accepts.

    It holds no index settings: they travel in the environment (:func:`pip_download_environment`).
    """
    major, minor = target.python_version
    argv = [
        sys.executable, "-m", "pip", "download",
        "--dest", str(dest),
        "--only-binary=:all:",
        "--implementation", "cp",
        "--python-version", f"{major}.{minor}",
        "--abi", f"cp{major}{minor}",
        "--progress-bar", "off",
        "--disable-pip-version-check",
    ]  # fmt: skip
    for platform in target.platforms:
        argv += ["--platform", platform]
    argv += ["-r", str(requirements_file)]
    if constraints_file is not None:
        argv += ["-c", str(constraints_file)]
    return argv


def pip_download_environment(config: IndexConfig, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment ``pip download`` runs with: ``base`` (default ``os.environ``) carrying the index settings.

    ``config.isolated`` drops the inherited ``PIP_*`` variables and pip's files there, rather than with pip's own
    ``--isolated``, which would make pip ignore the variables that carry the settings.
    """
    return pip_environment(config, base=base)


def _write_requirements(reqs: RequirementSet, directory: Path) -> tuple[Path, Path | None]:
    """The parsed set written back in pip's format, so pip sees exactly what wheelhouse resolves."""
    req_file = directory / "requirements.txt"
    req_file.write_text("".join(f"{line.requirement}\n" for line in reqs.requirements), encoding="utf-8")
    if not reqs.constraints:
        return req_file, None
    con_file = directory / "constraints.txt"
    con_file.write_text("".join(f"{line.requirement}\n" for line in reqs.constraints), encoding="utf-8")
    return req_file, con_file


def pip_download(
    reqs: RequirementSet,
    targets: Sequence[Target],
    store: Store,
    config: IndexConfig,
    *,
    runner: Runner = subprocess_runner,
    environ: Mapping[str, str] | None = None,
) -> tuple[PipRun, ...]:
    """Run ``pip download`` for each target into a private folder, then add each valid wheel to the store.

    A pip failure is reported (its last lines, as a warning) but does not stop the run: the native engine that
    follows fills what pip could not, and explains what nobody can. ``environ`` (default ``os.environ``) is the
    environment pip starts from.
    """
    env = pip_download_environment(config, environ)
    store.ensure()
    # Held while the private folder exists: the lock's next holder takes every partial file for abandoned.
    with store.lock():
        runs: list[PipRun] = []
        work = store.new_temp("pip-engine")
        work.mkdir(parents=True)
        try:
            req_file, con_file = _write_requirements(reqs, work)
            for target in targets:
                dest = work / target.name
                dest.mkdir()
                argv = pip_argv(target, dest, req_file, con_file)
                _log.info(f"pip engine for {target.name}: {len(target.platforms)} --platform tags")
                try:
                    proc = runner(argv, env=env, output=CAPTURE, timeout=None)
                except OSError as exc:
                    raise WheelhouseError(f"cannot run pip ({argv[0]}): {exc.strerror or exc}") from None
                tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-_TAIL_LINES:])
                if proc.returncode != 0:
                    _log.warning(
                        f"pip download for {target.name} exited with {proc.returncode}; the native engine continues"
                    )
                    if tail:
                        _log.warning(tail)
                added, rejected = _adopt(dest, store, target, reqs)
                runs.append(PipRun(target.name, tuple(argv), proc.returncode, added, rejected, tail))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return tuple(runs)


def _adopt(dest: Path, store: Store, target: Target, reqs: RequirementSet) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Move pip's wheels into the store, each checked to be a readable wheel whose metadata matches its name."""
    added: list[str] = []
    rejected: list[str] = []
    for path in sorted(dest.iterdir()):
        try:
            _name, _version, kind, _tags, _build = parse_dist_filename(path.name)
            if kind != "wheel":
                raise ValueError("not a wheel")
            read_wheel_metadata(path)
        except (InvalidDistFilename, ValueError) as exc:
            rejected.append(f"{path.name}: {exc}")
            continue
        sha = file_sha256(path)
        temp = store.new_temp(path.name)
        shutil.move(str(path), temp)
        record = FileRecord(sha256=sha, added=time.time(), targets=(target.name,), sources=reqs.files, built_by=None)
        try:
            already = (store.root / path.name).exists()
            store.commit(temp, path.name, record)
            if not already:
                added.append(path.name)
        except StoreError as exc:
            rejected.append(f"{path.name}: {exc}")
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temp)
    return tuple(added), tuple(rejected)
