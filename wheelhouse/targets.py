"""Targets: where wheels will be installed, which is not necessarily the machine running wheelhouse.

A target is a platform (architecture + libc family and version) and an interpreter (CPython X.Y). From it we
derive the ordered list of wheel tags it accepts and the *complete* marker environment. packaging's
``Marker.evaluate`` fills any key left out from the running host (the cause of pip#4304 / pip#6117, where
``pip download --platform`` evaluates ``sys_platform`` of the host); we therefore always supply every key.

``python_full_version`` when only ``3.11`` is given: official ``python:3.11`` images carry the newest patch
release, so we use the newest patch release this version of wheelhouse knows (``KNOWN_PATCH_RELEASES``) and say
so in verbose output. Give ``--python 3.11.4`` to pin the exact version your image runs.
"""

from __future__ import annotations

import platform
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from packaging.tags import Tag, compatible_tags, cpython_tags

from wheelhouse.errors import TargetError

# Newest patch release of each CPython minor, as published when this table was last updated. Official
# python:X.Y images track these; an unknown minor falls back to X.Y.0.
KNOWN_PATCH_RELEASES: dict[tuple[int, int], int] = {
    (3, 8): 20,
    (3, 9): 25,
    (3, 10): 19,
    (3, 11): 14,
    (3, 12): 12,
    (3, 13): 9,
    (3, 14): 0,
}

# Docker platform words -> the machine name wheels and platform_machine use.
DOCKER_ARCHES: dict[str, str] = {
    "linux/amd64": "x86_64",
    "linux/x86_64": "x86_64",
    "linux/arm64": "aarch64",
    "linux/arm64/v8": "aarch64",
    "linux/aarch64": "aarch64",
    "linux/arm/v7": "armv7l",
    "linux/386": "i686",
    "linux/ppc64le": "ppc64le",
    "linux/s390x": "s390x",
}
_ARCH_TO_DOCKER: dict[str, str] = {
    "x86_64": "linux/amd64",
    "aarch64": "linux/arm64",
    "armv7l": "linux/arm/v7",
    "i686": "linux/386",
    "ppc64le": "linux/ppc64le",
    "s390x": "linux/s390x",
}
# The oldest glibc each architecture has manylinux wheels for (PEP 600: i686/x86_64 reach back to 2.5).
_OLDEST_GLIBC: dict[str, int] = {"x86_64": 5, "i686": 5}
_LEGACY_MANYLINUX: dict[tuple[int, int], str] = {
    (2, 17): "manylinux2014",
    (2, 12): "manylinux2010",
    (2, 5): "manylinux1",
}

DEFAULT_LIBC = "manylinux_2_28"

ACCEPTED_FORMS = (
    "accepted forms: 'host'; a Docker platform (linux/amd64, linux/arm64, linux/arm64/v8, linux/arm/v7, "
    "linux/386, linux/ppc64le, linux/s390x) with --python X.Y[.Z] and --libc manylinux_2_28|manylinux_2_17|"
    "musllinux_1_2; or compact 'cp312-manylinux_2_28_aarch64' / 'cp311-musllinux_1_2_x86_64'"
)

# re.ASCII throughout: \d would also match the digits of other scripts ('3.١٢'), which int() then reads.
_LIBC_RE = re.compile(
    r"^(?:(manylinux)_(\d+)_(\d+)|(musllinux)_(\d+)_(\d+)|(manylinux2014|manylinux2010|manylinux1))$", re.ASCII
)
_LEGACY_TO_VERSION = {"manylinux2014": (2, 17), "manylinux2010": (2, 12), "manylinux1": (2, 5)}
# glibc is at 2.41 and musl at 1.2 (2025); a libc version part above this is a typo or hostile input.
_MAX_LIBC_VERSION = 999
_COMPACT_RE = re.compile(
    r"^cp(?P<major>3)(?P<minor>\d{1,2})-(?P<libc>manylinux_\d+_\d+|musllinux_\d+_\d+|manylinux2014|manylinux2010|"
    r"manylinux1)_(?P<arch>x86_64|aarch64|armv7l|i686|ppc64le|s390x)$",
    re.ASCII,
)
_PYTHON_RE = re.compile(r"^(?:cp)?(?:(3)\.(\d{1,2})(?:\.(\d{1,3}))?|(3)(\d{1,2}))$", re.ASCII)
# Well-formed versions of another major (2.7, 27, cp27, 4.0): told apart from malformed input, to say why.
_OTHER_MAJOR_RE = re.compile(r"^(?:cp)?(?:\d+\.\d{1,2}(?:\.\d{1,3})?|[0-24-9]\d{1,2})$", re.ASCII)
_COMPACT_OTHER_MAJOR_RE = re.compile(r"^cp[0-24-9]\d{1,2}-", re.ASCII)
_CPYTHON_3_ONLY = "wheelhouse targets CPython 3 only (3.8 and newer)"


