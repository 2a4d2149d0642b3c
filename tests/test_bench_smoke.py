"""The benchmark suite works: its generated index is valid for pip, its server serves it, and run.py runs.

Nothing here times anything: the figures belong to ``python bench/run.py``, not to the tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from packaging.utils import parse_wheel_filename

from bench import generate as gen
from bench import harness
from bench.downloads import pip_platform_argv
from bench.run import parse_args
from bench.server import BenchIndexServer, Link, serve_in_thread
from wheelhouse.targets import parse_targets

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small generated index, built once for this module in a private cache."""
    return gen.generate(gen.QUICK, tmp_path_factory.mktemp("bench-cache"))


def _host_expected(root: Path) -> dict[str, str]:
    data = gen.load_model(root)
    host = parse_targets(("host",), pythons=(), libc=None)[0]
    return gen.expected_files(data["projects"], data["requirements"], host)


def test_generation_is_deterministic() -> None:
    first_projects, first_reqs = gen.build_model(gen.QUICK)
    second_projects, second_reqs = gen.build_model(gen.QUICK)
    assert first_reqs == second_reqs
    assert [(p.name, p.versions, p.deps) for p in first_projects] == [
        (p.name, p.versions, p.deps) for p in second_projects
    ]


def test_index_shape(quick_index: Path) -> None:
    data = gen.load_model(quick_index)
    projects = {p["name"]: p for p in data["projects"]}
    assert len(projects) == sum(gen.QUICK.layers)
    assert max(p["layer"] for p in projects.values()) == len(gen.QUICK.layers) - 1
    assert {p["kind"] for p in projects.values()} >= {"pure", "binary", "abi3"}
    expected = _host_expected(quick_index)
    for name, filename in expected.items():
        version = str(parse_wheel_filename(filename)[1])
        # The oldest release of every project is below every dependent's lower bound.
        assert version != projects[name]["versions"][0]
    # Marker-only projects: the win32 one is never needed on linux.
    win = next(n for n, p in projects.items() if p["only_under"] == 'sys_platform == "win32"')
    assert win not in expected
    unrequested = next(n for n, p in projects.items() if p["only_under"] == "extra docs")
    assert unrequested not in expected
    requested = next(n for n, p in projects.items() if p["only_under"] == "extra fast")
    assert requested in expected


