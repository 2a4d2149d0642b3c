"""Each host's addresses looked up once per transport, however many connections a run opens to it.

Contract: :class:`HostAddresses` answers ``getaddrinfo`` for a (host, port) once and remembers it; threads that
ask while the first lookup runs wait for it instead of asking the resolver themselves. :func:`pool_classes`
returns urllib3 connection pools whose new connections use those addresses, in the resolver's order, one after
the other as urllib3 would; TLS still verifies and names the host itself (only the address to connect to
changes). A name the resolver cannot answer fails that connection as urllib3 fails it (``NewConnectionError``,
the resolver's error as its cause) and is not remembered: the next connection asks again.

Why: a download opens dozens of connections to the same two hosts within a fraction of a second, and urllib3
looks up the name for every one. Many stub resolvers answer only so many parallel queries: past them, queries are
dropped and retried after the resolver's timeout (five seconds by glibc's default), or fail outright.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from wheelhouse.index.once import OnceCache

__all__ = ["HostAddresses", "pool_classes"]


class HostAddresses:
    """The addresses of each (host, port), looked up once (thread-safe, one lookup at a time per host)."""

    def __init__(self) -> None:
        # A failed lookup is not remembered: the resolver may answer the next connection.
        self._known: OnceCache[tuple[str, int], tuple[str, ...] | None] = OnceCache(remember_errors=False)
        self._count = threading.Lock()
        self.lookups = 0  # questions asked of the resolver

    def get(self, host: str, port: int) -> tuple[str, ...] | None:
        """The addresses to try for ``host``, in the resolver's order; None for an address literal, or a name
        that is no valid host name (urllib3 says what is wrong with it).

        Raises the resolver's ``OSError`` (``socket.gaierror``) when it cannot answer; that is not remembered.
        """
        if _is_literal(host):
            return None
        return self._known.get((host, port), lambda: self._look_up(host, port))

    def _look_up(self, host: str, port: int) -> tuple[str, ...] | None:
        with self._count:
            self.lookups += 1
        try:
            infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except UnicodeError:
            return None
        return tuple(dict.fromkeys(str(info[4][0]) for info in infos)) or None


def _is_literal(host: str) -> bool:
    bare = host.strip("[]")
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, bare.split("%", 1)[0])
        except (OSError, ValueError):
            continue
        return True
    return False


def _connect(conn: Any, addresses: HostAddresses, new_conn: Callable[[], socket.socket]) -> socket.socket:
    """Open ``conn``'s socket to each known address of its host in turn, as urllib3 itself would."""
    name: str = conn._dns_host
    try:
        found = addresses.get(name, conn.port)
    except OSError as exc:
        # As urllib3 reports it (its NameResolutionError is a NewConnectionError too), without asking again.
        raise NewConnectionError(conn, f"Failed to resolve '{conn.host}' ({exc})") from exc
    if not found:
        return new_conn()
    failure: Exception | None = None
    for address in found:
        # Only the address urllib3 connects to changes; the Host header, SNI and the certificate check still
        # use conn.host.
        conn._dns_host = address
        try:
            return new_conn()
        except (NewConnectionError, ConnectTimeoutError) as exc:
            failure = exc
        finally:
            conn._dns_host = name
    assert failure is not None
    raise failure


def pool_classes(addresses: HostAddresses) -> dict[str, type[HTTPConnectionPool]]:
    """urllib3 pool classes by scheme (for ``PoolManager.pool_classes_by_scheme``) that connect through
    ``addresses``."""

    class _HTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _connect(self, addresses, super()._new_conn)

    class _HTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _connect(self, addresses, super()._new_conn)

    class _HTTPPool(HTTPConnectionPool):
        ConnectionCls = _HTTPConnection

    class _HTTPSPool(HTTPSConnectionPool):
        ConnectionCls = _HTTPSConnection

    return {"http": _HTTPPool, "https": _HTTPSPool}
