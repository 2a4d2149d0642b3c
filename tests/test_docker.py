"""``wheelhouse build`` and the Docker client: argv and checks without Docker, then real images with an engine.

The first two parts run everywhere: a fake runner checks the client's logic, and a fake ``docker`` executable
(a small script that logs its argv) checks the whole command. The last part builds real images with the
engine from ``scripts/docker-test-env.sh`` and is skipped, saying why, where that engine is not running.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import Cli, run_wheelhouse
from tests.support import docker_env
from tests.support.index_server import Fault, IndexServer
from tests.support.wheels import make_wheel, write_wheel
from wheelhouse._proc import CAPTURE, TERMINAL, Output, RunResult
from wheelhouse.docker.client import BuildRequest, DockerClient, DockerInfo, build_argv, build_request
from wheelhouse.errors import DockerError
from wheelhouse.targets import parse_target

AMD64 = parse_target("linux/amd64", python="3.11")
ARM64 = parse_target("linux/arm64", python="3.11")
TARGET_ARGS = ("--target", "linux/amd64", "--python", "3.11")


def version_json(client: str = "24.0.7", server: str | None = "24.0.7", arch: str = "amd64") -> str:
    data: dict[str, object] = {"Client": {"Version": client}, "Server": None}
    if server is not None:
        data["Server"] = {"Version": server, "Os": "linux", "Arch": arch}
    return json.dumps(data)


class FakeRunner:
    """Answers docker subcommands from a table and records every call."""

    def __init__(self, answers: Mapping[tuple[str, ...], RunResult]) -> None:
        self.answers = dict(answers)
        self.calls: list[tuple[list[str], dict[str, str], Output]] = []

    def __call__(
        self, argv: Sequence[str], *, env: Mapping[str, str], output: Output = CAPTURE, timeout: float | None = None
    ) -> RunResult:
        self.calls.append((list(argv), dict(env), output))
        for prefix, result in self.answers.items():
            if tuple(argv[1 : 1 + len(prefix)]) == prefix:
                return result
        return RunResult(99, "", f"unexpected call {argv}")


def client_with(answers: Mapping[tuple[str, ...], RunResult], env: Mapping[str, str] | None = None) -> DockerClient:
    runner = FakeRunner(answers)
    return DockerClient("docker", env=dict(env or {}), runner=runner, which=lambda name: f"/usr/bin/{name}")


def info(arch: str = "x86_64", buildkit: bool = True) -> DockerInfo:
    return DockerInfo("docker", "24.0.7", "24.0.7", "linux", arch, buildkit)


# -- argv --------------------------------------------------------------------------------------------------


def test_build_argv_puts_options_first_and_the_context_last() -> None:
    request = BuildRequest(
        dockerfile="Dockerfile.offline",
        tags=("app:1", "app:latest"),
        platform="linux/arm64",
        network="none",
        build_args=(("PIP_INDEX_URL", "http://127.0.0.1:1/simple/"),),
        extra_args=("--progress=plain",),
    )
    assert build_argv("/usr/bin/docker", request) == [
        "/usr/bin/docker",
        "build",
        "--network=none",
        "--platform",
        "linux/arm64",
        "-f",
        "Dockerfile.offline",
        "-t",
        "app:1",
        "-t",
        "app:latest",
        "--build-arg",
        "PIP_INDEX_URL=http://127.0.0.1:1/simple/",
        "--progress=plain",
        ".",
    ]


def test_platform_is_passed_only_for_a_target_that_is_not_the_daemons_own() -> None:
    same = build_request(dockerfile="Dockerfile.offline", target=AMD64, info=info("x86_64"), offline=True)
    assert same.platform is None
    assert same.network == "none"
    other = build_request(dockerfile="Dockerfile.offline", target=ARM64, info=info("x86_64"), offline=True)
    assert other.platform == "linux/arm64"
    on_arm = build_request(dockerfile="Dockerfile.wheels", target=AMD64, info=info("aarch64"), offline=False)
    assert on_arm.platform == "linux/amd64"
    assert on_arm.network is None


# -- client checks -----------------------------------------------------------------------------------------


def test_a_missing_client_is_reported_with_the_fix() -> None:
    client = DockerClient("docker", env={}, runner=FakeRunner({}), which=lambda name: None)
    with pytest.raises(DockerError, match="'docker' is not installed") as exc:
        client.info()
    assert exc.value.hint is not None
    assert "--docker PATH" in exc.value.hint


def test_an_unreachable_daemon_is_reported_with_the_fix() -> None:
    stderr = "Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?\n"
    client = client_with({("version",): RunResult(1, version_json(server=None), stderr)}, {"DOCKER_HOST": "unix:///x"})
    with pytest.raises(DockerError) as exc:
        client.info()
    assert str(exc.value) == f"the Docker daemon at unix:///x is not reachable: {stderr.strip()}"
    assert exc.value.hint is not None
    assert "start the Docker daemon" in exc.value.hint


def test_permission_denied_on_the_socket_suggests_the_docker_group() -> None:
    stderr = "Got permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock"
    client = client_with({("version",): RunResult(1, "", stderr)})
    with pytest.raises(DockerError, match="not reachable") as exc:
        client.info()
    assert exc.value.hint is not None
    assert "docker group" in exc.value.hint


@pytest.mark.parametrize(
    ("client_version", "buildx_rc", "env", "available", "reason"),
    [
        ("28.2.2", 0, {}, True, ""),
        ("20.10.24+dfsg1", 1, {}, True, ""),
        ("28.2.2", 1, {}, False, "only through the buildx plugin"),
        ("24.0.7", 0, {"DOCKER_BUILDKIT": "0"}, False, "DOCKER_BUILDKIT=0 turns it off"),
        ("17.12.1", 1, {}, False, "predates BuildKit"),
    ],
)
def test_buildkit_detection(
    client_version: str, buildx_rc: int, env: dict[str, str], available: bool, reason: str
) -> None:
    client = client_with(
        {
            ("version",): RunResult(0, version_json(client=client_version)),
            ("buildx", "version"): RunResult(buildx_rc, "", "docker: 'buildx' is not a docker command."),
        },
        env,
    )
    found = client.info()
    assert found.buildkit is available
    assert reason in found.buildkit_reason
    if not available:
        with pytest.raises(DockerError, match=r"Dockerfile\.cached needs BuildKit") as exc:
            client.require_buildkit("Dockerfile.cached")
        assert exc.value.hint is not None
        assert "buildx" in exc.value.hint


def test_run_network_none_needs_engine_23() -> None:
    old = client_with(
        {("version",): RunResult(0, version_json("20.10.24", "20.10.24")), ("buildx", "version"): RunResult(1)}
    )
    with pytest.raises(DockerError, match="does not know RUN --network=none") as exc:
        old.require_run_network()
    assert exc.value.hint is not None
    assert "without --run-network-none" in exc.value.hint
    new = client_with(
        {("version",): RunResult(0, version_json("24.0.7", "24.0.7")), ("buildx", "version"): RunResult(0)}
    )
    assert new.require_run_network().server_version == "24.0.7"


def test_probe_image_reads_python_machine_and_libc() -> None:
    facts = json.dumps({"python": [3, 11, 2], "machine": "x86_64", "libc": ["glibc", "2.36"]})
    client = client_with(
        {("image", "inspect"): RunResult(0, "linux/amd64\n"), ("run",): RunResult(0, facts + "\n")},
    )
    image = client.probe_image("acme/py:1")
    assert (image.python, image.python_full, image.arch, image.libc, image.glibc, image.source) == (
        (3, 11),
        "3.11.2",
        "x86_64",
        "glibc",
        (2, 36),
        "probed",
    )
    runner = client.runner
    assert isinstance(runner, FakeRunner)
    run_argv = runner.calls[-1][0]
    # The probe runs with no network and the image's own Python, whatever its entrypoint.
    assert run_argv[1:7] == ["run", "--rm", "--network=none", "--entrypoint", "python3", "acme/py:1"]


def test_probe_of_an_image_that_is_not_local_does_not_pull_it() -> None:
    client = client_with({("image", "inspect"): RunResult(1, "", "Error: No such image: acme/py:1")})
    with pytest.raises(DockerError, match="not on this machine") as exc:
        client.probe_image("acme/py:1")
    assert exc.value.hint is not None
    assert "docker pull acme/py:1" in exc.value.hint
    runner = client.runner
    assert isinstance(runner, FakeRunner)
    assert [call[0][1] for call in runner.calls] == ["image"]


def test_build_streams_with_buildkit_on_and_reports_a_failure() -> None:
    client = client_with({("build",): RunResult(0)}, {"PATH": "/usr/bin"})
    request = build_request(dockerfile="Dockerfile.offline", target=AMD64, info=info(), offline=True, tags=("app",))
    argv = client.build(request)
    assert argv == ["/usr/bin/docker", "build", "--network=none", "-f", "Dockerfile.offline", "-t", "app", "."]
    runner = client.runner
    assert isinstance(runner, FakeRunner)
    _, env, output = runner.calls[-1]
    assert env["DOCKER_BUILDKIT"] == "1"
    assert output == TERMINAL  # Docker's output goes straight to the terminal
    failing = client_with({("build",): RunResult(1)})
    with pytest.raises(DockerError, match=r"docker build -f Dockerfile.offline failed \(exit status 1\)") as exc:
        failing.build(request, hint="check the wheels")
    assert exc.value.hint == "check the wheels"


# -- the build command with a fake docker executable -------------------------------------------------------

FAKE_DOCKER = """\
import json, os, stat, sys
args = sys.argv[1:]
# What each --secret file holds while the build runs (the test checks the file is private and removed after).
secrets = {}
for flag, value in zip(args, args[1:]):
    if flag == "--secret":
        fields = dict(part.split("=", 1) for part in value.split(","))
        mode = os.stat(fields["src"]).st_mode
        parent = os.stat(os.path.dirname(fields["src"])).st_mode
        with open(fields["src"]) as secret:
            secrets[fields["id"]] = {"src": fields["src"], "value": secret.read(),
                                     "mode": stat.S_IMODE(mode), "dir_mode": stat.S_IMODE(parent)}
