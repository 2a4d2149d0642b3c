"""A PEP 691 JSON page's entries read the same whichever reader takes the page: the typed decoding a page of the
common shape goes through, or the entry-by-entry reading of any other page. Each case is an entry of a shape an
index may serve (PEP 691, 658, 714, 592); the expected file is what pip would make of it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wheelhouse.index.pages import Listing, RemoteFile, parse_json_page

PAGE = "https://index.example/simple/demo/"
INDEX = "https://index.example/simple"
URL = "https://files.example/demo-1.0-py3-none-any.whl"
NAME = "demo-1.0-py3-none-any.whl"
SHA = "ab" * 32


def _entry(**fields: Any) -> dict[str, Any]:
    return {"filename": NAME, "url": URL, **fields}


CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("bare", _entry(), {}),
    ("hashes", _entry(hashes={"sha256": SHA.upper(), "md5": "00"}), {"sha256": SHA}),
    ("hashes without sha256", _entry(hashes={"md5": "00"}), {}),
    ("hashes of another type", _entry(hashes=["sha256", SHA]), {}),
    ("a sha256 of another type", _entry(hashes={"sha256": 5}), {}),
    ("requires-python", _entry(**{"requires-python": " >=3.8 "}), {"requires_python": ">=3.8"}),
    ("yanked with a reason", _entry(yanked="broken"), {"yanked": "broken"}),
    ("yanked without one", _entry(yanked=True), {"yanked": ""}),
    ("not yanked", _entry(yanked=False), {}),
    ("size", _entry(size=1234), {"size": 1234}),
    ("core-metadata true", _entry(**{"core-metadata": True}), {"core_metadata": True}),
    (
        "core-metadata with a hash",
        _entry(**{"core-metadata": {"sha256": SHA.upper()}}),
        {"core_metadata": True, "metadata_sha256": SHA},
    ),
    ("core-metadata false", _entry(**{"core-metadata": False}), {}),
    ("core-metadata null", _entry(**{"core-metadata": None}), {}),
    (
        "dist-info-metadata only",
        _entry(**{"dist-info-metadata": {"sha256": SHA}}),
        {"core_metadata": True, "metadata_sha256": SHA},
    ),
    # PEP 714: the new name wins over the old one, even when it says no.
    ("both names disagree", _entry(**{"core-metadata": False, "dist-info-metadata": True}), {}),
    (
        "relative url",
        {"filename": NAME, "url": "../../files/demo.whl#sha256=00"},
        {"url": "https://index.example/files/demo.whl"},
    ),
]


def _expected(fields: dict[str, Any]) -> RemoteFile:
    return RemoteFile(**{"filename": NAME, "url": URL, "index_url": INDEX, **fields})


def _by_entries(files: list[Any]) -> list[RemoteFile]:
    """The entry-by-entry reading (what a page that fails the typed decoding gets)."""
    listing = Listing()
    listing._add_items(files, PAGE, INDEX)
    return list(listing.files())


@pytest.mark.parametrize(("entry", "fields"), [(e, f) for _, e, f in CASES], ids=[c[0] for c in CASES])
def test_a_json_entry_reads_the_same_through_both_readers(entry: dict[str, Any], fields: dict[str, Any]) -> None:
    page = json.dumps({"meta": {"api-version": "1.1"}, "files": [entry]}).encode()
    assert parse_json_page(page, PAGE, INDEX) == [_expected(fields)]
    assert _by_entries([entry]) == [_expected(fields)]


def test_a_page_of_every_case_reads_the_same_through_both_readers() -> None:
    # One page: the typed reader decodes the nested values of each entry lazily, entry by entry.
    entries = [dict(entry, url=f"https://files.example/{i}/{NAME}") for i, (_, entry, _) in enumerate(CASES)]
    page = json.dumps({"files": entries}).encode()
    typed = parse_json_page(page, PAGE, INDEX)
    assert typed == _by_entries(entries)
    assert [f.sha256 for f in typed][:2] == [None, SHA]


def test_a_page_of_another_shape_is_read_entry_by_entry() -> None:
    # A filename of the wrong type fails the typed decoding; the page's other entries are kept.
    page = json.dumps({"files": [{"filename": 5, "url": URL}, {"filename": NAME, "url": URL}]}).encode()
    assert parse_json_page(page, PAGE, INDEX) == [_expected({})]


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param([{"filename": "", "url": URL}, {"filename": "", "url": URL}], id="typed, empty names"),
        pytest.param([5, {"filename": 5, "url": URL}, {"filename": NAME, "url": 7}], id="decoded, wrong types"),
    ],
)
def test_malformed_entries_are_skipped_and_said_once_per_page(
    broken: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    page = json.dumps({"files": [*broken, {"filename": NAME, "url": URL}]}).encode()
    assert parse_json_page(page, PAGE, INDEX) == [_expected({})]
    said = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert said == [f"{PAGE}: skipping a malformed file entry"]


def test_a_page_of_plain_entries_lists_what_the_entry_by_entry_reading_lists() -> None:
    """Most pages list every file by an absolute URL, once: they are taken in a few passes over all entries. A
    page with one entry that is not plain (a relative URL) is read entry by entry. Both list the same files, in
    the page's order, without the irrelevant ones and without a URL listed already."""
    names = [
        "demo-1.0-py3-none-any.whl",
        "demo-1.0-cp312-cp312-win_amd64.whl",  # no Linux target can use it: not listed
        "demo-1.0.tar.gz",
        "demo-1.0-py2.7.egg",  # a format never installed: not listed
        "demo-1.1-cp312-cp312-manylinux_2_17_x86_64.whl",
        "demo-1.1-cp312-cp312-macosx_11_0_arm64.whl",
    ]
    files = [{"filename": n, "url": f"https://files.example/{n}"} for n in names]
    plain = Listing()
    plain.add_json(json.dumps({"meta": {"api-version": "1.0"}, "files": files}).encode(), PAGE, INDEX)
    odd = Listing()
    relative = {"filename": "demo-0.9.tar.gz", "url": "../../files/demo-0.9.tar.gz"}
    odd.add_json(json.dumps({"meta": {"api-version": "1.0"}, "files": [*files, relative]}).encode(), PAGE, INDEX)
    kept = [0, 2, 4]
    assert plain.filenames == [names[i] for i in kept]
    assert odd.filenames == [*plain.filenames, "demo-0.9.tar.gz"]
    assert [plain.file(i) for i in range(3)] == [odd.file(i) for i in range(3)]
    assert odd.file(3).url == "https://index.example/files/demo-0.9.tar.gz"
    # The same page again (an index and a find-links page that overlap): nothing is listed twice.
    plain.add_json(json.dumps({"meta": {"api-version": "1.0"}, "files": files}).encode(), PAGE, INDEX)
    assert len(plain) == 3


def test_a_name_with_a_path_is_kept_for_the_finder_to_refuse_even_when_its_platform_is_skipped() -> None:
    files = [
        {"filename": "demo-1.0-py3-none-any.whl", "url": "https://files.example/a.whl"},
        {"filename": "../demo-1.0-cp312-cp312-win_amd64.whl", "url": "https://files.example/b.whl"},
        {"filename": "demo-1.0-cp312-cp312-win_amd64.whl", "url": "https://files.example/c.whl"},
    ]
    listing = Listing()
    listing.add_json(json.dumps({"meta": {"api-version": "1.0"}, "files": files}).encode(), PAGE, INDEX)
    assert listing.filenames == ["demo-1.0-py3-none-any.whl", "../demo-1.0-cp312-cp312-win_amd64.whl"]
