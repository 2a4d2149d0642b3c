"""The folder benchmarks: verify against pip's and uv's resolution, peak memory of a large download, and how
verify and the no-op download scale with the number of wheels in the folder."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from packaging.utils import canonicalize_name

from bench import generate as gen
from bench.harness import Row, Run, Timing, fmt_seconds, run
from bench.lib import Context, GiB, counting, pins_of, side_by_side, wheels_in
from bench.server import serve_in_process

# -- verify ---------------------------------------------------------------------------------------------------


def bench_verify(ctx: Context) -> None:
    """wheelhouse verify (warm manifest; human and --json output) vs pip's dry-run resolution and uv's compile:
    the answer from the proof cache (the folder and the inputs unchanged since the last verify), and the
    resolution itself (``--no-cache``)."""
    folder = ctx.fresh("verify/wheels")
    for filename in ctx.expected.values():
        # Copied, not hard-linked: a linked file's ctime changes whenever another folder linking the same index
        # file is made or removed, and verify's manifest and proof cache rightly take that for a change.
        shutil.copy2(ctx.file_path(filename), folder / filename)
    expected = pins_of(set(ctx.expected.values()))
    req = str(ctx.requirements)
    env = ctx.env()
    wh = [ctx.wheelhouse, "verify", "-r", req, "--wheels", str(folder)]
    ctx.log(f"verify: {len(ctx.expected)} wheels; warming the manifest")
    run(wh, env=env).check()
    if not (folder / ".wheelhouse" / "manifest.json").is_file():
        raise RuntimeError("verify did not write a manifest")
    json_text = run([*wh, "--json"], env=env).check().stdout
    report = json.loads(json_text)
    got = {(p["name"], p["version"]) for t in report["targets"] for p in t["pins"]}
    if got != expected:
        raise RuntimeError(f"wheelhouse verify pinned {sorted(got ^ expected)[:6]} differently from expected")

    def cached_json(_: int) -> Run:
        result = run([*wh, "--json"], env=env).check()
        if result.stdout != json_text:  # the cache must answer what the resolution answered
            raise RuntimeError("verify --json from the proof cache differs from the full run's report")
        return result

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
        "wh-json": cached_json,
        "wh-nocache": lambda _: run([*wh, "--no-cache"], env=env).check(),
        "wh-json-nocache": lambda _: run([*wh, "--json", "--no-cache"], env=env).check(),
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
    kinds = (
        ("verify", "wh", "proof cached"),
        ("verify --json", "wh-json", "proof cached"),
        ("verify", "wh-nocache", "proof not cached (--no-cache)"),
        ("verify --json", "wh-json-nocache", "proof not cached (--no-cache)"),
    )
    for label, key, how in kinds:
        what = f"{label}, warm manifest, {how}, {n} wheels"
        row = Row("verify", what, t[key], "pip install --dry-run --report", t["pip"])
        row.goal = "≥ 9x faster than pip"
        row.passed = row.ratio is not None and row.ratio >= 9
        ctx.rows.append(row)
    if "uv" in t:
        for key, how in (("wh", "proof cached"), ("wh-nocache", "proof not cached (--no-cache)")):
            row = Row("verify", f"verify, warm manifest, {how}, {n} wheels", t[key], "uv pip compile (warm cache)")
            row.peer_timing = t["uv"]
            row.goal = "≤ 1.5x uv's time and < 0.1 s"
            row.passed = row.ratio is not None and row.ratio >= 1 / 1.5 and t[key].median < 0.1
            ctx.rows.append(row)
    else:
        ctx.rows.append(Row("verify", "verify vs uv", None, note="uv not installed; --peers pinned installs it"))


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
    # --no-cache: these rows measure how the proof itself grows with the folder (the cached answers are the
    # verify and no-op benchmarks' rows).
    verify = [ctx.wheelhouse, "verify", "-r", str(ctx.requirements), "--wheels", str(folder), "--no-cache"]
    first = run(verify, env=env).check()
    counts: list[int] = []

    def noop_step(_: int) -> Run:
        with counting(ctx.server) as count:
            result = run(ctx.wh_download(folder, "--no-cache"), env=env).check()
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
