"""Docker image builds: the offline build from wheels/ against the usual ways of installing in Docker, for two apps.

The apps: the generated one (the benchmark index's requirements, a one-file app that imports them) and a
data-science one (numpy, pandas, scikit-learn: wheels fetched once into a bench cache from the configured
package index with ``wheelhouse download --with-uv``, never in the tests). Each is built with five designs:

* **plain**: a Dockerfile that runs ``pip install -r requirements.txt`` against a local index on loopback
  (``docker build --network=host``, ``PIP_INDEX_URL``) - layer caching only;
* **cached**: ``Dockerfile.cached`` as ``wheelhouse render`` writes it, with wheels/ and the same index - pip's
  cache in a BuildKit cache mount, the folder first;
* **classic**: ``Dockerfile.offline`` as ``wheelhouse render --classic`` writes it (wheels copied into an install
  stage, pip, the virtualenv copied into the final stage), built with ``--network=none``;
* **offline-pip** and **offline**: ``Dockerfile.offline`` as ``wheelhouse render`` writes it for BuildKit (wheels
  mounted; the heavy wheels in a layer of their own, the rest in a second), without a uv wheel in the folder
  (pip) and with one (uv), built with ``--network=none``.

For each: the first build (``--no-cache``, and cache mounts of its own), then a rebuild after a one-line change
to requirements.txt, the build context Docker transferred, and the image size; every image runs its app with
``--network=none``. The one-line change adds a small project that is not in the app's closure yet (its wheel is
in the folder and on the index from the start, as after a ``wheelhouse download`` of it), so the pins really
change; the rendered designs are rendered again before the rebuild, as ``wheelhouse build`` does (the render
is not timed: the tables count ``docker build`` alone, for every design). Each repetition builds in fresh
directories whose requirements carry a nonce, and every RUN and cache mount id carries it too, so no run reuses
a layer or a cache of another; afterwards every image a build made is removed by its id (``--iidfile``: a
rebuild under the same tag leaves the first image dangling) and the build cache records that name a nonce are
pruned (never the engine's whole cache).

Needs the engine of ``scripts/docker-test-env.sh up``; without it the benchmark is skipped, saying why.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import docker_env
from bench import generate as gen
from bench.harness import Row, Timing, fmt_timing, run
from bench.lib import Context
from bench.server import serve_in_process
from wheelhouse.docker.context import context_size
from wheelhouse.targets import Target, parse_targets

PLAIN_DOCKERFILE = """\
FROM {base}
RUN python3 -m venv /opt/venv
WORKDIR /app
COPY requirements.txt .
ARG PIP_INDEX_URL
RUN /opt/venv/bin/python -m pip install --no-cache-dir --disable-pip-version-check -r requirements.txt # {nonce}
COPY app/ ./
ENV PATH=/opt/venv/bin:$PATH
CMD ["python", "main.py"]
"""

APP = """\
import importlib

# The application imports its top-level requirements, proving the image installed them.
for name in {modules!r}:
    importlib.import_module(name)
print("ok")
"""

DATA_REQUIREMENTS = ("numpy", "pandas", "scikit-learn")
DATA_MODULES = ("numpy", "pandas", "sklearn")
DESIGNS = ("plain", "cached", "classic", "offline-pip", "offline")
LABELS = {
    "plain": "plain Dockerfile, pip from a local index",
    "cached": "Dockerfile.cached (pip cache mount, folder first)",
    "classic": "Dockerfile.offline --classic (COPY wheels/, pip, two stages)",
    "offline-pip": "Dockerfile.offline, pip (no uv wheel; wheels mounted, two layers)",
    "offline": "Dockerfile.offline, uv (wheels mounted, heavy wheels' layer + the rest)",
}
# The small project the data-science app's one-line change adds: pure Python, no dependencies, not in the closure.
DATA_EXTRA = "tabulate"
# The designs built from the rendered Dockerfile.offline with --network=none.
OFFLINE = ("classic", "offline-pip", "offline")
_CACHE_MOUNTS = (
    ("--mount=type=cache,target=/root/.cache/pip", "--mount=type=cache,id=bench-pip-{nonce},target=/root/.cache/pip"),
)


@dataclass
class App:
    """One application: its wheels (the target's, uv among them, and those of the project the one-line change
    adds), requirements, modules and loopback index."""

    name: str
    wheels: list[Path]
    requirements: str
    modules: Sequence[str]
    extra_line: str
    index_url: str


@dataclass
class Result:
    """The measurements of one design of one app, over the repetitions."""

    first: list[float] = field(default_factory=list)
    rebuild: list[float] = field(default_factory=list)
    context: list[float] = field(default_factory=list)
    image: list[int] = field(default_factory=list)
    # The render before the rebuild (rendered designs only), not counted in ``rebuild``.
    render: list[float] = field(default_factory=list)


def bench_cache() -> Path:
    """Where the data-science app's wheels are kept between benchmark runs (``WHEELHOUSE_BENCH_CACHE``)."""
    return Path(os.environ.get("WHEELHOUSE_BENCH_CACHE") or Path.home() / ".cache" / "wheelhouse-bench") / "docker"


