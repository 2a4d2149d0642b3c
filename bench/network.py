"""The same comparisons against the real package index, with bench/requirements-real.txt (opt-in: --network).

Cold download (wheelhouse vs pip download vs the floor: the raw parallel fetch of the very files wheelhouse chose
plus the project page of every project it pinned, with the Accept header wheelhouse sends), the no-op download
(wheelhouse reports its own request count in ``--json``; pip re-resolves online), and verify on the downloaded
folder vs pip's dry run. At least three repetitions, interleaved; each row's note gives the ratio of the minimums
and of the medians and the load average while it was measured. Figures depend on the link to the index, so they
are reported next to the local ones, never instead of them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from bench.harness import Row, Run, Timing, run
from bench.lib import Context, pins_of, side_by_side, wheels_in
from wheelhouse.index.pages import PAGE_ACCEPT
from wheelhouse.targets import host_target

REAL_REQUIREMENTS = Path(__file__).resolve().parent / "requirements-real.txt"


def _pins(folder: Path) -> set[tuple[str, str]]:
    return pins_of(wheels_in(folder))


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f}"


def _ratios(mine: Timing, peer: Timing) -> str:
    """The peer's time over wheelhouse's, of the minimums and of the medians."""
    return f"ratio of minimums {peer.min / mine.min:.2f}, of medians {peer.median / mine.median:.2f}"


def _uv_platform() -> list[str]:
    """uv's options for this machine's target as wheelhouse sees it, or none where uv has no such name."""
    target = host_target()
    if target.libc.family != "manylinux":
        return []
    platform = f"{target.arch}-manylinux_{target.libc.major}_{target.libc.minor}"
    # The full version: a marker such as redis's python_full_version < "3.11.3" depends on it.
    return ["--python-version", target.python_full_version, "--python-platform", platform]


def _compiled_pins(text: str) -> set[tuple[str, str]]:
    """The ``name==version`` lines of a compiled requirements file."""
    pins = set()
    for line in text.splitlines():
        name, sep, version = line.split(";")[0].strip().partition("==")
        if sep and not line.startswith(("#", " ")):
            pins.add((str(canonicalize_name(name)), version.strip()))
    return pins


def network_benchmark(ctx: Context) -> None:
    """Add the real-index rows to ``ctx``."""
    index_url: str = ctx.args.index_url
    req = str(REAL_REQUIREMENTS)
    repeat = max(3, ctx.args.repeat or 0)
    state: dict[str, object] = {}
    urls = ctx.work / "network" / "urls.txt"
    pages = ctx.work / "network" / "pages.txt"

    def wh_argv(dest: Path, *extra: str) -> list[str]:
        return [
            ctx.wheelhouse,
            "download",
            "-r",
            req,
            "--wheels",
            str(dest),
            "--index-url",
            index_url,
            "--isolated",
            *extra,
        ]

    def wh_step(i: int) -> Run:
        dest = ctx.fresh(f"network/wh{i}")
        result = run(wh_argv(dest, "--json"), env=ctx.env()).check()
        report = json.loads(result.stdout)
        state["wh_requests"] = report.get("requests")
        state["wh_pins"] = _pins(dest)
        records = json.loads((dest / ".wheelhouse" / "manifest.json").read_text()).get("records", {})
        # The raw floor fetches exactly the files wheelhouse chose, largest first.
        ordered = sorted(records, key=lambda f: -(dest / f).stat().st_size)
        urls.write_text("".join(f"{records[f]['url']}\n" for f in ordered if records[f].get("url")))
        # The page of every project it pinned: each was requested (once) to find those files.
        projects = sorted({canonicalize_name(parse_wheel_filename(f)[0]) for f in records if f.endswith(".whl")})
        pages.write_text("".join(f"{index_url.rstrip('/')}/{name}/\n" for name in projects))
        state["pages"] = len(projects)
        state["bytes"] = sum((dest / f).stat().st_size for f in records)
        if i:
            shutil.rmtree(dest)
        return result

    def pip_step(i: int) -> Run:
        dest = ctx.fresh("network/pip")
        argv = ctx.pip("download", "--no-cache-dir", "-q", "-d", str(dest), "-r", req, "--index-url", index_url)
        result = run(argv, env=ctx.env()).check()
        state["pip_pins"] = _pins(dest)
        return result

    def raw_step(i: int) -> Run:
        dest = ctx.fresh("network/raw")
        argv = [ctx.python, str(Path(__file__).resolve().parent / "rawfetch.py"), "--jobs", "8", "--dest", str(dest)]
        argv += ["--pages", str(pages), "--accept", PAGE_ACCEPT]
        result = run([*argv, str(urls)], env=ctx.env()).check()
        shutil.rmtree(dest)
        return result

    uv_platform = _uv_platform()

    def uv_step(i: int) -> Run:
        # Resolution alone, with a cache as cold as the others' (a fresh HOME): pages and metadata, no wheel.
        assert ctx.uv is not None
        out = ctx.fresh("network/uv") / "compiled.txt"
        argv = [ctx.uv, "pip", "compile", req, "--index-url", index_url, "-q", "-o", str(out), *uv_platform]
        result = run(argv, env=ctx.env()).check()
        state["uv_pins"] = _compiled_pins(out.read_text(encoding="utf-8"))
        return result

    steps: dict[str, Callable[[int], Run]] = {"wh": wh_step, "pip": pip_step, "raw": raw_step}
    if ctx.uv and uv_platform:
        steps["uv"] = uv_step
    ctx.log(f"network: cold downloads from {index_url}, {repeat} repetitions")
    t = side_by_side(repeat, steps)
    load = _load()
    wh_pins = state["wh_pins"]
    pip_pins = state["pip_pins"]
    assert isinstance(wh_pins, set)
    assert isinstance(pip_pins, set)
    size = int(str(state["bytes"]))
    what = f"real index: cold download, {len(wh_pins)} files, {size / 1e6:.0f} MB"
    row = Row("network", what, t["wh"], "pip download", t["pip"], goal="≥ 5x faster than pip")
    row.passed = row.ratio is not None and row.ratio >= 5
    differ = sorted(wh_pins ^ pip_pins)
    same = "same files as pip" if not differ else f"differs from pip in {differ[:4]}"
    row.note = f"{same}; wheelhouse made {state['wh_requests']} requests; {_ratios(t['wh'], t['pip'])}; {load}"
    ctx.rows.append(row)
    peer = f"raw parallel GET of the files + {state['pages']} project pages, 8 threads (floor)"
    floor = Row("network", what, t["wh"], peer, t["raw"], goal="≤ 2x the floor")
    floor.passed = t["wh"].median <= 2 * t["raw"].median
    floor.note = (
        f"wheelhouse at {t['wh'].min / t['raw'].min:.2f}x the floor (minimums), "
        f"{t['wh'].median / t['raw'].median:.2f}x (medians); {load}"
    )
    ctx.rows.append(floor)
    if "uv" in t:
        # Where the rest goes: how far from the floor a resolver that reads the same pages natively stays, before
        # it fetches a single wheel.
        uv_pins = state["uv_pins"]
        assert isinstance(uv_pins, set)
        uv_differ = sorted(uv_pins ^ wh_pins)
        reference = Row(
            "network",
            f"{what} (reference: a native resolver's cold resolution alone, no wheel fetched)",
            t["wh"],
            "uv pip compile, cold cache",
            t["uv"],
        )
        reference.note = (
            f"uv at {t['uv'].min / t['raw'].min:.2f}x the floor (minimums), {t['uv'].median / t['raw'].median:.2f}x"
            f" (medians); {'same pins' if not uv_differ else f'pins differ in {uv_differ[:4]}'}; {load}"
        )
        ctx.rows.append(reference)

    # No-op: the folder of the first repetition is complete.
    full = ctx.work / "network" / "wh0"
    pip_dir = ctx.work / "network" / "pip"
    requests: dict[str, list[int]] = {"wh": [], "wh-full": []}

    # One user, one environment, for every no-op run (see bench_noop: HOME keys the proof cache and seals the
    # manifest).
    wh_env = ctx.env()

    def noop(key: str, *extra: str) -> Callable[[int], Run]:
        def step(_: int) -> Run:
            result = run(wh_argv(full, "--json", *extra), env=wh_env).check()
            requests[key].append(int(json.loads(result.stdout).get("requests", -1)))
            return result

        return step

    def pip_again(_: int) -> Run:
        argv = ctx.pip("download", "--no-cache-dir", "-q", "-d", str(pip_dir), "-r", req, "--index-url", index_url)
        return run(argv, env=ctx.env()).check()

    # Answered from the proof cache (the first covered run, not measured, keeps it), and proved again
    # (--no-cache), as in the local benchmark.
    cached = noop("wh")
    cached(0)
    requests["wh"].clear()
    t = side_by_side(repeat, {"wh": cached, "wh-full": noop("wh-full", "--no-cache"), "pip": pip_again})
    for key, how in (("wh", "proof cached"), ("wh-full", "proved again (--no-cache)")):
        row = Row("network", f"real index: no-op download, {how}", t[key], "pip download (again)", t["pip"])
        row.goal = "≤ 0.3 s and 0 requests"
        row.passed = t[key].median <= 0.3 and max(requests[key]) == 0
        row.note = f"wheelhouse made {max(requests[key])} requests; {_ratios(t[key], t['pip'])}; {_load()}"
        ctx.rows.append(row)

    # Verify the downloaded folder (warm manifest) against pip and uv, as in the local benchmark.
    env = ctx.env()
    verify = [ctx.wheelhouse, "verify", "-r", req, "--wheels", str(full)]
    run(verify, env=env).check()
    report = ctx.work / "network" / "pip-report.json"
    pip_dry = ctx.pip("install", "--dry-run", "--ignore-installed", "--no-index", "--find-links", str(full), "-r", req)
    steps = {
        "wh": lambda _: run(verify, env=env).check(),
        "pip": lambda _: run([*pip_dry, "--report", str(report), "-q"], env=env).check(),
    }
    t = side_by_side(ctx.repeat, steps)
    row = Row(
        "network",
        f"real index: verify, warm manifest, {len(wh_pins)} wheels",
        t["wh"],
        "pip install --dry-run --report",
        t["pip"],
    )
    row.goal = "≥ 9x faster than pip"
    row.passed = row.ratio is not None and row.ratio >= 9
    row.note = f"{_ratios(t['wh'], t['pip'])}; {_load()}"
    ctx.rows.append(row)
    shutil.rmtree(ctx.work / "network", ignore_errors=True)