@dataclass(frozen=True)
class Libc:
    """A libc family and the newest version a target has: manylinux (glibc) or musllinux (musl)."""

    family: str  # "manylinux" | "musllinux"
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.family}_{self.major}_{self.minor}"


@dataclass(frozen=True)
class Target:
    """One platform + interpreter that wheels must serve."""

    arch: str
    python_version: tuple[int, int]
    python_full_version: str
    libc: Libc
    # True when the user gave X.Y.Z; False when the patch release was filled in from KNOWN_PATCH_RELEASES.
    python_exact: bool = field(default=False, compare=False)

    @property
    def name(self) -> str:
        """The compact, unique name of the target, e.g. ``cp312-manylinux_2_28_aarch64``."""
        major, minor = self.python_version
        return f"cp{major}{minor}-{self.libc}_{self.arch}"

    def __str__(self) -> str:
        return self.name

    @property
    def docker_platform(self) -> str:
        """The platform in Docker's words, e.g. ``linux/arm64``."""
        return _ARCH_TO_DOCKER.get(self.arch, f"linux/{self.arch}")

    @property
    def python_tag(self) -> str:
        return f"cp{self.python_version[0]}{self.python_version[1]}"

    @cached_property
    def platforms(self) -> tuple[str, ...]:
        """Platform tags this target accepts, most specific first (as pip orders them on such a machine)."""
        arch = self.arch
        out: list[str] = []
        if self.libc.family == "manylinux":
            oldest = _OLDEST_GLIBC.get(arch, 17)
            for minor in range(self.libc.minor, oldest - 1, -1):
                out.append(f"manylinux_2_{minor}_{arch}")
                legacy = _LEGACY_MANYLINUX.get((2, minor))
                # manylinux2010 and manylinux1 were defined for x86 only; manylinux2014 for every arch.
                if legacy and (legacy == "manylinux2014" or arch in ("x86_64", "i686")):
                    out.append(f"{legacy}_{arch}")
        else:
            for minor in range(self.libc.minor, -1, -1):
                out.append(f"musllinux_{self.libc.major}_{minor}_{arch}")
        # A plain linux_<arch> wheel (built locally, not portable) is accepted last, as pip does on Linux.
        out.append(f"linux_{arch}")
        return tuple(out)

    @cached_property
    def tags(self) -> tuple[Tag, ...]:
        """Every wheel tag this target accepts, best first (packaging.tags order)."""
        interpreter = self.python_tag
        seen: dict[Tag, None] = {}
        for tag in cpython_tags(self.python_version, [interpreter], self.platforms):
            seen.setdefault(tag, None)
        for tag in compatible_tags(self.python_version, interpreter, self.platforms):
            seen.setdefault(tag, None)
        return tuple(seen)

    @cached_property
    def tag_priority(self) -> dict[Tag, int]:
        """Tag -> rank (0 is best); a tag absent from the map is incompatible."""
        return {tag: i for i, tag in enumerate(self.tags)}

    @cached_property
    def marker_environment(self) -> dict[str, str]:
        """Every key of packaging.markers.Environment, for this target and never from the host."""
        return {
            "implementation_name": "cpython",
            "implementation_version": self.python_full_version,
            "os_name": "posix",
            "platform_machine": self.arch,
            # The kernel release and version of a container are the build host's, unknowable in advance; empty
            # strings make markers on them fail closed rather than silently use this machine's values.
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "python_full_version": self.python_full_version,
            "platform_python_implementation": "CPython",
            "python_version": f"{self.python_version[0]}.{self.python_version[1]}",
            "sys_platform": "linux",
        }

    @cached_property
    def _best_tag_memo(self) -> dict[frozenset[Tag], int | None]:
        return {}

    def best_tag(self, tags: Iterable[Tag]) -> int | None:
        """Rank of the best tag in ``tags`` for this target, or None when none is compatible."""
        memo = self._best_tag_memo if isinstance(tags, frozenset) else None
        if memo is not None and tags in memo:
            # Wheels of one project share a few tag sets (see dists.parse_dist_filename): rank each once.
            return memo[tags]
        priority = self.tag_priority
        ranks = [priority[t] for t in tags if t in priority]
        best = min(ranks) if ranks else None
        if memo is not None:
            memo[tags] = best  # type: ignore[index]
        return best

    def describe(self) -> str:
        """A human sentence with the choices made, for verbose output."""
        how = "as given" if self.python_exact else "newest known patch release; pin with --python X.Y.Z"
        return (
            f"{self.name}: {self.docker_platform}, CPython {self.python_full_version} ({how}), "
            f"{self.libc} (accepts {self.platforms[0]} down to {self.platforms[-2]}, then {self.platforms[-1]})"
        )


