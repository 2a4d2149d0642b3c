"""The Docker client: find it, check the daemon and BuildKit, inspect a base image, and run ``docker build``.

Docker runs only as a subprocess through an injected :class:`~wheelhouse._proc.Runner`, so tests check the exact
argv without Docker. A client asks the engine what it is once (:meth:`DockerClient.info`); ``wheelhouse build``
and sdist builds in containers both use that one probe.
Which client runs is configurable (``--docker`` / ``WHEELHOUSE_DOCKER``): on some machines the first ``docker``
on ``PATH`` is a newer client without the buildx plugin, which refuses BuildKit builds, while the
distribution's client drives the engine's built-in BuildKit.

Failures are judged from exit codes; the client's last error line is only quoted in the message.

A base image is judged by what it runs (:meth:`DockerClient.probe_image`): it must be on this machine, since an
offline build cannot pull it, and an image of another architecture can run only under emulation, which is said
in one line when it is missing. The classic builder keeps every stage but the last as an untagged image; the
install stage holds the wheels, so :meth:`DockerClient.remove_stage_images` removes exactly the ones a build
made.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from wheelhouse._proc import CAPTURE, TERMINAL, Runner, RunResult, subprocess_runner
from wheelhouse.docker.images import BaseImage
from wheelhouse.errors import DockerError
from wheelhouse.targets import DOCKER_ARCHES, Target

__all__ = [
    "DOCKER_ENV",
    "BuildRequest",
    "DockerClient",
    "DockerInfo",
    "build_argv",
    "build_request",
    "platform_tag",
    "stage_names",
]

# The environment variable naming the client, as --docker does.
DOCKER_ENV = "WHEELHOUSE_DOCKER"
INSTALL_HINT = "install Docker (https://docs.docker.com/engine/install/), or name the client with --docker PATH"
# Docker Engine 23 is the first whose built-in Dockerfile frontend knows `RUN --network` (Dockerfile 1.3+);
# older engines, such as Debian bookworm's docker.io 20.10, refuse it without a `# syntax=` line, which would
# pull a frontend image.
RUN_NETWORK_MIN_ENGINE = (23, 0)
# The first client whose `docker build` needs the buildx plugin for BuildKit; older ones carry a builder.
BUILDX_REQUIRED_CLIENT = (23, 0)
_PROBE_TIMEOUT = 60.0
# What the image's python3 says it is. musl has no libc_ver(): its loader names itself and its version when run
# with no arguments.
_PROBE_SCRIPT = """\
import glob, json, platform, re, subprocess, sys
musl = None
for loader in glob.glob('/lib/ld-musl-*.so.1'):
    out = subprocess.run([loader], capture_output=True, text=True).stderr
    found = re.search(r'Version ([0-9]+)[.]([0-9]+)', out)
    musl = [int(found.group(1)), int(found.group(2))] if found else None
print(json.dumps({'python': list(sys.version_info[:3]), 'machine': platform.machine(),
                  'libc': list(platform.libc_ver()), 'musl': musl}))
