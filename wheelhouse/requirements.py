"""Requirements files and package arguments -> typed, frozen requirement sets.

The format is pip's (https://pip.pypa.io/en/stable/reference/requirements-file-format/) and every rule here
follows ``pip/_internal/req/req_file.py`` and ``req/constructors.py``: the same line joining, comment and
``${VAR}`` handling, the same option parser (``optparse``, so abbreviations such as ``--extra-index`` work
as in pip), the same split between requirement text and options. Where pip silently drops part of a line,
the set carries a warning instead, so the user sees what pip would ignore.

Nothing here reaches the network: anything pip would have to fetch or build (editables, VCS URLs, URLs, local
paths) is an error unless it names a wheel that is already in the wheels folder.
"""

from __future__ import annotations

import codecs
import optparse
import os
import re
import shlex
import urllib.parse
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, NormalizedName, canonicalize_name, parse_wheel_filename

from wheelhouse.errors import RequirementsError

__all__ = ["Origin", "RequirementLine", "RequirementSet", "load_requirements", "parse_requirement_text"]


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
    text: str
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
    warnings: tuple[str, ...] = ()


_COMMAND_LINE = Origin(None, None)
# pip's COMMENT_RE and ENV_VAR_RE: only "${NAME}" with POSIX names expands, so a bare "$" in a URL survives.
_COMMENT_RE = re.compile(r"(^|\s+)#.*$")
_ENV_VAR_RE = re.compile(r"\$\{([A-Z0-9_]+)\}")
_REMOTE_FILE_RE = re.compile(r"^(http|https|file):", re.IGNORECASE)
_EXTRAS_RE = re.compile(r"^(.+)(\[[^\]]+\])$")
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


@dataclass(frozen=True)
class _Option:
    flags: tuple[str, ...]
    dest: str
    action: str = "append"
    harmless: bool = False  # pip honours it, but it cannot change which wheels cover the requirements

    @property
    def name(self) -> str:
        return next(flag for flag in self.flags if flag.startswith("--"))


# The options pip's req_file.build_parser() accepts, plus --progress-bar, which pip rejects in files but which
# cannot matter here either.
_OPTIONS = (
    _Option(("-i", "--index-url", "--pypi-url"), "index_url", "store"),
    _Option(("--extra-index-url",), "extra_index_urls"),
    _Option(("--no-index",), "no_index", "store_true"),
    _Option(("-c", "--constraint"), "constraints"),
    _Option(("-r", "--requirement"), "requirements"),
    _Option(("-e", "--editable"), "editables"),
    _Option(("-f", "--find-links"), "find_links"),
    _Option(("--pre",), "pre", "store_true"),
    _Option(("--hash",), "hashes"),
    _Option(("--no-binary",), "no_binary", harmless=True),
    _Option(("--only-binary",), "only_binary", harmless=True),
    _Option(("--prefer-binary",), "prefer_binary", "store_true", harmless=True),
    _Option(("--require-hashes",), "require_hashes", "store_true", harmless=True),
    _Option(("--trusted-host",), "trusted_hosts", harmless=True),
    _Option(("--use-feature",), "features_enabled", harmless=True),
    _Option(("--progress-bar",), "progress_bar", "store", harmless=True),
    _Option(("--config-settings",), "config_settings", harmless=True),
    _Option(("--global-option",), "global_options", harmless=True),
)
_OPTION_BY_DEST = {option.dest: option for option in _OPTIONS}


class _OptionError(Exception):
    pass


class _OptionParser(optparse.OptionParser):
    # optparse exits the process on a bad option; a requirements line raises instead, as in pip's parser.
    def error(self, msg: str) -> NoReturn:
        raise _OptionError(msg)


def _error(reason: str, origin: Origin, text: str, hint: str | None = None) -> RequirementsError:
    # Reasons can quote user input (file names, packaging's messages): keep every message on one line.
    return RequirementsError(" ".join(reason.split()), path=origin.path, line=origin.line, text=text, hint=hint)


