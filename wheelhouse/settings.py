"""Settings: defaults, then ``wheelhouse.toml`` or ``[tool.wheelhouse]`` in ``pyproject.toml``, then the command line;
and the one precedence of index settings (:func:`effective_index_config`).

Every effective value remembers where it came from, so ``wheelhouse config`` can say so. Unknown keys are errors
naming the file and the key: a typo must not silently fall back to a default.

Index settings come from more places than the other settings (pip's files and variables, the options inside
requirements files), so they are layered in one function, used by every command that reaches an index
(``download``, ``check --fix``) and shown by ``wheelhouse config``. This module imports neither click nor rich,
nor anything that talks to the network.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wheelhouse import _toml
from wheelhouse.errors import ConfigError, RequirementsError, UsageError

if TYPE_CHECKING:
    from wheelhouse.index.config import IndexConfig
    from wheelhouse.requirements import RequirementSet


@dataclass(frozen=True)
class Settings:
    """The effective configuration of one invocation."""

    wheels: str = "wheels"
    requirements: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    # Optional dependencies and dependency groups taken from pyproject.toml and lock files (--extra, --group).
    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    python: tuple[str, ...] = ()
    libc: str | None = None
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    base_image: str | None = None
    jobs: int | None = None
    # key -> "default" | "<file>" | "command line"
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    config_file: str | None = None

    def with_cli(self, **values: Any) -> Settings:
        """Override with command-line values; None and empty tuples mean "not given"."""
        given = {k: v for k, v in values.items() if v is not None and v != ()}
        for key in given:
            if key not in _KEYS:
                raise ConfigError(f"unknown setting {key!r}")
        sources = dict(self.sources)
        sources.update(dict.fromkeys(given, "command line"))
        converted: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items()}
        return replace(self, sources=sources, **converted)

    @property
    def wheels_path(self) -> Path:
        return Path(self.wheels)


_KEYS = {f.name for f in fields(Settings)} - {"sources", "config_file"}
_TOML_KEYS = {k.replace("_", "-"): k for k in _KEYS}
_LIST_KEYS = {"requirements", "constraints", "extras", "groups", "targets", "python", "extra_index_urls", "find_links"}


@dataclass(frozen=True)
class SettingRow:
    """One effective setting, as ``wheelhouse config`` shows it."""

    key: str  # as written in a configuration file, e.g. "index-url"
    value: Any  # str, tuple of str, int, or None when unset
    source: str  # "default", "command line", or the file (with " [tool.wheelhouse]" for pyproject.toml)


def settings_rows(settings: Settings) -> tuple[SettingRow, ...]:
    """Every setting with its effective value and where that value came from, in declaration order."""
    rows = []
    for f in fields(Settings):
        if f.name not in _KEYS:
            continue
        source = settings.sources.get(f.name, "default")
        if source == settings.config_file and Path(source).name == "pyproject.toml":
            source += " [tool.wheelhouse]"
        rows.append(SettingRow(f.name.replace("_", "-"), getattr(settings, f.name), source))
    return tuple(rows)


@dataclass(frozen=True)
class IndexOptions:
    """The index options given on the command line (``--index-url``, ``--extra-index-url``, ``--find-links``,
    ``--no-index``, ``--cert``, ``--timeout``, ``--retries``, ``--isolated``, ``--keyring-provider``); None, empty
    and False mean "not given"."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    cert: str | None = None
    timeout: float | None = None
    retries: int | None = None
    isolated: bool = False
    keyring_provider: str | None = None


# IndexConfig fields shown by `wheelhouse config`, in this order, with their names in a configuration file.
INDEX_KEYS = {
    "index_url": "index-url",
    "extra_index_urls": "extra-index-urls",
    "find_links": "find-links",
    "no_index": "no-index",
    "cert": "cert",
    "timeout": "timeout",
    "retries": "retries",
    "isolated": "isolated",
    "keyring_provider": "keyring-provider",
}


