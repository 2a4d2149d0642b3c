"""Where each target's wheel is built, and which built wheel may serve which target.

Contract: a wheel built on this machine serves *host-compatible* targets (Linux, same architecture, CPython minor
and libc family: :func:`host_incompatibility`); a pure-Python result (``py3-none-any``) serves every target,
wherever it was built; a binary wheel built here never serves a foreign target (uv#16019 is what happens
otherwise). Every built wheel is also checked against each target's tags and Python (:meth:`Attempt.misfit`).
:class:`SdistJob` records, per target, the attempt that serves it or the one failure that explains why none
does. Nothing here runs a program.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag

from wheelhouse.build.model import BuildFailure, SdistBuild
from wheelhouse.errors import TargetError
from wheelhouse.targets import Target, host_target

__all__ = [
    "Attempt",
    "Place",
    "SdistJob",
    "base_image_for",
    "glibc_notes",
    "host_incompatibility",
    "this_machine",
]


def host_incompatibility(target: Target, host: Target | None, *, any_python: bool = False) -> str | None:
    """Why a wheel built on this machine cannot be assumed to run on ``target``, or None when it can.

    Host-compatible means: Linux, the same architecture, the same CPython minor and the same libc family.
    ``any_python`` leaves the CPython minor out (an interpreter of the target's version builds it here).
    """
    if host is None:
        return "this machine is not Linux"
    if target.arch != host.arch:
        return f"the target is {target.arch}, this machine is {host.arch}"
    if target.python_version != host.python_version and not any_python:
        return (
            f"the target runs CPython {target.python_version[0]}.{target.python_version[1]}, "
            f"wheelhouse runs on {host.python_version[0]}.{host.python_version[1]}"
        )
    if target.libc.family != host.libc.family:
        return f"the target uses {_libc_word(target)}, this machine {_libc_word(host)}"
    return None


def _libc_word(target: Target) -> str:
    return "musl" if target.libc.family == "musllinux" else "glibc"


def glibc_notes(wheel: str, host: Target | None, targets: Sequence[Target]) -> list[str]:
    """What to say when a binary ``wheel`` built here links against a newer glibc than a target promises."""
    if host is None or host.libc.family != "manylinux":
        return []
    have = (host.libc.major, host.libc.minor)
    return [
        f"{wheel} was built against this machine's glibc {have[0]}.{have[1]}, but {target.name} promises only "
        f"glibc {target.libc.major}.{target.libc.minor}: it runs where glibc is {have[0]}.{have[1]} or newer "
        "(--build-in docker builds it in the target's image instead)"
        for target in targets
        if (target.libc.major, target.libc.minor) < have
    ]


def this_machine() -> Target | None:
    """This machine as a target, or None when it is not one wheelhouse knows (not Linux)."""
    try:
        return host_target()
    except TargetError:
        return None


def base_image_for(target: Target, template: str | None = None) -> str:
    """The image a target's wheels are built in: ``template`` (``{python}`` is X.Y) or the official one.

    The official image is ``python:X.Y-slim`` for glibc targets and ``python:X.Y-alpine`` for musl targets, with
    the exact patch release when the target pins one.
    """
    if template:
        return template.replace("{python}", "{}.{}".format(*target.python_version))
    from wheelhouse.docker.images import default_base_image

    return default_base_image(target)


@dataclass(frozen=True)
class Place:
    """Where a build runs: this machine (with ``python``, else the interpreter wheelhouse runs on), or a
    container of ``image`` for ``platform``."""

    platform: str | None = None
    image: str | None = None
    python: str | None = None
    python_version: tuple[int, int] | None = None

    @property
    def host(self) -> bool:
        return self.image is None

    @property
    def label(self) -> str:
        """``host`` (``host-py3.12`` with another interpreter) or the platform (``linux-arm64``), for log names."""
        if self.platform is None:
            return "host" if self.python is None else "host-py{}.{}".format(*(self.python_version or (0, 0)))
        return self.platform.replace("/", "-")

    def memo_key(self, host: Target | None) -> str:
        """What makes two builds in this place give the same wheel: the machine and interpreter, or the image."""
        if self.image is not None:
            return f"{self.platform}@{self.image}"
        version = self.python_version or sys.version_info[:2]
        machine = f"{host.arch}-{host.libc.family}" if host is not None else "unknown"
        return f"host-{machine}-cp{version[0]}{version[1]}"

    def __str__(self) -> str:
        if self.image is not None:
            return f"in {self.image} ({self.platform})"
        if self.python is not None:
            return "on this machine with Python {}.{}".format(*(self.python_version or (0, 0)))
        return "on this machine"


@dataclass(frozen=True)
class Attempt:
    """One build in one place, and what it left."""

    place: Place
    command: str  # the reproducible command, recorded as built_by
    log: Path
    wheel: Path | None = None
    tags: frozenset[Tag] = frozenset()
    requires_python: str | None = None
    failure: str | None = None
    tail: tuple[str, ...] = ()
    reused: bool = False  # remembered from an earlier build, not run now

    @property
    def ok(self) -> bool:
        return self.wheel is not None

    @property
    def pure(self) -> bool:
        return bool(self.tags) and all(t.abi == "none" and t.platform == "any" for t in self.tags)

    def misfit(self, target: Target) -> str | None:
        """Why the built wheel cannot be installed on ``target`` (tags or Requires-Python), or None."""
        if target.best_tag(self.tags) is None:
            tags = ", ".join(sorted(str(t) for t in self.tags)[:3])
            return f"the wheel built {self.place} is tagged {tags}, which {target.name} does not accept"
        if self.requires_python:
            try:
                spec = SpecifierSet(self.requires_python)
            except InvalidSpecifier:
                return f"the wheel built {self.place} has an invalid Requires-Python {self.requires_python!r}"
            if not spec.contains(target.python_full_version, prereleases=True):
                return (
                    f"the wheel built {self.place} requires Python {self.requires_python}, "
                    f"{target.name} has {target.python_full_version}"
                )
        return None


class SdistJob:
    """The builds of one sdist: which wheel serves which target, and why the others have none."""

    def __init__(self, build: SdistBuild) -> None:
        self.build = build
        self.served: dict[str, Attempt] = {}
        self.problems: dict[str, BuildFailure] = {}

    def serve(self, attempt: Attempt, targets: Sequence[Target], *, binary_ok: Sequence[str]) -> list[Target]:
        """Give the wheel to every target it fits; a binary only to ``binary_ok``. Returns the rest."""
        rest: list[Target] = []
        for target in targets:
            if target.name in self.served:
                continue
            misfit = attempt.misfit(target)
            if misfit is None and (attempt.pure or target.name in binary_ok):
                self.served[target.name] = attempt
                self.problems.pop(target.name, None)
            else:
                if misfit is not None:
                    self.problems[target.name] = BuildFailure("unfit", (target.name,), misfit, str(attempt.log))
                rest.append(target)
        return rest

    def failed(self, attempt: Attempt, targets: Sequence[Target]) -> None:
        """Record that ``attempt`` failed for ``targets``."""
        reason = f"{attempt.failure} {attempt.place}"
        if attempt.reused:
            reason += " in an earlier run, and is not tried again until --retry-builds"
        for target in targets:
            self.problems[target.name] = BuildFailure("failed", (target.name,), reason, str(attempt.log), attempt.tail)

    def failures(self) -> tuple[BuildFailure, ...]:
        """One failure per distinct cause, naming every target it leaves without a wheel."""
        merged: dict[tuple[str, str, str | None, str | None], BuildFailure] = {}
        for name, problem in self.problems.items():
            if name in self.served:
                continue
            key = (problem.kind, problem.reason, problem.log, problem.command)
            old = merged.get(key)
            merged[key] = (
                problem
                if old is None
                else BuildFailure(old.kind, (*old.targets, name), old.reason, old.log, old.tail, old.command)
            )
        return tuple(merged.values())
