"""The upload API that PyPI, devpi, pypiserver, Artifactory and Nexus share: one distribution file per
multipart POST (``:action=file_upload``), as twine sends it.

Contract: :class:`Uploader` sends one file at a time per call and is safe to call from several threads. A
connection that drops, a 429 or a 5xx answer is retried (``retries`` times, with exponential back-off); a
server that answers that the file already exists is not an error here (the caller compares hashes on the
server's pages, the only proof there is). Any other refusal raises :class:`UploadError` carrying the server's
reason. Credentials go to the repository's host only (explicit, in the URL, ``~/.netrc``, or the ``keyring``
command) and appear in no message: every URL is passed through
:func:`wheelhouse._text.redact_url`. Nothing here reads the folder beyond the file it sends.

The body is written by :class:`MultipartBody` rather than twine's library: twine's ``Repository`` prints its
own progress to stdout and pulls in keyring, readme rendering and its own settings layer, while the format is a
dozen form fields and a file. Streaming the file from disk with a known length keeps memory flat and gives the
progress the reporter draws.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from wheelhouse import __version__, _log
from wheelhouse._text import redact, redact_url, safe
from wheelhouse.errors import NetworkError
from wheelhouse.index.auth import echoed_forms, netloc, scrub, split_credentials
from wheelhouse.index.tls import TrustAdapter, ca_bundle, system_context
from wheelhouse.index.transport import BODY_ERRORS
from wheelhouse.share._own import open_own

__all__ = [
    "MultipartBody",
    "Repository",
    "UploadError",
    "UploadFile",
    "Uploader",
    "form_fields",
    "simple_url_for",
]

USER_AGENT = f"wheelhouse/{__version__}"
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
# Answers servers give for a file they already hold: 409 (devpi, pypiserver), 400 "File already exists" (PyPI,
# and pypiserver to clients it takes for twine).
_EXISTS_STATUS = frozenset({400, 409})
_CHUNK = 256 * 1024
# What is read of an answer's body for its reason: a server may send an endless one.
_REASON_BYTES = 2000
# What is read of a successful answer, so that the connection can serve the next upload.
_DRAIN_BYTES = 64 * 1024
# Metadata fields as the upload API names them are the header names, lower-case with underscores (and
# "classifiers", "project_urls" for the two plural ones). Multiple-use headers become repeated form fields.
_MULTIPLE = frozenset(
    {
        "classifier",
        "platform",
        "supported_platform",
        "requires_dist",
        "provides_dist",
        "obsoletes_dist",
        "requires_external",
        "project_url",
        "provides_extra",
        "dynamic",
        "license_file",
        "requires",
        "provides",
        "obsoletes",
    }
)


class UploadError(NetworkError):
    """The server refused a file, or could not be reached after the retries."""


@dataclass(frozen=True)
class UploadFile:
    """A distribution file of the folder to send: where it is, its sha256 and size, what it is."""

    filename: str
    path: Path
    sha256: str
    size: int
    project: str
    version: str
    kind: Literal["wheel", "sdist"]


@dataclass(frozen=True)
class Repository:
    """Where to upload, and as whom. ``url`` carries no credentials; ``auth`` is sent to its host only."""

    url: str
    auth: tuple[str, str] | None = None
    cert: str | None = None
    timeout: float = 60.0

    @classmethod
    def from_options(
        cls,
        url: str,
        username: str | None = None,
        password: str | None = None,
        *,
        cert: str | None = None,
        timeout: float = 60.0,
        keyring_provider: str = "auto",
    ) -> Repository:
        """The repository at ``url`` with credentials found as for downloads and as twine finds them:
        ``username``/``password`` first, then the URL's userinfo, then ``~/.netrc``, then (a user name known, its
        password not) the ``keyring`` command (:mod:`wheelhouse.index.keyring`, ``keyring_provider`` as pip's
        ``--keyring-provider``)."""
        clean, in_url = split_credentials(url)
        clean = clean if clean.endswith("/") else clean + "/"
        user = username if username is not None else (in_url[0] if in_url else None)
        secret = password if password is not None else (in_url[1] if in_url else None)
        if not secret:
            netrc = requests.utils.get_netrc_auth(clean)
            if netrc and (user is None or netrc[0] == user):
                user, secret = netrc[0], netrc[1]
        if user and not secret:
            from wheelhouse.index.keyring import keyring_lookup, service_names

            lookup = keyring_lookup(keyring_provider)
            found = lookup.credentials(service_names(clean, [clean]), user) if lookup is not None else None
            if found is not None:
                user, secret = found
        auth = (user, secret or "") if user else None
        return cls(clean, auth, cert, timeout)

    def with_credentials(self, url: str) -> str:
        """``url`` with this repository's credentials as userinfo when it is on the same host (for reading the
        server's pages through the index client, which takes them out again and sends them to that host)."""
        if self.auth is None or netloc(url) != netloc(self.url):
            return url
        parts = urlsplit(url)
        user, password = (quote(part, safe="") for part in self.auth)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


