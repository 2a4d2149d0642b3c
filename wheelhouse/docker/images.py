"""Base images: what can be told about the Python inside an image, which image a target gets by default, and
whether an image fits a target.

Contract: nothing here runs Docker. :func:`parse_base_image` reads what a reference says (an official
``python:X.Y[-variant]`` tag, or the Python the user declared); ``docker.client.DockerClient.probe_image``
learns the rest by running the image. :func:`check_base_image` refuses, with the fix as a hint, an image whose
Python minor version, libc or architecture differs from the target's, because the wheels verify checked would
not load there; it returns warnings for differences that are allowed (another patch release).
:func:`target_from_image` turns what a probed image runs into the target ``build --offline`` verifies when none
is given. An image is judged by what it runs, not by its platform label: :func:`check_image_label` refuses one
whose label disagrees, since a build for its real platform would look for another image in a registry. The
Dockerfile renderer, the ``build`` command and sdist builds in containers all take their images from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wheelhouse.errors import UsageError
from wheelhouse.targets import DOCKER_ARCHES, Libc, Target, parse_python

__all__ = [
    "BaseImage",
    "check_base_image",
    "check_image_label",
    "check_reference",
    "default_base_image",
    "parse_base_image",
    "platform_of",
    "target_from_image",
]

# Official images: python:<X.Y[.Z][pre]>[-variant], possibly spelled with the registry and library/ prefix.
_OFFICIAL_REPOSITORIES = {"python", "library/python", "docker.io/library/python", "index.docker.io/library/python"}
_OFFICIAL_TAG_RE = re.compile(
    r"^(?P<major>3)\.(?P<minor>\d{1,2})(?:\.(?P<patch>\d{1,3}))?(?P<pre>(?:a|b|rc)\d+)?(?P<variant>-.+)?$"
)
# The characters of an image reference (Docker's grammar, plus the brackets of an IPv6 registry address).
_REFERENCE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+\[\]-]*")
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
    arch: str | None = None  # machine name (x86_64, aarch64) when probed: what its programs run as
    source: str = "unknown"
    musl: tuple[int, int] | None = None
    # The platform the image is labelled with (``docker image inspect``), e.g. ``linux/amd64``, when probed.
    label: str | None = None

    @property
    def python_text(self) -> str:
        """``3.11`` or ``3.11.4``, as precise as known."""
        if self.python_full:
            return self.python_full
        if self.python:
            return f"{self.python[0]}.{self.python[1]}"
        return "unknown"


def platform_of(machine: str) -> str:
    """A machine name (``aarch64``) in Docker's words (``linux/arm64``)."""
    return next((platform for platform, arch in DOCKER_ARCHES.items() if arch == machine), f"linux/{machine}")


def check_image_label(image: BaseImage) -> None:
    """Refuse an image whose programs run as another architecture than its platform label says.

    ``docker import --platform linux/arm64`` on Docker 20.10 labels an arm64 root file system linux/amd64; its
    python3 still answers aarch64 (under emulation). A build for linux/arm64 then looks for an image of that
    label, finds none here and goes to a registry, which an offline build cannot reach.
    """
    if image.label is None or image.arch is None:
        return
    labelled = DOCKER_ARCHES.get(image.label, image.label.rsplit("/", 1)[-1])
    if labelled != image.arch:
        runs = platform_of(image.arch)
        raise UsageError(
            f"the base image {image.reference} runs {image.arch} programs ({runs}) but is labelled {image.label}: "
            f"a build for {runs} would look for another image in a registry",
            hint=f"rebuild it with its platform: a Dockerfile `FROM scratch` + `ADD rootfs.tar /` built with "
            f"`docker build --platform {runs}` (`docker import --platform` labels it wrongly on Docker 20.10)",
        )


def target_from_image(image: BaseImage) -> Target:
    """The target a probed image is: its architecture, its CPython (to the patch release) and its libc."""
    check_image_label(image)
    if image.python is None or image.arch is None:
        raise UsageError(
            f"cannot tell which Python the base image {image.reference} runs, so it gives no target",
            hint="give the target: --target linux/amd64 --python X.Y",
        )
    if image.libc == "glibc" and image.glibc is not None:
        libc = Libc("manylinux", *image.glibc)
    elif image.libc == "musl" and image.musl is not None:
        libc = Libc("musllinux", *image.musl)
    else:
        raise UsageError(
            f"cannot tell which libc the base image {image.reference} has (neither glibc nor musl answered)",
            hint="give the target: --target PLATFORM --python X.Y --libc manylinux_2_X|musllinux_1_X",
        )
    full = image.python_full or "{}.{}.0".format(*image.python)
    return Target(image.arch, image.python, full, libc, python_exact=image.python_full is not None)


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


def check_reference(reference: str) -> None:
    """Refuse what is no image reference: the FROM lines and the header of the rendered files repeat it (a
    backslash, a ``$``, a quote or a line break would change what they say), and Docker's command line takes it
    as an argument (one that starts with ``-`` would be read as an option)."""
    if not _REFERENCE_RE.fullmatch(reference):
        raise UsageError(
            f"bad base image {reference!r}: an image reference is [REGISTRY/]NAME[:TAG][@DIGEST], of letters, "
            "digits and . _ - : / @ +",
            hint="give an image reference such as python:3.12-slim",
        )


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
        if match["patch"] is not None and match["pre"] is None:
            # 3.12.1rc1 is not 3.12.1: the full version of a pre-release is left unknown, not taken for the release.
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
    check_reference(ref)
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
    check_image_label(image)
    warnings: list[str] = []
    if image.python_full and image.python_full != target.python_full_version:
        # Wheels are tagged by minor version (cp311): another patch release loads the same wheels. Only a marker
        # on python_full_version could choose differently, so this is said, not refused.
        assumed = "" if target.python_exact else f" (the newest {want} release wheelhouse knows)"
        warnings.append(
            f"the target {target.name} is CPython {target.python_full_version}{assumed} but {ref} runs "
            f"{image.python_full}; verify with --python {image.python_full} if a marker depends on it"
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
    old_musl = image.musl is not None and image.musl < (target.libc.major, target.libc.minor)
    if image.libc == "musl" and image.musl is not None and target.libc.family == "musllinux" and old_musl:
        raise UsageError(
            f"the base image {ref} has musl {image.musl[0]}.{image.musl[1]}, older than the target's "
            f"{target.libc}: wheels verify accepted may not load there",
            hint=f"use {fix_image}, or a target with an older --libc",
        )
    if image.arch is not None and image.arch != target.arch:
        raise UsageError(
            f"the base image {ref} is built for {image.arch}, but the target {target.name} is {target.arch} "
            f"({target.docker_platform})",
            hint=f"use a {target.docker_platform} image: --base-image {target.docker_platform}=IMAGE",
        )
    return tuple(warnings)
