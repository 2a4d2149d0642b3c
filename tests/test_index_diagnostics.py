"""What the index layer says, and when it says nothing: warnings reach the diagnostics channel (and the
CLI's stderr), files no resolver would pick are skipped without a word."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.utils import NormalizedName

from tests.conftest import Cli
from tests.support.index_server import IndexServer
from tests.support.wheels import make_wheel
from wheelhouse import _log


@pytest.fixture(autouse=True)
def _fresh_channel() -> Iterator[None]:
    # ``once`` messages are said once per process: each test starts with none said.
    _log.forget()
    yield
    _log.forget()


def test_a_missing_find_links_location_is_named_on_stderr(cli: Cli, project: Path, tmp_path: Path) -> None:
    links = project / "links"
    links.mkdir()
    filename, data = make_wheel("attrs", "23.2.0")
    (links / filename).write_bytes(data)
    missing = tmp_path / "missing"
    result = cli(
        "download",
        "--no-index",
        "--find-links",
        str(missing),
        "--find-links",
        "links/",
        "--target",
        "linux/amd64",
        "--python",
        "3.12",
        "attrs",
    )
    assert result.exit_code == 0, result.output
    assert (project / "wheels" / filename).is_file()
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: find-links location {str(missing)!r} does not exist; ignored"]


def test_a_missing_find_links_location_is_said_once_per_client(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from wheelhouse.index.config import IndexConfig
    from wheelhouse.index.http import IndexClient

    missing = str(tmp_path / "missing")
    with IndexClient(IndexConfig(no_index=True, find_links=(missing,))) as client:
        for name in ("a", "b", "c"):
            assert client.project_files(NormalizedName(name)) == ()
    said = [r.getMessage() for r in caplog.records if r.name == "wheelhouse" and r.levelno == logging.WARNING]
    assert said == [f"find-links location {missing!r} does not exist; ignored"]


def _said(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "wheelhouse" and r.levelno == level]


# -- an invalid data-requires-python ---------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["json", "html"])
def test_an_invalid_requires_python_keeps_the_file_and_is_said_once(api: str, caplog: pytest.LogCaptureFixture) -> None:
    from wheelhouse.index.config import IndexConfig
    from wheelhouse.index.finder import IndexFinder
    from wheelhouse.index.http import IndexClient

    with IndexServer(json_api=api == "json", html_api=api == "html") as srv:
        for version in ("1.0", "1.1"):
            filename, data = make_wheel("demo", version)
            srv.add(filename, data, requires_python=">=3.6.*")
        filename, data = make_wheel("demo", "0.9")
        srv.add(filename, data, requires_python=">=3.6")
        with IndexClient(IndexConfig(index_url=srv.index_url)) as client:
            files = IndexFinder(client).files(NormalizedName("demo"))
    assert {(f.filename, f.requires_python) for f in files} == {
        ("demo-0.9-py3-none-any.whl", ">=3.6"),
        ("demo-1.0-py3-none-any.whl", None),
        ("demo-1.1-py3-none-any.whl", None),
    }
    (line,) = _said(caplog)
    assert "'>=3.6.*'" in line
    assert "kept" in line


def test_download_takes_a_release_whose_index_requires_python_is_invalid(
    cli: Cli, project: Path, index_server: IndexServer
) -> None:
    filename, data = make_wheel("lib", "1.0")
    index_server.add(filename, data, requires_python=">=3.6.*")
    result = cli("download", "--index-url", index_server.index_url, "--python", "3.12", "lib")
    assert result.exit_code == 0, result.output
    assert (project / "wheels" / filename).is_file()
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "'>=3.6.*'" in warnings[0]


# -- names no installer would pick -----------------------------------------------------------------------------

# The last one is an old release's name that pip splits after the project name (pytz 2013.9.post1), and a split
# at the last dash reads as project pytz-2013.9: not hostile, so no warning either.
_OLD_NAMES = (
    "pytz-2004d.tar.gz",
    "pytz-2004e.zip",
    "pytz-notaversion-py3-none-any.whl",
    "pytz-2004d.txt",
    "pytz-2013.9-1.tar.gz",
)


def _publish_pytz(srv: IndexServer) -> str:
    good = srv.add_wheel("pytz", "2024.1")
    _, junk = make_wheel("pytz", "0.1")
    for name in _OLD_NAMES:
        srv.add(name, junk, project="pytz")
    return good


def test_names_no_installer_would_pick_are_passed_over_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    from wheelhouse.index.config import IndexConfig
    from wheelhouse.index.finder import IndexFinder
    from wheelhouse.index.http import IndexClient

    caplog.set_level(logging.DEBUG, logger="wheelhouse")
    with IndexServer() as srv:
        good = _publish_pytz(srv)
        with IndexClient(IndexConfig(index_url=srv.index_url)) as client:
            files = IndexFinder(client).files(NormalizedName("pytz"))
    assert [f.filename for f in files] == [good]
    assert _said(caplog) == []
    (summary,) = _said(caplog, logging.INFO)
    assert summary.startswith(f"pytz: passed over {len(_OLD_NAMES)} listed files")
    assert len(_said(caplog, logging.DEBUG)) == len(_OLD_NAMES)


def test_an_sdist_of_a_project_whose_name_extends_this_ones_is_still_refused_out_loud(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Only a version may follow the project's name in an old-style name: ``pytz-deluxe-1.0.tar.gz`` listed for
    pytz belongs to pytz-deluxe, however pip splits it."""
    from wheelhouse.index.config import IndexConfig
    from wheelhouse.index.finder import IndexFinder
    from wheelhouse.index.http import IndexClient

    with IndexServer() as srv:
        good = srv.add_wheel("pytz", "2024.1")
        _, junk = make_wheel("pytz", "0.1")
        srv.add("pytz-deluxe-1.0.tar.gz", junk, project="pytz")
        with IndexClient(IndexConfig(index_url=srv.index_url)) as client:
            files = IndexFinder(client).files(NormalizedName("pytz"))
    assert [f.filename for f in files] == [good]
    (warning,) = _said(caplog)
    assert "skipped 'pytz-deluxe-1.0.tar.gz'" in warning
    assert "it belongs to pytz-deluxe" in warning


def test_download_says_nothing_of_old_names_by_default_and_one_line_with_v(
    cli: Cli, project: Path, index_server: IndexServer
) -> None:
    good = _publish_pytz(index_server)
    args = ("download", "--index-url", index_server.index_url, "--python", "3.12", "pytz")
    quiet = cli(*args)
    assert quiet.exit_code == 0, quiet.output
    assert (project / "wheels" / good).is_file()
    assert "pytz-2004d" not in quiet.stderr
    assert not [line for line in quiet.stderr.splitlines() if line.startswith("warning:")]
    # The same download again, without the wheel (a covered run asks the index nothing).
    (project / "wheels" / good).unlink()
    _log.forget()
    verbose = cli("-v", *args)
    assert verbose.exit_code == 0, verbose.output
    assert len([line for line in verbose.stderr.splitlines() if "pytz-2004d" in line]) == 1
