"""PEP 751 ``pylock.toml``: written from a lock of the folder, and read as an input of locked versions.

Writing (:func:`build_pylock`, :func:`render_pylock`): one lock file serves every target. Each ``[[packages]]``
entry is one (name, version) that some target installs, with a ``marker`` where only some targets use it (the
marker :func:`wheelhouse.resolve.lockfile.target_marker` proves on every target), and one ``wheels`` entry per
file of that version that one of its targets can install: its ``name``, ``size``, sha256 (from
:meth:`Store.hashes`, which computes or vouches for every hash it returns), a ``path`` relative to the lock file
pointing into the wheels folder, so that an installer needs no index at all, and the ``url`` it was downloaded
from when it came from an index. ``environments`` holds one marker per target. Every document is validated with
:mod:`packaging.pylock` before it is returned, so a file this module writes is one pip and uv accept.

Reading (:func:`read_pylock_constraints`): every package of the lock becomes the requirement ``name==version``
under the package's marker, so each target resolves exactly the locked versions its markers select, and the
target's tags still decide which files it needs. Each requirement carries the hashes of its package's files, so
a file of the folder or an index serves it only with one of those digests, as an installer checks them. Whether
a lock can serve a target at all (its ``environments``, ``requires-python``, and a wheel or sdist of every
package the target selects) is decided by packaging's own selection, :meth:`Pylock.select`, for the target's
complete marker environment and tags: :meth:`PylockInput.refusal` says why not, naming the package and the
target, and :func:`check_targets` raises it.

The lock is untrusted input: a regular file of bounded size, validated whole before anything is used; direct
references (VCS, directories, archives) are refused as everything pip would have to fetch or build is refused in
a requirements file.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName, default_environment
from packaging.pylock import (
    Package,
    PackageWheel,
    Pylock,
    PylockSelectError,
    PylockValidationError,
    is_valid_pylock_path,
)
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

from wheelhouse import _toml
from wheelhouse._markers import UnevaluableMarker, failed_comparison, holds
from wheelhouse._text import redact, redact_url, shorten
from wheelhouse.errors import NotCoveredError, RequirementsError, StoreError, UsageError
from wheelhouse.requirements import Origin, RequirementLine
from wheelhouse.resolve.lockfile import Lock, lock_header
from wheelhouse.store.folder import Store
from wheelhouse.targets import Target

__all__ = [
    "DEFAULT_PYLOCK",
    "PylockInput",
    "build_pylock",
    "check_output_name",
    "check_targets",
    "is_pylock_file",
    "is_pylock_name",
    "read_pylock",
    "read_pylock_constraints",
    "render_pylock",
    "target_environment",
]

DEFAULT_PYLOCK = "pylock.toml"
# What wheelhouse writes; a reader warns about newer minor versions (packaging does) and refuses 2.x.
LOCK_VERSION = "1.0"
# PEP 751 lets a lock name any algorithm of hashlib.algorithms_guaranteed; the shake ones have no fixed length
# (a digest of them cannot be compared), so they alone are left out.
_HASH_ALGORITHMS = frozenset(hashlib.algorithms_guaranteed - {"shake_128", "shake_256"})
_OFFLINE_HINT = "lock released versions from an index, then wheelhouse download -r the lock"


# -- writing -------------------------------------------------------------------------------------------------


def is_pylock_name(path: str | os.PathLike[str]) -> bool:
    """Whether PEP 751 allows this file name for a lock: ``pylock.toml`` or ``pylock.<name>.toml``.

    pip and uv tell a lock from a requirements file by this name alone, so a lock under another name would be
    read by them as a requirements file.
    """
    return is_valid_pylock_path(Path(path))


def target_environment(target: Target) -> str:
    """The marker expression of ``environments`` that a machine of ``target`` satisfies.

    It names what a marker can see of a target: Linux, CPython, the machine and the Python version. The libc
    (manylinux or musllinux, and its version) has no marker; the files listed for the target carry that.
    """
    env = target.marker_environment
    return (
        f'sys_platform == "linux" and platform_python_implementation == "CPython" '
        f'and platform_machine == "{env["platform_machine"]}" and python_version == "{env["python_version"]}"'
    )


def _relative(path: Path, start: Path) -> str:
    # PEP 751: a relative path is relative to the lock file and MAY use POSIX separators for portability.
    return Path(os.path.relpath(path, start)).as_posix()


def _index_url(url: str | None) -> str | None:
    """The URL to record for a file: only one an index served (http or https), and never one with credentials."""
    if not url or not url.lower().startswith(("https://", "http://")):
        return None
    return url if redact_url(url) == url else None


def build_pylock(lock: Lock, store: Store, *, lock_dir: Path) -> Pylock:
    """The validated lock document for a covered :class:`Lock`; paths are relative to ``lock_dir``.

    Raises :class:`StoreError` when a file changed or vanished since the lock was built.
    """
    if not lock.covered:
        raise ValueError("build_pylock needs a lock whose targets are all covered")
    records = store.records()
    packages: list[Package] = []
    for entry in lock.entries:
        digests = dict(entry.digests) if entry.digests else store.hashes(entry.files)
        wheels: list[PackageWheel] = []
        for filename in entry.files:
            path = store.root / filename
            try:
                size = path.stat().st_size
            except OSError as exc:
                raise StoreError(
                    f"cannot read {filename}: {exc.strerror or exc}; was the folder changed meanwhile?",
                    hint="run wheelhouse lock again",
                ) from None
            record = records.get(filename)
            wheels.append(
                PackageWheel(
                    name=filename,
                    url=_index_url(record.url if record else None),
                    path=_relative(path, lock_dir),
                    size=size,
                    hashes={"sha256": digests[filename]},
                )
            )
        packages.append(
            Package(
                name=entry.name,
                version=entry.version,
                marker=Marker(entry.marker) if entry.marker else None,
                wheels=wheels,
            )
        )
    document = Pylock(
        lock_version=Version(LOCK_VERSION),
        environments=[Marker(target_environment(t)) for t in lock.targets],
        created_by="wheelhouse",
        packages=packages,
        tool={"wheelhouse": {"targets": [t.name for t in lock.targets]}},
    )
    # What we write must be what the standard's own reader accepts (pip and uv use this same validation).
    document.validate()
    return document


def render_pylock(lock: Lock, store: Store, *, output: Path, wheels_dir: str = "wheels") -> str:
    """The text of ``pylock.toml`` (written to ``output``): a comment header saying how it was made and how to
    install from it, then the TOML document. Deterministic: no dates, entries sorted by name and version."""
    import tomli_w

    document = build_pylock(lock, store, lock_dir=output.parent)
    name = output.name
    header = lock_header(lock, wheels_dir)
    header += [
        "# Every file is in the wheels folder (see each `path`), so no index is needed to install:",
        f"#    pip install --no-index -r {name}          (pip 26.1 or newer)",
        f"#    uv pip install --offline -r {name}",
        "",
    ]
    data = dict(document.to_dict())
    # Markers in single quotes read as uv writes them; the values quoted are versions and machine names only.
    data["environments"] = [_single_quoted(m) for m in data["environments"]]
    data["packages"] = [{**p, "marker": _single_quoted(p["marker"])} if "marker" in p else p for p in data["packages"]]
    return "\n".join(header) + tomli_w.dumps(data)


def _single_quoted(marker: str) -> str:
    return marker.replace('"', "'") if "'" not in marker else marker


# -- reading -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PylockInput:
    """A lock read as an input: the requirement of each package and the validated document.

    ``requirements`` pin every package to its version under the package's marker. :meth:`refusal` has the
    contract of the other lock readers' scopes: why the lock cannot serve a target, or None.
    """

    path: str
    document: Pylock = field(repr=False)
    requirements: tuple[RequirementLine, ...] = ()

    def refusal(self, target: Target) -> str | None:
        """Why this lock cannot serve ``target`` (naming the package where one is at fault), or None."""
        where = f"{self.path} cannot serve target {target.name} ({target.docker_platform})"
        try:
            # Exhaust the generator: packaging reports a package without a fitting file only when it reaches it.
            list(self.document.select(environment=_environment(target), tags=target.tags))
        except PylockSelectError as exc:
            return f"{where}: {_select_reason(str(exc), self.document, target)}"
        except UndefinedComparison as exc:
            return f"{where}: one of its markers cannot be evaluated for it ({failed_comparison(exc)})"
        return None


def _environment(target: Target) -> Any:
    # packaging's Environment is a TypedDict of the same keys as the target's complete marker environment.
    return dict(target.marker_environment)


_PACKAGE_AT = re.compile(r"packages\[(\d+)\]")


def _select_reason(message: str, document: Pylock, target: Target) -> str:
    """packaging's selection error in the words of a target, with the package's name and version."""
    found = _PACKAGE_AT.search(message)
    package = document.packages[int(found.group(1))] if found else None
    name = shorten(package.name) if package else ""
    what = f"{name} {package.version}" if package and package.version else name
    if "No wheel found matching" in message and package is not None:
        return f"no wheel of {what} in the lock fits it, and the lock has no sdist of {name}"
    if "environments specified" in message:
        return f"the lock was made only for {_made_for(document)}"
    if "does not satisfy the Python version" in message:
        need = package.requires_python if package else document.requires_python
        subject = f"{what} requires" if package else "the lock requires"
        return f"{subject} Python {need}; the target has {target.python_full_version}"
    if "Multiple packages" in message and package is not None:
        return f"the lock selects two versions of {name} for it"
    return message


def _made_for(document: Pylock) -> str:
    """The targets a lock was made for: their names when wheelhouse wrote it, else its environments."""
    tool = document.tool or {}
    ours = tool.get("wheelhouse") if isinstance(tool, Mapping) else None
    names = ours.get("targets") if isinstance(ours, Mapping) else None
    if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
        return shorten(", ".join(names), 400)
    return shorten(" or ".join(f"({m})" for m in document.environments or ()), 400)


def is_pylock_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a lock: by its PEP 751 name, else by content (a TOML table with ``lock-version``,
    ``created-by`` and ``packages``), for a lock kept under another name."""
    if is_pylock_name(path):
        return True
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            # Judged before any read: a directory opens, but a file object of it cannot be made.
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > _toml.MAX_BYTES:
                return False
            # Cheap refusal of the usual requirements file before parsing anything as TOML.
            if b"lock-version" not in os.read(fd, 4096):
                return False
        finally:
            os.close(fd)
        data = _toml.parse(_toml.read_text(os.fspath(path)), os.fspath(path))
    except (OSError, ValueError, RequirementsError):
        return False
    return isinstance(data, dict) and {"lock-version", "created-by", "packages"} <= data.keys()


