"""Index credentials in ``build --wheels`` / ``build --cached``: never on a command line, never in an image.

A plain index URL stays a build argument; one that carries credentials reaches pip as a BuildKit secret, read
into ``PIP_INDEX_URL`` for the one command that needs it. Checked at every level: the split between build
arguments and secrets, the private file behind ``--secret``, the argv the Docker runner gets, the rendered
Dockerfiles, the refusal of the classic builder, and, with the engine of ``scripts/docker-test-env.sh`` (skipped,
saying why, where it is not running), a real image built against a local index that demands basic auth.
"""

from __future__ import annotations

import base64
import os
import re
import stat
import subprocess
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support import docker_env
from tests.support.dockerfiles import instructions
from tests.support.index_server import Fault, IndexServer, RecordedRequest
from tests.support.wheels import write_wheel
from tests.test_docker import (
    TARGET_ARGS,
    Engine,
    FakeDocker,
    FakeRunner,
    _explain,
    client_with,
    info,
    make_app_project,
)
from wheelhouse._proc import RunResult
from wheelhouse.docker.client import build_argv, build_request
from wheelhouse.docker.render import DOCKERFILE_CACHED, DOCKERFILE_OFFLINE, DOCKERFILE_WHEELS, RenderOptions, render
from wheelhouse.docker.secrets import IndexPassing, has_credentials, index_passing, secret_files
from wheelhouse.errors import DockerError
from wheelhouse.targets import parse_target

AMD64 = parse_target("linux/amd64", python="3.11")
PASSWORD = "s3cret-Pa55"
SECRET_URL = f"https://build:{PASSWORD}@pypi.example.com/simple/"
PLAIN_URL = "https://pypi.example.com/simple/"


# -- which setting travels how -----------------------------------------------------------------------------


def test_plain_urls_stay_build_arguments_and_credentialed_ones_become_secrets() -> None:
    assert index_passing(PLAIN_URL, ["https://extra.example.com/simple/"]) == IndexPassing(
        build_args=(
            ("PIP_INDEX_URL", PLAIN_URL),
            ("PIP_EXTRA_INDEX_URL", "https://extra.example.com/simple/"),
        )
    )
    assert index_passing(SECRET_URL) == IndexPassing(secrets=(("PIP_INDEX_URL", SECRET_URL),))
    # One credentialed extra index makes the whole variable a secret: pip reads all extras from it.
    mixed = index_passing(PLAIN_URL, ["https://a.example.com/", "https://tok3n@b.example.com/"])
    assert mixed.build_args == (("PIP_INDEX_URL", PLAIN_URL),)
    assert mixed.secrets == (("PIP_EXTRA_INDEX_URL", "https://a.example.com/ https://tok3n@b.example.com/"),)
    assert mixed.secret_variables == ("PIP_EXTRA_INDEX_URL",)
    assert index_passing(None) == IndexPassing()
    # A lone user name is usually an access token: it counts as a credential.
    assert has_credentials("https://tok3n@host/simple/")
    assert not has_credentials(PLAIN_URL)


def test_a_secret_file_is_private_while_it_exists_and_gone_afterwards() -> None:
    with secret_files([("PIP_INDEX_URL", SECRET_URL)]) as pairs:
        [(secret_id, path)] = pairs
        assert secret_id == "pip_index_url"
        assert Path(path).read_text() == SECRET_URL
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert not os.path.exists(path)
    assert not os.path.exists(os.path.dirname(path))
    # Removed when the build fails as well.
    seen: list[str] = []

    def failing_build() -> None:
        with secret_files([("PIP_EXTRA_INDEX_URL", SECRET_URL)]) as pairs:
            seen.append(pairs[0][1])
            raise DockerError("the build failed")

    with pytest.raises(DockerError):
        failing_build()
    assert seen
    assert not os.path.exists(seen[0])
    with secret_files([]) as none:
        assert none == ()


