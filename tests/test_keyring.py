"""``--keyring-provider``: credentials from a fake ``keyring`` command on PATH, for a local index on 127.0.0.1
that requires HTTP basic auth."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.index_server import Fault, IndexServer, RecordedRequest
from wheelhouse import _log
from wheelhouse._proc import TIMEOUT_STATUS, Output, RunResult
from wheelhouse.errors import ConfigError, NetworkError
from wheelhouse.index.config import IndexConfig, index_config_from_pip
from wheelhouse.index.http import IndexClient
from wheelhouse.index.keyring import KeyringLookup, keyring_lookup, service_names
from wheelhouse.settings import IndexOptions, Settings, effective_index_config

USER, PASSWORD = "alice", "s3cret-keyring-pass"

# keyring's command-line interface as pip and uv use it: `get SERVICE USER` prints the password;
# `--mode=creds --output=json get SERVICE` prints {"username": ..., "password": ...}; exit 1 when nothing is found.
_FAKE_KEYRING = """\
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_KEYRING_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(args) + "\\n")
with open(os.environ["FAKE_KEYRING_DB"], encoding="utf-8") as f:
    db = json.load(f)
creds = args[:2] == ["--mode=creds", "--output=json"]
if creds:
    args = args[2:]
if args[:1] != ["get"]:
    sys.exit(2)
entry = db.get(args[1])
if entry is None:
    sys.exit(1)
if creds:
    print(json.dumps({"username": entry[0], "password": entry[1]}))
elif len(args) == 3 and args[2] == entry[0]:
    print(entry[1])
else:
    sys.exit(1)
"""


class FakeKeyring:
    """A ``keyring`` executable in its own folder on PATH, answering from ``db`` and logging each argv."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir(parents=True)
        self.log = root / "keyring.log"
        self.db_path = root / "keyring.json"
        script = self.bin / "keyring"
        script.write_text(f"#!{sys.executable}\n{_FAKE_KEYRING}", encoding="utf-8")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        self.store({})

    def store(self, db: Mapping[str, tuple[str, str]]) -> None:
        self.db_path.write_text(json.dumps(db), encoding="utf-8")

    @property
    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def fake_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeKeyring:
    fake = FakeKeyring(tmp_path / "keyring")
    monkeypatch.setenv("PATH", f"{fake.bin}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_KEYRING_LOG", str(fake.log))
    monkeypatch.setenv("FAKE_KEYRING_DB", str(fake.db_path))
    return fake


@pytest.fixture
def no_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH with no keyring command on it."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def require_basic_auth(srv: IndexServer, user: str = USER, password: str = PASSWORD) -> None:
    """Make ``srv`` answer 401 to every request without these basic-auth credentials."""
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def check(request: RecordedRequest) -> Fault | None:
        if request.header("Authorization") == expected:
            return None
        return Fault(status=401, headers=(("WWW-Authenticate", 'Basic realm="test"'),), body=b"401\n")

    srv.on_request = check


@pytest.fixture
def auth_index() -> Iterator[IndexServer]:
    with IndexServer() as srv:
        srv.add_wheel("demo", "1.0")
        srv.add_wheel("other", "2.0")
        require_basic_auth(srv)
        yield srv


@pytest.fixture(autouse=True)
def _fresh_diagnostics() -> None:
    _log.forget()


def host_of(srv: IndexServer) -> str:
    return srv.url.removeprefix("http://")


def client(config: IndexConfig) -> IndexClient:
    return IndexClient(config, backoff=0.01, sleep=lambda _s: None)


def said(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records)


# -- the index client ------------------------------------------------------------------------------------------