def effective_index_config(
    settings: Settings,
    requirements: RequirementSet | None = None,
    options: IndexOptions = IndexOptions(),
    *,
    environ: Mapping[str, str] | None = None,
) -> IndexConfig:
    """The index settings every command uses, each layer overriding the one before it:

    1. the default (https://pypi.org/simple), pip's configuration files, then ``PIP_*`` variables (skipped with
       ``options.isolated``);
    2. ``--index-url``, ``--extra-index-url``, ``--find-links`` and ``--no-index`` lines in the requirements
       files (``requirements``);
    3. wheelhouse.toml's ``index-url``, ``extra-index-urls`` and ``find-links`` (``settings``);
    4. the command line (``options``).

    A layer replaces a value, never extends it: ``--extra-index-url`` on the command line replaces the extra
    indexes of the configuration file. The result's ``sources`` names, per field, the layer it came from.
    """
    from wheelhouse.index.config import index_config_from_pip

    config = index_config_from_pip(environ, isolated=options.isolated)
    sources = dict(config.sources)
    layers: list[tuple[Mapping[str, Any], Mapping[str, str] | str]] = []
    if requirements is not None:
        layers.append(
            (
                {
                    "index_url": requirements.index_url,
                    "extra_index_urls": requirements.extra_index_urls or None,
                    "find_links": requirements.find_links or None,
                    "no_index": requirements.no_index or None,
                },
                "requirements file",
            )
        )
    layers.append(
        (
            {
                "index_url": settings.index_url,
                "extra_index_urls": settings.extra_index_urls or None,
                "find_links": settings.find_links or None,
            },
            settings.sources,
        )
    )
    layers.append(
        (
            {
                "index_url": options.index_url,
                "extra_index_urls": options.extra_index_urls or None,
                "find_links": options.find_links or None,
                "no_index": options.no_index or None,
                "cert": options.cert,
                "timeout": options.timeout,
                "retries": options.retries,
                "keyring_provider": options.keyring_provider,
            },
            "command line",
        )
    )
    for values, source in layers:
        given = {key: value for key, value in values.items() if value is not None}
        if not given:
            continue
        config = replace(config, **given)
        for key in given:
            sources[key] = source if isinstance(source, str) else source.get(key, "command line")
    if options.isolated:
        sources["isolated"] = "command line"
    config = replace(config, sources=tuple(sorted(sources.items())))
    _check_urls(config)
    return config


def _check_urls(config: IndexConfig) -> None:
    """UsageError naming the first index or find-links URL that cannot be parsed (``http://[::1/``, a port that
    is not a number): every part of the run that reads it would otherwise fail on it in its own way."""
    from urllib.parse import urlsplit

    from wheelhouse._text import redact_url

    sources = dict(config.sources)
    for field_name, urls in (
        ("index_url", (config.index_url,)),
        ("extra_index_urls", config.extra_index_urls),
        ("find_links", config.find_links),
    ):
        for url in urls:
            if "://" not in url:
                continue  # a find-links folder
            try:
                _ = urlsplit(url).port  # the port is parsed only when asked for
            except ValueError as exc:
                where = sources.get(field_name, "the defaults")
                raise UsageError(f"bad index URL {redact_url(url)!r} (from {where}): {exc}") from None


def index_rows(config: IndexConfig) -> tuple[SettingRow, ...]:
    """The effective index settings as ``wheelhouse config`` shows them: value and source of each field.

    URLs are returned as they are; whoever prints them redacts their credentials."""
    sources = dict(config.sources)
    rows = []
    for name, key in INDEX_KEYS.items():
        value = getattr(config, name)
        rows.append(SettingRow(key, value, _shown_source(sources.get(name, "default"))))
    return tuple(rows)


def _shown_source(source: str) -> str:
    return source + " [tool.wheelhouse]" if Path(source).name == "pyproject.toml" else source


# A line that opens [tool.wheelhouse] (or a table under it) or sets one of its keys, in the raw bytes of a
# pyproject.toml that cannot be decoded or parsed: then the file was meant as configuration, and is an error.
_MENTIONS_TABLE = re.compile(
    rb"""(?m)^[ \t]*\[?[ \t]*(?:["']?tool["']?[ \t]*\.[ \t]*)?["']?wheelhouse["']?[ \t]*[\].=]"""
)