def test_the_docker_runner_gets_the_secrets_file_never_the_password() -> None:
    passing = index_passing(SECRET_URL, [f"https://x:{PASSWORD}@extra.example.com/"])
    client = client_with({("build",): RunResult(0)}, {"PATH": "/usr/bin"})
    with secret_files(passing.secrets) as secrets:
        request = build_request(
            dockerfile=DOCKERFILE_WHEELS,
            target=AMD64,
            info=info(),
            offline=False,
            build_args=passing.build_args,
            secrets=secrets,
        )
        argv = client.build(request)
        paths = [path for _id, path in secrets]
    runner = client.runner
    assert isinstance(runner, FakeRunner)
    ran, env, _output = runner.calls[-1]
    assert ran == argv
    assert argv == [
        "/usr/bin/docker",
        "build",
        "-f",
        DOCKERFILE_WHEELS,
        "--secret",
        f"id=pip_index_url,src={paths[0]}",
        "--secret",
        f"id=pip_extra_index_url,src={paths[1]}",
        ".",
    ]
    assert not any(PASSWORD in word for word in ran)
    assert not any(PASSWORD in value for value in env.values())
    assert env["DOCKER_BUILDKIT"] == "1"


def test_the_client_never_hands_secrets_to_the_classic_builder() -> None:
    client = client_with({("build",): RunResult(0)})
    request = build_request(
        dockerfile=DOCKERFILE_WHEELS,
        target=AMD64,
        info=info(buildkit=False),
        offline=False,
        secrets=(("pip_index_url", "/nonexistent"),),
    )
    with pytest.raises(DockerError, match="need BuildKit"):
        client.build(request)
    runner = client.runner
    assert isinstance(runner, FakeRunner)
    assert runner.calls == []
    assert "--secret" in build_argv("docker", request)


# -- the rendered Dockerfiles ------------------------------------------------------------------------------


def _options(**kwargs: object) -> RenderOptions:
    from wheelhouse.docker.images import default_base_image, parse_base_image

    return RenderOptions(target=AMD64, base_image=parse_base_image(default_base_image(AMD64)), **kwargs)  # type: ignore[arg-type]


def test_the_online_dockerfiles_read_the_index_from_the_secret_mount_for_one_command() -> None:
    files = render(_options(index_secrets=("PIP_INDEX_URL",))).files
    mount = "--mount=type=secret,id=pip_index_url,required=true"
    read = 'PIP_INDEX_URL="$(cat /run/secrets/pip_index_url)"'
    wheels = [line for line in instructions(files[DOCKERFILE_WHEELS]) if "pip install" in line]
    assert len(wheels) == 1
    wheel_mount = "--mount=type=bind,source=wheels,target=/build/wheels"
    assert wheels[0].startswith(f"RUN {wheel_mount} {mount} /opt/venv/bin/python -m pip install")
    # The folder-only attempt runs without the index; only the fallback that reaches the index reads the secret.
    folder_only, fallback = wheels[0].split(" || ")
    assert read not in folder_only
    assert "--no-index" in folder_only
    assert f"&& {read} /opt/venv/bin/python -m pip install" in fallback
    cached = [line for line in instructions(files[DOCKERFILE_CACHED]) if "pip install" in line]
    assert len(cached) == 1
    assert cached[0].startswith(f"RUN --mount=type=cache,target=/root/.cache/pip {wheel_mount} {mount} ")
    # Local first: the folder alone, then the index, whose URL only that second pip reads.
    folder_only, fallback = cached[0].split(" || ")
    assert read not in folder_only
    assert "--no-index --find-links=wheels -r requirements.txt" in folder_only
    assert (
        f"&& {read} /opt/venv/bin/python -m pip install --disable-pip-version-check --cache-dir=/root/.cache/pip "
        "--find-links=wheels -r requirements.txt" in fallback
    )
    # The value is never declared where the image history would keep it: no ENV, and no ARG is given it.
    for name in (DOCKERFILE_WHEELS, DOCKERFILE_CACHED):
        assert not any(line.startswith("ENV PIP_INDEX_URL") for line in instructions(files[name])), name
        assert "--secret id=pip_index_url,src=FILE" in files[name], name
        assert "DOCKER_BUILDKIT=1 docker build" in files[name], name
    # The offline Dockerfile never reaches an index, so it is the same with or without credentials.
    assert files[DOCKERFILE_OFFLINE] == render(_options()).files[DOCKERFILE_OFFLINE]


