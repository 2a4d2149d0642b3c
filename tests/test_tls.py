"""HTTPS verification: a local HTTPS index on 127.0.0.1 whose CA exists only in a file made for the test.

With ``--cert`` (or ``PIP_CERT``, ``REQUESTS_CA_BUNDLE``) naming that file, the index is trusted; without it,
the download fails with one line. The system trust store (truststore) is shown at work through
``SSL_CERT_FILE``, which OpenSSL's default paths honour on Linux and certifi's bundle would ignore.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import certifi
import pytest

from tests.conftest import Cli
from tests.support.index_server import IndexServer
from tests.support.servers import pump
from wheelhouse.errors import NetworkError
from wheelhouse.index.config import IndexConfig
from wheelhouse.index.http import IndexClient
from wheelhouse.index.tls import bundle_context, ca_bundle, system_context

pytestmark = [
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a test CA"),
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="SSL_CERT_FILE reaches the system store on Linux only"
    ),
]

TRUST_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")


@dataclass(frozen=True)
class Pki:
    """A CA made for one test, and a certificate it signed for 127.0.0.1."""

    ca: Path
    cert: Path
    key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(root: Path, name: str = "Test CA", san: str = "IP:127.0.0.1") -> Pki:
    root.mkdir(parents=True, exist_ok=True)
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl(
        "req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=root,
    )  # fmt: skip
    _openssl("req", *curve, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=root)
    (root / "server.ext").write_text(
        f"subjectAltName={san}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nauthorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n",
        encoding="utf-8",
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
        cwd=root,
    )  # fmt: skip
    return Pki(root / "ca.pem", root / "server.pem", root / "server.key")


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture(autouse=True)
def _no_inherited_trust(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Neither this machine's CA variables nor a trust store built by an earlier test may decide."""
    for name in TRUST_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    system_context.cache_clear()
    yield
    system_context.cache_clear()


def serve_tls(srv: IndexServer, pki: Pki) -> None:
    """Make the running ``srv`` answer HTTPS only, with ``pki``'s certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert, pki.key)
    httpd = srv._httpd
    assert httpd is not None
    # The handshake happens in the handler thread at the first read, not in the thread that accepts.
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)


@pytest.fixture
def https_index(pki: Pki) -> Iterator[IndexServer]:
    srv = IndexServer().start()
    try:
        serve_tls(srv, pki)
        srv.add_wheel("demo", "1.0")
        yield srv
    finally:
        srv.stop()


def https(srv: IndexServer) -> str:
    return srv.index_url.replace("http://", "https://")


def files(config: IndexConfig) -> list[str]:
    with IndexClient(config, backoff=0.01, sleep=lambda _s: None) as client:
        return [f.filename for f in client.project_files("demo")]  # type: ignore[arg-type]


def test_the_cert_option_trusts_the_index(https_index: IndexServer, pki: Pki) -> None:
    assert files(IndexConfig(index_url=https(https_index), cert=str(pki.ca))) == ["demo-1.0-py3-none-any.whl"]


def test_without_the_ca_the_index_is_refused(https_index: IndexServer) -> None:
    with pytest.raises(NetworkError) as caught:
        files(IndexConfig(index_url=https(https_index), retries=0))
    assert "TLS error" in str(caught.value)
    assert "certificate verify failed" in str(caught.value)
    assert "--cert" in (caught.value.hint or "")


def test_requests_ca_bundle_is_honoured(https_index: IndexServer, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca))
    assert files(IndexConfig(index_url=https(https_index)))


def test_the_system_trust_store_is_used_without_a_named_bundle(
    https_index: IndexServer, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    # OpenSSL's default verify paths read SSL_CERT_FILE: the CA is then in "the system store" as truststore sees
    # it on Linux. With certifi alone (the old behaviour) this index would be refused.
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    assert files(IndexConfig(index_url=https(https_index))) == ["demo-1.0-py3-none-any.whl"]


def test_a_named_bundle_wins_alone_over_the_system_store(
    https_index: IndexServer, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    with pytest.raises(NetworkError, match="TLS error"):
        files(IndexConfig(index_url=https(https_index), cert=certifi.where(), retries=0))


def test_the_cert_option_wins_over_requests_ca_bundle(
    https_index: IndexServer, pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_pki(tmp_path / "other", name="Other CA")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca))
    with pytest.raises(NetworkError, match="TLS error"):
        files(IndexConfig(index_url=https(https_index), cert=str(other.ca), retries=0))
    assert ca_bundle(str(other.ca), {"REQUESTS_CA_BUNDLE": str(pki.ca)}) == str(other.ca)
    assert ca_bundle(None, {"CURL_CA_BUNDLE": "/c.pem", "REQUESTS_CA_BUNDLE": "/r.pem"}) == "/r.pem"
    assert ca_bundle(None, {}) is None


def test_the_system_context_keeps_certifi_for_an_empty_store() -> None:
    context = system_context()
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


# -- the command line -------------------------------------------------------------------------------------------


def test_download_with_cert_and_pip_cert(
    cli: Cli, project: Path, https_index: IndexServer, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = cli("download", "--index-url", https(https_index), "--cert", str(pki.ca), "demo")
    assert result.exit_code == 0, result.output
    assert (project / "wheels" / "demo-1.0-py3-none-any.whl").is_file()
    (project / "wheels" / "demo-1.0-py3-none-any.whl").unlink()
    monkeypatch.setenv("PIP_CERT", str(pki.ca))
    result = cli("download", "--index-url", https(https_index), "demo")
    assert result.exit_code == 0, result.output


def test_download_without_the_ca_fails_in_one_line(cli: Cli, project: Path, https_index: IndexServer) -> None:
    result = cli("download", "--index-url", https(https_index), "--retries", "0", "demo")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "TLS error" in errors[0]
    assert "certificate verify failed" in errors[0]
    assert not list((project / "wheels").glob("*.whl"))


def test_a_cert_file_that_does_not_exist_is_one_line(cli: Cli, project: Path, https_index: IndexServer) -> None:
    result = cli("download", "--index-url", https(https_index), "--cert", str(project / "missing.pem"), "demo")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "missing.pem" in errors[0]


def test_a_plain_http_index_never_loads_the_trust_store() -> None:
    with IndexServer() as srv:
        srv.add_wheel("demo", "1.0")
        assert files(IndexConfig(index_url=srv.index_url)) == ["demo-1.0-py3-none-any.whl"]
    assert system_context.cache_info().currsize == 0


def test_new_connections_do_not_reload_certifi_into_the_shared_context(
    https_index: IndexServer, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    context = system_context()
    assert context is not None
    loads: list[object] = []
    load = context.load_verify_locations

    def recording(*args: Any, **kwargs: Any) -> None:
        loads.append(args)
        load(*args, **kwargs)

    monkeypatch.setattr(context, "load_verify_locations", recording)
    for _ in range(2):  # two clients, two connections
        assert files(IndexConfig(index_url=https(https_index)))
    assert loads == []


def _count_loads(monkeypatch: pytest.MonkeyPatch, method: str) -> list[object]:
    """Record every call of ``ssl.SSLContext.<method>`` (loading CA certificates into a context)."""
    calls: list[object] = []
    original = getattr(ssl.SSLContext, method)

    def recording(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> Any:
        calls.append(args or kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, method, recording)
    return calls


def _parallel_pages(config: IndexConfig, connections: int) -> None:
    """Fetch the page from ``connections`` threads at once through one client: one connection each."""
    with IndexClient(config, backoff=0.01, sleep=lambda _s: None) as client:
        barrier = threading.Barrier(connections)

        def fetch() -> None:
            barrier.wait(5)
            assert client._transport.fetch_page(f"{config.index_url}/demo/", "text/html") is not None

        threads = [threading.Thread(target=fetch) for _ in range(connections)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def test_a_named_bundle_is_read_once_however_many_connections(
    https_index: IndexServer, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """urllib3 reads a bundle named by path into a new context for every connection (tens of milliseconds of
    CPU each); the client reads it once."""
    bundle_context.cache_clear()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca))
    loads = _count_loads(monkeypatch, "load_verify_locations")
    _parallel_pages(IndexConfig(index_url=https(https_index)), 4)
    assert len(loads) == 1
    assert files(IndexConfig(index_url=https(https_index)))  # a second client: the same context
    assert len(loads) == 1
    bundle_context.cache_clear()


def test_the_system_store_is_read_once_however_many_connections(
    https_index: IndexServer, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """truststore loads OpenSSL's default paths again for every connection on Linux, one handshake at a time;
    the client loads them once, with the same trust (the CA comes from SSL_CERT_FILE, as truststore reads it)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    loads = _count_loads(monkeypatch, "set_default_verify_paths")
    _parallel_pages(IndexConfig(index_url=https(https_index)), 4)
    assert len(loads) == 1


