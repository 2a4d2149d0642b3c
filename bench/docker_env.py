"""Find the private Docker engine and base image that ``scripts/docker-test-env.sh`` provides.

The script runs its own ``dockerd`` on ``unix://$WHEELHOUSE_DOCKER_STATE/docker.sock`` (state directory
``/var/tmp/wheelhouse-docker`` by default) and builds a local ``python3`` base image without a registry.
CI runs ``scripts/docker-test-env.sh up`` before the tests; this module only looks, it never starts,
installs or builds anything.

Docker tests must:

- run the client from :func:`docker_client` (Debian's ``/usr/bin/docker``), not the first ``docker`` on
  ``PATH``: a client without the buildx plugin refuses BuildKit builds;
- pass :func:`docker_env` to their subprocesses (``DOCKER_HOST`` of the private engine, ``DOCKER_BUILDKIT=1``);
- build ``FROM`` :func:`base_image` with no ``# syntax=`` line (BuildKit would try to pull a frontend).
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

DEFAULT_STATE_DIR = "/var/tmp/wheelhouse-docker"
DEFAULT_CLIENT = "/usr/bin/docker"
DEFAULT_BASE_IMAGE = "wheelhouse-test/python:3.11-bookworm"
SETUP_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "docker-test-env.sh"

# Variables that would point the client somewhere else than the private engine.
_CONFLICTING = ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_TLS")
_PROBE_TIMEOUT = 20.0


def state_dir() -> Path:
    """The engine's state directory (``WHEELHOUSE_DOCKER_STATE``, as in the script)."""
    return Path(os.environ.get("WHEELHOUSE_DOCKER_STATE") or DEFAULT_STATE_DIR)


def socket_path() -> Path:
    """The unix socket the private engine listens on."""
    return state_dir() / "docker.sock"


def docker_host() -> str:
    """``DOCKER_HOST`` for the private engine."""
    return f"unix://{socket_path()}"


def docker_client() -> str:
    """Path of the Docker client to run (``WHEELHOUSE_DOCKER_CLIENT``, else Debian's ``/usr/bin/docker``)."""
    return os.environ.get("WHEELHOUSE_DOCKER_CLIENT") or DEFAULT_CLIENT


def base_image() -> str:
    """Tag of the local Python base image (``WHEELHOUSE_TEST_BASE_IMAGE``, as in the script)."""
    return os.environ.get("WHEELHOUSE_TEST_BASE_IMAGE") or DEFAULT_BASE_IMAGE


def docker_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment for Docker subprocesses: ``base`` (default ``os.environ``) aimed at the private engine."""
    env = dict(os.environ if base is None else base)
    for name in _CONFLICTING:
        env.pop(name, None)
    env["DOCKER_HOST"] = docker_host()
    env["DOCKER_BUILDKIT"] = "1"
    return env


def _probe(*args: str) -> tuple[bool, str]:
    """Run the client with ``args``; ``(ok, stdout or the last line of stderr)``."""
    try:
        proc = subprocess.run(
            [docker_client(), *args],
            env=docker_env(),
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, f"no answer within {_PROBE_TIMEOUT:.0f} s"
    except OSError as exc:
        return False, str(exc)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return False, lines[-1] if lines else f"exit status {proc.returncode}"
    return True, proc.stdout.strip()


@functools.lru_cache(maxsize=1)
def docker_available() -> tuple[bool, str]:
    """Whether the Docker tests can run here, and if not, why (with what to run to fix it).

    Cached for the session; call ``docker_available.cache_clear()`` to look again.
    """
    client = docker_client()
    if not os.access(client, os.X_OK):
        return False, f"Docker client {client} is missing: run `{SETUP_SCRIPT} install` (as root)"
    sock = socket_path()
    if not sock.is_socket():
        return False, f"no Docker engine socket at {sock}: run `{SETUP_SCRIPT} up` (as root)"
    ok, out = _probe("version", "--format", "{{.Server.Version}}")
    if not ok:
        return False, f"the Docker engine at {docker_host()} does not answer ({out}): run `{SETUP_SCRIPT} start`"
    image = base_image()
    ok, detail = _probe("image", "inspect", "--format", "{{.Id}}", image)
    if not ok:
        return False, f"base image {image} is missing ({detail}): run `{SETUP_SCRIPT} base-image`"
    return True, f"Docker engine {out} at {docker_host()}, base image {image}"
