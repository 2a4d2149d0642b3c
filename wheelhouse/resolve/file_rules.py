"""The rules about one file for one target: whether it may serve, why not, and what it brings.

Contract: a :class:`FileRules` is configured once (a target, --no-binary / --only-binary, whether source
distributions are admitted) and never reconfigured, so every answer it gives about a file or a text is kept for
the rest of a resolution. It decides:

* markers, evaluated in the target's complete environment (once per extra, as pip does);
* what a file's name and index entry rule out: tags, Requires-Python, its format under the format options
  (:meth:`FileRules.file_rejection`, and :meth:`FileRules.usable` when the reason is not needed);
* what a file's own metadata rules out (METADATA naming another release, a Requires-Python only it states), learnt
  when the metadata is read and remembered by (location, filename) for the explanation of a gap;
* what the hashes a requirement pins rule out (pip's hash-checking mode, :meth:`FileRules.hash_rejection`),
  remembered by (location, filename) like what metadata rules out;
* the requirements a file's Requires-Dist brings on the target.

It reads nothing itself: the metadata comes from the caller, which knows the finder that holds the file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from wheelhouse import _log
from wheelhouse._markers import UnevaluableMarker, holds
from wheelhouse._text import shorten
from wheelhouse.dists import CoreMetadata, DistFile, UnusableMetadata
from wheelhouse.requirements import parse_pep508
from wheelhouse.resolve.formats import FormatControl
from wheelhouse.resolve.vocabulary import Req, requirement_text
from wheelhouse.targets import Target

__all__ = ["FileRules", "explain_tags"]


class _TagMismatch:
    """A file rejection for tags none of which the target accepts, spelled out (``explain_tags``) on demand."""


_TAG_MISMATCH = _TagMismatch()
_UNREAD = Req(NormalizedName("<unread>"), frozenset(), SpecifierSet(), "")


class FileRules:
    """Which files may serve ``target`` and what they bring there, with each answer computed once."""

    def __init__(self, target: Target, formats: FormatControl | None = None, *, sdists: bool = False) -> None:
        self.target: Final = target
        self.formats: Final = formats or FormatControl()
        # Source distributions are candidates (built later); without this every sdist is refused.
        self.sdists: Final = sdists
        self._env = dict(target.marker_environment)
        # Files ruled out by what their own metadata says, by (location, filename): the reason, and the
        # Requires-Python that did it when that was the cause.
        self._unusable: dict[tuple[str, str], tuple[str, str | None]] = {}
        self._rejections: dict[tuple[str, str], str | _TagMismatch | None] = {}
        # Files the hashes of a requirement refuse, by (location, filename): the reason.
        self._hash_refused: dict[tuple[str, str], str] = {}
        self._python_checks: dict[str, bool | None] = {}
        # Requires-Dist text and extras -> the requirement it brings on the target, None when its marker is false.
        self._dep_reqs: dict[tuple[str, frozenset[str]], Req | None] = {}

    @property
    def unusable_files(self) -> Mapping[tuple[str, str], tuple[str, str | None]]:
        """The files whose own metadata ruled them out so far, by (location, filename): reason, Requires-Python."""
        return self._unusable

    def share_unusable(self, other: FileRules, *, copy: bool = False) -> None:
        """Know what ``other``'s metadata reads ruled out (same target); with ``copy`` later findings stay apart,
        without it both learn from each other's reads."""
        self._unusable = dict(other._unusable) if copy else other._unusable
        self._hash_refused = dict(other._hash_refused) if copy else other._hash_refused

    def marker_holds(self, marker: Marker | None, extras: Iterable[str] = ()) -> bool:
        """Evaluate a marker in the target's complete environment, once per extra (and once with none);
        :class:`~wheelhouse._markers.UnevaluableMarker` when it compares what cannot be compared."""
        if marker is None:
            return True
        return any(holds(marker, dict(self._env, extra=extra)) for extra in ("", *sorted(extras)))

    def file_rejection(self, dist: DistFile) -> str | None:
        """Why ``dist`` cannot be installed on the target regardless of version constraints, or None."""
        reason = self._rejection(dist)
        if isinstance(reason, _TagMismatch):
            return explain_tags(dist.tags, self.target)
        return reason

    def usable(self, dist: DistFile) -> bool:
        """Whether :meth:`file_rejection` has nothing against ``dist``, without writing the explanation: an index
        lists hundreds of wheels for other platforms, and only a gap needs to say why each was refused."""
        return self._rejection(dist) is None

    def hash_rejection(
        self, dist: DistFile, reqs: Iterable[Req], digest: Callable[[DistFile, str], str | None]
    ) -> str | None:
        """Why the hashes ``reqs`` pin refuse ``dist`` (pip's hash-checking mode), or None when each requirement
        that pins hashes allows one of the file's digests (in any algorithm it lists, as pip accepts).

        ``digest(dist, algorithm)`` is the file's hex digest, or None when it cannot be known before the file is
        downloaded (an index that publishes no such hash). pip would download that file and check it then; a
        wheels folder must not receive a file the install would refuse, so such a file is refused here, saying
        why. A refusal is remembered for the file, and :meth:`file_rejection` gives it from then on: the hashes
        are the user's own requirements, in force on the project from the first round of a resolution.
        """
        key = (dist.location, dist.filename)
        known = self._hash_refused.get(key)
        if known is not None:
            return known
        for req in reqs:
            if req.hashes:
                reason = hash_mismatch(dist, req, digest)
                if reason is not None:
                    _log.debug(f"{dist.filename} cannot serve {req.text}: {reason}")
                    self._hash_refused[key] = reason
                    return reason
        return None

    def python_reason(self, requires_python: str) -> str:
        """The rejection of a file whose Requires-Python excludes the target's Python."""
        return f"requires Python {requires_python}, target has {self.target.python_full_version}"

    def unusable_reason(self, dist: DistFile) -> str | None:
        """Why ``dist``'s own metadata rules it out, when that metadata was read during this resolution."""
        found = self._unusable.get((dist.location, dist.filename))
        return None if found is None else found[0]

    def excluding_requires_python(self, dist: DistFile) -> str | None:
        """The Requires-Python (the index's, or the file's own metadata's) that rules ``dist`` out, whatever else
        does too (a wheel for another Python usually has both against it), or None."""
        found = self._unusable.get((dist.location, dist.filename))
        if found is not None and found[1] is not None:
            return found[1]
        if dist.requires_python:
            try:
                spec = SpecifierSet(dist.requires_python)
            except InvalidSpecifier:
                return None
            if not spec.contains(self.target.python_full_version, prereleases=True):
                return dist.requires_python
        return None

    def requirements(
        self, dist: DistFile, meta: CoreMetadata | UnusableMetadata, extras: frozenset[str]
    ) -> list[Req] | None:
        """The requirements ``dist`` brings on the target with ``extras`` applied, its metadata being ``meta``
        (or why it could not be read); None when that metadata rules the file out, which is then remembered
        (:meth:`unusable_reason`, :attr:`unusable_files`)."""
        if isinstance(meta, UnusableMetadata):
            _log.warning(f"passing over {dist.filename}: {meta}", once=f"unusable-metadata:{dist.location}")
            self._rule_out(dist, (str(meta), None))
            return None
        ruled_out = self._metadata_rejection(dist, meta)
        if ruled_out is not None:
            self._rule_out(dist, ruled_out)
            return None
        out: list[Req] = []
        for text in meta.requires_dist:
            # Thousands of files repeat the same Requires-Dist lines: each is read once per set of extras.
            known = self._dep_reqs.get((text, extras), _UNREAD)
            if known is not _UNREAD:
                if known is not None:
                    out.append(known)
                continue
            try:
                req = parse_pep508(text)
            except InvalidRequirement:
                message = f"{dist.filename}: ignoring invalid Requires-Dist {shorten(text)!r}"
                _log.warning(message, once=message)
                continue
            try:
                needed = self.marker_holds(req.marker, extras)
            except UnevaluableMarker as exc:
                message = f"{dist.filename}: ignoring Requires-Dist {shorten(text)!r}: its marker cannot be evaluated"
                message += f" ({exc.why})"
                _log.warning(message, once=message)
                needed = False
            if not needed:
                self._dep_reqs[(text, extras)] = None
                continue
            if req.url:
                message = f"{dist.filename}: ignoring direct-reference dependency {shorten(text)!r}"
                _log.warning(message, once=message)
                continue
            dep = Req(
                canonicalize_name(req.name),
                frozenset(canonicalize_name(e) for e in req.extras),
                req.specifier,
                requirement_text(req),
            )
            self._dep_reqs[(text, extras)] = dep
            out.append(dep)
        return out

    def _rule_out(self, dist: DistFile, ruled_out: tuple[str, str | None]) -> None:
        _log.debug(f"{dist.filename} cannot serve {self.target.name}: {ruled_out[0]}")
        self._unusable[(dist.location, dist.filename)] = ruled_out

    def _metadata_rejection(self, dist: DistFile, meta: CoreMetadata) -> tuple[str, str | None] | None:
        """Why the metadata ``dist`` holds rules it out for the target (another release, a Python it does not
        support), with the Requires-Python when that is the cause; None when it serves. The file name told the
        resolver neither."""
        try:
            same = canonicalize_name(meta.name) == dist.name and (
                meta.version == str(dist.version) or Version(meta.version) == dist.version
            )
        except InvalidVersion:
            same = False
        if not same:
            reason = f"its metadata names {meta.name} {meta.version}, not {dist.name} {dist.version}"
            _log.warning(f"passing over {dist.filename}: {reason}", once=f"other-release:{dist.location}")
            return reason, None
        if meta.requires_python and meta.requires_python != dist.requires_python:
            try:
                spec = SpecifierSet(meta.requires_python)
            except InvalidSpecifier:
                # pip ignores a Requires-Python it cannot parse, with a warning; a file is not lost over it.
                message = f"{dist.filename}: ignoring invalid Requires-Python {meta.requires_python!r}"
                _log.warning(message, once=message)
                return None
            if not spec.contains(self.target.python_full_version, prereleases=True):
                return self.python_reason(meta.requires_python), meta.requires_python
        return None

    def _rejection(self, dist: DistFile) -> str | _TagMismatch | None:
        key = (dist.location, dist.filename)
        learnt = self._unusable.get(key)
        if learnt is not None:
            return learnt[0]
        refused = self._hash_refused.get(key)
        if refused is not None:
            return refused
        if key not in self._rejections:
            self._rejections[key] = self._file_rejection(dist)
        return self._rejections[key]

    def _file_rejection(self, dist: DistFile) -> str | _TagMismatch | None:
        if dist.kind == "sdist":
            if not self.sdists:
                return "source distribution only; no wheel for this version"
            if self.formats.binary_only(dist.name):
                return "source distribution, excluded by --only-binary"
        elif not dist.local and self.formats.no_wheels(dist.name):
            return "binary wheel from the index, excluded by --no-binary (build from source instead)"
        elif self.target.best_tag(dist.tags) is None:
            return _TAG_MISMATCH
        if dist.requires_python:
            allows = self._python_allows(dist.requires_python)
            if allows is None:
                return f"invalid Requires-Python {dist.requires_python!r}"
            if not allows:
                return self.python_reason(dist.requires_python)
        return None

    def _python_allows(self, requires_python: str) -> bool | None:
        """Whether a Requires-Python admits the target's Python (None: it does not parse); each text once,
        since thousands of files share a handful of them."""
        if requires_python not in self._python_checks:
            try:
                spec = SpecifierSet(requires_python)
            except InvalidSpecifier:
                self._python_checks[requires_python] = None
            else:
                allows = spec.contains(self.target.python_full_version, prereleases=True)
                self._python_checks[requires_python] = allows
        return self._python_checks[requires_python]


