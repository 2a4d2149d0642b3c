"""Project input files (pyproject.toml, uv.lock, poetry.lock, pylock.toml) written to harm or simply broken: files
that are not files, locks that point outside the project, credentials in their URLs, markers no installer can
evaluate, names of any length, workspaces and groups that include each other without end, and files large enough
that a quadratic reader would never finish.

Each ends in one ``error:`` line naming the file and a non-zero exit, with nothing read or written outside what
was asked, no secret echoed, and in time that grows with the file, not with its square.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest
from click.testing import Result

from tests.conftest import Cli, run_wheelhouse
from tests.support.wheels import write_wheel
from wheelhouse.inputs import Selection, load_inputs

AMD64 = ("--target", "linux/amd64", "--python", "3.12")
SECRET = "s3cretpass"
TOKEN = "tok3nvalue"
LONG_NAME = "a" * 100_000


@pytest.fixture
def kite(project: Path) -> Path:
    """The project with kite 4.1.1 in its wheels folder; returns the wheel."""
    return write_wheel(project / "wheels", "kite", "4.1.1")


def one_error(result: Result, code: int = 2) -> str:
    """The one ``error:`` line on stderr of a run that failed with ``code``, after checking nothing else broke."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    return line


def pylock(body: str, header: str = "") -> str:
    return f'lock-version = "1.0"\ncreated-by = "hand"\n{header}\n{body}'


def kite_package(wheel: Path, *, algorithm: str = "sha256", extra: str = "") -> str:
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    file = f'name = "{wheel.name}", path = "wheels/{wheel.name}", hashes = {{ {algorithm} = "{digest}" }}'
    return f'[[packages]]\nname = "kite"\nversion = "4.1.1"\n{extra}wheels = [{{ {file} }}]\n'


UV_LOCK = """\
version = 1
requires-python = ">=3.11"

[[package]]
name = "myapp"
version = "0.1.0"
source = { virtual = "." }
dependencies = [{ name = "kite" }]

[[package]]
name = "kite"
version = "4.1.1"
source = { registry = "https://pypi.org/simple" }
"""


def uv_workspace(members: dict[str, str]) -> str:
    """A uv.lock whose root depends on ``m0``; ``members`` maps each editable member to its dependencies."""
    parts = [UV_LOCK.replace('dependencies = [{ name = "kite" }]', 'dependencies = [{ name = "m0" }]')]
    for name, dependencies in members.items():
        parts.append(
            f'[[package]]\nname = "{name}"\nversion = "0.1.0"\nsource = {{ editable = "{name}" }}\n'
            f"dependencies = [{dependencies}]\n"
        )
    return "\n".join(parts)


# -- files that are not files -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["pyproject.toml", "uv.lock", "poetry.lock", "pylock.toml", "deps.lock"])
@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_an_input_that_is_not_a_regular_file_is_refused_without_waiting(project: Path, name: str, kind: str) -> None:
    # Configured, so that the command line's own check for a directory does not answer first.
    (project / "wheelhouse.toml").write_text(f'requirements = ["{name}"]\n')
    if kind == "fifo":
        os.mkfifo(project / name)
    elif kind == "device":
        (project / name).symlink_to(os.devnull)
    else:
        (project / name).mkdir()
    done = run_wheelhouse("verify", *AMD64, cwd=project, timeout=60)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: {name}: ")
    assert "not a regular file" in line or "is a directory" in line.lower()


@pytest.mark.parametrize("name", ["pyproject.toml", "uv.lock", "poetry.lock", "pylock.toml"])
def test_an_input_beyond_the_size_bound_is_refused_unread(cli: Cli, project: Path, name: str) -> None:
    with open(project / name, "wb") as handle:
        handle.truncate(33 * 1024 * 1024)  # sparse: nothing is written, nothing should be read
    assert one_error(cli("verify", "-r", name, *AMD64)) == f"error: {name}: larger than 32 MiB"


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("pyproject.toml", b'[project]\nname = "x"\ndependencies = ["k\xffite"]\n', 3),
        ("uv.lock", UV_LOCK.encode().replace(b'"kite" }', b'"k\xfe" }'), 8),
        ("poetry.lock", b'[[package]]\nname = "k\xc3"\n', 2),
        ("pylock.toml", b'lock-version = "1.0"\ncreated-by = "\xc3"\n', 2),
    ],
    ids=["pyproject", "uv", "poetry", "pylock"],
)
def test_an_input_that_is_not_utf8_names_the_line(cli: Cli, project: Path, name: str, text: bytes, line: int) -> None:
    (project / name).write_bytes(text)
    assert one_error(cli("verify", "-r", name, *AMD64)) == f"error: {name}:{line}: not UTF-8"


