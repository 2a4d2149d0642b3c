"""The one reader of a wheel's core metadata (its ``.dist-info/METADATA``).

Contract: which member of a wheel is its METADATA is decided here, and only here, for every caller (the folder
scan, the remote index reading a wheel over HTTP, the static index publishing PEP 658 files, the integrity
check). The rule is pip's, so that a wheel wheelhouse reads is a wheel pip installs:

* the archive has exactly one top-level ``*.dist-info`` directory (pip refuses a wheel with none or several);
* that directory's normalized name starts with the project named by the wheel's file name;
* it holds ``METADATA``, read bounded by :data:`wheelhouse.dists.MAX_METADATA_BYTES` whatever its header says.

:func:`read_wheel_metadata` also requires that METADATA names the project and version of the file name.
Every refusal is a :class:`MetadataProblem` (a ValueError) carrying one line that names the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name, canonicalize_version

from wheelhouse.dists import MAX_METADATA_BYTES, CoreMetadata, parse_core_metadata

if TYPE_CHECKING:
    import zipfile

__all__ = [
    "MetadataProblem",
    "check_metadata_names_file",
    "find_metadata_member",
    "locate_metadata_member",
    "read_metadata_member",
    "read_wheel_metadata",
]


class MetadataProblem(ValueError):
    """A wheel whose METADATA cannot be located or does not match its file name; the message is one line."""


def _project(filename: str) -> str:
    # A wheel's file name escapes "-" inside the project name, so the first field is the whole project.
    return canonicalize_name(filename.split("-", 1)[0])


def _dist_info_dir(names: Iterable[str]) -> str:
    """The archive's one top-level ``.dist-info`` directory (pip's count rule)."""
    dirs = sorted({name.split("/", 1)[0] for name in names if name.split("/", 1)[0].endswith(".dist-info")})
    if not dirs:
        raise MetadataProblem("no .dist-info/METADATA in the wheel")
    if len(dirs) > 1:
        raise MetadataProblem(f"more than one .dist-info directory in the wheel ({', '.join(dirs)})")
    return dirs[0]


def _check_dir_name(dist_info: str, filename: str) -> None:
    # pip's own test: the directory's normalized name must start with the normalized project name.
    if not canonicalize_name(dist_info).startswith(_project(filename)):
        raise MetadataProblem(f"its .dist-info directory {dist_info} is not named for {_project(filename)}")


def _member(dist_info: str, names: Iterable[str]) -> str:
    member = f"{dist_info}/METADATA"
    if member not in set(names):
        raise MetadataProblem(f"no METADATA in {dist_info}")
    return member


def locate_metadata_member(names: Iterable[str], filename: str) -> str:
    """The METADATA member among a wheel's member ``names``; MetadataProblem when the wheel breaks the rule."""
    names = list(names)
    dist_info = _dist_info_dir(names)
    _check_dir_name(dist_info, filename)
    return _member(dist_info, names)


def find_metadata_member(names: Iterable[str], filename: str) -> str | None:
    """The METADATA member among a wheel's member ``names``, or None when the wheel breaks the rule."""
    try:
        return locate_metadata_member(names, filename)
    except MetadataProblem:
        return None


def check_metadata_names_file(meta: CoreMetadata, filename: str) -> None:
    """MetadataProblem unless ``meta`` names the project and version that the wheel's ``filename`` carries."""
    parts = filename.split("-")
    name, version = parts[0], parts[1] if len(parts) > 1 else ""
    if canonicalize_name(meta.name) != canonicalize_name(name) or canonicalize_version(
        meta.version
    ) != canonicalize_version(version):
        raise MetadataProblem(
            f"METADATA says {meta.name} {meta.version} but the file name says {canonicalize_name(name)} {version}"
        )


def read_metadata_member(zf: zipfile.ZipFile, filename: str) -> bytes:
    """The bytes of an open wheel's METADATA, bounded; MetadataProblem with a one-line reason."""
    member = locate_metadata_member(zf.namelist(), filename)
    return _read_bounded(zf, member)


def _read_bounded(zf: zipfile.ZipFile, member: str) -> bytes:
    info = zf.getinfo(member)
    if info.file_size > MAX_METADATA_BYTES:
        raise MetadataProblem(f"METADATA is {info.file_size} bytes, over the {MAX_METADATA_BYTES} byte limit")
    with zf.open(info) as fh:
        # One byte past the limit, so a header that lies about the size cannot make us allocate without bound.
        data = fh.read(MAX_METADATA_BYTES + 1)
    if len(data) > MAX_METADATA_BYTES:
        raise MetadataProblem(f"METADATA is over the {MAX_METADATA_BYTES} byte limit")
    return data


def read_wheel_metadata(path: Path, filename: str | None = None) -> CoreMetadata:
    """The parsed METADATA of the wheel at ``path``, checked against its file name; MetadataProblem otherwise.

    ``filename`` is the wheel's name when ``path`` is a temporary file; by default it is ``path.name``.
    """
    # Imported here: a scan over a warm manifest (every verify but the first) opens no wheel.
    import zipfile

    filename = filename or path.name
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            dist_info = _dist_info_dir(names)
            data = _read_bounded(zf, _member(dist_info, names))
    except zipfile.BadZipFile as exc:
        raise MetadataProblem(f"not a readable zip file ({exc})") from None
    except (OSError, EOFError, RuntimeError, NotImplementedError) as exc:
        raise MetadataProblem(f"cannot read the wheel ({exc})") from None
    try:
        meta = parse_core_metadata(data)
    except MetadataProblem:
        raise
    except ValueError as exc:
        raise MetadataProblem(str(exc)) from None
    # A project or version mismatch is the clearer message, so it is checked before the directory's name.
    check_metadata_names_file(meta, filename)
    _check_dir_name(dist_info, filename)
    return meta
