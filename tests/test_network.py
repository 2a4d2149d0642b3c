"""Against the real package index: opt-in (``./scripts/test.sh -m network``), never in the default run.

They run the installed command in a subprocess, so the socket guard of the other tests does not apply.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_wheelhouse

pytestmark = pytest.mark.network


def test_download_for_another_platform_from_the_real_index(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    # charset-normalizer publishes per-platform wheels: the aarch64 one must be chosen from an x86_64 machine.
    args = ["download", "--isolated", "--json", "--wheels", str(wheels), "charset-normalizer==3.3.2", "idna==3.7"]
    proc = run_wheelhouse(*args, "--target", "linux/arm64", "--python", "3.12", cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["verify"]["covered"] is True
    names = sorted(p.name for p in wheels.glob("*.whl"))
    assert "idna-3.7-py3-none-any.whl" in names
    assert any(n.startswith("charset_normalizer-3.3.2-cp312-cp312-") and "aarch64" in n for n in names)
    # A second run is covered by the folder and asks the index nothing.
    again = run_wheelhouse(*args, "--target", "linux/arm64", "--python", "3.12", cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["requests"] == 0