def test_a_plain_index_renders_no_secret_mount() -> None:
    for name, text in render(_options()).files.items():
        assert "type=secret" not in text, name
        assert "/run/secrets" not in text, name


def test_a_pylock_upgrade_of_pip_reads_the_secret_too() -> None:
    """The online pip upgrade for pylock.toml may reach the index, so it mounts the secret as well."""
    files = render(_options(index_secrets=("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"), lock="pylock.toml")).files
    upgrade = [line for line in instructions(files[DOCKERFILE_CACHED]) if "'pip>=26.1'" in line]
    assert len(upgrade) == 1
    for secret_id, variable in (("pip_index_url", "PIP_INDEX_URL"), ("pip_extra_index_url", "PIP_EXTRA_INDEX_URL")):
        assert f"--mount=type=secret,id={secret_id},required=true" in upgrade[0]
        assert f'{variable}="$(cat /run/secrets/{secret_id})"' in upgrade[0]


def test_an_unknown_secret_variable_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="PIP_CERT"):
        render(_options(index_secrets=("PIP_CERT",)))


# -- the build command, with a fake docker executable ------------------------------------------------------


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeDocker:
    return FakeDocker(tmp_path / "fakebin", monkeypatch)


@pytest.mark.parametrize("mode", ["--wheels", "--cached"])
def test_build_passes_a_credentialed_index_as_a_secret_file_that_is_removed_after_the_build(
    project: Path, cli: Cli, fake_docker: FakeDocker, mode: str
) -> None:
    make_app_project(project, with_beta=False)
    (project / "wheelhouse.toml").write_text(
        f'index-url = "{SECRET_URL}"\nextra-index-urls = ["https://extra.example.com/simple/"]\n'
    )
    result = cli("-v", "build", mode, "-t", "app", *TARGET_ARGS)
    assert result.exit_code == 0, result.output
    [argv] = fake_docker.builds()
    call = fake_docker.calls()[-1]
    assert not any(PASSWORD in word for word in argv)
    env_urls = call["env_urls"]
    assert isinstance(env_urls, list)
    assert not any(PASSWORD in value for value in env_urls)
    assert call["buildkit"] == "1"
    # The plain extra index is still a build argument; the credentialed index URL is a secret.
    assert "PIP_EXTRA_INDEX_URL=https://extra.example.com/simple/" in argv
    assert not any(word.startswith("PIP_INDEX_URL=") for word in argv)
    secrets = call["secrets"]
    assert isinstance(secrets, dict)
    assert list(secrets) == ["pip_index_url"]
    secret = secrets["pip_index_url"]
    assert secret["value"] == SECRET_URL
    assert secret["mode"] == 0o600
    assert secret["dir_mode"] == 0o700
    assert argv[argv.index("--secret") + 1] == f"id=pip_index_url,src={secret['src']}"
    assert not os.path.exists(secret["src"])
    # Neither the output nor a file the build wrote holds the password; the Dockerfile built reads the mount.
    assert PASSWORD not in result.output
    for path in project.iterdir():
        if path.is_file() and path.name != "wheelhouse.toml":
            assert PASSWORD not in path.read_text(errors="replace"), path.name
    dockerfile = (project / f"Dockerfile.{mode.removeprefix('--')}").read_text()
    assert "--mount=type=secret,id=pip_index_url,required=true" in dockerfile
    # render, run on its own, agrees with what build wrote.
    assert cli("render", *TARGET_ARGS, "--check").exit_code == 0