def _logical_lines(content: str) -> Iterator[tuple[int, str]]:
    """pip's preprocess(): join ``\\`` continuations, drop comments and blanks, expand ``${VAR}``.

    Yields the number of the first physical line with each non-empty logical line.
    """
    start, parts = 0, list[str]()
    for number, line in enumerate([*content.splitlines(), ""], start=1):
        is_comment = _COMMENT_RE.match(line) is not None
        # pip never continues a comment line; an ending "\" is literal there. The empty line appended above
        # flushes a "\" on the last line, which pip accepts.
        if line.endswith("\\") and not is_comment:
            start = start if parts else number
            parts.append(line.strip("\\"))
            continue
        # pip prefixes a comment with a space so the comment pattern still matches once lines are joined.
        joined = "".join([*parts, " " + line if is_comment else line])
        text = _COMMENT_RE.sub("", joined).strip()
        if text:
            yield (start if parts else number), _ENV_VAR_RE.sub(lambda m: os.environ.get(m[1]) or m[0], text)
        parts = []


def _split_args_options(line: str) -> tuple[str, str]:
    # pip's break_args_options(): options start at the first space-separated token beginning with "-".
    # Only the options are shlex-split, because markers in the requirement text carry quotes shlex would eat.
    tokens = line.split(" ")
    for index, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(tokens[:index]).strip(), " ".join(tokens[index:])
    return line, ""


def _parse_options(options: str, origin: Origin, line: str) -> tuple[dict[str, Any], list[str]]:
    """The options present on a line, by optparse dest, and any stray positional arguments."""
    if not options:
        return {}, []
    parser = _OptionParser(add_help_option=False)
    for option in _OPTIONS:
        parser.add_option(*option.flags, dest=option.dest, action=option.action)
    try:
        values, stray = parser.parse_args(shlex.split(options))
    except ValueError as exc:  # shlex: an unclosed quote or a dangling escape
        raise _error(f"invalid options: {exc}", origin, line) from exc
    except _OptionError as exc:
        message = str(exc)
        if message.startswith("no such option: "):
            raise _error(f"unknown option {message.removeprefix('no such option: ')}", origin, line) from None
        raise _error(f"invalid option: {message}", origin, line) from None
    present = {option.dest: getattr(values, option.dest) for option in _OPTIONS}
    return {dest: value for dest, value in present.items() if value is not None}, stray


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


def _scheme(text: str) -> str:
    # pip's get_url_scheme(): whatever precedes the first ":", lower-cased.
    return text.partition(":")[0].lower() if ":" in text else ""


