"""Which certificates an HTTPS index is verified against: a CA bundle the user names, else the system trust store.

Contract: :func:`ca_bundle` is the bundle the user named, highest first: ``--cert`` (or pip's ``cert`` setting,
``PIP_CERT``, already in the index settings), then ``REQUESTS_CA_BUNDLE``, then ``CURL_CA_BUNDLE``. A named
bundle wins alone: only its certificates are trusted, as with pip's ``--cert``. Without one,
:func:`system_context` is a ``truststore`` context: the operating system's own verifier and store (Keychain on
macOS, CryptoAPI on Windows, OpenSSL's default paths on Linux, which honour ``SSL_CERT_FILE``), plus certifi's
bundle for a machine with an empty store, as pip does since 24.2. A corporate CA installed on the machine (or a
TLS-inspecting proxy's) is then trusted as a browser trusts it. :class:`TrustAdapter` hands that context to
urllib3 for direct and proxied connections alike, made at the first HTTPS request.
"""

from __future__ import annotations

import functools
import ssl
import threading
from collections.abc import Callable, Mapping
from typing import Any

from requests import PreparedRequest
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.connectionpool import ConnectionPool

from wheelhouse import _log

__all__ = ["TrustAdapter", "ca_bundle", "system_context"]


def ca_bundle(cert: str | None, environ: Mapping[str, str]) -> str | None:
    """The CA bundle the user named (``cert`` from the index settings, then requests' variables), or None.

    ``environ`` is empty when the session must not read the environment (requests' ``trust_env``). Whether the
    file exists is found at the first HTTPS request (an index on http:// never needs it).
    """
    return cert or environ.get("REQUESTS_CA_BUNDLE") or environ.get("CURL_CA_BUNDLE") or None


@functools.lru_cache(maxsize=1)
def system_context() -> ssl.SSLContext | None:
    """The system trust store as an SSL context (built once per process), or None where truststore cannot run.

    None leaves verification to requests' default (certifi's bundle), said once with ``-v``.
    """
    try:
        import truststore
    except ImportError:  # pragma: no cover - a dependency; absent only in a broken installation
        _log.info("truststore is not installed: HTTPS is verified against certifi's bundle only")
        return None
    import certifi

    context: ssl.SSLContext = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # A container without ca-certificates has an empty system store; certifi keeps the public indexes working.
    context.load_verify_locations(certifi.where())
    return context


class TrustAdapter(HTTPAdapter):
    """An HTTP adapter whose HTTPS connections verify through the context ``trust()`` makes (None: requests'
    default). The context is made at the first HTTPS request, so a run that reaches only http:// or local
    indexes does not pay for loading the trust store."""

    def __init__(self, *, trust: Callable[[], ssl.SSLContext | None] | None = None, **kwargs: Any) -> None:
        self._trust = trust
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
        if verify is True and self._context is not None:
            # requests names certifi's bundle for every new connection, and urllib3 would load it into the shared
            # context each time: the context already holds certifi and the system store.
            conn.ca_certs = None

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        # A proxy manager replaces the pool manager: without the context here a proxied index would be verified
        # against certifi only (pypa/pip#13288), and the TLS hop to an HTTPS proxy too (pypa/pip#13465).
        context = self._ssl_context()
        if context is not None:
            proxy_kwargs.setdefault("ssl_context", context)
            proxy_kwargs.setdefault("proxy_ssl_context", context)
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        return manager
