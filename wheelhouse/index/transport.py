"""HTTP transport for the index client: one ``requests.Session``, retries with back-off and ``Retry-After``,
bounded page reads and verified streaming of bodies.

Contract: :meth:`Transport.get` makes one attempt and sorts its failure: :class:`Transient` for what a retry may
fix (a connection error, 429 and 5xx answers, a body cut short or trickling below a minimum rate),
:class:`~wheelhouse.errors.NetworkError` for what it cannot (TLS, a malformed URL). :meth:`Transport.retrying`
turns the last :class:`Transient` into a ``NetworkError`` naming the redacted URL and the number of attempts.
Every message is redacted: the URL by :func:`~wheelhouse._text.redact_url`, the cause by the known secrets.
HTTPS is verified as :mod:`wheelhouse.index.tls` says (a named CA bundle, else the system trust store); a 401 from
a host whose URL and ~/.netrc gave no password is answered once with the keyring's credentials
(:mod:`wheelhouse.index.keyring`), as pip does. Nothing here knows about projects, pages or wheels.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import itertools
import os
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from email.utils import parsedate_to_datetime
from typing import IO, TypeVar

import requests
import urllib3.exceptions

from wheelhouse import __version__
from wheelhouse._text import redact_url
from wheelhouse.errors import NetworkError, StoreError
from wheelhouse.index.addresses import HostAddresses, pool_classes
from wheelhouse.index.auth import Credentials, netloc
from wheelhouse.index.config import IndexConfig
from wheelhouse.index.keyring import KeyringLookup, keyring_lookup, service_names
from wheelhouse.index.once import OnceCache
from wheelhouse.index.tls import TrustAdapter, bundle_context, ca_bundle, system_context

__all__ = ["BODY_ERRORS", "CHUNK", "MAX_PAGE_BYTES", "USER_AGENT", "Transient", "Transport", "encoded"]

USER_AGENT = f"wheelhouse/{__version__}"
CHUNK = 64 * 1024
# The largest project pages of the public index are tens of MB (thousands of files); far above that is an index
# that is broken or hostile.
MAX_PAGE_BYTES = 256 * 1024 * 1024
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
# The most one read returns. A TLS connection hands over at most 16 KiB per read anyway; asking for more made
# every read allocate (and shrink, and free) a buffer large enough for malloc to map it from the kernel, which
# cost more system time than the transfer itself.
_READ1_SIZE = 64 * 1024
# What a streamed body gathers before it is written and hashed: each write and each hash update of a TLS
# record's worth gives up the interpreter lock, and taking it back is a wait behind every other thread.
_BATCH_SIZE = 1024 * 1024
# Each thread's batch buffer, allocated once: a buffer of this size allocated per body would be mapped from the
# kernel and faulted in again for every file.
_batches = threading.local()
# Below this rate, sustained over a whole timeout period, a transfer counts as stalled and is retried.
_MIN_BYTES_PER_SECOND = 1024
_CERT_HINT = "point --cert (or pip's 'cert' setting) at the CA bundle that signs this index"

T = TypeVar("T")


class Transient(Exception):
    """A failure worth retrying: a connection error, a 5xx/429 status, a body cut short."""

    def __init__(self, cause: str, retry_after: float | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.retry_after = retry_after


# Errors raised while reading a streamed body: urllib3's own (IncompleteRead, ProtocolError, ReadTimeoutError),
# requests' wrappers and the socket's.
BODY_ERRORS = (
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


def _certificate_refused(exc: BaseException) -> bool:
    """Whether a TLS failure is the server's certificate being refused (which no retry fixes), as opposed to a
    connection the network or a busy server broke during the handshake."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (ssl.SSLCertVerificationError, ssl.CertificateError)):
            return True
        if isinstance(current, ssl.SSLError) and current.reason == "CERTIFICATE_VERIFY_FAILED":
            return True
        linked = (getattr(current, "reason", None), current.__cause__, current.__context__, *current.args)
        stack.extend(e for e in linked if isinstance(e, BaseException))
    return False


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
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):  # a year past any calendar overflows the parser
        return None


def content_length(response: requests.Response) -> int | None:
    """The declared length of a body, or None when absent or not a plain decimal number (``str.isdigit`` also
    takes ``"²"``, which ``int`` refuses; the HTTP stack ignores such a value too)."""
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isascii() and value.isdigit() else None


