"""``wheelhouse verify`` end to end through the CLI: exit codes, gap reports, JSON, usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Cli, WheelFactory, run_wheelhouse


@pytest.fixture
def flask_folder(project: Path, add_wheel: WheelFactory) -> Path:
    wheels = project / "wheels"
    for name, version, deps in [
        ("flask", "3.0.0", ["werkzeug>=3.0.0", "jinja2>=3.1.2", 'tomli; python_version < "3.11"']),
        ("werkzeug", "3.0.1", ["markupsafe>=2.1.1"]),
        ("jinja2", "3.1.2", ["markupsafe>=2.0"]),
        ("markupsafe", "2.1.5", []),
    ]:
        from tests.support.wheels import write_wheel

        write_wheel(wheels, name, version, requires_dist=deps)
    (project / "requirements.txt").write_text("# web\nflask==3.0.0\n")
    return project


def test_covered_folder_exits_zero(cli: Cli, flask_folder: Path) -> None:
    result = cli("verify", "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 0, result.output
    assert "cp312-manylinux_2_28_x86_64" in result.output
    assert "covered, 4 pinned" in result.output


def test_missing_transitive_wheel_exits_3_with_chain_and_fix(cli: Cli, flask_folder: Path) -> None:
    next((flask_folder / "wheels").glob("markupsafe-*.whl")).unlink()
    result = cli("verify", "--target", "linux/arm64", "--python", "3.12", "-r", "requirements.txt")
    assert result.exit_code == 3, result.output
    out = result.output
    assert "markupsafe" in out
    assert "requirements.txt:2 flask==3.0.0 -> werkzeug>=3.0.0 -> markupsafe>=2.1.1" in out
    assert "wheelhouse download --target cp312-manylinux_2_28_aarch64 -r requirements.txt" in out


def test_python_310_target_needs_tomli_but_311_does_not(cli: Cli, flask_folder: Path) -> None:
    ok = cli("verify", "--target", "linux/amd64", "--python", "3.11")
    assert ok.exit_code == 0, ok.output
    gap = cli("verify", "--target", "linux/amd64", "--python", "3.10")
    assert gap.exit_code == 3
    assert "tomli" in gap.output
    assert "flask==3.0.0 -> tomli" in gap.output


def test_json_report_structure(cli: Cli, flask_folder: Path) -> None:
    next((flask_folder / "wheels").glob("jinja2-*.whl")).unlink()
    result = cli("verify", "--json", "--target", "linux/amd64", "--target", "linux/arm64", "--python", "3.12")
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert data["schema"] == 1
    assert data["covered"] is False
    assert [t["target"] for t in data["targets"]] == [
        "cp312-manylinux_2_28_x86_64",
        "cp312-manylinux_2_28_aarch64",
    ]
    first = data["targets"][0]
    assert first["covered"] is False
    assert {p["name"] for p in first["pins"]} == {"flask", "werkzeug", "markupsafe"}
    (gap,) = first["gaps"]
    assert gap["kind"] == "missing"
    assert gap["project"] == "jinja2"
    assert gap["chains"] == ["requirements.txt:2 flask==3.0.0 -> jinja2>=3.1.2"]
    assert first["fix"].startswith("wheelhouse download --target cp312-manylinux_2_28_x86_64")


def test_positional_packages(cli: Cli, flask_folder: Path) -> None:
    result = cli("verify", "werkzeug", "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 0, result.output
    assert "covered, 2 pinned" in result.output


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("flask===", "requirements.txt:2"),
        ("-e git+https://example.invalid/x.git#egg=x", "not supported offline"),
        ("--bogus-option", "requirements.txt:2"),
    ],
)
def test_malformed_requirement_lines_exit_2_without_traceback(cli: Cli, project: Path, line: str, needle: str) -> None:
    (project / "requirements.txt").write_text(f"flask\n{line}\n")
    result = cli("verify", "--target", "linux/amd64")
    assert result.exit_code == 2
    assert needle in result.output
    assert "Traceback" not in result.output
    assert result.output.count("error:") == 1


@pytest.mark.parametrize("bad", ["linux/sparc", "cp312-manylinux_2_28_mips", "windows", ""])
def test_bad_target_is_one_line_usage_error(cli: Cli, flask_folder: Path, bad: str) -> None:
    result = cli("verify", "--target", bad)
    assert result.exit_code == 2
    assert "accepted forms" in result.output
    assert "Traceback" not in result.output


def test_bad_python_and_libc(cli: Cli, flask_folder: Path) -> None:
    assert cli("verify", "--target", "linux/amd64", "--python", "2.7").exit_code == 2
    result = cli("verify", "--target", "linux/amd64", "--libc", "glibc")
    assert result.exit_code == 2
    assert "bad libc" in result.output


def test_no_requirements_is_usage_error(cli: Cli, project: Path) -> None:
    result = cli("verify")
    assert result.exit_code == 2
    assert "no requirements given" in result.output


def test_verbose_prints_target_choice(cli: Cli, flask_folder: Path) -> None:
    result = cli("-v", "verify", "--target", "linux/amd64", "--python", "3.11")
    assert "CPython 3.11." in result.output
    assert "newest known patch release" in result.output


def test_installed_console_script_and_module(flask_folder: Path) -> None:
    proc = run_wheelhouse("verify", "--target", "linux/amd64", "--python", "3.12", cwd=flask_folder)
    assert proc.returncode == 0, proc.stderr
    import subprocess
    import sys

    mod = subprocess.run([sys.executable, "-m", "wheelhouse", "--version"], capture_output=True, text=True, check=False)
    assert mod.returncode == 0
    assert "wheelhouse" in mod.stdout


def test_wheels_path_that_is_a_file_is_one_error(cli: Cli, flask_folder: Path) -> None:
    (flask_folder / "not-a-folder").write_text("x")
    result = cli("verify", "--wheels", "not-a-folder", "--target", "linux/amd64", "--python", "3.12")
    assert result.exit_code == 1
    assert "does not exist" not in result.output
    assert "not a directory" in result.output
    assert result.output.count("\n") == 1


def test_verify_never_loads_a_network_client(flask_folder: Path) -> None:
    # Offline by construction: the HTTP stack is not even imported on the verify path.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from wheelhouse.cli import main\n"
        "try:\n"
        "    main(['verify', '--target', 'linux/amd64', '--python', '3.12'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "loaded = sorted(m for m in ('requests', 'urllib3', 'http.client', 'socket', 'ssl') if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=flask_folder, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "requests" not in proc.stdout.splitlines()[-1]
    assert "urllib3" not in proc.stdout.splitlines()[-1]
