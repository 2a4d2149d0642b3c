"""Faults from the index, end to end through ``wheelhouse download``.

A misbehaving local index (``tests.support.index_server``) resets connections, answers 5xx and 404, cuts bodies
short under a correct Content-Length, serves bytes whose sha256 differs from the published one, stalls, redirects
in circles and serves pages that are neither JSON nor HTML. For each fault: retries where retrying can help, then
one line per failed file naming its URL and the cause, exit 1; files that did download are complete and verified;
nothing partial or unverified is ever in ``wheels/``.

The helpers at the top (``assert_sound_folder``, ``Throttle``, ``publish``) are shared with the interruption and
concurrency suites.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import tests.support.index_server as index_server_module
from tests.conftest import Cli
from tests.support.index_server import Fault, IndexServer
from wheelhouse.store.folder import META_DIR, PARTIAL_PREFIX, Store

TARGET = ("--target", "linux/amd64", "--python", "3.12")
PROJECTS = ("alpha", "beta", "gamma")
VICTIM = "beta-1.0-py3-none-any.whl"
VICTIM_ROUTE = f"/files/{VICTIM}"
# Two retries (three attempts), short timeouts and no backoff keep every failing case well under a second or two.
FAST = ("--retries", "2", "--timeout", "0.5")


# -- shared helpers ----------------------------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def publish(srv: IndexServer, names: tuple[str, ...] = PROJECTS, size: int = 64 * 1024) -> list[str]:
    """One pure wheel per name, each with an incompressible payload of ``size`` bytes; returns the file names."""
    return [srv.add_wheel(name, "1.0", files={f"{name}/payload.bin": os.urandom(size)}) for name in names]


def assert_sound_folder(wheels: Path, srv: IndexServer | None = None, *, partials_left: bool = False) -> list[str]:
    """Assert what every later build relies on, reading only the folder; return the wheel file names.

    Every ``*.whl`` is a zip whose members pass their CRC and, when ``srv`` is given, whose sha256 is the one the
    index published; the manifest parses and its records match the files on disk; the folder scans without
    problems. Partial files may exist only under ``.wheelhouse/`` (invisible to pip), and only when
    ``partials_left`` (after a ``kill -9``: a download in ``tmp/``, or a manifest write cut short).
    """
    names = sorted(p.name for p in wheels.glob("*.whl"))
    for name in names:
        with zipfile.ZipFile(wheels / name) as zf:
            assert zf.testzip() is None, name
        if srv is not None:
            assert sha256_of(wheels / name) == hashlib.sha256(srv.file_bytes(name)).hexdigest(), name
    partials = sorted(str(p.relative_to(wheels)) for p in wheels.rglob(f"{PARTIAL_PREFIX}*"))
    if partials_left:
        assert all(p.startswith(f"{META_DIR}/") for p in partials), partials
    else:
        assert partials == []
    store = Store(wheels)
    if store.manifest_path.exists():
        manifest = json.loads(store.manifest_path.read_bytes())
        assert manifest["format"] == 1
        for filename, record in manifest["records"].items():
            # A record is written only after its file is in place, and names the bytes that are there.
            assert (wheels / filename).is_file(), filename
            assert record["sha256"] == sha256_of(wheels / filename), filename
    assert store.scan().problems == ()
    return names


def file_gets(srv: IndexServer) -> list[str]:
    """Routes of whole-file downloads (not PEP 658 metadata), in arrival order."""
    return [
        r.route
        for r in srv.requests.snapshot()
        if r.route.startswith("/files/") and not r.route.endswith(".metadata") and not r.header("Range")
    ]


class Throttle:
    """Slows the bodies of chosen files on the local index: ``delay`` seconds between ``chunk``-byte writes.

    ``stall_after`` bytes into a body the server stops sending until :meth:`release` (or ``stall`` seconds):
    a peer that stays connected but goes quiet. Installed by replacing the server module's chunker, so it works
    whatever process the client runs in.
    """

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        sizes: set[int],
        *,
        delay: float = 0.0,
        chunk: int = 16 * 1024,
        stall_after: int | None = None,
        stall: float = 30.0,
    ) -> None:
        self.sizes = sizes
        self.delay = delay
        self.chunk = chunk
        self.stall_after = stall_after
        self.stall = stall
        self._released = threading.Event()
        # Set when a body reaches ``stall_after``: the client is in the middle of a transfer.
        self.stalled = threading.Event()
        self._original: Callable[..., Iterator[bytes]] = index_server_module._chunks
        monkeypatch.setattr(index_server_module, "_chunks", self._chunks)

    def release(self) -> None:
        """Let stalled and throttled bodies finish at full speed."""
        self._released.set()

    def _chunks(self, data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
        if len(data) not in self.sizes or self._released.is_set():
            yield from self._original(data, size)
            return
        for start in range(0, len(data), self.chunk):
            if self.stall_after is not None and start >= self.stall_after:
                self.stalled.set()
                self._released.wait(self.stall)
            yield data[start : start + self.chunk]
            if self.delay and not self._released.is_set():
                time.sleep(self.delay)


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries without waiting between them (the backoff is a tunable of the command line)."""
    monkeypatch.setenv("WHEELHOUSE_BACKOFF", "0")


