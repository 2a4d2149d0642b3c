"""A pinned, hashed requirements file for exactly the wheels in the folder that serve the targets.

The output is pip's requirements format, so ``pip install --require-hashes --no-index --find-links wheels -r
requirements.lock`` installs on every target and refuses any file whose bytes differ from what was locked.

One file serves every target. Resolutions differ per target (``tomli`` only below Python 3.11, another numpy
for another Python): a pin that only some targets use carries an environment marker built from what tells those
targets apart (``python_version``, ``platform_machine``), and each marker is checked against every target's
complete marker environment before the file is written. Targets that differ only in their libc cannot be told
apart by a marker; when their pins differ, the lock is refused with the per-target command instead.

Each line carries the hash of every file of that version that one of its targets can install, not only the
file our resolver ranked best: pip on the real machine may rank tags slightly differently (a newer glibc than
the target names), and it must still find its choice allowed.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import NormalizedName
from packaging.version import Version

from wheelhouse import __version__
from wheelhouse.dists import DistFile
from wheelhouse.errors import StoreError, UsageError
from wheelhouse.requirements import RequirementSet
from wheelhouse.resolve.file_rules import hash_mismatch
from wheelhouse.resolve.resolver import resolve
from wheelhouse.resolve.verify import VerifyReport
from wheelhouse.resolve.vocabulary import Req
from wheelhouse.share.inventory import installable
from wheelhouse.store.folder import Store, StoreFinder
from wheelhouse.store.fs import atomic_write, file_digest
from wheelhouse.targets import Target

__all__ = ["Lock", "LockEntry", "build_lock", "render_lock", "target_marker", "write_lock"]


@dataclass(frozen=True)
class LockEntry:
    """One pin line: a project version, the marker selecting its targets, and its files' hashes."""

    name: NormalizedName
    version: Version
    marker: str | None
    targets: tuple[str, ...]
    files: tuple[str, ...]
    hashes: tuple[str, ...]  # "sha256:<hex>", sorted
    # (file name, sha256 hex) of each file, in the order of ``files``: a pylock.toml lists each file's own hash.
    digests: tuple[tuple[str, str], ...] = ()

    def line(self) -> str:
        """The entry in pip's requirements format, one ``--hash`` per continuation line."""
        head = f"{self.name}=={self.version}" + (f" ; {self.marker}" if self.marker else "")
        return " \\\n".join([head, *(f"    --hash={h}" for h in self.hashes)])


@dataclass(frozen=True)
class Lock:
    """A lock for a requirement set and targets; ``entries`` is empty when the folder does not cover them."""

    report: VerifyReport
    entries: tuple[LockEntry, ...] = ()
    command: str | None = None

    @property
    def covered(self) -> bool:
        """Whether every target resolved from the folder (only then is there anything to write)."""
        return self.report.covered

    @property
    def targets(self) -> tuple[Target, ...]:
        """The targets the lock serves, in the order given."""
        return tuple(r.target for r in self.report.resolutions)


def _python_key(target: Target) -> str:
    return f"{target.python_version[0]}.{target.python_version[1]}"


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))


def _python_clause(chosen: set[str], every: set[str]) -> str:
    """A marker on python_version selecting exactly ``chosen`` among ``every``; a range when one fits."""
    ordered = sorted(every, key=_version_tuple)
    picked = sorted(chosen, key=_version_tuple)
    if len(picked) == 1:
        return f'python_version == "{picked[0]}"'
    # Bounds name only versions that are targets, so the marker says what was locked, nothing more.
    if picked == ordered[: len(picked)]:
        return f'python_version <= "{picked[-1]}"'
    if picked == ordered[-len(picked) :]:
        return f'python_version >= "{picked[0]}"'
    return " or ".join(f'python_version == "{v}"' for v in picked)


def _machine_clause(chosen: set[str]) -> str:
    return " or ".join(f'platform_machine == "{m}"' for m in sorted(chosen))


def target_marker(chosen: Sequence[Target], every: Sequence[Target]) -> str | None:
    """An environment marker true on the ``chosen`` targets and false on the rest of ``every``.

    None when ``chosen`` is all of them. Raises :class:`UsageError` when a chosen and an unchosen target share
    Python version and machine (they differ only in libc, which no marker can see).
    """
    names = {t.name for t in chosen}
    if names >= {t.name for t in every}:
        return None
    inside = [t for t in every if t.name in names]
    outside = [t for t in every if t.name not in names]
    features = {(_python_key(t), t.arch) for t in inside}
    for t in outside:
        if (_python_key(t), t.arch) in features:
            twin = next(u for u in inside if (_python_key(u), u.arch) == (_python_key(t), t.arch))
            raise UsageError(
                f"targets {twin.name} and {t.name} need different pins but no environment marker tells them "
                "apart (they differ only in libc); lock them into separate files",
                hint=f"wheelhouse lock --target {twin.name} -o requirements-{twin.name}.lock, "
                f"then the same for {t.name}",
            )
    pythons_in = {_python_key(t) for t in inside}
    machines_in = {t.arch for t in inside}
    every_python = {_python_key(t) for t in every}
    if all((_python_key(t) in pythons_in) == (t.name in names) for t in every):
        marker = _python_clause(pythons_in, every_python)
    elif all((t.arch in machines_in) == (t.name in names) for t in every):
        marker = _machine_clause(machines_in)
    else:
        # Neither alone separates them: one clause per Python version, narrowed by machine where needed.
        clauses = []
        for python in sorted(pythons_in, key=_version_tuple):
            same_python = [t for t in every if _python_key(t) == python]
            wanted = {t.arch for t in same_python if t.name in names}
            if wanted == {t.arch for t in same_python}:
                clauses.append(f'python_version == "{python}"')
            else:
                machines = _machine_clause(wanted)
                machines = f"({machines})" if len(wanted) > 1 else machines
                clauses.append(f'(python_version == "{python}" and {machines})')
        marker = " or ".join(clauses)
    # The marker is the whole promise of a shared lock file: prove it on every target's environment.
    parsed = Marker(marker)
    for t in every:
        if parsed.evaluate(dict(t.marker_environment)) != (t.name in names):
            raise AssertionError(f"marker {marker!r} misjudges {t.name}")
    return marker