# -- pylock.toml: paths outside the project, credentials, markers, hashes -----------------------------------------


def test_a_lock_whose_wheel_path_leads_outside_through_a_link_is_not_read(tmp_path: Path, project: Path) -> None:
    wheel = write_wheel(project / "wheels", "kite", "4.1.1")
    outside = tmp_path / "outside"
    outside.mkdir()
    # A pipe: reading it would block the command for ever.
    os.mkfifo(outside / wheel.name)
    (project / "elsewhere").symlink_to(outside)
    text = pylock(kite_package(wheel)).replace(f'path = "wheels/{wheel.name}"', f'path = "elsewhere/{wheel.name}"')
    (project / "pylock.toml").write_text(text)
    done = run_wheelhouse("verify", "-r", "pylock.toml", *AMD64, cwd=project, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "covered, 1 pinned" in done.stdout


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ('directory = { path = "../../outside" }', "a directory"),
        ('archive = { path = "/etc/passwd", hashes = { sha256 = "00" } }', "an archive URL"),
    ],
    ids=["directory", "archive"],
)
def test_a_lock_of_a_directory_or_archive_outside_is_refused_untouched(
    cli: Cli, tmp_path: Path, project: Path, source: str, kind: str
) -> None:
    (project / "pylock.toml").write_text(pylock(f'[[packages]]\nname = "x"\n{source}\n'))
    before = sorted(p.name for p in tmp_path.iterdir())
    line = one_error(cli("verify", "-r", "pylock.toml", *AMD64))
    assert line == f"error: pylock.toml:4: x is locked to {kind}, which is not supported offline: 'x'"
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_credentials_of_a_lock_never_reach_output_or_written_locks(cli: Cli, project: Path, kite: Path) -> None:
    url = f"https://user:{SECRET}@private.example/files/{kite.name}?token={TOKEN}"
    text = pylock(kite_package(kite, extra=f'index = "https://user:{SECRET}@private.example/simple"\n'))
    (project / "pylock.toml").write_text(text.replace("path = ", f'url = "{url}", path = '))
    outputs = [
        cli("verify", "--json", "-r", "pylock.toml", *AMD64),
        cli("-v", "why", "kite", "-r", "pylock.toml", *AMD64),
        cli("lock", "-o", "-", "-r", "pylock.toml", *AMD64),
        cli("lock", "--format", "pylock", "-o", "pylock.out.toml", "-r", "pylock.toml", *AMD64),
    ]
    for result in outputs:
        assert result.exit_code == 0, result.output
        assert SECRET not in result.output
        assert TOKEN not in result.output
    written = (project / "pylock.out.toml").read_text()
    assert SECRET not in written
    assert TOKEN not in written
    assert 'name = "kite"' in written


def test_a_long_url_in_a_validation_error_is_redacted_before_it_is_cut(cli: Cli, project: Path, kite: Path) -> None:
    # The message is cut to one readable line: a URL cut inside its password would no longer look like one.
    password = SECRET * 40
    text = pylock(kite_package(kite)).replace(f'name = "{kite.name}"', f'name = "https://user:{password}@h/k.whl"')
    (project / "pylock.toml").write_text(text)
    line = one_error(cli("verify", "-r", "pylock.toml", *AMD64))
    assert line.startswith("error: pylock.toml: not a valid pylock.toml: Invalid wheel filename 'https://user:****@h")
    assert SECRET[:4] not in line


