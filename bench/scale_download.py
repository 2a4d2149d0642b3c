"""The requirement-scale benchmark for ``download``: a covered re-run and a re-run with one new requirement, over
the folders of :mod:`bench.scale_requirements` (n requirements over n wheels, no network).

A download resolves over the folder first and an index second. Both runs here must stay proportional to the
size of the requirements file: the covered re-run fetches nothing and asks nothing (``--no-index``), the second
adds one project served by a find-links directory that depends on projects already present. pip does the same
work with ``pip download --no-index --find-links``; it copies nothing it already has either. pip is measured at
1,000 lines only (its time grows with the square of the set: 2,000 lines take it over a minute a repetition), so
the larger sizes report wheelhouse's growth alone.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path

from bench import wheels as wheel_factory
from bench.harness import Row, Run, Timing, run
from bench.lib import Context, side_by_side
from bench.scale_requirements import QUICK_SIZES, SIZES, scale_folder

__all__ = ["bench_scale_download"]

PIP_UP_TO = 1000
NEW_PROJECT = "scale-new-project"


def _measure(ctx: Context, n: int, pool_size: int) -> dict[str, dict[str, Timing]]:
    base = ctx.work / "scale-download" / str(n)
    ctx.log(f"scale-download: {n} requirements over {n} wheels")
    scale_folder(n, base, ctx.args.cache, pool_size=pool_size)
    folder, req = base / "wheels", base / "requirements.txt"
    links = base / "links"
    links.mkdir()
    # One new project that needs two projects already in the folder.
    wheel_factory.write_wheel(links, NEW_PROJECT, "1.0", requires_dist=["scale-pkg-00000", "scale-pkg-00001"])
    grown = base / "requirements-grown.txt"
    grown.write_text(req.read_text() + f"{NEW_PROJECT}\n")
    env = ctx.env()
    # pip's folder is a copy, not hard links: a link shares the file's ctime, and a new link to a wheel would
    # change it under wheelhouse's folder, whose manifest would then rightly trust none of its records.
    pip_dir = base / "pip"
    shutil.copytree(folder, pip_dir)
    wh_noop = [ctx.wheelhouse, "download", "-r", str(req), "--wheels", str(folder), "--no-index"]
    run(wh_noop, env=env, timeout=3600).check()  # the manifest a folder in use has
    wh_grown_argv = [ctx.wheelhouse, "download", "-r", str(grown), "--wheels", str(folder), "--no-index"]
    new_wheel = folder / wheel_factory.wheel_filename(NEW_PROJECT.replace("-", "_"), "1.0")

    def wh_grown(_: int) -> Run:
        # The folder in use, one requirement added: the new wheel is fetched, then removed for the next run.
        result = run([*wh_grown_argv, "--find-links", str(links)], env=env, timeout=3600).check()
        if not new_wheel.is_file():
            raise RuntimeError(f"wheelhouse did not add {NEW_PROJECT}")
        new_wheel.unlink()
        return result

    def pip_argv(requirements: Path, *find_links: Path) -> list[str]:
        links_args = [arg for path in (folder, *find_links) for arg in ("--find-links", str(path))]
        return ctx.pip("download", "--no-index", *links_args, "-d", str(pip_dir), "-r", str(requirements), "-q")

    noop: dict[str, Callable[[int], Run]] = {"wh": lambda _: run(wh_noop, env=env, timeout=3600).check()}
    # After its first run the covered re-run is answered from the proof cache; --no-cache measures it resolved.
    noop_full = {"wh": lambda _: run([*wh_noop, "--no-cache"], env=env, timeout=3600).check()}
    added: dict[str, Callable[[int], Run]] = {"wh": wh_grown}
    if n <= PIP_UP_TO:
        noop["pip"] = lambda _: run(pip_argv(req), env=env, timeout=3600).check()

        def pip_grown(_: int) -> Run:
            result = run(pip_argv(grown, links), env=env, timeout=3600).check()
            (pip_dir / new_wheel.name).unlink()
            return result

        added["pip"] = pip_grown
    repeat = ctx.repeat if n <= 2000 else ctx.slow_repeat
    timings = {
        "noop": side_by_side(repeat, noop),
        "noop-full": side_by_side(repeat, noop_full),
        "added": side_by_side(repeat, added),
    }
    if "pip" in timings["noop"]:
        timings["noop-full"]["pip"] = timings["noop"]["pip"]  # the same work for pip: measured once
    shutil.rmtree(base, ignore_errors=True)
    return timings


def bench_scale_download(ctx: Context) -> None:
    """Covered re-run and one-new-requirement download of n requirements over n wheels, n up to 10,000."""
    sizes = QUICK_SIZES if ctx.quick else (SIZES[0], SIZES[-1])
    points = {n: _measure(ctx, n, max(SIZES)) for n in sizes}
    kinds = {
        "noop": "covered re-run (nothing to fetch), proof cached",
        "noop-full": "covered re-run (nothing to fetch), proved again (--no-cache)",
        "added": "one new requirement from --find-links",
    }
    for n, point in points.items():
        for kind, label in kinds.items():
            timing = point[kind]
            row = Row("scale-download", f"download, {n:,} requirements: {label}", timing["wh"])
            if "pip" in timing:
                row.peer, row.peer_timing = "pip download --no-index --find-links", timing["pip"]
            else:
                row.note = f"pip not run above {PIP_UP_TO:,} lines"
            row.data = {"requirements": n}
            ctx.rows.append(row)
    base_n, top_n = sizes[0], sizes[-1]
    bound = (top_n * math.log(top_n)) / (base_n * math.log(base_n))
    for kind, label in kinds.items():
        growth = points[top_n][kind]["wh"].median / points[base_n][kind]["wh"].median
        row = Row("scale-download", f"download, {label}: growth {base_n:,} → {top_n:,} requirements", None)
        row.goal = f"≤ n log n (x {bound:.1f})"
        row.passed = growth <= bound
        row.note = f"time x {growth:.2f} for x {top_n / base_n:g} requirements"
        ctx.rows.append(row)