def _pinned_hashes(requirements: RequirementSet) -> dict[NormalizedName, list[Req]]:
    """Per project, its requirements and constraints that pin hashes."""
    pinned: dict[NormalizedName, list[Req]] = {}
    for line in (*requirements.requirements, *requirements.constraints):
        if line.hashes:
            pinned.setdefault(line.name, []).append(Req.top_level(line))
    return pinned


def _admitted(root: Path, dist: DistFile, sha256: str, reqs: Sequence[Req]) -> bool:
    """Whether every requirement in ``reqs`` admits ``dist`` by its hashes (the resolver's rule)."""

    def digest(file: DistFile, algorithm: str) -> str:
        return sha256 if algorithm == "sha256" else file_digest(root / file.filename, algorithm)

    return not any(hash_mismatch(dist, req, digest) for req in reqs)


def build_lock(
    requirements: RequirementSet,
    targets: Sequence[Target],
    store: Store,
    *,
    command: str | None = None,
    fix_args: Sequence[str] = (),
) -> Lock:
    """Resolve every target from the folder alone and collect one entry per pinned project version.

    Returns a lock without entries when some target is not covered (see ``lock.report``).
    """
    scan = store.scan()
    finder = StoreFinder(scan)
    resolutions = tuple(resolve(requirements, t, [finder]) for t in targets)
    report = VerifyReport(str(store.root), resolutions, scan.problems, tuple(fix_args))
    if not report.covered:
        return Lock(report, command=command)
    users: dict[tuple[NormalizedName, Version], list[Target]] = {}
    for res in resolutions:
        for pin in res.pins:
            users.setdefault((pin.name, pin.version), []).append(res.target)
    by_version: dict[tuple[NormalizedName, Version], list[DistFile]] = {}
    for wheel in scan.wheels:
        by_version.setdefault((wheel.dist.name, wheel.dist.version), []).append(wheel.dist)
    files: dict[tuple[NormalizedName, Version], list[str]] = {}
    for key, using in users.items():
        files[key] = sorted(d.filename for d in by_version.get(key, []) if any(installable(d, t) for t in using))
    try:
        hashes = store.hashes(sorted({f for names in files.values() for f in names}))
        pinned = _pinned_hashes(requirements)
        if pinned:
            # A file the user's own --hash values refuse is one pip would refuse too: the lock must not list it.
            by_file = {d.filename: d for dists in by_version.values() for d in dists}
            files = {
                key: [f for f in names if _admitted(store.root, by_file[f], hashes[f], pinned.get(key[0], ()))]
                for key, names in files.items()
            }
    except OSError as exc:
        raise StoreError(
            f"cannot hash {getattr(exc, 'filename', '') or 'a wheel'}: {exc.strerror or exc}; "
            "was the folder changed meanwhile?",
            hint="run wheelhouse lock again",
        ) from None
    entries = [
        LockEntry(
            name=name,
            version=version,
            marker=target_marker(users[(name, version)], targets),
            targets=tuple(t.name for t in users[(name, version)]),
            files=tuple(files[(name, version)]),
            hashes=tuple(sorted({f"sha256:{hashes[f]}" for f in files[(name, version)]})),
            digests=tuple((f, hashes[f]) for f in files[(name, version)]),
        )
        for name, version in sorted(users)
    ]
    return Lock(report, tuple(entries), command)


def lock_header(lock: Lock, wheels_dir: str) -> list[str]:
    """The comment lines every lock file wheelhouse writes begins with: what made it, how to update it, and for
    which targets."""
    header = [f"# This file was generated by wheelhouse {__version__} from the wheels in {wheels_dir}/."]
    if lock.command:
        header += ["# To update it, run:", f"#    {lock.command}"]
    header.append("# Targets:")
    header += [f"#    {t.name} ({t.docker_platform}, CPython {t.python_full_version})" for t in lock.targets]
    return header


def render_lock(lock: Lock, *, wheels_dir: str = "wheels", output: str = "requirements.lock") -> str:
    """The text of the lock file: a header saying how it was made and how to use it, then one entry per pin.

    Deterministic: the same folder, requirements and targets give the same bytes (no dates, sorted entries).
    """
    header = lock_header(lock, wheels_dir)
    header += [
        "# Install with:",
        f"#    pip install --require-hashes --no-index --find-links {shlex.quote(wheels_dir)} -r {shlex.quote(output)}",
        "",
    ]
    return "\n".join(header + [entry.line() for entry in lock.entries]) + "\n"


def write_lock(path: Path, text: str) -> None:
    """Write the lock atomically: a reader sees the old file or the new one, never half of it."""
    try:
        atomic_write(path, text.encode())
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from None
