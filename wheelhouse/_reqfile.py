"""pip's requirements-file syntax, and reading such a file safely: the layer below :mod:`wheelhouse.requirements`.

A file is read only when it is a regular file within a size limit (:func:`read_file`), split into logical lines
the way pip's ``req_file.preprocess`` does, with ``${VAR}`` expanded (:func:`logical_lines`), and each line split
into requirement text and option words, with shlex's rules, parsed by optparse as pip does (:func:`parse_options`).

Every step takes time linear in the length of its input: the input is untrusted, and pip's own spellings of
several steps (its comment pattern, shlex, optparse over many words) are quadratic in some shape of line. Nothing
here knows what a requirement means, nor builds a user-facing error: problems are raised as :class:`Unreadable`
and :class:`OptionsError` with the reason in words, for the caller to place at a file and line.
"""

from __future__ import annotations

import optparse
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

from wheelhouse._text import size

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_OPTION_WORDS",
    "MAX_TOTAL_BYTES",
    "OPTION_BY_DEST",
    "Line",
    "OptionsError",
    "Unreadable",
    "logical_lines",
    "option_parser",
    "parse_options",
    "read_file",
    "shell_split",
    "split_args_options",
]

# pip's COMMENT_RE, "(^|\s+)#.*$", says the same: a comment starts at a "#" that begins the line or follows
# whitespace. pip's spelling retries "\s+" at every position of a run of whitespace, which is quadratic in its
# length; the look-behind checks one character. The whitespace before the "#" goes with the final strip().
_COMMENT_RE = re.compile(r"(?:^|(?<=\s))#.*")
# pip's ENV_VAR_RE: only "${NAME}" with POSIX names expands, so a bare "$" in a URL survives.
_ENV_VAR_RE = re.compile(r"\$\{([A-Z0-9_]+)\}")
# shlex's POSIX rules (the only ones pip's shlex.split uses): these four separate words, and a run of anything
# but separators, quotes and backslashes is taken whole.
_SHELL_SPACE = " \t\r\n"
_SHELL_SPACE_RUN = re.compile(r"[ \t\r\n]+")
_SHELL_PLAIN_RUN = re.compile(r"[^ \t\r\n'\"\\]+")
_SHELL_DOUBLE_QUOTED_RUN = re.compile(r'[^"\\]+')
# Bounds on untrusted input. Real requirements files, hashes included, are well under a megabyte and their
# lines carry a few hundred option words at most; optparse takes each word off the front of a list, which is
# quadratic in a line's number of words.
MAX_FILE_BYTES = 16_000_000
MAX_TOTAL_BYTES = 64_000_000
MAX_OPTION_WORDS = 10_000


@dataclass(frozen=True)
class Option:
    """One option pip accepts in a requirements file; ``harmless`` when ignoring it changes no wheel needed."""

    flags: tuple[str, ...]
    dest: str
    action: str = "append"
    harmless: bool = False  # pip honours it, but it cannot change which wheels cover the requirements

    @property
    def name(self) -> str:
        """The long spelling, for messages."""
        return next(flag for flag in self.flags if flag.startswith("--"))


# The options pip's req_file.build_parser() accepts, plus --progress-bar, which pip rejects in files but which
# cannot matter here either.
OPTIONS = (
    Option(("-i", "--index-url", "--pypi-url"), "index_url", "store"),
    Option(("--extra-index-url",), "extra_index_urls"),
    Option(("--no-index",), "no_index", "store_true"),
    Option(("-c", "--constraint"), "constraints"),
    Option(("-r", "--requirement"), "requirements"),
    Option(("-e", "--editable"), "editables"),
    Option(("-f", "--find-links"), "find_links"),
    Option(("--pre",), "pre", "store_true"),
    Option(("--hash",), "hashes"),
    Option(("--no-binary",), "no_binary", harmless=True),
    Option(("--only-binary",), "only_binary", harmless=True),
    Option(("--prefer-binary",), "prefer_binary", "store_true", harmless=True),
    Option(("--require-hashes",), "require_hashes", "store_true", harmless=True),
    Option(("--trusted-host",), "trusted_hosts", harmless=True),
    Option(("--use-feature",), "features_enabled", harmless=True),
    Option(("--progress-bar",), "progress_bar", "store", harmless=True),
    Option(("--config-settings",), "config_settings", harmless=True),
    Option(("--global-option",), "global_options", harmless=True),
)
OPTION_BY_DEST = {option.dest: option for option in OPTIONS}


