"""Credentials of the configured indexes: taken out of every URL, sent to their own host only, never shown.

Contract: a URL given with ``user:password@`` is stored and reported without them; the pair is sent as HTTP
basic auth to requests for that host (and no other), and :meth:`Credentials.redact` scrubs the secrets from any
text (an exception from the HTTP stack may quote a URL) before it reaches a message. A pair found later (the
keyring's, after a 401) is kept the same way, in memory only.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from urllib.parse import quote, unquote, urlsplit, urlunsplit

__all__ = ["Credentials", "echoed_forms", "netloc", "scrub", "split_credentials"]


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without its userinfo, and that userinfo as a (user, password) pair when present."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=host)), (unquote(user), unquote(password))


def netloc(url: str) -> str:
    """The host (and port) of ``url``, lower-case, without userinfo: the key credentials are kept under."""
    return urlsplit(url).netloc.rpartition("@")[2].lower()


class Credentials:
    """The basic-auth pairs found in the configured URLs, one per host."""

    def __init__(self) -> None:
        self._by_host: dict[str, tuple[str, str]] = {}
        self.urls: list[str] = []  # the URLs taken, without credentials: the keyring's service names

    def take(self, url: str) -> str:
        """``url`` without its credentials, which are remembered for its host."""
        clean, auth = split_credentials(url)
        if auth is not None:
            self._by_host[netloc(clean)] = auth
        self.urls.append(clean)
        return clean

    def rekey(self, spell: Callable[[str], str]) -> None:
        """Keep each pair under ``spell(host)`` from now on: the host as the HTTP stack spells the hosts it
        connects to (an internationalised name in IDNA), which is how requests look pairs up."""
        self._by_host = {spell(host): pair for host, pair in self._by_host.items()}

    def keep(self, host: str, pair: tuple[str, str]) -> None:
        """Send ``pair`` to ``host`` from now on (credentials found after the URLs were taken)."""
        self._by_host[host] = pair

    def for_host(self, host: str) -> tuple[str, str] | None:
        """The pair to send to ``host`` (as :func:`netloc` spells it), or None."""
        return self._by_host.get(host)

    def redact(self, text: str) -> str:
        """``text`` with every known secret replaced by ``****``, in each form a server may echo it
        (:func:`echoed_forms`)."""
        return scrub(text, [form for pair in self._by_host.values() for form in echoed_forms(*pair)])


def echoed_forms(user: str, password: str) -> tuple[str, ...]:
    """What a server could echo of the credentials ``user``/``password``: the secret as given and percent-encoded,
    and the Basic authorization value; longest first. A user name without a password counts as the secret: it is
    usually an access token, as in :func:`wheelhouse._text.redact_url`."""
    secret = password or user
    if not secret:
        return ()
    shown = {
        secret,
        quote(secret, safe=""),
        base64.b64encode(f"{user}:{password}".encode("latin-1", "replace")).decode(),
    }
    return tuple(sorted(shown, key=len, reverse=True))


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each of ``secrets`` replaced by ``****`` (longest first, so no part of one is left)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "****")
    return text