def test_a_401_is_answered_with_the_keyrings_credentials_asked_once_per_host(
    auth_index: IndexServer, fake_keyring: FakeKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="wheelhouse")
    fake_keyring.store({auth_index.index_url: (USER, PASSWORD)})
    with client(IndexConfig(index_url=auth_index.index_url)) as c:
        demo = c.project_files("demo")  # type: ignore[arg-type]
        other = c.project_files("other")  # type: ignore[arg-type]
        assert c.metadata(demo[0]).startswith(b"Metadata-Version")
    assert [f.filename for f in demo] == ["demo-1.0-py3-none-any.whl"]
    assert [f.filename for f in other] == ["other-2.0-py3-none-any.whl"]
    # No user name in the URL: the keyring is asked for the whole credential, under the index URL first.
    assert fake_keyring.calls == [["--mode=creds", "--output=json", "get", auth_index.index_url]]
    # Only the first request went without credentials; every later one carried the keyring's.
    gets = auth_index.requests.snapshot()
    assert gets[0].header("Authorization") is None
    assert all(r.header("Authorization") for r in gets[1:])
    assert PASSWORD not in said(caplog)


def test_a_user_name_in_the_url_is_passed_to_the_keyring_which_answers_the_password(
    auth_index: IndexServer, fake_keyring: FakeKeyring
) -> None:
    fake_keyring.store({auth_index.index_url: (USER, PASSWORD)})
    url = auth_index.index_url.replace("http://", f"http://{USER}@")
    with client(IndexConfig(index_url=url)) as c:
        assert c.project_files("demo")  # type: ignore[arg-type]
    assert fake_keyring.calls == [["get", auth_index.index_url, USER]]


def test_the_host_is_asked_when_the_index_url_has_no_entry(auth_index: IndexServer, fake_keyring: FakeKeyring) -> None:
    fake_keyring.store({host_of(auth_index): (USER, PASSWORD)})
    with client(IndexConfig(index_url=auth_index.index_url)) as c:
        assert c.project_files("demo")  # type: ignore[arg-type]
    assert [call[-1] for call in fake_keyring.calls] == [auth_index.index_url, host_of(auth_index)]


def test_wrong_keyring_credentials_end_in_the_401_error_without_a_loop(
    auth_index: IndexServer, fake_keyring: FakeKeyring
) -> None:
    fake_keyring.store({auth_index.index_url: (USER, "wrong")})
    with client(IndexConfig(index_url=auth_index.index_url)) as c, pytest.raises(NetworkError) as caught:
        c.project_files("demo")  # type: ignore[arg-type]
    assert "HTTP 401" in str(caught.value)
    assert "keyring" in (caught.value.hint or "")
    assert len(fake_keyring.calls) == 1
    assert len(auth_index.requests.snapshot()) == 2  # without credentials, then with the keyring's


def test_a_password_in_the_url_is_not_second_guessed(auth_index: IndexServer, fake_keyring: FakeKeyring) -> None:
    fake_keyring.store({auth_index.index_url: (USER, PASSWORD)})
    url = auth_index.index_url.replace("http://", f"http://{USER}:stale@")
    with client(IndexConfig(index_url=url)) as c, pytest.raises(NetworkError, match="HTTP 401"):
        c.project_files("demo")  # type: ignore[arg-type]
    assert fake_keyring.calls == []


def test_netrc_credentials_come_before_the_keyring(auth_index: IndexServer, fake_keyring: FakeKeyring) -> None:
    fake_keyring.store({auth_index.index_url: (USER, "not-these")})
    netrc = Path(os.environ["HOME"], ".netrc")
    netrc.write_text(f"machine 127.0.0.1 login {USER} password {PASSWORD}\n", encoding="utf-8")
    netrc.chmod(0o600)
    with client(IndexConfig(index_url=auth_index.index_url)) as c:
        assert c.project_files("demo")  # type: ignore[arg-type]
    assert fake_keyring.calls == []


def test_disabled_never_runs_the_keyring(auth_index: IndexServer, fake_keyring: FakeKeyring) -> None:
    fake_keyring.store({auth_index.index_url: (USER, PASSWORD)})
    config = IndexConfig(index_url=auth_index.index_url, keyring_provider="disabled")
    with client(config) as c, pytest.raises(NetworkError, match="HTTP 401"):
        c.project_files("demo")  # type: ignore[arg-type]
    assert fake_keyring.calls == []