@pytest.mark.parametrize(
    ("header", "extra", "expected"),
    [
        (
            "environments = [\"extra == 'x'\"]",
            "",
            "error: pylock.toml: environments uses the marker name 'extra', which installers do not define there",
        ),
        (
            "environments = [\"'dev' in dependency_groups\"]",
            "",
            "error: pylock.toml: environments uses the marker name 'dependency_groups', which installers do not",
        ),
        (
            "",
            "marker = \"os_name == 'posix' and extra != 'y'\"\n",
            "error: pylock.toml:4: a package marker uses the marker name 'extra', which installers do not define",
        ),
    ],
    ids=["environments-extra", "environments-groups", "package-extra"],
)
def test_a_marker_name_no_installer_defines_there_is_the_locks_error(
    cli: Cli, project: Path, kite: Path, header: str, extra: str, expected: str
) -> None:
    (project / "pylock.toml").write_text(pylock(kite_package(kite, extra=extra), header))
    assert one_error(cli("verify", "-r", "pylock.toml", *AMD64)).startswith(expected)


def test_an_unparsable_marker_is_one_line_without_packagings_caret(cli: Cli, project: Path, kite: Path) -> None:
    (project / "pylock.toml").write_text(pylock(kite_package(kite, extra="marker = \"os_name == 'posix' and\"\n")))
    line = one_error(cli("verify", "-r", "pylock.toml", *AMD64))
    assert line == (
        "error: pylock.toml: not a valid pylock.toml: Expected a marker variable or quoted string in "
        "'packages[0].marker'"
    )


@pytest.mark.parametrize("algorithm", ["foo", "shake_128"])
def test_a_package_without_a_hash_that_can_be_checked_is_refused(
    cli: Cli, project: Path, kite: Path, algorithm: str
) -> None:
    # Dropping the only hashes would admit any file of that version.
    (project / "pylock.toml").write_text(pylock(kite_package(kite, algorithm=algorithm)))
    line = one_error(cli("verify", "-r", "pylock.toml", *AMD64))
    assert line.startswith("error: pylock.toml:4: kite: none of its files lists a hash wheelhouse can check")


def test_a_lock_of_two_versions_for_one_target_names_the_package(cli: Cli, project: Path, kite: Path) -> None:
    second = kite_package(kite).replace('version = "4.1.1"', 'version = "4.1.2"').replace("4.1.1-py3", "4.1.2-py3")
    (project / "pylock.toml").write_text(pylock(kite_package(kite) + second))
    line = one_error(cli("verify", "-r", "pylock.toml", *AMD64), code=3)
    assert line.endswith("the lock selects two versions of kite for it")


# -- uv.lock: credentials, workspaces that include each other ------------------------------------------------------


def test_credentials_of_a_uv_lock_source_never_reach_output(cli: Cli, project: Path, kite: Path) -> None:
    registry = f"https://user:{SECRET}@private.example/simple?token={TOKEN}"
    text = UV_LOCK.replace("https://pypi.org/simple", registry) + (
        f'wheels = [{{ url = "https://user:{SECRET}@private.example/{kite.name}", hash = "sha256:00" }}]\n'
    )
    (project / "uv.lock").write_text(text)
    for args in (("verify", "--json"), ("-vv", "verify"), ("why", "kite"), ("lock", "-o", "-", "--json")):
        result = cli(*args, "-r", "uv.lock", *AMD64)
        assert result.exit_code == 0, result.output
        assert SECRET not in result.output
        assert TOKEN not in result.output
    # A source that is no index is refused by its kind, without quoting where it points.
    (project / "uv.lock").write_text(UV_LOCK.replace('registry = "https://pypi.org/simple"', f'git = "{registry}"'))
    line = one_error(cli("verify", "-r", "uv.lock", *AMD64))
    assert line == "error: uv.lock:11: kite comes from a git source, which is not supported offline"


def test_workspace_projects_in_a_cycle_under_markers(cli: Cli, project: Path, kite: Path) -> None:
    members = {
        "m0": '{ name = "m1", marker = "sys_platform == \'linux\'" }',
        "m1": '{ name = "m0", marker = "python_version >= \'3.8\'" }, { name = "kite" }',
    }
    (project / "uv.lock").write_text(uv_workspace(members) + "\n" + UV_LOCK.split("\n\n", 2)[2])
    found = load_inputs(["uv.lock"]).requirements.requirements
    # m1, and with it kite, is reached only on Linux; back at m0 the walk under way already covers it.
    assert [line.text for line in found] == ['kite; sys_platform == "linux"']
    result = cli("verify", "-r", "uv.lock", *AMD64)
    assert result.exit_code == 0, result.output
    assert "covered, 1 pinned" in result.output


