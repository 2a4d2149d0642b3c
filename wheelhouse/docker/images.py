"""Base images: what can be told about the Python inside an image, which image a target gets by default, and
whether an image fits a target.

Contract: nothing here runs Docker. :func:`parse_base_image` reads what a reference says (an official
``python:X.Y[-variant]`` tag, or the Python the user declared); ``docker.client.DockerClient.probe_image``
learns the rest by running the image. :func:`check_base_image` refuses, with the fix as a hint, an image whose
Python, libc or architecture differs from the target's, because the wheels verify checked would not load there;
it returns warnings for differences that are allowed. The Dockerfile renderer, the ``build`` command and sdist
builds in containers all take their images from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wheelhouse.errors import UsageError
from wheelhouse.targets import Target, parse_python

__all__ = ["BaseImage", "check_base_image", "default_base_image", "parse_base_image"]

# Official images: python:<X.Y[.Z][pre]>[-variant], possibly spelled with the registry and library/ prefix.
_OFFICIAL_REPOSITORIES = {"python", "library/python", "docker.io/library/python", "index.docker.io/library/python"}
_OFFICIAL_TAG_RE = re.compile(
    r"^(?P<major>3)\.(?P<minor>\d{1,2})(?:\.(?P<patch>\d{1,3}))?(?:(?:a|b|rc)\d+)?(?P<variant>-.+)?$"
)
# glibc of the Debian releases official images are built on: a manylinux_2_X wheel needs glibc >= 2.X.
_DEBIAN_GLIBC: dict[str, tuple[int, int]] = {
    "stretch": (2, 24),
    "buster": (2, 28),
    "bullseye": (2, 31),
    "bookworm": (2, 36),
    "trixie": (2, 41),
}


@dataclass(frozen=True)
class BaseImage:
    """A base image and what is known about the Python inside it.

    ``source`` says how it is known: ``tag`` (an official ``python:X.Y`` tag), ``declared`` (``--base-python``),
    ``probed`` (run in Docker) or ``unknown``.
    """

    reference: str
    python: tuple[int, int] | None = None
    python_full: str | None = None
    libc: str | None = None  # "glibc" | "musl" | None when unknown
    glibc: tuple[int, int] | None = None
    arch: str | None = None  # machine name (x86_64, aarch64) when probed
    source: str = "unknown"

    @property
    def python_text(self) -> str:
        """``3.11`` or ``3.11.4``, as precise as known."""
        if self.python_full:
            return self.python_full
        if self.python:
            return f"{self.python[0]}.{self.python[1]}"
        return "unknown"


def default_base_image(target: Target) -> str:
    """The official slim (glibc) or alpine (musl) image of the target's Python.

    A target pinned to a patch release (``--python 3.11.4``) gets that exact tag.
    """
    version = target.python_full_version if target.python_exact else "{}.{}".format(*target.python_version)
    variant = "alpine" if target.libc.family == "musllinux" else "slim"
    return f"python:{version}-{variant}"


def _split_reference(reference: str) -> tuple[str, str | None]:
    """``registry/repo:tag@digest`` -> (repository, tag or None)."""
    name = reference.split("@", 1)[0]
    # A ':' after the last '/' separates the tag; one before it belongs to a registry port.
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :]
    return name, None


def parse_base_image(reference: str, *, declared_python: str | None = None) -> BaseImage:
    """What can be told about ``reference`` without Docker: an official tag's Python and libc, or the declared one.

    ``declared_python`` (``--base-python X.Y[.Z]``) wins over the tag, for images whose tag says nothing.
    """
    reference = reference.strip()
    if not reference or any(c.isspace() for c in reference):
        raise UsageError(f"bad base image {reference!r}", hint="give an image reference such as python:3.12-slim")
    repository, tag = _split_reference(reference)
    libc: str | None = None
    glibc: tuple[int, int] | None = None
    python: tuple[int, int] | None = None
    full: str | None = None
    source = "unknown"
    match = _OFFICIAL_TAG_RE.match(tag or "") if repository.lower() in _OFFICIAL_REPOSITORIES else None
    if match:
        python = (int(match["major"]), int(match["minor"]))
        if match["patch"] is not None:
            full = f"{python[0]}.{python[1]}.{int(match['patch'])}"
        variant = match["variant"] or ""
        if "alpine" in variant:
            libc = "musl"
        elif "windows" in variant or "nanoserver" in variant:
            libc = "windows"
        else:
            libc = "glibc"
            glibc = next((v for name, v in _DEBIAN_GLIBC.items() if name in variant), None)
        source = "tag"
    if declared_python is not None:
        version, declared_full, exact = parse_python(declared_python)
        python, full, source = version, declared_full if exact else None, "declared"
    return BaseImage(reference, python, full, libc, glibc, None, source)


def check_base_image(image: BaseImage, target: Target) -> tuple[str, ...]:
    """Refuse a base image whose Python, libc or architecture does not match the target verify checked.

    Returns warnings for differences that are allowed but worth knowing.
    """
    ref = image.reference
    want = "{}.{}".format(*target.python_version)
    fix_image = f"--base-image {default_base_image(target)}"
    if image.python is None:
        raise UsageError(
            f"cannot tell which Python the base image {ref} runs, so it cannot be checked against the target "
            f"{target.name} (CPython {want})",
            hint=f"declare it: --base-image {ref} --base-python {want} (wheelhouse build can also inspect it), "
            f"or use {fix_image}",
        )
    if image.python != target.python_version:
        have = "{}.{}".format(*image.python)
        raise UsageError(
            f"the base image {ref} runs CPython {have}, but the target {target.name} is CPython {want}: the "
            f"wheels verify checked are for {want}",
            hint=f"use {fix_image}, or verify and render for the image's Python: --python {have}",
        )
    warnings: list[str] = []
    if image.python_full and image.python_full != target.python_full_version:
        if target.python_exact:
            raise UsageError(
                f"the base image {ref} runs CPython {image.python_full}, but the target {target.name} is pinned to "
                f"{target.python_full_version}",
                hint=f"use --base-image {default_base_image(target)}, or --python {image.python_full}",
            )
        warnings.append(
            f"the target assumes CPython {target.python_full_version} (the newest {want} release wheelhouse knows) "
            f"but {ref} runs {image.python_full}; pin it with --python {image.python_full} if a marker depends on it"
        )
    if image.libc == "windows":
        raise UsageError(f"the base image {ref} is a Windows image; wheelhouse targets Linux", hint=fix_image)
    if image.libc is not None:
        musl_target = target.libc.family == "musllinux"
        if musl_target and image.libc != "musl":
            raise UsageError(
                f"the base image {ref} uses glibc, but the target {target.name} is musllinux (Alpine): its wheels "
                "do not load there",
                hint=f"use {fix_image}, or a --libc manylinux_2_28 target",
            )
        if not musl_target and image.libc == "musl":
            raise UsageError(
                f"the base image {ref} uses musl (Alpine), but the target {target.name} is {target.libc}: "
                "manylinux wheels do not load there",
                hint=f"use {fix_image}, or a --libc musllinux_1_2 target",
            )
    too_old = image.glibc is not None and image.glibc < (target.libc.major, target.libc.minor)
    if image.glibc is not None and target.libc.family == "manylinux" and too_old:
        raise UsageError(
            f"the base image {ref} has glibc {image.glibc[0]}.{image.glibc[1]}, older than the target's "
            f"{target.libc}: wheels verify accepted may not load there",
            hint=f"use {fix_image}, or a target with an older --libc",
        )
    if image.arch is not None and image.arch != target.arch:
        raise UsageError(
            f"the base image {ref} is built for {image.arch}, but the target {target.name} is {target.arch} "
            f"({target.docker_platform})",
            hint=f"use a {target.docker_platform} image, e.g. {fix_image}",
        )
    return tuple(warnings)
