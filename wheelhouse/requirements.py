"""Requirements files and package arguments -> typed, frozen requirement sets.

The format is pip's (https://pip.pypa.io/en/stable/reference/requirements-file-format/) and every rule here
follows ``pip/_internal/req/req_file.py`` and ``req/constructors.py``: the same line joining, comment and
``${VAR}`` handling, the same option parser (``optparse``, so abbreviations such as ``--extra-index`` work
as in pip), the same split between requirement text and options. Where pip silently drops part of a line,
a warning goes to the diagnostics channel (:mod:`wheelhouse._log`), so the user sees what pip would ignore.

Input is untrusted: only regular files are read, each of bounded size, nested ``-r`` files without recursion,
every line in time linear in its length (the syntax and the reading are :mod:`wheelhouse._reqfile`'s), and no
message (error or warning) quotes a credential -- URLs are redacted and the values of expanded ``${VAR}``
references are shown as the reference.

Nothing here reaches the network: anything pip would have to fetch or build (editables, VCS URLs, URLs, local
paths) is an error unless it names a wheel that is already in the wheels folder.
"""

from __future__ import annotations

import codecs
import optparse
import os
import re
import urllib.parse
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidWheelFilename, NormalizedName, canonicalize_name, parse_wheel_filename

from wheelhouse import _log, _reqfile
from wheelhouse._reqfile import (
    OPTION_BY_DEST,
    Line,
    OptionsError,
    Unreadable,
    logical_lines,
    option_parser,
    parse_options,
    read_file,
    split_args_options,
)
from wheelhouse._text import redact
from wheelhouse.errors import RequirementsError

__all__ = [
    "Origin",
    "RequirementLine",
    "RequirementSet",
    "check_hash_mode",
    "hash_mode_on",
    "load_requirements",
    "parse_requirement_text",
]


@dataclass(frozen=True)
class Origin:
    """Where a requirement was written: a file and the first physical line of its logical line."""

    path: str | None
    line: int | None

    def __str__(self) -> str:
        if self.path is None:
            return "command line"
        return self.path if self.line is None else f"{self.path}:{self.line}"


@dataclass(frozen=True)
class RequirementLine:
    """One requirement (or constraint) and where it came from."""

    requirement: Requirement
    origin: Origin
    text: str  # as written, for messages: URL credentials redacted, expanded ${VAR} values shown as ${VAR}
    hashes: tuple[str, ...] = ()
    wheel_file: str | None = None

    @property
    def name(self) -> NormalizedName:
        """The canonical project name."""
        return canonicalize_name(self.requirement.name)

    def __str__(self) -> str:
        return f"{self.origin} {self.requirement}"


@dataclass(frozen=True)
class RequirementSet:
    """Everything read from requirement files, constraint files and package arguments."""

    requirements: tuple[RequirementLine, ...] = ()
    constraints: tuple[RequirementLine, ...] = ()
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    pre: bool = False
    files: tuple[str, ...] = ()


