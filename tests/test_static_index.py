"""``wheelhouse index`` and ``serve``: a static PEP 503/691 index with PEP 658 metadata that pip and uv use."""

from __future__ import annotations

import gc
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.wheels import make_wheel, write_wheel
from wheelhouse.errors import UsageError
from wheelhouse.share import serve
from wheelhouse.share.serve import (
    HTML_TYPE,
    JSON_TYPE,
    TEXT_HTML,
    AutoRefresh,
    IndexHTTPServer,
    is_loopback,
    negotiate,
)
from wheelhouse.share.static_index import build_index, default_index_dir
from wheelhouse.store.folder import Store


@pytest.fixture
def folder(wheels_dir: Path) -> Path:
    write_wheel(wheels_dir, "demo-pkg", "1.0", requires_dist=["dep>=1"], requires_python=">=3.8")
    write_wheel(wheels_dir, "demo-pkg", "1.1", requires_dist=["dep>=1"], requires_python=">=3.8")
    write_wheel(wheels_dir, "dep", "1.2")
    return wheels_dir


def _pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return env


def _pip(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args, "--no-cache-dir"],
        env=_pip_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _get(url: str, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def _body(url: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, response.getheader("Content-Type") or "", data


# -- the static tree ----------------------------------------------------------------------------------------


def test_layout_hashes_requires_python_and_metadata(folder: Path) -> None:
    result = build_index(Store(folder))
    out = default_index_dir(Store(folder))
    assert result.out_dir == out
    assert result.projects == ("demo-pkg", "dep")
    wheel = "demo_pkg-1.0-py3-none-any.whl"
    sha = hashlib.sha256((folder / wheel).read_bytes()).hexdigest()
    # Same filesystem: the index holds hard links, not copies.
    assert os.path.samefile(out / "files" / wheel, folder / wheel)
    assert result.copied == ()
    with zipfile.ZipFile(folder / wheel) as zf:
        metadata = zf.read("demo_pkg-1.0.dist-info/METADATA")
    assert (out / "files" / f"{wheel}.metadata").read_bytes() == metadata
    meta_sha = hashlib.sha256(metadata).hexdigest()

    page = (out / "simple" / "demo-pkg" / "index.html").read_text()
    assert f'href="../../files/{wheel}#sha256={sha}"' in page
    assert 'data-requires-python="&gt;=3.8"' in page
    assert f'data-core-metadata="sha256={meta_sha}"' in page
    assert f'data-dist-info-metadata="sha256={meta_sha}"' in page
    assert '<meta name="pypi:repository-version" content="1.1">' in page

    doc = json.loads((out / "simple" / "demo-pkg" / "index.json").read_text())
    assert doc["meta"] == {"api-version": "1.1"}
    assert doc["name"] == "demo-pkg"
    assert doc["versions"] == ["1.0", "1.1"]
    first = doc["files"][0]
    assert first["filename"] == wheel
    assert first["url"] == f"../../files/{wheel}"
    assert first["hashes"] == {"sha256": sha}
    assert first["requires-python"] == ">=3.8"
    assert first["core-metadata"] == {"sha256": meta_sha}
    assert first["size"] == (folder / wheel).stat().st_size
    root = json.loads((out / "simple" / "index.json").read_text())
    assert root["projects"] == [{"name": "demo-pkg"}, {"name": "dep"}]
    assert '<a href="dep/">dep</a>' in (out / "simple" / "index.html").read_text()


def test_rerun_writes_nothing_and_updates_only_what_changed(folder: Path) -> None:
    store = Store(folder)
    first = build_index(store)
    snapshot = {p: p.read_bytes() for p in first.out_dir.rglob("*") if p.is_file()}
    again = build_index(store)
    assert again.written == ()
    assert again.removed == ()
    assert {p: p.read_bytes() for p in first.out_dir.rglob("*") if p.is_file()} == snapshot

    write_wheel(folder, "newcomer", "0.1")
    (folder / "dep-1.2-py3-none-any.whl").unlink()
    third = build_index(store)
    assert set(third.written) == {
        "files/newcomer-0.1-py3-none-any.whl",
        "files/newcomer-0.1-py3-none-any.whl.metadata",
        "simple/newcomer/index.html",
        "simple/newcomer/index.json",
        "simple/index.html",
        "simple/index.json",
    }
    assert set(third.removed) == {
        "files/dep-1.2-py3-none-any.whl",
        "files/dep-1.2-py3-none-any.whl.metadata",
        "simple/dep/index.html",
        "simple/dep/index.json",
    }
    assert not (first.out_dir / "simple" / "dep").exists()


def test_a_replaced_wheel_is_linked_again(folder: Path) -> None:
    store = Store(folder)
    out = build_index(store).out_dir
    wheel = folder / "dep-1.2-py3-none-any.whl"
    replacement = folder / "replacement.tmp"
    replacement.write_bytes(make_wheel("dep", "1.2", requires_dist=["newdep"])[1])
    os.replace(replacement, wheel)  # a new inode under the same name, as check --fix commits it
    result = build_index(store)
    assert "files/dep-1.2-py3-none-any.whl" in result.written
    assert os.path.samefile(out / "files" / wheel.name, wheel)
    assert b"Requires-Dist: newdep" in (out / "files" / f"{wheel.name}.metadata").read_bytes()


def test_copies_when_hard_links_are_impossible(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(src: object, dst: object, **kwargs: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr("wheelhouse.share.static_index.os.link", no_links)
    out = tmp_path / "public"
    result = build_index(Store(folder), out)
    assert len(result.copied) == 3
    wheel = "dep-1.2-py3-none-any.whl"
    assert (out / "files" / wheel).read_bytes() == (folder / wheel).read_bytes()
    assert build_index(Store(folder), out).written == ()  # copies keep the mtime: seen as unchanged


def test_refuses_a_directory_that_is_not_an_index(folder: Path, tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "important.txt").write_text("keep me")
    with pytest.raises(UsageError, match="holds no wheelhouse index"):
        build_index(Store(folder), busy)
    assert sorted(p.name for p in busy.iterdir()) == ["important.txt"]
    with pytest.raises(UsageError, match="into the wheels folder itself"):
        build_index(Store(folder), folder)


def test_index_command_human_and_json(cli: Cli, project: Path) -> None:
    write_wheel(project / "wheels", "dep", "1.2")
    human = cli("index", "--out", "public")
    assert human.exit_code == 0, human.output
    assert "index of 1 project, 1 file in public" in human.output
    assert f"pip install --index-url {(project / 'public' / 'simple').as_uri()}/ PKG" in human.output
    data = json.loads(cli("index", "--out", "public", "--json").stdout)
    assert data["schema"] == 1
    assert data["url"] == (project / "public" / "simple").as_uri() + "/"
    assert data["written"] == []
    assert data["files"][0]["file"] == "dep-1.2-py3-none-any.whl"
    assert data["files"][0]["metadata_sha256"]
    refused = cli("index", "--out", "wheels")
    assert refused.exit_code == 2
    assert refused.output.startswith("error: the index cannot be written into the wheels folder itself")


def test_pip_installs_from_the_file_index(folder: Path, tmp_path: Path) -> None:
    result = build_index(Store(folder))
    proc = _pip("install", "--dry-run", "--ignore-installed", "--index-url", result.url, "demo-pkg")
    assert proc.returncode == 0, proc.stderr
    assert "Would install demo-pkg-1.1 dep-1.2" in proc.stdout
    # pip read the PEP 658 metadata files instead of opening the wheels.
    assert "demo_pkg-1.1-py3-none-any.whl.metadata" in proc.stdout


# -- serving ------------------------------------------------------------------------------------------------


@pytest.fixture
def served(folder: Path) -> Iterator[tuple[IndexHTTPServer, list[str]]]:
    store = Store(folder)
    out = default_index_dir(store)
    refresh = AutoRefresh(store, out)
    refresh()
    log: list[str] = []
    with IndexHTTPServer(out, refresh=refresh, log=log.append).start() as server:
        yield server, log


def test_pip_downloads_over_http_using_pep_658(served: tuple[IndexHTTPServer, list[str]], tmp_path: Path) -> None:
    server, log = served
    dest = tmp_path / "dl"
    proc = _pip("download", "--no-deps", "--index-url", server.index_url, "-d", str(dest), "demo-pkg==1.0")
    assert proc.returncode == 0, proc.stderr
    wheel = "demo_pkg-1.0-py3-none-any.whl"
    assert (dest / wheel).read_bytes() == (server.root / "files" / wheel).read_bytes()
    requested = [line.split('"')[1] for line in log if '"GET' in line]
    assert "GET /simple/demo-pkg/ HTTP/1.1" in requested
    assert f"GET /files/{wheel}.metadata HTTP/1.1" in requested
    assert f"GET /files/{wheel} HTTP/1.1" in requested


def test_uv_resolves_over_http(served: tuple[IndexHTTPServer, list[str]], tmp_path: Path) -> None:
    uv = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    if uv is None:
        pytest.skip("uv is not installed (pip install uv to run this test)")
    server, log = served
    env = _pip_env()
    env.update(UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never", UV_CACHE_DIR=str(tmp_path / "uv-cache"))
    proc = subprocess.run(
        [uv, "pip", "compile", "-", "--index-url", server.index_url, "--python", sys.executable, "--no-header"],
        input="demo-pkg\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    pins = [line.strip() for line in proc.stdout.splitlines() if "==" in line]
    assert pins == ["demo-pkg==1.1", "dep==1.2"]
    assert any("demo_pkg-1.1-py3-none-any.whl.metadata" in line for line in log)


def test_content_negotiation(served: tuple[IndexHTTPServer, list[str]]) -> None:
    server, _ = served
    status, ctype, body = _body(server.url, "/simple/dep/", {"Accept": JSON_TYPE})
    assert (status, ctype) == (200, JSON_TYPE)
    assert json.loads(body)["name"] == "dep"
    status, ctype, body = _body(server.url, "/simple/dep/")
    assert (status, ctype) == (200, "text/html; charset=utf-8")
    assert b"dep-1.2-py3-none-any.whl" in body
    status, ctype, _ = _body(server.url, f"/simple/?format={JSON_TYPE}")
    assert ctype == JSON_TYPE
    status, ctype, _ = _body(server.url, "/simple/", {"Accept": f"{HTML_TYPE}, {JSON_TYPE};q=0.5"})
    assert ctype.startswith(HTML_TYPE)


def test_redirects_and_refusals(served: tuple[IndexHTTPServer, list[str]]) -> None:
    server, _ = served
    normalise = _get(server.url, "/simple/Demo_Pkg/")
    assert (normalise.status, normalise.getheader("Location")) == (301, "/simple/demo-pkg/")
    slash = _get(server.url, "/simple/dep")
    assert (slash.status, slash.getheader("Location")) == (301, "/simple/dep/")
    assert _get(server.url, "/").getheader("Location") == "/simple/"
    for path in ("/../../etc/passwd", "/files/%2e%2e/%2e%2e/lock", "/.wheelhouse-index", "/simple/nothing/"):
        assert _get(server.url, path).status == 404, path


def test_served_index_follows_the_folder(served: tuple[IndexHTTPServer, list[str]], folder: Path) -> None:
    server, _ = served
    write_wheel(folder, "latecomer", "3.0")
    status, _, body = _body(server.url, "/simple/", {"Accept": JSON_TYPE})
    assert status == 200
    assert {"name": "latecomer"} in json.loads(body)["projects"]


def test_negotiate_and_loopback() -> None:
    assert negotiate(None) == TEXT_HTML
    assert negotiate("*/*") == TEXT_HTML
    assert negotiate(f"{JSON_TYPE}, {HTML_TYPE};q=0.2, text/html;q=0.01") == JSON_TYPE
    assert negotiate(f"{JSON_TYPE};q=0, text/html") == TEXT_HTML
    assert negotiate("text/html", "format=" + JSON_TYPE) == JSON_TYPE
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("192.168.1.10")


def test_serve_command_as_a_process(project: Path, tmp_path: Path) -> None:
    write_wheel(project / "wheels", "dep", "1.2")
    exe = shutil.which("wheelhouse", path=str(Path(sys.executable).parent)) or "wheelhouse"
    proc = subprocess.Popen(
        [exe, "-v", "serve", "--port", "0"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Serving wheels at http://127.0.0.1:"), first
        index_url = first.split(" at ")[1].strip()
        assert index_url.endswith("/simple/")
        dest = tmp_path / "dl"
        pip = _pip("download", "--no-deps", "--index-url", index_url, "-d", str(dest), "dep")
        assert pip.returncode == 0, pip.stderr
        assert (dest / "dep-1.2-py3-none-any.whl").is_file()
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert '"GET /simple/dep/ HTTP/1.1" 200' in err


def test_serve_warns_on_a_non_loopback_host_and_collects_its_garbage(
    cli: Cli, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_wheel(project / "wheels", "dep", "1.2")
    bound: list[str] = []
    collecting: list[bool] = []

    class FakeServer:
        def __init__(self, root: Path, host: str, port: int, **kwargs: object) -> None:
            bound.append(host)
            self.url = f"http://{host}:{port}"
            self.index_url = f"{self.url}/simple/"

        def serve_forever(self) -> None:
            # A long-running server collects its cyclic garbage, though the command line pauses the collector.
            collecting.append(gc.isenabled())
            raise KeyboardInterrupt

        def server_close(self) -> None:
            pass

    monkeypatch.setattr(serve, "IndexHTTPServer", FakeServer)
    was_enabled = gc.isenabled()
    gc.disable()  # as the console script leaves it
    try:
        result = cli("serve", "--host", "0.0.0.0", "--port", "8123")
    finally:
        (gc.enable if was_enabled else gc.disable)()
    assert result.exit_code == 0, result.output
    assert bound == ["0.0.0.0"]
    assert collecting == [True]
    assert "warning: serving on 0.0.0.0: every machine that can reach this address" in result.output
    assert "Serving wheels at http://0.0.0.0:8123/simple/" in result.output
