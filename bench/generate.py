"""A synthetic package index shaped like a real application's dependencies, generated deterministically.

The default set (``FULL``) has about 100 projects on five levels: 20 top-level requirements pull in the rest
through dependencies up to five deep. Every project has several versions; dependents ask for a lower bound that
excludes the oldest ones and, for some projects, an upper bound below the newest (so "newest" is not always the
answer). A few dependencies only apply under a marker (``python_version``, ``platform_machine``,
``sys_platform == "win32"``), a few only through an extra. Wheels are a mix of ``py3-none-any``, CPython 3.11 and
3.12 ``manylinux`` builds for x86_64 and aarch64, and ``abi3`` builds; three binary projects are tens of
megabytes, so one target's closure is about 130 MB in about 100 files, like the application the project started
from.

Layout of a generated index directory (served by ``bench/server.py``)::

    files/<wheel>              the wheels
    files/<wheel>.metadata     their METADATA (PEP 658)
    simple/index.{html,json}   the project list (PEP 503 / PEP 691)
    simple/<project>/index.{html,json}
    requirements.txt           the application's top-level requirements
    model.json                 the projects, versions and windows the expected resolution is computed from

Generation is cached under a key that covers the spec and the source of the wheel factory, so repeated runs
reuse the files. Run ``python bench/generate.py --spec quick --out DIR`` to build one by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import math
import os
import random
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from packaging.requirements import Requirement  # noqa: E402
from packaging.specifiers import SpecifierSet  # noqa: E402
from packaging.utils import canonicalize_name, parse_wheel_filename  # noqa: E402

from bench import wheels as wheel_factory  # noqa: E402
from wheelhouse.targets import Target  # noqa: E402

# Bump when the shape of generated indexes changes, so cached ones are rebuilt.
GENERATOR_VERSION = 3
DEFAULT_CACHE = REPO / "bench" / ".cache"

PLATFORMS = {
    "x86_64": "manylinux_2_17_x86_64.manylinux2014_x86_64",
    "aarch64": "manylinux_2_17_aarch64.manylinux2014_aarch64",
}
# One binary project ships only glibc 2.28 builds, as more and more projects do.
PLATFORMS_2_28 = {"x86_64": "manylinux_2_28_x86_64", "aarch64": "manylinux_2_28_aarch64"}
PYTHONS = ("cp311", "cp312")

# Dependencies that apply only under a marker: each marks one project that nothing else needs.
MARKERS = (
    'python_version < "3.12"',
    'platform_machine == "aarch64"',
    'platform_machine == "x86_64"',
    'sys_platform == "win32"',
    'python_version >= "3.12"',
)
# (extra, requested by the application?) - a requested extra pulls its project in, the other never does.
EXTRAS = (("fast", True), ("cli", True), ("docs", False))

_WORDS = (
    "astro",
    "bolt",
    "cinder",
    "delta",
    "ember",
    "flux",
    "glyph",
    "halo",
    "ion",
    "jade",
    "kite",
    "lumen",
    "mosaic",
    "nova",
    "onyx",
    "pixel",
    "quartz",
    "rune",
    "sable",
    "tidal",
    "umbra",
    "vortex",
    "willow",
    "xenon",
    "yarrow",
    "zephyr",
)
_SUFFIXES = ("", "-core", "-io", "-kit", "-lib", "-utils")


@dataclass(frozen=True)
class Spec:
    """The shape of a generated index."""

    name: str
    layers: tuple[int, ...]  # projects per dependency level; level 0 is the top-level requirements
    large_sizes: tuple[int, ...]  # payload bytes of the few large binary projects (per file)
    binary: int  # further binary projects (one wheel per Python and architecture)
    abi3: int  # binary projects with one abi3 wheel per architecture
    medium_size: tuple[int, int]  # payload range of the further binary projects
    pure_size: tuple[int, int]  # payload range of pure-Python projects (log-uniform)
    old_size: int  # payload cap of versions that a correct resolver never picks
    seed: int = 20240601


FULL = Spec(
    name="full",
    layers=(20, 28, 24, 16, 12),
    large_sizes=(30_000_000, 24_000_000, 18_000_000),
    binary=10,
    abi3=3,
    medium_size=(800_000, 6_000_000),
    pure_size=(15_000, 900_000),
    old_size=24_000,
)
QUICK = Spec(
    name="quick",
    layers=(6, 8, 7, 5, 4),
    large_sizes=(1_500_000,),
    binary=3,
    abi3=1,
    medium_size=(50_000, 200_000),
    pure_size=(2_000, 40_000),
    old_size=2_000,
)
SPECS = {s.name: s for s in (FULL, QUICK)}


@dataclass
class Project:
    """One generated project: its versions, the window dependents accept, and its dependencies."""

    name: str
    layer: int
    kind: str = "pure"  # pure | binary | binary-2_28 | abi3
    size: int = 0
    versions: list[str] = field(default_factory=list)
    floor: int = 0  # index of the oldest version any dependent accepts
    top: int = 0  # index of the newest version any dependent accepts
    # Requires-Python of the newest accepted version, when it drops 3.11 (so 3.11 targets pick the one before).
    newest_requires_python: str | None = None
    deps: list[str] = field(default_factory=list)
    extras: dict[str, list[str]] = field(default_factory=dict)
    only_under: str | None = None  # the marker or extra that is the only way to need this project

    def requires_python(self, index: int) -> str:
        if index == self.top and self.newest_requires_python:
            return self.newest_requires_python
        return ">=3.8" if index < self.floor else ">=3.9"

    def tags(self) -> list[str]:
        if self.kind == "pure":
            return ["py3-none-any"]
        if self.kind == "abi3":
            return [f"cp39-abi3-{plat}" for plat in PLATFORMS.values()]
        plats = PLATFORMS_2_28 if self.kind == "binary-2_28" else PLATFORMS
        return [f"{py}-{py}-{plat}" for py in PYTHONS for plat in plats.values()]

    def pickable(self, index: int) -> bool:
        """Whether some supported target may pick this version (only those get their full size)."""
        return index == self.top or (index == self.top - 1 and self.newest_requires_python is not None)


# -- the model ------------------------------------------------------------------------------------------------


def _names(count: int, rng: random.Random) -> list[str]:
    pool = [w + s for s in _SUFFIXES for w in _WORDS]
    if count > len(pool):
        raise ValueError(f"at most {len(pool)} projects")
    rng.shuffle(pool)
    return pool[:count]


def _versions(rng: random.Random) -> list[str]:
    major, minor = rng.randint(0, 3), rng.randint(0, 4)
    out: list[str] = []
    for _ in range(rng.randint(3, 5)):
        out.append(f"{major}.{minor}.{rng.randint(0, 3)}")
        if rng.random() < 0.35:
            major, minor = major + 1, 0
        else:
            minor += 1
    return out


def _requirement(target: Project, rng: random.Random, marker: str | None = None) -> str:
    """A dependency on ``target`` whose range holds its whole window and excludes its oldest version."""
    low = target.versions[rng.randint(1, target.floor)]
    text = f"{target.name}>={low}"
    if target.top < len(target.versions) - 1:
        text += f",<{target.versions[target.top + 1]}"
    return f"{text}; {marker}" if marker else text


def build_model(spec: Spec) -> tuple[list[Project], list[str]]:
    """The projects of ``spec`` and the application's requirement lines (deterministic for a spec)."""
    rng = random.Random(spec.seed)
    names = _names(sum(spec.layers), rng)
    projects: list[Project] = []
    for layer, count in enumerate(spec.layers):
        for _ in range(count):
            projects.append(Project(name=names[len(projects)], layer=layer))
    by_layer = [[p for p in projects if p.layer == layer] for layer in range(len(spec.layers))]
    deep = [p for p in projects if p.layer >= 2]

    # Versions and windows. Every project keeps at least one version below its window, so a resolver that
    # picks an old version is caught; some have a newest version above every dependent's upper bound.
    for p in projects:
        p.versions = _versions(rng)
        p.top = len(p.versions) - 1
        if len(p.versions) >= 4 and rng.random() < 0.12:
            p.top -= 1
        p.floor = max(1, p.top - 1)

    # Projects needed only under a marker or an extra: never ordinary dependencies.
    special = rng.sample(deep, len(MARKERS) + len(EXTRAS))
    for p, marker in zip(special, MARKERS, strict=False):
        p.only_under = marker
    for p, (extra, _) in zip(special[len(MARKERS) :], EXTRAS, strict=True):
        p.only_under = f"extra {extra}"
    regular = [p for p in projects if p.only_under is None]

    # Kinds and sizes: binary projects sit below the top level, as numpy-like libraries do.
    binaries = [p for p in regular if p.layer >= 1]
    rng.shuffle(binaries)
    large = binaries[: len(spec.large_sizes)]
    for p, size in zip(large, spec.large_sizes, strict=True):
        p.kind, p.size = "binary", size
    medium = binaries[len(large) : len(large) + spec.binary]
    for p in medium:
        p.kind, p.size = "binary", rng.randint(*spec.medium_size)
    if medium:
        medium[0].kind = "binary-2_28"
    for p in binaries[len(large) + len(medium) : len(large) + len(medium) + spec.abi3]:
        p.kind, p.size = "abi3", rng.randint(*spec.medium_size)
    lo, hi = (math.log(s) for s in spec.pure_size)
    for p in projects:
        if p.kind == "pure":
            p.size = int(math.exp(rng.uniform(lo, hi)))
    # Two projects whose newest release needs Python 3.12: a 3.11 target must take the release before.
    for p in rng.sample([p for p in regular if p.layer >= 1 and p.top >= 2], 2):
        p.newest_requires_python = ">=3.12"
        p.floor = max(1, p.top - 1)

    # Ordinary dependencies point to deeper levels, mostly the next one.
    for p in projects:
        later = [q for q in regular if q.layer > p.layer]
        nearest = [q for q in later if q.layer == p.layer + 1]
        if not later:
            continue
        wanted = rng.choice((0, 1, 1, 2, 2, 3, 4)) if p.layer else rng.choice((1, 2, 3, 4))
        chosen: dict[str, Project] = {}
        for _ in range(wanted):
            q = rng.choice(nearest if nearest and rng.random() < 0.6 else later)
            chosen[q.name] = q
        p.deps = [_requirement(q, rng) for q in chosen.values()]
    # Every project below the top is needed by one on the level above, so the tree really is that deep.
    for layer in range(1, len(spec.layers)):
        parents = [p for p in by_layer[layer - 1] if p.only_under is None]
        parents = parents or [p for p in regular if p.layer < layer]
        for q in by_layer[layer]:
            if q.only_under is not None or any(d.startswith(f"{q.name}>=") for p in parents for d in p.deps):
                continue
            rng.choice(parents).deps.append(_requirement(q, rng))
    for p in special[: len(MARKERS)]:
        assert p.only_under is not None
        parents = [q for q in regular if q.layer < p.layer]
        for parent in rng.sample(parents, 2):
            parent.deps.append(_requirement(p, rng, p.only_under))
    tops = [p for p in by_layer[0] if p.only_under is None]
    for parent, extra_project, (extra, _) in zip(tops, special[len(MARKERS) :], EXTRAS, strict=False):
        parent.extras[extra] = [_requirement(extra_project, rng, f'extra == "{extra}"')]

    requirements = []
    for p in tops:
        line = _requirement(p, rng)
        requested = [e for e, wanted in EXTRAS if wanted and e in p.extras]
        if requested:
            name, rest = line.split(">=", 1)
            line = f"{name}[{','.join(requested)}]>={rest}"
        requirements.append(line)
    return projects, requirements


