"""Find the private Docker engine and base image that ``scripts/docker-test-env.sh`` provides.

The script runs its own ``dockerd`` on ``unix://$WHEELHOUSE_DOCKER_STATE/docker.sock`` (state directory
``/var/tmp/wheelhouse-docker`` by default) and builds a local ``python3`` base image without a registry.
CI runs ``scripts/docker-test-env.sh up`` before the tests; this module only looks, it never starts,
installs or builds anything.

Docker tests must:

- run the client from :func:`docker_client` (Debian's ``/usr/bin/docker``), not the first ``docker`` on
  ``PATH``: a client without the buildx plugin refuses BuildKit builds;
- pass :func:`docker_env` to their subprocesses (``DOCKER_HOST`` of the private engine, ``DOCKER_BUILDKIT=1``);
- build ``FROM`` :func:`base_image` with no ``# syntax=`` line (BuildKit would try to pull a frontend);
- remove every image they built, by id (:func:`image_id` after each build, :func:`remove_images`): a rebuild
  under the same tag leaves the previous image dangling, and removing the tag removes only the last one; and
  prune their own build cache records (:func:`prune_build_cache`), never the engine's whole cache.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
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


# -- what a test or a benchmark leaves behind -------------------------------------------------------------------


def dangling_images(env: Mapping[str, str] | None = None) -> set[str]:
    """Ids of the engine's dangling images (untagged, no child): what a rebuild under the same tag leaves."""
    proc = subprocess.run(
        [docker_client(), "images", "--filter", "dangling=true", "--quiet", "--no-trunc"],
        env=dict(env or docker_env()),
        capture_output=True,
        text=True,
        timeout=_PROBE_TIMEOUT,
        check=False,
    )
    return set(proc.stdout.split()) if proc.returncode == 0 else set()


def image_id(reference: str, env: Mapping[str, str] | None = None) -> str | None:
    """The id of the image ``reference`` names now, or None when it names none."""
    proc = subprocess.run(
        [docker_client(), "image", "inspect", "--format", "{{.Id}}", reference],
        env=dict(env or docker_env()),
        capture_output=True,
        text=True,
        timeout=_PROBE_TIMEOUT,
        check=False,
    )
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def remove_images(references: Iterable[str], env: Mapping[str, str] | None = None) -> None:
    """Remove every image of ``references`` (tags or ids); those already gone are no error.

    An image that also carries a tag not among ``references`` is somebody else's (the base image, whose id a
    classic build prints for its ``FROM`` step): it stays. ``--force`` would otherwise untag and delete it.
    """
    wanted = set(references)
    environment = dict(env or docker_env())
    doomed = sorted(wanted - _tagged_elsewhere(wanted, environment))
    if doomed:
        subprocess.run(
            [docker_client(), "image", "rm", "--force", *doomed],
            env=environment,
            capture_output=True,
            timeout=120,
            check=False,
        )


def _tagged_elsewhere(references: set[str], env: Mapping[str, str]) -> set[str]:
    """The references whose image carries some tag that is not among ``references``."""
    if not references:
        return set()
    listing = subprocess.run(
        [docker_client(), "image", "inspect", "--format", "{{json .RepoTags}}", *sorted(references)],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # inspect prints one line per image it found, in the order asked, and says on stderr which it did not find.
    missing = {line.rsplit(" ", 1)[-1].strip() for line in listing.stderr.splitlines() if "No such" in line}
    found = [ref for ref in sorted(references) if ref not in missing]
    kept: set[str] = set()
    for ref, line in zip(found, listing.stdout.splitlines(), strict=False):
        try:
            tags = json.loads(line) or []
        except ValueError:
            kept.add(ref)  # not understood: leave it
            continue
        if any(tag not in references for tag in tags):
            kept.add(ref)
    return kept


def prune_build_cache(needles: Iterable[str], env: Mapping[str, str] | None = None) -> int:
    """Prune the build cache records whose description names one of ``needles`` (a nonce in a RUN, a sha256
    rendered into one), and the records built on top of them; never the engine's whole cache. Returns how
    many records were asked for. Records that name no mark stay (a ``COPY`` describes itself as "fileop target"
    and hangs from the base image), and so do those BuildKit marks shared: the engine's own GC collects them."""
    marks = [n for n in needles if n]
    environment = dict(env or docker_env())
    asked: set[str] = set()
    previous: set[str] = set()
    # A record another one still uses (the source of a COPY --from) goes only once that one went: a few passes,
    # until one finds nothing left or nothing that the pass before did not try.
    for _ in range(3):
        found = _records_named(marks, environment) if marks else set()
        if not found or found == previous:
            break
        asked |= found
        previous = found
        ids = sorted(found)
        for start in range(0, len(ids), 50):
            chunk = "|".join(re.escape(i) for i in ids[start : start + 50])
            subprocess.run(
                [docker_client(), "builder", "prune", "--force", "--filter", f"id=^({chunk})$"],
                env=environment,
                capture_output=True,
                timeout=300,
                check=False,
            )
    return len(asked)


def _records_named(marks: Sequence[str], env: Mapping[str, str]) -> set[str]:
    """Ids of the build cache records whose description names one of ``marks``, with their descendants."""
    listed = subprocess.run(
        [docker_client(), "system", "df", "-v", "--format", "{{json .BuildCache}}"],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    try:
        records = json.loads(listed.stdout or "[]") or []
    except json.JSONDecodeError:
        return set()
    mine = {r["ID"] for r in records if any(n in str(r.get("Description", "")) for n in marks)}
    # A record built on top of one of ours (the next RUN, the app's COPY) is ours too, and a parent cannot be
    # pruned while its children stay.
    grown = True
    while grown:
        grown = False
        for record in records:
            if record["ID"] not in mine and record.get("Parent") in mine:
                mine.add(record["ID"])
                grown = True
    return mine