def read_pylock(path: str | os.PathLike[str]) -> Pylock:
    """The validated lock at ``path``; a one-line :class:`RequirementsError` naming the file otherwise."""
    name = os.fspath(path)
    return _parse(name, _toml.read_text(name))


def _parse(name: str, text: str) -> Pylock:
    data = _toml.parse(text, name)
    try:
        return Pylock.from_dict(data)
    except PylockValidationError as exc:
        # packaging quotes a marker it cannot parse on lines of their own, under a caret: its first line says what.
        # Redacted before it is cut: a URL cut inside its password would no longer be recognised as one.
        reason = shorten(redact(exc.message.splitlines()[0] if exc.message.strip() else "invalid"))
        where = f" in {shorten(exc.context, 60)!r}" if exc.context else ""
        raise RequirementsError(f"not a valid pylock.toml: {reason}{where}", path=name, line=None, text="") from None


def _package_lines(text: str, count: int) -> list[int | None]:
    """The line of each ``[[packages]]`` header, when the lock is written with one per package."""
    lines = [n for n, line in enumerate(text.splitlines(), 1) if line.strip() == "[[packages]]"]
    return list(lines) if len(lines) == count else [None] * count


def _version_of(package: Package) -> Version | None:
    if package.version is not None:
        return package.version
    # PEP 751 lets a package with files leave its version out: the file names say it.
    if package.wheels:
        return parse_wheel_filename(package.wheels[0].filename)[1]
    if package.sdist is not None:
        return parse_sdist_filename(package.sdist.filename)[1]
    return None


