"""``index`` and ``serve`` never write, delete or publish through a symlink, and serve's URL means "ready".

Every case plants a link pointing outside the folder and checks the files out there are exactly as before.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.wheels import make_sdist, write_wheel
from wheelhouse.errors import StoreError
from wheelhouse.share import serve
from wheelhouse.share.serve import AutoRefresh
from wheelhouse.share.static_index import MARKER, build_index, default_index_dir
from wheelhouse.store.folder import Store


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the folder with a file in it, which no command may touch."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "precious.txt").write_text("keep me\n")
    return path


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def _old_index(out: Path) -> None:
    """An earlier index of ours (its marker), so the directory is one ``index`` may update."""
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_bytes(b"wheelhouse simple index 1\n")


def test_a_files_link_in_the_default_index_is_refused(wheels_dir: Path, outside: Path) -> None:
    write_wheel(wheels_dir, "demo", "1.0")
    store = Store(wheels_dir)
    out = default_index_dir(store)
    _old_index(out)
    (out / "files").symlink_to(outside, target_is_directory=True)
    before = _snapshot(outside)
    with pytest.raises(StoreError, match="files is a symbolic link; refusing to follow it"):
        build_index(store)
    assert _snapshot(outside) == before


def test_a_files_link_in_an_out_directory_is_refused(wheels_dir: Path, outside: Path, tmp_path: Path) -> None:
    write_wheel(wheels_dir, "demo", "1.0")
    out = tmp_path / "public"
    _old_index(out)
    (out / "files").symlink_to(outside, target_is_directory=True)
    before = _snapshot(outside)
    with pytest.raises(StoreError, match=f"{out / 'files'} is a symbolic link"):
        build_index(Store(wheels_dir), out)
    assert _snapshot(outside) == before


def test_the_index_command_refuses_with_one_line(cli: Cli, project: Path, outside: Path) -> None:
    write_wheel(project / "wheels", "demo", "1.0")
    _old_index(project / "public")
    (project / "public" / "files").symlink_to(outside, target_is_directory=True)
    before = _snapshot(outside)
    result = cli("index", "--out", "public")
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("error: "), result.output
    assert "public/files is a symbolic link" in lines[0], result.output
    assert "Traceback" not in result.output
    assert _snapshot(outside) == before


def test_serve_rebuild_refuses_a_files_link(wheels_dir: Path, outside: Path, tmp_path: Path) -> None:
    write_wheel(wheels_dir, "demo", "1.0")
    store = Store(wheels_dir)
    out = tmp_path / "served"
    refresh = AutoRefresh(store, out)
    refresh()
    # The link arrives while the server runs, then the folder changes: the rebuild must not follow it.
    os.rename(out / "files", tmp_path / "old-files")
    (out / "files").symlink_to(outside, target_is_directory=True)
    write_wheel(wheels_dir, "other", "2.0")
    os.utime(wheels_dir, ns=(1, 1))  # a listing change the refresh sees even within one mtime tick
    before = _snapshot(outside)
    with pytest.raises(StoreError, match="is a symbolic link"):
        refresh()
    assert _snapshot(outside) == before


def test_a_running_server_keeps_its_last_index_and_says_why(
    wheels_dir: Path, outside: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_wheel(wheels_dir, "demo", "1.0")
    out = tmp_path / "served"
    refresh = AutoRefresh(Store(wheels_dir), out)
    refresh()
    os.rename(out / "files", tmp_path / "old-files")
    (out / "files").symlink_to(outside, target_is_directory=True)
    write_wheel(wheels_dir, "other", "2.0")
    os.utime(wheels_dir, ns=(1, 1))
    before = _snapshot(outside)
    with (
        serve.IndexHTTPServer(out, refresh=refresh).start() as server,
        caplog.at_level(logging.WARNING),
        urllib.request.urlopen(f"{server.index_url}demo/") as response,
    ):
        page = response.read()
    assert b"demo-1.0-py3-none-any.whl" in page
    assert "the index was not rebuilt, serving the last one" in caplog.text
    assert "files is a symbolic link" in caplog.text
    assert _snapshot(outside) == before


@pytest.mark.parametrize("planted", ["index", "state"])
def test_a_linked_state_or_index_directory_is_refused(wheels_dir: Path, outside: Path, planted: str) -> None:
    write_wheel(wheels_dir, "demo", "1.0")
    store = Store(wheels_dir)
    target = outside / "linked"
    if planted == "index":
        store.meta_dir.mkdir()
        _old_index(target)
        default_index_dir(store).symlink_to(target, target_is_directory=True)
    else:
        target.mkdir()
        store.meta_dir.symlink_to(target, target_is_directory=True)
    before = {p.relative_to(outside): p.read_bytes() for p in outside.rglob("*") if p.is_file()}
    with pytest.raises(StoreError, match="is a symbolic link"):
        build_index(store)
    assert {p.relative_to(outside): p.read_bytes() for p in outside.rglob("*") if p.is_file()} == before


def test_a_project_page_link_is_refused(wheels_dir: Path, outside: Path, tmp_path: Path) -> None:
    write_wheel(wheels_dir, "demo", "1.0")
    out = tmp_path / "public"
    build_index(Store(wheels_dir), out)
    # A stale project's page directory pointing outside: pruning it would delete index.html files there.
    (outside / "index.html").write_text("not ours\n")
    (out / "simple" / "gone").symlink_to(outside, target_is_directory=True)
    before = _snapshot(outside)
    with pytest.raises(StoreError, match="gone is a symbolic link"):
        build_index(Store(wheels_dir), out)
    assert _snapshot(outside) == before


@pytest.mark.parametrize("kind", ["sdist", "wheel"])
def test_a_linked_distribution_is_not_published(
    wheels_dir: Path, outside: Path, tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    write_wheel(wheels_dir, "demo", "1.0")
    if kind == "sdist":
        filename, data = make_sdist("secret", "1.0")
        (outside / filename).write_bytes(data)
    else:
        filename = write_wheel(outside, "secret", "1.0").name
    (wheels_dir / filename).symlink_to(outside / filename)
    secret_sha = hashlib.sha256((outside / filename).read_bytes()).hexdigest()
    before = _snapshot(outside)
    out = tmp_path / "public"
    with caplog.at_level(logging.WARNING, logger="wheelhouse"):
        result = build_index(Store(wheels_dir), out)
    assert [f.filename for f in result.files] == ["demo-1.0-py3-none-any.whl"]
    assert not (out / "files" / filename).exists()
    assert not (out / "simple" / "secret").exists()
    published = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert secret_sha.encode() not in published
    assert f"{filename} is not a regular file of the folder" in caplog.text
    assert _snapshot(outside) == before


# -- serve prints its URL only when an interrupt stops it cleanly ----------------------------------------------


class _InterruptedWhilePrinting:
    """A server whose URL is read while Ctrl-C arrives: the moment the old code was not ready for."""

    closed = False

    def __init__(self, root: Path, host: str, port: int, **kwargs: object) -> None:
        self.url = f"http://{host}:{port}"

    @property
    def index_url(self) -> str:
        raise KeyboardInterrupt

    def serve_forever(self) -> None:  # pragma: no cover - the interrupt comes first
        raise AssertionError("the interrupt must stop the server before it serves")

    def server_close(self) -> None:
        type(self).closed = True


def test_an_interrupt_right_at_the_url_is_a_clean_stop(
    cli: Cli, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_wheel(project / "wheels", "demo", "1.0")
    monkeypatch.setattr(serve, "IndexHTTPServer", _InterruptedWhilePrinting)
    result = cli("serve", "--port", "0")
    assert result.exit_code == 0, result.output
    assert _InterruptedWhilePrinting.closed