"""
_LABEL_FORMAT = "{{.Os}}/{{.Architecture}}{{if .Variant}}/{{.Variant}}{{end}}"
EMULATION_HINT = (
    "install QEMU's emulators where the engine runs (apt-get install qemu-user-static binfmt-support, then "
    "update-binfmts --enable), or build on a machine of that architecture"
)


@dataclass(frozen=True)
class DockerInfo:
    """What the client and the daemon are, and whether BuildKit builds are possible (and if not, why)."""

    client: str
    client_version: str
    server_version: str
    server_os: str
    server_arch: str  # machine name, e.g. x86_64
    buildkit: bool
    buildkit_reason: str = ""

    @property
    def server_platform(self) -> str:
        """The daemon's own platform in Docker's words, e.g. ``linux/amd64``."""
        for platform, machine in DOCKER_ARCHES.items():
            if machine == self.server_arch:
                return platform
        return f"{self.server_os}/{self.server_arch}"


@dataclass(frozen=True)
class BuildRequest:
    """One ``docker build``: which Dockerfile, what to tag, for which platform and with which network."""

    dockerfile: str
    context: str = "."
    tags: tuple[str, ...] = ()
    platform: str | None = None
    network: str | None = None
    build_args: tuple[tuple[str, str], ...] = ()
    # (id, file) pairs for `--secret id=ID,src=FILE` (BuildKit only); the command line names the file, never the
    # value.
    secrets: tuple[tuple[str, str], ...] = ()
    extra_args: tuple[str, ...] = ()
    buildkit: bool = True


def build_argv(client: str, request: BuildRequest) -> list[str]:
    """The ``docker build`` command line for ``request`` (options first, the extra arguments, then the context)."""
    argv = [client, "build"]
    if request.network:
        argv.append(f"--network={request.network}")
    if request.platform:
        argv += ["--platform", request.platform]
    argv += ["-f", request.dockerfile]
    for tag in request.tags:
        argv += ["-t", tag]
    for key, value in request.build_args:
        argv += ["--build-arg", f"{key}={value}"]
    for secret_id, path in request.secrets:
        argv += ["--secret", f"id={secret_id},src={path}"]
    argv += list(request.extra_args)
    argv.append(request.context)
    return argv


def build_request(
    *,
    dockerfile: str,
    target: Target,
    info: DockerInfo,
    offline: bool,
    tags: Sequence[str] = (),
    build_args: Sequence[tuple[str, str]] = (),
    secrets: Sequence[tuple[str, str]] = (),
    extra_args: Sequence[str] = (),
    context: str = ".",
) -> BuildRequest:
    """A request for ``target``: ``--platform`` only when the target is not the daemon's own platform (Docker
    would otherwise pick the daemon's), ``--network=none`` for an offline build."""
    platform = None if _same_platform(target, info) else target.docker_platform
    return BuildRequest(
        dockerfile=dockerfile,
        context=context,
        tags=tuple(tags),
        platform=platform,
        network="none" if offline else None,
        build_args=tuple(build_args),
        secrets=tuple(secrets),
        extra_args=tuple(extra_args),
        buildkit=info.buildkit,
    )