# An http(s) URL whose authority is a plain ASCII host (a name, an IPv4 address or a bracketed IPv6 one) and a
# port, ended by the path or query, of printable ASCII without a quote or an "@": no parser reads another host.
_PLAIN_URL = re.compile(r"https?://(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::\d+)?(?:[/?][!#-?A-~]*)?\Z")


def _as_sent(url: str) -> str:
    """``url`` as the HTTP stack will send it, whose host is the one it connects to.

    urllib.parse and the HTTP stack may read a URL's host differently (the stack ends the authority at a
    backslash too: ``http://other\\@index/`` is ``other`` to it and ``index`` to urlsplit); credentials and
    proxies must be chosen for the host the request actually goes to.
    """
    if _PLAIN_URL.match(url):
        # Nearly every URL an index lists: both read the same host, and the stack sends it as it is.
        return url
    request = requests.PreparedRequest()
    try:
        request.prepare_url(url, None)
    except (requests.RequestException, ValueError):
        return url  # sending it fails the same way, before any connection
    return request.url or url


class _Pace:
    """Cuts off a body that trickles: the read timeout only measures silence, and a peer sending a byte every
    few seconds never trips it. Below :data:`_MIN_BYTES_PER_SECOND` over a whole timeout period is a stall."""

    def __init__(self, window: float) -> None:
        self._window = window
        self._start = time.monotonic()
        self._bytes = 0

    def add(self, size: int, received: int) -> None:
        """``size`` more bytes arrived, ``received`` in all; raises :class:`Transient` when too few came."""
        self._bytes += size
        now = time.monotonic()
        if now - self._start >= self._window:
            if self._bytes < _MIN_BYTES_PER_SECOND * self._window:
                raise Transient(f"too slow: {self._bytes} bytes in {now - self._start:.0f} s after {received} bytes")
            self._start, self._bytes = now, 0


def _longer_than_listed(url: str, limit: int) -> NetworkError:
    return NetworkError(f"{redact_url(url)} is longer than the {limit} bytes its index lists")


def encoded(response: requests.Response) -> bool:
    """Whether the server applied a content encoding (then the body is not the file's bytes as published)."""
    return response.headers.get("Content-Encoding", "identity").lower() not in ("identity", "")


