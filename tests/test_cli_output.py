"""What the commands print: strings from wheels and bundles cannot drive the terminal, piped tables carry no
padding, counts and sizes have one spelling."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.index_server import IndexServer
from tests.support.wheels import write_wheel
from wheelhouse.cli._reports import text

ESC = "\x1b"
TARGET = ("--target", "linux/amd64", "--python", "3.12")


def _no_escapes(output: str) -> None:
    assert ESC not in output
    assert "\x07" not in output


def test_text_escapes_control_characters_and_markup() -> None:
    assert text("a\x1b[2Jb [bold]x[/]") == "a\\x1b[2Jb \\[bold]x\\[/]"


def test_show_does_not_pass_escapes_from_metadata(cli: Cli, project: Path) -> None:
    write_wheel(
        project / "wheels",
        "evil",
        "1.0",
        summary="innocent\x1b[2J\x1b]0;owned\x07",
        license="\x1b[31mMIT [bold]x[/]",
        requires_dist=["dep"],
    )
    result = cli("show", "evil")
    assert result.exit_code == 0, result.output
    _no_escapes(result.output)
    assert "innocent\\x1b[2J\\x1b]0;owned\\x07" in result.output
    assert "\\x1b[31mMIT [bold]x[/]" in result.output  # rich markup in a file prints as it is written
    # --json keeps the value as it is: a program reads it, not a terminal.
    data = json.loads(cli("show", "evil", "--json").stdout)
    assert data["wheels"][0]["summary"] == "innocent\x1b[2J\x1b]0;owned\x07"


def test_list_and_show_do_not_pass_escapes_from_the_records(cli: Cli, project: Path) -> None:
    from wheelhouse.store.folder import FileRecord, Store

    path = write_wheel(project / "wheels", "pkg", "1.0")
    Store(project / "wheels").update_records(
        {
            path.name: FileRecord(
                sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                url="http://127.0.0.1:1/\x1b[2Jpkg.whl",
                targets=("cp312\x1b]0;owned\x07",),
                sources=("req\x1b[31m.txt",),
            )
        }
    )
    listed = cli("list")
    assert listed.exit_code == 0, listed.output
    _no_escapes(listed.output)
    assert "cp312\\x1b]0;owned\\x07" in listed.output
    shown = cli("show", "pkg")
    assert shown.exit_code == 0, shown.output
    _no_escapes(shown.output)
    assert "req\\x1b[31m.txt" in shown.output


def test_import_does_not_pass_escapes_from_a_bundle_manifest(cli: Cli, project: Path, tmp_path: Path) -> None:
    from wheelhouse.share.bundle import export_bundle
    from wheelhouse.store.folder import FileRecord, Store

    source = tmp_path / "source"
    path = write_wheel(source, "pkg", "1.0")
    store = Store(source)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    store.update_records(
        {path.name: FileRecord(sha256=sha256, url="http://127.0.0.1:1/\x1b[2J", targets=("t\x1b[5m",))}
    )
    bundle = tmp_path / "bundle.tar"
    export_bundle(store, bundle, None, targets=["cp312\x1b]0;owned\x07"])

    result = cli("-v", "import", str(bundle))
    assert result.exit_code == 0, result.output
    _no_escapes(result.output)
    # Not a target name: dropped, never suggested as a command.
    assert "owned" not in result.output
    shown = cli("show", "pkg")
    _no_escapes(shown.output)
    assert "http://127.0.0.1:1/\\x1b[2J" in shown.output


def test_show_piped_has_no_trailing_padding(cli: Cli, project: Path) -> None:
    write_wheel(project / "wheels", "pkg", "1.0", summary="a summary " + "long " * 30, requires_dist=["dep"])
    for command in (("show", "pkg"), ("list",), ("config",)):
        result = cli(*command)
        assert result.exit_code == 0, result.output
        padded = [line for line in result.stdout.splitlines() if line != line.rstrip()]
        assert padded == [], command


def test_one_download_says_one_file(cli: Cli, project: Path, index_server: IndexServer) -> None:
    index_server.add_wheel("pkg", "1.0")
    result = cli("download", "--index-url", index_server.index_url, "pkg", *TARGET)
    assert result.exit_code == 0, result.output
    assert "downloaded 1 file (" in result.output
    assert "1 files" not in result.output


def test_the_command_warnings_go_through_the_diagnostics_channel(
    cli: Cli, project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_wheel(project / "wheels", "pkg", "1.0")
    (project / "wheels" / "broken-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    with caplog.at_level(logging.WARNING, logger="wheelhouse"):
        result = cli("list")
    assert result.exit_code == 0, result.output
    assert "warning: wheels/broken-1.0-py3-none-any.whl:" in result.output
    assert any("broken-1.0-py3-none-any.whl" in r.getMessage() for r in caplog.records)


def test_a_download_from_an_index_without_sizes_does_not_claim_zero_bytes(cli: Cli, project: Path) -> None:
    # A PEP 503 page lists no sizes: nothing is known before the bytes arrive, so nothing is claimed.
    with IndexServer(json_api=False, html_api=True) as srv:
        srv.add_wheel("pkg", "1.0")
        (project / "requirements.txt").write_text("pkg\n")
        result = cli("download", "--index-url", srv.index_url, "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 0, result.output
    assert "0 B" not in result.output
    assert "1 file to download, 0 already present" in result.output
    assert "downloaded pkg-1.0-py3-none-any.whl\n" in result.output


def test_a_pattern_matching_nothing_counts_the_wheels_in_the_right_number(cli: Cli, project: Path) -> None:
    write_wheel(project / "wheels", "pkg", "1.0")
    result = cli("list", "nothing*")
    assert "(1 wheel in all)" in result.output


def test_show_says_just_now_without_ago(cli: Cli, project: Path, index_server: IndexServer) -> None:
    index_server.add_wheel("pkg", "1.0")
    (project / "requirements.txt").write_text("pkg\n")
    target = ("--target", "linux/amd64", "--python", "3.12")
    assert cli("download", "--index-url", index_server.index_url, *target).exit_code == 0
    shown = cli("show", "pkg")
    assert "(just now)" in shown.output
    assert "just now ago" not in shown.output