# Values of the client's environment that look like URLs: credentials must not travel there either.
env_urls = [value for value in os.environ.values() if "://" in value]
# The Dockerfile a build reads, and the ignore file BuildKit would read beside it (it may be a temporary one).
dockerfile = {}
if args[:1] == ["build"] and "-f" in args:
    path = args[args.index("-f") + 1]
    ignore = path + ".dockerignore"
    dockerfile = {"text": open(path).read(), "ignore": open(ignore).read() if os.path.exists(ignore) else None}
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps({"argv": args, "buildkit": os.environ.get("DOCKER_BUILDKIT"), "secrets": secrets,
                          "env_urls": env_urls, "dockerfile": dockerfile}) + "\\n")
client = os.environ.get("FAKE_DOCKER_CLIENT", "24.0.7")
server = os.environ.get("FAKE_DOCKER_SERVER", "24.0.7")
if args[:1] == ["version"]:
    if os.environ.get("FAKE_DOCKER_DOWN"):
        print(json.dumps({"Client": {"Version": client}, "Server": None}))
        print("Cannot connect to the Docker daemon at unix:///fake.sock.", file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"Client": {"Version": client}, "Server": {"Version": server, "Os": "linux", "Arch": "amd64"}}))
    sys.exit(0)
if args[:2] == ["buildx", "version"]:
    sys.exit(0 if os.environ.get("FAKE_DOCKER_BUILDX", "1") == "1" else 1)
