"""Reading a TOML input file safely, and finding the line a value was written on.

``tomllib`` gives values without positions; a message or a ``why`` chain must still say ``file:line``. The
:class:`Lines` helper finds a value's line by searching the text from the line of the table it belongs to: the
first line at or after that table that holds the value as a TOML string (or a ``name = "..."`` key), moving
past lines already taken so that the same text written twice gets two lines. When the text cannot be found
(an escaped string, a multi-line string) the origin is the file alone: never a wrong line.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from dataclasses import dataclass, field
from typing import Any

from wheelhouse.errors import RequirementsError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

# Lock files of large projects run to a few megabytes; anything far beyond is not one.
MAX_BYTES = 32 * 1024 * 1024


def read_text(path: str) -> str:
    """The UTF-8 text of a regular file of bounded size; a :class:`RequirementsError` naming the file otherwise.

    The file is opened without blocking and judged by what was opened, so a named pipe or a device put in its
    place is refused, never waited on or read without end.
    """
    return decode(read_bytes(path), path)


def read_bytes(path: str) -> bytes:
    """The bytes of a regular file of bounded size, read as :func:`read_text` reads it."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            # Judged before a file object is made of it: one cannot be made of a directory, and the descriptor
            # would be left open.
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise RequirementsError("not a regular file", path=path, line=None, text="")
            if info.st_size > MAX_BYTES:
                raise RequirementsError(f"larger than {MAX_BYTES // (1024 * 1024)} MiB", path=path, line=None, text="")
        except BaseException:
            os.close(fd)
            raise
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise RequirementsError(f"cannot read: {exc.strerror or exc}", path=path, line=None, text="") from None
    if len(data) > MAX_BYTES:  # it grew while read
        raise RequirementsError(f"larger than {MAX_BYTES // (1024 * 1024)} MiB", path=path, line=None, text="")
    return data


def decode(data: bytes, path: str) -> str:
    """``data`` as UTF-8 text (a leading byte order mark dropped), or a one-line error naming the line."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RequirementsError("not UTF-8", path=path, line=line, text="") from None


def parse(text: str, path: str) -> dict[str, Any]:
    """The TOML document, or a one-line error naming the file and tomllib's reason (which gives the line)."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
        return data
    except tomllib.TOMLDecodeError as exc:
        raise RequirementsError(f"invalid TOML: {exc}", path=path, line=None, text="") from None
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively: a few thousand "[" exhaust the stack.
        raise RequirementsError("invalid TOML: values nested too deeply", path=path, line=None, text="") from None


def load(path: str) -> tuple[str, dict[str, Any]]:
    """:func:`read_text` and :func:`parse` together."""
    text = read_text(path)
    return text, parse(text, path)


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")


@dataclass
class Lines:
    """Line numbers (1-based) of tables and values in a TOML text."""

    text: str
    lines: list[str] = field(init=False)
    # Lines already given to a value, so the next identical value is found further down.
    _taken: set[int] = field(default_factory=set, init=False)
    # Lines :meth:`bounded_string` may still search in vain (set from the text's length).
    _budget: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.lines = self.text.splitlines()
        self._budget = 4 * len(self.lines) + 1024

    def headers(self, name: str) -> list[int]:
        """The lines of every ``[name]`` or ``[[name]]`` header, in order (keys compared without quotes)."""
        found = []
        for number, line in enumerate(self.lines, 1):
            match = _HEADER.match(line)
            if match and _unquote_key(match.group(1)) == name:
                found.append(number)
        return found

    def key(self, key: str, start: int | None = 1, end: int | None = None) -> int | None:
        """The line of ``key = ...`` between ``start`` and ``end`` (a table's own lines)."""
        pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        for number in range(start or 1, (len(self.lines) if end is None else end) + 1):
            if pattern.match(self.lines[number - 1]):
                return number
        return None

    def string(self, value: str, start: int | None = 1, end: int | None = None) -> int | None:
        """The first line from ``start`` holding ``value`` as a basic or literal TOML string, not given before."""
        needles = (_basic(value), f"'{value}'")
        for number in range(max(start or 1, 1), (len(self.lines) if end is None else end) + 1):
            if number in self._taken:
                continue
            line = self.lines[number - 1]
            if any(needle in line for needle in needles):
                self._taken.add(number)
                return number
        return None

    def bounded_string(self, value: str, start: int | None = 1, end: int | None = None) -> int | None:
        """:meth:`string`, within a budget: searches that find nothing (a string written with escapes) may cover the
        text a few times over, then every later one gives None. A file of tens of thousands of such strings would
        otherwise cost the square of its length; a value found costs only the lines up to it."""
        if self._budget <= 0:
            return None
        line = self.string(value, start, end)
        if line is None:
            self._budget -= (len(self.lines) if end is None else end) - max(start or 1, 1) + 1
        return line

    def end_of_item(self, start: int, name: str) -> int:
        """The last line of the ``[[name]]`` entry whose header is at ``start``, sub-tables included."""
        for number in range(start + 1, len(self.lines) + 1):
            match = _HEADER.match(self.lines[number - 1])
            if match and not _unquote_key(match.group(1)).startswith(name + "."):
                return number - 1
        return len(self.lines)

    def preamble_end(self) -> int:
        """The last line before the first table header: the lines of the document's top-level keys."""
        for number, line in enumerate(self.lines, 1):
            if _HEADER.match(line):
                return number - 1
        return len(self.lines)

    def end_of(self, start: int) -> int:
        """The last line of the table whose header is at ``start`` (the line before the next header)."""
        for number in range(start + 1, len(self.lines) + 1):
            if _HEADER.match(self.lines[number - 1]):
                return number - 1
        return len(self.lines)


def _basic(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote_key(key: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in key.split("."))