class _OptionError(Exception):
    pass


class OptionsError(Exception):
    """A line's options cannot be used: the reason, in words."""


class _OptionParser(optparse.OptionParser):
    # optparse exits the process on a bad option; a requirements line raises instead, as in pip's parser.
    def error(self, msg: str) -> NoReturn:
        raise _OptionError(msg)


@dataclass(frozen=True)
class Line:
    """One logical line: the number of its first physical line, its text with ``${VAR}`` expanded, and what was
    expanded (name, value), so messages can show a reference instead of the value it stands for."""

    number: int
    text: str
    expanded: tuple[tuple[str, str], ...] = ()

    def hide(self, message: str) -> str:
        """``message`` with every expanded value written back as its ``${NAME}``.

        pip's documentation puts credentials into requirements files this way (``https://user:${TOKEN}@host``),
        so a value may be a secret that :func:`wheelhouse._text.redact` cannot recognise (a token outside a
        URL's user part).
        """
        if not self.expanded:
            return message
        names = dict(sorted(((value, name) for name, value in self.expanded), key=lambda item: -len(item[0])))
        pattern = re.compile("|".join(re.escape(value) for value in names))
        return pattern.sub(lambda m: "${" + names[m[0]] + "}", message)


def _expand(number: int, text: str) -> Line:
    expanded: dict[str, str] = {}

    def value(match: re.Match[str]) -> str:
        found = os.environ.get(match[1])
        if not found:  # unset or empty: pip leaves the reference as written
            return match[0]
        expanded[match[1]] = found
        return found

    text = _ENV_VAR_RE.sub(value, text)
    return Line(number, text, tuple(expanded.items()))


def logical_lines(content: str) -> Iterator[Line]:
    """pip's preprocess(): join ``\\`` continuations, drop comments and blanks, expand ``${VAR}``.

    Yields each non-empty logical line with the number of its first physical line.
    """
    start, parts = 0, list[str]()
    for number, line in enumerate([*content.splitlines(), ""], start=1):
        # pip's COMMENT_RE.match(line): nothing but whitespace before a "#".
        is_comment = line.lstrip().startswith("#")
        # pip never continues a comment line; an ending "\" is literal there. The empty line appended above
        # flushes a "\" on the last line, which pip accepts.
        if line.endswith("\\") and not is_comment:
            start = start if parts else number
            parts.append(line.strip("\\"))
            continue
        # pip prefixes a comment with a space so the comment pattern still matches once lines are joined.
        joined = "".join([*parts, " " + line if is_comment else line])
        text = _COMMENT_RE.sub("", joined, count=1).strip()
        if text:
            yield _expand(start if parts else number, text)
        parts = []


def split_args_options(line: str) -> tuple[str, str]:
    # pip's break_args_options(): options start at the first space-separated token beginning with "-", that is
    # at a "-" that starts the line or follows a space. Only the options are shell-split, because markers in the
    # requirement text carry quotes the split would eat.
    if line.startswith("-"):
        return "", line
    at = line.find(" -")
    return (line, "") if at < 0 else (line[:at].strip(), line[at + 1 :])


def shell_split(text: str) -> list[str]:
    """``shlex.split(text)``, in time linear in the length of the text.

    shlex builds each word a character at a time by string concatenation, which is quadratic in the length of
    a word. The rules are the same: words are separated by space, tab, CR and LF; single quotes keep
    everything; in double quotes a backslash escapes only ``"`` and ``\\``; elsewhere it escapes any character.
    Raises ValueError with shlex's messages ("No closing quotation", "No escaped character").
    """
    words: list[str] = []
    at, end = 0, len(text)
    while True:
        space = _SHELL_SPACE_RUN.match(text, at)
        at = space.end() if space else at
        if at == end:
            return words
        parts: list[str] = []
        while at < end and text[at] not in _SHELL_SPACE:
            char = text[at]
            if char == "\\":
                if at + 1 == end:
                    raise ValueError("No escaped character")
                parts.append(text[at + 1])
                at += 2
            elif char == "'":
                close = text.find("'", at + 1)
                if close < 0:
                    raise ValueError("No closing quotation")
                parts.append(text[at + 1 : close])
                at = close + 1
            elif char == '"':
                at = _double_quoted(text, at + 1, parts)
            else:
                run = _SHELL_PLAIN_RUN.match(text, at)
                assert run is not None  # text[at] is none of the characters the run excludes
                parts.append(run[0])
                at = run.end()
        words.append("".join(parts))