def platform_tag(tag: str, platform: str) -> str:
    """``tag`` for one platform of a multi-platform build: ``app:1`` -> ``app:1-arm64``, ``app`` ->
    ``app:latest-arm64``. Without buildx a local image store holds one platform per name, so each gets its own."""
    suffix = platform.split("/", 1)[-1].replace("/", "-")
    name = tag.split("@", 1)[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        return f"{name}-{suffix}"
    return f"{name}:latest-{suffix}"


_FROM_RE = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?\S+(?:\s+AS\s+(\S+))?\s*$", re.IGNORECASE | re.MULTILINE)


def stage_names(dockerfile_text: str) -> tuple[str, ...]:
    """The named stages of a Dockerfile before its last one: what the classic builder leaves as untagged images."""
    stages = [match.group(1) for match in _FROM_RE.finditer(dockerfile_text)]
    return tuple(name for name in stages[:-1] if name)


# Arguments after -- that must not reach the quiet rebuild that finds a stage's image: it must hit the cache
# the build just filled, and name nothing.
_DROPPED_FLAGS = {"--no-cache", "--pull", "-q", "--quiet"}
_DROPPED_WITH_VALUE = {"-t", "--tag", "--iidfile", "--target", "-o", "--output"}


def _cache_hitting(extra_args: Sequence[str]) -> tuple[str, ...]:
    kept: list[str] = []
    skip = False
    for arg in extra_args:
        if skip:
            skip = False
            continue
        if arg in _DROPPED_FLAGS or arg.split("=", 1)[0] in _DROPPED_WITH_VALUE | _DROPPED_FLAGS:
            continue
        if arg in _DROPPED_WITH_VALUE:
            skip = True
            continue
        kept.append(arg)
    return tuple(kept)


def _same_platform(target: Target, info: DockerInfo) -> bool:
    return info.server_os == "linux" and info.server_arch == target.arch


def _version(text: str) -> tuple[int, int] | None:
    match = re.match(r"^v?(\d+)\.(\d+)", text.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def _json_object(text: str) -> dict[str, object]:
    """The first line of ``text`` as a JSON object, or an empty dict."""
    lines = text.strip().splitlines()
    try:
        value = json.loads(lines[0]) if lines else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _major_minor(parts: Sequence[object]) -> tuple[int, int] | None:
    try:
        return (int(str(parts[0])), int(str(parts[1])))
    except (IndexError, ValueError):
        return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


class DockerClient:
    """One Docker client executable, run through ``runner`` with ``env`` (default: this process's)."""

    def __init__(
        self,
        executable: str = "docker",
        *,
        env: Mapping[str, str] | None = None,
        runner: Runner = subprocess_runner,
        which: Callable[[str], str | None] | None = None,
    ) -> None:
        self.executable = executable
        self.env = dict(os.environ if env is None else env)
        self.runner = runner
        # The client is looked up on the PATH of the environment it runs with.
        self.which = which or (lambda name: shutil.which(name, path=self.env.get("PATH")))
        self._info: DockerInfo | None = None

    # -- running --------------------------------------------------------------------------------------------

    def _run(
        self,
        *args: str,
        capture: bool = True,
        timeout: float | None = _PROBE_TIMEOUT,
        env: Mapping[str, str] | None = None,
    ) -> RunResult:
        argv = [self.path(), *args]
        try:
            output = CAPTURE if capture else TERMINAL
            return self.runner(argv, env=self.env if env is None else env, output=output, timeout=timeout)
        except FileNotFoundError:
            raise DockerError(f"the Docker client {self.executable!r} is not installed", hint=INSTALL_HINT) from None
        except PermissionError:
            raise DockerError(f"the Docker client {self.executable!r} cannot be run (permission denied)") from None

    def path(self) -> str:
        """The client's path; raises :class:`DockerError` when it is not installed."""
        found = self.which(self.executable)
        if found is None:
            raise DockerError(f"the Docker client {self.executable!r} is not installed", hint=INSTALL_HINT)
        return found

    # -- checks ---------------------------------------------------------------------------------------------

    def info(self) -> DockerInfo:
        """Client and daemon versions and BuildKit availability; raises when the daemon does not answer."""
        if self._info is not None:
            return self._info
        result = self._run("version", "--format", "{{json .}}")
        data = _json_object(result.stdout)
        client = data.get("Client")
        server = data.get("Server")
        if result.returncode != 0 or not isinstance(server, dict):
            raise self._unreachable(result)
        if not isinstance(client, dict):
            client = {}
        client_version = str(client.get("Version", ""))
        server_version = str(server.get("Version", ""))
        server_os = str(server.get("Os", "linux"))
        server_arch = DOCKER_ARCHES.get(f"linux/{server.get('Arch', '')}", str(server.get("Arch", "")))
        buildkit, reason = self._buildkit(client_version, server_os)
        self._info = DockerInfo(
            client=self.executable,
            client_version=client_version,
            server_version=server_version,
            server_os=server_os,
            server_arch=server_arch,
            buildkit=buildkit,
            buildkit_reason=reason,
        )
        return self._info

    def _unreachable(self, result: RunResult) -> DockerError:
        detail = _last_line(result.stderr) or f"exit status {result.returncode}"
        host = self.env.get("DOCKER_HOST")
        where = f" at {host}" if host else ""
        if "permission denied" in detail.lower():
            hint = "add your user to the docker group (sudo usermod -aG docker $USER, then log in again), or use sudo"
        else:
            hint = "start the Docker daemon (sudo systemctl start docker), or point DOCKER_HOST at a running one"
        return DockerError(f"the Docker daemon{where} is not reachable: {detail}", hint=hint)

    def _buildkit(self, client_version: str, server_os: str) -> tuple[bool, str]:
        setting = self.env.get("DOCKER_BUILDKIT", "").strip().lower()
        if setting in ("0", "false", "no", "off"):
            return False, f"DOCKER_BUILDKIT={self.env['DOCKER_BUILDKIT']} turns it off"
        if server_os != "linux":
            return False, f"the Docker daemon runs {server_os} containers"
        if self._run("buildx", "version").returncode == 0:
            return True, ""
        version = _version(client_version)
        if version is not None and version < BUILDX_REQUIRED_CLIENT:
            if version < (18, 9):
                return False, f"the Docker client {client_version} predates BuildKit (18.09)"
            # Clients before 23.0 carry their own BuildKit session; DOCKER_BUILDKIT=1 turns it on.
            return True, ""
        return False, (
            f"the Docker client {client_version or self.executable} builds with BuildKit only through the buildx "
            "plugin, and `docker buildx version` fails"
        )

    def require_buildkit(self, why: str) -> DockerInfo:
        """The info, or a :class:`DockerError` saying why BuildKit, which ``why`` needs, is unavailable."""
        info = self.info()
        if not info.buildkit:
            raise DockerError(
                f"{why} needs BuildKit, which is not available: {info.buildkit_reason}",
                hint="install the buildx plugin (package docker-buildx-plugin from Docker's repository, or "
                "docker-buildx on Debian 13 and Ubuntu), unset DOCKER_BUILDKIT=0, or pick a client that builds "
                "with BuildKit with --docker PATH",
            )
        return info

    def require_run_network(self) -> DockerInfo:
        """The info, or a :class:`DockerError` when the engine's builder refuses ``RUN --network=none``."""
        info = self.require_buildkit("RUN --network=none")
        version = _version(info.server_version)
        if version is not None and version < RUN_NETWORK_MIN_ENGINE:
            raise DockerError(
                f"the Docker engine {info.server_version} does not know RUN --network=none (it needs Engine 23 or "
                "newer without a `# syntax=` line, which would pull a frontend image)",
                hint="render without --run-network-none: `docker build --network=none` keeps the build offline",
            )
        return info

    # -- images ---------------------------------------------------------------------------------------------

    def image_label(self, reference: str) -> str | None:
        """The platform ``reference`` is labelled with (``linux/arm64``), or None when it is not on this machine."""
        inspected = self._run("image", "inspect", "--format", _LABEL_FORMAT, reference)
        return inspected.stdout.strip() if inspected.returncode == 0 else None

    def probe_image(self, reference: str, *, offline: bool = False) -> BaseImage:
        """Inspect a local image and run its Python once (with no network) to learn version, machine and libc.

        The image must already be on this machine: pulling it is the user's decision, not a side effect, and an
        offline build could not (``offline`` words the message for that case).
        """
        label = self.image_label(reference)
        if label is None:
            if offline:
                raise DockerError(
                    f"the base image {reference} is not on this machine, and an offline build cannot pull it",
                    hint=f"load it: docker load -i FILE (a file made where a registry is reachable with "
                    f"docker save {reference} -o FILE)",
                )
            raise DockerError(
                f"the base image {reference} is not on this machine, so its Python cannot be checked",
                hint=f"docker pull {reference}, or declare its Python with --base-python X.Y",
            )
        labelled = DOCKER_ARCHES.get(label, label.split("/", 2)[1] if label.count("/") else label)
        run = self._run(
            "run", "--rm", "--network=none", "--entrypoint", "python3", reference, "-c", _PROBE_SCRIPT, timeout=120
        )
        facts = _json_object(run.stdout.strip().splitlines()[-1]) if run.returncode == 0 and run.stdout.strip() else {}
        try:
            major, minor, patch = (int(x) for x in facts["python"][:3])  # type: ignore[index]
        except (KeyError, TypeError, ValueError):
            detail = _last_line(run.stderr) or f"exit status {run.returncode}"
            daemon = self.info()
            # An image of another architecture that does not run: without emulation the kernel cannot execute
            # its programs (Docker exits 1 with "exec format error"; the exit status alone does not tell).
            if labelled != daemon.server_arch:
                raise DockerError(
                    f"cannot run the {label} base image {reference} on this {daemon.server_platform} engine: "
                    f"there is no emulation for {labelled} ({detail})",
                    hint=EMULATION_HINT,
                ) from None
            raise DockerError(
                f"cannot run python3 in the base image {reference} ({label}): {detail}",
                hint="declare its Python with --base-python X.Y",
            ) from None
        libc_facts = facts.get("libc")
        lib, lib_version = ([*libc_facts, "", ""] if isinstance(libc_facts, list) else ["", ""])[:2]
        glibc = None
        libc = None
        if lib == "glibc":
            libc = "glibc"
            glibc = _major_minor(str(lib_version).split("."))
        musl_facts = facts.get("musl")
        musl = _major_minor(musl_facts) if isinstance(musl_facts, list) else None
        if libc is None and musl is not None:
            libc = "musl"
        machine = str(facts.get("machine") or labelled)
        return BaseImage(
            reference,
            (major, minor),
            f"{major}.{minor}.{patch}",
            libc,
            glibc,
            machine,
            "probed",
            musl=musl,
            label=label,
        )

    # -- building -------------------------------------------------------------------------------------------

    def build(self, request: BuildRequest, *, hint: str | None = None) -> list[str]:
        """Run ``docker build`` with its output on this terminal; raises :class:`DockerError` (with ``hint``)
        when it fails. Returns the argv that ran.
        """
        if request.secrets and not request.buildkit:
            # The classic builder knows neither --secret nor secret mounts; never fall back to a build argument.
            raise DockerError(f"docker build -f {request.dockerfile} passes secrets, which need BuildKit")
        env = dict(self.env)
        # Clients before 23.0 build with the classic builder unless told otherwise.
        env["DOCKER_BUILDKIT"] = "1" if request.buildkit else env.get("DOCKER_BUILDKIT", "0")
        argv = build_argv(self.path(), request)
        result = self._run(*argv[1:], capture=False, timeout=None, env=env)
        if result.returncode != 0:
            raise DockerError(
                f"docker build -f {request.dockerfile} failed (exit status {result.returncode})", hint=hint
            )
        return argv

    def remove_stage_images(self, request: BuildRequest, stages: Sequence[str]) -> list[str]:
        """After a classic build of ``request``: remove the untagged images it left for ``stages``.

        The classic builder keeps each stage but the last as an image; the install stage's holds every wheel it
        copied. Its id is asked of the builder itself (the same build, quiet, up to that stage, all from the
        cache the build just filled), so only this build's images are removed, never another's on a shared
        engine. An image that is tagged or still used stays. Returns the ids removed.
        """
        if request.buildkit:
            return []
        env = {**self.env, "DOCKER_BUILDKIT": self.env.get("DOCKER_BUILDKIT", "0")}
        removed: list[str] = []
        for stage in stages:
            quiet = replace(request, tags=(), extra_args=(*_cache_hitting(request.extra_args), "-q", "--target", stage))
            found = self._run(*build_argv(self.path(), quiet)[1:], timeout=None, env=env)
            image_id = _last_line(found.stdout)
            if found.returncode != 0 or not image_id:
                continue
            tagged = self._run("image", "inspect", "--format", "{{len .RepoTags}}", image_id)
            if tagged.returncode != 0 or tagged.stdout.strip() != "0":
                continue
            if self._run("image", "rm", image_id).returncode == 0:
                removed.append(image_id)
        return removed
