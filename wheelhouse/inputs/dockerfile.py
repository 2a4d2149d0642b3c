"""The target a Dockerfile builds for: the platform, Python and libc of its final stage's base image.

Only what the file says is used, and nothing is run: the ``FROM`` lines (continuations joined, comments
skipped, ``ARG`` defaults declared before them substituted as Docker does), the final stage followed back
through stage names (``FROM build``) to an image, the image read by
:func:`wheelhouse.docker.images.parse_base_image` (an official ``python:X.Y[-variant]`` tag: its Python, and musl
for alpine), and ``--platform=`` when it names a platform rather than a build variable. A platform the file
leaves to the build (no ``--platform``, or ``$TARGETPLATFORM``) is ``linux/amd64``, Docker's usual default. A
Windows image (``python:3.12-windowsservercore``) has no Linux target: it is reported as such, not as amd64.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from wheelhouse.docker.images import parse_base_image
from wheelhouse.errors import UsageError

__all__ = ["DockerTarget", "find_dockerfile", "read_dockerfile"]

DEFAULT_PLATFORM = "linux/amd64"
_NAMES = ("Dockerfile", "dockerfile", "Containerfile")
_MAX_BYTES = 1024 * 1024
# A pre-release tag (python:3.13.0rc1) runs no release of 3.13.0 yet: only its minor version is known for sure.
_PRERELEASE_TAG = re.compile(r":\d+\.\d+(?:\.\d+)?(?:a|b|rc)\d+(?=-|@|$)")
_VARIABLE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::?[-+](?P<default>[^}]*))?\}|(?P<bare>[A-Za-z_]\w*))"
)


@dataclass(frozen=True)
class DockerTarget:
    """What a Dockerfile's final stage runs on. ``python`` is None when the image does not say (not an
    official python tag); ``libc`` is ``musllinux_1_2`` for an alpine image, else None (the default);
    ``windows`` says the image is a Windows one, which no target of wheelhouse can serve."""

    dockerfile: str
    image: str
    platform: str
    python: str | None
    libc: str | None
    line: int
    windows: bool = False


def find_dockerfile(directory: Path) -> Path | None:
    """The Dockerfile of ``directory`` (``Dockerfile``, ``dockerfile`` or ``Containerfile``), or None."""
    for name in _NAMES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def read_dockerfile(path: Path) -> DockerTarget | None:
    """The final stage's target, or None when the file has no ``FROM`` this can follow to an image."""
    try:
        with open(path, "rb") as handle:
            text = handle.read(_MAX_BYTES).decode("utf-8", "replace")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    args: dict[str, str] = {}
    stages: dict[str, tuple[str, str | None, int]] = {}
    final: tuple[str, str | None, int] | None = None
    for number, instruction in _instructions(text):
        keyword, _, rest = instruction.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and final is None:
            # Only ARGs before the first FROM can be used in a FROM line.
            name, has_value, value = rest.strip().partition("=")
            if has_value:
                args[name.strip()] = value.strip().strip("\"'")
        elif keyword == "FROM":
            platform, image, alias = _from(rest, args)
            # ``FROM <earlier stage>`` inherits that stage's image and platform.
            base = stages.get(image.lower())
            final = (base[0], platform or base[1], base[2]) if base else (image, platform, number)
            if alias:
                stages[alias.lower()] = final
    if final is None:
        return None
    image, platform, line = final
    known = parse_base_image(image) if image and not any(c.isspace() for c in image) else None
    python = known.python_text if known is not None and known.python is not None else None
    if known is not None and known.python is not None and _PRERELEASE_TAG.search(image):
        python = "{}.{}".format(*known.python)
    libc = "musllinux_1_2" if known is not None and known.libc == "musl" else None
    windows = known is not None and known.libc == "windows"
    return DockerTarget(str(path), image, platform or DEFAULT_PLATFORM, python, libc, line, windows)


def _instructions(text: str) -> list[tuple[int, str]]:
    """(first line, instruction) pairs: continuation lines joined, comments and blank lines skipped."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        out.append((start, " ".join(p for p in pending if p)))
        pending = []
    if pending:
        out.append((start, " ".join(p for p in pending if p)))
    return out


def _from(rest: str, args: dict[str, str]) -> tuple[str | None, str, str | None]:
    """``[--platform=P] image [AS name]`` -> (platform or None, image, alias or None)."""
    words = rest.split()
    platform: str | None = None
    while words and words[0].startswith("--"):
        flag = words.pop(0)
        if flag.startswith("--platform="):
            value = _word(flag.partition("=")[2], args)
            # A build variable ($TARGETPLATFORM, $BUILDPLATFORM) is decided by the build: not a platform here.
            platform = value if value and "$" not in value and "/" in value else None
    image = _word(words[0], args) if words else ""
    alias = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
    return platform, image, alias


def _word(text: str, args: dict[str, str]) -> str:
    """One word of a ``FROM`` line as Docker reads it: quotes removed, build arguments substituted (not within
    single quotes)."""
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return _substitute(text, args)


def _substitute(text: str, args: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        if name in args:
            return args[name]
        default = match.group("default")
        return default if default is not None else match.group(0)

    return _VARIABLE.sub(value, text)
