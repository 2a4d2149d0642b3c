"""What every benchmark shares: the context (index, server, work directory, tools, result rows) and the
helpers that judge and time runs. Benchmark modules import this; nothing here imports a benchmark.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from packaging.utils import parse_wheel_filename

from bench import generate as gen
from bench.harness import Row, Run, Timing, isolated_env, tool_path
from bench.server import ServerProcess
from wheelhouse.targets import Target, parse_targets

REPO = Path(__file__).resolve().parents[1]
GiB = 1024**3
MB = 1e6


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
        # wheelhouse as a user installs it (see installed_wheelhouse), not the checkout's editable install.
        self.wheelhouse = getattr(args, "wheelhouse", None) or installed_wheelhouse(args.cache)
        # The peers: pip and uv as pinned in bench/peers.txt (see installed_peers), or the machine's own.
        self.peers: str = getattr(args, "peers", "pinned")
        self.pip_python: str = sys.executable
        self.uv: str | None = tool_path("uv")
        if self.peers == "pinned":
            peers = installed_peers(args.cache)
            self.pip_python, self.uv = str(peers / "bin" / "python"), str(peers / "bin" / "uv")
        # The interpreter that runs the benchmark's own helpers (and whose Python every resolution targets).
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

    def peers_site(self) -> str | None:
        """The site-packages directory of the pinned peers' environment (None with ``--peers system``)."""
        if self.peers != "pinned":
            return None
        done = subprocess.run(
            [self.pip_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    def pip(self, *args: str) -> list[str]:
        """The argv of the measured pip: the peers' (``--peers pinned``) or this interpreter's (``system``)."""
        return [self.pip_python, "-m", "pip", *args]

    def log(self, message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)


# What a build of the distribution reads: a change to any of it is another installation.
_SOURCE = ("pyproject.toml", "README.md", "wheelhouse")
# Installations kept under the cache (the newest ones): a working tree changes often.
_KEEP_INSTALLS = 3
# The peers' pinned versions: the requirements of their virtual environment.
PEERS = REPO / "bench" / "peers.txt"


def source_digest() -> str:
    """sha256 of the distribution's source tree (paths and contents, bytecode aside)."""
    digest = hashlib.sha256()
    for top in _SOURCE:
        path = REPO / top
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            if "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            digest.update(str(file.relative_to(REPO)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def installed_wheelhouse(cache: Path) -> str:
    """The ``wheelhouse`` command of an installation of this source tree made as a user makes one (pipx, or
    ``pip install wheelhouse-cli``): a virtual environment of its own, a regular (not editable) install of
    the runtime dependencies only, from pip's configured sources, bytecode compiled by pip at install.

    Cached under ``cache`` by the source tree's digest, so a benchmark of unchanged code installs nothing. The
    checkout's editable install is not measured: its import hook and the test tools' ``.pth`` files add to
    every start-up, and a user's installation has none of them.
    """
    digest = source_digest()[:16]
    root = cache / "wheelhouse-install"
    venv = root / digest
    script = venv / "bin" / "wheelhouse"
    if (venv / "done").is_file() and script.is_file():
        return str(script)
    print(f"[bench] installing wheelhouse ({digest}) into {venv}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="wheelhouse-src-") as tmp:
        # Built from a copy: a build in the checkout would leave build/ and *.egg-info in the shared tree.
        source = Path(tmp) / "src"
        for top in _SOURCE:
            path = REPO / top
            if path.is_dir():
                shutil.copytree(path, source / top, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                source.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, source / top)
        _make_venv(venv, digest, str(source))
    _prune(root)
    return str(script)


def peers_digest() -> str:
    """sha256 of the pinned peers (bench/peers.txt) and of the interpreter their environment is made with."""
    interpreter = f"{sys.version}\0{Path(sys.executable).resolve()}"
    return hashlib.sha256(PEERS.read_bytes() + b"\0" + interpreter.encode()).hexdigest()


def installed_peers(cache: Path) -> Path:
    """The virtual environment of the peers wheelhouse is measured against: pip and uv at the versions pinned in
    bench/peers.txt (with the setuptools the sdist benchmark serves), installed from pip's configured sources,
    never the machine's own (a clean machine has the pip its Python bundles, pip 23.2.1 with Python 3.11.7, and
    no uv at all).

    Made with the interpreter that runs the benchmark, so its pip resolves for the same Python as every other
    contender. Cached under ``cache`` by the digest of the pins and the interpreter: made once, reused while
    complete.
    """
    digest = peers_digest()[:16]
    root = cache / "peers"
    venv = root / digest
    if (venv / "done").is_file() and all((venv / "bin" / tool).is_file() for tool in ("python", "uv")):
        return venv
    pins = ", ".join(line.strip() for line in PEERS.read_text().splitlines() if line.strip()[:1] not in ("", "#"))
    print(f"[bench] installing the pinned peers ({pins}) into {venv}", file=sys.stderr, flush=True)
    _make_venv(venv, digest, "-r", str(PEERS))
    _prune(root)
    return venv


def _make_venv(venv: Path, stamp: str, *install: str) -> None:
    """Make ``venv`` with this interpreter and pip-install ``install`` into it; its stamp file is written last,
    so a half-made one (a killed run) has none and is made again."""
    venv.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(venv, ignore_errors=True)  # a half-made one; its scripts name its path, so made in place
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    for argv in ([sys.executable, "-m", "venv", str(venv)], [*pip, *install]):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:5])} ... failed:\n{done.stderr[-3000:]}")
    (venv / "done").write_text(stamp + "\n")


def _prune(root: Path) -> None:
    """Keep the newest installations under ``root``."""
    installs = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in installs[_KEEP_INSTALLS:]:
        shutil.rmtree(old, ignore_errors=True)


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
    """Run each contender ``repeat`` times, interleaved, each repetition starting one contender later (A B C,
    B C A, C A B, ...) so that no one always runs first, right after another's work; their timings by name."""
    samples: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for i in range(repeat):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            # Write back what the previous contender left dirty, so that no one pays for another's writes.
            os.sync()
            samples[name].append(steps[name](i).seconds)
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