def test_build_removes_the_secret_file_when_docker_build_fails(
    project: Path, cli: Cli, fake_docker: FakeDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_app_project(project, with_beta=False)
    (project / "wheelhouse.toml").write_text(f'index-url = "{SECRET_URL}"\n')
    monkeypatch.setenv("FAKE_DOCKER_BUILD_RC", "1")
    result = cli("build", "--wheels", *TARGET_ARGS)
    assert result.exit_code == 1
    secrets = fake_docker.calls()[-1]["secrets"]
    assert isinstance(secrets, dict)
    assert not os.path.exists(secrets["pip_index_url"]["src"])


def test_build_keeps_a_plain_index_as_a_build_argument_with_no_secret(
    project: Path, cli: Cli, fake_docker: FakeDocker
) -> None:
    make_app_project(project, with_beta=False)
    (project / "wheelhouse.toml").write_text(f'index-url = "{PLAIN_URL}"\n')
    assert cli("build", "--wheels", *TARGET_ARGS).exit_code == 0
    assert fake_docker.builds() == [
        ["build", "-f", DOCKERFILE_WHEELS, "--build-arg", f"PIP_INDEX_URL={PLAIN_URL}", "."]
    ]
    assert "type=secret" not in (project / DOCKERFILE_WHEELS).read_text()


def test_the_classic_builder_is_refused_a_credentialed_index_in_one_line(
    project: Path, cli: Cli, fake_docker: FakeDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_app_project(project, with_beta=False)
    (project / "wheelhouse.toml").write_text(f'index-url = "{SECRET_URL}"\n')
    monkeypatch.setenv("DOCKER_BUILDKIT", "0")
    result = cli("build", "--wheels", *TARGET_ARGS)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: not building Dockerfile.wheels: the configured index URL carries credentials, which only BuildKit "
        "can pass as a secret (a build argument would record them in the image history), and BuildKit is not "
        "available (DOCKER_BUILDKIT=0 turns it off); build with BuildKit, or configure an index URL without "
        "credentials"
    ]
    assert fake_docker.builds() == []
    assert PASSWORD not in result.output
    # The offline build never uses the index, so the classic builder still builds it.
    write_wheel(project / "wheels", "beta", "2.1")
    offline = cli("build", "--offline", *TARGET_ARGS)
    assert offline.exit_code == 0, offline.output
    # (The second build call, if any, is the quiet one that finds the install stage's image to remove it.)
    assert fake_docker.builds()[0] == ["build", "--network=none", "-f", DOCKERFILE_OFFLINE, "."]


# -- a real image ------------------------------------------------------------------------------------------


_RECORD_FORMAT = "{{range .BuildCache}}{{.ID}}|{{.CacheType}}|{{.CreatedAt}}|{{.Description}}\x1e{{end}}"


class Builds:
    """Runs a test's builds on the engine and records when each ran, so that afterwards the images it tagged
    (by tag) and the build cache records its builds added (by id) are removed, and nothing else.

    The engine is shared: a record counts as this test's only when it is new, was created while one of this
    test's builds ran, and is not a cache mount (another test may be relying on its cache mount right now).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.before = set(self.records())
        self.windows: list[tuple[datetime, datetime]] = []

    def records(self) -> dict[str, tuple[str, datetime | None, str]]:
        """id -> (type, created, description) of every build cache record."""
        proc = self.engine.docker("system", "df", "-v", "--format", _RECORD_FORMAT)
        out: dict[str, tuple[str, datetime | None, str]] = {}
        for entry in proc.stdout.split("\x1e"):
            fields = entry.strip().split("|", 3)
            if len(fields) == 4:
                cache_id, kind, created, description = fields
                out[cache_id.rstrip("*")] = (kind, _timestamp(created), description)
        return out

    def wheelhouse(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        start = datetime.now(timezone.utc)
        try:
            return self.engine.wheelhouse(*args, cwd=cwd)
        finally:
            self.windows.append((start, datetime.now(timezone.utc)))

    def descriptions(self) -> str:
        return "\n".join(description for _kind, _created, description in self.records().values())

    def ours(self) -> list[str]:
        return sorted(
            cache_id
            for cache_id, (kind, created, _description) in self.records().items()
            if cache_id not in self.before
            and kind != "exec.cachemount"
            and created is not None
            and any(start <= created <= end for start, end in self.windows)
        )

    def cleanup(self) -> None:
        self.engine.cleanup()
        self.engine.tags.clear()
        # A record goes once nothing is built on it: children first, so a few passes take a whole chain.
        for _ in range(4):
            ours = self.ours()
            if not ours:
                return
            for cache_id in ours:
                self.engine.docker("builder", "prune", "--force", "--filter", f"id={cache_id}")


def _timestamp(text: str) -> datetime | None:
    """Docker's ``2026-12-06 22:46:54.788313825 +0000 UTC`` as an aware datetime (microseconds)."""
    match = re.match(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d+))? \+0000", text)
    if match is None:
        return None
    day, clock, fraction = match.groups()
    micros = (fraction or "0")[:6].ljust(6, "0")
    return datetime.fromisoformat(f"{day}T{clock}.{micros}+00:00")