class AlertingFront:
    """A TCP front for an HTTPS index that answers its first ``alerts`` connections with a TLS alert
    (decode_error, as a busy load balancer sometimes does) and relays every later one to the index."""

    ALERT = bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32])

    def __init__(self, backend_port: int, alerts: int) -> None:
        self.backend_port = backend_port
        self.alerts = alerts
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            if self.connections <= self.alerts:
                client.recv(4096)  # the ClientHello
                client.sendall(self.ALERT)
                client.close()
                continue
            backend = socket.create_connection(("127.0.0.1", self.backend_port))
            for source, sink in ((client, backend), (backend, client)):
                threading.Thread(target=pump, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        self._listener.close()


def _port(srv: IndexServer) -> int:
    return int(srv.url.rsplit(":", 1)[1])


def _through(front: AlertingFront, srv: IndexServer) -> str:
    return https(srv).replace(f":{_port(srv)}/", f":{front.port}/")


def test_a_tls_alert_during_the_handshake_is_retried(https_index: IndexServer, pki: Pki) -> None:
    front = AlertingFront(_port(https_index), alerts=2)
    try:
        config = IndexConfig(index_url=_through(front, https_index), cert=str(pki.ca), retries=3)
        assert files(config) == ["demo-1.0-py3-none-any.whl"]
    finally:
        front.close()
    assert front.connections == 3


def test_a_tls_alert_on_every_attempt_is_one_error_without_the_cert_hint(
    cli: Cli, project: Path, https_index: IndexServer, pki: Pki
) -> None:
    front = AlertingFront(_port(https_index), alerts=100)
    try:
        url = _through(front, https_index)
        result = cli("download", "--index-url", url, "--cert", str(pki.ca), "--retries", "1", "demo")
    finally:
        front.close()
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert "TLS error" in errors[0], errors[0]
    assert "(2 attempts)" in errors[0], errors[0]
    assert "--cert" not in result.output
    assert front.connections == 2
