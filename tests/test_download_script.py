"""download-wheels.sh: the newcomer's one command, run as a real process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.index_server import IndexServer

SCRIPT = Path(__file__).resolve().parent.parent / "download-wheels.sh"


def _run(project: Path, srv: IndexServer, *args: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(SCRIPT, project / "download-wheels.sh")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(
        {
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_INDEX_URL": srv.index_url,
            # Reuse the test environment's wheelhouse instead of installing one (no network in tests).
            "WHEELHOUSE_VENV": sys.prefix,
        }
    )
    return subprocess.run(
        ["bash", "download-wheels.sh", *args], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )


def test_uses_requirements_and_dev_requirements(index_server: IndexServer, project: Path) -> None:
    index_server.add_wheel("app-dep", "1.0", requires_dist=["leaf"])
    index_server.add_wheel("leaf", "2.0")
    index_server.add_wheel("pytest-ish", "7.0")
    (project / "requirements.txt").write_text("app-dep\n")
    (project / "requirements-dev.txt").write_text("pytest-ish\n")
    proc = _run(project, index_server, "--target", "linux/amd64", "--python", "3.12")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = sorted(p.name for p in (project / "wheels").glob("*.whl"))
    assert names == ["app_dep-1.0-py3-none-any.whl", "leaf-2.0-py3-none-any.whl", "pytest_ish-7.0-py3-none-any.whl"]


def test_configured_targets_and_requirements_are_used(index_server: IndexServer, project: Path) -> None:
    index_server.add_wheel("only-this", "1.0")
    index_server.add_wheel("not-this", "1.0")
    (project / "requirements.txt").write_text("not-this\n")
    (project / "prod.txt").write_text("only-this\n")
    (project / "wheelhouse.toml").write_text(
        'requirements = ["prod.txt"]\ntargets = ["linux/arm64"]\npython = ["3.12"]\nwheels = "vendor/wheels"\n'
    )
    proc = _run(project, index_server)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "cp312-manylinux_2_28_aarch64" in proc.stdout
    assert sorted(p.name for p in (project / "vendor" / "wheels").glob("*.whl")) == ["only_this-1.0-py3-none-any.whl"]


def test_failure_exit_status_passes_through(index_server: IndexServer, project: Path) -> None:
    (project / "requirements.txt").write_text("missing-project\n")
    proc = _run(project, index_server, "--target", "linux/amd64", "--python", "3.12")
    assert proc.returncode == 3
    assert "missing-project" in proc.stdout
