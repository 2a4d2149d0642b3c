"""Reproduce every performance claim of wheelhouse in one command, against pip and uv, side by side.

    python bench/run.py                    # everything, against a generated local index (no internet)
    python bench/run.py --quick            # a small index and fewer repetitions (about a minute)
    python bench/run.py --only verify      # one benchmark (repeatable, or comma-separated)
    python bench/run.py --network          # also against the real index with bench/requirements-real.txt
    python bench/run.py --peers system     # the machine's own pip and uv, not those of bench/peers.txt

Benchmarks: verify, download, noop, multi, cross, memory, scale, scale-requirements, scale-download, publish,
sdists, docker (and network with --network). Each measured command runs as a child process in an isolated
environment (no PIP_*/UV_* settings, pip's configuration files off, a private HOME, a fresh folder per cold
repetition); contenders are interleaved repetition by repetition, so a slow moment of the machine hits all of them.
Every result is checked against the expected files before its time counts. The table goes to standard output and,
with the machine it came from, to bench/results/<timestamp>.{json,md} (and latest.{json,md})."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script (python bench/run.py): the repository, not bench/, is where the imports below start.
    # No module imports this one, so it is loaded once either way (python -m bench.run too).
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import json
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from bench import generate as gen
from bench.downloads import bench_cross, bench_download, bench_link, bench_multi, bench_noop, bench_reference
from bench.folders import bench_memory, bench_scale, bench_verify
from bench.harness import Row, machine_info, markdown_table
from bench.lib import MB, REPO, Context
from bench.publishing import bench_publish
from bench.scale_download import bench_scale_download
from bench.scale_requirements import bench_scale_requirements
from bench.sdists import bench_sdists
from bench.server import serve_in_process

ALL = (
    "verify",
    "download",
    "link",
    "reference",
    "noop",
    "multi",
    "cross",
    "memory",
    "scale",
    "scale-requirements",
    "scale-download",
    "publish",
    "sdists",
    "docker",
)
OPTIONAL = ("network",)


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
    "scale-requirements": bench_scale_requirements,
    "scale-download": bench_scale_download,
    "publish": bench_publish,
    "sdists": bench_sdists,
    "docker": bench_docker,
    "network": bench_network,
}


# -- report ---------------------------------------------------------------------------------------------------


def render_markdown(info: dict[str, Any], index: dict[str, Any], rows: Sequence[Row], details: Sequence[str]) -> str:
    """The Markdown report: machine, index, the table, then details."""
    head = (
        f"Measured {info['date']} on {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GiB, "
        f"{info['os']}; Python {info['python']}, pip {info['pip']}, uv {info['uv']} ({info['peers']}), "
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
    parser.add_argument(
        "--wheelhouse",
        default=None,
        metavar="COMMAND",
        help="measure this wheelhouse command instead of installing the checkout into a virtual environment "
        "of its own (bench/.cache/wheelhouse-install/)",
    )
    parser.add_argument(
        "--peers",
        choices=("pinned", "system"),
        default="pinned",
        help="which pip and uv to measure: 'pinned' (default) installs the versions of bench/peers.txt into a "
        "virtual environment of their own (bench/.cache/peers/, made once with this interpreter); 'system' "
        "measures this interpreter's own pip (python -m pip) and the uv next to it or on PATH",
    )
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
    info = machine_info(ctx.pip_python, ctx.uv)
    info["peers"] = "pinned in bench/peers.txt" if ctx.peers == "pinned" else "the machine's own"
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