def test_auto_without_a_keyring_command_is_silent(
    auth_index: IndexServer, no_keyring: None, caplog: pytest.LogCaptureFixture
) -> None:
    with client(IndexConfig(index_url=auth_index.index_url)) as c, pytest.raises(NetworkError, match="HTTP 401"):
        c.project_files("demo")  # type: ignore[arg-type]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_subprocess_without_a_keyring_command_says_so(no_keyring: None, caplog: pytest.LogCaptureFixture) -> None:
    assert keyring_lookup("subprocess") is None
    assert "no keyring command on PATH" in said(caplog)


def test_subprocess_without_a_command_is_said_only_when_credentials_are_needed(
    auth_index: IndexServer, no_keyring: None, caplog: pytest.LogCaptureFixture
) -> None:
    with IndexServer() as public:
        public.add_wheel("demo", "1.0")
        with client(IndexConfig(index_url=public.index_url, keyring_provider="subprocess")) as c:
            assert c.project_files("demo")  # type: ignore[arg-type]
    assert "keyring" not in said(caplog)
    config = IndexConfig(index_url=auth_index.index_url, keyring_provider="subprocess")
    with client(config) as c, pytest.raises(NetworkError, match="HTTP 401"):
        c.project_files("demo")  # type: ignore[arg-type]
    assert "no keyring command on PATH" in said(caplog)


def test_a_public_index_never_runs_the_keyring(fake_keyring: FakeKeyring) -> None:
    with IndexServer() as srv:
        srv.add_wheel("demo", "1.0")
        with client(IndexConfig(index_url=srv.index_url, keyring_provider="subprocess")) as c:
            assert c.project_files("demo")  # type: ignore[arg-type]
    assert fake_keyring.calls == []


# -- the command and its answers, with a recording runner -------------------------------------------------------


class Runner:
    def __init__(self, *results: RunResult | OSError) -> None:
        self.results = list(results)
        self.argvs: list[list[str]] = []
        self.envs: list[Mapping[str, str]] = []

    def __call__(
        self, argv: Sequence[str], *, env: Mapping[str, str], output: Output = "capture", timeout: float | None = None
    ) -> RunResult:
        self.argvs.append(list(argv))
        self.envs.append(env)
        result = self.results.pop(0)
        if isinstance(result, OSError):
            raise result
        return result


def test_the_keyring_answers_in_utf8_and_its_first_line_is_the_password() -> None:
    runner = Runner(RunResult(0, "pässword\nsecond line\n"))
    lookup = KeyringLookup("/bin/keyring", runner=runner, environ={"PATH": "/bin"})
    assert lookup.credentials(["https://idx/simple"], "bob") == ("bob", "pässword")
    assert runner.envs[0]["PYTHONIOENCODING"] == "utf-8"


def test_a_keyring_too_old_for_creds_mode_means_nothing_found() -> None:
    # keyring before 25.2 rejects --mode/--output with argparse's exit status 2.
    runner = Runner(RunResult(2, "", "unrecognized arguments: --mode=creds"), RunResult(2, "", ""))
    lookup = KeyringLookup("keyring", runner=runner, environ={})
    assert lookup.credentials(["https://idx/simple", "idx"], None) is None
    assert len(runner.argvs) == 2


@pytest.mark.parametrize("stdout", ["not json", "[1, 2]", '{"username": null, "password": null}', ""])
def test_a_malformed_creds_answer_means_nothing_found(stdout: str) -> None:
    lookup = KeyringLookup("keyring", runner=Runner(RunResult(0, stdout)), environ={})
    assert lookup.credentials(["idx"], None) is None


@pytest.mark.parametrize(
    ("result", "words"),
    [(RunResult(TIMEOUT_STATUS, "", "no answer"), "no answer within"), (PermissionError(13, "denied"), "cannot run")],
)
def test_a_keyring_that_hangs_or_cannot_run_is_said_once_and_not_asked_again(
    result: RunResult | OSError, words: str, caplog: pytest.LogCaptureFixture
) -> None:
    runner = Runner(result)
    lookup = KeyringLookup("keyring", runner=runner, environ={}, timeout=5)
    assert lookup.credentials(["https://idx/simple", "idx"], "bob") is None
    assert lookup.credentials(["https://other/simple"], "bob") is None
    assert len(runner.argvs) == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert words in warnings[0]


