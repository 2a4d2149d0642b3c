"""Index pages: what a PEP 503 HTML page, a PEP 691 JSON page or a flat find-links page lists, as
:class:`RemoteFile` entries.

Contract: pure parsing, no network. Every URL comes out absolute, without its fragment; hashes lower-case; a
page of an unknown major API version (PEP 629) is refused with :class:`~wheelhouse.errors.NetworkError`; a
malformed entry is skipped with a warning on the diagnostics channel, a malformed page raises ``ValueError``
for the caller to name. Files no Linux target can use are dropped before an entry is built
(:func:`wheelhouse.index.filenames.irrelevant`).
"""

from __future__ import annotations

import functools
import html.parser
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, cast
from urllib.parse import unquote, urljoin, urlsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from wheelhouse import _log
from wheelhouse._text import redact_url, shorten
from wheelhouse.errors import NetworkError
from wheelhouse.index.filenames import irrelevant, names_a_path, suspect_names

if TYPE_CHECKING:
    from wheelhouse.index._typed_page import JsonFile

__all__ = [
    "PAGE_ACCEPT",
    "Brief",
    "Listing",
    "RemoteFile",
    "add_page",
    "decode_page",
    "file_url_path",
    "is_file_url",
    "parse_html_page",
    "parse_json_page",
    "parse_page",
]

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"
# PEP 691: prefer JSON, accept the versioned HTML, and take legacy text/html as a last resort.
PAGE_ACCEPT = f"{JSON_TYPE}, {HTML_TYPE};q=0.2, text/html;q=0.01"


def is_file_url(url: str) -> bool:
    """Whether ``url`` names a local file (``file:``)."""
    return url.lower().startswith("file:")


def file_url_path(url: str) -> Path:
    """The local path of a ``file:`` URL."""
    # urllib.request brings http.client, email and ssl with it: a run that reads no file: URL (a covered
    # download among them) need not load them.
    from urllib.request import url2pathname

    return Path(url2pathname(urlsplit(url).path))


@functools.lru_cache(maxsize=1024)
def _valid_specifier(text: str) -> bool:
    # A large page repeats a handful of values over thousands of files: each is parsed once.
    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        return False
    return True


