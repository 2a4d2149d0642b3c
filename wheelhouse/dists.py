"""The shared vocabulary of distribution files, their metadata and the finders that list them.

A *finder* answers two questions for the resolver: which files exist for a project, and what a file's core
metadata says. The local store and a remote index are both finders; the resolver never knows which it talks to.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from packaging.tags import Tag, parse_tag
from packaging.utils import (
    InvalidName,
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from wheelhouse.errors import WheelhouseError

if TYPE_CHECKING:
    import email.message

DistKind = Literal["wheel", "sdist"]

# The source distribution formats pip accepts. PEP 625 asks for ``.tar.gz``, but older releases published the
# others, and some of those releases (``guess_language-spirit 0.5.3``: ``.tar.bz2`` only) have nothing else.
SDIST_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar", ".zip")
DIST_SUFFIXES = (".whl", *SDIST_SUFFIXES)

# A METADATA file larger than this is refused rather than parsed: real ones are a few kB to a few hundred kB,
# and a hostile wheel must not make us allocate without bound.
MAX_METADATA_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class CoreMetadata:
    """The parts of a distribution's core metadata that resolution needs."""

    name: str
    version: str
    requires_dist: tuple[str, ...] = ()
    requires_python: str | None = None
    provides_extra: tuple[str, ...] = ()


@dataclass(frozen=True)
class DistFile:
    """One distribution file, local or remote.

    ``location`` is a filesystem path for files in the store and a URL for remote files. ``requires_python`` is
    what the index (data-requires-python) or the store's manifest says, before any metadata is read.
    """

    filename: str
    name: NormalizedName
    version: Version
    kind: DistKind
    tags: frozenset[Tag]
    location: str
    local: bool
    build: tuple[int, str] | tuple[()] = ()
    requires_python: str | None = None
    yanked: str | None = None
    sha256: str | None = None
    size: int | None = None

    @classmethod
    def remote(
        cls,
        filename: str,
        name: NormalizedName,
        version: Version,
        kind: DistKind,
        tags: frozenset[Tag],
        location: str,
        *,
        build: tuple[int, str] | tuple[()],
        requires_python: str | None,
        yanked: str | None,
        sha256: str | None,
        size: int | None,
    ) -> DistFile:
        """A file an index lists (``local`` False), equal to the one the constructor makes, made without it: a
        frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``, and a long-lived project's
        page lists tens of thousands of files a target can use."""
        dist = object.__new__(cls)
        dist.__dict__.update(
            filename=filename,
            name=name,
            version=version,
            kind=kind,
            tags=tags,
            location=location,
            local=False,
            build=build,
            requires_python=requires_python,
            yanked=yanked,
            sha256=sha256,
            size=size,
        )
        return dist


class Finder(Protocol):
    """Where the resolver gets files and metadata from."""

    def files(self, name: NormalizedName) -> Sequence[DistFile]:
        """Every distribution file known for the project ``name`` (wheels and sdists, any platform)."""
        ...

    def metadata(self, dist: DistFile) -> CoreMetadata:
        """The core metadata of ``dist`` (for a wheel, its ``METADATA``).

        Raises :class:`UnusableMetadata` when the file's own metadata rules it out (unreadable, or naming
        another release): the resolver then passes over the file and tries the next one. Any other error (the
        network, the folder) ends the resolution.
        """
        ...


class UnusableMetadata(WheelhouseError):
    """A file's own core metadata rules the file out: it cannot be read, or it names another project or version
    than the file name. Raised by :meth:`Finder.metadata`; the resolver passes over the file, as pip does, and
    the explanation of a gap gives the message as the file's reason."""


class InvalidDistFilename(ValueError):
    """A file name that is neither a valid wheel nor a valid sdist name."""


def parse_dist_filename(
    filename: str,
) -> tuple[NormalizedName, Version, DistKind, frozenset[Tag], tuple[int, str] | tuple[()]]:
    """Split a wheel or sdist file name into name, version, kind, tags and build tag.

    Raises :class:`InvalidDistFilename` with a one-line reason.
    """
    try:
        if filename.endswith(".whl"):
            fast = _fast_wheel_filename(filename)
            if fast is not None:
                return fast
            name, version, build, tags = parse_wheel_filename(filename)
            return name, version, "wheel", tags, build
        suffix = sdist_suffix(filename)
        if suffix in (".tar.gz", ".zip"):
            name, version = _fast_sdist_filename(filename, suffix) or parse_sdist_filename(filename)
            return name, version, "sdist", frozenset(), ()
        if suffix is not None:
            return *_legacy_sdist_filename(filename, suffix), "sdist", frozenset(), ()
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as exc:
        raise InvalidDistFilename(str(exc).splitlines()[0]) from None
    raise InvalidDistFilename(f"not a wheel or sdist file name: {filename!r}")