# Images: a reference with "arm64" in it is an arm64 image; FAKE_DOCKER_MISSING lists references that are not
# here, FAKE_DOCKER_LABEL overrides every label (a mislabelled import), FAKE_DOCKER_PYTHON the Python version.
missing = os.environ.get("FAKE_DOCKER_MISSING", "").split()
def arm(reference):
    return "arm64" in reference
if args[:2] == ["image", "inspect"]:
    reference = args[-1]
    if reference in missing:
        print(f"Error: No such image: {reference}", file=sys.stderr)
        sys.exit(1)
    if "{{len .RepoTags}}" in args:
        print(0)
        sys.exit(0)
    print(os.environ.get("FAKE_DOCKER_LABEL") or ("linux/arm64" if arm(reference) else "linux/amd64"))
    sys.exit(0)
if args[:2] == ["image", "rm"]:
    sys.exit(0)
if args[:1] == ["run"]:
    reference = args[5]
    if arm(reference) and os.environ.get("FAKE_DOCKER_NO_EMULATION"):
        print("exec /usr/bin/python3: exec format error", file=sys.stderr)
        sys.exit(1)
    python = [int(x) for x in os.environ.get("FAKE_DOCKER_PYTHON", "3.11.2").split(".")]
    machine = "aarch64" if arm(reference) else "x86_64"
    print(json.dumps({"python": python, "machine": machine, "libc": ["glibc", "2.36"], "musl": None}))
    sys.exit(0)
if args[:1] == ["build"]:
    if "-q" in args:
        print("sha256:" + "5" * 64)
    sys.exit(int(os.environ.get("FAKE_DOCKER_BUILD_RC", "0")))