def parse_requirement_text(text: str, origin: Origin, *, wheels_dir: Path | None = None) -> RequirementLine:
    """Parse one requirement, as written in a requirements file (options stripped) or given as an argument.

    A PEP 508 requirement parses with ``packaging``. A URL, a local path or a ``name @ url`` direct reference
    is accepted only when its last path component is a ``.whl`` file present in ``wheels_dir``; it then
    becomes ``name==version`` from the wheel's file name, keeping the line's extras and marker. Anything else
    pip would fetch or build raises :class:`RequirementsError` ("not supported offline").
    """
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
            match = _EXTRAS_RE.match(head)
            location = match[1] if match else head
            if _is_local_target(head, os.path.normpath(os.path.abspath(location))):
                extras = Requirement("x" + match[2]).extras if match else ()
            else:
                requirement = Requirement(text)
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
class _Loader:
    """The mutable state of one load_requirements() call; frozen by result()."""

    wheels_dir: Path | None
    requirements: list[RequirementLine] = field(default_factory=list)
    constraints: list[RequirementLine] = field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False
    pre: bool = False
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    read: set[tuple[str, bool]] = field(default_factory=set)
    stack: list[tuple[str, str]] = field(default_factory=list)  # (resolved, as named) of files being read

    def include(self, path: str, constraint: bool, at: Origin | None = None, text: str = "") -> None:
        """Read a requirements (or constraints) file named on the command line, or by -r/-c at ``at``."""

        def fail(problem: str) -> NoReturn:
            # A file named on the command line is itself the place; an included one is blamed on its -r line.
            raise _error(problem if at is None else f"{problem}: {path}", at or Origin(path, None), text)

        if _REMOTE_FILE_RE.match(path):
            fail("a remote requirements file is not supported offline")
        try:
            resolved = os.path.realpath(path)
        except ValueError:  # an embedded NUL
            fail("invalid file name")
        for index, (real, _) in enumerate(self.stack):
            if real == resolved:
                chain = " -> ".join([*(shown for _, shown in self.stack[index:]), path])
                raise _error(f"requirements files include each other: {chain}", at or Origin(path, None), text)
        # Reached twice from different places (not a cycle): read once.
        if (resolved, constraint) in self.read:
            return
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            fail("file not found")
        except IsADirectoryError:
            fail("is a directory")
        except PermissionError:
            fail("permission denied")
        except (OSError, ValueError) as exc:
            fail(f"cannot read: {getattr(exc, 'strerror', None) or exc}")
        self.read.add((resolved, constraint))
        if resolved not in self.files:
            self.files.append(resolved)
        self.stack.append((resolved, path))
        for number, line in _logical_lines(_decode(data, path)):
            self._line(path, number, line, constraint)
        self.stack.pop()

    def _line(self, path: str, number: int, line: str, constraint: bool) -> None:
        origin = Origin(path, number)
        args, options = _split_args_options(line)
        values, stray = _parse_options(options, origin, line)
        self.warnings.extend(f"{origin}: argument {arg!r} after the options is ignored, as pip does" for arg in stray)
        nested: tuple[str, bool] | None = None
        if args or "editables" in values:
            if not args:
                raise _error("an editable requirement is not supported offline", origin, line, hint=_OFFLINE_HINT)
            hashes = tuple(_normalise_hash(value, origin, line) for value in values.pop("hashes", []))
            entry = replace(parse_requirement_text(args, origin, wheels_dir=self.wheels_dir), hashes=hashes)
            if constraint and entry.requirement.extras:
                raise _error("a constraint may not have extras (pip rejects them)", origin, line)
            (self.constraints if constraint else self.requirements).append(entry)
        elif "requirements" in values or "constraints" in values:
            # pip follows one file per line, the first -r before any -c. A -r inside a constraints file yields
            # requirements, not constraints (pypa/pip#12222; #8821 to change it was never merged).
            dest = "requirements" if "requirements" in values else "constraints"
            first, *rest = values.pop(dest)
            if rest:
                values[dest] = rest
            nested = (os.path.join(os.path.dirname(path), first), dest == "constraints")
        else:
            self._options(path, values)
        for dest in values:
            option = _OPTION_BY_DEST[dest]
            why = "" if option.harmless else " on this line, as pip does"
            self.warnings.append(f"{origin}: option {option.name} is ignored{why}")
        if nested:
            self.include(*nested, at=origin, text=line)

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
            warnings=tuple(self.warnings),
        )


def load_requirements(
    files: Sequence[str | os.PathLike[str]] = (),
    packages: Sequence[str] = (),
    *,
    constraints: Sequence[str | os.PathLike[str]] = (),
    wheels_dir: Path | None = None,
) -> RequirementSet:
    """Parse requirement files (-r), constraint files (-c) and package strings (origin: command line).

    The order is pip's (``req_command.get_requirements``): constraint files, then packages, then requirement
    files, so options in requirement files override those in constraint files. Raises
    :class:`RequirementsError` naming file:line and the text for anything that cannot be used offline.
    """
    loader = _Loader(wheels_dir)
    for path in constraints:
        loader.include(os.fspath(path), constraint=True)
    loader.requirements.extend(parse_requirement_text(text, _COMMAND_LINE, wheels_dir=wheels_dir) for text in packages)
    for path in files:
        loader.include(os.fspath(path), constraint=False)
    return loader.result()