def _quoted(text: str) -> str:
    """``text`` quoted for a message, shortened when long: it comes from the command line or a settings file."""
    return repr(text if len(text) <= 40 else text[:40] + "...")


def parse_python(spec: str) -> tuple[tuple[int, int], str, bool]:
    """``3.12`` / ``3.12.4`` / ``312`` / ``cp312`` -> ((3, 12), full version, exact?)."""
    m = _PYTHON_RE.match(spec.strip())
    if not m:
        if _OTHER_MAJOR_RE.match(spec.strip()):
            raise TargetError(f"bad Python version {_quoted(spec)}: {_CPYTHON_3_ONLY}")
        raise TargetError(f"bad Python version {_quoted(spec)}: expected X.Y or X.Y.Z, e.g. 3.12 or 3.12.4")
    if m.group(1):
        major, minor, patch = int(m.group(1)), int(m.group(2)), m.group(3)
    else:
        major, minor, patch = int(m.group(4)), int(m.group(5)), None
    if minor < 8:
        raise TargetError(f"bad Python version {_quoted(spec)}: wheelhouse supports CPython 3.8 and newer")
    if patch is not None:
        return (major, minor), f"{major}.{minor}.{int(patch)}", True
    known = KNOWN_PATCH_RELEASES.get((major, minor), 0)
    return (major, minor), f"{major}.{minor}.{known}", False


def parse_libc(spec: str) -> Libc:
    """``manylinux_2_28`` / ``manylinux2014`` / ``musllinux_1_2`` -> Libc."""
    m = _LIBC_RE.match(spec.strip())
    if not m:
        raise TargetError(
            f"bad libc {_quoted(spec)}: expected manylinux_2_X (e.g. manylinux_2_28), manylinux2014 or musllinux_1_X"
        )
    # A target accepts every older libc version, one platform tag each: an absurd version would mean millions
    # of tags (and a number of thousands of digits does not even convert to int).
    numbers = [part for part in (m.group(2), m.group(3), m.group(5), m.group(6)) if part]
    if any(len(part.lstrip("0")) > len(str(_MAX_LIBC_VERSION)) for part in numbers):
        raise TargetError(f"bad libc {_quoted(spec)}: no libc version part is above {_MAX_LIBC_VERSION}")
    if m.group(1):
        libc = Libc("manylinux", int(m.group(2)), int(m.group(3)))
        if libc.major != 2:
            raise TargetError(f"bad libc {_quoted(spec)}: glibc versions are 2.x")
        return libc
    if m.group(4):
        libc = Libc("musllinux", int(m.group(5)), int(m.group(6)))
        if libc.major != 1:
            raise TargetError(f"bad libc {_quoted(spec)}: musl versions are 1.x")
        return libc
    major, minor = _LEGACY_TO_VERSION[m.group(7)]
    return Libc("manylinux", major, minor)