# -- the form ------------------------------------------------------------------------------------------------


def form_fields(item: UploadFile) -> list[tuple[str, str]]:
    """The form fields twine sends for ``item``: its core metadata (the long description included, for the
    server's web pages), its kind and Python tag, and its digests."""
    fields: list[tuple[str, str]] = [(":action", "file_upload"), ("protocol_version", "1")]
    raw = _core_metadata(item)
    metadata = BytesParser(policy=compat32).parsebytes(raw) if raw else None
    seen: set[str] = set()
    if metadata is not None:
        for header, value in metadata.items():
            key = header.lower().replace("-", "_")
            if key in ("name", "version", "metadata_version"):
                continue  # set once below: the project and version as the file name has them
            key = {"classifier": "classifiers", "project_url": "project_urls"}.get(key, key)
            if key in seen and key not in _MULTIPLE and key not in ("classifiers", "project_urls"):
                continue  # a single-use field given twice: the server would read the first anyway
            seen.add(key)
            fields.append((key, str(value)))
        body = metadata.get_payload()
        if "description" not in seen and isinstance(body, str) and body.strip():
            fields.append(("description", body))
    version = metadata.get("Metadata-Version", "2.1") if metadata is not None else "2.1"
    fields += [
        ("metadata_version", str(version)),
        ("name", item.project),
        ("version", item.version),
        ("filetype", "bdist_wheel" if item.kind == "wheel" else "sdist"),
        ("pyversion", _python_tag(item) if item.kind == "wheel" else "source"),
        ("sha256_digest", item.sha256),
        *_other_digests(item.path).items(),
    ]
    return fields


def _python_tag(item: UploadFile) -> str:
    # name-version(-build)?-python-abi-platform.whl: the python tag is the third field from the end.
    return item.filename[: -len(".whl")].split("-")[-3]


def _other_digests(path: Path) -> dict[str, str]:
    """md5 and blake2b-256 of the file, which PyPI and some servers check besides the sha256."""
    md5 = hashlib.md5(usedforsecurity=False)
    blake = hashlib.blake2b(digest_size=32)
    with open_own(path, UploadError, "upload") as fh:
        while chunk := fh.read(_CHUNK):
            md5.update(chunk)
            blake.update(chunk)
    return {"md5_digest": md5.hexdigest(), "blake2_256_digest": blake.hexdigest()}


def _core_metadata(item: UploadFile) -> bytes | None:
    """The METADATA of a wheel, or the PKG-INFO of an sdist; None when it cannot be read (the name and version
    of the file name are then all the server gets, which every server accepts)."""
    try:
        if item.kind == "wheel":
            import zipfile

            from wheelhouse.store.metadata import read_metadata_member

            with zipfile.ZipFile(item.path) as zf:
                return read_metadata_member(zf, item.filename)
        return _sdist_pkg_info(item.path)
    except Exception as exc:  # a damaged archive: `wheelhouse check` reports it; the upload goes on without it
        _log.debug(f"{item.filename}: no metadata to send ({type(exc).__name__}: {exc})")
        return None


def _sdist_pkg_info(path: Path) -> bytes | None:
    """``<name>-<version>/PKG-INFO`` of a tar or zip sdist, bounded."""
    limit = 1024 * 1024
    if path.name.endswith(".zip"):
        import zipfile

        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                if name.count("/") == 1 and name.endswith("/PKG-INFO"):
                    with zf.open(name) as fh:
                        return fh.read(limit)
        return None
    import tarfile

    with tarfile.open(path) as tf:
        for member in tf:
            if member.isfile() and member.name.count("/") == 1 and member.name.endswith("/PKG-INFO"):
                extracted = tf.extractfile(member)
                return extracted.read(limit) if extracted is not None else None
    return None


