"""``wheelhouse init``'s content: a ``wheelhouse.toml`` naming what it finds in a project directory, asking nothing.

The input is the one auto-detection would take (:func:`~wheelhouse.inputs.detect.find_default_input`), except
that a ``uv.lock`` or ``poetry.lock`` beside a ``pyproject.toml`` is preferred to it: the lock is what the
project installs. The targets are the Dockerfile's (:mod:`wheelhouse.inputs.dockerfile`). Each value is
followed by a comment saying where it came from, so the file explains itself; the text is checked by loading it
back as settings and parsing its targets before it is returned. Writing it is the command's job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from wheelhouse._text import safe
from wheelhouse.errors import TargetError
from wheelhouse.inputs.detect import find_default_input
from wheelhouse.inputs.dockerfile import DockerTarget, find_dockerfile, read_dockerfile

__all__ = ["InitPlan", "plan_init"]

_LOCKS_BESIDE_PYPROJECT = ("uv.lock", "poetry.lock")


@dataclass(frozen=True)
class InitPlan:
    """The text of the file and what it was made from."""

    text: str
    requirements: str | None
    docker: DockerTarget | None


def plan_init(directory: Path) -> InitPlan:
    """What ``wheelhouse init`` writes for the project in ``directory`` (paths relative to it)."""
    lines = ["# wheelhouse configuration, written by `wheelhouse init` from what it found here. Edit freely."]
    found = find_default_input(directory)
    requirements = Path(found).name if found else None
    why = "found here"
    if requirements == "pyproject.toml":
        lock = next((name for name in _LOCKS_BESIDE_PYPROJECT if (directory / name).is_file()), None)
        if lock is not None:
            requirements, why = lock, "the lock beside pyproject.toml: its versions are what the project installs"
    if requirements:
        lines.append(f"requirements = [{json.dumps(requirements)}]  # {why}")
    else:
        lines.append('# requirements = ["requirements.txt"]  # none found: no requirements.txt, pylock.toml or')
        lines.append("#                                       # pyproject.toml with dependencies")
    dockerfile = find_dockerfile(directory)
    docker = read_dockerfile(dockerfile) if dockerfile is not None else None
    if docker is not None and docker.windows:
        source = safe(f"{Path(docker.dockerfile).name}:{docker.line}: FROM {docker.image}")
        lines.append(f"# targets: none from {source}, a Windows image; wheelhouse's targets are Linux platforms")
    elif docker is not None:
        # The image is the Dockerfile's text: a control character in it cannot be written into a TOML comment.
        source = safe(f"{Path(docker.dockerfile).name}:{docker.line}: FROM {docker.image}")
        lines.append(f"targets = [{json.dumps(docker.platform)}]  # {source}")
        if docker.python:
            lines.append(f"python = [{json.dumps(docker.python)}]")
        else:
            lines.append("# python: the image's tag does not say; add python = [\"3.X\"] for the image's Python")
        if docker.libc:
            lines.append(f"libc = {json.dumps(docker.libc)}  # an alpine image: musl")
    else:
        lines.append('# targets = ["linux/amd64"]  # no Dockerfile found here; the default target is this machine')
    text = "\n".join(lines) + "\n"
    try:
        _check(text)
    except TargetError as exc:
        if docker is None:
            raise
        # The targets are the Dockerfile's: say where they were read, not only what is wrong with them.
        raise TargetError(f"{Path(docker.dockerfile).name}:{docker.line}: {exc}", hint=exc.hint) from None
    return InitPlan(text, requirements, docker)


def _check(text: str) -> None:
    """Raise what wheelhouse would say of this file's targets (a TargetError), before anything is written."""
    from wheelhouse._toml import parse
    from wheelhouse.targets import parse_targets

    data = parse(text, "wheelhouse.toml")
    if data.get("targets"):
        parse_targets(data["targets"], pythons=data.get("python", ()), libc=data.get("libc"))
