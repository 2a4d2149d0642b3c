"""Which certificates an HTTPS index is verified against: a CA bundle the user names, else the system trust store.

Contract: :func:`ca_bundle` is the bundle the user named, highest first: ``--cert`` (or pip's ``cert`` setting,
``PIP_CERT``, already in the index settings), then ``REQUESTS_CA_BUNDLE``, then ``CURL_CA_BUNDLE``. A named
bundle wins alone: only its certificates are trusted, as with pip's ``--cert``. Without one,
:func:`system_context` is a ``truststore`` context: the operating system's own verifier and store (Keychain on
macOS, CryptoAPI on Windows, OpenSSL's default paths on Linux, which honour ``SSL_CERT_FILE``), plus certifi's
bundle for a machine with an empty store, as pip does since 24.2. A corporate CA installed on the machine (or a
TLS-inspecting proxy's) is then trusted as a browser trusts it. :class:`TrustAdapter` hands that context to
urllib3 for direct and proxied connections alike.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3 import PoolManager

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
    """An HTTP adapter whose HTTPS connections verify through ``ssl_context`` (None: requests' default)."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, **kwargs: Any) -> None:
        self._ssl_context = ssl_context
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        if self._ssl_context is not None:
            pool_kwargs.setdefault("ssl_context", self._ssl_context)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        # A proxy manager replaces the pool manager: without the context here a proxied index would be verified
        # against certifi only (pypa/pip#13288), and the TLS hop to an HTTPS proxy too (pypa/pip#13465).
        if self._ssl_context is not None:
            proxy_kwargs.setdefault("ssl_context", self._ssl_context)
            proxy_kwargs.setdefault("proxy_ssl_context", self._ssl_context)
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        return manager
