"""A wheel's METADATA read from its zip without zipfile: the same names and bytes as zipfile for every plain zip,
and None (zipfile then decides) for everything it reads another way or refuses."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable

import pytest

from tests.support.wheels import make_wheel
from wheelhouse.index.zipread import plain_zip


def _zip(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED, comment: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.comment = comment
    return buffer.getvalue()


def _same_as_zipfile(data: bytes) -> None:
    """plain_zip reads ``data`` exactly as zipfile does, member by member."""
    plain = plain_zip(io.BytesIO(data), len(data))
    assert plain is not None
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert list(plain.names) == zf.namelist()
        for name in zf.namelist():
            assert plain.size(name) == zf.getinfo(name).file_size
            assert plain.read(name) == zf.read(name)


def test_wheels_read_as_zipfile_reads_them() -> None:
    _, wheel = make_wheel("lib", "1.0", requires_dist=["dep>=1"])
    _same_as_zipfile(wheel)


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_many_members_utf8_names_comments_and_empty_files(compression: int) -> None:
    members = {f"pkg/m{i}.py": f"x = {i}\n".encode() * (i % 7) for i in range(300)}
    members["pkg/caf\u00e9.txt"] = "\u00e9t\u00e9".encode()
    members["lib-1.0.dist-info/METADATA"] = b"Name: lib\nVersion: 1.0\n"
    _same_as_zipfile(_zip(members, compression=compression, comment=b"a comment"))
    _same_as_zipfile(_zip({}, compression=compression))


def test_a_duplicate_name_reads_its_last_entry_as_zipfile_does() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("a", b"first")
        with pytest.warns(UserWarning, match="Duplicate name"):
            zf.writestr("a", b"second")
    _same_as_zipfile(buffer.getvalue())


def _refused_or_left(data: bytes, name: str = "a") -> None:
    """plain_zip leaves ``data`` (or its member) to zipfile."""
    plain = plain_zip(io.BytesIO(data), len(data))
    assert plain is None or plain.read(name) is None


def _replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) >= 1
    return data.replace(old, new, 1)


def _patch_flag_bits(data: bytes, bits: int) -> bytes:
    # The flag bits of the first local header and of the first directory entry.
    out = bytearray(data)
    local = data.index(b"PK\x03\x04")
    struct.pack_into("<H", out, local + 6, struct.unpack_from("<H", data, local + 6)[0] | bits)
    entry = data.index(b"PK\x01\x02")
    struct.pack_into("<H", out, entry + 8, struct.unpack_from("<H", data, entry + 8)[0] | bits)
    return bytes(out)


_CASES: dict[str, Callable[[bytes], bytes]] = {
    "data before the archive": lambda z: b"#!/bin/sh\nexit 0\n" + z,
    "a corrupted member (CRC)": lambda z: _replace_once(z, zlib.compress(b"payload" * 50)[2:8], b"\0" * 6),
    "a local name that is not the directory's": lambda z: (
        _replace_once(z, b"PK\x03\x04", b"PK\x03\x04")[:30] + b"b" + z[31:]
    ),
    "encrypted": lambda z: _patch_flag_bits(z, 0x1),
    "strong encryption": lambda z: _patch_flag_bits(z, 0x40),
    "a truncated directory": lambda z: z[: z.index(b"PK\x01\x02") + 20] + z[z.index(b"PK\x05\x06") :],
    "not a zip at all": lambda z: b"hello",
}


@pytest.mark.parametrize("case", list(_CASES))
def test_what_zipfile_reads_another_way_or_refuses_is_left_to_it(case: str) -> None:
    data = _CASES[case](_zip({"a": b"payload" * 50}))
    _refused_or_left(data)


@pytest.mark.parametrize("limit", ["ZIP_FILECOUNT_LIMIT", "ZIP64_LIMIT"])
def test_zip64_records_are_left_to_zipfile(monkeypatch: pytest.MonkeyPatch, limit: str) -> None:
    """A zip64 end record (more entries than the plain record counts), or zip64 sizes in the directory."""
    with monkeypatch.context() as patched:
        patched.setattr(zipfile, limit, 1)
        data = _zip({"a": b"payload", "b": b"more"})
    assert plain_zip(io.BytesIO(data), len(data)) is None
    assert zipfile.ZipFile(io.BytesIO(data)).read("a") == b"payload"


def test_a_name_with_a_nul_or_a_malformed_extra_field_is_left_to_zipfile() -> None:
    data = _zip({"ab": b"payload"})
    _refused_or_left(data.replace(b"ab", b"a\0"), "a")
    # An extra field that says it is longer than it is: zipfile refuses the archive.
    entry = bytearray(_zip({"a": b"payload"}))
    at = entry.index(b"PK\x01\x02")
    name_length = struct.unpack_from("<H", entry, at + 28)[0]
    struct.pack_into("<H", entry, at + 30, 4)  # extra length 4
    malformed = (
        bytes(entry[: at + 46 + name_length]) + struct.pack("<HH", 0x5455, 99) + bytes(entry[at + 46 + name_length :])
    )
    malformed = _fix_directory(malformed, 4)
    assert plain_zip(io.BytesIO(malformed), len(malformed)) is None
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(malformed))


def _fix_directory(data: bytes, grown: int) -> bytes:
    """The end record of ``data`` with the directory ``grown`` bytes longer."""
    out = bytearray(data)
    at = data.rindex(b"PK\x05\x06")
    size = struct.unpack_from("<L", data, at + 12)[0]
    struct.pack_into("<L", out, at + 12, size + grown)
    return bytes(out)
