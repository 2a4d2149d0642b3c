"""Remote package indexes: configuration, an HTTP client, and a finder over them.

Three layers, each usable on its own:

* :class:`IndexConfig` says where to look (index URLs, find-links, certificate, timeouts);
  :func:`index_config_from_pip` reads it from the user's pip configuration so wheelhouse sees what pip sees.
* :class:`IndexClient` talks to the indexes through one ``requests.Session``: project pages as PEP 691 JSON
  or PEP 503 HTML, core metadata by PEP 658 or by HTTP range requests into the wheel's zip directory, and
  verified streaming downloads. It retries transient failures and caches per project and per file.
* :class:`IndexFinder` adapts the client to :class:`wheelhouse.dists.Finder` for the resolver, refusing file
  names that could escape the wheels folder.

Credentials given in index URLs are taken out of every URL this module stores or reports and sent as HTTP
basic auth to the matching host only, so they never reach a message, a log or the manifest.
"""

from __future__ import annotations

import configparser
import functools
import hashlib
import html.parser
import http.client
import io
import itertools
import json
import os
import re
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit
from urllib.request import url2pathname

import requests
import urllib3.exceptions
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version
from requests.adapters import HTTPAdapter

from wheelhouse import __version__
from wheelhouse._text import redact_url
from wheelhouse.dists import (
    MAX_METADATA_BYTES,
    CoreMetadata,
    DistFile,
    InvalidDistFilename,
    parse_core_metadata,
    parse_dist_filename,
    wheel_tags,
)
from wheelhouse.errors import (
    ConfigError,
    HashMismatchError,
    NetworkError,
    StoreError,
    WheelhouseError,
)

if TYPE_CHECKING:
    from packaging.tags import Tag

    from wheelhouse.targets import Target

__all__ = [
    "IndexClient",
    "IndexConfig",
    "IndexFinder",
    "MetadataError",
    "RemoteFile",
    "index_config_from_pip",
    "pip_config_files",
    "redact_url",
]

PYPI_SIMPLE_URL = "https://pypi.org/simple"
USER_AGENT = f"wheelhouse/{__version__}"

_JSON_TYPE = "application/vnd.pypi.simple.v1+json"
_HTML_TYPE = "application/vnd.pypi.simple.v1+html"
# PEP 691: prefer JSON, accept the versioned HTML, and take legacy text/html as a last resort.
_PAGE_ACCEPT = f"{_JSON_TYPE}, {_HTML_TYPE};q=0.2, text/html;q=0.01"
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_CHUNK = 64 * 1024
# The largest project pages of the public index are tens of MB (thousands of files); far above that is an index
# that is broken or hostile.
MAX_PAGE_BYTES = 256 * 1024 * 1024
_READ1_SIZE = 1024 * 1024
# Below this rate, sustained over a whole timeout period, a transfer counts as stalled and is retried.
_MIN_BYTES_PER_SECOND = 1024
# The tail fetched first when reading a wheel's metadata by ranges: the end-of-central-directory record plus,
# for most wheels, the whole central directory and the METADATA member written just before it.
_TAIL_BYTES = 64 * 1024
_DIST_SUFFIXES = (".whl", ".tar.gz", ".zip")

T = TypeVar("T")
K = TypeVar("K")


class MetadataError(WheelhouseError):
    """A distribution's core metadata cannot be obtained from the index or does not match the file."""


# -- configuration ---------------------------------------------------------------------------------------------


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
            f"cert={self.cert!r}, timeout={self.timeout!r}, retries={self.retries!r}, isolated={self.isolated!r})"
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
_PIP_OPTIONS = {"index-url", "extra-index-url", "find-links", "no-index", "cert", "timeout", "retries"}
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
    ``PIP_DEFAULT_TIMEOUT`` and ``PIP_RETRIES``; empty values are ignored. ``environ`` defaults to
    ``os.environ``; ``system_files`` replaces the system-wide file list (for tests). ``isolated=True`` ignores
    files and environment alike. Raises :class:`ConfigError` naming the file or variable for a bad value.
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
    for var in sorted(env):
        if var.startswith("PIP_") and env[var].strip():
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
            elif key == "timeout":
                kwargs[name] = float(value)
                if not kwargs[name] > 0:
                    raise ValueError(value)
            elif key == "retries":
                kwargs[name] = int(value)
                if kwargs[name] < 0:
                    raise ValueError(value)
        except ValueError:
            raise ConfigError(f"{source}: invalid {key} value {value!r}") from None
        sources.append((name, source))
    return IndexConfig(**kwargs, sources=tuple(sorted(sources)))


# -- URLs and credentials --------------------------------------------------------------------------------------


def _split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without its userinfo, and that userinfo as a (user, password) pair when present."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=host)), (unquote(user), unquote(password))


def _netloc(url: str) -> str:
    return urlsplit(url).netloc.rpartition("@")[2].lower()


def _is_file_url(url: str) -> bool:
    return url.lower().startswith("file:")


def _file_url_path(url: str) -> Path:
    return Path(url2pathname(urlsplit(url).path))


def _strip_fragment(url: str) -> tuple[str, str]:
    base, _, fragment = url.partition("#")
    return base, fragment


# -- index pages -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteFile:
    """One file an index or find-links location lists.

    ``url`` is absolute, without fragment and without credentials; ``sha256`` is the hash the index published
    (lower-case hex) or None; ``core_metadata`` says whether a PEP 658 ``.metadata`` file is offered, with
    its hash in ``metadata_sha256`` when given; ``index_url`` is the index or find-links location it came from.
    """

    filename: str
    url: str
    sha256: str | None = None
    requires_python: str | None = None
    yanked: str | None = None
    core_metadata: bool = False
    metadata_sha256: str | None = None
    size: int | None = None
    index_url: str = ""