# -- expected resolution ------------------------------------------------------------------------------------


def expected_files(model: Sequence[dict[str, Any]], requirements: Sequence[str], target: Target) -> dict[str, str]:
    """project -> the wheel file a correct resolver installs for ``target`` (from ``model.json``)."""
    by_name = {m["name"]: m for m in model}
    env = dict(target.marker_environment)
    priority = target.tag_priority
    chosen: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    queue = [(Requirement(line), "") for line in requirements]
    while queue:
        req, extra = queue.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": extra}):
            continue
        name = canonicalize_name(req.name)
        project = by_name[name]
        for wanted_extra in ["", *sorted(req.extras)]:
            if (name, wanted_extra) in seen:
                continue
            seen.add((name, wanted_extra))
            if name not in chosen:
                chosen[name] = _pick(project, target, priority)
            deps = project["deps"] if not wanted_extra else project["extras"].get(wanted_extra, [])
            queue.extend((Requirement(d), wanted_extra) for d in deps)
    return chosen


def _pick(project: dict[str, Any], target: Target, priority: dict[Any, int]) -> str:
    for index in range(project["top"], project["floor"] - 1, -1):
        if target.python_full_version not in SpecifierSet(project["requires_python"][index]):
            continue
        ranked: list[tuple[int, str]] = []
        for filename in project["files"][index]:
            ranks = [priority[t] for t in parse_wheel_filename(filename)[3] if t in priority]
            if ranks:
                ranked.append((min(ranks), filename))
        if ranked:
            return min(ranked)[1]
    raise ValueError(f"{project['name']}: no version in its window fits {target.name}")