def _double_quoted(text: str, at: int, parts: list[str]) -> int:
    """Append the inside of the double-quoted string starting at ``at`` to ``parts``; return where it ends."""
    while True:
        run = _SHELL_DOUBLE_QUOTED_RUN.match(text, at)
        if run is not None:
            parts.append(run[0])
            at = run.end()
        if at == len(text):
            raise ValueError("No closing quotation")
        if text[at] == '"':
            return at + 1
        if at + 1 == len(text):  # a backslash, and nothing after it
            raise ValueError("No escaped character")
        escaped = text[at + 1]
        parts.append(escaped if escaped in '"\\' else "\\" + escaped)
        at += 2


def option_parser() -> optparse.OptionParser:
    parser = _OptionParser(add_help_option=False)
    for option in OPTIONS:
        parser.add_option(*option.flags, dest=option.dest, action=option.action)
    return parser


def parse_options(parser: optparse.OptionParser, options: str) -> tuple[dict[str, Any], list[str]]:
    """The options present in a line's option text, by optparse dest, and any stray positional arguments.

    Raises :class:`OptionsError` for text that does not split into words, a line of more than MAX_OPTION_WORDS
    words (optparse takes each word off the front of a list: quadratic in their number), or a bad option.
    """
    if not options:
        return {}, []
    try:
        words = shell_split(options)
    except ValueError as exc:  # an unclosed quote or a dangling escape
        raise OptionsError(f"invalid options: {exc}") from None
    if len(words) > MAX_OPTION_WORDS:
        raise OptionsError(f"too many options on one line ({len(words)} words, at most {MAX_OPTION_WORDS})")
    try:
        values, stray = parser.parse_args(words)
    except _OptionError as exc:
        message = str(exc)
        if message.startswith("no such option: "):
            raise OptionsError(f"unknown option {message.removeprefix('no such option: ')}") from None
        raise OptionsError(f"invalid option: {message}") from None
    present = {option.dest: getattr(values, option.dest) for option in OPTIONS}
    return {dest: value for dest, value in present.items() if value is not None}, stray


class Unreadable(Exception):
    """Why a requirements file was not read, in words for a message."""


_FILE_KINDS = (
    (stat.S_ISDIR, "is a directory"),
    (stat.S_ISFIFO, "not a regular file (a named pipe)"),
    (stat.S_ISCHR, "not a regular file (a character device)"),
    (stat.S_ISBLK, "not a regular file (a block device)"),
    (stat.S_ISSOCK, "not a regular file (a socket)"),
)


def _check_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise Unreadable(next((problem for is_kind, problem in _FILE_KINDS if is_kind(mode)), "not a regular file"))


def read_file(path: str, budget: int) -> bytes:
    """The bytes of the regular file at ``path``: at most MAX_FILE_BYTES, and at most ``budget`` (what is left
    of MAX_TOTAL_BYTES for one load, since every file of an include chain is held until its end is read).

    A named pipe would block until something writes to it, and a device can be endless (``/dev/zero``) or act
    on being opened: the kind is checked before opening and again on what was opened (the file may have been
    swapped in between), and the open does not block, so a pipe swapped in cannot hang it.
    """
    if budget < MAX_FILE_BYTES:
        limit, too_large = budget, f"too large: the requirements files read hold more than {size(MAX_TOTAL_BYTES)}"
    else:
        limit, too_large = MAX_FILE_BYTES, f"too large: more than {size(MAX_FILE_BYTES)}"
    try:
        _check_regular(os.stat(path).st_mode)
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise Unreadable("file not found") from None
    except PermissionError:
        raise Unreadable("permission denied") from None
    except (OSError, ValueError) as exc:
        raise Unreadable(f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        info = os.fstat(fd)
        _check_regular(info.st_mode)
        if info.st_size > limit:
            raise Unreadable(too_large)
        chunks: list[bytes] = []
        total = 0
        # Read to the end, not to st_size: a file still growing is held to the limit too.
        while chunk := os.read(fd, min(1 << 20, limit + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise Unreadable(too_large)
        return b"".join(chunks)
    except OSError as exc:
        raise Unreadable(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