_COMMAND_LINE = Origin(None, None)
_REMOTE_FILE_RE = re.compile(r"^(http|https|file):", re.IGNORECASE)
# An error's reason can quote a whole option word or file name; the line itself is shortened by RequirementsError.
_REASON_CHARS = 200
_VCS_SCHEMES = frozenset(
    f"{vcs}+{transport}"
    for vcs, transports in {
        "git": ("http", "https", "ssh", "git", "file"),
        "hg": ("file", "http", "https", "ssh", "static-http"),
        "svn": ("ssh", "http", "https", "svn", "file"),
        "bzr": ("http", "https", "ssh", "sftp", "ftp", "lp", "file"),
    }.items()
    for transport in transports
)
_URL_SCHEMES = _VCS_SCHEMES | {"http", "https", "file", "ftp"}
# pip's utils.filetypes.ARCHIVE_EXTENSIONS
_ARCHIVE_EXTENSIONS: tuple[str, ...] = (".zip", ".whl", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz")
_ARCHIVE_EXTENSIONS += (".tar.xz", ".txz", ".tlz", ".tar.lz", ".tar.lzma")
_HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_OFFLINE_HINT = "put the wheel into the wheels folder and refer to it by file name, or pin a released version"


def _error(reason: str, origin: Origin, text: str, hint: str | None = None) -> RequirementsError:
    """An error quoting what it was given as it is; :func:`_presented` makes it fit to show before it leaves."""
    return RequirementsError(reason, path=origin.path, line=origin.line, text=text, hint=hint)


def _presented(error: RequirementsError, hide: Callable[[str], str] | None = None) -> RequirementsError:
    """``error`` as a user may see it: with what ``hide`` hides (the values of a line's expanded variables), URL
    credentials redacted, on one line, and its reason (which can quote a whole option or file name) shortened.

    Hiding comes first because redacting or shortening can cut a value in two, leaving the rest of it shown.
    Callers raise it ``from None``: a traceback (``-v``) would print the original, and what it chains, as is.
    """
    reason, text = (hide(error.reason), hide(error.text)) if hide else (error.reason, error.text)
    reason = redact(" ".join(reason.split()))
    if len(reason) > _REASON_CHARS:
        reason = reason[: _REASON_CHARS - 3] + "..."
    return RequirementsError(reason, path=error.path, line=error.line, text=redact(text), hint=error.hint)


def _normalise_hash(value: str, origin: Origin, line: str) -> str:
    # pip accepts only these strong algorithms (cmdoptions._handle_merge_hash); it would find a malformed
    # digest only at install time, so check its form here.
    algorithm, _, digest = value.lower().partition(":")
    if _HASH_LENGTHS.get(algorithm) != len(digest) or re.fullmatch(r"[0-9a-f]+", digest) is None:
        reason = f"invalid --hash {value!r}: expected sha256, sha384 or sha512, ':' and the hex digest"
        raise _error(reason, origin, line)
    return f"{algorithm}:{digest}"


def _looks_like_path(name: str) -> bool:
    # pip's constructors._looks_like_path
    return os.sep in name or (os.altsep is not None and os.altsep in name) or name.startswith(".")


def _is_local_target(name: str, path: str) -> bool:
    # pip's constructors._get_url_from_path: a directory written like a path, or an archive file name --
    # unless the archive does not exist and "@" follows a plain name, which pip reads as PEP 508 "name @ url".
    if _looks_like_path(name) and os.path.isdir(path):
        return True
    if not path.lower().endswith(_ARCHIVE_EXTENSIONS):
        return False
    before, at, _ = name.partition("@")
    return os.path.isfile(path) or not at or _looks_like_path(before)


def _strip_extras(text: str) -> tuple[str, str | None]:
    """pip's constructors._strip_extras: a path and the ``[extras]`` group that ends it, if there is one.

    pip matches ``^(.+)(\\[[^\\]]+\\])$``, which backtracks through every "[" of the text (quadratic in their
    number); this finds the same split directly: the last "[" with a non-empty path before it and a non-empty
    group after it that holds no "]".
    """
    if not text.endswith("]"):
        return text, None
    group_from = max(text.rfind("]", 0, len(text) - 1) + 1, 1)
    line_feed = text.find("\n")  # the pattern's "." stops there: the path cannot reach past it
    at = text.rfind("[", group_from, len(text) - 2 if line_feed < 0 else min(line_feed, len(text) - 2))
    return (text, None) if at < 0 else (text[:at], text[at:])


def _scheme(text: str) -> str:
    # pip's get_url_scheme(): whatever precedes the first ":", lower-cased.
    return text.partition(":")[0].lower() if ":" in text else ""


# The common shape of a requirement: a name, extras, a list of version clauses, a marker. Nothing else (no URL,
# no parentheses) is read here; every other text goes to packaging's full parser.
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_CLAUSE = r"(?:===|~=|==|!=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+"
# One run of blanks between two tokens, each followed by a token that cannot start with a blank: matching takes
# time linear in the line, however many blanks a hostile line holds.
_SIMPLE_REQUIREMENT = re.compile(
    rf"\s*({_NAME})\s*(?:\[\s*({_NAME}(?:\s*,\s*{_NAME})*)\s*\]\s*)?(?:({_CLAUSE}(?:\s*,\s*{_CLAUSE})*)\s*)?(?:;(.*))?"
)
_SPECIFIERS: dict[str, SpecifierSet] = {}
_MARKERS: dict[str, Marker] = {}


def parse_pep508(text: str) -> Requirement:
    """``packaging.requirements.Requirement(text)``, sooner for the common shape of a requirement.

    A folder of thousands of wheels brings tens of thousands of Requires-Dist lines, most of them a name and a
    few version clauses that thousands of others repeat: those are read with one regular expression, and their
    specifier sets and markers are parsed once per distinct text. Anything else, and anything the short way
    cannot read, is packaging's to parse (and to refuse, with its own message).
    """
    match = _SIMPLE_REQUIREMENT.fullmatch(text)
    if match is not None:
        name, extras, clauses, marker_text = match.groups()
        try:
            specifier = _SPECIFIERS.get(clauses or "")
            if specifier is None:
                specifier = _SPECIFIERS[clauses or ""] = SpecifierSet(clauses or "")
            marker: Marker | None = None
            if marker_text is not None:
                key = marker_text.strip()
                marker = _MARKERS.get(key)
                if marker is None:
                    marker = _MARKERS[key] = Marker(key)
        except (InvalidSpecifier, InvalidMarker):
            return Requirement(text)
        requirement = Requirement.__new__(Requirement)
        requirement.name = name
        requirement.url = None
        requirement.extras = {e.strip() for e in extras.split(",")} if extras else set()
        requirement.specifier = specifier
        requirement.marker = marker
        return requirement
    return Requirement(text)


def parse_requirement_text(text: str, origin: Origin, *, wheels_dir: Path | None = None) -> RequirementLine:
    """Parse one requirement, as written in a requirements file (options stripped) or given as an argument.

    A PEP 508 requirement parses with ``packaging``. A URL, a local path or a ``name @ url`` direct reference
    is accepted only when its last path component is a ``.whl`` file present in ``wheels_dir``; it then
    becomes ``name==version`` from the wheel's file name, keeping the line's extras and marker. Anything else
    pip would fetch or build raises :class:`RequirementsError` ("not supported offline").
    """
    try:
        entry = _parse_requirement(text, origin, wheels_dir)
    except RequirementsError as exc:
        raise _presented(exc) from None
    return replace(entry, text=redact(entry.text))


def _parse_requirement(text: str, origin: Origin, wheels_dir: Path | None) -> RequirementLine:
    text = text.strip()
    if text.startswith("-"):
        raise _error("expected a requirement, not an option", origin, text)
    name: str | None = None
    extras: Collection[str] = ()
    try:
        if _scheme(text) in _URL_SCHEMES:
            # pip splits a URL's marker only at "; ", because a bare ";" may be part of the URL.
            location, _, marker_text = text.partition("; ")
        else:
            head, _, marker_text = text.partition(";")
            head = head.strip()
            location, extras_text = _strip_extras(head)
            # A plain name that does not end like an archive is no local target: said without resolving a
            # path per line (its last component, the one compared, is the name itself).
            plain = location and not _looks_like_path(head) and not location.lower().endswith(_ARCHIVE_EXTENSIONS)
            if not plain and _is_local_target(head, os.path.normpath(os.path.abspath(location))):
                extras = Requirement("x" + extras_text).extras if extras_text else ()
            else:
                requirement = parse_pep508(text)
                if requirement.url is None:
                    return RequirementLine(requirement, origin, text)
                name, location, extras = requirement.name, requirement.url, requirement.extras
                marker_text = str(requirement.marker or "")
        marker = Marker(marker_text) if marker_text.strip() else None
    except (InvalidRequirement, InvalidMarker) as exc:
        # packaging's message is "what", then the text and a caret line: the text is already in the error.
        raise _error(f"invalid requirement: {str(exc).splitlines()[0]}", origin, text) from exc
    return _wheel_reference(text, origin, wheels_dir, location.strip(), name, extras, marker)


def _wheel_reference(
    text: str,
    origin: Origin,
    wheels_dir: Path | None,
    location: str,
    name: str | None,
    extras: Collection[str],
    marker: Marker | None,
) -> RequirementLine:
    """A direct reference, resolved to the wheel of that file name in ``wheels_dir``."""
    scheme = _scheme(location)
    try:
        path = urllib.parse.unquote(urllib.parse.urlsplit(location).path) if scheme in _URL_SCHEMES else location
    except ValueError as exc:  # urlsplit: a malformed IPv6 host
        raise _error(f"invalid URL: {exc}", origin, text) from exc
    filename = path.replace("\\", "/").rsplit("/", 1)[-1]
    found = wheels_dir is not None and filename.endswith(".whl") and os.path.isfile(wheels_dir / filename)
    if scheme in _VCS_SCHEMES or not found:
        if scheme in _VCS_SCHEMES:
            kind = "a VCS URL"
        elif name:
            kind = "a direct reference"
        else:
            kind = "a URL" if scheme in _URL_SCHEMES else "a local path"
        raise _error(f"{kind} is not supported offline", origin, text, hint=_OFFLINE_HINT)
    try:
        wheel_name, version, _, _ = parse_wheel_filename(filename)
    except InvalidWheelFilename as exc:
        raise _error(f"invalid wheel file name {filename!r}", origin, text) from exc
    if name is not None and canonicalize_name(name) != wheel_name:
        raise _error(f"the wheel {filename} is not {name}", origin, text)
    extra_text = f"[{','.join(sorted(extras))}]" if extras else ""
    marker_text = f"; {marker}" if marker else ""
    requirement = Requirement(f"{name or wheel_name}{extra_text}=={version}{marker_text}")
    return RequirementLine(requirement, origin, text, wheel_file=filename)


def _decode(data: bytes, path: str) -> str:
    # pip falls back to the locale's encoding; a file must read the same on every machine, so insist on UTF-8
    # (a UTF-8 BOM is skipped, as pip does).
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        number = len((data[: exc.start].decode("utf-8") + "|").splitlines())
        shown = data.decode("utf-8", "backslashreplace").splitlines()[number - 1]
        raise _error(f"not UTF-8 (byte 0x{data[exc.start]:02x})", Origin(path, number), shown) from exc


@dataclass
class _OpenFile:
    """A requirements file being read: its name as written, its real path, the real path of the folder it was
    named in (where the names in it are looked up), and the lines still to read."""

    path: str
    resolved: str
    directory: str
    constraint: bool
    lines: Iterator[Line]


def _chain(names: Sequence[str]) -> str:
    # A cycle through a thousand files would make a message of a thousand names: show both ends.
    shown = [*names[:4], f"... ({len(names) - 8} more)", *names[-4:]] if len(names) > 10 else names
    return " -> ".join(shown)


@dataclass
class _Loader:
    """The mutable state of one load_requirements() call; frozen by result()."""

    wheels_dir: Path | None
    # When set, a file a -r/-c line names is read only when it lies inside this folder (see load_requirements).
    within: str | None = None
    requirements: list[RequirementLine] = field(default_factory=list)
    constraints: list[RequirementLine] = field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False
    pre: bool = False
    files: dict[str, None] = field(default_factory=dict)
    read: set[tuple[str, bool]] = field(default_factory=set)
    # The files being read, outermost first, and where each real path sits in that stack (to find cycles).
    stack: list[_OpenFile] = field(default_factory=list)
    open_at: dict[str, int] = field(default_factory=dict)
    budget: int = field(default_factory=lambda: _reqfile.MAX_TOTAL_BYTES)
    parser: optparse.OptionParser = field(default_factory=option_parser)

    def include(self, path: str, constraint: bool) -> None:
        """Read a requirements (or constraints) file named on the command line, and every file it names with
        -r/-c where it names it, as pip does.

        Nested files are followed with a stack of open files rather than by recursion, so the depth of a chain
        is bounded only by the files on disk (and their total size), never by Python's recursion limit.
        """
        try:
            self._open(path, path, constraint, None, "")
        except RequirementsError as exc:
            raise _presented(exc) from None
        while self.stack:
            current = self.stack[-1]
            line = next(current.lines, None)
            if line is None:
                del self.open_at[current.resolved]
                self.stack.pop()
                continue
            try:
                nested = self._line(current, line)
                if nested is not None:
                    # pip names a nested file (not a URL) by joining it to its includer's name; the same file is
                    # found from the includer's real folder, since a name that climbs out of a folder and back in
                    # at every level of a chain grows past the longest path the system opens.
                    name, constraint = nested
                    path = name if _REMOTE_FILE_RE.match(name) else os.path.join(os.path.dirname(current.path), name)
                    located = os.path.join(current.directory, name)
                    self._open(path, located, constraint, Origin(current.path, line.number), line.text)
            except RequirementsError as exc:
                raise _presented(exc, line.hide) from None

    def _open(self, path: str, located: str, constraint: bool, at: Origin | None, text: str) -> None:
        """Start reading ``path`` (found at ``located``), named on the command line (``at`` is None) or by a -r/-c
        line at ``at``."""

        def fail(problem: str) -> NoReturn:
            # A file named on the command line is itself the place; an included one is blamed on its -r line.
            raise _error(problem if at is None else f"{problem}: {path}", at or Origin(path, None), text)

        if _REMOTE_FILE_RE.match(path):
            fail("a remote requirements file is not supported offline")
        try:
            resolved = os.path.realpath(located)
            directory = os.path.realpath(os.path.dirname(located))
        except ValueError:  # an embedded NUL
            fail("invalid file name")
        index = self.open_at.get(resolved)
        if index is not None:
            chain = _chain([*(open_file.path for open_file in self.stack[index:]), path])
            raise _error(f"requirements files include each other: {chain}", at or Origin(path, None), text)
        # Reached twice from different places (not a cycle): read once.
        if (resolved, constraint) in self.read:
            return
        if at is not None and self.within is not None and os.path.commonpath([self.within, resolved]) != self.within:
            fail(f"outside {self.within}, where every file of the input must be")
        try:
            # Read through the name as given: a real path need not exist (``/dev/stdin`` resolves to
            # ``/proc/<pid>/fd/pipe:[...]``), and the file must be judged by what the name opens (a pipe here).
            data = read_file(located, self.budget)
        except Unreadable as exc:
            fail(str(exc))
        self.budget -= len(data)
        self.read.add((resolved, constraint))
        self.files.setdefault(resolved)
        self.open_at[resolved] = len(self.stack)
        self.stack.append(_OpenFile(path, resolved, directory, constraint, logical_lines(_decode(data, path))))

    def _line(self, current: _OpenFile, line: Line) -> tuple[str, bool] | None:
        """Take in one logical line; return the file it names with -r/-c (and whether it holds constraints)."""
        path, origin = current.path, Origin(current.path, line.number)
        args, options = split_args_options(line.text)
        try:
            values, stray = parse_options(self.parser, options)
        except OptionsError as exc:
            raise _error(str(exc), origin, line.text) from None
        for arg in stray:
            said = redact(line.hide(f"argument {arg!r} after the options is ignored, as pip does"))
            _log.warning(f"{origin}: {said}")
        nested: tuple[str, bool] | None = None
        if args or "editables" in values:
            if not args:
                raise _error("an editable requirement is not supported offline", origin, line.text, hint=_OFFLINE_HINT)
            hashes = tuple(_normalise_hash(value, origin, line.text) for value in values.pop("hashes", []))
            entry = _parse_requirement(args, origin, self.wheels_dir)
            # The text goes into messages and reports (why, --json): a URL of a wheel reference can carry a secret.
            entry = replace(entry, text=redact(line.hide(entry.text)), hashes=hashes)
            if current.constraint and entry.requirement.extras:
                raise _error("a constraint may not have extras (pip rejects them)", origin, line.text)
            (self.constraints if current.constraint else self.requirements).append(entry)
        elif "requirements" in values or "constraints" in values:
            # pip follows one file per line, the first -r before any -c. A -r inside a constraints file yields
            # requirements, not constraints (pypa/pip#12222; #8821 to change it was never merged).
            dest = "requirements" if "requirements" in values else "constraints"
            first, *rest = values.pop(dest)
            if rest:
                values[dest] = rest
            nested = (first, dest == "constraints")
        else:
            self._options(path, values)
        for dest in values:
            option = OPTION_BY_DEST[dest]
            why = "" if option.harmless else " on this line, as pip does"
            _log.warning(f"{origin}: option {option.name} is ignored{why}")
        return nested

    def _options(self, path: str, values: dict[str, Any]) -> None:
        # pip applies option lines to its finder in reading order, so a later -i overrides an earlier one; and
        # it replaces the finder's whole index list, dropping the extra index URLs seen so far.
        self.no_index |= bool(values.pop("no_index", False))
        self.pre |= bool(values.pop("pre", False))
        if "index_url" in values:
            self.index_url = values.pop("index_url")
            self.extra_index_urls.clear()
        self.extra_index_urls.extend(values.pop("extra_index_urls", []))
        if "find_links" in values:
            # pip takes one -f per line, relative to the file's directory when it exists there (URLs stay as
            # written).
            first, *rest = values.pop("find_links")
            if rest:
                values["find_links"] = rest
            local = os.path.join(os.path.dirname(os.path.abspath(path)), first)
            self.find_links.append(local if os.path.exists(local) else first)

    def result(self) -> RequirementSet:
        """The frozen set; with --no-index anywhere, pip uses no index at all."""
        return RequirementSet(
            requirements=tuple(self.requirements),
            constraints=tuple(self.constraints),
            index_url=None if self.no_index else self.index_url,
            extra_index_urls=() if self.no_index else tuple(dict.fromkeys(self.extra_index_urls)),
            find_links=tuple(dict.fromkeys(self.find_links)),
            no_index=self.no_index,
            pre=self.pre,
            files=tuple(self.files),
        )


def load_requirements(
    files: Sequence[str | os.PathLike[str]] = (),
    packages: Sequence[str] = (),
    *,
    constraints: Sequence[str | os.PathLike[str]] = (),
    wheels_dir: Path | None = None,
    within: str | os.PathLike[str] | None = None,
) -> RequirementSet:
    """Parse requirement files (-r), constraint files (-c) and package strings (origin: command line).

    ``within`` bounds the files that -r/-c lines name to one folder (a build context, which can send nothing
    else): one outside it is refused before it is read, so an error never quotes a line of it.

    The order is pip's (``req_command.get_requirements``): constraint files, then packages, then requirement
    files, so options in requirement files override those in constraint files. Raises
    :class:`RequirementsError` naming file:line and the text for anything that cannot be used offline; what pip
    would ignore is said through :func:`wheelhouse._log.warning`.
    """
    loader = _Loader(wheels_dir, os.path.realpath(within) if within is not None else None)
    for path in constraints:
        loader.include(os.fspath(path), constraint=True)
    loader.requirements.extend(parse_requirement_text(text, _COMMAND_LINE, wheels_dir=wheels_dir) for text in packages)
    for path in files:
        loader.include(os.fspath(path), constraint=False)
    result = loader.result()
    check_hash_mode(result)
    return result


def hash_mode_on(requirements: RequirementSet) -> bool:
    """Whether ``pip install`` of these requirements runs in hash-checking mode: some requirement or constraint
    line carries a ``--hash``."""
    return any(line.hashes for line in (*requirements.requirements, *requirements.constraints))


def check_hash_mode(requirements: RequirementSet) -> None:
    """Warn, in one line naming the first requirement at fault, when pip's hash-checking mode would refuse the
    whole install: once any requirement pins a ``--hash``, pip demands a hash and an exact ``==`` pin on every
    requirement, and installs none of them otherwise.

    Only a warning: the files of each requirement that pins hashes are still checked against them, and the other
    requirements resolve as they would without any hash.
    """
    if not hash_mode_on(requirements):
        return
    for line in requirements.requirements:
        lacks = [what for what, ok in (("--hash", line.hashes), ("== pin", _pinned(line.requirement))) if not ok]
        if lacks:
            message = (
                f"{line.origin}: {line.text} has no {' and no '.join(lacks)}; with --hash on some requirements, "
                "pip installs nothing until every requirement has a --hash and an == pin (hash-checking mode)"
            )
            _log.warning(message, once=message)
            return


def _pinned(requirement: Requirement) -> bool:
    # pip's InstallRequirement.is_pinned: exactly one clause, == or ===.
    specs = list(requirement.specifier)
    return len(specs) == 1 and specs[0].operator in ("==", "===")