class _LinkParser(html.parser.HTMLParser):
    """Collects anchors, ``<base href>`` and the PEP 629 repository version of a PEP 503 page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.api_version: str | None = None
        self.anchors: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # html.parser has already unescaped attribute values: "&gt;=3.8" arrives as ">=3.8".
        values = dict(attrs)
        if tag == "a":
            self.anchors.append(values)
        elif tag == "base" and self.base is None and values.get("href"):
            self.base = values["href"]
        elif tag == "meta" and values.get("name") == "pypi:repository-version":
            self.api_version = values.get("content")


def _check_api_version(version: object, page: str) -> None:
    # PEP 629: a client must refuse a major version it does not know; minor versions only add.
    if version is None:
        return
    major = str(version).split(".")[0]
    if major != "1":
        raise NetworkError(
            f"{redact_url(page)} uses simple repository API version {version}; wheelhouse understands 1.x",
            hint="upgrade wheelhouse",
        )


def _metadata_flag(value: object) -> tuple[bool, str | None]:
    """Decode a PEP 658/714 core-metadata value: JSON ``true``/``{"sha256": ...}`` or HTML ``sha256=...``."""
    if value is None or value is False:
        return False, None
    if isinstance(value, dict):
        digest = value.get("sha256")
        return True, digest.lower() if isinstance(digest, str) else None
    if isinstance(value, str):
        if value.strip().lower() == "false":
            return False, None
        name, _, digest = value.partition("=")
        return True, digest.strip().lower() if name.strip().lower() == "sha256" and digest else None
    return bool(value), None


def _parse_html_page(text: str, page_url: str, index_url: str) -> list[RemoteFile]:
    """The files of a PEP 503 page (or a flat find-links page); hrefs resolve against the page URL."""
    parser = _LinkParser()
    parser.feed(text)
    parser.close()
    _check_api_version(parser.api_version, page_url)
    base = urljoin(page_url, parser.base) if parser.base else page_url
    files = []
    for anchor in parser.anchors:
        href = anchor.get("href")
        if not href:
            continue
        url, fragment = _strip_fragment(urljoin(base, href.strip()))
        if urlsplit(url).scheme not in ("http", "https", "file"):
            continue
        hash_name, _, digest = fragment.partition("=")
        # pip names the file after the last path segment of the URL, not the anchor text; so do we.
        filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        requires_python = (anchor.get("data-requires-python") or "").strip() or None
        yanked = (anchor.get("data-yanked") or "") if "data-yanked" in anchor else None
        # PEP 714 renamed data-dist-info-metadata to data-core-metadata; accept either, prefer the new one.
        key = "data-core-metadata" if "data-core-metadata" in anchor else "data-dist-info-metadata"
        core, metadata_sha256 = _metadata_flag((anchor.get(key) or "true") if key in anchor else None)
        files.append(
            RemoteFile(
                filename=filename,
                url=url,
                sha256=digest.lower() if hash_name == "sha256" and digest else None,
                requires_python=requires_python,
                yanked=yanked,
                core_metadata=core,
                metadata_sha256=metadata_sha256,
                index_url=index_url,
            )
        )
    return files


def _parse_json_page(data: bytes, page_url: str, index_url: str, warn: Callable[[str], None]) -> list[RemoteFile]:
    """The files of a PEP 691 JSON project page; relative URLs resolve against the page URL."""
    doc = json.loads(data)
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        raise ValueError("not a PEP 691 project page (no 'files' list)")
    meta = doc.get("meta")
    _check_api_version(meta.get("api-version") if isinstance(meta, dict) else None, page_url)
    files = []
    for item in doc["files"]:
        filename = item.get("filename") if isinstance(item, dict) else None
        # Files no Linux target can use first: on a long-lived project's page they are a third of the entries.
        if isinstance(filename, str) and _irrelevant(filename):
            continue
        if not filename or not isinstance(item.get("url"), str):
            warn(f"{redact_url(page_url)}: skipping a malformed file entry")
            continue
        raw_url: str = item["url"]
        # Most indexes link absolute URLs; urljoin for each of a large project's files costs seconds.
        url, _ = _strip_fragment(raw_url if raw_url.startswith(("https://", "http://")) else urljoin(page_url, raw_url))
        hashes = item.get("hashes") if isinstance(item.get("hashes"), dict) else {}
        sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
        yanked_value = item.get("yanked", False)
        # PEP 592 / 691: ``true`` is a yank without a reason, a string is the reason.
        yanked = None if yanked_value is False else (yanked_value if isinstance(yanked_value, str) else "")
        key = "core-metadata" if "core-metadata" in item else "dist-info-metadata"
        core, metadata_sha256 = _metadata_flag(item.get(key))
        size = item.get("size")
        requires_python = item.get("requires-python")
        if not isinstance(requires_python, str) or not requires_python.strip():
            requires_python = None
        files.append(
            RemoteFile(
                filename=str(filename),
                url=url,
                sha256=sha256.lower() if isinstance(sha256, str) and sha256 else None,
                requires_python=requires_python.strip() if requires_python else None,
                yanked=yanked,
                core_metadata=core,
                metadata_sha256=metadata_sha256,
                size=size if isinstance(size, int) and not isinstance(size, bool) else None,
                index_url=index_url,
            )
        )
    return files


def _decode_page(data: bytes, content_type: str, url: str) -> str:
    charset = "utf-8"
    match = re.search(r"charset=([\w-]+)", content_type, re.IGNORECASE)
    if match:
        charset = match.group(1)
    try:
        return data.decode(charset)
    except (UnicodeDecodeError, LookupError):
        raise NetworkError(f"{redact_url(url)}: the index page is not valid {charset} text") from None


# -- ranged reads ----------------------------------------------------------------------------------------------


class _RangeUnsupported(Exception):
    """The server answered a ranged request with something other than the requested range."""


class _RangeFile(io.RawIOBase):
    """A read-only, seekable view of a remote file that fetches missing byte ranges on demand.

    ``zipfile`` reads through it exactly the bytes it needs: the end-of-central-directory record, the
    central directory, then one member. Fetched spans are kept (merged, sorted) so nothing is fetched twice.
    """

    def __init__(self, fetch: Callable[[int, int], bytes], size: int, *, min_fetch: int = 16 * 1024) -> None:
        super().__init__()
        self._fetch = fetch
        self._size = size
        self._min_fetch = min_fetch
        self._pos = 0
        self._spans: list[tuple[int, bytes]] = []

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def add(self, start: int, data: bytes) -> None:
        """Record bytes already fetched, starting at offset ``start``."""
        merged_start, merged = start, data
        kept = []
        for span_start, span in self._spans:
            span_end, merged_end = span_start + len(span), merged_start + len(merged)
            if span_end < merged_start or span_start > merged_end:
                kept.append((span_start, span))
                continue
            if span_start < merged_start:
                merged, merged_start = span[: merged_start - span_start] + merged, span_start
            merged_end = merged_start + len(merged)
            if span_end > merged_end:
                merged += span[merged_end - span_start :]
        kept.append((merged_start, merged))
        self._spans = sorted(kept, key=lambda s: s[0])

    def prefetch(self, start: int, end: int) -> None:
        """Make sure bytes ``[start, end)`` are present, fetching the gaps (each at least ``min_fetch`` long)."""
        end = min(end, self._size)
        cursor = start
        gaps = []
        for span_start, span in self._spans:
            span_end = span_start + len(span)
            if span_end <= cursor:
                continue
            if span_start >= end:
                break
            if span_start > cursor:
                gaps.append((cursor, span_start))
            cursor = max(cursor, span_end)
        if cursor < end:
            gaps.append((cursor, end))
        for gap_start, gap_end in gaps:
            fetch_end = min(self._size, max(gap_end, gap_start + self._min_fetch))
            self.add(gap_start, self._fetch(gap_start, fetch_end))

    def read(self, size: int = -1) -> bytes:
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        if end <= self._pos:
            return b""
        self.prefetch(self._pos, end)
        for span_start, span in self._spans:
            if span_start <= self._pos < span_start + len(span):
                data = span[self._pos - span_start : end - span_start]
                self._pos += len(data)
                return data
        raise OSError("range cache inconsistency")  # unreachable: prefetch filled [pos, end)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _find_metadata_member(names: Iterable[str], filename: str) -> str | None:
    """The wheel's ``<name>-<version>.dist-info/METADATA``, preferring the directory named like the file."""
    candidates = [n for n in names if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
    project = canonicalize_name(filename.split("-")[0])
    for name in candidates:
        if canonicalize_name(name.split("-")[0].removesuffix(".dist-info")) == project:
            return name
    return candidates[0] if len(candidates) == 1 else None


def _read_wheel_metadata(
    fileobj: IO[bytes] | _RangeFile, filename: str, *, prefetch: Callable[[int, int], None] | None
) -> bytes:
    with zipfile.ZipFile(fileobj) as zf:
        member = _find_metadata_member(zf.namelist(), filename)
        if member is None:
            raise MetadataError(f"{filename} has no .dist-info/METADATA file")
        info = zf.getinfo(member)
        if info.file_size > MAX_METADATA_BYTES:
            raise MetadataError(f"{filename}: METADATA is {info.file_size} bytes, over the limit")
        if prefetch is not None:
            # One request for the local header and the compressed member instead of zipfile's small reads;
            # the slack covers a local "extra" field longer than the central directory's.
            prefetch(info.header_offset, info.header_offset + 30 + len(member) + 1024 + info.compress_size)
        with zf.open(info) as member_file:
            data = member_file.read(MAX_METADATA_BYTES + 1)
    if len(data) > MAX_METADATA_BYTES:
        raise MetadataError(f"{filename}: METADATA is over the {MAX_METADATA_BYTES} byte limit")
    return data


# -- the client ------------------------------------------------------------------------------------------------


class _Transient(Exception):
    """A failure worth retrying: a connection error, a 5xx/429 status, a body cut short."""

    def __init__(self, cause: str, retry_after: float | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.retry_after = retry_after


# Errors raised while reading a streamed body: urllib3's own (IncompleteRead, ProtocolError, ReadTimeoutError),
# requests' wrappers and the socket's.
_BODY_ERRORS = (
    urllib3.exceptions.HTTPError,
    requests.RequestException,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
)


def _describe(exc: BaseException) -> str:
    """A short description of a transport failure: its innermost cause, without connection-pool reprs.

    requests wraps urllib3, which wraps the socket error; "connection reset by peer" is what a user needs,
    not three nested reprs.
    """
    for _ in range(8):
        inner = getattr(exc, "reason", None)  # urllib3's MaxRetryError keeps the cause here
        if not isinstance(inner, BaseException):
            inner = next((a for a in reversed(exc.args) if isinstance(a, BaseException)), None)
        if inner is None or inner is exc:
            break
        exc = inner
    root = exc if isinstance(exc, OSError) and exc.strerror else exc.__cause__
    if isinstance(root, OSError) and root.strerror:
        return root.strerror[:1].lower() + root.strerror[1:]
    text = str(exc) or type(exc).__name__
    return re.sub(r"^\w*HTTPS?Connection(Pool)?\([^)]*\):\s*", "", text)


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class IndexClient:
    """HTTP access to the configured indexes and find-links, through one ``requests.Session``.

    Thread-safe: project pages and metadata are fetched once per name / URL even when many threads ask at
    once. Transient failures (connection errors, 429 and 5xx answers, bodies cut short) are retried
    ``config.retries`` times with exponential backoff (``backoff * 2**attempt`` seconds, at least what
    ``Retry-After`` asks, at most ``max_wait``). ``sleep`` is injectable so tests need not wait.
    """

    def __init__(
        self,
        config: IndexConfig,
        *,
        jobs: int = 8,
        session: requests.Session | None = None,
        backoff: float = 0.5,
        max_wait: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.jobs = max(1, jobs)
        self.warnings: list[str] = []
        self._backoff = backoff
        self._max_wait = max_wait
        self._sleep = sleep
        self._owns_session = session is None
        self._session = session if session is not None else self._new_session(self.jobs)
        # Per request rather than on the session: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override
        # session.verify (psf/requests#3829), and a --cert the user gave must win over the environment.
        self._verify: str | None = config.cert
        # requests reads proxies, ~/.netrc and CA bundles from the environment on *every* request (walking
        # os.environ and re-reading ~/.netrc): a third of a download's CPU. Read them once per host instead, with
        # the same rules (requests.utils), and let the session stop looking.
        self._trust_env = bool(self._session.trust_env)
        self._session.trust_env = False
        self._env_cache: dict[str, tuple[dict[str, str], tuple[str, str] | None]] = {}
        self._templates: dict[
            tuple[str, str, tuple[tuple[str, str], ...], tuple[str, str] | None], requests.PreparedRequest
        ] = {}
        if self._verify is None and self._trust_env:
            self._verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None
        self._timeout = (config.timeout, config.timeout)
        self._credentials: dict[str, tuple[str, str]] = {}
        self._index_urls = tuple(self._remember_credentials(u) for u in config.index_urls)
        self._find_links = tuple(self._remember_credentials(u) if "://" in u else u for u in config.find_links)
        self._lock = threading.Lock()
        self._requests = 0
        self._pages: dict[str, Future[tuple[RemoteFile, ...]]] = {}
        self._links: dict[str, Future[tuple[RemoteFile, ...]]] = {}
        self._metadata: dict[str, Future[bytes]] = {}
        self._executor: ThreadPoolExecutor | None = None

    @staticmethod
    def _new_session(jobs: int) -> requests.Session:
        session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
        # A pool slot per worker thread (the prefetching and the downloading workers share the session), so
        # parallel fetches reuse connections instead of opening and discarding new ones;
        # retries are ours (they must also cover bodies cut short, which urllib3's Retry does not see).
        adapter = HTTPAdapter(pool_connections=max(10, jobs), pool_maxsize=2 * jobs, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def _remember_credentials(self, url: str) -> str:
        clean, auth = _split_credentials(url)
        if auth is not None:
            self._credentials[_netloc(clean)] = auth
        return clean

    # -- bookkeeping -------------------------------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far (every attempt and redirect counts)."""
        with self._lock:
            return self._requests

    def _count(self, n: int = 1) -> None:
        with self._lock:
            self._requests += n

    def _warn(self, message: str) -> None:
        with self._lock:
            if message not in self.warnings:
                self.warnings.append(message)

    def _redact(self, text: str) -> str:
        # Exception texts from the HTTP stack may quote a URL; scrub any secret we know of (a user name without
        # password is a token, as in redact_url).
        for user, password in self._credentials.values():
            secret = password or user
            if secret:
                text = text.replace(secret, "****")
        return text

    def _cause(self, exc: BaseException) -> str:
        return self._redact(_describe(exc))[:300]

    def close(self) -> None:
        """Release the thread pool and, when the client created it, the session."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> IndexClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _once(self, cache: dict[K, Future[T]], key: K, compute: Callable[[], T]) -> T:
        """``compute()`` once per key across threads; later callers get the same result or error."""
        with self._lock:
            future = cache.get(key)
            owner = future is None
            if future is None:
                future = Future()
                cache[key] = future
        if owner:
            try:
                future.set_result(compute())
            except Exception as exc:
                future.set_exception(exc)
            except BaseException as exc:
                # An interrupt is not an answer: forget it so a later call can try again.
                with self._lock:
                    cache.pop(key, None)
                future.set_exception(exc)
                raise
        return future.result()

    # -- HTTP with retries -------------------------------------------------------------------------------------

    def _get(self, url: str, *, headers: Mapping[str, str] | None = None, stream: bool = False) -> requests.Response:
        """One GET attempt; raises :class:`_Transient` for what a retry may fix, NetworkError otherwise."""
        self._count()
        netloc = _netloc(url)
        proxies, netrc_auth = self._environment_for(url, netloc)
        auth = self._credentials.get(netloc) or netrc_auth
        verify: bool | str = self._verify if self._verify is not None else True
        try:
            if self._session.cookies:
                # A server set cookies: let requests merge the jar into every request from now on.
                response = self._session.get(
                    url,
                    headers=dict(headers or {}),
                    stream=stream,
                    timeout=self._timeout,
                    verify=verify,
                    auth=auth,
                    proxies=proxies,
                )
            else:
                response = self._session.send(
                    self._prepared(url, netloc, headers, auth),
                    stream=stream,
                    timeout=self._timeout,
                    verify=verify,
                    proxies=proxies,
                    allow_redirects=True,
                )
        except requests.exceptions.SSLError as exc:
            raise NetworkError(
                f"TLS error for {redact_url(url)}: {self._cause(exc)}",
                hint="point --cert (or pip's 'cert' setting) at the CA bundle that signs this index",
            ) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Transient(self._cause(exc)) from None
        except requests.RequestException as exc:
            raise NetworkError(f"cannot fetch {redact_url(url)}: {self._cause(exc)}") from None
        self._count(len(response.history))
        if response.status_code in _RETRY_STATUS:
            retry_after = _parse_retry_after(response.headers.get("Retry-After"))
            response.close()
            raise _Transient(f"HTTP {response.status_code}", retry_after)
        return response

    def _prepared(
        self, url: str, netloc: str, headers: Mapping[str, str] | None, auth: tuple[str, str] | None
    ) -> requests.PreparedRequest:
        """``url`` as the session would prepare it (its headers, these headers, this auth): a copy of a request
        prepared once per host and header set, given the new URL. Merging the session's settings into every
        request cost more than the rest of a small request together (a download makes hundreds)."""
        key = (netloc, url.partition(":")[0], tuple(sorted((headers or {}).items())), auth)
        template = self._templates.get(key)
        if template is None:
            template = self._session.prepare_request(
                requests.Request("GET", url, headers=dict(headers or {}), auth=auth)
            )
            self._templates[key] = template
        prepared = template.copy()
        prepared.prepare_url(url, None)
        return prepared

    def _environment_for(self, url: str, netloc: str) -> tuple[dict[str, str], tuple[str, str] | None]:
        """The proxies and ~/.netrc credentials requests would find for ``url``'s host ``netloc`` (computed once
        per host)."""
        with self._lock:
            cached = self._env_cache.get(netloc)
        if cached is None:
            if self._trust_env:
                proxies = dict(requests.utils.get_environ_proxies(url))
                auth = requests.utils.get_netrc_auth(url)
                cached = (proxies, (auth[0], auth[1]) if auth else None)
            else:
                cached = ({}, None)
            with self._lock:
                self._env_cache[netloc] = cached
        return cached

    def _retrying(self, url: str, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` until it succeeds, retrying :class:`_Transient` failures with backoff."""
        for number in itertools.count():
            try:
                return attempt()
            except _Transient as exc:
                if number >= self.config.retries:
                    tries = f"{number + 1} attempt{'s' if number else ''}"
                    raise NetworkError(f"cannot fetch {redact_url(url)}: {exc.cause} ({tries})") from None
                delay = self._backoff * 2**number
                if exc.retry_after is not None:
                    delay = max(delay, exc.retry_after)
                self._sleep(min(delay, self._max_wait))
        raise AssertionError("unreachable")

    def _http_error(self, url: str, response: requests.Response) -> NetworkError:
        status = response.status_code
        hint = None
        if status in (401, 403):
            hint = "the index needs credentials: put them in ~/.netrc or in the index URL"
        return NetworkError(
            f"cannot fetch {redact_url(url)}: HTTP {status} {response.reason or ''}".rstrip(), hint=hint
        )

    def _fetch_page(self, url: str, accept: str) -> tuple[str, str, bytes] | None:
        """GET a page with retries: ``(final_url, content_type, body)``, or None on 404/410."""

        def attempt() -> tuple[str, str, bytes] | None:
            with self._get(url, headers={"Accept": accept}, stream=True) as response:
                if response.status_code in (404, 410):
                    return None
                if response.status_code != 200:
                    raise self._http_error(url, response)
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > MAX_PAGE_BYTES:
                    raise NetworkError(f"{redact_url(url)}: index page of {declared} bytes is over the limit")
                chunks: list[bytes] = []
                size = 0
                try:
                    # Read in pieces with a bound: a hostile or broken index must not exhaust memory.
                    for chunk in response.iter_content(_CHUNK):
                        size += len(chunk)
                        if size > MAX_PAGE_BYTES:
                            raise NetworkError(f"{redact_url(url)}: index page is over {MAX_PAGE_BYTES} bytes")
                        chunks.append(chunk)
                except _BODY_ERRORS as exc:
                    raise _Transient(self._cause(exc)) from None
                return response.url, response.headers.get("Content-Type", ""), b"".join(chunks)

        return self._retrying(url, attempt)

    # -- project pages -----------------------------------------------------------------------------------------

    def project_files(self, name: NormalizedName) -> tuple[RemoteFile, ...]:
        """Every file the indexes and find-links list for ``name``, in configuration order.

        Files with the same URL are listed once. Cached per name; a 404 from an index means "no files there".
        Raises NetworkError (with the redacted URL) when a page cannot be fetched or parsed.
        """
        name = canonicalize_name(name)
        return self._once(self._pages, name, lambda: self._collect(name))

    def prefetch(self, names: Iterable[NormalizedName]) -> None:
        """Fetch the project pages of ``names`` in parallel, so later :meth:`project_files` calls are instant.

        Errors are kept for the later call to raise; this method itself only waits.
        """
        todo = sorted({canonicalize_name(n) for n in names})
        if not todo:
            return
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="wheelhouse-index")
            executor = self._executor
        futures = [executor.submit(self.project_files, n) for n in todo]
        for future in futures:
            future.exception()

    def _collect(self, name: NormalizedName) -> tuple[RemoteFile, ...]:
        found: list[RemoteFile] = []
        for index_url in self._index_urls:
            found += self._index_page(index_url, name)
        for location in self._find_links:
            for remote in self._once(self._links, location, functools.partial(self._find_links_files, location)):
                try:
                    if parse_dist_filename(remote.filename)[0] == name:
                        found.append(remote)
                except InvalidDistFilename:
                    continue  # find-links list every project's files; one we cannot name is not ours
        seen: set[str] = set()
        unique = []
        for remote in found:
            if remote.url not in seen:
                seen.add(remote.url)
                unique.append(remote)
        return tuple(unique)

    def _index_page(self, index_url: str, name: NormalizedName) -> list[RemoteFile]:
        url = f"{index_url.rstrip('/')}/{name}/"
        if _is_file_url(url):
            return self._local_index_page(url, index_url)
        page = self._fetch_page(url, _PAGE_ACCEPT)
        if page is None:
            return []
        final_url, content_type, body = page
        return self._parse_page(body, content_type, final_url, index_url)

    def _parse_page(self, body: bytes, content_type: str, page_url: str, index_url: str) -> list[RemoteFile]:
        media = content_type.split(";")[0].strip().lower()
        # Trust the declared type; sniff only when the server declares neither JSON nor HTML (static hosts).
        is_json = media in (_JSON_TYPE, "application/json") or ("html" not in media and body.lstrip()[:1] == b"{")
        try:
            if is_json:
                return _parse_json_page(body, page_url, index_url, self._warn)
            return _parse_html_page(_decode_page(body, content_type, page_url), page_url, index_url)
        except ValueError as exc:
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            kind = "JSON" if is_json else "HTML"
            raise NetworkError(f"{redact_url(page_url)}: invalid {kind} index page: {first_line}") from None

    def _local_index_page(self, url: str, index_url: str) -> list[RemoteFile]:
        """A project page of a static index on disk: ``<dir>/<project>/index.html``, or the bare directory."""
        directory = _file_url_path(url)
        page = directory / "index.html"
        if page.is_file():
            return _parse_html_page(page.read_text(encoding="utf-8", errors="replace"), page.as_uri(), index_url)
        if directory.is_dir():
            return self._directory_files(directory, index_url)
        return []

    def _find_links_files(self, location: str) -> tuple[RemoteFile, ...]:
        """Every file a find-links location lists: a directory's files, or the links of an HTML page."""
        if "://" in location and not _is_file_url(location):
            page = self._fetch_page(location, "text/html")
            if page is None:
                raise NetworkError(f"find-links page {redact_url(location)} does not exist (HTTP 404)")
            final_url, content_type, body = page
            return tuple(self._parse_page(body, content_type or "text/html", final_url, location))
        path = _file_url_path(location) if _is_file_url(location) else Path(location).expanduser()
        if path.is_dir():
            return tuple(self._directory_files(path, location))
        if path.is_file() and path.suffix.lower() in (".html", ".htm"):
            text = path.read_text(encoding="utf-8", errors="replace")
            return tuple(_parse_html_page(text, path.resolve().as_uri(), location))
        if path.is_file():
            return (self._local_file(path, location),)
        self._warn(f"find-links location {location!r} does not exist; ignored")
        return ()

    def _directory_files(self, directory: Path, origin: str) -> list[RemoteFile]:
        return [
            self._local_file(p, origin)
            for p in sorted(directory.iterdir())
            if p.is_file() and p.name.endswith(_DIST_SUFFIXES)
        ]

    @staticmethod
    def _local_file(path: Path, origin: str) -> RemoteFile:
        resolved = path.resolve()
        return RemoteFile(filename=path.name, url=resolved.as_uri(), size=resolved.stat().st_size, index_url=origin)

    # -- metadata ----------------------------------------------------------------------------------------------

    def metadata(self, f: RemoteFile) -> bytes:
        """The core metadata file (``METADATA``) of ``f``, fetched as cheaply as the index allows.

        In order: the PEP 658/714 ``.metadata`` file when the index offers one (its sha256 verified when
        published); else, for a wheel, HTTP range requests for the zip's end record, central directory and
        the METADATA member only; else, when the server ignores ranges, the whole file (spooled to disk, its
        sha256 verified). Cached per URL. Raises MetadataError, HashMismatchError or NetworkError.
        """
        return self._once(self._metadata, f.url, lambda: self._load_metadata(f))

    def _load_metadata(self, f: RemoteFile) -> bytes:
        if f.core_metadata and not _is_file_url(f.url):
            data = self._core_metadata(f)
            if data is not None:
                return data
        if not f.filename.endswith(".whl"):
            raise MetadataError(
                f"{f.filename}: the index offers no core metadata for this source distribution",
                hint="source distributions need a build to reveal their metadata",
            )
        if _is_file_url(f.url):
            with _file_url_path(f.url).open("rb") as fh:
                return self._zip_metadata(fh, f.filename, f.url)
        return self._metadata_by_range(f)

    def _core_metadata(self, f: RemoteFile) -> bytes | None:
        url = f.url + ".metadata"

        def attempt() -> bytes | None:
            with self._get(url, stream=True) as response:
                if response.status_code in (404, 410):
                    return None  # advertised but absent: fall back to the wheel itself
                if response.status_code != 200:
                    raise self._http_error(url, response)
                data = bytearray()
                try:
                    for chunk in response.iter_content(_CHUNK):
                        data += chunk
                        if len(data) > MAX_METADATA_BYTES:
                            raise MetadataError(f"{redact_url(url)} is over the {MAX_METADATA_BYTES} byte limit")
                except _BODY_ERRORS as exc:
                    raise _Transient(self._cause(exc)) from None
                return bytes(data)

        data = self._retrying(url, attempt)
        if data is not None and f.metadata_sha256:
            actual = hashlib.sha256(data).hexdigest()
            if actual != f.metadata_sha256:
                raise HashMismatchError(redact_url(url), f.metadata_sha256, actual)
        return data

    def _zip_metadata(self, fileobj: IO[bytes], filename: str, url: str) -> bytes:
        try:
            return _read_wheel_metadata(fileobj, filename, prefetch=None)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
            raise MetadataError(f"{filename} from {redact_url(url)} is not a readable wheel: {exc}") from None

    def _metadata_by_range(self, f: RemoteFile) -> bytes:
        # Spooled: small wheels stay in memory, a 500 MB one goes to a temporary file, never all in RAM.
        with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as spool:

            def tail_attempt() -> tuple[int, int, bytes] | str | None:
                """The tail as (start, total, bytes); or the sha256 of the whole file if the server sent it
                all (it ignores Range); or None when a plain GET is needed."""
                headers = {"Accept-Encoding": "identity", "Range": f"bytes=-{_TAIL_BYTES}"}
                with self._get(f.url, headers=headers, stream=True) as response:
                    match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", response.headers.get("Content-Range", ""))
                    if response.status_code == 200 and not _encoded(response):
                        spool.seek(0)
                        spool.truncate()
                        return self._copy_body(f.url, response, spool, None)
                    if response.status_code != 206 or match is None or _encoded(response):
                        if response.status_code >= 400 and response.status_code != 416:
                            raise self._http_error(f.url, response)
                        return None
                    body = self._read_all(response)
                start, total = int(match.group(1)), int(match.group(3))
                if len(body) != total - start:
                    raise _Transient(f"range body has {len(body)} bytes, expected {total - start}")
                return start, total, body

            tail = self._retrying(f.url, tail_attempt)
            if isinstance(tail, tuple):
                start, total, body = tail
                lazy = _RangeFile(lambda a, b: self._fetch_range(f.url, a, b), total)
                lazy.add(start, body)
                try:
                    return _read_wheel_metadata(lazy, f.filename, prefetch=lazy.prefetch)
                except (_RangeUnsupported, zipfile.BadZipFile, EOFError):
                    # A server that stops honouring ranges, or bytes that do not add up: read it all.
                    tail = None
            if tail is None:

                def whole_attempt() -> str:
                    spool.seek(0)
                    spool.truncate()
                    return self._stream_to(f.url, spool, None)

                tail = self._retrying(f.url, whole_attempt)
            if f.sha256 and tail != f.sha256:
                raise HashMismatchError(redact_url(f.url), f.sha256, tail)
            spool.seek(0)
            return self._zip_metadata(spool, f.filename, f.url)

    def _read_all(self, response: requests.Response) -> bytes:
        try:
            return bytes(response.raw.read(decode_content=False))
        except _BODY_ERRORS as exc:
            raise _Transient(self._cause(exc)) from None

    def _fetch_range(self, url: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of ``url``; raises :class:`_RangeUnsupported` if the server won't."""

        def attempt() -> bytes:
            headers = {"Accept-Encoding": "identity", "Range": f"bytes={start}-{end - 1}"}
            with self._get(url, headers=headers, stream=True) as response:
                content_range = response.headers.get("Content-Range", "")
                if response.status_code != 206 or not content_range.startswith(f"bytes {start}-") or _encoded(response):
                    raise _RangeUnsupported(f"HTTP {response.status_code} to a range request")
                body = self._read_all(response)
            if len(body) != end - start:
                raise _Transient(f"range body has {len(body)} bytes, expected {end - start}")
            return body

        return self._retrying(url, attempt)

    # -- downloads ---------------------------------------------------------------------------------------------

    def _stream_to(self, url: str, out: IO[bytes], on_progress: Callable[[int], None] | None) -> str:
        """One attempt: stream ``url``'s raw bytes into ``out``; return their sha256."""
        # Identity encoding and raw reads: the hash covers the bytes as published, and a server that labels a
        # .tar.gz "Content-Encoding: gzip" must not get it silently decompressed.
        with self._get(url, headers={"Accept-Encoding": "identity"}, stream=True) as response:
            if response.status_code != 200:
                raise self._http_error(url, response)
            return self._copy_body(url, response, out, on_progress)

    def _copy_body(
        self, url: str, response: requests.Response, out: IO[bytes], on_progress: Callable[[int], None] | None
    ) -> str:
        """Copy a streamed 200 response's raw body into ``out`` in chunks; return its sha256."""
        length_header = response.headers.get("Content-Length", "")
        expected = int(length_header) if length_header.isdigit() else None
        digest = hashlib.sha256()
        received = 0
        # read1 returns what has arrived (up to 1 MiB) instead of waiting for a full buffer: progress stays live
        # on a slow link, and a server that trickles a few bytes at a time can be detected (below).
        read1 = getattr(response.raw, "read1", None)
        chunks: Iterator[bytes] | None = None if read1 else response.raw.stream(_CHUNK, decode_content=False)
        window = self._timeout[1]
        window_start, window_bytes = time.monotonic(), 0
        while True:
            try:
                chunk = read1(_READ1_SIZE, decode_content=False) if read1 else next(chunks, b"")  # type: ignore[arg-type]
            except _BODY_ERRORS as exc:
                cause = self._cause(exc)
                raise _Transient(f"connection lost after {received} bytes: {cause}") from None
            if not chunk:
                break
            window_bytes += len(chunk)
            now = time.monotonic()
            if now - window_start >= window:
                # The read timeout only measures silence: a peer sending a byte every few seconds never trips it.
                if window_bytes < _MIN_BYTES_PER_SECOND * window:
                    raise _Transient(
                        f"too slow: {window_bytes} bytes in {now - window_start:.0f} s after {received} bytes"
                    )
                window_start, window_bytes = now, 0
            try:
                out.write(chunk)
            except OSError as exc:
                raise StoreError(f"cannot write the download of {redact_url(url)}: {exc}") from None
            digest.update(chunk)
            received += len(chunk)
            if on_progress is not None:
                on_progress(received)
        # urllib3 already refuses a body shorter than Content-Length; this also covers a server that closes
        # early on a connection urllib3 does not check (and one that sends more than it announced).
        if expected is not None and received != expected:
            raise _Transient(f"truncated body: received {received} of {expected} bytes")
        return digest.hexdigest()

    def download(self, f: RemoteFile, dest: Path, *, on_progress: Callable[[int], None] | None = None) -> str:
        """Stream ``f`` to ``dest`` in chunks, verify it, and return its sha256 (hex).

        ``dest`` is a temporary path the caller chose (and later moves into place); it is overwritten, and
        deleted again on any failure. ``on_progress`` receives the bytes received so far in the current
        attempt (it restarts from zero when a retry starts over). Raises HashMismatchError when the index
        published a sha256 and the bytes differ, NetworkError (redacted URL and cause) after the retries,
        including for bodies shorter than their Content-Length.
        """
        try:
            if _is_file_url(f.url):
                actual = self._copy_local(f, dest, on_progress)
            else:

                def attempt() -> str:
                    with dest.open("wb") as out:
                        return self._stream_to(f.url, out, on_progress)

                actual = self._retrying(f.url, attempt)
            if f.sha256 and actual != f.sha256:
                raise HashMismatchError(redact_url(f.url), f.sha256, actual)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        return actual

    @staticmethod
    def _copy_local(f: RemoteFile, dest: Path, on_progress: Callable[[int], None] | None) -> str:
        source = _file_url_path(f.url)
        digest = hashlib.sha256()
        copied = 0
        try:
            with source.open("rb") as src, dest.open("wb") as out:
                while chunk := src.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    copied += len(chunk)
                    if on_progress is not None:
                        on_progress(copied)
        except OSError as exc:
            raise NetworkError(f"cannot copy {source}: {exc.strerror or exc}") from None
        return digest.hexdigest()


def _encoded(response: requests.Response) -> bool:
    return response.headers.get("Content-Encoding", "identity").lower() not in ("identity", "")


# -- the finder ------------------------------------------------------------------------------------------------


_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"[A-Za-z]:")
# Formats an index lists that wheelhouse never uses (eggs, Windows installers, old archives): not hostile, so
# skipped without a warning; PyPI lists thousands of them for long-lived projects.
_OTHER_FORMATS = (".egg", ".exe", ".msi", ".rpm", ".dmg", ".deb", ".tar.bz2", ".tgz", ".tar.xz", ".tar", ".tbz")
_LINUX_OR_ANY = ("manylinux", "musllinux", "linux", "any")


def _never_linux(filename: str) -> bool:
    """A wheel built only for Windows or macOS, which no (Linux) target can use: skip it without parsing."""
    platforms = filename[: -len(".whl")].rsplit("-", 1)[-1]
    # Substring tests first: a large project's page lists tens of thousands of wheels.
    if "linux" in platforms or platforms == "any":
        return False
    if "any" not in platforms:
        return True
    return not any(p.startswith(_LINUX_OR_ANY) for p in platforms.split("."))


def _irrelevant(filename: str) -> bool:
    """A file no Linux target can use and that names no path: skipped as early as possible, without a word."""
    if "/" in filename or "\\" in filename or ".." in filename:
        return False  # possibly hostile: IndexFinder refuses it out loud
    if filename.endswith(".whl"):
        return _never_linux(filename)
    return filename.endswith(_OTHER_FORMATS)


def _unsafe_filename(filename: str) -> str | None:
    """Why ``filename`` must not be used as a file name in the wheels folder, or None when it is safe."""
    if not filename:
        return "empty file name"
    if "/" in filename or "\\" in filename:
        return "contains a path separator"
    if ".." in filename:
        return "contains '..'"
    if _CONTROL_CHARS.search(filename):
        return "contains a control character"
    if _DRIVE.match(filename):
        return "looks like an absolute path"
    if not filename.endswith(_DIST_SUFFIXES):
        return "not a .whl, .tar.gz or .zip file"
    return None


class IndexFinder:
    """A :class:`wheelhouse.dists.Finder` over an :class:`IndexClient`.

    File names that could escape the wheels folder or that belong to another project are skipped and
    described in ``warnings`` (each message once), so a hostile index cannot plant files.
    """

    def __init__(self, client: IndexClient, targets: Sequence[Target] = ()) -> None:
        self.client = client
        self.warnings: list[str] = []
        # With targets, wheels none of them can use are set aside unparsed: a long-lived project's page lists
        # thousands (every Python, architecture and libc), and only an explanation of a gap needs them.
        self.targets = tuple(targets)
        self._usable_tags: dict[frozenset[Tag], bool] = {}
        self._aside: dict[NormalizedName, list[RemoteFile]] = {}
        self._all: dict[NormalizedName, tuple[DistFile, ...]] = {}
        self._lock = threading.Lock()
        self._remote: dict[str, RemoteFile] = {}
        self._files: dict[NormalizedName, tuple[DistFile, ...]] = {}
        # Parsed once: the prefetcher and every target's resolver ask for the same files' metadata.
        self._metadata: dict[str, CoreMetadata] = {}

    def _warn(self, message: str) -> None:
        with self._lock:
            if message not in self.warnings:
                self.warnings.append(message)

    def files(self, name: NormalizedName) -> Sequence[DistFile]:
        """Every usable wheel and sdist the indexes list for ``name`` (yanked ones included, marked).

        Computed once per project: every target and the speculative prefetcher share the answer. Wheels for
        Windows or macOS only, and formats wheelhouse never installs (eggs, installers), are left out unparsed.
        """
        name = canonicalize_name(name)
        with self._lock:
            cached = self._files.get(name)
        if cached is not None:
            return cached
        found = []
        remotes: dict[str, RemoteFile] = {}
        aside: list[RemoteFile] = []
        for remote in self.client.project_files(name):
            filename = remote.filename
            if _irrelevant(filename):
                continue
            if self.targets and filename.endswith(".whl") and not self._some_target_can_use(filename):
                aside.append(remote)
                continue
            dist = self._dist_file(name, remote)
            if dist is None:
                continue
            found.append(dist)
            remotes[remote.url] = remote
        result = tuple(found)
        with self._lock:
            self._remote.update(remotes)
            self._files[name] = result
            self._aside[name] = aside
        return result

    def all_files(self, name: NormalizedName) -> Sequence[DistFile]:
        """:meth:`files`, plus the wheels no target can use (parsed now): what explains a gap."""
        name = canonicalize_name(name)
        usable = self.files(name)
        with self._lock:
            cached = self._all.get(name)
            aside = self._aside.get(name, [])
        if cached is not None:
            return cached
        extra = [d for d in (self._dist_file(name, r) for r in aside) if d is not None]
        result = (*usable, *extra)
        with self._lock:
            self._remote.update((r.url, r) for r in aside)
            self._all[name] = result
        return result

    def _some_target_can_use(self, filename: str) -> bool:
        tags = wheel_tags(filename)
        if tags is None:
            return True  # a malformed name: the full parse says what is wrong with it
        usable = self._usable_tags.get(tags)
        if usable is None:
            usable = self._usable_tags[tags] = any(t.best_tag(tags) is not None for t in self.targets)
        return usable

    def _dist_file(self, name: NormalizedName, remote: RemoteFile) -> DistFile | None:
        """``remote`` as a DistFile of project ``name``; None (with a warning) when its file name is unusable."""
        filename = remote.filename
        reason = _unsafe_filename(filename)
        if reason is not None:
            self._warn(f"skipped {filename!r} listed by {redact_url(remote.index_url or remote.url)}: {reason}")
            return None
        try:
            project, version, kind, tags, build = parse_dist_filename(filename)
        except InvalidDistFilename as exc:
            self._warn(f"skipped {filename!r} listed by {redact_url(remote.index_url or remote.url)}: {exc}")
            return None
        if project != name:
            where = redact_url(remote.index_url or remote.url)
            self._warn(f"skipped {filename!r} listed by {where} for {name}: it belongs to {project}")
            return None
        return DistFile(
            filename=remote.filename,
            name=project,
            version=version,
            kind=kind,
            tags=tags,
            location=remote.url,
            local=False,
            build=build,
            requires_python=remote.requires_python,
            yanked=remote.yanked,
            sha256=remote.sha256,
            size=remote.size,
        )

    def remote_file(self, dist: DistFile) -> RemoteFile:
        """The index entry behind ``dist`` (for downloading it); ``dist`` must come from :meth:`files`."""
        with self._lock:
            remote = self._remote.get(dist.location)
        if remote is None:
            raise KeyError(f"{dist.filename} was not listed by this finder")
        return remote

    def metadata(self, dist: DistFile) -> CoreMetadata:
        """The core metadata of the wheel ``dist``; checks that it names the same project and version.

        Source distributions are refused with :class:`MetadataError`: their metadata needs a build.
        """
        if dist.kind == "sdist":
            raise MetadataError(
                f"{dist.filename} is a source distribution; its metadata cannot be read from the index",
                hint="source distributions need a build to reveal their metadata",
            )
        with self._lock:
            cached = self._metadata.get(dist.location)
        if cached is not None:
            return cached
        remote = self.remote_file(dist)
        data = self.client.metadata(remote)
        source = f"METADATA of {dist.filename}"
        try:
            meta = parse_core_metadata(data, source=source)
            same_version = Version(meta.version) == dist.version
        except (ValueError, InvalidVersion) as exc:
            raise MetadataError(f"{source} from {redact_url(dist.location)} is unusable: {exc}") from None
        if canonicalize_name(meta.name) != dist.name or not same_version:
            raise MetadataError(
                f"{source} from {redact_url(dist.location)} says {meta.name} {meta.version}, "
                f"not {dist.name} {dist.version}"
            )
        with self._lock:
            self._metadata[dist.location] = meta
        return meta
