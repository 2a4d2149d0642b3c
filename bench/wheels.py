"""Build small, valid wheels and sdists in memory, for the tests and the benchmarks' generated index.

A wheel here is a real zip with ``METADATA``, ``WHEEL`` and a ``RECORD`` whose sha256 entries match, so pip,
the store and integrity checks treat it exactly like a downloaded wheel. No binary wheel is ever committed.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import io
import tarfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def metadata_text(
    name: str,
    version: str,
    *,
    requires_dist: Sequence[str] = (),
    requires_python: str | None = None,
    extras: Sequence[str] = (),
    summary: str | None = None,
    license: str | None = None,
) -> str:
    """The text of a core metadata file (``METADATA`` / ``PKG-INFO``)."""
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines.append(f"Summary: {summary or f'The {name} test package'}")
    if license:
        lines.append(f"License: {license}")
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines.extend(f"Provides-Extra: {extra}" for extra in extras)
    lines.extend(f"Requires-Dist: {req}" for req in requires_dist)
    return "\n".join(lines) + "\n\n"


def wheel_filename(name: str, version: str, tag: str = "py3-none-any", build: str | None = None) -> str:
    """The PEP 427 file name of a wheel."""
    dist = canonicalize_name(name).replace("-", "_")
    build_part = f"-{build}" if build else ""
    return f"{dist}-{version}{build_part}-{tag}.whl"


def make_wheel(
    name: str,
    version: str,
    *,
    tag: str = "py3-none-any",
    requires_dist: Sequence[str] = (),
    requires_python: str | None = None,
    extras: Sequence[str] = (),
    files: Mapping[str, bytes] | None = None,
    payload_size: int = 0,
    summary: str | None = None,
    license: str | None = None,
    build: str | None = None,
) -> tuple[str, bytes]:
    """Return ``(filename, bytes)`` of a valid wheel.

    ``tag`` may be a compressed tag set such as ``cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64``.
    ``payload_size`` adds an incompressible data file, for size-sensitive tests and benchmarks.
    """
    dist = canonicalize_name(name).replace("-", "_")
    distinfo = f"{dist}-{version}.dist-info"
    module = dist.lower()
    contents: dict[str, bytes] = {f"{module}/__init__.py": f"__version__ = {version!r}\n".encode()}
    if files:
        contents.update(files)
    if payload_size:
        # Deterministic but incompressible bytes: repeated sha256 blocks.
        blocks: list[bytes] = []
        seed = f"{name}-{version}-{tag}".encode()
        # A running total: summing the list on every pass made large payloads quadratic.
        total = 0
        while total < payload_size:
            seed = hashlib.sha256(seed).digest()
            blocks.append(seed)
            total += len(seed)
        contents[f"{module}/_payload.bin"] = b"".join(blocks)[:payload_size]
    meta = metadata_text(
        name,
        version,
        requires_dist=requires_dist,
        requires_python=requires_python,
        extras=extras,
        summary=summary,
        license=license,
    )
    wheel_lines = [
        "Wheel-Version: 1.0",
        "Generator: wheelhouse-tests",
        f"Root-Is-Purelib: {'true' if 'none-any' in tag else 'false'}",
    ]
    pys, abis, plats = tag.split("-")
    for py in pys.split("."):
        for abi in abis.split("."):
            for plat in plats.split("."):
                wheel_lines.append(f"Tag: {py}-{abi}-{plat}")
    if build:
        wheel_lines.append(f"Build: {build}")
    contents[f"{distinfo}/METADATA"] = meta.encode()
    contents[f"{distinfo}/WHEEL"] = ("\n".join(wheel_lines) + "\n").encode()
    record_lines = [f"{path},{_record_hash(data)},{len(data)}" for path, data in contents.items()]
    record_lines.append(f"{distinfo}/RECORD,,")
    contents[f"{distinfo}/RECORD"] = ("\n".join(record_lines) + "\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path, data in contents.items():
            info = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return wheel_filename(name, version, tag, build), buf.getvalue()


def write_wheel(directory: Path, name: str, version: str, **kwargs: object) -> Path:
    """Build a wheel with :func:`make_wheel` and write it into ``directory``."""
    filename, data = make_wheel(name, version, **kwargs)  # type: ignore[arg-type]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / filename
    path.write_bytes(data)
    return path


def make_sdist(
    name: str,
    version: str,
    *,
    requires_dist: Sequence[str] = (),
    setup_py: str | None = None,
    extra_files: Mapping[str, str] | None = None,
) -> tuple[str, bytes]:
    """Return ``(filename, bytes)`` of a buildable sdist (setuptools, pyproject.toml).

    The default project is pure Python; ``setup_py`` replaces the build (for a failing or C-extension build).
    """
    dist = canonicalize_name(name).replace("-", "_")
    root = f"{dist}-{version}"
    deps = ", ".join(f'"{d}"' for d in requires_dist)
    pyproject = (
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = [{deps}]\n\n'
        f'[tool.setuptools]\npackages = ["{dist.lower()}"]\n'
    )
    members: dict[str, str] = {
        f"{root}/pyproject.toml": pyproject,
        f"{root}/{dist.lower()}/__init__.py": f"__version__ = {version!r}\n",
        f"{root}/PKG-INFO": metadata_text(name, version, requires_dist=requires_dist),
    }
    if setup_py is not None:
        members[f"{root}/setup.py"] = setup_py
    for rel, text in (extra_files or {}).items():
        members[f"{root}/{rel}"] = text
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for path, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 1704067200
            tf.addfile(info, io.BytesIO(data))
    return f"{root}.tar.gz", buf.getvalue()


def tags_of(filenames: Iterable[str]) -> list[str]:
    """The tag triple of each wheel file name, for assertions."""
    return ["-".join(f[: -len(".whl")].split("-")[-3:]) for f in filenames]


def repack_installed(project: str, site: str | None = None) -> tuple[str, bytes]:
    """A wheel of an installed pure-Python distribution, rebuilt from its RECORD (no network needed): the one this
    interpreter imports, or the one installed in the ``site`` directory."""
    if site is None:
        dist = importlib.metadata.distribution(project)
    else:
        found = list(importlib.metadata.distributions(name=project, path=[site]))
        if not found:
            raise RuntimeError(f"{project} is not installed in {site}")
        dist = found[0]
    files = [f for f in dist.files or () if not str(f).startswith("..") and "__pycache__" not in str(f)]
    dist_info = next(str(f).split("/")[0] for f in files if str(f).endswith(".dist-info/METADATA"))
    skip = {f"{dist_info}/{n}" for n in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")}
    rows: list[str] = []
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            if str(f) in skip:
                continue
            data = Path(str(dist.locate_file(f))).read_bytes()
            zf.writestr(str(f), data)
            rows.append(f"{f},{_record_hash(data)},{len(data)}")
        rows.append(f"{dist_info}/RECORD,,")
        zf.writestr(f"{dist_info}/RECORD", "\n".join(rows) + "\n")
    name = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    return f"{name}-{dist.version}-py3-none-any.whl", buf.getvalue()