def hash_mismatch(dist: DistFile, req: Req, digest: Callable[[DistFile, str], str | None]) -> str | None:
    """Why ``dist`` matches none of the hashes ``req`` pins, or None when it matches one. sha256 is asked first:
    it is the hash an index publishes and the folder keeps, so the others are computed only when it fails."""
    allowed: dict[str, set[str]] = {}
    for value in req.hashes:
        algorithm, _, hexdigest = value.partition(":")
        allowed.setdefault(algorithm, set()).add(hexdigest)
    where = req.origin or req.text
    unknown: list[str] = []
    mismatch: str | None = None
    for algorithm in sorted(allowed, key=lambda a: (a != "sha256", a)):
        found = digest(dist, algorithm)
        if found is None:
            unknown.append(algorithm)
        elif found in allowed[algorithm]:
            return None
        elif mismatch is None:
            mismatch = f"{algorithm} {found} is not among the hashes pinned by {where}"
    if mismatch is not None:
        return mismatch
    return (
        f"the index publishes no {' or '.join(unknown)} hash for it, so it cannot be checked against the hashes "
        f"pinned by {where} before it is downloaded"
    )


_ARCHES = ("x86_64", "aarch64", "armv7l", "i686", "ppc64le", "s390x", "arm64", "amd64", "win32", "universal2")


