"""Source distributions: keep them, read their metadata, and build wheels from them for each target.

A wheelhouse that claims "no internet needed" must hold a wheel for every package. Packages that publish only an
sdist (pip#4289) are therefore built here, and where they are built decides which targets the result may serve:

* **On this machine** (``python -m pip wheel --no-deps``, an isolated build environment whose build requirements
  come from the configured index into wheelhouse's own pip cache, never into ``wheels/``). The host build serves
  *host-compatible* targets: same OS, architecture, Python minor and libc family as this machine.
* **In a container** of the target's base image and platform (``docker run --platform ...``) for every other
  target, when a Docker engine answers.
* A pure-Python result (``py3-none-any``) serves every target, wherever it was built. A binary wheel built here
  never enters a foreign target's set (uv#16019 is what happens otherwise); without Docker such a target stops
  with the exact command that builds the wheel elsewhere.

The sdist itself is kept in ``wheels/.wheelhouse/sdists/`` (where ``pip --find-links wheels`` does not look), so
a build can be repeated offline; logs go to ``wheels/.wheelhouse/logs/``.

Metadata of an sdist candidate during resolution comes from its ``PKG-INFO`` when that is trustworthy (PEP 643:
Metadata-Version 2.2 or later, and Requires-Dist, Requires-Python and Provides-Extra not ``Dynamic``); otherwise
from the PEP 517 ``prepare_metadata_for_build_wheel`` hook, run by ``pip install --dry-run --report`` in an
isolated environment. pip and Docker run only as subprocesses through an injectable :class:`BuildRunner`; whether
a build worked is judged from the files it left, never from its output.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from wheelhouse.dists import MAX_METADATA_BYTES, CoreMetadata, DistFile, Finder, parse_core_metadata
from wheelhouse.errors import StoreError, TargetError, WheelhouseError
from wheelhouse.store.folder import FileRecord, Store, file_sha256, read_wheel_metadata
from wheelhouse.targets import Target, host_target

if TYPE_CHECKING:
    from wheelhouse.index.config import IndexConfig

__all__ = [
    "BuildFailure",
    "BuildOptions",
    "BuildOutcome",
    "BuildReporter",
    "BuildRunner",
    "BuiltWheel",
    "RunResult",
    "SdistBuild",
    "SdistFinder",
    "SdistMetadata",
    "base_image_for",
    "build_requirements",
    "build_sdists",
    "default_cache_dir",
    "docker_wheel_command",
    "host_incompatibility",
    "pip_environment",
    "read_sdist_member",
    "static_metadata",
    "subprocess_runner",
]

BuildIn = Literal["auto", "host", "docker"]
FailureKind = Literal["failed", "needs-docker", "unfit"]

# How many lines of a failed build's log are shown; the rest is in the log file.
LOG_TAIL_LINES = 15
DEFAULT_BUILD_TIMEOUT = 3600.0
_PROBE_TIMEOUT = 30.0
# PEP 517's fallback when an sdist has no [build-system] table, as pip applies it.
_LEGACY_BUILD_REQUIRES = ("setuptools>=40.8.0", "wheel")
# Core-metadata fields resolution depends on: when any of them is Dynamic (PEP 643), PKG-INFO cannot be trusted.
_RESOLUTION_FIELDS = frozenset({"requires-dist", "requires-python", "provides-extra"})
_MAX_PYPROJECT_BYTES = 1024 * 1024
_CONTAINER_SDISTS = "/sdists"
_CONTAINER_OUT = "/out"


# -- options, runner, reporter -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildOptions:
    """How sdists are built.

    ``build_in``: ``auto`` builds host-compatible targets here and the others in Docker; ``host`` never uses
    Docker (a foreign target then accepts only a pure-Python result); ``docker`` builds every target in its
    base image. ``base_image`` overrides the official ``python:X.Y-slim`` / ``python:X.Y-alpine`` image; it may
    contain ``{python}`` (X.Y). ``isolation=False`` builds with the running interpreter's setuptools
    (``--no-build-isolation``) instead of installing build requirements from the index. ``docker`` is the client
    to run (None: the ``WHEELHOUSE_DOCKER`` variable, else ``docker`` on PATH). ``cache_dir`` is pip's cache
    for build requirements (None: ``$XDG_CACHE_HOME/wheelhouse/pip``).
    """

    enabled: bool = True
    keep_build_deps: bool = False
    build_in: BuildIn = "auto"
    base_image: str | None = None
    isolation: bool = True
    docker: str | None = None
    cache_dir: Path | None = None
    timeout: float | None = DEFAULT_BUILD_TIMEOUT


@dataclass(frozen=True)
class RunResult:
    """What a finished subprocess returned; ``output`` is empty when it went to a log file."""

    returncode: int
    output: str = ""


class BuildRunner(Protocol):
    """Runs one command; with ``log`` its standard output and error go there, else they are returned."""

    def __call__(
        self, argv: Sequence[str], *, env: Mapping[str, str], log: Path | None, timeout: float | None
    ) -> RunResult:
        """Run ``argv`` with exactly ``env``; raise ``FileNotFoundError`` when the program does not exist."""
        ...


def subprocess_runner(
    argv: Sequence[str], *, env: Mapping[str, str], log: Path | None, timeout: float | None
) -> RunResult:
    """The real runner: ``subprocess.run`` with no input; a timeout counts as exit status 124 (as timeout(1))."""
    if log is None:
        try:
            proc = subprocess.run(
                list(argv),
                env=dict(env),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return RunResult(124, f"no answer within {timeout or 0:.0f} s")
        return RunResult(proc.returncode, (proc.stdout or "") + (proc.stderr or ""))
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        try:
            logged = subprocess.run(
                list(argv),
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            out.write(f"\nwheelhouse: stopped after {timeout or 0:.0f} s\n".encode())
            return RunResult(124)
    return RunResult(logged.returncode)


class BuildReporter:
    """Progress hooks of the build stage; every one does nothing by default."""

    def build_started(self, build: SdistBuild, where: str, targets: Sequence[str]) -> None:
        """A build of ``build`` starts ``where`` (``this machine`` or an image and platform) for ``targets``."""

    def build_finished(self, outcome: BuildOutcome) -> None:
        """Every build of one sdist is over: what it produced and what failed."""


# -- results ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SdistBuild:
    """An sdist the resolution pinned for some targets: it must become a wheel for each of them.

    ``metadata_failure`` is set when its metadata could not be prepared; then it is not built again.
    """

    filename: str
    name: NormalizedName
    version: Version
    targets: tuple[Target, ...]
    url: str | None = None  # redacted, for the manifest
    metadata_failure: BuildFailure | None = None
    path: str | None = None  # where the sdist is when not in .wheelhouse/sdists/ (e.g. the folder itself)


@dataclass(frozen=True)
class BuiltWheel:
    """A wheel built from an sdist and committed to the folder, with the targets it serves."""

    filename: str
    targets: tuple[str, ...]
    built_by: str
    where: str
    pure: bool


@dataclass(frozen=True)
class BuildFailure:
    """Why some targets of an sdist have no wheel.

    ``kind``: ``failed`` (a build ran and failed; see ``log`` and ``tail``), ``needs-docker`` (only a build in
    the target's image can serve it and no Docker engine is available; ``command`` builds it elsewhere),
    ``unfit`` (a wheel was built but does not fit the target, e.g. the image runs another Python).
    """

    kind: FailureKind
    targets: tuple[str, ...]
    reason: str
    log: str | None = None
    tail: tuple[str, ...] = ()
    command: str | None = None


@dataclass(frozen=True)
class BuildOutcome:
    """Everything the build stage did for one sdist."""

    sdist: str
    project: NormalizedName
    version: Version
    wheels: tuple[BuiltWheel, ...] = ()
    failures: tuple[BuildFailure, ...] = ()
    notes: tuple[str, ...] = ()
    build_deps: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failures


# -- reading sdists --------------------------------------------------------------------------------------------


def read_sdist_member(path: Path, member: str, *, limit: int = MAX_METADATA_BYTES) -> bytes | None:
    """The bytes of ``<top>/<member>`` in a ``.tar.gz`` or ``.zip`` sdist, or None when absent.

    Only a regular member directly below the single top-level directory counts; a member larger than ``limit``
    raises ValueError, as does an unreadable archive.
    """
    import tarfile  # here, like the other imports only sdists need: a download without them does not pay

    try:
        if path.name.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    parts = info.filename.split("/")
                    if len(parts) == 2 and parts[1] == member and not info.is_dir():
                        if info.file_size > limit:
                            raise ValueError(f"{member} in {path.name} is larger than {limit} bytes")
                        with zf.open(info) as fh:
                            return fh.read(limit)
            return None
        with tarfile.open(path, "r:*") as tf:
            for tinfo in tf:
                parts = tinfo.name.removeprefix("./").split("/")
                if len(parts) == 2 and parts[1] == member and tinfo.isfile():
                    if tinfo.size > limit:
                        raise ValueError(f"{member} in {path.name} is larger than {limit} bytes")
                    extracted = tf.extractfile(tinfo)
                    if extracted is None:
                        return None
                    with extracted:
                        return extracted.read(limit)
        return None
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ValueError(f"{path.name} is not a readable source archive ({exc})") from None


def static_metadata(path: Path, dist: DistFile) -> CoreMetadata | None:
    """``PKG-INFO`` of the sdist when resolution may trust it (PEP 643), else None.

    Trusted: Metadata-Version 2.2 or later, none of Requires-Dist / Requires-Python / Provides-Extra declared
    Dynamic, and the name and version those of the file name.
    """
    data = read_sdist_member(path, "PKG-INFO")
    if data is None:
        return None
    import email.parser
    import email.policy

    text = data.decode("utf-8", errors="replace")
    headers = email.parser.HeaderParser(policy=email.policy.compat32).parsestr(text)
    try:
        metadata_version = Version(str(headers.get("Metadata-Version", "0")).strip())
    except InvalidVersion:
        return None
    if metadata_version < Version("2.2"):
        return None
    dynamic = {str(v).strip().lower() for v in headers.get_all("Dynamic") or ()}
    if dynamic & _RESOLUTION_FIELDS:
        return None
    try:
        meta = parse_core_metadata(data, source=f"PKG-INFO of {dist.filename}")
    except ValueError:
        return None
    if not _same_release(meta, dist):
        return None
    return meta


def build_requirements(path: Path) -> tuple[str, ...]:
    """The static ``[build-system] requires`` of an sdist (PEP 518), or pip's fallback when there is none."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
    try:
        data = read_sdist_member(path, "pyproject.toml", limit=_MAX_PYPROJECT_BYTES)
    except ValueError:
        return _LEGACY_BUILD_REQUIRES
    if data is None:
        return _LEGACY_BUILD_REQUIRES
    try:
        table = tomllib.loads(data.decode("utf-8", errors="replace")).get("build-system")
    except tomllib.TOMLDecodeError:
        return _LEGACY_BUILD_REQUIRES
    if not isinstance(table, dict) or "requires" not in table:
        return _LEGACY_BUILD_REQUIRES
    requires = table["requires"]
    if not isinstance(requires, list):
        return ()
    return tuple(str(r) for r in requires if isinstance(r, str))


def _same_release(meta: CoreMetadata, dist: DistFile) -> bool:
    try:
        return canonicalize_name(meta.name) == dist.name and Version(meta.version) == dist.version
    except InvalidVersion:
        return False


# -- pip's environment -----------------------------------------------------------------------------------------


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """pip's cache for build requirements: ``$XDG_CACHE_HOME/wheelhouse/pip`` (``~/.cache`` by default)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    return Path(base) / "wheelhouse" / "pip"


def pip_environment(
    config: IndexConfig | None,
    *,
    base: Mapping[str, str] | None = None,
    cache_dir: Path | None = None,
    find_links: Sequence[str] = (),
) -> dict[str, str]:
    """The environment of a pip subprocess that must look where wheelhouse looks.

    The effective index settings (already layered from pip's files, ``PIP_*`` variables, requirements files,
    wheelhouse.toml and the command line) are passed as ``PIP_*`` variables, which beat pip's files. With
    ``config.isolated`` every inherited ``PIP_*`` variable is dropped and pip's files are ignored
    (``PIP_CONFIG_FILE=os.devnull``), as ``--isolated`` promises. ``find_links`` are added to the
    configuration's (the wheels folder, so build requirements kept there serve builds with no index).
    """
    env = dict(os.environ if base is None else base)
    if config is not None and config.isolated:
        for key in [k for k in env if k.startswith("PIP_")]:
            del env[key]
        env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    if cache_dir is not None:
        env["PIP_CACHE_DIR"] = str(cache_dir)
    links = [*(config.find_links if config is not None else ()), *find_links]
    if links:
        env["PIP_FIND_LINKS"] = " ".join(links)
    if config is None:
        return env
    env["PIP_INDEX_URL"] = config.index_url
    if config.extra_index_urls:
        env["PIP_EXTRA_INDEX_URL"] = " ".join(config.extra_index_urls)
    if config.no_index:
        env["PIP_NO_INDEX"] = "1"
    if config.cert:
        env["PIP_CERT"] = config.cert
    env["PIP_TIMEOUT"] = str(config.timeout)
    env["PIP_RETRIES"] = str(config.retries)
    return env


def _own_links(store: Store) -> tuple[str, ...]:
    """The wheels folder as a find-links location: build requirements kept there (--keep-build-deps) then
    serve isolated builds even with no index, which is what repeating a build offline needs."""
    return (str(store.root.resolve()),) if store.root.is_dir() else ()


def _log_tail(log: Path, lines: int = LOG_TAIL_LINES) -> tuple[str, ...]:
    try:
        with open(log, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ()
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return tuple(kept[-lines:])


def _start_log(log: Path, argv: Sequence[str], note: str = "") -> None:
    """Begin a fresh log with the command (its argv holds no credentials: index URLs travel in the environment)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    header = f"$ {shlex.join(argv)}\n"
    if note:
        header = f"# {note}\n{header}"
    log.write_text(header, encoding="utf-8")


def _log_name(filename: str) -> str:
    for suffix in (".tar.gz", ".zip"):
        if filename.endswith(suffix):
            return filename[: -len(suffix)]
    return filename


# -- metadata during resolution --------------------------------------------------------------------------------

Fetch = Callable[[DistFile, Path], str]


class SdistMetadata:
    """Keeps sdists in the folder and answers their core metadata, once per file per run (thread-safe)."""

    def __init__(
        self,
        store: Store,
        config: IndexConfig | None,
        options: BuildOptions = BuildOptions(),
        *,
        runner: BuildRunner = subprocess_runner,
    ) -> None:
        self.store = store
        self.config = config
        self.options = options
        self.runner = runner
        self.failures: dict[str, BuildFailure] = {}
        self._cache: dict[str, CoreMetadata] = {}
        self._lock = threading.Lock()

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
        if cached is not None:
            return cached
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
        """Run ``prepare_metadata_for_build_wheel`` through pip (isolated build environment, nothing installed)."""
        log = self.store.meta_dir / "logs" / f"{_log_name(dist.filename)}.metadata.log"
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
            _start_log(log, argv, f"preparing the metadata of {dist.filename}")
            env = pip_environment(
                self.config,
                cache_dir=self.options.cache_dir or default_cache_dir(),
                find_links=_own_links(self.store),
            )
            try:
                result = self.runner(argv, env=env, log=log, timeout=self.options.timeout)
            except OSError as exc:
                result = RunResult(127, str(exc))
            meta, problem = _report_metadata(report, dist) if result.returncode == 0 else (None, None)
        if meta is not None:
            return meta
        reason = problem or f"preparing its metadata failed (exit status {result.returncode})"
        self.failures[dist.filename] = BuildFailure("failed", (), reason, str(log), _log_tail(log))
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
    if not _same_release(meta, dist):
        return None, f"the metadata of {dist.filename} says {meta.name} {meta.version}"
    return meta, None


class SdistFinder:
    """A :class:`wheelhouse.dists.Finder` that adds sdist metadata to another finder.

    Wheels and file lists come from ``inner``; an sdist's metadata from :class:`SdistMetadata` (which keeps the
    file, downloading it with ``fetch`` when it is remote).
    """

    def __init__(self, inner: Finder, sdists: SdistMetadata, fetch: Fetch | None = None) -> None:
        self.inner = inner
        self.sdists = sdists
        self.fetch = fetch

    def files(self, name: NormalizedName) -> Sequence[DistFile]:
        """The inner finder's files for ``name``."""
        return self.inner.files(name)

    def all_files(self, name: NormalizedName) -> Sequence[DistFile]:
        """The inner finder's files for ``name``, with those it set aside (see ``Provider.all_files``)."""
        everything = getattr(self.inner, "all_files", None)
        return everything(name) if everything is not None else self.inner.files(name)

    def metadata(self, dist: DistFile) -> CoreMetadata:
        """Metadata of a wheel from the inner finder; of an sdist from its PKG-INFO or its build backend."""
        if dist.kind == "sdist":
            return self.sdists.metadata(dist, None if dist.local else self.fetch)
        return self.inner.metadata(dist)


# -- where to build --------------------------------------------------------------------------------------------


def host_incompatibility(target: Target, host: Target | None) -> str | None:
    """Why a wheel built on this machine cannot be assumed to run on ``target``, or None when it can.

    Host-compatible means: Linux, the same architecture, the same CPython minor and the same libc family.
    """
    if host is None:
        return "this machine is not Linux"
    if target.arch != host.arch:
        return f"the target is {target.arch}, this machine is {host.arch}"
    if target.python_version != host.python_version:
        return (
            f"the target runs CPython {target.python_version[0]}.{target.python_version[1]}, "
            f"wheelhouse runs on {host.python_version[0]}.{host.python_version[1]}"
        )
    if target.libc.family != host.libc.family:
        return f"the target uses {_libc_word(target)}, this machine {_libc_word(host)}"
    return None


def _libc_word(target: Target) -> str:
    return "musl" if target.libc.family == "musllinux" else "glibc"


def _host() -> Target | None:
    try:
        return host_target()
    except TargetError:
        return None


def base_image_for(target: Target, template: str | None = None) -> str:
    """The image a target's wheels are built in: ``template`` (``{python}`` is X.Y) or the official one.

    The official image is ``python:X.Y-slim`` for glibc targets and ``python:X.Y-alpine`` for musl targets, with
    the exact patch release when the target pins one.
    """
    if template:
        return template.replace("{python}", "{}.{}".format(*target.python_version))
    from wheelhouse.docker.render import default_base_image

    return default_base_image(target)


def docker_wheel_command(platform: str, image: str, wheels_dir: str, sdist: str) -> str:
    """The command that builds an sdist of the wheels folder into it, in a container: runnable anywhere.

    ``sdist`` is relative to the folder (``.wheelhouse/sdists/x-1.0.tar.gz``). A relative folder is spelled
    ``"$PWD/wheels"``, because Docker needs an absolute path for a bind mount.
    """
    mount = wheels_dir if os.path.isabs(wheels_dir) else f"$PWD/{wheels_dir.removeprefix('./')}"
    quoted_mount = '"' + mount.replace('"', '\\"') + ':/wheels"'
    tail = shlex.join(
        [
            image,
            "python3",
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--wheel-dir",
            "/wheels",
            f"/wheels/{sdist}",
        ]
    )
    return f"docker run --rm --platform {shlex.quote(platform)} -v {quoted_mount} {tail}"


@dataclass(frozen=True)
class _DockerStatus:
    client: str | None
    available: bool
    detail: str


@dataclass(frozen=True)
class _Place:
    """Where a build runs: this machine, or a container of ``image`` for ``platform``."""

    platform: str | None = None
    image: str | None = None

    @property
    def host(self) -> bool:
        return self.image is None

    def __str__(self) -> str:
        return "on this machine" if self.image is None else f"in {self.image} ({self.platform})"


@dataclass(frozen=True)
class _Attempt:
    """One build in one place, and what it left."""

    place: _Place
    command: str  # the reproducible command, recorded as built_by
    log: Path
    wheel: Path | None = None
    tags: frozenset[Tag] = frozenset()
    requires_python: str | None = None
    failure: str | None = None
    tail: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.wheel is not None

    @property
    def pure(self) -> bool:
        return bool(self.tags) and all(t.abi == "none" and t.platform == "any" for t in self.tags)

    def misfit(self, target: Target) -> str | None:
        """Why the built wheel cannot be installed on ``target`` (tags or Requires-Python), or None."""
        if target.best_tag(self.tags) is None:
            tags = ", ".join(sorted(str(t) for t in self.tags)[:3])
            return f"the wheel built {self.place} is tagged {tags}, which {target.name} does not accept"
        if self.requires_python:
            try:
                spec = SpecifierSet(self.requires_python)
            except InvalidSpecifier:
                return f"the wheel built {self.place} has an invalid Requires-Python {self.requires_python!r}"
            if not spec.contains(target.python_full_version, prereleases=True):
                return (
                    f"the wheel built {self.place} requires Python {self.requires_python}, "
                    f"{target.name} has {target.python_full_version}"
                )
        return None


class _SdistJob:
    """The builds of one sdist: which wheel serves which target, and why the others have none."""

    def __init__(self, build: SdistBuild) -> None:
        self.build = build
        self.served: dict[str, _Attempt] = {}
        self.problems: dict[str, BuildFailure] = {}

    def serve(self, attempt: _Attempt, targets: Sequence[Target], *, binary_ok: Sequence[str]) -> list[Target]:
        """Give the wheel to every target it fits; a binary only to ``binary_ok``. Returns the rest."""
        rest: list[Target] = []
        for target in targets:
            if target.name in self.served:
                continue
            misfit = attempt.misfit(target)
            if misfit is None and (attempt.pure or target.name in binary_ok):
                self.served[target.name] = attempt
                self.problems.pop(target.name, None)
            else:
                if misfit is not None:
                    self.problems[target.name] = BuildFailure("unfit", (target.name,), misfit, str(attempt.log))
                rest.append(target)
        return rest

    def failed(self, attempt: _Attempt, targets: Sequence[Target]) -> None:
        for target in targets:
            self.problems[target.name] = BuildFailure(
                "failed", (target.name,), f"{attempt.failure} {attempt.place}", str(attempt.log), attempt.tail
            )

    def failures(self) -> tuple[BuildFailure, ...]:
        """One failure per distinct cause, naming every target it leaves without a wheel."""
        merged: dict[tuple[str, str, str | None, str | None], BuildFailure] = {}
        for name, problem in self.problems.items():
            if name in self.served:
                continue
            key = (problem.kind, problem.reason, problem.log, problem.command)
            old = merged.get(key)
            merged[key] = (
                problem
                if old is None
                else BuildFailure(old.kind, (*old.targets, name), old.reason, old.log, old.tail, old.command)
            )
        return tuple(merged.values())


class _Builder:
    """Builds the sdists of one run; holds what they share (the host, Docker's status, pip's environment)."""

    def __init__(
        self,
        store: Store,
        config: IndexConfig | None,
        options: BuildOptions,
        runner: BuildRunner,
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
        self.host = _host()
        self.cache_dir = options.cache_dir or default_cache_dir(self.environ)
        self._docker: _DockerStatus | None = None

    # -- Docker --------------------------------------------------------------------------------------------

    def docker(self) -> _DockerStatus:
        """Whether a Docker engine answers (asked at most once per run, and only when a build needs it)."""
        if self._docker is not None:
            return self._docker
        if self.options.build_in == "host":
            self._docker = _DockerStatus(None, False, "--build-in host")
            return self._docker
        from wheelhouse.docker.client import DOCKER_ENV  # the client override, shared with `wheelhouse build`

        name = self.options.docker or self.environ.get(DOCKER_ENV) or "docker"
        client = shutil.which(name, path=self.environ.get("PATH"))
        if client is None:
            self._docker = _DockerStatus(None, False, f"no Docker client {name!r} is installed")
            return self._docker
        argv = [client, "version", "--format", "{{.Server.Version}}"]
        result = self._run(argv, self.environ, None, _PROBE_TIMEOUT)
        if result.returncode != 0:
            lines = [line for line in result.output.strip().splitlines() if line.strip()]
            detail = lines[-1] if lines else f"exit status {result.returncode}"
            self._docker = _DockerStatus(client, False, f"the Docker engine does not answer: {detail}")
        else:
            self._docker = _DockerStatus(client, True, f"Docker engine {result.output.strip()}")
        return self._docker

    def _run(self, argv: Sequence[str], env: Mapping[str, str], log: Path | None, timeout: float | None) -> RunResult:
        try:
            return self.runner(argv, env=env, log=log, timeout=timeout)
        except OSError as exc:
            if log is not None:
                with contextlib.suppress(OSError), open(log, "a", encoding="utf-8") as fh:
                    fh.write(f"wheelhouse: cannot run {argv[0]}: {exc}\n")
            return RunResult(127, str(exc))

    # -- running pip in a place ----------------------------------------------------------------------------

    def _pip(self, place: _Place, out: Path, sdists: Path) -> tuple[list[str], dict[str, str], str]:
        """argv prefix that runs pip in ``place`` (``out`` writable), its environment, and where ``out`` is seen."""
        if place.host:
            env = pip_environment(
                self.config, base=self.environ, cache_dir=self.cache_dir, find_links=_own_links(self.store)
            )
            return [sys.executable, "-m", "pip"], env, str(out)
        status = self.docker()
        assert status.client is not None
        assert place.image is not None
        assert place.platform is not None
        prefix, env = self._docker_run(status.client, place.platform, place.image, sdists, out)
        return [*prefix, "python3", "-m", "pip"], env, _CONTAINER_OUT

    def _docker_run(
        self, client: str, platform: str, image: str, sdists: Path, out: Path
    ) -> tuple[list[str], dict[str, str]]:
        """``docker run ...`` up to the image, and the client's environment carrying pip's settings.

        Settings travel as ``-e NAME`` (the value comes from the client's environment), so credentials in index
        URLs never appear on a command line. The host network lets pip reach the same indexes as this machine,
        127.0.0.1 included; local find-links folders and the certificate bundle are mounted read-only.
        """
        argv = [client, "run", "--rm", "--platform", platform, "--network", "host"]
        if hasattr(os, "getuid"):
            # Files in the output folder then belong to the user running wheelhouse, not to root.
            argv += ["--user", f"{os.getuid()}:{os.getgid()}"]
        argv += ["-v", f"{sdists.resolve()}:{_CONTAINER_SDISTS}:ro", "-v", f"{out.resolve()}:{_CONTAINER_OUT}"]
        env = {k: v for k, v in self.environ.items() if not k.startswith("PIP_")}
        inner: dict[str, str] = {
            "HOME": "/tmp",
            "PIP_CONFIG_FILE": "/dev/null",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "PIP_ROOT_USER_ACTION": "ignore",
        }
        mounts: list[str] = []

        def seen_inside(location: str, n: int) -> str | None:
            """A location as the container sees it: URLs as they are, local folders mounted read-only."""
            if "://" in location and not location.startswith("file:"):
                return location
            local = Path(location.removeprefix("file://").removeprefix("file:"))
            if not local.is_dir():
                return None
            mounts.extend(["-v", f"{local.resolve()}:/wheelhouse-links/{n}:ro"])
            inside = f"/wheelhouse-links/{n}"
            return f"file://{inside}" if location.startswith("file:") else inside

        config = self.config
        links: list[str] = []
        if config is not None:
            indexes = [seen_inside(u, n) for n, u in enumerate(config.index_urls)]
            if indexes and indexes[0]:
                inner["PIP_INDEX_URL"] = indexes[0]
            extra = [u for u in indexes[1:] if u]
            if extra:
                inner["PIP_EXTRA_INDEX_URL"] = " ".join(extra)
            offset = len(indexes)
            links = [u for n, loc in enumerate(config.find_links) if (u := seen_inside(loc, offset + n))]
            if config.no_index:
                inner["PIP_NO_INDEX"] = "1"
            if config.cert and Path(config.cert).is_file():
                mounts.extend(["-v", f"{Path(config.cert).resolve()}:/etc/wheelhouse-ca.pem:ro"])
                inner["PIP_CERT"] = "/etc/wheelhouse-ca.pem"
            inner["PIP_TIMEOUT"] = str(config.timeout)
            inner["PIP_RETRIES"] = str(config.retries)
        if self.store.root.is_dir():
            # Build requirements kept in the folder (--keep-build-deps) serve container builds too.
            mounts.extend(["-v", f"{self.store.root.resolve()}:/wheelhouse-links/wheels:ro"])
            links.append("/wheelhouse-links/wheels")
        if links:
            inner["PIP_FIND_LINKS"] = " ".join(links)
        argv += mounts
        for key, value in inner.items():
            argv += ["-e", key]
            env[key] = value
        argv.append(image)
        return argv, env

    # -- one build -----------------------------------------------------------------------------------------

    def attempt(self, build: SdistBuild, sdist: Path, work: Path, place: _Place, targets: Sequence[Target]) -> _Attempt:
        """``pip wheel --no-deps`` of the kept sdist in ``place``, into a private output folder, judged from disk."""
        out = Path(tempfile.mkdtemp(prefix="out-", dir=work))
        label = "host" if place.platform is None else place.platform.replace("/", "-")
        log = self.store.meta_dir / "logs" / f"{_log_name(build.filename)}.{label}.log"
        pip, env, out_seen = self._pip(place, out, sdist.parent)
        flags = ["wheel", "--no-deps", "--ignore-requires-python"]
        if place.host and not self.options.isolation:
            flags.append("--no-build-isolation")
        sdist_seen = str(sdist) if place.host else f"{_CONTAINER_SDISTS}/{sdist.name}"
        argv = [*pip, *flags, "--wheel-dir", out_seen, sdist_seen]
        if place.host:
            command = shlex.join([*pip, *flags, "--wheel-dir", str(self.store.root), str(sdist)])
        else:
            assert place.platform is not None
            assert place.image is not None
            root = str(self.store.root.resolve())
            command = docker_wheel_command(place.platform, place.image, root, self._relative(sdist))
        self.reporter.build_started(build, str(place), [t.name for t in targets])
        _start_log(log, argv, f"building {build.filename} {place}")
        result = self._run(argv, env, log, self.options.timeout)
        return self._judge(_Attempt(place, command, log), result.returncode, out, build)

    @staticmethod
    def _judge(attempt: _Attempt, returncode: int, out: Path, build: SdistBuild) -> _Attempt:
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
                meta = read_wheel_metadata(wheel, str(name), str(version))
            except (InvalidWheelFilename, ValueError) as exc:
                failure = f"the built wheel is unusable: {exc}"
            else:
                return _Attempt(attempt.place, attempt.command, attempt.log, wheel, tags, meta.requires_python)
        return _Attempt(attempt.place, attempt.command, attempt.log, failure=failure, tail=_log_tail(attempt.log))

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
            job = _SdistJob(build)
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

    def _plan_and_run(self, job: _SdistJob, sdist: Path, work: Path) -> None:
        """Decide where each target's wheel is built, build each place at most once, and record the outcome."""
        build = job.build
        mode = self.options.build_in
        targets = list(build.targets)
        host_ok = [t.name for t in targets if mode != "docker" and host_incompatibility(t, self.host) is None]
        host_attempt: _Attempt | None = None

        def on_host(for_targets: Sequence[Target]) -> _Attempt:
            nonlocal host_attempt
            if host_attempt is None:
                host_attempt = self.attempt(build, sdist, work, _Place(), for_targets)
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
        docker = self.docker() if foreign else _DockerStatus(None, False, "")
        if foreign and docker.available:
            groups: dict[_Place, list[Target]] = {}
            for target in foreign:
                place = _Place(target.docker_platform, base_image_for(target, self.options.base_image))
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

    def _commit_served(self, job: _SdistJob, sdist: Path) -> tuple[tuple[BuiltWheel, ...], list[str]]:
        """Commit each wheel that serves some target (a binary nobody may use is dropped), with its record."""
        by_attempt: dict[Path, tuple[_Attempt, list[str]]] = {}
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
                notes.extend(self._glibc_notes(wheel.name, [t for t in build.targets if t.name in names]))
        return tuple(wheels), notes

    def _glibc_notes(self, wheel: str, targets: Sequence[Target]) -> list[str]:
        """Say so when a binary built here links against a newer glibc than a target promises."""
        host = self.host
        if host is None or host.libc.family != "manylinux":
            return []
        have = (host.libc.major, host.libc.minor)
        return [
            f"{wheel} was built against this machine's glibc {have[0]}.{have[1]}, but {target.name} promises only "
            f"glibc {target.libc.major}.{target.libc.minor}: it runs where glibc is {have[0]}.{have[1]} or newer "
            "(--build-in docker builds it in the target's image instead)"
            for target in targets
            if (target.libc.major, target.libc.minor) < have
        ]

    # -- build requirements (--keep-build-deps) ------------------------------------------------------------

    def _keep_build_deps(self, build: SdistBuild, sdist: Path, work: Path, place: _Place) -> list[str]:
        """Download the sdist's build requirements as wheels where it was built, and add them to the folder.

        Only the static ``[build-system] requires`` are known without running the backend; they are what a
        rebuild with ``--no-index --find-links wheels`` needs for setuptools, flit, hatchling and the like.
        """
        requires = build_requirements(sdist)
        if not requires:
            return []
        out = Path(tempfile.mkdtemp(prefix="deps-", dir=work))
        label = "host" if place.platform is None else place.platform.replace("/", "-")
        log = self.store.meta_dir / "logs" / f"{_log_name(build.filename)}.{label}.build-deps.log"
        pip, env, out_seen = self._pip(place, out, sdist.parent)
        argv = [*pip, "download", "--only-binary", ":all:", "--dest", out_seen, *requires]
        _start_log(log, argv, f"downloading the build requirements of {build.filename} {place}")
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
    options: BuildOptions = BuildOptions(),
    runner: BuildRunner = subprocess_runner,
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
    builder = _Builder(store, config, options, runner, reporter, sources, environ)
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
