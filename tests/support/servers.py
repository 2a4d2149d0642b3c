"""Real package index servers for the publishing tests: devpi-server and pypiserver, each initialised in a
temporary folder, started on 127.0.0.1 on a free port, and stopped; and a loopback proxy that cuts uploads.

The servers run as child processes from the test environment's own scripts (the ``test`` extra installs them);
where a script is missing, :func:`missing` says which, for ``pytest.skip``. Neither server reaches the network:
devpi is initialised without its PyPI mirror and runs in offline mode, pypiserver runs without its fallback
redirect to PyPI.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CuttingProxy",
    "RunningServer",
    "free_port",
    "listed",
    "missing",
    "new_devpi_index",
    "start_devpi",
    "start_pypiserver",
    "write_example_project",
]

USER = "alice"
PASSWORD = "s3cret-pw"
STARTUP_SECONDS = 120.0


def _script(name: str) -> str | None:
    """The console script ``name`` of this environment (next to the interpreter), else on PATH."""
    return shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)


def missing(*scripts: str) -> str | None:
    """Why the servers cannot run here (a script not installed), or None."""
    absent = [s for s in scripts if _script(s) is None]
    if absent:
        return f"{', '.join(absent)} not installed (pip install -e '.[test]')"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningServer:
    """A started server: where to upload, where its Simple API is, who may upload, and how to stop it."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    repository_url: str
    index_url: str
    log: Path
    username: str = USER
    password: str = PASSWORD

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)


