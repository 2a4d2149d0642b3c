"""Where to look for distributions: :class:`IndexConfig`, and reading it from pip's own configuration.

Contract: :func:`index_config_from_pip` sees what ``pip download`` sees (pip's configuration files, in pip's
order, then ``PIP_*`` variables) and nothing else; it never touches the network. A bad value raises
:class:`~wheelhouse.errors.ConfigError` naming the file and section, or the variable. ``IndexConfig``'s repr
redacts the credentials of every URL it holds.
"""

from __future__ import annotations

import configparser
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wheelhouse._recording import names_with_prefix
from wheelhouse._text import redact_url
from wheelhouse.errors import ConfigError

__all__ = [
    "KEYRING_PROVIDERS",
    "PYPI_SIMPLE_URL",
    "IndexConfig",
    "check_keyring_provider",
    "index_config_from_pip",
    "pip_config_files",
]

PYPI_SIMPLE_URL = "https://pypi.org/simple"
# pip's and uv's spellings of --keyring-provider ("auto" is pip's default: the keyring command when on PATH).
KEYRING_PROVIDERS = ("auto", "subprocess", "disabled")


def check_keyring_provider(value: str, source: str) -> str:
    """``value`` as a keyring provider name (case-insensitive), or a ConfigError naming ``source``.

    pip's ``import`` is accepted as ``subprocess`` (wheelhouse asks the keyring command, never imports keyring),
    so a pip configuration written for pip keeps working.
    """
    name = value.strip().lower()
    if name == "import":
        return "subprocess"
    if name not in KEYRING_PROVIDERS:
        raise ConfigError(f"{source}: invalid keyring-provider {value!r} (use {', '.join(KEYRING_PROVIDERS)})")
    return name


@dataclass(frozen=True, repr=False)
class IndexConfig:
    """Where and how to look for distributions.

    ``sources`` records, per field taken from pip's configuration, where it came from (a file and section, or
    an environment variable); it does not take part in equality.
    """

    index_url: str = PYPI_SIMPLE_URL
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()  # local directories, local or remote flat HTML pages
    no_index: bool = False
    cert: str | None = None  # CA bundle path; overrides REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE
    timeout: float = 15.0
    retries: int = 4
    isolated: bool = False
    # Whether index credentials may come from the keyring command: "auto", "subprocess" or "disabled".
    keyring_provider: str = "auto"
    sources: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def index_urls(self) -> tuple[str, ...]:
        """The simple index URLs in search order; empty with ``no_index``."""
        return () if self.no_index else (self.index_url, *self.extra_index_urls)

    def __repr__(self) -> str:
        # The generated repr would print credentials embedded in the URLs.
        return (
            f"IndexConfig(index_url={redact_url(self.index_url)!r}, "
            f"extra_index_urls={tuple(redact_url(u) for u in self.extra_index_urls)!r}, "
            f"find_links={tuple(redact_url(u) for u in self.find_links)!r}, no_index={self.no_index!r}, "
            f"cert={self.cert!r}, timeout={self.timeout!r}, retries={self.retries!r}, isolated={self.isolated!r}, "
            f"keyring_provider={self.keyring_provider!r})"
        )


def pip_config_files(
    environ: Mapping[str, str] | None = None,
    *,
    system_files: Sequence[str | os.PathLike[str]] | None = None,
    platform: str | None = None,
) -> tuple[tuple[str, Path], ...]:
    """The pip configuration files pip would read, lowest priority first, as ``(level, path)`` pairs.

    Levels are ``global``, ``user``, ``site`` and ``env`` (the file named by ``PIP_CONFIG_FILE``), in pip's
    override order: a later file's value wins. Paths derive from ``environ`` (``HOME``, ``XDG_CONFIG_HOME``,
    ``XDG_CONFIG_DIRS``, ``VIRTUAL_ENV``, ``APPDATA``...), so tests can point them at a temporary directory;
    ``system_files`` replaces the system-wide list (``$XDG_CONFIG_DIRS/pip/pip.conf`` then ``/etc/pip.conf``
    on Linux). ``PIP_CONFIG_FILE=os.devnull`` disables every file. Files that do not exist are still listed.
    """
    env = os.environ if environ is None else environ
    plat = sys.platform if platform is None else platform
    config_file = env.get("PIP_CONFIG_FILE")
    if config_file == os.devnull:
        return ()
    basename = "pip.ini" if plat == "win32" else "pip.conf"
    home = env.get("USERPROFILE" if plat == "win32" else "HOME")
    files: list[tuple[str, Path]] = []

    if system_files is not None:
        files += [("global", Path(p)) for p in system_files]
    elif plat == "win32":
        files.append(("global", Path(env.get("PROGRAMDATA", r"C:\ProgramData"), "pip", basename)))
    elif plat == "darwin":
        files.append(("global", Path("/Library/Application Support/pip", basename)))
    else:
        xdg_dirs = env.get("XDG_CONFIG_DIRS") or "/etc/xdg"
        files += [("global", Path(d, "pip", basename)) for d in xdg_dirs.split(os.pathsep) if d]
        files.append(("global", Path("/etc", basename)))

    # pip skips the user files when PIP_CONFIG_FILE names an existing file (pypa/pip#10643, kept on purpose).
    if not (config_file and Path(config_file).exists()) and home:
        # The legacy location first: the current one overrides it.
        files.append(("user", Path(home, "pip" if plat == "win32" else ".pip", basename)))
        if plat == "win32":
            if env.get("APPDATA"):
                files.append(("user", Path(env["APPDATA"], "pip", basename)))
        elif plat == "darwin" and Path(home, "Library/Application Support/pip").is_dir():
            files.append(("user", Path(home, "Library/Application Support/pip", basename)))
        else:
            files.append(("user", Path(env.get("XDG_CONFIG_HOME") or Path(home, ".config"), "pip", basename)))

    # pip reads the site file from sys.prefix; VIRTUAL_ENV names the user's active environment instead of the
    # one wheelhouse happens to be installed in (a pipx venv, say), which is the environment the user means.
    if env.get("VIRTUAL_ENV"):
        files.append(("site", Path(env["VIRTUAL_ENV"], basename)))
    # The PIP_CONFIG_FILE file overrides all others, whatever older pip documentation says (pypa/pip#11815).
    if config_file:
        files.append(("env", Path(config_file)))
    return tuple(files)