def docker_benchmark(ctx: Context) -> None:
    """Build every app with every design, twice, and add the rows and the build-time table to ``ctx``."""
    ok, why = docker_env.docker_available()
    if not ok:
        ctx.rows.append(Row("docker", "docker builds: skipped", None, note=why))
        ctx.log(f"docker: skipped: {why}")
        return
    target = parse_targets((ctx.host.docker_platform,), pythons=("3.11",), libc=None)[0]
    uv_wheels, data_wheels = _fetch_bench_wheels(ctx, target)
    closure = ctx.expected_for(target)
    tops = [m["name"] for m in ctx.model if m["layer"] == 0]
    extra, extra_files = _generated_extra(ctx, target, closure)
    generated = App(
        "generated app",
        [ctx.file_path(f) for f in sorted({*closure.values(), *extra_files})] + uv_wheels,
        (ctx.index / "requirements.txt").read_text(),
        [t.replace("-", "_") for t in tops],
        extra,
        ctx.server.index_url,
    )
    ctx.log(f"docker: the one-line change adds {extra} (generated app) and {DATA_EXTRA} (data-science app)")
    loads = [os.getloadavg()]
    bench = Bench(ctx, target)
    results: dict[str, dict[str, Result]] = {}
    try:
        results[generated.name] = bench.app(generated)
        if data_wheels:
            try:
                results["data-science app"] = _data_app(ctx, bench, data_wheels)
            except (RuntimeError, OSError) as exc:
                ctx.rows.append(Row("docker", "data-science app: failed", None, note=str(exc).splitlines()[0]))
                ctx.log(f"docker: data-science app failed: {exc}")
        else:
            ctx.rows.append(Row("docker", "data-science app: skipped", None, note="its wheels could not be fetched"))
    finally:
        loads.append(os.getloadavg())
        bench.cleanup()
        shutil.rmtree(ctx.work / "docker", ignore_errors=True)
    _report(ctx, bench, results, loads)


def _data_app(ctx: Context, bench: Bench, wheels: list[Path]) -> dict[str, Result]:
    """Build the data-science app's designs against a loopback index of its own wheels."""
    data_index = ctx.fresh("docker/data-index")
    run([ctx.wheelhouse, "index", "--wheels", str(wheels[0].parent), "--out", str(data_index)], env=ctx.env()).check()
    _pip23_friendly(data_index, wheels)
    with serve_in_process(data_index, ctx.work / "docker-data-requests.log") as server:
        data = App(
            "data-science app",
            wheels,
            "".join(f"{name}\n" for name in DATA_REQUIREMENTS),
            DATA_MODULES,
            DATA_EXTRA,
            server.index_url,
        )
        return bench.app(data)


def _with_nonce(dockerfile: str, nonce: str) -> str:
    """``dockerfile`` with a shell comment naming ``nonce`` at the end of every RUN: the build cache records of
    its steps then say which run made them, so the cleanup finds them (it changes nothing the shell runs)."""
    out: list[str] = []
    in_run = False
    for line in dockerfile.splitlines():
        in_run = in_run or line.startswith("RUN ")
        if in_run and not line.endswith("\\"):
            line = f"{line} # bench {nonce}"
            in_run = False
        out.append(line)
    return "\n".join(out) + "\n"


