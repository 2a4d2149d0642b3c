"""Building an sdist on this machine by calling its PEP 517 backend directly, in a build environment shared by
every sdist with the same build requirements.

``pip wheel`` gives each sdist an isolated environment of its own: a pip process to resolve and install the
build requirements (setuptools, ...), another for the backend's hooks, and its own start-up, which costs several
times what the backend's build of a small project does. Here the static ``[build-system] requires`` (pip's
fallback when there are none) are installed once per interpreter into a folder of wheelhouse's cache
(``<cache>/build-envs/<key>``, reused for a week), from the wheels folder alone when it holds them and otherwise
from the same index settings as pip's builds; then each build is one interpreter process that runs
``get_requires_for_build_wheel`` and ``build_wheel`` with that folder as its only site-packages (``python -S``
and ``site.addsitedir``, so nothing installed next to the interpreter leaks in, as with pip's isolation).

Contract: the archive is extracted with the ``data`` filter (no links out, no absolute paths, no devices) into
the caller's private folder; every process runs through the injected runner and writes to the build's log. When
this path cannot build an sdist as pip would (no safe extraction on this Python, an unreadable
``pyproject.toml``, a backend that asks for requirements the environment lacks), :func:`build_with_backend`
says so by returning None before anything is built, and the caller runs ``pip wheel`` instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from wheelhouse._proc import Output, Runner, RunResult
from wheelhouse.build.logs import append_log

__all__ = ["NEEDS_PIP", "build_here", "build_with_backend"]

# The hook process exits with this status when the backend needs requirements the shared environment lacks.
NEEDS_PIP = 75
_ENV_MAX_AGE = 7 * 24 * 3600
_MAX_PYPROJECT_BYTES = 1024 * 1024
_DEFAULT_BACKEND = "setuptools.build_meta:__legacy__"
_LEGACY_REQUIRES = ("setuptools>=40.8.0",)

_HOOK = r"""
import importlib, importlib.metadata, json, os, re, site, sys
env, source, out, backend, paths = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
os.chdir(source)
sys.path[:0] = [os.path.join(source, p) for p in paths]
site.addsitedir(env)
module, _, attr = backend.partition(":")
hooks = importlib.import_module(module)
for part in filter(None, attr.split(".")):
    hooks = getattr(hooks, part)
wanted = getattr(hooks, "get_requires_for_build_wheel", lambda config_settings=None: [])({})
missing = []
for requirement in wanted:
    name = re.split(r"[\s<>=!~;\[(@]", requirement.strip(), maxsplit=1)[0]
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        missing.append(requirement)
if missing:
    print("wheelhouse: the backend also needs " + ", ".join(missing), flush=True)
    sys.exit(75)
print("wheelhouse-built: " + hooks.build_wheel(out, {}), flush=True)
"""

_env_locks: dict[str, threading.Lock] = {}
_env_locks_guard = threading.Lock()


def _extract(sdist: Path, dest: Path) -> Path | None:
    """Extract the sdist safely; its single top-level folder, or None when that cannot be done here."""
    try:
        if sdist.name.endswith(".zip"):
            with zipfile.ZipFile(sdist) as zf:
                for info in zf.infolist():
                    name = info.filename
                    if name.startswith("/") or ".." in name.split("/") or (info.external_attr >> 28) == 0o12:
                        return None
                zf.extractall(dest)
        else:
            if not hasattr(tarfile, "data_filter"):
                return None
            with tarfile.open(sdist, "r:*") as tf:
                tf.extractall(dest, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError):
        return None
    tops = list(dest.iterdir())
    return tops[0] if len(tops) == 1 and tops[0].is_dir() else None


def _build_system(source: Path) -> tuple[tuple[str, ...], str, tuple[str, ...]] | None:
    """(requires, backend, backend-path) of ``source/pyproject.toml`` (PEP 517/518 defaults), or None."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
    pyproject = source / "pyproject.toml"
    if not pyproject.is_file():
        return _LEGACY_REQUIRES, _DEFAULT_BACKEND, ()
    try:
        if pyproject.stat().st_size > _MAX_PYPROJECT_BYTES:
            return None
        table = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("build-system")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return None
    if table is None:
        return _LEGACY_REQUIRES, _DEFAULT_BACKEND, ()
    if not isinstance(table, dict):
        return None
    requires = table.get("requires")
    backend = table.get("build-backend", _DEFAULT_BACKEND)
    paths = table.get("backend-path", [])
    valid = (
        isinstance(requires, list)
        and all(isinstance(r, str) for r in requires)
        and isinstance(backend, str)
        and re.fullmatch(r"[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?", backend)
        and isinstance(paths, list)
        and all(isinstance(p, str) and not os.path.isabs(p) and ".." not in Path(p).parts for p in paths)
    )
    if not valid:
        return None
    assert isinstance(requires, list)
    assert isinstance(paths, list)
    return tuple(requires), str(backend), tuple(paths)