def test_workspace_projects_depending_on_each_other_too_deeply(project: Path) -> None:
    members = {f"m{i}": f'{{ name = "m{i + 1}" }}' for i in range(3000)} | {"m3000": ""}
    (project / "uv.lock").write_text(uv_workspace(members))
    done = run_wheelhouse("verify", "-r", "uv.lock", *AMD64, cwd=project, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == "error: uv.lock: the workspace's projects depend on each other too deeply"


def test_workspace_projects_reached_by_exponentially_many_marker_paths(project: Path) -> None:
    # Each layer's two projects depend on both of the next, each under its own marker: 2**20 paths.
    members = {}
    for layer in range(20):
        for side in "ab":
            members[f"m{layer}{side}"] = ", ".join(
                f'{{ name = "m{layer + 1}{other}", marker = "platform_release != \'{side}{layer}{other}\'" }}'
                for other in "ab"
            )
    members["m0"] = '{ name = "m0a" }, { name = "m0b" }'
    members |= {"m20a": "", "m20b": ""}
    (project / "uv.lock").write_text(uv_workspace(members))
    done = run_wheelhouse("verify", "-r", "uv.lock", *AMD64, cwd=project, timeout=60)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: uv.lock: the workspace's projects reach each other by more than")


def test_an_unparsable_uv_marker_is_one_bounded_line(cli: Cli, project: Path) -> None:
    (project / "uv.lock").write_text(UV_LOCK.replace('{ name = "kite" }', '{ name = "kite", marker = "os_name ==" }'))
    line = one_error(cli("verify", "-r", "uv.lock", *AMD64))
    assert line == "error: uv.lock:8: invalid marker: Expected a marker variable or quoted string: 'kite'"


# -- names of any length ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "uv.lock",
            UV_LOCK.replace('"kite"', f'"{LONG_NAME}"').replace(
                'registry = "https://pypi.org/simple"', 'git = "https://e.org/x"'
            ),
            "error: uv.lock:11: aaaa",
        ),
        (
            "poetry.lock",
            f'[[package]]\nname = "{LONG_NAME}"\nversion = "1"\ngroups = ["main"]\n'
            'source = { type = "git", url = "https://e.org/x" }\n\n[metadata]\nlock-version = "2.1"\n',
            "error: poetry.lock:2: aaaa",
        ),
        (
            "pylock.toml",
            pylock(f'[[packages]]\nname = "{LONG_NAME}"\ndirectory = {{ path = "x" }}\n'),
            "error: pylock.toml:4: aaaa",
        ),
    ],
    ids=["uv", "poetry", "pylock"],
)
def test_a_valid_name_of_any_length_is_cut_in_the_message(
    cli: Cli, project: Path, name: str, text: str, expected: str
) -> None:
    (project / name).write_text(text)
    line = one_error(cli("verify", "-r", name, *AMD64))
    assert line.startswith(expected)
    assert "..." in line
    assert "not supported offline" in line
    assert len(line) < 400


def test_an_unknown_extra_lists_what_a_file_knows_on_one_bounded_line(cli: Cli, project: Path) -> None:
    extras = "".join(f"e{i} = []\n" for i in range(20_000))
    (project / "pyproject.toml").write_text(
        f'[project]\nname = "x"\ndependencies = []\n[project.optional-dependencies]\n{extras}'
    )
    line = one_error(cli("verify", "-r", "pyproject.toml", "--extra", "nope", *AMD64))
    assert line.startswith("error: --extra nope: not in pyproject.toml (it has: e0, e1, e10, ")
    assert len(line) < 600


# -- pyproject.toml: groups that include each other ----------------------------------------------------------------


def test_a_chain_of_included_groups_too_deep_for_the_stack(cli: Cli, project: Path) -> None:
    groups = "".join(f'g{i} = [{{include-group = "g{i + 1}"}}]\n' for i in range(3000)) + 'g3000 = ["kite"]\n'
    (project / "pyproject.toml").write_text(f'[project]\nname = "x"\n\n[dependency-groups]\n{groups}')
    line = one_error(cli("verify", "-r", "pyproject.toml", "--group", "g0", *AMD64))
    assert line == "error: pyproject.toml: [dependency-groups]: groups include each other too deeply"


