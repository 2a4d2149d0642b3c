"""Inputs beyond requirements.txt: ``pyproject.toml``, ``uv.lock``, ``poetry.lock`` (and ``pylock.toml`` through
:mod:`wheelhouse.resolve.pylock`), read into the same :class:`~wheelhouse.requirements.RequirementSet` the pip
requirements reader produces, so every command (download, verify, lock, why, prune, render) works on them
unchanged.

The contract:

- :func:`load_inputs` takes files, package arguments, constraint files and a :class:`Selection` (``--extra``,
  ``--group``) and returns :class:`Inputs`: the requirement set and the :class:`LockScope` of each lock.
- Every requirement and pin carries an :class:`~wheelhouse.requirements.Origin` naming the file and, where the
  text can be found, the line; so ``why`` chains and gaps name the file.
- A lock's versions are honoured exactly as *constraints*: the requirements stay the project's dependencies,
  resolved per target, so markers and tags still decide which files a target needs. A target outside what the
  lock was made for is refused by :func:`check_scopes`, naming the lock, its project and the target.
- :func:`detect_format` tells the format by name, then by content; an unknown format is a one-line error.
  :func:`find_default_input` is the auto-detection when no input is given.

Nothing here reaches the network, imports click or rich, or writes a file.
"""

from __future__ import annotations

from wheelhouse.inputs.detect import (
    FORMATS,
    InputFormat,
    detect_format,
    find_default_input,
    is_pylock_name,
    require_pip_format,
)
from wheelhouse.inputs.loader import Inputs, load_inputs
from wheelhouse.inputs.model import Found, LockScope, Scope, Selection, check_scopes

__all__ = [
    "FORMATS",
    "Found",
    "InputFormat",
    "Inputs",
    "LockScope",
    "Scope",
    "Selection",
    "check_scopes",
    "detect_format",
    "find_default_input",
    "is_pylock_name",
    "load_inputs",
    "require_pip_format",
]
