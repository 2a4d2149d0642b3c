"""The one translation of wheelhouse's index settings into pip's, with one credential policy.

pip runs as a subprocess in three places: ``pip download`` (``--engine pip``), builds and prepare-metadata hooks
on this machine, and builds in a container. All three learn where to look from :func:`index_settings`, the
effective :class:`~wheelhouse.index.config.IndexConfig` (already layered from pip's files, ``PIP_*`` variables,
requirements files, wheelhouse.toml and the command line) spelled as ``PIP_*`` variables, which beat pip's
configuration files.

Contract, the credential policy: index URLs may carry credentials, so they travel only in the environment of the
process that runs pip, never on a command line (where ``ps`` and logs show them) and never in an image's
history. A container gets them as ``docker run -e NAME`` without a value (:func:`docker_env_args`): the client
reads the value from its own environment. The variables this module sets replace inherited ones of the same
name, so pip sees exactly the settings wheelhouse resolved with; ``config.isolated`` drops every inherited
``PIP_*`` variable and pip's files, as ``--isolated`` promises (pip's own ``--isolated`` flag would also make it
ignore the variables that carry the settings).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wheelhouse.index.config import IndexConfig

__all__ = [
    "CONTAINER_CERT",
    "container_environment",
    "default_cache_dir",
    "docker_env_args",
    "folder_links",
    "index_settings",
    "pip_environment",
]

# Where a container sees the configured CA bundle.
CONTAINER_CERT = "/etc/wheelhouse-ca.pem"
_CONTAINER_LINKS = "/wheelhouse-links"
# The variables that carry index settings: with a configuration they are always wheelhouse's, never inherited.
_INDEX_VARIABLES = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_NO_INDEX",
    "PIP_CERT",
    "PIP_TIMEOUT",
    "PIP_RETRIES",
    "PIP_KEYRING_PROVIDER",
)
# Every pip run: no version check on the network, and never a prompt that would hang an unattended run.
_QUIET = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}

# Maps a location (URL or local path) to how the pip process sees it; None leaves it out.
Locate = Callable[[str], "str | None"]


def _as_is(location: str) -> str | None:
    return location


def _link_word(location: str) -> str:
    """A find-links location as one word: pip splits ``PIP_FIND_LINKS`` on whitespace, so a local folder whose
    path has a space is given as its ``file:`` URL (spaces quoted)."""
    if not any(c.isspace() for c in location):
        return location
    if location.startswith("file:"):
        return Path(location.removeprefix("file://").removeprefix("file:")).resolve().as_uri()
    if "://" in location:
        return location  # a remote URL does not hold a raw space
    return Path(location).resolve().as_uri()


def index_settings(
    config: IndexConfig | None,
    *,
    find_links: Sequence[str] = (),
    locate: Locate = _as_is,
    locate_cert: Locate = _as_is,
) -> dict[str, str]:
    """The ``PIP_*`` variables that make pip look where ``config`` says, plus the extra ``find_links``.

    ``locate`` maps each index URL and find-links location, ``locate_cert`` the CA bundle, to how the pip process
    sees them (a container sees local folders where they are mounted).
    """
    settings: dict[str, str] = {}
    links = [*(config.find_links if config is not None else ()), *find_links]
    if config is not None:
        indexes = [locate(url) for url in config.index_urls]
        if indexes and indexes[0]:
            settings["PIP_INDEX_URL"] = indexes[0]
        extra = [url for url in indexes[1:] if url]
        if extra:
            settings["PIP_EXTRA_INDEX_URL"] = " ".join(extra)
        if config.no_index:
            settings["PIP_NO_INDEX"] = "1"
        cert = locate_cert(config.cert) if config.cert else None
        if cert:
            settings["PIP_CERT"] = cert
        settings["PIP_TIMEOUT"] = str(config.timeout)
        settings["PIP_RETRIES"] = str(config.retries)
        # pip's own default is "auto" too, but pip skips the keyring then, under PIP_NO_INPUT: pass a choice on.
        if config.keyring_provider != "auto":
            settings["PIP_KEYRING_PROVIDER"] = config.keyring_provider
    seen = [_link_word(found) for found in (locate(link) for link in links) if found]
    if seen:
        settings["PIP_FIND_LINKS"] = " ".join(seen)
    return settings


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """pip's cache for build requirements: ``$XDG_CACHE_HOME/wheelhouse/pip`` (``~/.cache`` by default)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    return Path(base) / "wheelhouse" / "pip"