# Option names as pip spells them in config files (long option without "--"), mapped to one key each.
_PIP_OPTIONS = {
    "index-url",
    "extra-index-url",
    "find-links",
    "no-index",
    "cert",
    "timeout",
    "retries",
    "keyring-provider",
}
_PIP_ALIASES = {"default-timeout": "timeout"}
# The sections pip consults for ``pip download``, lowest priority first. wheelhouse does what
# ``pip download`` does, so it reads what that command reads: [install] settings do not apply to it.
_PIP_SECTIONS = ("global", "download")


def _pip_key(name: str) -> str:
    key = name.lower().replace("_", "-").removeprefix("--")
    return _PIP_ALIASES.get(key, key)


def _read_pip_file(path: Path) -> list[tuple[str, str, str]]:
    if not path.is_file():
        return []
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{path}: cannot parse pip configuration: {first_line}") from None
    return [(s, _pip_key(k), v) for s in parser.sections() for k, v in parser.items(s)]


def _pip_bool(value: str, source: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"y", "yes", "t", "true", "on", "1"}:
        return True
    if lowered in {"n", "no", "f", "false", "off", "0"}:
        return False
    raise ConfigError(f"{source}: {value!r} is not a boolean (use true or false)")


def index_config_from_pip(
    environ: Mapping[str, str] | None = None,
    *,
    isolated: bool = False,
    system_files: Sequence[str | os.PathLike[str]] | None = None,
) -> IndexConfig:
    """Index settings from the user's pip configuration, so wheelhouse looks where ``pip download`` would.

    Precedence, highest first: command line > requirements-file options (``--index-url`` ... inside a
    requirements file) > ``PIP_*`` environment variables > pip configuration files > defaults. This function
    supplies the last three layers; callers apply the first two with :func:`dataclasses.replace`.

    Files are those of :func:`pip_config_files` (``PIP_CONFIG_FILE`` overrides the global, user and site
    files; ``PIP_CONFIG_FILE=os.devnull`` disables them all); within the files, ``[download]`` overrides
    ``[global]`` wherever each is set, as pip does. Variables read: ``PIP_INDEX_URL``, ``PIP_EXTRA_INDEX_URL``
    and ``PIP_FIND_LINKS`` (space-separated lists), ``PIP_NO_INDEX``, ``PIP_CERT``, ``PIP_TIMEOUT`` /
    ``PIP_DEFAULT_TIMEOUT``, ``PIP_RETRIES`` and ``PIP_KEYRING_PROVIDER``; empty values are ignored.
    ``environ`` defaults to ``os.environ``; ``system_files`` replaces the system-wide file list (for tests).
    ``isolated=True`` ignores files and environment alike. Raises :class:`ConfigError` naming the file or
    variable for a bad value.
    """
    if isolated:
        return IndexConfig(isolated=True)
    env = os.environ if environ is None else environ

    by_section: dict[str, dict[str, tuple[str, str]]] = {s: {} for s in _PIP_SECTIONS}
    for _level, path in pip_config_files(env, system_files=system_files):
        for section, key, value in _read_pip_file(path):
            if section in by_section and key in _PIP_OPTIONS:
                by_section[section][key] = (value, f"{path} [{section}]")
    chosen: dict[str, tuple[str, str]] = {}
    for section in _PIP_SECTIONS:
        chosen.update(by_section[section])
    # Sorted so PIP_TIMEOUT deterministically beats its alias PIP_DEFAULT_TIMEOUT when both are set.
    for var in names_with_prefix(env, "PIP_"):
        if env[var].strip():
            key = _pip_key(var[4:])
            if key in _PIP_OPTIONS:
                chosen[key] = (env[var], f"environment {var}")

    kwargs: dict[str, Any] = {}
    sources: list[tuple[str, str]] = []
    for key, (value, source) in chosen.items():
        name = key.replace("-", "_")
        try:
            if key == "index-url":
                kwargs[name] = value.strip()
            elif key in ("extra-index-url", "find-links"):
                name += "s" if key == "extra-index-url" else ""
                kwargs[name] = tuple(value.split())
            elif key == "no-index":
                kwargs[name] = _pip_bool(value, source)
            elif key == "cert":
                kwargs[name] = value.strip()
            elif key == "keyring-provider":
                kwargs[name] = check_keyring_provider(value, source)
            elif key == "timeout":
                kwargs[name] = float(value)
                if not (math.isfinite(kwargs[name]) and kwargs[name] > 0):
                    raise ValueError(value)
            elif key == "retries":
                kwargs[name] = int(value)
                if kwargs[name] < 0:
                    raise ValueError(value)
        except ValueError:
            raise ConfigError(f"{source}: invalid {key} value {value!r}") from None
        sources.append((name, source))
    return IndexConfig(**kwargs, sources=tuple(sorted(sources)))