class Transport:
    """GET requests through one session, with the user's certificate, credentials, proxies and ~/.netrc.

    Thread-safe. ``sleep`` is injectable so tests need not wait out the back-off.
    """

    def __init__(
        self,
        config: IndexConfig,
        credentials: Credentials,
        *,
        jobs: int,
        session: requests.Session | None,
        backoff: float,
        max_wait: float,
        sleep: Callable[[float], None],
    ) -> None:
        self._retries = config.retries
        self._credentials = credentials
        # Requests look credentials up by the host they are sent to (_as_sent), spelled as the HTTP stack does.
        credentials.rekey(lambda host: netloc(_as_sent(f"http://{host}/")))
        self._backoff = backoff
        self._max_wait = max_wait
        self._sleep = sleep
        self._owns_session = session is None
        # Per request rather than on the session: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override
        # session.verify (psf/requests#3829), and a --cert the user gave must win over the environment.
        self._verify = ca_bundle(config.cert, os.environ if session is None or session.trust_env else {})
        self._session = session if session is not None else self._new_session(jobs, self._verify)
        # The keyring command is looked for at the first 401 only: a run that needs no credentials never looks.
        self._keyring_provider = config.keyring_provider
        self._keyring: OnceCache[str, KeyringLookup | None] = OnceCache()
        self._keyring_answers: OnceCache[str, tuple[str, str] | None] = OnceCache()
        # requests reads proxies, ~/.netrc and CA bundles from the environment on *every* request (walking
        # os.environ and re-reading ~/.netrc). Read them once per host instead, with the same rules
        # (requests.utils), and let the session stop looking.
        self._trust_env = bool(self._session.trust_env)
        self._session.trust_env = False
        self._env_cache: dict[str, tuple[dict[str, str], tuple[str, str] | None]] = {}
        self._templates: dict[
            tuple[str, str, tuple[tuple[str, str], ...], tuple[str, str] | None], requests.PreparedRequest
        ] = {}
        self.timeout = (config.timeout, config.timeout)
        self._lock = threading.Lock()
        self._requests = 0

    @staticmethod
    def _new_session(jobs: int, bundle: str | None) -> requests.Session:
        trust: Callable[[], ssl.SSLContext | None] = (
            system_context if bundle is None else functools.partial(bundle_context, bundle)
        )
        session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
        # A pool slot per worker thread that may reach one host at once (a download's speculative workers, twice
        # its jobs, and its transfer workers share the session), so parallel fetches reuse connections instead of
        # opening a new one (a TLS handshake) and discarding it after one request; connections are opened only
        # when needed. Retries are ours (they must also cover bodies cut short, which urllib3's Retry does not see).
        adapter = TrustAdapter(
            trust=trust,
            bundle=bundle,
            pool_connections=max(10, jobs),
            pool_maxsize=max(32, 4 * jobs),
            max_retries=0,
        )
        # Each host's name is looked up once per transport, not at each new connection (see addresses.py).
        adapter.poolmanager.pool_classes_by_scheme = pool_classes(HostAddresses())
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far (every attempt and redirect counts)."""
        with self._lock:
            return self._requests

    def count_requests(self, n: int = 1) -> None:
        """Count ``n`` requests: this transport's, or those another process sent with the same settings."""
        with self._lock:
            self._requests += n

    def cause(self, exc: BaseException) -> str:
        """A short, redacted description of a transport failure."""
        return self._credentials.redact(_describe(exc))[:300]

    def close(self) -> None:
        """Close the session when this transport created it."""
        if self._owns_session:
            self._session.close()

    def get(self, url: str, *, headers: Mapping[str, str] | None = None, stream: bool = False) -> requests.Response:
        """One GET attempt; raises :class:`Transient` for what a retry may fix, NetworkError otherwise."""
        self.count_requests()
        url = _as_sent(url)
        host = netloc(url)
        proxies, netrc_auth = self._environment_for(url, host)
        auth = self._credentials.for_host(host) or netrc_auth
        verify: bool | str = self._verify if self._verify is not None else True
        try:
            if self._session.cookies:
                # A server set cookies: let requests merge the jar into every request from now on.
                response = self._session.get(
                    url,
                    headers=dict(headers or {}),
                    stream=stream,
                    timeout=self.timeout,
                    verify=verify,
                    auth=auth,
                    proxies=proxies,
                )
            else:
                response = self._session.send(
                    self._prepared(url, host, headers, auth),
                    stream=stream,
                    timeout=self.timeout,
                    verify=verify,
                    proxies=proxies,
                    allow_redirects=True,
                )
        except requests.exceptions.SSLError as exc:
            if _certificate_refused(exc):
                raise NetworkError(
                    f"TLS error for {redact_url(url)}: {self.cause(exc)}",
                    hint=_CERT_HINT,
                ) from None
            # A handshake cut short or an alert from a busy front end: another connection usually succeeds.
            raise Transient(f"TLS error: {self.cause(exc)}") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Transient(self.cause(exc)) from None
        except requests.RequestException as exc:
            raise NetworkError(f"cannot fetch {redact_url(url)}: {self.cause(exc)}") from None
        except OSError as exc:  # requests' own check that the named CA bundle exists
            raise NetworkError(f"cannot fetch {redact_url(url)}: {self.cause(exc)}", hint=_CERT_HINT) from None
        self.count_requests(len(response.history))
        if response.status_code == 401 and self._keyring_pair(url, host, auth, netrc_auth) is not None:
            response.close()
            return self.get(url, headers=headers, stream=stream)
        if response.status_code in _RETRY_STATUS:
            retry_after = _parse_retry_after(response.headers.get("Retry-After"))
            response.close()
            raise Transient(f"HTTP {response.status_code}", retry_after)
        return response

    def _keyring_pair(
        self, url: str, host: str, sent: tuple[str, str] | None, netrc_auth: tuple[str, str] | None
    ) -> tuple[str, str] | None:
        """The keyring's credentials for ``host`` when they are worth a second attempt, else None.

        Asked once per host (by the first thread to need them), only when neither the URL nor ~/.netrc gave a
        password (a user name alone is passed on to the keyring), and only if they differ from those just sent.
        """
        if self._keyring_provider == "disabled" or netrc_auth is not None or (sent is not None and sent[1]):
            return None
        keyring = self._keyring.get("", lambda: keyring_lookup(self._keyring_provider))
        if keyring is None:
            return None
        username = sent[0] if sent is not None else None
        # Matched as sent, named to the keyring as the user wrote them.
        spelled = {_as_sent(u): u for u in self._credentials.urls}
        services = tuple(spelled.get(s, s) for s in service_names(url.split("?", 1)[0], list(spelled)))
        pair = self._keyring_answers.get(host, lambda: keyring.credentials(services, username))
        if pair is None or pair == sent:
            return None
        self._credentials.keep(host, pair)
        return pair

    def _prepared(
        self, url: str, host: str, headers: Mapping[str, str] | None, auth: tuple[str, str] | None
    ) -> requests.PreparedRequest:
        """``url`` as the session would prepare it (its headers, these headers, this auth): a copy of a request
        prepared once per host and header set, given the new URL. Merging the session's settings into every
        request cost more than the rest of a small request together (a download makes hundreds)."""
        key = (host, url.partition(":")[0], tuple(sorted((headers or {}).items())), auth)
        template = self._templates.get(key)
        if template is None:
            template = self._session.prepare_request(
                requests.Request("GET", url, headers=dict(headers or {}), auth=auth)
            )
            self._templates[key] = template
        prepared = template.copy()
        prepared.prepare_url(url, None)
        return prepared

    def _environment_for(self, url: str, host: str) -> tuple[dict[str, str], tuple[str, str] | None]:
        """The proxies and ~/.netrc credentials requests would find for ``url``'s host ``host`` (computed once
        per host)."""
        with self._lock:
            cached = self._env_cache.get(host)
        if cached is None:
            if self._trust_env:
                proxies = dict(requests.utils.get_environ_proxies(url))
                auth = requests.utils.get_netrc_auth(url)
                cached = (proxies, (auth[0], auth[1]) if auth else None)
            else:
                cached = ({}, None)
            with self._lock:
                self._env_cache[host] = cached
        return cached

    def retrying(self, url: str, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` until it succeeds, retrying :class:`Transient` failures with backoff.

        The wait is ``backoff * 2**attempt`` seconds, at least what ``Retry-After`` asks, at most ``max_wait``.
        """
        for number in itertools.count():
            try:
                return attempt()
            except Transient as exc:
                if number >= self._retries:
                    tries = f"{number + 1} attempt{'s' if number else ''}"
                    raise NetworkError(f"cannot fetch {redact_url(url)}: {exc.cause} ({tries})") from None
                delay = self._backoff * 2 ** min(number, 32)  # past that, max_wait rules anyway
                if exc.retry_after is not None:
                    delay = max(delay, exc.retry_after)
                self._sleep(min(delay, self._max_wait))
        raise AssertionError("unreachable")

    def http_error(self, url: str, response: requests.Response) -> NetworkError:
        """The error for an answer that is neither success nor worth a retry."""
        status = response.status_code
        hint = None
        if status in (401, 403):
            hint = "the index needs credentials: put them in ~/.netrc, in the index URL, or in a keyring (keyring set)"
        # The reason phrase is the server's own text: it may echo the credentials it was sent.
        reason = self._credentials.redact(str(response.reason or ""))[:100]
        return NetworkError(f"cannot fetch {redact_url(url)}: HTTP {status} {reason}".rstrip(), hint=hint)

    def fetch_page(self, url: str, accept: str) -> tuple[str, str, bytes] | None:
        """GET a page with retries: ``(final_url, content_type, body)``, or None on 404/410."""

        def attempt() -> tuple[str, str, bytes] | None:
            with self.get(url, headers={"Accept": accept}, stream=True) as response:
                if response.status_code in (404, 410):
                    return None
                if response.status_code != 200:
                    raise self.http_error(url, response)
                declared = content_length(response)
                if declared is not None and declared > MAX_PAGE_BYTES:
                    raise NetworkError(f"{redact_url(url)}: index page of {declared} bytes is over the limit")

                def too_large() -> NetworkError:
                    return NetworkError(f"{redact_url(url)}: index page is over {MAX_PAGE_BYTES} bytes")

                # Decoded as it arrives and bounded: a small compressed body may inflate without end.
                body = self.read_body(response, MAX_PAGE_BYTES, too_large)
                if declared is not None and not encoded(response) and len(body) != declared:
                    raise Transient(f"truncated body: received {len(body)} of {declared} bytes")
                return response.url, response.headers.get("Content-Type", ""), body

        return self.retrying(url, attempt)

    def read_body(
        self, response: requests.Response, limit: int, too_large: Callable[[], Exception], *, decode: bool = True
    ) -> bytes:
        """The body of a streamed response, read as it arrives: at most ``limit`` bytes (``too_large()`` is
        raised past them), and cut off as :class:`Transient` when it trickles (:class:`_Pace`) or breaks.

        Never one blocking read of the whole: a peer that sends a byte now and then keeps each read within the
        timeout, and one read of everything would then never end.
        """
        read1 = getattr(response.raw, "read1", None)
        pieces: Iterator[bytes] = (
            iter(functools.partial(read1, _READ1_SIZE, decode_content=decode), b"")
            if read1
            else response.raw.stream(CHUNK, decode_content=decode)
        )
        pace = _Pace(self.timeout[1])
        # Kept as the pieces arrived and joined once: a growing buffer copies a large page's bytes over and over.
        body: list[bytes] = []
        size = 0
        try:
            for piece in pieces:
                body.append(piece)
                size += len(piece)
                if size > limit:
                    raise too_large()
                pace.add(len(piece), size)
        except BODY_ERRORS as exc:
            raise Transient(self.cause(exc)) from None
        return b"".join(body)

    def stream_to(
        self, url: str, out: IO[bytes], on_progress: Callable[[int], None] | None, *, limit: int | None = None
    ) -> str:
        """One attempt: stream ``url``'s raw bytes into ``out``; return their sha256. ``limit`` is the size the
        index lists for the file, past which the body is refused (see :meth:`copy_body`)."""
        # Identity encoding and raw reads: the hash covers the bytes as published, and a server that labels a
        # .tar.gz "Content-Encoding: gzip" must not get it silently decompressed.
        with self.get(url, headers={"Accept-Encoding": "identity"}, stream=True) as response:
            if response.status_code != 200:
                raise self.http_error(url, response)
            return self.copy_body(url, response, out, on_progress, limit=limit)

    def copy_body(
        self,
        url: str,
        response: requests.Response,
        out: IO[bytes],
        on_progress: Callable[[int], None] | None,
        *,
        limit: int | None = None,
    ) -> str:
        """Copy a streamed 200 response's raw body into ``out`` in chunks; return its sha256.

        A body longer than ``limit`` (the size the index lists) is refused as it arrives: bytes past it cannot
        be the file the index hashed, and a body without end would otherwise fill the disk.
        """
        expected = content_length(response)
        if limit is not None and expected is not None and expected > limit:
            raise _longer_than_listed(url, limit)
        digest = hashlib.sha256()
        received = 0
        # read1 returns what has arrived (up to 64 KiB) instead of waiting for a full buffer: progress stays live
        # on a slow link, and a server that trickles a few bytes at a time can be detected (below).
        read1 = getattr(response.raw, "read1", None)
        chunks: Iterator[bytes] | None = None if read1 else response.raw.stream(CHUNK, decode_content=False)
        pace = _Pace(self.timeout[1])
        batch: memoryview | None = getattr(_batches, "buffer", None)
        if batch is None:
            batch = _batches.buffer = memoryview(bytearray(_BATCH_SIZE))
        pending = 0

        def write(data: memoryview | bytes) -> None:
            try:
                out.write(data)
            except OSError as exc:
                raise StoreError(f"cannot write the download of {redact_url(url)}: {exc}") from None
            digest.update(data)

        while True:
            try:
                chunk = read1(_READ1_SIZE, decode_content=False) if read1 else next(chunks, b"")  # type: ignore[arg-type]
            except BODY_ERRORS as exc:
                cause = self.cause(exc)
                raise Transient(f"connection lost after {received} bytes: {cause}") from None
            if not chunk:
                break
            pace.add(len(chunk), received)
            size = len(chunk)  # at most _READ1_SIZE (or CHUNK) bytes: always fits an empty batch
            if pending + size > _BATCH_SIZE:
                write(batch[:pending])
                pending = 0
            batch[pending : pending + size] = chunk
            pending += size
            received += size
            if limit is not None and received > limit:
                raise _longer_than_listed(url, limit)
            if on_progress is not None:
                on_progress(received)
        if pending:
            write(batch[:pending])
        # urllib3 already refuses a body shorter than Content-Length; this also covers a server that closes
        # early on a connection urllib3 does not check (and one that sends more than it announced).
        if expected is not None and received != expected:
            raise Transient(f"truncated body: received {received} of {expected} bytes")
        return digest.hexdigest()
