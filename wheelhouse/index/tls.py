"""Which certificates an HTTPS index is verified against: a CA bundle the user names, else the system trust store.

Contract: :func:`ca_bundle` is the bundle the user named, highest first: ``--cert`` (or pip's ``cert`` setting,
``PIP_CERT``, already in the index settings), then ``REQUESTS_CA_BUNDLE``, then ``CURL_CA_BUNDLE``. A named
bundle wins alone: only its certificates are trusted, as with pip's ``--cert``, loaded once per process
(:func:`bundle_context`). Without one, :func:`system_context` trusts what ``truststore`` trusts: the operating
system's own verifier and store (Keychain on macOS, CryptoAPI on Windows; on Linux OpenSSL's default paths, which
honour ``SSL_CERT_FILE``, loaded once instead of at every connection as truststore does), plus certifi's bundle
for a machine with an empty store, as pip does since 24.2. A corporate CA installed on the machine (or a
TLS-inspecting proxy's) is then trusted as a browser trusts it. :class:`TrustAdapter` hands that context to
urllib3 for direct and proxied connections alike, made at the first HTTPS request.
"""

from __future__ import annotations

import functools
import os
import re
import ssl
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from requests import PreparedRequest
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.connectionpool import ConnectionPool

from wheelhouse import _log

__all__ = ["TrustAdapter", "bundle_context", "ca_bundle", "system_context"]


@functools.lru_cache(maxsize=4)
def bundle_context(bundle: str) -> ssl.SSLContext | None:
    """A context that trusts exactly the named CA bundle (a file, or a directory of hashed certificates), built
    once per process; None when it cannot be loaded, so that requests reports the problem as it always does.

    Without it, urllib3 builds a new context and parses the whole bundle for every new connection, which costs
    more CPU than the handshake itself; a download opens dozens of connections at once.
    """
    path = Path(bundle)
    try:
        if path.is_dir():
            return ssl.create_default_context(capath=bundle)
        if path.is_file():
            return ssl.create_default_context(cafile=bundle)
    except (OSError, ssl.SSLError):
        pass
    return None


def ca_bundle(cert: str | None, environ: Mapping[str, str]) -> str | None:
    """The CA bundle the user named (``cert`` from the index settings, then requests' variables), or None.

    ``environ`` is empty when the session must not read the environment (requests' ``trust_env``). Whether the
    file exists is found at the first HTTPS request (an index on http:// never needs it).
    """
    return cert or environ.get("REQUESTS_CA_BUNDLE") or environ.get("CURL_CA_BUNDLE") or None


# Where truststore looks on Linux when OpenSSL's default paths hold no certificates (its own list, after
# tiran/certifi-system-store).
_CA_FILE_CANDIDATES = (
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/pki/tls/cert.pem",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/ca-bundle.pem",
)
_HASHED_CERT = re.compile(r"[0-9a-fA-F]{8}\.[0-9]\Z")


@functools.lru_cache(maxsize=1)
def system_context() -> ssl.SSLContext | None:
    """The system trust store as an SSL context (built once per process), or None where truststore cannot run.

    None leaves verification to requests' default (certifi's bundle), said once with ``-v``.
    """
    import certifi

    if sys.platform.startswith("linux"):
        # On Linux truststore is OpenSSL verifying against its default paths; but it loads those paths into the
        # context again for every connection, holding a lock through the handshake (a whole CA bundle parsed per
        # connection, and the handshakes of parallel connections one after another). The same trust, loaded once:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        _load_linux_store(context)
    else:
        try:
            import truststore
        except ImportError:  # pragma: no cover - a dependency; absent only in a broken installation
            _log.info("truststore is not installed: HTTPS is verified against certifi's bundle only")
            return None
        context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # A container without ca-certificates has an empty system store; certifi keeps the public indexes working.
    context.load_verify_locations(certifi.where())
    return context


def _load_linux_store(context: ssl.SSLContext) -> None:
    """Load what truststore loads on Linux: OpenSSL's default verify paths (``SSL_CERT_FILE``, ``SSL_CERT_DIR``)
    when they hold certificates, else the first bundle found where distributions keep it."""
    defaults = ssl.get_default_verify_paths()
    capath = defaults.capath
    if defaults.cafile or (capath and os.path.isdir(capath) and any(_HASHED_CERT.match(n) for n in os.listdir(capath))):
        context.set_default_verify_paths()
        return
    for cafile in _CA_FILE_CANDIDATES:
        if os.path.isfile(cafile):
            context.load_verify_locations(cafile=cafile)
            return


class TrustAdapter(HTTPAdapter):
    """An HTTP adapter whose HTTPS connections verify through the context ``trust()`` makes (None: requests'
    default). The context is made at the first HTTPS request, so a run that reaches only http:// or local
    indexes does not pay for loading the trust store. ``bundle`` names the CA bundle that context was made from,
    when it was (see :func:`bundle_context`): requests then names it for every connection, and the context
    already holds it."""

    def __init__(
        self, *, trust: Callable[[], ssl.SSLContext | None] | None = None, bundle: str | None = None, **kwargs: Any
    ) -> None:
        self._trust = trust
        self._bundle = bundle
        self._context: ssl.SSLContext | None = None
        self._made = trust is None
        self._lock = threading.Lock()
        super().__init__(**kwargs)

    def _ssl_context(self) -> ssl.SSLContext | None:
        with self._lock:
            if not self._made and self._trust is not None:
                self._context = self._trust()
                self._made = True
                if self._context is not None:
                    self.poolmanager.connection_pool_kw.setdefault("ssl_context", self._context)
            return self._context

    def get_connection_with_tls_context(
        self,
        request: PreparedRequest,
        verify: bool | str | None,
        proxies: Mapping[str, str] | None = None,
        cert: tuple[str, str] | str | None = None,
    ) -> ConnectionPool:
        if (request.url or "").lower().startswith("https:"):
            self._ssl_context()
        pool: ConnectionPool = super().get_connection_with_tls_context(request, verify, proxies, cert)
        return pool

    def cert_verify(self, conn: Any, url: str, verify: bool | str, cert: tuple[str, str] | str | None) -> None:
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
        if self._context is None:
            return
        if verify is True or (self._bundle is not None and verify == self._bundle):
            # requests names certifi's bundle (or the user's) for every new connection, and urllib3 would load it
            # into the shared context each time: the context already holds it (and the system store).
            conn.ca_certs = None
            conn.ca_cert_dir = None

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        # A proxy manager replaces the pool manager: without the context here a proxied index would be verified
        # against certifi only (pypa/pip#13288), and the TLS hop to an HTTPS proxy too (pypa/pip#13465).
        context = self._ssl_context()
        if context is not None:
            proxy_kwargs.setdefault("ssl_context", context)
            proxy_kwargs.setdefault("proxy_ssl_context", context)
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        return manager