def legacy_sdist_version(filename: str, project: NormalizedName) -> Version | None:
    """The version pip reads in the source distribution name ``filename`` of ``project``, when the name only
    parses that way: pip splits an sdist name after the part that names the project, so ``celery-3.1.26-1.tar.gz``
    is celery 3.1.26.post1 to pip, and project ``celery-3-1-26`` to a reading at the last dash (PEP 625's, and
    :func:`parse_dist_filename`'s). None when no prefix names ``project`` or the rest is no version."""
    suffix = sdist_suffix(filename)
    if suffix is None:
        return None
    stem = filename[: -len(suffix)]
    for i, char in enumerate(stem):
        if char == "-" and canonicalize_name(stem[:i]) == project:
            try:
                return Version(stem[i + 1 :])
            except InvalidVersion:
                return None
    return None


def sdist_suffix(filename: str) -> str | None:
    """The source distribution suffix ``filename`` ends with (one of :data:`SDIST_SUFFIXES`), or None.

    Case matters, as it does to pip: ``X-1.0.TAR.GZ`` is not an sdist name.
    """
    if filename.endswith(".tar.gz"):  # nearly every sdist an index lists
        return ".tar.gz"
    for suffix in SDIST_SUFFIXES:
        if filename.endswith(suffix):
            return suffix
    return None


def _legacy_sdist_filename(filename: str, suffix: str) -> tuple[NormalizedName, Version]:
    """``parse_sdist_filename`` for the formats packaging leaves out (it knows only ``.tar.gz`` and ``.zip``).

    The name-version stem follows the same rule in every format, so packaging parses the stem as a ``.tar.gz``;
    its message is given back naming the real file.
    """
    stand_in = filename[: -len(suffix)] + ".tar.gz"
    try:
        return _fast_sdist_filename(stand_in, ".tar.gz") or parse_sdist_filename(stand_in)
    except InvalidSdistFilename as exc:
        raise InvalidSdistFilename(str(exc).replace(repr(stand_in), repr(filename))) from None


_PLAIN_NAME = re.compile(r"[A-Za-z0-9._]+\Z")
_BUILD_TAG = re.compile(r"(\d+)(.*)\Z", re.ASCII)


@functools.lru_cache(maxsize=4096)
def _tag_set(triple: str) -> frozenset[Tag]:
    """The tags of a wheel's ``python-abi-platform`` triple (compressed sets expanded), one shared set each."""
    return parse_tag(triple)


@functools.lru_cache(maxsize=8192)
def _version(text: str) -> Version:
    return Version(text)


@functools.lru_cache(maxsize=1024)
def _canonical(name: str) -> NormalizedName:
    return canonicalize_name(name)


@functools.lru_cache(maxsize=1024)
def _sdist_name(name: str) -> NormalizedName:
    """The project an sdist name's part before its version names; InvalidSdistFilename when that part is no
    project name (packaging's sdist parser takes any text there, a line break or a quote included)."""
    try:
        return canonicalize_name(name, validate=True)
    except InvalidName:
        raise InvalidSdistFilename(f"invalid project name {name!r} in a source distribution name") from None


def wheel_tags(filename: str) -> frozenset[Tag] | None:
    """The tags of a wheel file name from its last three parts (cached per triple), or None when they do not
    parse. Nothing else of the name is checked: :func:`parse_dist_filename` does that."""
    stem = filename[: -len(".whl")] if filename.endswith(".whl") else filename
    parts = stem.rsplit("-", 3)
    if len(parts) != 4:
        return None
    try:
        return _tag_set("-".join(parts[1:]))
    except ValueError:
        return None


def _fast_sdist_filename(filename: str, suffix: str) -> tuple[NormalizedName, Version] | None:
    """``parse_sdist_filename`` from the per-process caches of names and versions, or None to let packaging
    decide (and explain) a name that does not parse: it splits the same way, at the last dash."""
    name_part, sep, version_part = filename[: -len(suffix)].rpartition("-")
    if not sep or not name_part:
        return None
    try:
        version = _version(version_part)
    except ValueError:  # InvalidVersion
        return None
    return _sdist_name(name_part), version


def split_release(filename: str) -> tuple[DistKind, str, str] | None:
    """A wheel's or a ``.tar.gz``/``.zip`` sdist's kind, project part and version part, split as
    :func:`parse_dist_filename` splits them (a wheel's first two dash-separated parts, an sdist's stem at its last
    dash), nothing checked; None for other formats. With :func:`release_version`, it groups a page's files by
    release before any is parsed; the finder inlines the same split for the thousands of names of a page."""
    if filename.endswith(".whl"):
        project, _, rest = filename.partition("-")
        return "wheel", project, rest.partition("-")[0]
    suffix = ".tar.gz" if filename.endswith(".tar.gz") else ".zip" if filename.endswith(".zip") else None
    if suffix is None:
        return None
    project, _, text = filename[: -len(suffix)].rpartition("-")
    return "sdist", project, text