def explain_tags(tags: Iterable[Tag], target: Target) -> str:
    """A human reason why none of a wheel's tags fits the target (architecture, libc, Python, ABI)."""
    tags = sorted(tags, key=str)
    platforms = {t.platform for t in tags}
    shown = ", ".join(sorted({str(t) for t in tags})[:3])
    best = str(target.tags[0])
    if platforms & set(target.platforms) or "any" in platforms:
        interpreters = sorted({t.interpreter for t in tags})
        abis = sorted({t.abi for t in tags})
        return f"built for Python {', '.join(interpreters)} (ABI {', '.join(abis)}); target needs {best}"
    if all(not p.startswith(("manylinux", "musllinux", "linux")) for p in platforms):
        return f"built for another operating system ({shown}); target needs {best}"
    if not any(p.endswith("_" + target.arch) for p in platforms):
        arches = sorted({a for p in platforms for a in _ARCHES if p.endswith(a)}) or sorted(platforms)
        return f"built for {', '.join(arches)}, target is {target.arch} ({shown}; target needs {best})"
    if target.libc.family == "musllinux" and not any(p.startswith("musllinux") for p in platforms):
        return f"built for glibc (manylinux), target uses musl ({shown}; target needs {best})"
    if target.libc.family == "manylinux" and all(p.startswith("musllinux") for p in platforms):
        return f"built for musl (musllinux), target uses glibc ({shown}; target needs {best})"
    if target.libc.family == "manylinux":
        return f"needs a newer glibc than the target's {target.libc} ({shown})"
    return f"needs a newer musl than the target's {target.libc} ({shown})"
