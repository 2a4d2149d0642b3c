"""A host's name is looked up once per run, however many connections reach it at once.

The index is named ``index.test``; this test's resolver answers that name with loopback addresses and counts the
questions. TLS still checks the certificate against the name, not against the address connected to.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from tests.conftest import Cli
from tests.support.index_server import IndexServer
from tests.test_tls import TRUST_VARIABLES, make_pki, serve_tls
from wheelhouse.errors import NetworkError
from wheelhouse.index.addresses import HostAddresses
from wheelhouse.index.config import IndexConfig
from wheelhouse.index.http import IndexClient
from wheelhouse.index.tls import system_context

NAME = "index.test"
PROJECTS = [f"project-{i}" for i in range(24)]


class Resolver:
    """Answers NAME with ``addresses`` (or fails while ``failing``); counts each question; slow enough that
    parallel connections would all ask at once without the cache."""

    def __init__(self, real: Callable[..., Any], addresses: Sequence[str]) -> None:
        self.real = real
        self.addresses = list(addresses)
        self.failing = False
        self.asked: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, host: str, port: object, *args: Any, **kwargs: Any) -> Any:
        if host != NAME:
            return self.real(host, port, *args, **kwargs)
        with self._lock:
            self.asked[host] += 1
        threading.Event().wait(0.05)
        if self.failing:
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (address, int(str(port))),
            )
            for address in self.addresses
        ]


@pytest.fixture
def index() -> Iterator[IndexServer]:
    with IndexServer() as srv:
        for project in PROJECTS:
            srv.add_wheel(project, "1.0")
        yield srv


def resolver(monkeypatch: pytest.MonkeyPatch, addresses: Sequence[str]) -> Resolver:
    fake = Resolver(socket.getaddrinfo, addresses)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


def named(srv: IndexServer, scheme: str = "http") -> str:
    return srv.index_url.replace("http://127.0.0.1", f"{scheme}://{NAME}")


def fetch_all(client: IndexClient, projects: Sequence[str]) -> list[int]:
    with ThreadPoolExecutor(len(projects)) as pool:
        return list(pool.map(lambda p: len(client.project_files(canonicalize_name(p))), projects))


def test_parallel_connections_to_one_host_look_its_name_up_once(
    index: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = resolver(monkeypatch, ["127.0.0.1"])
    with IndexClient(IndexConfig(index_url=named(index), retries=0), jobs=12) as client:
        assert fetch_all(client, PROJECTS) == [1] * len(PROJECTS)
    assert fake.asked[NAME] == 1
    # Every page was asked for with the name, as the user wrote it.
    assert len([r for r in index.requests if r.path.startswith("/simple/project-")]) == len(PROJECTS)


def test_an_address_that_refuses_gives_way_to_the_next(index: IndexServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # The index listens on 127.0.0.1 only: ::1 refuses the connection (or cannot be reached).
    fake = resolver(monkeypatch, ["::1", "127.0.0.1"])
    with IndexClient(IndexConfig(index_url=named(index), retries=0)) as client:
        assert fetch_all(client, PROJECTS[:4]) == [1] * 4
    assert fake.asked[NAME] == 1


def test_a_name_that_cannot_be_looked_up_fails_in_one_line_and_is_asked_again(
    index: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = resolver(monkeypatch, ["127.0.0.1"])
    fake.failing = True
    with IndexClient(IndexConfig(index_url=named(index), retries=0)) as client:
        with pytest.raises(NetworkError) as caught:
            client.project_files(canonicalize_name(PROJECTS[0]))
        assert NAME in str(caught.value)
        assert "temporary failure in name resolution" in str(caught.value)
        assert "\n" not in str(caught.value)
        assert fake.asked[NAME] == 1  # the failure is reported without a second question
        # A failed lookup is not remembered: once the resolver answers, so does the index.
        fake.failing = False
        assert len(client.project_files(canonicalize_name(PROJECTS[1]))) == 1
        assert fake.asked[NAME] == 2


def test_an_address_literal_is_not_looked_up() -> None:
    addresses = HostAddresses()
    assert addresses.get("127.0.0.1", 80) is None
    assert addresses.get("[::1]", 80) is None
    assert addresses.get("::1", 80) is None
    assert addresses.lookups == 0


@pytest.mark.parametrize(("san", "trusted"), [(f"DNS:{NAME}", True), ("DNS:elsewhere.test", False)])
def test_tls_still_checks_the_certificate_against_the_name(
    index: IndexServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, san: str, trusted: bool
) -> None:
    for variable in TRUST_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    system_context.cache_clear()
    pki = make_pki(tmp_path / "pki", san=san)
    serve_tls(index, pki)
    fake = resolver(monkeypatch, ["127.0.0.1"])
    config = IndexConfig(index_url=named(index, "https"), cert=str(pki.ca), retries=0)
    with IndexClient(config) as client:
        if trusted:
            assert fetch_all(client, PROJECTS[:6]) == [1] * 6
        else:
            with pytest.raises(NetworkError) as caught:
                client.project_files(canonicalize_name(PROJECTS[0]))
            assert "certificate" in str(caught.value)
    assert fake.asked[NAME] == 1


TARGET = ("--target", "linux/amd64", "--python", "3.12")


def test_a_download_looks_the_index_name_up_once(
    cli: Cli, index: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = resolver(monkeypatch, ["127.0.0.1"])
    (project / "requirements.txt").write_text("".join(f"{p}\n" for p in PROJECTS))
    result = cli("download", "--index-url", named(index), *TARGET, "--retries", "0")
    assert result.exit_code == 0, result.stderr
    assert len(list((project / "wheels").glob("*.whl"))) == len(PROJECTS)
    assert fake.asked[NAME] == 1


def test_a_download_whose_index_name_cannot_be_looked_up_fails_in_one_line(
    cli: Cli, index: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = resolver(monkeypatch, ["127.0.0.1"])
    fake.failing = True
    (project / "requirements.txt").write_text(f"{PROJECTS[0]}\n")
    result = cli("download", "--index-url", named(index), *TARGET, "--retries", "1")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: cannot fetch {named(index)}/{PROJECTS[0]}/: temporary failure in name resolution (2 attempts)"
    ], result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert list((project / "wheels").glob("*.whl")) == []
    # Not remembered, and asked once per attempt.
    assert fake.asked[NAME] == 2
