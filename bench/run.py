"""Reproduce every performance claim of wheelhouse in one command, against pip and uv, side by side.

    python bench/run.py                    # everything, against a generated local index (no internet)
    python bench/run.py --quick            # a small index and fewer repetitions (about a minute)
    python bench/run.py --only verify      # one benchmark (repeatable, or comma-separated)
    python bench/run.py --network          # also against the real index with bench/requirements-real.txt

Benchmarks: verify, download, noop, multi, cross, memory, scale, docker (and network with --network). Each
measured command runs as a child process in an isolated environment (no PIP_*/UV_* settings, pip's
configuration files off, a private HOME, a fresh folder per cold repetition); contenders are interleaved
repetition by repetition, so a slow moment of the machine hits all of them. Every result is checked against
the expected files before its time counts. The table goes to standard output and, with the machine it came
from, to bench/results/<timestamp>.{json,md} (and latest.{json,md}).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import hashlib
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from packaging.utils import canonicalize_name, parse_wheel_filename  # noqa: E402

from bench import generate as gen  # noqa: E402
from bench.harness import (  # noqa: E402
    Row,
    Run,
    Timing,
    fmt_seconds,
    isolated_env,
    machine_info,
    markdown_table,
    run,
    tool_path,
)
from bench.server import Link, ServerProcess, serve_in_process  # noqa: E402
from wheelhouse.targets import Target, parse_targets  # noqa: E402

ALL = ("verify", "download", "link", "reference", "noop", "multi", "cross", "memory", "scale", "docker")
OPTIONAL = ("network",)
GiB = 1024**3
MB = 1e6
MULTI_TARGETS = (("linux/amd64", "linux/arm64"), ("3.11", "3.12"))
CROSS_TARGET = ("linux/arm64", "3.12")


class Context:
    """Everything the benchmarks share: the index and its server, the work directory, the tools, the rows."""

    def __init__(self, args: argparse.Namespace, work: Path, index: Path, server: ServerProcess) -> None:
        self.args = args
        self.quick: bool = args.quick
        self.repeat: int = args.repeat or (3 if args.quick else 5)
        self.slow_repeat: int = args.repeat or (2 if args.quick else 3)
        self.work = work
        self.index = index
        self.server = server
        data = gen.load_model(index)
        self.model: list[dict[str, Any]] = data["projects"]
        self.requirement_lines: list[str] = data["requirements"]
        self.requirements = work / "requirements.txt"
        shutil.copy(index / "requirements.txt", self.requirements)
        self.host = parse_targets(("host",), pythons=(), libc=None)[0]
        self.expected = self.expected_for(self.host)
        self.wheelhouse = tool_path("wheelhouse") or "wheelhouse"
        self.uv = tool_path("uv")
        self.python = sys.executable
        self.rows: list[Row] = []
        self.details: list[str] = []
        self._homes = 0

    # -- helpers ------------------------------------------------------------------------------------------

    def expected_for(self, target: Target) -> dict[str, str]:
        """project -> file a correct resolver picks for ``target`` from the generated index."""
        return gen.expected_files(self.model, self.requirement_lines, target)

    def env(self, **extra: str) -> dict[str, str]:
        """A fresh isolated environment (its own HOME, so no cache survives from one run to the next)."""
        self._homes += 1
        return isolated_env(self.work / "homes" / str(self._homes), **extra)

    def fresh(self, name: str) -> Path:
        """An empty directory under the work directory."""
        path = self.work / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def file_path(self, filename: str) -> Path:
        return self.index / "files" / filename

    def bytes_of(self, filenames: Sequence[str]) -> int:
        return sum(self.file_path(f).stat().st_size for f in filenames)

    def wh_download(self, dest: Path, *extra: str, requirements: Path | None = None) -> list[str]:
        """The argv of a ``wheelhouse download`` from the benchmark index into ``dest``."""
        return [
            self.wheelhouse,
            "download",
            "-r",
            str(requirements or self.requirements),
            "--wheels",
            str(dest),
            "--index-url",
            self.server.index_url,
            "--isolated",
            *extra,
        ]

    def pip(self, *args: str) -> list[str]:
        return [self.python, "-m", "pip", *args]

    def log(self, message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)


def wheels_in(folder: Path) -> set[str]:
    """The wheel files directly in ``folder``."""
    return {p.name for p in folder.glob("*.whl")}


def check_files(folder: Path, expected: set[str], who: str) -> None:
    """Judge a download by what is on disk: exactly the expected files."""
    got = wheels_in(folder)
    if got != expected:
        missing, extra = sorted(expected - got), sorted(got - expected)
        raise RuntimeError(f"{who} produced the wrong files: missing {missing[:5]}, unexpected {extra[:5]}")


def pins_of(filenames: Sequence[str] | set[str]) -> set[tuple[str, str]]:
    """(project, version) of wheel file names."""
    out = set()
    for f in filenames:
        name, version, _, _ = parse_wheel_filename(f)
        out.add((str(name), str(version)))
    return out


def side_by_side(repeat: int, steps: dict[str, Callable[[int], Run]]) -> dict[str, Timing]:
    """Run each contender ``repeat`` times, interleaved (A B C A B C ...); their timings by name."""
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for i in range(repeat):
        for name, step in steps.items():
            # Write back what the previous contender left dirty, so that no one pays for another's writes.
            os.sync()
            samples[name].append(step(i).seconds)
    return {name: Timing(tuple(s)) for name, s in samples.items()}


@contextlib.contextmanager
def counting(server: ServerProcess) -> Iterator[list[int]]:
    """Count the requests the server receives inside the block (the list's only item, set on exit)."""
    box = [0]
    before = server.request_count()
    try:
        yield box
    finally:
        # The server logs a request before answering it, so the count is complete once the client exits.
        box[0] = server.request_count() - before


# -- verify ---------------------------------------------------------------------------------------------------


def bench_verify(ctx: Context) -> None:
    """wheelhouse verify (warm manifest; human and --json output) vs pip's dry-run resolution and uv's compile."""
    folder = ctx.fresh("verify/wheels")
    gen.link_files([ctx.file_path(f) for f in ctx.expected.values()], folder)
    expected = pins_of(set(ctx.expected.values()))
    req = str(ctx.requirements)
    env = ctx.env()
    wh = [ctx.wheelhouse, "verify", "-r", req, "--wheels", str(folder)]
    ctx.log(f"verify: {len(ctx.expected)} wheels; warming the manifest")
    run(wh, env=env).check()
    if not (folder / ".wheelhouse" / "manifest.json").is_file():
        raise RuntimeError("verify did not write a manifest")
    report = json.loads(run([*wh, "--json"], env=env).check().stdout)
    got = {(p["name"], p["version"]) for t in report["targets"] for p in t["pins"]}
    if got != expected:
        raise RuntimeError(f"wheelhouse verify pinned {sorted(got ^ expected)[:6]} differently from expected")

    pip_report = ctx.work / "verify" / "pip-report.json"

    def pip_step(_: int) -> Run:
        result = run(
            ctx.pip(
                "install",
                "--dry-run",
                "--ignore-installed",
                "--no-index",
                "--find-links",
                str(folder),
                "-r",
                req,
                "--report",
                str(pip_report),
                "-q",
            ),
            env=env,
        ).check()
        pins = {
            (str(canonicalize_name(i["metadata"]["name"])), i["metadata"]["version"])
            for i in json.loads(pip_report.read_text())["install"]
        }
        if pins != expected:
            raise RuntimeError(f"pip resolved differently: {sorted(pins ^ expected)[:6]}")
        return result

    steps: dict[str, Callable[[int], Run]] = {
        "wh": lambda _: run(wh, env=env).check(),
        "wh-json": lambda _: run([*wh, "--json"], env=env).check(),
        "pip": pip_step,
    }
    if ctx.uv:
        uv_out = ctx.work / "verify" / "uv.txt"
        uv_env = {**env, "UV_CACHE_DIR": str(ctx.work / "verify" / "uv-cache")}
        uv_argv = [ctx.uv, "pip", "compile", "--no-index", "--find-links", str(folder), req]
        uv_argv += ["--python", ctx.python, "-o", str(uv_out), "-q", "--no-header", "--no-annotate"]

        def uv_step(_: int) -> Run:
            result = run(uv_argv, env=uv_env).check()
            pins = set()
            for line in uv_out.read_text().splitlines():
                name, sep, version = line.strip().partition("==")
                if sep:
                    pins.add((str(canonicalize_name(name)), version.split()[0]))
            if pins != expected:
                raise RuntimeError(f"uv resolved differently: {sorted(pins ^ expected)[:6]}")
            return result

        uv_step(0)  # uv's warm state is its cache: fill it once, as wheelhouse's manifest was
        steps["uv"] = uv_step
    t = side_by_side(ctx.repeat, steps)
    n = len(ctx.expected)
    for label, key in (("verify", "wh"), ("verify --json", "wh-json")):
        row = Row("verify", f"{label}, warm manifest, {n} wheels", t[key], "pip install --dry-run --report", t["pip"])
        row.goal = "≥ 9x faster than pip"
        row.passed = row.ratio is not None and row.ratio >= 9
        ctx.rows.append(row)
    if "uv" in t:
        ctx.rows.append(
            Row("verify", f"verify, warm manifest, {n} wheels", t["wh"], "uv pip compile (warm cache)", t["uv"])
        )
    else:
        ctx.rows.append(Row("verify", "verify vs uv", None, note="uv not installed: pip install uv"))


# -- downloads ------------------------------------------------------------------------------------------------


def bench_download(ctx: Context) -> None:
    """Cold download: wheelhouse vs pip download vs the raw parallel fetch of the same files."""
    _cold_download(ctx, "download", "")


# An emulated link to the index: loopback has no round trips and next to unlimited bandwidth, so the download
# benchmark measures processing alone. 1 Gbit/s and 10 ms a request are a cloud machine near a CDN-fronted index.
LINK_RATE = 125_000_000
LINK_LATENCY = 0.010


# The link the download goals were set on: "the seed-like set of 99 files, 133 MB takes 0.9 s raw and 7 s with
# pip". Calibrated to those two figures, not to wheelhouse: bandwidth such that the raw fetch of the 138 MB set
# takes 0.9 s with its 0.06 s of process start and finish (138 MB / 0.84 s), and a delay per request such
# that pip's 288 serial requests bring it to 7 s (pip's own 2.2 s of processing, plus the same 0.84 s of
# transfer: 288 x 14 ms = 4 s). The report shows the raw and pip times measured, to check the calibration.
REFERENCE_RATE = 164_000_000
REFERENCE_LATENCY = 0.014


def bench_link(ctx: Context) -> None:
    """The cold download again, over an emulated network link (shared bandwidth, a delay per request)."""
    _over_link(ctx, "link", Link(LINK_RATE, LINK_LATENCY), "an emulated link")


def bench_reference(ctx: Context) -> None:
    """The cold download over an emulated link calibrated to the goals' reference figures (0.9 s raw, 7 s pip)."""
    _over_link(ctx, "reference", Link(REFERENCE_RATE, REFERENCE_LATENCY), "the reference link")


def _over_link(ctx: Context, group: str, link: Link, what: str) -> None:
    loopback = ctx.server
    with serve_in_process(ctx.index, ctx.work / f"requests-{group}.log", link=link) as server:
        ctx.server = server
        try:
            _cold_download(ctx, group, f", over {what} ({link.describe()})")
        finally:
            ctx.server = loopback


def _cold_download(ctx: Context, group: str, where: str) -> None:
    expected = set(ctx.expected.values())
    size = ctx.bytes_of(sorted(expected))
    urls = ctx.work / group / "urls.txt"
    urls.parent.mkdir(parents=True, exist_ok=True)
    # Largest first, as a scheduler that knows the sizes would do: the big files bound the wall time.
    ordered = sorted(expected, key=lambda f: -ctx.file_path(f).stat().st_size)
    urls.write_text("".join(f"{ctx.server.url}/files/{quote(f, safe='')}\n" for f in ordered))
    requests: dict[str, list[int]] = {"wh": [], "pip": []}

    def wh_step(i: int) -> Run:
        dest = ctx.fresh(f"{group}/wh")
        with counting(ctx.server) as count:
            result = run(ctx.wh_download(dest), env=ctx.env()).check()
        requests["wh"].append(count[0])
        check_files(dest, expected, "wheelhouse download")
        return result

    def pip_step(i: int) -> Run:
        dest = ctx.fresh(f"{group}/pip")
        argv = ctx.pip("download", "--no-cache-dir", "-q", "-d", str(dest), "-r", str(ctx.requirements))
        with counting(ctx.server) as count:
            result = run([*argv, "--index-url", ctx.server.index_url], env=ctx.env()).check()
        requests["pip"].append(count[0])
        check_files(dest, expected, "pip download")
        return result

    def raw_step(i: int) -> Run:
        dest = ctx.fresh(f"{group}/raw")
        result = run(
            [ctx.python, str(REPO / "bench" / "rawfetch.py"), "--jobs", "8", "--dest", str(dest), str(urls)],
            env=ctx.env(),
        )
        check_files(dest.resolve(), expected, "raw fetch")
        return result.check()

    ctx.log(f"{group}: {len(expected)} files, {size / MB:.0f} MB, cold{where}, {ctx.slow_repeat} repetitions")
    t = side_by_side(ctx.slow_repeat, {"wh": wh_step, "pip": pip_step, "raw": raw_step})
    what = f"cold download, {len(expected)} files, {size / MB:.0f} MB{where}"
    row = Row(group, what, t["wh"], "pip download", t["pip"], goal="≥ 5x faster than pip")
    row.passed = row.ratio is not None and row.ratio >= 5
    row.data = {"requests": requests, "bytes": size}
    row.note = f"requests: wheelhouse {requests['wh'][0]}, pip {requests['pip'][0]}"
    ctx.rows.append(row)
    floor = Row(group, what, t["wh"], "raw parallel GET, 8 threads (floor)", t["raw"])
    floor.goal = "≤ 1.3x the floor"
    floor.passed = t["wh"].median <= 1.3 * t["raw"].median
    floor.note = f"wheelhouse at {t['wh'].median / t['raw'].median:.2f}x the floor"
    ctx.rows.append(floor)
    for f in ("wh", "pip", "raw"):
        shutil.rmtree(ctx.work / group / f, ignore_errors=True)


def bench_noop(ctx: Context) -> None:
    """A second download into a complete folder: wheelhouse makes no request; pip resolves online again."""
    expected = set(ctx.expected.values())
    wh_dest = ctx.fresh("noop/wh")
    pip_dest = ctx.fresh("noop/pip")
    ctx.log("noop: filling the folders once")
    run(ctx.wh_download(wh_dest), env=ctx.env()).check()
    pip_argv = ctx.pip(
        "download", "-q", "-d", str(pip_dest), "-r", str(ctx.requirements), "--index-url", ctx.server.index_url
    )
    run([*pip_argv, "--no-cache-dir"], env=ctx.env()).check()
    check_files(wh_dest, expected, "wheelhouse download")
    check_files(pip_dest, expected, "pip download")
    requests: dict[str, list[int]] = {"wh": [], "pip": []}

    def counted(key: str, argv: list[str]) -> Callable[[int], Run]:
        def step(_: int) -> Run:
            with counting(ctx.server) as count:
                result = run(argv, env=ctx.env()).check()
            requests[key].append(count[0])
            return result

        return step

    t = side_by_side(
        ctx.repeat,
        {"wh": counted("wh", ctx.wh_download(wh_dest)), "pip": counted("pip", [*pip_argv, "--no-cache-dir"])},
    )
    row = Row("download", f"no-op download, {len(expected)} files present", t["wh"], "pip download (again)", t["pip"])
    row.goal = "≤ 0.3 s and 0 requests"
    row.passed = t["wh"].median <= 0.3 and max(requests["wh"]) == 0
    row.note = f"requests: wheelhouse {max(requests['wh'])}, pip {min(requests['pip'])}"
    row.data = {"requests": requests}
    ctx.rows.append(row)
    shutil.rmtree(ctx.work / "noop", ignore_errors=True)


def bench_multi(ctx: Context) -> None:
    """Four targets in one download vs one target."""
    platforms, pythons = MULTI_TARGETS
    targets = parse_targets(platforms, pythons=pythons, libc=None)
    union = set().union(*(set(ctx.expected_for(t).values()) for t in targets))
    single_target = parse_targets(platforms[:1], pythons=pythons[:1], libc=None)[0]
    single = set(ctx.expected_for(single_target).values())
    flags = [a for p in platforms for a in ("--target", p)] + [a for p in pythons for a in ("--python", p)]

    def multi_step(_: int) -> Run:
        dest = ctx.fresh("multi/four")
        result = run(ctx.wh_download(dest, *flags), env=ctx.env()).check()
        check_files(dest, union, "wheelhouse download (4 targets)")
        return result

    def single_step(_: int) -> Run:
        dest = ctx.fresh("multi/one")
        result = run(ctx.wh_download(dest, "--target", platforms[0], "--python", pythons[0]), env=ctx.env()).check()
        check_files(dest, single, "wheelhouse download (1 target)")
        return result

    multi_bytes, single_bytes = ctx.bytes_of(sorted(union)), ctx.bytes_of(sorted(single))
    ctx.log(f"multi: 4 targets, {len(union)} files, {multi_bytes / MB:.0f} MB")
    t = side_by_side(ctx.slow_repeat, {"multi": multi_step, "single": single_step})
    byte_ratio = multi_bytes / single_bytes
    time_ratio = t["multi"].median / t["single"].median
    row = Row(
        "download",
        f"4 targets (amd64+arm64 x 3.11+3.12), {len(union)} files, {multi_bytes / MB:.0f} MB",
        t["multi"],
        f"wheelhouse, 1 target ({len(single)} files, {single_bytes / MB:.0f} MB)",
        t["single"],
    )
    row.goal = f"time ≤ bytes ratio ({byte_ratio:.1f}x)"
    row.passed = time_ratio <= byte_ratio
    row.note = f"{time_ratio:.2f}x the one-target time for {byte_ratio:.1f}x the bytes"
    ctx.rows.append(row)
    shutil.rmtree(ctx.work / "multi", ignore_errors=True)


def pip_platform_argv(target: Target) -> list[str]:
    """What pip needs by hand for one target: every platform tag, the Python version, ABIs and binaries only."""
    argv = ["--only-binary=:all:"]
    for plat in target.platforms:
        argv += ["--platform", plat]
    major, minor = target.python_version
    argv += ["--python-version", f"{major}.{minor}", "--implementation", "cp"]
    argv += ["--abi", f"cp{major}{minor}", "--abi", "abi3", "--abi", "none"]
    return argv


def bench_cross(ctx: Context) -> None:
    """linux/arm64 + Python 3.12 from an x86_64 machine: one flag for wheelhouse, a tag list for pip."""
    platform_, python = CROSS_TARGET
    target = parse_targets((platform_,), pythons=(python,), libc=None)[0]
    expected_map = ctx.expected_for(target)
    expected = set(expected_map.values())
    pip_extra = pip_platform_argv(target)
    results: dict[str, set[str]] = {}

    def wh_step(_: int) -> Run:
        dest = ctx.fresh("cross/wh")
        result = run(ctx.wh_download(dest, "--target", platform_, "--python", python), env=ctx.env()).check()
        check_files(dest, expected, f"wheelhouse download --target {platform_}")
        return result

    def pip_step(_: int) -> Run:
        dest = ctx.fresh("cross/pip")
        argv = ctx.pip("download", "--no-cache-dir", "-q", "-d", str(dest), "-r", str(ctx.requirements), *pip_extra)
        result = run([*argv, "--index-url", ctx.server.index_url], env=ctx.env()).check()
        results["pip"] = wheels_in(dest)
        return result

    ctx.log(f"cross: {target.name}")
    t = side_by_side(ctx.slow_repeat, {"wh": wh_step, "pip": pip_step})
    got = results["pip"]
    by_file = {f: p for p, f in expected_map.items()}
    under = {m["name"]: m["only_under"] for m in ctx.model}
    missing = sorted(by_file[f] for f in expected - got)
    needless = sorted(str(parse_wheel_filename(f)[0]) for f in got - expected)
    n_platforms = pip_extra.count("--platform")
    row = Row(
        "cross",
        f"{platform_} + Python {python} from this {ctx.host.arch} machine",
        t["wh"],
        "pip download --platform x" + str(n_platforms),
        t["pip"],
    )
    row.goal = "complete with one flag"
    row.passed = True  # wh_step checked the folder against the expected files
    row.note = (
        f"pip missed {', '.join(f'{m} [{under[m]}]' for m in missing) or 'nothing'}; "
        f"fetched needlessly {', '.join(f'{m} [{under.get(m)}]' for m in needless) or 'nothing'}"
    )
    row.data = {"pip_missing": missing, "pip_needless": needless, "pip_platform_flags": n_platforms}
    ctx.rows.append(row)
    shown = ["pip", "download", "-d", "wheels", "-r", "requirements.txt", *pip_extra]
    ctx.details.append(
        "### Cross-platform: the pip command line\n\n"
        f"wheelhouse: `wheelhouse download -r requirements.txt --target {platform_} --python {python}`\n\n"
        f"pip needs {n_platforms} `--platform` tags by hand:\n\n```\n{shlex.join(shown)}\n```\n\n"
        "pip evaluates environment markers on the machine it runs on, not on the target, so its folder "
        f"misses {', '.join(f'`{m}` (`{under[m]}`)' for m in missing) or 'nothing'} and holds "
        f"{', '.join(f'`{m}` (`{under.get(m)}`)' for m in needless) or 'nothing'} that the target never installs.\n"
    )
    shutil.rmtree(ctx.work / "cross", ignore_errors=True)


# -- memory ---------------------------------------------------------------------------------------------------


def write_huge_wheel(directory: Path, size: int) -> str:
    """A valid wheel holding one stored (uncompressed) member of ``size`` random bytes, written in a stream."""
    import base64
    import zipfile

    filename = "huge-1.0-py3-none-any.whl"
    digest = hashlib.sha256()
    records = []
    with zipfile.ZipFile(directory / filename, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        info = zipfile.ZipInfo("huge/_payload.bin", date_time=(2024, 1, 1, 0, 0, 0))
        with zf.open(info, "w", force_zip64=True) as fh:
            left = size
            while left > 0:
                chunk = os.urandom(min(left, 1024 * 1024))
                fh.write(chunk)
                digest.update(chunk)
                left -= len(chunk)
        b64 = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
        records.append(f"huge/_payload.bin,sha256={b64},{size}")
        small = {
            "huge/__init__.py": b"",
            "huge-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: huge\nVersion: 1.0\n\n",
            "huge-1.0.dist-info/WHEEL": (
                b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
            ),
        }
        for name, data in small.items():
            zf.writestr(name, data)
            b64 = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            records.append(f"{name},sha256={b64},{len(data)}")
        records.append("huge-1.0.dist-info/RECORD,,")
        zf.writestr("huge-1.0.dist-info/RECORD", "\n".join(records) + "\n")
    return filename


def bench_memory(ctx: Context) -> None:
    """Peak resident memory of wheelhouse download (and pip) while fetching one 1 GiB wheel."""
    size = ctx.args.memory_size or (64 * 1024**2 if ctx.quick else GiB)
    root = ctx.fresh("memory/index")
    (root / "files").mkdir()
    ctx.log(f"memory: writing a {size / GiB:.2f} GiB wheel")
    filename = write_huge_wheel(root / "files", size)
    path = root / "files" / filename
    metadata = b"Metadata-Version: 2.1\nName: huge\nVersion: 1.0\n\n"
    (root / "files" / f"{filename}.metadata").write_bytes(metadata)
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            sha.update(chunk)
    entry = {
        "filename": filename,
        "sha256": sha.hexdigest(),
        "metadata_sha256": hashlib.sha256(metadata).hexdigest(),
        "requires_python": ">=3.8",
        "size": path.stat().st_size,
    }
    gen.write_pages(root, {"huge": [entry]})
    try:
        with serve_in_process(root, ctx.work / "memory" / "requests.log") as server:
            rss: dict[str, int] = {}

            def wh_step(_: int) -> Run:
                dest = ctx.fresh("memory/wh")
                argv = [ctx.wheelhouse, "download", "huge==1.0", "--wheels", str(dest)]
                result = run([*argv, "--index-url", server.index_url, "--isolated"], env=ctx.env(), memory=True)
                result.check()
                if (dest / filename).stat().st_size != entry["size"]:
                    raise RuntimeError("wheelhouse download wrote a file of the wrong size")
                rss["wh"] = max(rss.get("wh", 0), result.max_rss_kb)
                shutil.rmtree(dest)
                return result

            def pip_step(_: int) -> Run:
                dest = ctx.fresh("memory/pip")
                argv = ctx.pip("download", "--no-cache-dir", "-q", "-d", str(dest), "huge==1.0")
                result = run([*argv, "--index-url", server.index_url], env=ctx.env(), memory=True).check()
                rss["pip"] = max(rss.get("pip", 0), result.max_rss_kb)
                shutil.rmtree(dest)
                return result

            t = side_by_side(1, {"wh": wh_step, "pip": pip_step})
    finally:
        shutil.rmtree(ctx.work / "memory", ignore_errors=True)
    row = Row("memory", f"download one {size / GiB:.2f} GiB wheel", t["wh"], "pip download", t["pip"])
    row.goal = "peak RSS < 150 MB"
    row.passed = rss["wh"] < 150 * 1024
    row.note = f"peak RSS: wheelhouse {rss['wh'] / 1024:.0f} MB, pip {rss['pip'] / 1024:.0f} MB"
    row.data = {"max_rss_kb": rss, "bytes": size}
    ctx.rows.append(row)


# -- scale ----------------------------------------------------------------------------------------------------


def _scale_point(ctx: Context, folder: Path) -> tuple[dict[str, Timing], int]:
    """Verify (first and warm) and no-op download timings for one folder, and the no-op's request count."""
    env = ctx.env()
    verify = [ctx.wheelhouse, "verify", "-r", str(ctx.requirements), "--wheels", str(folder)]
    first = run(verify, env=env).check()
    counts: list[int] = []

    def noop_step(_: int) -> Run:
        with counting(ctx.server) as count:
            result = run(ctx.wh_download(folder), env=env).check()
        counts.append(count[0])
        return result

    timings = side_by_side(ctx.repeat, {"verify": lambda _: run(verify, env=env).check(), "noop": noop_step})
    timings["cold-verify"] = Timing((first.seconds,))
    return timings, max(counts)


def bench_scale(ctx: Context) -> None:
    """Warm verify and no-op download as the folder grows (the application's wheels plus unrelated ones)."""
    sizes: tuple[int, ...] = (100, 500) if ctx.quick else (100, 1000, 5000)
    app = sorted(ctx.expected.values())
    filler_dir = gen.generate_filler(max(sizes) - len(app), ctx.args.cache)
    filler = sorted(p for p in filler_dir.iterdir() if p.suffix == ".whl")
    timings: dict[int, dict[str, Timing]] = {}
    requests: dict[int, int] = {}
    for n in sizes:
        folder = ctx.fresh(f"scale/{n}")
        gen.link_files([ctx.file_path(f) for f in app] + filler[: max(0, n - len(app))], folder)
        ctx.log(f"scale: {len(wheels_in(folder))} wheels")
        timings[n], requests[n] = _scale_point(ctx, folder)
        shutil.rmtree(folder, ignore_errors=True)
    base, top = sizes[0], sizes[-1]
    for key, label, limit in (("verify", "verify, warm manifest", 1.0), ("noop", "no-op download", None)):
        for n in sizes:
            row = Row("scale", f"{label}, {n} wheels", timings[n][key])
            if key == "noop":
                row.note = f"{requests[n]} requests"
            if n == top and limit is not None:
                row.goal, row.passed = f"< {limit:g} s", timings[n][key].median < limit
            ctx.rows.append(row)
        growth = timings[top][key].median / timings[base][key].median
        row = Row("scale", f"{label}: growth {base} → {top} wheels", None)
        row.goal = f"≤ linear ({top / base:g}x)"
        row.passed = growth <= top / base
        row.note = f"time x {growth:.2f} for x {top / base:g} wheels"
        ctx.rows.append(row)
    lines = [
        "### Scale\n",
        "| wheels | verify, first (s) | verify, warm (min / median s) | no-op download (min / median s) |",
    ]
    lines.append("| --- | --- | --- | --- |")
    for n in sizes:
        lines.append(
            f"| {n} | {fmt_seconds(timings[n]['cold-verify'].min)} | {fmt_seconds(timings[n]['verify'].min)} / "
            f"{fmt_seconds(timings[n]['verify'].median)} | {fmt_seconds(timings[n]['noop'].min)} / "
            f"{fmt_seconds(timings[n]['noop'].median)} |"
        )
    ctx.details.append("\n".join(lines) + "\n")


# -- docker ---------------------------------------------------------------------------------------------------


def bench_docker(ctx: Context) -> None:
    """Image builds: offline from wheels/ vs Dockerfile.cached vs a plain index-installing Dockerfile."""
    from bench.docker_builds import docker_benchmark

    docker_benchmark(ctx)


# -- network --------------------------------------------------------------------------------------------------


def bench_network(ctx: Context) -> None:
    """Against the real index: cold download and no-op download vs pip, verify vs pip, for requirements-real.txt."""
    from bench.network import network_benchmark

    network_benchmark(ctx)


BENCHES: dict[str, Callable[[Context], None]] = {
    "verify": bench_verify,
    "download": bench_download,
    "link": bench_link,
    "reference": bench_reference,
    "noop": bench_noop,
    "multi": bench_multi,
    "cross": bench_cross,
    "memory": bench_memory,
    "scale": bench_scale,
    "docker": bench_docker,
    "network": bench_network,
}


# -- report ---------------------------------------------------------------------------------------------------


def render_markdown(info: dict[str, Any], index: dict[str, Any], rows: Sequence[Row], details: Sequence[str]) -> str:
    """The Markdown report: machine, index, the table, then details."""
    head = (
        f"Measured {info['date']} on {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GiB, "
        f"{info['os']}; Python {info['python']}, pip {info['pip']}, uv {info['uv']}, "
        f"wheelhouse {info['wheelhouse']}; load average {' / '.join(map(str, info['load_average']))} "
        "(1 / 5 / 15 min) at the end.\n\n"
        f"Index: {index['description']}.\n\n"
        "Times are wall-clock seconds of the whole command (process start included), min / median over the "
        'repetitions; "peer ÷ wheelhouse" divides medians (above 1: wheelhouse is faster).\n\n'
    )
    return head + markdown_table(rows) + "\n\n" + "\n".join(details)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/run.py", description="Measure wheelhouse against pip and uv (see bench/README.md)."
    )
    parser.add_argument("--quick", action="store_true", help="small index, fewer repetitions")
    parser.add_argument("--network", action="store_true", help="also benchmark the real index (requirements-real.txt)")
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME", help=f"run only these ({', '.join(BENCHES)}); repeatable"
    )
    parser.add_argument("--skip", action="append", default=[], metavar="NAME", help="skip these; repeatable")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions (default 5, downloads 3; quick 3/2)")
    parser.add_argument("--memory-size", type=int, default=None, help="bytes of the memory benchmark's wheel")
    parser.add_argument("--cache", type=Path, default=gen.DEFAULT_CACHE, help="where generated indexes are kept")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="where results are written")
    parser.add_argument("--index-url", default="https://pypi.org/simple", help="the real index for --network")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    names = [n for item in args.only for n in item.split(",") if n]
    skip = [n for item in args.skip for n in item.split(",") if n]
    unknown = sorted(set(names + skip) - set(BENCHES))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    selected = names or [*ALL, *(OPTIONAL if args.network else ())]
    args.selected = [n for n in BENCHES if n in selected and n not in skip]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks, print the table, write bench/results/; 1 when a benchmark failed."""
    args = parse_args(argv)
    spec = gen.QUICK if args.quick else gen.FULL
    print(f"[bench] generating or reusing the {spec.name} index under {args.cache}", file=sys.stderr, flush=True)
    index = gen.generate(spec, args.cache)
    # Bytecode as an installed package has it (pip compiles on install): no timed run pays for compiling.
    import wheelhouse

    compileall.compile_dir(str(Path(wheelhouse.__file__).parent), quiet=1)
    args.cache, args.out = args.cache.resolve(), args.out.resolve()
    work = Path(tempfile.mkdtemp(prefix="wheelhouse-bench-"))
    # Every tool runs from the work directory: a wheelhouse.toml or pip.conf around the caller's directory
    # must not change what is measured.
    previous_cwd = os.getcwd()
    os.chdir(work)
    failures: list[str] = []
    try:
        with serve_in_process(index, work / "requests.log") as server:
            ctx = Context(args, work, index, server)
            data = gen.load_model(index)
            index_info = {
                "spec": spec.name,
                "path": str(index),
                "projects": len(data["projects"]),
                "files": sum(len(v) for m in data["projects"] for v in m["files"]),
                "bytes": data["bytes"],
                "description": (
                    f"generated `{spec.name}` set, {len(data['projects'])} projects, "
                    f"{sum(len(v) for m in data['projects'] for v in m['files'])} files ({data['bytes'] / MB:.0f} MB); "
                    f"{len(ctx.requirement_lines)} top-level requirements resolve to {len(ctx.expected)} files "
                    f"({ctx.bytes_of(sorted(ctx.expected.values())) / MB:.0f} MB) for this machine "
                    f"({ctx.host.name}), served from 127.0.0.1"
                ),
            }
            for name in args.selected:
                start = time.perf_counter()
                try:
                    BENCHES[name](ctx)
                except Exception as exc:  # a failed benchmark is reported; the others still run
                    failures.append(name)
                    ctx.rows.append(Row(name, f"{name}: FAILED", None, note=str(exc).splitlines()[0][:200]))
                    traceback.print_exc()
                ctx.log(f"{name}: {time.perf_counter() - start:.0f} s")
    finally:
        os.chdir(previous_cwd)
        if args.keep:
            print(f"[bench] work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    info = machine_info()
    markdown = render_markdown(info, index_info, ctx.rows, ctx.details)
    print(markdown)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    result = {
        "machine": info,
        "index": index_info,
        "quick": args.quick,
        "selected": args.selected,
        "failures": failures,
        "rows": [r.to_json() for r in ctx.rows],
    }
    for stem in (stamp, "latest"):
        (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
        (args.out / f"{stem}.md").write_text(markdown + "\n")
    print(f"[bench] results: {args.out / (stamp + '.md')}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
