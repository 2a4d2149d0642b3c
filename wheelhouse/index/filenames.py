"""Which file names an index listing is worth parsing, and which may become a file in the wheels folder.

Contract: :func:`irrelevant` says, from the name alone and before any parsing, that no Linux target can use a
file (a Windows or macOS wheel, an egg, an installer); such files are skipped without a word, as pip skips them.
:func:`unsafe_filename` says why a name must never be written into the wheels folder (a path, a control
character, a drive); :func:`is_dist_filename` whether it names a format wheelhouse handles at all. All are pure
functions of the name; the page parser and the finder share them, so this module sits below both.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from wheelhouse.dists import DIST_SUFFIXES

__all__ = ["DIST_SUFFIXES", "irrelevant", "is_dist_filename", "names_a_path", "suspect_names", "unsafe_filename"]

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"[A-Za-z]:")
# Formats an index lists that wheelhouse never uses (eggs, installers, system packages): not hostile, so skipped
# without a warning; PyPI lists thousands of them for long-lived projects. Every archive format pip builds from
# (.tar.bz2, .tgz, ...) is a source distribution, and some old releases publish nothing else: those are kept.
_OTHER_FORMATS = (".egg", ".exe", ".msi", ".rpm", ".dmg", ".deb")
_LINUX_OR_ANY = ("manylinux", "musllinux", "linux", "any")


def _never_linux(filename: str) -> bool:
    """A wheel built only for Windows or macOS, which no (Linux) target can use: skip it without parsing."""
    platforms = filename[: -len(".whl")].rsplit("-", 1)[-1]
    # Substring tests first: a large project's page lists tens of thousands of wheels.
    if "linux" in platforms or platforms == "any":
        return False
    if "any" not in platforms:
        return True
    return not any(p.startswith(_LINUX_OR_ANY) for p in platforms.split("."))


def names_a_path(filename: str) -> bool:
    """Whether ``filename`` holds a path separator or ``..``: possibly hostile, so never skipped in silence (the
    finder refuses it out loud)."""
    return "/" in filename or "\\" in filename or ".." in filename


def irrelevant(filename: str) -> bool:
    """A file no Linux target can use and that names no path: skipped as early as possible, without a word."""
    if names_a_path(filename):
        return False
    if filename.endswith(".whl"):
        return _never_linux(filename)
    return filename.endswith(_OTHER_FORMATS)


def unsafe_filename(filename: str) -> str | None:
    """Why ``filename`` must not be used as a file name in the wheels folder, or None when it is safe."""
    if not filename:
        return "empty file name"
    if "/" in filename or "\\" in filename:
        return "contains a path separator"
    if ".." in filename:
        return "contains '..'"
    if _CONTROL_CHARS.search(filename):
        return "contains a control character"
    if _DRIVE.match(filename):
        return "looks like an absolute path"
    return None


# The bytes of the control characters _CONTROL_CHARS finds: in UTF-8 no other character encodes to any of them.
_CONTROL_BYTES = bytes(range(0x20)) + b"\x7f"


def _has_control_char(text: str) -> bool:
    # Deleting them from the encoded text runs in C at memory speed; the pattern looks at each character in turn.
    encoded = text.encode("utf-8", "surrogatepass")
    return len(encoded.translate(None, _CONTROL_BYTES)) != len(encoded)


def suspect_names(filenames: Sequence[str]) -> bool:
    """Whether :func:`unsafe_filename` may object to one of ``filenames``: one test over a whole page, since an
    unsafe name is rare and a page lists thousands."""
    joined = " ".join(filenames)
    # Substring tests in C; the drive pattern only when a colon is there to find.
    return (
        "/" in joined
        or "\\" in joined
        or ".." in joined
        or _has_control_char(joined)
        or (":" in joined and _DRIVE.search(joined) is not None)
    )


def is_dist_filename(filename: str) -> bool:
    """Whether ``filename`` ends like a wheel or a source distribution in a format pip accepts
    (:data:`wheelhouse.dists.DIST_SUFFIXES`)."""
    return filename.endswith(DIST_SUFFIXES)