# ``"x" in extras`` / ``"g" not in dependency_groups``, as packaging writes a marker back (double quotes).
_SET_CLAUSE = re.compile(r'"(?P<name>[^"]*)"\s+(?P<op>not\s+in|in)\s+(?P<key>extras|dependency_groups)\b')
# Clauses that always and never hold: what a set clause becomes once the selection is known.
_TRUE = 'python_version >= "0"'
_FALSE = 'python_version < "0"'


def _requirement_marker(marker: Marker | None, groups: frozenset[str], origin: Origin) -> str | None:
    """The package's marker as a requirement marker: its ``extras`` and ``dependency_groups`` clauses settled
    for the default selection (no extras, the lock's default groups), as pip installs a lock by default.
    """
    if marker is None:
        return None
    _check_names(marker, "lock_file", origin)
    selected = {"extras": frozenset[str](), "dependency_groups": groups}

    def settle(match: re.Match[str]) -> str:
        inside = canonicalize_name(match.group("name")) in selected[match.group("key")]
        holds = inside if match.group("op") == "in" else not inside
        return _TRUE if holds else _FALSE

    text = _SET_CLAUSE.sub(settle, str(marker))
    try:
        # A clause the pattern missed would reach the resolver, which evaluates without these keys: evaluating
        # once in a complete environment without them raises now instead.
        environment = {key: str(value) for key, value in default_environment().items()}
        environment["extra"] = ""
        holds(Marker(text), environment)
    except (InvalidMarker, UndefinedEnvironmentName):
        raise _marker_error(
            "a marker on extras or dependency groups that wheelhouse cannot settle", marker, origin
        ) from None
    except UnevaluableMarker as exc:
        raise _marker_error(f"a marker that cannot be evaluated ({exc.why})", marker, origin) from None
    return text


