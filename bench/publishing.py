"""Publishing to a real devpi-server: ``wheelhouse publish`` against ``twine upload`` of the same files.

The folder holds exactly the files this machine's target needs from the benchmark index (the full set's 96, the
quick set's 26). Each repetition publishes into a new, empty devpi index, one per contender, so both pay for
every upload. ``wheelhouse publish`` is timed whole, as a user runs it: the folder's resolution, the server's
pages read before, the parallel uploads, the pages read again and every target resolved over the server;
``twine upload`` sends the files one after the other and proves nothing afterwards. Both results are judged
the same way: the server's pages must list every file with its sha256.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from packaging.utils import parse_wheel_filename

from bench import generate as gen
from bench.harness import Row, Run, run, tool_path
from bench.lib import MB, Context, side_by_side

USER, PASSWORD = "bench", "bench-pw"


def bench_publish(ctx: Context) -> None:
    """wheelhouse publish (parallel, with the remote verify) vs twine upload of the same files, to devpi."""
    if tool_path("devpi-server") is None or tool_path("devpi-init") is None:
        ctx.rows.append(
            Row("publish", "publish to devpi", None, note="devpi-server not installed: pip install -e '.[test]'")
        )
        return
    folder = ctx.fresh("publish/wheels")
    files = sorted(ctx.expected.values())
    gen.link_files([ctx.file_path(f) for f in files], folder)
    hashes = {f: hashlib.sha256(ctx.file_path(f).read_bytes()).hexdigest() for f in files}
    env = ctx.env()
    with _devpi(ctx.fresh("publish/devpi"), env) as base:
        count = {"n": 0}

        def new_index(prefix: str) -> str:
            count["n"] += 1
            name = f"{prefix}{count['n']}"
            _call("PUT", f"{base}/{USER}/{name}", {"bases": [], "volatile": False}, auth=True)
            return f"{base}/{USER}/{name}/"

        def check(index: str, who: str) -> None:
            listed: dict[str, str] = {}
            for project in sorted({str(parse_wheel_filename(f)[0]) for f in files}):
                listed.update(_listed(f"{index}+simple/{project}/"))
            wrong = sorted(f for f in files if listed.get(f) != hashes[f])
            if wrong:
                raise RuntimeError(f"{who}: the server does not list {len(wrong)} files with their sha256: {wrong[:3]}")

        with_password = base.replace("http://", f"http://{USER}:{PASSWORD}@", 1)

        def wheelhouse_step(_: int) -> Run:
            index = new_index("wh")
            argv = [ctx.wheelhouse, "publish", "-r", str(ctx.requirements), "--wheels", str(folder)]
            argv += ["--repository-url", index.replace(base, with_password, 1), "--json"]
            result = run(argv, env=env).check()
            if not json.loads(result.stdout)["covered"]:
                raise RuntimeError("wheelhouse publish: the server does not cover the target")
            check(index, "wheelhouse publish")
            return result

        def twine_step(_: int) -> Run:
            index = new_index("tw")
            argv = [ctx.python, "-m", "twine", "upload", "--repository-url", index, "-u", USER, "-p", PASSWORD]
            argv += ["--disable-progress-bar", "--non-interactive", *(str(folder / f) for f in files)]
            result = run(argv, env=env).check()
            check(index, "twine upload")
            return result

        steps: dict[str, Callable[[int], Run]] = {"wh": wheelhouse_step, "twine": twine_step}
        timings = side_by_side(ctx.slow_repeat, steps)
    size = sum(ctx.file_path(f).stat().st_size for f in files)
    row = Row(
        "publish",
        f"publish {len(files)} files ({size / MB:.0f} MB) to devpi, pages checked and target verified after",
        timings["wh"],
        "twine upload (same files, no check)",
        timings["twine"],
    )
    ctx.rows.append(row)


@contextmanager
def _devpi(folder: Path, env: dict[str, str]) -> Iterator[str]:
    """A devpi-server in ``folder`` on a free loopback port, with user ``bench``; its base URL."""
    import socket

    server_env = {**env, "PYTHONWARNINGS": "ignore"}
    serverdir = folder / "server"
    subprocess.run(
        [str(tool_path("devpi-init")), "--serverdir", str(serverdir), "--no-root-pypi", "--root-passwd", "root"],
        env=server_env,
        capture_output=True,
        check=True,
        timeout=300,
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    secret = folder / "secret"
    secret.write_text(base64.b64encode(os.urandom(32)).decode())
    secret.chmod(0o600)
    log = (folder / "devpi.log").open("wb")
    argv = [str(tool_path("devpi-server")), "--serverdir", str(serverdir), "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--offline-mode", "--secretfile", str(secret)]
    process = subprocess.Popen(argv, env=server_env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"devpi-server exited with {process.returncode}; see {folder / 'devpi.log'}")
            try:
                with urllib.request.urlopen(base + "/", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("devpi-server did not start within 180 s") from None
                time.sleep(0.2)
        _call("PUT", f"{base}/{USER}", {"password": PASSWORD, "email": "bench@example.org"})
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _call(method: str, url: str, body: dict[str, object], *, auth: bool = False) -> None:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()


def _listed(url: str) -> dict[str, str]:
    """File name -> sha256 of the links on an HTML project page (empty when the project is not there)."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            page = response.read().decode()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return {}
        raise
    return {
        name: href.partition("#sha256=")[2] for href, name in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', page)
    }