def pip_install_from(index_url: str, target: Path, requirement: str) -> subprocess.CompletedProcess[str]:
    """``pip install --target TARGET REQUIREMENT`` from ``index_url`` alone, with this machine's pip settings
    (and any twine variables) left out, as a clean client would install from the server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "TWINE_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--index-url",
            index_url,
            "--target",
            str(target),
            requirement,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def listed(index_url: str, project: str) -> dict[str, str]:
    """The files a server's HTML page for ``project`` lists, each with the sha256 of its link's fragment."""
    try:
        with urllib.request.urlopen(f"{index_url}{project}/", timeout=30) as response:
            page = response.read().decode()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return {}
        raise
    links = re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', page)
    return {name: href.partition("#sha256=")[2] for href, name in links}


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "DEVPI", "TWINE_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    # pyramid, under devpi, warns about pkg_resources on import; nothing a test should read.
    env["PYTHONWARNINGS"] = "ignore"
    return env


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}: {_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"{url}: the server did not answer within {STARTUP_SECONDS:.0f} s: {_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").splitlines()[-5:])
    except OSError:
        return "(no log)"


def _request(method: str, url: str, body: dict[str, object], auth: tuple[str, str] | None = None) -> None:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()


def start_devpi(folder: Path) -> RunningServer:
    """devpi-server in ``folder`` with user ``alice`` and her index ``alice/dev`` (no bases, not volatile: a
    file once uploaded cannot be replaced, as on a production index)."""
    env = _environment()
    serverdir = folder / "devpi"
    log = folder / "devpi.log"
    init = subprocess.run(
        [str(_script("devpi-init")), "--serverdir", str(serverdir), "--no-root-pypi", "--root-passwd", "root-pw"],
        env=env,
        capture_output=True,
        text=True,
        timeout=STARTUP_SECONDS,
        check=False,
    )
    if init.returncode != 0:
        raise RuntimeError(f"devpi-init failed: {init.stderr.strip()[-500:]}")
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(_script("devpi-server")),
                "--serverdir",
                str(serverdir),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--offline-mode",
                "--secretfile",
                str(_secret(folder)),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base + "/", process, log)
        _request("PUT", f"{base}/{USER}", {"password": PASSWORD, "email": "alice@example.org"})
        _request("PUT", f"{base}/{USER}/dev", {"bases": [], "volatile": False}, auth=(USER, PASSWORD))
    except BaseException:
        process.terminate()
        raise
    return RunningServer("devpi", process, base, f"{base}/{USER}/dev/", f"{base}/{USER}/dev/+simple/", log)


def _secret(folder: Path) -> Path:
    path = folder / "devpi-secret"
    path.write_text(base64.b64encode(os.urandom(32)).decode())
    path.chmod(0o600)
    return path


def start_pypiserver(folder: Path) -> RunningServer:
    """pypiserver over ``folder/packages``; uploads need alice's password (an htpasswd file), reading does not.
    It serves HTML pages only (no JSON, no PEP 658), so metadata is read by range requests."""
    packages = folder / "packages"
    packages.mkdir(parents=True, exist_ok=True)
    # Written by passlib, as pypiserver reads it, in a child process: importing passlib here would turn its
    # deprecation warnings into test errors.
    script = (
        "import sys; from passlib.apache import HtpasswdFile; "
        "f = HtpasswdFile(sys.argv[1], new=True); f.set_password(sys.argv[2], sys.argv[3]); f.save()"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(folder / "htpasswd"), USER, PASSWORD],
        env=_environment(),
        check=True,
        timeout=60,
    )
    port = free_port()
    log = folder / "pypiserver.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(_script("pypi-server")),
                "run",
                "-i",
                "127.0.0.1",
                "-p",
                str(port),
                "-a",
                "update",
                "-P",
                str(folder / "htpasswd"),
                "--disable-fallback",
                "--hash-algo",
                "sha256",
                str(packages),
            ],
            env=_environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base + "/", process, log)
    except BaseException:
        process.terminate()
        raise
    return RunningServer("pypiserver", process, base, f"{base}/", f"{base}/simple/", log)


class CuttingProxy:
    """A loopback HTTP proxy to ``upstream`` (host, port) that cuts the first ``cuts`` large uploads part-way.

    Requests are followed one by one on each connection (keep-alive included). A POST whose Content-Length
    exceeds ``after`` bytes, while cuts remain, is forwarded up to ``after`` bytes of its body, then both sides
    are closed: the server has a request cut short, the client a dropped connection, as when a link fails
    mid-upload. Everything else passes through whole.
    """

    def __init__(self, upstream: tuple[str, int], *, cuts: int = 1, after: int = 64 * 1024) -> None:
        self.upstream = upstream
        self.cuts = cuts
        self.after = after
        self.cut = 0
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port: int = self._sock.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._closed = True
        self._sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _take_cut(self) -> bool:
        with self._lock:
            if self.cut >= self.cuts:
                return False
            self.cut += 1
            return True

    def _serve(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=60)
        except OSError:
            client.close()
            return
        threading.Thread(target=pump, args=(server, client), daemon=True).start()
        try:
            self._forward_requests(client, server)
        except OSError:
            pass
        finally:
            _close(client, server)

    def _forward_requests(self, client: socket.socket, server: socket.socket) -> None:
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                data = client.recv(65536)
                if not data:
                    return
                buffer += data
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            length = int(match.group(1)) if match else 0
            cutting = head.startswith(b"POST ") and length > self.after and self._take_cut()
            server.sendall(head + b"\r\n\r\n")
            limit = self.after if cutting else length
            forwarded = 0
            while forwarded < limit:
                if not buffer:
                    buffer = client.recv(65536)
                    if not buffer:
                        return
                part = buffer[: limit - forwarded]
                server.sendall(part)
                forwarded += len(part)
                buffer = buffer[len(part) :]
            if cutting:
                return


def pump(source: socket.socket, dest: socket.socket) -> None:
    """Copy ``source`` to ``dest`` until either end closes, then close both (one direction of a relay)."""
    try:
        while data := source.recv(65536):
            dest.sendall(data)
    except OSError:
        pass
    finally:
        _close(source, dest)


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


def new_devpi_index(server: RunningServer, name: str) -> tuple[str, str]:
    """A fresh index ``alice/<name>`` on a devpi server: its upload URL and its Simple API URL."""
    _request("PUT", f"{server.base_url}/{USER}/{name}", {"bases": [], "volatile": False}, auth=(USER, PASSWORD))
    return f"{server.base_url}/{USER}/{name}/", f"{server.base_url}/{USER}/{name}/+simple/"


def write_example_project(root: Path) -> None:
    """An application whose closure differs per platform, in ``root/wheels`` with ``root/requirements.txt``:
    app 1.0 needs lib (one binary wheel per architecture) and pure (with its sdist beside it); ``other`` is in
    the folder but needed by nobody."""
    from tests.support.wheels import make_sdist, write_wheel

    wheels = root / "wheels"
    write_wheel(wheels, "app", "1.0", requires_dist=["lib>=1", "pure"])
    for arch in ("x86_64", "aarch64"):
        write_wheel(wheels, "lib", "1.0", tag=f"py3-none-manylinux_2_17_{arch}", files={"lib/arch.txt": arch.encode()})
    write_wheel(wheels, "pure", "2.0", payload_size=200_000)
    write_wheel(wheels, "other", "9.0")
    filename, data = make_sdist("pure", "2.0")
    (wheels / filename).write_bytes(data)
    (root / "requirements.txt").write_text("app==1.0\n")
