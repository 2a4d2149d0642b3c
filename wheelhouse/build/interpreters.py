"""Interpreters of other Python versions on this machine, so a target of another CPython minor can be built here.

A target is built on this machine when its OS, architecture and libc family match the machine's; its Python
version need not be the one wheelhouse runs on, as long as an interpreter of that version is installed. Where to
look, in order: the interpreter wheelhouse runs on (when its version is the target's), ``python3.X`` on
``PATH``, pyenv's versions (``$PYENV_ROOT/versions/3.X.*``, found without its shims, which answer only for the
versions a shell selected), and ``uv python find 3.X``.

Contract: a candidate counts only after it ran and said which version, machine and libc it is and that it has
pip (a pyenv shim that refuses, a broken venv or a 32-bit build on a 64-bit machine is skipped). Each version is
looked up once per process; every probe runs through the injected runner. Nothing is installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from wheelhouse._proc import CAPTURE, Runner
from wheelhouse.targets import Target

__all__ = ["Interpreter", "find_interpreter", "forget_interpreters"]

# Prints what decides whether an interpreter can build for a target: its version, machine and libc, and pip.
_PROBE = (
    "import importlib.util, json, platform, struct, sys\n"
    "print(json.dumps({'version': list(sys.version_info[:2]), 'machine': platform.machine(),"
    " 'bits': struct.calcsize('P') * 8, 'libc': platform.libc_ver()[0],"
    " 'implementation': sys.implementation.name, 'pip': importlib.util.find_spec('pip') is not None}))\n"
)
_PROBE_TIMEOUT = 30.0


@dataclass(frozen=True)
class Interpreter:
    """A CPython of ``version`` on this machine that can run pip."""

    path: str
    version: tuple[int, int]

    @property
    def running(self) -> bool:
        """Whether this is the interpreter wheelhouse runs on."""
        return self.path == sys.executable


_found: dict[tuple[str, tuple[int, int]], Interpreter | None] = {}
_lock = threading.Lock()


def forget_interpreters() -> None:
    """Forget every lookup (for tests that change what is installed)."""
    with _lock:
        _found.clear()


def find_interpreter(target: Target, runner: Runner, environ: Mapping[str, str]) -> Interpreter | None:
    """An interpreter of the target's CPython minor on this machine, with the target's machine and libc family."""
    version = target.python_version
    if tuple(sys.version_info[:2]) == version:
        return Interpreter(sys.executable, version)
    key = (target.arch + target.libc.family, version)
    with _lock:
        if key in _found:
            return _found[key]
        found = None
        for candidate in _candidates(version, environ, runner):
            if _fits(candidate, target, runner, environ):
                found = Interpreter(candidate, version)
                break
        _found[key] = found
        return found


def _candidates(version: tuple[int, int], environ: Mapping[str, str], runner: Runner) -> list[str]:
    name = f"python{version[0]}.{version[1]}"
    out: list[str] = []
    on_path = shutil.which(name, path=environ.get("PATH"))
    if on_path:
        out.append(on_path)
    root = Path(environ.get("PYENV_ROOT") or Path(environ.get("HOME") or Path.home()) / ".pyenv")
    pattern = re.compile(rf"^{version[0]}\.{version[1]}\.(\d+)$")
    try:
        releases = sorted(
            (int(m.group(1)), entry.name) for entry in (root / "versions").iterdir() if (m := pattern.match(entry.name))
        )
    except OSError:
        releases = []
    for _patch, release in reversed(releases):  # the newest patch release first
        exe = root / "versions" / release / "bin" / name
        if exe.is_file() and os.access(exe, os.X_OK):
            out.append(str(exe))
    uv = shutil.which("uv", path=environ.get("PATH"))
    if uv:
        try:
            found = runner(
                [uv, "python", "find", f"{version[0]}.{version[1]}"],
                env=dict(environ),
                output=CAPTURE,
                timeout=_PROBE_TIMEOUT,
            )
        except OSError:
            found = None
        if found is not None and found.ok and found.stdout.strip():
            out.append(found.stdout.strip().splitlines()[0])
    return list(dict.fromkeys(out))


def _fits(path: str, target: Target, runner: Runner, environ: Mapping[str, str]) -> bool:
    try:
        result = runner([path, "-c", _PROBE], env=dict(environ), output=CAPTURE, timeout=_PROBE_TIMEOUT)
    except OSError:
        return False
    if not result.ok:
        return False
    try:
        facts = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return False
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(str(facts.get("machine")).lower(), facts.get("machine"))
    libc = "manylinux" if facts.get("libc") == "glibc" else "musllinux"
    return bool(
        tuple(facts.get("version") or ()) == target.python_version
        and facts.get("implementation") == "cpython"
        and machine == target.arch
        and (facts.get("bits") == 32) == (target.arch in ("i686", "armv7l"))
        and libc == target.libc.family
        and facts.get("pip")
    )