class MultipartBody:
    """A ``multipart/form-data`` body read from disk as it is sent: the fields, then the file, then the end.

    Its length is known in advance, so requests sends a Content-Length instead of a chunked body (which not
    every server accepts for uploads); ``on_progress`` hears the bytes of the file sent so far. It is not an
    ``io`` object on purpose: requests measures those with ``tell()``, which a stream cannot answer, and would
    fall back to a chunked body.
    """

    def __init__(
        self,
        fields: Sequence[tuple[str, str]],
        item: UploadFile,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.boundary = uuid.uuid4().hex
        head = b"".join(self._field(k, v) for k, v in fields)
        head += (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="content"; filename="{_quoted(item.filename)}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self._head = head
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._item = item
        self._length = len(head) + item.size + len(self._tail)
        self._on_progress = on_progress
        self._chunks = self._generate()
        self._pending = b""

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return self._length

    def _field(self, key: str, value: str) -> bytes:
        return (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quoted(key)}"\r\n\r\n{value}\r\n'
        ).encode()

    def _generate(self) -> Generator[bytes, None, None]:
        yield self._head
        sent = 0
        with open_own(self._item.path, UploadError, "upload") as fh:
            while chunk := fh.read(_CHUNK):
                sent += len(chunk)
                if sent > self._item.size:
                    raise UploadError(f"{self._item.filename} grew while it was being sent")
                yield chunk
                if self._on_progress is not None:
                    self._on_progress(sent)
        if sent != self._item.size:
            raise UploadError(f"{self._item.filename} changed size while it was being sent")
        yield self._tail

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        self._chunks.close()

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all the rest with -1); b"" at the end."""
        out = [self._pending]
        have = len(self._pending)
        while size < 0 or have < size:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            out.append(chunk)
            have += len(chunk)
        data = b"".join(out)
        if size >= 0:
            data, self._pending = data[:size], data[size:]
        else:
            self._pending = b""
        return data


def _quoted(text: str) -> str:
    """A name for a Content-Disposition parameter: quotes and line ends cannot break out of it."""
    return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


# -- the client ----------------------------------------------------------------------------------------------


UploadStatus = Literal["uploaded", "exists"]


class Uploader:
    """Uploads files to one repository through one ``requests.Session`` (proxies, ``~/.netrc`` and
    ``REQUESTS_CA_BUNDLE`` honoured; ``cert`` wins; else the system trust store, as for downloads).

    ``on_retry`` hears each failed attempt that will be retried (the file, the attempt number, the cause).
    """

    def __init__(
        self,
        repository: Repository,
        *,
        retries: int = 3,
        backoff: float = 0.5,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[UploadFile, int, str], None] | None = None,
    ) -> None:
        self.repository = repository
        self.retries = max(0, retries)
        self.backoff = backoff
        self._owns_session = session is None
        # HTTPS is verified as for downloads (wheelhouse.index.tls): a CA bundle the user named wins alone, given
        # per request (requests would let REQUESTS_CA_BUNDLE override a session's), else the system trust store.
        self._verify: str | bool = ca_bundle(repository.cert, os.environ) or True
        if session is None:
            session = requests.Session()
            trust = None if isinstance(self._verify, str) else system_context
            # Retries are ours: a retried upload must start its body over, which urllib3's Retry cannot.
            adapter = TrustAdapter(trust=trust, pool_connections=4, pool_maxsize=32, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self._session = session
        self._session.headers["User-Agent"] = USER_AGENT
        self._sleep = sleep
        self._on_retry = on_retry
        self._secrets = echoed_forms(*repository.auth) if repository.auth else ()
        self._lock = threading.Lock()
        self.requests = 0

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Uploader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def probe(self) -> requests.Response | None:
        """One GET of the repository URL (its answer tells a devpi server apart), or None when it fails."""
        try:
            response = self._session.get(
                self.repository.url,
                auth=self.repository.auth,
                headers={"Accept": "application/json"},
                timeout=self.repository.timeout,
                verify=self._verify,
                allow_redirects=False,
                stream=True,  # only the headers are read: the body may be endless
            )
        except requests.RequestException as exc:
            _log.debug(f"probing {redact_url(self.repository.url)}: {exc}")
            return None
        finally:
            with self._lock:
                self.requests += 1
        response.close()
        return response

    def upload(self, item: UploadFile, on_progress: Callable[[int], None] | None = None) -> UploadStatus:
        """Send ``item``; "uploaded", or "exists" when the server says it already holds a file of that name.

        Raises :class:`UploadError` when the server refuses it or cannot be reached after the retries.
        """
        fields = form_fields(item)
        attempt = 0
        while True:
            try:
                return self._attempt(item, fields, on_progress, retried=attempt > 0)
            except _Retry as exc:
                if attempt >= self.retries:
                    raise UploadError(
                        f"{item.filename}: upload to {redact_url(self.repository.url)} failed after "
                        f"{attempt + 1} attempt{'s' if attempt else ''}: {exc.cause}"
                    ) from None
                attempt += 1
                if self._on_retry is not None:
                    self._on_retry(item, attempt, exc.cause)
                self._sleep(max(exc.retry_after or 0.0, self.backoff * 2 ** (attempt - 1)))

    def _attempt(
        self,
        item: UploadFile,
        fields: Sequence[tuple[str, str]],
        on_progress: Callable[[int], None] | None,
        *,
        retried: bool,
    ) -> UploadStatus:
        body = MultipartBody(fields, item, on_progress)
        with self._lock:
            self.requests += 1
        try:
            response = self._session.post(
                self.repository.url,
                data=body,
                auth=self.repository.auth,
                headers={"Content-Type": body.content_type, "Content-Length": str(len(body))},
                timeout=self.repository.timeout,
                verify=self._verify,
                allow_redirects=False,
                stream=True,  # the body is read by _reason, bounded, or not at all
            )
        except UploadError:
            raise
        except (requests.RequestException, OSError) as exc:
            raise _Retry(_cause(exc)) from None
        finally:
            body.close()
        try:
            status = response.status_code
            if 200 <= status < 300:
                # A short answer read to its end hands its connection back to the pool for the next file (one
                # closed unread would close the connection with it); a long one is cut.
                with contextlib.suppress(*BODY_ERRORS, OSError):
                    response.raw.read(_DRAIN_BYTES, decode_content=False)
                return "uploaded"
            reason = _reason(response, self._secrets)
            if status in _RETRY_STATUS:
                raise _Retry(f"HTTP {status} {reason}".strip(), _retry_after(response))
            if status in _EXISTS_STATUS and (status == 409 or "exist" in reason.lower()):
                # A retry after a connection cut may meet the copy the first attempt left: the caller's check
                # of the server's page tells whether it is this file.
                if retried:
                    _log.debug(f"{item.filename}: the server already holds it after a retried upload")
                return "exists"
            if status in (401, 403):
                raise UploadError(
                    f"{item.filename}: {redact_url(self.repository.url)} refused the upload (HTTP {status}"
                    f"{': ' + reason if reason else ''})",
                    hint="give credentials with --username/--password, TWINE_USERNAME/TWINE_PASSWORD, the URL "
                    "or ~/.netrc",
                )
            if 300 <= status < 400:
                where = scrub(redact_url(response.headers.get("Location", "")), self._secrets)
                raise UploadError(
                    f"{item.filename}: {redact_url(self.repository.url)} answered with a redirect to {where}; "
                    "uploads are not redirected",
                    hint="give the URL the server asks for with --repository-url",
                )
            raise UploadError(
                f"{item.filename}: {redact_url(self.repository.url)} refused the upload (HTTP {status}"
                f"{': ' + reason if reason else ''})"
            )
        finally:
            response.close()


class _Retry(Exception):
    def __init__(self, cause: str, retry_after: float | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.retry_after = retry_after


def _cause(exc: BaseException) -> str:
    """The innermost cause of a transport failure, one line, without secrets."""
    seen = 0
    while seen < 8:
        inner = exc.__context__ or exc.__cause__
        if inner is None:
            break
        exc = inner
        seen += 1
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)[:200]


def _reason(response: requests.Response, secrets: Sequence[str] = ()) -> str:
    """The server's one-line reason: its status text, or the first line of a short text body; what it echoes
    of the credentials it was sent (``secrets``) is hidden."""
    text = ""
    try:
        body = response.raw.read(_REASON_BYTES, decode_content=True).decode("utf-8", "replace")
    except (*BODY_ERRORS, OSError):
        body = ""
    if body and "<html" not in body.lower() and not body.lstrip().startswith("{"):
        text = body.strip().splitlines()[0] if body.strip() else ""
    if not text and body.lstrip().startswith("{"):
        import json

        try:
            data = json.loads(body)
            message = data.get("message") if isinstance(data, dict) else None
            text = str(message) if message else ""
        except (ValueError, RecursionError):
            text = ""
    return safe(scrub(redact(text or response.reason or ""), secrets))[:200]


def _retry_after(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After", "").strip()
    try:
        return min(60.0, max(0.0, float(raw))) if raw else None
    except ValueError:
        return None


def simple_url_for(repository_url: str, answer: requests.Response | None) -> str:
    """Where the server publishes the Simple API for the repository it takes uploads at.

    devpi (known by its ``X-Devpi-Server-Version`` header) serves ``<index>/+simple/``; PyPI's upload endpoint
    ``upload.pypi.org/legacy/`` publishes on ``pypi.org/simple/``; pypiserver, Artifactory and Nexus serve
    ``<repository>/simple/``.
    """
    base = repository_url if repository_url.endswith("/") else repository_url + "/"
    if answer is not None and answer.headers.get("X-Devpi-Server-Version"):
        return base + "+simple/"
    parts = urlsplit(base)
    host = parts.netloc.rpartition("@")[2].lower()
    if host.startswith("upload.") and parts.path.rstrip("/").endswith("/legacy"):
        return urlunsplit(parts._replace(netloc=parts.netloc.replace("upload.", "", 1), path="/simple/"))
    return base + "simple/"