def _requires_python(value: object, filename: str, page_url: str) -> str | None:
    """A listed file's Requires-Python, stripped; None when absent, or when it is not a valid specifier.

    An invalid value says nothing about the file, so the file is kept and judged by its own METADATA, as pip
    does; the value is named once per process, however many files carry it.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if _valid_specifier(text):
        return text
    _log.warning(
        f"{redact_url(page_url)}: ignoring the invalid Requires-Python {text!r} listed for {filename} "
        "(and any other file that lists it); the files are kept",
        once=f"index-requires-python:{text}",
    )
    return None


def _unreachable(url: str, filename: str, page_url: str, index_url: str) -> bool:
    """Whether a listed file's URL is passed over: a scheme other than http(s) and ``file:``, or a local file
    listed by a page that is not itself local. A remote index must never make wheelhouse read this machine's
    files (a device that never ends, a file it has no business reading), so that case is said."""
    scheme = url.partition(":")[0].lower()
    if scheme in ("http", "https") or (scheme == "file" and is_file_url(page_url)):
        return False
    if scheme == "file":
        _log.warning(
            f"skipped {filename!r} listed by {redact_url(index_url or page_url)}: "
            f"a remote index may not point at a local file ({shorten(url)})"
        )
    return True


def _strip_fragment(url: str) -> tuple[str, str]:
    base, _, fragment = url.partition("#")
    return base, fragment


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


def parse_html_page(text: str, page_url: str, index_url: str) -> list[RemoteFile]:
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
        # pip names the file after the last path segment of the URL, not the anchor text; so do we.
        filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        if _unreachable(url, filename, page_url, index_url):
            continue
        hash_name, _, digest = fragment.partition("=")
        requires_python = _requires_python(anchor.get("data-requires-python"), filename, page_url)
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


def _worth_keeping(filenames: Sequence[str]) -> tuple[list[bool], bool]:
    """Per name, whether :func:`irrelevant` keeps it, decided once per distinct last dash-separated part (a
    wheel's platform tag), which decides it for a name free of path characters: a page repeats a few dozen
    platform tags over thousands of files. A name with path characters is kept, for the finder to refuse out
    loud. Also whether any name may be unsafe (:func:`~wheelhouse.index.filenames.suspect_names`)."""
    # In C, name by name: a page lists tens of thousands of names.
    tails = list(map(itemgetter(2), map(str.rpartition, filenames, itertools.repeat("-"))))
    kept_tail = {tail: not irrelevant(tail) for tail in set(tails)}
    keep = list(map(kept_tail.__getitem__, tails))
    suspect = suspect_names(filenames)
    # A name with path characters is rare: looked for name by name only when the page holds one.
    if suspect:
        for i, filename in enumerate(filenames):
            if names_a_path(filename):
                keep[i] = True
    return keep, suspect


def _absolute(raw_url: str, page_url: str) -> str:
    """A listed URL made absolute against its page, without its fragment. Most indexes link absolute URLs
    without a fragment, taken as they are: urljoin for each of a large project's files cost seconds."""
    if raw_url.startswith(("https://", "http://")) and "#" not in raw_url:
        return raw_url
    return _strip_fragment(urljoin(page_url, raw_url))[0]


# What a distribution file needs of a listed entry, without the entry being built (Listing.brief): its URL,
# sha256, Requires-Python, yank reason, size and index URL. A plain tuple: a page gives tens of thousands.
Brief = tuple[str, str | None, str | None, str | None, int | None, str]


class Listing:
    """The files the pages of one project list, in page order, each turned into a :class:`RemoteFile` only when
    asked for.

    A long-lived project's JSON page lists ten thousand files, and a run can use a few hundred of them (one
    Python, one platform): building every entry costs more than decoding the page. The entries of a JSON page are
    kept as decoded, behind their file names, until :meth:`file` or :meth:`files` needs them. Thread-safe: two
    threads building the same entry build equal objects.
    """

    def __init__(self) -> None:
        self.filenames: list[str] = []
        # Per entry: whether :func:`irrelevant` has passed it already (every entry of a JSON page has).
        self.relevant: list[bool] = []
        self._urls: set[str] = set()
        # Whether a listed name may be unsafe (see suspect_names): only then is every name checked one by one.
        self.suspect = False
        # Per entry: the built RemoteFile, or what builds it (the decoded JSON item, its URL, page and index URLs).
        self._entries: list[RemoteFile | tuple[object, str, str, str]] = []
        self._all: tuple[RemoteFile, ...] | None = None

    def __len__(self) -> int:
        return len(self.filenames)

    def add(self, remote: RemoteFile) -> None:
        """Add a built entry, unless an entry of the same URL is listed already (indexes and find-links overlap)."""
        if remote.url not in self._urls:
            self.suspect = self.suspect or suspect_names((remote.filename,))
            self._urls.add(remote.url)
            self.filenames.append(remote.filename)
            self.relevant.append(False)
            self._entries.append(remote)

    def add_json(self, data: bytes, page_url: str, index_url: str) -> None:
        """Add the files of a PEP 691 JSON project page (see :func:`parse_json_page`); entries are built later."""
        # msgspec is imported with the first JSON page: a run that reads none (a covered download) never pays for it.
        from wheelhouse.index import _typed_page

        page = _typed_page.decode(data)
        if page is not None:
            _check_api_version(page.meta.api_version if page.meta is not None else None, page_url)
            self._add_items(page.files, page_url, index_url, typed=True)
            return
        try:
            doc = json.loads(data)
        except RecursionError:
            raise ValueError("the page nests deeper than any index page") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
            raise ValueError("not a PEP 691 project page (no 'files' list)")
        meta = doc.get("meta")
        _check_api_version(meta.get("api-version") if isinstance(meta, dict) else None, page_url)
        self._add_items(doc["files"], page_url, index_url)

    def _add_items(self, items: Sequence[object], page_url: str, index_url: str, *, typed: bool = False) -> None:
        """Add a JSON page's entries: typed ones (:mod:`wheelhouse.index._typed_page`), else decoded objects."""
        if typed:
            files = cast("Sequence[JsonFile]", items)
            self._add_entries([f.filename for f in files], [f.url for f in files], files, page_url, index_url)
            return
        # Decoded objects: those without a file name are set apart here, so that the loop every entry of a large
        # page goes through checks only what a typed entry may lack.
        filenames: list[str] = []
        raw_urls: list[object] = []
        kept: list[object] = []
        for item in items:
            filename = item.get("filename") if isinstance(item, dict) else None
            if isinstance(filename, str):
                filenames.append(filename)
                raw_urls.append(cast("dict[str, object]", item).get("url"))
                kept.append(item)
        self._add_entries(filenames, raw_urls, kept, page_url, index_url, malformed=len(kept) < len(items))

    def _add_entries(
        self,
        filenames: Sequence[str],
        raw_urls: Sequence[object],
        items: Sequence[object],
        page_url: str,
        index_url: str,
        *,
        malformed: bool = False,
    ) -> None:
        """Add each listed file (its name, its URL as listed, and the entry behind them), unless irrelevant
        (:func:`_worth_keeping`) or listed already; an entry without a usable name or URL is said once per page."""
        said = False
        if malformed:
            _log.warning(f"{redact_url(page_url)}: skipping a malformed file entry")
            said = True
        keep, suspect = _worth_keeping(filenames)
        self.suspect = self.suspect or suspect
        kept_names = list(itertools.compress(filenames, keep))
        kept_urls = list(itertools.compress(raw_urls, keep))
        kept_items = list(itertools.compress(items, keep))
        if self._add_plain(kept_names, kept_urls, kept_items, page_url, index_url):
            return
        names, entries, urls, relevant = self.filenames, self._entries, self._urls, self.relevant
        for filename, raw_url, item in zip(kept_names, kept_urls, kept_items, strict=True):
            if not filename or not isinstance(raw_url, str):
                if not said:
                    _log.warning(f"{redact_url(page_url)}: skipping a malformed file entry")
                said = True
                continue
            url = _absolute(raw_url, page_url)
            if url in urls or _unreachable(url, filename, page_url, index_url):
                continue
            urls.add(url)
            names.append(filename)
            relevant.append(True)
            entries.append((item, url, page_url, index_url))

    def _add_plain(
        self, filenames: list[str], raw_urls: list[object], items: list[object], page_url: str, index_url: str
    ) -> bool:
        """Add the entries of a page as most indexes list them (every name given, every URL absolute, without a
        fragment, listed once and not listed before) in a few passes over all of them, and say True; else add
        nothing and say False, for the entry-by-entry reading below."""
        if not all(filenames) or not all(map(isinstance, raw_urls, itertools.repeat(str))):
            return False
        urls = cast("list[str]", raw_urls)
        if not all(map(str.startswith, urls, itertools.repeat(("https://", "http://")))) or "#" in "".join(urls):
            return False
        fresh = set(urls)
        if len(fresh) != len(urls) or not self._urls.isdisjoint(fresh):
            return False
        self._urls |= fresh
        self.filenames.extend(filenames)
        self.relevant.extend(itertools.repeat(True, len(filenames)))
        self._entries.extend(zip(items, urls, itertools.repeat(page_url), itertools.repeat(index_url)))
        return True

    def file(self, i: int) -> RemoteFile:
        """The ``i``-th entry (``filenames[i]``), built now if it was not yet."""
        entry = self._entries[i]
        if isinstance(entry, RemoteFile):
            return entry
        remote = _json_remote_file(self.filenames[i], *entry)
        self._entries[i] = remote
        return remote

    def brief(self, i: int) -> Brief:
        """What a distribution file needs of the ``i``-th entry, without building it: its URL, sha256,
        Requires-Python, yank reason, size and index URL, as :meth:`file` would give them."""
        entry = self._entries[i]
        if isinstance(entry, RemoteFile):
            return entry.url, entry.sha256, entry.requires_python, entry.yanked, entry.size, entry.index_url
        item, url, page_url, index_url = entry
        sha256, requires_python, yanked, size = _json_fields(self.filenames[i], item, page_url)
        return url, sha256, requires_python, yanked, size, index_url

    def yanked(self, i: int) -> bool:
        """Whether the ``i``-th entry is yanked, as :meth:`file` would say, without building it."""
        entry = self._entries[i]
        if isinstance(entry, RemoteFile):
            return entry.yanked is not None
        return _yanked_value(entry[0]) is not False

    def files(self) -> tuple[RemoteFile, ...]:
        """Every entry, built."""
        if self._all is None:
            self._all = tuple(self.file(i) for i in range(len(self.filenames)))
        return self._all


def _yanked_value(item: object) -> object:
    """An entry's ``yanked`` value as the page gives it (False when absent)."""
    return item.get("yanked", False) if isinstance(item, dict) else cast("JsonFile", item).yanked


def _json_fields(filename: str, item: object, page_url: str) -> tuple[str | None, str | None, str | None, int | None]:
    """An entry's sha256, Requires-Python, yank reason and size, checked as :class:`RemoteFile` holds them."""
    if not isinstance(item, dict):
        typed = cast("JsonFile", item)
        hashes: object = typed.hashes
        requires_python: object = typed.requires_python
        size: object = typed.size
    else:
        hashes = item.get("hashes")
        requires_python = item.get("requires-python")
        size = item.get("size")
    yanked_value = _yanked_value(item)
    sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
    return (
        sha256.lower() if isinstance(sha256, str) and sha256 else None,
        _requires_python(requires_python, filename, page_url),
        # PEP 592 / 691: ``true`` is a yank without a reason, a string is the reason.
        None if yanked_value is False else (yanked_value if isinstance(yanked_value, str) else ""),
        size if isinstance(size, int) and not isinstance(size, bool) else None,
    )


def _json_remote_file(filename: str, item: object, url: str, page_url: str, index_url: str) -> RemoteFile:
    sha256, requires_python, yanked, size = _json_fields(filename, item, page_url)
    if not isinstance(item, dict):
        metadata_value = cast("JsonFile", item).metadata_value()
    else:
        metadata_value = item.get("core-metadata" if "core-metadata" in item else "dist-info-metadata")
    core, metadata_sha256 = _metadata_flag(metadata_value)
    return RemoteFile(
        filename=filename,
        url=url,
        sha256=sha256,
        requires_python=requires_python,
        yanked=yanked,
        core_metadata=core,
        metadata_sha256=metadata_sha256,
        size=size,
        index_url=index_url,
    )


def parse_json_page(data: bytes, page_url: str, index_url: str) -> list[RemoteFile]:
    """The files of a PEP 691 JSON project page; relative URLs resolve against the page URL."""
    listing = Listing()
    listing.add_json(data, page_url, index_url)
    return list(listing.files())


def decode_page(data: bytes, content_type: str, url: str) -> str:
    charset = "utf-8"
    match = re.search(r"charset=([\w-]+)", content_type, re.IGNORECASE)
    if match:
        charset = match.group(1)
    try:
        return data.decode(charset)
    except (UnicodeDecodeError, LookupError):
        raise NetworkError(f"{redact_url(url)}: the index page is not valid {charset} text") from None


def parse_page(body: bytes, content_type: str, page_url: str, index_url: str) -> list[RemoteFile]:
    """The files of a fetched page, JSON or HTML as its ``Content-Type`` says.

    Raises :class:`~wheelhouse.errors.NetworkError` naming the (redacted) page when it cannot be parsed.
    """
    listing = Listing()
    add_page(listing, body, content_type, page_url, index_url)
    return list(listing.files())


def add_page(listing: Listing, body: bytes, content_type: str, page_url: str, index_url: str) -> None:
    """Add the files of a fetched page to ``listing`` (:func:`parse_page`; a JSON page's entries built later)."""
    media = content_type.split(";")[0].strip().lower()
    # Trust the declared type; sniff only when the server declares neither JSON nor HTML (static hosts).
    is_json = media in (JSON_TYPE, "application/json") or ("html" not in media and body.lstrip()[:1] == b"{")
    try:
        if is_json:
            listing.add_json(body, page_url, index_url)
        else:
            for remote in parse_html_page(decode_page(body, content_type, page_url), page_url, index_url):
                listing.add(remote)
    except ValueError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        kind = "JSON" if is_json else "HTML"
        raise NetworkError(f"{redact_url(page_url)}: invalid {kind} index page: {first_line}") from None