def host_platform() -> tuple[str, Libc]:
    """The running machine's architecture and libc, for the default target."""
    if sys.platform != "linux":
        raise TargetError(
            f"this machine is {sys.platform}; wheelhouse builds wheelhouses for Linux targets: give --target",
            hint="wheelhouse verify --target linux/amd64 --python 3.12",
        )
    arch = platform.machine()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(arch.lower(), arch)
    lib, version = platform.libc_ver()
    if lib == "glibc" and version:
        major, minor = (int(x) for x in version.split(".")[:2])
        return arch, Libc("manylinux", major, minor)
    # musl: packaging knows how to read the loader's version.
    from packaging.tags import platform_tags

    for tag in platform_tags():
        if tag.startswith("musllinux_"):
            parts = tag.split("_")
            return arch, Libc("musllinux", int(parts[1]), int(parts[2]))
    return arch, parse_libc(DEFAULT_LIBC)


def host_target(python: str | None = None) -> Target:
    """The machine running wheelhouse, or its platform with another Python."""
    arch, libc = host_platform()
    if python is None:
        v = sys.version_info
        return Target(arch, (v.major, v.minor), f"{v.major}.{v.minor}.{v.micro}", libc, python_exact=True)
    version, full, exact = parse_python(python)
    return Target(arch, version, full, libc, python_exact=exact)


def parse_target(spec: str, *, python: str | None = None, libc: str | None = None) -> Target:
    """One target from a Docker platform + Python + libc, a compact tag-like name, or ``host``."""
    text = spec.strip()
    lowered = text.lower()
    if lowered == "host":
        target = host_target(python)
        if libc:
            target = Target(
                target.arch,
                target.python_version,
                target.python_full_version,
                parse_libc(libc),
                target.python_exact,
            )
            return _with_manylinux(target, spec)
        return target
    m = _COMPACT_RE.match(lowered)
    if m:
        version = (int(m.group("major")), int(m.group("minor")))
        full_version = parse_python(f"{version[0]}.{version[1]}")
        if python:
            given = parse_python(python)
            if given[0] != version:
                raise TargetError(
                    f"target {_quoted(spec)} names Python {version[0]}.{version[1]} but --python is {_quoted(python)}"
                )
            full_version = given
        if libc:
            raise TargetError(f"target {_quoted(spec)} already names its libc; drop --libc {_quoted(libc)}")
        target = Target(m.group("arch"), full_version[0], full_version[1], parse_libc(m.group("libc")), full_version[2])
        return _with_manylinux(target, spec)
    if lowered in DOCKER_ARCHES:
        arch = DOCKER_ARCHES[lowered]
        if python is None:
            v = sys.version_info
            version, full, exact = (v.major, v.minor), f"{v.major}.{v.minor}.{v.micro}", True
        else:
            version, full, exact = parse_python(python)
        return _with_manylinux(Target(arch, version, full, parse_libc(libc or DEFAULT_LIBC), python_exact=exact), spec)
    if _COMPACT_OTHER_MAJOR_RE.match(lowered):
        raise TargetError(f"bad target {_quoted(spec)}: {_CPYTHON_3_ONLY}")
    raise TargetError(f"bad target {_quoted(spec)}; {ACCEPTED_FORMS}")


def _with_manylinux(target: Target, spec: str) -> Target:
    """``target``, unless its glibc predates every manylinux tag of its architecture (it could use no wheel)."""
    oldest = _OLDEST_GLIBC.get(target.arch, 17)
    if target.libc.family == "manylinux" and target.libc.minor < oldest:
        raise TargetError(
            f"bad target {_quoted(spec)}: {target.libc} is older than the oldest manylinux for {target.arch} "
            f"(manylinux_2_{oldest})",
            hint=f"use manylinux_2_{oldest} or newer (the default is {DEFAULT_LIBC})",
        )
    return target


def parse_targets(
    specs: Sequence[str] = (), *, pythons: Sequence[str] = (), libc: str | None = None
) -> tuple[Target, ...]:
    """Every combination of the given platforms and Pythons, in order, without duplicates.

    No platform means the host; no Python means the host's (or the one a compact name carries).
    """
    platforms = list(specs) or ["host"]
    versions: list[str | None] = list(pythons) or [None]
    out: dict[str, Target] = {}
    for spec in platforms:
        compact = bool(_COMPACT_RE.match(spec.strip().lower()))
        for python in versions:
            if compact and python is not None and len(versions) > 1:
                # A compact name carries its own Python; combining it with several --python values is ambiguous.
                raise TargetError(f"target {_quoted(spec)} already names its Python; drop --python")
            target = parse_target(spec, python=python, libc=libc)
            out.setdefault(target.name, target)
    return tuple(out.values())
