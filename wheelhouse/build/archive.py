"""Reading source distributions without building them: one member of the archive, the ``PKG-INFO`` resolution
may trust, and the static build requirements.

Every format pip accepts is read the same way (``dists.SDIST_SUFFIXES``: ``.tar.gz`` as PEP 625 asks, and the
legacy ``.tgz``, ``.tar.bz2``, ``.tbz``, ``.tar.xz``, ``.txz``, ``.tar`` and ``.zip`` some old releases publish
alone): a zip archive with :mod:`zipfile`, every tar archive with :mod:`tarfile`, whose ``r:*`` mode reads plain,
gzip, bzip2 and xz archives alike.

Contract: an sdist is only read, never extracted; only a regular member directly below the archive's single
top-level directory counts, and every read is bounded, so a hostile archive can neither write a file nor make
wheelhouse read a gigabyte. An unreadable archive raises ``ValueError`` with a one-line reason.

Metadata of an sdist candidate comes from its ``PKG-INFO`` only when that is trustworthy (PEP 643:
Metadata-Version 2.2 or later, and Requires-Dist, Requires-Python and Provides-Extra not ``Dynamic``);
otherwise ``build.metadata`` asks the build backend.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from wheelhouse.dists import MAX_METADATA_BYTES, CoreMetadata, DistFile, parse_core_metadata, sdist_suffix

__all__ = ["build_requirements", "read_sdist_member", "same_release", "sdist_stem", "static_metadata"]

# PEP 517's fallback when an sdist has no [build-system] table, as pip applies it.
LEGACY_BUILD_REQUIRES = ("setuptools>=40.8.0", "wheel")
# Core-metadata fields resolution depends on: when any of them is Dynamic (PEP 643), PKG-INFO cannot be trusted.
_RESOLUTION_FIELDS = frozenset({"requires-dist", "requires-python", "provides-extra"})
_MAX_PYPROJECT_BYTES = 1024 * 1024


def sdist_stem(filename: str) -> str:
    """The file name without its archive suffix (``x-1.0.tar.bz2`` -> ``x-1.0``), for log names."""
    suffix = sdist_suffix(filename)
    return filename[: -len(suffix)] if suffix else filename


def read_sdist_member(path: Path, member: str, *, limit: int = MAX_METADATA_BYTES) -> bytes | None:
    """The bytes of ``<top>/<member>`` in an sdist of any format pip accepts, or None when absent.

    Only a regular member directly below the single top-level directory counts; a member larger than ``limit``
    raises ValueError, as does an unreadable archive.
    """
    import tarfile  # here, like the other imports only sdists need: a download without them does not pay

    try:
        if path.name.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    parts = info.filename.split("/")
                    if len(parts) == 2 and parts[1] == member and not info.is_dir():
                        if info.file_size > limit:
                            raise ValueError(f"{member} in {path.name} is larger than {limit} bytes")
                        with zf.open(info) as fh:
                            return fh.read(limit)
            return None
        with tarfile.open(path, "r:*") as tf:
            for tinfo in tf:
                parts = tinfo.name.removeprefix("./").split("/")
                if len(parts) == 2 and parts[1] == member and tinfo.isfile():
                    if tinfo.size > limit:
                        raise ValueError(f"{member} in {path.name} is larger than {limit} bytes")
                    extracted = tf.extractfile(tinfo)
                    if extracted is None:
                        return None
                    with extracted:
                        return extracted.read(limit)
        return None
    # A compression this Python was built without (no lzma module) is a TarError too: the file is then unreadable
    # here, said in one line, rather than a crash.
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ValueError(f"{path.name} is not a readable source archive ({exc})") from None


def static_metadata(path: Path, dist: DistFile) -> CoreMetadata | None:
    """``PKG-INFO`` of the sdist when resolution may trust it (PEP 643), else None.

    Trusted: Metadata-Version 2.2 or later, none of Requires-Dist / Requires-Python / Provides-Extra declared
    Dynamic, and the name and version those of the file name.
    """
    data = read_sdist_member(path, "PKG-INFO")
    if data is None:
        return None
    import email.parser

    text = data.decode("utf-8", errors="replace")
    headers = email.parser.HeaderParser().parsestr(text)  # compat32, its default: values verbatim
    try:
        metadata_version = Version(str(headers.get("Metadata-Version", "0")).strip())
    except InvalidVersion:
        return None
    if metadata_version < Version("2.2"):
        return None
    dynamic = {str(v).strip().lower() for v in headers.get_all("Dynamic") or ()}
    if dynamic & _RESOLUTION_FIELDS:
        return None
    try:
        meta = parse_core_metadata(data, source=f"PKG-INFO of {dist.filename}")
    except ValueError:
        return None
    if not same_release(meta, dist):
        return None
    return meta


def build_requirements(path: Path) -> tuple[str, ...]:
    """The static ``[build-system] requires`` of an sdist (PEP 518), or pip's fallback when there is none."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
    try:
        data = read_sdist_member(path, "pyproject.toml", limit=_MAX_PYPROJECT_BYTES)
    except ValueError:
        return LEGACY_BUILD_REQUIRES
    if data is None:
        return LEGACY_BUILD_REQUIRES
    try:
        table = tomllib.loads(data.decode("utf-8", errors="replace")).get("build-system")
    except (tomllib.TOMLDecodeError, RecursionError):  # nested past the parser's recursion: not readable either
        return LEGACY_BUILD_REQUIRES
    if not isinstance(table, dict) or "requires" not in table:
        return LEGACY_BUILD_REQUIRES
    requires = table["requires"]
    if not isinstance(requires, list):
        return ()
    return tuple(str(r) for r in requires if isinstance(r, str))


def same_release(meta: CoreMetadata, dist: DistFile) -> bool:
    """Whether ``meta`` names the project and version of the file ``dist``."""
    try:
        return canonicalize_name(meta.name) == dist.name and Version(meta.version) == dist.version
    except InvalidVersion:
        return False