def test_a_group_that_includes_itself(cli: Cli, project: Path) -> None:
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n[dependency-groups]\ng = [{include-group = "g"}]\n')
    line = one_error(cli("verify", "-r", "pyproject.toml", "--group", "g", *AMD64))
    assert line.startswith("error: pyproject.toml: [dependency-groups]: Cyclic dependency group include")


# -- large files: time that grows with the file -------------------------------------------------------------------


def _timed(path: str, selection: Selection | None = None) -> tuple[float, list[str]]:
    started = time.monotonic()
    found = load_inputs([path], selection=selection or Selection()).requirements
    return time.monotonic() - started, [str(line.origin) for line in found.requirements]


def test_a_uv_lock_of_thousands_of_packages(project: Path) -> None:
    count = 3000
    parts = [UV_LOCK.split('[[package]]\nname = "kite"')[0].replace('"kite" }]', '"p0" }]')]
    for i in range(count):
        parts.append(
            f'[[package]]\nname = "p{i}"\nversion = "1.0"\nsource = {{ registry = "https://pypi.org/simple" }}\n'
            f'dependencies = [{{ name = "p{(i + 1) % count}" }}]\n\n'
            f'[package.optional-dependencies]\nx = [{{ name = "p0" }}]\n'
        )
    (project / "uv.lock").write_text("\n".join(parts))
    elapsed, origins = _timed("uv.lock")
    assert origins == ["uv.lock:8"]
    assert elapsed < 15, f"{elapsed:.1f}s"


@pytest.mark.parametrize("escaped", [False, True], ids=["plain", "escaped"])
def test_a_pyproject_of_tens_of_thousands_of_dependencies(project: Path, escaped: bool) -> None:
    # Escaped strings cannot be found in the text: each would be searched for to the end of the file.
    item = "p\\u0030{}" if escaped else "p{}"
    dependencies = "".join(f'  "{item.format(i)}",\n' for i in range(40_000))
    (project / "pyproject.toml").write_text(f'[project]\nname = "x"\ndependencies = [\n{dependencies}]\n')
    elapsed, origins = _timed("pyproject.toml")
    assert len(origins) == 40_000
    if not escaped:
        assert origins[:2] == ["pyproject.toml:4", "pyproject.toml:5"]
        assert origins[-1] == "pyproject.toml:40003"
    assert elapsed < 15, f"{elapsed:.1f}s"


def test_a_group_including_tens_of_thousands_of_groups(project: Path) -> None:
    count = 20_000
    includes = ", ".join(f'{{include-group = "g{i}"}}' for i in range(count))
    groups = "".join(f'g{i} = ["p{i}"]\n' for i in range(count))
    (project / "pyproject.toml").write_text(f'[project]\nname = "x"\n[dependency-groups]\nall = [{includes}]\n{groups}')
    elapsed, origins = _timed("pyproject.toml", Selection(groups=("all",)))
    assert origins[:2] == ["pyproject.toml:5", "pyproject.toml:6"]
    assert len(origins) == count
    assert elapsed < 20, f"{elapsed:.1f}s"


def test_each_dependency_of_a_pyproject_keeps_its_own_line(cli: Cli, project: Path, kite: Path) -> None:
    # The reader of long arrays still gives each requirement its own line, as `why` shows it.
    (project / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = [\n  "kite",\n  "kite>=4",\n]\n')
    result = cli("why", "kite", "-r", "pyproject.toml", *AMD64)
    assert result.exit_code == 0, result.output
    assert "pyproject.toml:4" in result.output
    assert "pyproject.toml:5" in result.output
    data = json.loads(cli("verify", "--json", "-r", "pyproject.toml", *AMD64).output)
    assert data["targets"][0]["covered"] is True


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors through /proc")
def test_reading_a_directory_as_a_toml_input_leaves_no_descriptor_open(tmp_path: Path) -> None:
    from wheelhouse import _toml
    from wheelhouse.errors import RequirementsError

    before = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        with pytest.raises(RequirementsError, match="not a regular file"):
            _toml.read_bytes(str(tmp_path))
    assert len(os.listdir("/proc/self/fd")) <= before