def _context_bytes(root: Path) -> float:
    """The bytes of the build context: what the .dockerignore lets through (the rendered designs), else the
    whole directory (the plain design's requirements, app and Dockerfile). BuildKit's own transfer log counts
    only what its context cache lacks, so it is no measure of the context."""
    ignore = root / ".dockerignore"
    if not ignore.is_file():
        return float(context_size(root, [p.name for p in root.iterdir()]).bytes)
    allowed = [line[1:] for line in ignore.read_text().splitlines() if line.startswith("!")]
    return float(context_size(root, [*allowed, ".dockerignore"]).bytes)


def _generated_extra(ctx: Context, target: Target, closure: dict[str, str]) -> tuple[str, list[str]]:
    """A project of the generated index that the requirements do not reach, for the one-line change: the one
    that adds the fewest files to the closure (its own wheel alone, ideally). Returns it and the added files."""
    best: tuple[int, str, list[str]] | None = None
    for project in sorted(m["name"] for m in ctx.model if m["name"] not in closure):
        try:
            grown = gen.expected_files(ctx.model, [*ctx.requirement_lines, project], target)
        except (ValueError, KeyError):
            continue  # no file of it (or of a dependency) fits the target
        added = sorted(set(grown.values()) - set(closure.values()))
        if added and (best is None or len(added) < best[0]):
            best = (len(added), project, added)
    if best is None:
        raise RuntimeError("the generated index has no project outside the requirements' closure for the target")
    return best[1], best[2]


def _pip23_friendly(index: Path, wheels: Sequence[Path]) -> None:
    """Make the static index of ``wheelhouse index`` servable by the benchmark server to Debian bookworm's pip.

    That pip (the base image's) fails on PEP 691 JSON pages that give PEP 658 metadata as a dictionary
    (``TypeError: unhashable type: 'dict'``), so the JSON pages lose their metadata keys (pip then reads each
    wheel's METADATA from the wheel); the files are linked under ``files/``, where the pages point.
    """
    for page in index.rglob("index.json"):
        data = json.loads(page.read_text())
        for entry in data.get("files", []):
            for key in ("core-metadata", "dist-info-metadata", "data-dist-info-metadata"):
                entry.pop(key, None)
        page.write_text(json.dumps(data))
    gen.link_files([w for w in wheels if not (index / "files" / w.name).exists()], index / "files")


def _fetch_bench_wheels(ctx: Context, target: Target) -> tuple[list[Path], list[Path]]:
    """uv's wheel and the data app's wheels for ``target``, downloaded once into the bench cache."""
    folder = bench_cache() / "wheels"
    requirements = bench_cache() / "requirements.txt"
    folder.mkdir(parents=True, exist_ok=True)
    requirements.write_text("".join(f"{name}\n" for name in DATA_REQUIREMENTS))
    argv = [ctx.wheelhouse, "download", "-r", str(requirements), "--with-uv", "--wheels", str(folder)]
    argv += ["--target", target.docker_platform, "--python", "3.11", "--json"]
    # The configured package index (pip's configuration, the environment): not the isolated benchmark's one.
    fetched = run(argv, env=dict(os.environ), timeout=1800)
    if fetched.returncode != 0:
        ctx.log(f"docker: fetching the data app's wheels failed: {fetched.stderr.strip()[-400:]}")
        return [], []
    names = _pinned_files(json.loads(fetched.stdout))
    # The project the one-line change adds, fetched beside the app's wheels (not into its requirements).
    argv = [ctx.wheelhouse, "download", DATA_EXTRA, "--wheels", str(folder)]
    argv += ["--target", target.docker_platform, "--python", "3.11", "--json"]
    extra = run(argv, env=dict(os.environ), timeout=600)
    if extra.returncode != 0:
        ctx.log(f"docker: fetching {DATA_EXTRA} failed: {extra.stderr.strip()[-400:]}")
        return [], []
    names = sorted({*names, *_pinned_files(json.loads(extra.stdout))})
    uv = [folder / n for n in names if n.startswith("uv-")]
    return uv, [folder / n for n in names]


