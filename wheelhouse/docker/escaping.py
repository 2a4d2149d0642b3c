"""How the values of the render options reach the rendered files without changing what the files say.

Contract: a value lands in one of four places, each with its own syntax, and must stay one value there:

* a comment line of the header, which every rendered file shares (the Dockerfiles, the compose YAML and the
  ``.dockerignore``): a line break, or any control character, would end the comment and start an instruction,
  a YAML key or an ignore pattern. No value may hold one (:func:`refuse_unrenderable`).
* an argument of ``COPY`` or of ``RUN --mount``: Docker expands ``$`` there and reads quotes and backslashes,
  so a path holding one would copy or mount another file than it names. Such paths are refused too.
* a word of a ``RUN`` command: quoted for the shell (:func:`shell_word`, :func:`in_double_quotes`).
* a ``.dockerignore`` pattern: Go's ``filepath.Match`` metacharacters, and a ``#`` or ``!`` at its start,
  are escaped (:func:`ignore_pattern`).
"""

from __future__ import annotations

import json
import re
import shlex
import unicodedata
from collections.abc import Iterable, Sequence

from wheelhouse.errors import UsageError

__all__ = ["copy_line", "ignore_pattern", "in_double_quotes", "refuse_unrenderable", "shell_word"]

# Unicode's control characters and its line and paragraph separators: each can end a line for some reader of
# the rendered files (YAML counts \r and, in 1.1, \x85, \u2028 and \u2029 as line breaks).
_CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
# What Docker reads in a COPY or RUN --mount argument: expansion, quoting, escaping.
_DOCKER_SPECIAL = frozenset("$'\"\\")


def _control(text: str) -> str | None:
    return next((c for c in text if unicodedata.category(c) in _CONTROL_CATEGORIES), None)


def refuse_unrenderable(copied: Iterable[str], *, listed: Iterable[str] = (), cmd: Sequence[str] | None = None) -> None:
    """UsageError for a value that no rendered file can carry as it is.

    ``copied`` are paths a Dockerfile copies or mounts; ``listed`` are paths only the ``.dockerignore`` names
    (escaped there); ``cmd`` is the image's command, which the header repeats.
    """
    for path in copied:
        special = next((c for c in path if c in _DOCKER_SPECIAL), None)
        if special is not None:
            raise UsageError(
                f"bad path {path!r}: Docker reads {special!r} in COPY and RUN --mount as expansion or quoting, "
                "so the image would get another file",
                hint="rename it",
            )
    for path in (*copied, *listed):
        if path != path.strip():
            raise UsageError(
                f"bad path {path!r}: Docker trims the spaces around a .dockerignore pattern, so the build context "
                "would let another path in",
                hint="rename it",
            )
        control = _control(path)
        if control is not None:
            raise UsageError(
                f"bad path {path!r}: it holds the control character {control!r}, which would break the rendered files",
                hint="rename it",
            )
    for word in cmd or ():
        control = _control(word)
        if control is not None:
            raise UsageError(
                f"bad --cmd: {word!r} holds the control character {control!r}, which the command in the header "
                "of the rendered files cannot carry",
                hint="put the command in a script in the app directory and run that",
            )


def shell_word(text: str) -> str:
    """``text`` as one word of a ``RUN`` command (unchanged when it needs no quotes)."""
    return shlex.quote(text)


def in_double_quotes(text: str) -> str:
    """``text`` escaped for the inside of a double-quoted shell string (unchanged when it needs nothing)."""
    return re.sub(r'([\\$"`])', r"\\\1", text)


def copy_line(source: str, dest: str) -> str:
    """A ``COPY`` of ``source`` to ``dest``; the JSON form keeps a path with spaces in one piece."""
    if any(c.isspace() for c in source + dest):
        return f"COPY {json.dumps([source, dest])}"
    return f"COPY {source} {dest}"


def ignore_pattern(path: str) -> str:
    """``path`` as a ``.dockerignore`` pattern that matches it alone: a Go ``filepath.Match`` metacharacter
    takes a backslash, and so does a leading ``#`` (a comment) or ``!`` (an exception)."""
    escaped = re.sub(r"([*?\[\\])", r"\\\1", path)
    return "\\" + escaped if escaped.startswith(("#", "!")) else escaped