@pytest.fixture
def builds() -> Iterator[Builds]:
    ok, why = docker_env.docker_available()
    if not ok:
        pytest.skip(why)
    found = Builds(Engine())
    try:
        yield found
    finally:
        found.cleanup()


@pytest.fixture
def auth_index() -> Iterator[IndexServer]:
    """An HTML-only index (Debian bookworm's pip 23.0.1 in the test image needs it) that answers 401 to every
    request without the right basic credentials."""
    expected = "Basic " + base64.b64encode(f"build:{PASSWORD}".encode()).decode()

    def guard(request: RecordedRequest) -> Fault | None:
        if request.header("Authorization") == expected:
            return None
        return Fault(status=401, headers=(("WWW-Authenticate", 'Basic realm="wheelhouse-test"'),), body=b"401\n")

    with IndexServer(json_api=False) as server:
        server.on_request = guard
        yield server


@pytest.mark.docker
def test_an_image_built_against_an_index_with_credentials_keeps_no_trace_of_the_password(
    tmp_path: Path, builds: Builds, auth_index: IndexServer
) -> None:
    engine = builds.engine
    make_app_project(tmp_path, with_beta=False)
    auth_index.add_wheel("beta", "2.1")
    host = auth_index.url.split("//", 1)[1]
    (tmp_path / "wheelhouse.toml").write_text(f'index-url = "http://build:{PASSWORD}@{host}/simple/"\n')
    tag = engine.tag()
    # The build reaches the index on the host's 127.0.0.1 through the host network; --no-cache makes pip run.
    built = builds.wheelhouse(
        "-v",
        "build",
        "--wheels",
        "-t",
        tag,
        *engine.build_args(),
        "--",
        "--network=host",
        "--no-cache",
        "--progress=plain",
        cwd=tmp_path,
    )
    assert built.returncode == 0, _explain(built)
    assert "--secret id=pip_index_url,src=" in built.stderr
    assert PASSWORD not in built.stdout + built.stderr
    ran = engine.run_app(tag)
    assert ran.stdout.strip() == "alpha 1.0 beta 2.1", _explain(ran)
    # pip did reach the index with the credentials: the secret got to it.
    authorized = [r for r in auth_index.requests.snapshot() if r.header("Authorization")]
    assert any(r.route == "/files/beta-2.1-py3-none-any.whl" for r in authorized)
    # The install stage, where the secret was read, built as an image of its own from the same cache.
    stage = engine.tag()
    staged = builds.wheelhouse(
        "build",
        "--wheels",
        "-t",
        stage,
        *engine.build_args(),
        "--",
        "--network=host",
        "--target",
        "install",
        cwd=tmp_path,
    )
    assert staged.returncode == 0, _explain(staged)
    # ...and nothing of either image holds it: history, configuration, or any byte of their layers.
    for image in (tag, stage):
        history = engine.docker("history", "--no-trunc", image)
        assert history.returncode == 0, _explain(history)
        assert PASSWORD not in history.stdout, image
        inspected = engine.docker("image", "inspect", image)
        assert inspected.returncode == 0, _explain(inspected)
        assert PASSWORD not in inspected.stdout, image
        saved = subprocess.run(
            [engine.client, "save", image], env=engine.env, capture_output=True, check=False, timeout=300
        )
        assert saved.returncode == 0, saved.stderr.decode(errors="replace")
        assert PASSWORD.encode() not in saved.stdout, image
    # The install stage's history records the RUN that read the mount, by its id only.
    stage_history = engine.docker("history", "--no-trunc", stage).stdout
    assert 'PIP_INDEX_URL="$(cat /run/secrets/pip_index_url)"' in stage_history
    # The builder's own records name the commands, never the value.
    assert PASSWORD not in builds.descriptions()
