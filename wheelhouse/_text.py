"""Text that reaches a person: URLs with their secrets redacted, untrusted strings made safe for a terminal,
sizes and counts in one spelling.

Everything printed that came from a file or the network (a wheel's METADATA, a bundle's manifest, an index page,
a requirements line) passes through :func:`safe` first, and every URL through :func:`redact_url`, so no command
can echo a password or let a file move the cursor.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# C0 and C1 control characters, DEL, and the bidirectional overrides that reorder what a terminal shows.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# The userinfo of a URL inside a longer message: after "://", up to the last "@" before the host ends ("/", "?",
# "#" or whitespace), as urlsplit() splits a netloc, so a password holding "@" is hidden whole. Anchored on "://",
# not on the scheme: a search restarting at every word boundary of "a.a.a..." rescans it to the end each time.
_URL_USERINFO = re.compile(r"://([^/?#\s]*)@")
# The values of a URL's query (an index or a signed download link may carry its token there: ``?token=...``,
# ``?X-Amz-Signature=...``), and what ends a query inside a message: messages quote URLs and put them in brackets.
_QUERY_VALUE = re.compile(r"=[^&;]*")
_QUERY_END = re.compile(r"[#'\")\]>]")


def redact_url(url: str) -> str:
    """``url`` with its password (or a lone token user name) and the values of its query replaced by ``****``.

    ``https://user:secret@host/simple`` becomes ``https://user:****@host/simple``; ``https://token@host/``
    becomes ``https://****@host/``, because a user name on its own is usually an access token; and
    ``https://host/simple/?token=abc`` becomes ``https://host/simple/?token=****``.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(re.sub(r"//[^/@]*@", "//****@", url))
    if parts.query:
        parts = parts._replace(query=_QUERY_VALUE.sub("=****", parts.query))
        url = urlunsplit(parts)
    if "@" not in parts.netloc:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    shown = f"{user}:****" if colon else "****"
    return urlunsplit(parts._replace(netloc=f"{shown}@{host}"))


def redact(text: str) -> str:
    """``text`` with the credentials of every URL in it redacted, as :func:`redact_url` does for one URL."""

    def hide(match: re.Match[str]) -> str:
        user, colon, _ = match.group(1).partition(":")
        return f"://{user}:****@" if colon else "://****@"

    return _redact_queries(_URL_USERINFO.sub(hide, text))


def _redact_queries(text: str) -> str:
    """``text`` with the query values of each URL in it redacted; word by word, so that a line of thousands of
    "://" costs one pass (a pattern searching from each of them to the end of the line cost their square)."""
    if "://" not in text or "?" not in text:
        return text
    words = re.split(r"(\s+)", text)
    for n, word in enumerate(words):
        start = word.find("://")
        query = word.find("?", start) if start >= 0 else -1
        if query >= 0:
            end = _QUERY_END.search(word, query + 1)
            stop = end.start() if end is not None else len(word)
            words[n] = word[: query + 1] + _QUERY_VALUE.sub("=****", word[query + 1 : stop]) + word[stop:]
    return "".join(words)


def safe(text: str) -> str:
    """``text`` with control characters shown as escapes (``\\x1b``), so a string from a file or the network
    cannot drive the terminal (colours, cursor moves, a cleared screen, reordered text)."""
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)


def shorten(text: str, limit: int = 120) -> str:
    """``text``, cut to ``limit`` characters with ``...`` when longer: a value from a file or the network quoted in
    a message, which must stay one readable line however long the value is."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def size(n: int) -> str:
    """Bytes in decimal units, as pip prints them: ``812 B``, ``12.3 kB``, ``1.2 MB``, ``3.4 GB``."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 file``, ``2 files``; ``nouns`` for an irregular plural (``1 entry``, ``3 entries``)."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"