sys.exit(2)
"""


class FakeDocker:
    """A ``docker`` executable that logs its calls into a file, for checking the command end to end."""

    def __init__(self, directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "docker"
        self.path.write_text(f"#!{sys.executable}\n{FAKE_DOCKER}")
        self.path.chmod(self.path.stat().st_mode | stat.S_IXUSR)
        self.log = directory / "calls.jsonl"
        monkeypatch.setenv("FAKE_DOCKER_LOG", str(self.log))
        monkeypatch.setenv("WHEELHOUSE_DOCKER", str(self.path))
        monkeypatch.delenv("DOCKER_BUILDKIT", raising=False)

    def calls(self) -> list[dict[str, object]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def builds(self) -> list[list[str]]:
        out: list[list[str]] = []
        for call in self.calls():
            argv = call["argv"]
            assert isinstance(argv, list)
            if argv[:1] == ["build"]:
                out.append([str(a) for a in argv])
        return out


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeDocker:
    return FakeDocker(tmp_path / "fakebin", monkeypatch)


def make_app_project(root: Path, *, with_beta: bool = True) -> None:
    """alpha 1.0 needs beta>=2; the app imports both and prints their versions."""
    write_wheel(root / "wheels", "alpha", "1.0", requires_dist=["beta>=2"])
    if with_beta:
        write_wheel(root / "wheels", "beta", "2.1")
    (root / "requirements.txt").write_text("alpha==1.0\n")
    (root / "app").mkdir(exist_ok=True)
    (root / "app" / "main.py").write_text(
        "import alpha, beta\nprint(f'alpha {alpha.__version__} beta {beta.__version__}')\n"
    )


def test_build_stops_before_docker_when_the_wheels_do_not_cover_the_target(
    project: Path, cli: Cli, fake_docker: FakeDocker
) -> None:
    make_app_project(project, with_beta=False)
    result = cli("build", "--offline", "-t", "app", *TARGET_ARGS)
    assert result.exit_code == 3
    assert "not covered" in result.stdout
    assert "beta>=2" in result.stdout
    assert "fix: wheelhouse download --target cp311-manylinux_2_28_x86_64" in result.stdout
    assert "not building" in result.stderr
    assert fake_docker.calls() == []
    assert not (project / "Dockerfile.offline").exists()


def test_build_offline_verifies_renders_and_runs_docker_build_with_no_network(
    project: Path, fake_docker: FakeDocker
) -> None:
    make_app_project(project)
    # A real process: arguments after `--` must reach docker build untouched.
    result = run_wheelhouse("build", "-t", "app:1", *TARGET_ARGS, "--", "--progress=plain", "--no-cache", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert fake_docker.builds() == [
        ["build", "--network=none", "-f", "Dockerfile.offline", "-t", "app:1", "--progress=plain", "--no-cache", "."]
    ]
    assert fake_docker.calls()[-1]["buildkit"] == "1"
    assert (project / "Dockerfile.offline").read_text().startswith("# Generated by `wheelhouse render`")
    assert "wrote Dockerfile.offline" in result.stderr


def test_build_passes_the_platform_of_a_non_host_target(project: Path, cli: Cli, fake_docker: FakeDocker) -> None:
    make_app_project(project)
    args = ("--target", "linux/arm64", "--python", "3.11", "--base-image", "linux/arm64=acme/py:3.11-arm64")
    result = cli("build", "--offline", *args, "--base-python", "3.11")
    assert result.exit_code == 0, result.output
    assert fake_docker.builds() == [
        ["build", "--network=none", "--platform", "linux/arm64", "-f", "Dockerfile.offline", "."]
    ]


def test_build_wheels_passes_the_configured_index_as_build_arguments(
    project: Path, cli: Cli, fake_docker: FakeDocker
) -> None:
    make_app_project(project, with_beta=False)
    (project / "wheelhouse.toml").write_text(
        'index-url = "http://127.0.0.1:9/simple/"\nextra-index-urls = ["http://127.0.0.1:8/a/", "http://127.0.0.1:7/b/"]\n'
    )
    # Not covered, and that is fine: Dockerfile.wheels falls back to the index.
    result = cli("build", "--wheels", *TARGET_ARGS)
    assert result.exit_code == 0, result.output
    assert fake_docker.builds() == [
        [
            "build",
            "-f",
            "Dockerfile.wheels",
            "--build-arg",
            "PIP_INDEX_URL=http://127.0.0.1:9/simple/",
            "--build-arg",
            "PIP_EXTRA_INDEX_URL=http://127.0.0.1:8/a/ http://127.0.0.1:7/b/",
            ".",
        ]
    ]


def test_build_cached_refuses_a_client_without_buildkit(
    project: Path, cli: Cli, fake_docker: FakeDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_app_project(project)
    monkeypatch.setenv("FAKE_DOCKER_CLIENT", "28.2.2")
    monkeypatch.setenv("FAKE_DOCKER_BUILDX", "0")
    result = cli("build", "--cached", *TARGET_ARGS)
    assert result.exit_code == 1
    assert "error: Dockerfile.cached (RUN --mount=type=cache) needs BuildKit, which is not available" in result.stderr
    assert "hint: install the buildx plugin" in result.stderr
    assert fake_docker.builds() == []
    # An older client carries BuildKit itself: the same build goes ahead, with DOCKER_BUILDKIT=1.
    monkeypatch.setenv("FAKE_DOCKER_CLIENT", "20.10.24+dfsg1")
    assert cli("build", "--cached", *TARGET_ARGS).exit_code == 0
    assert fake_docker.builds() == [["build", "-f", "Dockerfile.cached", "."]]
    assert fake_docker.calls()[-1]["buildkit"] == "1"


def test_build_reports_an_unreachable_daemon(
    project: Path, cli: Cli, fake_docker: FakeDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_app_project(project)
    monkeypatch.setenv("FAKE_DOCKER_DOWN", "1")
    result = cli("build", *TARGET_ARGS)
    assert result.exit_code == 1
    assert "error: the Docker daemon" in result.stderr
    assert "is not reachable: Cannot connect to the Docker daemon" in result.stderr
    assert "hint: start the Docker daemon" in result.stderr
    assert "Traceback" not in result.output


def test_build_reports_a_missing_client(project: Path, cli: Cli) -> None:
    make_app_project(project)
    result = cli("build", *TARGET_ARGS, "--docker", str(project / "no-such-docker"))
    assert result.exit_code == 1
    assert "is not installed" in result.stderr
    assert "hint: install Docker" in result.stderr


def test_build_reports_a_failed_docker_build_with_a_hint(
    project: Path, cli: Cli, fake_docker: FakeDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_app_project(project)
    monkeypatch.setenv("FAKE_DOCKER_BUILD_RC", "1")
    result = cli("build", *TARGET_ARGS)
    assert result.exit_code == 1
    assert "error: docker build -f Dockerfile.offline failed (exit status 1)" in result.stderr
    assert "wheelhouse verify --target cp311-manylinux_2_28_x86_64" in result.stderr


def test_build_refuses_a_mismatched_base_image_before_docker(project: Path, cli: Cli, fake_docker: FakeDocker) -> None:
    make_app_project(project)
    result = cli("build", *TARGET_ARGS, "--base-image", "python:3.12-slim")
    assert result.exit_code == 2
    assert "runs CPython 3.12, but the target cp311-manylinux_2_28_x86_64 is CPython 3.11" in result.stderr
    assert fake_docker.calls() == []


def test_build_inspects_an_image_whose_python_is_unknown(project: Path, cli: Cli, fake_docker: FakeDocker) -> None:
    make_app_project(project)
    result = cli("build", *TARGET_ARGS, "--base-image", "acme/py:prod")
    assert result.exit_code == 0, result.output
    header = (project / "Dockerfile.offline").read_text().splitlines()[1]
    assert "--base-image acme/py:prod --base-python 3.11.2" in header
    argvs = [c["argv"] for c in fake_docker.calls()]
    probes = [a for a in argvs if isinstance(a, list) and a[:1] in (["image"], ["run"])]
    label_format = "{{.Os}}/{{.Architecture}}{{if .Variant}}/{{.Variant}}{{end}}"
    assert probes[0] == ["image", "inspect", "--format", label_format, "acme/py:prod"]
    assert probes[1][:3] == ["run", "--rm", "--network=none"]


def test_build_with_run_network_none_refuses_an_old_engine(
    project: Path, cli: Cli, fake_docker: FakeDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_app_project(project)
    monkeypatch.setenv("FAKE_DOCKER_SERVER", "20.10.24+dfsg1")
    result = cli("build", *TARGET_ARGS, "--run-network-none")
    assert result.exit_code == 1
    assert "does not know RUN --network=none" in result.stderr
    assert fake_docker.builds() == []


def test_build_verifies_the_lock_when_there_is_one(project: Path, cli: Cli, fake_docker: FakeDocker) -> None:
    make_app_project(project)
    # The lock pins a beta that is not in the folder: that is what pip would install, so it is not covered.
    (project / "requirements.lock").write_text(
        "alpha==1.0 --hash=sha256:" + "0" * 64 + "\nbeta==2.0 --hash=sha256:" + "1" * 64 + "\n"
    )
    result = cli("build", *TARGET_ARGS)
    assert result.exit_code == 3
    assert "beta==2.0" in result.stdout
    assert "-r requirements.lock" in result.stdout
    assert fake_docker.calls() == []


# -- real images -------------------------------------------------------------------------------------------


class Engine:
    """The private engine of scripts/docker-test-env.sh, with what a test built removed afterwards.

    Every image a build made is removed by its id, not only by its tag: a rebuild under the same tag leaves the
    previous image dangling, which removing the tag would not touch. Build cache records whose description
    names one of :attr:`cache_marks` (a sha256 or nonce a test rendered into a RUN) go too, with the records
    built on them.
    """

    name = "app"  # the repository part of the tags this engine's tests build
    docker_timeout: float = 300
    wheelhouse_timeout: float = 600

    def __init__(self) -> None:
        self.client = docker_env.docker_client()
        self.env = docker_env.docker_env()
        self.base_image = docker_env.base_image()
        self.tags: list[str] = []
        self.images: set[str] = set()
        self.cache_marks: list[str] = []

    def tag(self) -> str:
        tag = f"wheelhouse-test/{self.name}:{uuid.uuid4().hex[:12]}"
        self.tags.append(tag)
        return tag

    def docker(
        self, *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.client, *args],
            cwd=cwd,
            env=dict(env or self.env),
            capture_output=True,
            text=True,
            timeout=timeout or self.docker_timeout,
            check=False,
        )
        if args[:1] == ("build",):
            self.remember()
            # The classic builder names the image of every step; the last of a first stage (the install stage,
            # which holds the wheels) has no tag and no child once the build is over.
            self.images.update(re.findall(r"^ ---> ([0-9a-f]{12})$", done.stdout, re.MULTILINE))
        return done

    def wheelhouse(
        self, *args: str, cwd: Path, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = run_wheelhouse(*args, cwd=cwd, env=dict(env or self.env), timeout=self.wheelhouse_timeout)
        if args[:1] == ("build",):
            self.remember()
        return done

    def remember(self) -> None:
        """Record the image each tag of this engine names now (after every build, before the next replaces it)."""
        for tag in self.tags:
            found = docker_env.image_id(tag, self.env)
            if found:
                self.images.add(found)

    def build_args(self) -> tuple[str, ...]:
        """Target, base image (with its Python declared) and client, as every test build passes them."""
        return (*TARGET_ARGS, "--base-image", self.base_image, "--base-python", "3.11", "--docker", self.client)

    def run_app(self, tag: str) -> subprocess.CompletedProcess[str]:
        return self.docker("run", "--rm", "--network=none", tag)

    def cleanup(self) -> None:
        self.remember()
        docker_env.remove_images([*self.tags, *self.images], self.env)
        docker_env.prune_build_cache(self.cache_marks, self.env)


E = TypeVar("E", bound=Engine)


def running(kind: type[E]) -> Iterator[E]:
    """An engine of ``kind`` for one test, or the test skipped with the reason none runs; its images go after."""
    ok, why = docker_env.docker_available()
    if not ok:
        pytest.skip(why)
    found = kind()
    try:
        yield found
    finally:
        found.cleanup()


@pytest.fixture
def engine() -> Iterator[Engine]:
    yield from running(Engine)


def _quiet(engine: Engine) -> dict[str, Any]:
    return {"env": engine.env, "capture_output": True, "text": True, "check": False, "timeout": 60}


def _explain(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"


@pytest.mark.docker
def test_offline_image_builds_with_no_network_and_runs_the_app(tmp_path: Path, engine: Engine) -> None:
    make_app_project(tmp_path)
    tag = engine.tag()
    # --no-cache: pip really runs, with no network, on every test run.
    built = engine.wheelhouse(
        "-v", "build", "--offline", "-t", tag, *engine.build_args(), "--", "--no-cache", cwd=tmp_path
    )
    assert built.returncode == 0, _explain(built)
    assert f"running: {engine.client} build --network=none -f Dockerfile.offline -t {tag} --no-cache ." in built.stderr
    ran = engine.run_app(tag)
    assert ran.returncode == 0, _explain(ran)
    assert ran.stdout.strip() == "alpha 1.0 beta 2.1"
    # The wheels stayed in the install stage: neither the folder nor a wheel file is in the image.
    leftovers = engine.docker(
        "run", "--rm", "--network=none", tag, "sh", "-c", "test ! -e /build && find / -xdev -name 'alpha-*.whl'"
    )
    assert leftovers.returncode == 0, _explain(leftovers)
    assert leftovers.stdout.strip() == ""


@pytest.mark.docker
def test_a_missing_wheel_stops_the_build_before_docker_and_fails_pip_in_a_direct_build(
    tmp_path: Path, engine: Engine
) -> None:
    make_app_project(tmp_path, with_beta=False)
    tag = engine.tag()
    stopped = engine.wheelhouse("build", "--offline", "-t", tag, *engine.build_args(), cwd=tmp_path)
    assert stopped.returncode == 3, _explain(stopped)
    assert "beta>=2" in stopped.stdout
    assert "not covered" in stopped.stdout
    assert engine.docker("image", "inspect", tag).returncode != 0, "no image may have been built"
    # The same Dockerfile built directly: pip, with no index and no network, cannot find the wheel.
    rendered = engine.wheelhouse("render", *engine.build_args()[:-2], cwd=tmp_path)
    assert rendered.returncode == 0, _explain(rendered)
    direct = engine.docker("build", "--network=none", "-f", "Dockerfile.offline", "-t", tag, ".", cwd=tmp_path)
    assert direct.returncode != 0, _explain(direct)
    assert "No matching distribution found for beta" in direct.stdout + direct.stderr


@pytest.mark.docker
def test_the_offline_dockerfile_builds_with_the_classic_builder(tmp_path: Path, engine: Engine) -> None:
    make_app_project(tmp_path)
    rendered = engine.wheelhouse("render", "--classic", *engine.build_args()[:-2], cwd=tmp_path)
    assert rendered.returncode == 0, _explain(rendered)
    tag = engine.tag()
    classic = {**engine.env, "DOCKER_BUILDKIT": "0"}
    built = engine.docker(
        "build", "--network=none", "--no-cache", "-f", "Dockerfile.offline", "-t", tag, ".", cwd=tmp_path, env=classic
    )
    assert built.returncode == 0, _explain(built)
    assert "Sending build context to Docker daemon" in built.stdout  # the classic builder's own output
    assert engine.run_app(tag).stdout.strip() == "alpha 1.0 beta 2.1"
    # A direct classic build leaves its install stage as an untagged image of the shared engine: remove it.
    stage = engine.docker(
        "build",
        "-q",
        "--network=none",
        "-f",
        "Dockerfile.offline",
        "--target",
        "install",
        ".",
        cwd=tmp_path,
        env=classic,
    )
    if stage.returncode == 0 and stage.stdout.strip():
        engine.docker("image", "rm", stage.stdout.strip().splitlines()[-1])


@pytest.mark.docker
def test_the_lock_is_installed_with_require_hashes(tmp_path: Path, engine: Engine) -> None:
    make_app_project(tmp_path)
    locked = engine.wheelhouse("lock", *TARGET_ARGS, cwd=tmp_path)
    assert locked.returncode == 0, _explain(locked)
    tag = engine.tag()
    built = engine.wheelhouse("build", "-t", tag, *engine.build_args(), cwd=tmp_path)
    assert built.returncode == 0, _explain(built)
    # The BuildKit rendering reads the lock where it is mounted; the classic one where it is copied.
    assert re.search(r"--require-hashes -r \S*requirements\.lock", (tmp_path / "Dockerfile.offline").read_text())
    assert engine.run_app(tag).stdout.strip() == "alpha 1.0 beta 2.1"
    # A wheel replaced by another file of the same name: its hash is not the locked one, which the verify before the
    # build finds (pip's --require-hashes in the image would refuse it too, later).
    name, data = make_wheel("beta", "2.1", summary="a different build")
    (tmp_path / "wheels" / name).write_bytes(data)
    tampered = engine.wheelhouse("build", "-t", engine.tag(), *engine.build_args(), cwd=tmp_path)
    assert tampered.returncode == 3, _explain(tampered)
    assert f"rejected {name}: sha256 " in tampered.stdout
    assert "is not among the hashes pinned by requirements.lock" in tampered.stdout
    assert "not building" in tampered.stderr


@pytest.fixture
def html_index() -> Iterator[IndexServer]:
    """A local index with HTML pages only: Debian bookworm's pip 23.0.1, in the test image's venv, fails on the
    PEP 691 JSON form of PEP 658 metadata (TypeError: unhashable type: 'dict'); newer pip reads it."""
    with IndexServer(json_api=False) as server:
        yield server


IMMUTABLE = "max-age=365000000, immutable, public"


def _host_index_args(index: IndexServer) -> tuple[str, ...]:
    # The build reaches the index on the host's 127.0.0.1 through the host network.
    # pip neither trusts nor caches a plain-http host unless told to trust it.
    host = index.url.split("//", 1)[1]
    return (
        "--network=host",
        "--build-arg",
        f"PIP_INDEX_URL={index.index_url}/",
        "--build-arg",
        f"PIP_TRUSTED_HOST={host}",
    )


@pytest.mark.docker
def test_the_cached_dockerfile_keeps_pips_downloads_in_a_cache_mount(
    tmp_path: Path, engine: Engine, html_index: IndexServer
) -> None:
    make_app_project(tmp_path, with_beta=False)
    html_index.add_wheel("beta", "2.1")
    beta = "/files/beta-2.1-py3-none-any.whl"
    # Files are immutable, and PyPI says so; pip keeps only what the server lets it cache.
    html_index.inject(re.compile(r"^/files/"), Fault(headers=(("Cache-Control", IMMUTABLE),)), times=None)
    tag = engine.tag()
    args = ("build", "--cached", "-t", tag, *engine.build_args(), "--", *_host_index_args(html_index))
    built = engine.wheelhouse(*args, cwd=tmp_path)
    assert built.returncode == 0, _explain(built)
    assert engine.run_app(tag).stdout.strip() == "alpha 1.0 beta 2.1"
    assert len(html_index.requests.to(beta)) == 1
    # A requirements change re-runs the install; pip takes beta from its cache mount, not from the index.
    (tmp_path / "requirements.txt").write_text("alpha==1.0\nbeta>=2\n")
    again = engine.wheelhouse(*args, cwd=tmp_path)
    assert again.returncode == 0, _explain(again)
    assert engine.run_app(tag).stdout.strip() == "alpha 1.0 beta 2.1"
    assert len(html_index.requests.to(beta)) == 1


@pytest.mark.docker
def test_the_wheels_dockerfile_uses_the_folder_alone_and_falls_back_to_the_index_for_what_is_missing(
    tmp_path: Path, engine: Engine, html_index: IndexServer
) -> None:
    make_app_project(tmp_path)
    html_index.add_wheel("alpha", "1.0", requires_dist=["beta>=2"])
    html_index.add_wheel("beta", "2.1")
    tag = engine.tag()
    args = ("build", "--wheels", "-t", tag, *engine.build_args(), "--", *_host_index_args(html_index))
    # Covered: the index is configured but never contacted.
    covered = engine.wheelhouse(*args, cwd=tmp_path)
    assert covered.returncode == 0, _explain(covered)
    assert engine.run_app(tag).stdout.strip() == "alpha 1.0 beta 2.1"
    assert html_index.requests.snapshot() == []
    # Not covered: pip runs again with the index, which supplies the missing wheel.
    next((tmp_path / "wheels").glob("beta-*.whl")).unlink()
    fallback = engine.wheelhouse(*args, cwd=tmp_path)
    assert fallback.returncode == 0, _explain(fallback)
    assert "wheels/ does not cover the requirements" in fallback.stdout + fallback.stderr
    assert engine.run_app(tag).stdout.strip() == "alpha 1.0 beta 2.1"
    assert html_index.requests.to("/files/beta-2.1-py3-none-any.whl") != []


@pytest.mark.docker
def test_the_compose_file_builds_offline_and_runs_the_app(tmp_path: Path, engine: Engine) -> None:
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip(f"docker-compose is not installed: run `{docker_env.SETUP_SCRIPT} install` (as root)")
    make_app_project(tmp_path)
    rendered = engine.wheelhouse("render", *engine.build_args()[:-2], cwd=tmp_path)
    assert rendered.returncode == 0, _explain(rendered)
    # Compose v1 builds through the `docker` first on PATH; make it the client that drives BuildKit.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").symlink_to(engine.client)
    env = {**engine.env, "PATH": f"{bin_dir}{os.pathsep}{engine.env.get('PATH', '')}"}
    project_name = f"wheelhousetest{uuid.uuid4().hex[:8]}"
    base = [compose, "-f", "docker-compose.offline.yml", "-p", project_name]
    try:
        up = subprocess.run(
            [*base, "up", "--build", "--abort-on-container-exit", "--exit-code-from", "app"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert up.returncode == 0, _explain(up)
        assert "alpha 1.0 beta 2.1" in up.stdout
    finally:
        subprocess.run(
            [*base, "down", "--rmi", "local", "--volumes"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            timeout=300,
            check=False,
        )


@pytest.mark.docker
def test_build_explains_when_the_engine_refuses_run_network_none(tmp_path: Path, engine: Engine) -> None:
    version = engine.docker("version", "--format", "{{.Server.Version}}").stdout.strip()
    if not version.startswith(("18.", "19.", "20.", "22.")):
        pytest.skip(f"the engine {version} supports RUN --network=none")
    make_app_project(tmp_path)
    result = engine.wheelhouse("build", "--run-network-none", *engine.build_args(), cwd=tmp_path)
    assert result.returncode == 1, _explain(result)
    assert "does not know RUN --network=none" in result.stderr


@pytest.mark.docker
def test_build_explains_a_client_without_buildkit(tmp_path: Path, engine: Engine) -> None:
    """A newer client without the buildx plugin (as the first docker on PATH on some machines) refuses BuildKit."""
    other = shutil.which("docker")
    if other is None or os.path.realpath(other) == os.path.realpath(engine.client):
        pytest.skip("no second Docker client on PATH to compare with")
    version = subprocess.run([other, "version", "--format", "{{.Client.Version}}"], **_quiet(engine)).stdout.strip()
    if not version or int(version.split(".")[0]) < 23:
        pytest.skip(f"{other} ({version or 'unknown version'}) carries its own BuildKit builder")
    if subprocess.run([other, "buildx", "version"], **_quiet(engine)).returncode == 0:
        pytest.skip(f"{other} has the buildx plugin")
    make_app_project(tmp_path)
    args = list(engine.build_args())
    args[-1] = other
    result = engine.wheelhouse("build", "--cached", *args, cwd=tmp_path)
    assert result.returncode == 1, _explain(result)
    assert "needs BuildKit, which is not available" in result.stderr


@pytest.mark.docker
def test_an_unreachable_daemon_is_explained_by_the_real_client(tmp_path: Path, engine: Engine) -> None:
    make_app_project(tmp_path)
    env = {**engine.env, "DOCKER_HOST": f"unix://{tmp_path}/no.sock"}
    result = engine.wheelhouse("build", *engine.build_args(), cwd=tmp_path, env=env)
    assert result.returncode == 1, _explain(result)
    assert f"error: the Docker daemon at unix://{tmp_path}/no.sock is not reachable" in result.stderr
    assert "hint: start the Docker daemon" in result.stderr