def _pinned_files(report: object) -> list[str]:
    """The file names a download's JSON report pins (every target), whatever nesting it uses."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "file" and isinstance(value, str) and value.endswith(".whl"):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(report)
    return sorted(set(found))


class Bench:
    """Builds the designs of an app and remembers what it made, to remove it afterwards."""

    def __init__(self, ctx: Context, target: Target) -> None:
        self.ctx = ctx
        self.target = target
        self.client = docker_env.docker_client()
        self.env = {**ctx.env(), **{k: v for k, v in docker_env.docker_env().items() if k.startswith("DOCKER")}}
        self.base = docker_env.base_image()
        self.tags: list[str] = []
        self.images: set[str] = set()
        self.nonces: list[str] = []
        self.installers: set[str] = set()

    def app(self, app: App) -> dict[str, Result]:
        results = {design: Result() for design in DESIGNS}
        for repetition in range(2):
            # Interleaved, so a slow moment of the shared machine hits every design.
            for design in DESIGNS:
                self.ctx.log(f"docker: {app.name}: {design}: repetition {repetition + 1}")
                self.measure(app, design, results[design])
        return results

    def measure(self, app: App, design: str, result: Result) -> None:
        nonce = uuid.uuid4().hex[:12]
        self.nonces.append(nonce)
        root = self.ctx.fresh(f"docker/{nonce}")
        (root / "app").mkdir()
        (root / "app" / "main.py").write_text(APP.format(modules=list(app.modules)))
        (root / "requirements.txt").write_text(app.requirements + f"# benchmark run {nonce}\n")
        if design != "plain":
            uv = design in ("cached", "offline")
            gen.link_files([w for w in app.wheels if uv or not w.name.startswith("uv-")], root / "wheels")
            self.render(root, nonce, classic=design == "classic")
        else:
            (root / "Dockerfile").write_text(PLAIN_DOCKERFILE.format(base=self.base, nonce=nonce))
        tag = f"wheelhouse-bench-{design}:{nonce}"
        self.tags.append(tag)
        context = _context_bytes(root)
        first = self.build(root, design, tag, app.index_url, no_cache=True)
        with open(root / "requirements.txt", "a") as handle:
            handle.write(f"{app.extra_line}\n")
        if design != "plain":
            # As `wheelhouse build` does: the context now lets the added project's wheel through.
            result.render.append(self.render(root, nonce, classic=design == "classic"))
        rebuild = self.build(root, design, tag, app.index_url, no_cache=False)
        # The image must run with no network and import what it installed.
        run([self.client, "run", "--rm", "--network=none", tag], env=self.env).check()
        size = run([self.client, "image", "inspect", "-f", "{{.Size}}", tag], env=self.env).check().stdout
        result.first.append(first)
        result.rebuild.append(rebuild)
        result.context.append(context)
        result.image.append(int(size.strip()))

    def render(self, root: Path, nonce: str, *, classic: bool) -> float:
        """Render the files (the nonce put into every RUN and cache mount id); the render's wall time."""
        argv = [self.ctx.wheelhouse, "render", "--target", self.target.docker_platform, "--python", "3.11"]
        argv += ["--classic"] if classic else []
        argv += ["--base-image", self.base, "--base-python", "3.11", "-r", "requirements.txt"]
        rendered = run(argv, env=self.env, cwd=root).check()
        self.installers.update(re.findall(r"offline installer: (\w+)", rendered.stderr))
        for name in ("Dockerfile.cached", "Dockerfile.offline"):
            path = root / name
            text = path.read_text()
            for old, new in _CACHE_MOUNTS:
                text = text.replace(old, new.format(nonce=nonce))
            path.write_text(_with_nonce(text, nonce))
        return rendered.seconds

    def build(self, root: Path, design: str, tag: str, index_url: str, *, no_cache: bool) -> float:
        """One build's wall time; the id of the image it made is kept for the cleanup."""
        iidfile = root / f".iid-{uuid.uuid4().hex[:8]}"
        argv = [self.client, "build", "--progress=plain", "-t", tag, "--iidfile", str(iidfile)]
        if design in OFFLINE:
            argv += ["--network=none", "-f", "Dockerfile.offline"]
        else:
            argv += ["--network=host", "--build-arg", f"PIP_INDEX_URL={index_url}"]
            argv += ["-f", "Dockerfile.cached" if design == "cached" else "Dockerfile"]
        if no_cache:
            argv.append("--no-cache")
        done = run([*argv, "."], env=self.env, cwd=root, timeout=1800)
        if iidfile.is_file():
            self.images.add(iidfile.read_text().strip())
        return done.check().seconds

    def cleanup(self) -> None:
        """Remove every image a build made, by id, and the build cache records that name a nonce of this run."""
        env = docker_env.docker_env(self.env)
        docker_env.remove_images([*self.tags, *self.images], env)
        docker_env.prune_build_cache(self.nonces, env)


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def _mb(value: float) -> str:
    return f"{value / 1e6:.1f} MB" if value >= 1e5 else f"{value / 1e3:.1f} kB"