def find_config_file(start: Path) -> tuple[Path, bool] | None:
    """The nearest wheelhouse.toml, or pyproject.toml with a [tool.wheelhouse] table, from ``start`` upwards.

    Returns (path, is_pyproject). The search stops at the first directory holding either file. A pyproject.toml
    that is not UTF-8 or not TOML is no configuration, unless it visibly holds the table: then it is a
    :class:`ConfigError` naming the file, as a broken wheelhouse.toml is.
    """
    for directory in (start, *start.parents):
        own = directory / "wheelhouse.toml"
        if own.is_file():
            return own, False
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            try:
                raw = _toml.read_bytes(str(pyproject))
            except RequirementsError:
                return None  # unreadable: whoever reads it as an input says why
            try:
                data = _toml.parse(_toml.decode(raw, str(pyproject)), str(pyproject))
            except RequirementsError as exc:
                if _MENTIONS_TABLE.search(raw):
                    raise ConfigError(str(exc), hint=exc.hint) from None
                return None
            if isinstance(data.get("tool"), dict) and "wheelhouse" in data["tool"]:
                return pyproject, True
            return None
    return None


def load_settings(cwd: Path | None = None, *, config_file: Path | None = None) -> Settings:
    """Defaults overlaid with the configuration file found from ``cwd`` (or the one given)."""
    cwd = cwd or Path.cwd()
    sources = dict.fromkeys(_KEYS, "default")
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError(f"configuration file {config_file} does not exist")
        found: tuple[Path, bool] | None = (config_file, config_file.name == "pyproject.toml")
    else:
        found = find_config_file(cwd)
    if found is None:
        return Settings(sources=sources)
    path, is_pyproject = found
    try:
        # The input files' reader: a bad byte named by its line, a bounded size, no nesting that exhausts the stack.
        _, data = _toml.load(str(path))
    except RequirementsError as exc:
        raise ConfigError(str(exc), hint=exc.hint) from None
    table: Any = data
    if is_pyproject:
        tool = data.get("tool", {})
        table = tool.get("wheelhouse", {}) if isinstance(tool, dict) else None
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.wheelhouse] must be a table")
    where = f"{path}" + (" [tool.wheelhouse]" if is_pyproject else "")
    values: dict[str, Any] = {}
    base = path.parent
    for raw_key, value in table.items():
        key = _TOML_KEYS.get(raw_key) or (_TOML_KEYS.get(raw_key.replace("_", "-")))
        if key is None:
            known = ", ".join(sorted(_TOML_KEYS))
            raise ConfigError(f"{where}: unknown key {raw_key!r} (known keys: {known})")
        values[key] = _convert(where, raw_key, key, value, base)
        sources[key] = str(path)
    return Settings(sources=sources, config_file=str(path), **values)


def _convert(where: str, raw_key: str, key: str, value: Any, base: Path) -> Any:
    if key in _LIST_KEYS:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            # TOML reads python = 3.10 as the float 3.1: say so rather than let the user guess.
            numbers = key == "python" and any(
                isinstance(v, (int, float)) for v in (value if isinstance(value, list) else [value])
            )
            quote = ' (quote versions: "3.10", since TOML reads 3.10 as the number 3.1)' if numbers else ""
            raise ConfigError(f"{where}: {raw_key} must be a string or a list of strings{quote}")
        if key in ("requirements", "constraints"):
            value = [_relative(base, v) for v in value]
        return tuple(value)
    if key == "jobs":
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{where}: jobs must be a positive integer")
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {raw_key} must be a string")
    if key == "wheels":
        if not value.strip():
            raise ConfigError(f"{where}: wheels must not be empty")
        return _relative(base, value)
    return value


def _relative(base: Path, value: str) -> str:
    """Paths in a config file are relative to that file; keep them short when it is the working directory."""
    path = Path(value)
    if path.is_absolute():
        return value
    try:
        if base.resolve() == Path.cwd().resolve():
            return value
    except OSError:
        pass
    return str(base / path)