def _folder_has(folder: Path, requires: Sequence[str]) -> bool:
    """Whether the wheels folder holds a pure wheel for every requirement (then no index is asked)."""
    try:
        wheels = [p.name for p in folder.glob("*.whl")]
    except OSError:
        return False
    for text in requires:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            return False
        name = canonicalize_name(req.name)
        found = False
        for wheel in wheels:
            try:
                wname, version, _build, tags = parse_wheel_filename(wheel)
            except ValueError:
                continue
            pure = any(t.abi == "none" and t.platform == "any" for t in tags)
            if wname == name and pure and req.specifier.contains(version, prereleases=True):
                found = True
                break
        if not found:
            return False
    return True


def _environment(
    python: str,
    requires: tuple[str, ...],
    cache: Path,
    env: Mapping[str, str],
    folder: Path,
    runner: Runner,
    log: Path,
    timeout: float | None,
) -> Path | None:
    """The shared folder with ``requires`` installed for ``python``, installing it when missing or old."""
    # The interpreter's file, not only its path: an upgraded Python at the same path gets a fresh environment
    # (build requirements may carry compiled parts for one Python only).
    real = os.path.realpath(python)
    try:
        identity = [real, os.stat(real).st_mtime_ns]
    except OSError:
        identity = [real, 0]
    key = hashlib.sha256(json.dumps([identity, sorted(requires)]).encode()).hexdigest()[:24]
    target = cache / key
    with _env_locks_guard:
        lock = _env_locks.setdefault(key, threading.Lock())
    with lock:
        marker = target / ".wheelhouse-complete"
        with contextlib.suppress(OSError):
            if time.time() - marker.stat().st_mtime < _ENV_MAX_AGE:
                append_log(log, f"# build requirements {', '.join(requires) or '(none)'} from {target}")
                return target
        cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache))
        install_env = dict(env)
        if requires and _folder_has(folder, requires):
            install_env["PIP_NO_INDEX"] = "1"  # the folder holds them: no index is asked
        argv = [python, "-m", "pip", "install", "--target", str(staging), "--no-warn-script-location", *requires]
        append_log(log, f"$ {' '.join(argv)}")
        try:
            result = runner(argv, env=install_env, output=log, timeout=timeout) if requires else RunResult(0)
        except OSError as exc:
            result = RunResult(127, "", str(exc))
        if not result.ok:
            shutil.rmtree(staging, ignore_errors=True)
            return None
        (staging / ".wheelhouse-complete").write_text("")
        shutil.rmtree(target, ignore_errors=True)
        try:
            staging.rename(target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            return target if marker.is_file() else None
        append_log(log, f"# build requirements {', '.join(requires) or '(none)'} installed in {target}")
        return target


def build_with_backend(
    python: str,
    sdist: Path,
    out: Path,
    work: Path,
    *,
    cache: Path,
    env: Mapping[str, str],
    folder: Path,
    runner: Runner,
    log: Output,
    timeout: float | None,
) -> RunResult | None:
    """Build ``sdist`` into ``out`` with its backend called directly; None when ``pip wheel`` must do it.

    ``env`` is pip's environment (index settings) for installing build requirements; ``folder`` the wheels
    folder, which serves them when it holds them all.
    """
    if not isinstance(log, Path):
        return None
    source_root = Path(tempfile.mkdtemp(prefix="src-", dir=work))
    source = _extract(sdist, source_root)
    if source is None:
        return None
    system = _build_system(source)
    if system is None:
        return None
    requires, backend, paths = system
    shared = _environment(python, requires, cache, env, folder, runner, log, timeout)
    if shared is None:
        return None  # pip reports the failure to install them in its own words
    hook_env = {k: v for k, v in env.items() if not k.startswith("PYTHON")}
    argv = [python, "-S", "-c", _HOOK, str(shared), str(source), str(out), backend, json.dumps(list(paths))]
    append_log(log, f"$ {python} -S -c <PEP 517 build_wheel of {backend}> in {source.name}")
    try:
        result = runner(argv, env=hook_env, output=log, timeout=timeout)
    except OSError as exc:
        return RunResult(127, "", str(exc))
    if result.returncode == NEEDS_PIP:
        for leftover in out.glob("*"):
            with contextlib.suppress(OSError):
                leftover.unlink()
        return None
    return result


def build_here(
    pip_argv: Sequence[str],
    sdist: Path,
    out: Path,
    *,
    isolation: bool,
    cache: Path,
    env: Mapping[str, str],
    folder: Path,
    runner: Runner,
    log: Path,
    timeout: float | None,
) -> RunResult:
    """Build ``sdist`` into ``out`` on this machine: with its backend in a shared environment when that can
    be done, else with ``pip_argv`` (``python -m pip wheel ...``). ``pip_argv[0]`` is the interpreter."""
    if isolation:
        with tempfile.TemporaryDirectory(prefix="wheelhouse-src-") as work:
            result = build_with_backend(
                pip_argv[0],
                sdist,
                out,
                Path(work),
                cache=cache,
                env=env,
                folder=folder,
                runner=runner,
                log=log,
                timeout=timeout,
            )
        if result is not None:
            return result
        append_log(log, "# this sdist is built by pip itself:")
    try:
        return runner(pip_argv, env=env, output=log, timeout=timeout)
    except OSError as exc:
        append_log(log, f"wheelhouse: cannot run {pip_argv[0]}: {exc}")
        return RunResult(127, "", str(exc))
