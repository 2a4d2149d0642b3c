"""Core metadata read without the email package gives what the email package gives: for real METADATA files (every
distribution installed beside the tests), and for the texts where the two could part (continuation lines, a
carriage return, a line that is no field, no blank line before the description). What the fast reading does not
take plainly goes to the email package."""

from __future__ import annotations

import importlib.metadata

import pytest

from wheelhouse.dists import CoreMetadata, _plain_fields, metadata_message, parse_core_metadata


def _by_email(data: bytes) -> CoreMetadata | str:
    """The reading of core metadata through the email package alone, or the error it ends with."""
    msg = metadata_message(data)
    name, version = msg.get("Name"), msg.get("Version")
    if not name or not version:
        return "no Name or Version"
    return CoreMetadata(
        name=str(name).strip(),
        version=str(version).strip(),
        requires_dist=tuple(str(v).strip() for v in msg.get_all("Requires-Dist") or ()),
        requires_python=(str(msg["Requires-Python"]).strip() or None) if msg.get("Requires-Python") else None,
        provides_extra=tuple(str(v).strip().lower().replace("_", "-") for v in msg.get_all("Provides-Extra") or ()),
    )


def _parsed(data: bytes) -> CoreMetadata | str:
    try:
        return parse_core_metadata(data)
    except ValueError as exc:
        return "no Name or Version" if "no Name or Version" in str(exc) else str(exc)


def _installed_metadata() -> list[bytes]:
    found = []
    for dist in importlib.metadata.distributions():
        text = dist.read_text("METADATA")
        if text:
            found.append(text.encode())
    return found


def test_every_installed_distributions_metadata_reads_the_same_and_plainly() -> None:
    samples = _installed_metadata()
    assert len(samples) > 20
    for data in samples:
        assert _parsed(data) == _by_email(data)
        # Real METADATA files are plain: the fast reading takes them all.
        assert _plain_fields(data.decode("utf-8", errors="replace")) is not None


@pytest.mark.parametrize(
    "text",
    [
        "Name: a\nVersion: 1\n",
        "Name: a\nVersion: 1",
        "Name: a\nVersion: 1\n\nbody: with a colon\nName: b\n",
        "name: a\nVERSION: 1\nrequires-dist: b\nRequires-Dist: c ; extra == 'x'\n",
        "Name: a\nVersion: 1\nRequires-Dist: b\n  >=1\n",  # a continuation line
        "Name: a\nVersion: 1\nRequires-Dist: b\n\t; python_version < '3'\n",
        "Name:a\nVersion:\t1  \nRequires-Python: >=3.8  \n",
        "Name: a\nVersion: 1\nRequires-Python:\n",
        "Name: a\r\nVersion: 1\r\nRequires-Dist: b\r\n",  # carriage returns: the email package reads it
        "Name: a\nVersion: 1\nthis line is no field\nRequires-Dist: b\n",
        "Name: a\nVersion 1\n",
        "From nobody\nName: a\nVersion: 1\n",
        " Name: a\nVersion: 1\n",
        ": empty\nName: a\nVersion: 1\n",
        "\nName: a\nVersion: 1\n",
        "Name: a\nName: b\nVersion: 1\nVersion: 2\nProvides-Extra: Fancy_Thing\n",
        "Name: \u00e9t\u00e9\nVersion: 1\nSummary: caf\u00e9\n",
        "",
        "Version: 1\n",
        "Name: a\nVersion: 1\n\n",
        "Name: a\n\nVersion: 1\n",
    ],
)
def test_a_text_reads_as_the_email_package_reads_it(text: str) -> None:
    data = text.encode()
    assert _parsed(data) == _by_email(data)


def test_invalid_utf8_reads_the_same() -> None:
    data = b"Name: a\xff\nVersion: 1\nRequires-Dist: b\xfe\n"
    assert _parsed(data) == _by_email(data)