@pytest.fixture
def abc_index(index_server: IndexServer, project: Path, no_backoff: None) -> IndexServer:
    """alpha, beta and gamma on the index; requirements.txt asks for all three."""
    publish(index_server)
    (project / "requirements.txt").write_text("alpha\nbeta\ngamma\n")
    return index_server


def download(cli: Cli, srv: IndexServer, *extra: str) -> tuple[int, str, str]:
    result = cli("download", "--index-url", srv.index_url, *TARGET, *FAST, *extra)
    return result.exit_code, result.stdout, result.stderr


def lines_naming(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


# -- file faults -------------------------------------------------------------------------------------------------

PERSISTENT_FILE_FAULTS = [
    pytest.param(Fault.reset(at=1000), 3, r"connection lost after \d+ bytes: connection reset by peer", id="reset"),
    pytest.param(Fault.error(500), 3, r"HTTP 500 \(3 attempts\)", id="http-500"),
    pytest.param(Fault.error(502), 3, r"HTTP 502 \(3 attempts\)", id="http-502"),
    pytest.param(Fault.error(503, retry_after=0), 3, r"HTTP 503 \(3 attempts\)", id="http-503-retry-after"),
    pytest.param(Fault.error(404), 1, r"HTTP 404 Not Found$", id="http-404"),
    pytest.param(Fault.truncate(at=1000), 3, r"1000 bytes.*\(3 attempts\)", id="truncated"),
    pytest.param(
        Fault.replace(b"PK\x03\x04" + bytes(200)),
        1,
        r"hash mismatch for \S+: expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}$",
        id="wrong-sha256",
    ),
    pytest.param(Fault.slow(3), 3, r"timed out.*\(3 attempts\)", id="slow-server"),
]


@pytest.mark.parametrize(("fault", "attempts", "cause"), PERSISTENT_FILE_FAULTS)
def test_a_failing_file_is_one_error_and_the_rest_lands_verified(
    cli: Cli, abc_index: IndexServer, project: Path, fault: Fault, attempts: int, cause: str
) -> None:
    abc_index.inject(VICTIM_ROUTE, fault, times=None)
    code, stdout, stderr = download(cli, abc_index)
    assert code == 1, stderr
    # One line for the failed file, with the URL it came from and why, and no traceback.
    (line,) = lines_naming(stderr, VICTIM)
    assert line.startswith("error: ")
    assert abc_index.file_url(VICTIM) in line
    assert re.search(cause, line), line
    assert "Traceback" not in stdout + stderr
    # Bounded retries: as many attempts as configured where a retry can help, one where it cannot.
    assert len(abc_index.requests.to(VICTIM_ROUTE)) == attempts
    # The other files are there, complete and verified; nothing of the failed one is.
    names = assert_sound_folder(project / "wheels", abc_index)
    assert names == ["alpha-1.0-py3-none-any.whl", "gamma-1.0-py3-none-any.whl"]
    assert VICTIM not in Store(project / "wheels").records()

    # The fault gone, the next run fetches only what is missing.
    abc_index.clear_faults()
    abc_index.requests.clear()
    code, _, stderr = download(cli, abc_index)
    assert code == 0, stderr
    assert file_gets(abc_index) == [VICTIM_ROUTE]
    assert len(assert_sound_folder(project / "wheels", abc_index)) == 3


TRANSIENT_FILE_FAULTS = [
    pytest.param(Fault.reset(at=1000), id="reset"),
    pytest.param(Fault.error(500), id="http-500"),
    pytest.param(Fault.error(502), id="http-502"),
    pytest.param(Fault.error(503, retry_after=0), id="http-503-retry-after"),
    pytest.param(Fault.truncate(at=1000), id="truncated"),
    pytest.param(Fault.slow(3), id="slow-server"),
    pytest.param(Fault.redirect(VICTIM_ROUTE), id="redirect-to-itself-once"),
]


@pytest.mark.parametrize("fault", TRANSIENT_FILE_FAULTS)
def test_a_transient_file_fault_is_retried_to_success(
    cli: Cli, abc_index: IndexServer, project: Path, fault: Fault
) -> None:
    abc_index.inject(VICTIM_ROUTE, fault, times=2)
    code, _, stderr = download(cli, abc_index)
    assert code == 0, stderr
    assert len(abc_index.requests.to(VICTIM_ROUTE)) == 3
    assert len(assert_sound_folder(project / "wheels", abc_index)) == 3
    assert not lines_naming(stderr, "error")


def test_a_redirect_loop_is_cut_at_the_limit(cli: Cli, abc_index: IndexServer, project: Path) -> None:
    abc_index.inject(VICTIM_ROUTE, Fault.redirect(VICTIM_ROUTE), times=None)
    code, _, stderr = download(cli, abc_index)
    assert code == 1
    (line,) = lines_naming(stderr, VICTIM)
    assert "redirects" in line
    assert abc_index.file_url(VICTIM) in line
    # requests follows at most 30 redirects; a loop is not retried on top of that.
    assert len(abc_index.requests.to(VICTIM_ROUTE)) <= 31
    assert len(assert_sound_folder(project / "wheels", abc_index)) == 2


def test_a_redirect_to_another_server_is_followed_without_the_credentials(
    cli: Cli, abc_index: IndexServer, project: Path
) -> None:
    with IndexServer() as mirror:
        mirror.add(VICTIM, abc_index.file_bytes(VICTIM))
        abc_index.inject(VICTIM_ROUTE, Fault.redirect(mirror.file_url(VICTIM)), times=None)
        secret_url = abc_index.index_url.replace("http://", "http://alice:s3cret@")
        result = cli("download", "--index-url", secret_url, *TARGET, *FAST)
        assert result.exit_code == 0, result.output
        (hop,) = mirror.requests.to(VICTIM_ROUTE)
    # The index got its credentials; the other origin never sees them.
    assert all((r.header("Authorization") or "").startswith("Basic ") for r in abc_index.requests.snapshot())
    assert hop.header("Authorization") is None
    assert len(assert_sound_folder(project / "wheels", abc_index)) == 3
    assert "s3cret" not in result.output
    assert "s3cret" not in (project / "wheels" / META_DIR / "manifest.json").read_text()


def test_cookies_an_index_sets_are_sent_back(abc_index: IndexServer) -> None:
    """Some private indexes hand out a session cookie and expect it on every later request."""
    from packaging.utils import canonicalize_name

    from wheelhouse.index.config import IndexConfig
    from wheelhouse.index.http import IndexClient

    abc_index.inject("/simple/alpha/", Fault(headers=(("Set-Cookie", "session=abc123; Path=/"),)))
    with IndexClient(IndexConfig(index_url=abc_index.index_url)) as client:
        for name in PROJECTS:  # one after another: the first answer sets the cookie
            assert client.project_files(canonicalize_name(name))
    later = [r for r in abc_index.requests.snapshot() if r.route in ("/simple/beta/", "/simple/gamma/")]
    assert len(later) == 2
    assert all("session=abc123" in (r.header("Cookie") or "") for r in later)


def test_a_server_that_stalls_mid_body_times_out(
    cli: Cli, abc_index: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The headers and the first 16 kB arrive, then nothing: the read timeout fires on every attempt.
    throttle = Throttle(monkeypatch, {len(abc_index.file_bytes(VICTIM))}, stall_after=16 * 1024)
    try:
        code, _, stderr = download(cli, abc_index)
    finally:
        throttle.release()
    assert code == 1
    (line,) = lines_naming(stderr, VICTIM)
    assert re.search(r"connection lost after \d+ bytes: .*timed out.*\(3 attempts\)", line), line
    assert len(abc_index.requests.to(VICTIM_ROUTE)) == 3
    assert len(assert_sound_folder(project / "wheels", abc_index)) == 2


def test_a_server_that_trickles_bytes_is_cut_off(
    cli: Cli, abc_index: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 16 bytes every 0.1 s never leaves the connection silent for the 0.5 s timeout, but is far too slow.
    throttle = Throttle(monkeypatch, {len(abc_index.file_bytes(VICTIM))}, chunk=16, delay=0.1)
    try:
        code, _, stderr = download(cli, abc_index)
    finally:
        throttle.release()
    assert code == 1
    (line,) = lines_naming(stderr, VICTIM)
    assert "too slow" in line
    assert len(assert_sound_folder(project / "wheels", abc_index)) == 2


def test_several_failing_files_are_each_named_once(cli: Cli, abc_index: IndexServer, project: Path) -> None:
    abc_index.inject("/files/alpha-1.0-py3-none-any.whl", Fault.error(404), times=None)
    abc_index.inject("/files/gamma-1.0-py3-none-any.whl", Fault.truncate(at=10), times=None)
    code, _, stderr = download(cli, abc_index)
    assert code == 1
    assert len(lines_naming(stderr, "alpha-1.0-py3-none-any.whl")) == 1
    assert len(lines_naming(stderr, "gamma-1.0-py3-none-any.whl")) == 1
    assert assert_sound_folder(project / "wheels", abc_index) == [VICTIM]


def test_json_report_lists_the_failed_file_with_url_and_reason(cli: Cli, abc_index: IndexServer) -> None:
    abc_index.inject(VICTIM_ROUTE, Fault.error(503, retry_after=0), times=None)
    code, stdout, stderr = download(cli, abc_index, "--json")
    assert code == 1
    data = json.loads(stdout)
    (failed,) = data["failed"]
    assert failed["filename"] == VICTIM
    assert failed["url"] == abc_index.file_url(VICTIM)
    assert "HTTP 503 (3 attempts)" in failed["reason"]
    assert sorted(data["downloaded"]) == ["alpha-1.0-py3-none-any.whl", "gamma-1.0-py3-none-any.whl"]
    # stderr still names it once, for a person reading a CI log.
    assert len(lines_naming(stderr, VICTIM)) == 1


def test_wheels_already_present_are_untouched_by_a_failing_run(cli: Cli, abc_index: IndexServer, project: Path) -> None:
    (project / "requirements.txt").write_text("alpha\n")
    assert download(cli, abc_index)[0] == 0
    wheels = project / "wheels"
    before = {p.name: (p.stat().st_mtime_ns, sha256_of(p)) for p in wheels.glob("*.whl")}
    (project / "requirements.txt").write_text("alpha\nbeta\ngamma\n")
    abc_index.inject(re.compile(r"^/files/(beta|gamma)-"), Fault.reset(at=0), times=None)
    code, _, _ = download(cli, abc_index)
    assert code == 1
    after = {p.name: (p.stat().st_mtime_ns, sha256_of(p)) for p in wheels.glob("*.whl")}
    assert after == before
    assert_sound_folder(wheels, abc_index)


# -- page and metadata faults ------------------------------------------------------------------------------------

JSON_TYPE = "application/vnd.pypi.simple.v1+json"

PAGE_FAULTS = [
    pytest.param(
        "/simple/beta/",
        Fault.replace(b'{"files": [', content_type=JSON_TYPE),
        r"/simple/beta/: invalid JSON index page",
        1,
        id="page-invalid-json",
    ),
    pytest.param(
        "/simple/beta/",
        Fault.replace(b"\xff\xfe<a href=x>", content_type="text/html; charset=utf-8"),
        r"/simple/beta/: the index page is not valid utf-8 text",
        1,
        id="page-invalid-html",
    ),
    pytest.param(
        "/simple/beta/",
        Fault.replace(b'{"meta": {"api-version": "2.0"}, "files": []}', content_type=JSON_TYPE),
        r"API version 2.0",
        1,
        id="page-unknown-api-version",
    ),
    pytest.param(
        "/simple/beta/", Fault.error(503, retry_after=0), r"/simple/beta/: HTTP 503 \(3 attempts\)", 3, id="page-503"
    ),
    pytest.param(
        "/simple/beta/",
        Fault.reset(at=0),
        r"/simple/beta/: connection reset by peer \(3 attempts\)",
        3,
        id="page-reset",
    ),
    pytest.param("/simple/beta/", Fault.slow(3), r"/simple/beta/: .*timed out.*\(3 attempts\)", 3, id="page-slow"),
    pytest.param("/simple/beta/", Fault.error(403), r"/simple/beta/: HTTP 403", 1, id="page-403"),
    pytest.param(
        f"{VICTIM_ROUTE}.metadata",
        Fault.error(500),
        r"\.metadata: HTTP 500 \(3 attempts\)",
        3,
        id="metadata-500",
    ),
    pytest.param(
        f"{VICTIM_ROUTE}.metadata",
        Fault.replace(b"Metadata-Version: 2.1\nName: beta\nVersion: 1.0\nRequires-Dist: evil\n\n"),
        r"hash mismatch for \S+\.metadata",
        1,
        id="metadata-wrong-sha256",
    ),
]


@pytest.mark.parametrize(("route", "fault", "message", "attempts"), PAGE_FAULTS)
def test_a_page_or_metadata_fault_stops_the_run_with_one_line(
    cli: Cli, abc_index: IndexServer, project: Path, route: str, fault: Fault, message: str, attempts: int
) -> None:
    # alpha is already in the folder from an earlier run; it must come through untouched.
    (project / "requirements.txt").write_text("alpha\n")
    assert download(cli, abc_index)[0] == 0
    manifest = (project / "wheels" / META_DIR / "manifest.json").read_bytes()
    (project / "requirements.txt").write_text("alpha\nbeta\ngamma\n")
    abc_index.requests.clear()
    abc_index.inject(route, fault, times=None)
    code, stdout, stderr = download(cli, abc_index)
    assert code == 1
    error_lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1, stderr
    assert re.search(message, error_lines[0]), error_lines[0]
    assert abc_index.url in error_lines[0]
    assert "Traceback" not in stdout + stderr
    assert len(abc_index.requests.to(route)) == attempts
    # Resolution could not finish, so nothing was committed (a transfer started early is discarded whole).
    assert assert_sound_folder(project / "wheels", abc_index) == ["alpha-1.0-py3-none-any.whl"]
    assert (project / "wheels" / META_DIR / "manifest.json").read_bytes() == manifest


@pytest.mark.parametrize(
    ("route", "fault"),
    [
        pytest.param("/simple/beta/", Fault.error(503, retry_after=0), id="page-503"),
        pytest.param("/simple/beta/", Fault.reset(at=0), id="page-reset"),
        pytest.param("/simple/beta/", Fault.truncate(at=5), id="page-truncated"),
        pytest.param("/simple/beta/", Fault.redirect("/simple/beta/"), id="page-redirect-once"),
        pytest.param(f"{VICTIM_ROUTE}.metadata", Fault.error(502), id="metadata-502"),
    ],
)
def test_a_transient_page_fault_is_retried_to_success(
    cli: Cli, abc_index: IndexServer, project: Path, route: str, fault: Fault
) -> None:
    abc_index.inject(route, fault, times=2)
    code, _, stderr = download(cli, abc_index)
    assert code == 0, stderr
    assert len(abc_index.requests.to(route)) == 3
    assert len(assert_sound_folder(project / "wheels", abc_index)) == 3


def test_an_html_page_that_lists_nothing_is_a_gap_not_a_crash(cli: Cli, abc_index: IndexServer, project: Path) -> None:
    # Well-formed text with no links is indistinguishable from a project without files: a gap, exit 3.
    abc_index.inject("/simple/beta/", Fault.replace(b"<<<garbage>>> not a page", content_type="text/html"), times=None)
    code, stdout, stderr = download(cli, abc_index)
    assert code == 3
    assert "beta" in stdout
    assert "Traceback" not in stdout + stderr
    assert len(assert_sound_folder(project / "wheels", abc_index)) == 2


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("--timeout", "0"), None, "Invalid value for '--timeout'"),
        (("--retries", "-1"), None, "Invalid value for '--retries'"),
        ((), "soon", "WHEELHOUSE_BACKOFF='soon' is not a number of seconds"),
        ((), "nan", "WHEELHOUSE_BACKOFF='nan' is not a number of seconds"),
    ],
)
def test_bad_timeouts_and_backoff_are_usage_errors(
    cli: Cli,
    abc_index: IndexServer,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    env: str | None,
    message: str,
) -> None:
    if env is not None:
        monkeypatch.setenv("WHEELHOUSE_BACKOFF", env)
    result = cli("download", "--index-url", abc_index.index_url, *TARGET, *args)
    assert result.exit_code == 2
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert message in line
    assert abc_index.requests.snapshot() == []