def _marker_error(message: str, marker: Marker, origin: Origin) -> RequirementsError:
    return RequirementsError(message, path=origin.path, line=origin.line, text=str(marker))


def _check_names(marker: Marker, context: Literal["lock_file", "requirement"], origin: Origin) -> None:
    """Refuse a marker naming what no installer defines where it stands (``extra`` in a lock, ``extras`` in its
    ``environments``): packaging's selection, pip's included, fails on it for every target."""
    try:
        marker.evaluate(context=context)
    except UndefinedEnvironmentName as exc:
        what = "environments" if context == "requirement" else "a package marker"
        raise _marker_error(
            f"{what} uses the marker name {exc}, which installers do not define there", marker, origin
        ) from None
    except UndefinedComparison:
        pass  # depends on the environment: refused per target by PylockInput.refusal


def read_pylock_constraints(path: str | os.PathLike[str]) -> PylockInput:
    """Read the lock at ``path`` as an input: one ``name==version ; marker`` requirement per package, carrying
    the hashes of its files, with the line of its ``[[packages]]`` header as origin.

    Direct references (VCS, directory, archive) are refused: nothing is fetched or built offline. Raises
    :class:`RequirementsError` (one line, naming the file) for a file that is not a valid lock.
    """
    name = os.fspath(path)
    text = _toml.read_text(name)
    document = _parse(name, text)
    lines = _package_lines(text, len(document.packages))
    for environment in document.environments or ():
        _check_names(environment, "requirement", Origin(name, None))
    groups = frozenset(canonicalize_name(g) for g in document.default_groups or ())
    out: list[RequirementLine] = []
    for package, line in zip(document.packages, lines, strict=True):
        origin = Origin(name, line)
        if package.is_direct:
            kind = "a VCS source" if package.vcs else "a directory" if package.directory else "an archive URL"
            raise RequirementsError(
                f"{shorten(package.name)} is locked to {kind}, which is not supported offline",
                path=name,
                line=line,
                text=package.name,
                hint=_OFFLINE_HINT,
            )
        marker = _requirement_marker(package.marker, groups, origin)
        version = _version_of(package)
        spec = f"{package.name}=={version}" + (f" ; {marker}" if marker else "")
        hashes = _hashes(package)
        if not hashes:
            # Without a digest it can check, wheelhouse would take any file of that version: refuse rather than
            # drop the check the lock asks for.
            raise RequirementsError(
                f"{shorten(package.name)}: none of its files lists a hash wheelhouse can check "
                "(sha256, or another of hashlib's guaranteed algorithms but shake_*)",
                path=name,
                line=line,
                text="",
            )
        out.append(RequirementLine(requirement=Requirement(spec), origin=origin, text=spec, hashes=hashes))
    return PylockInput(name, document, tuple(out))


def _hashes(package: Package) -> tuple[str, ...]:
    """Every ``algorithm:hexdigest`` the package's files list: the resolver then admits only a file with one of
    them, as an installer checks each file of the lock against its hashes."""
    files: list[Mapping[str, str]] = [w.hashes for w in package.wheels or ()]
    if package.sdist is not None:
        files.append(package.sdist.hashes)
    found = {f"{algorithm.lower()}:{value.lower()}" for hashes in files for algorithm, value in hashes.items()}
    return tuple(sorted(h for h in found if h.partition(":")[0] in _HASH_ALGORITHMS))


def check_targets(inputs: Iterable[PylockInput], targets: Iterable[Target]) -> None:
    """Raise :class:`NotCoveredError` for the first target a lock cannot serve (see :meth:`PylockInput.refusal`)."""
    locks = list(inputs)
    for target in targets:
        for item in locks:
            reason = item.refusal(target)
            if reason is not None:
                raise NotCoveredError(reason, hint="lock again for that target, or drop the target")


def check_output_name(output: str) -> None:
    """Refuse a lock file name pip and uv would not read as a lock (they would take it for requirements)."""
    if output != "-" and not is_pylock_name(output):
        raise UsageError(
            f"{output}: a PEP 751 lock must be named pylock.toml or pylock.<name>.toml, "
            "or installers read it as a requirements file",
            hint="-o pylock.toml",
        )