# -- writing ------------------------------------------------------------------------------------------------


def _cache_key(spec: Spec) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({"v": GENERATOR_VERSION, "spec": asdict(spec)}, sort_keys=True).encode())
    # The wheel factory's source is part of the key: a change to the wheels it builds must regenerate.
    digest.update(Path(wheel_factory.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:12]


def index_dir(spec: Spec, cache: Path = DEFAULT_CACHE) -> Path:
    """Where the index of ``spec`` lives in ``cache`` (it may not be generated yet)."""
    return cache / f"index-{spec.name}-{_cache_key(spec)}"


def generate(spec: Spec, cache: Path = DEFAULT_CACHE, *, log: Any = None) -> Path:
    """The directory of ``spec``'s index, generating it first unless the cache has it."""
    final = index_dir(spec, cache)
    if (final / "model.json").is_file():
        return final
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    projects, requirements = build_model(spec)
    files_dir = tmp / "files"
    files_dir.mkdir(parents=True)
    pages: dict[str, list[dict[str, Any]]] = {}
    model: list[dict[str, Any]] = []
    total = 0
    for p in projects:
        entries: list[dict[str, Any]] = []
        per_version: list[list[str]] = []
        for index, version in enumerate(p.versions):
            names = []
            for tag in p.tags():
                size = p.size if p.pickable(index) else min(p.size, spec.old_size)
                filename, data = wheel_factory.make_wheel(
                    p.name,
                    version,
                    tag=tag,
                    requires_dist=[*p.deps, *(d for deps in p.extras.values() for d in deps)],
                    extras=sorted(p.extras),
                    requires_python=p.requires_python(index),
                    payload_size=size,
                    summary=f"{p.name}: a generated level-{p.layer} project",
                )
                metadata = wheel_factory.metadata_text(
                    p.name,
                    version,
                    requires_dist=[*p.deps, *(d for deps in p.extras.values() for d in deps)],
                    requires_python=p.requires_python(index),
                    extras=sorted(p.extras),
                    summary=f"{p.name}: a generated level-{p.layer} project",
                ).encode()
                (files_dir / filename).write_bytes(data)
                (files_dir / f"{filename}.metadata").write_bytes(metadata)
                total += len(data)
                names.append(filename)
                entries.append(
                    {
                        "filename": filename,
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "metadata_sha256": hashlib.sha256(metadata).hexdigest(),
                        "requires_python": p.requires_python(index),
                        "size": len(data),
                    }
                )
            per_version.append(names)
        pages[p.name] = entries
        model.append(
            {
                "name": p.name,
                "layer": p.layer,
                "kind": p.kind,
                "versions": p.versions,
                "floor": p.floor,
                "top": p.top,
                "requires_python": [p.requires_python(i) for i in range(len(p.versions))],
                "files": per_version,
                "deps": p.deps,
                "extras": p.extras,
                "only_under": p.only_under,
            }
        )
        if log:
            log(f"generated {p.name} ({len(entries)} files)")
    write_pages(tmp, pages)
    (tmp / "requirements.txt").write_text(
        "# The application's top-level requirements (generated by bench/generate.py).\n"
        + "\n".join(requirements)
        + "\n"
    )
    (tmp / "model.json").write_text(
        json.dumps({"spec": asdict(spec), "bytes": total, "projects": model, "requirements": requirements}, indent=1)
    )
    try:
        os.replace(tmp, final)
    except OSError:
        # Another run generated the same index meanwhile: both are identical, keep theirs.
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def write_pages(root: Path, pages: dict[str, list[dict[str, Any]]]) -> None:
    """Write the PEP 503 HTML and PEP 691 JSON pages for ``pages`` (project -> file entries) under ``root``."""
    simple = root / "simple"
    simple.mkdir(parents=True, exist_ok=True)
    names = sorted(pages)
    (simple / "index.json").write_text(
        json.dumps({"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in names]})
    )
    links = "".join(f'<a href="{quote(n)}/">{html.escape(n)}</a><br/>\n' for n in names)
    (simple / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n")
    for name, entries in pages.items():
        page_dir = simple / name
        page_dir.mkdir(exist_ok=True)
        files = []
        anchors = []
        for e in entries:
            url = f"../../files/{quote(e['filename'], safe='')}"
            meta = {"sha256": e["metadata_sha256"]}
            files.append(
                {
                    "filename": e["filename"],
                    "url": url,
                    "hashes": {"sha256": e["sha256"]},
                    "requires-python": e["requires_python"],
                    "yanked": False,
                    # PEP 714: only the new key, as PyPI does; pip 23.0 crashes on a dict under the old one.
                    "core-metadata": meta,
                    "size": e["size"],
                }
            )
            anchors.append(
                f'<a href="{url}#sha256={e["sha256"]}" data-requires-python="{html.escape(e["requires_python"])}" '
                f'data-core-metadata="sha256={e["metadata_sha256"]}">{html.escape(e["filename"])}</a><br/>\n'
            )
        (page_dir / "index.json").write_text(json.dumps({"meta": {"api-version": "1.1"}, "name": name, "files": files}))
        (page_dir / "index.html").write_text(
            '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.1">'
            f"<title>Links for {html.escape(name)}</title></head><body>\n"
            f"<h1>Links for {html.escape(name)}</h1>\n{''.join(anchors)}</body></html>\n"
        )


def load_model(root: Path) -> dict[str, Any]:
    """The ``model.json`` of a generated index."""
    data: dict[str, Any] = json.loads((root / "model.json").read_text())
    return data


def generate_filler(count: int, cache: Path = DEFAULT_CACHE) -> Path:
    """A folder of ``count`` small pure-Python wheels of unrelated projects (four versions each), for scale runs."""
    key = hashlib.sha256(Path(wheel_factory.__file__).read_bytes()).hexdigest()[:8]
    final = cache / f"filler-{count}-{GENERATOR_VERSION}-{key}"
    if final.is_dir():
        return final
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for i in range(count):
        project, version = f"filler-{i // 4:05d}", f"1.{i % 4}.0"
        # A dependency on the next filler project gives the metadata realistic Requires-Dist lines.
        deps = [f"filler-{i // 4 + 1:05d}>=1.0"] if i % 3 == 0 else []
        filename, data = wheel_factory.make_wheel(project, version, requires_dist=deps, payload_size=512)
        (tmp / filename).write_bytes(data)
    try:
        os.replace(tmp, final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def link_files(sources: Iterable[Path], dest: Path) -> None:
    """Hard-link (or copy, across file systems) ``sources`` into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for src in sources:
        try:
            os.link(src, dest / src.name)
        except OSError:
            shutil.copy2(src, dest / src.name)


def main(argv: list[str] | None = None) -> int:
    """``python bench/generate.py [--spec full|quick] [--cache DIR]``: generate and print the index's path."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", choices=sorted(SPECS), default="full")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    root = generate(SPECS[args.spec], args.cache)
    data = load_model(root)
    print(f"{root}: {len(data['projects'])} projects, {data['bytes'] / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