def _report(
    ctx: Context, bench: Bench, results: dict[str, dict[str, Result]], loads: Sequence[tuple[float, float, float]]
) -> None:
    """Rows with the goals (rebuild at least 4x, first build at least 1.5x faster than plain) and the table."""
    goals: tuple[tuple[str, str, float, Callable[[Result], list[float]]], ...] = (
        ("rebuild after a one-line requirements change", "rebuild", 4.0, lambda r: r.rebuild),
        ("first build, no build cache", "first", 1.5, lambda r: r.first),
    )
    for app, by_design in results.items():
        offline, plain = by_design["offline"], by_design["plain"]
        for what, _key, factor, pick in goals:
            row = Row(
                "docker",
                f"{app}: {what}",
                Timing(tuple(pick(offline))),
                LABELS["plain"],
                Timing(tuple(pick(plain))),
                goal=f">= {factor:g}x faster than plain",
            )
            row.passed = row.ratio is not None and row.ratio >= factor
            row.note = "offline build with --network=none"
            ctx.rows.append(row)
            for peer in ("cached", "classic", "offline-pip"):
                ctx.rows.append(
                    Row(
                        "docker",
                        f"{app}: {what}",
                        Timing(tuple(pick(offline))),
                        LABELS[peer],
                        Timing(tuple(pick(by_design[peer]))),
                    )
                )
    installers = ", ".join(sorted(bench.installers)) or "unknown"
    load = " -> ".join("/".join(f"{x:.2f}" for x in sample) for sample in loads)
    lines = [
        "### Docker builds\n",
        f"Base image `{bench.base}`; offline installer: {installers}; min / median of 2 runs, each with its own build "
        "cache (first build with `--no-cache` and fresh cache mounts; rebuild after adding to requirements.txt one "
        "line that names a small project new to the closure, the rendered designs rendered again first, untimed). "
        f"Load average (1/5/15 min) at the start and the end: {load}.\n",
        "| app | design | first build (s) | rebuild (s) | context sent | image size | network | render (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for app, by_design in results.items():
        for design in DESIGNS:
            r = by_design[design]
            render = fmt_timing(Timing(tuple(r.render))) if r.render else "-"
            lines.append(
                f"| {app} | {LABELS[design]} | {fmt_timing(Timing(tuple(r.first)))} | "
                f"{fmt_timing(Timing(tuple(r.rebuild)))} | {_mb(_median(r.context))} | "
                f"{_mb(_median([float(x) for x in r.image]))} | "
                f"{'none' if design in OFFLINE else 'index on loopback'} | {render} |"
            )
        offline, plain = by_design["offline"], by_design["plain"]
        first_ratio = _median(plain.first) / max(_median(offline.first), 1e-9)
        rebuild_ratio = _median(plain.rebuild) / max(_median(offline.rebuild), 1e-9)
        lines.append(
            f"| {app} | goals: offline (uv) vs plain, medians | {first_ratio:.2f}x (goal 1.5x) | "
            f"{rebuild_ratio:.2f}x (goal 4x) | | | | |"
        )
    ctx.details.append("\n".join(lines) + "\n")