def test_pages_match_files(quick_index: Path) -> None:
    page = json.loads((quick_index / "simple" / "index.json").read_text())
    names = [p["name"] for p in page["projects"]]
    assert len(names) == sum(gen.QUICK.layers)
    for name in names[:5]:
        files = json.loads((quick_index / "simple" / name / "index.json").read_text())["files"]
        assert files
        for entry in files:
            data = (quick_index / "files" / entry["filename"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["hashes"]["sha256"]
            metadata = (quick_index / "files" / f"{entry['filename']}.metadata").read_bytes()
            assert hashlib.sha256(metadata).hexdigest() == entry["core-metadata"]["sha256"]
            assert len(data) == entry["size"]


def test_server_negotiates_and_serves_ranges(quick_index: Path, tmp_path: Path) -> None:
    log = tmp_path / "requests.log"
    name = json.loads((quick_index / "simple" / "index.json").read_text())["projects"][0]["name"]
    with open(log, "w") as fh, serve_in_thread(quick_index, fh) as httpd:
        request = urllib.request.Request(
            f"{httpd.url}/simple/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
        )
        with urllib.request.urlopen(request) as resp:
            assert resp.headers["Content-Type"] == "application/vnd.pypi.simple.v1+json"
            filename = json.loads(resp.read())["files"][0]["filename"]
        with urllib.request.urlopen(f"{httpd.url}/simple/{name}/") as resp:
            assert resp.headers["Content-Type"].startswith("text/html")
        ranged = urllib.request.Request(f"{httpd.url}/files/{filename}", headers={"Range": "bytes=10-19"})
        with urllib.request.urlopen(ranged) as resp:
            assert resp.status == 206
            assert resp.read() == (quick_index / "files" / filename).read_bytes()[10:20]
    assert len(log.read_text().splitlines()) == 3


def test_the_link_paces_what_the_server_sends(quick_index: Path, tmp_path: Path) -> None:
    filename = json.loads((quick_index / "simple" / "index.json").read_text())["projects"][0]["name"]
    page = json.loads((quick_index / "simple" / filename / "index.json").read_text())
    wheel = page["files"][0]["filename"]
    size = (quick_index / "files" / wheel).stat().st_size
    # A link slow enough that its pace shows: one round trip plus the body at the link's rate.
    link = Link(rate=size / 0.2, latency=0.05)
    with BenchIndexServer(quick_index, None, link=link).start() as httpd:
        start = time.monotonic()
        with urllib.request.urlopen(f"{httpd.url}/files/{wheel}") as resp:
            assert resp.read() == (quick_index / "files" / wheel).read_bytes()
        assert time.monotonic() - start >= 0.2


@pytest.mark.slow
def test_pip_resolves_the_served_index_as_expected(quick_index: Path, tmp_path: Path) -> None:
    """pip, as a reference client, resolves the generated index (pages, PEP 658 metadata) to the expected pins."""
    expected = {
        (str(parse_wheel_filename(f)[0]), str(parse_wheel_filename(f)[1])) for f in _host_expected(quick_index).values()
    }
    report = tmp_path / "report.json"
    with serve_in_thread(quick_index) as httpd:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--ignore-installed",
                "-q",
                "--report",
                str(report),
                "--index-url",
                f"{httpd.url}/simple",
                "-r",
                str(quick_index / "requirements.txt"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr
    got = {(i["metadata"]["name"], i["metadata"]["version"]) for i in json.loads(report.read_text())["install"]}
    assert got == expected


def test_pip_needs_every_platform_tag_by_hand() -> None:
    target = parse_targets(("linux/arm64",), pythons=("3.12",), libc=None)[0]
    argv = pip_platform_argv(target)
    assert argv.count("--platform") >= 13
    assert argv[argv.index("--python-version") + 1] == "3.12"


def test_unknown_benchmark_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(["--only", "verify,nonsense"])
    assert exc.value.code == 2
    assert "unknown benchmark nonsense" in capsys.readouterr().err


@pytest.mark.slow
def test_run_quick_verify_end_to_end(quick_index: Path, tmp_path: Path) -> None:
    cache = quick_index.parent
    out = tmp_path / "results"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "run.py"),
            "--quick",
            "--only",
            "verify",
            "--repeat",
            "1",
            "--cache",
            str(cache),
            "--out",
            str(out),
            # The checkout's own command: installing one needs the machine's package sources, not the tests'.
            "--wheelhouse",
            str(Path(sys.executable).parent / "wheelhouse"),
            # The pinned peers would be installed from a package index: a test measures what is here.
            "--peers",
            "system",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "latest.json").read_text())
    assert result["failures"] == []
    rows = [r for r in result["rows"] if r["group"] == "verify"]
    labels = {r["what"].split(",")[0] for r in rows}
    assert labels >= {"verify", "verify --json"}
    pip_rows = [r for r in rows if r["peer"] and r["peer"].startswith("pip")]
    assert pip_rows
    assert all(r["wheelhouse"]["samples"] and r["peer_timing"]["samples"] for r in pip_rows)
    assert all(r["passed"] in (True, False) for r in pip_rows)
    markdown = (out / "latest.md").read_text()
    assert "| benchmark |" in markdown
    assert "pip install --dry-run" in markdown
    assert "| benchmark |" in proc.stdout


@pytest.mark.parametrize("gnu_time", [True, False], ids=["gnu-time", "python-launcher"])
def test_peak_memory_is_the_commands_own(gnu_time: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A child must not report the runner's memory: Linux carries the pre-exec high-water mark into the child."""
    if gnu_time and not os.access("/usr/bin/time", os.X_OK):
        pytest.skip("GNU time is not installed")
    if not gnu_time:
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, m: False if p == "/usr/bin/time" else real_access(p, m))
    ballast = bytearray(300 * 1024 * 1024)  # the runner's own memory, which must not show up below
    small = harness.run([sys.executable, "-c", "pass"], env=dict(os.environ), memory=True).check()
    big = harness.run(
        [sys.executable, "-c", "b = bytearray(200 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])"],
        env=dict(os.environ),
        memory=True,
    ).check()
    del ballast
    assert 0 < small.max_rss_kb < 100 * 1024
    assert big.max_rss_kb > 200 * 1024


def _bench_imports() -> dict[str, set[str]]:
    """bench module -> the modules it imports (any depth in the file: lazy imports count too)."""
    import ast

    graph: dict[str, set[str]] = {}
    for path in sorted((REPO / "bench").glob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names if node.module == "bench")
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
        graph[f"bench.{path.stem}"] = names
    return graph


def test_bench_is_a_package_without_cycles_that_imports_no_tests() -> None:
    graph = _bench_imports()
    assert not {m for names in graph.values() for m in names if m == "tests" or m.startswith("tests.")}
    # The script is no library: nothing imports it, so `python bench/run.py` loads one copy of it.
    assert not [name for name, names in graph.items() if "bench.run" in names]
    edges = {name: {m for m in names if m in graph} for name, names in graph.items()}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in edges[start])

    assert not [name for name in graph if reaches(name, name, set())]


@pytest.mark.parametrize("how", ["script", "module"])
def test_run_starts_as_a_script_and_as_a_module(how: str, tmp_path: Path) -> None:
    argv = [str(REPO / "bench" / "run.py")] if how == "script" else ["-m", "bench.run"]
    proc = subprocess.run(
        [sys.executable, *argv, "--only", "nonsense"],
        cwd=tmp_path if how == "script" else REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "unknown benchmark nonsense" in proc.stderr
