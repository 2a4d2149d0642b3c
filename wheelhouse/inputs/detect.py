"""Which format an input file is in (by its name, else by its content), and which input a project directory
offers when none is given.

Names decide first, as each tool names its files: ``pyproject.toml``, ``uv.lock``, ``poetry.lock``, and PEP 751's
``pylock.toml`` / ``pylock.<name>.toml``. Any other name is looked at: a TOML document is recognised by the keys
each tool writes (``lock-version`` and ``created-by`` for pylock, ``[metadata] lock-version`` for Poetry, a
numeric ``version`` with ``[[package]]`` for uv, ``[project]`` or ``[dependency-groups]`` for pyproject). A file
that is neither one of those nor plausibly a pip requirements file (JSON such as ``Pipfile.lock``, YAML, a TOML
document of another tool, a ``setup.cfg``) is an "unknown format" error: read as requirements, its first line
would fail with a message about that line rather than about the file.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from wheelhouse import _toml
from wheelhouse.errors import RequirementsError, UsageError

__all__ = [
    "FORMATS",
    "InputFormat",
    "detect_format",
    "find_default_input",
    "is_pylock_name",
    "require_pip_format",
]

InputFormat = Literal["requirements", "pyproject", "pylock", "uv.lock", "poetry.lock"]
FORMATS: tuple[InputFormat, ...] = ("requirements", "pyproject", "pylock", "uv.lock", "poetry.lock")
# The names auto-detection tries, in order (issue: requirements.txt, else pylock.toml, else pyproject.toml).
DEFAULT_INPUTS: tuple[str, ...] = ("requirements.txt", "pylock.toml", "pyproject.toml")

_PYLOCK_NAME = re.compile(r"^pylock\.([^.]+\.)?toml$")
# Names that are never pip requirements files, whatever they hold. Not ".lock": wheelhouse's own
# requirements.lock (and pip-tools' habits) make it a common name for pinned requirements with hashes.
_OTHER_SUFFIXES = (".toml", ".json", ".yml", ".yaml", ".cfg", ".ini", ".py", ".whl", ".zip", ".gz")
_OTHER_NAMES = {"pipfile", "setup.py", "setup.cfg", "environment.yml", "dockerfile"}
_SNIFF_BYTES = 4096


def is_pylock_name(name: str) -> bool:
    """Whether ``name`` is a PEP 751 lock file name: ``pylock.toml`` or ``pylock.<name>.toml``."""
    return _PYLOCK_NAME.match(name) is not None


def detect_format(path: str) -> InputFormat:
    """The format of the input file at ``path``; a one-line :class:`RequirementsError` when it is none of
    :data:`FORMATS`. Only reads the file when its name does not tell."""
    name = Path(path).name
    lowered = name.lower()
    if lowered == "pyproject.toml":
        return "pyproject"
    if lowered == "uv.lock":
        return "uv.lock"
    if lowered == "poetry.lock":
        return "poetry.lock"
    if is_pylock_name(lowered):
        return "pylock"
    if lowered.endswith((".txt", ".in")):
        return "requirements"
    return _by_content(path, lowered)


def _by_content(path: str, lowered: str) -> InputFormat:
    try:
        # Non-blocking and checked after opening: a named pipe or a device is not read here (a pipe would hang
        # the sniff); the requirements reader refuses it in one line naming what it is.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        # Missing or unreadable: the requirements reader says so, naming the file, as it always has.
        return "requirements"
    try:
        # Judged before any read: a directory opens, but reading it fails with an error naming the descriptor.
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "requirements"
        head = os.read(fd, _SNIFF_BYTES)
    except OSError:
        return "requirements"
    finally:
        os.close(fd)
    stripped = head.lstrip()
    # A comment starts requirements files and the locks tools write alike: look inside, but only a document
    # that starts like TOML and parses as such is another format.
    toml_like = lowered.endswith(".toml") or stripped.startswith((b"[", b"version"))
    if toml_like or lowered.endswith(".lock") or stripped.startswith(b"#"):
        kind = _toml_kind(path)
        if kind is not None:
            return kind
    if (
        lowered.endswith(_OTHER_SUFFIXES)
        or lowered in _OTHER_NAMES
        or stripped.startswith((b"{", b"---"))
        or (toml_like and _is_toml(path))
    ):
        raise RequirementsError(
            "unknown input format (expected a pip requirements file, pyproject.toml, pylock.toml, uv.lock "
            "or poetry.lock)",
            path=path,
            line=None,
            text="",
        )
    return "requirements"


def _toml_kind(path: str) -> InputFormat | None:
    try:
        data = _toml.parse(_toml.read_text(path), path)
    except RequirementsError:
        return None
    if "lock-version" in data and "created-by" in data:
        return "pylock"
    metadata = data.get("metadata")
    if isinstance(metadata, dict) and "lock-version" in metadata and "package" in data:
        return "poetry.lock"
    if isinstance(data.get("version"), int) and ("package" in data or "requires-python" in data):
        return "uv.lock"
    if "project" in data or "dependency-groups" in data:
        return "pyproject"
    return None


def _is_toml(path: str) -> bool:
    try:
        _toml.parse(_toml.read_text(path), path)
    except RequirementsError:
        return False
    return True


def find_default_input(directory: Path) -> str | None:
    """The input a project offers when none is given: requirements.txt, else pylock.toml, else a pyproject.toml
    that declares dependencies (one that only configures tools is no input); None when there is none."""
    for name in DEFAULT_INPUTS:
        candidate = directory / name
        if not candidate.is_file():
            continue
        if name == "pyproject.toml" and not _declares_dependencies(str(candidate)):
            continue
        return name if directory == Path() else str(candidate)
    return None


def _declares_dependencies(path: str) -> bool:
    try:
        data = _toml.parse(_toml.read_text(path), path)
    except RequirementsError:
        return True  # let the reader report what is wrong with it
    project = data.get("project")
    return (isinstance(project, dict) and "dependencies" in project) or "dependency-groups" in data


def require_pip_format(paths: Sequence[str], *, hint_command: str = "wheelhouse lock") -> None:
    """Refuse, with the command that makes one, an input pip cannot install with ``-r`` (for the images
    ``render`` writes, which run ``pip install -r FILE``): pip reads requirements files, and a pylock.toml
    only through the lock path that checks its pip."""
    for path in paths:
        kind = detect_format(path)
        if kind == "pylock":
            raise UsageError(f"{path} is a lock: the image installs it as one", hint=f"wheelhouse render --lock {path}")
        if kind != "requirements":
            raise UsageError(
                f"the image installs with pip, which cannot install -r {path} ({kind})",
                hint=f"{hint_command} -r {path} (writes requirements.lock, which render installs)",
            )
