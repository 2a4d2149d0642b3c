"""Builds in a container of the target's image and platform: whether a Docker engine answers, the ``docker run``
that runs pip there, and the command that repeats a build anywhere.

Contract: a container build mounts the kept sdist read-only and a private output folder, runs as the calling
user (so what it writes belongs to them), shares the host's network (so pip reaches the same indexes, 127.0.0.1
included) and gets pip's settings only through ``-e NAME`` (``build.pip_options``): no credential reaches a
command line. Whether Docker is there is asked at most once per run, and only when a build needs it, through the
same probe ``wheelhouse build`` uses (:meth:`wheelhouse.docker.client.DockerClient.info`).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wheelhouse._proc import Runner
from wheelhouse.build.model import BuildOptions
from wheelhouse.build.pip_options import container_environment, docker_env_args, folder_links
from wheelhouse.build.plan import Place

if TYPE_CHECKING:
    from wheelhouse.index.config import IndexConfig

__all__ = ["CONTAINER_OUT", "CONTAINER_SDISTS", "DockerStatus", "container_pip", "docker_wheel_command", "probe"]

CONTAINER_SDISTS = "/sdists"
CONTAINER_OUT = "/out"


@dataclass(frozen=True)
class DockerStatus:
    """Whether a Docker engine answers, through which client, and what to say about it."""

    client: str | None
    available: bool
    detail: str


def probe(options: BuildOptions, environ: Mapping[str, str], runner: Runner) -> DockerStatus:
    """Whether a Docker engine answers the client ``options.docker`` (else ``WHEELHOUSE_DOCKER``, else ``docker``)."""
    if options.build_in == "host":
        return DockerStatus(None, False, "--build-in host")
    # Imported here: a run that builds nothing in a container never loads the Docker client.
    from wheelhouse.docker.client import DOCKER_ENV, DockerClient
    from wheelhouse.errors import DockerError

    client = DockerClient(options.docker or environ.get(DOCKER_ENV) or "docker", env=environ, runner=runner)
    try:
        info = client.info()
        path = client.path()
    except DockerError as exc:
        return DockerStatus(None, False, str(exc))
    return DockerStatus(path, True, f"Docker engine {info.server_version}")


def container_pip(
    client: str,
    place: Place,
    sdists: Path,
    out: Path,
    *,
    config: IndexConfig | None,
    environ: Mapping[str, str],
    wheels: Path,
) -> tuple[list[str], dict[str, str]]:
    """``docker run ... IMAGE python3 -m pip`` for ``place``, and the client's environment carrying pip's settings.

    ``sdists`` is mounted read-only at :data:`CONTAINER_SDISTS`, ``out`` writable at :data:`CONTAINER_OUT`; the
    wheels folder serves as find-links (build requirements kept there with ``--keep-build-deps``).
    """
    assert place.image is not None
    assert place.platform is not None
    argv = [client, "run", "--rm", "--platform", place.platform, "--network", "host"]
    if hasattr(os, "getuid"):
        # Files in the output folder then belong to the user running wheelhouse, not to root.
        argv += ["--user", f"{os.getuid()}:{os.getgid()}"]
    argv += ["-v", f"{sdists.resolve()}:{CONTAINER_SDISTS}:ro", "-v", f"{out.resolve()}:{CONTAINER_OUT}"]
    inner, mounts = container_environment(config, find_links=folder_links(wheels))
    names, env = docker_env_args(inner, environ)
    argv += [*mounts, *names, place.image, "python3", "-m", "pip"]
    return argv, env


def docker_wheel_command(platform: str, image: str, wheels_dir: str, sdist: str) -> str:
    """The command that builds an sdist of the wheels folder into it, in a container: runnable anywhere.

    ``sdist`` is relative to the folder (``.wheelhouse/sdists/x-1.0.tar.gz``). A relative folder is spelled
    ``"$PWD/wheels"``, because Docker needs an absolute path for a bind mount.
    """
    mount = wheels_dir if os.path.isabs(wheels_dir) else f"$PWD/{wheels_dir.removeprefix('./')}"
    quoted_mount = '"' + mount.replace('"', '\\"') + ':/wheels"'
    tail = shlex.join(
        [
            image,
            "python3",
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--wheel-dir",
            "/wheels",
            f"/wheels/{sdist}",
        ]
    )
    return f"docker run --rm --platform {shlex.quote(platform)} -v {quoted_mount} {tail}"