def test_service_names_are_the_index_url_then_the_host() -> None:
    indexes = ["https://h.example/simple", "https://h.example/simple/private", "https://other.example/simple"]
    assert service_names("https://h.example/simple/private/demo/", indexes) == (
        "https://h.example/simple/private",
        "h.example",
    )
    assert service_names("https://h.example/simple/demo/", indexes) == ("https://h.example/simple", "h.example")
    # A file served from another host than its index.
    assert service_names("https://files.example:8443/demo.whl", indexes) == ("files.example:8443",)


# -- settings ---------------------------------------------------------------------------------------------------


def test_pip_configuration_and_environment_set_the_provider(tmp_path: Path) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nkeyring-provider = disabled\n", encoding="utf-8")
    env = {"PIP_CONFIG_FILE": str(conf), "HOME": str(tmp_path)}
    assert index_config_from_pip(env, system_files=[]).keyring_provider == "disabled"
    assert index_config_from_pip({**env, "PIP_KEYRING_PROVIDER": "subprocess"}).keyring_provider == "subprocess"
    # pip's "import" provider: wheelhouse asks the command instead of importing keyring.
    assert index_config_from_pip({**env, "PIP_KEYRING_PROVIDER": "import"}).keyring_provider == "subprocess"
    assert IndexConfig().keyring_provider == "auto"
    with pytest.raises(ConfigError, match=r"PIP_KEYRING_PROVIDER.*'sometimes'"):
        index_config_from_pip({**env, "PIP_KEYRING_PROVIDER": "sometimes"})


def test_the_command_line_wins_and_config_names_the_source() -> None:
    env = {"PIP_CONFIG_FILE": os.devnull, "PIP_KEYRING_PROVIDER": "disabled"}
    config = effective_index_config(Settings(), None, IndexOptions(keyring_provider="subprocess"), environ=env)
    assert config.keyring_provider == "subprocess"
    assert dict(config.sources)["keyring_provider"] == "command line"
    assert "keyring_provider='subprocess'" in repr(config)


# -- the command line -------------------------------------------------------------------------------------------


def test_download_from_an_index_that_needs_the_keyrings_credentials(
    cli: Cli, project: Path, auth_index: IndexServer, fake_keyring: FakeKeyring
) -> None:
    fake_keyring.store({host_of(auth_index): (USER, PASSWORD)})
    args = ("download", "-vv", "--index-url", auth_index.index_url, "--keyring-provider", "subprocess", "demo")
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert (project / "wheels" / "demo-1.0-py3-none-any.whl").is_file()
    assert PASSWORD not in result.output
    # Never cached on disk: no file the run wrote holds the password.
    for path in project.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_download_without_credentials_is_one_line_naming_the_keyring(
    cli: Cli, project: Path, auth_index: IndexServer, no_keyring: None
) -> None:
    result = cli("download", "--index-url", auth_index.index_url, "demo")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "HTTP 401" in errors[0]
    assert "Traceback" not in result.output
    assert "keyring" in result.output


def test_the_pip_engine_gets_the_provider_chosen() -> None:
    from wheelhouse.build.pip_options import index_settings, pip_environment

    assert index_settings(IndexConfig(keyring_provider="subprocess"))["PIP_KEYRING_PROVIDER"] == "subprocess"
    assert "PIP_KEYRING_PROVIDER" not in index_settings(IndexConfig())
    # An inherited choice is replaced by the effective one (which already took it into account).
    env = pip_environment(IndexConfig(keyring_provider="disabled"), base={"PIP_KEYRING_PROVIDER": "subprocess"})
    assert env["PIP_KEYRING_PROVIDER"] == "disabled"


def test_config_shows_the_provider_and_its_source(cli: Cli, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_KEYRING_PROVIDER", "disabled")
    result = cli("config")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "keyring-provider" in line)
    assert row.split() == ["keyring-provider", "disabled", "environment", "PIP_KEYRING_PROVIDER"]
