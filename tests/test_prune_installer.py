"""``prune`` keeps uv's wheel, which ``download --with-uv`` fetched for the offline image to install with."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Cli
from tests.support.wheels import make_wheel, write_wheel
from wheelhouse.requirements import load_requirements
from wheelhouse.resolve.prune import plan_prune
from wheelhouse.store.folder import Store
from wheelhouse.targets import parse_targets

X86 = "py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64"
ARM = "py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64"


def _uv(wheels: Path, version: str, tag: str) -> str:
    name, data = make_wheel("uv", version, tag=tag)
    (wheels / name).write_bytes(data)
    return name


def test_prune_keeps_the_newest_uv_wheel_of_each_target_and_lets_the_rest_go(project: Path, cli: Cli) -> None:
    wheels = project / "wheels"
    write_wheel(wheels, "alpha", "1.0")
    write_wheel(wheels, "unused", "1.0")
    new_x86 = _uv(wheels, "0.13.9", X86)
    new_arm = _uv(wheels, "0.13.9", ARM)
    old_x86 = _uv(wheels, "0.12.0", X86)
    (project / "requirements.txt").write_text("alpha\n")
    targets = parse_targets(("linux/amd64", "linux/arm64"), pythons=("3.11",), libc=None)
    plan = plan_prune(load_requirements([project / "requirements.txt"]), targets, Store(wheels))
    kept = {entry.filename: entry.reason for entry in plan.keep}
    assert kept == {"alpha-1.0-py3-none-any.whl": "needed", new_x86: "installer", new_arm: "installer"}
    assert {entry.filename for entry in plan.remove} == {"unused-1.0-py3-none-any.whl", old_x86}
    # Pruned for one target only, the other target's uv goes like any file no given target uses.
    plan = plan_prune(load_requirements([project / "requirements.txt"]), targets[:1], Store(wheels))
    assert new_arm in {entry.filename for entry in plan.remove}
    # Through the command: the wheel stays on disk and the summary says why.
    result = cli("prune", "--target", "linux/amd64", "--target", "linux/arm64", "--python", "3.11", "--yes")
    assert result.exit_code == 0, result.output
    assert "uv's wheel, the offline image's installer" in result.output
    assert {p.name for p in wheels.glob("uv-*.whl")} == {new_x86, new_arm}
