"""Measuring: isolated environments for every tool, timed child processes with their peak memory, result rows.

Every measured command runs as a child process (interpreter start-up included, as a user pays it), in an
environment cleared of the machine's pip and uv settings, with a private ``HOME``. Time is wall-clock around the
child; peak memory is the child's own ``ru_maxrss`` from ``wait4(2)``, so it is the measured process's and not
the benchmark runner's.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Run:
    """One finished child process."""

    argv: tuple[str, ...]
    returncode: int
    seconds: float
    max_rss_kb: int
    stdout: str
    stderr: str

    def check(self, *ok: int) -> Run:
        """This run, or a RuntimeError naming the command and its last error lines when it failed."""
        if self.returncode not in (ok or (0,)):
            tail = "\n".join((self.stderr or self.stdout).strip().splitlines()[-12:])
            raise RuntimeError(f"{' '.join(self.argv[:6])} ... exited {self.returncode}:\n{tail}")
        return self


# Linux keeps the high-water mark of the memory a process had before exec(): a child forked (or vforked) from
# the benchmark runner reports at least the runner's own peak. Measured commands therefore start from a tiny
# launcher - GNU time where it exists, else a small Python one - whose child really starts from nothing.
_LAUNCHER = (
    "import os, sys\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.execvp(sys.argv[2], sys.argv[2:])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    timeout: float = 900,
    memory: bool = False,
) -> Run:
    """Run ``argv`` to completion: wall time and, with ``memory``, the command's own peak resident memory."""
    if memory:
        with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
            if os.access("/usr/bin/time", os.X_OK):
                wrapped = ["/usr/bin/time", "-q", "-f", "%M", "-o", rss_file.name, *argv]
            else:
                wrapped = [sys.executable, "-c", _LAUNCHER, rss_file.name, *argv]
            result = run(wrapped, env=env, cwd=cwd, timeout=timeout)
            text = Path(rss_file.name).read_text().strip().splitlines()
            max_rss = int(text[-1]) if text and text[-1].isdigit() else 0
        return Run(tuple(argv), result.returncode, result.seconds, max_rss, result.stdout, result.stderr)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        # wait4 (not Popen.wait) so the kernel hands over the child's resource usage with its status.
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(tuple(argv), proc.returncode, seconds, int(usage.ru_maxrss), out.read(), err.read())


@dataclass(frozen=True)
class Timing:
    """Repeated measurements of one command, in seconds."""

    samples: tuple[float, ...]

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def to_json(self) -> dict[str, Any]:
        return {
            "min": round(self.min, 4),
            "median": round(self.median, 4),
            "samples": [round(s, 4) for s in self.samples],
        }


@dataclass
class Row:
    """One line of the result table: wheelhouse against one peer (or against a goal alone)."""

    group: str
    what: str
    wheelhouse: Timing | None
    peer: str | None = None
    peer_timing: Timing | None = None
    goal: str = ""
    passed: bool | None = None
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """Peer median / wheelhouse median: how many times faster wheelhouse is."""
        if self.wheelhouse is None or self.peer_timing is None or self.wheelhouse.median <= 0:
            return None
        return self.peer_timing.median / self.wheelhouse.median

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "what": self.what,
            "wheelhouse": self.wheelhouse.to_json() if self.wheelhouse else None,
            "peer": self.peer,
            "peer_timing": self.peer_timing.to_json() if self.peer_timing else None,
            "ratio": round(self.ratio, 3) if self.ratio is not None else None,
            "goal": self.goal,
            "passed": self.passed,
            "note": self.note,
            "data": self.data,
        }


def isolated_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for every measured tool: no PIP_*/UV_* settings, pip's files off, a private HOME.

    This machine's pip configuration adds find-links and extra indexes; left in place it would change what
    pip resolves and how fast, so neither pip nor wheelhouse (which reads pip's configuration) may see it.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV", "XDG_"))}
    # A user's Python caches bytecode; without it every run would compile the modules it imports again.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        UV_NO_CONFIG="1",
        NO_COLOR="1",
        COLUMNS="160",
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_CONFIG_HOME=str(home / ".config"),
    )
    env.update(extra)
    return env


def tool_path(name: str) -> str | None:
    """A console script installed next to this interpreter, else on PATH."""
    local = Path(sys.executable).parent / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which(name)


def _version(argv: Sequence[str]) -> str:
    try:
        out = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False).stdout
    except OSError:
        return "not installed"
    match = re.search(r"\d+\.\d+(\.\d+)?", out)
    return match.group(0) if match else out.strip() or "unknown"


def machine_info(pip_python: str, uv: str | None) -> dict[str, Any]:
    """What the results were measured on: date, CPU, cores, memory, Python and every tool's version - of the pip
    (``pip_python -m pip``) and the uv that were measured."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = 0.0
    with contextlib.suppress(ValueError, OSError):
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    from wheelhouse import __version__

    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "os": f"{platform.system()} {platform.release()} ({_os_release()})",
        "cpu": cpu or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gb": round(mem_gb, 1),
        "python": platform.python_version(),
        "pip": _version([pip_python, "-m", "pip", "--version"]),
        "uv": _version([uv, "--version"]) if uv else "not installed",
        "wheelhouse": __version__,
        # Other work on the machine skews every figure; the load when the run started says how much.
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "unknown"


def fmt_seconds(value: float | None) -> str:
    """Seconds with sensible precision for a table."""
    if value is None:
        return "—"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def fmt_timing(timing: Timing | None) -> str:
    """``min / median`` in seconds."""
    if timing is None:
        return "—"
    return f"{fmt_seconds(timing.min)} / {fmt_seconds(timing.median)}"


def markdown_table(rows: Sequence[Row]) -> str:
    """The one result table: each row a ratio measured side by side in the same run."""
    lines = [
        "| benchmark | wheelhouse s (min / median) | peer | peer s (min / median) | peer ÷ wheelhouse | goal "
        "| result |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        ratio = f"{row.ratio:.1f}x" if row.ratio is not None else "—"
        result = {True: "pass", False: "**MISS**", None: "—"}[row.passed]
        what = row.what + (f" ({row.note})" if row.note else "")
        lines.append(
            f"| {what} | {fmt_timing(row.wheelhouse)} | {row.peer or '—'} | {fmt_timing(row.peer_timing)} "
            f"| {ratio} | {row.goal or '—'} | {result} |"
        )
    return "\n".join(lines)