def folder_links(root: Path) -> tuple[str, ...]:
    """The wheels folder as a find-links location: build requirements kept there (``--keep-build-deps``) then
    serve isolated builds even with no index, which is what repeating a build offline needs."""
    return (str(root.resolve()),) if root.is_dir() else ()


def pip_environment(
    config: IndexConfig | None,
    *,
    base: Mapping[str, str] | None = None,
    cache_dir: Path | None = None,
    find_links: Sequence[str] = (),
) -> dict[str, str]:
    """The environment of a pip subprocess on this machine that must look where wheelhouse looks.

    ``base`` (default ``os.environ``) is the environment to start from; ``find_links`` are added to the
    configuration's (the wheels folder, so build requirements kept there serve builds with no index);
    ``cache_dir`` is pip's cache (None: pip's own default).
    """
    env = dict(os.environ if base is None else base)
    if config is not None:
        inherited = [k for k in env if k.startswith("PIP_")] if config.isolated else _INDEX_VARIABLES
        for key in inherited:
            env.pop(key, None)
        if config.isolated:
            env["PIP_CONFIG_FILE"] = os.devnull
    env.update(_QUIET)
    if cache_dir is not None:
        env["PIP_CACHE_DIR"] = str(cache_dir)
    env.update(index_settings(config, find_links=find_links))
    return env


def container_environment(
    config: IndexConfig | None, *, find_links: Sequence[str] = ()
) -> tuple[dict[str, str], list[str]]:
    """pip's environment inside a container, and the ``-v`` arguments that mount what it needs.

    Index URLs stay as they are (the container shares the host's network, 127.0.0.1 included); local folders
    (find-links, an index that is a folder) are mounted read-only, as is the CA bundle. Nothing of the user's
    pip configuration applies inside: the image's files are ignored and pip runs as a non-root user with a
    throwaway home.
    """
    mounts: list[str] = []
    numbers = itertools.count()

    def locate(location: str) -> str | None:
        if "://" in location and not location.startswith("file:"):
            return location
        local = Path(location.removeprefix("file://").removeprefix("file:"))
        if not local.is_dir():
            return None
        inside = f"{_CONTAINER_LINKS}/{next(numbers)}"
        mounts.extend(["-v", f"{local.resolve()}:{inside}:ro"])
        return f"file://{inside}" if location.startswith("file:") else inside

    def locate_cert(cert: str) -> str | None:
        if not Path(cert).is_file():
            return None
        mounts.extend(["-v", f"{Path(cert).resolve()}:{CONTAINER_CERT}:ro"])
        return CONTAINER_CERT

    env = {
        "HOME": "/tmp",
        "PIP_CONFIG_FILE": "/dev/null",
        **_QUIET,
        "PIP_ROOT_USER_ACTION": "ignore",
    }
    env.update(index_settings(config, find_links=find_links, locate=locate, locate_cert=locate_cert))
    return env, mounts


def docker_env_args(inner: Mapping[str, str], client_env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """``-e NAME`` for each variable of ``inner``, and the client's environment carrying their values.

    The client copies each named variable from its own environment into the container, so a credential in an
    index URL is on no command line. The client's own ``PIP_*`` variables are dropped: they are this machine's.
    """
    env = {k: v for k, v in client_env.items() if not k.startswith("PIP_")}
    argv: list[str] = []
    for key, value in inner.items():
        argv += ["-e", key]
        env[key] = value
    return argv, env