def release_version(kind: DistKind, project_part: str, text: str, project: NormalizedName) -> Version | None:
    """The release of the files whose names :func:`split_release` splits into ``kind``, ``project_part`` and
    ``text``, when the project part names ``project`` and the version parses; None when only the full parse may
    judge them (another project's, an invalid version or project name).

    The full parse reads the same parts through the same caches: a file grouped under this release is of it, or
    is no distribution at all (a wheel name with too few parts, a bad build tag).
    """
    try:
        named = _canonical(project_part) if kind == "wheel" else _sdist_name(project_part)
        if named != project:
            return None
        return _version(text)
    except (InvalidSdistFilename, InvalidVersion):
        return None


def _fast_wheel_filename(
    filename: str,
) -> tuple[NormalizedName, Version, DistKind, frozenset[Tag], tuple[int, str] | tuple[()]] | None:
    """``parse_wheel_filename`` for the plain names indexes list by the thousand, or None to let packaging
    decide (and explain) anything unusual.

    An index page of a long-lived project lists thousands of wheels sharing one name and a few tag triples;
    parsing each from scratch was most of the time spent reading such a page. Everything accepted here is
    accepted by packaging with the same result (a property test compares them).
    """
    parts = filename[: -len(".whl")].split("-")
    if len(parts) not in (5, 6):
        return None
    name_part = parts[0]
    if "__" in name_part or _PLAIN_NAME.match(name_part) is None:
        return None
    build: tuple[int, str] | tuple[()] = ()
    if len(parts) == 6:
        match = _BUILD_TAG.match(parts[2])
        if match is None:
            return None
        build = (int(match.group(1)), match.group(2))
    try:
        return _canonical(name_part), _version(parts[1]), "wheel", _tag_set("-".join(parts[-3:])), build
    except ValueError:  # InvalidVersion, InvalidTag
        return None


def metadata_message(data: bytes) -> email.message.Message:
    """The headers of a core metadata file (RFC 822), values kept verbatim."""
    # Imported here: the email package is slow to import and a warm `verify` never parses metadata.
    import email.parser

    # The parser's default policy, compat32, keeps header values verbatim (email.policy.default would fold and
    # re-encode them); naming it would import email.policy, which costs more than parsing a dozen files.
    return email.parser.HeaderParser().parsestr(data.decode("utf-8", errors="replace"))


# A header field's name as the email package reads one (RFC 5322 printable characters but the colon).
_FIELD_NAME = re.compile(r"[\041-\071\073-\176]+")


def _plain_fields(text: str) -> dict[str, list[str]] | None:
    """The header fields of a core metadata text by lower-cased name, each value as the email package's compat32
    policy gives it (continuation lines kept, line breaks inside, the end stripped of them), or None when the
    header part holds anything that package reads in a way of its own (a carriage return, a line that is no
    field, a leading ``From``): :func:`metadata_message` then reads it.

    The email package parses a text line by line, description included; the fields of a wheel's METADATA come
    first and are plain, and a cold download reads dozens of them.
    """
    end = text.find("\n\n")
    head = text if end < 0 else text[:end]
    if "\r" in head or head.startswith("From "):
        return None
    fields: dict[str, list[str]] = {}
    last: list[str] | None = None
    lines = head.split("\n")
    if lines[-1] == "":
        lines.pop()  # the text ends after its fields, without a blank line
    for line in lines:
        if line[:1] in (" ", "\t"):
            if last is None:
                return None
            last[-1] += "\n" + line
            continue
        name, sep, value = line.partition(":")
        if not sep or _FIELD_NAME.fullmatch(name) is None:
            return None
        last = fields.setdefault(name.lower(), [])
        last.append(value.lstrip(" \t"))
    return fields


def parse_core_metadata(data: bytes, *, source: str = "METADATA") -> CoreMetadata:
    """Parse the RFC 822 core metadata format; raises ValueError with a one-line reason when unusable."""
    if len(data) > MAX_METADATA_BYTES:
        raise ValueError(f"{source} is {len(data)} bytes, larger than the {MAX_METADATA_BYTES} byte limit")
    fields = _plain_fields(data.decode("utf-8", errors="replace"))
    if fields is None:
        msg = metadata_message(data)

        def every(name: str) -> list[str]:
            return [str(v) for v in msg.get_all(name) or ()]

    else:

        def every(name: str) -> list[str]:
            return fields.get(name.lower(), [])

    name = next(iter(every("Name")), None)
    version = next(iter(every("Version")), None)
    if not name or not version:
        raise ValueError(f"{source} has no Name or Version field")
    requires_python = next(iter(every("Requires-Python")), None)
    return CoreMetadata(
        name=name.strip(),
        version=version.strip(),
        requires_dist=tuple(v.strip() for v in every("Requires-Dist")),
        requires_python=(requires_python.strip() or None) if requires_python else None,
        provides_extra=tuple(str(canonicalize_name(v.strip())) for v in every("Provides-Extra")),
    )
